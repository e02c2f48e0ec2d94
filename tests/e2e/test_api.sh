#!/usr/bin/env bash
# The aggregator's JSON API end to end (README.md, "HTTP API"): a real aggregator on
# loopback with --http and --api-token-file, reports from psc_send_reports, live modeling,
# one signed adjustment; every endpoint answered and its JSON checked with python3; the
# token refused when absent or wrong and accepted when right; a group-readable token file
# refused at start; 413, 404, 405; without --api-token-file writes answer 403.
set -euo pipefail

# shellcheck source=../lib/api_fleet.sh
source "${PSC_SOURCE_DIR:?}/tests/lib/api_fleet.sh"
fleet_start
tmp=$FLEET_TMP
url=$FLEET_URL
auth="Authorization: Bearer $FLEET_TOKEN"

# get PATH [CURL ARGS...]: the body in $tmp/body, the status printed.
req() {
	local path=$1
	shift
	curl -sS -o "$tmp/body" -w '%{http_code}' "$@" "$url$path"
}
# check STATUS WANT PYTHON-EXPR: the expression over j (the parsed body) must hold.
check() {
	local what=$1 status=$2 want=$3 expr=$4
	[ "$status" = "$want" ] || fleet_fail "$what: status $status, wanted $want: $(head -c 300 "$tmp/body")"
	python3 - "$tmp/body" "$expr" <<'EOF' || fleet_fail "$what: $(head -c 600 "$tmp/body")"
import json, sys
j = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
if not ok:
    print("check failed:", sys.argv[2])
    sys.exit(1)
EOF
	echo "ok: $what"
}

# --- reads (open on loopback) ---
s=$(req /api/v1/workloads)
check "GET /api/v1/workloads" "$s" 200 \
	'len(j["workloads"]) == 2 and all(w["host"] == "e2e-api" and w["cpu_cores"] > 0 and w["mem_bytes"] > 0 and w["managed"] is False and "limits" in w and w["open_alerts"] == 0 for w in j["workloads"]) and j["workloads"][0]["cgroup"] == "/system.slice/shop-0.service"'
s=$(req /api/v1/workloads/1)
check "GET /api/v1/workloads/1" "$s" 200 \
	'j["workload"]["id"] == 1 and len(j["history"]["ts"]) == 100 and len(j["history"]["cpu_cores"]) == 100 and all(v > 0 for v in j["history"]["req_per_s"]) and {f["series"] for f in j["forecasts"]} >= {"cpu", "mem"} and all(f["p10"] <= f["p50"] <= f["p90"] for f in j["forecasts"]) and len(j["endpoints"]) >= 1 and sum(e["count"] for e in j["endpoints"]) > 0 and [a["id"] for a in j["adjustments"]] == ['"$FLEET_ADJ_ID"'] and isinstance(j["detections"], list) and isinstance(j["limits_history"], list)'
since=$(python3 -c 'import json; j=json.load(open("'"$tmp/body"'")); print(j["history"]["ts"][89])')
s=$(req "/api/v1/workloads/1?since=$since&tier=raw")
check "GET /api/v1/workloads/1?since" "$s" 200 'len(j["history"]["ts"]) == 11'
s=$(req "/api/v1/workloads/1?tier=1h")
check "GET /api/v1/workloads/1?tier=1h" "$s" 200 'j["tier"] == "1h"'
s=$(req "/api/v1/workloads/1?tier=week")
check "bad tier" "$s" 400 'j["field"] == "tier"'
s=$(req /api/v1/workloads/999)
check "unknown workload" "$s" 404 'j["field"] == "id" and "999" in j["error"]'
s=$(req /api/v1/clusters)
check "GET /api/v1/clusters" "$s" 200 'isinstance(j["clusters"], list) and isinstance(j["moves"], list) and all(set(c) >= {"cluster", "method", "quality", "members"} for c in j["clusters"])'
s=$(req "/api/v1/alerts?limit=5")
check "GET /api/v1/alerts" "$s" 200 'isinstance(j["alerts"], list)'
s=$(req "/api/v1/alerts?limit=5000")
check "bad limit" "$s" 400 'j["field"] == "limit"'
s=$(req /api/v1/adjustments)
check "GET /api/v1/adjustments" "$s" 200 \
	'len(j["adjustments"]) == 1 and j["adjustments"][0]["targets"] == {"cpu_max_cores": 1.5, "memory_high": 536870912} and j["adjustments"][0]["tier"] == "predictive" and j["adjustments"][0]["outcome"] is None and j["adjustments"][0]["reason"] == "test adjustment"'

# --- writes: the token ---
fb='{"kind":"adjustment","id":'$FLEET_ADJ_ID',"verdict":"wrong","note":"e2e"}'
s=$(req /api/v1/feedback -d "$fb")
check "feedback without a token" "$s" 401 'j["field"] == "Authorization"'
s=$(req /api/v1/feedback -H "Authorization: Bearer wrong-$FLEET_TOKEN" -d "$fb")
check "feedback with a wrong token" "$s" 401 '"error" in j'
s=$(req /api/v1/feedback -H "$auth" -d "$fb")
check "POST /api/v1/feedback" "$s" 201 'j["feedback_id"] >= 1'
s=$(req /api/v1/feedback -H "$auth" -d '{"kind":"adjustment","id":1,"verdict":"wrong"}')
check "feedback on an unknown adjustment" "$s" 404 'j["field"] == "id"'
s=$(req /api/v1/feedback -H "$auth" -d '{"kind":"adjustment","id":1,"verdict":"meh"}')
check "feedback with a bad verdict" "$s" 400 'j["field"] == "verdict"'
s=$(req /api/v1/feedback -H "$auth" -d '{"kind":')
check "invalid JSON" "$s" 400 'j["field"] == "body"'

