// SPDX-License-Identifier: MIT
#include "loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.skel.h"
#include "cleanup.h"
#include "events.h"
#include "log.h"
#include "socktrack.h"

#define MAX_LINKS 64

struct psc_loader {
	struct capture_bpf *skel;
	struct bpf_link *links[MAX_LINKS];
	unsigned n_links;
	unsigned disabled;
	struct psc_sock_slot *slots; /* mmap of sock_slots */
};

#define SOCK_SLOTS_BYTES ((size_t)PSC_SOCK_SLOTS * sizeof(struct psc_sock_slot))

static const char *tracefs_roots[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};

/* The program libbpf last said it failed to load, to name it in our own message. */
static char rejected_prog[64];

/* libbpf's messages (including verifier logs) are debug detail for us: we say what failed
 * in our own words and point at --log-level debug for the rest. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	const char *p;

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	if (strstr(line, "failed to load") && (p = strstr(line, "prog '"))) {
		p += strlen("prog '");
		size_t n = strcspn(p, "'");
		snprintf(rejected_prog, sizeof(rejected_prog), "%.*s", (int)n, p);
	}
	if (psc_log_get_level() >= PSC_LOG_DEBUG)
		psc_log(PSC_LOG_DEBUG, NULL, "libbpf: %s", line);
	return 0;
}

static const char *tracefs_root(void)
{
	char path[128];

	for (size_t i = 0; i < PSC_ARRAY_SIZE(tracefs_roots); i++) {
		snprintf(path, sizeof(path), "%s/events", tracefs_roots[i]);
		if (access(path, F_OK) == 0)
			return tracefs_roots[i];
	}
	return NULL;
}

/* Tracepoints are found by id under tracefs; some hosts boot without it mounted. */
static int ensure_tracefs(void)
{
	if (tracefs_root())
		return 0;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0) {
		psc_info("AGENT-TRACEFS", "mounted tracefs at /sys/kernel/tracing");
		return 0;
	}
	return psc_log_err_r(
		-errno, "tracefs is not mounted and mounting it at /sys/kernel/tracing failed; "
			"mount it (mount -t tracefs tracefs /sys/kernel/tracing)");
}

/* "tp/syscalls/sys_enter_read" -> does <tracefs>/events/syscalls/sys_enter_read exist? */
static bool tracepoint_exists(const char *section)
{
	const char *root = tracefs_root();
	const char *name = section + strlen("tp/");
	char path[256];

	if (!root)
		return false;
	snprintf(path, sizeof(path), "%s/events/%s", root, name);
	return access(path, F_OK) == 0;
}

/* Whether capability @cap is in the effective set (raw capget: no libcap needed). */
static bool has_capability(int cap)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data) != 0)
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}

