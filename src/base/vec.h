/* SPDX-License-Identifier: MIT */
/*
 * Growable arrays as three plain fields (pointer, length, capacity) with one
 * macro to make room. The owner frees the pointer with xfree.
 */
#ifndef BASE_VEC_H
#define BASE_VEC_H

#include "base/sys.h"

/* Ensures arr has room for one more element at index len. */
#define VEC_RESERVE1(arr, len, cap)                                            \
    do {                                                                       \
        if ((len) == (cap)) {                                                  \
            (cap) = (cap) ? (cap)*2 : 8;                                       \
            (arr) = xreallocarray((arr), (cap), sizeof(*(arr)));               \
        }                                                                      \
    } while (0)

/* Appends v to arr. */
#define VEC_PUSH(arr, len, cap, v)                                             \
    do {                                                                       \
        VEC_RESERVE1(arr, len, cap);                                           \
        (arr)[(len)++] = (v);                                                  \
    } while (0)

#endif
