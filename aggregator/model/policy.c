// SPDX-License-Identifier: MIT
/* Limit decisions with hysteresis, bounded steps and cooldown: see policy.h. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "policy.h"

void psc_policy_cfg_default(struct psc_policy_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->lower_below = 0.9;
	cfg->hold = 2;
	cfg->cooldown = 1;
	cfg->max_down = 0.5;
	cfg->burst = 1.25;
}

int psc_policy_cfg_check(const struct psc_policy_cfg *cfg, const char **field)
{
	const char *bad = NULL;

	if (!(cfg->margin > -1 && cfg->margin < 100))
		bad = "margin";
	else if (!(cfg->lower_below > 0 && cfg->lower_below <= 1))
		bad = "lower_below";
	else if (!(cfg->max_up == 0 || cfg->max_up > 1))
		bad = "max_up";
	else if (!(cfg->max_down > 0 && cfg->max_down <= 1))
		bad = "max_down";
	else if (!(cfg->min >= 0) || !(cfg->max >= 0) || (cfg->max > 0 && cfg->min > cfg->max))
		bad = "min/max";
	else if (!(cfg->fixed >= 0))
		bad = "fixed";
	else if (!(cfg->burst >= 1))
		bad = "burst";
	if (field)
		*field = bad;
	return bad ? -EINVAL : 0;
}

static double clamp_bounds(const struct psc_policy_cfg *cfg, double v)
{
	if (cfg->min > 0 && v < cfg->min)
		v = cfg->min;
	if (cfg->max > 0 && v > cfg->max)
		v = cfg->max;
	return v;
}

static enum psc_policy_action changed(struct psc_policy_state *st, double limit,
				      enum psc_policy_action a)
{
	st->limit = limit;
	st->since_change = 0;
	st->low_run = 0;
	st->low_peak = 0;
	st->changes++;
	return a;
}

enum psc_policy_action psc_policy_step(const struct psc_policy_cfg *cfg,
				       struct psc_policy_state *st, double need)
{
	double target;

	if (st->since_change < UINT32_MAX)
		st->since_change++;
	if (cfg->fixed > 0) {
		if (st->limit == cfg->fixed)
			return PSC_POLICY_FIXED;
		return changed(st, cfg->fixed, PSC_POLICY_FIXED);
	}
	if (!isfinite(need) || need < 0)
		return PSC_POLICY_KEEP;
	target = clamp_bounds(cfg, need * (1 + cfg->margin));
	if (st->limit <= 0)
		return target > 0 ? changed(st, target, PSC_POLICY_SET) : PSC_POLICY_KEEP;
	if (target > st->limit) {
		if (cfg->max_up > 1 && target > st->limit * cfg->max_up)
			target = st->limit * cfg->max_up;
		return changed(st, target, PSC_POLICY_RAISE);
	}
	if (target >= cfg->lower_below * st->limit) {
		st->low_run = 0;
		st->low_peak = 0;
		return PSC_POLICY_KEEP;
	}
	st->low_run++;
	if (target > st->low_peak)
		st->low_peak = target;
	if (st->low_run < cfg->hold || st->since_change < cfg->cooldown)
		return PSC_POLICY_KEEP;
	target = st->low_peak;
	if (target < st->limit * cfg->max_down)
		target = st->limit * cfg->max_down;
	return changed(st, clamp_bounds(cfg, target), PSC_POLICY_LOWER);
}

enum psc_tier psc_policy_tier(double need, double baseline, double limit)
{
	if (limit > 0 && need > limit)
		return PSC_TIER_BURST;
	if (need > baseline)
		return PSC_TIER_PREDICTIVE;
	return PSC_TIER_BASELINE;
}

const char *psc_tier_name(enum psc_tier t)
{
	switch (t) {
	case PSC_TIER_BASELINE:
		return "baseline";
	case PSC_TIER_PREDICTIVE:
		return "predictive";
	case PSC_TIER_BURST:
		return "burst";
	}
	return "?";
}

const char *psc_policy_action_name(enum psc_policy_action a)
{
	static const char *const names[] = {
		[PSC_POLICY_KEEP] = "keep",   [PSC_POLICY_SET] = "set",
		[PSC_POLICY_RAISE] = "raise", [PSC_POLICY_LOWER] = "lower",
		[PSC_POLICY_FIXED] = "fixed",
	};
	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}
