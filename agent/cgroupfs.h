/* SPDX-License-Identifier: MIT */
/* Read-only access to cgroupfs: which hierarchies exist, what a workload cgroup used, and
 * which cgroup a kernel cgroup id names.
 *
 * Everything here works on a root directory given by the caller ("/sys/fs/cgroup" on a
 * host, a fixture tree in tests) and keeps no global state. Nothing here writes to
 * cgroupfs (enforcement lives elsewhere) or logs above debug. Paths of cgroups are
 * absolute within their hierarchy ("/" is the root cgroup, "/system.slice/redis.service"
 * a service) and name the cgroup in the identity hierarchy: the one that carries the
 * memory controller (the unified hierarchy on pure cgroup v2, v1 "memory" otherwise).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PSC_CGROUPFS_DEFAULT_ROOT "/sys/fs/cgroup"
/* Longest hierarchy directory the layout holds, NUL included. */
#define PSC_CGROUPFS_DIR_MAX 512
/* Longest cgroup path (within a hierarchy) the functions below accept, NUL included. */
#define PSC_CGROUP_PATH_MAX 4096

enum psc_cgroup_mode {
	PSC_CGROUP_V2,	   /* the root is a cgroup2 mount */
	PSC_CGROUP_HYBRID, /* v1 controllers under root/<controller>, cgroup2 at root/unified */
	PSC_CGROUP_V1,	   /* v1 controllers only */
};

/* Where each hierarchy is mounted: a directory path, or "" when absent. On v2 all of
 * memory, cpu, cpuacct, io and unified are the root. On v1 "cpu" and "cpuacct" may be
 * the same co-mounted directory ("root/cpu,cpuacct"); io is the blkio hierarchy. */
struct psc_cgroupfs_layout {
	enum psc_cgroup_mode mode;
	char root[PSC_CGROUPFS_DIR_MAX];
	char identity[PSC_CGROUPFS_DIR_MAX]; /* carries memory: cgroup ids and paths refer to it */
	char memory[PSC_CGROUPFS_DIR_MAX];
	char cpu[PSC_CGROUPFS_DIR_MAX];
	char cpuacct[PSC_CGROUPFS_DIR_MAX];
	char io[PSC_CGROUPFS_DIR_MAX];
	char unified[PSC_CGROUPFS_DIR_MAX]; /* cgroup2, with or without controllers */
	/* v2 only: whether the root's cgroup.controllers lists memory. A v2 root without it
	 * (a container given only some controllers) is still the identity hierarchy, but
	 * memory figures will be absent. */
	bool v2_memory;
};

/* Detects the layout under @root (NULL: PSC_CGROUPFS_DEFAULT_ROOT) and fills @out:
 *  - V2 when @root/cgroup.controllers exists;
 *  - else HYBRID when a v1 memory hierarchy exists (@root/memory/memory.usage_in_bytes)
 *    and @root/unified/cgroup.controllers exists; V1 without the latter.
 * v1 cpu and cpuacct are found as @root/cpu, @root/cpuacct, @root/cpu,cpuacct or
 * @root/cpuacct,cpu (symlinks at this level are followed: systemd links cpu and cpuacct
 * to the co-mounted directory); blkio as @root/blkio.
 * Returns 0; -EINVAL for a NULL @out; -ENAMETOOLONG when @root is too long; -ENOENT when
 * @root is not a directory; -ENODEV when neither cgroup2 nor a v1 memory hierarchy is
 * there. @out is written only on success. */
int psc_cgroupfs_detect(const char *root, struct psc_cgroupfs_layout *out);

/* Pressure stall information of one resource, as in cpu.pressure and /proc/pressure/ *:
 * the share of wall time (percent, 0..100) some/all tasks stalled over the last 10 s, and
 * the cumulative stall time in microseconds. */
struct psc_psi {
	double some_avg10;
	double full_avg10;
	uint64_t some_total_us;
	uint64_t full_total_us;
};

