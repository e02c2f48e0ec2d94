// SPDX-License-Identifier: MIT
/* Live predictive allocation: see allocation.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "allocation.h"
#include "bandit.h"
#include "explain.h"
#include "hashmap.h"
#include "log.h"
#include "policy.h"
#include "season.h"
#include "sizing.h"
#include "store.h"
#include "wire.h"

extern char **environ;

enum { R_CPU, R_MEM, NRES };

#define MAX_HOOK_CHILDREN 16

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS alerts ("
	"  id INTEGER PRIMARY KEY, ts REAL NOT NULL, workload_id INTEGER, host TEXT,"
	"  kind TEXT NOT NULL, score REAL, text TEXT NOT NULL, adjustment_id INTEGER);"
	"CREATE INDEX IF NOT EXISTS alerts_ts ON alerts(ts);"
	"CREATE TABLE IF NOT EXISTS feedback ("
	"  id INTEGER PRIMARY KEY, ts REAL NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('alert', 'adjustment')),"
	"  ref_id INTEGER NOT NULL, verdict TEXT NOT NULL CHECK (verdict IN ('right', 'wrong')),"
	"  note TEXT, applied INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS workload_policy ("
	"  workload_id INTEGER PRIMARY KEY, detect_threshold REAL NOT NULL,"
	"  margin_bias REAL NOT NULL, updated_at REAL NOT NULL);"
	"CREATE TABLE IF NOT EXISTS allocation_state (key TEXT PRIMARY KEY, value REAL);"
	/* User-defined constraints (POST /model/update): they win over the model. NULL or 0
	 * = none; cpu in cores, memory in bytes. */
	"CREATE TABLE IF NOT EXISTS workload_constraints ("
	"  workload_id INTEGER PRIMARY KEY, cpu_min REAL, cpu_max REAL, cpu_fixed REAL,"
	"  mem_min REAL, mem_max REAL, mem_fixed REAL, updated_at REAL NOT NULL);";

enum {
	Q_MANAGED,
	Q_PENDING,
	Q_MAX_ADJ,
	Q_ALERT,
	Q_DETECTIONS,
	Q_STATE_GET,
	Q_STATE_SET,
	Q_POLICY_GET,
	Q_POLICY_SET,
	Q_FEEDBACK,
	Q_FEEDBACK_DONE,
	Q_HOSTS,
	_Q_MAX,
};

static const char *const sql[_Q_MAX] = {
	[Q_MANAGED] = "SELECT l.workload_id, l.managed, l.cpu_max_cores, l.memory_high,"
		      " l.egress_bytes_per_s, h.name, w.cgroup, coalesce(nullif(w.name, ''), w.cgroup),"
		      " l.cpu_weight, l.memory_min,"
		      " coalesce(c.cpu_min, 0), coalesce(c.cpu_max, 0), coalesce(c.cpu_fixed, 0),"
		      " coalesce(c.mem_min, 0), coalesce(c.mem_max, 0), coalesce(c.mem_fixed, 0)"
		      " FROM workload_limits l JOIN workloads w ON w.id = l.workload_id"
		      " JOIN hosts h ON h.id = w.host_id"
		      " LEFT JOIN workload_constraints c ON c.workload_id = l.workload_id",
	[Q_PENDING] = "SELECT count(*) FROM adjustments WHERE host = ?1 AND workload = ?2"
		      " AND outcome IS NULL AND expires_at > ?3",
	[Q_MAX_ADJ] = "SELECT coalesce(max(id), 0) FROM adjustments",
	[Q_ALERT] = "INSERT INTO alerts (ts, workload_id, host, kind, score, text, adjustment_id)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[Q_DETECTIONS] = "SELECT d.id, d.workload_id, d.series, d.source, d.direction, d.score,"
			 " d.actual, d.baseline, d.detail, h.name,"
			 " coalesce(nullif(w.name, ''), w.cgroup)"
			 " FROM detections d JOIN workloads w ON w.id = d.workload_id"
			 " JOIN hosts h ON h.id = w.host_id WHERE d.id > ?1 ORDER BY d.id LIMIT 1000",
	[Q_STATE_GET] = "SELECT value FROM allocation_state WHERE key = ?1",
	[Q_STATE_SET] = "INSERT OR REPLACE INTO allocation_state (key, value) VALUES (?1, ?2)",
	[Q_POLICY_GET] = "SELECT detect_threshold, margin_bias FROM workload_policy"
			 " WHERE workload_id = ?1",
	[Q_POLICY_SET] = "INSERT OR REPLACE INTO workload_policy (workload_id, detect_threshold,"
			 " margin_bias, updated_at) VALUES (?1, ?2, ?3, ?4)",
	[Q_FEEDBACK] = "SELECT f.id, f.kind, f.verdict, a.workload_id, a.kind FROM feedback f"
		       " LEFT JOIN alerts a ON (f.kind = 'alert' AND a.id = f.ref_id) OR"
		       " (f.kind = 'adjustment' AND a.adjustment_id = f.ref_id)"
		       " WHERE f.applied = 0 ORDER BY f.id LIMIT 100",
	[Q_FEEDBACK_DONE] = "UPDATE feedback SET applied = 1 WHERE id = ?1",
	[Q_HOSTS] = "SELECT h.name, h.cpus, h.memory_bytes,"
		    " sum(CASE WHEN f.series = 'cpu' THEN f.p90 END),"
		    " sum(CASE WHEN f.series = 'mem' THEN f.p90 END)"
		    " FROM hosts h JOIN workloads w ON w.host_id = h.id"
		    " JOIN forecasts f ON f.workload_id = w.id AND f.horizon_s = ?1"
		    " WHERE w.last_seen >= ?2 AND (h.cpus > 0 OR h.memory_bytes > 0)"
		    " GROUP BY h.id",
};

