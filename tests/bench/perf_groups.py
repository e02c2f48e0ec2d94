#!/usr/bin/env python3
"""Where the CPU of a redis-benchmark run went, per mode of overhead_floor.sh --profile.

  perf_groups.py REQUESTS DIR MODE...   reads DIR/perf.MODE.txt (`perf report --no-children
                                        --sort comm,sym --stdio -F overhead,sample,comm,sym`)
                                        and prints, per mode, the samples of redis-server and
                                        redis-benchmark (and of the agent) grouped by what the
                                        symbol does, as a share of all samples and as us per
                                        GET (samples / 1999 Hz / REQUESTS), beside `off`.
"""
import re
import sys

HZ = 1999
GROUPS = [  # (group, regex on the symbol); the first match wins. Deltas against `off` count:
    # the kernel uses some of these symbols without BPF (usercopy checks, the clock).
    ("BPF programs", r"^bpf_prog_[0-9a-f]{16}"),
    ("perf tracepoint dispatch", r"perf_syscall_|perf_trace_|trace_call_bpf|perf_tp_|perf_swevent|perf_fetch_caller_regs"),
    ("raw tracepoint dispatch", r"bpf_trace_run|__bpf_trace_|__traceiter|migrate_(en|dis)able|__rcu_read_(un)?lock"),
    ("syscall slow path", r"syscall_trace_enter|syscall_exit_work|trace_sys_|syscall_get_nr|audit_"),
    ("BPF ring buffer", r"ringbuf"),
    ("BPF user reads", r"probe_read_user|copy_from_user_nofault"),
    ("usercopy checks", r"__check_object_size|check_heap_object|__virt_addr_valid"),
    ("clock", r"read_tsc|ktime_get|kvm_clock|pvclock"),
    ("BPF other helpers", r"^bpf_|htab_|array_map|task_pt_regs"),
]


def parse(path):
    """{(comm, group): samples}, total samples."""
    out, total = {}, 0
    for line in open(path, errors="replace"):
        m = re.match(r"\s*([\d.]+)%\s+(\d+)\s+(\S+)\s+\[[k.]\]\s+(\S+)", line)
        if not m:
            continue
        n, comm, sym = int(m.group(2)), m.group(3), m.group(4)
        total += n
        if comm.startswith("redis-") or comm == "prescient-agent":
            who = "agent" if comm == "prescient-agent" else "redis"
            group = "kernel, other" if "[k]" in line else "user space"
            for g, rx in GROUPS:
                if re.search(rx, sym):
                    group = g
                    break
            out[(who, group)] = out.get((who, group), 0) + n
    return out, total


def main():
    requests, d, modes = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    data = {m: parse(f"{d}/perf.{m}.txt")[0] for m in modes}
    groups = [g for g, _ in GROUPS] + ["kernel, other", "user space"]
    us = lambda n: n / HZ / requests * 1e6
    print(f"perf record -a -g -F {HZ} during redis-benchmark -t get -c 50 -n {requests}: CPU of "
          "redis-server + redis-benchmark, us per GET, by self-time group")
    print(f"  {'group':<26}" + "".join(f"{m:>12}" for m in modes))
    for g in groups:
        print(f"  {g:<26}" + "".join(f"{us(data[m].get(('redis', g), 0)):>12.3f}" for m in modes))
    tot = {m: sum(v for (w, _), v in data[m].items() if w == "redis") for m in modes}
    print(f"  {'total':<26}" + "".join(f"{us(tot[m]):>12.3f}" for m in modes))
    ag = {m: sum(v for (w, _), v in data[m].items() if w == "agent") for m in modes}
    print(f"  {'prescient-agent (all)':<26}" + "".join(f"{us(ag[m]):>12.3f}" for m in modes))


if __name__ == "__main__":
    main()
