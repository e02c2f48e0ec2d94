/* SPDX-License-Identifier: MIT */
/* HTTP/1.x parser (psc_proto_http_ops, declared in proto.h) and its path templating,
 * exposed so that tests can check the templating rules on their own.
 *
 * Per connection the parser remembers, for each flow, how many body bytes of the last
 * message are still to come in later syscalls, and which outstanding requests were HEAD
 * (their responses carry a Content-Length but no body). A head that does not start with
 * a request or status line on a connection already seen as HTTP is taken as body
 * continuation and yields 0 messages, not -EBADMSG.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Writes the endpoint template of the request target @target[0..@n) into @dst (capacity
 * @cap >= 1), NUL-terminated, and returns its length:
 *  - the query string and fragment are dropped; so are ";params" inside a segment;
 *  - an absolute URI ("http://host/path") is reduced to its path, "/" when it has none;
 *  - a path segment becomes "{id}" when it is all digits, a UUID, a hex id (>= 8 hex
 *    characters, at least one a digit), digit-heavy (>= 6 characters of which >= 4 and
 *    at least half are digits), a long token (>= 16 characters with >= 2 digits), or
 *    contains '@';
 *  - control and non-ASCII bytes become '?';
 *  - the result is cut to @cap - 1 bytes, never in the middle of "{id}".
 * @target may be a prefix of the real target (cut by the head): the last segment is then
 * judged on what is visible. */
size_t psc_http_path_template(char *dst, size_t cap, const uint8_t *target, size_t n);
