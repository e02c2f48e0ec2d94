// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static uint8_t key[PSC_FLEET_KEY_BYTES];

/* A report with two workloads of two endpoints each, every histogram filled. */
struct fixture {
	Prescient__HostReport r;
	Prescient__WorkloadWindow w[2], *wp[2];
	Prescient__EndpointStats e[4], *ep[4];
	Prescient__LatencyHistogram lh[4];
	struct psc_hist h[4];
};

static const char *const names[4] = { "GET /a/{id}", "POST /b", "SELECT * FROM t WHERE id = ?",
				      "GET" };

static void fixture_init(struct fixture *f, uint64_t seq)
{
	memset(f, 0, sizeof(*f));
	prescient__host_report__init(&f->r);
	f->r.schema_version = PSC_WIRE_SCHEMA_VERSION;
	f->r.host_id = "host-a";
	f->r.agent_version = "test";
	f->r.seq = seq;
	f->r.window_start = 1700000000.0 + 10.0 * (double)seq;
	f->r.window_end = f->r.window_start + 10;
	f->r.workloads = f->wp;
	f->r.n_workloads = 2;
	for (int w = 0; w < 2; w++) {
		prescient__workload_window__init(&f->w[w]);
		f->wp[w] = &f->w[w];
		f->w[w].cgroup = w ? "/system.slice/b.service" : "/system.slice/a.service";
		f->w[w].name = w ? "b.service" : "a.service";
		f->w[w].cpu_s = 1.5 + w;
		f->w[w].mem_bytes = 1000000u * (w + 1);
		f->w[w].endpoints = &f->ep[2 * w];
		f->w[w].n_endpoints = 2;
	}
	for (int i = 0; i < 4; i++) {
		prescient__endpoint_stats__init(&f->e[i]);
		f->ep[i] = &f->e[i];
		f->e[i].protocol = i == 2 ? "postgres" : "http";
		f->e[i].role = "server";
		f->e[i].endpoint = (char *)names[i];
		f->e[i].count = 100 + (uint64_t)i;
		f->e[i].bytes_in = 1000 * (uint64_t)i;
		psc_hist_reset(&f->h[i]);
		for (uint64_t v = 0; v < f->e[i].count; v++)
			psc_hist_add(&f->h[i], 50 + v * (uint64_t)(i + 1) * 13);
		assert_int_equal(psc_wire_hist_fill(&f->lh[i], &f->h[i]), 0);
		f->e[i].latency_us = &f->lh[i];
	}
}

static void fixture_clear(struct fixture *f)
{
	for (int i = 0; i < 4; i++)
		psc_wire_hist_clear(&f->lh[i]);
}

static int setup(void **state)
{
	assert_true(sodium_init() >= 0);
	randombytes_buf(key, sizeof(key));
	return 0;
}

static void report_round_trip(void **state)
{
	struct fixture f;
	Prescient__HostReport *d = NULL;
	uint8_t *frame;
	size_t len;

	fixture_init(&f, 7);
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame, &len), 0);
	assert_int_equal(psc_wire_frame_kind(frame, len), PSC_WIRE_REPORT);
	assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &d), 0);
	assert_string_equal(d->host_id, "host-a");
	assert_int_equal(d->seq, 7);
	assert_int_equal(d->n_workloads, 2);
	assert_string_equal(d->workloads[1]->cgroup, "/system.slice/b.service");
	assert_true(fabs(d->workloads[1]->cpu_s - 2.5) < 1e-12);
	for (int i = 0; i < 4; i++) {
		const Prescient__EndpointStats *e = d->workloads[i / 2]->endpoints[i % 2];
		struct psc_hist h;

		assert_string_equal(e->endpoint, names[i]);
		assert_int_equal(e->count, 100 + i);
		psc_hist_reset(&h);
		assert_int_equal(psc_wire_hist_add(&h, e->latency_us), 0);
		assert_memory_equal(h.counts, f.h[i].counts, sizeof(h.counts));
		assert_int_equal(h.total, f.h[i].total);
		assert_int_equal(h.max, f.h[i].max);
	}
	psc_wire_report_free(&d);
	assert_null(d);
	free(frame);
	fixture_clear(&f);
}

