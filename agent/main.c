// SPDX-License-Identifier: MIT
/* prescient-agent: command line only; the daemon is agent.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
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
#include "guard.h"
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
		"On SIGHUP it re-reads --config FILE (the command line still wins) and applies\n"
		"--log-level, --log-json, --manage, --dry-run, --margin-mb, --max-step and --cooldown\n"
		"without losing the window in progress or the spool; other changed options are\n"
		"logged as needing a restart (AGENT-RELOAD-RESTART), and a file that does not\n"
		"parse or is writable by others is refused and the configuration in use kept.\n"
		"Once its programs are attached the agent drops every capability it does not\n"
		"need (logged as AGENT-CAPS) and sets no_new_privs.\n"
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

/* Messages about options: on stderr at start-up; during a SIGHUP reload they are
 * collected and logged with the reason the new file was refused. */
static char *reload_err;
static size_t reload_err_size;

__attribute__((format(printf, 1, 2))) static void complain(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (reload_err) {
		if (!reload_err[0])
			vsnprintf(reload_err, reload_err_size, fmt, ap);
	} else {
		fprintf(stderr, "prescient-agent: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || isnan(v) || v < lo || v > hi) {
		complain("%s: '%s' is not a number in %g..%g", opt, s, lo, hi);
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

/* One parse of a command line (with its config file's options in front). */
struct cli {
	struct psc_agent_opts o;
	struct psc_config *cfg; /* owns the strings optarg pointed into */
	const char **manage;
	char host[256];
	enum psc_log_level level;
	bool log_json;
};

static void cli_free(struct cli **c)
{
	if (!*c)
		return;
	psc_config_free(&(*c)->cfg);
	free((*c)->manage);
	free(*c);
	*c = NULL;
}

enum { PARSE_RUN = -1 }; /* else: the exit status */

/* Parses @argc/@argv into @c (zeroed by the caller); c->cfg and c->manage must be set.
 * Returns PARSE_RUN, or the exit status (0 after --help/--version, 2 for a usage error,
 * said through complain()). */
static int parse(struct cli *c, int argc, char **argv)
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
	struct psc_agent_opts *o = &c->o;
	double v;
	int ch;

	*o = (struct psc_agent_opts){
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
		.manage = c->manage,
	};
	c->level = PSC_LOG_INFO;
	c->log_json = false;
	default_host_id(c->host, sizeof(c->host));
	o->host_id = c->host;
	optind = 0; /* glibc: a full re-initialisation, for a reload's second parse */
	opterr = !reload_err;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_PRINT:
			o->print = true;
			break;
		case OPT_WINDOW:
			if (parse_double("--window", optarg, 0.1, 3600, &o->window_s) < 0)
				return 2;
			break;
		case OPT_DURATION:
			if (parse_double("--duration", optarg, 0, 1e9, &o->duration_s) < 0)
				return 2;
			break;
		case OPT_HEAD:
			if (parse_double("--head-bytes", optarg, 16, PSC_HEAD_MAX, &v) < 0)
				return 2;
			o->head_len = (uint32_t)v;
			break;
		case OPT_RINGBUF:
			if (parse_double("--ringbuf-mb", optarg, 1, 1024, &v) < 0)
				return 2;
			if (((unsigned)v & ((unsigned)v - 1)) != 0 || v != (unsigned)v) {
				complain("--ringbuf-mb: '%s' is not a power of two", optarg);
				return 2;
			}
			o->ringbuf_bytes = (uint32_t)v << 20;
			break;
		case OPT_HOST:
			if (!optarg[0]) {
				complain("--host-id must not be empty");
				return 2;
			}
			o->host_id = optarg;
			break;
		case OPT_CGROOT:
			o->cgroup_root = optarg;
			break;
		case OPT_PROCROOT:
			o->proc_root = optarg;
			break;
		case OPT_IDLE:
			if (parse_double("--idle-windows", optarg, 1, 100000, &v) < 0)
				return 2;
			o->idle_windows = (unsigned)v;
			break;
		case OPT_LOGLEVEL:
			if (psc_log_level_from_string(optarg, &c->level) < 0) {
				complain("--log-level: '%s' is not one of err, warn, info, debug",
					 optarg);
				return 2;
			}
			break;
		case OPT_LOGJSON:
			c->log_json = true;
			break;
		case OPT_AGGREGATOR:
			o->aggregator_url = optarg;
			break;
		case OPT_KEYS:
			o->keys_dir = optarg;
			break;
		case OPT_SPOOL:
			o->spool_dir = optarg;
			break;
		case OPT_SPOOL_MAX:
			if (parse_double("--spool-max-mb", optarg, 1, 1 << 20, &v) < 0)
				return 2;
			o->spool_max_bytes = (uint64_t)v << 20;
			break;
		case OPT_MANAGE:
			if (optarg[0] != '/' || psc_cgroupfs_check_path(optarg) < 0) {
				complain("--manage: '%s' is not an absolute cgroup path (e.g. /demo)",
					 optarg);
				return 2;
			}
			c->manage[o->n_manage++] = optarg;
			break;
		case OPT_DRY_RUN:
			o->dry_run = true;
			break;
		case OPT_MARGIN:
			if (parse_double("--margin-mb", optarg, 1, 1 << 20, &v) < 0)
				return 2;
			o->margin_min_bytes = (uint64_t)v << 20;
			break;
		case OPT_MAX_STEP:
			if (parse_double("--max-step", optarg, 1.1, 100, &o->step_factor) < 0)
				return 2;
			break;
		case OPT_COOLDOWN:
			if (parse_double("--cooldown", optarg, 0, 86400, &o->cooldown_s) < 0)
				return 2;
			break;
		case OPT_SAMPLE:
			if (parse_double("--sample", optarg, 1, 1000000, &v) < 0)
				return 2;
			o->sample_every = (uint32_t)v;
			break;
		case OPT_RECORD:
			o->record_path = optarg;
			break;
		case OPT_REPLAY:
			o->replay_path = optarg;
			break;
		case 'h':
			if (reload_err)
				break;
			usage(stdout);
			return 0;
		case OPT_VERSION:
			if (reload_err)
				break;
			printf("prescient-agent %s\n", PSC_VERSION);
			return 0;
		case OPT_CONFIG:
			break; /* read before */
		default:
			if (reload_err) {
				complain("unknown option or bad value '%s'%s%s", argv[optind - 1],
					 psc_config_origin(c->cfg, optind - 1) ? " in " : "",
					 psc_config_origin(c->cfg, optind - 1) ?: "");
				return 2;
			}
			if (psc_config_origin(c->cfg, optind - 1))
				fprintf(stderr, "prescient-agent: (in %s)\n",
					psc_config_origin(c->cfg, optind - 1));
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		complain("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (o->record_path && o->replay_path) {
		complain("--record and --replay exclude each other");
		return 2;
	}
	if (o->aggregator_url && !o->keys_dir) {
		complain("--aggregator needs --keys DIR (fleet.key, signing.pub)");
		return 2;
	}
	if ((o->n_manage || o->dry_run) && !o->aggregator_url) {
		complain("--manage and --dry-run need --aggregator URL (adjustments come from the "
			 "aggregator)");
		return 2;
	}
	if (o->aggregator_url && o->replay_path) {
		complain("--replay does not send to an aggregator");
		return 2;
	}
	if (!o->print && !o->aggregator_url) {
		complain("nothing to do: use --print to write reports to stdout or --aggregator "
			 "URL to send them (see --help)");
		return 2;
	}
	return PARSE_RUN;
}

/* ---- SIGHUP ---- */

struct reloader {
	const char *config_path;
	int argc;	     /* the command line as given (without the file's options) */
	char **argv;
	struct cli *first;   /* never freed before exit: the fixed options point into it */
	struct cli *current; /* what the agent uses */
	struct cli *previous;
};

static const char *on_off(bool b)
{
	return b ? "on" : "off";
}

static bool str_differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* Options that only take effect at start: a change is reported and the running value is
 * kept (@n points at the running options, @o at the new ones). */
static void keep_fixed(struct psc_agent_opts *o, const struct psc_agent_opts *n, char *msg,
		       size_t size)
{
	size_t len = 0;

#define FIXED(name, changed, field)                                                         \
	do {                                                                                \
		if (changed) {                                                              \
			len += (size_t)snprintf(msg + (len < size ? len : size),            \
						len < size ? size - len : 0, "%s%s",        \
						len ? ", " : "", name);                     \
		}                                                                           \
		o->field = n->field;                                                        \
	} while (0)
	FIXED("window", o->window_s != n->window_s, window_s);
	FIXED("duration", o->duration_s != n->duration_s, duration_s);
	FIXED("head-bytes", o->head_len != n->head_len, head_len);
	FIXED("ringbuf-mb", o->ringbuf_bytes != n->ringbuf_bytes, ringbuf_bytes);
	FIXED("cgroup-root", str_differ(o->cgroup_root, n->cgroup_root), cgroup_root);
	FIXED("proc-root", str_differ(o->proc_root, n->proc_root), proc_root);
	FIXED("host-id", str_differ(o->host_id, n->host_id), host_id);
	FIXED("print", o->print != n->print, print);
	FIXED("idle-windows", o->idle_windows != n->idle_windows, idle_windows);
	FIXED("sample", o->sample_every != n->sample_every, sample_every);
	FIXED("aggregator", str_differ(o->aggregator_url, n->aggregator_url), aggregator_url);
	FIXED("keys", str_differ(o->keys_dir, n->keys_dir), keys_dir);
	FIXED("spool", str_differ(o->spool_dir, n->spool_dir), spool_dir);
	FIXED("spool-max-mb", o->spool_max_bytes != n->spool_max_bytes, spool_max_bytes);
	FIXED("record", str_differ(o->record_path, n->record_path), record_path);
	FIXED("replay", str_differ(o->replay_path, n->replay_path), replay_path);
#undef FIXED
	/* An agent started without --manage dropped what writing cgroups needs and has no
	 * egress limiter: it cannot start managing. */
	if (!n->n_manage && o->n_manage) {
		len += (size_t)snprintf(msg + (len < size ? len : size), len < size ? size - len : 0,
					"%smanage (this agent was started without it)",
					len ? ", " : "");
		o->n_manage = 0;
		o->dry_run = n->dry_run;
	}
}

static const struct psc_agent_opts *reload(void *ctx)
{
	struct reloader *rl = ctx;
	char err[512] = "";
	struct cli *c = calloc(1, sizeof(*c));
	int argc = rl->argc, r;
	char **argv = rl->argv;

	if (!c) {
		psc_err("AGENT-RELOAD", "out of memory: configuration unchanged");
		return NULL;
	}
	r = psc_config_load(&c->cfg, rl->config_path, err, sizeof(err));
	bool loaded = r >= 0;
	if (r >= 0)
		r = psc_config_prepend(c->cfg, &argc, &argv);
	if (r >= 0) {
		c->manage = calloc((size_t)argc, sizeof(*c->manage));
		if (!c->manage)
			r = -ENOMEM;
	}
	if (r >= 0) {
		reload_err = err;
		reload_err_size = sizeof(err);
		r = parse(c, argc, argv) == PARSE_RUN ? 0 : -EINVAL;
		reload_err = NULL;
	}
	if (r < 0) {
		/* psc_config_load()'s messages name the file already. */
		psc_warn("AGENT-RELOAD", "%s%s%s; the configuration in use is kept",
			 loaded ? rl->config_path : "", loaded ? ": " : "",
			 err[0] ? err : strerror(-r));
		cli_free(&c);
		return NULL;
	}

	char fixed[512] = "", manage[512] = "";
	const struct psc_agent_opts *cur = &rl->current->o;
	keep_fixed(&c->o, cur, fixed, sizeof(fixed));
	c->o.reload = reload;
	c->o.reload_ctx = rl;
	if (fixed[0])
		psc_warn("AGENT-RELOAD-RESTART",
			 "%s: changed options that need a restart, kept as they are: %s",
			 rl->config_path, fixed);
	for (size_t i = 0, n = 0; i < c->o.n_manage; i++)
		n += (size_t)snprintf(manage + (n < sizeof(manage) ? n : sizeof(manage)),
				      n < sizeof(manage) ? sizeof(manage) - n : 0, "%s%s",
				      i ? "," : "", c->o.manage[i]);
	static const char *const levels[] = { "err", "warn", "info", "debug" };
	struct psc_guard_config g = psc_guard_config_default();
	psc_info("AGENT-RELOAD",
		 "%s reloaded: log-level %s, manage %s, dry-run %s, margin-mb %" PRIu64
		 ", max-step %g, cooldown %g s",
		 rl->config_path, (unsigned)c->level < 4 ? levels[c->level] : "?",
		 manage[0] ? manage : "(none)", on_off(c->o.dry_run),
		 (c->o.margin_min_bytes ? c->o.margin_min_bytes : g.margin_min_bytes) >> 20,
		 c->o.step_factor > 1 ? c->o.step_factor : g.step_up,
		 c->o.cooldown_s >= 0 ? c->o.cooldown_s : g.cooldown_s);
	psc_log_setup(c->level, c->log_json);
	/* The agent still uses the current options until this returns; the ones before
	 * are unused now. */
	if (rl->previous != rl->first)
		cli_free(&rl->previous);
	rl->previous = rl->current;
	rl->current = c;
	return &c->o;
}

int main(int argc, char **argv)
{
	struct cli first = { 0 };
	struct reloader rl = { .argc = argc, .argv = argv, .first = &first };
	char err[512];
	int r;

	if (psc_config_find_path(argc, argv, &rl.config_path, err, sizeof(err)) < 0 ||
	    psc_config_from_args(&first.cfg, &argc, &argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "prescient-agent: %s\n", err);
		return 2;
	}
	first.manage = calloc((size_t)argc, sizeof(*first.manage));
	if (!first.manage) {
		fprintf(stderr, "prescient-agent: out of memory\n");
		psc_config_free(&first.cfg);
		return 1;
	}
	r = parse(&first, argc, argv);
	if (r == PARSE_RUN) {
		psc_log_setup(first.level, first.log_json);
		rl.current = rl.previous = &first;
		if (rl.config_path) {
			first.o.reload = reload;
			first.o.reload_ctx = &rl;
		}
		r = psc_agent_run(&first.o) < 0 ? 1 : 0;
	}
	if (rl.previous != &first)
		cli_free(&rl.previous);
	if (rl.current != &first)
		cli_free(&rl.current);
	psc_config_free(&first.cfg);
	free(first.manage);
	return r;
}
