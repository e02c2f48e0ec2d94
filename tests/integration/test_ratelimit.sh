#!/bin/bash
# The egress rate limiter (agent/ratelimit.c, bpf/egress.bpf.c) holds a real server to its
# rate, measured with the real client: nginx serves a 50 MB file on 127.0.0.1 from a cgroup
# the test creates (/psc-rl-<pid>: v1 memory on hybrids, cgroup2 on pure v2), and
# tests/tools/psc_ratelimit_ctl drives the limiter.
#
#  1. unlimited: curl's download speed (must be much faster than the rate);
#  2. set 4 MB/s: on hybrids the v2 directory is created in the unified hierarchy and
#     nginx's processes are moved there. Sockets keep the cgroup they were created in, so
#     the listening socket of the running nginx (and what it accepts) is not limited; its
#     speed is printed, not asserted. nginx is restarted the way a new process of the
#     workload starts: it joins the identity cgroup, psc_ratelimit_sync() moves it (checked),
#     then it opens its listener;
#  3. limited: the download speed must be within 20% of the rate, the limiter's counters
#     must have passed the file and dropped something;
#  4. 8 MB/s (only the bucket changes): within 20% again, counters not reset;
#  5. clear: the speed recovers, the v2 directory the limiter created is gone and nginx is
#     back in its v2 parent.
# Skipped (77) without root or a cgroup2 hierarchy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# Our cgroup is /psc-rl-<pid>: the library removes only cgroups under its prefix.
# shellcheck disable=SC2034 # read by workload.sh
PSC_CG_PREFIX=psc-rl
# shellcheck source=../lib/workload.sh
source "$here/../lib/workload.sh"

RATE1=4000000 RATE2=8000000 SIZE=52428800 TOLERANCE=0.20 FAST_FACTOR=10

[ "$(id -u)" -eq 0 ] || psc_skip "needs root (cgroup BPF, cgroups)"
psc_require_cmd nginx curl ss python3
root=$PSC_CGROUP_ROOT
if [ -e "$root/cgroup.controllers" ]; then
	mode=v2 identity=$root unified=$root
elif [ -e "$root/memory/memory.usage_in_bytes" ] && [ -e "$root/unified/cgroup.controllers" ]; then
	mode=hybrid identity=$root/memory unified=$root/unified
else
	psc_skip "no cgroup2 hierarchy (neither $root/cgroup.controllers nor $root/unified)"
fi
ctl_bin=$PSC_BUILD_DIR/tests/psc_ratelimit_ctl
[ -x "$ctl_bin" ] || psc_die "not built: $ctl_bin (cmake --build $PSC_BUILD_DIR --target psc_ratelimit_ctl)"
psc_init
W=$PSC_WORK_DIR

cg=/psc-rl-$$
v2dir=$unified$cg
[ -e "$identity$cg" ] && psc_die "$identity$cg already exists"
[ -e "$v2dir" ] && psc_die "$v2dir already exists"
# Cleanup, last registered hook first: nginx, the limiter; then psc_cleanup removes the
# cgroups listed in $PSC_WORK_DIR/cgroups from every hierarchy (the unified one too, should
# the limiter have left its directory), stopping what runs there by pid.
echo "$cg" >>"$W/cgroups"
mkdir "$identity$cg"

passed=0 failed=0
check() { # check WHAT OK EXPECTED GOT
	if [ "$2" = 1 ]; then
		echo "PASS: $1: expected $3, got $4"
		passed=$((passed + 1))
	else
		echo "FAIL: $1: expected $3, got $4"
		failed=$((failed + 1))
	fi
}
# in_range X LO HI -> 1 or 0 (floating point)
in_range() { python3 -c 'import sys; x, lo, hi = map(float, sys.argv[1:]); print(int(lo <= x <= hi))' "$@"; }
mbs() { python3 -c 'import sys; print("%.2f MB/s" % (float(sys.argv[1]) / 1e6))' "$1"; }
v2_of() { sed -n 's/^0:://p' "/proc/$1/cgroup" 2>/dev/null; }

