// SPDX-License-Identifier: MIT
/* Sizing (Monte Carlo need at a confidence), the limit policy (hysteresis, bounded steps,
 * cooldown, bounds, user constraints), the margin bandit and the VPA-style reference. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bandit.h"
#include "mathutil.h"
#include "policy.h"
#include "profile.h"
#include "recommender.h"
#include "sizing.h"

#define MONDAY 1392595200.0 /* 2014-02-17 00:00:00 UTC, a Monday */

/* On a stationary noisy series the share of lead windows whose peak exceeds the need
 * issued before them must be near 1 - confidence, and the need must not be absurdly
 * wide (well below the series' max). */
static void test_sizer_calibrated(void **state)
{
	struct psc_sizer_cfg cfg;
	struct psc_sizer *s = NULL;
	struct psc_rng rng;
	static double need_at[6000];
	static double y[6000];
	const uint32_t lead = 3;
	(void)state;

	psc_sizer_cfg_default(&cfg, 60, lead);
	cfg.confidence = 0.95;
	cfg.fc.models = PSC_FC_MASK(PSC_FC_SNAIVE) | PSC_FC_MASK(PSC_FC_RMEDIAN);
	cfg.fc.period = 0;
	assert_int_equal(psc_sizer_new(&s, &cfg), 0);
	psc_rng_seed(&rng, 11);
	struct psc_sizer_need n;
	assert_int_equal(psc_sizer_need(s, &n), -EAGAIN);
	for (int t = 0; t < 6000; t++) {
		y[t] = fmax(0, 10 + 2 * psc_rng_normal(&rng));
		assert_int_equal(psc_sizer_update(s, MONDAY + 60.0 * t, y[t]), 0);
		assert_int_equal(psc_sizer_need(s, &n), 0);
		need_at[t] = n.need;
		assert_true(n.need >= n.p50);
	}
	int over = 0, scored = 0;
	for (int t = 1000; t < 6000 - (int)lead; t++) {
		double peak = 0;
		for (uint32_t h = 1; h <= lead; h++)
			peak = fmax(peak, y[t + h]);
		over += peak > need_at[t];
		scored++;
	}
	double rate = (double)over / scored;
	assert_true(rate > 0.02 && rate < 0.09);
	/* The peak of 3 N(10, 2) draws at 95%: about 10 + 2 * 2.1; far below 10 + 2 * 5. */
	assert_true(need_at[5000] > 12.5 && need_at[5000] < 17);
	assert_true(psc_sizer_update(s, MONDAY, -1) == -EINVAL);
	assert_true(psc_sizer_update(s, MONDAY, NAN) == -EINVAL);
	psc_sizer_free(&s);
	assert_null(s);
}

/* A young workload borrows its cluster's profile: the need reflects the cluster's level
 * at the coming hour (scaled to the workload), not just its own few points. */
static void test_sizer_young_borrows_profile(void **state)
{
	struct psc_sizer_cfg cfg;
	struct psc_sizer *with = NULL, *without = NULL;
	static struct psc_profile cluster;
	(void)state;

	psc_profile_reset(&cluster);
	/* Cluster: 10 at 00:00-01:00 Monday, 30 at 01:00-02:00. */
	for (int i = 0; i < 200; i++) {
		assert_int_equal(psc_profile_add(&cluster, MONDAY + 60 * (i % 60), 10), 0);
		assert_int_equal(psc_profile_add(&cluster, MONDAY + 3600 + 60 * (i % 60), 30), 0);
	}
	psc_sizer_cfg_default(&cfg, 600, 1);
	assert_int_equal(psc_sizer_new(&with, &cfg), 0);
	assert_int_equal(psc_sizer_new(&without, &cfg), 0);
	psc_sizer_set_prior(with, &cluster);
	/* Three points at 5 during Monday 00:20-00:50; the next step is in hour 1. */
	for (int i = 2; i <= 5; i++) {
		assert_int_equal(psc_sizer_update(with, MONDAY + 600.0 * i, 5), 0);
		assert_int_equal(psc_sizer_update(without, MONDAY + 600.0 * i, 5), 0);
	}
	struct psc_sizer_need a, b;
	assert_int_equal(psc_sizer_need(with, &a), 0);
	assert_int_equal(psc_sizer_need(without, &b), 0);
	assert_true(a.prior_share > 0.9);
	/* Cluster's next hour is 3x its current: the workload at 5 should be sized near 15. */
	assert_true(a.need > 12 && a.need < 18);
	assert_true(b.need < 6);
	psc_sizer_free(&with);
	psc_sizer_free(&without);
}

