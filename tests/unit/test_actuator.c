// SPDX-License-Identifier: MIT
/* The cgroupfs writer (agent/actuator.h) on fixture trees made in a temporary directory:
 * a cgroup v2 root and a v1/v2 hybrid (memory and cpu,cpuacct hierarchies), with plain
 * files in the kernel's formats. Apply, read back and revert, for each kind of file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "actuator.h"
#include "cgroupfs.h"
#include "fixture_tree.h"

#define MIB (1024ull * 1024)

static struct psc_fixture_tree tree;
static const char *root = tree.root;

static void put(const char *rel, const char *text)
{
	psc_fixture_put(&tree, rel, text);
}

static const char *get(const char *rel)
{
	return psc_fixture_get(&tree, rel);
}

static void mkdirs(const char *rel)
{
	psc_fixture_mkdirs(&tree, rel);
}

static int make_root(void)
{
	return psc_fixture_tree_new(&tree, "actuator");
}

/* A v2 root with /demo/web carrying every limit file. */
static int setup_v2(void **unused)
{
	if (make_root() < 0)
		return -1;
	mkdirs("demo/web");
	put("cgroup.controllers", "cpuset cpu io memory pids\n");
	put("demo/web/cgroup.procs", "");
	put("demo/web/cpu.max", "max 100000\n");
	put("demo/web/cpu.weight", "100\n");
	put("demo/web/cpu.max.burst", "0\n");
	put("demo/web/memory.min", "0\n");
	put("demo/web/memory.high", "max\n");
	put("demo/web/memory.max", "max\n");
	put("demo/web/memory.current", "104857600\n");
	return 0;
}

