// SPDX-License-Identifier: MIT
#include "aggregator.h"

#include <errno.h>
#include <string.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

#include "api.h"
#include "cleanup.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "modeling.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>

enum { TAG_NN = 1, TAG_TIMER, TAG_SIGNAL };

struct psc_aggregator_options psc_aggregator_options_default(void)
{
	return (struct psc_aggregator_options){
		.store = psc_store_options_default(),
		.limits = psc_wire_limits_default(),
		.connected_window_s = 300,
		.maintain_interval_s = 10,
		.model = psc_modeling_options_default(),
		.allocate = true,
		.alloc = psc_allocation_options_default(),
	};
}

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t now_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

struct loop {
	const struct psc_aggregator_options *opt;
	struct psc_ingest_counters counters;
	struct psc_keys keys;
	struct psc_store *store;
	struct psc_ingest *ingest;
	struct psc_metrics *metrics;
	struct psc_api *api; /* served by the metrics thread */
	struct psc_modeling *model;
	struct psc_allocation *alloc; /* NULL when off; runs on the modeling thread */
	/* The modeling cycle runs on its own thread with its own SQLite connection, so a long
	 * cycle never delays acknowledgements (WAL lets it read while ingest writes; writes
	 * wait for each other through the busy timeout). */
	pthread_t model_thread;
	bool model_thread_running;
	int model_stop_fd;
	int nn;
	int nn_fd;
	int epfd, tfd, sfd;
	bool stopping;
};

static void tick(struct loop *l)
{
	struct psc_store_maint m;
	uint64_t n;
	int e;

	atomic_store(&l->counters.heartbeat, now_mono_s());
	if (psc_store_hosts_since(l->store, now_real() - l->opt->connected_window_s, &n) == 0)
		atomic_store(&l->counters.agents_connected, n);
	/* Bounded steps, a few per tick, so that ingest is never held up for long. */
	for (int i = 0; i < 4; i++) {
		e = psc_store_maintain(l->store, now_real(), &m);
		if (e < 0) {
			psc_warn("AGG-MAINT", "maintenance step failed: %s", strerror(-e));
			break;
		}
		atomic_fetch_add(&l->counters.maint_rolled_up, m.rolled_up);
		atomic_fetch_add(&l->counters.maint_deleted, m.deleted);
		if (m.rolled_up || m.deleted)
			psc_debug("maintenance: %u buckets rolled up, %llu rows deleted",
				  m.rolled_up, m.deleted);
		if (!m.more)
			break;
	}
}

/* Group commit (ingest.h): one batch of the queued requests, one transaction, the replies. */
static int serve_requests(struct loop *l)
{
	return psc_ingest_serve(l->ingest, l->nn);
}

static int handle_signal(struct loop *l)
{
	struct signalfd_siginfo si;
	sigset_t set;

	if (read(l->sfd, &si, sizeof(si)) != sizeof(si))
		return 0;
	if (si.ssi_signo == SIGHUP) {
		if (l->opt->reload)
			l->opt->reload(l->opt->reload_ctx);
		else
			psc_info("AGG-RELOAD", "SIGHUP: no configuration file to reload");
		return 0;
	}
	psc_info("AGG-STOP", "%s: shutting down (a second SIGINT forces exit)",
		 strsignal((int)si.ssi_signo));
	l->stopping = true;
	/* From here on SIGINT takes its default action: kills the process, however far the
	 * shutdown has come. Nothing acknowledged can be lost by that: acks follow commits. */
	signal(SIGINT, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	return 0;
}

static int add_fd(struct loop *l, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return psc_log_err_r(-errno, "epoll_ctl");
	return 0;
}

static void *model_thread_main(void *arg)
{
	struct loop *l = arg;
	struct pollfd fds[2] = {
		{ .fd = psc_modeling_fd(l->model), .events = POLLIN },
		{ .fd = l->model_stop_fd, .events = POLLIN },
	};

	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			psc_err("AGG-MODEL-THREAD", "poll: %s", strerror(errno));
			return NULL;
		}
		if (fds[1].revents)
			return NULL;
		if (fds[0].revents) {
			psc_modeling_on_timer(l->model);
			struct psc_modeling_stats st = psc_modeling_last(l->model);
			atomic_store(&l->counters.model_cycle_us, (uint64_t)(st.seconds * 1e6));
			atomic_store(&l->counters.model_workloads, st.workloads);
			atomic_fetch_add(&l->counters.model_cycles, 1);
			if (l->alloc) {
				struct psc_allocation_stats as;
				int r = psc_allocation_cycle(l->alloc, now_real(), &as);
				if (r < 0)
					psc_warn("AGG-ALLOC-CYCLE", "allocation cycle failed: %s (the next"
						 " one retries)", strerror(-r));
				else
					psc_debug("allocation: %zu managed workloads, %zu adjustments,"
						  " %zu alerts, %zu hook runs", as.managed,
						  as.adjustments, as.alerts, as.hooks);
				atomic_fetch_add(&l->counters.adjustments_issued, as.adjustments);
				atomic_fetch_add(&l->counters.alerts, as.alerts);
			}
		}
	}
}

