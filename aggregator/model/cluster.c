// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cluster.h"
#include "mathutil.h"

#define KMEANS_ITERS 100
#define SIL_SAMPLE 3000

void psc_standardize(double *x, size_t n, size_t d, double *mean, double *sd)
{
	for (size_t j = 0; j < d; j++) {
		double m = 0, s = 0;
		for (size_t i = 0; i < n; i++)
			m += x[i * d + j];
		m = n ? m / n : 0;
		for (size_t i = 0; i < n; i++)
			s += (x[i * d + j] - m) * (x[i * d + j] - m);
		s = n > 1 ? sqrt(s / (n - 1)) : 0;
		for (size_t i = 0; i < n; i++)
			x[i * d + j] = s > 0 ? (x[i * d + j] - m) / s : 0;
		if (mean)
			mean[j] = m;
		if (sd)
			sd[j] = s;
	}
}

double psc_dist2(const double *a, const double *b, size_t d)
{
	double s = 0;
	for (size_t j = 0; j < d; j++) {
		double t = a[j] - b[j];
		s += t * t;
	}
	return s;
}

static size_t nearest(const double *p, const double *c, size_t k, size_t d, double *dist)
{
	size_t best = 0;
	double bd = INFINITY;
	for (size_t j = 0; j < k; j++) {
		double t = psc_dist2(p, c + j * d, d);
		if (t < bd) {
			bd = t;
			best = j;
		}
	}
	if (dist)
		*dist = bd;
	return best;
}

/* One k-means++ run; returns the inertia. */
static double kmeans_once(const double *x, size_t n, size_t d, size_t k, struct psc_rng *rng,
			  int *label, double *c, double *dmin, size_t *count)
{
	size_t first = psc_rng_next(rng) % n;
	memcpy(c, x + first * d, d * sizeof(*c));
	for (size_t i = 0; i < n; i++)
		dmin[i] = psc_dist2(x + i * d, c, d);
	for (size_t j = 1; j < k; j++) {
		double tot = 0;
		for (size_t i = 0; i < n; i++)
			tot += dmin[i];
		size_t pick = psc_rng_next(rng) % n;
		if (tot > 0) {
			double r = psc_rng_uniform(rng) * tot, acc = 0;
			for (size_t i = 0; i < n; i++) {
				acc += dmin[i];
				if (acc >= r) {
					pick = i;
					break;
				}
			}
		}
		memcpy(c + j * d, x + pick * d, d * sizeof(*c));
		for (size_t i = 0; i < n; i++) {
			double t = psc_dist2(x + i * d, c + j * d, d);
			if (t < dmin[i])
				dmin[i] = t;
		}
	}
	for (size_t i = 0; i < n; i++)
		label[i] = -1;
	double inertia = 0;
	for (int it = 0; it < KMEANS_ITERS; it++) {
		bool changed = false;
		inertia = 0;
		for (size_t i = 0; i < n; i++) {
			double dd;
			int l = (int)nearest(x + i * d, c, k, d, &dd);
			inertia += dd;
			dmin[i] = dd;
			if (l != label[i]) {
				label[i] = l;
				changed = true;
			}
		}
		if (!changed)
			break;
		memset(c, 0, k * d * sizeof(*c));
		memset(count, 0, k * sizeof(*count));
		for (size_t i = 0; i < n; i++) {
			count[label[i]]++;
			for (size_t j = 0; j < d; j++)
				c[label[i] * d + j] += x[i * d + j];
		}
		for (size_t j = 0; j < k; j++) {
			if (count[j]) {
				for (size_t t = 0; t < d; t++)
					c[j * d + t] /= count[j];
				continue;
			}
			/* An empty cluster takes the point farthest from its centroid. */
			size_t far = 0;
			for (size_t i = 1; i < n; i++)
				if (dmin[i] > dmin[far])
					far = i;
			memcpy(c + j * d, x + far * d, d * sizeof(*c));
			dmin[far] = 0;
		}
	}
	return inertia;
}

int psc_kmeans(const double *x, size_t n, size_t d, size_t k, uint64_t seed, unsigned restarts,
	       int *label, double *centroid, double *inertia)
{
	struct psc_rng rng;

	if (k < 1 || k > n || d < 1)
		return -EINVAL;
	_cleanup_free_ int *lab = malloc(n * sizeof(*lab));
	_cleanup_free_ double *c = malloc(k * d * sizeof(*c));
	_cleanup_free_ double *dmin = malloc(n * sizeof(*dmin));
	_cleanup_free_ size_t *count = malloc(k * sizeof(*count));
	if (!lab || !c || !dmin || !count)
		return -ENOMEM;
	psc_rng_seed(&rng, seed);
	double best = INFINITY;
	for (unsigned r = 0; r < (restarts ? restarts : 1); r++) {
		double in = kmeans_once(x, n, d, k, &rng, lab, c, dmin, count);
		if (in < best) {
			best = in;
			memcpy(label, lab, n * sizeof(*lab));
			memcpy(centroid, c, k * d * sizeof(*c));
		}
	}
	if (inertia)
		*inertia = best;
	return 0;
}

