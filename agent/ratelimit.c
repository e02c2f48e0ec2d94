// SPDX-License-Identifier: MIT
#include "ratelimit.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "egress.h"
#include "egress.skel.h"
#include "log.h"

_Static_assert(sizeof(struct psc_egress_bucket) == 40, "bucket layout changed: update egress.h");
_Static_assert(sizeof(struct psc_egress_stats) == 32, "stats layout changed: update egress.h");

/* A cgroup v2 directory or cgroup.procs path: hierarchy directory + cgroup path + file. */
#define PATH_BUF (PSC_CGROUPFS_DIR_MAX + PSC_CGROUP_PATH_MAX + 32)

/* Rounds of moving processes back before giving up on a directory whose workload keeps
 * forking into it. */
#define CLEAR_ROUNDS 5

struct limit {
	char *path;	   /* identity path, as given */
	char *v2dir;	   /* absolute directory in the unified hierarchy */
	char *created_top; /* topmost directory this limiter created (hybrid), or NULL */
	uint64_t cgid;
	struct bpf_link *link;
};

struct psc_ratelimit {
	struct psc_cgroupfs_layout layout;
	struct egress_bpf *skel;
	int ncpus;
	struct limit *limits;
	size_t n, cap;
};

static bool hybrid(const struct psc_ratelimit *rl)
{
	return rl->layout.mode == PSC_CGROUP_HYBRID;
}

int psc_ratelimit_open(struct psc_ratelimit **out, const struct psc_cgroupfs_layout *layout)
{
	_cleanup_free_ struct psc_ratelimit *rl = NULL;
	int r;

	if (!out || !layout)
		return -EINVAL;
	if (!layout->unified[0])
		return psc_log_err_r(-ENODEV, "the egress rate limiter needs a cgroup2 hierarchy "
					      "(cgroup BPF attaches there) and none is mounted");
	if (layout->mode == PSC_CGROUP_HYBRID && !layout->identity[0])
		return psc_log_err_r(-ENODEV, "no cgroup v1 memory hierarchy to find workloads in");
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	rl->layout = *layout;
	rl->ncpus = libbpf_num_possible_cpus();
	if (rl->ncpus <= 0)
		return psc_log_err_r(rl->ncpus ? rl->ncpus : -EINVAL, "cannot count possible CPUs");
	rl->skel = egress_bpf__open_and_load();
	if (!rl->skel) {
		r = -errno;
		if (r == -EPERM || r == -EACCES)
			return psc_log_err_r(r, "the kernel refused the egress rate limiter: run as root "
						"(or with CAP_BPF and CAP_NET_ADMIN)");
		return psc_log_err_r(r ? r : -EINVAL,
				     "the kernel rejected the egress rate limiter program "
				     "(cgroup_skb/egress); --log-level debug shows the verifier's log");
	}
	*out = TAKE_PTR(rl);
	return 0;
}

/* Absolute, not "/", no empty, "." or ".." components, no trailing slash. */
static bool valid_path(const char *path)
{
	const char *p = path;

	if (!path || path[0] != '/' || !path[1] || strlen(path) >= PSC_CGROUP_PATH_MAX)
		return false;
	while (*p == '/') {
		size_t n = strcspn(p + 1, "/");

		if (n == 0 || (n == 1 && p[1] == '.') || (n == 2 && p[1] == '.' && p[2] == '.'))
			return false;
		p += 1 + n;
	}
	return true;
}

static struct limit *find(struct psc_ratelimit *rl, const char *path)
{
	for (size_t i = 0; i < rl->n; i++)
		if (strcmp(rl->limits[i].path, path) == 0)
			return &rl->limits[i];
	return NULL;
}

