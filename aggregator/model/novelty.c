// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "novelty.h"

#define MAX_K 8

struct psc_novelty {
	struct psc_novelty_cfg cfg;
	/* The last cap values, each stored twice (at pos and pos + cap) so that any run of
	 * them is contiguous: after a write at pos, the newest is buf[pos + cap] and the one
	 * `lag` steps older buf[pos + cap - lag]. */
	double *buf;
	uint32_t cap, n, pos;
};

int psc_novelty_new(struct psc_novelty **out, const struct psc_novelty_cfg *cfg)
{
	struct psc_novelty_cfg c = {.dim = 8, .history = 1024, .k = 2};
	struct psc_novelty *nv;

	if (!cfg)
		return -EINVAL;
	if (cfg->dim)
		c.dim = cfg->dim;
	if (cfg->history)
		c.history = cfg->history;
	if (cfg->k)
		c.k = cfg->k;
	if (c.dim > PSC_NOVELTY_MAX_DIM || c.k > MAX_K || c.history < 2 * c.k ||
	    c.history > (1u << 24))
		return -EINVAL;
	nv = calloc(1, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	nv->cfg = c;
	nv->cap = c.history + 2 * c.dim;
	nv->buf = calloc(2ull * nv->cap, sizeof(double));
	if (!nv->buf) {
		free(nv);
		return -ENOMEM;
	}
	*out = nv;
	return 0;
}

void psc_novelty_free(struct psc_novelty **nvp)
{
	if (!nvp || !*nvp)
		return;
	free((*nvp)->buf);
	free(*nvp);
	*nvp = NULL;
}

double psc_novelty_update(struct psc_novelty *nv, double x, struct psc_novelty_match *match)
{
	uint32_t dim = nv->cfg.dim, k = nv->cfg.k;

	nv->pos = (nv->pos + 1) % nv->cap;
	nv->buf[nv->pos] = nv->buf[nv->pos + nv->cap] = x;
	if (nv->n < nv->cap)
		nv->n++;
	if (match) {
		match->nearest = NAN;
		match->onset = 0;
	}
	/* Candidates end lag in [dim, n - dim] steps back: none overlaps the current
	 * embedding, whose own recent past would otherwise always be its neighbour. */
	if (nv->n < 2 * dim + 2 * k - 1)
		return NAN;
	const double *cur = nv->buf + nv->pos + nv->cap;
	double best[MAX_K];
	const double *best_c = NULL;
	uint32_t nb = 0;
	for (uint32_t lag = dim; lag + dim <= nv->n; lag++) {
		const double *cand = cur - lag;
		double bound = nb == k ? best[k - 1] : INFINITY;
		double dist = 0;
		/* Early abandon: most candidates are far and stop after a few values. */
		for (uint32_t j = 0; j < dim && dist < bound; j++)
			dist += fabs(cur[-(int64_t)j] - cand[-(int64_t)j]);
		if (dist >= bound)
			continue;
		uint32_t i = nb < k ? nb++ : k - 1;
		while (i > 0 && best[i - 1] > dist) {
			best[i] = best[i - 1];
			i--;
		}
		best[i] = dist;
		if (i == 0)
			best_c = cand;
	}
	double sum = 0;
	for (uint32_t i = 0; i < nb; i++)
		sum += best[i];
	if (match && best_c) {
		double dmax = 0;
		for (uint32_t j = 0; j < dim; j++)
			dmax = fmax(dmax, fabs(cur[-(int64_t)j] - best_c[-(int64_t)j]));
		for (uint32_t j = 0; j < dim && dmax > 0; j++)
			if (fabs(cur[-(int64_t)j] - best_c[-(int64_t)j]) >= 0.5 * dmax)
				match->onset = j;
		match->nearest = best_c[0];
	}
	return sum / nb / dim;
}
