/* SPDX-License-Identifier: MIT */
/* The one module that writes cgroup limits (DESIGN.md section 6, "Respect the cgroup's
 * owner"). Its interface is three operations on a cgroup named by its path in the identity
 * hierarchy: read the limits in effect, apply new ones (and read back what took effect),
 * revert to values read earlier. Behind it sits one implementation now, the direct
 * cgroupfs writer, for cgroups no manager owns; owner-aware actuators (systemd
 * set-property over D-Bus, a Kubernetes in-place resize) would implement the same
 * struct psc_actuator_ops.
 *
 * Library code: no logging above debug (the caller logs every write from the result);
 * errors are negative errnos. Values are in the units of struct psc_cgroup_limits
 * (agent/cgroupfs.h); PSC_LIMIT_UNLIMITED writes "max" (v1: -1) where a limit can be
 * removed. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cgroupfs.h"

/* What happened to one resource in psc_actuator_apply(). */
struct psc_actuator_res {
	int err;	  /* 0 written; negative errno: not written (-EOPNOTSUPP: no such
			   * file on this host, e.g. memory_min on cgroup v1) */
	const char *file; /* the file written (or that would be), e.g. "memory.max" */
	uint64_t before;  /* read before the write (PSC_LIMIT_UNLIMITED: no limit) */
	uint64_t wanted;  /* what was asked */
	uint64_t after;	  /* read back after the write: what took effect */
	bool has_before, has_after;
};

struct psc_actuator_result {
	uint32_t asked;	  /* resources asked (bits 1u << enum psc_res) */
	uint32_t written; /* of those, written without error */
	struct psc_actuator_res res[_PSC_RES_MAX];
};

struct psc_actuator;

/* An actuator implementation. @write sets every resource present in @want, in an order
 * that the kernel accepts (e.g. cpu burst below the new quota), and records per resource
 * the file and the error in @res (before/after are filled by the caller). */
struct psc_actuator_ops {
	const char *name;
	int (*read)(struct psc_actuator *a, const char *cgroup, struct psc_cgroup_limits *out);
	void (*write)(struct psc_actuator *a, const char *cgroup,
		      const struct psc_cgroup_limits *want, const struct psc_cgroup_limits *current,
		      struct psc_actuator_result *res);
	/* Can this cgroup's host carry @res at all? (memory_min: not on cgroup v1.) */
	bool (*supports)(const struct psc_actuator *a, enum psc_res res);
	void (*free)(struct psc_actuator *a);
};

struct psc_actuator {
	const struct psc_actuator_ops *ops;
};

/* The direct cgroupfs writer over @layout (copied): v2 files in the identity hierarchy,
 * v1 memory files in the memory hierarchy and cpu files in the cpu hierarchy under the
 * same path. Returns 0 with *@out owned by the caller (psc_actuator_free()), -EINVAL
 * (no identity hierarchy) or -ENOMEM; *@out untouched on failure. */
int psc_actuator_cgroupfs_new(struct psc_actuator **out, const struct psc_cgroupfs_layout *layout);
void psc_actuator_free(struct psc_actuator **a);

/* The actuator's name ("cgroupfs"). */
const char *psc_actuator_name(const struct psc_actuator *a);
bool psc_actuator_supports(const struct psc_actuator *a, enum psc_res res);

/* Reads the limits in effect on @cgroup. Returns 0 or a negative errno (-ENOENT: no such
 * cgroup; -EINVAL: a bad path). */
int psc_actuator_read(struct psc_actuator *a, const char *cgroup, struct psc_cgroup_limits *out);

/* Writes every resource present in @want to @cgroup and reads back what took effect
 * (the kernel rounds memory to pages and may refuse, e.g. a v1 memory limit below what it
 * can reclaim: -EBUSY). Resources fail independently: @res says which were written.
 * Returns 0 when every asked resource was written, -EIO when some were not (see @res), or
 * the read error when the cgroup cannot be read at all (nothing written). */
int psc_actuator_apply(struct psc_actuator *a, const char *cgroup,
		       const struct psc_cgroup_limits *want, struct psc_actuator_result *res);

/* Restores values read earlier (e.g. struct psc_actuator_res.before, or a
 * psc_actuator_read() result): the same as psc_actuator_apply() with @previous. */
int psc_actuator_revert(struct psc_actuator *a, const char *cgroup,
			const struct psc_cgroup_limits *previous, struct psc_actuator_result *res);
