// SPDX-License-Identifier: MIT
/* The egress token bucket (bpf/egress.h): the same function the kernel program runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "egress.h"

#define NS PSC_NSEC_PER_SEC

static struct psc_egress_tb full(uint64_t rate, uint64_t burst, uint64_t now)
{
	return (struct psc_egress_tb){ .rate = rate, .burst = burst, .tokens = burst * NS,
				       .last_ns = now };
}

static void full_bucket_passes_the_burst_then_drops(void **state)
{
	struct psc_egress_tb tb = full(1000000, 100000, 1000);

	for (int i = 0; i < 100; i++)
		assert_int_equal(psc_egress_admit(&tb, 1000, 1000), 1);
	assert_int_equal(tb.tokens, 0);
	assert_int_equal(psc_egress_admit(&tb, 1000, 1), 0);
	/* A drop takes nothing: a smaller packet after a refill still fits. */
	assert_int_equal(psc_egress_admit(&tb, 1000, 100000), 0);
	assert_int_equal(tb.tokens, 0);
}

static void refill_is_elapsed_time_times_rate(void **state)
{
	struct psc_egress_tb tb = full(1000000, 100000, 0);

	tb.tokens = 0;
	/* 1 ms at 1 MB/s: exactly 1000 bytes. */
	assert_int_equal(psc_egress_admit(&tb, 1000000, 1001), 0);
	assert_int_equal(psc_egress_admit(&tb, 1000000, 1000), 1);
	assert_int_equal(tb.tokens, 0);
	assert_int_equal(tb.last_ns, 1000000);
	/* 2.5 ms more: 2500 bytes, taken in two packets. */
	assert_int_equal(psc_egress_admit(&tb, 3500000, 2000), 1);
	assert_int_equal(psc_egress_admit(&tb, 3500000, 501), 0);
	assert_int_equal(psc_egress_admit(&tb, 3500000, 500), 1);
}

static void sub_byte_refills_add_up(void **state)
{
	/* 1 MB/s is a thousandth of a byte per nanosecond: a packet every nanosecond must not
	 * round each refill down to nothing. */
	struct psc_egress_tb tb = full(1000000, 65536, 0);
	uint64_t t;

	tb.tokens = 0;
	for (t = 1; t < 1000; t++)
		assert_int_equal(psc_egress_admit(&tb, t, 1), 0);
	assert_int_equal(psc_egress_admit(&tb, 1000, 1), 1);
	assert_int_equal(psc_egress_admit(&tb, 1000, 1), 0);
}

static void refill_is_capped_by_the_burst(void **state)
{
	struct psc_egress_tb tb = full(1000000, 5000, 0);

	tb.tokens = 0;
	/* An hour idle refills the burst, no more. */
	assert_int_equal(psc_egress_admit(&tb, 3600 * NS, 0), 1);
	assert_int_equal(tb.tokens, 5000 * NS);
	assert_int_equal(psc_egress_admit(&tb, 3600 * NS, 5001), 0);
	assert_int_equal(psc_egress_admit(&tb, 3600 * NS, 5000), 1);
}

static void largest_rate_and_burst_do_not_overflow(void **state)
{
	struct psc_egress_tb tb = full(PSC_EGRESS_RATE_MAX, PSC_EGRESS_BURST_MAX, 0);

	tb.tokens = 0;
	/* A year idle at the largest rate: elapsed * rate would overflow 64 bits. */
	assert_int_equal(psc_egress_admit(&tb, 365ull * 86400 * NS, 1), 1);
	assert_int_equal(tb.tokens, PSC_EGRESS_BURST_MAX * NS - NS);
	/* Just below the cap: the refill is not rounded past it. */
	tb.tokens = PSC_EGRESS_BURST_MAX * NS - 3 * PSC_EGRESS_RATE_MAX;
	tb.last_ns = 0;
	assert_int_equal(psc_egress_admit(&tb, 2, 0), 1);
	assert_int_equal(tb.tokens, PSC_EGRESS_BURST_MAX * NS - PSC_EGRESS_RATE_MAX);
}

static void clock_going_back_refills_nothing(void **state)
{
	struct psc_egress_tb tb = full(1000000, 100000, 5000000);

	tb.tokens = 0;
	assert_int_equal(psc_egress_admit(&tb, 4000000, 1), 0);
	assert_int_equal(tb.last_ns, 5000000);
	assert_int_equal(tb.tokens, 0);
	assert_int_equal(psc_egress_admit(&tb, 6000000, 1000), 1);
}

/* A sender that offers far more than the rate: what passes over 10 s is the rate times
 * the time plus the initial burst, within one packet. */
static void greedy_sender_gets_the_rate(void **state)
{
	const uint64_t rate = 4000000, burst = 1000000, pkt = 1500;
	struct psc_egress_tb tb = full(rate, burst, 0);
	uint64_t passed = 0, dropped = 0;

	for (uint64_t t = 0; t <= 10 * NS; t += 100) {
		if (psc_egress_admit(&tb, t, pkt))
			passed += pkt;
		else
			dropped += pkt;
	}
	assert_in_range(passed, rate * 10 + burst - pkt, rate * 10 + burst);
	assert_true(dropped > 10 * passed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_bucket_passes_the_burst_then_drops),
		cmocka_unit_test(refill_is_elapsed_time_times_rate),
		cmocka_unit_test(sub_byte_refills_add_up),
		cmocka_unit_test(refill_is_capped_by_the_burst),
		cmocka_unit_test(largest_rate_and_burst_do_not_overflow),
		cmocka_unit_test(clock_going_back_refills_nothing),
		cmocka_unit_test(greedy_sender_gets_the_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
