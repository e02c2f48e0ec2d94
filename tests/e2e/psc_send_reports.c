// SPDX-License-Identifier: MIT
/* Test client of the fleet link (the agent's uplink is another module): sends synthetic
 * reports of a steady workload to an aggregator over nanomsg REQ and checks the acks, or
 * measures their size on the wire against the agent's JSON (--measure, no network).
 *
 *   psc_send_reports --connect URL --keys DIR [--host H] [--from SEQ] [--count N] ...
 *     prints "acked SEQ ok|duplicate|stale" per report as its ack arrives (flushed), so a
 *     script knows exactly what was acknowledged even if the aggregator dies mid-stream.
 *     Exit: 0 all acked, 3 a refusal frame came back ("refused SEQ REASON"), 4 timeout,
 *     5 a bad reply, 2 usage.
 *   psc_send_reports --measure [--endpoints N] [--count N]
 *     prints bytes per endpoint-window for JSON and the wire encodings.
 *   --garbage corrupt|oversized|bomb|version|truncated: send one bad frame instead.
 *   --interval-ms MS: pause between reports; --quiet: print only the last ack.
 *   psc_send_reports --connect URL --keys DIR --agents N [--host PREFIX] [--count N] ...
 *     N simulated agents at once (hosts PREFIX-0..PREFIX-N-1, one REQ socket and one
 *     dictionary each, one request in flight per agent), --count reports each; prints one
 *     "fleet: ..." summary line. The ingest-rate load generator (tests/bench/ingest_rate.sh).
 *
 * Report content is a pure function of (host, seq), so a resent report is identical. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hist.h"
#include "keys.h"
#include "wire.h"

struct opts {
	const char *url, *keys_dir, *host, *garbage;
	uint64_t from, count;
	unsigned endpoints, workloads, agents;
	int timeout_ms, interval_ms;
	double window_s, start_ts, rate_scale;
	bool no_dict, measure, quiet;
};

/* --- deterministic synthetic workload --- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uniform(uint64_t *s)
{
	return ((double)(splitmix(s) >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(uint64_t *s)
{
	return sqrt(-2 * log(uniform(s))) * cos(2 * M_PI * uniform(s));
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static const char *const http_paths[] = {
	"GET /api/v1/orders/{id}",	 "POST /api/v1/orders",	     "GET /api/v1/customers/{id}",
	"GET /api/v1/products",		 "GET /api/v1/products/{id}", "PUT /api/v1/cart/{id}/items",
	"GET /healthz",			 "POST /api/v1/payments",     "GET /static/app.{id}.js",
	"DELETE /api/v1/cart/{id}",
};
static const char *const sql[] = {
	"SELECT o.id, o.status, o.total FROM orders o WHERE o.customer_id = ? AND o.status = ? "
	"ORDER BY o.created_at DESC LIMIT ?",
	"INSERT INTO orders (customer_id, status, total, created_at) VALUES (?, ?, ?, ?)",
	"UPDATE carts SET updated_at = ? WHERE id = ?",
	"SELECT p.id, p.name, p.price FROM products p JOIN stock s ON s.product_id = p.id "
	"WHERE s.quantity > ?",
	"BEGIN",
	"COMMIT",
};
static const char *const redis[] = { "GET", "SET", "HGETALL", "EXPIRE" };

struct synth_ep {
	const char *protocol, *role, *endpoint;
	double rate;	  /* requests per window */
	double median_us; /* latency */
	double req_bytes, resp_bytes;
};

struct synth {
	unsigned n;
	struct synth_ep *ep;
	unsigned workloads;
	char **cgroups, **names;
	char **ep_names; /* endpoints past the 20 templates: "<template> #<i>" */
};

