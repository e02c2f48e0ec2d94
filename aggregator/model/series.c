// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "mathutil.h"
#include "series.h"

#define MAX_FIELDS 256
#define MAX_NUM_LEN 80

struct field {
	const char *p;
	size_t len;
};

struct cursor {
	const char *buf;
	size_t len, pos;
	size_t line; /* number of the line last returned */
};

static void diag_error(struct psc_csv_diag *d, size_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void diag_error(struct psc_csv_diag *d, size_t line, const char *fmt, ...)
{
	va_list ap;
	int off = 0;

	d->line = line;
	if (line)
		off = snprintf(d->msg, sizeof(d->msg), "line %zu: ", line);
	va_start(ap, fmt);
	vsnprintf(d->msg + off, sizeof(d->msg) - (size_t)off, fmt, ap);
	va_end(ap);
}

static void diag_warn(struct psc_csv_diag *d, size_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void diag_warn(struct psc_csv_diag *d, size_t line, const char *fmt, ...)
{
	va_list ap;

	d->n_warn_total++;
	if (d->n_warn >= PSC_CSV_MAX_WARN)
		return;
	char *m = d->warn[d->n_warn];
	int off = snprintf(m, PSC_CSV_MSG_LEN, "line %zu: ", line);
	va_start(ap, fmt);
	vsnprintf(m + off, PSC_CSV_MSG_LEN - (size_t)off, fmt, ap);
	va_end(ap);
	d->warn_line[d->n_warn++] = line;
}

/* Returns false at the end of input. Strips the line end ("\n", "\r\n" or a lone "\r"). */
static bool next_line(struct cursor *c, const char **p, size_t *len)
{
	if (c->pos >= c->len)
		return false;
	const char *s = c->buf + c->pos;
	size_t rest = c->len - c->pos, n = 0;
	while (n < rest && s[n] != '\n' && s[n] != '\r')
		n++;
	*p = s;
	*len = n;
	if (n < rest && s[n] == '\r' && n + 1 < rest && s[n + 1] == '\n')
		c->pos += n + 2;
	else
		c->pos += n + 1;
	c->line++;
	return true;
}

static bool is_blank_line(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)p[i]))
			return false;
	return true;
}

static struct field trim(const char *p, size_t len)
{
	while (len && (isspace((unsigned char)*p))) {
		p++;
		len--;
	}
	while (len && isspace((unsigned char)p[len - 1]))
		len--;
	if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
		p++;
		len -= 2;
	}
	return (struct field){ p, len };
}

/* Splits on @sep outside double quotes. Returns the number of fields (at most max). */
static size_t split(const char *p, size_t len, char sep, struct field *f, size_t max)
{
	size_t n = 0, start = 0;
	bool quoted = false;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] == '"')
			quoted = !quoted;
		if (i == len || (p[i] == sep && !quoted)) {
			if (n < max)
				f[n] = trim(p + start, i - start);
			n++;
			start = i + 1;
		}
	}
	return n < max ? n : max;
}

/* Copies a field for display, escaping nothing but bounding the length. */
static const char *show(struct field f, char *buf, size_t size)
{
	size_t n = f.len < size - 4 ? f.len : size - 4;
	size_t j = 0;
	for (size_t i = 0; i < n; i++)
		buf[j++] = isprint((unsigned char)f.p[i]) ? f.p[i] : '?';
	if (n < f.len) {
		memcpy(buf + j, "...", 3);
		j += 3;
	}
	buf[j] = 0;
	return buf;
}

static int parse_number(const char *p, size_t len, double *out)
{
	char tmp[MAX_NUM_LEN];
	char *end;

	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, p, len);
	tmp[len] = 0;
	errno = 0;
	double v = strtod(tmp, &end);
	if (end != tmp + len || !isfinite(v))
		return -EINVAL;
	/* strtod accepts hex floats and "infinity"; the first is harmless, the second is
	 * caught by isfinite. */
	*out = v;
	return 0;
}

