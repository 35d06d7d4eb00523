/* SPDX-License-Identifier: MIT */
/* String-keyed open-addressing hash map with borrowed keys. */
#include "base/sys.h"
#include "base/smap.h"
#include "base/imap.h"

uint64_t smap_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3u;
    }
    return imap_hash(h);
}

void smap_init(struct smap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

static void insert(struct smap *m, uint64_t h, struct str key, void *val)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct smap_slot *s = &m->slots[i];
        if (!s->val) {
            *s = (struct smap_slot){h, key, val};
            m->count++;
            return;
        }
        if (s->hash == h && str_eq(s->key, key)) {
            s->key = key;
            s->val = val;
            return;
        }
    }
}

static void grow(struct smap *m)
{
    struct smap_slot *old = m->slots;
    size_t old_cap = m->cap;
    m->cap = old_cap ? old_cap * 2 : 16;
    m->slots = xcalloc(m->cap, sizeof(*m->slots));
    m->count = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].val)
            insert(m, old[i].hash, old[i].key, old[i].val);
    }
    xfree(old);
}

static size_t find(const struct smap *m, uint64_t h, struct str key)
{
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].val &&
           !(m->slots[i].hash == h && str_eq(m->slots[i].key, key)))
        i = (i + 1) & mask;
    return i;
}

void *smap_get(const struct smap *m, struct str key)
{
    if (!m->cap)
        return NULL;
    return m->slots[find(m, smap_hash(key.ptr, key.len), key)].val;
}

void smap_put(struct smap *m, struct str key, void *val)
{
    ASSERT(val != NULL);
    if ((m->count + 1) * 4 > m->cap * 3)
        grow(m);
    insert(m, smap_hash(key.ptr, key.len), key, val);
}

void *smap_del(struct smap *m, struct str key)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = find(m, smap_hash(key.ptr, key.len), key);
    void *val = m->slots[i].val;
    if (!val)
        return NULL;
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].val; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        bool stays =
            hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].val = NULL;
    m->count--;
    return val;
}

bool smap_next(const struct smap *m, size_t *pos, struct str *key, void **val)
{
    for (; *pos < m->cap; (*pos)++) {
        if (m->slots[*pos].val) {
            *key = m->slots[*pos].key;
            *val = m->slots[*pos].val;
            (*pos)++;
            return true;
        }
    }
    return false;
}

void smap_release(struct smap *m)
{
    xfree(m->slots);
    smap_init(m);
}
