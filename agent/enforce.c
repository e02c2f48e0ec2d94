// SPDX-License-Identifier: MIT
#include "enforce.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "wire.h"

_Static_assert(PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__WRONG_HOST < PSC_ENFORCE_RESULTS,
	       "PSC_ENFORCE_RESULTS must cover every outcome result");

#define RES_APPLIED    PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__APPLIED
#define RES_DRY_RUN    PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__DRY_RUN
#define RES_GUARD      PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__REFUSED_GUARD
#define RES_EXPIRED    PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__EXPIRED
#define RES_BAD_SIG    PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__BAD_SIGNATURE
#define RES_REPLAYED   PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__REPLAYED
#define RES_FAILED     PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__FAILED
#define RES_WRONG_HOST PRESCIENT__ADJUSTMENT_OUTCOME__RESULT__WRONG_HOST

/* Ids remembered to recognise re-deliveries (the aggregator sends at most 16 pending
 * adjustments per ack). */
#define RECENT_MAX    64
#define DETAIL_MAX    240
#define STATE_VERSION 1

/* A cgroup this agent changed: what to revert to, and when each limit last changed. */
struct changed_cg {
	char *path;
	struct psc_cgroup_limits original; /* present = changed by us, v = value before */
	double changed_at[_PSC_RES_MAX];
};

struct recent {
	uint64_t id;
	int result;
};

struct psc_enforce {
	struct psc_enforce_config c;
	char *host_id;
	char *state_path; /* NULL: not persisted */
	struct psc_cgroupfs_layout layout;
	uint64_t last_id;
	struct recent handled[RECENT_MAX]; /* verified ids, persisted */
	size_t n_handled, handled_next;
	struct recent refused[RECENT_MAX]; /* refusals reported (unverified ids) */
	size_t n_refused, refused_next;
	struct changed_cg *cgs;
	size_t n_cgs;
	Prescient__AdjustmentOutcome **outcomes;
	size_t n_outcomes;
	struct psc_enforce_counters counters;
};

const char *psc_enforce_result_name(int result)
{
	static const char *const names[PSC_ENFORCE_RESULTS] = {
		"unknown",	 "applied",  "dry_run", "refused_guard", "expired",
		"bad_signature", "replayed", "failed",	"reverted",	 "wrong_host",
	};

	return result >= 0 && result < PSC_ENFORCE_RESULTS ? names[result] : "unknown";
}

