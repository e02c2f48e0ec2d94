// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "forecast.h"
#include "novelty.h"
#include "replay.h"

static void help(void)
{
	printf("Usage: prescient-replay detect [OPTIONS] FILE\n"
	       "\n"
	       "Replays FILE ('-' = stdin) and prints, for every input row:\n"
	       "  timestamp,value,score\n"
	       "score in [0,1] is the shift score of that row, computed from rows up to it only:\n"
	       "the residual of the online one-step forecast (best model by rolling back-test)\n"
	       "is watched by a Shewhart chart and a two-sided CUSUM, and the shape of the last\n"
	       "16 values by a nearest-neighbour novelty search over the last 1024, each\n"
	       "calibrated against its own past values (robust, heavy-tailed); with x =\n"
	       "-log10(tail probability of the strongest), score = x / (x + 3), so 0.5 is a\n"
	       "1-in-1000 event; halved while it does not beat the last alarm's level (held 100\n"
	       "steps, then decaying): one alarm per episode.\n"
	       "\n"
	       "Options:\n"
	       "  -c, --column NAME   value column (default: 'value', else the first '*usage*')\n"
	       "  -m, --models LIST   forecasting models (see 'forecast --help')\n"
	       "  -p, --period P      season: auto (default), none, daily, weekly, or steps\n"
	       "  -e, --explain       add columns: chart,direction,start,expected,z\n"
	       "      --charts LIST   shewhart,cusum,novelty (default all three)\n"
	       "      --cusum-k K     CUSUM allowance in robust sd (default 1)\n"
	       "      --window N      residuals kept for the scale and tail (default 1024)\n"
	       "      --novelty-dim N values per embedding of the novelty search (default 16)\n"
	       "      --hold N        steps an alarm's level damps later scores (default 100)\n"
	       "      --strict        refuse repeated timestamps and gaps instead of repairing them\n"
	       "  -q, --quiet         no warnings on stderr\n"
	       "  -h, --help          this text\n");
}

int psc_replay_detector_opt(const char *cmd, int c, const char *arg,
			    struct psc_detector_cfg *dcfg)
{
	char *end;

	switch (c) {
	case 'C':
		dcfg->charts = 0;
		if (strstr(arg, "shewhart"))
			dcfg->charts |= 1u << PSC_CHART_SHEWHART;
		if (strstr(arg, "cusum"))
			dcfg->charts |= 1u << PSC_CHART_CUSUM;
		if (strstr(arg, "novelty"))
			dcfg->charts |= 1u << PSC_CHART_NOVELTY;
		if (!dcfg->charts)
			return psc_replay_usage_error(cmd, "invalid --charts '%s'", arg);
		return PSC_REPLAY_OK;
	case 'k':
		dcfg->cusum_k = strtod(arg, &end);
		if (*end || !(dcfg->cusum_k > 0) || dcfg->cusum_k > 10)
			return psc_replay_usage_error(cmd, "invalid --cusum-k '%s'", arg);
		return PSC_REPLAY_OK;
	case 'w':
		dcfg->window = (uint32_t)strtoul(arg, &end, 10);
		if (*end || dcfg->window < 16 || dcfg->window > 1000000)
			return psc_replay_usage_error(cmd, "invalid --window '%s'", arg);
		return PSC_REPLAY_OK;
	case 'N':
		dcfg->novelty_dim = (uint32_t)strtoul(arg, &end, 10);
		if (*end || dcfg->novelty_dim < 1 || dcfg->novelty_dim > PSC_NOVELTY_MAX_DIM)
			return psc_replay_usage_error(cmd, "invalid --novelty-dim '%s'", arg);
		return PSC_REPLAY_OK;
	case 'H':
		dcfg->hold = (uint32_t)strtoul(arg, &end, 10);
		if (*end || dcfg->hold > 1000000)
			return psc_replay_usage_error(cmd, "invalid --hold '%s'", arg);
		return PSC_REPLAY_OK;
	default:
		return psc_replay_usage_error(cmd, "invalid option");
	}
}

