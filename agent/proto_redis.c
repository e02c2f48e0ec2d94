// SPDX-License-Identifier: MIT
/* Redis RESP2/RESP3: commands -> "GET", "CONFIG GET"; replies -> error or not. */
#include "proto.h"
#include "proto_redis.h"

#include <errno.h>
#include <string.h>

#define RESP_MAX_DEPTH 16
#define REQ_MAX_ARGS (1u << 20)
#define REQ_MAX_BULK (512ull << 20)
#define REPLY_MAX_BULK (1ull << 32)
#define REPLY_MAX_AGG (1ull << 31)
/* A command or subcommand name longer than this is not a name. */
#define NAME_MAX_LEN 40
/* Lost requests: how many "*<digit>" candidates a head is tried at. */
#define RESYNC_TRIES 8

struct resp_flow {
	uint64_t skip;		       /* bulk payload + CRLF bytes still to come */
	uint32_t left[RESP_MAX_DEPTH]; /* elements still expected per open aggregate */
	uint16_t attr;		       /* bit i: level i is an attribute (not a value) */
	uint8_t depth;
	uint8_t attr_prefix; /* top level: an attribute was read, its reply follows */
	uint8_t lost;	     /* the position in the stream is unknown */
};

struct redis_state {
	struct resp_flow flow[2];
};

_Static_assert(sizeof(struct redis_state) <= sizeof(struct psc_proto_state),
	       "redis state does not fit");

/* Redis 7.2 command table (top-level names). */
/* clang-format off */
static const char *const commands[] = {
	"ACL", "APPEND", "ASKING", "AUTH", "BGREWRITEAOF", "BGSAVE", "BITCOUNT", "BITFIELD",
	"BITFIELD_RO", "BITOP", "BITPOS", "BLMOVE", "BLMPOP", "BLPOP", "BRPOP", "BRPOPLPUSH",
	"BZMPOP", "BZPOPMAX", "BZPOPMIN", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "COPY",
	"DBSIZE", "DEBUG", "DECR", "DECRBY", "DEL", "DISCARD", "DUMP", "ECHO", "EVAL", "EVALSHA",
	"EVALSHA_RO", "EVAL_RO", "EXEC", "EXISTS", "EXPIRE", "EXPIREAT", "EXPIRETIME", "FAILOVER",
	"FCALL", "FCALL_RO", "FLUSHALL", "FLUSHDB", "FUNCTION", "GEOADD", "GEODIST", "GEOHASH",
	"GEOPOS", "GEORADIUS", "GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO", "GEORADIUS_RO",
	"GEOSEARCH", "GEOSEARCHSTORE", "GET", "GETBIT", "GETDEL", "GETEX", "GETRANGE", "GETSET",
	"HDEL", "HELLO", "HEXISTS", "HGET", "HGETALL", "HINCRBY", "HINCRBYFLOAT", "HKEYS", "HLEN",
	"HMGET", "HMSET", "HRANDFIELD", "HSCAN", "HSET", "HSETNX", "HSTRLEN", "HVALS", "INCR",
	"INCRBY", "INCRBYFLOAT", "INFO", "KEYS", "LASTSAVE", "LATENCY", "LCS", "LINDEX",
	"LINSERT", "LLEN", "LMOVE", "LMPOP", "LOLWUT", "LPOP", "LPOS", "LPUSH", "LPUSHX",
	"LRANGE", "LREM", "LSET", "LTRIM", "MEMORY", "MGET", "MIGRATE", "MODULE", "MONITOR",
	"MOVE", "MSET", "MSETNX", "MULTI", "OBJECT", "PERSIST", "PEXPIRE", "PEXPIREAT",
	"PEXPIRETIME", "PFADD", "PFCOUNT", "PFDEBUG", "PFMERGE", "PFSELFTEST", "PING", "PSETEX",
	"PSUBSCRIBE", "PSYNC", "PTTL", "PUBLISH", "PUBSUB", "PUNSUBSCRIBE", "QUIT", "RANDOMKEY",
	"READONLY", "READWRITE", "RENAME", "RENAMENX", "REPLCONF", "REPLICAOF", "RESET",
	"RESTORE", "RESTORE-ASKING", "ROLE", "RPOP", "RPOPLPUSH", "RPUSH", "RPUSHX", "SADD",
	"SAVE", "SCAN", "SCARD", "SCRIPT", "SDIFF", "SDIFFSTORE", "SELECT", "SET", "SETBIT",
	"SETEX", "SETNX", "SETRANGE", "SHUTDOWN", "SINTER", "SINTERCARD", "SINTERSTORE",
	"SISMEMBER", "SLAVEOF", "SLOWLOG", "SMEMBERS", "SMISMEMBER", "SMOVE", "SORT", "SORT_RO",
	"SPOP", "SPUBLISH", "SRANDMEMBER", "SREM", "SSCAN", "SSUBSCRIBE", "STRLEN", "SUBSCRIBE",
	"SUBSTR", "SUNION", "SUNIONSTORE", "SUNSUBSCRIBE", "SWAPDB", "SYNC", "TIME", "TOUCH",
	"TTL", "TYPE", "UNLINK", "UNSUBSCRIBE", "UNWATCH", "WAIT", "WAITAOF", "WATCH", "XACK",
	"XADD", "XAUTOCLAIM", "XCLAIM", "XDEL", "XGROUP", "XINFO", "XLEN", "XPENDING", "XRANGE",
	"XREAD", "XREADGROUP", "XREVRANGE", "XSETID", "XTRIM", "ZADD", "ZCARD", "ZCOUNT", "ZDIFF",
	"ZDIFFSTORE", "ZINCRBY", "ZINTER", "ZINTERCARD", "ZINTERSTORE", "ZLEXCOUNT", "ZMPOP",
	"ZMSCORE", "ZPOPMAX", "ZPOPMIN", "ZRANDMEMBER", "ZRANGE", "ZRANGEBYLEX", "ZRANGEBYSCORE",
	"ZRANGESTORE", "ZRANK", "ZREM", "ZREMRANGEBYLEX", "ZREMRANGEBYRANK", "ZREMRANGEBYSCORE",
	"ZREVRANGE", "ZREVRANGEBYLEX", "ZREVRANGEBYSCORE", "ZREVRANK", "ZSCAN", "ZSCORE",
	"ZUNION", "ZUNIONSTORE"
};
/* clang-format on */

