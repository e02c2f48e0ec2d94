// SPDX-License-Identifier: MIT
/* prescientctl: the command-line client of the aggregator's JSON API (README.md, "HTTP
 * API"; deploy/man/prescientctl.1). Human tables by default, the server's JSON as is with
 * --json. Exit status: 0 ok, 1 the server answered an error, 2 usage, 3 cannot connect. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"

enum { EXIT_API = 1, EXIT_USAGE = 2, EXIT_CONNECT = 3 };

#define DEFAULT_SERVER "http://127.0.0.1:9470"
#define SPARK_WIDTH    60

struct ctl {
	const char *server;
	char *token; /* NULL = none */
	bool json;
};

/* --- usage --- */

static const struct cmd_help {
	const char *name, *synopsis, *text;
} helps[] = {
	{"workloads", "workloads",
	 "List every workload: host, name, managed, latest CPU and memory, limits, cluster,\n"
	 "class and open alerts (GET /api/v1/workloads).\n"},
	{"workload", "workload ID [--since UNIX] [--tier raw|5m|1h]",
	 "One workload: its identity and limits, sparklines of CPU and memory history,\n"
	 "forecasts, endpoints, detected shifts, alerts and adjustments\n"
	 "(GET /api/v1/workloads/ID).\n"
	 "  --since UNIX   history from this Unix time (default: the last 6 h of raw data)\n"
	 "  --tier T       raw windows, 5m or 1h buckets (default raw)\n"},
	{"clusters", "clusters",
	 "Clusters of workloads that behave alike, and recent moves between them\n"
	 "(GET /api/v1/clusters).\n"},
	{"alerts", "alerts [--limit N] [--since UNIX]",
	 "Explained alerts, newest first (GET /api/v1/alerts).\n"
	 "  --limit N      at most N (1..1000, default 100)\n"
	 "  --since UNIX   only alerts at or after this Unix time\n"},
	{"adjustments", "adjustments [--limit N]",
	 "Signed limit changes sent to the agents, newest first, with their outcome\n"
	 "(GET /api/v1/adjustments).\n"
	 "  --limit N      at most N (1..1000, default 100)\n"},
	{"feedback", "feedback ID right|wrong [--adjustment] [--note TEXT]",
	 "Mark alert ID (or adjustment ID with --adjustment) as right or wrong; the allocation\n"
	 "adjusts the workload's detection threshold or margin from it (POST\n"
	 "/api/v1/feedback; needs the token).\n"
	 "  --adjustment   ID is an adjustment, not an alert\n"
	 "  --note TEXT    a note stored with the verdict\n"},
	{"recommend", "recommend ID [--confidence C] [--horizon SECONDS]",
	 "A CPU and memory recommendation for workload ID from its forecasts, with its\n"
	 "explanation (POST /allocation/request; needs the token).\n"
	 "  --confidence C  in (0, 1) (default 0.99)\n"
	 "  --horizon S     seconds ahead (default 300)\n"},
};

