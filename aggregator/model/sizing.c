// SPDX-License-Identifier: MIT
/* Monte Carlo sizing over the forecaster's error paths: see sizing.h. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mathutil.h"
#include "sizing.h"

struct psc_sizer {
	struct psc_sizer_cfg cfg;
	struct psc_forecaster *fc;
	uint32_t hz[PSC_FC_MAX_HORIZONS]; /* horizons, ascending; hz[k-1] == lead */
	size_t k;
	uint32_t ring;	 /* lead + 2: steps remembered */
	uint64_t steps;	 /* steps fed (observations and gaps) */
	double *y;	 /* [ring] observation of each step, NAN for a gap */
	double *point;	 /* [ring * k] point forecasts issued at each step, NAN = none */
	double *issued;	 /* [ring] need issued at each step, NAN = none */
	float *bank;	 /* [cfg.bank * k] error vectors */
	size_t banked, bank_pos;
	double *rise;	 /* [cfg.bank] naive peak errors: max(y[s+1..s+lead]) - y[s] */
	size_t risen, rise_pos;
	double *draws;	 /* [cfg.samples] */
	double level;
	const struct psc_profile *prior;
	struct psc_rng rng;
	double last_t, last_y;
	bool have_need;
	struct psc_sizer_need need;
};

void psc_sizer_cfg_default(struct psc_sizer_cfg *cfg, double interval, uint32_t lead)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->interval = interval;
	cfg->lead = lead ? lead : 1;
	cfg->confidence = 0.99;
	cfg->samples = 2000;
	cfg->bank = 512;
	cfg->young = 64;
	cfg->gamma = 0.01;
	cfg->seed = 0x5eed5123u;
	psc_fc_cfg_default(&cfg->fc, interval);
	/* The combination follows a surge more slowly than the model chosen alone; sizing's
	 * reaction times (and size_eval.sh's figures) were measured without it. */
	cfg->fc.models &= ~PSC_FC_MASK(PSC_FC_COMBINE);
}

/* Horizons 1..lead, or PSC_FC_MAX_HORIZONS of them spread evenly with the last = lead. */
static size_t pick_horizons(uint32_t lead, uint32_t *hz)
{
	size_t k = lead < PSC_FC_MAX_HORIZONS ? lead : PSC_FC_MAX_HORIZONS;

	for (size_t j = 0; j < k; j++)
		hz[j] = (uint32_t)((uint64_t)lead * (j + 1) / k);
	return k;
}

