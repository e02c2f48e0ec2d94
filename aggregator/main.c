// SPDX-License-Identifier: MIT
/* prescient-aggregator: the central daemon (thin CLI over psc_aggregator_core). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator.h"
#include "cleanup.h"
#include "config.h"
#include "keys.h"
#include "log.h"

enum { EXIT_USAGE = 2 };

static void help(void)
{
	printf("Usage: prescient-aggregator --listen URL --db FILE --keys DIR [OPTIONS]\n"
	       "       prescient-aggregator keygen DIR\n"
	       "\n"
	       "Receives sealed reports from prescient agents (nanomsg REP), stores them in SQLite\n"
	       "and acknowledges each one after it is committed.\n"
	       "\n"
	       "  keygen DIR                 write DIR/fleet.key (0600), DIR/signing.key (0600) and\n"
	       "                             DIR/signing.pub (0644); refuses to overwrite keys.\n"
	       "                             Agents get fleet.key and signing.pub only.\n"
	       "\n"
	       "  --config FILE              read options from FILE first (key = value lines, the\n"
	       "                             long option names; the command line wins)\n"
	       "  --listen URL               nanomsg URL to bind, e.g. tcp://127.0.0.1:7070\n"
	       "  --db FILE                  SQLite store (created and migrated if needed)\n"
	       "  --keys DIR                 key directory (secret keys must be mode 0600)\n"
	       "  --http ADDR:PORT           serve GET /metrics, /healthz and the JSON API, e.g.\n"
	       "                             127.0.0.1:9470\n"
	       "  --api-token-file FILE      bearer token of the API's write endpoints (and of\n"
	       "                             reads off loopback); FILE must be mode 0600. Without\n"
	       "                             it the write endpoints answer 403\n"
	       "  --api-open-reads           API reads need no token on a non-loopback --http\n"
	       "  --max-frame SIZE           refuse larger frames (default 1M)\n"
	       "  --max-inflated SIZE        refuse frames inflating above (default 16M)\n"
	       "  --retention-raw DUR        keep raw windows (default 2d)\n"
	       "  --retention-5m DUR         keep the 5-minute tier (default 35d)\n"
	       "  --retention-1h DUR         keep the hourly tier (default 400d)\n"
	       "  --retention-reports DUR    keep the (host, seq) ledger; older reports are acked\n"
	       "                             as stale and not stored (default 2d)\n"
	       "  --synchronous full|normal  SQLite synchronous mode (default full: an ack survives\n"
	       "                             a power cut; normal: survives a kill -9 only)\n"
	       "  --connected-window DUR     prescient_agents_connected counts hosts heard within\n"
	       "                             (default 5m; a host's last report time is kept to\n"
	       "                             within 1m)\n"
	       "  --maintenance-interval DUR rollups and retention every DUR (default 10s)\n"
	       "  --model-interval DUR|off   live modeling cycle period (default 10s)\n"
	       "  --model-step DUR           modeling step: raw windows are binned into steps\n"
	       "                             of DUR (default 5m; at least the window length)\n"
	       "  --model-season DUR|auto    seasonal period of the models: detected daily or\n"
	       "                             weekly cycles (auto, default) or a fixed DUR\n"
	       "\n"
	       "Allocation (adjustments are issued only for cgroups that agents report as managed,\n"
	       "i.e. under one of their manage prefixes):\n"
	       "  --allocate on|off          size managed workloads and send them signed limit\n"
	       "                             changes (default on; needs live modeling)\n"
	       "  --confidence C             sizing confidence in (0.5, 1) (default 0.99)\n"
	       "  --lead DUR                 limits cover the predicted peak this far ahead\n"
	       "                             (default 5m)\n"
	       "  --adjustment-expiry DUR    an adjustment not applied by then is void\n"
	       "                             (default 3 model steps, at least 30s)\n"
	       "  --egress-on-surge off|data|all\n"
	       "                             rate-limit a managed workload's network egress (usual\n"
	       "                             rate x2, for 10 min) on a data-transfer surge (data,\n"
	       "                             the default), also on a request surge (all), or never\n"
	       "  --provision-hook CMD       run CMD (sh -c) with a JSON description of a host's\n"
	       "                             predicted shortfall on stdin (at most every 30 min)\n"
	       "  --price-cpu-hour P         price of one core-hour, for costs in explanations\n"
	       "  --price-gb-hour P          price of one GB-hour of memory\n"
	       "\n"
	       "  --log-level LEVEL          err, warn, info (default) or debug\n"
	       "  --log-json                 log JSON lines\n"
	       "  --help, --version\n"
	       "\n"
	       "SIZE: bytes with an optional K, M or G suffix (powers of 1024).\n"
	       "DUR: seconds with an optional s, m, h or d suffix.\n"
	       "SIGHUP re-reads the --config file: the log level and format change at once, other\n"
	       "options at the next restart; a file that cannot be read keeps the configuration.\n"
	       "Exit status: 0 clean shutdown, 1 runtime error, 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "prescient-aggregator: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'prescient-aggregator --help'.\n");
	return EXIT_USAGE;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'G':
		v <<= 10;
		/* fallthrough */
	case 'M':
		v <<= 10;
		/* fallthrough */
	case 'K':
		v <<= 10;
		end++;
		break;
	}
	if (*end || v == 0 || v > (1ull << 32))
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