static void help(FILE *f)
{
	fprintf(f,
		"Usage: prescientctl [--server URL] [--token-file FILE] [--json] COMMAND [ARGS]\n"
		"\n"
		"Client of the prescient aggregator's HTTP API.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < PSC_ARRAY_SIZE(helps); i++)
		fprintf(f, "  %s\n", helps[i].synopsis);
	fprintf(f,
		"\n"
		"  --server URL       the aggregator's --http address (default $PRESCIENT_SERVER or\n"
		"                     " DEFAULT_SERVER ")\n"
		"  --token-file FILE  bearer token for write commands and non-loopback reads\n"
		"                     (default $PRESCIENT_TOKEN_FILE)\n"
		"  --json             print the server's JSON as is\n"
		"  --help, --version\n"
		"\n"
		"'prescientctl COMMAND --help' describes a command.\n"
		"Exit status: 0 ok, 1 the server answered an error, 2 usage error, 3 cannot connect.\n");
}

static const struct cmd_help *find_help(const char *name)
{
	for (size_t i = 0; i < PSC_ARRAY_SIZE(helps); i++)
		if (!strcmp(helps[i].name, name))
			return &helps[i];
	return NULL;
}

static int cmd_help(const char *name)
{
	const struct cmd_help *h = find_help(name);

	printf("Usage: prescientctl [--server URL] [--token-file FILE] [--json] %s\n\n%s",
	       h->synopsis, h->text);
	return 0;
}

__attribute__((format(printf, 2, 3))) static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "prescientctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'prescientctl %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

/* --- HTTP --- */

struct buf {
	char *p;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	char *np = realloc(b->p, b->len + size * n + 1);

	if (!np)
		return 0;
	memcpy(np + b->len, ptr, size * n);
	b->p = np;
	b->len += size * n;
	b->p[b->len] = '\0';
	return size * n;
}

/* Sends @method @path (with @body for POST). On success *out is the parsed JSON of a 2xx
 * answer and, with --json, it has been printed. Returns 0 or an exit status (after a
 * message). */
static int call(const struct ctl *c, const char *method, const char *path, json_t *body,
		json_t **out)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct buf b = {0};
	_cleanup_free_ char *url = NULL, *auth = NULL, *payload = NULL;
	json_error_t jerr;
	json_t *j;
	long status = 0;
	CURLcode rc;
	int ret = 0;

	if (!h || asprintf(&url, "%s%s", c->server, path) < 0) {
		fprintf(stderr, "prescientctl: out of memory\n");
		return EXIT_API;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "prescientctl/" PSC_VERSION);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->token && asprintf(&auth, "Authorization: Bearer %s", c->token) >= 0)
		hdr = curl_slist_append(hdr, auth);
	if (!strcmp(method, "POST")) {
		payload = json_dumps(body, JSON_COMPACT);
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload ? payload : "{}");
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "prescientctl: cannot reach %s: %s\n", c->server,
			curl_easy_strerror(rc));
		ret = EXIT_CONNECT;
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	j = json_loadb(b.p ? b.p : "", b.len, 0, &jerr);
	if (status < 200 || status > 299) {
		const char *msg = json_string_value(json_object_get(j, "error"));
		const char *field = json_string_value(json_object_get(j, "field"));

		fprintf(stderr, "prescientctl: %s (HTTP %ld%s%s)\n",
			msg ? msg : "the server answered an error", status, field ? ", field " : "",
			field ? field : "");
		json_decref(j);
		ret = EXIT_API;
		goto out;
	}
	if (!j) {
		fprintf(stderr, "prescientctl: %s answered something that is not JSON\n", url);
		ret = EXIT_API;
		goto out;
	}
	if (c->json)
		printf("%s\n", b.p);
	*out = j;
out:
	free(b.p);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return ret;
}

/* --- formatting --- */

static const char *jstr(json_t *o, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : def;
}

static double jnum(json_t *o, const char *key)
{
	json_t *j = json_object_get(o, key);

	return json_is_number(j) ? json_number_value(j) : NAN;
}

static void fmt_bytes(double v, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t i = 0;

	if (!isfinite(v)) {
		snprintf(buf, len, "-");
		return;
	}
	while (v >= 1024 && i + 1 < PSC_ARRAY_SIZE(unit)) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i && v < 10 ? "%.1f %s" : "%.0f %s", v, unit[i]);
}

static void fmt_cores(double v, char *buf, size_t len)
{
	if (isfinite(v))
		snprintf(buf, len, "%.2f", v);
	else
		snprintf(buf, len, "-");
}

static void fmt_time(double ts, char *buf, size_t len)
{
	time_t t = (time_t)ts;
	struct tm tm;

	if (!isfinite(ts) || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
}

static void fmt_num(double v, const char *f, char *buf, size_t len)
{
	if (isfinite(v))
		snprintf(buf, len, f, v);
	else
		snprintf(buf, len, "-");
}

/* A value of a forecast series: cores, bytes, bytes/s or requests/s. */
static void fmt_series(const char *series, double v, char *buf, size_t len)
{
	if (!strcmp(series, "mem"))
		fmt_bytes(v, buf, len);
	else if (!strcmp(series, "net") && isfinite(v)) {
		fmt_bytes(v, buf, len);
		strncat(buf, "/s", len - strlen(buf) - 1);
	} else
		fmt_num(v, !strcmp(series, "cpu") ? "%.3f" : "%.1f/s", buf, len);
}

/* @s cut to at most @max code points, with an ellipsis, into @buf. */
static void shorten(const char *s, size_t max, char *buf, size_t len)
{
	size_t w = 0, i = 0;

	for (; s[i] && i + 4 < len; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && ++w > max)
			break;
		buf[i] = s[i];
	}
	buf[i] = '\0';
	if (s[i])
		snprintf(buf + i, len - i, "…");
}