/* Container commands: the endpoint names the subcommand too. */
static const char *const with_subcommand[] = { "ACL",	 "CLIENT",  "CLUSTER",	"COMMAND",
					       "CONFIG", "DEBUG",   "FUNCTION", "LATENCY",
					       "MEMORY", "MODULE",  "OBJECT",	"PUBSUB",
					       "SCRIPT", "SLOWLOG", "XGROUP",	"XINFO" };

/* Inline names other line protocols share (memcached get/set/incr/touch/append, FTP
 * TYPE, SMTP AUTH/QUIT): not enough to call a connection Redis. */
static const char *const inline_ambiguous[] = { "APPEND", "AUTH", "DECR",  "GET", "INCR",
						"QUIT",	  "SET",  "TOUCH", "TYPE" };

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool all_digits(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return n > 0;
}

static bool is_reply_type(uint8_t c)
{
	return c && strchr("+-:$*_,#!=(%~>|", c);
}

static uint8_t upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? c - 32 : c;
}

static bool in_table(const char *const *table, size_t count, const uint8_t *name, size_t n)
{
	for (size_t i = 0; i < count; i++) {
		const char *t = table[i];
		size_t k = 0;
		while (k < n && t[k] && (uint8_t)t[k] == upper(name[k]))
			k++;
		if (k == n && !t[k])
			return true;
	}
	return false;
}

#define IN_TABLE(t, name, n) in_table(t, sizeof(t) / sizeof(t[0]), name, n)

bool psc_redis_known_command(const char *name, size_t n)
{
	return name && IN_TABLE(commands, (const uint8_t *)name, n);
}

/* Command, module command ("JSON.GET") or subcommand names: no spaces, no controls. */
static bool is_name(const uint8_t *s, size_t n)
{
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = upper(s[i]);
		if (!((c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' || c == '_' || c == '-' ||
		      c == '|' || c == ':'))
			return false;
	}
	return true;
}

