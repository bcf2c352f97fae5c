#!/usr/bin/env bash
# perf/compare.sh: nats-server and ringnats side by side, as
# /work/shared/BENCHMARKS.md says: same generated config, server pinned to
# core 0 (ringnats --shards 1), generator pinned to core 1, the two servers
# alternating A B / B A over at least 3 rounds, medians and per-round ratios.
#
# Every run's JSON goes to perf/results/<stamp>.json (JSON lines: a meta
# line, then one line per run); perf-report then appends a dated section to
# the END of perf/RESULTS.md (sections are oldest first) and writes SVG
# plots to perf/results/<stamp>/.
#
# profile.sh sources this file for its functions and matrix; main runs only
# when the file is executed.

usage() {
	cat <<'EOF'
usage: perf/compare.sh [options]

  --quick           fewer scenarios, 1 s runs, 3 rounds still (< 3 min here)
  --rounds N        rounds of A B / B A (default 3; fewer than 3 is refused)
  --duration D      measured time per run (default 5s; 1s with --quick)
  --warmup D        warm-up per run (default 1s; 500ms with --quick)
  --unpinned        add the unpinned pair (ringnats --shards 2); on by
                    default in the full run, off in --quick
  --no-unpinned     leave the unpinned pair out
  --no-ceilings     leave out the null-server, iperf3 and relay ceilings
  --only REGEX      run only matrix ids matching REGEX (extended regex)
  --list            print the matrix (id, transport, label, loadtest args)
  --no-build        do not run cargo build
  --no-install      do not apt-get install missing tools
  --no-report       write the results file but not RESULTS.md or plots
  --port-base P     ports P..P+4 (default 17220; must stay in 17000-17999)
  --results-dir D   where <stamp>.json and the plots go (default perf/results)
  --markdown F      the file the section is appended to (default perf/RESULTS.md)
  -h, --help        this text

Environment: LOADTEST, RINGNATS, NATS_SERVER override the binaries.
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ---------------------------------------------------------------------------
# The matrix. One entry a line: id|quick|transport|label|loadtest args.
# quick: q = also in --quick. The URL, timing, --pid and --json are added
# by run_generator. Ids are what RESULTS.md, perf-report's targets and
# profile.sh use; keep them stable.
MATRIX='
tcp-pubsub-16|-|tcp|1→1 pub/sub|pubsub --size 16
tcp-pubsub-128|q|tcp|1→1 pub/sub|pubsub --size 128
tcp-pubsub-1024|-|tcp|1→1 pub/sub|pubsub --size 1024
tcp-pubsub-16384|q|tcp|1→1 pub/sub|pubsub --size 16384
ws-pubsub-16|-|ws|1→1 pub/sub, many PUBs per frame|pubsub --size 16 --ws-batch
ws-pubsub-128|q|ws|1→1 pub/sub, many PUBs per frame|pubsub --size 128 --ws-batch
ws-pubsub-1024|-|ws|1→1 pub/sub, many PUBs per frame|pubsub --size 1024 --ws-batch
ws-pubsub-16384|q|ws|1→1 pub/sub, many PUBs per frame|pubsub --size 16384 --ws-batch
ws1f-pubsub-128|q|ws|1→1 pub/sub, one PUB per frame|pubsub --size 128 --ws-one-per-frame
tcp-fanout10-128|-|tcp|1→10 fan-out|fanout --subscribers 10 --size 128
tcp-fanout100-128|q|tcp|1→100 fan-out|fanout --subscribers 100 --size 128
ws-fanout100-128|-|ws|1→100 fan-out|fanout --subscribers 100 --size 128
tcp-pubsub4x4-128|-|tcp|4 publishers → 4 subscribers, 4 subjects|pubsub --publishers 4 --subscribers 4 --subjects 4 --size 128
tcp-queue4-128|-|tcp|queue group of 4|queue --members 4 --size 128
tcp-reqrep-10k|q|tcp|request/reply at 10k req/s|reqrep --rate 10000 --size 128 --busy-poll
ws-reqrep-10k|q|ws|request/reply at 10k req/s|reqrep --rate 10000 --size 128 --busy-poll
tcp-reqrep-10k-sleeping|q|tcp|request/reply at 10k req/s, generator sleeping between requests|reqrep --rate 10000 --size 128
tcp-reqrep-1k-sleeping|q|tcp|request/reply at 1k req/s, generator sleeping between requests|reqrep --rate 1000 --size 128
tcp-conns-idle|q|tcp|idle connections|conns
ws-conns-idle|q|ws|idle connections|conns
wsz-pubsub-1024|q|ws|1→1 pub/sub, permessage-deflate|pubsub --size 1024 --ws-batch --compress
wss-pubsub-128|q|wss|1→1 pub/sub, many PUBs per frame|pubsub --size 128 --ws-batch
wss-pubsub-16384|q|wss|1→1 pub/sub, many PUBs per frame|pubsub --size 16384 --ws-batch
tls-pubsub-128|-|tls|1→1 pub/sub|pubsub --size 128
wss-conns-idle|q|wss|idle connections|conns
'
# The unpinned pair: these ids again, both servers and the generator free
# to use both cores, ringnats with --shards 2 (matrix id unpinned-<id>).
UNPINNED_FULL='tcp-pubsub-128 tcp-pubsub4x4-128 tcp-fanout100-128 tcp-queue4-128 tcp-reqrep-10k-sleeping tcp-reqrep-1k-sleeping'
UNPINNED_QUICK='tcp-pubsub-128 tcp-pubsub4x4-128 tcp-reqrep-10k-sleeping'

# Prints the matrix lines (no blank lines).
matrix_lines() { printf '%s\n' "$MATRIX" | grep -v '^$'; }

# matrix_entry ID: prints that line, fails when there is none.
matrix_entry() {
	local line
	line=$(matrix_lines | grep -E "^$1\|" || true)
	[[ -n $line ]] || return 1
	printf '%s\n' "$line"
}

# ---------------------------------------------------------------------------
# Settings (main may change them).
PORT_BASE=17220
QUICK=0
DURATION=5s     # measured per run
WARMUP=1s       # warm-up per run, not counted
CONNS=10000     # idle connections
HOLD=2s         # how long they stay open before RSS is read again
IPERF_SECS=5

set_ports() {
	PORT=$PORT_BASE
	WS_PORT=$((PORT_BASE + 1))
	NULL_PORT=$((PORT_BASE + 2))
	IPERF_PORT=$((PORT_BASE + 3))
	RELAY_PORT=$((PORT_BASE + 4))
}
set_ports

log() { printf '%s\n' "$*" >&2; }
die() {
	log "compare.sh: error: $*"
	exit 1
}

# ---------------------------------------------------------------------------
# Processes. Everything started in the background is in PIDS and is ended
# by cleanup (by its id, and its children by their parent's id).
PIDS=()
WORK=''

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid" quiet
	done
	PIDS=()
	if [[ -n $WORK && -d $WORK ]]; then
		rm -rf "$WORK"
	fi
}

forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# stop_pid PID [quiet]: TERM, up to 5 s, then KILL; its children likewise.
stop_pid() {
	local pid=$1 i
	if kill -0 "$pid" 2>/dev/null; then
		pkill -TERM -P "$pid" 2>/dev/null || true
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$pid" 2>/dev/null; then
			[[ ${2:-} == quiet ]] || log "  pid $pid ignored TERM for 5 s: KILL"
			pkill -KILL -P "$pid" 2>/dev/null || true
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	forget_pid "$pid"
}

listening() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

# wait_listen PID LOG PORT...: polls until every PORT is listening; fails
# loudly (with the log's tail) if PID dies or 10 s pass.
wait_listen() {
	local pid=$1 logf=$2 i p all
	shift 2
	for ((i = 0; i < 500; i++)); do
		kill -0 "$pid" 2>/dev/null || {
			log "--- $logf"
			tail -n 20 "$logf" >&2 || true
			die "process $pid exited before listening on $*"
		}
		all=1
		for p in "$@"; do
			listening "$p" || {
				all=0
				break
			}
		done
		((all)) && return 0
		sleep 0.02
	done
	log "--- $logf"
	tail -n 20 "$logf" >&2 || true
	die "process $pid not listening on $* after 10 s"
}

# wait_free PORT...: until nothing listens there (a stopped server's port).
wait_free() {
	local i p busy
	for ((i = 0; i < 250; i++)); do
		busy=0
		for p in "$@"; do
			if listening "$p"; then
				busy=1
				break
			fi
		done
		((busy)) || return 0
		sleep 0.02
	done
	die "ports $* still in use 5 s after the server stopped"
}