/* Display width of UTF-8 text: code points (the tables hold no wide characters). */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* A table of strings printed with aligned columns; @align: 'l' or 'r' per column. */
struct table {
	size_t ncol, nrow;
	const char *align;
	char **cell;
};

static void table_init(struct table *t, const char *align)
{
	*t = (struct table){.ncol = strlen(align), .align = align};
}

static void table_row(struct table *t, ...)
{
	char **nc = realloc(t->cell, (t->nrow + 1) * t->ncol * sizeof(*nc));
	va_list ap;

	if (!nc)
		return;
	t->cell = nc;
	va_start(ap, t);
	for (size_t i = 0; i < t->ncol; i++) {
		const char *s = va_arg(ap, const char *);
		nc[t->nrow * t->ncol + i] = strdup(s ? s : "-");
	}
	va_end(ap);
	t->nrow++;
}

static void table_print(struct table *t)
{
	size_t w[32] = {0};

	for (size_t r = 0; r < t->nrow; r++)
		for (size_t i = 0; i < t->ncol && i < 32; i++) {
			const char *s = t->cell[r * t->ncol + i];
			size_t cw = s ? width(s) : 1;
			if (cw > w[i])
				w[i] = cw;
		}
	for (size_t r = 0; r < t->nrow; r++) {
		for (size_t i = 0; i < t->ncol; i++) {
			const char *s = t->cell[r * t->ncol + i];
			size_t pad = w[i] - (s ? width(s) : 1);
			bool last = i + 1 == t->ncol;

			if (t->align[i] == 'r')
				printf("%*s", (int)pad, "");
			fputs(s ? s : "-", stdout);
			if (!last && t->align[i] != 'r')
				printf("%*s", (int)pad, "");
			if (!last)
				fputs("  ", stdout);
		}
		putchar('\n');
	}
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrow * t->ncol; i++)
		free(t->cell[i]);
	free(t->cell);
	t->cell = NULL;
	t->nrow = 0;
}

/* Prints @t, or @empty when it holds only its header, and frees it. */
static void table_done(struct table *t, const char *empty)
{
	if (t->nrow <= 1 && empty)
		printf("%s\n", empty);
	else
		table_print(t);
	table_free(t);
}

/* A sparkline of @arr (numbers or nulls) averaged into at most SPARK_WIDTH columns. */
static void sparkline(json_t *arr, char *out, size_t len, double *lo, double *hi, double *last)
{
	static const char *const bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
	size_t n = json_array_size(arr), cols = n < SPARK_WIDTH ? n : SPARK_WIDTH, o = 0;
	double v[SPARK_WIDTH];

	*lo = INFINITY;
	*hi = -INFINITY;
	*last = NAN;
	out[0] = '\0';
	for (size_t c = 0; c < cols; c++) {
		size_t from = c * n / cols, to = (c + 1) * n / cols, k = 0;
		double sum = 0;

		for (size_t i = from; i < to; i++) {
			json_t *j = json_array_get(arr, i);
			if (json_is_number(j)) {
				sum += json_number_value(j);
				k++;
				*last = json_number_value(j);
			}
		}
		v[c] = k ? sum / (double)k : NAN;
		if (k) {
			*lo = fmin(*lo, v[c]);
			*hi = fmax(*hi, v[c]);
		}
	}
	for (size_t c = 0; c < cols && o + 4 < len; c++) {
		const char *s = " ";
		if (isfinite(v[c])) {
			int level = *hi > *lo ? (int)((v[c] - *lo) / (*hi - *lo) * 7.999) : 3;
			s = bars[level < 0 ? 0 : level > 7 ? 7 : level];
		}
		o += (size_t)snprintf(out + o, len - o, "%s", s);
	}
}

/* --- commands --- */

static void limits_text(json_t *lim, char *cpu, char *mem, size_t len)
{
	double c = jnum(lim, "cpu_max_cores"), m = jnum(lim, "memory_high");

	if (json_is_object(lim) && c > 0)
		fmt_cores(c, cpu, len);
	else
		snprintf(cpu, len, "-");
	if (json_is_object(lim) && m > 0)
		fmt_bytes(m, mem, len);
	else
		snprintf(mem, len, "-");
}

