#!/bin/bash
# Workloads come and go: 20 short-lived cgroups, started one a second, each running a short
# curl loop against nginx (one curl process per request), removed as soon as their loop
# ends. PSC_CHURN_CGROUPS, PSC_CHURN_INTERVAL (s) and PSC_CHURN_REQS scale it: issue 7's
# 100 cgroups and 1000 processes a minute for 10 minutes is about PSC_CHURN_CGROUPS=1000
# PSC_CHURN_INTERVAL=0.45 PSC_CHURN_REQS=10 on this 2-vCPU VM (starting a cgroup and its
# loop takes ~0.1 s on top of the interval: 108 cgroups a minute). The agent must report each
# of them with all its requests, forget them once removed (no report later than 2 windows
# after the removal), and not grow (VmRSS) from the middle of the churn to its end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/workload.sh
source "$here/../lib/workload.sh"

psc_require_root_btf
psc_require_cmd nginx curl ss
psc_init

CGROUPS=${PSC_CHURN_CGROUPS:-20} REQS=${PSC_CHURN_REQS:-20} INTERVAL=${PSC_CHURN_INTERVAL:-1}
WINDOW=2 RSS_SLACK_KB=4096

port=$(psc_free_port)
srv=$(psc_cgroup_create churn-nginx)
psc_nginx_start "$srv" "$PSC_WORK_DIR/nginx" "$port"

out=$PSC_WORK_DIR/agent.jsonl
removed=$PSC_WORK_DIR/removed # "<cgroup> <epoch s>" per removed cgroup
: >"$removed"
psc_agent_start "$out" --window "$WINDOW"

declare -A running=() # pid -> cgroup
reap() {
	local pid
	for pid in "${!running[@]}"; do
		psc_pid_alive "$pid" && continue
		wait "$pid" || psc_log "client loop in ${running[$pid]} exited non-zero"
		psc_cgroup_destroy "${running[$pid]}"
		echo "${running[$pid]} $(date +%s.%N)" >>"$removed"
		unset "running[$pid]"
	done
}

rss_mid=
for ((i = 1; i <= CGROUPS; i++)); do
	cg=$(psc_cgroup_create "churn-$i")
	# REQS requests, one curl process each, 0.2 s apart (~4.5 s of life by default).
	psc_cgroup_run "$cg" --log "$PSC_WORK_DIR/churn-$i.log" -- bash -c '
		for ((j = 0; j < $2; j++)); do
			curl -s -o /dev/null -f "http://127.0.0.1:$1/api/orders/$RANDOM" || exit 1
			sleep 0.2
		done' _ "$port" "$REQS" >/dev/null
	running[$PSC_LAST_PID]=$cg
	sleep "$INTERVAL"
	reap
	if [ "$i" -eq $((CGROUPS / 2)) ]; then
		rss_mid=$(psc_agent_rss_kb)
		psc_log "agent VmRSS in the middle of the churn: $rss_mid kB"
	fi
done
while [ ${#running[@]} -gt 0 ]; do
	sleep 0.2
	reap
done
sleep $((2 * WINDOW + 1)) # the removed cgroups' last windows go by
rss_end=$(psc_agent_rss_kb)
psc_log "agent VmRSS at the end: $rss_end kB"
psc_agent_stop || psc_die "the agent exited non-zero"

python3 - "$out" "$PSC_AGENT_ERR" "$srv" "$removed" "$REQS" "$WINDOW" "$rss_mid" "$rss_end" \
	"$RSS_SLACK_KB" "$CGROUPS" <<'PY'
import os, sys
sys.path.insert(0, os.environ["PSC_LIB_DIR"])
from psc_report import Report, Checks, parse_summary

out, err, srv, removed_file = sys.argv[1:5]
reqs, window, rss_mid, rss_end, slack, ncg = map(int, sys.argv[5:11])
rep = Report(out)
removed = {}
with open(removed_file) as f:
    for line in f:
        cg, t = line.split()
        removed[cg] = float(t)

ck = Checks("cgroup_churn")
ck.no_drops(parse_summary(err))
ck.eq("churn cgroups created and removed", ncg, len(removed))
EP = "GET /api/orders/{id}"
late = []
for cg in sorted(removed, key=lambda c: removed[c]):
    recs = rep.records(cg)
    e = rep.endpoint(cg, "http", EP, "client")
    last = max((r["ts"] for r in recs), default=None)
    print("%s: %d reports, last at +%.1f s after removal, %s" % (
        cg, len(recs), (last - removed[cg]) if last else float("nan"), e))
    ck.eq("%s reported, client %s count" % (cg, EP), reqs, e.count)
    ck.eq("%s client %s responses" % (cg, EP), reqs, e.responses)
    if last is not None and last > removed[cg] + 2 * window:
        late.append((cg, round(last - removed[cg], 2)))
ck.eq("workloads reported more than 2 windows after their cgroup was removed", [], late)
ck.eq("server %s count (all churn clients)" % EP, ncg * reqs, rep.endpoint(srv, "http", EP, "server").count)
ck.le("agent VmRSS growth from mid-churn (%d kB) to the end (%d kB), kB" % (rss_mid, rss_end),
      slack, rss_end - rss_mid)
ck.done()
PY
