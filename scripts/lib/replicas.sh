# shellcheck shell=bash
# Boxoffice replicas on loopback with nginx in front, running deploy/nginx.conf.
# Source this file from a bash script that runs with set -euo pipefail; it
# installs an EXIT trap that stops everything it started, drops its database
# and deletes its events' Redis keys. scripts/nginx-check.sh uses it.
#
#   source "$ROOT/scripts/lib/replicas.sh"
#   rep_setup                    # work dir, binary, database, organizer
#   rep_redis_proxy_start 1      # optional: replica 1 reaches Redis through a
#                                # proxy, which rep_redis_proxy_stop 1 cuts off
#   rep_start_all                # replicas 1..REPLICAS, each waited for
#   rep_nginx_start              # nginx on $NGINX_URL
#   token=$(rep_login "$REP_ORGANIZER_EMAIL" "$REP_ORGANIZER_PASSWORD")
#   rep_create_event "$token" my-event   # a small event on sale, keys deleted at exit
#   rep_stop 2 KILL; rep_start 2 # a replica killed and started again, same address
#
# Settings from the environment:
#   REPLICAS          how many replicas (default 2)
#   NGINX_BIN         the nginx binary (default: nginx in PATH, else /usr/sbin/nginx)
#   TEST_DATABASE_URL a PostgreSQL URL whose user may create databases; the
#                     replicas use a new database beside it, dropped at exit
#   TEST_REDIS_URL    the Redis the replicas share
#   REP_KEEP=1        keep the work dir (logs, the rewritten nginx.conf) at exit
# and from the sourcing script, after sourcing:
#   REP_ENV           an array of NAME=VALUE settings given to every replica
#                     (scripts/rehearse-day.sh raises the per-address limits)
#   REP_NGINX_WORKERS nginx's worker_processes instead of the shipped `auto`
#                     (scripts/rehearse-day.sh, for a crowd two workers cannot hold)
#
# What it sets: ROOT, REP_WORK, REP_BIN, REP_DB_URL, REP_ADDR[i], REP_PID[i],
# REP_LOG[i], NGINX_URL, NGINX_CONF, NGINX_ACCESS_LOG, NGINX_ERROR_LOG,
# REP_ORGANIZER_EMAIL, REP_ORGANIZER_PASSWORD.
#
# The nginx.conf that runs is deploy/nginx.conf with only these changes: the
# upstream servers point at the replicas (one line per replica for each line
# shipped for boxoffice1..3), `listen` is a loopback port, and the pid file,
# the cache and the temporary directories are under the work dir; with
# REP_NGINX_WORKERS, the number of workers. On nginx older than 1.27.3,
# `resolve` is dropped from the server lines (those nginx versions refuse it).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
REPLICAS="${REPLICAS:-2}"
REP_HOST=127.0.0.1
REP_WAIT_SECONDS=30

declare -a REP_ADDR=() REP_PID=() REP_LOG=() REP_REDIS_URL=()
declare -a REP_PROXY_PORT=() REP_PROXY_PID=()
declare -a REP_ENV=()
REP_WORK=""
REP_DB=""
REP_NGINX_PID=""
REP_EVENTS=()
REP_USED_PORTS=" "

rep_say() { printf '%s\n' "$*"; }
rep_die() {
	printf '%s: FAIL: %s\n' "${REP_NAME:-replicas}" "$*" >&2
	exit 1
}

# rep_have CMD: CMD is an executable in PATH.
rep_have() { local p; p="$(command -v "$1" 2>/dev/null)" && [[ -x "$p" && ! -d "$p" ]]; }

# rep_find_nginx: set NGINX_BIN, or return 1 (Debian puts nginx in /usr/sbin, which
# is not in a normal user's PATH).
rep_find_nginx() {
	if [[ -n "${NGINX_BIN:-}" ]]; then
		[[ -x "$NGINX_BIN" ]] || rep_have "$NGINX_BIN"
		return
	fi
	if rep_have nginx; then
		NGINX_BIN="$(command -v nginx)"
	elif [[ -x /usr/sbin/nginx ]]; then
		NGINX_BIN=/usr/sbin/nginx
	else
		return 1
	fi
}

# rep_nginx_version: the version nginx reports, such as 1.22.1.
rep_nginx_version() {
	"$NGINX_BIN" -v 2>&1 | sed -n 's|^nginx version: [^/]*/\([0-9.]*\).*|\1|p'
}

