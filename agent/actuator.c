// SPDX-License-Identifier: MIT
/* The direct cgroupfs writer. Files are opened relative to the cgroup's directory (opened
 * once per hierarchy), never created and never through a symlink, so a write can only
 * land in a limit file of the cgroup that was named. */
#include "actuator.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"

/* The kernel refuses CFS quotas below 1 ms. */
#define CFS_QUOTA_MIN_US      1000
#define CFS_PERIOD_DEFAULT_US 100000

struct cgroupfs_actuator {
	struct psc_actuator base;
	struct psc_cgroupfs_layout layout;
};

static const struct cgroupfs_actuator *cga(const struct psc_actuator *a)
{
	return (const struct cgroupfs_actuator *)a;
}

static bool is_v2(const struct psc_actuator *a)
{
	return cga(a)->layout.mode == PSC_CGROUP_V2;
}

static const char *file_of(bool v2, enum psc_res r)
{
	static const char *const v2_files[_PSC_RES_MAX] = {
		[PSC_RES_CPU_MAX] = "cpu.max",	       [PSC_RES_CPU_WEIGHT] = "cpu.weight",
		[PSC_RES_CPU_BURST] = "cpu.max.burst", [PSC_RES_MEM_MIN] = "memory.min",
		[PSC_RES_MEM_HIGH] = "memory.high",    [PSC_RES_MEM_MAX] = "memory.max",
	};
	static const char *const v1_files[_PSC_RES_MAX] = {
		[PSC_RES_CPU_MAX] = "cpu.cfs_quota_us",
		[PSC_RES_CPU_WEIGHT] = "cpu.shares",
		[PSC_RES_CPU_BURST] = "cpu.cfs_burst_us",
		[PSC_RES_MEM_MIN] = NULL,
		[PSC_RES_MEM_HIGH] = "memory.soft_limit_in_bytes",
		[PSC_RES_MEM_MAX] = "memory.limit_in_bytes",
	};

	return v2 ? v2_files[r] : v1_files[r];
}

static bool cgfs_supports(const struct psc_actuator *a, enum psc_res r)
{
	return (unsigned)r < _PSC_RES_MAX && file_of(is_v2(a), r) != NULL;
}

static int cgfs_read(struct psc_actuator *a, const char *cgroup, struct psc_cgroup_limits *out)
{
	return psc_cgroupfs_read_limits(&cga(a)->layout, cgroup, out);
}

static int open_dir(const char *hier, const char *cgroup)
{
	char p[PSC_CGROUPFS_DIR_MAX + PSC_CGROUP_PATH_MAX];
	int n, fd;

	if (!hier[0])
		return -ENOENT;
	n = snprintf(p, sizeof(p), "%s%s", hier, cgroup);
	if (n < 0 || (size_t)n >= sizeof(p))
		return -ENAMETOOLONG;
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	return fd;
}

/* One write(2) of @text: cgroupfs takes a value in one write and reports the kernel's
 * refusal (-EINVAL, -EBUSY) from it. A missing file is -EOPNOTSUPP: the controller is
 * not enabled for this cgroup, or the kernel does not have the knob. */