static int synth_init(struct synth *sy, unsigned endpoints, unsigned workloads, double scale)
{
	uint64_t s = 42;

	sy->n = endpoints;
	sy->workloads = workloads;
	sy->ep = calloc(endpoints, sizeof(*sy->ep));
	sy->cgroups = calloc(workloads, sizeof(char *));
	sy->names = calloc(workloads, sizeof(char *));
	sy->ep_names = calloc(endpoints, sizeof(char *));
	if (!sy->ep || !sy->cgroups || !sy->names || !sy->ep_names)
		return -ENOMEM;
	for (unsigned w = 0; w < workloads; w++) {
		if (asprintf(&sy->cgroups[w], "/system.slice/shop-%u.service", w) < 0 ||
		    asprintf(&sy->names[w], "shop-%u.service", w) < 0)
			return -ENOMEM;
	}
	for (unsigned i = 0; i < endpoints; i++) {
		struct synth_ep *e = &sy->ep[i];
		unsigned k = i % 20;

		if (k < 10) {
			e->protocol = "http";
			e->role = "server";
			e->endpoint = http_paths[k];
			e->median_us = 2000 + 800 * k;
		} else if (k < 16) {
			e->protocol = "postgres";
			e->role = "client";
			e->endpoint = sql[k - 10];
			e->median_us = 300 + 200 * (k - 10);
		} else {
			e->protocol = "redis";
			e->role = "client";
			e->endpoint = redis[k - 16];
			e->median_us = 60 + 10 * (k - 16);
		}
		/* unique (protocol, role, endpoint) within a workload however many endpoints */
		if (i >= 20) {
			if (asprintf(&sy->ep_names[i], "%s #%u", e->endpoint, i) < 0)
				return -ENOMEM;
			e->endpoint = sy->ep_names[i];
		}
		e->rate = (50 + 1950 * uniform(&s)) * scale;
		e->req_bytes = 80 + 400 * uniform(&s);
		e->resp_bytes = 200 + 4000 * uniform(&s);
	}
	return 0;
}

static void synth_free(struct synth *sy)
{
	for (unsigned w = 0; w < sy->workloads; w++) {
		free(sy->cgroups ? sy->cgroups[w] : NULL);
		free(sy->names ? sy->names[w] : NULL);
	}
	for (unsigned i = 0; sy->ep_names && i < sy->n; i++)
		free(sy->ep_names[i]);
	free(sy->ep_names);
	free(sy->cgroups);
	free(sy->names);
	free(sy->ep);
}

struct built {
	Prescient__HostReport r;
	Prescient__WorkloadWindow *w;
	Prescient__WorkloadWindow **wp;
	Prescient__EndpointStats *e;
	Prescient__EndpointStats **ep;
	struct psc_hist *h;
	Prescient__LatencyHistogram *lh;
	unsigned n;
};

static void build_free(struct built *b)
{
	for (unsigned i = 0; b->lh && i < b->n; i++)
		psc_wire_hist_clear(&b->lh[i]);
	free(b->lh);
	free(b->w);
	free(b->wp);
	free(b->e);
	free(b->ep);
	free(b->h);
	memset(b, 0, sizeof(*b));
}

/* The report of (host, seq); b->h holds the raw histograms for the JSON form. */
static int build(struct built *b, const struct synth *sy, const struct opts *o, uint64_t seq)
{
	unsigned per_w = (sy->n + sy->workloads - 1) / sy->workloads;
	uint64_t s;

	memset(b, 0, sizeof(*b));
	b->w = calloc(sy->workloads, sizeof(*b->w));
	b->wp = calloc(sy->workloads, sizeof(*b->wp));
	b->e = calloc(sy->n, sizeof(*b->e));
	b->ep = calloc(sy->n, sizeof(*b->ep));
	b->h = calloc(sy->n, sizeof(*b->h));
	b->lh = calloc(sy->n, sizeof(*b->lh));
	b->n = sy->n;
	if (!b->w || !b->wp || !b->e || !b->ep || !b->h || !b->lh) {
		build_free(b);
		return -ENOMEM;
	}
	prescient__host_report__init(&b->r);
	b->r.schema_version = PSC_WIRE_SCHEMA_VERSION;
	b->r.host_id = (char *)o->host;
	b->r.agent_version = "psc_send_reports";
	b->r.seq = seq;
	b->r.window_start = o->start_ts + (double)seq * o->window_s;
	b->r.window_end = b->r.window_start + o->window_s;
	b->r.workloads = b->wp;
	b->r.n_workloads = sy->workloads;
	for (unsigned w = 0; w < sy->workloads; w++) {
		Prescient__WorkloadWindow *ww = &b->w[w];

		prescient__workload_window__init(ww);
		b->wp[w] = ww;
		s = hash_str(o->host) ^ (seq * 1000003 + w);
		ww->cgroup = sy->cgroups[w];
		ww->name = sy->names[w];
		ww->cpu_s = o->window_s * (0.4 + 0.05 * gauss(&s));
		if (ww->cpu_s < 0)
			ww->cpu_s = 0;
		ww->mem_bytes = (uint64_t)(200e6 + 1e6 * gauss(&s) + 100e6 * w);
		ww->mem_peak_bytes = ww->mem_bytes + 4096 * (splitmix(&s) % 100);
		ww->io_read_bytes = 4096 * (splitmix(&s) % 16);
		ww->io_write_bytes = 4096 * (splitmix(&s) % 64);
		ww->missing = PSC_MISSING_PSI_IO;
		ww->psi_cpu_some = 0.01 * uniform(&s);
		ww->psi_mem_some = 0;
		ww->endpoints = b->ep + w * per_w;
	}
	for (unsigned i = 0; i < sy->n; i++) {
		const struct synth_ep *se = &sy->ep[i];
		Prescient__EndpointStats *e = &b->e[i];
		Prescient__WorkloadWindow *ww = &b->w[i / per_w];
		double c;

		s = hash_str(o->host) ^ (seq * 7919 + i * 104729 + 1);
		prescient__endpoint_stats__init(e);
		b->ep[i] = e;
		ww->n_endpoints++;
		e->protocol = (char *)se->protocol;
		e->role = (char *)se->role;
		e->endpoint = (char *)se->endpoint;
		c = se->rate + sqrt(se->rate) * gauss(&s);
		e->count = c < 0 ? 0 : (uint64_t)llround(c);
		e->errors = (uint64_t)(e->count * 0.002 * uniform(&s) * 2);
		e->bytes_in = (uint64_t)(e->count * se->req_bytes);
		e->bytes_out = (uint64_t)(e->count * se->resp_bytes);
		psc_hist_reset(&b->h[i]);
		for (uint64_t k = 0; k < e->count; k++)
			psc_hist_add(&b->h[i], (uint64_t)(se->median_us * exp(0.5 * gauss(&s))));
		if (psc_wire_hist_fill(&b->lh[i], &b->h[i]) < 0) {
			build_free(b);
			return -ENOMEM;
		}
		e->latency_us = &b->lh[i];
		ww->net_rx_bytes += e->role[0] == 's' ? e->bytes_in : e->bytes_out;
		ww->net_tx_bytes += e->role[0] == 's' ? e->bytes_out : e->bytes_in;
	}
	return 0;
}

