// SPDX-License-Identifier: MIT
/* MySQL parser: recorded MariaDB conversations (tests/data/mysql) replayed chunk by chunk
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

#define OPS (&psc_proto_mysql_ops)
#define DATA "mysql" /* conversations: $PSC_TEST_DATA/mysql/<scenario>/ */

/* ---- recorded conversations ---- */

static void test_client_session(void **unused)
{
	static const char *const endpoints[] = {
		"CREATE DATABASE IF NOT EXISTS fx",
		"SELECT DATABASE()",
		"INIT_DB",
		"CREATE TABLE fx_items (id INT PRIMARY KEY, name VARCHAR(?), qty INT)",
		"INSERT INTO fx_items VALUES (?, ?, ?)",
		"SELECT id, name FROM fx_items WHERE qty > ? ORDER BY id",
		"UPDATE fx_items SET qty = qty + ? WHERE id IN (?)",
		"SELECT * FROM missing_table",
		"SELECT seq, md5(seq) FROM seq_1_to_300",
		"PREPARE s1 FROM ?",
		"SET @a = ?",
		"EXECUTE s1 USING @a",
		"DEALLOCATE PREPARE s1",
		"DELETE FROM fx_items WHERE id = ?",
		"SELECT COUNT(*), MAX(qty) FROM fx_items a JOIN fx_items b USING (id)",
	};
	static const int64_t rows[] = {1, 1, -1, 0, 3, 3, 2, -1, 300, 0, 0, 1, 0, 1, -1};
	static const bool errors[] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t stmts[] = {
		PSC_SQL_DDL,	PSC_SQL_SELECT, PSC_SQL_OTHER,	PSC_SQL_DDL,	PSC_SQL_INSERT,
		PSC_SQL_SELECT, PSC_SQL_UPDATE, PSC_SQL_SELECT, PSC_SQL_SELECT, PSC_SQL_OTHER,
		PSC_SQL_OTHER,	PSC_SQL_OTHER,	PSC_SQL_OTHER,	PSC_SQL_DELETE, PSC_SQL_SELECT};
	static const struct psc_conv_expect expect = {
		.requests = 15, .endpoints = endpoints, .stmts = stmts, .rows = rows,
		.failed = errors,
	};
	struct psc_conv *fx = psc_conv_load(DATA, "client_session");
	struct psc_conv_run *run = malloc(sizeof(*run));

	psc_conv_check(OPS, fx, &expect, run);
	assert_int_equal(run->errors, 2);
	assert_int_equal(run->truncated, 0);
	assert_int_equal(psc_conv_nth(run, PSC_MSG_REQUEST, 14)->sql_complexity, 3);

	/* 256-byte heads: the 300-row result (12 KiB in one write) is answered at once,
	 * truncated, and everything after still pairs. */
	psc_conv_replay(OPS, fx, 256, run);
	assert_int_equal(run->requests, 15);
	assert_int_equal(run->responses, 15);
	assert_int_equal(run->truncated, 1);
	assert_true(psc_conv_nth(run, PSC_MSG_RESPONSE, 8)->truncated);
	assert_int_equal(psc_conv_nth(run, PSC_MSG_RESPONSE, 9)->rows, 0);
	assert_int_equal(psc_conv_nth(run, PSC_MSG_RESPONSE, 11)->rows, 1);
	psc_conv_free(&fx);
	free(run);
}

/* mariadb-test --ps-protocol: every statement through COM_STMT_PREPARE/EXECUTE/CLOSE;
 * SELECTs are executed twice. The failing PREPARE (missing table) is not a request. */
