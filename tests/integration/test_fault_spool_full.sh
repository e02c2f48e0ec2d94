#!/bin/bash
# Fault: the spool's disk fills up (issue 7). The agent's spool is on a small tmpfs this test
# mounts (2 MiB, mostly taken by a filler file so that it fills in seconds) with
# --spool-max-mb far above it, so the file system, not the bound, runs out; the aggregator
# is down meanwhile. Real Redis traffic (redis-benchmark against a redis-server in a test
# cgroup) keeps flowing.
# Checks: the agent keeps running and logs the loss (AGENT-SPOOL-LOSS) and counts it (exit
# summary "N lost from the spool", N > 0); it keeps capturing (its --print windows while the
# disk is full count GETs); once the aggregator is back every report that was in the spool
# is stored, each once, and new reports flow again.
# Needs root, BTF and cgroups (else exits 77).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PSC_CG_PREFIX=psc-spoolfull
# shellcheck source=../lib/workload.sh
source "$here/../lib/workload.sh"

# shellcheck source=../lib/fleet.sh
source "$here/../lib/fleet.sh"

psc_require_root_btf
psc_require_cmd redis-server redis-benchmark sqlite3 curl python3 mount umount
psc_init
work=$PSC_WORK_DIR
cg=$(psc_cgroup_create redis)
redis_port=$(psc_free_port)
fs=$work/spoolfs
spool=$fs/spool
psc_fleet_init "spoolfull-$$"
mkdir -p "$fs"
mount -t tmpfs -o size=2m,mode=0700 psc-test-spool "$fs" || psc_skip "cannot mount a tmpfs"
# Hooks run before the library stops the agent: stop it first (it holds the spool).
psc_on_exit "[ -z \"\$PSC_AGENT_PID\" ] || psc_agent_stop; umount $fs"
# Leave about 200 KiB: some 50 report files (a tmpfs file takes at least one page).
dd if=/dev/zero of="$fs/filler" bs=1k count=1848 status=none
psc_redis_start "$cg" "$work/redis" "$redis_port"

frames() { find "$spool" -name '*.frame' 2>/dev/null | sed 's|.*/0*||; s|\.frame$||' | sort -n; }

# The aggregator is down from the start: everything goes to the spool.
mapfile -t uplink < <(psc_agent_uplink_args)
psc_agent_start "$work/agent.jsonl" "${uplink[@]}" --spool "$spool" --spool-max-mb 64 --window 0.2
err=$PSC_AGENT_ERR
t_full=""
# Bounded by time, not by rounds: how long a round takes depends on the host.
deadline=$(($(date +%s) + 90))
while [ "$(date +%s)" -lt "$deadline" ]; do
	redis-benchmark -p "$redis_port" -t get -n 200 -c 1 -q >/dev/null
	grep -q AGENT-SPOOL-LOSS "$err" && { t_full=$(date +%s.%N); break; }
	psc_pid_alive "$PSC_AGENT_PID" || break
done
[ -n "$t_full" ] || { tail -n 20 "$err" >&2; psc_die "the spool never filled ($(frames | wc -l) frames, $(df -k "$fs" | tail -n1))"; }
psc_log "disk full after $(frames | wc -l) frames: $(df -k "$fs" | awk 'NR == 2 {print $4}') KiB free"

# Full for a while, traffic flowing.
for _ in 1 2 3; do redis-benchmark -p "$redis_port" -t get -n 1000 -c 2 -q >/dev/null; sleep 0.5; done
psc_check "agent running on a full disk" yes "$(psc_pid_alive "$PSC_AGENT_PID" && echo yes || echo no)"
losses=$(grep -c AGENT-SPOOL-LOSS "$err" || true)
psc_check "losses logged (AGENT-SPOOL-LOSS > 0)" yes "$([ "$losses" -gt 0 ] && echo yes || echo no)"
gets_full=$(python3 - "$PSC_AGENT_OUT" "$cg" "$t_full" <<'PY'
import json, sys
path, cg, t = sys.argv[1], sys.argv[2], float(sys.argv[3])
n = 0
for line in open(path):
    r = json.loads(line)
    if r["cgroup"] == cg and r["ts"] > t + 0.5:
        n += sum(e["count"] for e in r.get("endpoints", [])
                 if e["protocol"] == "redis" and e["endpoint"] == "GET" and e["role"] == "server")
print(n)
PY
)
psc_check "still capturing with the disk full (GETs in --print windows)" yes \
	"$([ "$gets_full" -ge 2000 ] && echo yes || echo "no ($gets_full)")"
mapfile -t waiting < <(frames)
psc_log "${#waiting[@]} reports in the spool: ${waiting[0]:-}..${waiting[-1]:-}"

# The aggregator comes back: the spool drains, and new reports can be spooled again.
psc_aggregator_start
t_back=$(date +%s.%N)
delivered=0
for _ in $(seq 1200); do
	if [ -f "$PSC_DB" ]; then
		delivered=$(psc_sql "select count(*) from reports where host='$PSC_HOST' and seq between ${waiting[0]} and ${waiting[-1]}" 2>/dev/null || echo 0)
		[ "$delivered" = "${#waiting[@]}" ] && break
	fi
	sleep 0.1
done
t_done=$(date +%s.%N)
losses_before_stop=$(grep -c AGENT-SPOOL-LOSS "$err" || true)
sleep 2
psc_check "reports spooled before the disk filled, delivered" "${#waiting[@]}" "$delivered"
psc_check "new reports spooled again after the drain (no new losses in 2 s)" "$losses_before_stop" "$(grep -c AGENT-SPOOL-LOSS "$err" || true)"
psc_agent_stop || true
lost=$(sed -n 's/.*still spooled, \([0-9]*\) lost from the spool.*/\1/p' "$err")
psc_check "losses counted in the summary (> 0)" yes "$([ "${lost:-0}" -gt 0 ] && echo yes || echo "no (${lost:-none})")"
read -r n distinct < <(psc_sql "select count(*), count(distinct seq) from reports where host='$PSC_HOST'" | tr '|' ' ')
psc_check "each report stored once" "$n" "$distinct"
psc_check "agent exited normally" yes "$(grep -q 'events seen' "$err" && echo yes || echo no)"
echo "figure: spool full (2 MiB tmpfs) after ${#waiting[@]} reports; $lost reports lost and counted while full, capture went on ($gets_full GETs in windows meanwhile); the ${#waiting[@]} spooled reports delivered $(awk -v a="$t_back" -v b="$t_done" 'BEGIN {printf "%.1f", b - a}') s after the aggregator returned; $n reports stored, each once"
exit $PSC_FAILED
