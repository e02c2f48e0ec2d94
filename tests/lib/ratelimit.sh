# shellcheck shell=bash
# shellcheck disable=SC2034 # RL_* variables are set here for the scripts that source this
# tests/lib/ratelimit.sh: what tests/integration/test_ratelimit.sh and
# tests/bench/ratelimit.sh share: a cgroup of their own, the limiter driven through
# tests/tools/psc_ratelimit_ctl, and nginx serving a large file from that cgroup.
#
#   PSC_CG_PREFIX=psc-rl; source tests/lib/workload.sh; source tests/lib/ratelimit.sh
#   rl_layout                  # RL_MODE (v2|hybrid), RL_IDENTITY, RL_UNIFIED; 77 if impossible
#   psc_init
#   rl_cgroup                  # creates RL_CG=/psc-rl-<pid> in the identity hierarchy
#   rl_ctl_start               # the limiter, as a coprocess; stopped at exit
#   rl_ctl set "$RL_CG" 4000000    # answer in $RL_REPLY
#   rl_nginx_setup 52428800    # config + big.bin in $PSC_WORK_DIR/nginx, RL_PORT
#   rl_nginx_start [gated]     # nginx in RL_CG (RL_NGINX_PID); stopped at exit
#   rl_download [BYTES]        # curl: RL_SIZE, RL_SPEED (bytes/s)
#
# The rules of workload.sh hold: only cgroups named /psc-rl-<pid> are created and removed
# (psc_cleanup removes RL_CG from every hierarchy, the unified one included), processes
# are signalled by pid only, traffic stays on 127.0.0.1.

RL_MODE='' RL_IDENTITY='' RL_UNIFIED='' RL_CG='' RL_V2DIR=''
RL_CTL_CHILD='' RL_CTL_RC='' RL_CTL_IN='' RL_CTL_OUT='' RL_REPLY=''
RL_PORT='' RL_NGINX_DIR='' RL_NGINX_PID='' RL_SIZE='' RL_SPEED=''

# rl_layout: where the identity and the cgroup2 hierarchies are; exits 77 without root, a
# cgroup2 hierarchy, nginx or curl, or when psc_ratelimit_ctl is not built.
rl_layout() {
	local root=$PSC_CGROUP_ROOT
	[ "$(id -u)" -eq 0 ] || psc_skip "needs root (cgroup BPF, cgroups)"
	psc_require_cmd nginx curl ss python3
	if [ -e "$root/cgroup.controllers" ]; then
		RL_MODE=v2 RL_IDENTITY=$root RL_UNIFIED=$root
	elif [ -e "$root/memory/memory.usage_in_bytes" ] && [ -e "$root/unified/cgroup.controllers" ]; then
		RL_MODE=hybrid RL_IDENTITY=$root/memory RL_UNIFIED=$root/unified
	else
		psc_skip "no cgroup2 hierarchy (neither $root/cgroup.controllers nor $root/unified)"
	fi
	RL_CTL_BIN=$PSC_BUILD_DIR/tests/psc_ratelimit_ctl
	[ -x "$RL_CTL_BIN" ] || psc_die "not built: $RL_CTL_BIN (cmake --build $PSC_BUILD_DIR --target psc_ratelimit_ctl)"
}

# rl_cgroup: creates RL_CG (/psc-rl-<pid>) in the identity hierarchy only (the limiter
# makes the v2 directory on hybrids) and lists it for psc_cleanup. Needs psc_init first.
rl_cgroup() {
	RL_CG=/$PSC_CG_PREFIX-$$
	RL_V2DIR=$RL_UNIFIED$RL_CG
	[ -e "$RL_IDENTITY$RL_CG" ] && psc_die "$RL_IDENTITY$RL_CG already exists"
	[ -e "$RL_V2DIR" ] && psc_die "$RL_V2DIR already exists"
	echo "$RL_CG" >>"$PSC_WORK_DIR/cgroups"
	mkdir "$RL_IDENTITY$RL_CG"
}

# rl_v2_of PID: the process's cgroup in the unified hierarchy ("/psc-rl-123").
rl_v2_of() { sed -n 's/^0:://p' "/proc/$1/cgroup" 2>/dev/null; }

# rl_mbs BYTES_PER_S: "4.05 MB/s".
rl_mbs() { python3 -c 'import sys; print("%.2f MB/s" % (float(sys.argv[1]) / 1e6))' "$1"; }

# rl_ctl_start: starts psc_ratelimit_ctl (log: $PSC_WORK_DIR/ctl.log) and waits for its
# "ready MODE" line; it is told to quit at exit (which clears its limits).
rl_ctl_start() {
	coproc RL_CTL { exec "$RL_CTL_BIN" --log-level info 2>"$PSC_WORK_DIR/ctl.log"; }
	# shellcheck disable=SC2153 # RL_CTL_PID is set by coproc (bash may unset it later)
	RL_CTL_CHILD=$RL_CTL_PID
	RL_CTL_IN=${RL_CTL[1]} RL_CTL_OUT=${RL_CTL[0]}
	psc_on_exit rl_ctl_stop
	read -r -t 30 RL_REPLY <&"$RL_CTL_OUT" || { cat "$PSC_WORK_DIR/ctl.log" >&2; psc_die "psc_ratelimit_ctl did not load"; }
	psc_log "psc_ratelimit_ctl: $RL_REPLY"
	[ "$RL_REPLY" = "ready $RL_MODE" ] || psc_die "limiter says '$RL_REPLY', expected 'ready $RL_MODE'"
}