/* One managed workload. */
struct aw {
	int64_t id;
	char *host, *cgroup, *name;
	bool managed;
	struct psc_sizer *sz[NRES];
	struct psc_bandit bd[NRES];
	double need[NRES];
	double usual[NRES]; /* exponentially weighted level (about a day) */
	double usual_net;
	double cur[NRES];   /* limit in effect as reported: cpu cores, memory.high bytes */
	double cur_egress;
	double cur_weight, cur_mem_min; /* baseline tier in effect (0 = not set) */
	double constraint[NRES][3];	/* the user's min, max, fixed (0 = none) */
	double last_ts;	    /* newest step observed */
	uint64_t steps;
	bool fresh;	    /* steps observed since the last decision */
	double last_issue;
	double last_target_cpu; /* the CPU limit last issued */
	double egress_until; /* a temporary egress limit we set ends then (0 = none) */
	double margin_bias, threshold;
	const char *surge;   /* set by a detection this cycle: what moved */
	char surge_text[384];
};

struct psc_allocation {
	struct psc_allocation_options opt;
	uint8_t sign_sk[PSC_SIGN_SK_BYTES];
	sqlite3 *db;
	sqlite3_stmt *st[_Q_MAX];
	struct psc_store *store; /* adjustments go through the store's API */
	struct psc_hashmap *wl;	 /* id -> struct aw */
	double step_s;		 /* learnt from the observations */
	int64_t last_detection;
	uint64_t last_adj_id;
	pid_t hooks[MAX_HOOK_CHILDREN];
	struct psc_hashmap *hook_at; /* host name hash -> last run (double, boxed) */
	struct psc_allocation_stats stats;
};

struct psc_allocation_options psc_allocation_options_default(void)
{
	return (struct psc_allocation_options){
		.confidence = 0.99,
		.lead_s = 300,
		.min_change = 0.05,
		.cpu_min_cores = 0.05,
		.mem_min_bytes = 64.0 * 1024 * 1024,
		.burst = 1.25,
		.egress_on_surge = 1,
		.egress_factor = 2,
		.egress_hold_s = 600,
		.hook_cooldown_s = 1800,
		.price_cpu_hour = NAN,
		.price_gb_hour = NAN,
		.detect_threshold = 0.5,
	};
}

static int db_fail(struct psc_allocation *a, const char *what)
{
	psc_warn("AGG-ALLOC-DB", "%s: %s", what, sqlite3_errmsg(a->db));
	return -EIO;
}

