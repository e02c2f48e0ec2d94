// SPDX-License-Identifier: MIT
/* Redis RESP parser: recorded redis-cli/redis-benchmark traffic (tests/data/redis) and
 * hostile input. */
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
#include "proto_redis.h"

#define HEAD_LEN 256

static const struct psc_proto_ops *ops = &psc_proto_redis_ops;

static size_t load(const char *rel, uint8_t *buf)
{
	return psc_conv_read_file("redis", rel, buf, PSC_CONV_FILE_MAX);
}

/* Parses what an agent would capture of a syscall that moved @full bytes. */
static int parse_head(struct psc_proto_state *st, enum psc_flow flow, const uint8_t *buf,
		      size_t full, size_t head, struct psc_msg *out, size_t max_out)
{
	return psc_conv_parse_head(ops, st, flow, buf, full, head, out, max_out);
}

static int parse_str(struct psc_proto_state *st, enum psc_flow flow, const char *s,
		     struct psc_msg *out)
{
	return parse_head(st, flow, (const uint8_t *)s, strlen(s), strlen(s), out,
			  PSC_MSGS_PER_HEAD);
}

static void expect_request(struct psc_proto_state *st, const char *file, const char *endpoint)
{
	static uint8_t buf[PSC_CONV_FILE_MAX];
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	size_t n = load(file, buf);

	assert_int_equal(
		parse_head(st, PSC_FLOW_TO_SERVER, buf, n, HEAD_LEN, out, PSC_MSGS_PER_HEAD), 1);
	assert_int_equal(out[0].type, PSC_MSG_REQUEST);
	assert_string_equal(out[0].endpoint, endpoint);
	assert_int_equal(out[0].truncated, n > HEAD_LEN);
}

static void expect_response(struct psc_proto_state *st, const char *file, bool error)
{
	static uint8_t buf[PSC_CONV_FILE_MAX];
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	size_t n = load(file, buf);

	assert_int_equal(
		parse_head(st, PSC_FLOW_TO_CLIENT, buf, n, HEAD_LEN, out, PSC_MSGS_PER_HEAD), 1);
	assert_int_equal(out[0].type, PSC_MSG_RESPONSE);
	assert_int_equal(out[0].error, error);
	assert_int_equal(out[0].status, 0);
	assert_string_equal(out[0].endpoint, "");
	assert_int_equal(out[0].truncated, n > HEAD_LEN);
}