static int do_workloads(const struct ctl *c)
{
	json_t *j = NULL, *w;
	struct table t;
	size_t i;
	int r = call(c, "GET", "/api/v1/workloads", NULL, &j);

	if (r || c->json)
		goto out;
	table_init(&t, "rllrrrrrrlr");
	table_row(&t, "ID", "HOST", "NAME", "MANAGED", "CPU", "MEM", "CPU-LIMIT", "MEM-HIGH",
		  "CLUSTER", "CLASS", "ALERTS");
	json_array_foreach(json_object_get(j, "workloads"), i, w)
	{
		char id[24], cpu[24], mem[24], cl[24], ml[24], cluster[24], alerts[24];
		json_t *jc = json_object_get(w, "cluster");

		snprintf(id, sizeof(id), "%lld",
			 (long long)json_integer_value(json_object_get(w, "id")));
		fmt_cores(jnum(w, "cpu_cores"), cpu, sizeof(cpu));
		fmt_bytes(jnum(w, "mem_bytes"), mem, sizeof(mem));
		limits_text(json_object_get(w, "limits"), cl, ml, sizeof(cl));
		if (json_is_integer(jc))
			snprintf(cluster, sizeof(cluster), "%lld",
				 (long long)json_integer_value(jc));
		else
			snprintf(cluster, sizeof(cluster), "-");
		snprintf(alerts, sizeof(alerts), "%lld",
			 (long long)json_integer_value(json_object_get(w, "open_alerts")));
		table_row(&t, id, jstr(w, "host", "-"),
			  jstr(w, "name", "")[0] ? jstr(w, "name", "") : jstr(w, "cgroup", "-"),
			  json_is_true(json_object_get(w, "managed")) ? "yes" : "no", cpu, mem, cl,
			  ml, cluster, jstr(w, "class", "-"), alerts);
	}
	table_done(&t, "no workloads yet");
out:
	json_decref(j);
	return r;
}

static void print_spark(const char *label, json_t *arr, bool bytes)
{
	char line[SPARK_WIDTH * 4 + 1], lo_s[32], hi_s[32], last_s[32];
	double lo, hi, last;

	sparkline(arr, line, sizeof(line), &lo, &hi, &last);
	if (!isfinite(lo)) {
		printf("%-4s (no data)\n", label);
		return;
	}
	if (bytes) {
		fmt_bytes(lo, lo_s, sizeof(lo_s));
		fmt_bytes(hi, hi_s, sizeof(hi_s));
		fmt_bytes(last, last_s, sizeof(last_s));
	} else {
		fmt_cores(lo, lo_s, sizeof(lo_s));
		fmt_cores(hi, hi_s, sizeof(hi_s));
		fmt_cores(last, last_s, sizeof(last_s));
	}
	printf("%-4s %s  %s .. %s%s (last %s)\n", label, line, lo_s, hi_s, bytes ? "" : " cores",
	       last_s);
}

