/* SPDX-License-Identifier: MIT */
/* The aggregator's JSON API (README.md, "HTTP API"): request routing and handlers, with
 * no HTTP library in sight so tests call them directly. aggregator/metrics.c serves them
 * on libmicrohttpd's thread for every path psc_api_owns() claims.
 *
 *   GET  /api/v1/workloads, /api/v1/workloads/{id}[?since=UNIX&tier=raw|5m|1h],
 *        /api/v1/clusters, /api/v1/alerts[?limit=N&since=UNIX], /api/v1/adjustments[?limit=N]
 *   POST /api/v1/feedback, /behavioralData/ingest, /allocation/request, /model/update
 *
 * Access: every POST needs "Authorization: Bearer TOKEN" (no token configured: 403);
 * GETs need it too unless reads are open (psc_api_options.open_reads: the aggregator opens
 * them on a loopback address or with --api-open-reads). Errors are 4xx/5xx with
 * {"error": "...", "field": "name"} (field only when one is to blame).
 *
 * Storage: SQLite connections of its own on the database file (busy timeout, WAL: reads
 * run beside ingest). Tables of the modeling engine and the allocation that do not exist
 * yet (modeling off) read as empty; writes to them answer 503. /behavioralData/ingest
 * stores a HostReport through a struct psc_store of its own (host "api:<host>", seq =
 * max(now in microseconds, last + 1)).
 *
 * /allocation/request at a confidence c other than the stored band's: the forecast at the
 * nearest stored horizon is read as a two-piece normal fitted to its band, median p50,
 * upper scale (p90 - p50) / z(0.9) and lower scale (p50 - p10) / z(0.9) with z the
 * standard normal quantile; the recommendation is p50 + z(c) x (upper scale if c >= 0.5,
 * else lower scale), at least 0. So c = 0.9 gives p90 and c = 0.1 gives p10 exactly.
 *
 * Thread-safety: calls on one struct psc_api are serialised by a mutex inside. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define PSC_API_MAX_BODY (64 * 1024) /* larger request bodies get 413 */

struct psc_api_options {
	const char *db_path;
	const char *token; /* bearer token (copied); NULL = write endpoints answer 403 */
	bool open_reads;   /* GETs without the token */
};

struct psc_api_request {
	const char *method;	   /* "GET", "POST", ... */
	const char *path;	   /* without the query string */
	const char *query;	   /* decoded "k=v&k=v" or NULL */
	const char *authorization; /* the header's value or NULL */
	const char *body;	   /* POST body (need not be NUL-terminated) or NULL */
	size_t body_len;
	double now; /* Unix time of the request */
};

struct psc_api_response {
	unsigned status;
	char *body; /* malloc'ed JSON, owned by the caller */
};

struct psc_api;

/* Opens its connections on @opt->db_path (which the store has created and migrated).
 * Returns 0, -EIO (@err says why) or -ENOMEM; *out untouched on failure. */
int psc_api_new(struct psc_api **out, const struct psc_api_options *opt, char *err, size_t errlen);
/* Accepts NULL; sets *a to NULL. */
void psc_api_free(struct psc_api **a);

/* True when @path is the API's: /api/..., /behavioralData/..., /allocation/...,
 * /model/... */
bool psc_api_owns(const char *path);

/* Answers @req into @resp (always a JSON body, also for errors). Returns 0, or -ENOMEM
 * when no response could be built (then @resp->body is NULL). */
int psc_api_handle(struct psc_api *a, const struct psc_api_request *req,
		   struct psc_api_response *resp);

/* A JSON error body {"error": @msg, "field": @field (omitted if NULL)}: malloc'ed, NULL on
 * ENOMEM. For callers answering before the API sees a request (e.g. 413). */
char *psc_api_error_body(const char *msg, const char *field);

/* Reads the bearer token from @path: refused when the file is readable or writable by
 * group or others (-EPERM), empty (-EINVAL) or unreadable (-errno); @err says why.
 * Trailing whitespace is dropped. On success *token is malloc'ed, owned by the caller. */
int psc_api_read_token(const char *path, char **token, char *err, size_t errlen);

/* True when @addr ("IP:PORT", "[IPv6]:PORT") is a loopback address. */
bool psc_api_addr_is_loopback(const char *addr);

/* The standard normal quantile (inverse CDF) of @p in (0, 1). */
double psc_api_norm_quantile(double p);
