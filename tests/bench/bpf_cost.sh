#!/usr/bin/env bash
# In-kernel cost of the agent's BPF programs, from bpf_stats (run_time_ns / run_cnt), next to
# the empty reference program (handle_baseline_empty on sys_enter_getppid) measured in the
# same agent run. Three phases, each read as a bpf_stats delta:
#   1. empty:  N x getppid(2)                         -> ns per run of an empty program
#   2. file:   M x read(/dev/zero) + M x write(/dev/null), no socket traffic
#                                                     -> cost of a filtered-out syscall
#   3. socket: redis-benchmark -t get -c 50 -n R      -> cost of a captured socket event
#              (one enter + one exit run per event; the events come from the agent's `stats`)
# Targets: captured socket event <= empty + 300 ns; filtered-out syscall <= empty + 50 ns
# (per program run).
# Usage: bash tests/bench/bpf_cost.sh [--agent PATH] [--requests R] [--file-syscalls M]
#        [--getppid N]        (agent default: build/agent/prescient-agent, or $PSC_AGENT)
# Runs as root. Sets kernel.bpf_stats_enabled=1 and restores the previous value at exit.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

agent_arg="" requests=200000 file_n=200000 getppid_n=2000000
while [ $# -gt 0 ]; do
	case $1 in
	--agent) agent_arg=$2; shift 2 ;;
	--requests) requests=$2; shift 2 ;;
	--file-syscalls) file_n=$2; shift 2 ;;
	--getppid) getppid_n=$2; shift 2 ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) bench_die "unknown argument '$1' (see --help)" ;;
	esac
done
bench_need redis-server redis-benchmark bpftool python3 cc sysctl
bench_init
bench_agent_path "$agent_arg"
agent=$AGENT

loop=$BENCH_TMP/syscall_loop
cc -O2 -o "$loop" "$bench_here/syscall_loop.c" || bench_die "cannot compile syscall_loop.c"

prev=$(sysctl -n kernel.bpf_stats_enabled) || bench_die "no sysctl kernel.bpf_stats_enabled"
BENCH_RESTORE+=("kernel.bpf_stats_enabled=$prev")
sysctl -q -w kernel.bpf_stats_enabled=1 || bench_die "cannot enable kernel.bpf_stats_enabled"

bench_env_line
echo "agent: $agent"
port=$(bench_free_port)
bench_start_redis "$port"
bench_start_agent "$agent" "$BENCH_TMP/agent"
echo "agent pid $AGENT_PID; redis-server pid $REDIS_PID on 127.0.0.1:$port"

snap() { python3 "$bench_here/bpf_stats.py" snap "$AGENT_PID" >"$BENCH_TMP/$1.json" || bench_die "bpf_stats snapshot failed"; }

snap e0
"$loop" getppid "$getppid_n"
snap e1
sleep 0.2 # let other activity of the redis-benchmark-less host settle
snap f0
"$loop" file "$file_n"
snap f1
snap s0
redis-benchmark -p "$port" -t get -c 50 -n "$requests" -q 2>&1 | tr '\r' '\n' | grep 'GET:' | tail -1
snap s1
bench_stop_agent
echo "agent: $AGENT_SUMMARY"
echo
python3 "$bench_here/bpf_stats.py" report "$BENCH_TMP"/{e0,e1,f0,f1,s0,s1}.json --file-syscalls "$file_n" \
	--requests "$requests"
