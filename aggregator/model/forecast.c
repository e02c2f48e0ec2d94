// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"
#include "lstm.h"
#include "mathutil.h"
#include "season.h"

#define NSLOT (_PSC_FC_MAX + 1) /* per-model forecasts plus the chosen one */
#define FINAL _PSC_FC_MAX
#define NPEND (NSLOT + 2) /* plus the issued p10 and p90 */
#define ACI_GAMMA 0.005
#define MAX_H (PSC_FC_MAX_HORIZONS + 1)
#define MIN_SCORED 8
#define MIN_RESID 20
#define AR_P 8
#define AR_MAXQ (AR_P + 2)
#define AR_REFIT 32
#define AR_FIT_MAX 1500
#define HW_PHI 0.98
#define Z90 1.2815515655446004
#define QOFF_EVERY 8
#define SMED_K 5
#define SMED_FLAT 12
#define RMED_SECONDS 7200.0
#define RMED_MAX 256
#define STK_Q PSC_FC_STACK /* one column per model before it; the base's is the intercept */
#define STK_N 512
#define STK_RIDGE 0.1 /* relative to the mean diagonal: shrinks towards the base */
#define STK_REFIT 32
#define STK_IRLS 6

struct hw {
	double alpha, beta, gamma;
	double l, b;
	double *s;
	uint32_t m;
	uint64_t n;
	bool mul, ready, dead;
};

struct ar {
	double c[AR_MAXQ];
	double mu, lo, hi;
	uint32_t q;      /* 1 + p (+1 with a seasonal lag) */
	uint32_t lag_s;  /* seasonal lag or 0 */
	uint64_t fitted_at;
	bool ready;
};

struct psc_forecaster {
	struct psc_fc_cfg cfg;
	uint32_t h[MAX_H]; /* internal horizons: 1 first, then the configured ones */
	size_t nh, off;    /* off = 1 when horizon 1 was added internally */
	uint32_t max_h;

	double *hist; /* ring of the last cfg.history values fed */
	uint32_t hcap;
	uint64_t steps, nobs;
	bool nonneg;

	double lo, hi; /* sanity range for every model's forecast, from the history */
	uint64_t range_at;

	uint32_t period;
	uint32_t daily;
	uint64_t next_detect;

	struct hw hw[2]; /* additive, multiplicative */
	struct ar ar;
	struct psc_lstm *lstm;
	bool active[_PSC_FC_MAX];

	double *pend[MAX_H]; /* h[i] slots * NSLOT */
	double cur[MAX_H][NSLOT];
	int choice[MAX_H];
	double mae[MAX_H][_PSC_FC_MAX];
	uint64_t cnt[MAX_H][_PSC_FC_MAX];

	double *resid[MAX_H]; /* rings of rw[i] residuals */
	uint32_t rw[MAX_H], rn[MAX_H], rpos[MAX_H];
	double qoff[MAX_H][3]; /* cached residual quantiles (p10, p50, p90) */
	double alev[MAX_H][2]; /* adapted quantile levels behind p10 and p90 */
	struct psc_fc_quantiles band[MAX_H]; /* the forecasts issued at the last step */
	uint64_t qoff_at[MAX_H]; /* steps when they were computed (0 = never) */

	/* stack: per horizon, a ring of STK_N scored rows (STK_Q features + target) */
	double *stk[MAX_H];
	uint32_t stk_n[MAX_H], stk_pos[MAX_H];
	double stk_w[MAX_H][STK_Q];
	bool stk_ready[MAX_H];
	uint64_t stk_at[MAX_H];

	double *path;    /* max_h predictions */
	double *scratch; /* 2 * max(history, resid_window) */
};

static const char *const model_names[_PSC_FC_MAX] = {
	[PSC_FC_SNAIVE] = "seasonal_naive",
	[PSC_FC_HW_ADD] = "holt_winters_add",
	[PSC_FC_HW_MUL] = "holt_winters_mul",
	[PSC_FC_AR] = "autoregressive",
	[PSC_FC_LSTM] = "lstm",
	[PSC_FC_SMEDIAN] = "seasonal_median",
	[PSC_FC_NAIVE] = "naive",
	[PSC_FC_RMEDIAN] = "rolling_median",
	[PSC_FC_SLEVEL] = "seasonal_level",
	[PSC_FC_STACK] = "stack",
	[PSC_FC_BLEND] = "blend",
	[PSC_FC_COMBINE] = "combine",
};

const char *psc_fc_model_name(enum psc_fc_model m)
{
	return m >= 0 && m < _PSC_FC_MAX ? model_names[m] : "unknown";
}

