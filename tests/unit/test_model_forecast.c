// SPDX-License-Identifier: MIT
/* Forecasting engine: seasonality detection, model recovery of known patterns, model
 * selection, calibrated quantiles, gaps. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "forecast.h"
#include "lstm.h"
#include "mathutil.h"
#include "season.h"

static double daily(double t_steps, double per)
{
	return 10 + 5 * sin(2 * M_PI * t_steps / per);
}

static void test_season_detect(void **state)
{
	struct psc_rng rng;
	struct psc_season s;
	static double x[4 * 2016], scratch[4 * 2016];

	psc_rng_seed(&rng, 1);
	/* 5-minute samples, 4 days of a daily cycle */
	for (int i = 0; i < 4 * 288; i++)
		x[i] = daily(i, 288) + 0.5 * psc_rng_normal(&rng);
	psc_season_detect(x, 4 * 288, 300, scratch, &s);
	assert_int_equal(s.period, 288);
	assert_true(s.acf_daily > 0.8);

	/* hourly samples, 4 weeks, weekdays busy and weekends quiet */
	for (int i = 0; i < 4 * 168; i++) {
		int day = (i / 24) % 7;
		x[i] = (day < 5 ? daily(i, 24) : 2) + 0.3 * psc_rng_normal(&rng);
	}
	psc_season_detect(x, 4 * 168, 3600, scratch, &s);
	assert_int_equal(s.period, 168);

	/* white noise has no season */
	for (int i = 0; i < 4 * 2016; i++)
		x[i] = psc_rng_normal(&rng);
	psc_season_detect(x, 4 * 2016, 300, scratch, &s);
	assert_int_equal(s.period, 0);

	/* too short to test */
	psc_season_detect(x, 600, 300, scratch, &s);
	assert_int_equal(s.period, 0);
	assert_true(isnan(s.acf_daily));
}

static void test_holt_winters_recovers_season(void **state)
{
	struct psc_fc_cfg cfg;
	struct psc_forecaster *f = NULL;
	struct psc_fc_quantiles q;
	struct psc_rng rng;

	psc_rng_seed(&rng, 2);
	psc_fc_cfg_default(&cfg, 3600);
	cfg.horizons[0] = 1;
	cfg.horizons[1] = 6;
	cfg.n_horizons = 2;
	assert_int_equal(psc_forecaster_new(&f, &cfg), 0);
	int n = 24 * 30;
	for (int i = 0; i < n; i++) {
		double y = daily(i, 24) + 0.1 * psc_rng_normal(&rng);
		assert_int_equal(psc_forecaster_update(f, y), 0);
	}
	assert_int_equal(psc_forecaster_period(f), 24);
	/* the seasonal models know the shape: errors near the noise level, far below the
	 * 5-unit amplitude */
	assert_true(psc_forecaster_error(f, 0, PSC_FC_HW_ADD) < 0.3);
	assert_true(psc_forecaster_error(f, 1, PSC_FC_HW_ADD) < 0.4);
	assert_true(psc_forecaster_error(f, 1, PSC_FC_HW_MUL) < 0.4);
	assert_int_equal(psc_forecaster_forecast(f, 1, &q), 0);
	double truth = daily(n - 1 + 6, 24);
	assert_true(fabs(q.p50 - truth) < 0.5);
	assert_true(q.p10 < truth && truth < q.p90);
	assert_true(q.p90 - q.p10 < 2);
	psc_forecaster_free(&f);
	assert_null(f);
}

static void test_ar_beats_naive_on_ar_process(void **state)
{
	struct psc_fc_cfg cfg;
	struct psc_forecaster *f = NULL;
	struct psc_rng rng;
	double y = 0;

	psc_rng_seed(&rng, 3);
	psc_fc_cfg_default(&cfg, 60); /* 1-minute steps: no daily period within 3000 steps */
	assert_int_equal(psc_forecaster_new(&f, &cfg), 0);
	for (int i = 0; i < 3000; i++) {
		y = 0.3 * y + psc_rng_normal(&rng);
		psc_forecaster_update(f, 50 + y);
	}
	double ar = psc_forecaster_error(f, 0, PSC_FC_AR);
	double naive = psc_forecaster_error(f, 0, PSC_FC_SNAIVE);
	/* naive error on AR(0.3) is sqrt(2(1-0.3)) ~ 1.18x the innovation; AR attains ~1 */
	assert_true(ar < 0.92 * naive);
	struct psc_fc_quantiles q;
	assert_int_equal(psc_forecaster_forecast(f, 0, &q), 0);
	assert_true(q.model != PSC_FC_SNAIVE);
	psc_forecaster_free(&f);
}

/* A steady level with isolated bursts, 1 h ahead at 5-minute steps: the last value is
 * often a burst, the 2-hour rolling median is not, and the stack (a least-absolute-
 * deviations combination around that median) is at least as good. */
