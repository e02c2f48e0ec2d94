/* SPDX-License-Identifier: MIT */
/* The agent's guards on adjustments (DESIGN.md section 6): whatever the aggregator says,
 * the agent only touches what the operator allowed, and only in small, safe steps. Pure
 * decision code: no I/O, no clock, no logging; the caller reads the cgroup and writes.
 *
 * Rules, in this order, per resource the adjustment sets:
 *  1. Prefix: the cgroup must be under a managed prefix, component-wise ("/demo" manages
 *     "/demo" and "/demo/x", not "/demo2"; "/" manages everything). No prefix: nothing
 *     is managed (observe only). Otherwise the whole adjustment is refused.
 *  2. Step: when the current value is a finite, non-zero limit, the new one is kept within
 *     [current * step_down, current * step_up] (0.5x..2x). From "no limit" (or 0) any
 *     value is one step.
 *  3. CPU floor: cpu_max is at least cpu_min_ucores (0.01 cores); cpu_weight is clamped to
 *     1..10000 (these win over the step).
 *  4. Memory floor: memory_high and memory_max are never below current usage + margin,
 *     margin = max(margin_min_bytes, usage * margin_ratio): the value is clamped up (this
 *     wins over the step bound: safety first). Unknown usage refuses the resource.
 *  5. Cooldown: a resource changed less than cooldown_s ago is not LOWERED (skipped);
 *     raises are never delayed, so a workload that needs more is never kept waiting.
 *  6. A value equal to the current one is not written.
 * A resource whose current value cannot be read is skipped (nothing to compare with).
 * When no resource is left to write and some were skipped, the adjustment is refused
 * with the reasons. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroupfs.h"

struct psc_guard_config {
	const char *const *prefixes; /* managed prefixes (borrowed); none = observe only */
	size_t n_prefixes;
	uint64_t margin_min_bytes; /* 64 MiB */
	double margin_ratio;	   /* 0.10 */
	double step_up;		   /* 2.0: at most current * step_up */
	double step_down;	   /* 0.5: at least current * step_down */
	double cooldown_s;	   /* 30 s between a change and a lowering of it */
	uint64_t cpu_min_ucores;   /* 10000 (0.01 cores) */
};

/* The defaults above, with no prefix. */
struct psc_guard_config psc_guard_config_default(void);

/* Is @cgroup under one of @c's prefixes (component-wise; a prefix's trailing '/' is
 * ignored)? */
bool psc_guard_managed(const struct psc_guard_config *c, const char *cgroup);

struct psc_guard_input {
	const char *cgroup;
	const struct psc_cgroup_limits *want;	 /* the adjustment's targets (present = set) */
	const struct psc_cgroup_limits *current; /* read from the cgroup */
	bool has_mem_usage;
	uint64_t mem_usage_bytes;
	const double *last_change; /* [_PSC_RES_MAX]: when each was last changed, 0 = never */
	double now;
};

enum psc_guard_action {
	PSC_GUARD_NONE,	     /* not asked */
	PSC_GUARD_WRITE,     /* write as asked */
	PSC_GUARD_CLAMPED,   /* write, clamped (note says why) */
	PSC_GUARD_SKIP,	     /* refused for this resource (note says why) */
	PSC_GUARD_UNCHANGED, /* already in effect */
};

struct psc_guard_decision {
	bool refused; /* nothing to write; reason says why */
	char reason[256];
	struct psc_cgroup_limits write; /* what to write (present = write it) */
	struct {
		enum psc_guard_action action;
		uint64_t asked;
		char note[96];
	} res[_PSC_RES_MAX];
};

/* Decides what to write for @in under @c into @out (always fully written). Returns 0, or
 * -EINVAL for NULL arguments. */
int psc_guard_decide(const struct psc_guard_config *c, const struct psc_guard_input *in,
		     struct psc_guard_decision *out);
