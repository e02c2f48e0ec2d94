// SPDX-License-Identifier: MIT
/* floor_loader MODE FLOOR_OBJ [AGENT_OBJ]: attaches empty BPF programs (floor.bpf.c) and
 * waits for SIGINT/SIGTERM, for overhead_floor.sh. Modes:
 *   tp         empty programs on every tracepoint the agent's object (AGENT_OBJ) attaches to
 *   tp-exit    the same without its sys_enter_* tracepoints
 *   raw        one empty raw_tp program on sys_enter and one on sys_exit (every syscall)
 *   raw-exit   one empty raw_tp program on sys_exit only
 *   btf-filter one tp_btf/sys_exit program that tests the syscall number against the set of
 *              syscalls the agent's exit programs name, and returns
 *   skb        empty cgroup_skb ingress and egress programs on the cgroup v2 directory given
 *              as AGENT_OBJ's place (floor_loader skb FLOOR_OBJ CGROUP_DIR)
 * Prints "FLOOR-LOADED <n> programs attached" on stderr once attached. Bench-only code. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LINKS 64

static struct bpf_link *links[MAX_LINKS];
static int n_links;

static int add_link(struct bpf_link *l, const char *what)
{
	if (!l) {
		fprintf(stderr, "floor_loader: cannot attach %s: %s\n", what, strerror(errno));
		return -1;
	}
	if (n_links == MAX_LINKS) {
		bpf_link__destroy(l);
		return -1;
	}
	links[n_links++] = l;
	return 0;
}

/* x86-64 numbers of the syscalls the agent hooks (the benchmark runs on x86-64 only, like
 * the committed vmlinux.h). */
static const struct {
	const char *name;
	int nr;
} x86_nr[] = {{"read", 0},	 {"write", 1},	    {"readv", 19},   {"writev", 20},
	      {"recvfrom", 45},	 {"sendto", 44},    {"recvmsg", 47}, {"sendmsg", 46},
	      {"recvmmsg", 299}, {"sendmmsg", 307}, {"accept", 43},  {"accept4", 288},
	      {"connect", 42},	 {"close", 3},	    {"getppid", 110}};

static int nr_of(const char *name)
{
	for (size_t i = 0; i < sizeof(x86_nr) / sizeof(x86_nr[0]); i++)
		if (strcmp(x86_nr[i].name, name) == 0)
			return x86_nr[i].nr;
	return -1;
}

/* Calls @fn for every section of the agent's programs. */
static int agent_sections(const char *agent_obj, int (*fn)(const char *sec, void *arg), void *arg)
{
	struct bpf_object *obj = bpf_object__open(agent_obj);
	struct bpf_program *p;
	int r = 0;

	if (!obj) {
		fprintf(stderr, "floor_loader: cannot open %s\n", agent_obj);
		return -1;
	}
	bpf_object__for_each_program(p, obj)
	{
		r = fn(bpf_program__section_name(p), arg);
		if (r)
			break;
	}
	bpf_object__close(obj);
	return r;
}

struct tp_arg {
	struct bpf_object *floor;
	int exit_only;
};

static int attach_like(const char *sec, void *arg)
{
	struct tp_arg *a = arg;
	char cat[64], name[64];

	if (sscanf(sec, "tp/%63[^/]/%63s", cat, name) == 2) {
		if (a->exit_only && strncmp(name, "sys_enter_", 10) == 0)
			return 0;
		struct bpf_program *p = bpf_object__find_program_by_name(a->floor, "empty_tp");
		return add_link(bpf_program__attach_tracepoint(p, cat, name), sec);
	}
	if (sscanf(sec, "raw_tp/%63s", name) == 1) {
		struct bpf_program *p = bpf_object__find_program_by_name(a->floor, "empty_raw");
		return add_link(bpf_program__attach_raw_tracepoint(p, name), sec);
	}
	fprintf(stderr, "floor_loader: section %s not mirrored\n", sec);
	return 0;
}