static void test_robust_level_beats_naive_on_bursts(void **state)
{
	struct psc_fc_cfg cfg;
	struct psc_forecaster *f = NULL;
	struct psc_rng rng;

	psc_rng_seed(&rng, 7);
	psc_fc_cfg_default(&cfg, 300);
	cfg.horizons[0] = 12;
	cfg.period = 0;
	assert_int_equal(psc_forecaster_new(&f, &cfg), 0);
	for (int i = 0; i < 3000; i++) {
		double y = 100 + psc_rng_normal(&rng);
		if (psc_rng_uniform(&rng) < 0.15)
			y += 40 + 20 * psc_rng_uniform(&rng);
		psc_forecaster_update(f, y);
	}
	double naive = psc_forecaster_error(f, 0, PSC_FC_NAIVE);
	double rmed = psc_forecaster_error(f, 0, PSC_FC_RMEDIAN);
	double stack = psc_forecaster_error(f, 0, PSC_FC_STACK);
	assert_true(rmed < 0.75 * naive);
	assert_true(stack < 1.05 * rmed);
	struct psc_fc_quantiles q;
	assert_int_equal(psc_forecaster_forecast(f, 0, &q), 0);
	assert_true(q.model != PSC_FC_NAIVE && q.model != PSC_FC_SNAIVE);
	assert_true(q.p50 > 97 && q.p50 < 106);
	assert_string_equal(psc_fc_model_name(PSC_FC_RMEDIAN), "rolling_median");
	assert_string_equal(psc_fc_model_name(PSC_FC_STACK), "stack");
	psc_forecaster_free(&f);
}

/* A daily cycle under bursts: the seasonal models know the shape, the robust level
 * ignores the bursts; the combination of the stack and the best single model beats every
 * single model, is chosen, and its p50 is its point. Shift detection's model set has no
 * combination, so its p50 keeps the residual-median shift. */
static void test_combination_is_chosen_and_beats_singles(void **state)
{
	struct psc_fc_cfg cfg;
	struct psc_forecaster *f = NULL, *d = NULL;
	struct psc_rng rng;
	struct psc_fc_quantiles q;

	psc_rng_seed(&rng, 11);
	psc_fc_cfg_default(&cfg, 300);
	cfg.horizons[0] = 12;
	assert_int_equal(psc_forecaster_new(&f, &cfg), 0);
	cfg.models = PSC_FC_MASK_DETECT;
	assert_int_equal(psc_forecaster_new(&d, &cfg), 0);
	double level = 0;
	for (int i = 0; i < 8 * 288; i++) {
		level += 0.1 * psc_rng_normal(&rng);
		double y = level + daily(i, 288) + 0.5 * psc_rng_normal(&rng);
		if (psc_rng_uniform(&rng) < 0.1)
			y += 10 * psc_rng_uniform(&rng);
		psc_forecaster_update(f, y);
		psc_forecaster_update(d, y);
	}
	double comb = psc_forecaster_error(f, 0, PSC_FC_COMBINE);
	for (int m = 0; m < PSC_FC_COMBINE; m++) {
		double e = psc_forecaster_error(f, 0, m);
		if (isfinite(e))
			assert_true(comb < e);
	}
	assert_int_equal(psc_forecaster_forecast(f, 0, &q), 0);
	assert_int_equal(q.model, PSC_FC_COMBINE);
	assert_true(q.p50 == q.point);
	assert_string_equal(psc_fc_model_name(PSC_FC_COMBINE), "combine");

	assert_true(isinf(psc_forecaster_error(d, 0, PSC_FC_COMBINE)));
	assert_int_equal(psc_forecaster_forecast(d, 0, &q), 0);
	assert_true(q.model != PSC_FC_COMBINE);
	assert_true(q.p50 != q.point);
	psc_forecaster_free(&f);
	psc_forecaster_free(&d);
}

static void test_quantiles_are_calibrated(void **state)
{
	struct psc_fc_cfg cfg;
	struct psc_forecaster *f = NULL;
	struct psc_rng rng;
	struct psc_fc_quantiles q;
	int inside = 0, below10 = 0, scored = 0;

	psc_rng_seed(&rng, 4);
	psc_fc_cfg_default(&cfg, 60);
	assert_int_equal(psc_forecaster_new(&f, &cfg), 0);
	for (int i = 0; i < 4000; i++) {
		double y = 100 + 3 * psc_rng_normal(&rng);
		if (i >= 500 && psc_forecaster_forecast(f, 0, &q) == 0) {
			inside += y >= q.p10 && y <= q.p90;
			below10 += y < q.p10;
			scored++;
		}
		psc_forecaster_update(f, y);
	}
	double cov = (double)inside / scored, low = (double)below10 / scored;
	assert_true(cov > 0.74 && cov < 0.86);
	assert_true(low > 0.06 && low < 0.14);
	psc_forecaster_free(&f);
}

