// SPDX-License-Identifier: MIT
/* SQL fingerprints: a one-pass lexer that writes normalised tokens straight into the
 * caller's buffer. The two collapses (IN lists, VALUES rows) need to undo output already
 * written, so the writer keeps a "virtual" position that may run past the buffer's end:
 * rewinding to a mark taken earlier is then always exact, and whatever did not fit is
 * simply never stored. */
#include "sql_fingerprint.h"

#include "proto.h"

#include <stdlib.h>
#include <string.h>

enum kw_id {
	K_NONE,
	K_SELECT,
	K_INSERT,
	K_REPLACE,
	K_UPDATE,
	K_DELETE,
	K_FROM,
	K_JOIN,
	K_TABLE,
	K_COPY,
	K_IN,
	K_VALUES,
	K_WITH,
	K_GROUP,
	K_ORDER,
	K_BY,
	K_SETOP,
};

enum kw_flag {
	F_TXN = 1 << 0,	       /* first word of a transaction statement */
	F_DDL = 1 << 1,	       /* first word of a DDL statement */
	F_FUNC = 1 << 2,       /* called like a function: '(' spacing follows the source */
	F_AGG = 1 << 3,	       /* aggregate: a keyword only when called */
	F_TABLE_NEXT = 1 << 4, /* a table name follows */
	F_TABLE_SKIP = 1 << 5, /* may stand between the above and the table name */
	F_CLAUSE_END = 1 << 6, /* ends a FROM list */
};

struct kw {
	const char *name;
	uint8_t id;
	uint8_t flags;
};

/* Sorted by strcmp() for bsearch(). Only words that are reserved, or nearly so, in
 * PostgreSQL or MySQL: upper-casing a column named like a keyword is harmless (it happens
 * the same way every time), but a short list keeps identifiers as the application wrote
 * them. */
