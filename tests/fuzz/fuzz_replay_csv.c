// SPDX-License-Identifier: MIT
/* Fuzz target: the CSV series reader (both layouts), then the forecaster and detector
 * over whatever series it accepted, checking the invariants the replay tool relies on. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "forecast.h"
#include "series.h"

static void check_series(const struct psc_series *s)
{
	if (s->n == 0 || s->step[0] != 0 || s->n_steps != s->step[s->n - 1] + 1)
		abort();
	for (size_t i = 0; i < s->n; i++) {
		if (!isfinite(s->v[i]) || !isfinite(s->t[i]))
			abort();
		if (i && s->step[i] <= s->step[i - 1])
			abort();
		/* the echoed fields are the parsed ones */
		if (s->text && (strtod(s->text + s->v_off[i], NULL) != s->v[i] ||
				strlen(s->text + s->ts_off[i]) == 0))
			abort();
	}
}

static void run_models(const struct psc_series *s)
{
	struct psc_fc_cfg cfg;
	struct psc_forecaster *f = NULL;
	struct psc_detector_cfg dcfg;
	struct psc_detector *d = NULL;

	/* Keep the work bounded: gaps can make n_steps large. */
	if (s->n_steps > 4096)
		return;
	psc_fc_cfg_default(&cfg, s->interval);
	cfg.horizons[0] = 3;
	cfg.models = PSC_FC_MASK_ALL;
	psc_detector_cfg_default(&dcfg);
	if (psc_forecaster_new(&f, &cfg) < 0 || psc_detector_new(&d, &dcfg) < 0)
		abort();
	size_t row = 0;
	for (uint64_t step = 0; step < s->n_steps; step++) {
		struct psc_fc_quantiles q;
		if (s->step[row] != step) {
			psc_forecaster_skip(f);
			continue;
		}
		struct psc_detection det;
		double e = psc_forecaster_forecast(f, 0, &q) == 0 ? q.p50 : NAN;
		psc_detector_update(d, s->v[row], e, &det);
		if (!(det.score >= 0 && det.score <= 1))
			abort();
		psc_forecaster_update(f, s->v[row]);
		if (psc_forecaster_forecast(f, 0, &q) != 0)
			abort();
		if (!(q.p10 <= q.p50 && q.p50 <= q.p90) && isfinite(q.p50))
			abort();
		row++;
	}
	psc_detector_free(&d);
	psc_forecaster_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psc_series *s = NULL;
	struct psc_csv_diag diag;
	struct psc_csv_opts opts = { 0 };

	if (psc_series_parse_csv((const char *)data, size, &opts, &s, &diag) == 0) {
		check_series(s);
		run_models(s);
		psc_series_free(&s);
	} else if (s || strlen(diag.msg) == 0) {
		abort();
	}
	opts.strict = true;
	opts.column = "value";
	if (psc_series_parse_csv((const char *)data, size, &opts, &s, &diag) == 0) {
		check_series(s);
		psc_series_free(&s);
	}
	if (psc_series_parse_values((const char *)data, size, 300, &s, &diag) == 0) {
		check_series(s);
		psc_series_free(&s);
	}
	return 0;
}
