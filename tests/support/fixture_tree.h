/* SPDX-License-Identifier: MIT */
/* Test support: small directory trees of plain files made at run time in a temporary
 * directory (a cgroupfs stand-in for the writers' tests: agent/actuator.h, agent/enforce.h).
 * The helpers run inside a cmocka test: a file that cannot be written or read fails the
 * running test. Paths given to them are relative to the tree's root. */
#pragma once

#include <limits.h>

struct psc_fixture_tree {
	char root[PATH_MAX];
};

/* Creates an empty tree under $TMPDIR (default /tmp) named after @name. Returns 0 or -1
 * (for a cmocka setup function). */
int psc_fixture_tree_new(struct psc_fixture_tree *t, const char *name);
/* Removes the whole tree. Returns 0 or -1 (for a cmocka teardown function). */
int psc_fixture_tree_remove(struct psc_fixture_tree *t);

/* mkdir -p @rel. */
void psc_fixture_mkdirs(const struct psc_fixture_tree *t, const char *rel);
/* Writes @text as the whole content of @rel (created or truncated). */
void psc_fixture_put(const struct psc_fixture_tree *t, const char *rel, const char *text);
/* The first line of @rel without its newline; the string lives until the next call. */
const char *psc_fixture_get(const struct psc_fixture_tree *t, const char *rel);
