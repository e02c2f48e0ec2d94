// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <string.h>

#include "mathutil.h"

static void swap_d(double *a, double *b)
{
	double t = *a;
	*a = *b;
	*b = t;
}

/* Quickselect with median-of-three pivots: afterwards a[k] is the k-th smallest and
 * a[<k] <= a[k] <= a[>k]. Equal keys stop both scans, so constant inputs (common in
 * traces) stay linear. Callers never pass NaN. */
static double select_k(double *a, size_t n, size_t k)
{
	size_t l = 0, ir = n - 1;

	for (;;) {
		if (ir <= l + 1) {
			if (ir == l + 1 && a[ir] < a[l])
				swap_d(&a[l], &a[ir]);
			return a[k];
		}
		size_t mid = (l + ir) >> 1;
		swap_d(&a[mid], &a[l + 1]);
		if (a[l] > a[ir])
			swap_d(&a[l], &a[ir]);
		if (a[l + 1] > a[ir])
			swap_d(&a[l + 1], &a[ir]);
		if (a[l] > a[l + 1])
			swap_d(&a[l], &a[l + 1]);
		size_t i = l + 1, j = ir;
		double x = a[l + 1];
		for (;;) {
			do
				i++;
			while (a[i] < x);
			do
				j--;
			while (a[j] > x);
			if (j < i)
				break;
			swap_d(&a[i], &a[j]);
		}
		a[l + 1] = a[j];
		a[j] = x;
		if (j >= k)
			ir = j - 1;
		if (j <= k)
			l = i;
	}
}

double psc_quantile_inplace(double *a, size_t n, double q)
{
	if (n == 0)
		return NAN;
	if (q <= 0)
		q = 0;
	if (q >= 1)
		q = 1;
	double pos = q * (double)(n - 1);
	size_t k = (size_t)floor(pos);
	double frac = pos - (double)k;
	double lo = select_k(a, n, k);
	if (frac <= 0 || k + 1 >= n)
		return lo;
	/* The next order statistic is the minimum of the upper part. */
	double hi = a[k + 1];
	for (size_t i = k + 2; i < n; i++)
		if (a[i] < hi)
			hi = a[i];
	return lo + frac * (hi - lo);
}

double psc_quantile(const double *a, size_t n, double q, double *scratch)
{
	if (n == 0)
		return NAN;
	memcpy(scratch, a, n * sizeof(*a));
	return psc_quantile_inplace(scratch, n, q);
}

double psc_mad(const double *a, size_t n, double *scratch)
{
	if (n == 0)
		return NAN;
	double med = psc_quantile(a, n, 0.5, scratch);
	for (size_t i = 0; i < n; i++)
		scratch[i] = fabs(a[i] - med);
	return psc_quantile_inplace(scratch, n, 0.5);
}

double psc_mean(const double *a, size_t n)
{
	double s = 0;

	if (n == 0)
		return NAN;
	for (size_t i = 0; i < n; i++)
		s += a[i];
	return s / (double)n;
}

double psc_stddev(const double *a, size_t n)
{
	if (n < 2)
		return 0;
	double m = psc_mean(a, n), s = 0;
	for (size_t i = 0; i < n; i++)
		s += (a[i] - m) * (a[i] - m);
	return sqrt(s / (double)(n - 1));
}

double psc_acf(const double *x, size_t n, size_t lag)
{
	if (lag >= n || n < 2)
		return 0;
	double m = psc_mean(x, n), den = 0, num = 0;
	for (size_t i = 0; i < n; i++)
		den += (x[i] - m) * (x[i] - m);
	if (den <= 0)
		return 0;
	for (size_t i = lag; i < n; i++)
		num += (x[i] - m) * (x[i - lag] - m);
	return num / den;
}

double psc_norm_sf(double z)
{
	return 0.5 * erfc(z / M_SQRT2);
}

double psc_norm_cdf(double z)
{
	return 0.5 * erfc(-z / M_SQRT2);
}

void psc_rng_seed(struct psc_rng *r, uint64_t seed)
{
	r->s = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t psc_rng_next(struct psc_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

double psc_rng_uniform(struct psc_rng *r)
{
	return (double)(psc_rng_next(r) >> 11) * 0x1.0p-53;
}

double psc_rng_normal(struct psc_rng *r)
{
	double u1 = psc_rng_uniform(r), u2 = psc_rng_uniform(r);

	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

int psc_solve_spd(double *a, double *b, size_t n, double ridge)
{
	for (size_t i = 0; i < n; i++)
		a[i * n + i] += ridge;
	for (size_t j = 0; j < n; j++) {
		double d = a[j * n + j];
		for (size_t k = 0; k < j; k++)
			d -= a[j * n + k] * a[j * n + k];
		if (!(d > 0))
			return -EDOM;
		d = sqrt(d);
		a[j * n + j] = d;
		for (size_t i = j + 1; i < n; i++) {
			double s = a[i * n + j];
			for (size_t k = 0; k < j; k++)
				s -= a[i * n + k] * a[j * n + k];
			a[i * n + j] = s / d;
		}
	}
	for (size_t i = 0; i < n; i++) {
		double s = b[i];
		for (size_t k = 0; k < i; k++)
			s -= a[i * n + k] * b[k];
		b[i] = s / a[i * n + i];
	}
	for (size_t i = n; i-- > 0;) {
		double s = b[i];
		for (size_t k = i + 1; k < n; k++)
			s -= a[k * n + i] * b[k];
		b[i] = s / a[i * n + i];
	}
	return 0;
}
