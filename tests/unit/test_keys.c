// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"

static char dir[256];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/psc_test_keys.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *buf, size_t n, const char *sub, const char *name)
{
	snprintf(buf, n, "%s/%s/%s", dir, sub, name);
}

static mode_t mode_of(const char *sub, const char *name)
{
	char p[512];
	struct stat st;

	path_of(p, sizeof(p), sub, name);
	assert_int_equal(stat(p, &st), 0);
	return st.st_mode & 07777;
}

static void generate_writes_three_files_with_modes(void **state)
{
	struct psc_keys k;
	char sub[300], err[512];
	mode_t old = umask(0);

	snprintf(sub, sizeof(sub), "%s/a", dir);
	assert_int_equal(psc_keys_generate(sub, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(mode_of("a", PSC_KEYS_FLEET_FILE), 0600);
	assert_int_equal(mode_of("a", PSC_KEYS_SIGNING_FILE), 0600);
	assert_int_equal(mode_of("a", PSC_KEYS_PUBLIC_FILE), 0644);
	assert_int_equal(psc_keys_load(&k, sub, PSC_KEYS_NEED_SIGNING, err, sizeof(err)), 0);
	assert_true(k.has_sign_sk);
	psc_keys_wipe(&k);
}

static void generate_refuses_to_overwrite(void **state)
{
	char sub[300], err[512], p[512];
	struct psc_keys before, after;
	FILE *f;

	snprintf(sub, sizeof(sub), "%s/b", dir);
	assert_int_equal(psc_keys_generate(sub, err, sizeof(err)), 0);
	assert_int_equal(psc_keys_load(&before, sub, PSC_KEYS_NEED_SIGNING, err, sizeof(err)), 0);
	assert_int_equal(psc_keys_generate(sub, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "refusing to overwrite"));
	assert_int_equal(psc_keys_load(&after, sub, PSC_KEYS_NEED_SIGNING, err, sizeof(err)), 0);
	assert_memory_equal(&before, &after, sizeof(before));

	/* any one existing file is enough to refuse, and nothing is written */
	snprintf(sub, sizeof(sub), "%s/c", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	path_of(p, sizeof(p), "c", PSC_KEYS_PUBLIC_FILE);
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(psc_keys_generate(sub, err, sizeof(err)), -EEXIST);
	path_of(p, sizeof(p), "c", PSC_KEYS_FLEET_FILE);
	assert_int_equal(access(p, F_OK), -1);
	psc_keys_wipe(&before);
	psc_keys_wipe(&after);
}

static void loose_permissions_are_refused(void **state)
{
	char sub[300], err[512], p[512];
	struct psc_keys k;

	snprintf(sub, sizeof(sub), "%s/d", dir);
	assert_int_equal(psc_keys_generate(sub, err, sizeof(err)), 0);

	path_of(p, sizeof(p), "d", PSC_KEYS_FLEET_FILE);
	assert_int_equal(chmod(p, 0640), 0);
	assert_int_equal(psc_keys_load(&k, sub, 0, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, PSC_KEYS_FLEET_FILE));
	assert_non_null(strstr(err, "0640"));
	assert_int_equal(chmod(p, 0604), 0);
	assert_int_equal(psc_keys_load(&k, sub, 0, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(p, 0400), 0);
	assert_int_equal(psc_keys_load(&k, sub, 0, err, sizeof(err)), 0);

	/* signing.key matters only to the aggregator */
	path_of(p, sizeof(p), "d", PSC_KEYS_SIGNING_FILE);
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(psc_keys_load(&k, sub, 0, err, sizeof(err)), 0);
	assert_false(k.has_sign_sk);
	assert_int_equal(psc_keys_load(&k, sub, PSC_KEYS_NEED_SIGNING, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, PSC_KEYS_SIGNING_FILE));
	/* wiped on failure */
	static const struct psc_keys zero;
	assert_memory_equal(&k, &zero, sizeof(k));
}

static void bad_content_and_mismatch(void **state)
{
	char sub[300], sub2[300], err[512], p[512], p2[512], cmd[1200];
	struct psc_keys k;
	FILE *f;

	snprintf(sub, sizeof(sub), "%s/e", dir);
	snprintf(sub2, sizeof(sub2), "%s/f", dir);
	assert_int_equal(psc_keys_generate(sub, err, sizeof(err)), 0);
	assert_int_equal(psc_keys_generate(sub2, err, sizeof(err)), 0);

	/* signing.key of another keygen run */
	path_of(p, sizeof(p), "e", PSC_KEYS_SIGNING_FILE);
	path_of(p2, sizeof(p2), "f", PSC_KEYS_SIGNING_FILE);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", p2, p);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(psc_keys_load(&k, sub, PSC_KEYS_NEED_SIGNING, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "does not match"));

	path_of(p, sizeof(p), "e", PSC_KEYS_FLEET_FILE);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("not base64 at all!\n", f);
	fclose(f);
	assert_int_equal(psc_keys_load(&k, sub, 0, err, sizeof(err)), -EBADMSG);
	f = fopen(p, "w");
	fputs("AAAA\n", f); /* valid base64, wrong length */
	fclose(f);
	assert_int_equal(psc_keys_load(&k, sub, 0, err, sizeof(err)), -EBADMSG);

	snprintf(sub, sizeof(sub), "%s/missing", dir);
	assert_int_equal(psc_keys_load(&k, sub, 0, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, PSC_KEYS_FLEET_FILE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(generate_writes_three_files_with_modes),
		cmocka_unit_test(generate_refuses_to_overwrite),
		cmocka_unit_test(loose_permissions_are_refused),
		cmocka_unit_test(bad_content_and_mismatch),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
