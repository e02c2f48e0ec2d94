// SPDX-License-Identifier: MIT
/* Explanations of adjustments and alerts: see explain.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "explain.h"

struct out {
	char *buf;
	size_t len, need;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t room = o->need < o->len ? o->len - o->need : 0;

	va_start(ap, fmt);
	int n = vsnprintf(room ? o->buf + o->need : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->need += (size_t)n;
}

void psc_explain_amount(enum psc_resource r, double v, char *buf, size_t len)
{
	static const char *const bytes[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	switch (r) {
	case PSC_RES_CPU:
		snprintf(buf, len, "%.*f cores", v < 0.1 ? 3 : v < 10 ? 2 : 1, v);
		return;
	case PSC_RES_MEMORY:
		while (v >= 1024 && i < 4) {
			v /= 1024;
			i++;
		}
		snprintf(buf, len, "%.*f %s", i == 0 || v >= 100 ? 0 : 1, v, bytes[i]);
		return;
	case PSC_RES_EGRESS:
		if (v >= 1e6)
			snprintf(buf, len, "%.1f MB/s", v / 1e6);
		else
			snprintf(buf, len, "%.0f kB/s", v / 1e3);
		return;
	}
	snprintf(buf, len, "%g", v);
}

static const char *resource_name(enum psc_resource r)
{
	return r == PSC_RES_CPU ? "CPU" : r == PSC_RES_MEMORY ? "memory" : "network egress";
}

static void duration(double s, char *buf, size_t len)
{
	if (s < 90)
		snprintf(buf, len, "%.0f s", s);
	else if (s < 5400)
		snprintf(buf, len, "%.0f min", s / 60);
	else
		snprintf(buf, len, "%.1f h", s / 3600);
}

size_t psc_explain(const struct psc_explain_facts *f, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };
	char pred[48], cur[48], nl[48], usual[48], lead[32];
	enum psc_resource r = f->resource;

	if (len)
		buf[0] = 0;
	psc_explain_amount(r, f->predicted, pred, sizeof(pred));
	psc_explain_amount(r, f->current_limit, cur, sizeof(cur));
	psc_explain_amount(r, f->new_limit, nl, sizeof(nl));
	psc_explain_amount(r, f->usual, usual, sizeof(usual));
	duration(f->lead_s, lead, sizeof(lead));

	if (f->shift)
		put(&o, "%s. ", f->shift);
	else if (isfinite(f->usual) && f->usual > 0 && f->action != PSC_EXPLAIN_CLEAR_EGRESS)
		put(&o, "%s of %s usually runs at %s%s%s. ", resource_name(r), f->workload, usual,
		    f->usual_when ? " at " : "", f->usual_when ? f->usual_when : "");

	switch (f->action) {
	case PSC_EXPLAIN_CLEAR_EGRESS:
		put(&o, "Network egress of %s is back to its usual level%s%s%s. Removed its rate limit.",
		    f->workload, isfinite(f->usual) ? " (" : "", isfinite(f->usual) ? usual : "",
		    isfinite(f->usual) ? ")" : "");
		return o.need;
	case PSC_EXPLAIN_LIMIT_EGRESS:
		put(&o, "Limited the network egress of %s to %s for now", f->workload, nl);
		break;
	default:
		put(&o, "Predicted %s of %s: %s within %s (%.0f%% confidence)", resource_name(r),
		    f->workload, pred, lead, f->confidence * 100);
		if (f->current_limit > 0)
			put(&o, ", %s its %s limit", f->predicted > f->current_limit ? "above" : "against",
			    cur);
		put(&o, ". ");
		switch (f->action) {
		case PSC_EXPLAIN_RAISE:
			put(&o, "Raised %s to %s", f->file, nl);
			break;
		case PSC_EXPLAIN_LOWER:
			put(&o, "Lowered %s to %s", f->file, nl);
			break;
		case PSC_EXPLAIN_SET:
			put(&o, "Set %s to %s", f->file, nl);
			break;
		default:
			put(&o, "Nothing was changed: %s", f->why_not ? f->why_not : "no action");
			break;
		}
		/* A limit below the prediction needs its reason, or it reads as a mistake. */
		if (f->action != PSC_EXPLAIN_ALERT_ONLY && f->new_limit < 0.98 * f->predicted) {
			if (f->cap > 0 && f->new_limit >= 0.999 * f->cap)
				put(&o, ", its policy's maximum");
			else if (f->margin < 0)
				put(&o,
				    ", %.0f%% under the prediction: a limit that tight has cost "
				    "least against its usage so far",
				    -100 * f->margin);
		}
	}
	if (f->action != PSC_EXPLAIN_ALERT_ONLY && isfinite(f->cost_per_hour))
		put(&o, " (about $%.2f/h)", f->cost_per_hour);
	put(&o, ".");
	return o.need;
}
