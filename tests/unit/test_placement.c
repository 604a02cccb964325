/* test_placement.c: where the metadata leader puts the replicas of a chunk
 * (src/metad/placement.c): distinct servers, distinct racks when labelled,
 * weighted by free space, never a full server, ENOSPC when too few fit, and
 * the same answer for the same inputs and seed. */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/prng.h"
#include "metad/chunks.h"
#include "test.h"

#define GIB (1024ull * 1024 * 1024)

static struct place_node node(uint32_t id, uint64_t free_bytes, const char *label)
{
    return (struct place_node){id, free_bytes, (const uint8_t *)label,
                               (uint16_t)(label ? strlen(label) : 0)};
}

static const struct place_node *find(const struct place_node *v, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].id == id)
            return &v[i];
    return NULL;
}

static int same_label(const struct place_node *a, const struct place_node *b)
{
    return a->label_len && a->label_len == b->label_len &&
           memcmp(a->label, b->label, a->label_len) == 0;
}

/* out[0..n) are distinct ids of cand, none in avoid. */
static void check_distinct(const struct place_node *cand, size_t nc, const uint32_t *out, int n,
                           const uint32_t *avoid, size_t na)
{
    for (int i = 0; i < n; i++) {
        CHECKF(find(cand, nc, out[i]) != NULL, "chose unknown node %u", out[i]);
        for (int j = 0; j < i; j++)
            CHECKF(out[i] != out[j], "node %u chosen twice", out[i]);
        for (size_t j = 0; j < na; j++)
            CHECKF(out[i] != avoid[j], "chose holder %u", out[i]);
    }
}

TEST(distinct_servers)
{
    struct place_node c[5];
    for (uint32_t i = 0; i < 5; i++)
        c[i] = node(i + 1, 10 * GIB, NULL);
    uint32_t out[CAIRN_GOAL_MAX];
    for (int iter = 0; iter < 500; iter++) {
        int n = place_choose(c, 5, NULL, 0, NULL, 0, 3, 3, test_rng(), out);
        CHECK_EQ(n, 3);
        check_distinct(c, 5, out, n, NULL, 0);
        uint32_t avoid[2] = {1, 2};
        n = place_choose(c, 5, avoid, 2, NULL, 0, 3, 1, test_rng(), out);
        CHECK_EQ(n, 3);
        check_distinct(c, 5, out, n, avoid, 2);
        n = place_choose(c, 5, avoid, 2, NULL, 0, 4, 1, test_rng(), out);
        CHECK_EQ(n, 3); /* only three are left */
    }
}

TEST(distinct_racks)
{
    struct place_node c[6] = {node(1, 10 * GIB, "r1"), node(2, 10 * GIB, "r1"),
                              node(3, 10 * GIB, "r2"), node(4, 10 * GIB, "r2"),
                              node(5, 10 * GIB, "r3"), node(6, 10 * GIB, "r3")};
    uint32_t out[CAIRN_GOAL_MAX];
    for (int iter = 0; iter < 500; iter++) {
        int n = place_choose(c, 6, NULL, 0, NULL, 0, 3, 3, test_rng(), out);
        CHECK_EQ(n, 3);
        check_distinct(c, 6, out, n, NULL, 0);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++)
                CHECKF(!same_label(find(c, 6, out[i]), find(c, 6, out[j])),
                       "nodes %u and %u share a rack", out[i], out[j]);
        /* a live holder in r1: the new copy goes to r2 or r3 */
        struct place_node held = node(1, 0, "r1");
        uint32_t holder = 1;
        n = place_choose(c, 6, &holder, 1, &held, 1, 1, 1, test_rng(), out);
        CHECK_EQ(n, 1);
        CHECK(!same_label(find(c, 6, out[0]), &held));
        /* four copies over three racks: every rack used, then one twice */
        n = place_choose(c, 6, NULL, 0, NULL, 0, 4, 4, test_rng(), out);
        CHECK_EQ(n, 4);
        check_distinct(c, 6, out, n, NULL, 0);
        int racks[4] = {0};
        for (int i = 0; i < n; i++)
            racks[find(c, 6, out[i])->label[1] - '0']++;
        CHECK(racks[1] >= 1 && racks[2] >= 1 && racks[3] >= 1);
    }
}

