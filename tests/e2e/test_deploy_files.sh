#!/usr/bin/env bash
# The deployment files (deploy/systemd, deploy/k8s, deploy/grafana, deploy/config) checked
# against the programs they deploy:
#  - systemd-analyze verify of both units in a throwaway root holding the binaries (no
#    output allowed; a typo'd key is shown to fail), their hardening exposure figures;
#  - every system call the aggregator makes (and the agent, as root with BTF) while doing
#    real work is inside its unit's SystemCallFilter (strace), so the filter cannot kill it;
#  - the agent runs with exactly its unit's capabilities, and needs the ones listed;
#  - the Kubernetes manifests parse and are consistent (capabilities, mounts, selectors,
#    ports, keys) and their config keys are real options;
#  - every metric the Grafana dashboard reads is exported by a live aggregator;
#  - every option of each program is documented in its example config, and vice versa.
# Processes are started here and stopped by pid only; nothing is enabled or started
# through systemd, and the only cgroup-free, loopback-only traffic is to our aggregator.
set -euo pipefail

src=${PSC_SOURCE_DIR:?}
build=${PSC_BUILD_DIR:?}
agent=$build/agent/prescient-agent
agg=$build/aggregator/prescient-aggregator
send=$build/aggregator/psc_send_reports
for b in "$agent" "$agg" "$send"; do
	if [ ! -x "$b" ]; then
		echo "SKIP: $b not built"
		exit 77
	fi
done
for t in systemd-analyze strace curl; do
	if ! command -v $t >/dev/null; then
		echo "SKIP: $t not installed (deploy/setup installs it)"
		exit 77
	fi
done
py=
for p in python3 /usr/bin/python3; do
	if command -v $p >/dev/null && $p -c 'import yaml' 2>/dev/null; then
		py=$p
		break
	fi
done
if [ -z "$py" ]; then
	echo "SKIP: python3 with yaml not installed (deploy/setup installs python3-yaml)"
	exit 77
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		{ kill -9 "$p" && wait "$p"; } 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}
units=$src/deploy/systemd

