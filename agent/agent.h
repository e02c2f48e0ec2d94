/* SPDX-License-Identifier: MIT */
/* The agent daemon: loads the capture programs, runs one event loop (epoll over the ring
 * buffer, a drain timer and a signalfd), and every window turns what it saw into one
 * report per workload. Shuts down on SIGINT/SIGTERM with a final (partial) window and a
 * one-line summary on stderr; a second SIGINT forces exit. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct psc_agent_opts {
	double window_s;	  /* report period, seconds (> 0) */
	double duration_s;	  /* stop after this long; 0 = run until signalled */
	uint32_t head_len;	  /* bytes captured per socket message */
	uint32_t ringbuf_bytes;	  /* kernel ring buffer size, power of two */
	const char *cgroup_root;  /* "/sys/fs/cgroup" */
	const char *proc_root;	  /* "/proc" */
	const char *host_id;	  /* reported host name */
	bool print;		  /* JSON Lines on stdout */
	unsigned idle_windows;	  /* forget a workload after this many idle windows */
	uint32_t sample_every;	  /* capture one connection in N (default 1: all) */
	const char *aggregator_url; /* send reports there (nanomsg URL); NULL: no uplink */
	const char *keys_dir;	    /* fleet.key and signing.pub */
	const char *spool_dir;	    /* reports wait here until acknowledged */
	uint64_t spool_max_bytes;
	const char *record_path;  /* also write every ring-buffer record here */
	const char *replay_path;  /* no BPF: run the pipeline over this recording */
	/* Enforcement of signed adjustments (with an aggregator): cgroups under these
	 * prefixes only (none: observe only, every adjustment refused), guards as in
	 * agent/guard.h. */
	const char *const *manage;
	size_t n_manage;
	bool dry_run;		   /* log and report what would be written; write nothing */
	uint64_t margin_min_bytes; /* 0 = default (64 MiB) */
	double step_factor;	   /* > 1: at most this x up, 1/this x down; 0 = default (2) */
	double cooldown_s;	   /* < 0 = default (30 s) */
	/* SIGHUP: returns the options to use from now on, or NULL to keep the current ones
	 * (a bad file: the callback logged why). Only what may change at run time differs
	 * (log level, manage, dry_run, margin_min_bytes, step_factor, cooldown_s); the
	 * returned options stay valid until the next call returns. NULL: SIGHUP is ignored. */
	const struct psc_agent_opts *(*reload)(void *ctx);
	void *reload_ctx;
};

/* Runs until signalled (SIGHUP: @opts->reload)  or @opts->duration_s elapses. Returns 0 or a negative errno
 * (already logged). */
int psc_agent_run(const struct psc_agent_opts *opts);
