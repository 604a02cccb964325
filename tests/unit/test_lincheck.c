/* test_lincheck.c: unit tests of the linearizability checker (tests/lib/lincheck.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/prng.h"
#include "lincheck.h"
#include "test.h"

#define INF LIN_TIME_INF

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

/* History building shorthands: client, call, return, key, values. */
#define GET(c, t0, t1, k, v) kv_op((c), (t0), (t1), LIN_KV_GET, (k), 0, 0, (v))
#define PUT(c, t0, t1, k, v) kv_op((c), (t0), (t1), LIN_KV_PUT, (k), (v), 0, 0)
#define CAS(c, t0, t1, k, e, nv, ok) kv_op((c), (t0), (t1), LIN_KV_CAS, (k), (e), (nv), (ok))
#define ACQ(c, t0, t1, lock, tok) kv_op((c), (t0), (t1), LIN_LOCK_ACQUIRE, (lock), 0, 0, (tok))
#define REL(c, t0, t1, lock, ok) kv_op((c), (t0), (t1), LIN_LOCK_RELEASE, (lock), 0, 0, (ok))

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    CHECK(p != NULL);
    return p;
}

/* Check a history that must be linearizable; prints the report if not. */
static void expect_ok_at(const char *file, int line, const struct lin_model *m,
                         const struct lin_op *ops, size_t n)
{
    struct lin_result r;
    enum lin_verdict v = lin_check(m, ops, n, 0, &r);
    if (v != LIN_OK || r.verdict != LIN_OK)
        test_fail(file, line, "expected linearizable, got verdict %d:\n%s", (int)v, r.report);
}

/* Check a history that must be rejected; returns the result for more checks. */
static struct lin_result expect_bad_at(const char *file, int line, const struct lin_model *m,
                                       const struct lin_op *ops, size_t n)
{
    struct lin_result r;
    enum lin_verdict v = lin_check(m, ops, n, 0, &r);
    if (v != LIN_VIOLATION || r.verdict != LIN_VIOLATION)
        test_fail(file, line, "expected a violation, got verdict %d:\n%s", (int)v, r.report);
    if (strstr(r.report, "not linearizable") == NULL)
        test_fail(file, line, "violation without a report: \"%s\"", r.report);
    return r;
}

#define EXPECT_OK(m, ops) expect_ok_at(__FILE__, __LINE__, (m), (ops), CAIRN_LEN(ops))
#define EXPECT_BAD(m, ops) expect_bad_at(__FILE__, __LINE__, (m), (ops), CAIRN_LEN(ops))
#define CAIRN_LEN(a) (sizeof(a) / sizeof((a)[0]))

TEST_T(kv_sequential_ok, 10)
{
    struct lin_op ops[] = {
        GET(1, 0, 1, 5, 0),    PUT(1, 2, 3, 5, 10),          GET(2, 4, 5, 5, 10),
        PUT(2, 6, 7, 5, 11),   GET(1, 8, 9, 5, 11),          CAS(1, 10, 11, 5, 11, 12, 1),
        GET(2, 12, 13, 5, 12), CAS(2, 14, 15, 5, 11, 13, 0), GET(1, 16, 17, 5, 12),
        GET(3, 18, 19, 6, 0),  CAS(3, 20, 21, 6, 0, 7, 1),   GET(3, 22, 23, 6, 7),
    };
    EXPECT_OK(&lin_model_kv, ops);
    struct lin_result r;
    CHECK_EQ(lin_check(&lin_model_kv, ops, CAIRN_LEN(ops), 0, &r), LIN_OK);
    CHECK(r.explored >= CAIRN_LEN(ops));
    CHECK_EQ(lin_check(&lin_model_kv, NULL, 0, 0, &r), LIN_OK);
    /* The same ops in a shuffled array: the checker orders them by time. */
    for (size_t i = CAIRN_LEN(ops) - 1; i > 0; i--) {
        size_t j = (size_t)prng_below(test_rng(), i + 1);
        struct lin_op t = ops[i];
        ops[i] = ops[j];
        ops[j] = t;
    }
    EXPECT_OK(&lin_model_kv, ops);
}

