// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Socket capture on syscall tracepoints only (no kprobes, no fentry).
 *
 * Cost model (see DESIGN.md section 2): every read/write-class syscall on the host pays one
 * hash lookup of (tgid, fd) in `sockets`; only tracked sockets pay more. Sockets become
 * tracked at accept (server side) and connect (client side), are inherited by forked
 * children, and are untracked at close; user space seeds pre-existing sockets at start and
 * sweeps entries of processes that exited. Counts and sums are aggregated here per cgroup;
 * only message heads travel through the ring buffer, without a wakeup per event. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "events.h"

#define AF_INET 2
#define AF_INET6 10

/* Set by the loader before load. */
const volatile __u32 head_len = 256;
const volatile __u32 use_v1_memcg = 0;		/* cgroup identity: v1 memory hierarchy */
const volatile __u64 wakeup_bytes = 256 * 1024; /* wake user space past this fill level */
const volatile __u32 self_tgid = 0;		/* the agent itself is never captured */
const volatile __u32 sample_every = 1;		/* track one connection in N (1: all) */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* tgid << 32 | fd */
	__type(value, struct psc_sock_info);
} sockets SEC(".maps");

/* Tracked sockets per tgid slot (tgid & PSC_TGID_SLOTS - 1): the first thing every hooked
 * syscall reads, a plain load from .bss with no helper call. A slot at 0 means no process
 * hashing there has a tracked socket, so the syscall is filtered out without touching the
 * `sockets` hash. Collisions only cost a hash lookup. User space (seed, sweep) updates it
 * atomically through the skeleton's mmap of .bss. */
__u32 tgid_filter[PSC_TGID_SLOTS];

static __always_inline __u32 *tgid_slot(__u32 tgid)
{
	return &tgid_filter[tgid & (PSC_TGID_SLOTS - 1)];
}

enum io_buf_kind {
	IO_BUF_PLAIN = 0, /* buf is the data */
	IO_BUF_IOVEC = 1, /* buf is a struct iovec array: capture the first one */
	IO_BUF_MSG = 2,	  /* buf is a struct user_msghdr */
	IO_BUF_MMSG = 3,  /* buf is a struct mmsghdr array: capture the first message */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct psc_cg_counters);
} cg_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, _PSC_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, _PSC_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct scratch {
	struct psc_event e;
	__u32 since_query; /* events since the ring buffer's fill level was last checked */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

static __always_inline void count(void *map, __u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(map, &idx);

	if (v)
		*v += 1;
}

static __always_inline __u64 current_cgroup_id(void)
{
	if (use_v1_memcg) {
		struct task_struct *task = (void *)bpf_get_current_task();
		int memcg = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

		return BPF_CORE_READ(task, cgroups, subsys[memcg], cgroup, kn, id);
	}
	return bpf_get_current_cgroup_id();
}

static __always_inline struct psc_cg_counters *cg_counters_get(__u64 cgid)
{
	struct psc_cg_counters *c = bpf_map_lookup_elem(&cg_counters, &cgid);

	if (c)
		return c;
	struct psc_cg_counters zero = {};
	/* -EEXIST from a racing CPU is fine: the lookup below finds its entry. */
	bpf_map_update_elem(&cg_counters, &cgid, &zero, BPF_NOEXIST);
	c = bpf_map_lookup_elem(&cg_counters, &cgid);
	if (!c)
		count(&drops, PSC_DROP_CG_MAP);
	return c;
}

static __always_inline void track_socket(__u32 tgid, __u32 fd, struct psc_sock_info *info)
{
	__u64 key = (__u64)tgid << 32 | fd;

	/* Sampling is per connection, so requests and responses stay paired. */
	if (sample_every > 1 && bpf_get_prandom_u32() % sample_every != 0)
		return;

	if (bpf_map_update_elem(&sockets, &key, info, BPF_NOEXIST) == 0) {
		__sync_fetch_and_add(tgid_slot(tgid), 1);
		return;
	}
	/* Already tracked (e.g. a UDP socket connected again): refresh, count nothing. */
	if (bpf_map_update_elem(&sockets, &key, info, BPF_EXIST))
		count(&drops, PSC_DROP_SOCK_MAP);
}

static __always_inline __u64 wakeup_flag(void)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes) {
		count(&stats, PSC_STAT_WAKEUPS);
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

/* Checking the fill level costs as much as a hash lookup: do it every 16th event per CPU.
 * At 16 events of at most 1 KiB between checks, the ring can never fill unnoticed. */
#define QUERY_EVERY 16

static __always_inline __u64 wakeup_flag_sampled(struct scratch *sc)
{
	if (++sc->since_query < QUERY_EVERY)
		return BPF_RB_NO_WAKEUP;
	sc->since_query = 0;
	return wakeup_flag();
}

static __always_inline void fill_hdr(struct psc_event_hdr *h, __u64 pid_tgid, __u64 cgid,
				     __u32 fd, const struct psc_sock_info *si)
{
	h->ts_ns = bpf_ktime_get_ns();
	h->cgroup_id = cgid;
	h->open_ns = si->open_ns;
	h->tgid = pid_tgid >> 32;
	h->pid = (__u32)pid_tgid;
	h->fd = fd;
	h->local_port = si->local_port;
	h->remote_port = si->remote_port;
	h->role = si->role;
	h->pad = 0;
}

/* ---- socket lifecycle ---------------------------------------------------------------- */

static __always_inline int on_accept_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	int fd = (int)ret;

	if (ret < 0 || tgid == self_tgid)
		return 0;

	/* Once per connection, so the ~300 ns walk to the socket is affordable here. */
	struct task_struct *task = (void *)bpf_get_current_task();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	struct file *file = NULL;
	if (bpf_core_read(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;

	struct psc_sock_info info = {
		.open_ns = bpf_ktime_get_ns(),
		.local_port = BPF_CORE_READ(sk, __sk_common.skc_num),
		.remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)),
		.role = PSC_ROLE_SERVER,
		.family = (__u8)family,
		.cgroup_id = current_cgroup_id(),
	};
	track_socket(tgid, (__u32)fd, &info);

	struct psc_cg_counters *c = cg_counters_get(info.cgroup_id);
	if (c)
		c->accepts++;
	return 0;
}

