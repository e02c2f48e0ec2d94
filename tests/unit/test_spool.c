// SPDX-License-Identifier: MIT
/* The agent's frame spool (agent/spool.c) on a real directory: each test gets a fresh
 * mkdtemp directory, removed afterwards.
 *
 * I/O failures: running as root, a 0500 directory does not stop writes, so EACCES is
 * tested in a child that drops to uid/gid 65534 (or directly when not root). EROFS and
 * ENOSPC use small tmpfs mounts (read-only, and 64 KiB) made inside the test directory;
 * those cases are skipped when mount(2) is not permitted. EIO itself is not simulated: it
 * takes the same path as ENOSPC (a failed write, fsync or rename). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spool.h"

#define OVH PSC_SPOOL_FRAME_OVERHEAD

struct ctx {
	char root[64];	/* the mkdtemp directory */
	char dir[128];	/* the spool directory inside it */
	char mnt[128];	/* a tmpfs mounted by the test, "" when none */
	struct psc_spool *s;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	snprintf(c->root, sizeof(c->root), "/tmp/psc-spool-XXXXXX");
	assert_non_null(mkdtemp(c->root));
	snprintf(c->dir, sizeof(c->dir), "%s/spool", c->root);
	*state = c;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	psc_spool_close(&c->s);
	if (c->mnt[0])
		umount2(c->mnt, MNT_DETACH);
	nftw(c->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

/* Mounts a tmpfs at root/name and points the spool into it; false when not permitted. */
static bool mount_tmpfs(struct ctx *c, const char *name, unsigned long flags, const char *opts)
{
	snprintf(c->mnt, sizeof(c->mnt), "%s/%s", c->root, name);
	assert_int_equal(mkdir(c->mnt, 0700), 0);
	if (mount("tmpfs", c->mnt, "tmpfs", flags, opts) < 0) {
		fprintf(stderr, "# cannot mount tmpfs (%s): skipped\n", strerror(errno));
		c->mnt[0] = '\0';
		return false;
	}
	return true;
}

static size_t count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name), sl = suffix ? strlen(suffix) : 0;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (suffix && (l < sl || strcmp(de->d_name + l - sl, suffix) != 0))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

static void put_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static bool file_exists(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Appends "frame-<seq>" under the next sequence number and returns that number. */
static uint64_t append_next(struct psc_spool *s)
{
	uint64_t seq = psc_spool_next_seq(s);
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "frame-%" PRIu64, seq);

	assert_int_equal(psc_spool_append(s, seq, buf, n), 0);
	return seq;
}

static void expect_head(struct psc_spool *s, uint64_t want)
{
	char text[32];
	uint64_t seq = 0;
	void *f = NULL;
	size_t len = 0;

	assert_int_equal(psc_spool_peek(s, &seq, &f, &len), 0);
	assert_int_equal(seq, want);
	snprintf(text, sizeof(text), "frame-%" PRIu64, want);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(f, text, len);
	free(f);
}

static void expect_empty(struct psc_spool *s)
{
	uint64_t seq = 77;
	void *f = (void *)&seq;
	size_t len = 5;

	assert_int_equal(psc_spool_peek(s, &seq, &f, &len), -ENOENT);
	assert_int_equal(seq, 77); /* untouched */
	assert_ptr_equal(f, &seq);
	assert_int_equal(psc_spool_frames(s), 0);
	assert_int_equal(psc_spool_bytes(s), 0);
}

