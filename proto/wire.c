// SPDX-License-Identifier: MIT
#include "wire.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cleanup.h"
#include "hashmap.h"

_Static_assert(PSC_FLEET_KEY_BYTES == crypto_secretbox_KEYBYTES, "fleet key size");
_Static_assert(PSC_WIRE_NONCE_SIZE == crypto_secretbox_NONCEBYTES, "nonce size");
_Static_assert(PSC_WIRE_MAC_SIZE == crypto_secretbox_MACBYTES, "mac size");
_Static_assert(PSC_SIGN_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "pk size");
_Static_assert(PSC_SIGN_SK_BYTES == crypto_sign_SECRETKEYBYTES, "sk size");
_Static_assert(PSC_SIGNATURE_BYTES == crypto_sign_BYTES, "signature size");

#define MAGIC0 'P'
#define MAGIC1 'S'
#define CODEC_STORED 0
#define CODEC_DEFLATE 1
#define HOST_ID_MAX 255

static const char *const reason_names[_PSC_REFUSE_MAX] = {
	[PSC_REFUSE_NONE] = "none",
	[PSC_REFUSE_BAD_KEY] = "bad_key",
	[PSC_REFUSE_CORRUPT] = "corrupt",
	[PSC_REFUSE_OVERSIZED] = "oversized",
	[PSC_REFUSE_BOMB] = "bomb",
	[PSC_REFUSE_VERSION] = "version",
	[PSC_REFUSE_DUPLICATE] = "duplicate",
	[PSC_REFUSE_STALE] = "stale",
	[PSC_REFUSE_UNKNOWN_REF] = "unknown_ref",
	[PSC_REFUSE_STORE] = "store",
};

const char *psc_wire_reason_name(enum psc_wire_reason r)
{
	if ((unsigned)r >= _PSC_REFUSE_MAX)
		return NULL;
	return reason_names[r];
}

enum psc_wire_reason psc_wire_reason_from_errno(int r)
{
	switch (r) {
	case 0:
		return PSC_REFUSE_NONE;
	case -EKEYREJECTED:
		return PSC_REFUSE_BAD_KEY;
	case -EBADMSG:
		return PSC_REFUSE_CORRUPT;
	case -EMSGSIZE:
		return PSC_REFUSE_OVERSIZED;
	case -EFBIG:
		return PSC_REFUSE_BOMB;
	case -EPROTONOSUPPORT:
		return PSC_REFUSE_VERSION;
	default:
		return PSC_REFUSE_STORE;
	}
}

struct psc_wire_limits psc_wire_limits_default(void)
{
	return (struct psc_wire_limits){
		.max_frame = PSC_WIRE_DEFAULT_MAX_FRAME,
		.max_inflated = PSC_WIRE_DEFAULT_MAX_INFLATED,
	};
}

/* sodium_init() is idempotent and thread-safe; it fails only without an entropy source. */
static int crypto_ready(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Bodies shorter than this are stored: deflate saves them a few bytes at best, and its
 * set-up (~400 KB of state allocated and cleared per call) was a tenth of the aggregator's
 * CPU per report when it ran for every ~30-byte ack. */
#define DEFLATE_MIN 128

/* Raw deflate (no zlib header or checksum: the MAC already covers integrity). Returns the
 * deflated size, or 0 if it would not be smaller than @len (the caller stores it). */
static size_t deflate_into(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	z_stream zs = { 0 };
	size_t n = 0;

	if (len < DEFLATE_MIN ||
	    deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) == Z_STREAM_END)
		n = zs.total_out;
	deflateEnd(&zs);
	return n < len ? n : 0;
}

