// SPDX-License-Identifier: MIT
/* The user-space side of the kernel's socket table: sweeping slots of processes that
 * exited, on a table in plain memory (no BPF: the overflow hash is empty). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "socktrack.h"

struct fixture {
	struct psc_socktable t;
	uint32_t overflow;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->t.slots = calloc(PSC_SOCK_SLOTS, sizeof(*f->t.slots));
	f->t.tgid_filter = calloc(PSC_TGID_SLOTS, sizeof(*f->t.tgid_filter));
	f->t.overflow = &f->overflow;
	f->t.overflow_fd = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->t.slots);
	free(f->t.tgid_filter);
	free(f);
	return 0;
}

/* What the kernel's sock_insert does for a key whose slot is free. */
static void put(struct fixture *f, uint32_t tgid, uint32_t fd)
{
	uint64_t key = (uint64_t)tgid << 32 | fd;

	f->t.slots[psc_sock_slot_of(key)].key = key;
	f->t.tgid_filter[tgid & (PSC_TGID_SLOTS - 1)]++;
}

static void sweep_frees_slots_of_exited_processes_only(void **state)
{
	struct fixture *f = *state;
	uint32_t me = (uint32_t)getpid();
	uint32_t gone = 0x3ffffff0; /* above pid_max: no such process */

	put(f, me, 5);
	put(f, gone, 5);
	put(f, gone, 6);
	assert_int_equal(psc_socktrack_sweep(&f->t), 2);
	assert_int_equal(f->t.slots[psc_sock_slot_of((uint64_t)me << 32 | 5)].key,
			 (uint64_t)me << 32 | 5);
	assert_int_equal(f->t.slots[psc_sock_slot_of((uint64_t)gone << 32 | 6)].key, 0);
	assert_int_equal(f->t.tgid_filter[gone & (PSC_TGID_SLOTS - 1)], 0);
	assert_int_equal(f->t.tgid_filter[me & (PSC_TGID_SLOTS - 1)], 1);
	assert_int_equal(psc_socktrack_sweep(&f->t), 0);
}

/* Keys of one process on neighbouring fds must not pile up in one slot. */
static void slots_spread_neighbouring_fds(void **state)
{
	(void)state;
	uint32_t seen[64];

	for (uint32_t fd = 0; fd < 64; fd++) {
		seen[fd] = psc_sock_slot_of((uint64_t)1234 << 32 | fd);
		assert_true(seen[fd] < PSC_SOCK_SLOTS);
		for (uint32_t j = 0; j < fd; j++)
			assert_int_not_equal(seen[j], seen[fd]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sweep_frees_slots_of_exited_processes_only, setup,
						teardown),
		cmocka_unit_test(slots_spread_neighbouring_fds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
