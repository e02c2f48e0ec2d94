// SPDX-License-Identifier: MIT
/* PostgreSQL parser: recorded conversations (tests/data/postgres) replayed chunk by chunk
 * with several head sizes, plus hand-built hostile inputs. */
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
#include "proto.h"

#define OPS (&psc_proto_pg_ops)
#define DATA "postgres" /* conversations: $PSC_TEST_DATA/postgres/<scenario>/ */

/* ---- recorded conversations ---- */

static void test_psql_simple(void **unused)
{
	static const char *const endpoints[] = {
		"CREATE TABLE fx_items (id int PRIMARY KEY, name text, qty int)",
		"INSERT INTO fx_items VALUES (?, ?, ?)",
		"BEGIN; SELECT ?; COMMIT",
		"SELECT ? / ?",
		"SELECT * FROM missing_table",
		"UPDATE fx_items SET qty = qty + ? WHERE id IN (?)",
		"SELECT id, name FROM fx_items WHERE qty > ? ORDER BY id",
		"SELECT g, md5(g::text) FROM generate_series(?, ?) g",
		"DELETE FROM fx_items WHERE id = ?",
		"COPY fx_items FROM STDIN",
		"COPY fx_items TO STDOUT",
		"SELECT COUNT(*), MAX(qty) FROM fx_items i JOIN fx_items j USING (id) GROUP BY i.name",
		"DROP TABLE fx_items",
	};
	static const int64_t rows[] = {-1, 3, 1, -1, -1, 2, 3, 300, 1, 2, 4, -1, -1};
	static const bool errors[] = {0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0};
	static const uint8_t stmts[] = {
		PSC_SQL_DDL,	PSC_SQL_INSERT, PSC_SQL_SELECT, PSC_SQL_SELECT, PSC_SQL_SELECT,
		PSC_SQL_UPDATE, PSC_SQL_SELECT, PSC_SQL_SELECT, PSC_SQL_DELETE, PSC_SQL_OTHER,
		PSC_SQL_OTHER,	PSC_SQL_SELECT, PSC_SQL_DDL};
	static const struct psc_conv_expect expect = {
		.requests = 13, .endpoints = endpoints, .stmts = stmts, .rows = rows,
		.failed = errors,
	};
	struct psc_conv *fx = psc_conv_load(DATA, "psql_simple");
	struct psc_conv_run *run = malloc(sizeof(*run));

	psc_conv_check(OPS, fx, &expect, run);
	assert_int_equal(run->errors, 3);
	assert_int_equal(run->truncated, 0);
	assert_int_equal(psc_conv_nth(run, PSC_MSG_REQUEST, 11)->sql_complexity, 4);

	/* A 256-byte head: the 300-row result spans two 8 KiB-ish writes; it is answered at
	 * the first, truncated, and its 'Z' in the second is not counted again. */
	psc_conv_replay(OPS, fx, 256, run);
	assert_int_equal(run->requests, 13);
	assert_int_equal(run->responses, 13);
	assert_int_equal(run->truncated, 1);
	assert_true(psc_conv_nth(run, PSC_MSG_RESPONSE, 7)->truncated);
	assert_int_equal(psc_conv_nth(run, PSC_MSG_RESPONSE, 7)->rows, -1);
	assert_int_equal(psc_conv_nth(run, PSC_MSG_RESPONSE, 8)->rows, 1);
	assert_int_equal(run->errors, 3);
	psc_conv_free(&fx);
	free(run);
}

static const char *const tpcb[] = {
	"BEGIN",
	"UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?",
	"SELECT abalance FROM pgbench_accounts WHERE aid = ?",
	"UPDATE pgbench_tellers SET tbalance = tbalance + ? WHERE tid = ?",
	"UPDATE pgbench_branches SET bbalance = bbalance + ? WHERE bid = ?",
	("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (?, ?, ?, ?, "
	 "CURRENT_TIMESTAMP)"),
	"END",
};

