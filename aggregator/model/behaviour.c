// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "behaviour.h"
#include "mathutil.h"

static const char *const bnames[_PSC_B_MAX] = {
	[PSC_B_REQ_RATE] = "request_rate",	    [PSC_B_BYTES_PER_REQ] = "bytes_per_request",
	[PSC_B_CPU_PER_REQ] = "cpu_per_request",    [PSC_B_MEM_PER_REQ] = "memory_per_request",
	[PSC_B_LATENCY_P50] = "latency_p50",	    [PSC_B_LATENCY_P90] = "latency_p90",
	[PSC_B_ERROR_RATE] = "error_rate",	    [PSC_B_CPU_CORES] = "cpu_cores",
	[PSC_B_MIX0] = "mix_0",			    [PSC_B_MIX0 + 1] = "mix_1",
	[PSC_B_MIX0 + 2] = "mix_2",		    [PSC_B_MIX0 + 3] = "mix_3",
	[PSC_B_MIX0 + 4] = "mix_4",		    [PSC_B_MIX0 + 5] = "mix_5",
	[PSC_B_MIX0 + 6] = "mix_6",		    [PSC_B_MIX0 + 7] = "mix_7",
};

static const char *const snames[_PSC_SF_MAX] = {
	[PSC_SF_LOG_MEAN] = "log_mean", [PSC_SF_CV] = "cv",
	[PSC_SF_PEAK] = "peak_to_mean", [PSC_SF_ACF1] = "persistence",
	[PSC_SF_DUTY] = "duty_cycle",	[PSC_SF_DIURNAL] = "diurnal",
	[PSC_SF_SHAPE0] = "shape_00_04", [PSC_SF_SHAPE0 + 1] = "shape_04_08",
	[PSC_SF_SHAPE0 + 2] = "shape_08_12", [PSC_SF_SHAPE0 + 3] = "shape_12_16",
	[PSC_SF_SHAPE0 + 4] = "shape_16_20", [PSC_SF_SHAPE0 + 5] = "shape_20_24",
};

const char *psc_behaviour_dim_name(enum psc_bdim d)
{
	return d >= 0 && d < _PSC_B_MAX ? bnames[d] : "unknown";
}

const char *psc_series_feature_name(enum psc_sfeat f)
{
	return f >= 0 && f < _PSC_SF_MAX ? snames[f] : "unknown";
}

static double pos(double v)
{
	return isfinite(v) && v > 0 ? v : 0;
}

int psc_behaviour_vector(const struct psc_window_obs *w, double *out)
{
	if (!(w->window_s > 0))
		return -EINVAL;
	double req = pos(w->requests), rate = req / w->window_s;
	memset(out, 0, _PSC_B_MAX * sizeof(*out));
	out[PSC_B_REQ_RATE] = log1p(rate);
	out[PSC_B_CPU_CORES] = log1p(pos(w->cpu_s) / w->window_s);
	if (req > 0) {
		out[PSC_B_BYTES_PER_REQ] = log1p((pos(w->bytes_in) + pos(w->bytes_out)) / req);
		out[PSC_B_CPU_PER_REQ] = log1p(1000 * pos(w->cpu_s) / req);
		out[PSC_B_MEM_PER_REQ] = log1p(pos(w->mem_bytes) / 1024 / rate);
		double e = pos(w->errors) / req;
		out[PSC_B_ERROR_RATE] = e > 1 ? 1 : e;
	}
	out[PSC_B_LATENCY_P50] = log1p(pos(w->latency_p50_us));
	out[PSC_B_LATENCY_P90] = log1p(pos(w->latency_p90_us));
	if (w->endpoint_counts) {
		double tot = 0;
		size_t m = w->n_endpoints < PSC_MIX_SLOTS ? w->n_endpoints : PSC_MIX_SLOTS;
		for (size_t i = 0; i < w->n_endpoints; i++)
			tot += pos(w->endpoint_counts[i]);
		for (size_t i = 0; i < m && tot > 0; i++)
			out[PSC_B_MIX0 + i] = pos(w->endpoint_counts[i]) / tot;
	}
	return 0;
}

int psc_series_features(const double *v, size_t n, double interval, double t0, double *out)
{
	if (n < 4 || !(interval > 0))
		return -EINVAL;
	_cleanup_free_ double *tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	double mean = psc_mean(v, n), sd = psc_stddev(v, n);
	double p95 = psc_quantile(v, n, 0.95, tmp);
	memset(out, 0, _PSC_SF_MAX * sizeof(*out));
	out[PSC_SF_LOG_MEAN] = log1p(pos(mean));
	out[PSC_SF_CV] = mean > 0 ? sd / mean : 0;
	out[PSC_SF_PEAK] = mean > 0 ? p95 / mean : 1;
	out[PSC_SF_ACF1] = psc_acf(v, n, 1);
	size_t above = 0;
	for (size_t i = 0; i < n; i++)
		above += p95 > 0 && v[i] > 0.5 * p95;
	out[PSC_SF_DUTY] = (double)above / n;
	/* Hour-of-day means: the shape, and the variance they explain. */
	double hsum[24] = { 0 }, bsum[6] = { 0 };
	size_t hcnt[24] = { 0 }, bcnt[6] = { 0 };
	for (size_t i = 0; i < n; i++) {
		double t = fmod(t0 + (double)i * interval, 86400.0);
		if (t < 0)
			t += 86400.0;
		int h = (int)(t / 3600) % 24;
		hsum[h] += v[i];
		hcnt[h]++;
		bsum[h / 4] += v[i];
		bcnt[h / 4]++;
	}
	double between = 0;
	for (int h = 0; h < 24; h++) {
		if (!hcnt[h])
			continue;
		double dev = hsum[h] / hcnt[h] - mean;
		between += hcnt[h] * dev * dev;
	}
	double total = sd * sd * (n - 1);
	out[PSC_SF_DIURNAL] = total > 0 ? between / total : 0;
	for (int b = 0; b < 6; b++)
		out[PSC_SF_SHAPE0 + b] = bcnt[b] && mean > 0 ? bsum[b] / bcnt[b] / mean : 1;
	return 0;
}