int psc_wire_seal(enum psc_wire_kind kind, const uint8_t *plain, size_t len,
		  const uint8_t key[PSC_FLEET_KEY_BYTES], uint8_t **frame, size_t *frame_len)
{
	_cleanup_free_ uint8_t *inner = NULL;
	size_t body, inner_len;
	uint8_t *out;
	int r;

	if (kind != PSC_WIRE_REPORT && kind != PSC_WIRE_ACK)
		return -EINVAL;
	if (len > UINT32_MAX)
		return -EINVAL;
	r = crypto_ready();
	if (r < 0)
		return r;
	inner = malloc(PSC_WIRE_INNER_SIZE + len + 1);
	if (!inner)
		return -ENOMEM;
	inner[0] = (uint8_t)kind;
	put_le32(inner + 2, (uint32_t)len);
	body = deflate_into(plain, len, inner + PSC_WIRE_INNER_SIZE, len);
	if (body) {
		inner[1] = CODEC_DEFLATE;
	} else {
		inner[1] = CODEC_STORED;
		if (len)
			memcpy(inner + PSC_WIRE_INNER_SIZE, plain, len);
		body = len;
	}
	inner_len = PSC_WIRE_INNER_SIZE + body;

	out = malloc(PSC_WIRE_HEADER_SIZE + PSC_WIRE_NONCE_SIZE + PSC_WIRE_MAC_SIZE + inner_len);
	if (!out)
		return -ENOMEM;
	out[0] = MAGIC0;
	out[1] = MAGIC1;
	out[2] = PSC_WIRE_VERSION;
	out[3] = (uint8_t)kind;
	randombytes_buf(out + PSC_WIRE_HEADER_SIZE, PSC_WIRE_NONCE_SIZE);
	crypto_secretbox_easy(out + PSC_WIRE_HEADER_SIZE + PSC_WIRE_NONCE_SIZE, inner, inner_len,
			      out + PSC_WIRE_HEADER_SIZE, key);
	*frame = out;
	*frame_len = PSC_WIRE_HEADER_SIZE + PSC_WIRE_NONCE_SIZE + PSC_WIRE_MAC_SIZE + inner_len;
	return 0;
}

int psc_wire_frame_kind(const uint8_t *frame, size_t len)
{
	if (len < PSC_WIRE_HEADER_SIZE || frame[0] != MAGIC0 || frame[1] != MAGIC1)
		return -EBADMSG;
	if (frame[2] != PSC_WIRE_VERSION)
		return -EPROTONOSUPPORT;
	if (frame[3] == 0 || frame[3] >= _PSC_WIRE_KIND_MAX)
		return -EPROTONOSUPPORT;
	return frame[3];
}

/* A raw-inflate state, set up on first use and reset for each later frame: inflateInit2()
 * allocates ~7 KB and the window (32 KB) is allocated by the first inflate(), so a decoder
 * that keeps one pays for them once. */
struct inflater {
	z_stream zs;
	bool ready;
};

static void inflater_end(struct inflater *in)
{
	if (in->ready)
		inflateEnd(&in->zs);
	in->ready = false;
}

/* Inflates exactly @want bytes of raw deflate. */
static int inflate_exact(struct inflater *in, const uint8_t *src, size_t len, uint8_t *out,
			 size_t want)
{
	z_stream *zs = &in->zs;
	int zr;

	if (!in->ready) {
		memset(zs, 0, sizeof(*zs));
		if (inflateInit2(zs, -15) != Z_OK)
			return -ENOMEM;
		in->ready = true;
	} else if (inflateReset(zs) != Z_OK) {
		return -ENOMEM;
	}
	zs->next_in = (Bytef *)src;
	zs->avail_in = (uInt)len;
	zs->next_out = out;
	zs->avail_out = (uInt)want;
	zr = inflate(zs, Z_FINISH);
	/* Exactly @want bytes and the end of the stream, with no input left over: anything
	 * else (a stream that wants to go on, a short one, trailing bytes) is corrupt. */
	if (zr != Z_STREAM_END || zs->total_out != want || zs->avail_in != 0)
		return -EBADMSG;
	return 0;
}

/* Buffers of psc_wire_open(): grown as frames need, kept by a decoder between frames. */
struct open_bufs {
	uint8_t *inner, *msg;
	size_t inner_cap, msg_cap;
};

static int reserve(uint8_t **p, size_t *cap, size_t need)
{
	uint8_t *q;

	if (need <= *cap && *p)
		return 0;
	q = realloc(*p, need ? need : 1);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = need;
	return 0;
}

/* psc_wire_open() into @b with the inflate state @zs: *plain points into b->inner (stored)
 * or b->msg (deflated), valid until @b changes. */
