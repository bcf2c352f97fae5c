#!/usr/bin/env bash
# perf/profile.sh SCENARIO: ringnats under `perf record` while loadtest runs
# SCENARIO (a matrix id of compare.sh, e.g. tcp-pubsub-128; see
# `perf/compare.sh --list`), then a flame graph with inferno to
# perf/results/flame-<scenario>-<stamp>.svg.
#
# Same setup as compare.sh: the generated config, ringnats pinned to core 0
# with --shards 1 (unpinned-<id>: --shards 2, nothing pinned), loadtest on
# core 1. perf attaches to the running server, on core 1 with the generator.

profile_usage() {
	cat <<'EOF'
usage: perf/profile.sh SCENARIO [options]

  SCENARIO            a matrix id (perf/compare.sh --list), e.g. tcp-pubsub-128;
                      unpinned-<id> profiles ringnats --shards 2 unpinned
  --duration D        how long loadtest measures (default 10s)
  --call-graph MODE   dwarf (default: ringnats and std have no frame
                      pointers, so fp stacks stop after a frame or two),
                      fp (what plain `perf record -g` does), or lbr
  --freq HZ           samples per second (default 999)
  --no-build          do not run cargo build
  --no-install        do not install perf or inferno when missing
  -h, --help          this text

Environment: LOADTEST, RINGNATS override the binaries.
EOF
}

# shellcheck source=perf/compare.sh disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/compare.sh"

