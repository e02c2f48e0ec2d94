// SPDX-License-Identifier: MIT
/* DNS parser: recorded dig/dnsmasq traffic (tests/data/dns) plus crafted edge cases. */
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

#define DATA "dns" /* fixtures: $PSC_TEST_DATA/dns/ */

static const struct psc_proto_ops *ops = &psc_proto_dns_ops;

struct blob {
	uint8_t data[4096];
	size_t len;
};

static void load(struct blob *b, const char *rel)
{
	b->len = psc_conv_read_file(DATA, rel, b->data, sizeof(b->data));
	assert_true(b->len > 0);
}

/* Parses the @len-byte head of a @full_len-byte message with a fresh state. */
static int parse(const uint8_t *buf, size_t len, size_t full_len, enum psc_flow flow,
		 struct psc_msg *out, size_t max_out)
{
	struct psc_proto_state st;

	assert_true(len <= full_len);
	memset(&st, 0, sizeof(st));
	return psc_conv_parse_head(ops, &st, flow, buf, full_len, len, out, max_out);
}

/* Loads @rel into @b, checks that it is detected in @flow and not the other way, and that
 * it parses as one message; returns that message. */
static struct psc_msg parse_fixture(struct blob *b, const char *rel, enum psc_flow flow)
{
	enum psc_flow other = flow == PSC_FLOW_TO_SERVER ? PSC_FLOW_TO_CLIENT : PSC_FLOW_TO_SERVER;
	struct psc_msg m[4];

	load(b, rel);
	assert_true(ops->detect(b->data, b->len, flow));
	assert_false(ops->detect(b->data, b->len, other));
	assert_int_equal(parse(b->data, b->len, b->len, flow, m, 4), 1);
	return m[0];
}

/* Parses a query fixture and checks its one request. */
static void check_query(const char *rel, const char *endpoint, bool tcp)
{
	struct psc_msg m[4];
	struct blob b;
	struct psc_msg q = parse_fixture(&b, rel, PSC_FLOW_TO_SERVER);

	assert_int_equal(q.type, PSC_MSG_REQUEST);
	assert_string_equal(q.endpoint, endpoint);
	assert_false(q.truncated);
	if (tcp) {
		/* The same message written without its prefix (prefix in a separate write). */
		assert_int_equal(parse(b.data, 2, 2, PSC_FLOW_TO_SERVER, m, 4), 0);
		assert_int_equal(parse(b.data + 2, b.len - 2, b.len - 2, PSC_FLOW_TO_SERVER, m, 4),
				 1);
		assert_string_equal(m[0].endpoint, endpoint);
	}
}

static void check_response(const char *rel, int rcode, int answers)
{
	struct blob b;
	struct psc_msg r = parse_fixture(&b, rel, PSC_FLOW_TO_CLIENT);

	assert_int_equal(r.type, PSC_MSG_RESPONSE);
	assert_int_equal(r.status, rcode);
	assert_int_equal(r.error, rcode != 0);
	assert_string_equal(r.endpoint, "");
	if (answers >= 0)
		assert_int_equal(r.rows, answers);
}

static void test_udp_fixtures(void **unused)
{
	static const struct {
		const char *stem, *endpoint;
		int rcode, answers;
	} cases[] = {
		{ "01-a-www.example.com", "A example.com", 0, 1 },
		{ "02-aaaa-www.example.com", "AAAA example.com", 0, 1 },
		{ "03-a-nope.example.com", "A example.com", 3, 0 },
		{ "04-mx-example.com", "MX example.com", 0, 1 },
		{ "05-txt-example.com", "TXT example.com", 0, 1 },
		{ "06-srv-_http._tcp.example.com", "SRV example.com", 0, 1 },
		{ "07-ptr-1.0.0.10.in-addr.arpa", "PTR in-addr.arpa", 0, 1 },
		{ "08-cname-alias.example.com", "CNAME example.com", 0, 1 },
		{ "09-a-shop.example.co.uk", "A example.co.uk", 0, 1 },
		{ "10-a-redis.default.svc.cluster.local", "A svc.cluster.local", 0, 1 },
		{ "11-https-www.example.com", "HTTPS example.com", 0, 0 },
		{ "12-type65534-www.example.com", "TYPE65534 example.com", 0, 0 },
		{ "13-a-www.mixed-case.org", "A mixed-case.org", 0, 1 },
		{ "14-a-foo.invalid", "A foo.invalid", 5, 0 },
		{ "15-ns-example.com", "NS example.com", 0, 0 },
		{ "16-soa-example.com", "SOA example.com", 0, 0 },
		{ "17-a-WWW.Mixed-Case.ORG", "A mixed-case.org", 0, 1 },
	};
	char rel[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(rel, sizeof(rel), "udp/%s-query.bin", cases[i].stem);
		check_query(rel, cases[i].endpoint, false);
		snprintf(rel, sizeof(rel), "udp/%s-response.bin", cases[i].stem);
		check_response(rel, cases[i].rcode, cases[i].answers);
	}
}

