/* SPDX-License-Identifier: MIT */
/* The agent's end of the fleet link (DESIGN.md section 4): every window's report goes
 * to the on-disk spool first, then to the aggregator over a nanomsg REQ socket, one
 * report in flight at a time, oldest first. The reply acknowledges that sequence number
 * (the report then leaves the spool) and carries pending signed adjustments. A refusal,
 * a timeout or an unreachable aggregator leave the report in the spool: it is sent again
 * later, in order, and the aggregator's de-duplication by (host, seq) makes the result
 * exactly-once.
 *
 * REQ/REP because the exchange is request/acknowledge: the ack is the reply, and REQ
 * resends a request whose reply never came (aggregator restarted). The agent connects
 * out and never listens.
 *
 * The spool holds each report as packed protobuf with strings inline; the string
 * dictionary and the sealing are applied when it is sent, so an aggregator that lost its
 * dictionary can be answered by sending the same report with strings inline. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct psc_uplink_opts {
	const char *url;	  /* e.g. tcp://10.0.0.5:7070 */
	const char *keys_dir;	  /* fleet.key and signing.pub */
	const char *spool_dir;	  /* created if missing */
	uint64_t spool_max_bytes; /* oldest reports dropped past this */
	const char *host_id;
};

struct psc_uplink_counters {
	uint64_t sent;	       /* frames handed to the socket (resends included) */
	uint64_t acked;	       /* reports acknowledged (OK, DUPLICATE or STALE) */
	uint64_t refused;      /* refusal replies */
	uint64_t dict_resends; /* RESEND_DICT acks */
	uint64_t adjustments;  /* signed adjustments received and verified */
	uint64_t adjustments_refused; /* failed verification (signature, host, expiry, id) */
};

struct psc_uplink;

/* Loads the keys (refusing loose permissions), opens the spool and connects. Returns 0
 * or a negative errno after logging why; *out untouched on failure. */
int psc_uplink_new(struct psc_uplink **out, const struct psc_uplink_opts *opts);
/* Keeps sending and reading replies until the spool is empty or @linger_s seconds pass. */
void psc_uplink_drain(struct psc_uplink *u, double linger_s);
/* Closes; reports not acknowledged stay in the spool for the next start. Accepts NULL. */
void psc_uplink_free(struct psc_uplink **u);

/* The sequence number for the next report (taken from the spool: never reused). A
 * failure (the spool's state cannot be written, e.g. a full disk) means the report
 * cannot go: it is counted in psc_uplink_spool_dropped(). */
int psc_uplink_take_seq(struct psc_uplink *u, uint64_t *seq);
/* Spools a packed HostReport (with @seq inside) and tries to send. Returns 0 or the
 * spool's negative errno (the report is then lost and counted by the spool). */
int psc_uplink_submit(struct psc_uplink *u, uint64_t seq, const uint8_t *report, size_t len);

/* The fd to watch for replies (readable), for the daemon's epoll. */
int psc_uplink_fd(const struct psc_uplink *u);
/* Reads replies; call when psc_uplink_fd() is readable. */
void psc_uplink_on_readable(struct psc_uplink *u);
/* Sends the oldest spooled report when nothing is in flight, resends after a timeout.
 * Call periodically (every drain tick). */
void psc_uplink_tick(struct psc_uplink *u);

/* Hands every signed adjustment that arrives on an ack to @e (borrowed; must outlive
 * @u), which verifies, guards, applies and reports it (agent/enforce.h). Without one,
 * adjustments are verified and logged only. */
struct psc_enforce;
void psc_uplink_set_enforce(struct psc_uplink *u, struct psc_enforce *e);
/* The aggregator's public signing key (signing.pub), PSC_SIGN_PK_BYTES bytes. */
const uint8_t *psc_uplink_sign_pk(const struct psc_uplink *u);

const struct psc_uplink_counters *psc_uplink_counters(const struct psc_uplink *u);
size_t psc_uplink_spooled(const struct psc_uplink *u);
/* Spool losses: frames dropped for space, oversize, I/O errors (a full disk) or
 * corruption, and reports that got no sequence number. */
uint64_t psc_uplink_spool_dropped(const struct psc_uplink *u);
