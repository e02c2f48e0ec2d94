#!/bin/bash
# Enforcement on real cgroup v1 (or v2) cgroups this test creates: a real prescient-aggregator
# and prescient-agent --aggregator ... --manage /psc-enf-managed-<pid> on loopback; signed
# adjustments are queued in the aggregator's store by tests/e2e/psc_issue_adjustment (as
# its policy would) and reach the agent on its acks.
# Checks:
#  - a valid adjustment changes the cgroup's files (cpu quota, shares, memory limit and soft
#    limit on v1), its APPLIED outcome lands in the aggregator's adjustment_outcomes, and
#    the agent's --print report shows the new limits;
#  - forged (another fleet's signing key), expired (the queue says valid, the signature
#    says otherwise), another host's (queued for this host, signed for another) and, after
#    an agent restart, a replayed id are refused with their outcome, and change nothing;
#  - a valid adjustment for an unmanaged cgroup is refused and changes nothing;
#  - with --dry-run an adjustment is logged and reported, and changes nothing.
# Needs root, BTF and cgroups (else exits 77).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PSC_CG_PREFIX=psc-enf
# shellcheck source=../lib/workload.sh
source "$here/../lib/workload.sh"

psc_require_root_btf
psc_require_cmd redis-server redis-cli sqlite3 curl
build=$PSC_BUILD_DIR
aggregator=$build/aggregator/prescient-aggregator
issue=$build/tests/psc_issue_adjustment
[ -x "$aggregator" ] || psc_skip "prescient-aggregator not built"
[ -x "$issue" ] || psc_skip "psc_issue_adjustment not built"
psc_init
work=$PSC_WORK_DIR

managed=$(psc_cgroup_create managed)
unmanaged=$(psc_cgroup_create other)
host="enforce-$$"
link_port=$(psc_free_port)
http_port=$(psc_free_port)
redis_port=$(psc_free_port)
db=$work/aggregator.db

# The files each resource lives in, by layout.
if [ "$PSC_CG_MODE" = v1 ]; then
	root=$PSC_CGROUP_ROOT
	cpu_dir=""
	for d in cpu cpu,cpuacct cpuacct,cpu; do
		[ -e "$root/$d/cpu.cfs_quota_us" ] && { cpu_dir=$root/$d; break; }
	done
	[ -n "$cpu_dir" ] || psc_skip "no v1 cpu hierarchy with cpu.cfs_quota_us"
	mem_dir=$root/memory
	f_quota=$cpu_dir$managed/cpu.cfs_quota_us
	f_weight=$cpu_dir$managed/cpu.shares
	f_max=$mem_dir$managed/memory.limit_in_bytes
	f_high=$mem_dir$managed/memory.soft_limit_in_bytes
	f_other=$mem_dir$unmanaged/memory.limit_in_bytes
	want_quota=50000 want_weight=512
else
	f_quota=$PSC_CG_IDENTITY$managed/cpu.max
	f_weight=$PSC_CG_IDENTITY$managed/cpu.weight
	f_max=$PSC_CG_IDENTITY$managed/memory.max
	f_high=$PSC_CG_IDENTITY$managed/memory.high
	f_other=$PSC_CG_IDENTITY$unmanaged/memory.max
	want_quota="50000 100000" want_weight=50
	[ -e "$f_quota" ] || psc_skip "cgroup v2 without the cpu controller delegated"
fi
snapshot() { cat "$f_quota" "$f_weight" "$f_max" "$f_high" "$f_other" | tr '\n' ' '; }
before=$(snapshot)
psc_log "managed $managed, unmanaged $unmanaged ($PSC_CG_MODE): $before"

"$aggregator" keygen "$work/keys" >/dev/null
"$aggregator" keygen "$work/forger-keys" >/dev/null
"$aggregator" --listen "tcp://127.0.0.1:$link_port" --db "$db" --keys "$work/keys" \
	--http "127.0.0.1:$http_port" >"$work/aggregator.log" 2>&1 &
agg_pid=$!
psc_on_exit "kill -TERM $agg_pid; psc_wait_pid_exit $agg_pid 10"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null || { cat "$work/aggregator.log" >&2; psc_die "aggregator did not start"; }

# Some traffic in the managed cgroup, so that it is a workload the agent reports.
psc_redis_start "$managed" "$work/redis" "$redis_port"
redis_load() { for _ in $(seq 20); do redis-cli -p "$redis_port" ping >/dev/null; done; }

agent_args=(--aggregator "tcp://127.0.0.1:$link_port" --keys "$work/keys" --spool "$work/spool"
	--window 1 --host-id "$host" --manage "$managed")
psc_agent_start "$work/agent.jsonl" "${agent_args[@]}"

# wait_outcome ID: prints the result the aggregator stored for adjustment ID (waits 20 s).
wait_outcome() {
	local r
	for _ in $(seq 200); do
		r=$(sqlite3 -cmd '.timeout 5000' "$db" \
			"select result from adjustment_outcomes where host='$host' and adjustment_id=$1 limit 1")
		[ -n "$r" ] && { echo "$r"; return; }
		redis_load
		sleep 0.1
	done
	echo none
}
detail() {
	sqlite3 -cmd '.timeout 5000' "$db" \
		"select detail from adjustment_outcomes where host='$host' and adjustment_id=$1 limit 1"
}
sql() { sqlite3 -cmd '.timeout 5000' "$db" "$1"; }
adjust() { "$issue" --db "$db" --keys "$work/keys" --host "$host" "$@" >/dev/null; }