# ---- the limiter --------------------------------------------------------------------------
coproc CTL { exec "$ctl_bin" --log-level info 2>"$W/ctl.log"; }
# shellcheck disable=SC2153 # CTL_PID is set by coproc
ctl_pid=$CTL_PID
ctl_in=${CTL[1]} ctl_out=${CTL[0]}
stop_ctl() {
	psc_pid_alive "$ctl_pid" || return 0
	{ echo quit >&"$ctl_in"; } 2>/dev/null
	psc_wait_pid_exit "$ctl_pid" 10 || kill -KILL "$ctl_pid" 2>/dev/null
}
psc_on_exit stop_ctl
reply=
ctl() { # ctl COMMAND...: sets $reply to the answer line
	echo "$*" >&"$ctl_in" || { cat "$W/ctl.log" >&2; psc_die "psc_ratelimit_ctl is gone"; }
	read -r -t 30 reply <&"$ctl_out" || { cat "$W/ctl.log" >&2; psc_die "no answer to '$*'"; }
	psc_log "ctl: $* -> $reply"
}
read -r -t 30 reply <&"$ctl_out" || { cat "$W/ctl.log" >&2; psc_die "psc_ratelimit_ctl did not load"; }
psc_log "psc_ratelimit_ctl: $reply"
[ "$reply" = "ready $mode" ] || psc_die "limiter says '$reply', expected 'ready $mode'"

# ---- nginx ---------------------------------------------------------------------------------
port=$(psc_free_port)
mkdir -p "$W/nginx/www" "$W/nginx/tmp"
head -c "$SIZE" /dev/urandom >"$W/nginx/www/big.bin"
cat >"$W/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $W/nginx/tmp/body;
	proxy_temp_path $W/nginx/tmp/proxy;
	fastcgi_temp_path $W/nginx/tmp/fastcgi;
	uwsgi_temp_path $W/nginx/tmp/uwsgi;
	scgi_temp_path $W/nginx/tmp/scgi;
	server {
		listen 127.0.0.1:$port;
		root $W/nginx/www;
	}
}
EOF
nginx_pid=
stop_nginx() {
	[ -n "$nginx_pid" ] || return 0
	kill -QUIT "$nginx_pid" 2>/dev/null
	psc_wait_pid_exit "$nginx_pid" 10 || kill -KILL "$nginx_pid" 2>/dev/null
	wait "$nginx_pid" 2>/dev/null || true
	nginx_pid=
}
psc_on_exit stop_nginx
# start_nginx [gated]: nginx in the identity cgroup; "gated": the process joins the cgroup
# and waits until the test has run a sync before it becomes nginx and listens.
start_nginx() {
	local gate=$W/gate.$RANDOM
	mkfifo "$gate"
	(
		echo "$BASHPID" >"$identity$cg/cgroup.procs" || exit 126
		read -r _ <"$gate"
		exec nginx -e "$W/nginx/error.log" -p "$W/nginx" -c "$W/nginx/nginx.conf"
	) </dev/null >>"$W/nginx/stdout.log" 2>&1 &
	nginx_pid=$!
	local i
	for ((i = 0; i < 50; i++)); do
		grep -qx "$nginx_pid" "$identity$cg/cgroup.procs" && break
		sleep 0.1
	done
	if [ "${1:-}" = gated ]; then
		ctl sync
		check "sync moved the new process of the workload into $v2dir" \
			"$([ "$(v2_of "$nginx_pid")" = "$cg" ] && echo 1 || echo 0)" "$cg" "$(v2_of "$nginx_pid")"
	fi
	echo go >"$gate"
	rm -f "$gate"
	psc_wait_listen "$port" 20 || { cat "$W/nginx/error.log" >&2; psc_die "nginx did not listen on $port"; }
}
speed='' size=''
download() { # sets $speed (bytes/s) and $size
	local out
	out=$(curl -s -o /dev/null --max-time 120 -w '%{size_download} %{speed_download}' \
		"http://127.0.0.1:$port/big.bin") || psc_die "curl failed: $out"
	read -r size speed <<<"$out"
	speed=${speed%%.*}
}

# ---- 1. unlimited --------------------------------------------------------------------------
start_nginx
psc_log "nginx (pid $nginx_pid) on 127.0.0.1:$port in $identity$cg"
download
unlimited=$speed
echo "unlimited: $(mbs "$unlimited") ($size bytes)"
check "unlimited download size" "$([ "$size" = "$SIZE" ] && echo 1 || echo 0)" "$SIZE" "$size"

# ---- 2. set --------------------------------------------------------------------------------
ctl set "$cg" "$RATE1"
check "set $cg $RATE1" "$([ "$reply" = ok ] && echo 1 || echo 0)" ok "$reply"
check "v2 directory $v2dir exists" "$([ -d "$v2dir" ] && echo 1 || echo 0)" yes \
	"$([ -d "$v2dir" ] && echo yes || echo no)"
