// SPDX-License-Identifier: MIT
#include "hashmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

struct slot {
	uint64_t key;
	void *value;
	bool used;
};

struct psc_hashmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t size;
};

#define MIN_CAP 16

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

uint64_t psc_hash_bytes(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return mix64(h);
}

int psc_hashmap_new(struct psc_hashmap **out)
{
	struct psc_hashmap *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->slots = calloc(MIN_CAP, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return -ENOMEM;
	}
	m->cap = MIN_CAP;
	*out = m;
	return 0;
}

void psc_hashmap_free(struct psc_hashmap **map)
{
	if (!map || !*map)
		return;
	free((*map)->slots);
	free(*map);
	*map = NULL;
}

size_t psc_hashmap_size(const struct psc_hashmap *map)
{
	return map->size;
}

static size_t find_slot(const struct slot *slots, size_t cap, uint64_t key)
{
	size_t i = mix64(key) & (cap - 1);

	while (slots[i].used && slots[i].key != key)
		i = (i + 1) & (cap - 1);
	return i;
}

static int resize(struct psc_hashmap *m, size_t new_cap)
{
	struct slot *ns = calloc(new_cap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].used)
			continue;
		ns[find_slot(ns, new_cap, m->slots[i].key)] = m->slots[i];
	}
	free(m->slots);
	m->slots = ns;
	m->cap = new_cap;
	return 0;
}

void *psc_hashmap_get(const struct psc_hashmap *map, uint64_t key)
{
	size_t i = find_slot(map->slots, map->cap, key);

	return map->slots[i].used ? map->slots[i].value : NULL;
}

int psc_hashmap_put(struct psc_hashmap *map, uint64_t key, void *value)
{
	size_t i;

	if ((map->size + 1) * 10 > map->cap * 7) {
		int r = resize(map, map->cap * 2);
		if (r < 0)
			return r;
	}
	i = find_slot(map->slots, map->cap, key);
	if (!map->slots[i].used) {
		map->slots[i].used = true;
		map->slots[i].key = key;
		map->size++;
	}
	map->slots[i].value = value;
	return 0;
}

/* Backward-shift deletion: pull later members of the probe run into the hole. */
static void remove_at(struct psc_hashmap *m, size_t hole)
{
	size_t j = hole;

	m->slots[hole].used = false;
	m->size--;
	for (;;) {
		j = (j + 1) & (m->cap - 1);
		if (!m->slots[j].used)
			break;
		size_t home = mix64(m->slots[j].key) & (m->cap - 1);
		/* Move j into the hole unless its home lies cyclically in (hole, j]. */
		bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
		if (stays)
			continue;
		m->slots[hole] = m->slots[j];
		m->slots[j].used = false;
		hole = j;
	}
}

void *psc_hashmap_remove(struct psc_hashmap *map, uint64_t key)
{
	size_t i = find_slot(map->slots, map->cap, key);
	void *v;

	if (!map->slots[i].used)
		return NULL;
	v = map->slots[i].value;
	remove_at(map, i);
	if (map->cap > MIN_CAP && map->size * 10 < map->cap)
		resize(map, map->cap / 2); /* failure only means we keep the larger table */
	return v;
}

int psc_hashmap_next(const struct psc_hashmap *map, size_t *iter, uint64_t *key, void **value)
{
	for (size_t i = *iter; i < map->cap; i++) {
		if (map->slots[i].used) {
			*key = map->slots[i].key;
			*value = map->slots[i].value;
			*iter = i + 1;
			return 1;
		}
	}
	*iter = map->cap;
	return 0;
}

void psc_hashmap_iter_remove(struct psc_hashmap *map, size_t *iter)
{
	size_t i = *iter - 1;

	/* Backward shift may move an unvisited entry into slot i (or wrap an entry from the
	 * start of the table, already visited, into the end: harmless re-visit is avoided by
	 * not shrinking and re-examining slot i). */
	remove_at(map, i);
	*iter = i;
}
