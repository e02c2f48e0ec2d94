// SPDX-License-Identifier: MIT
#include "uplink.h"

#include <errno.h>
#include <inttypes.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "enforce.h"
#include "keys.h"
#include "log.h"
#include "prescient.pb-c.h"
#include "spool.h"
#include "wire.h"

/* Without a reply after this long, the report is sent again (a new request cancels the
 * old one on a REQ socket). nanomsg's own resend interval is set to the same value. */
#define REPLY_TIMEOUT_S 10.0
/* After a refusal or a send that found no aggregator, wait before trying again. */
#define RETRY_MIN_S 0.5
#define RETRY_MAX_S 30.0
/* Log a repeated failure at most this often. */
#define LOG_EVERY_S 30.0

struct psc_uplink {
	int sock;
	int rcvfd;
	struct psc_keys keys;
	struct psc_spool *spool;
	struct psc_wire_dict *dict;
	char *host_id;
	uint64_t in_flight; /* seq awaiting its reply, 0 = none */
	double sent_at;
	double retry_at;
	double backoff;
	double last_log;
	uint64_t last_adjustment_id;
	uint64_t unnumbered; /* reports lost for want of a durable sequence number */
	struct psc_enforce *enforce;
	struct psc_uplink_counters counters;
};

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int psc_uplink_new(struct psc_uplink **out, const struct psc_uplink_opts *o)
{
	_cleanup_free_ struct psc_uplink *u = calloc(1, sizeof(*u));
	char err[256];
	int r;

	if (!u)
		return -ENOMEM;
	u->sock = -1;
	r = psc_keys_load(&u->keys, o->keys_dir, 0, err, sizeof(err));
	if (r < 0)
		return psc_log_err_r(r, "cannot load keys from %s: %s", o->keys_dir, err);
	r = psc_spool_open(&u->spool, o->spool_dir, o->spool_max_bytes);
	if (r < 0) {
		psc_keys_wipe(&u->keys);
		return psc_log_err_r(r, "cannot open the spool %s", o->spool_dir);
	}
	r = psc_wire_dict_new(&u->dict, 0);
	u->host_id = strdup(o->host_id);
	if (r < 0 || !u->host_id)
		goto fail_nomem;
	u->sock = nn_socket(AF_SP, NN_REQ);
	if (u->sock < 0)
		goto fail_nn;
	int resend_ms = (int)(REPLY_TIMEOUT_S * 1000);
	size_t sz = sizeof(u->rcvfd);
	if (nn_setsockopt(u->sock, NN_REQ, NN_REQ_RESEND_IVL, &resend_ms, sizeof(resend_ms)) < 0 ||
	    nn_getsockopt(u->sock, NN_SOL_SOCKET, NN_RCVFD, &u->rcvfd, &sz) < 0)
		goto fail_nn;
	if (nn_connect(u->sock, o->url) < 0) {
		r = -nn_errno();
		psc_err("AGENT-UPLINK", "cannot use aggregator address %s: %s", o->url,
			nn_strerror(-r));
		goto fail;
	}
	u->backoff = RETRY_MIN_S;
	psc_info("AGENT-UPLINK", "reporting to %s as host %s; spool %s holds %zu reports",
		 o->url, o->host_id, o->spool_dir, psc_spool_frames(u->spool));
	*out = TAKE_PTR(u);
	return 0;

fail_nomem:
	r = -ENOMEM;
	goto fail;
fail_nn:
	r = -nn_errno();
	psc_err("AGENT-UPLINK", "nanomsg: %s", nn_strerror(-r));
fail:
	if (u->sock >= 0)
		nn_close(u->sock);
	psc_wire_dict_free(&u->dict);
	psc_spool_close(&u->spool);
	psc_keys_wipe(&u->keys);
	free(u->host_id);
	return r;
}

int psc_uplink_take_seq(struct psc_uplink *u, uint64_t *seq)
{
	int r = psc_spool_take_seq(u->spool, seq);

	/* The caller cannot send a report without a number: it is lost (a full disk). */
	if (r < 0)
		u->unnumbered++;
	return r;
}

/* Turns a spooled report into a frame: dictionary refs for strings the aggregator has,
 * then deflate and seal. */