/* Packs @r and compares with @want (the serialised original). */
static void assert_packs_to(const Prescient__HostReport *r, const uint8_t *want, size_t n)
{
	uint8_t *buf = malloc(n + 1);

	assert_non_null(buf);
	assert_int_equal(prescient__host_report__get_packed_size(r), n);
	assert_int_equal(prescient__host_report__pack(r, buf), n);
	assert_memory_equal(buf, want, n);
	free(buf);
}

/* The aggregator's decoder gives what psc_wire_report_decode() gives, frame after frame,
 * small (stored) and large (deflated, past the kept arena and buffers), and after refusals
 * that left its inflate state mid-stream. */
static void decoder_matches_one_shot_decode(void **state)
{
	struct psc_wire_decoder *dec = NULL;
	const Prescient__HostReport *d;
	Prescient__HostReport *one = NULL;
	Prescient__EndpointStats **many;
	struct fixture f;
	uint8_t *frame[4], *plain;
	size_t len[4], n;

	fixture_init(&f, 3);
	/* frame 0: the fixture; 1: 3000 endpoints (~120 kB unpacked); 2: no workloads
	 * (stored, not deflated); 3: the fixture again after the large one */
	many = calloc(3000, sizeof(*many));
	assert_non_null(many);
	for (int i = 0; i < 3000; i++)
		many[i] = &f.e[i % 4];
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame[0], &len[0]), 0);
	f.w[0].endpoints = many;
	f.w[0].n_endpoints = 3000;
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame[1], &len[1]), 0);
	f.r.n_workloads = 0;
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame[2], &len[2]), 0);
	f.r.n_workloads = 2;
	f.w[0].endpoints = &f.ep[0];
	f.w[0].n_endpoints = 2;
	f.r.seq = 4;
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame[3], &len[3]), 0);

	assert_int_equal(psc_wire_decoder_new(&dec, 4096), 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 4; i++) {
			assert_int_equal(psc_wire_open(frame[i], len[i], PSC_WIRE_REPORT, key, NULL,
						       &plain, &n),
					 0);
			assert_int_equal(
				psc_wire_decoder_report(dec, frame[i], len[i], key, NULL, &d), 0);
			assert_packs_to(d, plain, n);
			assert_int_equal(psc_wire_report_decode(frame[i], len[i], key, NULL, &one),
					 0);
			assert_packs_to(one, plain, n);
			psc_wire_report_free(&one);
			free(plain);
		}
		assert_int_equal(d->seq, 4);
		assert_int_equal(d->workloads[1]->n_endpoints, 2);
		/* refusals, with the same errors as the one-shot decoder */
		frame[1][len[1] - 1] ^= 1;
		assert_int_equal(psc_wire_decoder_report(dec, frame[1], len[1], key, NULL, &d),
				 -EKEYREJECTED);
		frame[1][len[1] - 1] ^= 1;
		assert_int_equal(psc_wire_decoder_report(dec, frame[1], 3, key, NULL, &d),
				 -EBADMSG);
		assert_int_equal(
			psc_wire_decoder_report(dec, frame[1], len[1], key,
						&(struct psc_wire_limits){ .max_frame = 1 << 20,
									  .max_inflated = 1000 },
						&d),
			-EFBIG);
	}
	/* a deflate stream cut short inside a valid box: corrupt, and the next frame decodes */
	{
		uint8_t inner[64] = { PSC_WIRE_REPORT, 1, 200, 0, 0, 0, 0x78 };
		uint8_t *bad;
		size_t bl;

		assert_int_equal(
			psc_wire_open(frame[0], len[0], PSC_WIRE_REPORT, key, NULL, &plain, &n), 0);
		free(plain);
		bad = malloc(PSC_WIRE_HEADER_SIZE + PSC_WIRE_NONCE_SIZE + PSC_WIRE_MAC_SIZE +
			     sizeof(inner));
		assert_non_null(bad);
		memcpy(bad, frame[0], PSC_WIRE_HEADER_SIZE + PSC_WIRE_NONCE_SIZE);
		crypto_secretbox_easy(bad + PSC_WIRE_HEADER_SIZE + PSC_WIRE_NONCE_SIZE, inner,
				      sizeof(inner), bad + PSC_WIRE_HEADER_SIZE, key);
		bl = PSC_WIRE_HEADER_SIZE + PSC_WIRE_NONCE_SIZE + PSC_WIRE_MAC_SIZE + sizeof(inner);
		assert_int_equal(psc_wire_decoder_report(dec, bad, bl, key, NULL, &d), -EBADMSG);
		assert_int_equal(psc_wire_decoder_report(dec, frame[3], len[3], key, NULL, &d), 0);
		assert_int_equal(d->seq, 4);
		free(bad);
	}
	psc_wire_decoder_free(&dec);
	assert_null(dec);
	psc_wire_decoder_free(&dec);
	for (int i = 0; i < 4; i++)
		free(frame[i]);
	free(many);
	fixture_clear(&f);
}

