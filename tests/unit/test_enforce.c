// SPDX-License-Identifier: MIT
/* Enforcement end to end in-process (agent/enforce.h): real Ed25519 keys and signed
 * adjustments, the real guards and the cgroupfs writer on a v2 fixture tree made in a
 * temporary directory, and the state file. Each case checks the outcome, its counter and
 * the files. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <sodium.h>
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
#include "enforce.h"
#include "fixture_tree.h"
#include "wire.h"

#define MIB  (1024ull * 1024)
#define HOST "host-a"
#define R(x) PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__##x

static struct psc_fixture_tree tree;
static const char *root = tree.root;
static char state_dir[PATH_MAX];
static double fake_now = 1700000000;
static uint8_t pk[PSC_SIGN_PK_BYTES], sk[PSC_SIGN_SK_BYTES];
static uint8_t other_pk[PSC_SIGN_PK_BYTES], other_sk[PSC_SIGN_SK_BYTES];
static const char *const managed[] = {"/demo"};

static double clock_now(void)
{
	return fake_now;
}

static void put(const char *rel, const char *text)
{
	psc_fixture_put(&tree, rel, text);
}

static const char *get(const char *rel)
{
	return psc_fixture_get(&tree, rel);
}

static int setup(void **unused)
{
	if (sodium_init() < 0)
		return -1;
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(other_pk, other_sk);
	if (psc_fixture_tree_new(&tree, "enforce") < 0)
		return -1;
	snprintf(state_dir, sizeof(state_dir), "%s/spool", root);
	mkdir(state_dir, 0700);
	put("cgroup.controllers", "cpu memory\n");
	psc_fixture_mkdirs(&tree, "demo/web");
	psc_fixture_mkdirs(&tree, "other");
	put("demo/web/cpu.max", "max 100000\n");
	put("demo/web/cpu.weight", "100\n");
	put("demo/web/memory.high", "max\n");
	put("demo/web/memory.max", "max\n");
	put("demo/web/memory.current", "104857600\n"); /* 100 MiB */
	put("other/cpu.max", "max 100000\n");
	put("other/memory.max", "max\n");
	put("other/memory.current", "1048576\n");
	fake_now = 1700000000;
	return 0;
}

static int teardown(void **unused)
{
	return psc_fixture_tree_remove(&tree);
}

struct env {
	struct psc_cgroupfs_layout layout;
	struct psc_actuator *act;
	struct psc_enforce *e;
};

static int egress_calls;
static uint64_t egress_rate;

static int set_egress(void *ctx, const char *cgroup, uint64_t rate)
{
	egress_calls++;
	egress_rate = rate;
	return 0;
}

static void env_open(struct env *v, bool dry_run, bool egress)
{
	struct psc_enforce_config c = {
		.host_id = HOST,
		.state_dir = state_dir,
		.guard = psc_guard_config_default(),
		.dry_run = dry_run,
		.layout = &v->layout,
		.set_egress = egress ? set_egress : NULL,
		.now = clock_now,
	};

	memset(v, 0, sizeof(*v));
	assert_int_equal(psc_cgroupfs_detect(root, &v->layout), 0);
	assert_int_equal(psc_actuator_cgroupfs_new(&v->act, &v->layout), 0);
	c.actuator = v->act;
	c.guard.prefixes = managed;
	c.guard.n_prefixes = 1;
	memcpy(c.sign_pk, pk, sizeof(pk));
	assert_int_equal(psc_enforce_new(&v->e, &c), 0);
}

static void env_close(struct env *v)
{
	psc_enforce_free(&v->e);
	assert_null(v->e);
	psc_actuator_free(&v->act);
}

