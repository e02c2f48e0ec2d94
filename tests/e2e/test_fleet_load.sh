#!/bin/bash
# Load: many simulated agents against one aggregator on loopback for a while (issue 7).
# AGENTS (default 1000) agents, each one REQ socket with its own dictionary, send one report
# of 20 endpoints per WINDOW seconds (default 10, the agent's default window; the agents'
# first reports spread over the first window) for DURATION seconds (default 120 here; the
# issue's figure is PSC_LOAD_DURATION=600), with live modeling on. Checks: every report
# acknowledged and stored exactly once (the reports table), no refusal, the aggregator's
# memory flat (RSS at the end at most 1.1 x its level at mid-run, or once every workload's
# models exist with live modeling, + the store's 32 MiB page cache + 16 MiB), and prints the
# p99 ack latency.
# Live modeling is off by default here (--model-interval off): it is a load test of the
# fleet link and the store. With PSC_LOAD_MODELING=1 the modeling thread runs too; it
# builds models for the 1000 new workloads over several minutes (each cycle rebuilds
# workloads for at most half its period), so memory is then judged once it holds them all:
# run PSC_LOAD_MODELING=1 PSC_LOAD_DURATION=600 for the issue's figure.
# Environment: PSC_LOAD_AGENTS, PSC_LOAD_DURATION, PSC_LOAD_WINDOW, PSC_LOAD_MODELING.
set -euo pipefail
build=${PSC_BUILD_DIR:?}
agents=${PSC_LOAD_AGENTS:-1000}
duration=${PSC_LOAD_DURATION:-120}
window=${PSC_LOAD_WINDOW:-10}
modeling=${PSC_LOAD_MODELING:-0}
# A sanitizer build keeps freed memory in quarantine and runs several times slower: there
# the fleet is smaller and memory is not judged (leaks are the sanitizer's to find).
sanitized=0
if grep -q '^PRESCIENT_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
	sanitized=1
	agents=${PSC_LOAD_AGENTS:-200}
fi
model_args=(--model-interval off)
[ "$modeling" = 1 ] && model_args=()
aggregator=$build/aggregator/prescient-aggregator
send=$build/aggregator/psc_send_reports
for b in "$aggregator" "$send"; do
	[ -x "$b" ] || { echo "SKIP: $b not built"; exit 77; }
done
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }
# 1000 REQ sockets plus the aggregator's: more descriptors than the usual soft limit.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((agents + 200)) ] || { echo "SKIP: only $(ulimit -n) file descriptors for $agents agents"; exit 77; }

