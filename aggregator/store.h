/* SPDX-License-Identifier: MIT */
/* The aggregator's store: SQLite in WAL mode, one connection, used from the daemon's one
 * thread (not thread-safe). Schema, tiers and retention: aggregator/README.md.
 *
 * Durability: a report is stored in one transaction, alone (psc_store_report()) or with
 * others (group commit: psc_store_batch_*()); the daemon acknowledges a report only after
 * the COMMIT of its transaction has returned. With synchronous=FULL (default)
 * the commit has reached the disk (WAL fsync'ed): neither a kill -9 of the aggregator nor
 * a power cut loses an acknowledged report. synchronous=NORMAL (an option) still survives
 * a kill -9 (the WAL is in the kernel's page cache) but not a power cut or a kernel
 * crash. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "prescient.pb-c.h"

#define PSC_STORE_SCHEMA_VERSION 3

/* Downsampling tiers (the `tier` column of the series tables). */
enum psc_store_tier {
	PSC_TIER_RAW = 0, /* one row per agent window */
	PSC_TIER_5M = 1,  /* 300 s buckets */
	PSC_TIER_1H = 2,  /* 3600 s buckets */
	_PSC_TIER_MAX,
};

struct psc_store_options {
	bool sync_normal;	    /* synchronous=NORMAL instead of FULL */
	double retention_raw_s;	    /* raw windows; default 2 days */
	double retention_5m_s;	    /* 5-minute tier; default 35 days */
	double retention_1h_s;	    /* hourly tier; default 400 days */
	double retention_reports_s; /* the (host, seq) ledger; default = raw */
	double rollup_grace_s;	    /* a bucket is rolled up this long after it ends; 30 */
};

/* Defaults as documented above. */
struct psc_store_options psc_store_options_default(void);

struct psc_store;

/* Opens (creating if needed) the database at @path, sets WAL and the synchronous mode,
 * and migrates the schema from whatever version it holds (0 = empty) to
 * PSC_STORE_SCHEMA_VERSION. @opt NULL = defaults. Errors: -EIO (SQLite error; @err, if
 * not NULL, says which), -ENOMEM, -EPROTO (the file's schema is newer than this
 * binary's). */
int psc_store_open(struct psc_store **out, const char *path, const struct psc_store_options *opt,
		   char *err, size_t errlen);
void psc_store_close(struct psc_store **s);

enum psc_store_result {
	PSC_STORE_STORED,      /* committed */
	PSC_STORE_DUPLICATE,   /* (host, seq) was committed before; nothing written */
	PSC_STORE_STALE,       /* the window ended before the ledger's retention; nothing written */
	PSC_STORE_UNKNOWN_REF, /* uses a dictionary ref never defined; nothing written */
};

/* Stores a decoded, validated report (psc_wire_report_decode()) received at @now with
 * @frame_bytes on the wire, in one transaction: the ledger row, host, workloads,
 * endpoints, dictionary definitions, raw series (unless older than the raw retention),
 * adjustment outcomes and the rollup bookkeeping. Returns 0 with *@res, or -EIO/-ENOMEM
 * (nothing written). */
int psc_store_report(struct psc_store *s, const Prescient__HostReport *r, size_t frame_bytes,
		     double now, enum psc_store_result *res);

/* Group commit: many reports in one transaction, each in its own savepoint.
 *   psc_store_batch_begin()   BEGIN IMMEDIATE. Errors: -EIO, -EBUSY (a batch is open).
 *   psc_store_batch_report()  as psc_store_report(), inside the batch: *res says what
 *                             this report will be once the batch commits (a report that
 *                             fails, -EIO/-ENOMEM, leaves nothing and the others stand,
 *                             unless SQLite ended the transaction: then the commit fails).
 *                             Nothing is durable yet: acknowledge nothing before the commit.
 *   psc_store_batch_commit()  COMMIT: 0 = every report given PSC_STORE_STORED is durable;
 *                             -EIO = none of the batch is stored (rolled back).
 *   psc_store_batch_rollback() drops the batch (accepts no open batch).
 * Other store calls may run inside a batch (they see its writes), except
 * psc_store_report(), psc_store_maintain() and psc_store_adjustment_add(). */
int psc_store_batch_begin(struct psc_store *s);
int psc_store_batch_report(struct psc_store *s, const Prescient__HostReport *r,
			   size_t frame_bytes, double now, enum psc_store_result *res);
int psc_store_batch_commit(struct psc_store *s);
void psc_store_batch_rollback(struct psc_store *s);

struct psc_store_maint {
	unsigned rolled_up;	  /* buckets recomputed */
	unsigned long long deleted; /* rows removed by retention */
	bool more;		  /* work left: call again soon */
};

/* Bounded maintenance step at @now: recomputes closed dirty buckets (5-minute from raw,
 * hourly from 5-minute) and deletes a chunk of rows past retention. Returns 0 or -EIO. */
int psc_store_maintain(struct psc_store *s, double now, struct psc_store_maint *st);

/* Hosts whose last report arrived at or after @since. */
int psc_store_hosts_since(struct psc_store *s, double since, uint64_t *n);

/* Queues a signed adjustment (psc_wire_adjustment_sign()) for its host. The store copies
 * what it needs. Errors: -EBADMSG (@sa does not hold an Adjustment), -EEXIST (id taken),
 * -EIO. */
int psc_store_adjustment_add(struct psc_store *s, const Prescient__SignedAdjustment *sa);

/* The adjustments still pending for @host at @now (no outcome reported, not expired),
 * oldest first, at most @max. On success *out is a malloc'ed array of *n malloc'ed
 * messages owned by the caller (NULL when *n is 0): free with psc_store_adjustments_free().
 * Inside a batch, a host found with none is not looked up again until an adjustment is
 * added (by any connection). */
int psc_store_adjustments_pending(struct psc_store *s, const char *host, double now, size_t max,
				  Prescient__SignedAdjustment ***out, size_t *n);
void psc_store_adjustments_free(Prescient__SignedAdjustment ***v, size_t n);

/* Latency histogram blobs of endpoint_series.latency_hist: version byte 1, varint max,
 * then (bucket index delta, count) varint pairs. */
#define PSC_STORE_HIST_BLOB_MAX (1 + 10 + PSC_HIST_BUCKETS * 13)
/* Writes @counts/@max into @buf (PSC_STORE_HIST_BLOB_MAX bytes) and returns its length. */
size_t psc_store_hist_encode(const uint64_t counts[PSC_HIST_BUCKETS], uint64_t max, uint8_t *buf);
/* Adds a blob's counts to @counts and raises @max. -EBADMSG on a malformed blob. */
int psc_store_hist_decode_add(const uint8_t *blob, size_t len, uint64_t counts[PSC_HIST_BUCKETS],
			      uint64_t *max);
