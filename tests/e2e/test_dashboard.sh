#!/usr/bin/env bash
# The web dashboard in a real headless Chromium, against a real prescient-aggregator on
# loopback. The aggregator gets 2 hours of synthetic 10-second reports from 2 hosts (5
# workloads) and then a 4x jump in one host's load, models them live (1 s cycles, 10 s
# steps) until forecasts, clusters and a detected shift exist; a limit history, an
# adjustment (signed by psc_issue_adjustment, outcome APPLIED) and its alert are added with
# sqlite3 as an agent and the allocation would have written them. Then:
#  - static serving: / and /static/* with their Content-Type, Cache-Control, ETag (a 304 on
#    If-None-Match), 404 for unknown or traversing paths;
#  - the fleet overview (--dump-dom): a row per workload, clusters, the open alert's text,
#    the adjustment's reason and outcome;
#  - a workload page: CPU and memory plots drawn with usage samples, a forecast band and
#    the limit history (data-points, data-forecast-points, data-limit-points > 0), the
#    detected shift as a marker, the alert and adjustment texts; no JavaScript errors;
#  - screenshots of both pages (1280x900) kept in $PSC_BUILD_DIR/artifacts/;
#  - feedback as an operator gives it (tests/e2e/dashboard_feedback.js over the DevTools
#    protocol): marking the alert wrong asks for the API token (401), then with it the
#    feedback row is stored and the page shows the verdict.
# Skipped (77) without chromium (deploy/setup installs it). Processes stopped by pid only.
set -euo pipefail
PSC_SOURCE_DIR=${PSC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../lib/workload.sh
source "$PSC_SOURCE_DIR/tests/lib/workload.sh"

agg=$PSC_BUILD_DIR/aggregator/prescient-aggregator
send=$PSC_BUILD_DIR/aggregator/psc_send_reports
issue=$PSC_BUILD_DIR/tests/psc_issue_adjustment
for b in "$agg" "$send" "$issue"; do
	[ -x "$b" ] || psc_skip "$b not built"
done
command -v chromium >/dev/null || psc_skip "chromium is not installed (deploy/setup installs it)"
psc_require_cmd sqlite3 python3 curl node

# No cgroups here: the library's work dir and exit hooks only (PSC_KEEP=1 keeps the dir).
PSC_WORK_DIR=$(mktemp -d /tmp/prescient-test.XXXXXX)
trap psc_cleanup EXIT
tmp=$PSC_WORK_DIR
art=$PSC_BUILD_DIR/artifacts
mkdir -p "$art"
fail() {
	[ -f "$tmp/agg.log" ] && tail -20 "$tmp/agg.log" >&2
	psc_die "$*"
}
q() { sqlite3 -cmd '.timeout 5000' "$db" "$1"; }

link=tcp://127.0.0.1:$(psc_free_port)
http_port=$(psc_free_port)
base=http://127.0.0.1:$http_port
db=$tmp/store.db
"$agg" keygen "$tmp/keys" >/dev/null || fail "keygen"
(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/token")
agg_start() {
	"$agg" --listen "$link" --db "$db" --keys "$tmp/keys" --model-interval 1s --model-step 10s \
		--http "127.0.0.1:$http_port" --api-token-file "$tmp/token" >>"$tmp/agg.log" 2>&1 &
	agg_pid=$!
	for _ in $(seq 50); do
		curl -sf "$base/healthz" >/dev/null && break
		sleep 0.1
	done
}
agg_start
psc_on_exit '[ -n "$agg_pid" ] && kill "$agg_pid" && wait "$agg_pid"'
kill -0 "$agg_pid" 2>/dev/null || fail "aggregator exited at start"

# --- static files -------------------------------------------------------------------
hdr() { # url [curl args]: status line and headers
	curl -s -o /dev/null -D - "$@" | tr -d '\r'
}
h=$(hdr "$base/")
grep -q '^HTTP/1.1 200' <<<"$h" || fail "GET /: $h"
grep -qi '^content-type: text/html; charset=utf-8$' <<<"$h" || fail "GET / type: $h"
grep -q '/static/app.js' <<<"$(curl -s "$base/")" || fail "index.html does not load app.js"
for f in app.js:text/javascript style.css:text/css uPlot.iife.min.js:text/javascript \
	uPlot.min.css:text/css index.html:text/html; do
	h=$(hdr "$base/static/${f%%:*}")
	grep -q '^HTTP/1.1 200' <<<"$h" || fail "GET /static/${f%%:*}: $h"
	grep -qi "^content-type: ${f#*:}; charset=utf-8$" <<<"$h" || fail "${f%%:*} type: $h"
	grep -qi '^cache-control: no-cache$' <<<"$h" || fail "${f%%:*} cache-control: $h"
done
h=$(hdr -I "$base/static/style.css")
grep -q '^HTTP/1.1 200' <<<"$h" && grep -qi '^content-type: text/css' <<<"$h" || fail "HEAD: $h"
size=$(curl -s "$base/static/uPlot.iife.min.js" | wc -c)
[ "$size" -gt 20000 ] || fail "uPlot served truncated ($size bytes)"
etag=$(hdr "$base/static/app.js" | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
[ -n "$etag" ] || fail "no ETag on /static/app.js"
h=$(hdr -H "If-None-Match: $etag" "$base/static/app.js")
grep -q '^HTTP/1.1 304' <<<"$h" || fail "If-None-Match did not give 304: $h"
h=$(hdr -H 'If-None-Match: "other"' "$base/static/app.js")
grep -q '^HTTP/1.1 200' <<<"$h" || fail "a stale ETag did not give 200: $h"
for p in /static/nope.js /static/ /static/../metrics /static/node_modules/uplot/package.json; do
	h=$(hdr --path-as-is "$base$p")
	grep -q '^HTTP/1.1 404' <<<"$h" || fail "GET $p is not 404: $h"
done

# --- data: 2 h of 10 s windows from 2 hosts, then a jump in web-1's load -------------
now=$(date +%s)
start=$((now - 7500)) # seq s covers [start + 10 s, start + 10 (s + 1)]
"$send" --connect "$link" --keys "$tmp/keys" --host web-1 --workloads 3 --endpoints 6 \
	--window-s 10 --start-ts "$start" --count 720 --quiet >"$tmp/send1.out" ||
	fail "send web-1: $(cat "$tmp/send1.out")"
"$send" --connect "$link" --keys "$tmp/keys" --host db-1 --workloads 2 --endpoints 4 \
	--window-s 10 --start-ts "$start" --count 748 --quiet >"$tmp/send2.out" ||
	fail "send db-1: $(cat "$tmp/send2.out")"
# The jump goes in once the models hold the history: a jump already in the store when a
# model is first built is part of its warm-up, not a shift.
t0=$SECONDS
for _ in $(seq 240); do
	[ "$(q "SELECT count(*) FROM model_state WHERE steps >= 700" 2>/dev/null || echo 0)" = 5 ] && break
	sleep 1
done
[ "$(q "SELECT count(*) FROM model_state WHERE steps >= 700")" = 5 ] ||
	fail "models of the history: $(q 'SELECT * FROM model_state')"
echo "modeling: the 5 workloads' history modeled after $((SECONDS - t0)) s"
"$send" --connect "$link" --keys "$tmp/keys" --host web-1 --workloads 3 --endpoints 6 \
	--window-s 10 --start-ts "$start" --from 721 --count 28 --rate-scale 4 --quiet \
	>"$tmp/send3.out" || fail "send web-1 shift: $(cat "$tmp/send3.out")"

wid=$(q "SELECT w.id FROM workloads w JOIN hosts h ON h.id = w.host_id
	WHERE h.name = 'web-1' ORDER BY w.id LIMIT 1")
cg=$(q "SELECT cgroup FROM workloads WHERE id = $wid")
name=$(q "SELECT name FROM workloads WHERE id = $wid")
[ -n "$wid" ] && [ -n "$cg" ] && [ -n "$name" ] || fail "no workload of web-1 in the store"

# Limits as the agent reports them (the store's trigger keeps their history): 1 core and
# 768 MiB, raised to 2 cores 4 minutes ago.
q "INSERT OR REPLACE INTO workload_limits (workload_id, ts, managed, cpu_max_cores, cpu_weight,
	memory_min, memory_high, memory_max, egress_bytes_per_s)
	VALUES ($wid, $((now - 7000)), 1, 1.0, 100, 0, 0, 805306368, 0)"
q "UPDATE workload_limits SET ts = $((now - 240)), cpu_max_cores = 2.0 WHERE workload_id = $wid"
[ "$(q "SELECT count(*) FROM limits_history WHERE workload_id = $wid")" = 2 ] ||
	fail "limits_history: $(q 'SELECT * FROM limits_history')"

# An adjustment and its alert, as the allocation writes them; the agent applied it.
reason="Raise cpu.max to 2 cores: requests to GET /api/v1/orders/{id} quadrupled at $(date -d @$((now - 280)) +%H:%M) and the 90% forecast of the next 5 minutes is 1.7 cores."
"$issue" --db "$db" --keys "$tmp/keys" --id 1 --host web-1 --workload "$cg" --cpu 2 \
	--memory-max 805306368 --reason "$reason" --tier surge >/dev/null || fail "psc_issue_adjustment"
q "UPDATE adjustments SET outcome = 1, outcome_detail = 'cpu.max 200000 100000',
	outcome_at = $((now - 240)) WHERE id = 1"
# (texts without single quotes: they go into SQL literals)
alert="CPU of $name jumped to 4x its forecast band (p90 0.5 cores) at $(date -d @$((now - 280)) +%H:%M): a behaviour shift in GET /api/v1/orders/{id}; its CPU limit was raised ahead of the next peak."
q "INSERT INTO alerts (ts, workload_id, host, kind, score, text, adjustment_id)
	VALUES ($((now - 250)), $wid, 'web-1', 'shift', 8.5, '$alert', 1)"

# Live modeling: forecasts for every workload, clusters (every 30 cycles), and the jump
# detected. A few seconds on an idle machine; generous for a loaded one.
ok=
t0=$SECONDS
for _ in $(seq 240); do
	nf=$(q "SELECT count(DISTINCT workload_id) FROM forecasts WHERE series = 'cpu'" 2>/dev/null || echo 0)
	nc=$(q "SELECT count(*) FROM clusters" 2>/dev/null || echo 0)
	nd=$(q "SELECT count(*) FROM detections WHERE workload_id = $wid" 2>/dev/null || echo 0)
	if [ "$nf" = 5 ] && [ "$nc" -gt 0 ] && [ "$nd" -gt 0 ]; then
		ok=1
		break
	fi
	sleep 1
done
[ -n "$ok" ] || fail "modeling: $nf workloads with forecasts, $nc clustered, $nd detections of $wid"
echo "modeling: forecasts, clusters and the shift $((SECONDS - t0)) s after the jump"
curl -sf "$base/api/v1/workloads" >/dev/null || fail "GET /api/v1/workloads"

# --- the pages in Chromium ----------------------------------------------------------
# Virtual time runs the page's timers and fetches to completion without waiting for them.
browse() { # url what [chromium args]: the DOM on stdout, console messages in $tmp/what.log
	local url=$1 what=$2
	shift 2
	timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$tmp/chromium" --enable-logging=stderr --v=0 \
		--virtual-time-budget=4000 "$@" "$url" 2>"$tmp/$what.log"
}
js_errors() {
	grep -E 'CONSOLE.*(Uncaught|Error|Refused)' "$tmp/$1.log" || true
}
browse "$base/" fleet --dump-dom >"$tmp/fleet.html" || fail "chromium (fleet): $(tail -5 "$tmp/fleet.log")"
[ -z "$(js_errors fleet)" ] || fail "JavaScript errors on the overview: $(js_errors fleet)"
browse "$base/#/workload/$wid" workload --dump-dom >"$tmp/workload.html" ||
	fail "chromium (workload): $(tail -5 "$tmp/workload.log")"
[ -z "$(js_errors workload)" ] || fail "JavaScript errors on the workload page: $(js_errors workload)"

curl -sf "$base/api/v1/alerts?limit=50" >"$tmp/alerts.json" || fail "GET /api/v1/alerts"
python3 - "$tmp/fleet.html" "$tmp/workload.html" "$wid" "$alert" "$reason" "$name" \
	"$tmp/alerts.json" <<'PY' || fail "DOM checks"
import json, sys
from html.parser import HTMLParser

class Dom(HTMLParser):
    """Elements with their attributes and the text inside them (nesting-aware)."""
    def __init__(self):
        super().__init__()
        self.els, self.stack = [], []
    def handle_starttag(self, tag, attrs):
        e = {"tag": tag, "attrs": dict(attrs), "text": []}
        self.els.append(e)
        if tag not in ("br", "img", "input", "meta", "link", "col", "hr"):
            self.stack.append(e)
    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()["tag"] == tag:
                break
    def handle_data(self, data):
        for e in self.stack:
            e["text"].append(data)

def load(path):
    d = Dom()
    d.feed(open(path, encoding="utf-8").read())
    for e in d.els:
        e["text"] = " ".join("".join(e["text"]).split())
    return d.els

def by_class(els, cls):
    return [e for e in els if cls in e["attrs"].get("class", "").split()]

def by_id(els, id_):
    m = [e for e in els if e["attrs"].get("id") == id_]
    return m[0] if m else None

fleet, wl = load(sys.argv[1]), load(sys.argv[2])
wid, alert, reason = sys.argv[3], " ".join(sys.argv[4].split()), " ".join(sys.argv[5].split())
name = sys.argv[6]
errors = []
def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        errors.append(what)

rows = by_class(fleet, "workload-row")
check(len(rows) == 5, f"overview: 5 workload rows ({len(rows)})")
def first_cell(row, cls=None):
    i = fleet.index(row)
    return next((e["text"] for e in fleet[i + 1:] if e["tag"] == "td" and
                 (cls is None or cls in e["attrs"].get("class", "").split())), "")
hosts = {first_cell(r) for r in rows}
check(hosts == {"web-1", "db-1"}, f"overview: rows of both hosts ({sorted(hosts)})")
check(any(name in r["text"] and "managed" in r["text"] and "2.00 cores" in r["text"]
          for r in rows), "overview: the managed workload with its limit")
check(len(by_class(fleet, "cluster-row")) > 0, "overview: clusters listed")
# The 8 newest open alerts with their explanations (those of the live allocation too).
api_open = [" ".join(a["text"].split()) for a in json.load(open(sys.argv[7]))["alerts"]
            if not a["feedback"]]
shown = [first_cell(r, "explain") for r in by_class(fleet, "alert-row")]
check(len(shown) == min(8, len(api_open)) and all(t in api_open for t in shown),
      f"overview: open alerts with their explanations ({len(shown)} of {len(api_open)})")
sec = by_id(fleet, "adjustments")
check(sec is not None and reason in sec["text"] and "applied" in sec["text"],
      "overview: the adjustment's reason and outcome")
adj = [e for e in by_class(fleet, "adjustment-row") if e["attrs"].get("data-adjustment-id") == "1"]
i = fleet.index(adj[0]) if adj else -1
link = next((e for e in fleet[i + 1:] if e["tag"] == "a"), None) if adj else None
check(link is not None and link["attrs"].get("href") == f"#/workload/{wid}",
      "overview: the adjustment links to its workload's page")
err = by_id(fleet, "error")
check(err is not None and "hidden" in err["attrs"], "overview: no API error shown")

view = by_id(wl, "view")
check(view is not None and view["attrs"].get("data-workload-id") == wid, "workload page: routed")
for pid in ("plot-cpu", "plot-mem"):
    p = by_id(wl, pid)
    a = p["attrs"] if p else {}
    n = {k: int(a.get(k, "0")) for k in ("data-points", "data-forecast-points",
                                          "data-limit-points", "data-detections")}
    check(n["data-points"] > 100, f"{pid}: usage history drawn ({n['data-points']} points)")
    check(n["data-forecast-points"] > 0, f"{pid}: forecast band drawn ({n['data-forecast-points']})")
    check(n["data-limit-points"] > 0, f"{pid}: limits over time ({n['data-limit-points']})")
    canv = [e for e in wl if e["tag"] == "canvas"]
    check(len(canv) >= 4, f"{pid}: canvases on the page ({len(canv)})")
dets = sum(int((by_id(wl, p) or {"attrs": {}})["attrs"].get("data-detections", "0"))
           for p in ("plot-cpu", "plot-mem", "plot-net", "plot-req"))
check(dets > 0, f"workload page: detected shifts as markers ({dets})")
check(len(by_class(wl, "detection-row")) > 0, "workload page: detections listed")
sec = by_id(wl, "wl-alerts")
check(sec is not None and alert in sec["text"], "workload page: the alert's explanation")
sec = by_id(wl, "wl-adjustments")
check(sec is not None and reason in sec["text"], "workload page: the adjustment's reason")
legend = " ".join(e["text"] for e in by_class(wl, "u-legend"))
check("forecast p90" in legend and "limit cpu.max" in legend, "workload page: plot legends")
sys.exit(1 if errors else 0)
PY

browse "$base/" fleet-shot --window-size=1280,900 --screenshot="$art/dashboard-fleet.png" >/dev/null ||
	fail "screenshot (fleet)"
browse "$base/#/workload/$wid" workload-shot --window-size=1280,900 \
	--screenshot="$art/dashboard-workload.png" >/dev/null || fail "screenshot (workload)"
for f in "$art/dashboard-fleet.png" "$art/dashboard-workload.png"; do
	[ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$f is not a PNG"
	echo "screenshot: $f ($(wc -c <"$f") bytes)"
done

# --- feedback from the page (DevTools protocol: Node's WebSocket, Node >= 20.10) ------
if node --experimental-websocket -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' \
	2>/dev/null; then
	chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$tmp/cdp" \
		--remote-debugging-port=0 about:blank 2>"$tmp/cdp.log" &
	cdp_pid=$!
	psc_on_exit '[ -n "$cdp_pid" ] && kill "$cdp_pid" && wait "$cdp_pid"'
	for _ in $(seq 100); do
		[ -s "$tmp/cdp/DevToolsActivePort" ] && break
		sleep 0.1
	done
	[ -s "$tmp/cdp/DevToolsActivePort" ] || fail "chromium gave no DevTools port: $(tail -3 "$tmp/cdp.log")"
	alert_id=$(q "SELECT id FROM alerts WHERE adjustment_id = 1 AND workload_id = $wid AND kind = 'shift' AND score = 8.5")
	node --experimental-websocket "$PSC_SOURCE_DIR/tests/e2e/dashboard_feedback.js" \
		"$(head -1 "$tmp/cdp/DevToolsActivePort")" "$base/#/workload/$wid" "$alert_id" \
		"$(cat "$tmp/token")" || fail "feedback from the page"
	v=$(q "SELECT group_concat(verdict) FROM feedback WHERE kind = 'alert' AND ref_id = $alert_id")
	[ "$v" = wrong ] || fail "feedback rows of alert $alert_id: '$v' (want one: wrong)"
	grep -q "AGG-API-FEEDBACK" "$tmp/agg.log" || fail "no AGG-API-FEEDBACK in the log"
	kill -TERM "$cdp_pid"
	wait "$cdp_pid" || true
	cdp_pid=
else
	echo "note: feedback from the page not tested: node $(node --version 2>&1) has no WebSocket"
fi

kill -TERM "$agg_pid"
wait "$agg_pid" || fail "aggregator exit status $?"
agg_pid=
echo "PASS"