int psc_sizer_new(struct psc_sizer **out, const struct psc_sizer_cfg *cfg)
{
	struct psc_sizer *s;
	struct psc_fc_cfg fc;

	if (!out || !cfg || !(cfg->interval > 0) || cfg->lead < 1 || cfg->lead > 4096 ||
	    !(cfg->confidence > 0.5 && cfg->confidence < 1) || cfg->samples < 10 ||
	    cfg->bank < 8 || !(cfg->gamma >= 0 && cfg->gamma < 1))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->k = pick_horizons(cfg->lead, s->hz);
	s->ring = cfg->lead + 2;
	fc = cfg->fc;
	fc.n_horizons = s->k;
	memcpy(fc.horizons, s->hz, sizeof(s->hz));
	int r = psc_forecaster_new(&s->fc, &fc);
	if (r < 0) {
		free(s);
		return r;
	}
	s->y = malloc(s->ring * sizeof(double));
	s->point = malloc(s->ring * s->k * sizeof(double));
	s->issued = malloc(s->ring * sizeof(double));
	s->bank = malloc((size_t)cfg->bank * s->k * sizeof(float));
	s->rise = malloc((size_t)cfg->bank * sizeof(double));
	s->draws = malloc((size_t)cfg->samples * sizeof(double));
	if (!s->y || !s->point || !s->issued || !s->bank || !s->rise || !s->draws) {
		psc_sizer_free(&s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->ring; i++) {
		s->y[i] = NAN;
		s->issued[i] = NAN;
	}
	for (size_t i = 0; i < s->ring * s->k; i++)
		s->point[i] = NAN;
	s->level = cfg->confidence;
	psc_rng_seed(&s->rng, cfg->seed);
	*out = s;
	return 0;
}

void psc_sizer_free(struct psc_sizer **sp)
{
	struct psc_sizer *s = *sp;

	if (!s)
		return;
	psc_forecaster_free(&s->fc);
	free(s->y);
	free(s->point);
	free(s->issued);
	free(s->bank);
	free(s->rise);
	free(s->draws);
	free(s);
	*sp = NULL;
}

void psc_sizer_set_prior(struct psc_sizer *s, const struct psc_profile *cluster)
{
	s->prior = cluster;
}

const struct psc_forecaster *psc_sizer_forecaster(const struct psc_sizer *s)
{
	return s->fc;
}

static size_t slot(const struct psc_sizer *s, uint64_t step)
{
	return (size_t)(step % s->ring);
}

/* The step most recently fed has index steps - 1. */
static double y_at(const struct psc_sizer *s, uint64_t step)
{
	return s->y[slot(s, step)];
}

/* Max of y over steps (from, from + n]; NAN if any is a gap. */
static double window_peak(const struct psc_sizer *s, uint64_t from, uint32_t n)
{
	double peak = -INFINITY;

	for (uint32_t i = 1; i <= n; i++) {
		double v = y_at(s, from + i);
		if (isnan(v))
			return NAN;
		if (v > peak)
			peak = v;
	}
	return peak;
}

/* Scores what was issued lead steps ago, now that its whole window is observed. */
static void score_issued(struct psc_sizer *s)
{
	uint32_t lead = s->cfg.lead;

	if (s->steps <= lead)
		return;
	uint64_t at = s->steps - 1 - lead;
	double base = y_at(s, at), peak = window_peak(s, at, lead);
	if (isnan(peak))
		return;
	if (!isnan(base)) {
		s->rise[s->rise_pos] = peak - base;
		s->rise_pos = (s->rise_pos + 1) % s->cfg.bank;
		if (s->risen < s->cfg.bank)
			s->risen++;
	}
	const double *p = &s->point[slot(s, at) * s->k];
	if (!isnan(p[0])) {
		bool complete = true;
		float *e = &s->bank[s->bank_pos * s->k];
		for (size_t j = 0; j < s->k && complete; j++) {
			double v = y_at(s, at + s->hz[j]);
			complete = !isnan(v) && !isnan(p[j]);
			e[j] = (float)(v - p[j]);
		}
		if (complete) {
			s->bank_pos = (s->bank_pos + 1) % s->cfg.bank;
			if (s->banked < s->cfg.bank)
				s->banked++;
		}
	}
	double issued = s->issued[slot(s, at)];
	if (!isnan(issued) && s->cfg.gamma > 0) {
		double c = s->cfg.confidence;
		s->level += peak > issued ? s->cfg.gamma * c : -s->cfg.gamma * (1 - c);
		double lo = c - 0.2 < 0.5 ? 0.5 : c - 0.2;
		if (s->level < lo)
			s->level = lo;
		if (s->level > 0.9995)
			s->level = 0.9995;
	}
}

/* Median of the observations still in the ring (the workload's recent level). */
static double recent_level(struct psc_sizer *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->ring; i++)
		if (!isnan(s->y[i]))
			s->draws[n++] = s->y[i];
	return n ? psc_quantile_inplace(s->draws, n, 0.5) : NAN;
}

/* One draw of the lead window's peak from the cluster profile, scaled to this workload;
 * NAN when the profile has nothing for those hours. */
