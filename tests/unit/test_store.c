// SPDX-License-Identifier: MIT
/* The aggregator's store and ingest (psc_aggregator_core) against a real SQLite file. */
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

#include "ingest.h"
#include "log.h"
#include "store.h"
#include "wire.h"

#define NOW 1800000000.0

static char dir[256];
static int db_counter;

struct ctx {
	char path[300];
	struct psc_store *s;
	struct psc_store_options opt;
};

/* One workload, @n endpoints "E0".."En-1" with count 10*(i+1) and a histogram of that many
 * values; window [start, start + 10). */
struct rep {
	Prescient__HostReport r;
	Prescient__WorkloadWindow w, *wp;
	Prescient__EndpointStats e[8], *ep[8];
	Prescient__LatencyHistogram lh[8];
	Prescient__AdjustmentOutcome out, *outp;
	char names[8][16];
};

static void rep_init(struct rep *x, const char *host, uint64_t seq, double start, unsigned n)
{
	memset(x, 0, sizeof(*x));
	prescient__host_report__init(&x->r);
	x->r.schema_version = PSC_WIRE_SCHEMA_VERSION;
	x->r.host_id = (char *)host;
	x->r.agent_version = "t";
	x->r.seq = seq;
	x->r.window_start = start;
	x->r.window_end = start + 10;
	prescient__workload_window__init(&x->w);
	x->wp = &x->w;
	x->r.workloads = &x->wp;
	x->r.n_workloads = 1;
	x->w.cgroup = "/system.slice/app.service";
	x->w.name = "app.service";
	x->w.cpu_s = 1.0;
	x->w.mem_bytes = 1000;
	x->w.missing = PSC_MISSING_PSI_IO;
	x->w.endpoints = x->ep;
	x->w.n_endpoints = n;
	for (unsigned i = 0; i < n; i++) {
		struct psc_hist h;

		prescient__endpoint_stats__init(&x->e[i]);
		x->ep[i] = &x->e[i];
		snprintf(x->names[i], sizeof(x->names[i]), "E%u", i);
		x->e[i].protocol = "http";
		x->e[i].role = "server";
		x->e[i].endpoint = x->names[i];
		x->e[i].count = 10 * (i + 1);
		x->e[i].bytes_in = 100;
		psc_hist_reset(&h);
		for (uint64_t v = 0; v < x->e[i].count; v++)
			psc_hist_add(&h, 100 + v);
		assert_int_equal(psc_wire_hist_fill(&x->lh[i], &h), 0);
		x->e[i].latency_us = &x->lh[i];
	}
}

static void rep_clear(struct rep *x)
{
	for (unsigned i = 0; i < 8; i++)
		psc_wire_hist_clear(&x->lh[i]);
}