TEST_T(kv_concurrent_orders_ok, 10)
{
    /* Overlapping puts may take effect in either order. */
    struct lin_op a[] = {PUT(1, 0, 10, 1, 1), PUT(2, 5, 15, 1, 2), GET(3, 20, 30, 1, 2)};
    EXPECT_OK(&lin_model_kv, a);
    struct lin_op b[] = {PUT(1, 0, 10, 1, 1), PUT(2, 5, 15, 1, 2), GET(3, 20, 30, 1, 1)};
    EXPECT_OK(&lin_model_kv, b);
    /* Reads inside a long write see the old value, then the new one. */
    struct lin_op c[] = {PUT(1, 0, 100, 1, 1), GET(2, 10, 20, 1, 0), GET(3, 30, 40, 1, 1),
                         GET(2, 50, 60, 1, 1)};
    EXPECT_OK(&lin_model_kv, c);
    /* A read overlapping two writes may see the first, the second or none. */
    for (uint64_t v = 0; v <= 2; v++) {
        struct lin_op d[] = {PUT(1, 0, 10, 1, 1), PUT(2, 12, 20, 1, 2), GET(3, 5, 15, 1, v)};
        EXPECT_OK(&lin_model_kv, d);
    }
    /* Three clients racing CAS from absent: exactly one wins, in any order. */
    struct lin_op e[] = {CAS(1, 0, 10, 1, 0, 1, 0), CAS(2, 1, 11, 1, 0, 2, 1),
                         CAS(3, 2, 12, 1, 0, 3, 0), GET(1, 13, 14, 1, 2)};
    EXPECT_OK(&lin_model_kv, e);
    /* Equal times are concurrent: the read may precede the put. */
    struct lin_op f[] = {PUT(1, 0, 10, 1, 5), GET(2, 10, 20, 1, 0)};
    EXPECT_OK(&lin_model_kv, f);
    /* A chain where only one interleaving works (put 3 last, read 3 before put 4). */
    struct lin_op g[] = {PUT(1, 0, 50, 1, 3),  PUT(2, 0, 50, 1, 4),  PUT(3, 0, 50, 1, 5),
                         GET(4, 10, 20, 1, 5), GET(4, 21, 30, 1, 4), GET(5, 31, 60, 1, 3)};
    EXPECT_OK(&lin_model_kv, g);
}

TEST_T(kv_unknown_outcome, 10)
{
    /* A write with unknown outcome that took effect... */
    struct lin_op a[] = {PUT(1, 0, INF, 1, 7), GET(2, 10, 20, 1, 7), GET(2, 30, 40, 1, 7)};
    EXPECT_OK(&lin_model_kv, a);
    /* ...that never did... */
    struct lin_op b[] = {PUT(1, 0, INF, 1, 7), GET(2, 10, 20, 1, 0), GET(2, 30, 40, 1, 0)};
    EXPECT_OK(&lin_model_kv, b);
    /* ...or that took effect late, long after its call. */
    struct lin_op c[] = {PUT(1, 0, INF, 1, 7), GET(2, 10, 20, 1, 0), GET(2, 1000, 1010, 1, 7)};
    EXPECT_OK(&lin_model_kv, c);
    /* Once seen, its effect stays (nothing else writes). */
    struct lin_op d[] = {PUT(1, 0, INF, 1, 7), GET(2, 10, 20, 1, 7), GET(2, 30, 40, 1, 0)};
    EXPECT_BAD(&lin_model_kv, d);
    /* It cannot take effect before its call. */
    struct lin_op e[] = {GET(2, 0, 10, 1, 7), PUT(1, 20, INF, 1, 7)};
    EXPECT_BAD(&lin_model_kv, e);
    /* A CAS with unknown outcome: swapped or not. */
    for (uint64_t v = 1; v <= 2; v++) {
        struct lin_op f[] = {PUT(1, 0, 10, 1, 1), CAS(2, 20, INF, 1, 1, 2, 0),
                             GET(3, 30, 40, 1, v)};
        EXPECT_OK(&lin_model_kv, f);
    }
    /* A pending CAS whose expectation never held cannot take effect. */
    struct lin_op g[] = {PUT(1, 0, 10, 1, 1), CAS(2, 20, INF, 1, 9, 2, 0), GET(3, 30, 40, 1, 2)};
    EXPECT_BAD(&lin_model_kv, g);
    /* Many pending ops that never happened, around a completed history. */
    struct lin_op h[40];
    for (uint64_t i = 0; i < 20; i++) {
        h[2 * i] = PUT(i + 10, 3 * i, INF, 1, 100 + i);
        h[2 * i + 1] = GET(1, 3 * i, 3 * i + 1, 1, 0);
    }
    EXPECT_OK(&lin_model_kv, h);
    h[39] = GET(1, 57, 58, 1, 100 + 19);
    EXPECT_OK(&lin_model_kv, h);
    h[39] = GET(1, 57, 58, 1, 100 + 20); /* a value nobody wrote */
    EXPECT_BAD(&lin_model_kv, h);
}

