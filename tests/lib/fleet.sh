# shellcheck shell=bash
# shellcheck disable=SC2034 # PSC_* variables are set here for the scripts that source this
# tests/lib/fleet.sh: a real prescient-aggregator on loopback for the integration tests that
# run the agent against it, and the checks they share. Source after tests/lib/workload.sh,
# call after psc_init:
#   psc_fleet_init HOST             # keys in $PSC_WORK_DIR/keys, ports, $PSC_DB; needs the
#                                   # aggregator (and psc_issue_adjustment) built, else 77
#   psc_aggregator_start            # (again after a kill) -> $PSC_AGG_PID, stopped at exit
#   psc_agent_uplink_args           # prints the agent's --aggregator/--keys/--host-id args
#   psc_check WHAT EXPECTED ACTUAL  # a PASS/FAIL line; a FAIL sets PSC_FAILED=1
#   psc_sql QUERY                   # on the aggregator's store
#   psc_issue ARGS...               # queues a signed adjustment for HOST (psc_issue_adjustment)
#   psc_wait_outcome ID [CMD]       # the result stored for adjustment ID (20 s; "none");
#                                   # CMD (eval'd) runs between polls, e.g. some traffic
#   psc_stored_gets CGROUP          # Redis GETs (server side) stored for HOST's CGROUP
#   psc_check_reports_gapless       # HOST's reports: seq 1..N once each, windows back to
#                                   # back; sets PSC_REPORTS and PSC_MAX_SEQ
# Outcome results (proto/prescient.proto AdjustmentOutcome.Result):
PSC_APPLIED=1 PSC_REFUSED_GUARD=3 PSC_FAILED_RESULT=7
PSC_FAILED=0

psc_fleet_init() {
	PSC_HOST=$1
	PSC_AGGREGATOR=$PSC_BUILD_DIR/aggregator/prescient-aggregator
	PSC_ISSUE=$PSC_BUILD_DIR/tests/psc_issue_adjustment
	[ -x "$PSC_AGGREGATOR" ] || psc_skip "prescient-aggregator not built"
	[ -x "$PSC_ISSUE" ] || psc_skip "psc_issue_adjustment not built"
	PSC_LINK_PORT=$(psc_free_port)
	PSC_HTTP_PORT=$(psc_free_port)
	PSC_DB=$PSC_WORK_DIR/aggregator.db
	"$PSC_AGGREGATOR" keygen "$PSC_WORK_DIR/keys" >/dev/null
}

psc_aggregator_start() {
	"$PSC_AGGREGATOR" --listen "tcp://127.0.0.1:$PSC_LINK_PORT" --db "$PSC_DB" \
		--keys "$PSC_WORK_DIR/keys" --http "127.0.0.1:$PSC_HTTP_PORT" \
		>>"$PSC_WORK_DIR/aggregator.log" 2>&1 &
	PSC_AGG_PID=$!
	psc_on_exit "kill -TERM $PSC_AGG_PID; psc_wait_pid_exit $PSC_AGG_PID 10"
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:$PSC_HTTP_PORT/healthz" >/dev/null && return 0
		sleep 0.1
	done
	cat "$PSC_WORK_DIR/aggregator.log" >&2
	psc_die "aggregator did not start"
}

psc_agent_uplink_args() {
	printf '%s\n' --aggregator "tcp://127.0.0.1:$PSC_LINK_PORT" --keys "$PSC_WORK_DIR/keys" \
		--host-id "$PSC_HOST"
}

psc_check() {
	if [ "$2" = "$3" ]; then
		echo "PASS: $1: $3"
	else
		echo "FAIL: $1: expected '$2', got '$3'"
		PSC_FAILED=1
	fi
}

psc_sql() { sqlite3 -cmd '.timeout 5000' "$PSC_DB" "$1"; }

psc_issue() { "$PSC_ISSUE" --db "$PSC_DB" --keys "$PSC_WORK_DIR/keys" --host "$PSC_HOST" "$@" >/dev/null; }

psc_wait_outcome() {
	local r
	for _ in $(seq 200); do
		r=$(psc_sql "select result from adjustment_outcomes where host='$PSC_HOST' and adjustment_id=$1 limit 1")
		[ -n "$r" ] && { echo "$r"; return; }
		[ -z "${2:-}" ] || eval "$2"
		sleep 0.1
	done
	echo none
}

# Only the test's own cgroup: the agent reports every Redis server on the host.
psc_stored_gets() {
	psc_sql "select coalesce(sum(s.count), 0) from endpoint_series s
		join endpoints e on e.id = s.endpoint_id join workloads w on w.id = e.workload_id
		join hosts h on h.id = w.host_id
		where h.name = '$PSC_HOST' and w.cgroup = '$1' and s.tier = 0
		and e.protocol = 'redis' and e.role = 'server' and e.endpoint = 'GET'"
}

psc_check_reports_gapless() {
	local lo distinct
	read -r PSC_REPORTS lo PSC_MAX_SEQ distinct < <(psc_sql "select count(*), min(seq), max(seq),
		count(distinct seq) from reports where host='$PSC_HOST'" | tr '|' ' ')
	psc_check "first sequence number" 1 "$lo"
	psc_check "reports stored = highest sequence number (no gap)" "$PSC_MAX_SEQ" "$PSC_REPORTS"
	psc_check "each sequence number once" "$PSC_REPORTS" "$distinct"
	psc_check "windows back to back (gaps > 1 ms)" 0 "$(psc_sql "select count(*) from reports r
		join reports p on p.host = r.host and p.seq = r.seq - 1
		where r.host = '$PSC_HOST' and abs(r.window_start - p.window_end) > 0.001")"
}
