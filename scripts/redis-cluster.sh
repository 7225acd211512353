#!/usr/bin/env bash
# A throwaway three-master Redis Cluster on loopback, for tests and rehearsals.
#
#   scripts/redis-cluster.sh test [packages…]   start one, run the packages' tests against it
#                                              (default: every package whose scripts run on
#                                              Redis), stop it
#   scripts/redis-cluster.sh start             start one and print its URL (REDIS_URL form)
#   scripts/redis-cluster.sh stop DIR          stop the one started in DIR
#
# Every event's keys share a hash tag (ev:{<event>}:…), so every script runs on
# one node. A script that touched keys of two slots fails here, and so do its
# tests: given both as KEYS, with CROSSSLOT; reaching for an undeclared key of
# another node, with "non local key"; and, because every script opens with the
# #!lua shebang (Redis 7), reaching for one of another slot on the same node,
# with "keys that do not hash to the same slot". `test` checks both that every
# script has the shebang and that this Redis refuses such a script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
	echo "redis-cluster: redis-server and redis-cli are needed (apt-get install redis-server)" >&2
	exit 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start DIR: three masters on free ports (each with its bus port, +10000), in DIR.
start() {
	local dir=$1 base ports=() p
	for base in $(seq 21000 100 29900); do
		ports=()
		for p in "$base" "$((base + 1))" "$((base + 2))"; do
			port_free "$p" && port_free "$((p + 10000))" && ports+=("$p")
		done
		[[ ${#ports[@]} -eq 3 ]] && break
	done
	[[ ${#ports[@]} -eq 3 ]] || { echo "redis-cluster: no free ports" >&2; return 1; }
	for p in "${ports[@]}"; do
		mkdir -p "$dir/$p"
		redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file nodes.conf \
			--cluster-node-timeout 2000 --save '' --appendonly no --dir "$dir/$p" --daemonize yes \
			--pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log" >/dev/null
	done
	for p in "${ports[@]}"; do
		for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
	done
	redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$dir/create.log"
	for _ in $(seq 100); do
		redis-cli -p "${ports[0]}" cluster info | grep -q 'cluster_state:ok' && break
		sleep 0.1
	done
	redis-cli -p "${ports[0]}" cluster info | grep -q 'cluster_state:ok' || { echo "redis-cluster: not ok" >&2; return 1; }
	echo "redis://127.0.0.1:${ports[0]}?addr=127.0.0.1:${ports[1]}&addr=127.0.0.1:${ports[2]}" >"$dir/url"
}

stop() {
	local dir=$1 f pids=() pid
	for f in "$dir"/*/redis.pid; do
		[[ -f $f ]] && pids+=("$(cat "$f")")
	done
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	# Until they have exited: a server still writing its files would make rm fail.
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	done
	rm -rf "$dir"
}

case "${1:-test}" in
start)
	dir=$(mktemp -d /tmp/boxoffice-cluster.XXXXXX)
	start "$dir"
	echo "$dir $(cat "$dir/url")"
	;;
stop)
	stop "$2"
	;;
test)
	shift || true
	pkgs=("$@")
	[[ ${#pkgs[@]} -gt 0 ]] || pkgs=(./inventory/ ./queue/ ./ratelimit/ ./booking/ ./session/ ./sale/ ./realtime/)
	dir=$(mktemp -d /tmp/boxoffice-cluster.XXXXXX)
	trap 'stop "$dir"' EXIT
	start "$dir"
	echo "redis-cluster: three masters at $(cat "$dir/url")"
	unguarded=$(grep -rn --include='*.go' 'redis.NewScript(' . | grep -v '_test.go:' | grep -v 'NewScript(shebang + ' || true)
	[[ -z $unguarded ]] || {
		printf 'redis-cluster: scripts without the #!lua shebang (shebang + …), which a cluster would let touch two slots of one node:\n%s\n' "$unguarded" >&2
		exit 1
	}
	# ev:{a} (slot 15495) and ev:{d} (slot 11298) are both the third master's
	# (10923-16383) in a cluster of three made by redis-cli.
	port=$(sed -n 's|^redis://127.0.0.1:\([0-9]*\).*|\1|p' "$dir/url")
	probe=$(redis-cli -c -p "$port" eval $'#!lua\nredis.call("get", KEYS[1])\nreturn redis.call("get", "ev:{d}:k")' 1 'ev:{a}:k' 2>&1 || true)
	[[ $probe == *"do not hash to the same slot"* ]] || {
		echo "redis-cluster: this Redis let a #!lua script touch two slots of one node (Redis 7 or later refuses): $probe" >&2
		exit 1
	}
	TEST_REDIS_URL=$(cat "$dir/url") ${GO:-go} test -race -count=1 "${pkgs[@]}"
	;;
*)
	echo "usage: $0 test [packages…] | start | stop DIR" >&2
	exit 2
	;;
esac
