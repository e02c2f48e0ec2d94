// SPDX-License-Identifier: MIT
/* cgroupfs reader: fixture trees (tests/data/cgroupfs) for layouts and file formats, a
 * temporary tree for the inode index, and this machine's /sys/fs/cgroup, read only. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroupfs.h"

/* Roots are kept shorter than the buffers paths are built in. */
#define ROOT_MAX 1024

static char fixture_root[ROOT_MAX];

static const char *fixture(const char *name)
{
	static char path[ROOT_MAX];
	const char *dir = getenv("PSC_TEST_DATA");

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/cgroupfs/%s", dir, name);
	return path;
}

static void detect_fixture(const char *name, struct psc_cgroupfs_layout *l)
{
	snprintf(fixture_root, sizeof(fixture_root), "%s", fixture(name));
	assert_int_equal(psc_cgroupfs_detect(fixture_root, l), 0);
}

static void assert_dir(const char *got, const char *sub)
{
	char want[PATH_MAX];

	snprintf(want, sizeof(want), "%s%s", fixture_root, sub);
	assert_string_equal(got, want);
}

static void test_detect_v2(void **unused)
{
	struct psc_cgroupfs_layout l;

	detect_fixture("v2", &l);
	assert_int_equal(l.mode, PSC_CGROUP_V2);
	assert_true(l.v2_memory);
	assert_dir(l.identity, "");
	assert_dir(l.memory, "");
	assert_dir(l.cpu, "");
	assert_dir(l.cpuacct, "");
	assert_dir(l.io, "");
	assert_dir(l.unified, "");
}

static void test_detect_hybrid(void **unused)
{
	struct psc_cgroupfs_layout l;

	detect_fixture("hybrid", &l);
	assert_int_equal(l.mode, PSC_CGROUP_HYBRID);
	assert_dir(l.identity, "/memory");
	assert_dir(l.memory, "/memory");
	assert_dir(l.cpu, "/cpu");
	assert_dir(l.cpuacct, "/cpuacct");
	assert_dir(l.io, "/blkio");
	assert_dir(l.unified, "/unified");
}

static void test_detect_v1(void **unused)
{
	struct psc_cgroupfs_layout l;

	detect_fixture("v1", &l);
	assert_int_equal(l.mode, PSC_CGROUP_V1);
	assert_dir(l.identity, "/memory");
	/* cpu and cpuacct are symlinks to the co-mounted cpu,cpuacct. */
	assert_dir(l.cpu, "/cpu");
	assert_dir(l.cpuacct, "/cpuacct");
	assert_dir(l.io, "/blkio");
	assert_string_equal(l.unified, "");
}

static void test_detect_errors(void **unused)
{
	struct psc_cgroupfs_layout l;
	char root[PATH_MAX];

	memset(&l, 0x5a, sizeof(l));
	assert_int_equal(psc_cgroupfs_detect(fixture("empty"), &l), -ENODEV);
	assert_int_equal(psc_cgroupfs_detect(fixture("does-not-exist"), &l), -ENOENT);
	assert_int_equal(psc_cgroupfs_detect(fixture("v2/cgroup.procs"), &l), -ENOENT);
	assert_int_equal(l.mode, 0x5a5a5a5a); /* untouched on failure */
	assert_int_equal(psc_cgroupfs_detect(fixture("v2"), NULL), -EINVAL);
	assert_int_equal(psc_cgroupfs_detect("", &l), -EINVAL);
	/* Trailing slashes are dropped. */
	snprintf(root, sizeof(root), "%s//", fixture("hybrid"));
	assert_int_equal(psc_cgroupfs_detect(root, &l), 0);
	assert_int_equal(l.mode, PSC_CGROUP_HYBRID);
	assert_string_equal(l.memory + strlen(l.memory) - 14, "/hybrid/memory");
}