/* Signs an adjustment (by @key) and hands it to the agent; returns the result. */
static int send(struct env *v, const uint8_t *key, uint64_t id, const char *host,
		const char *workload, const Prescient__Targets *t, double expires_in)
{
	Prescient__Adjustment adj = PRESCIENT__ADJUSTMENT__INIT;
	Prescient__SignedAdjustment sa;
	int r;

	adj.id = id;
	adj.host_id = (char *)host;
	adj.workload = (char *)workload;
	adj.targets = (Prescient__Targets *)t;
	adj.reason = "test: predicted peak";
	adj.issued_at = fake_now;
	adj.expires_at = fake_now + expires_in;
	assert_int_equal(psc_wire_adjustment_sign(&adj, key, &sa), 0);
	r = psc_enforce_handle(v->e, &sa);
	psc_wire_signed_clear(&sa);
	return r;
}

/* The last queued outcome. */
static const Prescient__AdjustmentOutcome *last_outcome(struct env *v)
{
	Prescient__AdjustmentOutcome **list;
	size_t n = psc_enforce_outcomes(v->e, &list);

	assert_true(n > 0);
	return list[n - 1];
}

static void test_applied_and_persisted(void **unused)
{
	Prescient__Targets t = PRESCIENT__TARGETS__INIT;
	struct env v;

	env_open(&v, false, false);
	t.cpu_max_cores = 1.5;
	t.memory_max_bytes = 512 * MIB;
	assert_int_equal(send(&v, sk, 10, HOST, "/demo/web", &t, 60), R(APPLIED));
	assert_string_equal(get("demo/web/cpu.max"), "150000 100000");
	assert_string_equal(get("demo/web/memory.max"), "536870912");
	const Prescient__AdjustmentOutcome *o = last_outcome(&v);
	assert_int_equal(o->adjustment_id, 10);
	assert_int_equal(o->result, R(APPLIED));
	assert_string_equal(o->workload, "/demo/web");
	assert_non_null(o->previous);
	assert_true(o->previous->cpu_max_cores < 0); /* was "max" */
	assert_int_equal(o->previous->memory_max_bytes, UINT64_MAX);
	assert_int_equal(o->previous->cpu_weight, 0); /* not changed */
	assert_non_null(strstr(o->detail, "memory_max"));
	assert_int_equal(psc_enforce_counters(v.e)->results[R(APPLIED)], 1);
	assert_int_equal(psc_enforce_counters(v.e)->writes, 2);
	assert_int_equal(psc_enforce_last_id(v.e), 10);

	/* The aggregator re-sends it until the outcome lands: ignored, no second outcome. */
	Prescient__AdjustmentOutcome **list;
	assert_int_equal(psc_enforce_outcomes(v.e, &list), 1);
	assert_int_equal(send(&v, sk, 10, HOST, "/demo/web", &t, 60), 0);
	assert_int_equal(psc_enforce_outcomes(v.e, &list), 1);
	assert_int_equal(psc_enforce_counters(v.e)->redelivered, 1);
	psc_enforce_outcomes_sent(v.e, 1);
	assert_int_equal(psc_enforce_outcomes(v.e, &list), 0);
	env_close(&v);

	/* A restarted agent knows the last id (a replay is refused) and what it changed. */
	env_open(&v, false, false);
	assert_int_equal(psc_enforce_last_id(v.e), 10);
	assert_int_equal(send(&v, sk, 10, HOST, "/demo/web", &t, 60), 0); /* re-delivery */
	Prescient__Targets t2 = PRESCIENT__TARGETS__INIT;
	t2.cpu_max_cores = 2;
	assert_int_equal(send(&v, sk, 9, HOST, "/demo/web", &t2, 60), R(REPLAYED));
	assert_string_equal(get("demo/web/cpu.max"), "150000 100000");
	assert_int_equal(psc_enforce_counters(v.e)->results[R(REPLAYED)], 1);
	o = last_outcome(&v);
	assert_int_equal(o->adjustment_id, 9);
	assert_int_equal(o->result, R(REPLAYED));
	/* Reported once, however often it comes back. */
	assert_int_equal(send(&v, sk, 9, HOST, "/demo/web", &t2, 60), 0);
	assert_int_equal(psc_enforce_counters(v.e)->results[R(REPLAYED)], 1);

	/* Revert restores the values before the first change. */
	assert_int_equal(psc_enforce_revert_all(v.e), 0);
	assert_string_equal(get("demo/web/cpu.max"), "max 100000");
	assert_string_equal(get("demo/web/memory.max"), "max");
	env_close(&v);
	/* ... and forgets them. */
	env_open(&v, false, false);
	assert_int_equal(psc_enforce_revert_all(v.e), 0);
	assert_string_equal(get("demo/web/memory.max"), "max");
	env_close(&v);
}

