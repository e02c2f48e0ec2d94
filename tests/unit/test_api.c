// SPDX-License-Identifier: MIT
/* The JSON API (aggregator/api.c) called directly: a real store filled through the store
 * API, the modeling engine's and the allocation's tables created by their own modules,
 * rows of theirs (forecasts, clusters, alerts) written with SQL, signed adjustments
 * through the store API; every endpoint, the access rules and the error cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "allocation.h"
#include "api.h"
#include "log.h"
#include "modeling.h"
#include "store.h"
#include "wire.h"

#define T0    1800000000.0
#define TOKEN "t0ken-for-tests"
#define AUTH  "Bearer " TOKEN

static char dir[256], db[300];
static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

/* Host h1: /demo/web (managed, cpu.max 1 core, memory.high 512 MiB, an HTTP endpoint) and
 * /other (no limits), 40 windows of 10 s from T0. */
static void fill(struct psc_store *s)
{
	for (uint64_t seq = 1; seq <= 40; seq++) {
		Prescient__HostReport r = PRESCIENT__HOST_REPORT__INIT;
		Prescient__WorkloadWindow w[2], *wp[2] = {&w[0], &w[1]};
		Prescient__EndpointStats ep = PRESCIENT__ENDPOINT_STATS__INIT, *epp = &ep;
		Prescient__Targets lim = PRESCIENT__TARGETS__INIT;
		enum psc_store_result res;

		r.schema_version = PSC_WIRE_SCHEMA_VERSION;
		r.host_id = "h1";
		r.agent_version = "t";
		r.seq = seq;
		r.window_start = T0 + 10.0 * (double)(seq - 1);
		r.window_end = r.window_start + 10;
		r.n_workloads = 2;
		r.workloads = wp;
		for (int i = 0; i < 2; i++) {
			prescient__workload_window__init(&w[i]);
			w[i].cgroup = i ? "/other" : "/demo/web";
			w[i].name = i ? "other" : "web";
			w[i].cpu_s = i ? 2.0 : 5.0; /* 0.2 and 0.5 cores */
			w[i].mem_bytes = i ? 100000000 : 200000000 + seq;
			w[i].net_rx_bytes = 1000;
			w[i].net_tx_bytes = 1000;
			w[i].missing = PSC_MISSING_PSI_IO;
		}
		ep.protocol = "http";
		ep.role = "server";
		ep.endpoint = "GET /api/orders/{id}";
		ep.count = 100;
		ep.errors = 2;
		w[0].n_endpoints = 1;
		w[0].endpoints = &epp;
		lim.cpu_max_cores = 1.0;
		lim.memory_high_bytes = 512ull << 20;
		w[0].limits = &lim;
		w[0].managed = true;
		assert_int_equal(psc_store_report(s, &r, 100, r.window_end + 1, &res), 0);
		assert_int_equal(res, PSC_STORE_STORED);
	}
}

static void exec(const char *sqltext)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sqltext, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static double qd(const char *sqltext)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	double v = NAN;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sqltext, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void add_adjustment(struct psc_store *s, uint64_t id)
{
	Prescient__Adjustment adj = PRESCIENT__ADJUSTMENT__INIT;
	Prescient__Targets t = PRESCIENT__TARGETS__INIT;
	Prescient__SignedAdjustment sa = PRESCIENT__SIGNED_ADJUSTMENT__INIT;

	adj.id = id;
	adj.host_id = "h1";
	adj.workload = "/demo/web";
	adj.reason = "Raised cpu.max to 1.5 cores.";
	adj.issued_at = T0 + 400;
	adj.expires_at = T0 + 460;
	adj.tier = "predictive";
	t.cpu_max_cores = 1.5;
	t.memory_high_bytes = 600ull << 20;
	adj.targets = &t;
	assert_int_equal(psc_wire_adjustment_sign(&adj, sk, &sa), 0);
	assert_int_equal(psc_store_adjustment_add(s, &sa), 0);
	psc_wire_signed_clear(&sa);
}