static int open_into(const uint8_t *frame, size_t len, enum psc_wire_kind kind, const uint8_t *key,
		     const struct psc_wire_limits *lim, struct open_bufs *b, struct inflater *zs,
		     const uint8_t **plain, size_t *plain_len)
{
	const size_t pre = PSC_WIRE_HEADER_SIZE + PSC_WIRE_NONCE_SIZE;
	size_t inner_len, want;
	uint8_t *inner;
	int r;

	if (len > lim->max_frame)
		return -EMSGSIZE;
	r = psc_wire_frame_kind(frame, len);
	if (r < 0)
		return r;
	if (r != (int)kind)
		return -EPROTONOSUPPORT;
	if (len < pre + PSC_WIRE_MAC_SIZE + PSC_WIRE_INNER_SIZE)
		return -EBADMSG;
	r = crypto_ready();
	if (r < 0)
		return r;
	inner_len = len - pre - PSC_WIRE_MAC_SIZE;
	if (reserve(&b->inner, &b->inner_cap, inner_len) < 0)
		return -ENOMEM;
	inner = b->inner;
	if (crypto_secretbox_open_easy(inner, frame + pre, len - pre, frame + PSC_WIRE_HEADER_SIZE,
				       key) != 0)
		return -EKEYREJECTED;
	/* Authentic from here on, but still not trusted: a holder of the fleet key (any
	 * host) may send anything. */
	if (inner[0] != (uint8_t)kind)
		return -EBADMSG;
	want = get_le32(inner + 2);
	if (want > lim->max_inflated)
		return -EFBIG;
	switch (inner[1]) {
	case CODEC_STORED:
		if (inner_len - PSC_WIRE_INNER_SIZE != want)
			return -EBADMSG;
		*plain = inner + PSC_WIRE_INNER_SIZE;
		break;
	case CODEC_DEFLATE:
		if (reserve(&b->msg, &b->msg_cap, want) < 0)
			return -ENOMEM;
		r = inflate_exact(zs, inner + PSC_WIRE_INNER_SIZE, inner_len - PSC_WIRE_INNER_SIZE,
				  b->msg, want);
		if (r < 0)
			return r;
		*plain = b->msg;
		break;
	default:
		return -EBADMSG;
	}
	*plain_len = want;
	return 0;
}

int psc_wire_open(const uint8_t *frame, size_t len, enum psc_wire_kind kind,
		  const uint8_t key[PSC_FLEET_KEY_BYTES], const struct psc_wire_limits *lim,
		  uint8_t **plain, size_t *plain_len)
{
	struct psc_wire_limits def = psc_wire_limits_default();
	struct open_bufs b = { 0 };
	struct inflater zs = { 0 };
	const uint8_t *p = NULL;
	size_t n = 0;
	int r;

	r = open_into(frame, len, kind, key, lim ? lim : &def, &b, &zs, &p, &n);
	inflater_end(&zs);
	if (r == 0 && p != b.msg) {
		/* stored: the body is inside the inner buffer; hand that over */
		memmove(b.inner, p, n);
		free(b.msg);
		b.msg = b.inner;
		b.inner = NULL;
	}
	free(b.inner);
	if (r < 0) {
		free(b.msg);
		return r;
	}
	*plain = b.msg;
	*plain_len = n;
	return 0;
}

void psc_wire_refusal(enum psc_wire_reason reason, uint8_t out[PSC_WIRE_REFUSAL_SIZE])
{
	out[0] = MAGIC0;
	out[1] = MAGIC1;
	out[2] = PSC_WIRE_VERSION;
	out[3] = PSC_WIRE_REFUSAL;
	out[4] = (uint8_t)reason;
}

int psc_wire_refusal_reason(const uint8_t *frame, size_t len)
{
	if (len != PSC_WIRE_REFUSAL_SIZE || psc_wire_frame_kind(frame, len) != PSC_WIRE_REFUSAL)
		return -EBADMSG;
	return frame[4];
}

/* --- messages --- */

static int pack_seal(enum psc_wire_kind kind, const ProtobufCMessage *m, const uint8_t *key,
		     uint8_t **frame, size_t *frame_len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	_cleanup_free_ uint8_t *buf = malloc(n ? n : 1);

	if (!buf)
		return -ENOMEM;
	if (protobuf_c_message_pack(m, buf) != n)
		return -EINVAL;
	return psc_wire_seal(kind, buf, n, key, frame, frame_len);
}