static bool read_digits(const char **p, const char *end, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (*p >= end || !isdigit((unsigned char)**p))
			return false;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dm[m - 1];
}

int psc_parse_timestamp(const char *s, size_t len, double *t, enum psc_ts_format *fmt)
{
	const char *p = s, *end = s + len;
	int y, mo, d, h, mi, sec = 0;
	double frac = 0;

	if (len >= 10 && s[4] == '-') {
		if (!read_digits(&p, end, 4, &y) || *p++ != '-' || !read_digits(&p, end, 2, &mo) ||
		    p >= end || *p++ != '-' || !read_digits(&p, end, 2, &d))
			return -EINVAL;
		if (p >= end || (*p != ' ' && *p != 'T'))
			return -EINVAL;
		p++;
		if (!read_digits(&p, end, 2, &h) || p >= end || *p++ != ':' ||
		    !read_digits(&p, end, 2, &mi))
			return -EINVAL;
		if (p < end && *p == ':') {
			p++;
			if (!read_digits(&p, end, 2, &sec))
				return -EINVAL;
			if (p < end && *p == '.') {
				double scale = 0.1;
				p++;
				if (p >= end || !isdigit((unsigned char)*p))
					return -EINVAL;
				while (p < end && isdigit((unsigned char)*p)) {
					frac += (*p - '0') * scale;
					scale /= 10;
					p++;
				}
			}
		}
		int off_min = 0;
		if (p < end && *p == 'Z') {
			p++;
		} else if (p < end && (*p == '+' || *p == '-')) {
			/* UTC offset: +HH:MM, +HHMM or +HH */
			int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
			if (!read_digits(&p, end, 2, &oh))
				return -EINVAL;
			if (p < end && *p == ':')
				p++;
			if (p < end && !read_digits(&p, end, 2, &om))
				return -EINVAL;
			if (oh > 23 || om > 59)
				return -EINVAL;
			off_min = sign * (oh * 60 + om);
		}
		if (p != end)
			return -EINVAL;
		if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
		    sec > 60)
			return -EINVAL;
		*t = (double)days_from_civil(y, mo, d) * 86400.0 + h * 3600 + mi * 60 + sec + frac -
		     off_min * 60.0;
		*fmt = PSC_TS_DATETIME;
		return 0;
	}
	double v;
	if (parse_number(s, len, &v) < 0 || v < 0)
		return -EINVAL;
	if (v > 1e11) {
		*t = v / 1000.0;
		*fmt = PSC_TS_UNIX_MS;
	} else {
		*t = v;
		*fmt = PSC_TS_UNIX;
	}
	return 0;
}

int psc_format_timestamp(double t, enum psc_ts_format fmt, char *buf, size_t size)
{
	if (fmt == PSC_TS_DATETIME) {
		int64_t secs = (int64_t)floor(t);
		int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
		int64_t rem = secs - days * 86400;
		/* civil_from_days (H. Hinnant) */
		int64_t z = days + 719468;
		int64_t era = (z >= 0 ? z : z - 146096) / 146097;
		int64_t doe = z - era * 146097;
		int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
		int64_t y = yoe + era * 400;
		int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
		int64_t mp = (5 * doy + 2) / 153;
		int64_t d = doy - (153 * mp + 2) / 5 + 1;
		int64_t m = mp < 10 ? mp + 3 : mp - 9;
		y += m <= 2;
		return snprintf(buf, size, "%04lld-%02lld-%02lld %02lld:%02lld:%02lld", (long long)y,
				(long long)m, (long long)d, (long long)(rem / 3600),
				(long long)(rem / 60 % 60), (long long)(rem % 60));
	}
	double v = fmt == PSC_TS_UNIX_MS ? t * 1000.0 : t;
	if (fabs(v - round(v)) < 1e-6 && fabs(v) < 9e15)
		return snprintf(buf, size, "%lld", (long long)llround(v));
	return snprintf(buf, size, "%.3f", v);
}

