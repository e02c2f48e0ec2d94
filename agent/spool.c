// SPDX-License-Identifier: MIT
/* The agent's on-disk spool of report frames; the layout and the crash-safety argument are
 * in spool.h. */
#include "spool.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cleanup.h"
#include "log.h"

#define FRAME_MAGIC 0x46435350u /* "PSCF" read as a little-endian u32 */
#define FRAME_SUFFIX ".frame"
#define TMP_SUFFIX ".tmp"
#define SEQ_DIGITS 20 /* UINT64_MAX has 20 digits */
#define NAME_MAX_LEN 32 /* "<20 digits>.frame.tmp" and NUL */
#define STATE_NAME "state"
#define STATE_TMP "state.tmp"
#define STATE_HEADER "prescient-spool-state 1\n"

_Static_assert(PSC_SPOOL_FRAME_OVERHEAD == 24, "frame header is 4 + 4 + 8 + 8 bytes");

struct spool_entry {
	uint64_t seq;
	uint64_t size; /* file size: header and payload */
};

struct psc_spool {
	int dirfd; /* holds the flock that makes the directory ours */
	char *dir; /* for messages */
	uint64_t max_bytes;
	uint64_t bytes;
	uint64_t next_seq;
	uint64_t persisted_next; /* what the state file holds (0: nothing) */
	/* Index ordered by seq: a ring, oldest at head. */
	struct spool_entry *ring;
	size_t cap, head, count;
	struct psc_spool_counters c;
};

static void frame_name(char name[NAME_MAX_LEN], uint64_t seq, bool tmp)
{
	snprintf(name, NAME_MAX_LEN, "%020" PRIu64 FRAME_SUFFIX "%s", seq, tmp ? TMP_SUFFIX : "");
}

