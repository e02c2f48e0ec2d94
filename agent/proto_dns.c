// SPDX-License-Identifier: MIT
/* DNS (RFC 1035) over UDP, one datagram per message, and over TCP, each message behind a
 * 2-byte big-endian length (RFC 7766).
 *
 * Framing is decided per head, not per connection: a head is TCP-framed when its first two
 * bytes equal @len - 2 or @full_len - 2, or when a chain of length prefixes ends exactly at
 * @full_len (pipelined queries), and the header behind the prefix is plausible; anything
 * else is read as a bare message. A bare message is also what a TCP peer that writes the
 * prefix and the message in two syscalls produces: the 2-byte prefix alone yields nothing,
 * the next write parses as an unframed message. So no per-connection state is needed.
 *
 * Requests: endpoint "<QTYPE> <suffix>" from the first question. The suffix keeps the last
 * two labels of the lower-cased name, three when the second-to-last is a short label
 * (co.uk, com.au); names under in-addr.arpa and ip6.arpa collapse to that zone (addresses
 * are personal data), and Kubernetes service names to "svc.cluster.local". Opcodes other
 * than QUERY still yield a request ("UPDATE example.com") so that request/response pairing
 * on the connection stays in step.
 * Responses: status = RCODE (header bits only; an EDNS extended RCODE is not merged),
 * error = RCODE != 0, rows = ANCOUNT.
 */
#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DNS_HDR_LEN 12
#define DNS_NAME_MAX 255 /* wire octets, RFC 1035 2.3.4 */
#define DNS_PTR_HOPS 32	 /* compression pointers followed per name at most */
#define DNS_QD_MAX 4	 /* detect(): more questions than this is not a real query */

#define DNS_FLAG_QR 0x80 /* in byte 2 */
#define DNS_OPCODE(b2) (((b2) >> 3) & 0x0f)
#define DNS_FLAG_Z 0x40 /* in byte 3 */
#define DNS_RCODE(b3) ((b3) & 0x0f)

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* A name decoded from the wire: lower-cased text without the trailing dot ("" for the
 * root) and where each label starts in it, for the suffix rule. */
struct dns_name {
	char text[DNS_NAME_MAX + 1];
	size_t len;
	uint16_t label_off[128];
	uint8_t label_len[128];
	unsigned int labels;
};

/* Decodes the name at @pos of @msg, of which only @avail bytes are readable. On success
 * *@next is the offset just past the name as it sits at @pos (past the first pointer if
 * any). Returns 0, -ENODATA when the readable bytes end inside the name (a truncated
 * head), or -EBADMSG for a malformed name: reserved label types, a pointer that does not
 * point before the start of the labels it follows (so each jump goes strictly backwards
 * past everything read so far, which rules out loops; a name at the start of the question
 * section therefore cannot be compressed), more than DNS_PTR_HOPS pointers, or more than
 * 255 octets. Never reads at or past @avail. */
static int dns_name_read(const uint8_t *msg, size_t avail, size_t pos, struct dns_name *name,
			 size_t *next)
{
	size_t wire = 0, end = 0, segment = pos;
	unsigned int hops = 0;
	bool jumped = false;

	name->len = 0;
	name->labels = 0;
	name->text[0] = '\0';
	for (;;) {
		uint8_t c;

		if (pos >= avail)
			return -ENODATA;
		c = msg[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= avail)
				return -ENODATA;
			target = (size_t)(c & 0x3f) << 8 | msg[pos + 1];
			if (target < DNS_HDR_LEN || target >= segment || ++hops > DNS_PTR_HOPS)
				return -EBADMSG;
			if (!jumped) {
				end = pos + 2;
				jumped = true;
			}
			pos = segment = target;
			continue;
		}
		if (c & 0xc0) /* 0x40 (extended label, obsolete) and 0x80 are reserved */
			return -EBADMSG;
		wire += 1 + (size_t)c;
		if (wire > DNS_NAME_MAX)
			return -EBADMSG;
		if (c == 0) {
			if (!jumped)
				end = pos + 1;
			break;
		}
		if (pos + 1 + c > avail)
			return -ENODATA;
		if (name->labels >= sizeof(name->label_off) / sizeof(name->label_off[0]))
			return -EBADMSG;
		if (name->len)
			name->text[name->len++] = '.';
		name->label_off[name->labels] = (uint16_t)name->len;
		name->label_len[name->labels] = c;
		name->labels++;
		for (size_t i = 0; i < c; i++) {
			uint8_t b = msg[pos + 1 + i];

			if (b >= 'A' && b <= 'Z')
				b = (uint8_t)(b - 'A' + 'a');
			else if (b == '.' || b < 0x20 || b >= 0x7f)
				b = '?'; /* keeps labels unambiguous and the text printable */
			name->text[name->len++] = (char)b;
		}
		pos += 1 + c;
	}
	name->text[name->len] = '\0';
	*next = end;
	return 0;
}

