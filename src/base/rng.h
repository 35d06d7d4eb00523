/* SPDX-License-Identifier: MIT */
/*
 * Seeded pseudo-random numbers (xoshiro256**, seeded by splitmix64) for the
 * simulator, tests and solvers. Not for secrets: tokens and keys use
 * libsodium at the edges.
 */
#ifndef BASE_RNG_H
#define BASE_RNG_H

#include "base/sys.h"

struct rng {
    uint64_t s[4];
};

/* Seeds r deterministically from seed. */
void rng_seed(struct rng *r, uint64_t seed);

uint64_t rng_u64(struct rng *r);

/* Uniform integer in [0, n); n > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);

/* Uniform double in [0, 1). */
double rng_unit(struct rng *r);

/* Uniform double in [lo, hi). */
double rng_range(struct rng *r, double lo, double hi);

/* Standard normal deviate (Box-Muller). */
double rng_normal(struct rng *r);

#endif
