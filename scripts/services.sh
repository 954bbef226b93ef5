# shellcheck shell=bash
# Functions that install and start the private PostgreSQL and Redis Parley
# uses for development (make run), tests (make test) and benchmarks
# (make bench). Source this file; it defines functions only.
#
# PostgreSQL refuses to run as root, so as root its processes run as the
# unprivileged "postgres" user (created by Debian's packages).

PG_VERSION=${PG_VERSION:-15}

# PG_FAST_OPTIONS trade durability for speed where it is not under test
# (make test, the WebSocket bench).
PG_FAST_OPTIONS='-c fsync=off -c synchronous_commit=off -c full_page_writes=off'

say() { printf 'parley: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# as_pg runs a command as the user that owns the PostgreSQL cluster.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# apt_install installs Debian packages when we can (root with apt-get), and
# otherwise says exactly what is missing.
apt_install() {
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		say "installing $* with apt-get"
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
			apt-get update -qq >/dev/null &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
				die "could not install $*; install them yourself"
		fi
	else
		die "missing $*: install them (Debian/Ubuntu: sudo apt-get install $*) and run again"
	fi
}

# ensure_postgres sets PGBIN to a directory holding initdb, pg_ctl and pgbench.
ensure_postgres() {
	PGBIN=/usr/lib/postgresql/$PG_VERSION/bin
	if [ ! -x "$PGBIN/pg_ctl" ] || [ ! -x "$PGBIN/pgbench" ]; then
		apt_install "postgresql-$PG_VERSION" "postgresql-contrib"
	fi
	[ -x "$PGBIN/pg_ctl" ] || die "PostgreSQL $PG_VERSION binaries not found in $PGBIN"
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres ||
			die "could not create the postgres user"
	fi
	command -v psql >/dev/null || export PATH="$PGBIN:$PATH"
}

# ensure_redis makes redis-server and redis-cli available.
ensure_redis() {
	command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return
	apt_install redis-server
}

# ensure_curl_jq makes curl and jq available: the e2e test that runs the
# README's walkthrough as written needs them.
ensure_curl_jq() {
	local missing=()
	command -v curl >/dev/null || missing+=(curl)
	command -v jq >/dev/null || missing+=(jq)
	[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# ensure_nginx sets NGINX to the nginx binary the multi-instance tests put in
# front of several servers (Debian installs it in /usr/sbin, which a
# non-root PATH may lack).
ensure_nginx() {
	NGINX=$(command -v nginx || true)
	[ -n "$NGINX" ] || [ ! -x /usr/sbin/nginx ] || NGINX=/usr/sbin/nginx
	if [ -z "$NGINX" ]; then
		apt_install nginx
		NGINX=$(command -v nginx || echo /usr/sbin/nginx)
	fi
	[ -x "$NGINX" ] || die "nginx not found after installing it"
}

# ensure_docker_compose sets DOCKER_COMPOSE to Debian's docker-compose (v1),
# which validates deploy/compose.yaml in make test; no container engine is
# needed for that.
ensure_docker_compose() {
	DOCKER_COMPOSE=$(command -v docker-compose || true)
	if [ -z "$DOCKER_COMPOSE" ]; then
		apt_install docker-compose
		DOCKER_COMPOSE=$(command -v docker-compose)
	fi
}

# ensure_tmux makes tmux available: the terminal client's end-to-end test
# drives parley chat in a real terminal through it.
ensure_tmux() {
	command -v tmux >/dev/null && return
	apt_install tmux
	command -v tmux >/dev/null || die "tmux not found after installing it"
}

# pg_start DATADIR SOCKDIR [extra postgres options]: initialises DATADIR if it
# is empty and starts a cluster listening only on a unix socket in SOCKDIR.
# The superuser is "postgres" with trust authentication: nothing else can
# reach the socket directory.
pg_start() {
	local data=$1 sock=$2
	shift 2
	mkdir -p "$data" "$sock"
	chmod 700 "$data"
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$data" "$sock"
		as_pg test -x "$data" || die "the postgres user cannot reach $data; put the checkout somewhere it can read"
	fi
	if [ ! -s "$data/PG_VERSION" ]; then
		as_pg "$PGBIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$data.initdb.log" 2>&1 ||
			{ cat "$data.initdb.log" >&2; die "initdb failed"; }
	fi
	as_pg "$PGBIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
		-o "-k $sock -c listen_addresses='' -p 5432 -c max_connections=300 $*" start >/dev/null ||
		{ tail -20 "$data/server.log" >&2; die "PostgreSQL did not start"; }
}

# pg_stop DATADIR stops the cluster if it runs.
pg_stop() {
	as_pg "$PGBIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true
}

# pg_url SOCKDIR DBNAME prints a lib/pq URL for a database on the socket.
pg_url() {
	printf 'postgres://postgres@/%s?host=%s&port=5432&sslmode=disable' "$2" "$1"
}

# redis_start DIR: starts a private Redis with no persistence on a unix socket
# in DIR and on a free loopback port; sets REDIS_PID and REDIS_PORT.
redis_start() {
	local dir=$1
	REDIS_PORT=$(free_port)
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
		--save '' --appendonly no --daemonize no --logfile "$dir/redis.log" &
	REDIS_PID=$!
	local i
	for i in $(seq 100); do
		redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1 && return
		sleep 0.05
	done
	die "Redis did not start: $(tail -5 "$dir/redis.log")"
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# serve_start BINARY LOG [VAR=VALUE…] starts "BINARY serve" in the
# background on a free loopback port, with the given environment, a 5s
# shutdown and the rate limits raised out of the way (a bench posts far more
# than a person, and registers its users from one IP). They are flags rather
# than PARLEY_RATE_* variables because serve rejects an unknown flag but
# would ignore a misnamed variable. Output goes to LOG; sets SERVE_PID and
# SERVE_URL. Pass secrets in the environment, never as flags.
serve_start() {
	local bin=$1 log=$2 port
	shift 2
	port=$(free_port)
	env PARLEY_ADDR="127.0.0.1:$port" PARLEY_SHUTDOWN_TIMEOUT=5s "$@" \
		"$bin" serve --rate-auth-ip=1000000/1s --rate-auth-username=1000000/1s --rate-post=1000000/1s \
		>"$log" 2>&1 &
	SERVE_PID=$!
	SERVE_URL="http://127.0.0.1:$port"
}

# wait_ready URL PID waits until URL/readyz answers 200; it fails if PID
# exits first or 30s pass.
wait_ready() {
	command -v curl >/dev/null || apt_install curl
	local deadline=$((SECONDS + 30))
	until curl -fsS -o /dev/null "$1/readyz" 2>/dev/null; do
		kill -0 "$2" 2>/dev/null || die "the server at $1 exited before it was ready"
		[ "$SECONDS" -lt "$deadline" ] || die "the server at $1 was not ready within 30s"
		sleep 0.1
	done
}

# ensure_chromium sets CHROMIUM to Debian's Chromium, which the browser tests
# drive (playwright-core never downloads a browser of its own).
ensure_chromium() {
	CHROMIUM=$(command -v chromium || true)
	if [ -z "$CHROMIUM" ]; then
		apt_install chromium
		CHROMIUM=$(command -v chromium || echo /usr/bin/chromium)
	fi
	[ -x "$CHROMIUM" ] || die "chromium not found after installing it"
}

# ensure_node makes node and npm available: they build the web app.
ensure_node() {
	command -v node >/dev/null && command -v npm >/dev/null && return
	apt_install nodejs npm
}
