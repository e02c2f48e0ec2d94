/* SPDX-License-Identifier: MIT */
/* The aggregator's HTTP endpoint (libmicrohttpd, its own thread):
 *   GET /metrics   Prometheus text format (version 0.0.4)
 *   GET /healthz   200 "ok" while the daemon's loop ticks, 503 otherwise
 *   GET /, /static/NAME   the web dashboard (web_assets.h), with ETag and no-cache
 * /metrics only reads the atomics of struct psc_ingest_counters and stat()s the database
 * files; the JSON API (api.h) reads and writes SQLite on connections of its own. */
#pragma once

#include <stddef.h>

#include "ingest.h"

struct psc_metrics;

/* Listens on @addr ("IP:PORT", "[IPv6]:PORT"; port 0 = any free one). @c must outlive
 * the server; @db_path (copied) names the database for prescient_store_bytes;
 * @stale_after_s: /healthz fails when the loop's heartbeat is older; @api (may be NULL,
 * must outlive the server) answers the paths psc_api_owns() claims (api.h). Errors:
 * -EINVAL (bad address), -EADDRINUSE or another -errno from binding, -ENOMEM. */
struct psc_api;
int psc_metrics_start(struct psc_metrics **out, const char *addr, struct psc_ingest_counters *c,
		      const char *db_path, double stale_after_s, struct psc_api *api);
/* The port actually bound. */
unsigned psc_metrics_port(const struct psc_metrics *m);
/* Stops the thread and frees; accepts NULL. */
void psc_metrics_stop(struct psc_metrics **m);

/* The /metrics body: malloc'ed, owned by the caller; NULL on ENOMEM. */
char *psc_metrics_render(struct psc_ingest_counters *c, const char *db_path);

/* Bytes of the database on disk: the file, its -wal and -shm. */
unsigned long long psc_metrics_store_bytes(const char *db_path);

/* Parses "IP:PORT" / "[IPv6]:PORT" (numeric only) into @sa. -EINVAL if malformed. */
struct sockaddr_storage;
int psc_metrics_parse_addr(const char *addr, struct sockaddr_storage *sa, unsigned *len);