/* Whether directory @a is @b or inside it. */
static bool dir_within(const char *a, const char *b)
{
	size_t n = strlen(b);

	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

/* The kernel's cgroup id of directory @dir: its kernfs file handle (what bpftool and the
 * kernel's own selftests use), not the inode, which is only equal on 64-bit kernels. */
static int cgroup_id(const char *dir, uint64_t *id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh.handle_bytes = sizeof(uint64_t) };
	int mount_id;

	if (name_to_handle_at(AT_FDCWD, dir, &h.fh, &mount_id, 0) < 0)
		return -errno;
	if (h.fh.handle_bytes != sizeof(uint64_t))
		return -EOPNOTSUPP;
	memcpy(id, h.fh.f_handle, sizeof(*id));
	return 0;
}

/* Removes @dir and its parents up to and including @top (which @dir is within). */
static int rmdir_up_to(const char *dir, const char *top)
{
	char p[PATH_BUF];
	size_t top_len = strlen(top);

	snprintf(p, sizeof(p), "%s", dir);
	for (;;) {
		if (rmdir(p) < 0 && errno != ENOENT)
			return -errno;
		if (strlen(p) <= top_len)
			return 0;
		*strrchr(p, '/') = '\0';
	}
}

/* mkdir -p of @path below @root; *@created_top gets the topmost directory created (a
 * malloc'ed string, NULL when all existed). Nothing is left behind on failure. */
static int mkdir_parents(const char *root, const char *path, char **created_top)
{
	char p[PATH_BUF];
	size_t root_len = strlen(root);
	const char *c = path;

	*created_top = NULL;
	if (snprintf(p, sizeof(p), "%s%s", root, path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	while (*c) {
		c += 1 + strcspn(c + 1, "/");
		p[root_len + (size_t)(c - path)] = '\0';
		if (mkdir(p, 0755) == 0) {
			if (!*created_top && !(*created_top = strdup(p))) {
				rmdir(p);
				return -ENOMEM;
			}
		} else if (errno != EEXIST) {
			int r = -errno;

			if (*created_top) {
				*strrchr(p, '/') = '\0';
				rmdir_up_to(p, *created_top);
				free(*created_top);
				*created_top = NULL;
			}
			return r;
		}
		p[root_len + (size_t)(c - path)] = *c;
	}
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

struct pids {
	int *v;
	size_t n, cap;
};

/* Appends the pids listed in cgroup.procs of directory @dfd and, @depth levels down, of
 * its descendant cgroups. Cgroups that vanish meanwhile are skipped. */
static int collect_pids(int dfd, int depth, struct pids *p)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd, pid, r;

	fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "re");
	if (!f) {
		close(fd);
		return -errno;
	}
	while (fscanf(f, "%d", &pid) == 1) {
		if (p->n == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 64;
			int *nv = realloc(p->v, cap * sizeof(*nv));

			if (!nv)
				return -ENOMEM;
			p->v = nv;
			p->cap = cap;
		}
		p->v[p->n++] = pid;
	}
	if (ferror(f))
		return -EIO;
	if (depth <= 0)
		return 0;
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		_cleanup_close_ int child = -1;

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		child = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (child < 0)
			continue;
		r = collect_pids(child, depth - 1, p);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	return 0;
}

/* The pids of cgroup @dir (with its descendants when @recursive), sorted. */
static int read_pids(const char *dir, bool recursive, struct pids *out)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	*out = (struct pids){};
	if (fd < 0)
		return -errno;
	r = collect_pids(fd, recursive ? PSC_CGROUP_INDEX_DEPTH : 0, out);
	if (r < 0) {
		free(out->v);
		*out = (struct pids){};
		return r;
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_int);
	return 0;
}

/* Moves every process of cgroup @src (with its descendant cgroups when @recursive) that
 * is not already in @dst into @dst. Returns how many were moved, or a negative errno when
 * a list could not be read or a move failed for another reason than the process having
 * exited. */
