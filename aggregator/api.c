// SPDX-License-Identifier: MIT
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "explain.h"
#include "log.h"
#include "mathutil.h"
#include "metrics.h"
#include "store.h"
#include "wire.h"

#define BUSY_TIMEOUT_MS 5000
#define OPEN_ALERT_S	(24 * 3600.0) /* an alert without feedback counts as open this long */
#define HISTORY_MAX	5000	      /* newest points of a workload's history */
#define NAME_MAX_LEN	512

struct psc_api {
	pthread_mutex_t lock;
	sqlite3 *db;
	struct psc_store *store; /* for /behavioralData/ingest, opened on first use */
	char *db_path;
	char *token;
	bool open_reads;
	uint64_t last_seq;
};

/* --- small helpers --- */

static json_t *err_json(const char *msg, const char *field)
{
	json_t *o = json_pack("{s:s}", "error", msg);

	if (o && field)
		json_object_set_new(o, "field", json_string(field));
	return o;
}

char *psc_api_error_body(const char *msg, const char *field)
{
	json_t *o = err_json(msg, field);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

/* Sets *out to an error object and returns @status. */
__attribute__((format(printf, 4, 5))) static unsigned fail(json_t **out, unsigned status,
							   const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*out = err_json(msg, field);
	return status;
}

static unsigned db_fail(struct psc_api *a, json_t **out)
{
	psc_warn("AGG-API-DB", "API query failed: %s", sqlite3_errmsg(a->db));
	return fail(out, 500, NULL, "database error");
}

static json_t *num_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* A column as JSON: NULL, integer, real or text (invalid UTF-8 as null). */
static json_t *col(sqlite3_stmt *st, int i)
{
	json_t *j;

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, i));
	case SQLITE_FLOAT:
		return num_or_null(sqlite3_column_double(st, i));
	case SQLITE_TEXT:
		j = json_stringn((const char *)sqlite3_column_text(st, i),
				 (size_t)sqlite3_column_bytes(st, i));
		return j ? j : json_null();
	default:
		return json_null();
	}
}

/* The row as an object keyed by the result's column names. */
static json_t *row_obj(sqlite3_stmt *st)
{
	json_t *o = json_object();

	for (int i = 0; o && i < sqlite3_column_count(st); i++)
		json_object_set_new(o, sqlite3_column_name(st, i), col(st, i));
	return o;
}

