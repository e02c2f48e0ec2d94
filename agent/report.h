/* SPDX-License-Identifier: MIT */
/* The `--print` output: one JSON object per workload per window (JSON Lines), in the
 * contract of DESIGN.md section 3. Field names are fixed; fields may be added. A figure
 * the host cannot provide (e.g. per-cgroup PSI on cgroup v1) is null, never a made-up 0. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cgroupfs.h"
#include "window.h"

/* Resource use of one workload over one window (deltas of cumulative counters, levels
 * for memory). */
struct psc_workload_usage {
	bool has_cpu, has_throttled, has_mem, has_mem_peak, has_io;
	bool has_psi_cpu, has_psi_mem, has_psi_io;
	double cpu_s;
	double cpu_throttled_s;
	uint64_t mem_bytes;
	uint64_t mem_peak_bytes;
	uint64_t io_read_bytes;
	uint64_t io_write_bytes;
	double psi_cpu_some, psi_mem_some, psi_io_some; /* share of the window stalled, 0..1 */
	bool has_oom_kills;
	uint64_t oom_kills;		 /* OOM kills in the window */
	struct psc_cgroup_limits limits; /* limits in effect at the end of the window */
};

struct psc_report_ctx {
	double ts;	 /* end of the window, Unix seconds */
	double window_s; /* its length */
	const char *host;
	const char *cgroup; /* path in the identity hierarchy */
	const char *name;   /* service/container name derived from the path */
	unsigned sample_every; /* 1, or N when one connection in N was captured */
};

/* Returns a malloc'ed single-line JSON object (no trailing newline) or NULL on ENOMEM. */
char *psc_report_json(const struct psc_report_ctx *ctx, const struct psc_workload_usage *usage,
		      struct psc_workload *wl);
