#!/usr/bin/env bash
# cluster.sh start BINARY | stop: the multi-instance topology of
# deploy/compose.yaml on this machine, without containers: a private
# PostgreSQL and Redis, two instances of BINARY serve, a worker when the
# binary has one, and nginx on loopback in front, running deploy/nginx.conf
# with only its machine-specific lines changed. start prints the URL and
# returns; everything runs in the background until stop. State (data, logs,
# pids) lives in $PARLEY_CLUSTER_DIR, default .cluster/ in the checkout.
set -euo pipefail
. "$(dirname "$0")/services.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${PARLEY_CLUSTER_DIR:-$root/.cluster}

stop() {
	[ -d "$dir" ] || { say "no cluster in $dir"; return; }
	ensure_postgres
	[ -s "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
	local f
	for f in "$dir"/*.pid; do
		[ -s "$f" ] || continue
		kill -TERM "$(cat "$f")" 2>/dev/null || true
	done
	for f in "$dir"/*.pid; do
		[ -s "$f" ] || continue
		while kill -0 "$(cat "$f")" 2>/dev/null; do sleep 0.1; done
	done
	pg_stop "$dir/pg"
	rm -rf "$dir"
	say "cluster stopped"
}

start() {
	local bin=$1
	[ ! -e "$dir" ] || die "$dir exists: is a cluster running? (make cluster-stop)"
	ensure_postgres
	ensure_redis
	ensure_nginx
	mkdir -p "$dir"
	chmod 755 "$dir"
	# A unix socket path must stay under ~100 bytes.
	local sock=$dir/sock
	[ ${#sock} -le 80 ] || sock=$(mktemp -d /tmp/parley-cluster.XXXXXX)
	pg_start "$dir/pg" "$sock"
	psql "$(pg_url "$sock" postgres)" -qc 'CREATE DATABASE parley' >/dev/null
	# Background processes must not hold make's output open.
	redis_start "$dir" </dev/null >/dev/null 2>&1
	echo "$REDIS_PID" >"$dir/redis.pid"

	export DATABASE_URL PARLEY_JWT_SECRET REDIS_URL PARLEY_TRUST_PROXY=true
	DATABASE_URL=$(pg_url "$sock" parley)
	PARLEY_JWT_SECRET=$(head -c 48 /dev/urandom | base64 -w0)
	REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
	local upstreams=() i
	for i in 1 2; do
		serve_start "$bin" "$dir/api$i.log" </dev/null
		echo "$SERVE_PID" >"$dir/api$i.pid"
		wait_ready "$SERVE_URL" "$SERVE_PID"
		upstreams+=("${SERVE_URL#http://}")
		echo "$SERVE_URL" >"$dir/api$i.url"
	done
	if "$bin" help 2>&1 | grep -qw worker; then
		"$bin" worker </dev/null >"$dir/worker.log" 2>&1 &
		echo $! >"$dir/worker.pid"
	else
		say "this build has no worker; starting none"
	fi

	local port user="# user: the caller"
	port=$(free_port)
	[ "$(id -u)" != 0 ] || user="user root;"
	sed -e "s|^user .*|$user|" -e "s|^pid .*|pid $dir/nginx.pid;|" \
		-e "s|/var/log/nginx/parley-error.log|$dir/nginx-error.log|" \
		-e "s|/var/log/nginx/parley-access.log|$dir/nginx-access.log|" \
		-e "s|^\( *\)listen 8080;|\1listen 127.0.0.1:$port;|" \
		-e "s|127.0.0.1:8081|${upstreams[0]}|" -e "s|127.0.0.1:8082|${upstreams[1]}|" \
		-e "s|^http {|http {\n    client_body_temp_path $dir/client_body_temp;\n    proxy_temp_path $dir/proxy_temp;\n    fastcgi_temp_path $dir/fastcgi_temp;\n    uwsgi_temp_path $dir/uwsgi_temp;\n    scgi_temp_path $dir/scgi_temp;|" \
		"$root/deploy/nginx.conf" >"$dir/nginx.conf"
	"$NGINX" -e "$dir/nginx-error.log" -c "$dir/nginx.conf" </dev/null >/dev/null 2>&1 || die "nginx did not start: $(tail -5 "$dir/nginx-error.log")"
	wait_ready "http://127.0.0.1:$port" "$(cat "$dir/nginx.pid")"
	echo "http://127.0.0.1:$port" >"$dir/url"
	say "cluster up: two instances ($(cat "$dir/api1.url"), $(cat "$dir/api2.url")) behind nginx; logs in $dir; make cluster-stop ends it"
	echo "http://127.0.0.1:$port"
}

case ${1:-} in
start) start "${2:?usage: cluster.sh start BINARY}" ;;
stop) stop ;;
*) die "usage: cluster.sh start BINARY | stop" ;;
esac
