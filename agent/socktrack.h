/* SPDX-License-Identifier: MIT */
/* User-space side of the kernel's socket table (events.h: the mmap'ed `sock_slots` array
 * plus its `sockets` overflow hash, keyed tgid << 32 | fd):
 * seeding it with the sockets that existed before the agent started (so long-lived
 * connections are seen too), and sweeping entries of processes that exited without
 * closing them (exit does not go through close(2)). Both keep the kernel's per-tgid
 * filter (@tgid_filter: the mmap'ed .bss array of PSC_TGID_SLOTS counters) in step, with
 * atomic operations since the BPF programs update it concurrently. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"

/* The kernel's socket table as user space sees it; none of it is owned here. */
struct psc_socktable {
	struct psc_sock_slot *slots; /* PSC_SOCK_SLOTS slots (mmap of `sock_slots`) */
	int overflow_fd;	     /* the `sockets` hash */
	uint32_t *overflow;	     /* .bss `sockets_overflow`: entries in the hash */
	uint32_t *tgid_filter;	     /* .bss per-tgid filter, PSC_TGID_SLOTS counters */
};

/* Scans @proc_root ("/proc") for TCP/UDP sockets of the host's network namespace that
 * are connected (not listening) and adds them with role UNKNOWN. Skips @self_tgid.
 * Returns the number added, or a negative errno when @proc_root cannot be read. */
int psc_socktrack_seed(const struct psc_socktable *t, const char *proc_root, uint32_t self_tgid);

/* Deletes entries of processes that no longer exist. Returns how many were deleted, or a
 * negative errno. */
int psc_socktrack_sweep(const struct psc_socktable *t);

/* Whether process @tgid exists (kill(tgid, 0) does not say ESRCH). */
bool psc_tgid_alive(uint32_t tgid, void *unused);
