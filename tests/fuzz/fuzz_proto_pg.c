// SPDX-License-Identifier: MIT
/* Fuzz target for the PostgreSQL parser. The input is a conversation: a 1-byte head size,
 * then records of [flow+length (2 bytes, big endian: top bit = server to client, low 15
 * bits = the syscall's length)] + that many bytes (fewer if the input ends first). Each
 * record is parsed as the head of one syscall with one per-connection state, so the
 * framing carry, statement table and request/response pairing are all exercised. A raw
 * input that does not follow this layout is still a valid one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct psc_proto_ops *ops = &psc_proto_pg_ops;
	struct psc_proto_state st;
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	size_t head, pos = 1;

	if (size < 1)
		return 0;
	head = data[0] ? data[0] * 4u : 65536;
	memset(&st, 0, sizeof(st));
	/* The whole input as one head, both ways, and detection. */
	ops->detect(data, size, PSC_FLOW_TO_SERVER);
	ops->detect(data, size, PSC_FLOW_TO_CLIENT);
	ops->parse(&st, PSC_FLOW_TO_SERVER, data, size, size, out, PSC_MSGS_PER_HEAD);
	memset(&st, 0, sizeof(st));
	ops->parse(&st, PSC_FLOW_TO_CLIENT, data, size, size + 7, out, PSC_MSGS_PER_HEAD);

	memset(&st, 0, sizeof(st));
	while (pos + 2 <= size) {
		enum psc_flow flow = (data[pos] & 0x80) ? PSC_FLOW_TO_CLIENT : PSC_FLOW_TO_SERVER;
		size_t full = ((size_t)(data[pos] & 0x7f) << 8) | data[pos + 1];
		size_t avail, len;
		int r;

		pos += 2;
		avail = size - pos < full ? size - pos : full;
		len = avail < head ? avail : head;
		/* Exact-size copy: ASan reports any read past len. */
		uint8_t *buf = malloc(len ? len : 1);
		if (!buf)
			abort();
		memcpy(buf, data + pos, len);
		r = ops->parse(&st, flow, buf, len, full, out, PSC_MSGS_PER_HEAD);
		free(buf);
		if (r > PSC_MSGS_PER_HEAD)
			abort();
		for (int k = 0; k < r; k++)
			if (strnlen(out[k].endpoint, PSC_ENDPOINT_MAX) == PSC_ENDPOINT_MAX)
				abort();
		pos += avail;
	}
	return 0;
}
