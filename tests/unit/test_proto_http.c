// SPDX-License-Identifier: MIT
/* HTTP/1.x parser: recorded curl/wrk/nginx traffic (tests/data/http) and hostile input. */
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
#include "proto_http.h"

#define HEAD_LEN 256

static const struct psc_proto_ops *ops = &psc_proto_http_ops;

static size_t load(const char *rel, uint8_t *buf)
{
	return psc_conv_read_file("http", rel, buf, PSC_CONV_FILE_MAX);
}

/* Parses what an agent would capture of a syscall that moved @full bytes. */
static int parse_head(struct psc_proto_state *st, enum psc_flow flow, const uint8_t *buf,
		      size_t full, size_t head, struct psc_msg *out)
{
	return psc_conv_parse_head(ops, st, flow, buf, full, head, out, PSC_MSGS_PER_HEAD);
}

static int parse_str(struct psc_proto_state *st, enum psc_flow flow, const char *s,
		     struct psc_msg *out)
{
	return parse_head(st, flow, (const uint8_t *)s, strlen(s), strlen(s), out);
}

static void expect_request(struct psc_proto_state *st, const char *file, const char *endpoint)
{
	static uint8_t buf[PSC_CONV_FILE_MAX];
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	size_t n = load(file, buf);

	assert_int_equal(parse_head(st, PSC_FLOW_TO_SERVER, buf, n, HEAD_LEN, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_REQUEST);
	assert_string_equal(out[0].endpoint, endpoint);
	assert_int_equal(out[0].rows, -1);
}

static void expect_response(struct psc_proto_state *st, const char *file, int status,
			    bool truncated)
{
	static uint8_t buf[PSC_CONV_FILE_MAX];
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	size_t n = load(file, buf);

	assert_int_equal(parse_head(st, PSC_FLOW_TO_CLIENT, buf, n, HEAD_LEN, out), 1);
	assert_int_equal(out[0].type, PSC_MSG_RESPONSE);
	assert_int_equal(out[0].status, status);
	assert_int_equal(out[0].error, status >= 400);
	assert_string_equal(out[0].endpoint, "");
	assert_int_equal(out[0].truncated, truncated);
}

static void test_template(void **unused)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "/", "/" },
		{ "/api/orders/12345?expand=items", "/api/orders/{id}" },
		{ "/api/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301/profile",
		  "/api/users/{id}/profile" },
		{ "/api/carts/5f3a9c2b7d11/items", "/api/carts/{id}/items" },
		{ "/blob/deadbeef01", "/blob/{id}" },
		{ "/blob/deadbeef", "/blob/deadbeef" }, /* no digit: a word */
		{ "/users/user123456/x", "/users/{id}/x" },
		{ "/apis/batch/v1beta1/jobs", "/apis/batch/v1beta1/jobs" },
		{ "/hash/sha256/abc", "/hash/sha256/abc" },
		{ "/t/Xk3jd9LqPzRwYbNm", "/t/{id}" },
		{ "/u/john.doe@example.com/inbox", "/u/{id}/inbox" },
		{ "/static/hello.txt#frag", "/static/hello.txt" },
		{ "/shop;jsessionid=ABC123/cart", "/shop/cart" },
		{ "http://example.com:8080/a/42?x=1", "/a/{id}" },
		{ "https://example.com", "/" },
		{ "*", "*" },
		{ "/caf\xc3\xa9/\xff", "/caf?"
				       "?/?" },
		{ "/a//b/", "/a//b/" },
		{ "/v2/2024-01-05", "/v2/{id}" },
	};
	char dst[PSC_ENDPOINT_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = psc_http_path_template(dst, sizeof(dst), (const uint8_t *)cases[i].in,
						  strlen(cases[i].in));
		assert_string_equal(dst, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
	}
	/* never cut inside {id} */
	for (size_t cap = 1; cap < 12; cap++) {
		psc_http_path_template(dst, cap, (const uint8_t *)"/1/2/3", 6);
		assert_true(strlen(dst) < cap);
		if (strchr(dst, '{'))
			assert_int_equal(strncmp(strchr(dst, '{'), "{id}", 4), 0);
		assert_true(dst[0] == '\0' || dst[strlen(dst) - 1] == '/' ||
			    dst[strlen(dst) - 1] == '}');
	}
}

