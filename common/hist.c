// SPDX-License-Identifier: MIT
#include "hist.h"

#include <string.h>

unsigned psc_hist_bucket(uint64_t v)
{
	if (v < PSC_HIST_LINEAR)
		return (unsigned)v;
	unsigned e = 63 - (unsigned)__builtin_clzll(v); /* e >= 4 */
	unsigned sub = (unsigned)(v >> (e - PSC_HIST_SUB_BITS)) & ((1u << PSC_HIST_SUB_BITS) - 1);
	return PSC_HIST_LINEAR + (e - 4) * (1u << PSC_HIST_SUB_BITS) + sub;
}

uint64_t psc_hist_bucket_low(unsigned idx)
{
	if (idx < PSC_HIST_LINEAR)
		return idx;
	if (idx >= PSC_HIST_BUCKETS)
		return UINT64_MAX;
	unsigned rel = idx - PSC_HIST_LINEAR;
	unsigned e = 4 + (rel >> PSC_HIST_SUB_BITS);
	uint64_t sub = rel & ((1u << PSC_HIST_SUB_BITS) - 1);
	return (1ull << e) + (sub << (e - PSC_HIST_SUB_BITS));
}

void psc_hist_reset(struct psc_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void psc_hist_add(struct psc_hist *h, uint64_t v)
{
	h->counts[psc_hist_bucket(v)]++;
	h->total++;
	if (v > h->max)
		h->max = v;
}

void psc_hist_merge(struct psc_hist *dst, const struct psc_hist *src)
{
	for (unsigned i = 0; i < PSC_HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t psc_hist_quantile(const struct psc_hist *h, double q)
{
	if (h->total == 0)
		return 0;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	/* Rank of the quantile, 1-based, so that q = 1 is the largest sample. */
	uint64_t rank = (uint64_t)(q * (double)(h->total - 1)) + 1;
	if (rank >= h->total)
		return h->max;
	uint64_t seen = 0;
	for (unsigned i = 0; i < PSC_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t lo = psc_hist_bucket_low(i);
			uint64_t hi = psc_hist_bucket_low(i + 1) - 1;
			uint64_t mid = lo + (hi - lo) / 2;
			return mid < h->max ? mid : h->max;
		}
	}
	return h->max;
}
