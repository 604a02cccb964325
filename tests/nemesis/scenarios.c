/* scenarios.c: the nemesis scenarios of `make test` (issue #9): each starts
 * 3 metadata and 3 chunk servers behind the fault-injecting proxy, runs 3-4
 * client workers under about 40 s of faults from a fixed seed, heals, and
 * checks: no checker violation, no server crash, metadata replicas
 * converged, every file's replicas back at the goal. One line of figures
 * per scenario. Longer mixed runs: `make chaos` (main.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "nemesis.h"
#include "test.h"

/* Faults of each scenario last this long; CAIRN_NEMESIS_MS overrides it
 * (a shorter local run, or a longer one). */
#define SCENARIO_MS 40000u

static uint32_t scenario_ms(void)
{
    const char *e = getenv("CAIRN_NEMESIS_MS");
    return e && *e ? (uint32_t)strtoul(e, NULL, 10) : SCENARIO_MS;
}

static void scenario(const char *name, uint32_t faults, const struct nem_workload *wl, uint32_t n)
{
    struct nem_cfg cfg = {
        .dir = test_tmpdir(),
        .seed = test_seed(),
        .goal = 2,
        .faults = faults,
        .duration_ms = scenario_ms(),
        .n_workloads = n,
        .verbose = getenv("CAIRN_NEMESIS_VERBOSE") != NULL,
    };
    memcpy(cfg.wl, wl, n * sizeof wl[0]);
    struct nem_report r;
    int rc = nem_run(&cfg, &r);
    nem_report_print(stdout, name, cfg.seed, &r);
    CHECKF(rc == 0, "nemesis run failed: %s; logs and histories kept in %s (nemesis.log)",
           cairn_err_name(rc), cfg.dir);
    CHECKF(nem_report_clean(&r), "problems found (see above); logs and histories kept in %s",
           cfg.dir);
    CHECKF(r.ok > 0, "no operation succeeded; logs kept in %s", cfg.dir);
    uint64_t injected = 0;
    for (int f = 0; f < NEM_FAULTS; f++)
        injected += r.faults[f];
    CHECK(injected > 0);
}

#define BIT(f) (1u << (f))

TEST_T(nemesis_registers_kill_pause, 240)
{
    const struct nem_workload wl[] = {{WL_REGISTER, 4, 16}};
    scenario("registers+kill/pause",
             BIT(NEM_KILL_META) | BIT(NEM_KILL_CHUNK) | BIT(NEM_PAUSE_META) | BIT(NEM_PAUSE_CHUNK) |
                 BIT(NEM_KILL_CLIENT),
             wl, 1);
}

TEST_T(nemesis_namespace_partitions, 240)
{
    const struct nem_workload wl[] = {{WL_NAMESPACE, 3, 6}};
    scenario("namespace+partitions",
             BIT(NEM_PART_MAJORITY) | BIT(NEM_PART_LEADER) | BIT(NEM_PART_ONEWAY) |
                 BIT(NEM_PART_FLAP),
             wl, 1);
}

TEST_T(nemesis_appends_chunk_faults, 240)
{
    const struct nem_workload wl[] = {{WL_APPEND, 3, 2}};
    scenario("appends+chunk faults",
             BIT(NEM_CORRUPT) | BIT(NEM_DISK_FULL) | BIT(NEM_KILL_CHUNK) | BIT(NEM_PAUSE_CHUNK), wl,
             1);
}

TEST_T(nemesis_locks_leader_isolation, 240)
{
    const struct nem_workload wl[] = {{WL_LOCK, 3, 2}};
    scenario("locks+leader isolation",
             BIT(NEM_PART_LEADER) | BIT(NEM_PAUSE_META) | BIT(NEM_PART_ONEWAY) | BIT(NEM_KILL_META),
             wl, 1);
}
