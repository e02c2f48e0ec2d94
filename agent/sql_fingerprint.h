/* SPDX-License-Identifier: MIT */
/* SQL statement fingerprints, shared by the PostgreSQL and MySQL parsers.
 *
 * A fingerprint is the statement with every literal value removed, so that all executions
 * of one query in the application's code map to one endpoint:
 *  - string, numeric, hex/bit literals, dollar-quoted strings (PG) and positional parameters
 *    ($1) become '?'; a sign directly in front of a number folds into it ("x = -5" -> "x = ?");
 *    TRUE, FALSE and NULL stay (they are not values that vary per call in practice);
 *  - an IN (...) list made only of literals and parameters becomes "IN (?)";
 *  - the rows of a multi-row VALUES (...), (...) collapse to the first one;
 *  - comments are removed (MySQL executable comments "/\*!40101 ... *\/" keep their body);
 *  - whitespace is collapsed to one space between tokens (none before ',' ')' ';' '.' '::',
 *    none after '(' '.' '::'); a '(' after an identifier keeps the source's choice, after a
 *    keyword it always gets a space;
 *  - known keywords are upper-cased; identifiers (quoted or not) are kept as written.
 * Input that ends inside a token (a statement cut by the captured head) still yields the
 * fingerprint of what was seen, with @info->truncated set.
 *
 * Statement type: of the first statement that is not a transaction statement ("BEGIN;
 * UPDATE ...; COMMIT" is an UPDATE); PSC_SQL_TXN when all of them are. WITH ... resolves to
 * the first SELECT/INSERT/UPDATE/DELETE at the top level (SELECT when cut before it).
 *
 * Complexity: +1 per JOIN (explicit, or a ',' in a FROM list), per subquery (a SELECT
 * after the first of its statement), per aggregate call (COUNT(, SUM(, AVG(, MIN(, MAX(,
 * ARRAY_AGG(, STRING_AGG(, GROUP_CONCAT(, ...), per GROUP BY, ORDER BY and per
 * UNION/INTERSECT/EXCEPT. Rows dropped by the VALUES collapse are not counted.
 *
 * Tables: the first PSC_SQL_TABLES_MAX distinct names that follow FROM, JOIN, INTO, UPDATE,
 * TABLE or a ',' in a FROM list, schema-qualified as written.
 *
 * Everything here is pure: no allocation, no global mutable state, never reads past @len.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PSC_SQL_TABLES_MAX 4
#define PSC_SQL_TABLE_LEN 48

/* Lexical dialect of psc_sql_fingerprint(). */
enum psc_sql_dialect {
	/* "x" is an identifier, E'..' and $tag$..$tag$ are strings, $1 is a parameter,
	 * comments nest. */
	PSC_SQL_DIALECT_PG,
	/* "x" is a string, `x` an identifier, backslash escapes in strings, '#' comments,
	 * "/\*!NNNNN ... *\/" is code. */
	PSC_SQL_DIALECT_MYSQL,
};

struct psc_sql_info {
	uint8_t stmt;	     /* enum psc_sql_stmt (proto.h) */
	uint16_t complexity; /* see above; saturates at UINT16_MAX */
	bool truncated;	     /* the input ended inside a token or statement, or @out was full */
	uint8_t ntables;
	char tables[PSC_SQL_TABLES_MAX][PSC_SQL_TABLE_LEN]; /* NUL-terminated, cut if longer */
};

/* Fingerprints @sql[0..@len) (a NUL byte also ends it) into @out (@out_size bytes,
 * NUL-terminated when @out_size > 0; a longer fingerprint is cut). @info may be NULL.
 * Returns the length written to @out, excluding the NUL. */
size_t psc_sql_fingerprint(const char *sql, size_t len, enum psc_sql_dialect dialect, char *out,
			   size_t out_size, struct psc_sql_info *info);

/* Cheap and conservative: does @sql[0..@len) start like an SQL statement (printable
 * first 64 bytes, first word a statement keyword such as SELECT, INSERT, BEGIN, SET)?
 * For protocol detection. */
bool psc_sql_plausible(const char *sql, size_t len);

/* A small bounded map from a prepared statement key (PostgreSQL: a hash of the statement
 * name; MySQL: the server's statement id) to its fingerprint, kept inside a parser's
 * per-connection state. Entries are packed in a byte pool (7 bytes + the text each);
 * putting an entry that does not fit evicts the least recently used ones. Complexity is
 * kept saturated at 255. Zero-initialised means empty. */
#define PSC_SQL_CACHE_BYTES 400
#define PSC_SQL_CACHE_FP_MAX 159 /* longest fingerprint kept per entry */

struct psc_sql_stmt_cache {
	uint16_t used;
	uint8_t pool[PSC_SQL_CACHE_BYTES];
};

/* Stores (@key -> @fp[0..@fp_len), @stmt, @complexity), replacing an entry with the same
 * key. @fp longer than PSC_SQL_CACHE_FP_MAX is cut. */
void psc_sql_cache_put(struct psc_sql_stmt_cache *cache, uint32_t key, const char *fp,
		       size_t fp_len, uint8_t stmt, uint16_t complexity);

/* Looks @key up and marks it most recently used. On success copies the fingerprint NUL-terminated
 * into @fp (@fp_size bytes), sets @stmt and @complexity (either may be NULL) and returns true;
 * returns false when the key is unknown (evicted or never seen). */
bool psc_sql_cache_get(struct psc_sql_stmt_cache *cache, uint32_t key, char *fp, size_t fp_size,
		       uint8_t *stmt, uint16_t *complexity);

/* Changes the key of the entry @from to @to (dropping any entry already keyed @to).
 * Returns false when @from is unknown. */
bool psc_sql_cache_rekey(struct psc_sql_stmt_cache *cache, uint32_t from, uint32_t to);

/* Removes @key if present. */
void psc_sql_cache_del(struct psc_sql_stmt_cache *cache, uint32_t key);
