/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* The egress rate limiter's ABI between bpf/egress.bpf.c and agent/ratelimit.c, and its
 * token-bucket arithmetic: one pure function compiled into both, so the unit tests check
 * exactly what the kernel runs. Fixed-width fields only; change both sides together. */
#ifndef PSC_EGRESS_H
#define PSC_EGRESS_H

#ifndef __VMLINUX_H__
#include <linux/bpf.h>
#include <linux/types.h>
#endif
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define PSC_NSEC_PER_SEC 1000000000ull

/* Tokens are kept in byte-nanoseconds (bytes * 1e9) so that a refill of a few nanoseconds
 * at a low rate is not rounded away: with a packet every microsecond at 4 MB/s a refill
 * in whole bytes would be 4 bytes, and the truncated fractions would add up to a rate
 * error. The scale bounds rate and burst so that nothing overflows 64 bits. */
#define PSC_EGRESS_RATE_MAX  (16ull << 30) /* bytes per second */
#define PSC_EGRESS_BURST_MAX (16ull << 30) /* bytes; burst * 1e9 < 2^64 */

/* Deepest cgroup v2 level whose ancestors the program searches for a bucket. */
#define PSC_EGRESS_MAX_LEVEL 32

/* Token bucket state: what psc_egress_admit() reads and writes. */
struct psc_egress_tb {
	__u64 rate;    /* bytes per second, 1..PSC_EGRESS_RATE_MAX */
	__u64 burst;   /* bytes, 1..PSC_EGRESS_BURST_MAX */
	__u64 tokens;  /* byte-nanoseconds, <= burst * 1e9 */
	__u64 last_ns; /* bpf_ktime_get_ns() of the last refill */
};

/* Value of the `buckets` map, keyed by cgroup v2 id (__u64). The program takes @lock
 * around psc_egress_admit(); user space reads and writes the value with BPF_F_LOCK. */
struct psc_egress_bucket {
	struct bpf_spin_lock lock;
	__u32 pad;
	struct psc_egress_tb tb;
};

/* Value of the per-CPU `stats` map, keyed like `buckets`: counted outside the lock, and
 * never rewritten by user space when the rate changes. */
struct psc_egress_stats {
	__u64 passed_bytes;
	__u64 passed_packets;
	__u64 dropped_bytes;
	__u64 dropped_packets;
};

/* Refills @tb for the time since tb->last_ns (capped at the burst), then takes @len bytes
 * if that many tokens are there. Returns 1 (pass, tokens taken) or 0 (drop, tokens kept).
 * A clock that went backwards (@now_ns < last_ns) refills nothing. @len must be below
 * 2^32; tb->rate must not be 0. */
static __always_inline int psc_egress_admit(struct psc_egress_tb *tb, __u64 now_ns, __u64 len)
{
	__u64 cap = tb->burst * PSC_NSEC_PER_SEC;
	__u64 cost = len * PSC_NSEC_PER_SEC;

	if (now_ns > tb->last_ns) {
		__u64 room = cap > tb->tokens ? cap - tb->tokens : 0;
		__u64 elapsed = now_ns - tb->last_ns;

		/* elapsed * rate may overflow only when it exceeds room: compare first. */
		if (elapsed >= room / tb->rate)
			tb->tokens = cap;
		else
			tb->tokens += elapsed * tb->rate;
		tb->last_ns = now_ns;
	}
	if (tb->tokens < cost)
		return 0;
	tb->tokens -= cost;
	return 1;
}

#endif
