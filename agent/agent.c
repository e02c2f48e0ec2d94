// SPDX-License-Identifier: MIT
#include "agent.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "actuator.h"
#include "caps.h"
#include "capture.skel.h"
#include "cgroupfs.h"
#include "cleanup.h"
#include "conn.h"
#include "enforce.h"
#include "hashmap.h"
#include "loader.h"
#include "ratelimit.h"
#include "recording.h"
#include "report_pb.h"
#include "log.h"
#include "report.h"
#include "socktrack.h"
#include "uplink.h"
#include "window.h"

_Static_assert(sizeof(struct psc_event_hdr) == 56, "events.h ABI changed: update both sides");
_Static_assert(sizeof(struct psc_link) == 32, "events.h ABI changed: update both sides");
_Static_assert(sizeof(struct psc_sock_info) == 48, "events.h ABI changed: update both sides");

/* How often the ring buffer is drained when no wakeup came (the kernel side only wakes
 * us past a fill level). */
#define DRAIN_INTERVAL_MS 100

struct workload_info {
	char path[PSC_CGROUP_PATH_MAX];
	char name[256];
	bool has_base;
	/* Its cgroup was gone before the window's last ring drain: every event it will ever
	 * have is delivered, so it can be forgotten (see end_window). */
	bool gone_before_drain;
	struct psc_cgroup_usage base; /* cumulative counters at the start of the window */
};

struct agent {
	const struct psc_agent_opts *opts;
	struct psc_cgroupfs_layout layout;
	struct psc_cgroup_index *index;
	struct psc_loader *loader;
	struct capture_bpf *skel;
	struct ring_buffer *rb;
	struct psc_window *window;
	struct psc_conn_table *conns;
	struct psc_hashmap *kernel_prev; /* cgroup id -> struct psc_cg_counters (cumulative) */
	int ncpus;
	uint64_t drops_reported[_PSC_DROP_MAX];
	uint64_t windows;
	uint64_t reports;
	uint64_t unresolved; /* workloads whose cgroup id matched no cgroup directory */
	uint64_t events;     /* ring-buffer records received */
	double window_start;
	struct psc_recorder *rec;	 /* --record */
	struct psc_uplink *uplink;	 /* --aggregator */
	struct psc_actuator *actuator;	 /* with the uplink: the cgroup writer */
	struct psc_enforce *enforce;	 /* with the uplink: adjustments */
	struct psc_ratelimit *ratelimit; /* with --manage: egress token buckets */
	struct psc_report_item *items;	 /* this window's reports, for the uplink */
	size_t n_items, cap_items;
	uint64_t ringbuf_drops_window;
	/* cgroup id -> path (char *), learned when an id is first seen (a short-lived cgroup
	 * may be gone by the end of the window) or from a recording's path records. */
	struct psc_hashmap *paths;
	double last_index_refresh;
	bool replay;
	int64_t replay_offset_ns;	 /* realtime - monotonic of the recording */
	uint64_t replay_boundary_ns;	 /* end of the current window, monotonic */
};

static double now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Index refreshes walk the whole hierarchy: at most this often when unknown ids arrive. */
#define INDEX_REFRESH_MIN_S 0.2

static void learn_path(struct agent *a, uint64_t cgroup_id)
{
	if (psc_hashmap_get(a->paths, cgroup_id))
		return;
	const char *path = psc_cgroup_index_lookup(a->index, cgroup_id);
	if (!path) {
		double now = now_realtime();
		if (now - a->last_index_refresh < INDEX_REFRESH_MIN_S)
			return;
		a->last_index_refresh = now;
		psc_cgroup_index_refresh(a->index);
		path = psc_cgroup_index_lookup(a->index, cgroup_id);
		if (!path)
			return;
	}
	char *copy = strdup(path);
	if (copy && psc_hashmap_put(a->paths, cgroup_id, copy) < 0)
		free(copy);
}

/* Socket bytes and calls per workload, from the delivered events (the kernel adds those of
 * events it had to drop, see events.h). */
