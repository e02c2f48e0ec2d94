/* SPDX-License-Identifier: MIT */
/* The agent's on-disk spool of report frames (DESIGN.md section 4).
 *
 * The agent sends one sealed report frame per window and the aggregator acknowledges each
 * sequence number. While the aggregator is away the frames wait here, bounded in bytes
 * (the oldest are dropped, and counted, to make room), and are replayed oldest first once
 * it is back. A restarted agent finds its frames and continues its sequence numbers.
 * Frames are opaque bytes to the spool.
 *
 * Layout of the spool directory (nothing else is written there; unknown files are left
 * alone):
 *   00000000000000000042.frame      one frame: its sequence number, zero-padded to 20
 *                                    digits, so names sort like numbers. Content: a 24-byte
 *                                    header (magic "PSCF", CRC-32 of the payload, seq,
 *                                    payload length; little-endian) and the payload.
 *   00000000000000000042.frame.tmp  a frame being written
 *   state                           "prescient-spool-state 1\nnext_seq N\n": the sequence
 *                                    high-water mark
 *   state.tmp                       a state being written
 *
 * Crash safety. Every file is written as name.tmp, fsync'd, renamed over name and the
 * directory fsync'd, so a name either is absent or holds complete, durable content; a
 * crash leaves at most a stray *.tmp, which psc_spool_open() deletes (a frame's temp file
 * is counted in recovered_partial). A frame file that is nevertheless short or whose
 * header disagrees with its name or size (a file system that did not keep its promises,
 * or a hand-made file) is deleted and counted at open as well; a payload whose checksum
 * fails is dropped when psc_spool_peek() reads it. Deleting an acknowledged frame is not
 * synced: after a crash it may come back and be sent again, which the aggregator's
 * de-duplication by (host, seq) absorbs.
 *
 * Sequence numbers start at 1 and never go back. The next number is the largest of the
 * state file's, one past the highest frame (or frame temp file) present, and 1; so it
 * survives the loss of either the state file or of every frame, though not of both. The
 * state file is rewritten when a number is taken with psc_spool_take_seq() and before the
 * newest frame is deleted (the one moment the frames would stop carrying the mark).
 *
 * Accounting: a frame occupies len + PSC_SPOOL_FRAME_OVERHEAD bytes (its file size);
 * max_bytes bounds the sum over stored frames, not the state file or file system block
 * rounding. The in-memory index (seq, size) is ordered by seq: peek is O(1), ack of k frames
 * O(k), and the scan in psc_spool_open() is the only directory walk.
 *
 * A spool is not thread-safe, and one directory belongs to one open spool at a time
 * (an flock on the directory; a second psc_spool_open() gets -EBUSY).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Bytes a frame takes on disk beyond its payload (the header). */
#define PSC_SPOOL_FRAME_OVERHEAD 24

struct psc_spool;

/* Counters since psc_spool_open() (not persisted). Every frame lost is counted in exactly
 * one of the dropped_* / recovered_partial counters. */
struct psc_spool_counters {
	uint64_t appended;	    /* frames stored by psc_spool_append() */
	uint64_t acked;		    /* frames removed by psc_spool_ack() */
	uint64_t dropped_frames;    /* oldest frames evicted to stay within max_bytes... */
	uint64_t dropped_bytes;	    /* ...and their stored bytes */
	uint64_t dropped_oversize;  /* frames refused with -EFBIG */
	uint64_t dropped_io;	    /* frames not stored (ENOSPC, EIO, ...) or unreadable */
	uint64_t dropped_corrupt;   /* frames whose checksum or header failed at peek */
	uint64_t recovered_partial; /* temp or damaged frame files discarded at open */
};

/* Opens the spool in @dir, creating it (mode 0700, parents too) when missing, and bounded
 * to @max_bytes of stored frames. Scans the directory: indexes the frames, deletes temp
 * files and damaged frames (counted in recovered_partial), restores the next sequence
 * number, and when the frames found exceed @max_bytes (a lowered bound) drops the oldest
 * (counted in dropped_frames).
 * Returns 0 and stores the spool in *@out (the caller owns it; psc_spool_close()); on
 * failure *@out is untouched and:
 *   -EINVAL   NULL or empty argument, @max_bytes 0
 *   -ENOTDIR  @dir (or a parent) exists and is not a directory
 *   -EACCES, -EPERM, -EROFS  @dir cannot be created or written
 *   -EBUSY    another open spool holds @dir
 *   -ENOMEM, -ENAMETOOLONG, or the errno of a failed read, write or fsync. */
