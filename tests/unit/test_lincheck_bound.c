/* test_lincheck_bound.c: unit tests of lin_check_bounded (tests/lib/lincheck.h): ops with
 * unknown outcome that took effect before a bound or never. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/prng.h"
#include "lincheck.h"
#include "test.h"

#define INF LIN_TIME_INF
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static struct lin_op kv_op(uint64_t client, uint64_t call, uint64_t ret, uint32_t kind,
                           uint64_t key, uint64_t a0, uint64_t a1, uint64_t o0)
{
    return (struct lin_op){.client = client,
                           .call_time = call,
                           .ret_time = ret,
                           .kind = kind,
                           .key = key,
                           .arg = {a0, a1},
                           .out = {o0, 0}};
}

#define GET(c, t0, t1, k, v) kv_op((c), (t0), (t1), LIN_KV_GET, (k), 0, 0, (v))
#define PUT(c, t0, t1, k, v) kv_op((c), (t0), (t1), LIN_KV_PUT, (k), (v), 0, 0)
#define CAS(c, t0, t1, k, e, nv, ok) kv_op((c), (t0), (t1), LIN_KV_CAS, (k), (e), (nv), (ok))
#define ACQ(c, t0, t1, lock, tok) kv_op((c), (t0), (t1), LIN_LOCK_ACQUIRE, (lock), 0, 0, (tok))
#define REL(c, t0, t1, lock, ok) kv_op((c), (t0), (t1), LIN_LOCK_RELEASE, (lock), 0, 0, (ok))

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    CHECK(p != NULL);
    return p;
}

static enum lin_verdict check(const struct lin_model *m, const struct lin_op *ops,
                              const uint64_t *bound, size_t n, struct lin_result *r)
{
    enum lin_verdict v = lin_check_bounded(m, ops, bound, n, 0, r);
    CHECK_EQ((int)r->verdict, (int)v);
    return v;
}

#define EXPECT_V(want, m, ops, bound)                                                              \
    do {                                                                                           \
        struct lin_result r_;                                                                      \
        enum lin_verdict v_ = check((m), (ops), (bound), LEN(ops), &r_);                           \
        CHECKF(v_ == (want), "expected verdict %d, got %d:\n%s", (int)(want), (int)v_, r_.report); \
    } while (0)

/* A lost put is read at [10, 20] and again at [60, 70]: fine when it may
 * apply before its bound; the bound alone decides. */
TEST_T(bound_applied_before_ok, 10)
{
    struct lin_op a[] = {PUT(1, 0, INF, 1, 7), GET(2, 10, 20, 1, 7), GET(2, 60, 70, 1, 7)};
    uint64_t b50[] = {50, 0, 0}, b15[] = {15, 0, 0}, b10[] = {10, 0, 0};
    EXPECT_V(LIN_OK, &lin_model_kv, a, b50);
    EXPECT_V(LIN_OK, &lin_model_kv, a, b15);
    EXPECT_V(LIN_OK, &lin_model_kv, a, b10); /* bound = the read's call: concurrent */
    /* Never applied is allowed too. */
    struct lin_op c[] = {PUT(1, 0, INF, 1, 7), GET(2, 10, 20, 1, 0), GET(2, 60, 70, 1, 0)};
    EXPECT_V(LIN_OK, &lin_model_kv, c, b15);
}

/* The put must apply after the first read (0 at [60, 70]) and before the
 * second (7 at [80, 90]): a violation when its bound is before 60,
 * linearizable without a bound (lin_check) or with a bound at or after the
 * first read's call (equal times count as concurrent). */
