/* SPDX-License-Identifier: MIT */
/* The window's reports as one protobuf HostReport (proto/prescient.proto): what the fleet
 * link carries. The same figures as the JSON Lines of report.h; a figure the host cannot
 * provide is flagged in WorkloadWindow.missing instead of null. Strings are inline here:
 * the uplink applies its dictionary when it sends (so a spooled report can be re-sent
 * with every string inline if the aggregator asks). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prescient.pb-c.h"
#include "report.h"
#include "window.h"

struct psc_report_item {
	const char *cgroup;
	const char *name;
	struct psc_workload_usage usage;
	struct psc_workload *wl;
	bool managed; /* under one of the agent's --manage prefixes */
};

struct psc_report_header {
	const char *host_id;
	uint64_t seq;
	double window_start;
	double window_end;
	unsigned sample_every;
	uint64_t ring_drops; /* events the kernel dropped in this window */
	uint32_t host_cpus;  /* online CPUs, 0 = unknown */
	uint64_t host_memory_bytes; /* MemTotal, 0 = unknown */
	/* Adjustment outcomes to carry (borrowed; agent/enforce.h), may be NULL. */
	Prescient__AdjustmentOutcome **outcomes;
	size_t n_outcomes;
};

/* Packs the report of @n workloads. On success *out (malloc'ed) is owned by the caller.
 * Returns 0 or -ENOMEM. */
int psc_report_pb_pack(const struct psc_report_header *h, const struct psc_report_item *items,
		       size_t n, uint8_t **out, size_t *out_len);