static void test_v2_usage(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_cgroup_usage u;

	detect_fixture("v2", &l);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/system.slice/redis.service", &u), 0);
	assert_int_equal(u.present, PSC_CGU_CPU | PSC_CGU_THROTTLED | PSC_CGU_MEM |
					    PSC_CGU_MEM_PEAK | PSC_CGU_IO | PSC_CGU_PSI_CPU |
					    PSC_CGU_PSI_CPU_FULL | PSC_CGU_PSI_MEM |
					    PSC_CGU_PSI_MEM_FULL | PSC_CGU_PSI_IO |
					    PSC_CGU_PSI_IO_FULL);
	assert_int_equal(u.cpu_ns, 1923412000ull);
	assert_int_equal(u.throttled_ns, 815530000ull);
	assert_int_equal(u.mem_bytes, 52428800);
	assert_int_equal(u.mem_peak_bytes, 60000000);
	assert_int_equal(u.io_read_bytes, 12288 + 1000);
	assert_int_equal(u.io_write_bytes, 4096 + 2000000);
	assert_float_equal(u.psi_cpu.some_avg10, 1.52, 1e-9);
	assert_float_equal(u.psi_cpu.full_avg10, 0.75, 1e-9);
	assert_int_equal(u.psi_cpu.some_total_us, 4212331);
	assert_int_equal(u.psi_cpu.full_total_us, 2101456);
	assert_int_equal(u.psi_mem.some_total_us, 12);
	assert_float_equal(u.psi_io.some_avg10, 12.5, 1e-9);
	assert_float_equal(u.psi_io.full_avg10, 10.0, 1e-9);

	/* The root cgroup has no memory.current in v2. */
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/", &u), 0);
	assert_true(u.present & PSC_CGU_CPU);
	assert_false(u.present & PSC_CGU_MEM);
	assert_true(u.present & PSC_CGU_IO);
	assert_int_equal(u.io_write_bytes, 9876217856ull);
	assert_true(u.present & PSC_CGU_PSI_IO_FULL);

	assert_int_equal(
		psc_cgroupfs_read_usage(
			&l,
			"/kubepods.slice/kubepods-burstable.slice/"
			"kubepods-burstable-pod1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901.slice/"
			"cri-containerd-4f1c2a9be07d5e3b8c6a1f0d2e4b6c8a0f1e3d5c7b9a2c4e6f8"
			"a0b1c3d5e7f9a.scope",
			&u),
		0);
	assert_int_equal(u.present, PSC_CGU_CPU | PSC_CGU_THROTTLED | PSC_CGU_MEM);
	assert_int_equal(u.mem_bytes, 20971520);

	/* A cgroup without any of the files: success, nothing present. */
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/user.slice", &u), 0);
	assert_int_equal(u.present, 0);
	assert_int_equal(u.cpu_ns, 0);
}

static void test_v2_older_kernel(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_cgroup_usage u;

	detect_fixture("v2", &l);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/system.slice/legacy.service", &u), 0);
	assert_int_equal(u.present, PSC_CGU_CPU | PSC_CGU_MEM | PSC_CGU_IO | PSC_CGU_PSI_CPU |
					    PSC_CGU_PSI_MEM | PSC_CGU_PSI_MEM_FULL |
					    PSC_CGU_PSI_IO | PSC_CGU_PSI_IO_FULL);
	assert_int_equal(u.cpu_ns, 7300000);
	assert_int_equal(u.io_read_bytes, 0);
	assert_int_equal(u.io_write_bytes, 0);
	assert_int_equal(u.psi_cpu.some_total_us, 55);
	assert_int_equal(u.psi_cpu.full_total_us, 0);
}

static void test_v2_malformed(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_cgroup_usage u;

	detect_fixture("v2", &l);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/system.slice/broken.service", &u), 0);
	/* Each key of cpu.stat stands alone: the good throttled_usec survives. */
	assert_int_equal(u.present, PSC_CGU_THROTTLED);
	assert_int_equal(u.throttled_ns, 12000);
	assert_int_equal(u.cpu_ns, 0);
	assert_int_equal(u.mem_peak_bytes, 0);

	assert_int_equal(psc_cgroupfs_read_usage(&l, "/system.slice/huge.service", &u), 0);
	/* usage_usec * 1000 overflows; memory.current has junk; io.stat sums overflow. */
	assert_int_equal(u.present, PSC_CGU_THROTTLED | PSC_CGU_MEM_PEAK);
	assert_int_equal(u.throttled_ns, 18446744073709551000ull);
	assert_int_equal(u.mem_peak_bytes, UINT64_MAX);
}

