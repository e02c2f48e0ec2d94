/* SPDX-License-Identifier: MIT */
/* Online forecasting of one series on a regular grid, with quantiles.
 *
 * Every step the forecaster takes one observation (or a gap), updates each model, and
 * issues each model's forecast for every configured horizon. When the target step
 * arrives, each model's absolute error at that horizon enters its rolling back-test error
 * (an exponentially weighted mean over ~err_window forecasts). Per horizon, the model
 * with the lowest back-test error gives the point forecast; the quantiles are that point
 * plus empirical quantiles of the last residuals of the forecasts actually issued at that
 * horizon (max(resid_window, 2h) of them), so the band is calibrated on this series,
 * whatever model was chosen. The levels behind p10 and p90 start at 0.1 and 0.9 and are
 * adapted online (adaptive conformal inference, step 0.005 / sqrt(h)) so that the
 * long-run share of actuals below p10 and above p90 stays near 10% each. Until 20
 * residuals exist, a random-walk band from the spread of first differences is used. The
 * residual quantiles are refreshed every 8 steps once the window is full.
 *
 * Models:
 *  - seasonal naive: the value one period earlier (the last value without a season);
 *  - Holt-Winters additive and multiplicative, damped trend (multiplicative only while
 *    every observation is > 0);
 *  - autoregressive: lags 1..8 plus the seasonal lag, ridge least squares refitted on the
 *    recent history every 32 steps, iterated for multi-step forecasts;
 *  - LSTM: a small recurrent network trained online (see lstm.h), when enabled;
 *  - seasonal median: the median of the values at the same phase in the last 5 periods
 *    (of the last 12 values without a season), robust to one odd day;
 *  - naive: the last value;
 *  - rolling median: the median of the last 2 hours (at least 3, at most 256 steps);
 *  - seasonal level: the seasonal median at the target's phase (last 5 periods; the
 *    detected period, else one day) shifted by the current 2-hour median minus the median
 *    of the 2-hour medians at the same phase in those periods;
 *  - stack: rolling median + w0 + sum_m w_m (model_m - rolling median) over the models
 *    above, fitted per horizon by least absolute deviations (6 IRLS passes, ridge 0.1 of
 *    the mean diagonal pulling towards the rolling median) on the last 512 forecasts
 *    scored at that horizon, refitted every 32 steps;
 *  - blend: the mean of the other models weighted by inverse squared back-test error;
 *  - combine: the median of the stack and the two other models with the lowest back-test
 *    errors, chosen like any model. When it is enabled, p50 is the chosen point forecast
 *    itself, without the residual-median shift.
 * The period comes from psc_season_detect() over the history, re-run once per day of
 * data (or fixed by the configuration); when it changes, the seasonal models restart from
 * the history.
 *
 * Memory is O(history + horizons * (models + resid_window + 512 * models) + max horizon). Not
 * thread-safe; one forecaster per series. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PSC_FC_MAX_HORIZONS 8

enum psc_fc_model {
	PSC_FC_SNAIVE,
	PSC_FC_HW_ADD,
	PSC_FC_HW_MUL,
	PSC_FC_AR,
	PSC_FC_LSTM,
	PSC_FC_SMEDIAN,
	PSC_FC_NAIVE,
	PSC_FC_RMEDIAN,
	PSC_FC_SLEVEL,
	PSC_FC_STACK,
	PSC_FC_BLEND,
	PSC_FC_COMBINE,
	_PSC_FC_MAX,
};

#define PSC_FC_MASK(m) (1u << (m))
#define PSC_FC_MASK_DEFAULT                                                                        \
	(PSC_FC_MASK(PSC_FC_SNAIVE) | PSC_FC_MASK(PSC_FC_HW_ADD) | PSC_FC_MASK(PSC_FC_HW_MUL) |    \
	 PSC_FC_MASK(PSC_FC_AR) | PSC_FC_MASK(PSC_FC_SMEDIAN) | PSC_FC_MASK(PSC_FC_NAIVE) |        \
	 PSC_FC_MASK(PSC_FC_RMEDIAN) | PSC_FC_MASK(PSC_FC_SLEVEL) | PSC_FC_MASK(PSC_FC_STACK) |    \
	 PSC_FC_MASK(PSC_FC_BLEND) | PSC_FC_MASK(PSC_FC_COMBINE))
#define PSC_FC_MASK_ALL ((1u << _PSC_FC_MAX) - 1)
/* Models behind shift detection: the naive, rolling-median, seasonal-level, stacked and
 * combined candidates improve the forecast's p50 but follow a shift so closely that its residuals
 * shrink at once (NAB standard, before the novelty chart: 54.7 with this set, 49.8 with the
 * default one). */