int psc_replay_detect_series(const struct psc_series *s, const struct psc_fc_cfg *cfg,
			     const struct psc_detector_cfg *dcfg, psc_replay_detect_fn emit,
			     void *ctx)
{
	struct psc_forecaster *f = NULL;
	struct psc_detector *d = NULL;
	int r = -ENOMEM;

	if (psc_forecaster_new(&f, cfg) < 0 || psc_detector_new(&d, dcfg) < 0)
		goto out;
	r = 0;
	size_t row = 0;
	for (uint64_t step = 0; step < s->n_steps; step++) {
		if (s->step[row] != step) {
			psc_forecaster_skip(f);
			continue;
		}
		struct psc_fc_quantiles q;
		struct psc_detection det;
		double y = s->v[row];
		/* One detector update per row (NAN before the first forecast), so the
		 * detector's step numbers are row numbers. */
		double expected = psc_forecaster_forecast(f, 0, &q) == 0 ? q.p50 : NAN;
		psc_detector_update(d, y, expected, &det);
		r = emit(ctx, row, &det);
		if (r < 0)
			break;
		psc_forecaster_update(f, y);
		row++;
	}
out:
	psc_detector_free(&d);
	psc_forecaster_free(&f);
	return r;
}

struct print_ctx {
	const struct psc_series *s;
	bool explain;
};

static int print_row(void *ctx, size_t row, const struct psc_detection *det)
{
	const struct print_ctx *pc = ctx;
	const struct psc_series *s = pc->s;

	printf("%s,%s,%.6f", s->text + s->ts_off[row], s->text + s->v_off[row], det->score);
	if (pc->explain) {
		size_t srow = det->start < s->n ? (size_t)det->start : row;
		printf(",%s,%d,%s,", psc_chart_name(det->chart), det->direction,
		       s->text + s->ts_off[srow]);
		psc_replay_print_num(det->baseline);
		printf(",%.3f", det->z);
	}
	putchar('\n');
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "column", required_argument, NULL, 'c' }, { "models", required_argument, NULL, 'm' },
		{ "period", required_argument, NULL, 'p' }, { "explain", no_argument, NULL, 'e' },
		{ "strict", no_argument, NULL, 'S' },	    { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },	    { "charts", required_argument, NULL, 'C' },
		{ "cusum-k", required_argument, NULL, 'k' }, { "window", required_argument, NULL, 'w' },
		{ "novelty-dim", required_argument, NULL, 'N' }, { "hold", required_argument, NULL, 'H' },
		{}
	};
	struct psc_replay_input_opts in = { 0 };
	const char *models = NULL, *period = "auto";
	bool explain = false;
	struct psc_detector_cfg dcfg;

	psc_detector_cfg_default(&dcfg);
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:m:p:eqh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			in.column = optarg;
			break;
		case 'm':
			models = optarg;
			break;
		case 'p':
			period = optarg;
			break;
		case 'e':
			explain = true;
			break;
		case 'S':
			in.strict = true;
			break;
		case 'q':
			in.quiet = true;
			break;
		case 'C':
		case 'k':
		case 'w':
		case 'N':
		case 'H':
			if (psc_replay_detector_opt("detect", c, optarg, &dcfg) != PSC_REPLAY_OK)
				return PSC_REPLAY_USAGE;
			break;
		case 'h':
			help();
			return PSC_REPLAY_OK;
		default:
			return psc_replay_usage_error("detect", "invalid option");
		}
	}
	if (optind + 1 != argc)
		return psc_replay_usage_error("detect", "expected exactly one input FILE");
	struct psc_fc_cfg cfg;
	struct psc_series *s = NULL;
	int lrc = psc_replay_load_for_models("detect", argv[optind], &in, models, period, &cfg, &s);
	if (lrc != PSC_REPLAY_OK)
		return lrc;

	printf("timestamp,value,score%s\n", explain ? ",chart,direction,start,expected,z" : "");
	struct print_ctx pc = { .s = s, .explain = explain };
	int rc = PSC_REPLAY_OK;
	if (psc_replay_detect_series(s, &cfg, &dcfg, print_row, &pc) < 0) {
		fprintf(stderr, "prescient-replay detect: out of memory\n");
		rc = PSC_REPLAY_BAD_INPUT;
	} else if (fflush(stdout) != 0) {
		rc = PSC_REPLAY_BAD_INPUT;
	}
	psc_series_free(&s);
	return rc;
}

const struct psc_replay_cmd psc_replay_detect_cmd = {
	.name = "detect",
	.summary = "shift score in [0,1] for every row, from past rows only",
	.run = run,
	.help = help,
};
