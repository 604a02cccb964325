/* bench_locks.c: the lock service as applications see it: a 3-node
 * `cairn meta` group on loopback (tests/lib/cluster_harness.h) and lock
 * clients of libcairn (include/cairn_lock.h) in this process, one thread
 * and one handle (one session) each.
 *
 *   distinct    N clients, each acquiring and releasing its own lock in a
 *               closed loop: acquire+release pairs per second over all
 *               clients, and the latency of one pair (p50, p99);
 *   contended   N clients on ONE exclusive lock, waiting in its FIFO queue:
 *               the pair latency includes the wait for the others.
 * for N = 1, 16, 64. Each acquire and each release is one Raft entry
 * (committed: fsynced on a quorum) and a queued acquire learns of its grant
 * by polling (lockclient.h), which is part of what is measured.
 *
 * usage: bench_locks [--seconds S] [--keep]. Numbers only; nothing asserted. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn.h"
#include "cairn_errors.h"
#include "cluster_harness.h"
#include "common/assert.h"
#include "common/log.h"
#include "common/time.h"

#define BL_CLIENTS_MAX 64
#define BL_SAMPLES_MAX 200000u

struct bl_client {
    pthread_t t;
    struct cairn_locks *l;
    char name[32];
    uint64_t end_ms;
    uint64_t *lat_us;
    size_t n;
    uint64_t errors;
};

static void *bl_main(void *arg)
{
    struct bl_client *b = arg;
    while (time_mono_ms() < b->end_ms && b->n < BL_SAMPLES_MAX) {
        uint64_t t0 = time_mono_ns(), tok;
        int rc = cairn_lock(b->l, b->name, CAIRN_LOCK_EXCLUSIVE, 0, 60000, &tok);
        if (rc == 0)
            rc = cairn_unlock(b->l, b->name);
        if (rc) {
            b->errors++;
            continue;
        }
        b->lat_us[b->n++] = (time_mono_ns() - t0) / 1000u;
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One run: n clients for `seconds`, on distinct locks or on one. */
static void bl_run(struct cairn *c, int n, int contended, uint32_t seconds)
{
    static struct bl_client cl[BL_CLIENTS_MAX];
    static uint64_t all[BL_CLIENTS_MAX * 4096];
    for (int i = 0; i < n; i++) {
        memset(&cl[i], 0, sizeof cl[i]);
        int rc = cairn_locks_open(c, 10000, &cl[i].l);
        CAIRN_ASSERTF(rc == 0, "cairn_locks_open: %s", cairn_strerror(rc));
        cl[i].lat_us = malloc(BL_SAMPLES_MAX * sizeof *cl[i].lat_us);
        CAIRN_ASSERT(cl[i].lat_us);
        snprintf(cl[i].name, sizeof cl[i].name, contended ? "hot" : "lock-%d", i);
    }
    uint64_t start = time_mono_ms(), end = start + seconds * 1000u;
    for (int i = 0; i < n; i++) {
        cl[i].end_ms = end;
        CAIRN_ASSERT(pthread_create(&cl[i].t, NULL, bl_main, &cl[i]) == 0);
    }
    size_t total = 0, kept = 0;
    uint64_t errors = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(cl[i].t, NULL);
        total += cl[i].n;
        errors += cl[i].errors;
        for (size_t k = 0; k < cl[i].n && kept < sizeof all / sizeof all[0]; k++)
            all[kept++] = cl[i].lat_us[k];
    }
    double secs = (double)(time_mono_ms() - start) / 1000.0;
    qsort(all, kept, sizeof all[0], cmp_u64);
    uint64_t p50 = kept ? all[kept / 2] : 0, p99 = kept ? all[kept * 99 / 100] : 0;
    printf("| %-9s | %2d | %8.0f | %8.2f | %8.2f | %" PRIu64 " |\n",
           contended ? "contended" : "distinct", n, (double)total / secs, (double)p50 / 1000.0,
           (double)p99 / 1000.0, errors);
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        cairn_locks_close(cl[i].l);
        free(cl[i].lat_us);
    }
}

int main(int argc, char **argv)
{
    uint32_t seconds = 5;
    int keep = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else {
            fprintf(stderr, "usage: %s [--seconds S] [--keep]\n", argv[0]);
            return 2;
        }
    }
    cairn_log_set_level(CAIRN_LOG_WARN);
    const char *base = getenv("TMPDIR");
    char dir[CLUSTER_DIR_MAX];
    snprintf(dir, sizeof dir, "%s/cairn-bench-locks-XXXXXX", base ? base : "/tmp");
    CAIRN_ASSERT(mkdtemp(dir));
    static struct cluster cs;
    struct cluster_opts o = {.n = 3, .seed = 43, .log_level = "warn"};
    int rc = cluster_start(&cs, dir, &o, NULL);
    CAIRN_ASSERTF(rc == 0, "cluster_start: %s", cairn_err_name(rc));
    const char *addrs[CLUSTER_NODES_MAX];
    struct cairn_config cfg = {.meta_addrs = addrs,
                               .n_meta_addrs = cluster_addrs(&cs, addrs, CLUSTER_NODES_MAX),
                               .secret_path = cs.secret_path,
                               .name = "bench-locks"};
    struct cairn *c;
    rc = cairn_connect(&cfg, &c);
    CAIRN_ASSERTF(rc == 0, "cairn_connect: %d", rc);
    printf("| locks | clients | pairs/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|\n");
    static const int ns[] = {1, 16, 64};
    for (int contended = 0; contended < 2; contended++)
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            bl_run(c, ns[i], contended, seconds);
    cairn_disconnect(c);
    cluster_stop(&cs);
    if (!keep) {
        char cmd[CLUSTER_DIR_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    } else {
        printf("kept %s\n", dir);
    }
    return 0;
}
