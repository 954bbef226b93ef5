#!/usr/bin/env bash
# bench.sh BINARY (make bench) measures the server against its database.
#
# It starts a private PostgreSQL with the default durability settings (fsync
# and synchronous_commit on, unlike make test), creates a fresh database,
# runs "BINARY serve" on a free loopback port with the rate limits raised
# out of the way, and loads it with bench/cmd/parley-bench: 32 clients post
# messages, each to its own channel, and read the latest history page.
# pgbench, at the same concurrency, replays the SQL of one POST
# (bench/pgbench/post.sql), the history SELECT (history.sql) and, for
# reference, a plain single-row INSERT (insert.sql); db/replay_test.go
# fails if those scripts drift from the store's statements. The HTTP phases
# and the replays alternate in rounds (see the loop below).
#
# It prints the ratios HTTP rate / pgbench rate and exits non-zero if one
# misses its target. Everything it starts is stopped and removed on exit,
# Ctrl-C included.
#
# Settings (environment): BENCH_ROUNDS (default 6), BENCH_DURATION (seconds
# each phase is measured in each round, default 3), BENCH_WARMUP (seconds of
# unmeasured load before each, default 1), BENCH_REDIS (0, the default: the
# server runs alone; 1: it uses a Redis via REDIS_URL, as one of several
# instances), BENCH_FLOOR (1: also load bench/cmd/parley-floor in every round,
# with its ratios reported beside the server's), BENCH_AGAINST (another
# build of parley, say of the commit before a change, started with the same
# settings and loaded in every round beside BINARY: a paired comparison
# that the machine's drift hits alike; BENCH_AGAINST_OWN_DB=1 gives it a
# database of its own, set up alike, for a build whose schema differs),
# BENCH_AGAINST_ENV (settings the BENCH_AGAINST side is started with
# besides, e.g. "PARLEY_PUSH=false" with BENCH_AGAINST=BINARY to weigh a
# setting in the same rounds),
# BENCH_DSN_OPTIONS (appended to the
# server's DATABASE_URL, e.g. "&binary_parameters=yes", to try driver
# settings), BENCH_PHASES (the parley-bench phases loaded in each round,
# default "post history post-one post-single"; post-one has all 32 clients
# post to one channel, post-single one client alone; pgbench replays only
# post and history),
# BENCH_SLOW_FLUSH (1: PostgreSQL waits 1 ms before every WAL flush, as a
# cloud disk would make it, with commit_delay=1000 and commit_siblings=0;
# synchronous_commit stays on), GO (default go).
set -Eeuo pipefail
. "$(dirname "$0")/../scripts/services.sh"

