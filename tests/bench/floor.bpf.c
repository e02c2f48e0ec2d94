// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Empty programs for overhead_floor.sh: what the tracepoint mechanism costs on its own.
 * floor_loader attaches `empty_tp` to every syscall tracepoint the agent's object names and
 * `empty_raw` to its raw tracepoints, or the raw_tp/tp_btf programs below to every syscall. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tp")
int empty_tp(void *ctx)
{
	return 0;
}

SEC("raw_tp")
int empty_raw(void *ctx)
{
	return 0;
}

/* Bit per syscall number to keep: the in-program filter a single sys_exit program would
 * need (set by the loader before load). */
const volatile __u64 keep_nr[8] = {};

SEC("tp_btf/sys_exit")
int exit_filter(__u64 *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	__u64 nr = regs->orig_ax;

	if (nr >= 512 || !(keep_nr[nr / 64 & 7] & (1ull << (nr & 63))))
		return 0;
	return 1;
}

/* Per packet instead of per syscall: what a capture on cgroup_skb would pay at least (mode
 * skb, attached to the benchmark's own cgroup). 1 lets the packet through. */
SEC("cgroup_skb/ingress")
int empty_skb_in(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/egress")
int empty_skb_out(struct __sk_buff *skb)
{
	return 1;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
