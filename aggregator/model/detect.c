// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "mathutil.h"
#include "novelty.h"

#define MAX_DIMS	 64
#define REF_LAG		 64
#define SCALE_EVERY	 8
#define REFRACTORY_DAMP	 0.5
#define REFRACTORY_DECAY 0.99
#define NOVELTY_K	 3

struct psc_detector {
	struct psc_detector_cfg cfg;
	double *ring, *scratch;
	double *cring; /* past CUSUM values, for their empirical calibration */
	double *nring; /* past novelty distances, likewise */
	struct psc_novelty *nov;
	uint32_t n, pos;
	uint64_t t;
	double sp, sn;	       /* CUSUM sums */
	uint64_t sp_at, sn_at; /* run starts */
	double recent;	       /* level of the last alarm... */
	uint64_t recent_at;    /* ...and its step */
	double center, scale;  /* cached robust location and scale */
	uint64_t scale_at;     /* update count when they were computed */
};

const char *psc_chart_name(enum psc_chart c)
{
	static const char *const names[] = {"none", "shewhart", "cusum", "novelty"};

	return (unsigned)c < _PSC_CHART_MAX ? names[c] : "none";
}

void psc_detector_cfg_default(struct psc_detector_cfg *cfg)
{
	cfg->window = 1024;
	cfg->warmup = 32;
	cfg->cusum_k = 1.0;
	cfg->clip = 3;
	cfg->decades = 3;
	cfg->charts = 1u << PSC_CHART_SHEWHART | 1u << PSC_CHART_CUSUM | 1u << PSC_CHART_NOVELTY;
	cfg->novelty_dim = 16;
	cfg->hold = 100;
}

int psc_detector_new(struct psc_detector **out, const struct psc_detector_cfg *cfg)
{
	struct psc_detector *d;

	if (!cfg || cfg->window < 8 || !cfg->charts || cfg->charts >> _PSC_CHART_MAX ||
	    !(cfg->cusum_k > 0) || !(cfg->clip > 0) || !(cfg->decades > 0) ||
	    cfg->novelty_dim < 1 || cfg->novelty_dim > PSC_NOVELTY_MAX_DIM)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->ring = calloc(cfg->window, sizeof(double));
	d->scratch = calloc(2ull * cfg->window, sizeof(double));
	d->cring = calloc(cfg->window, sizeof(double));
	d->nring = calloc(cfg->window, sizeof(double));
	if (!d->ring || !d->scratch || !d->cring || !d->nring)
		goto nomem;
	if (cfg->charts & 1u << PSC_CHART_NOVELTY) {
		struct psc_novelty_cfg ncfg = {
			.dim = cfg->novelty_dim, .history = cfg->window, .k = NOVELTY_K};
		if (psc_novelty_new(&d->nov, &ncfg) < 0)
			goto nomem;
	}
	*out = d;
	return 0;
nomem:
	psc_detector_free(&d);
	return -ENOMEM;
}

void psc_detector_free(struct psc_detector **dp)
{
	if (!dp || !*dp)
		return;
	free((*dp)->ring);
	free((*dp)->scratch);
	free((*dp)->cring);
	free((*dp)->nring);
	psc_novelty_free(&(*dp)->nov);
	free(*dp);
	*dp = NULL;
}

/* Spread of the stored residuals around their median: fills d->scratch[0..n) with the
 * absolute deviations and returns the robust sd estimate (the 90th percentile of the
 * deviations over 1.645, which unlike the MAD stays positive for mostly constant,
 * quantised series; then their mean; then a tiny fraction of the level). */
static double robust_scale(struct psc_detector *d, double *center)
{
	double *s = d->scratch, *t = d->scratch + d->cfg.window;
	double med = psc_quantile(d->ring, d->n, 0.5, t);
	double mean_abs = 0;
	for (uint32_t i = 0; i < d->n; i++) {
		s[i] = fabs(d->ring[i] - med);
		mean_abs += s[i];
	}
	mean_abs /= d->n;
	double sc = psc_quantile(s, d->n, 0.9, t) / 1.6448536269514722;
	if (!(sc > 0))
		sc = mean_abs;
	if (!(sc > 0))
		sc = 1e-9 * (fabs(med) + 1);
	*center = med;
	return sc;
}

/* log10 of the empirical probability that a reference value of @v (slot-aligned with
 * the residual ring) is at least @a, with a power-law tail (exponent 3) beyond the
 * largest one, so that the rarest values still rank among themselves. With @lag, the
 * reference leaves out the last @lag values: an episode is not judged against itself. */