failed=0
check() { # WHAT EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then echo "PASS: $1: $3"; else echo "FAIL: $1: expected '$2', got '$3'"; failed=1; fi
}
# Outcome results (proto/prescient.proto AdjustmentOutcome.Result).
APPLIED=1 REFUSED_GUARD=3 EXPIRED=4 BAD_SIGNATURE=5 REPLAYED=6 WRONG_HOST=9

# 1. A valid adjustment is applied. It reaches the agent on the ack of its next report
# (one per window): the delay is printed.
t0=$(date +%s.%N)
adjust --id 100 --workload "$managed" --cpu 0.5 --weight 50 --memory-max $((256 << 20)) \
	--memory-high $((200 << 20)) --reason "test: predicted peak"
for _ in $(seq 400); do
	[ "$(cat "$f_max")" = $((256 << 20)) ] && break
	sleep 0.025
done
t1=$(date +%s.%N)
echo "figure: memory limit written $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) * 1000}') ms after the adjustment was queued (1 s windows)"
check "valid adjustment: outcome" "$APPLIED" "$(wait_outcome 100)"
check "cpu quota written" "$want_quota" "$(cat "$f_quota")"
check "cpu weight written" "$want_weight" "$(cat "$f_weight")"
check "memory limit written" $((256 << 20)) "$(cat "$f_max")"
check "memory soft limit / high written" $((200 << 20)) "$(cat "$f_high")"
check "adjustment closed in the queue" "$APPLIED" "$(sql "select outcome from adjustments where id=100")"
check "every write logged" 4 "$(grep -c "AGENT-ENFORCE-WRITE.*$managed.*adjustment 100" "$PSC_AGENT_ERR")"
applied=$(snapshot)

# 2. Forged: signed with another fleet's key.
"$issue" --db "$db" --keys "$work/forger-keys" --host "$host" --id 101 --workload "$managed" \
	--cpu 2 --memory-max $((1 << 30)) >/dev/null
check "forged adjustment: outcome" "$BAD_SIGNATURE" "$(wait_outcome 101)"

# 3. Expired: the signed expiry has passed, though the queue row says otherwise (as if the
# aggregator's clock were behind).
adjust --id 102 --workload "$managed" --cpu 2 --expires-in -5
sql "update adjustments set expires_at = $(date +%s) + 300 where id = 102"
check "expired adjustment: outcome" "$EXPIRED" "$(wait_outcome 102)"

# 4. Another host's, queued for this host.
adjust --id 103 --workload "$managed" --cpu 2 --host "other-$host"
sql "update adjustments set host = '$host' where id = 103"
check "other host's adjustment: outcome" "$WRONG_HOST" "$(wait_outcome 103)"

# 5. Valid, but for a cgroup that is not managed.
adjust --id 104 --workload "$unmanaged" --memory-max $((128 << 20))
check "unmanaged cgroup: outcome" "$REFUSED_GUARD" "$(wait_outcome 104)"
check "unmanaged cgroup: detail" yes "$(detail 104 | grep -q 'not managed' && echo yes || detail 104)"

# 6. A restarted agent remembers the last id: an older id is a replay.
sleep 1.5 # a window with the limits in the --print report
psc_agent_stop || true
enforce_summary=$(grep 'prescient-agent: enforce:' "$PSC_AGENT_ERR" || true)
cp "$PSC_AGENT_OUT" "$work/agent-first.jsonl"
check "state file kept the last id" 104 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_id"])' "$work/spool/enforce.state")"
psc_agent_start "$work/agent2.jsonl" "${agent_args[@]}"
adjust --id 50 --workload "$managed" --cpu 3
check "replayed id after restart: outcome" "$REPLAYED" "$(wait_outcome 50)"
sleep 1
psc_agent_stop || true
summary2=$(grep 'prescient-agent: enforce:' "$PSC_AGENT_ERR" || true)

# 7. Dry run: logged and reported, nothing written.
psc_agent_start "$work/agent3.jsonl" "${agent_args[@]}" --dry-run
adjust --id 200 --workload "$managed" --cpu 1 --memory-max $((300 << 20))
DRY_RUN=2
check "dry run: outcome" "$DRY_RUN" "$(wait_outcome 200)"
check "dry run: logged what it would write" 2 "$(grep -c "AGENT-ENFORCE-DRYRUN.*$managed.*would write.*adjustment 200" "$PSC_AGENT_ERR")"
psc_agent_stop || true

check "files unchanged by the refused and dry-run adjustments" "$applied" "$(snapshot)"
check "unmanaged cgroup untouched" "$(echo "$before" | awk '{print $NF}')" "$(cat "$f_other")"
check "agent counters (first run)" yes "$(echo "$enforce_summary" | grep -q '1 applied, 0 dry_run, 1 refused_guard, 1 expired, 1 bad_signature, 0 replayed, 0 failed, 0 reverted, 1 wrong_host; 4 files written, 0 writes failed' && echo yes || echo "$enforce_summary")"
check "agent counters (after restart)" yes "$(echo "$summary2" | grep -q ' 1 replayed' && echo yes || echo "$summary2")"

# The report carries the limits in effect (and an OOM kill count).
python3 - "$work/agent-first.jsonl" "$managed" $((256 << 20)) <<'PY' || failed=1
import json, sys
path, cg, mem_max = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [json.loads(l) for l in open(path) if l.strip()]
mine = [r for r in rows if r["cgroup"] == cg]
last = mine[-1] if mine else None
if not last or last["limits"]["memory_max_bytes"] != mem_max or abs(last["limits"]["cpu_max_cores"] - 0.5) > 1e-9:
    print("FAIL: report limits: %s" % (last and last["limits"]))
    sys.exit(1)
print("PASS: report limits: %s, oom_kills %s" % (last["limits"], last["oom_kills"]))
PY
exit $failed
