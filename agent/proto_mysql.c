// SPDX-License-Identifier: MIT
/* MySQL / MariaDB client/server protocol parser.
 *
 * What a head yields:
 *  - client, command phase (packets with sequence id 0):
 *      COM_QUERY -> REQUEST with the statement fingerprint;
 *      COM_STMT_EXECUTE -> REQUEST with the fingerprint of the prepared statement
 *        ("EXECUTE ?" when its COM_STMT_PREPARE was not seen or was evicted);
 *      COM_INIT_DB, COM_PING, COM_STATISTICS, COM_FIELD_LIST, COM_PROCESS_KILL, COM_DEBUG,
 *      COM_SET_OPTION, COM_STMT_RESET, COM_STMT_FETCH, COM_RESET_CONNECTION -> REQUEST
 *        named "INIT_DB", "PING", ... (sql_stmt PSC_SQL_OTHER), since each gets a reply;
 *      COM_STMT_PREPARE -> OTHER (its text is remembered until PREPARE_OK names its id);
 *      COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA (no reply), COM_CHANGE_USER,
 *        replication and unknown-but-valid commands -> OTHER.
 *  - server: one RESPONSE per REQUEST: an OK (rows = affected rows for queries and
 *    executes), an ERR (error), or a whole result set (rows = the row packets counted, or
 *    -1 when part of it was not seen). Multi-result replies (SERVER_MORE_RESULTS_EXISTS)
 *    count as one response. PREPARE_OK and its parameter/column definitions are OTHER.
 *  - the greeting, the handshake response and the authentication exchange are OTHER.
 *
 * Pairing: the client side queues what each command expects; the server side consumes
 * it, so both directions of a connection share one state and must be fed in capture
 * order. When a head ends before the syscall's bytes do at a point where the next packet
 * header cannot be seen, the oldest command is answered at once with truncated set and
 * the next head must start with a plausible first packet (sequence id 1 for the server,
 * 0 for the client) to resync. An SSL request makes the rest of the connection opaque:
 * later heads yield nothing.
 */
#include "proto.h"
#include "sql_fingerprint.h"

#include <errno.h>
#include <string.h>

#define MY_HDR 4
#define MY_MAX_PAYLOAD 0xffffffu
#define MY_QUEUE 8
#define MY_PENDING_KEY 0xffffffffu /* statement prepared, id not known yet */

#define CLIENT_SSL 0x00000800u
#define SERVER_MORE_RESULTS_EXISTS 0x0008u

enum my_cmd {
	COM_QUIT = 0x01,
	COM_INIT_DB = 0x02,
	COM_QUERY = 0x03,
	COM_FIELD_LIST = 0x04,
	COM_STATISTICS = 0x09,
	COM_PROCESS_KILL = 0x0c,
	COM_DEBUG = 0x0d,
	COM_PING = 0x0e,
	COM_CHANGE_USER = 0x11,
	COM_STMT_PREPARE = 0x16,
	COM_STMT_EXECUTE = 0x17,
	COM_STMT_SEND_LONG_DATA = 0x18,
	COM_STMT_CLOSE = 0x19,
	COM_STMT_RESET = 0x1a,
	COM_SET_OPTION = 0x1b,
	COM_STMT_FETCH = 0x1c,
	COM_RESET_CONNECTION = 0x1f,
};

/* What the server owes for a queued command. */
enum my_expect {
	EX_OKERR = 1, /* one OK/EOF or ERR packet */
	EX_ANY,	      /* one packet of any kind (COM_STATISTICS' text) */
	EX_RESULT,    /* OK, ERR or a result set */
	EX_FIELDS,    /* column definitions up to EOF (COM_FIELD_LIST) */
	EX_ROWS,      /* rows up to EOF (COM_STMT_FETCH) */
	EX_PREPARE,   /* PREPARE_OK or ERR */
};

enum my_phase {
	PH_COMMAND, /* also the state of a connection first seen mid-way */
	PH_GREETED, /* server greeting seen, handshake response due */
	PH_AUTH,    /* handshake response seen, waiting for the final OK/ERR */
};

enum my_rs {
	RS_FIRST, /* first packet of a reply */
	RS_COLS,  /* column definitions */
	RS_ROWS,
};

