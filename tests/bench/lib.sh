# Shared helpers of the benchmarks in tests/bench/ (sourced, not run).
# Every process a benchmark starts is recorded by pid and stopped by that pid at exit; no
# process is ever looked up or killed by name. Sysctls changed are restored at exit.

bench_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench_repo=$(cd "$bench_here/../.." && pwd)

BENCH_PIDS=()		# processes we started (stopped at exit)
BENCH_RESTORE=()	# "sysctl_name=value" to restore at exit
BENCH_TMP=""
BENCH_WRAP=()		# command prefix the servers are started with (bench_in_cgroup)
BENCH_RMDIR=()		# cgroup directories we created (removed at exit, after our processes)

bench_log() { printf '%s\n' "$*" >&2; }
bench_die() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

bench_cleanup() {
	local p kv d
	for p in "${BENCH_PIDS[@]}"; do
		[ -n "$p" ] || continue
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null
			for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$p" 2>/dev/null
		fi
		wait "$p" 2>/dev/null
	done
	for d in "${BENCH_RMDIR[@]}"; do
		for _ in $(seq 50); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
		[ -d "$d" ] && bench_log "could not remove cgroup $d"
	done
	for kv in "${BENCH_RESTORE[@]}"; do
		sysctl -q -w "$kv" >/dev/null 2>&1 || bench_log "could not restore sysctl $kv"
	done
	[ -n "$BENCH_TMP" ] && rm -rf "$BENCH_TMP"
}

# bench_init: temp dir, exit trap, root check.
bench_init() {
	[ "$(id -u)" -eq 0 ] || bench_die "must run as root (loads BPF programs)"
	BENCH_TMP=$(mktemp -d /tmp/psc-bench.XXXXXX)
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_forget_pid() { # pid: no longer ours to stop (already waited for)
	local i
	for i in "${!BENCH_PIDS[@]}"; do
		[ "${BENCH_PIDS[$i]}" = "$1" ] && unset 'BENCH_PIDS[i]'
	done
}

# bench_agent_path [PATH]: sets AGENT to --agent PATH, else $PSC_AGENT, else
# build/agent/prescient-agent of this repository (relative paths: from the current
# directory if they exist there, else from the repository).
bench_agent_path() {
	local p=${1:-${PSC_AGENT:-$bench_repo/build/agent/prescient-agent}}
	case $p in /*) ;; *) [ -e "$p" ] || p=$bench_repo/$p ;; esac
	[ -x "$p" ] && [ -f "$p" ] || bench_die "no agent binary at $p (build it, or pass --agent PATH / PSC_AGENT)"
	AGENT=$(cd "$(dirname "$p")" && printf '%s/%s' "$(pwd)" "$(basename "$p")")
}

bench_need() { # commands...
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || bench_die "needs '$c' (apt-get install ${c/redis-*/redis-tools})"
	done
}

# bench_free_port: a TCP port on 127.0.0.1 that is free right now.
bench_free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

bench_wait_port() { # port [timeout_s]
	local i
	for i in $(seq $((${2:-10} * 10))); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# bench_start_redis PORT: private redis-server, no persistence; sets REDIS_PID.
bench_start_redis() {
	local port=$1 dir=$BENCH_TMP/redis-$1
	mkdir -p "$dir"
	"${BENCH_WRAP[@]}" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--dir "$dir" --daemonize no --protected-mode yes --logfile "$dir/log" \
		--unixsocket '' >/dev/null 2>&1 &
	REDIS_PID=$!
	BENCH_PIDS+=("$REDIS_PID")
	bench_wait_port "$port" 10 || bench_die "redis-server did not listen on 127.0.0.1:$port"
}

# bench_start_nginx PORT: private nginx (own config in a temp dir, daemon off, 1 worker,
# access_log off, `return 200 "ok"`) on 127.0.0.1; sets NGINX_PID (master) and NGINX_PIDS
# (master and worker).
bench_start_nginx() {
	local port=$1 dir=$BENCH_TMP/nginx-$1 bin
	bin=$(command -v nginx || echo /usr/sbin/nginx)
	[ -x "$bin" ] || bench_die "needs nginx (apt-get install nginx-light)"
	mkdir -p "$dir/tmp"
	cat >"$dir/nginx.conf" <<EOF2
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	server {
		listen 127.0.0.1:$port;
		location / { return 200 "ok"; }
	}
}
EOF2
	"${BENCH_WRAP[@]}" "$bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >/dev/null 2>&1 &
	NGINX_PID=$!
	BENCH_PIDS+=("$NGINX_PID")
	bench_wait_port "$port" 10 || { cat "$dir/error.log" >&2; bench_die "nginx did not listen on 127.0.0.1:$port"; }
	NGINX_PIDS=("$NGINX_PID" $(cat "/proc/$NGINX_PID/task/$NGINX_PID/children" 2>/dev/null))
	NGINX_VERSION=$("$bin" -v 2>&1 | sed 's/^nginx version: //')
}