struct fx {
	struct psc_store *store;
	struct psc_api *api; /* token, reads open */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	snprintf(dir, sizeof(dir), "/tmp/psc-test-api-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/db", dir);
	assert_int_equal(psc_store_open(&f->store, db, NULL, err, sizeof(err)), 0);
	fill(f->store);
	assert_int_equal(psc_api_new(&f->api,
				     &(struct psc_api_options){
					     .db_path = db, .token = TOKEN, .open_reads = true},
				     err, sizeof(err)),
			 0);
	*state = f;
	return 0;
}

/* The modeling engine's and the allocation's tables, created by them. */
static void create_model_tables(void)
{
	struct psc_modeling_options mo = psc_modeling_options_default();
	struct psc_allocation_options ao = psc_allocation_options_default();
	struct psc_modeling *m = NULL;
	struct psc_allocation *a = NULL;
	char err[256];

	assert_int_equal(psc_modeling_new(&m, db, &mo, err, sizeof(err)), 0);
	assert_int_equal(psc_allocation_new(&a, db, &ao, sk, err, sizeof(err)), 0);
	psc_allocation_free(&a);
	psc_modeling_free(&m);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[300];

	psc_api_free(&f->api);
	psc_store_close(&f->store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Calls the API; returns the parsed body (owned by the caller) and checks the status. */
static json_t *call(struct psc_api *api, const char *method, const char *path, const char *query,
		    const char *auth, const char *body, unsigned want)
{
	struct psc_api_response resp = {0};
	json_error_t e;
	json_t *j;

	assert_int_equal(
		psc_api_handle(api,
			       &(struct psc_api_request){.method = method,
							 .path = path,
							 .query = query,
							 .authorization = auth,
							 .body = body,
							 .body_len = body ? strlen(body) : 0,
							 .now = T0 + 500},
			       &resp),
		0);
	j = json_loads(resp.body, 0, &e);
	if (resp.status != want)
		fprintf(stderr, "%s %s: %u %s\n", method, path, resp.status, resp.body);
	assert_int_equal(resp.status, want);
	free(resp.body);
	assert_non_null(j);
	return j;
}

static const char *field_of(json_t *j)
{
	assert_non_null(json_string_value(json_object_get(j, "error")));
	return json_string_value(json_object_get(j, "field"));
}

/* A call answered @want with an error naming @field. */
static void expect_error(struct psc_api *api, const char *method, const char *path,
			 const char *query, const char *auth, const char *body, unsigned want,
			 const char *field)
{
	json_t *j = call(api, method, path, query, auth, body, want);

	assert_string_equal(field_of(j), field);
	json_decref(j);
}

static void expect_status(struct psc_api *api, const char *method, const char *path,
			  const char *query, const char *auth, const char *body, unsigned want)
{
	json_decref(call(api, method, path, query, auth, body, want));
}

static void test_workloads(void **state)
{
	struct fx *f = *state;
	json_t *j = call(f->api, "GET", "/api/v1/workloads", NULL, NULL, NULL, 200);
	json_t *ws = json_object_get(j, "workloads"), *w0 = json_array_get(ws, 0),
	       *w1 = json_array_get(ws, 1), *lim;

	assert_int_equal(json_array_size(ws), 2);
	assert_string_equal(json_string_value(json_object_get(w0, "host")), "h1");
	assert_string_equal(json_string_value(json_object_get(w0, "cgroup")), "/demo/web");
	assert_string_equal(json_string_value(json_object_get(w0, "name")), "web");
	assert_true(json_is_true(json_object_get(w0, "managed")));
	assert_true(json_is_false(json_object_get(w1, "managed")));
	assert_float_equal(json_number_value(json_object_get(w0, "cpu_cores")), 0.5, 1e-9);
	assert_int_equal(json_integer_value(json_object_get(w0, "mem_bytes")), 200000040);
	assert_float_equal(json_number_value(json_object_get(w0, "first_seen")), T0 + 11, 1);
	lim = json_object_get(w0, "limits");
	assert_float_equal(json_number_value(json_object_get(lim, "cpu_max_cores")), 1.0, 1e-9);
	assert_int_equal(json_integer_value(json_object_get(lim, "memory_high")), 512 << 20);
	assert_true(json_is_null(json_object_get(w1, "limits")));
	/* No modeling tables yet: read as empty. */
	assert_true(json_is_null(json_object_get(w0, "cluster")));
	assert_int_equal(json_integer_value(json_object_get(w0, "open_alerts")), 0);
	json_decref(j);
}

static void test_workload_detail(void **state)
{
	struct fx *f = *state;
	json_t *j, *h, *eps;

	create_model_tables();
	exec("INSERT INTO forecasts VALUES (1, 'cpu', 300, 1800000700, 1800000400, 0.4, 0.6, 0.9,"
	     " 'holt_winters');"
	     "INSERT INTO detections (workload_id, series, ts, score, source, direction, detail,"
	     " detected_at) VALUES (1, 'cpu', 1800000300, 0.8, 'cpu', 1, 'up 2x', 1800000301);"
	     "INSERT INTO classes VALUES (1, 'web', 0.7, 'serves HTTP', 1800000400);"
	     "INSERT INTO clusters VALUES (1, 0, 'kmeans', 0.5, 1, 1800000400);");
	j = call(f->api, "GET", "/api/v1/workloads/1", NULL, NULL, NULL, 200);
	h = json_object_get(j, "history");
	assert_int_equal(json_array_size(json_object_get(h, "ts")), 40);
	assert_float_equal(json_number_value(json_array_get(json_object_get(h, "ts"), 0)), T0,
			   1e-6);
	assert_float_equal(json_number_value(json_array_get(json_object_get(h, "cpu_cores"), 3)),
			   0.5, 1e-9);
	assert_float_equal(json_number_value(json_array_get(json_object_get(h, "req_per_s"), 3)),
			   10, 1e-9);
	assert_float_equal(
		json_number_value(json_array_get(json_object_get(h, "net_bytes_per_s"), 3)), 200,
		1e-9);
	assert_int_equal(json_array_size(json_object_get(j, "forecasts")), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(j, "forecasts"), 0), "model")),
			    "holt_winters");
	assert_int_equal(json_array_size(json_object_get(j, "detections")), 1);
	assert_int_equal(json_array_size(json_object_get(j, "limits_history")), 1);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(j, "class"), "class")), "web");
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(j, "workload"), "cluster")), 0);
	eps = json_object_get(j, "endpoints");
	assert_int_equal(json_array_size(eps), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(eps, 0), "count")),
			 4000);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(eps, 0), "errors")), 80);
	json_decref(j);

	/* since narrows every series; the other workload has no class. */
	j = call(f->api, "GET", "/api/v1/workloads/1", "since=1800000300", NULL, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(json_object_get(j, "history"), "ts")), 10);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(j, "endpoints"), 0), "count")),
			 1000);
	json_decref(j);
	j = call(f->api, "GET", "/api/v1/workloads/2", "tier=5m", NULL, NULL, 200);
	assert_true(json_is_null(json_object_get(j, "class")));
	assert_string_equal(json_string_value(json_object_get(j, "tier")), "5m");
	json_decref(j);

	expect_error(f->api, "GET", "/api/v1/workloads/99", NULL, NULL, NULL, 404, "id");
	expect_error(f->api, "GET", "/api/v1/workloads/abc", NULL, NULL, NULL, 400, "id");
	expect_error(f->api, "GET", "/api/v1/workloads/1", "tier=2h", NULL, NULL, 400, "tier");
	expect_error(f->api, "GET", "/api/v1/workloads/1", "since=yesterday", NULL, NULL, 400,
		     "since");
}

