// SPDX-License-Identifier: MIT
#include "fixture_tree.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

int psc_fixture_tree_new(struct psc_fixture_tree *t, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(t->root, sizeof(t->root), "%s/psc-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", name);
	return mkdtemp(t->root) ? 0 : -1;
}

int psc_fixture_tree_remove(struct psc_fixture_tree *t)
{
	char cmd[PATH_MAX + 16];
	int r;

	if (!t->root[0])
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	r = system(cmd) == 0 ? 0 : -1;
	t->root[0] = '\0';
	return r;
}

void psc_fixture_mkdirs(const struct psc_fixture_tree *t, const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	for (char *s = p + strlen(t->root) + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	mkdir(p, 0755);
}

void psc_fixture_put(const struct psc_fixture_tree *t, const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

const char *psc_fixture_get(const struct psc_fixture_tree *t, const char *rel)
{
	static char buf[256];
	char p[PATH_MAX];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	f = fopen(p, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}
