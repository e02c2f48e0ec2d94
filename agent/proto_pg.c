// SPDX-License-Identifier: MIT
/* PostgreSQL frontend/backend protocol v3 parser.
 *
 * What a head yields:
 *  - client: 'Q' -> one REQUEST (the whole query string, several statements included);
 *    each 'E' Execute -> one REQUEST named after the statement its portal was bound to
 *    ("EXECUTE ?" when that statement was not seen or was evicted); 'F' FunctionCall ->
 *    REQUEST "FUNCTION CALL". Startup, SSLRequest, GSSENCRequest, CancelRequest, Parse,
 *    password and other messages are only acknowledged with one OTHER per head, and only
 *    when the head produced nothing else.
 *  - server: one RESPONSE per REQUEST, in order. A simple query is answered at its
 *    ReadyForQuery ('Z'); rows are the sum of its CommandComplete counts, error is set by
 *    any ErrorResponse before the 'Z'. An Execute is answered by its CommandComplete,
 *    EmptyQueryResponse, PortalSuspended or ErrorResponse; Executes that the server
 *    skipped after an error (it discards everything up to Sync) are answered at the Sync's
 *    'Z' with error set.
 *
 * Pairing. The client side queues one "unit" per ReadyForQuery the server owes: a simple
 * query, or the Executes before a Sync. The server side consumes them. Both directions of
 * a connection share one state, so this relies on the caller feeding the heads of one
 * connection in capture order, which is also causal order for everything the server
 * answers.
 *
 * Heads. A message longer than the head is skipped with its length word; when it runs past
 * the syscall's @full_len, the rest is skipped at the start of the next head. When the head
 * ends before the syscall's bytes do at a point where we cannot see the next header, the
 * framing is lost: on the server side the oldest unit is answered at once with truncated
 * set (its 'Z' is almost always in those unseen bytes, as the server flushes at 'Z'), and
 * the next head must start with a plausible message to resync. On the client side a lost
 * tail after extended-query messages is assumed to end with a Sync.
 *
 * TLS (the server accepted SSLRequest/GSSENCRequest) makes the rest opaque: every later
 * head yields 0 messages.
 */
#include "proto.h"
#include "sql_fingerprint.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#define PG_PROTO_V3 196608u
#define PG_SSL_REQUEST 80877103u
#define PG_GSSENC_REQUEST 80877104u
#define PG_CANCEL_REQUEST 80877102u
#define PG_MAX_MSG (1u << 30)	/* the server's own limit for any message */
#define PG_MAX_STARTUP 10000u	/* the server's limit for a startup packet */
#define PG_MAX_SMALL (1u << 20) /* bound for messages that carry no data */
#define PG_UNITS 12
#define PG_UNNAMED_KEY 0u

enum pg_unit_kind {
	UNIT_SIMPLE = 1, /* 'Q' or 'F' */
	UNIT_EXT,	 /* Executes up to a Sync */
};

enum pg_unit_flag {
	UNIT_OPEN = 1 << 0,   /* extended batch whose Sync was not seen yet */
	UNIT_FAILED = 1 << 1, /* an ErrorResponse arrived: remaining Executes were skipped */
};

struct pg_unit {
	uint8_t kind;
	uint8_t nexec; /* Executes still unanswered */
	uint8_t flags;
};

struct pg_dir {
	uint32_t skip; /* bytes of a message still to come at the start of the next head */
	uint8_t hdr[5];
	uint8_t hdr_have; /* a message header split across heads */
	bool lost;	  /* framing lost: resync on the next head */
};

struct pg_state {
	struct pg_dir dir[2];
	struct pg_unit units[PG_UNITS];
	uint8_t unit_first;
	uint8_t unit_count;
	bool ssl_pending; /* the client asked for TLS/GSS encryption, the server's byte is due */
	bool tls;
	bool simple_rows_set;
	bool simple_error;
	bool bound_known;
	int64_t simple_rows;
	uint32_t bound_key; /* statement of the last Bind */
	struct psc_sql_stmt_cache stmts;
};

_Static_assert(sizeof(struct pg_state) <= sizeof(struct psc_proto_state),
	       "pg_state must fit in psc_proto_state");

