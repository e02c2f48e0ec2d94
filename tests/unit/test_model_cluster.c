// SPDX-License-Identifier: MIT
/* Clustering: k-means++ with k by silhouette, DBSCAN, GMM by BIC, stable labels, moves. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "behaviour.h"
#include "cluster.h"
#include "mathutil.h"

#define N 300
#define D 4

static const double centers[3][D] = { { 0, 0, 0, 0 }, { 8, 8, 0, 0 }, { 0, 8, 8, 4 } };

static void blobs(double *x, int *truth, double sd, uint64_t seed)
{
	struct psc_rng rng;

	psc_rng_seed(&rng, seed);
	for (int i = 0; i < N; i++) {
		truth[i] = i % 3;
		for (int j = 0; j < D; j++)
			x[i * D + j] = centers[truth[i]][j] + sd * psc_rng_normal(&rng);
	}
}

/* Fraction of pairs on which two labellings agree (Rand index). */
static double rand_index(const int *a, const int *b, int n)
{
	long agree = 0, total = 0;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++) {
			agree += (a[i] == a[j]) == (b[i] == b[j]);
			total++;
		}
	return (double)agree / total;
}

static void test_kmeans_finds_three_blobs(void **state)
{
	static double x[N * D], cent[10 * D];
	int truth[N], label[N];
	size_t k;
	double sil;

	blobs(x, truth, 1.0, 1);
	double per_k[9];
	assert_int_equal(psc_kmeans_auto(x, N, D, 2, 8, 7, label, cent, &k, &sil, per_k), 0);
	assert_int_equal(k, 3);
	for (int j = 2; j <= 8; j++)
		assert_true(j == 3 || per_k[j] < per_k[3]);
	assert_true(sil > 0.6);
	assert_true(rand_index(label, truth, N) > 0.99);
	/* centroids near the true centres */
	for (int c = 0; c < 3; c++) {
		double best = INFINITY;
		for (int j = 0; j < 3; j++)
			best = fmin(best, psc_dist2(cent + c * D, centers[j], D));
		assert_true(best < 0.5);
	}
	/* silhouette of a random labelling is near 0 */
	struct psc_rng rng;
	psc_rng_seed(&rng, 99);
	for (int i = 0; i < N; i++)
		label[i] = (int)(psc_rng_next(&rng) % 3);
	assert_true(fabs(psc_silhouette(x, N, D, label, 3, NULL)) < 0.1);
	assert_int_equal(psc_kmeans(x, N, D, 0, 1, 1, label, cent, NULL), -EINVAL);
}

static void test_dbscan_blobs_and_noise(void **state)
{
	static double x[(N + 3) * D];
	int truth[N + 3], label[N + 3];
	double eps;

	blobs(x, truth, 0.7, 2);
	/* three far outliers */
	for (int i = N; i < N + 3; i++) {
		for (int j = 0; j < D; j++)
			x[i * D + j] = 40 + 15 * (i - N) + j;
		truth[i] = -1;
	}
	int k = psc_dbscan(x, N + 3, D, 0, D + 1, label, &eps);
	assert_int_equal(k, 3);
	assert_true(eps > 0);
	for (int i = N; i < N + 3; i++)
		assert_int_equal(label[i], -1);
	assert_true(rand_index(label, truth, N) > 0.98);
}

static void test_gmm_bic_picks_three(void **state)
{
	static double x[N * D];
	int truth[N], label[N];
	size_t k;
	double bic;

	blobs(x, truth, 1.0, 3);
	assert_int_equal(psc_gmm_auto(x, N, D, 1, 6, 5, label, &k, &bic), 0);
	assert_int_equal(k, 3);
	assert_true(isfinite(bic));
	assert_true(rand_index(label, truth, N) > 0.99);
}

static void test_match_and_membership(void **state)
{
	const double old_c[2 * 2] = { 0, 0, 10, 10 };
	const double new_c[3 * 2] = { 10.5, 9.5, 50, 50, 0.2, -0.1 };
	int map[3];
	struct psc_membership m;

	psc_cluster_match(old_c, 2, new_c, 3, 2, map);
	assert_int_equal(map[0], 1);
	assert_int_equal(map[2], 0);
	assert_int_equal(map[1], 2);

	assert_int_equal(psc_membership_init(&m, 4, 100), 0);
	int l1[4] = { 0, 0, 1, 1 }, l2[4] = { 0, 1, 1, 1 };
	assert_int_equal(psc_membership_update(&m, l1), 4);
	assert_int_equal(psc_membership_update(&m, l1), 0);
	assert_int_equal(psc_membership_update(&m, l2), 1);
	assert_int_equal(m.n_moves, 5);
	assert_int_equal(m.moves[4].workload, 1);
	assert_int_equal(m.moves[4].from, 0);
	assert_int_equal(m.moves[4].to, 1);
	assert_int_equal(m.moves[4].cycle, 2);
	psc_membership_free(&m);
}

static void test_series_features(void **state)
{
	double v[288], f[_PSC_SF_MAX];

	/* busy 08-20, idle otherwise: strong diurnal share, shape peaks in the day */
	for (int i = 0; i < 288; i++) {
		int h = i / 12;
		v[i] = (h >= 8 && h < 20 ? 50 : 5) + (i % 3);
	}
	assert_int_equal(psc_series_features(v, 288, 300, 0, f), 0);
	assert_true(f[PSC_SF_DIURNAL] > 0.9);
	assert_true(f[PSC_SF_SHAPE0 + 3] > 1.5 && f[PSC_SF_SHAPE0] < 0.5);
	assert_true(f[PSC_SF_ACF1] > 0.8);
	assert_true(fabs(f[PSC_SF_DUTY] - 0.5) < 0.05);
	assert_int_equal(psc_series_features(v, 3, 300, 0, f), -EINVAL);
	assert_string_equal(psc_series_feature_name(PSC_SF_CV), "cv");

	double b[_PSC_B_MAX], counts[2] = { 30, 10 };
	struct psc_window_obs w = { .window_s = 10, .cpu_s = 5, .requests = 1000, .errors = 10,
				    .bytes_in = 1e5, .bytes_out = 1e6, .latency_p50_us = 100,
				    .endpoint_counts = counts, .n_endpoints = 2 };
	assert_int_equal(psc_behaviour_vector(&w, b), 0);
	assert_true(fabs(b[PSC_B_REQ_RATE] - log1p(100)) < 1e-12);
	assert_true(fabs(b[PSC_B_ERROR_RATE] - 0.01) < 1e-12);
	assert_true(fabs(b[PSC_B_MIX0] - 0.75) < 1e-12);
	assert_true(fabs(b[PSC_B_CPU_PER_REQ] - log1p(5.0)) < 1e-12);
	w.window_s = 0;
	assert_int_equal(psc_behaviour_vector(&w, b), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kmeans_finds_three_blobs),
		cmocka_unit_test(test_dbscan_blobs_and_noise),
		cmocka_unit_test(test_gmm_bic_picks_three),
		cmocka_unit_test(test_match_and_membership),
		cmocka_unit_test(test_series_features),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
