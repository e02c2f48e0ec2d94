#!/bin/bash
# The agent drops every capability it does not need once its programs are loaded (issue 7,
# security; agent/caps.h says why each kept one is needed). A real prescient-agent reports
# to a real prescient-aggregator on loopback, first without --manage, then with it.
# Checks, for each run:
#  - /proc/PID/status: CapEff = CapPrm = CapBnd = exactly the documented set, CapInh and
#    CapAmb empty, NoNewPrivs 1, and the AGENT-CAPS line names the same set;
#  - the agent still works with what it kept: real Redis GETs (redis-benchmark, in a test
#    cgroup) are counted exactly in its --print reports and reach the aggregator;
#  - with --manage: a signed adjustment queued after the drop (CPU quota, memory limit and
#    an egress rate limit, which attaches a cgroup_skb program) is APPLIED and the files
#    change.
# Needs root, BTF and cgroups (else exits 77).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PSC_CG_PREFIX=psc-caps
# shellcheck source=../lib/workload.sh
source "$here/../lib/workload.sh"

# shellcheck source=../lib/fleet.sh
source "$here/../lib/fleet.sh"

psc_require_root_btf
psc_require_cmd redis-server redis-benchmark sqlite3 curl python3
psc_init
work=$PSC_WORK_DIR
cg=$(psc_cgroup_create redis)
host="caps-$$"
redis_port=$(psc_free_port)
psc_fleet_init "$host"
psc_aggregator_start
psc_redis_start "$cg" "$work/redis" "$redis_port"

# capmask N...: the /proc/PID/status hex of capabilities N...
capmask() { python3 -c 'import sys; print("%016x" % sum(1 << int(c) for c in sys.argv[1:]))' "$@"; }
status_field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
# Capability numbers (linux/capability.h).
DAC_OVERRIDE=1 NET_ADMIN=12 BPF=39
# Kernels before 6.6 check CAP_BPF on every bpf() command when unprivileged BPF is off:
# the agent probes that and keeps CAP_BPF there (agent/caps.h). This is the test's own
# oracle for it.
keep_bpf=()
read -r kmaj kmin _ < <(uname -r | tr '.-' '  ')
if [ "$(cat /proc/sys/kernel/unprivileged_bpf_disabled)" != 0 ] &&
	{ [ "$kmaj" -lt 6 ] || { [ "$kmaj" -eq 6 ] && [ "$kmin" -lt 6 ]; }; }; then
	keep_bpf=("$BPF")
