/* SPDX-License-Identifier: MIT */
/* Enforcement of signed adjustments (DESIGN.md section 6): every SignedAdjustment that
 * arrives on an ack is verified (signature, host, expiry, id order), passed through the
 * guards (agent/guard.h) and applied by the actuator (agent/actuator.h), or only logged
 * in dry-run mode. Every file written is logged (AGENT-ENFORCE-WRITE: old value, new
 * value, value read back, the adjustment's id and reason); every adjustment gets one
 * AdjustmentOutcome, queued for the next HostReport, and is counted by result.
 *
 * Re-deliveries: the aggregator re-sends an adjustment on every ack until an outcome for
 * it is stored, so an id already handled is ignored silently (counted as redelivered),
 * and a refusal is reported once per (id, result).
 *
 * State: the highest accepted id, the recently handled ids and, per cgroup changed, the
 * values before the first change (for revert) and when each resource was last changed
 * (for the cooldown) live in @state_dir/enforce.state (JSON, written to a temporary file,
 * fsync'ed and renamed over the old one), so a restarted agent refuses replays and knows
 * what it applied.
 *
 * Daemon code: logs, not thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actuator.h"
#include "cgroupfs.h"
#include "guard.h"
#include "keys.h"
#include "prescient.pb-c.h"

#define PSC_ENFORCE_STATE_FILE "enforce.state"
/* Outcomes waiting for a report; past this the oldest are dropped (and counted). */
#define PSC_ENFORCE_OUTCOMES_MAX 1024
/* Prescient__AdjustmentOutcome__Result values are below this. */
#define PSC_ENFORCE_RESULTS 10

struct psc_enforce_config {
	const char *host_id;			  /* copied */
	uint8_t sign_pk[PSC_SIGN_PK_BYTES];	  /* the aggregator's signing.pub */
	const char *state_dir;			  /* NULL: nothing persisted (tests) */
	struct psc_guard_config guard;		  /* prefixes borrowed: must outlive */
	bool dry_run;				  /* log and report, never write */
	struct psc_actuator *actuator;		  /* borrowed */
	const struct psc_cgroupfs_layout *layout; /* memory usage reads; copied */
	/* Egress rate limits (Targets.egress_bytes_per_s): returns 0 or a negative errno.
	 * NULL: refused with "egress rate limiting unavailable". */
	int (*set_egress)(void *ctx, const char *cgroup, uint64_t bytes_per_s);
	void *egress_ctx;
	double (*now)(void); /* Unix seconds; NULL = CLOCK_REALTIME */
};

struct psc_enforce_counters {
	uint64_t results[PSC_ENFORCE_RESULTS]; /* outcomes by Prescient result value */
	uint64_t writes;		       /* cgroup files written */
	uint64_t write_failures;
	uint64_t redelivered; /* handled before: ignored */
	uint64_t outcomes_dropped;
};

struct psc_enforce;

/* Loads the state file if there is one. Returns 0 with *@out owned by the caller
 * (psc_enforce_free()); -EINVAL (bad config), -ENOMEM, -EBADMSG (a state file that does
 * not parse: refused rather than forgetting which ids were used), or -errno reading it;
 * logged. *@out untouched on failure. */
int psc_enforce_new(struct psc_enforce **out, const struct psc_enforce_config *c);
void psc_enforce_free(struct psc_enforce **e);

/* A configuration reload: from now on @guard (prefixes borrowed: must outlive @e or the
 * next call) and @dry_run apply. The state (ids, values before changes, cooldowns) is
 * kept. Returns 0, or -EINVAL for NULL arguments or a guard whose steps are not
 * step_down < 1 < step_up (nothing changed). */
int psc_enforce_reconfigure(struct psc_enforce *e, const struct psc_guard_config *guard,
			    bool dry_run);

/* Handles one signed adjustment as received. Returns the outcome's result
 * (PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__*), or 0 (UNKNOWN) when it was a re-delivery
 * of something already handled (no outcome queued). */
int psc_enforce_handle(struct psc_enforce *e, const Prescient__SignedAdjustment *sa);

/* The outcomes waiting for a report, oldest first: *@list (owned by @e) stays valid until
 * the next call on @e. Returns their number. */
size_t psc_enforce_outcomes(struct psc_enforce *e, Prescient__AdjustmentOutcome ***list);
/* The first @n outcomes went into a spooled report: forget them. */
void psc_enforce_outcomes_sent(struct psc_enforce *e, size_t n);

/* Restores every value changed since the state began (the values before the first
 * change), logs each write (AGENT-ENFORCE-REVERT) and forgets them. Returns 0, or -EIO
 * when some could not be restored (those stay recorded). */
int psc_enforce_revert_all(struct psc_enforce *e);

const struct psc_enforce_counters *psc_enforce_counters(const struct psc_enforce *e);
/* The highest adjustment id accepted so far (persisted). */
uint64_t psc_enforce_last_id(const struct psc_enforce *e);
/* "applied", "dry_run", "refused_guard", "expired", "bad_signature", "replayed",
 * "failed", "reverted", "wrong_host"; "unknown" otherwise. */
const char *psc_enforce_result_name(int result);
