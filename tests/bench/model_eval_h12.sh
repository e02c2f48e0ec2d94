#!/usr/bin/env bash
# Issue 4's forecast target, measured exactly: 12 steps (1 h) ahead on the Bitbrains CPU and
# memory series and the Azure CPU and memory series.
# Usage: [MODELS=list] [PER_SERIES=1] tests/bench/model_eval_h12.sh [BUILD_DIR] [DATA_DIR] [H]
# Per series: MAE of p50 vs actual over the rows `prescient-replay forecast` prints, and the
# MAE of naive y[t-H] and seasonal naive y[t-288] (one day at 5 min) over the SAME rows
# (only rows where the forecast and both baselines exist; steps are counted as the replay
# does, round(dt / interval) per row, so a gap does not shift the lags);
# ratio = MAE_model / min(MAE_naive, MAE_snaive). Prints the geometric mean of the ratios
# (target <= 0.8, goal 0.7) and the mean p10-p90 coverage (target 0.70-0.90) on one line.
# SPLIT=1 adds the same figures for two halves, to check that a choice made on one holds on
# the other: A = odd-numbered Bitbrains VMs (CPU and memory) and Azure cpu_usage, B = the
# even-numbered VMs and the other Azure columns.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build-model}
data=${2:-$here/../../../shared/data}
H=${3:-12}
replay=$build/aggregator/replay/prescient-replay
[ -x "$replay" ] || { echo "no $replay; build the prescient-replay target" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

list=$tmp/list
: >"$list"
i=0
add() { # file column label
	i=$((i + 1))
	"$replay" forecast -q -H "$H" -c "$2" ${MODELS:+-m "$MODELS"} "$1" >"$tmp/$i.out" &
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$tmp/$i.out" >>"$list"
	# at most 2 replays at once
	[ $((i % 2)) -eq 0 ] && wait
	return 0
}
for f in "$data"/bitbrains/2013-7/*.csv; do
	add "$f" "CPU usage [MHZ]" "bitbrains/$(basename "$f" .csv)/cpu"
	add "$f" "Memory usage [KB]" "bitbrains/$(basename "$f" .csv)/mem"
done
for f in "$data"/datacenter/azure_v2/*.csv; do
	hdr=$(head -1 "$f")
	for c in cpu_usage assigned_mem memory_usage mem_usage; do
		case ",$hdr," in *",$c,"*) add "$f" "$c" "azure/$(basename "$f" .csv)/$c" ;; esac
	done
done
wait

python3 - "$list" "$H" <<'PY'
import csv, math, os, sys
H = int(sys.argv[2]); S = 288
per = os.environ.get("PER_SERIES")
ratios, covs, out = [], [], []
half = {"A": [], "B": []}
for line in open(sys.argv[1]):
    path, col, label, outf = line.rstrip("\n").split("\t")
    sep = ";" if "bitbrains" in path else ","
    with open(path) as fh:
        rows = [[c.strip() for c in r.split(sep)] for r in fh.read().splitlines() if r.strip()]
    head = rows[0]
    ti = 0; vi = head.index(col)
    ts = [float(r[ti]) for r in rows[1:]]
    ts = [t / 1000 if t > 1e11 else t for t in ts]
    vals = [float(r[vi]) for r in rows[1:]]
    dts = sorted(ts[k + 1] - ts[k] for k in range(len(ts) - 1) if ts[k + 1] > ts[k])
    iv = dts[len(dts) // 2]
    step, by_step, by_ts = 0, {}, {}
    for k, (t, v) in enumerate(zip(ts, vals)):
        if k:
            step += max(1, round((t - ts[k - 1]) / iv))
        by_step[step] = v
        by_ts[rows[k + 1][ti]] = step
    n = 0; em = en = es = 0.0; cov = 0
    with open(outf) as fh:
        rd = csv.reader(fh); next(rd)
        for r in rd:
            st = by_ts.get(r[0])
            if st is None or st - H not in by_step or st - S not in by_step:
                continue
            y = float(r[1]); p10, p50, p90 = map(float, r[2:5])
            em += abs(y - p50); en += abs(y - by_step[st - H]); es += abs(y - by_step[st - S])
            cov += p10 <= y <= p90; n += 1
    if n == 0 or min(en, es) <= 0:
        print("# skip %s: %d rows" % (label, n), file=sys.stderr)
        continue
    ratio = em / min(en, es)
    ratios.append(ratio); covs.append(cov / n)
    parts = label.split("/")
    odd = int(parts[1]) % 2 == 1 if parts[0] == "bitbrains" else parts[2] == "cpu_usage"
    half["A" if odd else "B"].append((ratio, cov / n))
    if per:
        print("%-32s rows=%5d mae=%.4g naive=%.4g snaive=%.4g ratio=%.3f cov=%.3f" % (
            label, n, em / n, en / n, es / n, ratio, cov / n))
g = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
print("h12 series=%d geomean_ratio=%.3f coverage_p10_p90=%.3f (target ratio<=0.8, goal 0.7; coverage 0.70-0.90)" % (
    len(ratios), g, sum(covs) / len(covs)))
if os.environ.get("SPLIT"):
    for k, v in sorted(half.items()):
        if v:
            print("h12 half=%s series=%d geomean_ratio=%.3f coverage_p10_p90=%.3f" % (
                k, len(v), math.exp(sum(math.log(r) for r, _ in v) / len(v)),
                sum(c for _, c in v) / len(v)))
PY
