/* SPDX-License-Identifier: MIT */
/* Chunked bump allocator with cleanup callbacks. */
#include "base/sys.h"
#include "base/arena.h"

#include <stdarg.h>
#include <stdio.h>

#define ARENA_ALIGN 16
#define ARENA_CHUNK_BYTES 8192

struct arena_chunk {
    struct arena_chunk *prev;
    size_t cap;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    arena_cleanup_fn *fn;
    void *ctx;
};

void arena_init(struct arena *a)
{
    a->head = NULL;
    a->clean = NULL;
    a->used = 0;
}

static void add_chunk(struct arena *a, size_t min)
{
    size_t cap = min > ARENA_CHUNK_BYTES ? min : ARENA_CHUNK_BYTES;
    struct arena_chunk *c = xmalloc(sizeof(*c) + cap);
    c->cap = cap;
    c->prev = a->head;
    a->head = c;
    a->used = 0;
}

void *arena_alloc(struct arena *a, size_t size)
{
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < size)
        BUG("arena allocation of %zu bytes overflows", size);
    if (!a->head || a->head->cap - a->used < need)
        add_chunk(a, need);
    void *p = a->head->data + a->used;
    a->used += need;
    return p;
}

void *arena_zalloc(struct arena *a, size_t size)
{
    void *p = arena_alloc(a, size);
    memset(p, 0, size);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ASSERT(n >= 0);
    char *p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void arena_on_drop(struct arena *a, arena_cleanup_fn *fn, void *ctx)
{
    struct arena_cleanup *c = arena_alloc(a, sizeof(*c));
    c->fn = fn;
    c->ctx = ctx;
    c->next = a->clean;
    a->clean = c;
}

static void run_cleanups(struct arena *a)
{
    /* Cleanup records live in the arena itself, so read next first. */
    struct arena_cleanup *c = a->clean;
    a->clean = NULL;
    while (c) {
        struct arena_cleanup *next = c->next;
        c->fn(c->ctx);
        c = next;
    }
}

void arena_reset(struct arena *a)
{
    run_cleanups(a);
    if (!a->head)
        return;
    /* Keep the oldest chunk, which is the default size in steady state. */
    struct arena_chunk *c = a->head;
    while (c->prev) {
        struct arena_chunk *prev = c->prev;
        xfree(c);
        c = prev;
    }
    a->head = c;
    a->used = 0;
}

void arena_release(struct arena *a)
{
    run_cleanups(a);
    struct arena_chunk *c = a->head;
    while (c) {
        struct arena_chunk *prev = c->prev;
        xfree(c);
        c = prev;
    }
    arena_init(a);
}
