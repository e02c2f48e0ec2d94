// SPDX-License-Identifier: MIT
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "proto.h"

struct pending {
	uint64_t ts_ns;
	struct psc_ep_ref ref;
	bool has_peer;
	uint64_t peer_ts_ns; /* when the client sent it, if the client's side saw it */
	struct psc_ep_ref peer_ref;
};

/* The client end of a server connection on this host, whose data the kernel no longer
 * captures (PSC_EV_LINK): the server's side is mirrored onto the client's workload. */
struct peer {
	uint64_t cgroup_id;
	/* Requests the client's own events counted before the link, still unanswered: the
	 * server's next requests are these, and answer them. */
	unsigned adopt_head, adopt_n;
	struct pending adopt[PSC_CONN_PENDING];
	/* Bytes the client's own events counted before the link: not mirrored again. */
	uint64_t skip_in, skip_out;
	bool has_last;
	struct psc_ep_ref last_ref;
};

struct conn {
	enum psc_proto proto;
	uint8_t role;
	bool proto_final; /* stop detecting: stays "tcp" */
	bool seen_dead;	  /* its process was gone at the last sweep */
	uint8_t detect_tries;
	uint16_t server_port;
	bool has_last;
	struct psc_ep_ref last_ref; /* endpoint of the message a continuation belongs to */
	unsigned head, n;	    /* FIFO of pending requests */
	struct pending pending[PSC_CONN_PENDING];
	uint64_t bytes_in, bytes_out; /* seen on this connection */
	struct peer *peer;	      /* linked client end, if any */
	struct psc_proto_state state;
};

struct psc_conn_table {
	struct psc_hashmap *conns; /* tgid << 32 | fd -> struct conn */
	struct psc_window *window;
	struct psc_conn_counters counters;
};

int psc_conn_table_new(struct psc_conn_table **out, struct psc_window *window)
{
	struct psc_conn_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	if (psc_hashmap_new(&t->conns) < 0) {
		free(t);
		return -ENOMEM;
	}
	t->window = window;
	*out = t;
	return 0;
}

static void conn_free(struct conn *c)
{
	if (c)
		free(c->peer);
	free(c);
}

void psc_conn_table_free(struct psc_conn_table **t)
{
	size_t it = 0;
	uint64_t key;
	void *c;

	if (!t || !*t)
		return;
	while (psc_hashmap_next((*t)->conns, &it, &key, &c))
		conn_free(c);
	psc_hashmap_free(&(*t)->conns);
	free(*t);
	*t = NULL;
}

static uint64_t conn_key(const struct psc_event_hdr *h)
{
	return (uint64_t)h->tgid << 32 | h->fd;
}

