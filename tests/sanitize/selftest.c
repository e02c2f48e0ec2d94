// SPDX-License-Identifier: MIT
/* A program with one deliberate finding per mode, for test_check.sh: proves that a
 * sanitizer build turns each kind of finding into a failed test (tests/sanitize/check.sh).
 * Built only with PRESCIENT_SANITIZE. usage: psc_sanitize_selftest leak|overflow|ub|clean */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "leak") == 0) {
		char *volatile p = malloc(64);
		if (p)
			p[0] = 1;
		p = NULL; /* the only reference is gone: a direct leak at exit */
		return 0;
	}
	if (strcmp(mode, "overflow") == 0) {
		char *p = malloc(8);
		volatile size_t i = 8;
		if (!p)
			return 2;
		p[i] = 1; /* one past the end */
		printf("%d\n", p[0]);
		free(p);
		return 0;
	}
	if (strcmp(mode, "ub") == 0) {
		volatile int x = INT_MAX, one = argc - 1;
		printf("%d\n", x + one); /* signed overflow */
		return 0;
	}
	if (strcmp(mode, "clean") == 0) {
		char *p = malloc(8);
		free(p);
		return 0;
	}
	fprintf(stderr, "usage: %s leak|overflow|ub|clean\n", argv[0]);
	return 2;
}
