#!/usr/bin/env bash
# The floor of the overhead: what the tracepoint mechanism costs on this host with programs
# that do nothing, beside the real agent, in interleaved rounds of one run. Modes (--modes,
# comma-separated; the order rotates from round to round):
#   off         nothing attached
#   tp          an empty program on every tracepoint the agent's BPF object attaches to
#               (read from the object: exactly the agent's set)
#   tp-exit     the same without its sys_enter_* tracepoints
#   raw         one empty raw_tp program on sys_enter and one on sys_exit (every syscall)
#   raw-exit    one empty raw_tp program on sys_exit only
#   btf-filter  one tp_btf/sys_exit program that tests the syscall number against the
#               agent's set and returns
#   skb         empty cgroup_skb ingress + egress programs on a cgroup v2 directory the script
#               creates (per packet instead of per syscall: what capture on cgroup_skb would
#               pay at least); with skb in the list, servers and clients of every mode run in
#               that cgroup
#   agent       `prescient-agent --print >/dev/null`
#   agent-b     the same with the agent of --agent-b (to compare two builds in one run)
# Each round and mode runs: getuid(2) x N (a syscall nothing hooks: the slow-path cost every
# syscall pays), read+write of 1 byte on /dev/zero,/dev/null x M (hooked, filtered out),
# `redis-benchmark -t get -c 50 -n R` and `wrk -t1 -c10 -dDs` against nginx. Printed per
# mode: ns of CPU per syscall, throughput ratio and CPU-based ratio (without / with CPU
# per request, server + client, + the agent's user space) against `off`, medians over rounds.
# With --profile, after the rounds each mode also runs redis-benchmark under
# `perf record -a -g` and the script prints, per mode, where the CPU of redis-server and
# redis-benchmark went (self time grouped: syscall slow path, perf tracepoint dispatch,
# raw tracepoint dispatch, BPF programs, BPF helpers, ...) in us per GET, and the agent's.
# Usage: bash tests/bench/overhead_floor.sh [--rounds N] [--modes LIST] [--agent PATH]
#        [--agent-b PATH] [--agent-obj capture.bpf.o] [--requests R] [--duration S]
#        [--syscalls N] [--profile]
# Runs as root. Starts only its own redis-server and nginx (stopped by pid).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rounds=5 modes="off,tp,agent,raw" agent_arg="" agent_b="" agent_obj="" requests=200000 duration=5
syscalls=1000000 profile=0
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--modes) modes=$2; shift 2 ;;
	--agent) agent_arg=$2; shift 2 ;;
	--agent-b) agent_b=$2; shift 2 ;;
	--agent-obj) agent_obj=$2; shift 2 ;;
	--requests) requests=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--syscalls) syscalls=$2; shift 2 ;;
	--profile) profile=1; shift ;;
	-h|--help) sed -n '2,34p' "$0"; exit 0 ;;
	*) bench_die "unknown argument '$1' (see --help)" ;;
	esac
done
bench_need redis-server redis-benchmark wrk python3 bpftool clang cc
bench_init
bench_agent_path "$agent_arg"
agent=$AGENT
[ -n "$agent_obj" ] || agent_obj=$(dirname "$agent")/../bpf/capture.bpf.o
[ -f "$agent_obj" ] || bench_die "no agent BPF object at $agent_obj (pass --agent-obj)"
IFS=, read -r -a mode_list <<<"$modes"
[ "${mode_list[0]}" = off ] || bench_die "--modes must start with off (the reference)"

clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I"$bench_repo/bpf/vmlinux/x86" \
	-c "$bench_here/floor.bpf.c" -o "$BENCH_TMP/floor.bpf.o" || bench_die "cannot build floor.bpf.c"
cc -O2 -o "$BENCH_TMP/floor_loader" "$bench_here/floor_loader.c" -lbpf || bench_die "cannot build floor_loader.c"
cc -O2 -o "$BENCH_TMP/syscall_loop" "$bench_here/syscall_loop.c" || bench_die "cannot build syscall_loop.c"

CG_RUN=()
case ",$modes," in *,skb,*) bench_make_cgroup; CG_RUN=("${BENCH_WRAP[@]}") ;; esac

rport=$(bench_free_port)
bench_start_redis "$rport"
nport=$(bench_free_port)
bench_start_nginx "$nport"
bench_env_line
echo "agent: $agent (object $agent_obj)"
echo "redis-server pid $REDIS_PID on 127.0.0.1:$rport, load redis-benchmark -t get -c 50 -n $requests -q;" \
	"$NGINX_VERSION pid $NGINX_PID on 127.0.0.1:$nport, load wrk -t1 -c10 -d${duration}s"