fi
# The shell's own permitted set bounds what the agent can keep (containers drop some).
have=$((16#$(status_field $$ CapPrm)))
want_mask() { printf '%016x' $(( 16#$(capmask "$@") & have )); }
want_names() { local n; n=$(capsh --decode="$(want_mask "$@")" | sed "s/^0x[0-9a-f]*=//"); echo "${n:-none}"; }
command -v capsh >/dev/null || psc_skip "capsh (libcap2-bin) not installed"

# run_agent NAME WANT_MASK WANT_NAMES [AGENT ARGS...]: checks the sets and the Redis counts.
run_agent() {
	local name=$1 want=$2 want_names=$3 f
	shift 3
	PSC_HOST="$host-$name"
	mapfile -t uplink < <(psc_agent_uplink_args)
	psc_agent_start "$work/$name.jsonl" "${uplink[@]}" --spool "$work/spool-$name" --window 1 "$@"
	for _ in $(seq 50); do grep -q AGENT-CAPS "$PSC_AGENT_ERR" && break; sleep 0.1; done
	for f in CapEff CapPrm CapBnd; do
		psc_check "$name: $f" "$want" "$(status_field "$PSC_AGENT_PID" "$f")"
	done
	psc_check "$name: CapInh" 0000000000000000 "$(status_field "$PSC_AGENT_PID" CapInh)"
	psc_check "$name: CapAmb" 0000000000000000 "$(status_field "$PSC_AGENT_PID" CapAmb)"
	psc_check "$name: NoNewPrivs" 1 "$(status_field "$PSC_AGENT_PID" NoNewPrivs)"
	psc_check "$name: AGENT-CAPS names the set" yes \
		"$(grep -q "AGENT-CAPS.*capabilities kept: $want_names[ ;]" "$PSC_AGENT_ERR" && echo yes || grep AGENT-CAPS "$PSC_AGENT_ERR")"
	sleep 1.2 # the sockets of the first connections are created after the drop
	redis-benchmark -p "$redis_port" -t get -n 2000 -c 2 -q >/dev/null
	sleep 2.5
}
stop_and_count() { # NAME: the GETs the --print output and the aggregator saw
	local name=$1
	psc_agent_stop || true
	python3 - "$work/$name.jsonl" "$cg" "$name" <<'PY' || PSC_FAILED=1
import json, sys
path, cg, name = sys.argv[1:4]
n = 0
for line in open(path):
    r = json.loads(line)
    if r["cgroup"] != cg:
        continue
    for e in r.get("endpoints", []):
        if e["protocol"] == "redis" and e["endpoint"] == "GET" and e["role"] == "server":
            n += e["count"]
ok = n == 2000
print("%s: %s: redis GET counted after the drop (--print): expected 2000, got %d" % ("PASS" if ok else "FAIL", name, n))
sys.exit(0 if ok else 1)
PY
	psc_check "$name: reports stored by the aggregator (> 0)" yes \
		"$([ "$(psc_sql "select count(*) from reports where host='$PSC_HOST'")" -gt 0 ] && echo yes || echo no)"
	psc_check "$name: nothing lost from the spool" yes \
		"$(grep -q ', 0 lost from the spool' "$PSC_AGENT_ERR" && echo yes || grep 'uplink:' "$PSC_AGENT_ERR")"
}

# 1. Observe only.
observe_caps=("${keep_bpf[@]}")
run_agent observe "$(want_mask "${observe_caps[@]}")" "$(want_names "${observe_caps[@]}")"
stop_and_count observe

# 2. --manage: an adjustment applied after the drop, egress limit included.
if [ "$PSC_CG_MODE" = v1 ]; then
	cpu_dir=""
	for d in cpu cpu,cpuacct cpuacct,cpu; do
		[ -e "$PSC_CGROUP_ROOT/$d/cpu.cfs_quota_us" ] && { cpu_dir=$PSC_CGROUP_ROOT/$d; break; }
	done
	f_quota=$cpu_dir$cg/cpu.cfs_quota_us want_quota=50000
	f_max=$PSC_CGROUP_ROOT/memory$cg/memory.limit_in_bytes
else
	f_quota=$PSC_CG_IDENTITY$cg/cpu.max want_quota="50000 100000"
	f_max=$PSC_CG_IDENTITY$cg/memory.max
fi
manage_caps=("$DAC_OVERRIDE" "$NET_ADMIN" "${keep_bpf[@]}")
run_agent manage "$(want_mask "${manage_caps[@]}")" "$(want_names "${manage_caps[@]}")" \
	--manage "$cg"
psc_issue --id 10 --workload "$cg" --cpu 0.5 --memory-max $((512 << 20)) --egress $((50 << 20)) \
	--reason "test: caps"
outcome=$(psc_wait_outcome 10)
psc_check "manage: adjustment after the drop: outcome" "$PSC_APPLIED" "$outcome"
[ "$outcome" = "$PSC_APPLIED" ] || psc_sql "select detail from adjustment_outcomes where host='$PSC_HOST'" >&2
psc_check "manage: cpu quota written" "$want_quota" "$(cat "$f_quota")"
psc_check "manage: memory limit written" $((512 << 20)) "$(cat "$f_max")"
psc_check "manage: egress limit attached (no failure logged)" 0 \
	"$(grep -c 'cannot attach the egress' "$PSC_AGENT_ERR" || true)"
psc_check "manage: still the same sets after applying" "$(want_mask "${manage_caps[@]}")" \
	"$(status_field "$PSC_AGENT_PID" CapEff)"
stop_and_count manage
echo "figure: capabilities kept: observe ${#observe_caps[@]} ($(want_names "${observe_caps[@]}")), manage ${#manage_caps[@]} ($(want_names "${manage_caps[@]}")) of $(( $(cat /proc/sys/kernel/cap_last_cap) + 1 )); kernel $(uname -r)"
exit $PSC_FAILED
