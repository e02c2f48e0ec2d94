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

#define AF_INET	 2
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
} sockets SEC(".maps"); /* overflow of sock_slots (see events.h) */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PSC_SOCK_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct psc_sock_slot);
} sock_slots SEC(".maps");

/* Entries in the `sockets` hash; user space updates it atomically too. */
__u32 sockets_overflow;

/* Both ends of a TCP connection on this host: the first of the client's connect exit and
 * the server's accept exit to run leaves its socket here under the connection's 4-tuple;
 * the second finds it and links the pair (see link_pair). LRU: an end whose peer is not on
 * this host, or not tracked, ages out. */
struct peer_key {
	__u32 caddr[4]; /* client address (IPv4: caddr[0]; v4-mapped IPv6 is folded to IPv4) */
	__u32 saddr[4];
	__u16 cport; /* host order */
	__u16 sport;
	__u32 v6;
};

struct peer_val {
	__u64 sock_key; /* tgid << 32 | fd */
	__u64 open_ns;	/* tells a reused (tgid, fd) from the socket that was left here */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct peer_key);
	__type(value, struct peer_val);
} peers SEC(".maps");

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

/* An array lookup is inlined by the verifier (no helper call, no hashing in the kernel):
 * ~50 ns less than a hash lookup on this VM for every socket syscall. */
static __always_inline struct psc_sock_slot *slot_of(__u64 key)
{
	__u32 idx = psc_sock_slot_of(key);

	return bpf_map_lookup_elem(&sock_slots, &idx);
}

static __always_inline struct psc_sock_info *sock_lookup(__u64 key)
{
	struct psc_sock_slot *s = slot_of(key);

	if (s && s->key == key)
		return &s->info;
	if (!sockets_overflow)
		return NULL;
	return bpf_map_lookup_elem(&sockets, &key);
}

/* Inserts @key (not present). The slot's key is published before its fields: no syscall
 * can use a socket that is only being added (accept and connect have not returned yet, a
 * forked child has not run). Returns 0, or -1 if both the slot and the hash are full. */
static __always_inline int sock_insert(__u64 key, const struct psc_sock_info *info)
{
	struct psc_sock_slot *s = slot_of(key);

	if (s && __sync_val_compare_and_swap(&s->key, 0, key) == 0) {
		__builtin_memcpy(&s->info, info, sizeof(*info));
		return 0;
	}
	if (bpf_map_update_elem(&sockets, &key, info, BPF_NOEXIST))
		return -1;
	__sync_fetch_and_add(&sockets_overflow, 1);
	return 0;
}

static __always_inline int sock_delete(__u64 key)
{
	struct psc_sock_slot *s = slot_of(key);

	if (s && s->key == key) {
		s->key = 0;
		return 0;
	}
	if (!sockets_overflow || bpf_map_delete_elem(&sockets, &key))
		return -1;
	__sync_fetch_and_add(&sockets_overflow, (__u32)-1);
	return 0;
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

/* Returns whether the socket is tracked. */
static __always_inline bool track_socket(__u32 tgid, __u32 fd, struct psc_sock_info *info)
{
	__u64 key = (__u64)tgid << 32 | fd;

	/* Sampling is per connection, so requests and responses stay paired. */
	if (sample_every > 1 && bpf_get_prandom_u32() % sample_every != 0)
		return false;

	/* Already tracked: a UDP socket connected again gets its new peer; a TCP client that
	 * calls connect again to learn the outcome (hiredis does) keeps its state and link. */
	struct psc_sock_info *old = sock_lookup(key);
	if (!old) {
		if (sock_insert(key, info) == 0) {
			__sync_fetch_and_add(tgid_slot(tgid), 1);
			return true;
		}
		count(&drops, PSC_DROP_SOCK_MAP);
		return false;
	}
	if (old->state == PSC_SOCK_OPEN) {
		old->remote_port = info->remote_port;
		old->family = info->family;
		old->role = info->role;
	}
	return true;
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

static __always_inline void fill_hdr(struct psc_event_hdr *h, __u64 pid_tgid, __u64 cgid, __u32 fd,
				     const struct psc_sock_info *si)
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

/* The socket behind the current task's @fd: the ~300 ns walk is paid once per connection. */
static __always_inline struct sock *fd_sock(int fd)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	struct file *file = NULL;

	if (fd < 0 || bpf_core_read(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk);
}

static __always_inline void addr_of(__u32 out[4], __u32 *v6, struct sock *sk, bool local)
{
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET) {
		out[0] = local ? BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr)
			       : BPF_CORE_READ(sk, __sk_common.skc_daddr);
		return;
	}
	struct in6_addr a = local ? BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr)
				  : BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);
	/* ::ffff:a.b.c.d, as a dual-stack server sees an IPv4 client */
	if (a.in6_u.u6_addr32[0] == 0 && a.in6_u.u6_addr32[1] == 0 &&
	    a.in6_u.u6_addr32[2] == bpf_htonl(0xffff)) {
		out[0] = a.in6_u.u6_addr32[3];
		return;
	}
	out[0] = a.in6_u.u6_addr32[0];
	out[1] = a.in6_u.u6_addr32[1];
	out[2] = a.in6_u.u6_addr32[2];
	out[3] = a.in6_u.u6_addr32[3];
	*v6 = 1;
}