TEST_T(kv_unknown_outcome_choices, 10)
{
    /* Two pending ops reach the same state from 0 (put 1, cas 0 -> 1), but
     * only the put can serve the second read: the search must not treat
     * "used the put" and "used the cas" as the same configuration. */
    struct lin_op a[] = {PUT(1, 0, INF, 1, 1), CAS(2, 1, INF, 1, 0, 1, 0), GET(3, 2, 3, 1, 1),
                         PUT(3, 4, 5, 1, 3), GET(3, 6, 7, 1, 1)};
    EXPECT_OK(&lin_model_kv, a);
    /* A pending put of 0 must be placed between two successful CAS from 0
     * (found by the brute-force comparison below). */
    struct lin_op b[] = {
        CAS(3, 6, 8, 1, 2, 1, 1), PUT(2, 2, INF, 1, 0),     PUT(2, 6, 7, 1, 2), GET(3, 1, 1, 1, 1),
        CAS(1, 1, 5, 1, 0, 1, 1), CAS(2, 4, 5, 1, 0, 1, 1), PUT(3, 0, 2, 1, 1)};
    EXPECT_OK(&lin_model_kv, b);
    b[1].ret_time = 3; /* completed by t=3: still fits, before the second CAS */
    EXPECT_OK(&lin_model_kv, b);
    /* Without that put, nothing writes 0 between the two CAS from 0. */
    struct lin_op c[] = {b[0], b[2], b[3], b[4], b[5], b[6]};
    EXPECT_BAD(&lin_model_kv, c);
}

TEST_T(kv_stale_read_rejected, 10)
{
    struct lin_op ops[] = {PUT(1, 0, 10, 3, 1), PUT(1, 20, 30, 3, 2), GET(2, 40, 50, 3, 1)};
    struct lin_result r = EXPECT_BAD(&lin_model_kv, ops);
    CHECK_EQ_U64(r.bad_key, 3);
    /* The report names the partition, the prefix and the op that fails. */
    printf("%s", r.report);
    CHECKF(strstr(r.report, "partition key 3") != NULL, "%s", r.report);
    CHECKF(strstr(r.report, "longest linearizable prefix: 2 ops") != NULL, "%s", r.report);
    CHECKF(strstr(r.report, "op[2] client 2 [40, 50]: get(3) -> 1  (not legal") != NULL, "%s",
           r.report);
    CHECKF(strstr(r.report, "put(3, 2)") != NULL, "%s", r.report);
}

TEST_T(kv_never_written_rejected, 10)
{
    struct lin_op ops[] = {PUT(1, 0, 10, 1, 1), PUT(2, 5, 15, 1, 2), GET(3, 0, 20, 1, 3)};
    EXPECT_BAD(&lin_model_kv, ops);
    struct lin_op absent[] = {GET(3, 0, 20, 1, 3)};
    EXPECT_BAD(&lin_model_kv, absent);
}

TEST_T(kv_read_order_rejected, 10)
{
    /* Inside one write, a read sees the new value, a later read the old one. */
    struct lin_op a[] = {PUT(1, 0, 100, 1, 1), GET(2, 30, 40, 1, 1), GET(3, 50, 60, 1, 0)};
    EXPECT_BAD(&lin_model_kv, a);
    /* Two concurrent writes seen in opposite orders by two sequential readers
     * (each reader's reads are ordered; the writes are ordered only once). */
    struct lin_op b[] = {PUT(1, 0, 100, 1, 1), PUT(2, 0, 100, 1, 2), GET(3, 10, 20, 1, 1),
                         GET(3, 30, 40, 1, 2), GET(4, 10, 20, 1, 2), GET(4, 30, 40, 1, 1)};
    EXPECT_BAD(&lin_model_kv, b);
    /* Without the second reader it is fine. */
    struct lin_op c[] = {b[0], b[1], b[2], b[3]};
    EXPECT_OK(&lin_model_kv, c);
}

TEST_T(kv_lost_cas_rejected, 10)
{
    /* Two CAS from absent both claim success. */
    struct lin_op a[] = {CAS(1, 0, 10, 1, 0, 1, 1), CAS(2, 5, 15, 1, 0, 2, 1)};
    EXPECT_BAD(&lin_model_kv, a);
    /* A swap that was acknowledged but is lost: a later read sees the old value. */
    struct lin_op b[] = {PUT(1, 0, 10, 1, 1), CAS(2, 20, 30, 1, 1, 2, 1), GET(3, 40, 50, 1, 1)};
    EXPECT_BAD(&lin_model_kv, b);
    /* A CAS that reports failure although its expectation held. */
    struct lin_op c[] = {PUT(1, 0, 10, 1, 1), CAS(2, 20, 30, 1, 1, 2, 0)};
    EXPECT_BAD(&lin_model_kv, c);
    /* A CAS that reports success although its expectation did not hold. */
    struct lin_op d[] = {PUT(1, 0, 10, 1, 1), CAS(2, 20, 30, 1, 5, 2, 1)};
    EXPECT_BAD(&lin_model_kv, d);
}

