#!/bin/bash
# Regenerates tests/data/recordings/*.rec: real client/server traffic on loopback captured
# by the real agent (`prescient-agent --record`), replayed without root by
# tests/e2e/test_replay_recordings.sh. Run as root on a host where the agent loads.
#
# usage: tests/tools/make_recordings.sh [AGENT]   (default build/agent/prescient-agent)
# The client commands below are what the e2e test's expected counts are derived from:
# change both together.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
agent=${1:-$repo/build/agent/prescient-agent}
out=$repo/tests/data/recordings
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$out"

record() { # NAME: starts the agent recording into $out/NAME.rec
	"$agent" --print --window 1 --record "$out/$1.rec" >"$tmp/$1.jsonl" 2>"$tmp/$1.err" &
	agent_pid=$!
	for _ in $(seq 100); do grep -q AGENT-LOADED "$tmp/$1.err" && break; sleep 0.1; done
}
stop_recording() {
	sleep 0.5
	kill -INT "$agent_pid"
	wait "$agent_pid" || true
	tail -1 "$tmp/$1.err"
}

# --- Redis: 200 SET + 200 GET (redis-benchmark, 2 clients), one INCR error (redis-cli) ---
redis-server --port 16399 --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
	>"$tmp/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
sleep 0.5
record redis
redis-benchmark -p 16399 -t set,get -n 200 -c 2 -q >/dev/null
redis-cli -p 16399 set word hello >/dev/null
redis-cli -p 16399 incr word >/dev/null || true
stop_recording redis
kill "$redis_pid"

# --- HTTP: nginx; curl 12 x GET /api/orders/<n>, 5 x GET /, 3 x GET /missing/<n> (404) ---
mkdir -p "$tmp/www"
echo hello >"$tmp/www/index.html"
cat >"$tmp/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $tmp;
	server {
		listen 127.0.0.1:18099;
		root $tmp/www;
		location /api/orders/ { return 200 '{"ok":true}'; }
		location = / { index index.html; }
	}
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp" &
nginx_pid=$!
pids+=("$nginx_pid")
sleep 0.5
record http
for i in $(seq 12); do curl -s -o /dev/null "http://127.0.0.1:18099/api/orders/$((1000 + i))?x=$i"; done
for i in $(seq 5); do curl -s -o /dev/null "http://127.0.0.1:18099/"; done
for i in $(seq 3); do curl -s -o /dev/null "http://127.0.0.1:18099/missing/$i"; done
stop_recording http
kill "$nginx_pid"

ls -la "$out"