static int do_workload(const struct ctl *c, const char *id, const char *since, const char *tier)
{
	_cleanup_free_ char *path = NULL;
	json_t *j = NULL, *w, *x, *hist;
	char a[64], b[64], d[64];
	struct table t;
	size_t i;
	int r;

	if (asprintf(&path, "/api/v1/workloads/%s?since=%s&tier=%s", id, since ? since : "",
		     tier ? tier : "raw") < 0)
		return EXIT_API;
	if (!since) /* the server's default range */
		memmove(strstr(path, "since="), strstr(path, "tier="),
			strlen(strstr(path, "tier=")) + 1);
	r = call(c, "GET", path, NULL, &j);
	if (r || c->json)
		goto out;
	w = json_object_get(j, "workload");
	printf("workload %lld: %s on %s\n", (long long)json_integer_value(json_object_get(w, "id")),
	       jstr(w, "cgroup", "-"), jstr(w, "host", "-"));
	limits_text(json_object_get(w, "limits"), a, b, sizeof(a));
	printf("  name %s, %s, cluster %s, limits: cpu.max %s, memory.high %s\n",
	       jstr(w, "name", "-"),
	       json_is_true(json_object_get(w, "managed")) ? "managed" : "observed",
	       json_is_integer(json_object_get(w, "cluster"))
		       ? (snprintf(d, sizeof(d), "%lld",
				   (long long)json_integer_value(json_object_get(w, "cluster"))),
			  d)
		       : "-",
	       a, b);
	x = json_object_get(j, "class");
	if (json_is_object(x))
		printf("  class %s (%.0f%%): %s\n", jstr(x, "class", "-"),
		       100 * jnum(x, "confidence"), jstr(x, "explanation", ""));
	hist = json_object_get(j, "history");
	printf("\nhistory (%zu points, tier %s):\n", json_array_size(json_object_get(hist, "ts")),
	       jstr(j, "tier", "raw"));
	print_spark("CPU", json_object_get(hist, "cpu_cores"), false);
	print_spark("MEM", json_object_get(hist, "mem_bytes"), true);

	if (json_array_size(json_object_get(j, "forecasts"))) {
		printf("\nforecasts:\n");
		table_init(&t, "lrrrrl");
		table_row(&t, "SERIES", "HORIZON", "P10", "P50", "P90", "MODEL");
		json_array_foreach(json_object_get(j, "forecasts"), i, x)
		{
			char h[32];
			fmt_num(jnum(x, "horizon_s"), "%.0fs", h, sizeof(h));
			fmt_series(jstr(x, "series", ""), jnum(x, "p10"), a, sizeof(a));
			fmt_series(jstr(x, "series", ""), jnum(x, "p50"), b, sizeof(b));
			fmt_series(jstr(x, "series", ""), jnum(x, "p90"), d, sizeof(d));
			table_row(&t, jstr(x, "series", "-"), h, a, b, d, jstr(x, "model", "-"));
		}
		table_done(&t, NULL);
	}
	if (json_array_size(json_object_get(j, "endpoints"))) {
		printf("\nendpoints:\n");
		table_init(&t, "lllrr");
		table_row(&t, "PROTOCOL", "ROLE", "ENDPOINT", "COUNT", "ERRORS");
		json_array_foreach(json_object_get(j, "endpoints"), i, x)
		{
			if (i >= 10)
				break;
			fmt_num(jnum(x, "count"), "%.0f", a, sizeof(a));
			fmt_num(jnum(x, "errors"), "%.0f", b, sizeof(b));
			table_row(&t, jstr(x, "protocol", "-"), jstr(x, "role", "-"),
				  jstr(x, "endpoint", "-"), a, b);
		}
		table_done(&t, NULL);
	}
	if (json_array_size(json_object_get(j, "detections"))) {
		printf("\ndetected shifts (newest first):\n");
		table_init(&t, "llrl");
		table_row(&t, "TIME", "SERIES", "SCORE", "DETAIL");
		json_array_foreach(json_object_get(j, "detections"), i, x)
		{
			if (i >= 5)
				break;
			fmt_time(jnum(x, "ts"), a, sizeof(a));
			fmt_num(jnum(x, "score"), "%.2f", b, sizeof(b));
			table_row(&t, a, jstr(x, "series", "-"), b, jstr(x, "detail", ""));
		}
		table_done(&t, NULL);
	}
	if (json_array_size(json_object_get(j, "alerts"))) {
		printf("\nalerts:\n");
		json_array_foreach(json_object_get(j, "alerts"), i, x)
		{
			if (i >= 5)
				break;
			fmt_time(jnum(x, "ts"), a, sizeof(a));
			printf("  %s  #%lld %s\n", a,
			       (long long)json_integer_value(json_object_get(x, "id")),
			       jstr(x, "text", ""));
		}
	}
	if (json_array_size(json_object_get(j, "adjustments"))) {
		printf("\nadjustments:\n");
		json_array_foreach(json_object_get(j, "adjustments"), i, x)
		{
			if (i >= 5)
				break;
			fmt_time(jnum(x, "issued_at"), a, sizeof(a));
			printf("  %s  #%lld %s [%s]\n", a,
			       (long long)json_integer_value(json_object_get(x, "id")),
			       jstr(x, "reason", ""), jstr(x, "outcome", "pending"));
		}
	}
out:
	json_decref(j);
	return r;
}

static int do_clusters(const struct ctl *c)
{
	json_t *j = NULL, *x, *m;
	struct table t;
	size_t i, k;
	int r = call(c, "GET", "/api/v1/clusters", NULL, &j);

	if (r || c->json)
		goto out;
	table_init(&t, "rlrl");
	table_row(&t, "CLUSTER", "METHOD", "QUALITY", "MEMBERS");
	json_array_foreach(json_object_get(j, "clusters"), i, x)
	{
		char id[24], q[24], members[512] = "";
		size_t o = 0;

		snprintf(id, sizeof(id), "%lld",
			 (long long)json_integer_value(json_object_get(x, "cluster")));
		fmt_num(jnum(x, "quality"), "%.2f", q, sizeof(q));
		json_array_foreach(json_object_get(x, "members"), k, m)
		{
			if (o + 24 >= sizeof(members))
				break;
			o += (size_t)snprintf(members + o, sizeof(members) - o, "%s%lld",
					      k ? "," : "", (long long)json_integer_value(m));
		}
		table_row(&t, id, jstr(x, "method", "-"), q, members);
	}
	table_done(&t, "no clusters yet");
	k = json_array_size(json_object_get(j, "moves"));
	if (k)
		printf("\n%zu recent moves between clusters (--json lists them)\n", k);
out:
	json_decref(j);
	return r;
}

