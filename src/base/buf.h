/* SPDX-License-Identifier: MIT */
/*
 * Growable byte buffer with a hard maximum size. The struct has a stable
 * address; functions never hand back a moved pointer to reassign. Storage
 * grows lazily on first use.
 */
#ifndef BASE_BUF_H
#define BASE_BUF_H

#include "base/sys.h"
#include "base/err.h"

struct buf {
    char *data; /* NULL until first use */
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len */
};

/* Sets up an empty buffer that may hold up to max bytes; allocates nothing. */
void buf_init(struct buf *b, size_t max);

/*
 * Makes room for n more bytes plus one spare byte, so that a NUL can always
 * be written at data[len] after an append. ERR_TOO_BIG if len + n would pass
 * max; the buffer is unchanged then.
 */
enum err buf_reserve(struct buf *b, size_t n);

/* Appends n bytes. ERR_TOO_BIG (and no change) if that would pass max. */
enum err buf_append(struct buf *b, const void *p, size_t n);

/* Appends the NUL-terminated s without its NUL. ERR_TOO_BIG as above. */
enum err buf_puts(struct buf *b, const char *s);

/* Appends formatted text. ERR_TOO_BIG (and no change) past max. */
enum err buf_printf(struct buf *b, const char *fmt, ...) SYS_PRINTF(2, 3);

/* Drops the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

/*
 * Gives back spare capacity once it is large compared with len (frees the
 * storage if len is 0), so long-lived buffers stay small when idle.
 */
void buf_shrink(struct buf *b);

/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);

/* Frees the storage; the buffer is empty and usable again. */
void buf_release(struct buf *b);

#endif