[ $# -eq 1 ] || die "usage: bench/bench.sh BINARY"
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$bin" ] || die "$bin is not an executable; run make build"

clients=32 # fixed by the issue: 32 clients spread over 32 conversations
rounds=${BENCH_ROUNDS:-6}
duration=${BENCH_DURATION:-3}
warmup=${BENCH_WARMUP:-1}
body='The quick brown fox jumps over the lazy dog while the bench runs.'
post_target=0.8    # POST req/s over pgbench post.sql tps (one transaction per message), issue 15
history_target=0.3 # history GET req/s over pgbench history.sql tps

ensure_postgres
"${GO:-go}" build -o "$root/bin/parley-bench" "$root/bench/cmd/parley-bench"
floor=${BENCH_FLOOR:-0}
[ "$floor" = 0 ] || "${GO:-go}" build -o "$root/bin/parley-floor" "$root/bench/cmd/parley-floor"

dir=$(mktemp -d /tmp/parley-bench.XXXXXX)
chmod 755 "$dir"
server_pid='' child='' show_log=1
extras=() # sides loaded besides BINARY: floor, against
declare -A side_url side_pid
cleanup() {
	local status=$?
	set +e
	trap - EXIT INT TERM ERR
	[ -n "$child" ] && kill "$child" 2>/dev/null && wait "$child" 2>/dev/null
	for pid in $server_pid "${side_pid[@]}"; do
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	if [ "$status" != 0 ] && [ "$show_log" = 1 ] && [ -s "$dir/server.log" ]; then
		say "last lines of the server log:"
		tail -n 20 "$dir/server.log" >&2
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

# in_background runs a command as a background child and waits for it, so a
# signal interrupts the wait at once and the EXIT trap can stop the child.
in_background() {
	"$@" &
	child=$!
	local rc=0
	wait "$child" || rc=$?
	child=''
	return "$rc"
}

# PostgreSQL's default durability, as in production. commit_delay makes the
# backend that leads a WAL flush sleep first, so every commit waits at
# least that long: the flush of a slow disk, on a fast one.
pg_opts='' durability='default durability'
if [ "${BENCH_SLOW_FLUSH:-0}" = 1 ]; then
	pg_opts='-c commit_delay=1000 -c commit_siblings=0'
	durability='default durability and a 1 ms flush (commit_delay)'
fi
# shellcheck disable=SC2086 # options, one word each
pg_start "$dir/pg" "$dir/sock" $pg_opts
"$PGBIN/psql" "$(pg_url "$dir/sock" postgres)" -qc 'CREATE DATABASE parley'

# By default the server runs alone, as issue #2 defines the bench: the
# server and PostgreSQL. With BENCH_REDIS=1 it runs as one of several
# instances would: rate limits, fan-out and presence go through a Redis,
# which then shares the CPUs too.
redis_url='' cpu_procs='' mode='alone'
if [ "${BENCH_REDIS:-0}" = 1 ]; then
	ensure_redis
	redis_start "$dir"
	redis_url="redis://127.0.0.1:$REDIS_PORT/0"
	cpu_procs=",redis=$REDIS_PID"
	mode='with Redis'
fi
# The secret is generated for this run and passed in the environment only.
secret=$(head -c 48 /dev/urandom | base64 -w0)
dsn="$(pg_url "$dir/sock" parley)${BENCH_DSN_OPTIONS:-}"
serve_start "$bin" "$dir/server.log" DATABASE_URL="$dsn" PARLEY_JWT_SECRET="$secret" REDIS_URL="$redis_url"
server_pid=$SERVE_PID url=$SERVE_URL
wait_ready "$url" "$server_pid"

# BENCH_FLOOR=1 also loads bench/cmd/parley-floor, the least server that answers
# the same two requests on the same stack and store (net/http, the token
# check, db.Store, encoding/json: no router, middleware, log, limits,
# validation or events), on the same database and secret. What it adds
# over pgbench is the stack's; what serve adds over it is Parley's API.
if [ "$floor" != 0 ]; then
	addr="127.0.0.1:$(free_port)"
	env PARLEY_ADDR="$addr" DATABASE_URL="$dsn" PARLEY_JWT_SECRET="$secret" \
		"$root/bin/parley-floor" >"$dir/floor.log" 2>&1 &
	side_pid[floor]=$! side_url[floor]="http://$addr"
	wait_ready "${side_url[floor]}" "${side_pid[floor]}"
	extras+=(floor)
fi
against_dsn=$dsn against_state=$dir/state.json
if [ "${BENCH_AGAINST_OWN_DB:-0}" = 1 ]; then
	"$PGBIN/psql" "$(pg_url "$dir/sock" postgres)" -qc 'CREATE DATABASE parley_against'
	against_dsn="$(pg_url "$dir/sock" parley_against)${BENCH_DSN_OPTIONS:-}" against_state=$dir/state-against.json
fi
if [ -n "${BENCH_AGAINST:-}" ]; then
	# shellcheck disable=SC2086 # BENCH_AGAINST_ENV is NAME=VALUE words
	serve_start "$(realpath "$BENCH_AGAINST")" "$dir/against.log" DATABASE_URL="$against_dsn" PARLEY_JWT_SECRET="$secret" REDIS_URL="$redis_url" ${BENCH_AGAINST_ENV:-}
	side_pid[against]=$SERVE_PID side_url[against]=$SERVE_URL
	wait_ready "$SERVE_URL" "$SERVE_PID"
	extras+=(against)
fi

postmaster=$(head -1 "$dir/pg/postmaster.pid")
say "server ready at $url; $rounds rounds of ${warmup}s warm-up + ${duration}s per phase, $clients clients (load average $(cut -d" " -f1 /proc/loadavg))"

# The setup: parley-bench registers the users and their channels, seeds
# them, and keeps their tokens in state.json for the rounds.
in_background "$root/bin/parley-bench" -url "$url" -clients "$clients" -body "$body" \
	-state "$dir/state.json" -phases '' >"$dir/setup.out"
grep '^setup: ' "$dir/setup.out" || true
if [ -n "${BENCH_AGAINST:-}" ] && [ "$against_state" != "$dir/state.json" ]; then
	in_background "$root/bin/parley-bench" -url "${side_url[against]}" -clients "$clients" -body "$body" \
		-state "$against_state" -phases '' >"$dir/setup-against.out"
fi

# field PHASE KEY prints KEY's value from the "BENCH PHASE …" line of
# bench.out, or of FILE if given.
field() {
	sed -n "s/^BENCH $1 .*[ ]$2=\([^ ]*\).*/\1/p" "${3:-$dir/bench.out}"
}
conv_base=$(field setup conv_base "$dir/setup.out")
user_base=$(field setup user_base "$dir/setup.out")
{ [ -n "$conv_base" ] && [ -n "$user_base" ]; } || die "parley-bench printed no setup line"

# pgbench runs each script with the protocol lib/pq uses for it. The store
# prepares its hot statements once per connection (database/sql Stmt), so
# each POST or history read is Bind+Execute+Sync on a named statement: one
# round trip and no parsing or planning, which is pgbench's -M prepared.
# (Unprepared lib/pq queries would differ: Parse+Describe+Sync, then
# Bind+Execute+Sync, two round trips that -M extended does in one.)
#
# cluster_cpu_us prints the CPU time, in microseconds, that the PostgreSQL
# cluster has used: the postmaster, its exited children and its live ones.
cluster_cpu_us() {
	local children
	children=$(cat "/proc/$postmaster/task/$postmaster/children")
	# shellcheck disable=SC2086 # one path per child
	{
		awk '{ sub(/.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$postmaster/stat"
		for c in $children; do awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$c/stat" 2>/dev/null || true; done
	} | awk -v hz="$(getconf CLK_TCK)" '{ t += $1 } END { printf "%d", t * 1e6 / hz }'
}

# children_cpu_us FILE prints the CPU time, in microseconds, of this shell's
# waited-for children, from the output of bash's times builtin in FILE
# (times must run in this shell, not in a $(…) subshell).
children_cpu_us() {
	awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] } printf "%d", t * 1e6 }' "$1"
}