/* Bits of psc_cgroup_usage.present: a field is meaningful only when its bit is set. */
enum {
	PSC_CGU_CPU = 1u << 0,	     /* cpu_ns */
	PSC_CGU_THROTTLED = 1u << 1, /* throttled_ns */
	PSC_CGU_MEM = 1u << 2,	     /* mem_bytes */
	PSC_CGU_MEM_PEAK = 1u << 3,  /* mem_peak_bytes */
	PSC_CGU_IO = 1u << 4,	     /* io_read_bytes and io_write_bytes */
	PSC_CGU_PSI_CPU = 1u << 5,   /* psi_cpu.some_*; psi_cpu.full_* with _FULL */
	PSC_CGU_PSI_CPU_FULL = 1u << 6,
	PSC_CGU_PSI_MEM = 1u << 7,
	PSC_CGU_PSI_MEM_FULL = 1u << 8,
	PSC_CGU_PSI_IO = 1u << 9,
	PSC_CGU_PSI_IO_FULL = 1u << 10,
	PSC_CGU_OOM_KILLS = 1u << 11, /* oom_kills */
};

/* Limits a cgroup can carry, in the units of proto/prescient.proto's Targets (where
 * enforcement takes them from) except CPU_MAX, kept integral. */
enum psc_res {
	PSC_RES_CPU_MAX,    /* micro-cores (1e-6 core): quota / period; v2 cpu.max, v1
			     * cpu.cfs_quota_us / cpu.cfs_period_us */
	PSC_RES_CPU_WEIGHT, /* 1..10000; v2 cpu.weight, v1 cpu.shares (psc_cgroupfs_shares_*) */
	PSC_RES_CPU_BURST,  /* microseconds; v2 cpu.max.burst, v1 cpu.cfs_burst_us */
	PSC_RES_MEM_MIN,    /* bytes; v2 memory.min (no v1 equivalent) */
	PSC_RES_MEM_HIGH,   /* bytes; v2 memory.high, v1 memory.soft_limit_in_bytes */
	PSC_RES_MEM_MAX,    /* bytes; v2 memory.max, v1 memory.limit_in_bytes */
	_PSC_RES_MAX,
};

/* A limit of "max" (no limit): v2 "max", v1 -1 or the page counter's maximum. */
#define PSC_LIMIT_UNLIMITED UINT64_MAX
/* v1 memory limits at or above this are the kernel's "unlimited" (PAGE_COUNTER_MAX pages,
 * 9223372036854771712 with 4 KiB pages). */
#define PSC_V1_MEM_UNLIMITED_MIN (1ull << 62)

/* "cpu_max", "cpu_weight", "cpu_max_burst", "memory_min", "memory_high", "memory_max" (the
 * Targets field names without units); NULL for an unknown value. */
const char *psc_res_name(enum psc_res r);

/* The limits set on a cgroup. v[r] is meaningful only when bit (1u << r) of @present is
 * set; it may be PSC_LIMIT_UNLIMITED for CPU_MAX, MEM_HIGH and MEM_MAX. */
struct psc_cgroup_limits {
	uint32_t present;
	uint64_t v[_PSC_RES_MAX];
	uint64_t cpu_period_us; /* the CFS period, with PSC_RES_CPU_MAX */
};

/* cgroup v1 cpu.shares <-> v2 cpu.weight, as systemd maps them: shares = weight * 1024 /
 * 100 clamped to 2..262144; weight = shares * 100 / 1024 rounded, clamped to 1..10000
 * (so weight -> shares -> weight is the identity on 1..10000). */
uint64_t psc_cgroupfs_weight_to_shares(uint64_t weight);
uint64_t psc_cgroupfs_shares_to_weight(uint64_t shares);

/* Reads the limits set on the cgroup at @cgroup_path (in the identity hierarchy; v1 cpu
 * files from the same path in the cpu hierarchy). A file that is missing or does not
 * parse leaves its bit clear. Returns 0; errors as psc_cgroupfs_read_usage(). */
int psc_cgroupfs_read_limits(const struct psc_cgroupfs_layout *layout, const char *cgroup_path,
			     struct psc_cgroup_limits *out);

/* Checks that @path can name a cgroup: absolute, no "." or ".." components, shorter than
 * PSC_CGROUP_PATH_MAX. Returns 0, -EINVAL or -ENAMETOOLONG. */
int psc_cgroupfs_check_path(const char *path);