static bool table_exists(struct psc_api *a, const char *name)
{
	sqlite3_stmt *st;
	bool found = false;

	if (sqlite3_prepare_v2(a->db,
			       "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
			       &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* Tables other modules create (the modeling engine, the allocation) may not exist yet:
 * their name, or an empty relation with their columns. */
static const struct {
	const char *name, *empty;
} optional_tables[] = {
	{"clusters", "(SELECT NULL AS workload_id, NULL AS cluster, NULL AS method,"
		     " NULL AS quality WHERE 0)"},
	{"classes", "(SELECT NULL AS workload_id, NULL AS class, NULL AS confidence,"
		    " NULL AS explanation WHERE 0)"},
	{"alerts", "(SELECT NULL AS id, NULL AS ts, NULL AS workload_id, NULL AS host,"
		   " NULL AS kind, NULL AS score, NULL AS text, NULL AS adjustment_id WHERE 0)"},
	{"feedback", "(SELECT NULL AS id, NULL AS kind, NULL AS ref_id, NULL AS verdict WHERE 0)"},
	{"forecasts", "(SELECT NULL AS workload_id, NULL AS series, NULL AS horizon_s, NULL AS ts,"
		      " NULL AS p10, NULL AS p50, NULL AS p90, NULL AS model WHERE 0)"},
	{"detections",
	 "(SELECT NULL AS id, NULL AS workload_id, NULL AS series, NULL AS ts,"
	 " NULL AS score, NULL AS source, NULL AS direction, NULL AS detail WHERE 0)"},
	{"cluster_moves", "(SELECT NULL AS id, NULL AS ts, NULL AS cycle, NULL AS workload_id,"
			  " NULL AS from_cluster, NULL AS to_cluster WHERE 0)"},
};

static const char *rel(struct psc_api *a, const char *name)
{
	for (size_t i = 0; i < PSC_ARRAY_SIZE(optional_tables); i++)
		if (!strcmp(optional_tables[i].name, name))
			return table_exists(a, name) ? name : optional_tables[i].empty;
	return name;
}

/* Prepares SQL built from @fmt: the format only ever substitutes table references
 * (rel()), never request data, which is always bound. NULL on error. */
static sqlite3_stmt *vprep(struct psc_api *a, const char *fmt, va_list ap)
{
	_cleanup_free_ char *sql = NULL;
	sqlite3_stmt *st = NULL;

	if (vasprintf(&sql, fmt, ap) < 0) {
		sql = NULL;
		return NULL;
	}
	if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK) {
		psc_warn("AGG-API-DB", "cannot prepare an API query: %s", sqlite3_errmsg(a->db));
		return NULL;
	}
	return st;
}

/* Prepares SQL built from @fmt: the format only ever substitutes table references
 * (rel()), never request data, which is always bound. NULL on error. */
__attribute__((format(printf, 2, 3))) static sqlite3_stmt *prep(struct psc_api *a, const char *fmt,
								...)
{
	sqlite3_stmt *st;
	va_list ap;

	va_start(ap, fmt);
	st = vprep(a, fmt, ap);
	va_end(ap);
	return st;
}

static void finalizep(sqlite3_stmt **st)
{
	sqlite3_finalize(*st);
}
#define _cleanup_stmt_ _cleanup_(finalizep)

#define _cleanup_json_ _cleanup_(json_decrefp) /* jansson's own */

/* The value of @key in the decoded query string, copied into @buf; NULL if absent. */
static const char *qarg(const struct psc_api_request *req, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	const char *p = req->query;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t pl = amp ? (size_t)(amp - p) : strlen(p);

		if (pl > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			size_t vl = pl - kl - 1;
			if (vl >= len)
				vl = len - 1;
			memcpy(buf, p + kl + 1, vl);
			buf[vl] = '\0';
			return buf;
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

static int parse_double(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno || end == s || *end || !isfinite(*v) ? -EINVAL : 0;
}

static int parse_i64(const char *s, int64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno || end == s || *end ? -EINVAL : 0;
}

double psc_api_norm_quantile(double p)
{
	double lo = -40, hi = 40;

	/* Bisection on the CDF: 100 halvings of [-40, 40] reach double precision. */
	for (int i = 0; i < 100; i++) {
		double mid = (lo + hi) / 2;
		if (psc_norm_cdf(mid) < p)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

/* --- workloads --- */

/* Columns 0..15 of a workload summary; ?1 = open-alert cutoff. */
#define WORKLOAD_SQL                                                                               \
	"SELECT w.id, h.name, w.cgroup, w.name, coalesce(l.managed, 0), w.first_seen,"             \
	" w.last_seen, c.cluster, k.class,"                                                        \
	" (SELECT s.cpu_s / s.span_s FROM workload_series s WHERE s.workload_id = w.id"            \
	"  AND s.tier = 0 ORDER BY s.ts DESC LIMIT 1),"                                            \
	" (SELECT s.mem_bytes FROM workload_series s WHERE s.workload_id = w.id AND s.tier = 0"    \
	"  ORDER BY s.ts DESC LIMIT 1),"                                                           \
	" l.workload_id IS NOT NULL, l.cpu_max_cores, l.memory_high, l.memory_max,"                \
	" l.egress_bytes_per_s,"                                                                   \
	" (SELECT count(*) FROM %s a WHERE a.workload_id = w.id AND a.ts >= ?1 AND NOT EXISTS"     \
	"  (SELECT 1 FROM %s f WHERE f.kind = 'alert' AND f.ref_id = a.id))"                       \
	" FROM workloads w JOIN hosts h ON h.id = w.host_id"                                       \
	" LEFT JOIN workload_limits l ON l.workload_id = w.id"                                     \
	" LEFT JOIN %s c ON c.workload_id = w.id LEFT JOIN %s k ON k.workload_id = w.id"

static sqlite3_stmt *prep_workloads(struct psc_api *a, const char *tail)
{
	return prep(a, WORKLOAD_SQL " %s", rel(a, "alerts"), rel(a, "feedback"), rel(a, "clusters"),
		    rel(a, "classes"), tail);
}

static json_t *workload_obj(sqlite3_stmt *st)
{
	json_t *o = json_object(), *lim;

	if (!o)
		return NULL;
	json_object_set_new(o, "id", col(st, 0));
	json_object_set_new(o, "host", col(st, 1));
	json_object_set_new(o, "cgroup", col(st, 2));
	json_object_set_new(o, "name", col(st, 3));
	json_object_set_new(o, "managed", json_boolean(sqlite3_column_int(st, 4)));
	json_object_set_new(o, "first_seen", col(st, 5));
	json_object_set_new(o, "last_seen", col(st, 6));
	json_object_set_new(o, "cluster", col(st, 7));
	json_object_set_new(o, "class", col(st, 8));
	json_object_set_new(o, "cpu_cores", col(st, 9));
	json_object_set_new(o, "mem_bytes",
			    sqlite3_column_type(st, 10) == SQLITE_NULL
				    ? json_null()
				    : json_integer(sqlite3_column_int64(st, 10)));
	if (sqlite3_column_int(st, 11))
		lim = json_pack("{s:o,s:o,s:o,s:o}", "cpu_max_cores", col(st, 12), "memory_high",
				col(st, 13), "memory_max", col(st, 14), "egress_bytes_per_s",
				col(st, 15));
	else
		lim = json_null();
	json_object_set_new(o, "limits", lim);
	json_object_set_new(o, "open_alerts", col(st, 16));
	return o;
}

static unsigned get_workloads(struct psc_api *a, const struct psc_api_request *req, json_t **out)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep_workloads(a, "ORDER BY w.id");
	json_t *arr;
	int rc;

	if (!st)
		return db_fail(a, out);
	sqlite3_bind_double(st, 1, req->now - OPEN_ALERT_S);
	arr = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, workload_obj(st));
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return db_fail(a, out);
	}
	*out = json_pack("{s:o}", "workloads", arr);
	return 200;
}

/* Rows of @st as an array of objects; NULL on a database error. */
static json_t *rows(sqlite3_stmt *st)
{
	json_t *arr = json_array();
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, row_obj(st));
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

static const char *outcome_name(int v)
{
	const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(
		&prescient__adjustment_outcome__result__descriptor, v);

	return e ? e->name : "UNKNOWN";
}

static json_t *targets_obj(const Prescient__Targets *t)
{
	json_t *o = json_object();

	if (!t)
		return o;
	/* 0 = leave unchanged: only the fields the adjustment sets. */
	if (t->cpu_max_cores)
		json_object_set_new(o, "cpu_max_cores", json_real(t->cpu_max_cores));
	if (t->cpu_weight)
		json_object_set_new(o, "cpu_weight", json_integer((json_int_t)t->cpu_weight));
	if (t->memory_min_bytes)
		json_object_set_new(o, "memory_min", json_integer((json_int_t)t->memory_min_bytes));
	if (t->memory_high_bytes)
		json_object_set_new(o, "memory_high",
				    json_integer((json_int_t)t->memory_high_bytes));
	if (t->memory_max_bytes)
		json_object_set_new(o, "memory_max", json_integer((json_int_t)t->memory_max_bytes));
	if (t->cpu_max_burst_us)
		json_object_set_new(o, "cpu_max_burst_us",
				    json_integer((json_int_t)t->cpu_max_burst_us));
	if (t->egress_bytes_per_s)
		json_object_set_new(o, "egress_bytes_per_s",
				    json_integer((json_int_t)t->egress_bytes_per_s));
	return o;
}

/* Adjustments, newest first: all (@host NULL) or those of one workload. */
static json_t *adjustments(struct psc_api *a, int64_t limit, const char *host, const char *cgroup)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(
		a, "SELECT id, host, workload, issued_at, expires_at, reason, payload, outcome,"
		   " outcome_detail, outcome_at FROM adjustments"
		   " WHERE ?2 IS NULL OR (host = ?2 AND workload = ?3) ORDER BY id DESC LIMIT ?1");
	json_t *arr;
	int rc;

	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, limit);
	sqlite3_bind_text(st, 2, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cgroup, -1, SQLITE_STATIC);
	arr = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		Prescient__Adjustment *adj = prescient__adjustment__unpack(
			NULL, (size_t)sqlite3_column_bytes(st, 6), sqlite3_column_blob(st, 6));
		json_t *o = json_object();

		json_object_set_new(o, "id", col(st, 0));
		json_object_set_new(o, "host", col(st, 1));
		json_object_set_new(o, "workload", col(st, 2));
		json_object_set_new(o, "issued_at", col(st, 3));
		json_object_set_new(o, "expires_at", col(st, 4));
		json_object_set_new(o, "reason", col(st, 5));
		json_object_set_new(o, "tier",
				    adj && adj->tier[0] ? json_string(adj->tier) : json_null());
		json_object_set_new(o, "targets", targets_obj(adj ? adj->targets : NULL));
		json_object_set_new(o, "outcome",
				    sqlite3_column_type(st, 7) == SQLITE_NULL
					    ? json_null()
					    : json_string(outcome_name(sqlite3_column_int(st, 7))));
		json_object_set_new(o, "outcome_detail", col(st, 8));
		json_object_set_new(o, "outcome_at", col(st, 9));
		if (adj)
			prescient__adjustment__free_unpacked(adj, NULL);
		json_array_append_new(arr, o);
	}
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/* Alerts at or after @since, newest first, all (@workload < 0) or one workload's. */
static json_t *alerts(struct psc_api *a, double since, int64_t limit, int64_t workload)
{
	_cleanup_stmt_ sqlite3_stmt *st =
		prep(a,
		     "SELECT a.id AS id, a.ts AS ts, a.workload_id AS workload_id, a.host AS host,"
		     " a.kind AS kind, a.score AS score, a.text AS text,"
		     " a.adjustment_id AS adjustment_id, (SELECT f.verdict FROM %s f"
		     " WHERE f.kind = 'alert' AND f.ref_id = a.id ORDER BY f.id DESC LIMIT 1)"
		     " AS feedback FROM %s a WHERE a.ts >= ?1 AND (?3 < 0 OR a.workload_id = ?3)"
		     " ORDER BY a.ts DESC, a.id DESC LIMIT ?2",
		     rel(a, "feedback"), rel(a, "alerts"));

	if (!st)
		return NULL;
	sqlite3_bind_double(st, 1, since);
	sqlite3_bind_int64(st, 2, limit);
	sqlite3_bind_int64(st, 3, workload);
	return rows(st);
}

/* Sets @key of @res to the rows of the query built from @fmt, which may use the
 * parameters :id, :tier and :since. -EIO on a database error. */
__attribute__((format(printf, 7, 8))) static int member_rows(struct psc_api *a, json_t *res,
							     const char *key, int64_t id, int tier,
							     double since, const char *fmt, ...)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	json_t *arr;
	va_list ap;

	va_start(ap, fmt);
	st = vprep(a, fmt, ap);
	va_end(ap);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":id"), id);
	sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":tier"), tier);
	sqlite3_bind_double(st, sqlite3_bind_parameter_index(st, ":since"), since);
	if (!(arr = rows(st)))
		return -EIO;
	json_object_set_new(res, key, arr);
	return 0;
}