static void count_socket_io(struct agent *a, const struct psc_event_hdr *h)
{
	struct psc_workload *wl = psc_window_workload(a->window, h->cgroup_id);

	if (!wl || h->kind != PSC_EV_DATA)
		return;
	if (h->dir == PSC_DIR_INGRESS) {
		wl->kernel.rx_bytes += h->size;
		wl->kernel.rx_calls++;
	} else {
		wl->kernel.tx_bytes += h->size;
		wl->kernel.tx_calls++;
	}
	wl->active = true;
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct agent *a = ctx;
	const struct psc_event *e = data;

	if (size < sizeof(e->hdr) || sizeof(e->hdr) + e->hdr.cap_len > size)
		return 0;
	if (a->rec)
		psc_recorder_event(a->rec, data, sizeof(e->hdr) + e->hdr.cap_len);
	if (!a->replay)
		learn_path(a, e->hdr.cgroup_id);
	a->events++;
	count_socket_io(a, &e->hdr);
	if (e->hdr.kind == PSC_EV_DATA)
		psc_conn_on_data(a->conns, &e->hdr, e->data);
	else if (e->hdr.kind == PSC_EV_CLOSE)
		psc_conn_on_close(a->conns, &e->hdr);
	else if (e->hdr.kind == PSC_EV_LINK && e->hdr.cap_len >= sizeof(struct psc_link)) {
		struct psc_link link;
		memcpy(&link, e->data, sizeof(link));
		if (!a->replay)
			learn_path(a, link.peer_cgroup_id);
		psc_conn_on_link(a->conns, &e->hdr, &link);
	}
	return 0;
}

static void sum_percpu(const void *values, size_t elem, int ncpus, uint64_t *out, size_t n)
{
	memset(out, 0, n * sizeof(*out));
	for (int cpu = 0; cpu < ncpus; cpu++) {
		const uint64_t *v = (const uint64_t *)((const char *)values + (size_t)cpu * elem);
		for (size_t i = 0; i < n; i++)
			out[i] += v[i];
	}
}

static void read_array(struct agent *a, int map_fd, uint32_t idx, uint64_t *out)
{
	uint64_t vals[a->ncpus];

	*out = 0;
	if (bpf_map_lookup_elem(map_fd, &idx, vals) == 0)
		for (int i = 0; i < a->ncpus; i++)
			*out += vals[i];
}

static void read_drops(struct agent *a, uint64_t drops[_PSC_DROP_MAX])
{
	for (uint32_t i = 0; i < _PSC_DROP_MAX; i++)
		read_array(a, bpf_map__fd(a->skel->maps.drops), i, &drops[i]);
}

/* Folds the kernel's cumulative per-cgroup counters into this window's deltas. */
static void collect_kernel_counters(struct agent *a)
{
	int fd = bpf_map__fd(a->skel->maps.cg_counters);
	size_t elem = (sizeof(struct psc_cg_counters) + 7) & ~7ul;
	_cleanup_free_ void *vals = malloc(elem * (size_t)a->ncpus);
	uint64_t key, next, *prev_key = NULL;
	const size_t n = sizeof(struct psc_cg_counters) / sizeof(uint64_t);

	if (!vals)
		return;
	while (bpf_map_get_next_key(fd, prev_key, &next) == 0) {
		key = next;
		prev_key = &key;
		struct psc_cg_counters cur;
		if (bpf_map_lookup_elem(fd, &key, vals) != 0)
			continue;
		sum_percpu(vals, elem, a->ncpus, (uint64_t *)&cur, n);

		struct psc_cg_counters *prev = psc_hashmap_get(a->kernel_prev, key);
		if (!prev) {
			prev = calloc(1, sizeof(*prev));
			if (!prev || psc_hashmap_put(a->kernel_prev, key, prev) < 0) {
				free(prev);
				continue;
			}
		}
		uint64_t *c = (uint64_t *)&cur, *p = (uint64_t *)prev, delta[n];
		bool any = false;
		for (size_t i = 0; i < n; i++) {
			delta[i] = c[i] >= p[i] ? c[i] - p[i] : c[i];
			any |= delta[i] != 0;
		}
		*prev = cur;
		if (!any)
			continue;
		struct psc_workload *wl = psc_window_workload(a->window, key);
		if (!wl)
			continue;
		uint64_t *k = (uint64_t *)&wl->kernel;
		for (size_t i = 0; i < n; i++)
			k[i] += delta[i];
		wl->active = true;
	}
}

static double stall_share(const struct psc_psi *now, const struct psc_psi *base, double window_s)
{
	if (now->some_total_us < base->some_total_us || window_s <= 0)
		return 0;
	double s = (now->some_total_us - base->some_total_us) / 1e6 / window_s;
	return s > 1 ? 1 : s;
}

