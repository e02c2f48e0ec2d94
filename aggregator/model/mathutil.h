/* SPDX-License-Identifier: MIT */
/* Small numerical helpers shared by the modeling engine: order statistics, robust scale,
 * autocorrelation, a seeded random generator and a dense least-squares solver.
 * Pure functions, no allocation unless stated, no I/O. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Quantile @q in [0,1] of @a[0..n) with linear interpolation between order statistics
 * (Hyndman-Fan type 7, the default of R and numpy). Reorders @a in place (quickselect,
 * O(n) expected). Returns NAN when n == 0. */
double psc_quantile_inplace(double *a, size_t n, double q);

/* Same, on a copy made in @scratch (at least n doubles); @a is left untouched. */
double psc_quantile(const double *a, size_t n, double q, double *scratch);

/* Median absolute deviation around the median, unscaled (multiply by 1.4826 for a
 * Gaussian sd). @scratch holds at least n doubles. Returns NAN when n == 0. */
double psc_mad(const double *a, size_t n, double *scratch);

double psc_mean(const double *a, size_t n);
double psc_stddev(const double *a, size_t n);

/* Sample autocorrelation of @x[0..n) at @lag (biased estimator, as in the ACF plot).
 * Returns 0 when lag >= n or the series is constant. */
double psc_acf(const double *x, size_t n, size_t lag);

/* Standard normal cumulative distribution and its upper tail, accurate in the tails. */
double psc_norm_cdf(double z);
double psc_norm_sf(double z);

/* xorshift64* generator: deterministic for a given seed (seed 0 is remapped). */
struct psc_rng {
	uint64_t s;
};

void psc_rng_seed(struct psc_rng *r, uint64_t seed);
uint64_t psc_rng_next(struct psc_rng *r);
/* Uniform in [0, 1). */
double psc_rng_uniform(struct psc_rng *r);
/* Standard normal (Box-Muller). */
double psc_rng_normal(struct psc_rng *r);

/* Solves the symmetric positive definite system @a x = @b of size n in place by Cholesky
 * (a is n*n row-major and is overwritten by its factor; b becomes x). Adds @ridge to the
 * diagonal first. Returns 0, or -EDOM if the matrix is not positive definite. */
int psc_solve_spd(double *a, double *b, size_t n, double ridge);
