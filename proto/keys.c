// SPDX-License-Identifier: MIT
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

#define KEY_LINE_MAX 256

static int fail(int r, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(int r, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

void psc_keys_wipe(struct psc_keys *k)
{
	sodium_memzero(k, sizeof(*k));
}

static int key_path(char *buf, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Writes one base64 line, created exclusively with exactly @mode whatever the umask. */
static int write_key(const char *path, const uint8_t *key, size_t len, mode_t mode)
{
	char line[KEY_LINE_MAX];
	_cleanup_close_ int fd = -1;
	size_t n;

	sodium_bin2base64(line, sizeof(line), key, len, sodium_base64_VARIANT_ORIGINAL);
	n = strlen(line);
	line[n++] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0 || write(fd, line, n) != (ssize_t)n || fsync(fd) < 0) {
		int r = errno ? -errno : -EIO;
		sodium_memzero(line, sizeof(line));
		unlink(path);
		return r;
	}
	sodium_memzero(line, sizeof(line));
	return 0;
}

int psc_keys_generate(const char *dir, char *err, size_t errlen)
{
	static const char *const names[] = { PSC_KEYS_FLEET_FILE, PSC_KEYS_SIGNING_FILE,
					     PSC_KEYS_PUBLIC_FILE };
	char paths[3][4096];
	struct psc_keys k;
	struct stat st;
	int r;

	if (sodium_init() < 0)
		return fail(-EIO, err, errlen, "libsodium cannot initialise (no entropy source?)");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(-errno, err, errlen, "cannot create key directory %s: %s", dir,
			    strerror(errno));
	for (size_t i = 0; i < PSC_ARRAY_SIZE(names); i++) {
		if (key_path(paths[i], sizeof(paths[i]), dir, names[i]) < 0)
			return fail(-ENAMETOOLONG, err, errlen, "key directory path too long: %s",
				    dir);
		if (lstat(paths[i], &st) == 0)
			return fail(-EEXIST, err, errlen,
				    "%s already exists: refusing to overwrite keys (move the old "
				    "ones away first)",
				    paths[i]);
		if (errno != ENOENT)
			return fail(-errno, err, errlen, "cannot check %s: %s", paths[i],
				    strerror(errno));
	}

	randombytes_buf(k.fleet, sizeof(k.fleet));
	crypto_sign_keypair(k.sign_pk, k.sign_sk);
	r = write_key(paths[0], k.fleet, sizeof(k.fleet), 0600);
	if (r < 0) {
		psc_keys_wipe(&k);
		return fail(r, err, errlen, "cannot write %s: %s", paths[0], strerror(-r));
	}
	r = write_key(paths[1], k.sign_sk, sizeof(k.sign_sk), 0600);
	if (r < 0) {
		psc_keys_wipe(&k);
		unlink(paths[0]);
		return fail(r, err, errlen, "cannot write %s: %s", paths[1], strerror(-r));
	}
	r = write_key(paths[2], k.sign_pk, sizeof(k.sign_pk), 0644);
	psc_keys_wipe(&k);
	if (r < 0) {
		unlink(paths[0]);
		unlink(paths[1]);
		return fail(r, err, errlen, "cannot write %s: %s", paths[2], strerror(-r));
	}
	return 0;
}

static int read_key(const char *dir, const char *name, bool secret, uint8_t *key, size_t len,
		    char *err, size_t errlen)
{
	char path[4096], line[KEY_LINE_MAX + 1];
	_cleanup_close_ int fd = -1;
	size_t bin_len = 0;
	struct stat st;
	ssize_t n;
	int r = 0;

	if (key_path(path, sizeof(path), dir, name) < 0)
		return fail(-ENAMETOOLONG, err, errlen, "key directory path too long: %s", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return fail(-errno, err, errlen, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return fail(-errno, err, errlen, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(-EPERM, err, errlen, "%s is not a regular file", path);
	if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)))
		return fail(-EPERM, err, errlen,
			    "%s is a secret key but group or others may access it (mode %04o): "
			    "refusing it; run 'chmod 600 %s'",
			    path, (unsigned)(st.st_mode & 07777), path);
	n = read(fd, line, sizeof(line) - 1);
	if (n < 0)
		return fail(-errno, err, errlen, "cannot read %s: %s", path, strerror(errno));
	line[n] = '\0';
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
		line[--n] = '\0';
	if (sodium_base642bin(key, len, line, (size_t)n, NULL, &bin_len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin_len != len)
		r = fail(-EBADMSG, err, errlen, "%s does not hold a %zu-byte base64 key", path,
			 len);
	sodium_memzero(line, sizeof(line));
	return r;
}

int psc_keys_load(struct psc_keys *k, const char *dir, unsigned flags, char *err, size_t errlen)
{
	uint8_t pk[PSC_SIGN_PK_BYTES];
	int r;

	memset(k, 0, sizeof(*k));
	if (sodium_init() < 0)
		return fail(-EIO, err, errlen, "libsodium cannot initialise (no entropy source?)");
	r = read_key(dir, PSC_KEYS_FLEET_FILE, true, k->fleet, sizeof(k->fleet), err, errlen);
	if (r == 0)
		r = read_key(dir, PSC_KEYS_PUBLIC_FILE, false, k->sign_pk, sizeof(k->sign_pk), err,
			     errlen);
	if (r == 0 && (flags & PSC_KEYS_NEED_SIGNING)) {
		r = read_key(dir, PSC_KEYS_SIGNING_FILE, true, k->sign_sk, sizeof(k->sign_sk), err,
			     errlen);
		if (r == 0) {
			crypto_sign_ed25519_sk_to_pk(pk, k->sign_sk);
			if (memcmp(pk, k->sign_pk, sizeof(pk)) != 0)
				r = fail(-EBADMSG, err, errlen,
					 "%s/%s does not match %s/%s: keys from different keygen "
					 "runs?",
					 dir, PSC_KEYS_SIGNING_FILE, dir, PSC_KEYS_PUBLIC_FILE);
			k->has_sign_sk = true;
		}
	}
	if (r < 0)
		psc_keys_wipe(k);
	return r;
}
