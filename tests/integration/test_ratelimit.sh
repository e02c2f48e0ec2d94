#!/bin/bash
# The egress rate limiter (agent/ratelimit.c, bpf/egress.bpf.c) holds a real server to its
# rate, measured with the real client: nginx serves a 50 MB file on 127.0.0.1 from a cgroup
# the test creates (/psc-rl-<pid>: v1 memory on hybrids, cgroup2 on pure v2), and
# tests/tools/psc_ratelimit_ctl drives the limiter (tests/lib/ratelimit.sh).
#
#  1. unlimited: curl's download speed (must be much faster than the rate);
#  2. set 4 MB/s: on hybrids the v2 directory is created in the unified hierarchy and
#     nginx's processes are moved there; bad requests are refused and leave nothing.
#     Sockets keep the cgroup they were created in, so the listening socket of the running
#     nginx (and what it accepts) is not limited: its speed is printed, not asserted.
#     nginx is restarted the way a new process of the workload starts: it joins the
#     identity cgroup, psc_ratelimit_sync() moves it (checked), then it listens;
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
# shellcheck source=../lib/ratelimit.sh
source "$here/../lib/ratelimit.sh"

RATE1=4000000 RATE2=8000000 SIZE=52428800 TOLERANCE=0.20 FAST_FACTOR=10

rl_layout
psc_init
rl_cgroup
cg=$RL_CG v2dir=$RL_V2DIR unified=$RL_UNIFIED

