// SPDX-License-Identifier: MIT
/* VPA-style decaying-histogram recommender: see recommender.h. */
#include <math.h>
#include <string.h>

#include "recommender.h"

/* Buckets: 0 holds [0, FIRST); bucket i >= 1 holds [FIRST * R^(i-1), FIRST * R^i). The
 * range covers 1e-6 .. 1e-6 * 1.05^1022 ~ 5e15, enough for cores, MHz and bytes. */
#define FIRST 1e-6
#define RATIO 1.05

static int bucket_of(double v)
{
	if (v < FIRST)
		return 0;
	int i = 1 + (int)floor(log(v / FIRST) / log(RATIO));
	return i >= PSC_VPA_BUCKETS ? PSC_VPA_BUCKETS - 1 : i;
}

static double bucket_end(int i)
{
	return FIRST * pow(RATIO, i);
}

void psc_vpa_init(struct psc_vpa *v)
{
	memset(v, 0, sizeof(*v));
	v->half_life = 86400;
	v->quantile = 0.9;
	v->factor = 1.15;
}

void psc_vpa_add(struct psc_vpa *v, double t, double usage)
{
	if (!isfinite(usage) || usage < 0 || !isfinite(t))
		return;
	if (!v->started) {
		v->t0 = t;
		v->started = 1;
	}
	/* Weights grow with time; rebase them before they overflow (as VPA does). */
	if ((t - v->t0) / v->half_life > 100) {
		double k = exp2(-(t - v->t0) / v->half_life);
		for (int i = 0; i < PSC_VPA_BUCKETS; i++)
			v->w[i] *= k;
		v->total *= k;
		v->t0 = t;
	}
	double w = exp2((t - v->t0) / v->half_life);
	v->w[bucket_of(usage)] += w;
	v->total += w;
}

double psc_vpa_recommend(const struct psc_vpa *v)
{
	double want, acc = 0;

	if (!(v->total > 0))
		return 0;
	want = v->quantile * v->total;
	for (int i = 0; i < PSC_VPA_BUCKETS; i++) {
		acc += v->w[i];
		if (acc >= want && v->w[i] > 0)
			return bucket_end(i) * v->factor;
	}
	return 0;
}
