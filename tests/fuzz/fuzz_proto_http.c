// SPDX-License-Identifier: MIT
/* libFuzzer entry point for the HTTP/1.x parser: detect and parse in both flows, with a
 * fresh and a reused per-connection state, whole and as a head shorter than its syscall,
 * and as a stream cut into syscalls. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static const struct psc_proto_ops *ops = &psc_proto_http_ops;

static void check(int r, size_t max_out, const struct psc_msg *out)
{
	if (r != -EBADMSG && (r < 0 || (size_t)r > max_out))
		abort();
	for (int i = 0; i < r && (size_t)i < max_out; i++)
		if (memchr(out[i].endpoint, '\0', PSC_ENDPOINT_MAX) == NULL)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	struct psc_proto_state reused = { 0 };
	size_t cut = size ? data[0] % 64 + 1 : 1;

	for (int f = 0; f < 2; f++) {
		enum psc_flow flow = f ? PSC_FLOW_TO_CLIENT : PSC_FLOW_TO_SERVER;
		struct psc_proto_state fresh = { 0 };
		size_t head = size < 256 ? size : 256;

		ops->detect(data, size, flow);
		check(ops->parse(&fresh, flow, data, size, size, out, PSC_MSGS_PER_HEAD),
		      PSC_MSGS_PER_HEAD, out);
		memset(&fresh, 0, sizeof(fresh));
		check(ops->parse(&fresh, flow, data, head / 2, size + 1000, out, 3), 3, out);
		check(ops->parse(&reused, flow, data, head, size, out, PSC_MSGS_PER_HEAD),
		      PSC_MSGS_PER_HEAD, out);
		/* the same bytes as a stream of syscalls of @cut bytes, 16-byte heads */
		for (size_t p = 0; p < size; p += cut) {
			size_t n = size - p < cut ? size - p : cut;
			check(ops->parse(&reused, flow, data + p, n < 16 ? n : 16, n, out,
					 PSC_MSGS_PER_HEAD),
			      PSC_MSGS_PER_HEAD, out);
		}
	}
	return 0;
}