int psc_parse_horizon(const char *s, double interval, uint64_t *steps)
{
	char *end;
	double v, mult = 0;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || v <= 0)
		return -EINVAL;
	if (*end == 0) {
		if (v != floor(v) || v > 1e9)
			return -EINVAL;
		*steps = (uint64_t)v;
		return 0;
	}
	if (!strcmp(end, "s"))
		mult = 1;
	else if (!strcmp(end, "m") || !strcmp(end, "min"))
		mult = 60;
	else if (!strcmp(end, "h"))
		mult = 3600;
	else if (!strcmp(end, "d"))
		mult = 86400;
	else
		return -EINVAL;
	if (!(interval > 0))
		return -EINVAL;
	double st = round(v * mult / interval);
	if (st > 1e9)
		return -EINVAL;
	*steps = st < 1 ? 1 : (uint64_t)st;
	return 0;
}

static bool name_is_time(struct field f)
{
	static const char *const exact[] = { "timestamp", "time", "ts", "date" };
	for (size_t i = 0; i < PSC_ARRAY_SIZE(exact); i++)
		if (f.len == strlen(exact[i]) && !strncasecmp(f.p, exact[i], f.len))
			return true;
	return f.len >= 9 && !strncasecmp(f.p, "timestamp", 9);
}

static bool name_eq(struct field f, const char *name, bool icase)
{
	size_t n = strlen(name);
	if (f.len != n)
		return false;
	return icase ? !strncasecmp(f.p, name, n) : !memcmp(f.p, name, n);
}

static bool name_contains_usage(struct field f)
{
	for (size_t i = 0; i + 5 <= f.len; i++)
		if (!strncasecmp(f.p + i, "usage", 5))
			return true;
	return false;
}

