#!/usr/bin/env python3
"""bpf_stats snapshots of one agent's BPF programs, and the cost report of bpf_cost.sh.

  bpf_stats.py snap AGENT_PID            JSON on stdout: per program (by name) its id,
                                          run_time_ns and run_cnt, plus the agent's `stats`
                                          and `drops` per-CPU arrays (summed over CPUs)
  bpf_stats.py report EMPTY0 EMPTY1 FILE0 FILE1 SOCK0 SOCK1 [--file-syscalls N]
                                          prints the per-program table and the derived
                                          costs; the last line is the summary

The agent's programs are found exactly: the prog_id and map_id lines of
/proc/AGENT_PID/fdinfo/* (bpftool here cannot show which process holds a program).
Needs kernel.bpf_stats_enabled=1 while the phases run.
"""
import json
import os
import subprocess
import sys

NOT_IO = {"connect", "close", "accept", "accept4"}


def io_syscalls(names):
    """Syscalls with an exit program that are data syscalls (read, write, readv, ...,
    sendmmsg), whatever the agent attaches today (with or without an enter program)."""
    exits = {n[len("handle_exit_"):] for n in names if n.startswith("handle_exit_")}
    return sorted(exits - NOT_IO)
STAT_EVENTS = 0
STAT_MIRRORED = 4  # data syscalls of a linked local client: looked up, not captured
DROP_NAMES = ["ringbuf", "socket map", "cgroup map", "unreadable"]


def fd_ids(pid):
    progs, maps = set(), set()
    base = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(base):
        try:
            with open(os.path.join(base, fd)) as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            k, _, v = line.partition(":")
            if k == "prog_id":
                progs.add(int(v))
            elif k == "map_id":
                maps.add(int(v))
    return progs, maps