/* The connection's 4-tuple seen from either end: @sk is the client's or the server's. */
static __always_inline void peer_key_of(struct peer_key *k, struct sock *sk, bool client)
{
	__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	__u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__u32 v6_local = 0, v6_remote = 0;

	addr_of(client ? k->caddr : k->saddr, &v6_local, sk, true);
	addr_of(client ? k->saddr : k->caddr, &v6_remote, sk, false);
	k->v6 = v6_local | v6_remote;
	k->cport = client ? lport : rport;
	k->sport = client ? rport : lport;
}

static __always_inline int emit_link(__u64 srv_key, struct psc_sock_info *srv)
{
	struct {
		struct psc_event_hdr h;
		struct psc_link l;
	} *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(&drops, PSC_DROP_RINGBUF);
		return -1;
	}
	e->h.ts_ns = bpf_ktime_get_ns();
	e->h.cgroup_id = srv->cgroup_id;
	e->h.open_ns = srv->open_ns;
	e->h.size = 0;
	e->h.tgid = srv_key >> 32;
	e->h.pid = srv_key >> 32;
	e->h.fd = (__u32)srv_key;
	e->h.cap_len = sizeof(e->l);
	e->h.local_port = srv->local_port;
	e->h.remote_port = srv->remote_port;
	e->h.kind = PSC_EV_LINK;
	e->h.dir = 0;
	e->h.role = srv->role;
	e->h.pad = 0;
	e->l.peer_cgroup_id = srv->peer_cgroup_id;
	e->l.peer_open_ns = 0;
	e->l.peer_tgid = srv->peer_key >> 32;
	e->l.peer_fd = (__u32)srv->peer_key;
	e->l.peer_local_port = srv->remote_port;
	e->l.peer_remote_port = srv->local_port;
	e->l.pad = 0;
	bpf_ringbuf_submit(e, 0);
	count(&stats, PSC_STAT_EVENTS);
	return 0;
}

/* Links a client socket to its server socket on this host: from now on only the server's
 * data is captured, and a PSC_EV_LINK event tells user space to mirror it onto the client's
 * workload. The client's state changes before the event is reserved, and the client's data
 * path checks the state again after reserving its own record, so every client event that
 * was captured precedes the link in the ring buffer and none follows it. States change by
 * compare-and-swap against handle_fork: a socket copied to a child before the link is never
 * linked, one copied after it is copied linked (the peer fields are written first). */
static __always_inline void link_pair(__u64 srv_key, struct psc_sock_info *srv, __u64 cli_key,
				      struct psc_sock_info *cli)
{
	srv->peer_key = cli_key;
	srv->peer_cgroup_id = cli->cgroup_id;
	if (__sync_val_compare_and_swap(&srv->state, PSC_SOCK_OPEN, PSC_SOCK_LINKED) !=
	    PSC_SOCK_OPEN)
		goto undo_srv_fields;
	if (__sync_val_compare_and_swap(&cli->state, PSC_SOCK_OPEN, PSC_SOCK_MIRRORED) !=
	    PSC_SOCK_OPEN)
		goto undo_srv;
	if (emit_link(srv_key, srv) == 0) {
		count(&stats, PSC_STAT_LINKS);
		return;
	}
	/* User space must hear of every link: undo it, both ends stay captured. */
	cli->state = PSC_SOCK_OPEN;
undo_srv:
	srv->state = PSC_SOCK_OPEN;
undo_srv_fields:
	srv->peer_key = 0;
	srv->peer_cgroup_id = 0;
}