# rl_ctl_stop: "quit", then waits up to 10 s (SIGKILL after). Sets RL_CTL_RC.
rl_ctl_stop() {
	RL_CTL_RC=0
	[ -n "$RL_CTL_CHILD" ] || return 0
	if psc_pid_alive "$RL_CTL_CHILD"; then
		{ echo quit >&"$RL_CTL_IN"; } 2>/dev/null
		psc_wait_pid_exit "$RL_CTL_CHILD" 10 || kill -KILL "$RL_CTL_CHILD" 2>/dev/null
	fi
	wait "$RL_CTL_CHILD" 2>/dev/null || RL_CTL_RC=$?
	RL_CTL_CHILD=
}

# rl_ctl COMMAND...: one command to the limiter; its answer line goes to RL_REPLY.
rl_ctl() {
	echo "$*" >&"$RL_CTL_IN" || { cat "$PSC_WORK_DIR/ctl.log" >&2; psc_die "psc_ratelimit_ctl is gone"; }
	read -r -t 30 RL_REPLY <&"$RL_CTL_OUT" || { cat "$PSC_WORK_DIR/ctl.log" >&2; psc_die "no answer to '$*'"; }
	psc_log "ctl: $* -> $RL_REPLY"
}

# rl_nginx_setup SIZE: nginx config (1 worker, access log off) serving SIZE random bytes as
# /big.bin on 127.0.0.1:RL_PORT, in $PSC_WORK_DIR/nginx.
rl_nginx_setup() {
	RL_NGINX_DIR=$PSC_WORK_DIR/nginx
	RL_PORT=$(psc_free_port)
	mkdir -p "$RL_NGINX_DIR/www" "$RL_NGINX_DIR/tmp"
	head -c "$1" /dev/urandom >"$RL_NGINX_DIR/www/big.bin"
	cat >"$RL_NGINX_DIR/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $RL_NGINX_DIR/nginx.pid;
error_log $RL_NGINX_DIR/error.log warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $RL_NGINX_DIR/tmp/body;
	proxy_temp_path $RL_NGINX_DIR/tmp/proxy;
	fastcgi_temp_path $RL_NGINX_DIR/tmp/fastcgi;
	uwsgi_temp_path $RL_NGINX_DIR/tmp/uwsgi;
	scgi_temp_path $RL_NGINX_DIR/tmp/scgi;
	server {
		listen 127.0.0.1:$RL_PORT;
		root $RL_NGINX_DIR/www;
	}
}
EOF
	psc_on_exit rl_nginx_stop
}

# rl_nginx_start [gated]: nginx (RL_NGINX_PID) in the identity cgroup RL_CG. "gated": the
# process joins the cgroup, then waits while the limiter runs a sync (so that, on
# hybrids, it is in the v2 directory before it opens its listening socket).
rl_nginx_start() {
	local gate=$PSC_WORK_DIR/gate.$RANDOM i
	mkfifo "$gate"
	(
		echo "$BASHPID" >"$RL_IDENTITY$RL_CG/cgroup.procs" || exit 126
		read -r _ <"$gate"
		exec nginx -e "$RL_NGINX_DIR/error.log" -p "$RL_NGINX_DIR" -c "$RL_NGINX_DIR/nginx.conf"
	) </dev/null >>"$RL_NGINX_DIR/stdout.log" 2>&1 &
	RL_NGINX_PID=$!
	for ((i = 0; i < 50; i++)); do
		grep -qx "$RL_NGINX_PID" "$RL_IDENTITY$RL_CG/cgroup.procs" && break
		sleep 0.1
	done
	[ "${1:-}" = gated ] && rl_ctl sync
	echo go >"$gate"
	rm -f "$gate"
	psc_wait_listen "$RL_PORT" 20 || { cat "$RL_NGINX_DIR/error.log" >&2; psc_die "nginx did not listen on $RL_PORT"; }
}

rl_nginx_stop() {
	[ -n "$RL_NGINX_PID" ] || return 0
	kill -QUIT "$RL_NGINX_PID" 2>/dev/null
	psc_wait_pid_exit "$RL_NGINX_PID" 10 || kill -KILL "$RL_NGINX_PID" 2>/dev/null
	wait "$RL_NGINX_PID" 2>/dev/null || true
	RL_NGINX_PID=
}

# rl_download [BYTES]: curl fetches /big.bin (its first BYTES only, when given) from nginx;
# sets RL_SIZE (bytes received) and RL_SPEED (curl's average bytes/s).
# shellcheck disable=SC2120 # BYTES is optional
rl_download() {
	local out range=()
	[ -n "${1:-}" ] && range=(-r "0-$(($1 - 1))")
	out=$(curl -s -o /dev/null --max-time 120 "${range[@]}" -w '%{size_download} %{speed_download}' \
		"http://127.0.0.1:$RL_PORT/big.bin") || psc_die "curl failed: $out"
	read -r RL_SIZE RL_SPEED <<<"$out"
	RL_SPEED=${RL_SPEED%%.*}
}