static void test_tcp_fixtures(void **unused)
{
	check_query("tcp/01-a-www.example.com-query.bin", "A example.com", true);
	check_response("tcp/01-a-www.example.com-response.bin", 0, 1);
	check_query("tcp/02-mx-example.com-query.bin", "MX example.com", true);
	check_response("tcp/02-mx-example.com-response.bin", 0, 1);
	check_query("tcp/03-a-nope.example.com-query.bin", "A example.com", true);
	check_response("tcp/03-a-nope.example.com-response.bin", 3, 0);
}

/* Two queries in one TCP write (pipelining, RFC 7766 6.2.1.1). */
static void test_tcp_pipelined(void **unused)
{
	struct blob a, b;
	uint8_t buf[512];
	struct psc_msg m[4];
	int n;

	load(&a, "tcp/01-a-www.example.com-query.bin");
	load(&b, "tcp/02-mx-example.com-query.bin");
	memcpy(buf, a.data, a.len);
	memcpy(buf + a.len, b.data, b.len);
	n = parse(buf, a.len + b.len, a.len + b.len, PSC_FLOW_TO_SERVER, m, 4);
	assert_int_equal(n, 2);
	assert_string_equal(m[0].endpoint, "A example.com");
	assert_string_equal(m[1].endpoint, "MX example.com");
	/* The caller learns that messages were dropped from a return equal to max_out. */
	assert_int_equal(parse(buf, a.len + b.len, a.len + b.len, PSC_FLOW_TO_SERVER, m, 1), 1);
	/* The head ends inside the second message's header: the first one only. */
	n = parse(buf, a.len + 8, a.len + b.len, PSC_FLOW_TO_SERVER, m, 4);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].endpoint, "A example.com");
}

/* Builds a query for @name (dotted, "" = root) with @qtype; returns its length. */
static size_t build_query(uint8_t *buf, size_t size, const char *name, uint16_t qtype,
			  unsigned int opcode)
{
	size_t off = 12;
	const char *p = name;

	memset(buf, 0, 12);
	buf[0] = 0x12;
	buf[1] = 0x34;
	buf[2] = (uint8_t)(opcode << 3 | 0x01); /* RD */
	buf[5] = 1;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		assert_true(off + 1 + l < size);
		buf[off++] = (uint8_t)l;
		memcpy(buf + off, p, l);
		off += l;
		p += l;
		if (*p == '.')
			p++;
	}
	buf[off++] = 0;
	buf[off++] = (uint8_t)(qtype >> 8);
	buf[off++] = (uint8_t)qtype;
	buf[off++] = 0;
	buf[off++] = 1; /* IN */
	return off;
}

static void check_name(const char *name, uint16_t qtype, const char *endpoint)
{
	uint8_t buf[600];
	struct psc_msg m[2];
	size_t len = build_query(buf, sizeof(buf), name, qtype, 0);

	assert_true(ops->detect(buf, len, PSC_FLOW_TO_SERVER));
	assert_int_equal(parse(buf, len, len, PSC_FLOW_TO_SERVER, m, 2), 1);
	assert_string_equal(m[0].endpoint, endpoint);
}

static void test_suffix_rules(void **unused)
{
	check_name("a.b.c.example.com", 1, "A example.com");
	check_name("example.com", 28, "AAAA example.com");
	check_name("EXAMPLE.COM", 1, "A example.com");
	check_name("www.bbc.co.uk", 1, "A bbc.co.uk");
	check_name("shop.example.com.au", 15, "MX example.com.au");
	check_name("localhost", 1, "A localhost");
	check_name("", 2, "NS .");
	check_name("com", 6, "SOA com");
	check_name("b.f.8.e.f.f.3.f.d.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", 12,
		   "PTR ip6.arpa");
	check_name("4.3.2.1.in-addr.arpa", 12, "PTR in-addr.arpa");
	check_name("in-addr.arpa", 2, "NS in-addr.arpa");
	check_name("xin-addr.arpa", 2, "NS xin-addr.arpa");
	check_name("api.payments.svc.cluster.local", 33, "SRV svc.cluster.local");
	check_name("www.example.com", 64, "SVCB example.com");
	check_name("www.example.com", 255, "ANY example.com");
	check_name("www.example.com", 12, "PTR example.com");
	check_name("www.example.com", 16, "TXT example.com");
	check_name("www.example.com", 999, "TYPE999 example.com");
	/* Bytes that are not printable never reach the endpoint. */
	check_name("a.bb\x01\xffx.example", 1, "A bb??x.example");
}