static void check_pgbench(const char *scenario, int requests)
{
	const struct psc_conv_expect expect = {.requests = requests};
	struct psc_conv *fx = psc_conv_load(DATA, scenario);
	struct psc_conv_run *run = malloc(sizeof(*run));

	psc_conv_check(OPS, fx, &expect, run);
	assert_int_equal(run->errors, 0);
	assert_int_equal(psc_conv_count_endpoint(run, "EXECUTE ?"), 0);
	for (size_t i = 0; i < sizeof(tpcb) / sizeof(tpcb[0]); i++)
		assert_int_equal(psc_conv_count_endpoint(run, tpcb[i]), 5);
	/* Each UPDATE and the INSERT touch exactly one row. */
	for (int i = 0; i < run->nlog - 1; i++) {
		const struct psc_msg *m = &run->log[i];
		if (m->type == PSC_MSG_REQUEST &&
		    (!strncmp(m->endpoint, "UPDATE pgbench_", 15) ||
		     !strncmp(m->endpoint, "INSERT INTO pgbench_", 20))) {
			assert_int_equal(m->sql_stmt, !strncmp(m->endpoint, "UPDATE", 6)
							      ? PSC_SQL_UPDATE
							      : PSC_SQL_INSERT);
			assert_int_equal(run->log[i + 1].type, PSC_MSG_RESPONSE);
			assert_int_equal(run->log[i + 1].rows, 1);
		}
	}
	psc_conv_replay(OPS, fx, 256, run);
	assert_int_equal(run->requests, requests);
	assert_int_equal(run->responses, requests);
	psc_conv_free(&fx);
	free(run);
}

static void test_pgbench_simple(void **unused)
{
	/* 35 TPC-B statements + the run's setup queries (vacuum, truncate, count...). */
	check_pgbench("pgbench_simple", 40);
}

static void test_pgbench_extended(void **unused)
{
	check_pgbench("pgbench_extended", 37);
}

static void test_pgbench_prepared(void **unused)
{
	/* Named statements P_0..P_6, prepared once, executed 5 times each: all 7 must stay in
	 * the per-connection statement table. */
	check_pgbench("pgbench_prepared", 37);
}

static void test_pgbench_init(void **unused)
{
	static const struct psc_conv_expect expect = {.requests = 18};
	struct psc_conv *fx = psc_conv_load(DATA, "pgbench_init");
	struct psc_conv_run *run = malloc(sizeof(*run));
	int ddl = 0;

	psc_conv_check(OPS, fx, &expect, run);
	for (int k = 0; k < run->nlog; k++)
		ddl += run->log[k].type == PSC_MSG_REQUEST && run->log[k].sql_stmt == PSC_SQL_DDL;
	assert_true(ddl >= 4); /* drop tables, create tables, truncate, primary keys */
	assert_int_equal(psc_conv_count_endpoint(run, "BEGIN"), 1);
	psc_conv_free(&fx);
	free(run);
}

static void test_extended_batch(void **unused)
{
	static const char *const endpoints[] = {
		"SELECT ? / ?",	     /* fails */
		"SELECT ?::int + ?", /* skipped by the server until Sync */
		"SELECT COUNT(*) FROM pg_class WHERE relkind = ?", /* named, bound twice */
		"SELECT COUNT(*) FROM pg_class WHERE relkind = ?",
		"SELECT g FROM generate_series(?, ?) g", /* PortalSuspended, then the rest */
		"SELECT g FROM generate_series(?, ?) g",
		"EMPTY",	/* EmptyQueryResponse */
		"SELEC broken", /* Parse error: its Execute is skipped */
		"CREATE TEMP TABLE fx_t (a int)",
		"INSERT INTO fx_t VALUES (?)",
		"BEGIN; SELECT ?; COMMIT", /* simple query */
	};
	static const bool errors[] = {1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0};
	static const int64_t rows[] = {-1, -1, 1, 1, -1, 3, -1, -1, -1, 2, 1};
	static const struct psc_conv_expect expect = {
		.requests = 11, .endpoints = endpoints, .rows = rows, .failed = errors,
	};
	struct psc_conv *fx = psc_conv_load(DATA, "extended_batch");
	struct psc_conv_run *run = malloc(sizeof(*run));

	psc_conv_check(OPS, fx, &expect, run);
	psc_conv_free(&fx);
	free(run);
}