static void reset(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int exec_done(struct psc_allocation *a, int q)
{
	int rc = sqlite3_step(a->st[q]);

	reset(a->st[q]);
	return rc == SQLITE_DONE ? 0 : db_fail(a, sql[q]);
}

static void aw_free(void *p)
{
	struct aw *w = p;

	if (!w)
		return;
	for (int r = 0; r < NRES; r++)
		psc_sizer_free(&w->sz[r]);
	free(w->host);
	free(w->cgroup);
	free(w->name);
	free(w);
}

static void state_set(struct psc_allocation *a, const char *key, double v)
{
	sqlite3_bind_text(a->st[Q_STATE_SET], 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_double(a->st[Q_STATE_SET], 2, v);
	exec_done(a, Q_STATE_SET);
}

static double state_get(struct psc_allocation *a, const char *key, double dflt)
{
	sqlite3_stmt *st = a->st[Q_STATE_GET];
	double v = dflt;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_double(st, 0);
	reset(st);
	return v;
}

static void load_policy(struct psc_allocation *a, struct aw *w)
{
	sqlite3_stmt *st = a->st[Q_POLICY_GET];

	w->threshold = a->opt.detect_threshold;
	w->margin_bias = 0;
	sqlite3_bind_int64(st, 1, w->id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		w->threshold = sqlite3_column_double(st, 0);
		w->margin_bias = sqlite3_column_double(st, 1);
	}
	reset(st);
}

static void save_policy(struct psc_allocation *a, const struct aw *w, int64_t id,
			double threshold, double bias, double now)
{
	sqlite3_stmt *st = a->st[Q_POLICY_SET];

	sqlite3_bind_int64(st, 1, w ? w->id : id);
	sqlite3_bind_double(st, 2, threshold);
	sqlite3_bind_double(st, 3, bias);
	sqlite3_bind_double(st, 4, now);
	exec_done(a, Q_POLICY_SET);
}

static void apply_constraints(struct psc_allocation *a, struct aw *w);

static int aw_open(struct psc_allocation *a, struct aw *w, double step_s)
{
	uint32_t lead = (uint32_t)ceil(a->opt.lead_s / step_s - 1e-9);
	struct psc_sizer_cfg scfg;
	struct psc_policy_cfg pcfg;
	struct psc_bandit_cfg bcfg;

	psc_sizer_cfg_default(&scfg, step_s, lead ? lead : 1);
	scfg.confidence = a->opt.confidence;
	scfg.samples = 1000;
	scfg.fc.history = 1024;
	if (a->opt.season_s > 0)
		scfg.fc.period = (int32_t)fmin(PSC_SEASON_MAX_PERIOD,
					       fmax(2, round(a->opt.season_s / step_s)));
	scfg.seed ^= (uint64_t)w->id;
	psc_policy_cfg_default(&pcfg);
	psc_bandit_cfg_default(&bcfg, a->opt.confidence, 86400 / step_s);
	for (int r = 0; r < NRES; r++) {
		pcfg.min = r == R_CPU ? a->opt.cpu_min_cores : a->opt.mem_min_bytes;
		int e = psc_sizer_new(&w->sz[r], &scfg);
		if (e < 0)
			return e;
		if (psc_bandit_init(&w->bd[r], &bcfg, &pcfg) < 0)
			return -EINVAL;
		w->need[r] = NAN;
		w->usual[r] = NAN;
	}
	w->usual_net = NAN;
	apply_constraints(a, w);
	return 0;
}

void psc_allocation_observe(void *ctx, const struct psc_modeling_obs *o)
{
	struct psc_allocation *a = ctx;
	struct aw *w = psc_hashmap_get(a->wl, (uint64_t)o->workload_id);
	double v[NRES];
	bool censored[NRES];

	if (!w || !w->managed || !(o->step_s > 0))
		return;
	if (!w->sz[0] && aw_open(a, w, o->step_s) < 0) {
		psc_warn("AGG-ALLOC-MEM", "cannot size workload %s: out of memory", w->name);
		w->managed = false;
		return;
	}
	a->step_s = o->step_s;
	/* Usage held at a limit is a lower bound of demand. A workload throttled for a share
	 * s of the step ran, while it could, at usage / (1 - s): that rate is the estimate
	 * (s capped at 0.75, so at most 4x what was measured). */
	double thr = isfinite(o->throttled_share) ? fmin(fmax(o->throttled_share, 0), 0.75) : 0;
	v[R_CPU] = o->cpu_cores;
	/* Stalls count too: a workload whose tasks waited for CPU (PSI) more than a tenth of
	 * the step, or for memory more than 5%, used less than it wanted. */
	censored[R_CPU] = thr > 0.01 || (isfinite(o->psi_cpu) && o->psi_cpu > 0.1);
	if (isfinite(v[R_CPU]) && censored[R_CPU])
		v[R_CPU] /= 1 - thr;
	v[R_MEM] = o->mem_bytes;
	censored[R_MEM] = (isfinite(o->oom_kills) && o->oom_kills > 0) ||
			  (isfinite(o->psi_mem) && o->psi_mem > 0.05) ||
			  (w->cur[R_MEM] > 0 && o->mem_bytes >= 0.97 * w->cur[R_MEM]);
	if (isfinite(v[R_MEM]) && censored[R_MEM])
		v[R_MEM] *= 1.1;
	/* The usual level: the mean so far, then an average over about six hours. */
	double alpha = fmax(1.0 / (double)(w->steps + 1), fmin(1, o->step_s / 21600));
	for (int r = 0; r < NRES; r++) {
		struct psc_sizer_need n;
		if (!isfinite(v[r]) || v[r] < 0) {
			psc_sizer_skip(w->sz[r]);
			continue;
		}
		w->usual[r] = isnan(w->usual[r]) ? v[r] : w->usual[r] + alpha * (v[r] - w->usual[r]);
		psc_bandit_observe(&w->bd[r], v[r], censored[r]);
		if (psc_sizer_update(w->sz[r], o->ts + o->step_s, v[r]) < 0 ||
		    psc_sizer_need(w->sz[r], &n) < 0)
			continue;
		w->need[r] = n.need * (1 + w->margin_bias);
		psc_bandit_step(&w->bd[r], w->need[r]);
	}
	if (isfinite(o->net_bytes_per_s))
		w->usual_net = isnan(w->usual_net) ? o->net_bytes_per_s
						   : w->usual_net + alpha * (o->net_bytes_per_s - w->usual_net);
	w->last_ts = o->ts;
	w->steps++;
	w->fresh = true;
}

/* The user's constraints for @w (read by refresh()) go into every arm of its bandits
 * (policy.h: a fixed limit wins, then min and max bound the model's). */
static void apply_constraints(struct psc_allocation *a, struct aw *w)
{
	for (int r = 0; r < NRES; r++) {
		struct psc_policy_cfg *b = &w->bd[r].base;
		const double *v = w->constraint[r];
		double floor = r == R_CPU ? a->opt.cpu_min_cores : a->opt.mem_min_bytes;
		b->min = fmax(floor, v[0]);
		b->max = v[1] > 0 && v[1] >= b->min ? v[1] : 0;
		b->fixed = v[2];
	}
}

static char *dup_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return strdup(t ? (const char *)t : "");
}

/* Learns which workloads are managed and the limits in effect. */
static int refresh(struct psc_allocation *a)
{
	sqlite3_stmt *st = a->st[Q_MANAGED];
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		bool managed = sqlite3_column_int(st, 1) != 0;
		struct aw *w = psc_hashmap_get(a->wl, (uint64_t)id);
		if (!w && !managed)
			continue;
		if (!w) {
			w = calloc(1, sizeof(*w));
			if (!w || psc_hashmap_put(a->wl, (uint64_t)id, w) < 0) {
				free(w);
				reset(st);
				return -ENOMEM;
			}
			w->id = id;
			w->host = dup_col(st, 5);
			w->cgroup = dup_col(st, 6);
			w->name = dup_col(st, 7);
			load_policy(a, w);
			if (!w->host || !w->cgroup || !w->name) {
				reset(st);
				return -ENOMEM;
			}
		}
		w->managed = managed;
		for (int r = 0; r < NRES; r++)
			for (int k = 0; k < 3; k++)
				w->constraint[r][k] = fmax(0, sqlite3_column_double(st, 10 + 3 * r + k));
		if (w->sz[0])
			apply_constraints(a, w);
		w->cur[R_CPU] = sqlite3_column_double(st, 2);
		w->cur[R_MEM] = sqlite3_column_double(st, 3);
		w->cur_egress = sqlite3_column_double(st, 4);
		w->cur_weight = sqlite3_column_double(st, 8);
		w->cur_mem_min = sqlite3_column_double(st, 9);
		if (w->cur_mem_min > 1e18)
			w->cur_mem_min = 0;
		/* UINT64_MAX (no limit) arrives as a huge number: treat as none. */
		if (w->cur[R_MEM] > 1e18)
			w->cur[R_MEM] = 0;
		if (w->cur_egress > 1e18)
			w->cur_egress = 0;
		if (w->cur[R_CPU] < 0)
			w->cur[R_CPU] = 0;
	}
	reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail(a, "reading managed workloads");
}

