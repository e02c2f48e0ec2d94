#!/usr/bin/env python3
"""Reads what `prescient-agent --print` wrote and checks it (tests/integration, deploy/demo).

As a module (the integration tests' assertions):

    sys.path.insert(0, os.environ["PSC_LIB_DIR"])
    from psc_report import Report, Checks, parse_summary
    rep = Report("agent.jsonl")
    eps = rep.endpoints("/prescient-test-redis-123", role="server")   # summed over windows
    ck = Checks()
    ck.eq("redis SET count", 20000, eps.get(("redis", "SET", "server")).count)
    ck.done()            # prints "assertions: N passed, N failed", exits 1 on any failure

As a command (debugging):

    psc_report.py dump AGENT.jsonl [--cgroup CG]    endpoints per workload, summed
    psc_report.py summary AGENT.jsonl.stderr         the agent's summary line, parsed
"""
import argparse
import json
import re
import sys


class Endpoint:
    """One (protocol, endpoint, role) of one workload, summed over windows."""

    def __init__(self, protocol, endpoint, role):
        self.protocol, self.endpoint, self.role = protocol, endpoint, role
        self.count = self.errors = self.responses = 0
        self.bytes_in = self.bytes_out = 0
        self.windows = 0
        self.latency = []  # (count in that window, {"p50":..,"p90":..,"p99":..})

    def add(self, e):
        self.count += e.get("count", 0)
        self.errors += e.get("errors", 0)
        self.responses += e.get("responses", 0)
        self.bytes_in += e.get("bytes_in", 0)
        self.bytes_out += e.get("bytes_out", 0)
        self.windows += 1
        if e.get("latency_us"):
            self.latency.append((e.get("responses", 0), e["latency_us"]))

    def p50(self):
        """p50 of the window with the most responses (windows are not mergeable here)."""
        if not self.latency:
            return None
        return max(self.latency, key=lambda cl: cl[0])[1].get("p50")

    def __repr__(self):
        return "%s %r (%s): count %d, errors %d, responses %d, in %d B, out %d B, p50 %s us" % (
            self.protocol, self.endpoint, self.role, self.count, self.errors, self.responses,
            self.bytes_in, self.bytes_out, self.p50())


class Report:
    def __init__(self, path):
        self.path = path
        self.lines = []
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    self.lines.append(json.loads(line))
                except ValueError as e:
                    raise SystemExit("%s:%d: not JSON (%s): %.200s" % (path, n, e, line))

    def cgroups(self):
        return sorted({r.get("cgroup") for r in self.lines})

    def records(self, cgroup):
        return [r for r in self.lines if r.get("cgroup") == cgroup]

    def endpoints(self, cgroup, protocol=None, role=None):
        """{(protocol, endpoint, role): Endpoint} for one workload, summed over windows."""
        out = {}
        for r in self.records(cgroup):
            for e in r.get("endpoints") or []:
                if protocol and e.get("protocol") != protocol:
                    continue
                if role and e.get("role") != role:
                    continue
                key = (e.get("protocol"), e.get("endpoint"), e.get("role"))
                if key not in out:
                    out[key] = Endpoint(*key)
                out[key].add(e)
        return out

    def endpoint(self, cgroup, protocol, endpoint, role):
        """The summed Endpoint, or an empty one (count 0) when the agent never reported it."""
        return self.endpoints(cgroup).get((protocol, endpoint, role)) or Endpoint(protocol, endpoint, role)

    def sum_field(self, cgroup, *path):
        """Sum over windows of a numeric field, e.g. sum_field(cg, "syscalls", "accept")."""
        total = 0
        for r in self.records(cgroup):
            v = r
            for p in path:
                v = v.get(p) if isinstance(v, dict) else None
            if isinstance(v, (int, float)):
                total += v
        return total

    def dump(self, cgroup=None, out=sys.stdout):
        for cg in self.cgroups():
            if cgroup and cg != cgroup:
                continue
            recs = self.records(cg)
            print("%s (%s): %d windows, accept %d, connect %d, net rx %d B, tx %d B" % (
                cg, recs[0].get("name"), len(recs), self.sum_field(cg, "syscalls", "accept"),
                self.sum_field(cg, "syscalls", "connect"), self.sum_field(cg, "net_rx_bytes"),
                self.sum_field(cg, "net_tx_bytes")), file=out)
            eps = self.endpoints(cg)
            for key in sorted(eps, key=lambda k: -eps[k].count):
                print("    %r" % eps[key], file=out)