static void test_detect(void **unused)
{
	struct psc_conv *fx = NULL;
	static const uint8_t http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t redis[] = "*1\r\n$4\r\nPING\r\n";
	static const uint8_t q_bad[] = "Q\0\0\0\x0dHELLO 1\0";
	static const uint8_t q_ok[] = "Q\0\0\0\x0dselect 1\0";
	static const uint8_t q_len[] = "Q\0\0\0\x20select 1\0"; /* NUL not at the end */

	fx = psc_conv_load(DATA, "psql_simple");
	assert_true(OPS->detect(fx->c[0].data, fx->c[0].len, PSC_FLOW_TO_SERVER)); /* startup */
	assert_true(OPS->detect(fx->c[1].data, fx->c[1].len, PSC_FLOW_TO_CLIENT)); /* AuthOk */
	assert_true(OPS->detect(fx->c[2].data, fx->c[2].len, PSC_FLOW_TO_SERVER)); /* 'Q' */
	assert_true(OPS->detect(fx->c[2].data, 12, PSC_FLOW_TO_SERVER));	   /* cut */
	assert_false(OPS->detect(fx->c[3].data, fx->c[3].len, PSC_FLOW_TO_CLIENT));
	assert_false(OPS->detect(fx->c[2].data, fx->c[2].len, PSC_FLOW_TO_CLIENT));
	psc_conv_free(&fx);
	fx = psc_conv_load(DATA, "pgbench_extended");
	/* The first extended batch starts with Parse. */
	bool parse_seen = false;
	for (size_t i = 0; i < fx->n; i++)
		if (fx->c[i].flow == PSC_FLOW_TO_SERVER && fx->c[i].data[0] == 'P') {
			assert_true(OPS->detect(fx->c[i].data, fx->c[i].len, PSC_FLOW_TO_SERVER));
			parse_seen = true;
		}
	assert_true(parse_seen);
	psc_conv_free(&fx);

	assert_true(OPS->detect(q_ok, sizeof(q_ok) - 1, PSC_FLOW_TO_SERVER));
	assert_false(OPS->detect(q_bad, sizeof(q_bad) - 1, PSC_FLOW_TO_SERVER));
	assert_false(OPS->detect(q_len, sizeof(q_len) - 1, PSC_FLOW_TO_SERVER));
	assert_false(OPS->detect(http, sizeof(http) - 1, PSC_FLOW_TO_SERVER));
	assert_false(OPS->detect(redis, sizeof(redis) - 1, PSC_FLOW_TO_SERVER));
	assert_false(OPS->detect(http, sizeof(http) - 1, PSC_FLOW_TO_CLIENT));
	assert_false(OPS->detect((const uint8_t *)"\0\0\0\x08\x04\xd2\x16\x31", 8,
				 PSC_FLOW_TO_SERVER)); /* garbage code */
	assert_true(OPS->detect((const uint8_t *)"\0\0\0\x08\x04\xd2\x16\x2f", 8,
				PSC_FLOW_TO_SERVER)); /* SSLRequest */
	assert_false(OPS->detect(q_ok, 3, PSC_FLOW_TO_SERVER));
	assert_false(OPS->detect(NULL, 0, PSC_FLOW_TO_SERVER));
}

/* ---- hand-built inputs ---- */

static size_t put_msg(uint8_t *b, char type, const void *body, uint32_t n)
{
	uint32_t l = n + 4;

	b[0] = (uint8_t)type;
	b[1] = (uint8_t)(l >> 24);
	b[2] = (uint8_t)(l >> 16);
	b[3] = (uint8_t)(l >> 8);
	b[4] = (uint8_t)l;
	if (n)
		memcpy(b + 5, body, n);
	return 5 + n;
}

static int parse(struct psc_proto_state *st, enum psc_flow flow, const uint8_t *b, size_t len,
		 size_t full_len, struct psc_msg *out)
{
	return OPS->parse(st, flow, b, len, full_len, out, PSC_MSGS_PER_HEAD);
}

