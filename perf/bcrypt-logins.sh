#!/usr/bin/env bash
# Logins with bcrypt beside traffic: request/reply at 1k req/s (128 B,
# generator sleeping between requests) through one ringnats shard, once
# alone and once while 200 connections log in with a bcrypt (cost 11)
# password at the same time. A check on the shard thread would hold every
# message behind it for its ~50 ms; off the shard, the requests see only
# the CPU the checks take. ringnats --shards 1 is not pinned here: the
# checks need a core, and this machine has two.
# Usage: perf/bcrypt-logins.sh [ROUNDS] (default 3). Needs a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=perf/lib.sh
source perf/lib.sh
ROUNDS=${1:-3}
RINGNATS=${RINGNATS:-target/release/ringnats}
LOADTEST=${LOADTEST:-target/release/loadtest}
PORT=17420
URL="nats://127.0.0.1:$PORT"
"$RINGNATS" -c perf/bcrypt.conf --shards 1 >/dev/null 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null' EXIT
wait_listening "$PORT"
summary='import json,sys
l = json.load(sys.stdin)["latency_us"]
print(sys.argv[1], sys.argv[2], *(round(l[k]) for k in ("p50", "p90", "p99", "p999", "max")))'
echo "round logins p50_us p90_us p99_us p999_us max_us"
for round in $(seq 1 "$ROUNDS"); do
	for logins in 0 200; do
		if ((logins > 0)); then
			(sleep 1 && "$LOADTEST" conns --url "$URL" --user a --pass bcrypt-pass \
				--connections "$logins" --hold 1s --quiet --json >"${TMPDIR:-/tmp}/bcrypt-conns.json") &
			CONNS=$!
		fi
		"$LOADTEST" reqrep --rate 1000 --size 128 --duration 10s --warmup 1s --url "$URL" \
			--user free --pass p --quiet --json | python3 -c "$summary" "$round" "$logins"
		if ((logins > 0)); then
			wait "$CONNS"
		fi
	done
done
