#!/usr/bin/env bash
# The message path with permissions: 1→1 pub/sub, 128 B, as a user with a
# dozen publish allow and deny rules and as an unrestricted user, against
# one ringnats (--shards 1, core 0; the generator on core 1), alternating
# by round. Usage: perf/permissions.sh [ROUNDS] [extra loadtest pubsub
# args, e.g. --publishers 4 --subjects 16] (default 6 rounds). Needs a
# release build (cargo build --release -p ringnats -p loadtest).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=perf/lib.sh
source perf/lib.sh
ROUNDS=${1:-6}
shift $(($# < 1 ? $# : 1))
RINGNATS=${RINGNATS:-target/release/ringnats}
LOADTEST=${LOADTEST:-target/release/loadtest}
PORT=17410
taskset -c 0 "$RINGNATS" -c perf/permissions.conf --shards 1 >/dev/null 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null' EXIT
wait_listening "$PORT"
echo "round user msgs_per_sec (pubsub --size 128 $*)"
for round in $(seq 1 "$ROUNDS"); do
	users=(free ruled)
	((round % 2 == 0)) && users=(ruled free)
	for user in "${users[@]}"; do
		taskset -c 1 "$LOADTEST" pubsub --size 128 --duration 3s --warmup 1s \
			--url "nats://127.0.0.1:$PORT" --user "$user" --pass p --quiet --json "$@" |
			python3 -c 'import json,sys; print(sys.argv[1], sys.argv[2], round(json.load(sys.stdin)["msgs_per_sec"]))' "$round" "$user"
	done
done
