// SPDX-License-Identifier: MIT
/* HTTP/1.x: request line -> "METHOD /path/{id}", status line -> status. */
#include "proto.h"
#include "proto_http.h"

#include <errno.h>
#include <string.h>

struct http_state {
	/* Per flow: body bytes of the last message that lie beyond the syscall that started
	 * it. 0 also means "unknown": the next head is parsed only if it starts a message. */
	uint64_t body_left[2];
	/* FIFO of outstanding requests, oldest in bit 0: set for HEAD, whose response has a
	 * Content-Length but no body. */
	uint64_t head_fifo;
	uint8_t head_n;
	uint8_t seen; /* a message was parsed on this connection */
};

_Static_assert(sizeof(struct http_state) <= sizeof(struct psc_proto_state),
	       "http state does not fit");

/* Larger values are not a body we could skip reliably: treat the extent as unknown. */
#define HTTP_MAX_BODY (1ull << 50)
#define BODY_UNKNOWN UINT64_MAX

static const char *const methods[] = {
	/* RFC 9110 and PATCH (RFC 5789) */
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
	/* WebDAV, CalDAV, versioning (RFC 4918, 4791, 3253, 5323, 3744) */
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "MKCALENDAR",
	"REPORT", "CHECKOUT", "CHECKIN", "UNCHECKOUT", "MERGE", "MKACTIVITY", "MKWORKSPACE",
	"VERSION-CONTROL", "BASELINE-CONTROL", "LABEL", "UPDATE", "ACL", "ORDERPATCH", "BIND",
	"UNBIND", "REBIND", "MKREDIRECTREF", "UPDATEREDIRECTREF",
	/* the QUERY draft and non-standard ones real clients send */
	"QUERY", "PURGE", "LINK", "UNLINK"
};

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(uint8_t c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* Case-insensitive: does @buf[0..@len) start with @lit? */
static bool has_prefix_ci(const uint8_t *buf, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	if (len < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(buf[i]) != (uint8_t)lit[i])
			return false;
	return true;
}

/* Length of the known method at @buf followed by a space, or 0. */
static size_t method_len(const uint8_t *buf, size_t len)
{
	size_t n = 0;

	while (n < len && n < 20 && (is_alpha(buf[n]) || buf[n] == '-'))
		n++;
	if (n == 0 || n >= len || buf[n] != ' ')
		return 0;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i]) == n && memcmp(methods[i], buf, n) == 0)
			return n;
	return 0;
}

/* Does a request line start at @buf? Needs the method, the space and enough of the
 * target to see its form. */
static bool starts_request(const uint8_t *buf, size_t len)
{
	size_t m = method_len(buf, len);
	const uint8_t *t;
	size_t tl;

	if (!m || m + 1 >= len)
		return false;
	t = buf + m + 1;
	tl = len - m - 1;
	if (t[0] == '/' || t[0] == '*')
		return true;
	if (m == 7 && memcmp(buf, "CONNECT", 7) == 0)
		return is_alpha(t[0]) || is_digit(t[0]) || t[0] == '[';
	/* absolute-form: as much of "http://" or "https://" as the head shows */
	for (size_t i = 0; i < tl && i < 8; i++) {
		uint8_t c = lower(t[i]);
		if (i < 4 && c != "http"[i])
			return false;
		if (i == 4)
			return c == ':' ? (tl < 7 || memcmp(t + 5, "//", 2) == 0)
					: (c == 's' && (tl < 6 || t[5] == ':'));
	}
	return true;
}

/* "HTTP/1.x NNN": the status, or 0 if this is not a status line. */
static int status_line(const uint8_t *buf, size_t len)
{
	if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || !is_digit(buf[7]) || buf[8] != ' ')
		return 0;
	if (!is_digit(buf[9]) || !is_digit(buf[10]) || !is_digit(buf[11]))
		return 0;
	if (len > 12 && buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')
		return 0;
	int st = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	return st >= 100 ? st : 0;
}

