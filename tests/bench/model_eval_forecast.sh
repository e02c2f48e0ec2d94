#!/usr/bin/env bash
# Forecast accuracy of prescient-replay on the real traces in ../shared/data, against the
# seasonal naive baseline (period one day, same residual-quantile band).
# Usage: [MODELS=list] tests/bench/model_eval_forecast.sh [BUILD_DIR] [DATA_DIR] [HORIZONS...]
# (MODELS is passed to --models, e.g. MODELS=all to include the LSTM)
# Prints one line per (dataset, horizon): files, mean MASE (vs in-sample one-step naive),
# geometric mean of MAE(prescient)/MAE(seasonal naive), mean sMAPE and p10-p90 coverage.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build-model}
data=${2:-$here/../../../shared/data}
shift 2 2>/dev/null || true
horizons=("$@")
[ ${#horizons[@]} -eq 0 ] && horizons=(1 1h 1d)
replay=$build/aggregator/replay/prescient-replay
[ -x "$replay" ] || { echo "no $replay; build the prescient-replay target" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run_set() { # name files...
	local name=$1; shift
	for h in "${horizons[@]}"; do
		for f in "$@"; do
			local a b
			a=$("$replay" forecast -q -s -H "$h" ${MODELS:+-m "$MODELS"} "$f" 2>&1 >/dev/null | grep '^summary') || continue
			b=$("$replay" forecast -q -s -H "$h" -m seasonal_naive -p daily "$f" 2>&1 >/dev/null | grep '^summary') || continue
			echo "$name $h $(basename "$f") | $a | $b"
		done
	done
}

{
	run_set nab "$data"/nab/data/*/*.csv
	run_set bitbrains "$data"/bitbrains/2013-7/*.csv
	run_set azure "$data"/datacenter/azure_v2/*.csv
} > "$tmp/all.txt"

python3 - "$tmp/all.txt" <<'PY'
import math, re, sys
rows = {}
def kv(s):
    return dict(re.findall(r'(\w+)=([^ ]+)', s))
for line in open(sys.argv[1]):
    head, a, b = line.split(' | ')
    name, h, f = head.split()[:3]
    a, b = kv(a), kv(b)
    rows.setdefault((name, h), []).append((f, a, b))
print("%-10s %-4s %5s %8s %8s %9s %8s %8s %8s %8s" % ("dataset", "h", "files", "MASE", "MASE_sn", "relMAE", "sMAPE", "sMAPE_sn", "cov", "cov_sn"))
for (name, h), lst in rows.items():
    def mean(key, which):
        v = [float(x[which][key]) for x in lst if x[which][key] not in ('nan',)]
        v = [x for x in v if math.isfinite(x)]
        return sum(v) / len(v) if v else float('nan')
    rel = [float(a['mae']) / float(b['mae']) for _, a, b in lst if float(b['mae']) > 0]
    g = math.exp(sum(math.log(max(r, 1e-9)) for r in rel) / len(rel)) if rel else float('nan')
    print("%-10s %-4s %5d %8.3f %8.3f %9.3f %8.3f %8.3f %8.3f %8.3f" % (name, h, len(lst),
          mean('mase', 1), mean('mase', 2), g, mean('smape', 1), mean('smape', 2),
          mean('coverage_p10_p90', 1), mean('coverage_p10_p90', 2)))
PY
