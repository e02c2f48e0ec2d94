/* SPDX-License-Identifier: MIT */
/* Per-window aggregation of what the agent saw, per workload (cgroup) and per endpoint.
 * Pure bookkeeping: no I/O. The daemon feeds it parsed requests, responses, session ends
 * and kernel counter deltas, then walks the workloads at the end of each window, emits
 * them and calls psc_window_reset(). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "events.h"
#include "hist.h"
#include "proto.h"

/* Endpoints kept per workload; further distinct endpoints are counted under
 * PSC_ENDPOINT_OVERFLOW so that a high-cardinality client cannot grow memory. */
#define PSC_WINDOW_MAX_ENDPOINTS 256
#define PSC_ENDPOINT_OVERFLOW "{other}"

struct psc_endpoint_stats {
	uint64_t key;
	enum psc_proto proto;
	uint8_t role; /* enum psc_sock_role: SERVER = this workload served it */
	char endpoint[PSC_ENDPOINT_MAX];
	uint64_t count;
	uint64_t errors;
	uint64_t responses;
	uint64_t bytes_in;
	uint64_t bytes_out;
	struct psc_hist latency_us;
	unsigned idle_windows;
};

struct psc_workload {
	uint64_t cgroup_id;
	struct psc_hashmap *endpoints; /* key -> struct psc_endpoint_stats */
	struct psc_cg_counters kernel; /* deltas in this window */
	uint64_t sessions_closed;
	struct psc_hist session_ms;
	bool active;		 /* something happened in this window */
	unsigned idle_windows;	 /* windows in a row without activity */
	void *userdata;		 /* owned by the daemon (path, cgroupfs baseline) */
};

/* What a pending request remembers to find its endpoint when the response comes. */
struct psc_ep_ref {
	uint64_t cgroup_id;
	uint64_t ep_key;
};

struct psc_window;

int psc_window_new(struct psc_window **out);
/* Frees every workload; @free_userdata (may be NULL) is called on each one's userdata. */
void psc_window_free(struct psc_window **w, void (*free_userdata)(void *));

/* The workload for @cgroup_id, created if needed; NULL only on ENOMEM. */
struct psc_workload *psc_window_workload(struct psc_window *w, uint64_t cgroup_id);

/* Counts a request of @endpoint and fills @ref for its response. Returns 0 or -ENOMEM. */
int psc_window_request(struct psc_window *w, uint64_t cgroup_id, enum psc_proto proto,
		       uint8_t role, const char *endpoint, uint64_t bytes_in, uint64_t bytes_out,
		       struct psc_ep_ref *ref);
/* Completes a request: latency, error, response bytes. A @ref whose workload or endpoint
 * has since been dropped is ignored. */
void psc_window_response(struct psc_window *w, const struct psc_ep_ref *ref, bool error,
			 uint64_t latency_us, uint64_t bytes_in, uint64_t bytes_out);
/* Adds bytes of a message that continued over several syscalls to the endpoint. */
void psc_window_bytes(struct psc_window *w, const struct psc_ep_ref *ref, uint64_t bytes_in,
		      uint64_t bytes_out);
void psc_window_session_end(struct psc_window *w, uint64_t cgroup_id, uint64_t duration_us);

/* Iteration over workloads: *iter = 0 to start; returns NULL at the end. */
struct psc_workload *psc_window_next(struct psc_window *w, size_t *iter);
/* Iteration over a workload's endpoints. */
struct psc_endpoint_stats *psc_workload_next_endpoint(struct psc_workload *wl, size_t *iter);

/* Drops a workload (its cgroup is gone) and returns its userdata for the caller to free. */
void *psc_window_remove(struct psc_window *w, uint64_t cgroup_id);

/* Ends a window: zeroes every count, keeps endpoints that were active in the last
 * @keep_idle windows and drops older ones, bumps idle counters. */
void psc_window_reset(struct psc_window *w, unsigned keep_idle);

size_t psc_window_workloads(const struct psc_window *w);