static const struct kw keywords[] = {
	{"ABORT", K_NONE, F_TXN},
	{"ADD", K_NONE, 0},
	{"ALL", K_NONE, 0},
	{"ALTER", K_NONE, F_DDL},
	{"ANALYZE", K_NONE, 0},
	{"AND", K_NONE, 0},
	{"ANY", K_NONE, F_FUNC},
	{"ARRAY", K_NONE, F_FUNC},
	{"ARRAY_AGG", K_NONE, F_FUNC | F_AGG},
	{"AS", K_NONE, 0},
	{"ASC", K_NONE, 0},
	{"ASYMMETRIC", K_NONE, 0},
	{"AUTO_INCREMENT", K_NONE, 0},
	{"AVG", K_NONE, F_FUNC | F_AGG},
	{"BEGIN", K_NONE, F_TXN},
	{"BETWEEN", K_NONE, 0},
	{"BIT_AND", K_NONE, F_FUNC | F_AGG},
	{"BIT_OR", K_NONE, F_FUNC | F_AGG},
	{"BOOL_AND", K_NONE, F_FUNC | F_AGG},
	{"BOOL_OR", K_NONE, F_FUNC | F_AGG},
	{"BOTH", K_NONE, 0},
	{"BY", K_BY, 0},
	{"CALL", K_NONE, 0},
	{"CASCADE", K_NONE, 0},
	{"CASE", K_NONE, 0},
	{"CAST", K_NONE, F_FUNC},
	{"CHARSET", K_NONE, 0},
	{"CHECK", K_NONE, 0},
	{"CLUSTER", K_NONE, 0},
	{"COALESCE", K_NONE, F_FUNC},
	{"COLLATE", K_NONE, 0},
	{"COLUMN", K_NONE, 0},
	{"COMMENT", K_NONE, F_DDL},
	{"COMMIT", K_NONE, F_TXN},
	{"COMMITTED", K_NONE, 0},
	{"CONCURRENTLY", K_NONE, 0},
	{"CONFLICT", K_NONE, 0},
	{"CONSTRAINT", K_NONE, 0},
	{"COPY", K_COPY, 0},
	{"COUNT", K_NONE, F_FUNC | F_AGG},
	{"CREATE", K_NONE, F_DDL},
	{"CROSS", K_NONE, 0},
	{"CURRENT_DATE", K_NONE, 0},
	{"CURRENT_TIME", K_NONE, 0},
	{"CURRENT_TIMESTAMP", K_NONE, 0},
	{"CURRENT_USER", K_NONE, 0},
	{"CURSOR", K_NONE, 0},
	{"DATABASE", K_NONE, F_FUNC},
	{"DEALLOCATE", K_NONE, 0},
	{"DECLARE", K_NONE, 0},
	{"DEFAULT", K_NONE, 0},
	{"DELAYED", K_NONE, F_TABLE_SKIP},
	{"DELETE", K_DELETE, 0},
	{"DESC", K_NONE, 0},
	{"DESCRIBE", K_NONE, 0},
	{"DISTINCT", K_NONE, 0},
	{"DISTINCTROW", K_NONE, 0},
	{"DO", K_NONE, 0},
	{"DROP", K_NONE, F_DDL},
	{"DUPLICATE", K_NONE, 0},
	{"ELSE", K_NONE, 0},
	{"END", K_NONE, F_TXN},
	{"ENGINE", K_NONE, 0},
	{"ESCAPE", K_NONE, 0},
	{"EVERY", K_NONE, F_FUNC | F_AGG},
	{"EXCEPT", K_SETOP, F_CLAUSE_END},
	{"EXECUTE", K_NONE, 0},
	{"EXISTS", K_NONE, F_TABLE_SKIP},
	{"EXPLAIN", K_NONE, 0},
	{"EXTRACT", K_NONE, F_FUNC},
	{"FALSE", K_NONE, 0},
	{"FETCH", K_NONE, 0},
	{"FIRST", K_NONE, 0},
	{"FOR", K_NONE, F_CLAUSE_END},
	{"FOREIGN", K_NONE, 0},
	{"FREEZE", K_NONE, 0},
	{"FROM", K_FROM, F_TABLE_NEXT},
	{"FULL", K_NONE, 0},
	{"GLOBAL", K_NONE, 0},
	{"GRANT", K_NONE, 0},
	{"GREATEST", K_NONE, F_FUNC},
	{"GROUP", K_GROUP, F_CLAUSE_END},
	{"GROUP_CONCAT", K_NONE, F_FUNC | F_AGG},
	{"HAVING", K_NONE, F_CLAUSE_END},
	{"HIGH_PRIORITY", K_NONE, 0},
	{"IF", K_NONE, F_TABLE_SKIP},
	{"IGNORE", K_NONE, F_TABLE_SKIP},
	{"ILIKE", K_NONE, 0},
	{"IN", K_IN, 0},
	{"INDEX", K_NONE, 0},
	{"INNER", K_NONE, 0},
	{"INSERT", K_INSERT, 0},
	{"INTERSECT", K_SETOP, F_CLAUSE_END},
	{"INTERVAL", K_NONE, 0},
	{"INTO", K_NONE, F_TABLE_NEXT | F_TABLE_SKIP},
	{"IS", K_NONE, 0},
	{"ISNULL", K_NONE, 0},
	{"ISOLATION", K_NONE, 0},
	{"JOIN", K_JOIN, F_TABLE_NEXT},
	{"JSONB_AGG", K_NONE, F_FUNC | F_AGG},
	{"JSON_AGG", K_NONE, F_FUNC | F_AGG},
	{"JSON_OBJECT_AGG", K_NONE, F_FUNC | F_AGG},
	{"KEY", K_NONE, 0},
	{"LAST", K_NONE, 0},
	{"LATERAL", K_NONE, F_TABLE_SKIP},
	{"LEAST", K_NONE, F_FUNC},
	{"LEFT", K_NONE, 0},
	{"LEVEL", K_NONE, 0},
	{"LIKE", K_NONE, 0},
	{"LIMIT", K_NONE, F_CLAUSE_END},
	{"LISTEN", K_NONE, 0},
	{"LOCAL", K_NONE, 0},
	{"LOCK", K_NONE, 0},
	{"LOCKED", K_NONE, 0},
	{"LOW_PRIORITY", K_NONE, F_TABLE_SKIP},
	{"MATCHED", K_NONE, 0},
	{"MATERIALIZED", K_NONE, 0},
	{"MAX", K_NONE, F_FUNC | F_AGG},
	{"MERGE", K_NONE, 0},
	{"MIN", K_NONE, F_FUNC | F_AGG},
	{"MODE", K_NONE, F_FUNC | F_AGG},
	{"NAMES", K_NONE, 0},
	{"NATURAL", K_NONE, 0},
	{"NEXT", K_NONE, 0},
	{"NOT", K_NONE, F_TABLE_SKIP},
	{"NOTHING", K_NONE, 0},
	{"NOTIFY", K_NONE, 0},
	{"NOTNULL", K_NONE, 0},
	{"NOWAIT", K_NONE, 0},
	{"NULL", K_NONE, 0},
	{"NULLIF", K_NONE, F_FUNC},
	{"NULLS", K_NONE, 0},
	{"OF", K_NONE, 0},
	{"OFFSET", K_NONE, F_CLAUSE_END},
	{"ON", K_NONE, 0},
	{"ONLY", K_NONE, F_TABLE_SKIP},
	{"OR", K_NONE, 0},
	{"ORDER", K_ORDER, F_CLAUSE_END},
	{"OUTER", K_NONE, 0},
	{"OVER", K_NONE, 0},
	{"PARTITION", K_NONE, 0},
	{"PERCENTILE_CONT", K_NONE, F_FUNC | F_AGG},
	{"PERCENTILE_DISC", K_NONE, F_FUNC | F_AGG},
	{"POSITION", K_NONE, F_FUNC},
	{"PREPARE", K_NONE, 0},
	{"PRIMARY", K_NONE, 0},
	{"QUICK", K_NONE, F_TABLE_SKIP},
	{"READ", K_NONE, 0},
	{"RECURSIVE", K_NONE, 0},
	{"REFERENCES", K_NONE, 0},
	{"REFRESH", K_NONE, 0},
	{"REGEXP", K_NONE, 0},
	{"REINDEX", K_NONE, 0},
	{"RELEASE", K_NONE, F_TXN},
	{"RENAME", K_NONE, F_DDL},
	{"REPEATABLE", K_NONE, 0},
	{"REPLACE", K_REPLACE, F_FUNC},
	{"RETURNING", K_NONE, F_CLAUSE_END},
	{"RIGHT", K_NONE, 0},
	{"ROLLBACK", K_NONE, F_TXN},
	{"ROW", K_NONE, F_FUNC},
	{"ROWS", K_NONE, 0},
	{"SAVEPOINT", K_NONE, F_TXN},
	{"SCHEMA", K_NONE, 0},
	{"SELECT", K_SELECT, 0},
	{"SEQUENCE", K_NONE, 0},
	{"SERIALIZABLE", K_NONE, 0},
	{"SESSION", K_NONE, 0},
	{"SET", K_NONE, F_CLAUSE_END},
	{"SHARE", K_NONE, 0},
	{"SHOW", K_NONE, 0},
	{"SKIP", K_NONE, 0},
	{"SOME", K_NONE, F_FUNC},
	{"SQL_CALC_FOUND_ROWS", K_NONE, 0},
	{"START", K_NONE, F_TXN},
	{"STDDEV", K_NONE, F_FUNC | F_AGG},
	{"STDDEV_POP", K_NONE, F_FUNC | F_AGG},
	{"STDDEV_SAMP", K_NONE, F_FUNC | F_AGG},
	{"STDIN", K_NONE, 0},
	{"STDOUT", K_NONE, 0},
	{"STRAIGHT_JOIN", K_NONE, 0},
	{"STRING_AGG", K_NONE, F_FUNC | F_AGG},
	{"SUBSTRING", K_NONE, F_FUNC},
	{"SUM", K_NONE, F_FUNC | F_AGG},
	{"SYMMETRIC", K_NONE, 0},
	{"TABLE", K_TABLE, F_TABLE_NEXT | F_TABLE_SKIP},
	{"TEMP", K_NONE, 0},
	{"TEMPORARY", K_NONE, 0},
	{"THEN", K_NONE, 0},
	{"TO", K_NONE, 0},
	{"TRANSACTION", K_NONE, 0},
	{"TRIM", K_NONE, F_FUNC},
	{"TRUE", K_NONE, 0},
	{"TRUNCATE", K_NONE, F_DDL | F_TABLE_NEXT},
	{"UNCOMMITTED", K_NONE, 0},
	{"UNION", K_SETOP, F_CLAUSE_END},
	{"UNIQUE", K_NONE, 0},
	{"UNLOCK", K_NONE, 0},
	{"UNLOGGED", K_NONE, 0},
	{"UPDATE", K_UPDATE, 0},
	{"USE", K_NONE, 0},
	{"USING", K_NONE, 0},
	{"VACUUM", K_NONE, 0},
	{"VALUES", K_VALUES, 0},
	{"VARIANCE", K_NONE, F_FUNC | F_AGG},
	{"VAR_POP", K_NONE, F_FUNC | F_AGG},
	{"VAR_SAMP", K_NONE, F_FUNC | F_AGG},
	{"VERBOSE", K_NONE, 0},
	{"VIEW", K_NONE, 0},
	{"WHEN", K_NONE, 0},
	{"WHERE", K_NONE, F_CLAUSE_END},
	{"WINDOW", K_NONE, F_CLAUSE_END},
	{"WITH", K_WITH, 0},
	{"WORK", K_NONE, 0},
	{"WRITE", K_NONE, 0},
};