static void test_bad_paths(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_cgroup_usage u;
	char longp[PSC_CGROUP_PATH_MAX + 10];

	detect_fixture("v2", &l);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/system.slice/gone.service", &u), -ENOENT);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/system.slice/redis.service/cpu.stat", &u),
			 -ENOENT);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "system.slice", &u), -EINVAL);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/system.slice/../..", &u), -EINVAL);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/./system.slice", &u), -EINVAL);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/..", &u), -EINVAL);
	assert_int_equal(psc_cgroupfs_read_usage(&l, NULL, &u), -EINVAL);
	assert_int_equal(psc_cgroupfs_read_usage(NULL, "/", &u), -EINVAL);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/", NULL), -EINVAL);
	memset(longp, 'a', sizeof(longp));
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(psc_cgroupfs_read_usage(&l, longp, &u), -ENAMETOOLONG);
	/* "..." is a legal name, not a parent reference. */
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/...", &u), -ENOENT);
}

static void test_hybrid_usage(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_cgroup_usage u;

	detect_fixture("hybrid", &l);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/system.slice/redis.service", &u), 0);
	assert_int_equal(u.present, PSC_CGU_CPU | PSC_CGU_THROTTLED | PSC_CGU_MEM |
					    PSC_CGU_MEM_PEAK | PSC_CGU_IO | PSC_CGU_PSI_CPU |
					    PSC_CGU_PSI_CPU_FULL | PSC_CGU_PSI_MEM |
					    PSC_CGU_PSI_MEM_FULL | PSC_CGU_PSI_IO |
					    PSC_CGU_PSI_IO_FULL);
	assert_int_equal(u.cpu_ns, 1923412345ull); /* cpuacct.usage, ns */
	assert_int_equal(u.throttled_ns, 815530123ull);
	assert_int_equal(u.mem_bytes, 7086080);
	assert_int_equal(u.mem_peak_bytes, 7299072);
	/* The _recursive throttle file wins over the local one. */
	assert_int_equal(u.io_read_bytes, 12288 + 1000);
	assert_int_equal(u.io_write_bytes, 4096 + 2000000);
	assert_float_equal(u.psi_io.some_avg10, 12.5, 1e-9);

	/* Only in the memory hierarchy (this VM's layout): memory figures only. */
	assert_int_equal(
		psc_cgroupfs_read_usage(&l, "/process_api/77a1d9fbcda70cf4a9cc4c5f9cebeac3", &u),
		0);
	assert_int_equal(u.present, PSC_CGU_MEM | PSC_CGU_MEM_PEAK);
	assert_int_equal(u.mem_bytes, 7086080);

	/* Missing in cpuacct, present in unified: cpu time from unified cpu.stat. */
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/system.slice/fallback.service", &u), 0);
	assert_int_equal(u.present, PSC_CGU_CPU | PSC_CGU_MEM);
	assert_int_equal(u.cpu_ns, 5000000);

	/* In every v1 hierarchy but not in unified: no PSI. */
	assert_int_equal(
		psc_cgroupfs_read_usage(&l,
					"/docker/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0"
					"b822cd15d6c15b0f00a08",
					&u),
		0);
	assert_int_equal(u.present, PSC_CGU_CPU | PSC_CGU_THROTTLED | PSC_CGU_MEM |
					    PSC_CGU_MEM_PEAK | PSC_CGU_IO);
	assert_int_equal(u.cpu_ns, 5000000000ull);
	assert_int_equal(u.io_read_bytes, 0);

	/* Missing from memory: gone, whatever the other hierarchies hold. */
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/nope", &u), -ENOENT);
}