static int write_at(int dfd, const char *file, const char *text)
{
	_cleanup_close_ int fd = -1;
	size_t len = strlen(text);
	ssize_t n;

	if (dfd < 0)
		return dfd;
	fd = openat(dfd, file, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -EOPNOTSUPP : -errno;
	do
		n = write(fd, text, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* The text to write for @r = @v (in the units of struct psc_cgroup_limits). */
static void format_value(bool v2, enum psc_res r, uint64_t v, uint64_t period, char *buf,
			 size_t size)
{
	switch (r) {
	case PSC_RES_CPU_MAX:
		if (v == PSC_LIMIT_UNLIMITED) {
			if (v2)
				snprintf(buf, size, "max %" PRIu64, period);
			else
				snprintf(buf, size, "-1");
		} else {
			uint64_t quota = v > UINT64_MAX / period ? UINT64_MAX / 1000000
								 : v * period / 1000000;
			if (quota < CFS_QUOTA_MIN_US)
				quota = CFS_QUOTA_MIN_US;
			if (v2)
				snprintf(buf, size, "%" PRIu64 " %" PRIu64, quota, period);
			else
				snprintf(buf, size, "%" PRIu64, quota);
		}
		break;
	case PSC_RES_CPU_WEIGHT:
		snprintf(buf, size, "%" PRIu64, v2 ? v : psc_cgroupfs_weight_to_shares(v));
		break;
	default:
		if (v == PSC_LIMIT_UNLIMITED)
			snprintf(buf, size, v2 ? "max" : "-1");
		else
			snprintf(buf, size, "%" PRIu64, v);
		break;
	}
}

static void cgfs_write(struct psc_actuator *a, const char *cgroup,
		       const struct psc_cgroup_limits *want, const struct psc_cgroup_limits *cur,
		       struct psc_actuator_result *res)
{
	const struct psc_cgroupfs_layout *l = &cga(a)->layout;
	bool v2 = l->mode == PSC_CGROUP_V2;
	_cleanup_close_ int mem_fd = open_dir(v2 ? l->identity : l->memory, cgroup);
	_cleanup_close_ int cpu_fd = open_dir(v2 ? l->identity : l->cpu, cgroup);
	uint64_t period = cur->present & (1u << PSC_RES_CPU_MAX) && cur->cpu_period_us
				  ? cur->cpu_period_us
				  : CFS_PERIOD_DEFAULT_US;
	/* The kernel wants the burst at most the quota: lower the burst before the quota,
	 * raise it after. */
	bool cpu_down = (want->present & cur->present & (1u << PSC_RES_CPU_MAX)) &&
			want->v[PSC_RES_CPU_MAX] < cur->v[PSC_RES_CPU_MAX];
	enum psc_res order[_PSC_RES_MAX] = {
		cpu_down ? PSC_RES_CPU_BURST : PSC_RES_CPU_MAX,
		cpu_down ? PSC_RES_CPU_MAX : PSC_RES_CPU_BURST,
		PSC_RES_CPU_WEIGHT,
		PSC_RES_MEM_MIN,
		PSC_RES_MEM_HIGH,
		PSC_RES_MEM_MAX,
	};

	for (size_t i = 0; i < _PSC_RES_MAX; i++) {
		enum psc_res r = order[i];
		struct psc_actuator_res *x = &res->res[r];
		char text[64];
		bool cpu =
			r == PSC_RES_CPU_MAX || r == PSC_RES_CPU_WEIGHT || r == PSC_RES_CPU_BURST;

		if (!(want->present & (1u << r)))
			continue;
		x->file = file_of(v2, r);
		if (!x->file) {
			x->err = -EOPNOTSUPP;
			continue;
		}
		format_value(v2, r, want->v[r], period, text, sizeof(text));
		x->err = write_at(cpu ? cpu_fd : mem_fd, x->file, text);
	}
}

static void cgfs_free(struct psc_actuator *a)
{
	free(a);
}

static const struct psc_actuator_ops cgroupfs_ops = {
	.name = "cgroupfs",
	.read = cgfs_read,
	.write = cgfs_write,
	.supports = cgfs_supports,
	.free = cgfs_free,
};

int psc_actuator_cgroupfs_new(struct psc_actuator **out, const struct psc_cgroupfs_layout *layout)
{
	struct cgroupfs_actuator *c;

	if (!out || !layout || !layout->identity[0])
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base.ops = &cgroupfs_ops;
	c->layout = *layout;
	*out = &c->base;
	return 0;
}

void psc_actuator_free(struct psc_actuator **a)
{
	if (!a || !*a)
		return;
	(*a)->ops->free(*a);
	*a = NULL;
}

const char *psc_actuator_name(const struct psc_actuator *a)
{
	return a->ops->name;
}

bool psc_actuator_supports(const struct psc_actuator *a, enum psc_res res)
{
	return a->ops->supports(a, res);
}

int psc_actuator_read(struct psc_actuator *a, const char *cgroup, struct psc_cgroup_limits *out)
{
	return a->ops->read(a, cgroup, out);
}

int psc_actuator_apply(struct psc_actuator *a, const char *cgroup,
		       const struct psc_cgroup_limits *want, struct psc_actuator_result *res)
{
	struct psc_cgroup_limits before, after;
	uint32_t asked = want->present & ((1u << _PSC_RES_MAX) - 1);
	int r;

	memset(res, 0, sizeof(*res));
	res->asked = asked;
	r = psc_actuator_read(a, cgroup, &before);
	if (r < 0)
		return r;
	a->ops->write(a, cgroup, want, &before, res);
	if (psc_actuator_read(a, cgroup, &after) < 0)
		memset(&after, 0, sizeof(after));
	for (int i = 0; i < _PSC_RES_MAX; i++) {
		struct psc_actuator_res *x = &res->res[i];
		uint32_t bit = 1u << i;

		if (!(asked & bit))
			continue;
		x->wanted = want->v[i];
		x->has_before = before.present & bit;
		x->before = before.v[i];
		x->has_after = after.present & bit;
		x->after = after.v[i];
		if (x->err == 0)
			res->written |= bit;
	}
	return res->written == asked ? 0 : -EIO;
}

int psc_actuator_revert(struct psc_actuator *a, const char *cgroup,
			const struct psc_cgroup_limits *previous, struct psc_actuator_result *res)
{
	return psc_actuator_apply(a, cgroup, previous, res);
}