/* The agent's --print form (DESIGN.md section 3) of one window: one line per workload. */
static size_t json_size(const struct built *b, const struct synth *sy, bool full_hist)
{
	unsigned per_w = (sy->n + sy->workloads - 1) / sy->workloads;
	size_t total = 0;

	for (size_t w = 0; w < b->r.n_workloads; w++) {
		const Prescient__WorkloadWindow *ww = b->wp[w];
		json_t *o = json_object(), *eps = json_array();
		char *s;

		json_object_set_new(o, "ts", json_real(b->r.window_end));
		json_object_set_new(o, "window_s", json_real(b->r.window_end - b->r.window_start));
		json_object_set_new(o, "host", json_string(b->r.host_id));
		json_object_set_new(o, "cgroup", json_string(ww->cgroup));
		json_object_set_new(o, "name", json_string(ww->name));
		json_object_set_new(o, "cpu_s", json_real(ww->cpu_s));
		json_object_set_new(o, "cpu_throttled_s", json_real(ww->cpu_throttled_s));
		json_object_set_new(o, "mem_bytes", json_integer((json_int_t)ww->mem_bytes));
		json_object_set_new(o, "mem_peak_bytes", json_integer((json_int_t)ww->mem_peak_bytes));
		json_object_set_new(o, "io_read_bytes", json_integer((json_int_t)ww->io_read_bytes));
		json_object_set_new(o, "io_write_bytes", json_integer((json_int_t)ww->io_write_bytes));
		json_object_set_new(o, "net_rx_bytes", json_integer((json_int_t)ww->net_rx_bytes));
		json_object_set_new(o, "net_tx_bytes", json_integer((json_int_t)ww->net_tx_bytes));
		json_object_set_new(o, "psi", json_pack("{s:f, s:f, s:n}", "cpu_some", ww->psi_cpu_some,
							"mem_some", ww->psi_mem_some, "io_some"));
		for (size_t j = 0; j < ww->n_endpoints; j++) {
			const Prescient__EndpointStats *e = ww->endpoints[j];
			const struct psc_hist *h = &b->h[w * per_w + j];
			json_t *lat = json_pack("{s:I, s:I, s:I}", "p50",
						(json_int_t)psc_hist_quantile(h, 0.5), "p90",
						(json_int_t)psc_hist_quantile(h, 0.9), "p99",
						(json_int_t)psc_hist_quantile(h, 0.99));
			if (full_hist) {
				json_t *bk = json_object();
				char idx[16];
				for (unsigned k = 0; k < PSC_HIST_BUCKETS; k++) {
					if (!h->counts[k])
						continue;
					snprintf(idx, sizeof(idx), "%u", k);
					json_object_set_new(bk, idx, json_integer(h->counts[k]));
				}
				json_object_set_new(lat, "buckets", bk);
			}
			json_array_append_new(
				eps, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "protocol",
					       e->protocol, "role", e->role, "endpoint", e->endpoint,
					       "count", (json_int_t)e->count, "errors",
					       (json_int_t)e->errors, "bytes_in",
					       (json_int_t)e->bytes_in, "bytes_out",
					       (json_int_t)e->bytes_out, "latency_us", lat));
		}
		json_object_set_new(o, "endpoints", eps);
		s = json_dumps(o, JSON_COMPACT);
		total += s ? strlen(s) + 1 : 0;
		free(s);
		json_decref(o);
	}
	return total;
}

