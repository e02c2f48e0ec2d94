#!/bin/bash
# Runs one test of a PRESCIENT_SANITIZE build and fails it on any sanitizer report.
#
# usage: check.sh LOG_BASE COMMAND [ARGS...]
#
# A test script often only stops the daemons it started (`wait $pid || true`), so a report
# that a daemon prints at exit (a leak, a UBSan abort) would not fail the test by its exit
# status. Every ASan, LSan and UBSan report of every process the test starts goes to a
# fresh directory under LOG_BASE instead (the runtimes create a file only when they have
# something to say); any file there fails the test, printed, whatever the test returned.
# The directory is removed when the test passes clean. Leak checks are on; the committed
# suppressions (lsan.supp, next to this script) cover third-party libraries only.
set -u

if [ $# -lt 2 ]; then
	echo "usage: $0 LOG_BASE COMMAND [ARGS...]" >&2
	exit 2
fi
base=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$base"
logs=$(mktemp -d "$base/run.XXXXXX")

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=$logs/asan"
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"

"$@"
rc=$?

shopt -s nullglob
reports=("$logs"/*)
if [ ${#reports[@]} -gt 0 ]; then
	for f in "${reports[@]}"; do
		echo "==== sanitizer report $f"
		cat "$f"
	done
	echo "FAIL: ${#reports[@]} sanitizer report(s) (test exit status $rc); logs in $logs"
	exit 1
fi
rmdir "$logs"
exit $rc
