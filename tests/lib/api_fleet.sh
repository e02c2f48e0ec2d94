# shellcheck shell=bash
# tests/lib/api_fleet.sh: what tests/e2e/test_api.sh and test_prescientctl.sh share: a
# real aggregator on loopback with --http and --api-token-file, fed by psc_send_reports,
# with fast live modeling so that forecasts exist within seconds, and one signed
# adjustment queued by psc_issue_adjustment.
#
#   source tests/lib/api_fleet.sh
#   fleet_start          # 77 if a tool is missing; sets FLEET_TMP, FLEET_URL (http://..),
#                        # FLEET_HTTP (ADDR:PORT), FLEET_TOKEN, FLEET_TOKEN_FILE, FLEET_DB,
#                        # FLEET_KEYS, FLEET_AGG_PID, FLEET_ADJ_ID; stopped at exit
#   fleet_fail MSG       # prints MSG and the aggregator's log tail, exits 1
#
# The aggregator is stopped by its pid only; traffic stays on 127.0.0.1.

FLEET_TMP='' FLEET_AGG_PID='' FLEET_URL='' FLEET_HTTP='' FLEET_TOKEN='' FLEET_TOKEN_FILE=''
FLEET_DB='' FLEET_KEYS='' FLEET_ADJ_ID=''

fleet_fail() {
	echo "FAIL: $*"
	[ -f "$FLEET_TMP/agg.log" ] && tail -20 "$FLEET_TMP/agg.log"
	exit 1
}

fleet_cleanup() {
	if [ -n "$FLEET_AGG_PID" ] && kill -0 "$FLEET_AGG_PID" 2>/dev/null; then
		kill "$FLEET_AGG_PID" 2>/dev/null || true
		wait "$FLEET_AGG_PID" 2>/dev/null || true
	fi
	[ -n "$FLEET_TMP" ] && rm -rf "$FLEET_TMP"
}

fleet_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

fleet_start() {
	local agg=${PSC_BUILD_DIR:?}/aggregator/prescient-aggregator
	local send=$PSC_BUILD_DIR/aggregator/psc_send_reports
	local issue=$PSC_BUILD_DIR/tests/psc_issue_adjustment
	local b t nn_port http_port now

	for b in "$agg" "$send" "$issue"; do
		if [ ! -x "$b" ]; then
			echo "SKIP: $b not built"
			exit 77
		fi
	done
	for t in curl python3; do
		if ! command -v $t >/dev/null; then
			echo "SKIP: $t not installed"
			exit 77
		fi
	done
	FLEET_TMP=$(mktemp -d)
	trap fleet_cleanup EXIT
	nn_port=$(fleet_free_port)
	http_port=$(fleet_free_port)
	FLEET_HTTP=127.0.0.1:$http_port
	FLEET_URL=http://$FLEET_HTTP
	FLEET_KEYS=$FLEET_TMP/keys
	FLEET_DB=$FLEET_TMP/store.db
	FLEET_TOKEN=tok-$RANDOM-$RANDOM-$$
	FLEET_TOKEN_FILE=$FLEET_TMP/api.token
	"$agg" keygen "$FLEET_KEYS" >/dev/null || fleet_fail "keygen"
	(umask 077 && echo "$FLEET_TOKEN" >"$FLEET_TOKEN_FILE")

	"$agg" --listen "tcp://127.0.0.1:$nn_port" --db "$FLEET_DB" --keys "$FLEET_KEYS" \
		--http "$FLEET_HTTP" --api-token-file "$FLEET_TOKEN_FILE" \
		--model-interval 1s --model-step 10s --model-season 300 \
		--maintenance-interval 1s >>"$FLEET_TMP/agg.log" 2>&1 &
	FLEET_AGG_PID=$!
	for _ in $(seq 100); do
		curl -fsS "$FLEET_URL/healthz" >/dev/null 2>&1 && break
		kill -0 "$FLEET_AGG_PID" 2>/dev/null || fleet_fail "aggregator exited at start"
		sleep 0.1
	done
	# 100 windows of 10 s of two workloads, ending now.
	now=$(date +%s)
	"$send" --connect "tcp://127.0.0.1:$nn_port" --keys "$FLEET_KEYS" --host e2e-api \
		--count 100 --workloads 2 --endpoints 3 --start-ts $((now - 1000)) --quiet \
		>"$FLEET_TMP/send.out" 2>&1 || fleet_fail "psc_send_reports: $(cat "$FLEET_TMP/send.out")"
	FLEET_ADJ_ID=$(((now - 1000) * 1000000))
	"$issue" --db "$FLEET_DB" --keys "$FLEET_KEYS" --id "$FLEET_ADJ_ID" --host e2e-api \
		--workload /system.slice/shop-0.service --cpu 1.5 --memory-high 536870912 \
		--reason "test adjustment" --tier predictive >/dev/null || fleet_fail "psc_issue_adjustment"
	# The modeling cycle writes forecasts within a few cycles.
	for _ in $(seq 150); do
		if curl -fsS "$FLEET_URL/api/v1/workloads/1" 2>/dev/null |
			python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["forecasts"] else 1)'; then
			return 0
		fi
		sleep 0.2
	done
	fleet_fail "no forecasts after 30 s"
}