static int measure(const struct opts *o, const struct synth *sy, const struct psc_keys *k)
{
	struct psc_wire_dict *dict = NULL;
	size_t json = 0, json_hist = 0, pb = 0, frame_nodict = 0, frame_dict = 0;
	size_t frame_dict_steady = 0, n_steady = 0;
	uint8_t *f;
	size_t fl;
	double ew;
	int r;

	r = psc_wire_dict_new(&dict, 1);
	if (r < 0)
		return r;
	for (uint64_t seq = o->from; seq < o->from + o->count; seq++) {
		struct built b;

		r = build(&b, sy, o, seq);
		if (r < 0)
			return r;
		json += json_size(&b, sy, false);
		json_hist += json_size(&b, sy, true);
		pb += prescient__host_report__get_packed_size(&b.r);
		if (psc_wire_report_encode(&b.r, k->fleet, &f, &fl) < 0)
			return -ENOMEM;
		frame_nodict += fl;
		free(f);
		if (psc_wire_report_apply_dict(&b.r, dict) < 0 ||
		    psc_wire_report_encode(&b.r, k->fleet, &f, &fl) < 0)
			return -ENOMEM;
		frame_dict += fl;
		if (seq > o->from) {
			frame_dict_steady += fl;
			n_steady++;
		}
		free(f);
		/* Every report is acknowledged at once, as on a healthy link. */
		psc_wire_dict_acked(dict, seq);
		build_free(&b);
	}
	ew = (double)o->count * sy->n;
	double mean_rate = 0;
	for (unsigned i = 0; i < sy->n; i++)
		mean_rate += sy->ep[i].rate / sy->n;
	printf("steady workload: %u endpoints in %u workloads x %llu windows (%.0f endpoint-windows), "
	       "mean %.0f requests per endpoint-window\n",
	       sy->n, sy->workloads, (unsigned long long)o->count, ew, mean_rate);
	printf("  JSON lines (--print form, p50/p90/p99 only)   %8.1f bytes/endpoint-window\n",
	       json / ew);
	printf("  JSON lines with the histogram buckets          %8.1f bytes/endpoint-window\n",
	       json_hist / ew);
	printf("  protobuf, strings inline, uncompressed         %8.1f bytes/endpoint-window\n",
	       pb / ew);
	printf("  sealed frame, strings inline (pb+deflate)      %8.1f bytes/endpoint-window\n",
	       frame_nodict / ew);
	printf("  sealed frame, dictionary, amortised            %8.1f bytes/endpoint-window\n",
	       frame_dict / ew);
	if (n_steady)
		printf("  sealed frame, dictionary, after the first ack  %8.1f bytes/endpoint-window\n",
		       frame_dict_steady / ((double)n_steady * sy->n));
	printf("  frame overhead (header, nonce, MAC, inner)     %8.1f bytes/endpoint-window\n",
	       (double)PSC_WIRE_OVERHEAD / sy->n);
	psc_wire_dict_free(&dict);
	return 0;
}

/* --- network --- */

static int send_frame(int sock, const uint8_t *f, size_t fl, void **reply, int *reply_len)
{
	if (nn_send(sock, f, fl, 0) < 0)
		return -nn_errno();
	*reply_len = nn_recv(sock, reply, NN_MSG, 0);
	if (*reply_len < 0)
		return -nn_errno();
	return 0;
}