struct pg_ctx {
	struct pg_state *st;
	enum psc_flow flow;
	struct psc_msg *out;
	size_t max_out;
	size_t n;
	bool emitted;  /* a REQUEST or RESPONSE was produced */
	bool other;    /* something worth an OTHER was seen */
	bool ext_seen; /* client: an extended-query message was seen in this head */
	struct psc_msg scratch;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t name_key(const uint8_t *s, size_t n)
{
	uint32_t h = 2166136261u;

	if (n == 0)
		return PG_UNNAMED_KEY;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 16777619u;
	}
	return h == PG_UNNAMED_KEY ? 1 : h;
}

/* Length of the NUL-terminated string at @p within @n bytes, or -1 if unterminated. */
static ssize_t cstr_len(const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, '\0', n);

	return z ? z - p : -1;
}

static struct psc_msg *emit(struct pg_ctx *c, enum psc_msg_type type)
{
	struct psc_msg *m = c->n < c->max_out ? &c->out[c->n++] : &c->scratch;

	memset(m, 0, sizeof(*m));
	m->type = type;
	m->rows = -1;
	if (type != PSC_MSG_OTHER)
		c->emitted = true;
	return m;
}

/* ---- units ---- */

static struct pg_unit *unit_at(struct pg_state *st, unsigned k)
{
	return &st->units[(st->unit_first + k) % PG_UNITS];
}

static struct pg_unit *unit_head(struct pg_state *st)
{
	return st->unit_count ? unit_at(st, 0) : NULL;
}

static struct pg_unit *unit_tail(struct pg_state *st)
{
	return st->unit_count ? unit_at(st, st->unit_count - 1u) : NULL;
}

static void unit_pop(struct pg_state *st)
{
	if (!st->unit_count)
		return;
	st->unit_first = (uint8_t)((st->unit_first + 1) % PG_UNITS);
	st->unit_count--;
	st->simple_rows = 0;
	st->simple_rows_set = false;
	st->simple_error = false;
}

static struct pg_unit *unit_push(struct pg_state *st, uint8_t kind, uint8_t flags)
{
	struct pg_unit *u;

	/* A full queue means the server stopped answering long ago: forget the oldest. */
	if (st->unit_count == PG_UNITS)
		unit_pop(st);
	u = unit_at(st, st->unit_count++);
	u->kind = kind;
	u->nexec = 0;
	u->flags = flags;
	return u;
}

/* ---- client messages ---- */

static void request_sql(struct pg_ctx *c, const uint8_t *sql, size_t n, bool truncated)
{
	struct psc_msg *m = emit(c, PSC_MSG_REQUEST);
	struct psc_sql_info info;
	char fp[PSC_ENDPOINT_MAX];
	size_t fl;

	fl = psc_sql_fingerprint((const char *)sql, n, PSC_SQL_DIALECT_PG, fp, sizeof(fp), &info);
	/* Never an empty endpoint: "EMPTY" for an empty query string, "QUERY ?" when the
	 * head ended before any of it. */
	if (fl == 0)
		fl = (size_t)snprintf(fp, sizeof(fp), truncated ? "QUERY ?" : "EMPTY");
	psc_endpoint_copy(m->endpoint, fp, fl);
	m->sql_stmt = info.stmt;
	m->sql_complexity = info.complexity;
	m->truncated = truncated;
}

static void client_parse_msg(struct pg_ctx *c, const uint8_t *b, size_t avail, size_t blen)
{
	struct pg_state *st = c->st;
	struct psc_sql_info info;
	char fp[PSC_ENDPOINT_MAX];
	ssize_t name, q;
	size_t fl;

	c->ext_seen = true;
	c->other = true;
	name = cstr_len(b, avail);
	if (name < 0)
		return; /* statement name cut by the head: nothing usable */
	q = cstr_len(b + name + 1, avail - (size_t)name - 1);
	fl = psc_sql_fingerprint((const char *)b + name + 1,
				 q < 0 ? avail - (size_t)name - 1 : (size_t)q, PSC_SQL_DIALECT_PG,
				 fp, sizeof(fp), &info);
	(void)blen;
	if (fl == 0 && q >= 0)
		fl = (size_t)snprintf(fp, sizeof(fp), "EMPTY");
	psc_sql_cache_put(&st->stmts, name_key(b, (size_t)name), fp, fl, info.stmt,
			  info.complexity);
}

