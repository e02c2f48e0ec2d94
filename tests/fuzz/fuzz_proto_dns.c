// SPDX-License-Identifier: MIT
/* Fuzz entry point for the DNS parser: detect() both ways, then parse() the input as a
 * whole message and as the head of a longer one, checking the output contract. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static void check_msgs(const struct psc_msg *out, int n, size_t max_out)
{
	if (n < 0)
		return;
	if ((size_t)n > max_out)
		abort();
	for (int i = 0; i < n; i++) {
		if (memchr(out[i].endpoint, '\0', PSC_ENDPOINT_MAX) == NULL)
			abort();
		if (out[i].type != PSC_MSG_REQUEST && out[i].endpoint[0] != '\0')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct psc_proto_ops *ops = &psc_proto_dns_ops;
	struct psc_proto_state state;
	struct psc_msg out[PSC_MSGS_PER_HEAD];
	static const size_t max_outs[] = { 1, PSC_MSGS_PER_HEAD };
	int n;

	(void)ops->detect(data, size, PSC_FLOW_TO_SERVER);
	(void)ops->detect(data, size, PSC_FLOW_TO_CLIENT);
	for (size_t i = 0; i < sizeof(max_outs) / sizeof(max_outs[0]); i++) {
		memset(&state, 0, sizeof(state));
		n = ops->parse(&state, PSC_FLOW_TO_SERVER, data, size, size, out, max_outs[i]);
		check_msgs(out, n, max_outs[i]);
		n = ops->parse(&state, PSC_FLOW_TO_CLIENT, data, size, size + 1000, out,
			       max_outs[i]);
		check_msgs(out, n, max_outs[i]);
	}
	return 0;
}