static void test_detect(void **unused)
{
	static const char *yes[] = {
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
		"*2\r\n$",
		"PING\r\n",
		"ping\n",
		"CONFIG GET maxmemory\r\n",
		"hgetall h:1\r\n",
	};
	static const char *no[] = {
		"",
		"*",
		"*1\r\n",
		"*0\r\n$",
		"*x\r\n$3",
		"*1\r\n+OK\r\n",
		"GET / HTTP/1.1\r\n",
		"get foo\r\n",	   /* memcached says the same */
		"set k 0 0 1\r\n", /* memcached */
		"QUIT\r\n",
		"PING",
		"PINGPONG\r\n",
		"HELO example.com\r\n",
		"+OK\r\n",
		"\x16\x03\x01\x02\x00",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(
			ops->detect((const uint8_t *)yes[i], strlen(yes[i]), PSC_FLOW_TO_SERVER));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(
			ops->detect((const uint8_t *)no[i], strlen(no[i]), PSC_FLOW_TO_SERVER));
	/* replies are never used to detect */
	assert_false(ops->detect((const uint8_t *)"+OK\r\n", 5, PSC_FLOW_TO_CLIENT));
	assert_false(ops->detect((const uint8_t *)"*1\r\n$4\r\nPING\r\n", 14, PSC_FLOW_TO_CLIENT));
	assert_true(psc_redis_known_command("zrangebyscore", 13));
	assert_false(psc_redis_known_command("zrangebyscor", 12));
}

static void test_redis_cli_session(void **unused)
{
	struct psc_proto_state st = { 0 };

	expect_request(&st, "set_get/01-0001-c2s.bin", "SET");
	expect_response(&st, "set_get/01-0002-s2c.bin", false);
	expect_request(&st, "set_get/02-0003-c2s.bin", "GET");
	expect_response(&st, "set_get/02-0004-s2c.bin", false);

	memset(&st, 0, sizeof(st));
	expect_request(&st, "session/01-0005-c2s.bin", "SET");
	expect_response(&st, "session/01-0006-s2c.bin", false);
	expect_request(&st, "session/01-0007-c2s.bin", "INCR");
	expect_response(&st, "session/01-0008-s2c.bin", true); /* not an integer */
	expect_request(&st, "session/01-0009-c2s.bin", "CONFIG GET");
	expect_response(&st, "session/01-0010-s2c.bin", false);
	expect_request(&st, "session/01-0011-c2s.bin", "CLIENT SETNAME");
	expect_response(&st, "session/01-0012-s2c.bin", false);
	expect_request(&st, "session/01-0013-c2s.bin", "CLIENT GETNAME");
	expect_response(&st, "session/01-0014-s2c.bin", false);
	expect_request(&st, "session/01-0015-c2s.bin", "GET");
	expect_response(&st, "session/01-0016-s2c.bin", false); /* nil */
	expect_request(&st, "session/01-0017-c2s.bin", "RPUSH");
	expect_response(&st, "session/01-0018-s2c.bin", false);
	expect_request(&st, "session/01-0019-c2s.bin", "LRANGE");
	expect_response(&st, "session/01-0020-s2c.bin", false);
	expect_request(&st, "session/01-0021-c2s.bin", "HSET");
	expect_response(&st, "session/01-0022-s2c.bin", false);
	expect_request(&st, "session/01-0023-c2s.bin", "HGETALL");
	expect_response(&st, "session/01-0024-s2c.bin", false);
	expect_request(&st, "session/01-0025-c2s.bin", "DEL");
	expect_response(&st, "session/01-0026-s2c.bin", false);
}

static void test_inline(void **unused)
{
	struct psc_proto_state st = { 0 };

	expect_request(&st, "inline/01-0001-c2s.bin", "PING");
	expect_response(&st, "inline/01-0002-s2c.bin", false);
	expect_request(&st, "inline/01-0003-c2s.bin", "GET");
	expect_response(&st, "inline/01-0004-s2c.bin", false);
	expect_request(&st, "inline/01-0005-c2s.bin", "SET");
	expect_response(&st, "inline/01-0006-s2c.bin", false);
	expect_request(&st, "inline/01-0007-c2s.bin", "EXISTS");
	expect_response(&st, "inline/01-0008-s2c.bin", false);
	expect_request(&st, "inline/01-0009-c2s.bin", "CONFIG GET");
	expect_response(&st, "inline/01-0010-s2c.bin", false);
}

static void test_resp3(void **unused)
{
	struct psc_proto_state st = { 0 };

	expect_request(&st, "resp3/01-0001-c2s.bin", "HELLO");
	expect_response(&st, "resp3/01-0002-s2c.bin", false); /* %7 map */
	expect_request(&st, "resp3/01-0003-c2s.bin", "HGETALL");
	expect_response(&st, "resp3/01-0004-s2c.bin", false); /* %0 */
	expect_request(&st, "resp3/03-0009-c2s.bin", "HGETALL");
	expect_response(&st, "resp3/03-0010-s2c.bin", false); /* %2 */
	expect_request(&st, "resp3/04-0013-c2s.bin", "SMEMBERS");
	expect_response(&st, "resp3/04-0014-s2c.bin", false); /* ~0 */
	expect_request(&st, "resp3/06-0021-c2s.bin", "ZSCORE");
	expect_response(&st, "resp3/06-0022-s2c.bin", false); /* ,1.5 */
	expect_request(&st, "resp3/07-0025-c2s.bin", "OBJECT ENCODING");
	expect_response(&st, "resp3/07-0026-s2c.bin", false);
}

static void test_pipelines(void **unused)
{
	static uint8_t buf[PSC_CONV_FILE_MAX];
	struct psc_proto_state st = { 0 };
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	size_t n;
	int r;

	/* redis-cli --pipe: 20 SET, an INCR of a string, a GET, then its ECHO marker */
	n = load("pipe/01-0001-c2s.bin", buf);
	r = parse_head(&st, PSC_FLOW_TO_SERVER, buf, n, n, out, PSC_MSGS_PER_HEAD);
	assert_int_equal(r, 22);
	assert_string_equal(out[0].endpoint, "SET");
	assert_string_equal(out[19].endpoint, "SET");
	assert_string_equal(out[20].endpoint, "INCR");
	assert_string_equal(out[21].endpoint, "GET");
	for (int i = 0; i < r; i++)
		assert_false(out[i].truncated);
	/* as a 256-byte head: 6 whole SETs (37-39 bytes), the 7th cut after its name */
	memset(&st, 0, sizeof(st));
	r = parse_head(&st, PSC_FLOW_TO_SERVER, buf, n, HEAD_LEN, out, PSC_MSGS_PER_HEAD);
	assert_int_equal(r, 7);
	assert_true(out[6].truncated);
	assert_false(out[5].truncated);
	/* the rest of that write was not seen; the next one resyncs */
	n = load("pipe/01-0002-c2s.bin", buf);
	r = parse_head(&st, PSC_FLOW_TO_SERVER, buf, n, HEAD_LEN, out, PSC_MSGS_PER_HEAD);
	assert_int_equal(r, 1);
	assert_string_equal(out[0].endpoint, "ECHO");
	/* the 22 replies in one read: the 21st is the INCR error */
	n = load("pipe/01-0003-s2c.bin", buf);
	r = parse_head(&st, PSC_FLOW_TO_CLIENT, buf, n, HEAD_LEN, out, PSC_MSGS_PER_HEAD);
	assert_int_equal(r, 22);
	for (int i = 0; i < r; i++) {
		assert_int_equal(out[i].type, PSC_MSG_RESPONSE);
		assert_int_equal(out[i].error, i == 20);
	}
	/* max_out caps what is written; the count says some were dropped */
	r = parse_head(&st, PSC_FLOW_TO_CLIENT, buf, n, HEAD_LEN, out, 5);
	assert_int_equal(r, 5);
	expect_response(&st, "pipe/01-0004-s2c.bin", false);

	/* redis-benchmark -P 16: CONFIG GET x2 then 16 SET / 16 GET per write */
	memset(&st, 0, sizeof(st));
	n = load("bench_pipelined/01-0001-c2s.bin", buf);
	r = parse_head(&st, PSC_FLOW_TO_SERVER, buf, n, HEAD_LEN, out, PSC_MSGS_PER_HEAD);
	assert_int_equal(r, 2);
	assert_string_equal(out[0].endpoint, "CONFIG GET");
	assert_string_equal(out[1].endpoint, "CONFIG GET");
	n = load("bench_pipelined/01-0002-s2c.bin", buf);
	assert_int_equal(
		parse_head(&st, PSC_FLOW_TO_CLIENT, buf, n, HEAD_LEN, out, PSC_MSGS_PER_HEAD), 2);
	memset(&st, 0, sizeof(st));
	n = load("bench_pipelined/02-0003-c2s.bin", buf); /* 16 x 45 bytes */
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_SERVER, buf, n, n, out, PSC_MSGS_PER_HEAD),
			 16);
	r = parse_head(&st, PSC_FLOW_TO_SERVER, buf, n, HEAD_LEN, out, PSC_MSGS_PER_HEAD);
	assert_int_equal(r, 6); /* the 6th starts at 225 and shows "SET" */
	assert_string_equal(out[5].endpoint, "SET");
	assert_true(out[5].truncated);
	n = load("bench_pipelined/02-0004-s2c.bin", buf);
	assert_int_equal(
		parse_head(&st, PSC_FLOW_TO_CLIENT, buf, n, HEAD_LEN, out, PSC_MSGS_PER_HEAD), 16);
	memset(&st, 0, sizeof(st));
	n = load("bench_pipelined/03-0011-c2s.bin", buf); /* 16 x 36 bytes */
	r = parse_head(&st, PSC_FLOW_TO_SERVER, buf, n, HEAD_LEN, out, PSC_MSGS_PER_HEAD);
	assert_int_equal(r, 7); /* the 8th starts at 252: its name is past the head */
	assert_string_equal(out[6].endpoint, "GET");
	assert_false(out[6].truncated);
	n = load("bench_pipelined/03-0012-s2c.bin", buf);
	assert_int_equal(
		parse_head(&st, PSC_FLOW_TO_CLIENT, buf, n, HEAD_LEN, out, PSC_MSGS_PER_HEAD), 16);

	/* redis-benchmark without pipelining */
	memset(&st, 0, sizeof(st));
	expect_request(&st, "bench/02-0003-c2s.bin", "SET");
	expect_response(&st, "bench/02-0004-s2c.bin", false);
	expect_request(&st, "bench/03-0103-c2s.bin", "GET");
	expect_response(&st, "bench/03-0104-s2c.bin", false);
}

