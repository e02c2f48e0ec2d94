// SPDX-License-Identifier: MIT
#include "modeling.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "behaviour.h"
#include "classify.h"
#include "cleanup.h"
#include "cluster.h"
#include "detect.h"
#include "forecast.h"
#include "hashmap.h"
#include "hist.h"
#include "log.h"
#include "profile.h"
#include "season.h"
#include "store.h"

enum { S_CPU, S_MEM, S_NET, S_REQ, NSER };
static const char *const ser_name[NSER] = { "cpu", "mem", "net", "req" };

#define NDIM _PSC_B_MAX
#define MAX_SKIP 288 /* gap steps replayed as skips at most; longer gaps are cut short */
#define COMMIT_EVERY 20000 /* statements per transaction, so ingest is never held long */
#define COMMIT_AFTER_S 0.05 /* ... nor a transaction open longer than this while modeling */
#define KMEANS_AUTO_MAX 2000 /* above, k is fixed at 8 (silhouette search is O(n^2)) */

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS model_state ("
	"  workload_id INTEGER PRIMARY KEY, last_ts REAL, last_step REAL, steps INTEGER,"
	"  series TEXT, updated_at REAL);"
	"CREATE TABLE IF NOT EXISTS forecasts ("
	"  workload_id INTEGER NOT NULL, series TEXT NOT NULL, horizon_s REAL NOT NULL,"
	"  ts REAL NOT NULL, issued_at REAL NOT NULL, p10 REAL, p50 REAL, p90 REAL, model TEXT,"
	"  PRIMARY KEY (workload_id, series, horizon_s)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS detections ("
	"  id INTEGER PRIMARY KEY, workload_id INTEGER NOT NULL, series TEXT NOT NULL,"
	"  ts REAL NOT NULL, score REAL NOT NULL, source TEXT NOT NULL, direction INTEGER,"
	"  actual REAL, baseline REAL, detail TEXT, detected_at REAL NOT NULL);"
	"CREATE INDEX IF NOT EXISTS detections_ts ON detections(ts);"
	"CREATE TABLE IF NOT EXISTS clusters ("
	"  workload_id INTEGER PRIMARY KEY, cluster INTEGER NOT NULL, method TEXT NOT NULL,"
	"  quality REAL, cycle INTEGER NOT NULL, ts REAL NOT NULL);"
	"CREATE TABLE IF NOT EXISTS cluster_moves ("
	"  id INTEGER PRIMARY KEY, ts REAL NOT NULL, cycle INTEGER NOT NULL,"
	"  workload_id INTEGER NOT NULL, from_cluster INTEGER, to_cluster INTEGER);"
	"CREATE INDEX IF NOT EXISTS cluster_moves_ts ON cluster_moves(ts);"
	"CREATE TABLE IF NOT EXISTS profiles ("
	"  scope TEXT NOT NULL, id INTEGER NOT NULL, series TEXT NOT NULL,"
	"  hour_of_week INTEGER NOT NULL, samples INTEGER NOT NULL, p10 REAL, p50 REAL,"
	"  p90 REAL, PRIMARY KEY (scope, id, series, hour_of_week)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS classes ("
	"  workload_id INTEGER PRIMARY KEY, class TEXT NOT NULL, confidence REAL,"
	"  explanation TEXT, ts REAL NOT NULL);";

enum {
	Q_ARRIVED,
	Q_NEW,
	Q_HIST_W,
	Q_HIST_E,
	Q_RECENT,
	Q_EP_NAME,
	Q_FORECAST,
	Q_DETECTION,
	Q_STATE,
	Q_PROFILE,
	Q_CLUSTER,
	Q_MOVE,
	Q_CLASS,
	Q_DEL_CPROFILES,
	Q_RET_DET,
	Q_RET_MOVES,
	Q_BEGIN,
	Q_COMMIT,
	_Q_MAX,
};

#define W_COLS                                                                            \
	"workload_id, ts, span_s, cpu_s, mem_bytes, net_rx_bytes + net_tx_bytes,"         \
	" cpu_throttled_s, oom_kills, psi_cpu_some, psi_mem_some"
#define E_COLS                                                                            \
	"s.workload_id, s.ts, s.span_s, s.count, s.errors, s.bytes_in + s.bytes_out,"     \
	" s.latency_hist, s.endpoint_id"
static const char *const sql[_Q_MAX] = {
	/* The ledger's rowid is its arrival order (one writer; retention deletes the oldest
	 * windows, never the newest row). New windows are found by arrival, not by time: a
	 * host whose windows arrive behind the others' (a backlog, a spool replayed after an
	 * outage, a clock behind the fleet's) is modeled like any other. */
	[Q_ARRIVED] = "SELECT coalesce(max(rowid), 0) FROM reports",
	/* CROSS JOIN keeps this order, from the new ledger rows by key (SQLite would
	 * otherwise scan the whole raw tier by its tier/ts index). */
	[Q_NEW] = "SELECT ws.workload_id, min(ws.ts) FROM reports r"
		  " CROSS JOIN hosts h ON h.name = r.host"
		  " CROSS JOIN workloads wk ON wk.host_id = h.id"
		  " CROSS JOIN workload_series ws ON ws.workload_id = wk.id AND ws.tier = 0"
		  " AND ws.ts = r.window_start"
		  " WHERE r.rowid > ?1 AND r.rowid <= ?2 GROUP BY ws.workload_id",
	[Q_HIST_W] = "SELECT " W_COLS " FROM workload_series WHERE workload_id = ?1"
		     " AND tier = 0 AND ts >= ?2 ORDER BY ts",
	[Q_HIST_E] = "SELECT " E_COLS " FROM endpoint_series s WHERE s.workload_id = ?1"
		     " AND s.tier = 0 AND s.ts >= ?2 ORDER BY s.ts",
	[Q_RECENT] = "SELECT workload_id, max(ts) FROM workload_series WHERE tier = 0"
		     " AND ts >= ?1 GROUP BY workload_id",
	[Q_EP_NAME] = "SELECT protocol || ' ' || endpoint FROM endpoints WHERE id = ?1",
	[Q_FORECAST] = "INSERT OR REPLACE INTO forecasts (workload_id, series, horizon_s, ts,"
		       " issued_at, p10, p50, p90, model) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
		       " ?8, ?9)",
	[Q_DETECTION] = "INSERT INTO detections (workload_id, series, ts, score, source,"
			" direction, actual, baseline, detail, detected_at)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[Q_STATE] = "INSERT OR REPLACE INTO model_state (workload_id, last_ts, last_step, steps,"
		    " series, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_PROFILE] = "INSERT OR REPLACE INTO profiles (scope, id, series, hour_of_week, samples,"
		      " p10, p50, p90) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[Q_CLUSTER] = "INSERT OR REPLACE INTO clusters (workload_id, cluster, method, quality,"
		      " cycle, ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_MOVE] = "INSERT INTO cluster_moves (ts, cycle, workload_id, from_cluster, to_cluster)"
		   " VALUES (?1, ?2, ?3, ?4, ?5)",
	[Q_CLASS] = "INSERT OR REPLACE INTO classes (workload_id, class, confidence, explanation,"
		    " ts) VALUES (?1, ?2, ?3, ?4, ?5)",
	[Q_DEL_CPROFILES] = "DELETE FROM profiles WHERE scope = 'cluster'",
	[Q_RET_DET] = "DELETE FROM detections WHERE id IN (SELECT id FROM detections"
		      " WHERE ts < ?1 LIMIT 5000)",
	[Q_RET_MOVES] = "DELETE FROM cluster_moves WHERE id IN (SELECT id FROM cluster_moves"
			" WHERE ts < ?1 LIMIT 5000)",
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
};

/* One raw row: a workload window (eid 0: a = cpu_s, b = mem_bytes, c = net bytes, d =
 * CPU-throttled seconds, e = OOM kills, f/g = PSI cpu/memory "some" shares, NAN when not
 * measured) or an endpoint window (a = count, b = errors, c = bytes, d/e =
 * latency p50/p90 in us). */
struct row {
	int64_t wid, eid;
	double ts, span;
	double a, b, c, d, e, f, g;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

/* The step being accumulated. */
struct acc {
	double b; /* step start; NAN = none open */
	double span, cpu, cpu_span, mem, mem_span, net, net_span;
	double req, err, bytes, lat50, lat90, lat_n, ep_span, ep_last_ts;
	double thr, thr_span, oom;
	double psi_cpu, psi_cpu_span, psi_mem, psi_mem_span; /* stall shares, span-weighted */
	double slot[PSC_MIX_SLOTS];
	bool any_ep;
};

struct ser {
	struct psc_forecaster *f;
	struct psc_detector *d;
};

struct wl {
	int64_t id;
	double offset; /* step phase of this workload, spreads the feeding over cycles */
	struct ser s[NSER];
	struct psc_cpd *cpd;
	struct psc_profile prof;
	double bv[NDIM]; /* running (EWMA) behaviour vector */
	uint64_t nbv;
	double *ring; /* last day of CPU steps, for the series features of the class */
	uint32_t ring_n, ring_pos;
	int64_t slot_ep[PSC_MIX_SLOTS];
	double slot_rate[PSC_MIX_SLOTS]; /* EWMA requests/s per slot */
	unsigned n_slots;
	struct acc acc;
	double seen_ts;	  /* newest raw window taken */
	double last_step; /* start of the last step fed (NAN none) */
	uint64_t steps;
	int cluster;
	uint64_t cpd_reported; /* start + 1 of the last behaviour episode stored (0 none) */
	bool fed, silent;
};

struct psc_modeling {
	struct psc_modeling_options opt;
	sqlite3 *db;
	sqlite3_stmt *st[_Q_MAX];
	struct psc_hashmap *wl;	     /* id -> struct wl */
	struct psc_hashmap *pending; /* ids waiting for a rebuild -> (void *)1 */
	struct psc_fc_cfg fc;
	struct psc_detector_cfg dc;
	uint32_t ring_cap;
	int64_t arrived; /* newest reports rowid read (-1 before the first cycle) */
	uint64_t cycle;
	size_t writes;
	bool in_tx, warned_full;
	double tx_started; /* mono() at BEGIN */
	double now;
	struct psc_modeling_stats stats;
	double *old_cent; /* last clustering's centroids, for stable labels */
	size_t k_old;
	struct psc_classifier cls;
	int tfd;
	struct psc_modeling_stats last;
	psc_modeling_observer_fn observer;
	void *observer_ctx;
};

struct psc_modeling_options psc_modeling_options_default(void)
{
	return (struct psc_modeling_options){
		.period_s = 10,
		.step_s = 300,
		.close_grace_s = 30,
		.rebuild_s = 2 * 86400,
		.recluster_every = 30,
		.detect_threshold = 0.5,
		.behaviour_threshold = 0.8,
		.history = 1024,
		.detect_window = 256,
		.max_workloads = 20000,
		.detections_retention_s = 30 * 86400,
	};
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int db_err(struct psc_modeling *m, const char *what)
{
	psc_warn("AGG-MODEL-DB", "modeling: %s: %s", what, sqlite3_errmsg(m->db));
	return -EIO;
}

static int tx_begin(struct psc_modeling *m);

/* Steps a write statement (bound by the caller) and resets it. The transaction it joins
 * is begun here, at the first write, so that the write lock (which ingest waits for) is
 * never held while models are computed before it. */
static int exec_st(struct psc_modeling *m, int q)
{
	sqlite3_stmt *st = m->st[q];
	int r = tx_begin(m);
	if (r < 0) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return r;
	}
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_err(m, sql[q]);
	m->writes++;
	return 0;
}

static int tx_begin(struct psc_modeling *m)
{
	if (m->in_tx)
		return 0;
	int rc = sqlite3_step(m->st[Q_BEGIN]);
	sqlite3_reset(m->st[Q_BEGIN]);
	if (rc != SQLITE_DONE)
		return db_err(m, "BEGIN");
	m->in_tx = true;
	m->writes = 0;
	m->tx_started = mono();
	return 0;
}

static int tx_commit(struct psc_modeling *m)
{
	if (!m->in_tx)
		return 0;
	int rc = sqlite3_step(m->st[Q_COMMIT]);
	sqlite3_reset(m->st[Q_COMMIT]);
	m->in_tx = false;
	if (rc != SQLITE_DONE) {
		sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
		return db_err(m, "COMMIT");
	}
	return 0;
}

/* Commits when the transaction has grown or has been open for a while, so ingest waits
 * at most one chunk; the next write begins the next one. */
static int tx_chunk(struct psc_modeling *m)
{
	if (m->in_tx && (m->writes >= COMMIT_EVERY || mono() - m->tx_started > COMMIT_AFTER_S))
		return tx_commit(m);
	return 0;
}

static void wl_free(struct wl *w)
{
	if (!w)
		return;
	for (int i = 0; i < NSER; i++) {
		psc_forecaster_free(&w->s[i].f);
		psc_detector_free(&w->s[i].d);
	}
	psc_cpd_free(&w->cpd);
	psc_profile_reset(&w->prof);
	free(w->ring);
	free(w);
}

static void acc_reset(struct acc *a)
{
	memset(a, 0, sizeof(*a));
	a->b = NAN;
	a->ep_last_ts = NAN;
}

static struct wl *wl_new(struct psc_modeling *m, int64_t id)
{
	struct psc_cpd_cfg cc = { .dims = NDIM };
	struct wl *w = calloc(1, sizeof(*w));
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;
	double slots = floor(m->opt.step_s / m->opt.period_s);

	if (!w)
		return NULL;
	w->id = id;
	w->ring = calloc(m->ring_cap, sizeof(*w->ring));
	if (!w->ring || psc_cpd_new(&w->cpd, &cc) < 0) {
		wl_free(w);
		return NULL;
	}
	/* Workloads whose steps all closed in the same cycle would make every step-th cycle
	 * carry all the work: each gets a phase, a whole number of periods. */
	w->offset = slots >= 2 ? (double)((h >> 32) % (uint64_t)slots) * m->opt.period_s : 0;
	w->last_step = NAN;
	w->seen_ts = -INFINITY;
	w->cluster = -1;
	acc_reset(&w->acc);
	return w;
}

static int ser_open(struct psc_modeling *m, struct ser *s)
{
	if (psc_forecaster_new(&s->f, &m->fc) < 0)
		return -ENOMEM;
	if (psc_detector_new(&s->d, &m->dc) < 0) {
		psc_forecaster_free(&s->f);
		return -ENOMEM;
	}
	return 0;
}

static const char *endpoint_name(struct psc_modeling *m, int64_t eid, char *buf, size_t len)
{
	sqlite3_stmt *st = m->st[Q_EP_NAME];

	snprintf(buf, len, "endpoint %lld", (long long)eid);
	sqlite3_bind_int64(st, 1, eid);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return buf;
}

/* The endpoint whose request rate moved most against its running rate, for the detail of
 * a detection; empty when the workload has no endpoints. */
static void top_endpoint(struct psc_modeling *m, const struct wl *w, const struct acc *a,
			 char *buf, size_t len)
{
	double best = 0, span = a->ep_span > 0 ? a->ep_span : m->opt.step_s;
	int bi = -1;
	char name[256];

	buf[0] = 0;
	for (unsigned i = 0; i < w->n_slots; i++) {
		double now = a->slot[i] / span, d = fabs(now - w->slot_rate[i]);
		if (d > best) {
			best = d;
			bi = (int)i;
		}
	}
	if (bi >= 0)
		snprintf(buf, len, "; endpoint moved most: %s %.3g/s -> %.3g/s",
			 endpoint_name(m, w->slot_ep[bi], name, sizeof(name)), w->slot_rate[bi],
			 a->slot[bi] / span);
}

static int store_detection(struct psc_modeling *m, const struct wl *w, const char *series,
			   double ts, double score, const char *source, int dir, double actual,
			   double baseline, const char *detail)
{
	sqlite3_stmt *st = m->st[Q_DETECTION];

	sqlite3_bind_int64(st, 1, w->id);
	sqlite3_bind_text(st, 2, series, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 3, ts);
	sqlite3_bind_double(st, 4, score);
	sqlite3_bind_text(st, 5, source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 6, dir);
	if (isfinite(actual))
		sqlite3_bind_double(st, 7, actual);
	if (isfinite(baseline))
		sqlite3_bind_double(st, 8, baseline);
	sqlite3_bind_text(st, 9, detail, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 10, m->now);
	m->stats.detections++;
	return exec_st(m, Q_DETECTION);
}

/* Feeds the accumulated step of @w through its models. */
static int feed_step(struct psc_modeling *m, struct wl *w)
{
	struct acc *a = &w->acc;
	double step = m->opt.step_s, v[NSER], x[NDIM];
	char detail[512], top[320];
	int r;

	if (isnan(a->b))
		return 0;
	v[S_CPU] = a->cpu_span > 0 ? a->cpu / a->cpu_span : NAN;
	v[S_MEM] = a->mem_span > 0 ? a->mem / a->mem_span : NAN;
	v[S_NET] = a->net_span > 0 ? a->net / a->net_span : NAN;
	double span = a->span > 0 ? a->span : a->ep_span;
	v[S_REQ] = w->n_slots && span > 0 ? a->req / span : NAN;

	/* Steps with no window at all are gaps for the models. */
	if (!isnan(w->last_step)) {
		double gap = round((a->b - w->last_step) / step) - 1;
		for (double g = 0; g < gap && g < MAX_SKIP; g++) {
			for (int i = 0; i < NSER; i++)
				if (w->s[i].f)
					psc_forecaster_skip(w->s[i].f);
			if (m->observer) {
				struct psc_modeling_obs o = {
					.workload_id = w->id, .ts = w->last_step + (g + 1) * step,
					.step_s = step, .cpu_cores = NAN, .mem_bytes = NAN,
					.net_bytes_per_s = NAN, .req_per_s = NAN,
					.throttled_share = NAN, .oom_kills = NAN,
					.psi_cpu = NAN, .psi_mem = NAN,
				};
				m->observer(m->observer_ctx, &o);
			}
		}
	}
	if (m->observer) {
		struct psc_modeling_obs o = {
			.workload_id = w->id,
			.ts = a->b,
			.step_s = step,
			.cpu_cores = v[S_CPU],
			.mem_bytes = v[S_MEM],
			.net_bytes_per_s = v[S_NET],
			.req_per_s = v[S_REQ],
			.throttled_share = a->thr_span > 0 ? a->thr / a->thr_span : NAN,
			.oom_kills = a->oom,
			.psi_cpu = a->psi_cpu_span > 0 ? a->psi_cpu / a->psi_cpu_span : NAN,
			.psi_mem = a->psi_mem_span > 0 ? a->psi_mem / a->psi_mem_span : NAN,
		};
		m->observer(m->observer_ctx, &o);
	}
	top[0] = 0;
	for (int i = 0; i < NSER; i++) {
		struct ser *s = &w->s[i];
		struct psc_fc_quantiles q;
		struct psc_detection det;

		if (!isfinite(v[i])) {
			if (s->f)
				psc_forecaster_skip(s->f);
			continue;
		}
		if (!s->f && ser_open(m, s) < 0)
			return -ENOMEM;
		double expect = psc_forecaster_forecast(s->f, 0, &q) == 0 ? q.p50 : NAN;
		psc_detector_update(s->d, v[i], expect, &det);
		psc_forecaster_update(s->f, v[i]);
		m->stats.steps++;
		if (w->silent || !(det.score >= m->opt.detect_threshold))
			continue;
		if (!top[0])
			top_endpoint(m, w, a, top, sizeof(top));
		snprintf(detail, sizeof(detail), "%s %s: %.4g against %.4g expected (%.1f sd)%s",
			 psc_chart_name(det.chart), det.direction > 0 ? "up" : "down", v[i],
			 det.baseline, det.z, top);
		r = store_detection(m, w, ser_name[i], a->b, det.score, ser_name[i],
				    det.direction, v[i], det.baseline, detail);
		if (r < 0)
			return r;
	}

	/* Behaviour: the window's vector, its change points, the running mean for
	 * clustering, the CPU profile and the last day of CPU for the class. */
	struct psc_window_obs o = {
		.window_s = span > 0 ? span : step,
		.cpu_s = a->cpu,
		.mem_bytes = isfinite(v[S_MEM]) ? v[S_MEM] : 0,
		.requests = a->req,
		.errors = a->err,
		.bytes_in = a->bytes,
		.latency_p50_us = a->lat_n > 0 ? a->lat50 / a->lat_n : 0,
		.latency_p90_us = a->lat_n > 0 ? a->lat90 / a->lat_n : 0,
		.endpoint_counts = a->slot,
		.n_endpoints = w->n_slots,
	};
	if (psc_behaviour_vector(&o, x) == 0) {
		struct psc_shift sh;
		double alpha = w->nbv < 10 ? 1.0 / (double)(w->nbv + 1) : 0.1;

		psc_cpd_update(w->cpd, x, &sh);
		for (int j = 0; j < NDIM; j++)
			w->bv[j] += alpha * (x[j] - w->bv[j]);
		w->nbv++;
		/* The change-point score stays high while a shift lasts: one row per episode. */
		bool fresh = sh.start + 1 != w->cpd_reported;
		if (sh.score >= m->opt.behaviour_threshold)
			w->cpd_reported = sh.start + 1;
		if (!w->silent && fresh && sh.score >= m->opt.behaviour_threshold) {
			char name[256] = "";
			size_t slot = sh.dim - PSC_B_MIX0;
			if (sh.dim >= PSC_B_MIX0 && slot < w->n_slots)
				snprintf(name, sizeof(name), " (%s)",
					 endpoint_name(m, w->slot_ep[slot], top, sizeof(top)));
			snprintf(detail, sizeof(detail),
				 "behaviour %s%s moved %s: %.4g against baseline %.4g (x%.3g)",
				 psc_behaviour_dim_name(sh.dim), name,
				 sh.direction > 0 ? "up" : "down", sh.current, sh.baseline,
				 sh.ratio);
			r = store_detection(m, w, "behaviour", a->b, sh.score,
					    psc_behaviour_dim_name(sh.dim), sh.direction,
					    sh.current, sh.baseline, detail);
			if (r < 0)
				return r;
		}
	}
	double span_ep = a->ep_span > 0 ? a->ep_span : step;
	for (unsigned i = 0; i < w->n_slots; i++)
		w->slot_rate[i] += (w->nbv <= 1 ? 1.0 : 0.2) * (a->slot[i] / span_ep - w->slot_rate[i]);
	if (isfinite(v[S_CPU])) {
		psc_profile_add(&w->prof, a->b, v[S_CPU]);
		w->ring[w->ring_pos] = v[S_CPU];
		w->ring_pos = (w->ring_pos + 1) % m->ring_cap;
		if (w->ring_n < m->ring_cap)
			w->ring_n++;
	}
	w->last_step = a->b;
	w->steps++;
	w->fed = true;
	acc_reset(a);
	return 0;
}

/* Adds one raw row to @w's open step, feeding the open step first when the row belongs
 * to a later one. Rows of a step already fed are dropped (late). */
static int take_row(struct psc_modeling *m, struct wl *w, const struct row *rw)
{
	double b = floor((rw->ts - w->offset) / m->opt.step_s) * m->opt.step_s + w->offset;
	struct acc *a = &w->acc;
	int r;

	if (!isnan(w->last_step) && b <= w->last_step)
		return 0;
	if (!isnan(a->b) && b > a->b) {
		r = feed_step(m, w);
		if (r < 0)
			return r;
	}
	if (isnan(a->b))
		a->b = b;
	if (rw->eid == 0) {
		a->span += rw->span;
		if (isfinite(rw->a)) {
			a->cpu += rw->a;
			a->cpu_span += rw->span;
		}
		if (isfinite(rw->b)) {
			a->mem += rw->b * rw->span;
			a->mem_span += rw->span;
		}
		if (isfinite(rw->c)) {
			a->net += rw->c;
			a->net_span += rw->span;
		}
		if (isfinite(rw->d)) {
			a->thr += rw->d;
			a->thr_span += rw->span;
		}
		if (isfinite(rw->e))
			a->oom += rw->e;
		if (isfinite(rw->f)) {
			a->psi_cpu += rw->f * rw->span;
			a->psi_cpu_span += rw->span;
		}
		if (isfinite(rw->g)) {
			a->psi_mem += rw->g * rw->span;
			a->psi_mem_span += rw->span;
		}
		return 0;
	}
	unsigned slot;
	for (slot = 0; slot < w->n_slots && w->slot_ep[slot] != rw->eid; slot++)
		;
	if (slot == w->n_slots && w->n_slots < PSC_MIX_SLOTS)
		w->slot_ep[w->n_slots++] = rw->eid;
	if (slot < PSC_MIX_SLOTS)
		a->slot[slot] += rw->a;
	a->any_ep = true;
	a->req += rw->a;
	a->err += rw->b;
	a->bytes += rw->c;
	if (rw->a > 0 && isfinite(rw->d)) {
		a->lat50 += rw->d * rw->a;
		a->lat90 += rw->e * rw->a;
		a->lat_n += rw->a;
	}
	/* the endpoint windows of one report share its span: count it once per start */
	if (rw->ts != a->ep_last_ts) {
		a->ep_span += rw->span;
		a->ep_last_ts = rw->ts;
	}
	return 0;
}

/* p50 and p90 (bucket midpoints, us) of a latency_hist blob; NAN when absent or bad. */
static void blob_quantiles(const void *blob, int len, double *p50, double *p90)
{
	uint64_t counts[PSC_HIST_BUCKETS] = { 0 }, max = 0, total = 0, cum = 0;
	double *out[2] = { p50, p90 };
	const double qs[2] = { 0.5, 0.9 };
	unsigned k = 0;

	*p50 = *p90 = NAN;
	if (!blob || len <= 0 || psc_store_hist_decode_add(blob, (size_t)len, counts, &max) < 0)
		return;
	for (unsigned i = 0; i < PSC_HIST_BUCKETS; i++)
		total += counts[i];
	if (!total)
		return;
	for (unsigned i = 0; i < PSC_HIST_BUCKETS && k < 2; i++) {
		cum += counts[i];
		while (k < 2 && (double)cum >= qs[k] * (double)total) {
			double lo = (double)psc_hist_bucket_low(i);
			double hi = i + 1 < PSC_HIST_BUCKETS ? (double)psc_hist_bucket_low(i + 1) - 1
							     : lo;
			double mid = (lo + hi) / 2;
			*out[k++] = max && mid > (double)max ? (double)max : mid;
		}
	}
}

static double col_or_nan(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int rows_push(struct rows *rs, const struct row *r)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? 2 * rs->cap : 1024;
		struct row *v = realloc(rs->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		rs->v = v;
		rs->cap = cap;
	}
	rs->v[rs->n++] = *r;
	return 0;
}

/* Reads the rows of a bound workload (Q_HIST_W) or endpoint (Q_HIST_E) query into @rs,
 * and resets the statement. */
static int read_rows(struct psc_modeling *m, int q, struct rows *rs)
{
	sqlite3_stmt *st = m->st[q];
	bool ep = q == Q_HIST_E;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct row x = {
			.wid = sqlite3_column_int64(st, 0),
			.ts = sqlite3_column_double(st, 1),
			.span = sqlite3_column_double(st, 2),
			.a = col_or_nan(st, 3),
			.b = col_or_nan(st, 4),
			.c = col_or_nan(st, 5),
			.d = NAN,
			.e = NAN,
		};
		if (ep) {
			x.eid = sqlite3_column_int64(st, 7);
			blob_quantiles(sqlite3_column_blob(st, 6), sqlite3_column_bytes(st, 6), &x.d,
				       &x.e);
		} else {
			x.d = col_or_nan(st, 6);
			x.e = col_or_nan(st, 7);
			x.f = col_or_nan(st, 8);
			x.g = col_or_nan(st, 9);
		}
		r = rows_push(rs, &x);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_err(m, sql[q]);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

/* Feeds @w the rows of its workload windows (@wr, @nw) and endpoint windows (@er, @ne),
 * both sorted by ts, merged in time order (a workload window before the endpoints of
 * the same start). Only rows newer than what @w has taken are used. */
static int take_rows(struct psc_modeling *m, struct wl *w, const struct row *wr, size_t nw,
		     const struct row *er, size_t ne)
{
	double seen = w->seen_ts;
	size_t i = 0, j = 0;
	int r;

	while (i < nw || j < ne) {
		const struct row *x;
		if (j >= ne || (i < nw && wr[i].ts <= er[j].ts))
			x = &wr[i++];
		else
			x = &er[j++];
		if (x->ts <= seen)
			continue;
		if (x->eid == 0)
			m->stats.windows++;
		r = take_row(m, w, x);
		if (r < 0)
			return r;
		if (x->ts > w->seen_ts)
			w->seen_ts = x->ts;
	}
	return 0;
}

/* Feeds @w (workload @id) its stored raw windows (workload and endpoint rows) that start
 * at or after @since; take_rows() skips those it has already taken. */
static int feed_since(struct psc_modeling *m, struct wl *w, int64_t id, double since)
{
	struct rows wr = {0}, er = {0};
	int r;

	sqlite3_bind_int64(m->st[Q_HIST_W], 1, id);
	sqlite3_bind_double(m->st[Q_HIST_W], 2, since);
	sqlite3_bind_int64(m->st[Q_HIST_E], 1, id);
	sqlite3_bind_double(m->st[Q_HIST_E], 2, since);
	r = read_rows(m, Q_HIST_W, &wr);
	if (r == 0)
		r = read_rows(m, Q_HIST_E, &er);
	if (r == 0)
		r = take_rows(m, w, wr.v, wr.n, er.v, er.n);
	free(wr.v);
	free(er.v);
	return r;
}

/* A workload met for the first time: its models are replayed over its stored raw
 * history, silently (detections of the past were stored before a restart). */
static int rebuild(struct psc_modeling *m, int64_t id)
{
	struct wl *w;
	int r;

	if (psc_hashmap_size(m->wl) >= m->opt.max_workloads) {
		if (!m->warned_full)
			psc_warn("AGG-MODEL-FULL",
				 "modeling: %zu workloads modelled, the maximum: others are not",
				 m->opt.max_workloads);
		m->warned_full = true;
		return 0;
	}
	w = wl_new(m, id);
	if (!w)
		return -ENOMEM;
	w->silent = true;
	r = feed_since(m, w, id, m->now - m->opt.rebuild_s);
	w->silent = false;
	if (r == 0)
		r = psc_hashmap_put(m->wl, (uint64_t)id, w);
	if (r < 0)
		wl_free(w);
	else
		m->stats.rebuilt++;
	return r;
}

static int write_outputs(struct psc_modeling *m, struct wl *w)
{
	char series[32] = "";
	int r;

	for (int i = 0; i < NSER; i++) {
		struct ser *s = &w->s[i];
		if (!s->f)
			continue;
		snprintf(series + strlen(series), sizeof(series) - strlen(series), "%s%s",
			 series[0] ? "," : "", ser_name[i]);
		for (size_t hi = 0; hi < m->fc.n_horizons; hi++) {
			struct psc_fc_quantiles q;
			sqlite3_stmt *st = m->st[Q_FORECAST];
			double hs = m->fc.horizons[hi] * m->opt.step_s;

			if (psc_forecaster_forecast(s->f, hi, &q) < 0)
				continue;
			sqlite3_bind_int64(st, 1, w->id);
			sqlite3_bind_text(st, 2, ser_name[i], -1, SQLITE_STATIC);
			sqlite3_bind_double(st, 3, hs);
			sqlite3_bind_double(st, 4, w->last_step + hs);
			sqlite3_bind_double(st, 5, w->last_step);
			sqlite3_bind_double(st, 6, q.p10);
			sqlite3_bind_double(st, 7, q.p50);
			sqlite3_bind_double(st, 8, q.p90);
			sqlite3_bind_text(st, 9, psc_fc_model_name(q.model), -1, SQLITE_STATIC);
			r = exec_st(m, Q_FORECAST);
			if (r < 0)
				return r;
		}
	}
	sqlite3_stmt *st = m->st[Q_STATE];
	sqlite3_bind_int64(st, 1, w->id);
	sqlite3_bind_double(st, 2, w->seen_ts);
	sqlite3_bind_double(st, 3, w->last_step);
	sqlite3_bind_int64(st, 4, (int64_t)w->steps);
	sqlite3_bind_text(st, 5, series, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 6, m->now);
	r = exec_st(m, Q_STATE);
	if (r < 0 || !w->s[S_CPU].f)
		return r;
	unsigned how = psc_hour_of_week(w->last_step);
	const struct psc_sketch *sk = &w->prof.hour[how];
	st = m->st[Q_PROFILE];
	sqlite3_bind_text(st, 1, "workload", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, w->id);
	sqlite3_bind_text(st, 3, "cpu", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, (int)how);
	sqlite3_bind_int64(st, 5, (int64_t)sk->total);
	sqlite3_bind_double(st, 6, psc_sketch_quantile(sk, 0.1));
	sqlite3_bind_double(st, 7, psc_sketch_quantile(sk, 0.5));
	sqlite3_bind_double(st, 8, psc_sketch_quantile(sk, 0.9));
	return exec_st(m, Q_PROFILE);
}

static int write_class(struct psc_modeling *m, struct wl *w)
{
	double sf[_PSC_SF_MAX], cf[_PSC_CF_MAX], *v;
	struct psc_class_result res;
	char expl[512];
	size_t len = 0;
	uint32_t n = w->ring_n;
	int r;

	if (n < 8)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) /* oldest first */
		v[i] = w->ring[(w->ring_pos + m->ring_cap - n + i) % m->ring_cap];
	r = psc_series_features(v, n, m->opt.step_s,
				w->last_step - (double)(n - 1) * m->opt.step_s, sf);
	free(v);
	if (r < 0)
		return r == -ENOMEM ? r : 0;
	psc_class_features(sf, w->n_slots ? w->bv : NULL, cf);
	psc_classify(&m->cls, cf, &res);
	expl[0] = 0;
	for (int i = 0; i < 3 && i < _PSC_CF_MAX && len < sizeof(expl); i++)
		len += (size_t)snprintf(expl + len, sizeof(expl) - len, "%s%s %+.2f",
					i ? ", " : "", psc_class_feature_name(res.reason[i].feature),
					res.reason[i].contribution);
	sqlite3_stmt *st = m->st[Q_CLASS];
	sqlite3_bind_int64(st, 1, w->id);
	sqlite3_bind_text(st, 2, psc_class_name(res.cls), -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, res.confidence);
	sqlite3_bind_text(st, 4, expl, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 5, m->now);
	return exec_st(m, Q_CLASS);
}

/* Clusters the running behaviour vectors, keeps labels stable against the last
 * clustering, records moves, writes memberships, cluster CPU profiles and classes. */
static int recluster(struct psc_modeling *m)
{
	size_t n = 0, cap = psc_hashmap_size(m->wl), k = 8, iter = 0;
	_cleanup_free_ struct wl **ws = calloc(cap ? cap : 1, sizeof(*ws));
	_cleanup_free_ double *x = NULL, *cent = NULL;
	_cleanup_free_ int *label = NULL;
	struct psc_profile *cp = NULL;
	const char *method;
	double quality = NAN;
	int map[64], r = 0;
	uint64_t key;
	void *val;

	if (!ws)
		return -ENOMEM;
	while (psc_hashmap_next(m->wl, &iter, &key, &val)) {
		struct wl *w = val;
		if (w->nbv >= 4)
			ws[n++] = w;
	}
	if (n < 4)
		return 0;
	x = malloc(n * NDIM * sizeof(*x));
	cent = malloc(8 * NDIM * sizeof(*cent));
	label = malloc(n * sizeof(*label));
	if (!x || !cent || !label)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		memcpy(x + i * NDIM, ws[i]->bv, sizeof(ws[i]->bv));
	psc_standardize(x, n, NDIM, NULL, NULL);
	if (n <= KMEANS_AUTO_MAX) {
		method = "kmeans-silhouette";
		r = psc_kmeans_auto(x, n, NDIM, 2, n - 1 < 8 ? n - 1 : 8, 1, label, cent, &k,
				    &quality, NULL);
	} else {
		method = "kmeans-8";
		r = psc_kmeans(x, n, NDIM, k, 1, 1, label, cent, NULL);
		if (r == 0)
			quality = psc_silhouette(x, n, NDIM, label, k, NULL);
	}
	if (r < 0)
		return r;
	for (size_t c = 0; c < k; c++)
		map[c] = (int)c;
	if (m->old_cent)
		psc_cluster_match(m->old_cent, m->k_old, cent, k, NDIM, map);
	free(m->old_cent);
	m->old_cent = TAKE_PTR(cent);
	m->k_old = k;
	/* Labels beyond k (fresh ones from the match) get profiles too. */
	int maxlab = 0;
	for (size_t c = 0; c < k; c++)
		maxlab = map[c] > maxlab ? map[c] : maxlab;
	cp = calloc((size_t)maxlab + 1, sizeof(*cp));
	if (!cp)
		return -ENOMEM;
	r = tx_begin(m);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct wl *w = ws[i];
		int to = map[label[i]];
		sqlite3_stmt *st;

		if (w->cluster != to) {
			st = m->st[Q_MOVE];
			sqlite3_bind_double(st, 1, m->now);
			sqlite3_bind_int64(st, 2, (int64_t)m->cycle);
			sqlite3_bind_int64(st, 3, w->id);
			if (w->cluster >= 0)
				sqlite3_bind_int(st, 4, w->cluster);
			sqlite3_bind_int(st, 5, to);
			r = exec_st(m, Q_MOVE);
			m->stats.moves++;
			w->cluster = to;
		}
		st = m->st[Q_CLUSTER];
		sqlite3_bind_int64(st, 1, w->id);
		sqlite3_bind_int(st, 2, to);
		sqlite3_bind_text(st, 3, method, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 4, quality);
		sqlite3_bind_int64(st, 5, (int64_t)m->cycle);
		sqlite3_bind_double(st, 6, m->now);
		if (r == 0)
			r = exec_st(m, Q_CLUSTER);
		if (r == 0)
			r = psc_profile_merge(&cp[to], &w->prof);
		if (r == 0)
			r = write_class(m, w);
		if (r == 0)
			r = tx_chunk(m);
	}
	if (r == 0)
		r = exec_st(m, Q_DEL_CPROFILES);
	for (int c = 0; c <= maxlab && r == 0; c++) {
		for (unsigned h = 0; h < PSC_HOURS_PER_WEEK && r == 0; h++) {
			const struct psc_sketch *sk = &cp[c].hour[h];
			sqlite3_stmt *st = m->st[Q_PROFILE];
			if (!sk->total)
				continue;
			sqlite3_bind_text(st, 1, "cluster", -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, c);
			sqlite3_bind_text(st, 3, "cpu", -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 4, (int)h);
			sqlite3_bind_int64(st, 5, (int64_t)sk->total);
			sqlite3_bind_double(st, 6, psc_sketch_quantile(sk, 0.1));
			sqlite3_bind_double(st, 7, psc_sketch_quantile(sk, 0.5));
			sqlite3_bind_double(st, 8, psc_sketch_quantile(sk, 0.9));
			r = exec_st(m, Q_PROFILE);
		}
	}
	for (int c = 0; c <= maxlab; c++)
		psc_profile_reset(&cp[c]);
	free(cp);
	m->stats.clusters = (int)k;
	psc_debug("modeling: %zu workloads in %zu clusters (%s, silhouette %.3f)", n, k, method,
		  quality);
	return r;
}

/* The newest rowid of the reports ledger (0 when empty). */
static int arrived_max(struct psc_modeling *m, int64_t *out)
{
	sqlite3_stmt *st = m->st[Q_ARRIVED];
	int r = 0;

	if (sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		r = db_err(m, sql[Q_ARRIVED]);
	sqlite3_reset(st);
	return r;
}

/* The workloads with raw windows in the reports of rowid in (@after, @upto], each with the
 * start of its earliest such window (rows with .wid and .ts only). */
static int read_new(struct psc_modeling *m, int64_t after, int64_t upto, struct rows *rs)
{
	sqlite3_stmt *st = m->st[Q_NEW];
	int rc, r = 0;

	if (upto <= after)
		return 0;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, upto);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct row x = {.wid = sqlite3_column_int64(st, 0),
				.ts = sqlite3_column_double(st, 1)};
		r = rows_push(rs, &x);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_err(m, sql[Q_NEW]);
	sqlite3_reset(st);
	return r;
}

int psc_modeling_cycle(struct psc_modeling *m, double now, struct psc_modeling_stats *out)
{
	struct rows nw = {0};
	double t0 = mono(), budget = t0 + m->opt.period_s / 2;
	int64_t arrived = 0;
	size_t iter = 0;
	uint64_t key;
	void *val;
	int r = 0;

	memset(&m->stats, 0, sizeof(m->stats));
	m->stats.clusters = -1;
	m->now = now;
	m->cycle++;

	/* 1. what is new: at the first cycle, every workload with recent windows waits for
	 * a rebuild; later, the workloads with windows in the reports that arrived since the
	 * last cycle, each from its earliest such window (unknown workloads wait for a
	 * rebuild). */
	r = arrived_max(m, &arrived);
	if (r == 0 && m->arrived < 0) {
		sqlite3_stmt *st = m->st[Q_RECENT];
		int rc;
		sqlite3_bind_double(st, 1, now - m->opt.rebuild_s);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && r == 0)
			r = psc_hashmap_put(m->pending, (uint64_t)sqlite3_column_int64(st, 0),
					    (void *)1);
		if (r == 0 && rc != SQLITE_DONE)
			r = db_err(m, sql[Q_RECENT]);
		sqlite3_reset(st);
	} else if (r == 0) {
		/* Fewer rows than read before: the ledger was emptied and its ids restart. */
		if (arrived < m->arrived)
			m->arrived = 0;
		r = read_new(m, m->arrived, arrived, &nw);
	}
	if (r == 0)
		m->arrived = arrived;
	/* 2. live workloads take their new windows */
	for (size_t i = 0; r == 0 && i < nw.n; i++) {
		struct wl *w = psc_hashmap_get(m->wl, (uint64_t)nw.v[i].wid);
		if (!w) {
			r = psc_hashmap_put(m->pending, (uint64_t)nw.v[i].wid, (void *)1);
			continue;
		}
		r = feed_since(m, w, nw.v[i].wid, nw.v[i].ts);
		if (r == 0)
			r = tx_chunk(m);
	}
	free(nw.v);

	/* 3. rebuilds, within half a period of work (at least one per cycle) */
	iter = 0;
	while (r == 0 && psc_hashmap_next(m->pending, &iter, &key, &val)) {
		if (m->stats.rebuilt && mono() > budget)
			break;
		psc_hashmap_iter_remove(m->pending, &iter);
		/* A rebuild replays days of history: no write lock held meanwhile. */
		r = tx_commit(m);
		if (r == 0 && !psc_hashmap_get(m->wl, key))
			r = rebuild(m, (int64_t)key);
	}
	m->stats.pending_rebuild = psc_hashmap_size(m->pending);

	/* 4. steps that have closed by time; outputs of the workloads fed; eviction of
	 * workloads silent for longer than the rebuild window */
	iter = 0;
	while (r == 0 && psc_hashmap_next(m->wl, &iter, &key, &val)) {
		struct wl *w = val;
		if (!isnan(w->acc.b) && now >= w->acc.b + m->opt.step_s + m->opt.close_grace_s)
			r = feed_step(m, w);
		if (r == 0 && w->fed) {
			w->fed = false;
			r = write_outputs(m, w);
		}
		if (r == 0)
			r = tx_chunk(m);
		if (r == 0 && now - w->seen_ts > m->opt.rebuild_s) {
			psc_hashmap_iter_remove(m->wl, &iter);
			wl_free(w);
		}
	}

	/* 5. clustering, classes; retention of detections and moves */
	if (r == 0 && m->opt.recluster_every && m->cycle % m->opt.recluster_every == 0)
		r = recluster(m);
	if (r == 0) {
		double cut = now - m->opt.detections_retention_s;
		sqlite3_bind_double(m->st[Q_RET_DET], 1, cut);
		r = exec_st(m, Q_RET_DET);
		sqlite3_bind_double(m->st[Q_RET_MOVES], 1, cut);
		if (r == 0)
			r = exec_st(m, Q_RET_MOVES);
	}
	if (r == 0)
		r = tx_commit(m);
	else if (m->in_tx) {
		sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
		m->in_tx = false;
	}

	m->stats.workloads = psc_hashmap_size(m->wl);
	m->stats.seconds = mono() - t0;
	m->last = m->stats;
	if (out)
		*out = m->stats;
	return r;
}

size_t psc_modeling_workloads(const struct psc_modeling *m)
{
	return m ? psc_hashmap_size(m->wl) : 0;
}

int psc_modeling_new(struct psc_modeling **out, const char *db_path,
		     const struct psc_modeling_options *opt, char *err, size_t errlen)
{
	struct psc_modeling *m;
	int r = -EIO;

	if (err && errlen)
		err[0] = 0;
	struct psc_modeling_options o = opt ? *opt : psc_modeling_options_default();
	if (!(o.period_s > 0) || !(o.step_s > 0) || o.history < 16 || o.detect_window < 16 ||
	    !(o.rebuild_s > 0) || o.max_workloads < 1 || !(o.close_grace_s >= 0) ||
	    !(o.season_s >= 0)) {
		if (err)
			snprintf(err, errlen, "modeling: invalid options");
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->opt = o;
	m->arrived = -1;
	m->tfd = -1;
	psc_classifier_init(&m->cls);
	psc_fc_cfg_default(&m->fc, o.step_s);
	m->fc.history = o.history;
	/* One forecaster per series serves the stored forecasts and the shift detector: the
	 * detection model set, since the naive, rolling-median, seasonal-level and stacked
	 * models follow a shift within a step or two and hide it from the charts (offline,
	 * NAB standard 54.7 with this set, 49.8 with the default one, before the novelty chart;
	 * the default set's forecasts are ~4% better, which the sizing's own forecasters
	 * keep). */
	m->fc.models = PSC_FC_MASK_DETECT;
	if (o.season_s > 0)
		m->fc.period = (int32_t)fmin(PSC_SEASON_MAX_PERIOD, fmax(2, round(o.season_s / o.step_s)));
	m->fc.n_horizons = 0;
	const double hs[3] = { o.step_s, 3600, 86400 };
	for (int i = 0; i < 3; i++) {
		uint32_t h = (uint32_t)fmax(1, round(hs[i] / o.step_s));
		if (m->fc.n_horizons == 0 || h > m->fc.horizons[m->fc.n_horizons - 1])
			m->fc.horizons[m->fc.n_horizons++] = h;
	}
	psc_detector_cfg_default(&m->dc);
	m->dc.window = o.detect_window;
	double day = round(86400 / o.step_s);
	m->ring_cap = day < 48 ? 48 : day > 1024 ? 1024 : (uint32_t)day;
	if (psc_hashmap_new(&m->wl) < 0 || psc_hashmap_new(&m->pending) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	if (sqlite3_open_v2(db_path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(m->db, 5000);
	if (sqlite3_exec(m->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", NULL,
			 NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(m->db, schema, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	for (int q = 0; q < _Q_MAX; q++)
		if (sqlite3_prepare_v3(m->db, sql[q], -1, SQLITE_PREPARE_PERSISTENT, &m->st[q],
				       NULL) != SQLITE_OK)
			goto fail;
	*out = m;
	return 0;
fail:
	if (err && m->db)
		snprintf(err, errlen, "modeling: %s: %s", db_path, sqlite3_errmsg(m->db));
	else if (err)
		snprintf(err, errlen, "modeling: %s: cannot open", db_path);
	psc_modeling_free(&m);
	return r;
}

void psc_modeling_free(struct psc_modeling **mp)
{
	struct psc_modeling *m = mp ? *mp : NULL;
	size_t iter = 0;
	uint64_t key;
	void *val;

	if (!m)
		return;
	if (m->wl)
		while (psc_hashmap_next(m->wl, &iter, &key, &val))
			wl_free(val);
	psc_hashmap_free(&m->wl);
	psc_hashmap_free(&m->pending);
	for (int q = 0; q < _Q_MAX; q++)
		sqlite3_finalize(m->st[q]);
	if (m->db)
		sqlite3_close(m->db);
	free(m->old_cent);
	if (m->tfd >= 0)
		close(m->tfd);
	free(m);
	*mp = NULL;
}

void psc_modeling_set_observer(struct psc_modeling *m, psc_modeling_observer_fn fn, void *ctx)
{
	m->observer = fn;
	m->observer_ctx = ctx;
}

struct psc_modeling_stats psc_modeling_last(const struct psc_modeling *m)
{
	return m->last;
}

int psc_modeling_fd(struct psc_modeling *m)
{
	struct itimerspec its = { 0 };

	if (m->tfd >= 0)
		return m->tfd;
	m->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (m->tfd < 0)
		return -errno;
	its.it_interval.tv_sec = (time_t)m->opt.period_s;
	its.it_interval.tv_nsec = (long)((m->opt.period_s - (double)its.it_interval.tv_sec) * 1e9);
	its.it_value = its.it_interval;
	if (timerfd_settime(m->tfd, 0, &its, NULL) < 0) {
		int e = -errno;
		close(m->tfd);
		m->tfd = -1;
		return e;
	}
	return m->tfd;
}

void psc_modeling_on_timer(struct psc_modeling *m)
{
	struct psc_modeling_stats st;
	struct timespec ts;
	uint64_t expirations;
	int r;

	if (read(m->tfd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	r = psc_modeling_cycle(m, (double)ts.tv_sec + ts.tv_nsec / 1e9, &st);
	if (r < 0)
		psc_warn("AGG-MODEL-CYCLE", "modeling cycle failed: %s (the next one resumes)",
			 strerror(-r));
	if (st.seconds > m->opt.period_s)
		psc_warn("AGG-MODEL-SLOW", "modeling cycle took %.3f s, longer than its period %.3f s"
			 " (%zu workloads, %zu steps)", st.seconds, m->opt.period_s, st.workloads,
			 st.steps);
	psc_debug("modeling cycle: %.3f s, %zu workloads, %zu windows, %zu steps, %zu rebuilt,"
		  " %zu waiting, %zu detections, %d clusters, %zu moves",
		  st.seconds, st.workloads, st.windows, st.steps, st.rebuilt, st.pending_rebuild,
		  st.detections, st.clusters, st.moves);
}