#define KW_MAXLEN 24

enum tok {
	T_NONE,
	T_IDENT, /* identifier, quoted or not */
	T_KW,	 /* keyword */
	T_FUNC,	 /* function-like keyword */
	T_LIT,	 /* literal or parameter, written '?' */
	T_OP,
	T_LP,
	T_RP,
	T_COMMA,
	T_SEMI,
	T_DOT,
	T_CAST,
	T_LB,
	T_RB,
};

enum vstate {
	V_NONE,
	V_KW,	 /* after VALUES */
	V_TUPLE, /* inside the first row */
	V_AFTER, /* after a row */
	V_COMMA, /* after "row ," */
	V_SKIP,	 /* inside a dropped row */
};

#define DEPTH_BITS 64

struct fp {
	const char *s;
	size_t n;
	size_t i;
	enum psc_sql_dialect dialect;
	char *out;
	size_t cap; /* bytes of @out usable for text */
	size_t pos; /* virtual: may exceed cap */
	enum tok prev;
	bool ws;  /* whitespace or a comment before the current token */
	bool cut; /* input ended inside a token */
	int depth;
	int exec_comment; /* open MySQL "/\*!" comments */
	/* IN (...) */
	bool in_pending;
	bool list_on;
	bool list_lit;
	int list_depth;
	size_t list_mark;
	/* VALUES (...), (...) */
	enum vstate v;
	int v_depth;
	size_t v_mark;
	/* statements */
	bool stmt_start;
	bool with_pending;
	bool stmt_is_current; /* info->stmt was decided by the current statement */
	uint8_t last_kw;
	uint64_t from_mask; /* bit d: inside a FROM list at depth d */
	/* table names */
	bool expect_table;
	bool want_table; /* set expect_table once the current token is through */
	bool table_open; /* the current table name may continue with '.' */
	bool table_dot;
	size_t table_len;
	struct psc_sql_info *info;
};

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_word_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool is_word(unsigned char c)
{
	return is_word_start(c) || is_digit(c) || c == '$';
}

static char upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static int kw_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct kw *)elem)->name);
}

static const struct kw *kw_find(const char *w, size_t n)
{
	char up[KW_MAXLEN + 1];

	if (n == 0 || n > KW_MAXLEN)
		return NULL;
	for (size_t k = 0; k < n; k++)
		up[k] = upper(w[k]);
	up[n] = '\0';
	return bsearch(up, keywords, sizeof(keywords) / sizeof(keywords[0]), sizeof(keywords[0]),
		       kw_cmp);
}

static void put_c(struct fp *f, char c)
{
	if (f->pos < f->cap)
		f->out[f->pos] = c;
	f->pos++;
}

