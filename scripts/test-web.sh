#!/usr/bin/env bash
# test-web.sh BINARY [vitest args…] runs the web app's browser tests: it
# starts BINARY (built with the app embedded) on a fresh database in the
# PostgreSQL that with-test-services.sh started, with the Redis it started,
# and runs web/e2e in Debian's headless Chromium against it. Screenshots go
# to web/test-results/screenshots. WEB_SUITE=bench runs the benchmark
# (web/bench) instead. Run it under with-test-services.sh.
set -euo pipefail
. "$(dirname "$0")/services.sh"
: "${PARLEY_TEST_DATABASE_URL:?run under scripts/with-test-services.sh}"
: "${PARLEY_TEST_REDIS_URL:?run under scripts/with-test-services.sh}"

bin=$(realpath "$1")
shift
root=$(cd "$(dirname "$0")/.." && pwd)
ensure_postgres
ensure_chromium

dir=$(mktemp -d /tmp/parley-web.XXXXXX)
db=parley_web_$$
psql "$PARLEY_TEST_DATABASE_URL" -qc "CREATE DATABASE $db" >/dev/null
cleanup() {
	[ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
	psql "$PARLEY_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT

# The harness's DSN names its database last in the path: swap in ours.
dsn=$(printf '%s' "$PARLEY_TEST_DATABASE_URL" | sed -E "s#/postgres\?#/$db?#")
serve_start "$bin" "$dir/server.log" DATABASE_URL="$dsn" REDIS_URL="$PARLEY_TEST_REDIS_URL" \
	PARLEY_REDIS_PREFIX="web$$:" PARLEY_JWT_SECRET="web-test-secret-web-test-secret-web-test"
wait_ready "$SERVE_URL" "$SERVE_PID" || { tail -30 "$dir/server.log" >&2; exit 1; }

status=0
(cd "$root/web" && PARLEY_WEB_URL=$SERVE_URL PARLEY_CHROMIUM=$CHROMIUM npx --no-install vitest run --config "vitest.${WEB_SUITE:-e2e}.config.ts" "$@") || status=$?
if [ "$status" -ne 0 ]; then
	say "browser tests failed; the server's last log lines:"
	tail -40 "$dir/server.log" >&2
fi
exit "$status"
