/* main.c: the nemesis test binary. Without --chaos it is an ordinary test
 * binary (the scenarios of scenarios.c, run by `make test`); with
 *   nemesis --chaos [--seed S] [--duration SECONDS] [--dir DIR]
 * it makes one long run mixing every fault and every workload (`make chaos
 * SEED=.. DURATION=..`), prints the figures, and on a problem the seed and
 * the directory kept with the logs and histories. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/time.h"
#include "nemesis.h"
#include "test.h"

#ifndef CAIRN_BUILD_DIR
#define CAIRN_BUILD_DIR "build"
#endif

static int usage(void)
{
    fprintf(stderr, "usage: nemesis --chaos [--seed S] [--duration SECONDS] [--dir DIR]\n"
                    "                       [--faults NAME,..] [--workloads NAME,..]\n"
                    "       nemesis [--list | CASE...]   (test cases)\n"
                    "faults: kill_meta kill_chunk pause_meta pause_chunk part_major part_leader\n"
                    "        part_oneway part_flap corrupt disk_full kill_client (default: all)\n"
                    "workloads: register namespace append lock (default: all, 2 workers each)\n");
    return 2;
}

/* Every workload of the chaos run, 2 workers each; keys as the scenarios. */
static const struct nem_workload chaos_wl[] = {
    {WL_REGISTER, 2, 16}, {WL_NAMESPACE, 2, 6}, {WL_APPEND, 2, 2}, {WL_LOCK, 2, 8}};
static const char *const chaos_wl_names[] = {"register", "namespace", "append", "lock"};

/* "a,b,c" against names[0..n): a bit per name found; -1 on an unknown one. */
static int64_t parse_names(const char *list, const char *const *names, int n)
{
    int64_t bits = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < n && strcmp(names[k], t) != 0)
            k++;
        if (k == n) {
            fprintf(stderr, "nemesis: unknown name \"%s\"\n", t);
            return -1;
        }
        bits |= (int64_t)1 << k;
    }
    return bits;
}

struct chaos_args {
    uint64_t seed;
    uint32_t seconds;
    const char *dir;
    int64_t faults, workloads;
};

static int chaos_parse(int argc, char **argv, struct chaos_args *a)
{
    const char *fnames[NEM_FAULTS];
    for (int f = 0; f < NEM_FAULTS; f++)
        fnames[f] = nem_fault_name((enum nem_fault)f);
    a->seed = time_wall_ns() ^ ((uint64_t)getpid() << 32);
    a->seconds = 300;
    a->faults = NEM_ALL_FAULTS;
    a->workloads = 15;
    for (int i = 2; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--seed") == 0)
            a->seed = strtoull(argv[++i], NULL, 0);
        else if (i + 1 < argc && strcmp(argv[i], "--duration") == 0)
            a->seconds = (uint32_t)strtoul(argv[++i], NULL, 0);
        else if (i + 1 < argc && strcmp(argv[i], "--dir") == 0)
            a->dir = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--faults") == 0)
            a->faults = parse_names(argv[++i], fnames, NEM_FAULTS);
        else if (i + 1 < argc && strcmp(argv[i], "--workloads") == 0)
            a->workloads = parse_names(argv[++i], chaos_wl_names, 4);
        else
            return usage();
    }
    if (a->seconds == 0 || a->seconds > 24 * 3600 || a->faults < 0 || a->workloads <= 0)
        return usage();
    return 0;
}

static int chaos_main(int argc, char **argv)
{
    struct chaos_args a = {0};
    if (chaos_parse(argc, argv, &a))
        return 2;
    char dir[200];
    mkdir(CAIRN_BUILD_DIR "/chaos", 0755);
    if (a.dir)
        snprintf(dir, sizeof dir, "%s", a.dir);
    else
        snprintf(dir, sizeof dir, "%s/chaos/seed-%" PRIu64, CAIRN_BUILD_DIR, a.seed);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "nemesis: mkdir %s: %s\n", dir, strerror(errno));
        return 2;
    }
    struct nem_cfg cfg = {
        .dir = dir,
        .seed = a.seed,
        .goal = 2,
        .faults = (uint32_t)a.faults,
        .duration_ms = a.seconds * 1000u,
        .verbose = 1,
    };
    for (int w = 0; w < 4; w++)
        if (a.workloads >> w & 1)
            cfg.wl[cfg.n_workloads++] = chaos_wl[w];
    printf("chaos: seed %" PRIu64 ", %u s of faults %#x, run directory %s\n", a.seed, a.seconds,
           cfg.faults, dir);
    struct nem_report r;
    int rc = nem_run(&cfg, &r);
    nem_report_print(stdout, "chaos", a.seed, &r);
    if (rc != 0 || !nem_report_clean(&r)) {
        printf("chaos FAILED%s%s: seed %" PRIu64 "; logs and histories kept in %s "
               "(nemesis.log: the actions)\nreplay: build/tests/nemesis --chaos --seed %" PRIu64
               " --duration %u --faults ",
               rc ? ": " : "", rc ? cairn_err_name(rc) : "", a.seed, dir, a.seed, a.seconds);
        for (int f = 0, first = 1; f < NEM_FAULTS; f++)
            if (a.faults >> f & 1) {
                printf("%s%s", first ? "" : ",", nem_fault_name((enum nem_fault)f));
                first = 0;
            }
        printf(" --workloads ");
        for (int w = 0, first = 1; w < 4; w++)
            if (a.workloads >> w & 1) {
                printf("%s%s", first ? "" : ",", chaos_wl_names[w]);
                first = 0;
            }
        printf("\n");
        return 1;
    }
    printf("chaos passed: seed %" PRIu64 ", 0 violations; logs in %s\n", a.seed, dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--chaos") == 0)
        return chaos_main(argc, argv);
    return test_main(argc, argv);
}