static void test_detect(void **unused)
{
	static const char *yes_req[] = {
		"GET / HTTP/1.1\r\n",
		"POST /submit HTTP/1.1\r\n",
		"OPTIONS * HTTP/1.1\r\n",
		"PROPFIND /dav/ HTTP/1.1\r\n",
		"GET http://example.com/ HTTP/1.1\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\n",
		"PATCH /a",
		"DELETE /x/1 HTTP/1.0\r\n",
	};
	static const char *no_req[] = {
		"",
		"GET",
		"GET ",
		"get / HTTP/1.1\r\n",
		"GET foo\r\n",
		"PRI * HTTP/2.0\r\n",
		"*1\r\n$4\r\nPING\r\n",
		"HTTP/1.1 200 OK\r\n",
		"FOO / HTTP/1.1\r\n",
		"GET ftp://x/ HTTP/1.1\r\n",
		"\x16\x03\x01\x02\x00",
		"GETT / HTTP/1.1\r\n",
	};

	for (size_t i = 0; i < sizeof(yes_req) / sizeof(yes_req[0]); i++)
		assert_true(ops->detect((const uint8_t *)yes_req[i], strlen(yes_req[i]),
					PSC_FLOW_TO_SERVER));
	for (size_t i = 0; i < sizeof(no_req) / sizeof(no_req[0]); i++)
		assert_false(ops->detect((const uint8_t *)no_req[i], strlen(no_req[i]),
					 PSC_FLOW_TO_SERVER));
	assert_true(ops->detect((const uint8_t *)"HTTP/1.1 200 OK\r\n", 17, PSC_FLOW_TO_CLIENT));
	assert_true(ops->detect((const uint8_t *)"HTTP/1.0 404", 12, PSC_FLOW_TO_CLIENT));
	assert_false(ops->detect((const uint8_t *)"HTTP/2 200", 10, PSC_FLOW_TO_CLIENT));
	assert_false(ops->detect((const uint8_t *)"GET / HTTP/1.1\r\n", 16, PSC_FLOW_TO_CLIENT));
	assert_false(ops->detect((const uint8_t *)"+OK\r\n", 5, PSC_FLOW_TO_CLIENT));
}

static void test_curl_keepalive(void **unused)
{
	struct psc_proto_state st = { 0 };

	expect_request(&st, "get_keepalive/01-0001-c2s.bin", "GET /api/orders/{id}");
	expect_response(&st, "get_keepalive/01-0002-s2c.bin", 200, false);
	expect_request(&st, "get_keepalive/01-0003-c2s.bin", "GET /api/users/{id}/profile");
	expect_response(&st, "get_keepalive/01-0004-s2c.bin", 200, false);
	expect_request(&st, "get_keepalive/01-0005-c2s.bin", "GET /static/hello.txt");
	expect_response(&st, "get_keepalive/01-0006-s2c.bin", 200, false);
	expect_request(&st, "get_keepalive/01-0007-c2s.bin", "GET /missing/page");
	/* 153-byte body after 156 bytes of headers: the head ends inside it */
	expect_response(&st, "get_keepalive/01-0008-s2c.bin", 404, true);
}

static void test_curl_single(void **unused)
{
	struct psc_proto_state st = { 0 };

	expect_request(&st, "post/01-0001-c2s.bin", "POST /submit");
	expect_response(&st, "post/01-0002-s2c.bin", 201, false);
	memset(&st, 0, sizeof(st));
	expect_request(&st, "post_json/01-0001-c2s.bin", "POST /api/carts/{id}/items");
	expect_response(&st, "post_json/01-0002-s2c.bin", 200, false);
	memset(&st, 0, sizeof(st));
	expect_request(&st, "not_found/01-0001-c2s.bin", "GET /nope/{id}");
	expect_response(&st, "not_found/01-0002-s2c.bin", 404, true);
	memset(&st, 0, sizeof(st));
	expect_request(&st, "server_error/01-0001-c2s.bin", "GET /fail/now");
	expect_response(&st, "server_error/01-0002-s2c.bin", 503, true);
	memset(&st, 0, sizeof(st));
	expect_request(&st, "chunked_upload/01-0001-c2s.bin", "POST /submit");
	expect_response(&st, "chunked_upload/01-0002-s2c.bin", 201, false);
	memset(&st, 0, sizeof(st));
	expect_request(&st, "wrk/02-0001-c2s.bin", "GET /api/items/{id}");
	expect_response(&st, "wrk/02-0002-s2c.bin", 200, false);
	expect_request(&st, "wrk/03-0003-c2s.bin", "GET /api/items/{id}");
	expect_response(&st, "wrk/03-0005-s2c.bin", 200, false);
}

