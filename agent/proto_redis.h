/* SPDX-License-Identifier: MIT */
/* Redis RESP2/RESP3 parser (psc_proto_redis_ops, declared in proto.h).
 *
 * Requests: arrays of bulk strings and inline commands; the endpoint is the upper-cased
 * command, plus the subcommand for container commands ("CONFIG GET", "CLIENT SETNAME").
 * A request whose command name the head cuts is not reported. Responses: one message per
 * top-level reply (an attribute and the reply it precedes are one); `-` and `!` replies
 * set error; RESP3 pushes (`>`) are PSC_MSG_OTHER.
 *
 * Per connection and flow the parser remembers where the last reply or command stands
 * when it continues past its syscall (bulk bytes still to skip, elements still expected
 * per nesting level, at most 16 levels), so the next head is read from the right place.
 * When the head ends before the syscall does with the parser outside a bulk payload,
 * the position is lost: the next head is parsed only if it starts a message (requests
 * also resync on a "*<digit>" after a line end) and yields 0 otherwise. Garbage while in
 * sync resets the state and returns -EBADMSG.
 *
 * Limits taken as "not Redis": more than 2^20 request arguments, a request bulk string
 * over 512 MiB, a reply bulk over 4 GiB, a reply aggregate over 2^31 elements, RESP3
 * streamed strings/aggregates ("$?", "*?").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Is @name[0..@n) (any case) a Redis command name known to this parser? */
bool psc_redis_known_command(const char *name, size_t n);