static int send_garbage(int sock, const struct opts *o, const struct psc_keys *k)
{
	size_t fl = 0;
	uint8_t *f = NULL;
	void *reply;
	int rl = 0, r;

	if (!strcmp(o->garbage, "corrupt")) {
		/* sealed with the right key, but not a protobuf HostReport */
		uint8_t junk[200];
		memset(junk, 0xff, sizeof(junk));
		r = psc_wire_seal(PSC_WIRE_REPORT, junk, sizeof(junk), k->fleet, &f, &fl);
		if (r < 0)
			return r;
	} else if (!strcmp(o->garbage, "truncated")) {
		fl = 2;
		f = malloc(fl);
		f[0] = 'P';
		f[1] = 'S';
	} else if (!strcmp(o->garbage, "version")) {
		fl = 100;
		f = calloc(1, fl);
		f[0] = 'P';
		f[1] = 'S';
		f[2] = 99;
		f[3] = PSC_WIRE_REPORT;
	} else if (!strcmp(o->garbage, "oversized")) {
		fl = PSC_WIRE_DEFAULT_MAX_FRAME + 1000;
		f = calloc(1, fl);
		f[0] = 'P';
		f[1] = 'S';
		f[2] = PSC_WIRE_VERSION;
		f[3] = PSC_WIRE_REPORT;
	} else if (!strcmp(o->garbage, "bomb")) {
		size_t n = PSC_WIRE_DEFAULT_MAX_INFLATED + 1;
		uint8_t *zeros = calloc(1, n);
		r = zeros ? psc_wire_seal(PSC_WIRE_REPORT, zeros, n, k->fleet, &f, &fl) : -ENOMEM;
		free(zeros);
		if (r < 0)
			return r;
	} else {
		fprintf(stderr, "psc_send_reports: unknown --garbage kind %s\n", o->garbage);
		return 2;
	}
	if (!f)
		return -ENOMEM;
	r = send_frame(sock, f, fl, &reply, &rl);
	free(f);
	if (r < 0) {
		printf("timeout garbage %s\n", o->garbage);
		return 4;
	}
	r = psc_wire_refusal_reason(reply, (size_t)rl);
	nn_freemsg(reply);
	if (r < 0) {
		printf("unexpected reply to garbage %s\n", o->garbage);
		return 5;
	}
	printf("refused garbage %s\n", psc_wire_reason_name(r));
	return 3;
}

static int run(const struct opts *o, const struct synth *sy, const struct psc_keys *k)
{
	struct psc_wire_dict *dict = NULL;
	struct timespec t0, t1;
	size_t bytes = 0;
	int sock, r = 0, resend = 100000000, linger = 0;

	sock = nn_socket(AF_SP, NN_REQ);
	if (sock < 0)
		return 1;
	nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &o->timeout_ms, sizeof(o->timeout_ms));
	nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &o->timeout_ms, sizeof(o->timeout_ms));
	nn_setsockopt(sock, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger));
	/* Resending is this client's job (and the agent's spool's), not the socket's. */
	nn_setsockopt(sock, NN_REQ, NN_REQ_RESEND_IVL, &resend, sizeof(resend));
	if (nn_connect(sock, o->url) < 0) {
		fprintf(stderr, "psc_send_reports: cannot connect to %s: %s\n", o->url,
			nn_strerror(nn_errno()));
		nn_close(sock);
		return 1;
	}
	if (o->garbage) {
		r = send_garbage(sock, o, k);
		nn_close(sock);
		return r < 0 ? 1 : r;
	}
	if (!o->no_dict && psc_wire_dict_new(&dict, 0) < 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t seq = o->from; seq < o->from + o->count && r == 0;) {
		Prescient__Ack *ack = NULL;
		struct built b;
		uint8_t *f;
		size_t fl;
		void *reply;
		int rl = 0, e;

		if (build(&b, sy, o, seq) < 0 ||
		    (dict && psc_wire_report_apply_dict(&b.r, dict) < 0) ||
		    psc_wire_report_encode(&b.r, k->fleet, &f, &fl) < 0) {
			r = 1;
			break;
		}
		build_free(&b);
		e = send_frame(sock, f, fl, &reply, &rl);
		free(f);
		bytes += fl;
		if (e < 0) {
			printf("timeout %llu\n", (unsigned long long)seq);
			r = 4;
			break;
		}
		e = psc_wire_refusal_reason(reply, (size_t)rl);
		if (e >= 0) {
			printf("refused %llu %s\n", (unsigned long long)seq,
			       psc_wire_reason_name(e) ? psc_wire_reason_name(e) : "?");
			nn_freemsg(reply);
			r = 3;
			break;
		}
		e = psc_wire_ack_decode(reply, (size_t)rl, k->fleet, NULL, &ack);
		nn_freemsg(reply);
		if (e < 0 || strcmp(ack->host_id, o->host) != 0 || ack->seq != seq) {
			printf("bad-reply %llu\n", (unsigned long long)seq);
			psc_wire_ack_free(&ack);
			r = 5;
			break;
		}
		switch (ack->status) {
		case PRESCIENT__ACK__STATUS__RESEND_DICT:
			if (dict)
				psc_wire_dict_forget(dict);
			psc_wire_ack_free(&ack);
			continue; /* the same seq again, strings inline */
		case PRESCIENT__ACK__STATUS__OK:
		case PRESCIENT__ACK__STATUS__DUPLICATE:
		case PRESCIENT__ACK__STATUS__STALE:
		default:
			if (dict)
				psc_wire_dict_acked(dict, seq);
			if (!o->quiet || seq + 1 == o->from + o->count) {
				printf("acked %llu %s adjustments=%zu\n", (unsigned long long)seq,
				       ack->status == PRESCIENT__ACK__STATUS__OK	  ? "ok"
				       : ack->status == PRESCIENT__ACK__STATUS__DUPLICATE ? "duplicate"
											  : "stale",
				       ack->n_adjustments);
				fflush(stdout);
			}
			break;
		}
		psc_wire_ack_free(&ack);
		seq++;
		if (o->interval_ms > 0)
			nanosleep(&(struct timespec){ .tv_sec = o->interval_ms / 1000,
						      .tv_nsec = (o->interval_ms % 1000) * 1000000L },
				  NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double dt = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "psc_send_reports: %s: %llu reports in %.3f s (%.0f/s), %.0f bytes/frame\n",
		o->host, (unsigned long long)o->count, dt, dt > 0 ? o->count / dt : 0,
		o->count ? (double)bytes / o->count : 0);
	psc_wire_dict_free(&dict);
	nn_close(sock);
	return r;
}