static bool finite_nonneg(double v)
{
	return isfinite(v) && v >= 0;
}

static bool hist_ok(const Prescient__LatencyHistogram *h)
{
	if (!h)
		return true;
	if (h->n_bucket != h->n_count)
		return false;
	for (size_t i = 0; i < h->n_bucket; i++)
		if (h->bucket[i] >= PSC_HIST_BUCKETS)
			return false;
	if (h->first_bucket > PSC_HIST_BUCKETS ||
	    h->n_run_counts > (size_t)(PSC_HIST_BUCKETS - h->first_bucket) ||
	    h->n_run_deltas > (size_t)(PSC_HIST_BUCKETS - h->first_bucket))
		return false;
	/* A delta run must never go negative. */
	int64_t v = 0;
	for (size_t i = 0; i < h->n_run_deltas; i++) {
		if (__builtin_add_overflow(v, h->run_deltas[i], &v) || v < 0)
			return false;
	}
	return true;
}

static bool host_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > HOST_ID_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool report_ok(const Prescient__HostReport *r)
{
	if (!host_id_ok(r->host_id))
		return false;
	if (!finite_nonneg(r->window_start) || !finite_nonneg(r->window_end) ||
	    r->window_end < r->window_start)
		return false;
	for (size_t i = 0; i < r->n_workloads; i++) {
		const Prescient__WorkloadWindow *w = r->workloads[i];

		if ((w->ref && !r->dict_epoch) || (!w->ref && !w->cgroup[0]))
			return false;
		if (!finite_nonneg(w->cpu_s) || !finite_nonneg(w->cpu_throttled_s) ||
		    !finite_nonneg(w->psi_cpu_some) || !finite_nonneg(w->psi_mem_some) ||
		    !finite_nonneg(w->psi_io_some))
			return false;
		if (!hist_ok(w->session_ms))
			return false;
		for (size_t j = 0; j < w->n_endpoints; j++) {
			const Prescient__EndpointStats *e = w->endpoints[j];

			if (e->ref && !r->dict_epoch)
				return false;
			if (!hist_ok(e->latency_us))
				return false;
		}
	}
	for (size_t i = 0; i < r->n_outcomes; i++)
		if (!isfinite(r->outcomes[i]->at))
			return false;
	return true;
}

static int open_unpack(const uint8_t *frame, size_t len, enum psc_wire_kind kind,
		       const uint8_t *key, const struct psc_wire_limits *lim,
		       const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	_cleanup_free_ uint8_t *plain = NULL;
	size_t n;
	int r;

	r = psc_wire_open(frame, len, kind, key, lim, &plain, &n);
	if (r < 0)
		return r;
	*out = protobuf_c_message_unpack(desc, NULL, n, plain);
	return *out ? 0 : -EBADMSG;
}

int psc_wire_report_encode(const Prescient__HostReport *r, const uint8_t key[PSC_FLEET_KEY_BYTES],
			   uint8_t **frame, size_t *frame_len)
{
	return pack_seal(PSC_WIRE_REPORT, &r->base, key, frame, frame_len);
}

int psc_wire_report_decode(const uint8_t *frame, size_t len, const uint8_t key[PSC_FLEET_KEY_BYTES],
			   const struct psc_wire_limits *lim, Prescient__HostReport **out)
{
	ProtobufCMessage *m = NULL;
	int r;

	r = open_unpack(frame, len, PSC_WIRE_REPORT, key, lim, &prescient__host_report__descriptor,
			&m);
	if (r < 0)
		return r;
	if (!report_ok((Prescient__HostReport *)m)) {
		protobuf_c_message_free_unpacked(m, NULL);
		return -EBADMSG;
	}
	*out = (Prescient__HostReport *)m;
	return 0;
}

void psc_wire_report_free(Prescient__HostReport **r)
{
	if (*r)
		prescient__host_report__free_unpacked(*r, NULL);
	*r = NULL;
}

/* --- report decoder: buffers, inflate state and an arena kept between frames --- */