/* Parses "<20 digits>.frame" (*tmp = false) or "<20 digits>.frame.tmp" (*tmp = true). */
static bool parse_frame_name(const char *name, uint64_t *seq, bool *tmp)
{
	uint64_t v = 0;

	for (int i = 0; i < SEQ_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		unsigned d = name[i] - '0';
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	name += SEQ_DIGITS;
	if (strncmp(name, FRAME_SUFFIX, strlen(FRAME_SUFFIX)) != 0)
		return false;
	name += strlen(FRAME_SUFFIX);
	if (*name == '\0')
		*tmp = false;
	else if (strcmp(name, TMP_SUFFIX) == 0)
		*tmp = true;
	else
		return false;
	*seq = v;
	return true;
}

static void header_encode(uint8_t h[PSC_SPOOL_FRAME_OVERHEAD], uint64_t seq, const void *p,
			  size_t len)
{
	uint32_t magic = htole32(FRAME_MAGIC);
	uint32_t crc = htole32((uint32_t)crc32_z(0, p, len));
	uint64_t s = htole64(seq), l = htole64(len);

	memcpy(h, &magic, 4);
	memcpy(h + 4, &crc, 4);
	memcpy(h + 8, &s, 8);
	memcpy(h + 16, &l, 8);
}

/* Checks magic, seq and length against what the name and the file size say. */
static int header_decode(const uint8_t h[PSC_SPOOL_FRAME_OVERHEAD], uint64_t seq,
			 uint64_t file_size, uint32_t *crc)
{
	uint32_t magic, c;
	uint64_t s, l;

	memcpy(&magic, h, 4);
	memcpy(&c, h + 4, 4);
	memcpy(&s, h + 8, 8);
	memcpy(&l, h + 16, 8);
	if (le32toh(magic) != FRAME_MAGIC || le64toh(s) != seq ||
	    le64toh(l) != file_size - PSC_SPOOL_FRAME_OVERHEAD)
		return -EBADMSG;
	*crc = le32toh(c);
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

/* Reads exactly @len bytes at @off; a file that ends early is damaged: -EBADMSG. */
static int pread_all(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EBADMSG;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* Writes @a then @b to @tmp, fsyncs it, renames it over @name and fsyncs the directory.
 * On failure nothing named @tmp is left; *@renamed says whether @name was replaced (only a
 * failed directory fsync returns an error after that). */
static int write_atomic(int dirfd, const char *name, const char *tmp, const void *a, size_t alen,
			const void *b, size_t blen, bool *renamed)
{
	int fd, r = 0;

	*renamed = false;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, a, alen);
	if (!r && blen)
		r = write_all(fd, b, blen);
	if (!r && fsync(fd) < 0)
		r = -errno;
	/* On Linux the descriptor is gone whatever close() returns; an error still means the
	 * data may not be where we think (NFS reports write-back errors here). */
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	*renamed = true;
	if (fsync(dirfd) < 0)
		return -errno;
	return 0;
}

static int write_state(struct psc_spool *s, uint64_t next)
{
	char buf[96];
	bool renamed;
	int n, r;

	n = snprintf(buf, sizeof(buf), STATE_HEADER "next_seq %" PRIu64 "\n", next);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EOVERFLOW;
	r = write_atomic(s->dirfd, STATE_NAME, STATE_TMP, buf, n, NULL, 0, &renamed);
	/* A renamed but unsynced state still holds a mark at least as high as the old one, so
	 * remembering nothing new is the safe side either way. */
	if (r < 0)
		return r;
	s->persisted_next = next;
	return 0;
}

/* The state file's next_seq, 0 when it is missing or unreadable: the frames still carry
 * the mark, and a damaged state file is rewritten at open. */
static uint64_t read_state(int dirfd)
{
	char buf[96] = { 0 };
	uint64_t v;
	ssize_t n;
	char *end;

	_cleanup_close_ int fd = openat(dirfd, STATE_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	if (strncmp(buf, STATE_HEADER "next_seq ", strlen(STATE_HEADER "next_seq ")) != 0)
		return 0;
	const char *p = buf + strlen(STATE_HEADER "next_seq ");
	if (*p < '0' || *p > '9')
		return 0;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || strcmp(end, "\n") != 0)
		return 0;
	return v;
}

static struct spool_entry *entry_at(const struct psc_spool *s, size_t i)
{
	return &s->ring[(s->head + i) % s->cap];
}

static struct spool_entry *tail(const struct psc_spool *s)
{
	return s->count ? entry_at(s, s->count - 1) : NULL;
}

/* Makes room for one more entry, so that a push cannot fail after a frame is on disk. */
static int ring_reserve(struct psc_spool *s)
{
	struct spool_entry *n;
	size_t cap;

	if (s->count < s->cap)
		return 0;
	cap = s->cap ? s->cap * 2 : 64;
	n = calloc(cap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < s->count; i++)
		n[i] = *entry_at(s, i);
	free(s->ring);
	s->ring = n;
	s->cap = cap;
	s->head = 0;
	return 0;
}

static void ring_push(struct psc_spool *s, uint64_t seq, uint64_t size)
{
	s->ring[(s->head + s->count) % s->cap] = (struct spool_entry){ .seq = seq, .size = size };
	s->count++;
	s->bytes += size;
}

/* The mark the disk holds: the state file's, or one past the newest frame. */
static uint64_t disk_mark(const struct psc_spool *s)
{
	uint64_t m = s->persisted_next;

	if (s->count && tail(s)->seq + 1 > m)
		m = tail(s)->seq + 1;
	return m;
}

static int sync_mark(struct psc_spool *s)
{
	if (disk_mark(s) >= s->next_seq)
		return 0;
	return write_state(s, s->next_seq);
}

/* Deletes the oldest frame. The newest frame carries the high-water mark, so before it goes
 * the state file must hold the mark; if that write fails the frame stays. */
static int remove_head(struct psc_spool *s)
{
	struct spool_entry *e = entry_at(s, 0);
	char name[NAME_MAX_LEN];

	if (s->count == 1 && s->persisted_next < s->next_seq) {
		int r = write_state(s, s->next_seq);
		if (r < 0)
			return r;
	}
	frame_name(name, e->seq, false);
	/* Not synced: a deleted frame that comes back after a crash is sent again, which the
	 * aggregator de-duplicates. One that cannot be deleted at all is found at next open. */
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
		psc_debug("spool %s: cannot delete %s: %s", s->dir, name, strerror(errno));
	s->bytes -= e->size;
	s->head = (s->head + 1) % s->cap;
	s->count--;
	return 0;
}

/* Drops the oldest frame to stay within max_bytes. */
static int evict_head(struct psc_spool *s)
{
	uint64_t size = entry_at(s, 0)->size;
	int r = remove_head(s);

	if (r < 0)
		return r;
	s->c.dropped_frames++;
	s->c.dropped_bytes += size;
	return 0;
}

static int mkdir_p(const char *path)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -errno;
		*c = '/';
	}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Is @name a complete frame numbered @seq? Returns 0 and its size, -EBADMSG when damaged
 * (or not a regular file), another negative errno when it cannot be checked. */
static int check_frame_file(int dirfd, const char *name, uint64_t seq, uint64_t *size)
{
	uint8_t h[PSC_SPOOL_FRAME_OVERHEAD];
	struct stat st;
	uint32_t crc;
	int r;

	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ELOOP ? -EBADMSG : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < PSC_SPOOL_FRAME_OVERHEAD)
		return -EBADMSG;
	r = pread_all(fd, h, sizeof(h), 0);
	if (r < 0)
		return r;
	r = header_decode(h, seq, st.st_size, &crc);
	if (r < 0)
		return r;
	*size = st.st_size;
	return 0;
}