TEST_T(kv_partitions_independent, 10)
{
    /* Keys 1..5 interleaved in time; only key 4 is broken. */
    struct lin_op ops[30];
    size_t n = 0;
    for (uint64_t k = 1; k <= 5; k++) {
        uint64_t t = k; /* offset so partitions overlap in time */
        ops[n++] = PUT(k, t, t + 10, k, 100 + k);
        ops[n++] = GET(k + 10, t + 20, t + 30, k, 100 + k);
        ops[n++] = PUT(k, t + 40, t + 50, k, 200 + k);
        ops[n++] = GET(k + 10, t + 60, t + 70, k, k == 4 ? 100 + k : 200 + k);
    }
    struct lin_result r;
    CHECK_EQ(lin_check(&lin_model_kv, ops, n, 0, &r), LIN_VIOLATION);
    CHECK_EQ_U64(r.bad_key, 4);
    CHECKF(strstr(r.report, "partition key 4") != NULL, "%s", r.report);
    ops[15].out[0] = 204;
    CHECK_EQ(lin_check(&lin_model_kv, ops, n, 0, &r), LIN_OK);
}

/* An unpartitioned model with no describe(): a counter whose INC returns
 * the new value. Exercises the single-partition path and default reports. */
enum { CTR_INC = 1, CTR_READ = 2 };

static void ctr_init(void *state) { memset(state, 0, sizeof(uint64_t)); }

static int ctr_step(void *state, const struct lin_op *op)
{
    uint64_t *v = state;
    int known = op->ret_time != LIN_TIME_INF;
    if (op->kind == CTR_READ)
        return !known || op->out[0] == *v;
    if (op->kind != CTR_INC || (known && op->out[0] != *v + 1))
        return 0;
    (*v)++;
    return 1;
}

static const struct lin_model ctr_model = {
    .name = "counter",
    .state_size = sizeof(uint64_t),
    .partitioned = 0,
    .init = ctr_init,
    .step = ctr_step,
    .describe = NULL,
};

TEST_T(unpartitioned_model, 10)
{
    /* Keys are ignored: all ops form one history. */
    struct lin_op ok[] = {
        kv_op(1, 0, 10, CTR_INC, 1, 0, 0, 2), kv_op(2, 0, 10, CTR_INC, 2, 0, 0, 1),
        kv_op(3, 11, 12, CTR_READ, 3, 0, 0, 2), kv_op(1, 13, INF, CTR_INC, 4, 0, 0, 0),
        kv_op(2, 20, 30, CTR_READ, 5, 0, 0, 3)};
    EXPECT_OK(&ctr_model, ok);
    ok[2].out[0] = 1;
    struct lin_result r = EXPECT_BAD(&ctr_model, ok);
    CHECK_EQ_U64(r.bad_key, 0);
    CHECKF(strstr(r.report, "counter: not linearizable (5 ops)") != NULL, "%s", r.report);
    CHECKF(strstr(r.report, "kind 2 key 3 arg (0, 0) -> (1, 0)") != NULL, "%s", r.report);
}

TEST_T(lock_histories, 10)
{
    /* Acquire, release, acquire by another client, with growing tokens. */
    struct lin_op a[] = {ACQ(1, 0, 10, 1, 5),  ACQ(2, 2, 8, 1, 0),   REL(1, 12, 18, 1, 1),
                         ACQ(2, 20, 30, 1, 9), REL(1, 31, 32, 1, 0), REL(2, 40, 50, 1, 1)};
    EXPECT_OK(&lin_model_lock, a);
    /* An acquire concurrent with the holder's release may be granted. */
    struct lin_op b[] = {ACQ(1, 0, 10, 1, 5), REL(1, 12, 30, 1, 1), ACQ(2, 20, 25, 1, 6)};
    EXPECT_OK(&lin_model_lock, b);
    /* Two locks are independent. */
    struct lin_op c[] = {ACQ(1, 0, 10, 1, 5), ACQ(2, 0, 10, 2, 3)};
    EXPECT_OK(&lin_model_lock, c);
    /* An acquire with unknown outcome may have taken the lock (refusing c3),
     * or not (c3 gets it with a larger token). */
    struct lin_op d[] = {ACQ(1, 0, 10, 1, 5), REL(1, 11, 12, 1, 1), ACQ(2, 13, INF, 1, 0),
                         ACQ(3, 20, 30, 1, 0)};
    EXPECT_OK(&lin_model_lock, d);
    d[3].out[0] = 6;
    EXPECT_OK(&lin_model_lock, d);
    /* A refusal while nobody can hold the lock is wrong. */
    struct lin_op e[] = {ACQ(1, 0, 10, 1, 5), REL(1, 11, 12, 1, 1), ACQ(3, 20, 30, 1, 0)};
    EXPECT_BAD(&lin_model_lock, e);
    /* The holder's release cannot fail; a non-holder's cannot succeed. */
    struct lin_op f[] = {ACQ(1, 0, 10, 1, 5), REL(1, 11, 12, 1, 0)};
    EXPECT_BAD(&lin_model_lock, f);
    struct lin_op g[] = {ACQ(1, 0, 10, 1, 5), REL(2, 11, 12, 1, 1)};
    EXPECT_BAD(&lin_model_lock, g);
}