double psc_silhouette(const double *x, size_t n, size_t d, const int *label, size_t k,
		      double *per_point)
{
	if (k < 2 || n < 2)
		return NAN;
	_cleanup_free_ double *sum = calloc(k, sizeof(*sum));
	_cleanup_free_ size_t *cnt = calloc(k, sizeof(*cnt));
	_cleanup_free_ size_t *ref = malloc(n * sizeof(*ref));
	if (!sum || !cnt || !ref)
		return NAN;
	/* Reference points: all, or an evenly spaced sample. */
	size_t m = 0;
	size_t step = n > SIL_SAMPLE ? (n + SIL_SAMPLE - 1) / SIL_SAMPLE : 1;
	for (size_t i = 0; i < n; i += step)
		ref[m++] = i;
	size_t populated = 0;
	{
		_cleanup_free_ size_t *all = calloc(k, sizeof(*all));
		if (!all)
			return NAN;
		for (size_t i = 0; i < n; i++)
			if (label[i] >= 0 && (size_t)label[i] < k)
				all[label[i]]++;
		for (size_t j = 0; j < k; j++)
			populated += all[j] > 0;
	}
	if (populated < 2)
		return NAN;
	double total = 0;
	size_t counted = 0;
	for (size_t i = 0; i < n; i++) {
		int li = label[i];
		if (per_point)
			per_point[i] = NAN;
		if (li < 0 || (size_t)li >= k)
			continue;
		memset(sum, 0, k * sizeof(*sum));
		memset(cnt, 0, k * sizeof(*cnt));
		for (size_t r = 0; r < m; r++) {
			size_t j = ref[r];
			int lj = label[j];
			if (j == i || lj < 0 || (size_t)lj >= k)
				continue;
			sum[lj] += sqrt(psc_dist2(x + i * d, x + j * d, d));
			cnt[lj]++;
		}
		double s = 0;
		if (cnt[li]) {
			double a = sum[li] / cnt[li], b = INFINITY;
			for (size_t c = 0; c < k; c++)
				if ((int)c != li && cnt[c] && sum[c] / cnt[c] < b)
					b = sum[c] / cnt[c];
			double mx = a > b ? a : b;
			s = isfinite(b) && mx > 0 ? (b - a) / mx : 0;
		}
		if (per_point)
			per_point[i] = s;
		if (step == 1 || i % step == 0) {
			total += s;
			counted++;
		}
	}
	return counted ? total / counted : NAN;
}

int psc_kmeans_auto(const double *x, size_t n, size_t d, size_t kmin, size_t kmax,
		    uint64_t seed, int *label, double *centroid, size_t *k_out,
		    double *silhouette_out, double *per_k)
{
	if (kmin < 2 || kmax < kmin || kmax >= n || d < 1)
		return -EINVAL;
	_cleanup_free_ int *lab = malloc(n * sizeof(*lab));
	_cleanup_free_ double *c = malloc(kmax * d * sizeof(*c));
	if (!lab || !c)
		return -ENOMEM;
	double best = -INFINITY;
	for (size_t k = kmin; k <= kmax; k++) {
		int r = psc_kmeans(x, n, d, k, seed + k, 8, lab, c, NULL);
		if (r < 0)
			return r;
		double s = psc_silhouette(x, n, d, lab, k, NULL);
		if (per_k)
			per_k[k] = s;
		if (isfinite(s) && s > best) {
			best = s;
			memcpy(label, lab, n * sizeof(*lab));
			memcpy(centroid, c, k * d * sizeof(*c));
			*k_out = k;
		}
	}
	if (!isfinite(best))
		return -EINVAL;
	*silhouette_out = best;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double psc_dbscan_eps(const double *x, size_t n, size_t d, size_t min_pts)
{
	if (n < 2)
		return NAN;
	if (min_pts < 1)
		min_pts = 1;
	if (min_pts > n - 1)
		min_pts = n - 1;
	_cleanup_free_ double *kd = malloc(n * sizeof(*kd));
	_cleanup_free_ double *row = malloc(n * sizeof(*row));
	if (!kd || !row)
		return NAN;
	for (size_t i = 0; i < n; i++) {
		size_t m = 0;
		for (size_t j = 0; j < n; j++)
			if (j != i)
				row[m++] = psc_dist2(x + i * d, x + j * d, d);
		double q = (double)(min_pts - 1) / (m > 1 ? m - 1 : 1);
		kd[i] = sqrt(psc_quantile_inplace(row, m, q));
	}
	qsort(kd, n, sizeof(*kd), cmp_double);
	double lo = kd[0], hi = kd[n - 1];
	if (!(hi > lo))
		return hi > 0 ? hi : 1e-9;
	size_t knee = 0;
	double best = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		double fx = (double)i / (n - 1), fy = (kd[i] - lo) / (hi - lo);
		if (fx - fy > best) {
			best = fx - fy;
			knee = i;
		}
	}
	return kd[knee] > 0 ? kd[knee] : 1e-9;
}

