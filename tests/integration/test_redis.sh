#!/bin/bash
# redis-server in a cgroup of its own, driven by redis-benchmark and redis-cli from another
# one: the agent must count every command on both sides (the server uses read/write, the
# hiredis clients send/recv, i.e. sendto/recvfrom), report error replies, and stay sane
# when commands are pipelined beyond what it captures of each syscall.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/workload.sh
source "$here/../lib/workload.sh"

psc_require_root_btf
psc_require_cmd redis-server redis-cli redis-benchmark ss
psc_init

N=20000       # per command, 20 connections, no pipelining
NP=2000       # pipelined SETs, 10 per batch
HEAD=256      # --head-bytes: what the agent captures of each syscall

port=$(psc_free_port)
port_p=$(psc_free_port)
[ "$port" != "$port_p" ] || port_p=$(psc_free_port)
srv=$(psc_cgroup_create redis)
srv_p=$(psc_cgroup_create redis-pipelined)
cli=$(psc_cgroup_create redis-client)
cli_p=$(psc_cgroup_create redis-client-pipelined)
psc_redis_start "$srv" "$PSC_WORK_DIR/redis" "$port"
psc_redis_start "$srv_p" "$PSC_WORK_DIR/redis-p" "$port_p"
psc_log "redis on :$port in $srv (clients in $cli), pipelined one on :$port_p in $srv_p (clients in $cli_p)"

out=$PSC_WORK_DIR/agent.jsonl
psc_agent_start "$out" --window 2 --head-bytes "$HEAD"

# redis-benchmark's progress lines end in \r: keep its result lines only.
bench() { psc_cgroup_exec "$@" | tr '\r' '\n' | grep 'requests per second' >&2; }
bench "$cli" -- redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -n "$N" -c 20 -q
# An error reply: INCR on a string that is not a number (APPEND creates it; neither is
# SET nor GET, whose counts must stay exact).
psc_cgroup_exec "$cli" -- redis-cli -h 127.0.0.1 -p "$port" APPEND psc-errkey abc >&2
psc_cgroup_exec "$cli" -- redis-cli -h 127.0.0.1 -p "$port" INCR psc-errkey >&2 || true
# Pipelined: each connection writes 10 SETs at once; the server reads them in one read().
bench "$cli_p" -- redis-benchmark -h 127.0.0.1 -p "$port_p" -t set -n "$NP" -P 10 -q

sleep 2.5 # one more window, then the final partial one at SIGINT
psc_agent_stop || psc_die "the agent exited non-zero"

# What the servers executed (asked after the agent stopped, so it does not count these).
calls() { redis-cli -h 127.0.0.1 -p "$1" INFO commandstats | tr -d '\r' |
	sed -n "s/^cmdstat_$2:calls=\([0-9]*\),.*/\1/p"; }
set_calls=$(calls "$port" set) get_calls=$(calls "$port" get)
incr_calls=$(calls "$port" incr) pset_calls=$(calls "$port_p" set)
psc_log "redis commandstats: set=$set_calls get=$get_calls incr=$incr_calls; pipelined set=$pset_calls"

python3 - "$out" "$PSC_AGENT_ERR" "$srv" "$srv_p" "$cli" "$cli_p" "$N" "$set_calls" "$get_calls" \
	"$incr_calls" "$pset_calls" "$HEAD" <<'PY'
import os, sys
sys.path.insert(0, os.environ["PSC_LIB_DIR"])
from psc_report import Report, Checks, parse_summary

out, err, srv, srv_p, cli, cli_p = sys.argv[1:7]
n, set_calls, get_calls, incr_calls, pset_calls, head = map(int, sys.argv[7:13])
rep = Report(out)
for cg in (srv, srv_p, cli, cli_p):
    rep.dump(cg)

ck = Checks("redis")
ck.no_drops(parse_summary(err))
ck.eq("redis-server executed SET", n, set_calls)
ck.eq("redis-server executed GET", n, get_calls)
for cmd in ("SET", "GET"):
    e = rep.endpoint(srv, "redis", cmd, "server")
    ck.eq("server %s count" % cmd, n, e.count)
    ck.eq("server %s responses" % cmd, n, e.responses)
    ck.eq("server %s errors" % cmd, 0, e.errors)
    ck.gt("server %s latency p50 (us)" % cmd, 0, e.p50())
    c = rep.endpoint(cli, "redis", cmd, "client")
    ck.eq("client %s count" % cmd, n, c.count)
    ck.eq("client %s responses" % cmd, n, c.responses)

e = rep.endpoint(srv, "redis", "INCR", "server")
ck.eq("server INCR count", incr_calls, e.count)
ck.eq("server INCR errors (ERR value is not an integer)", 1, e.errors)
e = rep.endpoint(srv, "redis", "APPEND", "server")
ck.eq("server APPEND count", 1, e.count)
ck.eq("server APPEND errors", 0, e.errors)
others = {k[1]: v.count for k, v in rep.endpoints(srv).items()
          if k[1] not in ("SET", "GET", "INCR", "APPEND")}
print("other server endpoints (redis-benchmark's CONFIG GET etc.; not asserted):", others)

# Pipelined: the agent parses only the first HEAD bytes of each read(). A batch of 10
# SETs is 10 x 45 bytes ("*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n"), so a
# 256-byte head holds 5 whole commands (and the name of a 6th): the agent can count only
# about half of them. Lower bound: floor(HEAD / 45) of every 10; never more than were
# executed. The replies ("+OK\r\n", 5 bytes) all fit, so replies beyond the requests it
# saw stay unpaired: responses <= count.
e = rep.endpoint(srv_p, "redis", "SET", "server")
per_batch = min(10, head // 45)
lower = pset_calls * per_batch // 10
print("pipelined SET: executed %d, agent counted %d (%.1f%%), responses %d" % (
    pset_calls, e.count, 100.0 * e.count / max(pset_calls, 1), e.responses))
ck.ge("redis-server executed pipelined SET", 2000, pset_calls)
ck.between("pipelined server SET count (>= %d of 10 per batch)" % per_batch, lower, pset_calls, e.count)
ck.le("pipelined server SET responses <= count", e.count, e.responses)
ck.eq("pipelined server SET errors", 0, e.errors)
c = rep.endpoint(cli_p, "redis", "SET", "client")
ck.between("pipelined client SET count (>= %d of 10 per batch)" % per_batch, lower, pset_calls, c.count)
ck.le("pipelined client SET responses <= count", c.count, c.responses)
ck.done()
PY