static void usage_delta(const struct psc_cgroup_usage *now, const struct workload_info *info,
			double window_s, struct psc_workload_usage *u)
{
	const struct psc_cgroup_usage *b = &info->base;
	bool base = info->has_base;
	uint32_t both = base ? now->present & b->present : 0;

	memset(u, 0, sizeof(*u));
	if (both & PSC_CGU_CPU) {
		u->has_cpu = true;
		u->cpu_s = now->cpu_ns >= b->cpu_ns ? (now->cpu_ns - b->cpu_ns) / 1e9 : 0;
	}
	if (both & PSC_CGU_THROTTLED) {
		u->has_throttled = true;
		u->cpu_throttled_s = now->throttled_ns >= b->throttled_ns ?
					     (now->throttled_ns - b->throttled_ns) / 1e9 : 0;
	}
	if (now->present & PSC_CGU_MEM) {
		u->has_mem = true;
		u->mem_bytes = now->mem_bytes;
	}
	if (now->present & PSC_CGU_MEM_PEAK) {
		u->has_mem_peak = true;
		u->mem_peak_bytes = now->mem_peak_bytes;
	}
	if (both & PSC_CGU_IO) {
		u->has_io = true;
		u->io_read_bytes = now->io_read_bytes >= b->io_read_bytes ?
					   now->io_read_bytes - b->io_read_bytes : 0;
		u->io_write_bytes = now->io_write_bytes >= b->io_write_bytes ?
					    now->io_write_bytes - b->io_write_bytes : 0;
	}
	if (both & PSC_CGU_PSI_CPU) {
		u->has_psi_cpu = true;
		u->psi_cpu_some = stall_share(&now->psi_cpu, &b->psi_cpu, window_s);
	}
	if (both & PSC_CGU_PSI_MEM) {
		u->has_psi_mem = true;
		u->psi_mem_some = stall_share(&now->psi_mem, &b->psi_mem, window_s);
	}
	if (both & PSC_CGU_PSI_IO) {
		u->has_psi_io = true;
		u->psi_io_some = stall_share(&now->psi_io, &b->psi_io, window_s);
	}
	if (both & PSC_CGU_OOM_KILLS) {
		u->has_oom_kills = true;
		u->oom_kills = now->oom_kills >= b->oom_kills ? now->oom_kills - b->oom_kills : 0;
	}
	u->limits = now->limits;
}

static struct workload_info *workload_info(struct agent *a, struct psc_workload *wl,
					   bool *refreshed)
{
	char unknown[64];

	if (wl->userdata)
		return wl->userdata;
	const char *path = psc_hashmap_get(a->paths, wl->cgroup_id);
	if (!path && a->replay) {
		snprintf(unknown, sizeof(unknown), "/unresolved-cgroup-%" PRIu64, wl->cgroup_id);
		path = unknown;
	} else if (!path) {
		path = psc_cgroup_index_lookup(a->index, wl->cgroup_id);
	}
	if (!path && !*refreshed) {
		psc_cgroup_index_refresh(a->index);
		*refreshed = true;
		path = psc_cgroup_index_lookup(a->index, wl->cgroup_id);
	}
	if (!path)
		return NULL;
	struct workload_info *info = calloc(1, sizeof(*info));
	if (!info)
		return NULL;
	snprintf(info->path, sizeof(info->path), "%s", path);
	psc_cgroupfs_workload_name(info->path, info->name, sizeof(info->name));
	if (a->rec)
		psc_recorder_path(a->rec, wl->cgroup_id, info->path);
	/* The first window of a new workload has no CPU baseline: it starts now. */
	info->has_base = !a->replay &&
			 psc_cgroupfs_read_usage(&a->layout, info->path, &info->base) == 0;
	wl->userdata = info;
	return info;
}

/* Is @path under one of the --manage prefixes? */
static bool is_managed(const struct agent *a, const char *path)
{
	struct psc_guard_config g = psc_guard_config_default();

	g.prefixes = a->opts->manage;
	g.n_prefixes = a->opts->n_manage;
	return g.n_prefixes && psc_guard_managed(&g, path);
}

static void emit(struct agent *a, struct psc_workload *wl, struct workload_info *info,
		 const struct psc_workload_usage *u, double end, double window_s)
{
	struct psc_report_ctx ctx = {
		.ts = end,
		.window_s = window_s,
		.host = a->opts->host_id,
		.cgroup = info->path,
		.name = info->name,
		.sample_every = a->opts->sample_every ? a->opts->sample_every : 1,
	};
	_cleanup_free_ char *line = psc_report_json(&ctx, u, wl);

	if (!line)
		return;
	if (a->opts->print) {
		fputs(line, stdout);
		fputc('\n', stdout);
	}
	a->reports++;
	if (!a->uplink)
		return;
	if (a->n_items == a->cap_items) {
		size_t cap = a->cap_items ? a->cap_items * 2 : 64;
		struct psc_report_item *n = realloc(a->items, cap * sizeof(*n));
		if (!n)
			return;
		a->items = n;
		a->cap_items = cap;
	}
	a->items[a->n_items++] = (struct psc_report_item){
		.cgroup = info->path, .name = info->name, .usage = *u, .wl = wl,
		.managed = is_managed(a, info->path),
	};
}

