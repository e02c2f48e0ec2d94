// SPDX-License-Identifier: MIT
/* Shift detection: Shewhart and CUSUM on residuals, novelty of the recent shape, change
 * points on behaviour vectors. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "detect.h"
#include "mathutil.h"
#include "novelty.h"

static struct psc_detector *new_detector(void)
{
	struct psc_detector_cfg cfg;
	struct psc_detector *d = NULL;

	psc_detector_cfg_default(&cfg);
	assert_int_equal(psc_detector_new(&d, &cfg), 0);
	return d;
}

#define ALARM 0.49 /* score of a 1-in-1000 event with the default decades = 3 */

/* Alarms over stationary noise, then the delay until a step of @shift sd alarms. */
static void run_step(double shift, int *noise_alarms, int *delay, struct psc_detection *at)
{
	struct psc_detector *d = new_detector();
	struct psc_detection det;
	struct psc_rng rng;

	psc_rng_seed(&rng, 11);
	*noise_alarms = 0;
	for (int i = 0; i < 3000; i++) {
		psc_detector_update(d, psc_rng_normal(&rng), 0, &det);
		assert_true(det.score >= 0 && det.score <= 1);
		*noise_alarms += i > 100 && det.score >= ALARM;
	}
	*delay = -1;
	for (int i = 0; i < 200; i++) {
		psc_detector_update(d, shift + psc_rng_normal(&rng), 0, &det);
		if (det.score >= ALARM) {
			*delay = i;
			*at = det;
			break;
		}
	}
	psc_detector_free(&d);
	assert_null(d);
}

static void test_cusum_fires_on_step_not_on_noise(void **state)
{
	int alarms, delay;
	struct psc_detection at;

	run_step(1.5, &alarms, &delay, &at);
	/* 2900 rows of N(0,1): a false alarm rate of the order of 1 in 1000 rows... */
	assert_true(alarms <= 6);
	/* ...and a 1.5 sd level shift alarms within 30 rows, by the CUSUM, upwards, with a
	 * start close to the true change (row 3000) */
	assert_true(delay >= 0 && delay < 30);
	assert_int_equal(at.chart, PSC_CHART_CUSUM);
	assert_int_equal(at.direction, 1);
	assert_true(at.start >= 2985 && at.start <= 3000 + (uint64_t)delay);

	run_step(-1.5, &alarms, &delay, &at);
	assert_true(delay >= 0 && delay < 30);
	assert_int_equal(at.direction, -1);
}

static void test_shewhart_fires_on_spike(void **state)
{
	struct psc_detector *d = new_detector();
	struct psc_detection det;
	struct psc_rng rng;
	double noise_max = 0;

	psc_rng_seed(&rng, 12);
	for (int i = 0; i < 2000; i++) {
		psc_detector_update(d, 5 + psc_rng_normal(&rng), 5, &det);
		if (i > 100)
			noise_max = fmax(noise_max, det.score);
	}
	psc_detector_update(d, 5 + 12, 5, &det);
	assert_true(det.score > 0.58);
	assert_true(det.score > noise_max + 0.04);
	assert_int_equal(det.chart, PSC_CHART_SHEWHART);
	assert_true(det.z > 5);
	assert_true(det.baseline == 5);
	psc_detector_free(&d);
}

static void test_quantised_constant_series(void **state)
{
	struct psc_detector *d = new_detector();
	struct psc_detection det;

	/* a flat series must not divide by zero, and any change is news */
	for (int i = 0; i < 500; i++) {
		psc_detector_update(d, 1, 1, &det);
		assert_true(det.score == 0);
	}
	psc_detector_update(d, 2, 1, &det);
	assert_true(det.score > 0.3);
	psc_detector_update(d, NAN, 1, &det);
	assert_true(det.score == 0);
	psc_detector_free(&d);
}

static void test_bad_config(void **state)
{
	struct psc_detector_cfg cfg;
	struct psc_detector *d = NULL;

	psc_detector_cfg_default(&cfg);
	cfg.window = 2;
	assert_int_equal(psc_detector_new(&d, &cfg), -EINVAL);
	assert_null(d);
	psc_detector_free(NULL);
}

