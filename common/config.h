/* SPDX-License-Identifier: MIT */
/* Config files as command-line options.
 *
 * A config file is lines of `key = value`:
 *   - blank lines and lines whose first non-blank character is '#' are ignored;
 *   - a key is a long option name without "--" ([a-z0-9-], starting with a letter);
 *   - a value is the rest of the line, trimmed; an unquoted value ends at a '#' preceded by
 *     whitespace (a trailing comment); "double quotes" allow \" and \\ inside and keep
 *     spaces and '#'; 'single quotes' are literal; an empty value must be quoted ("");
 *   - an unquoted `true` makes the key a flag (`--key`); an unquoted `false` cancels an
 *     earlier `true` of the same key in the file and adds nothing (flags are off unless
 *     given). A quoted "true" is an ordinary value;
 *   - a key may repeat: each line is one option, in file order (repeatable options such as
 *     the agent's `manage` accumulate; for others getopt's last-one-wins applies);
 *   - `config` itself is refused (config files do not nest).
 * Each line becomes exactly one argument, `--key=value` (or `--key` for a flag): the `=`
 * form keeps values that start with '-' intact, lets getopt_long refuse a value given to a
 * flag, and makes argument i map back to one line of the file.
 *
 * The module does not know the program's options: getopt_long decides what is an unknown
 * key or a bad value, and psc_config_origin() says which file and line it came from.
 *
 * How a main() uses it (the contract; the arguments from the file go in front of the
 * command line's, so options given on the command line win):
 *
 *	struct psc_config *cfg = NULL;   // lives until exit: optarg points into it
 *	char err[512];
 *
 *	if (psc_config_from_args(&cfg, &argc, &argv, err, sizeof(err)) < 0) {
 *		fprintf(stderr, "prog: %s\n", err);
 *		return 2;
 *	}
 *	// longopts gets { "config", required_argument, NULL, OPT_CONFIG }; its case does
 *	// nothing (the file was read above).
 *	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
 *		...
 *		default:   // '?' : unknown option, missing or unexpected value
 *			where = psc_config_origin(cfg, optind - 1);
 *			if (where)
 *				fprintf(stderr, "prog: (in %s)\n", where);
 *			return 2;
 *		}
 *	}
 *
 * A value that main() rejects itself (e.g. "--window: 'x' is not a number") can name its
 * line the same way: psc_config_origin(cfg, optind - 1) right after getopt_long returned
 * that option, because every argument from the file is a single `--key=value` element.
 * Subcommands that are not options (the aggregator's `keygen DIR`) are dispatched before
 * any of this. getopt_long accepts unambiguous abbreviations of long options; the example
 * files spell every key in full. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define PSC_CONFIG_LINE_MAX 4096 /* bytes per line, newline included */
#define PSC_CONFIG_ARGS_MAX 1024 /* options per file */
#define PSC_CONFIG_FILE_MAX (1u << 20) /* bytes per file */

struct psc_config;

/* Parses @len bytes of @text (need not be NUL-terminated) as a config file called @name in
 * messages. On success *out is a new config the caller frees with psc_config_free(); on
 * failure *out is untouched and @err (if not NULL) holds "NAME:LINE: what is wrong".
 * Errors: -EINVAL (bad syntax, a NUL byte, a line longer than PSC_CONFIG_LINE_MAX, a
 * `config` key), -E2BIG (more than PSC_CONFIG_ARGS_MAX options), -ENOMEM. */
int psc_config_parse(struct psc_config **out, const char *name, const char *text, size_t len,
		     char *err, size_t err_size);

/* Decides whether a file with status @st may be trusted by a process whose effective uid is
 * @euid: a regular file, owned by root or @euid, not writable by group or others (the agent
 * runs as root and obeys the file). Returns 0 or -EPERM (with a message naming @path and
 * the fix in @err), -EINVAL when not a regular file. */
int psc_config_check_stat(const char *path, const struct stat *st, uid_t euid, char *err,
			  size_t err_size);

/* Opens @path, checks it with psc_config_check_stat() on the open descriptor and parses it
 * (at most PSC_CONFIG_FILE_MAX bytes). Errors as psc_config_parse() and
 * psc_config_check_stat(), or the negative errno of open/read (-ENOENT, -EACCES, ...),
 * -EFBIG for a larger file; @err always says which file. */
int psc_config_load(struct psc_config **out, const char *path, char *err, size_t err_size);

/* Frees @cfg (NULL is fine) and everything it owns, including an argv made by
 * psc_config_prepend(), and sets *cfg to NULL. */
void psc_config_free(struct psc_config **cfg);

/* The options read, in file order: psc_config_arg(cfg, i) is "--key=value" or "--key" for
 * i < psc_config_count(cfg); psc_config_line(cfg, i) is its line number (1-based).
 * Strings are owned by @cfg. */
size_t psc_config_count(const struct psc_config *cfg);
const char *psc_config_arg(const struct psc_config *cfg, size_t i);
unsigned psc_config_line(const struct psc_config *cfg, size_t i);

/* Finds the config file named on a command line: `--config FILE` or `--config=FILE`
 * among argv[1..argc-1], before any "--". *path is NULL when there is none, else it points
 * into argv. Returns 0, or -EINVAL (message in @err) when --config has no value or is
 * given twice. */
int psc_config_find_path(int argc, char **argv, const char **path, char *err, size_t err_size);

/* Replaces *argc and *argv by a new argument vector: (*argv)[0], then the options of @cfg,
 * then (*argv)[1..*argc-1], NULL-terminated. The new vector is owned by @cfg (the strings
 * of the old one are not copied: they must outlive it, as the real argv does). May be
 * called once per config. Returns 0, -EALREADY on a second call, or -ENOMEM (argc/argv
 * untouched). */
int psc_config_prepend(struct psc_config *cfg, int *argc, char ***argv);

/* The three steps above in one: psc_config_find_path(), then, when --config is given,
 * psc_config_load() and psc_config_prepend(). *cfg is NULL when there is no --config, else
 * a config the caller keeps until exit and frees with psc_config_free(). Errors as those
 * functions, with the message in @err; *cfg, *argc and *argv are then untouched. */
int psc_config_from_args(struct psc_config **cfg, int *argc, char ***argv, char *err,
			 size_t err_size);

/* "FILE:LINE" when argument @argi of the vector made by psc_config_prepend() came from the
 * config file, NULL when it came from the command line (or @cfg is NULL, or prepend was not
 * called). The string is owned by @cfg and valid until the next call. */
const char *psc_config_origin(struct psc_config *cfg, int argi);
