// SPDX-License-Identifier: MIT
#include "store.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "hashmap.h"
#include "log.h"
#include "wire.h"

#define TIER_5M_S 300.0
#define TIER_1H_S 3600.0
#define RETENTION_CHUNK 5000
#define ROLLUP_BATCH 64
/* Ingest keeps the ids of workloads and endpoints (by dictionary ref and by strings) in
 * memory, so that a steady report costs one series row per endpoint and no lookups. At
 * most ID_CACHE_MAX entries (~100 B each); a full cache is emptied and refills itself. */
#define ID_CACHE_MAX (1u << 19)
#define ID_KEY_MAX 8192
/* last_seen of workloads and endpoints, and dict_epochs.last_used, are rewritten at most
 * this often per row (they are exact to within this). */
#define SEEN_RESOLUTION_S 60.0

enum dict_kind {
	DICT_WORKLOAD = 0,
	DICT_ENDPOINT = 1,
};

/* Migrations from version N-1 to N, applied in order in one transaction each. Never edit
 * a released one: add the next. */
static const char *const migrations[] = {
	/* 1: initial schema */
	"CREATE TABLE hosts ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  agent_version TEXT,"
	"  first_seen REAL NOT NULL,"
	"  last_seen REAL NOT NULL,"
	"  last_seq INTEGER NOT NULL DEFAULT 0);"
	/* The delivery ledger: one row per (host, seq) ever stored, the de-duplication key. */
	"CREATE TABLE reports ("
	"  host TEXT,"
	"  seq INTEGER,"
	"  window_start REAL,"
	"  window_end REAL,"
	"  received_at REAL,"
	"  bytes INTEGER,"
	"  workloads INTEGER,"
	"  endpoints INTEGER NOT NULL DEFAULT 0,"
	"  schema_version INTEGER,"
	"  agent_version TEXT,"
	"  dict_epoch INTEGER,"
	"  PRIMARY KEY (host, seq));"
	"CREATE INDEX reports_window_end ON reports(window_end);"
	"CREATE TABLE workloads ("
	"  id INTEGER PRIMARY KEY,"
	"  host_id INTEGER NOT NULL REFERENCES hosts(id),"
	"  cgroup TEXT NOT NULL,"
	"  name TEXT,"
	"  first_seen REAL NOT NULL,"
	"  last_seen REAL NOT NULL,"
	"  UNIQUE (host_id, cgroup));"
	"CREATE TABLE endpoints ("
	"  id INTEGER PRIMARY KEY,"
	"  workload_id INTEGER NOT NULL REFERENCES workloads(id),"
	"  protocol TEXT NOT NULL,"
	"  role TEXT NOT NULL,"
	"  endpoint TEXT NOT NULL,"
	"  first_seen REAL NOT NULL,"
	"  last_seen REAL NOT NULL,"
	"  UNIQUE (workload_id, protocol, role, endpoint));"
	/* Sender dictionaries (proto/wire.h): kind 0 = workload (a = cgroup, b = name),
	 * kind 1 = endpoint (a = protocol, b = role, c = endpoint). */
	"CREATE TABLE dict ("
	"  host_id INTEGER NOT NULL,"
	"  epoch INTEGER NOT NULL,"
	"  ref INTEGER NOT NULL,"
	"  kind INTEGER NOT NULL,"
	"  a TEXT NOT NULL,"
	"  b TEXT NOT NULL,"
	"  c TEXT NOT NULL,"
	"  PRIMARY KEY (host_id, epoch, ref)) WITHOUT ROWID;"
	"CREATE TABLE dict_epochs ("
	"  host_id INTEGER NOT NULL,"
	"  epoch INTEGER NOT NULL,"
	"  last_used REAL NOT NULL,"
	"  PRIMARY KEY (host_id, epoch)) WITHOUT ROWID;"
	/* Series: tier 0 = raw windows (ts = window start), 1 = 5-minute and 2 = hourly
	 * buckets (ts = bucket start). span_s = seconds of windows covered; sums for
	 * counters, window-weighted means for levels (mem_bytes) and time-weighted means for
	 * PSI shares; NULL where the host could not measure. */
	"CREATE TABLE workload_series ("
	"  workload_id INTEGER NOT NULL,"
	"  tier INTEGER NOT NULL,"
	"  ts REAL NOT NULL,"
	"  span_s REAL NOT NULL,"
	"  windows INTEGER NOT NULL,"
	"  cpu_s REAL,"
	"  cpu_throttled_s REAL,"
	"  mem_bytes REAL,"
	"  mem_peak_bytes INTEGER,"
	"  io_read_bytes INTEGER,"
	"  io_write_bytes INTEGER,"
	"  net_rx_bytes INTEGER,"
	"  net_tx_bytes INTEGER,"
	"  psi_cpu_some REAL,"
	"  psi_mem_some REAL,"
	"  psi_io_some REAL,"
	"  sessions_closed INTEGER,"
	"  PRIMARY KEY (workload_id, tier, ts)) WITHOUT ROWID;"
	"CREATE INDEX workload_series_tier_ts ON workload_series(tier, ts);"
	"CREATE TABLE endpoint_series ("
	"  endpoint_id INTEGER NOT NULL,"
	"  tier INTEGER NOT NULL,"
	"  ts REAL NOT NULL,"
	"  span_s REAL NOT NULL,"
	"  windows INTEGER NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  errors INTEGER NOT NULL,"
	"  responses INTEGER NOT NULL,"
	"  bytes_in INTEGER NOT NULL,"
	"  bytes_out INTEGER NOT NULL,"
	"  latency_hist BLOB,"
	"  PRIMARY KEY (endpoint_id, tier, ts)) WITHOUT ROWID;"
	"CREATE INDEX endpoint_series_tier_ts ON endpoint_series(tier, ts);"
	"CREATE TABLE rollup_dirty ("
	"  tier INTEGER NOT NULL,"
	"  bucket REAL NOT NULL,"
	"  PRIMARY KEY (tier, bucket)) WITHOUT ROWID;"
	/* Signed adjustments queued for their host (filled by the allocation/policy code),
	 * sent with every ack to that host until an outcome comes back or they expire. */
	"CREATE TABLE adjustments ("
	"  id INTEGER PRIMARY KEY,"
	"  host TEXT NOT NULL,"
	"  workload TEXT NOT NULL,"
	"  issued_at REAL NOT NULL,"
	"  expires_at REAL NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  payload BLOB NOT NULL,"
	"  signature BLOB NOT NULL,"
	"  sent_count INTEGER NOT NULL DEFAULT 0,"
	"  last_sent REAL,"
	"  outcome INTEGER,"
	"  outcome_detail TEXT,"
	"  outcome_at REAL);"
	"CREATE INDEX adjustments_pending ON adjustments(host, outcome, expires_at);"
	"CREATE TABLE adjustment_outcomes ("
	"  host TEXT NOT NULL,"
	"  adjustment_id INTEGER NOT NULL,"
	"  workload TEXT,"
	"  result INTEGER NOT NULL,"
	"  detail TEXT,"
	"  at REAL,"
	"  report_seq INTEGER NOT NULL,"
	"  previous BLOB);",
	/* 2: limits in effect and whether the agent may change them (allocation). One row per
	 * workload with the latest limits the agent read (0 = no limit), written only for
	 * workloads that are managed or limited; every change (and the first sight) is also
	 * kept in limits_history, for plots of limits over time. Host capacity, for
	 * host-wide shortfall predictions. */
	"ALTER TABLE hosts ADD COLUMN cpus INTEGER;"
	"ALTER TABLE hosts ADD COLUMN memory_bytes INTEGER;"
	"ALTER TABLE workload_series ADD COLUMN oom_kills INTEGER;"
	"CREATE TABLE workload_limits ("
	"  workload_id INTEGER PRIMARY KEY,"
	"  ts REAL NOT NULL,"
	"  managed INTEGER NOT NULL,"
	"  cpu_max_cores REAL NOT NULL,"
	"  cpu_weight INTEGER NOT NULL,"
	"  memory_min INTEGER NOT NULL,"
	"  memory_high INTEGER NOT NULL,"
	"  memory_max INTEGER NOT NULL,"
	"  egress_bytes_per_s INTEGER NOT NULL);"
	"CREATE TABLE limits_history ("
	"  workload_id INTEGER NOT NULL,"
	"  ts REAL NOT NULL,"
	"  managed INTEGER NOT NULL,"
	"  cpu_max_cores REAL NOT NULL,"
	"  cpu_weight INTEGER NOT NULL,"
	"  memory_min INTEGER NOT NULL,"
	"  memory_high INTEGER NOT NULL,"
	"  memory_max INTEGER NOT NULL,"
	"  egress_bytes_per_s INTEGER NOT NULL,"
	"  PRIMARY KEY (workload_id, ts)) WITHOUT ROWID;"
	"CREATE TRIGGER limits_first AFTER INSERT ON workload_limits BEGIN"
	"  INSERT OR REPLACE INTO limits_history VALUES (new.workload_id, new.ts, new.managed,"
	"  new.cpu_max_cores, new.cpu_weight, new.memory_min, new.memory_high, new.memory_max,"
	"  new.egress_bytes_per_s); END;"
	"CREATE TRIGGER limits_changed AFTER UPDATE ON workload_limits WHEN"
	"  old.managed IS NOT new.managed OR old.cpu_max_cores IS NOT new.cpu_max_cores OR"
	"  old.cpu_weight IS NOT new.cpu_weight OR old.memory_min IS NOT new.memory_min OR"
	"  old.memory_high IS NOT new.memory_high OR old.memory_max IS NOT new.memory_max OR"
	"  old.egress_bytes_per_s IS NOT new.egress_bytes_per_s BEGIN"
	"  INSERT OR REPLACE INTO limits_history VALUES (new.workload_id, new.ts, new.managed,"
	"  new.cpu_max_cores, new.cpu_weight, new.memory_min, new.memory_high, new.memory_max,"
	"  new.egress_bytes_per_s); END;",
	/* 3: the raw tier of endpoint series as one row per workload-window, appended in
	 * arrival order (endpoint_raw, rowid = insertion order), holding that window's
	 * endpoint records: `eps` is a JSON array of [endpoint_id, windows, count, errors,
	 * responses, bytes_in, bytes_out, hist_offset, hist_length] and `hists` the
	 * concatenated latency_hist blobs. The workload's tier-0 row points at it (eref) and
	 * takes it along when deleted. One row per endpoint-window put each record on its own
	 * b-tree leaf: a batch dirtied one page per endpoint. endpoint_rollup keeps the 5-minute
	 * and hourly tiers; the view endpoint_series shows all three tiers as before (plus
	 * workload_id), for readers and operators. The tier-0 rows already stored are moved by
	 * migrate_raw_tier(). */
	"ALTER TABLE endpoint_series RENAME TO endpoint_rollup;"
	"DROP INDEX endpoint_series_tier_ts;"
	"CREATE INDEX endpoint_rollup_tier_ts ON endpoint_rollup(tier, ts);"
	"ALTER TABLE workload_series ADD COLUMN eref INTEGER;"
	"CREATE TABLE endpoint_raw ("
	"  id INTEGER PRIMARY KEY,"
	"  eps TEXT NOT NULL,"
	"  hists BLOB NOT NULL);"
	"CREATE TRIGGER workload_series_eref AFTER DELETE ON workload_series"
	"  WHEN old.eref IS NOT NULL BEGIN"
	"  DELETE FROM endpoint_raw WHERE id = old.eref; END;"
	"CREATE VIEW endpoint_series AS"
	"  SELECT s.endpoint_id AS endpoint_id, s.tier AS tier, s.ts AS ts, s.span_s AS span_s,"
	"  s.windows AS windows, s.count AS count, s.errors AS errors, s.responses AS responses,"
	"  s.bytes_in AS bytes_in, s.bytes_out AS bytes_out, s.latency_hist AS latency_hist,"
	"  e.workload_id AS workload_id"
	/* CROSS JOIN: from a workload's endpoints to their rows by key when filtered by
	 * workload_id (SQLite would otherwise take the tier/ts index over every endpoint). */
	"  FROM endpoints e CROSS JOIN endpoint_rollup s ON s.endpoint_id = e.id"
	"  UNION ALL"
	"  SELECT j.value ->> 0, 0, w.ts, w.span_s, j.value ->> 1, j.value ->> 2, j.value ->> 3,"
	"  j.value ->> 4, j.value ->> 5, j.value ->> 6,"
	"  substr(r.hists, (j.value ->> 7) + 1, j.value ->> 8), w.workload_id"
	"  FROM workload_series w JOIN endpoint_raw r ON r.id = w.eref JOIN json_each(r.eps) j"
	"  WHERE w.tier = 0;",
};

