/* SPDX-License-Identifier: MIT */
/*
 * Software prefetch: a hint that asks the memory system to start loading the
 * cache line holding an address that the caller will read soon, so that
 * several misses overlap instead of following one another. A hint only: it
 * never faults (any address, NULL included, is fine), never changes a result,
 * and compiles to nothing where the compiler has no prefetch builtin.
 */
#ifndef BASE_PREFETCH_H
#define BASE_PREFETCH_H

#include "base/sys.h"

/* Size of a cache line on the machines we run on, in bytes. */
#define PREFETCH_LINE 64

#if defined(__GNUC__)
/*
 * Starts loading the line of p for reading, into every cache level. gcc
 * counts __builtin_prefetch as free of side effects, so a static function
 * that only prefetches is found pure and its calls are deleted (gcc 12
 * does this even with -fno-inline); the empty asm statement, which takes p
 * as an input, makes the hint an effect the optimiser keeps.
 */
#define PREFETCH_READ(p)                                                       \
    do {                                                                       \
        const void *prefetch_p_ = (p);                                         \
        __builtin_prefetch(prefetch_p_, 0, 3);                                 \
        __asm__ volatile("" : : "r"(prefetch_p_));                             \
    } while (0)
#else
#define PREFETCH_READ(p) ((void)(p))
#endif

#endif