static int move_procs(const char *src, bool recursive, const char *dst)
{
	struct pids from = {}, there = {};
	_cleanup_close_ int fd = -1;
	char p[PATH_BUF];
	int r, moved = 0, err = 0;

	r = read_pids(src, recursive, &from);
	if (r < 0 || from.n == 0)
		return r;
	/* Skip members: a move takes the kernel's global cgroup threadgroup lock even when
	 * the process stays where it is. */
	r = read_pids(dst, false, &there);
	if (r < 0)
		goto out;
	snprintf(p, sizeof(p), "%s/cgroup.procs", dst);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	for (size_t i = 0; i < from.n; i++) {
		char buf[16];
		int len;

		if (there.n && bsearch(&from.v[i], there.v, there.n, sizeof(int), cmp_int))
			continue;
		len = snprintf(buf, sizeof(buf), "%d", from.v[i]);
		if (write(fd, buf, (size_t)len) == len)
			moved++;
		else if (errno != ESRCH)
			err = -errno;
	}
	r = err ? err : moved;
out:
	free(from.v);
	free(there.v);
	return r;
}

static void sync_one(struct psc_ratelimit *rl, struct limit *l)
{
	char src[PATH_BUF];
	int r;

	snprintf(src, sizeof(src), "%s%s", rl->layout.identity, l->path);
	r = move_procs(src, true, l->v2dir);
	if (r > 0)
		psc_debug("ratelimit: moved %d processes of %s into %s", r, l->path, l->v2dir);
	else if (r < 0 && r != -ENOENT)
		psc_warn("AGENT-RL-MOVE", "cannot move the processes of %s into %s: %s", l->path,
			 l->v2dir, strerror(-r));
}

void psc_ratelimit_sync(struct psc_ratelimit *rl)
{
	if (!rl || !hybrid(rl))
		return;
	for (size_t i = 0; i < rl->n; i++)
		sync_one(rl, &rl->limits[i]);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PSC_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static int insert_bucket(struct psc_ratelimit *rl, uint64_t id, uint64_t rate, uint64_t burst)
{
	struct psc_egress_bucket b = {
		.tb = { .rate = rate, .burst = burst, .tokens = burst * PSC_NSEC_PER_SEC,
			.last_ns = now_ns() },
	};
	_cleanup_free_ struct psc_egress_stats *zero = calloc((size_t)rl->ncpus, sizeof(*zero));
	int r;

	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(bpf_map__fd(rl->skel->maps.stats), &id, zero, BPF_ANY) < 0)
		return errno == E2BIG ? -ENOSPC : -errno;
	if (bpf_map_update_elem(bpf_map__fd(rl->skel->maps.buckets), &id, &b, BPF_NOEXIST) < 0) {
		r = errno == E2BIG ? -ENOSPC : -errno;
		bpf_map_delete_elem(bpf_map__fd(rl->skel->maps.stats), &id);
		return r;
	}
	return 0;
}

static void delete_bucket(struct psc_ratelimit *rl, uint64_t id)
{
	bpf_map_delete_elem(bpf_map__fd(rl->skel->maps.buckets), &id);
	bpf_map_delete_elem(bpf_map__fd(rl->skel->maps.stats), &id);
}

/* Changes rate and burst in place, under the bucket's lock for each of the read and the
 * write: packets in between may refill or take a few tokens that the write then undoes,
 * which is at most a few microseconds' worth. Counters live in the other map, untouched. */
static int update_bucket(struct psc_ratelimit *rl, struct limit *l, uint64_t rate, uint64_t burst)
{
	int fd = bpf_map__fd(rl->skel->maps.buckets);
	struct psc_egress_bucket b;

	if (bpf_map_lookup_elem_flags(fd, &l->cgid, &b, BPF_F_LOCK) < 0)
		return -errno;
	b.tb.rate = rate;
	b.tb.burst = burst;
	if (b.tb.tokens > burst * PSC_NSEC_PER_SEC)
		b.tb.tokens = burst * PSC_NSEC_PER_SEC;
	if (bpf_map_update_elem(fd, &l->cgid, &b, BPF_F_LOCK | BPF_EXIST) < 0)
		return -errno;
	return 0;
}

