/* test_checkers.c: the nemesis history format (tests/lib/history.c) and the
 * checkers (tests/lib/checkers.c) on crafted histories: each kind of
 * anomaly is found, and good histories, with unknown outcomes, pass. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkers.h"
#include "history.h"
#include "test.h"

#define U HIST_TIME_INF
#define FIN HIST_CLIENT_FINAL

/* An op: client, seq, opcode, key, call, ret (U: unknown), outcome (fail:
 * res0 = errno), two args, two results. */
static struct hist_op mk(uint32_t c, uint64_t seq, uint32_t op, uint64_t key, uint64_t call,
                         uint64_t ret, enum hist_type t, uint64_t a0, uint64_t a1, uint64_t r0,
                         uint64_t r1)
{
    return (struct hist_op){.client = c,
                            .seq = seq,
                            .op = op,
                            .key = key,
                            .call_ns = call,
                            .ret_ns = t == HIST_UNKNOWN ? U : ret,
                            .type = t,
                            .arg = {a0, a1},
                            .res = {r0, r1}};
}

#define V(c, s) ck_reg_value((c), (s))
/* Register ops: write of V(c, s) opened at `op`, read of value v. */
/* Writes with O_TRUNC (WR, WRU) and in place (WP). */
#define WR(c, s, k, t0, op, t1) \
    mk((c), (s), HOP_WRITE, (k), (t0), (t1), HIST_OK, V(c, s), 1, (op), 0)
#define WRU(c, s, k, t0, op) \
    mk((c), (s), HOP_WRITE, (k), (t0), U, HIST_UNKNOWN, V(c, s), 1, (op), 0)
#define WP(c, s, k, t0, t1) \
    mk((c), (s), HOP_WRITE, (k), (t0), (t1), HIST_OK, V(c, s), 0, (t0) + 1, 0)
#define RD(c, s, k, t0, t1, v) mk((c), (s), HOP_READ, (k), (t0), (t1), HIST_OK, 0, 0, (v), 0)