static void test_clusters(void **state)
{
	struct fx *f = *state;
	json_t *j, *c;

	j = call(f->api, "GET", "/api/v1/clusters", NULL, NULL, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "clusters")), 0);
	json_decref(j);
	create_model_tables();
	exec("INSERT INTO clusters VALUES (1, 3, 'kmeans', 0.6, 2, 1800000400);"
	     "INSERT INTO clusters VALUES (2, 3, 'kmeans', 0.6, 2, 1800000400);"
	     "INSERT INTO cluster_moves (ts, cycle, workload_id, from_cluster, to_cluster)"
	     " VALUES (1800000400, 2, 2, 1, 3);");
	j = call(f->api, "GET", "/api/v1/clusters", NULL, NULL, NULL, 200);
	c = json_array_get(json_object_get(j, "clusters"), 0);
	assert_int_equal(json_array_size(json_object_get(j, "clusters")), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "cluster")), 3);
	assert_string_equal(json_string_value(json_object_get(c, "method")), "kmeans");
	assert_int_equal(json_array_size(json_object_get(c, "members")), 2);
	assert_int_equal(json_array_size(json_object_get(j, "moves")), 1);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(j, "moves"), 0), "to_cluster")),
			 3);
	json_decref(j);
}

static void test_alerts_feedback(void **state)
{
	struct fx *f = *state;
	json_t *j, *a;

	/* Without the allocation's tables: alerts empty, feedback not accepted. */
	j = call(f->api, "GET", "/api/v1/alerts", NULL, NULL, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "alerts")), 0);
	json_decref(j);
	expect_status(f->api, "POST", "/api/v1/feedback", NULL, AUTH,
		      "{\"kind\":\"alert\",\"id\":1,\"verdict\":\"wrong\"}", 503);

	create_model_tables();
	exec("INSERT INTO alerts (ts, workload_id, host, kind, score, text) VALUES"
	     " (1800000100, 1, 'h1', 'shift', 0.9, 'CPU is up'),"
	     " (1800000200, 1, 'h1', 'raise', 0.7, 'Raised cpu.max'),"
	     " (1800000300, 2, 'h1', 'shift', 0.6, 'memory is up');");
	j = call(f->api, "GET", "/api/v1/alerts", NULL, NULL, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "alerts")), 3);
	a = json_array_get(json_object_get(j, "alerts"), 0); /* newest first */
	assert_string_equal(json_string_value(json_object_get(a, "text")), "memory is up");
	assert_true(json_is_null(json_object_get(a, "feedback")));
	json_decref(j);
	j = call(f->api, "GET", "/api/v1/alerts", "limit=1&since=1800000150", NULL, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "alerts")), 1);
	json_decref(j);
	j = call(f->api, "GET", "/api/v1/alerts", "since=1800000150", NULL, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "alerts")), 2);
	json_decref(j);
	expect_error(f->api, "GET", "/api/v1/alerts", "limit=0", NULL, NULL, 400, "limit");

	j = call(f->api, "POST", "/api/v1/feedback", NULL, AUTH,
		 "{\"kind\":\"alert\",\"id\":1,\"verdict\":\"wrong\",\"note\":\"load test\"}", 201);
	assert_true(json_integer_value(json_object_get(j, "feedback_id")) > 0);
	json_decref(j);
	assert_float_equal(qd("SELECT count(*) FROM feedback WHERE kind = 'alert' AND ref_id = 1"
			      " AND verdict = 'wrong' AND note = 'load test' AND applied = 0"),
			   1, 0);
	j = call(f->api, "GET", "/api/v1/alerts", "limit=10", NULL, NULL, 200);
	a = json_array_get(json_object_get(j, "alerts"), 2);
	assert_string_equal(json_string_value(json_object_get(a, "feedback")), "wrong");
	json_decref(j);
	/* The alert with feedback is no longer open; the other of workload 1 is. */
	j = call(f->api, "GET", "/api/v1/workloads", NULL, NULL, NULL, 200);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_array_get(json_object_get(j, "workloads"), 0), "open_alerts")),
		1);
	json_decref(j);

	expect_error(f->api, "POST", "/api/v1/feedback", NULL, AUTH,
		     "{\"kind\":\"alert\",\"id\":1,\"verdict\":\"maybe\"}", 400, "verdict");
	expect_error(f->api, "POST", "/api/v1/feedback", NULL, AUTH,
		     "{\"kind\":\"nothing\",\"id\":1,\"verdict\":\"right\"}", 400, "kind");
	expect_error(f->api, "POST", "/api/v1/feedback", NULL, AUTH,
		     "{\"kind\":\"alert\",\"id\":\"1\",\"verdict\":\"right\"}", 400, "id");
	expect_error(f->api, "POST", "/api/v1/feedback", NULL, AUTH,
		     "{\"kind\":\"adjustment\",\"id\":77,\"verdict\":\"right\"}", 404, "id");
}

