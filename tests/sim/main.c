/*
 * main.c: the simulator's command line, and its test cases for the runner.
 *
 *   sim --seed S [--verbose] [--sm kv|meta]           one seed (--verbose: every event)
 *   sim --seeds N [--from A] [--stop] [--sm kv|meta]  seeds A..A+N-1 (A = 0)
 *   sim --list | sim CASE...                          the tests/lib/test.h protocol
 *
 * --sm picks the replicated state machine: kv (default, kv.c) or meta (the
 * real metadata state machine, mclient.c). `make test` runs SIM_RANGE_CASES
 * cases of SIM_RANGE_SEEDS kv seeds each (seeds_0000_0249, ...),
 * SIM_META_CASES cases of meta seeds (meta_seeds_0000_0099, ...), plus the
 * self-tests of selftest.c. A failing seed
 * prints its report and `make sim SEED=<n>`. --seeds runs each seed in a
 * child process, so that a core assertion fails that seed only and the run
 * goes on to count the others (--stop: stop at the first failure, in one
 * process). The test cases run their seeds in-process and stop at the
 * first failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/time.h"
#include "sim.h"
#include "test.h"

#define SIM_RANGE_CASES 8u
#define SIM_RANGE_SEEDS 250u
#define SIM_RANGE_TIMEOUT_S 120u
#define SIM_PROGRESS_EVERY 1000u
#define SIM_META_CASES 2u
#define SIM_META_SEEDS 100u

typedef unsigned long long ull;

/* Run one seed in a child process: a core abort kills the child only. */
static int run_isolated(const struct sim_opts *o, struct sim_result *res, struct sim_stats *st)
{
    int fd[2];
    if (pipe(fd) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        close(fd[0]);
        struct sim_stats cst = {0};
        struct sim_result cres;
        sim_run(o, &cres, &cst);
        if (write(fd[1], &cst, sizeof cst) != (ssize_t)sizeof cst ||
            write(fd[1], &cres, sizeof cres) != (ssize_t)sizeof cres)
            _exit(3);
        _exit(cres.failed ? 1 : 0);
    }
    close(fd[1]);
    struct sim_stats cst;
    struct sim_result cres;
    int got = read(fd[0], &cst, sizeof cst) == (ssize_t)sizeof cst &&
              read(fd[0], &cres, sizeof cres) == (ssize_t)sizeof cres;
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!got) {
        memset(res, 0, sizeof *res);
        res->failed = 1;
        snprintf(res->inv, sizeof res->inv, "abort (core assertion or crash)");
        return 1;
    }
    *res = cres;
    sim_stats_add(st, &cst);
    return res->failed;
}

static void print_stats(const struct sim_stats *s)
{
    printf("  ticks=%llu delivered=%llu dropped=%llu leaders=%llu max_term=%llu crashes=%llu "
           "torn=%llu partitions=%llu\n"
           "  snapshots taken=%llu installed=%llu conf proposed=%llu applied=%llu "
           "transfers=%llu committed=%llu\n"
           "  client writes ok=%llu unknown=%llu reads ok=%llu\n",
           (ull)s->ticks, (ull)s->msgs_delivered, (ull)s->msgs_dropped, (ull)s->leaders,
           (ull)s->max_term, (ull)s->crashes, (ull)s->torn, (ull)s->partitions,
           (ull)s->snapshots_taken, (ull)s->snapshots_installed, (ull)s->conf_proposed,
           (ull)s->conf_applied, (ull)s->transfers, (ull)s->committed, (ull)s->ops_ok,
           (ull)s->ops_unknown, (ull)s->reads_ok);
}

static void print_meta_stats(const struct sim_stats *s)
{
    printf("  meta: history ops checked=%llu retries=%llu state digests compared=%llu "
           "seeds converged=%llu replicas compared at the end=%llu\n",
           (ull)s->hist_ops, (ull)s->retries, (ull)s->state_checks, (ull)s->converged,
           (ull)s->replicas_compared);
}

static const char *sm_flag(enum sim_sm_kind sm) { return sm == SIM_SM_META ? " SM=meta" : ""; }

/* Failures counted by the invariant they broke, for the summary. */
#define SIM_FAIL_KINDS 16u
struct fail_tally {
    char inv[SIM_FAIL_KINDS][64];
    uint64_t count[SIM_FAIL_KINDS];
    uint64_t first_seed[SIM_FAIL_KINDS];
};

static void tally_add(struct fail_tally *t, const char *inv, uint64_t seed)
{
    for (unsigned k = 0; k < SIM_FAIL_KINDS; k++) {
        if (t->count[k] == 0) {
            snprintf(t->inv[k], sizeof t->inv[k], "%s", inv);
            t->first_seed[k] = seed;
        }
        if (strcmp(t->inv[k], inv) == 0) {
            t->count[k]++;
            return;
        }
    }
}

static void tally_print(const struct fail_tally *t, enum sim_sm_kind sm)
{
    for (unsigned k = 0; k < SIM_FAIL_KINDS && t->count[k]; k++)
        printf("  %llu failed on %s (first: make sim SEED=%llu%s)\n", (ull)t->count[k], t->inv[k],
               (ull)t->first_seed[k], sm_flag(sm));
}

/* Seeds from..from+count-1; returns the number that failed. Wall-clock time
 * is only reported, never used by a run. */
