/* SPDX-License-Identifier: MIT */
/* Sizing: how much of a resource a workload will need over the next lead window, at a
 * given confidence, from its forecast distribution (and its cluster's profile while it is
 * young).
 *
 * One sizer per series (a workload's CPU cores, memory bytes, ...). Every step it feeds
 * the observation to an online forecaster (forecast.h) with horizons 1..lead (at most
 * PSC_FC_MAX_HORIZONS of them, spread evenly when lead is longer) and remembers each
 * step's point forecasts. Once the last horizon of an issued forecast has been observed,
 * the vector of its errors (actual minus point, one per horizon, all from the same issue
 * step, so the errors keep their correlation across horizons) enters a bank of the last
 * `bank` such vectors.
 *
 * After every step the need is computed afresh (psc_sizer_need() returns it): a Monte
 * Carlo estimate: each of `samples` draws picks an error vector from the bank at random, adds it to the current point forecasts, and takes
 * the peak over the horizons (the demand path's maximum over the lead window, never
 * below 0); the need is the empirical quantile of those peaks at the confidence level.
 * While the bank holds fewer than `young` vectors, a draw comes from the prior instead
 * with probability 1 - banked/young: the cluster's hour-of-week profile at the hours the
 * lead window covers (profile.h), scaled by the ratio of this workload's recent level
 * to the profile's median at the current hour (so a cluster of similar shapes but other
 * sizes still helps). Without a prior, a young sizer's draw from the fallback is the
 * last value plus a draw from the increases seen so far over lead windows (the
 * error of a naive peak forecast: max(y[s+1..s+lead]) - y[s]); with no data at all there
 * is no need (-EAGAIN).
 *
 * The level actually used is adapted online (adaptive conformal inference, the same
 * rule as the forecaster's bands): each time a need's lead window has been observed, the
 * level moves up by gamma * confidence if the window's peak exceeded the need and down
 * by gamma * (1 - confidence) otherwise (gamma = 0.01 by default), clamped to
 * [confidence - 0.2, 0.9995] (lower bound 0.5), so the long-run share of windows whose
 * peak exceeds the need stays near 1 - confidence on this series whatever the error
 * distribution.
 *
 * Pure code: no I/O; deterministic for a given seed. Not thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "forecast.h"
#include "profile.h"

struct psc_sizer_cfg {
	double interval;      /* seconds per step (> 0) */
	uint32_t lead;        /* steps covered after the current one (>= 1, <= 4096) */
	double confidence;    /* in (0.5, 1); default 0.99 */
	uint32_t samples;     /* Monte Carlo draws per need (default 2000) */
	uint32_t bank;        /* error vectors kept (default 512) */
	uint32_t young;       /* vectors below which the prior is mixed in (default 64) */
	double gamma;         /* level adaptation rate; 0 = fixed level (default 0.01) */
	uint64_t seed;
	struct psc_fc_cfg fc; /* forecaster; its horizons are set by psc_sizer_new() */
};

/* Defaults for a series sampled every @interval seconds with @lead steps of lead. */
void psc_sizer_cfg_default(struct psc_sizer_cfg *cfg, double interval, uint32_t lead);

struct psc_sizer_need {
	double need;      /* the peak over the lead window at the adapted level */
	double p50;       /* median peak */
	double point;     /* peak of the point forecasts */
	double level;     /* quantile level used */
	double prior_share; /* share of draws taken from the prior or the young fallback */
	size_t banked;    /* error vectors in the bank */
};

struct psc_sizer;

/* Returns 0, -EINVAL (bad cfg) or -ENOMEM; the caller frees with psc_sizer_free(). */
int psc_sizer_new(struct psc_sizer **out, const struct psc_sizer_cfg *cfg);
void psc_sizer_free(struct psc_sizer **s);

/* The cluster profile a young workload borrows from (borrowed pointer, must outlive its
 * use; NULL = none). Takes effect from the next step. */
void psc_sizer_set_prior(struct psc_sizer *s, const struct psc_profile *cluster);

/* Feeds the observation @y (finite, >= 0; -EINVAL otherwise) of the next step, which
 * ends at Unix time @t (used for the prior's hour of week), and computes the need for
 * the lead window after it. */
int psc_sizer_update(struct psc_sizer *s, double t, double y);
/* A step without observation (gap): nothing touching it is banked or scored; the need
 * is recomputed from the forecaster's gap-filled state. */
void psc_sizer_skip(struct psc_sizer *s);

/* The need computed at the last step. Returns 0, or -EAGAIN before any observation. */
int psc_sizer_need(const struct psc_sizer *s, struct psc_sizer_need *out);

const struct psc_forecaster *psc_sizer_forecaster(const struct psc_sizer *s);
