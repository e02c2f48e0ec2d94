// SPDX-License-Identifier: MIT
#include "report.h"

#include <jansson.h>
#include <stdlib.h>

#include "proto.h"

static const char *role_name(uint8_t role)
{
	return role == PSC_ROLE_CLIENT ? "client" : "server";
}

static json_t *real_or_null(bool present, double v)
{
	return present ? json_real(v) : json_null();
}

static json_t *uint_or_null(bool present, uint64_t v)
{
	return present ? json_integer((json_int_t)v) : json_null();
}

static json_t *quantiles(const struct psc_hist *h)
{
	return json_pack("{s:I, s:I, s:I}", "p50", (json_int_t)psc_hist_quantile(h, 0.50), "p90",
			 (json_int_t)psc_hist_quantile(h, 0.90), "p99",
			 (json_int_t)psc_hist_quantile(h, 0.99));
}

static json_t *endpoints_json(struct psc_workload *wl)
{
	json_t *arr = json_array();
	struct psc_endpoint_stats *ep;
	size_t it = 0;

	while ((ep = psc_workload_next_endpoint(wl, &it))) {
		if (ep->count == 0 && ep->responses == 0 && ep->bytes_in == 0 && ep->bytes_out == 0)
			continue;
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "protocol",
				       psc_proto_name(ep->proto), "endpoint", ep->endpoint, "role",
				       role_name(ep->role), "count", (json_int_t)ep->count, "errors",
				       (json_int_t)ep->errors, "responses", (json_int_t)ep->responses,
				       "bytes_in", (json_int_t)ep->bytes_in, "bytes_out",
				       (json_int_t)ep->bytes_out, "latency_us",
				       quantiles(&ep->latency_us)));
	}
	return arr;
}

/* The limits in Targets' units (proto/prescient.proto); 0 = no limit, null = the host
 * has no such file. */
static json_t *limits_json(const struct psc_cgroup_limits *l)
{
	static const char *const keys[_PSC_RES_MAX] = {
		[PSC_RES_CPU_MAX] = "cpu_max_cores",	  [PSC_RES_CPU_WEIGHT] = "cpu_weight",
		[PSC_RES_CPU_BURST] = "cpu_max_burst_us", [PSC_RES_MEM_MIN] = "memory_min_bytes",
		[PSC_RES_MEM_HIGH] = "memory_high_bytes", [PSC_RES_MEM_MAX] = "memory_max_bytes",
	};
	json_t *o = json_object();

	for (int r = 0; r < _PSC_RES_MAX; r++) {
		uint64_t v = l->v[r] == PSC_LIMIT_UNLIMITED ? 0 : l->v[r];
		json_t *j;

		if (!(l->present & (1u << r)))
			j = json_null();
		else if (r == PSC_RES_CPU_MAX)
			j = json_real(v / 1e6);
		else
			j = json_integer((json_int_t)v);
		json_object_set_new(o, keys[r], j);
	}
	return o;
}

char *psc_report_json(const struct psc_report_ctx *ctx, const struct psc_workload_usage *u,
		      struct psc_workload *wl)
{
	const struct psc_cg_counters *k = &wl->kernel;
	json_t *o = json_object();
	char *s;

	if (!o)
		return NULL;
	json_object_set_new(o, "ts", json_real(ctx->ts));
	json_object_set_new(o, "window_s", json_real(ctx->window_s));
	json_object_set_new(o, "host", json_string(ctx->host));
	json_object_set_new(o, "cgroup", json_string(ctx->cgroup));
	json_object_set_new(o, "name", json_string(ctx->name));
	/* With sampling, socket and endpoint figures cover 1/N of the connections. */
	json_object_set_new(o, "sample_every", json_integer(ctx->sample_every ? ctx->sample_every : 1));
	json_object_set_new(o, "cpu_s", real_or_null(u->has_cpu, u->cpu_s));
	json_object_set_new(o, "cpu_throttled_s", real_or_null(u->has_throttled, u->cpu_throttled_s));
	json_object_set_new(o, "mem_bytes", uint_or_null(u->has_mem, u->mem_bytes));
	json_object_set_new(o, "mem_peak_bytes", uint_or_null(u->has_mem_peak, u->mem_peak_bytes));
	json_object_set_new(o, "io_read_bytes", uint_or_null(u->has_io, u->io_read_bytes));
	json_object_set_new(o, "io_write_bytes", uint_or_null(u->has_io, u->io_write_bytes));
	json_object_set_new(o, "net_rx_bytes", json_integer((json_int_t)k->rx_bytes));
	json_object_set_new(o, "net_tx_bytes", json_integer((json_int_t)k->tx_bytes));
	json_object_set_new(o, "psi",
			    json_pack("{s:o, s:o, s:o}", "cpu_some",
				      real_or_null(u->has_psi_cpu, u->psi_cpu_some), "mem_some",
				      real_or_null(u->has_psi_mem, u->psi_mem_some), "io_some",
				      real_or_null(u->has_psi_io, u->psi_io_some)));
	json_object_set_new(o, "oom_kills", uint_or_null(u->has_oom_kills, u->oom_kills));
	json_object_set_new(o, "limits", limits_json(&u->limits));
	json_object_set_new(o, "syscalls",
			    json_pack("{s:I, s:I, s:I, s:I, s:I}", "recv", (json_int_t)k->rx_calls,
				      "send", (json_int_t)k->tx_calls, "accept",
				      (json_int_t)k->accepts, "connect", (json_int_t)k->connects,
				      "close", (json_int_t)k->closes));
	json_object_set_new(o, "connections",
			    json_pack("{s:I, s:I, s:o}", "opened",
				      (json_int_t)(k->accepts + k->connects), "closed",
				      (json_int_t)wl->sessions_closed, "session_ms",
				      quantiles(&wl->session_ms)));
	json_object_set_new(o, "endpoints", endpoints_json(wl));
	/* 13 significant digits: a Unix time keeps its milliseconds (10 digits kept only whole
	 * seconds, so sub-second windows shared one "ts"). */
	s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(13));
	json_decref(o);
	return s;
}