static uint64_t count(int (*fn)(const struct hist_op *, size_t, struct ck_result *),
                      const struct hist_op *ops, size_t n, struct ck_result *r)
{
    memset(r, 0, sizeof *r);
    CHECK_OK(fn(ops, n, r));
    return r->violations;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define EXPECT_PASS(fn, ops)                                                          \
    do {                                                                              \
        struct ck_result res_;                                                        \
        CHECKF(count((fn), (ops), N(ops), &res_) == 0, "unexpected: %s", res_.first); \
    } while (0)
#define EXPECT_FIND(fn, ops, needle)                                                      \
    do {                                                                                  \
        struct ck_result res_;                                                            \
        CHECKF(count((fn), (ops), N(ops), &res_) > 0, "anomaly not found: %s", (needle)); \
        CHECKF(strstr(res_.first, (needle)) != NULL, "wrong report: %s", res_.first);     \
    } while (0)

/* --- history files ------------------------------------------------------- */

TEST(history_format_parse_round_trip)
{
    struct hist_rec r = {.client = 7,
                         .seq = 12,
                         .type = HIST_UNKNOWN,
                         .t_ns = 123456789,
                         .op = HOP_RENAME,
                         .key = 3,
                         .v = {5, 1, 0, UINT64_MAX}};
    char line[HIST_LINE_MAX];
    int n = hist_format(&r, line, sizeof line);
    CHECK(n > 0);
    CHECK_STR_EQ(line, "7 12 unknown 123456789 rename 3 5 1 0 18446744073709551615");
    struct hist_rec back;
    CHECK_OK(hist_parse(line, (size_t)n, &back));
    CHECK_MEM_EQ(&back, &r, sizeof r);
    const char *bad[] = {
        "7 12 unknown 1 rename 3 5 1 0",               /* a field missing */
        "7 12 unknown 1 rename 3 5 1 0 0 9",           /* one too many */
        "7 12 maybe 1 rename 3 5 1 0 0",               /* unknown type */
        "7 12 ok 1 frobnicate 3 5 1 0 0",              /* unknown op */
        "7 12 ok 1 read 3 5 1 0 18446744073709551616", /* overflow */
        "7 -12 ok 1 read 3 5 1 0 0",                   /* sign */
        "7  12 ok 1 read 3 5 1 0 0",                   /* empty field */
        "4294967296 1 ok 1 read 3 5 1 0 0",            /* client above u32 */
    };
    for (size_t i = 0; i < N(bad); i++)
        CHECKF(hist_parse(bad[i], strlen(bad[i]), &back) == -EINVAL, "accepted: %s", bad[i]);
}

/* Written through hist_writer, read back as ops: pairs joined, an invoke
 * without completion unknown, a partial last line ignored, and a client
 * reopening the file continues its seq (old pending ops stay unknown). */
TEST(history_write_load)
{
    char path[512];
    snprintf(path, sizeof path, "%s/h", test_tmpdir());
    struct hist_writer w;
    CHECK_OK(hist_open(&w, path, 4));
    uint64_t a[HIST_VALS] = {V(4, 1)}, res[HIST_VALS] = {77};
    uint64_t s1 = hist_invoke(&w, HOP_WRITE, 2, a);
    CHECK_OK(hist_done(&w, s1, HIST_OK, HOP_WRITE, 2, res));
    uint64_t s2 = hist_invoke(&w, HOP_READ, 2, NULL);
    res[0] = ENOENT;
    CHECK_OK(hist_done(&w, s2, HIST_FAIL, HOP_READ, 2, res));
    hist_invoke(&w, HOP_WRITE, 1, a); /* "killed" here */
    CHECK_EQ(write(w.fd, "4 9 ok 12", 9), 9);
    hist_close(&w);
    CHECK_OK(hist_open(&w, path, 4)); /* the restarted client */
    CHECK_EQ_U64(w.seq, 3);
    uint64_t s4 = hist_invoke(&w, HOP_READ, 1, NULL);
    CHECK_OK(hist_done(&w, s4, HIST_UNKNOWN, HOP_READ, 1, NULL));
    hist_close(&w);

    const char *paths[] = {path};
    struct hist_op *ops = NULL;
    size_t n = 0;
    char why[256];
    CHECK_OK(hist_load(paths, 1, &ops, &n, why, sizeof why));
    CHECK_EQ(n, 4);
    CHECK(ops[0].type == HIST_OK && ops[0].op == HOP_WRITE && ops[0].res[0] == 77);
    CHECK(ops[0].ret_ns >= ops[0].call_ns && ops[0].arg[0] == V(4, 1));
    CHECK(ops[1].type == HIST_FAIL && ops[1].res[0] == ENOENT);
    CHECK(ops[2].type == HIST_UNKNOWN && ops[2].ret_ns == U && ops[2].seq == 3);
    CHECK(ops[3].type == HIST_UNKNOWN && ops[3].ret_ns == U && ops[3].seq == 4);
    free(ops);

    /* A malformed complete line is an error naming the file and line. */
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, "garbage\n", 8), 8);
    close(fd);
    ops = NULL;
    n = 0;
    CHECK_EQ(hist_load(paths, 1, &ops, &n, why, sizeof why), -EINVAL);
    CHECKF(strstr(why, ":8:") != NULL, "%s", why);
    free(ops);
}

/* --- registers ------------------------------------------------------------ */

TEST(register_good_histories_pass)
{
    /* Writes, overlapping reads, an empty read while a write's O_TRUNC is
     * done but its data not yet, unknown writes (one taking effect, one
     * never), and final reads. */
    struct hist_op ops[] = {
        RD(1, 1, 0, 5, 8, 0),
        WR(1, 2, 0, 10, 12, 20),
        RD(2, 1, 0, 13, 15, 0), /* truncated, data not yet committed */
        RD(2, 2, 0, 21, 25, V(1, 2)),
        WRU(3, 1, 0, 30, 31), /* applied: read below */
        RD(2, 3, 0, 40, 45, V(3, 1)),
        WRU(3, 2, 1, 30, 0), /* key 1: never applied */
        WR(1, 3, 1, 50, 51, 60),
        RD(2, 4, 1, 70, 71, V(1, 3)),
        RD(FIN, 1, 0, 100, 101, V(3, 1)),
        RD(FIN, 2, 1, 100, 101, V(1, 3)),
    };
    EXPECT_PASS(ck_register, ops);
    /* The final read may also return a later unknown write. */
    struct hist_op ops2[] = {
        WR(1, 1, 0, 10, 11, 20),
        WRU(2, 1, 0, 30, 0),
        RD(FIN, 1, 0, 100, 101, V(2, 1)),
    };
    EXPECT_PASS(ck_register, ops2);
}

