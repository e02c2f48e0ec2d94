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

# shellcheck source=../lib/fleet.sh
source "$here/../lib/fleet.sh"

psc_require_root_btf
psc_require_cmd redis-server redis-cli sqlite3 curl python3
psc_init
work=$PSC_WORK_DIR
job=$(psc_cgroup_create job)
other=$(psc_cgroup_create other)
job_port=$(psc_free_port)
other_port=$(psc_free_port)
psc_fleet_init "cggone-$$"
psc_aggregator_start
psc_redis_start "$job" "$work/redis-job" "$job_port"
psc_redis_start "$other" "$work/redis-other" "$other_port"
mapfile -t uplink < <(psc_agent_uplink_args)
psc_agent_start "$work/agent.jsonl" "${uplink[@]}" --spool "$work/spool" --window 1 \
	--manage "$job" --manage "$other"
err=$PSC_AGENT_ERR
state=$work/spool/enforce.state

traffic() { for p in "$@"; do for _ in $(seq 10); do redis-cli -p "$p" ping >/dev/null 2>&1 || true; done; done; }
wait_outcome() { psc_wait_outcome "$1" 'traffic "$other_port"'; }

traffic "$job_port" "$other_port"
sleep 1.2
# 1. Applied: the agent remembers the job's values before the change.
psc_issue --id 10 --workload "$job" --cpu 0.5 --memory-max $((256 << 20)) --reason "test: before"
psc_check "adjustment for the job: outcome" "$PSC_APPLIED" "$(wait_outcome 10)"
psc_check "state remembers the job" yes "$(grep -qF "\"$job\"" "$state" && echo yes || echo no)"

# 2. The job ends and its cgroup goes while an adjustment for it is on its way.
kill -STOP "$PSC_AGENT_PID"
psc_issue --id 11 --workload "$job" --cpu 1 --memory-max $((384 << 20)) --reason "test: mid-change"
t_gone=$(date +%s.%N)
psc_cgroup_destroy "$job"
kill -CONT "$PSC_AGENT_PID"
outcome=$(wait_outcome 11)
t_outcome=$(date +%s.%N)
psc_check "adjustment for the removed cgroup: outcome" "$PSC_FAILED_RESULT" "$outcome"
detail=$(psc_sql "select detail from adjustment_outcomes where host='$PSC_HOST' and adjustment_id=11")
psc_check "detail says the cgroup is gone" yes "$(echo "$detail" | grep -q gone && echo yes || echo "no ($detail)")"
recreated=no
for h in "${PSC_CG_HIERS[@]}"; do [ -e "$h$job" ] && recreated="yes ($h$job)"; done
psc_check "removed cgroup not re-created" no "$recreated"
psc_check "agent still running" yes "$(psc_pid_alive "$PSC_AGENT_PID" && echo yes || echo no)"
psc_check "no stale state: enforce.state forgot the job" no "$(grep -qF "\"$job\"" "$state" && echo yes || echo no)"

# 3. The agent goes on: the other workload is still managed.
psc_issue --id 12 --workload "$other" --memory-max $((512 << 20)) --reason "test: after"
psc_check "adjustment for the other cgroup afterwards: outcome" "$PSC_APPLIED" "$(wait_outcome 12)"
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
psc_check "no stale workload: job windows more than 2.5 s after removal" 0 "$late"
psc_check "agent counters" yes "$(grep -q 'enforce: 2 applied, .* 1 failed' "$err" && echo yes || grep 'enforce:' "$err")"
psc_check_reports_gapless
n=$PSC_REPORTS
echo "figure: adjustment for a cgroup removed mid-change: outcome $outcome ('$detail') $(awk -v a="$t_gone" -v b="$t_outcome" 'BEGIN {printf "%.1f", b - a}') s after the removal; state forgot it; agent kept running and applied the next adjustment; $n reports, no gap"
exit $PSC_FAILED