/* --- many agents at once (--agents N): the ingest-rate load generator --- */

#define FLEET_VARIANTS 8

struct agent {
	int sock;
	char host[64];
	uint64_t seq, end;
	struct psc_wire_dict *dict;
	bool waiting;
	double sent_at;	  /* monotonic seconds of the request in flight */
	double next_send; /* with --interval-ms: when the next report is due */
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

/* Report @seq of @a from one of the prebuilt variants (building histograms sample by
 * sample costs far more than what the aggregator does with them): the strings and refs
 * that a previous psc_wire_report_apply_dict() changed are restored first. */
static int fleet_frame(struct built *var, const struct synth *sy, const struct opts *o,
		       struct agent *a, const struct psc_keys *k, uint8_t **f, size_t *fl)
{
	struct built *b = &var[a->seq % FLEET_VARIANTS];

	b->r.host_id = a->host;
	b->r.seq = a->seq;
	b->r.window_start = o->start_ts + (double)a->seq * o->window_s;
	b->r.window_end = b->r.window_start + o->window_s;
	b->r.dict_epoch = 0;
	for (unsigned w = 0; w < sy->workloads; w++) {
		b->w[w].cgroup = sy->cgroups[w];
		b->w[w].name = sy->names[w];
		b->w[w].ref = 0;
	}
	for (unsigned i = 0; i < sy->n; i++) {
		b->e[i].protocol = (char *)sy->ep[i].protocol;
		b->e[i].role = (char *)sy->ep[i].role;
		b->e[i].endpoint = (char *)sy->ep[i].endpoint;
		b->e[i].ref = 0;
	}
	if (a->dict && psc_wire_report_apply_dict(&b->r, a->dict) < 0)
		return -ENOMEM;
	return psc_wire_report_encode(&b->r, k->fleet, f, fl);
}

static int fleet_send(struct built *var, const struct synth *sy, const struct opts *o,
		      struct agent *a, const struct psc_keys *k, size_t *bytes)
{
	uint8_t *f;
	size_t fl;
	int r;