TEST(unlabelled_servers_are_racks_of_their_own)
{
    struct place_node c[4] = {node(1, 10 * GIB, "r1"), node(2, 10 * GIB, "r1"),
                              node(3, 10 * GIB, NULL), node(4, 10 * GIB, NULL)};
    uint32_t out[CAIRN_GOAL_MAX];
    for (int iter = 0; iter < 300; iter++) {
        int n = place_choose(c, 4, NULL, 0, NULL, 0, 3, 3, test_rng(), out);
        CHECK_EQ(n, 3);
        int in_r1 = 0;
        for (int i = 0; i < n; i++)
            in_r1 += out[i] == 1 || out[i] == 2;
        CHECK_EQ(in_r1, 1); /* one of r1, plus both unlabelled */
    }
}

TEST(weighted_by_free_space)
{
    struct place_node c[3] = {node(1, 1 * GIB, NULL), node(2, 3 * GIB, NULL),
                              node(3, 6 * GIB, NULL)};
    uint32_t out[1];
    int count[4] = {0};
    const int trials = 20000;
    for (int i = 0; i < trials; i++) {
        CHECK_EQ(place_choose(c, 3, NULL, 0, NULL, 0, 1, 1, test_rng(), out), 1);
        count[out[0]]++;
    }
    /* expected 1/10, 3/10, 6/10 of the picks; wide margins (the seed is fixed
     * per run, so this is deterministic; the margins make it seed-proof) */
    CHECKF(count[1] > trials * 7 / 100 && count[1] < trials * 13 / 100, "node 1: %d", count[1]);
    CHECKF(count[2] > trials * 26 / 100 && count[2] < trials * 34 / 100, "node 2: %d", count[2]);
    CHECKF(count[3] > trials * 55 / 100 && count[3] < trials * 65 / 100, "node 3: %d", count[3]);
}

TEST(not_enough_servers)
{
    struct place_node c[3] = {node(1, 10 * GIB, NULL), node(2, 10 * GIB, NULL),
                              node(3, PLACE_FREE_MIN - 1, NULL)};
    uint32_t out[CAIRN_GOAL_MAX];
    /* node 3 is full: only two can take a chunk */
    CHECK_EQ(place_choose(c, 3, NULL, 0, NULL, 0, 3, 3, test_rng(), out), CAIRN_ENOSPC);
    int n = place_choose(c, 3, NULL, 0, NULL, 0, 3, 1, test_rng(), out);
    CHECK_EQ(n, 2);
    CHECK(out[0] != 3 && out[1] != 3);
    CHECK_EQ(place_choose(c, 0, NULL, 0, NULL, 0, 2, 1, test_rng(), out), CAIRN_ENOSPC);
    uint32_t avoid[2] = {1, 2};
    CHECK_EQ(place_choose(c, 3, avoid, 2, NULL, 0, 1, 1, test_rng(), out), CAIRN_ENOSPC);
    CHECK_EQ(place_choose(c, 3, NULL, 0, NULL, 0, 0, 0, test_rng(), out), 0);
}

TEST(same_inputs_same_answer)
{
    struct place_node c[8], shuffled[8];
    struct prng *r = test_rng();
    static const char *const racks[] = {"a", "b", "c", NULL};
    for (uint32_t i = 0; i < 8; i++)
        c[i] = node(i + 1, (1 + prng_below(r, 100)) * GIB, racks[prng_below(r, 4)]);
    memcpy(shuffled, c, sizeof c);
    for (int i = 7; i > 0; i--) {
        int j = (int)prng_below(r, (uint64_t)i + 1);
        struct place_node t = shuffled[i];
        shuffled[i] = shuffled[j];
        shuffled[j] = t;
    }
    for (uint64_t seed = 1; seed < 200; seed++) {
        struct prng a, b;
        prng_seed(&a, seed);
        prng_seed(&b, seed);
        uint32_t x[3], y[3];
        int nx = place_choose(c, 8, NULL, 0, NULL, 0, 3, 1, &a, x);
        int ny = place_choose(shuffled, 8, NULL, 0, NULL, 0, 3, 1, &b, y);
        CHECK_EQ(nx, ny);
        CHECK_MEM_EQ(x, y, sizeof x);
    }
}
