/* SPDX-License-Identifier: MIT */
/* Connection tracking in user space: turns the kernel's data and close events into
 * parsed requests and responses, pairs them for latency, and feeds the window.
 *
 * A connection is a (tgid, fd) socket. Its protocol is detected from its first heads
 * (port as a tie-breaker) and then sticks until the parser says the bytes are not its
 * protocol. Requests wait in a bounded FIFO for their responses (protocols here answer
 * in order on one connection); when the FIFO is full the oldest request is dropped from
 * pairing (still counted) and the drop is counted. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "events.h"
#include "window.h"

#define PSC_CONN_PENDING 32
#define PSC_CONN_DETECT_TRIES 4

struct psc_conn_counters {
	uint64_t data_events;
	uint64_t close_events;
	uint64_t requests;
	uint64_t responses;
	uint64_t unpaired_responses; /* a response with no request waiting (missed request) */
	uint64_t pending_dropped;    /* requests pushed out of a full FIFO */
	uint64_t parse_resets;	     /* the parser rejected bytes of a detected connection */
	uint64_t conns_swept;	     /* connections of processes that exited without close */
	uint64_t links;		     /* server connections whose client end is mirrored */
};

struct psc_conn_table;

/* The table feeds @window, which must outlive it. */
int psc_conn_table_new(struct psc_conn_table **out, struct psc_window *window);
void psc_conn_table_free(struct psc_conn_table **t);

/* @data holds @hdr->cap_len bytes. */
void psc_conn_on_data(struct psc_conn_table *t, const struct psc_event_hdr *hdr,
		      const uint8_t *data);
void psc_conn_on_close(struct psc_conn_table *t, const struct psc_event_hdr *hdr);
/* @hdr names a server connection whose client end (@link) is on this host and no longer
 * captured: from now on its requests, responses and socket bytes are mirrored onto the
 * client's workload (role client), taking over what the client's own events had counted
 * and not yet seen answered. Ends the client connection's own tracking. */
void psc_conn_on_link(struct psc_conn_table *t, const struct psc_event_hdr *hdr,
		      const struct psc_link *link);

/* Forgets connections of processes for which @alive returned false at this sweep and at
 * the one before: call it with the event source drained in between, so that the last
 * events of a process that just exited are still paired with its connection. */
void psc_conn_sweep(struct psc_conn_table *t, bool (*alive)(uint32_t tgid, void *ctx), void *ctx);

size_t psc_conn_count(const struct psc_conn_table *t);
const struct psc_conn_counters *psc_conn_counters(const struct psc_conn_table *t);