static void test_v1_usage(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_cgroup_usage u;

	detect_fixture("v1", &l);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/system.slice/nginx.service", &u), 0);
	assert_int_equal(u.present, PSC_CGU_CPU | PSC_CGU_THROTTLED | PSC_CGU_MEM |
					    PSC_CGU_MEM_PEAK | PSC_CGU_IO);
	assert_int_equal(u.cpu_ns, 987654321);
	assert_int_equal(u.throttled_ns, 2500000);
	assert_int_equal(u.mem_bytes, 33554432);
	assert_int_equal(u.io_read_bytes, 40960);
	assert_int_equal(u.io_write_bytes, 8192);
}

static void test_v2_limits_and_oom(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_cgroup_limits lim;
	struct psc_cgroup_usage u;

	detect_fixture("v2", &l);
	assert_int_equal(psc_cgroupfs_read_limits(&l, "/system.slice/limited.service", &lim), 0);
	assert_int_equal(lim.present, (1u << _PSC_RES_MAX) - 1);
	assert_int_equal(lim.v[PSC_RES_CPU_MAX], 1500000); /* 1.5 cores in micro-cores */
	assert_int_equal(lim.cpu_period_us, 100000);
	assert_int_equal(lim.v[PSC_RES_CPU_WEIGHT], 250);
	assert_int_equal(lim.v[PSC_RES_CPU_BURST], 20000);
	assert_int_equal(lim.v[PSC_RES_MEM_MIN], 67108864);
	assert_int_equal(lim.v[PSC_RES_MEM_HIGH], 419430400);
	assert_int_equal(lim.v[PSC_RES_MEM_MAX], 536870912);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/system.slice/limited.service", &u), 0);
	assert_int_equal(u.present, PSC_CGU_MEM | PSC_CGU_OOM_KILLS);
	assert_int_equal(u.oom_kills, 2);
	assert_memory_equal(&u.limits, &lim, sizeof(lim));

	/* redis.service: cpu.max "50000 100000" and memory.max "max" only. */
	assert_int_equal(psc_cgroupfs_read_limits(&l, "/system.slice/redis.service", &lim), 0);
	assert_int_equal(lim.present, (1u << PSC_RES_CPU_MAX) | (1u << PSC_RES_MEM_MAX));
	assert_int_equal(lim.v[PSC_RES_CPU_MAX], 500000);
	assert_int_equal(lim.v[PSC_RES_MEM_MAX], PSC_LIMIT_UNLIMITED);

	/* Garbage leaves each field absent: "max" without a period, a weight with junk, a
	 * negative or misspelt limit, a non-numeric oom_kill. */
	assert_int_equal(psc_cgroupfs_read_limits(&l, "/system.slice/badlimits.service", &lim), 0);
	assert_int_equal(lim.present, 0);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/system.slice/badlimits.service", &u), 0);
	assert_false(u.present & PSC_CGU_OOM_KILLS);

	/* No files: nothing present; errors as for usage. */
	assert_int_equal(psc_cgroupfs_read_limits(&l, "/user.slice", &lim), 0);
	assert_int_equal(lim.present, 0);
	assert_int_equal(psc_cgroupfs_read_limits(&l, "/system.slice/gone.service", &lim), -ENOENT);
	assert_int_equal(psc_cgroupfs_read_limits(&l, "/..", &lim), -EINVAL);
	assert_int_equal(psc_cgroupfs_read_limits(NULL, "/", &lim), -EINVAL);
	assert_int_equal(psc_cgroupfs_read_limits(&l, "/", NULL), -EINVAL);
	assert_string_equal(psc_res_name(PSC_RES_MEM_HIGH), "memory_high");
	assert_null(psc_res_name(_PSC_RES_MAX));
}