/* One HostReport per window with every workload emitted, to the spool and on. */
static void send_report(struct agent *a, double start, double end)
{
	_cleanup_free_ uint8_t *packed = NULL;
	size_t len;
	uint64_t seq;
	int r;

	r = psc_uplink_take_seq(a->uplink, &seq);
	if (r < 0) {
		psc_err("AGENT-SPOOL-LOSS", "no sequence number for this window's report: %s",
			strerror(-r));
		return;
	}
	struct psc_report_header h = {
		.host_id = a->opts->host_id,
		.seq = seq,
		.window_start = start,
		.window_end = end,
		.sample_every = a->opts->sample_every ? a->opts->sample_every : 1,
		.ring_drops = a->ringbuf_drops_window,
	};
	struct sysinfo si;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	h.host_cpus = cpus > 0 ? (uint32_t)cpus : 0;
	if (sysinfo(&si) == 0)
		h.host_memory_bytes = (uint64_t)si.totalram * si.mem_unit;
	if (a->enforce)
		h.n_outcomes = psc_enforce_outcomes(a->enforce, &h.outcomes);
	if (a->ratelimit)
		psc_ratelimit_sync(a->ratelimit); /* new processes of limited workloads */
	r = psc_report_pb_pack(&h, a->items, a->n_items, &packed, &len);
	if (r < 0) {
		psc_err("AGENT-SPOOL-LOSS", "cannot encode report %" PRIu64 ": %s", seq, strerror(-r));
		return;
	}
	/* Once spooled, the outcomes travel with the report (and survive a restart). */
	if (psc_uplink_submit(a->uplink, seq, packed, len) == 0 && a->enforce)
		psc_enforce_outcomes_sent(a->enforce, h.n_outcomes);
}

static void forget_workload(struct agent *a, uint64_t cgroup_id)
{
	free(psc_window_remove(a->window, cgroup_id));
	free(psc_hashmap_remove(a->kernel_prev, cgroup_id));
	free(psc_hashmap_remove(a->paths, cgroup_id));
	bpf_map_delete_elem(bpf_map__fd(a->skel->maps.cg_counters), &cgroup_id);
}

/* Marks the workloads whose cgroup directory is gone; true if any is. Only existence
 * matters here: one stat of the directory, not a usage read (the window's usage is read
 * once, in end_window). */
static bool mark_vanished_workloads(struct agent *a, bool *refreshed)
{
	char dir[PSC_CGROUPFS_DIR_MAX + PSC_CGROUP_PATH_MAX];
	struct psc_workload *wl;
	struct stat st;
	size_t it = 0;
	bool any = false;

	while ((wl = psc_window_next(a->window, &it))) {
		struct workload_info *info = workload_info(a, wl, refreshed);
		if (!info)
			continue;
		snprintf(dir, sizeof(dir), "%s%s", a->layout.identity, info->path);
		info->gone_before_drain = stat(dir, &st) != 0 && errno == ENOENT;
		any |= info->gone_before_drain;
	}
	return any;
}