static void test_append_peek_ack_order(void **state)
{
	struct ctx *c = *state;
	struct stat st;

	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	assert_int_equal(stat(c->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(psc_spool_next_seq(c->s), 1);
	expect_empty(c->s);
	for (uint64_t i = 1; i <= 5; i++)
		assert_int_equal(append_next(c->s), i);
	assert_int_equal(psc_spool_next_seq(c->s), 6);
	assert_int_equal(psc_spool_frames(c->s), 5);
	assert_int_equal(psc_spool_bytes(c->s), 5 * (7 + OVH));
	assert_true(file_exists(c->dir, "00000000000000000003.frame"));

	expect_head(c->s, 1);
	expect_head(c->s, 1); /* peek does not consume */
	assert_int_equal(psc_spool_ack(c->s, 1), 0);
	expect_head(c->s, 2);
	assert_int_equal(psc_spool_ack(c->s, 3), 0); /* acks 2 and 3 */
	expect_head(c->s, 4);
	assert_int_equal(psc_spool_frames(c->s), 2);
	assert_false(file_exists(c->dir, "00000000000000000003.frame"));
	assert_int_equal(count_files(c->dir, ".frame"), 2);

	const struct psc_spool_counters *k = psc_spool_counters(c->s);
	assert_int_equal(k->appended, 5);
	assert_int_equal(k->acked, 3);
	assert_int_equal(k->dropped_frames + k->dropped_io + k->dropped_oversize, 0);
	assert_int_equal(psc_spool_ack(c->s, 5), 0);
	expect_empty(c->s);
}

static void test_append_arguments(void **state)
{
	struct ctx *c = *state;
	uint64_t seq;
	void *f;
	size_t len;

	assert_int_equal(psc_spool_open(&c->s, c->dir, 4096), 0);
	assert_int_equal(psc_spool_append(c->s, 0, "x", 1), -EINVAL);
	assert_int_equal(psc_spool_append(c->s, 1, NULL, 1), -EINVAL);
	assert_int_equal(psc_spool_append(NULL, 1, "x", 1), -EINVAL);
	/* Numbers may skip (a frame sent directly and acked is never spooled)... */
	assert_int_equal(psc_spool_append(c->s, 5, NULL, 0), 0);
	assert_int_equal(psc_spool_next_seq(c->s), 6);
	/* ...but never go back behind the newest frame. */
	assert_int_equal(psc_spool_append(c->s, 5, "x", 1), -ERANGE);
	assert_int_equal(psc_spool_append(c->s, 4, "x", 1), -ERANGE);
	assert_int_equal(psc_spool_frames(c->s), 1);
	assert_int_equal(psc_spool_counters(c->s)->appended, 1);

	/* An empty frame comes back as a non-NULL buffer of length 0. */
	assert_int_equal(psc_spool_peek(c->s, &seq, &f, &len), 0);
	assert_int_equal(seq, 5);
	assert_int_equal(len, 0);
	assert_non_null(f);
	free(f);
	assert_int_equal(psc_spool_bytes(c->s), OVH);

	assert_int_equal(psc_spool_peek(c->s, NULL, &f, &len), -EINVAL);
	assert_int_equal(psc_spool_ack(NULL, 1), -EINVAL);
	assert_int_equal(psc_spool_take_seq(c->s, NULL), -EINVAL);
}

static void test_restart_resumes(void **state)
{
	struct ctx *c = *state;
	uint64_t seq;

	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	for (int i = 0; i < 3; i++)
		append_next(c->s);
	assert_int_equal(psc_spool_ack(c->s, 1), 0);
	psc_spool_close(&c->s);
	assert_null(c->s);
	psc_spool_close(&c->s); /* NULL is fine */
	psc_spool_close(NULL);

	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	assert_int_equal(psc_spool_frames(c->s), 2);
	assert_int_equal(psc_spool_bytes(c->s), 2 * (7 + OVH));
	assert_int_equal(psc_spool_next_seq(c->s), 4);
	expect_head(c->s, 2);
	assert_int_equal(append_next(c->s), 4);

	/* Numbers taken for frames sent without spooling survive an empty spool. */
	assert_int_equal(psc_spool_ack(c->s, 4), 0);
	assert_int_equal(psc_spool_take_seq(c->s, &seq), 0);
	assert_int_equal(seq, 5);
	assert_int_equal(psc_spool_take_seq(c->s, &seq), 0);
	assert_int_equal(seq, 6);
	psc_spool_close(&c->s);

	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	expect_empty(c->s);
	assert_int_equal(psc_spool_next_seq(c->s), 7);
	assert_int_equal(psc_spool_counters(c->s)->recovered_partial, 0);
}

/* take_seq is durable when it returns, without a clean close. */
static void test_take_seq_is_durable(void **state)
{
	struct ctx *c = *state;
	char path[256], buf[128] = { 0 };
	uint64_t seq;
	FILE *f;

	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(psc_spool_take_seq(c->s, &seq), 0);
	assert_int_equal(seq, 3);
	snprintf(path, sizeof(path), "%s/state", c->dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	fclose(f);
	assert_non_null(strstr(buf, "next_seq 4\n"));
}

static void test_state_lost_frames_remain(void **state)
{
	struct ctx *c = *state;
	char path[256];

	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	for (int i = 0; i < 3; i++)
		append_next(c->s);
	psc_spool_close(&c->s);
	snprintf(path, sizeof(path), "%s/state", c->dir);
	assert_int_equal(unlink(path), 0);

	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	assert_true(psc_spool_next_seq(c->s) > 3);
	assert_int_equal(psc_spool_frames(c->s), 3);
	expect_head(c->s, 1);
	assert_true(file_exists(c->dir, "state")); /* rewritten */
	psc_spool_close(&c->s);

	/* A garbled state file, or one behind the frames: the frames win. */
	put_file(c->dir, "state", "garbage", 7);
	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	assert_int_equal(psc_spool_next_seq(c->s), 4);
	psc_spool_close(&c->s);
	put_file(c->dir, "state", "prescient-spool-state 1\nnext_seq 2\n", 35);
	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	assert_int_equal(psc_spool_next_seq(c->s), 4);
	psc_spool_close(&c->s);
	/* One ahead of the frames wins over them. */
	put_file(c->dir, "state", "prescient-spool-state 1\nnext_seq 90\n", 36);
	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	assert_int_equal(psc_spool_next_seq(c->s), 90);
	/* The mark survives acking everything, then losing the state file is the one case
	 * that restarts at 1 (documented): not tested as a guarantee. */
	assert_int_equal(psc_spool_ack(c->s, UINT64_MAX), 0);
	psc_spool_close(&c->s);
	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	assert_int_equal(psc_spool_next_seq(c->s), 90);
}

static void test_bound_drops_oldest(void **state)
{
	struct ctx *c = *state;
	char frame[100];

	memset(frame, 'a', sizeof(frame));
	assert_int_equal(psc_spool_open(&c->s, c->dir, 5 * (100 + OVH)), 0);
	for (uint64_t i = 1; i <= 8; i++)
		assert_int_equal(psc_spool_append(c->s, i, frame, sizeof(frame)), 0);
	assert_int_equal(psc_spool_frames(c->s), 5);
	assert_int_equal(psc_spool_bytes(c->s), 5 * (100 + OVH));
	assert_true(psc_spool_bytes(c->s) <= psc_spool_max_bytes(c->s));
	const struct psc_spool_counters *k = psc_spool_counters(c->s);
	assert_int_equal(k->appended, 8);
	assert_int_equal(k->dropped_frames, 3);
	assert_int_equal(k->dropped_bytes, 3 * (100 + OVH));
	assert_int_equal(count_files(c->dir, ".frame"), 5);
	assert_false(file_exists(c->dir, "00000000000000000003.frame"));
	assert_true(file_exists(c->dir, "00000000000000000004.frame"));

	/* A bigger frame pushes out as many old ones as it needs. */
	char big[250] = { 0 };
	assert_int_equal(psc_spool_append(c->s, 9, big, sizeof(big)), 0);
	assert_int_equal(psc_spool_frames(c->s), 3); /* 7, 8 and 9 */
	assert_int_equal(k->dropped_frames, 6);

	/* A frame that fills the bound alone replaces everything, newest included. */
	char full[5 * (100 + OVH) - OVH];
	memset(full, 'f', sizeof(full));
	assert_int_equal(psc_spool_append(c->s, 10, full, sizeof(full)), 0);
	assert_int_equal(psc_spool_frames(c->s), 1);
	assert_int_equal(psc_spool_bytes(c->s), psc_spool_max_bytes(c->s));
	assert_int_equal(count_files(c->dir, ".frame"), 1);
	psc_spool_close(&c->s);

	/* Reopened with a lower bound: the oldest go. */
	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	for (uint64_t i = 11; i <= 14; i++)
		assert_int_equal(psc_spool_append(c->s, i, frame, sizeof(frame)), 0);
	psc_spool_close(&c->s);
	assert_int_equal(psc_spool_open(&c->s, c->dir, 2 * (100 + OVH)), 0);
	assert_int_equal(psc_spool_frames(c->s), 2);
	assert_int_equal(psc_spool_counters(c->s)->dropped_frames, 3);
	uint64_t seq;
	void *f;
	size_t len;
	assert_int_equal(psc_spool_peek(c->s, &seq, &f, &len), 0);
	assert_int_equal(seq, 13);
	free(f);
	assert_int_equal(psc_spool_next_seq(c->s), 15);
}

static void test_frame_larger_than_bound(void **state)
{
	struct ctx *c = *state;
	char frame[101] = { 0 };

	assert_int_equal(psc_spool_open(&c->s, c->dir, 100 + OVH), 0);
	assert_int_equal(append_next(c->s), 1);
	assert_int_equal(psc_spool_append(c->s, 2, frame, 101), -EFBIG);
	const struct psc_spool_counters *k = psc_spool_counters(c->s);
	assert_int_equal(k->dropped_oversize, 1);
	assert_int_equal(k->dropped_frames, 0);
	assert_int_equal(k->appended, 1);
	/* Nothing stored, nothing evicted, the number is spent. */
	assert_int_equal(psc_spool_frames(c->s), 1);
	assert_int_equal(count_files(c->dir, ".frame"), 1);
	assert_int_equal(count_files(c->dir, ".tmp"), 0);
	assert_int_equal(psc_spool_next_seq(c->s), 3);
	expect_head(c->s, 1);
	/* Exactly the bound fits. */
	assert_int_equal(psc_spool_append(c->s, 3, frame, 100), 0);
	assert_int_equal(psc_spool_frames(c->s), 1);
	assert_int_equal(psc_spool_bytes(c->s), 100 + OVH);
	psc_spool_close(&c->s);

	/* The number of a refused frame is not reused after a restart with an empty spool. */
	assert_int_equal(psc_spool_open(&c->s, c->dir, 100 + OVH), 0);
	assert_int_equal(psc_spool_ack(c->s, 3), 0);
	assert_int_equal(psc_spool_append(c->s, 4, frame, 101), -EFBIG);
	psc_spool_close(&c->s);
	assert_int_equal(psc_spool_open(&c->s, c->dir, 100 + OVH), 0);
	assert_int_equal(psc_spool_next_seq(c->s), 5);
}

static void test_partial_files_at_open(void **state)
{
	struct ctx *c = *state;
	unsigned char hdr[OVH + 4] = { 'X', 'X', 'X', 'X' };

	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	append_next(c->s);
	append_next(c->s);
	psc_spool_close(&c->s);

	/* What a crash (or worse) can leave: a temp frame, a truncated frame, a frame whose
	 * header is not ours, a temp state; and a file that is none of our business. */
	put_file(c->dir, "00000000000000000007.frame.tmp", "half", 4);
	put_file(c->dir, "00000000000000000004.frame", "short", 5);
	put_file(c->dir, "00000000000000000005.frame", hdr, sizeof(hdr));
	put_file(c->dir, "state.tmp", "prescient", 9);
	put_file(c->dir, "README", "keep me", 7);

	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	assert_int_equal(psc_spool_counters(c->s)->recovered_partial, 3);
	assert_int_equal(psc_spool_frames(c->s), 2);
	/* A number named by a discarded file is not reused either. */
	assert_int_equal(psc_spool_next_seq(c->s), 8);
	assert_int_equal(count_files(c->dir, ".tmp"), 0);
	assert_false(file_exists(c->dir, "00000000000000000004.frame"));
	assert_false(file_exists(c->dir, "00000000000000000005.frame"));
	assert_true(file_exists(c->dir, "README"));
	expect_head(c->s, 1);
	assert_int_equal(psc_spool_ack(c->s, 1), 0);
	expect_head(c->s, 2);
}

static void test_corrupt_frame_at_peek(void **state)
{
	struct ctx *c = *state;
	char path[256];
	int fd;

	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	for (int i = 0; i < 3; i++)
		append_next(c->s);
	/* Flip a payload byte of frame 1 and delete frame 2 behind the spool's back. */
	snprintf(path, sizeof(path), "%s/00000000000000000001.frame", c->dir);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "F", 1, OVH), 1);
	close(fd);
	snprintf(path, sizeof(path), "%s/00000000000000000002.frame", c->dir);
	assert_int_equal(unlink(path), 0);

	expect_head(c->s, 3);
	assert_int_equal(psc_spool_counters(c->s)->dropped_corrupt, 2);
	assert_int_equal(psc_spool_frames(c->s), 1);
	assert_int_equal(count_files(c->dir, ".frame"), 1);
}

static void test_ack_unknown_and_old(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	assert_int_equal(psc_spool_ack(c->s, 0), 0);
	assert_int_equal(psc_spool_ack(c->s, 100), 0); /* empty spool */
	assert_int_equal(psc_spool_next_seq(c->s), 1);
	for (uint64_t i = 5; i <= 7; i++) {
		char buf[16];
		int n = snprintf(buf, sizeof(buf), "frame-%" PRIu64, i);
		assert_int_equal(psc_spool_append(c->s, i, buf, n), 0);
	}
	assert_int_equal(psc_spool_ack(c->s, 3), 0); /* older than anything stored */
	assert_int_equal(psc_spool_frames(c->s), 3);
	assert_int_equal(psc_spool_ack(c->s, 5), 0);
	assert_int_equal(psc_spool_ack(c->s, 5), 0); /* again */
	assert_int_equal(psc_spool_ack(c->s, 4), 0); /* already gone */
	assert_int_equal(psc_spool_frames(c->s), 2);
	expect_head(c->s, 6);
	assert_int_equal(psc_spool_counters(c->s)->acked, 1);

	/* An ack past the newest frame clears everything and leaves numbering alone. */
	assert_int_equal(psc_spool_ack(c->s, 1000), 0);
	expect_empty(c->s);
	assert_int_equal(count_files(c->dir, ".frame"), 0);
	assert_int_equal(psc_spool_counters(c->s)->acked, 3);
	assert_int_equal(psc_spool_next_seq(c->s), 8);
	assert_int_equal(append_next(c->s), 8);
}

/* 10k small frames through a spool that holds 50, acking now and then: the directory never
 * holds more than the bound's worth of frames and no temp files. On a tmpfs when we may
 * mount one (the test is about counts, and fsync there is free), else on /tmp. */
static void test_churn_bounded(void **state)
{
	struct ctx *c = *state;
	const uint64_t max = 50 * (16 + OVH);
	char frame[16];
	uint64_t acked_to = 0;

	if (mount_tmpfs(c, "fast", 0, "size=8m"))
		snprintf(c->dir, sizeof(c->dir), "%s/spool", c->mnt);
	assert_int_equal(psc_spool_open(&c->s, c->dir, max), 0);
	for (int i = 1; i <= 10000; i++) {
		uint64_t seq = psc_spool_next_seq(c->s);

		memset(frame, i & 0xff, sizeof(frame));
		assert_int_equal(psc_spool_append(c->s, seq, frame, sizeof(frame)), 0);
		assert_true(psc_spool_bytes(c->s) <= max);
		if (i % 97 == 0) {
			acked_to = seq - 10;
			assert_int_equal(psc_spool_ack(c->s, acked_to), 0);
		}
		if (i % 1000 == 0) {
			assert_true(count_files(c->dir, NULL) <= 50 + 1); /* frames + state */
			assert_int_equal(count_files(c->dir, ".frame"), psc_spool_frames(c->s));
		}
	}
	const struct psc_spool_counters *k = psc_spool_counters(c->s);
	assert_int_equal(k->appended, 10000);
	assert_true(k->dropped_frames > 0 && k->acked > 0);
	assert_int_equal(k->appended, k->acked + k->dropped_frames + psc_spool_frames(c->s));
	assert_int_equal(count_files(c->dir, ".tmp"), 0);
	assert_int_equal(psc_spool_next_seq(c->s), 10001);

	/* Replay drains in order. */
	uint64_t prev = acked_to;
	while (psc_spool_frames(c->s)) {
		uint64_t seq;
		void *f;
		size_t len;

		assert_int_equal(psc_spool_peek(c->s, &seq, &f, &len), 0);
		assert_true(seq > prev);
		assert_int_equal(len, sizeof(frame));
		assert_int_equal(((unsigned char *)f)[0], seq & 0xff);
		free(f);
		assert_int_equal(psc_spool_ack(c->s, seq), 0);
		prev = seq;
	}
	assert_int_equal(prev, 10000);
}

static void test_open_errors(void **state)
{
	struct ctx *c = *state;
	struct psc_spool *s2 = (struct psc_spool *)c; /* must stay untouched */
	char path[256];

	assert_int_equal(psc_spool_open(NULL, c->dir, 1), -EINVAL);
	assert_int_equal(psc_spool_open(&s2, NULL, 1), -EINVAL);
	assert_int_equal(psc_spool_open(&s2, "", 1), -EINVAL);
	assert_int_equal(psc_spool_open(&s2, c->dir, 0), -EINVAL);

	/* The spool path is a file, or lies under one. */
	put_file(c->root, "file", "x", 1);
	snprintf(path, sizeof(path), "%s/file", c->root);
	assert_int_equal(psc_spool_open(&s2, path, 1024), -ENOTDIR);
	snprintf(path, sizeof(path), "%s/file/spool", c->root);
	assert_int_equal(psc_spool_open(&s2, path, 1024), -ENOTDIR);
	assert_ptr_equal(s2, c);

	/* Missing parents are created. */
	snprintf(path, sizeof(path), "%s/a/b/c", c->root);
	assert_int_equal(psc_spool_open(&c->s, path, 1024), 0);
	psc_spool_close(&c->s);

	/* One open spool per directory. */
	assert_int_equal(psc_spool_open(&c->s, c->dir, 1024), 0);
	assert_int_equal(psc_spool_open(&s2, c->dir, 1024), -EBUSY);
	assert_ptr_equal(s2, c);
	psc_spool_close(&c->s);
	assert_int_equal(psc_spool_open(&c->s, c->dir, 1024), 0);
}

/* A directory we may not write: as root only an unprivileged child sees EACCES. */
static void test_open_eacces(void **state)
{
	struct ctx *c = *state;
	struct psc_spool *s = NULL;
	int status;
	pid_t pid;

	assert_int_equal(chmod(c->root, 0755), 0);
	assert_int_equal(mkdir(c->dir, 0555), 0);
	if (geteuid() != 0) {
		assert_int_equal(psc_spool_open(&s, c->dir, 1024), -EACCES);
		assert_null(s);
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(77); /* e.g. a user namespace without that uid */
		int r = psc_spool_open(&s, c->dir, 1024);
		_exit(r == -EACCES && !s ? 0 : 101);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		fprintf(stderr, "# cannot become uid 65534: skipped\n");
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_open_read_only_fs(void **state)
{
	struct ctx *c = *state;
	char path[256];

	if (!mount_tmpfs(c, "ro", MS_RDONLY, "size=64k"))
		skip();
	assert_int_equal(psc_spool_open(&c->s, c->mnt, 1024), -EROFS);
	snprintf(path, sizeof(path), "%s/spool", c->mnt);
	assert_int_equal(psc_spool_open(&c->s, path, 1024), -EROFS);
	assert_null(c->s);
}

/* A full file system: the frame that does not fit is dropped and counted, nothing is left
 * behind, and the spool goes on once there is room again. */
static void test_enospc(void **state)
{
	struct ctx *c = *state;
	char frame[4000];
	int stored = 0, r = 0;

	if (!mount_tmpfs(c, "small", 0, "size=64k"))
		skip();
	snprintf(c->dir, sizeof(c->dir), "%s/spool", c->mnt);
	memset(frame, 'z', sizeof(frame));
	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	for (int i = 0; i < 64; i++) {
		r = psc_spool_append(c->s, psc_spool_next_seq(c->s), frame, sizeof(frame));
		if (r < 0)
			break;
		stored++;
	}
	assert_int_equal(r, -ENOSPC);
	assert_true(stored > 0);
	const struct psc_spool_counters *k = psc_spool_counters(c->s);
	assert_int_equal(k->dropped_io, 1);
	assert_int_equal(psc_spool_frames(c->s), stored);
	assert_int_equal(count_files(c->dir, ".tmp"), 0);
	assert_int_equal(count_files(c->dir, ".frame"), stored);
	uint64_t lost = psc_spool_next_seq(c->s) - 1;

	/* Again, still full: still counted, still clean. */
	assert_int_equal(psc_spool_append(c->s, psc_spool_next_seq(c->s), frame, sizeof(frame)),
			 -ENOSPC);
	assert_int_equal(k->dropped_io, 2);

	/* The aggregator is back: acks make room and appends work again. */
	assert_int_equal(psc_spool_ack(c->s, 3), 0);
	uint64_t seq = psc_spool_next_seq(c->s);
	assert_true(seq > lost);
	assert_int_equal(psc_spool_append(c->s, seq, frame, sizeof(frame)), 0);
	assert_int_equal(psc_spool_frames(c->s), stored - 3 + 1);
	psc_spool_close(&c->s);

	assert_int_equal(psc_spool_open(&c->s, c->dir, 1 << 20), 0);
	assert_int_equal(psc_spool_frames(c->s), stored - 3 + 1);
	assert_int_equal(psc_spool_next_seq(c->s), seq + 1);
	assert_int_equal(psc_spool_counters(c->s)->recovered_partial, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_peek_ack_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_seq_is_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_lost_frames_remain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_drops_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frame_larger_than_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_files_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_frame_at_peek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_unknown_and_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_churn_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_eacces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_read_only_fs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
