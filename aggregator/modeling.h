/* SPDX-License-Identifier: MIT */
/* The modeling engine run live: every cycle, the workloads' new raw windows
 * (workload_series and endpoint_series, tier 0) go through their online forecasters and
 * detectors (model/), and the results go back into the store's database.
 *
 * The module has its own SQLite connection to the aggregator's database file (WAL lets
 * it read while ingest writes; busy_timeout 5 s) and its own tables, created if absent
 * (see aggregator/README.md, "Live modeling"): model_state, forecasts, detections,
 * clusters, cluster_moves, profiles, classes. It never writes the store's tables.
 *
 * Series per workload, on a regular grid of `step_s` (raw windows binned by start time):
 *   cpu  CPU cores (sum cpu_s / sum span_s)      mem  memory bytes (mean)
 *   net  network bytes/s (rx + tx)               req  requests/s (sum of its endpoints)
 * Each series that has ever had a value has a psc_forecaster (horizons 1 step, 1 h,
 * 24 h) and a psc_detector on its one-step residual; the workload has a behaviour-vector
 * change-point detector (psc_cpd), an hour-of-week profile of its CPU, and a running
 * behaviour vector used for clustering (every `recluster_every` cycles) and for its class.
 * A step is fed when a window of a later step arrives or when `now` passes its end by
 * `close_grace_s`; a window arriving for a step already fed is ignored.
 *
 * State is in memory, keyed by workload id. A workload first met (at start-up, after a
 * restart, or new) is rebuilt from its stored raw history (the last `rebuild_s`) before
 * it is fed live, so a restart loses no model; rebuilding is spread over cycles (at most
 * half a period of work per cycle). Memory per workload is bounded by the configuration
 * (README: ~60 kB per series plus ~10 kB); at most `max_workloads` are modelled.
 *
 * Not thread-safe: one thread (the daemon's loop). */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct psc_modeling_options {
	double period_s;	  /* cycle period (the daemon's timer); default 10 */
	double step_s;		  /* model step; default 300 (5 min) */
	double close_grace_s;	  /* a step is closed this long after its end; default 30 */
	double rebuild_s;	  /* history replayed for a workload first met; default 2 days */
	unsigned recluster_every; /* cycles between clusterings; default 30 */
	double detect_threshold;  /* residual detections at or above are stored; 0.5 */
	double behaviour_threshold; /* behaviour change points at or above are stored; 0.8 */
	uint32_t history;	  /* forecaster history in steps; default 1024 */
	uint32_t detect_window;	  /* detector residual window; default 256 */
	size_t max_workloads;	  /* default 20000 */
	double season_s;	  /* seasonal period: 0 = detected (daily or weekly, the
				   * default); > 0 = fixed, e.g. for time-compressed tests */
	double detections_retention_s; /* detections and moves older are deleted; 30 days */
};

struct psc_modeling_options psc_modeling_options_default(void);

struct psc_modeling_stats {
	double seconds;		/* wall time of the cycle */
	size_t workloads;	/* modelled (in memory) */
	size_t windows;		/* raw windows read */
	size_t steps;		/* steps fed (all workloads and series) */
	size_t rebuilt;		/* workloads rebuilt from history this cycle */
	size_t pending_rebuild; /* workloads waiting to be rebuilt */
	size_t detections;	/* stored this cycle */
	int clusters;		/* clusters found if this cycle re-clustered, else -1 */
	size_t moves;		/* cluster moves recorded this cycle */
};

struct psc_modeling;

/* What one fed step of a workload looked like, for observers (the allocation): values
 * are NAN when not measured, all NAN for a gap step. */
struct psc_modeling_obs {
	int64_t workload_id;
	double ts;		/* step start */
	double step_s;
	double cpu_cores;	/* CPU seconds per second */
	double mem_bytes;	/* mean */
	double net_bytes_per_s; /* rx + tx */
	double req_per_s;
	double throttled_share; /* CPU-throttled seconds per second of the step */
	double oom_kills;
	double psi_cpu;		/* share of the step some task stalled on CPU (0..1) */
	double psi_mem;		/* ... on memory */
};

typedef void (*psc_modeling_observer_fn)(void *ctx, const struct psc_modeling_obs *o);

/* Calls @fn for every step fed to every workload's models (live and when rebuilding from
 * history), on the modeling thread, during psc_modeling_cycle(). NULL removes it. */
void psc_modeling_set_observer(struct psc_modeling *m, psc_modeling_observer_fn fn, void *ctx);

/* Opens @db_path (which the store has created and migrated) with a connection of its own
 * and creates the modeling tables if absent. @opt NULL = defaults. Returns 0, -EINVAL (bad
 * options), -EIO (SQLite; @err says why) or -ENOMEM. The caller owns *out. */
int psc_modeling_new(struct psc_modeling **out, const char *db_path,
		     const struct psc_modeling_options *opt, char *err, size_t errlen);
/* Frees the models and closes the connection; accepts NULL. */
void psc_modeling_free(struct psc_modeling **m);

/* Runs one cycle at Unix time @now: reads the new raw windows, feeds the closed steps,
 * writes forecasts, detections, profiles, model_state and (every recluster_every
 * cycles) clusters, moves and classes, in transactions of a bounded size. @st may be
 * NULL. Returns 0, or -EIO / -ENOMEM (the cycle stopped; the next one resumes). */
int psc_modeling_cycle(struct psc_modeling *m, double now, struct psc_modeling_stats *st);

/* The daemon's side: a timerfd (CLOEXEC, non-blocking, owned by @m) that expires every
 * period_s, created and armed at the first call (first expiry after one period). Returns
 * the fd or a negative errno. */
int psc_modeling_fd(struct psc_modeling *m);
/* Reads the timerfd and runs a cycle at the current time; logs a one-line summary at
 * debug, a warning (AGG-MODEL-SLOW) when the cycle took longer than its period and one
 * (AGG-MODEL-CYCLE) when it failed. Never fails the daemon. */
void psc_modeling_on_timer(struct psc_modeling *m);
/* Last cycle's statistics (zeros before the first). */
struct psc_modeling_stats psc_modeling_last(const struct psc_modeling *m);

/* Number of workloads modelled. */
size_t psc_modeling_workloads(const struct psc_modeling *m);
