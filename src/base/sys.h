/* SPDX-License-Identifier: MIT */
/*
 * Platform layer: feature macros, the standard headers every file uses, the
 * invariant macros (ASSERT, BUG, ALWAYS, NEVER) and the aborting allocators.
 * Every .c file includes this header first.
 */
#ifndef BASE_SYS_H
#define BASE_SYS_H

#define _GNU_SOURCE 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * MIN and MAX evaluate each argument once (a submit inside MAX once ran
 * twice); the GNU statement expression is why they live in base/.
 */
#if defined(__GNUC__)
#define MIN(a, b)                                                              \
    __extension__({                                                            \
        __typeof__(a) min_a_ = (a);                                            \
        __typeof__(b) min_b_ = (b);                                            \
        min_a_ < min_b_ ? min_a_ : min_b_;                                     \
    })
#define MAX(a, b)                                                              \
    __extension__({                                                            \
        __typeof__(a) max_a_ = (a);                                            \
        __typeof__(b) max_b_ = (b);                                            \
        max_a_ > max_b_ ? max_a_ : max_b_;                                     \
    })
#else
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

#if defined(__GNUC__)
#define SYS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SYS_NORETURN __attribute__((noreturn))
#define SYS_LIKELY(x) __builtin_expect(!!(x), 1)
#define SYS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SYS_PRINTF(f, a)
#define SYS_NORETURN
#define SYS_LIKELY(x) (x)
#define SYS_UNLIKELY(x) (x)
#endif

/*
 * Reports a broken invariant with file and line, then aborts. Never returns.
 */
SYS_NORETURN void sys_bug(const char *file, int line, const char *fmt, ...)
    SYS_PRINTF(3, 4);

#define BUG(...) sys_bug(__FILE__, __LINE__, __VA_ARGS__)

/* Cheap invariant checks; they stay on in release builds. */
#define ASSERT(c)                                                              \
    do {                                                                       \
        if (SYS_UNLIKELY(!(c)))                                                \
            BUG("assertion failed: %s", #c);                                   \
    } while (0)

/*
 * Defensive tests that we believe can never fire. Debug builds assert, release
 * builds pass the value through, coverage builds make them constants so they
 * do not count as untested branches.
 */
#if defined(SPOKE_COVERAGE)
#define ALWAYS(x) (1)
#define NEVER(x) (0)
#elif defined(SPOKE_DEBUG)
#define ALWAYS(x) ((x) ? 1 : (BUG("ALWAYS failed: %s", #x), 0))
#define NEVER(x) ((x) ? (BUG("NEVER failed: %s", #x), 1) : 0)
#else
#define ALWAYS(x) (x)
#define NEVER(x) (x)
#endif

/*
 * Allocators that abort when the heap is exhausted. Client-driven sizes are
 * capped before they get here, so only a real out-of-memory aborts.
 */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Reallocates an array of count elements of size bytes, checking overflow. */
void *xreallocarray(void *ptr, size_t count, size_t size);
/* Returns a malloc'd copy of the len bytes at s plus a NUL; free with xfree. */
char *xstrndup(const char *s, size_t len);
/* Frees memory from the allocators above; NULL is a no-op. */
void xfree(void *ptr);

#endif