/* In place, no empty state exists once a value was written. */
TEST(register_in_place_writes)
{
    struct hist_op ok[] = {
        RD(2, 1, 0, 5, 8, 0),
        WP(1, 1, 0, 10, 20),
        RD(2, 2, 0, 12, 15, 0), /* concurrent with the first write */
        WP(1, 2, 0, 30, 40),
        RD(2, 3, 0, 31, 35, V(1, 1)),
        RD(FIN, 1, 0, 100, 101, V(1, 2)),
    };
    EXPECT_PASS(ck_register, ok);
    struct hist_op empty[] = {
        WP(1, 1, 0, 10, 20), WP(1, 2, 0, 30, 40),
        RD(2, 1, 0, 31, 35, 0), /* would be fine with O_TRUNC */
    };
    EXPECT_FIND(ck_register, empty, "not linearizable");
    empty[1].arg[1] = 1;
    empty[1].res[0] = 32;
    EXPECT_PASS(ck_register, empty);
}

TEST(register_stale_read_found)
{
    struct hist_op ops[] = {
        WR(1, 1, 0, 10, 11, 20), WR(1, 2, 0, 30, 31, 40),
        RD(2, 1, 0, 50, 55, V(1, 1)), /* after the second write was acked */
    };
    EXPECT_FIND(ck_register, ops, "not linearizable");
}

TEST(register_lost_acked_write_found)
{
    struct hist_op ops[] = {
        WR(1, 1, 0, 10, 11, 20),
        WR(2, 1, 0, 30, 31, 40),
        RD(FIN, 1, 0, 100, 101, V(1, 1)),
    };
    EXPECT_FIND(ck_register, ops, "acked write lost");
    /* An empty final file after an acked write, no later write. */
    struct hist_op ops2[] = {
        WR(1, 1, 0, 10, 11, 20),
        RD(FIN, 1, 0, 100, 101, 0),
    };
    EXPECT_FIND(ck_register, ops2, "acked write lost");
}

TEST(register_never_written_read_found)
{
    struct hist_op ops[] = {
        WR(1, 1, 0, 10, 11, 20),
        RD(2, 1, 0, 30, 40, V(9, 9)),
    };
    EXPECT_FIND(ck_register, ops, "never written");
    struct hist_op bytes[] = {
        WR(1, 1, 0, 10, 11, 20),
        mk(2, 1, HOP_READ, 0, 30, 40, HIST_OK, 0, 0, 0, 1), /* checksum bad */
    };
    EXPECT_FIND(ck_register, bytes, "no value");
}

/* --- namespace ------------------------------------------------------------ */

#define NS(c, s, op, k, t0, t1, a0, a1) \
    mk((c), (s), (op), (k), (t0), (t1), HIST_OK, (a0), (a1), 0, 0)
#define NSF(c, s, op, k, t0, t1, a0, a1, e) \
    mk((c), (s), (op), (k), (t0), (t1), HIST_FAIL, (a0), (a1), (e), 0)
#define LS(c, s, t0, t1, bits) mk((c), (s), HOP_LIST, 0, (t0), (t1), HIST_OK, 0, 0, (bits), 0)

TEST(namespace_good_histories_pass)
{
    struct hist_op ops[] = {
        NS(1, 1, HOP_CREATE, 0, 10, 20, 0, 0),
        NSF(2, 1, HOP_CREATE, 0, 25, 30, 0, 0, EEXIST),
        NS(1, 2, HOP_RENAME, 0, 40, 50, 3, 1), /* 0 -> 3 noreplace */
        LS(2, 2, 55, 60, 1u << 3),
        NSF(2, 3, HOP_UNLINK, 0, 61, 62, 0, 0, ENOENT),
        mk(1, 3, HOP_CREATE, 5, 70, U, HIST_UNKNOWN, 0, 0, 0, 0),
        NS(2, 4, HOP_CREATE, 1, 71, 72, 0, 0),
        NS(2, 5, HOP_RENAME, 1, 73, 74, 3, 0), /* replaces 3 */
        NSF(2, 6, HOP_RENAME, 1, 75, 76, 3, 1, ENOENT),
        mk(1, 4, HOP_UNLINK, 3, 80, U, HIST_UNKNOWN, 0, 0, 0, 0), /* never applied */
        LS(FIN, 1, 100, 101, (1u << 3) | (1u << 5)),
    };
    EXPECT_PASS(ck_namespace, ops);
}

