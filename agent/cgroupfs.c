// SPDX-License-Identifier: MIT
/* cgroupfs reader. Every file is parsed strictly: a value that does not parse, overflows
 * or is missing leaves its field absent instead of guessing, because a wrong number in a
 * window is worse than no number. Cgroup directories are opened once per hierarchy and
 * their files read with openat(), so a cgroup that is removed mid-read is seen as gone
 * rather than mixing two cgroups' figures. */
#include "cgroupfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

/* Largest cgroup file read. io.stat grows with the number of block devices; 64 KiB is
 * hundreds of devices. Larger files leave their fields absent. */
#define CG_FILE_MAX (64 * 1024)

static int path_join(char *out, size_t size, const char *a, const char *b)
{
	int n = snprintf(out, size, "%s%s", a, b);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

static bool path_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool path_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Sets @dst to @dir + "/" + @name when @dir/@name/@probe exists. */
static bool find_hier(char *dst, const char *root, const char *name, const char *probe)
{
	char p[PSC_CGROUPFS_DIR_MAX + 64];
	int n = snprintf(p, sizeof(p), "%s/%s/%s", root, name, probe);

	if (n < 0 || (size_t)n >= sizeof(p) || !path_exists(p))
		return false;
	n = snprintf(dst, PSC_CGROUPFS_DIR_MAX, "%s/%s", root, name);
	if (n < 0 || n >= PSC_CGROUPFS_DIR_MAX) {
		dst[0] = '\0';
		return false;
	}
	return true;
}

/* Does the whitespace-separated list in @text hold @word? */
static bool list_has(const char *text, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = text; *p;) {
		size_t n;

		while (*p == ' ' || *p == '\n' || *p == '\t')
			p++;
		n = strcspn(p, " \n\t");
		if (n == wl && strncmp(p, word, wl) == 0)
			return true;
		p += n;
	}
	return false;
}

/* Reads the file @name in directory @dfd into @buf (capacity @size, NUL-terminated).
 * Returns the length, -EFBIG when it does not fit, or a negative errno. */
static ssize_t read_text_at(int dfd, const char *name, char *buf, size_t size)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t len = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r;

		if (len + 1 >= size)
			return -EFBIG;
		r = read(fd, buf + len, size - 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len))
		return -EINVAL; /* binary garbage: nothing below expects NULs */
	return (ssize_t)len;
}

/* Parses decimal digits at @s into *@out; *@end points past them. No sign, no spaces. */
static int parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*end = p;
	*out = v;
	return 0;
}

static bool at_line_end(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\n' || *p == '\0';
}

/* A file holding one number ("123\n"). */
static int parse_single(const char *text, uint64_t *out)
{
	const char *end;
	int r = parse_u64(text, &end, out);

	if (r < 0)
		return r;
	if (*end == '\n')
		end++;
	return *end == '\0' ? 0 : -EINVAL;
}

/* Finds "@key <number>" as a line of a flat keyed file (cpu.stat, memory.stat). */
static int parse_keyed(const char *text, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);

	for (const char *line = text; *line; line = strchrnul(line, '\n'), line += *line == '\n') {
		const char *end;
		int r;

		if (strncmp(line, key, kl) != 0 || line[kl] != ' ')
			continue;
		r = parse_u64(line + kl + 1, &end, out);
		if (r < 0)
			return r;
		return at_line_end(end) ? 0 : -EINVAL;
	}
	return -ENOENT;
}

static bool add_u64(uint64_t *acc, uint64_t v)
{
	if (*acc > UINT64_MAX - v)
		return false;
	*acc += v;
	return true;
}

/* Is @p at "MAJ:MIN" followed by a space? Returns the position after the space. */
static const char *skip_devno(const char *p)
{
	const char *end;
	uint64_t v;

	if (parse_u64(p, &end, &v) < 0 || *end != ':')
		return NULL;
	if (parse_u64(end + 1, &end, &v) < 0 || *end != ' ')
		return NULL;
	return end + 1;
}

/* v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device. */
static int parse_io_stat(const char *text, uint64_t *rd, uint64_t *wr)
{
	*rd = *wr = 0;
	for (const char *line = text; *line; line = strchrnul(line, '\n'), line += *line == '\n') {
		const char *p;

		if (*line == '\n')
			continue;
		p = skip_devno(line);
		if (!p)
			return -EINVAL;
		while (*p && *p != '\n') {
			size_t kl = strcspn(p, "= \n");
			const char *end;
			uint64_t v;

			if (p[kl] != '=' || parse_u64(p + kl + 1, &end, &v) < 0)
				return -EINVAL;
			if (kl == 6 && strncmp(p, "rbytes", 6) == 0 && !add_u64(rd, v))
				return -ERANGE;
			if (kl == 6 && strncmp(p, "wbytes", 6) == 0 && !add_u64(wr, v))
				return -ERANGE;
			p = end;
			while (*p == ' ')
				p++;
		}
	}
	return 0;
}

