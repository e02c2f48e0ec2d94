// SPDX-License-Identifier: MIT
/* The enforcement guards (agent/guard.h), one rule at a time. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"

#define MIB (1024ull * 1024)
#define GIB (1024 * MIB)

static const char *const demo[] = {"/demo", "/team/b/"};

static struct psc_guard_config config(void)
{
	struct psc_guard_config c = psc_guard_config_default();

	c.prefixes = demo;
	c.n_prefixes = 2;
	return c;
}

static void set(struct psc_cgroup_limits *l, enum psc_res r, uint64_t v)
{
	l->v[r] = v;
	l->present |= 1u << r;
}

/* A cgroup with a 1-core quota, weight 100, memory.max 1 GiB, memory.high 800 MiB, no
 * memory.min, no burst, 300 MiB in use, never changed. */
struct fixture {
	struct psc_cgroup_limits want, cur;
	double last[_PSC_RES_MAX];
	struct psc_guard_input in;
	struct psc_guard_decision d;
};

static void setup(struct fixture *f, const char *cgroup)
{
	memset(f, 0, sizeof(*f));
	set(&f->cur, PSC_RES_CPU_MAX, 1000000);
	f->cur.cpu_period_us = 100000;
	set(&f->cur, PSC_RES_CPU_WEIGHT, 100);
	set(&f->cur, PSC_RES_CPU_BURST, 0);
	set(&f->cur, PSC_RES_MEM_MIN, 0);
	set(&f->cur, PSC_RES_MEM_HIGH, 800 * MIB);
	set(&f->cur, PSC_RES_MEM_MAX, 1 * GIB);
	f->in = (struct psc_guard_input){
		.cgroup = cgroup,
		.want = &f->want,
		.current = &f->cur,
		.has_mem_usage = true,
		.mem_usage_bytes = 300 * MIB,
		.last_change = f->last,
		.now = 10000,
	};
}

static void decide(struct fixture *f)
{
	struct psc_guard_config c = config();

	assert_int_equal(psc_guard_decide(&c, &f->in, &f->d), 0);
}

static void test_prefixes(void **unused)
{
	struct psc_guard_config c = config(), none = psc_guard_config_default();
	static const char *const root[] = {"/"};
	struct psc_guard_config all = psc_guard_config_default();

	assert_true(psc_guard_managed(&c, "/demo"));
	assert_true(psc_guard_managed(&c, "/demo/x"));
	assert_true(psc_guard_managed(&c, "/demo/x/y"));
	assert_false(psc_guard_managed(&c, "/demo2"));
	assert_false(psc_guard_managed(&c, "/demo-x/demo"));
	assert_false(psc_guard_managed(&c, "/"));
	assert_false(psc_guard_managed(&c, "demo"));
	/* A trailing slash in the prefix is ignored. */
	assert_true(psc_guard_managed(&c, "/team/b"));
	assert_true(psc_guard_managed(&c, "/team/b/c"));
	assert_false(psc_guard_managed(&c, "/team/bb"));
	assert_false(psc_guard_managed(&c, "/team"));
	/* Default: nothing is managed. */
	assert_false(psc_guard_managed(&none, "/demo"));
	assert_false(psc_guard_managed(&none, "/"));
	all.prefixes = root;
	all.n_prefixes = 1;
	assert_true(psc_guard_managed(&all, "/anything/at/all"));
	assert_true(psc_guard_managed(&all, "/"));
}

static void test_not_managed_refused(void **unused)
{
	struct psc_guard_config none = psc_guard_config_default();
	struct fixture f;

	setup(&f, "/demo2");
	set(&f.want, PSC_RES_CPU_MAX, 1500000);
	decide(&f);
	assert_true(f.d.refused);
	assert_non_null(strstr(f.d.reason, "not managed"));
	assert_int_equal(f.d.write.present, 0);

	setup(&f, "/demo");
	set(&f.want, PSC_RES_CPU_MAX, 1500000);
	assert_int_equal(psc_guard_decide(&none, &f.in, &f.d), 0);
	assert_true(f.d.refused);
	assert_non_null(strstr(f.d.reason, "observe only"));
	assert_int_equal(psc_guard_decide(NULL, &f.in, &f.d), -EINVAL);
}

static void test_plain_write(void **unused)
{
	struct fixture f;

	setup(&f, "/demo/web");
	set(&f.want, PSC_RES_CPU_MAX, 1500000);
	set(&f.want, PSC_RES_CPU_WEIGHT, 150);
	set(&f.want, PSC_RES_MEM_MAX, 1536 * MIB);
	decide(&f);
	assert_false(f.d.refused);
	assert_int_equal(f.d.write.present, (1u << PSC_RES_CPU_MAX) | (1u << PSC_RES_CPU_WEIGHT) |
						    (1u << PSC_RES_MEM_MAX));
	assert_int_equal(f.d.write.v[PSC_RES_CPU_MAX], 1500000);
	assert_int_equal(f.d.write.v[PSC_RES_CPU_WEIGHT], 150);
	assert_int_equal(f.d.write.v[PSC_RES_MEM_MAX], 1536 * MIB);
	assert_int_equal(f.d.write.cpu_period_us, 100000);
	assert_int_equal(f.d.res[PSC_RES_CPU_MAX].action, PSC_GUARD_WRITE);
	assert_int_equal(f.d.res[PSC_RES_MEM_HIGH].action, PSC_GUARD_NONE);
}

