#!/usr/bin/env python3
"""Reads prescient-agent --print JSON Lines on stdin and shows each window as a table.

Every line is passed through unchanged to --raw FILE (if given), so nothing is lost.
Only workloads matching --cgroup SUBSTRING are shown when given (default: all with
endpoints or network traffic)."""
import argparse
import json
import sys
import time


def fmt_bytes(n):
    if n is None:
        return "-"
    for unit in ("B", "K", "M", "G"):
        if abs(n) < 1024:
            return "%.0f%s" % (n, unit)
        n /= 1024.0
    return "%.1fT" % n


def show(batch, args):
    ts = batch[0].get("ts", 0)
    print("\n=== window ending %s (%.1f s) ===" % (
        time.strftime("%H:%M:%S", time.localtime(ts)), batch[0].get("window_s", 0)))
    shown = 0
    for w in sorted(batch, key=lambda w: -(w.get("net_rx_bytes", 0) + w.get("net_tx_bytes", 0))):
        if args.cgroup and args.cgroup not in w["cgroup"]:
            continue
        if not args.cgroup and not w["endpoints"] and not w["net_rx_bytes"]:
            continue
        cpu = w.get("cpu_s")
        print("%-48s cpu %6s s  mem %6s  rx %6s  tx %6s" % (
            w["cgroup"][-48:], "-" if cpu is None else "%.2f" % cpu, fmt_bytes(w.get("mem_bytes")),
            fmt_bytes(w["net_rx_bytes"]), fmt_bytes(w["net_tx_bytes"])))
        for ep in sorted(w["endpoints"], key=lambda e: -e["count"])[: args.top]:
            lat = ep["latency_us"]
            print("    %-8s %-6s %-44s %8d req %5d err  p50 %6d us  p99 %7d us" % (
                ep["protocol"], ep.get("role", ""), ep["endpoint"][:44], ep["count"],
                ep["errors"], lat["p50"], lat["p99"]))
        shown += 1
    if not shown:
        print("(no application traffic in this window)")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--raw", help="also append every JSON line to this file")
    p.add_argument("--cgroup", help="show only cgroups whose path contains this")
    p.add_argument("--top", type=int, default=6, help="endpoints shown per workload")
    args = p.parse_args()
    raw = open(args.raw, "a") if args.raw else None
    batch, batch_ts = [], None
    for line in sys.stdin:
        if raw:
            raw.write(line)
            raw.flush()
        try:
            w = json.loads(line)
        except ValueError:
            continue
        if batch and w.get("ts") != batch_ts:
            show(batch, args)
            batch = []
        batch.append(w)
        batch_ts = w.get("ts")
    if batch:
        show(batch, args)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