static double now_of(const struct psc_enforce *e)
{
	struct timespec ts;

	if (e->c.now)
		return e->c.now();
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- values as people read them ---- */

static void fmt_value(enum psc_res r, uint64_t v, char *buf, size_t size)
{
	if (v == PSC_LIMIT_UNLIMITED)
		snprintf(buf, size, "max");
	else if (r == PSC_RES_CPU_MAX)
		snprintf(buf, size, "%.2f cores", v / 1e6);
	else if (r == PSC_RES_CPU_BURST)
		snprintf(buf, size, "%" PRIu64 " us", v);
	else if (r == PSC_RES_CPU_WEIGHT)
		snprintf(buf, size, "%" PRIu64, v);
	else
		snprintf(buf, size, "%" PRIu64 " B", v);
}

/* Appends to a bounded detail string. */
__attribute__((format(printf, 3, 4))) static void detail_add(char *d, size_t size, const char *fmt,
							     ...)
{
	size_t len = strlen(d);
	va_list ap;

	if (len + 1 >= size)
		return;
	if (len) {
		snprintf(d + len, size - len, "; ");
		len = strlen(d);
	}
	va_start(ap, fmt);
	vsnprintf(d + len, size - len, fmt, ap);
	va_end(ap);
}

/* ---- Targets <-> limits ---- */

/* The limits an adjustment asks for; -EINVAL for a cpu_max_cores that is not a positive
 * finite number (0 means unchanged). */
static int want_of(const Prescient__Targets *t, struct psc_cgroup_limits *w)
{
	memset(w, 0, sizeof(*w));
	if (!t)
		return 0;
	if (t->cpu_max_cores != 0) {
		if (!isfinite(t->cpu_max_cores) || t->cpu_max_cores < 0 || t->cpu_max_cores > 1e9)
			return -EINVAL;
		w->v[PSC_RES_CPU_MAX] = (uint64_t)llround(t->cpu_max_cores * 1e6);
		w->present |= 1u << PSC_RES_CPU_MAX;
	}
	const struct {
		uint64_t v;
		enum psc_res r;
	} u[] = {
		{t->cpu_weight, PSC_RES_CPU_WEIGHT},	{t->cpu_max_burst_us, PSC_RES_CPU_BURST},
		{t->memory_min_bytes, PSC_RES_MEM_MIN}, {t->memory_high_bytes, PSC_RES_MEM_HIGH},
		{t->memory_max_bytes, PSC_RES_MEM_MAX},
	};
	for (size_t i = 0; i < PSC_ARRAY_SIZE(u); i++) {
		if (!u[i].v)
			continue;
		w->v[u[i].r] = u[i].v;
		w->present |= 1u << u[i].r;
	}
	return 0;
}

static void targets_set(Prescient__Targets *t, enum psc_res r, uint64_t v)
{
	switch (r) {
	case PSC_RES_CPU_MAX:
		t->cpu_max_cores = v == PSC_LIMIT_UNLIMITED ? -1 : v / 1e6;
		break;
	case PSC_RES_CPU_WEIGHT:
		t->cpu_weight = v;
		break;
	case PSC_RES_CPU_BURST:
		t->cpu_max_burst_us = v;
		break;
	case PSC_RES_MEM_MIN:
		t->memory_min_bytes = v;
		break;
	case PSC_RES_MEM_HIGH:
		t->memory_high_bytes = v;
		break;
	case PSC_RES_MEM_MAX:
		t->memory_max_bytes = v;
		break;
	default:
		break;
	}
}

/* ---- outcomes ---- */

static void outcome_free(Prescient__AdjustmentOutcome *o)
{
	if (!o)
		return;
	free(o->workload);
	free(o->detail);
	free(o->previous);
	free(o);
}

/* Queues an outcome; @prev (may be NULL) is copied. */
static void queue_outcome(struct psc_enforce *e, uint64_t id, const char *workload, int result,
			  const char *detail, const Prescient__Targets *prev)
{
	Prescient__AdjustmentOutcome *o = calloc(1, sizeof(*o));

	e->counters.results[result]++;
	if (!o)
		goto nomem;
	prescient__adjustment_outcome__init(o);
	o->adjustment_id = id;
	o->result = (Prescient__AdjustmentOutcome__Result)result;
	o->at = now_of(e);
	o->workload = workload ? strndup(workload, PSC_CGROUP_PATH_MAX) : strdup("");
	o->detail = detail ? strndup(detail, DETAIL_MAX) : strdup("");
	if (!o->workload || !o->detail)
		goto nomem;
	if (prev) {
		o->previous = malloc(sizeof(*o->previous));
		if (!o->previous)
			goto nomem;
		*o->previous = *prev;
	}
	if (e->n_outcomes == PSC_ENFORCE_OUTCOMES_MAX) {
		outcome_free(e->outcomes[0]);
		memmove(e->outcomes, e->outcomes + 1, (e->n_outcomes - 1) * sizeof(*e->outcomes));
		e->n_outcomes--;
		e->counters.outcomes_dropped++;
	}
	e->outcomes[e->n_outcomes++] = o;
	return;
nomem:
	outcome_free(o);
	e->counters.outcomes_dropped++;
	psc_err("AGENT-ENFORCE-OUTCOME", "out of memory: outcome of adjustment %" PRIu64 " lost",
		id);
}

size_t psc_enforce_outcomes(struct psc_enforce *e, Prescient__AdjustmentOutcome ***list)
{
	*list = e->outcomes;
	return e->n_outcomes;
}

void psc_enforce_outcomes_sent(struct psc_enforce *e, size_t n)
{
	if (n > e->n_outcomes)
		n = e->n_outcomes;
	for (size_t i = 0; i < n; i++)
		outcome_free(e->outcomes[i]);
	memmove(e->outcomes, e->outcomes + n, (e->n_outcomes - n) * sizeof(*e->outcomes));
	e->n_outcomes -= n;
}

/* ---- state file ---- */

static struct changed_cg *cg_find(struct psc_enforce *e, const char *path, bool create)
{
	for (size_t i = 0; i < e->n_cgs; i++)
		if (strcmp(e->cgs[i].path, path) == 0)
			return &e->cgs[i];
	if (!create)
		return NULL;
	struct changed_cg *n = realloc(e->cgs, (e->n_cgs + 1) * sizeof(*n));
	if (!n)
		return NULL;
	e->cgs = n;
	memset(&n[e->n_cgs], 0, sizeof(n[0]));
	n[e->n_cgs].path = strdup(path);
	if (!n[e->n_cgs].path)
		return NULL;
	return &n[e->n_cgs++];
}

static void cg_forget(struct psc_enforce *e, struct changed_cg *cg)
{
	size_t i = (size_t)(cg - e->cgs);

	free(cg->path);
	memmove(&e->cgs[i], &e->cgs[i + 1], (e->n_cgs - i - 1) * sizeof(e->cgs[0]));
	e->n_cgs--;
}

static json_t *limit_json(uint64_t v)
{
	return v > INT64_MAX ? json_string("max") : json_integer((json_int_t)v);
}

static int limit_parse(json_t *j, uint64_t *v)
{
	if (json_is_string(j) && strcmp(json_string_value(j), "max") == 0) {
		*v = PSC_LIMIT_UNLIMITED;
		return 0;
	}
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return -EBADMSG;
	*v = (uint64_t)json_integer_value(j);
	return 0;
}

static json_t *state_json(const struct psc_enforce *e)
{
	json_t *root = json_object(), *handled = json_array(), *cgs = json_object();

	json_object_set_new(root, "version", json_integer(STATE_VERSION));
	json_object_set_new(root, "last_id", json_integer((json_int_t)(e->last_id & INT64_MAX)));
	for (size_t i = 0; i < e->n_handled; i++)
		json_array_append_new(handled, json_pack("[I, i]",
							 (json_int_t)(e->handled[i].id & INT64_MAX),
							 e->handled[i].result));
	json_object_set_new(root, "handled", handled);
	for (size_t i = 0; i < e->n_cgs; i++) {
		const struct changed_cg *cg = &e->cgs[i];
		json_t *orig = json_object(), *at = json_object();

		for (int r = 0; r < _PSC_RES_MAX; r++) {
			if (!(cg->original.present & (1u << r)))
				continue;
			json_object_set_new(orig, psc_res_name(r), limit_json(cg->original.v[r]));
			json_object_set_new(at, psc_res_name(r), json_real(cg->changed_at[r]));
		}
		json_object_set_new(cgs, cg->path,
				    json_pack("{s:o, s:o}", "original", orig, "changed_at", at));
	}
	json_object_set_new(root, "cgroups", cgs);
	return root;
}

/* tmp + fsync + rename + fsync of the directory: the file is the old or the new state. */
static int state_save(struct psc_enforce *e)
{
	_cleanup_free_ char *tmp = NULL, *text = NULL;
	json_t *j;
	int fd, r = 0;

	if (!e->state_path)
		return 0;
	j = state_json(e);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text || asprintf(&tmp, "%s.tmp", e->state_path) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		goto fail;
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		close(fd);
		goto fail;
	}
	close(fd);
	if (rename(tmp, e->state_path) < 0)
		goto fail;
	fd = open(e->c.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
fail:
	r = -errno;
	unlink(tmp);
	psc_err("AGENT-ENFORCE-STATE", "cannot write %s: %s", e->state_path, strerror(-r));
	return r;
}

static void remember(struct recent *ring, size_t *n, size_t *next, uint64_t id, int result)
{
	ring[*next] = (struct recent){.id = id, .result = result};
	*next = (*next + 1) % RECENT_MAX;
	if (*n < RECENT_MAX)
		(*n)++;
}

static bool seen(const struct recent *ring, size_t n, uint64_t id, int result)
{
	for (size_t i = 0; i < n; i++)
		if (ring[i].id == id && (result < 0 || ring[i].result == result))
			return true;
	return false;
}

static int state_parse(struct psc_enforce *e, json_t *root)
{
	json_t *handled = json_object_get(root, "handled"), *cgs = json_object_get(root, "cgroups");
	json_t *v, *item;
	const char *path;
	size_t i;

	if (!json_is_object(root) || !json_is_integer(json_object_get(root, "last_id")) ||
	    !json_is_array(handled) || !json_is_object(cgs))
		return -EBADMSG;
	e->last_id = (uint64_t)json_integer_value(json_object_get(root, "last_id"));
	json_array_foreach(handled, i, v)
	{
		json_int_t id;
		int result;

		if (json_unpack(v, "[I, i]", &id, &result) < 0)
			return -EBADMSG;
		remember(e->handled, &e->n_handled, &e->handled_next, (uint64_t)id, result);
	}
	json_object_foreach(cgs, path, item)
	{
		json_t *orig = json_object_get(item, "original"),
		       *at = json_object_get(item, "changed_at");
		struct changed_cg *cg;

		if (psc_cgroupfs_check_path(path) < 0 || !json_is_object(orig) ||
		    !json_is_object(at))
			return -EBADMSG;
		cg = cg_find(e, path, true);
		if (!cg)
			return -ENOMEM;
		for (int r = 0; r < _PSC_RES_MAX; r++) {
			json_t *o = json_object_get(orig, psc_res_name(r));

			if (!o)
				continue;
			if (limit_parse(o, &cg->original.v[r]) < 0)
				return -EBADMSG;
			cg->original.present |= 1u << r;
			cg->changed_at[r] = json_number_value(json_object_get(at, psc_res_name(r)));
		}
	}
	return 0;
}

static int state_load(struct psc_enforce *e)
{
	json_error_t err;
	json_t *root;
	int r;

	if (!e->state_path)
		return 0;
	if (access(e->state_path, F_OK) < 0)
		return errno == ENOENT ? 0 : -errno;
	root = json_load_file(e->state_path, 0, &err);
	if (!root) {
		psc_err("AGENT-ENFORCE-STATE",
			"%s does not parse (%s, line %d): refusing to start "
			"without knowing which adjustment ids were used; move it "
			"away to start afresh",
			e->state_path, err.text, err.line);
		return -EBADMSG;
	}
	r = state_parse(e, root);
	json_decref(root);
	if (r == -EBADMSG)
		psc_err("AGENT-ENFORCE-STATE",
			"%s is not an enforcement state file; move it away "
			"to start afresh",
			e->state_path);
	return r;
}

/* ---- life cycle ---- */

int psc_enforce_new(struct psc_enforce **out, const struct psc_enforce_config *c)
{
	struct psc_enforce *e;
	int r;

	if (!out || !c || !c->host_id || !c->actuator || !c->layout)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->c = *c;
	e->layout = *c->layout;
	e->c.layout = &e->layout;
	e->host_id = strdup(c->host_id);
	e->outcomes = calloc(PSC_ENFORCE_OUTCOMES_MAX, sizeof(*e->outcomes));
	if (!e->host_id || !e->outcomes ||
	    (c->state_dir &&
	     asprintf(&e->state_path, "%s/%s", c->state_dir, PSC_ENFORCE_STATE_FILE) < 0)) {
		e->state_path = NULL;
		psc_enforce_free(&e);
		return -ENOMEM;
	}
	e->c.host_id = e->host_id;
	r = state_load(e);
	if (r < 0) {
		psc_enforce_free(&e);
		return r;
	}
	psc_info("AGENT-ENFORCE",
		 "enforcement %s through %s: %zu managed prefix(es); last "
		 "adjustment id %" PRIu64 "; %zu cgroup(s) changed earlier",
		 c->dry_run ? "in dry-run" : "on", psc_actuator_name(c->actuator),
		 c->guard.n_prefixes, e->last_id, e->n_cgs);
	*out = e;
	return 0;
}

int psc_enforce_reconfigure(struct psc_enforce *e, const struct psc_guard_config *guard,
			    bool dry_run)
{
	if (!e || !guard || !(guard->step_up > 1) || !(guard->step_down < 1) ||
	    !(guard->step_down > 0) || (guard->n_prefixes && !guard->prefixes))
		return -EINVAL;
	e->c.guard = *guard;
	e->c.dry_run = dry_run;
	return 0;
}

void psc_enforce_free(struct psc_enforce **ep)
{
	struct psc_enforce *e;

	if (!ep || !*ep)
		return;
	e = *ep;
	for (size_t i = 0; i < e->n_outcomes; i++)
		outcome_free(e->outcomes[i]);
	free(e->outcomes);
	for (size_t i = 0; i < e->n_cgs; i++)
		free(e->cgs[i].path);
	free(e->cgs);
	free(e->state_path);
	free(e->host_id);
	free(e);
	*ep = NULL;
}

const struct psc_enforce_counters *psc_enforce_counters(const struct psc_enforce *e)
{
	return &e->counters;
}

uint64_t psc_enforce_last_id(const struct psc_enforce *e)
{
	return e->last_id;
}

/* ---- applying a verified adjustment ---- */

static int refuse(struct psc_enforce *e, const Prescient__Adjustment *adj, int result,
		  const char *detail)
{
	psc_warn("AGENT-ENFORCE-REFUSED", "adjustment %" PRIu64 " for %s: %s: %s", adj->id,
		 adj->workload, psc_enforce_result_name(result), detail);
	queue_outcome(e, adj->id, adj->workload, result, detail, NULL);
	return result;
}

/* The egress part; appends to @detail. Returns 1 when it took effect (or would, in
 * dry-run), 0 when unavailable, -1 when the hook failed. */
static int do_egress(struct psc_enforce *e, const Prescient__Adjustment *adj, char *detail,
		     size_t size)
{
	uint64_t rate = adj->targets->egress_bytes_per_s;
	int r;

	if (!e->c.set_egress) {
		detail_add(detail, size, "egress rate limiting unavailable");
		return 0;
	}
	if (e->c.dry_run) {
		psc_info("AGENT-ENFORCE-DRYRUN",
			 "%s egress: would limit to %" PRIu64 " B/s; adjustment %" PRIu64 ": %s",
			 adj->workload, rate, adj->id, adj->reason);
		detail_add(detail, size, "egress -> %" PRIu64 " B/s", rate);
		return 1;
	}
	r = e->c.set_egress(e->c.egress_ctx, adj->workload, rate);
	if (r < 0) {
		e->counters.write_failures++;
		psc_warn("AGENT-ENFORCE-FAIL", "%s egress: cannot limit to %" PRIu64 " B/s: %s",
			 adj->workload, rate, strerror(-r));
		detail_add(detail, size, "egress failed: %s", strerror(-r));
		return -1;
	}
	e->counters.writes++;
	psc_info("AGENT-ENFORCE-WRITE", "%s egress: -> %" PRIu64 " B/s; adjustment %" PRIu64 ": %s",
		 adj->workload, rate, adj->id, adj->reason);
	detail_add(detail, size, "egress -> %" PRIu64 " B/s", rate);
	return 1;
}

/* A managed cgroup removed (its workload ended): nothing is left to revert or to cool
 * down, and a record of it would stay in the state file for ever. */
static void forget_gone(struct psc_enforce *e, const char *path)
{
	struct changed_cg *cg = cg_find(e, path, false);

	if (cg) {
		psc_info("AGENT-ENFORCE-GONE", "%s is gone: its earlier values are forgotten",
			 path);
		cg_forget(e, cg);
	}
}

static int apply_verified(struct psc_enforce *e, const Prescient__Adjustment *adj)
{
	struct psc_cgroup_limits want, cur;
	struct psc_cgroup_usage usage;
	struct psc_guard_decision d;
	char detail[DETAIL_MAX + 16] = "";
	double now = now_of(e);
	bool egress = adj->targets && adj->targets->egress_bytes_per_s;
	int r;

	/* "/demo/../x" starts with a managed prefix but names something else. */
	if (psc_cgroupfs_check_path(adj->workload) < 0)
		return refuse(e, adj, RES_GUARD, "not a cgroup path");
	if (!psc_guard_managed(&e->c.guard, adj->workload))
		return refuse(e, adj, RES_GUARD,
			      e->c.guard.n_prefixes
				      ? "not managed (under no --manage prefix)"
				      : "not managed (no --manage prefix: observe only)");
	if (want_of(adj->targets, &want) < 0)
		return refuse(e, adj, RES_GUARD, "invalid cpu_max_cores");
	for (int i = 0; i < _PSC_RES_MAX; i++) {
		if (!(want.present & (1u << i)) || psc_actuator_supports(e->c.actuator, i))
			continue;
		want.present &= ~(1u << i);
		detail_add(detail, sizeof(detail), "%s: not available on this host%s",
			   psc_res_name(i),
			   i == PSC_RES_MEM_MIN ? " (no cgroup v1 equivalent)" : "");
	}
	if (!want.present && !egress)
		return refuse(e, adj, RES_GUARD, detail[0] ? detail : "no target set");

	r = psc_actuator_read(e->c.actuator, adj->workload, &cur);
	if (r == -ENOENT) {
		forget_gone(e, adj->workload);
		return refuse(e, adj, RES_FAILED,
			      "cannot read the cgroup: it is gone, nothing changed");
	}
	if (r < 0) {
		snprintf(detail, sizeof(detail), "cannot read the cgroup: %s", strerror(-r));
		return refuse(e, adj, RES_FAILED, detail);
	}
	bool has_usage = psc_cgroupfs_read_usage(&e->layout, adj->workload, &usage) == 0 &&
			 (usage.present & PSC_CGU_MEM);
	struct changed_cg *cg = cg_find(e, adj->workload, false);
	struct psc_guard_input in = {
		.cgroup = adj->workload,
		.want = &want,
		.current = &cur,
		.has_mem_usage = has_usage,
		.mem_usage_bytes = has_usage ? usage.mem_bytes : 0,
		.last_change = cg ? cg->changed_at : NULL,
		.now = now,
	};
	psc_guard_decide(&e->c.guard, &in, &d);
	if (d.refused && !egress) {
		detail_add(detail, sizeof(detail), "%s", d.reason);
		return refuse(e, adj, RES_GUARD, detail);
	}

	Prescient__Targets prev = PRESCIENT__TARGETS__INIT;
	bool any = false, failed = false;
	if (e->c.dry_run) {
		for (int i = 0; i < _PSC_RES_MAX; i++) {
			char o[32], n[32];

			if (!(d.write.present & (1u << i)))
				continue;
			fmt_value(i, cur.v[i], o, sizeof(o));
			fmt_value(i, d.write.v[i], n, sizeof(n));
			psc_info("AGENT-ENFORCE-DRYRUN",
				 "%s %s: would write %s -> %s%s%s; adjustment %" PRIu64 ": %s",
				 adj->workload, psc_res_name(i), o, n, d.res[i].note[0] ? "; " : "",
				 d.res[i].note, adj->id, adj->reason);
			detail_add(detail, sizeof(detail), "%s %s -> %s", psc_res_name(i), o, n);
			targets_set(&prev, i, cur.v[i]);
			any = true;
		}
	} else if (d.write.present) {
		struct psc_actuator_result res;

		psc_actuator_apply(e->c.actuator, adj->workload, &d.write, &res);
		for (int i = 0; i < _PSC_RES_MAX; i++) {
			const struct psc_actuator_res *x = &res.res[i];
			char o[32], n[32], b[32];

			if (!(res.asked & (1u << i)))
				continue;
			fmt_value(i, x->before, o, sizeof(o));
			fmt_value(i, x->wanted, n, sizeof(n));
			if (x->err < 0) {
				e->counters.write_failures++;
				failed = true;
				psc_warn("AGENT-ENFORCE-FAIL",
					 "%s %s: cannot write %s -> %s: %s; adjustment %" PRIu64,
					 adj->workload, x->file ? x->file : psc_res_name(i), o, n,
					 strerror(-x->err), adj->id);
				detail_add(detail, sizeof(detail), "%s failed: %s", psc_res_name(i),
					   strerror(-x->err));
				continue;
			}
			e->counters.writes++;
			any = true;
			if (x->has_after)
				fmt_value(i, x->after, b, sizeof(b));
			else
				snprintf(b, sizeof(b), "unreadable");
			psc_info("AGENT-ENFORCE-WRITE",
				 "%s %s: %s -> %s (in effect: %s)%s%s; adjustment %" PRIu64 ": %s",
				 adj->workload, x->file, o, n, b, d.res[i].note[0] ? "; " : "",
				 d.res[i].note, adj->id, adj->reason);
			detail_add(detail, sizeof(detail), "%s %s -> %s%s%s%s", psc_res_name(i), o,
				   b, d.res[i].action == PSC_GUARD_CLAMPED ? " (" : "",
				   d.res[i].action == PSC_GUARD_CLAMPED ? d.res[i].note : "",
				   d.res[i].action == PSC_GUARD_CLAMPED ? ")" : "");
			targets_set(&prev, i, x->before);
			if (!cg)
				cg = cg_find(e, adj->workload, true);
			if (cg) {
				if (!(cg->original.present & (1u << i)) && x->has_before) {
					cg->original.v[i] = x->before;
					cg->original.present |= 1u << i;
				}
				cg->changed_at[i] = now;
			}
		}
	}
	/* What the guard skipped or found already in effect. */
	for (int i = 0; i < _PSC_RES_MAX; i++)
		if (d.res[i].action == PSC_GUARD_SKIP || d.res[i].action == PSC_GUARD_UNCHANGED)
			detail_add(detail, sizeof(detail), "%s: %s", psc_res_name(i),
				   d.res[i].note);
	if (egress) {
		int x = do_egress(e, adj, detail, sizeof(detail));
		any |= x > 0;
		failed |= x < 0;
	}

	/* Removed between the read and the writes: what was written went with it. */
	if (failed && psc_actuator_read(e->c.actuator, adj->workload, &cur) == -ENOENT) {
		forget_gone(e, adj->workload);
		detail_add(detail, sizeof(detail), "the cgroup is gone");
		any = false;
	}

	int result;
	if (any || (!failed && !d.refused && !egress))
		result = e->c.dry_run ? RES_DRY_RUN : RES_APPLIED; /* or all already in effect */
	else if (failed)
		result = RES_FAILED;
	else
		result = RES_GUARD; /* the guard left nothing, egress unavailable */
	if (result == RES_GUARD || result == RES_FAILED)
		psc_warn("AGENT-ENFORCE-REFUSED", "adjustment %" PRIu64 " for %s: %s: %s", adj->id,
			 adj->workload, psc_enforce_result_name(result), detail);
	else
		psc_info("AGENT-ENFORCE", "adjustment %" PRIu64 " for %s: %s: %s", adj->id,
			 adj->workload, psc_enforce_result_name(result),
			 detail[0] ? detail : "already in effect");
	queue_outcome(e, adj->id, adj->workload, result, detail[0] ? detail : "already in effect",
		      result == RES_APPLIED || result == RES_DRY_RUN ? &prev : NULL);
	return result;
}

/* ---- the entry point ---- */

static int result_of_errno(int r)
{
	switch (r) {
	case -ETIME:
		return RES_EXPIRED;
	case -EALREADY:
		return RES_REPLAYED;
	case -EXDEV:
		return RES_WRONG_HOST;
	default: /* -EKEYREJECTED, -EBADMSG */
		return RES_BAD_SIG;
	}
}

int psc_enforce_handle(struct psc_enforce *e, const Prescient__SignedAdjustment *sa)
{
	Prescient__Adjustment *adj = NULL;
	int r = psc_wire_adjustment_verify(sa, e->c.sign_pk, e->host_id, now_of(e), e->last_id,
					   &adj);

	if (r < 0) {
		int result = result_of_errno(r);
		/* The id and workload as claimed: only trusted when the signature was good
		 * (expired, replayed, other host), reported either way so that the aggregator
		 * can close the adjustment. */
		Prescient__Adjustment *claim = prescient__adjustment__unpack(
			NULL, sa->adjustment.len, sa->adjustment.data);
		uint64_t id = claim ? claim->id : 0;
		char detail[DETAIL_MAX];

		if ((result == RES_REPLAYED && seen(e->handled, e->n_handled, id, -1)) ||
		    seen(e->refused, e->n_refused, id, result)) {
			e->counters.redelivered++;
			prescient__adjustment__free_unpacked(claim, NULL);
			return 0;
		}
		remember(e->refused, &e->n_refused, &e->refused_next, id, result);
		switch (result) {
		case RES_EXPIRED:
			snprintf(detail, sizeof(detail), "expired at %.3f", claim->expires_at);
			break;
		case RES_REPLAYED:
			snprintf(detail, sizeof(detail), "id not above the last accepted %" PRIu64,
				 e->last_id);
			break;
		case RES_WRONG_HOST:
			snprintf(detail, sizeof(detail), "meant for host %.64s", claim->host_id);
			break;
		default:
			snprintf(detail, sizeof(detail), "%s",
				 r == -EKEYREJECTED ? "bad signature" : "malformed adjustment");
			break;
		}
		/* A bad signature's workload is anyone's text: not logged (the id is a number). */
		psc_warn("AGENT-ADJ-REFUSED", "adjustment %" PRIu64 " for %s refused: %s", id,
			 claim && result != RES_BAD_SIG ? claim->workload : "?", detail);
		queue_outcome(e, id, claim ? claim->workload : "", result, detail, NULL);
		prescient__adjustment__free_unpacked(claim, NULL);
		return result;
	}
	e->last_id = adj->id;
	int result = apply_verified(e, adj);
	remember(e->handled, &e->n_handled, &e->handled_next, adj->id, result);
	state_save(e);
	prescient__adjustment__free_unpacked(adj, NULL);
	return result;
}

/* ---- revert ---- */

int psc_enforce_revert_all(struct psc_enforce *e)
{
	int ret = 0;

	for (size_t i = 0; i < e->n_cgs;) {
		struct changed_cg *cg = &e->cgs[i];
		struct psc_actuator_result res;
		int r = psc_actuator_revert(e->c.actuator, cg->path, &cg->original, &res);

		for (int k = 0; k < _PSC_RES_MAX; k++) {
			const struct psc_actuator_res *x = &res.res[k];
			char o[32], n[32];

			if (!(res.asked & (1u << k)))
				continue;
			fmt_value(k, x->before, o, sizeof(o));
			fmt_value(k, x->wanted, n, sizeof(n));
			if (x->err < 0)
				psc_warn("AGENT-ENFORCE-FAIL", "%s %s: cannot revert %s -> %s: %s",
					 cg->path, x->file ? x->file : psc_res_name(k), o, n,
					 strerror(-x->err));
			else
				psc_info("AGENT-ENFORCE-REVERT", "%s %s: %s -> %s (reverted)",
					 cg->path, x->file, o, n);
		}
		/* A cgroup that is gone has nothing left to revert. */
		if (r == 0 || r == -ENOENT) {
			cg_forget(e, cg);
			continue;
		}
		ret = -EIO;
		i++;
	}
	state_save(e);
	return ret;
}