static bool name_ends_with(const struct dns_name *name, const char *zone)
{
	size_t zl = strlen(zone);

	if (name->len < zl || strcmp(name->text + name->len - zl, zone) != 0)
		return false;
	return name->len == zl || name->text[name->len - zl - 1] == '.';
}

/* The part of @name an endpoint keeps; points into name->text or a static string. */
static const char *dns_name_suffix(const struct dns_name *name)
{
	static const char *const zones[] = { "in-addr.arpa", "ip6.arpa", "svc.cluster.local" };
	unsigned int keep;

	if (name->labels == 0)
		return ".";
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if (name_ends_with(name, zones[i]))
			return zones[i];
	keep = 2;
	if (name->labels >= 3 && name->label_len[name->labels - 2] <= 3)
		keep = 3;
	if (name->labels <= keep)
		return name->text;
	return name->text + name->label_off[name->labels - keep];
}

static const char *dns_qtype_name(uint16_t qtype, char *buf, size_t size)
{
	switch (qtype) {
	case 1:
		return "A";
	case 2:
		return "NS";
	case 5:
		return "CNAME";
	case 6:
		return "SOA";
	case 12:
		return "PTR";
	case 15:
		return "MX";
	case 16:
		return "TXT";
	case 28:
		return "AAAA";
	case 33:
		return "SRV";
	case 35:
		return "NAPTR";
	case 43:
		return "DS";
	case 48:
		return "DNSKEY";
	case 64:
		return "SVCB";
	case 65:
		return "HTTPS";
	case 251:
		return "IXFR";
	case 252:
		return "AXFR";
	case 255:
		return "ANY";
	case 257:
		return "CAA";
	default:
		snprintf(buf, size, "TYPE%u", qtype);
		return buf;
	}
}

static const char *dns_opcode_name(unsigned int opcode, char *buf, size_t size)
{
	switch (opcode) {
	case 1:
		return "IQUERY";
	case 2:
		return "STATUS";
	case 4:
		return "NOTIFY";
	case 5:
		return "UPDATE";
	default:
		snprintf(buf, size, "OPCODE%u", opcode);
		return buf;
	}
}

/* Checks the fixed header of a message with @avail readable bytes. Returns 0 or -EBADMSG. */
static int dns_header_check(const uint8_t *msg, size_t avail)
{
	if (avail < DNS_HDR_LEN)
		return -EBADMSG;
	/* Opcode 3 is unassigned and 7..15 are unassigned. */
	if (DNS_OPCODE(msg[2]) == 3 || DNS_OPCODE(msg[2]) > 6)
		return -EBADMSG;
	return 0;
}

/* Parses one message at @msg: @avail bytes readable, @msg_len bytes long. */
static int dns_parse_one(const uint8_t *msg, size_t avail, size_t msg_len, struct psc_msg *out)
{
	char tbuf[16], obuf[16], ep[PSC_ENDPOINT_MAX + 16];
	struct dns_name name;
	unsigned int opcode;
	uint16_t qdcount;
	size_t next;
	int r;

	if (dns_header_check(msg, avail) < 0)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->rows = -1;
	out->truncated = msg_len > avail;
	opcode = DNS_OPCODE(msg[2]);
	qdcount = be16(msg + 4);

	if (msg[2] & DNS_FLAG_QR) {
		out->type = PSC_MSG_RESPONSE;
		out->status = DNS_RCODE(msg[3]);
		out->error = out->status != 0;
		out->rows = be16(msg + 6);
		return 0;
	}

	out->type = PSC_MSG_REQUEST;
	if (qdcount == 0) {
		const char *verb = opcode ? dns_opcode_name(opcode, obuf, sizeof(obuf)) : "QUERY";

		psc_endpoint_copy(out->endpoint, verb, strlen(verb));
		return 0;
	}
	r = dns_name_read(msg, avail, DNS_HDR_LEN, &name, &next);
	if (r == -EBADMSG)
		return r;
	if (r == -ENODATA && !out->truncated)
		return -EBADMSG; /* the whole message is here: the name overruns it */
	if (r == -ENODATA) {
		/* The head ends inside the name: its last labels, the ones kept, are missing. */
		out->truncated = true;
		psc_endpoint_copy(out->endpoint, "? ?", 3);
		return 0;
	}
	if (next + 4 > avail) {
		if (!out->truncated)
			return -EBADMSG;
		snprintf(ep, sizeof(ep), "? %s", dns_name_suffix(&name));
	} else {
		const char *verb = opcode == 0
					   ? dns_qtype_name(be16(msg + next), tbuf, sizeof(tbuf))
					   : dns_opcode_name(opcode, obuf, sizeof(obuf));
		snprintf(ep, sizeof(ep), "%s %s", verb, dns_name_suffix(&name));
	}
	psc_endpoint_copy(out->endpoint, ep, strlen(ep));
	return 0;
}