static int tier_from(const char *s)
{
	return !strcmp(s, "raw") ? 0 : !strcmp(s, "5m") ? 1 : !strcmp(s, "1h") ? 2 : -1;
}

static unsigned get_workload(struct psc_api *a, const struct psc_api_request *req,
			     const char *idstr, json_t **out)
{
	static const double default_span[] = {6 * 3600.0, 7 * 86400.0, 60 * 86400.0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_json_ json_t *res = NULL;
	json_t *w, *hist, *ts, *cpu, *mem, *net, *req_s, *arr;
	char buf[64];
	int64_t id;
	int tier = 0, rc;
	double since;

	if (parse_i64(idstr, &id) < 0 || id <= 0)
		return fail(out, 400, "id", "workload id must be a positive integer, not '%s'",
			    idstr);
	if (qarg(req, "tier", buf, sizeof(buf)) && (tier = tier_from(buf)) < 0)
		return fail(out, 400, "tier", "tier must be raw, 5m or 1h");

	st = prep_workloads(a, "WHERE w.id = ?2");
	if (!st)
		return db_fail(a, out);
	sqlite3_bind_double(st, 1, req->now - OPEN_ALERT_S);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return fail(out, 404, "id", "no workload %lld", (long long)id);
	if (rc != SQLITE_ROW)
		return db_fail(a, out);
	w = workload_obj(st);
	res = json_pack("{s:o}", "workload", w);
	const char *host = json_string_value(json_object_get(w, "host"));
	const char *cgroup = json_string_value(json_object_get(w, "cgroup"));
	sqlite3_finalize(st);
	st = NULL;

	if (qarg(req, "since", buf, sizeof(buf))) {
		if (parse_double(buf, &since) < 0)
			return fail(out, 400, "since", "since must be Unix seconds");
	} else {
		/* Relative to the newest point, not the clock: a workload gone quiet still
		 * shows its last hours. */
		st = prep(a, "SELECT max(ts) FROM workload_series WHERE workload_id = ?1"
			     " AND tier = ?2");
		if (!st)
			return db_fail(a, out);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, tier);
		since = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
				? sqlite3_column_double(st, 0) - default_span[tier]
				: 0;
		sqlite3_finalize(st);
		st = NULL;
	}
	json_object_set_new(res, "since", json_real(since));
	json_object_set_new(res, "tier", json_string(tier == 0 ? "raw" : tier == 1 ? "5m" : "1h"));

	st = prep(
		a,
		"SELECT * FROM (SELECT ws.ts, ws.cpu_s / ws.span_s,"
		" ws.mem_bytes, (ws.net_rx_bytes + ws.net_tx_bytes) * 1.0 / ws.span_s,"
		/* By workload_id: the view reaches the raw tier's rows through the
		 * workload's series and the rollups' through its endpoints. */
		" (SELECT sum(es.count) FROM endpoint_series es JOIN endpoints e"
		"  ON e.id = es.endpoint_id WHERE es.workload_id = ws.workload_id"
		"  AND e.role = 'server' AND es.tier = ws.tier AND es.ts = ws.ts) * 1.0 / ws.span_s"
		" FROM workload_series ws WHERE ws.workload_id = ?1 AND ws.tier = ?2"
		" AND ws.ts >= ?3 ORDER BY ws.ts DESC LIMIT %d) ORDER BY 1",
		HISTORY_MAX);
	if (!st)
		return db_fail(a, out);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, tier);
	sqlite3_bind_double(st, 3, since);
	hist = json_pack("{s:[],s:[],s:[],s:[],s:[]}", "ts", "cpu_cores", "mem_bytes",
			 "net_bytes_per_s", "req_per_s");
	json_object_set_new(res, "history", hist);
	ts = json_object_get(hist, "ts");
	cpu = json_object_get(hist, "cpu_cores");
	mem = json_object_get(hist, "mem_bytes");
	net = json_object_get(hist, "net_bytes_per_s");
	req_s = json_object_get(hist, "req_per_s");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_array_append_new(ts, col(st, 0));
		json_array_append_new(cpu, col(st, 1));
		json_array_append_new(mem, col(st, 2));
		json_array_append_new(net, col(st, 3));
		json_array_append_new(req_s, col(st, 4));
	}
	if (rc != SQLITE_DONE)
		return db_fail(a, out);
	sqlite3_finalize(st);
	st = NULL;

	if (member_rows(a, res, "forecasts", id, tier, since,
			"SELECT series, horizon_s, ts, p10, p50, p90, model FROM %s"
			" WHERE workload_id = :id ORDER BY series, horizon_s",
			rel(a, "forecasts")) < 0 ||
	    /* From the limits in effect at since on. */
	    member_rows(a, res, "limits_history", id, tier, since,
			"SELECT ts, cpu_max_cores, memory_high, memory_max, egress_bytes_per_s"
			" FROM limits_history WHERE workload_id = :id AND ts >= (SELECT"
			" coalesce(max(ts), 0) FROM limits_history WHERE workload_id = :id"
			" AND ts <= :since) ORDER BY ts LIMIT 10000") < 0 ||
	    member_rows(a, res, "detections", id, tier, since,
			"SELECT ts, series, score, source, direction, detail FROM %s"
			" WHERE workload_id = :id AND ts >= :since ORDER BY ts DESC LIMIT 200",
			rel(a, "detections")) < 0 ||
	    member_rows(a, res, "class", id, tier, since,
			"SELECT class, confidence, explanation FROM %s WHERE workload_id = :id",
			rel(a, "classes")) < 0 ||
	    member_rows(a, res, "endpoints", id, tier, since,
			"SELECT e.protocol AS protocol, e.role AS role, e.endpoint AS endpoint,"
			" sum(es.count) AS count, sum(es.errors) AS errors FROM endpoint_series es"
			" JOIN endpoints e ON e.id = es.endpoint_id WHERE"
			" es.workload_id = :id AND es.tier = :tier AND es.ts >= :since"
			" GROUP BY e.id ORDER BY 4 DESC LIMIT 500") < 0)
		return db_fail(a, out);
	/* One class or none. */
	arr = json_array_get(json_object_get(res, "class"), 0);
	json_object_set(res, "class", arr ? arr : json_null());

	if (!(arr = alerts(a, since, 100, id)))
		return db_fail(a, out);
	json_object_set_new(res, "alerts", arr);
	if (!(arr = adjustments(a, 100, host ? host : "", cgroup ? cgroup : "")))
		return db_fail(a, out);
	json_object_set_new(res, "adjustments", arr);
	*out = TAKE_PTR(res);
	return 200;
}