void psc_fc_cfg_default(struct psc_fc_cfg *cfg, double interval)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->interval = interval > 0 ? interval : 1;
	cfg->horizons[0] = 1;
	cfg->n_horizons = 1;
	uint32_t w = psc_season_weekly_steps(cfg->interval);
	uint32_t hist = w ? 3 * w : 8192;
	cfg->history = hist < 1024 ? 1024 : hist > 8192 ? 8192 : hist;
	cfg->resid_window = 256;
	cfg->err_window = 288;
	cfg->models = PSC_FC_MASK_DEFAULT;
	cfg->period = -1;
}

/* Value fed k steps ago (k = 0 is the last one); k < available(). */
static inline double hist_at(const struct psc_forecaster *f, uint64_t k)
{
	return f->hist[(f->steps - 1 - k) % f->hcap];
}

static inline uint64_t hist_avail(const struct psc_forecaster *f)
{
	return f->steps < f->hcap ? f->steps : f->hcap;
}

/* ---- Holt-Winters ---- */

/* Sizes the season array for period @m; a model that cannot get memory is disabled. */
static void hw_reset(struct hw *w, uint32_t m)
{
	w->m = m;
	w->n = 0;
	w->l = w->b = 0;
	w->ready = false;
	double *s = realloc(w->s, (m ? m : 1) * sizeof(*s));
	if (!s) {
		w->dead = true;
		w->m = 0;
		return;
	}
	w->s = s;
	memset(w->s, 0, (m ? m : 1) * sizeof(*w->s));
}

/* Initial state from the first m values (or one value without a season). */
static void hw_init(struct hw *w, const double *first)
{
	uint32_t m = w->m ? w->m : 1;
	double l = 0;
	for (uint32_t i = 0; i < m; i++)
		l += first[i];
	l /= m;
	if (w->mul && !(l > 0)) {
		w->dead = true;
		return;
	}
	w->l = l;
	w->b = 0;
	for (uint32_t i = 0; w->m && i < m; i++)
		w->s[i] = w->mul ? first[i] / l : first[i] - l;
	w->ready = true;
}

static void hw_absorb(struct hw *w, double y)
{
	if (w->dead)
		return;
	if (w->mul && !(y > 0)) {
		w->dead = true;
		return;
	}
	uint32_t idx = w->m ? (uint32_t)(w->n % w->m) : 0;
	double s = w->m ? w->s[idx] : (w->mul ? 1 : 0);
	double lp = w->l;
	if (w->mul) {
		s = s < 1e-3 ? 1e-3 : s > 1e3 ? 1e3 : s;
		w->l = w->alpha * (y / s) + (1 - w->alpha) * (lp + HW_PHI * w->b);
		if (!(w->l > 1e-12))
			w->l = 1e-12;
	} else {
		w->l = w->alpha * (y - s) + (1 - w->alpha) * (lp + HW_PHI * w->b);
	}
	w->b = w->beta * (w->l - lp) + (1 - w->beta) * HW_PHI * w->b;
	if (w->m)
		w->s[idx] = w->mul ? w->gamma * (y / w->l) + (1 - w->gamma) * s :
				     w->gamma * (y - w->l) + (1 - w->gamma) * s;
	w->n++;
}

static double hw_predict(const struct hw *w, uint32_t h)
{
	double damp = HW_PHI * (1 - pow(HW_PHI, h)) / (1 - HW_PHI);
	double base = w->l + damp * w->b;
	if (!w->m)
		return base;
	double s = w->s[(w->n + h - 1) % w->m];
	return w->mul ? base * s : base + s;
}

/* ---- autoregressive ---- */

static uint32_t ar_maxlag(const struct ar *a)
{
	return a->lag_s > AR_P ? a->lag_s : AR_P;
}

static void ar_row(const struct psc_forecaster *f, const struct ar *a, uint64_t k, double *x)
{
	x[0] = 1;
	for (uint32_t j = 1; j <= AR_P; j++)
		x[j] = hist_at(f, k + j) - a->mu;
	if (a->lag_s)
		x[AR_P + 1] = hist_at(f, k + a->lag_s) - a->mu;
}

