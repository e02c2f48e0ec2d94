// SPDX-License-Identifier: MIT
/* SQL fingerprints and the prepared statement cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"
#include "sql_fingerprint.h"

struct fp_case {
	enum psc_sql_dialect dialect;
	const char *sql;
	const char *fp;
	uint8_t stmt;
	uint16_t complexity;
};

#define PG PSC_SQL_DIALECT_PG
#define MY PSC_SQL_DIALECT_MYSQL

static const struct fp_case cases[] = {
	/* pgbench's statements, as the extended protocol sends them and as literals. */
	{PG, "SELECT abalance FROM pgbench_accounts WHERE aid = 123;",
	 "SELECT abalance FROM pgbench_accounts WHERE aid = ?", PSC_SQL_SELECT, 0},
	{PG, "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
	 "UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?", PSC_SQL_UPDATE, 0},
	{PG,
	 "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 1, 12345, -2431, "
	 "CURRENT_TIMESTAMP);",
	 "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (?, ?, ?, ?, "
	 "CURRENT_TIMESTAMP)",
	 PSC_SQL_INSERT, 0},
	/* Literals of every kind. */
	{PG,
	 "SELECT * FROM t WHERE s = 'it''s' AND n = -3.5e+2 AND h = X'ff' AND b = B'101' AND "
	 "e = E'a\\'b' AND d = $q$x$q$ AND f = .5",
	 "SELECT * FROM t WHERE s = ? AND n = ? AND h = ? AND b = ? AND e = ? AND d = ? AND f = ?",
	 PSC_SQL_SELECT, 0},
	{PG, "SELECT * FROM t WHERE x = TRUE AND y IS NULL AND z = false",
	 "SELECT * FROM t WHERE x = TRUE AND y IS NULL AND z = FALSE", PSC_SQL_SELECT, 0},
	{PG, "select x - 1, x-1, -1 from t", "SELECT x - ?, x - ?, ? FROM t", PSC_SQL_SELECT, 0},
	/* IN lists and VALUES rows. */
	{PG, "select a from t where b = $1 and c in ($2, $3, 4) -- x",
	 "SELECT a FROM t WHERE b = ? AND c IN (?)", PSC_SQL_SELECT, 0},
	{PG, "SELECT a FROM t WHERE b IN (1, c)", "SELECT a FROM t WHERE b IN (?, c)",
	 PSC_SQL_SELECT, 0},
	{PG, "SELECT a FROM t WHERE b NOT IN (SELECT c FROM u WHERE d IN (1,2))",
	 "SELECT a FROM t WHERE b NOT IN (SELECT c FROM u WHERE d IN (?))", PSC_SQL_SELECT, 1},
	{PG, "INSERT INTO t(a,b) VALUES (1,2),(3,4), (5, 6) RETURNING id",
	 "INSERT INTO t(a, b) VALUES (?, ?) RETURNING id", PSC_SQL_INSERT, 0},
	{MY, "INSERT INTO t VALUES (1,'a'),(2,'b') ON DUPLICATE KEY UPDATE b = VALUES(b)",
	 "INSERT INTO t VALUES (?, ?) ON DUPLICATE KEY UPDATE b = VALUES (b)", PSC_SQL_INSERT, 0},
	/* Comments and whitespace. */
	{PG, "/* lead */ SELECT 1 /* nested /* c */ x */ FROM t", "SELECT ? FROM t", PSC_SQL_SELECT,
	 0},
	{PG, "  SELECT\n\t1  ,  2  ", "SELECT ?, ?", PSC_SQL_SELECT, 0},
	{MY, "select * from t where a = 'x\\'y' and b = \"q\" # tail",
	 "SELECT * FROM t WHERE a = ? AND b = ?", PSC_SQL_SELECT, 0},
	{MY, "/*!40101 SET NAMES utf8mb4 */", "SET NAMES utf8mb4", PSC_SQL_OTHER, 0},
	/* Identifiers stay as written. */
	{PG, "select x::text, y[1] from \"S\".\"T\"", "SELECT x::text, y[?] FROM \"S\".\"T\"",
	 PSC_SQL_SELECT, 0},
	{MY, "SELECT `id` FROM `db`.`t` WHERE id IN (?, ?, ?)",
	 "SELECT `id` FROM `db`.`t` WHERE id IN (?)", PSC_SQL_SELECT, 0},
	{MY, "SELECT @@version, @a := 1", "SELECT @@version, @a := ?", PSC_SQL_SELECT, 0},
	{PG, "select min(x), min from t", "SELECT MIN(x), min FROM t", PSC_SQL_SELECT, 1},
	/* Statement types. */
	{PG, "begin", "BEGIN", PSC_SQL_TXN, 0},
	{PG, "BEGIN; SELECT 1; COMMIT", "BEGIN; SELECT ?; COMMIT", PSC_SQL_SELECT, 0},
	{PG, "COMMIT; UPDATE t SET a = 1", "COMMIT; UPDATE t SET a = ?", PSC_SQL_UPDATE, 0},
	{PG, "delete from t where id = 7", "DELETE FROM t WHERE id = ?", PSC_SQL_DELETE, 0},
	{PG, "create table t (a int)", "CREATE TABLE t (a int)", PSC_SQL_DDL, 0},
	{PG, "truncate pgbench_history", "TRUNCATE pgbench_history", PSC_SQL_DDL, 0},
	{PG, "SET search_path = public", "SET search_path = public", PSC_SQL_OTHER, 0},
	{PG, "with x as (select 1) delete from y where z = $1",
	 "WITH x AS (SELECT ?) DELETE FROM y WHERE z = ?", PSC_SQL_DELETE, 1},
	{MY, "REPLACE INTO t (a) VALUES (?), (?)", "REPLACE INTO t (a) VALUES (?)", PSC_SQL_INSERT,
	 0},
	{PG, "", "", PSC_SQL_NONE, 0},
	/* Complexity: joins, subqueries, aggregates, GROUP BY, ORDER BY, set operations. */
	{PG,
	 "SELECT x FROM a JOIN b ON a.i = b.i LEFT JOIN c ON c.i = a.i WHERE a.z IN (SELECT z "
	 "FROM d) GROUP BY x ORDER BY x",
	 "SELECT x FROM a JOIN b ON a.i = b.i LEFT JOIN c ON c.i = a.i WHERE a.z IN (SELECT z "
	 "FROM d) GROUP BY x ORDER BY x",
	 PSC_SQL_SELECT, 5},
	{PG, "select count(*) from (select 1 from a, b) s",
	 "SELECT COUNT(*) FROM (SELECT ? FROM a, b) s", PSC_SQL_SELECT, 3},
	{PG, "SELECT 1 UNION SELECT 2 INTERSECT SELECT 3",
	 "SELECT ? UNION SELECT ? INTERSECT SELECT ?", PSC_SQL_SELECT, 2},
};

