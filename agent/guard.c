// SPDX-License-Identifier: MIT
#include "guard.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MIB (1024ull * 1024)

struct psc_guard_config psc_guard_config_default(void)
{
	return (struct psc_guard_config){
		.margin_min_bytes = 64 * MIB,
		.margin_ratio = 0.10,
		.step_up = 2.0,
		.step_down = 0.5,
		.cooldown_s = 30,
		.cpu_min_ucores = 10000,
	};
}

bool psc_guard_managed(const struct psc_guard_config *c, const char *cgroup)
{
	if (!c || !cgroup || cgroup[0] != '/')
		return false;
	for (size_t i = 0; i < c->n_prefixes; i++) {
		const char *p = c->prefixes[i];
		size_t n;

		if (!p || p[0] != '/')
			continue;
		n = strlen(p);
		while (n > 0 && p[n - 1] == '/')
			n--;
		if (n == 0)
			return true; /* "/" */
		if (strncmp(cgroup, p, n) == 0 && (cgroup[n] == '\0' || cgroup[n] == '/'))
			return true;
	}
	return false;
}

/* @v * @f as an integer, saturating. */
static uint64_t scale(uint64_t v, double f)
{
	double x = (double)v * f;

	return x >= 18446744073709549568.0 ? UINT64_MAX - 1 : (uint64_t)x;
}

static bool is_memory_limit(enum psc_res r)
{
	return r == PSC_RES_MEM_HIGH || r == PSC_RES_MEM_MAX;
}

static void decide_one(const struct psc_guard_config *c, const struct psc_guard_input *in,
		       enum psc_res r, struct psc_guard_decision *out)
{
	uint32_t bit = 1u << r;
	uint64_t v = in->want->v[r], cur = in->current->v[r];
	char *note = out->res[r].note;
	size_t nsz = sizeof(out->res[r].note);
	bool clamped = false;

	out->res[r].asked = v;
	if (!(in->current->present & bit)) {
		out->res[r].action = PSC_GUARD_SKIP;
		snprintf(note, nsz, "current value unreadable");
		return;
	}
	/* The step first: the floors below win over it. */
	if (cur != PSC_LIMIT_UNLIMITED && cur > 0) {
		uint64_t hi = scale(cur, c->step_up), lo = scale(cur, c->step_down);

		if (v > hi || v < lo) {
			v = v > hi ? hi : lo;
			clamped = true;
			snprintf(note, nsz, "step bounded to %gx..%gx of current", c->step_down,
				 c->step_up);
		}
	}
	if (r == PSC_RES_CPU_MAX && v < c->cpu_min_ucores) {
		v = c->cpu_min_ucores;
		clamped = true;
		snprintf(note, nsz, "raised to the %.2f-core minimum", c->cpu_min_ucores / 1e6);
	}
	if (r == PSC_RES_CPU_WEIGHT && (v < 1 || v > 10000)) {
		v = v < 1 ? 1 : 10000;
		clamped = true;
		snprintf(note, nsz, "weight clamped to 1..10000");
	}
	if (is_memory_limit(r)) {
		if (!in->has_mem_usage) {
			out->res[r].action = PSC_GUARD_SKIP;
			snprintf(note, nsz, "memory usage unknown");
			return;
		}
		uint64_t u = in->mem_usage_bytes;
		uint64_t margin = scale(u, c->margin_ratio);
		if (margin < c->margin_min_bytes)
			margin = c->margin_min_bytes;
		uint64_t floor = u > UINT64_MAX - 1 - margin ? UINT64_MAX - 1 : u + margin;
		if (v < floor) {
			v = floor;
			clamped = true;
			snprintf(note, nsz, "clamped up to usage %" PRIu64 " + margin %" PRIu64, u,
				 margin);
		}
	}
	if (v == cur) {
		out->res[r].action = PSC_GUARD_UNCHANGED;
		if (!clamped)
			snprintf(note, nsz, "already in effect");
		return;
	}
	if (v < cur && in->last_change && in->last_change[r] > 0 &&
	    in->now - in->last_change[r] < c->cooldown_s) {
		out->res[r].action = PSC_GUARD_SKIP;
		snprintf(note, nsz, "cooldown: changed %.0f s ago, lowering waits %.0f s",
			 in->now - in->last_change[r], c->cooldown_s);
		return;
	}
	out->res[r].action = clamped ? PSC_GUARD_CLAMPED : PSC_GUARD_WRITE;
	out->write.v[r] = v;
	out->write.present |= bit;
}

int psc_guard_decide(const struct psc_guard_config *c, const struct psc_guard_input *in,
		     struct psc_guard_decision *out)
{
	size_t len = 0;
	bool skipped = false;

	if (!c || !in || !out || !in->want || !in->current)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!psc_guard_managed(c, in->cgroup)) {
		out->refused = true;
		snprintf(out->reason, sizeof(out->reason),
			 c->n_prefixes ? "not managed (under no --manage prefix)"
				       : "not managed (no --manage prefix: observe only)");
		return 0;
	}
	out->write.cpu_period_us = in->current->cpu_period_us;
	for (int r = 0; r < _PSC_RES_MAX; r++) {
		if (!(in->want->present & (1u << r)))
			continue;
		decide_one(c, in, (enum psc_res)r, out);
		skipped |= out->res[r].action == PSC_GUARD_SKIP;
	}
	if (out->write.present || !skipped)
		return 0;
	out->refused = true;
	for (int r = 0; r < _PSC_RES_MAX; r++) {
		int n;

		if (out->res[r].action != PSC_GUARD_SKIP || len >= sizeof(out->reason))
			continue;
		n = snprintf(out->reason + len, sizeof(out->reason) - len, "%s%s: %s",
			     len ? "; " : "", psc_res_name(r), out->res[r].note);
		len += n > 0 ? (size_t)n : 0;
	}
	return 0;
}
