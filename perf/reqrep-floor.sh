#!/usr/bin/env bash
# Request/reply latency beside its floor: the same generator against
# nats-server, ringnats (--shards 1) and the load generator's null server
# polling without ever sleeping (no wake-up on the server side at all, and
# next to no work), each server on core 0, the generator on core 1, the
# order alternating by round. What the null server measures is what the
# generator and the kernel's loopback cost; no server can answer sooner.
#
# Usage: perf/reqrep-floor.sh [ROUNDS] [RATE] [extra loadtest reqrep args]
# (defaults: 6 rounds, 10000 req/s, the generator sleeping between
# requests; pass --busy-poll for a polling generator). Needs a release
# build (cargo build --release -p ringnats -p loadtest).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=perf/lib.sh
source perf/lib.sh
ROUNDS=${1:-6}
RATE=${2:-10000}
shift $(($# < 2 ? $# : 2))
PORT=17390
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
RINGNATS=${RINGNATS:-target/release/ringnats}
LOADTEST=${LOADTEST:-target/release/loadtest}
WORK=$(mktemp -d)
PID=''
trap '[[ -n $PID ]] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
echo "port: $PORT" >"$WORK/server.conf"

echo "round server p50_us p90_us p99_us p999_us (reqrep --rate $RATE --size 128 $*)"
for round in $(seq 1 "$ROUNDS"); do
	order=(nats-server ringnats null-server)
	((round % 2 == 0)) && order=(null-server ringnats nats-server)
	for server in "${order[@]}"; do
		case $server in
		nats-server) cmd=("$NATS_SERVER" -c "$WORK/server.conf") ;;
		ringnats) cmd=("$RINGNATS" -c "$WORK/server.conf" --shards 1) ;;
		null-server) cmd=("$LOADTEST" null-server --port "$PORT" --busy-poll) ;;
		esac
		taskset -c 0 "${cmd[@]}" >"$WORK/$server.log" 2>&1 &
		PID=$!
		wait_listening "$PORT"
		taskset -c 1 "$LOADTEST" reqrep --rate "$RATE" --size 128 --duration 5s --warmup 1s \
			--url "nats://127.0.0.1:$PORT" --quiet --json "$@" >"$WORK/out.json"
		kill "$PID"
		wait "$PID" 2>/dev/null || true
		PID=''
		python3 -c 'import json,sys
l = json.load(open(sys.argv[1]))["latency_us"]
print(sys.argv[2], sys.argv[3], *(round(l[k]) for k in ("p50", "p90", "p99", "p999")))' \
			"$WORK/out.json" "$round" "$server"
	done
done