static bool detect(const uint8_t *buf, size_t len, enum psc_flow flow)
{
	size_t i = 1, tok;

	if (!buf || flow != PSC_FLOW_TO_SERVER || len < 4)
		return false;
	if (buf[0] == '*') {
		while (i < len && i < 9 && is_digit(buf[i]))
			i++;
		return i > 1 && buf[1] != '0' && i + 3 <= len && buf[i] == '\r' &&
		       buf[i + 1] == '\n' && buf[i + 2] == '$';
	}
	/* inline: a known, unambiguous command on a complete, printable line */
	for (tok = 0; tok < len && buf[tok] != ' ' && buf[tok] != '\r' && buf[tok] != '\n'; tok++)
		;
	if (!IN_TABLE(commands, buf, tok) || IN_TABLE(inline_ambiguous, buf, tok))
		return false;
	for (i = tok; i < len && buf[i] != '\n'; i++) {
		if ((buf[i] < 0x20 || buf[i] >= 0x7f) &&
		    !(buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n'))
			return false;
		if (i + 6 <= len && memcmp(buf + i, " HTTP/", 6) == 0)
			return false;
	}
	return i < len;
}

struct scanner {
	const uint8_t *buf;
	size_t len, full_len;
	bool req;
	struct psc_msg *out, scratch;
	size_t max_out, n;
	struct psc_msg *cur; /* the message being read, if reported */
	unsigned argi;	     /* request: index of the next argument */
};

enum { SCAN_OK, SCAN_BAD };

static struct psc_msg *emit(struct scanner *sc, enum psc_msg_type type)
{
	struct psc_msg *m = sc->n < sc->max_out ? &sc->out[sc->n] : &sc->scratch;

	sc->n++;
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->rows = -1;
	return m;
}

static void set_name(struct psc_msg *m, const uint8_t *s, size_t n, bool append)
{
	size_t o = append ? strlen(m->endpoint) : 0;

	if (append)
		m->endpoint[o++] = ' ';
	for (size_t i = 0; i < n && o + 1 < PSC_ENDPOINT_MAX; i++)
		m->endpoint[o++] = (char)upper(s[i]);
	m->endpoint[o] = '\0';
}

/* An argument of a request became visible whole: the command or its subcommand. */
static void request_arg(struct scanner *sc, const uint8_t *s, size_t n)
{
	if (sc->argi == 0) {
		sc->cur = emit(sc, PSC_MSG_REQUEST);
		if (is_name(s, n))
			set_name(sc->cur, s, n, false);
		else
			strcpy(sc->cur->endpoint, "UNKNOWN");
	} else if (sc->argi == 1 && sc->cur &&
		   IN_TABLE(with_subcommand, (const uint8_t *)sc->cur->endpoint,
			    strlen(sc->cur->endpoint)) &&
		   is_name(s, n)) {
		set_name(sc->cur, s, n, true);
	}
}

/* The head ended inside the current message. */
static void cut(struct scanner *sc)
{
	if (sc->cur)
		sc->cur->truncated = true;
}

static void lose(struct resp_flow *fs)
{
	memset(fs, 0, sizeof(*fs));
	fs->lost = 1;
}

/* A value ended: closes the aggregates it completes. True when that ends the top-level
 * message. */
static bool value_done(struct resp_flow *fs)
{
	while (fs->depth) {
		unsigned d = fs->depth - 1;
		bool was_attr;

		if (--fs->left[d])
			return false;
		was_attr = fs->attr & (1u << d);
		fs->attr &= ~(1u << d);
		fs->depth--;
		if (was_attr) {
			/* an attribute decorates the value that follows: still owed */
			if (!fs->depth)
				fs->attr_prefix = 1;
			return false;
		}
	}
	return !fs->attr_prefix;
}

/* Decimal integer in @s[0..@n), "-1" only if @neg_one. */
static bool parse_num(const uint8_t *s, size_t n, bool neg_one, int64_t *out)
{
	uint64_t v = 0;

	if (neg_one && n == 2 && s[0] == '-' && s[1] == '1') {
		*out = -1;
		return true;
	}
	if (!all_digits(s, n) || n > 18)
		return false;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	*out = (int64_t)v;
	return true;
}

static bool valid_simple(uint8_t type, const uint8_t *s, size_t n)
{
	switch (type) {
	case ':':
	case '(': /* big numbers are arbitrary precision */
		if (n && s[0] == '-')
			s++, n--;
		return all_digits(s, n) && (type == '(' || n <= 19);
	case '#':
		return n == 1 && (s[0] == 't' || s[0] == 'f');
	case '_':
		return n == 0;
	case ',':
		return n > 0;
	default: /* + - */
		return !memchr(s, '\r', n);
	}
}

/* Inline command at @*pos (requests only). */
static int scan_inline(struct scanner *sc, struct resp_flow *fs, size_t *pos)
{
	const uint8_t *buf = sc->buf;
	const uint8_t *nl = memchr(buf + *pos, '\n', sc->len - *pos);
	size_t end = nl ? (size_t)(nl - buf) : sc->len, t0 = *pos, t1, s0, s1;

	if (end > t0 && buf[end - 1] == '\r')
		end--;
	while (t0 < end && buf[t0] == ' ')
		t0++;
	for (t1 = t0; t1 < end && buf[t1] != ' ' && buf[t1] != '\t'; t1++)
		;
	if (t1 == t0 && nl) { /* empty line: Redis skips it */
		*pos = (size_t)(nl - buf) + 1;
		return SCAN_OK;
	}
	if (t1 == end && !nl) {
		/* the head cut the line before the name was whole */
		lose(fs);
		*pos = sc->len;
		return SCAN_OK;
	}
	if (!IN_TABLE(commands, buf + t0, t1 - t0))
		return SCAN_BAD;
	sc->argi = 0;
	request_arg(sc, buf + t0, t1 - t0);
	for (s0 = t1; s0 < end && (buf[s0] == ' ' || buf[s0] == '\t'); s0++)
		;
	for (s1 = s0; s1 < end && buf[s1] != ' ' && buf[s1] != '\t'; s1++)
		;
	sc->argi = 1;
	if (s1 > s0 && (s1 < end || nl))
		request_arg(sc, buf + s0, s1 - s0);
	if (!nl) {
		cut(sc);
		lose(fs);
		*pos = sc->len;
		return SCAN_OK;
	}
	sc->cur = NULL;
	*pos = (size_t)(nl - buf) + 1;
	return SCAN_OK;
}

/* The head ends at @pos (between elements, or at a message boundary). */
static void head_end(struct scanner *sc, struct resp_flow *fs, bool boundary)
{
	if (!boundary)
		cut(sc);
	if (sc->len < sc->full_len)
		lose(fs);
}

/* Reads values from @pos to the end of the head, carrying @fs. */
static int scan(struct scanner *sc, struct resp_flow *fs, size_t pos)
{
	const uint8_t *buf = sc->buf;
	size_t len = sc->len;

	for (;;) {
		bool top = fs->depth == 0 && !fs->attr_prefix;
		uint8_t type;
		const uint8_t *nl;
		size_t ls, le;
		int64_t v;

		if (pos >= len) {
			head_end(sc, fs, top);
			return SCAN_OK;
		}
		type = buf[pos];
		if (top) {
			sc->cur = NULL;
			sc->argi = 0;
			if (sc->req && type != '*') {
				if (scan_inline(sc, fs, &pos) == SCAN_BAD)
					return SCAN_BAD;
				if (fs->lost)
					return SCAN_OK;
				continue;
			}
			if (!sc->req && !is_reply_type(type))
				return SCAN_BAD;
			if (!sc->req) {
				sc->cur = emit(sc, type == '>' ? PSC_MSG_OTHER : PSC_MSG_RESPONSE);
				sc->cur->error = type == '-' || type == '!';
			}
		} else if (sc->req) {
			if (type != '$')
				return SCAN_BAD;
		} else {
			if (!is_reply_type(type))
				return SCAN_BAD;
			if (fs->depth == 0 && sc->cur) { /* the reply an attribute decorated */
				sc->cur->error = type == '-' || type == '!';
				if (type == '>')
					sc->cur->type = PSC_MSG_OTHER;
			}
		}
		if (fs->depth == 0)
			fs->attr_prefix = 0;

		ls = pos + 1;
		nl = memchr(buf + ls, '\n', len - ls);
		if (!nl) {
			/* head cut inside a line: a number line cannot be that long */
			if (strchr("$*=!%~>|:(", type) && len - ls > 20)
				return SCAN_BAD;
			cut(sc);
			lose(fs);
			return SCAN_OK;
		}
		le = (size_t)(nl - buf);
		if (le == ls || buf[le - 1] != '\r')
			return SCAN_BAD;
		le--;
		pos = le + 2;

		switch (type) {
		case '$':
		case '!':
		case '=': {
			uint64_t end;
			if (!parse_num(buf + ls, le - ls, type == '$' && !sc->req, &v))
				return SCAN_BAD;
			if ((uint64_t)v > (sc->req ? REQ_MAX_BULK : REPLY_MAX_BULK) && v != -1)
				return SCAN_BAD;
			if (v == -1)
				break;
			end = pos + (uint64_t)v + 2;
			if (sc->req && pos + (uint64_t)v <= len)
				request_arg(sc, buf + pos, (size_t)v);
			sc->argi++;
			if (end <= len) {
				if (buf[end - 2] != '\r' || buf[end - 1] != '\n')
					return SCAN_BAD;
				pos = (size_t)end;
				break;
			}
			/* the payload runs past the head: skip it by its length */
			cut(sc);
			if (end > sc->full_len) {
				fs->skip = end - sc->full_len;
			} else if (end == sc->full_len) {
				value_done(fs);
			} else {
				lose(fs);
			}
			return SCAN_OK;
		}
		case '*':
		case '%':
		case '~':
		case '>':
		case '|': {
			bool pairs = type == '%' || type == '|';
			if (!parse_num(buf + ls, le - ls, type == '*' && !sc->req, &v))
				return SCAN_BAD;
			if (sc->req && (v > REQ_MAX_ARGS || fs->depth))
				return SCAN_BAD;
			if (pairs)
				v *= 2;
			if ((uint64_t)v > REPLY_MAX_AGG && v != -1)
				return SCAN_BAD;
			if (v <= 0) {
				if (type == '|' && fs->depth == 0)
					fs->attr_prefix = 1;
				else if (type == '|')
					continue; /* an empty attribute is no value */
				break;
			}
			if (fs->depth == RESP_MAX_DEPTH) {
				cut(sc);
				lose(fs);
				return SCAN_OK;
			}
			fs->left[fs->depth] = (uint32_t)v;
			if (type == '|')
				fs->attr |= 1u << fs->depth;
			fs->depth++;
			continue;
		}
		default:
			if (!valid_simple(type, buf + ls, le - ls))
				return SCAN_BAD;
			break;
		}
		if (value_done(fs))
			sc->cur = NULL;
	}
}

static int parse(struct psc_proto_state *state, enum psc_flow flow, const uint8_t *buf, size_t len,
		 size_t full_len, struct psc_msg *out, size_t max_out)
{
	struct redis_state *st;
	struct resp_flow *fs;
	struct scanner sc = { 0 };
	size_t pos = 0;

	if (!state || !buf || (unsigned)flow > PSC_FLOW_TO_CLIENT)
		return -EBADMSG;
	st = (struct redis_state *)state->bytes;
	fs = &st->flow[flow == PSC_FLOW_TO_CLIENT];
	if (full_len < len)
		full_len = len;
	sc.buf = buf;
	sc.len = len;
	sc.full_len = full_len;
	sc.req = flow == PSC_FLOW_TO_SERVER;
	sc.out = out;
	sc.max_out = max_out;
	sc.argi = 2; /* a message continued from the last head: its name is known */

	if (fs->lost) {
		/* Requests resync on an array start after a line end. A reply stream has no
		 * such mark: array elements look like replies, so a head is taken only if it
		 * is whole and ends on a reply boundary. */
		unsigned tries = 0;
		for (size_t q = 0; q < len && tries < RESYNC_TRIES; q++) {
			struct resp_flow tmp = { 0 };
			if (q && !(sc.req && buf[q] == '*' && buf[q - 1] == '\n' && q + 1 < len &&
				   is_digit(buf[q + 1])))
				continue;
			tries++;
			sc.n = 0;
			sc.cur = NULL;
			if (scan(&sc, &tmp, q) == SCAN_OK &&
			    (sc.req ||
			     (!tmp.lost && !tmp.depth && !tmp.attr_prefix && !tmp.skip))) {
				*fs = tmp;
				return (int)(sc.n < max_out ? sc.n : max_out);
			}
			if (!sc.req)
				break;
		}
		return 0;
	}
	if (fs->skip) {
		uint64_t skip = fs->skip;
		fs->skip = 0;
		if (skip >= full_len) {
			fs->skip = skip - full_len;
			return 0;
		}
		if (skip > len) {
			lose(fs);
			return 0;
		}
		pos = (size_t)skip;
		if ((skip >= 2 && buf[pos - 2] != '\r') || buf[pos - 1] != '\n') {
			memset(fs, 0, sizeof(*fs));
			return -EBADMSG;
		}
		value_done(fs);
	}
	if (scan(&sc, fs, pos) == SCAN_BAD) {
		memset(fs, 0, sizeof(*fs));
		return -EBADMSG;
	}
	return (int)(sc.n < max_out ? sc.n : max_out);
}

const struct psc_proto_ops psc_proto_redis_ops = {
	.proto = PSC_PROTO_REDIS,
	.name = "redis",
	.detect = detect,
	.parse = parse,
};