static void test_hostile_lengths(void **unused)
{
	struct psc_proto_state st;
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	static const uint8_t neg[] = {'Q', 0x80, 0, 0, 0, 'S', 'E', 'L'};
	static const uint8_t huge[] = {'Q', 0xff, 0xff, 0xff, 0xff, 'S', 'E', 'L'};
	static const uint8_t tiny[] = {'Q', 0, 0, 0, 3, 'S', 'E', 'L'};
	static const uint8_t start_huge[] = {0, 0x7f, 0xff, 0xff, 0, 3, 0, 0};
	static const uint8_t z_bad[] = {'Z', 0, 0, 0, 9, 'I'};
	uint8_t b[64];
	size_t n;

	memset(&st, 0, sizeof(st));
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, neg, sizeof(neg), sizeof(neg), out),
			 -EBADMSG);
	memset(&st, 0, sizeof(st));
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, huge, sizeof(huge), 1u << 31, out),
			 -EBADMSG);
	memset(&st, 0, sizeof(st));
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, tiny, sizeof(tiny), sizeof(tiny), out),
			 -EBADMSG);
	memset(&st, 0, sizeof(st));
	assert_int_equal(
		parse(&st, PSC_FLOW_TO_SERVER, start_huge, sizeof(start_huge), 1u << 31, out),
		-EBADMSG);
	memset(&st, 0, sizeof(st));
	assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, z_bad, sizeof(z_bad), sizeof(z_bad), out),
			 -EBADMSG);

	/* A 1 GiB query (the largest the server takes): one truncated request, the rest of
	 * it skipped over later heads of any size. */
	memset(&st, 0, sizeof(st));
	n = put_msg(b, 'Q', "SELECT * FROM t WHERE a = 'xx", 29);
	b[1] = 0x40;
	b[2] = b[3] = 0;
	b[4] = 0;
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, 1u << 20, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_REQUEST);
	assert_true(out[0].truncated);
	assert_string_equal(out[0].endpoint, "SELECT * FROM t WHERE a = ?");
	static const uint8_t junk[64] = {'Q', 0xff, 0xff, 0xff, 0xff};
	size_t left = (1u << 30) + 1 - (1u << 20);
	while (left > 8) {
		size_t step = left - 8 > (1u << 24) ? (1u << 24) : left - 8;
		assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, junk,
				       step < sizeof(junk) ? step : sizeof(junk), step, out),
				 0);
		left -= step;
	}
	/* The last 8 bytes end the query; a Sync follows in the same syscall. */
	uint8_t last[32];
	memset(last, 'x', 8);
	size_t m = 8 + put_msg(last + 8, 'S', NULL, 0);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, last, m, m, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_OTHER);
}

static void test_garbage_and_strings(void **unused)
{
	struct psc_proto_state st;
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	uint8_t b[512];
	size_t n;

	/* Binary garbage: never a crash, never out of bounds, usually rejected. */
	psc_conv_check_random(OPS, 0x243f6a8885a308d3ull, 3, 100);

	/* Unterminated strings: a Query without its NUL, a Parse cut in its name and in its
	 * query, a Bind whose statement name never ends. */
	memset(&st, 0, sizeof(st));
	n = put_msg(b, 'Q', "SELECT 'abc", 11);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
	assert_true(out[0].truncated);
	assert_string_equal(out[0].endpoint, "SELECT ?");
	n = put_msg(b, 'P', "stmt_without_end", 16);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_OTHER);
	n = put_msg(b, 'P', "s1\0SELECT 1 FROM", 16);
	n += put_msg(b + n, 'B', "\0s1", 3);
	n += put_msg(b + n, 'E', "\0\0\0\0", 5);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
	assert_string_equal(out[0].endpoint, "EXECUTE ?"); /* Bind's name unterminated */
	n = put_msg(b, 'B', "\0s1\0", 4);
	n += put_msg(b + n, 'E', "\0\0\0\0", 5);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
	assert_string_equal(out[0].endpoint, "SELECT ? FROM");
	/* Control bytes never reach an endpoint. */
	n = put_msg(b, 'Q', "SELECT \x01\x7f\xff FROM t\0", 19);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
	for (const char *p = out[0].endpoint; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
}

/* A simple query whose result runs over several heads: messages longer than the head are
 * skipped with their length, and the carry crosses calls. */
