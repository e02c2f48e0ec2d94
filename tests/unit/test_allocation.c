// SPDX-License-Identifier: MIT
/* Live allocation (aggregator/allocation.c) over a real store and the live modeling
 * engine: reports stored through the store API, modeling and allocation cycles run at
 * chosen times, adjustments verified with the public key, results read back with SQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocation.h"
#include "explain.h"
#include "log.h"
#include "modeling.h"
#include "store.h"
#include "wire.h"

#define T0 1800000000.0
#define SURGE_AT 120 /* window from which the managed workload's CPU quadruples */

static char dir[256];
static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

struct rep {
	Prescient__HostReport r;
	Prescient__WorkloadWindow w[2], *wp[2];
	Prescient__Targets lim[2];
};

/* Two workloads on host h1 (2 CPUs): /demo/web (managed, cpu.max 1 core) and /other (not
 * managed, no limits). */
static void build(struct rep *x, uint64_t seq, double web_limit)
{
	static char *cg[2] = { "/demo/web", "/other" };

	memset(x, 0, sizeof(*x));
	prescient__host_report__init(&x->r);
	x->r.schema_version = PSC_WIRE_SCHEMA_VERSION;
	x->r.host_id = "h1";
	x->r.agent_version = "t";
	x->r.seq = seq;
	x->r.window_start = T0 + 10.0 * (double)seq;
	x->r.window_end = x->r.window_start + 10;
	x->r.workloads = x->wp;
	x->r.n_workloads = 2;
	x->r.host_cpus = 2;
	x->r.host_memory_bytes = 4ull << 30;
	for (int i = 0; i < 2; i++) {
		Prescient__WorkloadWindow *w = &x->w[i];
		prescient__workload_window__init(w);
		x->wp[i] = w;
		w->cgroup = cg[i];
		w->name = cg[i] + 1;
		double cores = (i == 0 ? 0.5 : 0.2) * (1 + 0.05 * sin((double)seq * 1.7 + i));
		if (i == 0 && seq >= SURGE_AT)
			cores *= 4;
		w->cpu_s = cores * 10;
		w->mem_bytes = (uint64_t)((i == 0 ? 200e6 : 100e6) * (1 + 0.01 * sin((double)seq)));
		w->missing = PSC_MISSING_PSI_IO;
		if (i == 0) {
			prescient__targets__init(&x->lim[0]);
			x->lim[0].cpu_max_cores = web_limit;
			w->limits = &x->lim[0];
			w->managed = true;
		}
	}
}

static void store_windows(struct psc_store *s, uint64_t from, uint64_t to, double web_limit)
{
	for (uint64_t seq = from; seq <= to; seq++) {
		struct rep x;
		enum psc_store_result res;
		build(&x, seq, web_limit);
		assert_int_equal(psc_store_report(s, &x.r, 100, x.r.window_end + 1, &res), 0);
		assert_int_equal(res, PSC_STORE_STORED);
	}
}

static double qd(const char *path, const char *sqltext)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	double v = NAN;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sqltext, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void exec(const char *path, const char *sqltext)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sqltext, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* The newest adjustment, verified as the agent would. */
static Prescient__Adjustment *newest_adjustment(const char *path, double now)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	Prescient__Adjustment *adj = NULL;
	Prescient__SignedAdjustment sa;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT payload, signature FROM adjustments"
						" ORDER BY id DESC LIMIT 1", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	prescient__signed_adjustment__init(&sa);
	sa.adjustment.data = (uint8_t *)sqlite3_column_blob(st, 0);
	sa.adjustment.len = (size_t)sqlite3_column_bytes(st, 0);
	sa.signature.data = (uint8_t *)sqlite3_column_blob(st, 1);
	sa.signature.len = (size_t)sqlite3_column_bytes(st, 1);
	assert_int_equal(psc_wire_adjustment_verify(&sa, pk, "h1", now, 0, &adj), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return adj;
}

static void run_cycles(struct psc_store *s, struct psc_modeling *m, struct psc_allocation *a,
		       uint64_t from, uint64_t to, double web_limit)
{
	struct psc_modeling_stats ms;
	struct psc_allocation_stats as;

	for (uint64_t seq = from; seq <= to; seq++) {
		store_windows(s, seq, seq, web_limit);
		double now = T0 + 10.0 * (double)seq + 11;
		assert_int_equal(psc_modeling_cycle(m, now, &ms), 0);
		assert_int_equal(psc_allocation_cycle(a, now, &as), 0);
	}
}

