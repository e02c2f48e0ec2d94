// SPDX-License-Identifier: MIT
/* CSV series reader: formats, repairs, and errors that name the right line. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "series.h"

static int parse(const char *text, const char *column, bool strict, struct psc_series **s,
		 struct psc_csv_diag *d)
{
	struct psc_csv_opts o = { .column = column, .strict = strict };
	return psc_series_parse_csv(text, strlen(text), &o, s, d);
}

static void test_nab_format(void **state)
{
	struct psc_series *s = NULL;
	struct psc_csv_diag d;
	const char *text = "timestamp,value\n"
			   "2014-02-14 14:30:00,0.132\n"
			   "2014-02-14 14:35:00,0.134\n"
			   "2014-02-14 14:40:00,0.066\n";

	assert_int_equal(parse(text, NULL, false, &s, &d), 0);
	assert_int_equal(s->n, 3);
	assert_int_equal(s->n_steps, 3);
	assert_true(fabs(s->interval - 300) < 1e-9);
	assert_int_equal(s->ts_format, PSC_TS_DATETIME);
	assert_true(fabs(s->v[2] - 0.066) < 1e-12);
	assert_int_equal(s->line[0], 2);
	/* 2014-02-14 14:30:00 UTC */
	assert_true(fabs(s->t[0] - 1392388200.0) < 1e-6);
	char buf[64];
	psc_format_timestamp(s->t[1], s->ts_format, buf, sizeof(buf));
	assert_string_equal(buf, "2014-02-14 14:35:00");
	assert_int_equal(d.n_warn, 0);
	psc_series_free(&s);
	assert_null(s);
}

static void test_bitbrains_format(void **state)
{
	struct psc_series *s = NULL;
	struct psc_csv_diag d;
	const char *text =
		"Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%]\r\n"
		"1372629804;\t2;\t5851.9989;\t87.7799835;\t1.5\r\n"
		"1372630104;\t2;\t5851.9989;\t29.2599945;\t0.5\r\n"
		"1372630405;\t2;\t5851.9989;\t30.0;\t0.5\r\n";

	assert_int_equal(parse(text, NULL, false, &s, &d), 0);
	assert_string_equal(s->column, "CPU usage [MHZ]");
	assert_int_equal(s->n, 3);
	assert_int_equal(s->ts_format, PSC_TS_UNIX);
	assert_true(fabs(s->v[0] - 87.7799835) < 1e-9);
	/* 301 s jitter is one step, not a gap */
	assert_int_equal(s->n_steps, 3);
	psc_series_free(&s);

	assert_int_equal(parse(text, "cpu usage [%]", false, &s, &d), 0);
	assert_string_equal(s->column, "CPU usage [%]");
	assert_true(fabs(s->v[0] - 1.5) < 1e-12);
	psc_series_free(&s);
}

static void test_gap_repair_and_strict(void **state)
{
	struct psc_series *s = NULL;
	struct psc_csv_diag d;
	const char *text = "timestamp,value\n0,1\n300,2\n600,3\n1500,4\n1800,5\n";

	assert_int_equal(parse(text, NULL, false, &s, &d), 0);
	assert_int_equal(s->n, 5);
	assert_int_equal(s->n_steps, 7);
	assert_int_equal(s->step[3], 5);
	assert_int_equal(s->n_gaps, 1);
	assert_int_equal(s->n_missing, 2);
	assert_int_equal(d.n_warn, 1);
	assert_int_equal(d.warn_line[0], 5);
	psc_series_free(&s);

	assert_int_equal(parse(text, NULL, true, &s, &d), -EINVAL);
	assert_null(s);
	assert_int_equal(d.line, 5);
	assert_non_null(strstr(d.msg, "line 5:"));
	assert_non_null(strstr(d.msg, "gap"));
}