static unsigned get_clusters(struct psc_api *a, json_t **out)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(
		a,
		"SELECT cluster, method, quality, workload_id FROM %s ORDER BY cluster, workload_id",
		rel(a, "clusters"));
	json_t *arr, *cur = NULL, *moves;
	int rc;

	if (!st)
		return db_fail(a, out);
	arr = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t c = sqlite3_column_int64(st, 0);
		if (!cur || json_integer_value(json_object_get(cur, "cluster")) != c) {
			cur = json_pack("{s:I,s:o,s:o,s:[]}", "cluster", (json_int_t)c, "method",
					col(st, 1), "quality", col(st, 2), "members");
			json_array_append_new(arr, cur);
		}
		json_array_append_new(json_object_get(cur, "members"), col(st, 3));
	}
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return db_fail(a, out);
	}
	sqlite3_finalize(st);
	st = prep(a,
		  "SELECT ts, cycle, workload_id, from_cluster, to_cluster FROM %s"
		  " ORDER BY id DESC LIMIT 100",
		  rel(a, "cluster_moves"));
	if (!st || !(moves = rows(st))) {
		json_decref(arr);
		return db_fail(a, out);
	}
	*out = json_pack("{s:o,s:o}", "clusters", arr, "moves", moves);
	return 200;
}

/* ?limit=N (1..1000, default 100). */
static int limit_arg(const struct psc_api_request *req, int64_t *limit)
{
	char buf[32];

	*limit = 100;
	if (!qarg(req, "limit", buf, sizeof(buf)))
		return 0;
	return parse_i64(buf, limit) < 0 || *limit < 1 || *limit > 1000 ? -EINVAL : 0;
}

static unsigned get_alerts(struct psc_api *a, const struct psc_api_request *req, json_t **out)
{
	char buf[64];
	double since = 0;
	int64_t limit;
	json_t *arr;

	if (limit_arg(req, &limit) < 0)
		return fail(out, 400, "limit", "limit must be an integer in 1..1000");
	if (qarg(req, "since", buf, sizeof(buf)) && parse_double(buf, &since) < 0)
		return fail(out, 400, "since", "since must be Unix seconds");
	if (!(arr = alerts(a, since, limit, -1)))
		return db_fail(a, out);
	*out = json_pack("{s:o}", "alerts", arr);
	return 200;
}

static unsigned get_adjustments(struct psc_api *a, const struct psc_api_request *req, json_t **out)
{
	int64_t limit;
	json_t *arr;

	if (limit_arg(req, &limit) < 0)
		return fail(out, 400, "limit", "limit must be an integer in 1..1000");
	if (!(arr = adjustments(a, limit, NULL, NULL)))
		return db_fail(a, out);
	*out = json_pack("{s:o}", "adjustments", arr);
	return 200;
}

/* --- writes --- */

static bool workload_exists(struct psc_api *a, int64_t id)
{
	_cleanup_stmt_ sqlite3_stmt *st = prep(a, "SELECT 1 FROM workloads WHERE id = ?1");

	if (!st)
		return false;
	sqlite3_bind_int64(st, 1, id);
	return sqlite3_step(st) == SQLITE_ROW;
}