static int alert(struct psc_allocation *a, double now, int64_t wid, const char *host,
		 const char *kind, double score, const char *text, uint64_t adj_id)
{
	sqlite3_stmt *st = a->st[Q_ALERT];

	sqlite3_bind_double(st, 1, now);
	if (wid)
		sqlite3_bind_int64(st, 2, wid);
	sqlite3_bind_text(st, 3, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
	if (isfinite(score))
		sqlite3_bind_double(st, 5, score);
	sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC);
	if (adj_id)
		sqlite3_bind_int64(st, 7, (int64_t)adj_id);
	a->stats.alerts++;
	return exec_done(a, Q_ALERT);
}

static bool pending(struct psc_allocation *a, const struct aw *w, double now)
{
	sqlite3_stmt *st = a->st[Q_PENDING];
	bool p = false;

	sqlite3_bind_text(st, 1, w->host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, w->cgroup, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, now);
	if (sqlite3_step(st) == SQLITE_ROW)
		p = sqlite3_column_int64(st, 0) > 0;
	reset(st);
	return p;
}

static uint64_t next_id(struct psc_allocation *a, double now)
{
	sqlite3_stmt *st = a->st[Q_MAX_ADJ];
	uint64_t id = a->last_adj_id, floor_us = (uint64_t)(now * 1e6);

	if (sqlite3_step(st) == SQLITE_ROW && (uint64_t)sqlite3_column_int64(st, 0) > id)
		id = (uint64_t)sqlite3_column_int64(st, 0);
	reset(st);
	id = id + 1 > floor_us ? id + 1 : floor_us;
	a->last_adj_id = id;
	return id;
}

/* Signs and queues one adjustment; returns its id, or 0 when it could not be queued. */
static uint64_t issue(struct psc_allocation *a, const struct aw *w, Prescient__Targets *t,
		      const char *tier, const char *reason, double now)
{
	Prescient__Adjustment adj;
	Prescient__SignedAdjustment sa;
	double step = a->step_s > 0 ? a->step_s : 10;
	double expiry = a->opt.expiry_s > 0 ? a->opt.expiry_s : fmax(3 * step, 30);

	prescient__adjustment__init(&adj);
	prescient__signed_adjustment__init(&sa);
	adj.id = next_id(a, now);
	adj.host_id = w->host;
	adj.workload = w->cgroup;
	adj.targets = t;
	adj.reason = (char *)reason;
	adj.issued_at = now;
	adj.expires_at = now + expiry;
	adj.tier = (char *)tier;
	if (psc_wire_adjustment_sign(&adj, a->sign_sk, &sa) < 0)
		return 0;
	int e = psc_store_adjustment_add(a->store, &sa);
	psc_wire_signed_clear(&sa);
	if (e < 0) {
		psc_warn("AGG-ALLOC-ISSUE", "cannot queue an adjustment for %s on %s: %s", w->cgroup,
			 w->host, strerror(-e));
		return 0;
	}
	a->stats.adjustments++;
	psc_info("AGG-ALLOC-ADJ", "adjustment %" PRIu64 " for %s on %s: %s", adj.id, w->cgroup,
		 w->host, reason);
	return adj.id;
}

static double cost_per_hour(const struct psc_allocation *a, double cores, double mem_bytes)
{
	double c = 0;
	bool any = false;

	if (isfinite(a->opt.price_cpu_hour) && cores > 0) {
		c += cores * a->opt.price_cpu_hour;
		any = true;
	}
	if (isfinite(a->opt.price_gb_hour) && mem_bytes > 0) {
		c += mem_bytes / 1e9 * a->opt.price_gb_hour;
		any = true;
	}
	return any ? c : NAN;
}

static enum psc_explain_action explain_action(double cur, double target)
{
	if (cur <= 0)
		return PSC_EXPLAIN_SET;
	return target > cur ? PSC_EXPLAIN_RAISE : PSC_EXPLAIN_LOWER;
}

