#!/usr/bin/env bash
# Leave-half-out check of `prescient-replay nab`: splits the labelled NAB files into two
# halves (sorted by name, alternately: A = 1st, 3rd, ... file; B = 2nd, 4th, ...) and
# prints the three profiles' scores on A, on B and on all files, each with its own
# corpus-wide threshold (NAB's rule). A design choice made on one half can then be
# judged on the other.
#
# Usage: tests/bench/model_nab_split.sh [BUILD_DIR] [NAB_DIR] [-- extra nab options]
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

python3 - "$nab" "$out" <<'PY'
import json, os, sys
nab, out = sys.argv[1], sys.argv[2]
windows = json.load(open(os.path.join(nab, 'labels/combined_windows.json')))
names = sorted(n for n in windows if os.path.exists(os.path.join(nab, 'data', n)))
for half, sel in (('A', names[0::2]), ('B', names[1::2])):
    d = os.path.join(out, half)
    os.makedirs(os.path.join(d, 'labels'))
    os.makedirs(os.path.join(d, 'config'))
    json.dump({n: windows[n] for n in sel}, open(os.path.join(d, 'labels/combined_windows.json'), 'w'))
    os.symlink(os.path.join(os.path.abspath(nab), 'config/profiles.json'),
               os.path.join(d, 'config/profiles.json'))
    for n in sel:
        os.makedirs(os.path.join(d, 'data', os.path.dirname(n)), exist_ok=True)
        os.symlink(os.path.join(os.path.abspath(nab), 'data', n), os.path.join(d, 'data', n))
    print('# %s: %s' % (half, ' '.join(os.path.basename(n) for n in sel)))
PY
for half in A B all; do
	dir=$out/$half
	[ "$half" = all ] && dir=$nab
	printf '%s' "$half"
	"$replay" nab -q "$@" "$dir" | while IFS=, read -r prof score; do printf ' %s=%s' "$prof" "$score"; done
	echo
done
