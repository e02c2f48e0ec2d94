/* SPDX-License-Identifier: MIT */
/* Ingest: request frames in, one reply frame out per request. Verifies and decodes each
 * sealed report, stores a batch of them in one transaction (group commit:
 * psc_store_batch_*()), and only after the COMMIT has returned builds the sealed Acks
 * (host, seq, status, pending signed adjustments for the host).
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
	atomic_uint_least64_t model_cycle_us;	/* the last modeling cycle's wall time */
	atomic_uint_least64_t model_workloads;	/* workloads the modeling cycle holds */
	atomic_uint_least64_t model_cycles;	/* modeling cycles run */
	atomic_uint_least64_t adjustments_issued; /* signed adjustments queued by the allocation */
	atomic_uint_least64_t alerts;		/* alerts written by the allocation */
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

/* One request of a batch: @frame/@len are the caller's (borrowed); on return *reply is a
 * malloc'ed frame owned by the caller (NULL only if even a refusal could not be built)
 * and @reason says what happened, as for psc_ingest_frame(). */
struct psc_ingest_req {
	const uint8_t *frame;
	size_t len;
	uint8_t *reply;
	size_t reply_len;
	enum psc_wire_reason reason;
};

/* Handles @n requests received at @now with one store transaction: every report that
 * decodes is stored in it, the transaction commits, and only then are the acks built, so
 * a reply that acknowledges a report always follows the commit that made it durable. If
 * the commit fails, every report of the batch gets the `store` refusal (nothing of it is
 * stored). Returns 0, or -ENOMEM when some request got no reply (its reply is NULL). */
int psc_ingest_batch(struct psc_ingest *ing, struct psc_ingest_req *req, size_t n, double now);

/* Serves one batch on a raw nanomsg REP socket (AF_SP_RAW, NN_REP): takes every request
 * queued (up to 256) without waiting, handles them with psc_ingest_batch() (one commit)
 * and replies to each through its own backtrace header. Call it whenever NN_RCVFD is
 * readable: that fd stays readable while requests remain, so requests that arrived during
 * the commit make the next batch, and the caller's loop still gets to its timers and
 * signals between batches. The batch is as large as the load makes it: one request when
 * idle (no added latency), many under load (one fsync for all). Returns 0, or the negative
 * errno of a receive error other than EAGAIN/EINTR. */
int psc_ingest_serve(struct psc_ingest *ing, int sock);
