// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "behaviour.h"
#include "cleanup.h"
#include "cluster.h"
#include "replay.h"

static void help(void)
{
	printf("Usage: prescient-replay cluster [OPTIONS] DIR\n"
	       "\n"
	       "Clusters every series in DIR by behaviour and prints, per file (sorted by name):\n"
	       "  file,cluster,silhouette\n"
	       "then '# ...' lines: the method, k, the quality criterion, and each cluster's mean\n"
	       "features. Files hold one value per line without a header (the PlanetLab layout)\n"
	       "or a CSV as for 'detect'; hidden files are ignored and unreadable ones are skipped\n"
	       "with a warning (exit 1 if none is usable).\n"
	       "Features per series: log mean, coefficient of variation, p95/mean, lag-1\n"
	       "autocorrelation, duty cycle and diurnal share of variance (with --shape also the\n"
	       "time-of-day shape: six 4-hour blocks / mean); columns are standardised.\n"
	       "\n"
	       "Options:\n"
	       "  -M, --method M      kmeans (default; k-means++ with k chosen by the highest mean\n"
	       "                      silhouette), gmm (diagonal Gaussian mixture, k by lowest\n"
	       "                      BIC), dbscan (eps from the k-distance knee; -1 = noise)\n"
	       "  -k, --k N           fixed k for kmeans/gmm instead of searching 2..--kmax\n"
	       "      --kmax N        largest k searched (default 10)\n"
	       "  -i, --interval S    seconds between values in header-less files (default 300)\n"
	       "      --shape         add the time-of-day shape to the features\n"
	       "      --seed N        random seed (default 1)\n"
	       "  -h, --help          this text\n");
}

struct item {
	char *name;
	double feat[_PSC_SF_MAX];
};

static int cmp_item(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->name, ((const struct item *)b)->name);
}

/* Loads one file; returns 0 and fills it->feat, or a negative errno after a warning. */
static int load_one(const char *dir, const char *name, double interval, struct item *it)
{
	char path[4096];
	_cleanup_free_ char *buf = NULL;
	struct psc_series *s = NULL;
	struct psc_csv_diag diag;
	size_t len;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	r = psc_replay_read_file(path, &buf, &len);
	if (r < 0) {
		fprintf(stderr, "prescient-replay cluster: warning: %s: %s; skipped\n", path,
			strerror(-r));
		return r;
	}
	r = psc_series_parse_values(buf, len, interval, &s, &diag);
	if (r < 0) {
		struct psc_csv_diag d2;
		struct psc_csv_opts o = { 0 };
		if (psc_series_parse_csv(buf, len, &o, &s, &d2) < 0) {
			fprintf(stderr, "prescient-replay cluster: warning: %s: %s; skipped\n", path,
				diag.msg);
			return -EINVAL;
		}
	}
	double t0 = s->ts_format == PSC_TS_NONE ? 0 : s->t[0];
	r = psc_series_features(s->v, s->n, s->interval, t0, it->feat);
	psc_series_free(&s);
	if (r < 0) {
		fprintf(stderr, "prescient-replay cluster: warning: %s: too few values (need 4); skipped\n",
			path);
		return r;
	}
	return 0;
}