# --- systemd-analyze verify, in a root that holds the binaries where the units say ---
root=$tmp/root
mkdir -p "$root/usr/sbin" "$root/usr/bin" "$root/lib/systemd/system"
cp "$agent" "$root/usr/sbin/"
cp "$agg" "$root/usr/bin/"
# ExecReload sends SIGHUP with kill(1)
mkdir -p "$root/bin" && cp /bin/kill "$root/bin/kill"
cp -L /lib/systemd/system/*.target /lib/systemd/system/*.slice /lib/systemd/system/*.mount \
	"$root/lib/systemd/system/" \
	2>/dev/null || true
cp "$units"/prescient-agent.service "$units"/prescient-aggregator.service \
	"$root/lib/systemd/system/"
verify() { # unit file...: prints what systemd-analyze says
	systemd-analyze verify --root="$root" --man=no "$@" 2>&1 || echo "(exit status $?)"
}
out=$(verify "$root"/lib/systemd/system/prescient-{agent,aggregator}.service)
[ -z "$out" ] || fail "systemd-analyze verify: $out"
sed 's/^NoNewPrivileges=/NoNewPrivilegez=/' "$units/prescient-agent.service" \
	>"$root/lib/systemd/system/psc-typo.service"
out=$(verify "$root/lib/systemd/system/psc-typo.service")
[[ "$out" == *"Unknown key"* ]] || fail "verify does not catch a typo'd key: '$out'"
rm "$root/lib/systemd/system/psc-typo.service"
echo "systemd-analyze verify: both units clean"

for u in agent aggregator; do
	exp=$(systemd-analyze security --offline=yes --root="$root" \
		"$root/lib/systemd/system/prescient-$u.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	[ -n "$exp" ] || fail "no exposure figure for prescient-$u.service"
	echo "systemd-analyze security: prescient-$u exposure $exp (0 = locked down, 10 = none)"
	eval "exposure_$u=$exp"
done
# The aggregator needs nothing; the agent is a BPF tracer that writes cgroups.
awk -v e="$exposure_aggregator" 'BEGIN { exit !(e <= 2.0) }' ||
	fail "aggregator exposure $exposure_aggregator > 2.0"
awk -v e="$exposure_agent" 'BEGIN { exit !(e <= 4.0) }' || fail "agent exposure $exposure_agent > 4.0"

# The unit's own settings that matter.
unit_value() { # unit key: the values of every `key=` line, space-separated
	sed -n "s/^$2=//p" "$units/prescient-$1.service" | tr '\n' ' '
}
agent_caps=$(unit_value agent CapabilityBoundingSet)
for c in CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_SYS_RESOURCE; do
	[[ " $agent_caps " == *" $c "* ]] || fail "agent unit lacks $c"
done
[ "$(unit_value aggregator CapabilityBoundingSet)" = " " ] ||
	fail "aggregator unit has capabilities: $(unit_value aggregator CapabilityBoundingSet)"
[ "$(unit_value aggregator DynamicUser)" = "yes " ] || fail "aggregator is not a DynamicUser"
for p in /sys/fs/cgroup -/sys/fs/bpf -/sys/kernel/tracing /var/lib/prescient; do
	[[ " $(unit_value agent ReadWritePaths) " == *" $p "* ]] || fail "agent unit: no ReadWritePaths $p"
done
grep -q '^ExecStart=/usr/sbin/prescient-agent --config /etc/prescient/agent.conf$' \
	"$units/prescient-agent.service" || fail "agent ExecStart"
grep -q '^ExecStart=/usr/bin/prescient-aggregator --config /etc/prescient/aggregator.conf' \
	"$units/prescient-aggregator.service" || fail "aggregator ExecStart"

# --- system calls made while working, against each unit's SystemCallFilter ---
systemd-analyze syscall-filter >"$tmp/groups"
sanitized=
if grep -q '^PRESCIENT_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
	sanitized=1
fi
check_syscalls() { # unit strace-output: fails naming calls outside the filter
	if [ -n "$sanitized" ]; then
		# The ASan/UBSan runtimes make calls of their own (personality, ...) that the
		# packaged release build never makes.
		echo "$1 system calls: not checked in a sanitizer build"
		return 0
	fi
	$py - "$units/prescient-$1.service" "$tmp/groups" "$2" <<'EOF'
import re, sys
unit, groups_file, trace = sys.argv[1:4]
groups, cur = {}, None
for line in open(groups_file):
    if line.startswith("@"):
        cur = line.split()[0]
        groups[cur] = set()
    elif cur and line.strip() and not line.strip().startswith("#"):
        groups[cur].add(line.split()[0])
def expand(names, seen=()):
    out = set()
    for n in names:
        if n.startswith("@"):
            if n not in seen:
                out |= expand(groups[n], seen + (n,))
        else:
            out.add(n)
    return out
allow, deny = set(), set()
for line in open(unit):
    m = re.match(r"SystemCallFilter=(~?)(.*)", line.strip())
    if m:
        (deny if m.group(1) else allow).update(expand(m.group(2).split()))
allowed = allow - deny
used = set()
for line in open(trace):
    m = re.match(r"\d+ +([a-z0-9_]+)\(", line)
    if m:
        used.add(m.group(1))
if len(used) < 20:
    sys.exit("only %d calls traced: the trace is not real" % len(used))
bad = sorted(used - allowed)
print("%s: %d distinct system calls, %d allowed by the unit" % (unit.split("/")[-1], len(used), len(allowed)))
if bad:
    sys.exit("outside SystemCallFilter: " + " ".join(bad))
EOF
}
free_port() {
	$py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
keys=$tmp/keys
"$agg" keygen "$keys" >/dev/null
url=tcp://127.0.0.1:$(free_port)
http=127.0.0.1:$(free_port)
# The aggregator reads its keys the way its unit hands them over: systemd credentials,
# files 0400 in a directory 0500.
creds=$tmp/credentials
mkdir "$creds"
for f in fleet.key signing.key signing.pub; do
	install -m 0400 "$keys/$f" "$creds/$f"
done
chmod 0500 "$creds"
[ "$(sed -n 's/^LoadCredential=\([^:]*\):.*/\1/p' "$units/prescient-aggregator.service" | sort)" = \
	"$(ls "$keys" | sort)" ] || fail "the aggregator unit's credentials are not the files keygen writes"