SEC("tp/syscalls/sys_exit_accept")
int handle_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tp/syscalls/sys_exit_accept4")
int handle_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tp/syscalls/sys_enter_connect")
int handle_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct {
		__u16 family;
		__u16 port;
	} sa = {};

	if (tgid == self_tgid)
		return 0;
	if (bpf_probe_read_user(&sa, sizeof(sa), (void *)ctx->args[1]))
		return 0;
	if (sa.family != AF_INET && sa.family != AF_INET6)
		return 0;

	struct psc_sock_info info = {
		.open_ns = bpf_ktime_get_ns(),
		.remote_port = bpf_ntohs(sa.port),
		.role = PSC_ROLE_CLIENT,
		.family = (__u8)sa.family,
		.cgroup_id = current_cgroup_id(),
	};
	track_socket(tgid, (__u32)ctx->args[0], &info);

	struct psc_cg_counters *c = cg_counters_get(info.cgroup_id);
	if (c)
		c->connects++;
	return 0;
}

SEC("tp/syscalls/sys_enter_close")
int handle_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 fd = (__u32)ctx->args[0];
	__u64 key = (pid_tgid & 0xffffffff00000000ull) | fd;

	if (!*tgid_slot(pid_tgid >> 32))
		return 0;
	struct psc_sock_info *si = bpf_map_lookup_elem(&sockets, &key);
	if (!si)
		return 0;

	__u64 cgid = si->cgroup_id ? si->cgroup_id : current_cgroup_id();
	struct psc_event_hdr *h = bpf_ringbuf_reserve(&events, sizeof(*h), 0);
	if (h) {
		fill_hdr(h, pid_tgid, cgid, fd, si);
		h->kind = PSC_EV_CLOSE;
		h->dir = 0;
		h->size = 0;
		h->cap_len = 0;
		bpf_ringbuf_submit(h, wakeup_flag());
		count(&stats, PSC_STAT_EVENTS);
	} else {
		count(&drops, PSC_DROP_RINGBUF);
	}
	if (bpf_map_delete_elem(&sockets, &key) == 0)
		__sync_fetch_and_add(tgid_slot(pid_tgid >> 32), (__u32)-1);

	struct psc_cg_counters *c = cg_counters_get(cgid);
	if (c)
		c->closes++;
	return 0;
}

/* Sockets a forked child inherits are copied for fds below this bound (a bounded loop:
 * bpf_for_each_map_elem callbacks fail to load with the libbpf of Debian 12). */
#define FORK_COPY_MAX_FD 1024

/* Pre-fork servers (PostgreSQL, Apache) accept in one process and serve in a child. */
SEC("raw_tp/sched_process_fork")
int handle_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (void *)ctx->args[0];
	struct task_struct *child = (void *)ctx->args[1];
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);

	if (ptgid == ctgid) /* a new thread shares the fd table */
		return 0;
	if (!*tgid_slot(ptgid))
		return 0;
	__u32 max_fd = BPF_CORE_READ(parent, files, fdt, max_fds);
	if (max_fd > FORK_COPY_MAX_FD)
		max_fd = FORK_COPY_MAX_FD;
	for (__u32 fd = 0; fd < FORK_COPY_MAX_FD; fd++) {
		if (fd >= max_fd)
			break;
		__u64 key = (__u64)ptgid << 32 | fd;
		struct psc_sock_info *si = bpf_map_lookup_elem(&sockets, &key);
		if (!si)
			continue;
		__u64 child_key = (__u64)ctgid << 32 | fd;
		/* No per-path state in registers: it lets the verifier prune the loop. */
		if (bpf_map_update_elem(&sockets, &child_key, si, BPF_NOEXIST) == 0) {
			__sync_fetch_and_add(tgid_slot(ctgid), 1);
			count(&stats, PSC_STAT_FORK_COPIES);
		}
	}
	return 0;
}

/* ---- data ----------------------------------------------------------------------------- */