_Static_assert(PSC_ARRAY_SIZE(migrations) == PSC_STORE_SCHEMA_VERSION, "one migration per version");

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_LEDGER,
	ST_HOST,
	ST_DICT_EPOCH,
	ST_DICT_PUT,
	ST_DICT_GET,
	ST_WORKLOAD,
	ST_ENDPOINT,
	ST_WSERIES,
	ST_RAW_PUT,
	ST_RAW_GET,
	ST_RAW_SET,
	ST_RAW_DEL,
	ST_DIRTY,
	ST_OUTCOME_LOG,
	ST_OUTCOME_SET,
	ST_HOSTS_SINCE,
	ST_ADJ_ADD,
	ST_ADJ_PENDING,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_WORKLOAD_SEEN,
	ST_ENDPOINT_SEEN,
	ST_LIMITS,
	ST_HOST_CAPACITY,
	ST_DATA_VERSION,
	_ST_MAX,
};

static const char *const stmt_sql[_ST_MAX] = {
	[ST_LIMITS] = "INSERT INTO workload_limits (workload_id, ts, managed, cpu_max_cores,"
		      " cpu_weight, memory_min, memory_high, memory_max, egress_bytes_per_s)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (workload_id) DO"
		      " UPDATE SET ts = excluded.ts, managed = excluded.managed,"
		      " cpu_max_cores = excluded.cpu_max_cores, cpu_weight = excluded.cpu_weight,"
		      " memory_min = excluded.memory_min, memory_high = excluded.memory_high,"
		      " memory_max = excluded.memory_max,"
		      " egress_bytes_per_s = excluded.egress_bytes_per_s WHERE excluded.ts >= ts",
	[ST_HOST_CAPACITY] = "UPDATE hosts SET cpus = ?2, memory_bytes = ?3 WHERE id = ?1 AND"
			     " (cpus IS NOT ?2 OR memory_bytes IS NOT ?3)",
	[ST_DATA_VERSION] = "PRAGMA data_version",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_LEDGER] = "INSERT INTO reports (host, seq, window_start, window_end, received_at, bytes,"
		      " workloads, endpoints, schema_version, agent_version, dict_epoch)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
		      " ON CONFLICT (host, seq) DO NOTHING",
	[ST_HOST] = "INSERT INTO hosts (name, agent_version, first_seen, last_seen, last_seq)"
		    " VALUES (?1, ?2, ?3, ?3, ?4) ON CONFLICT (name) DO UPDATE SET"
		    " agent_version = excluded.agent_version, last_seen = excluded.last_seen,"
		    " last_seq = max(last_seq, excluded.last_seq) RETURNING id",
	[ST_DICT_EPOCH] = "INSERT INTO dict_epochs (host_id, epoch, last_used) VALUES (?1, ?2, ?3)"
			  " ON CONFLICT DO UPDATE SET last_used = excluded.last_used",
	[ST_DICT_PUT] = "INSERT OR REPLACE INTO dict (host_id, epoch, ref, kind, a, b, c)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_DICT_GET] = "SELECT a, b, c FROM dict WHERE host_id = ?1 AND epoch = ?2 AND ref = ?3"
			" AND kind = ?4",
	[ST_WORKLOAD] = "INSERT INTO workloads (host_id, cgroup, name, first_seen, last_seen)"
			" VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (host_id, cgroup) DO UPDATE SET"
			" last_seen = excluded.last_seen,"
			" name = coalesce(nullif(excluded.name, ''), name) RETURNING id",
	[ST_ENDPOINT] = "INSERT INTO endpoints (workload_id, protocol, role, endpoint, first_seen,"
			" last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
			" ON CONFLICT (workload_id, protocol, role, endpoint) DO UPDATE SET"
			" last_seen = excluded.last_seen RETURNING id",
	[ST_WSERIES] =
		"INSERT INTO workload_series (workload_id, tier, ts, span_s, windows, cpu_s,"
		" cpu_throttled_s, mem_bytes, mem_peak_bytes, io_read_bytes, io_write_bytes,"
		" net_rx_bytes, net_tx_bytes, psi_cpu_some, psi_mem_some, psi_io_some,"
		" sessions_closed, oom_kills, eref) VALUES (?1, 0, ?2, ?3, 1, ?4, ?5, ?6, ?7,"
		" ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
		" ON CONFLICT (workload_id, tier, ts) DO UPDATE SET"
		" windows = windows + 1, cpu_s = cpu_s + excluded.cpu_s,"
		" cpu_throttled_s = cpu_throttled_s + excluded.cpu_throttled_s,"
		" mem_bytes = max(mem_bytes, excluded.mem_bytes),"
		" mem_peak_bytes = max(mem_peak_bytes, excluded.mem_peak_bytes),"
		" io_read_bytes = io_read_bytes + excluded.io_read_bytes,"
		" io_write_bytes = io_write_bytes + excluded.io_write_bytes,"
		" net_rx_bytes = net_rx_bytes + excluded.net_rx_bytes,"
		" net_tx_bytes = net_tx_bytes + excluded.net_tx_bytes,"
		" sessions_closed = sessions_closed + excluded.sessions_closed,"
		" oom_kills = oom_kills + excluded.oom_kills,"
		" eref = coalesce(eref, excluded.eref) RETURNING eref",
	[ST_RAW_PUT] = "INSERT INTO endpoint_raw (eps, hists) VALUES (?1, ?2)",
	[ST_RAW_GET] = "SELECT eps, hists FROM endpoint_raw WHERE id = ?1",
	[ST_RAW_SET] = "UPDATE endpoint_raw SET eps = ?2, hists = ?3 WHERE id = ?1",
	[ST_RAW_DEL] = "DELETE FROM endpoint_raw WHERE id = ?1",
	[ST_DIRTY] = "INSERT OR IGNORE INTO rollup_dirty (tier, bucket) VALUES (?1, ?2)",
	[ST_OUTCOME_LOG] = "INSERT INTO adjustment_outcomes (host, adjustment_id, workload, result,"
			   " detail, at, report_seq, previous) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_OUTCOME_SET] = "UPDATE adjustments SET outcome = ?3, outcome_detail = ?4,"
			   " outcome_at = ?5 WHERE id = ?1 AND host = ?2 AND outcome IS NULL",
	[ST_HOSTS_SINCE] = "SELECT count(*) FROM hosts WHERE last_seen >= ?1",
	[ST_ADJ_ADD] = "INSERT INTO adjustments (id, host, workload, issued_at, expires_at, reason,"
		       " payload, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_ADJ_PENDING] = "SELECT id, payload, signature FROM adjustments WHERE host = ?1"
			   " AND outcome IS NULL AND expires_at > ?2 ORDER BY id LIMIT ?3",
	[ST_SAVEPOINT] = "SAVEPOINT report",
	[ST_RELEASE] = "RELEASE report",
	[ST_ROLLBACK_TO] = "ROLLBACK TO report",
	[ST_WORKLOAD_SEEN] = "UPDATE workloads SET last_seen = ?2 WHERE id = ?1",
	[ST_ENDPOINT_SEEN] = "UPDATE endpoints SET last_seen = ?2 WHERE id = ?1",
};

/* A workload's endpoint known by its dictionary ref. */
struct ep_slot {
	int64_t id; /* 0: not known (row ids start at 1) */
	double seen;
};

/* A cached id: the full key is kept and compared, so a 64-bit hash collision is a miss. */
struct id_ent {
	int64_t id;
	double seen; /* when last_seen (last_used) was last written */
	/* Workload-by-ref entries ('W'): the workload's endpoints indexed by their ref
	 * (eps[ref - ep_base], refs from ep_base to ep_base + neps - 1), so that a steady
	 * report (every endpoint by ref) finds each endpoint's id with an array index rather
	 * than a hash lookup (which were ~9% of the CPU at 100 endpoints per report: the
	 * probes miss the CPU caches). A sender numbers the strings it meets in order, so a
	 * workload's endpoints mostly have neighbouring refs; refs that would make the array
	 * sparse (mostly empty) stay in the hash ('E' entries). */
	struct ep_slot *eps;
	uint32_t ep_base, neps, nused;
	size_t keylen;
	unsigned char key[];
};

struct psc_store {
	sqlite3 *db;
	struct psc_store_options opt;
	sqlite3_stmt *st[_ST_MAX];
	struct psc_hashmap *ids; /* struct id_ent by key hash; only committed rows' ids */
	size_t ep_slots;	 /* struct ep_slot in all entries: counted in ID_CACHE_MAX */
	uint64_t ids_gen;	 /* changes whenever an entry is freed */
	/* Hosts known to have no pending adjustment are not asked again within a batch
	 * while no adjustment has been added: by another connection (data_version, read at
	 * each batch's start; none can commit during the batch, which holds the write lock)
	 * or by this one (adj_added). Cache entries 'a' + host, id = data_version, seen =
	 * adj_added. */
	int64_t data_version;
	uint64_t adj_added;
	bool in_batch;
	bool batch_failed;	 /* the transaction is gone: the commit must fail */
	double dirty_marked;	 /* 5-minute bucket already marked in this transaction */
	/* Scratch for the endpoint records of one raw row (or of one workload's rollup):
	 * records, their histogram blobs, and the encoded row (eps JSON, hists). Reused, so
	 * a steady report allocates nothing; trimmed when a rollup made them large. */
	struct ep_rec *recs;
	size_t nrec, rec_cap;
	uint8_t *hbuf;
	size_t hlen, hcap;
	char *jbuf;
	size_t jcap;
	uint8_t *obuf;
	size_t ocap;
};

/* One endpoint's figures in a window (raw) or a bucket: what a raw row holds for it. */
enum { REC_WINDOWS, REC_COUNT, REC_ERRORS, REC_RESPONSES, REC_BYTES_IN, REC_BYTES_OUT, _REC_MAX };
struct ep_rec {
	int64_t id;
	int64_t v[_REC_MAX];
	double span;
	uint32_t hoff, hlen; /* its latency_hist blob in psc_store.hbuf */
};

struct psc_store_options psc_store_options_default(void)
{
	return (struct psc_store_options){
		.retention_raw_s = 2 * 86400.0,
		.retention_5m_s = 35 * 86400.0,
		.retention_1h_s = 400 * 86400.0,
		.retention_reports_s = 2 * 86400.0,
		.rollup_grace_s = 30,
	};
}

static int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EIO;
}

static int db_exec(struct psc_store *s, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		psc_err("AGG-STORE-SQL", "%s (in: %.60s)", msg ? msg : "?", sql);
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

/* Steps a statement that returns nothing (or whose rows are ignored) and resets it. */
static int step_done(struct psc_store *s, sqlite3_stmt *st)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_CONSTRAINT)
		return -EEXIST; /* the caller decides whether that is an error */
	if (rc != SQLITE_DONE) {
		psc_err("AGG-STORE-SQL", "%s (in: %.60s)", sqlite3_errmsg(s->db), sqlite3_sql(st));
		return -EIO;
	}
	return 0;
}