/* A positive integer member @key of @o into *@v. */
static int get_id(json_t *o, const char *key, int64_t *v)
{
	json_t *j = json_object_get(o, key);

	if (!json_is_integer(j) || json_integer_value(j) <= 0)
		return -EINVAL;
	*v = json_integer_value(j);
	return 0;
}

/* Validates and stores a feedback object; 201 with *id. */
static unsigned feedback(struct psc_api *a, json_t *fb, double now, json_t **out, int64_t *fid)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const char *kind, *verdict, *note = NULL;
	json_t *jn;
	int64_t ref;

	if (!json_is_object(fb))
		return fail(out, 400, "feedback", "feedback must be an object");
	kind = json_string_value(json_object_get(fb, "kind"));
	if (!kind || (strcmp(kind, "alert") && strcmp(kind, "adjustment")))
		return fail(out, 400, "kind", "kind must be \"alert\" or \"adjustment\"");
	if (get_id(fb, "id", &ref) < 0)
		return fail(out, 400, "id", "id must be a positive integer");
	verdict = json_string_value(json_object_get(fb, "verdict"));
	if (!verdict || (strcmp(verdict, "right") && strcmp(verdict, "wrong")))
		return fail(out, 400, "verdict", "verdict must be \"right\" or \"wrong\"");
	jn = json_object_get(fb, "note");
	if (jn && !json_is_null(jn)) {
		note = json_string_value(jn);
		if (!note || strlen(note) > 1000)
			return fail(out, 400, "note",
				    "note must be a string of at most 1000 bytes");
	}
	if (!table_exists(a, "feedback"))
		return fail(out, 503, NULL,
			    "feedback is not accepted: the allocation is not running");
	st = prep(a, "SELECT 1 FROM %s WHERE id = ?1",
		  !strcmp(kind, "alert") ? rel(a, "alerts") : "adjustments");
	if (!st)
		return db_fail(a, out);
	sqlite3_bind_int64(st, 1, ref);
	if (sqlite3_step(st) != SQLITE_ROW)
		return fail(out, 404, "id", "no %s %lld", kind, (long long)ref);
	sqlite3_finalize(st);
	st = prep(a, "INSERT INTO feedback (ts, kind, ref_id, verdict, note)"
		     " VALUES (?1, ?2, ?3, ?4, ?5)");
	if (!st)
		return db_fail(a, out);
	sqlite3_bind_double(st, 1, now);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, ref);
	sqlite3_bind_text(st, 4, verdict, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, note, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_fail(a, out);
	*fid = sqlite3_last_insert_rowid(a->db);
	psc_info("AGG-API-FEEDBACK", "feedback %lld: %s %lld marked %s", (long long)*fid, kind,
		 (long long)ref, verdict);
	return 201;
}

static unsigned post_feedback(struct psc_api *a, const struct psc_api_request *req, json_t *body,
			      json_t **out)
{
	int64_t fid;
	unsigned s = feedback(a, body, req->now, out, &fid);

	if (s == 201)
		*out = json_pack("{s:I}", "feedback_id", (json_int_t)fid);
	return s;
}

/* A non-negative number member (absent = @def); -EINVAL if present and not one. */
static int get_num(json_t *o, const char *key, double def, double *v)
{
	json_t *j = json_object_get(o, key);

	*v = def;
	if (!j)
		return 0;
	if (!json_is_number(j) || !isfinite(json_number_value(j)) || json_number_value(j) < 0)
		return -EINVAL;
	*v = json_number_value(j);
	return 0;
}

