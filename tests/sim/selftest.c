/*
 * selftest.c: proofs that the simulator can fail. For each invariant, runs
 * seeds in which the simulator deliberately breaks the state that checker
 * watches (a second leader recorded in one term, other bytes in a durable
 * entry, a different term before a shared entry, a committed entry missing
 * from a new leader, other bytes applied, a committed entry dropped from a
 * durable log, a network that never heals, a read of a value from the
 * future) and requires that exactly that checker fires. Also: crafted
 * histories against the linearizability checker, and bit-for-bit replay.
 */
#include <stdio.h>
#include <string.h>

#include "sim.h"
#include "test.h"

#define SELFTEST_SEEDS 6u

/* Corrupted runs of a few seeds: where the corruption applies, the named
 * checker must be the one that fires (it fires at the step of the
 * corruption, so nothing else can come first); it must apply in most seeds.
 * A seed where it does not apply proves nothing here (the seeds_* cases
 * judge such runs). */
static void expect_caught(enum sim_corrupt mode, const char *inv)
{
    uint64_t base = test_seed() % 1000000u;
    unsigned applied = 0;
    for (uint64_t s = base; s < base + SELFTEST_SEEDS; s++) {
        struct sim_opts o = {.seed = s, .corrupt = mode, .quiet = 1};
        struct sim_result res;
        sim_run(&o, &res, NULL);
        if (!res.corrupted)
            continue;
        applied++;
        int ok = res.failed && strcmp(res.inv, inv) == 0;
        if (!ok) {
            o.quiet = 0; /* again, with the report */
            sim_run(&o, &res, NULL);
        }
        CHECKF(ok, "seed %llu, corruption applied: expected %s to fire, got %s",
               (unsigned long long)s, inv, res.failed ? res.inv : "a passing run");
    }
    CHECKF(applied >= SELFTEST_SEEDS / 2, "the corruption applied in only %u of %u seeds", applied,
           SELFTEST_SEEDS);
}

TEST_T(checker_catches_split_brain, 60)
{
    expect_caught(SIM_CORRUPT_SPLIT_BRAIN, "election safety");
}

TEST_T(checker_catches_entry_bytes_mismatch, 60)
{
    expect_caught(SIM_CORRUPT_LOG_BYTE, "log matching");
}

TEST_T(checker_catches_log_prefix_mismatch, 60)
{
    expect_caught(SIM_CORRUPT_LOG_PREV_TERM, "log matching");
}

TEST_T(checker_catches_leader_missing_commit, 60)
{
    expect_caught(SIM_CORRUPT_LEADER_INCOMPLETE, "leader completeness");
}

TEST_T(checker_catches_applied_divergence, 60)
{
    expect_caught(SIM_CORRUPT_APPLY_BYTE, "state machine safety");
}

TEST_T(checker_catches_lost_commit, 60)
{
    expect_caught(SIM_CORRUPT_DROP_COMMITTED, "committed entry lost");
}

TEST_T(checker_catches_no_progress, 60) { expect_caught(SIM_CORRUPT_NO_PROGRESS, "liveness"); }

TEST_T(checker_catches_future_read, 60)
{
    expect_caught(SIM_CORRUPT_FUTURE_READ, "linearizability");
}

static struct lin_op op(uint32_t kind, uint64_t call, uint64_t ret, uint64_t a0, uint64_t a1,
                        uint64_t out)
{
    return (struct lin_op){.client = call,
                           .call_time = call,
                           .ret_time = ret,
                           .kind = kind,
                           .key = 1,
                           .arg = {a0, a1},
                           .out = {out, 0}};
}

static enum lin_verdict check(const struct lin_op *ops, size_t n)
{
    struct lin_result res;
    return lin_check(&lin_model_kv, ops, n, 0, &res);
}

/* Histories written by hand, each with the anomaly a broken Raft would
 * produce, and legal ones beside them so the checker is not just saying no. */
TEST_T(checker_catches_crafted_histories, 30)
{
    const uint64_t inf = LIN_TIME_INF;
    struct lin_op stale[] = {op(LIN_KV_PUT, 1, 2, 7, 0, 0), op(LIN_KV_PUT, 3, 4, 8, 0, 0),
                             op(LIN_KV_GET, 5, 6, 0, 0, 7)};
    CHECK_EQ(check(stale, 3), LIN_VIOLATION);
    struct lin_op lost[] = {op(LIN_KV_PUT, 1, 2, 7, 0, 0), op(LIN_KV_GET, 3, 4, 0, 0, 0)};
    CHECK_EQ(check(lost, 2), LIN_VIOLATION);
    struct lin_op double_cas[] = {op(LIN_KV_CAS, 1, 2, 0, 7, 1), op(LIN_KV_CAS, 3, 4, 0, 8, 1)};
    CHECK_EQ(check(double_cas, 2), LIN_VIOLATION);
    struct lin_op flicker[] = {op(LIN_KV_PUT, 1, inf, 7, 0, 0), op(LIN_KV_GET, 5, 6, 0, 0, 7),
                               op(LIN_KV_GET, 7, 8, 0, 0, 0)};
    CHECK_EQ(check(flicker, 3), LIN_VIOLATION);
    /* Legal: concurrent reads on either side of a write; an unknown write
     * seen later; a CAS that failed because another won. */
    struct lin_op concurrent[] = {op(LIN_KV_PUT, 1, 10, 7, 0, 0), op(LIN_KV_GET, 1, 2, 0, 0, 0),
                                  op(LIN_KV_GET, 2, 3, 0, 0, 7)};
    CHECK_EQ(check(concurrent, 3), LIN_OK);
    struct lin_op unknown[] = {op(LIN_KV_PUT, 1, inf, 7, 0, 0), op(LIN_KV_GET, 5, 6, 0, 0, 7),
                               op(LIN_KV_GET, 7, 8, 0, 0, 7)};
    CHECK_EQ(check(unknown, 3), LIN_OK);
    struct lin_op cas_race[] = {op(LIN_KV_CAS, 1, 4, 0, 7, 1), op(LIN_KV_CAS, 2, 3, 0, 8, 0),
                                op(LIN_KV_GET, 5, 6, 0, 0, 7)};
    CHECK_EQ(check(cas_race, 3), LIN_OK);
}

/* One seed twice gives the same run, event for event; other seeds differ. */
TEST_T(sim_replay_is_deterministic, 60)
{
    uint64_t base = test_seed() % 1000000u;
    uint64_t prev = 0;
    for (uint64_t s = base; s < base + 3; s++) {
        struct sim_opts o = {.seed = s};
        struct sim_result a, b;
        sim_run(&o, &a, NULL);
        sim_run(&o, &b, NULL);
        CHECK_EQ(a.failed, b.failed);
        CHECK_STR_EQ(a.inv, b.inv);
        CHECK_EQ_U64(a.digest, b.digest);
        CHECK_EQ_U64(a.ticks, b.ticks);
        CHECK(a.digest != prev);
        prev = a.digest;
    }
}
