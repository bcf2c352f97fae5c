# Shared by the small perf scripts (sourced, not run).

# wait_listening PORT: returns once something listens on PORT (5 s at most).
wait_listening() {
	for _ in $(seq 100); do
		[[ -n $(ss -Hltn "sport = :$1") ]] && return 0
		sleep 0.05
	done
	echo "nothing listens on port $1" >&2
	return 1
}
