// SPDX-License-Identifier: MIT
/* Live modeling (aggregator/modeling.c) over a real store: reports stored through the
 * store API, cycles run at chosen times, results read back with SQL. */
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

#include "log.h"
#include "modeling.h"
#include "store.h"
#include "wire.h"

#define T0 1800000000.0
#define NW 8 /* workloads: 0-3 serve requests (group A), 4-7 batch-like (group B) */
#define STEP_AT 150 /* window from which workload 0's CPU triples */

static char dir[256];

struct host_rep {
	Prescient__HostReport r;
	Prescient__WorkloadWindow w[NW], *wp[NW];
	Prescient__EndpointStats e[NW][2], *ep[NW][2];
	Prescient__LatencyHistogram lh[NW][2];
	char cg[NW][32], en[NW][2][32];
};

static double noise(uint64_t seed)
{
	seed = (seed ^ 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
	seed ^= seed >> 31;
	return ((double)(seed >> 11) / 9007199254740992.0) * 2 - 1; /* [-1, 1) */
}

static void build(struct host_rep *x, const char *host, uint64_t seq)
{
	memset(x, 0, sizeof(*x));
	prescient__host_report__init(&x->r);
	x->r.schema_version = PSC_WIRE_SCHEMA_VERSION;
	x->r.host_id = (char *)host;
	x->r.agent_version = "t";
	x->r.seq = seq;
	x->r.window_start = T0 + 10.0 * (double)seq;
	x->r.window_end = x->r.window_start + 10;
	x->r.workloads = x->wp;
	x->r.n_workloads = NW;
	for (unsigned i = 0; i < NW; i++) {
		Prescient__WorkloadWindow *w = &x->w[i];
		bool a = i < 4;

		prescient__workload_window__init(w);
		x->wp[i] = w;
		snprintf(x->cg[i], sizeof(x->cg[i]), "/%c/w%u", a ? 'a' : 'b', i);
		w->cgroup = x->cg[i];
		w->name = x->cg[i] + 1;
		w->cpu_s = (a ? 5.0 : 1.0) * (1 + 0.05 * noise(seq * 31 + i));
		if (i == 0 && seq >= STEP_AT)
			w->cpu_s *= 3;
		w->mem_bytes = (uint64_t)((a ? 300e6 : 2e9) * (1 + 0.01 * noise(seq * 37 + i)));
		w->missing = PSC_MISSING_PSI_IO;
		if (!a)
			continue;
		w->endpoints = x->ep[i];
		w->n_endpoints = 2;
		for (unsigned k = 0; k < 2; k++) {
			Prescient__EndpointStats *e = &x->e[i][k];
			struct psc_hist h;

			prescient__endpoint_stats__init(e);
			x->ep[i][k] = e;
			snprintf(x->en[i][k], sizeof(x->en[i][k]), "GET /w%u/e%u", i, k);
			e->protocol = "http";
			e->role = "server";
			e->endpoint = x->en[i][k];
			e->count = (uint64_t)(200 * (k + 1) * (1 + 0.1 * noise(seq * 41 + i * 2 + k)));
			e->bytes_in = 300 * e->count;
			e->bytes_out = 2000 * e->count;
			psc_hist_reset(&h);
			for (unsigned v = 0; v < 20; v++)
				psc_hist_add(&h, 500 + 50 * v);
			assert_int_equal(psc_wire_hist_fill(&x->lh[i][k], &h), 0);
			e->latency_us = &x->lh[i][k];
		}
	}
}

static void clear(struct host_rep *x)
{
	for (unsigned i = 0; i < NW; i++)
		for (unsigned k = 0; k < 2; k++)
			psc_wire_hist_clear(&x->lh[i][k]);
}

static void store_host_windows(struct psc_store *s, const char *host, uint64_t from, uint64_t to)
{
	for (uint64_t seq = from; seq <= to; seq++) {
		struct host_rep x;
		enum psc_store_result res;

		build(&x, host, seq);
		assert_int_equal(psc_store_report(s, &x.r, 100, x.r.window_end + 1, &res), 0);
		assert_int_equal(res, PSC_STORE_STORED);
		clear(&x);
	}
}

static void store_windows(struct psc_store *s, uint64_t from, uint64_t to)
{
	store_host_windows(s, "h1", from, to);
}

static int64_t q(const char *path, const char *sqltext)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sqltext, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static double end_of(uint64_t seq)
{
	return T0 + 10.0 * (double)seq + 10;
}

static struct psc_modeling_options test_opts(void)
{
	struct psc_modeling_options o = psc_modeling_options_default();

	o.period_s = 10;
	o.step_s = 10;
	o.close_grace_s = 0;
	o.recluster_every = 1;
	o.rebuild_s = 86400;
	o.history = 256;
	o.detect_window = 128;
	return o;
}

static void test_live_cycle(void **state)
{
	char path[300], err[256], sqltext[256];
	struct psc_store *s = NULL;
	struct psc_modeling *m = NULL;
	struct psc_modeling_stats st;
	struct psc_modeling_options o = test_opts();

	snprintf(path, sizeof(path), "%s/live.db", dir);
	assert_int_equal(psc_store_open(&s, path, NULL, err, sizeof(err)), 0);
	assert_int_equal(psc_modeling_new(&m, path, &o, err, sizeof(err)), 0);

	/* A first cycle meets every workload: rebuilt from history, no detection. */
	store_windows(s, 1, 100);
	assert_int_equal(psc_modeling_cycle(m, end_of(100) + 1, &st), 0);
	assert_int_equal(st.workloads, NW);
	assert_int_equal(st.rebuilt, NW);
	assert_int_equal(st.detections, 0);
	assert_int_equal(psc_modeling_workloads(m), NW);
	/* forecasts: every workload's CPU and memory at 3 horizons, requests for group A */
	assert_int_equal(q(path, "SELECT count(*) FROM forecasts WHERE series = 'cpu'"), NW * 3);
	assert_int_equal(q(path, "SELECT count(*) FROM forecasts WHERE series = 'req'"), 4 * 3);
	assert_int_equal(q(path, "SELECT count(DISTINCT horizon_s) FROM forecasts"), 3);
	assert_int_equal(q(path, "SELECT count(*) FROM forecasts WHERE NOT (p10 <= p50 AND"
				 " p50 <= p90)"), 0);
	/* the 10 s forecast of group B's CPU (0.1 cores) is near it */
	assert_int_equal(q(path, "SELECT count(*) FROM forecasts f JOIN workloads w ON"
				 " w.id = f.workload_id WHERE w.cgroup = '/b/w5' AND f.series = 'cpu'"
				 " AND f.horizon_s = 10 AND f.p50 BETWEEN 0.09 AND 0.11"),
			 1);
	assert_int_equal(q(path, "SELECT count(*) FROM model_state"), NW);

	/* Live: ten windows per cycle; workload 0's CPU triples at window STEP_AT. */
	for (uint64_t seq = 101; seq <= 200; seq += 10) {
		store_windows(s, seq, seq + 9);
		assert_int_equal(psc_modeling_cycle(m, end_of(seq + 9) + 1, &st), 0);
		assert_int_equal(st.rebuilt, 0);
		assert_int_equal(st.windows, 10 * NW);
	}
	snprintf(sqltext, sizeof(sqltext),
		 "SELECT min(d.ts) FROM detections d JOIN workloads w ON w.id = d.workload_id"
		 " WHERE w.cgroup = '/a/w0' AND d.series = 'cpu' AND d.score >= 0.5"
		 " AND d.direction = 1");
	int64_t first = q(path, sqltext);
	assert_true(first >= (int64_t)(T0 + 10 * STEP_AT));
	assert_true(first <= (int64_t)(T0 + 10 * (STEP_AT + 3)));
	assert_int_equal(q(path, "SELECT count(*) FROM detections d JOIN workloads w ON"
				 " w.id = d.workload_id WHERE w.cgroup = '/a/w0' AND d.source = 'cpu'"
				 " AND d.detail LIKE '%endpoint moved most%'") > 0,
			 1);
	/* steady workloads: at most a stray detection or two each over 100 windows */
	assert_true(q(path, "SELECT count(*) FROM detections d JOIN workloads w ON"
			    " w.id = d.workload_id WHERE w.cgroup <> '/a/w0'") <= 8);

	/* Two groups, two clusters: group A together, group B together, apart. */
	assert_int_equal(q(path, "SELECT count(DISTINCT c.cluster) FROM clusters c JOIN workloads w"
				 " ON w.id = c.workload_id WHERE w.cgroup IN ('/a/w1', '/a/w2', '/a/w3')"),
			 1);
	assert_int_equal(q(path, "SELECT count(DISTINCT c.cluster) FROM clusters c JOIN workloads w"
				 " ON w.id = c.workload_id WHERE w.cgroup LIKE '/b/%'"),
			 1);
	assert_int_equal(q(path, "SELECT count(*) FROM clusters a JOIN workloads wa ON"
				 " wa.id = a.workload_id JOIN clusters b JOIN workloads wb ON"
				 " wb.id = b.workload_id WHERE wa.cgroup = '/a/w1' AND"
				 " wb.cgroup = '/b/w4' AND a.cluster = b.cluster"),
			 0);
	assert_true(q(path, "SELECT count(*) FROM cluster_moves") >= NW);
	assert_int_equal(q(path, "SELECT count(*) FROM classes"), NW);
	assert_true(q(path, "SELECT count(*) FROM profiles WHERE scope = 'workload'") >= NW);
	assert_true(q(path, "SELECT count(*) FROM profiles WHERE scope = 'cluster'") >= 2);

	/* Restart: the models come back from the stored history, without re-detecting. */
	int64_t detections = q(path, "SELECT count(*) FROM detections");
	psc_modeling_free(&m);
	assert_null(m);
	assert_int_equal(psc_modeling_new(&m, path, &o, err, sizeof(err)), 0);
	store_windows(s, 201, 205);
	assert_int_equal(psc_modeling_cycle(m, end_of(205) + 1, &st), 0);
	assert_int_equal(st.rebuilt, NW);
	assert_int_equal(q(path, "SELECT count(*) FROM detections"), detections);
	assert_int_equal(q(path, "SELECT count(*) FROM forecasts WHERE series = 'cpu' AND"
				 " issued_at = 1800002050"),
			 NW * 3);
	store_windows(s, 206, 210);
	assert_int_equal(psc_modeling_cycle(m, end_of(210) + 1, &st), 0);
	assert_int_equal(st.windows, 5 * NW);
	assert_int_equal(st.rebuilt, 0);

	psc_modeling_free(&m);
	psc_store_close(&s);
}

/* A host whose windows arrive far behind the others' (a backlog, a spool replayed after
 * an outage, a clock behind) is modeled from them as they arrive, not skipped. */
static void test_late_host(void **state)
{
	char path[300], err[256];
	struct psc_store *s = NULL;
	struct psc_modeling *m = NULL;
	struct psc_modeling_stats st;
	struct psc_modeling_options o = test_opts();

	snprintf(path, sizeof(path), "%s/late.db", dir);
	assert_int_equal(psc_store_open(&s, path, NULL, err, sizeof(err)), 0);
	assert_int_equal(psc_modeling_new(&m, path, &o, err, sizeof(err)), 0);
	store_host_windows(s, "h1", 1, 100);
	store_host_windows(s, "h2", 1, 10);
	assert_int_equal(psc_modeling_cycle(m, end_of(100) + 1, &st), 0);
	assert_int_equal(st.rebuilt, 2 * NW);

	store_host_windows(s, "h1", 101, 110);
	assert_int_equal(psc_modeling_cycle(m, end_of(110) + 1, &st), 0);
	assert_int_equal(st.windows, 10 * NW);
	/* h2's next 90 windows arrive now, 1,000 s behind h1's newest */
	store_host_windows(s, "h2", 11, 100);
	assert_int_equal(psc_modeling_cycle(m, end_of(110) + 2, &st), 0);
	assert_int_equal(st.rebuilt, 0);
	assert_int_equal(st.windows, 90 * NW);
	/* nothing new: nothing taken twice */
	assert_int_equal(psc_modeling_cycle(m, end_of(110) + 3, &st), 0);
	assert_int_equal(st.windows, 0);
	assert_int_equal(q(path, "SELECT count(*) FROM model_state s JOIN workloads w ON"
				 " w.id = s.workload_id JOIN hosts h ON h.id = w.host_id"
				 " WHERE h.name = 'h2' AND s.last_ts = 1800001000"),
			 NW);

	psc_modeling_free(&m);
	psc_store_close(&s);
}

static void test_options(void **state)
{
	struct psc_modeling_options o = psc_modeling_options_default();
	struct psc_modeling *m = NULL;
	char err[256], path[300];

	assert_true(o.period_s == 10 && o.step_s == 300);
	o.step_s = 0;
	snprintf(path, sizeof(path), "%s/none.db", dir);
	assert_int_equal(psc_modeling_new(&m, path, &o, err, sizeof(err)), -EINVAL);
	assert_null(m);
	o = psc_modeling_options_default();
	/* no store there: refused, not created */
	snprintf(path, sizeof(path), "%s/missing/x.db", dir);
	assert_int_equal(psc_modeling_new(&m, path, &o, err, sizeof(err)), -EIO);
	assert_null(m);
	assert_non_null(strstr(err, "x.db"));
	psc_modeling_free(&m);
}

static int setup_all(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/psc_test_modeling.XXXXXX");
	assert_non_null(mkdtemp(dir));
	psc_log_setup(PSC_LOG_ERR, false);
	return sodium_init() < 0 ? -1 : 0;
}

static int teardown_all(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), getenv("KEEP") ? "true %s" : "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_cycle),
		cmocka_unit_test(test_late_host),
		cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