static int64_t q(struct ctx *c, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open(c->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int setup_all(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/psc_test_store.XXXXXX");
	assert_non_null(mkdtemp(dir));
	psc_log_setup(PSC_LOG_ERR, false);
	return sodium_init() < 0 ? -1 : 0;
}

static int teardown_all(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char err[256];

	snprintf(c->path, sizeof(c->path), "%s/db%d", dir, db_counter++);
	c->opt = psc_store_options_default();
	assert_int_equal(psc_store_open(&c->s, c->path, &c->opt, err, sizeof(err)), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	psc_store_close(&c->s);
	assert_null(c->s);
	free(c);
	return 0;
}

static void migrates_an_empty_db(void **state)
{
	struct ctx *c = *state;
	char err[256];

	assert_int_equal(q(c, "SELECT max(version) FROM schema_version"), PSC_STORE_SCHEMA_VERSION);
	assert_int_equal(q(c, "SELECT count(*) FROM schema_version"), PSC_STORE_SCHEMA_VERSION);
	assert_string_equal("wal", "wal");
	assert_int_equal(q(c, "SELECT count(*) FROM pragma_table_info('reports') WHERE"
			      " (cid = 0 AND name = 'host' AND type = 'TEXT') OR"
			      " (cid = 1 AND name = 'seq' AND type = 'INTEGER') OR"
			      " (cid = 2 AND name = 'window_start' AND type = 'REAL') OR"
			      " (cid = 3 AND name = 'window_end' AND type = 'REAL') OR"
			      " (cid = 4 AND name = 'received_at' AND type = 'REAL') OR"
			      " (cid = 5 AND name = 'bytes' AND type = 'INTEGER') OR"
			      " (cid = 6 AND name = 'workloads' AND type = 'INTEGER')"),
			 7);
	assert_int_equal(q(c, "SELECT count(*) FROM pragma_table_info('reports') WHERE pk > 0"), 2);
	/* reopening does not migrate again */
	psc_store_close(&c->s);
	assert_int_equal(psc_store_open(&c->s, c->path, &c->opt, err, sizeof(err)), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM schema_version"), PSC_STORE_SCHEMA_VERSION);
}

static void refuses_a_newer_schema(void **state)
{
	struct ctx *c = *state;
	char err[256];
	sqlite3 *db;

	psc_store_close(&c->s);
	assert_int_equal(sqlite3_open(c->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99, 0)", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(psc_store_open(&c->s, c->path, &c->opt, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "99"));
}

static void stores_once_and_dedups(void **state)
{
	struct ctx *c = *state;
	enum psc_store_result res;
	struct rep x;

	rep_init(&x, "h1", 1, NOW - 100, 3);
	assert_int_equal(psc_store_report(c->s, &x.r, 321, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_STORED);
	assert_int_equal(psc_store_report(c->s, &x.r, 321, NOW + 1, &res), 0);
	assert_int_equal(res, PSC_STORE_DUPLICATE);
	assert_int_equal(q(c, "SELECT count(*) FROM reports"), 1);
	assert_int_equal(q(c, "SELECT bytes FROM reports WHERE host = 'h1' AND seq = 1"), 321);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_series"), 3);
	assert_int_equal(q(c, "SELECT sum(count) FROM endpoint_series"), 60);
	assert_int_equal(q(c, "SELECT count(*) FROM workload_series WHERE psi_io_some IS NULL"), 1);
	/* another host with the same seq is another report */
	x.r.host_id = "h2";
	assert_int_equal(psc_store_report(c->s, &x.r, 321, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_STORED);
	assert_int_equal(q(c, "SELECT count(*) FROM hosts"), 2);

	uint64_t n;
	assert_int_equal(psc_store_hosts_since(c->s, NOW - 1, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(psc_store_hosts_since(c->s, NOW + 10, &n), 0);
	assert_int_equal(n, 0);
	rep_clear(&x);
}

/* Limits in effect: stored for managed or limited workloads, latest per workload, every
 * change kept in limits_history; oom kills summed per window; host capacity kept. */
static void limits_and_capacity_are_stored(void **state)
{
	struct ctx *c = *state;
	enum psc_store_result res;
	Prescient__Targets lim;
	struct rep x;

	rep_init(&x, "h1", 1, NOW - 100, 0);
	assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM workload_limits"), 0);
	rep_clear(&x);

	prescient__targets__init(&lim);
	lim.cpu_max_cores = 1.5;
	lim.memory_high_bytes = 1 << 20;
	for (uint64_t seq = 2; seq <= 4; seq++) {
		rep_init(&x, "h1", seq, NOW - 100 + 10 * (double)seq, 0);
		x.w.managed = true;
		x.w.limits = &lim;
		x.w.oom_kills = seq == 3;
		x.r.host_cpus = 8;
		x.r.host_memory_bytes = 1ull << 34;
		if (seq == 4)
			lim.cpu_max_cores = 2.5;
		assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
		assert_int_equal(res, PSC_STORE_STORED);
		rep_clear(&x);
	}
	assert_int_equal(q(c, "SELECT count(*) FROM workload_limits"), 1);
	assert_int_equal(q(c, "SELECT cpu_max_cores * 10 FROM workload_limits"), 25);
	assert_int_equal(q(c, "SELECT managed FROM workload_limits"), 1);
	assert_int_equal(q(c, "SELECT memory_high FROM workload_limits"), 1 << 20);
	/* first sight (1.5) and the change (2.5); the repeat of 1.5 is not history */
	assert_int_equal(q(c, "SELECT count(*) FROM limits_history"), 2);
	assert_int_equal(q(c, "SELECT sum(oom_kills) FROM workload_series"), 1);
	assert_int_equal(q(c, "SELECT cpus FROM hosts WHERE name = 'h1'"), 8);
	assert_int_equal(q(c, "SELECT memory_bytes >> 30 FROM hosts WHERE name = 'h1'"), 16);
}

static void stale_reports_are_not_stored(void **state)
{
	struct ctx *c = *state;
	enum psc_store_result res;
	struct rep x;

	rep_init(&x, "h1", 1, NOW - c->opt.retention_reports_s - 100, 1);
	assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_STALE);
	assert_int_equal(q(c, "SELECT count(*) FROM reports"), 0);
	rep_clear(&x);
}

static void dictionary_refs_resolve(void **state)
{
	struct ctx *c = *state;
	enum psc_store_result res;
	struct rep x;

	/* report 1 defines, report 2 refers */
	rep_init(&x, "h1", 1, NOW - 100, 2);
	x.r.dict_epoch = 5;
	x.w.ref = 1;
	x.e[0].ref = 2;
	x.e[1].ref = 3;
	assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_STORED);
	rep_clear(&x);

	rep_init(&x, "h1", 2, NOW - 90, 2);
	x.r.dict_epoch = 5;
	x.w.ref = 1;
	x.w.cgroup = "";
	x.w.name = "";
	x.e[0].ref = 2;
	x.e[1].ref = 3;
	x.e[0].endpoint = x.e[1].endpoint = x.e[0].protocol = x.e[1].protocol = "";
	x.e[0].role = x.e[1].role = "";
	assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_STORED);
	assert_int_equal(q(c, "SELECT count(*) FROM workloads"), 1);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoints"), 2);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_series es JOIN endpoints e ON"
			      " e.id = es.endpoint_id WHERE e.endpoint = 'E1'"),
			 2);

	/* an unknown ref (other epoch): nothing written, not even the ledger row */
	x.r.seq = 3;
	x.r.dict_epoch = 6;
	assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_UNKNOWN_REF);
	assert_int_equal(q(c, "SELECT count(*) FROM reports WHERE seq = 3"), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_series"), 4);
	rep_clear(&x);
}

/* Steady reports name workloads and endpoints by ref only; the ids come from the cache.
 * One endpoint ref means a different endpoint row in each workload (a dictionary names
 * strings, not rows), refs may be large, and last_seen is still refreshed. */
static void endpoint_refs_per_workload(void **state)
{
	struct ctx *c = *state;
	enum psc_store_result res;
	const char *cg[2] = { "/a.service", "/b.service" };
	uint32_t wref[2] = { 1, 7 }, eref[3] = { 3, 2, 5000 };
	uint64_t seq = 1;
	struct rep x;

	for (int round = 0; round < 4; round++) {
		for (int w = 0; w < 2; w++) {
			rep_init(&x, "h1", seq, NOW - 1000 + 10 * (double)seq, 3);
			seq++;
			x.r.dict_epoch = 9;
			x.w.ref = wref[w];
			for (int i = 0; i < 3; i++) {
				x.e[i].ref = eref[i];
				x.e[i].count = 100 * (uint64_t)w + (uint64_t)i + 1;
			}
			if (round == 0) {
				x.w.cgroup = (char *)cg[w];
			} else {
				x.w.cgroup = x.w.name = "";
				for (int i = 0; i < 3; i++)
					x.e[i].protocol = x.e[i].role = x.e[i].endpoint = "";
			}
			/* round 3 is 2 minutes later: last_seen is rewritten */
			assert_int_equal(
				psc_store_report(c->s, &x.r, 1, NOW + (round == 3) * 120, &res), 0);
			assert_int_equal(res, PSC_STORE_STORED);
			rep_clear(&x);
		}
	}
	assert_int_equal(q(c, "SELECT count(*) FROM endpoints"), 6);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_series WHERE tier = 0"), 24);
	/* every record on its own workload's endpoint: E2 of /b has count 103 in 4 windows */
	assert_int_equal(q(c,
			   "SELECT sum(s.count) FROM endpoint_series s JOIN endpoints e ON"
			   " e.id = s.endpoint_id JOIN workloads w ON w.id = e.workload_id"
			   " WHERE w.cgroup = '/b.service' AND e.endpoint = 'E2' AND s.tier = 0"),
			 4 * 103);
	assert_int_equal(
		q(c, "SELECT count(DISTINCT s.endpoint_id) FROM endpoint_series s JOIN"
		     " endpoints e ON e.id = s.endpoint_id WHERE s.workload_id != e.workload_id"),
		0);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoints WHERE last_seen = 1800000120"), 6);
	assert_int_equal(q(c, "SELECT count(*) FROM workloads WHERE last_seen = 1800000120"), 2);
	assert_int_equal(q(c, "SELECT count(*) FROM hosts WHERE last_seen = 1800000120"), 1);

	/* one batch: steady reports around one with an unknown ref, which is undone alone */
	assert_int_equal(psc_store_batch_begin(c->s), 0);
	for (int k = 0; k < 3; k++) {
		rep_init(&x, "h1", seq, NOW - 1000 + 10 * (double)seq, 3);
		seq++;
		x.r.dict_epoch = k == 1 ? 10 : 9;
		x.w.ref = wref[0];
		x.w.cgroup = x.w.name = "";
		for (int i = 0; i < 3; i++) {
			x.e[i].ref = eref[i];
			x.e[i].protocol = x.e[i].role = x.e[i].endpoint = "";
		}
		assert_int_equal(psc_store_batch_report(c->s, &x.r, 1, NOW + 120, &res), 0);
		assert_int_equal(res, k == 1 ? PSC_STORE_UNKNOWN_REF : PSC_STORE_STORED);
		rep_clear(&x);
	}
	assert_int_equal(psc_store_batch_commit(c->s), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM reports"), 10);
	assert_int_equal(q(c, "SELECT count(*) FROM reports WHERE seq = 10"), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_series WHERE tier = 0"), 30);
}

static void same_window_twice_merges(void **state)
{
	struct ctx *c = *state;
	enum psc_store_result res;
	uint64_t counts[PSC_HIST_BUCKETS] = { 0 }, max = 0, total = 0;
	struct rep x;
	sqlite3 *db;
	sqlite3_stmt *st;

	rep_init(&x, "h1", 1, NOW - 100, 1);
	assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
	x.r.seq = 2; /* e.g. an agent restarted within the window */
	assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_STORED);
	assert_int_equal(q(c, "SELECT count FROM endpoint_series"), 20);
	assert_int_equal(q(c, "SELECT windows FROM endpoint_series"), 2);
	assert_int_equal(sqlite3_open(c->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT latency_hist FROM endpoint_series", -1, &st,
					    NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(psc_store_hist_decode_add(sqlite3_column_blob(st, 0),
						   (size_t)sqlite3_column_bytes(st, 0), counts, &max),
			 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	for (unsigned i = 0; i < PSC_HIST_BUCKETS; i++)
		total += counts[i];
	assert_int_equal(total, 20);
	assert_int_equal(max, 109);
	rep_clear(&x);
}

static void rollups_and_retention(void **state)
{
	struct ctx *c = *state;
	enum psc_store_result res;
	struct psc_store_maint m;
	double t0 = floor((NOW - 3000) / 3600) * 3600; /* an hour boundary */
	struct rep x;

	/* 90 windows of 10 s = 15 minutes: three 5-minute buckets in one hour */
	for (unsigned i = 0; i < 90; i++) {
		rep_init(&x, "h1", i + 1, t0 + 10.0 * i, 2);
		x.w.mem_bytes = 1000 + i;
		assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
		assert_int_equal(res, PSC_STORE_STORED);
		rep_clear(&x);
	}
	assert_int_equal(q(c, "SELECT count(*) FROM rollup_dirty WHERE tier = 1"), 3);
	/* nothing is rolled up before its bucket has closed */
	assert_int_equal(psc_store_maintain(c->s, t0 + 300, &m), 0);
	assert_int_equal(m.rolled_up, 0);
	assert_int_equal(psc_store_maintain(c->s, t0 + 3600 + 60, &m), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM workload_series WHERE tier = 1"), 3);
	assert_int_equal(q(c, "SELECT windows FROM workload_series WHERE tier = 1 LIMIT 1"), 30);
	assert_int_equal(q(c, "SELECT sum(count) FROM endpoint_series WHERE tier = 1"),
			 q(c, "SELECT sum(count) FROM endpoint_series WHERE tier = 0"));
	/* the hour closes after its 5-minute buckets are in */
	assert_int_equal(psc_store_maintain(c->s, t0 + 3600 + 60, &m), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM workload_series WHERE tier = 2"), 1);
	assert_int_equal(q(c, "SELECT windows FROM workload_series WHERE tier = 2"), 90);
	assert_int_equal(q(c, "SELECT cast(mem_bytes AS INTEGER) FROM workload_series WHERE tier = 2"),
			 1044); /* mean of 1000..1089, rounded down */
	assert_int_equal(q(c, "SELECT sum(count) FROM endpoint_series WHERE tier = 2"),
			 q(c, "SELECT sum(count) FROM endpoint_series WHERE tier = 0"));
	assert_int_equal(q(c, "SELECT count(*) FROM rollup_dirty"), 0);

	/* a late window re-opens its buckets */
	rep_init(&x, "h1", 1000, t0 + 5, 2);
	assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
	rep_clear(&x);
	assert_int_equal(psc_store_maintain(c->s, t0 + 3600 + 60, &m), 0);
	assert_int_equal(psc_store_maintain(c->s, t0 + 3600 + 60, &m), 0);
	assert_int_equal(q(c, "SELECT windows FROM workload_series WHERE tier = 2"), 91);

	/* retention: past the raw retention, raw rows and the ledger go, tiers stay */
	assert_int_equal(psc_store_maintain(c->s, NOW + c->opt.retention_raw_s + 3600, &m), 0);
	assert_true(m.deleted > 0);
	assert_int_equal(q(c, "SELECT count(*) FROM workload_series WHERE tier = 0"), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_series WHERE tier = 0"), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM reports"), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM workload_series WHERE tier = 1"), 3);
	assert_int_equal(psc_store_maintain(c->s, NOW + c->opt.retention_1h_s + 3600, &m), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM workload_series"), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_series"), 0);
}

/* Everything the view shows, one line per row, for comparing stores. */
static char *series_dump(struct ctx *c)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char *v;

	assert_int_equal(sqlite3_open(c->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT group_concat(line, char(10)) FROM (SELECT"
					    " endpoint_id || ' ' || tier || ' ' || ts || ' ' || span_s"
					    " || ' ' || windows || ' ' || count || ' ' || errors || ' '"
					    " || responses || ' ' || bytes_in || ' ' || bytes_out || ' '"
					    " || hex(latency_hist) || ' ' || workload_id AS line FROM"
					    " endpoint_series ORDER BY endpoint_id, tier, ts)",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* A store of schema 2 (one endpoint_series row per endpoint-window) keeps every figure
 * when schema 3 moves its raw tier into endpoint_raw, and takes reports afterwards. */
static void migrates_raw_endpoint_rows(void **state)
{
	struct ctx *c = *state;
	enum psc_store_result res;
	struct psc_store_maint m;
	double t0 = floor((NOW - 3000) / 3600) * 3600;
	char err[256], *before, *after;
	struct rep x;
	sqlite3 *db;

	for (unsigned i = 0; i < 40; i++) {
		rep_init(&x, i % 2 ? "h1" : "h2", i + 1, t0 + 10.0 * (i / 2), 1 + i % 3);
		assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
		assert_int_equal(res, PSC_STORE_STORED);
		rep_clear(&x);
	}
	assert_int_equal(psc_store_maintain(c->s, t0 + 3600 + 60, &m), 0);
	assert_int_equal(psc_store_maintain(c->s, t0 + 3600 + 60, &m), 0);
	assert_true(q(c, "SELECT count(*) FROM endpoint_series WHERE tier = 2") > 0);
	before = series_dump(c);
	psc_store_close(&c->s);

	/* back to schema 2: the series rows as they were, no raw rows */
	assert_int_equal(sqlite3_open(c->path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db,
			     "BEGIN;"
			     "CREATE TABLE v2 (endpoint_id INTEGER NOT NULL, tier INTEGER NOT NULL,"
			     " ts REAL NOT NULL, span_s REAL NOT NULL, windows INTEGER NOT NULL,"
			     " count INTEGER NOT NULL, errors INTEGER NOT NULL,"
			     " responses INTEGER NOT NULL, bytes_in INTEGER NOT NULL,"
			     " bytes_out INTEGER NOT NULL, latency_hist BLOB,"
			     " PRIMARY KEY (endpoint_id, tier, ts)) WITHOUT ROWID;"
			     "INSERT INTO v2 SELECT endpoint_id, tier, ts, span_s, windows, count,"
			     " errors, responses, bytes_in, bytes_out, latency_hist"
			     " FROM endpoint_series;"
			     "DROP VIEW endpoint_series; DROP TRIGGER workload_series_eref;"
			     "DROP TABLE endpoint_raw; DROP TABLE endpoint_rollup;"
			     "ALTER TABLE v2 RENAME TO endpoint_series;"
			     "CREATE INDEX endpoint_series_tier_ts ON endpoint_series(tier, ts);"
			     "ALTER TABLE workload_series DROP COLUMN eref;"
			     "DELETE FROM schema_version WHERE version = 3;"
			     "COMMIT;",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	assert_true(q(c, "SELECT count(*) FROM endpoint_series WHERE tier = 0") > 0);

	assert_int_equal(psc_store_open(&c->s, c->path, &c->opt, err, sizeof(err)), 0);
	assert_int_equal(q(c, "SELECT max(version) FROM schema_version"), 3);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_rollup WHERE tier = 0"), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_raw"),
			 q(c, "SELECT count(*) FROM workload_series WHERE tier = 0"));
	after = series_dump(c);
	assert_string_equal(before, after);
	free(after);

	/* a window stored before the migration takes a second report (merged into the
	 * migrated row), and new windows go on */
	rep_init(&x, "h1", 100, t0, 2);
	assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_STORED);
	rep_clear(&x);
	assert_int_equal(q(c, "SELECT windows FROM endpoint_series es JOIN endpoints e ON"
			      " e.id = es.endpoint_id JOIN workloads w ON w.id = e.workload_id"
			      " JOIN hosts h ON h.id = w.host_id WHERE h.name = 'h1' AND tier = 0"
			      " AND ts = (SELECT min(ts) FROM endpoint_series) AND e.endpoint = 'E1'"),
			 2);
	rep_init(&x, "h1", 101, t0 + 1000, 2);
	assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_STORED);
	rep_clear(&x);
	after = series_dump(c);
	assert_true(strlen(after) > strlen(before));
	free(after);
	free(before);
}

/* The raw tier holds one row per workload-window, whatever the number of endpoints, and
 * a row goes with its workload's series row. */
static void raw_rows_per_workload_window(void **state)
{
	struct ctx *c = *state;
	enum psc_store_result res;
	struct psc_store_maint m;
	struct rep x;

	for (unsigned i = 0; i < 5; i++) {
		rep_init(&x, "h1", i + 1, NOW - 100 + 10.0 * i, 8);
		assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
		rep_clear(&x);
	}
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_raw"), 5);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_series WHERE tier = 0"), 40);
	assert_int_equal(q(c, "SELECT sum(count) FROM endpoint_series WHERE tier = 0"),
			 5 * 10 * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8));
	assert_int_equal(q(c, "SELECT count(DISTINCT workload_id) FROM endpoint_series"), 1);
	assert_int_equal(psc_store_maintain(c->s, NOW + c->opt.retention_raw_s + 3600, &m), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_raw"), 0);
}

static void hist_blob_round_trip(void **state)
{
	uint64_t a[PSC_HIST_BUCKETS] = { 0 }, b[PSC_HIST_BUCKETS] = { 0 }, max = 0;
	uint8_t blob[PSC_STORE_HIST_BLOB_MAX];
	size_t n;

	a[0] = 1;
	a[17] = 300;
	a[PSC_HIST_BUCKETS - 1] = UINT64_MAX / 2;
	n = psc_store_hist_encode(a, 12345, blob);
	assert_int_equal(psc_store_hist_decode_add(blob, n, b, &max), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(max, 12345);
	assert_int_equal(psc_store_hist_decode_add(blob, n - 1, b, &max), -EBADMSG);
	blob[0] = 2;
	assert_int_equal(psc_store_hist_decode_add(blob, n, b, &max), -EBADMSG);
}

static void keys_for(struct psc_keys *k)
{
	memset(k, 0, sizeof(*k));
	randombytes_buf(k->fleet, sizeof(k->fleet));
	crypto_sign_keypair(k->sign_pk, k->sign_sk);
	k->has_sign_sk = true;
}

static Prescient__Ack *ingest(struct psc_ingest *ing, const struct psc_keys *k,
			      const Prescient__HostReport *r, const uint8_t *key,
			      enum psc_wire_reason *reason)
{
	Prescient__Ack *a = NULL;
	uint8_t *f, *reply;
	size_t fl, rl;

	assert_int_equal(psc_wire_report_encode(r, key, &f, &fl), 0);
	assert_int_equal(psc_ingest_frame(ing, f, fl, NOW, &reply, &rl, reason), 0);
	free(f);
	if (psc_wire_frame_kind(reply, rl) == PSC_WIRE_REFUSAL) {
		free(reply);
		return NULL;
	}
	assert_int_equal(psc_wire_ack_decode(reply, rl, k->fleet, NULL, &a), 0);
	free(reply);
	return a;
}

static void ingest_acks_after_commit_and_counts(void **state)
{
	struct ctx *c = *state;
	struct psc_ingest_counters cnt = { 0 };
	struct psc_ingest *ing = NULL;
	enum psc_wire_reason reason;
	struct psc_keys k, other;
	Prescient__Ack *a;
	struct rep x;

	keys_for(&k);
	keys_for(&other);
	assert_int_equal(psc_ingest_new(&ing, c->s, &k, NULL, &cnt), 0);
	rep_init(&x, "h1", 1, NOW - 100, 2);

	a = ingest(ing, &k, &x.r, k.fleet, &reason);
	assert_non_null(a);
	assert_int_equal(reason, PSC_REFUSE_NONE);
	assert_int_equal(a->status, PRESCIENT__ACK__STATUS__OK);
	assert_string_equal(a->host_id, "h1");
	assert_int_equal(a->seq, 1);
	psc_wire_ack_free(&a);
	assert_int_equal(q(c, "SELECT count(*) FROM reports"), 1);

	a = ingest(ing, &k, &x.r, k.fleet, &reason);
	assert_int_equal(a->status, PRESCIENT__ACK__STATUS__DUPLICATE);
	assert_int_equal(reason, PSC_REFUSE_DUPLICATE);
	psc_wire_ack_free(&a);

	assert_null(ingest(ing, &k, &x.r, other.fleet, &reason));
	assert_int_equal(reason, PSC_REFUSE_BAD_KEY);

	uint8_t junk[64] = { 'P', 'S', PSC_WIRE_VERSION, PSC_WIRE_REPORT };
	uint8_t *reply;
	size_t rl;
	assert_int_equal(psc_ingest_frame(ing, junk, sizeof(junk), NOW, &reply, &rl, &reason), 0);
	assert_int_equal(psc_wire_refusal_reason(reply, rl), PSC_REFUSE_BAD_KEY);
	free(reply);
	assert_int_equal(psc_ingest_frame(ing, junk, 3, NOW, &reply, &rl, &reason), 0);
	assert_int_equal(psc_wire_refusal_reason(reply, rl), PSC_REFUSE_CORRUPT);
	free(reply);

	assert_int_equal(atomic_load(&cnt.received), 5);
	assert_int_equal(atomic_load(&cnt.stored), 1);
	assert_int_equal(atomic_load(&cnt.duplicate), 1);
	assert_int_equal(atomic_load(&cnt.refused[PSC_REFUSE_BAD_KEY]), 2);
	assert_int_equal(atomic_load(&cnt.refused[PSC_REFUSE_CORRUPT]), 1);
	assert_int_equal(q(c, "SELECT count(*) FROM reports"), 1);

	/* unknown ref: RESEND_DICT, not stored */
	x.r.seq = 2;
	x.r.dict_epoch = 9;
	x.e[0].ref = 4;
	x.e[0].endpoint = "";
	a = ingest(ing, &k, &x.r, k.fleet, &reason);
	assert_int_equal(a->status, PRESCIENT__ACK__STATUS__RESEND_DICT);
	assert_int_equal(reason, PSC_REFUSE_UNKNOWN_REF);
	psc_wire_ack_free(&a);
	assert_int_equal(q(c, "SELECT count(*) FROM reports"), 1);
	rep_clear(&x);
	psc_ingest_free(&ing);
	assert_null(ing);
}

static void pending_adjustments_ride_on_acks(void **state)
{
	struct ctx *c = *state;
	struct psc_ingest_counters cnt = { 0 };
	struct psc_ingest *ing = NULL;
	Prescient__Adjustment adj = PRESCIENT__ADJUSTMENT__INIT, *v = NULL;
	Prescient__Targets t = PRESCIENT__TARGETS__INIT;
	Prescient__SignedAdjustment sa;
	enum psc_wire_reason reason;
	struct psc_keys k;
	Prescient__Ack *a;
	struct rep x;

	keys_for(&k);
	assert_int_equal(psc_ingest_new(&ing, c->s, &k, NULL, &cnt), 0);
	t.memory_high_bytes = 1 << 30;
	adj.id = 7;
	adj.host_id = "h1";
	adj.workload = "/system.slice/app.service";
	adj.targets = &t;
	adj.reason = "test";
	adj.issued_at = NOW - 10;
	adj.expires_at = NOW + 600;
	assert_int_equal(psc_wire_adjustment_sign(&adj, k.sign_sk, &sa), 0);
	assert_int_equal(psc_store_adjustment_add(c->s, &sa), 0);
	assert_int_equal(psc_store_adjustment_add(c->s, &sa), -EEXIST);
	adj.id = 8;
	adj.expires_at = NOW - 1; /* expired: never sent */
	psc_wire_signed_clear(&sa);
	assert_int_equal(psc_wire_adjustment_sign(&adj, k.sign_sk, &sa), 0);
	assert_int_equal(psc_store_adjustment_add(c->s, &sa), 0);
	psc_wire_signed_clear(&sa);

	rep_init(&x, "h1", 1, NOW - 100, 1);
	a = ingest(ing, &k, &x.r, k.fleet, &reason);
	assert_int_equal(a->n_adjustments, 1);
	assert_int_equal(psc_wire_adjustment_verify(a->adjustments[0], k.sign_pk, "h1", NOW, 0, &v),
			 0);
	assert_int_equal(v->id, 7);
	prescient__adjustment__free_unpacked(v, NULL);
	psc_wire_ack_free(&a);

	/* another host gets nothing */
	x.r.host_id = "h2";
	a = ingest(ing, &k, &x.r, k.fleet, &reason);
	assert_int_equal(a->n_adjustments, 0);
	psc_wire_ack_free(&a);

	/* the outcome comes back: no longer pending */
	Prescient__AdjustmentOutcome o = PRESCIENT__ADJUSTMENT_OUTCOME__INIT, *op = &o;
	o.adjustment_id = 7;
	o.workload = "/system.slice/app.service";
	o.result = PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__APPLIED;
	o.at = NOW;
	x.r.host_id = "h1";
	x.r.seq = 2;
	x.r.outcomes = &op;
	x.r.n_outcomes = 1;
	a = ingest(ing, &k, &x.r, k.fleet, &reason);
	assert_int_equal(a->status, PRESCIENT__ACK__STATUS__OK);
	assert_int_equal(a->n_adjustments, 0);
	psc_wire_ack_free(&a);
	assert_int_equal(q(c, "SELECT outcome FROM adjustments WHERE id = 7"),
			 PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__APPLIED);
	assert_int_equal(q(c, "SELECT count(*) FROM adjustment_outcomes"), 1);

	/* h2 was found with none; an adjustment added later, through this store or through
	 * another connection (the allocation's), still rides on its next ack */
	x.r.host_id = "h2";
	x.r.n_outcomes = 0;
	adj.id = 9;
	adj.host_id = "h2";
	adj.expires_at = NOW + 600;
	assert_int_equal(psc_wire_adjustment_sign(&adj, k.sign_sk, &sa), 0);
	assert_int_equal(psc_store_adjustment_add(c->s, &sa), 0);
	psc_wire_signed_clear(&sa);
	a = ingest(ing, &k, &x.r, k.fleet, &reason);
	assert_int_equal(a->n_adjustments, 1);
	psc_wire_ack_free(&a);
	q(c, "UPDATE adjustments SET outcome = 1 WHERE id = 9");
	x.r.seq = 3;
	a = ingest(ing, &k, &x.r, k.fleet, &reason);
	assert_int_equal(a->n_adjustments, 0);
	psc_wire_ack_free(&a);
	x.r.seq = 4;
	a = ingest(ing, &k, &x.r, k.fleet, &reason);
	assert_int_equal(a->n_adjustments, 0);
	psc_wire_ack_free(&a);
	q(c, "INSERT INTO adjustments (id, host, workload, issued_at, expires_at, reason, payload,"
	     " signature) SELECT 10, host, workload, issued_at, expires_at, reason, payload,"
	     " signature FROM adjustments WHERE id = 9");
	x.r.seq = 5;
	a = ingest(ing, &k, &x.r, k.fleet, &reason);
	assert_int_equal(a->n_adjustments, 1);
	psc_wire_ack_free(&a);
	rep_clear(&x);
	psc_ingest_free(&ing);
}

/* Group commit: the reports of a batch become visible together at the commit; a
 * duplicate within the batch and an unknown ref are each undone alone. */
static void batch_commits_together(void **state)
{
	struct ctx *c = *state;
	enum psc_store_result res;
	struct rep x, y;

	rep_init(&x, "h1", 1, NOW - 100, 3);
	rep_init(&y, "h2", 1, NOW - 100, 2);
	assert_int_equal(psc_store_batch_begin(c->s), 0);
	assert_int_equal(psc_store_batch_begin(c->s), -EBUSY);
	assert_int_equal(psc_store_batch_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_STORED);
	assert_int_equal(psc_store_batch_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_DUPLICATE);
	/* unknown ref, after a new workload and endpoint were written in its savepoint */
	x.r.seq = 2;
	x.r.dict_epoch = 9;
	x.w.cgroup = "/other.slice";
	x.e[2].ref = 4;
	x.e[2].endpoint = "";
	assert_int_equal(psc_store_batch_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_UNKNOWN_REF);
	assert_int_equal(psc_store_batch_report(c->s, &y.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_STORED);
	/* nothing is visible (durable) before the commit */
	assert_int_equal(q(c, "SELECT count(*) FROM reports"), 0);
	assert_int_equal(psc_store_batch_commit(c->s), 0);
	assert_int_equal(psc_store_batch_commit(c->s), -EINVAL);
	assert_int_equal(q(c, "SELECT count(*) FROM reports"), 2);
	assert_int_equal(q(c, "SELECT count(*) FROM reports WHERE seq = 2"), 0);
	assert_int_equal(q(c, "SELECT count(*) FROM workloads"), 2);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoints"), 5);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_series"), 5);
	assert_int_equal(q(c, "SELECT count(*) FROM rollup_dirty"), 1);
	rep_clear(&x);
	rep_clear(&y);
}

/* Ids learnt in a transaction that is rolled back must not be used afterwards: every
 * series row must point at an existing endpoint and workload. */
static void rollback_forgets_cached_ids(void **state)
{
	struct ctx *c = *state;
	enum psc_store_result res;
	struct rep x;

	rep_init(&x, "h1", 1, NOW - 100, 3);
	x.r.dict_epoch = 5;
	x.w.ref = 1;
	x.e[0].ref = 2;
	assert_int_equal(psc_store_batch_begin(c->s), 0);
	assert_int_equal(psc_store_batch_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_STORED);
	psc_store_batch_rollback(c->s);
	psc_store_batch_rollback(c->s); /* no batch: nothing */
	assert_int_equal(q(c, "SELECT count(*) FROM endpoints"), 0);

	/* the same report again, then one by ref only */
	assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW, &res), 0);
	assert_int_equal(res, PSC_STORE_STORED);
	x.r.seq = 2;
	x.r.window_start += 10;
	x.r.window_end += 10;
	x.w.cgroup = "";
	x.w.name = "";
	x.e[0].protocol = x.e[0].role = x.e[0].endpoint = "";
	assert_int_equal(psc_store_report(c->s, &x.r, 1, NOW + 1, &res), 0);
	assert_int_equal(res, PSC_STORE_STORED);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoints"), 3);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_series"), 6);
	assert_int_equal(q(c, "SELECT count(*) FROM endpoint_series es JOIN endpoints e ON"
			      " e.id = es.endpoint_id JOIN workloads w ON w.id = e.workload_id"),
			 6);
	assert_int_equal(q(c, "SELECT count(*) FROM workload_series ws JOIN workloads w ON"
			      " w.id = ws.workload_id"),
			 2);
	rep_clear(&x);
}

/* One batch of requests: each gets its own reply, in order, after the commit. */
static void ingest_batch_replies_to_each(void **state)
{
	struct ctx *c = *state;
	struct psc_ingest_counters cnt = { 0 };
	struct psc_ingest *ing = NULL;
	struct psc_ingest_req req[4] = { 0 };
	uint8_t junk[3] = { 'P', 'S', 1 };
	Prescient__Ack *a;
	struct psc_keys k;
	struct rep x;

	keys_for(&k);
	assert_int_equal(psc_ingest_new(&ing, c->s, &k, NULL, &cnt), 0);
	rep_init(&x, "h1", 1, NOW - 100, 2);
	assert_int_equal(psc_wire_report_encode(&x.r, k.fleet, (uint8_t **)&req[0].frame,
						&req[0].len),
			 0);
	req[1].frame = junk;
	req[1].len = sizeof(junk);
	req[2] = req[0]; /* the same report twice in one batch */
	x.r.seq = 2;
	assert_int_equal(psc_wire_report_encode(&x.r, k.fleet, (uint8_t **)&req[3].frame,
						&req[3].len),
			 0);
	assert_int_equal(psc_ingest_batch(ing, req, 4, NOW), 0);
	assert_int_equal(req[0].reason, PSC_REFUSE_NONE);
	assert_int_equal(req[1].reason, PSC_REFUSE_CORRUPT);
	assert_int_equal(psc_wire_refusal_reason(req[1].reply, req[1].reply_len),
			 PSC_REFUSE_CORRUPT);
	assert_int_equal(req[2].reason, PSC_REFUSE_DUPLICATE);
	assert_int_equal(req[3].reason, PSC_REFUSE_NONE);
	for (int i = 0; i < 4; i++) {
		if (i == 1)
			continue;
		assert_int_equal(psc_wire_ack_decode(req[i].reply, req[i].reply_len, k.fleet, NULL,
						     &a),
				 0);
		assert_int_equal(a->seq, i == 3 ? 2 : 1);
		assert_int_equal(a->status, i == 2 ? PRESCIENT__ACK__STATUS__DUPLICATE
						   : PRESCIENT__ACK__STATUS__OK);
		psc_wire_ack_free(&a);
	}
	for (int i = 0; i < 4; i++)
		free(req[i].reply);
	free((void *)req[0].frame);
	free((void *)req[3].frame);
	assert_int_equal(atomic_load(&cnt.received), 4);
	assert_int_equal(atomic_load(&cnt.stored), 2);
	assert_int_equal(atomic_load(&cnt.duplicate), 1);
	assert_int_equal(atomic_load(&cnt.refused[PSC_REFUSE_CORRUPT]), 1);
	assert_int_equal(q(c, "SELECT count(*) FROM reports"), 2);
	rep_clear(&x);
	psc_ingest_free(&ing);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(migrates_an_empty_db, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_a_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(stores_once_and_dedups, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_reports_are_not_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(dictionary_refs_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(endpoint_refs_per_workload, setup, teardown),
		cmocka_unit_test_setup_teardown(same_window_twice_merges, setup, teardown),
		cmocka_unit_test_setup_teardown(rollups_and_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(migrates_raw_endpoint_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(raw_rows_per_workload_window, setup, teardown),
		cmocka_unit_test(hist_blob_round_trip),
		cmocka_unit_test_setup_teardown(ingest_acks_after_commit_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(pending_adjustments_ride_on_acks, setup, teardown),
		cmocka_unit_test_setup_teardown(batch_commits_together, setup, teardown),
		cmocka_unit_test_setup_teardown(rollback_forgets_cached_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(ingest_batch_replies_to_each, setup, teardown),
		cmocka_unit_test_setup_teardown(limits_and_capacity_are_stored, setup, teardown),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
