/* SPDX-License-Identifier: MIT */
/* User-space side of the kernel's socket table (`sockets` map, keyed tgid << 32 | fd):
 * seeding it with the sockets that existed before the agent started (so long-lived
 * connections are seen too), and sweeping entries of processes that exited without
 * closing them (exit does not go through close(2)). Both keep the kernel's per-tgid
 * filter (@tgid_filter: the mmap'ed .bss array of PSC_TGID_SLOTS counters) in step, with
 * atomic operations since the BPF programs update it concurrently. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Scans @proc_root ("/proc") for TCP/UDP sockets of the host's network namespace that
 * are connected (not listening) and adds them with role UNKNOWN. Skips @self_tgid.
 * Returns the number added, or a negative errno when @proc_root cannot be read. */
int psc_socktrack_seed(int sockets_fd, uint32_t *tgid_filter, const char *proc_root,
		       uint32_t self_tgid);

/* Deletes entries of processes that no longer exist. Returns how many were deleted, or a
 * negative errno. */
int psc_socktrack_sweep(int sockets_fd, uint32_t *tgid_filter);

/* Whether process @tgid exists (kill(tgid, 0) does not say ESRCH). */
bool psc_tgid_alive(uint32_t tgid, void *unused);
