/* test_workload.c: the nemesis workloads (tests/lib/workload.h) for real:
 * 3 `cairn meta` and 3 `cairn chunk` processes, the four workloads at once
 * with 3 client processes each for about 12 s, then the final reads and
 * checkers: every history must check with 0 violations, most operations
 * must succeed, and every file must be at its replica goal. Once without
 * faults, once with the metadata leader killed and restarted mid-run. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "cluster_harness.h"
#include "test.h"
#include "workload.h"

#define W_CLIENTS 3u
#define W_KINDS 4u
#define W_DURATION_MS 12000u

static const char *const w_roots[W_KINDS] = {"/wl/reg", "/wl/ns", "/wl/app", "/wl/lock"};
static const char *const w_names[W_KINDS] = {"register", "namespace", "append", "lock"};

/* A cluster file naming the harness's metadata servers and secret. */
static void w_cluster_file(struct cluster *c, char *out, size_t len)
{
    const char *addrs[CLUSTER_NODES_MAX];
    size_t n = cluster_adv_addrs(c, addrs, CLUSTER_NODES_MAX);
    char meta[CLUSTER_NODES_MAX * (CAIRN_MEMBER_ADDR_MAX + 2)] = "";
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(meta);
        snprintf(meta + used, sizeof meta - used, "%s%s", i ? "," : "", addrs[i]);
    }
    snprintf(out, len, "%s/cluster", test_tmpdir());
    FILE *f = fopen(out, "w");
    CHECK(f != NULL);
    fprintf(f, "meta = %s\nsecret = %s\n", meta, c->secret_path);
    CHECK(fclose(f) == 0);
}

/* One worker process: runs the workload and exits with its status. */
static pid_t w_spawn(const struct wl_cfg *cfg)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(wl_run(cfg) == 0 ? 0 : 1);
    cluster_proc_register(pid);
    return pid;
}

/* Setup and start W_CLIENTS workers of each kind in kinds (bit per kind). */
static void w_start(const char *cf, uint32_t kinds, char hist[W_KINDS][W_CLIENTS][700], pid_t *pids)
{
    for (uint32_t k = 0; k < W_KINDS; k++)
        if (kinds & (1u << k))
            CHECK_OK(wl_setup((enum wl_kind)k, cf, w_roots[k]));
    for (uint32_t k = 0; k < W_KINDS; k++) {
        for (uint32_t i = 0; i < W_CLIENTS; i++) {
            pids[k * W_CLIENTS + i] = 0;
            if (!(kinds & (1u << k)))
                continue;
            snprintf(hist[k][i], sizeof hist[k][i], "%s/h-%s-%u", test_tmpdir(), w_names[k], i);
            struct wl_cfg cfg = {.kind = (enum wl_kind)k,
                                 .cluster_file = cf,
                                 .root = w_roots[k],
                                 .client_id = i + 1,
                                 .seed = test_seed() + k,
                                 .keys = k == WL_NAMESPACE ? 4 : 3,
                                 .duration_ms = W_DURATION_MS,
                                 .history_path = hist[k][i]};
            pids[k * W_CLIENTS + i] = w_spawn(&cfg);
        }
    }
}

/* Wait for the workers, check every started kind and the replicas: 0
 * violations, enough operations done; unknown outcomes at most
 * unknown_pct percent. */
static void w_finish(const char *cf, uint32_t kinds, char hist[W_KINDS][W_CLIENTS][700],
                     const pid_t *pids, uint64_t unknown_pct)
{
    for (uint32_t i = 0; i < W_KINDS * W_CLIENTS; i++) {
        int st;
        if (!pids[i])
            continue;
        CHECK(waitpid(pids[i], &st, 0) == pids[i]);
        cluster_proc_reaped(pids[i]);
        CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker %u: status %#x", i, st);
    }
    struct wl_report r[W_KINDS] = {0};
    for (uint32_t k = 0; k < W_KINDS; k++) {
        if (!(kinds & (1u << k)))
            continue;
        const char *paths[W_CLIENTS];
        for (uint32_t i = 0; i < W_CLIENTS; i++)
            paths[i] = hist[k][i];
        CHECK_OK(wl_check((enum wl_kind)k, cf, w_roots[k], paths, W_CLIENTS, &r[k]));
        fprintf(stderr, "%s: %llu ops, %llu ok, %llu fail, %llu unknown, %llu violations %s\n",
                w_names[k], (unsigned long long)r[k].ops, (unsigned long long)r[k].ok,
                (unsigned long long)r[k].fail, (unsigned long long)r[k].unknown,
                (unsigned long long)r[k].violations, r[k].first_violation);
    }
    for (uint32_t k = 0; k < W_KINDS; k++) {
        if (!(kinds & (1u << k)))
            continue;
        CHECKF(r[k].violations == 0, "%s: %s", w_names[k], r[k].first_violation);
        CHECKF(r[k].ops >= 30 && r[k].ok * 4 >= r[k].ops, "%s: too few ops succeeded", w_names[k]);
        CHECKF(r[k].unknown * 100 <= r[k].ops * unknown_pct, "%s: many unknown outcomes",
               w_names[k]);
    }
    char why[512];
    int rc = wl_replicas_at_goal(cf, "/wl", 30000, why, sizeof why);
    CHECKF(rc == 0, "replicas: %s", why);
}

static void w_cluster(struct cluster *c, char *cf, size_t len)
{
    struct cluster_opts co = {.n = 3, .seed = test_seed()};
    CHECK_OK(cluster_start(c, test_tmpdir(), &co, NULL));
    for (int i = 0; i < 3; i++) {
        int rc = cluster_chunk_add(c, NULL, 20000);
        CHECKF(rc >= 0, "chunk server %d: %s", i, cairn_err_name(rc));
    }
    w_cluster_file(c, cf, len);
}

TEST_T(workload_all_kinds_no_faults, 240)
{
    static struct cluster c;
    static char hist[W_KINDS][W_CLIENTS][700];
    char cf[600];
    pid_t pids[W_KINDS * W_CLIENTS];
    w_cluster(&c, cf, sizeof cf);
    w_start(cf, 0xf, hist, pids);
    w_finish(cf, 0xf, hist, pids, 10);
    cluster_stop(&c);
}

/* The metadata leader is SIGKILLed a few seconds into the run and restarted
 * two seconds later: operations in flight end unknown or fail, the workers
 * carry on with the new leader, and the histories still check. */
TEST_T(workload_leader_kill, 240)
{
    static struct cluster c;
    static char hist[W_KINDS][W_CLIENTS][700];
    char cf[600];
    pid_t pids[W_KINDS * W_CLIENTS];
    w_cluster(&c, cf, sizeof cf);
    w_start(cf, 0xf, hist, pids);
    cluster_run_for(&c, 4000);
    int leader = cluster_wait_leader(&c, 10000);
    CHECKF(leader >= 0, "no leader: %s", cairn_err_name(leader));
    cluster_node_kill(&c, (uint32_t)leader);
    cluster_run_for(&c, 2000);
    CHECK_OK(cluster_node_restart(&c, (uint32_t)leader, 20000));
    w_finish(cf, 0xf, hist, pids, 50);
    cluster_stop(&c);
}