/* CPU and memory for one workload whose models saw new steps (or a surge). */
static int decide(struct psc_allocation *a, struct aw *w, double now)
{
	double target[NRES];
	bool change[NRES] = { false, false };
	double step = a->step_s > 0 ? a->step_s : 10;
	bool surge = w->surge != NULL;

	for (int r = 0; r < NRES; r++) {
		target[r] = w->bd[r].limit;
		const struct psc_policy_cfg *pc = &w->bd[r].base;
		if (surge && !(pc->fixed > 0) && isfinite(w->need[r]) && w->need[r] > target[r])
			target[r] = pc->max > 0 ? fmin(w->need[r], pc->max)
						: w->need[r]; /* act now: no hysteresis for a surge */
		/* Memory keeps the agents' guard margin above the need (usage + max(64 MiB,
		 * 10%)), so that the agent does not clamp every change up. */
		if (r == R_MEM && isfinite(w->need[r]) && !(pc->fixed > 0))
			target[r] = fmax(target[r], w->need[r] + fmax(a->opt.mem_min_bytes, 0.1 * w->need[r]));
		if (!(target[r] > 0))
			continue;
		double cur = w->cur[r];
		double least = r == R_MEM ? 16.0 * 1024 * 1024 : 0.01;
		change[r] = cur <= 0 || fabs(target[r] - cur) > fmax(a->opt.min_change * cur, least);
		/* Lowering waits for the policy; only raises ride on a surge. */
		if (surge && cur > 0 && target[r] < cur)
			change[r] = false;
	}
	/* Baseline tier: the guaranteed share. cpu.weight in proportion to the usual CPU (1000
	 * per core, 1..10000) and memory.min at 0.9 x the usual memory (below the predictive
	 * limit); re-set only when off by a quarter, riding along with a limit change. */
	double weight = isfinite(w->usual[R_CPU])
				? fmin(10000, fmax(1, round(1000 * w->usual[R_CPU])))
				: 0;
	double mem_min = isfinite(w->usual[R_MEM]) ? 0.9 * w->usual[R_MEM] : 0;
	if (target[R_MEM] > 0 && mem_min > target[R_MEM])
		mem_min = target[R_MEM];
	bool base_weight = weight > 0 && (w->cur_weight <= 0 || fabs(weight - w->cur_weight) > 0.25 * w->cur_weight);
	bool base_mem = mem_min > 0 && (w->cur_mem_min <= 0 || fabs(mem_min - w->cur_mem_min) > 0.25 * w->cur_mem_min);

	/* What was just issued may not be in the agent's report yet: do not repeat it. */
	if (change[R_CPU] && !change[R_MEM] && now - w->last_issue < 3 * step &&
	    fabs(target[R_CPU] - w->last_target_cpu) <= a->opt.min_change * w->last_target_cpu)
		change[R_CPU] = false;
	if (!change[R_CPU] && !change[R_MEM])
		return 0;
	/* One adjustment in flight per workload, unless this one raises CPU by a quarter or
	 * more (agents apply them in id order, each within its own guards); re-issue at
	 * most once per step unless a surge asks for more. */
	bool big_raise = change[R_CPU] && w->cur[R_CPU] > 0 && target[R_CPU] >= 1.25 * w->cur[R_CPU] &&
			 target[R_CPU] > w->last_target_cpu;
	if ((pending(a, w, now) && !big_raise) || (!surge && !big_raise && now - w->last_issue < step))
		return 0;

	Prescient__Targets t;
	char reason[1024], part[600];
	size_t off = 0;
	prescient__targets__init(&t);
	reason[0] = 0;
	for (int r = 0; r < NRES; r++) {
		if (!change[r])
			continue;
		struct psc_explain_facts f = {
			.workload = w->name,
			.resource = r == R_CPU ? PSC_RES_CPU : PSC_RES_MEMORY,
			.action = explain_action(w->cur[r], target[r]),
			.shift = off == 0 ? w->surge : NULL,
			.usual = w->usual[r],
			.predicted = isfinite(w->need[r]) ? w->need[r] : target[r],
			.confidence = a->opt.confidence,
			.lead_s = a->opt.lead_s,
			.current_limit = w->cur[r],
			.new_limit = target[r],
			.margin = w->bd[r].cfg.margin[w->bd[r].chosen],
			.cap = w->bd[r].base.max,
			.file = r == R_CPU ? "cpu.max" : "memory.high",
			.cost_per_hour = r == R_CPU ? cost_per_hour(a, target[r], 0)
						    : cost_per_hour(a, 0, target[r]),
		};
		psc_explain(&f, part, sizeof(part));
		off += (size_t)snprintf(reason + off, off < sizeof(reason) ? sizeof(reason) - off : 0,
					"%s%s", off ? " " : "", part);
		if (r == R_CPU) {
			t.cpu_max_cores = target[r];
		} else {
			t.memory_high_bytes = (uint64_t)target[r];
			t.memory_max_bytes = (uint64_t)(target[r] * a->opt.burst);
		}
	}
	if (base_weight || base_mem) {
		char amount[48];
		if (base_weight)
			t.cpu_weight = (uint64_t)weight;
		if (base_mem)
			t.memory_min_bytes = (uint64_t)mem_min;
		psc_explain_amount(PSC_RES_CPU, w->usual[R_CPU], amount, sizeof(amount));
		off += (size_t)snprintf(reason + off, off < sizeof(reason) ? sizeof(reason) - off : 0,
					" Guaranteed share (baseline tier): cpu.weight %.0f for its usual %s",
					weight, amount);
		if (base_mem) {
			psc_explain_amount(PSC_RES_MEMORY, mem_min, amount, sizeof(amount));
			off += (size_t)snprintf(reason + off, off < sizeof(reason) ? sizeof(reason) - off : 0,
						", memory.min %s", amount);
		}
		snprintf(reason + off, off < sizeof(reason) ? sizeof(reason) - off : 0, ".");
	}
	/* The workload's tier: where its predicted CPU sits against its guaranteed share
	 * and its limit (policy.h). */
	const char *tier = psc_tier_name(psc_policy_tier(
		isfinite(w->need[R_CPU]) ? w->need[R_CPU] : 0,
		isfinite(w->usual[R_CPU]) ? w->usual[R_CPU] : 0, target[R_CPU]));
	uint64_t id = issue(a, w, &t, tier, reason, now);
	if (!id)
		return 0;
	w->last_issue = now;
	if (change[R_CPU])
		w->last_target_cpu = target[R_CPU];
	/* Every change is an adjustment (with its reason); only the notable ones are also
	 * alerts: acting on a shift, and raising CPU by half or more (or setting a first
	 * limit). Routine steps would drown them. */
	if (surge)
		return alert(a, now, w->id, w->host, "shift", NAN, reason, id);
	if (change[R_CPU] && (w->cur[R_CPU] <= 0 || target[R_CPU] >= 1.5 * w->cur[R_CPU]))
		return alert(a, now, w->id, w->host, "raise", NAN, reason, id);
	return 0;
}

