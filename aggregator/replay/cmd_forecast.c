// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "forecast.h"
#include "replay.h"
#include "season.h"

static void help(void)
{
	printf("Usage: prescient-replay forecast --horizon H [OPTIONS] FILE\n"
	       "\n"
	       "Replays FILE ('-' = stdin) through the online forecaster and prints, for every row\n"
	       "t that has a forecast issued from the rows up to t-H:\n"
	       "  timestamp,actual,p10,p50,p90\n"
	       "The models (seasonal naive, seasonal median, Holt-Winters additive and\n"
	       "multiplicative, autoregressive, LSTM when enabled, and their blend) run online;\n"
	       "the season (daily, weekly or none) is detected; per series and horizon the one with\n"
	       "the lowest rolling back-test error is used, and the quantiles come from the last\n"
	       "max(256, 2H) residuals of the forecasts actually issued at that horizon, at\n"
	       "levels adapted online to keep 10%% of actuals below p10 and 10%% above p90.\n"
	       "\n"
	       "Options:\n"
	       "  -H, --horizon H     steps ahead (rows at the inferred interval), or a duration:\n"
	       "                      90s, 30m, 1h, 1d (rounded to steps, at least 1). Required.\n"
	       "  -c, --column NAME   value column (default: 'value', else the first '*usage*')\n"
	       "  -m, --models LIST   comma-separated subset of: seasonal_naive, holt_winters_add,\n"
	       "                      holt_winters_mul, autoregressive, lstm, seasonal_median,\n"
	       "                      blend, or 'all'\n"
	       "                      (default: all but lstm)\n"
	       "  -p, --period P      season: 'auto' (detected, default), 'none', 'daily', 'weekly',\n"
	       "                      or a number of steps\n"
	       "      --strict        refuse repeated timestamps and gaps instead of repairing them\n"
	       "  -q, --quiet         no warnings on stderr\n"
	       "  -s, --summary       print accuracy figures to stderr at the end\n"
	       "  -e, --explain       add a 'model' column: the model chosen for each forecast\n"
	       "  -h, --help          this text\n");
}

int psc_replay_parse_models(const char *s, uint32_t *mask)
{
	_cleanup_free_ char *dup = strdup(s);
	char *save = NULL;

	if (!dup)
		return -ENOMEM;
	*mask = 0;
	for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int m;
		if (!strcmp(tok, "all")) {
			*mask |= PSC_FC_MASK_ALL;
			continue;
		}
		for (m = 0; m < _PSC_FC_MAX; m++)
			if (!strcmp(tok, psc_fc_model_name(m)))
				break;
		if (m == _PSC_FC_MAX)
			return -EINVAL;
		*mask |= PSC_FC_MASK(m);
	}
	return *mask ? 0 : -EINVAL;
}