static void test_ps_protocol(void **unused)
{
	static const char *const endpoints[] = {
		"CREATE DATABASE IF NOT EXISTS fx",
		"USE fx",
		"CREATE TABLE fx_orders (id INT PRIMARY KEY, customer VARCHAR(?), total DECIMAL(?, ?))",
		"INSERT INTO fx_orders VALUES (?, ?, ?)",
		"SELECT id, customer FROM fx_orders WHERE total > ? ORDER BY id",
		"SELECT id, customer FROM fx_orders WHERE total > ? ORDER BY id",
		"UPDATE fx_orders SET total = total + ? WHERE id IN (?)",
		"SELECT customer, COUNT(*) FROM fx_orders GROUP BY customer",
		"SELECT customer, COUNT(*) FROM fx_orders GROUP BY customer",
		"DELETE FROM fx_orders WHERE id = ?",
		"DROP TABLE fx_orders",
	};
	static const int64_t rows[] = {0, 0, 0, 3, 2, 2, 2, 3, 3, 1, 0};
	static const struct psc_conv_expect expect = {
		.requests = 11, .endpoints = endpoints, .rows = rows,
	};
	struct psc_conv *fx = psc_conv_load(DATA, "ps_protocol");
	struct psc_conv_run *run = malloc(sizeof(*run));

	psc_conv_check(OPS, fx, &expect, run);
	assert_int_equal(run->errors, 0);
	assert_int_equal(psc_conv_count_endpoint(run, "EXECUTE ?"), 0);
	assert_int_equal(psc_conv_nth(run, PSC_MSG_REQUEST, 7)->sql_complexity, 2);
	psc_conv_free(&fx);
	free(run);
}

static void test_admin(void **unused)
{
	static const char *const endpoints[] = {"PING", "STATISTICS"};
	static const struct psc_conv_expect expect = {.requests = 2, .endpoints = endpoints};
	struct psc_conv *fx = psc_conv_load(DATA, "admin");
	struct psc_conv_run *run = malloc(sizeof(*run));

	psc_conv_check(OPS, fx, &expect, run);
	assert_int_equal(run->errors, 0);
	psc_conv_free(&fx);
	free(run);
}

static void test_detect(void **unused)
{
	struct psc_conv *fx = psc_conv_load(DATA, "client_session");
	static const uint8_t http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t q_ok[] = "\x09\0\0\0\x03SELECT 1";
	static const uint8_t q_seq[] = "\x09\0\0\x01\x03SELECT 1";
	static const uint8_t q_text[] = "\x09\0\0\0\x03HELLO 12";
	static const uint8_t pg_q[] = "Q\0\0\0\x0dselect 1";

	assert_true(OPS->detect(fx->c[0].data, fx->c[0].len, PSC_FLOW_TO_CLIENT));  /* greeting */
	assert_true(OPS->detect(fx->c[0].data, 12, PSC_FLOW_TO_CLIENT));	    /* cut */
	assert_false(OPS->detect(fx->c[1].data, fx->c[1].len, PSC_FLOW_TO_SERVER)); /* login */
	assert_true(OPS->detect(fx->c[3].data, fx->c[3].len, PSC_FLOW_TO_SERVER));  /* query */
	assert_false(OPS->detect(fx->c[3].data, fx->c[3].len, PSC_FLOW_TO_CLIENT));
	assert_false(OPS->detect(fx->c[4].data, fx->c[4].len, PSC_FLOW_TO_CLIENT)); /* OK */
	psc_conv_free(&fx);
	assert_true(OPS->detect(q_ok, sizeof(q_ok) - 1, PSC_FLOW_TO_SERVER));
	assert_false(OPS->detect(q_seq, sizeof(q_seq) - 1, PSC_FLOW_TO_SERVER));
	assert_false(OPS->detect(q_text, sizeof(q_text) - 1, PSC_FLOW_TO_SERVER));
	assert_false(OPS->detect(pg_q, sizeof(pg_q) - 1, PSC_FLOW_TO_SERVER));
	assert_false(OPS->detect(http, sizeof(http) - 1, PSC_FLOW_TO_SERVER));
	assert_false(OPS->detect(http, sizeof(http) - 1, PSC_FLOW_TO_CLIENT));
	assert_false(OPS->detect(q_ok, 4, PSC_FLOW_TO_SERVER));
	assert_false(OPS->detect(NULL, 0, PSC_FLOW_TO_SERVER));
}

/* ---- hand-built inputs ---- */