static int start_model_thread(struct loop *l)
{
	int r;

	if (psc_modeling_fd(l->model) < 0)
		return psc_log_err_r(-EBADF, "modeling timer");
	l->model_stop_fd = eventfd(0, EFD_CLOEXEC);
	if (l->model_stop_fd < 0)
		return psc_log_err_r(-errno, "eventfd");
	/* Signals stay blocked in the new thread (inherited mask): the main loop's signalfd
	 * receives them. */
	r = pthread_create(&l->model_thread, NULL, model_thread_main, l);
	if (r != 0)
		return psc_log_err_r(-r, "cannot start the modeling thread");
	l->model_thread_running = true;
	/* Named, so that a look at /proc/PID/task/TID/comm (or top -H) tells whether live
	 * modeling runs: its memory (model state per workload) is the largest part of the
	 * RSS beside SQLite's page cache. */
	pthread_setname_np(l->model_thread, "psc-model");
	return 0;
}

/* The JSON API beside /metrics: reads open on loopback (or --api-open-reads), writes
 * only with the token. */
static int start_api(struct loop *l)
{
	const struct psc_aggregator_options *opt = l->opt;
	struct psc_api_options ao = {
		.db_path = opt->db_path,
		.open_reads = opt->api_open_reads || psc_api_addr_is_loopback(opt->http_addr),
	};
	char *token = NULL, err[512] = "";
	int r;

	if (opt->api_token_file) {
		r = psc_api_read_token(opt->api_token_file, &token, err, sizeof(err));
		if (r < 0) {
			psc_err("AGG-API-TOKEN", "%s", err);
			return r;
		}
	}
	ao.token = token;
	r = psc_api_new(&l->api, &ao, err, sizeof(err));
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (r < 0) {
		psc_err("AGG-API", "%s", err);
		return r;
	}
	psc_info("AGG-API", "JSON API: reads %s, writes %s",
		 ao.open_reads ? "open" : "need the token",
		 opt->api_token_file ? "need the token" : "refused (no --api-token-file)");
	return 0;
}

