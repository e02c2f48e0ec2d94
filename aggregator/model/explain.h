/* SPDX-License-Identifier: MIT */
/* Plain-language explanations of adjustments and alerts (DESIGN.md section 6): what
 * changed, against which baseline, the prediction and its confidence, the expected cost,
 * and what was done. For example:
 *
 *   GET /api/orders is up 4.1x over its usual level (Tuesday 14:00). Predicted CPU of
 *   orders.service: 1.8 cores within 5 min (99% confidence), above its 1.0-core limit.
 *   Raised cpu.max to 2.1 cores (about $0.10/h).
 *
 * Pure formatting over facts the caller gathered; never fails (truncates to the buffer). */
#pragma once

#include <stddef.h>

enum psc_resource { PSC_RES_CPU, PSC_RES_MEMORY, PSC_RES_EGRESS };

enum psc_explain_action {
	PSC_EXPLAIN_RAISE,
	PSC_EXPLAIN_LOWER,
	PSC_EXPLAIN_SET,
	PSC_EXPLAIN_LIMIT_EGRESS, /* a temporary egress rate limit */
	PSC_EXPLAIN_CLEAR_EGRESS,
	PSC_EXPLAIN_ALERT_ONLY,	  /* nothing done (not managed, or a guard said no) */
};

struct psc_explain_facts {
	const char *workload;  /* display name (service name or cgroup path) */
	enum psc_resource resource;
	enum psc_explain_action action;
	const char *shift;     /* what moved, e.g. "GET /api/orders is up 4.1x over its usual
				* level"; NULL when the change comes from the forecast alone */
	double usual;	       /* the baseline level of the resource; NAN = unknown */
	const char *usual_when; /* e.g. "Tuesday 14:00"; NULL = none */
	double predicted;      /* the need at the confidence */
	double confidence;     /* e.g. 0.99 */
	double lead_s;	       /* the need covers this long ahead */
	double current_limit;  /* 0 = none */
	double new_limit;
	/* Why a new limit may sit below the prediction: the margin the policy chose over it
	 * (e.g. -0.1: a tighter limit has cost least against the usage so far; 0 = none) and
	 * the policy's maximum (0 = none). */
	double margin;
	double cap;
	const char *file;      /* e.g. "cpu.max" */
	double cost_per_hour;  /* expected cost at the new limit; NAN = no prices */
	const char *why_not;   /* for PSC_EXPLAIN_ALERT_ONLY: why nothing was done */
};

/* Writes the explanation into @buf (always NUL-terminated when @len > 0) and returns
 * the length it needed, like snprintf. */
size_t psc_explain(const struct psc_explain_facts *f, char *buf, size_t len);

/* A value of @r in its unit, human-sized: "1.8 cores", "512 MiB", "4.0 MB/s". */
void psc_explain_amount(enum psc_resource r, double v, char *buf, size_t len);