/* Egress: a temporary limit on a network surge, cleared after egress_hold_s. */
static int egress(struct psc_allocation *a, struct aw *w, double now, const char *what,
		  double rate)
{
	Prescient__Targets t;
	char reason[600];
	struct psc_explain_facts f = {
		.workload = w->name,
		.resource = PSC_RES_EGRESS,
		.action = rate > 0 ? PSC_EXPLAIN_LIMIT_EGRESS : PSC_EXPLAIN_CLEAR_EGRESS,
		.shift = what,
		.usual = w->usual_net,
		.new_limit = rate,
		.predicted = rate,
		.confidence = a->opt.confidence,
		.cost_per_hour = NAN,
	};

	if (pending(a, w, now))
		return 0;
	prescient__targets__init(&t);
	t.egress_bytes_per_s = rate > 0 ? (uint64_t)rate : UINT64_MAX;
	psc_explain(&f, reason, sizeof(reason));
	uint64_t id = issue(a, w, &t, rate > 0 ? "burst" : "predictive", reason, now);
	if (!id)
		return 0;
	w->egress_until = rate > 0 ? now + a->opt.egress_hold_s : 0;
	return alert(a, now, w->id, w->host, "egress", NAN, reason, id);
}

/* New detections: alerts for all, actions for managed workloads. */
static int read_detections(struct psc_allocation *a, double now)
{
	sqlite3_stmt *st = a->st[Q_DETECTIONS];
	int rc, e = 0;

	sqlite3_bind_int64(st, 1, a->last_detection);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && e == 0) {
		int64_t did = sqlite3_column_int64(st, 0), wid = sqlite3_column_int64(st, 1);
		const char *series = (const char *)sqlite3_column_text(st, 2);
		const char *source = (const char *)sqlite3_column_text(st, 3);
		int dir = sqlite3_column_int(st, 4);
		double score = sqlite3_column_double(st, 5);
		const char *detail = (const char *)sqlite3_column_text(st, 8);
		const char *host = (const char *)sqlite3_column_text(st, 9);
		const char *name = (const char *)sqlite3_column_text(st, 10);
		struct aw *w = psc_hashmap_get(a->wl, (uint64_t)wid);
		double threshold = w ? w->threshold : a->opt.detect_threshold;
		char text[700];

		a->last_detection = did;
		if (score < threshold || !series || !source)
			continue;
		snprintf(text, sizeof(text), "%s of %s: %s (score %.2f)%s",
			 !strcmp(series, "behaviour") ? "Behaviour" : series, name ? name : "?",
			 detail ? detail : source, score,
			 w && w->managed ? "" : ". Nothing was changed: this workload is not managed");
		e = alert(a, now, wid, host ? host : "", "shift", score, text, 0);
		/* A change of behaviour (endpoint mix, bytes or CPU per request) re-sizes at
		 * once whichever way it went; resource and request series only when up. */
		bool behaviour = !strcmp(series, "behaviour");
		if (!w || !w->managed || (dir <= 0 && !behaviour))
			continue;
		bool net = !strcmp(series, "net");
		bool limit = dir > 0 && (net ? a->opt.egress_on_surge >= 1 : a->opt.egress_on_surge >= 2);
		if (limit && isfinite(w->usual_net) && w->usual_net > 0 && !w->egress_until)
			e = egress(a, w, now, text, w->usual_net * a->opt.egress_factor);
		if (!net) {
			snprintf(w->surge_text, sizeof(w->surge_text), "%s", detail ? detail : source);
			w->surge = w->surge_text;
		}
	}
	reset(st);
	state_set(a, "last_detection", (double)a->last_detection);
	if (e == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_fail(a, "reading detections");
	return e;
}