/* What a cgroup (with its descendants: every figure is hierarchical) used so far. All
 * counters are cumulative since the cgroup was created; the caller takes differences
 * between windows. Fields whose bit in @present is clear are 0. */
struct psc_cgroup_usage {
	uint32_t present;	 /* PSC_CGU_* */
	uint64_t cpu_ns;	 /* v2 cpu.stat usage_usec * 1000; v1 cpuacct.usage */
	uint64_t throttled_ns;	 /* v2 cpu.stat throttled_usec * 1000; v1 cpu.stat throttled_time */
	uint64_t mem_bytes;	 /* v2 memory.current; v1 memory.usage_in_bytes (see below) */
	uint64_t mem_peak_bytes; /* v2 memory.peak (kernel >= 5.19); v1 memory.max_usage_in_bytes */
	uint64_t io_read_bytes;	 /* summed over devices, see psc_cgroupfs_read_usage() */
	uint64_t io_write_bytes;
	struct psc_psi psi_cpu;
	struct psc_psi psi_mem;
	struct psc_psi psi_io;
	/* Processes of the cgroup killed by the OOM killer: v2 memory.events oom_kill, v1
	 * memory.oom_control oom_kill (kernel >= 4.13). */
	uint64_t oom_kills;
	/* The limits in effect when the usage was read (psc_cgroupfs_read_limits()); its own
	 * present bits. */
	struct psc_cgroup_limits limits;
};

/* Reads what the cgroup at @cgroup_path (absolute, in the identity hierarchy) used.
 *
 * Sources, by layout:
 *  - v2: @path/cpu.stat (usage_usec, throttled_usec: the latter only with the cpu
 *    controller enabled), memory.current, memory.peak, io.stat (rbytes/wbytes summed over
 *    all devices), cpu/memory/io.pressure, memory.events (oom_kill).
 *  - v1 and hybrid: the same @cgroup_path is looked up in each v1 hierarchy: cpuacct.usage
 *    in cpuacct, cpu.stat throttled_time in cpu, memory.usage_in_bytes and
 *    memory.max_usage_in_bytes and memory.oom_control (oom_kill) in memory, and in blkio
 *    the first of
 *    blkio.throttle.io_service_bytes_recursive, blkio.throttle.io_service_bytes,
 *    blkio.io_service_bytes_recursive and blkio.bfq.io_service_bytes_recursive that
 *    exists (Read and Write lines summed over devices). v1 memory.usage_in_bytes counts
 *    page cache as well as anonymous memory (like v2 memory.current) and is the kernel's
 *    batched, slightly fuzzy counter; it is kept as is rather than rebuilt from
 *    memory.stat so that it matches what the v1 limit is enforced against.
 *  - hybrid: when the cgroup is missing in cpuacct, cpu.stat usage_usec of the same path
 *    in the unified hierarchy is used instead; PSI comes from the same path in the
 *    unified hierarchy (which has pressure files with or without controllers).
 * A process may sit in different cgroups in different v1 hierarchies: when @cgroup_path
 * does not exist in one of them, the fields read from there are left absent, not an
 * error. Per-cgroup PSI exists only on cgroup2 with a kernel built with (and booted
 * with) PSI; v1-only hosts have none (host-wide figures are in /proc/pressure, which
 * psc_cgroupfs_parse_psi() reads). Missing, empty, garbled or out-of-range files leave
 * their fields absent as well. @out->limits is filled as by psc_cgroupfs_read_limits().
 *
 * Returns 0 (possibly with few or no fields present); -EINVAL for NULL arguments or a
 * path that is not absolute or contains "." or ".." components; -ENAMETOOLONG; -ENOENT
 * when the cgroup does not exist (or vanished while being read) in the identity
 * hierarchy. @out is fully written on success and left undefined on failure. */
int psc_cgroupfs_read_usage(const struct psc_cgroupfs_layout *layout, const char *cgroup_path,
			    struct psc_cgroup_usage *out);

/* Parses the text of a pressure file (@len bytes at @text, need not be NUL-terminated):
 * "some avg10=1.00 avg60=... avg300=... total=N" and an optional "full ..." line.
 * Sets *@has_full when the full line was there. Returns 0, or -EINVAL when the some line
 * is missing or malformed (@out is then undefined). */