static void test_cases(void **unused)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fp_case *c = &cases[i];
		struct psc_sql_info info;
		char out[PSC_ENDPOINT_MAX];
		size_t n = psc_sql_fingerprint(c->sql, strlen(c->sql), c->dialect, out, sizeof(out),
					       &info);
		print_message("case %zu: %s\n", i, c->sql);
		assert_string_equal(out, c->fp);
		assert_int_equal(n, strlen(c->fp));
		assert_int_equal(info.stmt, c->stmt);
		assert_int_equal(info.complexity, c->complexity);
		assert_false(info.truncated);
	}
}

static void test_tables(void **unused)
{
	const char *sql = "SELECT * FROM public.a, b JOIN c ON 1 = 1 WHERE x IN (SELECT y FROM d) "
			  "AND z IN (SELECT y FROM e) AND w IN (SELECT 1 FROM a)";
	struct psc_sql_info info;
	char out[PSC_ENDPOINT_MAX];

	psc_sql_fingerprint(sql, strlen(sql), PG, out, sizeof(out), &info);
	assert_int_equal(info.ntables, PSC_SQL_TABLES_MAX);
	assert_string_equal(info.tables[0], "public.a");
	assert_string_equal(info.tables[1], "b");
	assert_string_equal(info.tables[2], "c");
	assert_string_equal(info.tables[3], "d");

	sql = "UPDATE pgbench_tellers SET tbalance = tbalance + 1 WHERE tid = 2";
	psc_sql_fingerprint(sql, strlen(sql), PG, out, sizeof(out), &info);
	assert_int_equal(info.ntables, 1);
	assert_string_equal(info.tables[0], "pgbench_tellers");

	sql = "INSERT INTO t SELECT * FROM t";
	psc_sql_fingerprint(sql, strlen(sql), PG, out, sizeof(out), &info);
	assert_int_equal(info.ntables, 1); /* de-duplicated */
}