static void test_v1_limits_and_oom(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_cgroup_limits lim;
	struct psc_cgroup_usage u;

	detect_fixture("hybrid", &l);
	assert_int_equal(psc_cgroupfs_read_limits(&l, "/limited", &lim), 0);
	/* memory.min has no v1 file. */
	assert_int_equal(lim.present, ((1u << _PSC_RES_MAX) - 1) & ~(1u << PSC_RES_MEM_MIN));
	assert_int_equal(lim.v[PSC_RES_CPU_MAX], 500000); /* 25 ms of 50 ms */
	assert_int_equal(lim.cpu_period_us, 50000);
	assert_int_equal(lim.v[PSC_RES_CPU_WEIGHT], 50); /* 512 shares */
	assert_int_equal(lim.v[PSC_RES_CPU_BURST], 0);
	assert_int_equal(lim.v[PSC_RES_MEM_MAX], 268435456);
	/* The page counter's maximum is no limit. */
	assert_int_equal(lim.v[PSC_RES_MEM_HIGH], PSC_LIMIT_UNLIMITED);
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/limited", &u), 0);
	assert_true(u.present & PSC_CGU_OOM_KILLS);
	assert_int_equal(u.oom_kills, 7);
	assert_int_equal(u.limits.v[PSC_RES_MEM_MAX], 268435456);

	/* redis.service: quota 50000 of 100000, 1024 shares, an unlimited memory limit. */
	assert_int_equal(psc_cgroupfs_read_limits(&l, "/system.slice/redis.service", &lim), 0);
	assert_int_equal(lim.v[PSC_RES_CPU_MAX], 500000);
	assert_int_equal(lim.v[PSC_RES_CPU_WEIGHT], 100);
	assert_int_equal(lim.v[PSC_RES_MEM_MAX], PSC_LIMIT_UNLIMITED);
	assert_false(lim.present & (1u << PSC_RES_MEM_HIGH));
}

static void test_parse_psi(void **unused)
{
	static const char ok[] = "some avg10=5.06 avg60=1.57 avg300=0.89 total=6992415\n"
				 "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
	static const char *const bad[] = {
		"",
		"full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
		"some avg10=5.06 avg60=1.57 avg300=0.89\n",
		"some avg10=-1.00 avg60=1.57 avg300=0.89 total=1\n",
		"some avg10=1. avg60=1.57 avg300=0.89 total=1\n",
		"some avg10=1.00 avg60=1.57 avg300=0.89 total=99999999999999999999999\n",
		"some avg10=1.00 avg60=1.57 avg300=0.89 total=12x\n",
		"some avg10=99999999999.00 avg60=1.57 avg300=0.89 total=1\n",
	};
	static const char bad_full[] = "some avg10=1.00 avg60=0.00 avg300=0.00 total=3\n"
				       "full avg10=zz\n";
	struct psc_psi psi;
	bool full;

	assert_int_equal(psc_cgroupfs_parse_psi(ok, strlen(ok), &psi, &full), 0);
	assert_true(full);
	assert_float_equal(psi.some_avg10, 5.06, 1e-9);
	assert_int_equal(psi.some_total_us, 6992415);
	/* Not NUL-terminated: only @len bytes count. */
	assert_int_equal(psc_cgroupfs_parse_psi(ok, 53, &psi, &full), 0);
	assert_false(full);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(psc_cgroupfs_parse_psi(bad[i], strlen(bad[i]), &psi, &full),
				 -EINVAL);
	/* A bad full line only loses the full figures. */
	assert_int_equal(psc_cgroupfs_parse_psi(bad_full, strlen(bad_full), &psi, &full), 0);
	assert_false(full);
	assert_int_equal(psi.some_total_us, 3);
	assert_int_equal(psc_cgroupfs_parse_psi("some\0", 5, &psi, &full), -EINVAL);
}