static void compresses(void **state)
{
	struct fixture f;
	uint8_t *frame;
	size_t len;

	fixture_init(&f, 1);
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame, &len), 0);
	assert_true(len < prescient__host_report__get_packed_size(&f.r) + PSC_WIRE_OVERHEAD);
	free(frame);
	fixture_clear(&f);
}

static void refuses_wrong_key_and_tampering(void **state)
{
	uint8_t other[PSC_FLEET_KEY_BYTES];
	Prescient__HostReport *d = NULL;
	struct fixture f;
	uint8_t *frame;
	size_t len;

	fixture_init(&f, 1);
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame, &len), 0);
	memcpy(other, key, sizeof(other));
	other[0] ^= 1;
	assert_int_equal(psc_wire_report_decode(frame, len, other, NULL, &d), -EKEYREJECTED);
	assert_int_equal(psc_wire_reason_from_errno(-EKEYREJECTED), PSC_REFUSE_BAD_KEY);
	for (size_t i = PSC_WIRE_HEADER_SIZE; i < len; i += 7) {
		frame[i] ^= 0x40;
		assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &d), -EKEYREJECTED);
		frame[i] ^= 0x40;
	}
	assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &d), 0);
	psc_wire_report_free(&d);
	free(frame);
	fixture_clear(&f);
}

static void refuses_bad_headers(void **state)
{
	Prescient__HostReport *d = NULL;
	Prescient__Ack *a = NULL;
	struct fixture f;
	uint8_t *frame;
	size_t len;

	fixture_init(&f, 1);
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame, &len), 0);
	/* truncated anywhere */
	for (size_t n = 0; n < len; n += 5)
		assert_int_not_equal(psc_wire_report_decode(frame, n, key, NULL, &d), 0);
	assert_int_equal(psc_wire_report_decode(frame, 3, key, NULL, &d), -EBADMSG);
	/* a report is not an ack */
	assert_int_equal(psc_wire_ack_decode(frame, len, key, NULL, &a), -EPROTONOSUPPORT);
	frame[2] = PSC_WIRE_VERSION + 1;
	assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &d), -EPROTONOSUPPORT);
	frame[2] = PSC_WIRE_VERSION;
	frame[0] = 'X';
	assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &d), -EBADMSG);
	free(frame);
	fixture_clear(&f);
}

