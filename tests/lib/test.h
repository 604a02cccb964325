/*
 * test.h: the unit-test framework every test binary of cairn uses.
 *
 * A test file defines cases with TEST(name) { ... } (60 s timeout) or
 * TEST_T(name, seconds) { ... }. The binary, linked with tests/lib/test.c,
 * speaks one protocol that the runner (tests/runner.c) relies on:
 *   BIN --list        print "name timeout_s" per case, one per line
 *   BIN NAME          run case NAME in this process; exit 0 if it passed
 *   BIN               run every case in this process, in order
 * A failing CHECK prints file, line, the expression and values, the seed and
 * the command that replays the case, then aborts. The seed comes from the
 * environment variable CAIRN_SEED, or is derived from the case name, so a
 * run is reproducible by default.
 *
 * A binary that needs its own command line (the simulator) defines main()
 * itself and calls test_main() for the protocol above.
 */
#ifndef CAIRN_TEST_H
#define CAIRN_TEST_H

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "common/prng.h"

void test_register(const char *name, void (*fn)(void), unsigned timeout_s);
int test_main(int argc, char **argv);

/* Seed of the running case; the same for every call within one case. */
uint64_t test_seed(void);
/* A generator seeded with test_seed(), shared by the running case. */
struct prng *test_rng(void);
/* Name of the running case. */
const char *test_name(void);
/* A fresh empty directory for the running case (removed if it passes). */
const char *test_tmpdir(void);
_Noreturn void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TEST_T(name, timeout_s)                                    \
    static void test_fn_##name(void);                              \
    __attribute__((constructor)) static void test_reg_##name(void) \
    {                                                              \
        test_register(#name, test_fn_##name, (timeout_s));         \
    }                                                              \
    static void test_fn_##name(void)

#define TEST(name) TEST_T(name, 60)

#define CHECK(cond)                                            \
    do {                                                       \
        if (!(cond))                                           \
            test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
    } while (0)

#define CHECKF(cond, ...)                               \
    do {                                                \
        if (!(cond))                                    \
            test_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

#define CHECK_EQ(a, b)                                                                        \
    do {                                                                                      \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                       \
        if (check_a_ != check_b_)                                                             \
            test_fail(__FILE__, __LINE__, "CHECK_EQ(%s, %s): %lld != %lld", #a, #b, check_a_, \
                      check_b_);                                                              \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                                         \
    do {                                                                                           \
        uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                               \
        if (check_a_ != check_b_)                                                                  \
            test_fail(__FILE__, __LINE__, "CHECK_EQ_U64(%s, %s): %" PRIu64 " != %" PRIu64, #a, #b, \
                      check_a_, check_b_);                                                         \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                  \
    do {                                                                                    \
        const char *check_a_ = (a), *check_b_ = (b);                                        \
        if (strcmp(check_a_, check_b_) != 0)                                                \
            test_fail(__FILE__, __LINE__, "CHECK_STR_EQ(%s, %s): \"%s\" != \"%s\"", #a, #b, \
                      check_a_, check_b_);                                                  \
    } while (0)

#define CHECK_MEM_EQ(a, b, n)                                                      \
    do {                                                                           \
        if (memcmp((a), (b), (n)) != 0)                                            \
            test_fail(__FILE__, __LINE__, "CHECK_MEM_EQ(%s, %s, %s)", #a, #b, #n); \
    } while (0)

/* A cairn call that must succeed: prints the error name otherwise. */
#define CHECK_OK(expr)                                                               \
    do {                                                                             \
        int check_rc_ = (expr);                                                      \
        if (check_rc_ != 0)                                                          \
            test_fail(__FILE__, __LINE__, "CHECK_OK(%s): %d (%s)", #expr, check_rc_, \
                      cairn_err_name(check_rc_));                                    \
    } while (0)

const char *cairn_err_name(int err);

#endif
