#!/usr/bin/env bash
# Issue 4's clustering report: the quality criterion on each PlanetLab day and how stable the
# clusters are from one day to the next. `prescient-replay cluster` runs on each day's folder
# (same method, k chosen by its criterion, and with k fixed to the first day's); for the VMs
# present on both days, the adjusted Rand index (ARI) of their two labellings (1 = the same
# partition, 0 = no better than chance) and the share of VM pairs kept together or apart.
# Usage: tests/bench/cluster_stability.sh [BUILD_DIR] [DATA_DIR] [METHOD...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
data=${2:-$here/../../../shared/data}
shift $(($# > 2 ? 2 : $#))
methods=("$@")
[ ${#methods[@]} -gt 0 ] || methods=(kmeans gmm)
replay=$build/aggregator/replay/prescient-replay
[ -x "$replay" ] || { echo "no $replay; build the prescient-replay target" >&2; exit 1; }
days=("$data"/planetlab/*/)
[ ${#days[@]} -ge 2 ] || { echo "need two PlanetLab days under $data/planetlab" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for m in "${methods[@]}"; do
	"$replay" cluster -M "$m" "${days[0]}" >"$tmp/$m.a"
	k=$(sed -n 's/^# method=[a-z]* k=\([0-9]*\).*/\1/p' "$tmp/$m.a")
	"$replay" cluster -M "$m" "${days[1]}" >"$tmp/$m.b"
	"$replay" cluster -M "$m" -k "$k" "${days[1]}" >"$tmp/$m.bk"
	python3 - "$m" "$tmp/$m.a" "$tmp/$m.b" "$tmp/$m.bk" "${days[0]}" "${days[1]}" <<'PY'
import sys
from math import comb
m, fa, fb, fbk, da, db = sys.argv[1:]
def load(f):
    lab, head = {}, ""
    for line in open(f):
        if line.startswith("#"):
            if line.startswith("# method="):
                head = line[2:].strip()
            continue
        if line.startswith("file,"):
            continue
        name, c, *_ = line.strip().split(",")
        lab[name] = c
    return lab, head
def ari(x, y):
    n = len(x)
    cont = {}
    for a, b in zip(x, y):
        cont[(a, b)] = cont.get((a, b), 0) + 1
    sa, sb = {}, {}
    for (a, b), v in cont.items():
        sa[a] = sa.get(a, 0) + v
        sb[b] = sb.get(b, 0) + v
    idx = sum(comb(v, 2) for v in cont.values())
    ea = sum(comb(v, 2) for v in sa.values())
    eb = sum(comb(v, 2) for v in sb.values())
    exp = ea * eb / comb(n, 2)
    mx = (ea + eb) / 2
    return (idx - exp) / (mx - exp) if mx != exp else 1.0
def pairs_kept(x, y):
    n, same = len(x), 0
    for i in range(n):
        for j in range(i + 1, n):
            same += (x[i] == x[j]) == (y[i] == y[j])
    return same / comb(n, 2)
a, ha = load(fa)
for label, f in (("k by criterion", fb), ("k fixed to day 1's", fbk)):
    b, hb = load(f)
    common = sorted(set(a) & set(b))
    x = [a[k] for k in common]
    y = [b[k] for k in common]
    print("cluster_stability %s, %s: day 1 [%s] day 2 [%s]; %d VMs on both days: ARI %.3f, pairs kept %.3f"
          % (m, label, ha, hb, len(common), ari(x, y), pairs_kept(x, y)))
PY
done
