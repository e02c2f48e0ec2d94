// SPDX-License-Identifier: MIT
/* Connection tracking + window aggregation + JSON report, fed with kernel event headers as
 * the ring buffer delivers them (no BPF needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "conn.h"
#include "report.h"
#include "window.h"

#define CG_SERVER 1001
#define CG_CLIENT 2002

struct fixture {
	struct psc_window *w;
	struct psc_conn_table *t;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_int_equal(psc_window_new(&f->w), 0);
	assert_int_equal(psc_conn_table_new(&f->t, f->w), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	psc_conn_table_free(&f->t);
	psc_window_free(&f->w, NULL);
	free(f);
	return 0;
}

static void feed(struct fixture *f, uint64_t cg, uint32_t tgid, uint32_t fd, uint8_t role,
		 uint8_t dir, uint64_t ts_us, const char *bytes)
{
	struct psc_event_hdr h = {
		.ts_ns = ts_us * 1000,
		.cgroup_id = cg,
		.open_ns = 1000,
		.size = strlen(bytes),
		.tgid = tgid,
		.pid = tgid,
		.fd = fd,
		.cap_len = (uint32_t)strlen(bytes),
		.local_port = role == PSC_ROLE_SERVER ? 8080 : 40000,
		.remote_port = role == PSC_ROLE_SERVER ? 40000 : 8080,
		.kind = PSC_EV_DATA,
		.dir = dir,
		.role = role,
	};
	psc_conn_on_data(f->t, &h, (const uint8_t *)bytes);
}

static struct psc_endpoint_stats *find(struct psc_window *w, uint64_t cg, const char *endpoint,
				       uint8_t role)
{
	struct psc_workload *wl = psc_window_workload(w, cg);
	struct psc_endpoint_stats *ep;
	size_t it = 0;

	while ((ep = psc_workload_next_endpoint(wl, &it)))
		if (strcmp(ep->endpoint, endpoint) == 0 && ep->role == role)
			return ep;
	return NULL;
}

static void http_request_response_pairs_with_latency(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 10; i++) {
		uint64_t t0 = 1000000 + i * 10000;
		char req[128];
		snprintf(req, sizeof(req), "GET /api/orders/%d HTTP/1.1\r\nHost: x\r\n\r\n", 100 + i);
		feed(f, CG_SERVER, 10, 5, PSC_ROLE_SERVER, PSC_DIR_INGRESS, t0, req);
		feed(f, CG_SERVER, 10, 5, PSC_ROLE_SERVER, PSC_DIR_EGRESS, t0 + 250,
		     i == 9 ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n" :
			      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	}
	struct psc_endpoint_stats *ep = find(f->w, CG_SERVER, "GET /api/orders/{id}", PSC_ROLE_SERVER);
	assert_non_null(ep);
	assert_int_equal(ep->count, 10);
	assert_int_equal(ep->responses, 10);
	assert_int_equal(ep->errors, 1);
	assert_in_range(psc_hist_quantile(&ep->latency_us, 0.5), 235, 265);
	assert_true(ep->bytes_out > 0 && ep->bytes_in > 0);
}

static void client_side_is_reported_as_client(void **state)
{
	struct fixture *f = *state;

	feed(f, CG_CLIENT, 20, 7, PSC_ROLE_CLIENT, PSC_DIR_EGRESS, 5000,
	     "POST /login HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	feed(f, CG_CLIENT, 20, 7, PSC_ROLE_CLIENT, PSC_DIR_INGRESS, 5900,
	     "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
	struct psc_endpoint_stats *ep = find(f->w, CG_CLIENT, "POST /login", PSC_ROLE_CLIENT);
	assert_non_null(ep);
	assert_int_equal(ep->count, 1);
	assert_int_equal(ep->errors, 1);
	assert_in_range(psc_hist_quantile(&ep->latency_us, 0.5), 850, 950);
}

static void link(struct fixture *f, uint32_t srv_tgid, uint32_t srv_fd, uint32_t cli_tgid,
		 uint32_t cli_fd)
{
	struct psc_event_hdr h = {
		.ts_ns = 1000,
		.cgroup_id = CG_SERVER,
		.tgid = srv_tgid,
		.pid = srv_tgid,
		.fd = srv_fd,
		.cap_len = sizeof(struct psc_link),
		.local_port = 8080,
		.remote_port = 40000,
		.kind = PSC_EV_LINK,
		.role = PSC_ROLE_SERVER,
	};
	struct psc_link l = {
		.peer_cgroup_id = CG_CLIENT,
		.peer_tgid = cli_tgid,
		.peer_fd = cli_fd,
		.peer_local_port = 40000,
		.peer_remote_port = 8080,
	};
	psc_conn_on_link(f->t, &h, &l);
}

#define REQ "GET /items/7 HTTP/1.1\r\nHost: x\r\n\r\n"
#define RESP_404 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

/* A local pair captured at the server end only: the client's workload gets the same
 * requests, errors and bytes (in and out swapped) as a client. */