int psc_cgroupfs_parse_psi(const char *text, size_t len, struct psc_psi *out, bool *has_full);

/* Finds the path of the cgroup whose directory in the identity hierarchy has inode
 * @cgroup_id (the kernel cgroup id: what bpf_get_current_cgroup_id() returns on v2, and
 * the memory cgroup's kernfs id on v1), by walking the whole hierarchy once. Use a
 * struct psc_cgroup_index for repeated lookups. Writes the path ("/" for the root) to
 * @out (@size bytes). Returns 0, -ENOENT when no such cgroup exists, -ENAMETOOLONG when
 * the path does not fit (@out then holds nothing useful), or another negative errno when
 * the hierarchy cannot be read. */
int psc_cgroupfs_path_by_id(const struct psc_cgroupfs_layout *layout, uint64_t cgroup_id, char *out,
			    size_t size);

/* Derives a workload name from a cgroup path, writing it NUL-terminated to @out:
 *  - Kubernetes: ".../kubepods/burstable/pod<uid>/<container id>" (cgroupfs driver) and
 *    ".../kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope"
 *    (systemd driver; also crio-, docker- and plain <id>) -> "pod<uid>/<first 12 of id>",
 *    the uid with dashes in both cases; a pod cgroup without a container -> "pod<uid>";
 *  - docker: ".../docker/<64 hex>" or ".../docker-<64 hex>.scope" -> "docker:<12 hex>";
 *  - systemd: the deepest component ending in ".service" or ".scope"
 *    ("/system.slice/redis.service" -> "redis.service");
 *  - otherwise the last component; "/" (and "") -> "root".
 * Returns 0, -EINVAL for NULL arguments or @size 0, or -ENAMETOOLONG when the name was cut
 * to fit (@out still holds the cut, NUL-terminated name). */
int psc_cgroupfs_workload_name(const char *path, char *out, size_t size);

/* An inode -> path map of the identity hierarchy, for turning the cgroup ids that BPF
 * programs report into paths without a walk per lookup. Not thread-safe. */
struct psc_cgroup_index;

/* Creates an empty index over @layout's identity hierarchy (the directory name is copied:
 * @layout need not outlive the index). Call psc_cgroup_index_refresh() to fill it.
 * Returns 0 with *@out owned by the caller (free with psc_cgroup_index_free()), -EINVAL
 * when @layout has no identity hierarchy, or -ENOMEM; *@out is untouched on failure. */
int psc_cgroup_index_new(struct psc_cgroup_index **out, const struct psc_cgroupfs_layout *layout);

/* Rebuilds the index by walking the identity hierarchy: directories only, symlinks never
 * followed, at most PSC_CGROUP_INDEX_DEPTH levels below the root and
 * PSC_CGROUP_INDEX_MAX cgroups (deeper or further cgroups are left out and
 * psc_cgroup_index_stats() says so). Cgroups that vanish during the walk are skipped.
 * Returns 0, or a negative errno when the hierarchy's root cannot be read or memory runs
 * out, in which case the previous contents stay. Invalidates every pointer returned by
 * psc_cgroup_index_lookup() before. */
int psc_cgroup_index_refresh(struct psc_cgroup_index *idx);

#define PSC_CGROUP_INDEX_DEPTH 32
#define PSC_CGROUP_INDEX_MAX (1u << 20)

/* The path of cgroup id @id as of the last refresh, or NULL when unknown (the caller
 * may refresh, rate-limited, and retry). The string belongs to the index and stays valid
 * until the next refresh or free. */
const char *psc_cgroup_index_lookup(const struct psc_cgroup_index *idx, uint64_t id);

/* Number of cgroups indexed, and whether the last refresh left some out (depth or count
 * bounds, or unreadable directories). Either pointer may be NULL. */
void psc_cgroup_index_stats(const struct psc_cgroup_index *idx, size_t *count, bool *partial);

/* Frees *@idx (NULL or *@idx NULL is fine) and sets *@idx to NULL. */
void psc_cgroup_index_free(struct psc_cgroup_index **idx);
