// SPDX-License-Identifier: MIT
/* Drives agent/ratelimit.c for tests/integration/test_ratelimit.sh: one limiter, commands
 * on stdin, one answer line per command on stdout (flushed), log on stderr.
 *
 *   psc_ratelimit_ctl [--cgroup-root DIR] [--log-level L]
 *   set CGROUP RATE [BURST]  -> "ok" | "error -ERRNO"
 *   clear CGROUP             -> "ok" | "error -ERRNO"
 *   egress CGROUP RATE       -> psc_ratelimit_set_egress(): "ok" | "error -ERRNO"
 *   sync                     -> "ok"
 *   stats CGROUP             -> "stats PASSED DROPPED" | "error -ERRNO"
 *   quit (or end of input)   -> closes the limiter (clears every limit), exits 0
 *
 * "ready LAYOUT" (v2 or hybrid) is printed once the program is loaded. Exit status 1 when
 * it cannot be loaded, 2 on usage errors. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroupfs.h"
#include "log.h"
#include "ratelimit.h"

static void answer(int r)
{
	if (r < 0)
		printf("error %d\n", r);
	else
		printf("ok\n");
}

static int run(struct psc_ratelimit *rl)
{
	char line[4200], cg[4097];
	unsigned long long rate, burst;
	uint64_t passed, dropped;
	int r;

	while (fgets(line, sizeof(line), stdin)) {
		burst = 0;
		if (sscanf(line, "set %4096s %llu %llu", cg, &rate, &burst) >= 2) {
			answer(psc_ratelimit_set(rl, cg, rate, burst));
		} else if (sscanf(line, "egress %4096s %llu", cg, &rate) == 2) {
			answer(psc_ratelimit_set_egress(rl, cg, rate));
		} else if (sscanf(line, "clear %4096s", cg) == 1) {
			answer(psc_ratelimit_clear(rl, cg));
		} else if (strncmp(line, "sync", 4) == 0) {
			psc_ratelimit_sync(rl);
			answer(0);
		} else if (sscanf(line, "stats %4096s", cg) == 1) {
			r = psc_ratelimit_stats(rl, cg, &passed, &dropped);
			if (r < 0)
				answer(r);
			else
				printf("stats %" PRIu64 " %" PRIu64 "\n", passed, dropped);
		} else if (strncmp(line, "quit", 4) == 0) {
			break;
		} else {
			printf("error %d\n", -EINVAL);
		}
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cgroup-root", required_argument, NULL, 'r' },
		{ "log-level", required_argument, NULL, 'l' },
		{},
	};
	enum psc_log_level level = PSC_LOG_INFO;
	const char *root = NULL;
	struct psc_cgroupfs_layout layout;
	struct psc_ratelimit *rl = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r')
			root = optarg;
		else if (c != 'l' || psc_log_level_from_string(optarg, &level) < 0)
			return fprintf(stderr, "usage: %s [--cgroup-root DIR] [--log-level L]\n",
				       argv[0]),
			       2;
	}
	psc_log_setup(level, false);
	r = psc_cgroupfs_detect(root, &layout);
	if (r < 0) {
		psc_log_err_r(r, "cannot detect the cgroup layout");
		return 1;
	}
	if (psc_ratelimit_open(&rl, &layout) < 0)
		return 1;
	printf("ready %s\n", layout.mode == PSC_CGROUP_V2 ? "v2" : "hybrid");
	fflush(stdout);
	run(rl);
	psc_ratelimit_close(&rl);
	return 0;
}