static bool starts_msg(const uint8_t *buf, size_t len, enum psc_flow flow)
{
	return flow == PSC_FLOW_TO_SERVER ? starts_request(buf, len) : status_line(buf, len) > 0;
}

static bool detect(const uint8_t *buf, size_t len, enum psc_flow flow)
{
	if (!buf)
		return false;
	if (flow == PSC_FLOW_TO_SERVER)
		return starts_request(buf, len);
	return len >= 7 && memcmp(buf, "HTTP/1.", 7) == 0;
}

static bool is_uuid(const uint8_t *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !is_hex(s[i]))
			return false;
	}
	return true;
}

static bool is_id_segment(const uint8_t *s, size_t n)
{
	size_t digits = 0, hex = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '@')
			return true;
		digits += is_digit(s[i]);
		hex += is_hex(s[i]);
	}
	if (digits == n || is_uuid(s, n))
		return true;
	if (hex == n && n >= 8 && digits > 0)
		return true;
	/* Digit-heavy names (user123456, 2024-01-05) are ids; v1beta1 or sha256 are not. */
	if (n >= 6 && digits >= 4 && digits * 2 >= n)
		return true;
	/* Session tokens, base62 keys. */
	return n >= 16 && digits >= 2;
}

size_t psc_http_path_template(char *dst, size_t cap, const uint8_t *t, size_t n)
{
	size_t o = 0, i = 0;

	if (!cap)
		return 0;
	for (size_t k = 0; k < n; k++) {
		if (t[k] == '?' || t[k] == '#' || t[k] == ' ') {
			n = k;
			break;
		}
	}
	if (has_prefix_ci(t, n, "http://") || has_prefix_ci(t, n, "https://")) {
		i = (t[4] == ':') ? 7 : 8;
		while (i < n && t[i] != '/')
			i++;
		if (i == n) {
			if (cap > 1)
				dst[o++] = '/';
			dst[o] = '\0';
			return o;
		}
	}
	while (i < n && o + 1 < cap) {
		if (t[i] == '/') {
			dst[o++] = '/';
			i++;
			continue;
		}
		size_t end = i, seg;
		while (end < n && t[end] != '/')
			end++;
		for (seg = i; seg < end && t[seg] != ';'; seg++)
			;
		seg -= i;
		if (is_id_segment(t + i, seg)) {
			if (o + 4 >= cap)
				break;
			memcpy(dst + o, "{id}", 4);
			o += 4;
		} else {
			for (size_t k = 0; k < seg && o + 1 < cap; k++) {
				uint8_t c = t[i + k];
				dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
			}
		}
		i = end;
	}
	dst[o] = '\0';
	return o;
}

static void request_endpoint(char *dst, const uint8_t *buf, size_t mlen, size_t len)
{
	const uint8_t *t = buf + mlen + 1;
	size_t tl = 0;

	memcpy(dst, buf, mlen);
	dst[mlen] = ' ';
	while (mlen + 1 + tl < len && t[tl] != ' ' && t[tl] != '\r' && t[tl] != '\n')
		tl++;
	if (mlen == 7 && memcmp(buf, "CONNECT", 7) == 0) {
		/* authority-form: host:port names the endpoint; ports are not ids */
		size_t o = mlen + 1;
		for (size_t k = 0; k < tl && o + 1 < PSC_ENDPOINT_MAX; k++)
			dst[o++] = (t[k] >= 0x20 && t[k] < 0x7f) ? (char)t[k] : '?';
		dst[o] = '\0';
		return;
	}
	psc_http_path_template(dst + mlen + 1, PSC_ENDPOINT_MAX - mlen - 1, t, tl);
}

/* Finds the end of the line starting at @p: returns the offset after its LF, or 0 when
 * the head ends first. */
static size_t line_end(const uint8_t *buf, size_t len, size_t p)
{
	const uint8_t *lf = memchr(buf + p, '\n', len - p);

	return lf ? (size_t)(lf - buf) + 1 : 0;
}