/* A 5000-byte value: the head shows the bulk header, the rest is skipped by length, in
 * one syscall or in many. */
static void test_big_value(void **unused)
{
	static uint8_t buf[PSC_CONV_FILE_MAX];
	struct psc_proto_state st = { 0 };
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	size_t n;

	expect_request(&st, "bigvalue/01-0001-c2s.bin", "SET");
	expect_response(&st, "bigvalue/01-0002-s2c.bin", false);
	expect_request(&st, "bigvalue/02-0003-c2s.bin", "GET");
	expect_response(&st, "bigvalue/02-0004-s2c.bin", false);

	/* the same SET written in 1000-byte syscalls, followed by a GET in the last one */
	memset(&st, 0, sizeof(st));
	n = load("bigvalue/01-0001-c2s.bin", buf);
	memcpy(buf + n, "*2\r\n$3\r\nGET\r\n$5\r\nbig:1\r\n", 24);
	n += 24;
	for (size_t p = 0; p < n; p += 1000) {
		size_t chunk = n - p < 1000 ? n - p : 1000;
		int r = parse_head(&st, PSC_FLOW_TO_SERVER, buf + p, chunk, HEAD_LEN, out,
				   PSC_MSGS_PER_HEAD);
		if (p == 0) {
			assert_int_equal(r, 1);
			assert_string_equal(out[0].endpoint, "SET");
			assert_true(out[0].truncated);
		} else if (p == 5000) {
			assert_int_equal(r, 1); /* 33 bytes of value + CRLF, then GET */
			assert_string_equal(out[0].endpoint, "GET");
		} else {
			assert_int_equal(r, 0);
		}
	}
	/* and the reply likewise, 4096 + 913 bytes */
	n = load("bigvalue/02-0004-s2c.bin", buf);
	memcpy(buf + n, "+OK\r\n", 5);
	assert_int_equal(
		parse_head(&st, PSC_FLOW_TO_CLIENT, buf, 4096, HEAD_LEN, out, PSC_MSGS_PER_HEAD),
		1);
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_CLIENT, buf + 4096, n + 5 - 4096, HEAD_LEN,
				    out, PSC_MSGS_PER_HEAD),
			 0); /* 913 bytes tail: head of 256 ends in the payload */
	memset(&st, 0, sizeof(st));
	assert_int_equal(
		parse_head(&st, PSC_FLOW_TO_CLIENT, buf, 4096, HEAD_LEN, out, PSC_MSGS_PER_HEAD),
		1);
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_CLIENT, buf + 4096, n + 5 - 4096, n + 5 - 4096,
				    out, PSC_MSGS_PER_HEAD),
			 1); /* the whole tail visible: +OK after the value */
	assert_false(out[0].truncated);
}