static int parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || !*s || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "method", required_argument, NULL, 'M' }, { "k", required_argument, NULL, 'k' },
		{ "kmax", required_argument, NULL, 'K' },   { "interval", required_argument, NULL, 'i' },
		{ "seed", required_argument, NULL, 's' },   { "help", no_argument, NULL, 'h' },
		{ "shape", no_argument, NULL, 'S' },
		{}
	};
	const char *method = "kmeans";
	bool shape = false;
	size_t kfix = 0, kmax = 10, seed = 1;
	double interval = 300;
	char *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "M:k:i:h", opts, NULL)) != -1) {
		switch (c) {
		case 'M':
			method = optarg;
			if (strcmp(method, "kmeans") && strcmp(method, "gmm") && strcmp(method, "dbscan"))
				return psc_replay_usage_error("cluster", "invalid --method '%s'", optarg);
			break;
		case 'k':
			if (parse_size(optarg, 1, 1000, &kfix) < 0)
				return psc_replay_usage_error("cluster", "invalid --k '%s'", optarg);
			break;
		case 'K':
			if (parse_size(optarg, 2, 1000, &kmax) < 0)
				return psc_replay_usage_error("cluster", "invalid --kmax '%s'", optarg);
			break;
		case 'i':
			interval = strtod(optarg, &end);
			if (*end || !(interval > 0) || interval > 1e7)
				return psc_replay_usage_error("cluster", "invalid --interval '%s'", optarg);
			break;
		case 's':
			if (parse_size(optarg, 0, (size_t)-1, &seed) < 0)
				return psc_replay_usage_error("cluster", "invalid --seed '%s'", optarg);
			break;
		case 'S':
			shape = true;
			break;
		case 'h':
			help();
			return PSC_REPLAY_OK;
		default:
			return psc_replay_usage_error("cluster", "invalid option");
		}
	}
	if (optind + 1 != argc)
		return psc_replay_usage_error("cluster", "expected exactly one DIR");
	const char *dir = argv[optind];
	_cleanup_free_ double *x = NULL, *sil = NULL, *cent = NULL;
	_cleanup_free_ int *label = NULL;
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "prescient-replay cluster: %s: %s\n", dir, strerror(errno));
		return PSC_REPLAY_BAD_INPUT;
	}
	struct item *items = NULL;
	size_t n = 0, cap = 0;
	int rc = PSC_REPLAY_BAD_INPUT;
	struct dirent *de;
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			struct item *ni = realloc(items, cap * sizeof(*ni));
			if (!ni)
				goto oom;
			items = ni;
		}
		items[n].name = strdup(de->d_name);
		if (!items[n].name)
			goto oom;
		if (load_one(dir, de->d_name, interval, &items[n]) < 0) {
			free(items[n].name);
			continue;
		}
		n++;
	}
	if (n < 3) {
		fprintf(stderr, "prescient-replay cluster: %s: %zu usable series; need at least 3\n",
			dir, n);
		goto out;
	}
	qsort(items, n, sizeof(*items), cmp_item);
	size_t dims = shape ? _PSC_SF_MAX : PSC_SF_SHAPE0;
	x = malloc(n * dims * sizeof(*x));
	label = malloc(n * sizeof(*label));
	sil = malloc(n * sizeof(*sil));
	cent = malloc((kmax > kfix ? kmax : kfix) * dims * sizeof(*cent));
	if (!x || !label || !sil || !cent)
		goto oom;
	for (size_t i = 0; i < n; i++)
		memcpy(x + i * dims, items[i].feat, dims * sizeof(*x));
	psc_standardize(x, n, dims, NULL, NULL);
	if (kmax > n - 1)
		kmax = n - 1;
	if (kfix > n) {
		psc_replay_usage_error("cluster", "--k %zu exceeds the %zu series", kfix, n);
		rc = PSC_REPLAY_USAGE;
		goto out;
	}
	size_t k = 0;
	char summary[256];
	double per_k[1001];
	for (size_t j = 0; j <= kmax; j++)
		per_k[j] = NAN;
	int r;
	if (!strcmp(method, "kmeans")) {
		double s;
		if (kfix) {
			r = psc_kmeans(x, n, dims, kfix, seed, 8, label, cent, NULL);
			k = kfix;
		} else {
			r = psc_kmeans_auto(x, n, dims, 2, kmax, seed, label, cent, &k, &s, per_k);
		}
		if (r < 0)
			goto oom;
		s = psc_silhouette(x, n, dims, label, k, sil);
		snprintf(summary, sizeof(summary),
			 "# method=kmeans k=%zu criterion=silhouette%s silhouette=%.4f files=%zu", k,
			 kfix ? "(fixed k)" : "(max over k=2..kmax)", s, n);
	} else if (!strcmp(method, "gmm")) {
		double bic;
		if (kfix) {
			r = psc_gmm(x, n, dims, kfix, seed, 200, label, NULL, &bic);
			k = kfix;
		} else {
			r = psc_gmm_auto(x, n, dims, 1, kmax, seed, label, &k, &bic);
		}
		if (r < 0)
			goto oom;
		double s = psc_silhouette(x, n, dims, label, k, sil);
		snprintf(summary, sizeof(summary),
			 "# method=gmm k=%zu criterion=bic bic=%.1f silhouette=%.4f files=%zu", k, bic,
			 s, n);
	} else {
		double eps;
		size_t min_pts = dims + 1 < n ? dims + 1 : 2;
		r = psc_dbscan(x, n, dims, 0, min_pts, label, &eps);
		if (r < 0)
			goto oom;
		k = (size_t)r;
		size_t noise = 0;
		for (size_t i = 0; i < n; i++)
			noise += label[i] < 0;
		double s = psc_silhouette(x, n, dims, label, k, sil);
		snprintf(summary, sizeof(summary),
			 "# method=dbscan k=%zu eps=%.4f min_pts=%zu noise=%zu criterion=silhouette(non-noise) silhouette=%.4f files=%zu",
			 k, eps, min_pts, noise, s, n);
	}
	printf("file,cluster,silhouette\n");
	for (size_t i = 0; i < n; i++) {
		printf("%s,%d,", items[i].name, label[i]);
		psc_replay_print_num(sil[i]);
		putchar('\n');
	}
	printf("%s\n", summary);
	if (!strcmp(method, "kmeans") && !kfix) {
		printf("# silhouette_by_k");
		for (size_t j = 2; j <= kmax; j++)
			printf(" %zu=%.4f", j, per_k[j]);
		putchar('\n');
	}
	/* Each cluster's mean features, in their own units. */
	for (int cl = -1; cl < (int)k; cl++) {
		double m[_PSC_SF_MAX] = { 0 };
		size_t cnt = 0;
		for (size_t i = 0; i < n; i++) {
			if (label[i] != cl)
				continue;
			cnt++;
			for (size_t j = 0; j < dims; j++)
				m[j] += items[i].feat[j];
		}
		if (!cnt)
			continue;
		printf("# cluster=%d n=%zu", cl, cnt);
		for (size_t j = 0; j < dims; j++)
			printf(" %s=%.3g", psc_series_feature_name((enum psc_sfeat)j), m[j] / cnt);
		putchar('\n');
	}
	rc = fflush(stdout) == 0 ? PSC_REPLAY_OK : PSC_REPLAY_BAD_INPUT;
	goto out;
oom:
	fprintf(stderr, "prescient-replay cluster: out of memory\n");
out:
	for (size_t i = 0; i < n; i++)
		free(items[i].name);
	free(items);
	return rc;
}

const struct psc_replay_cmd psc_replay_cluster_cmd = {
	.name = "cluster",
	.summary = "cluster every series in a folder (PlanetLab layout) and report the quality",
	.run = run,
	.help = help,
};
