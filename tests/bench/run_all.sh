#!/usr/bin/env bash
# Runs the agent benchmarks one after the other and prints their summary lines at the end.
# Usage: bash tests/bench/run_all.sh [--rounds N] [--agent PATH]
#        (agent default: build/agent/prescient-agent, or $PSC_AGENT)
# Each benchmark's full output goes to stdout as it runs. Exit status: 0 if every benchmark
# ran (a FAIL against a target is a figure, not an error), 1 if one could not run.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

rounds=5 agent=()
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--agent) agent=(--agent "$2"); shift 2 ;;
	-h|--help) sed -n '2,6p' "$0"; exit 0 ;;
	*) echo "run_all.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

summaries=() status=0
log=$(mktemp /tmp/psc-bench-log.XXXXXX)
trap 'rm -f "$log"' EXIT
run() { # name args...
	local name=$1 rc
	shift
	echo "=== $name ==="
	bash "$here/$name" "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	[ $rc -ne 0 ] && status=1
	summaries+=("$(grep ' summary: ' "$log" | tail -1 || true)")
	[ $rc -ne 0 ] && summaries+=("$name: exited with status $rc")
	echo
}
run overhead_redis.sh --rounds "$rounds" "${agent[@]}"
run overhead_nginx.sh --rounds "$rounds" "${agent[@]}"
run bpf_cost.sh "${agent[@]}"
run agent_cpu.sh "${agent[@]}"

echo "=== summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), kernel $(uname -r), $(nproc) CPUs) ==="
printf '%s\n' "${summaries[@]}"
exit $status
