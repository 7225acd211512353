#!/usr/bin/env bash
# Tests deploy/nginx.conf in front of real replicas: builds boxoffice, starts
# REPLICAS (default 2) `boxoffice serve` replicas on loopback against the local
# PostgreSQL (a database of its own, dropped at exit) and Redis, starts nginx
# with deploy/nginx.conf (only addresses, port and paths rewritten: see
# scripts/lib/replicas.sh), and shows, failing otherwise:
#   1. /metrics and /readyz are refused through nginx (in many spellings),
#      while each replica serves them on its own address;
#   2. X-Request-Id passes through both ways;
#   3. a WebSocket upgrade to /api/v1/events/{id}/live passes (101 and the
#      first live message); GET …/queue/now is answered from nginx's cache
#      within its max-age (whatever the query, each answer with the client's
#      own X-Request-Id), and asked again of a replica after;
#   4. a replica whose Redis becomes unreachable (its /readyz answers 503) is
#      taken out of rotation: every request through nginx still succeeds, a
#      POST that reached it is answered by it and never replayed elsewhere,
#      and after max_fails it gets no requests but one probe per fail_timeout;
#      once Redis is back it is in rotation again; when Redis goes away for
#      every replica, requests still reach them (the backup entries) and nginx
#      never answers for them;
#   5. a flood of sign-ups from one address is cut by nginx with 429, the
#      error envelope and Retry-After; a body over 1 MB gets 413;
#   6. with every replica down, nginx answers 503 with the envelope.
#
# Usage: scripts/nginx-check.sh [--skip-if-missing]
#   --skip-if-missing  print one line and exit 0 when nginx or socat is not
#                      installed (make test uses it)
# Environment: REPLICAS, NGINX_BIN, TEST_DATABASE_URL, TEST_REDIS_URL, REP_KEEP
# (see scripts/lib/replicas.sh).
set -Eeuo pipefail

REP_NAME=nginx-check
# A command that fails outside a check still says where.
trap 'printf "nginx-check: FAIL: line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR
# shellcheck source-path=SCRIPTDIR source=lib/replicas.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/replicas.sh"

if [[ "${1:-}" == --skip-if-missing ]]; then
	if ! rep_find_nginx; then
		echo "nginx-check: skipped: nginx is not installed (sudo apt-get install -y nginx socat)"
		exit 0
	fi
	if ! rep_have socat; then
		echo "nginx-check: skipped: socat is not installed (sudo apt-get install -y socat)"
		exit 0
	fi
