// SPDX-License-Identifier: MIT
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "behaviour.h"
#include "classify.h"
#include "cleanup.h"
#include "profile.h"
#include "replay.h"
#include "season.h"

static void help(void)
{
	printf("Usage: prescient-replay profile [OPTIONS] FILE\n"
	       "\n"
	       "Builds the demand profile of FILE (one mergeable distribution per hour of week,\n"
	       "Monday 00:00 UTC = 0) and prints:\n"
	       "  hour_of_week,day,hour,samples,p10,p50,p90\n"
	       "then '# ...' lines: the detected seasonality, the behaviour class with the\n"
	       "features that decided it, and with --price the cost of a day, a week and a month\n"
	       "as p10/p50/p90 (Monte Carlo over the hourly distributions).\n"
	       "\n"
	       "Options:\n"
	       "  -c, --column NAME   value column (default: 'value', else the first '*usage*')\n"
	       "  -P, --price P       cost of one unit of the value for one hour (e.g. per\n"
	       "                      core-hour when the value is CPU cores)\n"
	       "      --strict        refuse repeated timestamps and gaps instead of repairing them\n"
	       "  -q, --quiet         no warnings on stderr\n"
	       "  -h, --help          this text\n");
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "column", required_argument, NULL, 'c' }, { "price", required_argument, NULL, 'P' },
		{ "strict", no_argument, NULL, 'S' },	    { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },	    {}
	};
	static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
	struct psc_replay_input_opts in = { 0 };
	double price = NAN;
	char *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:P:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			in.column = optarg;
			break;
		case 'P':
			price = strtod(optarg, &end);
			if (*end || !(price >= 0) || !isfinite(price))
				return psc_replay_usage_error("profile", "invalid --price '%s'", optarg);
			break;
		case 'S':
			in.strict = true;
			break;
		case 'q':
			in.quiet = true;
			break;
		case 'h':
			help();
			return PSC_REPLAY_OK;
		default:
			return psc_replay_usage_error("profile", "invalid option");
		}
	}
	if (optind + 1 != argc)
		return psc_replay_usage_error("profile", "expected exactly one input FILE");
	struct psc_series *s = NULL;
	if (psc_replay_load_csv(argv[optind], &in, &s) < 0)
		return PSC_REPLAY_BAD_INPUT;
	int rc = PSC_REPLAY_BAD_INPUT;
	struct psc_profile *p = calloc(1, sizeof(*p));
	_cleanup_free_ double *scratch = malloc((s->n + 1) * sizeof(double));
	if (!p || !scratch) {
		fprintf(stderr, "prescient-replay profile: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (psc_profile_add(p, s->t[i], s->v[i]) < 0) {
			fprintf(stderr, "prescient-replay profile: out of memory\n");
			goto out;
		}
	}
	printf("hour_of_week,day,hour,samples,p10,p50,p90\n");
	for (unsigned h = 0; h < PSC_HOURS_PER_WEEK; h++) {
		const struct psc_sketch *k = &p->hour[h];
		printf("%u,%s,%u,%llu,", h, days[h / 24], h % 24, (unsigned long long)k->total);
		psc_replay_print_num(psc_sketch_quantile(k, 0.1));
		putchar(',');
		psc_replay_print_num(psc_sketch_quantile(k, 0.5));
		putchar(',');
		psc_replay_print_num(psc_sketch_quantile(k, 0.9));
		putchar('\n');
	}
	/* Seasonality, from the series (correlation with the previous cycle) and from the
	 * profile (share of the hourly medians' variance explained by the hour of day). */
	struct psc_season season;
	double share, ratio;
	psc_season_detect(s->v, s->n, s->interval, scratch, &season);
	psc_profile_seasonality(p, &share, &ratio);
	const char *kind = !season.period ? "none" :
			   season.period == psc_season_daily_steps(s->interval) ? "daily" :
										   "weekly";
	printf("# seasonality period=%s steps=%u acf_daily=%.3f acf_weekly=%.3f profile_daily_share=%.3f weekday_weekend_ratio=%.3f\n",
	       kind, season.period, season.acf_daily, season.acf_weekly, share, ratio);
	/* Behaviour class from the series features. */
	double sf[_PSC_SF_MAX], cf[_PSC_CF_MAX];
	if (psc_series_features(s->v, s->n, s->interval, s->t[0], sf) == 0) {
		struct psc_classifier cl;
		struct psc_class_result r;
		psc_classifier_init(&cl);
		psc_class_features(sf, NULL, cf);
		psc_classify(&cl, cf, &r);
		printf("# class=\"%s\" confidence=%.2f because:", psc_class_name(r.cls), r.confidence);
		for (int i = 0; i < 3; i++)
			printf("%s %s=%.2f (%+.2f)", i ? "," : "",
			       psc_class_feature_name(r.reason[i].feature), cf[r.reason[i].feature],
			       r.reason[i].contribution);
		putchar('\n');
	}
	if (isfinite(price)) {
		static const char *const names[_PSC_COST_MAX] = { "day", "week", "month" };
		const double qs[3] = { 0.1, 0.5, 0.9 };
		struct psc_prices pr = { .cpu_core_hour = price };
		printf("# cost price=%g per unit-hour", price);
		for (int per = 0; per < _PSC_COST_MAX; per++) {
			double q[3];
			if (psc_cost_quantiles(p, NULL, NULL, NULL, &pr, (enum psc_cost_period)per, 0,
					       1000, 1, qs, 3, q) < 0)
				continue;
			printf(" %s_p10=%.4g %s_p50=%.4g %s_p90=%.4g", names[per], q[0], names[per],
			       q[1], names[per], q[2]);
		}
		putchar('\n');
	}
	rc = fflush(stdout) == 0 ? PSC_REPLAY_OK : PSC_REPLAY_BAD_INPUT;
out:
	if (p)
		psc_profile_reset(p);
	free(p);
	psc_series_free(&s);
	return rc;
}

const struct psc_replay_cmd psc_replay_profile_cmd = {
	.name = "profile",
	.summary = "hour-of-week demand distributions, seasonality, behaviour class, cost",
	.run = run,
	.help = help,
};