static unsigned post_ingest(struct psc_api *a, const struct psc_api_request *req, json_t *body,
			    json_t **out)
{
	Prescient__HostReport r = PRESCIENT__HOST_REPORT__INIT;
	Prescient__WorkloadWindow w = PRESCIENT__WORKLOAD_WINDOW__INIT, *wp = &w;
	_cleanup_free_ Prescient__EndpointStats *eps = NULL;
	_cleanup_free_ Prescient__EndpointStats **epp = NULL;
	_cleanup_free_ char *host_id = NULL;
	const char *host, *workload;
	json_t *jeps, *e;
	enum psc_store_result res;
	char err[256] = "";
	double cpu, mem;
	size_t n = 0, i;
	uint64_t seq;
	int rc;

	host = json_string_value(json_object_get(body, "host"));
	if (!host || !*host || strlen(host) > NAME_MAX_LEN)
		return fail(out, 400, "host", "host must be a non-empty string");
	workload = json_string_value(json_object_get(body, "workload"));
	if (!workload || !*workload || strlen(workload) > 4096)
		return fail(out, 400, "workload", "workload must be a non-empty string");
	if (get_num(body, "window_start", NAN, &r.window_start) < 0 || isnan(r.window_start) ||
	    r.window_start <= 0)
		return fail(out, 400, "window_start", "window_start must be Unix seconds");
	if (get_num(body, "window_end", NAN, &r.window_end) < 0 || isnan(r.window_end) ||
	    r.window_end <= r.window_start || r.window_end - r.window_start > 3600)
		return fail(out, 400, "window_end",
			    "window_end must be Unix seconds after window_start (at most 1 h)");
	if (get_num(body, "cpu_s", NAN, &cpu) < 0)
		return fail(out, 400, "cpu_s", "cpu_s must be a number >= 0");
	if (get_num(body, "mem_bytes", NAN, &mem) < 0 || mem > 1e18)
		return fail(out, 400, "mem_bytes", "mem_bytes must be a number >= 0");
	jeps = json_object_get(body, "endpoints");
	if (jeps && !json_is_array(jeps))
		return fail(out, 400, "endpoints", "endpoints must be an array");
	n = json_array_size(jeps);
	if (n > 1000)
		return fail(out, 400, "endpoints", "at most 1000 endpoints per record");
	eps = calloc(n ? n : 1, sizeof(*eps));
	epp = calloc(n ? n : 1, sizeof(*epp));
	if (!eps || !epp)
		return fail(out, 500, NULL, "out of memory");
	json_array_foreach(jeps, i, e)
	{
		Prescient__EndpointStats *ep = &eps[i];
		const char *role;
		static const char *const counters[] = {"count", "errors", "bytes_in", "bytes_out"};
		uint64_t *dst[] = {&ep->count, &ep->errors, &ep->bytes_in, &ep->bytes_out};

		prescient__endpoint_stats__init(ep);
		epp[i] = ep;
		ep->protocol = (char *)json_string_value(json_object_get(e, "protocol"));
		ep->endpoint = (char *)json_string_value(json_object_get(e, "endpoint"));
		if (!ep->protocol || !*ep->protocol || strlen(ep->protocol) > 32)
			return fail(out, 400, "endpoints.protocol",
				    "endpoints[%zu].protocol must be a non-empty string", i);
		if (!ep->endpoint || !*ep->endpoint || strlen(ep->endpoint) > 1024)
			return fail(out, 400, "endpoints.endpoint",
				    "endpoints[%zu].endpoint must be a non-empty string", i);
		role = json_string_value(json_object_get(e, "role"));
		if (json_object_get(e, "role") &&
		    (!role || (strcmp(role, "server") && strcmp(role, "client"))))
			return fail(out, 400, "endpoints.role",
				    "endpoints[%zu].role must be \"server\" or \"client\"", i);
		ep->role = (char *)(role ? role : "server");
		for (size_t k = 0; k < PSC_ARRAY_SIZE(counters); k++) {
			json_t *j = json_object_get(e, counters[k]);
			if (!j)
				continue;
			if (!json_is_integer(j) || json_integer_value(j) < 0)
				return fail(out, 400, counters[k],
					    "endpoints[%zu].%s must be an integer >= 0", i,
					    counters[k]);
			*dst[k] = (uint64_t)json_integer_value(j);
		}
		if (ep->errors > ep->count)
			return fail(out, 400, "errors", "endpoints[%zu].errors exceeds count", i);
	}
	if (asprintf(&host_id, "api:%s", host) < 0) {
		host_id = NULL;
		return fail(out, 500, NULL, "out of memory");
	}
	if (!a->store) {
		rc = psc_store_open(&a->store, a->db_path, NULL, err, sizeof(err));
		if (rc < 0) {
			psc_warn("AGG-API-STORE", "cannot open the store for ingest: %s", err);
			return fail(out, 500, NULL, "cannot open the store");
		}
	}
	seq = (uint64_t)(req->now * 1e6);
	if (seq <= a->last_seq)
		seq = a->last_seq + 1;
	a->last_seq = seq;
	r.schema_version = PSC_WIRE_SCHEMA_VERSION;
	r.host_id = host_id;
	r.agent_version = "api";
	r.seq = seq;
	r.n_workloads = 1;
	r.workloads = &wp;
	w.cgroup = (char *)workload;
	w.name = (char *)workload;
	w.cpu_s = isnan(cpu) ? 0 : cpu;
	w.mem_bytes = isnan(mem) ? 0 : (uint64_t)mem;
	w.missing = PSC_MISSING_THROTTLED | PSC_MISSING_MEM_PEAK | PSC_MISSING_IO |
		    PSC_MISSING_PSI_CPU | PSC_MISSING_PSI_MEM | PSC_MISSING_PSI_IO |
		    (isnan(cpu) ? PSC_MISSING_CPU : 0) | (isnan(mem) ? PSC_MISSING_MEM : 0);
	w.n_endpoints = n;
	w.endpoints = epp;
	rc = psc_store_report(a->store, &r, req->body_len, req->now, &res);
	if (rc < 0)
		return fail(out, 500, NULL, "cannot store the record: %s", strerror(-rc));
	if (res == PSC_STORE_STALE)
		return fail(out, 400, "window_end", "the window is older than the store keeps");
	*out = json_pack("{s:b,s:s,s:I}", "stored", res == PSC_STORE_STORED, "host", host_id, "seq",
			 (json_int_t)seq);
	return 202;
}

/* The forecast of @series at the horizon nearest @horizon_s, at confidence @c (the rule
 * in api.h). */
static int recommend(struct psc_api *a, int64_t id, const char *series, double horizon_s, double c,
		     double *value, double *used_h)
{
	_cleanup_stmt_ sqlite3_stmt *st =
		prep(a,
		     "SELECT horizon_s, p10, p50, p90 FROM %s WHERE workload_id = ?1"
		     " AND series = ?2 AND p50 IS NOT NULL ORDER BY abs(horizon_s - ?3) LIMIT 1",
		     rel(a, "forecasts"));
	double lo, med, hi, z9 = psc_api_norm_quantile(0.9), zc = psc_api_norm_quantile(c);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, series, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, horizon_s);
	if (sqlite3_step(st) != SQLITE_ROW)
		return -ENOENT;
	*used_h = sqlite3_column_double(st, 0);
	med = sqlite3_column_double(st, 2);
	lo = sqlite3_column_type(st, 1) == SQLITE_NULL ? med : sqlite3_column_double(st, 1);
	hi = sqlite3_column_type(st, 3) == SQLITE_NULL ? med : sqlite3_column_double(st, 3);
	*value = c >= 0.5 ? med + zc * fmax(hi - med, 0) / z9 : med + zc * fmax(med - lo, 0) / z9;
	if (*value < 0)
		*value = 0;
	return 0;
}

/* The explanation of one resource's recommendation (nothing is changed by it). */
static void explain_recommendation(const char *name, enum psc_resource r, double value,
				   double confidence, double lead_s, double limit, const char *file,
				   char *buf, size_t len)
{
	struct psc_explain_facts f = {
		.workload = name,
		.resource = r,
		.action = PSC_EXPLAIN_ALERT_ONLY,
		.usual = NAN,
		.predicted = value,
		.confidence = confidence,
		.lead_s = lead_s,
		.current_limit = limit,
		.new_limit = value,
		.file = file,
		.cost_per_hour = NAN,
		.why_not = "this is a recommendation only (POST /allocation/request)",
	};

	psc_explain(&f, buf, len);
}