static void enforces_limits(void **state)
{
	struct psc_wire_limits lim = psc_wire_limits_default();
	Prescient__HostReport *d = NULL;
	uint8_t *zeros = calloc(1, 1 << 20);
	uint8_t *frame;
	size_t len;

	assert_non_null(zeros);
	/* 1 MiB of zeros deflates to ~1 KiB: a bomb for a 64 KiB inflate limit */
	assert_int_equal(psc_wire_seal(PSC_WIRE_REPORT, zeros, 1 << 20, key, &frame, &len), 0);
	assert_true(len < 4096);
	lim.max_inflated = 64 << 10;
	assert_int_equal(psc_wire_report_decode(frame, len, key, &lim, &d), -EFBIG);
	assert_int_equal(psc_wire_reason_from_errno(-EFBIG), PSC_REFUSE_BOMB);
	lim = psc_wire_limits_default();
	lim.max_frame = len - 1;
	assert_int_equal(psc_wire_report_decode(frame, len, key, &lim, &d), -EMSGSIZE);
	/* within limits, 1 MiB of zeros is not a protobuf HostReport */
	assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &d), -EBADMSG);
	free(frame);
	free(zeros);
}

static void validates_content(void **state)
{
	Prescient__HostReport *d = NULL;
	struct fixture f;
	uint8_t *frame;
	size_t len;

	fixture_init(&f, 1);
	f.r.host_id = "";
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame, &len), 0);
	assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &d), -EBADMSG);
	free(frame);
	f.r.host_id = "host-a";
	f.r.window_end = NAN;
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame, &len), 0);
	assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &d), -EBADMSG);
	free(frame);
	f.r.window_end = f.r.window_start - 1;
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame, &len), 0);
	assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &d), -EBADMSG);
	free(frame);
	f.r.window_end = f.r.window_start + 10;
	f.e[0].ref = 3; /* a ref without a dictionary epoch */
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame, &len), 0);
	assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &d), -EBADMSG);
	free(frame);
	f.e[0].ref = 0;
	uint32_t bad_bucket = PSC_HIST_BUCKETS;
	uint64_t one = 1;
	Prescient__LatencyHistogram bad = PRESCIENT__LATENCY_HISTOGRAM__INIT;
	bad.bucket = &bad_bucket;
	bad.n_bucket = 1;
	bad.count = &one;
	bad.n_count = 1;
	f.e[1].latency_us = &bad;
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame, &len), 0);
	assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &d), -EBADMSG);
	free(frame);
	int64_t neg[2] = { 1, -2 };
	Prescient__LatencyHistogram bad_delta = PRESCIENT__LATENCY_HISTOGRAM__INIT;
	bad_delta.run_deltas = neg;
	bad_delta.n_run_deltas = 2;
	f.e[1].latency_us = &bad_delta;
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame, &len), 0);
	assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &d), -EBADMSG);
	free(frame);
	f.e[1].latency_us = &f.lh[1];
	fixture_clear(&f);
}

static void histogram_encodings_round_trip(void **state)
{
	static struct psc_hist h, back;
	Prescient__LatencyHistogram m;

	/* sparse: two far-apart buckets */
	psc_hist_reset(&h);
	psc_hist_add(&h, 3);
	psc_hist_add(&h, 1000000);
	assert_int_equal(psc_wire_hist_fill(&m, &h), 0);
	assert_int_equal(m.n_bucket, 2);
	psc_hist_reset(&back);
	assert_int_equal(psc_wire_hist_add(&back, &m), 0);
	assert_memory_equal(back.counts, h.counts, sizeof(h.counts));
	psc_wire_hist_clear(&m);

	/* a smooth, heavy histogram: a run (dense or delta) */
	psc_hist_reset(&h);
	for (uint64_t v = 0; v < 200000; v++)
		psc_hist_add(&h, 1000 + (v * 7919) % 3000);
	assert_int_equal(psc_wire_hist_fill(&m, &h), 0);
	assert_int_equal(m.n_bucket, 0);
	assert_true(m.n_run_counts + m.n_run_deltas > 0);
	psc_hist_reset(&back);
	assert_int_equal(psc_wire_hist_add(&back, &m), 0);
	assert_memory_equal(back.counts, h.counts, sizeof(h.counts));
	assert_int_equal(back.total, h.total);
	psc_wire_hist_clear(&m);

	/* empty */
	psc_hist_reset(&h);
	assert_int_equal(psc_wire_hist_fill(&m, &h), 0);
	assert_int_equal(m.n_bucket + m.n_run_counts + m.n_run_deltas, 0);
	psc_wire_hist_clear(&m);
}