# run_pgbench NAME ROUND runs bench/pgbench/NAME.sql (warm-up, then
# measured) and adds its line to bench.out.
run_pgbench() {
	local script=$root/bench/pgbench/$1.sql tps lat pg0 pg1 cl0 cl1 n
	local args=(-n -M prepared -c "$clients" -j 2 -h "$dir/sock" -p 5432 -U postgres
		-D conv_base="$conv_base" -D user_base="$user_base" -D body="$body" -D created_at="$(date -u +%FT%T.%6NZ)"
		-f "$script")
	if [ "$warmup" -gt 0 ]; then
		in_background "$PGBIN/pgbench" "${args[@]}" -T "$warmup" parley >/dev/null 2>"$dir/pgbench.err" ||
			{ cat "$dir/pgbench.err" >&2; die "pgbench $1.sql failed"; }
	fi
	times >"$dir/times.0"
	pg0=$(cluster_cpu_us)
	in_background "$PGBIN/pgbench" "${args[@]}" -T "$duration" parley >"$dir/pgbench.out" 2>"$dir/pgbench.err" ||
		{ cat "$dir/pgbench.out" "$dir/pgbench.err" >&2; die "pgbench $1.sql failed"; }
	sleep 0.2 # let the postmaster reap pgbench's backends, whose time it then holds
	times >"$dir/times.1"
	pg1=$(cluster_cpu_us)
	cl0=$(children_cpu_us "$dir/times.0") cl1=$(children_cpu_us "$dir/times.1")
	tps=$(sed -n 's/^tps = \([0-9]*\.[0-9]\).*/\1/p' "$dir/pgbench.out")
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$dir/pgbench.out")
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$dir/pgbench.out")
	{ [ -n "$tps" ] && [ "${n:-0}" -gt 0 ]; } || { cat "$dir/pgbench.out" >&2; die "no tps in pgbench's output"; }
	echo "BENCH pgbench-$1 round=$2 clients=$clients seconds=$duration requests=$n rps=$tps latency_avg_ms=$lat" \
		"cpu_us_client=$(((cl1 - cl0) / n)) cpu_us_postgres=$(((pg1 - pg0) / n))" >>"$dir/bench.out"
}

