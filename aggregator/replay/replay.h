/* SPDX-License-Identifier: MIT */
/* prescient-replay internals: subcommands and input helpers shared between them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "series.h"

/* Exit codes of every subcommand. */
enum {
	PSC_REPLAY_OK = 0,
	PSC_REPLAY_BAD_INPUT = 1, /* unreadable file, malformed CSV */
	PSC_REPLAY_USAGE = 2,     /* unknown option, missing argument */
};

struct psc_replay_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	void (*help)(void);
};

extern const struct psc_replay_cmd psc_replay_detect_cmd;
extern const struct psc_replay_cmd psc_replay_forecast_cmd;
extern const struct psc_replay_cmd psc_replay_cluster_cmd;
extern const struct psc_replay_cmd psc_replay_profile_cmd;
extern const struct psc_replay_cmd psc_replay_nab_cmd;
extern const struct psc_replay_cmd psc_replay_size_cmd;

/* Options shared by the series subcommands. */
struct psc_replay_input_opts {
	const char *column;
	bool strict;
	bool quiet; /* no warnings on stderr */
};

/* Reads @path ("-" = stdin) and parses it as CSV. On success stores the series in *out
 * (caller frees with psc_series_free()) and returns 0, printing repair warnings to stderr
 * unless quiet. On failure prints "prescient-replay: PATH: line N: reason" to stderr and
 * returns a negative errno. */
int psc_replay_load_csv(const char *path, const struct psc_replay_input_opts *o,
			struct psc_series **out);

/* Reads a whole file into a NUL-terminated buffer (caller frees). Returns 0 or -errno. */
int psc_replay_read_file(const char *path, char **buf, size_t *len);

/* Prints "prescient-replay <cmd>: message" for a usage error and returns PSC_REPLAY_USAGE. */
int psc_replay_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints a number for CSV output: the shortest %g form (10 to 17 digits) that reads back
 * as the same double; "nan" for non-finite values. */
void psc_replay_print_num(double v);

/* Parses a --models list into a PSC_FC_MASK() set. Returns 0 or -EINVAL. */
int psc_replay_parse_models(const char *s, uint32_t *mask);
/* Parses a --period value (auto, none, daily, weekly, or steps). Returns 0 or -EINVAL. */
int psc_replay_parse_period(const char *s, double interval, int32_t *period);

struct psc_fc_cfg;

/* What the forecasting subcommands (detect, forecast) share: checks --models (@models,
 * may be NULL) and --period (@period) for subcommand @cmd, loads @path, and sets *cfg to
 * the defaults for the series' interval with those models and that period. On success
 * *out holds the series (free with psc_series_free()). Returns PSC_REPLAY_OK,
 * PSC_REPLAY_USAGE (message printed) or PSC_REPLAY_BAD_INPUT (message printed). */
int psc_replay_load_for_models(const char *cmd, const char *path,
			       const struct psc_replay_input_opts *in, const char *models,
			       const char *period, struct psc_fc_cfg *cfg, struct psc_series **out);
/* The model set used when --models is not given: detection's for detect and nab,
 * forecasting's for forecast. */
uint32_t psc_replay_default_models(const char *cmd);

struct psc_detector_cfg;
struct psc_detection;

/* Called by psc_replay_detect_series() once per row of the series, in order; a negative
 * return stops the run and is passed back. */
typedef int (*psc_replay_detect_fn)(void *ctx, size_t row, const struct psc_detection *det);

/* What `detect` computes: runs the online forecaster (@cfg) and the shift detector
 * (@dcfg) over @s (gaps are fed to the forecaster as skips) and hands each row's
 * detection to @emit. @s stays the caller's. Returns 0, -ENOMEM, or @emit's error. */
int psc_replay_detect_series(const struct psc_series *s, const struct psc_fc_cfg *cfg,
			     const struct psc_detector_cfg *dcfg, psc_replay_detect_fn emit,
			     void *ctx);

/* Applies one of the detector options shared by detect and nab to @dcfg: @c is 'C'
 * (--charts), 'k' (--cusum-k) or 'w' (--window). Returns PSC_REPLAY_OK, or prints the
 * usage error for subcommand @cmd and returns PSC_REPLAY_USAGE. */
int psc_replay_detector_opt(const char *cmd, int c, const char *arg,
			    struct psc_detector_cfg *dcfg);