# Two configurations, the same for both servers: plain (nats://, ws://,
# compression on offer) and TLS (tls:// on the client port, wss://) with a
# certificate made here.
write_config() {
	local limits
	limits='max_payload: 1048576
max_pending: 134217728
write_deadline: "10s"'
	CONF=$WORK/bench.conf
	cat >"$CONF" <<EOF
# generated by perf/compare.sh; the same file for both servers
port: $PORT
websocket {
  port: $WS_PORT
  no_tls: true
  compression: true
}
$limits
EOF
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 || die "openssl could not make a certificate"
	CONF_TLS=$WORK/bench-tls.conf
	cat >"$CONF_TLS" <<EOF
# generated by perf/compare.sh; the same file for both servers
port: $PORT
tls { cert_file: "$WORK/cert.pem", key_file: "$WORK/key.pem" }
websocket {
  port: $WS_PORT
  tls { cert_file: "$WORK/cert.pem", key_file: "$WORK/key.pem" }
}
$limits
EOF
}

# start_server NAME MODE: NAME nats-server|ringnats|null-server, MODE
# pinned|unpinned. Sets SERVER_PID and SERVER_LOG; returns once listening.
SERVER_PID=''
SERVER_LOG=''
SERVER_SEQ=0
start_server() {
	local name=$1 mode=$2 CONF=${3:-$CONF} pin=() cmd=() ports=("$PORT")
	[[ $mode == pinned ]] && pin=(taskset -c 0)
	case $name in
	nats-server) cmd=("$NATS_SERVER" -c "$CONF") ports+=("$WS_PORT") ;;
	ringnats)
		if [[ $mode == pinned ]]; then
			cmd=("$RINGNATS" -c "$CONF" --shards 1)
		else
			cmd=("$RINGNATS" -c "$CONF" --shards 2)
		fi
		;;
	null-server) cmd=("$LOADTEST" null-server --port "$PORT") ;;
	*) die "unknown server $name" ;;
	esac
	SERVER_SEQ=$((SERVER_SEQ + 1))
	SERVER_LOG=$WORK/$name.$SERVER_SEQ.log
	"${pin[@]}" "${cmd[@]}" >"$SERVER_LOG" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_listen "$SERVER_PID" "$SERVER_LOG" "${ports[@]}"
	# ringnats may not serve websocket yet: its WS runs then fail (and are
	# recorded as failed) instead of stopping the whole comparison.
	if [[ $name == ringnats && -z ${WS_WARNED:-} ]]; then
		local i
		for ((i = 0; i < 50; i++)); do
			listening "$WS_PORT" && return 0
			sleep 0.02
		done
		WS_WARNED=1
		log "  warning: ringnats does not listen on the websocket port $WS_PORT; its WS runs will fail"
	fi
}

stop_server() {
	[[ -n $SERVER_PID ]] || return 0
	stop_pid "$SERVER_PID"
	SERVER_PID=''
	wait_free "$PORT" "$WS_PORT"
}