/* Steps a statement returning one integer (RETURNING id, count(*)). */
static int step_id(struct psc_store *s, sqlite3_stmt *st, int64_t *id)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else
		*id = -1;
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE || *id < 0) {
		psc_err("AGG-STORE-SQL", "%s (in: %.60s)", sqlite3_errmsg(s->db), sqlite3_sql(st));
		return -EIO;
	}
	return 0;
}

static int64_t clamp64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* --- id cache --- */

static void ent_free(struct psc_store *s, struct id_ent *e)
{
	if (!e)
		return;
	s->ep_slots -= e->neps;
	s->ids_gen++;
	free(e->eps);
	free(e);
}

static void ids_clear(struct psc_store *s)
{
	size_t it = 0;
	uint64_t k;
	void *v;

	if (!s->ids)
		return;
	while (psc_hashmap_next(s->ids, &it, &k, &v)) {
		ent_free(s, v);
		psc_hashmap_iter_remove(s->ids, &it);
	}
	s->ids_gen++;
}

struct id_key {
	size_t len;
	bool ok; /* fits: cacheable */
	unsigned char b[ID_KEY_MAX];
};

static void key_init(struct id_key *k, char kind)
{
	k->len = 1;
	k->ok = true;
	k->b[0] = (unsigned char)kind;
}

static void key_add(struct id_key *k, const void *p, size_t n)
{
	if (!k->ok || k->len + n > sizeof(k->b)) {
		k->ok = false;
		return;
	}
	memcpy(k->b + k->len, p, n);
	k->len += n;
}

static void key_i64(struct id_key *k, int64_t v)
{
	key_add(k, &v, sizeof(v));
}

static void key_str(struct id_key *k, const char *str)
{
	key_add(k, str, strlen(str) + 1);
}

static struct id_ent *ids_get(struct psc_store *s, const struct id_key *k)
{
	struct id_ent *e;

	if (!k->ok)
		return NULL;
	e = psc_hashmap_get(s->ids, psc_hash_bytes(k->b, k->len, 0));
	if (e && e->keylen == k->len && !memcmp(e->key, k->b, k->len))
		return e;
	return NULL;
}

/* Best effort: a cache that cannot grow simply misses. Returns the new entry (valid while
 * s->ids_gen is unchanged), or NULL. */
static struct id_ent *ids_put(struct psc_store *s, const struct id_key *k, int64_t id, double seen)
{
	uint64_t h;
	struct id_ent *e, *old;

	if (!k->ok)
		return NULL;
	if (psc_hashmap_size(s->ids) + s->ep_slots >= ID_CACHE_MAX)
		ids_clear(s);
	e = malloc(sizeof(*e) + k->len);
	if (!e)
		return NULL;
	e->id = id;
	e->seen = seen;
	e->eps = NULL;
	e->ep_base = e->neps = e->nused = 0;
	e->keylen = k->len;
	memcpy(e->key, k->b, k->len);
	h = psc_hash_bytes(k->b, k->len, 0);
	old = psc_hashmap_get(s->ids, h);
	if (psc_hashmap_put(s->ids, h, e) < 0) {
		free(e);
		return NULL;
	}
	ent_free(s, old);
	return e;
}

/* The slot of endpoint @ref in workload entry @w, made (the array grown) when @grow and
 * the array stays dense: at most 4 slots per endpoint it holds, plus 16. NULL when there is
 * none: the ref is then cached by key. Growing may empty the cache (s->ids_gen changes). */
static struct ep_slot *ep_slot(struct psc_store *s, struct id_ent *w, uint32_t ref, bool grow)
{
	uint32_t n, need;
	struct ep_slot *t;

	if (w->neps && ref >= w->ep_base && ref - w->ep_base < w->neps)
		return &w->eps[ref - w->ep_base];
	if (!grow || ref > PSC_WIRE_DICT_MAX || (w->neps && ref < w->ep_base))
		return NULL;
	if (!w->neps && (!w->ep_base || ref < w->ep_base))
		w->ep_base = ref;
	need = ref - w->ep_base + 1;
	for (n = w->neps ? w->neps : 16; n < need; n *= 2)
		;
	if (n > 4 * (w->nused + 1) + 16)
		return NULL;
	if (psc_hashmap_size(s->ids) + s->ep_slots + (n - w->neps) > ID_CACHE_MAX) {
		ids_clear(s); /* full: start again, as ids_put() does (@w is gone) */
		return NULL;
	}
	t = realloc(w->eps, n * sizeof(*t));
	if (!t)
		return NULL;
	memset(t + w->neps, 0, (n - w->neps) * sizeof(*t));
	s->ep_slots += n - w->neps;
	w->eps = t;
	w->neps = n;
	return &w->eps[ref - w->ep_base];
}

static int read_schema_version(struct psc_store *s, int *version)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*version = 0;
	if (db_exec(s, "CREATE TABLE IF NOT EXISTS schema_version ("
		       "  version INTEGER NOT NULL, applied_at REAL NOT NULL)") < 0)
		return -EIO;
	if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(version), 0) FROM schema_version", -1,
			       &st, NULL) != SQLITE_OK)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -EIO;
}

static int migrate_raw_tier(struct psc_store *s);

static int migrate(struct psc_store *s, char *err, size_t errlen)
{
	char sql[128];
	int v, r;

	r = read_schema_version(s, &v);
	if (r < 0)
		return errf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(s->db));
	if (v > PSC_STORE_SCHEMA_VERSION) {
		errf(err, errlen, "the database has schema version %d, newer than this binary's %d",
		     v, PSC_STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	for (; v < PSC_STORE_SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO schema_version (version, applied_at) VALUES (%d, unixepoch())",
			 v + 1);
		if (db_exec(s, "BEGIN IMMEDIATE") < 0)
			return errf(err, errlen, "cannot begin migration: %s", sqlite3_errmsg(s->db));
		if (db_exec(s, migrations[v]) < 0 || (v + 1 == 3 && migrate_raw_tier(s) < 0) ||
		    db_exec(s, sql) < 0) {
			errf(err, errlen, "migration to schema version %d failed: %s", v + 1,
			     sqlite3_errmsg(s->db));
			db_exec(s, "ROLLBACK");
			return -EIO;
		}
		if (db_exec(s, "COMMIT") < 0)
			return errf(err, errlen, "cannot commit migration: %s", sqlite3_errmsg(s->db));
		psc_info("AGG-STORE-MIGRATE", "database migrated to schema version %d", v + 1);
	}
	return 0;
}

