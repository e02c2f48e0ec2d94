#!/usr/bin/env bash
# Aggregator ingest throughput (a benchmark, not a test: it prints figures, it never fails a
# build). Starts prescient-aggregator on loopback and runs psc_send_reports --agents: N
# simulated agents (one REQ socket, host id and dictionary each, one request in flight per
# agent, as an agent does) x M valid sealed reports of E endpoints. Prints the
# endpoint-records committed (from the store's ledger) per second of the aggregator's own
# CPU time (utime + stime from /proc/PID/stat, i.e. per core) and per second of wall time,
# and the aggregator's RSS before and after (memory bounded).
# Usage: ingest_rate.sh [--build DIR] [--agents N] [--reports M] [--endpoints E]
#                       [--workloads W] [--synchronous full|normal] [--db-dir DIR]
#                       [--with-modeling] [--rss-every S]
# --rss-every S samples the aggregator's RSS every S seconds during the run and prints the
# series (memory bounded over a long run, not only at its end).
# The live modeling cycle (--model-interval) runs on its own thread with its own SQLite
# connection; it is off here unless --with-modeling: this measures ingest.
# The load generator runs on the same host and competes for its CPUs: the CPU-time rate is
# the figure to compare; the wall rate is what this host sustained with both.
# Everything started here is stopped by its pid; ports are free loopback ports.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${PSC_BUILD_DIR:-$here/../../build}
agents=200
reports=50
endpoints=20
workloads=2
sync=full
db_dir=
modeling=0
rss_every=
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--agents) agents=$2; shift 2 ;;
	--reports) reports=$2; shift 2 ;;
	--endpoints) endpoints=$2; shift 2 ;;
	--workloads) workloads=$2; shift 2 ;;
	--synchronous) sync=$2; shift 2 ;;
	--db-dir) db_dir=$2; shift 2 ;;
	--with-modeling) modeling=1; shift ;;
	--rss-every) rss_every=$2; shift 2 ;;
	*) echo "usage: $0 [--build DIR] [--agents N] [--reports M] [--endpoints E] [--workloads W] [--synchronous full|normal] [--db-dir DIR] [--with-modeling] [--rss-every S]" >&2; exit 2 ;;
	esac
done
agg=$build/aggregator/prescient-aggregator
send=$build/aggregator/psc_send_reports
[ -x "$agg" ] && [ -x "$send" ] || { echo "build prescient-aggregator and psc_send_reports in $build first" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "needs sqlite3" >&2; exit 2; }

tmp=$(mktemp -d)
db=${db_dir:-$tmp}/ingest-bench-$$.db
agg_pid=
sampler_pid=
cleanup() {
	if [ -n "$sampler_pid" ]; then
		kill "$sampler_pid" 2>/dev/null || true
		wait "$sampler_pid" 2>/dev/null || true
	fi
	if [ -n "$agg_pid" ]; then
		kill "$agg_pid" 2>/dev/null || true
		wait "$agg_pid" 2>/dev/null || true
	fi
	rm -f "$db" "$db-wal" "$db-shm"
	rm -rf "$tmp"
}
trap cleanup EXIT
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

"$agg" keygen "$tmp/keys" >/dev/null
extra=()
# Not `--help | grep -q`: under pipefail that pipeline fails whenever grep exits at its
# match before --help has written its last block (SIGPIPE), which left live modeling on
# in about a third of the runs (and grew the RSS by its ~300 kB per workload).
help=$("$agg" --help 2>&1 || true)
if [ "$modeling" = 0 ] && [[ $help == *--model-interval* ]]; then
	extra=(--model-interval off)
fi
url=tcp://127.0.0.1:$(free_port)
"$agg" --listen "$url" --db "$db" --keys "$tmp/keys" --synchronous "$sync" \
	--log-level warn "${extra[@]}" 2>"$tmp/agg.log" &
agg_pid=$!
for _ in $(seq 50); do
	[ -f "$db-wal" ] && break
	sleep 0.1