int psc_spool_open(struct psc_spool **out, const char *dir, uint64_t max_bytes);

/* Closes the spool and sets *@s to NULL; NULL or *@s NULL is a no-op. Stored frames stay
 * on disk for the next psc_spool_open(). Writes the sequence high-water mark if it is not
 * yet durable (best effort). */
void psc_spool_close(struct psc_spool **s);

/* The next sequence number to assign (>= 1). Does not consume it: append a frame with it
 * (which advances it), or use psc_spool_take_seq() for a frame sent without spooling. */
uint64_t psc_spool_next_seq(const struct psc_spool *s);

/* Takes the next sequence number into *@seq and makes the new high-water mark durable
 * before returning, so the number is never handed out again, even after a restart with an
 * empty spool. For frames sent straight to the aggregator; if the send fails the frame can
 * still be appended with this number (as long as it is newer than every spooled frame).
 * Returns 0; -EINVAL for NULL arguments; the negative errno of a failed state write (then
 * *@seq is untouched and the number stays available). */
int psc_spool_take_seq(struct psc_spool *s, uint64_t *seq);

/* Stores a copy of @frame (@len bytes; @frame may be NULL when @len is 0) as sequence
 * number @seq, durably before returning. @seq must be greater than every stored frame's;
 * the next sequence number becomes at least @seq + 1. When the spool would exceed
 * max_bytes, the oldest frames are dropped (dropped_frames/dropped_bytes): all but the
 * newest before writing, the newest, if still needed, only once the new frame is durable,
 * so the high-water mark is never without a carrier. The caller keeps @frame.
 * Returns 0, or:
 *   -EINVAL   NULL spool, NULL @frame with @len > 0, @seq 0
 *   -ERANGE   @seq is not greater than the newest stored frame's (nothing counted)
 *   -EFBIG    len + PSC_SPOOL_FRAME_OVERHEAD > max_bytes: not stored, dropped_oversize
 *   -ENOSPC, -EIO, ... (a failed write, fsync or rename): not stored, dropped_io; no file
 *             is left behind and the spool keeps working, so the caller logs and goes on.
 *   -ENOMEM   not stored, nothing counted. */
int psc_spool_append(struct psc_spool *s, uint64_t seq, const void *frame, size_t len);

/* The oldest stored frame: its number in *@seq, a malloc'd copy in *@frame (owned by the
 * caller, who frees it; non-NULL even for an empty frame) and its length in *@len. The
 * frame stays stored until acknowledged. A frame that cannot be read back (checksum,
 * header or read error) is deleted, counted (dropped_corrupt or dropped_io) and the next
 * one is tried. Returns 0; -ENOENT when the spool is empty; -EINVAL for NULL arguments;
 * -ENOMEM. On failure the outputs are untouched. */
int psc_spool_peek(struct psc_spool *s, uint64_t *seq, void **frame, size_t *len);

/* Acknowledges every stored frame with a sequence number <= @seq and deletes them
 * (counted in acked). Acks for numbers no longer or never stored are harmless: an old one
 * removes nothing, one beyond the newest removes all. Returns 0; -EINVAL for a NULL spool;
 * the negative errno of a failed state write, which is needed before the newest frame can
 * go: then the older frames are removed and the newest stays (it will be sent again). */
int psc_spool_ack(struct psc_spool *s, uint64_t seq);

/* Stored frames and their stored bytes (including PSC_SPOOL_FRAME_OVERHEAD each). */
size_t psc_spool_frames(const struct psc_spool *s);
uint64_t psc_spool_bytes(const struct psc_spool *s);
uint64_t psc_spool_max_bytes(const struct psc_spool *s);

/* The counters; the pointer is valid until psc_spool_close(). */
const struct psc_spool_counters *psc_spool_counters(const struct psc_spool *s);
