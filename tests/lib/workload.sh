# shellcheck shell=bash
# shellcheck disable=SC2034 # PSC_* variables are set here for the scripts that source this
# tests/lib/workload.sh: run real workloads in cgroups of their own and watch them with
# prescient-agent. Sourced by tests/integration/test_*.sh and by deploy/demo.
#
#   source "$PSC_SOURCE_DIR/tests/lib/workload.sh"
#   psc_require_root_btf              # exit 77 (skipped) with a reason when impossible
#   psc_init                          # work dir $PSC_WORK_DIR + `trap psc_cleanup EXIT`
#   cg=$(psc_cgroup_create redis)     # -> "/prescient-test-redis-1234"
#   pid=$(psc_cgroup_run "$cg" --log "$PSC_WORK_DIR/redis.log" -- redis-server ...)
#   psc_cgroup_exec "$cg" -- some-client ...   # foreground, inside the cgroup
#   psc_agent_start "$PSC_WORK_DIR/agent.jsonl" --window 2
#   ... load ...
#   psc_agent_stop                    # SIGINT: final partial window + summary line
#   python3 "$PSC_LIB_DIR/psc_report.py" dump "$PSC_WORK_DIR/agent.jsonl"
#
# Rules every function here keeps (the machine is shared with workloads of others):
#  - only cgroups this library created are written to, and only they are removed; their
#    names start with "prescient-test-" and are recorded in $PSC_WORK_DIR/cgroups;
#  - processes are only ever signalled by pid: the agent we started, and the pids listed
#    in cgroup.procs of a cgroup we created;
#  - nothing is written to the root cgroup (no controller is enabled anywhere).
#
# Environment:
#   PSC_BUILD_DIR    build tree (default: <source>/build); the agent is
#                    $PSC_BUILD_DIR/agent/prescient-agent unless PSC_AGENT is set
#   PSC_SOURCE_DIR   source tree (default: two levels above this file)
#   PSC_CGROUP_ROOT  cgroup filesystem (default /sys/fs/cgroup)
#   PSC_CG_PREFIX    cgroup name prefix (default prescient-test)
#   PSC_KEEP=1       keep $PSC_WORK_DIR (agent output, server logs) after the run

PSC_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${PSC_SOURCE_DIR:=$(cd "$PSC_LIB_DIR/../.." && pwd)}"
: "${PSC_BUILD_DIR:=$PSC_SOURCE_DIR/build}"
: "${PSC_CGROUP_ROOT:=/sys/fs/cgroup}"
: "${PSC_CG_PREFIX:=prescient-test}"
export PSC_LIB_DIR PSC_SOURCE_DIR PSC_BUILD_DIR

PSC_WORK_DIR=${PSC_WORK_DIR:-}
PSC_AGENT_PID=
PSC_AGENT_OUT=
PSC_AGENT_ERR=
PSC_AGENT_SUMMARY=
PSC_LAST_PID=
PSC_CG_MODE=        # v1 (also hybrid) or v2, set by psc_cgroup_detect
PSC_CG_HIERS=()     # hierarchy roots where a workload cgroup is created
PSC_CG_IDENTITY=    # the hierarchy that names workloads (carries memory)
_PSC_EXIT_HOOKS=()

# ---- messages ---------------------------------------------------------------------------

psc_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
psc_die() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}
psc_skip() {
	printf 'SKIP: %s\n' "$*" >&2
	exit 77
}

# ---- requirements -----------------------------------------------------------------------

