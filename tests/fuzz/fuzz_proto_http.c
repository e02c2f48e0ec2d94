// SPDX-License-Identifier: MIT
/* libFuzzer entry point for the HTTP/1.x parser; what one input exercises, and the layout
 * that the corpus in fuzz/corpus/proto_http/ follows, is told in tests/support/fuzz_parser.h. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	psc_fuzz_parser(&psc_proto_http_ops, data, size);
	return 0;
}