int psc_store_open(struct psc_store **out, const char *path, const struct psc_store_options *opt,
		   char *err, size_t errlen)
{
	struct psc_store *s;
	int r;

	/* Each report of a batch is a savepoint, and a savepoint saves the original of every
	 * page it changes that the batch had already changed (the ledger's, the host's, the
	 * tails of the series) in a sub-journal. Past 64 KiB (SQLite's default) that journal
	 * goes to a temporary file: ~12 pages written per report, more pwrite calls than
	 * the WAL itself. Kept in memory: it holds at most the pages of one batch. The
	 * setting is process-wide and only takes before SQLite is first used (the daemon
	 * opens its store first); elsewhere it is simply not applied. */
	sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, -1);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->opt = opt ? *opt : psc_store_options_default();
	if (psc_hashmap_new(&s->ids) < 0) {
		free(s);
		return -ENOMEM;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				  SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		r = errf(err, errlen, "cannot open %s: %s", path,
			 s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	/* WAL: readers (sqlite3 CLI, backups, a future API thread) never block ingest. */
	r = db_exec(s, "PRAGMA journal_mode = WAL");
	if (r == 0)
		r = db_exec(s, s->opt.sync_normal ? "PRAGMA synchronous = NORMAL"
						  : "PRAGMA synchronous = FULL");
	if (r == 0)
		r = db_exec(s, "PRAGMA foreign_keys = ON");
	/* Bounded: 32 MiB of page cache keeps the series' b-tree interiors in memory; ~40 MB
	 * of WAL between checkpoints lets a page rewritten by many batches reach the database
	 * file once. Temporary b-trees (rollup sorts) stay on files, so they do not grow the
	 * heap with the data. */
	if (r == 0)
		r = db_exec(s, "PRAGMA cache_size = -32768");
	if (r == 0)
		r = db_exec(s, "PRAGMA wal_autocheckpoint = 10000");
	if (r < 0) {
		r = errf(err, errlen, "cannot configure %s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	r = migrate(s, err, errlen);
	if (r < 0)
		goto fail;
	for (int i = 0; i < _ST_MAX; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
				       NULL) != SQLITE_OK) {
			r = errf(err, errlen, "cannot prepare statement %d: %s", i,
				 sqlite3_errmsg(s->db));
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	psc_store_close(&s);
	return r;
}

void psc_store_close(struct psc_store **sp)
{
	struct psc_store *s = *sp;

	if (!s)
		return;
	for (int i = 0; i < _ST_MAX; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db)
		sqlite3_close(s->db);
	ids_clear(s);
	psc_hashmap_free(&s->ids);
	free(s->recs);
	free(s->hbuf);
	free(s->jbuf);
	free(s->obuf);
	free(s);
	*sp = NULL;
}

/* --- histogram blobs --- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static int get_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*off >= len)
			return -EBADMSG;
		uint8_t b = p[(*off)++];
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EBADMSG;
}

size_t psc_store_hist_encode(const uint64_t counts[PSC_HIST_BUCKETS], uint64_t max, uint8_t *buf)
{
	size_t n = 0;
	unsigned prev = 0;

	buf[n++] = 1;
	n += put_varint(buf + n, max);
	for (unsigned i = 0; i < PSC_HIST_BUCKETS; i++) {
		if (!counts[i])
			continue;
		n += put_varint(buf + n, i - prev);
		n += put_varint(buf + n, counts[i]);
		prev = i;
	}
	return n;
}

int psc_store_hist_decode_add(const uint8_t *blob, size_t len, uint64_t counts[PSC_HIST_BUCKETS],
			      uint64_t *max)
{
	size_t off = 1;
	uint64_t idx = 0, d, c, m;

	if (len < 2 || blob[0] != 1)
		return -EBADMSG;
	if (get_varint(blob, len, &off, &m) < 0)
		return -EBADMSG;
	if (m > *max)
		*max = m;
	while (off < len) {
		if (get_varint(blob, len, &off, &d) < 0 || get_varint(blob, len, &off, &c) < 0)
			return -EBADMSG;
		idx += d;
		if (idx >= PSC_HIST_BUCKETS)
			return -EBADMSG;
		counts[idx] += c;
	}
	return 0;
}

/* Adds a wire histogram (already validated by the decoder) to @counts. */
static void hist_add_wire(uint64_t *counts, uint64_t *max, const Prescient__LatencyHistogram *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_bucket && i < m->n_count; i++)
		if (m->bucket[i] < PSC_HIST_BUCKETS)
			counts[m->bucket[i]] += m->count[i];
	for (size_t i = 0; i < m->n_run_counts; i++)
		if (m->first_bucket + i < PSC_HIST_BUCKETS)
			counts[m->first_bucket + i] += m->run_counts[i];
	int64_t v = 0;
	for (size_t i = 0; i < m->n_run_deltas; i++) {
		v += m->run_deltas[i];
		if (m->first_bucket + i < PSC_HIST_BUCKETS && v > 0)
			counts[m->first_bucket + i] += (uint64_t)v;
	}
	if (m->max > *max)
		*max = m->max;
}

/* --- raw rows: the endpoint records of one workload-window --- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static void recs_reset(struct psc_store *s)
{
	s->nrec = 0;
	s->hlen = 0;
}

/* A rollup of a large workload may have grown the scratch: give it back. */
static void recs_trim(struct psc_store *s)
{
	recs_reset(s);
	if (s->hcap + s->jcap + s->ocap + s->rec_cap * sizeof(*s->recs) <= (4u << 20))
		return;
	free(s->recs);
	free(s->hbuf);
	free(s->jbuf);
	free(s->obuf);
	s->recs = NULL;
	s->hbuf = s->obuf = NULL;
	s->jbuf = NULL;
	s->rec_cap = s->hcap = s->jcap = s->ocap = 0;
}

/* The next record, zeroed, with room for @hist bytes of histogram at its hoff. The caller
 * fills it, then counts it (s->nrec++, s->hlen += hlen). */
static struct ep_rec *rec_new(struct psc_store *s, size_t hist)
{
	struct ep_rec *r;

	if (grow((void **)&s->recs, &s->rec_cap, s->nrec + 1, sizeof(*s->recs)) < 0 ||
	    grow((void **)&s->hbuf, &s->hcap, s->hlen + hist, 1) < 0)
		return NULL;
	r = &s->recs[s->nrec];
	memset(r, 0, sizeof(*r));
	r->hoff = (uint32_t)s->hlen;
	return r;
}

/* psc_store_hist_encode() of a wire histogram without going through the bucket array,
 * when it uses one encoding in bucket order (as senders write it). 0 when it does not. */
static size_t hist_encode_wire(const Prescient__LatencyHistogram *m, uint8_t *buf)
{
	unsigned prev = 0;
	size_t n = 0;

	buf[n++] = 1;
	if (!m) {
		buf[n++] = 0;
		return n;
	}
	if ((m->n_bucket > 0) + (m->n_run_counts > 0) + (m->n_run_deltas > 0) > 1)
		return 0;
	n += put_varint(buf + n, m->max);
	if (m->n_bucket) {
		size_t k = m->n_bucket < m->n_count ? m->n_bucket : m->n_count;
		int64_t last = -1;

		for (size_t i = 0; i < k; i++) {
			uint32_t b = m->bucket[i];

			if (b >= PSC_HIST_BUCKETS || (int64_t)b <= last)
				return 0;
			last = b;
			if (!m->count[i])
				continue;
			n += put_varint(buf + n, b - prev);
			n += put_varint(buf + n, m->count[i]);
			prev = b;
		}
		return n;
	}
	for (size_t i = 0; i < m->n_run_counts; i++) {
		size_t b = m->first_bucket + i;

		if (b >= PSC_HIST_BUCKETS)
			break;
		if (!m->run_counts[i])
			continue;
		n += put_varint(buf + n, b - prev);
		n += put_varint(buf + n, m->run_counts[i]);
		prev = (unsigned)b;
	}
	int64_t v = 0;
	for (size_t i = 0; i < m->n_run_deltas; i++) {
		size_t b = m->first_bucket + i;

		v += m->run_deltas[i];
		if (b >= PSC_HIST_BUCKETS)
			break;
		if (v <= 0)
			continue;
		n += put_varint(buf + n, b - prev);
		n += put_varint(buf + n, (uint64_t)v);
		prev = (unsigned)b;
	}
	return n;
}

static int rec_add_wire(struct psc_store *s, int64_t id, double span,
			const Prescient__EndpointStats *ep)
{
	struct ep_rec *r = rec_new(s, PSC_STORE_HIST_BLOB_MAX);
	uint8_t *h;
	size_t n;

	if (!r)
		return -ENOMEM;
	r->id = id;
	r->span = span;
	r->v[REC_WINDOWS] = 1;
	r->v[REC_COUNT] = clamp64(ep->count);
	r->v[REC_ERRORS] = clamp64(ep->errors);
	r->v[REC_RESPONSES] = clamp64(ep->count >= ep->unanswered ? ep->count - ep->unanswered : 0);
	r->v[REC_BYTES_IN] = clamp64(ep->bytes_in);
	r->v[REC_BYTES_OUT] = clamp64(ep->bytes_out);
	h = s->hbuf + r->hoff;
	n = hist_encode_wire(ep->latency_us, h);
	if (!n) {
		uint64_t counts[PSC_HIST_BUCKETS] = { 0 }, max = 0;

		hist_add_wire(counts, &max, ep->latency_us);
		n = psc_store_hist_encode(counts, max, h);
	}
	r->hlen = (uint32_t)n;
	s->hlen += n;
	s->nrec++;
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct ep_rec *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Sorts the records by endpoint and merges those of one endpoint: counters added,
 * histograms merged, spans added when @sum_span (records of different windows) or kept
 * (the same window seen twice). */
static int recs_merge(struct psc_store *s, bool sum_span)
{
	size_t i, j, out = 0;
	bool sorted = true;

	for (i = 1; i < s->nrec && sorted; i++)
		sorted = s->recs[i].id > s->recs[i - 1].id;
	if (sorted)
		return 0;
	qsort(s->recs, s->nrec, sizeof(*s->recs), rec_cmp);
	for (i = 0; i < s->nrec; i = j) {
		struct ep_rec m = s->recs[i];

		for (j = i + 1; j < s->nrec && s->recs[j].id == m.id; j++)
			;
		if (j - i > 1) {
			uint64_t counts[PSC_HIST_BUCKETS] = { 0 }, max = 0;

			for (size_t k = i; k < j; k++) {
				const struct ep_rec *r = &s->recs[k];

				if (k > i) {
					for (int f = 0; f < _REC_MAX; f++)
						m.v[f] += r->v[f];
					if (sum_span)
						m.span += r->span;
				}
				if (r->hlen)
					psc_store_hist_decode_add(s->hbuf + r->hoff, r->hlen,
								  counts, &max);
			}
			if (grow((void **)&s->hbuf, &s->hcap, s->hlen + PSC_STORE_HIST_BLOB_MAX,
				 1) < 0)
				return -ENOMEM;
			m.hoff = (uint32_t)s->hlen;
			m.hlen = (uint32_t)psc_store_hist_encode(counts, max, s->hbuf + s->hlen);
			s->hlen += m.hlen;
		}
		s->recs[out++] = m;
	}
	s->nrec = out;
	return 0;
}

static char *put_dec(char *p, uint64_t v)
{
	char t[20];
	int n = 0;

	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = t[--n];
	return p;
}

/* The raw row of the records: eps (JSON, README) in s->jbuf, hists in s->obuf. */
static int recs_encode(struct psc_store *s, size_t *jlen, size_t *olen)
{
	uint32_t off = 0;
	char *p;

	if (grow((void **)&s->jbuf, &s->jcap, 2 + s->nrec * (9 * 21 + 3), 1) < 0 ||
	    grow((void **)&s->obuf, &s->ocap, s->hlen + 1, 1) < 0)
		return -ENOMEM;
	p = s->jbuf;
	*p++ = '[';
	for (size_t i = 0; i < s->nrec; i++) {
		const struct ep_rec *r = &s->recs[i];

		if (i)
			*p++ = ',';
		*p++ = '[';
		p = put_dec(p, (uint64_t)r->id);
		for (int f = 0; f < _REC_MAX; f++) {
			*p++ = ',';
			p = put_dec(p, r->v[f] > 0 ? (uint64_t)r->v[f] : 0);
		}
		*p++ = ',';
		p = put_dec(p, off);
		*p++ = ',';
		p = put_dec(p, r->hlen);
		*p++ = ']';
		memcpy(s->obuf + off, s->hbuf + r->hoff, r->hlen);
		off += r->hlen;
	}
	*p++ = ']';
	*jlen = (size_t)(p - s->jbuf);
	*olen = off;
	return 0;
}

static int get_dec(const char **p, const char *end, int64_t *v)
{
	const char *q = *p;
	uint64_t x = 0;

	if (q >= end || *q < '0' || *q > '9')
		return -EBADMSG;
	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		if (x > ((uint64_t)INT64_MAX - 9) / 10)
			return -EBADMSG;
		x = x * 10 + (uint64_t)(*q - '0');
	}
	*p = q;
	*v = (int64_t)x;
	return 0;
}

static bool eat(const char **p, const char *end, char c)
{
	if (*p < end && **p == c) {
		(*p)++;
		return true;
	}
	return false;
}

/* Appends the records of a raw row (as recs_encode() writes it) to s->recs, histograms
 * copied, each with @span. -EBADMSG if the row is not in that form. */
static int recs_decode(struct psc_store *s, const char *eps, size_t jn, const uint8_t *hists,
		       size_t hn, double span)
{
	const char *p = eps, *end = eps + jn;
	int64_t f[3 + _REC_MAX];
	struct ep_rec *r;

	if (!eps || !eat(&p, end, '['))
		return -EBADMSG;
	if (eat(&p, end, ']'))
		return p == end ? 0 : -EBADMSG;
	do {
		if (!eat(&p, end, '['))
			return -EBADMSG;
		for (int k = 0; k < 3 + _REC_MAX; k++)
			if ((k && !eat(&p, end, ',')) || get_dec(&p, end, &f[k]) < 0)
				return -EBADMSG;
		if (!eat(&p, end, ']') || (uint64_t)f[7] > hn ||
		    (uint64_t)f[8] > hn - (uint64_t)f[7])
			return -EBADMSG;
		r = rec_new(s, (size_t)f[8]);
		if (!r)
			return -ENOMEM;
		r->id = f[0];
		memcpy(r->v, f + 1, sizeof(r->v));
		r->span = span;
		if (f[8])
			memcpy(s->hbuf + r->hoff, hists + f[7], (size_t)f[8]);
		r->hlen = (uint32_t)f[8];
		s->hlen += (size_t)f[8];
		s->nrec++;
	} while (eat(&p, end, ','));
	return eat(&p, end, ']') && p == end ? 0 : -EBADMSG;
}

/* Merges and encodes the records in the scratch, binds them to @st's parameters @eps_param
 * (eps) and @eps_param + 1 (hists), and runs it: the one way a raw row is written. */
static int raw_write(struct psc_store *s, sqlite3_stmt *st, int eps_param)
{
	size_t jl = 0, ol = 0;
	int e;

	e = recs_merge(s, false);
	if (e == 0)
		e = recs_encode(s, &jl, &ol);
	if (e < 0) {
		sqlite3_clear_bindings(st);
		return e;
	}
	sqlite3_bind_text(st, eps_param, s->jbuf, (int)jl, SQLITE_STATIC);
	sqlite3_bind_blob(st, eps_param + 1, s->obuf, (int)ol, SQLITE_STATIC);
	return step_done(s, st);
}

/* Inserts the records as a raw row with @st (INSERT INTO endpoint_raw (eps, hists)). */
static int raw_put(struct psc_store *s, sqlite3_stmt *st, int64_t *id)
{
	int e = raw_write(s, st, 1);

	if (e == 0)
		*id = sqlite3_last_insert_rowid(s->db);
	return e;
}

/* The workload-window already had raw row @old when @new was written for it (two reports
 * with the same window start): @old takes the records of both, merged; @new goes. The
 * records of @new are still in the scratch. */
static int raw_merge(struct psc_store *s, int64_t old, int64_t new)
{
	sqlite3_stmt *st = s->st[ST_RAW_GET];
	int rc, e = 0;
	size_t nrec = s->nrec, hlen = s->hlen;

	sqlite3_bind_int64(st, 1, old);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		e = recs_decode(s, (const char *)sqlite3_column_text(st, 0),
				(size_t)sqlite3_column_bytes(st, 0), sqlite3_column_blob(st, 1),
				(size_t)sqlite3_column_bytes(st, 1), 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -EIO;
	if (e == -EBADMSG) {
		psc_warn("AGG-STORE-RAW", "raw row %lld is malformed: replaced", (long long)old);
		s->nrec = nrec;
		s->hlen = hlen;
	} else if (e < 0)
		return e;
	st = s->st[ST_RAW_SET];
	sqlite3_bind_int64(st, 1, old);
	e = raw_write(s, st, 2);
	if (e == 0) {
		st = s->st[ST_RAW_DEL];
		sqlite3_bind_int64(st, 1, new);
		e = step_done(s, st);
	}
	return e;
}

/* Schema 3: the tier-0 endpoint rows of an older store become raw rows, one per
 * workload-window, in the migration's transaction. */
static int migrate_raw_tier(struct psc_store *s)
{
	sqlite3_stmt *sel = NULL, *put = NULL, *link = NULL, *add = NULL;
	int64_t cur_w = -1, eref = 0;
	double cur_ts = 0, cur_span = 0;
	int rc, e = -EIO;

	recs_reset(s);
	if (sqlite3_prepare_v2(s->db,
			       "SELECT e.workload_id, s.ts, s.span_s, s.endpoint_id, s.windows,"
			       " s.count, s.errors, s.responses, s.bytes_in, s.bytes_out,"
			       " s.latency_hist FROM endpoint_rollup s JOIN endpoints e"
			       " ON e.id = s.endpoint_id WHERE s.tier = 0 ORDER BY 1, 2",
			       -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "INSERT INTO endpoint_raw (eps, hists) VALUES (?1, ?2)", -1,
			       &put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "UPDATE workload_series SET eref = ?3 WHERE workload_id = ?1"
			       " AND tier = 0 AND ts = ?2",
			       -1, &link, NULL) != SQLITE_OK ||
	    /* endpoints without their workload's row (not written by this code, but a
	     * store may hold anything): a row with nothing measured */
	    sqlite3_prepare_v2(
		    s->db,
		    "INSERT INTO workload_series (workload_id, tier, ts, span_s, windows,"
		    " eref) VALUES (?1, 0, ?2, ?4, 1, ?3)",
		    -1, &add, NULL) != SQLITE_OK)
		goto out;
	for (;;) {
		rc = sqlite3_step(sel);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto out;
		int64_t w = rc == SQLITE_ROW ? sqlite3_column_int64(sel, 0) : -1;
		double ts = rc == SQLITE_ROW ? sqlite3_column_double(sel, 1) : 0;

		if (s->nrec && (rc == SQLITE_DONE || w != cur_w || ts != cur_ts)) {
			if (raw_put(s, put, &eref) < 0)
				goto out;
			recs_reset(s);
			sqlite3_stmt *st = link;
			for (int k = 0; k < 2 && st; k++) {
				sqlite3_bind_int64(st, 1, cur_w);
				sqlite3_bind_double(st, 2, cur_ts);
				sqlite3_bind_int64(st, 3, eref);
				sqlite3_bind_double(st, 4, cur_span);
				if (step_done(s, st) < 0)
					goto out;
				st = sqlite3_changes(s->db) ? NULL : add;
			}
		}
		if (rc == SQLITE_DONE)
			break;
		struct ep_rec *r = rec_new(s, (size_t)sqlite3_column_bytes(sel, 10));

		if (!r) {
			e = -ENOMEM;
			goto out;
		}
		cur_w = w;
		cur_ts = ts;
		cur_span = sqlite3_column_double(sel, 2);
		r->id = sqlite3_column_int64(sel, 3);
		for (int f = 0; f < _REC_MAX; f++)
			r->v[f] = sqlite3_column_int64(sel, 4 + f);
		r->hlen = (uint32_t)sqlite3_column_bytes(sel, 10);
		if (r->hlen)
			memcpy(s->hbuf + r->hoff, sqlite3_column_blob(sel, 10), r->hlen);
		s->hlen += r->hlen;
		s->nrec++;
	}
	e = db_exec(s, "DELETE FROM endpoint_rollup WHERE tier = 0");
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(put);
	sqlite3_finalize(link);
	sqlite3_finalize(add);
	recs_trim(s);
	return e;
}

/* --- ingest --- */

static double bucket_of(double ts, double width)
{
	return floor(ts / width) * width;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static void bind_opt_double(sqlite3_stmt *st, int i, bool present, double v)
{
	if (present)
		sqlite3_bind_double(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

static void bind_opt_int(sqlite3_stmt *st, int i, bool present, uint64_t v)
{
	if (present)
		sqlite3_bind_int64(st, i, clamp64(v));
	else
		sqlite3_bind_null(st, i);
}

/* Resolved strings of a dictionary entry; point into the statement's row until the next
 * step, so they are copied. */
struct dict_val {
	char a[1024], b[1024], c[4096];
};

static int dict_get(struct psc_store *s, int64_t host_id, uint64_t epoch, uint32_t ref,
		    enum dict_kind kind, struct dict_val *v, bool *found)
{
	sqlite3_stmt *st = s->st[ST_DICT_GET];
	int rc;

	sqlite3_bind_int64(st, 1, host_id);
	sqlite3_bind_int64(st, 2, (int64_t)epoch);
	sqlite3_bind_int64(st, 3, ref);
	sqlite3_bind_int(st, 4, kind);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (*found) {
		snprintf(v->a, sizeof(v->a), "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(v->b, sizeof(v->b), "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(v->c, sizeof(v->c), "%s", (const char *)sqlite3_column_text(st, 2));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		psc_err("AGG-STORE-SQL", "%s (dictionary lookup)", sqlite3_errmsg(s->db));
		return -EIO;
	}
	return 0;
}

static int dict_put(struct psc_store *s, int64_t host_id, uint64_t epoch, uint32_t ref,
		    enum dict_kind kind, const char *a, const char *b, const char *c)
{
	sqlite3_stmt *st = s->st[ST_DICT_PUT];

	sqlite3_bind_int64(st, 1, host_id);
	sqlite3_bind_int64(st, 2, (int64_t)epoch);
	sqlite3_bind_int64(st, 3, ref);
	sqlite3_bind_int(st, 4, kind);
	bind_text(st, 5, a);
	bind_text(st, 6, b);
	bind_text(st, 7, c);
	return step_done(s, st);
}

/* Every definition first, so that a reference may precede its definition in a report. */
static int store_definitions(struct psc_store *s, int64_t host_id, const Prescient__HostReport *r)
{
	int e;

	for (size_t i = 0; i < r->n_workloads; i++) {
		const Prescient__WorkloadWindow *w = r->workloads[i];

		if (w->ref && w->cgroup[0]) {
			e = dict_put(s, host_id, r->dict_epoch, w->ref, DICT_WORKLOAD, w->cgroup,
				     w->name, "");
			if (e < 0)
				return e;
		}
		for (size_t j = 0; j < w->n_endpoints; j++) {
			const Prescient__EndpointStats *ep = w->endpoints[j];

			if (ep->ref && ep->endpoint[0]) {
				e = dict_put(s, host_id, r->dict_epoch, ep->ref, DICT_ENDPOINT,
					     ep->protocol, ep->role, ep->endpoint);
				if (e < 0)
					return e;
			}
		}
	}
	return 0;
}

/* Refreshes last_seen of cached row @id when @seen is older than SEEN_RESOLUTION_S. */
static int touch(struct psc_store *s, int64_t id, double *seen, enum stmt_id sid, double now)
{
	sqlite3_stmt *st = s->st[sid];
	int r;

	if (now - *seen < SEEN_RESOLUTION_S)
		return 0;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_double(st, 2, now);
	r = step_done(s, st);
	if (r == 0)
		*seen = now;
	return r;
}

/* The cache entry of the workload being stored when it came by ref (its endpoint table),
 * valid while no cache entry has been freed since. */
struct wref {
	struct id_ent *ent;
	uint64_t gen;
};

static struct id_ent *wref_get(const struct psc_store *s, const struct wref *w)
{
	return w->ent && w->gen == s->ids_gen ? w->ent : NULL;
}

/* The id of an endpoint given by ref or by strings: from the cache (the workload's
 * endpoint table @wr, or by key), else from the dictionary and an upsert (which also
 * inserts new endpoints). */
static int endpoint_id(struct psc_store *s, int64_t host_id, int64_t workload_id,
		       const struct wref *wr, const Prescient__HostReport *r,
		       const Prescient__EndpointStats *ep, double now, int64_t *id, bool *unknown)
{
	const char *protocol = ep->protocol, *role = ep->role, *name = ep->endpoint;
	bool by_ref = ep->ref && !ep->endpoint[0];
	struct id_ent *c, *w = wref_get(s, wr);
	struct ep_slot *slot;
	struct id_key kr, ks;
	struct dict_val v;
	sqlite3_stmt *st;
	bool found;
	int e;

	if (ep->ref) {
		key_init(&kr, 'E');
		key_i64(&kr, workload_id);
		key_i64(&kr, (int64_t)r->dict_epoch);
		key_i64(&kr, ep->ref);
	}
	if (by_ref) {
		slot = w ? ep_slot(s, w, ep->ref, false) : NULL;
		if (slot && slot->id) {
			*id = slot->id;
			return touch(s, slot->id, &slot->seen, ST_ENDPOINT_SEEN, now);
		}
		c = ids_get(s, &kr);
		if (c) {
			*id = c->id;
			return touch(s, c->id, &c->seen, ST_ENDPOINT_SEEN, now);
		}
		e = dict_get(s, host_id, r->dict_epoch, ep->ref, DICT_ENDPOINT, &v, &found);
		if (e < 0)
			return e;
		if (!found) {
			*unknown = true;
			return 0;
		}
		protocol = v.a;
		role = v.b;
		name = v.c;
	}
	key_init(&ks, 'e');
	key_i64(&ks, workload_id);
	key_str(&ks, protocol);
	key_str(&ks, role);
	key_str(&ks, name);
	c = ids_get(s, &ks);
	if (c) {
		*id = c->id;
		e = touch(s, c->id, &c->seen, ST_ENDPOINT_SEEN, now);
	} else {
		st = s->st[ST_ENDPOINT];
		sqlite3_bind_int64(st, 1, workload_id);
		bind_text(st, 2, protocol);
		bind_text(st, 3, role);
		bind_text(st, 4, name);
		sqlite3_bind_double(st, 5, now);
		e = step_id(s, st, id);
		if (e == 0)
			ids_put(s, &ks, *id, now);
	}
	if (e < 0 || !ep->ref)
		return e;
	/* The put above may have emptied the cache: @w is checked again. */
	w = wref_get(s, wr);
	slot = w ? ep_slot(s, w, ep->ref, true) : NULL;
	if (slot && wref_get(s, wr)) {
		w->nused += !slot->id;
		slot->id = *id;
		slot->seen = now;
	} else {
		ids_put(s, &kr, *id, now);
	}
	return 0;
}

static int store_endpoint(struct psc_store *s, int64_t host_id, int64_t workload_id,
			  const struct wref *wr, const Prescient__HostReport *r,
			  const Prescient__EndpointStats *ep, double now, bool series,
			  bool *unknown)
{
	int64_t id;
	int e;

	e = endpoint_id(s, host_id, workload_id, wr, r, ep, now, &id, unknown);
	if (e < 0 || *unknown || !series)
		return e;
	return rec_add_wire(s, id, r->window_end - r->window_start, ep);
}

/* The id of a workload given by ref or by cgroup, as endpoint_id(); *wr is its by-ref
 * cache entry (endpoint table), if any. The upsert also refreshes the name, so a renamed
 * workload is seen within SEEN_RESOLUTION_S. */
static int workload_id(struct psc_store *s, int64_t host_id, const Prescient__HostReport *r,
		       const Prescient__WorkloadWindow *w, double now, int64_t *id, struct wref *wr,
		       bool *unknown)
{
	const char *cgroup = w->cgroup, *name = w->name;
	bool by_ref = w->ref && !w->cgroup[0];
	struct id_key kr, ks;
	struct dict_val v;
	struct id_ent *c;
	sqlite3_stmt *st;
	bool found;
	int e;

	wr->ent = NULL;
	wr->gen = s->ids_gen;
	if (w->ref) {
		key_init(&kr, 'W');
		key_i64(&kr, host_id);
		key_i64(&kr, (int64_t)r->dict_epoch);
		key_i64(&kr, w->ref);
	}
	if (by_ref) {
		c = ids_get(s, &kr);
		if (c) {
			*id = c->id;
			wr->ent = c;
			wr->gen = s->ids_gen;
			return touch(s, c->id, &c->seen, ST_WORKLOAD_SEEN, now);
		}
		e = dict_get(s, host_id, r->dict_epoch, w->ref, DICT_WORKLOAD, &v, &found);
		if (e < 0)
			return e;
		if (!found) {
			*unknown = true;
			return 0;
		}
		cgroup = v.a;
		name = v.b;
	}
	key_init(&ks, 'w');
	key_i64(&ks, host_id);
	key_str(&ks, cgroup);
	key_str(&ks, name);
	c = ids_get(s, &ks);
	if (c && now - c->seen < SEEN_RESOLUTION_S) {
		*id = c->id;
		e = 0;
	} else {
		st = s->st[ST_WORKLOAD];
		sqlite3_bind_int64(st, 1, host_id);
		bind_text(st, 2, cgroup);
		bind_text(st, 3, name);
		sqlite3_bind_double(st, 4, now);
		e = step_id(s, st, id);
		if (e == 0)
			ids_put(s, &ks, *id, now);
	}
	if (e == 0 && w->ref) {
		wr->ent = ids_put(s, &kr, *id, now);
		wr->gen = s->ids_gen;
	}
	return e;
}

static int store_workload(struct psc_store *s, int64_t host_id, const Prescient__HostReport *r,
			  const Prescient__WorkloadWindow *w, double now, bool series,
			  bool *unknown)
{
	uint32_t miss = w->missing;
	int64_t id, eref = 0, had;
	struct wref wr;
	sqlite3_stmt *st;
	int rc, e;

	e = workload_id(s, host_id, r, w, now, &id, &wr, unknown);
	if (e < 0 || *unknown)
		return e;
	/* A new endpoint array starts at the lowest ref of the report, whatever the order of
	 * its endpoints. */
	if (wref_get(s, &wr) && !wr.ent->neps) {
		for (size_t j = 0; j < w->n_endpoints; j++) {
			uint32_t ref = w->endpoints[j]->ref;

			if (ref && (!wr.ent->ep_base || ref < wr.ent->ep_base))
				wr.ent->ep_base = ref;
		}
	}
	/* Endpoints first: the window's records become one raw row, which the workload's
	 * series row points at. */
	recs_reset(s);
	for (size_t j = 0; j < w->n_endpoints && !*unknown; j++) {
		e = store_endpoint(s, host_id, id, &wr, r, w->endpoints[j], now, series, unknown);
		if (e < 0)
			return e;
	}
	if (*unknown)
		return 0;

	if (series) {
		if (s->nrec) {
			e = raw_put(s, s->st[ST_RAW_PUT], &eref);
			if (e < 0)
				return e;
		}
		st = s->st[ST_WSERIES];
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_double(st, 2, r->window_start);
		sqlite3_bind_double(st, 3, r->window_end - r->window_start);
		bind_opt_double(st, 4, !(miss & PSC_MISSING_CPU), w->cpu_s);
		bind_opt_double(st, 5, !(miss & PSC_MISSING_THROTTLED), w->cpu_throttled_s);
		bind_opt_double(st, 6, !(miss & PSC_MISSING_MEM), (double)w->mem_bytes);
		bind_opt_int(st, 7, !(miss & PSC_MISSING_MEM_PEAK), w->mem_peak_bytes);
		bind_opt_int(st, 8, !(miss & PSC_MISSING_IO), w->io_read_bytes);
		bind_opt_int(st, 9, !(miss & PSC_MISSING_IO), w->io_write_bytes);
		sqlite3_bind_int64(st, 10, clamp64(w->net_rx_bytes));
		sqlite3_bind_int64(st, 11, clamp64(w->net_tx_bytes));
		bind_opt_double(st, 12, !(miss & PSC_MISSING_PSI_CPU), w->psi_cpu_some);
		bind_opt_double(st, 13, !(miss & PSC_MISSING_PSI_MEM), w->psi_mem_some);
		bind_opt_double(st, 14, !(miss & PSC_MISSING_PSI_IO), w->psi_io_some);
		sqlite3_bind_int64(st, 15, clamp64(w->sessions_closed));
		sqlite3_bind_int64(st, 16, clamp64(w->oom_kills));
		if (eref)
			sqlite3_bind_int64(st, 17, eref);
		rc = sqlite3_step(st);
		had = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		while (rc == SQLITE_ROW)
			rc = sqlite3_step(st);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (rc != SQLITE_DONE) {
			psc_err("AGG-STORE-SQL", "%s (in: %.60s)", sqlite3_errmsg(s->db),
				sqlite3_sql(st));
			return -EIO;
		}
		/* The same workload twice in one window (listed twice, or two reports with
		 * the same window start): one raw row with the records merged. */
		if (eref && had != eref) {
			e = raw_merge(s, had, eref);
			if (e < 0)
				return e;
		}
	}
	if (w->managed || w->limits) {
		const Prescient__Targets *l = w->limits;
		st = s->st[ST_LIMITS];
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_double(st, 2, r->window_end);
		sqlite3_bind_int(st, 3, w->managed);
		sqlite3_bind_double(st, 4, l ? l->cpu_max_cores : 0);
		sqlite3_bind_int64(st, 5, l ? clamp64(l->cpu_weight) : 0);
		sqlite3_bind_int64(st, 6, l ? clamp64(l->memory_min_bytes) : 0);
		sqlite3_bind_int64(st, 7, l ? clamp64(l->memory_high_bytes) : 0);
		sqlite3_bind_int64(st, 8, l ? clamp64(l->memory_max_bytes) : 0);
		sqlite3_bind_int64(st, 9, l ? clamp64(l->egress_bytes_per_s) : 0);
		e = step_done(s, st);
		if (e < 0)
			return e;
	}
	return 0;
}

static int store_outcomes(struct psc_store *s, const Prescient__HostReport *r)
{
	uint8_t prev[256];
	sqlite3_stmt *st;
	size_t n;
	int e;

	for (size_t i = 0; i < r->n_outcomes; i++) {
		const Prescient__AdjustmentOutcome *o = r->outcomes[i];

		st = s->st[ST_OUTCOME_LOG];
		bind_text(st, 1, r->host_id);
		sqlite3_bind_int64(st, 2, clamp64(o->adjustment_id));
		bind_text(st, 3, o->workload);
		sqlite3_bind_int(st, 4, o->result);
		bind_text(st, 5, o->detail);
		sqlite3_bind_double(st, 6, o->at);
		sqlite3_bind_int64(st, 7, clamp64(r->seq));
		if (o->previous && (n = prescient__targets__get_packed_size(o->previous)) <=
					   sizeof(prev)) {
			prescient__targets__pack(o->previous, prev);
			sqlite3_bind_blob(st, 8, prev, (int)n, SQLITE_TRANSIENT);
		} else {
			sqlite3_bind_null(st, 8);
		}
		e = step_done(s, st);
		if (e < 0)
			return e;
		/* REPLAYED only says that a copy arrived twice: not an outcome. */
		if (o->result == PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__REPLAYED)
			continue;
		st = s->st[ST_OUTCOME_SET];
		sqlite3_bind_int64(st, 1, clamp64(o->adjustment_id));
		bind_text(st, 2, r->host_id);
		sqlite3_bind_int(st, 3, o->result);
		bind_text(st, 4, o->detail);
		sqlite3_bind_double(st, 5, o->at);
		e = step_done(s, st);
		if (e < 0)
			return e;
	}
	return 0;
}

static int mark_dirty(struct psc_store *s, int tier, double bucket)
{
	sqlite3_stmt *st = s->st[ST_DIRTY];

	sqlite3_bind_int(st, 1, tier);
	sqlite3_bind_double(st, 2, bucket);
	return step_done(s, st);
}

static int store_report_tx(struct psc_store *s, const Prescient__HostReport *r, size_t frame_bytes,
			   double now, enum psc_store_result *res)
{
	size_t endpoints = 0;
	bool unknown = false, series;
	struct id_key hk;
	struct id_ent *hc;
	sqlite3_stmt *st;
	int64_t host_id;
	int e;

	for (size_t i = 0; i < r->n_workloads; i++)
		endpoints += r->workloads[i]->n_endpoints;
	st = s->st[ST_LEDGER];
	bind_text(st, 1, r->host_id);
	sqlite3_bind_int64(st, 2, clamp64(r->seq));
	sqlite3_bind_double(st, 3, r->window_start);
	sqlite3_bind_double(st, 4, r->window_end);
	sqlite3_bind_double(st, 5, now);
	sqlite3_bind_int64(st, 6, (int64_t)frame_bytes);
	sqlite3_bind_int64(st, 7, (int64_t)r->n_workloads);
	sqlite3_bind_int64(st, 8, (int64_t)endpoints);
	sqlite3_bind_int(st, 9, (int)r->schema_version);
	bind_text(st, 10, r->agent_version);
	sqlite3_bind_int64(st, 11, (int64_t)r->dict_epoch);
	e = step_done(s, st);
	if (e < 0)
		return e;
	if (sqlite3_changes(s->db) == 0) {
		*res = PSC_STORE_DUPLICATE;
		return 0;
	}

	/* The host row like the workload rows: its id from the cache, its last_seen and
	 * last_seq rewritten at most once per SEEN_RESOLUTION_S. The agent version and the
	 * capacity are part of the key, so a change of either is written at once. */
	key_init(&hk, 'h');
	key_str(&hk, r->host_id);
	key_str(&hk, r->agent_version);
	key_i64(&hk, r->host_cpus);
	key_i64(&hk, clamp64(r->host_memory_bytes));
	hc = ids_get(s, &hk);
	if (hc && now - hc->seen < SEEN_RESOLUTION_S) {
		host_id = hc->id;
	} else {
		st = s->st[ST_HOST];
		bind_text(st, 1, r->host_id);
		bind_text(st, 2, r->agent_version);
		sqlite3_bind_double(st, 3, now);
		sqlite3_bind_int64(st, 4, clamp64(r->seq));
		e = step_id(s, st, &host_id);
		if (e < 0)
			return e;
		if (r->host_cpus || r->host_memory_bytes) {
			st = s->st[ST_HOST_CAPACITY];
			sqlite3_bind_int64(st, 1, host_id);
			sqlite3_bind_int64(st, 2, r->host_cpus);
			sqlite3_bind_int64(st, 3, clamp64(r->host_memory_bytes));
			e = step_done(s, st);
			if (e < 0)
				return e;
		}
		ids_put(s, &hk, host_id, now);
	}
	if (r->dict_epoch) {
		struct id_key k;
		struct id_ent *c;

		key_init(&k, 'd');
		key_i64(&k, host_id);
		key_i64(&k, (int64_t)r->dict_epoch);
		c = ids_get(s, &k);
		e = 0;
		if (!c || now - c->seen >= SEEN_RESOLUTION_S) {
			st = s->st[ST_DICT_EPOCH];
			sqlite3_bind_int64(st, 1, host_id);
			sqlite3_bind_int64(st, 2, (int64_t)r->dict_epoch);
			sqlite3_bind_double(st, 3, now);
			e = step_done(s, st);
			if (e == 0)
				ids_put(s, &k, 0, now);
		}
		if (e == 0)
			e = store_definitions(s, host_id, r);
		if (e < 0)
			return e;
	}
	/* Late windows (a long spool replay) within an hour of the raw retention would only
	 * be deleted again, and could leave a rolled-up bucket half recomputed: the ledger
	 * keeps them, the series do not. */
	series = r->window_start >= now - s->opt.retention_raw_s + TIER_1H_S;
	for (size_t i = 0; i < r->n_workloads && !unknown; i++) {
		e = store_workload(s, host_id, r, r->workloads[i], now, series, &unknown);
		if (e < 0)
			return e;
	}
	if (unknown) {
		*res = PSC_STORE_UNKNOWN_REF;
		return 0;
	}
	e = store_outcomes(s, r);
	if (e == 0 && series && r->n_workloads) {
		double b = bucket_of(r->window_start, TIER_5M_S);

		/* Reports of one batch mostly share their bucket: mark it once. */
		if (b != s->dirty_marked) {
			e = mark_dirty(s, PSC_TIER_5M, b);
			if (e == 0)
				s->dirty_marked = b;
		}
	}
	if (e < 0)
		return e;
	*res = PSC_STORE_STORED;
	return 0;
}

/* Whatever this transaction (or savepoint) wrote is gone: so may be rows whose ids the
 * cache learnt in it. */
static void forget_tx(struct psc_store *s)
{
	ids_clear(s);
	s->dirty_marked = NAN;
}

int psc_store_batch_begin(struct psc_store *s)
{
	int e;

	if (s->in_batch)
		return -EBUSY;
	e = step_done(s, s->st[ST_BEGIN]);
	if (e < 0)
		return e;
	if (step_id(s, s->st[ST_DATA_VERSION], &s->data_version) < 0)
		s->data_version = -1; /* unknown: the cache of no pending adjustments is off */
	s->in_batch = true;
	s->batch_failed = false;
	s->dirty_marked = NAN;
	return 0;
}

int psc_store_batch_report(struct psc_store *s, const Prescient__HostReport *r,
			   size_t frame_bytes, double now, enum psc_store_result *res)
{
	int e;

	if (!s->in_batch)
		return -EINVAL;
	if (r->window_end < now - s->opt.retention_reports_s) {
		*res = PSC_STORE_STALE;
		return 0;
	}
	if (s->batch_failed)
		return -EIO;
	e = step_done(s, s->st[ST_SAVEPOINT]);
	if (e == 0)
		e = store_report_tx(s, r, frame_bytes, now, res);
	if (e == 0 && *res == PSC_STORE_UNKNOWN_REF) {
		/* Undo what came before the unknown ref (host, ledger row, workloads). */
		e = step_done(s, s->st[ST_ROLLBACK_TO]);
		forget_tx(s);
	}
	if (e == 0)
		e = step_done(s, s->st[ST_RELEASE]);
	if (e < 0) {
		/* Only this report is undone, unless SQLite has ended the whole transaction
		 * (I/O error, disk full): then every report of the batch is lost and the commit
		 * says so. */
		if (sqlite3_get_autocommit(s->db) || step_done(s, s->st[ST_ROLLBACK_TO]) < 0 ||
		    step_done(s, s->st[ST_RELEASE]) < 0)
			s->batch_failed = true;
		forget_tx(s);
	}
	return e;
}

int psc_store_batch_commit(struct psc_store *s)
{
	int e = -EIO;

	if (!s->in_batch)
		return -EINVAL;
	s->in_batch = false;
	/* The caller acknowledges after this: the commit is the durability point. */
	if (!s->batch_failed)
		e = step_done(s, s->st[ST_COMMIT]);
	if (e < 0) {
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		forget_tx(s);
	}
	return e;
}

void psc_store_batch_rollback(struct psc_store *s)
{
	if (!s->in_batch)
		return;
	s->in_batch = false;
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	forget_tx(s);
}

int psc_store_report(struct psc_store *s, const Prescient__HostReport *r, size_t frame_bytes,
		     double now, enum psc_store_result *res)
{
	int e;

	if (r->window_end < now - s->opt.retention_reports_s) {
		*res = PSC_STORE_STALE;
		return 0;
	}
	e = psc_store_batch_begin(s);
	if (e < 0)
		return e;
	e = psc_store_batch_report(s, r, frame_bytes, now, res);
	if (e < 0) {
		psc_store_batch_rollback(s);
		return e;
	}
	return psc_store_batch_commit(s);
}

/* --- maintenance --- */

/* Writes the merged records as rows of @tier at @b with @ins. */
static int rollup_emit(struct psc_store *s, sqlite3_stmt *ins, int tier, double b)
{
	int e = recs_merge(s, true);

	for (size_t i = 0; i < s->nrec && e == 0; i++) {
		const struct ep_rec *r = &s->recs[i];

		sqlite3_bind_int64(ins, 1, r->id);
		sqlite3_bind_int(ins, 2, tier);
		sqlite3_bind_double(ins, 3, b);
		sqlite3_bind_double(ins, 4, r->span);
		for (int f = 0; f < _REC_MAX; f++)
			sqlite3_bind_int64(ins, 5 + f, r->v[f]);
		sqlite3_bind_blob(ins, 11, s->hbuf + r->hoff, (int)r->hlen, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			e = -EIO;
		sqlite3_reset(ins);
	}
	recs_reset(s);
	return e;
}

/* The 5-minute endpoint rows of bucket @b from the raw rows, one workload at a time: its
 * raw rows of the bucket by primary key, their records merged in memory. Memory follows
 * the largest workload, not the bucket; sorting the bucket's raw rows by workload instead
 * held them all (tens of MB) in SQLite's sorter. */
static int rollup_raw_endpoints(struct psc_store *s, double b, sqlite3_stmt *ins)
{
	sqlite3_stmt *ids = NULL, *sel = NULL;
	int rc, e = -EIO;

	recs_reset(s);
	if (sqlite3_prepare_v2(s->db,
			       "SELECT DISTINCT workload_id FROM workload_series WHERE tier = 0"
			       " AND ts >= ?1 AND ts < ?1 + ?2 AND eref IS NOT NULL",
			       -1, &ids, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "SELECT w.span_s, r.eps, r.hists FROM workload_series w"
			       " JOIN endpoint_raw r ON r.id = w.eref WHERE w.workload_id = ?1"
			       " AND w.tier = 0 AND w.ts >= ?2 AND w.ts < ?2 + ?3",
			       -1, &sel, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_double(ids, 1, b);
	sqlite3_bind_double(ids, 2, TIER_5M_S);
	while ((rc = sqlite3_step(ids)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(ids, 0);

		sqlite3_bind_int64(sel, 1, id);
		sqlite3_bind_double(sel, 2, b);
		sqlite3_bind_double(sel, 3, TIER_5M_S);
		while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
			e = recs_decode(s, (const char *)sqlite3_column_text(sel, 1),
					(size_t)sqlite3_column_bytes(sel, 1),
					sqlite3_column_blob(sel, 2), (size_t)sqlite3_column_bytes(sel, 2),
					sqlite3_column_double(sel, 0));
			if (e == -ENOMEM)
				goto out;
			if (e < 0)
				psc_warn("AGG-STORE-RAW",
					 "workload %lld: a raw row of bucket %.0f is malformed: left"
					 " out of the rollup",
					 (long long)id, b);
			e = -EIO;
		}
		sqlite3_reset(sel);
		if (rc != SQLITE_DONE || rollup_emit(s, ins, PSC_TIER_5M, b) < 0)
			goto out;
	}
	if (rc == SQLITE_DONE)
		e = 0;
out:
	sqlite3_finalize(ids);
	sqlite3_finalize(sel);
	recs_trim(s);
	return e;
}

/* Recomputes one bucket of @tier from the tier below: idempotent, so a bucket that late
 * windows re-dirty is simply recomputed. */
static int rollup_bucket(struct psc_store *s, int tier, double b)
{
	double width = tier == PSC_TIER_5M ? TIER_5M_S : TIER_1H_S;
	uint64_t counts[PSC_HIST_BUCKETS], max = 0;
	uint8_t blob[PSC_STORE_HIST_BLOB_MAX];
	sqlite3_stmt *sel = NULL, *ins = NULL, *ws = NULL;
	int64_t cur = -1, sum[5] = { 0 }, windows = 0;
	double span = 0;
	int rc, e = -EIO;

	rc = sqlite3_prepare_v2(
		s->db,
		"INSERT OR REPLACE INTO workload_series (workload_id, tier, ts, span_s, windows,"
		" cpu_s, cpu_throttled_s, mem_bytes, mem_peak_bytes, io_read_bytes, io_write_bytes,"
		" net_rx_bytes, net_tx_bytes, psi_cpu_some, psi_mem_some, psi_io_some,"
		" sessions_closed, oom_kills)"
		" SELECT workload_id, ?1, ?2, sum(span_s), sum(windows), sum(cpu_s),"
		" sum(cpu_throttled_s),"
		" sum(mem_bytes * windows) / sum(CASE WHEN mem_bytes IS NULL THEN NULL ELSE windows END),"
		" max(mem_peak_bytes), sum(io_read_bytes), sum(io_write_bytes), sum(net_rx_bytes),"
		" sum(net_tx_bytes),"
		" sum(psi_cpu_some * span_s) / sum(CASE WHEN psi_cpu_some IS NULL THEN NULL ELSE span_s END),"
		" sum(psi_mem_some * span_s) / sum(CASE WHEN psi_mem_some IS NULL THEN NULL ELSE span_s END),"
		" sum(psi_io_some * span_s) / sum(CASE WHEN psi_io_some IS NULL THEN NULL ELSE span_s END),"
		" sum(sessions_closed), sum(oom_kills)"
		" FROM workload_series WHERE tier = ?3 AND ts >= ?2 AND ts < ?2 + ?4"
		" GROUP BY workload_id",
		-1, &ws, NULL);
	if (rc != SQLITE_OK)
		goto out;
	sqlite3_bind_int(ws, 1, tier);
	sqlite3_bind_double(ws, 2, b);
	sqlite3_bind_int(ws, 3, tier - 1);
	sqlite3_bind_double(ws, 4, width);
	if (sqlite3_step(ws) != SQLITE_DONE)
		goto out;

	rc = sqlite3_prepare_v2(
		s->db,
		"INSERT OR REPLACE INTO endpoint_rollup (endpoint_id, tier, ts,"
		" span_s, windows, count, errors, responses, bytes_in, bytes_out,"
		" latency_hist) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
		-1, &ins, NULL);
	if (rc != SQLITE_OK)
		goto out;
	if (tier == PSC_TIER_5M) {
		e = rollup_raw_endpoints(s, b, ins);
		if (e < 0)
			goto out;
		goto done;
	}
	rc = sqlite3_prepare_v2(
		s->db,
		"SELECT endpoint_id, span_s, windows, count, errors, responses,"
		" bytes_in, bytes_out, latency_hist FROM endpoint_rollup"
		" WHERE tier = ?1 AND ts >= ?2 AND ts < ?2 + ?3 ORDER BY endpoint_id",
		-1, &sel, NULL);
	if (rc != SQLITE_OK)
		goto out;
	sqlite3_bind_int(sel, 1, tier - 1);
	sqlite3_bind_double(sel, 2, b);
	sqlite3_bind_double(sel, 3, width);
	memset(counts, 0, sizeof(counts));
	for (;;) {
		rc = sqlite3_step(sel);
		int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(sel, 0) : -1;

		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto out;
		if (cur >= 0 && id != cur) {
			size_t n = psc_store_hist_encode(counts, max, blob);

			sqlite3_bind_int64(ins, 1, cur);
			sqlite3_bind_int(ins, 2, tier);
			sqlite3_bind_double(ins, 3, b);
			sqlite3_bind_double(ins, 4, span);
			sqlite3_bind_int64(ins, 5, windows);
			for (int k = 0; k < 5; k++)
				sqlite3_bind_int64(ins, 6 + k, sum[k]);
			sqlite3_bind_blob(ins, 11, blob, (int)n, SQLITE_STATIC);
			if (sqlite3_step(ins) != SQLITE_DONE)
				goto out;
			sqlite3_reset(ins);
			memset(counts, 0, sizeof(counts));
			memset(sum, 0, sizeof(sum));
			max = 0;
			windows = 0;
			span = 0;
		}
		if (rc == SQLITE_DONE)
			break;
		cur = id;
		span += sqlite3_column_double(sel, 1);
		windows += sqlite3_column_int64(sel, 2);
		for (int k = 0; k < 5; k++)
			sum[k] += sqlite3_column_int64(sel, 3 + k);
		if (sqlite3_column_type(sel, 8) == SQLITE_BLOB)
			psc_store_hist_decode_add(sqlite3_column_blob(sel, 8),
						  (size_t)sqlite3_column_bytes(sel, 8), counts, &max);
	}
done:
	e = 0;
	if (tier == PSC_TIER_5M)
		e = mark_dirty(s, PSC_TIER_1H, bucket_of(b, TIER_1H_S));
out:
	if (e < 0 && e != -ENOMEM)
		psc_err("AGG-STORE-ROLLUP", "rollup of tier %d bucket %.0f failed: %s", tier, b,
			sqlite3_errmsg(s->db));
	sqlite3_finalize(ws);
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	return e;
}

/* Closed dirty buckets of @tier: recomputed, or dropped when the tier below no longer
 * holds all of the bucket. */
static int rollup_tier(struct psc_store *s, int tier, double now, struct psc_store_maint *m)
{
	double width = tier == PSC_TIER_5M ? TIER_5M_S : TIER_1H_S;
	double src_cutoff = now - (tier == PSC_TIER_5M ? s->opt.retention_raw_s
						       : s->opt.retention_5m_s);
	double buckets[ROLLUP_BATCH];
	sqlite3_stmt *st = NULL, *del = NULL;
	int n = 0, e = 0;

	if (sqlite3_prepare_v2(s->db,
			       "SELECT bucket FROM rollup_dirty WHERE tier = ?1 AND bucket <= ?2"
			       " ORDER BY bucket LIMIT ?3",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "DELETE FROM rollup_dirty WHERE tier = ?1 AND bucket = ?2",
			       -1, &del, NULL) != SQLITE_OK) {
		e = -EIO;
		goto out;
	}
	sqlite3_bind_int(st, 1, tier);
	sqlite3_bind_double(st, 2, now - width - s->opt.rollup_grace_s);
	sqlite3_bind_int(st, 3, ROLLUP_BATCH);
	while (n < ROLLUP_BATCH && sqlite3_step(st) == SQLITE_ROW)
		buckets[n++] = sqlite3_column_double(st, 0);
	sqlite3_reset(st);
	if (n == ROLLUP_BATCH)
		m->more = true;
	for (int i = 0; i < n && e == 0; i++) {
		e = step_done(s, s->st[ST_BEGIN]);
		if (e < 0)
			break;
		if (buckets[i] >= src_cutoff) {
			e = rollup_bucket(s, tier, buckets[i]);
			if (e == 0)
				m->rolled_up++;
		}
		if (e == 0) {
			sqlite3_bind_int(del, 1, tier);
			sqlite3_bind_double(del, 2, buckets[i]);
			e = step_done(s, del);
		}
		if (e == 0)
			e = step_done(s, s->st[ST_COMMIT]);
		if (e < 0 && !sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
out:
	sqlite3_finalize(st);
	sqlite3_finalize(del);
	return e;
}

static int delete_chunk(struct psc_store *s, const char *sql, double cutoff, int tier,
			struct psc_store_maint *m)
{
	sqlite3_stmt *st = NULL;
	int changes;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		psc_err("AGG-STORE-SQL", "%s (retention)", sqlite3_errmsg(s->db));
		return -EIO;
	}
	/* ?1 cutoff, ?2 tier, ?3 chunk: a statement uses what it needs. */
	sqlite3_bind_double(st, 1, cutoff);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int(st, 2, tier);
	if (sqlite3_bind_parameter_count(st) >= 3)
		sqlite3_bind_int(st, 3, RETENTION_CHUNK);
	if (sqlite3_step(st) != SQLITE_DONE) {
		psc_err("AGG-STORE-SQL", "%s (retention)", sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return -EIO;
	}
	sqlite3_finalize(st);
	changes = sqlite3_changes(s->db);
	m->deleted += (unsigned)changes;
	if (changes >= RETENTION_CHUNK)
		m->more = true;
	return 0;
}

static int retention(struct psc_store *s, double now, struct psc_store_maint *m)
{
	const double cutoff[_PSC_TIER_MAX] = {
		[PSC_TIER_RAW] = now - s->opt.retention_raw_s,
		[PSC_TIER_5M] = now - s->opt.retention_5m_s,
		[PSC_TIER_1H] = now - s->opt.retention_1h_s,
	};
	int e = 0;

	for (int t = 0; t < _PSC_TIER_MAX && e == 0; t++) {
		e = delete_chunk(s,
				 "DELETE FROM workload_series WHERE (workload_id, tier, ts) IN"
				 " (SELECT workload_id, tier, ts FROM workload_series"
				 " WHERE tier = ?2 AND ts < ?1 LIMIT ?3)",
				 cutoff[t], t, m);
		if (e == 0)
			e = delete_chunk(
				s,
				"DELETE FROM endpoint_rollup WHERE (endpoint_id, tier, ts) IN"
				" (SELECT endpoint_id, tier, ts FROM endpoint_rollup"
				" WHERE tier = ?2 AND ts < ?1 LIMIT ?3)",
				cutoff[t], t, m);
	}
	if (e == 0)
		e = delete_chunk(s,
				 "DELETE FROM reports WHERE rowid IN (SELECT rowid FROM reports"
				 " WHERE window_end < ?1 LIMIT ?3)",
				 now - s->opt.retention_reports_s, 0, m);
	/* A dictionary epoch unused for the ledger's retention can only serve reports that
	 * would be refused as stale anyway. The cache forgets refs with it. */
	unsigned long long before = m->deleted;
	if (e == 0)
		e = delete_chunk(s,
				 "DELETE FROM dict WHERE (host_id, epoch) IN (SELECT host_id, epoch"
				 " FROM dict_epochs WHERE last_used < ?1 LIMIT ?3)",
				 now - s->opt.retention_reports_s, 0, m);
	if (e == 0)
		e = delete_chunk(s,
				 "DELETE FROM dict_epochs WHERE last_used < ?1 AND"
				 " NOT EXISTS (SELECT 1 FROM dict d WHERE d.host_id ="
				 " dict_epochs.host_id AND d.epoch = dict_epochs.epoch)",
				 now - s->opt.retention_reports_s, 0, m);
	if (m->deleted != before)
		ids_clear(s);
	return e;
}

int psc_store_maintain(struct psc_store *s, double now, struct psc_store_maint *m)
{
	int e;

	memset(m, 0, sizeof(*m));
	e = rollup_tier(s, PSC_TIER_5M, now, m);
	if (e == 0)
		e = rollup_tier(s, PSC_TIER_1H, now, m);
	if (e == 0)
		e = retention(s, now, m);
	return e;
}

int psc_store_hosts_since(struct psc_store *s, double since, uint64_t *n)
{
	sqlite3_stmt *st = s->st[ST_HOSTS_SINCE];
	int64_t v;
	int e;

	sqlite3_bind_double(st, 1, since);
	e = step_id(s, st, &v);
	if (e == 0)
		*n = (uint64_t)v;
	return e;
}

/* --- adjustments --- */

int psc_store_adjustment_add(struct psc_store *s, const Prescient__SignedAdjustment *sa)
{
	Prescient__Adjustment *a;
	sqlite3_stmt *st = s->st[ST_ADJ_ADD];
	int e;

	a = prescient__adjustment__unpack(NULL, sa->adjustment.len, sa->adjustment.data);
	if (!a)
		return -EBADMSG;
	sqlite3_bind_int64(st, 1, clamp64(a->id));
	bind_text(st, 2, a->host_id);
	bind_text(st, 3, a->workload);
	sqlite3_bind_double(st, 4, a->issued_at);
	sqlite3_bind_double(st, 5, a->expires_at);
	bind_text(st, 6, a->reason);
	sqlite3_bind_blob(st, 7, sa->adjustment.data, (int)sa->adjustment.len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, sa->signature.data, (int)sa->signature.len, SQLITE_STATIC);
	e = step_done(s, st);
	prescient__adjustment__free_unpacked(a, NULL);
	s->adj_added++;
	return e;
}

void psc_store_adjustments_free(Prescient__SignedAdjustment ***vp, size_t n)
{
	Prescient__SignedAdjustment **v = *vp;

	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		if (v[i])
			psc_wire_signed_clear(v[i]);
		free(v[i]);
	}
	free(v);
	*vp = NULL;
}

static uint8_t *dup_blob(sqlite3_stmt *st, int col, size_t *len)
{
	int n = sqlite3_column_bytes(st, col);
	const void *p = sqlite3_column_blob(st, col);
	uint8_t *d = malloc(n > 0 ? (size_t)n : 1);

	if (d && n > 0)
		memcpy(d, p, (size_t)n);
	*len = n > 0 ? (size_t)n : 0;
	return d;
}

int psc_store_adjustments_pending(struct psc_store *s, const char *host, double now, size_t max,
				  Prescient__SignedAdjustment ***out, size_t *count)
{
	Prescient__SignedAdjustment **v = NULL;
	sqlite3_stmt *st = s->st[ST_ADJ_PENDING];
	bool cacheable = s->in_batch && s->data_version >= 0;
	struct id_key k;
	struct id_ent *c;
	size_t n = 0;
	int rc, e = 0;

	*out = NULL;
	*count = 0;
	if (max == 0)
		return 0;
	if (cacheable) {
		key_init(&k, 'a');
		key_str(&k, host);
		c = ids_get(s, &k);
		if (c && c->id == s->data_version && c->seen == (double)s->adj_added)
			return 0;
	}
	v = calloc(max, sizeof(*v));
	if (!v)
		return -ENOMEM;
	bind_text(st, 1, host);
	sqlite3_bind_double(st, 2, now);
	sqlite3_bind_int64(st, 3, (int64_t)max);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		Prescient__SignedAdjustment *sa = malloc(sizeof(*sa));

		if (!sa) {
			e = -ENOMEM;
			break;
		}
		prescient__signed_adjustment__init(sa);
		v[n++] = sa;
		sa->adjustment.data = dup_blob(st, 1, &sa->adjustment.len);
		sa->signature.data = dup_blob(st, 2, &sa->signature.len);
		if (!sa->adjustment.data || !sa->signature.data) {
			e = -ENOMEM;
			break;
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (e < 0) {
		psc_store_adjustments_free(&v, n);
		return e;
	}
	if (n == 0) {
		free(v);
		v = NULL;
		if (cacheable)
			ids_put(s, &k, s->data_version, (double)s->adj_added);
	}
	*out = v;
	*count = n;
	return 0;
}