static void test_policy_hysteresis_steps_bounds(void **state)
{
	struct psc_policy_cfg cfg;
	struct psc_policy_state st = { 0 };
	(void)state;

	psc_policy_cfg_default(&cfg);
	cfg.lower_below = 0.75;
	cfg.hold = 3;
	cfg.cooldown = 5;
	cfg.max_up = 2;
	assert_int_equal(psc_policy_cfg_check(&cfg, NULL), 0);
	assert_int_equal(psc_policy_step(&cfg, &st, 0), PSC_POLICY_KEEP);
	assert_int_equal(psc_policy_step(&cfg, &st, 10), PSC_POLICY_SET);
	assert_true(st.limit == 10);
	/* Raise at once, bounded to x2 per change. */
	assert_int_equal(psc_policy_step(&cfg, &st, 50), PSC_POLICY_RAISE);
	assert_true(st.limit == 20);
	assert_int_equal(psc_policy_step(&cfg, &st, 30), PSC_POLICY_RAISE);
	assert_true(st.limit == 30);
	/* Between 0.75x and 1x: kept. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(psc_policy_step(&cfg, &st, 25), PSC_POLICY_KEEP);
	/* Below 0.75x: lowered only after 3 steps, to the highest need of the run. */
	assert_int_equal(psc_policy_step(&cfg, &st, 20), PSC_POLICY_KEEP);
	assert_int_equal(psc_policy_step(&cfg, &st, 21), PSC_POLICY_KEEP);
	assert_int_equal(psc_policy_step(&cfg, &st, 12), PSC_POLICY_LOWER);
	assert_true(st.limit == 21);
	/* Cooldown: no lowering for 5 steps after a change even when far below... */
	for (int i = 0; i < 4; i++)
		assert_int_equal(psc_policy_step(&cfg, &st, 1), PSC_POLICY_KEEP);
	/* ...then at most halving per change. */
	assert_int_equal(psc_policy_step(&cfg, &st, 1), PSC_POLICY_LOWER);
	assert_true(st.limit == 10.5);
	/* A raise is never held back by the cooldown. */
	assert_int_equal(psc_policy_step(&cfg, &st, 15), PSC_POLICY_RAISE);
	assert_true(st.limit == 15);
	/* Bounds and margin. */
	cfg.max = 16;
	cfg.margin = 0.5;
	assert_int_equal(psc_policy_step(&cfg, &st, 15), PSC_POLICY_RAISE);
	assert_true(st.limit == 16);
	/* A user constraint wins. */
	cfg.fixed = 4;
	assert_int_equal(psc_policy_step(&cfg, &st, 100), PSC_POLICY_FIXED);
	assert_true(st.limit == 4);
	const char *field = NULL;
	cfg.lower_below = 1.5;
	assert_int_equal(psc_policy_cfg_check(&cfg, &field), -EINVAL);
	assert_string_equal(field, "lower_below");
	assert_int_equal(psc_policy_tier(5, 6, 10), PSC_TIER_BASELINE);
	assert_int_equal(psc_policy_tier(8, 6, 10), PSC_TIER_PREDICTIVE);
	assert_int_equal(psc_policy_tier(12, 6, 10), PSC_TIER_BURST);
}

/* Needs that are consistently too low for the usage that follows: the bandit must move to
 * a positive margin; needs far too high: to the lowest margin. */
static void test_bandit_learns_margin(void **state)
{
	struct psc_bandit_cfg bcfg;
	struct psc_policy_cfg pcfg;
	struct psc_bandit b;
	struct psc_rng rng;
	(void)state;

	psc_policy_cfg_default(&pcfg);
	psc_bandit_cfg_default(&bcfg, 0.95, 100);
	assert_int_equal(psc_bandit_init(&b, &bcfg, &pcfg), 0);
	psc_rng_seed(&rng, 3);
	for (int t = 0; t < 2000; t++) {
		double usage = 100 * (1 + 0.05 * psc_rng_uniform(&rng));
		psc_bandit_observe(&b, usage, false);
		psc_bandit_step(&b, 90); /* need says 90; usage is 100-105 */
	}
	assert_true(bcfg.margin[b.chosen] >= 0.1);
	assert_true(b.limit >= 105 * 0.95);

	assert_int_equal(psc_bandit_init(&b, &bcfg, &pcfg), 0);
	for (int t = 0; t < 2000; t++) {
		psc_bandit_observe(&b, 50, false);
		psc_bandit_step(&b, 60);
	}
	assert_true(bcfg.margin[b.chosen] < 0);
	/* Censored usage (throttled at the limit) counts as demand above it. */
	assert_int_equal(psc_bandit_init(&b, &bcfg, &pcfg), 0);
	for (int t = 0; t < 2000; t++) {
		psc_bandit_observe(&b, b.limit > 0 ? b.limit : 50, true);
		psc_bandit_step(&b, 50);
	}
	assert_true(bcfg.margin[b.chosen] >= 0.1);
}

static void test_vpa_reference(void **state)
{
	struct psc_vpa v;
	(void)state;

	psc_vpa_init(&v);
	assert_true(psc_vpa_recommend(&v) == 0);
	for (int i = 0; i < 1000; i++)
		psc_vpa_add(&v, MONDAY + 60.0 * i, i % 20 == 19 ? 100 : 10);
	/* p90 is in the 10 bucket: its end (<= 10 * 1.05) times 1.15. */
	double r = psc_vpa_recommend(&v);
	assert_true(r >= 10 * 1.15 && r <= 10 * 1.05 * 1.15 + 1e-9);
	/* Weeks later, new usage dominates the decayed old samples. */
	for (int i = 0; i < 300; i++)
		psc_vpa_add(&v, MONDAY + 30 * 86400.0 + 300.0 * i, 200);
	r = psc_vpa_recommend(&v);
	assert_true(r >= 200 * 1.15 && r <= 200 * 1.05 * 1.15 + 1e-9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizer_calibrated),
		cmocka_unit_test(test_sizer_young_borrows_profile),
		cmocka_unit_test(test_policy_hysteresis_steps_bounds),
		cmocka_unit_test(test_bandit_learns_margin),
		cmocka_unit_test(test_vpa_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