static bool need_space(const struct fp *f, enum tok t)
{
	if (f->prev == T_NONE)
		return false;
	switch (t) {
	case T_COMMA:
	case T_RP:
	case T_SEMI:
	case T_DOT:
	case T_CAST:
	case T_LB:
	case T_RB:
		return false;
	default:
		break;
	}
	switch (f->prev) {
	case T_LP:
	case T_DOT:
	case T_CAST:
	case T_LB:
		return false;
	default:
		break;
	}
	/* "count(*)" and "f (x)" both stay as written after an identifier; after a keyword
	 * ("IN (", "VALUES (") the space is canonical. */
	if (t == T_LP && (f->prev == T_IDENT || f->prev == T_FUNC))
		return f->ws;
	return true;
}

static void emit(struct fp *f, enum tok t, const char *text, size_t n, bool up)
{
	if (need_space(f, t))
		put_c(f, ' ');
	for (size_t k = 0; k < n; k++)
		put_c(f, up ? upper(text[k]) : text[k]);
	f->prev = t;
}

static void complexity_add(struct fp *f)
{
	if (f->info->complexity < UINT16_MAX)
		f->info->complexity++;
}

/* ---- table names ---- */

static void table_finish(struct fp *f)
{
	struct psc_sql_info *info = f->info;

	if (!f->table_open)
		return;
	f->table_open = false;
	f->table_dot = false;
	if (info->ntables >= PSC_SQL_TABLES_MAX || f->table_len == 0)
		return;
	info->tables[info->ntables][f->table_len] = '\0';
	for (uint8_t k = 0; k < info->ntables; k++)
		if (!strcmp(info->tables[k], info->tables[info->ntables]))
			return;
	info->ntables++;
}

static void table_append(struct fp *f, const char *s, size_t n)
{
	struct psc_sql_info *info = f->info;

	if (info->ntables >= PSC_SQL_TABLES_MAX)
		return;
	for (size_t k = 0; k < n && f->table_len < PSC_SQL_TABLE_LEN - 1; k++)
		info->tables[info->ntables][f->table_len++] = s[k];
}

/* Called for every emitted token: keeps the "a table name comes next" tracking. */
static void table_token(struct fp *f, enum tok t, const char *s, size_t n, const struct kw *kw)
{
	if (f->table_open) {
		if (t == T_DOT && !f->table_dot) {
			f->table_dot = true;
			table_append(f, ".", 1);
			return;
		}
		if (t == T_IDENT && f->table_dot) {
			f->table_dot = false;
			table_append(f, s, n);
			return;
		}
		table_finish(f);
	}
	if (f->expect_table) {
		if (t == T_IDENT) {
			f->expect_table = false;
			f->table_open = true;
			f->table_dot = false;
			f->table_len = 0;
			table_append(f, s, n);
			return;
		}
		if (kw && (kw->flags & (F_TABLE_SKIP | F_TABLE_NEXT)))
			return;
		f->expect_table = false;
	}
	if (kw && (kw->flags & F_TABLE_NEXT))
		f->expect_table = true;
}

/* ---- statements ---- */

static uint8_t stmt_of(const struct kw *kw)
{
	if (!kw)
		return PSC_SQL_OTHER;
	switch (kw->id) {
	case K_SELECT:
	case K_VALUES:
	case K_TABLE:
		return PSC_SQL_SELECT;
	case K_INSERT:
	case K_REPLACE:
		return PSC_SQL_INSERT;
	case K_UPDATE:
		return PSC_SQL_UPDATE;
	case K_DELETE:
		return PSC_SQL_DELETE;
	case K_WITH:
		return PSC_SQL_SELECT;
	default:
		break;
	}
	if (kw->flags & F_TXN)
		return PSC_SQL_TXN;
	if (kw->flags & F_DDL)
		return PSC_SQL_DDL;
	return PSC_SQL_OTHER;
}

static void stmt_set(struct fp *f, uint8_t stmt, bool first)
{
	struct psc_sql_info *info = f->info;

	if (first) {
		f->stmt_is_current = false;
		if (info->stmt == PSC_SQL_NONE ||
		    (info->stmt == PSC_SQL_TXN && stmt != PSC_SQL_TXN)) {
			info->stmt = stmt;
			f->stmt_is_current = true;
		}
	} else if (f->stmt_is_current) {
		info->stmt = stmt; /* WITH ... resolved */
	}
}

static void on_word(struct fp *f, const struct kw *kw, bool called)
{
	uint8_t id = kw ? kw->id : K_NONE;

	if (f->stmt_start) {
		f->stmt_start = false;
		stmt_set(f, stmt_of(kw), true);
		f->with_pending = id == K_WITH;
		f->want_table = id == K_UPDATE || id == K_COPY;
	} else if (f->with_pending && f->depth == 0 &&
		   (id == K_SELECT || id == K_INSERT || id == K_UPDATE || id == K_DELETE)) {
		f->with_pending = false;
		stmt_set(f, stmt_of(kw), false);
		f->want_table = id == K_UPDATE;
	}
	if (!kw)
		return;
	if (id == K_SELECT && f->prev == T_LP)
		complexity_add(f); /* subquery */
	if (id == K_JOIN || id == K_SETOP)
		complexity_add(f);
	if (id == K_BY && (f->last_kw == K_GROUP || f->last_kw == K_ORDER))
		complexity_add(f);
	if ((kw->flags & F_AGG) && called)
		complexity_add(f);
	if (f->depth < DEPTH_BITS) {
		if (id == K_FROM)
			f->from_mask |= 1ull << f->depth;
		else if (kw->flags & F_CLAUSE_END)
			f->from_mask &= ~(1ull << f->depth);
	}
	f->last_kw = id;
}