/* A managed cgroup removed before an adjustment for it arrives (its workload ended):
 * FAILED, nothing created, and what the agent remembered of it is forgotten. */
static void test_cgroup_gone(void **unused)
{
	Prescient__Targets t = PRESCIENT__TARGETS__INIT;
	char p[PATH_MAX];
	struct env v;

	psc_fixture_mkdirs(&tree, "demo/job");
	put("demo/job/cpu.max", "max 100000\n");
	put("demo/job/memory.max", "max\n");
	put("demo/job/memory.current", "1048576\n");
	env_open(&v, false, false);
	t.cpu_max_cores = 1;
	assert_int_equal(send(&v, sk, 20, HOST, "/demo/job", &t, 60), R(APPLIED));
	assert_non_null(strstr(get("spool/enforce.state"), "/demo/job"));

	static const char *const files[] = {"cpu.max", "memory.max", "memory.current"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/demo/job/%s", root, files[i]);
		assert_int_equal(unlink(p), 0);
	}
	snprintf(p, sizeof(p), "%s/demo/job", root);
	assert_int_equal(rmdir(p), 0);

	t.cpu_max_cores = 2;
	assert_int_equal(send(&v, sk, 21, HOST, "/demo/job", &t, 60), R(FAILED));
	const Prescient__AdjustmentOutcome *o = last_outcome(&v);
	assert_int_equal(o->adjustment_id, 21);
	assert_non_null(strstr(o->detail, "gone"));
	assert_null(o->previous);
	assert_int_equal(access(p, F_OK), -1); /* not re-created */
	assert_null(strstr(get("spool/enforce.state"), "/demo/job"));
	assert_int_equal(psc_enforce_counters(v.e)->results[R(FAILED)], 1);
	/* Nothing stale to revert, and the agent goes on with the others. */
	assert_int_equal(psc_enforce_revert_all(v.e), 0);
	t.cpu_max_cores = 0.5;
	assert_int_equal(send(&v, sk, 22, HOST, "/demo/web", &t, 60), R(APPLIED));
	env_close(&v);
}

static void test_dry_run(void **unused)
{
	Prescient__Targets t = PRESCIENT__TARGETS__INIT;
	struct env v;

	env_open(&v, true, false);
	t.cpu_max_cores = 0.5;
	t.cpu_weight = 200;
	assert_int_equal(send(&v, sk, 1, HOST, "/demo/web", &t, 60), R(DRY_RUN));
	assert_string_equal(get("demo/web/cpu.max"), "max 100000");
	assert_string_equal(get("demo/web/cpu.weight"), "100");
	const Prescient__AdjustmentOutcome *o = last_outcome(&v);
	assert_int_equal(o->result, R(DRY_RUN));
	assert_int_equal(o->previous->cpu_weight, 100);
	assert_non_null(strstr(o->detail, "cpu_weight 100 -> 200"));
	assert_int_equal(psc_enforce_counters(v.e)->results[R(DRY_RUN)], 1);
	assert_int_equal(psc_enforce_counters(v.e)->writes, 0);
	env_close(&v);
}

