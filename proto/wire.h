/* SPDX-License-Identifier: MIT */
/* The fleet link's frames (DESIGN.md section 4). Library code: pure (no I/O), no logging
 * above debug; errors are negative errnos, each mapping to one refusal reason.
 *
 * Sealed frame (reports, acks):
 *   0  'P' 'S'              magic
 *   2  u8 version           PSC_WIRE_VERSION
 *   3  u8 kind              enum psc_wire_kind
 *   4  24-byte nonce        random, per frame
 *   28 crypto_secretbox(plaintext, nonce, fleet key): 16-byte MAC + plaintext, where
 *      plaintext = u8 kind (again, so the header is authenticated) | u8 codec
 *                  (0 = stored, 1 = raw deflate) | u32 LE length of the protobuf | body
 * Overhead: PSC_WIRE_OVERHEAD (50) bytes per frame, on top of the deflated protobuf.
 *
 * Refusal frame (the aggregator's reply to a frame it could not accept, so that a REQ peer
 * is never left waiting): header with kind PSC_WIRE_REFUSAL and one byte, the reason. It
 * is NOT authenticated (the peer may not share our key); a receiver only treats it as "not
 * acknowledged, keep the report and retry later", never as an instruction. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "keys.h"
#include "prescient.pb-c.h"

#define PSC_WIRE_VERSION 1	  /* frame layout */
#define PSC_WIRE_SCHEMA_VERSION 1 /* HostReport.schema_version this code writes */
#define PSC_WIRE_HEADER_SIZE 4
#define PSC_WIRE_NONCE_SIZE 24
#define PSC_WIRE_MAC_SIZE 16
#define PSC_WIRE_INNER_SIZE 6
#define PSC_WIRE_OVERHEAD \
	(PSC_WIRE_HEADER_SIZE + PSC_WIRE_NONCE_SIZE + PSC_WIRE_MAC_SIZE + PSC_WIRE_INNER_SIZE)
#define PSC_WIRE_REFUSAL_SIZE (PSC_WIRE_HEADER_SIZE + 1)

#define PSC_WIRE_DEFAULT_MAX_FRAME (1u << 20)	  /* 1 MiB on the wire */
#define PSC_WIRE_DEFAULT_MAX_INFLATED (16u << 20) /* 16 MiB of protobuf */

/* WorkloadWindow.missing bits: the figure is unavailable on this host. */
enum {
	PSC_MISSING_CPU = 1 << 0,
	PSC_MISSING_THROTTLED = 1 << 1,
	PSC_MISSING_MEM = 1 << 2,
	PSC_MISSING_MEM_PEAK = 1 << 3,
	PSC_MISSING_IO = 1 << 4,
	PSC_MISSING_PSI_CPU = 1 << 5,
	PSC_MISSING_PSI_MEM = 1 << 6,
	PSC_MISSING_PSI_IO = 1 << 7,
};

enum psc_wire_kind {
	PSC_WIRE_REPORT = 1,
	PSC_WIRE_ACK = 2,
	PSC_WIRE_REFUSAL = 3,
	_PSC_WIRE_KIND_MAX,
};

/* Why the aggregator did not store a report. The first six come from decoding a frame;
 * the others from ingest. The value is the refusal frame's reason byte. */
enum psc_wire_reason {
	PSC_REFUSE_NONE = 0,
	PSC_REFUSE_BAD_KEY,	/* unseal failed: wrong fleet key, or tampered */
	PSC_REFUSE_CORRUPT,	/* bad magic, truncated, bad deflate or protobuf, bad fields */
	PSC_REFUSE_OVERSIZED,	/* frame above the limit */
	PSC_REFUSE_BOMB,	/* would inflate above the limit */
	PSC_REFUSE_VERSION,	/* unknown frame version or kind */
	PSC_REFUSE_DUPLICATE,	/* (host, seq) stored before: acked again, not stored */
	PSC_REFUSE_STALE,	/* older than the retention: acked, not stored */
	PSC_REFUSE_UNKNOWN_REF, /* dictionary ref not known: RESEND_DICT ack */
	PSC_REFUSE_STORE,	/* the store failed: retry later */
	_PSC_REFUSE_MAX,
};

/* "bad_key", "corrupt", "oversized", "bomb", "version", "duplicate", "stale",
 * "unknown_ref", "store" (the metric label); NULL for an unknown value. */