static void test_gaps_and_errors(void **state)
{
	struct psc_fc_cfg cfg;
	struct psc_forecaster *f = NULL;
	struct psc_fc_quantiles q;

	psc_fc_cfg_default(&cfg, 300);
	cfg.horizons[0] = 12;
	cfg.models = PSC_FC_MASK_ALL;
	assert_int_equal(psc_forecaster_new(&f, &cfg), 0);
	assert_int_equal(psc_forecaster_forecast(f, 0, &q), -EAGAIN);
	assert_int_equal(psc_forecaster_forecast(f, 1, &q), -EINVAL);
	assert_int_equal(psc_forecaster_update(f, NAN), -EINVAL);
	for (int i = 0; i < 2000; i++) {
		if (i >= 100 && i % 100 < 10) {
			psc_forecaster_skip(f);
			continue;
		}
		psc_forecaster_update(f, daily(i, 288));
	}
	assert_int_equal(psc_forecaster_steps(f), 2000);
	assert_int_equal(psc_forecaster_forecast(f, 0, &q), 0);
	assert_true(isfinite(q.p10) && isfinite(q.p90) && q.p10 <= q.p50 && q.p50 <= q.p90);
	assert_true(fabs(q.p50 - daily(1999 + 12, 288)) < 2);
	psc_forecaster_free(&f);

	cfg.n_horizons = 0;
	assert_int_equal(psc_forecaster_new(&f, &cfg), -EINVAL);
	assert_null(f);
	psc_forecaster_free(NULL);
}

static void test_multiplicative_needs_positive(void **state)
{
	struct psc_fc_cfg cfg;
	struct psc_forecaster *f = NULL;

	psc_fc_cfg_default(&cfg, 3600);
	cfg.period = 24;
	assert_int_equal(psc_forecaster_new(&f, &cfg), 0);
	for (int i = 0; i < 200; i++)
		psc_forecaster_update(f, daily(i, 24));
	assert_true(isfinite(psc_forecaster_error(f, 0, PSC_FC_HW_MUL)));
	psc_forecaster_update(f, 0);
	assert_true(isinf(psc_forecaster_error(f, 0, PSC_FC_HW_MUL)));
	psc_forecaster_free(&f);
}

static void test_lstm_learns_a_cycle(void **state)
{
	struct psc_lstm *l = NULL;
	double e_lstm = 0, e_naive = 0;

	assert_int_equal(psc_lstm_new(&l, 7), 0);
	for (int i = 0; i < 4000; i++) {
		double y = 50 + 10 * sin(2 * M_PI * i / 20.0);
		if (i >= 3500) {
			e_lstm += fabs(psc_lstm_predict(l, 1) - y);
			e_naive += fabs(50 + 10 * sin(2 * M_PI * (i - 1) / 20.0) - y);
		}
		psc_lstm_update(l, y);
	}
	/* the network has learnt the shape: well below the naive error (~3.1) */
	assert_true(e_lstm < 0.5 * e_naive);
	/* five steps ahead it is still far closer than the last value */
	double truth = 50 + 10 * sin(2 * M_PI * (3999 + 5) / 20.0);
	double last = 50 + 10 * sin(2 * M_PI * 3999 / 20.0);
	assert_true(fabs(psc_lstm_predict(l, 5) - truth) < 0.6 * fabs(last - truth));
	assert_true(psc_lstm_train_error(l) < 0.1);
	psc_lstm_free(&l);
	assert_null(l);
}

static void test_mathutil(void **state)
{
	double a[] = { 5, 1, 4, 2, 3 }, s[5];
	assert_true(psc_quantile(a, 5, 0.5, s) == 3);
	assert_true(psc_quantile(a, 5, 0.25, s) == 2);
	assert_true(fabs(psc_quantile(a, 5, 0.1, s) - 1.4) < 1e-12);
	assert_true(psc_mad(a, 5, s) == 1);
	double c[100];
	for (int i = 0; i < 100; i++)
		c[i] = 7;
	assert_true(psc_quantile_inplace(c, 100, 0.9) == 7);
	double m[4] = { 4, 2, 2, 3 }, b[2] = { 2, 1 };
	assert_int_equal(psc_solve_spd(m, b, 2, 0), 0);
	/* [4 2; 2 3] x = [2 1] -> x = [0.5, 0] */
	assert_true(fabs(b[0] - 0.5) < 1e-12 && fabs(b[1]) < 1e-12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mathutil),
		cmocka_unit_test(test_lstm_learns_a_cycle),
		cmocka_unit_test(test_season_detect),
		cmocka_unit_test(test_holt_winters_recovers_season),
		cmocka_unit_test(test_ar_beats_naive_on_ar_process),
		cmocka_unit_test(test_robust_level_beats_naive_on_bursts),
		cmocka_unit_test(test_combination_is_chosen_and_beats_singles),
		cmocka_unit_test(test_quantiles_are_calibrated),
		cmocka_unit_test(test_gaps_and_errors),
		cmocka_unit_test(test_multiplicative_needs_positive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
