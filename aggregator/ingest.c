// SPDX-License-Identifier: MIT
#include "ingest.h"

#include <errno.h>
#include <nanomsg/nn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "log.h"

/* Per reason, at most LOG_BURST lines per LOG_PERIOD seconds; the rest are counted and
 * reported in one line when the next period opens, so a flood of bad frames cannot fill
 * the disk with logs. */
#define LOG_BURST 5
#define LOG_PERIOD 60.0
/* Group commit: at most this many requests per transaction. */
#define BATCH_MAX 256
/* Room for a request's control header (the SP backtrace: 8 bytes over a direct
 * connection, 4 more per device hop). */
#define CTRL_MAX 256

/* A request received on the raw REP socket, with the header its reply is routed by. */
struct raw_req {
	void *body; /* nanomsg chunk */
	unsigned char ctrl[CTRL_MAX] __attribute__((aligned(16)));
	size_t ctrl_len;
};

struct log_limit {
	double period_start;
	unsigned logged;
	uint64_t suppressed;
};

/* A stored (or refused by the store) report waiting for its batch's commit: what its
 * reply needs, copied, since the decoded report itself is gone by then (the decoder's
 * arena holds one report at a time). */
struct pending {
	bool decoded;
	char host[256]; /* the decoder checked: at most 255 bytes */
	uint64_t seq, dict_epoch;
	double window_end;
	size_t n_workloads;
	enum psc_store_result res;
	int err;
	Prescient__SignedAdjustment **adj;
	size_t n_adj;
};

