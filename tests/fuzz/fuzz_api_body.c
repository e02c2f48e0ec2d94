// SPDX-License-Identifier: MIT
/* Fuzz target: the HTTP API's JSON request bodies (aggregator/api.c). The first byte picks
 * the write endpoint (feedback, model update, allocation request, behaviour ingest, and a
 * GET with the rest as its query string); the rest is the body, sent with a valid token to
 * a real store in a temporary directory. Every answer must be a JSON object with an HTTP
 * status the API documents; a 4xx must name what was wrong. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocation.h"
#include "api.h"
#include "log.h"
#include "modeling.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct psc_api *api;
static char dir[64];

static void cleanup(void)
{
	char path[128];

	psc_api_free(&api);
	for (const char *f = "db"; f; f = NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, f);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/db-shm", dir);
	unlink(path);
	rmdir(dir);
}

/* A store with the modeling and allocation tables, and the API on it. */
static void setup(void)
{
	char path[128], err[256];
	struct psc_store *s = NULL;
	struct psc_modeling *m = NULL;
	struct psc_allocation *a = NULL;
	struct psc_allocation_options ao = psc_allocation_options_default();
	uint8_t sk[PSC_SIGN_SK_BYTES] = { 0 };
	struct psc_api_options opt = { .token = "fuzz-token" };

	psc_log_setup(PSC_LOG_ERR, false);
	snprintf(dir, sizeof(dir), "/tmp/psc-fuzz-api-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/db", dir);
	opt.db_path = path;
	if (psc_store_open(&s, path, NULL, err, sizeof(err)) < 0 ||
	    psc_modeling_new(&m, path, NULL, err, sizeof(err)) < 0 ||
	    psc_allocation_new(&a, path, &ao, sk, err, sizeof(err)) < 0 ||
	    psc_api_new(&api, &opt, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_api_body: setup: %s\n", err);
		abort();
	}
	psc_allocation_free(&a);
	psc_modeling_free(&m);
	psc_store_close(&s);
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "/api/v1/feedback", "/model/update",
					     "/allocation/request", "/behavioralData/ingest",
					     "/api/v1/alerts" };
	struct psc_api_response resp = { 0 };
	char query[256];

	if (!api)
		setup();
	if (size < 1)
		return 0;
	unsigned which = data[0] % 5;
	struct psc_api_request req = {
		.method = which == 4 ? "GET" : "POST",
		.path = paths[which],
		.authorization = "Bearer fuzz-token",
		.body = (const char *)data + 1,
		.body_len = size - 1,
		.now = 1800000000.0,
	};
	if (which == 4) {
		size_t n = size - 1 < sizeof(query) - 1 ? size - 1 : sizeof(query) - 1;
		memcpy(query, data + 1, n);
		query[n] = 0;
		req.query = query;
		req.body = NULL;
		req.body_len = 0;
	}
	if (psc_api_handle(api, &req, &resp) < 0)
		return 0; /* out of memory: no answer to check */
	json_error_t e;
	json_t *j = resp.body ? json_loads(resp.body, 0, &e) : NULL;
	if (!j || !json_is_object(j))
		abort();
	switch (resp.status) {
	case 200: case 201: case 202: case 404: case 409: case 413: case 503:
		break;
	case 400:
		if (!json_is_string(json_object_get(j, "error")))
			abort();
		break;
	default:
		abort();
	}
	json_decref(j);
	free(resp.body);
	return 0;
}
