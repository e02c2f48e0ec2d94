#!/usr/bin/env python3
"""The demo's live view of the aggregator's store: every few seconds, the demo's workloads
(CPU, memory, the 1-step forecast band, the CPU limit in effect) and, as they appear, the
alerts and adjustments with their explanations and outcomes.

usage: show_fleet.py DB [--every S] [--cgroup PREFIX] [--duration S]
Reads the SQLite store read-only (WAL lets it read while the aggregator writes)."""
import argparse
import sqlite3
import sys
import time

OUTCOMES = {1: "applied", 2: "dry run", 3: "refused by a guard", 4: "expired",
            5: "bad signature", 6: "replayed", 7: "failed", 8: "reverted", 9: "wrong host"}


def query(db, sql, args=()):
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []  # a table the aggregator has not created yet


def fmt_bytes(v):
    if v is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024:
            return "%.0f %s" % (v, unit)
        v /= 1024
    return "%.1f TiB" % v


def table(db, prefix):
    rows = query(db, """
        SELECT w.id, coalesce(nullif(w.name, ''), w.cgroup),
          (SELECT cpu_s / span_s FROM workload_series s WHERE s.workload_id = w.id AND tier = 0
             ORDER BY ts DESC LIMIT 1),
          (SELECT mem_bytes FROM workload_series s WHERE s.workload_id = w.id AND tier = 0
             ORDER BY ts DESC LIMIT 1),
          (SELECT p10 FROM forecasts f WHERE f.workload_id = w.id AND series = 'cpu'
             ORDER BY horizon_s LIMIT 1),
          (SELECT p90 FROM forecasts f WHERE f.workload_id = w.id AND series = 'cpu'
             ORDER BY horizon_s LIMIT 1),
          l.cpu_max_cores, l.managed
        FROM workloads w LEFT JOIN workload_limits l ON l.workload_id = w.id
        WHERE w.cgroup LIKE ? ORDER BY w.cgroup""", ("/" + prefix + "%",))
    out = ["%-34s %9s %10s %19s %10s" % ("workload", "CPU", "memory", "forecast p10-p90", "cpu limit")]
    for _, name, cpu, mem, p10, p90, lim, managed in rows:
        band = "%.2f-%.2f" % (p10, p90) if p10 is not None and p90 is not None else "learning"
        limit = ("%.2f" % lim if lim and lim > 0 else "none") + (" (managed)" if managed else "")
        out.append("%-34s %9s %10s %19s %10s" % (
            name[:34], "%.3f" % cpu if cpu is not None else "-", fmt_bytes(mem), band, limit))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--every", type=float, default=5)
    ap.add_argument("--cgroup", default="")
    ap.add_argument("--duration", type=float, default=0)
    a = ap.parse_args()
    start = time.time()
    last_alert = last_adj = 0
    outcome_seen = set()
    db = None
    while not a.duration or time.time() - start < a.duration:
        time.sleep(a.every)
        try:
            if db is None:
                db = sqlite3.connect("file:%s?mode=ro" % a.db, uri=True, timeout=5)
        except sqlite3.OperationalError:
            continue
        print("\n=== %s ===" % time.strftime("%H:%M:%S"))
        print(table(db, a.cgroup))
        for aid, kind, text in query(
                db, "SELECT a.id, a.kind, a.text FROM alerts a LEFT JOIN workloads w ON w.id = a.workload_id"
                " WHERE a.id > ? AND (a.workload_id IS NULL OR w.cgroup LIKE ?) ORDER BY a.id",
                (last_alert, "/" + a.cgroup + "%")):
            last_alert = aid
            print("ALERT (%s): %s" % (kind, text))
        for adj_id, wl, reason in query(
                db, "SELECT id, workload, reason FROM adjustments WHERE id > ? ORDER BY id", (last_adj,)):
            last_adj = adj_id
            print("ADJUSTMENT %d for %s: %s" % (adj_id, wl, reason))
        for adj_id, result, detail in query(
                db, "SELECT adjustment_id, result, detail FROM adjustment_outcomes ORDER BY rowid DESC LIMIT 20"):
            if adj_id in outcome_seen:
                continue
            outcome_seen.add(adj_id)
            print("  -> adjustment %d %s by the agent: %s" % (adj_id, OUTCOMES.get(result, str(result)),
                                                            (detail or "")[:160]))
        sys.stdout.flush()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
