// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hashmap.h"

static void put_get_remove_under_churn(void **state)
{
	struct psc_hashmap *m = NULL;
	static char present[20000];

	assert_int_equal(psc_hashmap_new(&m), 0);
	for (uint64_t round = 0; round < 5; round++) {
		for (uint64_t k = 0; k < 20000; k++) {
			assert_int_equal(psc_hashmap_put(m, k * 7919, &present[k]), 0);
			present[k] = 1;
		}
		for (uint64_t k = 0; k < 20000; k += 2) {
			assert_ptr_equal(psc_hashmap_remove(m, k * 7919), &present[k]);
			present[k] = 0;
		}
		for (uint64_t k = 0; k < 20000; k++)
			assert_ptr_equal(psc_hashmap_get(m, k * 7919), present[k] ? &present[k] : NULL);
		for (uint64_t k = 1; k < 20000; k += 2)
			assert_non_null(psc_hashmap_remove(m, k * 7919));
		assert_int_equal(psc_hashmap_size(m), 0);
	}
	psc_hashmap_free(&m);
	assert_null(m);
}

static void iteration_removal_visits_every_entry_once(void **state)
{
	struct psc_hashmap *m = NULL;
	static int seen[5000];
	size_t iter = 0;
	uint64_t key;
	void *value;
	int visited = 0;

	assert_int_equal(psc_hashmap_new(&m), 0);
	for (uint64_t k = 0; k < 5000; k++)
		assert_int_equal(psc_hashmap_put(m, k, &seen[k]), 0);
	while (psc_hashmap_next(m, &iter, &key, &value)) {
		assert_ptr_equal(value, &seen[key]);
		seen[key]++;
		visited++;
		if (key % 3 == 0)
			psc_hashmap_iter_remove(m, &iter);
	}
	for (int k = 0; k < 5000; k++)
		assert_true(seen[k] >= 1);
	assert_int_equal(psc_hashmap_size(m), 5000 - 1667);
	for (uint64_t k = 0; k < 5000; k++)
		assert_true((psc_hashmap_get(m, k) == NULL) == (k % 3 == 0));
	psc_hashmap_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_get_remove_under_churn),
		cmocka_unit_test(iteration_removal_visits_every_entry_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