static void list_columns(const struct field *f, size_t n, char *buf, size_t size)
{
	size_t off = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && off + 8 < size; i++) {
		char tmp[48];
		int w = snprintf(buf + off, size - off, "%s'%s'", i ? ", " : "",
				 show(f[i], tmp, sizeof(tmp)));
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

struct builder {
	struct psc_series *s;
	size_t cap;
	size_t text_len, text_cap, cap_text;
};

static void series_release(struct psc_series *s)
{
	if (!s)
		return;
	free(s->t);
	free(s->v);
	free(s->line);
	free(s->step);
	free(s->text);
	free(s->ts_off);
	free(s->v_off);
	free(s);
}

void psc_series_free(struct psc_series **s)
{
	if (!s || !*s)
		return;
	series_release(*s);
	*s = NULL;
}

static int builder_push(struct builder *b, double t, double v, size_t line)
{
	struct psc_series *s = b->s;

	if (s->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		double *nt = realloc(s->t, cap * sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		s->t = nt;
		double *nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		uint32_t *nl = realloc(s->line, cap * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		s->line = nl;
		b->cap = cap;
	}
	s->t[s->n] = t;
	s->v[s->n] = v;
	s->line[s->n] = line > UINT32_MAX ? UINT32_MAX : (uint32_t)line;
	s->n++;
	return 0;
}

static int text_append(struct builder *b, struct field f, size_t *off)
{
	size_t need = b->text_len + f.len + 1;
	if (need > b->text_cap) {
		size_t cap = b->text_cap ? b->text_cap : 1 << 16;
		while (cap < need)
			cap *= 2;
		char *nt = realloc(b->s->text, cap);
		if (!nt)
			return -ENOMEM;
		b->s->text = nt;
		b->text_cap = cap;
	}
	memcpy(b->s->text + b->text_len, f.p, f.len);
	b->s->text[b->text_len + f.len] = 0;
	*off = b->text_len;
	b->text_len = need;
	return 0;
}

/* Records row n - 1's fields as text (after builder_push). */
static int builder_text(struct builder *b, struct field ts, struct field v)
{
	struct psc_series *s = b->s;
	if (s->n > b->cap_text) {
		size_t cap = b->cap;
		size_t *a = realloc(s->ts_off, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		s->ts_off = a;
		size_t *c = realloc(s->v_off, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		s->v_off = c;
		b->cap_text = cap;
	}
	int r = text_append(b, ts, &s->ts_off[s->n - 1]);
	if (r < 0)
		return r;
	return text_append(b, v, &s->v_off[s->n - 1]);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Infers the interval and assigns grid steps (see the header for the rule). */
static int assign_steps(struct psc_series *s, bool strict, struct psc_csv_diag *diag)
{
	s->interval = 1;
	s->n_steps = 0;
	if (s->n == 0)
		return 0;
	s->step = calloc(s->n, sizeof(*s->step));
	if (!s->step)
		return -ENOMEM;
	if (s->n >= 2) {
		_cleanup_free_ double *d = malloc((s->n - 1) * sizeof(*d));
		size_t k = 0;
		if (!d)
			return -ENOMEM;
		for (size_t i = 1; i < s->n; i++)
			if (s->t[i] > s->t[i - 1])
				d[k++] = s->t[i] - s->t[i - 1];
		if (k) {
			qsort(d, k, sizeof(*d), cmp_double);
			s->interval = d[k / 2];
		}
	}
	for (size_t i = 1; i < s->n; i++) {
		double dt = s->t[i] - s->t[i - 1];
		double r = round(dt / s->interval);
		uint64_t inc = r < 1 ? 1 : r > (double)PSC_SERIES_MAX_STEPS ? PSC_SERIES_MAX_STEPS :
									     (uint64_t)r;
		if (inc > 1) {
			if (strict) {
				diag_error(diag, s->line[i],
					   "gap of %.0f s (%llu missing steps of %.0f s) after line %u",
					   dt, (unsigned long long)(inc - 1), s->interval,
					   (unsigned)s->line[i - 1]);
				return -EINVAL;
			}
			s->n_gaps++;
			s->n_missing += inc - 1;
			diag_warn(diag, s->line[i],
				  "gap of %.0f s (%llu missing steps of %.0f s) after line %u; the models fill it with their own forecast",
				  dt, (unsigned long long)(inc - 1), s->interval,
				  (unsigned)s->line[i - 1]);
		}
		s->step[i] = s->step[i - 1] + inc;
		if (s->step[i] >= PSC_SERIES_MAX_STEPS) {
			diag_error(diag, s->line[i],
				   "timestamps span more than %llu steps of %.0f s; check the timestamp column",
				   PSC_SERIES_MAX_STEPS, s->interval);
			return -EINVAL;
		}
	}
	s->n_steps = s->step[s->n - 1] + 1;
	return 0;
}

int psc_series_parse_csv(const char *buf, size_t len, const struct psc_csv_opts *opts,
			 struct psc_series **out, struct psc_csv_diag *diag)
{
	static const struct psc_csv_opts defaults = { 0 };
	struct cursor c = { .buf = buf, .len = len };
	struct field f[MAX_FIELDS];
	const char *p;
	size_t n, nf;
	char sep;
	int r;

	memset(diag, 0, sizeof(*diag));
	if (!opts)
		opts = &defaults;
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		c.pos = 3;

	/* Header: the first non-blank line. */
	do {
		if (!next_line(&c, &p, &n)) {
			diag_error(diag, 0, "empty input: expected a header line such as 'timestamp,value'");
			return -EINVAL;
		}
	} while (is_blank_line(p, n));
	size_t header_line = c.line;
	sep = memchr(p, ';', n) ? ';' : memchr(p, ',', n) ? ',' : '\t';
	nf = split(p, n, sep, f, MAX_FIELDS);

	int ts_col = -1, val_col = -1;
	for (size_t i = 0; i < nf && ts_col < 0; i++)
		if (name_is_time(f[i]))
			ts_col = (int)i;
	char cols[200];
	list_columns(f, nf, cols, sizeof(cols));
	if (ts_col < 0) {
		double dummy;
		enum psc_ts_format fmt;
		if (nf && psc_parse_timestamp(f[0].p, f[0].len, &dummy, &fmt) == 0)
			diag_error(diag, header_line,
				   "expected a header line naming the columns (e.g. 'timestamp,value'), found data");
		else
			diag_error(diag, header_line, "no timestamp column (columns: %s)", cols);
		return -EINVAL;
	}
	if (opts->column) {
		for (size_t i = 0; i < nf && val_col < 0; i++)
			if (name_eq(f[i], opts->column, false))
				val_col = (int)i;
		for (size_t i = 0; i < nf && val_col < 0; i++)
			if (name_eq(f[i], opts->column, true))
				val_col = (int)i;
		if (val_col < 0) {
			diag_error(diag, header_line, "no column named '%s' (columns: %s)",
				   opts->column, cols);
			return -EINVAL;
		}
	} else {
		for (size_t i = 0; i < nf && val_col < 0; i++)
			if (name_eq(f[i], "value", true))
				val_col = (int)i;
		for (size_t i = 0; i < nf && val_col < 0; i++)
			if ((int)i != ts_col && name_contains_usage(f[i]))
				val_col = (int)i;
		if (val_col < 0 && nf == 2)
			val_col = ts_col == 0 ? 1 : 0;
		if (val_col < 0) {
			diag_error(diag, header_line,
				   "no 'value' column (columns: %s); choose one with --column NAME",
				   cols);
			return -EINVAL;
		}
	}
	if (val_col == ts_col) {
		diag_error(diag, header_line, "the value column cannot be the timestamp column");
		return -EINVAL;
	}

	struct builder b = { 0 };
	b.s = calloc(1, sizeof(*b.s));
	if (!b.s)
		return -ENOMEM;
	{
		size_t cl = f[val_col].len < sizeof(b.s->column) - 1 ? f[val_col].len :
								     sizeof(b.s->column) - 1;
		memcpy(b.s->column, f[val_col].p, cl);
		b.s->column[cl] = 0;
	}
	size_t need = (size_t)(ts_col > val_col ? ts_col : val_col) + 1;
	size_t prev_line = 0, first_unordered = 0;
	enum psc_ts_format fmt0 = PSC_TS_NONE;

	while (next_line(&c, &p, &n)) {
		char tmp[48];
		double t, v;
		enum psc_ts_format fmt;

		if (is_blank_line(p, n))
			continue;
		nf = split(p, n, sep, f, MAX_FIELDS);
		if (nf < need) {
			diag_error(diag, c.line, "%zu field(s), expected at least %zu (separator '%s')",
				   nf, need, sep == '\t' ? "\\t" : sep == ';' ? ";" : ",");
			r = -EINVAL;
			goto fail;
		}
		if (psc_parse_timestamp(f[ts_col].p, f[ts_col].len, &t, &fmt) < 0) {
			diag_error(diag, c.line,
				   "cannot parse timestamp '%s' (expected 'YYYY-MM-DD HH:MM:SS' or Unix seconds)",
				   show(f[ts_col], tmp, sizeof(tmp)));
			r = -EINVAL;
			goto fail;
		}
		if (fmt0 == PSC_TS_NONE) {
			fmt0 = fmt;
		} else if ((fmt0 == PSC_TS_DATETIME) != (fmt == PSC_TS_DATETIME)) {
			diag_error(diag, c.line, "timestamp '%s' is not in the format of the first row",
				   show(f[ts_col], tmp, sizeof(tmp)));
			r = -EINVAL;
			goto fail;
		}
		if (parse_number(f[val_col].p, f[val_col].len, &v) < 0) {
			diag_error(diag, c.line, "cannot parse value '%s' in column '%s'",
				   show(f[val_col], tmp, sizeof(tmp)), b.s->column);
			r = -EINVAL;
			goto fail;
		}
		if (b.s->n && t <= b.s->t[b.s->n - 1]) {
			bool rep = t == b.s->t[b.s->n - 1];
			if (opts->strict) {
				diag_error(diag, c.line,
					   rep ? "timestamp '%s' repeats the previous row's (line %zu)" :
						 "timestamp '%s' is earlier than the previous row's (line %zu); rows must be sorted by time",
					   show(f[ts_col], tmp, sizeof(tmp)), prev_line);
				r = -EINVAL;
				goto fail;
			}
			if (!b.s->n_unordered)
				first_unordered = c.line;
			b.s->n_unordered++;
			diag_warn(diag, c.line,
				  rep ? "timestamp '%s' repeats the previous row's (line %zu); kept as the next step" :
					"timestamp '%s' is earlier than the previous row's (line %zu); kept as the next step",
				  show(f[ts_col], tmp, sizeof(tmp)), prev_line);
		}
		if (b.s->n >= PSC_SERIES_MAX_STEPS) {
			diag_error(diag, c.line, "more than %llu rows", PSC_SERIES_MAX_STEPS);
			r = -EINVAL;
			goto fail;
		}
		r = builder_push(&b, t, v, c.line);
		if (r < 0)
			goto fail;
		r = builder_text(&b, f[ts_col], f[val_col]);
		if (r < 0)
			goto fail;
		prev_line = c.line;
	}
	if (b.s->n == 0) {
		diag_error(diag, header_line, "no data rows after the header");
		r = -EINVAL;
		goto fail;
	}
	if (b.s->n_unordered > b.s->n / 100) {
		diag_error(diag, first_unordered,
			   "rows are not sorted by time: %zu of %zu rows do not advance the timestamp (first here); sort the input",
			   b.s->n_unordered, b.s->n);
		r = -EINVAL;
		goto fail;
	}
	b.s->ts_format = fmt0;
	r = assign_steps(b.s, opts->strict, diag);
	if (r < 0)
		goto fail;
	*out = b.s;
	return 0;
fail:
	series_release(b.s);
	return r;
}

int psc_series_parse_values(const char *buf, size_t len, double interval,
			    struct psc_series **out, struct psc_csv_diag *diag)
{
	struct cursor c = { .buf = buf, .len = len };
	struct builder b = { 0 };
	const char *p;
	size_t n;
	int r;

	memset(diag, 0, sizeof(*diag));
	if (!(interval > 0))
		interval = 1;
	b.s = calloc(1, sizeof(*b.s));
	if (!b.s)
		return -ENOMEM;
	while (next_line(&c, &p, &n)) {
		struct field f = trim(p, n);
		char tmp[48];
		double v;

		if (f.len == 0)
			continue;
		if (parse_number(f.p, f.len, &v) < 0) {
			diag_error(diag, c.line, "cannot parse value '%s' (expected one number per line)",
				   show(f, tmp, sizeof(tmp)));
			r = -EINVAL;
			goto fail;
		}
		if (b.s->n >= PSC_SERIES_MAX_STEPS) {
			diag_error(diag, c.line, "more than %llu rows", PSC_SERIES_MAX_STEPS);
			r = -EINVAL;
			goto fail;
		}
		r = builder_push(&b, (double)b.s->n * interval, v, c.line);
		if (r < 0)
			goto fail;
	}
	if (b.s->n == 0) {
		diag_error(diag, 0, "no values");
		r = -EINVAL;
		goto fail;
	}
	b.s->ts_format = PSC_TS_NONE;
	snprintf(b.s->column, sizeof(b.s->column), "value");
	r = assign_steps(b.s, false, diag);
	if (r < 0)
		goto fail;
	b.s->interval = interval;
	*out = b.s;
	return 0;
fail:
	series_release(b.s);
	return r;
}
