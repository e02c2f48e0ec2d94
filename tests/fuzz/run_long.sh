#!/bin/bash
# Long fuzzing run: builds every libFuzzer target (clang, -DPRESCIENT_FUZZ=ON: coverage,
# ASan and UBSan on all the code) in build-fuzz/ and runs each for SECONDS_PER_TARGET
# (default 600), one after the other, starting from its committed seed corpus.
#
# usage: tests/fuzz/run_long.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Prints per target the inputs executed, the CPU seconds used and the crashes found, then
# the totals (CPU-hours). After a crash the target is restarted for the rest of its time,
# so one run can find several. Work files stay in build-fuzz/fuzz-run/<target>/: corpus/
# (the grown corpus, kept between runs; the committed seeds are never written to),
# crashes/ (this run's reproducers, one per crash, leak, timeout or OOM: rerun one with
# `build-fuzz/tests/<target> FILE`) and log (libFuzzer's output). PSC_FUZZ_ARGS adds
# libFuzzer options (e.g. "-max_len=4096"). Exit status: 0 when nothing crashed, 1
# otherwise, 2 on usage or build errors.
set -uo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-600}
shift || true
case "$secs" in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
	exit 2
	;;
esac
build="$here/build-fuzz"
cc=${CC:-clang}
command -v "$cc" >/dev/null || { echo "run_long: $cc not found (PRESCIENT_FUZZ needs clang)" >&2; exit 2; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for src in "$here"/tests/fuzz/fuzz_*.c; do
		targets+=("$(basename "$src" .c)")
	done
fi

echo "run_long: building ${targets[*]} in $build"
cmake -S "$here" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DPRESCIENT_FUZZ=ON >"$build.cmake.log" 2>&1 ||
	{ cat "$build.cmake.log"; exit 2; }
rm -f "$build.cmake.log"
cmake --build "$build" -j"${PSC_JOBS:-2}" --target "${targets[@]}" >/dev/null ||
	{ cmake --build "$build" -j1 --target "${targets[@]}" 2>&1 | tail -30; exit 2; }

# CPU seconds (user + system) of the children waited for so far, from bash's `times`,
# which has to run in this shell (not in a $(...) subshell, whose children are none).
children_cpu() {
	times >"$build/fuzz-run.times"
	awk 'NR == 2 {
		s = 0;
		for (i = 1; i <= 2; i++) { split($i, m, "m"); s += m[1] * 60 + m[2] }
		printf "%.2f\n", s }' "$build/fuzz-run.times"
}

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
printf '%-22s %12s %10s %9s %8s\n' target execs cpu_s exec/s crashes >"$build/fuzz-run.summary"
total_execs=0 total_cpu=0 total_crashes=0
for t in "${targets[@]}"; do
	what=${t#fuzz_}
	seeds="$here/tests/fuzz/corpus/$what"
	work="$build/fuzz-run/$t"
	rm -rf "$work/crashes" # reproducers of this run only; the grown corpus is kept
	mkdir -p "$work/corpus" "$work/crashes"
	: >"$work/log"
	[ -d "$seeds" ] || { echo "run_long: no seed corpus $seeds" >&2; exit 2; }
	children_cpu >"$work/cpu0"
	cpu0=$(cat "$work/cpu0")
	start=$(date +%s)
	execs=0 runs=0
	while :; do
		left=$((secs - ($(date +%s) - start)))
		[ "$left" -gt 0 ] || break
		[ "$runs" -lt 50 ] || break # a target that crashes at once is not fuzzed further
		runs=$((runs + 1))
		"$build/tests/$t" -max_total_time="$left" -rss_limit_mb=2048 -timeout=10 \
			-print_final_stats=1 -artifact_prefix="$work/crashes/" ${PSC_FUZZ_ARGS:-} \
			"$work/corpus" "$seeds" >"$work/last.log" 2>&1
		rc=$?
		cat "$work/last.log" >>"$work/log"
		# Each run ends with its stats (also after a crash); add up its executions.
		n=$(awk '/^stat::number_of_executed_units/ { n = $2 } END { print n + 0 }' \
			"$work/last.log")
		execs=$((execs + n))
		[ "$rc" -eq 0 ] && break
	done
	children_cpu >"$work/cpu1"
	cpu=$(awk -v a="$cpu0" -v b="$(cat "$work/cpu1")" 'BEGIN { printf "%.1f", b - a }')
	crashes=$(find "$work/crashes" -type f | wc -l)
	rate=$(awk -v e="$execs" -v c="$cpu" 'BEGIN { printf "%d", (c > 0 ? e / c : 0) }')
	printf '%-22s %12d %10s %9s %8d\n' "$t" "$execs" "$cpu" "$rate" "$crashes" |
		tee -a "$build/fuzz-run.summary"
	for f in "$work/crashes"/*; do
		[ -f "$f" ] && echo "    reproducer: $f"
	done
	total_execs=$((total_execs + execs))
	total_cpu=$(awk -v a="$total_cpu" -v b="$cpu" 'BEGIN { print a + b }')
	total_crashes=$((total_crashes + crashes))
done
echo "----"
cat "$build/fuzz-run.summary"
awk -v e="$total_execs" -v c="$total_cpu" -v k="$total_crashes" -v n="${#targets[@]}" \
	'BEGIN { printf "total: %d targets, %d execs, %.1f CPU s = %.3f CPU-hours, %d crashes\n",
		 n, e, c, c / 3600, k }'
[ "$total_crashes" -eq 0 ]
