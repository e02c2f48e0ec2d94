// SPDX-License-Identifier: MIT
/* Fuzz target: a frame as the aggregator receives it (unseal + inflate + unpack +
 * validate), and as an agent receives a reply (ack with signed adjustments, or refusal),
 * with a fixed test fleet key (bytes 0, 1, ..., 31).
 *
 * A mutated sealed frame almost never passes the MAC, which would leave everything behind
 * it unfuzzed. So the first input byte picks a mode: even = the rest is a frame as
 * received; odd = the rest is the plaintext inside the box (kind, codec, length, body),
 * which the target seals with the test key first, so that inflate, the length and bomb
 * checks, protobuf unpacking and validation see arbitrary bytes. Corpus files
 * (tests/fuzz/corpus/frame_decode): real frames and their plaintexts in both modes.
 * Every report frame also goes through the aggregator's decoder (psc_wire_decoder), one
 * kept across inputs as the aggregator keeps it, which must agree with the one-shot
 * decoder on the error or on the report. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* header | nonce (zero: fine for a test key) | secretbox(@inner) */
static uint8_t *seal_inner(const uint8_t *inner, size_t len, const uint8_t *key, size_t *out_len)
{
	const size_t pre = PSC_WIRE_HEADER_SIZE + PSC_WIRE_NONCE_SIZE;
	uint8_t *f = malloc(pre + PSC_WIRE_MAC_SIZE + len);

	if (!f)
		return NULL;
	memset(f, 0, pre);
	f[0] = 'P';
	f[1] = 'S';
	f[2] = PSC_WIRE_VERSION;
	f[3] = len ? inner[0] : PSC_WIRE_REPORT; /* the kind repeated inside */
	crypto_secretbox_easy(f + pre, inner, len, f + PSC_WIRE_HEADER_SIZE, key);
	*out_len = pre + PSC_WIRE_MAC_SIZE + len;
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psc_wire_limits lim = { .max_frame = 1 << 20, .max_inflated = 1 << 20 };
	uint8_t key[PSC_FLEET_KEY_BYTES], pk[PSC_SIGN_PK_BYTES] = { 0 };
	Prescient__HostReport *r = NULL;
	Prescient__Ack *a = NULL;
	static struct psc_hist h;
	static struct psc_wire_decoder *dec;
	const Prescient__HostReport *dr = NULL;
	int e1, e2;

	uint8_t *sealed = NULL;

	if (size < 1 || sodium_init() < 0)
		return 0;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	if (data[0] & 1) {
		sealed = seal_inner(data + 1, size - 1, key, &size);
		if (!sealed)
			return 0;
		data = sealed;
	} else {
		data++;
		size--;
	}
	psc_wire_frame_kind(data, size);
	psc_wire_refusal_reason(data, size);
	if (!dec && psc_wire_decoder_new(&dec, 4096) < 0)
		abort();
	e1 = psc_wire_report_decode(data, size, key, &lim, &r);
	e2 = psc_wire_decoder_report(dec, data, size, key, &lim, &dr);
	if (e1 != e2 || (e1 == 0 && (dr->seq != r->seq || dr->n_workloads != r->n_workloads ||
				     strcmp(dr->host_id, r->host_id) != 0))) {
		fprintf(stderr, "decoder disagrees: %d vs %d\n", e1, e2);
		abort();
	}
	if (e1 == 0) {
		for (size_t i = 0; i < r->n_workloads; i++) {
			const Prescient__WorkloadWindow *w = r->workloads[i];

			if (w->session_ms)
				psc_wire_hist_add(&h, w->session_ms);
			for (size_t j = 0; j < w->n_endpoints; j++)
				if (w->endpoints[j]->latency_us)
					psc_wire_hist_add(&h, w->endpoints[j]->latency_us);
		}
		psc_wire_report_free(&r);
	}
	if (psc_wire_ack_decode(data, size, key, &lim, &a) == 0) {
		for (size_t i = 0; i < a->n_adjustments; i++) {
			Prescient__Adjustment *adj = NULL;

			if (psc_wire_adjustment_verify(a->adjustments[i], pk, a->host_id, 0, 0,
						       &adj) == 0)
				prescient__adjustment__free_unpacked(adj, NULL);
		}
		psc_wire_ack_free(&a);
	}
	free(sealed);
	return 0;
}