# run_http PHASE ROUND [SIDE] runs parley-bench's PHASE against the
# server, or against another side (floor, against), and adds its line to
# bench.out as PHASE or SIDE-PHASE.
run_http() {
	local target=$url pid=$server_pid name=$1 state=$dir/state.json
	if [ -n "${3:-}" ]; then
		target=${side_url[$3]} pid=${side_pid[$3]} name=$3-$1
		[ "$3" != against ] || state=$against_state
	fi
	in_background "$root/bin/parley-bench" -url "$target" -clients "$clients" -body "$body" -state "$state" \
		-phases "$1" -duration "${duration}s" -warmup "${warmup}s" \
		-cpu "server=$pid,postgres=$postmaster$cpu_procs" >"$dir/http.out"
	sed -n "s/^BENCH $1 /BENCH $name round=$2 /p" "$dir/http.out" >>"$dir/bench.out"
}

# The scratch table of the reference INSERT.
"$PGBIN/psql" "$(pg_url "$dir/sock" parley)" -qc \
	'CREATE TABLE bench_scratch (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, client int NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())'

# Each round runs each HTTP phase and pgbench's replay of it back to back,
# the order turning from round to round, so that no side always runs on the
# larger table or always right after another: a slow spell of the machine
# (a checkpoint, autovacuum, a neighbour on the host) then falls on every
# side alike.
read -ra phases <<<"${BENCH_PHASES:-post history post-one post-single}"
: >"$dir/bench.out"
for round in $(seq "$rounds"); do
	for phase in "${phases[@]}"; do
		sides=(http "${extras[@]}")
		case $phase in post | history) sides+=(pgbench) ;; esac
		for i in "${!sides[@]}"; do
			side=${sides[(i + round - 1) % ${#sides[@]}]}
			case $side in
			http) run_http "$phase" "$round" ;;
			pgbench) run_pgbench "$phase" "$round" ;;
			*) run_http "$phase" "$round" "$side" ;;
			esac
		done
	done
	line="round $round of $rounds:"
	for phase in "${phases[@]}"; do
		line+=" $phase $(field "$phase" rps | tail -1)"
		[ -z "${BENCH_AGAINST:-}" ] || line+=" (against $(field "against-$phase" rps | tail -1))"
	done
	case " ${phases[*]} " in *" post "*) run_pgbench insert "$round" ;; esac
	say "$line req/s"
done

# total PHASE prints PHASE's rate over all rounds, then its CPU per request
# of server, postgres, redis and client (- where not measured), weighted by
# each round's requests.
total() {
	awk -v phase="$1" '$1 == "BENCH" && $2 == phase {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		n += f["requests"]; s += f["seconds"]
		for (k in f) if (k ~ /^cpu_us_/) { cpu[k] += f[k] * f["requests"]; seen[k] = 1 }
		delete f
	} END {
		printf "%.1f", (s > 0 ? n / s : 0)
		split("server postgres redis client", names, " ")
		for (i = 1; i <= 4; i++) { k = "cpu_us_" names[i]; printf " %s", (seen[k] ? sprintf("%d", cpu[k] / n) : "-") }
		print ""
	}' "$dir/bench.out"
}
# ratio HTTP PGBENCH prints HTTP / PGBENCH to two places.
ratio() {
	awk -v h="$1" -v p="$2" 'BEGIN { printf "%.2f", h / p }'
}

# ratio_row LABEL HTTP PGBENCH TARGET prints a row of the summary and sets
# failed if the ratio misses the target.
failed=0
row='%-26s %11s %12s %6s %7s %6s\n'
ratio_row() {
	local ratio verdict
	ratio=$(ratio "$2" "$3")
	verdict=$(awk -v r="$ratio" -v t="$4" 'BEGIN { print (r >= t ? "PASS" : "FAIL") }')
	[ "$verdict" = PASS ] || failed=1
	# shellcheck disable=SC2059 # the format is ours
	printf "$row" "$1" "$2" "$3" "$ratio" ">= $4" "$verdict"
}
echo
echo "make bench: $clients clients, $rounds rounds of ${duration}s per phase, PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}') with $durability," \
	"server $mode, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2059
