/*
 * prng.h: a seeded pseudo-random generator (xoshiro256**, seeded through
 * splitmix64). Every random choice in cairn's tests and simulator comes from
 * one of these, so a seed reproduces a run. Pure state, any thread that owns
 * the struct.
 */
#ifndef CAIRN_COMMON_PRNG_H
#define CAIRN_COMMON_PRNG_H

#include <stddef.h>
#include <stdint.h>

struct prng {
    uint64_t s[4];
};

void prng_seed(struct prng *r, uint64_t seed);
uint64_t prng_next(struct prng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t prng_below(struct prng *r, uint64_t n);
/* Uniform in [lo, hi] inclusive; lo <= hi. */
uint64_t prng_range(struct prng *r, uint64_t lo, uint64_t hi);
/* True with probability num/den. */
int prng_chance(struct prng *r, uint32_t num, uint32_t den);
/* Uniform double in [0, 1). */
double prng_double(struct prng *r);
void prng_fill(struct prng *r, void *p, size_t n);

#endif
