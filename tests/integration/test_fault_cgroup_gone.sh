#!/bin/bash
# Fault: the cgroup of a managed workload disappears mid-change (issue 7). A real
# prescient-agent --manage (two test cgroups, each running a real redis-server with
# traffic) reports to a real prescient-aggregator on loopback; adjustments are queued in the
# aggregator's store by tests/e2e/psc_issue_adjustment (as its policy would).
#  1. An adjustment for the "job" cgroup is applied (the agent now remembers its values
#     before the change, for revert and cooldown).
#  2. The agent is paused (SIGSTOP), a second adjustment for "job" is queued, the job's
#     workload ends and its cgroup is removed, and the agent resumes: the adjustment arrives
#     for a cgroup that is gone.
# Checks: outcome FAILED with "gone" in its detail (agent/enforce.h); the cgroup is not
# re-created; the agent keeps running; no stale state: enforce.state no longer names the
# job and its workload leaves the reports; an adjustment for the other managed cgroup is
# still applied afterwards; every report sequence number is stored once with no gap.
# Needs root, BTF and cgroups (else exits 77).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PSC_CG_PREFIX=psc-cggone
# shellcheck source=../lib/workload.sh
source "$here/../lib/workload.sh"

psc_require_root_btf
psc_require_cmd redis-server redis-cli sqlite3 curl python3
build=$PSC_BUILD_DIR
aggregator=$build/aggregator/prescient-aggregator
issue=$build/tests/psc_issue_adjustment
[ -x "$aggregator" ] || psc_skip "prescient-aggregator not built"
[ -x "$issue" ] || psc_skip "psc_issue_adjustment not built"
psc_init
work=$PSC_WORK_DIR

job=$(psc_cgroup_create job)
other=$(psc_cgroup_create other)
host="cggone-$$"
link_port=$(psc_free_port)
http_port=$(psc_free_port)
job_port=$(psc_free_port)
other_port=$(psc_free_port)
db=$work/aggregator.db

"$aggregator" keygen "$work/keys" >/dev/null
"$aggregator" --listen "tcp://127.0.0.1:$link_port" --db "$db" --keys "$work/keys" \
	--http "127.0.0.1:$http_port" >"$work/aggregator.log" 2>&1 &
agg_pid=$!
psc_on_exit "kill -TERM $agg_pid; psc_wait_pid_exit $agg_pid 10"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null || { cat "$work/aggregator.log" >&2; psc_die "aggregator did not start"; }
psc_redis_start "$job" "$work/redis-job" "$job_port"
psc_redis_start "$other" "$work/redis-other" "$other_port"
psc_agent_start "$work/agent.jsonl" --aggregator "tcp://127.0.0.1:$link_port" --keys "$work/keys" \
	--spool "$work/spool" --window 1 --host-id "$host" --manage "$job" --manage "$other"
err=$PSC_AGENT_ERR
state=$work/spool/enforce.state

failed=0
check() { # WHAT EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then echo "PASS: $1: $3"; else echo "FAIL: $1: expected '$2', got '$3'"; failed=1; fi
}
sql() { sqlite3 -cmd '.timeout 5000' "$db" "$1"; }
traffic() { for p in "$@"; do for _ in $(seq 10); do redis-cli -p "$p" ping >/dev/null 2>&1 || true; done; done; }
wait_outcome() { # ID: the result the aggregator stored (waits 20 s)
	local r
	for _ in $(seq 200); do
		r=$(sql "select result from adjustment_outcomes where host='$host' and adjustment_id=$1 limit 1")
		[ -n "$r" ] && { echo "$r"; return; }
		traffic "$other_port"
		sleep 0.1
	done
	echo none
}
adjust() { "$issue" --db "$db" --keys "$work/keys" --host "$host" "$@" >/dev/null; }
APPLIED=1 FAILED=7

traffic "$job_port" "$other_port"
sleep 1.2
# 1. Applied: the agent remembers the job's values before the change.
adjust --id 10 --workload "$job" --cpu 0.5 --memory-max $((256 << 20)) --reason "test: before"
check "adjustment for the job: outcome" "$APPLIED" "$(wait_outcome 10)"
check "state remembers the job" yes "$(grep -qF "\"$job\"" "$state" && echo yes || echo no)"

# 2. The job ends and its cgroup goes while an adjustment for it is on its way.
kill -STOP "$PSC_AGENT_PID"
adjust --id 11 --workload "$job" --cpu 1 --memory-max $((384 << 20)) --reason "test: mid-change"
t_gone=$(date +%s.%N)
psc_cgroup_destroy "$job"
kill -CONT "$PSC_AGENT_PID"
outcome=$(wait_outcome 11)
t_outcome=$(date +%s.%N)
check "adjustment for the removed cgroup: outcome" "$FAILED" "$outcome"
detail=$(sql "select detail from adjustment_outcomes where host='$host' and adjustment_id=11")
check "detail says the cgroup is gone" yes "$(echo "$detail" | grep -q gone && echo yes || echo "no ($detail)")"
recreated=no
for h in "${PSC_CG_HIERS[@]}"; do [ -e "$h$job" ] && recreated="yes ($h$job)"; done
check "removed cgroup not re-created" no "$recreated"
check "agent still running" yes "$(psc_pid_alive "$PSC_AGENT_PID" && echo yes || echo no)"
check "no stale state: enforce.state forgot the job" no "$(grep -qF "\"$job\"" "$state" && echo yes || echo no)"

# 3. The agent goes on: the other workload is still managed.
adjust --id 12 --workload "$other" --memory-max $((512 << 20)) --reason "test: after"
check "adjustment for the other cgroup afterwards: outcome" "$APPLIED" "$(wait_outcome 12)"
traffic "$other_port"
sleep 2.5
psc_agent_stop || true
# The job is not reported after it went (one last window may carry its final data).
late=$(python3 - "$PSC_AGENT_OUT" "$job" "$t_gone" <<'PY'
import json, sys
path, cg, t = sys.argv[1], sys.argv[2], float(sys.argv[3])
print(sum(1 for line in open(path) if (r := json.loads(line))["cgroup"] == cg and r["ts"] > t + 2.5))
PY
)
check "no stale workload: job windows more than 2.5 s after removal" 0 "$late"
check "agent counters" yes "$(grep -q 'enforce: 2 applied, .* 1 failed' "$err" && echo yes || grep 'enforce:' "$err")"
read -r n lo hi distinct < <(sql "select count(*), min(seq), max(seq), count(distinct seq) from reports where host='$host'" | tr '|' ' ')
check "reports: sequence 1..N, no gap, none twice" "1 $hi $hi" "$lo $n $distinct"
echo "figure: adjustment for a cgroup removed mid-change: outcome $outcome ('$detail') $(awk -v a="$t_gone" -v b="$t_outcome" 'BEGIN {printf "%.1f", b - a}') s after the removal; state forgot it; agent kept running and applied the next adjustment; $n reports, no gap"
exit $failed