FLOOR_PID=""
start_mode() { # mode round
	case $1 in
	off) ;;
	agent) bench_start_agent "$agent" "$BENCH_TMP/agent.$2" ;;
	agent-b)
		[ -n "$agent_b" ] || bench_die "mode agent-b needs --agent-b PATH"
		bench_start_agent "$agent_b" "$BENCH_TMP/agent-b.$2"
		;;
	*)
		local target=$agent_obj
		[ "$1" = skb ] && target=$BENCH_CG
		"$BENCH_TMP/floor_loader" "$1" "$BENCH_TMP/floor.bpf.o" "$target" 2>"$BENCH_TMP/floor.err" &
		FLOOR_PID=$!
		BENCH_PIDS+=("$FLOOR_PID")
		for _ in $(seq 100); do
			grep -q FLOOR-LOADED "$BENCH_TMP/floor.err" && break
			kill -0 "$FLOOR_PID" 2>/dev/null || break
			sleep 0.1
		done
		grep -q FLOOR-LOADED "$BENCH_TMP/floor.err" || { cat "$BENCH_TMP/floor.err" >&2; bench_die "floor_loader $1 failed"; }
		;;
	esac
}
stop_mode() { # mode
	case $1 in
	off) ;;
	agent|agent-b) bench_stop_agent ;;
	*) kill -INT "$FLOOR_PID"; wait "$FLOOR_PID" 2>/dev/null; bench_forget_pid "$FLOOR_PID" ;;
	esac
}
extra_cpu() { # mode: CPU seconds of the mode's own process so far (the agent's user space)
	if [ "${1%-b}" = agent ]; then bench_proc_cpu_s "$AGENT_PID"; else echo 0; fi
}

rows=$BENCH_TMP/rows.tsv # round mode bench rate count cpu_s extra_cpu_s
run_redis() {
	local s0 s1 out
	s0=$(bench_proc_cpu_s "$REDIS_PID")
	bench_timed "$BENCH_TMP/c.cpu" "${CG_RUN[@]}" redis-benchmark -p "$rport" -t get -c 50 -n "$requests" -q >"$BENCH_TMP/rb.out" 2>&1
	s1=$(bench_proc_cpu_s "$REDIS_PID")
	RATE=$(tr '\r' '\n' <"$BENCH_TMP/rb.out" | sed -nE 's/^GET: ([0-9.]+) requests per second.*/\1/p' | tail -1)
	COUNT=$requests
	CPU=$(awk -v a="$s0" -v b="$s1" -v c="$(cat "$BENCH_TMP/c.cpu")" 'BEGIN {printf "%.4f", b - a + c}')
}
run_nginx() {
	local s0 s1
	s0=$(bench_pids_cpu_s "${NGINX_PIDS[@]}")
	bench_timed "$BENCH_TMP/c.cpu" "${CG_RUN[@]}" wrk -t1 -c10 -d"${duration}s" "http://127.0.0.1:$nport/" >"$BENCH_TMP/wrk.out" 2>&1
	s1=$(bench_pids_cpu_s "${NGINX_PIDS[@]}")
	RATE=$(sed -nE 's/^Requests\/sec: *([0-9.]+).*/\1/p' "$BENCH_TMP/wrk.out")
	COUNT=$(sed -nE 's/^ *([0-9]+) requests in .*/\1/p' "$BENCH_TMP/wrk.out")
	CPU=$(awk -v a="$s0" -v b="$s1" -v c="$(cat "$BENCH_TMP/c.cpu")" 'BEGIN {printf "%.4f", b - a + c}')
}
run_loop() { # kind n
	bench_timed "$BENCH_TMP/c.cpu" "${CG_RUN[@]}" "$BENCH_TMP/syscall_loop" "$1" "$2"
	RATE=0 COUNT=$2 CPU=$(cat "$BENCH_TMP/c.cpu")
}

