/* SPDX-License-Identifier: MIT */
/* Ingest: one request frame in, one reply frame out. Verifies and decodes the sealed
 * report, stores it (psc_store_report(), which commits before returning), and only then
 * builds the sealed Ack (host, seq, status, pending signed adjustments for the host).
 *
 * Every request gets a reply, so that a REQ peer is never stuck:
 *  - stored now:             Ack OK
 *  - stored before:          Ack DUPLICATE (counted as duplicate, not stored again)
 *  - older than the ledger:  Ack STALE (acked so the agent drops it; not stored)
 *  - unknown dictionary ref: Ack RESEND_DICT (not stored: resend with strings inline)
 *  - a frame that cannot be opened or decoded (bad key, corrupt, oversized, bomb, unknown
 *    version), or a store failure: the unauthenticated refusal frame of proto/wire.h with
 *    the reason; the agent keeps the report and retries later.
 * Every refusal is counted by reason and logged, at most a few lines per reason per
 * minute (the rest are counted and summarised). Runs on the daemon's thread; the
 * counters are atomics read by the metrics thread. */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "store.h"
#include "wire.h"

struct psc_ingest_counters {
	atomic_uint_least64_t received;	  /* request frames, whatever became of them */
	atomic_uint_least64_t stored;	  /* reports committed */
	atomic_uint_least64_t duplicate;  /* reports acked again, not stored */
	atomic_uint_least64_t bytes;	  /* request bytes received */
	atomic_uint_least64_t refused[_PSC_REFUSE_MAX];
	atomic_uint_least64_t agents_connected; /* hosts heard from recently (the daemon sets it) */
	atomic_uint_least64_t heartbeat;	/* CLOCK_MONOTONIC s of the loop's last tick */
	atomic_uint_least64_t maint_rolled_up;	/* buckets recomputed */
	atomic_uint_least64_t maint_deleted;	/* rows removed by retention */
};

struct psc_ingest_options {
	struct psc_wire_limits limits;
	size_t max_adjustments; /* per ack; default 16 */
};

struct psc_ingest;

/* @store, @keys and @counters are borrowed and must outlive the ingest; @keys must hold
 * the fleet key. @opt NULL = defaults. Errors: -ENOMEM. */
int psc_ingest_new(struct psc_ingest **out, struct psc_store *store, const struct psc_keys *keys,
		   const struct psc_ingest_options *opt, struct psc_ingest_counters *counters);
void psc_ingest_free(struct psc_ingest **ing);

/* Handles one request of @len bytes received at @now (Unix seconds). On success *reply is
 * a malloc'ed frame owned by the caller, to be sent back to the requester; *reason says
 * what happened (PSC_REFUSE_NONE = stored now). Returns 0, or -ENOMEM when not even a
 * reply could be built. */
int psc_ingest_frame(struct psc_ingest *ing, const uint8_t *frame, size_t len, double now,
		     uint8_t **reply, size_t *reply_len, enum psc_wire_reason *reason);