const char *psc_wire_reason_name(enum psc_wire_reason r);
/* The reason for an error returned by a decode function: -EKEYREJECTED bad_key,
 * -EBADMSG corrupt, -EMSGSIZE oversized, -EFBIG bomb, -EPROTONOSUPPORT version; anything
 * else (e.g. -ENOMEM) is PSC_REFUSE_STORE (a local failure: retry). */
enum psc_wire_reason psc_wire_reason_from_errno(int r);

struct psc_wire_limits {
	size_t max_frame;    /* larger frames: -EMSGSIZE */
	size_t max_inflated; /* larger protobufs: -EFBIG */
};

/* Limits with the defaults above. */
struct psc_wire_limits psc_wire_limits_default(void);

/* Seals @len bytes of @plain (a serialised message of @kind) into a new frame. On success
 * *frame is malloc'ed and owned by the caller. Errors: -EINVAL (kind, or @len above
 * UINT32_MAX), -ENOMEM. */
int psc_wire_seal(enum psc_wire_kind kind, const uint8_t *plain, size_t len,
		  const uint8_t key[PSC_FLEET_KEY_BYTES], uint8_t **frame, size_t *frame_len);

/* Checks and opens a sealed frame of @kind. On success *plain (malloc'ed, owned by the
 * caller; never NULL, even for 0 bytes) holds the serialised message. Errors as listed at
 * psc_wire_reason_from_errno(); -EPROTONOSUPPORT also for a frame of another kind.
 * @frame is never trusted: any bytes are safe. */
int psc_wire_open(const uint8_t *frame, size_t len, enum psc_wire_kind kind,
		  const uint8_t key[PSC_FLEET_KEY_BYTES], const struct psc_wire_limits *lim,
		  uint8_t **plain, size_t *plain_len);

/* The kind named by a frame's header, or -EBADMSG (too short, bad magic) or
 * -EPROTONOSUPPORT (unknown version). Says nothing about the rest of the frame. */
int psc_wire_frame_kind(const uint8_t *frame, size_t len);

/* Writes the refusal frame for @reason into @out. */
void psc_wire_refusal(enum psc_wire_reason reason, uint8_t out[PSC_WIRE_REFUSAL_SIZE]);
/* The reason carried by a refusal frame, or -EBADMSG if @frame is not one. */
int psc_wire_refusal_reason(const uint8_t *frame, size_t len);

/* Report and ack frames. encode: on success *frame is malloc'ed and owned by the caller.
 * decode: on success *out is owned by the caller, freed with the matching _free (which
 * accepts NULL and sets *m to NULL); a decoded report has been checked to be well formed
 * (non-empty host id of at most 255 bytes, finite window bounds in order, dictionary use
 * consistent) and fails with -EBADMSG otherwise. */
int psc_wire_report_encode(const Prescient__HostReport *r, const uint8_t key[PSC_FLEET_KEY_BYTES],
			   uint8_t **frame, size_t *frame_len);
int psc_wire_report_decode(const uint8_t *frame, size_t len, const uint8_t key[PSC_FLEET_KEY_BYTES],
			   const struct psc_wire_limits *lim, Prescient__HostReport **out);
void psc_wire_report_free(Prescient__HostReport **r);

/* Report decoder for a receiver of many frames (the aggregator). It keeps its inflate
 * state, its frame buffers and an arena between frames: the unpacked report lives in the
 * arena (a ProtobufCAllocator whose free does nothing; the whole arena is emptied when the
 * next frame is decoded), so a steady stream of reports decodes without malloc or free.
 * Memory: up to @keep bytes (0 = PSC_WIRE_DECODER_KEEP) of arena and of each buffer stay
 * between frames; what one large frame needed beyond that is given back at the next
 * decode (a frame is bounded by struct psc_wire_limits). Not thread-safe. Errors: -ENOMEM. */
#define PSC_WIRE_DECODER_KEEP (1u << 20)
struct psc_wire_decoder;
int psc_wire_decoder_new(struct psc_wire_decoder **out, size_t keep);
void psc_wire_decoder_free(struct psc_wire_decoder **d);
/* As psc_wire_report_decode() (same checks, same errors), but *out belongs to @d: it stays
 * valid until the next psc_wire_decoder_report() on @d or its free, and the caller never
 * frees it. */
int psc_wire_decoder_report(struct psc_wire_decoder *d, const uint8_t *frame, size_t len,
			    const uint8_t key[PSC_FLEET_KEY_BYTES],
			    const struct psc_wire_limits *lim, const Prescient__HostReport **out);

