#!/usr/bin/env bash
# Accuracy and cost of the egress rate limiter (agent/ratelimit.c, bpf/egress.bpf.c): nginx
# in a cgroup of its own (/psc-rl-<pid>) serves a file on 127.0.0.1; for each rate and
# number of parallel curl streams it downloads about --seconds worth of data at that rate
# and prints the aggregate throughput against the rate (the first quarter second rides on
# the full bucket: "expected" is what a perfect bucket gives, (bytes - burst) / rate of
# time), then the program's cost per packet from kernel.bpf_stats_enabled (restored at
# exit).
# Usage: bash tests/bench/ratelimit.sh [--build DIR] [--rates "1 4 16 64"] (MB/s)
#        [--streams "1 4"] [--seconds S]
# Root, a cgroup2 hierarchy, nginx, curl, bpftool. Good neighbour as tests/lib/workload.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rates="1 4 16 64" streams="1 4" seconds=8
PSC_BUILD_DIR=${PSC_BUILD_DIR:-$here/../../build}
while [ $# -gt 0 ]; do
	case $1 in
	--build) PSC_BUILD_DIR=$2; shift 2 ;;
	--rates) rates=$2; shift 2 ;;
	--streams) streams=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	-h | --help) sed -n '2,11p' "$0"; exit 0 ;;
	*) echo "unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
export PSC_BUILD_DIR
# shellcheck disable=SC2034 # read by workload.sh
PSC_CG_PREFIX=psc-rl
# shellcheck source=../lib/workload.sh
source "$here/../lib/workload.sh"
# shellcheck source=../lib/ratelimit.sh
source "$here/../lib/ratelimit.sh"

FILE=$((128 << 20)) BURST_MS=250
rl_layout
psc_require_cmd bpftool
psc_init
rl_cgroup
rl_ctl_start
rl_nginx_setup "$FILE"
stats_was=$(sysctl -n kernel.bpf_stats_enabled)
psc_on_exit "sysctl -q -w kernel.bpf_stats_enabled=$stats_was"
sysctl -q -w kernel.bpf_stats_enabled=1

# The limit is set before nginx starts listening, so that its sockets are in the limited
# directory on hybrids as well (gated start: sync moves it first).
rl_ctl set "$RL_CG" $((${rates%% *} * 1000000))
[ "$RL_REPLY" = ok ] || psc_die "set failed: $RL_REPLY"
rl_nginx_start gated
prog_id=$(bpftool cgroup show "$RL_V2DIR" -j | python3 -c 'import json, sys
print(next(p["id"] for p in json.load(sys.stdin) if p["attach_type"] == "cgroup_inet_egress"))')
prog_runs() { bpftool prog show id "$prog_id" -j | python3 -c 'import json, sys
p = json.load(sys.stdin); print(p.get("run_cnt", 0), p.get("run_time_ns", 0))'; }

printf '%-8s %-7s %12s %12s %12s %8s\n' "rate" streams bytes "MB/s" "expected" ratio
results=()
read -r runs0 ns0 <<<"$(prog_runs)"
for r in $rates; do
	rate=$((r * 1000000))
	rl_ctl set "$RL_CG" "$rate"
	for n in $streams; do
		per=$((rate * seconds / n))
		[ "$per" -le "$FILE" ] || per=$FILE
		sleep 0.5 # the bucket refills: every point starts with a full burst
		t0=$(date +%s.%N)
		pids=()
		for ((i = 0; i < n; i++)); do
			curl -s -o /dev/null --max-time 120 -r "0-$((per - 1))" \
				"http://127.0.0.1:$RL_PORT/big.bin" &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p" || psc_die "curl failed"; done
		t1=$(date +%s.%N)
		line=$(python3 - "$r" "$n" "$((per * n))" "$t0" "$t1" "$rate" "$BURST_MS" <<'PY'
import sys
r, n, total, t0, t1, rate, burst_ms = sys.argv[1:]
total, rate = int(total), int(rate)
burst = max(rate * int(burst_ms) // 1000, 64 << 10)
speed = total / (float(t1) - float(t0))
if total <= 2 * burst:  # mostly burst: says nothing about the rate
    print("%-8s %-7s %12d %12.2f %12s %8s" % (r + " MB/s", n, total, speed / 1e6, "-", "-"))
else:
    expected = total / ((total - burst) / rate)
    print("%-8s %-7s %12d %12.2f %12.2f %8.3f" % (r + " MB/s", n, total, speed / 1e6,
                                                 expected / 1e6, speed / expected))
PY
)
		echo "$line"
		results+=("$line")
	done
done
read -r runs1 ns1 <<<"$(prog_runs)"
rl_ctl stats "$RL_CG"
read -r _ passed dropped <<<"$RL_REPLY"
python3 - "$runs0" "$ns0" "$runs1" "$ns1" "$passed" "$dropped" <<'PY'
import sys
r0, n0, r1, n1, passed, dropped = map(int, sys.argv[1:])
runs = r1 - r0
print("program runs %d, %.0f ns per run (bpf_stats); passed %d bytes, dropped %d bytes "
      "(%.1f dropped per passed: TCP retrying a full bucket)" %
      (runs, (n1 - n0) / runs if runs else 0, passed, dropped, dropped / max(passed, 1)))
PY
worst=$(printf '%s\n' "${results[@]}" | awk '$NF != "-" {d = $NF - 1; if (d < 0) d = -d; if (d > w) w = d} END {printf "%.3f", w}')
echo "ratelimit summary: worst |measured/expected - 1| = $worst over rates {$rates} MB/s x streams {$streams}"