static void test_live_allocation(void **state)
{
	char path[300], err[256], hook[600], out[300];
	struct psc_store *s = NULL;
	struct psc_modeling *m = NULL;
	struct psc_allocation *a = NULL;
	struct psc_modeling_options mo = psc_modeling_options_default();
	struct psc_allocation_options ao = psc_allocation_options_default();
	(void)state;

	mo.period_s = 10;
	mo.step_s = 10;
	mo.close_grace_s = 0;
	mo.history = 256;
	mo.detect_window = 128;
	ao.lead_s = 30;
	snprintf(path, sizeof(path), "%s/alloc.db", dir);
	snprintf(out, sizeof(out), "%s/hook.json", dir);
	snprintf(hook, sizeof(hook), "cat > %s", out);
	ao.hook = hook;
	ao.price_cpu_hour = 0.04;
	assert_int_equal(psc_store_open(&s, path, NULL, err, sizeof(err)), 0);
	assert_int_equal(psc_modeling_new(&m, path, &mo, err, sizeof(err)), 0);
	assert_int_equal(psc_allocation_new(&a, path, &ao, sk, err, sizeof(err)), 0);
	psc_modeling_set_observer(m, psc_allocation_observe, a);

	/* Quiet at 0.5 cores under a 1-core limit: the policy lowers toward the need. */
	run_cycles(s, m, a, 1, SURGE_AT - 1, 1.0);
	assert_true(qd(path, "SELECT count(*) FROM adjustments") >= 1);
	assert_true(qd(path, "SELECT count(*) FROM adjustments WHERE workload <> '/demo/web'"
			     " OR host <> 'h1'") == 0);
	Prescient__Adjustment *adj = newest_adjustment(path, T0 + 10.0 * SURGE_AT);
	assert_string_equal(adj->workload, "/demo/web");
	assert_true(adj->targets->cpu_max_cores > 0.5 && adj->targets->cpu_max_cores < 1.0);
	assert_true(adj->targets->memory_high_bytes > 200e6);
	assert_true(adj->targets->memory_max_bytes > adj->targets->memory_high_bytes);
	assert_non_null(strstr(adj->reason, "cpu.max"));
	assert_non_null(strstr(adj->reason, "99% confidence"));
	prescient__adjustment__free_unpacked(adj, NULL);
	/* The first one also set the baseline tier: a share for ~0.5 cores, memory.min. */
	assert_true(qd(path, "SELECT count(*) FROM adjustments") >= 1);
	{
		sqlite3 *db;
		sqlite3_stmt *st;
		Prescient__Adjustment *first;
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT payload FROM adjustments ORDER BY id LIMIT 1",
						    -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		first = prescient__adjustment__unpack(NULL, (size_t)sqlite3_column_bytes(st, 0),
						      sqlite3_column_blob(st, 0));
		assert_non_null(first);
		assert_true(first->targets->cpu_weight >= 400 && first->targets->cpu_weight <= 600);
		assert_true(first->targets->memory_min_bytes > 150e6 &&
			    first->targets->memory_min_bytes <= first->targets->memory_high_bytes);
		assert_non_null(strstr(first->reason, "Guaranteed share"));
		assert_true(!strcmp(first->tier, "predictive") || !strcmp(first->tier, "baseline"));
		prescient__adjustment__free_unpacked(first, NULL);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	double quiet_adjustments = qd(path, "SELECT count(*) FROM adjustments");

	/* The agent applies it: mark the outcomes so the next ones are not held back. */
	exec(path, "UPDATE adjustments SET outcome = 1 WHERE outcome IS NULL");
	/* Surge to 2 cores: a raise above 2 cores within a few windows. */
	run_cycles(s, m, a, SURGE_AT, SURGE_AT + 5, 0.9);
	assert_true(qd(path, "SELECT count(*) FROM adjustments") > quiet_adjustments);
	adj = newest_adjustment(path, T0 + 10.0 * (SURGE_AT + 6));
	assert_true(adj->targets->cpu_max_cores >= 1.9);
	assert_true(adj->issued_at <= T0 + 10.0 * (SURGE_AT + 3) + 11);
	assert_non_null(strstr(adj->reason, "Raised cpu.max"));
	prescient__adjustment__free_unpacked(adj, NULL);
	assert_true(qd(path, "SELECT count(*) FROM alerts WHERE kind IN ('shift', 'raise')"
			     " AND text LIKE '%cpu%'") >= 1);

	/* Host-wide: 2.2 cores predicted on a 2-CPU host: one alert and one hook run with the
	 * description on its stdin. */
	assert_true(qd(path, "SELECT count(*) FROM alerts WHERE kind = 'host'") == 1);
	for (int i = 0; i < 50 && access(out, F_OK) != 0; i++)
		usleep(20000);
	usleep(50000);
	FILE *f = fopen(out, "r");
	assert_non_null(f);
	char json[2048] = "";
	size_t n = fread(json, 1, sizeof(json) - 1, f);
	json[n] = 0;
	fclose(f);
	assert_non_null(strstr(json, "\"host\":\"h1\""));
	assert_non_null(strstr(json, "\"cpu_short\":true"));

	/* Feedback: a shift alert marked wrong raises the workload's detection threshold. */
	exec(path, "INSERT INTO feedback (ts, kind, ref_id, verdict) SELECT 0, 'alert', id,"
		   " 'wrong' FROM alerts WHERE kind = 'shift' AND workload_id IS NOT NULL LIMIT 1");
	assert_true(qd(path, "SELECT count(*) FROM feedback") == 1);
	run_cycles(s, m, a, SURGE_AT + 6, SURGE_AT + 6, 0.9);
	assert_true(fabs(qd(path, "SELECT detect_threshold FROM workload_policy") - 0.55) < 1e-9);
	assert_true(qd(path, "SELECT applied FROM feedback") == 1);

	/* A user constraint wins over the model: a fixed 0.7-core limit. */
	exec(path, "INSERT INTO workload_constraints (workload_id, cpu_fixed, updated_at)"
		   " SELECT id, 0.7, 0 FROM workloads WHERE cgroup = '/demo/web'");
	run_cycles(s, m, a, SURGE_AT + 7, SURGE_AT + 7, 2.5);
	exec(path, "UPDATE adjustments SET outcome = 1 WHERE outcome IS NULL");
	run_cycles(s, m, a, SURGE_AT + 8, SURGE_AT + 9, 2.5);
	adj = newest_adjustment(path, T0 + 10.0 * (SURGE_AT + 10));
	assert_true(fabs(adj->targets->cpu_max_cores - 0.7) < 1e-9);
	prescient__adjustment__free_unpacked(adj, NULL);

	/* A restart resumes from the store: no detection is alerted twice. */
	double alerts = qd(path, "SELECT count(*) FROM alerts WHERE kind = 'shift'");
	psc_allocation_free(&a);
	assert_int_equal(psc_allocation_new(&a, path, &ao, sk, err, sizeof(err)), 0);
	struct psc_allocation_stats as;
	assert_int_equal(psc_allocation_cycle(a, T0 + 10.0 * (SURGE_AT + 8), &as), 0);
	assert_true(qd(path, "SELECT count(*) FROM alerts WHERE kind = 'shift'") == alerts);

	psc_allocation_free(&a);
	assert_null(a);
	psc_modeling_free(&m);
	psc_store_close(&s);
}

static void test_explain(void **state)
{
	char buf[512], small[16];
	struct psc_explain_facts f = {
		.workload = "orders.service",
		.resource = PSC_RES_CPU,
		.action = PSC_EXPLAIN_RAISE,
		.shift = "GET /api/orders is up 4.1x over its usual level",
		.usual = 0.6,
		.predicted = 1.8,
		.confidence = 0.99,
		.lead_s = 900,
		.current_limit = 1.0,
		.new_limit = 2.1,
		.file = "cpu.max",
		.cost_per_hour = 0.084,
	};
	(void)state;

	size_t need = psc_explain(&f, buf, sizeof(buf));
	assert_int_equal(need, strlen(buf));
	assert_string_equal(buf, "GET /api/orders is up 4.1x over its usual level. Predicted CPU of"
				 " orders.service: 1.80 cores within 15 min (99% confidence), above"
				 " its 1.00 cores limit. Raised cpu.max to 2.10 cores (about $0.08/h).");
	assert_int_equal(psc_explain(&f, small, sizeof(small)), need);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	f.shift = NULL;
	f.action = PSC_EXPLAIN_ALERT_ONLY;
	f.why_not = "this workload is not managed";
	f.cost_per_hour = NAN;
	psc_explain(&f, buf, sizeof(buf));
	assert_non_null(strstr(buf, "CPU of orders.service usually runs at 0.60 cores."));
	assert_non_null(strstr(buf, "Nothing was changed: this workload is not managed."));
	/* a limit below the prediction says why: the learnt margin, or the policy's maximum */
	f.action = PSC_EXPLAIN_LOWER;
	f.predicted = 0.43;
	f.current_limit = 0.75;
	f.new_limit = 0.39;
	f.margin = -0.1;
	psc_explain(&f, buf, sizeof(buf));
	assert_non_null(strstr(buf, "Lowered cpu.max to 0.39 cores, 10% under the prediction: a"
				    " limit that tight has cost least against its usage so far."));
	f.cap = 0.39;
	psc_explain(&f, buf, sizeof(buf));
	assert_non_null(strstr(buf, "Lowered cpu.max to 0.39 cores, its policy's maximum."));
	f.new_limit = 0.5;
	psc_explain(&f, buf, sizeof(buf));
	assert_non_null(strstr(buf, "Lowered cpu.max to 0.50 cores."));
	psc_explain_amount(PSC_RES_MEMORY, 1.5 * 1024 * 1024 * 1024, small, sizeof(small));
	assert_string_equal(small, "1.5 GiB");
	psc_explain_amount(PSC_RES_EGRESS, 4e6, small, sizeof(small));
	assert_string_equal(small, "4.0 MB/s");
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/psc-alloc-XXXXXX");
	if (!mkdtemp(dir) || sodium_init() < 0)
		return -1;
	crypto_sign_keypair(pk, sk);
	psc_log_setup(PSC_LOG_ERR, false);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_live_allocation),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
