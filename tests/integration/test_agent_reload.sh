#!/bin/bash
# SIGHUP reloads the agent's --config without dropping data (issue 7). A real
# prescient-agent --config FILE reports real Redis traffic (redis-benchmark against a
# redis-server in a test cgroup) to a real prescient-aggregator on loopback; the file is
# changed and the agent sent SIGHUP three times while the traffic flows:
#  1. log-level info -> debug, manage A -> B, window 1 -> 2 (window needs a restart);
#  2. a broken file (a bad log level): the configuration in use is kept;
#  3. the file made group-writable: refused, kept.
# Checks: AGENT-RELOAD logs the new configuration; debug messages appear only after the
# reload; "window" is reported as needing a restart and the windows stay 1 s; after the
# reload an adjustment for B is applied and one for A is refused as not managed; the broken
# and loose files are refused with the reason and the agent keeps running with the
# reloaded configuration; no window is lost: the aggregator's reports for this host have
# sequence numbers 1..N with no gap and each window starts where the previous one ended;
# every GET redis-benchmark sent is counted.
# Needs root, BTF and cgroups (else exits 77).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PSC_CG_PREFIX=psc-reload
# shellcheck source=../lib/workload.sh
source "$here/../lib/workload.sh"

# shellcheck source=../lib/fleet.sh
source "$here/../lib/fleet.sh"

psc_require_root_btf
psc_require_cmd redis-server redis-benchmark sqlite3 curl
psc_init
work=$PSC_WORK_DIR
cg_a=$(psc_cgroup_create a)
cg_b=$(psc_cgroup_create b)
host="reload-$$"
redis_port=$(psc_free_port)
conf=$work/agent.conf
psc_fleet_init "$host"
psc_aggregator_start
psc_redis_start "$cg_b" "$work/redis" "$redis_port"

# write_conf LOG_LEVEL MANAGE WINDOW
write_conf() {
	cat >"$conf.new" <<EOF
# test_agent_reload.sh
aggregator = tcp://127.0.0.1:$PSC_LINK_PORT
keys = $work/keys
spool = $work/spool
host-id = $host
window = $3
log-level = $1
manage = $2
EOF
	chmod 600 "$conf.new"
	mv "$conf.new" "$conf"
}
write_conf info "$cg_a" 1
psc_agent_start "$work/agent.jsonl" --config "$conf"
err=$PSC_AGENT_ERR

load() { redis-benchmark -p "$redis_port" -t get -n "$1" -c 2 -q >/dev/null; }
hup() { # waits for the n-th AGENT-RELOAD line of any kind
	local before
	before=$(grep -c 'AGENT-RELOAD' "$err" || true)
	kill -HUP "$PSC_AGENT_PID"
	for _ in $(seq 50); do
		[ "$(grep -c 'AGENT-RELOAD' "$err" || true)" -gt "$before" ] && break
		sleep 0.1
	done
}

sleep 1.2
load 1000
debug_before=$(grep -c 'debug:' "$err" || true)

# 1. A new log level and managed prefix, and a window change that needs a restart.
write_conf debug "$cg_b" 2
load 1000 &
bench=$!
hup
wait "$bench"
psc_check "reload logged with the new configuration" yes \
	"$(grep -q "AGENT-RELOAD: .*reloaded: log-level debug, manage $cg_b, dry-run off" "$err" && echo yes || grep AGENT-RELOAD "$err")"
psc_check "window reported as needing a restart" yes \
	"$(grep -q 'AGENT-RELOAD-RESTART: .*need a restart.*: window$' "$err" && echo yes || grep AGENT-RELOAD-RESTART "$err")"
sleep 2.5
psc_check "no debug messages before the reload" 0 "$debug_before"
psc_check "debug messages after the reload (> 0)" yes \
	"$([ "$(grep -c 'debug:' "$err" || true)" -gt 0 ] && echo yes || echo no)"
psc_issue --id 10 --workload "$cg_b" --memory-max $((512 << 20)) --reason "test: now managed"
psc_check "adjustment for the newly managed cgroup: outcome" "$PSC_APPLIED" "$(psc_wait_outcome 10)"
psc_issue --id 11 --workload "$cg_a" --memory-max $((512 << 20)) --reason "test: no longer managed"
psc_check "adjustment for the formerly managed cgroup: outcome" "$PSC_REFUSED_GUARD" "$(psc_wait_outcome 11)"
psc_check "formerly managed: refused as not managed" yes \
	"$(psc_sql "select detail from adjustment_outcomes where host='$host' and adjustment_id=11" | grep -q 'not managed' && echo yes || echo no)"

# 2. A broken file keeps the configuration in use.
printf 'log-level = loud\n' >"$conf"
load 1000 &
bench=$!
hup
wait "$bench"
psc_check "broken file refused with the reason" yes \
	"$(grep -q "AGENT-RELOAD: .*'loud' is not one of.*the configuration in use is kept" "$err" && echo yes || grep AGENT-RELOAD "$err" | tail -n1)"
# 3. A file others may write is refused too.
write_conf info "$cg_a" 1
chmod 666 "$conf"
hup
psc_check "group/other-writable file refused" yes \
	"$(grep -q "AGENT-RELOAD: .*writable by group or others.*the configuration in use is kept" "$err" && echo yes || grep AGENT-RELOAD "$err" | tail -n1)"
n_debug=$(grep -c 'debug:' "$err" || true)
sleep 2
psc_check "debug level still in use after the refused reloads" yes \
	"$([ "$(grep -c 'debug:' "$err" || true)" -gt "$n_debug" ] && echo yes || echo no)"
psc_check "agent still running" yes "$(psc_pid_alive "$PSC_AGENT_PID" && echo yes || echo no)"
sleep 1.5
psc_agent_stop || true

# No window lost, none twice, windows back to back, 1 s each.
psc_check_reports_gapless
n=$PSC_REPORTS hi=$PSC_MAX_SEQ
psc_check "windows stay 1 s (full windows longer than 1.5 s)" 0 "$(psc_sql "select count(*) from reports where host = '$host' and seq < $hi and window_end - window_start > 1.5")"
psc_check "agent summary: nothing lost from the spool" yes \
	"$(grep -q ', 0 lost from the spool' "$err" && echo yes || grep 'uplink:' "$err")"
gets=$(psc_stored_gets "$cg_b")
psc_check "redis GETs stored across the reloads" 3000 "$gets"
echo "figure: 3 SIGHUPs (1 applied, 2 refused), $n windows reported, sequence 1..$hi without a gap, $gets of 3000 GETs stored"
exit $PSC_FAILED
