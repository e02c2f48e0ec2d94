/* SPDX-License-Identifier: MIT */
/* Test support: the body of every protocol parser fuzz target (tests/fuzz/fuzz_proto_*.c).
 *
 * One input is fed to a parser in every way the agent can present bytes to it:
 *  - detect() on the whole input, in both flows;
 *  - parse() of the whole input as one message, as the head of a syscall 7 bytes longer,
 *    and its first 128 bytes at most as the head of a syscall 1000 bytes longer, in both
 *    flows with a fresh state, and once each way with one state; with max_out 1, 3 and
 *    PSC_MSGS_PER_HEAD;
 *  - in both flows, one per-connection state reused across: the input's first 256 bytes as
 *    the head of the whole, then the input as a stream of syscalls of (data[0] % 64 + 1)
 *    bytes of which 16-byte heads are seen;
 *  - the input as a conversation: a 1-byte head size (data[0] * 4, 0 meaning 65536), then
 *    records of [flow+length (2 bytes, big endian: top bit = server to client, low 15 bits =
 *    the syscall's length)] + that many bytes (fewer if the input ends first), each parsed
 *    as the head of one syscall with one state, so that framing carries, statement tables
 *    and request/response pairing are exercised. A raw input that does not follow this
 *    layout is still a valid one.
 * Every head is copied into an exact-size heap buffer first, so that a sanitizer catches any
 * read past its length.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Runs @data[0..@size) through @ops as described above. Returns only when the parser kept
 * its contract (proto.h) every time: a result of -EBADMSG or 0..max_out, NUL-terminated
 * endpoints, no endpoint on anything but a request; aborts otherwise (and on allocation
 * failure), which the fuzzer reports as a crash. */
void psc_fuzz_parser(const struct psc_proto_ops *ops, const uint8_t *data, size_t size);