/* ---- token dispatch ---- */

static void token(struct fp *f, enum tok t, const char *s, size_t n, const struct kw *kw,
		  bool called)
{
	bool up = t == T_KW || t == T_FUNC;

	if (f->v == V_SKIP) {
		/* Inside a dropped VALUES row: track nesting only. */
		if (t == T_LP) {
			f->depth++;
		} else if (t == T_RP && f->depth > 0) {
			f->depth--;
			if (f->depth == f->v_depth)
				f->v = V_AFTER;
		}
		f->ws = false;
		return;
	}

	switch (f->v) {
	case V_KW:
		f->v = (t == T_LP && f->depth == f->v_depth) ? V_TUPLE : V_NONE;
		break;
	case V_AFTER:
		if (t == T_COMMA && f->depth == f->v_depth) {
			f->v_mark = f->pos;
			f->v = V_COMMA;
		} else {
			f->v = V_NONE;
		}
		break;
	case V_COMMA:
		if (t == T_LP) {
			f->pos = f->v_mark;
			f->prev = T_RP;
			f->v = V_SKIP;
			f->depth++;
			f->ws = false;
			return;
		}
		f->v = V_NONE;
		break;
	default:
		break;
	}

	if (f->list_on && !(f->depth == f->list_depth && (t == T_LIT || t == T_COMMA)) &&
	    !(t == T_RP && f->depth == f->list_depth))
		f->list_lit = false;

	if (t == T_IDENT || t == T_KW || t == T_FUNC)
		on_word(f, kw, called);
	table_token(f, t, s, n, kw);
	if (f->want_table) {
		f->want_table = false;
		f->expect_table = true;
	}
	if (t == T_COMMA && f->depth < DEPTH_BITS && (f->from_mask & (1ull << f->depth))) {
		complexity_add(f); /* comma join */
		f->expect_table = true;
	}

	if (t == T_RP && f->list_on && f->depth == f->list_depth) {
		if (f->list_lit) {
			f->pos = f->list_mark;
			f->prev = T_LP;
			emit(f, T_LIT, "?", 1, false);
		}
		f->list_on = false;
	}

	emit(f, t, s, n, up);

	switch (t) {
	case T_LP:
		f->depth++;
		if (f->in_pending && (!f->list_on || !f->list_lit)) {
			f->list_on = true;
			f->list_lit = true;
			f->list_depth = f->depth;
			f->list_mark = f->pos;
		}
		break;
	case T_RP:
		if (f->depth > 0) {
			if (f->depth < DEPTH_BITS)
				f->from_mask &= ~(1ull << f->depth);
			f->depth--;
		}
		if (f->v == V_TUPLE && f->depth == f->v_depth)
			f->v = V_AFTER;
		break;
	case T_SEMI:
		f->stmt_start = true;
		f->with_pending = false;
		f->from_mask = 0;
		f->v = V_NONE;
		f->list_on = false;
		f->expect_table = false;
		break;
	default:
		break;
	}
	f->in_pending = kw && kw->id == K_IN;
	if (kw && kw->id == K_VALUES) {
		f->v = V_KW;
		f->v_depth = f->depth;
	}
	f->ws = false;
}

/* ---- lexer ---- */

/* Skips a quoted run starting at f->i (the opening quote). @esc: backslash escapes.
 * Returns false when the input ended first. */
static bool skip_quoted(struct fp *f, char q, bool esc)
{
	f->i++;
	while (f->i < f->n) {
		char c = f->s[f->i];
		if (c == '\0')
			break;
		if (esc && c == '\\') {
			f->i += 2;
			continue;
		}
		f->i++;
		if (c == q) {
			if (f->i < f->n && f->s[f->i] == q) { /* doubled quote */
				f->i++;
				continue;
			}
			return true;
		}
	}
	if (f->i > f->n)
		f->i = f->n;
	return false;
}

static void lit(struct fp *f, bool complete)
{
	if (!complete)
		f->cut = true;
	token(f, T_LIT, "?", 1, NULL, false);
}

static void lex_number(struct fp *f)
{
	const char *s = f->s;

	if (s[f->i] == '0' && f->i + 1 < f->n && (s[f->i + 1] == 'x' || s[f->i + 1] == 'X'))
		f->i += 2;
	while (f->i < f->n) {
		unsigned char c = (unsigned char)s[f->i];
		if (is_digit(c) || c == '.' || c == '_' || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F')) {
			f->i++;
		} else if ((c == '+' || c == '-') && (s[f->i - 1] == 'e' || s[f->i - 1] == 'E')) {
			f->i++;
		} else {
			break;
		}
	}
	lit(f, true);
}

/* PostgreSQL dollar quoting: $tag$ ... $tag$. f->i is at the first '$'. Returns false if
 * this is not one (then nothing is consumed). */
static bool lex_dollar(struct fp *f)
{
	size_t start = f->i, k = f->i + 1;

	while (k < f->n && is_word((unsigned char)f->s[k]) && f->s[k] != '$')
		k++;
	if (k >= f->n || f->s[k] != '$')
		return false;
	size_t tag = k + 1 - start;
	for (k = k + 1; k + tag <= f->n; k++) {
		if (f->s[k] == '\0')
			break;
		if (f->s[k] == '$' && !memcmp(f->s + k, f->s + start, tag)) {
			f->i = k + tag;
			lit(f, true);
			return true;
		}
	}
	f->i = f->n;
	lit(f, false);
	return true;
}