static void test_long_name(void **unused)
{
	char name[300];
	uint8_t buf[600];
	struct psc_msg m[2];
	size_t len;

	/* 3 labels of 63 + 1 label of 61: 255 octets on the wire, the maximum. */
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[253] = '\0';
	len = build_query(buf, sizeof(buf), name, 1, 0);
	assert_int_equal(parse(buf, len, len, PSC_FLOW_TO_SERVER, m, 2), 1);
	assert_int_equal(strlen(m[0].endpoint), 2 + 63 + 1 + 61);
	/* One octet more is malformed. */
	name[253] = 'a';
	name[254] = '\0';
	len = build_query(buf, sizeof(buf), name, 1, 0);
	assert_int_equal(parse(buf, len, len, PSC_FLOW_TO_SERVER, m, 2), -EBADMSG);
	assert_false(ops->detect(buf, len, PSC_FLOW_TO_SERVER));
	/* A 64-octet label uses the reserved 0x40 label type. */
	buf[12] = 64;
	assert_int_equal(parse(buf, len, len, PSC_FLOW_TO_SERVER, m, 2), -EBADMSG);
}

static void test_truncated_head(void **unused)
{
	struct psc_msg m[2];
	struct blob b;

	load(&b, "udp/01-a-www.example.com-query.bin");
	/* Head ends after the name and type but before the EDNS record. */
	assert_int_equal(parse(b.data, 12 + 17 + 4, b.len, PSC_FLOW_TO_SERVER, m, 2), 1);
	assert_string_equal(m[0].endpoint, "A example.com");
	assert_true(m[0].truncated);
	/* Head ends right after the name: the suffix is known, the type is not. */
	assert_int_equal(parse(b.data, 12 + 17, b.len, PSC_FLOW_TO_SERVER, m, 2), 1);
	assert_string_equal(m[0].endpoint, "? example.com");
	assert_true(m[0].truncated);
	/* Head ends inside the name. */
	assert_int_equal(parse(b.data, 16, b.len, PSC_FLOW_TO_SERVER, m, 2), 1);
	assert_string_equal(m[0].endpoint, "? ?");
	assert_true(m[0].truncated);
	/* The same cuts with nothing more to come are malformed messages. */
	assert_int_equal(parse(b.data, 12 + 17, 12 + 17, PSC_FLOW_TO_SERVER, m, 2), -EBADMSG);
	assert_int_equal(parse(b.data, 16, 16, PSC_FLOW_TO_SERVER, m, 2), -EBADMSG);
	assert_int_equal(parse(b.data, 11, 11, PSC_FLOW_TO_SERVER, m, 2), -EBADMSG);
	/* A response only needs its header. */
	load(&b, "udp/03-a-nope.example.com-response.bin");
	assert_int_equal(parse(b.data, 12, b.len, PSC_FLOW_TO_CLIENT, m, 2), 1);
	assert_int_equal(m[0].status, 3);
	assert_true(m[0].error);
	assert_true(m[0].truncated);
	/* A TCP head cut by the capture size: the prefix gives the full length. */
	load(&b, "tcp/02-mx-example.com-response.bin");
	assert_int_equal(parse(b.data, 20, b.len, PSC_FLOW_TO_CLIENT, m, 2), 1);
	assert_int_equal(m[0].type, PSC_MSG_RESPONSE);
	assert_true(m[0].truncated);
}