# LeakSanitizer cannot run under ptrace: in a sanitizer build, traced runs skip the leak
# check (the other e2e tests run the same daemons untraced, with it).
notrace_lsan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
ASAN_OPTIONS=$notrace_lsan strace -f -qq -o "$tmp/agg.strace" "$agg" --listen "$url" \
	--db "$tmp/store.db" --keys "$creds" --http "$http" --model-interval 1s \
	--maintenance-interval 1s >"$tmp/agg.log" 2>&1 &
strace_pid=$!
pids+=("$strace_pid")
for _ in $(seq 100); do
	curl -fsS "http://$http/healthz" >/dev/null 2>&1 && break
	kill -0 "$strace_pid" 2>/dev/null || fail "aggregator exited at start: $(tail -5 "$tmp/agg.log")"
	sleep 0.1
done
agg_pid=$(awk 'NR == 1 { print $1 }' "$tmp/agg.strace")
[ -n "$agg_pid" ] && kill -0 "$agg_pid" || fail "cannot find the traced aggregator"
"$send" --connect "$url" --keys "$keys" --host deploy-test --count 20 --timeout-ms 5000 \
	>"$tmp/acks" 2>&1 || fail "reports not acknowledged: $(tail -3 "$tmp/acks")"
curl -fsS "http://$http/metrics" >"$tmp/metrics" || fail "no /metrics"

# --- the agent, as root with BTF: traced, with real socket traffic to the aggregator ---
agent_ok=
if [ "$(id -u)" = 0 ] && [ -r /sys/kernel/btf/vmlinux ]; then
	ASAN_OPTIONS=$notrace_lsan strace -f -qq -o "$tmp/agent.strace" "$agent" \
		--aggregator "$url" --keys "$keys" --spool "$tmp/spool" --window 1 --duration 4 \
		--print >"$tmp/agent.out" 2>"$tmp/agent.err" &
	agent_strace=$!
	pids+=("$agent_strace")
	for _ in $(seq 20); do
		curl -fsS "http://$http/metrics" >/dev/null || true
		sleep 0.2
	done
	wait "$agent_strace" || fail "traced agent failed: $(tail -5 "$tmp/agent.err")"
	grep -q 'reports sent' "$tmp/agent.err" || fail "agent summary missing: $(tail -3 "$tmp/agent.err")"
	check_syscalls agent "$tmp/agent.strace" || fail "agent system calls"
	agent_ok=1
else
	echo "agent system calls and capabilities: skipped (needs root and BTF)"
fi
sleep 1.5 # a modeling cycle and a maintenance pass run under the trace
kill -TERM "$agg_pid"
wait "$strace_pid" || fail "aggregator did not shut down cleanly: $(tail -5 "$tmp/agg.log")"
check_syscalls aggregator "$tmp/agg.strace" || fail "aggregator system calls"

# --- the agent with exactly its unit's capabilities (those this sandbox can grant) ---
if [ -n "$agent_ok" ] && command -v setpriv >/dev/null && command -v capsh >/dev/null; then
	own=$(sed -n 's/^CapBnd:\t//p' /proc/self/status)
	caps=
	for c in $agent_caps; do
		name=$(echo "${c#CAP_}" | tr 'A-Z' 'a-z')
		if capsh --decode="$own" | grep -q "cap_$name\b"; then
			caps="$caps,+$name"
		else
			echo "capabilities: $c cannot be granted here (not in this sandbox's bounding set)"
		fi
	done
	# A process of another user holding sockets from before the agent starts.
	setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