int psc_wire_ack_encode(const Prescient__Ack *a, const uint8_t key[PSC_FLEET_KEY_BYTES],
			uint8_t **frame, size_t *frame_len);
int psc_wire_ack_decode(const uint8_t *frame, size_t len, const uint8_t key[PSC_FLEET_KEY_BYTES],
			const struct psc_wire_limits *lim, Prescient__Ack **out);
void psc_wire_ack_free(Prescient__Ack **a);

/* Serialises @adj and signs it with the aggregator's @sk into @out, whose two byte fields
 * become malloc'ed and owned by the caller (free with psc_wire_signed_clear()). Errors:
 * -ENOMEM. */
int psc_wire_adjustment_sign(const Prescient__Adjustment *adj, const uint8_t sk[PSC_SIGN_SK_BYTES],
			     Prescient__SignedAdjustment *out);
void psc_wire_signed_clear(Prescient__SignedAdjustment *s);

/* Agent side: verifies @s with @pk and that it is meant for @host_id, not expired at @now
 * and newer than @last_id (the highest id accepted before). On success *out is owned by
 * the caller (free with prescient__adjustment__free_unpacked(*out, NULL)). Errors:
 * -EKEYREJECTED (bad signature), -EBADMSG (corrupt), -EXDEV (another host), -ETIME
 * (expired), -EALREADY (id not above @last_id: a replay). */
int psc_wire_adjustment_verify(const Prescient__SignedAdjustment *s,
			       const uint8_t pk[PSC_SIGN_PK_BYTES], const char *host_id, double now,
			       uint64_t last_id, Prescient__Adjustment **out);

/* Histogram <-> wire. psc_wire_hist_fill() initialises @m and fills it from @h with the
 * smaller of the sparse and dense encodings; the arrays are malloc'ed (free with
 * psc_wire_hist_clear()). Returns 0 or -ENOMEM (@m is then empty). */
int psc_wire_hist_fill(Prescient__LatencyHistogram *m, const struct psc_hist *h);
void psc_wire_hist_clear(Prescient__LatencyHistogram *m);
/* Adds the counts of @m to @h (both encodings). -EBADMSG if a bucket index is out of
 * range or the arrays differ in length; @h may then hold part of @m. */
int psc_wire_hist_add(struct psc_hist *h, const Prescient__LatencyHistogram *m);

/* Sender-side string dictionary (endpoint and cgroup strings are most of a report's
 * bytes). A string gets a ref (1, 2, ...) within an epoch. The definition (the string
 * itself) travels in every report until one report that carried it is acknowledged,
 * which means the aggregator committed it; later reports carry only the ref. After an
 * Ack with status RESEND_DICT, psc_wire_dict_forget() makes every string travel again.
 * Bounded: past PSC_WIRE_DICT_MAX strings, psc_wire_dict_use() says -ENOSPC and the
 * caller sends the string inline (ref 0) or starts a new epoch. */
#define PSC_WIRE_DICT_MAX 65536

struct psc_wire_dict;

/* @epoch: nonzero; 0 picks a random one. */
int psc_wire_dict_new(struct psc_wire_dict **out, uint64_t epoch);
void psc_wire_dict_free(struct psc_wire_dict **d);
uint64_t psc_wire_dict_epoch(const struct psc_wire_dict *d);
size_t psc_wire_dict_size(const struct psc_wire_dict *d);
/* The ref of @key (any bytes, @len long) for the report @seq being built; *define says
 * whether this report must carry the definition. Errors: -ENOMEM, -ENOSPC. */
int psc_wire_dict_use(struct psc_wire_dict *d, const void *key, size_t len, uint64_t seq,
		      uint32_t *ref, bool *define);
/* The report @seq was acknowledged (OK or DUPLICATE). */
void psc_wire_dict_acked(struct psc_wire_dict *d, uint64_t seq);
void psc_wire_dict_forget(struct psc_wire_dict *d);

/* Applies @d to a report about to be encoded as @r->seq: sets dict_epoch and every
 * workload's and endpoint's ref, and replaces the strings of already acknowledged
 * definitions by the empty string. The replaced pointers are not freed: the caller must
 * own its strings elsewhere (or not free them through @r). A string the dictionary cannot
 * take (-ENOSPC) stays inline with ref 0. Returns 0 or -ENOMEM. */
int psc_wire_report_apply_dict(Prescient__HostReport *r, struct psc_wire_dict *d);
