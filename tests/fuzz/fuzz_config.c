// SPDX-License-Identifier: MIT
/* Fuzz target: the config file parser (common/config.c) over arbitrary bytes, checking what
 * its header promises: every argument is "--key" or "--key=value" with a valid key, line
 * numbers are in order and within the input, errors name the file and leave *out alone,
 * and the argument vector built from it maps each argument back to its line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psc_config *c = (struct psc_config *)0x1;
	char err[256] = "", want[32];
	char *argv0[] = { "prog", "--x", NULL };
	char **argv = argv0;
	unsigned lines = 1, last = 0;
	int argc = 2, r;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	r = psc_config_parse(&c, "fuzz", (const char *)data, size, err, sizeof(err));
	if (r < 0) {
		if (c != (struct psc_config *)0x1 || strncmp(err, "fuzz", 4) != 0)
			abort();
		return 0;
	}
	if (psc_config_count(c) > PSC_CONFIG_ARGS_MAX)
		abort();
	for (size_t i = 0; i < psc_config_count(c); i++) {
		const char *a = psc_config_arg(c, i);
		size_t k = 2;

		if (strncmp(a, "--", 2) != 0 || !(a[2] >= 'a' && a[2] <= 'z'))
			abort();
		while ((a[k] >= 'a' && a[k] <= 'z') || (a[k] >= '0' && a[k] <= '9') || a[k] == '-')
			k++;
		if (a[k] != '\0' && a[k] != '=')
			abort();
		if (strncmp(a, "--config", k) == 0 && k == strlen("--config"))
			abort();
		if (psc_config_line(c, i) <= last || psc_config_line(c, i) > lines)
			abort();
		last = psc_config_line(c, i);
	}
	if (psc_config_prepend(c, &argc, &argv) < 0)
		abort();
	if (argc != (int)psc_config_count(c) + 2 || argv[argc] != NULL ||
	    strcmp(argv[argc - 1], "--x") != 0 || psc_config_origin(c, argc - 1) != NULL)
		abort();
	for (int i = 1; i < argc - 1; i++) {
		snprintf(want, sizeof(want), "fuzz:%u", psc_config_line(c, (size_t)i - 1));
		if (argv[i] != psc_config_arg(c, (size_t)i - 1) ||
		    strcmp(psc_config_origin(c, i), want) != 0)
			abort();
	}
	psc_config_free(&c);
	if (c)
		abort();
	return 0;
}
