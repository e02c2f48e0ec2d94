/* SPDX-License-Identifier: MIT */
/* Novelty of the recent shape of a series: the distance from the embedding of its last
 * `dim` values to the nearest embeddings among the preceding `history` ones (those
 * overlapping it left out), the nearest-neighbour score of knncad and ARTime's
 * "new category". A level shift, a new oscillation or a new spike shape has no close
 * past neighbour; a pattern that repeats, however large, has. The distance is raw (in
 * the series' units): calibrate it against its own past values. O(history * dim) per
 * update, pure, not thread-safe. */
#pragma once

#include <stdint.h>

#define PSC_NOVELTY_MAX_DIM 64

struct psc_novelty_cfg {
	uint32_t dim;	  /* embedding length, 1..PSC_NOVELTY_MAX_DIM (default 8) */
	uint32_t history; /* past embeddings searched (default 1024) */
	uint32_t k;	  /* the distance is the mean over the k nearest, 1..8 (default 2) */
};

struct psc_novelty;

/* Zero fields of @cfg take the defaults. Returns 0, -EINVAL, -ENOMEM; the caller owns
 * *out. */
int psc_novelty_new(struct psc_novelty **out, const struct psc_novelty_cfg *cfg);
void psc_novelty_free(struct psc_novelty **nv);
/* What the current embedding was compared with. */
struct psc_novelty_match {
	double nearest; /* last value of the nearest past embedding (NAN when none) */
	uint32_t onset; /* steps back (0 = the newest value) to the oldest value of the
			 * embedding that departs from the nearest one by at least half the
			 * largest departure: where the new shape begins */
};

/* Appends @x (finite) and returns the mean L1 distance per value from the current
 * embedding to its k nearest past ones, or NAN until 2 (dim + k) - 1 values were seen.
 * Fills @match when not NULL. */
double psc_novelty_update(struct psc_novelty *nv, double x, struct psc_novelty_match *match);