static void test_not_managed(void **unused)
{
	Prescient__Targets t = PRESCIENT__TARGETS__INIT;
	struct env v;

	env_open(&v, false, false);
	t.memory_max_bytes = 512 * MIB;
	/* Valid, signed, for this host: still refused, the files untouched. */
	assert_int_equal(send(&v, sk, 3, HOST, "/other", &t, 60), R(REFUSED_GUARD));
	assert_string_equal(get("other/memory.max"), "max");
	const Prescient__AdjustmentOutcome *o = last_outcome(&v);
	assert_non_null(strstr(o->detail, "not managed"));
	assert_null(o->previous);
	/* Nor a path that only starts like a managed one. */
	assert_int_equal(send(&v, sk, 4, HOST, "/demo/../other", &t, 60), R(REFUSED_GUARD));
	assert_non_null(strstr(last_outcome(&v)->detail, "not a cgroup path"));
	assert_string_equal(get("other/memory.max"), "max");
	/* Managed but gone (removed before or while the adjustment came): failed. */
	assert_int_equal(send(&v, sk, 5, HOST, "/demo/gone", &t, 60), R(FAILED));
	assert_non_null(strstr(last_outcome(&v)->detail, "cannot read the cgroup"));
	/* "/demo" does not manage "/demo2" (which does not even exist). */
	assert_int_equal(send(&v, sk, 6, HOST, "/demo2", &t, 60), R(REFUSED_GUARD));
	assert_int_equal(psc_enforce_counters(v.e)->results[R(FAILED)], 1);
	assert_int_equal(psc_enforce_counters(v.e)->results[R(REFUSED_GUARD)], 3);
	/* A refusal by a guard still uses up the id. */
	assert_int_equal(psc_enforce_last_id(v.e), 6);
	env_close(&v);
}

static void test_below_usage_clamped(void **unused)
{
	Prescient__Targets t = PRESCIENT__TARGETS__INIT;
	struct env v;

	env_open(&v, false, false);
	/* 100 MiB in use; asked 50 MiB: clamped up to usage + 64 MiB. */
	t.memory_max_bytes = 50 * MIB;
	t.memory_high_bytes = 20 * MIB;
	assert_int_equal(send(&v, sk, 7, HOST, "/demo/web", &t, 60), R(APPLIED));
	assert_string_equal(get("demo/web/memory.max"), "171966464"); /* 164 MiB */
	assert_string_equal(get("demo/web/memory.high"), "171966464");
	const Prescient__AdjustmentOutcome *o = last_outcome(&v);
	assert_non_null(strstr(o->detail, "clamped up to usage"));

	/* Lowering it again right away: in cooldown, refused; raising is fine. */
	put("demo/web/memory.current", "10485760\n");
	t.memory_high_bytes = 0;
	t.memory_max_bytes = 100 * MIB;
	assert_int_equal(send(&v, sk, 8, HOST, "/demo/web", &t, 60), R(REFUSED_GUARD));
	assert_non_null(strstr(last_outcome(&v)->detail, "cooldown"));
	assert_string_equal(get("demo/web/memory.max"), "171966464");
	t.memory_max_bytes = 200 * MIB;
	assert_int_equal(send(&v, sk, 9, HOST, "/demo/web", &t, 60), R(APPLIED));
	assert_string_equal(get("demo/web/memory.max"), "209715200");
	/* After the cooldown the lowering goes through (to the floor). */
	fake_now += 31;
	t.memory_max_bytes = 100 * MIB;
	assert_int_equal(send(&v, sk, 11, HOST, "/demo/web", &t, 60), R(APPLIED));
	assert_string_equal(get("demo/web/memory.max"), "104857600");
	env_close(&v);
}