static int check_privileges(void)
{
	static const struct {
		int cap;
		const char *name;
	} needed[] = {{39 /* CAP_BPF */, "CAP_BPF"},
		      {38 /* CAP_PERFMON */, "CAP_PERFMON"},
		      {CAP_SYS_ADMIN, "CAP_SYS_ADMIN"}};

	for (size_t i = 0; i < PSC_ARRAY_SIZE(needed); i++)
		if (!has_capability(needed[i].cap))
			return psc_log_err_r(-EPERM,
					     "prescient-agent needs root (or CAP_BPF, "
					     "CAP_PERFMON and CAP_SYS_ADMIN); %s is missing",
					     needed[i].name);
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		return psc_log_err_r(-ENOTSUP,
				     "this kernel exposes no BTF (/sys/kernel/btf/vmlinux); "
				     "prescient needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
	return 0;
}

#define EXIT_TP_PREFIX "tp/syscalls/sys_exit_"

/* The data, accept and connect exits run either in one tp_btf program on the raw sys_exit
 * tracepoint that dispatches by syscall number (@one_program: cheaper per hooked syscall,
 * see handle_sys_exit) or in one program per sys_exit_* tracepoint. Returns whether the
 * object has the single program at all (it is built for x86-64 only). */
static bool choose_exit_programs(struct psc_loader *l, bool one_program)
{
	struct bpf_program *one = bpf_object__find_program_by_name(l->skel->obj, "handle_sys_exit");
	struct bpf_program *prog;

	if (!one)
		return false;
	bpf_program__set_autoload(one, one_program);
	bpf_object__for_each_program(prog, l->skel->obj)
	{
		const char *sec = bpf_program__section_name(prog);

		if (strncmp(sec, EXIT_TP_PREFIX, strlen(EXIT_TP_PREFIX)) == 0)
			bpf_program__set_autoload(prog, !one_program);
	}
	return true;
}

/* Disables programs whose hook this kernel lacks, before load, so the rest can run. */
static void probe_features(struct psc_loader *l)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, l->skel->obj)
	{
		const char *sec = bpf_program__section_name(prog);
		bool ok = true;

		if (!bpf_program__autoload(prog))
			continue; /* not chosen (choose_exit_programs) */

		if (strncmp(sec, "tp/", 3) == 0)
			ok = tracepoint_exists(sec);
		else if (strncmp(sec, "raw_tp/", 7) == 0)
			ok = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, NULL) > 0;
		if (!ok) {
			bpf_program__set_autoload(prog, false);
			l->disabled++;
			psc_warn("AGENT-PROBE-DISABLED",
				 "%s is not available on this kernel: %s disabled", sec,
				 bpf_program__name(prog));
		}
	}
}

static int explain_load_failure(struct psc_loader *l, int r)
{
	if (r == -EPERM || r == -EACCES)
		return psc_log_err_r(r, "the kernel refused to load BPF programs: run as root, or "
					"with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN");
	if (rejected_prog[0])
		return psc_log_err_r(r,
				     "the kernel rejected BPF program %s; run with --log-level "
				     "debug to see the verifier's log",
				     rejected_prog);
	if (r == -EINVAL || r == -E2BIG || r == -ENOSPC)
		return psc_log_err_r(r, "a BPF program was rejected by the verifier; run with "
					"--log-level debug to see the verifier's log");
	return psc_log_err_r(r, "cannot load the BPF programs");
}

/* Opens, loads and attaches the programs into @l (empty on entry). With @one_exit, the
 * exits run in handle_sys_exit; if the kernel refuses it (no BTF for the raw tracepoint,
 * no tp_btf), returns -EAGAIN with @l empty again so that the caller retries with one
 * tracepoint per syscall. */
