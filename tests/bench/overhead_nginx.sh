#!/usr/bin/env bash
# Overhead of the agent on nginx: `wrk -t1 -c10 -d5s` throughput against a private nginx
# (own config in a temp dir, daemon off, 1 worker, access_log off, `return 200 "ok"`) on
# 127.0.0.1, without and with `prescient-agent --print > /dev/null`, in interleaved rounds
# (off, on, off, on, ...). Prints each round, the medians and the ratio with/without
# (target >= 0.99), and the agent's summary (events, drops, requests) next to the requests
# wrk completed: the ratio only counts if the agent captured every request.
# Usage: bash tests/bench/overhead_nginx.sh [--rounds N] [--agent PATH] [--duration S]
#        [--connections N]    (agent default: build/agent/prescient-agent, or $PSC_AGENT)
# Runs as root, from any directory. Starts only its own nginx (stopped by its pid).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rounds=5 agent_arg="" duration=5 conns=10
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--agent) agent_arg=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--connections) conns=$2; shift 2 ;;
	-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
	*) bench_die "unknown argument '$1' (see --help)" ;;
	esac
done
bench_need wrk python3 bpftool
bench_init
bench_agent_path "$agent_arg"
agent=$AGENT

port=$(bench_free_port)
bench_start_nginx "$port"

bench_env_line
echo "agent: $agent"
echo "$NGINX_VERSION master pid $NGINX_PID (1 worker) on 127.0.0.1:$port;" \
	"load: wrk -t1 -c$conns -d${duration}s http://127.0.0.1:$port/"

# The one worker serves; the master only waits (its CPU is counted too, it is ~0).
nginx_cpu() { bench_pids_cpu_s "${NGINX_PIDS[@]}"; }

measure() { # off|on round
	local out s0 s1
	s0=$(nginx_cpu)
	bench_timed "$BENCH_TMP/client.cpu" wrk -t1 -c"$conns" -d"${duration}s" \
		"http://127.0.0.1:$port/" >"$BENCH_TMP/wrk.out" 2>&1
	s1=$(nginx_cpu)
	out=$(cat "$BENCH_TMP/wrk.out")
	MEASURE_CPU=$(awk -v a="$s0" -v b="$s1" -v c="$(cat "$BENCH_TMP/client.cpu")" 'BEGIN {printf "%.4f", b - a + c}')
	MEASURE_RATE=$(sed -nE 's/^Requests\/sec: *([0-9.]+).*/\1/p' <<<"$out")
	MEASURE_COUNT=$(sed -nE 's/^ *([0-9]+) requests in .*/\1/p' <<<"$out")
	grep -q 'Non-2xx' <<<"$out" && bench_log "round $2 ($1): wrk saw non-2xx responses"
}

wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1 # warm-up, not counted
bench_ab "$agent" "$rounds" measure
bench_ab_report overhead_nginx 0.99