/* v1 blkio.*io_service_bytes*: "8:0 Read 4096" ... "8:0 Total 4096" per device, then
 * "Total 4096". Only the per-device Read and Write lines are summed. */
static int parse_blkio(const char *text, uint64_t *rd, uint64_t *wr)
{
	*rd = *wr = 0;
	for (const char *line = text; *line; line = strchrnul(line, '\n'), line += *line == '\n') {
		const char *p, *end;
		size_t ol;
		uint64_t v;

		if (*line == '\n')
			continue;
		if (strncmp(line, "Total ", 6) == 0) {
			if (parse_u64(line + 6, &end, &v) < 0 || !at_line_end(end))
				return -EINVAL;
			continue;
		}
		p = skip_devno(line);
		if (!p)
			return -EINVAL;
		ol = strcspn(p, " \n");
		if (p[ol] != ' ' || parse_u64(p + ol + 1, &end, &v) < 0 || !at_line_end(end))
			return -EINVAL;
		if (ol == 4 && strncmp(p, "Read", 4) == 0 && !add_u64(rd, v))
			return -ERANGE;
		if (ol == 5 && strncmp(p, "Write", 5) == 0 && !add_u64(wr, v))
			return -ERANGE;
	}
	return 0;
}

/* "12.34" -> 12.34; at most 9 integer digits, fraction digits beyond 9 ignored. */
static int parse_decimal(const char *s, const char **end, double *out)
{
	uint64_t ip, frac = 0, scale = 1;
	const char *p;
	int r = parse_u64(s, &p, &ip);

	if (r < 0)
		return r;
	if (ip > 999999999)
		return -ERANGE;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale < 1000000000ull) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
		}
	}
	*end = p;
	*out = (double)ip + (double)frac / (double)scale;
	return 0;
}

/* One PSI line after its "some "/"full " tag: avg10=.. avg60=.. avg300=.. total=.. */
static int parse_psi_fields(const char *p, double *avg10, uint64_t *total)
{
	static const char *const keys[] = { "avg10=", "avg60=", "avg300=" };
	double d;

	for (size_t i = 0; i < PSC_ARRAY_SIZE(keys); i++) {
		size_t kl = strlen(keys[i]);

		if (strncmp(p, keys[i], kl) != 0 || parse_decimal(p + kl, &p, &d) < 0 || *p != ' ')
			return -EINVAL;
		if (i == 0)
			*avg10 = d;
		p++;
	}
	if (strncmp(p, "total=", 6) != 0 || parse_u64(p + 6, &p, total) < 0 || !at_line_end(p))
		return -EINVAL;
	return 0;
}

int psc_cgroupfs_parse_psi(const char *text, size_t len, struct psc_psi *out, bool *has_full)
{
	char buf[512];
	bool some = false;

	if (!text || !out || !has_full)
		return -EINVAL;
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (strlen(buf) != len)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	*has_full = false;
	for (const char *line = buf; *line; line = strchrnul(line, '\n'), line += *line == '\n') {
		if (strncmp(line, "some ", 5) == 0) {
			if (parse_psi_fields(line + 5, &out->some_avg10, &out->some_total_us) < 0)
				return -EINVAL;
			some = true;
		} else if (strncmp(line, "full ", 5) == 0) {
			/* A malformed full line costs only the full figures. */
			*has_full = parse_psi_fields(line + 5, &out->full_avg10,
						     &out->full_total_us) == 0;
			if (!*has_full) {
				out->full_avg10 = 0;
				out->full_total_us = 0;
			}
		}
	}
	return some ? 0 : -EINVAL;
}