static int frame_of(struct psc_uplink *u, const void *packed, size_t len, uint8_t **frame,
		    size_t *frame_len)
{
	Prescient__HostReport *r = prescient__host_report__unpack(NULL, len, packed);
	int ret;

	if (!r)
		return -EBADMSG;
	/* apply_dict replaces some strings by "" without freeing them: keep the originals
	 * (cgroup and name per workload; protocol, role and endpoint per endpoint) to put
	 * back before the message is freed. */
	size_t n = r->n_workloads, m = 0;
	for (size_t i = 0; i < n; i++)
		m += 2 + 3 * r->workloads[i]->n_endpoints;
	char **orig = calloc(m ? m : 1, sizeof(*orig));
	if (!orig) {
		prescient__host_report__free_unpacked(r, NULL);
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		Prescient__WorkloadWindow *w = r->workloads[i];
		orig[k++] = w->cgroup;
		orig[k++] = w->name;
		for (size_t j = 0; j < w->n_endpoints; j++) {
			orig[k++] = w->endpoints[j]->protocol;
			orig[k++] = w->endpoints[j]->role;
			orig[k++] = w->endpoints[j]->endpoint;
		}
	}
	ret = psc_wire_report_apply_dict(r, u->dict);
	if (ret == 0)
		ret = psc_wire_report_encode(r, u->keys.fleet, frame, frame_len);
	k = 0;
	for (size_t i = 0; i < n; i++) {
		Prescient__WorkloadWindow *w = r->workloads[i];
		w->cgroup = orig[k++];
		w->name = orig[k++];
		for (size_t j = 0; j < w->n_endpoints; j++) {
			w->endpoints[j]->protocol = orig[k++];
			w->endpoints[j]->role = orig[k++];
			w->endpoints[j]->endpoint = orig[k++];
		}
	}
	free(orig);
	prescient__host_report__free_unpacked(r, NULL);
	return ret;
}

static void rate_limited_warn(struct psc_uplink *u, const char *id, const char *what)
{
	double now = now_mono();

	if (now - u->last_log < LOG_EVERY_S)
		return;
	u->last_log = now;
	psc_warn(id, "%s; %zu reports wait in the spool", what, psc_spool_frames(u->spool));
}

static void try_send(struct psc_uplink *u)
{
	_cleanup_free_ void *packed = NULL;
	_cleanup_free_ uint8_t *frame = NULL;
	size_t len, frame_len;
	uint64_t seq;
	int r;

	if (psc_spool_peek(u->spool, &seq, &packed, &len) < 0)
		return;
	r = frame_of(u, packed, len, &frame, &frame_len);
	if (r < 0) {
		/* A report we cannot encode will never go: drop it rather than block the rest. */
		psc_err("AGENT-UPLINK-DROP", "spooled report %" PRIu64 " cannot be encoded (%s): dropped",
			seq, strerror(-r));
		psc_spool_ack(u->spool, seq);
		return;
	}
	if (nn_send(u->sock, frame, frame_len, NN_DONTWAIT) < 0) {
		/* No aggregator connected (EAGAIN): try again later. */
		u->retry_at = now_mono() + u->backoff;
		u->backoff = u->backoff * 2 > RETRY_MAX_S ? RETRY_MAX_S : u->backoff * 2;
		rate_limited_warn(u, "AGENT-UPLINK-DOWN", "aggregator unreachable");
		return;
	}
	u->counters.sent++;
	u->in_flight = seq;
	u->sent_at = now_mono();
}

void psc_uplink_tick(struct psc_uplink *u)
{
	double now = now_mono();

	if (u->in_flight && now - u->sent_at < REPLY_TIMEOUT_S)
		return;
	if (u->in_flight) {
		rate_limited_warn(u, "AGENT-UPLINK-TIMEOUT", "no reply from the aggregator");
		u->in_flight = 0;
	}
	if (now < u->retry_at)
		return;
	try_send(u);
}

int psc_uplink_submit(struct psc_uplink *u, uint64_t seq, const uint8_t *report, size_t len)
{
	int r = psc_spool_append(u->spool, seq, report, len);

	if (r < 0)
		psc_warn("AGENT-SPOOL-LOSS", "report %" PRIu64 " could not be spooled: %s", seq,
			 strerror(-r));
	psc_uplink_tick(u);
	return r;
}

void psc_uplink_set_enforce(struct psc_uplink *u, struct psc_enforce *e)
{
	u->enforce = e;
}

const uint8_t *psc_uplink_sign_pk(const struct psc_uplink *u)
{
	return u->keys.sign_pk;
}

static void handle_adjustments(struct psc_uplink *u, const Prescient__Ack *ack)
{
	for (size_t i = 0; u->enforce && i < ack->n_adjustments; i++) {
		switch (psc_enforce_handle(u->enforce, ack->adjustments[i])) {
		case PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__UNKNOWN: /* seen before */
			break;
		case PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__EXPIRED:
		case PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__BAD_SIGNATURE:
		case PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__REPLAYED:
		case PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__WRONG_HOST:
			u->counters.adjustments_refused++;
			break;
		default:
			u->counters.adjustments++;
			break;
		}
	}
	for (size_t i = 0; !u->enforce && i < ack->n_adjustments; i++) {
		Prescient__Adjustment *adj = NULL;
		int r = psc_wire_adjustment_verify(ack->adjustments[i], u->keys.sign_pk, u->host_id,
						   now_real(), u->last_adjustment_id, &adj);
		if (r < 0) {
			u->counters.adjustments_refused++;
			psc_warn("AGENT-ADJ-REFUSED", "adjustment refused: %s", strerror(-r));
			continue;
		}
		u->counters.adjustments++;
		u->last_adjustment_id = adj->id;
		psc_info("AGENT-ADJ", "adjustment %" PRIu64 " for %s verified (not applied: no "
				      "enforcement configured): %s",
			 adj->id, adj->workload, adj->reason);
		prescient__adjustment__free_unpacked(adj, NULL);
	}
}

