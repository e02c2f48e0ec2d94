// SPDX-License-Identifier: MIT
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "api.h"
#include "cleanup.h"
#include "web_assets.h"

struct psc_metrics {
	struct MHD_Daemon *mhd;
	struct psc_ingest_counters *c;
	struct psc_api *api; /* NULL = no JSON API */
	char *db_path;
	double stale_after_s;
	unsigned port;
};

unsigned long long psc_metrics_store_bytes(const char *db_path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	unsigned long long total = 0;
	char path[4096];
	struct stat st;

	for (size_t i = 0; i < PSC_ARRAY_SIZE(suffixes); i++) {
		snprintf(path, sizeof(path), "%s%s", db_path, suffixes[i]);
		if (stat(path, &st) == 0)
			total += (unsigned long long)st.st_size;
	}
	return total;
}

char *psc_metrics_render(struct psc_ingest_counters *c, const char *db_path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f,
		"# HELP prescient_reports_received_total Report frames received, whatever became "
		"of them.\n"
		"# TYPE prescient_reports_received_total counter\n"
		"prescient_reports_received_total %llu\n",
		(unsigned long long)atomic_load(&c->received));
	fprintf(f,
		"# HELP prescient_reports_stored_total Reports committed to the store.\n"
		"# TYPE prescient_reports_stored_total counter\n"
		"prescient_reports_stored_total %llu\n",
		(unsigned long long)atomic_load(&c->stored));
	fprintf(f,
		"# HELP prescient_reports_duplicate_total Reports received again after being "
		"stored: acked, not stored twice.\n"
		"# TYPE prescient_reports_duplicate_total counter\n"
		"prescient_reports_duplicate_total %llu\n",
		(unsigned long long)atomic_load(&c->duplicate));
	fprintf(f, "# HELP prescient_reports_refused_total Report frames not stored, by reason.\n"
		   "# TYPE prescient_reports_refused_total counter\n");
	for (int r = PSC_REFUSE_NONE + 1; r < _PSC_REFUSE_MAX; r++)
		fprintf(f, "prescient_reports_refused_total{reason=\"%s\"} %llu\n",
			psc_wire_reason_name(r), (unsigned long long)atomic_load(&c->refused[r]));
	fprintf(f,
		"# HELP prescient_report_bytes_total Bytes of report frames received.\n"
		"# TYPE prescient_report_bytes_total counter\n"
		"prescient_report_bytes_total %llu\n",
		(unsigned long long)atomic_load(&c->bytes));
	fprintf(f,
		"# HELP prescient_agents_connected Hosts whose last report arrived within the "
		"connected window (--connected-window).\n"
		"# TYPE prescient_agents_connected gauge\n"
		"prescient_agents_connected %llu\n",
		(unsigned long long)atomic_load(&c->agents_connected));
	fprintf(f,
		"# HELP prescient_store_bytes Size of the SQLite store on disk (db, -wal, -shm).\n"
		"# TYPE prescient_store_bytes gauge\n"
		"prescient_store_bytes %llu\n",
		psc_metrics_store_bytes(db_path));
	fprintf(f,
		"# HELP prescient_rollup_buckets_total Downsampling buckets recomputed.\n"
		"# TYPE prescient_rollup_buckets_total counter\n"
		"prescient_rollup_buckets_total %llu\n"
		"# HELP prescient_retention_deleted_rows_total Rows removed by retention.\n"
		"# TYPE prescient_retention_deleted_rows_total counter\n"
		"prescient_retention_deleted_rows_total %llu\n",
		(unsigned long long)atomic_load(&c->maint_rolled_up),
		(unsigned long long)atomic_load(&c->maint_deleted));
	fprintf(f,
		"# HELP prescient_model_cycle_seconds Wall time of the last modeling cycle.\n"
		"# TYPE prescient_model_cycle_seconds gauge\n"
		"prescient_model_cycle_seconds %.6f\n"
		"# HELP prescient_model_workloads Workloads the modeling cycle holds models for.\n"
		"# TYPE prescient_model_workloads gauge\n"
		"prescient_model_workloads %llu\n"
		"# HELP prescient_model_cycles_total Modeling cycles run.\n"
		"# TYPE prescient_model_cycles_total counter\n"
		"prescient_model_cycles_total %llu\n"
		"# HELP prescient_adjustments_issued_total Signed limit changes queued for agents.\n"
		"# TYPE prescient_adjustments_issued_total counter\n"
		"prescient_adjustments_issued_total %llu\n"
		"# HELP prescient_alerts_total Explained alerts written.\n"
		"# TYPE prescient_alerts_total counter\n"
		"prescient_alerts_total %llu\n",
		(double)atomic_load(&c->model_cycle_us) / 1e6,
		(unsigned long long)atomic_load(&c->model_workloads),
		(unsigned long long)atomic_load(&c->model_cycles),
		(unsigned long long)atomic_load(&c->adjustments_issued),
		(unsigned long long)atomic_load(&c->alerts));
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     char *body /* malloc'ed, taken */)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The dashboard (web_assets.h): "/" is index.html, the rest is under /static/. no-cache
 * with an ETag: browsers revalidate (a 304 costs nothing) and never run a stale app.js
 * against a newer API after an upgrade. */