/* redis-cli's COMMAND DOCS reply: 170 KB of nested arrays. Only its first 2 KB are kept;
 * the reply leaves the head inside nested arrays, so the position is lost, and the next
 * reply is still read. */
static void test_nested_lost(void **unused)
{
	static uint8_t buf[PSC_CONV_FILE_MAX];
	struct psc_proto_state st = { 0 };
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	size_t n;

	expect_request(&st, "command_docs/01-0001-c2s.bin", "COMMAND DOCS");
	n = load("command_docs/01-0002-s2c.head2048.bin", buf);
	for (size_t head = 1; head <= n; head += 97) {
		memset(&st, 0, sizeof(st));
		assert_int_equal(parse_head(&st, PSC_FLOW_TO_CLIENT, buf, 65536, head, out,
					    PSC_MSGS_PER_HEAD),
				 1);
		assert_true(out[0].truncated);
		/* continuation writes, starting inside a bulk or on an element that looks
		 * like a reply: nothing, not an error */
		assert_int_equal(parse_head(&st, PSC_FLOW_TO_CLIENT, buf + 23, 1000, HEAD_LEN, out,
					    PSC_MSGS_PER_HEAD),
				 0);
		assert_int_equal(parse_head(&st, PSC_FLOW_TO_CLIENT, buf + 21, 1000, HEAD_LEN, out,
					    PSC_MSGS_PER_HEAD),
				 0);
		assert_int_equal(parse_str(&st, PSC_FLOW_TO_CLIENT, "-ERR x\r\n", out), 1);
		assert_true(out[0].error);
	}
}