int psc_dbscan(const double *x, size_t n, size_t d, double eps, size_t min_pts, int *label,
	       double *eps_used)
{
	if (n < 1 || d < 1 || min_pts < 1)
		return -EINVAL;
	if (!(eps > 0))
		eps = psc_dbscan_eps(x, n, d, min_pts);
	if (!isfinite(eps))
		return -ENOMEM;
	if (eps_used)
		*eps_used = eps;
	double e2 = eps * eps;
	_cleanup_free_ size_t *queue = malloc(n * sizeof(*queue));
	_cleanup_free_ size_t *nb = malloc(n * sizeof(*nb));
	if (!queue || !nb)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		label[i] = -2; /* unvisited */
	int clusters = 0;
	for (size_t i = 0; i < n; i++) {
		if (label[i] != -2)
			continue;
		size_t cnt = 0;
		for (size_t j = 0; j < n; j++)
			cnt += psc_dist2(x + i * d, x + j * d, d) <= e2;
		if (cnt < min_pts) {
			label[i] = -1;
			continue;
		}
		int c = clusters++;
		size_t qh = 0, qt = 0;
		label[i] = c;
		queue[qt++] = i;
		while (qh < qt) {
			size_t p = queue[qh++];
			size_t m = 0;
			for (size_t j = 0; j < n; j++)
				if (psc_dist2(x + p * d, x + j * d, d) <= e2)
					nb[m++] = j;
			if (m < min_pts)
				continue; /* border point: do not expand */
			for (size_t t = 0; t < m; t++) {
				size_t j = nb[t];
				if (label[j] == -1)
					label[j] = c;
				if (label[j] != -2)
					continue;
				label[j] = c;
				queue[qt++] = j;
			}
		}
	}
	return clusters;
}