/* The first arena chunk; later ones double, so a report of any size takes a few chunks
 * once and one chunk (the last, largest) from then on. */
#define ARENA_MIN (16u << 10)

struct arena_chunk {
	struct arena_chunk *next; /* older, smaller chunks */
	size_t cap, used;
	_Alignas(16) unsigned char data[];
};

struct psc_wire_decoder {
	ProtobufCAllocator alloc; /* arena_alloc / arena_free on this decoder */
	struct arena_chunk *chunks;
	size_t keep;
	struct open_bufs bufs;
	struct inflater zs;
};

static void *arena_alloc(void *ctx, size_t size)
{
	struct psc_wire_decoder *d = ctx;
	struct arena_chunk *c = d->chunks;
	void *p;

	if (size > SIZE_MAX / 4)
		return NULL;
	size = (size + 15) & ~(size_t)15;
	if (!c || c->cap - c->used < size) {
		size_t cap = c && c->cap <= SIZE_MAX / 4 ? c->cap * 2 : ARENA_MIN;

		if (cap < size)
			cap = size;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = d->chunks;
		d->chunks = c;
	}
	p = c->data + c->used;
	c->used += size;
	return p;
}

/* Everything goes at once, in arena_reset(). */
static void arena_free(void *ctx, void *p)
{
	(void)ctx;
	(void)p;
}

/* Empties the arena for the next frame: keeps its largest chunk if that is within @keep,
 * gives everything else back. */
static void arena_reset(struct psc_wire_decoder *d, size_t keep)
{
	struct arena_chunk *c = d->chunks, *n;

	if (!c)
		return;
	for (struct arena_chunk *x = c->next; x; x = n) {
		n = x->next;
		free(x);
	}
	c->next = NULL;
	c->used = 0;
	if (c->cap > keep) {
		free(c);
		d->chunks = NULL;
	}
}

static void bufs_trim(struct open_bufs *b, size_t keep)
{
	if (b->inner_cap > keep) {
		free(b->inner);
		b->inner = NULL;
		b->inner_cap = 0;
	}
	if (b->msg_cap > keep) {
		free(b->msg);
		b->msg = NULL;
		b->msg_cap = 0;
	}
}

int psc_wire_decoder_new(struct psc_wire_decoder **out, size_t keep)
{
	struct psc_wire_decoder *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->alloc.alloc = arena_alloc;
	d->alloc.free = arena_free;
	d->alloc.allocator_data = d;
	d->keep = keep ? keep : PSC_WIRE_DECODER_KEEP;
	*out = d;
	return 0;
}

void psc_wire_decoder_free(struct psc_wire_decoder **dp)
{
	struct psc_wire_decoder *d = *dp;

	if (!d)
		return;
	arena_reset(d, 0);
	bufs_trim(&d->bufs, 0);
	inflater_end(&d->zs);
	free(d);
	*dp = NULL;
}

int psc_wire_decoder_report(struct psc_wire_decoder *d, const uint8_t *frame, size_t len,
			    const uint8_t key[PSC_FLEET_KEY_BYTES],
			    const struct psc_wire_limits *lim, const Prescient__HostReport **out)
{
	struct psc_wire_limits def = psc_wire_limits_default();
	Prescient__HostReport *m;
	const uint8_t *plain;
	size_t n;
	int r;

	/* The previous report goes; what a large one grew is given back. */
	arena_reset(d, d->keep);
	bufs_trim(&d->bufs, d->keep);
	r = open_into(frame, len, PSC_WIRE_REPORT, key, lim ? lim : &def, &d->bufs, &d->zs, &plain,
		      &n);
	if (r < 0)
		return r;
	m = prescient__host_report__unpack(&d->alloc, n, plain);
	if (!m || !report_ok(m))
		return -EBADMSG;
	*out = m;
	return 0;
}

int psc_wire_ack_encode(const Prescient__Ack *a, const uint8_t key[PSC_FLEET_KEY_BYTES],
			uint8_t **frame, size_t *frame_len)
{
	return pack_seal(PSC_WIRE_ACK, &a->base, key, frame, frame_len);
}

