// SPDX-License-Identifier: MIT
/* prescient-replay nab: the detect subcommand's scores over a corpus in NAB's layout,
 * scored the way NAB's scorer does. A port of tests/bench/model_nab.sh's python scorer,
 * kept line for line equivalent (same row order, same tie handling, same summation order)
 * so both give the same figure for the same detector output. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "detect.h"
#include "forecast.h"
#include "replay.h"

enum { ROW_FREE = -1, ROW_PROBATION = -2 };

static const char *const profile_names[] = { "standard", "reward_low_FP_rate",
					     "reward_low_FN_rate" };

struct nab_cost {
	double tp, fp, fn;
};

struct nab_file {
	char *name;      /* key in combined_windows.json: "category/file.csv" */
	size_t n;        /* rows */
	double *score;   /* the detector's score per row, as `detect` prints it (%.6f) */
	double *perfect; /* 1 at each window's first row, else 0 */
	int32_t *win;    /* global window id, ROW_FREE or ROW_PROBATION */
	double *sig;     /* unweighted scaled sigmoid: of the position in the window, or of the
			  * distance past the previous window */
	size_t win_lo, win_hi; /* this file's global window ids */
};

struct nab_corpus {
	struct nab_file *f;
	size_t n_files;
	size_t n_windows;
	bool *scorable; /* per global window: has a row outside the probationary period */
};

/* One scorable row in the threshold sweep. */
struct nab_pt {
	double score;
	size_t seq; /* position in corpus order, so that ties keep python's stable order */
	int32_t win;
	double sig;
};

static void help(void)
{
	printf("Usage: prescient-replay nab [OPTIONS] DIR\n"
	       "\n"
	       "Runs 'detect' over every labelled file of a corpus in NAB's layout and prints its\n"
	       "normalised NAB score for each profile, one line each:\n"
	       "  standard,SCORE\n"
	       "  reward_low_FP_rate,SCORE\n"
	       "  reward_low_FN_rate,SCORE\n"
	       "DIR holds data/CATEGORY/FILE.csv, labels/combined_windows.json and\n"
	       "config/profiles.json (NAB's files). Files listed in the labels but absent from\n"
	       "data/ are skipped; files in data/ without labels are not scored.\n"
	       "\n"
	       "Scoring (NAB's rules): the first 15%% of each file (at most 750 rows) is\n"
	       "probationary and not scored. A row is a detection when its score reaches the\n"
	       "threshold. Within a labelled window only the earliest detection counts, earning\n"
	       "A_TP times the scaled sigmoid of its position (+1 at the window's start); a\n"
	       "detection outside windows costs A_FP times the scaled sigmoid of its distance past\n"
	       "the previous window (relative to that window's width; the full A_FP before any\n"
	       "window); a window without detection costs A_FN. One threshold for the whole\n"
	       "corpus per profile, the one that maximises the total over the distinct scores.\n"
	       "SCORE = 100 * (raw - null) / (perfect - null), where null flags nothing and\n"
	       "perfect flags the first row of each window.\n"
	       "\n"
	       "Options:\n"
	       "      --per-file      also print, per profile and file, the raw score at that\n"
	       "                      profile's corpus threshold: PROFILE,FILE,RAW,THRESHOLD\n"
	       "  -c, --column NAME   value column (default: 'value', else the first '*usage*')\n"
	       "  -m, --models LIST   forecasting models (see 'forecast --help')\n"
	       "  -p, --period P      season: auto (default), none, daily, weekly, or steps\n"
	       "      --charts LIST   shewhart,cusum,novelty (default all three)\n"
	       "      --cusum-k K     CUSUM allowance in robust sd (default 1)\n"
	       "      --window N      residuals kept for the scale and tail (default 1024)\n"
	       "      --novelty-dim N values per embedding of the novelty search (default 16)\n"
	       "      --hold N        steps an alarm's level damps later scores (default 100)\n"
	       "      --strict        refuse repeated timestamps and gaps instead of repairing them\n"
	       "  -q, --quiet         no warnings on stderr\n"
	       "  -h, --help          this text\n"
	       "\n"
	       "Exit status: 0 success; 1 missing or malformed data, labels or profiles; 2 usage.\n");
}

/* NAB's scaled sigmoid: +1 far before 0, 0 at 0, -1 from 3 on. */
static double ssig(double x)
{
	return x >= 3.0 ? -1.0 : 2.0 / (1.0 + exp(5.0 * x)) - 1.0;
}