TEST_T(lock_two_holders_rejected, 10)
{
    struct lin_op a[] = {ACQ(1, 0, 10, 7, 5), ACQ(2, 20, 30, 7, 6)};
    struct lin_result r = EXPECT_BAD(&lin_model_lock, a);
    CHECK_EQ_U64(r.bad_key, 7);
    CHECKF(strstr(r.report, "acquire(lock 7) -> token 6") != NULL, "%s", r.report);
    /* Even overlapping grants need a release in between. */
    struct lin_op b[] = {ACQ(1, 0, 10, 7, 5), ACQ(2, 5, 15, 7, 6), REL(1, 20, 30, 7, 1)};
    EXPECT_BAD(&lin_model_lock, b);
    /* The release only counts once it may have happened: here it is called
     * after the second grant returned. */
    struct lin_op c[] = {ACQ(1, 0, 10, 7, 5), ACQ(2, 11, 15, 7, 6), REL(1, 16, 30, 7, 1)};
    EXPECT_BAD(&lin_model_lock, c);
}

TEST_T(lock_decreasing_token_rejected, 10)
{
    struct lin_op a[] = {ACQ(1, 0, 10, 1, 10), REL(1, 20, 30, 1, 1), ACQ(2, 40, 50, 1, 9)};
    EXPECT_BAD(&lin_model_lock, a);
    a[2].out[0] = 10; /* equal is not strictly increasing */
    EXPECT_BAD(&lin_model_lock, a);
    a[2].out[0] = 11;
    EXPECT_OK(&lin_model_lock, a);
    /* After a grant of unknown token, the next token must exceed last + 1. */
    struct lin_op b[] = {ACQ(1, 0, 10, 1, 10), REL(1, 11, 12, 1, 1), ACQ(2, 13, 14, 1, 0),
                         ACQ(3, 15, 16, 1, 0)};
    b[2].ret_time = INF;          /* c2's acquire: outcome unknown */
    b[3] = REL(2, 15, INF, 1, 0); /* c2 may have released it */
    struct lin_op c[5];
    memcpy(c, b, sizeof b);
    c[4] = ACQ(3, 20, 30, 1, 11); /* c3 granted 11: only if c2 never got it */
    EXPECT_OK(&lin_model_lock, c);
    c[3] = REL(2, 15, 16, 1, 1); /* c2 did hold and release it: its token was >= 11 */
    EXPECT_BAD(&lin_model_lock, c);
    c[4].out[0] = 12;
    EXPECT_OK(&lin_model_lock, c);
}

/* ---------------------------------------------------------------------- */
/* A reference checker by brute force: try every order of every subset of
 * the pending ops with all completed ops, respecting real time. Small
 * random histories (mostly ties, unknown outcomes and wrong results) must
 * get the same verdict from both: this checks lin_check's pruning rules. */

#define BF_OPS_MAX 9
#ifndef BF_ROUNDS
#define BF_ROUNDS 20000
#endif

static int bf_linearizable(const struct lin_model *m, const struct lin_op *ops, size_t n,
                           unsigned used, const void *state)
{
    int all_done = 1;
    for (size_t i = 0; i < n; i++)
        if (!(used >> i & 1) && ops[i].ret_time != INF)
            all_done = 0;
    if (all_done)
        return 1;
    for (size_t i = 0; i < n; i++) {
        int may_go_next = !(used >> i & 1);
        for (size_t q = 0; q < n && may_go_next; q++)
            if (!(used >> q & 1) && ops[q].ret_time < ops[i].call_time)
                may_go_next = 0; /* q must take effect before i */
        uint64_t next[LIN_STATE_MAX / 8];
        memcpy(next, state, m->state_size);
        if (may_go_next && m->step(next, &ops[i]) &&
            bf_linearizable(m, ops, n, used | 1u << i, next))
            return 1;
    }
    return 0;
}