static void client_msg(struct pg_ctx *c, uint8_t type, const uint8_t *b, size_t avail, size_t blen)
{
	struct pg_state *st = c->st;
	struct pg_unit *u;
	struct psc_msg *m;
	ssize_t n, k;

	switch (type) {
	case 'Q':
		n = cstr_len(b, avail);
		request_sql(c, b, n < 0 ? avail : (size_t)n, n < 0);
		unit_push(st, UNIT_SIMPLE, 0);
		break;
	case 'F':
		m = emit(c, PSC_MSG_REQUEST);
		psc_endpoint_copy(m->endpoint, "FUNCTION CALL", 13);
		m->sql_stmt = PSC_SQL_OTHER;
		unit_push(st, UNIT_SIMPLE, 0);
		break;
	case 'P':
		client_parse_msg(c, b, avail, blen);
		break;
	case 'B':
		c->ext_seen = true;
		st->bound_known = false;
		n = cstr_len(b, avail); /* portal */
		if (n < 0)
			break;
		k = cstr_len(b + n + 1, avail - (size_t)n - 1);
		if (k < 0)
			break;
		st->bound_known = true;
		st->bound_key = name_key(b + n + 1, (size_t)k);
		break;
	case 'E':
		c->ext_seen = true;
		m = emit(c, PSC_MSG_REQUEST);
		if (!st->bound_known ||
		    !psc_sql_cache_get(&st->stmts, st->bound_key, m->endpoint, sizeof(m->endpoint),
				       &m->sql_stmt, &m->sql_complexity) ||
		    !m->endpoint[0]) {
			psc_endpoint_copy(m->endpoint, "EXECUTE ?", 9);
			m->sql_stmt = PSC_SQL_OTHER;
		}
		u = unit_tail(st);
		if (!u || u->kind != UNIT_EXT || !(u->flags & UNIT_OPEN))
			u = unit_push(st, UNIT_EXT, UNIT_OPEN);
		if (u->nexec < UINT8_MAX)
			u->nexec++;
		break;
	case 'S':
		u = unit_tail(st);
		if (u && u->kind == UNIT_EXT && (u->flags & UNIT_OPEN))
			u->flags &= (uint8_t)~UNIT_OPEN;
		else
			unit_push(st, UNIT_EXT, 0);
		c->ext_seen = false; /* the batch is closed */
		c->other = true;
		break;
	case 'C': /* Close: 'S' statement or 'P' portal, then the name */
		c->ext_seen = true;
		if (avail >= 1 && b[0] == 'S') {
			n = cstr_len(b + 1, avail - 1);
			if (n >= 0)
				psc_sql_cache_del(&st->stmts, name_key(b + 1, (size_t)n));
		}
		break;
	case 'D':
	case 'H':
		c->ext_seen = true;
		break;
	default: /* 'd' 'c' 'f' copy, 'p' authentication, 'X' terminate */
		c->other = true;
		break;
	}
}

/* ---- server messages ---- */