static uint64_t run_seeds(uint64_t from, uint64_t count, int keep_going, enum sim_sm_kind sm,
                          struct sim_stats *out)
{
    uint64_t t0 = time_mono_ns(), failed = 0, done = 0;
    struct sim_stats st = {0};
    struct fail_tally tally;
    memset(&tally, 0, sizeof tally);
    for (uint64_t s = from; s < from + count; s++) {
        struct sim_opts o = {.seed = s, .sm = sm};
        struct sim_result res;
        int rc = keep_going ? run_isolated(&o, &res, &st) : sim_run(&o, &res, &st);
        done++;
        if (rc) {
            failed++;
            tally_add(&tally, res.inv, s);
            printf("seed %llu FAILED: %s (replay: make sim SEED=%llu%s)\n", (ull)s, res.inv, (ull)s,
                   sm_flag(sm));
            if (!keep_going)
                break;
        }
        if (done % SIM_PROGRESS_EVERY == 0)
            printf("sim: %llu/%llu seeds, %llu failed, %.1f s\n", (ull)done, (ull)count,
                   (ull)failed, (double)(time_mono_ns() - t0) / 1e9);
    }
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    printf("sim: seeds %llu..%llu: %llu run, %llu passed, %llu failed in %.1f s (%.1f ms/seed)\n",
           (ull)from, (ull)(from + count - 1), (ull)done, (ull)(done - failed), (ull)failed, secs,
           done ? secs * 1000.0 / (double)done : 0.0);
    tally_print(&tally, sm);
    print_stats(&st);
    if (sm == SIM_SM_META)
        print_meta_stats(&st);
    if (out)
        *out = st;
    return failed;
}

static void run_range_case(void)
{
    unsigned a = 0, b = 0;
    enum sim_sm_kind sm = strncmp(test_name(), "meta_", 5) == 0 ? SIM_SM_META : SIM_SM_KV;
    const char *name = test_name() + (sm == SIM_SM_META ? 5 : 0);
    CHECKF(sscanf(name, "seeds_%u_%u", &a, &b) == 2 && b >= a, "bad case name %s", test_name());
    struct sim_stats st;
    uint64_t n = (uint64_t)b - a + 1;
    uint64_t failed = run_seeds(a, n, 0, sm, &st);
    CHECKF(failed == 0, "a simulator seed failed: see its report and replay command above");
    if (sm == SIM_SM_META) {
        /* The machinery must have run: every seed compared its replicas at
         * the end, real meta snapshots were installed, histories checked. */
        CHECK_EQ_U64(st.converged, n);
        CHECK(st.snapshots_installed > 0 && st.state_checks > 0 && st.hist_ops > 0);
    }
}

static void register_range_cases(void)
{
    static char names[SIM_RANGE_CASES][32];
    for (unsigned i = 0; i < SIM_RANGE_CASES; i++) {
        unsigned a = i * SIM_RANGE_SEEDS;
        snprintf(names[i], sizeof names[i], "seeds_%04u_%04u", a, a + SIM_RANGE_SEEDS - 1);
        test_register(names[i], run_range_case, SIM_RANGE_TIMEOUT_S);
    }
    static char meta_names[SIM_META_CASES][40];
    for (unsigned i = 0; i < SIM_META_CASES; i++) {
        unsigned a = i * SIM_META_SEEDS;
        snprintf(meta_names[i], sizeof meta_names[i], "meta_seeds_%04u_%04u", a,
                 a + SIM_META_SEEDS - 1);
        test_register(meta_names[i], run_range_case, SIM_RANGE_TIMEOUT_S);
    }
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return -1;
    *v = x;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: sim --seed S [--verbose] [--sm kv|meta]\n"
                    "       sim --seeds N [--from A] [--stop] [--sm kv|meta]\n"
                    "       sim --list | sim CASE...\n");
    return 2;
}

static int run_one(uint64_t seed, int verbose, enum sim_sm_kind sm)
{
    struct sim_opts o = {.seed = seed, .verbose = verbose, .sm = sm};
    struct sim_result res;
    struct sim_stats st = {0};
    int rc = sim_run(&o, &res, &st);
    printf("seed %llu: %s%s after %llu ticks, trace digest %016llx\n", (ull)seed,
           rc ? "FAILED: " : "ok", res.inv, (ull)res.ticks, (ull)res.digest);
    print_stats(&st);
    if (sm == SIM_SM_META)
        print_meta_stats(&st);
    return rc ? 1 : 0;
}

static int cli_main(int argc, char **argv)
{
    uint64_t seed = 0, seeds = 0, from = 0;
    int have_seed = 0, have_seeds = 0, verbose = 0, keep_going = 1;
    enum sim_sm_kind sm = SIM_SM_KV;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--seed") == 0 && more && parse_u64(argv[++i], &seed) == 0)
            have_seed = 1;
        else if (strcmp(a, "--seeds") == 0 && more && parse_u64(argv[++i], &seeds) == 0)
            have_seeds = 1;
        else if (strcmp(a, "--from") == 0 && more && parse_u64(argv[++i], &from) == 0)
            continue;
        else if (strcmp(a, "--verbose") == 0)
            verbose = 1;
        else if (strcmp(a, "--stop") == 0)
            keep_going = 0;
        else if (strcmp(a, "--sm") == 0 && more && strcmp(argv[i + 1], "kv") == 0 && ++i)
            sm = SIM_SM_KV;
        else if (strcmp(a, "--sm") == 0 && more && strcmp(argv[i + 1], "meta") == 0 && ++i)
            sm = SIM_SM_META;
        else
            return usage();
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (have_seed == have_seeds)
        return usage();
    if (have_seed)
        return run_one(seed, verbose, sm);
    return run_seeds(from, seeds, keep_going, sm, NULL) ? 1 : 0;
}

int main(int argc, char **argv)
{
    sim_install_abort_handler();
    if (argc >= 2 && strncmp(argv[1], "--", 2) == 0 && strcmp(argv[1], "--list") != 0)
        return cli_main(argc, argv);
    register_range_cases();
    return test_main(argc, argv);
}