int psc_cgroupfs_detect(const char *root, struct psc_cgroupfs_layout *out)
{
	struct psc_cgroupfs_layout l;
	char p[PSC_CGROUPFS_DIR_MAX + 64];
	char ctl[4096];
	size_t rl;

	if (!out)
		return -EINVAL;
	if (!root)
		root = PSC_CGROUPFS_DEFAULT_ROOT;
	rl = strlen(root);
	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	if (rl == 0 || rl >= PSC_CGROUPFS_DIR_MAX - 32)
		return rl ? -ENAMETOOLONG : -EINVAL;
	memset(&l, 0, sizeof(l));
	memcpy(l.root, root, rl);
	if (!path_is_dir(l.root))
		return -ENOENT;

	snprintf(p, sizeof(p), "%s/cgroup.controllers", l.root);
	if (path_exists(p)) {
		_cleanup_close_ int dfd = open(l.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		l.mode = PSC_CGROUP_V2;
		if (dfd >= 0 && read_text_at(dfd, "cgroup.controllers", ctl, sizeof(ctl)) >= 0)
			l.v2_memory = list_has(ctl, "memory");
		memcpy(l.identity, l.root, rl);
		memcpy(l.memory, l.root, rl);
		memcpy(l.cpu, l.root, rl);
		memcpy(l.cpuacct, l.root, rl);
		memcpy(l.io, l.root, rl);
		memcpy(l.unified, l.root, rl);
		*out = l;
		return 0;
	}

	if (!find_hier(l.memory, l.root, "memory", "memory.usage_in_bytes"))
		return -ENODEV;
	memcpy(l.identity, l.memory, sizeof(l.identity));
	if (!find_hier(l.cpu, l.root, "cpu", "cpu.shares") &&
	    !find_hier(l.cpu, l.root, "cpu,cpuacct", "cpu.shares"))
		find_hier(l.cpu, l.root, "cpuacct,cpu", "cpu.shares");
	if (!find_hier(l.cpuacct, l.root, "cpuacct", "cpuacct.usage") &&
	    !find_hier(l.cpuacct, l.root, "cpu,cpuacct", "cpuacct.usage"))
		find_hier(l.cpuacct, l.root, "cpuacct,cpu", "cpuacct.usage");
	find_hier(l.io, l.root, "blkio", "cgroup.procs");
	l.mode = find_hier(l.unified, l.root, "unified", "cgroup.controllers") ? PSC_CGROUP_HYBRID
									       : PSC_CGROUP_V1;
	*out = l;
	return 0;
}

/* Is @path absolute, free of "." and ".." components and short enough? */
int psc_cgroupfs_check_path(const char *path)
{
	if (!path || path[0] != '/')
		return -EINVAL;
	if (strlen(path) >= PSC_CGROUP_PATH_MAX)
		return -ENAMETOOLONG;
	for (const char *c = path; *c;) {
		size_t n;

		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		c += n;
	}
	return 0;
}

/* Opens @path in hierarchy @hier. Returns an fd or a negative errno. */
static int open_cgroup(const char *hier, const char *path)
{
	char p[PSC_CGROUPFS_DIR_MAX + PSC_CGROUP_PATH_MAX];
	int fd, r;

	if (!hier[0])
		return -ENOENT;
	r = path_join(p, sizeof(p), hier, path);
	if (r < 0)
		return r;
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	return fd;
}

static bool read_u64_at(int dfd, const char *name, char *buf, uint64_t *out)
{
	return dfd >= 0 && read_text_at(dfd, name, buf, CG_FILE_MAX) >= 0 &&
	       parse_single(buf, out) == 0;
}

static bool read_keyed_at(int dfd, const char *name, const char *key, char *buf, uint64_t *out)
{
	return dfd >= 0 && read_text_at(dfd, name, buf, CG_FILE_MAX) >= 0 &&
	       parse_keyed(buf, key, out) == 0;
}

static bool usec_to_ns(uint64_t *v)
{
	if (*v > UINT64_MAX / 1000)
		return false;
	*v *= 1000;
	return true;
}

static void read_psi_at(int dfd, char *buf, struct psc_cgroup_usage *u)
{
	static const struct {
		const char *file;
		size_t off;
		uint32_t some, full;
	} files[] = {
		{ "cpu.pressure", offsetof(struct psc_cgroup_usage, psi_cpu), PSC_CGU_PSI_CPU,
		  PSC_CGU_PSI_CPU_FULL },
		{ "memory.pressure", offsetof(struct psc_cgroup_usage, psi_mem), PSC_CGU_PSI_MEM,
		  PSC_CGU_PSI_MEM_FULL },
		{ "io.pressure", offsetof(struct psc_cgroup_usage, psi_io), PSC_CGU_PSI_IO,
		  PSC_CGU_PSI_IO_FULL },
	};

	if (dfd < 0)
		return;
	for (size_t i = 0; i < PSC_ARRAY_SIZE(files); i++) {
		struct psc_psi *psi = (struct psc_psi *)((char *)u + files[i].off);
		bool full;
		ssize_t n = read_text_at(dfd, files[i].file, buf, CG_FILE_MAX);

		if (n < 0 || psc_cgroupfs_parse_psi(buf, (size_t)n, psi, &full) < 0) {
			memset(psi, 0, sizeof(*psi));
			continue;
		}
		u->present |= files[i].some | (full ? files[i].full : 0);
	}
}

/* Checks @cgroup_path, opens its directory in the identity hierarchy into *@fd and
 * allocates the read buffer *@buf (both owned by the caller). */
static int open_for_read(const struct psc_cgroupfs_layout *layout, const char *cgroup_path,
			 int *fd, char **buf)
{
	int r;

	if (!layout || !layout->identity[0])
		return -EINVAL;
	r = psc_cgroupfs_check_path(cgroup_path);
	if (r < 0)
		return r;
	*fd = open_cgroup(layout->identity, cgroup_path);
	if (*fd < 0)
		return *fd;
	*buf = malloc(CG_FILE_MAX);
	return *buf ? 0 : -ENOMEM;
}

/* ---- limits ---- */

const char *psc_res_name(enum psc_res r)
{
	static const char *const names[_PSC_RES_MAX] = {
		[PSC_RES_CPU_MAX] = "cpu_max",	   [PSC_RES_CPU_WEIGHT] = "cpu_weight",
		[PSC_RES_CPU_BURST] = "cpu_max_burst", [PSC_RES_MEM_MIN] = "memory_min",
		[PSC_RES_MEM_HIGH] = "memory_high",	   [PSC_RES_MEM_MAX] = "memory_max",
	};

	return (unsigned)r < _PSC_RES_MAX ? names[r] : NULL;
}

uint64_t psc_cgroupfs_weight_to_shares(uint64_t weight)
{
	uint64_t s = weight > UINT64_MAX / 1024 ? 262144 : weight * 1024 / 100;

	return s < 2 ? 2 : s > 262144 ? 262144 : s;
}

uint64_t psc_cgroupfs_shares_to_weight(uint64_t shares)
{
	uint64_t w = shares > 262144 ? 25600 : (shares * 100 + 512) / 1024;

	return w < 1 ? 1 : w > 10000 ? 10000 : w;
}

static void set_limit(struct psc_cgroup_limits *l, enum psc_res r, uint64_t v)
{
	l->v[r] = v;
	l->present |= 1u << r;
}

/* A limit file holding "max" or a number ("max\n" / "123\n"). */
static int parse_max_or_u64(const char *text, uint64_t *out)
{
	if (strcmp(text, "max") == 0 || strcmp(text, "max\n") == 0) {
		*out = PSC_LIMIT_UNLIMITED;
		return 0;
	}
	return parse_single(text, out);
}

/* quota/period in micro-cores; a quota too large to convert counts as unlimited. */
static uint64_t quota_to_ucores(uint64_t quota_us, uint64_t period_us)
{
	if (quota_us > UINT64_MAX / 1000000)
		return PSC_LIMIT_UNLIMITED;
	return quota_us * 1000000 / period_us;
}

/* v2 cpu.max: "max 100000" or "50000 100000". */
static void parse_cpu_max(const char *text, struct psc_cgroup_limits *l)
{
	uint64_t quota = PSC_LIMIT_UNLIMITED, period;
	const char *p = text;

	if (strncmp(p, "max ", 4) == 0)
		p += 4;
	else if (parse_u64(p, &p, &quota) < 0 || *p++ != ' ')
		return;
	if (parse_single(p, &period) < 0 || period == 0)
		return;
	set_limit(l, PSC_RES_CPU_MAX,
		  quota == PSC_LIMIT_UNLIMITED ? quota : quota_to_ucores(quota, period));
	l->cpu_period_us = period;
}

static void read_limits_v2(int dfd, char *buf, struct psc_cgroup_limits *l)
{
	static const struct {
		const char *file;
		enum psc_res res;
	} files[] = {
		{ "cpu.weight", PSC_RES_CPU_WEIGHT },	{ "cpu.max.burst", PSC_RES_CPU_BURST },
		{ "memory.min", PSC_RES_MEM_MIN },	{ "memory.high", PSC_RES_MEM_HIGH },
		{ "memory.max", PSC_RES_MEM_MAX },
	};
	uint64_t v;

	if (read_text_at(dfd, "cpu.max", buf, CG_FILE_MAX) >= 0)
		parse_cpu_max(buf, l);
	for (size_t i = 0; i < PSC_ARRAY_SIZE(files); i++)
		if (read_text_at(dfd, files[i].file, buf, CG_FILE_MAX) >= 0 &&
		    parse_max_or_u64(buf, &v) == 0)
			set_limit(l, files[i].res, v);
}

static uint64_t v1_mem_limit(uint64_t v)
{
	return v >= PSC_V1_MEM_UNLIMITED_MIN ? PSC_LIMIT_UNLIMITED : v;
}

static void read_limits_v1(int mem_fd, int cpu_fd, char *buf, struct psc_cgroup_limits *l)
{
	uint64_t v, period;

	if (read_u64_at(mem_fd, "memory.limit_in_bytes", buf, &v))
		set_limit(l, PSC_RES_MEM_MAX, v1_mem_limit(v));
	if (read_u64_at(mem_fd, "memory.soft_limit_in_bytes", buf, &v))
		set_limit(l, PSC_RES_MEM_HIGH, v1_mem_limit(v));
	if (read_u64_at(cpu_fd, "cpu.shares", buf, &v))
		set_limit(l, PSC_RES_CPU_WEIGHT, psc_cgroupfs_shares_to_weight(v));
	if (read_u64_at(cpu_fd, "cpu.cfs_burst_us", buf, &v))
		set_limit(l, PSC_RES_CPU_BURST, v);
	if (read_u64_at(cpu_fd, "cpu.cfs_period_us", buf, &period) && period > 0 && cpu_fd >= 0 &&
	    read_text_at(cpu_fd, "cpu.cfs_quota_us", buf, CG_FILE_MAX) >= 0) {
		/* -1 is unlimited; any other negative value is not a quota. */
		if (strcmp(buf, "-1") == 0 || strcmp(buf, "-1\n") == 0)
			set_limit(l, PSC_RES_CPU_MAX, PSC_LIMIT_UNLIMITED);
		else if (parse_single(buf, &v) == 0)
			set_limit(l, PSC_RES_CPU_MAX, quota_to_ucores(v, period));
		else
			return;
		l->cpu_period_us = period;
	}
}

int psc_cgroupfs_read_limits(const struct psc_cgroupfs_layout *layout, const char *cgroup_path,
			     struct psc_cgroup_limits *out)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int id_fd = -1;
	int r;

	if (!out)
		return -EINVAL;
	r = open_for_read(layout, cgroup_path, &id_fd, &buf);
	if (r < 0)
		return r;
	memset(out, 0, sizeof(*out));
	if (layout->mode == PSC_CGROUP_V2) {
		read_limits_v2(id_fd, buf, out);
	} else {
		_cleanup_close_ int cpu_fd = open_cgroup(layout->cpu, cgroup_path);

		read_limits_v1(id_fd, cpu_fd, buf, out);
	}
	return 0;
}

