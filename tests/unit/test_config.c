// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static struct psc_config *parse_ok(const char *text)
{
	struct psc_config *c = NULL;
	char err[256] = "";

	if (psc_config_parse(&c, "t.conf", text, strlen(text), err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	return c;
}

/* Parses @text, expects @r and an error message that starts with @where and contains
 * @what. */
static void parse_fails(const char *text, size_t len, int r, const char *where, const char *what)
{
	struct psc_config *c = (struct psc_config *)0x1;
	char err[256] = "";

	assert_int_equal(psc_config_parse(&c, "t.conf", text, len, err, sizeof(err)), r);
	assert_ptr_equal(c, (struct psc_config *)0x1);
	if (strncmp(err, where, strlen(where)) != 0 || !strstr(err, what))
		fail_msg("message '%s' lacks '%s' ... '%s'", err, where, what);
}

static void syntax(void **state)
{
	struct psc_config *c = parse_ok("# agent\n"
					"\n"
					"   window = 10\n"
					"aggregator=tcp://10.0.0.5:7070\n"
					"host-id = \"web 1 # not a comment\"   # a comment\n"
					"manage = /system.slice/a.service\n"
					"manage = '/kubepods/b \\n'\n"
					"\tlog-json = true\r\n"
					"spool = /var/lib/x#y # trailing\n"
					"dry-run = \"true\"\n"
					"keys = \"a\\\"b\\\\c\"\n"
					"empty = \"\"\n"
					"log-level = -debug"); /* no final newline */
	static const char *const want[] = {
		"--window=10",
		"--aggregator=tcp://10.0.0.5:7070",
		"--host-id=web 1 # not a comment",
		"--manage=/system.slice/a.service",
		"--manage=/kubepods/b \\n",
		"--log-json",
		"--spool=/var/lib/x#y",
		"--dry-run=true",
		"--keys=a\"b\\c",
		"--empty=",
		"--log-level=-debug",
	};
	static const unsigned lines[] = { 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 };

	assert_int_equal(psc_config_count(c), sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < psc_config_count(c); i++) {
		assert_string_equal(psc_config_arg(c, i), want[i]);
		assert_int_equal(psc_config_line(c, i), lines[i]);
	}
	assert_null(psc_config_arg(c, psc_config_count(c)));
	psc_config_free(&c);
	assert_null(c);
	psc_config_free(&c);
}

static void false_turns_a_flag_off(void **state)
{
	struct psc_config *c = parse_ok("print = true\nwindow = 5\nprint = false\nlog-json = false\n"
					"dry-run = true\n");

	assert_int_equal(psc_config_count(c), 2);
	assert_string_equal(psc_config_arg(c, 0), "--window=5");
	assert_string_equal(psc_config_arg(c, 1), "--dry-run");
	assert_int_equal(psc_config_line(c, 1), 5);
	psc_config_free(&c);

	c = parse_ok("");
	assert_int_equal(psc_config_count(c), 0);
	psc_config_free(&c);
}

static void errors_name_file_and_line(void **state)
{
#define FAILS(text, where, what) parse_fails(text, strlen(text), -EINVAL, where, what)
	FAILS("window = 1\nwindow 2\n", "t.conf:2:", "expected 'key = value'");
	FAILS("\n\n--window = 1\n", "t.conf:3:", "long option name");
	FAILS("Window = 1\n", "t.conf:1:", "long option name");
	FAILS("win_dow = 1\n", "t.conf:1:", "expected 'key = value'");
	FAILS("window =\n", "t.conf:1:", "no value");
	FAILS("window = # nothing\n", "t.conf:1:", "no value");
	FAILS("host-id = \"abc\n", "t.conf:1:", "unterminated \" quote");
	FAILS("host-id = 'abc\n", "t.conf:1:", "unterminated ' quote");
	FAILS("host-id = \"a\" b\n", "t.conf:1:", "after the closing quote");
	FAILS("host-id = \"a\\tb\"\n", "t.conf:1:", "escapes");
	FAILS("a = 1\nconfig = /etc/other.conf\n", "t.conf:2:", "'config'");
#undef FAILS
	parse_fails("a = 1\nb = x\0y\n", 12, -EINVAL, "t.conf:2:", "NUL");
}

static void bounds(void **state)
{
	size_t n = PSC_CONFIG_LINE_MAX + 64;
	char *text = malloc(n);
	struct psc_config *c = NULL;
	char err[256];
	size_t len;

	assert_non_null(text);
	/* The longest line allowed, then one byte more. */
	memset(text, 'x', n);
	memcpy(text, "k = ", 4);
	text[PSC_CONFIG_LINE_MAX - 1] = '\n';
	assert_int_equal(psc_config_parse(&c, "t.conf", text, PSC_CONFIG_LINE_MAX, err, sizeof(err)),
			 0);
	assert_int_equal(strlen(psc_config_arg(c, 0)), strlen("--k=") + PSC_CONFIG_LINE_MAX - 5);
	psc_config_free(&c);
	text[PSC_CONFIG_LINE_MAX - 1] = 'x';
	text[PSC_CONFIG_LINE_MAX] = '\n';
	parse_fails(text, PSC_CONFIG_LINE_MAX + 1, -EINVAL, "t.conf:1:", "line longer than 4095");
	free(text);

	/* PSC_CONFIG_ARGS_MAX options, then one more. */
	text = malloc((PSC_CONFIG_ARGS_MAX + 1) * 16);
	assert_non_null(text);
	len = 0;
	for (int i = 0; i < PSC_CONFIG_ARGS_MAX; i++)
		len += (size_t)sprintf(text + len, "manage = /m%d\n", i);
	assert_int_equal(psc_config_parse(&c, "t.conf", text, len, err, sizeof(err)), 0);
	assert_int_equal(psc_config_count(c), PSC_CONFIG_ARGS_MAX);
	psc_config_free(&c);
	len += (size_t)sprintf(text + len, "manage = /last\n");
	parse_fails(text, len, -E2BIG, "t.conf:1025:", "more than 1024 options");
	free(text);
}

static void stat_checks(void **state)
{
	struct stat st = { .st_mode = S_IFREG | 0644, .st_uid = 0 };
	char err[256];

	assert_int_equal(psc_config_check_stat("/etc/p.conf", &st, 0, err, sizeof(err)), 0);
	assert_int_equal(psc_config_check_stat("/etc/p.conf", &st, 1000, err, sizeof(err)), 0);
	st.st_mode = S_IFREG | 0664;
	assert_int_equal(psc_config_check_stat("/etc/p.conf", &st, 0, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "/etc/p.conf: writable by group or others (mode 0664)"));
	assert_non_null(strstr(err, "chmod go-w /etc/p.conf"));
	st.st_mode = S_IFREG | 0602;
	assert_int_equal(psc_config_check_stat("/etc/p.conf", &st, 0, err, sizeof(err)), -EPERM);
	st.st_mode = S_IFREG | 0600;
	st.st_uid = 1000;
	assert_int_equal(psc_config_check_stat("/etc/p.conf", &st, 1000, err, sizeof(err)), 0);
	assert_int_equal(psc_config_check_stat("/etc/p.conf", &st, 0, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "owned by uid 1000"));
	st.st_mode = S_IFDIR | 0755;
	st.st_uid = 0;
	assert_int_equal(psc_config_check_stat("/etc/p.conf", &st, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void load_from_disk(void **state)
{
	char dir[] = "/tmp/psc-config-XXXXXX", path[64], big[64], err[512];
	struct psc_config *c = NULL;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/agent.conf", dir);
	snprintf(big, sizeof(big), "%s/big.conf", dir);

	write_file(path, "# x\nwindow = 2\nmanage = /a\n", 0644);
	assert_int_equal(psc_config_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(psc_config_count(c), 2);
	assert_string_equal(psc_config_arg(c, 1), "--manage=/a");
	psc_config_free(&c);

	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(psc_config_load(&c, path, err, sizeof(err)), -EPERM);
	assert_null(c);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "writable by group or others"));

	/* Errors inside the file name the path given. */
	write_file(path, "window = 2\nwindow\n", 0600);
	assert_int_equal(psc_config_load(&c, path, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, path, strlen(path)) == 0 && strstr(err, ":2:"));

	assert_int_equal(psc_config_load(&c, dir, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));

	unlink(path);
	assert_int_equal(psc_config_load(&c, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file"));

	/* Exactly the size bound is read; one byte more is refused. */
	f = fopen(big, "w");
	assert_non_null(f);
	for (unsigned i = 0; i < PSC_CONFIG_FILE_MAX / 16; i++)
		fputs("# padding line.\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(big, 0644), 0);
	assert_int_equal(psc_config_load(&c, big, err, sizeof(err)), 0);
	assert_int_equal(psc_config_count(c), 0);
	psc_config_free(&c);
	f = fopen(big, "a");
	assert_non_null(f);
	fputs("\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(psc_config_load(&c, big, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "larger than"));
	unlink(big);
	assert_int_equal(rmdir(dir), 0);
}

static void find_path(void **state)
{
	const char *path = (const char *)0x1;
	char err[256];
	char *a1[] = { "prog", "--window", "5", "--config", "/etc/a.conf", "-h", NULL };
	char *a2[] = { "prog", "--config=/etc/b.conf", NULL };
	char *a3[] = { "prog", "--print", "--", "--config", "x", NULL };
	char *a4[] = { "prog", "--config", NULL };
	char *a5[] = { "prog", "--config=", NULL };
	char *a6[] = { "prog", "--config", "a", "--config=b", NULL };

	assert_int_equal(psc_config_find_path(6, a1, &path, err, sizeof(err)), 0);
	assert_string_equal(path, "/etc/a.conf");
	assert_int_equal(psc_config_find_path(2, a2, &path, err, sizeof(err)), 0);
	assert_string_equal(path, "/etc/b.conf");
	assert_int_equal(psc_config_find_path(5, a3, &path, err, sizeof(err)), 0);
	assert_null(path);
	path = (const char *)0x1;
	assert_int_equal(psc_config_find_path(2, a4, &path, err, sizeof(err)), -EINVAL);
	assert_ptr_equal(path, (const char *)0x1);
	assert_non_null(strstr(err, "--config needs a FILE"));
	assert_int_equal(psc_config_find_path(2, a5, &path, err, sizeof(err)), -EINVAL);
	assert_int_equal(psc_config_find_path(4, a6, &path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "twice"));
}

enum { OPT_WINDOW = 256, OPT_MANAGE, OPT_PRINT, OPT_CONFIG };
static const struct option longopts[] = {
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "manage", required_argument, NULL, OPT_MANAGE },
	{ "print", no_argument, NULL, OPT_PRINT },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{},
};

struct parsed {
	const char *window;
	const char *manage[8];
	int n_manage;
	bool print;
	const char *bad; /* origin of the first bad option, "" when from the command line */
	int bad_argi;
	const char *operand;
};

/* The calling convention documented in config.h, run over a real getopt_long. */
static int run_main(const char *text, int argc, char **argv, struct parsed *p)
{
	struct psc_config *cfg = NULL;
	const char *path = NULL;
	char err[256];
	int c, r = 0;

	memset(p, 0, sizeof(*p));
	assert_int_equal(psc_config_find_path(argc, argv, &path, err, sizeof(err)), 0);
	if (path) {
		assert_int_equal(
			psc_config_parse(&cfg, path, text, strlen(text), err, sizeof(err)), 0);
		assert_int_equal(psc_config_prepend(cfg, &argc, &argv), 0);
		assert_int_equal(psc_config_prepend(cfg, &argc, &argv), -EALREADY);
	}
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_WINDOW:
			p->window = optarg;
			break;
		case OPT_MANAGE:
			p->manage[p->n_manage++] = optarg;
			break;
		case OPT_PRINT:
			p->print = true;
			break;
		case OPT_CONFIG:
			break;
		default:
			p->bad_argi = optind - 1;
			p->bad = psc_config_origin(cfg, optind - 1);
			p->bad = p->bad ? strdup(p->bad) : "";
			r = -EINVAL;
			goto out;
		}
	}
	if (optind < argc)
		p->operand = argv[optind];
	/* optarg strings point into cfg: copy what the assertions read after it is freed. */
	p->window = p->window ? strdup(p->window) : NULL;
	for (int i = 0; i < p->n_manage; i++)
		p->manage[i] = strdup(p->manage[i]);
out:
	psc_config_free(&cfg);
	return r;
}

static void command_line_wins(void **state)
{
	static const char text[] = "window = 10\n"
				   "manage = /system.slice/a.service\n"
				   "print = true\n"
				   "manage = /kubepods\n";
	char *argv[] = { "prog", "--window", "3", "--config", "/etc/p/agent.conf",
			 "--manage=/c",	 "operand", NULL };
	struct parsed p;

	assert_int_equal(run_main(text, 7, argv, &p), 0);
	assert_string_equal(p.window, "3");
	assert_true(p.print);
	assert_int_equal(p.n_manage, 3);
	assert_string_equal(p.manage[0], "/system.slice/a.service");
	assert_string_equal(p.manage[1], "/kubepods");
	assert_string_equal(p.manage[2], "/c");
	assert_string_equal(p.operand, "operand");
	free((void *)p.window);
	for (int i = 0; i < p.n_manage; i++)
		free((void *)p.manage[i]);

	/* Without --config nothing changes. */
	char *plain[] = { "prog", "--window=4", NULL };
	assert_int_equal(run_main(text, 2, plain, &p), 0);
	assert_string_equal(p.window, "4");
	assert_false(p.print);
	free((void *)p.window);
}

static void bad_options_name_their_origin(void **state)
{
	char *argv[] = { "prog", "--config=/etc/p/agent.conf", "--window", "1", NULL };
	char *cli_bad[] = { "prog", "--config=/etc/p/agent.conf", "--frobnicate", NULL };
	struct parsed p;

	/* An unknown key in the file. */
	assert_int_equal(run_main("window = 1\n\n# c\nfrobnicate = 1\n", 4, argv, &p), -EINVAL);
	assert_string_equal(p.bad, "/etc/p/agent.conf:4");
	assert_int_equal(p.bad_argi, 2);
	free((void *)p.bad);
	/* A value given to a flag. */
	assert_int_equal(run_main("print = yes\n", 4, argv, &p), -EINVAL);
	assert_string_equal(p.bad, "/etc/p/agent.conf:1");
	free((void *)p.bad);
	/* The same unknown option on the command line is not blamed on the file. */
	assert_int_equal(run_main("window = 1\nmanage = /a\n", 3, cli_bad, &p), -EINVAL);
	assert_string_equal(p.bad, "");
	assert_int_equal(p.bad_argi, 4);
}

static void from_args(void **state)
{
	char dir[] = "/tmp/psc-config-XXXXXX", path[64], opt[80], err[512];
	struct psc_config *cfg = (struct psc_config *)0x1;
	char *plain[] = { "prog", "--window=4", NULL };
	char *with[] = { "prog", opt, "--window=4", NULL };
	char **argv = plain;
	int argc = 2;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.conf", dir);
	snprintf(opt, sizeof(opt), "--config=%s", path);

	/* No --config: nothing read, nothing changed. */
	assert_int_equal(psc_config_from_args(&cfg, &argc, &argv, err, sizeof(err)), 0);
	assert_null(cfg);
	assert_int_equal(argc, 2);
	assert_ptr_equal(argv, plain);

	/* A missing file, then a group-writable one: an error naming it, argv untouched. */
	argv = with;
	argc = 3;
	assert_int_equal(psc_config_from_args(&cfg, &argc, &argv, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	write_file(path, "window = 9\nprint = true\n", 0620);
	assert_int_equal(psc_config_from_args(&cfg, &argc, &argv, err, sizeof(err)), -EPERM);
	assert_int_equal(argc, 3);
	assert_ptr_equal(argv, with);

	/* A good file: its options first, then the command line's. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(psc_config_from_args(&cfg, &argc, &argv, err, sizeof(err)), 0);
	assert_non_null(cfg);
	assert_int_equal(argc, 5);
	assert_string_equal(argv[0], "prog");
	assert_string_equal(argv[1], "--window=9");
	assert_string_equal(argv[2], "--print");
	assert_ptr_equal(argv[3], opt);
	assert_string_equal(argv[4], "--window=4");
	assert_null(argv[5]);
	snprintf(err, sizeof(err), "%s:2", path);
	assert_string_equal(psc_config_origin(cfg, 2), err);
	assert_null(psc_config_origin(cfg, 3));
	psc_config_free(&cfg);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = malloc(PSC_CONFIG_FILE_MAX);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, PSC_CONFIG_FILE_MAX, f);
	assert_true(feof(f));
	fclose(f);
	return buf;
}

/* The example files in deploy/config parse as they are, and so does every default shown
 * as "# key = value" once uncommented: an operator who edits them gets no syntax error. */
static void example_files_parse(void **state)
{
	static const char *const files[] = { "agent.conf", "aggregator.conf" };
	const char *data = getenv("PSC_TEST_DATA");

	if (!data)
		skip();
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		struct psc_config *c = NULL;
		char path[4096], err[512];
		size_t len, shown = 0, active;
		char *text;

		snprintf(path, sizeof(path), "%s/../../deploy/config/%s", data, files[f]);
		text = slurp(path, &len);
		if (psc_config_parse(&c, path, text, len, err, sizeof(err)) < 0)
			fail_msg("%s", err);
		active = psc_config_count(c);
		assert_true(active >= 2);
		psc_config_free(&c);
		/* Uncomment "# key = value" lines (a comment is "# " + lower-case word + " =") */
		for (size_t i = 0; i + 2 < len; i++) {
			size_t k = i + 2;

			if ((i > 0 && text[i - 1] != '\n') || text[i] != '#' || text[i + 1] != ' ')
				continue;
			while (k < len && ((text[k] >= 'a' && text[k] <= 'z') || text[k] == '-' ||
					   (text[k] >= '0' && text[k] <= '9')))
				k++;
			if (k == i + 2 || k + 2 > len || memcmp(text + k, " =", 2) != 0)
				continue;
			text[i] = ' ';
			shown++;
		}
		if (psc_config_parse(&c, path, text, len, err, sizeof(err)) < 0)
			fail_msg("uncommented: %s", err);
		assert_true(shown >= 10);
		/* Flags shown as "false" add nothing when uncommented. */
		assert_true(psc_config_count(c) >= active + shown - 3);
		assert_true(psc_config_count(c) <= active + shown);
		psc_config_free(&c);
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(syntax),
		cmocka_unit_test(false_turns_a_flag_off),
		cmocka_unit_test(errors_name_file_and_line),
		cmocka_unit_test(bounds),
		cmocka_unit_test(stat_checks),
		cmocka_unit_test(load_from_disk),
		cmocka_unit_test(find_path),
		cmocka_unit_test(command_line_wins),
		cmocka_unit_test(bad_options_name_their_origin),
		cmocka_unit_test(example_files_parse),
		cmocka_unit_test(from_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
