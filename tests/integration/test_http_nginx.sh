#!/bin/bash
# nginx in a cgroup of its own, driven by curl and wrk from another one: the agent must
# count every HTTP request under its path template, on both sides, with 404s as errors.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/workload.sh
source "$here/../lib/workload.sh"

psc_require_root_btf
psc_require_cmd nginx curl wrk ss
psc_init

N_ORDERS=40 N_ROOT=25 N_MISSING=15

port=$(psc_free_port)
srv=$(psc_cgroup_create http-nginx)
cli=$(psc_cgroup_create http-client)
psc_nginx_start "$srv" "$PSC_WORK_DIR/nginx" "$port"
psc_log "nginx (pid $PSC_LAST_PID) on 127.0.0.1:$port in $srv; clients in $cli"

out=$PSC_WORK_DIR/agent.jsonl
psc_agent_start "$out" --window 2

# curl: one process and one connection per request.
psc_cgroup_exec "$cli" -- bash -c '
	set -e
	port=$1 n_orders=$2 n_root=$3 n_missing=$4
	get() { curl -s -o /dev/null -w "%{http_code}\n" "http://127.0.0.1:$port$1"; }
	for ((i = 0; i < n_orders; i++)); do get "/api/orders/$((RANDOM * 7 + 1))"; done
	for ((i = 0; i < n_root; i++)); do get /; done
	for ((i = 0; i < n_missing; i++)); do get "/missing/$((RANDOM + 1))"; done
' _ "$port" "$N_ORDERS" "$N_ROOT" "$N_MISSING" | sort | uniq -c | sed 's/^/curl status: /' >&2

# wrk: 4 keep-alive connections for 2 s on a path of its own.
psc_cgroup_exec "$cli" -- wrk -t1 -c4 -d2s "http://127.0.0.1:$port/wrk" >"$PSC_WORK_DIR/wrk.out" 2>&1
cat "$PSC_WORK_DIR/wrk.out" >&2
wrk_n=$(sed -n 's/^ *\([0-9]\+\) requests in .*/\1/p' "$PSC_WORK_DIR/wrk.out")
[ -n "$wrk_n" ] || psc_die "no 'N requests in' in wrk's output"

sleep 2.5 # one more window, then the final partial one at SIGINT
psc_agent_stop || psc_die "the agent exited non-zero"

python3 - "$out" "$PSC_AGENT_ERR" "$srv" "$cli" \
	"$PSC_WORK_DIR/nginx/access.log" "$wrk_n" "$N_ORDERS" "$N_ROOT" "$N_MISSING" <<'PY'
import collections, os, sys
sys.path.insert(0, os.environ["PSC_LIB_DIR"])
from psc_report import Report, Checks, parse_summary

out, err, srv, cli, access_log = sys.argv[1:6]
wrk_n, n_orders, n_root, n_missing = map(int, sys.argv[6:10])
rep = Report(out)
rep.dump(srv)
rep.dump(cli)

# What nginx itself logged: the ground truth for the server side.
logged = collections.Counter()
with open(access_log) as f:
    for line in f:
        parts = line.split()
        path = parts[1]
        key = ("/api/orders/{id}" if path.startswith("/api/orders/") else
               "/missing/{id}" if path.startswith("/missing/") else path)
        logged[(parts[0] + " " + key, parts[-1])] += 1
print("nginx access log:", dict(logged))
wrk_logged = logged[("GET /wrk", "200")]

ck = Checks("http_nginx")
ck.no_drops(parse_summary(err))
ck.eq("nginx logged GET /api/orders/{id}", n_orders, logged[("GET /api/orders/{id}", "200")])
ck.between("nginx logged GET /wrk vs wrk's 'requests in' (+ at most 4 in flight at the end)",
           wrk_n, wrk_n + 4, wrk_logged)

expect = [  # endpoint, count, errors
    ("GET /api/orders/{id}", n_orders, 0),
    ("GET /", n_root, 0),
    ("GET /missing/{id}", n_missing, n_missing),
]
for role, cg in (("server", srv), ("client", cli)):
    for name, count, errors in expect:
        e = rep.endpoint(cg, "http", name, role)
        ck.eq("%s %s count" % (role, name), count, e.count)
        ck.eq("%s %s responses" % (role, name), count, e.responses)
        ck.eq("%s %s errors" % (role, name), errors, e.errors)
    e = rep.endpoint(cg, "http", "GET /api/orders/{id}", role)
    ck.gt("%s GET /api/orders/{id} latency p50 (us)" % role, 0, e.p50())

e = rep.endpoint(srv, "http", "GET /wrk", "server")
ck.eq("server GET /wrk count == requests nginx logged", wrk_logged, e.count)
ck.between("server GET /wrk count vs wrk's %d 'requests in'" % wrk_n, wrk_n, wrk_n + 4, e.count)
ck.eq("server GET /wrk errors", 0, e.errors)
e = rep.endpoint(cli, "http", "GET /wrk", "client")
ck.between("client GET /wrk count vs wrk's %d (+ at most 4 unanswered)" % wrk_n, wrk_n, wrk_n + 4, e.count)

others = [e for k, e in rep.endpoints(srv).items()
          if k[1] not in {n for n, _, _ in expect} | {"GET /wrk"}]
ck.eq("other server endpoints", [], others)
ck.ge("server accepts (curl 1 per request + wrk's 4)", n_orders + n_root + n_missing + 4,
      rep.sum_field(srv, "syscalls", "accept"))
ck.true("no report names the agent's test shell cgroup for server traffic",
        all(r["cgroup"] in (srv, cli) for r in rep.lines
            if any(e.get("endpoint") == "GET /wrk" for e in r.get("endpoints") or [])))
ck.done()
PY