static void read_v2(int dfd, char *buf, struct psc_cgroup_usage *u)
{
	uint64_t v, w;

	if (read_text_at(dfd, "cpu.stat", buf, CG_FILE_MAX) >= 0) {
		if (parse_keyed(buf, "usage_usec", &v) == 0 && usec_to_ns(&v)) {
			u->cpu_ns = v;
			u->present |= PSC_CGU_CPU;
		}
		/* Present only where the cpu controller is enabled. */
		if (parse_keyed(buf, "throttled_usec", &v) == 0 && usec_to_ns(&v)) {
			u->throttled_ns = v;
			u->present |= PSC_CGU_THROTTLED;
		}
	}
	if (read_u64_at(dfd, "memory.current", buf, &v)) {
		u->mem_bytes = v;
		u->present |= PSC_CGU_MEM;
	}
	if (read_u64_at(dfd, "memory.peak", buf, &v)) {
		u->mem_peak_bytes = v;
		u->present |= PSC_CGU_MEM_PEAK;
	}
	if (read_text_at(dfd, "io.stat", buf, CG_FILE_MAX) >= 0 &&
	    parse_io_stat(buf, &v, &w) == 0) {
		u->io_read_bytes = v;
		u->io_write_bytes = w;
		u->present |= PSC_CGU_IO;
	}
	if (read_keyed_at(dfd, "memory.events", "oom_kill", buf, &v)) {
		u->oom_kills = v;
		u->present |= PSC_CGU_OOM_KILLS;
	}
	read_psi_at(dfd, buf, u);
	read_limits_v2(dfd, buf, &u->limits);
}

