// SPDX-License-Identifier: MIT
/* Fuzz target for the SQL fingerprinter and the prepared statement cache. The first byte
 * picks the dialect and the output size; the rest is the statement. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "sql_fingerprint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct psc_sql_stmt_cache cache;
	char out[PSC_ENDPOINT_MAX + 1], again[PSC_ENDPOINT_MAX];
	struct psc_sql_info info;
	enum psc_sql_dialect dialect;
	size_t out_size, n;
	char *sql;

	if (size < 1)
		return 0;
	dialect = (data[0] & 1) ? PSC_SQL_DIALECT_MYSQL : PSC_SQL_DIALECT_PG;
	out_size = (data[0] >> 1) % (PSC_ENDPOINT_MAX + 1);
	sql = malloc(size - 1 ? size - 1 : 1);
	if (!sql)
		abort();
	memcpy(sql, data + 1, size - 1);
	memset(out, 0x5a, sizeof(out));
	n = psc_sql_fingerprint(sql, size - 1, dialect, out, out_size, &info);
	if (out_size && (n >= out_size || out[n] != '\0' || strlen(out) != n))
		abort();
	if (out[out_size] != 0x5a) /* wrote past out_size */
		abort();
	if (info.stmt >= _PSC_SQL_MAX || info.ntables > PSC_SQL_TABLES_MAX)
		abort();
	for (int t = 0; t < info.ntables; t++)
		if (strnlen(info.tables[t], PSC_SQL_TABLE_LEN) == PSC_SQL_TABLE_LEN)
			abort();
	psc_sql_plausible(sql, size - 1);
	/* Through the cache, which must give back what it was given (cut to its limit). */
	n = psc_sql_fingerprint(sql, size - 1, dialect, out, PSC_ENDPOINT_MAX, &info);
	psc_sql_cache_put(&cache, data[0], out, n, info.stmt, info.complexity);
	if (cache.used > PSC_SQL_CACHE_BYTES)
		abort();
	if (!psc_sql_cache_get(&cache, data[0], again, sizeof(again), NULL, NULL))
		abort();
	if (strncmp(again, out, PSC_SQL_CACHE_FP_MAX))
		abort();
	if (data[0] & 2)
		psc_sql_cache_rekey(&cache, data[0], data[0] ^ 0x80u);
	if (data[0] & 4)
		psc_sql_cache_del(&cache, data[0]);
	free(sql);
	return 0;
}