# psc_cgroup_detect: sets PSC_CG_MODE, PSC_CG_IDENTITY and PSC_CG_HIERS. Returns 1 with
# the reason in PSC_CG_WHY when no usable hierarchy carries the memory controller.
psc_cgroup_detect() {
	local root=$PSC_CGROUP_ROOT d real seen=" "
	PSC_CG_HIERS=()
	PSC_CG_WHY=
	if [ -e "$root/cgroup.controllers" ]; then
		# Pure cgroup v2: workloads live right under the root; memory must already be
		# delegated to children (we never write the root's cgroup.subtree_control).
		PSC_CG_MODE=v2
		PSC_CG_IDENTITY=$root
		if ! grep -qw memory "$root/cgroup.subtree_control" 2>/dev/null; then
			PSC_CG_WHY="cgroup v2: memory is not in $root/cgroup.subtree_control (not enabling it)"
			return 1
		fi
		PSC_CG_HIERS=("$root")
		return 0
	fi
	if [ ! -e "$root/memory/memory.usage_in_bytes" ]; then
		PSC_CG_WHY="no cgroup memory controller (neither $root/cgroup.controllers nor $root/memory)"
		return 1
	fi
	PSC_CG_MODE=v1
	PSC_CG_IDENTITY=$root/memory
	# The same relative path in each v1 hierarchy the agent reads (cpu,cpuacct may be one
	# hierarchy behind two symlinks) and in the v2 "unified" one of hybrid hosts (PSI).
	for d in memory cpu cpuacct cpu,cpuacct blkio unified; do
		[ -e "$root/$d/cgroup.procs" ] || continue
		real=$(readlink -f "$root/$d")
		case "$seen" in *" $real "*) continue ;; esac
		seen="$seen$real "
		PSC_CG_HIERS+=("$root/$d")
	done
	return 0
}

# psc_require_root_btf: exits 77 (ctest: skipped) with a reason unless this can run.
psc_require_root_btf() {
	[ "$(id -u)" -eq 0 ] || psc_skip "needs root (eBPF and cgroups)"
	[ -r /sys/kernel/btf/vmlinux ] || psc_skip "kernel without BTF (/sys/kernel/btf/vmlinux)"
	psc_cgroup_detect || psc_skip "$PSC_CG_WHY"
	command -v python3 >/dev/null || psc_skip "python3 not installed (checks are python)"
}

# psc_require_cmd CMD...: exits 77 naming the first command that is not installed.
psc_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || psc_skip "$c is not installed"
	done
}

# ---- work dir and cleanup ---------------------------------------------------------------