static void test_compression(void **unused)
{
	/* A response whose question name is compressed to point at itself (a loop), then
	 * a query whose name points forwards: both malformed, neither hangs. */
	uint8_t loop[] = { 0x00, 0x01, 0x81, 0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
			   0x00, 0x00, 0x01, 'a',  0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01 };
	uint8_t fwd[] = { 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
			  0x00, 0xc0, 0x12, 0x00, 0x01, 0x00, 0x01, 0x01, 'a',	0x00 };
	uint8_t into_hdr[] = { 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
			       0x00, 0x00, 0x00, 0xc0, 0x02, 0x00, 0x01, 0x00, 0x01 };
	struct psc_msg m[2];

	assert_false(ops->detect(loop, sizeof(loop), PSC_FLOW_TO_CLIENT));
	/* Responses are judged by their header: still a response. */
	assert_int_equal(parse(loop, sizeof(loop), sizeof(loop), PSC_FLOW_TO_CLIENT, m, 2), 1);
	loop[2] = 0x01; /* make it a query */
	loop[3] = 0x00;
	assert_int_equal(parse(loop, sizeof(loop), sizeof(loop), PSC_FLOW_TO_SERVER, m, 2),
			 -EBADMSG);
	assert_false(ops->detect(loop, sizeof(loop), PSC_FLOW_TO_SERVER));
	assert_int_equal(parse(fwd, sizeof(fwd), sizeof(fwd), PSC_FLOW_TO_SERVER, m, 2), -EBADMSG);
	assert_false(ops->detect(fwd, sizeof(fwd), PSC_FLOW_TO_SERVER));
	assert_int_equal(
		parse(into_hdr, sizeof(into_hdr), sizeof(into_hdr), PSC_FLOW_TO_SERVER, m, 2),
		-EBADMSG);
}

static void test_opcodes(void **unused)
{
	uint8_t buf[128];
	struct psc_msg m[2];
	size_t len = build_query(buf, sizeof(buf), "www.example.com", 6, 5);

	/* UPDATE still pairs with its response, but detection wants plain queries. */
	assert_false(ops->detect(buf, len, PSC_FLOW_TO_SERVER));
	assert_int_equal(parse(buf, len, len, PSC_FLOW_TO_SERVER, m, 2), 1);
	assert_string_equal(m[0].endpoint, "UPDATE example.com");
	len = build_query(buf, sizeof(buf), "example.com", 6, 4);
	assert_int_equal(parse(buf, len, len, PSC_FLOW_TO_SERVER, m, 2), 1);
	assert_string_equal(m[0].endpoint, "NOTIFY example.com");
	buf[5] = 0; /* no question */
	assert_int_equal(parse(buf, 12, 12, PSC_FLOW_TO_SERVER, m, 2), 1);
	assert_string_equal(m[0].endpoint, "NOTIFY");
	buf[2] = 3 << 3; /* unassigned opcode */
	assert_int_equal(parse(buf, len, len, PSC_FLOW_TO_SERVER, m, 2), -EBADMSG);
}

static void test_detect_rejects_other_protocols(void **unused)
{
	static const char *const texts[] = {
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"*1\r\n$4\r\nPING\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"+OK\r\n",
		"SELECT 1",
	};
	/* PostgreSQL StartupMessage (length, protocol 3.0, "user", "postgres"). */
	static const uint8_t pg[] = { 0,   0,	0,   0x25, 0,	3,   0,	  0,   'u', 's', 'e', 'r',
				      0,   'p', 'o', 's',  't', 'g', 'r', 'e', 's', 0,	 'd', 'a',
				      't', 'a', 'b', 'a',  's', 'e', 0,	  'p', 'g', 0,	 0 };
	uint8_t zeros[64] = { 0 };

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_false(ops->detect((const uint8_t *)texts[i], strlen(texts[i]),
					 PSC_FLOW_TO_SERVER));
		assert_false(ops->detect((const uint8_t *)texts[i], strlen(texts[i]),
					 PSC_FLOW_TO_CLIENT));
	}
	assert_false(ops->detect(pg, sizeof(pg), PSC_FLOW_TO_SERVER));
	assert_false(ops->detect(zeros, sizeof(zeros), PSC_FLOW_TO_SERVER));
	assert_false(ops->detect(zeros, sizeof(zeros), PSC_FLOW_TO_CLIENT));
	assert_false(ops->detect(zeros, 0, PSC_FLOW_TO_SERVER));
	assert_false(ops->detect(NULL, 0, PSC_FLOW_TO_SERVER));
}

static void test_ops_table(void **unused)
{
	assert_int_equal(ops->proto, PSC_PROTO_DNS);
	assert_string_equal(ops->name, "dns");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_table),
		cmocka_unit_test(test_udp_fixtures),
		cmocka_unit_test(test_tcp_fixtures),
		cmocka_unit_test(test_tcp_pipelined),
		cmocka_unit_test(test_suffix_rules),
		cmocka_unit_test(test_long_name),
		cmocka_unit_test(test_truncated_head),
		cmocka_unit_test(test_compression),
		cmocka_unit_test(test_opcodes),
		cmocka_unit_test(test_detect_rejects_other_protocols),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