/* Each partition separately, as lin_check does (keys 1 and 2). */
static int bf_check(const struct lin_model *m, const struct lin_op *ops, size_t n)
{
    for (uint64_t key = 1; key <= 2; key++) {
        struct lin_op sub[BF_OPS_MAX];
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (ops[i].key == key)
                sub[k++] = ops[i];
        uint64_t state[LIN_STATE_MAX / 8] = {0};
        m->init(state);
        if (!bf_linearizable(m, sub, k, 0, state))
            return 0;
    }
    return 1;
}

/* A small random history with random (mostly wrong) results. */
static size_t gen_small(struct prng *r, const struct lin_model *m, struct lin_op *ops)
{
    size_t n = prng_range(r, 1, BF_OPS_MAX);
    unsigned pending_in_4 = (unsigned)prng_range(r, 0, 2);
    uint64_t keys = prng_range(r, 1, 2);
    for (size_t i = 0; i < n; i++) {
        struct lin_op *o = &ops[i];
        memset(o, 0, sizeof *o);
        o->client = prng_range(r, 1, 3);
        o->key = prng_range(r, 1, keys);
        o->call_time = prng_below(r, 8);
        o->ret_time = prng_chance(r, pending_in_4, 4) ? INF : o->call_time + prng_below(r, 6);
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

static void check_against_brute_force(const struct lin_model *m, int rounds)
{
    int ok = 0, bad = 0;
    for (int round = 0; round < rounds; round++) {
        struct lin_op ops[BF_OPS_MAX];
        size_t n = gen_small(test_rng(), m, ops);
        int want = bf_check(m, ops, n);
        struct lin_result r;
        enum lin_verdict v = lin_check(m, ops, n, 0, &r);
        CHECKF(v == (want ? LIN_OK : LIN_VIOLATION),
               "round %d: brute force says %d, lin_check %d:\n%s", round, want, (int)v, r.report);
        want ? ok++ : bad++;
    }
    /* Both verdicts must be common, or the comparison proves little. */
    CHECKF(ok > rounds / 10 && bad > rounds / 10, "%d ok, %d bad", ok, bad);
}

TEST_T(kv_matches_brute_force, 30) { check_against_brute_force(&lin_model_kv, BF_ROUNDS); }

TEST_T(lock_matches_brute_force, 30) { check_against_brute_force(&lin_model_lock, BF_ROUNDS); }

/* ---------------------------------------------------------------------- */
/* Random histories from a real sequential execution. Each op gets a random
 * interval and a linearization point inside it; executing the ops in that
 * order on a reference model gives results that are linearizable by
 * construction. Ops with unknown outcome take effect at some point after
 * their call, or never. */

struct gen {
    struct lin_op *ops;
    uint64_t *lin; /* linearization time, or INF if it never took effect */
    size_t n;
};

struct lin_ref {
    uint64_t lin;
    size_t idx;
};

static int lin_ref_cmp(const void *pa, const void *pb)
{
    const struct lin_ref *a = pa, *b = pb;
    if (a->lin != b->lin)
        return a->lin < b->lin ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Intervals, clients and keys; kinds are chosen by the caller's weights. */
static struct gen gen_times(struct prng *r, size_t n, unsigned nclients, unsigned nkeys,
                            unsigned pending_per_mille)
{
    struct gen g = {xcalloc(n, sizeof(struct lin_op)), xcalloc(n, sizeof(uint64_t)), n};
    uint64_t *t = xcalloc(nclients, sizeof(uint64_t));
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned)prng_below(r, nclients);
        struct lin_op *op = &g.ops[i];
        op->client = c + 1;
        op->key = prng_below(r, nkeys) + 1;
        op->call_time = t[c] + prng_range(r, 0, 10);
        if (prng_chance(r, pending_per_mille, 1000)) {
            op->ret_time = INF;
            g.lin[i] = prng_chance(r, 1, 2) ? op->call_time + prng_range(r, 0, 60) : INF;
            t[c] = op->call_time + 60; /* the client gave up waiting */
        } else {
            op->ret_time = op->call_time + prng_range(r, 0, 40);
            g.lin[i] = prng_range(r, op->call_time, op->ret_time);
            t[c] = op->ret_time; /* the next call may share this instant */
        }
    }
    free(t);
    return g;
}

/* Indices of the ops that took effect, in linearization order. */
static struct lin_ref *gen_order(const struct gen *g, size_t *count)
{
    struct lin_ref *order = xcalloc(g->n, sizeof *order);
    size_t m = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->lin[i] != INF)
            order[m++] = (struct lin_ref){g->lin[i], i};
    qsort(order, m, sizeof *order, lin_ref_cmp);
    *count = m;
    return order;
}