static int parse_duration(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v <= 0)
		return -EINVAL;
	switch (*end) {
	case 'd':
		v *= 24;
		/* fallthrough */
	case 'h':
		v *= 60;
		/* fallthrough */
	case 'm':
		v *= 60;
		/* fallthrough */
	case 's':
		end++;
		break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static void config_freep(struct psc_config **c)
{
	psc_config_free(c);
}

/* SIGHUP: the configuration file is read again. The log level and --log-json change at
 * once (unless the command line set them: it wins, as at start); every other option
 * needs a restart, and a file that cannot be read or parsed leaves everything as it is. */
struct reload_ctx {
	const char *path;     /* the --config file */
	bool cli_level, cli_json; /* given on the command line */
	enum psc_log_level level;
	bool json;
};

static void reload_config(void *p)
{
	struct reload_ctx *r = p;
	struct psc_config *cfg = NULL;
	enum psc_log_level level = PSC_LOG_INFO;
	bool json = false;
	char err[512];

	if (psc_config_load(&cfg, r->path, err, sizeof(err)) < 0) {
		psc_warn("AGG-RELOAD", "SIGHUP: cannot reload %s (%s): the configuration in use is kept",
			 r->path, err);
		return;
	}
	for (size_t i = 0; i < psc_config_count(cfg); i++) {
		const char *a = psc_config_arg(cfg, i);
		if (!strncmp(a, "--log-level=", 12) && psc_log_level_from_string(a + 12, &level) < 0) {
			psc_warn("AGG-RELOAD", "SIGHUP: %s: bad log-level '%s': the configuration in"
					       " use is kept", r->path, a + 12);
			psc_config_free(&cfg);
			return;
		}
		if (!strcmp(a, "--log-json"))
			json = true;
	}
	psc_config_free(&cfg);
	if (r->cli_level)
		level = r->level;
	if (r->cli_json)
		json = r->json;
	psc_log_setup(level, json);
	psc_info("AGG-RELOAD", "SIGHUP: reloaded %s: log level and format applied; other options"
			       " take effect at the next restart", r->path);
}

static int parse_number(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || !isfinite(*out) ? -EINVAL : 0;
}

static int keygen(int argc, char **argv)
{
	char err[512] = "";
	int r;

	if (argc != 2)
		return usage_error("%s", "usage: prescient-aggregator keygen DIR");
	r = psc_keys_generate(argv[1], err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "prescient-aggregator: keygen: %s\n", err);
		return 1;
	}
	printf("wrote %s/%s, %s/%s (aggregator only) and %s/%s\n", argv[1], PSC_KEYS_FLEET_FILE,
	       argv[1], PSC_KEYS_SIGNING_FILE, argv[1], PSC_KEYS_PUBLIC_FILE);
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_LISTEN = 256,
		OPT_DB,
		OPT_KEYS,
		OPT_HTTP,
		OPT_MAX_FRAME,
		OPT_MAX_INFLATED,
		OPT_RET_RAW,
		OPT_RET_5M,
		OPT_RET_1H,
		OPT_RET_REPORTS,
		OPT_SYNC,
		OPT_CONNECTED,
		OPT_MAINT,
		OPT_MODEL_INTERVAL,
		OPT_MODEL_STEP,
		OPT_ALLOCATE,
		OPT_CONFIG,
		OPT_MODEL_SEASON,
		OPT_CONFIDENCE,
		OPT_LEAD,
		OPT_EXPIRY,
		OPT_EGRESS_SURGE,
		OPT_HOOK,
		OPT_PRICE_CPU,
		OPT_PRICE_GB,
		OPT_API_TOKEN_FILE,
		OPT_API_OPEN_READS,
		OPT_LOG_LEVEL,
		OPT_LOG_JSON,
		OPT_HELP,
		OPT_VERSION,
	};
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "db", required_argument, NULL, OPT_DB },
		{ "keys", required_argument, NULL, OPT_KEYS },
		{ "http", required_argument, NULL, OPT_HTTP },
		{ "max-frame", required_argument, NULL, OPT_MAX_FRAME },
		{ "max-inflated", required_argument, NULL, OPT_MAX_INFLATED },
		{ "retention-raw", required_argument, NULL, OPT_RET_RAW },
		{ "retention-5m", required_argument, NULL, OPT_RET_5M },
		{ "retention-1h", required_argument, NULL, OPT_RET_1H },
		{ "retention-reports", required_argument, NULL, OPT_RET_REPORTS },
		{ "synchronous", required_argument, NULL, OPT_SYNC },
		{ "connected-window", required_argument, NULL, OPT_CONNECTED },
		{ "maintenance-interval", required_argument, NULL, OPT_MAINT },
		{ "model-interval", required_argument, NULL, OPT_MODEL_INTERVAL },
		{ "model-step", required_argument, NULL, OPT_MODEL_STEP },
		{ "model-season", required_argument, NULL, OPT_MODEL_SEASON },
		{ "allocate", required_argument, NULL, OPT_ALLOCATE },
		{ "confidence", required_argument, NULL, OPT_CONFIDENCE },
		{ "lead", required_argument, NULL, OPT_LEAD },
		{ "adjustment-expiry", required_argument, NULL, OPT_EXPIRY },
		{ "egress-on-surge", required_argument, NULL, OPT_EGRESS_SURGE },
		{ "provision-hook", required_argument, NULL, OPT_HOOK },
		{ "price-cpu-hour", required_argument, NULL, OPT_PRICE_CPU },
		{ "price-gb-hour", required_argument, NULL, OPT_PRICE_GB },
		{ "api-token-file", required_argument, NULL, OPT_API_TOKEN_FILE },
		{ "api-open-reads", no_argument, NULL, OPT_API_OPEN_READS },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "log-json", no_argument, NULL, OPT_LOG_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ 0 },
	};
	struct psc_aggregator_options opt = psc_aggregator_options_default();
	enum psc_log_level level = PSC_LOG_INFO;
	_cleanup_(config_freep) struct psc_config *cfg = NULL;
	char err[512];
	bool json = false;
	int c;

	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return keygen(argc - 1, argv + 1);
	static struct reload_ctx rl;
	if (psc_config_find_path(argc, argv, &rl.path, err, sizeof(err)) < 0) {
		fprintf(stderr, "prescient-aggregator: %s\n", err);
		return EXIT_USAGE;
	}
	/* What the command line itself says of logging wins over the file at a reload too. */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strncmp(argv[i], "--log-level", 11)) {
			const char *v = argv[i][11] == '=' ? argv[i] + 12 : i + 1 < argc ? argv[i + 1] : "";
			rl.cli_level = psc_log_level_from_string(v, &rl.level) == 0;
		}
		if (!strcmp(argv[i], "--log-json"))
			rl.cli_json = rl.json = true;
	}
	/* The file's options go in front of the command line's, which win. */
	if (psc_config_from_args(&cfg, &argc, &argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "prescient-aggregator: %s\n", err);
		return EXIT_USAGE;
	}

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			opt.listen_url = optarg;
			break;
		case OPT_DB:
			opt.db_path = optarg;
			break;
		case OPT_KEYS:
			opt.keys_dir = optarg;
			break;
		case OPT_HTTP:
			opt.http_addr = optarg;
			break;
		case OPT_MAX_FRAME:
			if (parse_size(optarg, &opt.limits.max_frame) < 0)
				return usage_error("--max-frame: bad size '%s'", optarg);
			break;
		case OPT_MAX_INFLATED:
			if (parse_size(optarg, &opt.limits.max_inflated) < 0)
				return usage_error("--max-inflated: bad size '%s'", optarg);
			break;
		case OPT_RET_RAW:
			if (parse_duration(optarg, &opt.store.retention_raw_s) < 0)
				return usage_error("--retention-raw: bad duration '%s'", optarg);
			break;
		case OPT_RET_5M:
			if (parse_duration(optarg, &opt.store.retention_5m_s) < 0)
				return usage_error("--retention-5m: bad duration '%s'", optarg);
			break;
		case OPT_RET_1H:
			if (parse_duration(optarg, &opt.store.retention_1h_s) < 0)
				return usage_error("--retention-1h: bad duration '%s'", optarg);
			break;
		case OPT_RET_REPORTS:
			if (parse_duration(optarg, &opt.store.retention_reports_s) < 0)
				return usage_error("--retention-reports: bad duration '%s'", optarg);
			break;
		case OPT_SYNC:
			if (strcmp(optarg, "full") == 0)
				opt.store.sync_normal = false;
			else if (strcmp(optarg, "normal") == 0)
				opt.store.sync_normal = true;
			else
				return usage_error("--synchronous: '%s' is not full or normal", optarg);
			break;
		case OPT_CONNECTED:
			if (parse_duration(optarg, &opt.connected_window_s) < 0)
				return usage_error("--connected-window: bad duration '%s'", optarg);
			break;
		case OPT_MAINT:
			if (parse_duration(optarg, &opt.maintain_interval_s) < 0 ||
			    opt.maintain_interval_s < 0.01)
				return usage_error("--maintenance-interval: bad duration '%s'", optarg);
			break;
		case OPT_MODEL_INTERVAL:
			if (strcmp(optarg, "off") == 0)
				opt.model.period_s = 0;
			else if (parse_duration(optarg, &opt.model.period_s) < 0 ||
				 opt.model.period_s < 0.1)
				return usage_error("--model-interval: bad duration '%s'", optarg);
			break;
		case OPT_MODEL_STEP:
			if (parse_duration(optarg, &opt.model.step_s) < 0 || opt.model.step_s < 1)
				return usage_error("--model-step: bad duration '%s'", optarg);
			break;
		case OPT_MODEL_SEASON:
			if (!strcmp(optarg, "auto"))
				opt.model.season_s = 0;
			else if (parse_duration(optarg, &opt.model.season_s) < 0 ||
				 opt.model.season_s <= 0)
				return usage_error("--model-season: expected auto or a duration, not '%s'",
						   optarg);
			opt.alloc.season_s = opt.model.season_s;
			break;
		case OPT_ALLOCATE:
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return usage_error("--allocate: expected on or off, not '%s'", optarg);
			opt.allocate = !strcmp(optarg, "on");
			break;
		case OPT_CONFIDENCE:
			if (parse_number(optarg, &opt.alloc.confidence) < 0 ||
			    !(opt.alloc.confidence > 0.5 && opt.alloc.confidence < 1))
				return usage_error("--confidence: expected a number in (0.5, 1), not '%s'",
						   optarg);
			break;
		case OPT_LEAD:
			if (parse_duration(optarg, &opt.alloc.lead_s) < 0)
				return usage_error("--lead: bad duration '%s'", optarg);
			break;
		case OPT_EXPIRY:
			if (parse_duration(optarg, &opt.alloc.expiry_s) < 0 || opt.alloc.expiry_s < 1)
				return usage_error("--adjustment-expiry: bad duration '%s'", optarg);
			break;
		case OPT_EGRESS_SURGE:
			if (!strcmp(optarg, "off"))
				opt.alloc.egress_on_surge = 0;
			else if (!strcmp(optarg, "data"))
				opt.alloc.egress_on_surge = 1;
			else if (!strcmp(optarg, "all"))
				opt.alloc.egress_on_surge = 2;
			else
				return usage_error("--egress-on-surge: expected off, data or all, not '%s'",
						   optarg);
			break;
		case OPT_HOOK:
			if (!*optarg)
				return usage_error("--provision-hook: empty command%s", "");
			opt.alloc.hook = optarg;
			break;
		case OPT_PRICE_CPU:
		case OPT_PRICE_GB:
			if (parse_number(optarg, c == OPT_PRICE_CPU ? &opt.alloc.price_cpu_hour
								  : &opt.alloc.price_gb_hour) < 0 ||
			    (c == OPT_PRICE_CPU ? opt.alloc.price_cpu_hour : opt.alloc.price_gb_hour) < 0)
				return usage_error(c == OPT_PRICE_CPU
							   ? "--price-cpu-hour: expected a price >= 0, not '%s'"
							   : "--price-gb-hour: expected a price >= 0, not '%s'",
						   optarg);
			break;
		case OPT_API_TOKEN_FILE:
			opt.api_token_file = optarg;
			break;
		case OPT_API_OPEN_READS:
			opt.api_open_reads = true;
			break;
		case OPT_LOG_LEVEL:
			if (psc_log_level_from_string(optarg, &level) < 0)
				return usage_error("--log-level: '%s' is not err, warn, info or debug",
						   optarg);
			break;
		case OPT_LOG_JSON:
			json = true;
			break;
		case 'h':
		case OPT_HELP:
			help();
			return 0;
		case OPT_VERSION:
			printf("prescient-aggregator %s\n", PSC_VERSION);
			return 0;
		case OPT_CONFIG:
			break; /* read above */
		default:
			if (psc_config_origin(cfg, optind - 1))
				fprintf(stderr, "prescient-aggregator: (in %s)\n",
					psc_config_origin(cfg, optind - 1));
			return usage_error("%s", "unknown option");
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!opt.listen_url || !opt.db_path || !opt.keys_dir)
		return usage_error("%s", "--listen, --db and --keys are required");
	if (opt.store.retention_raw_s < 2 * 3600)
		return usage_error("%s", "--retention-raw must be at least 2h (rollups read it)");
	psc_log_setup(level, json);
	if (rl.path) {
		opt.reload = reload_config;
		opt.reload_ctx = &rl;
	}
	return psc_aggregator_run(&opt) < 0 ? 1 : 0;
}