static int set_keep(const char *sec, void *arg)
{
	__u64 *keep = arg;
	const char *pfx = "tp/syscalls/sys_exit_";
	int nr;

	if (strncmp(sec, pfx, strlen(pfx)) != 0)
		return 0;
	nr = nr_of(sec + strlen(pfx));
	if (nr < 0 || nr >= 512) {
		fprintf(stderr, "floor_loader: no syscall number for %s\n", sec);
		return -1;
	}
	keep[nr / 64] |= 1ull << (nr % 64);
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr,
			"usage: floor_loader tp|tp-exit|raw|raw-exit|btf-filter|skb FLOOR_OBJ [AGENT_OBJ|CGROUP_DIR]\n");
		return 2;
	}
	const char *mode = argv[1], *agent_obj = argc > 3 ? argv[3] : NULL;
	struct bpf_object *floor = bpf_object__open(argv[2]);
	if (!floor) {
		fprintf(stderr, "floor_loader: cannot open %s\n", argv[2]);
		return 1;
	}
	int btf = strcmp(mode, "btf-filter") == 0;
	struct bpf_program *p;
	bpf_object__for_each_program(p, floor) bpf_program__set_autoload(
		p, btf == (strcmp(bpf_program__name(p), "exit_filter") == 0));
	if (btf) {
		__u64 keep[8] = {};
		if (!agent_obj || agent_sections(agent_obj, set_keep, keep))
			return 1;
		struct bpf_map *rodata = bpf_object__find_map_by_name(floor, ".rodata");
		size_t sz;
		__u64 *ro = rodata ? (__u64 *)bpf_map__initial_value(rodata, &sz) : NULL;
		if (!ro || sz < sizeof(keep))
			return 1;
		memcpy(ro, keep, sizeof(keep));
	}
	if (bpf_object__load(floor)) {
		fprintf(stderr, "floor_loader: load failed\n");
		return 1;
	}
	int r = 0;
	if (strcmp(mode, "tp") == 0 || strcmp(mode, "tp-exit") == 0) {
		struct tp_arg a = {floor, strcmp(mode, "tp-exit") == 0};
		r = agent_obj ? agent_sections(agent_obj, attach_like, &a) : -1;
	} else if (strcmp(mode, "raw") == 0 || strcmp(mode, "raw-exit") == 0) {
		p = bpf_object__find_program_by_name(floor, "empty_raw");
		if (mode[3] == '\0')
			r = add_link(bpf_program__attach_raw_tracepoint(p, "sys_enter"),
				     "sys_enter");
		if (!r)
			r = add_link(bpf_program__attach_raw_tracepoint(p, "sys_exit"), "sys_exit");
	} else if (strcmp(mode, "skb") == 0) {
		int cg = agent_obj ? open(agent_obj, O_RDONLY | O_DIRECTORY) : -1;
		if (cg < 0) {
			fprintf(stderr, "floor_loader: skb needs a cgroup v2 directory\n");
			return 1;
		}
		p = bpf_object__find_program_by_name(floor, "empty_skb_in");
		r = add_link(bpf_program__attach_cgroup(p, cg), "cgroup_skb/ingress");
		p = bpf_object__find_program_by_name(floor, "empty_skb_out");
		if (!r)
			r = add_link(bpf_program__attach_cgroup(p, cg), "cgroup_skb/egress");
	} else if (btf) {
		p = bpf_object__find_program_by_name(floor, "exit_filter");
		r = add_link(bpf_program__attach(p), "tp_btf/sys_exit");
	} else {
		fprintf(stderr, "floor_loader: unknown mode %s\n", mode);
		r = -1;
	}
	if (r)
		return 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "FLOOR-LOADED %d programs attached (%s)\n", n_links, mode);
	pause();
	for (int i = 0; i < n_links; i++)
		bpf_link__destroy(links[i]);
	bpf_object__close(floor);
	return 0;
}
