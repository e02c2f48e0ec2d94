/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* The only ABI between prescient's BPF programs and user space. Fixed-width fields only;
 * user space _Static_asserts the sizes. Change both sides together. */
#ifndef PSC_EVENTS_H
#define PSC_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Slots of the per-tgid socket filter (a power of two). */
#define PSC_TGID_SLOTS 65536

/* Largest head the programs can capture; the default is set at load time (head_len). */
#define PSC_HEAD_MAX 1024

enum psc_ev_kind {
	PSC_EV_DATA = 1,  /* a socket read or write with the head of its payload */
	PSC_EV_CLOSE = 2, /* a tracked socket was closed (session ends) */
	PSC_EV_LINK = 3,  /* the header's (server) socket has its client on this host: a
			   * struct psc_link follows; the client's data is no longer captured */
};

enum psc_ev_dir {
	PSC_DIR_INGRESS = 0, /* read-class syscall: bytes came in */
	PSC_DIR_EGRESS = 1,  /* write-class syscall: bytes went out */
};

enum psc_sock_role {
	PSC_ROLE_UNKNOWN = 0, /* found by the start-up scan: role learned from the bytes */
	PSC_ROLE_SERVER = 1,  /* accepted */
	PSC_ROLE_CLIENT = 2,  /* connected */
};

/* Value of the `sockets` map, keyed by (tgid << 32 | fd). */
struct psc_sock_info {
	__u64 open_ns;
	__u64 cgroup_id; /* cgroup of the process when first seen using it (0: not yet) */
	__u16 local_port;
	__u16 remote_port;
	__u8 role;
	__u8 family;
	__u8 pad[2];
	__u32 state; /* enum psc_sock_state, changed atomically */
	__u32 pad2;
	__u64 peer_key;	      /* LINKED: the client's tgid << 32 | fd */
	__u64 peer_cgroup_id; /* LINKED: the client's cgroup */
};

/* The socket table: a direct-mapped array of PSC_SOCK_SLOTS slots (map `sock_slots`,
 * mmap'able) indexed by psc_sock_slot_of(key), key = tgid << 32 | fd (0: free slot); a key
 * whose slot is taken goes to the `sockets` hash instead, whose size the .bss counter
 * `sockets_overflow` holds (lookups skip the hash while it is 0). A slot is claimed by a
 * compare-and-swap of its key from 0 and freed by storing 0. */
#define PSC_SOCK_SLOTS 65536

struct psc_sock_slot {
	__u64 key;
	struct psc_sock_info info;
};

static inline __u32 psc_sock_slot_of(__u64 key)
{
	return (__u32)((key * 0x9E3779B97F4A7C15ull) >> 48); /* top 16 bits: PSC_SOCK_SLOTS */
}

/* Both ends of a TCP connection on this host are tracked: the server's end is LINKED and
 * its data stands for both; the client's end is MIRRORED and not captured (user space
 * mirrors the server's side onto the client's workload). FORKED marks a socket copied to a
 * child process before it could be linked: it is never linked, since another copy would
 * keep being captured. */
enum psc_sock_state {
	PSC_SOCK_OPEN = 0,
	PSC_SOCK_MIRRORED = 1,
	PSC_SOCK_FORKED = 2,
	PSC_SOCK_LINKED = 3,
};

/* Payload of a PSC_EV_LINK event (cap_len = sizeof): the client end of the header's socket.
 * Client data events that precede the link in the ring buffer were captured; none follow.
 * A process that inherits a linked server socket gets a link event of its own. */
struct psc_link {
	__u64 peer_cgroup_id;
	__u64 peer_open_ns;
	__u32 peer_tgid;
	__u32 peer_fd;
	__u16 peer_local_port;
	__u16 peer_remote_port;
	__u32 pad;
};

struct psc_event_hdr {
	__u64 ts_ns;	 /* CLOCK_MONOTONIC (bpf_ktime_get_ns) at syscall exit */
	__u64 cgroup_id; /* inode of the cgroup directory in the identity hierarchy */
	__u64 open_ns;	 /* when the socket was seen opening (0 if found by scan) */
	__u64 size;	 /* bytes the syscall moved */
	__u32 tgid;
	__u32 pid;
	__u32 fd;
	__u32 cap_len; /* bytes of data[] that follow */
	__u16 local_port;
	__u16 remote_port;
	__u8 kind; /* enum psc_ev_kind */
	__u8 dir;  /* enum psc_ev_dir */
	__u8 role; /* enum psc_sock_role */
	__u8 pad;
};

struct psc_event {
	struct psc_event_hdr hdr;
	__u8 data[PSC_HEAD_MAX];
};

/* Per-cgroup counters, aggregated in the kernel (per-CPU hash keyed by cgroup id):
 * connection events, and the bytes and calls of socket events the ring buffer could not
 * take. Bytes and calls of delivered events are summed by user space from the events. */
struct psc_cg_counters {
	__u64 rx_bytes;
	__u64 tx_bytes;
	__u64 rx_calls;
	__u64 tx_calls;
	__u64 accepts;
	__u64 connects;
	__u64 closes;
};

/* Indices of the per-CPU `drops` array: every loss is counted. */
enum psc_drop {
	PSC_DROP_RINGBUF = 0, /* ring buffer full: an event was lost */
	PSC_DROP_SOCK_MAP,    /* sockets map full: a socket is not tracked */
	PSC_DROP_CG_MAP,      /* cgroup counter map full: counters of one cgroup lost */
	PSC_DROP_READ,	      /* reading user memory failed: event sent without data */
	_PSC_DROP_MAX,
};

/* Indices of the per-CPU `stats` array. */
enum psc_stat {
	PSC_STAT_EVENTS = 0, /* events submitted to the ring buffer */
	PSC_STAT_WAKEUPS,    /* forced wakeups of user space */
	PSC_STAT_FORK_COPIES, /* sockets copied to a forked child */
	PSC_STAT_LINKS,	      /* client sockets linked to their local server */
	PSC_STAT_MIRRORED,    /* data syscalls of linked clients, not captured */
	_PSC_STAT_MAX,
};

#endif