TEST_T(bound_needed_after_rejected, 10)
{
    struct lin_op a[] = {PUT(1, 0, INF, 1, 7), GET(2, 60, 70, 1, 0), GET(2, 80, 90, 1, 7)};
    uint64_t b50[] = {50, 0, 0}, b59[] = {59, 0, 0}, b60[] = {60, 0, 0}, inf[] = {INF, 0, 0};
    EXPECT_V(LIN_VIOLATION, &lin_model_kv, a, b50);
    EXPECT_V(LIN_VIOLATION, &lin_model_kv, a, b59);
    EXPECT_V(LIN_OK, &lin_model_kv, a, b60);
    EXPECT_V(LIN_OK, &lin_model_kv, a, inf);
    EXPECT_V(LIN_OK, &lin_model_kv, a, NULL);
    struct lin_result r;
    CHECK_EQ(lin_check(&lin_model_kv, a, LEN(a), 0, &r), LIN_OK);
    /* The report does not offer the expired put as a candidate. */
    CHECK_EQ(check(&lin_model_kv, a, b50, LEN(a), &r), LIN_VIOLATION);
    CHECKF(strstr(r.report, "put(1, 7)") == NULL, "%s", r.report);
}

/* A lost put bounded by the return of its client's next acked put (the
 * session rule): once a read called after that return saw the later put,
 * the lost one can't overwrite it any more. */
TEST_T(bound_by_next_put, 10)
{
    struct lin_op a[] = {PUT(1, 0, INF, 1, 7), PUT(1, 100, 110, 1, 8), GET(2, 120, 130, 1, 8),
                         GET(2, 200, 210, 1, 7)};
    uint64_t bound[] = {110, 0, 0, 0};
    EXPECT_V(LIN_VIOLATION, &lin_model_kv, a, bound);
    EXPECT_V(LIN_OK, &lin_model_kv, a, NULL);
    a[3].out[0] = 8;
    EXPECT_V(LIN_OK, &lin_model_kv, a, bound);
    /* Without the read at 120 the lost put may land within [100, 110]. */
    struct lin_op b[] = {PUT(1, 0, INF, 1, 7), PUT(1, 100, 110, 1, 8), GET(2, 200, 210, 1, 7)};
    EXPECT_V(LIN_OK, &lin_model_kv, b, bound);
}

/* Bounds on several pending ops and on locks; completed ops' bounds are
 * ignored. */
TEST_T(bound_several_and_locks, 10)
{
    /* cas 0->5 (lost, bound 30) and put 9 (lost, bound 80): read 5 at 40
     * then 9 at 90 is fine; 0 at 40 then 5 at 90 needs the cas after 40. */
    struct lin_op a[] = {CAS(1, 0, INF, 1, 0, 5, 0), PUT(2, 0, INF, 1, 9), GET(3, 40, 50, 1, 5),
                         GET(3, 90, 95, 1, 9), GET(3, 96, 99, 1, 9)};
    uint64_t bound[] = {30, 80, 1, 1, 1}; /* completed ops' bounds are ignored */
    EXPECT_V(LIN_OK, &lin_model_kv, a, bound);
    a[2].out[0] = 0;
    a[3].out[0] = a[4].out[0] = 5;
    EXPECT_V(LIN_VIOLATION, &lin_model_kv, a, bound);
    EXPECT_V(LIN_OK, &lin_model_kv, a, NULL);
    /* c1's lost acquire bounded at 20; c2 held and released the lock in
     * [30, 45], so c3's refusal at 50 would need c1's grant after 45. */
    struct lin_op l[] = {ACQ(1, 0, INF, 1, 0), ACQ(2, 30, 40, 1, 5), REL(2, 41, 45, 1, 1),
                         ACQ(3, 50, 60, 1, 0)};
    uint64_t lb[] = {20, 0, 0, 0}, lb2[] = {55, 0, 0, 0};
    EXPECT_V(LIN_VIOLATION, &lin_model_lock, l, lb);
    EXPECT_V(LIN_OK, &lin_model_lock, l, NULL);
    EXPECT_V(LIN_OK, &lin_model_lock, l, lb2);
}

/* ---------------------------------------------------------------------- */
/* Brute force with bounds: every order of every subset of the pending ops,
 * respecting real time; a pending op q may not follow an op called after
 * q's bound. Small random histories must get the same verdict. */

#define BF_OPS_MAX 8
#define BF_ROUNDS 20000

