/* prng.c: xoshiro256** (Blackman and Vigna), seeded by splitmix64. */
#include "common/prng.h"

#include <string.h>

#include "common/assert.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void prng_seed(struct prng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t prng_next(struct prng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t prng_below(struct prng *r, uint64_t n)
{
    CAIRN_ASSERT(n > 0);
    /* Rejection sampling: draw again from the biased top of the range. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x;
    do
        x = prng_next(r);
    while (x >= limit);
    return x % n;
}

uint64_t prng_range(struct prng *r, uint64_t lo, uint64_t hi)
{
    CAIRN_ASSERT(lo <= hi);
    if (hi - lo == UINT64_MAX)
        return prng_next(r);
    return lo + prng_below(r, hi - lo + 1);
}

int prng_chance(struct prng *r, uint32_t num, uint32_t den)
{
    CAIRN_ASSERT(den > 0);
    return prng_below(r, den) < num;
}

double prng_double(struct prng *r) { return (double)(prng_next(r) >> 11) * 0x1.0p-53; }

void prng_fill(struct prng *r, void *p, size_t n)
{
    uint8_t *d = p;
    while (n > 0) {
        uint64_t x = prng_next(r);
        size_t k = n < 8 ? n : 8;
        memcpy(d, &x, k);
        d += k;
        n -= k;
    }
}
