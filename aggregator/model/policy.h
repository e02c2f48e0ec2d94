/* SPDX-License-Identifier: MIT */
/* Policy: turns a sized need into the limit to set, one step at a time, with the safety
 * rules of DESIGN.md section 6. Pure code over a small state; one state per workload and
 * resource.
 *
 * Every step, with target = need * (1 + margin) clamped to [min, max]:
 *  - a user constraint (fixed > 0) wins: the limit is fixed, whatever the model says;
 *  - the first step sets the limit to the target;
 *  - raise at once when the target is above the limit (the need already covers the lead
 *    window, so the raise comes before the predicted peak), at most by a factor max_up
 *    per change;
 *  - lower only with hysteresis: when the target has stayed below lower_below x limit
 *    for `hold` consecutive steps and no change happened in the last `cooldown` steps;
 *    then to the highest target of those steps (not below limit x max_down per change).
 * Tiers: the baseline is the guaranteed share (a low quantile of the need, set by the
 * caller), the predictive tier is the limit, and burst headroom is limit x burst. A
 * workload's tier says where its predicted need sits: "baseline" when it is within the
 * guaranteed share, "predictive" when above it, "burst" when it exceeds the limit (it is
 * running on burst headroom until the next raise). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct psc_policy_cfg {
	double margin;	    /* limit = need * (1 + margin); default 0 */
	double lower_below; /* default 0.9 */
	uint32_t hold;	    /* steps below lower_below before lowering; default 2 */
	uint32_t cooldown;  /* steps after a change before a lowering; default 1 */
	double max_up;	    /* > 1, or 0 = unbounded; default 0 (raises are never held back) */
	double max_down;    /* in (0, 1]; default 0.5 */
	double min, max;    /* bounds of the limit; 0 = none */
	double fixed;	    /* > 0: a user constraint that pins the limit */
	double burst;	    /* burst headroom factor, >= 1; default 1.25 */
};

void psc_policy_cfg_default(struct psc_policy_cfg *cfg);
/* 0 or -EINVAL with the offending field named in *@field. */
int psc_policy_cfg_check(const struct psc_policy_cfg *cfg, const char **field);

struct psc_policy_state {
	double limit;	      /* 0 before the first step */
	double low_peak;      /* highest target during the current low run */
	uint32_t low_run;     /* consecutive steps with target < lower_below * limit */
	uint32_t since_change;
	uint64_t changes;
};

enum psc_policy_action {
	PSC_POLICY_KEEP,
	PSC_POLICY_SET,	  /* first limit */
	PSC_POLICY_RAISE,
	PSC_POLICY_LOWER,
	PSC_POLICY_FIXED, /* the user constraint (set or kept) */
};

/* One step with the need sized for the coming lead window (finite, >= 0). Updates @st
 * and returns what was done; st->limit is the limit to apply. */
enum psc_policy_action psc_policy_step(const struct psc_policy_cfg *cfg,
				       struct psc_policy_state *st, double need);

enum psc_tier { PSC_TIER_BASELINE, PSC_TIER_PREDICTIVE, PSC_TIER_BURST };

enum psc_tier psc_policy_tier(double need, double baseline, double limit);
const char *psc_tier_name(enum psc_tier t);
const char *psc_policy_action_name(enum psc_policy_action a);
