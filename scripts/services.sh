#!/usr/bin/env bash
# Makes sure the services boxoffice needs are reachable on loopback:
#   PostgreSQL on 127.0.0.1:${BOXOFFICE_PG_PORT:-5432} (user postgres, trust auth)
#   Redis      on 127.0.0.1:${BOXOFFICE_REDIS_PORT:-6379}
#
# For each service, in order:
#   a. something already answers on the port: use it;
#   b. the server binaries are installed: start a throwaway instance whose data
#      lives under .services/ in the repo root (git-ignored);
#   c. root on Debian: apt-get install the server, then start it;
#   d. otherwise print the command to run and exit 1.
#
# Options:
#   --stripe-mock  also make sure stripe-mock is installed (go install); the Go
#                  tests start it themselves, so it is not started here
#   --chromium     also make sure /usr/bin/chromium exists (Debian package)
#   --nginx        also make sure nginx, socat and jq are installed (Debian
#                  packages), for scripts/nginx-check.sh and rehearse-day.sh;
#                  installed as root on Debian, and otherwise only reported:
#                  those checks are then skipped
#   --stop         stop the throwaway instances started from .services/ and exit
#
# Safe to run any number of times; prints one line per service when all is there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES="$ROOT/.services"
HOST=127.0.0.1
PG_PORT="${BOXOFFICE_PG_PORT:-5432}"
REDIS_PORT="${BOXOFFICE_REDIS_PORT:-6379}"
STRIPE_MOCK_VERSION=v0.203.0
WAIT_SECONDS=30

say() { printf '%s\n' "$*"; }
warn() { printf 'services.sh: %s\n' "$*" >&2; }
die() { warn "$*"; exit 1; }

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

want_stripe_mock=0
want_chromium=0
want_nginx=0
stop_only=0
for arg in "$@"; do
	case "$arg" in
	--stripe-mock) want_stripe_mock=1 ;;
	--chromium) want_chromium=1 ;;
	--nginx) want_nginx=1 ;;
	--stop) stop_only=1 ;;
	-h | --help) usage; exit 0 ;;
	*) warn "unknown option: $arg"; usage >&2; exit 2 ;;
	esac
done

is_root() { [[ $EUID -eq 0 ]]; }
# have CMD: CMD is in PATH and executable (bash's command -v also reports a
# non-executable file when nothing better is found).
have() { local p; p="$(command -v "$1")" && [[ -x "$p" && ! -d "$p" ]]; }
can_apt() { is_root && [[ -f /etc/debian_version ]] && have apt-get; }

# tcp_open PORT: does anything accept a TCP connection on $HOST:PORT?
tcp_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# Debian's pg_isready is a wrapper that fails when no client package matches;
# fall back to a plain TCP check then.
pg_isready_works() { pg_isready --version >/dev/null 2>&1; }

pg_up() {
	if pg_isready_works; then
		pg_isready -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -t 2
	else
		tcp_open "$PG_PORT"
	fi
}