static double prior_draw(struct psc_sizer *s, double scale)
{
	double peak = NAN;

	for (size_t j = 0; j < s->k; j++) {
		double t = s->last_t + s->hz[j] * s->cfg.interval;
		const struct psc_sketch *h = &s->prior->hour[psc_hour_of_week(t)];
		if (!h->total)
			continue;
		double v = psc_sketch_sample(h, psc_rng_uniform(&s->rng)) * scale;
		if (isnan(peak) || v > peak)
			peak = v;
	}
	return peak;
}

static void compute_need(struct psc_sizer *s)
{
	double pt[PSC_FC_MAX_HORIZONS];
	double *issued_pt = &s->point[slot(s, s->steps - 1) * s->k];
	struct psc_sizer_need *n = &s->need;
	double point = 0, prior_scale = NAN;
	size_t from_prior = 0;

	for (size_t j = 0; j < s->k; j++) {
		struct psc_fc_quantiles q;
		pt[j] = psc_forecaster_forecast(s->fc, j, &q) == 0 ? q.p50 : s->last_y;
		issued_pt[j] = pt[j];
		if (pt[j] > point)
			point = pt[j];
	}
	double young = s->banked >= s->cfg.young ? 0 : 1 - (double)s->banked / s->cfg.young;
	if (young > 0 && s->prior) {
		const struct psc_sketch *h =
			&s->prior->hour[psc_hour_of_week(s->last_t)];
		double med = h->total ? psc_sketch_quantile(h, 0.5) : NAN;
		double lvl = recent_level(s);
		prior_scale = med > 0 && lvl > 0 ? lvl / med : 1;
	}
	for (uint32_t i = 0; i < s->cfg.samples; i++) {
		double peak = NAN;
		if (young > 0 && (s->banked == 0 || psc_rng_uniform(&s->rng) < young)) {
			if (s->prior)
				peak = prior_draw(s, prior_scale);
			if (isnan(peak) && s->risen)
				peak = s->last_y + s->rise[psc_rng_next(&s->rng) % s->risen];
			if (isnan(peak))
				peak = s->last_y > point ? s->last_y : point;
			from_prior++;
		} else {
			const float *e = &s->bank[(psc_rng_next(&s->rng) % s->banked) * s->k];
			peak = -INFINITY;
			for (size_t j = 0; j < s->k; j++)
				if (pt[j] + e[j] > peak)
					peak = pt[j] + e[j];
		}
		s->draws[i] = peak > 0 ? peak : 0;
	}
	n->need = psc_quantile_inplace(s->draws, s->cfg.samples, s->level);
	n->p50 = psc_quantile_inplace(s->draws, s->cfg.samples, 0.5);
	n->point = point;
	n->level = s->level;
	n->prior_share = (double)from_prior / s->cfg.samples;
	n->banked = s->banked;
	s->issued[slot(s, s->steps - 1)] = n->need;
	s->have_need = true;
}

/* Clears what the ring remembers of the step about to be fed. */
static void begin_step(struct psc_sizer *s)
{
	size_t i = slot(s, s->steps);

	s->y[i] = NAN;
	s->issued[i] = NAN;
	for (size_t j = 0; j < s->k; j++)
		s->point[i * s->k + j] = NAN;
}

int psc_sizer_update(struct psc_sizer *s, double t, double y)
{
	if (!isfinite(y) || y < 0 || !isfinite(t))
		return -EINVAL;
	int r = psc_forecaster_update(s->fc, y);
	if (r < 0)
		return r;
	begin_step(s);
	s->y[slot(s, s->steps)] = y;
	s->steps++;
	s->last_t = t;
	s->last_y = y;
	score_issued(s);
	compute_need(s);
	return 0;
}

void psc_sizer_skip(struct psc_sizer *s)
{
	if (!s->steps)
		return;
	psc_forecaster_skip(s->fc);
	begin_step(s);
	s->steps++;
	s->last_t += s->cfg.interval;
	compute_need(s);
}

int psc_sizer_need(const struct psc_sizer *s, struct psc_sizer_need *out)
{
	if (!s->have_need)
		return -EAGAIN;
	*out = s->need;
	return 0;
}
