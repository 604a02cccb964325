/* failover.c: creates from several clients while the leader is killed with
 * SIGKILL several times; afterwards every acknowledged create exists exactly
 * once, no retry created anything twice, and the replicas agree; then all
 * three servers are killed and restarted and the namespace is intact. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "cops.h"
#include "meta/cmd.h"
#include "test.h"

#define WORKERS 8
#define KILLS 3
#define RECORDS_MAX 40000

enum rec_state {
    REC_PENDING = 0,
    REC_ACKED = 1,   /* applied and answered with success */
    REC_FAILED = 2,  /* answered with an error, or surely not applied */
    REC_UNKNOWN = 3, /* the client gave up without knowing */
};

struct rec {
    char name[24];
    uint8_t state;
    int status;
    uint64_t ino;
    int found; /* times seen in the final listing */
};

struct load {
    uint64_t dir;
    int stop;
    struct rec *recs;
    int n_recs;
    int busy;
    struct cairn_buf cmd;
};

struct worker {
    struct load *L;
    int id;
    int k;   /* creates issued so far */
    int cur; /* record in flight, -1 if none */
    struct metaclient *mc;
};

static void worker_issue(struct worker *w);

static void worker_done(struct metaclient *mc, const struct metaclient_result *res, void *arg)
{
    (void)mc;
    struct worker *w = arg;
    struct rec *r = &w->L->recs[w->cur];
    w->cur = -1;
    w->L->busy--;
    r->status = res->status;
    if (res->outcome == METACLIENT_DONE && res->status == 0) {
        struct meta_attr at;
        CHECK_OK(meta_reply_attr(res->reply, res->reply_len, &at));
        r->ino = at.ino;
        r->state = REC_ACKED;
    } else if (res->outcome == METACLIENT_UNKNOWN) {
        r->state = REC_UNKNOWN;
    } else {
        r->state = REC_FAILED;
    }
    if (!w->L->stop)
        worker_issue(w);
}

/* One create of a name no one else uses: "w<worker>-<k>". */
static void worker_issue(struct worker *w)
{
    struct load *L = w->L;
    if (L->n_recs == RECORDS_MAX)
        return;
    struct rec *r = &L->recs[L->n_recs];
    snprintf(r->name, sizeof r->name, "w%d-%05d", w->id, w->k++);
    struct meta_hdr h = {0};
    buf_reset(&L->cmd);
    CHECK_OK(meta_cmd_create(&L->cmd, &h, L->dir, r->name, 0644, 1));
    CHECK_OK(metaclient_mutate(w->mc, L->cmd.data, L->cmd.len, worker_done, w));
    w->cur = L->n_recs++;
    L->busy++;
}

/* Kill the leader KILLS times while the workers create; restart it each
 * time after a short leaderless pause. */
static void nemesis(struct cluster *c)
{
    for (int round = 0; round < KILLS; round++) {
        cluster_run_for(c, 1000 + (uint32_t)prng_below(test_rng(), 1000));
        int l = cluster_wait_leader(c, 20000);
        CHECKF(l >= 0, "no leader before kill %d", round);
        fprintf(stderr, "kill %d: SIGKILL leader node %" PRIu64 "\n", round, c->nodes[l].id);
        cluster_node_kill(c, (uint32_t)l);
        cluster_run_for(c, 200 + (uint32_t)prng_below(test_rng(), 800));
        CHECK_OK(cluster_node_spawn(c, (uint32_t)l));
        CHECK_OK(cluster_wait_ready(c, (uint32_t)l, 20000));
    }
    cluster_run_for(c, 1500);
}

static int rec_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rec *)a)->name, ((const struct rec *)b)->name);
}

/* The listing against the records: every acknowledged create exactly once
 * with its inode, unknown ones at most once, failed ones never, nothing
 * else, no name twice. Returns the number of entries. */
static size_t check_listing(struct load *L, struct cops_list *ls)
{
    cops_list_sort(ls);
    for (int i = 0; i < L->n_recs; i++)
        L->recs[i].found = 0;
    for (size_t i = 0; i < ls->n; i++) {
        CHECKF(i == 0 || strcmp(ls->e[i - 1].name, ls->e[i].name) != 0, "name twice: %s",
               ls->e[i].name);
        struct rec key;
        size_t len = strlen(ls->e[i].name);
        CHECKF(len < sizeof key.name, "entry %s was never created", ls->e[i].name);
        memcpy(key.name, ls->e[i].name, len + 1);
        struct rec *r = bsearch(&key, L->recs, (size_t)L->n_recs, sizeof *r, rec_cmp);
        CHECKF(r, "entry %s was never created", ls->e[i].name);
        r->found++;
        CHECKF(r->state != REC_FAILED, "%s failed (%s) but exists", r->name,
               cairn_err_name(r->status));
        CHECKF(r->state != REC_ACKED || r->ino == ls->e[i].ino,
               "%s: inode %" PRIu64 " acknowledged, %" PRIu64 " listed", r->name, r->ino,
               ls->e[i].ino);
    }
    for (int i = 0; i < L->n_recs; i++)
        CHECKF(L->recs[i].state != REC_ACKED || L->recs[i].found == 1,
               "acknowledged %s found %d times", L->recs[i].name, L->recs[i].found);
    return ls->n;
}

