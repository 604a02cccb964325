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
                    "       nemesis [--list | CASE...]   (test cases)\n");
    return 2;
}

static int chaos_main(int argc, char **argv)
{
    uint64_t seed = time_wall_ns() ^ ((uint64_t)getpid() << 32);
    uint32_t seconds = 300;
    const char *dir_arg = NULL;
    for (int i = 2; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[++i], NULL, 0);
        else if (i + 1 < argc && strcmp(argv[i], "--duration") == 0)
            seconds = (uint32_t)strtoul(argv[++i], NULL, 0);
        else if (i + 1 < argc && strcmp(argv[i], "--dir") == 0)
            dir_arg = argv[++i];
        else
            return usage();
    }
    if (seconds == 0 || seconds > 24 * 3600)
        return usage();
    char dir[200];
    mkdir(CAIRN_BUILD_DIR "/chaos", 0755);
    if (dir_arg)
        snprintf(dir, sizeof dir, "%s", dir_arg);
    else
        snprintf(dir, sizeof dir, "%s/chaos/seed-%" PRIu64, CAIRN_BUILD_DIR, seed);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "nemesis: mkdir %s: %s\n", dir, strerror(errno));
        return 2;
    }
    struct nem_cfg cfg = {
        .dir = dir,
        .seed = seed,
        .goal = 2,
        .faults = NEM_ALL_FAULTS,
        .duration_ms = seconds * 1000u,
        .n_workloads = 4,
        .wl = {{WL_REGISTER, 2, 16}, {WL_NAMESPACE, 2, 6}, {WL_APPEND, 2, 2}, {WL_LOCK, 2, 2}},
        .verbose = 1,
    };
    printf("chaos: seed %" PRIu64 ", %u s of faults, run directory %s\n", seed, seconds, dir);
    struct nem_report r;
    int rc = nem_run(&cfg, &r);
    nem_report_print(stdout, "chaos", seed, &r);
    if (rc != 0 || !nem_report_clean(&r)) {
        printf("chaos FAILED%s%s: seed %" PRIu64 "; logs and histories kept in %s "
               "(nemesis.log: the actions); replay: make chaos SEED=%" PRIu64 " DURATION=%u\n",
               rc ? ": " : "", rc ? cairn_err_name(rc) : "", seed, dir, seed, seconds);
        return 1;
    }
    printf("chaos passed: seed %" PRIu64 ", 0 violations; logs in %s\n", seed, dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--chaos") == 0)
        return chaos_main(argc, argv);
    return test_main(argc, argv);
}
