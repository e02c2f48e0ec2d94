#!/usr/bin/env bash
# Fleet link benchmark (a benchmark, not a test: it prints figures, it never fails a build).
#  1. bytes per endpoint-window on the wire for a steady workload (20 endpoints x 100
#     windows by default) as the agent's JSON lines and as sealed frames (protobuf +
#     deflate + secretbox), strings inline and with the acknowledged dictionary, at several
#     request rates (histogram counts are most of the bytes once strings are gone);
#  2. aggregator ingest rate: K concurrent senders (REQ) against one prescient-aggregator
#     on loopback, reports/s with synchronous=FULL and NORMAL.
# Usage: wire_size.sh [--build DIR] [--senders K] [--reports N] [--windows N]
# Everything started here is stopped by its pid; ports are free loopback ports.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${PSC_BUILD_DIR:-$here/../../build}
senders=4
reports=500
windows=100
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--senders) senders=$2; shift 2 ;;
	--reports) reports=$2; shift 2 ;;
	--windows) windows=$2; shift 2 ;;
	*) echo "usage: $0 [--build DIR] [--senders K] [--reports N] [--windows N]" >&2; exit 2 ;;
	esac
done
agg=$build/aggregator/prescient-aggregator
send=$build/aggregator/psc_send_reports
[ -x "$agg" ] && [ -x "$send" ] || { echo "build prescient-aggregator and psc_send_reports in $build first" >&2; exit 2; }

echo "== bytes per endpoint-window (20 endpoints, 2 workloads, $windows windows) =="
for scale in 0.01 0.1 1; do
	"$send" --measure --count "$windows" --rate-scale "$scale"
	echo
done
steady=$("$send" --measure --count "$windows" | awk '/after the first ack/ {print $(NF-1)}')
json=$("$send" --measure --count "$windows" | awk '/JSON lines \(--print/ {print $(NF-1)}')

tmp=$(mktemp -d)
pids=()
agg_pid=
cleanup() {
	for p in "${pids[@]}" $agg_pid; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
"$agg" keygen "$tmp/keys" >/dev/null

declare -A rate
for sync in full normal; do
	port=$(free_port)
	url=tcp://127.0.0.1:$port
	"$agg" --listen "$url" --db "$tmp/$sync.db" --keys "$tmp/keys" --synchronous "$sync" \
		--log-level warn 2>"$tmp/agg.log" &
	agg_pid=$!
	sleep 0.5
	# warm up: host rows, endpoints and the dictionary exist before timing
	"$send" --connect "$url" --keys "$tmp/keys" --host warm --count 5 --quiet >/dev/null 2>&1
	start=$(date +%s.%N)
	pids=()
	for i in $(seq "$senders"); do
		"$send" --connect "$url" --keys "$tmp/keys" --host "bench-$i" --count "$reports" \
			--quiet --timeout-ms 30000 >/dev/null 2>"$tmp/send$i.err" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || echo "sender $p failed: $(cat "$tmp"/send*.err)" >&2
	done
	pids=()
	end=$(date +%s.%N)
	stored=$(sqlite3 "$tmp/$sync.db" "SELECT count(*) FROM reports WHERE host LIKE 'bench-%'")
	rate[$sync]=$(python3 -c "print(f'{$stored / ($end - $start):.0f}')")
	# The aggregator's own CPU per report: steadier than the wall-clock rate on a shared host.
	ticks=$(awk '{print $14 + $15}' /proc/$agg_pid/stat)
	cpu_ms=$(python3 -c "print(f'{$ticks * 1000 / $(getconf CLK_TCK) / ($stored + 5):.2f}')")
	echo "== ingest, synchronous=$sync: $stored reports ($senders senders x $reports, 20 endpoints each) in $(python3 -c "print(f'{$end - $start:.2f}')") s: ${rate[$sync]} reports/s, aggregator CPU ${cpu_ms} ms/report =="
	kill "$agg_pid"
	wait "$agg_pid" 2>/dev/null || true
	agg_pid=
done
echo "wire_size summary: steady ${steady} B/endpoint-window (JSON ${json}), ingest ${rate[full]} reports/s (FULL), ${rate[normal]} reports/s (NORMAL)"