/* Feedback moves the workload's thresholds (allocation.h). */
static int apply_feedback(struct psc_allocation *a, double now)
{
	sqlite3_stmt *st = a->st[Q_FEEDBACK];
	int64_t done[100];
	size_t n = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 100) {
		int64_t fid = sqlite3_column_int64(st, 0);
		const char *kind = (const char *)sqlite3_column_text(st, 1);
		bool wrong = !strcmp((const char *)sqlite3_column_text(st, 2), "wrong");
		int64_t wid = sqlite3_column_int64(st, 3);
		const char *akind = (const char *)sqlite3_column_text(st, 4);
		done[n++] = fid;
		if (!wrong || !wid || !kind)
			continue;
		struct aw *w = psc_hashmap_get(a->wl, (uint64_t)wid);
		struct aw tmp = { .id = wid };
		if (!w) {
			w = &tmp;
			load_policy(a, w);
		}
		if (!strcmp(kind, "alert") && akind && !strcmp(akind, "shift"))
			w->threshold = fmin(0.95, w->threshold + 0.05);
		else if (akind && !strcmp(akind, "raise"))
			w->margin_bias = fmax(-0.3, w->margin_bias - 0.05);
		else
			w->margin_bias = fmin(0.5, w->margin_bias + 0.05);
		save_policy(a, w, wid, w->threshold, w->margin_bias, now);
		psc_info("AGG-ALLOC-FEEDBACK", "feedback %" PRId64 ": %s marked wrong; workload %" PRId64
			 " now has detection threshold %.2f, margin bias %+.2f", fid, kind, wid,
			 w->threshold, w->margin_bias);
	}
	reset(st);
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_int64(a->st[Q_FEEDBACK_DONE], 1, done[i]);
		exec_done(a, Q_FEEDBACK_DONE);
	}
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_fail(a, "reading feedback");
}

static void reap_hooks(struct psc_allocation *a)
{
	for (int i = 0; i < MAX_HOOK_CHILDREN; i++) {
		int status;
		if (a->hooks[i] <= 0 || waitpid(a->hooks[i], &status, WNOHANG) != a->hooks[i])
			continue;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			psc_warn("AGG-ALLOC-HOOK", "provisioning hook (pid %d) failed (status %d)",
				 (int)a->hooks[i], status);
		a->hooks[i] = 0;
	}
}

/* Starts the hook with @json on its stdin; does not wait for it. */
static int run_hook(struct psc_allocation *a, const char *json)
{
	posix_spawn_file_actions_t fa;
	int fds[2], slot;
	pid_t pid;

	for (slot = 0; slot < MAX_HOOK_CHILDREN && a->hooks[slot] > 0; slot++)
		;
	if (slot == MAX_HOOK_CHILDREN)
		return -EAGAIN;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
	char *argv[] = { "/bin/sh", "-c", (char *)a->opt.hook, NULL };
	int e = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	if (e != 0) {
		close(fds[1]);
		return -e;
	}
	/* The description is small (well under a pipe buffer): this write does not block. */
	size_t len = strlen(json);
	if (write(fds[1], json, len) != (ssize_t)len)
		psc_warn("AGG-ALLOC-HOOK", "could not write the shortfall to the hook: %s",
			 strerror(errno));
	close(fds[1]);
	a->hooks[slot] = pid;
	return 0;
}

static double *hook_last(struct psc_allocation *a, const char *host)
{
	uint64_t h = psc_hash_bytes(host, strlen(host), 0);
	double *v = psc_hashmap_get(a->hook_at, h);
	if (!v) {
		v = calloc(1, sizeof(*v));
		if (v && psc_hashmap_put(a->hook_at, h, v) < 0) {
			free(v);
			v = NULL;
		}
	}
	return v;
}

/* Hosts predicted to run out: an alert and the provisioning hook. */
static int check_hosts(struct psc_allocation *a, double now)
{
	sqlite3_stmt *st = a->st[Q_HOSTS];
	double step = a->step_s > 0 ? a->step_s : 300;
	int rc, e = 0;

	reap_hooks(a);
	sqlite3_bind_double(st, 1, step);
	sqlite3_bind_double(st, 2, now - 3 * step - 60);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && e == 0) {
		const char *host = (const char *)sqlite3_column_text(st, 0);
		double cpus = sqlite3_column_double(st, 1), mem = sqlite3_column_double(st, 2);
		double pcpu = sqlite3_column_double(st, 3), pmem = sqlite3_column_double(st, 4);
		bool short_cpu = cpus > 0 && pcpu > 0.9 * cpus;
		bool short_mem = mem > 0 && pmem > 0.9 * mem;
		if (!host || (!short_cpu && !short_mem))
			continue;
		double *last = hook_last(a, host);
		if (!last || now - *last < a->opt.hook_cooldown_s)
			continue;
		*last = now;
		char text[600], c1[48], c2[48], m1[48], m2[48];
		psc_explain_amount(PSC_RES_CPU, pcpu, c1, sizeof(c1));
		psc_explain_amount(PSC_RES_CPU, cpus, c2, sizeof(c2));
		psc_explain_amount(PSC_RES_MEMORY, pmem, m1, sizeof(m1));
		psc_explain_amount(PSC_RES_MEMORY, mem, m2, sizeof(m2));
		snprintf(text, sizeof(text),
			 "Host %s is predicted to run short within %.0f s: CPU %s of %s, memory %s of %s"
			 " (p90 of its workloads' forecasts). %s",
			 host, step, c1, c2, m1, m2,
			 a->opt.hook ? "Ran the provisioning hook." : "No provisioning hook is configured.");
		e = alert(a, now, 0, host, "host", NAN, text, 0);
		if (!a->opt.hook)
			continue;
		json_t *j = json_pack("{s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:b, s:b, s:s}", "host", host,
				      "at", now, "horizon_s", step, "predicted_cpu_cores", pcpu,
				      "capacity_cpu_cores", cpus, "predicted_memory_bytes", pmem,
				      "capacity_memory_bytes", mem, "cpu_short", short_cpu,
				      "memory_short", short_mem, "explanation", text);
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (!s || run_hook(a, s) < 0)
			psc_warn("AGG-ALLOC-HOOK", "could not run the provisioning hook for %s", host);
		else
			a->stats.hooks++;
		free(s);
	}
	reset(st);
	if (e == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_fail(a, "reading host forecasts");
	return e;
}

