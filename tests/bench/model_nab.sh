#!/usr/bin/env bash
# NAB evaluation of `prescient-replay detect` on the NAB files in ../shared/data/nab.
#
# Usage: tests/bench/model_nab.sh [BUILD_DIR] [NAB_DIR] [-- extra detect options]
#
# Runs the detector over every data/*/*.csv, then scores the result the way NAB does
# (standard profile from config/profiles.json, labels/combined_windows.json): per row,
# a detection inside a window earns the scaled sigmoid of its relative position (only the
# best, i.e. earliest, detection per window counts), a row flagged outside a window costs
# A_FP times the scaled sigmoid of its distance past the previous window (or the full A_FP
# before any window), a window with no detection costs A_FN; the first 15% of each file
# (at most 750 rows) is probationary and not scored. One threshold for the whole corpus,
# the one that maximises the total; normalised as 100 * (raw - null) / (perfect - null),
# where null flags nothing and perfect flags each window's first row. The published
# detectors' per-file raw scores (results/published_standard_scores_per_file.csv) are
# summed over the same files and normalised the same way for comparison.
# This is an independent implementation of the published algorithm, not NAB's code.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build-model}
nab=${2:-$here/../../../shared/data/nab}
shift 2 2>/dev/null || true
[ "${1:-}" = "--" ] && shift
replay=$build/aggregator/replay/prescient-replay
[ -x "$replay" ] || { echo "no $replay; build the prescient-replay target" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for f in "$nab"/data/*/*.csv; do
	rel=${f#"$nab"/data/}
	mkdir -p "$out/$(dirname "$rel")"
	"$replay" detect -q "$@" "$f" > "$out/$rel"
done

python3 - "$nab" "$out" <<'PY'
import csv, json, math, os, sys
nab, out = sys.argv[1], sys.argv[2]
windows = json.load(open(os.path.join(nab, 'labels/combined_windows.json')))
cost = json.load(open(os.path.join(nab, 'config/profiles.json')))['standard']['CostMatrix']
tpw, fpw, fnw = cost['tpWeight'], cost['fpWeight'], cost['fnWeight']

def ssig(x):
    return -1.0 if x >= 3.0 else 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0

def prepare(name, ts):
    """Per scorable row: (window id or None, weighted score if flagged)."""
    n = len(ts)
    first = {}
    for i, t in enumerate(ts):
        first.setdefault(t, i)
    wins = []
    for a, b in windows.get(name, []):
        a, b = a.split('.')[0], b.split('.')[0]
        wins.append((first[a], first[b]))
    prob = min(math.floor(0.15 * n), 0.15 * 5000)
    rows = []
    prev_r = prev_w = None
    wi = 0
    maxtp = ssig(-1.0)
    for i in range(n):
        cur = None
        if wi < len(wins) and wins[wi][0] <= i <= wins[wi][1]:
            cur = wi
        if cur is not None:
            l, r = wins[cur]
            width = r - l + 1
            w = ssig(-(r - i + 1) / width) * tpw / maxtp
        else:
            pos = 3.0 if prev_r is None else abs(prev_r - i) / float(prev_w - 1)
            w = ssig(pos) * fpw
        if i >= prob:
            rows.append((i, None if cur is None else '%s|%d' % (name, cur), w))
        else:
            rows.append((i, 'probation', w))
        if cur is not None and i == wins[cur][1]:
            prev_r, prev_w = wins[cur][1], wins[cur][1] - wins[cur][0] + 1
            wi += 1
    return rows

def sweep(files):
    """files: list of (rows, scores). Returns (best total, threshold)."""
    pts = []
    parts = {}
    for rows, scores in files:
        for (i, win, w) in rows:
            if win == 'probation':
                continue
            if win is not None:
                parts[win] = -fnw
            pts.append((scores[i], win, w))
    pts.sort(key=lambda p: -p[0])
    fp = 0.0
    wbest = dict(parts)
    total = sum(wbest.values())
    best = (total, 1.1)
    k = 0
    while k < len(pts):
        thr = pts[k][0]
        while k < len(pts) and pts[k][0] == thr:
            _, win, w = pts[k]
            if win is None:
                fp += w
                total += w
            elif w > wbest[win]:
                total += w - wbest[win]
                wbest[win] = w
            k += 1
        if total > best[0]:
            best = (total, thr)
    return best

def sweep_at(files, thr):
    parts, fp = {}, 0.0
    for rows, scores in files:
        for (i, win, w) in rows:
            if win == 'probation':
                continue
            if win is not None:
                parts.setdefault(win, -fnw)
                if scores[i] >= thr:
                    parts[win] = max(parts[win], w)
            elif scores[i] >= thr:
                fp += w
    return sum(parts.values()) + fp, fp

files, perfect_files, null_files, names = [], [], [], []
for name in sorted(windows):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        continue
    with open(path) as fh:
        rd = csv.DictReader(fh)
        ts, sc = [], []
        for row in rd:
            ts.append(row['timestamp'])
            sc.append(float(row['score']))
    rows = prepare(name, ts)
    files.append((rows, sc))
    perf = [0.0] * len(ts)
    for a, b in windows.get(name, []):
        perf[ts.index(a.split('.')[0])] = 1.0
    perfect_files.append((rows, perf))
    null_files.append((rows, [0.0] * len(ts)))
    names.append(name)

raw, thr = sweep(files)
perfect, _ = sweep(perfect_files)
null = -fnw * sum(1 for rows, _ in files for w in {r[1] for r in rows} if w not in (None, 'probation'))
norm = lambda x: 100.0 * (x - null) / (perfect - null)
print('files=%d windows=%d null=%.3f perfect=%.3f' % (len(names), int(-null / fnw), null, perfect))
print('prescient: raw=%.3f threshold=%.6f NAB_standard=%.1f' % (raw, thr, norm(raw)))
pub = {}
with open(os.path.join(nab, 'results/published_standard_scores_per_file.csv')) as fh:
    for row in csv.DictReader(fh):
        if row['File'] in names:
            pub.setdefault(row['Detector'], []).append(float(row['Score']))
if os.environ.get('NAB_PER_FILE'):
    for name, fl in zip(names, files):
        s, _ = sweep_at([fl], thr)
        print('  %-60s %7.3f' % (name, s))
print('published detectors on the same files (their corpus-wide threshold):')
res = [(norm(sum(v)), d, len(v)) for d, v in pub.items()]
for s, d, n in sorted(res, reverse=True):
    print('  %-20s NAB_standard=%6.1f (files=%d)' % (d, s, n))
PY