/* Called by each end once its socket is tracked: the second end of a local pair links it. */
static __always_inline void meet_peer(struct sock *sk, bool client, __u64 my_key,
				      struct psc_sock_info *mine)
{
	struct peer_key k = {};
	struct peer_val me = {.sock_key = my_key, .open_ns = mine->open_ns};

	peer_key_of(&k, sk, client);
	if (bpf_map_update_elem(&peers, &k, &me, BPF_NOEXIST) == 0)
		return; /* first end: the other one links, if it is on this host */

	struct peer_val *other = bpf_map_lookup_elem(&peers, &k);
	if (!other)
		return;
	__u64 other_key = other->sock_key;
	__u64 other_open = other->open_ns;
	bpf_map_delete_elem(&peers, &k);

	struct psc_sock_info *theirs = sock_lookup(other_key);
	if (!theirs || theirs->open_ns != other_open || theirs->role == mine->role) {
		/* A stale end (closed, or its fd reused): wait here for the real peer. */
		bpf_map_update_elem(&peers, &k, &me, BPF_ANY);
		return;
	}
	if (client)
		link_pair(other_key, theirs, my_key, mine);
	else
		link_pair(my_key, mine, other_key, theirs);
}

static __always_inline int on_accept_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	int fd = (int)ret;

	if (ret < 0 || tgid == self_tgid)
		return 0;

	struct sock *sk = fd_sock(fd);
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
	if (track_socket(tgid, (__u32)fd, &info)) {
		__u64 key = (__u64)tgid << 32 | (__u32)fd;
		struct psc_sock_info *si = sock_lookup(key);
		if (si)
			meet_peer(sk, false, key, si);
	}

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

#define EINPROGRESS 115
#define SOCK_STREAM 1

/* A TCP client has its local port once connect returns (also -EINPROGRESS): time to look
 * for its server on this host. Before this returns the client cannot have sent anything. */
static __always_inline int on_connect_exit(long ret, int fd)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (ret < 0 && ret != -EINPROGRESS)
		return 0;
	if (!*tgid_slot(pid_tgid >> 32))
		return 0;
	__u64 key = (pid_tgid & 0xffffffff00000000ull) | (__u32)fd;
	struct psc_sock_info *si = sock_lookup(key);
	if (!si || si->role != PSC_ROLE_CLIENT)
		return 0;
	struct sock *sk = fd_sock(fd);
	if (!sk || BPF_CORE_READ(sk, sk_type) != SOCK_STREAM)
		return 0;
	si->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	meet_peer(sk, true, key, si);
	return 0;
}

SEC("tp/syscalls/sys_exit_connect")
int handle_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return on_connect_exit(ctx->ret, (int)PT_REGS_PARM1_SYSCALL(regs));
}

SEC("tp/syscalls/sys_enter_close")
int handle_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 fd = (__u32)ctx->args[0];
	__u64 key = (pid_tgid & 0xffffffff00000000ull) | fd;

	if (!*tgid_slot(pid_tgid >> 32))
		return 0;
	struct psc_sock_info *si = sock_lookup(key);
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
	if (sock_delete(key) == 0)
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
		struct psc_sock_info *si = sock_lookup(key);
		if (!si)
			continue;
		/* An open socket copied now could later be linked while another copy is still
		 * captured: it stays unlinkable. A linked one is copied linked. */
		__sync_val_compare_and_swap(&si->state, PSC_SOCK_OPEN, PSC_SOCK_FORKED);
		__u64 child_key = (__u64)ctgid << 32 | fd;
		/* No per-path state in registers: it lets the verifier prune the loop. */
		if (!sock_lookup(child_key) && sock_insert(child_key, si) == 0) {
			__sync_fetch_and_add(tgid_slot(ctgid), 1);
			count(&stats, PSC_STAT_FORK_COPIES);
			/* The child serves the linked client now: user space mirrors its data. */
			struct psc_sock_info *ci = sock_lookup(child_key);
			if (ci && ci->state == PSC_SOCK_LINKED)
				emit_link(child_key, ci);
		}
	}
	return 0;
}

/* ---- data ----------------------------------------------------------------------------- */

/* Records are reserved in three sizes (the verifier wants a constant): most heads of
 * request/response traffic fit the smallest, and the head is read straight into the ring. */