static void test_workload_names(void **unused)
{
	static const struct {
		const char *path, *name;
	} cases[] = {
		{ "/", "root" },
		{ "", "root" },
		{ "/system.slice/redis.service", "redis.service" },
		{ "/system.slice/containerd.service/subgroup", "containerd.service" },
		{ "/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-foo-12.scope",
		  "app-gnome-foo-12.scope" },
		{ "/kubepods/burstable/pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901/"
		  "4f1c2a9be07d5e3b8c6a1f0d2e4b6c8a0f1e3d5c7b9a2c4e6f8a0b1c3d5e7f9a",
		  "pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901/4f1c2a9be07d" },
		/* Guaranteed QoS pods sit right under kubepods; a pod-level cgroup. */
		{ "/kubepods/pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901",
		  "pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901" },
		{ "/kubepods.slice/kubepods-burstable.slice/"
		  "kubepods-burstable-pod1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901.slice/"
		  "cri-containerd-4f1c2a9be07d5e3b8c6a1f0d2e4b6c8a0f1e3d5c7b9a2c4e6f8a0b1c3d5e7f9a"
		  ".scope",
		  "pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901/4f1c2a9be07d" },
		{ "/kubepods.slice/kubepods-pod1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901.slice/"
		  "crio-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope",
		  "pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901/0123456789ab" },
		{ "/docker/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		  "docker:9f86d081884c" },
		{ "/system.slice/"
		  "docker-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
		  ".scope",
		  "docker:9f86d081884c" },
		{ "/system.slice/docker.service", "docker.service" },
		{ "/docker", "docker" },
		{ "/process_api/77a1d9fbcda70cf4a9cc4c5f9cebeac3",
		  "77a1d9fbcda70cf4a9cc4c5f9cebeac3" },
		{ "/podman/podcast", "podcast" }, /* "pod" + non-uid, outside kubepods */
		{ "/a//b/", "b" },
	};
	char out[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(psc_cgroupfs_workload_name(cases[i].path, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].name);
	}
	assert_int_equal(psc_cgroupfs_workload_name("/system.slice/redis.service", out, 6),
			 -ENAMETOOLONG);
	assert_string_equal(out, "redis");
	assert_int_equal(psc_cgroupfs_workload_name("/", out, 0), -EINVAL);
	assert_int_equal(psc_cgroupfs_workload_name(NULL, out, sizeof(out)), -EINVAL);
}

/* ---- index over a temporary tree ---- */

static char tmp_root[ROOT_MAX];

static void mkdir_rel(const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s%s", tmp_root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static uint64_t ino_rel(const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", tmp_root, rel);
	assert_int_equal(lstat(p, &st), 0);
	return st.st_ino;
}