static void refusal_frames(void **state)
{
	uint8_t f[PSC_WIRE_REFUSAL_SIZE];

	psc_wire_refusal(PSC_REFUSE_BOMB, f);
	assert_int_equal(psc_wire_frame_kind(f, sizeof(f)), PSC_WIRE_REFUSAL);
	assert_int_equal(psc_wire_refusal_reason(f, sizeof(f)), PSC_REFUSE_BOMB);
	assert_int_equal(psc_wire_refusal_reason(f, sizeof(f) - 1), -EBADMSG);
	assert_string_equal(psc_wire_reason_name(PSC_REFUSE_BAD_KEY), "bad_key");
	assert_string_equal(psc_wire_reason_name(PSC_REFUSE_DUPLICATE), "duplicate");
	assert_null(psc_wire_reason_name(_PSC_REFUSE_MAX));
}

static void signed_adjustments(void **state)
{
	uint8_t pk[PSC_SIGN_PK_BYTES], sk[PSC_SIGN_SK_BYTES], pk2[PSC_SIGN_PK_BYTES],
		sk2[PSC_SIGN_SK_BYTES];
	Prescient__Adjustment adj = PRESCIENT__ADJUSTMENT__INIT, *out = NULL;
	Prescient__Targets t = PRESCIENT__TARGETS__INIT;
	Prescient__SignedAdjustment sa, *sap = &sa;
	Prescient__Ack ack = PRESCIENT__ACK__INIT, *dack = NULL;
	uint8_t *frame;
	size_t len;

	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	t.cpu_max_cores = 2.1;
	adj.id = 42;
	adj.host_id = "host-a";
	adj.workload = "/system.slice/a.service";
	adj.targets = &t;
	adj.reason = "GET /a/{id} is up 4x";
	adj.issued_at = 1000;
	adj.expires_at = 2000;
	assert_int_equal(psc_wire_adjustment_sign(&adj, sk, &sa), 0);

	/* carried in an ack, through a frame */
	ack.host_id = "host-a";
	ack.seq = 9;
	ack.adjustments = &sap;
	ack.n_adjustments = 1;
	assert_int_equal(psc_wire_ack_encode(&ack, key, &frame, &len), 0);
	assert_int_equal(psc_wire_ack_decode(frame, len, key, NULL, &dack), 0);
	free(frame);
	assert_int_equal(dack->seq, 9);
	assert_int_equal(dack->n_adjustments, 1);
	const Prescient__SignedAdjustment *got = dack->adjustments[0];

	assert_int_equal(psc_wire_adjustment_verify(got, pk, "host-a", 1500, 41, &out), 0);
	assert_int_equal(out->id, 42);
	assert_true(fabs(out->targets->cpu_max_cores - 2.1) < 1e-12);
	prescient__adjustment__free_unpacked(out, NULL);
	out = NULL;
	assert_int_equal(psc_wire_adjustment_verify(got, pk2, "host-a", 1500, 0, &out),
			 -EKEYREJECTED);
	assert_int_equal(psc_wire_adjustment_verify(got, pk, "host-b", 1500, 0, &out), -EXDEV);
	assert_int_equal(psc_wire_adjustment_verify(got, pk, "host-a", 2000, 0, &out), -ETIME);
	assert_int_equal(psc_wire_adjustment_verify(got, pk, "host-a", 1500, 42, &out), -EALREADY);
	assert_null(out);
	/* tampered payload */
	sa.adjustment.data[sa.adjustment.len - 1] ^= 1;
	assert_int_equal(psc_wire_adjustment_verify(&sa, pk, "host-a", 1500, 0, &out),
			 -EKEYREJECTED);
	psc_wire_ack_free(&dack);
	psc_wire_signed_clear(&sa);
}