struct psc_ingest {
	struct psc_store *store;
	const struct psc_keys *keys;
	struct psc_ingest_options opt;
	struct psc_ingest_counters *c;
	struct log_limit limits[_PSC_REFUSE_MAX];
	struct raw_req raw[BATCH_MAX];
	struct psc_ingest_req req[BATCH_MAX];
	struct psc_wire_decoder *dec; /* one report at a time, arena reused */
	struct pending *pend;	      /* per request of a batch, reused */
	size_t pend_cap;
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
	if (psc_wire_decoder_new(&ing->dec, 0) < 0) {
		free(ing);
		return -ENOMEM;
	}
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

void psc_ingest_free(struct psc_ingest **ingp)
{
	struct psc_ingest *ing = *ingp;

	if (!ing)
		return;
	psc_wire_decoder_free(&ing->dec);
	free(ing->pend);
	free(ing);
	*ingp = NULL;
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

static int ack(struct psc_ingest *ing, const struct pending *r, Prescient__Ack__Status status,
	       double now, Prescient__SignedAdjustment **adj, size_t n, uint8_t **reply,
	       size_t *reply_len)
{
	Prescient__Ack a = PRESCIENT__ACK__INIT;

	a.schema_version = PSC_WIRE_SCHEMA_VERSION;
	a.host_id = (char *)r->host;
	a.seq = r->seq;
	a.status = status;
	a.server_time = now;
	a.adjustments = adj;
	a.n_adjustments = n;
	return psc_wire_ack_encode(&a, ing->keys->fleet, reply, reply_len);
}

/* Pending adjustments ride on every ack to the host until it reports an outcome. Read
 * inside the batch's transaction (it sees the outcomes this very report carried). A
 * failure to read them must not turn a stored report into a refusal. */
static void read_adjustments(struct psc_ingest *ing, struct pending *p, double now)
{
	int e;

	if (p->res != PSC_STORE_STORED && p->res != PSC_STORE_DUPLICATE)
		return;
	e = psc_store_adjustments_pending(ing->store, p->host, now, ing->opt.max_adjustments,
					  &p->adj, &p->n_adj);
	if (e < 0) {
		psc_warn("AGG-ADJ-READ", "cannot read pending adjustments for %s: %s", p->host,
			 strerror(-e));
		p->adj = NULL;
		p->n_adj = 0;
	}
}

/* The reply of one decoded request once its batch has committed (@committed) or not. */
static int finish(struct psc_ingest *ing, struct pending *p, size_t len, bool committed,
		  double now, struct psc_ingest_req *q)
{
	const struct pending *r = p;
	Prescient__Ack__Status status;
	int e;

	if (p->err < 0 || !committed) {
		q->reason = PSC_REFUSE_STORE;
		log_refusal(ing, q->reason, now, "cannot store report %s/%llu: %s", r->host,
			    (unsigned long long)r->seq, strerror(p->err < 0 ? -p->err : EIO));
		return refuse(ing, q->reason, &q->reply, &q->reply_len);
	}
	switch (p->res) {
	case PSC_STORE_STORED:
		q->reason = PSC_REFUSE_NONE;
		status = PRESCIENT__ACK__STATUS__OK;
		atomic_fetch_add(&ing->c->stored, 1);
		psc_debug("stored report %s/%llu (%zu bytes, %zu workloads)", r->host,
			  (unsigned long long)r->seq, len, r->n_workloads);
		break;
	case PSC_STORE_DUPLICATE:
		q->reason = PSC_REFUSE_DUPLICATE;
		status = PRESCIENT__ACK__STATUS__DUPLICATE;
		atomic_fetch_add(&ing->c->duplicate, 1);
		atomic_fetch_add(&ing->c->refused[q->reason], 1);
		log_refusal(ing, q->reason, now, "report %s/%llu was stored before: acked again",
			    r->host, (unsigned long long)r->seq);
		break;
	case PSC_STORE_STALE:
		q->reason = PSC_REFUSE_STALE;
		status = PRESCIENT__ACK__STATUS__STALE;
		atomic_fetch_add(&ing->c->refused[q->reason], 1);
		log_refusal(ing, q->reason, now,
			    "report %s/%llu ended %.0f s ago, past the ledger's retention: acked, "
			    "not stored",
			    r->host, (unsigned long long)r->seq, now - r->window_end);
		break;
	case PSC_STORE_UNKNOWN_REF:
	default:
		q->reason = PSC_REFUSE_UNKNOWN_REF;
		status = PRESCIENT__ACK__STATUS__RESEND_DICT;
		atomic_fetch_add(&ing->c->refused[q->reason], 1);
		log_refusal(ing, q->reason, now,
			    "report %s/%llu uses a dictionary ref of epoch %llu this store does "
			    "not know: asked to resend with strings",
			    r->host, (unsigned long long)r->seq, (unsigned long long)r->dict_epoch);
		break;
	}
	e = ack(ing, r, status, now, p->adj, p->n_adj, &q->reply, &q->reply_len);
	if (e < 0) {
		/* Committed but unacknowledgeable (out of memory): the agent will resend and
		 * get a DUPLICATE ack, so nothing is lost. */
		return refuse(ing, PSC_REFUSE_STORE, &q->reply, &q->reply_len);
	}
	return 0;
}

static void pending_init(struct pending *p, const Prescient__HostReport *r)
{
	memset(p, 0, sizeof(*p));
	p->decoded = true;
	snprintf(p->host, sizeof(p->host), "%s", r->host_id);
	p->seq = r->seq;
	p->dict_epoch = r->dict_epoch;
	p->window_end = r->window_end;
	p->n_workloads = r->n_workloads;
}

int psc_ingest_batch(struct psc_ingest *ing, struct psc_ingest_req *req, size_t n, double now)
{
	const Prescient__HostReport *r;
	bool began = false, committed = false;
	int e, begin_err = 0, ret = 0;
	struct pending *p;

	if (n > ing->pend_cap) {
		p = realloc(ing->pend, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		ing->pend = p;
		ing->pend_cap = n;
	}
	p = ing->pend;
	/* Each report is decoded and stored at once (the decoder keeps one at a time), all
	 * of the batch in one transaction (group commit), then the replies: nothing is
	 * acknowledged before the COMMIT has returned. */
	for (size_t i = 0; i < n; i++) {
		struct psc_ingest_req *q = &req[i];

		p[i].decoded = false;
		p[i].adj = NULL;
		q->reply = NULL;
		q->reply_len = 0;
		atomic_fetch_add(&ing->c->received, 1);
		atomic_fetch_add(&ing->c->bytes, q->len);
		e = psc_wire_decoder_report(ing->dec, q->frame, q->len, ing->keys->fleet,
					    &ing->opt.limits, &r);
		if (e < 0) {
			q->reason = psc_wire_reason_from_errno(e);
			log_refusal(ing, q->reason, now, "refused a %zu-byte frame: %s (%s)", q->len,
				    psc_wire_reason_name(q->reason), strerror(-e));
			if (refuse(ing, q->reason, &q->reply, &q->reply_len) < 0)
				ret = -ENOMEM;
			continue;
		}
		pending_init(&p[i], r);
		if (!began) {
			began = true;
			begin_err = psc_store_batch_begin(ing->store);
		}
		if (begin_err) {
			p[i].err = begin_err;
			continue;
		}
		p[i].err = psc_store_batch_report(ing->store, r, q->len, now, &p[i].res);
		if (p[i].err == 0)
			read_adjustments(ing, &p[i], now);
	}
	if (began && begin_err == 0)
		committed = psc_store_batch_commit(ing->store) == 0;
	for (size_t i = 0; i < n; i++) {
		if (!p[i].decoded)
			continue;
		if (finish(ing, &p[i], req[i].len, committed, now, &req[i]) < 0)
			ret = -ENOMEM;
		psc_store_adjustments_free(&p[i].adj, p[i].n_adj);
	}
	return ret;
}

int psc_ingest_frame(struct psc_ingest *ing, const uint8_t *frame, size_t len, double now,
		     uint8_t **reply, size_t *reply_len, enum psc_wire_reason *reason)
{
	struct psc_ingest_req q = { .frame = frame, .len = len };
	int e;

	e = psc_ingest_batch(ing, &q, 1, now);
	if (e < 0) {
		free(q.reply);
		return e;
	}
	*reply = q.reply;
	*reply_len = q.reply_len;
	*reason = q.reason;
	return 0;
}

static int recv_raw(int sock, struct raw_req *q, size_t *len)
{
	struct nn_iovec iov = { .iov_base = &q->body, .iov_len = NN_MSG };
	struct nn_msghdr h = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = q->ctrl,
		.msg_controllen = sizeof(q->ctrl),
	};
	const struct nn_cmsghdr *c = (const struct nn_cmsghdr *)q->ctrl;
	int n;

	memset(q->ctrl, 0, sizeof(struct nn_cmsghdr));
	n = nn_recvmsg(sock, &h, NN_DONTWAIT);
	if (n < 0)
		return -nn_errno();
	/* The first property is the SP header (the backtrace); nothing else is needed to
	 * route the reply. A header too large for the buffer leaves it empty: that request
	 * cannot be answered (its REQ peer times out and resends). */
	q->ctrl_len = c->cmsg_len >= sizeof(*c) && c->cmsg_len <= sizeof(q->ctrl) ? c->cmsg_len : 0;
	*len = (size_t)n;
	return 0;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int psc_ingest_serve(struct psc_ingest *ing, int sock)
{
	double now = wall_now();
	size_t n = 0;
	int e = 0;

	while (n < BATCH_MAX) {
		e = recv_raw(sock, &ing->raw[n], &ing->req[n].len);
		if (e < 0)
			break;
		ing->req[n].frame = ing->raw[n].body;
		n++;
	}
	if (n && psc_ingest_batch(ing, ing->req, n, now) < 0)
		psc_err("AGG-NOMEM", "out of memory: requests dropped without a reply");
	for (size_t i = 0; i < n; i++) {
		struct psc_ingest_req *q = &ing->req[i];
		struct nn_iovec iov = { .iov_base = q->reply, .iov_len = q->reply_len };
		struct nn_msghdr h = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ing->raw[i].ctrl,
			.msg_controllen = ing->raw[i].ctrl_len,
		};

		/* A reply whose requester went away is dropped by nanomsg: nothing to do. */
		if (q->reply && ing->raw[i].ctrl_len && nn_sendmsg(sock, &h, NN_DONTWAIT) < 0 &&
		    nn_errno() != EAGAIN)
			psc_warn("AGG-REPLY", "cannot send a reply: %s", nn_strerror(nn_errno()));
		free(q->reply);
		q->reply = NULL;
		nn_freemsg(ing->raw[i].body);
	}
	if (e < 0 && e != -EAGAIN && e != -EINTR)
		return psc_log_err_r(e, "nn_recvmsg");
	return 0;
}
