// SPDX-License-Identifier: MIT
/* Fuzz target: protocol detection and the per-connection dispatch that follows it, as the
 * agent runs them on kernel events (agent/proto_detect.c, agent/conn.c, agent/window.c).
 *
 * 1. psc_proto_detect() on the whole input, both flows, every port hint the agent knows
 *    plus an unknown one; it must return a valid protocol whose own detect() agrees.
 * 2. The input as a capture of sockets fed to a connection table and a window:
 *      byte 0: port hint (low 3 bits index {0, 80, 8080, 5432, 3306, 6379, 53, 9999}) and
 *              role (bits 3-4: unknown, server, client, unknown);
 *      byte 1: captured head size (byte * 4; 0 means PSC_HEAD_MAX);
 *      then records of [flags] [length: 2 bytes, big endian] + that many bytes (fewer if
 *      the input ends first). Flags: bit 7 = egress (else ingress), bits 0-1 = the socket
 *      (4 sockets of one process), bit 2 = a close of that socket follows, bit 3 = the
 *      window ends after this record, bit 4 = the process exits (sweep) after it.
 *    Each record is one data event of the record's length whose head is at most the head
 *    size, copied into an exact-size heap buffer so that a sanitizer sees over-reads.
 *    Counters must stay consistent: responses and unpaired responses never exceed what
 *    was seen. A raw input that does not follow this layout is still a valid one.
 * Corpus (tests/fuzz/corpus/proto_detect): the recorded conversations of tests/data in
 * this layout (tests/fuzz/make_detect_corpus.py). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "proto.h"
#include "window.h"

#define FUZZ_TGID 4242
#define FUZZ_CGROUP 77

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t ports[8] = { 0, 80, 8080, 5432, 3306, 6379, 53, 9999 };

static void check_detect(const uint8_t *data, size_t size)
{
	for (size_t p = 0; p < sizeof(ports) / sizeof(ports[0]); p++) {
		for (int f = 0; f < 2; f++) {
			enum psc_flow flow = f ? PSC_FLOW_TO_CLIENT : PSC_FLOW_TO_SERVER;
			enum psc_proto proto = psc_proto_detect(data, size, flow, ports[p]);
			const struct psc_proto_ops *ops;

			if ((unsigned)proto >= _PSC_PROTO_MAX)
				abort();
			if (proto == PSC_PROTO_UNKNOWN)
				continue;
			ops = psc_proto_ops_get(proto);
			if (!ops || ops->proto != proto || !ops->detect(data, size, flow))
				abort();
		}
	}
}

static bool process_alive;

static bool alive(uint32_t tgid, void *ctx)
{
	(void)ctx;
	return tgid != FUZZ_TGID || process_alive;
}

static void check_counters(const struct psc_conn_table *t, uint64_t events)
{
	const struct psc_conn_counters *c = psc_conn_counters(t);

	if (c->data_events > events || c->responses + c->unpaired_responses > c->data_events *
	    PSC_MSGS_PER_HEAD || c->requests > c->data_events * PSC_MSGS_PER_HEAD)
		abort();
}

static void run_capture(const uint8_t *data, size_t size)
{
	struct psc_window *w = NULL;
	struct psc_conn_table *t = NULL;
	uint64_t ts_us = 1000, events = 0;
	size_t pos = 2, head;
	uint16_t port;
	uint8_t role;

	if (size < 2)
		return;
	port = ports[data[0] & 7];
	role = (data[0] >> 3) & 3;
	if (role == 3)
		role = PSC_ROLE_UNKNOWN;
	head = data[1] ? data[1] * 4u : PSC_HEAD_MAX;
	if (head > PSC_HEAD_MAX)
		head = PSC_HEAD_MAX;
	if (psc_window_new(&w) < 0 || psc_conn_table_new(&t, w) < 0)
		abort();
	process_alive = true;
	while (pos + 3 <= size) {
		uint8_t flags = data[pos];
		size_t full = ((size_t)data[pos + 1] << 8) | data[pos + 2];
		size_t avail, len;
		struct psc_event_hdr h = { 0 };
		uint8_t *copy;

		pos += 3;
		avail = size - pos < full ? size - pos : full;
		len = avail < head ? avail : head;
		ts_us += 10 + flags;
		h.ts_ns = ts_us * 1000;
		h.cgroup_id = FUZZ_CGROUP;
		h.open_ns = 1000;
		h.size = full;
		h.tgid = FUZZ_TGID;
		h.pid = FUZZ_TGID;
		h.fd = 10 + (flags & 3);
		h.cap_len = (uint32_t)len;
		h.local_port = role == PSC_ROLE_CLIENT ? 40000 : port;
		h.remote_port = role == PSC_ROLE_CLIENT ? port : 40000;
		h.kind = PSC_EV_DATA;
		h.dir = (flags & 0x80) ? PSC_DIR_EGRESS : PSC_DIR_INGRESS;
		h.role = role;
		copy = malloc(len ? len : 1);
		if (!copy)
			abort();
		memcpy(copy, data + pos, len);
		psc_conn_on_data(t, &h, copy);
		free(copy);
		events++;
		pos += avail;
		if (flags & 4) {
			h.kind = PSC_EV_CLOSE;
			h.cap_len = 0;
			h.size = 0;
			psc_conn_on_close(t, &h);
		}
		if (flags & 8)
			psc_window_reset(w, 1);
		if (flags & 0x10) {
			/* The first sweep that finds the process gone keeps its connections
			 * (their last events may still be in the ring), the second forgets. */
			size_t before = psc_conn_count(t);
			process_alive = false;
			psc_conn_sweep(t, alive, NULL);
			if (psc_conn_count(t) != before)
				abort();
			psc_conn_sweep(t, alive, NULL);
			if (psc_conn_count(t) != 0)
				abort();
			process_alive = true;
		}
		check_counters(t, events);
	}
	psc_conn_table_free(&t);
	psc_window_free(&w, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_detect(data, size);
	run_capture(data, size);
	return 0;
}
