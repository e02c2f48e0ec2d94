// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_parser.h"

#define STREAM_HEAD 16
#define WHOLE_HEAD 256
/* "The head of a longer syscall": the syscall moved this many bytes more. */
#define HEAD_EXTRA_SHORT 7
#define HEAD_EXTRA 1000

/* Parses @len bytes of @data from an exact-size copy and aborts unless the result keeps
 * the parser contract. */
static int parse(const struct psc_proto_ops *ops, struct psc_proto_state *st,
		 enum psc_flow flow, const uint8_t *data, size_t len, size_t full_len,
		 size_t max_out)
{
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	uint8_t *head = malloc(len ? len : 1);
	int r;

	if (!head)
		abort();
	memcpy(head, data, len);
	r = ops->parse(st, flow, head, len, full_len, out, max_out);
	free(head);
	if (r != -EBADMSG && (r < 0 || (size_t)r > max_out))
		abort();
	for (int i = 0; i < r; i++) {
		if (memchr(out[i].endpoint, '\0', PSC_ENDPOINT_MAX) == NULL)
			abort();
		if (out[i].type != PSC_MSG_REQUEST && out[i].endpoint[0] != '\0')
			abort();
	}
	return r;
}

/* Whole and as a head, each flow, fresh states, several max_out. */
static void fuzz_whole(const struct psc_proto_ops *ops, const uint8_t *data, size_t size)
{
	static const size_t max_outs[] = {1, 3, PSC_MSGS_PER_HEAD};
	size_t head = size < WHOLE_HEAD ? size : WHOLE_HEAD;
	struct psc_proto_state st;

	for (size_t i = 0; i < sizeof(max_outs) / sizeof(max_outs[0]); i++) {
		for (int f = 0; f < 2; f++) {
			enum psc_flow flow = f ? PSC_FLOW_TO_CLIENT : PSC_FLOW_TO_SERVER;

			memset(&st, 0, sizeof(st));
			parse(ops, &st, flow, data, size, size, max_outs[i]);
			memset(&st, 0, sizeof(st));
			parse(ops, &st, flow, data, size, size + HEAD_EXTRA_SHORT, max_outs[i]);
			memset(&st, 0, sizeof(st));
			parse(ops, &st, flow, data, head / 2, size + HEAD_EXTRA, max_outs[i]);
		}
		/* One state, the input seen once each way. */
		memset(&st, 0, sizeof(st));
		parse(ops, &st, PSC_FLOW_TO_SERVER, data, size, size, max_outs[i]);
		parse(ops, &st, PSC_FLOW_TO_CLIENT, data, size, size + HEAD_EXTRA, max_outs[i]);
	}
}

/* A reused state: a head of the whole, then the input as a stream of short syscalls. */
static void fuzz_stream(const struct psc_proto_ops *ops, const uint8_t *data, size_t size)
{
	struct psc_proto_state reused = {0};
	size_t cut = size ? data[0] % 64 + 1 : 1;
	size_t head = size < WHOLE_HEAD ? size : WHOLE_HEAD;

	for (int f = 0; f < 2; f++) {
		enum psc_flow flow = f ? PSC_FLOW_TO_CLIENT : PSC_FLOW_TO_SERVER;

		parse(ops, &reused, flow, data, head, size, PSC_MSGS_PER_HEAD);
		for (size_t p = 0; p < size; p += cut) {
			size_t n = size - p < cut ? size - p : cut;

			parse(ops, &reused, flow, data + p, n < STREAM_HEAD ? n : STREAM_HEAD, n,
			      PSC_MSGS_PER_HEAD);
		}
	}
}

/* The input as a recorded conversation (see fuzz_parser.h). */
static void fuzz_conversation(const struct psc_proto_ops *ops, const uint8_t *data,
			      size_t size)
{
	struct psc_proto_state st = {0};
	size_t head, pos = 1;

	if (size < 1)
		return;
	head = data[0] ? data[0] * 4u : 65536;
	while (pos + 2 <= size) {
		enum psc_flow flow = (data[pos] & 0x80) ? PSC_FLOW_TO_CLIENT : PSC_FLOW_TO_SERVER;
		size_t full = ((size_t)(data[pos] & 0x7f) << 8) | data[pos + 1];
		size_t avail, len;

		pos += 2;
		avail = size - pos < full ? size - pos : full;
		len = avail < head ? avail : head;
		parse(ops, &st, flow, data + pos, len, full, PSC_MSGS_PER_HEAD);
		pos += avail;
	}
}

void psc_fuzz_parser(const struct psc_proto_ops *ops, const uint8_t *data, size_t size)
{
	(void)ops->detect(data, size, PSC_FLOW_TO_SERVER);
	(void)ops->detect(data, size, PSC_FLOW_TO_CLIENT);
	fuzz_whole(ops, data, size);
	fuzz_stream(ops, data, size);
	fuzz_conversation(ops, data, size);
}