# DURATION, WARMUP and HOLD are compare.sh's, read by its run_generator.
# shellcheck disable=SC2034
profile_main() {
	set -euo pipefail
	local scenario='' cg=dwarf freq=999 build=1 a
	NO_INSTALL=0
	DURATION=10s WARMUP=1s HOLD=10s
	while (($#)); do
		a=$1
		case $a in
		--duration) DURATION=${2:?--duration needs a value} HOLD=$2 && shift ;;
		--call-graph) cg=${2:?--call-graph needs fp, dwarf or lbr} && shift ;;
		--freq) freq=${2:?--freq needs HZ} && shift ;;
		--no-build) build=0 ;;
		--no-install) NO_INSTALL=1 ;;
		-h | --help)
			profile_usage
			return 0
			;;
		-*)
			profile_usage >&2
			die "unknown option $a"
			;;
		*)
			[[ -z $scenario ]] || die "one scenario at a time"
			scenario=$a
			;;
		esac
		shift
	done
	[[ -n $scenario ]] || {
		profile_usage >&2
		exit 2
	}
	local id=$scenario mode=pinned
	if [[ $id == unpinned-* ]]; then
		id=${id#unpinned-} mode=unpinned
	fi
	local line transport args
	line=$(matrix_entry "$id") || die "no scenario $scenario (perf/compare.sh --list shows them)"
	IFS='|' read -r _ _ transport _ args <<<"$line"
	case $cg in
	fp) cg=fp ;;
	dwarf) cg=dwarf,16384 ;;
	lbr) ;;
	*) die "--call-graph must be fp, dwarf or lbr" ;;
	esac

	cd "$ROOT"
	trap cleanup EXIT
	trap 'log "interrupted"; exit 130' INT TERM

	# Tools: perf (Debian's linux-perf), inferno, taskset, ss.
	if ! command -v perf >/dev/null 2>&1; then
		((NO_INSTALL)) && die "perf is missing (apt-get install linux-perf)"
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y linux-perf
	fi
	ensure_tools
	export PATH=$PATH:$HOME/.cargo/bin
	if ! command -v inferno-flamegraph >/dev/null 2>&1 || ! command -v inferno-collapse-perf >/dev/null 2>&1; then
		((NO_INSTALL)) && die "inferno is missing (cargo install inferno)"
		log "installing inferno (cargo install inferno)"
		cargo install inferno
	fi

	# Is perf allowed, and are hardware counters there? (root passes
	# perf_event_paranoid; VMs often have no PMU.)
	WORK=$(mktemp -d /tmp/ringnats-profile.XXXXXX)
	local paranoid event=() stat_out
	paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?')
	stat_out=$(perf stat -e instructions true 2>&1) || true
	if grep -qiE 'not supported|not counted|permission|error' <<<"$stat_out" ||
		! grep -qE '[0-9]+ +instructions' <<<"$stat_out"; then
		log "perf: hardware counters are not available here (perf stat -e instructions: $(grep -oiE 'not supported|not counted|permission denied' <<<"$stat_out" | head -n 1 || echo 'no count'); perf_event_paranoid=$paranoid, running as $(id -un))."
		log "perf: falling back to the cpu-clock software event (timer-based sampling)."
		event=(-e cpu-clock)
	fi
	if ! perf record "${event[@]}" -g -o "$WORK/probe.data" -- true >"$WORK/probe.log" 2>&1; then
		cat "$WORK/probe.log" >&2
		die "perf record is not permitted here (perf_event_paranoid=$paranoid, user $(id -un)); no profile"
	fi

	if ((build)); then
		log "building (cargo build --release -p ringnats -p loadtest)"
		cargo build --release -p ringnats -p loadtest
	fi
	NATS_SERVER=${NATS_SERVER:-/bin/true} PERF_REPORT=${PERF_REPORT:-/bin/true}
	find_binaries
	check_ports
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	write_config

	mkdir -p perf/results
	local stamp svg data=$WORK/perf.data
	stamp=$(date +%Y-%m-%d-%H%M)
	svg=perf/results/flame-$scenario-$stamp.svg

	start_server ringnats "$mode"
	local perf_pin=(taskset -c 1)
	[[ $mode == unpinned ]] && perf_pin=()
	log "perf record ${event[*]} -F $freq --call-graph $cg -p $SERVER_PID"
	"${perf_pin[@]}" perf record "${event[@]}" -F "$freq" --call-graph "$cg" \
		-p "$SERVER_PID" -o "$data" >"$WORK/perf.log" 2>&1 &
	local perf_pid=$! i
	PIDS+=("$perf_pid")
	# perf writes its file's header once it has attached.
	for ((i = 0; i < 250; i++)); do
		[[ -s $data ]] && break
		kill -0 "$perf_pid" 2>/dev/null || {
			cat "$WORK/perf.log" >&2
			die "perf record exited at start"
		}
		sleep 0.02
	done
	[[ -s $data ]] || die "perf record did not start within 5 s"

	local gen_rc=0
	# shellcheck disable=SC2086 # args is a word list from the matrix
	run_generator "$scenario" "$transport" "$mode" "$WORK/out.json" "$WORK/err.txt" $args || gen_rc=$?
	kill -INT "$perf_pid" 2>/dev/null || true
	wait "$perf_pid" 2>/dev/null || true
	forget_pid "$perf_pid"
	stop_server
	if ((gen_rc != 0)); then
		tail -n 5 "$WORK/err.txt" >&2 || true
		log "warning: loadtest exited $gen_rc; the profile covers what ran"
	else
		log "loadtest: $(cat "$WORK/out.json")"
	fi
	tail -n 3 "$WORK/perf.log" >&2 || true

	log "perf script | inferno-collapse-perf | inferno-flamegraph"
	perf script -i "$data" 2>/dev/null | inferno-collapse-perf >"$WORK/folded"
	[[ -s $WORK/folded ]] || die "no samples in $data"
	inferno-flamegraph --title "ringnats, $scenario ($mode, ${event[*]:-cycles}, $cg)" \
		<"$WORK/folded" >"$svg"
	log "top functions (self time):"
	perf report -i "$data" --stdio --no-children --sort symbol --percent-limit 2 2>/dev/null |
		grep -E '^ +[0-9.]+%' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -n 20 >&2 || true
	log "wrote $svg"
}

profile_main "$@"