redis-benchmark -p "$rport" -t get -c 50 -n $((requests / 10)) -q >/dev/null 2>&1 # warm-up
wrk -t1 -c10 -d1s "http://127.0.0.1:$nport/" >/dev/null 2>&1
n=${#mode_list[@]}
for r in $(seq "$rounds"); do
	for k in $(seq 0 $((n - 1))); do
		mode=${mode_list[$(((k + r - 1) % n))]}
		bench_wait_quiet || true
		foreign=$(bench_foreign_progs)
		start_mode "$mode" "$r"
		line="round $r $(printf '%-10s' "$mode")"
		for b in getuid file redis nginx; do
			e0=$(extra_cpu "$mode")
			case $b in
			getuid) run_loop getuid "$syscalls" ;;
			file) run_loop file $((syscalls / 2)) ;;
			redis) run_redis ;;
			nginx) run_nginx ;;
			esac
			e1=$(extra_cpu "$mode")
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$mode" "$b" "$RATE" "$COUNT" "$CPU" \
				"$(awk -v a="$e0" -v b="$e1" 'BEGIN {printf "%.4f", b - a}')" >>"$rows"
			case $b in
			getuid) line+=$(awk -v c="$CPU" -v n="$COUNT" 'BEGIN {printf "  getuid %.0f ns", c * 1e9 / n}') ;;
			file) line+=$(awk -v c="$CPU" -v n="$COUNT" 'BEGIN {printf "  read+write %.0f ns", c * 1e9 / n}') ;;
			*) line+=$(awk -v b="$b" -v x="$RATE" -v c="$CPU" -v n="$COUNT" 'BEGIN {printf "  %s %.0f/s %.2f us", b, x, c * 1e6 / n}') ;;
			esac
		done
		stop_mode "$mode"
		[ "${mode%-b}" = agent ] && line+="  [$AGENT_SUMMARY]"
		[ "$foreign" -gt 0 ] && line+="  (warning: $foreign BPF programs of another agent attached)"
		echo "$line"
	done
done
echo
if [ "$profile" = 1 ]; then
	bench_need perf
	for mode in "${mode_list[@]}"; do
		start_mode "$mode" p
		perf record -a -g -F 1999 -o "$BENCH_TMP/perf.$mode" -- \
			"${CG_RUN[@]}" redis-benchmark -p "$rport" -t get -c 50 -n "$requests" -q >/dev/null 2>&1
		stop_mode "$mode"
		perf report -i "$BENCH_TMP/perf.$mode" --no-children --sort comm,sym --stdio -F overhead,sample,comm,sym \
			2>/dev/null >"$BENCH_TMP/perf.$mode.txt"
	done
	python3 "$bench_here/perf_groups.py" "$requests" "$BENCH_TMP" "${mode_list[@]}"
	echo
fi
python3 - "$rows" <<'PYEOF'
import statistics as st, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
data = {}  # (mode, bench) -> {round: (rate, cpu_us_per_op)}
modes = []
for r, mode, b, rate, count, cpu, extra in rows:
    if mode not in modes:
        modes.append(mode)
    per = (float(cpu) + float(extra)) / float(count)
    data.setdefault((mode, b), {})[int(r)] = (float(rate), per)
def med(x):
    return st.median(x) if x else float("nan")
print("per-syscall CPU (ns, median over rounds; client process only):")
for m in modes:
    g = med([v[1] * 1e9 for v in data[(m, "getuid")].values()])
    f = med([v[1] * 1e9 for v in data[(m, "file")].values()])
    g0 = med([v[1] * 1e9 for v in data[("off", "getuid")].values()])
    f0 = med([v[1] * 1e9 for v in data[("off", "file")].values()])
    print(f"  {m:10s} getuid {g:6.0f} (+{g - g0:4.0f})   read+write pair {f:6.0f} (+{f - f0:4.0f})")
summ = []
for b, target in (("redis", 0.97), ("nginx", 0.99)):
    print(f"{b}: per mode, median throughput, CPU us per request (server + client + agent user space), ratios to off (per round, then median)")
    off = data[("off", b)]
    for m in modes:
        d = data[(m, b)]
        tr = [d[r][0] / off[r][0] for r in d if r in off]
        cr = [off[r][1] / d[r][1] for r in d if r in off]
        print(f"  {m:10s} {med([v[0] for v in d.values()]):9.0f}/s  {med([v[1] * 1e6 for v in d.values()]):6.2f} us"
              f"  throughput ratio {med(tr):.3f} ({' '.join('%.3f' % x for x in tr)})"
              f"  CPU ratio {med(cr):.3f} ({' '.join('%.3f' % x for x in cr)})")
        if m != "off":
            summ.append(f"{b} {m} {med(tr):.3f}/{med(cr):.3f}")
print("overhead_floor summary: throughput/CPU-based ratio to off, medians: " + ", ".join(summ) +
      " (targets: redis >= 0.97, nginx >= 0.99)")
PYEOF
