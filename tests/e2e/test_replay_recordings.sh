#!/bin/bash
# The agent's whole user-space pipeline (parsers, pairing, windows, JSON report) over
# kernel events captured from real traffic (tests/data/recordings, made by
# tests/tools/make_recordings.sh). Needs no root and no BPF.
set -euo pipefail

agent=$PSC_BUILD_DIR/agent/prescient-agent
rec=$PSC_SOURCE_DIR/tests/data/recordings
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for name in redis http; do
	"$agent" --print --window 1 --replay "$rec/$name.rec" >"$tmp/$name.jsonl" 2>"$tmp/$name.err"
	tail -1 "$tmp/$name.err"
done

# A damaged recording is refused with a clear message and a non-zero exit.
head -c 1000 "$rec/http.rec" >"$tmp/cut.rec"
if "$agent" --print --replay "$tmp/cut.rec" >/dev/null 2>"$tmp/cut.err"; then
	echo "FAIL: a cut recording was accepted"
	exit 1
fi
grep -q "cut short" "$tmp/cut.err" && echo "PASS: cut recording refused: $(head -1 "$tmp/cut.err")"

python3 - "$tmp" <<'PY'
import collections, json, sys

tmp = sys.argv[1]
failed = 0

def load(name):
    count = collections.Counter()
    errors = collections.Counter()
    responses = collections.Counter()
    lat = {}
    for line in open("%s/%s.jsonl" % (tmp, name)):
        w = json.loads(line)
        for f in ("ts", "window_s", "host", "cgroup", "cpu_s", "mem_bytes", "net_rx_bytes",
                  "net_tx_bytes", "psi", "endpoints"):
            assert f in w, "field %s missing" % f
        for e in w["endpoints"]:
            k = (e["protocol"], e["role"], e["endpoint"])
            count[k] += e["count"]
            errors[k] += e["errors"]
            responses[k] += e["responses"]
            lat[k] = e["latency_us"]
    return count, errors, responses, lat

def check(what, expected, actual):
    global failed
    ok = expected == actual
    failed += not ok
    print("%s: %s expected %s, got %s" % ("PASS" if ok else "FAIL", what, expected, actual))

count, errors, responses, lat = load("redis")
for role in ("server", "client"):
    check("redis %s SET" % role, 201, count[("redis", role, "SET")])
    check("redis %s GET" % role, 200, count[("redis", role, "GET")])
    check("redis %s GET responses" % role, 200, responses[("redis", role, "GET")])
    check("redis %s INCR errors" % role, 1, errors[("redis", role, "INCR")])
    check("redis %s GET errors" % role, 0, errors[("redis", role, "GET")])
check("redis GET latency p50 > 0", True, lat[("redis", "server", "GET")]["p50"] > 0)

count, errors, responses, lat = load("http")
for role in ("server", "client"):
    check("http %s GET /api/orders/{id}" % role, 12, count[("http", role, "GET /api/orders/{id}")])
    check("http %s GET /" % role, 5, count[("http", role, "GET /")])
    check("http %s GET /missing/{id}" % role, 3, count[("http", role, "GET /missing/{id}")])
    check("http %s 404 errors" % role, 3, errors[("http", role, "GET /missing/{id}")])
    check("http %s no other endpoints" % role, 20,
          sum(v for k, v in count.items() if k[0] == "http" and k[1] == role))
sys.exit(1 if failed else 0)
PY
