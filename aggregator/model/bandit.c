// SPDX-License-Identifier: MIT
/* Full-information bandit over policy margins and holds: see bandit.h. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "bandit.h"

void psc_bandit_cfg_default(struct psc_bandit_cfg *cfg, double confidence, double half_life)
{
	static const double margins[] = { -0.1, 0, 0.1, 0.25 };
	static const unsigned holds[] = { 1, 2, 6 };

	memset(cfg, 0, sizeof(*cfg));
	cfg->confidence = confidence;
	cfg->half_life = half_life;
	cfg->change_cost = 0.005;
	cfg->switch_margin = 0.05;
	for (size_t h = 0; h < 3; h++)
		for (size_t m = 0; m < 4; m++) {
			cfg->margin[cfg->n_arms] = margins[m];
			cfg->hold[cfg->n_arms] = holds[h];
			cfg->n_arms++;
		}
}

int psc_bandit_init(struct psc_bandit *b, const struct psc_bandit_cfg *cfg,
		    const struct psc_policy_cfg *base)
{
	if (!(cfg->confidence > 0.5 && cfg->confidence < 1) || !(cfg->half_life >= 1) ||
	    !(cfg->change_cost >= 0) || !(cfg->switch_margin >= 0) || cfg->n_arms < 1 ||
	    cfg->n_arms > PSC_BANDIT_MAX_ARMS || psc_policy_cfg_check(base, NULL) < 0)
		return -EINVAL;
	for (size_t a = 0; a < cfg->n_arms; a++)
		if (!(cfg->margin[a] > -1))
			return -EINVAL;
	memset(b, 0, sizeof(*b));
	b->cfg = *cfg;
	b->base = *base;
	/* Start from the arm closest to the base policy's own margin. */
	for (size_t a = 1; a < cfg->n_arms; a++)
		if (fabs(cfg->margin[a] - base->margin) < fabs(cfg->margin[b->chosen] - base->margin))
			b->chosen = a;
	return 0;
}

void psc_bandit_observe(struct psc_bandit *b, double usage, bool censored)
{
	const double c = b->cfg.confidence;
	const double decay = exp2(-1.0 / b->cfg.half_life);

	if (!isfinite(usage) || usage < 0)
		return;
	if (b->scale <= 0)
		b->scale = usage;
	else
		b->scale += (usage - b->scale) / (4 * b->cfg.half_life);
	double scale = b->scale > 0 ? b->scale : 1;
	for (size_t a = 0; a < b->cfg.n_arms; a++) {
		double limit = b->arm[a].limit, u = usage;
		if (limit <= 0)
			continue;
		if (censored && u * 1.1 > limit)
			u = u * 1.1;
		double loss = u > limit ? c * (u - limit) : (1 - c) * (limit - u);
		b->cost[a] = b->cost[a] * decay + loss / scale;
	}
}

enum psc_policy_action psc_bandit_step(struct psc_bandit *b, double need)
{
	double before = b->limit;
	size_t best = b->chosen;

	for (size_t a = 0; a < b->cfg.n_arms; a++) {
		struct psc_policy_cfg cfg = b->base;
		cfg.margin = b->cfg.margin[a];
		cfg.hold = b->cfg.hold[a];
		enum psc_policy_action act = psc_policy_step(&cfg, &b->arm[a], need);
		if (act == PSC_POLICY_RAISE || act == PSC_POLICY_LOWER)
			b->cost[a] += b->cfg.change_cost;
		if (b->cost[a] < b->cost[best])
			best = a;
	}
	if (best != b->chosen &&
	    b->cost[best] < b->cost[b->chosen] * (1 - b->cfg.switch_margin))
		b->chosen = best;
	b->limit = b->arm[b->chosen].limit;
	if (b->base.fixed > 0)
		return PSC_POLICY_FIXED;
	if (b->limit == before)
		return PSC_POLICY_KEEP;
	b->changes++;
	if (before <= 0)
		return PSC_POLICY_SET;
	return b->limit > before ? PSC_POLICY_RAISE : PSC_POLICY_LOWER;
}
