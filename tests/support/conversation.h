/* SPDX-License-Identifier: MIT */
/* Test support: recorded conversations replayed through a parser.
 *
 * A recorded conversation is a directory $PSC_TEST_DATA/<proto>/<scenario>/ of files
 * NN-NNNN-{c2s,s2c}.bin: one file per syscall, NN the connection, NNNN the order of
 * capture, c2s/s2c the flow (tests/tools/tcp_record.py writes them). Replaying feeds each
 * chunk, in that order, to any struct psc_proto_ops as the head of a syscall of the
 * chunk's size, one struct psc_proto_state per connection. Every head is first copied into
 * an exact-size heap buffer, so that a sanitizer build catches any read past its length.
 *
 * These helpers run inside a cmocka test: a missing fixture or a broken parser contract
 * fails the running test (with the path or the offending values) instead of returning an
 * error. Nothing here keeps global state.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define PSC_CONV_MAX_CHUNKS 256
#define PSC_CONV_MAX_CONNS 8  /* connection numbers are taken modulo this */
#define PSC_CONV_MAX_LOG 256
#define PSC_CONV_FULL_HEAD ((size_t)1 << 30) /* a head size that never cuts a chunk */
#define PSC_CONV_FILE_MAX 65536 /* fixture files are smaller: a buffer for a whole one */

struct psc_conv_chunk {
	int conn; /* 0 .. PSC_CONV_MAX_CONNS - 1 */
	enum psc_flow flow;
	size_t len;
	uint8_t *data; /* @len bytes, owned by the conversation */
};

struct psc_conv {
	size_t n;
	struct psc_conv_chunk c[PSC_CONV_MAX_CHUNKS]; /* in capture order */
};

/* What one replay gave. */
struct psc_conv_run {
	int requests, responses, others;
	int errors;    /* responses with the error flag */
	int truncated; /* requests and responses with the truncated flag */
	int nlog;
	struct psc_msg log[PSC_CONV_MAX_LOG]; /* requests and responses, in order */
};

/* Loads $PSC_TEST_DATA/@proto/@scenario/ *.bin (at most PSC_CONV_MAX_CHUNKS files, in name
 * order). Never NULL: fails the test when PSC_TEST_DATA is unset or the directory holds no
 * readable chunk. The caller owns the result and frees it with psc_conv_free(). */
struct psc_conv *psc_conv_load(const char *proto, const char *scenario);

/* Frees a conversation and its chunks; accepts NULL (or a pointer to NULL), sets *@conv to
 * NULL. Usable as _cleanup_(psc_conv_free). */
void psc_conv_free(struct psc_conv **conv);

/* Reads $PSC_TEST_DATA/@proto/@rel into @buf (at most @cap bytes) and returns how many bytes
 * it read. Fails the test when the file cannot be opened. */
size_t psc_conv_read_file(const char *proto, const char *rel, uint8_t *buf, size_t cap);

/* Parses what the agent would capture of a syscall that moved @full bytes of @buf: its
 * first min(@full, @head) bytes, copied into an exact-size heap buffer, with @full_len
 * @full. Returns what ops->parse() returns. @buf is not read past that head. */
int psc_conv_parse_head(const struct psc_proto_ops *ops, struct psc_proto_state *st,
			enum psc_flow flow, const uint8_t *buf, size_t full, size_t head,
			struct psc_msg *out, size_t max_out);

/* Parses @len bytes of chunk @c (as the head of a syscall of @full_len bytes, @len <=
 * @full_len) with @st and, when @run is not NULL and the parse succeeded, checks and counts
 * the messages into @run: at most PSC_MSGS_PER_HEAD, endpoints NUL-terminated, requests only
 * from the client and with an endpoint, responses only from the server and without one.
 * Returns what ops->parse() returns. */
int psc_conv_feed(const struct psc_proto_ops *ops, struct psc_proto_state *st,
		  const struct psc_conv_chunk *c, size_t len, size_t full_len,
		  struct psc_conv_run *run);

/* Replays the whole of @conv with fresh states, each chunk cut to @head bytes
 * (PSC_CONV_FULL_HEAD: whole), into @run (reset first). Every chunk must parse (>= 0). */
void psc_conv_replay(const struct psc_proto_ops *ops, const struct psc_conv *conv, size_t head,
		     struct psc_conv_run *run);

/* The @i-th (from 0) message of @type in @run's log; fails the test when there is none. */
const struct psc_msg *psc_conv_nth(const struct psc_conv_run *run, enum psc_msg_type type,
				   int i);

/* How many requests in @run's log have the endpoint @ep. */
int psc_conv_count_endpoint(const struct psc_conv_run *run, const char *ep);

/* What the whole replay of a recorded conversation must give. The tables, when not NULL,
 * hold one entry per request/response pair, in order, @requests long. */
struct psc_conv_expect {
	int requests; /* and as many responses */
	const char *const *endpoints; /* of the requests */
	const uint8_t *stmts;	      /* sql_stmt of the requests */
	const int64_t *rows;	      /* of the responses */
	const bool *failed;	      /* error flag of the responses */
};

/* Checks @conv against @expect: replays it whole into @run (which keeps that result for
 * further checks), compares the counts and tables, then runs psc_conv_check_heads() and
 * psc_conv_check_prefixes(). */
void psc_conv_check(const struct psc_proto_ops *ops, const struct psc_conv *conv,
		    const struct psc_conv_expect *expect, struct psc_conv_run *run);

/* Replays @conv with heads of 1 to 4096 bytes: each replay stays balanced (as many
 * responses as requests) and never gives more than @full_requests requests. */
void psc_conv_check_heads(const struct psc_proto_ops *ops, const struct psc_conv *conv,
			  int full_requests);

/* Every prefix of every chunk (every 13th byte for chunks over 1 KiB), in its place in the
 * conversation, followed by the rest of the conversation whole: both as the head of the
 * longer syscall and as a short syscall of its own. Never a crash, never more requests or
 * responses than the full replay, and balanced in the head case. (A cut head may answer
 * outstanding requests early, so the bound holds per conversation, not per chunk.) */
void psc_conv_check_prefixes(const struct psc_proto_ops *ops, const struct psc_conv *conv);

/* For every chunk of $PSC_TEST_DATA/@proto/@scenario taken on its own, every prefix of its
 * first 1024 bytes (cap = min(len, 1024)), parsed as a short syscall and as the head of one
 * of cap + @head_extra bytes: with a fresh state, -EBADMSG or at most as many messages as
 * the whole chunk gives (a chunk that is not the protocol on its own counts as 0), with
 * NUL-terminated endpoints; with the state that parsed the whole chunk (whatever it
 * remembers must not break it), -EBADMSG or at most that many again when @reused_bounded,
 * else at most PSC_MSGS_PER_HEAD. */
void psc_conv_check_chunk_prefixes(const struct psc_proto_ops *ops, const char *proto,
				   const char *scenario, size_t head_extra, bool reused_bounded);

/* Feeds @ops 2000 inputs of pseudo-random bytes (1 to 300 bytes, from an xorshift64
 * generator seeded with @seed), each from an exact-size heap buffer: to detect() both ways,
 * and @parses times to parse() with one fresh state, in alternating flows starting with the
 * client's, the k-th time (from 0) as the head of a syscall k * @extra_step bytes longer.
 * Every parse must give -EBADMSG or 0 to PSC_MSGS_PER_HEAD messages. */
void psc_conv_check_random(const struct psc_proto_ops *ops, uint64_t seed, int parses,
			   size_t extra_step);