static void test_adjustments(void **state)
{
	struct fx *f = *state;
	json_t *j, *a, *t;

	add_adjustment(f->store, 1000);
	add_adjustment(f->store, 1001);
	exec("UPDATE adjustments SET outcome = 1, outcome_detail = 'ok', outcome_at = 1800000420"
	     " WHERE id = 1000");
	j = call(f->api, "GET", "/api/v1/adjustments", NULL, NULL, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "adjustments")), 2);
	a = json_array_get(json_object_get(j, "adjustments"), 1);
	assert_int_equal(json_integer_value(json_object_get(a, "id")), 1000);
	assert_string_equal(json_string_value(json_object_get(a, "outcome")), "APPLIED");
	assert_string_equal(json_string_value(json_object_get(a, "tier")), "predictive");
	assert_string_equal(json_string_value(json_object_get(a, "workload")), "/demo/web");
	t = json_object_get(a, "targets");
	assert_float_equal(json_number_value(json_object_get(t, "cpu_max_cores")), 1.5, 1e-9);
	assert_int_equal(json_integer_value(json_object_get(t, "memory_high")), 600 << 20);
	assert_null(json_object_get(t, "memory_max")); /* 0 = unchanged: left out */
	assert_true(json_is_null(
		json_object_get(json_array_get(json_object_get(j, "adjustments"), 0), "outcome")));
	json_decref(j);
	j = call(f->api, "GET", "/api/v1/adjustments", "limit=1", NULL, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "adjustments")), 1);
	json_decref(j);
	j = call(f->api, "GET", "/api/v1/workloads/1", NULL, NULL, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "adjustments")), 2);
	json_decref(j);
	j = call(f->api, "GET", "/api/v1/workloads/2", NULL, NULL, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "adjustments")), 0);
	json_decref(j);
	expect_error(f->api, "GET", "/api/v1/adjustments", "limit=x", NULL, NULL, 400, "limit");

	create_model_tables();
	expect_status(f->api, "POST", "/api/v1/feedback", NULL, AUTH,
		      "{\"kind\":\"adjustment\",\"id\":1000,\"verdict\":\"right\"}", 201);
	assert_float_equal(qd("SELECT count(*) FROM feedback WHERE kind = 'adjustment'"
			      " AND ref_id = 1000 AND verdict = 'right'"),
			   1, 0);
}