/* Parses a decimal Content-Length value; false when malformed or absurd. */
static bool parse_length(const uint8_t *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i = 0, digits = 0;

	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	for (; i < n && is_digit(v[i]); i++, digits++) {
		x = x * 10 + (v[i] - '0');
		if (x > HTTP_MAX_BODY)
			return false;
	}
	while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r'))
		i++;
	if (!digits || i != n)
		return false;
	*out = x;
	return true;
}

static bool has_token_ci(const uint8_t *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok);

	for (size_t i = 0; i + tl <= n; i++)
		if (has_prefix_ci(v + i, n - i, tok))
			return true;
	return false;
}

/* Walks a chunked body starting at @p; returns its end, or BODY_UNKNOWN when it goes
 * past the head or is malformed. */
static uint64_t chunked_end(const uint8_t *buf, size_t len, size_t p)
{
	for (;;) {
		uint64_t size = 0;
		size_t digits = 0, e = line_end(buf, len, p);

		if (!e)
			return BODY_UNKNOWN;
		for (; p < e && is_hex(buf[p]); p++, digits++) {
			size = size * 16 +
			       (is_digit(buf[p]) ? buf[p] - '0' : lower(buf[p]) - 'a' + 10);
			if (size > HTTP_MAX_BODY)
				return BODY_UNKNOWN;
		}
		if (!digits)
			return BODY_UNKNOWN;
		p = e;
		if (size == 0)
			break;
		if (size + 2 > len - p)
			return BODY_UNKNOWN;
		p += size;
		if (buf[p] != '\r' || buf[p + 1] != '\n')
			return BODY_UNKNOWN;
		p += 2;
	}
	/* trailer section, then the empty line */
	for (;;) {
		size_t e = line_end(buf, len, p);
		if (!e)
			return BODY_UNKNOWN;
		if (e - p <= 2 && (e - p == 1 || buf[p] == '\r'))
			return e;
		p = e;
	}
}

static void head_push(struct http_state *s, bool is_head)
{
	if (s->head_n == 64) {
		/* Responses are not being seen (or not parsed with this state): forget the
		 * oldest rather than grow. */
		s->head_fifo >>= 1;
		s->head_n--;
	}
	if (is_head)
		s->head_fifo |= 1ull << s->head_n;
	s->head_n++;
}

static bool head_pop(struct http_state *s)
{
	bool is_head;

	if (!s->head_n)
		return false;
	is_head = s->head_fifo & 1;
	s->head_fifo >>= 1;
	s->head_n--;
	return is_head;
}

struct http_extent {
	uint64_t hdr_end; /* offset after the empty line, or BODY_UNKNOWN */
	uint64_t end;	  /* offset after the body, or BODY_UNKNOWN */
	bool until_close; /* a response whose body runs to the end of the connection */
};