# bench_pids_cpu_s PID...: CPU seconds (user+system) the processes used so far, summed.
bench_pids_cpu_s() {
	local t=0 p
	for p in "$@"; do
		t=$(awk -v a="$t" -v b="$(bench_proc_cpu_s "$p")" 'BEGIN {printf "%.4f", a + b}')
	done
	echo "$t"
}

# bench_make_cgroup: creates a cgroup v2 directory of our own (removed at exit) and sets
# BENCH_CG to it and BENCH_WRAP to a command prefix that runs a command inside it (as the
# same pid: `sh` moves itself, then execs), used for the servers started next; put it before
# the clients too. Only our own processes move, each by itself: no other cgroup is written.
bench_make_cgroup() {
	local root
	for root in /sys/fs/cgroup/unified /sys/fs/cgroup; do
		[ -f "$root/cgroup.controllers" ] && break
	done
	[ -f "$root/cgroup.controllers" ] || bench_die "no cgroup v2 hierarchy found"
	BENCH_CG=$root/psc-bench-$$
	mkdir "$BENCH_CG" || bench_die "cannot create $BENCH_CG"
	BENCH_RMDIR+=("$BENCH_CG")
	BENCH_WRAP=(sh -c 'echo $$ >"$0/cgroup.procs" || exit 125; exec "$@"' "$BENCH_CG")
}

# bench_start_agent AGENT OUTPREFIX: starts `AGENT --print >/dev/null`, waits until its BPF
# programs are attached (AGENT-LOADED) and pre-existing sockets are seeded (AGENT-SEED).
# Sets AGENT_PID and AGENT_ERR (its stderr file).
bench_start_agent() {
	local agent=$1 i
	AGENT_ERR=$2.err
	"$agent" --print >/dev/null 2>"$AGENT_ERR" &
	AGENT_PID=$!
	BENCH_PIDS+=("$AGENT_PID")
	for i in $(seq 300); do
		grep -q AGENT-LOADED "$AGENT_ERR" 2>/dev/null && break
		kill -0 "$AGENT_PID" 2>/dev/null || { cat "$AGENT_ERR" >&2; bench_die "the agent exited at start"; }
		sleep 0.1
	done
	grep -q AGENT-LOADED "$AGENT_ERR" || { cat "$AGENT_ERR" >&2; bench_die "the agent did not report AGENT-LOADED within 30 s"; }
	for i in $(seq 50); do # the seed scan follows right after
		grep -q AGENT-SEED "$AGENT_ERR" && break
		sleep 0.1
	done
}

# bench_stop_agent: SIGINT, wait; sets AGENT_SUMMARY to the agent's summary line.
# (Not to be called in a subshell: it waits for its child.)
bench_stop_agent() {
	kill -INT "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	bench_forget_pid "$AGENT_PID"
	AGENT_SUMMARY=$(grep '^prescient-agent: .* events seen' "$AGENT_ERR" | tail -1)
}

# Fields of a summary line: bench_summary_field LINE KEY, KEY in events|dropped|ringbuf|requests|responses
bench_summary_field() {
	local line=$1 key=$2
	case $key in
	events) sed -nE 's/.* ([0-9]+) events seen.*/\1/p' <<<"$line" ;;
	dropped) sed -nE 's/.* ([0-9]+) dropped.*/\1/p' <<<"$line" ;;
	ringbuf) sed -nE 's/.*\(ringbuf ([0-9]+).*/\1/p' <<<"$line" ;;
	requests) sed -nE 's/.*; ([0-9]+) requests.*/\1/p' <<<"$line" ;;
	responses) sed -nE 's/.* ([0-9]+) responses.*/\1/p' <<<"$line" ;;
	esac
}