static void test_ingest(void **state)
{
	struct fx *f = *state;
	json_t *j, *ws;
	bool found = false;
	size_t i;

	j = call(f->api, "POST", "/behavioralData/ingest", NULL, AUTH,
		 "{\"host\":\"phone-7\",\"workload\":\"checkout-app\",\"window_start\":1800000300,"
		 "\"window_end\":1800000310,\"cpu_s\":1.5,\"endpoints\":[{\"protocol\":\"http\","
		 "\"endpoint\":\"POST /pay\",\"count\":12,\"errors\":1,\"bytes_in\":100,"
		 "\"bytes_out\":200}]}",
		 202);
	assert_true(json_is_true(json_object_get(j, "stored")));
	json_decref(j);
	/* A second record of the same host gets a higher seq. */
	j = call(f->api, "POST", "/behavioralData/ingest", NULL, AUTH,
		 "{\"host\":\"phone-7\",\"workload\":\"checkout-app\",\"window_start\":1800000310,"
		 "\"window_end\":1800000320,\"mem_bytes\":1000}",
		 202);
	json_decref(j);
	assert_float_equal(qd("SELECT count(*) FROM reports WHERE host = 'api:phone-7'"), 2, 0);
	assert_float_equal(qd("SELECT sum(count) FROM endpoint_series es JOIN endpoints e ON"
			      " e.id = es.endpoint_id WHERE e.endpoint = 'POST /pay'"),
			   12, 0);
	j = call(f->api, "GET", "/api/v1/workloads", NULL, NULL, NULL, 200);
	ws = json_object_get(j, "workloads");
	for (i = 0; i < json_array_size(ws); i++) {
		json_t *w = json_array_get(ws, i);
		if (!strcmp(json_string_value(json_object_get(w, "host")), "api:phone-7")) {
			found = true;
			assert_string_equal(json_string_value(json_object_get(w, "cgroup")),
					    "checkout-app");
		}
	}
	assert_true(found);
	json_decref(j);
	/* Missing CPU is stored as unknown, not 0. */
	assert_float_equal(qd("SELECT count(*) FROM workload_series s JOIN workloads w ON"
			      " w.id = s.workload_id WHERE w.cgroup = 'checkout-app'"
			      " AND s.tier = 0 AND s.cpu_s IS NULL"),
			   1, 0);

	j = call(f->api, "POST", "/behavioralData/ingest", NULL, AUTH,
		 "{\"host\":\"p\",\"workload\":\"w\",\"window_start\":1800000310,"
		 "\"window_end\":1800000300}",
		 400);
	assert_string_equal(field_of(j), "window_end");
	json_decref(j);
	expect_error(f->api, "POST", "/behavioralData/ingest", NULL, AUTH,
		     "{\"workload\":\"w\",\"window_start\":1,\"window_end\":2}", 400, "host");
	j = call(f->api, "POST", "/behavioralData/ingest", NULL, AUTH,
		 "{\"host\":\"p\",\"workload\":\"w\",\"window_start\":1800000300,"
		 "\"window_end\":1800000310,\"endpoints\":[{\"protocol\":\"http\","
		 "\"endpoint\":\"GET /\",\"count\":-1}]}",
		 400);
	assert_string_equal(field_of(j), "count");
	json_decref(j);
	j = call(f->api, "POST", "/behavioralData/ingest", NULL, AUTH,
		 "{\"host\":\"p\",\"workload\":\"w\",\"window_start\":1800000300,"
		 "\"window_end\":1800000310,\"cpu_s\":\"lots\"}",
		 400);
	assert_string_equal(field_of(j), "cpu_s");
	json_decref(j);
}