workers=$(tr '\n' ' ' <"$identity$cg/cgroup.procs")
moved=1
for p in $workers; do [ "$(v2_of "$p")" = "$cg" ] || moved=0; done
check "nginx's processes ($workers) moved to $cg in the unified hierarchy" "$moved" 1 "$moved"
if [ "$mode" = hybrid ]; then
	download
	echo "nginx started before the limit (listening socket in its old cgroup): $(mbs "$speed"), not limited (documented)"
	stop_nginx
	start_nginx gated
fi

# ---- 3. limited ----------------------------------------------------------------------------
download
limited1=$speed
ctl stats "$cg"
read -r _ pass1 drop1 <<<"$reply"
echo "limited to $(mbs "$RATE1"): $(mbs "$limited1") ($size bytes); limiter passed $pass1, dropped $drop1 bytes"
check "download size while limited" "$([ "$size" = "$SIZE" ] && echo 1 || echo 0)" "$SIZE" "$size"
check "limited speed within ${TOLERANCE} of $RATE1 B/s" \
	"$(in_range "$limited1" "$(python3 -c "print($RATE1 * (1 - $TOLERANCE))")" \
		"$(python3 -c "print($RATE1 * (1 + $TOLERANCE))")")" "$RATE1 +-20%" "$limited1"
check "unlimited speed at least ${FAST_FACTOR}x the rate" \
	"$(in_range "$unlimited" $((RATE1 * FAST_FACTOR)) 1e15)" ">= $((RATE1 * FAST_FACTOR))" "$unlimited"
check "limiter passed at least the file" "$(in_range "${pass1:-0}" "$SIZE" 1e15)" ">= $SIZE" "$pass1"
check "limiter dropped something" "$(in_range "${drop1:-0}" 1 1e15)" "> 0" "$drop1"

# ---- 4. a new rate: the bucket changes, nothing else ----------------------------------------
ctl set "$cg" "$RATE2"
check "set $cg $RATE2" "$([ "$reply" = ok ] && echo 1 || echo 0)" ok "$reply"
download
limited2=$speed
ctl stats "$cg"
read -r _ pass2 drop2 <<<"$reply"
echo "limited to $(mbs "$RATE2"): $(mbs "$limited2"); limiter passed $pass2, dropped $drop2 bytes"
check "speed at the new rate within ${TOLERANCE} of $RATE2 B/s" \
	"$(in_range "$limited2" "$(python3 -c "print($RATE2 * (1 - $TOLERANCE))")" \
		"$(python3 -c "print($RATE2 * (1 + $TOLERANCE))")")" "$RATE2 +-20%" "$limited2"
check "counters kept across the rate change (passed grew by at least the file)" \
	"$(in_range "${pass2:-0}" $((pass1 + SIZE)) 1e15)" ">= $((pass1 + SIZE))" "$pass2"

# ---- 5. clear ------------------------------------------------------------------------------
ctl clear "$cg"
check "clear $cg" "$([ "$reply" = ok ] && echo 1 || echo 0)" ok "$reply"
ctl stats "$cg"
check "no stats once cleared" "$([ "$reply" = "error -2" ] && echo 1 || echo 0)" "error -2" "$reply"
if [ "$mode" = hybrid ]; then
	check "the v2 directory the limiter created is gone" "$([ -e "$v2dir" ] && echo 0 || echo 1)" \
		gone "$([ -e "$v2dir" ] && echo present || echo gone)"
	check "nginx is back in its v2 parent" "$([ "$(v2_of "$nginx_pid")" = / ] && echo 1 || echo 0)" \
		/ "$(v2_of "$nginx_pid")"
else
	check "the workload's own v2 directory stays" "$([ -d "$v2dir" ] && echo 1 || echo 0)" \
		present "$([ -d "$v2dir" ] && echo present || echo gone)"
fi
download
recovered=$speed
echo "after clear: $(mbs "$recovered")"
check "speed recovers after clear (at least ${FAST_FACTOR}x the first rate)" \
	"$(in_range "$recovered" $((RATE1 * FAST_FACTOR)) 1e15)" ">= $((RATE1 * FAST_FACTOR))" "$recovered"

stop_ctl
wait "$ctl_pid" 2>/dev/null && rc=0 || rc=$?
check "psc_ratelimit_ctl exits 0" "$([ "$rc" = 0 ] && echo 1 || echo 0)" 0 "$rc"
grep -E 'AGENT-RL' "$W/ctl.log" >&2 || true

echo "test_ratelimit assertions: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