int psc_replay_parse_period(const char *s, double interval, int32_t *period)
{
	char *end;

	if (!strcmp(s, "auto")) {
		*period = -1;
	} else if (!strcmp(s, "none")) {
		*period = 0;
	} else if (!strcmp(s, "daily")) {
		*period = (int32_t)psc_season_daily_steps(interval);
	} else if (!strcmp(s, "weekly")) {
		*period = (int32_t)psc_season_weekly_steps(interval);
	} else {
		long v = strtol(s, &end, 10);
		if (*end || v < 0 || v > PSC_SEASON_MAX_PERIOD)
			return -EINVAL;
		*period = (int32_t)v;
	}
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "horizon", required_argument, NULL, 'H' }, { "column", required_argument, NULL, 'c' },
		{ "models", required_argument, NULL, 'm' },  { "period", required_argument, NULL, 'p' },
		{ "strict", no_argument, NULL, 'S' },	     { "quiet", no_argument, NULL, 'q' },
		{ "summary", no_argument, NULL, 's' },	     { "help", no_argument, NULL, 'h' },
		{ "explain", no_argument, NULL, 'e' },
		{}
	};
	struct psc_replay_input_opts in = { 0 };
	const char *horizon = NULL, *models = NULL, *period = "auto";
	bool summary = false, explain = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "H:c:m:p:qseh", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			horizon = optarg;
			break;
		case 'c':
			in.column = optarg;
			break;
		case 'm':
			models = optarg;
			break;
		case 'p':
			period = optarg;
			break;
		case 'S':
			in.strict = true;
			break;
		case 'q':
			in.quiet = true;
			break;
		case 's':
			summary = true;
			break;
		case 'e':
			explain = true;
			break;
		case 'h':
			help();
			return PSC_REPLAY_OK;
		default:
			return psc_replay_usage_error("forecast", "invalid option");
		}
	}
	if (!horizon)
		return psc_replay_usage_error("forecast", "--horizon is required");
	if (optind + 1 != argc)
		return psc_replay_usage_error("forecast", "expected exactly one input FILE");
	uint64_t h;
	/* Validate the syntax before reading the input (the interval is not known yet). */
	if (psc_parse_horizon(horizon, 1, &h) < 0)
		return psc_replay_usage_error("forecast",
					      "invalid horizon '%s' (steps, or a duration like 1h)",
					      horizon);
	struct psc_fc_cfg cfg;
	struct psc_series *s = NULL;
	int lrc = psc_replay_load_for_models("forecast", argv[optind], &in, models, period, &cfg, &s);
	if (lrc != PSC_REPLAY_OK)
		return lrc;
	psc_parse_horizon(horizon, s->interval, &h);
	if (h > 100000) {
		psc_series_free(&s);
		return psc_replay_usage_error("forecast", "horizon of %llu steps is too long",
					      (unsigned long long)h);
	}
	cfg.horizons[0] = (uint32_t)h;
	int rc = PSC_REPLAY_BAD_INPUT;
	struct psc_forecaster *f = NULL;
	_cleanup_free_ struct psc_fc_quantiles *ring = calloc(h, sizeof(*ring));
	_cleanup_free_ bool *have = calloc(h, sizeof(*have));
	if (!ring || !have || psc_forecaster_new(&f, &cfg) < 0) {
		fprintf(stderr, "prescient-replay forecast: out of memory\n");
		goto out;
	}
	double sae = 0, sae_naive = 0, ssmape = 0;
	uint64_t nout = 0, ncov = 0, nnaive = 0;
	printf("timestamp,actual,p10,p50,p90%s\n", explain ? ",model" : "");
	size_t row = 0;
	for (uint64_t step = 0; step < s->n_steps; step++) {
		size_t slot = step % h;
		if (s->step[row] == step) {
			double y = s->v[row];
			if (step >= h && have[slot]) {
				const struct psc_fc_quantiles *q = &ring[slot];
				printf("%s,%s,", s->text + s->ts_off[row], s->text + s->v_off[row]);
				psc_replay_print_num(q->p10);
				putchar(',');
				psc_replay_print_num(q->p50);
				putchar(',');
				psc_replay_print_num(q->p90);
				if (explain)
					printf(",%s", psc_fc_model_name(q->model));
				putchar('\n');
				sae += fabs(y - q->p50);
				double den = fabs(y) + fabs(q->p50);
				ssmape += den > 0 ? 2 * fabs(y - q->p50) / den : 0;
				ncov += y >= q->p10 && y <= q->p90;
				nout++;
			}
			if (row > 0 && s->step[row - 1] == step - 1) {
				sae_naive += fabs(y - s->v[row - 1]);
				nnaive++;
			}
			psc_forecaster_update(f, y);
			row++;
		} else {
			psc_forecaster_skip(f);
		}
		have[slot] = psc_forecaster_forecast(f, 0, &ring[slot]) == 0;
	}
	if (summary) {
		double mase = nnaive && sae_naive > 0 ? (sae / nout) / (sae_naive / nnaive) : NAN;
		fprintf(stderr,
			"summary: rows=%llu horizon=%llu interval=%.0fs period=%u mae=%.6g mase=%.4f smape=%.4f coverage_p10_p90=%.4f model=%s\n",
			(unsigned long long)nout, (unsigned long long)h, s->interval,
			psc_forecaster_period(f), nout ? sae / nout : NAN, mase,
			nout ? ssmape / nout : NAN, nout ? (double)ncov / nout : NAN,
			psc_fc_model_name(ring[(s->n_steps - 1) % h].model));
	}
	rc = fflush(stdout) == 0 ? PSC_REPLAY_OK : PSC_REPLAY_BAD_INPUT;
out:
	psc_forecaster_free(&f);
	psc_series_free(&s);
	return rc;
}

const struct psc_replay_cmd psc_replay_forecast_cmd = {
	.name = "forecast",
	.summary = "quantile forecasts (p10, p50, p90) at a horizon, from past rows only",
	.run = run,
	.help = help,
};