static void test_allocation_request(void **state)
{
	struct fx *f = *state;
	json_t *j;
	double p90 = 0.9, p50 = 0.6, z9 = psc_api_norm_quantile(0.9);

	/* No forecast tables yet: nothing to recommend from. */
	expect_error(f->api, "POST", "/allocation/request", NULL, AUTH, "{\"workload_id\":1}", 409,
		     "workload_id");
	create_model_tables();
	exec("INSERT INTO forecasts VALUES (1, 'cpu', 10, 1800000410, 1800000400, 0.1, 0.2, 0.3,"
	     " 'ar');"
	     "INSERT INTO forecasts VALUES (1, 'cpu', 300, 1800000700, 1800000400, 0.4, 0.6, 0.9,"
	     " 'holt_winters');"
	     "INSERT INTO forecasts VALUES (1, 'mem', 300, 1800000700, 1800000400, 1e8, 2e8, 3e8,"
	     " 'holt_winters');");
	j = call(f->api, "POST", "/allocation/request", NULL, AUTH,
		 "{\"workload_id\":1,\"confidence\":0.9,\"horizon_s\":250}", 200);
	assert_float_equal(json_number_value(json_object_get(j, "cpu_cores")), p90, 1e-9);
	assert_float_equal(json_number_value(json_object_get(j, "forecast_horizon_s")), 300, 0);
	assert_int_equal(json_integer_value(json_object_get(j, "mem_bytes")), 300000000);
	assert_non_null(strstr(json_string_value(json_object_get(j, "explanation")), "web"));
	assert_non_null(strstr(json_string_value(json_object_get(j, "explanation")), "90%"));
	json_decref(j);
	/* The two-piece normal of api.h: 0.99 lies above p90 by (z(.99)/z(.9)) x (p90 - p50). */
	j = call(f->api, "POST", "/allocation/request", NULL, AUTH,
		 "{\"workload_id\":1,\"confidence\":0.99}", 200);
	assert_float_equal(json_number_value(json_object_get(j, "cpu_cores")),
			   p50 + psc_api_norm_quantile(0.99) / z9 * (p90 - p50), 1e-6);
	assert_float_equal(json_number_value(json_object_get(j, "horizon_s")), 300, 0);
	json_decref(j);
	j = call(f->api, "POST", "/allocation/request", NULL, AUTH,
		 "{\"workload_id\":1,\"confidence\":0.5,\"horizon_s\":5}", 200);
	assert_float_equal(json_number_value(json_object_get(j, "cpu_cores")), 0.2, 1e-6);
	json_decref(j);

	expect_error(f->api, "POST", "/allocation/request", NULL, AUTH,
		     "{\"workload_id\":1,\"confidence\":1.5}", 400, "confidence");
	expect_error(f->api, "POST", "/allocation/request", NULL, AUTH,
		     "{\"workload_id\":1,\"horizon_s\":0}", 400, "horizon_s");
	expect_error(f->api, "POST", "/allocation/request", NULL, AUTH, "{\"workload_id\":42}", 404,
		     "workload_id");
}