static void test_memory_floor(void **unused)
{
	struct fixture f;

	/* 300 MiB used: the margin is 64 MiB (more than 10%): floor 364 MiB. */
	setup(&f, "/demo");
	set(&f.want, PSC_RES_MEM_MAX, 600 * MIB);
	set(&f.want, PSC_RES_MEM_HIGH, 500 * MIB);
	f.in.mem_usage_bytes = 300 * MIB;
	memset(&f.cur, 0, sizeof(f.cur));
	set(&f.cur, PSC_RES_MEM_MAX, PSC_LIMIT_UNLIMITED);
	set(&f.cur, PSC_RES_MEM_HIGH, PSC_LIMIT_UNLIMITED);
	set(&f.want, PSC_RES_MEM_MAX, 100 * MIB);
	decide(&f);
	assert_int_equal(f.d.write.v[PSC_RES_MEM_MAX], 364 * MIB);
	assert_int_equal(f.d.res[PSC_RES_MEM_MAX].action, PSC_GUARD_CLAMPED);
	assert_non_null(strstr(f.d.res[PSC_RES_MEM_MAX].note, "usage"));
	assert_int_equal(f.d.write.v[PSC_RES_MEM_HIGH], 500 * MIB);

	/* 2 GiB used: 10% (204.8 MiB) is more than 64 MiB. */
	f.in.mem_usage_bytes = 2 * GIB;
	set(&f.want, PSC_RES_MEM_MAX, 2 * GIB);
	decide(&f);
	assert_int_equal(f.d.write.v[PSC_RES_MEM_MAX], 2 * GIB + (2 * GIB) / 10);

	/* The floor wins over the step bound: current 1 GiB, 1.9 GiB used. */
	setup(&f, "/demo");
	f.in.mem_usage_bytes = 1900 * MIB;
	set(&f.want, PSC_RES_MEM_MAX, 1200 * MIB);
	decide(&f);
	assert_int_equal(f.d.write.v[PSC_RES_MEM_MAX], 1900 * MIB + 190 * MIB);

	/* Unknown usage: memory limits are not touched, cpu still is. */
	setup(&f, "/demo");
	f.in.has_mem_usage = false;
	set(&f.want, PSC_RES_MEM_MAX, 900 * MIB);
	set(&f.want, PSC_RES_CPU_MAX, 1200000);
	decide(&f);
	assert_false(f.d.refused);
	assert_int_equal(f.d.write.present, 1u << PSC_RES_CPU_MAX);
	assert_int_equal(f.d.res[PSC_RES_MEM_MAX].action, PSC_GUARD_SKIP);
	assert_non_null(strstr(f.d.res[PSC_RES_MEM_MAX].note, "usage unknown"));

	/* memory.min is a protection, not a limit: no floor. */
	setup(&f, "/demo");
	set(&f.want, PSC_RES_MEM_MIN, 10 * MIB);
	decide(&f);
	assert_int_equal(f.d.write.v[PSC_RES_MEM_MIN], 10 * MIB);
}

static void test_step_bound(void **unused)
{
	struct fixture f;

	setup(&f, "/demo");
	set(&f.want, PSC_RES_CPU_MAX, 8000000);	 /* 8x of 1 core */
	set(&f.want, PSC_RES_CPU_WEIGHT, 10);	 /* 0.1x of 100 */
	set(&f.want, PSC_RES_MEM_HIGH, 3 * GIB); /* 3.84x of 800 MiB */
	decide(&f);
	assert_int_equal(f.d.write.v[PSC_RES_CPU_MAX], 2000000);
	assert_int_equal(f.d.write.v[PSC_RES_CPU_WEIGHT], 50);
	assert_int_equal(f.d.write.v[PSC_RES_MEM_HIGH], 1600 * MIB);
	assert_int_equal(f.d.res[PSC_RES_CPU_MAX].action, PSC_GUARD_CLAMPED);
	assert_non_null(strstr(f.d.res[PSC_RES_CPU_MAX].note, "step"));

	/* From no limit, any value is one step (the floors still hold). */
	setup(&f, "/demo");
	set(&f.cur, PSC_RES_CPU_MAX, PSC_LIMIT_UNLIMITED);
	set(&f.cur, PSC_RES_MEM_MAX, PSC_LIMIT_UNLIMITED);
	set(&f.want, PSC_RES_CPU_MAX, 250000);
	set(&f.want, PSC_RES_MEM_MAX, 512 * MIB);
	decide(&f);
	assert_int_equal(f.d.write.v[PSC_RES_CPU_MAX], 250000);
	assert_int_equal(f.d.write.v[PSC_RES_MEM_MAX], 512 * MIB);
	assert_int_equal(f.d.res[PSC_RES_CPU_MAX].action, PSC_GUARD_WRITE);

	/* A custom step. */
	struct psc_guard_config c = config();
	c.step_up = 1.5;
	c.step_down = 1 / 1.5;
	setup(&f, "/demo");
	set(&f.want, PSC_RES_CPU_MAX, 3000000);
	assert_int_equal(psc_guard_decide(&c, &f.in, &f.d), 0);
	assert_int_equal(f.d.write.v[PSC_RES_CPU_MAX], 1500000);
}

