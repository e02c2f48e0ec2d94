// SPDX-License-Identifier: MIT
/* Test tool: signs one adjustment with a key directory's signing.key and queues it in an
 * aggregator's store (psc_store_adjustment_add()), as the aggregator's policy would. The
 * aggregator hands it to the host's agent on the next acks (SQLite WAL lets this run
 * beside a live aggregator).
 *
 *   psc_issue_adjustment --db FILE --keys DIR --id N --host H --workload PATH
 *                        [--cpu CORES] [--weight W] [--burst-us US] [--memory-min B]
 *                        [--memory-high B] [--memory-max B] [--egress B_PER_S]
 *                        [--expires-in S] [--reason TEXT] [--tier T]
 *   --keys DIR      signing.key (and signing.pub) to sign with; another fleet's keys
 *                   make a forged adjustment
 *   --expires-in S  expiry relative to now (default 300; <= 0: already expired)
 * Exit: 0 queued, 1 failure (message on stderr), 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keys.h"
#include "store.h"
#include "wire.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: psc_issue_adjustment --db FILE --keys DIR --id N --host H --workload PATH\n"
		"       [--cpu CORES] [--weight W] [--burst-us US] [--memory-min B] [--memory-high B]\n"
		"       [--memory-max B] [--egress B_PER_S] [--expires-in S] [--reason TEXT] [--tier T]\n");
}

static int num(const char *opt, const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(*out)) {
		fprintf(stderr, "psc_issue_adjustment: %s: '%s' is not a number\n", opt, s);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		O_DB = 256,
		O_KEYS,
		O_ID,
		O_HOST,
		O_WL,
		O_CPU,
		O_WEIGHT,
		O_BURST,
		O_MMIN,
		O_MHIGH,
		O_MMAX,
		O_EGRESS,
		O_EXPIRES,
		O_REASON,
		O_TIER
	};
	static const struct option longopts[] = {
		{"db", required_argument, NULL, O_DB},
		{"keys", required_argument, NULL, O_KEYS},
		{"id", required_argument, NULL, O_ID},
		{"host", required_argument, NULL, O_HOST},
		{"workload", required_argument, NULL, O_WL},
		{"cpu", required_argument, NULL, O_CPU},
		{"weight", required_argument, NULL, O_WEIGHT},
		{"burst-us", required_argument, NULL, O_BURST},
		{"memory-min", required_argument, NULL, O_MMIN},
		{"memory-high", required_argument, NULL, O_MHIGH},
		{"memory-max", required_argument, NULL, O_MMAX},
		{"egress", required_argument, NULL, O_EGRESS},
		{"expires-in", required_argument, NULL, O_EXPIRES},
		{"reason", required_argument, NULL, O_REASON},
		{"tier", required_argument, NULL, O_TIER},
		{},
	};
	Prescient__Adjustment adj = PRESCIENT__ADJUSTMENT__INIT;
	Prescient__Targets t = PRESCIENT__TARGETS__INIT;
	Prescient__SignedAdjustment sa;
	const char *db = NULL, *keys_dir = NULL;
	double expires_in = 300, v = 0;
	struct psc_store *store = NULL;
	struct psc_keys keys;
	struct timespec ts;
	char err[256];
	int c, r, li = 0;

	adj.reason = "psc_issue_adjustment";
	adj.tier = "predictive";
	while ((c = getopt_long(argc, argv, "", longopts, &li)) != -1) {
		if (c != O_DB && c != O_KEYS && c != O_HOST && c != O_WL && c != O_REASON &&
		    c != O_TIER && c != '?' && num(longopts[li].name, optarg, &v) < 0)
			return 2;
		switch (c) {
		case O_DB:
			db = optarg;
			break;
		case O_KEYS:
			keys_dir = optarg;
			break;
		case O_HOST:
			adj.host_id = optarg;
			break;
		case O_WL:
			adj.workload = optarg;
			break;
		case O_REASON:
			adj.reason = optarg;
			break;
		case O_TIER:
			adj.tier = optarg;
			break;
		case O_ID:
			adj.id = (uint64_t)v;
			break;
		case O_CPU:
			t.cpu_max_cores = v;
			break;
		case O_WEIGHT:
			t.cpu_weight = (uint64_t)v;
			break;
		case O_BURST:
			t.cpu_max_burst_us = (uint64_t)v;
			break;
		case O_MMIN:
			t.memory_min_bytes = (uint64_t)v;
			break;
		case O_MHIGH:
			t.memory_high_bytes = (uint64_t)v;
			break;
		case O_MMAX:
			t.memory_max_bytes = (uint64_t)v;
			break;
		case O_EGRESS:
			t.egress_bytes_per_s = (uint64_t)v;
			break;
		case O_EXPIRES:
			expires_in = v;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!db || !keys_dir || !adj.id || !adj.host_id || !adj.workload || optind < argc) {
		usage(stderr);
		return 2;
	}
	r = psc_keys_load(&keys, keys_dir, PSC_KEYS_NEED_SIGNING, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "psc_issue_adjustment: %s\n", err);
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	adj.issued_at = ts.tv_sec + ts.tv_nsec / 1e9;
	adj.expires_at = adj.issued_at + expires_in;
	adj.targets = &t;
	r = psc_wire_adjustment_sign(&adj, keys.sign_sk, &sa);
	psc_keys_wipe(&keys);
	if (r < 0) {
		fprintf(stderr, "psc_issue_adjustment: cannot sign: %s\n", strerror(-r));
		return 1;
	}
	r = psc_store_open(&store, db, NULL, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "psc_issue_adjustment: cannot open %s: %s\n", db, err);
		psc_wire_signed_clear(&sa);
		return 1;
	}
	r = psc_store_adjustment_add(store, &sa);
	psc_store_close(&store);
	psc_wire_signed_clear(&sa);
	if (r < 0) {
		fprintf(stderr, "psc_issue_adjustment: cannot queue adjustment %llu: %s\n",
			(unsigned long long)adj.id, strerror(-r));
		return 1;
	}
	printf("queued %llu for %s %s, expires %.3f\n", (unsigned long long)adj.id, adj.host_id,
	       adj.workload, adj.expires_at);
	return 0;
}