static void end_window(struct agent *a, double end)
{
	double window_s = end - a->window_start;
	bool refreshed = false;
	uint64_t gone[256];
	size_t n_gone = 0, it = 0;
	struct psc_workload *wl;

	if (a->rb)
		ring_buffer__consume(a->rb);
	/* A cgroup can only be removed once its processes are gone, so every event of a
	 * vanished workload is already in the ring. But it may have landed after the drain
	 * above: drain again before reporting the workload for the last time, or its last
	 * responses would arrive after it was forgotten. A cgroup removed after this check
	 * is forgotten one window later, after the next window's drains. */
	if (!a->replay && mark_vanished_workloads(a, &refreshed) && a->rb)
		ring_buffer__consume(a->rb);
	if (a->skel)
		collect_kernel_counters(a);
	a->n_items = 0;
	a->ringbuf_drops_window = 0;
	if (a->skel) {
		uint64_t drops[_PSC_DROP_MAX];
		read_drops(a, drops);
		a->ringbuf_drops_window = drops[PSC_DROP_RINGBUF] - a->drops_reported[PSC_DROP_RINGBUF];
	}

	while ((wl = psc_window_next(a->window, &it))) {
		struct workload_info *info = workload_info(a, wl, &refreshed);
		struct psc_cgroup_usage now;
		struct psc_workload_usage u;
		bool missing, vanished;

		if (!info) {
			a->unresolved++;
			if (n_gone < PSC_ARRAY_SIZE(gone))
				gone[n_gone++] = wl->cgroup_id;
			continue;
		}
		memset(&now, 0, sizeof(now));
		missing = !a->replay &&
			  psc_cgroupfs_read_usage(&a->layout, info->path, &now) == -ENOENT;
		if (missing)
			memset(&now, 0, sizeof(now));
		vanished = missing && info->gone_before_drain;
		usage_delta(&now, info, window_s, &u);
		/* A managed workload stays reported while its cgroup exists: its quiet windows
		 * are data for its sizing, not an absence. */
		bool keep = !missing && is_managed(a, info->path);
		if (wl->active || wl->idle_windows < a->opts->idle_windows || keep)
			emit(a, wl, info, &u, end, window_s);
		/* Workloads that ended are flushed, not leaked. */
		if ((vanished || (wl->idle_windows >= a->opts->idle_windows && !keep)) &&
		    n_gone < PSC_ARRAY_SIZE(gone))
			gone[n_gone++] = wl->cgroup_id;
		info->base = now;
		info->has_base = !missing;
	}
	/* Before forgetting: the items point into the workloads. */
	if (a->uplink)
		send_report(a, a->window_start, end);
	for (size_t i = 0; i < n_gone; i++)
		forget_workload(a, gone[i]);
	psc_window_reset(a->window, a->opts->idle_windows);
	if (a->opts->print)
		fflush(stdout);
	a->windows++;
	a->window_start = end;
	if (!a->skel)
		return;

	uint64_t drops[_PSC_DROP_MAX];
	read_drops(a, drops);
	if (drops[PSC_DROP_RINGBUF] > a->drops_reported[PSC_DROP_RINGBUF])
		psc_warn("AGENT-RB-DROP", "ring buffer full: %" PRIu64 " events lost in this window",
			 drops[PSC_DROP_RINGBUF] - a->drops_reported[PSC_DROP_RINGBUF]);
	if (drops[PSC_DROP_SOCK_MAP] > a->drops_reported[PSC_DROP_SOCK_MAP])
		psc_warn("AGENT-SOCKMAP-FULL", "socket map full: %" PRIu64 " sockets not tracked",
			 drops[PSC_DROP_SOCK_MAP] - a->drops_reported[PSC_DROP_SOCK_MAP]);
	memcpy(a->drops_reported, drops, sizeof(drops));

	struct psc_socktable st;
	psc_loader_socktable(a->loader, &st);
	int swept = psc_socktrack_sweep(&st);
	if (swept > 0)
		psc_debug("swept %d sockets of exited processes", swept);
	psc_conn_sweep(a->conns, psc_tgid_alive, NULL);
}

static void summary(struct agent *a)
{
	uint64_t drops[_PSC_DROP_MAX], events, total_drops = 0;
	const struct psc_conn_counters *cc = psc_conn_counters(a->conns);

	memset(drops, 0, sizeof(drops));
	events = a->events;
	if (a->skel)
		read_drops(a, drops);
	for (int i = 0; i < _PSC_DROP_MAX; i++)
		total_drops += drops[i];
	fprintf(stderr,
		"prescient-agent: %" PRIu64 " events seen, %" PRIu64 " dropped (ringbuf %" PRIu64
		", socket map %" PRIu64 ", cgroup map %" PRIu64 ", unreadable %" PRIu64
		"); %" PRIu64 " requests, %" PRIu64 " responses (%" PRIu64 " unpaired); %" PRIu64
		" windows, %" PRIu64 " reports; %" PRIu64
		" local connections captured at the server end only\n",
		events, total_drops, drops[PSC_DROP_RINGBUF], drops[PSC_DROP_SOCK_MAP],
		drops[PSC_DROP_CG_MAP], drops[PSC_DROP_READ], cc->requests, cc->responses,
		cc->unpaired_responses, a->windows, a->reports, cc->links);
	if (a->uplink) {
		const struct psc_uplink_counters *uc = psc_uplink_counters(a->uplink);
		fprintf(stderr,
			"prescient-agent: uplink: %" PRIu64 " reports sent, %" PRIu64 " acked, %" PRIu64
			" refused, %zu still spooled, %" PRIu64 " lost from the spool\n",
			uc->sent, uc->acked, uc->refused, psc_uplink_spooled(a->uplink),
			psc_uplink_spool_dropped(a->uplink));
	}
	if (a->enforce) {
		const struct psc_enforce_counters *ec = psc_enforce_counters(a->enforce);
		fprintf(stderr, "prescient-agent: enforce: ");
		for (int i = 1; i < PSC_ENFORCE_RESULTS; i++)
			fprintf(stderr, "%s%" PRIu64 " %s", i > 1 ? ", " : "", ec->results[i],
				psc_enforce_result_name(i));
		fprintf(stderr, "; %" PRIu64 " files written, %" PRIu64 " writes failed\n",
			ec->writes, ec->write_failures);
	}
}

