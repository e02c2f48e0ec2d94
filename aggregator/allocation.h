/* SPDX-License-Identifier: MIT */
/* Predictive allocation run live (DESIGN.md sections 5 and 6): sizing, policy, signed
 * adjustments, explained alerts, the provisioning hook and feedback.
 *
 * Runs on the modeling thread. The modeling engine hands it every step it feeds
 * (psc_allocation_observe(), a psc_modeling observer); each cycle (psc_allocation_cycle())
 * it decides, for every workload the agents report as managed (WorkloadWindow.managed):
 *  - CPU and memory: a sizer (model/sizing.h: Monte Carlo over the forecast error paths at
 *    the configured confidence, the cluster-free prior being the workload's own rises
 *    while young) and a margin bandit over the policy (model/policy.h, model/bandit.h)
 *    per resource. Demand seen while throttled or OOM-killing is a lower bound: it is fed
 *    inflated by the throttled share and scored as censored.
 *  - when the policy raises, lowers or first sets a limit and it differs from the limit in
 *    effect (as the agent reported it) by more than min_change, and the workload has no
 *    adjustment still pending: a signed adjustment (cpu.max; memory.high with memory.max =
 *    high x burst) with an explanation (model/explain.h) and an alert row;
 *  - a shift the modeling engine detected (detections table) for a managed workload is
 *    acted on in the same cycle: upward CPU and request-rate shifts and any behaviour
 *    change (endpoint mix, bytes or CPU per request) re-size at once
 *    (no hysteresis, at least the current need); network shifts upwards get a temporary
 *    egress rate limit (usual rate x egress_factor for egress_hold_s, then cleared)
 *    unless egress_on_surge is 0, and so do request surges when it is 2; detections below the workload's
 *    feedback-adjusted threshold are ignored;
 *  - hosts whose predicted CPU (the sum of the workloads' 1-step p90 forecasts) or memory
 *    exceeds 90% of their capacity run the provisioning hook (an external command given
 *    a JSON description on stdin), at most once per host per hook_cooldown_s;
 *  - feedback rows (table feedback: alert or adjustment marked right or wrong) move the
 *    workload's thresholds: a wrong alert raises its detection threshold by 0.05 (at
 *    most 0.95), a wrong raise lowers its margin bias by 0.05, a wrong lowering raises
 *    it by 0.05 (within [-0.3, 0.5]); kept in workload_policy.
 *
 * Tables it owns (created if absent): alerts, feedback, workload_policy, allocation_state.
 * It writes adjustments through the store API (psc_store_adjustment_add()) on a
 * connection of its own. Ids of adjustments are unique and increasing: max(last id + 1,
 * now in microseconds), so they keep increasing even over a fresh database.
 *
 * Not thread-safe: one thread (the modeling thread). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "modeling.h"

struct psc_allocation_options {
	double confidence;	/* sizing confidence, (0.5, 1); default 0.99 */
	double lead_s;		/* the limit covers the predicted peak this far ahead; 300 */
	double expiry_s;	/* an adjustment is valid this long; 0 = 3 steps, >= 30 s */
	double min_change;	/* relative change below which nothing is issued; 0.05 */
	double cpu_min_cores;	/* floor of cpu.max; 0.05 */
	double mem_min_bytes;	/* floor of memory.high; 64 MiB */
	double burst;		/* memory.max = memory.high x burst; 1.25 */
	/* Temporary egress rate limits on surges: 0 never; 1 on a data-transfer (network)
	 * surge, the default; 2 also on an API/request surge (besides raising CPU). */
	int egress_on_surge;
	double egress_factor;	/* the temporary egress limit: usual rate x this; 2 */
	double egress_hold_s;	/* and how long it lasts; 600 */
	const char *hook;	/* provisioning hook command (sh -c); NULL = none */
	double hook_cooldown_s; /* per host; 1800 */
	double price_cpu_hour;	/* for the expected cost in explanations; NAN = none */
	double price_gb_hour;
	double detect_threshold; /* detections at or above are acted on; 0.5 */
	double season_s;	 /* as psc_modeling_options.season_s: 0 = detected */
};

struct psc_allocation_options psc_allocation_options_default(void);

struct psc_allocation_stats {
	size_t managed;	    /* managed workloads being sized */
	size_t adjustments; /* issued this cycle */
	size_t alerts;	    /* written this cycle */
	size_t hooks;	    /* provisioning hook runs started this cycle */
};

struct psc_allocation;

/* Opens @db_path (created and migrated by the store) with connections of its own and
 * creates its tables. @sign_sk signs the adjustments (the aggregator's signing key).
 * Returns 0, -EINVAL, -EIO (@err says why) or -ENOMEM. */
int psc_allocation_new(struct psc_allocation **out, const char *db_path,
		       const struct psc_allocation_options *opt,
		       const uint8_t sign_sk[PSC_SIGN_SK_BYTES], char *err, size_t errlen);
void psc_allocation_free(struct psc_allocation **a);

/* The psc_modeling observer: @ctx is the struct psc_allocation. */
void psc_allocation_observe(void *ctx, const struct psc_modeling_obs *o);

/* Decides and writes, at Unix time @now (see above). @st may be NULL. Returns 0 or -EIO /
 * -ENOMEM (the next cycle retries). */
int psc_allocation_cycle(struct psc_allocation *a, double now, struct psc_allocation_stats *st);