/* A pattern seen before is near its past; a level never visited is far from it. */
static void test_novelty_distance(void **state)
{
	struct psc_novelty_cfg cfg = {.dim = 16, .history = 512, .k = 3};
	struct psc_novelty *nv = NULL;
	struct psc_rng rng;
	struct psc_novelty_match m;
	double seen_max = 0;

	psc_rng_seed(&rng, 21);
	assert_int_equal(psc_novelty_new(&nv, &cfg), 0);
	/* not enough history yet */
	assert_true(isnan(psc_novelty_update(nv, 0, &m)));
	assert_true(isnan(m.nearest));
	for (int i = 1; i < 1500; i++) {
		double x = 10 * sin(2 * M_PI * i / 50) + 0.1 * psc_rng_normal(&rng);
		double dist = psc_novelty_update(nv, x, &m);
		if (i > 600) {
			seen_max = fmax(seen_max, dist);
			assert_true(fabs(m.nearest - x) < 1.5);
		}
	}
	/* the sine seen 10 times: its neighbours are within the noise */
	assert_true(seen_max < 0.5);
	double dist = psc_novelty_update(nv, 30, &m);
	assert_true(dist > 1.0);
	assert_true(m.nearest < 11);
	assert_int_equal(m.onset, 0);
	/* a new level, 4 values in: the shape departs from its neighbour 3 steps back */
	for (int i = 0; i < 3; i++)
		dist = psc_novelty_update(nv, 30, &m);
	assert_true(dist > 3.0);
	assert_int_equal(m.onset, 3);
	/* an exact repeat departs nowhere: onset 0, distance 0 */
	struct psc_novelty_cfg flat = {.dim = 4, .history = 64, .k = 1};
	struct psc_novelty *nf = NULL;
	assert_int_equal(psc_novelty_new(&nf, &flat), 0);
	for (int i = 0; i < 40; i++)
		dist = psc_novelty_update(nf, 7, &m);
	assert_true(dist == 0);
	assert_int_equal(m.onset, 0);
	assert_true(m.nearest == 7);
	psc_novelty_free(&nf);
	psc_novelty_free(&nv);
	assert_null(nv);
	psc_novelty_free(NULL);

	cfg.dim = PSC_NOVELTY_MAX_DIM + 1;
	assert_int_equal(psc_novelty_new(&nv, &cfg), -EINVAL);
	assert_null(nv);
}

/* A forecaster that follows every move leaves residuals of 0: only the novelty of the
 * actual values can see that the series left its usual range. */
static double followed_shift(uint32_t charts, struct psc_detection *at, int *delay,
			     int *noise_alarms)
{
	struct psc_detector_cfg cfg;
	struct psc_detector *d = NULL;
	struct psc_detection det;
	struct psc_rng rng;
	double best = 0;

	psc_detector_cfg_default(&cfg);
	cfg.charts = charts;
	assert_int_equal(psc_detector_new(&d, &cfg), 0);
	psc_rng_seed(&rng, 22);
	*noise_alarms = 0;
	*delay = -1;
	for (int i = 0; i < 3200; i++) {
		double x = 20 + 3 * sin(2 * M_PI * i / 48) + psc_rng_normal(&rng) +
			   (i >= 3000 ? 8 : 0);
		psc_detector_update(d, x, x, &det);
		if (i > 100 && i < 3000)
			*noise_alarms += det.score >= ALARM;
		if (i >= 3000 && *delay < 0 && det.score >= ALARM) {
			*delay = i - 3000;
			*at = det;
		}
		if (i >= 3000)
			best = fmax(best, det.score);
	}
	psc_detector_free(&d);
	return best;
}

