#!/usr/bin/env bash
# bench-ws.sh BINARY (make bench) loads the WebSocket event channel of two
# instances sharing one PostgreSQL and one Redis, with bench/cmd/parley-wsbench.
#
# It starts a private PostgreSQL with make test's settings (fsync,
# synchronous_commit and full_page_writes off) and a private Redis, creates
# a database, and starts two "BINARY serve" instances on free
# loopback ports with REDIS_URL set, a JWT secret generated for this run and
# the rate limits raised out of the way; their logs go to files. Once both
# answer /readyz it runs parley-wsbench, which sets up its users straight in
# PostgreSQL, mints their tokens with the same secret, and reports four
# scenarios (see bench/cmd/parley-wsbench) with PASS/FAIL against issue 3's
# targets. It exits non-zero if a target is missed.
#
# Why not PostgreSQL's default durability, as bench/bench.sh uses: every
# POST to a conversation bumps its last_seq row, so posts to one channel
# commit one after another, each waiting for its own fsync. The capacity
# scenario posts to one channel, and would then measure the disk (a few
# hundred posts/s at best, far fewer on a busy one) rather than the event
# channel; bench/bench.sh already measures POSTs with durable commits.
# BENCH_WS_PG_OPTIONS=" " restores the defaults. Everything it starts is
# stopped and removed on exit, Ctrl-C and failures included.
#
# Settings (environment): BENCH_WS_ARGS (extra parley-wsbench flags, e.g.
# "-scenarios latency -latency-duration 20s"), BENCH_WS_PG_OPTIONS (postgres
# options instead of make test's), BENCH_WS_LOGS=DIR (keep the server logs
# there), BENCH_WS_LOG_LEVEL (the servers' PARLEY_LOG_LEVEL, default info;
# debug logs why each connection ended), GO (default go).
#
# BENCH_WS_PROFILE=DIR also profiles instance a through its private debug
# listener (PARLEY_DEBUG_ADDR): a CPU profile of the run's first
# BENCH_WS_PROFILE_SECONDS (default 30) and heap and goroutine profiles
# while the memory scenario's connections are open, written to DIR as
# cpu.pb.gz, heap.pb.gz and goroutine.pb.gz. Read them with `go tool pprof
# -top DIR/cpu.pb.gz` or `go tool pprof -sample_index=inuse_space
# DIR/heap.pb.gz`.
set -Eeuo pipefail
. "$(dirname "$0")/../scripts/services.sh"

[ $# -eq 1 ] || die "usage: bench/bench-ws.sh BINARY"
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$bin" ] || die "$bin is not an executable; run make build"

# 10,000 idle WebSockets on one instance, plus its database and Redis
# connections, need more than the usual 1,024 files: take the hard limit
# (20,000 on the bench machine), which both servers and the generator inherit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 12000 ] ||
	die "open files limited to $(ulimit -n) (hard $(ulimit -Hn)); the memory scenario needs 12,000"

ensure_postgres
ensure_redis
"${GO:-go}" build -o "$root/bin/parley-wsbench" "$root/bench/cmd/parley-wsbench"

dir=$(mktemp -d /tmp/parley-bench-ws.XXXXXX)
chmod 755 "$dir"
pids=() child=''
cleanup() {
	local status=$?
	set +e
	trap - EXIT INT TERM ERR
	[ -n "$child" ] && kill "$child" 2>/dev/null && wait "$child" 2>/dev/null
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	if [ "$status" != 0 ]; then
		for f in "$dir"/server-*.log; do
			[ -s "$f" ] || continue
			say "last lines of $(basename "$f"):"
			tail -n 15 "$f" >&2
		done
	fi
	if [ -n "${BENCH_WS_LOGS:-}" ]; then
		mkdir -p "$BENCH_WS_LOGS" && cp "$dir"/server-*.log "$BENCH_WS_LOGS/" 2>/dev/null
	fi
	[ -n "${REDIS_PID:-}" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
	pg_stop "$dir/pg"
	rm -rf "$dir"
	exit "$status"
}
trap cleanup EXIT
trap 'say "failed at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck disable=SC2086 # options are words
pg_start "$dir/pg" "$dir/sock" ${BENCH_WS_PG_OPTIONS-$PG_FAST_OPTIONS}
redis_start "$dir"
"$PGBIN/psql" "$(pg_url "$dir/sock" postgres)" -qc 'CREATE DATABASE parley'
dsn=$(pg_url "$dir/sock" parley)

profile_args=() debug_env=()
if [ -n "${BENCH_WS_PROFILE:-}" ]; then
	mkdir -p "$BENCH_WS_PROFILE"
	out=$(realpath "$BENCH_WS_PROFILE")
	debug_addr=127.0.0.1:$(free_port)
	debug_env=(PARLEY_DEBUG_ADDR="$debug_addr")
	profile_args=(-debug-url "http://$debug_addr" -cpuprofile "$out/cpu.pb.gz"
		-cpuprofile-seconds "${BENCH_WS_PROFILE_SECONDS:-30}s"
		-memprofile "$out/heap.pb.gz" -goroutineprofile "$out/goroutine.pb.gz")
fi

# The secret lives in the environment only, never on a command line.
export PARLEY_WSBENCH_JWT_SECRET
PARLEY_WSBENCH_JWT_SECRET=$(head -c 48 /dev/urandom | base64 -w0)
urls=()
for name in a b; do
	extra_env=()
	[ "$name" = b ] || extra_env=("${debug_env[@]}")
	serve_start "$bin" "$dir/server-$name.log" "${extra_env[@]}" \
		DATABASE_URL="$dsn" \
		PARLEY_JWT_SECRET="$PARLEY_WSBENCH_JWT_SECRET" \
		REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
		PARLEY_DRAIN_DELAY=0s PARLEY_LOG_LEVEL="${BENCH_WS_LOG_LEVEL:-info}"
	pids+=("$SERVE_PID")
	urls+=("$SERVE_URL")
done
for i in 0 1; do
	wait_ready "${urls[$i]}" "${pids[$i]}"
done
say "instances ready at ${urls[0]} and ${urls[1]} (Redis $REDIS_PORT); load average $(cut -d' ' -f1 /proc/loadavg)"

rc=0
# shellcheck disable=SC2086 # BENCH_WS_ARGS holds flags
"$root/bin/parley-wsbench" -urls "${urls[0]},${urls[1]}" -dsn "$dsn" \
	-pids "a=${pids[0]},b=${pids[1]},redis=$REDIS_PID" -redis "redis://127.0.0.1:$REDIS_PORT/0" \
	"${profile_args[@]}" ${BENCH_WS_ARGS:-} &
child=$!
wait "$child" || rc=$?
child=''
[ -z "${BENCH_WS_PROFILE:-}" ] || say "profiles in $out"
echo "make bench (WebSocket): PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}') with options '${BENCH_WS_PG_OPTIONS-$PG_FAST_OPTIONS}'," \
	"2 instances with Redis, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
case $rc in
0) ;;
1) say "a WebSocket target was missed" ;;
*) say "parley-wsbench could not finish (exit $rc)" ;;
esac
exit "$rc"
