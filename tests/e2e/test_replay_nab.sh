#!/usr/bin/env bash
# prescient-replay nab end to end on a tiny corpus in NAB's layout built here: two noisy
# series with an obvious spike at the start of their one labelled window must score high
# on all three profiles; the output form is exact; missing labels or profiles are errors
# (exit 1) that say what is missing; usage errors exit 2.
set -euo pipefail

replay=${PSC_BUILD_DIR:?}/aggregator/replay/prescient-replay
if [ ! -x "$replay" ]; then
	echo "SKIP: $replay not built"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}
expect_rc() { # rc command...
	local want=$1 rc=0
	shift
	"$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $(cat "$tmp/err")"
}

# Timestamp of row N (every 5 min from 2020-01-01 00:00:00; under 10 days of rows).
stamp='function stamp(i, t) { t = 300 * i
	return sprintf("2020-01-%02d %02d:%02d:%02d", 1 + int(t / 86400), int(t % 86400 / 3600),
		       int(t % 3600 / 60), t % 60) }'
# series SEED SPIKE_ROW: 400 rows, level 50 with deterministic noise (an LCG), a jump of
# 40 at SPIKE_ROW for 3 rows.
series() {
	awk -v seed="$1" -v spike="$2" "$stamp"'
	BEGIN {
		print "timestamp,value"
		x = seed
		for (i = 0; i < 400; i++) {
			x = (x * 1103515245 + 12345) % 2147483648
			v = 50 + (x / 2147483648 - 0.5) * 4
			if (i >= spike && i < spike + 3)
				v += 40
			printf "%s,%.3f\n", stamp(i), v
		}
	}'
}
ts() { awk -v i="$1" "$stamp"' BEGIN { print stamp(i) ".000000" }'; }

corpus=$tmp/nab
mkdir -p "$corpus/data/synthetic" "$corpus/labels" "$corpus/config"
series 7 250 >"$corpus/data/synthetic/a.csv"
series 11 300 >"$corpus/data/synthetic/b.csv"
cat >"$corpus/labels/combined_windows.json" <<EOF
{
  "synthetic/a.csv": [["$(ts 250)", "$(ts 289)"]],
  "synthetic/b.csv": [["$(ts 300)", "$(ts 339)"]],
  "synthetic/not_in_data.csv": []
}
EOF
cat >"$corpus/config/profiles.json" <<'EOF'
{
  "standard": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}},
  "reward_low_FP_rate": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22, "tnWeight": 1.0}},
  "reward_low_FN_rate": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11, "tnWeight": 1.0}}
}
EOF

# help and usage
expect_rc 0 "$replay" --help
grep -q '^  nab ' "$tmp/out" || fail "--help does not list nab"
expect_rc 0 "$replay" nab --help
grep -q -- --per-file "$tmp/out" || fail "nab --help does not document --per-file"
grep -q 'reward_low_FN_rate,SCORE' "$tmp/out" || fail "nab --help does not show the output"
expect_rc 2 "$replay" nab
expect_rc 2 "$replay" nab --no-such-option "$corpus"
expect_rc 2 "$replay" nab "$corpus" "$corpus"
expect_rc 2 "$replay" nab --window 3 "$corpus"

# the score: exact form, one line per profile in this order, high for the spikes
expect_rc 0 "$replay" nab -q "$corpus"
[ ! -s "$tmp/err" ] || fail "nab -q wrote to stderr: $(cat "$tmp/err")"
[ "$(cut -d, -f1 "$tmp/out" | tr '\n' ' ')" = "standard reward_low_FP_rate reward_low_FN_rate " ] ||
	fail "profiles or order: $(cat "$tmp/out")"
grep -Evq '^[A-Za-z_]+,-?[0-9]+\.[0-9]{3}$' "$tmp/out" && fail "line form: $(cat "$tmp/out")"
while IFS=, read -r profile score; do
	awk -v s="$score" 'BEGIN { exit !(s >= 90 && s <= 100) }' ||
		fail "$profile score $score for an obvious spike at each window's start, want >= 90"
done <"$tmp/out"
cp "$tmp/out" "$tmp/summary"

# without -q, the labelled file absent from data/ is reported, and the result is the same
expect_rc 0 "$replay" nab "$corpus"
grep -q '1 labelled file(s) not in' "$tmp/err" || fail "no note on the skipped file: $(cat "$tmp/err")"
cmp -s "$tmp/out" "$tmp/summary" || fail "output differs without -q"

# --per-file: the three summary lines, then PROFILE,FILE,RAW,THRESHOLD per profile and file
expect_rc 0 "$replay" nab -q --per-file "$corpus"
[ "$(head -3 "$tmp/out")" = "$(cat "$tmp/summary")" ] || fail "--per-file changes the summary"
[ "$(wc -l <"$tmp/out")" = 9 ] || fail "--per-file: $(wc -l <"$tmp/out") lines, want 9"
tail -n +4 "$tmp/out" | grep -Evq '^[A-Za-z_]+,synthetic/[ab]\.csv,-?[0-9]+\.[0-9]{3},[0-9.]+$' &&
	fail "--per-file line form: $(cat "$tmp/out")"
[ "$(tail -n +4 "$tmp/out" | cut -d, -f1,2 | tr '\n' ' ')" = \
	"standard,synthetic/a.csv standard,synthetic/b.csv reward_low_FP_rate,synthetic/a.csv reward_low_FP_rate,synthetic/b.csv reward_low_FN_rate,synthetic/a.csv reward_low_FN_rate,synthetic/b.csv " ] ||
	fail "--per-file order: $(cat "$tmp/out")"

# the same spikes outside the windows (windows moved earlier) score far lower
cp "$corpus/labels/combined_windows.json" "$tmp/labels.json"
cat >"$corpus/labels/combined_windows.json" <<EOF
{
  "synthetic/a.csv": [["$(ts 100)", "$(ts 139)"]],
  "synthetic/b.csv": [["$(ts 100)", "$(ts 139)"]]
}
EOF
expect_rc 0 "$replay" nab -q "$corpus"
score=$(sed -n 's/^standard,//p' "$tmp/out")
awk -v s="$score" 'BEGIN { exit !(s < 60) }' || fail "standard $score with the spikes outside the windows, want < 60"
cp "$tmp/labels.json" "$corpus/labels/combined_windows.json"

# missing pieces of the layout: exit 1 naming what is missing
mv "$corpus/config/profiles.json" "$tmp/profiles.json"
expect_rc 1 "$replay" nab -q "$corpus"
grep -q 'profiles.json: NAB profiles missing' "$tmp/err" || fail "missing profiles: $(cat "$tmp/err")"
mv "$tmp/profiles.json" "$corpus/config/profiles.json"
mv "$corpus/labels/combined_windows.json" "$tmp/labels.json"
expect_rc 1 "$replay" nab -q "$corpus"
grep -q 'combined_windows.json: NAB labels missing' "$tmp/err" || fail "missing labels: $(cat "$tmp/err")"
expect_rc 1 "$replay" nab -q "$tmp/does-not-exist"
grep -q 'no data directory' "$tmp/err" || fail "missing corpus: $(cat "$tmp/err")"
# a window whose timestamp is not a row of its file
sed 's/2020-01-01/1999-01-01/' "$tmp/labels.json" >"$corpus/labels/combined_windows.json"
expect_rc 1 "$replay" nab -q "$corpus"
grep -q 'is not a row of the file' "$tmp/err" || fail "bad window: $(cat "$tmp/err")"

echo "ok"