static void test_truncated_input(void **unused)
{
	struct psc_sql_info info;
	char out[PSC_ENDPOINT_MAX];

	/* Cut inside a string: the string still counts as one literal. */
	psc_sql_fingerprint("SELECT 'unterminated", 20, PG, out, sizeof(out), &info);
	assert_string_equal(out, "SELECT ?");
	assert_true(info.truncated);
	/* Cut inside an IN list and inside a VALUES row. */
	psc_sql_fingerprint("SELECT * FROM t WHERE a IN (1, 2", 32, PG, out, sizeof(out), &info);
	assert_string_equal(out, "SELECT * FROM t WHERE a IN (?");
	psc_sql_fingerprint("INSERT INTO t VALUES (1, 2), (3,", 32, PG, out, sizeof(out), &info);
	assert_string_equal(out, "INSERT INTO t VALUES (?, ?)");
	/* Cut inside a comment and a dollar quote. */
	psc_sql_fingerprint("SELECT 1 /* no end", 18, PG, out, sizeof(out), &info);
	assert_string_equal(out, "SELECT ?");
	assert_true(info.truncated);
	psc_sql_fingerprint("SELECT $x$ body", 15, PG, out, sizeof(out), &info);
	assert_string_equal(out, "SELECT ?");
	assert_true(info.truncated);
	/* A NUL ends the statement. */
	psc_sql_fingerprint("SELECT 1\0garbage", 16, PG, out, sizeof(out), &info);
	assert_string_equal(out, "SELECT ?");
	/* Every prefix of a statement gives a prefix-shaped fingerprint and never crashes. */
	const char *sql = "SELECT a, COUNT(*) FROM t JOIN u ON t.id = u.id WHERE s = 'x' AND n IN "
			  "(1, 2, 3) GROUP BY a /* c */ ORDER BY 2 DESC";
	for (size_t k = 0; k <= strlen(sql); k++) {
		size_t n = psc_sql_fingerprint(sql, k, PG, out, sizeof(out), &info);
		assert_int_equal(n, strlen(out));
		assert_true(info.complexity <= 4);
	}
}

static void test_small_output(void **unused)
{
	const char *sql = "SELECT aaaa, bbbb, cccc FROM t WHERE x IN (1, 2, 3)";
	struct psc_sql_info info;
	char out[PSC_ENDPOINT_MAX];
	char small[8];

	for (size_t sz = 1; sz <= sizeof(small); sz++) {
		memset(small, 'X', sizeof(small));
		size_t n = psc_sql_fingerprint(sql, strlen(sql), PG, small, sz, &info);
		assert_int_equal(n, sz - 1);
		assert_int_equal(small[sz - 1], '\0');
		assert_true(info.truncated);
		if (sz > 1)
			assert_memory_equal(small, "SELECT aaaa", sz - 1);
	}
	assert_int_equal(psc_sql_fingerprint(sql, strlen(sql), PG, NULL, 0, NULL), 0);
	/* A long statement is cut at the buffer, the IN collapse still applied before. */
	char longsql[600];
	size_t off = (size_t)snprintf(longsql, sizeof(longsql), "SELECT * FROM t WHERE id IN (");
	for (int i = 0; i < 100; i++)
		off += (size_t)snprintf(longsql + off, sizeof(longsql) - off, "%d,", i);
	snprintf(longsql + off, sizeof(longsql) - off, "1) AND b = 2");
	psc_sql_fingerprint(longsql, strlen(longsql), PG, out, sizeof(out), &info);
	assert_string_equal(out, "SELECT * FROM t WHERE id IN (?) AND b = ?");
	assert_false(info.truncated);
}