static double empirical_log10p(const struct psc_detector *d, const double *v, double a,
			       uint32_t lag, bool *beyond)
{
	uint32_t ge = 0, n = 0, w = d->cfg.window;
	double amax = 0;
	bool skip = lag && d->n > 2 * lag;
	for (uint32_t i = 0; i < d->n; i++) {
		if (skip && (d->pos + w - 1 - i) % w < lag)
			continue;
		n++;
		ge += v[i] >= a;
		amax = v[i] > amax ? v[i] : amax;
	}
	double base = log10(1.0 / (n + 1));
	*beyond = a > amax;
	if (a <= amax)
		return log10((ge + 1.0) / (n + 1.0));
	if (!(amax > 0))
		return base - 6;
	return base - 3 * log10(a / amax);
}

/* x / (x + decades) with x = -log10 p: monotone and never saturating, so that one
 * threshold can still rank very strong evidence (x = decades gives 0.5). */
static double p_to_score(double log10p, double decades)
{
	double x = -log10p;
	return x <= 0 ? 0 : x / (x + decades);
}

void psc_detector_update(struct psc_detector *d, double actual, double expected,
			 struct psc_detection *out)
{
	memset(out, 0, sizeof(*out));
	out->baseline = expected;
	out->start = d->t;
	if (!isfinite(actual) || !isfinite(expected)) {
		d->t++;
		return;
	}
	double r = actual - expected;
	/* The novelty search sees every recorded value, warm-up included. */
	struct psc_novelty_match match = {.nearest = NAN};
	double nd = d->nov ? psc_novelty_update(d->nov, actual, &match) : NAN;
	if (d->n >= d->cfg.warmup && d->n >= 8) {
		/* Location and scale move slowly: recompute them every SCALE_EVERY steps
		 * (the dominant cost of a cycle otherwise), the deviations every step. */
		if (!d->scale_at || d->t - d->scale_at >= SCALE_EVERY) {
			d->scale = robust_scale(d, &d->center);
			d->scale_at = d->t;
		}
		double center = d->center, sc = d->scale;
		for (uint32_t i = 0; i < d->n; i++)
			d->scratch[i] = fabs(d->ring[i] - center);
		double z;
		if (sc > 0)
			z = (r - center) / sc;
		else
			z = r == center ? 0 : (r > center ? 1e6 : -1e6);
		double zc = z > d->cfg.clip ? d->cfg.clip : z < -d->cfg.clip ? -d->cfg.clip : z;
		if (d->sp == 0)
			d->sp_at = d->t;
		if (d->sn == 0)
			d->sn_at = d->t;
		d->sp = fmax(0, d->sp + zc - d->cfg.cusum_k);
		d->sn = fmax(0, d->sn - zc - d->cfg.cusum_k);
		double s = d->sp > d->sn ? d->sp : d->sn;
		bool beyond = false, unused;
		double lp_s = 0, lp_c = 0, lp_n = 0;
		if (d->cfg.charts & 1u << PSC_CHART_SHEWHART)
			lp_s = empirical_log10p(d, d->scratch, fabs(r - center), 0, &unused);
		/* The CUSUM is calibrated the same way, against its own recent values: its
		 * Gaussian tail exp(-2kS) is far too confident on real, heavy-tailed and
		 * autocorrelated residuals. */
		if (s > 0)
			lp_c = empirical_log10p(d, d->cring, s, REF_LAG, &beyond);
		if (!(d->cfg.charts & 1u << PSC_CHART_CUSUM))
			lp_c = 0;
		/* Novelty against all its past values, the recent ones included: a new
		 * pattern is reported as it appears; once it repeats, its distances are the
		 * norm and it is not reported again. */
		if (isfinite(nd))
			lp_n = empirical_log10p(d, d->nring, nd, 0, &unused);
		out->z = z;
		out->cusum = s;
		out->scale = sc;
		if (lp_n < lp_s && lp_n < lp_c) {
			out->chart = PSC_CHART_NOVELTY;
			out->score = p_to_score(lp_n, d->cfg.decades);
			out->direction = actual >= match.nearest ? 1 : -1;
			out->start = d->t - match.onset;
			out->baseline = match.nearest;
			out->z = (actual - match.nearest) / sc;
		} else if (lp_s <= lp_c) {
			out->chart = PSC_CHART_SHEWHART;
			out->score = p_to_score(lp_s, d->cfg.decades);
			out->direction = z >= 0 ? 1 : -1;
		} else {
			out->chart = PSC_CHART_CUSUM;
			out->score = p_to_score(lp_c, d->cfg.decades);
			out->direction = d->sp >= d->sn ? 1 : -1;
			out->start = d->sp >= d->sn ? d->sp_at : d->sn_at;
		}
		/* One alarm per episode: a score that does not beat the last alarm's, held
		 * for `hold` steps and then decaying by 1% per step, is more evidence of the
		 * same episode and is damped. NAB charges every flagged row outside a
		 * labelled window, and real episodes (a spike's aftermath, a noisy
		 * transition) come in bursts. */
		double raw = out->score;
		uint64_t held = d->t - d->recent_at;
		double level = held < d->cfg.hold ? d->recent
						  : d->recent * pow(REFRACTORY_DECAY,
								    (double)(held - d->cfg.hold));
		if (raw <= level) {
			out->score = raw * REFRACTORY_DAMP;
		} else {
			d->recent = raw;
			d->recent_at = d->t;
		}
		d->cring[d->pos] = s;
		d->nring[d->pos] = isfinite(nd) ? nd : 0;
		/* Alarm and restart as soon as the CUSUM beats its own record: a shift is
		 * reported once, and a persisting one is re-reported only after it builds
		 * up again. */
		if (beyond && s > 0)
			d->sp = d->sn = 0;
	}
	d->ring[d->pos] = r;
	d->pos = (d->pos + 1) % d->cfg.window;
	if (d->n < d->cfg.window)
		d->n++;
	d->t++;
}