static void test_chunked(void **unused)
{
	static uint8_t buf[PSC_CONV_FILE_MAX];
	struct psc_proto_state st = { 0 };
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	size_t n;

	/* curl's chunked upload fits the head whole, so a pipelined request after it counts */
	n = load("chunked_upload/01-0001-c2s.bin", buf);
	assert_true(n < 200);
	memcpy(buf + n, buf, n);
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_SERVER, buf, 2 * n, 2 * n, out), 2);
	assert_false(out[0].truncated);
	assert_string_equal(out[1].endpoint, "POST /submit");

	/* nginx's gzip response: the body runs past the head, the next write is body */
	memset(&st, 0, sizeof(st));
	expect_request(&st, "gzip_chunked/01-0001-c2s.bin", "GET /gz/big.txt");
	expect_response(&st, "gzip_chunked/01-0002-s2c.bin", 200, true);
	n = load("gzip_chunked/01-0002-s2c.bin", buf);
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_CLIENT, buf + 400, n - 400, HEAD_LEN, out), 0);
}

static void test_head_method(void **unused)
{
	static uint8_t req[PSC_CONV_FILE_MAX], rsp[2 * PSC_CONV_FILE_MAX];
	struct psc_proto_state st = { 0 };
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	size_t nq, ns;

	nq = load("head/01-0001-c2s.bin", req);
	ns = load("head/01-0002-s2c.bin", rsp);
	memcpy(req + nq, req, nq);
	memcpy(rsp + ns, rsp, ns);
	/* Two pipelined HEADs, then both responses in one write: Content-Length: 17 but no
	 * body, so the second status line follows the first header block. */
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_SERVER, req, 2 * nq, 2 * nq, out), 2);
	assert_string_equal(out[0].endpoint, "HEAD /static/hello.txt");
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_CLIENT, rsp, 2 * ns, 2 * ns, out), 2);
	assert_int_equal(out[0].status, 200);
	assert_int_equal(out[1].status, 200);
	assert_false(out[0].truncated);
	assert_false(out[1].truncated);
}

static void test_pipeline(void **unused)
{
	static uint8_t buf[PSC_CONV_FILE_MAX];
	struct psc_proto_state st = { 0 };
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	size_t n = load("pipeline/02-0001-c2s.bin", buf);

	/* wrk pipelining four requests in one write (293 bytes) */
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_SERVER, buf, n, n, out), 4);
	assert_string_equal(out[0].endpoint, "GET /api/orders/{id}");
	assert_string_equal(out[1].endpoint, "GET /static/hello.txt");
	assert_string_equal(out[2].endpoint, "POST /submit");
	assert_string_equal(out[3].endpoint, "GET /nope/{id}");
	for (int i = 0; i < 4; i++)
		assert_false(out[i].truncated);
	/* the 256-byte head still shows the fourth request line start, cut */
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_SERVER, buf, n, HEAD_LEN, out), 4);
	assert_string_equal(out[3].endpoint, "GET /nope/{id}");
	assert_true(out[3].truncated);
	/* a head of 200 bytes ends before it: not reported */
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_SERVER, buf, n, 200, out), 3);
	assert_true(out[2].truncated);
	/* max_out caps the count */
	assert_int_equal(ops->parse(&st, PSC_FLOW_TO_SERVER, buf, n, n, out, 2), 2);

	/* nginx's four responses in one recv */
	n = load("pipeline/02-0118-s2c.bin", buf);
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_CLIENT, buf, n, n, out), 4);
	assert_int_equal(out[0].status, 200);
	assert_int_equal(out[1].status, 200);
	assert_int_equal(out[2].status, 201);
	assert_int_equal(out[3].status, 404);
	assert_true(out[3].error);
	assert_false(out[2].error);
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_CLIENT, buf, n, HEAD_LEN, out), 2);
	assert_true(out[1].truncated);

	/* and the same responses, one recv each */
	memset(&st, 0, sizeof(st));
	expect_response(&st, "pipeline/02-0002-s2c.bin", 200, false);
	expect_response(&st, "pipeline/02-0003-s2c.bin", 200, false);
	expect_response(&st, "pipeline/02-0004-s2c.bin", 201, false);
	expect_response(&st, "pipeline/02-0005-s2c.bin", 404, true);
}