TEST(namespace_anomalies_found)
{
    /* A name listed as present after an acked unlink, nothing in between. */
    struct hist_op ops[] = {
        NS(1, 1, HOP_CREATE, 2, 10, 20, 0, 0),
        NS(1, 2, HOP_UNLINK, 2, 30, 40, 0, 0),
        LS(2, 1, 50, 60, 1u << 2),
    };
    EXPECT_FIND(ck_namespace, ops, "not linearizable");
    /* EEXIST for a name nobody created. */
    struct hist_op ops2[] = {
        NSF(1, 1, HOP_CREATE, 2, 10, 20, 0, 0, EEXIST),
    };
    EXPECT_FIND(ck_namespace, ops2, "not linearizable");
    /* A created-and-acked name missing at the end. */
    struct hist_op ops3[] = {
        NS(1, 1, HOP_CREATE, 4, 10, 20, 0, 0),
        LS(FIN, 1, 100, 101, 0),
    };
    EXPECT_FIND(ck_namespace, ops3, "not linearizable");
    /* A rename that moved a name but left the source listed. */
    struct hist_op ops4[] = {
        NS(1, 1, HOP_CREATE, 0, 10, 20, 0, 0),
        NS(1, 2, HOP_RENAME, 0, 30, 40, 1, 0),
        LS(2, 1, 50, 60, 3),
    };
    EXPECT_FIND(ck_namespace, ops4, "not linearizable");
}

/* Directories are independent partitions: the same name in two is two
 * names, and a violation is reported with its directory. */
TEST(namespace_directories)
{
    struct hist_op ops[] = {
        NS(1, 1, HOP_CREATE, 0, 10, 20, 0, 0),
        NS(2, 1, HOP_CREATE, 8, 11, 21, 0, 0), /* dir 1, name 0 */
        NS(1, 2, HOP_RENAME, 8, 30, 40, 9, 1), /* dir 1: n0 -> n1 */
        LS(2, 2, 50, 60, 1),                   /* dir 0: n0 */
        mk(2, 3, HOP_LIST, 8, 50, 60, HIST_OK, 0, 0, 2, 0),
    };
    EXPECT_PASS(ck_namespace, ops);
    ops[4].res[0] = 1; /* dir 1 still lists n0 after the acked rename */
    EXPECT_FIND(ck_namespace, ops, "(key 1)");
}

/* Random linearizable histories (ops applied at a random point inside
 * their interval; some outcomes unknown, applied or not) pass. */
struct gen_ev {
    size_t i;
    uint64_t lp;
    int applied;
};

static int gen_cmp(const void *a, const void *b)
{
    const struct gen_ev *x = a, *y = b;
    return x->lp < y->lp ? -1 : x->lp > y->lp;
}

/* The result of op o applied at its point to state *s (of its directory). */
static void gen_apply(struct hist_op *o, uint64_t *s, int applied)
{
    uint64_t a = o->key % CK_NAMES_MAX, b = o->arg[0] % CK_NAMES_MAX, next = *s;
    int err = 0;
    if (o->op == HOP_CREATE)
        err = (*s >> a & 1) ? EEXIST : (next |= 1ull << a, 0);
    else if (o->op == HOP_UNLINK)
        err = !(*s >> a & 1) ? ENOENT : (next &= ~(1ull << a), 0);
    else if (o->op == HOP_RENAME)
        err = !(*s >> a & 1)                 ? ENOENT
              : (o->arg[1] && (*s >> b & 1)) ? EEXIST
                                             : (next = (*s & ~(1ull << a)) | (1ull << b), 0);
    else
        o->res[0] = *s;
    if (o->type == HIST_UNKNOWN) {
        if (applied && !err)
            *s = next;
        return;
    }
    *s = next;
    if (err) {
        o->type = HIST_FAIL;
        o->res[0] = (uint64_t)err;
    }
}

