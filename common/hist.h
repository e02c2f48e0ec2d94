/* SPDX-License-Identifier: MIT */
/* Mergeable log-linear histogram of non-negative integers (latencies in microseconds).
 *
 * Values 0..15 have a bucket each; above, every power of two is split into 8 linear
 * sub-buckets, so a bucket's width is at most 1/8 of its lower bound (quantiles within
 * ~6% of the true value at the bucket midpoint). The bucket layout is fixed, which makes
 * two histograms mergeable by adding counts, on the host or in the aggregator, and lets
 * the wire carry (bucket index, count) pairs. */
#pragma once

#include <stdint.h>

#define PSC_HIST_SUB_BITS 3
#define PSC_HIST_LINEAR 16
#define PSC_HIST_BUCKETS (PSC_HIST_LINEAR + (64 - 4) * (1 << PSC_HIST_SUB_BITS))

struct psc_hist {
	uint64_t total;
	uint64_t max;
	uint32_t counts[PSC_HIST_BUCKETS];
};

/* Index of the bucket holding @v. */
unsigned psc_hist_bucket(uint64_t v);
/* Smallest value that falls in bucket @idx; psc_hist_bucket_low(idx + 1) - 1 is the largest. */
uint64_t psc_hist_bucket_low(unsigned idx);

void psc_hist_reset(struct psc_hist *h);
void psc_hist_add(struct psc_hist *h, uint64_t v);
/* Adds every count of @src to @dst. */
void psc_hist_merge(struct psc_hist *dst, const struct psc_hist *src);
/* The @q quantile (0 <= q <= 1) as the midpoint of its bucket, never above the largest
 * value seen; 0 for an empty histogram. */
uint64_t psc_hist_quantile(const struct psc_hist *h, double q);