#define HEAD_SMALL 64
#define HEAD_MID   256

struct ev_small {
	struct psc_event_hdr hdr;
	__u8 data[HEAD_SMALL];
};

struct ev_mid {
	struct psc_event_hdr hdr;
	__u8 data[HEAD_MID];
};

static __always_inline void count_lost(__u64 cgid, __u8 dir, __u64 size)
{
	count(&drops, PSC_DROP_RINGBUF);
	/* Every delivered event carries its size and cgroup, so user space sums socket bytes
	 * and calls from the events themselves; only what the ring buffer could not take is
	 * summed here, keeping the per-cgroup totals exact without a hash update per event. */
	struct psc_cg_counters *c = cg_counters_get(cgid);
	if (c) {
		if (dir == PSC_DIR_INGRESS) {
			c->rx_bytes += size;
			c->rx_calls++;
		} else {
			c->tx_bytes += size;
			c->tx_calls++;
		}
	}
}

/* A compat (ia32) syscall: its numbers differ from x86-64's (see handle_sys_exit). */
static __always_inline bool compat_syscall(void)
{
#ifdef __TARGET_ARCH_x86
	struct task_struct *t = bpf_get_current_task_btf();

	return t->thread_info.status & 0x0002 /* TS_COMPAT */;
#else
	return false;
#endif
}

/* Everything is done at syscall exit: the syscall's arguments are still in the task's
 * saved user registers (bpf_task_pt_regs), so no enter program has to stash them and no
 * per-thread state is kept between enter and exit. */
static __always_inline int on_io_exit(struct pt_regs *regs, long ret, __u8 dir, __u8 buf_kind)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!*tgid_slot(pid_tgid >> 32) || ret <= 0)
		return 0;

	bool one_exit = regs != NULL; /* handle_sys_exit: a compat syscall may land here */
	if (!regs)
		regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u32 fd = (__u32)PT_REGS_PARM1_SYSCALL(regs);
	__u64 key = (pid_tgid & 0xffffffff00000000ull) | fd;
	struct psc_sock_info *si = sock_lookup(key);
	if (!si)
		return 0;
	if (si->state == PSC_SOCK_MIRRORED) {
		count(&stats, PSC_STAT_MIRRORED);
		return 0;
	}
	if (one_exit && compat_syscall())
		return 0;
	/* Sockets found by the start-up scan learn their cgroup on first use. */
	if (!si->cgroup_id)
		si->cgroup_id = current_cgroup_id();

	__u64 size = ret;
	__u64 src = PT_REGS_PARM2_SYSCALL(regs);
	__u64 avail = ret;
	bool readable = true;
	if (buf_kind == IO_BUF_MMSG) {
		/* ret counts messages, not bytes: the kernel wrote the first one's length. */
		unsigned int first_len = 0;
		struct mmsghdr *mm = (void *)src;
		if (bpf_probe_read_user(&first_len, sizeof(first_len), &mm->msg_len))
			readable = false;
		avail = first_len;
		size = first_len;
	}
	if (readable && (buf_kind == IO_BUF_MSG || buf_kind == IO_BUF_MMSG)) {
		struct user_msghdr mh;
		if (bpf_probe_read_user(&mh, sizeof(mh), (void *)src))
			readable = false;
		src = (__u64)mh.msg_iov;
	}
	if (readable && buf_kind != IO_BUF_PLAIN) {
		struct iovec iv;
		if (bpf_probe_read_user(&iv, sizeof(iv), (void *)src))
			readable = false;
		src = (__u64)iv.iov_base;
		if (avail > iv.iov_len)
			avail = iv.iov_len;
	}
	__u32 n = avail < head_len ? (__u32)avail : head_len;
	if (!readable)
		n = 0;

	struct scratch *sc = NULL;
	struct psc_event_hdr *h;
	__u8 *data;
	__u32 cap;
	if (n <= HEAD_SMALL) {
		struct ev_small *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		h = e ? &e->hdr : NULL;
		data = e ? e->data : NULL;
		cap = HEAD_SMALL;
	} else if (n <= HEAD_MID) {
		struct ev_mid *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		h = e ? &e->hdr : NULL;
		data = e ? e->data : NULL;
		cap = HEAD_MID;
	} else {
		struct psc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		h = e ? &e->hdr : NULL;
		data = e ? e->data : NULL;
		cap = PSC_HEAD_MAX;
	}
	if (!h) {
		count_lost(si->cgroup_id, dir, size);
		return 0;
	}
	/* Linked by the server's accept while this ran: the link event precedes this record,
	 * so user space takes this syscall from the server's side. */
	if (si->state == PSC_SOCK_MIRRORED) {
		bpf_ringbuf_discard(h, BPF_RB_NO_WAKEUP);
		count(&stats, PSC_STAT_MIRRORED);
		return 0;
	}
	fill_hdr(h, pid_tgid, si->cgroup_id, fd, si);
	h->kind = PSC_EV_DATA;
	h->dir = dir;
	h->size = size;
	if (n > cap)
		n = cap;
	if (n > PSC_HEAD_MAX)
		n = PSC_HEAD_MAX;
	h->cap_len = n;
	if (!readable || (n && bpf_probe_read_user(data, n, (void *)src))) {
		count(&drops, PSC_DROP_READ);
		h->cap_len = 0;
	}

	__u32 zero = 0;
	sc = bpf_map_lookup_elem(&scratch, &zero);
	bpf_ringbuf_submit(h, sc ? wakeup_flag_sampled(sc) : BPF_RB_NO_WAKEUP);
	count(&stats, PSC_STAT_EVENTS);
	return 0;
}

