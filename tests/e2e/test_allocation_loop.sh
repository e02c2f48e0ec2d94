#!/bin/bash
# The predictive allocation loop end to end, with real servers and clients (issue 5's
# target). Two Redis servers run in cgroups this test creates, each under cpu.max 0.3
# cores (v1 cfs quota here), driven by redis-benchmark with the same repeating pattern
# (time compressed: 1-second windows, a PERIOD-second cycle that is busy for ON seconds)
# and then a shift (the load no longer stops, and a second client adds list pushes of
# 512-byte values: more requests, new commands, more CPU). prescient-agent manages one of them
# (--manage), the other keeps its static limit; prescient-aggregator models 1-second
# steps with a PERIOD-second season and sizes at --confidence CONF with a LEAD-second lead.
#
# Measured and checked:
#  - CPU throttled time of the managed server during the learnt cycles and the shift is at
#    most half of the static one's (the same load, at the same time);
#  - the limit rises before the busy phases once the pattern is learnt: for each learnt
#    cycle, the lead = start of the busy phase - the first time cpu.cfs_quota_us rose above
#    1.5x its lowest level in the quiet phase, after that low (positive = before); at least
#    half the learnt cycles rise early;
#  - the shift is detected (a detection row of the managed workload after the shift starts:
#    its CPU or requests moved up, or its behaviour changed) and acted on within 2 windows of its detection (an adjustment raising CPU
#    issued, or the limit already above the new demand: no throttling in the 2 s after);
#  - every adjustment for the managed cgroup only; the static one's quota never changed.
# Figures are printed as one line "allocation_loop: ...". Root, BTF, cgroups (else 77).
#
# Environment: PSC_LOOP_PERIOD (30), PSC_LOOP_ON (10), PSC_LOOP_CYCLES (6),
# PSC_LOOP_SHIFT (30) seconds/counts; PSC_LOOP_CONF (0.9), PSC_LOOP_LEAD (5).
set -euo pipefail
PSC_SOURCE_DIR=${PSC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PSC_BUILD_DIR=${PSC_BUILD_DIR:-$PSC_SOURCE_DIR/build}
# shellcheck source=../lib/workload.sh
source "$PSC_SOURCE_DIR/tests/lib/workload.sh"
psc_require_root_btf
psc_require_cmd redis-server redis-benchmark sqlite3 curl

period=${PSC_LOOP_PERIOD:-30}
on=${PSC_LOOP_ON:-10}
cycles=${PSC_LOOP_CYCLES:-6}
shift_s=${PSC_LOOP_SHIFT:-30}
conf=${PSC_LOOP_CONF:-0.9}
lead=${PSC_LOOP_LEAD:-5}
aggregator=$PSC_BUILD_DIR/aggregator/prescient-aggregator
# A sanitizer build is several times slower: there the loop runs shorter and only its
# functional checks count (adjustments applied to the managed cgroup only); the figures
# are printed but not held to the targets.
sanitized=0
grep -q '^PRESCIENT_SANITIZE:BOOL=ON' "$PSC_BUILD_DIR/CMakeCache.txt" 2>/dev/null && sanitized=1
if [ "$sanitized" = 1 ]; then
	cycles=${PSC_LOOP_CYCLES:-3}
	shift_s=${PSC_LOOP_SHIFT:-15}
fi
[ -x "$aggregator" ] || psc_die "not built: $aggregator"

psc_init
w=$PSC_WORK_DIR
cpu_dir=
for h in "${PSC_CG_HIERS[@]}"; do
	[ -e "$h/cpu.cfs_quota_us" ] && cpu_dir=$h
done
[ -n "$cpu_dir" ] || psc_skip "no v1 cpu hierarchy with cfs quota (this test drives v1 cpu limits)"

managed=$(psc_cgroup_create loop-managed)
static=$(psc_cgroup_create loop-static)
for cg in "$managed" "$static"; do
	echo 100000 >"$cpu_dir$cg/cpu.cfs_period_us"
	echo 30000 >"$cpu_dir$cg/cpu.cfs_quota_us"
done
p_managed=$(psc_free_port)
p_static=$(psc_free_port)
psc_cgroup_run "$managed" -- redis-server --port "$p_managed" --bind 127.0.0.1 --save '' \
	--appendonly no >/dev/null
psc_cgroup_run "$static" -- redis-server --port "$p_static" --bind 127.0.0.1 --save '' \
	--appendonly no >/dev/null
psc_wait_listen "$p_managed" || psc_die "redis did not start"
psc_wait_listen "$p_static" || psc_die "redis did not start"

"$aggregator" keygen "$w/keys" >/dev/null
link=$(psc_free_port)
http=$(psc_free_port)
"$aggregator" --listen "tcp://127.0.0.1:$link" --db "$w/db.sqlite" --keys "$w/keys" \
	--http "127.0.0.1:$http" --model-step 1s --model-interval 1s --model-season "${period}s" \
	--confidence "$conf" --lead "${lead}s" --adjustment-expiry 5s >"$w/aggregator.log" 2>&1 &
agg_pid=$!
psc_on_exit "kill $agg_pid; wait $agg_pid"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$http/healthz" >/dev/null && break; sleep 0.1; done
psc_agent_start "$w/agent.jsonl" --window 1 --aggregator "tcp://127.0.0.1:$link" \
	--keys "$w/keys" --spool "$w/spool" --manage "$managed" --cooldown 2 --max-step 4

# Every 0.25 s: time, both quotas, both throttled times (ns).
(
	while :; do
		printf '%s %s %s %s %s\n' "$(date +%s.%N)" \
			"$(cat "$cpu_dir$managed/cpu.cfs_quota_us")" "$(cat "$cpu_dir$static/cpu.cfs_quota_us")" \
			"$(awk '/^throttled_time/ {print $2}' "$cpu_dir$managed/cpu.stat")" \
			"$(awk '/^throttled_time/ {print $2}' "$cpu_dir$static/cpu.stat")"
		sleep 0.25
	done
) >"$w/samples" 2>/dev/null &
sampler=$!
psc_on_exit "kill $sampler"

load() { # seconds [shift]: both servers busy for that long (with "shift", also list pushes)
	local p pids=()
	for p in "$p_managed" "$p_static"; do
		redis-benchmark -p "$p" -c 4 -P 8 -n 1000000000 -t get,set -q >/dev/null 2>&1 &
		pids+=($!)
		if [ "${2:-}" = shift ]; then
			redis-benchmark -p "$p" -c 8 -P 16 -d 512 -n 1000000000 -t lpush -q >/dev/null 2>&1 &
			pids+=($!)
		fi
	done
	sleep "$1"
	kill "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
}

psc_log "pattern: $cycles cycles of ${period}s (busy ${on}s), then a shift for ${shift_s}s"
: >"$w/phases"
for ((c = 0; c < cycles; c++)); do
	echo "on $(date +%s.%N)" >>"$w/phases"
	load "$on"
	echo "off $(date +%s.%N)" >>"$w/phases"
	sleep $((period - on))
done
echo "shift $(date +%s.%N)" >>"$w/phases"
load "$shift_s" shift
echo "end $(date +%s.%N)" >>"$w/phases"
sleep 2
psc_agent_stop || true

python3 - "$w" "$managed" "$period" "$on" "$lead" "$sanitized" <<'PY'
import sqlite3, sys
w, managed = sys.argv[1], sys.argv[2]
sanitized = sys.argv[6] == "1"
period, on, lead = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
samples = [tuple(float(x) for x in l.split()) for l in open(w + "/samples") if len(l.split()) == 5]
phases = [(l.split()[0], float(l.split()[1])) for l in open(w + "/phases")]
ons = [t for k, t in phases if k == "on"]
shift = next(t for k, t in phases if k == "shift")
end = next(t for k, t in phases if k == "end")
learn_from = ons[min(2, len(ons) - 1)]  # the first two cycles learn the pattern

def at(t):  # the sample at or before t
    best = samples[0]
    for s in samples:
        if s[0] <= t:
            best = s
    return best

# Throttled time over the learnt cycles and the shift, both cgroups, same interval.
s0, s1 = at(learn_from), at(end)
thr_m = (s1[3] - s0[3]) / 1e9
thr_s = (s1[4] - s0[4]) / 1e9
ratio = thr_m / thr_s if thr_s > 0 else float("inf")

# Lead: per learnt cycle, the quota's level in the middle of the off phase before it, and
# the first time after that the quota exceeded 1.5x that level.
leads = []
for t_on in ons:
    if t_on < learn_from:
        continue
    off_start = t_on - (period - on)
    quiet = [s for s in samples if off_start + 3 <= s[0] <= t_on - lead - 1]
    if not quiet or min(q[1] for q in quiet) <= 0:
        continue
    low = min(quiet, key=lambda q: (q[1], q[0]))  # the lowest quota, and when
    rise = next((s[0] for s in samples if s[0] > low[0] and s[1] > 1.5 * low[1]), None)
    leads.append(t_on - rise if rise is not None else float("-inf"))
early = sum(1 for l in leads if l > 0)

db = sqlite3.connect(w + "/db.sqlite")
adj = db.execute("SELECT count(*), sum(workload <> ?) FROM adjustments", (managed,)).fetchone()
# Steps are 1 s bins of window starts and windows are not aligned to the second: the
# step holding the shift's first second may start up to 2 s before it.
det = db.execute("SELECT min(d.detected_at) FROM detections d JOIN workloads w ON w.id = d.workload_id"
                 " WHERE w.cgroup = ? AND (d.direction = 1 OR d.series = 'behaviour') AND d.ts >= ?",
                 (managed, shift - 2)).fetchone()[0]
acted = None
if det is not None:
    a = db.execute("SELECT min(issued_at) FROM adjustments WHERE workload = ? AND issued_at >= ?",
                   (managed, det - 1)).fetchone()[0]
    thr_after = (at(det + 3)[3] - at(det + 1)[3]) / 1e9
    if a is not None and a - det <= 2:
        acted = a - det
    elif thr_after < 0.05:
        acted = 0.0  # the limit already covered the new demand
applied = db.execute("SELECT count(*) FROM adjustments WHERE workload = ? AND outcome = 1",
                     (managed,)).fetchone()[0]
static_changed = len(set(s[2] for s in samples)) > 1
mean_lead = sum(l for l in leads if l > -1e9) / max(1, sum(1 for l in leads if l > -1e9))
print("allocation_loop: throttled managed %.2f s vs static %.2f s (ratio %.3f, target <= 0.5);"
      " learnt cycles rising early %d of %d (mean lead %.1f s); shift detected %s, acted on %s;"
      " adjustments %d (%d applied)" % (
          thr_m, thr_s, ratio, early, len(leads), mean_lead,
          "yes" if det else "no", "%.1f s after" % acted if acted is not None else "no",
          adj[0], applied))
fails = []
if not sanitized:
    if not ratio <= 0.5: fails.append("throttling ratio %.3f > 0.5" % ratio)
    if not leads or early * 2 < len(leads): fails.append("the limit rose early in %d of %d learnt cycles" % (early, len(leads)))
    if det is None: fails.append("the shift was not detected")
    elif acted is None: fails.append("the shift was not acted on within 2 windows")
if adj[1]: fails.append("%d adjustments for another cgroup" % adj[1])
if applied == 0: fails.append("no adjustment was applied")
if static_changed: fails.append("the static cgroup's quota changed")
if fails:
    print("FAIL: " + "; ".join(fails))
    sys.exit(1)
print("OK")
PY
