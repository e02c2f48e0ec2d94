// SPDX-License-Identifier: MIT
#include "ingest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"

/* Per reason, at most LOG_BURST lines per LOG_PERIOD seconds; the rest are counted and
 * reported in one line when the next period opens, so a flood of bad frames cannot fill
 * the disk with logs. */
#define LOG_BURST 5
#define LOG_PERIOD 60.0

struct log_limit {
	double period_start;
	unsigned logged;
	uint64_t suppressed;
};

struct psc_ingest {
	struct psc_store *store;
	const struct psc_keys *keys;
	struct psc_ingest_options opt;
	struct psc_ingest_counters *c;
	struct log_limit limits[_PSC_REFUSE_MAX];
};

static const char *const reason_ids[_PSC_REFUSE_MAX] = {
	[PSC_REFUSE_BAD_KEY] = "AGG-REFUSE-BAD-KEY",
	[PSC_REFUSE_CORRUPT] = "AGG-REFUSE-CORRUPT",
	[PSC_REFUSE_OVERSIZED] = "AGG-REFUSE-OVERSIZED",
	[PSC_REFUSE_BOMB] = "AGG-REFUSE-BOMB",
	[PSC_REFUSE_VERSION] = "AGG-REFUSE-VERSION",
	[PSC_REFUSE_DUPLICATE] = "AGG-DUPLICATE",
	[PSC_REFUSE_STALE] = "AGG-REFUSE-STALE",
	[PSC_REFUSE_UNKNOWN_REF] = "AGG-REFUSE-UNKNOWN-REF",
	[PSC_REFUSE_STORE] = "AGG-REFUSE-STORE",
};

int psc_ingest_new(struct psc_ingest **out, struct psc_store *store, const struct psc_keys *keys,
		   const struct psc_ingest_options *opt, struct psc_ingest_counters *counters)
{
	struct psc_ingest *ing = calloc(1, sizeof(*ing));

	if (!ing)
		return -ENOMEM;
	ing->store = store;
	ing->keys = keys;
	ing->c = counters;
	if (opt) {
		ing->opt = *opt;
	} else {
		ing->opt.limits = psc_wire_limits_default();
		ing->opt.max_adjustments = 16;
	}
	*out = ing;
	return 0;
}

void psc_ingest_free(struct psc_ingest **ing)
{
	free(*ing);
	*ing = NULL;
}