static void read_v1(const struct psc_cgroupfs_layout *l, int mem_fd, const char *path, char *buf,
		    struct psc_cgroup_usage *u)
{
	static const char *const blkio_files[] = {
		"blkio.throttle.io_service_bytes_recursive",
		"blkio.throttle.io_service_bytes",
		"blkio.io_service_bytes_recursive",
		"blkio.bfq.io_service_bytes_recursive",
	};
	_cleanup_close_ int acct_fd = open_cgroup(l->cpuacct, path);
	_cleanup_close_ int cpu_fd = open_cgroup(l->cpu, path);
	_cleanup_close_ int io_fd = open_cgroup(l->io, path);
	_cleanup_close_ int uni_fd =
		l->mode == PSC_CGROUP_HYBRID ? open_cgroup(l->unified, path) : -ENOENT;
	uint64_t v, w;

	if (read_u64_at(mem_fd, "memory.usage_in_bytes", buf, &v)) {
		u->mem_bytes = v;
		u->present |= PSC_CGU_MEM;
	}
	if (read_u64_at(mem_fd, "memory.max_usage_in_bytes", buf, &v)) {
		u->mem_peak_bytes = v;
		u->present |= PSC_CGU_MEM_PEAK;
	}
	if (read_u64_at(acct_fd, "cpuacct.usage", buf, &v) ||
	    (read_keyed_at(uni_fd, "cpu.stat", "usage_usec", buf, &v) && usec_to_ns(&v))) {
		u->cpu_ns = v;
		u->present |= PSC_CGU_CPU;
	}
	if (read_keyed_at(cpu_fd, "cpu.stat", "throttled_time", buf, &v)) {
		u->throttled_ns = v;
		u->present |= PSC_CGU_THROTTLED;
	}
	for (size_t i = 0; io_fd >= 0 && i < PSC_ARRAY_SIZE(blkio_files); i++) {
		ssize_t n = read_text_at(io_fd, blkio_files[i], buf, CG_FILE_MAX);

		if (n == -ENOENT)
			continue;
		if (n >= 0 && parse_blkio(buf, &v, &w) == 0) {
			u->io_read_bytes = v;
			u->io_write_bytes = w;
			u->present |= PSC_CGU_IO;
		}
		break;
	}
	if (read_keyed_at(mem_fd, "memory.oom_control", "oom_kill", buf, &v)) {
		u->oom_kills = v;
		u->present |= PSC_CGU_OOM_KILLS;
	}
	read_psi_at(uni_fd, buf, u);
	read_limits_v1(mem_fd, cpu_fd, buf, &u->limits);
}

