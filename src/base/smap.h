/* SPDX-License-Identifier: MIT */
/*
 * Hash map from byte-string keys to non-NULL pointers. Keys are borrowed: the
 * caller keeps the key bytes alive and unchanged while the entry exists
 * (usually the key is a field of the value).
 */
#ifndef BASE_SMAP_H
#define BASE_SMAP_H

#include "base/sys.h"
#include "base/str.h"

struct smap_slot {
    uint64_t hash;
    struct str key;
    void *val; /* NULL marks an empty slot */
};

struct smap {
    struct smap_slot *slots; /* NULL until first insert */
    size_t cap;
    size_t count;
};

/* Sets up an empty map; allocates nothing. */
void smap_init(struct smap *m);

/* Returns the value for key, or NULL. */
void *smap_get(const struct smap *m, struct str key);

/* Sets key to val (non-NULL), replacing any old value and its key. */
void smap_put(struct smap *m, struct str key, void *val);

/* Removes key and returns its value, or NULL if absent. */
void *smap_del(struct smap *m, struct str key);

/*
 * Iterates: start with *pos = 0; each call returns true and the next entry
 * until the end. The map must not change during the iteration.
 */
bool smap_next(const struct smap *m, size_t *pos, struct str *key, void **val);

/* Frees the slots (not keys or values); the map is usable again. */
void smap_release(struct smap *m);

/* 64-bit hash of n bytes (FNV-1a with a final mix). */
uint64_t smap_hash(const void *p, size_t n);

#endif
