#!/usr/bin/env bash
# with-test-services.sh CMD [ARGS…] starts a throwaway PostgreSQL and Redis,
# runs CMD with PARLEY_TEST_DATABASE_URL and PARLEY_TEST_REDIS_URL pointing at
# them, then stops both and removes their files. It also exports
# PARLEY_TEST_NGINX, the nginx binary the multi-instance tests in e2e/ run
# (installed if missing), and installs curl and jq if missing, for the e2e
# test that runs the README's walkthrough, and tmux, for the test that drives
# parley chat in a terminal; it exports PARLEY_TEST_DOCKER_COMPOSE, with which
# deploy/ checks compose.yaml. make test, unit and fuzz use it, so none needs
# anything started or installed by hand. Tests start their own Redis
# Clusters from the same binaries (internal/redistest).
set -euo pipefail
. "$(dirname "$0")/services.sh"

ensure_postgres
ensure_redis
ensure_nginx
ensure_curl_jq
ensure_docker_compose
ensure_tmux

dir=$(mktemp -d /tmp/parley-test.XXXXXX)
chmod 755 "$dir"
cleanup() {
	[ -n "${REDIS_PID:-}" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
	pg_stop "$dir/pg"
	rm -rf "$dir"
}
trap cleanup EXIT

# Durability is not under test, so trade it for speed.
pg_start "$dir/pg" "$dir/sock" "$PG_FAST_OPTIONS"
redis_start "$dir"

export PARLEY_TEST_DATABASE_URL PARLEY_TEST_REDIS_URL PARLEY_TEST_NGINX PARLEY_TEST_DOCKER_COMPOSE
PARLEY_TEST_DATABASE_URL=$(pg_url "$dir/sock" postgres)
PARLEY_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
PARLEY_TEST_NGINX=$NGINX
PARLEY_TEST_DOCKER_COMPOSE=$DOCKER_COMPOSE
"$@"