static void ar_fit(struct psc_forecaster *f)
{
	struct ar *a = &f->ar;
	uint64_t avail = hist_avail(f);

	a->lag_s = f->period && f->period > AR_P && avail >= (uint64_t)f->period + 4 * AR_MAXQ + 8 ?
			   f->period :
			   0;
	a->q = 1 + AR_P + (a->lag_s ? 1 : 0);
	uint32_t ml = ar_maxlag(a);
	if (avail < (uint64_t)ml + 4 * a->q + 8) {
		a->ready = false;
		return;
	}
	uint64_t rows = avail - ml;
	if (rows > AR_FIT_MAX)
		rows = AR_FIT_MAX;
	double mu = 0, lo = INFINITY, hi = -INFINITY;
	for (uint64_t k = 0; k < rows + ml; k++) {
		double v = hist_at(f, k);
		mu += v;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	a->mu = mu / (double)(rows + ml);
	a->lo = lo;
	a->hi = hi;
	double xtx[AR_MAXQ * AR_MAXQ] = { 0 }, xty[AR_MAXQ] = { 0 }, x[AR_MAXQ];
	uint32_t q = a->q;
	for (uint64_t k = 0; k < rows; k++) {
		ar_row(f, a, k, x);
		double y = hist_at(f, k) - a->mu;
		for (uint32_t i = 0; i < q; i++) {
			xty[i] += x[i] * y;
			for (uint32_t j = 0; j <= i; j++)
				xtx[i * q + j] += x[i] * x[j];
		}
	}
	double tr = 0;
	for (uint32_t i = 0; i < q; i++) {
		for (uint32_t j = 0; j < i; j++)
			xtx[j * q + i] = xtx[i * q + j];
		tr += xtx[i * q + i];
	}
	if (psc_solve_spd(xtx, xty, q, 1e-3 * tr / q + 1e-12) < 0) {
		a->ready = false;
		return;
	}
	memcpy(a->c, xty, q * sizeof(*xty));
	a->ready = true;
	a->fitted_at = f->steps;
}

/* Iterated forecasts for 1..n steps into f->path. */
static void ar_path(struct psc_forecaster *f, uint32_t n)
{
	const struct ar *a = &f->ar;
	double span = a->hi - a->lo;
	double lo = a->lo - span, hi = a->hi + span;

	for (uint32_t h = 1; h <= n; h++) {
		double s = a->c[0];
		for (uint32_t j = 1; j <= AR_P; j++) {
			double v = h > j ? f->path[h - j - 1] : hist_at(f, j - h);
			s += a->c[j] * (v - a->mu);
		}
		if (a->lag_s) {
			uint32_t j = a->lag_s;
			double v = h > j ? f->path[h - j - 1] : hist_at(f, j - h);
			s += a->c[AR_P + 1] * (v - a->mu);
		}
		double y = a->mu + s;
		f->path[h - 1] = y < lo ? lo : y > hi ? hi : y;
	}
}

/* ---- seasonality and restarts ---- */

static void restart_seasonal(struct psc_forecaster *f)
{
	uint64_t avail = hist_avail(f);
	uint32_t m = f->period;
	/* Replay at most ~6 cycles (or 200 steps) of history into fresh Holt-Winters state. */
	uint64_t take = m ? 6ull * m : 200;
	if (take > avail)
		take = avail;
	for (int k = 0; k < 2; k++) {
		hw_reset(&f->hw[k], m);
	}
	if (!take)
		return;
	double *lin = f->scratch;
	for (uint64_t i = 0; i < take; i++)
		lin[i] = hist_at(f, take - 1 - i);
	for (int k = 0; k < 2; k++) {
		struct hw *w = &f->hw[k];
		uint32_t need = m ? m : 1;
		if (w->dead || take < need)
			continue;
		hw_init(w, lin);
		if (!w->ready)
			continue;
		w->n = need;
		for (uint64_t i = need; i < take; i++)
			hw_absorb(w, lin[i]);
	}
	f->ar.ready = false;
}

static void maybe_detect(struct psc_forecaster *f)
{
	if (f->cfg.period >= 0 || !f->daily || f->steps < f->next_detect)
		return;
	f->next_detect = f->steps + f->daily;
	uint64_t avail = hist_avail(f);
	double *lin = f->scratch;
	for (uint64_t i = 0; i < avail; i++)
		lin[i] = hist_at(f, avail - 1 - i);
	struct psc_season s;
	psc_season_detect(lin, avail, f->cfg.interval, lin + avail, &s);
	/* A period the history cannot hold twice is not usable by the models. */
	if (s.period && 2ull * s.period > f->hcap)
		s.period = 0;
	if (s.period != f->period) {
		f->period = s.period;
		restart_seasonal(f);
	}
}

/* ---- main loop ---- */

/* Forecasts are kept within the history's range widened by its span on both sides: a
 * model that diverges (Holt-Winters on values near zero, an unstable AR fit) then costs
 * only its back-test error and cannot poison the blend. Recomputed every AR_REFIT steps,
 * widened at once by each new value. */
static void update_range(struct psc_forecaster *f, double y)
{
	if (f->steps == 1 || f->steps - f->range_at >= AR_REFIT) {
		uint64_t avail = hist_avail(f);
		double lo = INFINITY, hi = -INFINITY;
		for (uint64_t k = 0; k < avail; k++) {
			double v = hist_at(f, k);
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
		double span = hi - lo;
		if (span <= 0)
			span = fabs(hi) > 0 ? fabs(hi) : 1;
		f->lo = lo - span;
		f->hi = hi + span;
		f->range_at = f->steps;
	}
	if (y < f->lo)
		f->lo = y;
	if (y > f->hi)
		f->hi = y;
}

static void absorb(struct psc_forecaster *f, double y)
{
	f->hist[f->steps % f->hcap] = y;
	f->steps++;
	for (int k = 0; k < 2; k++) {
		struct hw *w = &f->hw[k];
		if (w->dead)
			continue;
		if (w->ready) {
			hw_absorb(w, y);
			continue;
		}
		uint32_t need = w->m ? w->m : 1;
		if (hist_avail(f) >= need && f->steps >= need) {
			double *lin = f->scratch;
			for (uint32_t i = 0; i < need; i++)
				lin[i] = hist_at(f, need - 1 - i);
			hw_init(w, lin);
			w->n = need;
		}
	}
	if (f->lstm)
		psc_lstm_update(f->lstm, y);
	update_range(f, y);
	maybe_detect(f);
	if (f->active[PSC_FC_AR] && (!f->ar.ready || f->steps - f->ar.fitted_at >= AR_REFIT))
		ar_fit(f);
}

static double clampf(const struct psc_forecaster *f, double v)
{
	if (!isfinite(v))
		return NAN;
	return v < f->lo ? f->lo : v > f->hi ? f->hi : v;
}

static double snaive(const struct psc_forecaster *f, uint32_t h)
{
	uint32_t m = f->period;
	if (m && hist_avail(f) >= m) {
		uint64_t back = (uint64_t)m * ((h + m - 1) / m) - h;
		return hist_at(f, back);
	}
	return hist_at(f, 0);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double smedian(const struct psc_forecaster *f, uint32_t h)
{
	double v[SMED_K > SMED_FLAT ? SMED_K : SMED_FLAT];
	uint64_t avail = hist_avail(f);
	uint32_t m = f->period, n = 0;

	if (m) {
		uint64_t first = (uint64_t)m * ((h + m - 1) / m) - h;
		for (uint32_t j = 0; j < SMED_K && first + (uint64_t)j * m < avail; j++)
			v[n++] = hist_at(f, first + (uint64_t)j * m);
	} else {
		for (uint32_t j = 0; j < SMED_FLAT && j < avail; j++)
			v[n++] = hist_at(f, j);
	}
	if (!n)
		return hist_at(f, 0);
	qsort(v, n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median of the last 2 hours of values (at least 3, at most RMED_MAX steps): a level
 * that one burst does not move. */
static double rmedian_at(const struct psc_forecaster *f, uint64_t back)
{
	double v[RMED_MAX];
	uint64_t avail = hist_avail(f);
	double w = RMED_SECONDS / f->cfg.interval;
	uint32_t n = w < 3 ? 3 : w > RMED_MAX ? RMED_MAX : (uint32_t)(w + 0.5);

	if (back >= avail)
		return NAN;
	if (n > avail - back)
		n = (uint32_t)(avail - back);
	for (uint32_t j = 0; j < n; j++)
		v[j] = hist_at(f, back + j);
	qsort(v, n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double rmedian(const struct psc_forecaster *f)
{
	return rmedian_at(f, 0);
}

/* Seasonal shape on the current level: the median of the values at the target's phase in
 * the last SMED_K periods, moved by the current 2-hour median minus the median of the
 * 2-hour medians at the same phase in those periods. The period is the detected one, else
 * one day (the detector needs several clean cycles; back-testing decides here). */
static double slevel(const struct psc_forecaster *f, uint32_t h)
{
	uint32_t m = f->period ? f->period : f->daily;
	uint64_t avail = hist_avail(f);
	if (!m || avail < (uint64_t)m + h)
		return rmedian(f);
	uint64_t first = (uint64_t)m * ((h + m - 1) / m) - h;
	double a[SMED_K], b[SMED_K];
	uint32_t n = 0;
	for (uint32_t j = 0; j < SMED_K && (uint64_t)(j + 1) * m < avail; j++) {
		a[n] = hist_at(f, first + (uint64_t)j * m);
		b[n] = rmedian_at(f, (uint64_t)(j + 1) * m);
		n++;
	}
	if (!n)
		return rmedian(f);
	qsort(a, n, sizeof(*a), cmp_d);
	qsort(b, n, sizeof(*b), cmp_d);
	double ma = n % 2 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
	double mb = n % 2 ? b[n / 2] : 0.5 * (b[n / 2 - 1] + b[n / 2]);
	return ma + rmedian(f) - mb;
}

/* Stack: y = base + sum_m w_m (c_m - base) + w_0, fitted by least absolute deviations
 * (IRLS, ridge towards the base) on the last STK_N scored forecasts of this horizon; the
 * base is the rolling median. */
static bool stk_features(const double *c, double *x)
{
	double base = c[PSC_FC_RMEDIAN];
	if (!isfinite(base))
		return false;
	for (int m = 0; m < STK_Q; m++)
		x[m] = m == PSC_FC_RMEDIAN ? 1 : isfinite(c[m]) ? c[m] - base : 0;
	return true;
}

static void stk_fit(struct psc_forecaster *f, size_t i)
{
	uint32_t n = f->stk_n[i];
	const double *rows = f->stk[i];
	double *abs_t = f->scratch, *tmp = f->scratch + n;
	for (uint32_t r = 0; r < n; r++)
		abs_t[r] = fabs(rows[r * (STK_Q + 1) + STK_Q]);
	double sc = psc_quantile(abs_t, n, 0.5, tmp);
	if (!(sc > 0))
		sc = psc_mean(abs_t, n);
	if (!(sc > 0)) {
		f->stk_ready[i] = false;
		return;
	}
	double w[STK_Q] = { 0 };
	for (int it = 0; it < STK_IRLS; it++) {
		double a[STK_Q * STK_Q] = { 0 }, b[STK_Q] = { 0 };
		for (uint32_t r = 0; r < n; r++) {
			const double *row = rows + r * (STK_Q + 1);
			double x[STK_Q], pred = 0;
			for (int m = 0; m < STK_Q; m++) {
				x[m] = (m == PSC_FC_RMEDIAN ? 1 : row[m] / sc);
				pred += w[m] * x[m];
			}
			double y = row[STK_Q] / sc;
			double res = fabs(y - pred);
			double wt = it == 0 ? 1 : 1 / (res > 0.05 ? res : 0.05);
			for (int p = 0; p < STK_Q; p++) {
				b[p] += wt * x[p] * y;
				for (int q = 0; q <= p; q++)
					a[p * STK_Q + q] += wt * x[p] * x[q];
			}
		}
		double tr = 0;
		for (int p = 0; p < STK_Q; p++) {
			for (int q = 0; q < p; q++)
				a[q * STK_Q + p] = a[p * STK_Q + q];
			tr += a[p * STK_Q + p];
		}
		if (psc_solve_spd(a, b, STK_Q, STK_RIDGE * tr / STK_Q + 1e-12) < 0) {
			f->stk_ready[i] = false;
			return;
		}
		memcpy(w, b, sizeof(w));
	}
	for (int m = 0; m < STK_Q; m++)
		f->stk_w[i][m] = m == PSC_FC_RMEDIAN ? w[m] * sc : w[m];
	f->stk_ready[i] = true;
}

static double stk_predict(const struct psc_forecaster *f, size_t i, const double *c)
{
	double x[STK_Q];
	if (!f->stk_ready[i] || !stk_features(c, x))
		return c[PSC_FC_RMEDIAN];
	double y = c[PSC_FC_RMEDIAN];
	for (int m = 0; m < STK_Q; m++)
		y += f->stk_w[i][m] * x[m];
	return y;
}

/* Quantiles around the chosen point forecast of horizon index i. The residual quantile
 * levels start at 0.1 / 0.9 and are adapted online (adaptive conformal inference, Gibbs &
 * Candes 2021) so that the long-run share of actuals below p10 and above p90 is 10% each
 * even when residuals drift or are autocorrelated. */
static void band(struct psc_forecaster *f, size_t i, struct psc_fc_quantiles *q)
{
	double point = f->cur[i][FINAL];
	q->point = point;
	q->model = (enum psc_fc_model)f->choice[i];
	if (f->rn[i] >= MIN_RESID) {
		/* The residual distribution moves slowly: its quantiles are refreshed every
		 * QOFF_EVERY steps (and while the window fills), the point every step. */
		if (!f->qoff_at[i] || f->steps - f->qoff_at[i] >= QOFF_EVERY ||
		    f->rn[i] < f->rw[i]) {
			double *r = f->resid[i];
			uint32_t n = f->rn[i];
			f->qoff[i][0] = psc_quantile(r, n, f->alev[i][0], f->scratch);
			f->qoff[i][1] = psc_quantile_inplace(f->scratch, n, 0.5);
			f->qoff[i][2] = psc_quantile_inplace(f->scratch, n, f->alev[i][1]);
			f->qoff_at[i] = f->steps;
		}
		q->p10 = point + f->qoff[i][0];
		/* The residual median is a stale bias estimate (at long horizons, of
		 * forecasts issued days ago) that only added noise on the real traces; the
		 * combination's point is used as it is. */
		q->p50 = f->active[PSC_FC_COMBINE] ? point : point + f->qoff[i][1];
		q->p90 = point + f->qoff[i][2];
	} else {
		uint64_t avail = hist_avail(f);
		uint64_t n = avail > 201 ? 200 : avail ? avail - 1 : 0;
		double s = 0;
		if (n >= 2) {
			for (uint64_t k = 0; k < n; k++)
				f->scratch[k] = hist_at(f, k) - hist_at(f, k + 1);
			s = 1.4826 * psc_mad(f->scratch, n, f->scratch + n);
			if (s == 0)
				s = psc_stddev(f->scratch, n);
		}
		s *= sqrt((double)f->h[i]);
		q->p10 = point - Z90 * s;
		q->p50 = point;
		q->p90 = point + Z90 * s;
	}
	if (f->nonneg) {
		q->p10 = q->p10 < 0 ? 0 : q->p10;
		q->p50 = q->p50 < 0 ? 0 : q->p50;
		q->p90 = q->p90 < 0 ? 0 : q->p90;
	}
}

/* The median of the stack and the two other models with the lowest back-test errors at
 * horizon index i (the stack's forecast alone without two such models). A median of three
 * keeps one member's value, so exact levels such as zero survive, and one wild member
 * cannot move it. */
static double combine(const struct psc_forecaster *f, size_t i, const double *c)
{
	int top[2] = {-1, -1};
	double s = c[PSC_FC_STACK];

	if (!f->active[PSC_FC_STACK] || !isfinite(s))
		return NAN;
	for (int m = 0; m < PSC_FC_COMBINE; m++) {
		if (m == PSC_FC_STACK || !f->active[m] || !isfinite(c[m]) ||
		    f->cnt[i][m] < MIN_SCORED)
			continue;
		if (top[0] < 0 || f->mae[i][m] < f->mae[i][top[0]]) {
			top[1] = top[0];
			top[0] = m;
		} else if (top[1] < 0 || f->mae[i][m] < f->mae[i][top[1]]) {
			top[1] = m;
		}
	}
	if (top[1] < 0)
		return s;
	double a = c[top[0]], b = c[top[1]];
	return fmax(fmin(a, b), fmin(fmax(a, b), s));
}

static void issue(struct psc_forecaster *f)
{
	double last = hist_at(f, 0);

	if (f->active[PSC_FC_AR] && f->ar.ready)
		ar_path(f, f->max_h);
	for (size_t i = 0; i < f->nh; i++) {
		uint32_t h = f->h[i];
		double *c = f->cur[i];
		c[PSC_FC_SNAIVE] = snaive(f, h);
		c[PSC_FC_SMEDIAN] = f->active[PSC_FC_SMEDIAN] ? smedian(f, h) : NAN;
		for (int k = 0; k < 2; k++) {
			struct hw *w = &f->hw[k];
			int m = k ? PSC_FC_HW_MUL : PSC_FC_HW_ADD;
			c[m] = w->ready && !w->dead ? hw_predict(w, h) : (w->dead ? NAN : last);
		}
		c[PSC_FC_AR] = f->ar.ready ? f->path[h - 1] : last;
		c[PSC_FC_LSTM] = f->lstm ? psc_lstm_predict(f->lstm, h) : NAN;
		c[PSC_FC_NAIVE] = f->active[PSC_FC_NAIVE] ? last : NAN;
		c[PSC_FC_RMEDIAN] = f->active[PSC_FC_RMEDIAN] ? rmedian(f) : NAN;
		c[PSC_FC_SLEVEL] = f->active[PSC_FC_SLEVEL] ? slevel(f, h) : NAN;
		c[PSC_FC_STACK] = f->active[PSC_FC_STACK] ? stk_predict(f, i, c) : NAN;
		for (int m = 0; m < PSC_FC_BLEND; m++)
			c[m] = clampf(f, c[m]);
		/* Blend: inverse squared back-test error weights. */
		double sw = 0, sv = 0;
		for (int m = 0; m < PSC_FC_BLEND; m++) {
			if (!f->active[m] || !isfinite(c[m]))
				continue;
			double e = f->mae[i][m], w;
			if (f->cnt[i][m] >= MIN_SCORED && isfinite(e))
				w = 1 / (e * e + 1e-12);
			else
				w = f->cnt[i][m] ? 0 : 1e-12;
			sw += w;
			sv += w * c[m];
		}
		c[PSC_FC_BLEND] = sw > 0 ? sv / sw : c[PSC_FC_SNAIVE];
		/* Choice: lowest back-test error among scored models. */
		int best = PSC_FC_SNAIVE;
		double be = INFINITY;
		for (int m = 0; m < PSC_FC_COMBINE; m++) {
			if (!f->active[m] || !isfinite(c[m]) || f->cnt[i][m] < MIN_SCORED)
				continue;
			if (f->mae[i][m] < be) {
				be = f->mae[i][m];
				best = m;
			}
		}
		if (f->active[PSC_FC_COMBINE]) {
			c[PSC_FC_COMBINE] = combine(f, i, c);
			if (isfinite(c[PSC_FC_COMBINE]) &&
			    f->cnt[i][PSC_FC_COMBINE] >= MIN_SCORED &&
			    f->mae[i][PSC_FC_COMBINE] < be)
				best = PSC_FC_COMBINE;
		}
		f->choice[i] = best;
		c[FINAL] = c[best];
		band(f, i, &f->band[i]);
		/* The target is step index steps - 1 + h; its slot is that index mod h. */
		double *slot = f->pend[i] + ((f->steps - 1 + h) % h) * NPEND;
		memcpy(slot, c, NSLOT * sizeof(*c));
		slot[NSLOT] = f->band[i].p10;
		slot[NSLOT + 1] = f->band[i].p90;
	}
}

static void score(struct psc_forecaster *f, double y)
{
	uint64_t t = f->steps; /* index of the observation y */

	for (size_t i = 0; i < f->nh; i++) {
		uint32_t h = f->h[i];
		if (t < h)
			continue;
		const double *slot = f->pend[i] + (t % h) * NPEND;
		if (isfinite(slot[NSLOT]) && isfinite(slot[NSLOT + 1])) {
			/* Feedback arrives h steps late and misses come in runs: the step
			 * shrinks with the horizon so a run cannot swing the levels. */
			double *lv = f->alev[i], g = ACI_GAMMA / sqrt((double)h);
			lv[0] += g * (0.1 - (y < slot[NSLOT]));
			lv[1] += g * ((y > slot[NSLOT + 1]) - 0.1);
			lv[0] = lv[0] < 0.005 ? 0.005 : lv[0] > 0.45 ? 0.45 : lv[0];
			lv[1] = lv[1] < 0.55 ? 0.55 : lv[1] > 0.995 ? 0.995 : lv[1];
		}
		/* Long horizons get a longer memory: their errors are strongly autocorrelated. */
		double alpha_min = 1.0 / (f->cfg.err_window > 2 * h ? f->cfg.err_window : 2 * h);
		for (int m = 0; m < _PSC_FC_MAX; m++) {
			if (!f->active[m] || !isfinite(slot[m]))
				continue;
			double e = fabs(y - slot[m]);
			f->cnt[i][m]++;
			double a = 1.0 / (double)f->cnt[i][m];
			if (a < alpha_min)
				a = alpha_min;
			if (f->cnt[i][m] == 1)
				f->mae[i][m] = e;
			else
				f->mae[i][m] += a * (e - f->mae[i][m]);
		}
		if (f->stk[i]) {
			double *row = f->stk[i] + (size_t)f->stk_pos[i] * (STK_Q + 1);
			if (stk_features(slot, row)) {
				row[STK_Q] = y - slot[PSC_FC_RMEDIAN];
				f->stk_pos[i] = (f->stk_pos[i] + 1) % STK_N;
				if (f->stk_n[i] < STK_N)
					f->stk_n[i]++;
			}
			if (f->stk_n[i] >= 64 && f->steps - f->stk_at[i] >= STK_REFIT) {
				stk_fit(f, i);
				f->stk_at[i] = f->steps;
			}
		}
		if (isfinite(slot[FINAL])) {
			f->resid[i][f->rpos[i]] = y - slot[FINAL];
			f->rpos[i] = (f->rpos[i] + 1) % f->rw[i];
			if (f->rn[i] < f->rw[i])
				f->rn[i]++;
		}
	}
}

int psc_forecaster_update(struct psc_forecaster *f, double y)
{
	if (!isfinite(y))
		return -EINVAL;
	if (f->nobs == 0 && f->steps == 0)
		f->nonneg = true;
	if (y < 0)
		f->nonneg = false;
	score(f, y);
	if (f->hw[1].dead == false && !(y > 0))
		f->hw[1].dead = true;
	absorb(f, y);
	f->nobs++;
	issue(f);
	return 0;
}

void psc_forecaster_skip(struct psc_forecaster *f)
{
	if (f->steps == 0)
		return;
	/* The model chosen at horizon 1 fills the gap. */
	double y = f->cur[0][FINAL];
	if (!isfinite(y))
		y = hist_at(f, 0);
	if (f->nonneg && y < 0)
		y = 0;
	absorb(f, y);
	issue(f);
}

int psc_forecaster_forecast(struct psc_forecaster *f, size_t hi, struct psc_fc_quantiles *q)
{
	if (hi >= f->cfg.n_horizons)
		return -EINVAL;
	if (f->steps == 0)
		return -EAGAIN;
	*q = f->band[hi + f->off];
	return 0;
}

uint64_t psc_forecaster_steps(const struct psc_forecaster *f)
{
	return f->steps;
}

uint32_t psc_forecaster_period(const struct psc_forecaster *f)
{
	return f->period;
}

double psc_forecaster_error(const struct psc_forecaster *f, size_t hi, enum psc_fc_model m)
{
	if (hi >= f->cfg.n_horizons || m < 0 || m >= _PSC_FC_MAX)
		return NAN;
	size_t i = hi + f->off;
	if (!f->active[m] || (m == PSC_FC_HW_MUL && f->hw[1].dead))
		return INFINITY;
	return f->cnt[i][m] ? f->mae[i][m] : NAN;
}

void psc_forecaster_free(struct psc_forecaster **fp)
{
	struct psc_forecaster *f;

	if (!fp || !*fp)
		return;
	f = *fp;
	free(f->hist);
	free(f->hw[0].s);
	free(f->hw[1].s);
	psc_lstm_free(&f->lstm);
	for (size_t i = 0; i < MAX_H; i++) {
		free(f->pend[i]);
		free(f->resid[i]);
		free(f->stk[i]);
	}
	free(f->path);
	free(f->scratch);
	free(f);
	*fp = NULL;
}

int psc_forecaster_new(struct psc_forecaster **out, const struct psc_fc_cfg *cfg)
{
	struct psc_forecaster *f;

	if (!cfg || cfg->n_horizons < 1 || cfg->n_horizons > PSC_FC_MAX_HORIZONS ||
	    cfg->history < 16 || cfg->resid_window < 1 || cfg->err_window < 1 ||
	    !(cfg->interval > 0))
		return -EINVAL;
	for (size_t i = 0; i < cfg->n_horizons; i++)
		if (cfg->horizons[i] < 1 || cfg->horizons[i] > 1000000)
			return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->cfg = *cfg;
	f->off = cfg->horizons[0] == 1 ? 0 : 1;
	f->h[0] = 1;
	for (size_t i = 0; i < cfg->n_horizons; i++)
		f->h[i + f->off] = cfg->horizons[i];
	f->nh = cfg->n_horizons + f->off;
	f->max_h = 1;
	for (size_t i = 0; i < f->nh; i++)
		f->max_h = f->h[i] > f->max_h ? f->h[i] : f->max_h;
	f->hcap = cfg->history;
	f->daily = psc_season_daily_steps(cfg->interval);
	f->next_detect = f->daily ? 2ull * f->daily + f->daily / 2 : UINT64_MAX;
	if (cfg->period > 0)
		f->period = cfg->period > PSC_SEASON_MAX_PERIOD ? PSC_SEASON_MAX_PERIOD :
								   (uint32_t)cfg->period;
	if (f->period && 2ull * f->period > f->hcap)
		f->period = 0;
	for (int m = 0; m < _PSC_FC_MAX; m++)
		f->active[m] = (cfg->models & PSC_FC_MASK(m)) != 0;
	f->active[PSC_FC_SNAIVE] = true;
	uint32_t sc = cfg->history > cfg->resid_window ? cfg->history : cfg->resid_window;
	for (size_t i = 0; i < f->nh; i++) {
		uint32_t w = f->h[i] > 2048 ? 4096 : 2 * f->h[i];
		f->rw[i] = w > cfg->resid_window ? w : cfg->resid_window;
		sc = f->rw[i] > sc ? f->rw[i] : sc;
	}
	f->hist = calloc(f->hcap, sizeof(*f->hist));
	f->path = calloc(f->max_h, sizeof(*f->path));
	f->scratch = calloc(2ull * sc + 2, sizeof(*f->scratch));
	if (!f->hist || !f->path || !f->scratch)
		goto oom;
	const double params[2][3] = { { 0.25, 0.01, 0.2 }, { 0.25, 0.01, 0.2 } };
	for (int k = 0; k < 2; k++) {
		struct hw *w = &f->hw[k];
		w->alpha = params[k][0];
		w->beta = params[k][1];
		w->gamma = params[k][2];
		w->mul = k == 1;
		hw_reset(w, f->period);
		if (!w->s)
			goto oom;
	}
	f->hw[1].dead = !f->active[PSC_FC_HW_MUL];
	f->hw[0].dead = !f->active[PSC_FC_HW_ADD];
	if (f->active[PSC_FC_LSTM] && psc_lstm_new(&f->lstm, 0) < 0)
		goto oom;
	for (size_t i = 0; i < f->nh; i++) {
		f->pend[i] = malloc((size_t)f->h[i] * NPEND * sizeof(double));
		f->resid[i] = calloc(f->rw[i], sizeof(double));
		if (!f->pend[i] || !f->resid[i])
			goto oom;
		if (f->active[PSC_FC_STACK] && f->active[PSC_FC_RMEDIAN] &&
		    !(f->stk[i] = malloc((size_t)STK_N * (STK_Q + 1) * sizeof(double))))
			goto oom;
		for (size_t k = 0; k < (size_t)f->h[i] * NPEND; k++)
			f->pend[i][k] = NAN;
		f->alev[i][0] = 0.1;
		f->alev[i][1] = 0.9;
		for (int m = 0; m < NSLOT; m++)
			f->cur[i][m] = NAN;
	}
	*out = f;
	return 0;
oom:
	psc_forecaster_free(&f);
	return -ENOMEM;
}
