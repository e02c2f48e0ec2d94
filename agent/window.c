// SPDX-License-Identifier: MIT
#include "window.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

struct psc_window {
	struct psc_hashmap *workloads; /* cgroup id -> struct psc_workload */
};

int psc_window_new(struct psc_window **out)
{
	struct psc_window *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	if (psc_hashmap_new(&w->workloads) < 0) {
		free(w);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

static void workload_free(struct psc_workload *wl)
{
	size_t it = 0;
	uint64_t key;
	void *ep;

	while (psc_hashmap_next(wl->endpoints, &it, &key, &ep))
		free(ep);
	psc_hashmap_free(&wl->endpoints);
	free(wl);
}

void psc_window_free(struct psc_window **w, void (*free_userdata)(void *))
{
	size_t it = 0;
	uint64_t key;
	void *v;

	if (!w || !*w)
		return;
	while (psc_hashmap_next((*w)->workloads, &it, &key, &v)) {
		struct psc_workload *wl = v;
		if (free_userdata)
			free_userdata(wl->userdata);
		workload_free(wl);
	}
	psc_hashmap_free(&(*w)->workloads);
	free(*w);
	*w = NULL;
}

struct psc_workload *psc_window_workload(struct psc_window *w, uint64_t cgroup_id)
{
	struct psc_workload *wl = psc_hashmap_get(w->workloads, cgroup_id);

	if (wl)
		return wl;
	wl = calloc(1, sizeof(*wl));
	if (!wl)
		return NULL;
	wl->cgroup_id = cgroup_id;
	if (psc_hashmap_new(&wl->endpoints) < 0 ||
	    psc_hashmap_put(w->workloads, cgroup_id, wl) < 0) {
		psc_hashmap_free(&wl->endpoints);
		free(wl);
		return NULL;
	}
	return wl;
}

static uint64_t endpoint_key(enum psc_proto proto, uint8_t role, const char *endpoint)
{
	uint64_t seed = (uint64_t)proto << 8 | role;

	return psc_hash_bytes(endpoint, strlen(endpoint), seed);
}

static struct psc_endpoint_stats *endpoint_get(struct psc_workload *wl, enum psc_proto proto,
					       uint8_t role, const char *endpoint)
{
	uint64_t key = endpoint_key(proto, role, endpoint);
	struct psc_endpoint_stats *ep = psc_hashmap_get(wl->endpoints, key);

	if (ep)
		return ep;
	if (psc_hashmap_size(wl->endpoints) >= PSC_WINDOW_MAX_ENDPOINTS &&
	    strcmp(endpoint, PSC_ENDPOINT_OVERFLOW) != 0)
		return endpoint_get(wl, proto, role, PSC_ENDPOINT_OVERFLOW);
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return NULL;
	ep->key = key;
	ep->proto = proto;
	ep->role = role;
	snprintf(ep->endpoint, sizeof(ep->endpoint), "%s", endpoint);
	if (psc_hashmap_put(wl->endpoints, key, ep) < 0) {
		free(ep);
		return NULL;
	}
	return ep;
}

int psc_window_request(struct psc_window *w, uint64_t cgroup_id, enum psc_proto proto,
		       uint8_t role, const char *endpoint, uint64_t bytes_in, uint64_t bytes_out,
		       struct psc_ep_ref *ref)
{
	struct psc_workload *wl = psc_window_workload(w, cgroup_id);
	struct psc_endpoint_stats *ep;

	if (!wl)
		return -ENOMEM;
	ep = endpoint_get(wl, proto, role, endpoint);
	if (!ep)
		return -ENOMEM;
	ep->count++;
	ep->bytes_in += bytes_in;
	ep->bytes_out += bytes_out;
	ep->idle_windows = 0;
	wl->active = true;
	ref->cgroup_id = cgroup_id;
	ref->ep_key = ep->key;
	return 0;
}

static struct psc_endpoint_stats *endpoint_by_ref(struct psc_window *w,
						  const struct psc_ep_ref *ref)
{
	struct psc_workload *wl = psc_hashmap_get(w->workloads, ref->cgroup_id);

	return wl ? psc_hashmap_get(wl->endpoints, ref->ep_key) : NULL;
}

void psc_window_response(struct psc_window *w, const struct psc_ep_ref *ref, bool error,
			 uint64_t latency_us, uint64_t bytes_in, uint64_t bytes_out)
{
	struct psc_endpoint_stats *ep = endpoint_by_ref(w, ref);

	if (!ep)
		return;
	ep->responses++;
	if (error)
		ep->errors++;
	ep->bytes_in += bytes_in;
	ep->bytes_out += bytes_out;
	psc_hist_add(&ep->latency_us, latency_us);
}

void psc_window_bytes(struct psc_window *w, const struct psc_ep_ref *ref, uint64_t bytes_in,
		      uint64_t bytes_out)
{
	struct psc_endpoint_stats *ep = endpoint_by_ref(w, ref);

	if (!ep)
		return;
	ep->bytes_in += bytes_in;
	ep->bytes_out += bytes_out;
}

void psc_window_session_end(struct psc_window *w, uint64_t cgroup_id, uint64_t duration_us)
{
	struct psc_workload *wl = psc_window_workload(w, cgroup_id);

	if (!wl)
		return;
	wl->sessions_closed++;
	psc_hist_add(&wl->session_ms, duration_us / 1000);
	wl->active = true;
}

struct psc_workload *psc_window_next(struct psc_window *w, size_t *iter)
{
	uint64_t key;
	void *v;

	return psc_hashmap_next(w->workloads, iter, &key, &v) ? v : NULL;
}

struct psc_endpoint_stats *psc_workload_next_endpoint(struct psc_workload *wl, size_t *iter)
{
	uint64_t key;
	void *v;

	return psc_hashmap_next(wl->endpoints, iter, &key, &v) ? v : NULL;
}

void *psc_window_remove(struct psc_window *w, uint64_t cgroup_id)
{
	struct psc_workload *wl = psc_hashmap_remove(w->workloads, cgroup_id);
	void *userdata;

	if (!wl)
		return NULL;
	userdata = wl->userdata;
	workload_free(wl);
	return userdata;
}

void psc_window_reset(struct psc_window *w, unsigned keep_idle)
{
	size_t it = 0;
	struct psc_workload *wl;

	while ((wl = psc_window_next(w, &it))) {
		size_t eit = 0;
		uint64_t key;
		void *v;

		while (psc_hashmap_next(wl->endpoints, &eit, &key, &v)) {
			struct psc_endpoint_stats *ep = v;
			if (ep->count == 0 && ep->responses == 0 && ++ep->idle_windows > keep_idle) {
				psc_hashmap_iter_remove(wl->endpoints, &eit);
				free(ep);
				continue;
			}
			ep->count = ep->errors = ep->responses = 0;
			ep->bytes_in = ep->bytes_out = 0;
			psc_hist_reset(&ep->latency_us);
		}
		wl->idle_windows = wl->active ? 0 : wl->idle_windows + 1;
		wl->active = false;
		memset(&wl->kernel, 0, sizeof(wl->kernel));
		wl->sessions_closed = 0;
		psc_hist_reset(&wl->session_ms);
	}
}

size_t psc_window_workloads(const struct psc_window *w)
{
	return psc_hashmap_size(w->workloads);
}
