// SPDX-License-Identifier: MIT
/* Profiles (mergeable hour-of-week sketches, borrowing, seasonality, cost quantiles) and
 * the explainable behaviour classifier with feedback. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "classify.h"
#include "mathutil.h"
#include "profile.h"

#define MONDAY 1392595200.0 /* 2014-02-17 00:00:00 UTC, a Monday */

static void test_sketch_accuracy_and_merge(void **state)
{
	struct psc_sketch a = { 0 }, b = { 0 }, all = { 0 };
	struct psc_rng rng;
	static double v[20000], s[20000];

	psc_rng_seed(&rng, 5);
	for (int i = 0; i < 20000; i++) {
		v[i] = i % 50 == 0 ? 0 : exp(2 + psc_rng_normal(&rng));
		assert_int_equal(psc_sketch_add(i % 2 ? &a : &b, v[i]), 0);
		assert_int_equal(psc_sketch_add(&all, v[i]), 0);
	}
	const double qs[] = { 0.01, 0.1, 0.5, 0.9, 0.99 };
	for (size_t i = 0; i < 5; i++) {
		double exact = psc_quantile(v, 20000, qs[i], s);
		double est = psc_sketch_quantile(&all, qs[i]);
		if (exact == 0)
			assert_true(est == 0);
		else
			assert_true(fabs(est - exact) / exact < 0.03);
	}
	assert_int_equal(psc_sketch_merge(&a, &b), 0);
	assert_int_equal(a.total, 20000);
	for (size_t i = 0; i < 5; i++)
		assert_true(psc_sketch_quantile(&a, qs[i]) == psc_sketch_quantile(&all, qs[i]));
	assert_true(all.n < 400); /* sparse: only occupied buckets */
	assert_int_equal(psc_sketch_add(&a, NAN), -EINVAL);
	psc_sketch_reset(&a);
	psc_sketch_reset(&b);
	psc_sketch_reset(&all);
	assert_true(isnan(psc_sketch_quantile(&a, 0.5)));
}

static void test_hour_of_week_and_seasonality(void **state)
{
	static struct psc_profile p;

	assert_int_equal(psc_hour_of_week(MONDAY), 0);
	assert_int_equal(psc_hour_of_week(MONDAY + 86400 + 13 * 3600 + 59), 37);
	assert_int_equal(psc_hour_of_week(MONDAY + 7 * 86400 - 1), 167);
	memset(&p, 0, sizeof(p));
	/* four weeks at 5 min: busy office hours on weekdays */
	for (int i = 0; i < 4 * 2016; i++) {
		double t = MONDAY + i * 300.0;
		unsigned how = psc_hour_of_week(t);
		int hod = how % 24, weekday = how / 24 < 5;
		double v = weekday && hod >= 9 && hod < 18 ? 100 : 10;
		assert_int_equal(psc_profile_add(&p, t, v + (i % 7)), 0);
	}
	double daily, wk;
	psc_profile_seasonality(&p, &daily, &wk);
	assert_true(daily > 0.5);
	assert_true(wk > 2);
	assert_true(psc_profile_quantile(&p, NULL, 10, 0.5, 0) > 90);
	assert_true(psc_profile_quantile(&p, NULL, 5 * 24 + 10, 0.5, 0) < 20);
	psc_profile_reset(&p);
}

static void test_young_workload_borrows(void **state)
{
	static struct psc_profile young, cluster;

	memset(&young, 0, sizeof(young));
	memset(&cluster, 0, sizeof(cluster));
	for (int i = 0; i < 100; i++)
		psc_profile_add(&cluster, MONDAY + 3 * 3600 + i, 50);
	/* no data of its own: the cluster's */
	assert_true(fabs(psc_profile_quantile(&young, &cluster, 3, 0.5, 10) - 50) < 2);
	/* 5 of 10 samples: halfway */
	for (int i = 0; i < 5; i++)
		psc_profile_add(&young, MONDAY + 3 * 3600 + i, 10);
	double q = psc_profile_quantile(&young, &cluster, 3, 0.5, 10);
	assert_true(q > 25 && q < 35);
	/* grown up: its own */
	for (int i = 0; i < 10; i++)
		psc_profile_add(&young, MONDAY + 3 * 3600 + i, 10);
	assert_true(fabs(psc_profile_quantile(&young, &cluster, 3, 0.5, 10) - 10) < 0.5);
	psc_profile_reset(&young);
	psc_profile_reset(&cluster);
}