struct my_dir {
	uint32_t skip; /* payload bytes of a packet still to come at the start of the next head */
	uint8_t hdr[MY_HDR];
	uint8_t hdr_have;
	bool lost;
	bool cont; /* the last packet was 0xffffff long: the next one continues it */
};

struct my_state {
	struct my_dir dir[2];
	uint8_t phase;
	bool tls;
	uint8_t queue[MY_QUEUE];
	uint8_t q_first;
	uint8_t q_count;
	uint8_t rs;
	bool rs_more;	  /* a further result of the same reply follows */
	bool rs_infile;	  /* LOCAL INFILE: the client sends a file before the OK */
	bool rs_eof_tail; /* a PREPARE_OK's definitions may end with one EOF */
	uint32_t cols_left;
	uint32_t prep_skip; /* definitions following a PREPARE_OK */
	int64_t rows;
	struct psc_sql_stmt_cache stmts;
};

_Static_assert(sizeof(struct my_state) <= sizeof(struct psc_proto_state),
	       "my_state must fit in psc_proto_state");

struct my_ctx {
	struct my_state *st;
	enum psc_flow flow;
	struct psc_msg *out;
	size_t max_out;
	size_t n;
	bool emitted;
	bool other;
	struct psc_msg scratch;
};

static uint32_t le24(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static uint32_t le32(const uint8_t *p)
{
	return le24(p) | (uint32_t)p[3] << 24;
}

/* Length-encoded integer at @p (@n bytes visible). Returns its size, 0 if cut or invalid. */
static size_t lenenc(const uint8_t *p, size_t n, uint64_t *v)
{
	size_t sz;

	if (n < 1)
		return 0;
	if (p[0] < 0xfb) {
		*v = p[0];
		return 1;
	}
	switch (p[0]) {
	case 0xfc:
		sz = 3;
		break;
	case 0xfd:
		sz = 4;
		break;
	case 0xfe:
		sz = 9;
		break;
	default:
		return 0;
	}
	if (n < sz)
		return 0;
	*v = 0;
	for (size_t i = sz - 1; i >= 1; i--)
		*v = *v << 8 | p[i];
	return sz;
}

static struct psc_msg *emit(struct my_ctx *c, enum psc_msg_type type)
{
	struct psc_msg *m = c->n < c->max_out ? &c->out[c->n++] : &c->scratch;

	memset(m, 0, sizeof(*m));
	m->type = type;
	m->rows = -1;
	if (type != PSC_MSG_OTHER)
		c->emitted = true;
	return m;
}

/* ---- command queue ---- */

static uint8_t q_head(const struct my_state *st)
{
	return st->q_count ? st->queue[st->q_first % MY_QUEUE] : 0;
}

static void q_pop(struct my_state *st)
{
	if (!st->q_count)
		return;
	st->q_first = (uint8_t)((st->q_first + 1) % MY_QUEUE);
	st->q_count--;
	st->rs = RS_FIRST;
	st->rs_more = false;
	st->rs_infile = false;
	st->cols_left = 0;
	st->rows = 0;
}

static void q_push(struct my_state *st, uint8_t ex)
{
	/* Full: the server stopped answering long ago; forget the oldest. */
	if (st->q_count == MY_QUEUE)
		q_pop(st);
	st->queue[(st->q_first + st->q_count) % MY_QUEUE] = ex;
	st->q_count++;
}

/* ---- client ---- */

static void named_request(struct my_ctx *c, const char *name, uint8_t ex)
{
	struct psc_msg *m = emit(c, PSC_MSG_REQUEST);

	psc_endpoint_copy(m->endpoint, name, strlen(name));
	m->sql_stmt = PSC_SQL_OTHER;
	q_push(c->st, ex);
}

/* Returns false when @cmd is not a command byte. */
static bool client_command(struct my_ctx *c, const uint8_t *p, size_t avail, size_t plen)
{
	struct my_state *st = c->st;
	struct psc_sql_info info;
	char fp[PSC_ENDPOINT_MAX];
	struct psc_msg *m;
	size_t fl, off = 1;

	switch (p[0]) {
	case COM_QUERY:
		/* MySQL 8 query attributes: parameter_count = 0, parameter_set_count = 1. */
		if (avail >= 3 && p[1] == 0x00 && p[2] == 0x01)
			off = 3;
		m = emit(c, PSC_MSG_REQUEST);
		fl = psc_sql_fingerprint((const char *)p + off, avail > off ? avail - off : 0,
					 PSC_SQL_DIALECT_MYSQL, fp, sizeof(fp), &info);
		/* Never an empty endpoint (see proto_pg.c). */
		if (fl == 0) {
			memcpy(fp, avail == plen ? "EMPTY" : "QUERY ?", avail == plen ? 6 : 8);
			fl = strlen(fp);
		}
		psc_endpoint_copy(m->endpoint, fp, fl);
		m->sql_stmt = info.stmt;
		m->sql_complexity = info.complexity;
		m->truncated = avail < plen;
		q_push(st, EX_RESULT);
		return true;
	case COM_STMT_PREPARE:
		fl = psc_sql_fingerprint((const char *)p + 1, avail - 1, PSC_SQL_DIALECT_MYSQL, fp,
					 sizeof(fp), &info);
		psc_sql_cache_put(&st->stmts, MY_PENDING_KEY, fp, fl, info.stmt, info.complexity);
		q_push(st, EX_PREPARE);
		c->other = true;
		return true;
	case COM_STMT_EXECUTE:
		m = emit(c, PSC_MSG_REQUEST);
		if (avail < 5 ||
		    !psc_sql_cache_get(&st->stmts, le32(p + 1), m->endpoint, sizeof(m->endpoint),
				       &m->sql_stmt, &m->sql_complexity) ||
		    !m->endpoint[0]) {
			psc_endpoint_copy(m->endpoint, "EXECUTE ?", 9);
			m->sql_stmt = PSC_SQL_OTHER;
		}
		q_push(st, EX_RESULT);
		return true;
	case COM_STMT_CLOSE:
		if (avail >= 5)
			psc_sql_cache_del(&st->stmts, le32(p + 1));
		c->other = true;
		return true;
	case COM_INIT_DB:
		named_request(c, "INIT_DB", EX_OKERR);
		return true;
	case COM_PING:
		named_request(c, "PING", EX_OKERR);
		return true;
	case COM_STATISTICS:
		named_request(c, "STATISTICS", EX_ANY);
		return true;
	case COM_FIELD_LIST:
		named_request(c, "FIELD_LIST", EX_FIELDS);
		return true;
	case COM_PROCESS_KILL:
		named_request(c, "PROCESS_KILL", EX_OKERR);
		return true;
	case COM_DEBUG:
		named_request(c, "DEBUG", EX_OKERR);
		return true;
	case COM_SET_OPTION:
		named_request(c, "SET_OPTION", EX_OKERR);
		return true;
	case COM_STMT_RESET:
		named_request(c, "STMT_RESET", EX_OKERR);
		return true;
	case COM_STMT_FETCH:
		named_request(c, "STMT_FETCH", EX_ROWS);
		return true;
	case COM_RESET_CONNECTION:
		named_request(c, "RESET_CONNECTION", EX_OKERR);
		return true;
	case COM_CHANGE_USER:
		st->phase = PH_AUTH;
		c->other = true;
		return true;
	default:
		/* COM_QUIT, COM_STMT_SEND_LONG_DATA, replication and the rest of the documented
		 * range (MariaDB uses a few bytes at the top end). */
		if ((p[0] >= 0x01 && p[0] <= 0x20) || p[0] >= 0xfa) {
			c->other = true;
			return true;
		}
		return false;
	}
}

static int client_packet(struct my_ctx *c, uint8_t seq, const uint8_t *p, size_t avail, size_t plen)
{
	struct my_state *st = c->st;

	if (st->dir[PSC_FLOW_TO_SERVER].cont) /* continuation of a 16 MiB packet */
		return 0;
	switch (st->phase) {
	case PH_GREETED:
		/* The handshake response; a 32-byte one with CLIENT_SSL asks for TLS. */
		if (avail >= 4 && (le32(p) & CLIENT_SSL) && plen == 32)
			st->tls = true;
		st->phase = PH_AUTH;
		c->other = true;
		return 0;
	case PH_AUTH:
		c->other = true;
		return 0;
	default:
		break;
	}
	if (seq != 0) { /* LOCAL INFILE contents and other data */
		c->other = true;
		return 0;
	}
	if (plen == 0)
		return -EBADMSG;
	if (avail == 0) { /* the head ends at the header: the command is not known */
		c->other = true;
		return 0;
	}
	return client_command(c, p, avail, plen) ? 0 : -EBADMSG;
}

/* ---- server ---- */

static void respond(struct my_ctx *c, bool error, int64_t rows, bool truncated)
{
	struct psc_msg *m = emit(c, PSC_MSG_RESPONSE);

	m->error = error;
	m->rows = rows;
	m->truncated = truncated;
	q_pop(c->st);
}

/* Status flags of an OK packet (0x00 or 0xfe header) or a 5-byte EOF; 0 when cut. */
static uint16_t end_status(const uint8_t *p, size_t avail, size_t plen, uint64_t *affected)
{
	uint64_t v;
	size_t off = 1, k;

	*affected = 0;
	if (p[0] == 0xfe && plen == 5)
		return avail >= 5 ? (uint16_t)(p[3] | p[4] << 8) : 0;
	k = lenenc(p + off, avail - off, &v);
	if (!k)
		return 0;
	*affected = v;
	off += k;
	k = lenenc(p + off, avail - off, &v);
	if (!k)
		return 0;
	off += k;
	return avail >= off + 2 ? (uint16_t)(p[off] | p[off + 1] << 8) : 0;
}

static bool is_greeting(const uint8_t *p, size_t avail, size_t plen)
{
	const uint8_t *z;

	if (avail < 2 || p[0] != 10 || plen < 20 || p[1] < '0' || p[1] > '9')
		return false;
	z = memchr(p + 1, '\0', avail - 1 < 64 ? avail - 1 : 64);
	if (!z)
		return avail < plen && avail < 65;
	for (const uint8_t *q = p + 1; q < z; q++)
		if (*q < 0x20 || *q >= 0x7f)
			return false;
	return true;
}

/* End of a result set (or of one result of a multi-result reply). */
static void result_end(struct my_ctx *c, const uint8_t *p, size_t avail, size_t plen)
{
	struct my_state *st = c->st;
	uint64_t affected;
	uint16_t status = end_status(p, avail, plen, &affected);

	if (status & SERVER_MORE_RESULTS_EXISTS) {
		st->rs = RS_FIRST;
		st->rs_more = true;
		return;
	}
	respond(c, false, st->rows >= 0 ? st->rows : -1, false);
}

static int server_packet(struct my_ctx *c, uint8_t seq, const uint8_t *p, size_t avail, size_t plen,
			 bool first_in_head, bool last)
{
	struct my_state *st = c->st;
	uint8_t ex = q_head(st);
	uint64_t v;
	bool eof;

	if (st->dir[PSC_FLOW_TO_CLIENT].cont)
		return 0;
	if (seq == 0 && !ex && st->prep_skip == 0 && is_greeting(p, avail, plen)) {
		st->phase = PH_GREETED;
		st->q_count = 0;
		c->other = true;
		return 0;
	}
	if (st->phase != PH_COMMAND) {
		if (avail && (p[0] == 0x00 || p[0] == 0xff) && st->phase == PH_AUTH)
			st->phase = PH_COMMAND;
		c->other = true;
		return 0;
	}
	eof = avail && p[0] == 0xfe && plen < MY_MAX_PAYLOAD;
	if (st->prep_skip || st->rs_eof_tail) {
		if (eof) {
			if (!st->prep_skip)
				st->rs_eof_tail = false;
			c->other = true;
			return 0;
		}
		if (st->prep_skip) {
			if (--st->prep_skip == 0)
				st->rs_eof_tail = true;
			c->other = true;
			return 0;
		}
		st->rs_eof_tail = false;
	}
	if (!ex)
		return 0;
	if (st->rs == RS_FIRST && !st->rs_more && !st->rs_infile && seq != 1)
		return first_in_head ? -EBADMSG : -EAGAIN;
	if (avail == 0) {
		/* Cut right after the header: a reply's first packet, or the last packet of the
		 * syscall inside a result set (most likely its terminator), is answered now;
		 * later packets of the same reply find nothing queued or fail the sequence
		 * check, so nothing is counted twice. */
		if (plen && (st->rs == RS_FIRST || last)) {
			if (ex == EX_PREPARE) {
				psc_sql_cache_del(&st->stmts, MY_PENDING_KEY);
				q_pop(st);
			} else {
				respond(c, false, -1, true);
			}
		}
		return 0;
	}

	switch (ex) {
	case EX_OKERR:
	case EX_ANY:
		respond(c, p[0] == 0xff, -1, false);
		return 0;
	case EX_PREPARE:
		if (p[0] == 0x00 && plen >= 12 && avail >= 9) {
			psc_sql_cache_rekey(&st->stmts, MY_PENDING_KEY, le32(p + 1));
			st->prep_skip = (uint32_t)(p[5] | p[6] << 8) + (uint32_t)(p[7] | p[8] << 8);
			st->rs_eof_tail = false;
		} else {
			psc_sql_cache_del(&st->stmts, MY_PENDING_KEY);
		}
		q_pop(st);
		c->other = true;
		return 0;
	case EX_FIELDS:
		if (p[0] == 0xff)
			respond(c, true, -1, false);
		else if (eof)
			respond(c, false, -1, false);
		return 0;
	case EX_ROWS:
		st->rs = RS_ROWS;
		break;
	default:
		break;
	}

	switch (st->rs) {
	case RS_FIRST:
		if (p[0] == 0xff) {
			respond(c, true, -1, false);
		} else if (p[0] == 0x00) {
			uint64_t affected;
			uint16_t status = end_status(p, avail, plen, &affected);
			st->rows += affected > INT64_MAX ? INT64_MAX : (int64_t)affected;
			if (status & SERVER_MORE_RESULTS_EXISTS)
				st->rs_more = true;
			else
				respond(c, false, st->rows, false);
		} else if (p[0] == 0xfb) {
			st->rs_infile = true;
		} else if (p[0] == 0xfe) {
			respond(c, false, -1, false);
		} else {
			size_t k = lenenc(p, avail, &v);
			st->rs_more = false;
			st->rs_infile = false;
			if (!k || v == 0)
				return first_in_head ? -EBADMSG : -EAGAIN;
			/* MariaDB's metadata cache: a trailing 0 means no definitions follow. */
			st->cols_left = (plen > k && avail > k && p[k] == 0) ? 0
					: v > UINT32_MAX		     ? UINT32_MAX
									     : (uint32_t)v;
			st->rs = RS_COLS;
		}
		return 0;
	case RS_COLS:
		if (p[0] == 0xff) {
			respond(c, true, -1, false);
		} else if (eof && plen == 5) {
			st->rs = RS_ROWS;
		} else if (eof) {
			result_end(c, p, avail, plen); /* CLIENT_DEPRECATE_EOF, no rows */
		} else if (st->cols_left) {
			st->cols_left--;
		} else {
			st->rs = RS_ROWS; /* CLIENT_DEPRECATE_EOF: no EOF before the rows */
			if (st->rows >= 0)
				st->rows++;
		}
		return 0;
	default:
		if (p[0] == 0xff)
			respond(c, true, -1, false);
		else if (eof)
			result_end(c, p, avail, plen);
		else if (st->rows >= 0)
			st->rows++;
		return 0;
	}
}

/* ---- framing ---- */

static int packet(struct my_ctx *c, const uint8_t *h, const uint8_t *p, size_t avail,
		  bool first_in_head, bool last)
{
	size_t plen = le24(h);
	int r;

	if (c->flow == PSC_FLOW_TO_SERVER)
		r = client_packet(c, h[3], p, avail, plen);
	else
		r = server_packet(c, h[3], p, avail, plen, first_in_head, last);
	c->st->dir[c->flow].cont = plen == MY_MAX_PAYLOAD;
	if (r >= 0)
		c->other = true;
	return r;
}

static bool resync_ok(struct my_ctx *c, const uint8_t *buf, size_t len)
{
	if (len < MY_HDR + 1)
		return false;
	if (c->flow == PSC_FLOW_TO_SERVER)
		return buf[3] == 0 && le24(buf) > 0 &&
		       ((buf[4] >= 0x01 && buf[4] <= 0x20) || buf[4] >= 0xfa);
	/* A reply starts with sequence id 1; a greeting with 0. */
	return buf[3] == 1 || (buf[3] == 0 && is_greeting(buf + 4, len - 4, le24(buf)));
}

static void lost_tail(struct my_ctx *c)
{
	struct my_state *st = c->st;
	uint8_t ex = q_head(st);

	st->dir[c->flow].lost = true;
	st->dir[c->flow].cont = false;
	if (c->flow != PSC_FLOW_TO_CLIENT)
		return;
	/* Whatever definitions were still due are in the unseen bytes. */
	st->prep_skip = 0;
	st->rs_eof_tail = false;
	if (!ex)
		return;
	if (ex == EX_PREPARE) {
		psc_sql_cache_del(&st->stmts, MY_PENDING_KEY);
		q_pop(st);
	} else {
		respond(c, false, -1, true);
	}
}

static int my_parse(struct psc_proto_state *state, enum psc_flow flow, const uint8_t *buf,
		    size_t len, size_t full_len, struct psc_msg *out, size_t max_out)
{
	struct my_ctx c = {.flow = flow, .out = out, .max_out = max_out};
	struct my_state *st;
	struct my_dir *d;
	uint64_t pos = 0;
	size_t parsed = 0;
	int r;

	if (!state || !buf || (flow != PSC_FLOW_TO_SERVER && flow != PSC_FLOW_TO_CLIENT))
		return -EINVAL;
	st = c.st = (struct my_state *)state->bytes;
	if (!out)
		c.max_out = 0;
	if (full_len < len)
		full_len = len;
	/* A 0-byte head of a non-empty syscall still moves the framing (skip or lose it). */
	if (st->tls || full_len == 0)
		return 0;
	d = &st->dir[flow];

	if (d->skip) {
		if (d->skip >= full_len) {
			d->skip -= (uint32_t)full_len;
			return 0;
		}
		pos = d->skip;
		d->skip = 0;
	} else if (d->hdr_have) {
		size_t take = MY_HDR - d->hdr_have;
		if (take > len)
			take = len;
		memcpy(d->hdr + d->hdr_have, buf, take);
		d->hdr_have = (uint8_t)(d->hdr_have + take);
		pos = take;
		if (d->hdr_have < MY_HDR) {
			if (len < full_len) {
				d->hdr_have = 0;
				lost_tail(&c);
			}
			return (int)c.n;
		}
		d->hdr_have = 0;
		size_t plen = le24(d->hdr);
		size_t avail = len - pos < plen ? len - pos : plen;
		r = packet(&c, d->hdr, buf + pos, avail, false, pos + plen == full_len);
		if (r < 0) {
			d->lost = true;
			return r == -EAGAIN ? (int)c.n : r;
		}
		parsed++;
		pos += plen;
	} else if (d->lost) {
		if (!resync_ok(&c, buf, len))
			return 0;
		d->lost = false;
		parsed++;
	}

	while (pos < full_len) {
		if (pos >= len || len - pos < MY_HDR) {
			if (len == full_len) {
				d->hdr_have = (uint8_t)(len - pos);
				memcpy(d->hdr, buf + pos, d->hdr_have);
				pos = full_len;
			} else {
				lost_tail(&c);
			}
			break;
		}
		size_t plen = le24(buf + pos);
		size_t body = (size_t)pos + MY_HDR;
		size_t avail = len - body < plen ? len - body : plen;
		r = packet(&c, buf + pos, buf + body, avail, parsed == 0, body + plen == full_len);
		if (r < 0) {
			d->lost = true;
			if (r == -EBADMSG && parsed == 0)
				return r;
			break;
		}
		parsed++;
		pos = body + plen;
	}
	if (pos > full_len)
		d->skip = (uint32_t)(pos - full_len);
	if (!c.emitted && c.other && c.n < c.max_out)
		emit(&c, PSC_MSG_OTHER);
	return (int)c.n;
}

/* ---- detection ---- */

static bool my_detect(const uint8_t *buf, size_t len, enum psc_flow flow)
{
	size_t plen, avail;

	if (!buf || len < MY_HDR + 2 || buf[3] != 0)
		return false;
	plen = le24(buf);
	avail = len - MY_HDR < plen ? len - MY_HDR : plen;
	if (flow == PSC_FLOW_TO_CLIENT)
		return plen < 1024 && is_greeting(buf + MY_HDR, avail, plen);
	return buf[4] == COM_QUERY && plen >= 2 &&
	       psc_sql_plausible((const char *)buf + MY_HDR + 1, avail - 1);
}

const struct psc_proto_ops psc_proto_mysql_ops = {
	.proto = PSC_PROTO_MYSQL,
	.name = "mysql",
	.detect = my_detect,
	.parse = my_parse,
};