tmp=$(mktemp -d /tmp/prescient-e2e-load.XXXXXX)
agg_pid=
sampler=
cleanup() {
	[ -n "$sampler" ] && kill "$sampler" 2>/dev/null
	[ -n "$agg_pid" ] && kill "$agg_pid" 2>/dev/null && wait "$agg_pid" 2>/dev/null
	[ "${PSC_KEEP:-0}" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$aggregator" keygen "$tmp/keys" >/dev/null
http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$aggregator" --listen "tcp://127.0.0.1:$port" --db "$tmp/db.sqlite" --keys "$tmp/keys" \
	--http "127.0.0.1:$http" --log-level warn "${model_args[@]}" 2>"$tmp/aggregator.log" &
agg_pid=$!
sleep 0.5
kill -0 "$agg_pid" 2>/dev/null || { echo "FAIL: aggregator did not start"; cat "$tmp/aggregator.log"; exit 1; }
(
	while kill -0 "$agg_pid" 2>/dev/null; do
		models=$(curl -s --max-time 2 "http://127.0.0.1:$http/metrics" 2>/dev/null | awk '/^prescient_model_workloads / {print $2}')
		echo "$(date +%s) $(awk '/^VmRSS:/ {print $2}' "/proc/$agg_pid/status" 2>/dev/null) ${models:-0}"
		sleep 2
	done
) >"$tmp/rss" &
sampler=$!

count=$((duration / window))
[ "$count" -ge 1 ] || count=1
echo "load: $agents agents, one report per ${window} s each, $count reports each (${duration} s)"
# nanomsg allows 512 sockets per process: the fleet is split over processes of at most
# 250 agents each (hosts load-P-N).
per=250
procs=$(((agents + per - 1) / per))
pids=()
for ((p = 0; p < procs; p++)); do
	n=$((agents - p * per < per ? agents - p * per : per))
	"$send" --connect "tcp://127.0.0.1:$port" --keys "$tmp/keys" --agents "$n" --host "load-$p" \
		--count "$count" --interval-ms $((window * 1000)) --timeout-ms 60000 >"$tmp/send.$p" &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
cat "$tmp"/send.*
[ "$rc" = 0 ] || { echo "FAIL: simulated agents exited $rc (refusal or timeout)"; exit 1; }
kill -0 "$agg_pid" 2>/dev/null || { echo "FAIL: the aggregator died"; cat "$tmp/aggregator.log"; exit 1; }

stored=$(sqlite3 "$tmp/db.sqlite" "SELECT count(*) FROM reports WHERE host LIKE 'load-%'")
hosts=$(sqlite3 "$tmp/db.sqlite" "SELECT count(DISTINCT host) FROM reports WHERE host LIKE 'load-%'")
expected=$((agents * count))
refusals=$(grep -c 'AGG-REFUSED\|refused' "$tmp/aggregator.log" || true)
python3 - "$tmp/rss" "$stored" "$expected" "$hosts" "$agents" "$refusals" "$modeling" "$sanitized" "$tmp"/send.* <<'PY'
import re, sys
rss_file, stored, expected, hosts, agents, refusals, modeling, sanitized = sys.argv[1:9]
sends = sys.argv[9:]
sanitized = sanitized == "1"
modeling = modeling == "1"
rows = [tuple(map(int, l.split())) for l in open(rss_file) if len(l.split()) == 3]
if len(rows) < 4:
    print("FAIL: too few memory samples")
    sys.exit(1)
# Memory is judged from the moment every workload has its models (the modeling thread
# builds them over its first cycles), or from mid-run if that comes later.
full = next((i for i, r in enumerate(rows) if r[2] >= int(agents)), len(rows) - 1) if modeling else 0
ref = max(full, len(rows) // 2)
q = rows[ref][1]
end = rows[-1][1]
peak = max(r[1] for r in rows)
p99s = [float(m.group(1)) for f in sends for m in [re.search(r"p99 ([0-9.]+) ms", open(f).read())] if m]
p99 = max(p99s) if p99s else float("nan")
print("fleet_load: %s agents, %s of %s reports stored (%s hosts), refusals %s, aggregator RSS %.1f MiB"
      " at the reference -> %.1f MiB at the end (peak %.1f), ack latency p99 %.1f ms (worst process)"
      % (agents, stored, expected, hosts, refusals, q / 1024, end / 1024, peak / 1024, p99)
      + (", models for %d workloads" % rows[-1][2] if modeling else ", live modeling off"))
fails = []
if int(stored) != int(expected): fails.append("stored %s of %s reports" % (stored, expected))
if int(hosts) != int(agents): fails.append("%s hosts stored, expected %s" % (hosts, agents))
if int(refusals): fails.append("%s refusals logged" % refusals)
if modeling and full >= len(rows) - 1: fails.append("the modeling thread never held all %s workloads" % agents)
# The store's page cache (PRAGMA cache_size, 32 MiB) fills as the database grows: growth up
# to that bound is the cache, not a leak.
if not sanitized and end > 1.1 * q + 32768 + 16384: fails.append("memory grew from %d to %d kB after the reference" % (q, end))
if fails:
    print("FAIL: " + "; ".join(fails))
    sys.exit(1)
print("OK")
PY
