/* bench_meta_cluster.c: the metadata service as a client sees it: a 3-node
 * `cairn meta` group on loopback (tests/lib/cluster_harness.h) and metadata
 * clients (src/client/metaclient.h) in this process, on one loop.
 *
 *   creates/s   with 1, 16 and 64 concurrent clients, each with one create in
 *               flight (closed loop); a create is acknowledged once applied,
 *               that is committed: fsynced on a quorum;
 *   stats/s     the same for GETATTR via META_QUERY (ReadIndex reads);
 *   memory      the leader's RSS (/proc/<pid>/status) after creating --files
 *               files (default 1,000,000; 16-byte names, 1000 directories),
 *               divided by the number of files; with 256 creates in flight;
 *   failover    SIGKILL of the leader to the next acknowledged create, with
 *               16 clients creating; median of 5.
 *
 * usage: bench_meta_cluster [--files N] [--seconds S] [--keep]
 * Numbers only; nothing is asserted. The clients share one thread with one
 * loop: at 64 clients that thread is part of what is measured. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "client/metaclient.h"
#include "cluster_harness.h"
#include "common/assert.h"
#include "common/log.h"
#include "common/time.h"
#include "meta/cmd.h"
#include "wire/codec.h"

#define CLIENTS_MAX 64
#define MEM_CLIENTS 4
#define MEM_SESSIONS 64
#define MEM_DIRS 1000u
#define FAILOVERS 5
#define INOS_MAX 100000u

enum drv_kind {
    DRV_CREATE = 0,
    DRV_STAT = 1,
};

/* A closed-loop load: every client keeps `depth` operations in flight
 * until end_ms, or until `limit` operations were issued. */
struct drv {
    struct metaclient *mc[CLIENTS_MAX];
    int n;
    int kind;
    uint64_t end_ms;
    uint64_t limit, issued, done, failed;
    int inflight;
    uint64_t *dirs;
    uint32_t n_dirs;
    uint64_t *inos; /* inodes created (up to INOS_MAX), for the stats */
    size_t n_inos;
    uint64_t kill_ms;    /* failover: when the leader was killed (0: none) */
    uint64_t recover_ms; /* failover: first acknowledgement after it */
    struct prng rng;
    struct cairn_buf cmd;
    char run[16]; /* name prefix of this run */
};

struct op_ctx {
    struct drv *d;
    struct metaclient *mc;
    uint64_t issued_ms;
};

static void drv_issue(struct drv *d, struct metaclient *mc);

static void drv_done(struct metaclient *mc, const struct metaclient_result *res, void *arg)
{
    struct op_ctx *x = arg;
    struct drv *d = x->d;
    d->inflight--;
    d->done++;
    if (res->status != 0) {
        d->failed++;
    } else if (d->kind == DRV_CREATE && d->n_inos < INOS_MAX) {
        struct meta_attr at;
        if (meta_reply_attr(res->reply, res->reply_len, &at) == 0)
            d->inos[d->n_inos++] = at.ino;
    }
    if (res->status == 0 && d->kill_ms && !d->recover_ms) {
        /* An answer that only a new leader can have given: the operation was
         * sent after the kill, or retried. */
        if (x->issued_ms >= d->kill_ms || res->attempts >= 2)
            d->recover_ms = time_mono_ms();
    }
    free(x);
    if (time_mono_ms() < d->end_ms && (!d->limit || d->issued < d->limit))
        drv_issue(d, mc);
}

static void drv_issue(struct drv *d, struct metaclient *mc)
{
    struct meta_hdr h = {0};
    buf_reset(&d->cmd);
    int rc;
    if (d->kind == DRV_CREATE) {
        char name[32];
        uint64_t k = d->issued;
        snprintf(name, sizeof name, "%s%011" PRIu64, d->run, k);
        rc = meta_cmd_create(&d->cmd, &h, d->dirs[k % d->n_dirs], name, 0644, 1);
    } else {
        rc = meta_cmd_getattr(&d->cmd, &h, d->inos[prng_below(&d->rng, d->n_inos)]);
    }
    CAIRN_ASSERT(rc == 0);
    struct op_ctx *x = malloc(sizeof *x);
    CAIRN_ASSERT(x);
    *x = (struct op_ctx){d, mc, time_mono_ms()};
    rc = d->kind == DRV_CREATE ? metaclient_mutate(mc, d->cmd.data, d->cmd.len, drv_done, x)
                               : metaclient_query(mc, d->cmd.data, d->cmd.len, drv_done, x);
    CAIRN_ASSERTF(rc == 0, "submit: %s", cairn_err_name(rc));
    d->issued++;
    d->inflight++;
}