static int rm_tree(void)
{
	char cmd[PATH_MAX + 16];

	if (!tmp_root[0])
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup_tree(void **unused)
{
	char p[PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	int fd;

	snprintf(tmp_root, sizeof(tmp_root), "%s/psc-cgidx-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmp_root))
		return -1;
	/* A cgroup2 root, as far as detection is concerned. */
	snprintf(p, sizeof(p), "%s/cgroup.controllers", tmp_root);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "cpu io memory pids\n", 19) != 19)
		return -1;
	close(fd);
	return 0;
}

static int teardown_tree(void **unused)
{
	return rm_tree();
}

static void test_index(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_cgroup_index *idx = NULL;
	char p[PATH_MAX], q[PATH_MAX], out[64];
	size_t count;
	bool partial;

	mkdir_rel("/system.slice");
	mkdir_rel("/system.slice/redis.service");
	mkdir_rel("/system.slice/redis.service/sub");
	mkdir_rel("/user.slice");
	mkdir_rel("/outside");
	snprintf(p, sizeof(p), "%s/outside", tmp_root);
	snprintf(q, sizeof(q), "%s/link", tmp_root);
	assert_int_equal(symlink(p, q), 0); /* must not be followed or listed */

	assert_int_equal(psc_cgroupfs_detect(tmp_root, &l), 0);
	assert_int_equal(l.mode, PSC_CGROUP_V2);
	assert_int_equal(psc_cgroup_index_new(&idx, &l), 0);
	assert_non_null(idx);
	assert_null(psc_cgroup_index_lookup(idx, ino_rel("")));
	assert_int_equal(psc_cgroup_index_refresh(idx), 0);
	psc_cgroup_index_stats(idx, &count, &partial);
	assert_int_equal(count, 6);
	assert_false(partial);
	assert_string_equal(psc_cgroup_index_lookup(idx, ino_rel("")), "/");
	assert_string_equal(psc_cgroup_index_lookup(idx, ino_rel("/system.slice")),
			    "/system.slice");
	assert_string_equal(
		psc_cgroup_index_lookup(idx, ino_rel("/system.slice/redis.service/sub")),
		"/system.slice/redis.service/sub");
	assert_string_equal(psc_cgroup_index_lookup(idx, ino_rel("/outside")), "/outside");
	assert_null(psc_cgroup_index_lookup(idx, ino_rel("/link")));
	assert_null(psc_cgroup_index_lookup(idx, ino_rel("/cgroup.controllers")));

	/* One-shot lookup, and its buffer contract. */
	assert_int_equal(psc_cgroupfs_path_by_id(&l, ino_rel("/system.slice/redis.service"), out,
						 sizeof(out)),
			 0);
	assert_string_equal(out, "/system.slice/redis.service");
	assert_int_equal(psc_cgroupfs_path_by_id(&l, ino_rel(""), out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(
		psc_cgroupfs_path_by_id(&l, ino_rel("/system.slice/redis.service"), out, 10),
		-ENAMETOOLONG);
	assert_int_equal(psc_cgroupfs_path_by_id(&l, ino_rel("/link"), out, sizeof(out)), -ENOENT);

	/* A cgroup goes, another comes: the refresh follows. */
	snprintf(p, sizeof(p), "%s/user.slice", tmp_root);
	uint64_t gone = ino_rel("/user.slice");
	assert_int_equal(rmdir(p), 0);
	mkdir_rel("/machine.slice");
	assert_int_equal(psc_cgroup_index_refresh(idx), 0);
	assert_string_equal(psc_cgroup_index_lookup(idx, ino_rel("/machine.slice")),
			    "/machine.slice");
	if (gone != ino_rel("/machine.slice")) /* the inode may be reused at once */
		assert_null(psc_cgroup_index_lookup(idx, gone));
	psc_cgroup_index_stats(idx, &count, NULL);
	assert_int_equal(count, 6);

	psc_cgroup_index_free(&idx);
	assert_null(idx);
	psc_cgroup_index_free(&idx);
	psc_cgroup_index_free(NULL);
}

static void test_index_bounds(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_cgroup_index *idx = NULL;
	char rel[PATH_MAX] = "";
	size_t count;
	bool partial;

	/* A chain deeper than PSC_CGROUP_INDEX_DEPTH is cut, and says so. */
	for (int i = 0; i < PSC_CGROUP_INDEX_DEPTH + 8; i++) {
		strcat(rel, "/d");
		mkdir_rel(rel);
	}
	assert_int_equal(psc_cgroupfs_detect(tmp_root, &l), 0);
	assert_int_equal(psc_cgroup_index_new(&idx, &l), 0);
	assert_int_equal(psc_cgroup_index_refresh(idx), 0);
	psc_cgroup_index_stats(idx, &count, &partial);
	assert_true(partial);
	assert_int_equal(count, 1 + PSC_CGROUP_INDEX_DEPTH);
	assert_null(psc_cgroup_index_lookup(idx, ino_rel(rel)));
	assert_non_null(psc_cgroup_index_lookup(idx, ino_rel("/d/d/d")));

	/* The root vanishing: refresh fails and keeps what it had. */
	strcpy(l.identity, "/nonexistent/psc-test");
	psc_cgroup_index_free(&idx);
	assert_int_equal(psc_cgroup_index_new(&idx, &l), 0);
	assert_int_equal(psc_cgroup_index_refresh(idx), -ENOENT);
	psc_cgroup_index_stats(idx, &count, NULL);
	assert_int_equal(count, 0);
	assert_null(psc_cgroup_index_lookup(idx, 1));
	psc_cgroup_index_free(&idx);

	memset(&l, 0, sizeof(l));
	assert_int_equal(psc_cgroup_index_new(&idx, &l), -EINVAL);
	assert_null(idx);
}

/* ---- this machine, read only ---- */

/* Does the comma-separated @list hold @word? */
static bool list_has(const char *list, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list; *p; p += strcspn(p, ","), p += *p == ',')
		if (strcspn(p, ",") == wl && strncmp(p, word, wl) == 0)
			return true;
	return false;
}

/* The calling process's cgroup in the hierarchy that carries @controller ("" for v2). */
static bool own_cgroup(const char *controller, char *out, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *path;

		if (!ctl || !(path = strchr(ctl + 1, ':')))
			continue;
		*path++ = '\0';
		ctl++;
		path[strcspn(path, "\n")] = '\0';
		if (controller[0] ? list_has(ctl, controller) : ctl[0] == '\0') {
			snprintf(out, size, "%s", path);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static void test_real_host(void **unused)
{
	struct psc_cgroupfs_layout l;
	struct psc_cgroup_usage u;
	struct psc_cgroup_index *idx = NULL;
	char path[4096], dir[PSC_CGROUPFS_DIR_MAX + 4096], out[4096];
	bool v1_memory;
	struct stat st;
	int r;

	if (access("/sys/fs/cgroup", R_OK) != 0) {
		print_message("skipped: no /sys/fs/cgroup\n");
		skip();
	}
	r = psc_cgroupfs_detect(NULL, &l);
	if (r == -ENODEV) {
		print_message("skipped: /sys/fs/cgroup holds no memory hierarchy\n");
		skip();
	}
	assert_int_equal(r, 0);
	v1_memory = own_cgroup("memory", path, sizeof(path));
	if (v1_memory) {
		/* This build host: hybrid, memory on v1. */
		assert_int_not_equal(l.mode, PSC_CGROUP_V2);
		assert_string_equal(l.identity, "/sys/fs/cgroup/memory");
		assert_string_equal(l.memory, "/sys/fs/cgroup/memory");
	} else {
		assert_int_equal(l.mode, PSC_CGROUP_V2);
		if (!own_cgroup("", path, sizeof(path))) {
			print_message("skipped: cannot tell this process's cgroup\n");
			skip();
		}
	}
	print_message("layout %d identity %s; this process in %s\n", l.mode, l.identity, path);

	r = psc_cgroupfs_read_usage(&l, path, &u);
	assert_int_equal(r, 0);
	if (v1_memory || l.v2_memory) {
		assert_true(u.present & PSC_CGU_MEM);
		assert_true(u.mem_bytes > 0);
	}
	assert_int_equal(psc_cgroupfs_read_usage(&l, "/psc-surely-not-a-cgroup", &u), -ENOENT);

	snprintf(dir, sizeof(dir), "%s%s", l.identity, path);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(psc_cgroup_index_new(&idx, &l), 0);
	assert_int_equal(psc_cgroup_index_refresh(idx), 0);
	assert_non_null(psc_cgroup_index_lookup(idx, st.st_ino));
	assert_string_equal(psc_cgroup_index_lookup(idx, st.st_ino), path);
	psc_cgroup_index_free(&idx);
	assert_int_equal(psc_cgroupfs_path_by_id(&l, st.st_ino, out, sizeof(out)), 0);
	assert_string_equal(out, path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect_v2),
		cmocka_unit_test(test_detect_hybrid),
		cmocka_unit_test(test_detect_v1),
		cmocka_unit_test(test_detect_errors),
		cmocka_unit_test(test_v2_usage),
		cmocka_unit_test(test_v2_older_kernel),
		cmocka_unit_test(test_v2_malformed),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_hybrid_usage),
		cmocka_unit_test(test_v1_usage),
		cmocka_unit_test(test_v2_limits_and_oom),
		cmocka_unit_test(test_v1_limits_and_oom),
		cmocka_unit_test(test_parse_psi),
		cmocka_unit_test(test_workload_names),
		cmocka_unit_test_setup_teardown(test_index, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_index_bounds, setup_tree, teardown_tree),
		cmocka_unit_test(test_real_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
