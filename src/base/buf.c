/* SPDX-License-Identifier: MIT */
/* Capped growable byte buffer. */
#include "base/sys.h"
#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

enum err buf_reserve(struct buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return ERR_TOO_BIG;
    /* Keep one spare byte so that a NUL always fits after len. */
    if (b->cap - b->len > n)
        return ERR_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= n)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    return ERR_OK;
}

enum err buf_append(struct buf *b, const void *p, size_t n)
{
    enum err e = buf_reserve(b, n);
    if (e != ERR_OK)
        return e;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return ERR_OK;
}

enum err buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

enum err buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ERR_INTERNAL;
    /* buf_reserve keeps a spare byte for vsnprintf's NUL. */
    enum err e = buf_reserve(b, (size_t)n);
    if (e != ERR_OK)
        return e;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return ERR_OK;
}

void buf_consume(struct buf *b, size_t n)
{
    ASSERT(n <= b->len);
    if (n < b->len)
        memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void buf_shrink(struct buf *b)
{
    if (b->len == 0) {
        buf_release(b);
        return;
    }
    if (b->cap > 2 * b->len + 256) {
        b->data = xrealloc(b->data, b->len + 1);
        b->cap = b->len + 1;
    }
}

void buf_reset(struct buf *b)
{
    b->len = 0;
}

void buf_release(struct buf *b)
{
    xfree(b->data);
    buf_init(b, b->max);
}