int psc_wire_ack_decode(const uint8_t *frame, size_t len, const uint8_t key[PSC_FLEET_KEY_BYTES],
			const struct psc_wire_limits *lim, Prescient__Ack **out)
{
	ProtobufCMessage *m = NULL;
	int r;

	r = open_unpack(frame, len, PSC_WIRE_ACK, key, lim, &prescient__ack__descriptor, &m);
	if (r < 0)
		return r;
	*out = (Prescient__Ack *)m;
	return 0;
}

void psc_wire_ack_free(Prescient__Ack **a)
{
	if (*a)
		prescient__ack__free_unpacked(*a, NULL);
	*a = NULL;
}

/* --- adjustments --- */

int psc_wire_adjustment_sign(const Prescient__Adjustment *adj, const uint8_t sk[PSC_SIGN_SK_BYTES],
			     Prescient__SignedAdjustment *out)
{
	size_t n = prescient__adjustment__get_packed_size(adj);
	_cleanup_free_ uint8_t *msg = malloc(n ? n : 1);
	_cleanup_free_ uint8_t *sig = malloc(PSC_SIGNATURE_BYTES);
	int r;

	if (!msg || !sig)
		return -ENOMEM;
	r = crypto_ready();
	if (r < 0)
		return r;
	prescient__adjustment__pack(adj, msg);
	crypto_sign_detached(sig, NULL, msg, n, sk);
	prescient__signed_adjustment__init(out);
	out->adjustment.data = TAKE_PTR(msg);
	out->adjustment.len = n;
	out->signature.data = TAKE_PTR(sig);
	out->signature.len = PSC_SIGNATURE_BYTES;
	return 0;
}

void psc_wire_signed_clear(Prescient__SignedAdjustment *s)
{
	free(s->adjustment.data);
	free(s->signature.data);
	s->adjustment.data = s->signature.data = NULL;
	s->adjustment.len = s->signature.len = 0;
}

int psc_wire_adjustment_verify(const Prescient__SignedAdjustment *s,
			       const uint8_t pk[PSC_SIGN_PK_BYTES], const char *host_id, double now,
			       uint64_t last_id, Prescient__Adjustment **out)
{
	Prescient__Adjustment *a;
	int r;

	if (s->signature.len != PSC_SIGNATURE_BYTES)
		return -EBADMSG;
	r = crypto_ready();
	if (r < 0)
		return r;
	if (crypto_sign_verify_detached(s->signature.data, s->adjustment.data, s->adjustment.len,
					pk) != 0)
		return -EKEYREJECTED;
	a = prescient__adjustment__unpack(NULL, s->adjustment.len, s->adjustment.data);
	if (!a)
		return -EBADMSG;
	if (strcmp(a->host_id, host_id) != 0)
		r = -EXDEV;
	else if (!isfinite(a->expires_at) || a->expires_at <= now)
		r = -ETIME;
	else if (a->id <= last_id)
		r = -EALREADY;
	if (r < 0) {
		prescient__adjustment__free_unpacked(a, NULL);
		return r;
	}
	*out = a;
	return 0;
}

/* --- histograms --- */

void psc_wire_hist_clear(Prescient__LatencyHistogram *m)
{
	free(m->bucket);
	free(m->count);
	free(m->run_counts);
	free(m->run_deltas);
	prescient__latency_histogram__init(m);
}

static size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