static int setup_fds(struct agent *a, int *epfd, int *tfd, int *sfd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	*sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	*tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	*epfd = epoll_create1(EPOLL_CLOEXEC);
	if (*sfd < 0 || *tfd < 0 || *epfd < 0)
		return -errno;
	struct itimerspec its = {
		.it_interval = { 0, DRAIN_INTERVAL_MS * 1000000L },
		.it_value = { 0, DRAIN_INTERVAL_MS * 1000000L },
	};
	if (timerfd_settime(*tfd, 0, &its, NULL) < 0)
		return -errno;
	ev.data.fd = *sfd;
	epoll_ctl(*epfd, EPOLL_CTL_ADD, *sfd, &ev);
	ev.data.fd = *tfd;
	epoll_ctl(*epfd, EPOLL_CTL_ADD, *tfd, &ev);
	ev.data.fd = ring_buffer__epoll_fd(a->rb);
	epoll_ctl(*epfd, EPOLL_CTL_ADD, ev.data.fd, &ev);
	if (a->uplink) {
		ev.data.fd = psc_uplink_fd(a->uplink);
		epoll_ctl(*epfd, EPOLL_CTL_ADD, ev.data.fd, &ev);
	}
	return 0;
}

static struct psc_guard_config guard_of(const struct psc_agent_opts *o)
{
	struct psc_guard_config g = psc_guard_config_default();

	g.prefixes = o->manage;
	g.n_prefixes = o->n_manage;
	if (o->margin_min_bytes)
		g.margin_min_bytes = o->margin_min_bytes;
	if (o->step_factor > 1) {
		g.step_up = o->step_factor;
		g.step_down = 1 / o->step_factor;
	}
	if (o->cooldown_s >= 0)
		g.cooldown_s = o->cooldown_s;
	return g;
}

/* SIGHUP: the window in progress, the spool and the connections go on as they are. */
static void reload(struct agent *a)
{
	const struct psc_agent_opts *o;

	if (!a->opts->reload) {
		psc_info("AGENT-RELOAD", "SIGHUP ignored: no --config file to reload");
		return;
	}
	o = a->opts->reload(a->opts->reload_ctx);
	if (!o)
		return;
	/* The callback validated the options as the command line would have (steps in
	 * 1.1..100): enforcement cannot refuse them, and the old ones are freed soon. */
	if (a->enforce) {
		struct psc_guard_config g = guard_of(o);
		psc_enforce_reconfigure(a->enforce, &g, o->dry_run);
	}
	a->opts = o;
}

static int loop(struct agent *a)
{
	_cleanup_close_ int epfd = -1, tfd = -1, sfd = -1;
	double start = now_realtime(), next_window;
	int r, stopping = 0;

	r = setup_fds(a, &epfd, &tfd, &sfd);
	if (r < 0)
		return psc_log_err_r(r, "cannot set up the event loop");
	a->window_start = start;
	next_window = start + a->opts->window_s;
	while (!stopping) {
		struct epoll_event evs[4];
		int n = epoll_wait(epfd, evs, 4, 1000);
		if (n < 0 && errno != EINTR)
			return psc_log_err_r(-errno, "epoll_wait");
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == sfd) {
				struct signalfd_siginfo si;
				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP)
					reload(a);
				else
					stopping = 1;
			} else if (fd == tfd) {
				uint64_t ticks;
				if (read(tfd, &ticks, sizeof(ticks)) < 0)
					continue;
				ring_buffer__consume(a->rb);
				if (a->uplink)
					psc_uplink_tick(a->uplink);
			} else if (a->uplink && fd == psc_uplink_fd(a->uplink)) {
				psc_uplink_on_readable(a->uplink);
			} else {
				ring_buffer__consume(a->rb);
			}
		}
		double now = now_realtime();
		if (a->opts->duration_s > 0 && now >= start + a->opts->duration_s)
			stopping = 1;
		if (!stopping && now >= next_window) {
			end_window(a, now);
			while (next_window <= now)
				next_window += a->opts->window_s;
		}
	}
	/* From here a second SIGINT/SIGTERM takes its default action: it forces the exit
	 * while the final window is written and the last reports linger for their acks. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	/* A final (partial) window so that nothing seen is lost. */
	end_window(a, now_realtime());
	return 0;
}

/* --replay: windows follow the recorded timestamps, and the socket counters the kernel
 * would have summed are summed from the events themselves. */