struct junk {
	char name[NAME_MAX_LEN];
};

struct scan {
	struct spool_entry *frames;
	size_t n_frames, cap_frames;
	struct junk *junk;
	size_t n_junk, cap_junk;
	uint64_t max_seq; /* highest number named by any frame file, temp or damaged included */
	uint64_t partial; /* junk files that were frames */
};

static void scan_free(struct scan *sc)
{
	free(sc->frames);
	free(sc->junk);
}

static int grow(void **p, size_t *cap, size_t n, size_t elem)
{
	void *np;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 64;
	np = reallocarray(*p, c, elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = c;
	return 0;
}

static int scan_add_junk(struct scan *sc, const char *name, bool frame)
{
	int r = grow((void **)&sc->junk, &sc->cap_junk, sc->n_junk, sizeof(*sc->junk));

	if (r < 0)
		return r;
	snprintf(sc->junk[sc->n_junk++].name, NAME_MAX_LEN, "%s", name);
	if (frame)
		sc->partial++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct spool_entry *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int scan_dir(int dirfd, struct scan *sc)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd, r;

	/* fdopendir() owns its descriptor; the spool keeps dirfd. */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	for (;;) {
		uint64_t seq, size = 0;
		bool tmp;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				return -errno;
			break;
		}
		if (strcmp(de->d_name, STATE_TMP) == 0) {
			r = scan_add_junk(sc, de->d_name, false);
			if (r < 0)
				return r;
			continue;
		}
		if (!parse_frame_name(de->d_name, &seq, &tmp))
			continue; /* not ours, including "state" */
		if (seq > sc->max_seq)
			sc->max_seq = seq;
		r = tmp || seq == 0 ? -EBADMSG : check_frame_file(dirfd, de->d_name, seq, &size);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			if (r != -EBADMSG)
				psc_debug("spool: cannot read %s, discarding it: %s", de->d_name,
					  strerror(-r));
			r = scan_add_junk(sc, de->d_name, true);
			if (r < 0)
				return r;
			continue;
		}
		r = grow((void **)&sc->frames, &sc->cap_frames, sc->n_frames, sizeof(*sc->frames));
		if (r < 0)
			return r;
		sc->frames[sc->n_frames++] = (struct spool_entry){ .seq = seq, .size = size };
	}
	if (sc->n_frames)
		qsort(sc->frames, sc->n_frames, sizeof(*sc->frames), cmp_entry);
	return 0;
}

static void spool_free(struct psc_spool *s)
{
	if (!s)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->ring);
	free(s->dir);
	free(s);
}

