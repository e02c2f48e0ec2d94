/* SPDX-License-Identifier: MIT */
/* Time series read from CSV text: the input of prescient-replay and of tests.
 *
 * Pure code over a memory buffer (the caller does the file I/O). Accepted input:
 *  - a header line, then one row per line; the separator is guessed from the header:
 *    ';' if present (Bitbrains: "a;\tb;\tc", blanks around fields are trimmed), else ',',
 *    else a tab. Fields may be double-quoted. CRLF line ends and a UTF-8 BOM are accepted;
 *    blank lines are skipped.
 *  - a timestamp column: the first column whose name is "timestamp", "time", "ts" or
 *    "date", or starts with "timestamp" (e.g. "Timestamp [ms]"), case-insensitive.
 *    Values are "YYYY-MM-DD HH:MM[:SS[.frac]]" (or with 'T'), UTC unless followed by 'Z' or
 *    an offset (+HH:MM, +HHMM, +HH), or
 *    Unix seconds (numbers above 1e11 are taken as milliseconds). All rows use one format.
 *  - a value column: opts->column if given (exact name, else case-insensitive); otherwise
 *    "value"; otherwise the first column whose name contains "usage" (Bitbrains
 *    "CPU usage [MHZ]", Azure "cpu_usage"); otherwise the only other column. Anything
 *    else is an error that lists the columns.
 *
 * Errors (-EINVAL, with diag->line and diag->msg naming the 1-based line): missing header
 * or columns, a row with too few fields, an unparsable or non-finite number or timestamp,
 * unsorted input (more than 1% of the rows, i.e. any row in a file under 100 rows, fail to
 * advance the timestamp; the message names the first such line).
 *
 * Documented repairs (each counted, and the first PSC_CSV_MAX_WARN reported as warnings
 * naming the line; with opts->strict they are errors instead):
 *  - a row whose timestamp repeats or goes back from the previous row's (a clock glitch,
 *    at most 1% of the rows) is kept, in file order, as the next step: every input row is
 *    scored;
 *  - gaps: the sampling interval is the median of the positive timestamp differences;
 *    each row gets a step index, step[i] = step[i-1] + max(1, round(dt / interval)), so
 *    jitter of a few seconds is absorbed and a gap leaves missing steps that the models
 *    fill with their own one-step forecast (causal: nothing after the gap is used). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PSC_CSV_MAX_WARN 8
#define PSC_CSV_MSG_LEN 256
/* Upper bound on steps (rows plus gap steps): guards against absurd timestamps. */
#define PSC_SERIES_MAX_STEPS 20000000ull

enum psc_ts_format {
	PSC_TS_NONE,     /* no timestamps (one value per line): t is the row index */
	PSC_TS_DATETIME, /* "YYYY-MM-DD HH:MM:SS" */
	PSC_TS_UNIX,     /* Unix seconds */
	PSC_TS_UNIX_MS,  /* Unix milliseconds (t still holds seconds) */
	_PSC_TS_MAX,
};

struct psc_series {
	size_t n;         /* accepted rows */
	double *t;        /* Unix seconds */
	double *v;        /* values, finite */
	uint32_t *line;   /* 1-based source line of each row */
	uint64_t *step;   /* regular-grid index of each row; step[0] == 0, strictly increasing */
	uint64_t n_steps; /* step[n-1] + 1 (0 when n == 0) */
	double interval;  /* inferred sampling interval in seconds (1 if unknown) */
	enum psc_ts_format ts_format;
	char column[64]; /* name of the value column used */
	/* The timestamp and value fields of each row as written (trimmed, unquoted), so
	 * tools can echo their input exactly: row i's are text + ts_off[i] and
	 * text + v_off[i], NUL-terminated. NULL for psc_series_parse_values(). */
	char *text;
	size_t *ts_off, *v_off;
	size_t n_unordered; /* rows kept whose timestamp did not advance */
	size_t n_gaps;   /* places where steps are missing */
	uint64_t n_missing; /* missing steps in total */
};

struct psc_csv_opts {
	const char *column; /* value column, or NULL for the default choice above */
	bool strict;        /* repairs become errors */
};

struct psc_csv_diag {
	size_t line; /* line of the error, 0 if none or not line-specific */
	char msg[PSC_CSV_MSG_LEN];
	size_t n_warn; /* warnings stored below (at most PSC_CSV_MAX_WARN) */
	size_t n_warn_total;
	size_t warn_line[PSC_CSV_MAX_WARN];
	char warn[PSC_CSV_MAX_WARN][PSC_CSV_MSG_LEN];
};

/* Parses @len bytes of CSV at @buf (need not be NUL-terminated). @opts may be NULL. On
 * success stores a new series in *out (owned by the caller, release with
 * psc_series_free()) and returns 0; warnings are in @diag. On bad input returns -EINVAL
 * with the reason in @diag; -ENOMEM on allocation failure. *out is untouched on error.
 * @diag must not be NULL. */
int psc_series_parse_csv(const char *buf, size_t len, const struct psc_csv_opts *opts,
			 struct psc_series **out, struct psc_csv_diag *diag);

/* Parses one number per line, no header (the PlanetLab layout); t[i] = i * @interval.
 * Same ownership and errors as psc_series_parse_csv(). */
int psc_series_parse_values(const char *buf, size_t len, double interval,
			    struct psc_series **out, struct psc_csv_diag *diag);

/* Accepts NULL and *s == NULL; sets *s to NULL. */
void psc_series_free(struct psc_series **s);

/* Parses a timestamp field as described above. Returns 0 and sets *t (seconds) and *fmt,
 * or -EINVAL. */
int psc_parse_timestamp(const char *s, size_t len, double *t, enum psc_ts_format *fmt);

/* Formats @t back in @fmt ("YYYY-MM-DD HH:MM:SS", or seconds/milliseconds as integers
 * when integral). Returns the length written (snprintf semantics). */
int psc_format_timestamp(double t, enum psc_ts_format fmt, char *buf, size_t size);

/* Parses a horizon: a positive integer number of steps ("12"), or a duration with a unit
 * ("90s", "30m"/"30min", "1h", "2d") converted to steps of @interval seconds (rounded,
 * at least 1). Returns 0 and sets *steps, or -EINVAL. */
int psc_parse_horizon(const char *s, double interval, uint64_t *steps);