/* Lookups, the inode count and the replicas' digests agree with the listing. */
static void check_namespace(struct cluster *c, struct metaclient *mc, struct load *L,
                            size_t entries)
{
    for (int i = 0; i < L->n_recs; i++) {
        struct rec *r = &L->recs[i];
        if (r->state != REC_ACKED)
            continue;
        struct meta_attr at;
        CHECK_OK(cops_lookup(mc, L->dir, r->name, &at));
        CHECK_EQ_U64(at.ino, r->ino);
        CHECK_EQ(at.nlink, 1);
    }
    uint64_t files;
    CHECK_OK(cops_statfs_files(mc, &files));
    CHECK_EQ_U64(files, entries + 2); /* root and the load directory */
    uint64_t digest;
    CHECK_OK(cluster_wait_converged(c, 0, 30000, &digest));
}

static void tally(const struct load *L, int *n)
{
    memset(n, 0, 4 * sizeof *n);
    for (int i = 0; i < L->n_recs; i++)
        n[L->recs[i].state]++;
    fprintf(stderr, "creates: %d acknowledged, %d failed, %d unknown, %d pending\n", n[REC_ACKED],
            n[REC_FAILED], n[REC_UNKNOWN], n[REC_PENDING]);
}

TEST_T(creates_while_leader_killed, 150)
{
    static struct cluster c;
    struct cluster_opts o = {.n = 3, .seed = test_seed()};
    CHECK_OK(cluster_start(&c, test_tmpdir(), &o, NULL));
    struct metaclient *admin = cops_client(&c, 1, "admin", test_seed());
    struct meta_attr dir;
    CHECK_OK(cops_mkdir(admin, META_ROOT_INO, "load", &dir));
    struct load L = {.dir = dir.ino, .recs = calloc(RECORDS_MAX, sizeof(struct rec))};
    buf_init(&L.cmd, 0);
    struct worker w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "worker%d", i);
        w[i] = (struct worker){&L, i, 0, -1, cops_client(&c, 1, name, test_seed() + 7u * i)};
        worker_issue(&w[i]);
    }
    nemesis(&c);
    L.stop = 1;
    while (L.busy > 0)
        cluster_run_for(&c, 50);
    int n[4];
    tally(&L, n);
    CHECK(n[REC_ACKED] > 0);
    CHECK_EQ(n[REC_PENDING], 0);
    /* A retry applied twice would have failed with EEXIST: none did. */
    for (int i = 0; i < L.n_recs; i++)
        CHECKF(L.recs[i].state != REC_FAILED, "%s failed: %s", L.recs[i].name,
               cairn_err_name(L.recs[i].status));
    qsort(L.recs, (size_t)L.n_recs, sizeof *L.recs, rec_cmp);

    struct cops_list before;
    CHECK_OK(cops_list_dir(admin, L.dir, &before));
    size_t entries = check_listing(&L, &before);
    check_namespace(&c, admin, &L, entries);

    /* All three die at once and come back from their disks. */
    for (uint32_t i = 0; i < c.n_nodes; i++)
        cluster_node_kill(&c, i);
    for (uint32_t i = 0; i < c.n_nodes; i++)
        CHECK_OK(cluster_node_spawn(&c, i));
    CHECK(cluster_wait_leader(&c, 30000) >= 0);
    struct cops_list after;
    CHECK_OK(cops_list_dir(admin, L.dir, &after));
    CHECK_EQ(check_listing(&L, &after), entries);
    for (size_t i = 0; i < entries; i++) {
        CHECK_STR_EQ(before.e[i].name, after.e[i].name);
        CHECK_EQ_U64(before.e[i].ino, after.e[i].ino);
    }
    check_namespace(&c, admin, &L, entries);

    cops_list_free(&before);
    cops_list_free(&after);
    for (int i = 0; i < WORKERS; i++)
        metaclient_close(w[i].mc);
    metaclient_close(admin);
    buf_free(&L.cmd);
    free(L.recs);
    cluster_stop(&c);
}