static void handle_reply(struct psc_uplink *u, const uint8_t *buf, size_t len)
{
	struct psc_wire_limits lim = psc_wire_limits_default();
	Prescient__Ack *ack = NULL;
	int kind = psc_wire_frame_kind(buf, len);

	if (kind == PSC_WIRE_REFUSAL) {
		int reason = psc_wire_refusal_reason(buf, len);
		const char *name = reason >= 0 ? psc_wire_reason_name(reason) : NULL;
		u->counters.refused++;
		psc_warn("AGENT-UPLINK-REFUSED",
			 "the aggregator refused report %" PRIu64 " (%s); kept in the spool",
			 u->in_flight, name ? name : "unknown reason");
		u->in_flight = 0;
		u->retry_at = now_mono() + u->backoff;
		u->backoff = u->backoff * 2 > RETRY_MAX_S ? RETRY_MAX_S : u->backoff * 2;
		return;
	}
	int r = psc_wire_ack_decode(buf, len, u->keys.fleet, &lim, &ack);
	if (r < 0) {
		rate_limited_warn(u, "AGENT-UPLINK-BADREPLY", "unreadable reply from the aggregator");
		u->in_flight = 0;
		return;
	}
	switch (ack->status) {
	case PRESCIENT__ACK__STATUS__OK:
	case PRESCIENT__ACK__STATUS__DUPLICATE:
		psc_wire_dict_acked(u->dict, ack->seq);
		/* fallthrough */
	case PRESCIENT__ACK__STATUS__STALE:
		psc_spool_ack(u->spool, ack->seq);
		u->counters.acked++;
		u->backoff = RETRY_MIN_S;
		psc_debug("report %" PRIu64 " acknowledged (%s); %zu reports in the spool",
			  ack->seq, ack->status == PRESCIENT__ACK__STATUS__STALE ? "stale" : "stored",
			  psc_spool_frames(u->spool));
		break;
	case PRESCIENT__ACK__STATUS__RESEND_DICT:
		/* The aggregator does not know some refs: send the same report with every
		 * string inline. */
		u->counters.dict_resends++;
		psc_wire_dict_forget(u->dict);
		break;
	default:
		break;
	}
	handle_adjustments(u, ack);
	psc_wire_ack_free(&ack);
	u->in_flight = 0;
	u->retry_at = 0;
	try_send(u);
}

void psc_uplink_on_readable(struct psc_uplink *u)
{
	for (;;) {
		void *buf = NULL;
		int n = nn_recv(u->sock, &buf, NN_MSG, NN_DONTWAIT);
		if (n < 0)
			return;
		handle_reply(u, buf, (size_t)n);
		nn_freemsg(buf);
	}
}

int psc_uplink_fd(const struct psc_uplink *u)
{
	return u->rcvfd;
}

const struct psc_uplink_counters *psc_uplink_counters(const struct psc_uplink *u)
{
	return &u->counters;
}

size_t psc_uplink_spooled(const struct psc_uplink *u)
{
	return psc_spool_frames(u->spool);
}

uint64_t psc_uplink_spool_dropped(const struct psc_uplink *u)
{
	const struct psc_spool_counters *c = psc_spool_counters(u->spool);

	return c->dropped_frames + c->dropped_oversize + c->dropped_io + c->dropped_corrupt +
	       u->unnumbered;
}

void psc_uplink_drain(struct psc_uplink *u, double linger_s)
{
	double deadline = now_mono() + linger_s;

	while (psc_spool_frames(u->spool) > 0 && now_mono() < deadline) {
		struct nn_pollfd pfd = { .fd = u->sock, .events = NN_POLLIN };
		psc_uplink_tick(u);
		if (nn_poll(&pfd, 1, 100) > 0)
			psc_uplink_on_readable(u);
	}
}

void psc_uplink_free(struct psc_uplink **up)
{
	struct psc_uplink *u;

	if (!up || !*up)
		return;
	u = *up;
	nn_close(u->sock);
	psc_wire_dict_free(&u->dict);
	psc_spool_close(&u->spool);
	psc_keys_wipe(&u->keys);
	free(u->host_id);
	free(u);
	*up = NULL;
}
