#!/usr/bin/env bash
# Overhead of the agent on Redis: redis-benchmark GET throughput without and with
# `prescient-agent --print > /dev/null` running, in interleaved rounds (off, on, off, on, ...)
# against one private redis-server on 127.0.0.1. Prints each round, the medians and the
# ratio with/without (target >= 0.97). The ratio only counts if the agent captured every
# request: its summary (events, drops, requests) is printed next to the GETs issued.
# Usage: bash tests/bench/overhead_redis.sh [--rounds N] [--agent PATH] [--requests N]
#        [--clients N]        (agent default: build/agent/prescient-agent, or $PSC_AGENT)
# Runs as root, from any directory. Starts only its own redis-server (stopped by pid).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rounds=5 agent_arg="" requests=200000 clients=50
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--agent) agent_arg=$2; shift 2 ;;
	--requests) requests=$2; shift 2 ;;
	--clients) clients=$2; shift 2 ;;
	-h|--help) sed -n '2,9p' "$0"; exit 0 ;;
	*) bench_die "unknown argument '$1' (see --help)" ;;
	esac
done
bench_need redis-server redis-benchmark python3 bpftool
bench_init
bench_agent_path "$agent_arg"
agent=$AGENT

port=$(bench_free_port)
bench_start_redis "$port"
bench_env_line
echo "agent: $agent"
echo "redis-server $(redis-server --version | sed -nE 's/.*v=([^ ]+).*/\1/p') pid $REDIS_PID on 127.0.0.1:$port;" \
	"load: redis-benchmark -p $port -t get -c $clients -n $requests -q (no pipelining)"

measure() { # off|on round
	local out s0 s1
	s0=$(bench_proc_cpu_s "$REDIS_PID")
	bench_timed "$BENCH_TMP/client.cpu" redis-benchmark -p "$port" -t get -c "$clients" \
		-n "$requests" -q >"$BENCH_TMP/rb.out" 2>&1
	s1=$(bench_proc_cpu_s "$REDIS_PID")
	out=$(tr '\r' '\n' <"$BENCH_TMP/rb.out" | grep -E '^GET: [0-9.]+ requests per second' | tail -1)
	MEASURE_RATE=$(sed -nE 's/^GET: ([0-9.]+) requests per second.*/\1/p' <<<"$out")
	MEASURE_COUNT=$requests
	MEASURE_CPU=$(awk -v a="$s0" -v b="$s1" -v c="$(cat "$BENCH_TMP/client.cpu")" 'BEGIN {printf "%.4f", b - a + c}')
}

# Warm-up (not counted): the key space, the allocator, the page cache of the binaries.
redis-benchmark -p "$port" -t get -c "$clients" -n $((requests / 10)) -q >/dev/null 2>&1
bench_ab "$agent" "$rounds" measure
bench_ab_report overhead_redis 0.97