static int replay_event(void *ctx, void *data, size_t size)
{
	struct agent *a = ctx;
	const struct psc_event_hdr *h = data;
	uint64_t window_ns = (uint64_t)(a->opts->window_s * 1e9);

	if (size < sizeof(*h))
		return 0;
	if (a->replay_boundary_ns == 0) {
		a->replay_boundary_ns = h->ts_ns + window_ns;
		a->window_start = (double)(h->ts_ns + a->replay_offset_ns) / 1e9;
	}
	while (h->ts_ns >= a->replay_boundary_ns) {
		end_window(a, (double)(a->replay_boundary_ns + a->replay_offset_ns) / 1e9);
		a->replay_boundary_ns += window_ns;
	}
	/* Closes are counted by the kernel in live mode; a recording has only the events. */
	struct psc_workload *wl = psc_window_workload(a->window, h->cgroup_id);
	if (wl && h->kind == PSC_EV_CLOSE)
		wl->kernel.closes++;
	return handle_event(a, data, size);
}

static void replay_path(void *ctx, uint64_t cgroup_id, const char *path)
{
	struct agent *a = ctx;
	char *copy = strdup(path);

	if (!copy)
		return;
	free(psc_hashmap_remove(a->paths, cgroup_id));
	if (psc_hashmap_put(a->paths, cgroup_id, copy) < 0)
		free(copy);
}

static int run_replay(struct agent *a)
{
	struct psc_replay_handler h = { .event = replay_event, .path = replay_path, .ctx = a };
	int r;

	r = psc_replay_file(a->opts->replay_path, &h, &a->replay_offset_ns);
	if (r == -EBADMSG)
		psc_err("AGENT-REPLAY", "%s is not a prescient recording or is cut short; the "
				       "records before the damage were replayed",
			a->opts->replay_path);
	else if (r < 0)
		psc_log_err_r(r, "cannot replay %s", a->opts->replay_path);
	if (a->replay_boundary_ns)
		end_window(a, (double)(a->replay_boundary_ns + a->replay_offset_ns) / 1e9);
	summary(a);
	return r;
}

static void free_info(void *p)
{
	free(p);
}

/* The enforcement's egress hook: "no limit" (UINT64_MAX) removes the bucket. */
static int set_egress(void *ctx, const char *cgroup, uint64_t bytes_per_s)
{
	return psc_ratelimit_set_egress(ctx, cgroup, bytes_per_s == UINT64_MAX ? 0 : bytes_per_s);
}

static int start_enforce(struct agent *a)
{
	const struct psc_agent_opts *o = a->opts;
	struct psc_enforce_config ec = {
		.host_id = o->host_id,
		.state_dir = o->spool_dir,
		.dry_run = o->dry_run,
		.layout = &a->layout,
	};
	int r;

	/* Egress limits need the cgroup_skb program; without it (no cgroup2 mount, program
	 * refused) egress adjustments are refused and the rest still works. */
	if (o->n_manage) {
		r = psc_ratelimit_open(&a->ratelimit, &a->layout);
		if (r == 0) {
			ec.set_egress = set_egress;
			ec.egress_ctx = a->ratelimit;
		} else {
			psc_warn("AGENT-ENFORCE-EGRESS", "egress rate limiting unavailable: %s",
				 strerror(-r));
		}
	}
	ec.guard = guard_of(o);
	memcpy(ec.sign_pk, psc_uplink_sign_pk(a->uplink), sizeof(ec.sign_pk));
	r = psc_actuator_cgroupfs_new(&a->actuator, &a->layout);
	if (r < 0)
		return psc_log_err_r(r, "cannot set up the cgroup writer");
	ec.actuator = a->actuator;
	r = psc_enforce_new(&a->enforce, &ec);
	if (r < 0)
		return psc_log_err_r(r, "cannot set up enforcement (state in %s)", o->spool_dir);
	for (size_t i = 0; i < o->n_manage; i++)
		psc_info("AGENT-ENFORCE", "managing cgroups under %s%s", o->manage[i],
			 o->dry_run ? " (dry run: nothing is written)" : "");
	psc_uplink_set_enforce(a->uplink, a->enforce);
	return 0;
}