TEST(namespace_generated_histories_pass)
{
    enum { N = 4000, CLIENTS = 3, DIRS = 2, NAMES = 4 };
    struct prng *r = test_rng();
    struct hist_op *ops = calloc(N, sizeof *ops);
    struct gen_ev *ev = calloc(N, sizeof *ev);
    CHECK(ops && ev);
    uint64_t t[CLIENTS] = {0}, seq[CLIENTS] = {0}, state[DIRS] = {0};
    for (size_t i = 0; i < N; i++) {
        uint32_t c = (uint32_t)prng_below(r, CLIENTS), op = HOP_CREATE + (uint32_t)prng_below(r, 4);
        uint64_t call = t[c] + prng_range(r, 1, 30), lp = call + prng_range(r, 1, 40);
        t[c] = lp + prng_range(r, 1, 40);
        uint64_t d = prng_below(r, DIRS), a = prng_below(r, NAMES);
        uint64_t b = (a + 1 + prng_below(r, NAMES - 1)) % NAMES;
        ops[i] = mk(c + 1, ++seq[c], op, d * CK_NAMES_MAX + (op == HOP_LIST ? 0 : a), call, t[c],
                    HIST_OK, d * CK_NAMES_MAX + b, prng_below(r, 2), 0, 0);
        ev[i] = (struct gen_ev){i, lp, (int)prng_below(r, 2)};
        if (op != HOP_LIST && prng_below(r, 100) == 0) {
            ops[i].type = HIST_UNKNOWN;
            ops[i].ret_ns = U;
        }
    }
    qsort(ev, N, sizeof *ev, gen_cmp);
    for (size_t k = 0; k < N; k++) {
        struct hist_op *o = &ops[ev[k].i];
        gen_apply(o, &state[o->key / CK_NAMES_MAX], ev[k].applied);
    }
    struct ck_result res;
    CHECKF(count(ck_namespace, ops, N, &res) == 0, "%s", res.first);
    free(ops);
    free(ev);
}

/* --- bounds of unknown outcomes ------------------------------------------- */

/* A client's unknown mutation applies before its next acked session
 * mutation or never (docs/checkers.md, "Bounds"): it cannot overwrite that
 * later write once a read saw it. Client 1 is bounded; a read is no
 * session mutation, and another client's write bounds nothing. */
TEST(register_unknown_bounded_by_session)
{
    struct hist_op ops[] = {
        WRU(1, 1, 0, 10, 0),            /* unknown: open and data */
        WP(1, 2, 0, 100, 110),          /* client 1's next acked write */
        RD(2, 1, 0, 120, 130, V(1, 2)), /* sees it */
        RD(2, 2, 0, 200, 210, V(1, 1)), /* then the lost write: too late */
    };
    EXPECT_FIND(ck_register, ops, "not linearizable");
    struct hist_op other[] = {WRU(1, 1, 0, 10, 0), WP(3, 1, 0, 100, 110),
                              RD(2, 1, 0, 120, 130, V(3, 1)), RD(2, 2, 0, 200, 210, V(1, 1))};
    EXPECT_PASS(ck_register, other);
    struct hist_op read_only[] = {WRU(1, 1, 0, 10, 0), WP(3, 1, 0, 100, 110),
                                  RD(1, 2, 0, 111, 115, V(3, 1)), RD(2, 1, 0, 120, 130, V(3, 1)),
                                  RD(2, 2, 0, 200, 210, V(1, 1))};
    EXPECT_PASS(ck_register, read_only);
    /* Applied before the bound is fine. */
    ops[2] = RD(2, 1, 0, 50, 60, V(1, 1));
    ops[3].res[0] = V(1, 2);
    EXPECT_PASS(ck_register, ops);
}

/* A client killed mid-op (an invoke without completion) and restarted
 * under the same id runs a new session: no bound crosses the kill, for the
 * killed op or for the client's earlier ones. */
TEST(register_unknown_bound_stops_at_kill)
{
    struct hist_op ops[] = {
        WRU(1, 1, 0, 10, 0),            /* recorded unknown, old process */
        WRU(1, 2, 0, 20, 0),            /* killed: no completion record */
        WP(1, 3, 0, 100, 110),          /* the restarted process */
        RD(2, 1, 0, 120, 130, V(1, 3)), /* sees it */
        RD(2, 2, 0, 200, 210, V(1, 1)), /* op 1 applied late: allowed */
    };
    ops[1].no_completion = 1;
    EXPECT_PASS(ck_register, ops);
    ops[4].res[0] = V(1, 2); /* the killed op applied late: allowed */
    EXPECT_PASS(ck_register, ops);
    ops[1].no_completion = 0; /* one process: both are bounded by op 3 */
    EXPECT_FIND(ck_register, ops, "not linearizable");
    ops[4].res[0] = V(1, 1);
    EXPECT_FIND(ck_register, ops, "not linearizable");
}

