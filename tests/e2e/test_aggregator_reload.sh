#!/bin/bash
# SIGHUP to the aggregator reloads its --config file without stopping it (issue 7): the log
# level changes at once, a broken file keeps the configuration in use, SIGHUP without a
# file is harmless, and reports keep being stored and acknowledged throughout.
set -euo pipefail
build=${PSC_BUILD_DIR:?}
aggregator=$build/aggregator/prescient-aggregator
send=$build/aggregator/psc_send_reports
for b in "$aggregator" "$send"; do
	[ -x "$b" ] || { echo "SKIP: $b not built"; exit 77; }
done
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }
tmp=$(mktemp -d /tmp/prescient-e2e-reload.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; sed 's/^/  aggregator: /' "$tmp/agg.log" | tail -20; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$aggregator" keygen "$tmp/keys" >/dev/null
printf 'log-level = warn\nmodel-interval = off\n' >"$tmp/agg.conf"
chmod 600 "$tmp/agg.conf"
"$aggregator" --config "$tmp/agg.conf" --listen "tcp://127.0.0.1:$port" --db "$tmp/db.sqlite" \
	--keys "$tmp/keys" 2>"$tmp/agg.log" &
pid=$!
sleep 0.5
send_some() { # from count
	"$send" --connect "tcp://127.0.0.1:$port" --keys "$tmp/keys" --host reload --from "$1" \
		--count "$2" --quiet >/dev/null || fail "reports $1.. not acknowledged"
}
send_some 1 5
grep -q AGG-START "$tmp/agg.log" && fail "info logged at log-level warn"

printf 'log-level = info\nmodel-interval = off\n' >"$tmp/agg.conf"
kill -HUP "$pid"
sleep 0.3
kill -0 "$pid" 2>/dev/null || fail "SIGHUP stopped the aggregator"
grep -q 'AGG-RELOAD.*reloaded' "$tmp/agg.log" || fail "no reload logged after SIGHUP (level info)"
send_some 6 5

printf 'log-level = shouting\n' >"$tmp/agg.conf"
kill -HUP "$pid"
sleep 0.3
kill -0 "$pid" 2>/dev/null || fail "a broken file stopped the aggregator"
grep -q "AGG-RELOAD.*bad log-level 'shouting'.*kept" "$tmp/agg.log" || fail "a broken file was not refused"
chmod 666 "$tmp/agg.conf"
printf 'log-level = debug\n' >"$tmp/agg.conf"
kill -HUP "$pid"
sleep 0.3
grep -q "AGG-RELOAD.*cannot reload.*kept" "$tmp/agg.log" || fail "a world-writable file was not refused"
send_some 11 5

stored=$(sqlite3 "$tmp/db.sqlite" "SELECT count(*), min(seq), max(seq) FROM reports WHERE host = 'reload'")
[ "$stored" = "15|1|15" ] || fail "stored reports: $stored, expected 15|1|15"
kill -TERM "$pid"
wait "$pid" || fail "the aggregator exited non-zero"
pid=
echo "aggregator_reload: 3 SIGHUPs (1 applied, 2 refused: bad value, loose permissions), 15 of 15 reports stored with no gap"
echo OK