static struct conn *conn_get(struct psc_conn_table *t, const struct psc_event_hdr *h)
{
	uint64_t key = conn_key(h);
	struct conn *c = psc_hashmap_get(t->conns, key);

	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->role = h->role;
	c->server_port = h->role == PSC_ROLE_SERVER ? h->local_port :
			 h->role == PSC_ROLE_CLIENT ? h->remote_port : 0;
	if (psc_hashmap_put(t->conns, key, c) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

static enum psc_flow flow_of(uint8_t role, uint8_t dir)
{
	bool server = role != PSC_ROLE_CLIENT;

	return server == (dir == PSC_DIR_INGRESS) ? PSC_FLOW_TO_SERVER : PSC_FLOW_TO_CLIENT;
}

/* Connections found by the start-up scan have no known role: the first head that a
 * parser recognises tells which side this process is on. */
static void detect(struct conn *c, const struct psc_event_hdr *h, const uint8_t *data)
{
	uint8_t roles[2] = { c->role, 0 };
	int n_roles = 1;

	if (c->role == PSC_ROLE_UNKNOWN) {
		roles[0] = PSC_ROLE_SERVER;
		roles[1] = PSC_ROLE_CLIENT;
		n_roles = 2;
	}
	for (int i = 0; i < n_roles; i++) {
		uint16_t port = c->server_port ? c->server_port :
				roles[i] == PSC_ROLE_SERVER ? h->local_port : h->remote_port;
		enum psc_proto p = psc_proto_detect(data, h->cap_len, flow_of(roles[i], h->dir), port);
		if (p != PSC_PROTO_UNKNOWN) {
			c->proto = p;
			c->role = roles[i];
			c->server_port = port;
			memset(&c->state, 0, sizeof(c->state));
			return;
		}
	}
	if (++c->detect_tries >= PSC_CONN_DETECT_TRIES) {
		c->proto_final = true;
		/* No parser knows these bytes: guess the side from the ports (servers listen on
		 * the lower, well-known or configured port; clients get ephemeral ones). */
		if (c->role == PSC_ROLE_UNKNOWN)
			c->role = h->local_port && h->local_port < h->remote_port ? PSC_ROLE_SERVER :
										    PSC_ROLE_CLIENT;
		if (!c->server_port)
			c->server_port = c->role == PSC_ROLE_SERVER ? h->local_port : h->remote_port;
	}
}

static void push_pending(struct psc_conn_table *t, struct conn *c, uint64_t ts,
			 const struct psc_ep_ref *ref)
{
	if (c->n == PSC_CONN_PENDING) {
		c->head = (c->head + 1) % PSC_CONN_PENDING;
		c->n--;
		t->counters.pending_dropped++;
	}
	struct pending *p = &c->pending[(c->head + c->n) % PSC_CONN_PENDING];
	memset(p, 0, sizeof(*p));
	p->ts_ns = ts;
	p->ref = *ref;
	c->n++;
}

static bool pop_pending(struct conn *c, struct pending *out)
{
	if (c->n == 0)
		return false;
	*out = c->pending[c->head];
	c->head = (c->head + 1) % PSC_CONN_PENDING;
	c->n--;
	return true;
}

/* Traffic no parser recognised: one "request" per message towards the server, counted
 * under the server port, with its bytes. */
static void account_unknown(struct psc_conn_table *t, struct conn *c,
			    const struct psc_event_hdr *h, uint64_t in, uint64_t out)
{
	char endpoint[32];
	struct psc_ep_ref ref;

	/* Until detection gives up, a scanned connection's side is not known yet. */
	uint16_t port = c->server_port ? c->server_port :
			h->local_port < h->remote_port ? h->local_port : h->remote_port;
	snprintf(endpoint, sizeof(endpoint), "port %u", port);
	if (flow_of(c->role, h->dir) == PSC_FLOW_TO_SERVER) {
		if (psc_window_request(t->window, h->cgroup_id, PSC_PROTO_UNKNOWN, c->role, endpoint,
				       in, out, &ref) == 0) {
			c->last_ref = ref;
			c->has_last = true;
		}
		if (c->peer && psc_window_request(t->window, c->peer->cgroup_id, PSC_PROTO_UNKNOWN,
						  PSC_ROLE_CLIENT, endpoint, out, in, &ref) == 0) {
			c->peer->last_ref = ref;
			c->peer->has_last = true;
		}
	} else {
		if (c->has_last)
			psc_window_bytes(t->window, &c->last_ref, in, out);
		if (c->peer && c->peer->has_last)
			psc_window_bytes(t->window, &c->peer->last_ref, out, in);
	}
}

/* The client's share of a server syscall's bytes: what the client sent is what the server
 * read, minus what the client's own events already counted before the link. Adds the
 * syscall to the client workload's socket counters. Returns false without a peer. */
static bool mirror_io(struct psc_conn_table *t, struct conn *c, const struct psc_event_hdr *h,
		      uint64_t *peer_in, uint64_t *peer_out)
{
	struct peer *p = c->peer;
	uint64_t in = h->dir == PSC_DIR_EGRESS ? h->size : 0; /* the client reads it */
	uint64_t out = h->dir == PSC_DIR_INGRESS ? h->size : 0;
	uint64_t skip;

	*peer_in = *peer_out = 0;
	if (!p)
		return false;
	skip = in < p->skip_in ? in : p->skip_in;
	p->skip_in -= skip;
	in -= skip;
	skip = out < p->skip_out ? out : p->skip_out;
	p->skip_out -= skip;
	out -= skip;
	*peer_in = in;
	*peer_out = out;
	struct psc_workload *wl = psc_window_workload(t->window, p->cgroup_id);
	if (wl && (in || out)) {
		wl->kernel.rx_bytes += in;
		wl->kernel.tx_bytes += out;
		wl->kernel.rx_calls += in ? 1 : 0;
		wl->kernel.tx_calls += out ? 1 : 0;
		wl->active = true;
	}
	return true;
}

/* The server just queued a request (the FIFO's newest entry): give it its client side,
 * either a request the client's own events counted before the link or a mirrored one. */
static void mirror_request(struct psc_conn_table *t, struct conn *c, const char *endpoint,
			   uint64_t in, uint64_t out)
{
	struct peer *p = c->peer;
	struct pending *q = &c->pending[(c->head + c->n - 1) % PSC_CONN_PENDING];

	if (p->adopt_n) {
		struct pending *a = &p->adopt[p->adopt_head];
		p->adopt_head = (p->adopt_head + 1) % PSC_CONN_PENDING;
		p->adopt_n--;
		q->has_peer = true;
		q->peer_ts_ns = a->ts_ns;
		q->peer_ref = a->ref;
		psc_window_bytes(t->window, &a->ref, in, out);
		return;
	}
	if (psc_window_request(t->window, p->cgroup_id, c->proto, PSC_ROLE_CLIENT, endpoint, in,
			       out, &q->peer_ref) == 0) {
		q->has_peer = true;
		q->peer_ts_ns = 0;
		p->last_ref = q->peer_ref;
		p->has_last = true;
	}
}

void psc_conn_on_data(struct psc_conn_table *t, const struct psc_event_hdr *hdr,
		      const uint8_t *data)
{
	struct psc_msg msgs[PSC_MSGS_PER_HEAD];
	struct conn *c = conn_get(t, hdr);
	uint64_t in = hdr->dir == PSC_DIR_INGRESS ? hdr->size : 0;
	uint64_t out = hdr->dir == PSC_DIR_EGRESS ? hdr->size : 0;
	uint64_t pin = 0, pout = 0;
	int n;

	t->counters.data_events++;
	if (!c)
		return;
	c->bytes_in += in;
	c->bytes_out += out;
	mirror_io(t, c, hdr, &pin, &pout);
	if (c->proto == PSC_PROTO_UNKNOWN && !c->proto_final && hdr->cap_len > 0)
		detect(c, hdr, data);
	if (c->proto == PSC_PROTO_UNKNOWN) {
		account_unknown(t, c, hdr, in, out);
		return;
	}

	const struct psc_proto_ops *ops = psc_proto_ops_get(c->proto);
	enum psc_flow flow = flow_of(c->role, hdr->dir);
	n = ops->parse(&c->state, flow, data, hdr->cap_len, hdr->size, msgs, PSC_MSGS_PER_HEAD);
	if (n < 0) {
		/* Not this protocol after all (or hopelessly out of sync): start over. */
		t->counters.parse_resets++;
		c->proto = PSC_PROTO_UNKNOWN;
		c->detect_tries = 0;
		c->n = c->head = 0;
		c->has_last = false;
		return;
	}
	if (n == 0) {
		if (c->has_last)
			psc_window_bytes(t->window, &c->last_ref, in, out);
		if (c->peer && c->peer->has_last)
			psc_window_bytes(t->window, &c->peer->last_ref, pin, pout);
		return;
	}

	/* Bytes of one syscall are shared among the messages its head held. */
	uint64_t share_in = in / (uint64_t)n, share_out = out / (uint64_t)n;
	for (int i = 0; i < n; i++) {
		const struct psc_msg *m = &msgs[i];
		uint64_t mi = share_in + (i == 0 ? in % (uint64_t)n : 0);
		uint64_t mo = share_out + (i == 0 ? out % (uint64_t)n : 0);
		/* The client's side of the same message, all of it on the first one. */
		uint64_t pi = i == 0 ? pin : 0, po = i == 0 ? pout : 0;
		struct pending p;
		struct psc_ep_ref ref;

		switch (m->type) {
		case PSC_MSG_REQUEST:
			t->counters.requests++;
			if (psc_window_request(t->window, hdr->cgroup_id, c->proto, c->role,
					       m->endpoint, mi, mo, &ref) < 0)
				break;
			push_pending(t, c, hdr->ts_ns, &ref);
			c->last_ref = ref;
			c->has_last = true;
			if (c->peer)
				mirror_request(t, c, m->endpoint, pi, po);
			break;
		case PSC_MSG_RESPONSE:
			t->counters.responses++;
			if (!pop_pending(c, &p)) {
				t->counters.unpaired_responses++;
				break;
			}
			psc_window_response(t->window, &p.ref, m->error,
					    hdr->ts_ns > p.ts_ns ? (hdr->ts_ns - p.ts_ns) / 1000 : 0,
					    mi, mo);
			c->last_ref = p.ref;
			c->has_last = true;
			if (p.has_peer) {
				uint64_t since = p.peer_ts_ns ? p.peer_ts_ns : p.ts_ns;
				psc_window_response(t->window, &p.peer_ref, m->error,
						    hdr->ts_ns > since ? (hdr->ts_ns - since) / 1000
								       : 0,
						    pi, po);
				c->peer->last_ref = p.peer_ref;
				c->peer->has_last = true;
			}
			break;
		case PSC_MSG_OTHER:
			break;
		}
	}
}

void psc_conn_on_link(struct psc_conn_table *t, const struct psc_event_hdr *hdr,
		      const struct psc_link *link)
{
	struct conn *c = conn_get(t, hdr);
	uint64_t cli_key = (uint64_t)link->peer_tgid << 32 | link->peer_fd;
	struct conn *cli = psc_hashmap_remove(t->conns, cli_key);

	t->counters.links++;
	if (!c) {
		conn_free(cli);
		return;
	}
	if (!c->peer)
		c->peer = calloc(1, sizeof(*c->peer));
	if (c->peer) {
		struct peer *p = c->peer;
		memset(p, 0, sizeof(*p));
		p->cgroup_id = link->peer_cgroup_id;
		/* What the client's own events saw before the link; they stop here. */
		while (cli && p->adopt_n < PSC_CONN_PENDING &&
		       pop_pending(cli, &p->adopt[p->adopt_n]))
			p->adopt_n++;
		if (cli) {
			p->skip_in = cli->bytes_in;
			p->skip_out = cli->bytes_out;
		}
	}
	conn_free(cli);
}

void psc_conn_on_close(struct psc_conn_table *t, const struct psc_event_hdr *hdr)
{
	struct conn *c = psc_hashmap_remove(t->conns, conn_key(hdr));

	t->counters.close_events++;
	conn_free(c);
	if (hdr->open_ns && hdr->ts_ns > hdr->open_ns)
		psc_window_session_end(t->window, hdr->cgroup_id, (hdr->ts_ns - hdr->open_ns) / 1000);
}

/* A process that exited may still have events in the ring buffer (its last response, its
 * close) when the sweep first sees it gone. The agent drains the ring between two sweeps, so
 * a connection forgotten only at the second sweep that finds its process gone has had all
 * its events. */
void psc_conn_sweep(struct psc_conn_table *t, bool (*alive)(uint32_t tgid, void *ctx), void *ctx)
{
	size_t it = 0;
	uint64_t key;
	void *p;

	while (psc_hashmap_next(t->conns, &it, &key, &p)) {
		struct conn *c = p;

		if (alive((uint32_t)(key >> 32), ctx)) {
			c->seen_dead = false;
			continue;
		}
		if (!c->seen_dead) {
			c->seen_dead = true;
			continue;
		}
		psc_hashmap_iter_remove(t->conns, &it);
		conn_free(c);
		t->counters.conns_swept++;
	}
}

size_t psc_conn_count(const struct psc_conn_table *t)
{
	return psc_hashmap_size(t->conns);
}

const struct psc_conn_counters *psc_conn_counters(const struct psc_conn_table *t)
{
	return &t->counters;
}
