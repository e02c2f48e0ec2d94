#!/usr/bin/env bash
# prescientctl against a real aggregator (tests/lib/api_fleet.sh: --http, --api-token-file,
# reports from psc_send_reports, live modeling, one signed adjustment): every command as a
# table and with --json (parsed by python3 and compared with the API's own answer),
# sparklines in `workload ID`, --help for every command, and the exit codes: 0 ok, 1 API
# error (the server's message printed), 2 usage, 3 cannot connect.
set -euo pipefail

# shellcheck source=../lib/api_fleet.sh
source "${PSC_SOURCE_DIR:?}/tests/lib/api_fleet.sh"
ctl=${PSC_BUILD_DIR:?}/ctl/prescientctl
if [ ! -x "$ctl" ]; then
	echo "SKIP: $ctl not built"
	exit 77
fi
fleet_start
tmp=$FLEET_TMP
export PRESCIENT_SERVER=$FLEET_URL
unset PRESCIENT_TOKEN_FILE

# run WANT-EXIT ARGS...: stdout in $tmp/out, stderr in $tmp/err.
run() {
	local want=$1 rc=0
	shift
	"$ctl" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" = "$want" ] ||
		fleet_fail "prescientctl $*: exit $rc, wanted $want; out: $(head -5 "$tmp/out"); err: $(cat "$tmp/err")"
}
# pyout EXPR: EXPR over o (the parsed stdout) holds.
pyout() {
	python3 - "$tmp/out" "$1" <<'EOF' || fleet_fail "check '$1' on: $(head -c 400 "$tmp/out")"
import json, sys
o = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
}

# --- tables ---
run 0 workloads
grep -qE '^ID +HOST +NAME +MANAGED +CPU +MEM' "$tmp/out" || fleet_fail "workloads header: $(cat "$tmp/out")"
grep -qE '^ *1 +e2e-api +shop-0\.service +no ' "$tmp/out" || fleet_fail "workloads row: $(cat "$tmp/out")"
[ "$(wc -l <"$tmp/out")" = 3 ] || fleet_fail "workloads: $(cat "$tmp/out")"
# Aligned: the header's CPU column ends where each row's does.
awk 'NR == 1 { end = index($0, " CPU") + 3 } NR > 1 && substr($0, end, 1) == " " { bad = 1 } END { exit bad }' \
	"$tmp/out" || fleet_fail "columns not aligned: $(cat "$tmp/out")"
echo "ok: workloads table"

run 0 workload 1
grep -q '^workload 1: /system.slice/shop-0.service on e2e-api' "$tmp/out" || fleet_fail "workload: $(head -3 "$tmp/out")"
grep -qE '^CPU +[▁▂▃▄▅▆▇█]{20,}  [0-9.]+ \.\. [0-9.]+ cores' "$tmp/out" || fleet_fail "no CPU sparkline: $(cat "$tmp/out")"
grep -qE '^MEM +[▁▂▃▄▅▆▇█]{20,}  [0-9.]+ MiB' "$tmp/out" || fleet_fail "no memory sparkline: $(cat "$tmp/out")"
grep -qE '^cpu +[0-9]+s +[0-9.]+ +[0-9.]+ +[0-9.]+ +[a-z_]+' "$tmp/out" || fleet_fail "no forecast rows: $(cat "$tmp/out")"
grep -q "#$FLEET_ADJ_ID test adjustment \[pending\]" "$tmp/out" || fleet_fail "no adjustment: $(cat "$tmp/out")"
echo "ok: workload 1 (sparklines, forecasts, adjustment)"
run 0 workload 1 --tier 5m
grep -q 'tier 5m' "$tmp/out" || fleet_fail "--tier 5m: $(head -5 "$tmp/out")"
run 0 clusters
run 0 alerts --limit 5
run 0 adjustments
grep -qE "^$FLEET_ADJ_ID +[0-9-]+ [0-9:]+Z +e2e-api +/system.slice/shop-0.service +predictive +cpu_max_cores=1.5 memory_high=512 MiB +pending" \
	"$tmp/out" || fleet_fail "adjustments: $(cat "$tmp/out")"
