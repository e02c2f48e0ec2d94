/* SPDX-License-Identifier: MIT */
/* Open-addressing hash map from a 64-bit key to a pointer, for the agent's connection,
 * workload and endpoint tables. Linear probing with backward-shift deletion (no
 * tombstones), so memory stays flat under churn; grows at 70% load, shrinks below 10%.
 * The map never owns the values: the caller frees them. Key 0 is allowed. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct psc_hashmap;

int psc_hashmap_new(struct psc_hashmap **out);
void psc_hashmap_free(struct psc_hashmap **map);

size_t psc_hashmap_size(const struct psc_hashmap *map);
/* Returns the value or NULL. */
void *psc_hashmap_get(const struct psc_hashmap *map, uint64_t key);
/* Inserts or replaces. Returns 0 or -ENOMEM (the map is unchanged then). */
int psc_hashmap_put(struct psc_hashmap *map, uint64_t key, void *value);
/* Removes @key and returns its value, or NULL if absent. */
void *psc_hashmap_remove(struct psc_hashmap *map, uint64_t key);

/* Iteration: start with *iter = 0; returns 1 and fills @key/@value while entries remain,
 * 0 at the end. Removing the entry just returned is allowed only through
 * psc_hashmap_iter_remove(), which keeps the iteration complete. */
int psc_hashmap_next(const struct psc_hashmap *map, size_t *iter, uint64_t *key, void **value);
void psc_hashmap_iter_remove(struct psc_hashmap *map, size_t *iter);

/* A well-mixed 64-bit hash of bytes (FNV-1a followed by a finaliser), for composite keys. */
uint64_t psc_hash_bytes(const void *data, size_t len, uint64_t seed);
