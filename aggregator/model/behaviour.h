/* SPDX-License-Identifier: MIT */
/* Behaviour features: what a workload does, as numbers the clustering, the classifier and
 * the change-point detector can compare across workloads.
 *
 * Two views:
 *  - per window (psc_behaviour_vector): request rate, bytes per request, CPU and memory
 *    per request, latency, error rate, CPU use, and the endpoint/query mix as shares of
 *    the workload's top PSC_MIX_SLOTS endpoints (the caller keeps a stable slot order);
 *    magnitudes are log1p-compressed so that ratios, not units, matter;
 *  - per series of a resource over a day or more (psc_series_features): level,
 *    variability, peakiness, persistence, duty cycle, daily-cycle strength and the
 *    time-of-day shape (six 4-hour blocks relative to the mean). */
#pragma once

#include <stddef.h>

#define PSC_MIX_SLOTS 8

enum psc_bdim {
	PSC_B_REQ_RATE,      /* log1p(requests / s) */
	PSC_B_BYTES_PER_REQ, /* log1p((bytes in + out) / request) */
	PSC_B_CPU_PER_REQ,   /* log1p(CPU ms / request) */
	PSC_B_MEM_PER_REQ,   /* log1p(memory KiB / (request / s)) */
	PSC_B_LATENCY_P50,   /* log1p(p50 latency in us) */
	PSC_B_LATENCY_P90,   /* log1p(p90 latency in us) */
	PSC_B_ERROR_RATE,    /* errors / requests, in [0, 1] */
	PSC_B_CPU_CORES,     /* log1p(CPU seconds / window seconds) */
	PSC_B_MIX0,          /* share of endpoint slot 0 .. PSC_MIX_SLOTS - 1 */
	_PSC_B_MAX = PSC_B_MIX0 + PSC_MIX_SLOTS,
};

/* One workload's window as the aggregator sees it (fields may be 0). */
struct psc_window_obs {
	double window_s;
	double cpu_s;
	double mem_bytes;
	double requests, errors;
	double bytes_in, bytes_out;
	double latency_p50_us, latency_p90_us;
	const double *endpoint_counts; /* per slot, may be NULL */
	size_t n_endpoints;            /* slots beyond PSC_MIX_SLOTS are ignored */
};

/* Fills @out[_PSC_B_MAX]. Returns 0, or -EINVAL if window_s <= 0. */
int psc_behaviour_vector(const struct psc_window_obs *w, double *out);
const char *psc_behaviour_dim_name(enum psc_bdim d);

enum psc_sfeat {
	PSC_SF_LOG_MEAN,   /* log1p(mean) */
	PSC_SF_CV,         /* sd / mean (0 for a zero mean) */
	PSC_SF_PEAK,       /* p95 / mean */
	PSC_SF_ACF1,       /* lag-1 autocorrelation: persistence */
	PSC_SF_DUTY,       /* fraction of samples above half of the p95 */
	PSC_SF_DIURNAL,    /* share of variance explained by the hour-of-day means */
	PSC_SF_SHAPE0,     /* mean over hours 0-4 / overall mean ... hours 20-24 */
	_PSC_SF_MAX = PSC_SF_SHAPE0 + 6,
};

/* Features of v[0..n) sampled every @interval seconds starting at Unix time @t0 (used for
 * the hour of day; 0 = the series starts at midnight). Values should be >= 0 (demand).
 * Fills @out[_PSC_SF_MAX]. Returns 0, -EINVAL (n < 4 or interval <= 0) or -ENOMEM. */
int psc_series_features(const double *v, size_t n, double interval, double t0, double *out);
const char *psc_series_feature_name(enum psc_sfeat f);