static enum MHD_Result serve_asset(struct MHD_Connection *conn, const char *path)
{
	const struct psc_web_asset *a = psc_web_asset_find(path);
	struct MHD_Response *resp;
	enum MHD_Result ret;
	const char *inm;
	bool fresh;
	char *body;

	if (!a) {
		body = strdup("not found\n");
		return body ? reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", body) : MHD_NO;
	}
	inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	fresh = inm && strcmp(inm, a->etag) == 0;
	resp = MHD_create_response_from_buffer(fresh ? 0 : a->len, (void *)a->data,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", a->mime);
	MHD_add_response_header(resp, "ETag", a->etag);
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'self'");
	ret = MHD_queue_response(conn, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The JSON API (api.h): the body is collected over the handler's calls (at most
 * PSC_API_MAX_BODY; a larger one is read and dropped, then answered 413). */
struct api_upload {
	char *body;
	size_t len;
	bool too_large;
};

static void api_upload_done(void *cls, struct MHD_Connection *conn, void **req_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct api_upload *u = *req_cls;

	if (u)
		free(u->body);
	free(u);
	*req_cls = NULL;
}

static enum MHD_Result api_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	FILE *f = cls;

	fprintf(f, "%s%s=%s", ftell(f) ? "&" : "", key, value ? value : "");
	return MHD_YES;
}

static enum MHD_Result serve_api(struct psc_metrics *m, struct MHD_Connection *conn,
				 const char *url, const char *method, const char *upload_data,
				 size_t *upload_data_size, void **req_cls)
{
	struct api_upload *u = *req_cls;
	struct psc_api_response resp = { 0 };
	_cleanup_free_ char *query = NULL;
	size_t qlen = 0;
	struct timespec now;
	FILE *f;

	if (!u) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		u = calloc(1, sizeof(*u));
		if (!u)
			return MHD_NO;
		*req_cls = u;
		/* Refused before reading it when the size is announced; a chunked body is read
		 * and dropped past the limit. */
		if (cl && strtoull(cl, NULL, 10) > PSC_API_MAX_BODY) {
			u->too_large = true;
			char *b = psc_api_error_body("request body larger than 64 KiB", "body");
			return b ? reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "application/json", b)
				 : MHD_NO;
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!u->too_large && u->len + *upload_data_size <= PSC_API_MAX_BODY) {
			char *b = realloc(u->body, u->len + *upload_data_size);
			if (!b)
				return MHD_NO;
			memcpy(b + u->len, upload_data, *upload_data_size);
			u->body = b;
			u->len += *upload_data_size;
		} else {
			u->too_large = true;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (u->too_large)
		resp = (struct psc_api_response){ 413, psc_api_error_body(
							       "request body larger than 64 KiB",
							       "body") };
	else if (!m->api)
		resp = (struct psc_api_response){ 503, psc_api_error_body("API not available",
									  NULL) };
	if (!resp.status) {
		f = open_memstream(&query, &qlen);
		if (!f)
			return MHD_NO;
		MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, api_query_arg, f);
		if (fclose(f) != 0)
			return MHD_NO;
		clock_gettime(CLOCK_REALTIME, &now);
		psc_api_handle(m->api,
			       &(struct psc_api_request){
				       .method = method, .path = url, .query = query,
				       .authorization = MHD_lookup_connection_value(
					       conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
				       .body = u->body, .body_len = u->len,
				       .now = (double)now.tv_sec + now.tv_nsec / 1e9 },
			       &resp);
	}
	return resp.body ? reply(conn, resp.status, "application/json", resp.body) : MHD_NO;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	struct psc_metrics *m = cls;
	char *body;

	if (psc_api_owns(url))
		return serve_api(m, conn, url, method, upload_data, upload_data_size, req_cls);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		body = strdup("method not allowed\n");
		return body ? reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", body) : MHD_NO;
	}
	if (strcmp(url, "/metrics") == 0) {
		body = psc_metrics_render(m->c, m->db_path);
		return body ? reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
				    body)
			    : MHD_NO;
	}
	if (strcmp(url, "/healthz") == 0) {
		double age = mono_now() - (double)atomic_load(&m->c->heartbeat);
		bool ok = age <= m->stale_after_s;

		if (asprintf(&body, ok ? "ok\n" : "stalled: event loop last ticked %.0f s ago\n",
			     age) < 0)
			return MHD_NO;
		return reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
			     body);
	}
	if (strcmp(url, "/") == 0)
		return serve_asset(conn, "index.html");
	if (strncmp(url, "/static/", 8) == 0)
		return serve_asset(conn, url + 8);
	body = strdup("not found: try /metrics or /healthz\n");
	return body ? reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", body) : MHD_NO;
}

