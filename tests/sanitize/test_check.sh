#!/bin/bash
# The sanitizer build's own check (ctest: unit/sanitize_check, PRESCIENT_SANITIZE only): a
# leak, a heap overflow and signed overflow, each in a process whose exit status the test
# ignores (as e2e scripts do with the daemons they stop), must each fail the test under
# check.sh with the report shown; a clean run passes, and a skip (77) stays a skip.
#
# usage: test_check.sh PATH_TO_psc_sanitize_selftest
set -u
bin=${1:?usage: $0 PATH_TO_psc_sanitize_selftest}
here=$(cd "$(dirname "$0")" && pwd)
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
failed=0

expect() { # want_rc regex mode: runs "selftest mode || true" under check.sh
	local want=$1 pattern=$2 mode=$3 out rc
	out=$(bash "$here/check.sh" "$base" bash -c "'$bin' $mode || true" 2>&1)
	rc=$?
	if [ "$rc" != "$want" ] || ! grep -qE -- "$pattern" <<<"$out"; then
		echo "FAIL: $mode: exit status $rc (want $want), output without '$pattern':"
		echo "$out" | head -20
		failed=1
	else
		echo "PASS: $mode: exit status $rc, '$pattern' reported"
	fi
}

expect 1 "LeakSanitizer: detected memory leaks" leak
expect 1 "heap-buffer-overflow|insufficient space" overflow  # ASan, or gcc UBSan first
expect 1 "runtime error: signed integer overflow" ub
out=$(bash "$here/check.sh" "$base" "$bin" clean 2>&1)
rc=$?
[ "$rc" = 0 ] && echo "PASS: clean: exit status 0" || { echo "FAIL: clean: $rc: $out"; failed=1; }
bash "$here/check.sh" "$base" bash -c "'$bin' clean; exit 77" >/dev/null 2>&1
rc=$?
[ "$rc" = 77 ] && echo "PASS: a skip stays a skip" || { echo "FAIL: skip: $rc"; failed=1; }
exit $failed
