#!/usr/bin/env bash
# Live modeling in prescient-aggregator: 40 synthetic reports of 2 workloads over the
# fleet link, a 1 s modeling cycle with 10 s steps; after a few cycles every workload has
# forecasts at three horizons and a model_state row, the summary line is logged at debug,
# and a restart rebuilds the models from the store. Processes are stopped by pid only.
set -euo pipefail

agg=${PSC_BUILD_DIR:?}/aggregator/prescient-aggregator
send=${PSC_BUILD_DIR:?}/aggregator/psc_send_reports
for b in "$agg" "$send"; do
	[ -x "$b" ] || { echo "SKIP: $b not built"; exit 77; }
done
for t in sqlite3 python3; do
	command -v $t >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done

tmp=$(mktemp -d)
agg_pid=
cleanup() {
	if [ -n "$agg_pid" ] && kill -0 "$agg_pid" 2>/dev/null; then
		kill -9 "$agg_pid" 2>/dev/null || true
		wait "$agg_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	[ -f "$tmp/agg.log" ] && tail -20 "$tmp/agg.log"
	exit 1
}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=tcp://127.0.0.1:$port
db=$tmp/store.db
"$agg" keygen "$tmp/keys" >/dev/null || fail "keygen"

http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_agg() {
	"$agg" --listen "$url" --db "$db" --keys "$tmp/keys" --model-interval 1s \
		--model-step 10s --log-level debug --http "127.0.0.1:$http_port" >>"$tmp/agg.log" 2>&1 &
	agg_pid=$!
	sleep 0.5
	kill -0 "$agg_pid" 2>/dev/null || fail "aggregator exited at start"
}
stop_agg() {
	kill -TERM "$agg_pid"
	wait "$agg_pid" || fail "aggregator exit status $?"
	agg_pid=
}
q() { sqlite3 "$db" "$1"; }

start_agg
"$send" --connect "$url" --keys "$tmp/keys" --host mh1 --count 40 --workloads 2 \
	--endpoints 4 --quiet >"$tmp/send.out" || fail "send: $(cat "$tmp/send.out")"
ok=
for _ in $(seq 30); do
	n=$(q "SELECT count(DISTINCT workload_id) FROM forecasts WHERE series = 'cpu'" 2>/dev/null || echo 0)
	if [ "$n" = 2 ]; then ok=1; break; fi
	sleep 0.5
done
[ -n "$ok" ] || fail "no cpu forecasts for the 2 workloads"
sleep 1.5
[ "$(q "SELECT count(*) FROM forecasts WHERE series = 'cpu'")" = 6 ] || fail "cpu forecasts: $(q 'SELECT * FROM forecasts')"
[ "$(q "SELECT count(DISTINCT series) FROM forecasts")" = 4 ] || fail "series: $(q 'SELECT DISTINCT series FROM forecasts')"
[ "$(q "SELECT count(*) FROM forecasts WHERE NOT (p10 <= p50 AND p50 <= p90)")" = 0 ] || fail "quantiles out of order"
[ "$(q "SELECT count(*) FROM model_state WHERE steps >= 30")" = 2 ] || fail "model_state: $(q 'SELECT * FROM model_state')"
grep -q "modeling cycle:.*2 workloads" "$tmp/agg.log" || fail "no debug summary line"
metrics=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
	"http://127.0.0.1:$http_port/metrics") || fail "no /metrics"
echo "$metrics" | grep -q '^prescient_model_workloads 2$' || fail "metrics: $(echo "$metrics" | grep model)"
echo "$metrics" | grep -qE '^prescient_model_cycles_total [1-9]' || fail "metrics: $(echo "$metrics" | grep model)"
echo "$metrics" | grep -qE '^prescient_model_cycle_seconds [0-9.]+$' || fail "metrics: $(echo "$metrics" | grep model)"
stop_agg

# restart: the models are rebuilt from the store
start_agg
for _ in $(seq 20); do
	grep -q "modeling cycle:.*2 rebuilt" "$tmp/agg.log" && break
	sleep 0.5
done
grep -q "modeling cycle:.*2 rebuilt" "$tmp/agg.log" || fail "no rebuild after restart"
stop_agg
echo "PASS"