done
sleep 0.2
kill -0 "$agg_pid" 2>/dev/null || { cat "$tmp/agg.log" >&2; exit 1; }

rss0=$(rss_kb "$agg_pid")
ticks0=$(cpu_ticks "$agg_pid")
t0=$(date +%s.%N)
if [ -n "$rss_every" ]; then
	(
		while kill -0 "$agg_pid" 2>/dev/null; do
			echo "$(date +%s) $(rss_kb "$agg_pid") $(awk '/^RssAnon:/ {print $2}' "/proc/$agg_pid/status")"
			sleep "$rss_every"
		done
	) >"$tmp/rss.txt" &
	sampler_pid=$!
fi
"$send" --connect "$url" --keys "$tmp/keys" --agents "$agents" --count "$reports" \
	--endpoints "$endpoints" --workloads "$workloads" --host bench --timeout-ms 60000 \
	>"$tmp/fleet.out" 2>"$tmp/fleet.err" || { cat "$tmp/fleet.out" "$tmp/fleet.err" >&2; exit 1; }
t1=$(date +%s.%N)
ticks1=$(cpu_ticks "$agg_pid")
rss1=$(rss_kb "$agg_pid")
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$agg_pid/status")
# Whether live modeling ran is read from the process (its thread, by now surely started),
# not from the options: its model state is most of the RSS of a run with it on.
live_model=0
grep -qx psc-model /proc/"$agg_pid"/task/*/comm 2>/dev/null && live_model=1
cat "$tmp/fleet.out"
if [ -n "$sampler_pid" ]; then
	kill "$sampler_pid" 2>/dev/null || true
	wait "$sampler_pid" 2>/dev/null || true
	sampler_pid=
	awk -v t0="${t0%.*}" 'NF == 3 {printf "%s%ds %.1f (anon %.1f)", (n++ ? ", " : "RSS MiB over the run: "), $1 - t0, $2 / 1024, $3 / 1024} END {print ""}' "$tmp/rss.txt"
fi

kill "$agg_pid"
wait "$agg_pid" 2>/dev/null || true
agg_pid=
reports_stored=$(sqlite3 "$db" "SELECT count(*) FROM reports")
records=$(sqlite3 "$db" "SELECT coalesce(sum(endpoints), 0) FROM reports")
rows=$(sqlite3 "$db" "SELECT count(*) FROM endpoint_series WHERE tier = 0")
[ "$records" = "$rows" ] || echo "warning: ledger says $records endpoint-records, endpoint_series holds $rows raw rows" >&2

python3 - "$records" "$reports_stored" "$ticks0" "$ticks1" "$(getconf CLK_TCK)" "$t0" "$t1" \
	"$rss0" "$rss1" "$hwm" "$agents" "$reports" "$endpoints" "$sync" \
	"$([ "$live_model" = 1 ] && echo ", live modeling on" || echo "")" <<'EOF'
import sys
rec, rep, k0, k1, hz, t0, t1, r0, r1, hwm = map(float, sys.argv[1:11])
agents, reports, eps, sync, mod = sys.argv[11:16]
cpu = (k1 - k0) / hz
wall = t1 - t0
print(f"aggregator CPU {cpu:.2f} s ({cpu * 1e6 / max(rep, 1):.0f} us/report), wall {wall:.2f} s, "
      f"RSS {r0 / 1024:.1f} MiB before, {r1 / 1024:.1f} MiB after (peak {hwm / 1024:.1f} MiB)")
print(f"ingest_rate summary: synchronous={sync}{mod} {agents} agents x {reports} reports x {eps} endpoints: "
      f"{rec:.0f} endpoint-records committed, {rec / cpu if cpu > 0 else 0:,.0f}/s per aggregator "
      f"CPU-second, {rec / wall:,.0f}/s wall, RSS {r0 / 1024:.1f} -> {r1 / 1024:.1f} MiB")
EOF