SUMMARY_RE = re.compile(
    r"(?P<events>\d+) events seen, (?P<dropped>\d+) dropped \(ringbuf (?P<ringbuf>\d+), "
    r"socket map (?P<socket_map>\d+), "
    r"cgroup map (?P<cgroup_map>\d+), unreadable (?P<unreadable>\d+)\); "
    r"(?P<requests>\d+) requests, (?P<responses>\d+) responses \((?P<unpaired>\d+) unpaired\)")


def parse_summary(stderr_path):
    """The agent's exit summary line as a dict of ints (plus "line"), or None."""
    with open(stderr_path, errors="replace") as f:
        lines = [l for l in f if "events seen" in l]
    if not lines:
        return None
    m = SUMMARY_RE.search(lines[-1])
    if not m:
        return {"line": lines[-1].strip()}
    d = {k: int(v) for k, v in m.groupdict().items()}
    d["line"] = lines[-1].strip()
    return d


class Checks:
    """Prints one PASS/FAIL line per assertion with expected and actual numbers."""

    def __init__(self, name=""):
        self.name = name
        self.passed = self.failed = 0

    def _report(self, ok, what, detail):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print("%s: %s: %s" % ("PASS" if ok else "FAIL", what, detail), flush=True)
        return ok

    def eq(self, what, expected, actual):
        return self._report(actual == expected, what, "expected %s, got %s" % (expected, actual))

    def within(self, what, expected, actual, rel):
        lo, hi = expected * (1 - rel), expected * (1 + rel)
        return self._report(lo <= actual <= hi, what, "expected %s +-%g%% [%g..%g], got %s" % (
            expected, rel * 100, lo, hi, actual))

    def between(self, what, lo, hi, actual):
        return self._report(lo <= actual <= hi, what, "expected %s..%s, got %s" % (lo, hi, actual))

    def ge(self, what, bound, actual):
        return self._report(actual is not None and actual >= bound, what,
                            "expected >= %s, got %s" % (bound, actual))

    def gt(self, what, bound, actual):
        return self._report(actual is not None and actual > bound, what,
                            "expected > %s, got %s" % (bound, actual))

    def le(self, what, bound, actual):
        return self._report(actual is not None and actual <= bound, what,
                            "expected <= %s, got %s" % (bound, actual))

    def true(self, what, cond, detail=""):
        return self._report(bool(cond), what, detail or ("yes" if cond else "no"))

    def no_drops(self, summary):
        if summary is None:
            return self._report(False, "agent summary line", "missing on stderr")
        if "ringbuf" not in summary:
            return self._report(False, "agent summary line", "unparsed: %s" % summary["line"])
        self.eq("ring-buffer drops (summary)", 0, summary["ringbuf"])
        return self.eq("all drops (summary: %s)" % summary["line"].split(": ", 1)[-1], 0, summary["dropped"])

    def done(self):
        print("%sassertions: %d passed, %d failed" % (self.name + " " if self.name else "",
                                                       self.passed, self.failed), flush=True)
        sys.exit(1 if self.failed else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump", help="endpoints per workload, summed over windows")
    d.add_argument("jsonl")
    d.add_argument("--cgroup")
    s = sub.add_parser("summary", help="the agent's summary line, parsed")
    s.add_argument("stderr")
    a = ap.parse_args()
    if a.cmd == "dump":
        Report(a.jsonl).dump(a.cgroup)
    else:
        print(json.dumps(parse_summary(a.stderr), indent=1))


if __name__ == "__main__":
    main()
