/* SPDX-License-Identifier: MIT */
/* The aggregator daemon: one epoll loop over the nanomsg REP socket (NN_RCVFD), a
 * timerfd (maintenance: rollups, retention, the connected-agents gauge, the heartbeat)
 * and a signalfd (SIGINT/SIGTERM: clean shutdown; a second SIGINT during shutdown kills
 * the process; SIGHUP: configuration reload, never a stop). The HTTP endpoint runs on libmicrohttpd's own thread. */
#pragma once

#include "allocation.h"
#include "modeling.h"
#include "store.h"
#include "wire.h"

struct psc_aggregator_options {
	const char *listen_url; /* nanomsg URL, e.g. tcp://127.0.0.1:7070 */
	const char *db_path;
	const char *keys_dir;
	const char *http_addr; /* NULL = no HTTP endpoint */
	const char *api_token_file; /* bearer token of the JSON API; NULL = no writes */
	bool api_open_reads;	    /* API reads without the token on any address */
	struct psc_store_options store;
	struct psc_wire_limits limits;
	double connected_window_s; /* prescient_agents_connected counts hosts heard within */
	double maintain_interval_s;
	struct psc_modeling_options model; /* model.period_s 0 = no live modeling */
	bool allocate;			   /* run the allocation after each modeling cycle */
	/* SIGHUP: called on the daemon's loop to re-read the configuration; applies what can
	 * change at run time (the log level) and says what cannot. NULL: SIGHUP is logged
	 * and ignored. The daemon keeps serving either way. */
	void (*reload)(void *ctx);
	void *reload_ctx;
	struct psc_allocation_options alloc;
};

/* Options with their documented defaults (the required strings NULL). */
struct psc_aggregator_options psc_aggregator_options_default(void);

/* Runs until SIGINT/SIGTERM. Returns 0 after a clean shutdown, or a negative errno (after
 * logging why) when it cannot start or the loop fails. */
int psc_aggregator_run(const struct psc_aggregator_options *opt);