def bpftool(*args):
    out = subprocess.run(["bpftool", *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def percpu_array(map_id):
    vals = {}
    for e in bpftool("map", "dump", "id", str(map_id)):
        if "formatted" in e:
            key = e["formatted"]["key"]
            vals[key] = sum(v["value"] for v in e["formatted"]["values"])
        else:
            key = int.from_bytes(bytes(int(b, 16) for b in e["key"]), "little")
            vals[key] = sum(int.from_bytes(bytes(int(b, 16) for b in v["value"]), "little")
                            for v in e["values"])
    return [vals.get(i, 0) for i in range(max(vals) + 1)] if vals else []


def snap(pid):
    progs, maps = fd_ids(pid)
    out = {"progs": {}, "stats": [], "drops": []}
    for p in bpftool("prog", "show"):
        if p["id"] in progs:
            out["progs"][p["name"]] = {
                "id": p["id"],
                "run_time_ns": p.get("run_time_ns", 0),
                "run_cnt": p.get("run_cnt", 0),
            }
    for m in bpftool("map", "show"):
        if m["id"] in maps and m.get("name") in ("stats", "drops"):
            out[m["name"]] = percpu_array(m["id"])
    json.dump(out, sys.stdout)
    print()


def load(path):
    with open(path) as f:
        return json.load(f)


def delta(a, b):
    d = {}
    for name, pb in b["progs"].items():
        pa = a["progs"].get(name, {"run_time_ns": 0, "run_cnt": 0})
        d[name] = (pb["run_time_ns"] - pa["run_time_ns"], pb["run_cnt"] - pa["run_cnt"])
    def stat(m, i):
        return m["stats"][i] if len(m["stats"]) > i else 0
    ev = stat(b, STAT_EVENTS) - stat(a, STAT_EVENTS)
    mirrored = stat(b, STAT_MIRRORED) - stat(a, STAT_MIRRORED)
    drops = [y - x for x, y in zip(a["drops"], b["drops"])] if a["drops"] else []
    return d, ev, drops, mirrored


def per_run(t):
    ns, cnt = t
    return ns / cnt if cnt else float("nan")


def fmt(x):
    return "-" if x != x else f"{x:.0f}"


def report_per_syscall(names, d_file, d_sock, ev_sock, ev_file, mirrored, file_syscalls):
    """One program per sys_exit_* tracepoint: returns (filtered ns per program run, captured
    ns per event)."""
    # Filtered-out syscalls: read/write on /dev/zero and /dev/null (not sockets). A syscall
    # costs its enter program (if the agent attaches one) plus its exit program.
    io = io_syscalls(names)
    io_names = [f"handle_{k}_{s}" for s in io for k in ("enter", "exit")]
    filt = {}
    for s in ("read", "write"):
        en, ex = d_file.get(f"handle_enter_{s}", (0, 0)), d_file.get(f"handle_exit_{s}", (0, 0))
        filt[s] = (per_run(en), per_run(ex), en[1], ex[1])
    runs = [v for s in filt for v in filt[s][:2] if v == v]
    filtered_run = max(runs) if runs else float("nan")
    f_ns = sum(d_file.get(n, (0, 0))[0] for n in io_names if n.endswith(("_read", "_write")))
    f_sys = sum(d_file.get(f"handle_exit_{s}", (0, 0))[1] for s in ("read", "write"))
    filtered_syscall = f_ns / f_sys if f_sys else float("nan")
    print("filtered-out syscall (read/write on a non-socket fd; file I/O phase, "
          f"{file_syscalls or '?'} reads + {file_syscalls or '?'} writes issued, "
          f"{ev_file} events captured meanwhile):")
    for s, (en, ex, cen, cex) in filt.items():
        total = (en if cen else 0) + ex
        progs = f"enter {en:.0f} ns/run ({cen} runs), " if cen else "no enter program, "
        print(f"  {s:<5}: {progs}exit {ex:.0f} ns/run ({cex} runs): {total:.0f} ns per syscall")

    # Captured socket events: each is one run of an I/O syscall's programs that produced an
    # event; the other runs of those programs are charged at the filtered cost per syscall.
    # Runs of a linked local client (mirrored: the server's end is captured for both) cost a
    # socket lookup; they are charged at the ns/run of the cheapest busy I/O program (in the
    # redis phase: redis-benchmark's sendto/recvfrom, all mirrored once linked).
    s_ns = sum(d_sock.get(n, (0, 0))[0] for n in io_names)
    s_sys = sum(d_sock.get(f"handle_exit_{s}", (0, 0))[1] for s in io)
    busy = [per_run(d_sock[f"handle_exit_{s}"]) for s in io
            if d_sock.get(f"handle_exit_{s}", (0, 0))[1] > 1000]
    mirrored_run = max(filtered_syscall, min(busy)) if busy and mirrored else 0.0
    other = max(0, s_sys - ev_sock - mirrored)
    captured = ((s_ns - filtered_syscall * other - mirrored_run * mirrored) / ev_sock
                if ev_sock else float("nan"))
    print(f"captured socket events (socket phase): {ev_sock} events, {s_sys} I/O syscalls hooked "
          f"({mirrored} of a linked local client, charged at {mirrored_run:.0f} ns; {other} "
          f"others not producing an event, charged at the filtered cost "
          f"{filtered_syscall:.0f} ns per syscall)")
    if ev_sock:
        print(f"  all I/O program time of the phase per captured event: {s_ns / ev_sock:.0f} ns "
              f"(upper bound)")
    for s in io:
        en, ex = d_sock.get(f"handle_enter_{s}", (0, 0)), d_sock.get(f"handle_exit_{s}", (0, 0))
        if ex[1] > 1000:
            progs = f"enter {per_run(en):.0f} ns/run, " if en[1] else ""
            print(f"  {s:<8}: {progs}exit {per_run(ex):.0f} ns/run ({ex[1]} runs)")
    return filtered_run, captured


def report_one_exit(d_empty, d_file, d_sock, ev_sock, mirrored, file_syscalls):
    """One tp_btf/sys_exit program for every syscall (handle_sys_exit): it also runs on the
    syscalls it does not hook. Its ns/run in the getppid phase is the cost of an unhooked
    syscall, in the file phase (nearly all runs are the loop's read/write) the cost of a
    filtered-out one. In the socket phase, runs that produced no event are charged at the
    filtered cost (mirrored runs of a linked client go further, to the socket lookup: the
    captured figure is an upper bound). Returns (filtered, captured)."""
    one = "handle_sys_exit"
    unhooked = per_run(d_empty.get(one, (0, 0)))
    filtered = per_run(d_file.get(one, (0, 0)))
    print(f"syscall exits in one tp_btf/sys_exit program (handle_sys_exit), run on every syscall:")
    print(f"  unhooked syscall (getppid phase): {unhooked:.0f} ns/run")
    print(f"  filtered-out read/write (file I/O phase, {file_syscalls or '?'} of each issued): "
          f"{filtered:.0f} ns/run")
    ns, runs = d_sock.get(one, (0, 0))
    other = max(0, runs - ev_sock)
    captured = (ns - filtered * other) / ev_sock if ev_sock else float("nan")
    print(f"captured socket events (socket phase): {ev_sock} events in {runs} runs ({mirrored} "
          f"of them syscalls of a linked local client; the {other} runs without an event are "
          f"charged at {filtered:.0f} ns); all of the program's time per event "
          f"{ns / ev_sock if ev_sock else float('nan'):.0f} ns (upper bound)")
    return filtered, captured


def report(argv):
    file_syscalls = None
    if "--file-syscalls" in argv:
        i = argv.index("--file-syscalls")
        file_syscalls = int(argv[i + 1])
        del argv[i:i + 2]
    requests = None
    if "--requests" in argv:
        i = argv.index("--requests")
        requests = int(argv[i + 1])
        del argv[i:i + 2]
    e0, e1, f0, f1, s0, s1 = (load(p) for p in argv)
    d_empty, _, _, _ = delta(e0, e1)
    d_file, ev_file, _, _ = delta(f0, f1)
    d_sock, ev_sock, drops_sock, mirrored = delta(s0, s1)

    base = d_empty.get("handle_baseline_empty")
    if not base or base[1] == 0:
        sys.exit("bpf_cost: the empty reference program did not run (is handle_baseline_empty "
                 "attached, and kernel.bpf_stats_enabled=1?)")
    empty = per_run(base)

    names = sorted(set(d_empty) | set(d_file) | set(d_sock))
    print(f"{'program':<24} {'empty phase':>20} {'file I/O phase':>22} {'socket phase':>22}")
    print(f"{'':<24} {'runs':>10} {'ns/run':>9} {'runs':>12} {'ns/run':>9} {'runs':>12} {'ns/run':>9}")
    for n in names:
        a, b, c = (d.get(n, (0, 0)) for d in (d_empty, d_file, d_sock))
        print(f"{n:<24} {a[1]:>10} {fmt(per_run(a)):>9} {b[1]:>12} {fmt(per_run(b)):>9} "
              f"{c[1]:>12} {fmt(per_run(c)):>9}")
    print()
    print(f"empty reference program (handle_baseline_empty on sys_enter_getppid): {empty:.0f} ns/run "
          f"over {base[1]} runs")

    if "handle_sys_exit" in names:
        filtered_run, captured = report_one_exit(d_empty, d_file, d_sock, ev_sock, mirrored,
                                                 file_syscalls)
    else:
        filtered_run, captured = report_per_syscall(names, d_file, d_sock, ev_sock, ev_file,
                                                    mirrored, file_syscalls)
    print(f"  captured event (all programs of its syscall): {captured:.0f} ns = empty + "
          f"{captured - empty:.0f} ns")
    if requests:
        # What a request costs in the kernel, whichever end captures it: every program of
        # the agent (both ends' I/O, accept/connect/close) over the phase, per GET issued.
        all_ns = sum(v[0] for v in d_sock.values())
        print(f"  all agent programs per request issued: {all_ns / requests:.0f} ns "
              f"({requests} requests)")
    if drops_sock and any(drops_sock):
        print("  drops during the socket phase: " + ", ".join(
            f"{n} {v}" for n, v in zip(DROP_NAMES, drops_sock) if v))

    cap_ok = captured <= empty + 300
    filt_ok = filtered_run <= empty + 50
    print()
    print(f"bpf_cost summary: empty {empty:.0f} ns/run; captured socket event {captured:.0f} ns "
          f"(empty + {captured - empty:.0f}, target <= empty + 300: "
          f"{'PASS' if cap_ok else 'FAIL'}); filtered-out syscall {filtered_run:.0f} ns per program "
          f"run (empty + {filtered_run - empty:.0f}, target <= empty + 50: "
          f"{'PASS' if filt_ok else 'FAIL'})")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "snap":
        snap(int(sys.argv[2]))
    elif len(sys.argv) >= 8 and sys.argv[1] == "report":
        report(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