/* Every prefix of every fixture, as a syscall of that size and as the head of a longer
 * one: no crash, never more messages than the whole file gives; a state that has seen the
 * whole file only keeps the output bound. */
static void test_prefixes(void **unused)
{
	static const char *dirs[] = {
		"set_get", "session", "inline",	      "resp3",		 "bigvalue",
		"pipe",	   "bench",   "command_docs", "bench_pipelined",
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		psc_conv_check_chunk_prefixes(ops, "redis", dirs[i], 100, false);
}

static void test_hostile(void **unused)
{
	static const uint8_t garbage[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00,
					   0x01, 0xfc, 0x03, 0x03, 0xff, 0x0d, 0x0a };
	struct psc_proto_state st = { 0 };
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	char big[3000];
	int r;

	for (enum psc_flow flow = PSC_FLOW_TO_SERVER; flow <= PSC_FLOW_TO_CLIENT; flow++)
		assert_int_equal(parse_head(&st, flow, garbage, sizeof(garbage), sizeof(garbage),
					    out, PSC_MSGS_PER_HEAD),
				 -EBADMSG);
	/* absurd lengths */
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_SERVER, "*999999999\r\n$3\r\nGET\r\n", out),
			 -EBADMSG);
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_SERVER, "*2\r\n$-5\r\nGET\r\n", out), -EBADMSG);
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_CLIENT, "$-5\r\n", out), -EBADMSG);
	assert_int_equal(
		parse_str(&st, PSC_FLOW_TO_SERVER, "*1\r\n$99999999999999999999\r\nGET\r\n", out),
		-EBADMSG);
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_CLIENT, "*99999999999\r\n", out), -EBADMSG);
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_SERVER, "*1\r\n*1\r\n$3\r\nGET\r\n", out),
			 -EBADMSG); /* nested arrays are not commands */
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_SERVER, "*1\r\n$3\r\nGETxx\r\n", out),
			 -EBADMSG); /* bulk without its CRLF */
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_SERVER, "FROBNICATE now\r\n", out), -EBADMSG);
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_CLIENT, ":12a\r\n", out), -EBADMSG);
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_CLIENT, "$?\r\n", out), -EBADMSG);

	/* a huge but valid reply bulk: reported truncated, skipped by length */
	memset(&st, 0, sizeof(st));
	r = parse_head(&st, PSC_FLOW_TO_CLIENT, (const uint8_t *)"$400000000\r\nabc", 1 << 20, 15,
		       out, PSC_MSGS_PER_HEAD);
	assert_int_equal(r, 1);
	assert_true(out[0].truncated);
	memset(big, '-', sizeof(big)); /* looks like errors, but it is payload */
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_CLIENT, (uint8_t *)big, 1 << 20, 256, out,
				    PSC_MSGS_PER_HEAD),
			 0);

	/* garbage while in sync resets and reports */
	memset(&st, 0, sizeof(st));
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_CLIENT, "*2\r\n:1\r\n", out), 1);
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_CLIENT, "#x\r\n", out), -EBADMSG);
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_CLIENT, "+OK\r\n", out), 1);

	/* an array split across reads: the second read completes it, then a new reply */
	memset(&st, 0, sizeof(st));
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_CLIENT, "*3\r\n$1\r\na\r\n", out), 1);
	assert_true(out[0].truncated);
	r = parse_str(&st, PSC_FLOW_TO_CLIENT, "*1\r\n:1\r\n-ERR no\r\n+OK\r\n", out);
	assert_int_equal(r, 1); /* the error is an element of the array */
	assert_false(out[0].error);
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_CLIENT, "-ERR no\r\n", out), 1);
	assert_true(out[0].error);

	/* RESP3 attribute + reply is one response; a push is not a response */
	memset(&st, 0, sizeof(st));
	r = parse_str(&st, PSC_FLOW_TO_CLIENT,
		      "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n!21\r\nSYNTAX invalid "
		      "syntax\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n_\r\n#t\r\n"
		      "(3492890328409238509324850943850943825024385\r\n=15\r\ntxt:Some string\r\n",
		      out);
	assert_int_equal(r, 6);
	assert_int_equal(out[0].type, PSC_MSG_RESPONSE);
	assert_true(out[0].error);
	assert_int_equal(out[1].type, PSC_MSG_OTHER);
	assert_false(out[2].error);

	/* overlong lines */
	memset(&st, 0, sizeof(st));
	memset(big, 'x', sizeof(big));
	memcpy(big, "-ERR ", 5);
	r = parse_head(&st, PSC_FLOW_TO_CLIENT, (uint8_t *)big, sizeof(big), 256, out,
		       PSC_MSGS_PER_HEAD);
	assert_int_equal(r, 1);
	assert_true(out[0].error);
	assert_true(out[0].truncated);
	memset(&st, 0, sizeof(st));
	memcpy(big, "*1\r\n$", 5);
	memset(big + 5, '9', 100);
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_SERVER, (uint8_t *)big, sizeof(big), 256, out,
				    PSC_MSGS_PER_HEAD),
			 -EBADMSG);
	/* non-ASCII and non-name command bytes never reach the endpoint */
	memset(&st, 0, sizeof(st));
	r = parse_str(&st, PSC_FLOW_TO_SERVER, "*1\r\n$4\r\nG\xc3\xa9T\r\n", out);
	assert_int_equal(r, 1);
	assert_string_equal(out[0].endpoint, "UNKNOWN");
	r = parse_str(&st, PSC_FLOW_TO_SERVER,
		      "*3\r\n$6\r\nconfig\r\n$9\r\nget value\r\n$1\r\nx\r\n", out);
	assert_int_equal(r, 1);
	assert_string_equal(out[0].endpoint, "CONFIG");
	r = parse_str(&st, PSC_FLOW_TO_SERVER, "*2\r\n$8\r\njson.get\r\n$1\r\nk\r\n", out);
	assert_int_equal(r, 1);
	assert_string_equal(out[0].endpoint, "JSON.GET");
	/* deep nesting beyond what the state tracks */
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < 40; i++)
		memcpy(big + 4 * i, "*1\r\n", 4);
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_CLIENT, (uint8_t *)big, 160, 160, out,
				    PSC_MSGS_PER_HEAD),
			 1);
	assert_true(out[0].truncated);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),	    cmocka_unit_test(test_redis_cli_session),
		cmocka_unit_test(test_inline),	    cmocka_unit_test(test_resp3),
		cmocka_unit_test(test_pipelines),   cmocka_unit_test(test_big_value),
		cmocka_unit_test(test_nested_lost), cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
