// SPDX-License-Identifier: MIT
#include "recording.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"

#define MAGIC "PSCREC1\n"
#define MAX_RECORD (1u << 20)

struct psc_recorder {
	FILE *f;
	int error;
};

static int64_t realtime_minus_monotonic(void)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return ((int64_t)rt.tv_sec - mono.tv_sec) * 1000000000 + (rt.tv_nsec - mono.tv_nsec);
}

int psc_recorder_open(struct psc_recorder **out, const char *path)
{
	struct psc_recorder *r = calloc(1, sizeof(*r));
	int64_t off = realtime_minus_monotonic();

	if (!r)
		return -ENOMEM;
	r->f = fopen(path, "wbe");
	if (!r->f) {
		int e = -errno;
		free(r);
		return e;
	}
	if (fwrite(MAGIC, 1, 8, r->f) != 8 || fwrite(&off, sizeof(off), 1, r->f) != 1) {
		fclose(r->f);
		free(r);
		return -EIO;
	}
	*out = r;
	return 0;
}

static int write_record(struct psc_recorder *r, uint8_t type, const void *a, size_t alen,
			const void *b, size_t blen)
{
	uint32_t len = (uint32_t)(alen + blen);

	if (r->error)
		return r->error;
	if (fwrite(&type, 1, 1, r->f) != 1 || fwrite(&len, sizeof(len), 1, r->f) != 1 ||
	    fwrite(a, 1, alen, r->f) != alen || (blen && fwrite(b, 1, blen, r->f) != blen))
		r->error = -EIO;
	return r->error;
}

int psc_recorder_event(struct psc_recorder *r, const void *data, size_t size)
{
	return write_record(r, 'E', data, size, NULL, 0);
}

int psc_recorder_path(struct psc_recorder *r, uint64_t cgroup_id, const char *path)
{
	return write_record(r, 'P', &cgroup_id, sizeof(cgroup_id), path, strlen(path));
}

int psc_recorder_close(struct psc_recorder **r)
{
	int e;

	if (!r || !*r)
		return 0;
	e = (*r)->error;
	if (fclose((*r)->f) != 0 && !e)
		e = -errno;
	free(*r);
	*r = NULL;
	return e;
}

int psc_replay_file(const char *path, const struct psc_replay_handler *h,
		    int64_t *realtime_offset_ns)
{
	_cleanup_fclose_ FILE *f = fopen(path, "rbe");
	_cleanup_free_ uint8_t *buf = NULL;
	char magic[8];

	if (!f)
		return -errno;
	if (fread(magic, 1, 8, f) != 8 || memcmp(magic, MAGIC, 8) != 0 ||
	    fread(realtime_offset_ns, sizeof(*realtime_offset_ns), 1, f) != 1)
		return -EBADMSG;
	buf = malloc(MAX_RECORD + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		uint8_t type;
		uint32_t len;
		if (fread(&type, 1, 1, f) != 1)
			return feof(f) ? 0 : -EIO;
		if (fread(&len, sizeof(len), 1, f) != 1 || len > MAX_RECORD ||
		    fread(buf, 1, len, f) != len)
			return -EBADMSG;
		if (type == 'E') {
			h->event(h->ctx, buf, len);
		} else if (type == 'P' && len >= sizeof(uint64_t)) {
			uint64_t id;
			memcpy(&id, buf, sizeof(id));
			buf[len] = '\0';
			h->path(h->ctx, id, (const char *)buf + sizeof(id));
		} else {
			return -EBADMSG;
		}
	}
}