int psc_wire_hist_fill(Prescient__LatencyHistogram *m, const struct psc_hist *h)
{
	unsigned lo = PSC_HIST_BUCKETS, hi = 0;
	size_t nz = 0, sparse = 0, dense = 0, delta = 0;

	prescient__latency_histogram__init(m);
	m->max = h->max;
	for (unsigned i = 0; i < PSC_HIST_BUCKETS; i++) {
		if (!h->counts[i])
			continue;
		if (lo == PSC_HIST_BUCKETS)
			lo = i;
		hi = i;
		nz++;
		sparse += varint_size(i) + varint_size(h->counts[i]);
	}
	if (!nz)
		return 0;
	for (unsigned i = lo; i <= hi; i++) {
		dense += varint_size(h->counts[i]);
		delta += varint_size(zigzag((int64_t)h->counts[i] -
					    (int64_t)(i > lo ? h->counts[i - 1] : 0)));
	}
	dense += varint_size(lo);
	delta += varint_size(lo);
	if (delta < dense && delta < sparse) {
		m->run_deltas = calloc(hi - lo + 1, sizeof(*m->run_deltas));
		if (!m->run_deltas)
			return -ENOMEM;
		m->first_bucket = lo;
		m->n_run_deltas = hi - lo + 1;
		for (unsigned i = lo; i <= hi; i++)
			m->run_deltas[i - lo] =
				(int64_t)h->counts[i] - (int64_t)(i > lo ? h->counts[i - 1] : 0);
		return 0;
	}
	if (dense <= sparse) {
		m->run_counts = calloc(hi - lo + 1, sizeof(*m->run_counts));
		if (!m->run_counts)
			return -ENOMEM;
		m->first_bucket = lo;
		m->n_run_counts = hi - lo + 1;
		for (unsigned i = lo; i <= hi; i++)
			m->run_counts[i - lo] = h->counts[i];
		return 0;
	}
	m->bucket = calloc(nz, sizeof(*m->bucket));
	m->count = calloc(nz, sizeof(*m->count));
	if (!m->bucket || !m->count) {
		psc_wire_hist_clear(m);
		return -ENOMEM;
	}
	for (unsigned i = lo; i <= hi; i++) {
		if (!h->counts[i])
			continue;
		m->bucket[m->n_bucket] = i;
		m->count[m->n_bucket++] = h->counts[i];
	}
	m->n_count = m->n_bucket;
	return 0;
}

static void hist_bump(struct psc_hist *h, unsigned idx, uint64_t n)
{
	uint64_t c = (uint64_t)h->counts[idx] + n;

	h->counts[idx] = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
	h->total += n;
}

int psc_wire_hist_add(struct psc_hist *h, const Prescient__LatencyHistogram *m)
{
	if (!hist_ok(m))
		return -EBADMSG;
	for (size_t i = 0; i < m->n_bucket; i++)
		hist_bump(h, m->bucket[i], m->count[i]);
	for (size_t i = 0; i < m->n_run_counts; i++)
		hist_bump(h, m->first_bucket + (unsigned)i, m->run_counts[i]);
	int64_t v = 0;
	for (size_t i = 0; i < m->n_run_deltas; i++) {
		v += m->run_deltas[i];
		hist_bump(h, m->first_bucket + (unsigned)i, (uint64_t)v);
	}
	if (m->max > h->max)
		h->max = m->max;
	return 0;
}

/* --- dictionary --- */

struct dict_entry {
	struct dict_entry *next; /* same hash */
	uint32_t ref;
	bool known;	  /* acknowledged: send the ref only */
	uint64_t def_seq; /* last report that carried the definition */
	size_t len;
	uint8_t key[];
};

struct psc_wire_dict {
	uint64_t epoch;
	uint32_t next_ref;
	struct psc_hashmap *map; /* hash -> chain of struct dict_entry */
};

int psc_wire_dict_new(struct psc_wire_dict **out, uint64_t epoch)
{
	struct psc_wire_dict *d;
	int r;

	r = crypto_ready();
	if (r < 0)
		return r;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	r = psc_hashmap_new(&d->map);
	if (r < 0) {
		free(d);
		return r;
	}
	while (!epoch)
		randombytes_buf(&epoch, sizeof(epoch));
	d->epoch = epoch;
	d->next_ref = 1;
	*out = d;
	return 0;
}

void psc_wire_dict_free(struct psc_wire_dict **dp)
{
	struct psc_wire_dict *d = *dp;
	size_t it = 0;
	uint64_t key;
	void *v;

	if (!d)
		return;
	while (psc_hashmap_next(d->map, &it, &key, &v)) {
		for (struct dict_entry *e = v, *n; e; e = n) {
			n = e->next;
			free(e);
		}
	}
	psc_hashmap_free(&d->map);
	free(d);
	*dp = NULL;
}

uint64_t psc_wire_dict_epoch(const struct psc_wire_dict *d)
{
	return d->epoch;
}

size_t psc_wire_dict_size(const struct psc_wire_dict *d)
{
	return d->next_ref - 1;
}