s=$(req /allocation/request -H "$auth" -d '{"workload_id":1,"confidence":0.9,"horizon_s":10}')
check "POST /allocation/request (0.9)" "$s" 200 'j["cpu_cores"] > 0 and j["mem_bytes"] > 0 and "90% confidence" in j["explanation"]'
p90=$(python3 -c 'import json; print(json.load(open("'"$tmp/body"'"))["cpu_cores"])')
s=$(req /allocation/request -H "$auth" -d '{"workload_id":1,"confidence":0.99,"horizon_s":10}')
check "POST /allocation/request (0.99 above 0.9)" "$s" 200 "j['cpu_cores'] >= $p90 and j['forecast_horizon_s'] == 10"
s=$(req /allocation/request -H "$auth" -d '{"workload_id":1,"confidence":2}')
check "bad confidence" "$s" 400 'j["field"] == "confidence"'

s=$(req /model/update -H "$auth" -d '{"workload_id":1,"constraints":{"cpu_max":2.5,"mem_min":104857600}}')
check "POST /model/update" "$s" 200 'j["constraints"]["cpu_max"] == 2.5 and j["constraints"]["mem_min"] == 104857600'
s=$(req /model/update -H "$auth" -d '{"workload_id":1,"constraints":{"cpu_max":null}}')
check "POST /model/update (null removes)" "$s" 200 'j["constraints"]["cpu_max"] is None and j["constraints"]["mem_min"] == 104857600'
s=$(req /model/update -H "$auth" -d '{"workload_id":1,"constraints":{"gpu":1}}')
check "unknown constraint" "$s" 400 'j["field"] == "gpu"'

now=$(date +%s)
rec='{"host":"phone-1","workload":"checkout","window_start":'$((now - 20))',"window_end":'$((now - 10))',"cpu_s":0.5,"endpoints":[{"protocol":"http","endpoint":"POST /pay","count":7,"errors":1,"bytes_in":10,"bytes_out":20}]}'
s=$(req /behavioralData/ingest -H "$auth" -d "$rec")
check "POST /behavioralData/ingest" "$s" 202 'j["stored"] is True'
s=$(req /api/v1/workloads)
check "ingested record is a workload" "$s" 200 'any(w["host"] == "api:phone-1" and w["cgroup"] == "checkout" for w in j["workloads"])'
s=$(req /behavioralData/ingest -H "$auth" -d '{"host":"p","workload":"w","window_start":5,"window_end":1}')
check "ingest with a bad window" "$s" 400 'j["field"] == "window_end"'

# --- protocol errors ---
head -c 70000 /dev/zero | tr '\0' x >"$tmp/big"
s=$(req /behavioralData/ingest -H "$auth" --data-binary @"$tmp/big")
check "oversized body" "$s" 413 '"error" in j'
s=$(req /behavioralData/ingest -H "$auth" -H "Transfer-Encoding: chunked" --data-binary @"$tmp/big")
check "oversized chunked body" "$s" 413 'j["field"] == "body"'
head -c 65536 /dev/zero | tr '\0' ' ' >"$tmp/edge"
s=$(req /model/update -H "$auth" --data-binary @"$tmp/edge")
check "64 KiB body is read (and is not JSON)" "$s" 400 'j["field"] == "body"'
s=$(req /api/v1/nothing)
check "unknown path" "$s" 404 '"error" in j'
s=$(req /api/v1/workloads -X DELETE)
check "wrong method" "$s" 405 '"error" in j'
s=$(req /model/update)
check "GET on a POST endpoint" "$s" 405 '"error" in j'
curl -fsS "$url/metrics" | grep -q '^prescient_reports_stored_total' || fleet_fail "/metrics gone"
kill -0 "$FLEET_AGG_PID" || fleet_fail "aggregator died"

# --- the feedback reached the table the allocation reads ---
if command -v sqlite3 >/dev/null; then
	n=$(sqlite3 "$FLEET_DB" "SELECT count(*) FROM feedback WHERE kind = 'adjustment' AND ref_id = $FLEET_ADJ_ID AND verdict = 'wrong' AND note = 'e2e'")
	[ "$n" = 1 ] || fleet_fail "feedback rows: $n"
	echo "ok: feedback stored"
fi

# --- token file checks at start, and no token at all ---
agg=$PSC_BUILD_DIR/aggregator/prescient-aggregator
kill "$FLEET_AGG_PID"
wait "$FLEET_AGG_PID" || fleet_fail "aggregator did not stop cleanly"
chmod 640 "$FLEET_TOKEN_FILE"
if "$agg" --listen "tcp://127.0.0.1:$(fleet_free_port)" --db "$FLEET_DB" --keys "$FLEET_KEYS" \
	--http "$FLEET_HTTP" --api-token-file "$FLEET_TOKEN_FILE" --model-interval off \
	>"$tmp/out" 2>&1; then
	fleet_fail "started with a group-readable token file"
fi
grep -q "group or others" "$tmp/out" || fleet_fail "no clear message: $(cat "$tmp/out")"
echo "ok: group-readable token file refused"

"$agg" --listen "tcp://127.0.0.1:$(fleet_free_port)" --db "$FLEET_DB" --keys "$FLEET_KEYS" \
	--http "$FLEET_HTTP" --model-interval off >>"$tmp/agg.log" 2>&1 &
FLEET_AGG_PID=$!
for _ in $(seq 100); do
	curl -fsS "$url/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
s=$(req /model/update -H "$auth" -d '{"workload_id":1,"constraints":{"cpu_max":1}}')
check "writes without --api-token-file" "$s" 403 '"no API token configured" in j["error"]'
s=$(req /api/v1/workloads)
check "reads without --api-token-file" "$s" 200 'len(j["workloads"]) == 3'
echo "PASS"
