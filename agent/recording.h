/* SPDX-License-Identifier: MIT */
/* Recordings of the kernel's ring-buffer records, so the user-space pipeline (parsers,
 * pairing, windows, reports) can be run again on real captured traffic without root or
 * BPF: `prescient-agent --record FILE` writes one, `--replay FILE` reads it.
 *
 * File format (host byte order; recordings are not portable across endianness):
 *   "PSCREC1\n" | int64 realtime_minus_monotonic_ns
 *   then records: uint8 type | uint32 length | length bytes
 *     type 'E': one ring-buffer record (struct psc_event_hdr + cap_len bytes)
 *     type 'P': uint64 cgroup id + the cgroup's path (no NUL), written when first resolved */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct psc_recorder;

/* Creates (truncates) @path. Returns 0 or a negative errno; *out untouched on failure. */
int psc_recorder_open(struct psc_recorder **out, const char *path);
int psc_recorder_event(struct psc_recorder *r, const void *data, size_t size);
int psc_recorder_path(struct psc_recorder *r, uint64_t cgroup_id, const char *path);
/* Flushes and closes; returns 0 or the first write error seen. */
int psc_recorder_close(struct psc_recorder **r);

struct psc_replay_handler {
	int (*event)(void *ctx, void *data, size_t size);
	void (*path)(void *ctx, uint64_t cgroup_id, const char *path);
	void *ctx;
};

/* Reads @path and calls the handler for each record in order. *@realtime_offset_ns gets
 * the file's realtime - monotonic offset. Returns 0, -EBADMSG for a file that is not a
 * recording or is cut in the middle of a record (records before it were delivered), or
 * another negative errno. */
int psc_replay_file(const char *path, const struct psc_replay_handler *h,
		    int64_t *realtime_offset_ns);
