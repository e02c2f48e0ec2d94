#!/bin/bash
# Fault: the aggregator is down for a long time, then back (issue 7). A real prescient-agent
# reports real Redis traffic (redis-benchmark against a redis-server in a test cgroup) to a
# real prescient-aggregator on loopback; the aggregator is killed (SIGKILL) and stays down
# for PSC_FAULT_DOWN_S seconds (default 60; the issue's 10 minutes is PSC_FAULT_DOWN_S=600)
# while the traffic goes on, then it is started again.
# Checks: reports were spooled meanwhile; after the return every window's report is stored
# exactly once with no gap (sequence 1..N, each window starting where the previous ended);
# the spool is empty at the end and nothing was lost; every GET redis-benchmark sent is
# counted. Prints the reports spooled and the replay time.
# Needs root, BTF and cgroups (else exits 77).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PSC_CG_PREFIX=psc-aggdown
# shellcheck source=../lib/workload.sh
source "$here/../lib/workload.sh"

# shellcheck source=../lib/fleet.sh
source "$here/../lib/fleet.sh"

psc_require_root_btf
psc_require_cmd redis-server redis-benchmark sqlite3 curl
down_s=${PSC_FAULT_DOWN_S:-60}
psc_init
work=$PSC_WORK_DIR
cg=$(psc_cgroup_create redis)
redis_port=$(psc_free_port)
spool=$work/spool
psc_fleet_init "aggdown-$$"
psc_aggregator_start
psc_redis_start "$cg" "$work/redis" "$redis_port"
mapfile -t uplink < <(psc_agent_uplink_args)
psc_agent_start "$work/agent.jsonl" "${uplink[@]}" --spool "$spool" --window 1
err=$PSC_AGENT_ERR
frames() { find "$spool" -name '*.frame' | wc -l; }
sent=0
load() { redis-benchmark -p "$redis_port" -t get -n "$1" -c 2 -q >/dev/null; sent=$((sent + $1)); }

sleep 1.2
load 1000
sleep 1
kill -KILL "$PSC_AGG_PID"
wait "$PSC_AGG_PID" 2>/dev/null || true
t_down=$(date +%s)
psc_log "aggregator down for $down_s s"
while [ $(($(date +%s) - t_down)) -lt "$down_s" ]; do
	load 200
	sleep 2
done
spooled=$(frames)
psc_log "$spooled reports in the spool"
psc_aggregator_start
t_back=$(date +%s.%N)
for _ in $(seq $((down_s * 20 + 600))); do
	[ "$(frames)" -le 1 ] && [ "$(psc_sql "select count(*) from reports where host='$PSC_HOST'")" -ge "$spooled" ] && break
	sleep 0.05
done
t_replayed=$(date +%s.%N)
replay_s=$(awk -v a="$t_back" -v b="$t_replayed" 'BEGIN {printf "%.1f", b - a}')
load 1000
sleep 2
psc_agent_stop || true

psc_check "reports spooled while down (>= $((down_s / 2)))" yes "$([ "$spooled" -ge $((down_s / 2)) ] && echo yes || echo "no ($spooled)")"
psc_check_reports_gapless
n=$PSC_REPORTS hi=$PSC_MAX_SEQ
psc_check "spool empty at the end" 0 "$(frames)"
psc_check "agent summary: nothing lost" yes \
	"$(grep -q '0 still spooled, 0 lost from the spool' "$err" && echo yes || grep 'uplink:' "$err")"
gets=$(psc_stored_gets "$cg")
psc_check "redis GETs stored" "$sent" "$gets"
echo "figure: aggregator down ${down_s} s: $spooled reports spooled, replayed in $replay_s s after its return; $n reports stored (seq 1..$hi, no gap, none twice), $gets of $sent GETs, spool empty"
exit $PSC_FAILED
