#!/bin/bash
# PostgreSQL 15 (a private cluster in a temp dir) in a cgroup of its own, driven by pgbench
# from another one: the agent must count every statement of pgbench's TPC-B-like script
# under its fingerprint. The postmaster accepts and forks a backend per connection: the
# backend inherits both the cgroup and the tracked socket.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/workload.sh
source "$here/../lib/workload.sh"

PGBIN=${PSC_PGBIN:-/usr/lib/postgresql/15/bin}
psc_require_root_btf
psc_require_cmd "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/pgbench" runuser ss
id postgres >/dev/null 2>&1 || psc_skip "no user postgres"
psc_init

CLIENTS=4 TXNS=500

pg=$PSC_WORK_DIR/pg
mkdir -p "$pg"
chown postgres: "$pg"
port=$(psc_free_port)
srv=$(psc_cgroup_create postgres)
cli=$(psc_cgroup_create postgres-client)

runuser -u postgres -- "$PGBIN/initdb" -D "$pg/data" -A trust -U postgres --no-sync \
	>"$pg/initdb.log" 2>&1 || { cat "$pg/initdb.log" >&2; psc_die "initdb failed"; }
psc_on_exit "runuser -u postgres -- '$PGBIN/pg_ctl' -D '$pg/data' -m fast -w -t 20 stop"
# pg_ctl forks the postmaster: started inside the cgroup, it stays there with its backends.
psc_cgroup_exec "$srv" -- runuser -u postgres -- "$PGBIN/pg_ctl" -D "$pg/data" -l "$pg/server.log" \
	-w -t 60 -o "-p $port -c listen_addresses=127.0.0.1 -k $pg -c fsync=off -c synchronous_commit=off" \
	start >&2 || { cat "$pg/server.log" >&2; psc_die "PostgreSQL did not start"; }
psc_wait_listen "$port" 30 || psc_die "PostgreSQL does not listen on $port"
psc_log "PostgreSQL on 127.0.0.1:$port in $srv: $(psc_cgroup_procs "$srv" | wc -l) processes"

pgb() { psc_cgroup_exec "$cli" -- "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres "$@" postgres; }
pgb -i -s 1 -q >"$pg/pgbench-init.log" 2>&1 || { cat "$pg/pgbench-init.log" >&2; psc_die "pgbench -i failed"; }

out=$PSC_WORK_DIR/agent.jsonl
psc_agent_start "$out" --window 2
pgb -M simple -c "$CLIENTS" -t "$TXNS" >"$pg/pgbench.log" 2>&1 || { cat "$pg/pgbench.log" >&2; psc_die "pgbench failed"; }
cat "$pg/pgbench.log" >&2
sleep 2.5 # one more window, then the final partial one at SIGINT
psc_agent_stop || psc_die "the agent exited non-zero"

runuser -u postgres -- "$PGBIN/pg_ctl" -D "$pg/data" -m fast -w -t 20 stop >&2 || true

python3 - "$out" "$PSC_AGENT_ERR" "$srv" "$cli" "$((CLIENTS * TXNS))" <<'PY'
import os, re, sys
sys.path.insert(0, os.environ["PSC_LIB_DIR"])
from psc_report import Report, Checks, parse_summary

out, err, srv, cli = sys.argv[1:5]
txns = int(sys.argv[5])
rep = Report(out)
rep.dump(srv)
rep.dump(cli)

# pgbench's built-in tpcb-like script, as fingerprints (literals -> '?', a trailing ';'
# is ignored in the comparison).
SCRIPT = [
    "BEGIN",
    "UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?",
    "SELECT abalance FROM pgbench_accounts WHERE aid = ?",
    "UPDATE pgbench_tellers SET tbalance = tbalance + ? WHERE tid = ?",
    "UPDATE pgbench_branches SET bbalance = bbalance + ? WHERE bid = ?",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP)",
    "END",
]
norm = lambda s: re.sub(r"\s*;\s*$", "", s.strip())

ck = Checks("postgres")
ck.no_drops(parse_summary(err))
for role, cg in (("server", srv), ("client", cli)):
    eps = rep.endpoints(cg, protocol="postgres", role=role)
    print("%s fingerprints seen:" % role)
    for k in sorted(eps, key=lambda k: -eps[k].count):
        print("    %6d  errors %d  responses %6d  %s" % (eps[k].count, eps[k].errors, eps[k].responses, k[1]))
    by_fp = {}
    for k, e in eps.items():
        by_fp.setdefault(norm(k[1]), []).append(e)
    total = 0
    for fp in SCRIPT:
        es = by_fp.get(fp, [])
        count = sum(e.count for e in es)
        total += count
        ck.within("%s count of '%s'" % (role, fp), txns, count, 0.01)
        if role == "server":
            ck.within("%s responses of '%s'" % (role, fp), txns, sum(e.responses for e in es), 0.01)
            ck.eq("%s errors of '%s'" % (role, fp), 0, sum(e.errors for e in es))
    all_count = sum(e.count for e in eps.values())
    ck.within("%s requests of the script's 7 statements" % role, 7 * txns, total, 0.01)
    ck.within("%s requests in all (script + pgbench's set-up queries)" % role, 7 * txns, all_count, 0.01)
    if role == "server":
        e = (by_fp.get(SCRIPT[1]) or [None])[0]
        ck.gt("server latency p50 of the accounts UPDATE (us)", 0, e.p50() if e else None)
ck.ge("server accepts (pgbench: 1 set-up + %d clients)" % 4, 5, rep.sum_field(srv, "syscalls", "accept"))
others = [k for k in rep.endpoints(srv) if k[0] != "postgres"]
ck.eq("server endpoints not parsed as postgres", [], others)
ck.done()
PY