int psc_metrics_parse_addr(const char *addr, struct sockaddr_storage *sa, unsigned *len)
{
	char host[128];
	const char *colon;
	char *end;
	unsigned long port;
	size_t hl;

	memset(sa, 0, sizeof(*sa));
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');
		if (!rb || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - addr - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, addr + 1, hl);
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - addr);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, addr, hl);
	}
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port > 65535)
		return -EINVAL;
	if (addr[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	}
	return 0;
}

int psc_metrics_start(struct psc_metrics **out, const char *addr, struct psc_ingest_counters *c,
		      const char *db_path, double stale_after_s, struct psc_api *api)
{
	struct sockaddr_storage sa;
	const union MHD_DaemonInfo *info;
	struct psc_metrics *m;
	/* epoll, not select(): with a thousand agents connected the process holds more than
	 * FD_SETSIZE descriptors, and select() cannot take a connection numbered above it. */
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	unsigned salen;
	int r;

	r = psc_metrics_parse_addr(addr, &sa, &salen);
	if (r < 0)
		return r;
	if (sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->c = c;
	m->api = api;
	m->stale_after_s = stale_after_s;
	m->db_path = strdup(db_path);
	if (!m->db_path) {
		free(m);
		return -ENOMEM;
	}
	errno = 0;
	m->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, m, MHD_OPTION_SOCK_ADDR, &sa,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				  MHD_OPTION_NOTIFY_COMPLETED, api_upload_done, NULL, MHD_OPTION_END);
	if (!m->mhd) {
		r = errno ? -errno : -EADDRINUSE;
		free(m->db_path);
		free(m);
		return r;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : 0;
	*out = m;
	return 0;
}

unsigned psc_metrics_port(const struct psc_metrics *m)
{
	return m->port;
}

void psc_metrics_stop(struct psc_metrics **mp)
{
	struct psc_metrics *m = *mp;

	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	free(m->db_path);
	free(m);
	*mp = NULL;
}