int psc_cgroupfs_read_usage(const struct psc_cgroupfs_layout *layout, const char *cgroup_path,
			    struct psc_cgroup_usage *out)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int id_fd = -1;
	struct stat st;
	int r;

	if (!out)
		return -EINVAL;
	r = open_for_read(layout, cgroup_path, &id_fd, &buf);
	if (r < 0)
		return r;
	memset(out, 0, sizeof(*out));
	if (layout->mode == PSC_CGROUP_V2)
		read_v2(id_fd, buf, out);
	else
		read_v1(layout, id_fd, cgroup_path, buf, out);
	/* kernfs keeps the directory fd usable after rmdir, but unlinks the node: a cgroup
	 * removed while we read is gone, whatever was read. */
	if (fstat(id_fd, &st) < 0 || st.st_nlink == 0)
		return -ENOENT;
	{
		char p[PSC_CGROUPFS_DIR_MAX + PSC_CGROUP_PATH_MAX];

		r = path_join(p, sizeof(p), layout->identity, cgroup_path);
		if (r < 0)
			return r;
		if (stat(p, &st) < 0)
			return errno == ENOTDIR ? -ENOENT : -errno;
	}
	return 0;
}

/* ---- walking the identity hierarchy ---- */

/* Called per cgroup directory with its inode and path; a positive return stops the walk. */
typedef int (*walk_fn)(void *ctx, uint64_t ino, const char *path, size_t len);

struct walk {
	walk_fn fn;
	void *ctx;
	dev_t dev;
	bool partial;
	char path[PSC_CGROUP_PATH_MAX];
};

/* Visits the subdirectories of @dfd (which it takes over) whose path is w->path[0..@len).
 * Returns 0, or the first non-zero value of the visitor (which stops the walk); what cannot
 * be read is skipped and marks the walk partial. */
static int walk_dir(struct walk *w, int dfd, size_t len, unsigned int depth)
{
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		w->partial = true;
		return 0;
	}
	while ((errno = 0, de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		struct stat st;
		int cfd, r;

		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				w->partial = true;
			continue;
		}
		if (!S_ISDIR(st.st_mode) || st.st_dev != w->dev)
			continue;
		if (len + 1 + nl >= sizeof(w->path)) {
			w->partial = true;
			continue;
		}
		/* The root's path is "/", everything else "/a/b" without a trailing slash. */
		w->path[len] = '/';
		memcpy(w->path + len + 1, de->d_name, nl + 1);
		r = w->fn(w->ctx, (uint64_t)st.st_ino, w->path, len + 1 + nl);
		if (r != 0) {
			w->path[len] = '\0';
			return r;
		}
		if (depth + 1 >= PSC_CGROUP_INDEX_DEPTH) {
			w->partial = true;
		} else {
			cfd = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				if (errno != ENOENT)
					w->partial = true;
			} else {
				r = walk_dir(w, cfd, len + 1 + nl, depth + 1);
				if (r != 0) {
					w->path[len] = '\0';
					return r;
				}
			}
		}
		w->path[len] = '\0';
	}
	if (errno != 0)
		w->partial = true;
	return 0;
}

/* Walks the hierarchy at @root: the root itself as "/", then every directory below. */
static int walk_hierarchy(const char *root, walk_fn fn, void *ctx, bool *partial)
{
	_cleanup_free_ struct walk *w = calloc(1, sizeof(*w));
	struct stat st;
	int dfd, r;

	if (!w)
		return -ENOMEM;
	dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fstat(dfd, &st) < 0) {
		r = -errno;
		close(dfd);
		return r;
	}
	w->fn = fn;
	w->ctx = ctx;
	w->dev = st.st_dev;
	r = fn(ctx, (uint64_t)st.st_ino, "/", 1);
	if (r != 0) {
		close(dfd);
		return r;
	}
	r = walk_dir(w, dfd, 0, 0);
	if (partial)
		*partial = w->partial;
	return r;
}

