/*
 * placement.c: where the replicas of a chunk go (DESIGN §5): distinct chunk
 * servers, distinct racks (labels) when the cluster has enough of them,
 * each pick weighted by free space so full servers fill more slowly and
 * empty ones catch up. Pure: the caller gives the candidates and a seeded
 * generator, so a test (or a replayed decision) gets the same answer.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "metad/chunks.h"

static int cmp_node_id(const void *a, const void *b)
{
    uint32_t x = ((const struct place_node *)a)->id, y = ((const struct place_node *)b)->id;
    return (x > y) - (x < y);
}

static int same_label(const struct place_node *a, const struct place_node *b)
{
    return a->label_len && a->label_len == b->label_len &&
           memcmp(a->label, b->label, a->label_len) == 0;
}

static int in_ids(const uint32_t *v, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == id)
            return 1;
    return 0;
}

/* Weight of a candidate: its free MiB, at least 1 (u64 sums cannot overflow:
 * 4096 servers of 2^44 MiB each). */
static uint64_t weight(const struct place_node *c) { return (c->free_bytes >> 20) + 1; }

/* One weighted pick among the eligible (flag set) candidates; -1 if none. */
static long pick(const struct place_node *c, const uint8_t *ok, size_t n, struct prng *rng)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (ok[i])
            total += weight(&c[i]);
    if (total == 0)
        return -1;
    uint64_t x = prng_below(rng, total);
    for (size_t i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        uint64_t w = weight(&c[i]);
        if (x < w)
            return (long)i;
        x -= w;
    }
    CAIRN_UNREACHABLE();
}

/* Mark the candidates a pick may take: not chosen or avoided, enough free
 * space, and (strict) a label no holder and no earlier pick has. Returns how
 * many are eligible. */
static size_t eligible(const struct place_node *c, size_t n, const uint8_t *taken,
                       const struct place_node *labels, size_t n_labels, int strict, uint8_t *ok)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        ok[i] = !taken[i];
        for (size_t j = 0; ok[i] && strict && j < n_labels; j++)
            if (same_label(&c[i], &labels[j]))
                ok[i] = 0;
        k += ok[i];
    }
    return k;
}

int place_choose(const struct place_node *cand, size_t n, const uint32_t *avoid, size_t n_avoid,
                 const struct place_node *avoid_labels, size_t n_avoid_labels, uint32_t want,
                 uint32_t min, struct prng *rng, uint32_t *out)
{
    CAIRN_ASSERT(want <= CAIRN_GOAL_MAX && min <= want);
    size_t cap = n ? n : 1;
    struct place_node *c = malloc(cap * sizeof *c);
    struct place_node *labels = malloc((n_avoid_labels + CAIRN_GOAL_MAX) * sizeof *labels);
    uint8_t *taken = calloc(cap, 1), *ok = malloc(cap);
    int rc = 0;
    if (!c || !labels || !taken || !ok) {
        rc = CAIRN_ENOMEM;
        goto out;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (cand[i].free_bytes >= PLACE_FREE_MIN && !in_ids(avoid, n_avoid, cand[i].id))
            c[m++] = cand[i];
    qsort(c, m, sizeof *c, cmp_node_id);
    if (n_avoid_labels)
        memcpy(labels, avoid_labels, n_avoid_labels * sizeof *labels);
    size_t n_labels = n_avoid_labels;
    uint32_t got = 0;
    while (got < want) {
        /* Distinct labels first; once none is left, any distinct server. */
        if (eligible(c, m, taken, labels, n_labels, 1, ok) == 0 &&
            eligible(c, m, taken, labels, n_labels, 0, ok) == 0)
            break;
        long i = pick(c, ok, m, rng);
        CAIRN_ASSERT(i >= 0);
        taken[i] = 1;
        out[got++] = c[i].id;
        labels[n_labels++] = c[i];
    }
    rc = got < min ? CAIRN_ENOSPC : (int)got;
out:
    free(c);
    free(labels);
    free(taken);
    free(ok);
    return rc;
}