static void linked_server_side_is_mirrored_onto_client(void **state)
{
	struct fixture *f = *state;

	link(f, 10, 5, 20, 7);
	for (int i = 0; i < 3; i++) {
		feed(f, CG_SERVER, 10, 5, PSC_ROLE_SERVER, PSC_DIR_INGRESS, 1000 + i * 100, REQ);
		feed(f, CG_SERVER, 10, 5, PSC_ROLE_SERVER, PSC_DIR_EGRESS, 1040 + i * 100, RESP_404);
	}
	struct psc_endpoint_stats *s = find(f->w, CG_SERVER, "GET /items/{id}", PSC_ROLE_SERVER);
	struct psc_endpoint_stats *c = find(f->w, CG_CLIENT, "GET /items/{id}", PSC_ROLE_CLIENT);
	assert_non_null(s);
	assert_non_null(c);
	assert_int_equal(c->count, 3);
	assert_int_equal(c->responses, 3);
	assert_int_equal(c->errors, 3);
	assert_int_equal(c->bytes_out, s->bytes_in);
	assert_int_equal(c->bytes_in, s->bytes_out);
	assert_in_range(psc_hist_quantile(&c->latency_us, 0.5), 35, 45);
	struct psc_workload *wl = psc_window_workload(f->w, CG_CLIENT);
	assert_int_equal(wl->kernel.tx_bytes, 3 * strlen(REQ));
	assert_int_equal(wl->kernel.rx_bytes, 3 * strlen(RESP_404));
	assert_int_equal(wl->kernel.tx_calls, 3);
}

/* The client sent its first request before the server accepted: the client's own event
 * counted it; the link takes it over, so it is counted once and gets its response. */
static void request_seen_by_client_before_link_is_counted_once(void **state)
{
	struct fixture *f = *state;

	feed(f, CG_CLIENT, 20, 7, PSC_ROLE_CLIENT, PSC_DIR_EGRESS, 1000, REQ);
	link(f, 10, 5, 20, 7);
	feed(f, CG_SERVER, 10, 5, PSC_ROLE_SERVER, PSC_DIR_INGRESS, 1010, REQ);
	feed(f, CG_SERVER, 10, 5, PSC_ROLE_SERVER, PSC_DIR_EGRESS, 1060, RESP_404);
	feed(f, CG_SERVER, 10, 5, PSC_ROLE_SERVER, PSC_DIR_INGRESS, 2000, REQ);
	feed(f, CG_SERVER, 10, 5, PSC_ROLE_SERVER, PSC_DIR_EGRESS, 2030, RESP_404);
	struct psc_endpoint_stats *c = find(f->w, CG_CLIENT, "GET /items/{id}", PSC_ROLE_CLIENT);
	assert_non_null(c);
	assert_int_equal(c->count, 2);
	assert_int_equal(c->responses, 2);
	assert_int_equal(c->bytes_out, 2 * strlen(REQ));
	/* the first one's latency runs from the client's send (1000 us) */
	assert_int_equal(psc_hist_quantile(&c->latency_us, 1.0) >= 55, 1);
	struct psc_workload *wl = psc_window_workload(f->w, CG_CLIENT);
	assert_int_equal(wl->kernel.tx_bytes, strlen(REQ)); /* the mirrored one only */
	assert_int_equal(psc_conn_count(f->t), 1);	     /* the client's connection is gone */
}

static void unknown_traffic_is_counted_by_port(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < PSC_CONN_DETECT_TRIES + 3; i++)
		feed(f, CG_SERVER, 30, 9, PSC_ROLE_SERVER, PSC_DIR_INGRESS, 100 + i,
		     "\x01\x02\x03 binary gibberish");
	struct psc_endpoint_stats *ep = find(f->w, CG_SERVER, "port 8080", PSC_ROLE_SERVER);
	assert_non_null(ep);
	assert_int_equal(ep->proto, PSC_PROTO_UNKNOWN);
	assert_int_equal(ep->count, PSC_CONN_DETECT_TRIES + 3);
}

static void close_ends_session_and_frees_connection(void **state)
{
	struct fixture *f = *state;
	struct psc_event_hdr h = {
		.ts_ns = 5000000, .open_ns = 1000000, .cgroup_id = CG_SERVER, .tgid = 10, .fd = 5,
		.kind = PSC_EV_CLOSE, .role = PSC_ROLE_SERVER,
	};

	feed(f, CG_SERVER, 10, 5, PSC_ROLE_SERVER, PSC_DIR_INGRESS, 1000, "GET / HTTP/1.1\r\n\r\n");
	assert_int_equal(psc_conn_count(f->t), 1);
	psc_conn_on_close(f->t, &h);
	assert_int_equal(psc_conn_count(f->t), 0);
	struct psc_workload *wl = psc_window_workload(f->w, CG_SERVER);
	assert_int_equal(wl->sessions_closed, 1);
	assert_int_equal(psc_hist_quantile(&wl->session_ms, 0.5), 4);
}

static bool nobody_alive(uint32_t tgid, void *ctx)
{
	return false;
}