static size_t put_pkt(uint8_t *b, uint8_t seq, const void *payload, uint32_t n)
{
	b[0] = (uint8_t)n;
	b[1] = (uint8_t)(n >> 8);
	b[2] = (uint8_t)(n >> 16);
	b[3] = seq;
	if (n)
		memcpy(b + 4, payload, n);
	return 4 + n;
}

static int parse(struct psc_proto_state *st, enum psc_flow flow, const uint8_t *b, size_t len,
		 size_t full_len, struct psc_msg *out)
{
	return OPS->parse(st, flow, b, len, full_len, out, PSC_MSGS_PER_HEAD);
}

static void test_hostile(void **unused)
{
	struct psc_proto_state st;
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	uint8_t b[512];
	size_t n;

	/* Unknown command byte, empty command packet. */
	memset(&st, 0, sizeof(st));
	n = put_pkt(b, 0, "\x40xyz", 4);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), -EBADMSG);
	memset(&st, 0, sizeof(st));
	n = put_pkt(b, 0, NULL, 0);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), -EBADMSG);

	/* The largest packet (16 MiB - 1) as a query: one truncated request, the rest skipped,
	 * its continuation packet not taken for a command. */
	memset(&st, 0, sizeof(st));
	n = put_pkt(b, 0, "\x03SELECT * FROM t WHERE a = 'xxx", 31);
	b[0] = b[1] = b[2] = 0xff;
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, 1u << 20, out), 1);
	assert_true(out[0].truncated);
	assert_string_equal(out[0].endpoint, "SELECT * FROM t WHERE a = ?");
	static const uint8_t zeros[64];
	size_t left = 0xffffffu + 4 - (1u << 20);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, zeros, sizeof(zeros), left, out), 0);
	n = put_pkt(b, 1, "more text", 9); /* continuation, sequence id 1 */
	n += put_pkt(b + n, 0, "\x0e", 1); /* then a PING */
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
	assert_string_equal(out[0].endpoint, "PING");

	/* Random bytes: never a crash, never out of bounds. */
	psc_conv_check_random(OPS, 0x9e3779b97f4a7c15ull, 4, 50);

	/* Control bytes never reach an endpoint; an unterminated string still fingerprints. */
	memset(&st, 0, sizeof(st));
	n = put_pkt(b, 0, "\x03SELECT '\x01\xff", 10);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
	assert_string_equal(out[0].endpoint, "SELECT ?");
	n = put_pkt(b, 0, "\x03SELECT \x01\x7f", 10);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
	for (const char *p = out[0].endpoint; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
}

/* A reply the server answers with several results (CLIENT_MULTI_STATEMENTS) is one
 * response; a CLIENT_DEPRECATE_EOF result set ends at its 0xfe OK. */
static void test_multi_result_and_deprecate_eof(void **unused)
{
	struct psc_proto_state st;
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	uint8_t b[512];
	size_t n;

	memset(&st, 0, sizeof(st));
	n = put_pkt(b, 0, "\x03UPDATE t SET a = 1; DELETE FROM u", 34);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
	assert_int_equal(out[0].sql_stmt, PSC_SQL_UPDATE);
	/* OK (2 rows, MORE_RESULTS) then OK (3 rows). */
	n = put_pkt(b, 1, "\x00\x02\x00\x0a\x00\x00\x00", 7);
	n += put_pkt(b + n, 2, "\x00\x03\x00\x02\x00\x00\x00", 7);
	assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, b, n, n, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_RESPONSE);
	assert_int_equal(out[0].rows, 5);

	/* Deprecate-EOF result: 1 column, 2 rows, OK with a 0xfe header; then an ERR reply. */
	n = put_pkt(b, 0, "\x03SELECT a FROM t", 16);
	n += put_pkt(b + n, 0, "\x03SELECT nope", 12);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 2);
	n = put_pkt(b, 1, "\x01", 1);
	n += put_pkt(b + n, 2,
		     "\x03"
		     "def\x00\x00\x00\x01"
		     "a\x00\x0c\x3f\x00\x0b\x00\x00\x00\x03\x00"
		     "\x00\x00\x00",
		     23);
	n += put_pkt(b + n, 3,
		     "\x01"
		     "1",
		     2);
	n += put_pkt(b + n, 4,
		     "\x01"
		     "2",
		     2);
	n += put_pkt(b + n, 5, "\xfe\x00\x00\x02\x00\x00\x00", 7);
	n += put_pkt(b + n, 1, "\xff\x7a\x04#42S02nope", 13);
	assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, b, n, n, out), 2);
	assert_int_equal(out[0].rows, 2);
	assert_false(out[0].error);
	assert_true(out[1].error);
}