/* Rows from a CommandComplete tag ("INSERT 0 3", "SELECT 5", ...), or -1. */
static int64_t tag_rows(const uint8_t *b, size_t n)
{
	static const char *const counted[] = {"INSERT ", "DELETE ", "UPDATE ", "SELECT ",
					      "MOVE ",	 "FETCH ",  "COPY ",   "MERGE "};
	size_t i, last = 0;
	int64_t v = 0;
	bool ok = false;

	for (i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
		size_t l = strlen(counted[i]);
		if (n > l && !memcmp(b, counted[i], l)) {
			ok = true;
			break;
		}
	}
	if (!ok)
		return -1;
	for (i = 0; i < n; i++)
		if (b[i] == ' ')
			last = i + 1;
	if (last >= n)
		return -1;
	for (i = last; i < n; i++) {
		if (b[i] < '0' || b[i] > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (b[i] - '0');
	}
	return v;
}

static void respond_exec(struct pg_ctx *c, struct pg_unit *u, bool error, int64_t rows,
			 bool truncated)
{
	struct psc_msg *m = emit(c, PSC_MSG_RESPONSE);

	m->error = error;
	m->rows = rows;
	m->truncated = truncated;
	u->nexec--;
}

/* Answers the oldest unit now, without its 'Z' (@truncated) or at it. */
static void unit_complete(struct pg_ctx *c, bool truncated)
{
	struct pg_state *st = c->st;
	struct pg_unit *u = unit_head(st);
	struct psc_msg *m;

	if (!u)
		return;
	if (u->kind == UNIT_SIMPLE) {
		m = emit(c, PSC_MSG_RESPONSE);
		m->error = st->simple_error;
		m->rows = st->simple_rows_set ? st->simple_rows : -1;
		m->truncated = truncated;
	} else {
		while (u->nexec)
			respond_exec(c, u, (u->flags & UNIT_FAILED) != 0, -1,
				     truncated || !(u->flags & UNIT_FAILED));
	}
	unit_pop(st);
}

static void server_msg(struct pg_ctx *c, uint8_t type, const uint8_t *b, size_t avail, size_t blen)
{
	struct pg_state *st = c->st;
	struct pg_unit *u = unit_head(st);
	int64_t rows;
	ssize_t n;

	switch (type) {
	case 'C':
		n = cstr_len(b, avail);
		rows = n < 0 ? -1 : tag_rows(b, (size_t)n);
		if (!u)
			break;
		if (u->kind == UNIT_SIMPLE) {
			if (rows >= 0) {
				st->simple_rows =
					(st->simple_rows_set ? st->simple_rows : 0) + rows;
				st->simple_rows_set = true;
			}
		} else if (u->nexec && !(u->flags & UNIT_FAILED)) {
			respond_exec(c, u, false, rows, false);
		}
		break;
	case 'I':
	case 's':
		if (u && u->kind == UNIT_EXT && u->nexec && !(u->flags & UNIT_FAILED))
			respond_exec(c, u, false, -1, false);
		break;
	case 'E':
		c->other = true;
		if (!u)
			break;
		if (u->kind == UNIT_SIMPLE) {
			st->simple_error = true;
		} else {
			if (u->nexec && !(u->flags & UNIT_FAILED))
				respond_exec(c, u, true, -1, false);
			u->flags |= UNIT_FAILED;
		}
		break;
	case 'Z':
		c->other = true;
		/* An extended batch still open has no Sync yet: this 'Z' is not its. */
		if (u && !(u->kind == UNIT_EXT && (u->flags & UNIT_OPEN)))
			unit_complete(c, false);
		break;
	default:
		c->other = true;
		break;
	}
	(void)blen;
}

/* ---- framing ---- */

static bool type_ok(enum psc_flow flow, uint8_t t, uint32_t l)
{
	const char *set =
		flow == PSC_FLOW_TO_SERVER ? "QPBESCFDHdcfpX" : "RKSZTDCEINV123ntsGHWdcAv";
	/* Messages that carry rows, copy data, SQL text or parameters may be up to the server's
	 * limit; the others are small, which stops random bytes (or a header glued together
	 * from a stale fragment) from claiming a huge length. */
	const char *big = flow == PSC_FLOW_TO_SERVER ? "QPBFd" : "DdV";

	if (t == 0 || !strchr(set, t))
		return false;
	if (l < 4 || l > PG_MAX_MSG)
		return false;
	if (!strchr(big, t) && l > PG_MAX_SMALL)
		return false;
	/* Fixed sizes catch most random bytes that happen to start with a known letter. */
	if (flow == PSC_FLOW_TO_SERVER)
		return (t == 'S' || t == 'H' || t == 'c' || t == 'X') ? l == 4 : true;
	switch (t) {
	case 'Z':
		return l == 5;
	case '1':
	case '2':
	case '3':
	case 'n':
	case 'I':
	case 's':
	case 'c':
		return l == 4;
	case 'K':
		return l == 12;
	default:
		return true;
	}
}

static void dispatch(struct pg_ctx *c, uint8_t t, const uint8_t *b, size_t avail, size_t blen)
{
	c->other = true;
	if (c->flow == PSC_FLOW_TO_SERVER)
		client_msg(c, t, b, avail, blen);
	else
		server_msg(c, t, b, avail, blen);
}

/* Untyped client messages: startup, SSLRequest, GSSENCRequest, CancelRequest. Returns the
 * bytes consumed, 0 if this is not one, -EBADMSG if it starts like one but is not. */
static ssize_t client_untyped(struct pg_ctx *c, const uint8_t *buf, size_t len, size_t full_len)
{
	uint32_t l, code;

	if (len == 0 || buf[0] != 0)
		return 0;
	if (len < 8) {
		/* Cut before its code: take the head as the start of one. */
		if (len == full_len)
			return -EBADMSG;
		c->other = true;
		return (ssize_t)len;
	}
	l = be32(buf);
	code = be32(buf + 4);
	if ((code == PG_SSL_REQUEST || code == PG_GSSENC_REQUEST) && l == 8) {
		c->st->ssl_pending = true;
	} else if (code == PG_CANCEL_REQUEST && l == 16) {
	} else if (code == PG_PROTO_V3 && l > 8 && l <= PG_MAX_STARTUP) {
	} else {
		return -EBADMSG;
	}
	c->other = true;
	return l;
}

/* Lost framing: does @buf start with a believable message (and a second one, if visible)? */
static bool resync_ok(enum psc_flow flow, const uint8_t *buf, size_t len, size_t full_len)
{
	size_t pos = 0;

	for (int k = 0; k < 2; k++) {
		if (pos >= full_len)
			return k > 0 && pos == full_len;
		if (len < pos + 5)
			return k > 0;
		uint32_t l = be32(buf + pos + 1);
		if (!type_ok(flow, buf[pos], l))
			return false;
		pos += 1 + (size_t)l;
	}
	return true;
}

static void lost_tail(struct pg_ctx *c)
{
	struct pg_state *st = c->st;
	struct pg_unit *u;

	st->dir[c->flow].lost = true;
	if (c->flow == PSC_FLOW_TO_CLIENT) {
		u = unit_head(st);
		if (u && !(u->kind == UNIT_EXT && (u->flags & UNIT_OPEN)))
			unit_complete(c, true);
		return;
	}
	if (c->ext_seen) {
		u = unit_tail(st);
		if (u && u->kind == UNIT_EXT && (u->flags & UNIT_OPEN))
			u->flags &= (uint8_t)~UNIT_OPEN;
		else
			unit_push(st, UNIT_EXT, 0);
	}
}

static int pg_parse(struct psc_proto_state *state, enum psc_flow flow, const uint8_t *buf,
		    size_t len, size_t full_len, struct psc_msg *out, size_t max_out)
{
	struct pg_ctx c = {.flow = flow, .out = out, .max_out = max_out};
	struct pg_state *st;
	struct pg_dir *d;
	uint64_t pos = 0;
	size_t parsed = 0;

	if (!state || !buf || (flow != PSC_FLOW_TO_SERVER && flow != PSC_FLOW_TO_CLIENT))
		return -EINVAL;
	st = c.st = (struct pg_state *)state->bytes;
	if (!out)
		c.max_out = 0;
	if (full_len < len)
		full_len = len;
	/* A 0-byte head of a non-empty syscall still moves the framing (skip or lose it). */
	if (st->tls || full_len == 0)
		return 0;
	d = &st->dir[flow];

	if (flow == PSC_FLOW_TO_CLIENT && st->ssl_pending && len > 0) {
		st->ssl_pending = false;
		if (buf[0] == 'S' || buf[0] == 'G') {
			st->tls = true;
			emit(&c, PSC_MSG_OTHER);
			return (int)c.n;
		}
		if (buf[0] == 'N') {
			pos = 1;
			c.other = true;
			d->lost = false;
		}
	}

	if (d->skip) {
		if (d->skip >= full_len) {
			d->skip -= (uint32_t)full_len;
			return 0;
		}
		pos = d->skip;
		d->skip = 0;
	} else if (d->hdr_have) {
		size_t take = 5 - d->hdr_have;
		if (take > len)
			take = len;
		memcpy(d->hdr + d->hdr_have, buf, take);
		d->hdr_have = (uint8_t)(d->hdr_have + take);
		pos = take;
		if (d->hdr_have < 5) {
			if (len < full_len) {
				d->hdr_have = 0;
				lost_tail(&c);
			}
			return (int)c.n;
		}
		d->hdr_have = 0;
		uint32_t l = be32(d->hdr + 1);
		if (!type_ok(flow, d->hdr[0], l)) {
			d->lost = true;
			return -EBADMSG;
		}
		size_t avail = len - pos < l - 4 ? len - pos : l - 4;
		dispatch(&c, d->hdr[0], buf + pos, avail, l - 4);
		parsed++;
		pos += l - 4;
	} else if (d->lost) {
		if (!resync_ok(flow, buf, len, full_len))
			return 0;
		d->lost = false;
		parsed++; /* from here on a bad header only ends the head */
	}

	if (flow == PSC_FLOW_TO_SERVER && pos == 0) {
		ssize_t r = client_untyped(&c, buf, len, full_len);
		if (r < 0) {
			d->lost = true;
			return r;
		}
		pos = (size_t)r;
		parsed += r > 0;
	}

	while (pos < full_len) {
		if (pos >= len || len - pos < 5) {
			if (len == full_len) {
				d->hdr_have = (uint8_t)(len - pos);
				memcpy(d->hdr, buf + pos, d->hdr_have);
				pos = full_len;
			} else {
				lost_tail(&c);
			}
			break;
		}
		uint8_t t = buf[pos];
		uint32_t l = be32(buf + pos + 1);
		if (!type_ok(flow, t, l)) {
			d->lost = true;
			if (!parsed)
				return -EBADMSG;
			break;
		}
		size_t body = (size_t)pos + 5;
		size_t avail = len - body < l - 4 ? len - body : l - 4;
		dispatch(&c, t, buf + body, avail, l - 4);
		parsed++;
		pos = body + (l - 4);
	}
	if (pos > full_len)
		d->skip = (uint32_t)(pos - full_len);
	if (!c.emitted && c.other && c.n < c.max_out)
		emit(&c, PSC_MSG_OTHER);
	return (int)c.n;
}

/* ---- detection ---- */

static bool pg_detect(const uint8_t *buf, size_t len, enum psc_flow flow)
{
	uint32_t l;

	if (!buf || len < 5)
		return false;
	if (flow == PSC_FLOW_TO_CLIENT) {
		/* Authentication request: Ok, cleartext, MD5 (with salt) or SASL. */
		if (buf[0] != 'R' || len < 9)
			return false;
		l = be32(buf + 1);
		uint32_t code = be32(buf + 5);
		return (l == 8 && (code == 0 || code == 3)) || (l == 12 && code == 5) ||
		       (code == 10 && l > 8 && l < 1024);
	}
	if (buf[0] == 0) {
		if (len < 8)
			return false;
		l = be32(buf);
		uint32_t code = be32(buf + 4);
		if (code == PG_SSL_REQUEST || code == PG_GSSENC_REQUEST)
			return l == 8;
		if (code == PG_CANCEL_REQUEST)
			return l == 16;
		/* Startup: parameter names are lower-case words ("user", "database"...). */
		return code == PG_PROTO_V3 && l > 8 && l <= PG_MAX_STARTUP &&
		       (len == 8 || (buf[8] >= 'a' && buf[8] <= 'z'));
	}
	l = be32(buf + 1);
	if (l < 5 || l > PG_MAX_MSG)
		return false;
	size_t body = len - 5 < l - 4 ? len - 5 : l - 4;
	const uint8_t *b = buf + 5;
	if (buf[0] == 'Q') {
		ssize_t n = cstr_len(b, body);
		/* The query is the whole body: its NUL must be the last byte, if visible. */
		if (n >= 0 && (size_t)n != l - 5)
			return false;
		size_t sl = n < 0 ? body : (size_t)n;
		return psc_sql_plausible((const char *)b, sl);
	}
	if (buf[0] == 'P') {
		ssize_t name = cstr_len(b, body < 64 ? body : 64);
		if (name < 0)
			return false;
		for (ssize_t i = 0; i < name; i++)
			if (b[i] < 0x20 || b[i] >= 0x7f)
				return false;
		size_t rest = body - (size_t)name - 1;
		ssize_t q = cstr_len(b + name + 1, rest);
		return psc_sql_plausible((const char *)b + name + 1, q < 0 ? rest : (size_t)q);
	}
	return false;
}

const struct psc_proto_ops psc_proto_pg_ops = {
	.proto = PSC_PROTO_PG,
	.name = "postgres",
	.detect = pg_detect,
	.parse = pg_parse,
};
