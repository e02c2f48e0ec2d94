// SPDX-License-Identifier: MIT
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"

#define MARGIN 0.5
#define MAX_STEPS 20

static const char *const class_names[_PSC_CLASS_MAX] = {
	[PSC_CLASS_BATCH] = "batch processing",
	[PSC_CLASS_INTERACTIVE] = "interactive",
	[PSC_CLASS_ANALYSIS] = "data analysis",
};

static const char *const feat_names[_PSC_CF_MAX] = {
	[PSC_CF_DIURNAL] = "daily cycle",	[PSC_CF_DUTY] = "duty cycle",
	[PSC_CF_BURSTINESS] = "burstiness",	[PSC_CF_CV] = "variability",
	[PSC_CF_PERSISTENCE] = "persistence", [PSC_CF_REQ_RATE] = "request rate",
	[PSC_CF_HEAVY_REQ] = "heavy requests",
};

const char *psc_class_name(enum psc_class c)
{
	return c >= 0 && c < _PSC_CLASS_MAX ? class_names[c] : "unknown";
}

const char *psc_class_feature_name(enum psc_cfeat f)
{
	return f >= 0 && f < _PSC_CF_MAX ? feat_names[f] : "unknown";
}

void psc_classifier_init(struct psc_classifier *c)
{
	/* Priors, per feature: diurnal, duty, burstiness, cv, persistence, req rate, heavy, bias */
	static const double prior[_PSC_CLASS_MAX][_PSC_CF_MAX + 1] = {
		[PSC_CLASS_BATCH] = { -1.0, -1.0, 1.5, 1.0, 0.3, -0.3, 0.0, 0.5 },
		[PSC_CLASS_INTERACTIVE] = { 3.0, 0.5, -0.5, -0.5, 0.3, 0.5, -1.5, -0.8 },
		[PSC_CLASS_ANALYSIS] = { -1.0, 0.5, 0.0, 0.0, 1.0, -0.2, 3.0, -1.0 },
	};
	memcpy(c->w, prior, sizeof(prior));
	c->rate = 0.5;
	c->feedback = 0;
}

void psc_class_features(const double *sf, const double *bv, double *cf)
{
	cf[PSC_CF_DIURNAL] = sf[PSC_SF_DIURNAL];
	cf[PSC_CF_DUTY] = sf[PSC_SF_DUTY];
	cf[PSC_CF_BURSTINESS] = sf[PSC_SF_PEAK] > 0 ? log(sf[PSC_SF_PEAK]) : 0;
	cf[PSC_CF_CV] = sf[PSC_SF_CV];
	cf[PSC_CF_PERSISTENCE] = sf[PSC_SF_ACF1];
	cf[PSC_CF_REQ_RATE] = bv ? bv[PSC_B_REQ_RATE] : 0;
	cf[PSC_CF_HEAVY_REQ] = bv ? (bv[PSC_B_BYTES_PER_REQ] / 10 + bv[PSC_B_CPU_PER_REQ] / 5 +
				     bv[PSC_B_LATENCY_P50] / 10) / 3 :
				    0;
}

static int cmp_reason(const void *a, const void *b)
{
	double x = fabs(((const struct psc_class_reason *)a)->contribution);
	double y = fabs(((const struct psc_class_reason *)b)->contribution);
	return (x < y) - (x > y);
}

void psc_classify(const struct psc_classifier *c, const double *cf, struct psc_class_result *out)
{
	int best = 0;
	double mx = -INFINITY, z = 0;

	for (int k = 0; k < _PSC_CLASS_MAX; k++) {
		double s = c->w[k][_PSC_CF_MAX];
		for (int f = 0; f < _PSC_CF_MAX; f++)
			s += c->w[k][f] * cf[f];
		out->score[k] = s;
		if (s > mx) {
			mx = s;
			best = k;
		}
	}
	for (int k = 0; k < _PSC_CLASS_MAX; k++)
		z += exp(out->score[k] - mx);
	out->cls = (enum psc_class)best;
	out->confidence = 1 / z;
	for (int f = 0; f < _PSC_CF_MAX; f++)
		out->reason[f] = (struct psc_class_reason){ .feature = (enum psc_cfeat)f,
							    .contribution = c->w[best][f] * cf[f] };
	qsort(out->reason, _PSC_CF_MAX, sizeof(out->reason[0]), cmp_reason);
}

int psc_classifier_feedback(struct psc_classifier *c, const double *cf, enum psc_class truth)
{
	int steps = 0;

	if (truth < 0 || truth >= _PSC_CLASS_MAX)
		return 0;
	for (; steps < MAX_STEPS; steps++) {
		struct psc_class_result r;
		psc_classify(c, cf, &r);
		/* Margin: the true class must beat every other by MARGIN. */
		int rival = -1;
		double rs = -INFINITY;
		for (int k = 0; k < _PSC_CLASS_MAX; k++)
			if (k != (int)truth && r.score[k] > rs) {
				rs = r.score[k];
				rival = k;
			}
		if (r.score[truth] - rs >= MARGIN)
			break;
		for (int f = 0; f < _PSC_CF_MAX; f++) {
			c->w[truth][f] += c->rate * cf[f];
			c->w[rival][f] -= c->rate * cf[f];
		}
		c->w[truth][_PSC_CF_MAX] += c->rate * 0.1;
		c->w[rival][_PSC_CF_MAX] -= c->rate * 0.1;
	}
	if (steps)
		c->feedback++;
	return steps;
}
