/* SPDX-License-Identifier: MIT */
/*
 * Bump allocator for memory that dies together, such as everything one HTTP
 * request parses and answers. Non-memory resources register a cleanup that
 * runs when the arena is reset or released.
 */
#ifndef BASE_ARENA_H
#define BASE_ARENA_H

#include "base/sys.h"

struct arena_chunk;
struct arena_cleanup;

struct arena {
    struct arena_chunk *head;    /* newest chunk; NULL until first use */
    struct arena_cleanup *clean; /* cleanups, newest first */
    size_t used;                 /* bytes used in head */
};

typedef void arena_cleanup_fn(void *ctx);

/* Sets up an empty arena; allocates nothing. */
void arena_init(struct arena *a);

/*
 * Returns size bytes aligned for any type, valid until the next reset or
 * release. Aborts only on heap exhaustion (sizes are capped by callers).
 */
void *arena_alloc(struct arena *a, size_t size);

/* Like arena_alloc, zero-filled. */
void *arena_zalloc(struct arena *a, size_t size);

/* Copies len bytes of s into the arena and adds a NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t len);

/* Formats into the arena and returns the NUL-terminated result. */
char *arena_printf(struct arena *a, const char *fmt, ...) SYS_PRINTF(2, 3);

/* Registers fn(ctx) to run when the arena is reset or released (LIFO). */
void arena_on_drop(struct arena *a, arena_cleanup_fn *fn, void *ctx);

/* Runs cleanups and drops the contents, keeping one chunk for reuse. */
void arena_reset(struct arena *a);

/* Runs cleanups and frees all memory; the arena can be used again. */
void arena_release(struct arena *a);

#endif