int psc_spool_open(struct psc_spool **out, const char *dir, uint64_t max_bytes)
{
	struct scan sc = { 0 };
	struct psc_spool *s;
	uint64_t state_next;
	int r;

	if (!out || !dir || !*dir || !max_bytes)
		return -EINVAL;
	r = mkdir_p(dir);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->max_bytes = max_bytes;
	s->dir = strdup(dir);
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!s->dir) {
		r = -ENOMEM;
		goto fail;
	}
	if (s->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	if (flock(s->dirfd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	/* Fail here, with the reason, rather than at the first append. Root passes EACCES
	 * checks; a read-only file system still shows as EROFS. */
	if (faccessat(s->dirfd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		r = -errno;
		goto fail;
	}

	r = scan_dir(s->dirfd, &sc);
	if (r < 0)
		goto fail;
	state_next = read_state(s->dirfd);
	s->next_seq = PSC_MAX(state_next, 1);
	if (sc.max_seq != UINT64_MAX && sc.max_seq + 1 > s->next_seq)
		s->next_seq = sc.max_seq + 1;
	s->persisted_next = state_next;
	/* The mark goes to the state file before any file that carries it is deleted; this
	 * also rewrites a lost or damaged state file. */
	if (s->persisted_next != s->next_seq) {
		r = write_state(s, s->next_seq);
		if (r < 0)
			goto fail;
	}
	for (size_t i = 0; i < sc.n_junk; i++) {
		if (unlinkat(s->dirfd, sc.junk[i].name, 0) < 0 && errno != ENOENT) {
			r = -errno;
			goto fail;
		}
	}
	s->c.recovered_partial = sc.partial;

	s->ring = TAKE_PTR(sc.frames);
	s->cap = sc.cap_frames;
	s->head = 0;
	for (size_t i = 0; i < sc.n_frames; i++) {
		s->count++;
		s->bytes += s->ring[i].size;
	}
	/* A lowered bound: the oldest go, as they would have on append. */
	while (s->bytes > s->max_bytes) {
		r = evict_head(s);
		if (r < 0)
			goto fail;
	}
	if (sc.partial || s->c.dropped_frames)
		psc_debug("spool %s: %" PRIu64 " partial frames discarded, %" PRIu64
			  " dropped over the bound",
			  dir, sc.partial, s->c.dropped_frames);
	scan_free(&sc);
	*out = s;
	return 0;
fail:
	scan_free(&sc);
	spool_free(s);
	return r;
}

void psc_spool_close(struct psc_spool **sp)
{
	struct psc_spool *s;
	int r;

	if (!sp || !*sp)
		return;
	s = *sp;
	r = sync_mark(s);
	if (r < 0)
		psc_debug("spool %s: cannot save next_seq %" PRIu64 ": %s", s->dir, s->next_seq,
			  strerror(-r));
	spool_free(s);
	*sp = NULL;
}

uint64_t psc_spool_next_seq(const struct psc_spool *s)
{
	return s->next_seq;
}

int psc_spool_take_seq(struct psc_spool *s, uint64_t *seq)
{
	int r;

	if (!s || !seq)
		return -EINVAL;
	if (s->next_seq == UINT64_MAX)
		return -EOVERFLOW;
	r = write_state(s, s->next_seq + 1);
	if (r < 0)
		return r;
	*seq = s->next_seq++;
	return 0;
}

int psc_spool_append(struct psc_spool *s, uint64_t seq, const void *frame, size_t len)
{
	uint8_t h[PSC_SPOOL_FRAME_OVERHEAD];
	char name[NAME_MAX_LEN], tmp[NAME_MAX_LEN];
	uint64_t stored;
	bool renamed;
	int r;

	if (!s || (!frame && len) || seq == 0 || seq == UINT64_MAX)
		return -EINVAL;
	if (s->count && seq <= tail(s)->seq)
		return -ERANGE;
	r = ring_reserve(s);
	if (r < 0)
		return r;
	/* The number is spent whether or not the frame lands: it may have been sent. */
	if (seq >= s->next_seq)
		s->next_seq = seq + 1;

	if (s->max_bytes < PSC_SPOOL_FRAME_OVERHEAD ||
	    len > s->max_bytes - PSC_SPOOL_FRAME_OVERHEAD) {
		s->c.dropped_oversize++;
		(void)sync_mark(s);
		return -EFBIG;
	}
	stored = len + PSC_SPOOL_FRAME_OVERHEAD;

	/* Make room, sparing the newest frame: it carries the mark until the new one is
	 * durable. */
	while (s->count > 1 && s->bytes + stored > s->max_bytes) {
		r = evict_head(s);
		if (r < 0)
			return r; /* unreachable: only the last frame needs the state file */
	}

	frame_name(name, seq, false);
	frame_name(tmp, seq, true);
	header_encode(h, seq, frame, len);
	r = write_atomic(s->dirfd, name, tmp, h, sizeof(h), frame, len, &renamed);
	if (r < 0) {
		if (renamed)
			unlinkat(s->dirfd, name, 0);
		s->c.dropped_io++;
		(void)sync_mark(s);
		return r;
	}
	ring_push(s, seq, stored);
	s->c.appended++;

	/* At most the previous newest frame is left to go; the new one fits by itself. */
	while (s->bytes > s->max_bytes) {
		r = evict_head(s);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Reads the oldest frame. -EBADMSG: damaged or gone; -ENOMEM; other: a read error. */
static int read_head(struct psc_spool *s, void **frame, size_t *len)
{
	const struct spool_entry *e = entry_at(s, 0);
	uint8_t h[PSC_SPOOL_FRAME_OVERHEAD];
	char name[NAME_MAX_LEN];
	struct stat st;
	uint32_t crc;
	size_t n;
	int r;

	frame_name(name, e->seq, false);
	_cleanup_close_ int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? -EBADMSG : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size)
		return -EBADMSG;
	r = pread_all(fd, h, sizeof(h), 0);
	if (r < 0)
		return r;
	r = header_decode(h, e->seq, e->size, &crc);
	if (r < 0)
		return r;
	n = e->size - PSC_SPOOL_FRAME_OVERHEAD;
	_cleanup_free_ void *buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	r = pread_all(fd, buf, n, PSC_SPOOL_FRAME_OVERHEAD);
	if (r < 0)
		return r;
	if ((uint32_t)crc32_z(0, buf, n) != crc)
		return -EBADMSG;
	*frame = TAKE_PTR(buf);
	*len = n;
	return 0;
}

int psc_spool_peek(struct psc_spool *s, uint64_t *seq, void **frame, size_t *len)
{
	int r;

	if (!s || !seq || !frame || !len)
		return -EINVAL;
	while (s->count) {
		uint64_t head_seq = entry_at(s, 0)->seq;

		r = read_head(s, frame, len);
		if (r == 0) {
			*seq = head_seq;
			return 0;
		}
		if (r == -ENOMEM)
			return r;
		psc_debug("spool %s: dropping unreadable frame %" PRIu64 ": %s", s->dir, head_seq,
			  strerror(-r));
		bool corrupt = r == -EBADMSG;
		r = remove_head(s);
		if (r < 0)
			return r;
		if (corrupt)
			s->c.dropped_corrupt++;
		else
			s->c.dropped_io++;
	}
	return -ENOENT;
}

int psc_spool_ack(struct psc_spool *s, uint64_t seq)
{
	int r;

	if (!s)
		return -EINVAL;
	while (s->count && entry_at(s, 0)->seq <= seq) {
		r = remove_head(s);
		if (r < 0)
			return r;
		s->c.acked++;
	}
	return 0;
}

size_t psc_spool_frames(const struct psc_spool *s)
{
	return s->count;
}

uint64_t psc_spool_bytes(const struct psc_spool *s)
{
	return s->bytes;
}

uint64_t psc_spool_max_bytes(const struct psc_spool *s)
{
	return s->max_bytes;
}

const struct psc_spool_counters *psc_spool_counters(const struct psc_spool *s)
{
	return &s->c;
}