passed=0 failed=0
check() { # check WHAT OK(1|0) EXPECTED GOT
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
check_rate() { # check_rate WHAT SPEED RATE
	check "$1 within $TOLERANCE of $3 B/s" "$(in_range "$2" \
		"$(python3 -c "print($3 * (1 - $TOLERANCE))")" "$(python3 -c "print($3 * (1 + $TOLERANCE))")")" \
		"$3 +-$TOLERANCE" "$2"
}
check_reply() { check "$1" "$([ "$RL_REPLY" = "$2" ] && echo 1 || echo 0)" "$2" "$RL_REPLY"; }

rl_ctl_start
rl_nginx_setup "$SIZE"

# ---- 1. unlimited --------------------------------------------------------------------------
rl_nginx_start
psc_log "nginx (pid $RL_NGINX_PID) on 127.0.0.1:$RL_PORT in $RL_IDENTITY$cg"
rl_download
unlimited=$RL_SPEED
echo "unlimited: $(rl_mbs "$unlimited") ($RL_SIZE bytes)"
check "unlimited download size" "$([ "$RL_SIZE" = "$SIZE" ] && echo 1 || echo 0)" "$SIZE" "$RL_SIZE"

# ---- 2. set --------------------------------------------------------------------------------
rl_ctl set "$cg" "$RATE1"
check_reply "set $cg $RATE1" ok
check "v2 directory $v2dir exists" "$([ -d "$v2dir" ] && echo 1 || echo 0)" yes \
	"$([ -d "$v2dir" ] && echo yes || echo no)"
procs=$(tr '\n' ' ' <"$RL_IDENTITY$cg/cgroup.procs")
moved=1
for p in $procs; do [ "$(rl_v2_of "$p")" = "$cg" ] || moved=0; done
check "nginx's processes ($procs) moved to $cg in the unified hierarchy" "$moved" 1 "$moved"
# Refusals, each leaving nothing behind.
for bad in "$cg/../x 1000000:-22" "$cg 0:-22" "$cg 99999999999999:-34" \
	"$cg/inner 1000000:-16" "/psc-rl-missing-$$ 1000000:-2"; do
	rl_ctl set "${bad%:*}"
	check_reply "set ${bad%:*} refused" "error ${bad##*:}"
done
left=$(for d in "$unified/psc-rl-missing-$$" "$v2dir/inner"; do [ ! -e "$d" ] || echo "$d"; done)
check "nothing created for the refused sets" "$([ -z "$left" ] && echo 1 || echo 0)" none "${left:-none}"
if [ "$RL_MODE" = hybrid ]; then
	# A process in a child of the workload's cgroup (a pod's container) is moved too.
	child=$RL_IDENTITY$cg/child
	mkdir "$child"
	(echo "$BASHPID" >"$child/cgroup.procs" && exec sleep 600) </dev/null >/dev/null 2>&1 &
	sleeper=$!
	psc_on_exit "kill $sleeper; wait $sleeper; rmdir '$child'"
	for ((i = 0; i < 50; i++)); do grep -qx "$sleeper" "$child/cgroup.procs" && break; sleep 0.1; done
	rl_ctl sync
	check "sync moved a process of a child cgroup of the workload into $v2dir" \
		"$([ "$(rl_v2_of "$sleeper")" = "$cg" ] && echo 1 || echo 0)" "$cg" "$(rl_v2_of "$sleeper")"
	kill "$sleeper"
	wait "$sleeper" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do rmdir "$child" 2>/dev/null && break; sleep 0.1; done

	rl_download
	echo "nginx started before the limit (listening socket in its old cgroup): $(rl_mbs "$RL_SPEED"), not limited (documented)"
	rl_nginx_stop
	rl_nginx_start gated
	check "sync moved the new process of the workload into $v2dir" \
		"$([ "$(rl_v2_of "$RL_NGINX_PID")" = "$cg" ] && echo 1 || echo 0)" "$cg" "$(rl_v2_of "$RL_NGINX_PID")"
fi

# ---- 3. limited ----------------------------------------------------------------------------
rl_download
limited1=$RL_SPEED
rl_ctl stats "$cg"
read -r _ pass1 drop1 <<<"$RL_REPLY"
echo "limited to $(rl_mbs "$RATE1"): $(rl_mbs "$limited1") ($RL_SIZE bytes); limiter passed $pass1, dropped $drop1 bytes"
check "download size while limited" "$([ "$RL_SIZE" = "$SIZE" ] && echo 1 || echo 0)" "$SIZE" "$RL_SIZE"
check_rate "limited speed" "$limited1" "$RATE1"
check "unlimited speed at least ${FAST_FACTOR}x the rate" \
	"$(in_range "$unlimited" $((RATE1 * FAST_FACTOR)) 1e15)" ">= $((RATE1 * FAST_FACTOR))" "$unlimited"
check "limiter passed at least the file" "$(in_range "${pass1:-0}" "$SIZE" 1e15)" ">= $SIZE" "$pass1"
check "limiter dropped something" "$(in_range "${drop1:-0}" 1 1e15)" "> 0" "$drop1"

# ---- 4. a new rate: the bucket changes, nothing else ----------------------------------------
rl_ctl set "$cg" "$RATE2"
check_reply "set $cg $RATE2" ok
rl_download
limited2=$RL_SPEED
rl_ctl stats "$cg"
read -r _ pass2 drop2 <<<"$RL_REPLY"
echo "limited to $(rl_mbs "$RATE2"): $(rl_mbs "$limited2"); limiter passed $pass2, dropped $drop2 bytes"
check_rate "speed at the new rate" "$limited2" "$RATE2"
check "counters kept across the rate change (passed grew by at least the file)" \
	"$(in_range "${pass2:-0}" $((pass1 + SIZE)) 1e15)" ">= $((pass1 + SIZE))" "$pass2"

# ---- 5. clear ------------------------------------------------------------------------------
rl_ctl clear "$cg"
check_reply "clear $cg" ok
rl_ctl egress "$cg" 0
check_reply "the hook's rate 0 on an unlimited workload" ok
rl_ctl stats "$cg"
check_reply "no stats once cleared" "error -2"
if [ "$RL_MODE" = hybrid ]; then
	check "the v2 directory the limiter created is gone" "$([ -e "$v2dir" ] && echo 0 || echo 1)" \
		gone "$([ -e "$v2dir" ] && echo present || echo gone)"
	check "nginx is back in its v2 parent" "$([ "$(rl_v2_of "$RL_NGINX_PID")" = / ] && echo 1 || echo 0)" \
		/ "$(rl_v2_of "$RL_NGINX_PID")"
else
	check "the workload's own v2 directory stays" "$([ -d "$v2dir" ] && echo 1 || echo 0)" \
		present "$([ -d "$v2dir" ] && echo present || echo gone)"
fi
rl_download
recovered=$RL_SPEED
echo "after clear: $(rl_mbs "$recovered")"
check "speed recovers after clear (at least ${FAST_FACTOR}x the first rate)" \
	"$(in_range "$recovered" $((RATE1 * FAST_FACTOR)) 1e15)" ">= $((RATE1 * FAST_FACTOR))" "$recovered"

rl_ctl_stop
check "psc_ratelimit_ctl exits 0" "$([ "$RL_CTL_RC" = 0 ] && echo 1 || echo 0)" 0 "$RL_CTL_RC"
grep -E 'AGENT-RL' "$PSC_WORK_DIR/ctl.log" >&2 || true

echo "test_ratelimit assertions: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
