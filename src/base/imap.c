/* SPDX-License-Identifier: MIT */
/* Integer-keyed open-addressing hash map. */
#include "base/sys.h"
#include "base/imap.h"

uint64_t imap_hash(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53u;
    x ^= x >> 33;
    return x;
}

void imap_init(struct imap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

static void grow(struct imap *m)
{
    struct imap_slot *old = m->slots;
    size_t old_cap = m->cap;
    m->cap = old_cap ? old_cap * 2 : 16;
    m->slots = xcalloc(m->cap, sizeof(*m->slots));
    m->count = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].val)
            imap_put(m, old[i].key, old[i].val);
    }
    xfree(old);
}

void *imap_get(const struct imap *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = imap_hash(key) & mask;; i = (i + 1) & mask) {
        if (!m->slots[i].val)
            return NULL;
        if (m->slots[i].key == key)
            return m->slots[i].val;
    }
}

void imap_put(struct imap *m, uint64_t key, void *val)
{
    ASSERT(val != NULL);
    /* Keep the load factor at or under 3/4. */
    if ((m->count + 1) * 4 > m->cap * 3)
        grow(m);
    size_t mask = m->cap - 1;
    for (size_t i = imap_hash(key) & mask;; i = (i + 1) & mask) {
        if (!m->slots[i].val) {
            m->slots[i].key = key;
            m->slots[i].val = val;
            m->count++;
            return;
        }
        if (m->slots[i].key == key) {
            m->slots[i].val = val;
            return;
        }
    }
}

void *imap_del(struct imap *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = imap_hash(key) & mask;
    while (m->slots[i].val && m->slots[i].key != key)
        i = (i + 1) & mask;
    void *val = m->slots[i].val;
    if (!val)
        return NULL;
    /* Shift later members of the probe run back over the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].val; j = (j + 1) & mask) {
        size_t home = imap_hash(m->slots[j].key) & mask;
        /* Move j into the hole unless its home lies in (hole, j]. */
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

bool imap_next(const struct imap *m, size_t *pos, uint64_t *key, void **val)
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

void imap_release(struct imap *m)
{
    xfree(m->slots);
    imap_init(m);
}