printf "$row" workload "HTTP req/s" "pgbench tps" ratio target result
cpu_phases=()
for phase in "${phases[@]}"; do
	read -r rate _ < <(total "$phase")
	case $phase in
	post)
		read -r pg_post _ < <(total pgbench-post)
		ratio_row "POST message" "$rate" "$pg_post" "$post_target"
		cpu_phases+=(post pgbench-post)
		;;
	history)
		read -r pg_history _ < <(total pgbench-history)
		ratio_row "GET latest history" "$rate" "$pg_history" "$history_target"
		cpu_phases+=(history pgbench-history)
		;;
	*)
		# shellcheck disable=SC2059
		printf "$row" "$phase" "$rate" - - - -
		cpu_phases+=("$phase")
		;;
	esac
	for side in "${extras[@]}"; do
		read -r side_rate _ < <(total "$side-$phase")
		pg='-'
		case $phase in post | history) read -r pg _ < <(total "pgbench-$phase") ;; esac
		# shellcheck disable=SC2059
		printf "$row" "$side $phase" "$side_rate" "$pg" "$([ "$pg" = - ] && echo - || ratio "$side_rate" "$pg")" - -
		cpu_phases+=("$side-$phase")
	done
done
if [[ " ${phases[*]} " == *" post "* ]]; then
	read -r pg_insert _ < <(total pgbench-insert)
	# shellcheck disable=SC2059
	printf "$row" "plain INSERT (reference)" - "$pg_insert" - - -
	cpu_phases+=(pgbench-insert)
fi

# With BENCH_AGAINST, each phase of BINARY against the same phase of the
# other build: the median over the rounds of each round's ratio, since the
# two ran back to back in it. When the other build is the commit before
# group commit, post-one must reach 3x its rate and post-single keep its
# p50 latency within 10%.
if [ -n "${BENCH_AGAINST:-}" ]; then
	echo
	echo "paired with BENCH_AGAINST=$BENCH_AGAINST (median of the rounds' ratios)"
	pair='%-14s %11s %11s %10s %11s %11s %10s %9s\n'
	# shellcheck disable=SC2059
	printf "$pair" phase "req/s" "against" "rate x" "p50 ms" "against" "p50 x" target
	for phase in "${phases[@]}"; do
		read -r r a rr p pa pr < <(awk -v phase="$phase" '
			function get(line, key,   i, kv) { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] } }
			function median(x, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
				return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2 }
			$1 == "BENCH" && ($2 == phase || $2 == "against-" phase) {
				split($3, kv, "="); round = kv[2]; side = ($2 == phase) ? "us" : "them"
				rate[side, round] = get($0, "rps"); p50[side, round] = get($0, "p50_ms"); rounds[round] = 1
			}
			END {
				for (k in rounds) if ((("them", k) in rate) && rate["them", k] > 0 && p50["them", k] > 0) {
					n++; rr[n] = rate["us", k] / rate["them", k]; pr[n] = p50["us", k] / p50["them", k]
					ru[n] = rate["us", k]; rt[n] = rate["them", k]; pu[n] = p50["us", k]; pt[n] = p50["them", k]
				}
				if (n == 0) { print "- - - - - -"; exit }
				printf "%.1f %.1f %.2f %.2f %.2f %.2f\n", median(ru, n), median(rt, n), median(rr, n), median(pu, n), median(pt, n), median(pr, n)
			}' "$dir/bench.out")
		target='-' verdict=''
		case $phase in
		post-one) target='rate>=3' verdict=$(awk -v x="$rr" 'BEGIN { print (x >= 3 ? "PASS" : "FAIL") }') ;;
		post-single) target='p50<=1.10' verdict=$(awk -v x="$pr" 'BEGIN { print (x <= 1.10 ? "PASS" : "FAIL") }') ;;
		esac
		[ "$verdict" != FAIL ] || failed=1
		# shellcheck disable=SC2059
		printf "$pair" "$phase" "$r" "$a" "$rr" "$p" "$pa" "$pr" "$target $verdict"
	done
fi
echo
# Where the CPU went: on 2 CPUs shared by everything, the ratio of these
# totals is what the throughput ratio tends to when both sides are CPU-bound,
# and unlike throughput it hardly moves when something else loads the box.
cpu='%-26s %8s %9s %7s %7s %7s\n'
# shellcheck disable=SC2059
printf "$cpu" "CPU us per request" server postgres redis client total
for phase in "${cpu_phases[@]}"; do
	read -r _ sv pg rd cl < <(total "$phase")
	# shellcheck disable=SC2059
	printf "$cpu" "$phase" "$sv" "$pg" "$rd" "$cl" "$(echo "$sv $pg $rd $cl" | awk '{ for (i = 1; i <= NF; i++) t += $i; print t }')"
done
echo
grep '^BENCH ' "$dir/bench.out"
if [ "$failed" != 0 ]; then
	show_log=0
	say "a target was missed"
	exit 1
fi