TEST(namespace_unknown_bounded_by_session)
{
    struct hist_op ops[] = {
        mk(1, 1, HOP_CREATE, 0, 10, U, HIST_UNKNOWN, 0, 0, 0, 0),
        NS(1, 2, HOP_CREATE, 1, 100, 110, 0, 0), /* client 1's next acked mutation */
        LS(2, 1, 120, 130, 1u << 1),             /* n0 not there */
        LS(2, 2, 200, 210, (1u << 0) | (1u << 1)),
    };
    EXPECT_FIND(ck_namespace, ops, "not linearizable");
    ops[1].client = 3; /* another client's create bounds nothing */
    EXPECT_PASS(ck_namespace, ops);
    ops[1].client = 1;
    ops[1].op = HOP_LIST; /* nor does a listing */
    ops[1].key = 0;
    ops[1].res[0] = 0;
    ops[2].res[0] = 0;
    ops[3].res[0] = 1u << 0;
    EXPECT_PASS(ck_namespace, ops);
}

/* A register history from a real execution, long and with many unknown
 * writes (each applied before the client's next op, or never): 3 clients,
 * one register, 25,000 ops, 1,000 unknown. Unbounded, such a history takes
 * the search minutes; with the session bounds it passes, and a stale read
 * planted in it is found. */
TEST_T(register_generated_long_history, 120)
{
    enum { N = 25000, CLIENTS = 3, UNKNOWN = 1000 };
    struct prng *r = test_rng();
    struct hist_op *ops = calloc(N, sizeof *ops);
    struct gen_ev *ev = calloc(N, sizeof *ev);
    CHECK(ops && ev);
    uint64_t t[CLIENTS] = {0}, seq[CLIENTS] = {0}, v = 0;
    for (size_t i = 0; i < N; i++) {
        uint32_t c = (uint32_t)prng_below(r, CLIENTS);
        int write = prng_chance(r, 1, 2), lost = write && prng_chance(r, 2 * UNKNOWN, N);
        uint64_t call = t[c] + prng_range(r, 1, 30), lp = call + prng_range(r, 0, 40);
        t[c] = lp + prng_range(r, 0, 40);
        ++seq[c];
        ops[i] = write ? WP(c + 1, seq[c], 0, call, t[c]) : RD(c + 1, seq[c], 0, call, t[c], 0);
        if (lost) {
            ops[i].type = HIST_UNKNOWN;
            ops[i].ret_ns = U;
        }
        ev[i] = (struct gen_ev){i, lp, !lost || prng_chance(r, 1, 2)};
    }
    qsort(ev, N, sizeof *ev, gen_cmp);
    size_t unknown = 0;
    for (size_t k = 0; k < N; k++) {
        struct hist_op *o = &ops[ev[k].i];
        unknown += o->type == HIST_UNKNOWN;
        if (o->op == HOP_READ)
            o->res[0] = v;
        else if (ev[k].applied)
            v = o->arg[0];
    }
    printf("%zu ops, %zu unknown writes\n", (size_t)N, unknown);
    CHECK(unknown > UNKNOWN * 8 / 10);
    struct ck_result res;
    CHECKF(count(ck_register, ops, N, &res) == 0, "%s", res.first);
    /* Plant a stale read: late in the history, a read returns the value of
     * an acked write j that preceded an acked write w (unique values), and
     * w preceded the read. */
    size_t at = N, wi = 0, ji = 0;
    for (size_t i = N / 2; i < N && at == N; i++)
        if (ops[i].op == HOP_READ && ops[i].type == HIST_OK)
            at = i;
    CHECK(at < N);
    for (size_t i = 0; i < at; i++)
        if (ops[i].op == HOP_WRITE && ops[i].type == HIST_OK && ops[i].ret_ns < ops[at].call_ns)
            wi = i;
    for (size_t i = 0; i < wi; i++)
        if (ops[i].op == HOP_WRITE && ops[i].type == HIST_OK && ops[i].ret_ns < ops[wi].call_ns)
            ji = i;
    CHECK(ops[ji].op == HOP_WRITE && ops[ji].type == HIST_OK);
    ops[at].res[0] = ops[ji].arg[0];
    CHECK(count(ck_register, ops, N, &res) > 0);
    free(ops);
    free(ev);
}

/* --- append logs ----------------------------------------------------------- */

#define AP(c, s, log, w, seq, t0, t1) \
    mk((c), (s), HOP_APPEND, (log), (t0), (t1), HIST_OK, (w), (seq), 0, 0)
#define APU(c, s, log, w, seq, t0) \
    mk((c), (s), HOP_APPEND, (log), (t0), U, HIST_UNKNOWN, (w), (seq), 0, 0)