static void drv_start(struct drv *d, int depth, uint32_t seconds)
{
    d->end_ms = seconds ? time_mono_ms() + seconds * 1000ull : UINT64_MAX;
    d->issued = d->done = d->failed = 0;
    for (int i = 0; i < d->n; i++)
        for (int k = 0; k < depth; k++)
            drv_issue(d, d->mc[i]);
}

/* Stop issuing and wait for what is in flight. */
static void drv_drain(struct cluster *c, struct drv *d)
{
    d->end_ms = 0;
    while (d->inflight > 0)
        cluster_run_for(c, 20);
}

/* Run d: `depth` operations per client until the time or the limit is
 * reached, then wait for what is in flight. Returns operations per second. */
static double drv_run(struct cluster *c, struct drv *d, int depth, uint32_t seconds)
{
    uint64_t t0 = time_mono_ms();
    drv_start(d, depth, seconds);
    uint64_t next_report = 100000;
    while (d->inflight > 0) {
        cluster_run_for(c, 100);
        if (d->limit && d->done >= next_report) {
            fprintf(stderr, "  %" PRIu64 " files, %.0f/s\n", d->done,
                    (double)d->done * 1000.0 / (double)(time_mono_ms() - t0 + 1));
            next_report += 100000;
        }
    }
    double secs = (double)(time_mono_ms() - t0) / 1000.0;
    if (d->failed)
        fprintf(stderr, "  %" PRIu64 " operations failed\n", d->failed);
    return (double)(d->done - d->failed) / secs;
}

static struct metaclient *client(struct cluster *c, uint32_t sessions, int i)
{
    const char *addrs[CLUSTER_NODES_MAX];
    size_t n = cluster_addrs(c, addrs, CLUSTER_NODES_MAX);
    char name[32];
    snprintf(name, sizeof name, "bench%d", i);
    struct metaclient_cfg cfg = {.addrs = addrs,
                                 .n_addrs = n,
                                 .secret = &c->secret,
                                 .name = name,
                                 .sessions = sessions,
                                 .attempt_timeout_ms = 1000,
                                 .op_timeout_ms = 60000,
                                 .seed = 1000u + (uint64_t)i};
    struct metaclient *mc;
    int rc = metaclient_new(c->loop, &cfg, &mc);
    CAIRN_ASSERTF(rc == 0, "metaclient_new: %s", cairn_err_name(rc));
    return mc;
}

static void drv_clients(struct cluster *c, struct drv *d, int n, uint32_t sessions)
{
    for (int i = 0; i < d->n; i++)
        metaclient_close(d->mc[i]);
    d->n = n;
    for (int i = 0; i < n; i++)
        d->mc[i] = client(c, sessions, i);
}

/* Directories for the files, made through the first client. */
static void make_dirs(struct cluster *c, struct drv *d, uint32_t n)
{
    (void)c;
    d->dirs = calloc(n, sizeof *d->dirs);
    d->n_dirs = n;
    struct cairn_buf cmd, reply;
    buf_init(&cmd, 0);
    buf_init(&reply, 0);
    for (uint32_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "dir%05u", i);
        struct meta_hdr h = {0};
        buf_reset(&cmd);
        buf_reset(&reply);
        CAIRN_ASSERT(meta_cmd_mkdir(&cmd, &h, META_ROOT_INO, name, 0755) == 0);
        int rc = metaclient_mutate_sync(d->mc[0], cmd.data, cmd.len, &reply, NULL);
        struct meta_attr at;
        CAIRN_ASSERTF(rc == 0 && meta_reply_attr(reply.data, reply.len, &at) == 0, "mkdir: %s",
                      cairn_err_name(rc));
        d->dirs[i] = at.ino;
    }
    buf_free(&cmd);
    buf_free(&reply);
}

/* The slot most clients send to: the leader, as the clients found it (what
 * the clients see is what the failover measure is about). */
static int leader_by_clients(const struct cluster *c, const struct drv *d)
{
    int votes[CLUSTER_NODES_MAX] = {0};
    int best = -1;
    for (int i = 0; i < d->n; i++) {
        const char *addr = metaclient_current_addr(d->mc[i]);
        for (uint32_t k = 0; k < c->n_nodes; k++)
            if (strcmp(c->nodes[k].addr, addr) == 0 && ++votes[k] > (best < 0 ? 0 : votes[best]))
                best = (int)k;
    }
    return best;
}