static int do_alerts(const struct ctl *c, const char *limit, const char *since)
{
	_cleanup_free_ char *path = NULL;
	json_t *j = NULL, *x;
	struct table t;
	size_t i;
	int r;

	if (asprintf(&path, "/api/v1/alerts?limit=%s%s%s", limit ? limit : "100",
		     since ? "&since=" : "", since ? since : "") < 0)
		return EXIT_API;
	r = call(c, "GET", path, NULL, &j);
	if (r || c->json)
		goto out;
	table_init(&t, "rlrllrll");
	table_row(&t, "ID", "TIME", "WORKLOAD", "HOST", "KIND", "SCORE", "FEEDBACK", "TEXT");
	json_array_foreach(json_object_get(j, "alerts"), i, x)
	{
		char id[24], ts[32], wl[24], sc[24], text[512];
		snprintf(id, sizeof(id), "%lld",
			 (long long)json_integer_value(json_object_get(x, "id")));
		fmt_time(jnum(x, "ts"), ts, sizeof(ts));
		fmt_num(jnum(x, "workload_id"), "%.0f", wl, sizeof(wl));
		fmt_num(jnum(x, "score"), "%.2f", sc, sizeof(sc));
		shorten(jstr(x, "text", ""), 100, text, sizeof(text));
		table_row(&t, id, ts, wl, jstr(x, "host", "-"), jstr(x, "kind", "-"), sc,
			  jstr(x, "feedback", "-"), text);
	}
	table_done(&t, "no alerts");
out:
	json_decref(j);
	return r;
}

static void targets_text(json_t *tg, char *buf, size_t len)
{
	const char *key;
	json_t *v;
	size_t o = 0;

	buf[0] = '\0';
	json_object_foreach(tg, key, v)
	{
		char val[32];
		if (strstr(key, "memory"))
			fmt_bytes(json_number_value(v), val, sizeof(val));
		else
			snprintf(val, sizeof(val), "%g", json_number_value(v));
		if (o + 1 < len)
			o += (size_t)snprintf(buf + o, len - o, "%s%s=%s", o ? " " : "", key, val);
	}
	if (!o)
		snprintf(buf, len, "-");
}

static int do_adjustments(const struct ctl *c, const char *limit)
{
	_cleanup_free_ char *path = NULL;
	json_t *j = NULL, *x;
	struct table t;
	size_t i;
	int r;

	if (asprintf(&path, "/api/v1/adjustments?limit=%s", limit ? limit : "100") < 0)
		return EXIT_API;
	r = call(c, "GET", path, NULL, &j);
	if (r || c->json)
		goto out;
	table_init(&t, "rllllll");
	table_row(&t, "ID", "ISSUED", "HOST", "WORKLOAD", "TIER", "TARGETS", "OUTCOME");
	json_array_foreach(json_object_get(j, "adjustments"), i, x)
	{
		char id[24], ts[32], tg[256];
		snprintf(id, sizeof(id), "%lld",
			 (long long)json_integer_value(json_object_get(x, "id")));
		fmt_time(jnum(x, "issued_at"), ts, sizeof(ts));
		targets_text(json_object_get(x, "targets"), tg, sizeof(tg));
		table_row(&t, id, ts, jstr(x, "host", "-"), jstr(x, "workload", "-"),
			  jstr(x, "tier", "-"), tg, jstr(x, "outcome", "pending"));
	}
	table_done(&t, "no adjustments");
out:
	json_decref(j);
	return r;
}

static int do_feedback(const struct ctl *c, long long id, const char *verdict, bool adjustment,
		       const char *note)
{
	json_t *body = json_pack("{s:s,s:I,s:s}", "kind", adjustment ? "adjustment" : "alert", "id",
				 (json_int_t)id, "verdict", verdict);
	json_t *j = NULL;
	int r;

	if (note)
		json_object_set_new(body, "note", json_string(note));
	r = call(c, "POST", "/api/v1/feedback", body, &j);
	json_decref(body);
	if (!r && !c->json)
		printf("feedback %lld recorded: %s %lld was %s\n",
		       (long long)json_integer_value(json_object_get(j, "feedback_id")),
		       adjustment ? "adjustment" : "alert", id, verdict);
	json_decref(j);
	return r;
}