struct find_ctx {
	uint64_t id;
	char *out;
	size_t size;
};

static int find_visit(void *ctx, uint64_t ino, const char *path, size_t len)
{
	struct find_ctx *f = ctx;

	if (ino != f->id)
		return 0;
	if (len >= f->size)
		return -ENAMETOOLONG;
	memcpy(f->out, path, len + 1);
	return 1;
}

int psc_cgroupfs_path_by_id(const struct psc_cgroupfs_layout *layout, uint64_t cgroup_id, char *out,
			    size_t size)
{
	struct find_ctx f = { .id = cgroup_id, .out = out, .size = size };
	int r;

	if (!layout || !out || size == 0 || !layout->identity[0])
		return -EINVAL;
	r = walk_hierarchy(layout->identity, find_visit, &f, NULL);
	if (r < 0)
		return r;
	return r > 0 ? 0 : -ENOENT;
}

/* ---- the index ---- */

struct cg_entry {
	uint64_t ino;
	size_t path_off; /* into paths */
};

struct cg_table {
	struct cg_entry *entries;
	size_t n, cap;
	char *paths;
	size_t paths_len, paths_cap;
	bool full;
};

struct psc_cgroup_index {
	char *root;
	struct cg_table t;
	bool partial;
};

static void table_clear(struct cg_table *t)
{
	free(t->entries);
	free(t->paths);
	memset(t, 0, sizeof(*t));
}