# run_generator ID TRANSPORT MODE OUT ERR ARGS...: runs loadtest against
# the server on PORT/WS_PORT; stdout to OUT, stderr to ERR.
run_generator() {
	local id=$1 transport=$2 mode=$3 out=$4 err=$5 url pin=() extra=()
	shift 5
	case $transport in
	ws) url=ws://127.0.0.1:$WS_PORT ;;
	wss) url=wss://127.0.0.1:$WS_PORT ;;
	tls) url=tls://127.0.0.1:$PORT ;;
	*) url=nats://127.0.0.1:$PORT ;;
	esac
	# The certificate is made for the run; the generator need not check it.
	[[ $transport == wss || $transport == tls ]] && set -- "$@" --insecure
	[[ $mode == pinned ]] && pin=(taskset -c 1)
	case $1 in
	conns) extra=(--connections "$CONNS" --pid "$SERVER_PID" --hold "$HOLD") ;;
	# The server's CPU per request is read from /proc while requests run.
	reqrep) extra=(--duration "$DURATION" --warmup "$WARMUP" --pid "$SERVER_PID") ;;
	*) extra=(--duration "$DURATION" --warmup "$WARMUP") ;;
	esac
	log "    $id: loadtest $* --url $url ${extra[*]} --quiet --json"
	timeout --foreground -k 5 180 \
		"${pin[@]}" "$LOADTEST" "$@" --url "$url" "${extra[@]}" --quiet --json >"$out" 2>"$err"
}

# ---------------------------------------------------------------------------
# Recording.
FAILURES=0
RUNS_FILE=''