static void log_refusal(struct psc_ingest *ing, enum psc_wire_reason reason, double now,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void log_refusal(struct psc_ingest *ing, enum psc_wire_reason reason, double now,
			const char *fmt, ...)
{
	struct log_limit *l = &ing->limits[reason];
	/* Duplicates are normal after an aggregator restart or a lost ack: info, not warn. */
	enum psc_log_level level = reason == PSC_REFUSE_DUPLICATE ? PSC_LOG_INFO : PSC_LOG_WARN;
	char msg[512];
	va_list ap;

	if (now - l->period_start >= LOG_PERIOD) {
		if (l->suppressed)
			psc_log(level, reason_ids[reason],
				"%llu more '%s' refusals in the last %.0f s were not logged",
				(unsigned long long)l->suppressed, psc_wire_reason_name(reason),
				now - l->period_start);
		l->period_start = now;
		l->logged = 0;
		l->suppressed = 0;
	}
	if (l->logged >= LOG_BURST) {
		l->suppressed++;
		return;
	}
	l->logged++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	psc_log(level, reason_ids[reason], "%s%s", msg,
		l->logged == LOG_BURST ? " (further ones this minute are only counted)" : "");
}

static int refuse(struct psc_ingest *ing, enum psc_wire_reason reason, uint8_t **reply,
		  size_t *reply_len)
{
	uint8_t *f = malloc(PSC_WIRE_REFUSAL_SIZE);

	atomic_fetch_add(&ing->c->refused[reason], 1);
	if (!f)
		return -ENOMEM;
	psc_wire_refusal(reason, f);
	*reply = f;
	*reply_len = PSC_WIRE_REFUSAL_SIZE;
	return 0;
}

static int ack(struct psc_ingest *ing, const Prescient__HostReport *r,
	       Prescient__Ack__Status status, double now, uint8_t **reply, size_t *reply_len)
{
	Prescient__SignedAdjustment **adj = NULL;
	Prescient__Ack a = PRESCIENT__ACK__INIT;
	size_t n = 0;
	int e;

	/* Pending adjustments ride on every ack to the host until it reports an outcome.
	 * A failure to read them must not turn a committed report into a refusal. */
	if (status == PRESCIENT__ACK__STATUS__OK || status == PRESCIENT__ACK__STATUS__DUPLICATE) {
		e = psc_store_adjustments_pending(ing->store, r->host_id, now,
						  ing->opt.max_adjustments, &adj, &n);
		if (e < 0) {
			psc_warn("AGG-ADJ-READ", "cannot read pending adjustments for %s: %s",
				 r->host_id, strerror(-e));
			n = 0;
		}
	}
	a.schema_version = PSC_WIRE_SCHEMA_VERSION;
	a.host_id = r->host_id;
	a.seq = r->seq;
	a.status = status;
	a.server_time = now;
	a.adjustments = adj;
	a.n_adjustments = n;
	e = psc_wire_ack_encode(&a, ing->keys->fleet, reply, reply_len);
	psc_store_adjustments_free(&adj, n);
	return e;
}

int psc_ingest_frame(struct psc_ingest *ing, const uint8_t *frame, size_t len, double now,
		     uint8_t **reply, size_t *reply_len, enum psc_wire_reason *reason)
{
	Prescient__HostReport *r = NULL;
	enum psc_store_result res;
	Prescient__Ack__Status status;
	int e;

	atomic_fetch_add(&ing->c->received, 1);
	atomic_fetch_add(&ing->c->bytes, len);
	e = psc_wire_report_decode(frame, len, ing->keys->fleet, &ing->opt.limits, &r);
	if (e < 0) {
		*reason = psc_wire_reason_from_errno(e);
		log_refusal(ing, *reason, now, "refused a %zu-byte frame: %s (%s)", len,
			    psc_wire_reason_name(*reason), strerror(-e));
		return refuse(ing, *reason, reply, reply_len);
	}

	e = psc_store_report(ing->store, r, len, now, &res);
	if (e < 0) {
		*reason = PSC_REFUSE_STORE;
		log_refusal(ing, *reason, now, "cannot store report %s/%llu: %s", r->host_id,
			    (unsigned long long)r->seq, strerror(-e));
		psc_wire_report_free(&r);
		return refuse(ing, *reason, reply, reply_len);
	}
	switch (res) {
	case PSC_STORE_STORED:
		*reason = PSC_REFUSE_NONE;
		status = PRESCIENT__ACK__STATUS__OK;
		atomic_fetch_add(&ing->c->stored, 1);
		psc_debug("stored report %s/%llu (%zu bytes, %zu workloads)", r->host_id,
			  (unsigned long long)r->seq, len, r->n_workloads);
		break;
	case PSC_STORE_DUPLICATE:
		*reason = PSC_REFUSE_DUPLICATE;
		status = PRESCIENT__ACK__STATUS__DUPLICATE;
		atomic_fetch_add(&ing->c->duplicate, 1);
		atomic_fetch_add(&ing->c->refused[*reason], 1);
		log_refusal(ing, *reason, now, "report %s/%llu was stored before: acked again",
			    r->host_id, (unsigned long long)r->seq);
		break;
	case PSC_STORE_STALE:
		*reason = PSC_REFUSE_STALE;
		status = PRESCIENT__ACK__STATUS__STALE;
		atomic_fetch_add(&ing->c->refused[*reason], 1);
		log_refusal(ing, *reason, now,
			    "report %s/%llu ended %.0f s ago, past the ledger's retention: acked, "
			    "not stored",
			    r->host_id, (unsigned long long)r->seq, now - r->window_end);
		break;
	case PSC_STORE_UNKNOWN_REF:
	default:
		*reason = PSC_REFUSE_UNKNOWN_REF;
		status = PRESCIENT__ACK__STATUS__RESEND_DICT;
		atomic_fetch_add(&ing->c->refused[*reason], 1);
		log_refusal(ing, *reason, now,
			    "report %s/%llu uses a dictionary ref of epoch %llu this store does "
			    "not know: asked to resend with strings",
			    r->host_id, (unsigned long long)r->seq,
			    (unsigned long long)r->dict_epoch);
		break;
	}
	e = ack(ing, r, status, now, reply, reply_len);
	psc_wire_report_free(&r);
	if (e < 0) {
		/* Committed but unacknowledgeable (out of memory): the agent will resend and
		 * get a DUPLICATE ack, so nothing is lost. */
		return refuse(ing, PSC_REFUSE_STORE, reply, reply_len);
	}
	return 0;
}