static int do_recommend(const struct ctl *c, long long id, double conf, double horizon)
{
	json_t *body = json_pack("{s:I,s:f,s:f}", "workload_id", (json_int_t)id, "confidence", conf,
				 "horizon_s", horizon);
	json_t *j = NULL;
	char cpu[32], mem[32];
	int r = call(c, "POST", "/allocation/request", body, &j);

	json_decref(body);
	if (!r && !c->json) {
		fmt_cores(jnum(j, "cpu_cores"), cpu, sizeof(cpu));
		fmt_bytes(jnum(j, "mem_bytes"), mem, sizeof(mem));
		printf("workload %lld at %g%% confidence, %.0f s ahead (forecast horizon %.0f s):\n"
		       "  CPU     %s cores\n  memory  %s\n\n%s\n",
		       id, 100 * jnum(j, "confidence"), jnum(j, "horizon_s"),
		       jnum(j, "forecast_horizon_s"), cpu, mem, jstr(j, "explanation", ""));
	}
	json_decref(j);
	return r;
}

/* --- command line --- */

static int read_token(const char *path, char **out)
{
	FILE *f = fopen(path, "r");
	char buf[1024];
	size_t n;

	if (!f) {
		fprintf(stderr, "prescientctl: cannot read the token file %s: %s\n", path,
			strerror(errno));
		return EXIT_USAGE;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
		n--;
	buf[n] = '\0';
	if (!n) {
		fprintf(stderr, "prescientctl: the token file %s is empty\n", path);
		return EXIT_USAGE;
	}
	*out = strdup(buf);
	return *out ? 0 : EXIT_API;
}

static int parse_id(const char *cmd, const char *s, long long *id)
{
	char *end;

	errno = 0;
	*id = strtoll(s, &end, 10);
	if (errno || end == s || *end || *id <= 0)
		return usage_error(cmd, "'%s' is not a workload, alert or adjustment id", s);
	return 0;
}

/* Runs subcommand @argv[0] with its own options. */
static int run(struct ctl *c, int argc, char **argv)
{
	enum { O_HELP = 256, O_SINCE, O_TIER, O_LIMIT, O_ADJ, O_NOTE, O_CONF, O_HORIZON };
	static const struct option opts[] = {
		{"help", no_argument, NULL, O_HELP},
		{"since", required_argument, NULL, O_SINCE},
		{"tier", required_argument, NULL, O_TIER},
		{"limit", required_argument, NULL, O_LIMIT},
		{"adjustment", no_argument, NULL, O_ADJ},
		{"note", required_argument, NULL, O_NOTE},
		{"confidence", required_argument, NULL, O_CONF},
		{"horizon", required_argument, NULL, O_HORIZON},
		{"json", no_argument, NULL, 'j'},
		{0},
	};
	/* Which options each command takes. */
	static const struct {
		const char *cmd;
		int opt[4];
		int nargs;
	} takes[] = {
		{"workloads", {0}, 0},
		{"workload", {O_SINCE, O_TIER}, 1},
		{"clusters", {0}, 0},
		{"alerts", {O_LIMIT, O_SINCE}, 0},
		{"adjustments", {O_LIMIT}, 0},
		{"feedback", {O_ADJ, O_NOTE}, 2},
		{"recommend", {O_CONF, O_HORIZON}, 1},
	};
	const char *cmd = argv[0], *since = NULL, *tier = NULL, *limit = NULL, *note = NULL;
	double conf = 0.99, horizon = 300;
	bool adjustment = false;
	size_t k;
	int o;

	for (k = 0; k < PSC_ARRAY_SIZE(takes) && strcmp(takes[k].cmd, cmd); k++)
		;
	if (k == PSC_ARRAY_SIZE(takes))
		return usage_error(NULL, "unknown command '%s'", cmd);
	optind = 0; /* 0: glibc's getopt starts over (after main()'s parse) */
	opterr = 0; /* our message names the command */
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = o == O_HELP || o == 'j';
		for (int i = 0; i < 4; i++)
			ok |= takes[k].opt[i] == o;
		if (!ok || o == '?')
			return usage_error(cmd, "%s does not take %s", cmd, argv[optind - 1]);
		switch (o) {
		case O_HELP:
			return cmd_help(cmd);
		case 'j':
			c->json = true;
			break;
		case O_SINCE:
			since = optarg;
			break;
		case O_TIER:
			tier = optarg;
			break;
		case O_LIMIT:
			limit = optarg;
			break;
		case O_ADJ:
			adjustment = true;
			break;
		case O_NOTE:
			note = optarg;
			break;
		case O_CONF:
		case O_HORIZON: {
			char *end;
			double v = strtod(optarg, &end);
			if (end == optarg || *end || !isfinite(v) || v <= 0 ||
			    (o == O_CONF && v >= 1))
				return usage_error(
					cmd,
					o == O_CONF
						? "--confidence: expected a number in (0, 1), not '%s'"
						: "--horizon: expected seconds > 0, not '%s'",
					optarg);
			*(o == O_CONF ? &conf : &horizon) = v;
			break;
		}
		}
	}
	if (argc - optind != takes[k].nargs)
		return usage_error(cmd, "usage: prescientctl %s", find_help(cmd)->synopsis);
	argv += optind;
	if (limit) {
		char *end;
		long v = strtol(limit, &end, 10);
		if (end == limit || *end || v < 1 || v > 1000)
			return usage_error(cmd, "--limit: expected 1..1000, not '%s'", limit);
	}
	if (tier && strcmp(tier, "raw") && strcmp(tier, "5m") && strcmp(tier, "1h"))
		return usage_error(cmd, "--tier: expected raw, 5m or 1h, not '%s'", tier);
	if (since) {
		char *end;
		double v = strtod(since, &end);
		if (end == since || *end || !isfinite(v))
			return usage_error(cmd, "--since: expected Unix seconds, not '%s'", since);
	}

	long long id = 0;
	int r;
	switch (k) {
	case 0:
		return do_workloads(c);
	case 1:
		r = parse_id(cmd, argv[0], &id);
		return r ? r : do_workload(c, argv[0], since, tier);
	case 2:
		return do_clusters(c);
	case 3:
		return do_alerts(c, limit, since);
	case 4:
		return do_adjustments(c, limit);
	case 5:
		r = parse_id(cmd, argv[0], &id);
		if (r)
			return r;
		if (strcmp(argv[1], "right") && strcmp(argv[1], "wrong"))
			return usage_error(cmd, "the verdict is right or wrong, not '%s'", argv[1]);
		return do_feedback(c, id, argv[1], adjustment, note);
	default:
		r = parse_id(cmd, argv[0], &id);
		return r ? r : do_recommend(c, id, conf, horizon);
	}
}

