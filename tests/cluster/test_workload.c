/* test_workload.c: the nemesis workloads (tests/lib/workload.h) for real,
 * without faults: 3 `cairn meta` and 3 `cairn chunk` processes, the four
 * workloads at once with 3 client processes each for about 12 s, then the
 * final reads and checkers: every history must check with 0 violations,
 * most operations must succeed, and every file must be at its replica goal. */
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

TEST_T(workload_all_kinds_no_faults, 240)
{
    static struct cluster c;
    struct cluster_opts co = {.n = 3, .seed = test_seed()};
    CHECK_OK(cluster_start(&c, test_tmpdir(), &co, NULL));
    for (int i = 0; i < 3; i++) {
        int rc = cluster_chunk_add(&c, NULL, 20000);
        CHECKF(rc >= 0, "chunk server %d: %s", i, cairn_err_name(rc));
    }
    char cf[600];
    w_cluster_file(&c, cf, sizeof cf);

    static char hist[W_KINDS][W_CLIENTS][700];
    pid_t pids[W_KINDS * W_CLIENTS];
    struct wl_cfg cfg[W_KINDS][W_CLIENTS];
    for (uint32_t k = 0; k < W_KINDS; k++)
        CHECK_OK(wl_setup((enum wl_kind)k, cf, w_roots[k]));
    for (uint32_t k = 0; k < W_KINDS; k++) {
        for (uint32_t i = 0; i < W_CLIENTS; i++) {
            snprintf(hist[k][i], sizeof hist[k][i], "%s/h-%s-%u", test_tmpdir(), w_names[k], i);
            cfg[k][i] = (struct wl_cfg){.kind = (enum wl_kind)k,
                                        .cluster_file = cf,
                                        .root = w_roots[k],
                                        .client_id = i + 1,
                                        .seed = test_seed() + k,
                                        .keys = k == WL_NAMESPACE ? 4 : 3,
                                        .duration_ms = W_DURATION_MS,
                                        .history_path = hist[k][i]};
            pids[k * W_CLIENTS + i] = w_spawn(&cfg[k][i]);
        }
    }
    for (uint32_t i = 0; i < W_KINDS * W_CLIENTS; i++) {
        int st;
        CHECK(waitpid(pids[i], &st, 0) == pids[i]);
        cluster_proc_reaped(pids[i]);
        CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker %u: status %#x", i, st);
    }
    struct wl_report r[W_KINDS];
    for (uint32_t k = 0; k < W_KINDS; k++) {
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
        CHECKF(r[k].violations == 0, "%s: %s", w_names[k], r[k].first_violation);
        CHECKF(r[k].ops >= 30 && r[k].ok * 4 >= r[k].ops, "%s: too few ops succeeded", w_names[k]);
        CHECKF(r[k].unknown * 10 <= r[k].ops, "%s: many unknown outcomes", w_names[k]);
    }
    char why[512];
    int rc = wl_replicas_at_goal(cf, "/wl", 30000, why, sizeof why);
    CHECKF(rc == 0, "replicas: %s", why);
    cluster_stop(&c);
}