static int bf_lin(const struct lin_model *m, const struct lin_op *ops, const uint64_t *bound,
                  size_t n, unsigned used, const void *state)
{
    int all_done = 1;
    for (size_t i = 0; i < n; i++)
        if (!(used >> i & 1) && ops[i].ret_time != INF)
            all_done = 0;
    if (all_done)
        return 1;
    for (size_t i = 0; i < n; i++) {
        int ok = !(used >> i & 1);
        for (size_t q = 0; q < n && ok; q++)
            if (!(used >> q & 1) && ops[q].ret_time < ops[i].call_time)
                ok = 0; /* q must take effect before i */
        if (!ok)
            continue;
        unsigned next_used = used | 1u << i;
        for (size_t q = 0; q < n; q++) /* pending ops past their bound: dropped */
            if (ops[q].ret_time == INF && bound[q] < ops[i].call_time)
                next_used |= 1u << q;
        uint64_t next[LIN_STATE_MAX / 8];
        memcpy(next, state, m->state_size);
        if (m->step(next, &ops[i]) && bf_lin(m, ops, bound, n, next_used, next))
            return 1;
    }
    return 0;
}

static size_t gen_small(struct prng *r, const struct lin_model *m, struct lin_op *ops,
                        uint64_t *bound)
{
    size_t n = prng_range(r, 1, BF_OPS_MAX);
    for (size_t i = 0; i < n; i++) {
        struct lin_op *o = &ops[i];
        memset(o, 0, sizeof *o);
        o->client = prng_range(r, 1, 3);
        o->key = 1;
        o->call_time = 1 + prng_below(r, 8); /* 1+: a bound of 0 means none */
        int pending = prng_chance(r, 1, 3);
        o->ret_time = pending ? INF : o->call_time + prng_below(r, 6);
        bound[i] = pending && prng_chance(r, 3, 4) ? o->call_time + prng_below(r, 8) : INF;
        if (m == &lin_model_kv) {
            o->kind = (uint32_t)prng_range(r, LIN_KV_GET, LIN_KV_CAS);
            o->arg[0] = prng_below(r, 3);
            o->arg[1] = prng_below(r, 3);
            o->out[0] = prng_below(r, o->kind == LIN_KV_CAS ? 2 : 3);
        } else {
            o->kind = prng_chance(r, 1, 2) ? LIN_LOCK_ACQUIRE : LIN_LOCK_RELEASE;
            o->out[0] = prng_below(r, o->kind == LIN_LOCK_ACQUIRE ? 4 : 2);
        }
    }
    return n;
}

static void bf_compare(const struct lin_model *m)
{
    int ok = 0, bad = 0, differs = 0;
    for (int round = 0; round < BF_ROUNDS; round++) {
        struct lin_op ops[BF_OPS_MAX];
        uint64_t bound[BF_OPS_MAX];
        size_t n = gen_small(test_rng(), m, ops, bound);
        uint64_t state[LIN_STATE_MAX / 8] = {0};
        m->init(state);
        int want = bf_lin(m, ops, bound, n, 0, state);
        struct lin_result r;
        enum lin_verdict v = check(m, ops, bound, n, &r);
        if (v != (want ? LIN_OK : LIN_VIOLATION))
            for (size_t i = 0; i < n; i++)
                printf("op %zu: c%llu [%llu, %lld] bound %lld kind %u arg %llu %llu out %llu\n", i,
                       (unsigned long long)ops[i].client, (unsigned long long)ops[i].call_time,
                       (long long)ops[i].ret_time, (long long)bound[i], ops[i].kind,
                       (unsigned long long)ops[i].arg[0], (unsigned long long)ops[i].arg[1],
                       (unsigned long long)ops[i].out[0]);
        CHECKF(v == (want ? LIN_OK : LIN_VIOLATION),
               "round %d: brute force says %d, lin_check_bounded %d:\n%s", round, want, (int)v,
               r.report);
        differs += (lin_check(m, ops, n, 0, &r) == LIN_OK) != want;
        want ? ok++ : bad++;
    }
    /* Both verdicts common, and the bounds must matter in some histories. */
    CHECKF(ok > BF_ROUNDS / 10 && bad > BF_ROUNDS / 10 && differs > 0, "%d ok, %d bad, %d differ",
           ok, bad, differs);
}

TEST_T(bound_kv_matches_brute_force, 60) { bf_compare(&lin_model_kv); }

TEST_T(bound_lock_matches_brute_force, 60) { bf_compare(&lin_model_lock); }

