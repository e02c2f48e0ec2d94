// SPDX-License-Identifier: MIT
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"

struct psc_config_entry {
	char *arg; /* "--key=value" or "--key" */
	unsigned line;
};

struct psc_config {
	char *name;
	struct psc_config_entry *v;
	size_t n, cap;
	char **argv; /* made by psc_config_prepend(), NULL before */
	char *origin; /* "NAME:LINE" scratch for psc_config_origin() */
	size_t origin_size;
};

static __attribute__((format(printf, 3, 4))) int fail(char *err, size_t size, const char *fmt,
						      ...)
{
	va_list ap;

	if (err && size) {
		va_start(ap, fmt);
		vsnprintf(err, size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

void psc_config_free(struct psc_config **cfg)
{
	struct psc_config *c = cfg ? *cfg : NULL;

	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].arg);
	free(c->v);
	free(c->argv);
	free(c->origin);
	free(c->name);
	free(c);
	*cfg = NULL;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

static bool key_char(char ch, bool first)
{
	if (ch >= 'a' && ch <= 'z')
		return true;
	return !first && ((ch >= '0' && ch <= '9') || ch == '-');
}

static int push(struct psc_config *c, char *arg, unsigned line)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct psc_config_entry *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n].arg = arg;
	c->v[c->n].line = line;
	c->n++;
	return 0;
}

/* `key = false`: the flag is off, whatever an earlier line of the file said. */
static void drop_flag(struct psc_config *c, const char *flag)
{
	size_t w = 0;

	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->v[i].arg, flag) == 0) {
			free(c->v[i].arg);
			continue;
		}
		c->v[w++] = c->v[i];
	}
	c->n = w;
}

/* Parses one line (without its newline, NUL-free, @len bytes) into an entry of @c. */
static int parse_line(struct psc_config *c, const char *s, size_t len, unsigned line, char *err,
		      size_t err_size)
{
	const char *end = s + len, *key, *p;
	_cleanup_free_ char *value = NULL, *arg = NULL;
	size_t key_len, n = 0;
	bool quoted = false;
	int r;

	while (s < end && is_blank(*s))
		s++;
	while (end > s && is_blank(end[-1]))
		end--;
	if (s == end || *s == '#')
		return 0;

	key = s;
	if (!key_char(*s, true))
		return fail(err, err_size, "%s:%u: a key is a long option name (a-z, 0-9, '-')",
			    c->name, line);
	while (s < end && key_char(*s, false))
		s++;
	key_len = (size_t)(s - key);
	while (s < end && is_blank(*s))
		s++;
	if (s == end || *s != '=')
		return fail(err, err_size, "%s:%u: expected 'key = value' after '%.*s'", c->name,
			    line, (int)key_len, key);
	s++;
	while (s < end && is_blank(*s))
		s++;
	if (key_len == strlen("config") && memcmp(key, "config", key_len) == 0)
		return fail(err, err_size, "%s:%u: 'config' cannot be set in a config file", c->name,
			    line);

	value = malloc((size_t)(end - s) + 1);
	if (!value)
		return -ENOMEM;
	if (s < end && (*s == '"' || *s == '\'')) {
		char q = *s++;

		quoted = true;
		for (;;) {
			if (s == end)
				return fail(err, err_size, "%s:%u: unterminated %c quote", c->name,
					    line, q);
			if (*s == q) {
				s++;
				break;
			}
			if (q == '"' && *s == '\\') {
				if (s + 1 == end || (s[1] != '"' && s[1] != '\\'))
					return fail(err, err_size,
						    "%s:%u: only \\\" and \\\\ are escapes inside \"...\"",
						    c->name, line);
				s++;
			}
			value[n++] = *s++;
		}
		while (s < end && is_blank(*s))
			s++;
		if (s < end && *s != '#')
			return fail(err, err_size, "%s:%u: unexpected text after the closing quote",
				    c->name, line);
	} else {
		/* A '#' after whitespace starts a comment; one inside a word (a URL
		 * fragment) does not. */
		for (p = s; p < end; p++)
			if (*p == '#' && (p == s || is_blank(p[-1])))
				break;
		while (p > s && is_blank(p[-1]))
			p--;
		n = (size_t)(p - s);
		memcpy(value, s, n);
		if (n == 0)
			return fail(err, err_size,
				    "%s:%u: '%.*s' has no value (write \"\" for an empty one)",
				    c->name, line, (int)key_len, key);
	}
	value[n] = '\0';

	if (!quoted && (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)) {
		if (asprintf(&arg, "--%.*s", (int)key_len, key) < 0) {
			arg = NULL;
			return -ENOMEM;
		}
		drop_flag(c, arg);
		if (value[0] == 'f')
			return 0;
	} else if (asprintf(&arg, "--%.*s=%s", (int)key_len, key, value) < 0) {
		arg = NULL;
		return -ENOMEM;
	}
	if (c->n >= PSC_CONFIG_ARGS_MAX) {
		fail(err, err_size, "%s:%u: more than %d options", c->name, line,
		     PSC_CONFIG_ARGS_MAX);
		return -E2BIG;
	}
	r = push(c, arg, line);
	if (r < 0)
		return r;
	TAKE_PTR(arg);
	return 0;
}