int main(int argc, char **argv)
{
	enum { O_SERVER = 256, O_TOKEN, O_JSON, O_HELP, O_VERSION };
	static const struct option opts[] = {
		{"server", required_argument, NULL, O_SERVER},
		{"token-file", required_argument, NULL, O_TOKEN},
		{"json", no_argument, NULL, O_JSON},
		{"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},
		{0},
	};
	struct ctl c = {.server = getenv("PRESCIENT_SERVER")};
	const char *token_file = getenv("PRESCIENT_TOKEN_FILE");
	_cleanup_free_ char *server = NULL;
	int o, r;

	/* '+': stop at the command; its options are its own. */
	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (o) {
		case O_SERVER:
			c.server = optarg;
			break;
		case O_TOKEN:
			token_file = optarg;
			break;
		case O_JSON:
			c.json = true;
			break;
		case 'h':
		case O_HELP:
			help(stdout);
			return 0;
		case O_VERSION:
			printf("prescientctl %s\n", PSC_VERSION);
			return 0;
		default:
			return usage_error(NULL, "%s", "unknown option");
		}
	}
	if (optind >= argc) {
		help(stderr);
		return EXIT_USAGE;
	}
	if (!c.server || !*c.server)
		c.server = DEFAULT_SERVER;
	/* No trailing slash: paths start with one. */
	server = strdup(c.server);
	if (!server)
		return EXIT_API;
	for (size_t n = strlen(server); n > 0 && server[n - 1] == '/'; n--)
		server[n - 1] = '\0';
	c.server = server;
	if (token_file && *token_file) {
		r = read_token(token_file, &c.token);
		if (r)
			return r;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "prescientctl: cannot initialise libcurl\n");
		return EXIT_API;
	}
	r = run(&c, argc - optind, argv + optind);
	curl_global_cleanup();
	free(c.token);
	return r;
}
