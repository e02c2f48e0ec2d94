/* SPDX-License-Identifier: MIT */
/* The agent's capabilities after start-up (issue 7, security): once its BPF programs are
 * loaded and attached, the agent keeps only what the running loop uses and drops every
 * other capability from its effective, permitted, inheritable, ambient and bounding sets,
 * and sets no_new_privs, so that a bug in a parser cannot be turned into loading a module,
 * killing processes, changing uids or anything else root could do.
 *
 * What the running agent still uses was found by trying, on 6.18 with
 * unprivileged_bpf_disabled = 2: the agent ran tests/integration/test_agent_caps.sh with
 * each candidate removed (without CAP_NET_ADMIN the egress attach fails with EPERM;
 * without the others everything still worked):
 *   CAP_BPF             only on kernels that check it on every bpf() command (before
 *                       6.6 with kernel.unprivileged_bpf_disabled set): reading and
 *                       updating the maps it already holds (kernel counters, socket map
 *                       sweeps, the rate limiter's buckets). Probed, not assumed: the
 *                       agent tries a map command with CAP_BPF out of its effective set
 *                       and keeps it only when the kernel refuses (6.18: not needed).
 * and with --manage only (adjustments are applied at any time):
 *   CAP_NET_ADMIN       attaching the egress cgroup_skb program to a workload's cgroup
 *                       (BPF_LINK_CREATE refuses a cgroup_skb attach without it: EPERM)
 *   CAP_DAC_OVERRIDE    writing the cgroup files of delegated subtrees, which belong to
 *                       their delegate user (root-owned cgroup files need nothing: the
 *                       agent's uid is their owner's)
 * What is not needed once running, though it was at start: CAP_SYS_ADMIN and CAP_PERFMON
 * (loading and attaching the programs), CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (reading
 * other processes' /proc/PID/fd happens only in the socket seeding before the drop; the
 * sweep of exited processes asks kill(pid, 0), which says ESRCH without any capability).
 * Everything else (CAP_SYS_MODULE, CAP_SETUID, CAP_KILL, CAP_NET_RAW, CAP_SYS_BOOT, ...)
 * goes as well. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bit i of a set is capability i (as in /proc/PID/status CapEff). */
#define PSC_CAP_BIT(c) (UINT64_C(1) << (c))

/* The capabilities the running agent keeps; @manage: it applies adjustments; @bpf: the
 * kernel wants CAP_BPF for commands on maps already open. */
uint64_t psc_caps_needed(bool manage, bool bpf);

/* Writes the names of @set ("cap_bpf,cap_sys_ptrace"; "none" for an empty set) into @buf
 * (always NUL-terminated when @size > 0). Returns the length it needed (as snprintf). */
int psc_caps_format(uint64_t set, char *buf, size_t size);

/* Reduces this process to @keep: drops every other capability up to the kernel's last one
 * (/proc/sys/kernel/cap_last_cap) from the bounding set (needs CAP_SETPCAP: without it the
 * bounding set stays and this is not an error), clears the ambient and inheritable sets,
 * sets effective = permitted = @keep & permitted, and sets no_new_privs. Returns 0 with
 * the resulting effective set in *@kept (may be NULL), or a negative errno (the process
 * may then hold fewer capabilities than before, never more). Does not log. */
int psc_caps_drop(uint64_t keep, uint64_t *kept);

/* The agent's start-up step, once everything is loaded and attached: probes whether a
 * command on the BPF map @map_fd still works without CAP_BPF in the effective set, then
 * psc_caps_drop(psc_caps_needed(@manage, refused)) and one log line with the kept set
 * (AGENT-CAPS). Returns 0 or a negative errno (logged). */
int psc_caps_restrict_agent(bool manage, int map_fd);