static void test_cost_quantiles(void **state)
{
	static struct psc_profile cpu, req;
	struct psc_prices prices = { .cpu_core_hour = 0.05, .per_request = 1e-6 };
	const double qs[] = { 0.1, 0.5, 0.9 };
	double out[3];

	memset(&cpu, 0, sizeof(cpu));
	memset(&req, 0, sizeof(req));
	for (unsigned h = 0; h < PSC_HOURS_PER_WEEK; h++)
		for (int i = 0; i < 12; i++)
			psc_profile_add(&cpu, MONDAY + h * 3600.0 + i * 300, 2);
	assert_int_equal(psc_cost_quantiles(&cpu, NULL, NULL, NULL, &prices, PSC_COST_DAY, 0, 200,
					    1, qs, 3, out),
			 0);
	/* 2 cores x 24 h x 0.05 = 2.4, within the sketch's 2% */
	for (int i = 0; i < 3; i++)
		assert_true(fabs(out[i] - 2.4) < 0.05);
	/* variable request volume widens the band */
	struct psc_rng rng;
	psc_rng_seed(&rng, 9);
	for (unsigned h = 0; h < PSC_HOURS_PER_WEEK; h++)
		for (int i = 0; i < 20; i++)
			psc_profile_add(&req, MONDAY + h * 3600.0 + i,
					1e6 * exp(psc_rng_normal(&rng)));
	assert_int_equal(psc_cost_quantiles(&cpu, NULL, NULL, &req, &prices, PSC_COST_WEEK, 0, 400,
					    1, qs, 3, out),
			 0);
	assert_true(out[0] < out[1] && out[1] < out[2]);
	assert_true(out[0] > 0.05 * 168 * 2);
	assert_int_equal(psc_cost_quantiles(&cpu, NULL, NULL, NULL, &prices, PSC_COST_DAY, 0, 2, 1,
					    qs, 3, out),
			 -EINVAL);
	psc_profile_reset(&cpu);
	psc_profile_reset(&req);
}

static void test_classifier_priors_and_feedback(void **state)
{
	struct psc_classifier c;
	struct psc_class_result r;
	/* diurnal, duty, burstiness, cv, persistence, req rate, heavy */
	const double web[_PSC_CF_MAX] = { 0.7, 0.6, 0.3, 0.4, 0.9, 4.0, 0.3 };
	const double cron[_PSC_CF_MAX] = { 0.05, 0.1, 1.6, 2.0, 0.3, 0.0, 0.0 };
	const double olap[_PSC_CF_MAX] = { 0.1, 0.5, 0.5, 0.6, 0.8, 0.5, 1.2 };

	psc_classifier_init(&c);
	psc_classify(&c, web, &r);
	assert_int_equal(r.cls, PSC_CLASS_INTERACTIVE);
	assert_true(r.confidence > 0.5);
	psc_classify(&c, cron, &r);
	assert_int_equal(r.cls, PSC_CLASS_BATCH);
	/* the explanation ranks the contributions: burstiness or duty drive "batch" here */
	assert_true(r.reason[0].feature == PSC_CF_BURSTINESS || r.reason[0].feature == PSC_CF_CV ||
		    r.reason[0].feature == PSC_CF_DUTY);
	assert_true(fabs(r.reason[0].contribution) >= fabs(r.reason[1].contribution));
	psc_classify(&c, olap, &r);
	assert_int_equal(r.cls, PSC_CLASS_ANALYSIS);

	/* a user corrects: this bursty job is data analysis */
	assert_true(psc_classifier_feedback(&c, cron, PSC_CLASS_ANALYSIS) > 0);
	psc_classify(&c, cron, &r);
	assert_int_equal(r.cls, PSC_CLASS_ANALYSIS);
	assert_int_equal(c.feedback, 1);
	/* already right: no change */
	assert_int_equal(psc_classifier_feedback(&c, cron, PSC_CLASS_ANALYSIS), 0);
	/* the others are still recognised */
	psc_classify(&c, web, &r);
	assert_int_equal(r.cls, PSC_CLASS_INTERACTIVE);
	assert_string_equal(psc_class_name(PSC_CLASS_BATCH), "batch processing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sketch_accuracy_and_merge),
		cmocka_unit_test(test_hour_of_week_and_seasonality),
		cmocka_unit_test(test_young_workload_borrows),
		cmocka_unit_test(test_cost_quantiles),
		cmocka_unit_test(test_classifier_priors_and_feedback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