/* ---- change points on a behaviour vector ---- */

struct psc_cpd {
	struct psc_cpd_cfg cfg;
	double *ring; /* baseline samples, dims per sample */
	double *scratch;
	uint32_t n, pos;
	uint64_t t;
	double sp[MAX_DIMS], sn[MAX_DIMS];
	uint64_t sp_at[MAX_DIMS], sn_at[MAX_DIMS];
};

int psc_cpd_new(struct psc_cpd **out, const struct psc_cpd_cfg *cfg)
{
	struct psc_cpd *c;

	if (!cfg || cfg->dims < 1 || cfg->dims > MAX_DIMS)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	if (!c->cfg.baseline)
		c->cfg.baseline = 64;
	if (c->cfg.baseline < 4)
		c->cfg.baseline = 4;
	if (!c->cfg.warmup)
		c->cfg.warmup = 16;
	if (!(c->cfg.cusum_k > 0))
		c->cfg.cusum_k = 0.5;
	if (!(c->cfg.decades > 0))
		c->cfg.decades = 10;
	c->ring = calloc((size_t)c->cfg.baseline * cfg->dims, sizeof(double));
	c->scratch = calloc(2ull * c->cfg.baseline, sizeof(double));
	if (!c->ring || !c->scratch) {
		psc_cpd_free(&c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void psc_cpd_free(struct psc_cpd **cp)
{
	if (!cp || !*cp)
		return;
	free((*cp)->ring);
	free((*cp)->scratch);
	free(*cp);
	*cp = NULL;
}

void psc_cpd_update(struct psc_cpd *c, const double *x, struct psc_shift *out)
{
	size_t dims = c->cfg.dims;
	double best = -1;

	memset(out, 0, sizeof(*out));
	out->ratio = NAN;
	out->start = c->t;
	if (c->n >= c->cfg.warmup) {
		for (size_t j = 0; j < dims; j++) {
			double *col = c->scratch;
			for (uint32_t i = 0; i < c->n; i++)
				col[i] = c->ring[(size_t)i * dims + j];
			double med = psc_quantile(col, c->n, 0.5, c->scratch + c->cfg.baseline);
			double mean_abs = 0;
			for (uint32_t i = 0; i < c->n; i++) {
				col[i] = fabs(col[i] - med);
				mean_abs += col[i];
			}
			mean_abs /= c->n;
			double sc = 1.4826 * psc_quantile_inplace(col, c->n, 0.5);
			if (sc < 0.2 * mean_abs)
				sc = 0.2 * mean_abs;
			/* A constant baseline still has a scale: 1% of its level. */
			if (sc <= 0)
				sc = 0.01 * fabs(med) + 1e-9;
			double z = (x[j] - med) / sc;
			z = z > 4 ? 4 : z < -4 ? -4 : z;
			if (c->sp[j] == 0)
				c->sp_at[j] = c->t;
			if (c->sn[j] == 0)
				c->sn_at[j] = c->t;
			c->sp[j] = fmax(0, c->sp[j] + z - c->cfg.cusum_k);
			c->sn[j] = fmax(0, c->sn[j] - z - c->cfg.cusum_k);
			double s = fmax(c->sp[j], c->sn[j]);
			if (s > best) {
				best = s;
				out->dim = j;
				out->direction = c->sp[j] >= c->sn[j] ? 1 : -1;
				out->start = out->direction > 0 ? c->sp_at[j] : c->sn_at[j];
				out->baseline = med;
				out->current = x[j];
				out->ratio = med != 0 ? x[j] / med : NAN;
			}
		}
		double lp = -2 * c->cfg.cusum_k * best / M_LN10;
		out->score = p_to_score(lp, c->cfg.decades);
	}
	memcpy(c->ring + (size_t)c->pos * dims, x, dims * sizeof(*x));
	c->pos = (c->pos + 1) % c->cfg.baseline;
	if (c->n < c->cfg.baseline)
		c->n++;
	c->t++;
}