static void dictionary_defines_until_acked(void **state)
{
	struct psc_wire_dict *d = NULL;
	uint32_t ref, ref2;
	bool define;

	assert_int_equal(psc_wire_dict_new(&d, 0), 0);
	assert_int_not_equal(psc_wire_dict_epoch(d), 0);
	assert_int_equal(psc_wire_dict_use(d, "abc", 3, 1, &ref, &define), 0);
	assert_true(define);
	assert_int_equal(ref, 1);
	assert_int_equal(psc_wire_dict_use(d, "xyz", 3, 1, &ref2, &define), 0);
	assert_int_equal(ref2, 2);
	/* report 1 lost; report 2 carries the definition again */
	assert_int_equal(psc_wire_dict_use(d, "abc", 3, 2, &ref, &define), 0);
	assert_true(define);
	assert_int_equal(ref, 1);
	psc_wire_dict_acked(d, 1); /* a late ack of 1: "abc" was last defined in 2 */
	assert_int_equal(psc_wire_dict_use(d, "abc", 3, 3, &ref, &define), 0);
	assert_true(define);
	psc_wire_dict_acked(d, 3);
	assert_int_equal(psc_wire_dict_use(d, "abc", 3, 4, &ref, &define), 0);
	assert_false(define);
	assert_int_equal(ref, 1);
	psc_wire_dict_forget(d);
	assert_int_equal(psc_wire_dict_use(d, "abc", 3, 5, &ref, &define), 0);
	assert_true(define);
	assert_int_equal(psc_wire_dict_size(d), 2);
	psc_wire_dict_free(&d);
	assert_null(d);
}

static void dictionary_applied_to_reports(void **state)
{
	struct psc_wire_dict *d = NULL;
	Prescient__HostReport *dec = NULL;
	struct fixture f;
	uint8_t *frame;
	size_t len, len_first;

	assert_int_equal(psc_wire_dict_new(&d, 77), 0);
	fixture_init(&f, 1);
	assert_int_equal(psc_wire_report_apply_dict(&f.r, d), 0);
	assert_int_equal(f.r.dict_epoch, 77);
	assert_int_not_equal(f.e[0].ref, 0);
	assert_string_equal(f.e[0].endpoint, names[0]); /* still a definition */
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame, &len_first), 0);
	free(frame);
	psc_wire_dict_acked(d, 1);
	fixture_clear(&f);

	fixture_init(&f, 2);
	assert_int_equal(psc_wire_report_apply_dict(&f.r, d), 0);
	assert_string_equal(f.e[0].endpoint, "");
	assert_string_equal(f.w[0].cgroup, "");
	assert_int_equal(psc_wire_report_encode(&f.r, key, &frame, &len), 0);
	assert_true(len < len_first);
	assert_int_equal(psc_wire_report_decode(frame, len, key, NULL, &dec), 0);
	assert_int_equal(dec->workloads[0]->endpoints[0]->ref, f.e[0].ref);
	psc_wire_report_free(&dec);
	free(frame);
	fixture_clear(&f);
	psc_wire_dict_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(report_round_trip),
		cmocka_unit_test(compresses),
		cmocka_unit_test(decoder_matches_one_shot_decode),
		cmocka_unit_test(refuses_wrong_key_and_tampering),
		cmocka_unit_test(refuses_bad_headers),
		cmocka_unit_test(enforces_limits),
		cmocka_unit_test(validates_content),
		cmocka_unit_test(histogram_encodings_round_trip),
		cmocka_unit_test(refusal_frames),
		cmocka_unit_test(signed_adjustments),
		cmocka_unit_test(dictionary_defines_until_acked),
		cmocka_unit_test(dictionary_applied_to_reports),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