# record SERVER ROUND PINNED ID LABEL OUT [ERROR] -- tag and append a run.
record() {
	local server=$1 round=$2 pinned=$3 id=$4 label=$5 out=$6 error=${7:-} line rc=0
	local args=(annotate --server "$server" --round "$round" --pinned "$pinned"
		--matrix-id "$id" --label "$label")
	if [[ -n $error ]]; then
		[[ -n $out && -s $out ]] && args+=(--input "$out")
		line=$("$PERF_REPORT" "${args[@]}" --error "$error" "${@:8}") || rc=$?
	else
		line=$("$PERF_REPORT" "${args[@]}" --input "$out" "${@:8}") || rc=$?
	fi
	[[ -n $line ]] || die "perf-report annotate printed nothing"
	printf '%s\n' "$line" >>"$RUNS_FILE"
	if ((rc != 0)); then
		FAILURES=$((FAILURES + 1))
		log "    FAILED: $(printf '%s' "$line" | grep -o '"error":"[^"]*"' || true)"
	else
		log "    $(printf '%s' "$line" | grep -oE '"(msgs_per_sec|bytes_per_sec|rss_per_conn_bytes|p99)":[0-9.e+-]+' | tr '\n' ' ')"
	fi
}

# one_run SERVER MODE ROUND ID: start, measure, stop, record.
one_run() {
	local server=$1 mode=$2 round=$3 id=$4 line transport label args rid pinned out err
	line=$(matrix_entry "$id") || die "no matrix entry $id"
	IFS='|' read -r _ _ transport label args <<<"$line"
	rid=$id pinned=true
	if [[ $mode == unpinned ]]; then
		rid=unpinned-$id pinned=false
	fi
	[[ $args == conns* ]] && label="$CONNS $label"
	out=$WORK/out.json err=$WORK/err.txt
	log "  [round $round] $rid on $server ($mode)"
	local conf=$CONF
	[[ $transport == wss || $transport == tls ]] && conf=$CONF_TLS
	start_server "$server" "$mode" "$conf"
	local gen_rc=0
	# shellcheck disable=SC2086 # args is a word list from the matrix
	run_generator "$rid" "$transport" "$mode" "$out" "$err" $args || gen_rc=$?
	local alive=1
	kill -0 "$SERVER_PID" 2>/dev/null || alive=0
	if [[ $server == ringnats && -z ${RINGNATS_IO:-} ]]; then
		RINGNATS_IO=$(grep -o 'IO: .*' "$SERVER_LOG" | head -n 1 | sed 's/^IO: *//' || true)
	fi
	stop_server
	# What a failed run's record still needs for its table row.
	local size=0 what=(--set "loadtest_args=$args")
	[[ $args =~ --size\ ([0-9]+) ]] && size=${BASH_REMATCH[1]}
	local failed=("${what[@]}" --set "scenario=${args%% *}" --set "transport=$transport" --set "size=$size")
	if ((!alive)); then
		tail -n 20 "$SERVER_LOG" >&2 || true
		record "$server" "$round" "$pinned" "$rid" "$label" "$out" "server exited during the run" "${failed[@]}"
	elif ((gen_rc != 0)); then
		tail -n 5 "$err" >&2 || true
		record "$server" "$round" "$pinned" "$rid" "$label" "$out" \
			"loadtest exited $gen_rc: $(tail -n 1 "$err" | cut -c1-200)" "${failed[@]}"
	else
		record "$server" "$round" "$pinned" "$rid" "$label" "$out" "" "${what[@]}"
	fi
}

# pair MODE ROUND ID: both servers, nats-server first in odd rounds.
pair() {
	local mode=$1 round=$2 id=$3
	if ((round % 2 == 1)); then
		one_run nats-server "$mode" "$round" "$id"
		one_run ringnats "$mode" "$round" "$id"
	else
		one_run ringnats "$mode" "$round" "$id"
		one_run nats-server "$mode" "$round" "$id"
	fi
}

# The generator's own ceiling: TCP 128 B pub/sub against a server that
# reads and discards.
ceiling_null() {
	local round=$1 id=ceiling-null-tcp-pubsub-128 gen_rc=0
	log "  [round $round] $id"
	start_server null-server pinned
	run_generator "$id" tcp pinned "$WORK/out.json" "$WORK/err.txt" pubsub --size 128 || gen_rc=$?
	stop_server
	if ((gen_rc != 0)); then
		record null-server "$round" true "$id" "generator vs null server, TCP 1→1 128 B" "" \
			"loadtest exited $gen_rc"
	else
		record null-server "$round" true "$id" "generator vs null server, TCP 1→1 128 B" \
			"$WORK/out.json" "" --set scenario=pubsub --set loadtest_args="pubsub --size 128"
	fi
}

# iperf3 single stream on loopback (client and server on core 1), and the
# bare relay: socat on core 0 in front of iperf3 (both ends on core 1).
ceiling_iperf() {
	local round=$1 relay=$2 id label srv spid rpid='' rc=0 cport=$IPERF_PORT
	if ((relay)); then
		id=ceiling-relay label="bare relay: socat on core 0, iperf3 on core 1"
		cport=$RELAY_PORT
	else
		id=ceiling-iperf3 label="iperf3, one loopback stream, core 1"
	fi
	log "  [round $round] $id"
	srv=$WORK/iperf3-server.log
	taskset -c 1 iperf3 -s -p "$IPERF_PORT" -1 >"$srv" 2>&1 &
	spid=$!
	PIDS+=("$spid")
	wait_listen "$spid" "$srv" "$IPERF_PORT"
	if ((relay)); then
		taskset -c 0 socat -b 262144 "TCP-LISTEN:$RELAY_PORT,fork,reuseaddr" \
			"TCP:127.0.0.1:$IPERF_PORT" >"$WORK/socat.log" 2>&1 &
		rpid=$!
		PIDS+=("$rpid")
		wait_listen "$rpid" "$WORK/socat.log" "$RELAY_PORT"
	fi
	timeout --foreground -k 5 $((IPERF_SECS + 30)) taskset -c 1 \
		iperf3 -c 127.0.0.1 -p "$cport" -t "$IPERF_SECS" -J >"$WORK/out.json" 2>"$WORK/err.txt" || rc=$?
	[[ -n $rpid ]] && stop_pid "$rpid"
	stop_pid "$spid"
	wait_free "$IPERF_PORT" "$RELAY_PORT"
	local scenario=iperf3
	((relay)) && scenario=relay
	# iperf3 -J reports its own errors in the JSON; annotate turns them
	# into a failed run.
	record "$scenario" "$round" true "$id" "$label" "$WORK/out.json" "" \
		--format iperf3 --set scenario="$scenario" --set rc="$rc"
}

# ---------------------------------------------------------------------------
ensure_tools() {
	local need=() t
	for t in nats-server:nats-server iperf3:iperf3 socat:socat ss:iproute2 taskset:util-linux timeout:coreutils; do
		command -v "${t%%:*}" >/dev/null 2>&1 || [[ -x /usr/sbin/${t%%:*} ]] || need+=("${t#*:}")
	done
	if ((${#need[@]})); then
		((NO_INSTALL)) && die "missing: ${need[*]} (and --no-install given)"
		log "installing ${need[*]}"
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
	fi
}

find_binaries() {
	NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
	RINGNATS=${RINGNATS:-$ROOT/target/release/ringnats}
	LOADTEST=${LOADTEST:-$ROOT/target/release/loadtest}
	PERF_REPORT=${PERF_REPORT:-$ROOT/target/release/perf-report}
	local b
	for b in "$NATS_SERVER" "$RINGNATS" "$LOADTEST" "$PERF_REPORT"; do
		[[ -x $b ]] || die "$b is missing or not executable"
	done
}

# cpu_busy: percent of all cores busy over one second (others' load, when
# nothing of ours runs).
cpu_busy() {
	local a b
	a=$(head -n 1 /proc/stat)
	sleep 1
	b=$(head -n 1 /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {
		n = split(a, x, " "); split(b, y, " ")
		for (i = 2; i <= n && i <= 9; i++) { t += y[i] - x[i] }
		idle = (y[5] - x[5]) + (y[6] - x[6])
		busy = (t > 0) ? 100 * (t - idle) / t : 0
		printf "%d\n", busy + 0.5
	}'
}

check_ports() {
	((PORT_BASE >= 17000 && PORT_BASE + 4 <= 17999)) || die "ports must stay in 17000-17999"
	local p
	for p in "$PORT" "$WS_PORT" "$NULL_PORT" "$IPERF_PORT" "$RELAY_PORT"; do
		listening "$p" && die "port $p is already in use"
	done
	return 0
}

main() {
	set -euo pipefail
	local rounds=3 unpinned='' ceilings=1 only='' list=0 build=1 report=1 a
	local results_dir=perf/results markdown=perf/RESULTS.md duration='' warmup=''
	NO_INSTALL=0
	local argv=("$@")
	while (($#)); do
		a=$1
		case $a in
		--quick) QUICK=1 ;;
		--rounds) rounds=${2:?--rounds needs N} && shift ;;
		--duration) duration=${2:?--duration needs a value} && shift ;;
		--warmup) warmup=${2:?--warmup needs a value} && shift ;;
		--unpinned) unpinned=1 ;;
		--no-unpinned) unpinned=0 ;;
		--no-ceilings) ceilings=0 ;;
		--only) only=${2:?--only needs a regex} && shift ;;
		--list) list=1 ;;
		--no-build) build=0 ;;
		--no-install) NO_INSTALL=1 ;;
		--no-report) report=0 ;;
		--port-base) PORT_BASE=${2:?--port-base needs P} && shift ;;
		--results-dir) results_dir=${2:?--results-dir needs D} && shift ;;
		--markdown) markdown=${2:?--markdown needs F} && shift ;;
		-h | --help)
			usage
			return 0
			;;
		*)
			usage >&2
			die "unknown option $a"
			;;
		esac
		shift
	done
	if ! [[ $rounds =~ ^[0-9]+$ ]] || ((rounds < 3)); then
		die "--rounds must be 3 or more (BENCHMARKS.md)"
	fi
	[[ $PORT_BASE =~ ^[0-9]+$ ]] || die "--port-base must be a number"
	set_ports

	local ids=() unp=() id q
	while IFS='|' read -r id q _; do
		((QUICK)) && [[ $q != q ]] && continue
		[[ -n $only && ! $id =~ $only ]] && continue
		ids+=("$id")
	done < <(matrix_lines)
	if [[ -z $unpinned ]]; then
		unpinned=$((QUICK ? 0 : 1))
	fi
	if ((unpinned)); then
		local list_u=$UNPINNED_FULL
		((QUICK)) && list_u=$UNPINNED_QUICK
		for id in $list_u; do
			[[ -n $only && ! unpinned-$id =~ $only && ! $id =~ $only ]] && continue
			unp+=("$id")
		done
	fi
	if ((list)); then
		matrix_lines | tr '|' '\t'
		printf 'unpinned (full): %s\nunpinned (quick): %s\n' "$UNPINNED_FULL" "$UNPINNED_QUICK"
		printf 'ceilings: ceiling-null-tcp-pubsub-128 ceiling-iperf3 ceiling-relay\n'
		return 0
	fi
	if ((QUICK)); then
		DURATION=1s WARMUP=500ms CONNS=5000 HOLD=1s IPERF_SECS=1
	fi
	DURATION=${duration:-$DURATION} WARMUP=${warmup:-$WARMUP}

	cd "$ROOT"
	trap cleanup EXIT
	trap 'log "interrupted"; exit 130' INT TERM
	ensure_tools
	if ((build)); then
		log "building (cargo build --release -p ringnats -p loadtest -p perf-report)"
		cargo build --release -p ringnats -p loadtest -p perf-report
	fi
	find_binaries
	check_ports
	local want=$((CONNS + 1000))
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	(($(ulimit -n) >= want)) || die "open files limit $(ulimit -n) < $want for $CONNS connections"

	WORK=$(mktemp -d /tmp/ringnats-compare.XXXXXX)
	write_config
	mkdir -p "$results_dir"
	local stamp
	stamp=$(date +%Y-%m-%d-%H%M)
	[[ -e $results_dir/$stamp.json ]] && stamp=$stamp-$$
	RUNS_FILE=$results_dir/$stamp.json.tmp
	: >"$RUNS_FILE"
	local started_at busy_before
	started_at=$(date '+%Y-%m-%d %H:%M %Z')
	# Anything else running skews both servers unevenly: put it on record.
	busy_before=$(cpu_busy)
	if ((busy_before > 10)); then
		log "warning: the machine is ${busy_before} % busy before the first run: figures will be noisy"
	fi
	log "results: $results_dir/$stamp.json; ${#ids[@]} pinned, ${#unp[@]} unpinned scenarios, $rounds rounds, $WARMUP + $DURATION runs"
	SECONDS=0

	local round
	for ((round = 1; round <= rounds; round++)); do
		log "round $round of $rounds (order: $( ((round % 2)) && echo 'nats-server, ringnats' || echo 'ringnats, nats-server'))"
		if ((ceilings)) && [[ -z $only || ceiling =~ $only ]]; then
			# --quick measures the ceilings in the first round only.
			if ((!QUICK || round == 1)); then
				ceiling_null "$round"
				ceiling_iperf "$round" 0
				ceiling_iperf "$round" 1
			fi
		fi
		for id in "${ids[@]}"; do
			pair pinned "$round" "$id"
		done
		for id in "${unp[@]}"; do
			pair unpinned "$round" "$id"
		done
	done

	local final=$results_dir/$stamp.json mode=full
	((QUICK)) && mode=quick
	{
		"$PERF_REPORT" meta --date "$started_at" --command "perf/compare.sh ${argv[*]}" \
			--mode "$mode" --rounds "$rounds" \
			--set "nats-server=$("$NATS_SERVER" --version 2>&1 | head -n 1 | sed 's/^nats-server: *//')" \
			--set "ringnats=$("$RINGNATS" --version 2>&1 | head -n 1 | sed 's/^ringnats: *//') (IO ${RINGNATS_IO:-unknown})" \
			--set "run time=${SECONDS}s" --set "failed runs=$FAILURES" \
			--set "CPU busy before=${busy_before} %" \
			--set "CPU busy after=$(cpu_busy) %"
		cat "$RUNS_FILE"
	} >"$final"
	rm -f "$RUNS_FILE"
	log "wrote $final ($(($(wc -l <"$final") - 1)) runs, $FAILURES failed) in ${SECONDS}s"
	if ((report)); then
		"$PERF_REPORT" report --results "$final" --markdown "$markdown" --plots "$results_dir/$stamp"
	fi
	((FAILURES == 0)) || die "$FAILURES runs failed (recorded with their error in $final)"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