static void limit_free(struct limit *l)
{
	free(l->path);
	free(l->v2dir);
	free(l->created_top);
}

/* Creates (hybrid) or finds (v2) the directory, fills the map, attaches, moves. */
static int add_limit(struct psc_ratelimit *rl, const char *cgroup, uint64_t rate, uint64_t burst)
{
	struct limit l = {};
	char p[PATH_BUF];
	struct stat st;
	int r, fd;

	if (rl->n == rl->cap) {
		size_t cap = rl->cap ? rl->cap * 2 : 8;
		struct limit *nl = realloc(rl->limits, cap * sizeof(*nl));

		if (!nl)
			return -ENOMEM;
		rl->limits = nl;
		rl->cap = cap;
	}
	if (snprintf(p, sizeof(p), "%s%s", rl->layout.unified, cgroup) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (size_t i = 0; i < rl->n; i++)
		if (dir_within(p, rl->limits[i].v2dir) || dir_within(rl->limits[i].v2dir, p))
			return psc_log_err_r(-EBUSY, "cannot limit the egress of %s: %s is already "
						     "limited and limited cgroups cannot nest",
					     cgroup, rl->limits[i].path);
	l.path = strdup(cgroup);
	l.v2dir = strdup(p);
	if (!l.path || !l.v2dir) {
		r = -ENOMEM;
		goto fail;
	}
	if (hybrid(rl)) {
		snprintf(p, sizeof(p), "%s%s", rl->layout.identity, cgroup);
		if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
			r = psc_log_err_r(-ENOENT, "cannot limit the egress of %s: no cgroup %s", cgroup, p);
			goto fail;
		}
		r = mkdir_parents(rl->layout.unified, cgroup, &l.created_top);
		if (r < 0) {
			psc_log_err_r(r, "cannot create %s to limit the egress of %s", l.v2dir, cgroup);
			goto fail;
		}
	} else if (stat(l.v2dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		r = psc_log_err_r(-ENOENT, "cannot limit the egress of %s: no cgroup %s", cgroup, l.v2dir);
		goto fail;
	}
	r = cgroup_id(l.v2dir, &l.cgid);
	if (r < 0) {
		psc_log_err_r(r, "cannot read the cgroup id of %s", l.v2dir);
		goto fail_dir;
	}
	r = insert_bucket(rl, l.cgid, rate, burst);
	if (r < 0) {
		psc_log_err_r(r, "cannot add the egress bucket of %s", cgroup);
		goto fail_dir;
	}
	fd = open(l.v2dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = psc_log_err_r(-errno, "cannot open %s", l.v2dir);
		goto fail_map;
	}
	l.link = bpf_program__attach_cgroup(rl->skel->progs.egress_limit, fd);
	r = l.link ? 0 : -errno;
	close(fd);
	if (r < 0) {
		psc_log_err_r(r, "cannot attach the egress rate limiter to %s", l.v2dir);
		goto fail_map;
	}
	rl->limits[rl->n++] = l;
	if (hybrid(rl))
		sync_one(rl, &rl->limits[rl->n - 1]);
	return 0;

fail_map:
	delete_bucket(rl, l.cgid);
fail_dir:
	if (l.created_top)
		rmdir_up_to(l.v2dir, l.created_top);
fail:
	limit_free(&l);
	return r;
}

int psc_ratelimit_set(struct psc_ratelimit *rl, const char *cgroup, uint64_t bytes_per_s,
		      uint64_t burst_bytes)
{
	struct limit *l;
	int r;

	if (!rl || !valid_path(cgroup) || bytes_per_s == 0)
		return -EINVAL;
	if (bytes_per_s > PSC_EGRESS_RATE_MAX || burst_bytes > PSC_EGRESS_BURST_MAX)
		return -ERANGE;
	if (burst_bytes == 0)
		burst_bytes = PSC_MAX(bytes_per_s * PSC_RATELIMIT_BURST_MS / 1000,
				      (uint64_t)PSC_RATELIMIT_MIN_BURST);
	l = find(rl, cgroup);
	if (l) {
		r = update_bucket(rl, l, bytes_per_s, burst_bytes);
		if (r < 0)
			return psc_log_err_r(r, "cannot change the egress rate limit of %s", cgroup);
	} else {
		r = add_limit(rl, cgroup, bytes_per_s, burst_bytes);
		if (r < 0)
			return r;
		l = &rl->limits[rl->n - 1];
	}
	psc_info("AGENT-RL-SET", "egress of %s limited to %llu bytes/s (burst %llu bytes) at %s",
		 cgroup, (unsigned long long)bytes_per_s, (unsigned long long)burst_bytes, l->v2dir);
	return 0;
}

/* Moves the processes of a directory this limiter created back to the nearest one it did
 * not create, and removes what it created. */
static int undo_dir(struct limit *l)
{
	char parent[PATH_BUF];
	int r = 0;

	snprintf(parent, sizeof(parent), "%s", l->created_top);
	*strrchr(parent, '/') = '\0';
	for (int i = 0; i < CLEAR_ROUNDS; i++) {
		r = move_procs(l->v2dir, false, parent);
		if (r <= 0)
			break;
	}
	if (r < 0)
		psc_warn("AGENT-RL-MOVE", "cannot move the processes of %s back to %s: %s",
			 l->v2dir, parent, strerror(-r));
	r = rmdir_up_to(l->v2dir, l->created_top);
	if (r < 0)
		return psc_log_err_r(-EBUSY, "cannot remove %s (the egress limit of %s is gone): %s",
				     l->v2dir, l->path, strerror(-r));
	return 0;
}

int psc_ratelimit_clear(struct psc_ratelimit *rl, const char *cgroup)
{
	struct limit *l;
	int r = 0;

	if (!rl || !cgroup)
		return -EINVAL;
	l = find(rl, cgroup);
	if (!l)
		return -ENOENT;
	/* Link first: from then on no packet looks for the bucket. */
	bpf_link__destroy(l->link);
	delete_bucket(rl, l->cgid);
	if (l->created_top)
		r = undo_dir(l);
	psc_info("AGENT-RL-CLEAR", "egress of %s no longer limited", cgroup);
	limit_free(l);
	*l = rl->limits[--rl->n];
	return r;
}

int psc_ratelimit_stats(struct psc_ratelimit *rl, const char *cgroup, uint64_t *passed,
			uint64_t *dropped)
{
	_cleanup_free_ struct psc_egress_stats *v = NULL;
	uint64_t p = 0, d = 0;
	struct limit *l;

	if (!rl || !cgroup)
		return -EINVAL;
	l = find(rl, cgroup);
	if (!l)
		return -ENOENT;
	v = calloc((size_t)rl->ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(rl->skel->maps.stats), &l->cgid, v) < 0)
		return -errno;
	for (int i = 0; i < rl->ncpus; i++) {
		p += v[i].passed_bytes;
		d += v[i].dropped_bytes;
	}
	if (passed)
		*passed = p;
	if (dropped)
		*dropped = d;
	return 0;
}

int psc_ratelimit_set_egress(void *ctx, const char *cgroup, uint64_t bytes_per_s)
{
	int r;

	if (bytes_per_s)
		return psc_ratelimit_set(ctx, cgroup, bytes_per_s, 0);
	r = psc_ratelimit_clear(ctx, cgroup);
	return r == -ENOENT ? 0 : r;
}

void psc_ratelimit_close(struct psc_ratelimit **rl)
{
	if (!rl || !*rl)
		return;
	while ((*rl)->n)
		psc_ratelimit_clear(*rl, (*rl)->limits[(*rl)->n - 1].path);
	free((*rl)->limits);
	egress_bpf__destroy((*rl)->skel);
	free(*rl);
	*rl = NULL;
}