static void test_plausible(void **unused)
{
	assert_true(psc_sql_plausible("SELECT 1", 8));
	assert_true(psc_sql_plausible("  (select 1)", 12));
	assert_true(psc_sql_plausible("BEGIN", 5)); /* the head may end right after the word */
	assert_false(psc_sql_plausible("BEG", 3));
	assert_false(psc_sql_plausible("GET / HTTP/1.1", 14));
	assert_false(psc_sql_plausible("SELECTED", 8));
	assert_false(psc_sql_plausible("SELECT \x01\x02", 9));
	assert_false(psc_sql_plausible("", 0));
	assert_false(psc_sql_plausible(NULL, 5));
}

static void test_cache(void **unused)
{
	struct psc_sql_stmt_cache cache;
	char fp[PSC_ENDPOINT_MAX], text[PSC_SQL_CACHE_FP_MAX + 40];
	uint8_t stmt;
	uint16_t cx;

	memset(&cache, 0, sizeof(cache));
	assert_false(psc_sql_cache_get(&cache, 1, fp, sizeof(fp), &stmt, &cx));
	psc_sql_cache_put(&cache, 1, "SELECT ?", 8, PSC_SQL_SELECT, 3);
	psc_sql_cache_put(&cache, 2, "BEGIN", 5, PSC_SQL_TXN, 0);
	assert_true(psc_sql_cache_get(&cache, 1, fp, sizeof(fp), &stmt, &cx));
	assert_string_equal(fp, "SELECT ?");
	assert_int_equal(stmt, PSC_SQL_SELECT);
	assert_int_equal(cx, 3);
	/* Replace, rekey, delete. */
	psc_sql_cache_put(&cache, 2, "COMMIT", 6, PSC_SQL_TXN, 0);
	assert_true(psc_sql_cache_get(&cache, 2, fp, sizeof(fp), NULL, NULL));
	assert_string_equal(fp, "COMMIT");
	assert_true(psc_sql_cache_rekey(&cache, 2, 7));
	assert_false(psc_sql_cache_get(&cache, 2, fp, sizeof(fp), NULL, NULL));
	assert_true(psc_sql_cache_get(&cache, 7, fp, sizeof(fp), NULL, NULL));
	assert_false(psc_sql_cache_rekey(&cache, 99, 100));
	psc_sql_cache_del(&cache, 7);
	assert_false(psc_sql_cache_get(&cache, 7, fp, sizeof(fp), NULL, NULL));
	/* Bounded: many long entries evict the least recently used; key 1 stays as it is used. */
	memset(text, 'x', sizeof(text));
	for (uint32_t k = 100; k < 140; k++) {
		psc_sql_cache_put(&cache, k, text, sizeof(text), PSC_SQL_SELECT, 1000);
		assert_true(cache.used <= PSC_SQL_CACHE_BYTES);
		assert_true(psc_sql_cache_get(&cache, 1, NULL, 0, NULL, NULL));
	}
	assert_false(psc_sql_cache_get(&cache, 100, fp, sizeof(fp), NULL, NULL));
	assert_true(psc_sql_cache_get(&cache, 139, fp, sizeof(fp), NULL, &cx));
	assert_int_equal(strlen(fp), PSC_SQL_CACHE_FP_MAX);
	assert_int_equal(cx, 255); /* saturated */
	/* A small output buffer is respected. */
	char tiny[4];
	assert_true(psc_sql_cache_get(&cache, 1, tiny, sizeof(tiny), NULL, NULL));
	assert_string_equal(tiny, "SEL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_truncated_input), cmocka_unit_test(test_small_output),
		cmocka_unit_test(test_plausible),	cmocka_unit_test(test_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
