#!/usr/bin/env bash
# prescient-replay end to end on small real fixtures (tests/data/model): exit codes, the
# exact output forms, line-numbered errors, and causality (a row's output does not change
# when later rows are removed).
set -euo pipefail

replay=${PSC_BUILD_DIR:?}/aggregator/replay/prescient-replay
data=${PSC_SOURCE_DIR:?}/tests/data/model
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

nab=$data/nab/ec2_cpu_utilization_825cc2.csv
rows=$(($(wc -l <"$nab") - 1))

# usage errors: 2; bad input: 1
expect_rc 0 "$replay" --help
grep -q detect "$tmp/out" || fail "--help does not list detect"
expect_rc 0 "$replay" forecast --help
grep -q -- --horizon "$tmp/out" || fail "forecast --help does not document --horizon"
expect_rc 2 "$replay"
expect_rc 2 "$replay" frobnicate
expect_rc 2 "$replay" forecast "$nab"
expect_rc 2 "$replay" forecast --horizon 0 "$nab"
expect_rc 2 "$replay" detect --no-such-option "$nab"
expect_rc 2 "$replay" detect
expect_rc 1 "$replay" detect "$tmp/does-not-exist.csv"
printf 'timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n2014-01-01 00:10:00,oops\n' >"$tmp/bad.csv"
expect_rc 1 "$replay" detect "$tmp/bad.csv"
grep -q "line 4" "$tmp/err" || fail "bad value not reported at line 4: $(cat "$tmp/err")"
printf 'timestamp,cpu\n0,1\n' >"$tmp/nocol.csv"
expect_rc 1 "$replay" forecast -H 1 --column mem "$tmp/nocol.csv"
grep -q "no column named 'mem'" "$tmp/err" || fail "missing column not named: $(cat "$tmp/err")"

# detect: every row, header, scores in [0,1], causal
expect_rc 0 "$replay" detect "$nab"
cp "$tmp/out" "$tmp/detect_full"
[ "$(head -1 "$tmp/detect_full")" = "timestamp,value,score" ] || fail "detect header"
[ "$(($(wc -l <"$tmp/detect_full") - 1))" = "$rows" ] || fail "detect does not print every row"
awk -F, 'NR > 1 && ($3 < 0 || $3 > 1 || NF != 3) { exit 1 }' "$tmp/detect_full" ||
	fail "detect score out of [0,1]"
cmp -s <(cut -d, -f1,2 "$tmp/detect_full") "$nab" || fail "detect does not echo timestamp,value as input"
head -2001 "$nab" >"$tmp/prefix.csv"
expect_rc 0 "$replay" detect "$tmp/prefix.csv"
cmp -s "$tmp/out" <(head -2001 "$tmp/detect_full") || fail "detect is not causal"

# forecast: rows from t = H on, quantiles ordered, causal, durations accepted
expect_rc 0 "$replay" forecast --horizon 12 "$nab"
cp "$tmp/out" "$tmp/fc_full"
[ "$(head -1 "$tmp/fc_full")" = "timestamp,actual,p10,p50,p90" ] || fail "forecast header"
[ "$(($(wc -l <"$tmp/fc_full") - 1))" = "$((rows - 12))" ] || fail "forecast row count"
awk -F, 'NR > 1 && !($3 <= $4 && $4 <= $5) { exit 1 }' "$tmp/fc_full" || fail "p10 <= p50 <= p90"
[ "$(sed -n 2p "$tmp/fc_full" | cut -d, -f1)" = "$(sed -n 14p "$nab" | cut -d, -f1)" ] ||
	fail "first forecast row is not row H+1"
expect_rc 0 "$replay" forecast --horizon 12 "$tmp/prefix.csv"
cmp -s "$tmp/out" <(head -$((2001 - 12)) "$tmp/fc_full") || fail "forecast is not causal"
expect_rc 0 "$replay" forecast --horizon 1h "$nab"
cmp -s "$tmp/out" "$tmp/fc_full" || fail "--horizon 1h differs from 12 steps of 5 min"

# Bitbrains layout without --column: the CPU usage column is used
expect_rc 0 "$replay" forecast -H 1 "$data/bitbrains/1_head.csv"
[ "$(($(wc -l <"$tmp/out") - 1))" = "599" ] || fail "bitbrains forecast rows"

# size: every row, echoing the input, limit from past rows only (causal), options checked
expect_rc 0 "$replay" size "$nab"
cp "$tmp/out" "$tmp/size_full"
[ "$(head -1 "$tmp/size_full")" = "timestamp,usage,limit" ] || fail "size header"
[ "$(($(wc -l <"$tmp/size_full") - 1))" = "$rows" ] || fail "size row count"
cmp -s <(cut -d, -f1,2 "$tmp/size_full") <(sed 1d "$nab" | sed '1i timestamp,usage') ||
	fail "size does not echo timestamp,usage as input"
[ "$(sed -n 2p "$tmp/size_full" | cut -d, -f3)" = "nan" ] || fail "first row has a limit"
awk -F, 'NR > 2 && !($3 > 0) { exit 1 }' "$tmp/size_full" || fail "size limit not positive"
expect_rc 0 "$replay" size "$tmp/prefix.csv"
cmp -s "$tmp/out" <(head -2001 "$tmp/size_full") || fail "size is not causal"
expect_rc 0 "$replay" size -s -C 0.9 --lead 30m -r vpa "$nab"
grep -q '^summary: .*slack=0\.[0-9]* overruns=' "$tmp/err" || fail "size summary: $(cat "$tmp/err")"
expect_rc 0 "$replay" size --explain --max 50 "$nab"
[ "$(head -1 "$tmp/out")" = "timestamp,usage,limit,need,action" ] || fail "size --explain header"
awk -F, 'NR > 2 && $3 > 50 { exit 1 }' "$tmp/out" || fail "size --max not honoured"
expect_rc 2 "$replay" size --confidence 1.5 "$nab"
expect_rc 2 "$replay" size --recommender magic "$nab"
expect_rc 2 "$replay" size --lead 0 "$nab"
printf 'timestamp,value\n0,1\n60,-2\n' >"$tmp/neg.csv"
expect_rc 1 "$replay" size "$tmp/neg.csv"
grep -q 'line 3: usage -2 is negative' "$tmp/err" || fail "negative usage message: $(cat "$tmp/err")"

# cluster: one row per file and the quality criterion
expect_rc 0 "$replay" cluster "$data/planetlab"
[ "$(head -1 "$tmp/out")" = "file,cluster,silhouette" ] || fail "cluster header"
[ "$(grep -vc '^#' "$tmp/out")" = "21" ] || fail "cluster rows"
grep -q '^# method=kmeans k=[0-9]* criterion=silhouette.* silhouette=0\.' "$tmp/out" ||
	fail "cluster criterion line: $(grep '^#' "$tmp/out")"
expect_rc 1 "$replay" cluster "$tmp/no-such-dir"

# profile: 168 hours, seasonality, class, cost
expect_rc 0 "$replay" profile --price 0.05 "$nab"
[ "$(grep -vc '^#' "$tmp/out")" = "169" ] || fail "profile rows"
grep -q '^# seasonality period=' "$tmp/out" || fail "profile seasonality"
grep -q '^# class="' "$tmp/out" || fail "profile class"
grep -q '^# cost .*day_p50=' "$tmp/out" || fail "profile cost"
expect_rc 2 "$replay" profile --price -1 "$nab"
echo "OK"