# rep_version_ge A B: version A >= version B.
rep_version_ge() {
	[[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" == "$2" ]]
}

# rep_free_port: set REP_PORT to a loopback port that nothing listens on, not
# given out before, below the ephemeral range so that no outgoing connection
# holds it.
rep_free_port() {
	local port i
	for ((i = 0; i < 200; i++)); do
		port=$((20000 + RANDOM % 12000))
		[[ "$REP_USED_PORTS" == *" $port "* ]] && continue
		if ! rep_tcp_open "$REP_HOST" "$port"; then
			REP_USED_PORTS+="$port "
			REP_PORT="$port"
			return 0
		fi
	done
	rep_die "no free loopback port found"
}

# rep_url_with_path URL PATH: URL with its path (a database name) replaced.
rep_url_with_path() {
	local url="$1" path="$2" base query=""
	base="${url%%\?*}"
	[[ "$url" == *\?* ]] && query="?${url#*\?}"
	local scheme="${base%%://*}" rest="${base#*://}"
	printf '%s://%s/%s%s\n' "$scheme" "${rest%%/*}" "$path" "$query"
}

rep_setup() {
	local need
	for need in go curl psql socat setsid; do
		rep_have "$need" || rep_die "$need is not installed"
	done
	rep_find_nginx || rep_die "nginx is not installed"

	REP_WORK="$(mktemp -d "${TMPDIR:-/tmp}/boxoffice-replicas.XXXXXX")"
	# nginx's workers run as nobody when nginx starts as root: they must reach
	# their temporary directories.
	chmod 711 "$REP_WORK"
	trap rep_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	REP_BIN="$REP_WORK/boxoffice"
	(cd "$ROOT" && go build -o "$REP_BIN" .) || rep_die "go build failed"

	REP_ADMIN_DB_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:${BOXOFFICE_PG_PORT:-5432}/postgres?sslmode=disable}"
	REP_BASE_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:${BOXOFFICE_REDIS_PORT:-6379}/0}"
	REP_DB="boxoffice_replicas_$(date +%s)_$$_$RANDOM"
	REP_DB_URL="$(rep_url_with_path "$REP_ADMIN_DB_URL" "$REP_DB")"
	psql "$REP_ADMIN_DB_URL" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $REP_DB" >/dev/null ||
		rep_die "cannot create database $REP_DB"

	REP_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	REP_ORGANIZER_EMAIL="organizer-$RANDOM@replicas.example"
	REP_ORGANIZER_PASSWORD="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	local i
	for ((i = 1; i <= REPLICAS; i++)); do
		rep_free_port
		REP_ADDR[i]="$REP_HOST:$REP_PORT"
		REP_LOG[i]="$REP_WORK/replica$i.log"
		REP_REDIS_URL[i]="${REP_REDIS_URL[i]:-$REP_BASE_REDIS_URL}"
	done
}

