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

psc_require_root_btf
psc_require_cmd redis-server redis-benchmark sqlite3 curl
build=$PSC_BUILD_DIR
aggregator=$build/aggregator/prescient-aggregator
[ -x "$aggregator" ] || psc_skip "prescient-aggregator not built"
down_s=${PSC_FAULT_DOWN_S:-60}
psc_init
work=$PSC_WORK_DIR

cg=$(psc_cgroup_create redis)
host="aggdown-$$"
link_port=$(psc_free_port)
http_port=$(psc_free_port)
redis_port=$(psc_free_port)
db=$work/aggregator.db
spool=$work/spool

start_aggregator() {
	"$aggregator" --listen "tcp://127.0.0.1:$link_port" --db "$db" --keys "$work/keys" \
		--http "127.0.0.1:$http_port" >>"$work/aggregator.log" 2>&1 &
	agg_pid=$!
	psc_on_exit "kill -TERM $agg_pid; psc_wait_pid_exit $agg_pid 10"
	for _ in $(seq 50); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && return; sleep 0.1; done
	cat "$work/aggregator.log" >&2
	psc_die "aggregator did not start"
}
"$aggregator" keygen "$work/keys" >/dev/null
start_aggregator
psc_redis_start "$cg" "$work/redis" "$redis_port"
psc_agent_start "$work/agent.jsonl" --aggregator "tcp://127.0.0.1:$link_port" --keys "$work/keys" \
	--spool "$spool" --window 1 --host-id "$host"
err=$PSC_AGENT_ERR

failed=0
check() { # WHAT EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then echo "PASS: $1: $3"; else echo "FAIL: $1: expected '$2', got '$3'"; failed=1; fi
}
sql() { sqlite3 -cmd '.timeout 5000' "$db" "$1"; }
frames() { find "$spool" -name '*.frame' | wc -l; }
sent=0
load() { redis-benchmark -p "$redis_port" -t get -n "$1" -c 2 -q >/dev/null; sent=$((sent + $1)); }

sleep 1.2
load 1000
sleep 1
kill -KILL "$agg_pid"
wait "$agg_pid" 2>/dev/null || true
t_down=$(date +%s)
psc_log "aggregator down for $down_s s"
while [ $(($(date +%s) - t_down)) -lt "$down_s" ]; do
	load 200
	sleep 2
done
spooled=$(frames)
psc_log "$spooled reports in the spool"
start_aggregator
t_back=$(date +%s.%N)
for _ in $(seq $((down_s * 20 + 600))); do
	[ "$(frames)" -le 1 ] && [ "$(sql "select count(*) from reports where host='$host'")" -ge "$spooled" ] && break
	sleep 0.05
done
t_replayed=$(date +%s.%N)
replay_s=$(awk -v a="$t_back" -v b="$t_replayed" 'BEGIN {printf "%.1f", b - a}')
load 1000
sleep 2
psc_agent_stop || true

check "reports spooled while down (>= $((down_s / 2)))" yes "$([ "$spooled" -ge $((down_s / 2)) ] && echo yes || echo "no ($spooled)")"
read -r n lo hi distinct < <(sql "select count(*), min(seq), max(seq), count(distinct seq) from reports where host='$host'" | tr '|' ' ')
check "first sequence number" 1 "$lo"
check "reports stored = highest sequence number (no gap)" "$hi" "$n"
check "each sequence number once" "$n" "$distinct"
check "windows back to back (gaps > 1 ms)" 0 "$(sql "select count(*) from reports r join reports p on p.host = r.host and p.seq = r.seq - 1
	where r.host = '$host' and abs(r.window_start - p.window_end) > 0.001")"
check "spool empty at the end" 0 "$(frames)"
check "agent summary: nothing lost" yes \
	"$(grep -q '0 still spooled, 0 lost from the spool' "$err" && echo yes || grep 'uplink:' "$err")"
gets=$(sql "select coalesce(sum(s.count), 0) from endpoint_series s
	join endpoints e on e.id = s.endpoint_id join workloads w on w.id = e.workload_id
	join hosts h on h.id = w.host_id
	where h.name = '$host' and s.tier = 0 and e.protocol = 'redis' and e.role = 'server' and e.endpoint = 'GET'")
check "redis GETs stored" "$sent" "$gets"
echo "figure: aggregator down ${down_s} s: $spooled reports spooled, replayed in $replay_s s after its return; $n reports stored (seq 1..$hi, no gap, none twice), $gets of $sent GETs, spool empty"
exit $failed