static bool unary_ok(const struct fp *f)
{
	switch (f->prev) {
	case T_NONE:
	case T_OP:
	case T_LP:
	case T_COMMA:
	case T_KW:
	case T_SEMI:
	case T_LB:
		return true;
	default:
		return false;
	}
}

static void lex_word(struct fp *f)
{
	const char *s = f->s;
	size_t start = f->i, n;
	const struct kw *kw;
	bool called;

	while (f->i < f->n && is_word((unsigned char)s[f->i]))
		f->i++;
	n = f->i - start;
	/* String prefixes: E'..' (escapes), N'..', X'..', B'..', MySQL _charset'..'. */
	if (f->i < f->n && s[f->i] == '\'') {
		char c = upper(s[start]);
		if ((n == 1 && (c == 'E' || c == 'N' || c == 'X' || c == 'B')) ||
		    (s[start] == '_' && f->dialect == PSC_SQL_DIALECT_MYSQL)) {
			bool esc = c == 'E' || f->dialect == PSC_SQL_DIALECT_MYSQL;
			lit(f, skip_quoted(f, '\'', esc));
			return;
		}
	}
	if (n == 1 && upper(s[start]) == 'U' && f->i + 1 < f->n && s[f->i] == '&' &&
	    s[f->i + 1] == '\'') {
		f->i++;
		lit(f, skip_quoted(f, '\'', false));
		return;
	}
	/* A function call? Look past blanks for '('. */
	size_t k = f->i;
	while (k < f->n && is_space((unsigned char)s[k]))
		k++;
	called = k < f->n && s[k] == '(';
	kw = kw_find(s + start, n);
	if (kw && (kw->flags & F_AGG) && !called)
		kw = NULL;
	if (!kw)
		token(f, T_IDENT, s + start, n, NULL, called);
	else
		token(f, (kw->flags & F_FUNC) ? T_FUNC : T_KW, s + start, n, kw, called);
}

static bool is_op_char(char c)
{
	return strchr("+-*/<>=~!@%^&|?#:", c) != NULL && c != '\0';
}

static void lex_op(struct fp *f)
{
	const char *s = f->s;
	size_t start = f->i;

	/* A sign straight before a number, where a value is expected, belongs to the literal. */
	if ((s[f->i] == '-' || s[f->i] == '+') && unary_ok(f) && f->i + 1 < f->n &&
	    (is_digit((unsigned char)s[f->i + 1]) ||
	     (s[f->i + 1] == '.' && f->i + 2 < f->n && is_digit((unsigned char)s[f->i + 2])))) {
		f->i++;
		lex_number(f);
		return;
	}
	while (f->i < f->n && is_op_char(s[f->i])) {
		/* Stop before a comment, a parameter or a MySQL '#' comment. */
		if (f->i > start &&
		    ((s[f->i] == '-' && f->i + 1 < f->n && s[f->i + 1] == '-') ||
		     (s[f->i] == '/' && f->i + 1 < f->n && s[f->i + 1] == '*') || s[f->i] == '?' ||
		     (s[f->i] == '#' && f->dialect == PSC_SQL_DIALECT_MYSQL) ||
		     (s[f->i] == ':' && f->i + 1 < f->n && s[f->i + 1] == ':')))
			break;
		f->i++;
		if (f->i - start == 2 && s[start] == ':' && s[start + 1] == ':') {
			token(f, T_CAST, "::", 2, NULL, false);
			return;
		}
	}
	if (f->i == start) /* not reached: callers pass an operator character */
		f->i++;
	token(f, T_OP, s + start, f->i - start, NULL, false);
}

/* Skips a comment at f->i if there is one; returns whether it did. */
static bool skip_comment(struct fp *f)
{
	const char *s = f->s;
	size_t i = f->i;
	bool mysql = f->dialect == PSC_SQL_DIALECT_MYSQL;

	if ((s[i] == '-' && i + 1 < f->n && s[i + 1] == '-') || (mysql && s[i] == '#')) {
		while (f->i < f->n && s[f->i] != '\n' && s[f->i] != '\0')
			f->i++;
		return true;
	}
	if (s[i] == '*' && i + 1 < f->n && s[i + 1] == '/' && f->exec_comment > 0) {
		f->exec_comment--;
		f->i += 2;
		return true;
	}
	if (s[i] != '/' || i + 1 >= f->n || s[i + 1] != '*')
		return false;
	if (mysql && i + 2 < f->n && (s[i + 2] == '!' || s[i + 2] == '+')) {
		/* Executable comment (or optimizer hint, which we drop with its body below). */
		if (s[i + 2] == '!') {
			f->i += 3;
			while (f->i < f->n && is_digit((unsigned char)s[f->i]))
				f->i++;
			f->exec_comment++;
			return true;
		}
	}
	int nest = 0;
	f->i += 2;
	while (f->i < f->n && s[f->i] != '\0') {
		if (s[f->i] == '*' && f->i + 1 < f->n && s[f->i + 1] == '/') {
			f->i += 2;
			if (nest-- == 0)
				return true;
			continue;
		}
		if (!mysql && s[f->i] == '/' && f->i + 1 < f->n && s[f->i + 1] == '*') {
			nest++;
			f->i += 2;
			continue;
		}
		f->i++;
	}
	f->cut = true;
	return true;
}