static void sweep_forgets_connections_of_exited_processes(void **state)
{
	struct fixture *f = *state;

	for (uint32_t tgid = 1; tgid <= 100; tgid++)
		feed(f, CG_SERVER, tgid, 3, PSC_ROLE_SERVER, PSC_DIR_INGRESS, 1, "GET / HTTP/1.1\r\n\r\n");
	assert_int_equal(psc_conn_count(f->t), 100);
	/* The first sweep that finds them gone keeps them: their last events may still be
	 * in the ring. A response that arrives then is paired with its request. */
	psc_conn_sweep(f->t, nobody_alive, NULL);
	assert_int_equal(psc_conn_count(f->t), 100);
	assert_int_equal(psc_conn_counters(f->t)->conns_swept, 0);
	feed(f, CG_SERVER, 1, 3, PSC_ROLE_SERVER, PSC_DIR_EGRESS, 5, "HTTP/1.1 200 OK\r\n\r\n");
	struct psc_endpoint_stats *ep = find(f->w, CG_SERVER, "GET /", PSC_ROLE_SERVER);
	assert_non_null(ep);
	assert_int_equal(ep->responses, 1);
	psc_conn_sweep(f->t, nobody_alive, NULL);
	assert_int_equal(psc_conn_count(f->t), 0);
	assert_int_equal(psc_conn_counters(f->t)->conns_swept, 100);
}

static void report_has_contract_fields(void **state)
{
	struct fixture *f = *state;
	struct psc_workload_usage u = { .has_cpu = true, .cpu_s = 1.5, .has_mem = true,
					.mem_bytes = 4096 };
	struct psc_report_ctx ctx = { .ts = 1700000010.0, .window_s = 10, .host = "h1",
				      .cgroup = "/system.slice/x.service", .name = "x.service" };

	feed(f, CG_SERVER, 10, 5, PSC_ROLE_SERVER, PSC_DIR_INGRESS, 1000, "GET /a HTTP/1.1\r\n\r\n");
	feed(f, CG_SERVER, 10, 5, PSC_ROLE_SERVER, PSC_DIR_EGRESS, 1040, "HTTP/1.1 200 OK\r\n\r\n");
	char *line = psc_report_json(&ctx, &u, psc_window_workload(f->w, CG_SERVER));
	assert_non_null(line);
	assert_null(strchr(line, '\n'));
	json_error_t err;
	json_t *o = json_loads(line, 0, &err);
	assert_non_null(o);
	const char *fields[] = { "ts", "window_s", "host", "cgroup", "cpu_s", "cpu_throttled_s",
				 "mem_bytes", "mem_peak_bytes", "io_read_bytes", "io_write_bytes",
				 "net_rx_bytes", "net_tx_bytes", "psi", "endpoints" };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		assert_non_null(json_object_get(o, fields[i]));
	assert_true(json_is_null(json_object_get(o, "cpu_throttled_s")));
	assert_true(json_real_value(json_object_get(o, "cpu_s")) == 1.5);
	json_t *ep = json_array_get(json_object_get(o, "endpoints"), 0);
	assert_string_equal(json_string_value(json_object_get(ep, "protocol")), "http");
	assert_string_equal(json_string_value(json_object_get(ep, "endpoint")), "GET /a");
	assert_int_equal(json_integer_value(json_object_get(ep, "count")), 1);
	assert_non_null(json_object_get(json_object_get(ep, "latency_us"), "p99"));
	json_decref(o);
	free(line);
}

static void reset_zeroes_counts_and_drops_idle_endpoints(void **state)
{
	struct fixture *f = *state;

	feed(f, CG_SERVER, 10, 5, PSC_ROLE_SERVER, PSC_DIR_INGRESS, 1000, "GET /a HTTP/1.1\r\n\r\n");
	psc_window_reset(f->w, 2);
	struct psc_endpoint_stats *ep = find(f->w, CG_SERVER, "GET /a", PSC_ROLE_SERVER);
	assert_non_null(ep);
	assert_int_equal(ep->count, 0);
	/* Kept through two idle windows, dropped at the third. */
	psc_window_reset(f->w, 2);
	psc_window_reset(f->w, 2);
	assert_non_null(find(f->w, CG_SERVER, "GET /a", PSC_ROLE_SERVER));
	psc_window_reset(f->w, 2);
	assert_null(find(f->w, CG_SERVER, "GET /a", PSC_ROLE_SERVER));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(http_request_response_pairs_with_latency, setup, teardown),
		cmocka_unit_test_setup_teardown(client_side_is_reported_as_client, setup, teardown),
		cmocka_unit_test_setup_teardown(linked_server_side_is_mirrored_onto_client, setup, teardown),
		cmocka_unit_test_setup_teardown(request_seen_by_client_before_link_is_counted_once, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_traffic_is_counted_by_port, setup, teardown),
		cmocka_unit_test_setup_teardown(close_ends_session_and_frees_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(sweep_forgets_connections_of_exited_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(report_has_contract_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(reset_zeroes_counts_and_drops_idle_endpoints, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