#define PSC_FC_MASK_DETECT                                                                  \
	(PSC_FC_MASK(PSC_FC_SNAIVE) | PSC_FC_MASK(PSC_FC_HW_ADD) | PSC_FC_MASK(PSC_FC_HW_MUL) | \
	 PSC_FC_MASK(PSC_FC_AR) | PSC_FC_MASK(PSC_FC_SMEDIAN) | PSC_FC_MASK(PSC_FC_BLEND))

struct psc_fc_cfg {
	double interval;     /* seconds per step, used for seasonality detection */
	uint32_t horizons[PSC_FC_MAX_HORIZONS]; /* steps ahead, each >= 1 */
	size_t n_horizons;   /* 1..PSC_FC_MAX_HORIZONS */
	uint32_t history;    /* steps kept for seasonality detection and AR fits */
	uint32_t resid_window; /* residuals kept per horizon for the quantiles */
	uint32_t err_window; /* span of the back-test error average */
	uint32_t models;     /* PSC_FC_MASK() bits; seasonal naive is always on */
	int32_t period;      /* < 0: detect (default); 0: no season; > 0: fixed, in steps */
};

struct psc_fc_quantiles {
	double p10, p50, p90;
	double point;             /* the chosen model's forecast (p50 minus residual median) */
	enum psc_fc_model model;  /* the model chosen for this horizon */
};

struct psc_forecaster;

/* Fills @cfg with defaults for a series sampled every @interval seconds: one horizon of 1
 * step, history of three weeks (at most 8192 steps, at least 1024), 256 residuals,
 * err_window 288, default models, detected period. */
void psc_fc_cfg_default(struct psc_fc_cfg *cfg, double interval);

/* Creates a forecaster. Returns 0, -EINVAL for an invalid @cfg or -ENOMEM. On success the
 * caller owns *out (free with psc_forecaster_free()). */
int psc_forecaster_new(struct psc_forecaster **out, const struct psc_fc_cfg *cfg);
void psc_forecaster_free(struct psc_forecaster **f);

/* Feeds the observation of the next step (finite; -EINVAL otherwise). */
int psc_forecaster_update(struct psc_forecaster *f, double y);

/* Advances one step with no observation (a gap): the models are fed their own one-step
 * forecast, and no error or residual is recorded for that step. Does nothing before the
 * first observation. */
void psc_forecaster_skip(struct psc_forecaster *f);

/* Forecast for the step horizons[@hi] steps after the last one fed, from the data fed so
 * far (computed when that step was fed; this is a copy). Returns 0, -EAGAIN before any
 * observation, -EINVAL for a bad @hi. */
int psc_forecaster_forecast(struct psc_forecaster *f, size_t hi, struct psc_fc_quantiles *q);

/* Number of steps fed (observations and gaps). */
uint64_t psc_forecaster_steps(const struct psc_forecaster *f);
/* Current period in steps (0 = none). */
uint32_t psc_forecaster_period(const struct psc_forecaster *f);
/* Rolling back-test mean absolute error of model @m at horizon index @hi (NAN before any
 * forecast of it was scored, INFINITY for a disabled model). */
double psc_forecaster_error(const struct psc_forecaster *f, size_t hi, enum psc_fc_model m);

const char *psc_fc_model_name(enum psc_fc_model m);