elif [[ $# -gt 0 ]]; then
	sed -n '2,/^set -/{/^set -/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
	exit 2
fi

((REPLICAS >= 2)) || rep_die "REPLICAS must be at least 2 (one is made sick)"

now_ms() { local t="${EPOCHREALTIME/./}"; printf '%s\n' "$((t / 1000))"; }
started_ms="$(now_ms)"
# Each line with the seconds since the start.
say() {
	local ms=$(($(now_ms) - started_ms))
	printf 'nginx-check: [%2d.%ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}
fail() { rep_die "$*"; }

# The passive check's numbers, read from the shipped file so that the test
# follows it: the first (non-backup) upstream server line.
server_line="$(grep -m 1 -E '^[[:space:]]*server[[:space:]]+boxoffice[0-9]+:8080[[:space:]].*max_fails=' "$ROOT/deploy/nginx.conf")" ||
	fail "deploy/nginx.conf: no upstream server line with max_fails"
MAX_FAILS="$(sed -n 's/.*max_fails=\([0-9]*\).*/\1/p' <<<"$server_line")"
FAIL_TIMEOUT="$(sed -n 's/.*fail_timeout=\([0-9]*\)s\{0,1\}[ ;].*/\1/p' <<<"$server_line")"
[[ -n "$MAX_FAILS" && -n "$FAIL_TIMEOUT" ]] || fail "deploy/nginx.conf: cannot read max_fails and fail_timeout (in seconds) from: $server_line"

rep_setup
say "built $REP_BIN"
SICK=1
# Each replica reaches Redis through a proxy of its own, to be cut off alone.
for ((i = 1; i <= REPLICAS; i++)); do rep_redis_proxy_start "$i"; done
rep_start_all
rep_nginx_start
say "nginx $(rep_nginx_version) ($NGINX_BIN) in front of $REPLICAS replicas: ${REP_ADDR[*]}"

TOKEN="$(rep_login "$REP_ORGANIZER_EMAIL" "$REP_ORGANIZER_PASSWORD")"
EV="nginx-check-$RANDOM$RANDOM"
rep_create_event "$TOKEN" "$EV"
AUTH=(-H "Authorization: Bearer $TOKEN")

# get URL RID [curl args...]: GET with an X-Request-Id; prints the status, body in $REP_WORK/body.
get() {
	local url="$1" rid="$2"
	shift 2
	curl -s -o "$REP_WORK/body" -w '%{http_code}' --max-time 15 -H "X-Request-Id: $rid" "$@" "$url" || true
}

# log_lines RID_PREFIX: the access-log lines of requests whose id starts so.
log_lines() { grep -F " rid=$1" "$NGINX_ACCESS_LOG" || true; }

# await_log RID_PREFIX N: wait until N requests with that id prefix are logged
# (nginx logs a request just after its answer is sent).
await_log() {
	local i
	for ((i = 0; i < 50; i++)); do
		(($(log_lines "$1" | wc -l) >= $2)) && return 0
		sleep 0.1
	done
	fail "expected $2 access-log lines for request ids $1*, found $(log_lines "$1" | wc -l)"
}

# reached ADDR: filter for log lines whose upstream list contains ADDR.
reached() { grep -E " $1(,| )" || true; }

# first_upstream_failed ADDR: filter for log lines of requests that ADDR got
# first and that nginx then passed on ($upstream_addr is "ADDR, OTHER").
first_upstream_failed() { grep -E "[0-9.]+ $1, " || true; }

# --------------------------------------------------- 1. internal endpoints
for path in /metrics /readyz; do
	status="$(rep_status "http://${REP_ADDR[1]}$path")"
	[[ "$status" == 200 ]] || fail "replica 1 answers $path with $status, want 200 (the route must exist for this check to mean anything)"
done
grep -q '^go_goroutines' <(curl -s --max-time 10 "http://${REP_ADDR[1]}/metrics") ||
	fail "replica 1's /metrics has no go_goroutines"
for path in /metrics /readyz; do
	status="$(curl -s -I -o /dev/null -w '%{http_code}' --max-time 10 "$NGINX_URL$path" || true)"
	[[ "$status" == 404 ]] || fail "HEAD $path through nginx answered $status, want 404"
	status="$(get "$NGINX_URL$path" internal)"
	[[ "$status" == 404 ]] || fail "GET $path through nginx answered $status, want 404"
	grep -q '"code":"not_found"' "$REP_WORK/body" || fail "GET $path through nginx: body is not the error envelope: $(cat "$REP_WORK/body")"
done
variants=(/metrics/ '/metrics?format=text' //metrics /./metrics /api/v1/../metrics /%6detrics /%2fmetrics
	/metrics%2f /METRICS /readyz/ '/readyz?verbose=1' //readyz /./readyz /%72eadyz /api/../readyz)
for path in "${variants[@]}"; do
	status="$(curl -s --path-as-is -o "$REP_WORK/body" -w '%{http_code}' --max-time 10 "$NGINX_URL$path" || true)"
	if [[ "$status" == 2* ]] || grep -qE 'go_goroutines|# HELP|"(postgres|redis)"' "$REP_WORK/body"; then
		fail "GET $path through nginx answered $status with: $(head -c 200 "$REP_WORK/body")"
	fi
done
say "ok: /metrics and /readyz refused through nginx (404 envelope; GET, HEAD and ${#variants[@]} other spellings), served by the replicas directly"

# ------------------------------------------------------- 2. X-Request-Id
rid="nginx-check.rid:$RANDOM"
got="$(curl -s -D - -o /dev/null --max-time 10 -H "X-Request-Id: $rid" "$NGINX_URL/api/v1/events/$EV" |
	tr -d '\r' | sed -n 's/^[Xx]-[Rr]equest-[Ii]d: //p')"
[[ "$got" == "$rid" ]] || fail "X-Request-Id $rid came back as '$got'"
await_log "$rid" 1
say "ok: X-Request-Id kept from the client to the replica and back, and in the access log"

# --------------------------------------------------------- 3. WebSocket
# ws_upgrade RID: open /live through nginx for 1 s; the answer in $REP_WORK/ws.
ws_upgrade() {
	local key
	key="$(head -c 16 /dev/urandom | base64)"
	curl -s -i -N --http1.1 --max-time 1 -H "X-Request-Id: $1" \
		-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
		-H "Sec-WebSocket-Key: $key" "$NGINX_URL/api/v1/events/$EV/live" >"$REP_WORK/ws" 2>&1 || true
	head -n 1 "$REP_WORK/ws" | grep -q '^HTTP/1.1 101' ||
		fail "WebSocket upgrade through nginx answered: $(head -n 1 "$REP_WORK/ws")"
	# The first frames are the snapshot: raw WebSocket text frames carrying JSON.
	grep -aq '"type":"sale.update"' "$REP_WORK/ws" ||
		fail "no live message came through the upgraded connection: $(head -c 300 "$REP_WORK/ws")"
}
ws_upgrade ws-1
say "ok: WebSocket upgrade to /api/v1/events/$EV/live passes nginx (101, then the live snapshot)"

# ------------------------------------- 3b. the line's public reading, cached
# now_cache QUERY RID: GET …/queue/now through nginx; prints its X-Cache-Status.
now_cache() {
	curl -s -D "$REP_WORK/now.h" -o "$REP_WORK/body" --max-time 10 -H "X-Request-Id: $2" \
		"$NGINX_URL/api/v1/events/$EV/queue/now$1" >/dev/null || true
	tr -d '\r' <"$REP_WORK/now.h" | sed -n 's/^[Xx]-[Cc]ache-[Ss]tatus: //p'
}
# nginx keeps max-age=1 in whole seconds: until the end of the next second.
sleep 2.1 # past anything cached by an earlier request
first="$(now_cache "" now-first)"
grep -q '"admitted":' "$REP_WORK/body" || fail "GET /api/v1/events/$EV/queue/now through nginx: $(head -c 200 "$REP_WORK/body")"
grep -qi '^cache-control: public, max-age=1' "$REP_WORK/now.h" || fail "GET …/queue/now: no Cache-Control: public, max-age=1"
[[ "$first" != HIT ]] || fail "the first GET …/queue/now was a cache HIT"
hits=0 seen=()
for i in $(seq 10); do
	st="$(now_cache "?bypass=$i" "now-$i")"
	seen+=("$st")
	if [[ "$st" == HIT ]]; then
		hits=$((hits + 1))
		ids="$(tr -d '\r' <"$REP_WORK/now.h" | sed -n 's/^[Xx]-[Rr]equest-[Ii]d: //p' | tr '\n' ' ')"
		[[ "$ids" == "now-$i " ]] ||
			fail "a cached GET …/queue/now (request now-$i) came back with X-Request-Id: $ids"
	fi
done
((hits >= 8)) || fail "GET …/queue/now within a second of the first: $hits of 10 answered from nginx's cache (${seen[*]}), want all but a slow one"
sleep 2.1
after="$(now_cache "" now-after)"
[[ "$after" == EXPIRED ]] || fail "GET …/queue/now 2.1 s later was $after, want EXPIRED: asked again of a replica (max-age=1)"
say "ok: GET …/queue/now through nginx: $first, then $hits of 10 from the cache (queries ignored, each with its own X-Request-Id), then $after 2 s later"

# ------------------------------------------------ 4. readiness routing
STATS="$NGINX_URL/api/v1/events/$EV/stats"
n=$((REPLICAS * 4))
for ((k = 1; k <= n; k++)); do
	status="$(get "$STATS" "before-$k" "${AUTH[@]}")"
	[[ "$status" == 200 ]] || fail "stats through nginx answered $status before the fault: $(cat "$REP_WORK/body")"
done
await_log before- "$n"
for ((i = 1; i <= REPLICAS; i++)); do
	[[ -n "$(log_lines before- | reached "${REP_ADDR[i]}")" ]] || fail "replica $i got none of $n requests while all were healthy"
done

say "ok: every replica served some of $n requests while all were ready"
rep_redis_proxy_stop "$SICK"
sick_addr="${REP_ADDR[SICK]}"
sick_ready() { [[ "$(rep_status "http://$sick_addr/readyz")" == "$1" ]]; }
rep_wait_for "replica $SICK's /readyz to answer 503 without Redis" sick_ready 503
for ((i = 1; i <= REPLICAS; i++)); do
	((i == SICK)) && continue
	[[ "$(rep_status "http://${REP_ADDR[i]}/readyz")" == 200 ]] || fail "replica $i is not ready"
done
status="$(get "http://$sick_addr/api/v1/events/$EV/stats" direct "${AUTH[@]}")"
[[ "$status" == 503 ]] || fail "the sick replica answers stats itself with $status, want 503"
say "replica $SICK ($sick_addr) lost its Redis: its /readyz answers 503"

# A POST that reaches the sick replica gets its 503 and is not replayed to
# another replica. Joining the line is not idempotent for nginx (POST).
post_reached=0
for ((k = 1; k <= REPLICAS * 2 && post_reached == 0; k++)); do
	status="$(curl -s -o "$REP_WORK/body" -w '%{http_code}' --max-time 15 -X POST -H "X-Request-Id: post-$k" \
		"${AUTH[@]}" "$NGINX_URL/api/v1/events/$EV/queue" || true)"
	await_log "post-$k " 1
	line="$(log_lines "post-$k ")"
	if [[ -n "$(reached "$sick_addr" <<<"$line")" ]]; then
		post_reached=1
		[[ "$status" == 503 ]] || fail "a POST that reached the sick replica was answered $status, want its own 503: $line"
		[[ "$line" != *", "* ]] || fail "a POST that reached the sick replica was passed on to another one: $line"
	elif [[ "$status" == 5* ]]; then
		fail "POST join on a ready replica answered $status: $(cat "$REP_WORK/body")"
	fi
done
((post_reached)) || fail "no POST reached the sick replica in $((k - 1)) tries (least_conn should take turns)"
say "ok: a POST that reached the sick replica got its 503 and was not replayed to another replica"

# Requests that need Redis fail on the sick replica with 503: GETs are passed
# to another replica, and after max_fails of them nginx stops sending it
# anything. Requests that do not need Redis (reading an event from
# PostgreSQL) would still succeed there and count as successes, so the
# mixed traffic comes second.
marking_started_ms="$(now_ms)"
n_mark=$((MAX_FAILS * REPLICAS * 2))
for ((k = 1; k <= n_mark; k++)); do
	status="$(get "$STATS" "sick-m$k" "${AUTH[@]}")"
	[[ "$status" == 200 ]] || fail "stats through nginx answered $status with replica $SICK sick: $(cat "$REP_WORK/body")"
done
n_mixed=5
for ((k = 1; k <= n_mixed; k++)); do
	status="$(get "$STATS" "sick-s$k" "${AUTH[@]}")"
	[[ "$status" == 200 ]] || fail "stats through nginx answered $status with replica $SICK sick: $(cat "$REP_WORK/body")"
	status="$(get "$NGINX_URL/api/v1/events/$EV" "sick-e$k")"
	[[ "$status" == 200 ]] || fail "event through nginx answered $status with replica $SICK sick"
done
ws_upgrade sick-ws
total=$((n_mark + 2 * n_mixed + 1))
await_log sick- "$total"
elapsed_ms=$(($(now_ms) - marking_started_ms))
reached_sick="$(log_lines sick- | reached "$sick_addr" | wc -l)"
# max_fails failures mark it down; then each fail_timeout one request probes
# it, and a probe that succeeds (one that needs no Redis) puts it back until
# max_fails more fail.
probes=$((elapsed_ms / (FAIL_TIMEOUT * 1000)))
allowed=$((MAX_FAILS + probes * (2 * MAX_FAILS + 1)))
((reached_sick <= allowed)) ||
	fail "the sick replica was reached by $reached_sick of $total requests in ${elapsed_ms} ms (want at most $allowed: max_fails=$MAX_FAILS, then a probe per ${FAIL_TIMEOUT}s)"
mixed_reached="$(log_lines sick- | tail -n $((2 * n_mixed + 1)) | reached "$sick_addr" | wc -l)"
say "ok: with replica $SICK sick, all $total requests through nginx succeeded; it was reached by $reached_sick" \
	"(allowed: max_fails=$MAX_FAILS, then a probe per ${FAIL_TIMEOUT}s; ${elapsed_ms} ms passed)," \
	"by $mixed_reached of the last $((2 * n_mixed + 1)) (stats, event reads, a WebSocket)"

rep_redis_proxy_start "$SICK"
rep_wait_for "replica $SICK's /readyz to answer 200 with Redis back" sick_ready 200
back_started_ms="$(now_ms)"
deadline_ms=$((back_started_ms + (FAIL_TIMEOUT * 3 + 10) * 1000))
back=0
for ((k = 1; back == 0; k++)); do
	(($(now_ms) < deadline_ms)) || fail "replica $SICK got no request within $((FAIL_TIMEOUT * 3 + 10)) s of being ready again"
	status="$(get "$STATS" "back-$k" "${AUTH[@]}")"
	[[ "$status" == 200 ]] || fail "stats through nginx answered $status while replica $SICK recovers"
	await_log "back-$k " 1
	line="$(log_lines "back-$k ")"
	if [[ -n "$(reached "$sick_addr" <<<"$line")" && "$line" != *", "* ]]; then
		back=1
	else
		sleep 0.2
	fi
done
say "ok: with Redis back, replica $SICK served requests through nginx again after $((($(now_ms) - back_started_ms) / 1000)) s"

# A blip of the Redis that all replicas share: every replica answers 503 and
# all get marked failed. The backup entries still pass requests to them, so
# clients get the replicas' own answers (never nginx's "no live upstreams"),
# and the first request after Redis is back succeeds.
# all_ready CODE: every replica's /readyz answers CODE (asked all at once: an
# unready one takes a while to answer).
all_ready() {
	local i pids=()
	for ((i = 1; i <= REPLICAS; i++)); do
		rep_status "http://${REP_ADDR[i]}/readyz" >"$REP_WORK/readyz$i" &
		pids+=($!)
	done
	# Only these: the replicas, proxies and nginx are background jobs too.
	wait "${pids[@]}"
	for ((i = 1; i <= REPLICAS; i++)); do
		[[ "$(cat "$REP_WORK/readyz$i")" == "$1" ]] || return 1
	done
}
for ((i = 1; i <= REPLICAS; i++)); do rep_redis_proxy_stop "$i"; done
rep_wait_for "every replica's /readyz to answer 503 without Redis" all_ready 503
# nginx counts a failure when it passes the request on to another replica:
# the first address of a request that was passed on. (The last try's answer
# goes to the client and is not counted.)
marked() {
	local i
	for ((i = 1; i <= REPLICAS; i++)); do
		(($(log_lines blip- | first_upstream_failed "${REP_ADDR[i]}" | wc -l) >= MAX_FAILS)) || return 1
	done
}
for ((k = 1; k <= MAX_FAILS * REPLICAS * 4; k++)); do
	status="$(get "$STATS" "blip-$k" "${AUTH[@]}")"
	[[ "$status" == 503 ]] || fail "stats through nginx answered $status while Redis is down for all, want the replicas' 503"
	grep -q '"code":"unavailable"' "$REP_WORK/body" || fail "503 without the error envelope: $(cat "$REP_WORK/body")"
	await_log "blip-$k " 1
	marked && break
done
marked || fail "not every replica failed $MAX_FAILS requests that nginx passed on, in $k requests"
# Now every primary entry is marked failed: these go to the backup entries.
for ((j = 1; j <= REPLICAS; j++)); do
	status="$(get "$STATS" "blip-after-$j" "${AUTH[@]}")"
	[[ "$status" == 503 ]] || fail "stats through nginx answered $status with every replica marked failed, want the replicas' 503"
done
await_log blip- $((k + REPLICAS))
# nginx logs "no live upstreams" with the upstream's name as the address.
nginx_refused="$(log_lines blip- | grep -c ' boxoffice ' || true)"
((nginx_refused == 0)) || fail "nginx answered $nginx_refused requests itself (no live upstreams) while the replicas were up"
blip_done_ms="$(now_ms)"
for ((i = 1; i <= REPLICAS; i++)); do rep_redis_proxy_start "$i"; done
rep_wait_for "every replica's /readyz to answer 200 with Redis back" all_ready 200
status="$(get "$STATS" blip-back "${AUTH[@]}")"
[[ "$status" == 200 ]] || fail "the first stats request after Redis came back answered $status"
say "ok: Redis down for every replica: all $((k + REPLICAS)) requests got the replicas' own 503, none nginx's;" \
	"the first request $((($(now_ms) - blip_done_ms) / 1000)) s after it came back succeeded (fail_timeout ${FAIL_TIMEOUT}s)"

# --------------------------------------------------------------- 5. limits
# From an address of its own (all of 127/8 is loopback), so that neither
# nginx's nor the app's per-address counts touch other tests.
src="127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))"
mkdir -p "$REP_WORK/flood"
flood=300
curl -s -i -Z --parallel-max 50 --interface "$src" --max-time 20 -w '%{http_code}\n' \
	-o "$REP_WORK/flood/#1" -H 'Content-Type: application/json' -H 'X-Request-Id: flood' \
	-d '{"name":"","email":"not-an-email","password":"x"}' \
	"$NGINX_URL/api/v1/users?n=[1-$flood]" >"$REP_WORK/flood.codes" 2>/dev/null || true
await_log flood "$flood"
# Refused by nginx itself: 429 with no upstream address in the access log.
refused="$(log_lines flood | grep -cE '" 429 [0-9]+ [0-9.]+ - ' || true)"
passed=$((flood - refused))
((refused > 0)) || fail "nginx refused none of $flood sign-ups from one address at once (status counts: $(sort "$REP_WORK/flood.codes" | uniq -c | tr -s ' \n' ' '))"
# The first answer that is a 429 (a loop, not grep | head: head leaving early
# would kill grep with SIGPIPE, and pipefail would end the check with it).
answer=
for f in "$REP_WORK"/flood/*; do
	if grep -q '^HTTP/1.1 429' "$f"; then
		answer="$f"
		break
	fi
done
[[ -n "$answer" ]] || fail "no 429 answer among the flood's answers"
grep -qi '^retry-after: [0-9]' "$answer" || fail "nginx's 429 has no Retry-After: $(cat "$answer")"
grep -q '"code":"rate_limited"' "$answer" || fail "nginx's 429 is not the error envelope: $(cat "$answer")"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' 'a' >"$REP_WORK/big"
status="$(curl -s -o "$REP_WORK/body" -w '%{http_code}' --max-time 15 -H 'Content-Type: application/json' \
	--data-binary @"$REP_WORK/big" "$NGINX_URL/api/v1/events/$EV/queue" || true)"
[[ "$status" == 413 ]] || fail "a body over 1 MB was answered $status, want 413"
grep -q '"code":"too_large"' "$REP_WORK/body" || fail "nginx's 413 is not the error envelope: $(cat "$REP_WORK/body")"
say "ok: $flood sign-ups at once from one address: $passed passed to the app, $refused refused by nginx (429, envelope, Retry-After); a body over 1 MB refused (413, envelope)"

# ------------------------------------------------ 6. every replica down
for ((i = 1; i <= REPLICAS; i++)); do rep_stop "$i" KILL; done
status="$(curl -s -D "$REP_WORK/headers" -o "$REP_WORK/body" -w '%{http_code}' --max-time 15 "$NGINX_URL/api/v1/events/$EV" || true)"
[[ "$status" == 503 ]] || fail "with every replica down nginx answered $status, want 503"
grep -qi '^retry-after: [0-9]' "$REP_WORK/headers" || fail "nginx's 503 has no Retry-After"
grep -q '"code":"unavailable"' "$REP_WORK/body" || fail "nginx's 503 is not the error envelope: $(cat "$REP_WORK/body")"
say "ok: with every replica down, nginx answers 503 in the error envelope with Retry-After"

say "PASS: $REPLICAS replicas behind nginx $(rep_nginx_version) in $((($(now_ms) - started_ms) / 1000)) s"
