#!/usr/bin/env bash
# Issue 5's sizing target, measured: on the Bitbrains CPU series and the Azure CPU series,
# the slack (limit minus usage, relative to the limit; 0 on rows where usage exceeds the
# limit) and the overruns (rows where usage exceeds the limit) of prescient's production
# policy (`prescient-replay size`), next to a VPA-style recommender (decaying histogram,
# 24 h half-life, p90 x 1.15) and a static-peak one (highest usage so far), all from past
# rows only and scored on the same rows (after the first day, so every recommender has
# history). Target: prescient's mean slack <= 0.8 x VPA's (goal 0.5 x) with no more
# overruns in total.
# Usage: tests/bench/size_eval.sh [BUILD_DIR] [DATA_DIR] [-- extra size options...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
data=${2:-$here/../../../shared/data}
shift $(($# > 2 ? 2 : $#))
[ "${1:-}" = "--" ] && shift
extra=("$@")
replay=$build/aggregator/replay/prescient-replay
[ -x "$replay" ] || { echo "no $replay; build the prescient-replay target" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

list=$tmp/list
: >"$list"
i=0
add() { # file column label
	i=$((i + 1))
	for r in prescient vpa peak; do
		opts=(-q -r "$r" -c "$2")
		[ "$r" = prescient ] && opts+=("${extra[@]}")
		"$replay" size "${opts[@]}" "$1" >"$tmp/$i.$r" &
	done
	wait
	printf '%s\t%s\n' "$3" "$tmp/$i" >>"$list"
}
for f in "$data"/bitbrains/2013-7/*.csv; do
	add "$f" "CPU usage [MHZ]" "bitbrains/$(basename "$f" .csv)/cpu"
done
for f in "$data"/datacenter/azure_v2/*.csv; do
	add "$f" cpu_usage "azure/$(basename "$f" .csv)/cpu"
done

python3 - "$list" "${extra[*]}" <<'PY'
import csv, sys
recs = ["prescient", "vpa", "peak"]
tot = {r: [0.0, 0, 0, 0] for r in recs}  # slack sum of series means, overruns, rows, changes
ratios = []
print("%-28s %s" % ("series", "  ".join("%-26s" % r for r in recs)))
for line in open(sys.argv[1]):
    label, base = line.rstrip("\n").split("\t")
    cols = {}
    for r in recs:
        with open(base + "." + r) as fh:
            rows = list(csv.reader(fh))[1:]
        cols[r] = [(float(u), float(l)) for _, u, l, *rest in rows]
    n = len(cols["vpa"])
    skip = min(288, n // 4)  # the first day: every recommender needs history
    out = []
    stats = {}
    for r in recs:
        sl, ov, k, ch, prev = 0.0, 0, 0, 0, None
        for u, l in cols[r][skip:]:
            if l != l:  # nan: no decision yet
                continue
            k += 1
            if u > l:
                ov += 1
            elif l > 0:
                sl += (l - u) / l
            if prev is not None and l != prev:
                ch += 1
            prev = l
        s = sl / k if k else float("nan")
        stats[r] = (s, ov, k, ch)
        tot[r][0] += s; tot[r][1] += ov; tot[r][2] += k; tot[r][3] += ch
        out.append("slack %.3f over %4d chg %4d" % (s, ov, ch))
    if stats["vpa"][0] > 0:
        ratios.append(stats["prescient"][0] / stats["vpa"][0])
    print("%-28s %s" % (label, "  ".join(out)))
ns = len(ratios)
print()
for r in recs:
    print("%-10s mean slack %.4f  overruns %6d of %7d rows (%.4f)  changes %6d" %
          (r, tot[r][0] / ns, tot[r][1], tot[r][2], tot[r][1] / max(1, tot[r][2]), tot[r][3]))
ratio = (tot["prescient"][0] / ns) / (tot["vpa"][0] / ns)
ok = ratio <= 0.8 and tot["prescient"][1] <= tot["vpa"][1]
print("size_eval: slack ratio prescient/vpa %.3f (target <= 0.8, goal 0.5); overruns prescient %d vs vpa %d; options [%s]: %s"
      % (ratio, tot["prescient"][1], tot["vpa"][1], sys.argv[2], "PASS" if ok else "FAIL"))
PY
