/* SPDX-License-Identifier: MIT */
/* Application protocol parsers: the common contract.
 *
 * A parser turns the captured head of one socket message (the first bytes of what one
 * read/write-class syscall moved) into zero or more protocol messages, each reduced to a
 * normalised endpoint and a few facts. Parsers are pure functions:
 *  - they never allocate, never log above debug, never keep global state;
 *  - they never trust the bytes: every length is checked against @len, and a message that
 *    claims more than the head holds is reported with `truncated` set, not read past;
 *  - per-connection memory (e.g. PostgreSQL prepared statement names, a partial RESP
 *    array) lives in the caller-owned struct psc_proto_state, zeroed when the connection
 *    is first seen. One state serves both flows of a connection: the caller feeds the
 *    heads of a connection in the order they were captured.
 * Raw payload never leaves the parser: an endpoint holds no literal values.
 *
 * Endpoint forms (NUL-terminated, at most PSC_ENDPOINT_MAX - 1 bytes, cut at a character
 * boundary when longer):
 *  - http:     "GET /api/orders/{id}"   (method, path template; query string dropped;
 *              numeric, UUID and hex-id segments become {id})
 *  - redis:    "GET", "CLIENT SETNAME", "CONFIG GET" (upper-case command [+ subcommand])
 *  - postgres, mysql: statement fingerprint with literals replaced by '?', whitespace
 *              collapsed, keywords upper-case: "SELECT abalance FROM pgbench_accounts WHERE aid = ?"
 *  - dns:      "<QTYPE> <name suffix>": "A example.com", "AAAA svc.cluster.local"
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum psc_proto {
	PSC_PROTO_UNKNOWN, /* not (yet) recognised: counted by port and bytes */
	PSC_PROTO_HTTP,
	PSC_PROTO_PG,
	PSC_PROTO_MYSQL,
	PSC_PROTO_REDIS,
	PSC_PROTO_DNS,
	_PSC_PROTO_MAX,
};

/* Which way the bytes flow, from the connection's point of view (not the syscall's). */
enum psc_flow {
	PSC_FLOW_TO_SERVER, /* client -> server: requests */
	PSC_FLOW_TO_CLIENT, /* server -> client: responses */
};

enum psc_msg_type {
	PSC_MSG_REQUEST,  /* a request to count under its endpoint; expects one response */
	PSC_MSG_RESPONSE, /* completes the oldest outstanding request on the connection */
	PSC_MSG_OTHER,    /* recognised but neither (handshake, auth, PG Parse before Sync...) */
};

enum psc_sql_stmt {
	PSC_SQL_NONE,
	PSC_SQL_SELECT,
	PSC_SQL_INSERT,
	PSC_SQL_UPDATE,
	PSC_SQL_DELETE,
	PSC_SQL_DDL,   /* CREATE, ALTER, DROP, TRUNCATE */
	PSC_SQL_TXN,   /* BEGIN, COMMIT, ROLLBACK, SAVEPOINT, END */
	PSC_SQL_OTHER, /* SET, SHOW, COPY, VACUUM, ... */
	_PSC_SQL_MAX,
};

#define PSC_ENDPOINT_MAX 160

struct psc_msg {
	enum psc_msg_type type;
	char endpoint[PSC_ENDPOINT_MAX]; /* requests only; "" otherwise */
	int status;                      /* responses: HTTP status, DNS rcode; 0 otherwise */
	bool error;                      /* responses: the protocol says the request failed */
	int64_t rows;                    /* responses: rows affected/returned if stated, else -1 */
	uint8_t sql_stmt;                /* requests: enum psc_sql_stmt for SQL, else 0 */
	uint16_t sql_complexity;         /* requests: joins + subqueries + aggregates, SQL only */
	bool truncated;                  /* the head ended before this message did */
};

/* Caller-owned per-connection parser memory. Zero it when a connection is first seen;
 * each parser _Static_asserts that its private state fits. */
struct psc_proto_state {
	union {
		uint8_t bytes[512];
		uint64_t align_;
	};
};

/* Upper bound of messages one head can yield in a single call; more are dropped (counted
 * by the caller through the return value equal to max_out). */
#define PSC_MSGS_PER_HEAD 32

struct psc_proto_ops {
	enum psc_proto proto;
	const char *name; /* "http", "postgres", "mysql", "redis", "dns" */
	/* Does this head look like the first message of this protocol flowing in @flow?
	 * Must be cheap and conservative: false positives mis-label a connection. */
	bool (*detect)(const uint8_t *buf, size_t len, enum psc_flow flow);
	/* Parses @buf[0..@len) (the head of a message of @full_len bytes; @len <= @full_len).
	 * Writes up to @max_out messages to @out and returns how many, or -EBADMSG when the
	 * bytes are not this protocol (the caller may then re-detect). Never reads past @len. */
	int (*parse)(struct psc_proto_state *state, enum psc_flow flow, const uint8_t *buf,
		     size_t len, size_t full_len, struct psc_msg *out, size_t max_out);
};

extern const struct psc_proto_ops psc_proto_http_ops;
extern const struct psc_proto_ops psc_proto_pg_ops;
extern const struct psc_proto_ops psc_proto_mysql_ops;
extern const struct psc_proto_ops psc_proto_redis_ops;
extern const struct psc_proto_ops psc_proto_dns_ops;

/* "http", ..., "tcp" for PSC_PROTO_UNKNOWN. Never NULL for a valid enum value. */
const char *psc_proto_name(enum psc_proto proto);

/* The parser for @proto, or NULL for PSC_PROTO_UNKNOWN/out of range. */
const struct psc_proto_ops *psc_proto_ops_get(enum psc_proto proto);

/* Detects the protocol of a connection from its first captured head. @port_hint (the
 * server port, 0 if unknown) breaks ties: 5432 prefers postgres, 6379 redis, 3306 mysql,
 * 53 dns. Returns PSC_PROTO_UNKNOWN when nothing matches. */
enum psc_proto psc_proto_detect(const uint8_t *buf, size_t len, enum psc_flow flow,
				uint16_t port_hint);

/* Copies @src[0..@n) into @dst (capacity PSC_ENDPOINT_MAX) as printable ASCII,
 * NUL-terminated, replacing control and non-ASCII bytes by '?'. Returns the length. */
size_t psc_endpoint_copy(char *dst, const char *src, size_t n);