static void gen_free(struct gen *g)
{
    free(g->ops);
    free(g->lin);
}

/* A key-value history: 40% get, 40% put, 20% cas; every written value is
 * unique, so a value pins down the op that wrote it. */
static struct gen gen_kv(struct prng *r, size_t n, unsigned nclients, unsigned nkeys,
                         unsigned pending_per_mille)
{
    struct gen g = gen_times(r, n, nclients, nkeys, pending_per_mille);
    uint64_t next_val = 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t roll = prng_below(r, 10);
        g.ops[i].kind = roll < 4 ? LIN_KV_GET : roll < 8 ? LIN_KV_PUT : LIN_KV_CAS;
        g.ops[i].arg[0] = prng_below(r, next_val + 1); /* CAS expectation, maybe replaced */
        g.ops[i].arg[1] = next_val++;
        if (g.ops[i].kind == LIN_KV_PUT)
            g.ops[i].arg[0] = g.ops[i].arg[1];
    }
    uint64_t *val = xcalloc(nkeys + 1, sizeof(uint64_t));
    size_t m;
    struct lin_ref *order = gen_order(&g, &m);
    for (size_t j = 0; j < m; j++) {
        struct lin_op *op = &g.ops[order[j].idx];
        uint64_t *v = &val[op->key];
        if (op->kind == LIN_KV_GET) {
            op->out[0] = *v;
        } else if (op->kind == LIN_KV_PUT) {
            *v = op->arg[0];
        } else {
            if (prng_chance(r, 1, 2))
                op->arg[0] = *v; /* half the CAS expect the current value */
            op->out[0] = *v == op->arg[0];
            if (op->out[0])
                *v = op->arg[1];
        }
    }
    free(order);
    free(val);
    return g;
}

/* Make one completed get return a value whose only writer was called after
 * the get returned: no linearization can allow that. Returns its key. */
static uint64_t corrupt_kv(struct prng *r, struct gen *g)
{
    for (int tries = 0; tries < 100000; tries++) {
        struct lin_op *get = &g->ops[prng_below(r, g->n)];
        if (get->kind != LIN_KV_GET || get->ret_time == INF)
            continue;
        for (size_t i = 0; i < g->n; i++) {
            const struct lin_op *w = &g->ops[i];
            if (w->key == get->key && w->kind != LIN_KV_GET && w->call_time > get->ret_time &&
                (w->kind == LIN_KV_PUT || w->out[0] || w->ret_time == INF)) {
                get->out[0] = w->kind == LIN_KV_PUT ? w->arg[0] : w->arg[1];
                return get->key;
            }
        }
    }
    CHECKF(0, "no get to corrupt");
    return 0;
}

TEST_T(kv_random_history_ok, 60)
{
    struct {
        size_t n;
        unsigned clients, keys, pending_per_mille;
    } cfg[] = {{4000, 10, 4, 10}, {1500, 8, 1, 10}, {20000, 6, 2, 0}};
    for (size_t c = 0; c < CAIRN_LEN(cfg); c++) {
        struct gen g =
            gen_kv(test_rng(), cfg[c].n, cfg[c].clients, cfg[c].keys, cfg[c].pending_per_mille);
        expect_ok_at(__FILE__, __LINE__, &lin_model_kv, g.ops, g.n);
        gen_free(&g);
    }
}

TEST_T(kv_random_history_corrupted_rejected, 60)
{
    for (int round = 0; round < 3; round++) {
        struct gen g = gen_kv(test_rng(), 3000, 8, round == 0 ? 1 : 3, 10);
        uint64_t key = corrupt_kv(test_rng(), &g);
        struct lin_result r = expect_bad_at(__FILE__, __LINE__, &lin_model_kv, g.ops, g.n);
        CHECK_EQ_U64(r.bad_key, key);
        gen_free(&g);
    }
}

/* A lock history: clients try to acquire (60%) and release (40%) a few
 * locks; grants get tokens with random gaps (as Raft indexes do). */