redis_up() {
	if have redis-cli; then
		[[ "$(timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
	else
		tcp_open "$REDIS_PORT"
	fi
}

# wait_for CHECK: poll the function CHECK for up to $WAIT_SECONDS.
wait_for() {
	local check="$1" i
	for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
		"$check" && return 0
		sleep 0.5
	done
	return 1
}

# apt_install PKG...: quiet apt-get install as root; the output goes to a log
# that is shown only when it fails. apt-get update runs at most once per call
# of this script.
apt_updated=0
apt_install() {
	local log
	mkdir -p "$SERVICES"
	log="$SERVICES/apt.log"
	say "installing $* with apt-get (log: ${log#"$ROOT"/})"
	export DEBIAN_FRONTEND=noninteractive
	if ((!apt_updated)); then
		apt-get update >"$log" 2>&1 9>&- || { tail -n 30 "$log" >&2; die "apt-get update failed"; }
		apt_updated=1
	fi
	# 9>&-: package scripts may start daemons, which must not inherit the lock.
	apt-get install -y "$@" >>"$log" 2>&1 9>&- ||
		{ tail -n 30 "$log" >&2; die "apt-get install $* failed"; }
}

# install_hint PKG...: tell the user how to install what is missing, and exit 1.
install_hint() {
	if [[ -f /etc/debian_version ]]; then
		die "install it with: sudo apt-get install -y $* (then run this script again)"
	fi
	die "install $* with your package manager and start it, then run this script again"
}

# ---------------------------------------------------------------- PostgreSQL

PG_DIR="$SERVICES/postgres"
PG_DATA="$PG_DIR/data"
PG_SOCKETS="$PG_DIR/run"
PG_LOG="$PG_DIR/postgres.log"
PG_BIN=""

# find_pg_bin: set PG_BIN to a directory holding initdb, pg_ctl and postgres,
# from PATH first, else the newest /usr/lib/postgresql/*/bin (Debian does not put
# the server binaries in PATH).
find_pg_bin() {
	local initdb dir
	if initdb="$(command -v initdb)"; then
		# Resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin)
		# so that pg_ctl and postgres come from the same installation.
		dir="$(dirname "$(readlink -f "$initdb")")"
		if [[ -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
			PG_BIN="$dir"
			return 0
		fi
	fi
	while read -r dir; do
		if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
			PG_BIN="$dir"
			return 0
		fi
	done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV)
	return 1
}

# as_pg CMD...: initdb and postgres refuse to run as root, so as root run them
# as the postgres system user (created if missing).
as_pg() {
	if is_root; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

ensure_postgres_user() {
	is_root || return 0
	id -u postgres >/dev/null 2>&1 && return 0
	useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
		--shell /usr/sbin/nologin postgres
}

start_local_postgres() {
	local version
	ensure_postgres_user
	mkdir -p "$PG_DATA" "$PG_SOCKETS"
	chmod 700 "$PG_DATA"
	if is_root; then
		chown -R postgres: "$PG_DIR"
		# The postgres user must be able to reach $PG_DIR through the repo's parent
		# directories (a repo under /root, mode 700, is not reachable).
		as_pg test -w "$PG_DATA" ||
			die "user postgres cannot write $PG_DATA (a parent directory is not accessible to it); start PostgreSQL yourself on $HOST:$PG_PORT"
	fi
	# A Unix socket path is limited to 107 bytes; without a socket, TCP is used.
	local sockets="$PG_SOCKETS"
	if ((${#PG_SOCKETS} + 20 > 107)); then
		sockets=""
	fi

	if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
		as_pg "$PG_BIN/initdb" -D "$PG_DATA" --auth=trust -U postgres -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 ||
			{ cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
		# Throwaway instance: durability is not wanted, speed is. The port is
		# given at start time so that BOXOFFICE_PG_PORT can change between runs.
		cat >>"$PG_DATA/postgresql.conf" <<-EOF

			# added by scripts/services.sh (throwaway dev/test instance)
			listen_addresses = '$HOST'
			unix_socket_directories = '$sockets'
			fsync = off
			synchronous_commit = off
			full_page_writes = off
			max_connections = 200
		EOF
	fi
	version="$("$PG_BIN/postgres" --version | sed -E 's/.* ([0-9]+)[.0-9]*.*/\1/')"
	if [[ "$(cat "$PG_DATA/PG_VERSION")" != "$version" ]]; then
		die "$PG_DATA was made by PostgreSQL $(cat "$PG_DATA/PG_VERSION"), not $version: remove ${PG_DIR#"$ROOT"/} and run this script again"
	fi

	# Our instance may be running on another port (an earlier BOXOFFICE_PG_PORT):
	# stop it so that it can come back on the port wanted now.
	if as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
		as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
	fi
	as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -o "-p $PG_PORT" -w -t "$WAIT_SECONDS" start >/dev/null 2>&1 9>&- ||
		{ tail -n 20 "$PG_LOG" >&2 || true; die "PostgreSQL did not start (log: $PG_LOG)"; }
	wait_for pg_up || die "PostgreSQL started but does not answer on $HOST:$PG_PORT (log: $PG_LOG)"
	say "postgres: started local instance in ${PG_DIR#"$ROOT"/} on $HOST:$PG_PORT (PostgreSQL $version)"
}

# start_debian_postgres: after apt-get install postgresql, Debian has a cluster
# <ver>/main that uses peer/md5 auth; switch it to trust and (re)start it.
start_debian_postgres() {
	local version conf
	version="$(compgen -G '/etc/postgresql/*/main' | sort -V | tail -n 1 | cut -d/ -f4)"
	[[ -n "$version" ]] || return 1
	conf="/etc/postgresql/$version/main"
	# Only use the Debian cluster if it is configured for the port we want
	# (pg_lsclusters also reads the conf.d/ overrides).
	local port
	port="$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" { print $3 }')"
	[[ "$port" == "$PG_PORT" ]] || return 1
	[[ -f "$conf/pg_hba.conf.orig" ]] || cp "$conf/pg_hba.conf" "$conf/pg_hba.conf.orig"
	cat >"$conf/pg_hba.conf" <<-EOF
		# written by boxoffice scripts/services.sh (original in pg_hba.conf.orig):
		# local development database, trust everything on this machine
		local all all trust
		host all all 127.0.0.1/32 trust
		host all all ::1/128 trust
	EOF
	# The package's scripts may have started the cluster already.
	if pg_ctlcluster --skip-systemctl-redirect "$version" main status >/dev/null 2>&1; then
		pg_ctlcluster --skip-systemctl-redirect "$version" main reload
	else
		pg_ctlcluster --skip-systemctl-redirect "$version" main start 9>&-
	fi
	wait_for pg_up || return 1
	say "postgres: using Debian cluster $version/main on $HOST:$PG_PORT (trust auth)"
}

ensure_postgres() {
	if pg_up; then
		say "postgres: using the server on $HOST:$PG_PORT"
		# Something answers, but the app and tests connect as postgres without a
		# password: warn (don't fail) if that is refused.
		if psql --version >/dev/null 2>&1 &&
			! PGCONNECT_TIMEOUT=5 psql -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -w -Atqc 'SELECT 1' >/dev/null 2>&1; then
			warn "warning: cannot connect as user postgres without a password on $HOST:$PG_PORT; set DATABASE_URL/TEST_DATABASE_URL accordingly"
		fi
		return 0
	fi
	if find_pg_bin; then
		start_local_postgres
		return 0
	fi
	if can_apt; then
		apt_install postgresql
		start_debian_postgres && return 0
		# The Debian cluster is not on the port we want: a throwaway one is.
		find_pg_bin || die "postgresql is installed but its binaries were not found"
		start_local_postgres
		return 0
	fi
	warn "PostgreSQL does not answer on $HOST:$PG_PORT and is not installed"
	install_hint postgresql
}

stop_postgres() {
	[[ -f "$PG_DATA/postmaster.pid" ]] || return 0
	find_pg_bin || return 0
	if as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
		as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
		say "postgres: stopped local instance in ${PG_DIR#"$ROOT"/}"
	fi
}

# --------------------------------------------------------------------- Redis

REDIS_DIR="$SERVICES/redis"

start_local_redis() {
	mkdir -p "$REDIS_DIR"
	stop_redis quiet # an earlier instance of ours on another port
	# Relative paths from inside the directory keep redis's argument parser away
	# from spaces in the repo path.
	(cd "$REDIS_DIR" && redis-server --daemonize yes --bind "$HOST" --port "$REDIS_PORT" \
		--save "" --appendonly no --dir . --logfile redis.log --pidfile redis.pid 9>&-) ||
		die "redis-server failed to start (log: $REDIS_DIR/redis.log)"
	wait_for redis_up || { tail -n 20 "$REDIS_DIR/redis.log" >&2 || true; die "Redis does not answer on $HOST:$REDIS_PORT"; }
	say "redis: started local instance in ${REDIS_DIR#"$ROOT"/} on $HOST:$REDIS_PORT"
}

ensure_redis() {
	if redis_up; then
		say "redis: using the server on $HOST:$REDIS_PORT"
		return 0
	fi
	if have redis-server; then
		start_local_redis
		return 0
	fi
	if can_apt; then
		apt_install redis-server
		# The package may have started its own server on 6379 already.
		if redis_up; then
			say "redis: using the server on $HOST:$REDIS_PORT (started by the package)"
			return 0
		fi
		start_local_redis
		return 0
	fi
	warn "Redis does not answer on $HOST:$REDIS_PORT and is not installed"
	install_hint redis-server
}

# stop_redis [quiet]: stop the instance started from .services/redis, if any.
stop_redis() {
	local pidfile="$REDIS_DIR/redis.pid" pid i
	[[ -f "$pidfile" ]] || return 0
	pid="$(cat "$pidfile")"
	# Only signal the pid if it still is a redis-server (the file may be stale).
	if [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(ps -o comm= -p "$pid" 2>/dev/null)" == redis-server* ]]; then
		kill "$pid"
		for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		[[ "${1:-}" == quiet ]] || say "redis: stopped local instance in ${REDIS_DIR#"$ROOT"/}"
	fi
	rm -f "$pidfile"
}

# --------------------------------------------------------------------- tools

ensure_stripe_mock() {
	local bin
	have go || die "go is not in PATH (needed to install stripe-mock)"
	bin="$(go env GOBIN)"
	if [[ -z "$bin" ]]; then
		bin="$(go env GOPATH)"
		bin="${bin%%:*}/bin"
	fi
	if [[ -x "$bin/stripe-mock" ]]; then
		say "stripe-mock: $bin/stripe-mock"
		return 0
	fi
	say "stripe-mock: installing $STRIPE_MOCK_VERSION into $bin"
	# Run outside the repo so that its go.mod plays no part.
	(cd / && go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION") ||
		die "go install github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION failed"
}

ensure_chromium() {
	if [[ -x /usr/bin/chromium ]]; then
		say "chromium: /usr/bin/chromium"
		return 0
	fi
	if can_apt; then
		apt_install chromium
		[[ -x /usr/bin/chromium ]] || die "chromium was installed but /usr/bin/chromium is missing"
		say "chromium: installed /usr/bin/chromium"
		return 0
	fi
	warn "/usr/bin/chromium is missing"
	install_hint chromium
}

# nginx_bin: print nginx's path (Debian puts it in /usr/sbin, which is not in a
# normal user's PATH).
nginx_bin() {
	if have nginx; then
		command -v nginx
	elif [[ -x /usr/sbin/nginx ]]; then
		echo /usr/sbin/nginx
	else
		return 1
	fi
}

ensure_nginx() {
	local missing=() bin
	nginx_bin >/dev/null || missing+=(nginx)
	have socat || missing+=(socat)
	have jq || missing+=(jq)
	if ((${#missing[@]})) && can_apt; then
		# The package does not start nginx where policy-rc.d forbids services
		# (containers); on a machine with systemd it starts the stock site on :80.
		apt_install "${missing[@]}"
		missing=()
		nginx_bin >/dev/null || die "nginx was installed but is not in PATH or /usr/sbin"
		have socat || die "socat was installed but is not in PATH"
		have jq || die "jq was installed but is not in PATH"
	fi
	if ((${#missing[@]})); then
		say "nginx: ${missing[*]} not installed, so make test skips the nginx checks (sudo apt-get install -y ${missing[*]})"
		return 0
	fi
	bin="$(nginx_bin)"
	say "nginx: $bin ($("$bin" -v 2>&1 | sed 's/^nginx version: //')), socat: $(command -v socat), jq: $(command -v jq)"
}

# ---------------------------------------------------------------------- main

mkdir -p "$SERVICES"
# Two runs at once (say make run and make test) must not both start a server.
# Every command that may leave a daemon behind runs with 9>&- so that the
# daemon does not hold the lock forever.
if have flock; then
	exec 9>"$SERVICES/.lock"
	flock -w 300 9 || die "another scripts/services.sh is still running"
fi

if ((stop_only)); then
	stop_postgres
	stop_redis
	exit 0
fi

ensure_postgres
ensure_redis
if ((want_stripe_mock)); then ensure_stripe_mock; fi
if ((want_chromium)); then ensure_chromium; fi
if ((want_nginx)); then ensure_nginx; fi