static void test_refused_by_verification(void **unused)
{
	Prescient__Targets t = PRESCIENT__TARGETS__INIT;
	struct env v;

	env_open(&v, false, false);
	t.cpu_max_cores = 3;
	/* Forged: signed with another key. */
	assert_int_equal(send(&v, other_sk, 20, HOST, "/demo/web", &t, 60), R(BAD_SIGNATURE));
	assert_int_equal(last_outcome(&v)->adjustment_id, 20);
	assert_non_null(strstr(last_outcome(&v)->detail, "bad signature"));
	/* Expired. */
	assert_int_equal(send(&v, sk, 21, HOST, "/demo/web", &t, -1), R(EXPIRED));
	/* Another host's. */
	assert_int_equal(send(&v, sk, 22, "host-b", "/demo/web", &t, 60), R(WRONG_HOST));
	assert_non_null(strstr(last_outcome(&v)->detail, "host-b"));
	/* None of them touched anything or used up an id. */
	assert_string_equal(get("demo/web/cpu.max"), "max 100000");
	assert_int_equal(psc_enforce_last_id(v.e), 0);
	const struct psc_enforce_counters *c = psc_enforce_counters(v.e);
	assert_int_equal(c->results[R(BAD_SIGNATURE)], 1);
	assert_int_equal(c->results[R(EXPIRED)], 1);
	assert_int_equal(c->results[R(WRONG_HOST)], 1);
	assert_int_equal(c->writes, 0);
	/* Re-deliveries of refusals are reported once. */
	assert_int_equal(send(&v, other_sk, 20, HOST, "/demo/web", &t, 60), 0);
	assert_int_equal(c->results[R(BAD_SIGNATURE)], 1);
	/* Garbage is a bad signature, not a crash. */
	Prescient__SignedAdjustment junk = PRESCIENT__SIGNED_ADJUSTMENT__INIT;
	assert_int_equal(psc_enforce_handle(v.e, &junk), R(BAD_SIGNATURE));
	/* The genuine id 20 still goes through after the forged one. */
	assert_int_equal(send(&v, sk, 20, HOST, "/demo/web", &t, 60), R(APPLIED));
	assert_string_equal(get("demo/web/cpu.max"), "300000 100000");
	env_close(&v);
}

static void test_egress_hook(void **unused)
{
	Prescient__Targets t = PRESCIENT__TARGETS__INIT;
	struct env v;

	env_open(&v, false, false);
	t.egress_bytes_per_s = 1000000;
	assert_int_equal(send(&v, sk, 1, HOST, "/demo/web", &t, 60), R(REFUSED_GUARD));
	assert_non_null(strstr(last_outcome(&v)->detail, "egress rate limiting unavailable"));
	/* With other targets, those are applied and the egress part reported. */
	t.cpu_weight = 300;
	assert_int_equal(send(&v, sk, 2, HOST, "/demo/web", &t, 60), R(APPLIED));
	assert_string_equal(get("demo/web/cpu.weight"), "200"); /* one step: 2x of 100 */
	assert_non_null(strstr(last_outcome(&v)->detail, "egress rate limiting unavailable"));
	env_close(&v);

	egress_calls = 0;
	env_open(&v, false, true);
	t.cpu_weight = 0;
	assert_int_equal(send(&v, sk, 3, HOST, "/demo/web", &t, 60), R(APPLIED));
	assert_int_equal(egress_calls, 1);
	assert_int_equal(egress_rate, 1000000);
	env_close(&v);
}

static void test_bad_state_file(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_actuator *a = NULL;
	struct psc_enforce *e = NULL;
	struct psc_enforce_config c = {.host_id = HOST, .state_dir = state_dir, .layout = &l};
	char p[PATH_MAX + 32];
	FILE *f;

	assert_int_equal(psc_cgroupfs_detect(root, &l), 0);
	assert_int_equal(psc_actuator_cgroupfs_new(&a, &l), 0);
	c.actuator = a;
	snprintf(p, sizeof(p), "%s/%s", state_dir, PSC_ENFORCE_STATE_FILE);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("{\"last_id\": \"x\"", f);
	fclose(f);
	/* Refused: starting afresh would forget which ids were used. */
	assert_int_equal(psc_enforce_new(&e, &c), -EBADMSG);
	assert_null(e);
	psc_actuator_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_applied_and_persisted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_managed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_below_usage_clamped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_by_verification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_egress_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_state_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_gone, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