static int table_visit(void *ctx, uint64_t ino, const char *path, size_t len)
{
	struct cg_table *t = ctx;

	if (t->n >= PSC_CGROUP_INDEX_MAX) {
		t->full = true;
		return 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct cg_entry *e = realloc(t->entries, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		t->entries = e;
		t->cap = cap;
	}
	if (t->paths_len + len + 1 > t->paths_cap) {
		size_t cap = t->paths_cap ? t->paths_cap : 16384;
		char *p;

		while (cap < t->paths_len + len + 1)
			cap *= 2;
		p = realloc(t->paths, cap);
		if (!p)
			return -ENOMEM;
		t->paths = p;
		t->paths_cap = cap;
	}
	memcpy(t->paths + t->paths_len, path, len + 1);
	t->entries[t->n].ino = ino;
	t->entries[t->n].path_off = t->paths_len;
	t->n++;
	t->paths_len += len + 1;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct cg_entry *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

int psc_cgroup_index_new(struct psc_cgroup_index **out, const struct psc_cgroupfs_layout *layout)
{
	struct psc_cgroup_index *idx;

	if (!out || !layout || !layout->identity[0])
		return -EINVAL;
	idx = calloc(1, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	idx->root = strdup(layout->identity);
	if (!idx->root) {
		free(idx);
		return -ENOMEM;
	}
	*out = idx;
	return 0;
}

int psc_cgroup_index_refresh(struct psc_cgroup_index *idx)
{
	struct cg_table t = { 0 };
	bool partial = false;
	int r;

	if (!idx)
		return -EINVAL;
	r = walk_hierarchy(idx->root, table_visit, &t, &partial);
	if (r < 0) {
		table_clear(&t);
		return r;
	}
	if (t.n)
		qsort(t.entries, t.n, sizeof(t.entries[0]), entry_cmp);
	table_clear(&idx->t);
	idx->t = t;
	idx->partial = partial || t.full;
	return 0;
}

const char *psc_cgroup_index_lookup(const struct psc_cgroup_index *idx, uint64_t id)
{
	size_t lo = 0, hi;

	if (!idx)
		return NULL;
	hi = idx->t.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t v = idx->t.entries[mid].ino;

		if (v == id)
			return idx->t.paths + idx->t.entries[mid].path_off;
		if (v < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void psc_cgroup_index_stats(const struct psc_cgroup_index *idx, size_t *count, bool *partial)
{
	if (count)
		*count = idx ? idx->t.n : 0;
	if (partial)
		*partial = idx ? idx->partial : false;
}

void psc_cgroup_index_free(struct psc_cgroup_index **idx)
{
	if (!idx || !*idx)
		return;
	table_clear(&(*idx)->t);
	free((*idx)->root);
	free(*idx);
	*idx = NULL;
}

/* ---- workload names ---- */

struct comp {
	const char *s;
	size_t n;
};

#define NAME_COMPS 64

static bool has_prefix(struct comp c, const char *p)
{
	size_t pl = strlen(p);

	return c.n >= pl && strncmp(c.s, p, pl) == 0;
}

static bool has_suffix(struct comp c, const char *sfx)
{
	size_t sl = strlen(sfx);

	return c.n >= sl && strncmp(c.s + c.n - sl, sfx, sl) == 0;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return n > 0;
}

static bool is_uid(const char *s, size_t n)
{
	if (n < 8 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* A container id out of "<id>", "cri-containerd-<id>.scope", "crio-<id>.scope",
 * "docker-<id>.scope": points at the id and sets *@n, or returns NULL. */
static const char *container_id(struct comp c, size_t *n)
{
	static const char *const prefixes[] = { "cri-containerd-", "crio-", "docker-",
						"containerd-" };
	const char *s = c.s;
	size_t len = c.n;

	if (has_suffix(c, ".scope")) {
		len -= 6;
		for (size_t i = 0; i < PSC_ARRAY_SIZE(prefixes); i++) {
			size_t pl = strlen(prefixes[i]);

			if (len > pl && strncmp(s, prefixes[i], pl) == 0) {
				s += pl;
				len -= pl;
				break;
			}
		}
	}
	if (len < 12 || !all_hex(s, len))
		return NULL;
	*n = len;
	return s;
}

/* snprintf() into @out; returns -ENAMETOOLONG when the result was cut. */
__attribute__((format(printf, 3, 4))) static int putf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* "pod<uid>" (cgroupfs driver) or "kubepods[-qos]-pod<uid>.slice" (systemd driver). */
static bool pod_uid(struct comp c, const char **uid, size_t *n)
{
	if (has_prefix(c, "pod") && is_uid(c.s + 3, c.n - 3)) {
		*uid = c.s + 3;
		*n = c.n - 3;
		return true;
	}
	if (has_prefix(c, "kubepods") && has_suffix(c, ".slice")) {
		const char *p = memmem(c.s, c.n, "-pod", 4);

		if (!p)
			return false;
		*uid = p + 4;
		*n = (size_t)(c.s + c.n - 6 - *uid);
		return is_uid(*uid, *n);
	}
	return false;
}

static int k8s_name(const struct comp *comps, size_t nc, char *out, size_t size, int *r)
{
	bool kube = false;

	for (size_t i = 0; i < nc; i++) {
		const char *uid, *id;
		size_t ul, il;
		char ubuf[65];

		if (has_prefix(comps[i], "kubepods"))
			kube = true;
		if (!kube || !pod_uid(comps[i], &uid, &ul))
			continue;
		/* The systemd driver writes the uid's dashes as underscores. */
		for (size_t k = 0; k < ul; k++)
			ubuf[k] = uid[k] == '_' ? '-' : uid[k];
		if (i + 1 < nc && (id = container_id(comps[i + 1], &il)))
			*r = putf(out, size, "pod%.*s/%.12s", (int)ul, ubuf, id);
		else
			*r = putf(out, size, "pod%.*s", (int)ul, ubuf);
		return 1;
	}
	return 0;
}

static int docker_name(const struct comp *comps, size_t nc, char *out, size_t size, int *r)
{
	for (size_t i = nc; i-- > 0;) {
		const char *id = NULL;
		size_t il = 0;

		if (has_prefix(comps[i], "docker-") && has_suffix(comps[i], ".scope"))
			id = container_id(comps[i], &il);
		else if (i > 0 && comps[i - 1].n == 6 && has_prefix(comps[i - 1], "docker"))
			id = container_id(comps[i], &il);
		if (id) {
			*r = putf(out, size, "docker:%.12s", id);
			return 1;
		}
	}
	return 0;
}

int psc_cgroupfs_workload_name(const char *path, char *out, size_t size)
{
	struct comp comps[NAME_COMPS];
	size_t nc = 0;
	int r = 0;

	if (!path || !out || size == 0)
		return -EINVAL;
	for (const char *c = path; *c;) {
		size_t n;

		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		if (n) {
			/* Keep the deepest NAME_COMPS components. */
			if (nc == NAME_COMPS) {
				memmove(comps, comps + 1, sizeof(comps[0]) * (NAME_COMPS - 1));
				nc--;
			}
			comps[nc].s = c;
			comps[nc].n = n;
			nc++;
		}
		c += n;
	}
	if (nc == 0)
		return putf(out, size, "root");
	if (k8s_name(comps, nc, out, size, &r) || docker_name(comps, nc, out, size, &r))
		return r;
	for (size_t i = nc; i-- > 0;)
		if (has_suffix(comps[i], ".service") || has_suffix(comps[i], ".scope"))
			return putf(out, size, "%.*s", (int)comps[i].n, comps[i].s);
	return putf(out, size, "%.*s", (int)comps[nc - 1].n, comps[nc - 1].s);
}