c = socket.create_connection(s.getsockname()); a = s.accept(); time.sleep(30)' &
	pids+=("$!")
	sleep 0.5
	seeded() { # capability list: sockets the agent found at start
		setpriv --bounding-set "-all$1" -- "$agent" --print --duration 1 --window 1 \
			2>&1 >/dev/null | sed -n 's/.*tracking \([0-9]*\) sockets that existed.*/\1/p'
	}
	with=$(seeded "$caps")
	without=$(seeded "$(echo "$caps" | sed 's/,+sys_ptrace//; s/,+dac_read_search//')")
	[ -n "$with" ] || fail "the agent does not run with its unit's capabilities ($caps)"
	echo "capabilities: with the unit's set the agent found $with existing sockets, without" \
		"CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH $without"
	[ "${without:-0}" -lt "$with" ] || fail "CAP_SYS_PTRACE/CAP_DAC_READ_SEARCH made no difference"
	out=$(setpriv --bounding-set "-all$(echo "$caps" | sed 's/,+sys_admin//')" -- "$agent" \
		--print --duration 1 2>&1 >/dev/null || true)
	[[ "$out" == *CAP_SYS_ADMIN* ]] || fail "agent without CAP_SYS_ADMIN: '$out'"
fi

# --- Kubernetes manifests ---
$py - "$src/deploy/k8s" "$agent_caps" "$src/deploy/config" <<'EOF' || fail "Kubernetes manifests"
import re, sys, yaml
d, unit_caps, confdir = sys.argv[1], sys.argv[2].split(), sys.argv[3]
def load(f):
    docs = [x for x in yaml.safe_load_all(open(f"{d}/{f}")) if x]
    return {(x["kind"], x["metadata"]["name"]): x for x in docs}
def keys_of(text):
    return [m.group(1) for m in re.finditer(r"^#? ?([a-z][a-z0-9-]*) =", text, re.M)]
def check_volumes(pod):
    vols = {v["name"] for v in pod["volumes"]}
    for c in pod.get("initContainers", []) + pod["containers"]:
        for m in c.get("volumeMounts", []):
            assert m["name"] in vols, f"mount of undefined volume {m['name']}"
def fail(msg):
    sys.exit(msg)
a, g = load("agent-daemonset.yaml"), load("aggregator.yaml")
ds = a[("DaemonSet", "prescient-agent")]
pod = ds["spec"]["template"]["spec"]
assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
assert pod["hostPID"] is True, "agent needs hostPID"
c = pod["containers"][0]
sc = c["securityContext"]
assert sc.get("privileged") is False, "agent must not be privileged"
assert sc["capabilities"]["drop"] == ["ALL"]
k8s_caps = sorted("CAP_" + x for x in sc["capabilities"]["add"])
assert k8s_caps == sorted(unit_caps), f"DaemonSet caps {k8s_caps} != systemd unit {unit_caps}"
mounts = {m["mountPath"] for m in c["volumeMounts"]}
for p in ["/sys/fs/cgroup", "/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/bpf", "/var/lib/prescient"]:
    assert p in mounts, f"agent lacks mount {p}"
check_volumes(pod)
agent_keys = set(keys_of(open(f"{confdir}/agent.conf").read()))
cm = a[("ConfigMap", "prescient-agent")]["data"]["agent.conf"]
for k in keys_of(cm):
    assert k in agent_keys, f"agent ConfigMap key {k} is not an agent option"
secret = g[("Secret", "prescient-keys")]
assert set(secret["stringData"]) == {"fleet.key", "signing.key", "signing.pub"}
keyvol = [v for v in pod["volumes"] if v.get("secret")][0]["secret"]
assert keyvol["secretName"] == "prescient-keys"
assert {i["key"] for i in keyvol["items"]} == {"fleet.key", "signing.pub"}, "agents never get signing.key"

dep = g[("Deployment", "prescient-aggregator")]
assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
pod = dep["spec"]["template"]["spec"]
labels = dep["spec"]["template"]["metadata"]["labels"]
assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
check_volumes(pod)
c = pod["containers"][0]
assert c["securityContext"]["capabilities"]["drop"] == ["ALL"] and "add" not in c["securityContext"]["capabilities"]
assert pod["securityContext"]["runAsNonRoot"] is True
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
svc = g[("Service", "prescient-aggregator")]
assert svc["spec"]["selector"].items() <= labels.items(), "Service selects no aggregator pod"
for p in svc["spec"]["ports"]:
    assert p["targetPort"] in ports, f"Service targets unknown port {p['targetPort']}"