int psc_config_parse(struct psc_config **out, const char *name, const char *text, size_t len,
		     char *err, size_t err_size)
{
	struct psc_config *c;
	const char *s = text, *end = text + len;
	unsigned line = 0;
	int r = 0;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->name = strdup(name);
	c->origin_size = strlen(name) + 16;
	c->origin = malloc(c->origin_size);
	if (!c->name || !c->origin) {
		fail(err, err_size, "%s: out of memory", name);
		r = -ENOMEM;
		goto out;
	}
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);

		line++;
		if (n >= PSC_CONFIG_LINE_MAX) {
			r = fail(err, err_size, "%s:%u: line longer than %d bytes", c->name, line,
				 PSC_CONFIG_LINE_MAX - 1);
			goto out;
		}
		if (memchr(s, '\0', n)) {
			r = fail(err, err_size, "%s:%u: NUL byte (not a text file?)", c->name, line);
			goto out;
		}
		r = parse_line(c, s, n, line, err, err_size);
		if (r == -ENOMEM)
			fail(err, err_size, "%s: out of memory", c->name);
		if (r < 0)
			goto out;
		s += n + (nl ? 1 : 0);
	}
	*out = c;
	return 0;
out:
	psc_config_free(&c);
	return r;
}

int psc_config_check_stat(const char *path, const struct stat *st, uid_t euid, char *err,
			  size_t err_size)
{
	if (!S_ISREG(st->st_mode))
		return fail(err, err_size, "%s: not a regular file", path);
	if (st->st_uid != 0 && st->st_uid != euid) {
		fail(err, err_size,
		     "%s: owned by uid %u, neither root nor this process's user: refusing it "
		     "(chown root %s)",
		     path, (unsigned)st->st_uid, path);
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		fail(err, err_size,
		     "%s: writable by group or others (mode %04o): refusing it (chmod go-w %s)",
		     path, (unsigned)(st->st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

int psc_config_load(struct psc_config **out, const char *path, char *err, size_t err_size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		fail(err, err_size, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		fail(err, err_size, "%s: cannot stat: %s", path, strerror(-r));
		return r;
	}
	r = psc_config_check_stat(path, &st, geteuid(), err, err_size);
	if (r < 0)
		return r;
	/* Read one byte past the bound to tell a full-size file from a larger one. */
	buf = malloc(PSC_CONFIG_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	while (len <= PSC_CONFIG_FILE_MAX) {
		ssize_t k = read(fd, buf + len, PSC_CONFIG_FILE_MAX + 1 - len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			fail(err, err_size, "%s: cannot read: %s", path, strerror(-r));
			return r;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	if (len > PSC_CONFIG_FILE_MAX) {
		fail(err, err_size, "%s: larger than %u bytes", path, PSC_CONFIG_FILE_MAX);
		return -EFBIG;
	}
	return psc_config_parse(out, path, buf, len, err, err_size);
}

size_t psc_config_count(const struct psc_config *cfg)
{
	return cfg->n;
}

const char *psc_config_arg(const struct psc_config *cfg, size_t i)
{
	return i < cfg->n ? cfg->v[i].arg : NULL;
}

unsigned psc_config_line(const struct psc_config *cfg, size_t i)
{
	return i < cfg->n ? cfg->v[i].line : 0;
}

int psc_config_find_path(int argc, char **argv, const char **path, char *err, size_t err_size)
{
	const char *found = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *p;

		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "--config") == 0) {
			if (i + 1 >= argc)
				return fail(err, err_size, "--config needs a FILE");
			p = argv[++i];
		} else if (strncmp(a, "--config=", strlen("--config=")) == 0) {
			p = a + strlen("--config=");
		} else {
			continue;
		}
		if (!p[0])
			return fail(err, err_size, "--config needs a FILE");
		if (found)
			return fail(err, err_size, "--config given twice ('%s' and '%s')", found, p);
		found = p;
	}
	*path = found;
	return 0;
}

int psc_config_prepend(struct psc_config *cfg, int *argc, char ***argv)
{
	size_t old = (size_t)*argc, total = old + cfg->n;
	char **v;

	if (cfg->argv)
		return -EALREADY;
	if (old == 0 || total > (size_t)INT_MAX - 1)
		return -EINVAL;
	v = calloc(total + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[0] = (*argv)[0];
	for (size_t i = 0; i < cfg->n; i++)
		v[1 + i] = cfg->v[i].arg;
	for (size_t i = 1; i < old; i++)
		v[cfg->n + i] = (*argv)[i];
	v[total] = NULL;
	cfg->argv = v;
	*argc = (int)total;
	*argv = v;
	return 0;
}

int psc_config_from_args(struct psc_config **cfg, int *argc, char ***argv, char *err,
			 size_t err_size)
{
	struct psc_config *c = NULL;
	const char *path = NULL;
	int r;

	r = psc_config_find_path(*argc, *argv, &path, err, err_size);
	if (r < 0 || !path) {
		if (r == 0)
			*cfg = NULL;
		return r;
	}
	r = psc_config_load(&c, path, err, err_size);
	if (r < 0)
		return r;
	r = psc_config_prepend(c, argc, argv);
	if (r < 0) {
		fail(err, err_size, "%s: %s", path, strerror(-r));
		psc_config_free(&c);
		return r;
	}
	*cfg = c;
	return 0;
}

const char *psc_config_origin(struct psc_config *cfg, int argi)
{
	if (!cfg || !cfg->argv || argi < 1 || (size_t)argi > cfg->n)
		return NULL;
	snprintf(cfg->origin, cfg->origin_size, "%s:%u", cfg->name, cfg->v[argi - 1].line);
	return cfg->origin;
}