static int start(struct loop *l)
{
	const struct psc_aggregator_options *opt = l->opt;
	struct itimerspec its = { 0 };
	char err[512] = "";
	sigset_t set;
	size_t fdsz = sizeof(l->nn_fd);
	int maxsz;
	int r;

	/* Blocked before any thread starts, so that only the signalfd sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return psc_log_err_r(-errno, "sigprocmask");
	l->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->sfd < 0)
		return psc_log_err_r(-errno, "signalfd");

	r = psc_keys_load(&l->keys, opt->keys_dir, PSC_KEYS_NEED_SIGNING, err, sizeof(err));
	if (r < 0) {
		psc_err("AGG-KEYS", "%s", err);
		return r;
	}
	r = psc_store_open(&l->store, opt->db_path, &opt->store, err, sizeof(err));
	if (r < 0) {
		psc_err("AGG-STORE", "%s", err);
		return r;
	}
	struct psc_ingest_options iopt = { .limits = opt->limits, .max_adjustments = 16 };
	r = psc_ingest_new(&l->ingest, l->store, &l->keys, &iopt, &l->counters);
	if (r < 0)
		return psc_log_err_r(r, "ingest");

	/* Raw: many requests can be received before replying (group commit). */
	l->nn = nn_socket(AF_SP_RAW, NN_REP);
	if (l->nn < 0)
		return psc_log_err_r(-nn_errno(), "nn_socket");
	/* nanomsg drops the connection of a peer sending more than this; frames between
	 * --max-frame and this are received, counted as oversized and answered. */
	maxsz = opt->limits.max_frame > (size_t)INT32_MAX / 4 ? -1 : (int)opt->limits.max_frame * 4;
	nn_setsockopt(l->nn, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsz, sizeof(maxsz));
	if (nn_bind(l->nn, opt->listen_url) < 0) {
		r = -nn_errno();
		psc_err("AGG-LISTEN", "cannot listen on %s: %s", opt->listen_url,
			nn_strerror(-r));
		return r;
	}
	if (nn_getsockopt(l->nn, NN_SOL_SOCKET, NN_RCVFD, &l->nn_fd, &fdsz) < 0)
		return psc_log_err_r(-nn_errno(), "NN_RCVFD");

	atomic_store(&l->counters.heartbeat, now_mono_s());
	if (opt->http_addr) {
		r = start_api(l);
		if (r < 0)
			return r;
		r = psc_metrics_start(&l->metrics, opt->http_addr, &l->counters, opt->db_path,
				      3 * opt->maintain_interval_s + 5, l->api);
		if (r < 0) {
			psc_err("AGG-HTTP", "cannot serve HTTP on %s: %s", opt->http_addr,
				strerror(-r));
			return r;
		}
	}

	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->tfd < 0)
		return psc_log_err_r(-errno, "timerfd_create");
	its.it_interval.tv_sec = (time_t)opt->maintain_interval_s;
	its.it_interval.tv_nsec =
		(long)((opt->maintain_interval_s - (double)its.it_interval.tv_sec) * 1e9);
	its.it_value.tv_nsec = 1; /* first tick at once: the connected gauge after a restart */
	if (timerfd_settime(l->tfd, 0, &its, NULL) < 0)
		return psc_log_err_r(-errno, "timerfd_settime");

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return psc_log_err_r(-errno, "epoll_create1");
	r = add_fd(l, l->nn_fd, TAG_NN);
	if (r == 0)
		r = add_fd(l, l->tfd, TAG_TIMER);
	if (r == 0)
		r = add_fd(l, l->sfd, TAG_SIGNAL);
	if (r == 0 && opt->model.period_s > 0) {
		r = psc_modeling_new(&l->model, opt->db_path, &opt->model, err, sizeof(err));
		if (r < 0)
			return psc_log_err_r(r, "%s", err);
		if (opt->allocate) {
			r = psc_allocation_new(&l->alloc, opt->db_path, &opt->alloc, l->keys.sign_sk, err,
					       sizeof(err));
			if (r < 0)
				return psc_log_err_r(r, "%s", err);
			psc_modeling_set_observer(l->model, psc_allocation_observe, l->alloc);
		}
		r = start_model_thread(l);
	}
	if (r < 0)
		return r;
	psc_info("AGG-START", "listening on %s, store %s%s%s (HTTP port %u)", opt->listen_url,
		 opt->db_path, opt->http_addr ? ", HTTP " : "",
		 opt->http_addr ? opt->http_addr : "",
		 l->metrics ? psc_metrics_port(l->metrics) : 0);
	return 0;
}

/* Reverse order of start. */
static void stop(struct loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->model_thread_running) {
		uint64_t one = 1;
		if (write(l->model_stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(l->model_thread, NULL);
		l->model_thread_running = false;
	}
	if (l->model_stop_fd >= 0)
		close(l->model_stop_fd);
	psc_modeling_free(&l->model);
	psc_allocation_free(&l->alloc);
	if (l->tfd >= 0)
		close(l->tfd);
	psc_metrics_stop(&l->metrics);
	psc_api_free(&l->api);
	if (l->nn >= 0)
		nn_close(l->nn);
	psc_ingest_free(&l->ingest);
	psc_store_close(&l->store);
	psc_keys_wipe(&l->keys);
	if (l->sfd >= 0)
		close(l->sfd);
}

int psc_aggregator_run(const struct psc_aggregator_options *opt)
{
	struct loop l = { .opt = opt, .nn = -1, .nn_fd = -1, .epfd = -1, .tfd = -1, .sfd = -1,
			  .model_stop_fd = -1 };
	struct epoll_event evs[8];
	uint64_t expirations;
	int r, n;

	r = start(&l);
	while (r == 0 && !l.stopping) {
		n = epoll_wait(l.epfd, evs, PSC_ARRAY_SIZE(evs), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = psc_log_err_r(-errno, "epoll_wait");
			break;
		}
		for (int i = 0; i < n && r == 0 && !l.stopping; i++) {
			switch (evs[i].data.u32) {
			case TAG_NN:
				r = serve_requests(&l);
				break;
			case TAG_TIMER:
				if (read(l.tfd, &expirations, sizeof(expirations)) > 0)
					tick(&l);
				break;
			case TAG_SIGNAL:
				r = handle_signal(&l);
				break;
			}
		}
	}
	stop(&l);
	if (r == 0)
		psc_info("AGG-STOPPED", "stopped");
	return r;
}
