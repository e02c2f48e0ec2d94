/* SPDX-License-Identifier: MIT */
/* Per-workload adaptation of the policy's margin and hold: a full-information bandit over
 * candidate settings, in the manner of Autopilot's ML recommender (Rzadca et al.,
 * EuroSys 2020): every arm runs its own copy of the policy (policy.h) on the same needs,
 * and each step every arm's limit is scored against the usage that followed:
 *
 *   cost += pinball(usage, limit) / scale + change_cost * [the arm changed its limit]
 *
 * with pinball at the configured confidence c (c * (usage - limit) when usage exceeds
 * the limit, (1 - c) * (limit - usage) otherwise: minimised in expectation by the c
 * quantile of demand, so overrun and slack are traded exactly as the confidence says),
 * scale a slow average of usage (costs are comparable across workloads), and costs
 * decayed with the configured half-life. The arm applied is the cheapest, kept until
 * another is cheaper by more than switch_margin of its cost (switching is itself a
 * change). Usage marked censored (the workload was throttled or pinned at its limit, so
 * demand was at least this) scores as an overrun of at least 10% for every arm whose
 * limit is not above it.
 *
 * Pure code in a fixed-size struct; no allocation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

#define PSC_BANDIT_MAX_ARMS 16

struct psc_bandit_cfg {
	double confidence;   /* pinball level, (0.5, 1) */
	double half_life;    /* steps */
	double change_cost;  /* per change, in units of the usage scale */
	double switch_margin; /* relative cost advantage needed to switch, >= 0 */
	size_t n_arms;	     /* 1..PSC_BANDIT_MAX_ARMS */
	double margin[PSC_BANDIT_MAX_ARMS];
	unsigned hold[PSC_BANDIT_MAX_ARMS];
};

/* Defaults: margins {-0.1, 0, 0.1, 0.25} x holds {1, 2, 6} steps, half-life @half_life
 * steps, change cost 0.005, switch margin 0.05. */
void psc_bandit_cfg_default(struct psc_bandit_cfg *cfg, double confidence, double half_life);

struct psc_bandit {
	struct psc_bandit_cfg cfg;
	struct psc_policy_cfg base; /* every arm's policy, with its margin and hold */
	struct psc_policy_state arm[PSC_BANDIT_MAX_ARMS];
	double cost[PSC_BANDIT_MAX_ARMS];
	size_t chosen;
	double scale;
	double limit; /* limit applied (the chosen arm's) */
	unsigned long long changes;
};

/* 0, or -EINVAL for a bad configuration. */
int psc_bandit_init(struct psc_bandit *b, const struct psc_bandit_cfg *cfg,
		    const struct psc_policy_cfg *base);

/* Scores every arm's limit in effect against the usage observed this step. */
void psc_bandit_observe(struct psc_bandit *b, double usage, bool censored);

/* Steps every arm's policy with the need for the coming lead window, picks the arm and
 * returns what happened to the applied limit (b->limit): KEEP, SET, RAISE, LOWER or
 * FIXED (a user constraint in @base wins for every arm). */
enum psc_policy_action psc_bandit_step(struct psc_bandit *b, double need);
