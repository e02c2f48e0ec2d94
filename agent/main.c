// SPDX-License-Identifier: MIT
/* prescient-agent: command line only; the daemon is agent.c. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cgroupfs.h"
#include "cleanup.h"
#include "config.h"
#include "events.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: prescient-agent --print [OPTIONS]\n"
		"       prescient-agent --aggregator URL --keys DIR [--spool DIR] [OPTIONS]\n"
		"\n"
		"Per-host agent of prescient: watches every workload (cgroup) on this host with eBPF\n"
		"(socket syscalls only: HTTP/1.x, PostgreSQL, MySQL, Redis and DNS are parsed) and\n"
		"reports, every window, its resource use and its application endpoints.\n"
		"Needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN) and a kernel with BTF.\n"
		"It only observes unless told otherwise: with --aggregator and --manage PREFIX it\n"
		"applies the cgroup limits the aggregator sends (signed adjustments) to cgroups\n"
		"under PREFIX, within its own guards; without --manage it changes no cgroup.\n"
		"\n"
		"Options:\n"
		"  --print              write one JSON object per workload per window to stdout\n"
		"                       (JSON Lines; the format is in README.md)\n"
		"  --config FILE        read options from FILE first (key = value lines, a key is a\n"
		"                       long option without --; deploy/config/agent.conf); options on\n"
		"                       the command line win\n"
		"  --aggregator URL     send every window's report to the aggregator at URL\n"
		"                       (nanomsg, e.g. tcp://10.0.0.5:7070); the agent connects out\n"
		"  --keys DIR           fleet.key and signing.pub (from prescient-aggregator keygen)\n"
		"  --spool DIR          reports wait here until acknowledged, across restarts\n"
		"                       (default /var/lib/prescient/spool)\n"
		"  --spool-max-mb N     spool bound; the oldest reports are dropped past it (default 256)\n"
		"  --manage PREFIX      apply adjustments to cgroups under PREFIX (a path in the\n"
		"                       memory hierarchy, e.g. /demo: /demo and /demo/x, not /demo2;\n"
		"                       / = all); repeatable. Default: none, every adjustment is\n"
		"                       refused (\"not managed\") and reported to the aggregator\n"
		"  --dry-run            log and report what would be written, write nothing\n"
		"  --margin-mb N        memory limits stay at least max(N MiB, 10%%) above current\n"
		"                       usage (default 64)\n"
		"  --max-step F         a limit changes at most F x up and 1/F x down per step\n"
		"                       (default 2, 1.1..100)\n"
		"  --cooldown S         a limit changed less than S seconds ago is not lowered;\n"
		"                       raises are never delayed (default 30)\n"
		"  --window S           window length in seconds (default 10, 0.1..3600)\n"
		"  --duration S         stop after S seconds (default: run until SIGINT/SIGTERM)\n"
		"  --head-bytes N       bytes captured from the start of each socket message\n"
		"                       (default 256, 16..%d)\n"
		"  --ringbuf-mb N       kernel ring buffer size in MiB, a power of two (default 8)\n"
		"  --sample N           for extreme rates: capture one connection in N, chosen at\n"
		"                       connect/accept (default 1: every connection); reports say\n"
		"                       \"sample_every\": N and their socket figures cover 1/N\n"
		"  --host-id ID         host name in reports (default: /etc/machine-id, else hostname)\n"
		"  --cgroup-root DIR    cgroup filesystem root (default /sys/fs/cgroup)\n"
		"  --proc-root DIR      proc filesystem (default /proc)\n"
		"  --idle-windows N     forget a workload after N windows without activity (default 6)\n"
		"  --record FILE        also write every kernel event to FILE (a recording)\n"
		"  --replay FILE        no BPF, no root: run the parsers and windows over a recording\n"
		"                       made with --record (windows follow its timestamps)\n"
		"  --log-level L        err, warn, info or debug (default info)\n"
		"  --log-json           log as JSON lines on stderr\n"
		"  -h, --help           show this help\n"
		"  --version            show the version\n"
		"\n"
		"On SIGINT or SIGTERM the agent reports a final partial window, prints a summary of\n"
		"events seen and dropped on stderr, and exits 0.\n"
		"\n"
		"Enforcement: every cgroup file written is logged (AGENT-ENFORCE-WRITE: old value,\n"
		"new value, value in effect, the adjustment's reason); every adjustment's outcome\n"
		"(applied, dry_run, refused_guard, expired, bad_signature, replayed, wrong_host,\n"
		"failed) goes back to the aggregator with the next report and is counted in the exit\n"
		"summary. The values before the first change and the last adjustment id are kept in\n"
		"SPOOL/enforce.state, so a restarted agent refuses replays. Egress rate limits are\n"
		"not available yet: adjustments that ask only for one are refused.\n"
		"Exit status: 0 success, 1 runtime failure (e.g. BPF cannot be loaded), 2 usage error.\n",
		PSC_HEAD_MAX);
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || isnan(v) || v < lo || v > hi) {
		fprintf(stderr, "prescient-agent: %s: '%s' is not a number in %g..%g\n", opt, s, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static void default_host_id(char *out, size_t size)
{
	FILE *f = fopen("/etc/machine-id", "re");

	out[0] = '\0';
	if (f) {
		if (fgets(out, (int)size, f))
			out[strcspn(out, "\r\n")] = '\0';
		fclose(f);
	}
	if (!out[0] && gethostname(out, size) != 0)
		snprintf(out, size, "unknown");
	out[size - 1] = '\0';
}

static void config_freep(struct psc_config **c)
{
	psc_config_free(c);
}

int main(int argc, char **argv)
{
	enum {
		OPT_PRINT = 256,
		OPT_WINDOW,
		OPT_DURATION,
		OPT_HEAD,
		OPT_RINGBUF,
		OPT_HOST,
		OPT_CGROOT,
		OPT_PROCROOT,
		OPT_IDLE,
		OPT_LOGLEVEL,
		OPT_LOGJSON,
		OPT_VERSION,
		OPT_RECORD,
		OPT_REPLAY,
		OPT_SAMPLE,
		OPT_AGGREGATOR,
		OPT_KEYS,
		OPT_SPOOL,
		OPT_SPOOL_MAX,
		OPT_MANAGE,
		OPT_DRY_RUN,
		OPT_MARGIN,
		OPT_MAX_STEP,
		OPT_COOLDOWN,
		OPT_CONFIG,
	};
	static const struct option longopts[] = {
		{ "print", no_argument, NULL, OPT_PRINT },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "head-bytes", required_argument, NULL, OPT_HEAD },
		{ "ringbuf-mb", required_argument, NULL, OPT_RINGBUF },
		{ "host-id", required_argument, NULL, OPT_HOST },
		{ "cgroup-root", required_argument, NULL, OPT_CGROOT },
		{ "proc-root", required_argument, NULL, OPT_PROCROOT },
		{ "idle-windows", required_argument, NULL, OPT_IDLE },
		{ "log-level", required_argument, NULL, OPT_LOGLEVEL },
		{ "log-json", no_argument, NULL, OPT_LOGJSON },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "record", required_argument, NULL, OPT_RECORD },
		{ "replay", required_argument, NULL, OPT_REPLAY },
		{ "sample", required_argument, NULL, OPT_SAMPLE },
		{ "aggregator", required_argument, NULL, OPT_AGGREGATOR },
		{ "keys", required_argument, NULL, OPT_KEYS },
		{ "spool", required_argument, NULL, OPT_SPOOL },
		{ "spool-max-mb", required_argument, NULL, OPT_SPOOL_MAX },
		{ "manage", required_argument, NULL, OPT_MANAGE },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "margin-mb", required_argument, NULL, OPT_MARGIN },
		{ "max-step", required_argument, NULL, OPT_MAX_STEP },
		{ "cooldown", required_argument, NULL, OPT_COOLDOWN },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{},
	};
	char host[256];
	struct psc_agent_opts o = {
		.window_s = 10,
		.head_len = 256,
		.ringbuf_bytes = 8u << 20,
		.cgroup_root = PSC_CGROUPFS_DEFAULT_ROOT,
		.proc_root = "/proc",
		.idle_windows = 6,
		.sample_every = 1,
		.spool_dir = "/var/lib/prescient/spool",
		.spool_max_bytes = 256ull << 20,
		.cooldown_s = -1,
	};
	/* Lives until exit: optarg points into it. */
	_cleanup_(config_freep) struct psc_config *cfg = NULL;
	char err[512];

	if (psc_config_from_args(&cfg, &argc, &argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "prescient-agent: %s\n", err);
		return 2;
	}
	_cleanup_free_ const char **manage = calloc((size_t)argc, sizeof(*manage));
	enum psc_log_level level = PSC_LOG_INFO;
	bool log_json = false;
	double v;
	int c;

	if (!manage) {
		fprintf(stderr, "prescient-agent: out of memory\n");
		return 1;
	}
	o.manage = manage;
	default_host_id(host, sizeof(host));
	o.host_id = host;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PRINT:
			o.print = true;
			break;
		case OPT_WINDOW:
			if (parse_double("--window", optarg, 0.1, 3600, &o.window_s) < 0)
				return 2;
			break;
		case OPT_DURATION:
			if (parse_double("--duration", optarg, 0, 1e9, &o.duration_s) < 0)
				return 2;
			break;
		case OPT_HEAD:
			if (parse_double("--head-bytes", optarg, 16, PSC_HEAD_MAX, &v) < 0)
				return 2;
			o.head_len = (uint32_t)v;
			break;
		case OPT_RINGBUF:
			if (parse_double("--ringbuf-mb", optarg, 1, 1024, &v) < 0)
				return 2;
			if (((unsigned)v & ((unsigned)v - 1)) != 0 || v != (unsigned)v) {
				fprintf(stderr, "prescient-agent: --ringbuf-mb: '%s' is not a power of two\n",
					optarg);
				return 2;
			}
			o.ringbuf_bytes = (uint32_t)v << 20;
			break;
		case OPT_HOST:
			if (!optarg[0]) {
				fprintf(stderr, "prescient-agent: --host-id must not be empty\n");
				return 2;
			}
			o.host_id = optarg;
			break;
		case OPT_CGROOT:
			o.cgroup_root = optarg;
			break;
		case OPT_PROCROOT:
			o.proc_root = optarg;
			break;
		case OPT_IDLE:
			if (parse_double("--idle-windows", optarg, 1, 100000, &v) < 0)
				return 2;
			o.idle_windows = (unsigned)v;
			break;
		case OPT_LOGLEVEL:
			if (psc_log_level_from_string(optarg, &level) < 0) {
				fprintf(stderr, "prescient-agent: --log-level: '%s' is not one of err, warn, info, debug\n",
					optarg);
				return 2;
			}
			break;
		case OPT_LOGJSON:
			log_json = true;
			break;
		case OPT_AGGREGATOR:
			o.aggregator_url = optarg;
			break;
		case OPT_KEYS:
			o.keys_dir = optarg;
			break;
		case OPT_SPOOL:
			o.spool_dir = optarg;
			break;
		case OPT_SPOOL_MAX:
			if (parse_double("--spool-max-mb", optarg, 1, 1 << 20, &v) < 0)
				return 2;
			o.spool_max_bytes = (uint64_t)v << 20;
			break;
		case OPT_MANAGE:
			if (optarg[0] != '/' || psc_cgroupfs_check_path(optarg) < 0) {
				fprintf(stderr, "prescient-agent: --manage: '%s' is not an absolute cgroup "
						"path (e.g. /demo)\n", optarg);
				return 2;
			}
			manage[o.n_manage++] = optarg;
			break;
		case OPT_DRY_RUN:
			o.dry_run = true;
			break;
		case OPT_MARGIN:
			if (parse_double("--margin-mb", optarg, 1, 1 << 20, &v) < 0)
				return 2;
			o.margin_min_bytes = (uint64_t)v << 20;
			break;
		case OPT_MAX_STEP:
			if (parse_double("--max-step", optarg, 1.1, 100, &o.step_factor) < 0)
				return 2;
			break;
		case OPT_COOLDOWN:
			if (parse_double("--cooldown", optarg, 0, 86400, &o.cooldown_s) < 0)
				return 2;
			break;
		case OPT_SAMPLE:
			if (parse_double("--sample", optarg, 1, 1000000, &v) < 0)
				return 2;
			o.sample_every = (uint32_t)v;
			break;
		case OPT_RECORD:
			o.record_path = optarg;
			break;
		case OPT_REPLAY:
			o.replay_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("prescient-agent %s\n", PSC_VERSION);
			return 0;
		case OPT_CONFIG:
			break; /* read above */
		default:
			if (psc_config_origin(cfg, optind - 1))
				fprintf(stderr, "prescient-agent: (in %s)\n",
					psc_config_origin(cfg, optind - 1));
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "prescient-agent: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (o.record_path && o.replay_path) {
		fprintf(stderr, "prescient-agent: --record and --replay exclude each other\n");
		return 2;
	}
	if (o.aggregator_url && !o.keys_dir) {
		fprintf(stderr, "prescient-agent: --aggregator needs --keys DIR (fleet.key, signing.pub)\n");
		return 2;
	}
	if ((o.n_manage || o.dry_run) && !o.aggregator_url) {
		fprintf(stderr, "prescient-agent: --manage and --dry-run need --aggregator URL "
				"(adjustments come from the aggregator)\n");
		return 2;
	}
	if (o.aggregator_url && o.replay_path) {
		fprintf(stderr, "prescient-agent: --replay does not send to an aggregator\n");
		return 2;
	}
	if (!o.print && !o.aggregator_url) {
		fprintf(stderr, "prescient-agent: nothing to do: use --print to write reports to stdout "
				"or --aggregator URL to send them (see --help)\n");
		return 2;
	}
	psc_log_setup(level, log_json);
	return psc_agent_run(&o) < 0 ? 1 : 0;
}