int psc_wire_dict_use(struct psc_wire_dict *d, const void *key, size_t len, uint64_t seq,
		      uint32_t *ref, bool *define)
{
	uint64_t h = psc_hash_bytes(key, len, d->epoch);
	struct dict_entry *head = psc_hashmap_get(d->map, h), *e;
	int r;

	for (e = head; e; e = e->next)
		if (e->len == len && memcmp(e->key, key, len) == 0)
			break;
	if (!e) {
		if (d->next_ref > PSC_WIRE_DICT_MAX)
			return -ENOSPC;
		e = calloc(1, sizeof(*e) + len);
		if (!e)
			return -ENOMEM;
		memcpy(e->key, key, len);
		e->len = len;
		e->ref = d->next_ref;
		e->next = head;
		r = psc_hashmap_put(d->map, h, e);
		if (r < 0) {
			free(e);
			return r;
		}
		d->next_ref++;
	}
	*ref = e->ref;
	*define = !e->known;
	if (!e->known)
		e->def_seq = seq;
	return 0;
}

static void dict_walk(struct psc_wire_dict *d, uint64_t seq, bool forget)
{
	size_t it = 0;
	uint64_t key;
	void *v;

	while (psc_hashmap_next(d->map, &it, &key, &v)) {
		for (struct dict_entry *e = v; e; e = e->next) {
			if (forget)
				e->known = false;
			else if (!e->known && e->def_seq == seq)
				e->known = true;
		}
	}
}

void psc_wire_dict_acked(struct psc_wire_dict *d, uint64_t seq)
{
	dict_walk(d, seq, false);
}

void psc_wire_dict_forget(struct psc_wire_dict *d)
{
	dict_walk(d, 0, true);
}

/* Dictionary keys: a kind byte and the strings separated by 0x1f (unit separator), which
 * none of them contains in practice; an ambiguity would only cost a wrong ref collision
 * between two different string tuples, so the separator is also length-prefixed. */
static int key_append(char *buf, size_t cap, size_t *off, const char *s)
{
	size_t n = strlen(s);

	if (*off + 4 + n > cap)
		return -ENOSPC;
	put_le32((uint8_t *)buf + *off, (uint32_t)n);
	memcpy(buf + *off + 4, s, n);
	*off += 4 + n;
	return 0;
}

static const char empty_string[] = "";

int psc_wire_report_apply_dict(Prescient__HostReport *r, struct psc_wire_dict *d)
{
	char key[1024];
	bool define;
	uint32_t ref;
	size_t off;
	int e;

	r->dict_epoch = d->epoch;
	for (size_t i = 0; i < r->n_workloads; i++) {
		Prescient__WorkloadWindow *w = r->workloads[i];

		off = 1;
		key[0] = 'W';
		w->ref = 0;
		if (w->cgroup[0] && key_append(key, sizeof(key), &off, w->cgroup) == 0 &&
		    key_append(key, sizeof(key), &off, w->name) == 0) {
			e = psc_wire_dict_use(d, key, off, r->seq, &ref, &define);
			if (e == -ENOMEM)
				return e;
			if (e == 0) {
				w->ref = ref;
				if (!define) {
					w->cgroup = (char *)empty_string;
					w->name = (char *)empty_string;
				}
			}
		}
		for (size_t j = 0; j < w->n_endpoints; j++) {
			Prescient__EndpointStats *ep = w->endpoints[j];

			off = 1;
			key[0] = 'E';
			ep->ref = 0;
			if (!ep->endpoint[0]) /* an empty endpoint would read as a reference */
				continue;
			if (key_append(key, sizeof(key), &off, ep->protocol) ||
			    key_append(key, sizeof(key), &off, ep->role) ||
			    key_append(key, sizeof(key), &off, ep->endpoint))
				continue;
			e = psc_wire_dict_use(d, key, off, r->seq, &ref, &define);
			if (e == -ENOMEM)
				return e;
			if (e < 0)
				continue;
			ep->ref = ref;
			if (!define) {
				ep->protocol = (char *)empty_string;
				ep->role = (char *)empty_string;
				ep->endpoint = (char *)empty_string;
			}
		}
	}
	return 0;
}