static json_t *load_json(const char *dir, const char *rel, const char *what)
{
	char path[4096];
	json_error_t err;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	json_t *j = json_load_file(path, 0, &err);
	if (!j) {
		if (access(path, R_OK) != 0)
			fprintf(stderr, "prescient-replay nab: %s: %s missing: %s\n", path, what,
				strerror(errno));
		else
			fprintf(stderr, "prescient-replay nab: %s: line %d: %s\n", path, err.line,
				err.text);
	}
	return j;
}

static int load_profiles(const char *dir, struct nab_cost cost[3])
{
	json_t *j = load_json(dir, "config/profiles.json", "NAB profiles");
	int rc = PSC_REPLAY_OK;

	if (!j)
		return PSC_REPLAY_BAD_INPUT;
	for (size_t i = 0; i < PSC_ARRAY_SIZE(profile_names); i++) {
		json_t *cm = json_object_get(json_object_get(j, profile_names[i]), "CostMatrix");
		json_t *tp = json_object_get(cm, "tpWeight"), *fp = json_object_get(cm, "fpWeight"),
		       *fn = json_object_get(cm, "fnWeight");
		if (!json_is_number(tp) || !json_is_number(fp) || !json_is_number(fn)) {
			fprintf(stderr,
				"prescient-replay nab: %s/config/profiles.json: profile '%s' lacks "
				"CostMatrix tpWeight/fpWeight/fnWeight\n",
				dir, profile_names[i]);
			rc = PSC_REPLAY_BAD_INPUT;
			break;
		}
		cost[i] = (struct nab_cost){ json_number_value(tp), json_number_value(fp),
					     json_number_value(fn) };
	}
	json_decref(j);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_pt(const void *a, const void *b)
{
	const struct nab_pt *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct collect_ctx {
	double *score;
};

static int collect(void *ctx, size_t row, const struct psc_detection *det)
{
	struct collect_ctx *c = ctx;
	char buf[64];

	/* The python scorer reads `detect`'s "%.6f"; rounding the same way keeps the ties. */
	snprintf(buf, sizeof(buf), "%.6f", det->score);
	c->score[row] = strtod(buf, NULL);
	return 0;
}

/* First row whose timestamp text equals the label's (without its fractional seconds). */
static long find_row(const struct psc_series *s, const char *label)
{
	size_t len = strcspn(label, ".");

	for (size_t i = 0; i < s->n; i++) {
		const char *t = s->text + s->ts_off[i];
		if (strlen(t) == len && !strncmp(t, label, len))
			return (long)i;
	}
	return -1;
}

/* Windows, probation and the sigmoid weights of one file (python's prepare()). */
static int prepare(struct nab_corpus *c, struct nab_file *f, const struct psc_series *s,
		   json_t *wins)
{
	size_t nw = json_array_size(wins);
	_cleanup_free_ long *lo = calloc(nw + 1, sizeof(*lo));
	_cleanup_free_ long *hi = calloc(nw + 1, sizeof(*hi));

	if (!lo || !hi)
		return -ENOMEM;
	for (size_t k = 0; k < nw; k++) {
		json_t *w = json_array_get(wins, k);
		const char *a = json_string_value(json_array_get(w, 0));
		const char *b = json_string_value(json_array_get(w, 1));
		if (!a || !b) {
			fprintf(stderr, "prescient-replay nab: labels: %s: window %zu is not "
					"[start, end]\n", f->name, k);
			return -EINVAL;
		}
		lo[k] = find_row(s, a);
		hi[k] = find_row(s, b);
		if (lo[k] < 0 || hi[k] < 0) {
			fprintf(stderr, "prescient-replay nab: labels: %s: window timestamp '%s' "
					"is not a row of the file\n", f->name, lo[k] < 0 ? a : b);
			return -EINVAL;
		}
		f->perfect[lo[k]] = 1.0;
	}
	f->win_lo = c->n_windows;
	f->win_hi = c->n_windows + nw;

	size_t n = f->n;
	double prob = fmin(floor(0.15 * (double)n), 0.15 * 5000);
	long prev_r = -1, prev_w = 0;
	size_t wi = 0;
	for (size_t i = 0; i < n; i++) {
		long cur = -1;
		if (wi < nw && lo[wi] <= (long)i && (long)i <= hi[wi])
			cur = (long)wi;
		if (cur >= 0) {
			long l = lo[cur], r = hi[cur];
			double width = (double)(r - l + 1);
			f->sig[i] = ssig(-(double)(r - (long)i + 1) / width);
		} else {
			double pos = prev_r < 0 ? 3.0 :
						  fabs((double)(prev_r - (long)i)) / (double)(prev_w - 1);
			f->sig[i] = ssig(pos);
		}
		if ((double)i >= prob) {
			f->win[i] = cur < 0 ? ROW_FREE : (int32_t)(f->win_lo + (size_t)cur);
			if (cur >= 0)
				c->scorable[f->win_lo + (size_t)cur] = true;
		} else {
			f->win[i] = ROW_PROBATION;
		}
		if (cur >= 0 && (long)i == hi[cur]) {
			prev_r = hi[cur];
			prev_w = hi[cur] - lo[cur] + 1;
			wi++;
		}
	}
	c->n_windows += nw;
	return 0;
}

/* The weight a flagged row earns under @cost, multiplied in the python scorer's order
 * (tpWeight before dividing by the sigmoid's maximum) so the sums agree to the bit. */
static double row_weight(const struct nab_file *f, size_t i, const struct nab_cost *cost,
			 double maxtp)
{
	if (f->win[i] >= 0)
		return f->sig[i] * cost->tp / maxtp;
	return f->sig[i] * cost->fp;
}

/* Python's sweep(): the best corpus total over all thresholds among the scores (plus
 * 1.1, nothing flagged). Points are the scorable rows sorted by descending score. */
static double sweep(const struct nab_corpus *c, const struct nab_pt *pts, size_t n_pts,
		    const struct nab_cost *cost, double *best_thr)
{
	double maxtp = ssig(-1.0);
	_cleanup_free_ double *wbest = malloc((c->n_windows + 1) * sizeof(*wbest));
	double total = 0.0;

	if (!wbest)
		return NAN;
	for (size_t w = 0; w < c->n_windows; w++) {
		wbest[w] = -cost->fn;
		if (c->scorable[w])
			total += wbest[w];
	}
	double best = total, thr_best = 1.1;
	size_t k = 0;
	while (k < n_pts) {
		double thr = pts[k].score;
		while (k < n_pts && pts[k].score == thr) {
			double w = pts[k].win >= 0 ? pts[k].sig * cost->tp / maxtp :
						     pts[k].sig * cost->fp;
			if (pts[k].win < 0) {
				total += w;
			} else if (w > wbest[pts[k].win]) {
				total += w - wbest[pts[k].win];
				wbest[pts[k].win] = w;
			}
			k++;
		}
		if (total > best) {
			best = total;
			thr_best = thr;
		}
	}
	*best_thr = thr_best;
	return best;
}

/* Builds the sorted sweep points from @perfect (else the detector's scores). */
static struct nab_pt *make_pts(const struct nab_corpus *c, bool perfect, size_t *n_pts)
{
	size_t n = 0;

	for (size_t fi = 0; fi < c->n_files; fi++)
		n += c->f[fi].n;
	struct nab_pt *pts = malloc((n + 1) * sizeof(*pts));
	if (!pts)
		return NULL;
	size_t k = 0, seq = 0;
	for (size_t fi = 0; fi < c->n_files; fi++) {
		const struct nab_file *f = &c->f[fi];
		for (size_t i = 0; i < f->n; i++, seq++) {
			if (f->win[i] == ROW_PROBATION)
				continue;
			pts[k++] = (struct nab_pt){ .score = perfect ? f->perfect[i] : f->score[i],
						    .seq = seq, .win = f->win[i],
						    .sig = f->sig[i] };
		}
	}
	qsort(pts, k, sizeof(*pts), cmp_pt);
	*n_pts = k;
	return pts;
}

/* Python's sweep_at() for one file: its total at threshold @thr. */
static double file_total(const struct nab_file *f, const struct nab_cost *cost, double thr)
{
	double maxtp = ssig(-1.0);
	size_t nw = f->win_hi - f->win_lo;
	_cleanup_free_ double *parts = malloc((nw + 1) * sizeof(*parts));
	_cleanup_free_ bool *seen = calloc(nw + 1, sizeof(*seen));
	double fp = 0.0, sum = 0.0;

	if (!parts || !seen)
		return NAN;
	for (size_t i = 0; i < f->n; i++) {
		int32_t w = f->win[i];
		if (w == ROW_PROBATION)
			continue;
		if (w >= 0) {
			size_t j = (size_t)w - f->win_lo;
			if (!seen[j]) {
				seen[j] = true;
				parts[j] = -cost->fn;
			}
			if (f->score[i] >= thr)
				parts[j] = fmax(parts[j], row_weight(f, i, cost, maxtp));
		} else if (f->score[i] >= thr) {
			fp += row_weight(f, i, cost, maxtp);
		}
	}
	for (size_t j = 0; j < nw; j++)
		if (seen[j])
			sum += parts[j];
	return sum + fp;
}

static void corpus_free(struct nab_corpus *c)
{
	for (size_t i = 0; i < c->n_files; i++) {
		struct nab_file *f = &c->f[i];
		free(f->name);
		free(f->score);
		free(f->perfect);
		free(f->win);
		free(f->sig);
	}
	free(c->f);
	free(c->scorable);
	*c = (struct nab_corpus){ 0 };
}

struct nab_opts {
	struct psc_replay_input_opts in;
	const char *models, *period;
	struct psc_detector_cfg dcfg;
	bool per_file;
};

/* Runs the detector over each labelled file present in DIR/data and prepares it. */
static int load_corpus(const char *dir, const struct nab_opts *o, json_t *labels,
		       struct nab_corpus *c)
{
	size_t nk = json_object_size(labels), n_wins = 0, skipped = 0;
	_cleanup_free_ const char **keys = calloc(nk + 1, sizeof(*keys));
	const char *key;
	json_t *val;

	if (!keys)
		return -ENOMEM;
	nk = 0;
	json_object_foreach(labels, key, val) {
		if (!json_is_array(val)) {
			fprintf(stderr, "prescient-replay nab: labels: '%s' is not a list of "
					"windows\n", key);
			return -EINVAL;
		}
		keys[nk++] = key;
		n_wins += json_array_size(val);
	}
	qsort(keys, nk, sizeof(*keys), cmp_str);
	c->f = calloc(nk + 1, sizeof(*c->f));
	c->scorable = calloc(n_wins + 1, sizeof(*c->scorable));
	if (!c->f || !c->scorable)
		return -ENOMEM;

	for (size_t ki = 0; ki < nk; ki++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/data/%s", dir, keys[ki]);
		if (stat(path, &st) != 0) {
			skipped++;
			continue;
		}
		struct psc_fc_cfg cfg;
		struct psc_series *s = NULL;
		int lrc = psc_replay_load_for_models("nab", path, &o->in, o->models, o->period,
						     &cfg, &s);
		if (lrc != PSC_REPLAY_OK)
			return lrc == PSC_REPLAY_USAGE ? -EDOM : -EINVAL;
		struct nab_file *f = &c->f[c->n_files++];
		f->name = strdup(keys[ki]);
		f->n = s->n;
		f->score = calloc(s->n + 1, sizeof(*f->score));
		f->perfect = calloc(s->n + 1, sizeof(*f->perfect));
		f->win = calloc(s->n + 1, sizeof(*f->win));
		f->sig = calloc(s->n + 1, sizeof(*f->sig));
		int r = -ENOMEM;
		if (f->name && f->score && f->perfect && f->win && f->sig) {
			struct collect_ctx cc = { .score = f->score };
			r = psc_replay_detect_series(s, &cfg, &o->dcfg, collect, &cc);
			if (r == 0)
				r = prepare(c, f, s, json_object_get(labels, keys[ki]));
		}
		psc_series_free(&s);
		if (r < 0)
			return r;
	}
	if (skipped && !o->in.quiet)
		fprintf(stderr, "prescient-replay nab: %zu labelled file(s) not in %s/data, "
				"skipped\n", skipped, dir);
	return 0;
}

static int score_corpus(const char *dir, const struct nab_opts *o)
{
	struct nab_cost cost[PSC_ARRAY_SIZE(profile_names)];
	struct stat st;
	char path[4096];

	snprintf(path, sizeof(path), "%s/data", dir);
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "prescient-replay nab: %s: no data directory (NAB layout: "
				"DIR/data/CATEGORY/FILE.csv)\n", path);
		return PSC_REPLAY_BAD_INPUT;
	}
	json_t *labels = load_json(dir, "labels/combined_windows.json", "NAB labels");
	if (!labels)
		return PSC_REPLAY_BAD_INPUT;
	if (!json_is_object(labels)) {
		fprintf(stderr, "prescient-replay nab: %s/labels/combined_windows.json: not an "
				"object of file -> windows\n", dir);
		json_decref(labels);
		return PSC_REPLAY_BAD_INPUT;
	}
	if (load_profiles(dir, cost) != PSC_REPLAY_OK) {
		json_decref(labels);
		return PSC_REPLAY_BAD_INPUT;
	}

	struct nab_corpus c = { 0 };
	int rc = PSC_REPLAY_BAD_INPUT;
	struct nab_pt *pts = NULL, *ppts = NULL;
	size_t n_pts = 0, n_ppts = 0, n_scorable = 0;
	int r = load_corpus(dir, o, labels, &c);
	if (r == -ENOMEM)
		fprintf(stderr, "prescient-replay nab: out of memory\n");
	if (r == -EDOM)
		rc = PSC_REPLAY_USAGE;
	if (r < 0)
		goto out;
	for (size_t w = 0; w < c.n_windows; w++)
		n_scorable += c.scorable[w];
	if (!n_scorable) {
		fprintf(stderr, "prescient-replay nab: %s: no labelled window outside the "
				"probationary period in any file of data/\n", dir);
		goto out;
	}
	pts = make_pts(&c, false, &n_pts);
	ppts = make_pts(&c, true, &n_ppts);
	if (!pts || !ppts) {
		fprintf(stderr, "prescient-replay nab: out of memory\n");
		goto out;
	}
	double thr[PSC_ARRAY_SIZE(profile_names)];
	for (size_t p = 0; p < PSC_ARRAY_SIZE(profile_names); p++) {
		double pthr;
		double raw = sweep(&c, pts, n_pts, &cost[p], &thr[p]);
		double perfect = sweep(&c, ppts, n_ppts, &cost[p], &pthr);
		double null = -cost[p].fn * (double)n_scorable;
		if (isnan(raw) || isnan(perfect)) {
			fprintf(stderr, "prescient-replay nab: out of memory\n");
			goto out;
		}
		printf("%s,%.3f\n", profile_names[p], 100.0 * (raw - null) / (perfect - null));
	}
	if (o->per_file)
		for (size_t p = 0; p < PSC_ARRAY_SIZE(profile_names); p++)
			for (size_t fi = 0; fi < c.n_files; fi++)
				printf("%s,%s,%.3f,%.6f\n", profile_names[p], c.f[fi].name,
				       file_total(&c.f[fi], &cost[p], thr[p]), thr[p]);
	rc = fflush(stdout) == 0 ? PSC_REPLAY_OK : PSC_REPLAY_BAD_INPUT;
out:
	free(pts);
	free(ppts);
	corpus_free(&c);
	json_decref(labels);
	return rc;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "column", required_argument, NULL, 'c' }, { "models", required_argument, NULL, 'm' },
		{ "period", required_argument, NULL, 'p' }, { "per-file", no_argument, NULL, 'F' },
		{ "strict", no_argument, NULL, 'S' },	    { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },	    { "charts", required_argument, NULL, 'C' },
		{ "cusum-k", required_argument, NULL, 'k' }, { "window", required_argument, NULL, 'w' },
		{ "novelty-dim", required_argument, NULL, 'N' }, { "hold", required_argument, NULL, 'H' },
		{}
	};
	struct nab_opts o = { .period = "auto" };
	int c;

	psc_detector_cfg_default(&o.dcfg);
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:m:p:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.in.column = optarg;
			break;
		case 'm':
			o.models = optarg;
			break;
		case 'p':
			o.period = optarg;
			break;
		case 'F':
			o.per_file = true;
			break;
		case 'S':
			o.in.strict = true;
			break;
		case 'q':
			o.in.quiet = true;
			break;
		case 'C':
		case 'k':
		case 'w':
		case 'N':
		case 'H':
			if (psc_replay_detector_opt("nab", c, optarg, &o.dcfg) != PSC_REPLAY_OK)
				return PSC_REPLAY_USAGE;
			break;
		case 'h':
			help();
			return PSC_REPLAY_OK;
		default:
			return psc_replay_usage_error("nab", "invalid option");
		}
	}
	if (optind + 1 != argc)
		return psc_replay_usage_error("nab", "expected exactly one corpus DIR");
	return score_corpus(argv[optind], &o);
}

const struct psc_replay_cmd psc_replay_nab_cmd = {
	.name = "nab",
	.summary = "NAB score (3 profiles) of detect over a corpus in NAB's layout",
	.run = run,
	.help = help,
};