# CPU seconds (user+system) a process used so far, from /proc/PID/stat.
bench_proc_cpu_s() {
	python3 - "$1" <<'EOF'
import os, sys
with open(f"/proc/{sys.argv[1]}/stat") as f:
    s = f.read()
fields = s[s.rindex(")") + 2:].split()
print("%.4f" % ((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")))
EOF
}

# CPU seconds (user+system) of a command run as `bench_timed FILE cmd...` (the `time`
# keyword: the command and its children), written to FILE; the command's output is kept.
bench_timed() {
	local file=$1
	shift
	local TIMEFORMAT='%3U %3S'
	{ time "$@"; } 2>"$file.time"
	awk '{printf "%.4f\n", $1 + $2}' "$file.time" | tail -1 >"$file"
}

bench_median() { # numbers...
	printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.10g\n", (a[NR/2]+a[NR/2+1])/2}'
}

bench_env_line() {
	printf 'host: %s, kernel %s, %s CPUs, load average %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		"$(uname -r)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# BPF programs named handle_* that are not our agent's: another prescient agent (another
# test run) is attached and taxes every round, with or without ours.
bench_foreign_progs() {
	local ours=""
	if [ -n "${AGENT_PID:-}" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
		ours=$(grep -h '^prog_id:' /proc/"$AGENT_PID"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u | tr '\n' ' ')
	fi
	bpftool prog show --json 2>/dev/null | OURS="$ours" python3 -c '
import json, os, sys
ours = set(int(x) for x in os.environ["OURS"].split())
try:
    progs = json.load(sys.stdin)
except ValueError:
    progs = []
print(sum(1 for p in progs if p.get("name", "").startswith("handle_") and p["id"] not in ours))'
}

# bench_wait_quiet: waits (up to $PSC_BENCH_QUIET_WAIT s, default 30) until no other agent's
# programs are attached, so that the "without" rounds are really without.
bench_wait_quiet() {
	local i
	for i in $(seq "${PSC_BENCH_QUIET_WAIT:-30}"); do
		[ "$(bench_foreign_progs)" -eq 0 ] && return 0
		[ "$i" -eq 1 ] && bench_log "another agent's BPF programs are attached; waiting up to ${PSC_BENCH_QUIET_WAIT:-30} s for them to go"
		sleep 1
	done
	return 1
}

# bench_ab AGENT ROUNDS MEASURE_FN: interleaved rounds without (off) and with (on) the agent.
# MEASURE_FN is called as `MEASURE_FN off|on ROUND` and must set MEASURE_RATE (requests/s)
# and MEASURE_COUNT (requests issued), and may set MEASURE_CPU (CPU seconds of server and
# client in the round). Sets AB_OFF[], AB_ON[], AB_SUMMARY[] (agent summary lines of the
# "on" rounds), AB_COUNT[], AB_FOREIGN (max foreign handle_* programs seen), and per round
# CPU microseconds per request: AB_CPU_OFF[], AB_CPU_ON[] (server + client) and AB_CPU_AGENT[]
# (the agent's user-space CPU in the "on" round).
bench_ab() {
	local agent=$1 rounds=$2 fn=$3 i mode f a0 a1
	AB_OFF=() AB_ON=() AB_SUMMARY=() AB_COUNT=() AB_FOREIGN=0
	AB_CPU_OFF=() AB_CPU_ON=() AB_CPU_AGENT=()
	for i in $(seq "$rounds"); do
		for mode in off on; do
			bench_wait_quiet
			f=$(bench_foreign_progs)
			[ "$f" -gt "$AB_FOREIGN" ] && AB_FOREIGN=$f
			if [ "$mode" = on ]; then
				bench_start_agent "$agent" "$BENCH_TMP/agent.$i"
			fi
			MEASURE_RATE="" MEASURE_COUNT="" MEASURE_CPU=""
			[ "$mode" = on ] && a0=$(bench_proc_cpu_s "$AGENT_PID")
			"$fn" "$mode" "$i"
			[ "$mode" = on ] && a1=$(bench_proc_cpu_s "$AGENT_PID")
			[ -n "$MEASURE_RATE" ] || bench_die "round $i ($mode): no throughput measured"
			if [ -n "$MEASURE_CPU" ] && [ "${MEASURE_COUNT:-0}" -gt 0 ]; then
				local us
				us=$(awk -v c="$MEASURE_CPU" -v n="$MEASURE_COUNT" 'BEGIN {printf "%.3f", c * 1e6 / n}')
				if [ "$mode" = on ]; then
					AB_CPU_ON+=("$us")
					AB_CPU_AGENT+=("$(awk -v a="$a0" -v b="$a1" -v n="$MEASURE_COUNT" 'BEGIN {printf "%.3f", (b - a) * 1e6 / n}')")
				else
					AB_CPU_OFF+=("$us")
				fi
			fi
			if [ "$mode" = on ]; then
				bench_stop_agent
				AB_ON+=("$MEASURE_RATE")
				AB_SUMMARY+=("$AGENT_SUMMARY")
				AB_COUNT+=("$MEASURE_COUNT")
				printf 'round %d  with agent:    %10.0f req/s   agent: events %s, dropped %s (ringbuf %s), requests %s for %s issued\n' \
					"$i" "$MEASURE_RATE" "$(bench_summary_field "$AGENT_SUMMARY" events)" \
					"$(bench_summary_field "$AGENT_SUMMARY" dropped)" \
					"$(bench_summary_field "$AGENT_SUMMARY" ringbuf)" \
					"$(bench_summary_field "$AGENT_SUMMARY" requests)" "$MEASURE_COUNT"
			else
				AB_OFF+=("$MEASURE_RATE")
				printf 'round %d  without agent: %10.0f req/s\n' "$i" "$MEASURE_RATE"
			fi
			[ "$f" -gt 0 ] && printf '         warning: %s handle_* BPF programs of another agent were attached\n' "$f"
		done
	done
}

# bench_ab_report NAME TARGET: medians, ratio, capture completeness; last line = summary.
bench_ab_report() {
	local name=$1 target=$2 i mon moff ratio paired=() ev=() dr=() rq=()
	for i in "${!AB_ON[@]}"; do
		paired+=("$(awk -v a="${AB_ON[$i]}" -v b="${AB_OFF[$i]}" 'BEGIN {printf "%.4f", a / b}')")
		ev+=("$(bench_summary_field "${AB_SUMMARY[$i]}" events)")
		dr+=("$(bench_summary_field "${AB_SUMMARY[$i]}" dropped)")
		rq+=("$(bench_summary_field "${AB_SUMMARY[$i]}" requests)")
	done
	moff=$(bench_median "${AB_OFF[@]}")
	mon=$(bench_median "${AB_ON[@]}")
	ratio=$(awk -v a="$mon" -v b="$moff" 'BEGIN {printf "%.3f", a / b}')
	local maxdr short=0
	maxdr=$(printf '%s\n' "${dr[@]:-0}" | sort -g | tail -1)
	for i in "${!AB_ON[@]}"; do
		[ "${rq[$i]:-0}" -lt "${AB_COUNT[$i]%.*}" ] && short=$((short + 1))
	done
	echo
	echo "without agent: median $moff req/s (rounds: ${AB_OFF[*]})"
	echo "with agent:    median $mon req/s (rounds: ${AB_ON[*]})"
	echo "per-round ratios with/without: ${paired[*]} (median $(bench_median "${paired[@]}"))"
	echo "agent per 'with' round: events ${ev[*]}; dropped ${dr[*]}; requests counted ${rq[*]}; requests issued ${AB_COUNT[*]}"
	for i in "${!AB_SUMMARY[@]}"; do echo "  round $((i + 1)): ${AB_SUMMARY[$i]}"; done
	local verdict capture
	verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN {print (r >= t) ? "PASS" : "FAIL"}')
	if [ "${maxdr:-0}" -gt 0 ]; then
		capture="INCOMPLETE (up to $maxdr events dropped in a round: the ratio does not count)"
	elif [ "$short" -gt 0 ]; then
		capture="INCOMPLETE (in $short of ${#AB_ON[@]} rounds the agent counted fewer requests than were issued: the ratio does not count)"
	else
		capture="complete (requests counted >= requests issued in every round, 0 drops)"
	fi
	[ "$AB_FOREIGN" -gt 0 ] && echo "warning: another agent's BPF programs ($AB_FOREIGN) were attached during some rounds: both sides were taxed"
	local cpu_note=""
	if [ "${#AB_CPU_ON[@]}" -gt 0 ] && [ "${#AB_CPU_ON[@]}" -eq "${#AB_CPU_OFF[@]}" ]; then
		# Throughput of a saturated CPU-bound pair is inversely proportional to its CPU per
		# request: what the ratio would be on a host with nothing else running.
		local cratio=() coff con cag cr
		for i in "${!AB_CPU_ON[@]}"; do
			cratio+=("$(awk -v off="${AB_CPU_OFF[$i]}" -v on="${AB_CPU_ON[$i]}" -v ag="${AB_CPU_AGENT[$i]}" \
				'BEGIN {printf "%.4f", off / (on + ag)}')")
		done
		coff=$(bench_median "${AB_CPU_OFF[@]}")
		con=$(bench_median "${AB_CPU_ON[@]}")
		cag=$(bench_median "${AB_CPU_AGENT[@]}")
		cr=$(bench_median "${cratio[@]}")
		echo "CPU per request (server + client, us): without ${AB_CPU_OFF[*]} (median $coff); with ${AB_CPU_ON[*]} (median $con) + agent user space ${AB_CPU_AGENT[*]} (median $cag)"
		echo "CPU ratio per round, without / (with + agent): ${cratio[*]} (median $cr)"
		cpu_note="; CPU-based ratio $cr (without / (with + agent) CPU per request, median; target >= $target: $(awk -v r="$cr" -v t="$target" 'BEGIN {print (r >= t) ? "PASS" : "FAIL"}'))"
	fi
	echo "$name summary: ratio with/without $ratio (median $mon / $moff req/s, ${#AB_ON[@]} rounds each; target >= $target: $verdict)$cpu_note; capture $capture"
}
