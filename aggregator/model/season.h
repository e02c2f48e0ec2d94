/* SPDX-License-Identifier: MIT */
/* Seasonality detection: is there a daily or a weekly cycle, judged from the data rather
 * than assumed.
 *
 * Criterion: for a candidate period m (one day or one week of steps), the series is
 * averaged into blocks of b = max(1, m / 48) steps (so ~48 points per cycle, which tames
 * sampling noise), detrended by a centred moving average over one cycle, and the
 * autocorrelation of what remains is taken at lag m / b. The cycle is present when that
 * correlation reaches PSC_SEASON_MIN_ACF. Weekly wins over daily when its
 * correlation is larger by PSC_SEASON_WEEKLY_MARGIN (weekends differ), otherwise the
 * shorter cycle is kept. At least two and a half cycles are needed to test a period. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PSC_SEASON_MIN_ACF 0.3
#define PSC_SEASON_WEEKLY_MARGIN 0.1
/* Longest period the models will carry (a week at 5 minutes is 2016 steps). */
#define PSC_SEASON_MAX_PERIOD 4096

struct psc_season {
	uint32_t period; /* chosen period in steps, 0 = none */
	double acf_daily;  /* criterion at one day (NAN if not testable) */
	double acf_weekly; /* criterion at one week (NAN if not testable) */
};

/* Daily and weekly periods in steps of @interval seconds (0 when not a whole number of
 * steps >= 2 or above PSC_SEASON_MAX_PERIOD). */
uint32_t psc_season_daily_steps(double interval);
uint32_t psc_season_weekly_steps(double interval);

/* Seasonality score (the autocorrelation above) of @x[0..n) at period @m; NAN if fewer
 * than 2.5 m points. @scratch holds at least n doubles. */
double psc_season_score(const double *x, size_t n, uint32_t m, double *scratch);

/* Decides the period of @x[0..n) sampled every @interval seconds. @scratch holds at
 * least n doubles. */
void psc_season_detect(const double *x, size_t n, double interval, double *scratch,
		       struct psc_season *out);
