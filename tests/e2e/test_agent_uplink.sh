#!/bin/bash
# The fleet link end to end with the real agent: prescient-agent captures real Redis
# traffic and reports to prescient-aggregator over nanomsg on loopback; the aggregator is
# killed with SIGKILL in the middle of the stream and restarted; the agent spools meanwhile
# and replays. Meanwhile an agent with another fleet's key and a sender of corrupt,
# truncated, oversized and decompression-bomb frames are refused while the good agent keeps
# flowing. Finally the agent is restarted and continues its sequence.
# Checks: every report sequence number stored exactly once with no gap, nothing left in the
# spool, nothing lost, the stored GET count equals what redis-benchmark sent, the foreign
# agent stored nothing, and every refusal is counted by reason in /metrics.
# Needs root and BTF (the agent), else exits 77.
set -euo pipefail

build=${PSC_BUILD_DIR:?}
agent=$build/agent/prescient-agent
aggregator=$build/aggregator/prescient-aggregator
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (the agent loads eBPF programs)"; exit 77; }
[ -r /sys/kernel/btf/vmlinux ] || { echo "SKIP: kernel without BTF"; exit 77; }
for c in redis-server redis-benchmark sqlite3 curl; do
	command -v "$c" >/dev/null || { echo "SKIP: $c not installed"; exit 77; }
done

tmp=$(mktemp -d /tmp/prescient-e2e-uplink.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${PSC_KEEP:-0}" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
link_port=$(free_port)
http_port=$(free_port)
redis_port=$(free_port)
host="e2e-uplink-$$"

start_aggregator() {
	"$aggregator" --listen "tcp://127.0.0.1:$link_port" --db "$tmp/db.sqlite" --keys "$tmp/keys" \
		--http "127.0.0.1:$http_port" >>"$tmp/aggregator.log" 2>&1 &
	agg_pid=$!
	pids+=("$agg_pid")
	for _ in $(seq 50); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && return; sleep 0.1; done
	echo "FAIL: aggregator did not start"; cat "$tmp/aggregator.log"; exit 1
}

"$aggregator" keygen "$tmp/keys" >/dev/null
start_aggregator
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
pids+=($!)
"$agent" --aggregator "tcp://127.0.0.1:$link_port" --keys "$tmp/keys" --spool "$tmp/spool" \
	--window 1 --host-id "$host" >/dev/null 2>"$tmp/agent.err" &
agent_pid=$!
pids+=("$agent_pid")
for _ in $(seq 100); do grep -q AGENT-LOADED "$tmp/agent.err" && break; sleep 0.1; done

# An agent of another fleet (its own keys) on the same host, and bad frames.
"$aggregator" keygen "$tmp/other-keys" >/dev/null
"$agent" --aggregator "tcp://127.0.0.1:$link_port" --keys "$tmp/other-keys" --spool "$tmp/other-spool" \
	--window 1 --host-id "$host-foreign" >/dev/null 2>"$tmp/foreign.err" &
foreign_pid=$!
pids+=("$foreign_pid")
for bad in corrupt truncated oversized bomb; do
	"$build/aggregator/psc_send_reports" --connect "tcp://127.0.0.1:$link_port" --keys "$tmp/keys" \
		--host "$host-bad" --garbage "$bad" >>"$tmp/garbage.log" 2>&1 || true
done

redis-benchmark -p "$redis_port" -t get -n 3000 -c 3 -q >/dev/null
sleep 1.5
kill -INT "$foreign_pid"
wait "$foreign_pid" || true
# Counters live in the aggregator's memory: read them before it is killed.
metrics=$(curl -sf "http://127.0.0.1:$http_port/metrics")
kill -9 "$agg_pid"
wait "$agg_pid" 2>/dev/null || true
redis-benchmark -p "$redis_port" -t get -n 2000 -c 3 -q >/dev/null
sleep 3
spooled=$(find "$tmp/spool" -name '*.frame' | wc -l)
start_aggregator
sleep 4
kill -INT "$agent_pid"
wait "$agent_pid" || true
grep "prescient-agent:" "$tmp/agent.err" || true
first_max=$(sqlite3 "$tmp/db.sqlite" "select max(seq) from reports where host='$host'")

# A restarted agent continues its sequence (and its spool).
"$agent" --aggregator "tcp://127.0.0.1:$link_port" --keys "$tmp/keys" --spool "$tmp/spool" \
	--window 1 --duration 3 --host-id "$host" >/dev/null 2>"$tmp/agent2.err"

refused() { echo "$metrics" | awk -v r="$1" '$1 == "prescient_reports_refused_total{reason=\"" r "\"}" {print $2}'; }
failed=0
check() { # WHAT EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then echo "PASS: $1: $3"; else echo "FAIL: $1: expected $2, got $3"; failed=1; fi
}
check "reports spooled while the aggregator was down (> 0)" yes "$([ "$spooled" -gt 0 ] && echo yes || echo "no ($spooled)")"
read -r n lo hi distinct < <(sqlite3 -separator ' ' "$tmp/db.sqlite" \
	"select count(*), min(seq), max(seq), count(distinct seq) from reports where host='$host'")
check "reports stored" "$hi" "$n"
check "first sequence number" 1 "$lo"
check "each sequence number once" "$n" "$distinct"
check "spool empty at exit" 0 "$(find "$tmp/spool" -name '*.frame' | wc -l)"
check "agent summary: nothing lost" yes \
	"$(grep -q '0 still spooled, 0 lost from the spool' "$tmp/agent.err" && echo yes || echo no)"
gets=$(sqlite3 "$tmp/db.sqlite" "select coalesce(sum(s.count), 0) from endpoint_series s
	join endpoints e on e.id = s.endpoint_id join workloads w on w.id = e.workload_id
	join hosts h on h.id = w.host_id
	where h.name = '$host' and s.tier = 0 and e.protocol = 'redis' and e.role = 'server' and e.endpoint = 'GET'")
check "redis GET requests stored (server side)" 5000 "$gets"
check "restarted agent continued its sequence" yes \
	"$([ "$hi" -gt "$first_max" ] && [ "$n" = "$hi" ] && echo yes || echo "no (first run ended at $first_max; now $n reports, max $hi)")"
check "foreign-key agent stored nothing" 0 \
	"$(sqlite3 "$tmp/db.sqlite" "select count(*) from reports where host='$host-foreign'")"
check "foreign-key reports refused as bad_key (> 0)" yes \
	"$([ "$(refused bad_key)" -gt 0 ] && echo yes || echo "no ($(refused bad_key))")"
for reason in corrupt oversized bomb; do
	check "refused $reason frames counted (> 0)" yes \
		"$([ "$(refused $reason)" -gt 0 ] && echo yes || echo "no ($(refused $reason))")"
done
exit $failed
