// SPDX-License-Identifier: MIT
/* Modeling cycle benchmark: the time one aggregator cycle takes for N workloads on one
 * core. A cycle = for each workload: one new 5-minute observation through the forecaster
 * (all default models, horizons 5 min, 1 h and 24 h), the Shewhart/CUSUM detector on its
 * residual, p10/p50/p90 at the three horizons, the hour-of-week profile and the behaviour
 * change-point detector; then k-means (k = 8) over all workloads' behaviour vectors.
 *
 * Usage: model_cycle [WORKLOADS=10000] [WARMUP_STEPS=300] [CYCLES=5]
 * Prints the per-cycle time (mean and max of CYCLES after the warm-up) and memory per
 * workload. Not a test: the figure goes into aggregator/model/README.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "behaviour.h"
#include "cluster.h"
#include "detect.h"
#include "forecast.h"
#include "mathutil.h"
#include "profile.h"

struct wl {
	struct psc_forecaster *f;
	struct psc_detector *d;
	struct psc_cpd *cpd;
	struct psc_profile prof;
	double level, phase, noise;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double value(const struct wl *w, long step, struct psc_rng *rng)
{
	return fmax(0, w->level * (1 + 0.5 * sin(2 * M_PI * step / 288.0 + w->phase)) +
			       w->noise * psc_rng_normal(rng));
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000;
	long warm = argc > 2 ? atol(argv[2]) : 300;
	long cycles = argc > 3 ? atol(argv[3]) : 5;
	struct psc_fc_cfg cfg;
	struct psc_detector_cfg dcfg;
	struct psc_cpd_cfg ccfg = { .dims = _PSC_B_MAX };
	struct psc_rng rng;
	const size_t dims = _PSC_B_MAX;

	if (n < 16 || warm < 1 || cycles < 1) {
		fprintf(stderr, "usage: model_cycle [WORKLOADS>=16] [WARMUP_STEPS] [CYCLES]\n");
		return 2;
	}
	psc_fc_cfg_default(&cfg, 300);
	cfg.history = 2016; /* one week at 5 min */
	cfg.horizons[0] = 1;
	cfg.horizons[1] = 12;
	cfg.horizons[2] = 288;
	cfg.n_horizons = 3;
	psc_detector_cfg_default(&dcfg);
	psc_rng_seed(&rng, 42);
	struct wl *w = calloc(n, sizeof(*w));
	double *bv = malloc(n * dims * sizeof(*bv));
	int *label = malloc(n * sizeof(*label));
	double *cent = malloc(8 * dims * sizeof(*cent));
	if (!w || !bv || !label || !cent)
		return 1;
	for (long i = 0; i < n; i++) {
		if (psc_forecaster_new(&w[i].f, &cfg) < 0 || psc_detector_new(&w[i].d, &dcfg) < 0 ||
		    psc_cpd_new(&w[i].cpd, &ccfg) < 0) {
			fprintf(stderr, "out of memory at workload %ld\n", i);
			return 1;
		}
		w[i].level = 1 + 99 * psc_rng_uniform(&rng);
		w[i].phase = 2 * M_PI * psc_rng_uniform(&rng);
		w[i].noise = 0.05 * w[i].level;
	}
	double t0 = now();
	double total = 0, worst = 0;
	for (long step = 0; step < warm + cycles; step++) {
		double c0 = now();
		for (long i = 0; i < n; i++) {
			struct wl *x = &w[i];
			struct psc_fc_quantiles q;
			struct psc_detection det;
			struct psc_shift sh;
			double y = value(x, step, &rng);
			double e = psc_forecaster_forecast(x->f, 0, &q) == 0 ? q.p50 : NAN;
			psc_detector_update(x->d, y, e, &det);
			psc_forecaster_update(x->f, y);
			for (size_t h = 0; h < 3; h++)
				psc_forecaster_forecast(x->f, h, &q);
			psc_profile_add(&x->prof, 1392595200.0 + step * 300.0, y);
			struct psc_window_obs o = { .window_s = 300, .cpu_s = y,
						    .requests = 100 * y, .bytes_in = 1e4 * y,
						    .latency_p50_us = 200 };
			psc_behaviour_vector(&o, bv + i * dims);
			psc_cpd_update(x->cpd, bv + i * dims, &sh);
		}
		if (step >= warm) {
			psc_kmeans(bv, n, dims, 8, 1, 1, label, cent, NULL);
			double dt = now() - c0;
			total += dt;
			worst = dt > worst ? dt : worst;
		}
		if (step == warm - 1)
			fprintf(stderr, "warm-up of %ld steps: %.1f s\n", warm, now() - t0);
	}
	long rss_kb = 0;
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			rss_kb = atol(line + 6);
	if (f)
		fclose(f);
	printf("workloads=%ld cycle_mean_s=%.3f cycle_max_s=%.3f per_workload_us=%.1f rss_per_workload_kb=%.1f\n",
	       n, total / cycles, worst, 1e6 * total / cycles / n, (double)rss_kb / n);
	for (long i = 0; i < n; i++) {
		psc_forecaster_free(&w[i].f);
		psc_detector_free(&w[i].d);
		psc_cpd_free(&w[i].cpd);
		psc_profile_reset(&w[i].prof);
	}
	free(w);
	free(bv);
	free(label);
	free(cent);
	return 0;
}