static void test_skip_across_heads(void **unused)
{
	struct psc_proto_state st;
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	static uint8_t big[100000];
	uint8_t b[256];
	size_t n;

	memset(&st, 0, sizeof(st));
	n = put_msg(b, 'Q', "SELECT data FROM blobs\0", 23);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);

	/* Server syscall 1: RowDescription (short) + a 90000-byte DataRow, 4096 bytes sent. */
	size_t off = put_msg(big, 'T', "\0\0", 2);
	off += put_msg(big + off, 'D', NULL, 0);
	uint32_t dl = 90000 + 4;
	big[off - 4] = (uint8_t)(dl >> 24);
	big[off - 3] = (uint8_t)(dl >> 16);
	big[off - 2] = (uint8_t)(dl >> 8);
	big[off - 1] = (uint8_t)dl;
	size_t row_end = off + 90000;
	off = row_end;
	off += put_msg(big + off, 'C', "SELECT 1\0", 9);
	off += put_msg(big + off, 'Z', "I", 1);
	/* Heads of 64 bytes over syscalls of 4096: in sync all the way (the DataRow crosses
	 * every syscall boundary), so the response comes at the real 'Z' with its rows. */
	int responses = 0;
	for (size_t pos = 0; pos < off; pos += 4096) {
		size_t full = off - pos < 4096 ? off - pos : 4096;
		size_t len = full < 64 ? full : 64;
		int r = parse(&st, PSC_FLOW_TO_CLIENT, big + pos, len, full, out);
		assert_true(r >= 0);
		for (int k = 0; k < r; k++) {
			if (out[k].type != PSC_MSG_RESPONSE)
				continue;
			responses++;
			/* The last syscall starts inside the DataRow and holds C and Z beyond
			 * its 64-byte head: answered there, truncated. */
			assert_true(out[k].truncated || out[k].rows == 1);
		}
	}
	assert_int_equal(responses, 1);

	/* Same stream with whole heads: answered once at 'Z' with rows = 1. */
	memset(&st, 0, sizeof(st));
	n = put_msg(b, 'Q', "SELECT data FROM blobs\0", 23);
	parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out);
	responses = 0;
	for (size_t pos = 0; pos < off; pos += 4096) {
		size_t full = off - pos < 4096 ? off - pos : 4096;
		int r = parse(&st, PSC_FLOW_TO_CLIENT, big + pos, full, full, out);
		for (int k = 0; k < r; k++)
			if (out[k].type == PSC_MSG_RESPONSE) {
				responses++;
				assert_int_equal(out[k].rows, 1);
				assert_false(out[k].truncated);
			}
	}
	assert_int_equal(responses, 1);

	/* A message header split across two syscalls. */
	memset(&st, 0, sizeof(st));
	parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out);
	n = put_msg(b, 'C', "SELECT 4\0", 9);
	n += put_msg(b + n, 'Z', "I", 1);
	assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, b, 16, 16, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_OTHER); /* the 'C': rows wait for 'Z' */
	assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, b + 16, 1, 1, out), 0);
	assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, b + 17, n - 17, n - 17, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_RESPONSE);
	assert_int_equal(out[0].rows, 4);
}

/* Extended protocol: Executes pipelined in one batch, an error in the middle: the rest of
 * the batch is skipped by the server and still answered (with error) at its Sync's 'Z'. */
static void test_extended_error_pairing(void **unused)
{
	struct psc_proto_state st;
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	uint8_t b[512];
	size_t n = 0;

	memset(&st, 0, sizeof(st));
	for (int i = 0; i < 3; i++) {
		n += put_msg(b + n, 'P', "\0SELECT 1\0\0\0", 12);
		n += put_msg(b + n, 'B', "\0\0\0\0\0\0\0\0", 8);
		n += put_msg(b + n, 'E', "\0\0\0\0", 5);
	}
	n += put_msg(b + n, 'S', NULL, 0);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 3);
	/* Server: ParseComplete, BindComplete, CommandComplete; then an error; 'Z'. */
	n = put_msg(b, '1', NULL, 0);
	n += put_msg(b + n, '2', NULL, 0);
	n += put_msg(b + n, 'C', "SELECT 1\0", 9);
	n += put_msg(b + n, '1', NULL, 0);
	n += put_msg(b + n, 'E', "SERROR\0\0", 8);
	assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, b, n, n, out), 2);
	assert_false(out[0].error);
	assert_int_equal(out[0].rows, 1);
	assert_true(out[1].error);
	n = put_msg(b, 'Z', "I", 1);
	assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, b, n, n, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_RESPONSE);
	assert_true(out[0].error);
	/* A second 'Z' with nothing outstanding answers nothing. */
	assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, b, n, n, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_OTHER);
}