/* Parses the message that starts at @buf (a start line was checked) into @m. */
static struct http_extent parse_one(struct http_state *s, enum psc_flow flow, const uint8_t *buf,
				    size_t len, struct psc_msg *m)
{
	struct http_extent ext = { BODY_UNKNOWN, BODY_UNKNOWN, false };
	uint64_t clen = 0;
	bool has_clen = false, chunked = false, bad_clen = false, no_body = false;
	size_t p;

	memset(m, 0, sizeof(*m));
	m->rows = -1;
	if (flow == PSC_FLOW_TO_SERVER) {
		size_t ml = method_len(buf, len);
		m->type = PSC_MSG_REQUEST;
		request_endpoint(m->endpoint, buf, ml, len);
		head_push(s, ml == 4 && memcmp(buf, "HEAD", 4) == 0);
	} else {
		m->status = status_line(buf, len);
		m->error = m->status >= 400;
		if (m->status < 200) {
			/* 1xx is interim: the final response still completes the request */
			m->type = PSC_MSG_OTHER;
			no_body = true;
		} else {
			m->type = PSC_MSG_RESPONSE;
			no_body = head_pop(s) || m->status == 204 || m->status == 304;
		}
	}

	p = line_end(buf, len, 0);
	if (!p)
		return ext;
	if (flow == PSC_FLOW_TO_SERVER) {
		/* HTTP/2's preface and HTTP/0.9 are not this parser's business */
		const uint8_t *v = buf + p - ((p >= 2 && buf[p - 2] == '\r') ? 2 : 1);
		if (v < buf + 9 || memcmp(v - 8, "HTTP/1.", 7) != 0)
			return ext;
	}
	for (;;) {
		size_t e = line_end(buf, len, p);
		if (!e)
			return ext;
		if (e - p == 1 || (e - p == 2 && buf[p] == '\r'))
			break;
		if (has_prefix_ci(buf + p, e - p, "content-length:")) {
			uint64_t v = 0;
			if (!parse_length(buf + p + 15, e - 1 - p - 15, &v) ||
			    (has_clen && v != clen))
				bad_clen = true;
			has_clen = true;
			clen = v;
		} else if (has_prefix_ci(buf + p, e - p, "transfer-encoding:")) {
			chunked = has_token_ci(buf + p + 18, e - p - 18, "chunked");
		}
		p = e;
	}
	ext.hdr_end = line_end(buf, len, p);
	if (no_body) {
		ext.end = ext.hdr_end;
	} else if (chunked) {
		ext.end = chunked_end(buf, len, ext.hdr_end);
	} else if (bad_clen) {
		ext.end = BODY_UNKNOWN;
	} else if (has_clen) {
		ext.end = ext.hdr_end + clen;
	} else if (flow == PSC_FLOW_TO_SERVER) {
		ext.end = ext.hdr_end;
	} else {
		ext.until_close = true;
	}
	return ext;
}

static int parse(struct psc_proto_state *state, enum psc_flow flow, const uint8_t *buf, size_t len,
		 size_t full_len, struct psc_msg *out, size_t max_out)
{
	struct http_state *s;
	unsigned f = flow == PSC_FLOW_TO_CLIENT;
	uint64_t left;
	size_t pos = 0, n = 0;

	if (!state || !buf || (unsigned)flow > PSC_FLOW_TO_CLIENT)
		return -EBADMSG;
	s = (struct http_state *)state->bytes;
	if (full_len < len)
		full_len = len;
	left = s->body_left[f];
	s->body_left[f] = 0;
	if (left) {
		/* A new message at the very start wins over our count: the previous one had no
		 * body after all (a HEAD we did not see, a miscounted length). */
		if (left >= full_len) {
			if (!starts_msg(buf, len, flow)) {
				s->body_left[f] = left - full_len;
				return 0;
			}
		} else if (left < len && starts_msg(buf + left, len - left, flow)) {
			pos = left;
		} else if (!starts_msg(buf, len, flow)) {
			return 0;
		}
	}
	if (!starts_msg(buf + pos, len - pos, flow))
		return s->seen ? 0 : -EBADMSG;
	s->seen = 1;

	while (pos < len && starts_msg(buf + pos, len - pos, flow)) {
		struct psc_msg scratch, *m = n < max_out ? &out[n] : &scratch;
		struct http_extent ext = parse_one(s, flow, buf + pos, len - pos, m);
		uint64_t end;

		n++;
		if (ext.end == BODY_UNKNOWN) {
			/* Cannot tell where the next message starts: a later head resyncs on a
			 * start line. */
			m->truncated = !ext.until_close || full_len > len;
			break;
		}
		end = pos + ext.end;
		if (end > len) {
			m->truncated = true;
			if (end > full_len)
				s->body_left[f] = end - full_len;
			break;
		}
		/* A response with a body length but no body (HEAD we did not see): the next
		 * status line follows right after the headers. */
		if (flow == PSC_FLOW_TO_CLIENT && end < len && ext.end > ext.hdr_end &&
		    !starts_msg(buf + end, len - end, flow) &&
		    starts_msg(buf + pos + ext.hdr_end, len - pos - ext.hdr_end, flow))
			end = pos + ext.hdr_end;
		pos = end;
	}
	return n < max_out ? (int)n : (int)max_out;
}

const struct psc_proto_ops psc_proto_http_ops = {
	.proto = PSC_PROTO_HTTP,
	.name = "http",
	.detect = detect,
	.parse = parse,
};