int psc_agent_run(const struct psc_agent_opts *opts)
{
	struct agent a = { .opts = opts };
	int r;

	r = psc_hashmap_new(&a.paths);
	if (r < 0)
		return r;
	if (opts->replay_path) {
		a.replay = true;
		r = psc_window_new(&a.window);
		if (r >= 0)
			r = psc_conn_table_new(&a.conns, a.window);
		if (r >= 0)
			r = run_replay(&a);
		goto out;
	}
	a.ncpus = libbpf_num_possible_cpus();
	if (a.ncpus <= 0)
		return psc_log_err_r(-EINVAL, "cannot count CPUs");
	r = psc_cgroupfs_detect(opts->cgroup_root, &a.layout);
	if (r < 0)
		return psc_log_err_r(r, "cannot find cgroup hierarchies under %s", opts->cgroup_root);
	psc_info("AGENT-CGROUPS", "cgroup %s; workloads named by %s",
		 a.layout.mode == PSC_CGROUP_V2 ? "v2" :
		 a.layout.mode == PSC_CGROUP_HYBRID ? "v1/v2 hybrid" : "v1",
		 a.layout.identity);
	r = psc_cgroup_index_new(&a.index, &a.layout);
	if (r < 0)
		return psc_log_err_r(r, "cannot index cgroups");
	psc_cgroup_index_refresh(a.index);

	if (opts->aggregator_url) {
		struct psc_uplink_opts uo = {
			.url = opts->aggregator_url,
			.keys_dir = opts->keys_dir,
			.spool_dir = opts->spool_dir,
			.spool_max_bytes = opts->spool_max_bytes,
			.host_id = opts->host_id,
		};
		r = psc_uplink_new(&a.uplink, &uo);
		if (r < 0)
			goto out;
		r = start_enforce(&a);
		if (r < 0)
			goto out;
	}

	struct psc_loader_opts lo = {
		.head_len = opts->head_len,
		.ringbuf_bytes = opts->ringbuf_bytes,
		.use_v1_memcg = a.layout.mode != PSC_CGROUP_V2,
		.sample_every = opts->sample_every,
		/* Benchmarks compare both ways of hooking the syscall exits
		 * (tests/bench/README.md, "The floor"). */
		.exit_one_program = getenv("PSC_EXIT_ONE_PROGRAM") != NULL,
	};
	r = psc_loader_new(&a.loader, &lo);
	if (r < 0)
		goto out;
	a.skel = psc_loader_skel(a.loader);

	r = psc_window_new(&a.window);
	if (r >= 0)
		r = psc_conn_table_new(&a.conns, a.window);
	if (r >= 0)
		r = psc_hashmap_new(&a.kernel_prev);
	if (r < 0)
		goto out;
	a.rb = ring_buffer__new(bpf_map__fd(a.skel->maps.events), handle_event, &a, NULL);
	if (!a.rb) {
		r = psc_log_err_r(-errno, "cannot open the ring buffer");
		goto out;
	}
	if (opts->record_path) {
		r = psc_recorder_open(&a.rec, opts->record_path);
		if (r < 0) {
			psc_log_err_r(r, "cannot create %s", opts->record_path);
			goto out;
		}
	}
	struct psc_socktable st;
	psc_loader_socktable(a.loader, &st);
	r = psc_socktrack_seed(&st, opts->proc_root, (uint32_t)getpid());
	if (r < 0)
		psc_warn("AGENT-SEED", "cannot scan %s for existing sockets: %s", opts->proc_root,
			 strerror(-r));
	else
		psc_info("AGENT-SEED", "tracking %d sockets that existed before start", r);
	/* Everything is loaded and attached: what is not needed from here on goes. */
	r = psc_caps_restrict_agent(opts->n_manage > 0, bpf_map__fd(a.skel->maps.sockets));
	if (r < 0)
		goto out;

	r = loop(&a);
	/* The final window's report deserves a chance to be acknowledged. */
	if (a.uplink)
		psc_uplink_drain(a.uplink, 3.0);
	summary(&a);
out:
	psc_uplink_free(&a.uplink);
	psc_enforce_free(&a.enforce);
	psc_ratelimit_close(&a.ratelimit);
	psc_actuator_free(&a.actuator);
	free(a.items);
	if (a.rec && psc_recorder_close(&a.rec) < 0)
		psc_err("AGENT-RECORD", "writing %s failed: the recording is incomplete",
			opts->record_path);
	if (a.paths) {
		size_t it = 0;
		uint64_t key;
		void *v;
		while (psc_hashmap_next(a.paths, &it, &key, &v))
			free(v);
		psc_hashmap_free(&a.paths);
	}
	ring_buffer__free(a.rb);
	if (a.kernel_prev) {
		size_t it = 0;
		uint64_t key;
		void *v;
		while (psc_hashmap_next(a.kernel_prev, &it, &key, &v))
			free(v);
		psc_hashmap_free(&a.kernel_prev);
	}
	psc_conn_table_free(&a.conns);
	psc_window_free(&a.window, free_info);
	psc_loader_free(&a.loader);
	psc_cgroup_index_free(&a.index);
	return r;
}