static int load_and_attach(struct psc_loader *l, const struct psc_loader_opts *opts, bool one_exit)
{
	struct bpf_program *prog;
	int r;

	l->skel = capture_bpf__open();
	if (!l->skel)
		return psc_log_err_r(-errno, "cannot open the BPF object");

	l->skel->rodata->head_len = opts->head_len;
	l->skel->rodata->use_v1_memcg = opts->use_v1_memcg;
	l->skel->rodata->self_tgid = (uint32_t)getpid();
	l->skel->rodata->sample_every = opts->sample_every ? opts->sample_every : 1;
	l->skel->rodata->wakeup_bytes = opts->ringbuf_bytes / 4;
	bpf_map__set_max_entries(l->skel->maps.events, opts->ringbuf_bytes);
	if (one_exit && !choose_exit_programs(l, true))
		one_exit = false;
	if (!one_exit)
		choose_exit_programs(l, false);
	probe_features(l);

	r = capture_bpf__load(l->skel);
	if (r < 0 && one_exit) {
		psc_info("AGENT-EXIT-DISPATCH",
			 "tp_btf/sys_exit cannot be loaded here (%s): one "
			 "tracepoint per syscall instead",
			 strerror(-r));
		goto retry;
	}
	if (r < 0) {
		explain_load_failure(l, r);
		capture_bpf__destroy(l->skel);
		l->skel = NULL;
		return r;
	}

	l->slots = mmap(NULL, SOCK_SLOTS_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
			bpf_map__fd(l->skel->maps.sock_slots), 0);
	if (l->slots == MAP_FAILED) {
		r = -errno;
		capture_bpf__destroy(l->skel);
		l->skel = NULL;
		return psc_log_err_r(r, "cannot map the socket table: %s", strerror(-r));
	}

	bpf_object__for_each_program(prog, l->skel->obj)
	{
		if (!bpf_program__autoload(prog))
			continue;
		struct bpf_link *link = bpf_program__attach(prog);
		if (!link && one_exit && strcmp(bpf_program__name(prog), "handle_sys_exit") == 0) {
			r = -errno;
			psc_info("AGENT-EXIT-DISPATCH",
				 "tp_btf/sys_exit cannot be attached here (%s): "
				 "one tracepoint per syscall instead",
				 strerror(-r));
			goto retry;
		}
		if (!link) {
			r = -errno;
			l->disabled++;
			psc_warn("AGENT-ATTACH-FAILED",
				 "cannot attach %s (%s): %s; continuing without it",
				 bpf_program__name(prog), bpf_program__section_name(prog),
				 strerror(-r));
			continue;
		}
		if (l->n_links < MAX_LINKS)
			l->links[l->n_links++] = link;
	}
	if (l->n_links == 0) {
		munmap(l->slots, SOCK_SLOTS_BYTES);
		capture_bpf__destroy(l->skel);
		l->skel = NULL;
		return psc_log_err_r(-ENOTSUP, "no BPF program could be attached");
	}
	psc_info("AGENT-LOADED", "%u BPF programs attached, %u disabled, head %u bytes, exits %s",
		 l->n_links, l->disabled, opts->head_len,
		 one_exit ? "in one tp_btf/sys_exit program" : "on one tracepoint per syscall");
	return 0;

retry:
	for (unsigned i = 0; i < l->n_links; i++)
		bpf_link__destroy(l->links[i]);
	if (l->slots && l->slots != MAP_FAILED)
		munmap(l->slots, SOCK_SLOTS_BYTES);
	capture_bpf__destroy(l->skel);
	memset(l, 0, sizeof(*l));
	rejected_prog[0] = '\0';
	return -EAGAIN;
}

int psc_loader_new(struct psc_loader **out, const struct psc_loader_opts *opts)
{
	_cleanup_free_ struct psc_loader *l = NULL;
	int r;

	if (opts->head_len == 0 || opts->head_len > PSC_HEAD_MAX)
		return psc_log_err_r(-EINVAL, "head length %u out of range 1..%u", opts->head_len,
				     PSC_HEAD_MAX);
	libbpf_set_print(libbpf_print);
	r = check_privileges();
	if (r < 0)
		return r;
	r = ensure_tracefs();
	if (r < 0)
		return r;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	r = load_and_attach(l, opts, opts->exit_one_program);
	if (r == -EAGAIN)
		r = load_and_attach(l, opts, false);
	if (r < 0)
		return r;
	*out = TAKE_PTR(l);
	return 0;
}

void psc_loader_free(struct psc_loader **loader)
{
	if (!loader || !*loader)
		return;
	for (unsigned i = 0; i < (*loader)->n_links; i++)
		bpf_link__destroy((*loader)->links[i]);
	munmap((*loader)->slots, SOCK_SLOTS_BYTES);
	capture_bpf__destroy((*loader)->skel);
	free(*loader);
	*loader = NULL;
}

struct capture_bpf *psc_loader_skel(struct psc_loader *loader)
{
	return loader->skel;
}

void psc_loader_socktable(struct psc_loader *loader, struct psc_socktable *out)
{
	out->slots = loader->slots;
	out->overflow_fd = bpf_map__fd(loader->skel->maps.sockets);
	out->overflow = &loader->skel->bss->sockets_overflow;
	out->tgid_filter = loader->skel->bss->tgid_filter;
}

unsigned psc_loader_attached(const struct psc_loader *loader)
{
	return loader->n_links;
}

unsigned psc_loader_disabled(const struct psc_loader *loader)
{
	return loader->disabled;
}