size_t psc_sql_fingerprint(const char *sql, size_t len, enum psc_sql_dialect dialect, char *out,
			   size_t out_size, struct psc_sql_info *info)
{
	struct psc_sql_info scratch;
	char dummy[1];
	struct fp f = {
		.s = sql,
		.n = sql ? len : 0,
		.dialect = dialect,
		.out = out_size ? out : dummy,
		.cap = out_size ? out_size - 1 : 0,
		.stmt_start = true,
		.info = info ? info : &scratch,
	};

	memset(f.info, 0, sizeof(*f.info));
	while (f.i < f.n) {
		unsigned char c = (unsigned char)f.s[f.i];

		if (c == '\0')
			break;
		if (is_space(c)) {
			f.i++;
			f.ws = true;
			continue;
		}
		if (skip_comment(&f)) {
			f.ws = true;
			continue;
		}
		if (c == '\'') {
			lit(&f, skip_quoted(&f, '\'', dialect == PSC_SQL_DIALECT_MYSQL));
		} else if (c == '"') {
			size_t start = f.i;
			bool done = skip_quoted(&f, '"', dialect == PSC_SQL_DIALECT_MYSQL);
			if (dialect == PSC_SQL_DIALECT_MYSQL) {
				lit(&f, done);
			} else {
				f.cut |= !done;
				token(&f, T_IDENT, f.s + start, f.i - start, NULL, false);
			}
		} else if (c == '`' && dialect == PSC_SQL_DIALECT_MYSQL) {
			size_t start = f.i;
			f.cut |= !skip_quoted(&f, '`', false);
			token(&f, T_IDENT, f.s + start, f.i - start, NULL, false);
		} else if (is_digit(c) ||
			   (c == '.' && f.i + 1 < f.n && is_digit((unsigned char)f.s[f.i + 1]) &&
			    f.prev != T_IDENT && f.prev != T_RP)) {
			lex_number(&f);
		} else if (c == '$' && dialect == PSC_SQL_DIALECT_PG) {
			if (f.i + 1 < f.n && is_digit((unsigned char)f.s[f.i + 1])) {
				f.i++;
				while (f.i < f.n && is_digit((unsigned char)f.s[f.i]))
					f.i++;
				lit(&f, true);
			} else if (!lex_dollar(&f)) {
				f.i++;
				token(&f, T_OP, "$", 1, NULL, false);
			}
		} else if (c == '?') {
			f.i++;
			lit(&f, true);
		} else if (c == '@' && dialect == PSC_SQL_DIALECT_MYSQL) {
			/* @user_var, @@system_var: names, not operators. */
			size_t start = f.i++;
			if (f.i < f.n && f.s[f.i] == '@')
				f.i++;
			while (f.i < f.n && (is_word((unsigned char)f.s[f.i]) || f.s[f.i] == '.'))
				f.i++;
			token(&f, T_IDENT, f.s + start, f.i - start, NULL, false);
		} else if (is_word_start(c)) {
			lex_word(&f);
		} else if (c == '(') {
			f.i++;
			token(&f, T_LP, "(", 1, NULL, false);
		} else if (c == ')') {
			f.i++;
			token(&f, T_RP, ")", 1, NULL, false);
		} else if (c == ',') {
			f.i++;
			token(&f, T_COMMA, ",", 1, NULL, false);
		} else if (c == ';') {
			f.i++;
			token(&f, T_SEMI, ";", 1, NULL, false);
		} else if (c == '.') {
			f.i++;
			token(&f, T_DOT, ".", 1, NULL, false);
		} else if (c == '[') {
			f.i++;
			token(&f, T_LB, "[", 1, NULL, false);
		} else if (c == ']') {
			f.i++;
			token(&f, T_RB, "]", 1, NULL, false);
		} else if (is_op_char((char)c)) {
			lex_op(&f);
		} else {
			/* Control characters and the like: kept as one opaque token. */
			f.i++;
			token(&f, T_OP, (const char *)&f.s[f.i - 1], 1, NULL, false);
		}
	}
	table_finish(&f);
	/* Cut inside an IN list of literals: "IN (?, ?, " still reads "IN (?". */
	if (f.list_on && f.list_lit) {
		f.pos = f.list_mark;
		f.prev = T_LP;
		emit(&f, T_LIT, "?", 1, false);
	}
	/* Trailing ';' carries no information. */
	if (f.prev == T_SEMI && f.pos > 0)
		f.pos--;
	if (f.pos > f.cap) {
		f.cut = true;
		f.pos = f.cap;
	}
	if (out_size)
		out[f.pos] = '\0';
	f.info->truncated = f.cut;
	if (f.info->stmt == PSC_SQL_NONE && f.pos > 0)
		f.info->stmt = PSC_SQL_OTHER;
	return f.pos;
}

/* ---- detection ---- */