static unsigned post_allocation(struct psc_api *a, const struct psc_api_request *req, json_t *body,
				json_t **out)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	double c, h, cpu = NAN, mem = NAN, hc = NAN, hm = NAN;
	double cpu_lim = 0, mem_lim = 0;
	char name[NAME_MAX_LEN] = "", ec[1024] = "", em[1024] = "";
	int64_t id;
	int rc, rm;

	if (get_id(body, "workload_id", &id) < 0)
		return fail(out, 400, "workload_id", "workload_id must be a positive integer");
	if (get_num(body, "confidence", 0.99, &c) < 0 || !(c > 0 && c < 1))
		return fail(out, 400, "confidence", "confidence must be a number in (0, 1)");
	if (get_num(body, "horizon_s", 300, &h) < 0 || h <= 0 || h > 7 * 86400)
		return fail(out, 400, "horizon_s", "horizon_s must be a number in (0, 604800]");
	st = prep(a, "SELECT coalesce(nullif(w.name, ''), w.cgroup), l.cpu_max_cores,"
		     " l.memory_high FROM workloads w LEFT JOIN workload_limits l"
		     " ON l.workload_id = w.id WHERE w.id = ?1");
	if (!st)
		return db_fail(a, out);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW)
		return fail(out, 404, "workload_id", "no workload %lld", (long long)id);
	snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(st, 0));
	cpu_lim = sqlite3_column_double(st, 1);
	mem_lim = sqlite3_column_double(st, 2);

	rc = recommend(a, id, "cpu", h, c, &cpu, &hc);
	rm = recommend(a, id, "mem", h, c, &mem, &hm);
	if (rc == -EIO || rm == -EIO)
		return db_fail(a, out);
	if (rc < 0 && rm < 0)
		return fail(out, 409, "workload_id",
			    "no forecast yet for workload %lld (the modeling engine needs a few "
			    "steps of history)",
			    (long long)id);
	if (rc == 0)
		explain_recommendation(name, PSC_RES_CPU, cpu, c, hc, cpu_lim, "cpu.max", ec,
				       sizeof(ec));
	if (rm == 0)
		explain_recommendation(name, PSC_RES_MEMORY, mem, c, hm, mem_lim, "memory.high", em,
				       sizeof(em));
	*out = json_pack("{s:I,s:f,s:f,s:o,s:o,s:o,s:s+++}", "workload_id", (json_int_t)id,
			 "confidence", c, "horizon_s", h, "forecast_horizon_s",
			 num_or_null(rc == 0 ? hc : hm), "cpu_cores", num_or_null(cpu), "mem_bytes",
			 isfinite(mem) ? json_integer((json_int_t)ceil(mem)) : json_null(),
			 "explanation", ec, ec[0] && em[0] ? " " : "", em, "");
	if (!*out)
		return fail(out, 500, NULL, "out of memory");
	return 200;
}

static const char *const constraint_keys[] = {"cpu_min", "cpu_max", "cpu_fixed",
					      "mem_min", "mem_max", "mem_fixed"};

static unsigned post_model_update(struct psc_api *a, const struct psc_api_request *req,
				  json_t *body, json_t **out)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	json_t *cons = json_object_get(body, "constraints"),
	       *fb = json_object_get(body, "feedback");
	json_t *res, *j;
	const char *key;
	int64_t id, fid = 0;
	unsigned s;

	if (get_id(body, "workload_id", &id) < 0)
		return fail(out, 400, "workload_id", "workload_id must be a positive integer");
	if (!cons && !fb)
		return fail(out, 400, "constraints", "give constraints and/or feedback");
	if (cons && !json_is_object(cons))
		return fail(out, 400, "constraints", "constraints must be an object");
	json_object_foreach(cons, key, j)
	{
		bool known = false;
		for (size_t i = 0; i < PSC_ARRAY_SIZE(constraint_keys); i++)
			known |= !strcmp(key, constraint_keys[i]);
		if (!known)
			return fail(out, 400, key,
				    "unknown constraint '%s' (cpu_min, cpu_max, "
				    "cpu_fixed, mem_min, mem_max, mem_fixed)",
				    key);
		if (!json_is_null(j) && (!json_is_number(j) || !(json_number_value(j) >= 0) ||
					 !isfinite(json_number_value(j))))
			return fail(out, 400, key, "%s must be a number >= 0 or null", key);
	}
	if (!workload_exists(a, id))
		return fail(out, 404, "workload_id", "no workload %lld", (long long)id);
	if (cons && !table_exists(a, "workload_constraints"))
		return fail(out, 503, NULL,
			    "constraints are not accepted: the allocation is not running");
	if (fb) {
		s = feedback(a, fb, req->now, out, &fid);
		if (s != 201)
			return s;
	}
	res = json_pack("{s:I}", "workload_id", (json_int_t)id);
	if (fid)
		json_object_set_new(res, "feedback_id", json_integer(fid));
	if (!cons) {
		*out = res;
		return 200;
	}
	if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		json_decref(res);
		return db_fail(a, out);
	}
	st = prep(a, "INSERT INTO workload_constraints (workload_id, updated_at) VALUES (?1, ?2)"
		     " ON CONFLICT (workload_id) DO UPDATE SET updated_at = excluded.updated_at");
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_double(st, 2, req->now);
	}
	bool ok = st && sqlite3_step(st) == SQLITE_DONE;
	json_object_foreach(cons, key, j)
	{
		sqlite3_finalize(st);
		/* @key is one of constraint_keys (checked above), never free text. */
		st = ok ? prep(a, "UPDATE workload_constraints SET %s = ?2 WHERE workload_id = ?1",
			       key)
			: NULL;
		if (!st) {
			ok = false;
			break;
		}
		sqlite3_bind_int64(st, 1, id);
		if (json_is_null(j) || json_number_value(j) == 0)
			sqlite3_bind_null(st, 2);
		else
			sqlite3_bind_double(st, 2, json_number_value(j));
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (!ok || sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
		json_decref(res);
		return db_fail(a, out);
	}
	st = prep(a, "SELECT cpu_min, cpu_max, cpu_fixed, mem_min, mem_max, mem_fixed"
		     " FROM workload_constraints WHERE workload_id = ?1");
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			json_object_set_new(res, "constraints", row_obj(st));
	}
	psc_info("AGG-API-CONSTRAINTS", "constraints of workload %lld updated", (long long)id);
	*out = res;
	return 200;
}

/* --- routing --- */