	r = fleet_frame(var, sy, o, a, k, &f, &fl);
	if (r < 0)
		return r;
	r = nn_send(a->sock, f, fl, 0);
	free(f);
	if (r < 0)
		return -nn_errno();
	*bytes += fl;
	a->waiting = true;
	a->sent_at = mono_s();
	return 0;
}

/* @n agents "HOST-0".."HOST-<n-1>", each one REQ socket with its own dictionary, each
 * sending --count reports from --from, one outstanding request per agent (as an agent
 * does) and all agents at once: back to back, or with --interval-ms one report per agent
 * per interval (a window), the agents' first reports spread evenly over the first
 * interval. Prints one line:
 * "fleet: A agents R reports (ok O duplicate D stale S) E endpoint-records in T s, B
 *  bytes/frame, ack latency p50 X ms p99 Y ms max Z ms". */
static int run_fleet(const struct opts *o, const struct synth *sy, const struct psc_keys *k)
{
	struct built var[FLEET_VARIANTS];
	struct agent *ag = calloc(o->agents, sizeof(*ag));
	struct nn_pollfd *pfd = calloc(o->agents, sizeof(*pfd));
	uint64_t n_ok = 0, n_dup = 0, n_stale = 0, n_resend = 0;
	unsigned active = 0, nv = 0;
	struct timespec t0, t1;
	size_t bytes = 0;
	int resend = 100000000, linger = 0, r = 0;

	if (!ag || !pfd) {
		free(ag);
		free(pfd);
		return 1;
	}
	for (unsigned i = 0; i < o->agents; i++)
		ag[i].sock = -1;
	for (; nv < FLEET_VARIANTS; nv++)
		if (build(&var[nv], sy, o, nv + 1) < 0) {
			r = 1;
			goto out;
		}
	for (unsigned i = 0; i < o->agents; i++) {
		struct agent *a = &ag[i];

		snprintf(a->host, sizeof(a->host), "%s-%u", o->host, i);
		a->seq = o->from;
		a->end = o->from + o->count;
		a->sock = nn_socket(AF_SP, NN_REQ);
		if (a->sock < 0 || (!o->no_dict && psc_wire_dict_new(&a->dict, 0) < 0)) {
			r = 1;
			goto out;
		}
		nn_setsockopt(a->sock, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof(linger));
		nn_setsockopt(a->sock, NN_REQ, NN_REQ_RESEND_IVL, &resend, sizeof(resend));
		if (nn_connect(a->sock, o->url) < 0) {
			fprintf(stderr, "psc_send_reports: cannot connect to %s: %s\n", o->url,
				nn_strerror(nn_errno()));
			r = 1;
			goto out;
		}
		pfd[i].fd = a->sock;
		pfd[i].events = NN_POLLIN;
	}
	size_t lat_cap = (size_t)o->agents * (size_t)(o->count ? o->count : 1), n_lat = 0;
	double *lat = malloc(lat_cap * sizeof(double));
	double ivl = o->interval_ms > 0 ? o->interval_ms / 1000.0 : 0, start = mono_s();
	if (!lat) {
		r = 1;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < o->agents; i++) {
		if (ag[i].seq >= ag[i].end)
			continue;
		active++;
		ag[i].next_send = start + ivl * i / o->agents;
	}
	double last_progress = mono_s();
	while (active && r == 0) {
		double now = mono_s(), wake = now + 0.1;
		for (unsigned i = 0; i < o->agents && r == 0; i++) {
			struct agent *a = &ag[i];
			if (a->waiting || a->seq >= a->end)
				continue;
			if (a->next_send <= now) {
				if (fleet_send(var, sy, o, a, k, &bytes) < 0)
					r = 1;
				a->next_send += ivl;
			} else if (a->next_send < wake) {
				wake = a->next_send;
			}
		}
		if (r)
			break;
		int n = nn_poll(pfd, (int)o->agents, (int)fmax(1, (wake - mono_s()) * 1000));

		if (n < 0 && nn_errno() == EINTR)
			continue;
		if (n <= 0) {
			if (mono_s() - last_progress > o->timeout_ms / 1000.0) {
				printf("timeout (%u agents waiting)\n", active);
				r = 4;
				break;
			}
			continue;
		}
		last_progress = mono_s();
		for (unsigned i = 0; i < o->agents && r == 0; i++) {
			struct agent *a = &ag[i];
			Prescient__Ack *ack = NULL;
			void *reply;
			int rl, e;

			if (!a->waiting || !(pfd[i].revents & NN_POLLIN))
				continue;
			rl = nn_recv(a->sock, &reply, NN_MSG, NN_DONTWAIT);
			if (rl < 0)
				continue;
			a->waiting = false;
			if (n_lat < lat_cap)
				lat[n_lat++] = mono_s() - a->sent_at;
			e = psc_wire_refusal_reason(reply, (size_t)rl);
			if (e >= 0) {
				printf("refused %s/%llu %s\n", a->host, (unsigned long long)a->seq,
				       psc_wire_reason_name(e) ? psc_wire_reason_name(e) : "?");
				nn_freemsg(reply);
				r = 3;
				break;
			}
			e = psc_wire_ack_decode(reply, (size_t)rl, k->fleet, NULL, &ack);
			nn_freemsg(reply);
			if (e < 0 || strcmp(ack->host_id, a->host) != 0 || ack->seq != a->seq) {
				printf("bad-reply %s/%llu\n", a->host, (unsigned long long)a->seq);
				psc_wire_ack_free(&ack);
				r = 5;
				break;
			}
			switch (ack->status) {
			case PRESCIENT__ACK__STATUS__RESEND_DICT:
				if (a->dict)
					psc_wire_dict_forget(a->dict);
				n_resend++;
				a->next_send = mono_s(); /* the same report again, now */
				break;
			case PRESCIENT__ACK__STATUS__OK:
				n_ok++;
				goto acked;
			case PRESCIENT__ACK__STATUS__DUPLICATE:
				n_dup++;
				goto acked;
			default:
				n_stale++;
			acked:
				if (a->dict)
					psc_wire_dict_acked(a->dict, a->seq);
				a->seq++;
				break;
			}
			psc_wire_ack_free(&ack);
			if (a->seq >= a->end)
				active--;
			/* the next report goes out at its time, in the loop above */
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double dt = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	uint64_t acked = n_ok + n_dup + n_stale;
	qsort(lat, n_lat, sizeof(double), cmp_double);
	printf("fleet: %u agents %llu reports (ok %llu duplicate %llu stale %llu resend_dict %llu) "
	       "%llu endpoint-records in %.3f s, %.0f bytes/frame, ack latency p50 %.2f ms"
	       " p99 %.2f ms max %.2f ms\n",
	       o->agents, (unsigned long long)acked, (unsigned long long)n_ok,
	       (unsigned long long)n_dup, (unsigned long long)n_stale,
	       (unsigned long long)n_resend, (unsigned long long)(acked * sy->n), dt,
	       acked ? (double)bytes / (double)(acked + n_resend) : 0,
	       n_lat ? lat[n_lat / 2] * 1e3 : NAN, n_lat ? lat[(size_t)(0.99 * (n_lat - 1))] * 1e3 : NAN,
	       n_lat ? lat[n_lat - 1] * 1e3 : NAN);
	free(lat);
out:
	for (unsigned i = 0; i < nv; i++)
		build_free(&var[i]);
	for (unsigned i = 0; i < o->agents; i++) {
		if (ag[i].sock >= 0)
			nn_close(ag[i].sock);
		psc_wire_dict_free(&ag[i].dict);
	}
	free(ag);
	free(pfd);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "keys", required_argument, NULL, 'k' },
		{ "host", required_argument, NULL, 'H' },
		{ "from", required_argument, NULL, 'f' },
		{ "count", required_argument, NULL, 'n' },
		{ "endpoints", required_argument, NULL, 'e' },
		{ "workloads", required_argument, NULL, 'w' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "window-s", required_argument, NULL, 'W' },
		{ "start-ts", required_argument, NULL, 's' },
		{ "no-dict", no_argument, NULL, 'D' },
		{ "measure", no_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "garbage", required_argument, NULL, 'g' },
		{ "rate-scale", required_argument, NULL, 'r' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "agents", required_argument, NULL, 'A' },
		{ 0 },
	};
	struct opts o = {
		.host = "host-1", .from = 1, .count = 10, .endpoints = 20, .workloads = 2,
		.timeout_ms = 5000, .window_s = 10, .rate_scale = 1,
	};
	struct psc_keys k = { 0 };
	struct synth sy;
	char err[512];
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0); /* a script reads the acks while this runs */
	o.start_ts = floor((double)time(NULL) / 3600) * 3600 - 3600;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o.url = optarg; break;
		case 'k': o.keys_dir = optarg; break;
		case 'H': o.host = optarg; break;
		case 'f': o.from = strtoull(optarg, NULL, 10); break;
		case 'n': o.count = strtoull(optarg, NULL, 10); break;
		case 'e': o.endpoints = (unsigned)atoi(optarg); break;
		case 'w': o.workloads = (unsigned)atoi(optarg); break;
		case 't': o.timeout_ms = atoi(optarg); break;
		case 'W': o.window_s = atof(optarg); break;
		case 's': o.start_ts = atof(optarg); break;
		case 'D': o.no_dict = true; break;
		case 'm': o.measure = true; break;
		case 'q': o.quiet = true; break;
		case 'g': o.garbage = optarg; break;
		case 'r': o.rate_scale = atof(optarg); break;
		case 'i': o.interval_ms = atoi(optarg); break;
		case 'A': o.agents = (unsigned)atoi(optarg); break;
		default: return 2;
		}
	}
	if (o.endpoints == 0 || o.workloads == 0 || o.workloads > o.endpoints) {
		fprintf(stderr, "psc_send_reports: need 1 <= --workloads <= --endpoints\n");
		return 2;
	}
	if (synth_init(&sy, o.endpoints, o.workloads, o.rate_scale) < 0)
		return 1;
	if (o.measure) {
		for (size_t i = 0; i < sizeof(k.fleet); i++)
			k.fleet[i] = (uint8_t)i;
		c = measure(&o, &sy, &k) < 0 ? 1 : 0;
	} else if (!o.url || !o.keys_dir) {
		fprintf(stderr, "psc_send_reports: --connect and --keys are required\n");
		c = 2;
	} else if (psc_keys_load(&k, o.keys_dir, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "psc_send_reports: %s\n", err);
		c = 1;
	} else if (o.agents) {
		c = run_fleet(&o, &sy, &k);
	} else {
		c = run(&o, &sy, &k);
	}
	synth_free(&sy);
	fflush(stdout);
	return c;
}