static bool first_word_ok(const char *s, size_t n)
{
	static const char *const words[] = {
		"SELECT",   "INSERT",  "UPDATE",   "DELETE",	 "WITH",       "BEGIN",
		"START",    "COMMIT",  "ROLLBACK", "SET",	 "SHOW",       "CREATE",
		"ALTER",    "DROP",    "TRUNCATE", "COPY",	 "VACUUM",     "ANALYZE",
		"EXPLAIN",  "LISTEN",  "NOTIFY",   "UNLISTEN",	 "DECLARE",    "FETCH",
		"CLOSE",    "PREPARE", "EXECUTE",  "DEALLOCATE", "DISCARD",    "RESET",
		"LOCK",	    "GRANT",   "REVOKE",   "VALUES",	 "TABLE",      "CALL",
		"DO",	    "END",     "ABORT",	   "SAVEPOINT",	 "RELEASE",    "MERGE",
		"COMMENT",  "REFRESH", "REINDEX",  "CLUSTER",	 "CHECKPOINT", "MOVE",
		"REPLACE",  "USE",     "DESCRIBE", "DESC",	 "HANDLER",    "LOAD",
		"OPTIMIZE", "KILL",    "FLUSH",
	};
	size_t i = 0, w = 0;
	char up[12];

	while (i < n &&
	       (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '('))
		i++;
	while (i < n && w < sizeof(up) &&
	       ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
		up[w++] = (char)(s[i++] & ~0x20);
	if (w == 0 || w == sizeof(up))
		return false;
	/* The word must be complete, unless the head ends right there. */
	if (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != ';' &&
	    s[i] != '(' && s[i] != '\0')
		return false;
	for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
		if (strlen(words[k]) == w && !memcmp(words[k], up, w))
			return true;
	return false;
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') ||
		    s[i] == 0x7f)
			return false;
	return true;
}

bool psc_sql_plausible(const char *sql, size_t len)
{
	if (!sql || len == 0)
		return false;
	return printable(sql, len < 64 ? len : 64) && first_word_ok(sql, len);
}

/* ---- prepared statement cache ----
 * Entry layout in the pool: key (4, host order), text length (1), complexity (1,
 * saturated), stmt (1), text. Least recently used first: a hit moves its entry to the
 * end, so statements a connection keeps executing survive one-off ones. A 7-byte header
 * keeps pgbench's seven TPC-B statements (347 bytes of text) in one pool. */

#define CACHE_HDR 7

static size_t cache_find(const struct psc_sql_stmt_cache *c, uint32_t key, size_t *ent_len)
{
	size_t off = 0, used = c->used <= PSC_SQL_CACHE_BYTES ? c->used : 0;

	while (off + CACHE_HDR <= used) {
		uint32_t k;
		size_t n = CACHE_HDR + c->pool[off + 4];
		if (off + n > used)
			break;
		memcpy(&k, c->pool + off, sizeof(k));
		if (k == key) {
			*ent_len = n;
			return off;
		}
		off += n;
	}
	return SIZE_MAX;
}

static void cache_remove_at(struct psc_sql_stmt_cache *c, size_t off, size_t n)
{
	memmove(c->pool + off, c->pool + off + n, c->used - off - n);
	c->used = (uint16_t)(c->used - n);
}

void psc_sql_cache_del(struct psc_sql_stmt_cache *cache, uint32_t key)
{
	size_t n, off = cache_find(cache, key, &n);

	if (off != SIZE_MAX)
		cache_remove_at(cache, off, n);
}

void psc_sql_cache_put(struct psc_sql_stmt_cache *cache, uint32_t key, const char *fp,
		       size_t fp_len, uint8_t stmt, uint16_t complexity)
{
	size_t need;

	if (cache->used > PSC_SQL_CACHE_BYTES)
		cache->used = 0;
	if (fp_len > PSC_SQL_CACHE_FP_MAX)
		fp_len = PSC_SQL_CACHE_FP_MAX;
	need = CACHE_HDR + fp_len;
	psc_sql_cache_del(cache, key);
	while (cache->used && (size_t)PSC_SQL_CACHE_BYTES - cache->used < need) {
		size_t first = CACHE_HDR + cache->pool[4];
		if (first > cache->used)
			first = cache->used;
		cache_remove_at(cache, 0, first);
	}
	uint8_t *e = cache->pool + cache->used;
	memcpy(e, &key, sizeof(key));
	e[4] = (uint8_t)fp_len;
	e[5] = complexity > UINT8_MAX ? UINT8_MAX : (uint8_t)complexity;
	e[6] = stmt;
	if (fp_len)
		memcpy(e + CACHE_HDR, fp, fp_len);
	cache->used = (uint16_t)(cache->used + need);
}

bool psc_sql_cache_get(struct psc_sql_stmt_cache *cache, uint32_t key, char *fp, size_t fp_size,
		       uint8_t *stmt, uint16_t *complexity)
{
	uint8_t ent[CACHE_HDR + PSC_SQL_CACHE_FP_MAX];
	size_t n, off = cache_find(cache, key, &n);
	size_t text;

	if (off == SIZE_MAX)
		return false;
	/* Move to the most recently used end. */
	memcpy(ent, cache->pool + off, n);
	memmove(cache->pool + off, cache->pool + off + n, cache->used - off - n);
	memcpy(cache->pool + cache->used - n, ent, n);
	text = n - CACHE_HDR;
	if (fp && fp_size) {
		if (text > fp_size - 1)
			text = fp_size - 1;
		memcpy(fp, ent + CACHE_HDR, text);
		fp[text] = '\0';
	}
	if (complexity)
		*complexity = ent[5];
	if (stmt)
		*stmt = ent[6];
	return true;
}

bool psc_sql_cache_rekey(struct psc_sql_stmt_cache *cache, uint32_t from, uint32_t to)
{
	size_t n, off;

	if (from == to)
		return cache_find(cache, from, &n) != SIZE_MAX;
	psc_sql_cache_del(cache, to);
	off = cache_find(cache, from, &n);
	if (off == SIZE_MAX)
		return false;
	memcpy(cache->pool + off, &to, sizeof(to));
	return true;
}