/* ---------------------------------------------------------------------- */
/* A long register history from a real execution: 3 clients, one key, 4% of
 * the ops lost (a lost op takes effect before the client's next completed
 * op returns, or never), bounded as the session rule allows. Unbounded,
 * such a history is past any budget; bounded it must pass, and a corrupted
 * read must be found. */

struct big {
    struct lin_op *ops;
    uint64_t *bound;
    size_t n;
};

static int u64_cmp_idx(const void *pa, const void *pb)
{
    const uint64_t *a = pa, *b = pb; /* (lin time, index) pairs */
    if (a[0] != b[0])
        return a[0] < b[0] ? -1 : 1;
    return a[1] < b[1] ? -1 : a[1] > b[1];
}

/* Times, then bounds (the next completed op of the same client), then the
 * linearization points, then the results by replaying them in order. */
static struct big gen_big(struct prng *r, size_t n, unsigned clients)
{
    struct big g = {xcalloc(n, sizeof *g.ops), xcalloc(n, sizeof *g.bound), n};
    uint64_t *t = xcalloc(clients, sizeof *t), (*lin)[2] = xcalloc(n, sizeof *lin);
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned)prng_below(r, clients);
        struct lin_op *o = &g.ops[i];
        o->client = c + 1;
        o->key = 1;
        o->call_time = t[c] + prng_range(r, 1, 10);
        o->kind = prng_chance(r, 1, 2) ? LIN_KV_GET : LIN_KV_PUT;
        o->arg[0] = i + 1;
        o->ret_time = prng_chance(r, 4, 100) ? INF : o->call_time + prng_range(r, 0, 40);
        t[c] = o->ret_time == INF ? o->call_time + 60 : o->ret_time;
    }
    for (size_t i = n; i-- > 0;) { /* bound: the same client's next completed op */
        g.bound[i] = INF;
        for (size_t j = i + 1; j < n && g.bound[i] == INF; j++)
            if (g.ops[j].client == g.ops[i].client && g.ops[j].ret_time != INF)
                g.bound[i] = g.ops[j].ret_time;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct lin_op *o = &g.ops[i];
        if (o->ret_time != INF)
            lin[m][0] = prng_range(r, o->call_time, o->ret_time);
        else if (prng_chance(r, 1, 2))
            continue; /* never took effect */
        else
            lin[m][0] = o->call_time + prng_below(r, CAIRN_MIN(g.bound[i] - o->call_time, 200));
        lin[m++][1] = i;
    }
    qsort(lin, m, sizeof *lin, u64_cmp_idx);
    uint64_t v = 0;
    for (size_t k = 0; k < m; k++) {
        struct lin_op *o = &g.ops[lin[k][1]];
        if (o->kind == LIN_KV_PUT)
            v = o->arg[0];
        else
            o->out[0] = v;
    }
    free(lin);
    free(t);
    return g;
}

TEST_T(bound_long_history, 120)
{
    struct big g = gen_big(test_rng(), 25000, 3);
    struct lin_result *r = xcalloc(1, sizeof *r);
    CHECKF(lin_check_bounded(&lin_model_kv, g.ops, g.bound, g.n, 0, r) == LIN_OK, "%s", r->report);
    printf("long history: %zu ops, %zu steps\n", g.n, r->explored);
    /* A read of a value written only later than the read returned. */
    for (size_t i = 0; i + 2 < g.n; i++) {
        struct lin_op *o = &g.ops[i];
        if (o->kind != LIN_KV_GET || o->ret_time == INF || i < g.n / 2)
            continue;
        size_t w = i + 1;
        while (w < g.n && !(g.ops[w].kind == LIN_KV_PUT && g.ops[w].ret_time != INF &&
                            g.ops[w].call_time > o->ret_time))
            w++;
        if (w == g.n)
            continue;
        o->out[0] = g.ops[w].arg[0];
        break;
    }
    CHECKF(lin_check_bounded(&lin_model_kv, g.ops, g.bound, g.n, 0, r) == LIN_VIOLATION, "%d",
           (int)r->verdict);
    free(r);
    free(g.ops);
    free(g.bound);
}
