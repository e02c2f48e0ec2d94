/* SPDX-License-Identifier: MIT */
/* One logging sink for every daemon: levels, printf-checked formats, optional JSON lines.
 * Operational events carry a stable message id (e.g. "AGENT-RB-DROP") as their first
 * argument so that operators can grep and alert on them. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

enum psc_log_level {
	PSC_LOG_ERR,
	PSC_LOG_WARN,
	PSC_LOG_INFO,
	PSC_LOG_DEBUG,
	_PSC_LOG_MAX,
};

/* Messages above @level are dropped. @json: write one JSON object per line instead of text.
 * The sink is stderr. */
void psc_log_setup(enum psc_log_level level, bool json);
enum psc_log_level psc_log_get_level(void);

/* Parses "err", "warn", "info" or "debug". Returns 0 or -EINVAL. */
int psc_log_level_from_string(const char *s, enum psc_log_level *out);

/* @id may be NULL for messages without a stable id. */
void psc_log(enum psc_log_level level, const char *id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void psc_logv(enum psc_log_level level, const char *id, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Logs at error level and returns @r (a negative errno), so daemon code can write
 * `return psc_log_err_r(r, "cannot attach %s", name);`. The message ends with
 * ": <strerror(-r)>". */
int psc_log_err_r(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define psc_err(id, ...) psc_log(PSC_LOG_ERR, id, __VA_ARGS__)
#define psc_warn(id, ...) psc_log(PSC_LOG_WARN, id, __VA_ARGS__)
#define psc_info(id, ...) psc_log(PSC_LOG_INFO, id, __VA_ARGS__)
#define psc_debug(...) psc_log(PSC_LOG_DEBUG, NULL, __VA_ARGS__)
