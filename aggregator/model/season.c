// SPDX-License-Identifier: MIT
#include <math.h>
#include <stdbool.h>

#include "mathutil.h"
#include "season.h"

static uint32_t period_steps(double interval, double seconds)
{
	if (!(interval > 0))
		return 0;
	double m = seconds / interval;
	double r = round(m);
	if (fabs(m - r) > 0.05 * r || r < 2 || r > PSC_SEASON_MAX_PERIOD)
		return 0;
	return (uint32_t)r;
}

uint32_t psc_season_daily_steps(double interval)
{
	return period_steps(interval, 86400.0);
}

uint32_t psc_season_weekly_steps(double interval)
{
	return period_steps(interval, 7 * 86400.0);
}

double psc_season_score(const double *x, size_t n, uint32_t m, double *scratch)
{
	if (m < 2 || n < 2 * (size_t)m + m / 2)
		return NAN;
	uint32_t b = m / 48 ? m / 48 : 1;
	size_t nb = n / b;
	uint32_t lag = m / b;
	/* Blocks are aligned to the end so the most recent data is always used. */
	size_t off = n - nb * b;
	double *blk = scratch;
	for (size_t i = 0; i < nb; i++) {
		double s = 0;
		for (uint32_t j = 0; j < b; j++)
			s += x[off + i * b + j];
		blk[i] = s / b;
	}
	if (lag < 2 || nb < 2 * (size_t)lag + lag / 2)
		return NAN;
	/* Detrend by the centred moving average over one cycle (windows [k, k + lag) centred
	 * at k + lag / 2), in place: step k reads blk[k], blk[k + lag / 2] and blk[k + lag],
	 * none of which has been overwritten yet, then writes blk[k]. The half cycles at
	 * both ends have no complete window and are dropped. */
	size_t half = lag / 2, cnt = nb - lag;
	double sum = 0;
	for (size_t i = 0; i < lag; i++)
		sum += blk[i];
	for (size_t k = 0; k < cnt; k++) {
		double centre = blk[k + half], leaving = blk[k];
		double avg = sum / lag;
		sum += blk[k + lag] - leaving;
		blk[k] = centre - avg;
	}
	/* Pearson correlation of the detrended series with itself one cycle earlier (the
	 * biased ACF would shrink by (n - lag) / n and penalise short histories). */
	size_t np = cnt - lag;
	double ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
	for (size_t i = 0; i < np; i++) {
		ma += blk[i + lag];
		mb += blk[i];
	}
	ma /= np;
	mb /= np;
	for (size_t i = 0; i < np; i++) {
		double a = blk[i + lag] - ma, b = blk[i] - mb;
		saa += a * a;
		sbb += b * b;
		sab += a * b;
	}
	return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
}

void psc_season_detect(const double *x, size_t n, double interval, double *scratch,
		       struct psc_season *out)
{
	uint32_t d = psc_season_daily_steps(interval), w = psc_season_weekly_steps(interval);

	out->period = 0;
	out->acf_daily = d ? psc_season_score(x, n, d, scratch) : NAN;
	out->acf_weekly = w ? psc_season_score(x, n, w, scratch) : NAN;
	bool dok = isfinite(out->acf_daily) && out->acf_daily >= PSC_SEASON_MIN_ACF;
	bool wok = isfinite(out->acf_weekly) && out->acf_weekly >= PSC_SEASON_MIN_ACF;
	if (wok && (!dok || out->acf_weekly >= out->acf_daily + PSC_SEASON_WEEKLY_MARGIN))
		out->period = w;
	else if (dok)
		out->period = d;
}