# rep_redis_proxy_start I: replica I reaches Redis through a TCP proxy (socat),
# so that rep_redis_proxy_stop I can cut it off alone. Call it before rep_start
# I the first time; calling it again restarts the proxy on the same port.
rep_redis_proxy_start() {
	local i="$1" hostport auth db url="$REP_BASE_REDIS_URL"
	[[ "$url" =~ ^redis://(([^@/]*)@)?([^/?]+)(/[0-9]+)?$ ]] ||
		rep_die "cannot proxy TEST_REDIS_URL $url (want redis://[auth@]host:port[/db])"
	auth="${BASH_REMATCH[1]}" hostport="${BASH_REMATCH[3]}" db="${BASH_REMATCH[4]}"
	if [[ -z "${REP_PROXY_PORT[i]:-}" ]]; then
		rep_free_port
		REP_PROXY_PORT[i]="$REP_PORT"
	fi
	# setsid: socat forks a child per connection; killing the group ends them all.
	setsid socat "TCP-LISTEN:${REP_PROXY_PORT[i]},bind=$REP_HOST,reuseaddr,fork" "TCP:$hostport" \
		>>"$REP_WORK/redis-proxy$i.log" 2>&1 &
	REP_PROXY_PID[i]=$!
	REP_REDIS_URL[i]="redis://$auth$REP_HOST:${REP_PROXY_PORT[i]}$db"
	rep_wait_for "the Redis proxy of replica $i" rep_tcp_open "$REP_HOST" "${REP_PROXY_PORT[i]}"
}

# rep_redis_proxy_stop I: kill replica I's Redis proxy and every connection
# through it: that replica's Redis is now unreachable.
rep_redis_proxy_stop() {
	local i="$1" pid="${REP_PROXY_PID[$1]:-}"
	[[ -n "$pid" ]] || return 0
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	REP_PROXY_PID[i]=""
}

rep_tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# rep_wait_for WHAT CMD...: run CMD until it succeeds, for up to REP_WAIT_SECONDS.
rep_wait_for() {
	local what="$1" i
	shift
	for ((i = 0; i < REP_WAIT_SECONDS * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	rep_die "$what: not ready after ${REP_WAIT_SECONDS}s"
}

# rep_status URL [curl args...]: print the HTTP status of a GET.
rep_status() {
	local url="$1"
	shift
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url" || true
}

rep_healthy() {
	local i="$1"
	kill -0 "${REP_PID[i]}" 2>/dev/null || {
		tail -n 20 "${REP_LOG[i]}" >&2
		rep_die "replica $i exited (log: ${REP_LOG[i]})"
	}
	[[ "$(rep_status "http://${REP_ADDR[i]}/healthz")" == 200 ]]
}

# rep_start I: start replica I (again) on its address and wait for /healthz.
rep_start() {
	local i="$1"
	env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
		DATABASE_URL="$REP_DB_URL" REDIS_URL="${REP_REDIS_URL[i]}" \
		BOXOFFICE_ADDR="${REP_ADDR[i]}" BOXOFFICE_SECRET="$REP_SECRET" \
		BOXOFFICE_ORGANIZER_EMAIL="$REP_ORGANIZER_EMAIL" BOXOFFICE_ORGANIZER_PASSWORD="$REP_ORGANIZER_PASSWORD" \
		BOXOFFICE_SHUTDOWN_GRACE=2s "${REP_ENV[@]}" \
		"$REP_BIN" serve >>"${REP_LOG[i]}" 2>&1 &
	REP_PID[i]=$!
	rep_wait_for "replica $i on ${REP_ADDR[i]}" rep_healthy "$i"
}

# One at a time: each migrates the database and ensures the organizer at start.
rep_start_all() {
	local i
	for ((i = 1; i <= REPLICAS; i++)); do
		rep_start "$i"
	done
}

# rep_stop I [SIGNAL]: stop replica I (TERM by default) and wait for it.
rep_stop() {
	local i="$1" sig="${2:-TERM}" pid="${REP_PID[$1]:-}"
	[[ -n "$pid" ]] || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	REP_PID[i]=""
}

# rep_nginx_conf OUT: write deploy/nginx.conf, rewritten for this run, to OUT.
rep_nginx_conf() {
	local out="$1" version drop_resolve=0 addrs
	version="$(rep_nginx_version)"
	if ! rep_version_ge "$version" 1.27.3; then
		drop_resolve=1
	fi
	addrs="${REP_ADDR[*]}"
	awk -v addrs="$addrs" -v port="$NGINX_PORT" -v dir="$REP_WORK/nginx" -v drop="$drop_resolve" \
		-v workers="${REP_NGINX_WORKERS:-}" '
		function servers(params,   n, a, k) {
			if (drop) gsub(/ resolve/, "", params)
			n = split(addrs, a, " ")
			for (k = 1; k <= n; k++) printf "        server %s%s\n", a[k], params
		}
		/^[ \t]*server[ \t]+boxoffice[0-9]+:8080[ \t;]/ {
			params = $0
			sub(/^[ \t]*server[ \t]+boxoffice[0-9]+:8080/, "", params)
			kind = (params ~ /[ \t]backup[ \t;]/) ? "backup" : "primary"
			if (!(kind in done)) { servers(params); done[kind] = 1; rewrote++ }
			next
		}
		/^[ \t]*listen[ \t]+8080;/ { print "        listen " "127.0.0.1:" port ";"; listened++; next }
		/^pid[ \t]/ { print "pid " dir "/nginx.pid;"; pidded++; next }
		/^[ \t]*proxy_cache_path[ \t]/ { sub(/proxy_cache_path[ \t]+[^ \t]+/, "proxy_cache_path " dir "/cache"); print; cached++; next }
		/^worker_processes[ \t]/ && workers != "" { print "worker_processes " workers ";"; worked++; next }
		/^http[ \t]*\{/ {
			print
			split("client_body proxy fastcgi uwsgi scgi", t, " ")
			for (k = 1; k <= 5; k++) printf "    %s_temp_path %s/%s;\n", t[k], dir, t[k]
			next
		}
		{ print }
		END { if (rewrote < 1 || listened != 1 || pidded != 1 || cached != 1 || (workers != "" && worked != 1)) exit 3 }
	' "$ROOT/deploy/nginx.conf" >"$out" ||
		rep_die "deploy/nginx.conf no longer has the shape this script rewrites (server boxofficeN:8080 lines, listen 8080;, pid, proxy_cache_path, worker_processes)"
	if ((drop_resolve)); then
		rep_say "nginx $version: no 'resolve' on upstream servers before 1.27.3, so it is dropped for this run"
	fi
}

rep_nginx_start() {
	rep_free_port
	NGINX_PORT="$REP_PORT"
	NGINX_URL="http://$REP_HOST:$NGINX_PORT"
	mkdir -p "$REP_WORK/nginx"
	chmod 755 "$REP_WORK/nginx"
	NGINX_CONF="$REP_WORK/nginx/nginx.conf"
	NGINX_ACCESS_LOG="$REP_WORK/nginx/access.log"
	NGINX_ERROR_LOG="$REP_WORK/nginx/error.log"
	rep_nginx_conf "$NGINX_CONF"
	"$NGINX_BIN" -t -q -p "$REP_WORK/nginx" -c "$NGINX_CONF" 2>"$NGINX_ERROR_LOG" || {
		cat "$NGINX_ERROR_LOG" >&2
		rep_die "nginx -t refused the configuration ($NGINX_CONF)"
	}
	# In the foreground of its own background job: the shipped error_log and
	# access_log are /dev/stderr and /dev/stdout, which land in these files.
	"$NGINX_BIN" -p "$REP_WORK/nginx" -c "$NGINX_CONF" -g 'daemon off;' \
		>"$NGINX_ACCESS_LOG" 2>>"$NGINX_ERROR_LOG" &
	REP_NGINX_PID=$!
	rep_wait_for "nginx on $NGINX_URL" rep_nginx_up
}

rep_nginx_up() {
	kill -0 "$REP_NGINX_PID" 2>/dev/null || {
		cat "$NGINX_ERROR_LOG" >&2
		rep_die "nginx exited"
	}
	[[ "$(rep_status "$NGINX_URL/healthz")" == 200 ]]
}

# rep_login EMAIL PASSWORD: print a sign-in token, through nginx.
rep_login() {
	local body token
	body="$(curl -sS --max-time 10 "$NGINX_URL/api/v1/auth/login" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$1\",\"password\":\"$2\"}")" || rep_die "sign-in failed"
	token="$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$body")"
	[[ -n "$token" ]] || rep_die "sign-in answered: $body"
	printf '%s\n' "$token"
}

# rep_create_event TOKEN ID: create a small event that is on sale, through nginx.
rep_create_event() {
	local token="$1" id="$2" body status starts opens
	starts="$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)"
	opens="$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)"
	body="{\"id\":\"$id\",\"name\":\"Replicas check\",\"venue\":\"Loopback\",\"starts_at\":\"$starts\",\"sale_opens_at\":\"$opens\",\"zones\":[{\"id\":\"GA\",\"kind\":\"pool\",\"capacity\":50,\"price_cents\":1000}]}"
	REP_EVENTS+=("$id")
	status="$(curl -s -o "$REP_WORK/event.json" -w '%{http_code}' --max-time 10 "$NGINX_URL/api/v1/events" \
		-H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body")"
	[[ "$status" == 201 ]] || rep_die "creating event $id answered $status: $(cat "$REP_WORK/event.json")"
}

rep_cleanup() {
	local rc=$? i id
	set +e
	if [[ -n "$REP_NGINX_PID" ]]; then
		kill -QUIT "$REP_NGINX_PID" 2>/dev/null
		wait "$REP_NGINX_PID" 2>/dev/null
	fi
	for i in "${!REP_PID[@]}"; do rep_stop "$i" TERM; done
	for i in "${!REP_PROXY_PID[@]}"; do rep_redis_proxy_stop "$i"; done
	if [[ -n "$REP_DB" ]]; then
		psql "$REP_ADMIN_DB_URL" -qAtc "DROP DATABASE IF EXISTS $REP_DB WITH (FORCE)" >/dev/null 2>&1 ||
			printf 'warning: could not drop database %s\n' "$REP_DB" >&2
	fi
	# Every key of an event shares its hash tag: delete only this run's events' keys.
	if ((${#REP_EVENTS[@]})) && rep_have redis-cli; then
		for id in "${REP_EVENTS[@]}"; do
			redis-cli -u "$REP_BASE_REDIS_URL" --scan --pattern "ev:{$id}:*" 2>/dev/null |
				xargs -r redis-cli -u "$REP_BASE_REDIS_URL" del >/dev/null 2>&1
		done
	fi
	if [[ -n "$REP_WORK" ]]; then
		if ((rc != 0)); then
			for i in "${!REP_LOG[@]}"; do
				[[ -s "${REP_LOG[i]}" ]] && { printf -- '--- replica %s log (last lines)\n' "$i" >&2; tail -n 15 "${REP_LOG[i]}" >&2; }
			done
			[[ -s "${NGINX_ERROR_LOG:-}" ]] && { printf -- '--- nginx error log (last lines)\n' >&2; tail -n 15 "$NGINX_ERROR_LOG" >&2; }
		fi
		if [[ "${REP_KEEP:-0}" == 1 ]]; then
			printf 'kept %s\n' "$REP_WORK" >&2
		else
			rm -rf "$REP_WORK"
		fi
	fi
	exit "$rc"
}