int psc_gmm(const double *x, size_t n, size_t d, size_t k, uint64_t seed, unsigned iters,
	    int *label, double *loglik, double *bic)
{
	if (k < 1 || k > n || d < 1)
		return -EINVAL;
	_cleanup_free_ double *mu = malloc(k * d * sizeof(*mu));
	_cleanup_free_ double *var = malloc(k * d * sizeof(*var));
	_cleanup_free_ double *w = malloc(k * sizeof(*w));
	_cleanup_free_ double *resp = malloc(n * k * sizeof(*resp));
	_cleanup_free_ double *nk = malloc(k * sizeof(*nk));
	if (!mu || !var || !w || !resp || !nk)
		return -ENOMEM;
	int r = psc_kmeans(x, n, d, k, seed, 4, label, mu, NULL);
	if (r < 0)
		return r;
	/* Start: k-means centroids, per-cluster variances, cluster shares. */
	for (size_t j = 0; j < k * d; j++)
		var[j] = 0;
	for (size_t j = 0; j < k; j++)
		nk[j] = 0;
	for (size_t i = 0; i < n; i++) {
		size_t c = (size_t)label[i];
		nk[c]++;
		for (size_t t = 0; t < d; t++) {
			double e = x[i * d + t] - mu[c * d + t];
			var[c * d + t] += e * e;
		}
	}
	const double floor_var = 1e-3;
	for (size_t c = 0; c < k; c++) {
		w[c] = (nk[c] + 1) / (n + k);
		for (size_t t = 0; t < d; t++) {
			double v = nk[c] > 1 ? var[c * d + t] / nk[c] : 1;
			var[c * d + t] = v > floor_var ? v : floor_var;
		}
	}
	double ll = -INFINITY;
	for (unsigned it = 0; it < (iters ? iters : 100); it++) {
		/* E step in log space. */
		double nll = 0;
		for (size_t i = 0; i < n; i++) {
			double mx = -INFINITY;
			for (size_t c = 0; c < k; c++) {
				double lp = log(w[c]);
				for (size_t t = 0; t < d; t++) {
					double e = x[i * d + t] - mu[c * d + t];
					double v = var[c * d + t];
					lp -= 0.5 * (log(2 * M_PI * v) + e * e / v);
				}
				resp[i * k + c] = lp;
				mx = lp > mx ? lp : mx;
			}
			double s = 0;
			for (size_t c = 0; c < k; c++)
				s += exp(resp[i * k + c] - mx);
			double lse = mx + log(s);
			nll += lse;
			for (size_t c = 0; c < k; c++)
				resp[i * k + c] = exp(resp[i * k + c] - lse);
		}
		bool done = nll - ll < 1e-6 * n;
		ll = nll;
		if (done)
			break;
		/* M step. */
		for (size_t c = 0; c < k; c++) {
			double s = 0;
			for (size_t i = 0; i < n; i++)
				s += resp[i * k + c];
			nk[c] = s;
			w[c] = (s + 1e-9) / (n + k * 1e-9);
			for (size_t t = 0; t < d; t++) {
				double m = 0;
				for (size_t i = 0; i < n; i++)
					m += resp[i * k + c] * x[i * d + t];
				m = s > 0 ? m / s : 0;
				double v = 0;
				for (size_t i = 0; i < n; i++) {
					double e = x[i * d + t] - m;
					v += resp[i * k + c] * e * e;
				}
				v = s > 0 ? v / s : 1;
				mu[c * d + t] = m;
				var[c * d + t] = v > floor_var ? v : floor_var;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		size_t best = 0;
		for (size_t c = 1; c < k; c++)
			if (resp[i * k + c] > resp[i * k + best])
				best = c;
		label[i] = (int)best;
	}
	if (loglik)
		*loglik = ll;
	if (bic) {
		double params = (double)k * 2 * d + (k - 1);
		*bic = -2 * ll + params * log((double)n);
	}
	return 0;
}

int psc_gmm_auto(const double *x, size_t n, size_t d, size_t kmin, size_t kmax, uint64_t seed,
		 int *label, size_t *k_out, double *bic_out)
{
	if (kmin < 1 || kmax < kmin || kmax > n)
		return -EINVAL;
	_cleanup_free_ int *lab = malloc(n * sizeof(*lab));
	if (!lab)
		return -ENOMEM;
	double best = INFINITY;
	for (size_t k = kmin; k <= kmax; k++) {
		double bic;
		int r = psc_gmm(x, n, d, k, seed + k, 200, lab, NULL, &bic);
		if (r < 0)
			return r;
		if (bic < best) {
			best = bic;
			*k_out = k;
			memcpy(label, lab, n * sizeof(*lab));
		}
	}
	*bic_out = best;
	return 0;
}

void psc_cluster_match(const double *old_c, size_t k_old, const double *new_c, size_t k_new,
		       size_t d, int *map)
{
	bool used_old[256] = { 0 }, done_new[256] = { 0 };
	int next = (int)k_old;

	for (size_t j = 0; j < k_new; j++)
		map[j] = -1;
	/* Greedy: repeatedly take the closest remaining (old, new) pair. */
	for (;;) {
		double bd = INFINITY;
		size_t bo = 0, bn = 0;
		for (size_t o = 0; o < k_old && o < 256; o++) {
			if (used_old[o])
				continue;
			for (size_t j = 0; j < k_new && j < 256; j++) {
				if (done_new[j])
					continue;
				double t = psc_dist2(old_c + o * d, new_c + j * d, d);
				if (t < bd) {
					bd = t;
					bo = o;
					bn = j;
				}
			}
		}
		if (!isfinite(bd))
			break;
		used_old[bo] = done_new[bn] = true;
		map[bn] = (int)bo;
	}
	for (size_t j = 0; j < k_new; j++)
		if (map[j] < 0)
			map[j] = next++;
}

int psc_membership_init(struct psc_membership *m, size_t n, size_t max_moves)
{
	memset(m, 0, sizeof(*m));
	m->label = malloc((n ? n : 1) * sizeof(*m->label));
	if (!m->label)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		m->label[i] = -1;
	m->n = n;
	m->max_moves = max_moves;
	return 0;
}

void psc_membership_free(struct psc_membership *m)
{
	free(m->label);
	free(m->moves);
	memset(m, 0, sizeof(*m));
}

int psc_membership_update(struct psc_membership *m, const int *label)
{
	int moved = 0;

	for (size_t i = 0; i < m->n; i++) {
		if (label[i] == m->label[i])
			continue;
		moved++;
		if (m->n_moves == m->max_moves) {
			m->dropped_moves++;
		} else {
			if (m->n_moves == m->cap_moves) {
				size_t cap = m->cap_moves ? m->cap_moves * 2 : 64;
				struct psc_move *nm = realloc(m->moves, cap * sizeof(*nm));
				if (!nm)
					return -ENOMEM;
				m->moves = nm;
				m->cap_moves = cap;
			}
			m->moves[m->n_moves++] = (struct psc_move){ .workload = i,
								    .from = m->label[i],
								    .to = label[i],
								    .cycle = m->cycle };
		}
		m->label[i] = label[i];
	}
	m->cycle++;
	return moved;
}
