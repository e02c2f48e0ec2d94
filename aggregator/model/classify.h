/* SPDX-License-Identifier: MIT */
/* Behaviour classes ("batch processing", "interactive", "data analysis"): an explainable
 * linear classifier that users can correct.
 *
 * Inputs are a few named, interpretable features (PSC_CF_*), computed from the series
 * features (behaviour.h) and, when the workload serves requests, its behaviour vector.
 * Each class has a bias and one weight per feature, starting from hand-written priors:
 *  - interactive: a daily cycle (people), many small fast requests;
 *  - batch processing: bursty (high peak-to-mean and CV) or steady background work with
 *    no daily cycle and few requests;
 *  - data analysis: heavy requests (large bytes and CPU per request, slow), moderate
 *    duty, no strong daily cycle.
 * The class is the highest score; the explanation lists each feature's contribution
 * (weight x value) to it, largest first. Feedback (a user saying "this workload is X") is
 * a perceptron step: the true class's weights move towards the features, the predicted
 * one's away, until the example is classified right with a margin; the caller also keeps
 * the label as an override for that workload. */
#pragma once

#include <stddef.h>

#include "behaviour.h"

enum psc_class {
	PSC_CLASS_BATCH,
	PSC_CLASS_INTERACTIVE,
	PSC_CLASS_ANALYSIS,
	_PSC_CLASS_MAX,
};

enum psc_cfeat {
	PSC_CF_DIURNAL,      /* share of variance from the hour of day, [0, 1] */
	PSC_CF_DUTY,         /* duty cycle, [0, 1] */
	PSC_CF_BURSTINESS,   /* log(p95 / mean) */
	PSC_CF_CV,           /* coefficient of variation */
	PSC_CF_PERSISTENCE,  /* lag-1 autocorrelation */
	PSC_CF_REQ_RATE,     /* log1p(requests / s), 0 without requests */
	PSC_CF_HEAVY_REQ,    /* mean of log1p(bytes/req)/10, log1p(CPU ms/req)/5 and
			      * log1p(p50 us)/10 */
	_PSC_CF_MAX,
};

struct psc_classifier {
	double w[_PSC_CLASS_MAX][_PSC_CF_MAX + 1]; /* last = bias */
	double rate; /* feedback learning rate (default 0.5) */
	unsigned feedback; /* corrections applied */
};

struct psc_class_reason {
	enum psc_cfeat feature;
	double contribution;
};

struct psc_class_result {
	enum psc_class cls;
	double score[_PSC_CLASS_MAX];
	double confidence; /* softmax probability of cls */
	struct psc_class_reason reason[_PSC_CF_MAX]; /* sorted by |contribution|, largest first */
};

/* Sets the prior weights. */
void psc_classifier_init(struct psc_classifier *c);

/* Builds the classifier's features from series features (@sf, required) and a behaviour
 * vector (@bv, may be NULL for workloads without requests). */
void psc_class_features(const double *sf, const double *bv, double *cf);

void psc_classify(const struct psc_classifier *c, const double *cf, struct psc_class_result *out);

/* A user says the workload with features @cf is @truth. Returns the number of update steps
 * taken (0 if it was already right with a margin of 0.5, at most 20). */
int psc_classifier_feedback(struct psc_classifier *c, const double *cf, enum psc_class truth);

const char *psc_class_name(enum psc_class c);
const char *psc_class_feature_name(enum psc_cfeat f);
