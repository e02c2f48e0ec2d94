// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "mathutil.h"
#include "profile.h"

static inline double lg(void)
{
	return log(PSC_SKETCH_GAMMA);
}

/* Representative value of bucket i: the point with equal relative error to both ends. */
static double bucket_value(int32_t i)
{
	return 2 * pow(PSC_SKETCH_GAMMA, i) / (1 + PSC_SKETCH_GAMMA);
}

void psc_sketch_reset(struct psc_sketch *s)
{
	free(s->b);
	memset(s, 0, sizeof(*s));
}

static int sketch_add_count(struct psc_sketch *s, int32_t idx, uint32_t cnt)
{
	uint32_t lo = 0, hi = s->n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (s->b[mid].index < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n && s->b[lo].index == idx) {
		s->b[lo].count += cnt;
		return 0;
	}
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 8;
		struct psc_sketch_bucket *nb = realloc(s->b, cap * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		s->b = nb;
		s->cap = cap;
	}
	memmove(s->b + lo + 1, s->b + lo, (s->n - lo) * sizeof(*s->b));
	s->b[lo] = (struct psc_sketch_bucket){ idx, cnt };
	s->n++;
	return 0;
}

int psc_sketch_add(struct psc_sketch *s, double v)
{
	if (!isfinite(v))
		return -EINVAL;
	if (v <= 0) {
		s->zeros++;
		s->total++;
		return 0;
	}
	double li = ceil(log(v) / lg());
	int32_t idx = li < -1000000 ? -1000000 : li > 1000000 ? 1000000 : (int32_t)li;
	int r = sketch_add_count(s, idx, 1);
	if (r == 0)
		s->total++;
	return r;
}