/* One failover: 16 clients create; the leader is killed; the time to the
 * first create only a new leader can have acknowledged. Then the old leader
 * is restarted and caught up. Milliseconds, or -1. */
static double failover_once(struct cluster *c, struct drv *d)
{
    d->kill_ms = d->recover_ms = 0;
    drv_start(d, 1, 0);
    cluster_run_for(c, 1500);
    int l = leader_by_clients(c, d);
    CAIRN_ASSERT(l >= 0);
    d->kill_ms = time_mono_ms();
    cluster_node_kill(c, (uint32_t)l);
    while (!d->recover_ms && time_mono_ms() < d->kill_ms + 30000)
        cluster_run_for(c, 1);
    drv_drain(c, d);
    double ms = d->recover_ms ? (double)(d->recover_ms - d->kill_ms) : -1.0;
    CAIRN_ASSERT(cluster_node_spawn(c, (uint32_t)l) == 0);
    CAIRN_ASSERT(cluster_wait_ready(c, (uint32_t)l, 30000) == 0);
    CAIRN_ASSERT(cluster_wait_caught_up(c, (uint32_t)l, 120000) == 0);
    return ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t statfs_files(struct metaclient *mc)
{
    struct cairn_buf cmd, reply;
    buf_init(&cmd, 0);
    buf_init(&reply, 0);
    struct meta_hdr h = {0};
    CAIRN_ASSERT(meta_cmd_statfs(&cmd, &h) == 0);
    int rc = metaclient_query_sync(mc, cmd.data, cmd.len, &reply, NULL);
    CAIRN_ASSERTF(rc == 0, "statfs: %s", cairn_err_name(rc));
    uint64_t files = wire_load_u64(reply.data + 4);
    buf_free(&cmd);
    buf_free(&reply);
    return files;
}

struct results {
    double creates[3], stats[3];
    uint64_t files, rss_before, rss_after;
    double mem_secs;
    double status_ms; /* one META_STATUS round trip at the end */
    double failover[FAILOVERS];
};

static const int levels[3] = {1, 16, 64};

static void measure_rates(struct cluster *c, struct drv *d, uint32_t seconds, struct results *r)
{
    for (int i = 0; i < 3; i++) {
        drv_clients(c, d, levels[i], 1);
        if (i == 0)
            make_dirs(c, d, MEM_DIRS);
        d->kind = DRV_CREATE;
        snprintf(d->run, sizeof d->run, "c%d", i);
        r->creates[i] = drv_run(c, d, 1, seconds);
        fprintf(stderr, "creates, %d clients: %.0f/s\n", levels[i], r->creates[i]);
    }
    for (int i = 0; i < 3; i++) {
        drv_clients(c, d, levels[i], 1);
        d->kind = DRV_STAT;
        r->stats[i] = drv_run(c, d, 1, seconds);
        fprintf(stderr, "stats, %d clients: %.0f/s\n", levels[i], r->stats[i]);
    }
}

/* Create files until the state holds `files` of them (with 256 in flight),
 * and read the leader's RSS before and after. */
static void measure_memory(struct cluster *c, struct drv *d, uint64_t files, struct results *r)
{
    drv_clients(c, d, MEM_CLIENTS, MEM_SESSIONS);
    int l = cluster_wait_leader(c, 20000);
    CAIRN_ASSERT(l >= 0);
    r->rss_before = cluster_node_rss(c, (uint32_t)l);
    uint64_t have = statfs_files(d->mc[0]);
    d->kind = DRV_CREATE;
    d->limit = files > have ? files - have : 0;
    snprintf(d->run, sizeof d->run, "m");
    uint64_t t0 = time_mono_ms();
    if (d->limit)
        drv_run(c, d, 2 * MEM_SESSIONS, 0);
    d->limit = 0;
    r->mem_secs = (double)(time_mono_ms() - t0) / 1000.0;
    r->files = statfs_files(d->mc[0]);
    int l2 = cluster_wait_leader(c, 20000);
    if (l2 != l)
        fprintf(stderr, "memory: the leader changed from slot %d to %d\n", l, l2);
    CAIRN_ASSERT(l2 >= 0);
    r->rss_after = cluster_node_rss(c, (uint32_t)l2);
    struct cluster_status st;
    uint64_t t = time_mono_ns();
    CAIRN_ASSERT(cluster_status(c, (uint32_t)l2, &st, 30000) == 0);
    r->status_ms = (double)(time_mono_ns() - t) / 1e6;
    for (uint32_t i = 0; i < c->n_nodes; i++)
        fprintf(stderr, "memory: node %" PRIu64 "%s RSS %" PRIu64 " bytes\n", c->nodes[i].id,
                (int)i == l2 ? " (leader)" : "", cluster_node_rss(c, i));
    fprintf(stderr,
            "memory: %" PRIu64 " files in %.0f s, leader RSS %" PRIu64 " -> %" PRIu64 " bytes\n",
            r->files, r->mem_secs, r->rss_before, r->rss_after);
}

static void print_table(const struct cluster *c, const struct results *r, double median)
{
    printf("\n| measure (3 x cairn meta on loopback, tick %u ms x %u) | 1 client | 16 clients "
           "| 64 clients |\n|---|---|---|---|\n",
           c->o.tick_ms, c->o.election_ticks);
    printf("| creates/s (durable on a quorum) | %.0f | %.0f | %.0f |\n", r->creates[0],
           r->creates[1], r->creates[2]);
    printf("| stats/s (GETATTR, ReadIndex) | %.0f | %.0f | %.0f |\n", r->stats[0], r->stats[1],
           r->stats[2]);
    printf("\n| measure | value |\n|---|---|\n");
    printf("| files in the namespace | %" PRIu64 " (created in %.0f s, 256 in flight) |\n",
           r->files, r->mem_secs);
    printf("| leader RSS before / after | %.1f MiB / %.1f MiB |\n",
           (double)r->rss_before / 1048576.0, (double)r->rss_after / 1048576.0);
    printf("| memory per file (RSS / files) | %.0f bytes |\n",
           r->files ? (double)r->rss_after / (double)r->files : 0.0);
    printf("| memory per file ((RSS - RSS before) / files) | %.0f bytes |\n",
           r->files ? (double)(r->rss_after - r->rss_before) / (double)r->files : 0.0);
    printf(
        "| one META_STATUS round trip (a new connection; digest hashed in a child) | %.0f ms |\n",
        r->status_ms);
    printf("| leader failover, SIGKILL to next acknowledged create (median of %d) | %.0f ms "
           "(runs:",
           FAILOVERS, median);
    for (int i = 0; i < FAILOVERS; i++)
        printf(" %.0f", r->failover[i]);
    printf(") |\n");
}

int main(int argc, char **argv)
{
    uint64_t files = 1000000;
    uint32_t seconds = 3;
    int keep = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--files") == 0 && i + 1 < argc)
            files = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else {
            fprintf(stderr, "usage: %s [--files N] [--seconds S] [--keep]\n", argv[0]);
            return 2;
        }
    }
    cairn_log_set_level(CAIRN_LOG_WARN);
    const char *base = getenv("TMPDIR");
    char dir[CLUSTER_DIR_MAX];
    snprintf(dir, sizeof dir, "%s/cairn-bench-meta-XXXXXX", base ? base : "/tmp");
    CAIRN_ASSERT(mkdtemp(dir));
    static struct cluster c;
    struct cluster_opts o = {.n = 3,
                             .seed = 42,
                             .snapshot_every = 200000,
                             .tick_ms = 10, /* the daemon's defaults (docs/metad.md) */
                             .election_ticks = 20,
                             .log_level = "info"};
    int rc = cluster_start(&c, dir, &o, NULL);
    CAIRN_ASSERTF(rc == 0, "cluster_start: %s", cairn_err_name(rc));
    static struct drv d;
    d.inos = calloc(INOS_MAX, sizeof *d.inos);
    prng_seed(&d.rng, 7);
    buf_init(&d.cmd, 0);
    struct results r = {0};
    measure_rates(&c, &d, seconds, &r);
    measure_memory(&c, &d, files, &r);
    drv_clients(&c, &d, 16, 1);
    snprintf(d.run, sizeof d.run, "f");
    d.kind = DRV_CREATE;
    for (int i = 0; i < FAILOVERS; i++) {
        snprintf(d.run, sizeof d.run, "f%d", i);
        r.failover[i] = failover_once(&c, &d);
        fprintf(stderr, "failover %d: %.0f ms\n", i, r.failover[i]);
    }
    double sorted[FAILOVERS];
    memcpy(sorted, r.failover, sizeof sorted);
    qsort(sorted, FAILOVERS, sizeof sorted[0], cmp_double);
    print_table(&c, &r, sorted[FAILOVERS / 2]);
    drv_clients(&c, &d, 0, 1);
    cluster_stop(&c);
    buf_free(&d.cmd);
    free(d.inos);
    free(d.dirs);
    if (!keep) {
        char cmd[CLUSTER_DIR_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}