/* curl uploading 9000 bytes at 2 KB/s to two URLs on one connection: the body arrives in
 * several recv()s, the second request starts 808 bytes into the sixth. */
static void test_body_continuation(void **unused)
{
	static const char *files[] = {
		"01-0001-c2s.bin", "01-0003-c2s.bin", "01-0004-c2s.bin",
		"01-0005-c2s.bin", "01-0006-c2s.bin", "01-0008-c2s.bin",
		"01-0009-c2s.bin", "01-0010-c2s.bin", "01-0011-c2s.bin",
	};
	static const int with_head[] = { 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const int with_all[] = { 1, 0, 0, 0, 1, 0, 0, 0, 0 };
	static uint8_t buf[PSC_CONV_FILE_MAX];
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	char rel[64];

	for (int pass = 0; pass < 2; pass++) {
		struct psc_proto_state st = { 0 };
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(rel, sizeof(rel), "big_upload/%s", files[i]);
			size_t n = load(rel, buf);
			int r = parse_head(&st, PSC_FLOW_TO_SERVER, buf, n, pass ? n : HEAD_LEN,
					   out);
			assert_int_equal(r, pass ? with_all[i] : with_head[i]);
			if (i == 0) {
				assert_string_equal(out[0].endpoint, "POST /api/bulk/import");
				assert_true(out[0].truncated);
			}
			if (pass && i == 4)
				assert_string_equal(out[0].endpoint,
						    "POST /api/bulk/import/status");
		}
	}
}

/* Every prefix of every fixture, as a syscall of that size and as the head of the whole
 * file: no crash, never more messages than the whole file gives. */