echo "ok: clusters, alerts, adjustments tables"

# --- --json is the server's answer, parsed ---
for cmd in workloads "workload 1" clusters alerts adjustments; do
	# shellcheck disable=SC2086 # cmd is words
	run 0 --json $cmd
	path=/api/v1/$(echo "$cmd" | sed 's/ /\//; s/^workload\//workloads\//')
	[ "$cmd" = alerts ] && path="$path?limit=100"
	[ "$cmd" = adjustments ] && path="$path?limit=100"
	[ "$cmd" = "workload 1" ] && path="$path?tier=raw"
	curl -fsS "$FLEET_URL$path" >"$tmp/api"
	python3 - "$tmp/out" "$tmp/api" "$cmd" <<'EOF' || fleet_fail "--json $cmd differs from the API"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
# Forecasts and detections may move between the two calls; the rest must be the same.
for k in ("forecasts", "detections", "alerts", "history", "since", "workload"):
    a.pop(k, None), b.pop(k, None)
if sys.argv[3] == "alerts":
    a, b = {}, {}
sys.exit(0 if a == b else 1)
EOF
done
run 0 workloads --json
pyout 'len(o["workloads"]) == 2'
echo "ok: --json"

# --- writes need the token ---
run 1 feedback "$FLEET_ADJ_ID" wrong --adjustment
grep -q 'Authorization' "$tmp/err" || fleet_fail "no message: $(cat "$tmp/err")"
run 0 --token-file "$FLEET_TOKEN_FILE" feedback "$FLEET_ADJ_ID" wrong --adjustment --note "from ctl"
grep -qE "^feedback [0-9]+ recorded: adjustment $FLEET_ADJ_ID was wrong" "$tmp/out" || fleet_fail "feedback: $(cat "$tmp/out")"
# The token from $PRESCIENT_TOKEN_FILE: accepted, and adjustment 1 does not exist.
PRESCIENT_TOKEN_FILE=$FLEET_TOKEN_FILE run 1 feedback 1 right --adjustment
grep -q 'no adjustment 1 ' "$tmp/err" || fleet_fail "PRESCIENT_TOKEN_FILE: $(cat "$tmp/err")"
run 1 --token-file "$FLEET_TOKEN_FILE" feedback 424242 right
grep -q 'no alert 424242' "$tmp/err" || fleet_fail "feedback on a missing alert: $(cat "$tmp/err")"
run 0 --token-file "$FLEET_TOKEN_FILE" recommend 1 --confidence 0.95 --horizon 10
grep -qE '^  CPU +[0-9.]+ cores' "$tmp/out" && grep -q '95% confidence' "$tmp/out" ||
	fleet_fail "recommend: $(cat "$tmp/out")"
run 0 --token-file "$FLEET_TOKEN_FILE" --json recommend 1
pyout 'o["workload_id"] == 1 and o["confidence"] == 0.99 and o["cpu_cores"] > 0'
echo "ok: feedback and recommend with the token"

# --- exit codes ---
run 1 workload 999
grep -q 'no workload 999' "$tmp/err" || fleet_fail "404 message: $(cat "$tmp/err")"
run 2 frobnicate
run 2 workload
run 2 workload abc
run 2 workloads --limit 3
run 2 feedback 1 maybe
run 2 recommend 1 --confidence 1.5
run 2 alerts --limit 0
run 2 --token-file "$tmp/no-such-file" workloads
run 2
run 3 --server "http://127.0.0.1:$(fleet_free_port)" workloads
grep -q 'cannot reach' "$tmp/err" || fleet_fail "connect message: $(cat "$tmp/err")"
echo "ok: exit codes 1, 2, 3"

# --- --help everywhere ---
run 0 --help
for c in workloads workload clusters alerts adjustments feedback recommend; do
	run 0 "$c" --help
	grep -q "^Usage: prescientctl .* $c" "$tmp/out" || fleet_fail "$c --help: $(cat "$tmp/out")"
done
echo "ok: --help for every command"
echo "PASS"
