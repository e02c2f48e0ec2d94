// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hist.h"

static void bucket_bounds_are_consistent(void **state)
{
	for (uint64_t v = 0; v < 100000; v += 7) {
		unsigned b = psc_hist_bucket(v);
		assert_true(psc_hist_bucket_low(b) <= v);
		assert_true(v < psc_hist_bucket_low(b + 1));
	}
	assert_int_equal(psc_hist_bucket(UINT64_MAX), PSC_HIST_BUCKETS - 1);
}

static void quantiles_within_relative_error(void **state)
{
	static struct psc_hist h;

	psc_hist_reset(&h);
	for (uint64_t v = 1; v <= 10000; v++)
		psc_hist_add(&h, v);
	uint64_t p50 = psc_hist_quantile(&h, 0.5), p99 = psc_hist_quantile(&h, 0.99);
	assert_in_range(p50, 5000 * 0.93, 5000 * 1.07);
	assert_in_range(p99, 9900 * 0.93, 9900 * 1.07);
	assert_int_equal(psc_hist_quantile(&h, 1.0), 10000);
}

static void merge_equals_adding_everything(void **state)
{
	static struct psc_hist a, b, all;

	psc_hist_reset(&a);
	psc_hist_reset(&b);
	psc_hist_reset(&all);
	for (uint64_t v = 0; v < 5000; v++) {
		psc_hist_add(v % 2 ? &a : &b, v * 3);
		psc_hist_add(&all, v * 3);
	}
	psc_hist_merge(&a, &b);
	assert_int_equal(a.total, all.total);
	assert_int_equal(a.max, all.max);
	assert_memory_equal(a.counts, all.counts, sizeof(a.counts));
}

static void empty_histogram_is_zero(void **state)
{
	static struct psc_hist h;

	psc_hist_reset(&h);
	assert_int_equal(psc_hist_quantile(&h, 0.99), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bucket_bounds_are_consistent),
		cmocka_unit_test(quantiles_within_relative_error),
		cmocka_unit_test(merge_equals_adding_everything),
		cmocka_unit_test(empty_histogram_is_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