static void test_model_update(void **state)
{
	struct fx *f = *state;
	json_t *j, *c;

	expect_status(f->api, "POST", "/model/update", NULL, AUTH,
		      "{\"workload_id\":1,\"constraints\":{\"cpu_max\":2}}", 503);
	create_model_tables();
	j = call(f->api, "POST", "/model/update", NULL, AUTH,
		 "{\"workload_id\":1,\"constraints\":{\"cpu_max\":2,\"mem_min\":1e8}}", 200);
	c = json_object_get(j, "constraints");
	assert_float_equal(json_number_value(json_object_get(c, "cpu_max")), 2, 0);
	assert_float_equal(json_number_value(json_object_get(c, "mem_min")), 1e8, 0);
	assert_true(json_is_null(json_object_get(c, "cpu_fixed")));
	json_decref(j);
	/* A subset leaves the rest; null removes. */
	expect_status(f->api, "POST", "/model/update", NULL, AUTH,
		      "{\"workload_id\":1,\"constraints\":{\"cpu_max\":null,\"cpu_fixed\":0.5}}",
		      200);
	assert_true(isnan(qd("SELECT cpu_max FROM workload_constraints WHERE workload_id = 1")));
	assert_float_equal(qd("SELECT mem_min FROM workload_constraints WHERE workload_id = 1"),
			   1e8, 0);
	assert_float_equal(qd("SELECT cpu_fixed FROM workload_constraints WHERE workload_id = 1"),
			   0.5, 0);

	exec("INSERT INTO alerts (ts, workload_id, host, kind, score, text) VALUES"
	     " (1800000100, 1, 'h1', 'shift', 0.9, 'CPU is up')");
	j = call(f->api, "POST", "/model/update", NULL, AUTH,
		 "{\"workload_id\":1,\"feedback\":{\"kind\":\"alert\",\"id\":1,"
		 "\"verdict\":\"wrong\"}}",
		 200);
	assert_true(json_integer_value(json_object_get(j, "feedback_id")) > 0);
	json_decref(j);
	assert_float_equal(qd("SELECT count(*) FROM feedback"), 1, 0);

	expect_error(f->api, "POST", "/model/update", NULL, AUTH,
		     "{\"workload_id\":1,\"constraints\":{\"cpu_most\":1}}", 400, "cpu_most");
	expect_error(f->api, "POST", "/model/update", NULL, AUTH,
		     "{\"workload_id\":1,\"constraints\":{\"mem_max\":-5}}", 400, "mem_max");
	expect_error(f->api, "POST", "/model/update", NULL, AUTH, "{\"workload_id\":1}", 400,
		     "constraints");
	expect_error(f->api, "POST", "/model/update", NULL, AUTH,
		     "{\"workload_id\":9,\"constraints\":{\"cpu_max\":1}}", 404, "workload_id");
}