#define IO_PROGRAMS(name, dir, buf_kind)                                                           \
	SEC("tp/syscalls/sys_exit_" #name)                                                         \
	int handle_exit_##name(struct trace_event_raw_sys_exit *ctx)                               \
	{                                                                                          \
		return on_io_exit(NULL, ctx->ret, dir, buf_kind);                                  \
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

/* One program on the raw sys_exit tracepoint instead of one per syscall (the loader picks
 * it when the kernel can attach it): on this VM a syscall hooked through its own tracepoint
 * costs ~160 ns with an empty program (perf_syscall_exit, the perf buffer, trace_call_bpf),
 * through tp_btf/sys_exit with a syscall-number test ~95 ns, while an unhooked syscall pays
 * ~45 ns more for the test (tests/bench/overhead_floor.sh). Data syscalls dominate the
 * traffic the agent watches, and the saved registers come as an argument instead of through
 * bpf_task_pt_regs. The numbers are x86-64's; compat (ia32) syscalls number differently and
 * are left alone, as the per-syscall tracepoints do. */
#ifdef __TARGET_ARCH_x86
SEC("tp_btf/sys_exit")
int BPF_PROG(handle_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = regs->orig_ax;
	__u8 dir, kind;

	switch (nr) {
	case 0: /* read */
		dir = PSC_DIR_INGRESS, kind = IO_BUF_PLAIN;
		break;
	case 1: /* write */
		dir = PSC_DIR_EGRESS, kind = IO_BUF_PLAIN;
		break;
	case 19: /* readv */
		dir = PSC_DIR_INGRESS, kind = IO_BUF_IOVEC;
		break;
	case 20: /* writev */
		dir = PSC_DIR_EGRESS, kind = IO_BUF_IOVEC;
		break;
	case 44: /* sendto */
		dir = PSC_DIR_EGRESS, kind = IO_BUF_PLAIN;
		break;
	case 45: /* recvfrom */
		dir = PSC_DIR_INGRESS, kind = IO_BUF_PLAIN;
		break;
	case 46: /* sendmsg */
		dir = PSC_DIR_EGRESS, kind = IO_BUF_MSG;
		break;
	case 47: /* recvmsg */
		dir = PSC_DIR_INGRESS, kind = IO_BUF_MSG;
		break;
	case 299: /* recvmmsg */
		dir = PSC_DIR_INGRESS, kind = IO_BUF_MMSG;
		break;
	case 307: /* sendmmsg */
		dir = PSC_DIR_EGRESS, kind = IO_BUF_MMSG;
		break;
	case 42: /* connect */
		return compat_syscall() ? 0
					: on_connect_exit(ret, (int)PT_REGS_PARM1_SYSCALL(regs));
	case 43:  /* accept */
	case 288: /* accept4 */
		return compat_syscall() ? 0 : on_accept_exit(ret);
	default:
		return 0;
	}
	return on_io_exit(regs, ret, dir, kind);
}
#endif

/* An empty program on the hottest tracepoint: the benchmark's reference for bpf_stats. */
SEC("tp/syscalls/sys_enter_getppid")
int handle_baseline_empty(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