static struct gen gen_lock(struct prng *r, size_t n, unsigned nclients, unsigned nlocks,
                           unsigned pending_per_mille)
{
    struct gen g = gen_times(r, n, nclients, nlocks, pending_per_mille);
    for (size_t i = 0; i < n; i++)
        g.ops[i].kind = prng_chance(r, 3, 5) ? LIN_LOCK_ACQUIRE : LIN_LOCK_RELEASE;
    uint64_t *holder = xcalloc(nlocks + 1, sizeof(uint64_t)); /* client, 0 = free */
    uint64_t *token = xcalloc(nlocks + 1, sizeof(uint64_t));
    size_t m;
    struct lin_ref *order = gen_order(&g, &m);
    for (size_t j = 0; j < m; j++) {
        struct lin_op *op = &g.ops[order[j].idx];
        uint64_t *h = &holder[op->key];
        if (op->kind == LIN_LOCK_ACQUIRE && *h == 0) {
            token[op->key] += prng_range(r, 1, 3);
            op->out[0] = token[op->key];
            *h = op->client;
        } else if (op->kind == LIN_LOCK_RELEASE && *h == op->client) {
            op->out[0] = 1;
            *h = 0;
        }
    }
    free(order);
    free(holder);
    free(token);
    return g;
}

static int is_grant(const struct lin_op *op)
{
    return op->kind == LIN_LOCK_ACQUIRE && op->ret_time != INF && op->out[0] != 0;
}

TEST_T(lock_random_history_ok, 60)
{
    struct gen g = gen_lock(test_rng(), 3000, 6, 3, 10);
    size_t grants = 0;
    for (size_t i = 0; i < g.n; i++)
        grants += is_grant(&g.ops[i]);
    CHECKF(grants > g.n / 20, "only %zu grants: the history tests little", grants);
    expect_ok_at(__FILE__, __LINE__, &lin_model_lock, g.ops, g.n);
    gen_free(&g);
}

TEST_T(lock_random_history_corrupted_rejected, 60)
{
    struct gen g = gen_lock(test_rng(), 3000, 6, 3, 10);
    /* Give a grant the token of a grant that returned before it was called:
     * tokens then fail to increase strictly. */
    struct lin_op *later = NULL;
    for (int tries = 0; tries < 100000 && !later; tries++) {
        struct lin_op *b = &g.ops[prng_below(test_rng(), g.n)];
        for (size_t i = 0; i < g.n && is_grant(b) && !later; i++) {
            const struct lin_op *a = &g.ops[i];
            if (is_grant(a) && a->key == b->key && a->ret_time < b->call_time) {
                b->out[0] = a->out[0];
                later = b;
            }
        }
    }
    CHECK(later != NULL);
    struct lin_result r = expect_bad_at(__FILE__, __LINE__, &lin_model_lock, g.ops, g.n);
    CHECK_EQ_U64(r.bad_key, later->key);
    gen_free(&g);
}

TEST_T(budget_gives_up, 30)
{
    /* Ten concurrent writes, then a read of a value none wrote: refuting it
     * means trying every order of the writes (2^10 sets x 10 last values). */
    struct lin_op ops[11];
    for (uint64_t i = 0; i < 10; i++)
        ops[i] = PUT(i + 1, 0, 100, 1, i + 1);
    ops[10] = GET(20, 200, 210, 1, 99);
    struct lin_result r;
    CHECK_EQ(lin_check(&lin_model_kv, ops, 11, 500, &r), LIN_GAVE_UP);
    CHECK_EQ(r.verdict, LIN_GAVE_UP);
    CHECK_EQ_U64(r.explored, 500);
    CHECK_EQ_U64(r.bad_key, 1);
    CHECKF(strstr(r.report, "budget") != NULL, "%s", r.report);
    CHECK_EQ(lin_check(&lin_model_kv, ops, 11, 0, &r), LIN_VIOLATION);
    CHECKF(r.explored > 500, "explored %zu", r.explored);
    ops[10] = GET(20, 200, 210, 1, 7);
    CHECK_EQ(lin_check(&lin_model_kv, ops, 11, 0, &r), LIN_OK);
    /* A partition longer than LIN_OPS_MAX is refused, not searched. */
    size_t n = LIN_OPS_MAX + 1;
    struct lin_op *big = xcalloc(n, sizeof *big);
    for (size_t i = 0; i < n; i++)
        big[i] = PUT(1, 2 * i, 2 * i + 1, 1, i + 1);
    CHECK_EQ(lin_check(&lin_model_kv, big, n, 0, &r), LIN_GAVE_UP);
    CHECKF(strstr(r.report, "LIN_OPS_MAX") != NULL, "%s", r.report);
    /* At the limit, a long sequential history checks quickly. */
    CHECK_EQ(lin_check(&lin_model_kv, big, n - 1, 0, &r), LIN_OK);
    free(big);
}