/* Is @buf[0..@len) (of a write of @full_len bytes) a run of TCP length-prefixed messages? */
static bool dns_tcp_framed(const uint8_t *buf, size_t len, size_t full_len)
{
	size_t first, off = 0;

	if (len < 2)
		return false;
	first = be16(buf);
	if (first < DNS_HDR_LEN)
		return false;
	if (first + 2 == len || first + 2 == full_len)
		return true;
	/* Pipelined messages in one write: the prefixes must tile the write exactly. */
	while (off + 2 <= len && off < full_len) {
		size_t n = be16(buf + off);

		if (n < DNS_HDR_LEN)
			return false;
		off += 2 + n;
	}
	return off == full_len;
}

static int dns_parse(struct psc_proto_state *state, enum psc_flow flow, const uint8_t *buf,
		     size_t len, size_t full_len, struct psc_msg *out, size_t max_out)
{
	size_t off = 0;
	int n = 0, r;

	(void)state;
	(void)flow;
	if (!buf || !out || max_out == 0)
		return -EINVAL;
	if (full_len < len)
		full_len = len;
	if (len == 2 && full_len == 2)
		return 0; /* a TCP length prefix written on its own */

	if (!dns_tcp_framed(buf, len, full_len) || dns_header_check(buf + 2, len - 2) < 0) {
		r = dns_parse_one(buf, len, full_len, &out[0]);
		return r < 0 ? r : 1;
	}
	while (off + 2 <= len && (size_t)n < max_out) {
		size_t msg_len = be16(buf + off);
		size_t avail = len - off - 2;

		if (avail > msg_len)
			avail = msg_len;
		if (avail < DNS_HDR_LEN) {
			if (n == 0)
				return -EBADMSG;
			/* A later message whose header the head cut: count nothing for it. */
			break;
		}
		r = dns_parse_one(buf + off + 2, avail, msg_len, &out[n]);
		if (r < 0)
			return n ? n : r;
		n++;
		off += 2 + msg_len;
	}
	return n;
}

/* The conservative check of one unframed message at @msg (@avail readable bytes). */
static bool dns_detect_msg(const uint8_t *msg, size_t avail, enum psc_flow flow)
{
	struct dns_name name;
	uint16_t qdcount, ancount, nscount, arcount, qclass;
	bool response;
	size_t next;

	if (avail < DNS_HDR_LEN + 5)
		return false;
	response = msg[2] & DNS_FLAG_QR;
	if (response != (flow == PSC_FLOW_TO_CLIENT))
		return false;
	if (DNS_OPCODE(msg[2]) != 0 || (msg[3] & DNS_FLAG_Z))
		return false;
	qdcount = be16(msg + 4);
	ancount = be16(msg + 6);
	nscount = be16(msg + 8);
	arcount = be16(msg + 10);
	if (qdcount < 1 || qdcount > DNS_QD_MAX)
		return false;
	if (!response) {
		/* A query carries no answers; at most an OPT (+ TSIG) record. */
		if (ancount || nscount || arcount > 2 || DNS_RCODE(msg[3]))
			return false;
	} else if (DNS_RCODE(msg[3]) > 10) {
		return false;
	}
	if (dns_name_read(msg, avail, DNS_HDR_LEN, &name, &next) < 0 || next + 4 > avail)
		return false;
	qclass = be16(msg + next + 2);
	return qclass == 1 || qclass == 3 || qclass == 4 || qclass == 254 || qclass == 255;
}

static bool dns_detect(const uint8_t *buf, size_t len, enum psc_flow flow)
{
	if (!buf)
		return false;
	/* TCP: the prefix covers at least what the head holds (more when the head is cut) or
	 * is followed by another prefixed message; the header behind it must pass as well. */
	if (len >= 2 + DNS_HDR_LEN + 5 && be16(buf) >= DNS_HDR_LEN + 5) {
		size_t avail = len - 2 < be16(buf) ? len - 2 : be16(buf);

		if (dns_detect_msg(buf + 2, avail, flow))
			return true;
	}
	return dns_detect_msg(buf, len, flow);
}

const struct psc_proto_ops psc_proto_dns_ops = {
	.proto = PSC_PROTO_DNS,
	.name = "dns",
	.detect = dns_detect,
	.parse = dns_parse,
};