static void test_cooldown_lowers_only(void **unused)
{
	struct fixture f;

	/* Changed 10 s ago: a lowering waits, a raise does not. */
	setup(&f, "/demo");
	f.last[PSC_RES_CPU_MAX] = f.in.now - 10;
	f.last[PSC_RES_MEM_MAX] = f.in.now - 10;
	set(&f.want, PSC_RES_CPU_MAX, 600000);
	set(&f.want, PSC_RES_MEM_MAX, 1536 * MIB);
	decide(&f);
	assert_false(f.d.refused);
	assert_int_equal(f.d.write.present, 1u << PSC_RES_MEM_MAX);
	assert_int_equal(f.d.res[PSC_RES_CPU_MAX].action, PSC_GUARD_SKIP);
	assert_non_null(strstr(f.d.res[PSC_RES_CPU_MAX].note, "cooldown"));

	/* Only a lowering in cooldown: the adjustment is refused, with the reason. */
	memset(&f.want, 0, sizeof(f.want));
	set(&f.want, PSC_RES_CPU_MAX, 600000);
	decide(&f);
	assert_true(f.d.refused);
	assert_non_null(strstr(f.d.reason, "cpu_max: cooldown"));

	/* 31 s later it goes through; another resource never had a cooldown. */
	f.in.now += 21;
	decide(&f);
	assert_false(f.d.refused);
	assert_int_equal(f.d.write.v[PSC_RES_CPU_MAX], 600000);
	setup(&f, "/demo");
	f.last[PSC_RES_CPU_MAX] = f.in.now - 1;
	set(&f.want, PSC_RES_CPU_WEIGHT, 60);
	decide(&f);
	assert_int_equal(f.d.write.v[PSC_RES_CPU_WEIGHT], 60);
}

static void test_cpu_minimum(void **unused)
{
	struct fixture f;

	setup(&f, "/demo");
	set(&f.cur, PSC_RES_CPU_MAX, PSC_LIMIT_UNLIMITED);
	set(&f.want, PSC_RES_CPU_MAX, 1000); /* 0.001 cores */
	decide(&f);
	assert_int_equal(f.d.write.v[PSC_RES_CPU_MAX], 10000); /* 0.01 cores */
	assert_int_equal(f.d.res[PSC_RES_CPU_MAX].action, PSC_GUARD_CLAMPED);
	assert_non_null(strstr(f.d.res[PSC_RES_CPU_MAX].note, "minimum"));
	/* The minimum wins over the step: from 0.004 cores, 2x would stay below it. */
	setup(&f, "/demo");
	set(&f.cur, PSC_RES_CPU_MAX, 4000);
	set(&f.want, PSC_RES_CPU_MAX, 8000);
	decide(&f);
	assert_int_equal(f.d.write.v[PSC_RES_CPU_MAX], 10000);
	setup(&f, "/demo");
	set(&f.cur, PSC_RES_CPU_WEIGHT, 10000);
	set(&f.want, PSC_RES_CPU_WEIGHT, 20000);
	decide(&f);
	/* Weight 20000 is clamped to 10000, which is the current value: nothing to write. */
	assert_int_equal(f.d.res[PSC_RES_CPU_WEIGHT].action, PSC_GUARD_UNCHANGED);
	assert_false(f.d.write.present & (1u << PSC_RES_CPU_WEIGHT));
}

static void test_unchanged_and_unreadable(void **unused)
{
	struct fixture f;

	/* Everything already in effect: not refused, nothing written. */
	setup(&f, "/demo");
	set(&f.want, PSC_RES_CPU_MAX, 1000000);
	decide(&f);
	assert_false(f.d.refused);
	assert_int_equal(f.d.write.present, 0);
	assert_int_equal(f.d.res[PSC_RES_CPU_MAX].action, PSC_GUARD_UNCHANGED);

	/* A current value that could not be read: skipped. */
	setup(&f, "/demo");
	f.cur.present &= ~(1u << PSC_RES_MEM_MIN);
	set(&f.want, PSC_RES_MEM_MIN, 64 * MIB);
	decide(&f);
	assert_true(f.d.refused);
	assert_non_null(strstr(f.d.reason, "memory_min: current value unreadable"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefixes),    cmocka_unit_test(test_not_managed_refused),
		cmocka_unit_test(test_plain_write), cmocka_unit_test(test_memory_floor),
		cmocka_unit_test(test_step_bound),  cmocka_unit_test(test_cooldown_lowers_only),
		cmocka_unit_test(test_cpu_minimum), cmocka_unit_test(test_unchanged_and_unreadable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
