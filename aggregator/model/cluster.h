/* SPDX-License-Identifier: MIT */
/* Clustering of workloads by behaviour vector.
 *
 * Data are n points of d doubles, row-major (x[i * d + j]); callers standardise the
 * columns first (psc_standardize()) so that no feature dominates by its unit. All
 * functions are deterministic for a given seed, pure, and allocate only scratch memory.
 *
 * Methods:
 *  - k-means++ (Arthur & Vassilvitskii seeding, Lloyd iterations, best of `restarts` by
 *    inertia); psc_kmeans_auto() chooses k in [kmin, kmax] by the mean silhouette
 *    (Rousseeuw 1987): the k with the highest silhouette wins.
 *  - DBSCAN with eps from the knee of the sorted k-distance curve (the point farthest
 *    below the chord) when eps <= 0; noise points get label -1.
 *  - Gaussian mixture with diagonal covariances fitted by EM from a k-means start;
 *    psc_gmm_auto() chooses k by the Bayesian information criterion (lowest BIC).
 * Membership over time: psc_membership keeps each workload's cluster across cycles and
 * records every move; psc_cluster_match() keeps labels stable when clusters are refitted. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Standardises each column of @x in place to mean 0 and sd 1 (constant columns become 0).
 * If @mean and @sd are not NULL they receive the d column statistics. */
void psc_standardize(double *x, size_t n, size_t d, double *mean, double *sd);

/* Squared Euclidean distance of two d-vectors. */
double psc_dist2(const double *a, const double *b, size_t d);

/* k-means++ with @restarts (>= 1) random starts. Writes n labels in [0, k) and k*d
 * centroids; *inertia (may be NULL) = sum of squared distances to the centroids.
 * Returns 0, -EINVAL (k < 1, k > n, d < 1) or -ENOMEM. */
int psc_kmeans(const double *x, size_t n, size_t d, size_t k, uint64_t seed, unsigned restarts,
	       int *label, double *centroid, double *inertia);

/* Mean silhouette of a labelling with k clusters (labels < 0 are ignored, as are
 * singletons' own scores, which count as 0). When @per_point is not NULL it receives each
 * point's s(i) (NAN for ignored points). Exact, O(n^2 d); above 3000 points the mean is
 * estimated on a deterministic sample of 3000 (per_point is then filled for all points
 * against that sample). Returns NAN if fewer than 2 clusters are populated. */
double psc_silhouette(const double *x, size_t n, size_t d, const int *label, size_t k,
		      double *per_point);

/* k-means for every k in [kmin, kmax] (kmin >= 2, kmax <= n - 1), keeping the labelling
 * with the highest mean silhouette. Writes n labels, *k_out, *silhouette_out, and the
 * chosen centroids into @centroid (room for kmax * d); @per_k (may be NULL, kmax + 1
 * entries) receives the silhouette of each k tried. Returns 0, -EINVAL or -ENOMEM. */
int psc_kmeans_auto(const double *x, size_t n, size_t d, size_t kmin, size_t kmax,
		    uint64_t seed, int *label, double *centroid, size_t *k_out,
		    double *silhouette_out, double *per_k);

/* Knee of the sorted distance to each point's @min_pts-th neighbour. Returns the eps, or
 * NAN on allocation failure or n < 2. */
double psc_dbscan_eps(const double *x, size_t n, size_t d, size_t min_pts);

/* DBSCAN. eps <= 0 means psc_dbscan_eps(). Writes n labels (-1 = noise) and returns the
 * number of clusters (>= 0), or -EINVAL / -ENOMEM. *eps_used (may be NULL) gets eps. */
int psc_dbscan(const double *x, size_t n, size_t d, double eps, size_t min_pts, int *label,
	       double *eps_used);

/* Diagonal Gaussian mixture with k components, EM from k-means++ (at most @iters
 * iterations, stopping when the log-likelihood gains less than 1e-6 per point). Writes
 * n hard labels (most probable component), and *loglik and *bic (may be NULL).
 * Returns 0, -EINVAL or -ENOMEM. */
int psc_gmm(const double *x, size_t n, size_t d, size_t k, uint64_t seed, unsigned iters,
	    int *label, double *loglik, double *bic);

/* psc_gmm() for k in [kmin, kmax], keeping the lowest BIC. */
int psc_gmm_auto(const double *x, size_t n, size_t d, size_t kmin, size_t kmax, uint64_t seed,
		 int *label, size_t *k_out, double *bic_out);

/* Maps each of the k_new new centroids to the nearest unused old label (greedy by
 * distance), so a refit keeps cluster names stable; unmatched new clusters get fresh
 * labels starting at k_old. map[new] = label to use. */
void psc_cluster_match(const double *old_c, size_t k_old, const double *new_c, size_t k_new,
		       size_t d, int *map);

struct psc_move {
	size_t workload;
	int from, to;
	uint64_t cycle;
};

struct psc_membership {
	size_t n;
	int *label; /* current cluster of each workload, -1 = none yet */
	uint64_t cycle;
	struct psc_move *moves; /* every change since creation (bounded by max_moves) */
	size_t n_moves, cap_moves, max_moves;
	size_t dropped_moves; /* moves not kept because max_moves was reached */
};

/* @max_moves bounds the move log (oldest kept). Returns 0 or -ENOMEM; free with
 * psc_membership_free(). */
int psc_membership_init(struct psc_membership *m, size_t n, size_t max_moves);
void psc_membership_free(struct psc_membership *m);
/* Applies this cycle's labels (n of them); records a move for each workload whose label
 * changed (including from -1). Returns the number of moves this cycle, or -ENOMEM. */
int psc_membership_update(struct psc_membership *m, const int *label);
