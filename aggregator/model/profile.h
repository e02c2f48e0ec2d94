/* SPDX-License-Identifier: MIT */
/* Demand profiles: full distributions per hour of week, mergeable, and what they cost.
 *
 * psc_sketch is a sparse log-bucket histogram of non-negative values (the DDSketch
 * layout): a value v > 0 falls in bucket ceil(log(v) / log(gamma)), gamma = 1.04, so any
 * quantile is within 2% (relative) of a value of the data; zeros have their own count.
 * Buckets are fixed, so two sketches merge by adding counts (workload -> cluster, hosts
 * -> fleet) and the result is the sketch of the union. Memory grows with the number of
 * distinct buckets only (a few dozen for one workload's hour).
 *
 * psc_profile holds 168 sketches, one per hour of week (Monday 00:00 UTC = hour 0), per
 * workload or per cluster. A young workload borrows: psc_profile_quantile() falls back to
 * (or blends with) the cluster's profile while its own hour has few samples.
 *
 * psc_cost_quantiles() turns profiles of CPU cores, memory GB, GB transferred per hour and
 * requests per hour into the distribution of the cost of a day, week or month at the
 * configured prices, by Monte Carlo over the hour-of-week distributions (hours drawn
 * independently; deterministic for a seed). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PSC_SKETCH_GAMMA 1.04
#define PSC_HOURS_PER_WEEK 168

struct psc_sketch_bucket {
	int32_t index;
	uint32_t count;
};

struct psc_sketch {
	struct psc_sketch_bucket *b; /* sorted by index */
	uint32_t n, cap;
	uint64_t zeros; /* values <= 0 (demand cannot be negative) */
	uint64_t total;
};

/* A zeroed struct psc_sketch is a valid empty sketch. */
void psc_sketch_reset(struct psc_sketch *s);
/* Adds @v (finite; values <= 0 count as 0). Returns 0, -EINVAL or -ENOMEM. */
int psc_sketch_add(struct psc_sketch *s, double v);
/* Adds every count of @src into @dst. Returns 0 or -ENOMEM (dst unchanged on failure). */
int psc_sketch_merge(struct psc_sketch *dst, const struct psc_sketch *src);
/* Quantile @q in [0,1]; NAN for an empty sketch. */
double psc_sketch_quantile(const struct psc_sketch *s, double q);
/* Draws one value from the sketch's distribution with u uniform in [0,1). */
double psc_sketch_sample(const struct psc_sketch *s, double u);

struct psc_profile {
	struct psc_sketch hour[PSC_HOURS_PER_WEEK];
};

/* Hour of week of Unix time @t (Monday 00:00 UTC = 0). */
unsigned psc_hour_of_week(double t);
void psc_profile_reset(struct psc_profile *p);
int psc_profile_add(struct psc_profile *p, double t, double v);
int psc_profile_merge(struct psc_profile *dst, const struct psc_profile *src);

/* Quantile @q of hour @how. With @cluster not NULL and fewer than @min_samples values in
 * the workload's own hour, the two are blended: the workload's and the cluster's,
 * weighted n / min_samples and (min_samples - n) / min_samples (averaging their
 * quantiles). NAN when both are empty. */
double psc_profile_quantile(const struct psc_profile *p, const struct psc_profile *cluster,
			    unsigned how, double q, uint64_t min_samples);

/* Daily (24 h) and weekly (168 h) seasonality of a profile: the share of the variance of
 * the hourly medians explained by the hour-of-day means (daily) and the ratio of weekday
 * to weekend median level (weekly). NAN when fewer than 48 hours have data. */
void psc_profile_seasonality(const struct psc_profile *p, double *daily_share,
			     double *weekday_weekend_ratio);

/* Prices per unit. */
struct psc_prices {
	double cpu_core_hour;
	double gb_hour;        /* memory */
	double gb_transferred; /* network */
	double per_request;
};

enum psc_cost_period {
	PSC_COST_DAY,
	PSC_COST_WEEK,
	PSC_COST_MONTH, /* 30 days */
	_PSC_COST_MAX,
};

/* Profiles by resource, each may be NULL (no cost from it): CPU cores, memory GB, GB
 * transferred in the hour, requests in the hour. @start_how is the hour of week the period
 * starts at. Fills out[i] with the @qs[i] quantile of the period's cost from @samples
 * Monte Carlo draws (>= 10). Returns 0, -EINVAL or -ENOMEM. */
int psc_cost_quantiles(const struct psc_profile *cpu, const struct psc_profile *mem_gb,
		       const struct psc_profile *net_gb, const struct psc_profile *requests,
		       const struct psc_prices *prices, enum psc_cost_period period,
		       unsigned start_how, unsigned samples, uint64_t seed, const double *qs,
		       size_t nq, double *out);
