/* SPDX-License-Identifier: MIT */
/* Shift detection.
 *
 * 1. psc_detector watches one series' forecast residuals r (actual minus the one-step
 *    p50) against its last `window` residuals, centred on their median c (c and the
 *    scale s below are refreshed every 8 steps, the tails every step):
 *     - Shewhart: p = empirical probability that a past |r_i - c| is >= |r - c|, with a
 *       power-law tail (exponent 3) beyond the largest one. Real residuals are heavy
 *       tailed and quantised; a Gaussian tail on a MAD scale alarms all the time.
 *     - CUSUM: on z = (r - c) / s, s = 90th percentile of |r_i - c| / 1.645 (a robust sd
 *       that stays positive on mostly constant series), clipped to +-clip:
 *       S+ = max(0, S+ + z - k), S- likewise; p = the empirical exceedance of max(S+, S-)
 *       among its own values older than 64 steps (same tail rule). When S beats that
 *       record the CUSUM alarms and restarts: a shift is reported at its onset, and a
 *       persisting one again only after it builds up again (the design ARL under no
 *       shift is then about the window length).
 *     - Novelty: d = mean L1 distance from the last `novelty_dim` actual values to
 *       their 3 nearest earlier embeddings among the last `window` (novelty.h, the
 *       nearest-neighbour score of knncad and ARTime); p = the empirical exceedance of d
 *       among its own past values (same tail rule). It sees what the forecast adapts
 *       to or never modelled: a new shape, a level never visited, a new oscillation; a
 *       pattern seen before, however large, is not novel. Its baseline is the last
 *       value of the nearest past embedding, its start the oldest value of the
 *       current one that departs from that embedding (novelty.h).
 *    With x = -log10 of the smallest p, the raw score is x / (x + decades): 0.5 at a
 *    1-in-10^decades event (default 1 in 1000), approaching 1 for stronger evidence. One
 *    alarm per episode: a raw score not above the last alarm's (held for `hold` steps,
 *    then decaying by 1% per step) is halved.
 * 2. psc_cpd is a change-point detector on a behaviour vector (endpoint mix, rates, sizes,
 *    resource per request...): per dimension, a two-sided CUSUM of the value standardised
 *    by the median and MAD of a reference window of the preceding samples. It reports the
 *    dimension that moved most, by how much (ratio to the baseline median), and since
 *    when.
 * Both are O(window) per update (the novelty search O(window * novelty_dim) at worst),
 * pure, not thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum psc_chart {
	PSC_CHART_NONE,
	PSC_CHART_SHEWHART,
	PSC_CHART_CUSUM,
	PSC_CHART_NOVELTY,
	_PSC_CHART_MAX,
};

struct psc_detector_cfg {
	uint32_t window;      /* residuals kept for the scale and the tails (default 1024) */
	uint32_t warmup;      /* residuals before the first non-zero score (default 32) */
	double cusum_k;	      /* allowance in robust sd (default 1, i.e. tuned to 2 sd shifts) */
	double clip;	      /* |z| fed to the CUSUM is clipped here (default 3) */
	double decades;	      /* -log10(p) that maps to score 0.5 (default 3) */
	uint32_t charts;      /* 1 << PSC_CHART_* (default all three) */
	uint32_t novelty_dim; /* values per embedding of the novelty search (default 16) */
	uint32_t hold;	      /* steps an alarm's level damps later scores before it decays
			       * (default 100) */
};

struct psc_detection {
	double score;	      /* [0, 1] */
	double z;	      /* standardised residual of this step (novelty: actual minus
			       * baseline, in residual sd) */
	double cusum;	      /* max(S+, S-) before any restart */
	enum psc_chart chart; /* chart that gave the score (NONE during warm-up) */
	int direction;	      /* +1 above the baseline, -1 below */
	uint64_t start;	      /* step (0-based count of updates) where the shift began */
	double baseline;      /* the expected value the actual was compared with */
	double scale;	      /* robust sd of the residuals */
};

struct psc_detector;

/* "none", "shewhart", "cusum", "novelty": static strings. */
const char *psc_chart_name(enum psc_chart c);

void psc_detector_cfg_default(struct psc_detector_cfg *cfg);
/* Returns 0, -EINVAL for a bad @cfg, -ENOMEM. The caller owns *out. */
int psc_detector_new(struct psc_detector **out, const struct psc_detector_cfg *cfg);
void psc_detector_free(struct psc_detector **d);
/* Scores one step: @actual against @expected (both finite, else the step scores 0 and
 * is not recorded). Fills @out. */
void psc_detector_update(struct psc_detector *d, double actual, double expected,
			 struct psc_detection *out);

struct psc_cpd_cfg {
	size_t dims;	   /* vector length, 1..64 */
	uint32_t baseline; /* reference samples (default 64) */
	uint32_t warmup;   /* samples before scoring (default 16) */
	double cusum_k;	   /* default 0.5 */
	double decades;	   /* default 10 */
};

struct psc_shift {
	double score;	 /* [0, 1] */
	size_t dim;	 /* dimension that moved most */
	int direction;	 /* +1 up, -1 down */
	uint64_t start;	 /* sample index where its CUSUM run began */
	double baseline; /* median of that dimension over the reference window */
	double current;	 /* its current value */
	double ratio;	 /* current / baseline (NAN when the baseline is 0) */
};

struct psc_cpd;

/* @cfg->dims is required; zero fields take the defaults above. */
int psc_cpd_new(struct psc_cpd **out, const struct psc_cpd_cfg *cfg);
void psc_cpd_free(struct psc_cpd **c);
/* Feeds one vector of cfg.dims finite values and fills @out. */
void psc_cpd_update(struct psc_cpd *c, const double *x, struct psc_shift *out);