pvc = [v for v in pod["volumes"] if v.get("persistentVolumeClaim")][0]
assert (("PersistentVolumeClaim", pvc["persistentVolumeClaim"]["claimName"])) in g
cm = g[("ConfigMap", "prescient-aggregator")]["data"]["aggregator.conf"]
agg_keys = set(keys_of(open(f"{confdir}/aggregator.conf").read()))
for k in keys_of(cm):
    assert k in agg_keys, f"aggregator ConfigMap key {k} is not an aggregator option"
listen = re.search(r"^listen = tcp://[^:]+:(\d+)", cm, re.M).group(1)
httpp = re.search(r"^http = [^:]+:(\d+)", cm, re.M).group(1)
assert int(listen) == ports["link"] and int(httpp) == ports["http"], "config ports != container ports"
url = re.search(r"^aggregator = tcp://([^.:]+)\.([^.:]+)\.svc:(\d+)", a[("ConfigMap", "prescient-agent")]["data"]["agent.conf"], re.M)
assert url and url.group(1) == svc["metadata"]["name"] and url.group(2) == svc["metadata"]["namespace"], "agent's aggregator URL is not the Service"
assert int(url.group(3)) == [p["port"] for p in svc["spec"]["ports"] if p["name"] == "link"][0]
print("kubernetes: %d + %d objects consistent" % (len(a), len(g)))
EOF

# --- Grafana: valid JSON, data source as a variable, only metrics that exist ---
$py - "$src/deploy/grafana/prescient.json" "$tmp/metrics" <<'EOF' || fail "Grafana dashboard"
import json, re, sys
dash = json.load(open(sys.argv[1]))
exported = set(re.findall(r"^# TYPE (prescient_[a-z0-9_]+) ", open(sys.argv[2]).read(), re.M))
assert len(exported) >= 10, "too few metrics exported: %s" % exported
var = [v for v in dash["templating"]["list"] if v["type"] == "datasource"]
assert var and var[0]["query"] == "prometheus"
ids, used = set(), set()
for p in dash["panels"]:
    assert p["id"] not in ids, "duplicate panel id %d" % p["id"]
    ids.add(p["id"])
    if p["type"] == "row":
        continue
    assert p["datasource"]["uid"] == "${" + var[0]["name"] + "}", p["title"]
    for t in p["targets"]:
        assert t["datasource"]["uid"] == "${" + var[0]["name"] + "}", p["title"]
        used |= set(re.findall(r"prescient_[a-z0-9_]+", t["expr"]))
missing = used - exported
assert not missing, "dashboard reads metrics the aggregator does not export: %s" % sorted(missing)
unshown = exported - used
print("grafana: %d panels over %d metrics%s" % (len(ids), len(used),
      ("; not shown yet: " + " ".join(sorted(unshown))) if unshown else ""))
EOF

# --- every option documented in the example configs, and only real options there ---
help_opts() {
	"$1" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sed 's/^--//' | sort -u |
		grep -vxE 'help|version|config'
}
conf_keys() {
	grep -oE '^#? ?[a-z][a-z0-9-]* =' "$1" | sed 's/^# \?//; s/ =$//' | sort -u
}
for prog in agent aggregator; do
	bin=$agent
	[ $prog = aggregator ] && bin=$agg
	help_opts "$bin" >"$tmp/$prog.opts"
	conf_keys "$src/deploy/config/$prog.conf" >"$tmp/$prog.keys"
	missing=$(comm -23 "$tmp/$prog.opts" "$tmp/$prog.keys" | tr '\n' ' ')
	[ -z "$missing" ] || fail "deploy/config/$prog.conf does not document: $missing"
	extra=$(comm -13 "$tmp/$prog.opts" "$tmp/$prog.keys" | tr '\n' ' ')
	[ -z "$extra" ] || fail "deploy/config/$prog.conf: not options of prescient-$prog: $extra"
	echo "config: $prog.conf documents all $(wc -l <"$tmp/$prog.opts") options of prescient-$prog"
done
echo "deploy files: all checks passed"