/* Everything is done at syscall exit: the syscall's arguments are still in the task's
 * saved user registers (bpf_task_pt_regs), so no enter program has to stash them and no
 * per-thread state is kept between enter and exit. */
static __always_inline int on_io_exit(long ret, __u8 dir, __u8 buf_kind)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!*tgid_slot(pid_tgid >> 32) || ret <= 0)
		return 0;

	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u32 fd = (__u32)PT_REGS_PARM1_SYSCALL(regs);
	__u64 key = (pid_tgid & 0xffffffff00000000ull) | fd;
	struct psc_sock_info *si = bpf_map_lookup_elem(&sockets, &key);
	if (!si)
		return 0;
	/* Sockets found by the start-up scan learn their cgroup on first use. */
	if (!si->cgroup_id)
		si->cgroup_id = current_cgroup_id();

	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc)
		return 0;
	struct psc_event *e = &sc->e;

	fill_hdr(&e->hdr, pid_tgid, si->cgroup_id, fd, si);
	e->hdr.kind = PSC_EV_DATA;
	e->hdr.dir = dir;
	e->hdr.size = ret;

	__u64 src = PT_REGS_PARM2_SYSCALL(regs);
	__u64 avail = ret;
	if (buf_kind == IO_BUF_MMSG) {
		/* ret counts messages, not bytes: the kernel wrote the first one's length. */
		unsigned int first_len = 0;
		struct mmsghdr *mm = (void *)src;
		if (bpf_probe_read_user(&first_len, sizeof(first_len), &mm->msg_len))
			goto no_data;
		avail = first_len;
		e->hdr.size = first_len;
	}
	if (buf_kind == IO_BUF_MSG || buf_kind == IO_BUF_MMSG) {
		struct user_msghdr mh;
		if (bpf_probe_read_user(&mh, sizeof(mh), (void *)src))
			goto no_data;
		src = (__u64)mh.msg_iov;
	}
	if (buf_kind != IO_BUF_PLAIN) {
		struct iovec iv;
		if (bpf_probe_read_user(&iv, sizeof(iv), (void *)src))
			goto no_data;
		src = (__u64)iv.iov_base;
		if (avail > iv.iov_len)
			avail = iv.iov_len;
	}

	__u32 n = avail < head_len ? (__u32)avail : head_len;
	if (n > PSC_HEAD_MAX)
		n = PSC_HEAD_MAX;
	if (bpf_probe_read_user(e->data, n, (void *)src))
		goto no_data;
	e->hdr.cap_len = n;
	goto submit;

no_data:
	count(&drops, PSC_DROP_READ);
	e->hdr.cap_len = 0;
	n = 0;
submit:
	if (bpf_ringbuf_output(&events, e, sizeof(e->hdr) + n, wakeup_flag_sampled(sc)) == 0) {
		count(&stats, PSC_STAT_EVENTS);
		return 0;
	}
	/* Every delivered event carries its size and cgroup, so user space sums socket bytes
	 * and calls from the events themselves; only what the ring buffer could not take is
	 * summed here, keeping the per-cgroup totals exact without a hash update per event. */
	count(&drops, PSC_DROP_RINGBUF);
	struct psc_cg_counters *c = cg_counters_get(e->hdr.cgroup_id);
	if (c) {
		if (e->hdr.dir == PSC_DIR_INGRESS) {
			c->rx_bytes += e->hdr.size;
			c->rx_calls++;
		} else {
			c->tx_bytes += e->hdr.size;
			c->tx_calls++;
		}
	}
	return 0;
}

#define IO_PROGRAMS(name, dir, buf_kind)                                \
	SEC("tp/syscalls/sys_exit_" #name)                              \
	int handle_exit_##name(struct trace_event_raw_sys_exit *ctx)   \
	{                                                               \
		return on_io_exit(ctx->ret, dir, buf_kind);             \
	}

IO_PROGRAMS(read, PSC_DIR_INGRESS, IO_BUF_PLAIN)
IO_PROGRAMS(write, PSC_DIR_EGRESS, IO_BUF_PLAIN)
IO_PROGRAMS(readv, PSC_DIR_INGRESS, IO_BUF_IOVEC)
IO_PROGRAMS(writev, PSC_DIR_EGRESS, IO_BUF_IOVEC)
IO_PROGRAMS(recvfrom, PSC_DIR_INGRESS, IO_BUF_PLAIN)
IO_PROGRAMS(sendto, PSC_DIR_EGRESS, IO_BUF_PLAIN)
IO_PROGRAMS(recvmsg, PSC_DIR_INGRESS, IO_BUF_MSG)
IO_PROGRAMS(sendmsg, PSC_DIR_EGRESS, IO_BUF_MSG)
IO_PROGRAMS(recvmmsg, PSC_DIR_INGRESS, IO_BUF_MMSG)
IO_PROGRAMS(sendmmsg, PSC_DIR_EGRESS, IO_BUF_MMSG)

/* An empty program on the hottest tracepoint: the benchmark's reference for bpf_stats. */
SEC("tp/syscalls/sys_enter_getppid")
int handle_baseline_empty(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