static void test_routing_and_access(void **state)
{
	struct fx *f = *state;
	struct psc_api *closed = NULL, *tokenless = NULL;
	char err[256];
	json_t *j;

	j = call(f->api, "GET", "/api/v1/nothing", NULL, NULL, NULL, 404);
	assert_non_null(json_object_get(j, "error"));
	json_decref(j);
	expect_status(f->api, "GET", "/api/v1/workloads/1/more", NULL, NULL, NULL, 404);
	expect_status(f->api, "DELETE", "/api/v1/workloads", NULL, AUTH, NULL, 405);
	expect_status(f->api, "GET", "/model/update", NULL, AUTH, NULL, 405);
	/* Writes need the token, the right one. */
	expect_error(f->api, "POST", "/api/v1/feedback", NULL, NULL, "{}", 401, "Authorization");
	expect_status(f->api, "POST", "/api/v1/feedback", NULL, "Bearer " TOKEN "x", "{}", 401);
	expect_status(f->api, "POST", "/api/v1/feedback", NULL, "Bearer t0ken", "{}", 401);
	expect_error(f->api, "POST", "/api/v1/feedback", NULL, AUTH, "{\"kind\":", 400, "body");
	expect_error(f->api, "POST", "/api/v1/feedback", NULL, AUTH, "[1]", 400, "body");

	/* Reads closed (a non-loopback address without --api-open-reads). */
	assert_int_equal(psc_api_new(&closed,
				     &(struct psc_api_options){.db_path = db, .token = TOKEN}, err,
				     sizeof(err)),
			 0);
	expect_status(closed, "GET", "/api/v1/workloads", NULL, NULL, NULL, 401);
	expect_status(closed, "GET", "/api/v1/workloads", NULL, AUTH, NULL, 200);
	psc_api_free(&closed);
	assert_null(closed);

	/* No token configured: writes 403 whatever the header. */
	assert_int_equal(psc_api_new(&tokenless,
				     &(struct psc_api_options){.db_path = db, .open_reads = true},
				     err, sizeof(err)),
			 0);
	j = call(tokenless, "POST", "/model/update", NULL, AUTH, "{}", 403);
	assert_non_null(
		strstr(json_string_value(json_object_get(j, "error")), "no API token configured"));
	json_decref(j);
	expect_status(tokenless, "GET", "/api/v1/clusters", NULL, NULL, NULL, 200);
	psc_api_free(&tokenless);

	assert_true(psc_api_owns("/api/v1/workloads"));
	assert_true(psc_api_owns("/behavioralData/ingest"));
	assert_true(psc_api_owns("/model/update"));
	assert_false(psc_api_owns("/"));
	assert_false(psc_api_owns("/static/app.js"));
	assert_false(psc_api_owns("/metrics"));
}

static void test_token_file(void **state)
{
	char path[320], err[256];
	char *tok = NULL;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/token", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("s3cret \n", fp);
	fclose(fp);
	chmod(path, 0640);
	assert_int_equal(psc_api_read_token(path, &tok, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "group or others"));
	assert_null(tok);
	chmod(path, 0600);
	assert_int_equal(psc_api_read_token(path, &tok, err, sizeof(err)), 0);
	assert_string_equal(tok, "s3cret");
	free(tok);
	fp = fopen(path, "w");
	fputs("\n", fp);
	fclose(fp);
	assert_int_equal(psc_api_read_token(path, &tok, err, sizeof(err)), -EINVAL);
	snprintf(path, sizeof(path), "%s/absent", dir);
	assert_int_equal(psc_api_read_token(path, &tok, err, sizeof(err)), -ENOENT);
}

static void test_helpers(void **state)
{
	(void)state;
	assert_true(psc_api_addr_is_loopback("127.0.0.1:9470"));
	assert_true(psc_api_addr_is_loopback("127.1.2.3:0"));
	assert_true(psc_api_addr_is_loopback("[::1]:9470"));
	assert_false(psc_api_addr_is_loopback("0.0.0.0:9470"));
	assert_false(psc_api_addr_is_loopback("10.0.0.1:9470"));
	assert_false(psc_api_addr_is_loopback("[::]:9470"));
	assert_false(psc_api_addr_is_loopback("nonsense"));
	assert_float_equal(psc_api_norm_quantile(0.975), 1.959964, 1e-5);
	assert_float_equal(psc_api_norm_quantile(0.5), 0, 1e-9);
	assert_float_equal(psc_api_norm_quantile(0.1), -1.281552, 1e-5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_workloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workload_detail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clusters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alerts_feedback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adjustments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocation_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_model_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routing_and_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_file, setup, teardown),
		cmocka_unit_test(test_helpers),
	};

	psc_log_setup(PSC_LOG_ERR, false);
	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(pk, sk);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