bool psc_api_owns(const char *path)
{
	static const char *const prefixes[] = {"/api/", "/behavioralData/", "/allocation/",
					       "/model/"};

	for (size_t i = 0; i < PSC_ARRAY_SIZE(prefixes); i++)
		if (!strncmp(path, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

/* Constant time in the token's length: no early exit on the first differing byte. */
static bool token_ok(const struct psc_api *a, const char *auth)
{
	size_t tl, al;
	unsigned char d = 0;

	if (!a->token || !auth || strncmp(auth, "Bearer ", 7))
		return false;
	auth += 7;
	tl = strlen(a->token);
	al = strlen(auth);
	for (size_t i = 0; i < tl; i++)
		d |= (unsigned char)a->token[i] ^ (unsigned char)(i < al ? auth[i] : 0);
	return d == 0 && al == tl;
}

enum route {
	R_NONE,
	R_WORKLOADS,
	R_WORKLOAD,
	R_CLUSTERS,
	R_ALERTS,
	R_ADJUSTMENTS,
	R_FEEDBACK,
	R_INGEST,
	R_ALLOCATION,
	R_MODEL
};

static enum route route_of(const char *path, bool *post, const char **arg)
{
	static const struct {
		const char *path;
		enum route r;
		bool post;
	} routes[] = {
		{"/api/v1/workloads", R_WORKLOADS, false},
		{"/api/v1/clusters", R_CLUSTERS, false},
		{"/api/v1/alerts", R_ALERTS, false},
		{"/api/v1/adjustments", R_ADJUSTMENTS, false},
		{"/api/v1/feedback", R_FEEDBACK, true},
		{"/behavioralData/ingest", R_INGEST, true},
		{"/allocation/request", R_ALLOCATION, true},
		{"/model/update", R_MODEL, true},
	};
	static const char wl[] = "/api/v1/workloads/";

	for (size_t i = 0; i < PSC_ARRAY_SIZE(routes); i++)
		if (!strcmp(path, routes[i].path)) {
			*post = routes[i].post;
			return routes[i].r;
		}
	if (!strncmp(path, wl, sizeof(wl) - 1) && path[sizeof(wl) - 1] &&
	    !strchr(path + sizeof(wl) - 1, '/')) {
		*post = false;
		*arg = path + sizeof(wl) - 1;
		return R_WORKLOAD;
	}
	return R_NONE;
}

static unsigned dispatch(struct psc_api *a, const struct psc_api_request *req, json_t **out)
{
	const char *arg = NULL;
	bool post = false, is_get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
	enum route r = route_of(req->path, &post, &arg);
	_cleanup_json_ json_t *body = NULL;
	json_error_t jerr;

	if (r == R_NONE)
		return fail(out, 404, NULL, "no such API path: %s", req->path);
	if (post ? strcmp(req->method, "POST") : !is_get)
		return fail(out, 405, NULL, "%s needs %s", req->path, post ? "POST" : "GET");
	if (post && !a->token)
		return fail(out, 403, NULL, "no API token configured (--api-token-file)");
	if ((post || !a->open_reads) && !token_ok(a, req->authorization))
		return fail(out, 401, "Authorization",
			    "a valid \"Authorization: Bearer TOKEN\" "
			    "header is needed");
	if (post) {
		body = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES,
				  &jerr);
		if (!body)
			return fail(out, 400, "body", "invalid JSON: %s (line %d)", jerr.text,
				    jerr.line);
		if (!json_is_object(body))
			return fail(out, 400, "body", "the body must be a JSON object");
	}
	switch (r) {
	case R_WORKLOADS:
		return get_workloads(a, req, out);
	case R_WORKLOAD:
		return get_workload(a, req, arg, out);
	case R_CLUSTERS:
		return get_clusters(a, out);
	case R_ALERTS:
		return get_alerts(a, req, out);
	case R_ADJUSTMENTS:
		return get_adjustments(a, req, out);
	case R_FEEDBACK:
		return post_feedback(a, req, body, out);
	case R_INGEST:
		return post_ingest(a, req, body, out);
	case R_ALLOCATION:
		return post_allocation(a, req, body, out);
	case R_MODEL:
		return post_model_update(a, req, body, out);
	default:
		return fail(out, 404, NULL, "no such API path: %s", req->path);
	}
}

int psc_api_handle(struct psc_api *a, const struct psc_api_request *req,
		   struct psc_api_response *resp)
{
	json_t *out = NULL;

	pthread_mutex_lock(&a->lock);
	resp->status = dispatch(a, req, &out);
	pthread_mutex_unlock(&a->lock);
	if (!out)
		out = err_json("out of memory", NULL);
	resp->body = out ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
	json_decref(out);
	return resp->body ? 0 : -ENOMEM;
}

/* --- setup --- */

int psc_api_new(struct psc_api **out, const struct psc_api_options *opt, char *err, size_t errlen)
{
	struct psc_api *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	a->open_reads = opt->open_reads;
	a->db_path = strdup(opt->db_path);
	a->token = opt->token ? strdup(opt->token) : NULL;
	if (!a->db_path || (opt->token && !a->token)) {
		psc_api_free(&a);
		return -ENOMEM;
	}
	if (sqlite3_open_v2(opt->db_path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "API: cannot open %s: %s", opt->db_path,
			 a->db ? sqlite3_errmsg(a->db) : "out of memory");
		psc_api_free(&a);
		return -EIO;
	}
	sqlite3_busy_timeout(a->db, BUSY_TIMEOUT_MS);
	*out = a;
	return 0;
}

void psc_api_free(struct psc_api **ap)
{
	struct psc_api *a = *ap;

	if (!a)
		return;
	psc_store_close(&a->store);
	sqlite3_close(a->db);
	pthread_mutex_destroy(&a->lock);
	if (a->token)
		explicit_bzero(a->token, strlen(a->token));
	free(a->token);
	free(a->db_path);
	free(a);
	*ap = NULL;
}

int psc_api_read_token(const char *path, char **token, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[1024];
	struct stat st;
	ssize_t n;

	if (fd < 0) {
		snprintf(err, errlen, "cannot read the API token file %s: %s", path,
			 strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
		return -errno;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "the API token file %s is accessible by group or others (mode %03o): "
			 "chmod 600 it",
			 path, (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -errno;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	if (n == 0 || strlen(buf) != (size_t)n) {
		snprintf(err, errlen, "the API token file %s is empty", path);
		return -EINVAL;
	}
	*token = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return *token ? 0 : -ENOMEM;
}

bool psc_api_addr_is_loopback(const char *addr)
{
	struct sockaddr_storage sa;
	unsigned len;

	if (psc_metrics_parse_addr(addr, &sa, &len) < 0)
		return false;
	if (sa.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&sa)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&sa)->sin6_addr);
}
