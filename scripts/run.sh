#!/usr/bin/env bash
# run.sh BINARY [serve flags…] runs a development server: it starts (and on
# exit stops) a private PostgreSQL kept under .data/, creates the database,
# keeps a generated JWT secret in .data/jwt_secret, and serves in --dev mode.
# Data persists between runs; delete .data/ to start afresh.
set -euo pipefail
. "$(dirname "$0")/services.sh"

bin=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
data=$root/.data
mkdir -p "$data"
chmod 755 "$data"

ensure_postgres

# A unix socket path must stay under ~100 bytes; deep checkouts use /tmp.
sock=$data/run
if [ ${#sock} -gt 80 ]; then
	sock=/tmp/parley-$(printf '%s' "$root" | md5sum | cut -c1-12)
fi

if as_pg "$PGBIN/pg_ctl" -D "$data/pg" status >/dev/null 2>&1; then
	die "PostgreSQL in $data/pg is already running: is another make run active? (stop it, or: $PGBIN/pg_ctl -D $data/pg stop)"
fi
pg_start "$data/pg" "$sock"
trap 'pg_stop "$data/pg"' EXIT

if [ "$(psql "$(pg_url "$sock" postgres)" -Atc "SELECT 1 FROM pg_database WHERE datname = 'parley'")" != 1 ]; then
	psql "$(pg_url "$sock" postgres)" -qc 'CREATE DATABASE parley' >/dev/null
fi

if [ ! -s "$data/jwt_secret" ]; then
	(umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$data/jwt_secret")
fi

# The VAPID key too: browsers' Web Push subscriptions are bound to it.
if [ ! -s "$data/vapid_private_key" ]; then
	(umask 077 && "$bin" vapid-key >"$data/vapid_private_key" 2>/dev/null)
fi

export DATABASE_URL PARLEY_JWT_SECRET PARLEY_VAPID_PRIVATE_KEY
DATABASE_URL=$(pg_url "$sock" parley)
PARLEY_JWT_SECRET=$(cat "$data/jwt_secret")
PARLEY_VAPID_PRIVATE_KEY=$(cat "$data/vapid_private_key")
say "DATABASE_URL=$DATABASE_URL"
say "PostgreSQL data in $data/pg; serving on ${PARLEY_ADDR:-:8080} (Ctrl-C stops both)"
# Ctrl-C or SIGTERM asks the server to shut down gracefully; then the EXIT
# trap stops PostgreSQL.
"$bin" serve --dev "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' INT TERM
# wait returns early when a trapped signal arrives, while the server is
# still shutting down; so wait until it has really exited.
while :; do
	status=0
	wait "$pid" || status=$?
	kill -0 "$pid" 2>/dev/null || exit "$status"
done
