// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conversation.h"

#define PREFIX_CAP 1024 /* psc_conv_check_chunk_prefixes() */

static const char *data_root(void)
{
	const char *root = getenv("PSC_TEST_DATA");

	if (!root)
		fail_msg("PSC_TEST_DATA is not set (ctest sets it to tests/data)");
	return root;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void read_chunk(struct psc_conv_chunk *c, const char *path)
{
	FILE *f = fopen(path, "rb");
	long sz;

	if (!f)
		fail_msg("cannot open chunk %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	sz = ftell(f);
	assert_true(sz >= 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	c->len = (size_t)sz;
	c->data = malloc(c->len ? c->len : 1);
	assert_non_null(c->data);
	assert_int_equal(fread(c->data, 1, c->len, f), c->len);
	fclose(f);
}

struct psc_conv *psc_conv_load(const char *proto, const char *scenario)
{
	char dir[1024], path[1400];
	char *names[PSC_CONV_MAX_CHUNKS];
	struct psc_conv *conv;
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s/%s", data_root(), proto, scenario);
	d = opendir(dir);
	if (!d)
		fail_msg("cannot open conversation %s", dir);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && strstr(de->d_name, ".bin") && n < PSC_CONV_MAX_CHUNKS) {
			names[n] = strdup(de->d_name);
			assert_non_null(names[n]);
			n++;
		}
	closedir(d);
	if (n == 0)
		fail_msg("no *.bin chunk in %s", dir);
	qsort(names, n, sizeof(names[0]), name_cmp);
	conv = calloc(1, sizeof(*conv));
	assert_non_null(conv);
	for (size_t i = 0; i < n; i++) {
		struct psc_conv_chunk *c = &conv->c[i];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		read_chunk(c, path);
		conv->n = i + 1;
		c->conn = atoi(names[i]) % PSC_CONV_MAX_CONNS;
		c->flow = strstr(names[i], "c2s") ? PSC_FLOW_TO_SERVER : PSC_FLOW_TO_CLIENT;
		free(names[i]);
	}
	return conv;
}

void psc_conv_free(struct psc_conv **conv)
{
	if (!conv || !*conv)
		return;
	for (size_t i = 0; i < (*conv)->n; i++)
		free((*conv)->c[i].data);
	free(*conv);
	*conv = NULL;
}

size_t psc_conv_read_file(const char *proto, const char *rel, uint8_t *buf, size_t cap)
{
	char path[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s/%s", data_root(), proto, rel);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open fixture %s", path);
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

int psc_conv_parse_head(const struct psc_proto_ops *ops, struct psc_proto_state *st,
			enum psc_flow flow, const uint8_t *buf, size_t full, size_t head,
			struct psc_msg *out, size_t max_out)
{
	size_t len = full < head ? full : head;
	uint8_t *copy = malloc(len ? len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	r = ops->parse(st, flow, copy, len, full, out, max_out);
	free(copy);
	return r;
}

int psc_conv_feed(const struct psc_proto_ops *ops, struct psc_proto_state *st,
		  const struct psc_conv_chunk *c, size_t len, size_t full_len,
		  struct psc_conv_run *run)
{
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	int r;

	assert_true(len <= full_len);
	r = psc_conv_parse_head(ops, st, c->flow, c->data, full_len, len, out, PSC_MSGS_PER_HEAD);
	if (r < 0 || !run)
		return r;
	assert_true(r <= PSC_MSGS_PER_HEAD);
	for (int k = 0; k < r; k++) {
		const struct psc_msg *m = &out[k];

		assert_true(strnlen(m->endpoint, PSC_ENDPOINT_MAX) < PSC_ENDPOINT_MAX);
		switch (m->type) {
		case PSC_MSG_REQUEST:
			run->requests++;
			assert_int_equal(c->flow, PSC_FLOW_TO_SERVER);
			assert_true(m->endpoint[0] != '\0');
			break;
		case PSC_MSG_RESPONSE:
			run->responses++;
			run->errors += m->error;
			assert_int_equal(c->flow, PSC_FLOW_TO_CLIENT);
			assert_string_equal(m->endpoint, "");
			break;
		default:
			run->others++;
			continue;
		}
		run->truncated += m->truncated;
		if (run->nlog < PSC_CONV_MAX_LOG)
			run->log[run->nlog++] = *m;
	}
	return r;
}

void psc_conv_replay(const struct psc_proto_ops *ops, const struct psc_conv *conv, size_t head,
		     struct psc_conv_run *run)
{
	struct psc_proto_state st[PSC_CONV_MAX_CONNS];

	memset(st, 0, sizeof(st));
	memset(run, 0, sizeof(*run));
	for (size_t i = 0; i < conv->n; i++) {
		const struct psc_conv_chunk *c = &conv->c[i];
		int r = psc_conv_feed(ops, &st[c->conn], c, c->len < head ? c->len : head, c->len,
				      run);

		if (r < 0)
			fail_msg("chunk %zu (head %zu): parse error %d", i, head, r);
	}
}

const struct psc_msg *psc_conv_nth(const struct psc_conv_run *run, enum psc_msg_type type,
				   int i)
{
	for (int k = 0, seen = 0; k < run->nlog; k++)
		if (run->log[k].type == type && seen++ == i)
			return &run->log[k];
	fail_msg("no message #%d of type %d", i, type);
	return NULL;
}

int psc_conv_count_endpoint(const struct psc_conv_run *run, const char *ep)
{
	int n = 0;

	for (int k = 0; k < run->nlog; k++)
		n += run->log[k].type == PSC_MSG_REQUEST && !strcmp(run->log[k].endpoint, ep);
	return n;
}

void psc_conv_check_heads(const struct psc_proto_ops *ops, const struct psc_conv *conv,
			  int full_requests)
{
	static const size_t heads[] = {1, 2, 4, 5, 6, 8, 13, 16, 32, 64, 100, 128, 256, 512, 4096};
	struct psc_conv_run *run = malloc(sizeof(*run));

	assert_non_null(run);
	for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
		psc_conv_replay(ops, conv, heads[h], run);
		assert_true(run->requests <= full_requests);
		assert_int_equal(run->requests, run->responses);
	}
	free(run);
}

void psc_conv_check_prefixes(const struct psc_proto_ops *ops, const struct psc_conv *conv)
{
	struct psc_proto_state st[PSC_CONV_MAX_CONNS], tmp[PSC_CONV_MAX_CONNS];
	struct psc_conv_run *before = calloc(1, sizeof(*before)), *run = malloc(sizeof(*run));
	struct psc_conv_run *full = malloc(sizeof(*full));

	assert_true(before && run && full);
	psc_conv_replay(ops, conv, PSC_CONV_FULL_HEAD, full);
	memset(st, 0, sizeof(st));
	for (size_t i = 0; i < conv->n; i++) {
		const struct psc_conv_chunk *c = &conv->c[i];
		size_t step = c->len > 1024 ? 13 : 1;

		for (size_t k = 0; k < c->len; k += step) {
			for (int mode = 0; mode < 2; mode++) {
				memcpy(tmp, st, sizeof(st));
				*run = *before;
				int r = psc_conv_feed(ops, &tmp[c->conn], c, k, mode ? k : c->len,
						      run);
				assert_true(r >= 0 || r == -EBADMSG);
				for (size_t j = i + 1; j < conv->n; j++)
					psc_conv_feed(ops, &tmp[conv->c[j].conn], &conv->c[j],
						      conv->c[j].len, conv->c[j].len, run);
				if (run->requests > full->requests ||
				    run->responses > full->responses ||
				    (mode == 0 && run->requests != run->responses))
					print_message("chunk %zu k %zu mode %d: %d/%d vs %d\n", i,
						      k, mode, run->requests, run->responses,
						      full->requests);
				assert_true(run->requests <= full->requests);
				assert_true(run->responses <= full->responses);
				/* A short syscall followed by chunks that start afresh is not a
				 * possible stream: only the bounds hold for it. */
				if (mode == 0)
					assert_int_equal(run->requests, run->responses);
			}
		}
		psc_conv_feed(ops, &st[c->conn], c, c->len, c->len, before);
	}
	free(before);
	free(run);
	free(full);
}

static void check_out(const struct psc_msg *out, int r)
{
	for (int k = 0; k < r; k++)
		assert_true(strnlen(out[k].endpoint, PSC_ENDPOINT_MAX) < PSC_ENDPOINT_MAX);
}

void psc_conv_check_chunk_prefixes(const struct psc_proto_ops *ops, const char *proto,
				   const char *scenario, size_t head_extra, bool reused_bounded)
{
	struct psc_conv *conv = psc_conv_load(proto, scenario);
	struct psc_msg out[PSC_MSGS_PER_HEAD];

	for (size_t i = 0; i < conv->n; i++) {
		const struct psc_conv_chunk *c = &conv->c[i];
		struct psc_proto_state st = {0};
		int full = psc_conv_parse_head(ops, &st, c->flow, c->data, c->len, c->len, out,
					       PSC_MSGS_PER_HEAD);
		size_t cap = c->len < PREFIX_CAP ? c->len : PREFIX_CAP;

		/* e.g. a body continuation alone is not the protocol */
		if (full < 0)
			full = 0;
		int reused_max = reused_bounded ? full : PSC_MSGS_PER_HEAD;

		for (size_t l = 0; l <= cap; l++) {
			for (int as_head = 0; as_head < 2; as_head++) {
				size_t full_len = as_head ? cap + head_extra : l;
				struct psc_proto_state fresh = {0};
				int r;

				r = psc_conv_parse_head(ops, &fresh, c->flow, c->data, full_len, l,
							out, PSC_MSGS_PER_HEAD);
				assert_true(r == -EBADMSG || (r >= 0 && r <= full));
				check_out(out, r);
				r = psc_conv_parse_head(ops, &st, c->flow, c->data, full_len, l,
							out, PSC_MSGS_PER_HEAD);
				assert_true(r == -EBADMSG || (r >= 0 && r <= reused_max));
				check_out(out, r);
			}
		}
	}
	psc_conv_free(&conv);
}

void psc_conv_check(const struct psc_proto_ops *ops, const struct psc_conv *conv,
		    const struct psc_conv_expect *expect, struct psc_conv_run *run)
{
	bool tables = expect->endpoints || expect->stmts || expect->rows || expect->failed;

	psc_conv_replay(ops, conv, PSC_CONV_FULL_HEAD, run);
	assert_int_equal(run->requests, expect->requests);
	assert_int_equal(run->responses, expect->requests);
	for (int i = 0; tables && i < expect->requests; i++) {
		const struct psc_msg *req = psc_conv_nth(run, PSC_MSG_REQUEST, i);
		const struct psc_msg *resp = psc_conv_nth(run, PSC_MSG_RESPONSE, i);

		if (expect->endpoints)
			assert_string_equal(req->endpoint, expect->endpoints[i]);
		if (expect->stmts)
			assert_int_equal(req->sql_stmt, expect->stmts[i]);
		if (expect->rows)
			assert_int_equal(resp->rows, expect->rows[i]);
		if (expect->failed)
			assert_int_equal(resp->error, expect->failed[i]);
	}
	psc_conv_check_heads(ops, conv, expect->requests);
	psc_conv_check_prefixes(ops, conv);
}

void psc_conv_check_random(const struct psc_proto_ops *ops, uint64_t seed, int parses,
			   size_t extra_step)
{
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	struct psc_proto_state st;
	uint8_t b[300];
	uint64_t x = seed;

	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)(round % 300) + 1;

		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			b[i] = (uint8_t)x;
		}
		memset(&st, 0, sizeof(st));
		for (int k = 0; k < parses; k++) {
			int r = psc_conv_parse_head(ops, &st, (enum psc_flow)(k & 1), b,
						    len + (size_t)k * extra_step, len, out,
						    PSC_MSGS_PER_HEAD);

			assert_true(r == -EBADMSG || (r >= 0 && r <= PSC_MSGS_PER_HEAD));
		}
		uint8_t *exact = malloc(len);

		assert_non_null(exact);
		memcpy(exact, b, len);
		ops->detect(exact, len, PSC_FLOW_TO_SERVER);
		ops->detect(exact, len, PSC_FLOW_TO_CLIENT);
		free(exact);
	}
}