# psc_init: creates $PSC_WORK_DIR (world-readable: servers running as other users, e.g.
# postgres, get sub-directories there) and installs `trap psc_cleanup EXIT`.
psc_init() {
	[ ${#PSC_CG_HIERS[@]} -gt 0 ] || psc_cgroup_detect || psc_skip "$PSC_CG_WHY"
	PSC_WORK_DIR=$(mktemp -d /tmp/prescient-test.XXXXXX)
	chmod 755 "$PSC_WORK_DIR"
	: >"$PSC_WORK_DIR/cgroups"
	trap psc_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# psc_on_exit CMD...: runs CMD (as one string, eval'd) at exit, before cgroups are removed;
# hooks run last-registered first. Errors in hooks are ignored.
psc_on_exit() { _PSC_EXIT_HOOKS+=("$*"); }

psc_cleanup() {
	local rc=$? i cg
	trap - EXIT INT TERM
	set +e
	for ((i = ${#_PSC_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${_PSC_EXIT_HOOKS[$i]}" >/dev/null 2>&1
	done
	[ -n "$PSC_AGENT_PID" ] && psc_agent_stop >/dev/null 2>&1
	if [ -n "$PSC_WORK_DIR" ] && [ -f "$PSC_WORK_DIR/cgroups" ]; then
		while read -r cg; do
			[ -n "$cg" ] && psc_cgroup_destroy "$cg"
		done < <(tac "$PSC_WORK_DIR/cgroups")
	fi
	if [ -n "$PSC_WORK_DIR" ] && [ -d "$PSC_WORK_DIR" ]; then
		if [ "${PSC_KEEP:-0}" = 1 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "${PSC_KEEP:-}" != 0 ]; }; then
			echo "kept $PSC_WORK_DIR (agent output and logs)" >&2
		else
			rm -rf "$PSC_WORK_DIR"
		fi
	fi
	exit "$rc"
}

# ---- cgroups ----------------------------------------------------------------------------

_psc_cg_check() {
	case "$1" in
	/"$PSC_CG_PREFIX"-*) ;;
	*) psc_die "refusing to touch cgroup '$1': not one of ours ($PSC_CG_PREFIX-*)" ;;
	esac
	case "$1" in */../* | */.. | */./*) psc_die "bad cgroup path '$1'" ;; esac
}

# psc_cgroup_create NAME: creates /<prefix>-NAME-<pid of the test> in every hierarchy the
# agent reads and prints that path, as the agent names the workload.
psc_cgroup_create() {
	local name=$1 cg h
	[ ${#PSC_CG_HIERS[@]} -gt 0 ] || psc_cgroup_detect || psc_die "$PSC_CG_WHY"
	[[ "$name" =~ ^[A-Za-z0-9_.-]+$ ]] || psc_die "bad cgroup name '$name'"
	cg="/$PSC_CG_PREFIX-$name-$$"
	for h in "${PSC_CG_HIERS[@]}"; do
		[ -e "$h$cg" ] && psc_die "cgroup $h$cg already exists"
	done
	[ -n "$PSC_WORK_DIR" ] && echo "$cg" >>"$PSC_WORK_DIR/cgroups"
	for h in "${PSC_CG_HIERS[@]}"; do
		mkdir "$h$cg" || psc_die "cannot create $h$cg"
	done
	echo "$cg"
}

# psc_cgroup_procs CGPATH: pids in the cgroup (in any of its hierarchies), one per line.
psc_cgroup_procs() {
	local h
	_psc_cg_check "$1"
	for h in "${PSC_CG_HIERS[@]}"; do
		[ -r "$h$1/cgroup.procs" ] && cat "$h$1/cgroup.procs"
	done | sort -un
}

# Joins the calling (sub)shell to CGPATH in every hierarchy.
_psc_cg_join() {
	local h
	for h in "${PSC_CG_HIERS[@]}"; do
		echo "$BASHPID" >"$h$1/cgroup.procs" || return 1
	done
}

# psc_cgroup_run CGPATH [--log FILE] -- CMD...: starts CMD in the background, already in
# the cgroup (a subshell joins it, then execs CMD: nothing runs outside it). stdout and
# stderr go to FILE (default /dev/null), stdin is /dev/null. Prints the pid and sets
# PSC_LAST_PID (use `psc_cgroup_run ... >/dev/null; pid=$PSC_LAST_PID` to keep the process
# a child of the calling shell, so that `wait` works).
psc_cgroup_run() {
	local cg=$1 log=/dev/null
	shift
	_psc_cg_check "$cg"
	if [ "${1:-}" = --log ]; then
		log=$2
		shift 2
	fi
	[ "${1:-}" = -- ] && shift
	[ $# -gt 0 ] || psc_die "psc_cgroup_run: no command"
	(_psc_cg_join "$cg" || exit 126; exec "$@") </dev/null >>"$log" 2>&1 &
	PSC_LAST_PID=$!
	echo "$PSC_LAST_PID"
}

# psc_cgroup_exec CGPATH -- CMD...: runs CMD in the foreground inside the cgroup and
# returns its exit status (stdio are the caller's).
psc_cgroup_exec() {
	local cg=$1
	shift
	_psc_cg_check "$cg"
	[ "${1:-}" = -- ] && shift
	(_psc_cg_join "$cg" || exit 126; exec "$@")
}

# psc_cgroup_destroy CGPATH: stops what still runs in that cgroup (SIGTERM, then SIGKILL
# after 10 s, by the pids in its cgroup.procs only) and removes it from every hierarchy.
psc_cgroup_destroy() {
	local cg=$1 h pids p i
	_psc_cg_check "$cg"
	for ((i = 0; i < 150; i++)); do
		pids=$(psc_cgroup_procs "$cg")
		[ -z "$pids" ] && break
		for p in $pids; do
			# never ourselves, whatever happened
			[ "$p" = "$$" ] || [ "$p" = "$BASHPID" ] && continue
			if [ "$i" -lt 100 ]; then
				[ $((i % 20)) -eq 0 ] && kill -TERM "$p" 2>/dev/null
			else
				kill -KILL "$p" 2>/dev/null
			fi
		done
		sleep 0.1
	done
	for h in "${PSC_CG_HIERS[@]}"; do
		[ -d "$h$cg" ] || continue
		for ((i = 0; i < 50; i++)); do
			rmdir "$h$cg" 2>/dev/null && break
			sleep 0.1
		done
		[ -d "$h$cg" ] && psc_log "warning: cannot remove $h$cg"
	done
	if [ -n "$PSC_WORK_DIR" ] && [ -f "$PSC_WORK_DIR/cgroups" ]; then
		grep -vxF -- "$cg" "$PSC_WORK_DIR/cgroups" >"$PSC_WORK_DIR/cgroups.new" || true
		mv "$PSC_WORK_DIR/cgroups.new" "$PSC_WORK_DIR/cgroups"
	fi
	return 0
}

# ---- processes and ports ----------------------------------------------------------------

# psc_pid_alive PID: true while PID runs (a zombie counts as gone).
psc_pid_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# psc_wait_pid_exit PID [TIMEOUT_S]: waits until PID is gone; returns 1 on timeout.
psc_wait_pid_exit() {
	local i n=$((${2:-30} * 10))
	for ((i = 0; i < n; i++)); do
		psc_pid_alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

# psc_free_port: prints a free TCP port on 127.0.0.1, outside the ephemeral range (so that
# no client connection takes it before the server binds) and outside the ports the agent
# uses as protocol hints.
psc_free_port() {
	python3 - <<'PY'
import random, socket
lo, hi = 20000, 32000
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        elo, ehi = map(int, f.read().split())
except OSError:
    elo, ehi = 32768, 60999
for _ in range(500):
    p = random.randint(lo, hi)
    if elo <= p <= ehi:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit("no free port")
PY
}

# psc_wait_listen PORT [TIMEOUT_S]: waits until something listens on 127.0.0.1:PORT,
# without connecting to it (a connection would show up in the agent's numbers).
psc_wait_listen() {
	local port=$1 i n=$((${2:-30} * 10))
	for ((i = 0; i < n; i++)); do
		if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# ---- the agent --------------------------------------------------------------------------

psc_agent_bin() {
	local bin=${PSC_AGENT:-$PSC_BUILD_DIR/agent/prescient-agent}
	[ -x "$bin" ] || psc_die "agent not built: $bin (cmake --build $PSC_BUILD_DIR --target prescient-agent)"
	echo "$bin"
}

# psc_agent_start OUTFILE ARGS...: starts `prescient-agent --print ARGS` (JSON lines to
# OUTFILE, log to OUTFILE.stderr) and waits until it logs AGENT-LOADED (BPF attached).
# A non-default PSC_CGROUP_ROOT is passed on as --cgroup-root.
psc_agent_start() {
	local out=$1 bin i
	shift
	bin=$(psc_agent_bin)
	[ -z "$PSC_AGENT_PID" ] || psc_die "psc_agent_start: an agent is already running ($PSC_AGENT_PID)"
	PSC_AGENT_OUT=$out
	PSC_AGENT_ERR=$out.stderr
	PSC_AGENT_SUMMARY=
	local extra=()
	[ "$PSC_CGROUP_ROOT" = /sys/fs/cgroup ] || extra=(--cgroup-root "$PSC_CGROUP_ROOT")
	"$bin" --print "${extra[@]}" "$@" >"$PSC_AGENT_OUT" 2>"$PSC_AGENT_ERR" </dev/null &
	PSC_AGENT_PID=$!
	for ((i = 0; i < 600; i++)); do
		grep -q AGENT-LOADED "$PSC_AGENT_ERR" 2>/dev/null && break
		if ! psc_pid_alive "$PSC_AGENT_PID"; then
			cat "$PSC_AGENT_ERR" >&2
			PSC_AGENT_PID=
			psc_die "the agent exited before AGENT-LOADED"
		fi
		sleep 0.1
	done
	grep -q AGENT-LOADED "$PSC_AGENT_ERR" || psc_die "no AGENT-LOADED after 60 s"
	psc_log "agent $PSC_AGENT_PID: $(grep AGENT-LOADED "$PSC_AGENT_ERR")"
}

# psc_agent_rss_kb: the agent's VmRSS in kB.
psc_agent_rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$PSC_AGENT_PID/status"
}

# psc_agent_stop: SIGINT (final partial window + summary), waits up to 30 s (then SIGKILL);
# sets PSC_AGENT_SUMMARY to the summary line and prints it on stderr. Returns the
# agent's exit status.
psc_agent_stop() {
	local pid=$PSC_AGENT_PID rc=0
	[ -n "$pid" ] || return 0
	kill -INT "$pid" 2>/dev/null
	if ! psc_wait_pid_exit "$pid" 30; then
		psc_log "agent did not stop in 30 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null || rc=$?
	PSC_AGENT_PID=
	PSC_AGENT_SUMMARY=$(grep 'events seen' "$PSC_AGENT_ERR" | tail -n1 || true)
	psc_log "agent exited $rc: ${PSC_AGENT_SUMMARY:-no summary line}"
	grep -E '(warn|err)[a-z]*:' "$PSC_AGENT_ERR" | head -n 20 >&2 || true
	return "$rc"
}

# ---- servers ----------------------------------------------------------------------------

# psc_nginx_start CGPATH DIR PORT: nginx (master + 1 worker) in the cgroup, its own config
# and prefix in DIR, listening on 127.0.0.1:PORT; answers 200 on "/", "/api/orders/<n>"
# and "/wrk", 404 elsewhere (all by `return`: no files, no sendfile). Requests are logged
# to DIR/access.log ("$request $status" per line). Sets PSC_LAST_PID to the master's pid
# (call it directly, not in $(...): it registers its own stop at exit).
psc_nginx_start() {
	local cg=$1 dir=$2 port=$3 pid
	mkdir -p "$dir/tmp"
	cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 512; }
http {
	log_format plain '\$request \$status';
	access_log $dir/access.log plain;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	default_type text/plain;
	server {
		listen 127.0.0.1:$port;
		location = / { return 200 "ok\n"; }
		location /api/orders/ { return 200 '{"order": "found"}\n'; }
		location = /wrk { return 200 "wrk\n"; }
		location / { return 404; }
	}
}
EOF
	psc_cgroup_run "$cg" --log "$dir/stdout.log" -- \
		nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" >/dev/null
	pid=$PSC_LAST_PID
	psc_on_exit "kill -QUIT $pid; psc_wait_pid_exit $pid 10"
	psc_wait_listen "$port" 20 || { cat "$dir/error.log" "$dir/stdout.log" >&2; psc_die "nginx did not listen on $port"; }
	PSC_LAST_PID=$pid
}

# psc_redis_start CGPATH DIR PORT: redis-server in the cgroup on 127.0.0.1:PORT, no
# persistence. Sets PSC_LAST_PID (call it directly, not in $(...)). Stopped at exit.
psc_redis_start() {
	local cg=$1 dir=$2 port=$3 pid
	mkdir -p "$dir"
	psc_cgroup_run "$cg" --log "$dir/redis.log" -- redis-server --port "$port" \
		--bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --protected-mode yes >/dev/null
	pid=$PSC_LAST_PID
	psc_on_exit "kill -TERM $pid; psc_wait_pid_exit $pid 10"
	psc_wait_listen "$port" 20 || { cat "$dir/redis.log" >&2; psc_die "redis did not listen on $port"; }
	PSC_LAST_PID=$pid
}