/* COM_STMT_EXECUTE of a statement never prepared, the statement table bound, max_out. */
static void test_statements_and_max_out(void **unused)
{
	struct psc_proto_state st;
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	static uint8_t b[8192];
	char q[200];
	size_t n;

	memset(&st, 0, sizeof(st));
	n = put_pkt(b, 0, "\x17\x63\x00\x00\x00\x00\x01\x00\x00\x00", 10);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
	assert_string_equal(out[0].endpoint, "EXECUTE ?");
	n = put_pkt(b, 1, "\x00\x00\x00\x02\x00\x00\x00", 7);
	assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, b, n, n, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_RESPONSE);

	/* 20 statements prepared (ids 1..20): the oldest are evicted, the newest kept. */
	for (uint32_t id = 1; id <= 20; id++) {
		int l = snprintf(q, sizeof(q),
				 "\x16SELECT col_%u, another_long_column FROM some_table "
				 "WHERE id = ?",
				 id);
		n = put_pkt(b, 0, q, (uint32_t)l);
		assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
		assert_int_equal(out[0].type, PSC_MSG_OTHER);
		uint8_t ok[12] = {0, (uint8_t)id, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
		n = put_pkt(b, 1, ok, 12);
		n += put_pkt(b + n, 2,
			     "\x03"
			     "def\x00\x00\x00\x01?\x00\x0c\x3f\x00\x00\x00\x00\x00\x06"
			     "\x80\x00\x00\x00\x00",
			     23);
		n += put_pkt(b + n, 3, "\xfe\x00\x00\x02\x00", 5);
		assert_int_equal(parse(&st, PSC_FLOW_TO_CLIENT, b, n, n, out), 1);
		assert_int_equal(out[0].type, PSC_MSG_OTHER);
	}
	n = put_pkt(b, 0, "\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00", 10);
	n += put_pkt(b + n, 0, "\x17\x14\x00\x00\x00\x00\x01\x00\x00\x00", 10);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 2);
	assert_string_equal(out[0].endpoint, "EXECUTE ?");
	assert_string_equal(out[1].endpoint,
			    "SELECT col_20, another_long_column FROM some_table WHERE id = ?");
	/* COM_STMT_CLOSE forgets it. */
	n = put_pkt(b, 0, "\x19\x14\x00\x00\x00", 5);
	n += put_pkt(b + n, 0, "\x17\x14\x00\x00\x00\x00\x01\x00\x00\x00", 10);
	assert_int_equal(parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out), 1);
	assert_string_equal(out[0].endpoint, "EXECUTE ?");

	/* 40 pipelined PINGs, max_out 32: 32 written; only 8 commands are queued. */
	memset(&st, 0, sizeof(st));
	n = 0;
	for (int i = 0; i < 40; i++)
		n += put_pkt(b + n, 0, "\x0e", 1);
	assert_int_equal(OPS->parse(&st, PSC_FLOW_TO_SERVER, b, n, n, out, 32), 32);
	n = 0;
	for (int i = 0; i < 40; i++)
		n += put_pkt(b + n, 1, "\x00\x00\x00\x02\x00\x00\x00", 7);
	int r = OPS->parse(&st, PSC_FLOW_TO_CLIENT, b, n, n, out, PSC_MSGS_PER_HEAD);
	assert_true(r >= 1 && r <= 8);
	assert_int_equal(OPS->parse(NULL, PSC_FLOW_TO_CLIENT, b, 1, 1, out, 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_session),
		cmocka_unit_test(test_ps_protocol),
		cmocka_unit_test(test_admin),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_multi_result_and_deprecate_eof),
		cmocka_unit_test(test_statements_and_max_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