static int decide_all(struct psc_allocation *a, double now)
{
	size_t it = 0;
	uint64_t key;
	void *val;
	int e = 0;

	while (psc_hashmap_next(a->wl, &it, &key, &val)) {
		struct aw *w = val;
		if (!w->managed || !w->sz[0])
			continue;
		a->stats.managed++;
		if (w->egress_until && now >= w->egress_until && e == 0)
			e = egress(a, w, now, NULL, 0);
		if ((w->fresh || w->surge) && e == 0)
			e = decide(a, w, now);
		w->fresh = false;
		w->surge = NULL;
	}
	return e;
}

int psc_allocation_cycle(struct psc_allocation *a, double now, struct psc_allocation_stats *out)
{
	int e;

	/* No transaction around the cycle: adjustments are written through the store's own
	 * connection, which a transaction held here would lock out. Every write stands on
	 * its own (few per cycle); a crash between them loses nothing that the next cycle
	 * does not redo (detections are marked read after their alerts are written). */
	memset(&a->stats, 0, sizeof(a->stats));
	e = apply_feedback(a, now);
	if (e == 0)
		e = read_detections(a, now);
	if (e == 0)
		e = decide_all(a, now);
	if (e == 0)
		e = check_hosts(a, now);
	/* The managed set and the limits in effect, for the steps of the next cycle. */
	if (e == 0)
		e = refresh(a);
	if (out)
		*out = a->stats;
	return e;
}

int psc_allocation_new(struct psc_allocation **out, const char *db_path,
		       const struct psc_allocation_options *opt,
		       const uint8_t sign_sk[PSC_SIGN_SK_BYTES], char *err, size_t errlen)
{
	struct psc_allocation *a;
	int e = -EIO;

	if (!(opt->confidence > 0.5 && opt->confidence < 1) || !(opt->lead_s >= 0) ||
	    !(opt->min_change >= 0) || !(opt->burst >= 1) || !(opt->egress_factor > 0) ||
	    !(opt->expiry_s >= 0)) {
		snprintf(err, errlen, "invalid allocation options");
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->opt = *opt;
	memcpy(a->sign_sk, sign_sk, PSC_SIGN_SK_BYTES);
	if (psc_hashmap_new(&a->wl) < 0 || psc_hashmap_new(&a->hook_at) < 0) {
		e = -ENOMEM;
		goto fail;
	}
	e = psc_store_open(&a->store, db_path, NULL, err, errlen);
	if (e < 0)
		goto fail;
	e = -EIO;
	if (sqlite3_open_v2(db_path, &a->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", db_path, sqlite3_errmsg(a->db));
		goto fail;
	}
	sqlite3_busy_timeout(a->db, 5000);
	if (sqlite3_exec(a->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot create the allocation tables: %s", sqlite3_errmsg(a->db));
		goto fail;
	}
	for (int i = 0; i < _Q_MAX; i++)
		if (sqlite3_prepare_v2(a->db, sql[i], -1, &a->st[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "cannot prepare '%s': %s", sql[i], sqlite3_errmsg(a->db));
			goto fail;
		}
	a->last_detection = (int64_t)state_get(a, "last_detection", 0);
	e = refresh(a);
	if (e < 0) {
		snprintf(err, errlen, "cannot read the managed workloads");
		goto fail;
	}
	*out = a;
	return 0;
fail:
	psc_allocation_free(&a);
	return e;
}

void psc_allocation_free(struct psc_allocation **ap)
{
	struct psc_allocation *a = *ap;

	if (!a)
		return;
	size_t it = 0;
	uint64_t key;
	void *val;
	while (a->wl && psc_hashmap_next(a->wl, &it, &key, &val))
		aw_free(val);
	it = 0;
	while (a->hook_at && psc_hashmap_next(a->hook_at, &it, &key, &val))
		free(val);
	psc_hashmap_free(&a->wl);
	psc_hashmap_free(&a->hook_at);
	for (int i = 0; i < _Q_MAX; i++)
		sqlite3_finalize(a->st[i]);
	sqlite3_close(a->db);
	psc_store_close(&a->store);
	for (int i = 0; i < MAX_HOOK_CHILDREN; i++)
		if (a->hooks[i] > 0)
			waitpid(a->hooks[i], NULL, WNOHANG);
	memset(a->sign_sk, 0, sizeof(a->sign_sk));
	free(a);
	*ap = NULL;
}
