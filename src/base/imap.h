/* SPDX-License-Identifier: MIT */
/*
 * Hash map from 64-bit integer keys to non-NULL pointers (open addressing,
 * linear probing, backward-shift deletion, so no tombstones). The map does
 * not own the values.
 */
#ifndef BASE_IMAP_H
#define BASE_IMAP_H

#include "base/sys.h"

struct imap_slot {
    uint64_t key;
    void *val; /* NULL marks an empty slot */
};

struct imap {
    struct imap_slot *slots; /* NULL until first insert */
    size_t cap;              /* power of two, or 0 */
    size_t count;
};

/* Sets up an empty map; allocates nothing. */
void imap_init(struct imap *m);

/* Returns the value for key, or NULL. */
void *imap_get(const struct imap *m, uint64_t key);

/* Sets key to val (non-NULL), replacing any old value. */
void imap_put(struct imap *m, uint64_t key, void *val);

/* Removes key and returns its value, or NULL if absent. */
void *imap_del(struct imap *m, uint64_t key);

/*
 * Iterates: start with *pos = 0; each call returns true and the next entry
 * until the end. The map must not change during the iteration.
 */
bool imap_next(const struct imap *m, size_t *pos, uint64_t *key, void **val);

/* Frees the slots (not the values); the map is empty and usable again. */
void imap_release(struct imap *m);

/* Mixes a 64-bit value into a well-distributed hash. */
uint64_t imap_hash(uint64_t x);

#endif
