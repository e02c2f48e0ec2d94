// SPDX-License-Identifier: MIT
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum psc_log_level log_level = PSC_LOG_INFO;
static bool log_json;

static const char *const level_names[_PSC_LOG_MAX] = {
	[PSC_LOG_ERR] = "err",
	[PSC_LOG_WARN] = "warn",
	[PSC_LOG_INFO] = "info",
	[PSC_LOG_DEBUG] = "debug",
};

void psc_log_setup(enum psc_log_level level, bool json)
{
	log_level = level;
	log_json = json;
}

enum psc_log_level psc_log_get_level(void)
{
	return log_level;
}

int psc_log_level_from_string(const char *s, enum psc_log_level *out)
{
	for (int i = 0; i < _PSC_LOG_MAX; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

static void json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

void psc_logv(enum psc_log_level level, const char *id, const char *fmt, va_list ap)
{
	char msg[1024];

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_json) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		fprintf(stderr, "{\"ts\": %.3f, \"level\": \"%s\", ",
			ts.tv_sec + ts.tv_nsec / 1e9, level_names[level]);
		if (id)
			fprintf(stderr, "\"id\": \"%s\", ", id);
		fputs("\"msg\": \"", stderr);
		json_escape(stderr, msg);
		fputs("\"}\n", stderr);
	} else if (id) {
		fprintf(stderr, "prescient: %s: %s: %s\n", level_names[level], id, msg);
	} else {
		fprintf(stderr, "prescient: %s: %s\n", level_names[level], msg);
	}
}

void psc_log(enum psc_log_level level, const char *id, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	psc_logv(level, id, fmt, ap);
	va_end(ap);
}

int psc_log_err_r(int r, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	psc_log(PSC_LOG_ERR, NULL, "%s: %s", msg, strerror(r < 0 ? -r : r));
	return r;
}
