/* SPDX-License-Identifier: MIT */
/* Reference recommenders that prescient's sizing is measured against (tests/bench/
 * size_eval.sh, `prescient-replay size --recommender`):
 *
 *  - VPA-style: the Kubernetes Vertical Pod Autoscaler's recommender as commonly
 *    configured: a histogram of usage with exponential buckets (5% apart) whose samples
 *    are weighted by 2^(age / half_life) (24 h half-life), recommending its p90 (the end
 *    of the bucket holding it, as VPA does) times 1.15;
 *  - static peak: the highest usage seen so far.
 *
 * Both see only the observations fed so far. Pure code, fixed-size state. */
#pragma once

#include <stdint.h>

#define PSC_VPA_BUCKETS 1024

struct psc_vpa {
	double half_life; /* seconds */
	double quantile;  /* 0.9 */
	double factor;	  /* 1.15 */
	double t0;	  /* reference time of the weights */
	double total;
	double w[PSC_VPA_BUCKETS];
	int started;
};

/* VPA's defaults: 24 h half-life, p90, x1.15. */
void psc_vpa_init(struct psc_vpa *v);
void psc_vpa_add(struct psc_vpa *v, double t, double usage);
/* The recommendation (0 before any sample). */
double psc_vpa_recommend(const struct psc_vpa *v);