static void test_ssl_and_tls(void **unused)
{
	struct psc_proto_state st;
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	static const uint8_t ssl[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
	static const uint8_t cancel[] = {0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e,
					 1, 2, 3, 4,  5,    6,	  7,	8};

	memset(&st, 0, sizeof(st));
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, ssl, sizeof(ssl), sizeof(ssl), out), 1);
	assert_int_equal(out[0].type, PSC_MSG_OTHER);
	assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, (const uint8_t *)"N", 1, 1, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_OTHER);
	/* Refused: the startup follows in clear, and queries are parsed. */
	uint8_t b[64];
	size_t n = put_msg(b, 'Q', "SELECT 1\0", 9);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_REQUEST);

	memset(&st, 0, sizeof(st));
	parse(&st, PSC_FLOW_TO_SERVER, ssl, sizeof(ssl), sizeof(ssl), out);
	assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, (const uint8_t *)"S", 1, 1, out), 1);
	/* Accepted: the rest is TLS and yields nothing. */
	static const uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, hello, sizeof(hello), 517, out), 0);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 0);

	memset(&st, 0, sizeof(st));
	assert_int_equal(
		parse(&st, PSC_FLOW_TO_SERVER, cancel, sizeof(cancel), sizeof(cancel), out), 1);
	assert_int_equal(out[0].type, PSC_MSG_OTHER);
}

/* Statement table: bounded, the unknown gives "EXECUTE ?", max_out is honoured. */
static void test_statement_table_and_max_out(void **unused)
{
	struct psc_proto_state st;
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	static uint8_t b[8192];
	char body[200];
	size_t n = 0;

	memset(&st, 0, sizeof(st));
	for (int i = 0; i < 40; i++) {
		int l = snprintf(body, sizeof(body),
				 "s%d%cSELECT col_%d, a_rather_long_column_name "
				 "FROM some_table WHERE id = $1%c%c%c",
				 i, 0, i, 0, 0, 0);
		n += put_msg(b + n, 'P', body, (uint32_t)l);
	}
	n += put_msg(b + n, 'S', NULL, 0);
	n += put_msg(b + n, 'B', "\0s0\0\0\0\0\0\0\0", 10);
	n += put_msg(b + n, 'E', "\0\0\0\0", 5);
	n += put_msg(b + n, 'B', "\0s39\0\0\0\0\0\0\0", 11);
	n += put_msg(b + n, 'E', "\0\0\0\0", 5);
	n += put_msg(b + n, 'S', NULL, 0);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 2);
	assert_string_equal(out[0].endpoint, "EXECUTE ?");
	assert_string_equal(
		out[1].endpoint,
		"SELECT col_39, a_rather_long_column_name FROM some_table WHERE id = ?");
	assert_int_equal(out[1].sql_stmt, PSC_SQL_SELECT);

	/* 40 simple queries in one head (pipelined), max_out 32: 32 written, all counted. */
	memset(&st, 0, sizeof(st));
	n = 0;
	for (int i = 0; i < 40; i++)
		n += put_msg(b + n, 'Q', "SELECT 1\0", 9);
	assert_int_equal(OPS->parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out, 32), 32);
	n = 0;
	for (int i = 0; i < 40; i++)
		n += put_msg(b + n, 'Z', "I", 1);
	/* Only 12 units are remembered: the oldest are forgotten, never answered twice. */
	int r = OPS->parse(&st, PSC_FLOW_TO_CLIENT, b, n, n, out, PSC_MSGS_PER_HEAD);
	assert_true(r > 0 && r <= 12);
	assert_int_equal(OPS->parse(&st, PSC_FLOW_TO_CLIENT, b, 0, 0, out, 0), 0);
	assert_int_equal(OPS->parse(NULL, PSC_FLOW_TO_CLIENT, b, 1, 1, out, 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_psql_simple),
		cmocka_unit_test(test_pgbench_simple),
		cmocka_unit_test(test_pgbench_extended),
		cmocka_unit_test(test_pgbench_prepared),
		cmocka_unit_test(test_pgbench_init),
		cmocka_unit_test(test_extended_batch),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_hostile_lengths),
		cmocka_unit_test(test_garbage_and_strings),
		cmocka_unit_test(test_skip_across_heads),
		cmocka_unit_test(test_extended_error_pairing),
		cmocka_unit_test(test_ssl_and_tls),
		cmocka_unit_test(test_statement_table_and_max_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
