// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Egress rate limit per workload: a token bucket per cgroup v2 directory, enforced on
 * every packet its sockets send (cgroup_skb/egress: return 1 passes, 0 drops). A dropped
 * TCP segment is a failed local transmit: TCP keeps it queued and tries again on the next
 * ACK or, with nothing in flight, on its probe timer, so the stream's throughput settles
 * near the rate provided the burst covers that timer (see PSC_RATELIMIT_BURST_MS).
 * Returning 2 (drop with congestion notification, TCP enters CWR) measured the same on
 * loopback, so the plain drop stays.
 *
 * One program, attached (one bpf_link each) to every limited workload's directory, and a
 * hash map keyed by cgroup v2 id. The program cannot tell which of its attachments runs
 * it, so the bucket is found from the packet: the id of the socket's cgroup
 * (bpf_skb_cgroup_id) first, which is the workload's own directory in the common case,
 * then the socket cgroup's ancestors from the deepest up, so that a workload with child
 * cgroups (a pod and its containers) shares one bucket. User space never limits two
 * nested directories, so the nearest bucket is the only one and a packet that runs the
 * program twice (once per attached ancestor) cannot meet two buckets. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "egress.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct psc_egress_bucket);
} buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct psc_egress_stats);
} stats SEC(".maps");

static __always_inline struct psc_egress_bucket *find_bucket(struct __sk_buff *skb, __u64 *id)
{
	struct psc_egress_bucket *b;

	*id = bpf_skb_cgroup_id(skb);
	b = bpf_map_lookup_elem(&buckets, id);
	if (b)
		return b;
	for (int level = PSC_EGRESS_MAX_LEVEL; level >= 0; level--) {
		*id = bpf_skb_ancestor_cgroup_id(skb, level);
		if (!*id)
			continue;
		b = bpf_map_lookup_elem(&buckets, id);
		if (b)
			return b;
	}
	return NULL;
}

SEC("cgroup_skb/egress")
int egress_limit(struct __sk_buff *skb)
{
	struct psc_egress_bucket *b;
	struct psc_egress_stats *st;
	__u64 now = bpf_ktime_get_ns();
	__u64 len = skb->len;
	__u64 id;
	int pass;

	b = find_bucket(skb, &id);
	if (!b)
		return 1; /* being cleared: the link goes before the map entry */
	bpf_spin_lock(&b->lock);
	pass = psc_egress_admit(&b->tb, now, len);
	bpf_spin_unlock(&b->lock);

	st = bpf_map_lookup_elem(&stats, &id);
	if (st) {
		if (pass) {
			st->passed_bytes += len;
			st->passed_packets++;
		} else {
			st->dropped_bytes += len;
			st->dropped_packets++;
		}
	}
	return pass;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
