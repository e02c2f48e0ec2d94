/* SPDX-License-Identifier: MIT */
/* Network egress rate limit per workload: a BPF cgroup_skb/egress token bucket
 * (bpf/egress.bpf.c) attached to the workload's cgroup v2 directory.
 *
 * cgroup BPF needs no controller, so this works wherever a cgroup2 hierarchy is mounted:
 *  - pure v2: the workload's identity path is its v2 directory; the program is attached
 *    there and nothing is created or moved;
 *  - hybrid (v1 controllers + cgroup2 at root/unified): the v2 directory of the same path
 *    is created in the unified hierarchy (with any missing parents) unless it exists, and
 *    the processes of the v1 identity (memory) cgroup and of its descendant cgroups (a
 *    pod's containers) are moved into it, all into that one directory, at set and again
 *    at every psc_ratelimit_sync();
 *  - v1 only: not supported (psc_ratelimit_open() fails with -ENODEV).
 *
 * What the kernel limits is the sockets whose cgroup (fixed when the socket is created,
 * and inherited by the connections a listening socket accepts) is the directory or one of
 * its descendants. On hybrids, sockets a process opened before it was moved keep their
 * old cgroup and are not limited: a server whose listening socket predates the limit is
 * limited only from its next restart (or re-listen) on. Moving a process changes its
 * cgroup v2 membership, which matters to anything that reads it (systemd in hybrid mode
 * tracks units there): only limit workloads whose owner allows it.
 *
 * Limited directories must not be nested (one inside another): the program charges a
 * packet to the nearest limited ancestor of its socket's cgroup, once.
 *
 * Needs root (CAP_BPF with CAP_NET_ADMIN, or CAP_SYS_ADMIN). The links are bpf_links
 * owned by this process: every limit goes away when it exits, however it exits
 * (directories it created are then left behind, with their processes). Not thread-safe.
 */
#pragma once

#include <stdint.h>

#include "cgroupfs.h"
#include "egress.h" /* PSC_EGRESS_RATE_MAX, PSC_EGRESS_BURST_MAX */

struct psc_ratelimit;

/* Burst used when psc_ratelimit_set() is given 0: PSC_RATELIMIT_BURST_MS of the rate,
 * at least PSC_RATELIMIT_MIN_BURST bytes. Why a quarter of a second: a dropped packet is
 * not sent, so TCP does not count it in flight; once everything in flight is acknowledged
 * (microseconds on a LAN or loopback) the sender waits for its probe timer, at least
 * TCP's minimum RTO of 200 ms, before it tries again. A bucket that cannot hold that much
 * refill loses it: with a tenth of a second the measured throughput of one TCP stream on
 * loopback was 40% of the rate, with a quarter 96-104%. */
#define PSC_RATELIMIT_BURST_MS 250
#define PSC_RATELIMIT_MIN_BURST (64u << 10)

/* Loads the egress program (one program; a hash map keyed by cgroup v2 id -> bucket and a
 * per-CPU map of counters). @layout says where the unified hierarchy and the identity
 * hierarchy are (copied: it need not outlive the limiter). On success *@out is owned by
 * the caller (free with psc_ratelimit_close()). Returns 0 or a negative errno, logged
 * with a message that says what is missing: -ENODEV when @layout has no cgroup2
 * hierarchy, -EPERM when the kernel refused the program for lack of privileges (not
 * root), -EINVAL (or the kernel's error) when the verifier rejected it, -EINVAL for NULL
 * arguments. *@out is untouched on failure. */
int psc_ratelimit_open(struct psc_ratelimit **out, const struct psc_cgroupfs_layout *layout);

/* Limits the egress of workload @cgroup (identity path: absolute, no "." or ".."
 * components, not "/") to @bytes_per_s (1..PSC_EGRESS_RATE_MAX) with a burst of
 * @burst_bytes (0: the default burst above; at most
 * PSC_EGRESS_BURST_MAX). The first call for a workload creates the v2 directory (hybrid),
 * inserts a full bucket, attaches the program and moves the workload's processes (hybrid);
 * later calls only update the bucket's rate and burst (tokens above the new burst are cut)
 * and do not reset the counters. Returns 0; -EINVAL for bad arguments, -ERANGE for a
 * rate or burst out of range, -ENOENT when the workload's cgroup does not exist, -EBUSY
 * when its v2 directory is inside (or contains) one already limited, -ENOSPC when the
 * map is full, or another negative errno from cgroupfs or the kernel (logged). On failure
 * a first call leaves nothing behind; a failed process move is logged and is not an
 * error (the next sync retries). */
int psc_ratelimit_set(struct psc_ratelimit *rl, const char *cgroup, uint64_t bytes_per_s,
		      uint64_t burst_bytes);

/* Removes the limit of @cgroup: detaches the program from its directory, deletes its
 * bucket and counters and, on hybrids when this limiter created the directory, moves
 * its processes back to the v2 parent (the nearest directory it did not create) and
 * removes the directories it created. Returns 0, -ENOENT when @cgroup is not limited, or
 * -EBUSY when a directory could not be removed (the limit is gone all the same; logged). */
int psc_ratelimit_clear(struct psc_ratelimit *rl, const char *cgroup);

/* Hybrid only (a no-op on pure v2): moves processes that joined a limited workload's v1
 * identity cgroup (or one of its descendants) since the last call into its v2 directory.
 * Call once per window.
 * Processes that exit meanwhile are skipped; other failures are logged. */
void psc_ratelimit_sync(struct psc_ratelimit *rl);

/* Bytes passed and dropped by the limit of @cgroup since its first psc_ratelimit_set()
 * (either pointer may be NULL). Returns 0 or -ENOENT when @cgroup is not limited. */
int psc_ratelimit_stats(struct psc_ratelimit *rl, const char *cgroup, uint64_t *passed,
			uint64_t *dropped);

/* The enforcement hook's shape (int set_egress(void *ctx, const char *cgroup, uint64_t
 * bytes_per_s)): @ctx is a struct psc_ratelimit; a rate of 0 removes the limit (0 when
 * there was none), any other rate is psc_ratelimit_set() with the default burst. */
int psc_ratelimit_set_egress(void *ctx, const char *cgroup, uint64_t bytes_per_s);

/* Clears every limit it set (as psc_ratelimit_clear()), unloads the program and frees
 * *@rl; NULL or *@rl NULL is fine. Sets *@rl to NULL. */
void psc_ratelimit_close(struct psc_ratelimit **rl);
