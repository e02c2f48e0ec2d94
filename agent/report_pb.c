// SPDX-License-Identifier: MIT
#include "report_pb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "prescient.pb-c.h"
#include "proto.h"
#include "wire.h"

static uint32_t missing_bits(const struct psc_workload_usage *u)
{
	uint32_t m = 0;

	m |= u->has_cpu ? 0 : PSC_MISSING_CPU;
	m |= u->has_throttled ? 0 : PSC_MISSING_THROTTLED;
	m |= u->has_mem ? 0 : PSC_MISSING_MEM;
	m |= u->has_mem_peak ? 0 : PSC_MISSING_MEM_PEAK;
	m |= u->has_io ? 0 : PSC_MISSING_IO;
	m |= u->has_psi_cpu ? 0 : PSC_MISSING_PSI_CPU;
	m |= u->has_psi_mem ? 0 : PSC_MISSING_PSI_MEM;
	m |= u->has_psi_io ? 0 : PSC_MISSING_PSI_IO;
	return m;
}

/* Targets' units: 0 = no limit or no such file. */
static void fill_limits(Prescient__Targets *t, const struct psc_cgroup_limits *l)
{
	uint64_t v[_PSC_RES_MAX];

	prescient__targets__init(t);
	for (int r = 0; r < _PSC_RES_MAX; r++)
		v[r] = (l->present & (1u << r)) && l->v[r] != PSC_LIMIT_UNLIMITED ? l->v[r] : 0;
	t->cpu_max_cores = v[PSC_RES_CPU_MAX] / 1e6;
	t->cpu_weight = v[PSC_RES_CPU_WEIGHT];
	t->cpu_max_burst_us = v[PSC_RES_CPU_BURST];
	t->memory_min_bytes = v[PSC_RES_MEM_MIN];
	t->memory_high_bytes = v[PSC_RES_MEM_HIGH];
	t->memory_max_bytes = v[PSC_RES_MEM_MAX];
}

static void free_workload(Prescient__WorkloadWindow *w)
{
	free(w->limits);
	for (size_t i = 0; i < w->n_endpoints; i++) {
		psc_wire_hist_clear(w->endpoints[i]->latency_us);
		free(w->endpoints[i]->latency_us);
		free(w->endpoints[i]);
	}
	free(w->endpoints);
}

static int fill_workload(Prescient__WorkloadWindow *w, const struct psc_report_item *it)
{
	const struct psc_workload_usage *u = &it->usage;
	const struct psc_cg_counters *k = &it->wl->kernel;
	struct psc_endpoint_stats *ep;
	size_t n = 0, iter = 0;

	prescient__workload_window__init(w);
	/* Strings are borrowed from the caller for the time of the pack. */
	w->cgroup = (char *)it->cgroup;
	w->name = (char *)it->name;
	w->cpu_s = u->cpu_s;
	w->cpu_throttled_s = u->cpu_throttled_s;
	w->mem_bytes = u->mem_bytes;
	w->mem_peak_bytes = u->mem_peak_bytes;
	w->io_read_bytes = u->io_read_bytes;
	w->io_write_bytes = u->io_write_bytes;
	w->net_rx_bytes = k->rx_bytes;
	w->net_tx_bytes = k->tx_bytes;
	w->psi_cpu_some = u->psi_cpu_some;
	w->psi_mem_some = u->psi_mem_some;
	w->psi_io_some = u->psi_io_some;
	w->sessions_closed = it->wl->sessions_closed;
	w->missing = missing_bits(u);
	w->oom_kills = u->has_oom_kills ? u->oom_kills : 0;
	w->managed = it->managed;
	if (u->limits.present) {
		w->limits = malloc(sizeof(*w->limits));
		if (!w->limits)
			return -ENOMEM;
		fill_limits(w->limits, &u->limits);
	}

	while ((ep = psc_workload_next_endpoint(it->wl, &iter)))
		n++;
	w->endpoints = calloc(n ? n : 1, sizeof(*w->endpoints));
	if (!w->endpoints)
		return -ENOMEM;
	iter = 0;
	while ((ep = psc_workload_next_endpoint(it->wl, &iter))) {
		if (ep->count == 0 && ep->responses == 0 && ep->bytes_in == 0 && ep->bytes_out == 0)
			continue;
		Prescient__EndpointStats *e = calloc(1, sizeof(*e));
		Prescient__LatencyHistogram *h = calloc(1, sizeof(*h));
		if (!e || !h || psc_wire_hist_fill(h, &ep->latency_us) < 0) {
			free(e);
			free(h);
			return -ENOMEM;
		}
		prescient__endpoint_stats__init(e);
		e->protocol = (char *)psc_proto_name(ep->proto);
		e->endpoint = ep->endpoint;
		e->role = ep->role == PSC_ROLE_CLIENT ? "client" : "server";
		e->count = ep->count;
		e->errors = ep->errors;
		e->bytes_in = ep->bytes_in;
		e->bytes_out = ep->bytes_out;
		e->unanswered = ep->count > ep->responses ? ep->count - ep->responses : 0;
		e->latency_us = h;
		w->endpoints[w->n_endpoints++] = e;
	}
	return 0;
}

int psc_report_pb_pack(const struct psc_report_header *hdr, const struct psc_report_item *items,
		       size_t n, uint8_t **out, size_t *out_len)
{
	Prescient__HostReport r = PRESCIENT__HOST_REPORT__INIT;
	Prescient__WorkloadWindow *ws = calloc(n ? n : 1, sizeof(*ws));
	Prescient__WorkloadWindow **wp = calloc(n ? n : 1, sizeof(*wp));
	uint8_t *buf = NULL;
	int ret = -ENOMEM;

	if (!ws || !wp)
		goto out;
	r.schema_version = PSC_WIRE_SCHEMA_VERSION;
	r.host_id = (char *)hdr->host_id;
	r.agent_version = PSC_VERSION;
	r.seq = hdr->seq;
	r.window_start = hdr->window_start;
	r.window_end = hdr->window_end;
	r.ring_drops = hdr->ring_drops;
	r.host_cpus = hdr->host_cpus;
	r.host_memory_bytes = hdr->host_memory_bytes;
	for (size_t i = 0; i < n; i++) {
		wp[i] = &ws[i];
		r.n_workloads = i + 1;
		if (fill_workload(&ws[i], &items[i]) < 0)
			goto out;
		ws[i].sample_every = hdr->sample_every;
	}
	r.workloads = wp;
	r.outcomes = hdr->outcomes;
	r.n_outcomes = hdr->outcomes ? hdr->n_outcomes : 0;
	size_t len = prescient__host_report__get_packed_size(&r);
	buf = malloc(len ? len : 1);
	if (!buf)
		goto out;
	prescient__host_report__pack(&r, buf);
	*out = buf;
	*out_len = len;
	buf = NULL;
	ret = 0;
out:
	for (size_t i = 0; ws && i < r.n_workloads; i++)
		free_workload(&ws[i]);
	free(ws);
	free(wp);
	free(buf);
	return ret;
}