/* A hybrid root: v1 memory and co-mounted cpu,cpuacct, a controller-less cgroup2. */
static int setup_v1(void **unused)
{
	if (make_root() < 0)
		return -1;
	mkdirs("memory/demo/web");
	mkdirs("cpu,cpuacct/demo/web");
	mkdirs("unified/demo/web");
	put("unified/cgroup.controllers", "");
	put("memory/memory.usage_in_bytes", "1000000000\n");
	put("memory/demo/web/memory.usage_in_bytes", "104857600\n");
	put("memory/demo/web/memory.limit_in_bytes", "9223372036854771712\n");
	put("memory/demo/web/memory.soft_limit_in_bytes", "9223372036854771712\n");
	put("memory/demo/web/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
	put("cpu,cpuacct/cpu.shares", "1024\n");
	put("cpu,cpuacct/cpuacct.usage", "1\n");
	put("cpu,cpuacct/demo/web/cpu.shares", "1024\n");
	put("cpu,cpuacct/demo/web/cpu.cfs_quota_us", "-1\n");
	put("cpu,cpuacct/demo/web/cpu.cfs_period_us", "100000\n");
	put("cpu,cpuacct/demo/web/cpu.cfs_burst_us", "0\n");
	return 0;
}

static int teardown(void **unused)
{
	return psc_fixture_tree_remove(&tree);
}

static struct psc_actuator *actuator(struct psc_cgroupfs_layout *l)
{
	struct psc_actuator *a = NULL;

	assert_int_equal(psc_cgroupfs_detect(root, l), 0);
	assert_int_equal(psc_actuator_cgroupfs_new(&a, l), 0);
	assert_non_null(a);
	assert_string_equal(psc_actuator_name(a), "cgroupfs");
	return a;
}

static void want(struct psc_cgroup_limits *l, enum psc_res r, uint64_t v)
{
	l->v[r] = v;
	l->present |= 1u << r;
}

static void test_v2_apply_read_revert(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_actuator *a = actuator(&l);
	struct psc_cgroup_limits before, w = {0}, now;
	struct psc_actuator_result res;

	assert_int_equal(l.mode, PSC_CGROUP_V2);
	assert_int_equal(psc_actuator_read(a, "/demo/web", &before), 0);
	assert_int_equal(before.present, (1u << _PSC_RES_MAX) - 1);
	assert_int_equal(before.v[PSC_RES_CPU_MAX], PSC_LIMIT_UNLIMITED);
	assert_int_equal(before.cpu_period_us, 100000);
	assert_int_equal(before.v[PSC_RES_CPU_WEIGHT], 100);
	assert_int_equal(before.v[PSC_RES_MEM_MAX], PSC_LIMIT_UNLIMITED);

	want(&w, PSC_RES_CPU_MAX, 1500000); /* 1.5 cores */
	want(&w, PSC_RES_CPU_WEIGHT, 250);
	want(&w, PSC_RES_CPU_BURST, 20000);
	want(&w, PSC_RES_MEM_MIN, 64 * MIB);
	want(&w, PSC_RES_MEM_HIGH, 400 * MIB);
	want(&w, PSC_RES_MEM_MAX, 512 * MIB);
	assert_int_equal(psc_actuator_apply(a, "/demo/web", &w, &res), 0);
	assert_int_equal(res.asked, (1u << _PSC_RES_MAX) - 1);
	assert_int_equal(res.written, res.asked);
	assert_string_equal(get("demo/web/cpu.max"), "150000 100000");
	assert_string_equal(get("demo/web/cpu.weight"), "250");
	assert_string_equal(get("demo/web/cpu.max.burst"), "20000");
	assert_string_equal(get("demo/web/memory.min"), "67108864");
	assert_string_equal(get("demo/web/memory.high"), "419430400");
	assert_string_equal(get("demo/web/memory.max"), "536870912");
	assert_string_equal(res.res[PSC_RES_MEM_MAX].file, "memory.max");
	assert_true(res.res[PSC_RES_MEM_MAX].has_before && res.res[PSC_RES_MEM_MAX].has_after);
	assert_int_equal(res.res[PSC_RES_MEM_MAX].before, PSC_LIMIT_UNLIMITED);
	assert_int_equal(res.res[PSC_RES_MEM_MAX].after, 512 * MIB);
	assert_int_equal(res.res[PSC_RES_CPU_MAX].after, 1500000);

	/* Read back through the same interface, and through the usage reader. */
	assert_int_equal(psc_actuator_read(a, "/demo/web", &now), 0);
	for (int r = 0; r < _PSC_RES_MAX; r++)
		assert_int_equal(now.v[r], w.v[r]);
	struct psc_cgroup_usage u;
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/demo/web", &u), 0);
	assert_int_equal(u.limits.v[PSC_RES_MEM_HIGH], 400 * MIB);

	/* Revert: "max" comes back as "max", with the period kept. */
	assert_int_equal(psc_actuator_revert(a, "/demo/web", &before, &res), 0);
	assert_string_equal(get("demo/web/cpu.max"), "max 100000");
	assert_string_equal(get("demo/web/cpu.weight"), "100");
	assert_string_equal(get("demo/web/cpu.max.burst"), "0");
	assert_string_equal(get("demo/web/memory.min"), "0");
	assert_string_equal(get("demo/web/memory.high"), "max");
	assert_string_equal(get("demo/web/memory.max"), "max");
	psc_actuator_free(&a);
	assert_null(a);
}

static void test_v2_partial_and_errors(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_actuator *a = actuator(&l);
	struct psc_cgroup_limits w = {0};
	struct psc_actuator_result res;
	char p[PATH_MAX];

	/* A quota below the kernel's 1 ms minimum is written as 1 ms; another period is
	 * kept. */
	put("demo/web/cpu.max", "50000 50000\n");
	want(&w, PSC_RES_CPU_MAX, 10000); /* 0.01 cores: 500 us of 50 ms */
	assert_int_equal(psc_actuator_apply(a, "/demo/web", &w, &res), 0);
	assert_string_equal(get("demo/web/cpu.max"), "1000 50000");
	assert_int_equal(res.res[PSC_RES_CPU_MAX].after, 20000); /* what took effect */

	/* A missing file (controller not enabled): that resource fails, others are written. */
	snprintf(p, sizeof(p), "%s/demo/web/cpu.max.burst", root);
	assert_int_equal(unlink(p), 0);
	memset(&w, 0, sizeof(w));
	want(&w, PSC_RES_CPU_BURST, 1000);
	want(&w, PSC_RES_MEM_MAX, 256 * MIB);
	assert_int_equal(psc_actuator_apply(a, "/demo/web", &w, &res), -EIO);
	assert_int_equal(res.res[PSC_RES_CPU_BURST].err, -EOPNOTSUPP);
	assert_false(res.res[PSC_RES_CPU_BURST].has_before);
	assert_int_equal(res.written, 1u << PSC_RES_MEM_MAX);
	assert_string_equal(get("demo/web/memory.max"), "268435456");

	/* No such cgroup, a bad path: nothing written. */
	assert_int_equal(psc_actuator_apply(a, "/demo/gone", &w, &res), -ENOENT);
	assert_int_equal(psc_actuator_apply(a, "/demo/../demo/web", &w, &res), -EINVAL);
	assert_int_equal(res.written, 0);
	assert_true(psc_actuator_supports(a, PSC_RES_MEM_MIN));
	psc_actuator_free(&a);
}

static void test_v1_apply_read_revert(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_actuator *a = actuator(&l);
	struct psc_cgroup_limits before, w = {0}, now;
	struct psc_actuator_result res;

	assert_int_equal(l.mode, PSC_CGROUP_HYBRID);
	assert_false(psc_actuator_supports(a, PSC_RES_MEM_MIN));
	assert_true(psc_actuator_supports(a, PSC_RES_MEM_HIGH));
	assert_int_equal(psc_actuator_read(a, "/demo/web", &before), 0);
	assert_int_equal(before.present, (1u << _PSC_RES_MAX) - 1 - (1u << PSC_RES_MEM_MIN));
	assert_int_equal(before.v[PSC_RES_CPU_MAX], PSC_LIMIT_UNLIMITED);
	assert_int_equal(before.v[PSC_RES_CPU_WEIGHT], 100); /* 1024 shares */
	assert_int_equal(before.v[PSC_RES_MEM_MAX], PSC_LIMIT_UNLIMITED);
	assert_int_equal(before.v[PSC_RES_MEM_HIGH], PSC_LIMIT_UNLIMITED);

	want(&w, PSC_RES_CPU_MAX, 500000); /* 0.5 cores */
	want(&w, PSC_RES_CPU_WEIGHT, 200);
	want(&w, PSC_RES_CPU_BURST, 10000);
	want(&w, PSC_RES_MEM_MIN, 64 * MIB);
	want(&w, PSC_RES_MEM_HIGH, 300 * MIB);
	want(&w, PSC_RES_MEM_MAX, 400 * MIB);
	assert_int_equal(psc_actuator_apply(a, "/demo/web", &w, &res), -EIO);
	/* memory_min has no v1 equivalent: reported, the rest written. */
	assert_int_equal(res.res[PSC_RES_MEM_MIN].err, -EOPNOTSUPP);
	assert_int_equal(res.written, res.asked & ~(1u << PSC_RES_MEM_MIN));
	assert_string_equal(get("cpu,cpuacct/demo/web/cpu.cfs_quota_us"), "50000");
	assert_string_equal(get("cpu,cpuacct/demo/web/cpu.cfs_period_us"), "100000");
	assert_string_equal(get("cpu,cpuacct/demo/web/cpu.shares"), "2048");
	assert_string_equal(get("cpu,cpuacct/demo/web/cpu.cfs_burst_us"), "10000");
	assert_string_equal(get("memory/demo/web/memory.soft_limit_in_bytes"), "314572800");
	assert_string_equal(get("memory/demo/web/memory.limit_in_bytes"), "419430400");
	assert_string_equal(res.res[PSC_RES_MEM_MAX].file, "memory.limit_in_bytes");
	assert_string_equal(res.res[PSC_RES_CPU_WEIGHT].file, "cpu.shares");

	assert_int_equal(psc_actuator_read(a, "/demo/web", &now), 0);
	assert_int_equal(now.v[PSC_RES_CPU_MAX], 500000);
	assert_int_equal(now.v[PSC_RES_CPU_WEIGHT], 200);
	assert_int_equal(now.v[PSC_RES_MEM_MAX], 400 * MIB);

	/* The usage reader sees the same limits and the v1 OOM kill counter. */
	struct psc_cgroup_usage u;
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/demo/web", &u), 0);
	assert_true(u.present & PSC_CGU_OOM_KILLS);
	assert_int_equal(u.oom_kills, 3);
	assert_int_equal(u.limits.v[PSC_RES_CPU_MAX], 500000);

	/* Lowering the quota below the burst writes the burst first (the kernel wants
	 * burst <= quota); here only the order matters: both land. */
	memset(&w, 0, sizeof(w));
	want(&w, PSC_RES_CPU_MAX, 50000);
	want(&w, PSC_RES_CPU_BURST, 1000);
	assert_int_equal(psc_actuator_apply(a, "/demo/web", &w, &res), 0);
	assert_string_equal(get("cpu,cpuacct/demo/web/cpu.cfs_quota_us"), "5000");

	/* Revert to "unlimited": -1 for v1. */
	before.present &= ~(1u << PSC_RES_MEM_MIN);
	assert_int_equal(psc_actuator_revert(a, "/demo/web", &before, &res), 0);
	assert_string_equal(get("cpu,cpuacct/demo/web/cpu.cfs_quota_us"), "-1");
	assert_string_equal(get("cpu,cpuacct/demo/web/cpu.shares"), "1024");
	assert_string_equal(get("cpu,cpuacct/demo/web/cpu.cfs_burst_us"), "0");
	assert_string_equal(get("memory/demo/web/memory.limit_in_bytes"), "-1");
	assert_string_equal(get("memory/demo/web/memory.soft_limit_in_bytes"), "-1");
	psc_actuator_free(&a);
}

static void test_weight_shares(void **unused)
{
	for (uint64_t w = 1; w <= 10000; w++)
		assert_int_equal(psc_cgroupfs_shares_to_weight(psc_cgroupfs_weight_to_shares(w)),
				 w);
	assert_int_equal(psc_cgroupfs_weight_to_shares(100), 1024);
	assert_int_equal(psc_cgroupfs_weight_to_shares(1), 10);
	assert_int_equal(psc_cgroupfs_weight_to_shares(0), 2);
	assert_int_equal(psc_cgroupfs_weight_to_shares(10000), 102400);
	assert_int_equal(psc_cgroupfs_weight_to_shares(UINT64_MAX), 262144);
	assert_int_equal(psc_cgroupfs_shares_to_weight(2), 1);
	assert_int_equal(psc_cgroupfs_shares_to_weight(262144), 10000);
	assert_int_equal(psc_cgroupfs_shares_to_weight(UINT64_MAX), 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v2_apply_read_revert, setup_v2, teardown),
		cmocka_unit_test_setup_teardown(test_v2_partial_and_errors, setup_v2, teardown),
		cmocka_unit_test_setup_teardown(test_v1_apply_read_revert, setup_v1, teardown),
		cmocka_unit_test(test_weight_shares),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