static uint64_t append_count(const struct hist_op *ops, size_t n, const struct ck_log *logs,
                             size_t n_logs, struct ck_result *r)
{
    memset(r, 0, sizeof *r);
    CHECK_OK(ck_append(ops, n, logs, n_logs, r));
    return r->violations;
}

TEST(append_checks)
{
    struct hist_op ops[] = {
        AP(1, 1, 0, 1, 1, 10, 20), AP(2, 1, 0, 2, 1, 11, 21), AP(1, 2, 0, 1, 2, 30, 40),
        APU(1, 3, 0, 1, 3, 50),    APU(2, 2, 0, 2, 2, 51),    AP(2, 3, 0, 2, 3, 60, 70),
    };
    /* Good: interleaved writers, an unknown append present, another absent. */
    struct ck_log_rec good[] = {{2, 1}, {1, 1}, {1, 2}, {1, 3}, {2, 3}};
    struct ck_log lg = {.key = 0, .n = N(good), .rec = good};
    struct ck_result r;
    CHECKF(append_count(ops, N(ops), &lg, 1, &r) == 0, "%s", r.first);

    struct ck_log_rec lost[] = {{2, 1}, {1, 1}, {1, 3}, {2, 3}};
    lg = (struct ck_log){.key = 0, .n = N(lost), .rec = lost};
    CHECK(append_count(ops, N(ops), &lg, 1, &r) == 1 && strstr(r.first, "w1 s2 lost"));

    struct ck_log_rec order[] = {{2, 1}, {1, 2}, {1, 1}, {2, 3}};
    lg = (struct ck_log){.key = 0, .n = N(order), .rec = order};
    CHECK(append_count(ops, N(ops), &lg, 1, &r) == 1 && strstr(r.first, "out of order"));

    struct ck_log_rec dup[] = {{2, 1}, {1, 1}, {1, 2}, {1, 2}, {2, 3}};
    lg = (struct ck_log){.key = 0, .n = N(dup), .rec = dup};
    CHECK(append_count(ops, N(ops), &lg, 1, &r) == 1 && strstr(r.first, "duplicated"));

    struct ck_log_rec forged[] = {{2, 1}, {1, 1}, {1, 2}, {2, 3}, {3, 1}};
    lg = (struct ck_log){.key = 0, .n = N(forged), .rec = forged};
    CHECK(append_count(ops, N(ops), &lg, 1, &r) == 1 && strstr(r.first, "never appended"));

    lg = (struct ck_log){.key = 0, .n = N(good), .rec = good, .garbage = 1};
    snprintf(lg.first_garbage, sizeof lg.first_garbage, "w1 s9 deadbeef");
    CHECK(append_count(ops, N(ops), &lg, 1, &r) == 1 && strstr(r.first, "garbage"));

    /* An acked append to a log that is not there at all. */
    CHECK(append_count(ops, N(ops), NULL, 0, &r) == 4 && strstr(r.first, "lost"));
}

/* --- locks ----------------------------------------------------------------- */

#define ACQ(c, s, k, t0, t1, tok) \
    mk((c), (s), HOP_ACQUIRE, (k), (t0), (t1), HIST_OK, 0, 0, (tok), 0)
#define ACQBUSY(c, s, k, t0, t1) \
    mk((c), (s), HOP_ACQUIRE, (k), (t0), (t1), HIST_FAIL, 0, 0, EAGAIN, 0)
#define REL(c, s, k, t0, t1) mk((c), (s), HOP_RELEASE, (k), (t0), (t1), HIST_OK, 0, 0, 0, 0)
#define FW(c, s, k, t0, t1, tok, v) \
    mk((c), (s), HOP_FWRITE, (k), (t0), (t1), HIST_OK, (tok), (v), 0, 0)
#define FWSTALE(c, s, k, t0, t1, tok, v) \
    mk((c), (s), HOP_FWRITE, (k), (t0), (t1), HIST_FAIL, (tok), (v), ESTALE, 0)
#define FR(k, t0, t1, tok, v) mk(FIN, 1, HOP_FREAD, (k), (t0), (t1), HIST_OK, 0, 0, (tok), (v))