static void test_errors_name_the_line(void **state)
{
	static const struct {
		const char *text;
		size_t line;
		const char *what;
	} cases[] = {
		{ "timestamp,value\n0,1\n300,abc\n600,3\n", 3, "cannot parse value" },
		{ "timestamp,value\n0,1\n300,2\n\n2014-13-01 00:00:00,3\n", 5, "timestamp" },
		{ "timestamp,value\n0,1\n300\n", 3, "field" },
		{ "timestamp,value\n0,1\n300,nan\n", 3, "cannot parse value" },
		{ "time,cpu,mem\n0,1,2\n", 1, "--column" },
		{ "a,b\n0,1\n", 1, "no timestamp column" },
		{ "0,1\n300,2\n", 1, "header" },
		{ "", 0, "empty" },
		{ "timestamp,value\n", 1, "no data rows" },
		/* 2 of 4 rows go back in time: more than 1%, so unsorted input is refused */
		{ "timestamp,value\n0,1\n600,2\n300,3\n900,4\n", 4, "not sorted" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct psc_series *s = NULL;
		struct psc_csv_diag d;
		int r = parse(cases[i].text, NULL, false, &s, &d);
		if (r != -EINVAL || d.line != cases[i].line || !strstr(d.msg, cases[i].what))
			fail_msg("case %zu: r=%d line=%zu msg='%s'", i, r, d.line, d.msg);
		assert_null(s);
	}
}

static void test_repeated_timestamps_kept_in_order(void **state)
{
	struct psc_series *s = NULL;
	struct psc_csv_diag d;
	char *text = malloc(200 * 32);
	size_t off = sprintf(text, "timestamp,value\n");

	/* 150 rows, one repeating its predecessor's timestamp (below the 1% limit) */
	for (int i = 0; i < 150; i++)
		off += sprintf(text + off, "%d,%d\n", (i == 70 ? 69 : i) * 60, i);
	assert_int_equal(parse(text, NULL, false, &s, &d), 0);
	assert_int_equal(s->n, 150);
	assert_int_equal(s->n_unordered, 1);
	/* the repeat, then the apparent 2-step gap that follows it */
	assert_int_equal(d.n_warn, 2);
	assert_int_equal(d.warn_line[0], 72);
	assert_int_equal(d.warn_line[1], 73);
	assert_int_equal(s->n_steps, 151);
	psc_series_free(&s);
	assert_int_equal(parse(text, NULL, true, &s, &d), -EINVAL);
	assert_int_equal(d.line, 72);
	free(text);
}

static void test_values_layout(void **state)
{
	struct psc_series *s = NULL;
	struct psc_csv_diag d;
	const char *text = "12\n 7\n0\n\n100\n";

	assert_int_equal(psc_series_parse_values(text, strlen(text), 300, &s, &d), 0);
	assert_int_equal(s->n, 4);
	assert_true(s->v[3] == 100);
	assert_true(s->interval == 300);
	psc_series_free(&s);
	assert_int_equal(psc_series_parse_values("1\nx\n", 4, 300, &s, &d), -EINVAL);
	assert_int_equal(d.line, 2);
}

static void test_timestamp_forms(void **state)
{
	double t, u;
	enum psc_ts_format fmt;
	const char *a = "2014-02-14 14:30:00", *b = "2014-02-14T16:30:00.500+02:00";

	assert_int_equal(psc_parse_timestamp(a, strlen(a), &t, &fmt), 0);
	assert_int_equal(psc_parse_timestamp(b, strlen(b), &u, &fmt), 0);
	assert_true(fabs(u - t - 0.5) < 1e-9);
	assert_int_equal(psc_parse_timestamp("1372629804000", 13, &t, &fmt), 0);
	assert_int_equal(fmt, PSC_TS_UNIX_MS);
	assert_true(t == 1372629804.0);
	assert_int_equal(psc_parse_timestamp("2014-02-30 00:00:00", 19, &t, &fmt), -EINVAL);
	assert_int_equal(psc_parse_timestamp("2014-02-14 14:30:00+25:00", 25, &t, &fmt), -EINVAL);
	assert_int_equal(psc_parse_timestamp("2014-02-14 24:00", 16, &t, &fmt), -EINVAL);
	assert_int_equal(psc_parse_timestamp("yesterday", 9, &t, &fmt), -EINVAL);
}

static void test_horizon(void **state)
{
	uint64_t h;

	assert_int_equal(psc_parse_horizon("12", 300, &h), 0);
	assert_int_equal(h, 12);
	assert_int_equal(psc_parse_horizon("1h", 300, &h), 0);
	assert_int_equal(h, 12);
	assert_int_equal(psc_parse_horizon("1d", 300, &h), 0);
	assert_int_equal(h, 288);
	assert_int_equal(psc_parse_horizon("30m", 3600, &h), 0);
	assert_int_equal(h, 1);
	assert_int_equal(psc_parse_horizon("0", 300, &h), -EINVAL);
	assert_int_equal(psc_parse_horizon("1.5", 300, &h), -EINVAL);
	assert_int_equal(psc_parse_horizon("1y", 300, &h), -EINVAL);
	assert_int_equal(psc_parse_horizon("-3", 300, &h), -EINVAL);
}

static void test_real_fixture(void **state)
{
	const char *dir = getenv("PSC_TEST_DATA");
	char path[4096];
	struct psc_series *s = NULL;
	struct psc_csv_diag d;

	if (!dir)
		skip();
	snprintf(path, sizeof(path), "%s/model/bitbrains/1_head.csv", dir);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	struct psc_csv_opts o = { 0 };
	assert_int_equal(psc_series_parse_csv(buf, n, &o, &s, &d), 0);
	assert_true(s->n > 100);
	assert_true(fabs(s->interval - 300) < 2);
	psc_series_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nab_format),
		cmocka_unit_test(test_bitbrains_format),
		cmocka_unit_test(test_gap_repair_and_strict),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_repeated_timestamps_kept_in_order),
		cmocka_unit_test(test_values_layout),
		cmocka_unit_test(test_timestamp_forms),
		cmocka_unit_test(test_horizon),
		cmocka_unit_test(test_real_fixture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