int psc_sketch_merge(struct psc_sketch *dst, const struct psc_sketch *src)
{
	/* Reserve first so that a failure leaves dst unchanged. */
	uint32_t need = dst->n + src->n;
	if (need > dst->cap) {
		struct psc_sketch_bucket *nb = realloc(dst->b, need * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		dst->b = nb;
		dst->cap = need;
	}
	for (uint32_t i = 0; i < src->n; i++)
		sketch_add_count(dst, src->b[i].index, src->b[i].count);
	dst->zeros += src->zeros;
	dst->total += src->total;
	return 0;
}

double psc_sketch_quantile(const struct psc_sketch *s, double q)
{
	if (!s->total)
		return NAN;
	q = q < 0 ? 0 : q > 1 ? 1 : q;
	double rank = q * (double)(s->total - 1);
	if (rank < (double)s->zeros)
		return 0;
	double acc = (double)s->zeros;
	for (uint32_t i = 0; i < s->n; i++) {
		acc += s->b[i].count;
		if (rank < acc)
			return bucket_value(s->b[i].index);
	}
	return s->n ? bucket_value(s->b[s->n - 1].index) : 0;
}

double psc_sketch_sample(const struct psc_sketch *s, double u)
{
	if (!s->total)
		return NAN;
	double target = u * (double)s->total;
	if (target < (double)s->zeros)
		return 0;
	double acc = (double)s->zeros;
	for (uint32_t i = 0; i < s->n; i++) {
		acc += s->b[i].count;
		if (target < acc)
			return bucket_value(s->b[i].index);
	}
	return s->n ? bucket_value(s->b[s->n - 1].index) : 0;
}

unsigned psc_hour_of_week(double t)
{
	/* 1970-01-01 was a Thursday: Monday-based day = (days + 3) mod 7. */
	double days = floor(t / 86400.0);
	long dow = ((long)fmod(days + 3, 7) + 7) % 7;
	double sec = t - days * 86400.0;
	return (unsigned)(dow * 24 + (long)(sec / 3600.0)) % PSC_HOURS_PER_WEEK;
}

void psc_profile_reset(struct psc_profile *p)
{
	for (unsigned h = 0; h < PSC_HOURS_PER_WEEK; h++)
		psc_sketch_reset(&p->hour[h]);
}

int psc_profile_add(struct psc_profile *p, double t, double v)
{
	if (!isfinite(t))
		return -EINVAL;
	return psc_sketch_add(&p->hour[psc_hour_of_week(t)], v);
}

int psc_profile_merge(struct psc_profile *dst, const struct psc_profile *src)
{
	for (unsigned h = 0; h < PSC_HOURS_PER_WEEK; h++) {
		int r = psc_sketch_merge(&dst->hour[h], &src->hour[h]);
		if (r < 0)
			return r;
	}
	return 0;
}

double psc_profile_quantile(const struct psc_profile *p, const struct psc_profile *cluster,
			    unsigned how, double q, uint64_t min_samples)
{
	how %= PSC_HOURS_PER_WEEK;
	const struct psc_sketch *own = &p->hour[how];
	if (!cluster || own->total >= min_samples || !cluster->hour[how].total)
		return psc_sketch_quantile(own, q);
	double cq = psc_sketch_quantile(&cluster->hour[how], q);
	if (!own->total)
		return cq;
	double w = (double)own->total / (double)min_samples;
	return w * psc_sketch_quantile(own, q) + (1 - w) * cq;
}

void psc_profile_seasonality(const struct psc_profile *p, double *daily_share,
			     double *weekday_weekend_ratio)
{
	double med[PSC_HOURS_PER_WEEK];
	unsigned have = 0;
	double mean = 0;

	for (unsigned h = 0; h < PSC_HOURS_PER_WEEK; h++) {
		med[h] = psc_sketch_quantile(&p->hour[h], 0.5);
		if (isfinite(med[h])) {
			have++;
			mean += med[h];
		}
	}
	*daily_share = *weekday_weekend_ratio = NAN;
	if (have < 48)
		return;
	mean /= have;
	double hod[24] = { 0 }, tot = 0, between = 0, wd = 0, we = 0;
	unsigned hodn[24] = { 0 }, nwd = 0, nwe = 0;
	for (unsigned h = 0; h < PSC_HOURS_PER_WEEK; h++) {
		if (!isfinite(med[h]))
			continue;
		hod[h % 24] += med[h];
		hodn[h % 24]++;
		tot += (med[h] - mean) * (med[h] - mean);
		if (h / 24 < 5) {
			wd += med[h];
			nwd++;
		} else {
			we += med[h];
			nwe++;
		}
	}
	for (unsigned h = 0; h < PSC_HOURS_PER_WEEK; h++)
		if (isfinite(med[h]))
			between += (hod[h % 24] / hodn[h % 24] - mean) *
				   (hod[h % 24] / hodn[h % 24] - mean);
	*daily_share = tot > 0 ? between / tot : 0;
	if (nwd && nwe && we > 0)
		*weekday_weekend_ratio = (wd / nwd) / (we / nwe);
}

static double draw(const struct psc_profile *p, unsigned how, struct psc_rng *rng)
{
	if (!p)
		return 0;
	double v = psc_sketch_sample(&p->hour[how], psc_rng_uniform(rng));
	return isfinite(v) ? v : 0;
}

int psc_cost_quantiles(const struct psc_profile *cpu, const struct psc_profile *mem_gb,
		       const struct psc_profile *net_gb, const struct psc_profile *requests,
		       const struct psc_prices *prices, enum psc_cost_period period,
		       unsigned start_how, unsigned samples, uint64_t seed, const double *qs,
		       size_t nq, double *out)
{
	static const unsigned hours[_PSC_COST_MAX] = { 24, 168, 720 };
	struct psc_rng rng;

	if (!prices || period >= _PSC_COST_MAX || samples < 10)
		return -EINVAL;
	_cleanup_free_ double *cost = malloc(samples * sizeof(*cost));
	if (!cost)
		return -ENOMEM;
	psc_rng_seed(&rng, seed);
	for (unsigned s = 0; s < samples; s++) {
		double c = 0;
		for (unsigned h = 0; h < hours[period]; h++) {
			unsigned how = (start_how + h) % PSC_HOURS_PER_WEEK;
			c += draw(cpu, how, &rng) * prices->cpu_core_hour;
			c += draw(mem_gb, how, &rng) * prices->gb_hour;
			c += draw(net_gb, how, &rng) * prices->gb_transferred;
			c += draw(requests, how, &rng) * prices->per_request;
		}
		cost[s] = c;
	}
	for (size_t i = 0; i < nq; i++)
		out[i] = psc_quantile_inplace(cost, samples, qs[i]);
	return 0;
}
