/* SPDX-License-Identifier: MIT */
/* The one place that loads and attaches prescient's BPF programs:
 * probe -> open -> set rodata and map sizes -> load -> attach (each program on its own, so
 * one the kernel cannot run is disabled and reported, not fatal) -> destroy.
 * Every failure says which requirement is missing (root, BTF, tracefs, a tracepoint, the
 * verifier) in words, never a bare libbpf error; libbpf's own messages go through our
 * logger at debug level. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct capture_bpf;
struct psc_socktable;

struct psc_loader_opts {
	uint32_t head_len;	/* bytes of each socket message captured, 1..PSC_HEAD_MAX */
	uint32_t ringbuf_bytes; /* power of two, >= 4096 */
	bool use_v1_memcg;	/* identity hierarchy is cgroup v1 memory (hybrid hosts) */
	uint32_t sample_every;	/* capture one connection in N; 1 = every connection */
	bool exit_one_program;	/* the exits in one tp_btf/sys_exit program where the kernel
				 * attaches it (benchmarks); default one sys_exit_* tracepoint
				 * per syscall, which costs the host's other syscalls less */
};

struct psc_loader;

/* Loads and attaches. On success *out owns the skeleton; on failure returns a negative
 * errno after logging why, and *out is untouched. */
int psc_loader_new(struct psc_loader **out, const struct psc_loader_opts *opts);
void psc_loader_free(struct psc_loader **loader);

/* The loaded skeleton (owned by the loader). */
struct capture_bpf *psc_loader_skel(struct psc_loader *loader);

/* The kernel's socket table (events.h), mapped into this process by the loader; valid
 * until psc_loader_free(). */
void psc_loader_socktable(struct psc_loader *loader, struct psc_socktable *out);

/* How many programs are attached, and how many were disabled by feature probing. */
unsigned psc_loader_attached(const struct psc_loader *loader);
unsigned psc_loader_disabled(const struct psc_loader *loader);