static void test_prefixes(void **unused)
{
	static const char *dirs[] = {
		"get_keepalive",  "post", "post_json", "not_found", "server_error", "gzip_chunked",
		"chunked_upload", "head", "pipeline",  "wrk",	    "big_upload",
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		psc_conv_check_chunk_prefixes(ops, "http", dirs[i], 0, true);
}

static void test_hostile(void **unused)
{
	struct psc_proto_state st = { 0 };
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	static const uint8_t garbage[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc,
					   0x03, 0x03, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a };
	char big[6000];
	int r;

	/* not HTTP on a fresh connection */
	for (enum psc_flow flow = PSC_FLOW_TO_SERVER; flow <= PSC_FLOW_TO_CLIENT; flow++)
		assert_int_equal(
			parse_head(&st, flow, garbage, sizeof(garbage), sizeof(garbage), out),
			-EBADMSG);
	assert_int_equal(
		parse_str(&st, PSC_FLOW_TO_SERVER, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", out),
		-EBADMSG);
	assert_int_equal(parse_str(&st, PSC_FLOW_TO_CLIENT, "HTTP/1.1 099 Low\r\n\r\n", out),
			 -EBADMSG);

	/* absurd Content-Length: reported, extent unknown, the next write is body */
	memset(&st, 0, sizeof(st));
	r = parse_str(&st, PSC_FLOW_TO_SERVER,
		      "POST /up HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"
		      "GET /smuggled HTTP/1.1\r\n\r\n",
		      out);
	assert_int_equal(r, 1);
	assert_string_equal(out[0].endpoint, "POST /up");
	assert_true(out[0].truncated);
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_SERVER, garbage, sizeof(garbage), 256, out),
			 0);
	/* conflicting lengths are not trusted either */
	r = parse_str(&st, PSC_FLOW_TO_SERVER,
		      "POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcGET / "
		      "HTTP/1.1\r\n\r\n",
		      out);
	assert_int_equal(r, 1);
	/* body continuation counted by Content-Length, then the next request in one write */
	memset(&st, 0, sizeof(st));
	r = parse_head(&st, PSC_FLOW_TO_SERVER,
		       (const uint8_t *)"PUT /obj/77 HTTP/1.1\r\nContent-Length: 1000\r\n\r\n", 46,
		       46, out);
	assert_int_equal(r, 1);
	assert_true(out[0].truncated);
	memset(big, 'x', sizeof(big));
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_SERVER, (uint8_t *)big, 500, 256, out), 0);
	memcpy(big + 500, "DELETE /obj/78 HTTP/1.1\r\n\r\n", 27);
	assert_int_equal(parse_head(&st, PSC_FLOW_TO_SERVER, (uint8_t *)big, 527, 527, out), 1);
	assert_string_equal(out[0].endpoint, "DELETE /obj/{id}");

	/* non-ASCII path bytes never reach the endpoint */
	memset(&st, 0, sizeof(st));
	r = parse_str(&st, PSC_FLOW_TO_SERVER, "GET /caf\xc3\xa9/\x01\x7f HTTP/1.1\r\n\r\n", out);
	assert_int_equal(r, 1);
	assert_string_equal(out[0].endpoint, "GET /caf?"
					     "?/??");

	/* overlong request line: endpoint cut, message truncated */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', sizeof(big) - 5);
	for (size_t i = 5; i < sizeof(big); i += 10)
		big[i] = '/';
	r = parse_head(&st, PSC_FLOW_TO_SERVER, (uint8_t *)big, sizeof(big), 4096, out);
	assert_int_equal(r, 1);
	assert_int_equal(strlen(out[0].endpoint), PSC_ENDPOINT_MAX - 1);
	assert_true(out[0].truncated);
	/* overlong header line */
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'y', sizeof(big) - 20);
	memset(&st, 0, sizeof(st));
	r = parse_head(&st, PSC_FLOW_TO_CLIENT, (uint8_t *)big, sizeof(big), sizeof(big), out);
	assert_int_equal(r, 1);
	assert_true(out[0].truncated);

	/* a connection already seen as HTTP: a body head is 0 messages, not an error */
	assert_int_equal(ops->parse(&st, PSC_FLOW_TO_CLIENT, garbage, sizeof(garbage),
				    sizeof(garbage), out, PSC_MSGS_PER_HEAD),
			 0);

	/* interim responses are not the response */
	memset(&st, 0, sizeof(st));
	r = parse_str(&st, PSC_FLOW_TO_CLIENT,
		      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
		      out);
	assert_int_equal(r, 2);
	assert_int_equal(out[0].type, PSC_MSG_OTHER);
	assert_int_equal(out[1].type, PSC_MSG_RESPONSE);
	assert_int_equal(out[1].status, 500);
	assert_true(out[1].error);

	/* chunk sizes that overflow */
	memset(&st, 0, sizeof(st));
	r = parse_str(&st, PSC_FLOW_TO_CLIENT,
		      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		      "fffffffffffffffffffffff\r\nHTTP/1.1 200 OK\r\n\r\n",
		      out);
	assert_int_equal(r, 1);
	assert_true(out[0].truncated);

	/* max_out 0 */
	memset(&st, 0, sizeof(st));
	assert_int_equal(ops->parse(&st, PSC_FLOW_TO_SERVER,
				    (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, 18, out, 0),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template),       cmocka_unit_test(test_detect),
		cmocka_unit_test(test_curl_keepalive), cmocka_unit_test(test_curl_single),
		cmocka_unit_test(test_chunked),	       cmocka_unit_test(test_head_method),
		cmocka_unit_test(test_pipeline),       cmocka_unit_test(test_body_continuation),
		cmocka_unit_test(test_prefixes),       cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
