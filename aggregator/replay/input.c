// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "forecast.h"
#include "replay.h"

#define MAX_INPUT_BYTES (4ull << 30)

int psc_replay_read_file(const char *path, char **buf, size_t *len)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *b = NULL;
	size_t cap = 1 << 16, n = 0;

	if (!strcmp(path, "-")) {
		f = fdopen(dup(0), "rb");
	} else {
		f = fopen(path, "rb");
	}
	if (!f)
		return -errno;
	b = malloc(cap + 1);
	if (!b)
		return -ENOMEM;
	for (;;) {
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f))
				return -EIO;
			break;
		}
		if (n == cap) {
			if (cap >= MAX_INPUT_BYTES)
				return -EFBIG;
			char *nb = realloc(b, cap * 2 + 1);
			if (!nb)
				return -ENOMEM;
			b = nb;
			cap *= 2;
		}
	}
	b[n] = 0;
	*buf = TAKE_PTR(b);
	*len = n;
	return 0;
}

int psc_replay_load_csv(const char *path, const struct psc_replay_input_opts *o,
			struct psc_series **out)
{
	_cleanup_free_ char *buf = NULL;
	struct psc_csv_opts copts = { .column = o->column, .strict = o->strict };
	struct psc_csv_diag diag;
	size_t len;
	int r;

	r = psc_replay_read_file(path, &buf, &len);
	if (r < 0) {
		fprintf(stderr, "prescient-replay: %s: %s\n", path, strerror(-r));
		return r;
	}
	r = psc_series_parse_csv(buf, len, &copts, out, &diag);
	if (r < 0) {
		if (r == -EINVAL)
			fprintf(stderr, "prescient-replay: %s: %s\n", path, diag.msg);
		else
			fprintf(stderr, "prescient-replay: %s: %s\n", path, strerror(-r));
		return r;
	}
	if (!o->quiet) {
		for (size_t i = 0; i < diag.n_warn; i++)
			fprintf(stderr, "prescient-replay: %s: warning: %s\n", path, diag.warn[i]);
		if (diag.n_warn_total > diag.n_warn)
			fprintf(stderr, "prescient-replay: %s: warning: %zu more warnings not shown\n",
				path, diag.n_warn_total - diag.n_warn);
	}
	return 0;
}

int psc_replay_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "prescient-replay%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'prescient-replay %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
	return PSC_REPLAY_USAGE;
}

void psc_replay_print_num(double v)
{
	if (!isfinite(v)) {
		fputs("nan", stdout);
		return;
	}
	if (v == 0)
		v = 0; /* no "-0" */
	/* The shortest form that reads back as the same double: input values are echoed
	 * as written (85.835 stays 85.835), computed ones lose nothing. */
	char buf[40];
	for (int prec = 10; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, stdout);
}

int psc_replay_load_for_models(const char *cmd, const char *path,
			       const struct psc_replay_input_opts *in, const char *models,
			       const char *period, struct psc_fc_cfg *cfg, struct psc_series **out)
{
	uint32_t mask;
	int32_t per;

	/* Validate the options before reading input, with a placeholder interval. */
	psc_fc_cfg_default(cfg, 1);
	cfg->models = psc_replay_default_models(cmd);
	if (models && psc_replay_parse_models(models, &cfg->models) < 0)
		return psc_replay_usage_error(cmd, "invalid --models '%s'", models);
	if (psc_replay_parse_period(period, 300, &per) < 0)
		return psc_replay_usage_error(cmd, "invalid --period '%s'", period);
	if (psc_replay_load_csv(path, in, out) < 0)
		return PSC_REPLAY_BAD_INPUT;
	mask = cfg->models;
	psc_fc_cfg_default(cfg, (*out)->interval);
	cfg->models = mask;
	psc_replay_parse_period(period, (*out)->interval, &cfg->period);
	return PSC_REPLAY_OK;
}

uint32_t psc_replay_default_models(const char *cmd)
{
	if (strcmp(cmd, "detect") == 0 || strcmp(cmd, "nab") == 0)
		return PSC_FC_MASK_DETECT;
	return PSC_FC_MASK_DEFAULT;
}
