#!/usr/bin/env bash
# prescient-aggregator end to end on loopback: keygen (modes, refusal to overwrite), key
# permission checks, 200 sealed reports over nanomsg REQ/REP with a kill -9 of the
# aggregator mid-stream, restart, resend from the first unacknowledged seq, then: every
# acknowledged (host, seq) is in `reports` exactly once; duplicates, a wrong-key frame and
# bad frames are refused/counted in /metrics while the aggregator keeps serving; SIGTERM
# shuts down cleanly. Processes are started here and stopped by pid only.
set -euo pipefail

agg=${PSC_BUILD_DIR:?}/aggregator/prescient-aggregator
send=${PSC_BUILD_DIR:?}/aggregator/psc_send_reports
for b in "$agg" "$send"; do
	if [ ! -x "$b" ]; then
		echo "SKIP: $b not built"
		exit 77
	fi
done
for t in sqlite3 curl python3; do
	if ! command -v $t >/dev/null; then
		echo "SKIP: $t not installed"
		exit 77
	fi
done

tmp=$(mktemp -d)
agg_pid=
cleanup() {
	if [ -n "$agg_pid" ] && kill -0 "$agg_pid" 2>/dev/null; then
		kill -9 "$agg_pid" 2>/dev/null || true
		wait "$agg_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	[ -f "$tmp/agg.log" ] && tail -20 "$tmp/agg.log"
	exit 1
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
nn_port=$(free_port)
http_port=$(free_port)
url=tcp://127.0.0.1:$nn_port
http=127.0.0.1:$http_port
keys=$tmp/keys
db=$tmp/store.db
host=e2e-host-1

# --- keygen ---
"$agg" keygen "$keys" >/dev/null || fail "keygen failed"
[ "$(stat -c %a "$keys/fleet.key")" = 600 ] || fail "fleet.key mode $(stat -c %a "$keys/fleet.key")"
[ "$(stat -c %a "$keys/signing.key")" = 600 ] || fail "signing.key mode"
[ "$(stat -c %a "$keys/signing.pub")" = 644 ] || fail "signing.pub mode"
sum_before=$(cat "$keys"/* | md5sum)
if "$agg" keygen "$keys" >"$tmp/out" 2>&1; then
	fail "keygen overwrote existing keys"
fi
grep -q "refusing to overwrite" "$tmp/out" || fail "keygen refusal message: $(cat "$tmp/out")"
[ "$(cat "$keys"/* | md5sum)" = "$sum_before" ] || fail "keygen changed the keys it refused to overwrite"

# --- loose permissions are refused at start ---
chmod 644 "$keys/signing.key"
if "$agg" --listen "$url" --db "$db" --keys "$keys" >"$tmp/out" 2>&1; then
	fail "aggregator started with a group/other-readable signing.key"
fi
grep -q "signing.key" "$tmp/out" || fail "no clear message about signing.key: $(cat "$tmp/out")"
chmod 600 "$keys/signing.key"

start_agg() {
	"$agg" --listen "$url" --db "$db" --keys "$keys" --http "$http" \
		--maintenance-interval 1s >>"$tmp/agg.log" 2>&1 &
	agg_pid=$!
	for _ in $(seq 100); do
		if curl -fsS "http://$http/healthz" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$agg_pid" 2>/dev/null || fail "aggregator exited at start"
		sleep 0.1
	done
	fail "aggregator not healthy"
}
metric() { # name{labels} -> value
	curl -fsS "http://$http/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

# --- 200 reports, kill -9 mid-stream ---
start_agg
"$send" --connect "$url" --keys "$keys" --host "$host" --from 1 --count 200 \
	--interval-ms 10 --timeout-ms 2000 >"$tmp/acks1" 2>"$tmp/send1.err" &
send_pid=$!
for _ in $(seq 200); do
	[ "$(grep -c '^acked' "$tmp/acks1" || true)" -ge 60 ] && break
	sleep 0.05
done
kill -9 "$agg_pid"
wait "$agg_pid" 2>/dev/null || true
agg_pid=
rc=0
wait "$send_pid" || rc=$?
[ "$rc" = 4 ] || fail "sender should time out after the kill (rc $rc): $(tail -2 "$tmp/acks1")"
acked1=$(grep -c '^acked' "$tmp/acks1" || true)
[ "$acked1" -ge 60 ] && [ "$acked1" -lt 200 ] || fail "$acked1 acks before the kill"
last=$(grep '^acked' "$tmp/acks1" | tail -1 | awk '{print $2}')
[ "$last" = "$acked1" ] || fail "acks out of order: last $last of $acked1"
echo "killed the aggregator after $acked1 acks"

# --- restart, resend from the first unacknowledged seq ---
start_agg
next=$((last + 1))
"$send" --connect "$url" --keys "$keys" --host "$host" --from "$next" --count $((200 - last)) \
	--timeout-ms 5000 >"$tmp/acks2" 2>"$tmp/send2.err" || fail "resend failed: $(tail -2 "$tmp/acks2")"
cat "$tmp/acks1" "$tmp/acks2" | awk '/^acked/ {print $2}' | sort -n >"$tmp/acked"
seq 1 200 >"$tmp/want"
cmp -s "$tmp/acked" "$tmp/want" || fail "acked seqs are not exactly 1..200"
# the report in flight at the kill may have been committed without its ack: a duplicate
dups=$(grep -c 'duplicate' "$tmp/acks2" || true)
[ "$dups" -le 1 ] || fail "$dups duplicates on resend"

# every acked (host, seq) is stored exactly once
sqlite3 "$db" "SELECT seq FROM reports WHERE host = '$host' ORDER BY seq" >"$tmp/stored"
cmp -s "$tmp/stored" "$tmp/want" || fail "reports table does not hold seqs 1..200 exactly once"
[ "$(sqlite3 "$db" "SELECT count(*) FROM reports")" = 200 ] || fail "extra rows in reports"
[ "$(sqlite3 "$db" "SELECT count(DISTINCT host || '/' || seq) FROM reports")" = 200 ] ||
	fail "duplicate (host, seq) rows"
[ "$(sqlite3 "$db" "PRAGMA journal_mode")" = wal ] || fail "store not in WAL mode"
eps=$(sqlite3 "$db" "SELECT count(*) FROM endpoint_series WHERE tier = 0")
[ "$eps" = 4000 ] || fail "endpoint_series has $eps raw rows, expected 200 x 20"
[ "$(sqlite3 "$db" "SELECT count(*) FROM endpoints")" = 20 ] || fail "endpoints not resolved once each"

stored=$(metric prescient_reports_stored_total)
[ "$stored" -ge $((200 - last - 1)) ] || fail "stored_total $stored"

# --- duplicates: acked again, counted, not stored twice ---
"$send" --connect "$url" --keys "$keys" --host "$host" --from 1 --count 5 >"$tmp/acks3" 2>/dev/null ||
	fail "resending old reports failed"
[ "$(grep -c 'acked .* duplicate' "$tmp/acks3")" = 5 ] || fail "old reports not acked as duplicates"
[ "$(metric prescient_reports_duplicate_total)" -ge 5 ] || fail "duplicate_total not counted"
[ "$(sqlite3 "$db" "SELECT count(*) FROM reports")" = 200 ] || fail "duplicates stored"

# --- a wrong fleet key: refused with a reply, counted, aggregator keeps serving ---
"$agg" keygen "$tmp/other" >/dev/null
rc=0
"$send" --connect "$url" --keys "$tmp/other" --host intruder --count 1 >"$tmp/out" 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "wrong-key frame: rc $rc: $(cat "$tmp/out")"
grep -q "refused 1 bad_key" "$tmp/out" || fail "wrong-key refusal reason: $(cat "$tmp/out")"
[ "$(metric 'prescient_reports_refused_total{reason="bad_key"}')" = 1 ] || fail "bad_key not counted"
[ "$(sqlite3 "$db" "SELECT count(*) FROM reports WHERE host = 'intruder'")" = 0 ] ||
	fail "a wrong-key report was stored"

# --- bad frames, each refused by reason ---
for kind in corrupt:corrupt truncated:corrupt version:version oversized:oversized bomb:bomb; do
	g=${kind%%:*}
	reason=${kind##*:}
	rc=0
	"$send" --connect "$url" --keys "$keys" --garbage "$g" >"$tmp/out" 2>&1 || rc=$?
	[ "$rc" = 3 ] || fail "garbage $g: rc $rc: $(cat "$tmp/out")"
	grep -q "refused garbage $reason" "$tmp/out" || fail "garbage $g: $(cat "$tmp/out")"
done
[ "$(metric 'prescient_reports_refused_total{reason="corrupt"}')" = 2 ] || fail "corrupt not counted"
for reason in version oversized bomb; do
	[ "$(metric "prescient_reports_refused_total{reason=\"$reason\"}")" = 1 ] ||
		fail "$reason not counted"
done

# still serving, and the connected gauge sees the host
"$send" --connect "$url" --keys "$keys" --host e2e-host-2 --count 3 >/dev/null 2>&1 ||
	fail "aggregator stopped serving after bad frames"
sleep 1.5
[ "$(metric prescient_agents_connected)" -ge 2 ] || fail "agents_connected $(metric prescient_agents_connected)"
[ "$(metric prescient_store_bytes)" -gt 0 ] || fail "store_bytes"
[ "$(metric prescient_reports_received_total)" -gt 0 ] || fail "received_total"
curl -fsS "http://$http/healthz" | grep -q ok || fail "healthz"

# --- clean shutdown ---
kill -TERM "$agg_pid"
rc=0
wait "$agg_pid" || rc=$?
agg_pid=
[ "$rc" = 0 ] || fail "SIGTERM shutdown exit status $rc"
grep -q "AGG-STOPPED" "$tmp/agg.log" || fail "no clean-stop message"
echo "PASS: 200 reports across a kill -9, each stored once; refusals counted by reason"
