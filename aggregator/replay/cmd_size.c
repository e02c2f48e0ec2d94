// SPDX-License-Identifier: MIT
/* prescient-replay size: the limit the production policy would have set for every row of a
 * usage series, decided from the rows before it only. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bandit.h"
#include "policy.h"
#include "recommender.h"
#include "replay.h"
#include "sizing.h"

#define DEFAULT_LEAD "5m"

enum recommender { REC_PRESCIENT, REC_VPA, REC_PEAK };

static void help(void)
{
	printf("Usage: prescient-replay size [OPTIONS] FILE\n"
	       "\n"
	       "Replays the usage series in FILE ('-' = stdin) through prescient's sizing and\n"
	       "policy and prints, for every input row:\n"
	       "  timestamp,usage,limit\n"
	       "where limit is the limit in effect for that row, decided from the rows before it\n"
	       "only ('nan' for the first row). Sizing: Monte Carlo over the online forecaster's\n"
	       "error paths gives the peak demand over the lead window at the confidence level;\n"
	       "policy: raise at once (ahead of the predicted peak), lower only after the need\n"
	       "stayed below 0.75 of the limit for a while, at most halving per change, with a\n"
	       "cooldown; a per-series bandit picks the margin and hold that score best on\n"
	       "overrun, slack and number of changes.\n"
	       "\n"
	       "Options:\n"
	       "  -c, --column NAME        usage column (default: 'value', else the first '*usage*')\n"
	       "  -C, --confidence C       confidence of the sizing, in (0.5, 1) (default 0.99)\n"
	       "  -l, --lead L             lead time: the limit covers the predicted peak of this\n"
	       "                           long after each row; steps or a duration (90s, 30m,\n"
	       "                           1h), at least one step (default " DEFAULT_LEAD ")\n"
	       "  -p, --period P           season: 'auto' (detected daily or weekly, default),\n"
	       "                           'none', 'daily', 'weekly', or a number of steps\n"
	       "      --min V, --max V     bounds of the limit (default: none)\n"
	       "  -r, --recommender R      prescient (default), vpa (VPA-style: decaying\n"
	       "                           histogram, 24 h half-life, p90 x 1.15) or peak (the\n"
	       "                           highest usage so far), for comparison\n"
	       "  -e, --explain            add columns need (sized at the previous row) and\n"
	       "                           action (what the policy did then; prescient only)\n"
	       "      --strict             refuse repeated timestamps and gaps instead of\n"
	       "                           repairing them\n"
	       "  -q, --quiet              no warnings on stderr\n"
	       "  -s, --summary            print slack, overruns and changes to stderr at the end\n"
	       "  -h, --help               this text\n");
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || !isfinite(*out) ? -EINVAL : 0;
}

struct run_stats {
	uint64_t rows, overruns, changes;
	double slack;
	double prev_limit;
};

static void score(struct run_stats *st, double usage, double limit)
{
	if (isnan(limit))
		return;
	st->rows++;
	if (usage > limit)
		st->overruns++;
	else if (limit > 0)
		st->slack += (limit - usage) / limit;
	if (st->prev_limit > 0 && limit != st->prev_limit)
		st->changes++;
	st->prev_limit = limit;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "column", required_argument, NULL, 'c' },
		{ "confidence", required_argument, NULL, 'C' },
		{ "lead", required_argument, NULL, 'l' },
		{ "min", required_argument, NULL, 'n' },
		{ "max", required_argument, NULL, 'x' },
		{ "recommender", required_argument, NULL, 'r' },
		{ "period", required_argument, NULL, 'p' },
		{ "explain", no_argument, NULL, 'e' },
		{ "strict", no_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "summary", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct psc_replay_input_opts in = { 0 };
	const char *lead_arg = DEFAULT_LEAD, *period_arg = "auto";
	double confidence = 0.99, vmin = 0, vmax = 0;
	enum recommender rec = REC_PRESCIENT;
	bool summary = false, explain = false;
	uint64_t lead;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:C:l:r:p:eqsh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			period_arg = optarg;
			break;
		case 'c':
			in.column = optarg;
			break;
		case 'C':
			if (parse_double(optarg, &confidence) < 0 || !(confidence > 0.5) ||
			    !(confidence < 1))
				return psc_replay_usage_error("size", "--confidence must be in (0.5, 1), not '%s'",
							      optarg);
			break;
		case 'l':
			lead_arg = optarg;
			break;
		case 'n':
		case 'x':
			if (parse_double(optarg, c == 'n' ? &vmin : &vmax) < 0 ||
			    (c == 'n' ? vmin : vmax) < 0)
				return psc_replay_usage_error("size", "--%s must be a number >= 0, not '%s'",
							      c == 'n' ? "min" : "max", optarg);
			break;
		case 'r':
			if (!strcmp(optarg, "prescient"))
				rec = REC_PRESCIENT;
			else if (!strcmp(optarg, "vpa"))
				rec = REC_VPA;
			else if (!strcmp(optarg, "peak"))
				rec = REC_PEAK;
			else
				return psc_replay_usage_error("size",
							      "unknown recommender '%s' (prescient, vpa or peak)",
							      optarg);
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
		case 's':
			summary = true;
			break;
		case 'h':
			help();
			return PSC_REPLAY_OK;
		default:
			return psc_replay_usage_error("size", "invalid option");
		}
	}
	if (optind + 1 != argc)
		return psc_replay_usage_error("size", "expected exactly one input FILE");
	if (vmax > 0 && vmin > vmax)
		return psc_replay_usage_error("size", "--min is above --max");
	if (psc_parse_horizon(lead_arg, 1, &lead) < 0)
		return psc_replay_usage_error("size", "invalid lead '%s' (steps, or a duration like 30m)",
					      lead_arg);
	if (explain && rec != REC_PRESCIENT)
		return psc_replay_usage_error("size", "--explain needs the prescient recommender");

	struct psc_series *s = NULL;
	int rc = psc_replay_load_csv(argv[optind], &in, &s);
	if (rc < 0)
		return PSC_REPLAY_BAD_INPUT;
	psc_parse_horizon(lead_arg, s->interval, &lead);
	if (lead > 4096) {
		psc_series_free(&s);
		return psc_replay_usage_error("size", "lead of %llu steps is too long (at most 4096)",
					      (unsigned long long)lead);
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] < 0) {
			fprintf(stderr, "prescient-replay size: %s: line %u: usage %g is negative\n",
				argv[optind], s->line[i], s->v[i]);
			psc_series_free(&s);
			return PSC_REPLAY_BAD_INPUT;
		}

	struct psc_sizer_cfg scfg;
	struct psc_sizer *sizer = NULL;
	struct psc_policy_cfg pcfg;
	struct psc_bandit_cfg bcfg;
	struct psc_bandit bandit;
	struct psc_vpa vpa;
	struct run_stats st = { 0 };
	double peak = 0;

	psc_sizer_cfg_default(&scfg, s->interval, (uint32_t)lead);
	scfg.confidence = confidence;
	if (psc_replay_parse_period(period_arg, s->interval, &scfg.fc.period) < 0) {
		psc_series_free(&s);
		return psc_replay_usage_error("size", "invalid period '%s'", period_arg);
	}
	psc_policy_cfg_default(&pcfg);
	pcfg.min = vmin;
	pcfg.max = vmax;
	psc_bandit_cfg_default(&bcfg, confidence, 86400 / s->interval);
	psc_vpa_init(&vpa);
	rc = PSC_REPLAY_BAD_INPUT;
	if (psc_sizer_new(&sizer, &scfg) < 0 || psc_bandit_init(&bandit, &bcfg, &pcfg) < 0) {
		fprintf(stderr, "prescient-replay size: out of memory\n");
		goto out;
	}

	printf("timestamp,usage,limit%s\n", explain ? ",need,action" : "");
	size_t row = 0;
	double need = NAN;
	enum psc_policy_action action = PSC_POLICY_KEEP;
	for (uint64_t step = 0; step < s->n_steps; step++) {
		double limit;
		if (s->step[row] != step) {
			/* A gap: the models fill it; the policy keeps its course. */
			if (rec == REC_PRESCIENT) {
				struct psc_sizer_need nd;
				psc_sizer_skip(sizer);
				if (psc_sizer_need(sizer, &nd) == 0)
					action = psc_bandit_step(&bandit, nd.need);
			}
			continue;
		}
		double y = s->v[row], t = s->t[row];
		switch (rec) {
		case REC_VPA:
			limit = psc_vpa_recommend(&vpa);
			psc_vpa_add(&vpa, t, y);
			break;
		case REC_PEAK:
			limit = peak;
			if (y > peak)
				peak = y;
			break;
		default:
			limit = bandit.limit;
			break;
		}
		if (!(limit > 0) && row == 0)
			limit = NAN;
		printf("%s,%s,", s->text + s->ts_off[row], s->text + s->v_off[row]);
		psc_replay_print_num(limit);
		if (explain) {
			putchar(',');
			psc_replay_print_num(need);
			printf(",%s", psc_policy_action_name(action));
		}
		putchar('\n');
		score(&st, y, limit);
		if (rec == REC_PRESCIENT) {
			struct psc_sizer_need nd;
			psc_bandit_observe(&bandit, y, false);
			psc_sizer_update(sizer, t, y);
			if (psc_sizer_need(sizer, &nd) == 0) {
				need = nd.need;
				action = psc_bandit_step(&bandit, need);
			}
		}
		row++;
	}
	if (summary)
		fprintf(stderr,
			"summary: rows=%llu lead=%llu interval=%.0fs confidence=%g slack=%.4f overruns=%llu (%.4f) changes=%llu\n",
			(unsigned long long)st.rows, (unsigned long long)lead, s->interval, confidence,
			st.rows ? st.slack / st.rows : NAN, (unsigned long long)st.overruns,
			st.rows ? (double)st.overruns / st.rows : NAN, (unsigned long long)st.changes);
	rc = fflush(stdout) == 0 ? PSC_REPLAY_OK : PSC_REPLAY_BAD_INPUT;
out:
	psc_sizer_free(&sizer);
	psc_series_free(&s);
	return rc;
}

const struct psc_replay_cmd psc_replay_size_cmd = {
	.name = "size",
	.summary = "the limit the policy would set for every row, from past rows only",
	.run = run,
	.help = help,
};