static void test_novelty_sees_what_the_forecast_follows(void **state)
{
	struct psc_detection at;
	int delay, alarms;

	followed_shift(1u << PSC_CHART_SHEWHART | 1u << PSC_CHART_CUSUM, &at, &delay, &alarms);
	assert_int_equal(delay, -1);
	followed_shift(1u << PSC_CHART_SHEWHART | 1u << PSC_CHART_CUSUM | 1u << PSC_CHART_NOVELTY,
		       &at, &delay, &alarms);
	assert_true(alarms <= 6);
	assert_true(delay >= 0 && delay < 16);
	assert_int_equal(at.chart, PSC_CHART_NOVELTY);
	assert_int_equal(at.direction, 1);
	/* named from where the shape departs from its nearest past, i.e. the shift */
	assert_true(at.start >= 2998 && at.start <= 3000);
	assert_true(at.baseline < 26);
	assert_string_equal(psc_chart_name(at.chart), "novelty");
}

/* One alarm per episode: a second, larger spike is damped while the
 * first alarm's level is held, and alarms again once it has decayed. */
static double second_spike(uint32_t hold, int gap)
{
	struct psc_detector_cfg cfg;
	struct psc_detector *d = NULL;
	struct psc_detection det;
	struct psc_rng rng;

	psc_detector_cfg_default(&cfg);
	cfg.hold = hold;
	cfg.charts = 1u << PSC_CHART_SHEWHART;
	assert_int_equal(psc_detector_new(&d, &cfg), 0);
	psc_rng_seed(&rng, 23);
	for (int i = 0; i < 2000; i++)
		psc_detector_update(d, psc_rng_normal(&rng), 0, &det);
	psc_detector_update(d, 12, 0, &det);
	assert_true(det.score > 0.58);
	for (int i = 1; i < gap; i++)
		psc_detector_update(d, psc_rng_normal(&rng), 0, &det);
	/* larger than the first, which is now part of the reference */
	psc_detector_update(d, 16, 0, &det);
	psc_detector_free(&d);
	return det.score;
}

static void test_alarm_level_is_held(void **state)
{
	assert_true(second_spike(100, 80) < ALARM);
	assert_true(second_spike(0, 80) > ALARM);
	assert_true(second_spike(100, 200) > ALARM);
}

static void test_cpd_names_the_moving_dimension(void **state)
{
	struct psc_cpd_cfg cfg = {.dims = 5};
	struct psc_cpd *c = NULL;
	struct psc_shift sh;
	struct psc_rng rng;
	double x[5], noise_max = 0;

	psc_rng_seed(&rng, 13);
	assert_int_equal(psc_cpd_new(&c, &cfg), 0);
	for (int i = 0; i < 300; i++) {
		for (int j = 0; j < 5; j++)
			x[j] = (j + 1) * 10 * (1 + 0.05 * psc_rng_normal(&rng));
		psc_cpd_update(c, x, &sh);
		if (i > 50)
			noise_max = fmax(noise_max, sh.score);
	}
	int found = -1;
	for (int i = 0; i < 30 && found < 0; i++) {
		for (int j = 0; j < 5; j++)
			x[j] = (j + 1) * 10 * (1 + 0.05 * psc_rng_normal(&rng)) * (j == 3 ? 2 : 1);
		psc_cpd_update(c, x, &sh);
		if (sh.score > noise_max + 0.05)
			found = i;
	}
	assert_true(found >= 0 && found < 5);
	assert_int_equal(sh.dim, 3);
	assert_int_equal(sh.direction, 1);
	assert_true(sh.ratio > 1.7 && sh.ratio < 2.3);
	assert_true(fabs(sh.baseline - 40) < 2);
	assert_true(sh.start >= 299 && sh.start <= 300 + (uint64_t)found);
	psc_cpd_free(&c);
	assert_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cusum_fires_on_step_not_on_noise),
		cmocka_unit_test(test_shewhart_fires_on_spike),
		cmocka_unit_test(test_quantised_constant_series),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_novelty_distance),
		cmocka_unit_test(test_novelty_sees_what_the_forecast_follows),
		cmocka_unit_test(test_alarm_level_is_held),
		cmocka_unit_test(test_cpd_names_the_moving_dimension),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