TEST(lock_good_histories_pass)
{
    struct hist_op ops[] = {
        ACQ(1, 1, 0, 10, 20, 1),
        ACQBUSY(2, 1, 0, 15, 25),
        FW(1, 2, 0, 30, 40, 1, 100),
        REL(1, 3, 0, 50, 60),
        ACQ(2, 2, 0, 55, 70, 2),
        FW(2, 3, 0, 80, 90, 2, 200),
        FWSTALE(1, 4, 0, 85, 95, 1, 101), /* a late holder refused */
        mk(2, 4, HOP_RELEASE, 0, 100, U, HIST_UNKNOWN, 0, 0, 0, 0),
        mk(3, 1, HOP_ACQUIRE, 0, 110, U, HIST_UNKNOWN, 0, 0, 0, 0),
        ACQ(1, 5, 0, 120, 130, 5), /* 3's grant took token 3 or 4 */
        mk(1, 6, HOP_FWRITE, 0, 140, U, HIST_UNKNOWN, 5, 500, 0, 0),
        REL(1, 7, 0, 150, 160),
        FR(0, 200, 201, 5, 500),
    };
    EXPECT_PASS(ck_lock, ops);
}

TEST(lock_overlapping_holders_found)
{
    struct hist_op ops[] = {
        ACQ(1, 1, 0, 10, 20, 1),
        ACQ(2, 1, 0, 25, 30, 2), /* granted while 1 holds it */
        REL(1, 2, 0, 40, 50),
        REL(2, 2, 0, 60, 70),
    };
    EXPECT_FIND(ck_lock, ops, "holders overlap");
}

TEST(lock_token_backwards_found)
{
    struct hist_op ops[] = {
        ACQ(1, 1, 0, 10, 20, 7),
        REL(1, 2, 0, 30, 40),
        ACQ(2, 1, 0, 50, 60, 5),
        REL(2, 2, 0, 70, 80),
    };
    EXPECT_FIND(ck_lock, ops, "grant token went backwards");
}

TEST(lock_fenced_write_backwards_found)
{
    /* Both grants fine, but the register took token 1 after token 2. */
    struct hist_op ops[] = {
        ACQ(1, 1, 0, 10, 20, 1), FW(1, 2, 0, 21, 22, 1, 100), REL(1, 3, 0, 23, 24),
        ACQ(2, 1, 0, 30, 40, 2), FW(2, 2, 0, 41, 42, 2, 200), FW(1, 4, 0, 50, 60, 1, 101),
        REL(2, 3, 0, 70, 80),
    };
    EXPECT_FIND(ck_lock, ops, "fenced write token went backwards");
    /* The final read lost the newest accepted token. */
    struct hist_op ops2[] = {
        ACQ(1, 1, 0, 10, 20, 1), FW(1, 2, 0, 21, 22, 1, 100), REL(1, 3, 0, 23, 24),
        ACQ(2, 1, 0, 30, 40, 2), FW(2, 2, 0, 41, 42, 2, 200), REL(2, 3, 0, 70, 80),
        FR(0, 100, 101, 1, 100),
    };
    EXPECT_FIND(ck_lock, ops2, "lost");
    /* The final bytes of the fenced file are no record. */
    ops2[6].res[2] = 1;
    EXPECT_FIND(ck_lock, ops2, "no record");
}

/* A lock lost on the way (its release refused with ENOENT) is left out of
 * the lock model, which knows no session expiry; other locks still count. */
TEST(lock_lost_lock_skips_model)
{
    struct hist_op ops[] = {
        ACQ(1, 1, 0, 10, 20, 1),
        ACQ(2, 1, 0, 30, 40, 2), /* 1's session expired meanwhile */
        mk(1, 2, HOP_RELEASE, 0, 50, 60, HIST_FAIL, 0, 0, ENOENT, 0),
        REL(2, 2, 0, 70, 80),
    };
    EXPECT_PASS(ck_lock, ops);
    struct hist_op ops2[] = {
        ACQ(1, 1, 0, 10, 20, 1),
        ACQ(2, 1, 0, 30, 40, 2),
        mk(1, 2, HOP_RELEASE, 0, 50, 60, HIST_FAIL, 0, 0, ENOENT, 0),
        ACQ(1, 3, 1, 10, 20, 1),
        REL(1, 4, 1, 30, 40),
        ACQBUSY(2, 2, 1, 50, 60), /* lock 1 free: refused wrongly */
    };
    EXPECT_FIND(ck_lock, ops2, "(key 1)");
}

/* Refused while free: no real-time overlap, but not linearizable. */
TEST(lock_refused_while_free_found)
{
    struct hist_op ops[] = {
        ACQ(1, 1, 0, 10, 20, 1),
        REL(1, 2, 0, 30, 40),
        ACQBUSY(2, 1, 0, 50, 60),
    };
    EXPECT_FIND(ck_lock, ops, "not linearizable");
}
