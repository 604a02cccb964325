/* test_raftio.c: unit tests of a node's data directory (src/raftio/raftio.h),
 * the group-commit writer (writer.h) and the fault-injecting seam itself
 * (faultfs.h), on real files under the test directory. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "raftio/faultfs.h"
#include "raftio/raftio.h"
#include "raftio/writer.h"
#include "test.h"

#define CLUSTER 0xC1u
#define NODE 3u

/* --- helpers ---------------------------------------------------------------- */

static const char *node_dir(void)
{
    static char dir[256];
    snprintf(dir, sizeof dir, "%s/node", test_tmpdir());
    return dir;
}

static void sub_path(char *out, size_t cap, const char *sub)
{
    snprintf(out, cap, "%s/%s", node_dir(), sub);
}

static struct raftio_options opts(struct raftio_fs *fs, uint64_t segment_bytes)
{
    return (struct raftio_options){
        .fs = fs, .cluster_id = CLUSTER, .node_id = NODE, .segment_bytes = segment_bytes};
}

static int load(struct raftio_fs *fs, uint64_t segment_bytes, struct raftio **io,
                struct raftio_state *st)
{
    struct raftio_options o = opts(fs, segment_bytes);
    return raftio_load(node_dir(), &o, io, st);
}

/* Entry i of the test's log history `h`: its data is a function of
 * (h, index), so any recovered entry can be checked without a stored model. */
static void fill_entry(struct raft_entry *e, uint64_t index, uint64_t term, uint32_t h,
                       uint8_t *buf)
{
    e->index = index;
    e->term = term;
    e->type = (uint8_t)(index % 2);
    e->len = (uint32_t)((index * 7 + h) % 90);
    for (uint32_t i = 0; i < e->len; i++)
        buf[i] = (uint8_t)(index * 31 + i + h * 7);
    e->data = e->len ? buf : NULL;
}

static void check_entry(const struct raft_entry *e, uint64_t index, uint64_t term, uint32_t h)
{
    uint8_t buf[128];
    struct raft_entry want;
    fill_entry(&want, index, term, h, buf);
    CHECK_EQ_U64(e->index, index);
    CHECK_EQ_U64(e->term, term);
    CHECK_EQ(e->type, want.type);
    CHECK_EQ(e->len, want.len);
    if (want.len)
        CHECK_MEM_EQ(e->data, want.data, want.len);
}

/* Appends entries [first, last] of history h with one term. */
static void append_range(struct raftio *io, uint64_t first, uint64_t last, uint64_t term,
                         uint32_t h)
{
    for (uint64_t i = first; i <= last; i++) {
        uint8_t buf[128];
        struct raft_entry e;
        fill_entry(&e, i, term, h, buf);
        CHECK_OK(raftio_append(io, &e, 1));
    }
}

static struct raft_snapshot make_snap(uint64_t index, uint64_t term, size_t len)
{
    struct raft_snapshot s = {.meta = {.index = index, .term = term}, .len = len};
    s.meta.conf.n_voters = 3;
    s.meta.conf.voters[0] = 1;
    s.meta.conf.voters[1] = 2;
    s.meta.conf.voters[2] = NODE;
    s.meta.conf.n_learners = 1;
    s.meta.conf.learners[0] = 9;
    s.data = malloc(len ? len : 1);
    CHECK(s.data);
    for (size_t i = 0; i < len; i++)
        s.data[i] = (uint8_t)(index + i * 13);
    return s;
}

static void check_snap(const struct raftio_state *st, uint64_t index, uint64_t term, size_t len)
{
    const struct raft_restore *r = &st->restore;
    CHECK_EQ_U64(r->snapshot_meta.index, index);
    CHECK_EQ_U64(r->snapshot_meta.term, term);
    CHECK_EQ(r->snapshot_meta.conf.n_voters, 3);
    CHECK_EQ_U64(r->snapshot_meta.conf.voters[2], NODE);
    CHECK_EQ(r->snapshot_meta.conf.n_learners, 1);
    CHECK_EQ_U64(r->snapshot_meta.conf.learners[0], 9);
    CHECK_EQ_U64(r->snapshot_len, len);
    CHECK_EQ_U64(r->applied, index);
    const uint8_t *d = r->snapshot_data;
    for (size_t i = 0; i < len; i++)
        CHECK_EQ(d[i], (uint8_t)(index + i * 13));
}

/* Files in a subdirectory, as the seam lists them (faultfs hides the files
 * that wait for a directory sync to be gone for good). */
static size_t count_files(struct raftio_fs *fs, const char *sub)
{
    char dir[1024];
    sub_path(dir, sizeof dir, sub);
    struct raftio_names names;
    CHECK_OK(rio_list(fs ? fs : raftio_fs_posix(), dir, &names));
    size_t n = names.n;
    rio_names_free(&names);
    return n;
}

/* --- tests ------------------------------------------------------------------ */

TEST_T(raftio_fresh_then_restart, 30)
{
    struct raftio *io;
    struct raftio_state st;
    CHECK_OK(load(NULL, 0, &io, &st));
    CHECK_EQ(st.fresh, 1);
    CHECK_EQ_U64(st.restore.snapshot_meta.index, 0);
    CHECK_EQ_U64(st.restore.n_entries, 0);
    CHECK_EQ_U64(st.restore.hard_state.term, 0);
    CHECK(st.restore.snapshot_data == NULL);
    raftio_state_free(&st);
    append_range(io, 1, 40, 2, 0);
    CHECK_OK(raftio_sync(io));
    struct raft_hard_state hs = {.term = 2, .vote = 1, .commit = 30};
    CHECK_OK(raftio_save_hard_state(io, &hs));
    raftio_close(io);
    CHECK_OK(load(NULL, 0, &io, &st));
    CHECK_EQ(st.fresh, 0);
    CHECK_EQ_U64(st.restore.hard_state.term, 2);
    CHECK_EQ_U64(st.restore.hard_state.vote, 1);
    CHECK_EQ_U64(st.restore.hard_state.commit, 30);
    CHECK_EQ_U64(st.restore.n_entries, 40);
    for (size_t i = 0; i < 40; i++)
        check_entry(&st.restore.entries[i], i + 1, 2, 0);
    CHECK_EQ(raftio_node_id(io), NODE);
    raftio_state_free(&st);
    /* The stored commit never passes what is durable: 45 is not appended. */
    hs.commit = 45;
    CHECK_OK(raftio_save_hard_state(io, &hs));
    struct raft_hard_state disk;
    raftio_hard_state(io, &disk);
    CHECK_EQ_U64(disk.commit, 40);
    raftio_close(io);
}

TEST_T(raftio_identity_checked, 30)
{
    struct raftio *io;
    struct raftio_state st;
    CHECK_OK(load(NULL, 0, &io, &st));
    append_range(io, 1, 3, 1, 0);
    CHECK_OK(raftio_sync(io));
    struct raft_hard_state hs = {.term = 1};
    CHECK_OK(raftio_save_hard_state(io, &hs));
    raftio_close(io);
    raftio_state_free(&st);
    struct raftio_options o = opts(NULL, 0);
    o.cluster_id = CLUSTER + 1;
    CHECK_EQ(raftio_load(node_dir(), &o, &io, &st), CAIRN_WRONGCLUSTER);
    o = opts(NULL, 0);
    o.node_id = NODE + 1;
    CHECK_EQ(raftio_load(node_dir(), &o, &io, &st), CAIRN_EINVAL);
    o.node_id = 0;
    CHECK_EQ(raftio_load(node_dir(), &o, &io, &st), CAIRN_EINVAL);
    /* A damaged identity is not a fresh start. */
    char path[1024];
    sub_path(path, sizeof path, "identity");
    CHECK_OK(faultfs_corrupt(path, 20, 0x04));
    CHECK_EQ(load(NULL, 0, &io, &st), CAIRN_CORRUPT);
    /* Neither is a lost one while Raft state is present. */
    CHECK_EQ(unlink(path), 0);
    CHECK_EQ(load(NULL, 0, &io, &st), CAIRN_CORRUPT);
    /* The log of another cluster under our identity is refused too. */
    char other_dir[256], cmd[4096];
    snprintf(other_dir, sizeof other_dir, "%s/other", test_tmpdir());
    o = opts(NULL, 0);
    o.cluster_id = CLUSTER + 1;
    CHECK_OK(raftio_load(other_dir, &o, &io, &st));
    append_range(io, 1, 3, 1, 0);
    CHECK_OK(raftio_sync(io));
    CHECK_OK(raftio_save_hard_state(io, &hs));
    raftio_close(io);
    raftio_state_free(&st);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", node_dir(), other_dir, node_dir());
    CHECK_EQ(system(cmd), 0);
    sub_path(path, sizeof path, "identity");
    CHECK_EQ(unlink(path), 0);
    snprintf(cmd, sizeof cmd, "rm -f '%s/hardstate'", node_dir());
    CHECK_EQ(system(cmd), 0);
    CHECK_EQ(load(NULL, 0, &io, &st), CAIRN_CORRUPT); /* a log without identity */
    /* Our identity over their log: the segment header names their cluster. */
    snprintf(cmd, sizeof cmd, "mv '%s/wal' '%s/wal.theirs'", node_dir(), node_dir());
    CHECK_EQ(system(cmd), 0);
    CHECK_OK(load(NULL, 0, &io, &st));
    CHECK_EQ(st.fresh, 1);
    raftio_close(io);
    raftio_state_free(&st);
    snprintf(cmd, sizeof cmd, "rm -rf '%s/wal' && mv '%s/wal.theirs' '%s/wal'", node_dir(),
             node_dir(), node_dir());
    CHECK_EQ(system(cmd), 0);
    CHECK_EQ(load(NULL, 0, &io, &st), CAIRN_WRONGCLUSTER);
}

/* A hard-state replacement interrupted at every step, then a power cut:
 * the file afterwards is the old one or the new one, never damaged; once the
 * call returned, it is the new one. */
TEST_T(raftio_hard_state_atomic_under_crash, 60)
{
    static const enum faultfs_op steps[] = {FAULTFS_OPEN, FAULTFS_PWRITE, FAULTFS_FSYNC,
                                            FAULTFS_RENAME, FAULTFS_SYNC_DIR};
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct raftio *io;
    struct raftio_state st;
    CHECK_OK(load(fs, 0, &io, &st));
    raftio_state_free(&st);
    append_range(io, 1, 10, 1, 0);
    CHECK_OK(raftio_sync(io));
    uint64_t term = 1;
    struct raft_hard_state old = {.term = term, .vote = 2, .commit = 5};
    CHECK_OK(raftio_save_hard_state(io, &old));
    for (int round = 0; round < 120; round++) {
        struct raft_hard_state nw = {.term = ++term,
                                     .vote = 1 + (uint64_t)round % 3,
                                     .commit = 1 + prng_below(test_rng(), 10)};
        size_t step = (size_t)prng_below(test_rng(), CAIRN_ARRAY_LEN(steps) + 1);
        if (step < CAIRN_ARRAY_LEN(steps))
            faultfs_fail(ff, steps[step], 1, CAIRN_EIO);
        int rc = raftio_save_hard_state(io, &nw);
        CHECK(step == CAIRN_ARRAY_LEN(steps) ? rc == 0 : rc == CAIRN_EIO);
        faultfs_clear(ff);
        faultfs_crash(ff, round % 2 ? FAULTFS_CRASH_RANDOM : FAULTFS_CRASH_LOSE_UNSYNCED,
                      test_rng());
        raftio_close(io);
        CHECK_OK(load(fs, 0, &io, &st));
        const struct raft_hard_state *got = &st.restore.hard_state;
        int is_old = got->term == old.term && got->vote == old.vote && got->commit == old.commit;
        int is_new = got->term == nw.term && got->vote == nw.vote && got->commit == nw.commit;
        CHECKF(is_old || is_new, "round %d step %zu: term %llu", round, step,
               (unsigned long long)got->term);
        if (rc == 0)
            CHECK(is_new);
        /* No temporary file survives a load. */
        CHECK_EQ(count_files(fs, "."), 4); /* identity hardstate wal snap */
        if (is_new)
            old = nw;
        term = old.term;
        raftio_state_free(&st);
    }
    raftio_close(io);
    /* A damaged hard state is an error, not a fresh node. */
    char path[1024];
    sub_path(path, sizeof path, "hardstate");
    CHECK_OK(faultfs_corrupt(path, 17, 0x80));
    CHECK_EQ(load(fs, 0, &io, &st), CAIRN_CORRUPT);
    faultfs_free(ff);
}

TEST_T(raftio_snapshot_save_load_compact, 60)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct raftio *io;
    struct raftio_state st;
    CHECK_OK(load(fs, 600, &io, &st));
    raftio_state_free(&st);
    struct raft_hard_state hs = {.term = 4, .vote = NODE, .commit = 0};
    CHECK_OK(raftio_save_hard_state(io, &hs));
    append_range(io, 1, 300, 4, 0);
    CHECK_OK(raftio_sync(io));
    size_t segs = count_files(fs, "wal");
    struct raft_snapshot s100 = make_snap(100, 4, 5000);
    CHECK_OK(raftio_snapshot_save(io, &s100));
    /* With one snapshot, the log is kept whole (the fallback needs it). */
    CHECK_EQ_U64(wal_first_index(raftio_wal(io)), 1);
    struct raft_snapshot s200 = make_snap(200, 4, 7000);
    CHECK_OK(raftio_snapshot_save(io, &s200));
    uint64_t first = wal_first_index(raftio_wal(io));
    CHECK(first > 1 && first <= 101);
    CHECK(count_files(fs, "wal") < segs);
    struct raft_snapshot s250 = make_snap(250, 4, 0);
    CHECK_OK(raftio_snapshot_save(io, &s250));
    CHECK_EQ(count_files(fs, "snap"), 2);
    first = wal_first_index(raftio_wal(io));
    CHECK(first > 101 && first <= 201);
    /* Older than the newest: refused. */
    CHECK_EQ(raftio_snapshot_save(io, &s200), CAIRN_EINVAL);
    CHECK_OK(raftio_sync(io));
    raftio_close(io);
    CHECK_OK(load(fs, 600, &io, &st));
    check_snap(&st, 250, 4, 0);
    CHECK_EQ_U64(st.restore.hard_state.commit, 250);
    CHECK_EQ_U64(st.restore.n_entries, 50);
    for (size_t i = 0; i < 50; i++)
        check_entry(&st.restore.entries[i], 251 + i, 4, 0);
    raftio_state_free(&st);
    raftio_close(io);
    /* The newest is damaged: the older one and the log make a full state. */
    char path[1024];
    sub_path(path, sizeof path, "snap/00000000000000fa-0000000000000004.snap");
    CHECK_OK(faultfs_corrupt(path, 30, 0x01));
    CHECK_OK(load(fs, 600, &io, &st));
    check_snap(&st, 200, 4, 7000);
    CHECK_EQ_U64(st.restore.n_entries, 100);
    check_entry(&st.restore.entries[0], 201, 4, 0);
    raftio_state_free(&st);
    raftio_close(io);
    /* Both damaged: nothing to fall back on. */
    sub_path(path, sizeof path, "snap/00000000000000c8-0000000000000004.snap");
    CHECK_OK(faultfs_corrupt(path, 6000, 0x40));
    CHECK_EQ(load(fs, 600, &io, &st), CAIRN_CORRUPT);
    /* Both lost: the log (compacted) no longer starts at 1. */
    char cmd[4096];
    sub_path(path, sizeof path, "snap");
    snprintf(cmd, sizeof cmd, "rm -f '%s'/*.snap", path);
    CHECK_EQ(system(cmd), 0);
    CHECK_EQ(load(fs, 600, &io, &st), CAIRN_CORRUPT);
    free(s100.data);
    free(s200.data);
    free(s250.data);
    faultfs_free(ff);
}

TEST_T(raftio_snapshot_install_resets_log, 60)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct raftio *io;
    struct raftio_state st;
    CHECK_OK(load(fs, 500, &io, &st));
    raftio_state_free(&st);
    struct raft_hard_state hs = {.term = 3, .vote = 1, .commit = 40};
    append_range(io, 1, 50, 1, 0);
    CHECK_OK(raftio_sync(io));
    CHECK_OK(raftio_save_hard_state(io, &hs));
    struct raft_snapshot s80 = make_snap(80, 3, 3000);
    CHECK_OK(raftio_snapshot_install(io, &s80));
    CHECK_EQ_U64(wal_first_index(raftio_wal(io)), 81);
    CHECK_EQ_U64(raftio_durable_index(io), 80);
    append_range(io, 81, 90, 3, 1);
    CHECK_OK(raftio_sync(io));
    raftio_close(io);
    CHECK_OK(load(fs, 500, &io, &st));
    check_snap(&st, 80, 3, 3000);
    CHECK_EQ_U64(st.restore.hard_state.commit, 80);
    CHECK_EQ_U64(st.restore.n_entries, 10);
    check_entry(&st.restore.entries[9], 90, 3, 1);
    raftio_state_free(&st);
    /* A stored commit past the installed snapshot is lowered to it. */
    hs.commit = 90;
    CHECK_OK(raftio_save_hard_state(io, &hs));
    hs.term = 5;
    CHECK_OK(raftio_save_hard_state(io, &hs));
    struct raft_snapshot s85 = make_snap(85, 4, 10);
    CHECK_OK(raftio_snapshot_install(io, &s85));
    struct raft_hard_state disk;
    raftio_hard_state(io, &disk);
    CHECK_EQ_U64(disk.commit, 85);
    raftio_close(io);
    free(s80.data);
    free(s85.data);
    faultfs_free(ff);
}

/* A power cut between an installed snapshot becoming durable and the log
 * reset: the old log does not connect and is dropped at load. */
TEST_T(raftio_install_interrupted_before_reset, 60)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    /* The install fails at the log reset's first unlink, at its second, or
     * at its directory sync (the first unlink and sync belong to the
     * snapshot's own atomic write); then a random power cut. */
    static const enum faultfs_op ops[] = {FAULTFS_UNLINK, FAULTFS_UNLINK, FAULTFS_SYNC_DIR};
    static const uint32_t nth[] = {2, 3, 2};
    for (int v = 0; v < 18; v++) {
        int variant = v % 3, fault = (v / 3) % 3;
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", node_dir());
        CHECK_EQ(system(cmd), 0);
        struct raftio *io;
        struct raftio_state st;
        CHECK_OK(load(fs, 500, &io, &st));
        raftio_state_free(&st);
        struct raft_hard_state hs = {.term = 2, .vote = 1};
        CHECK_OK(raftio_save_hard_state(io, &hs));
        append_range(io, 1, 100, 1, 0);
        CHECK_OK(raftio_sync(io));
        /* 0: snapshot past the log; 1: inside it with another term;
         * 2: at the log's exact end with another term. */
        uint64_t s = variant == 0 ? 150 : variant == 1 ? 60 : 100;
        struct raft_snapshot snap = make_snap(s, 2, 100);
        faultfs_fail(ff, ops[fault], nth[fault], CAIRN_EIO);
        CHECK_EQ(raftio_snapshot_install(io, &snap), CAIRN_EIO);
        faultfs_clear(ff);
        faultfs_crash(ff, v < 9 ? FAULTFS_CRASH_LOSE_UNSYNCED : FAULTFS_CRASH_RANDOM, test_rng());
        raftio_close(io);
        CHECK_OK(load(fs, 500, &io, &st));
        check_snap(&st, s, 2, 100);
        CHECK_EQ_U64(st.restore.n_entries, 0);
        CHECK_EQ_U64(wal_first_index(raftio_wal(io)), s + 1);
        raftio_state_free(&st);
        append_range(io, s + 1, s + 5, 2, 2);
        CHECK_OK(raftio_sync(io));
        raftio_close(io);
        CHECK_OK(load(fs, 500, &io, &st));
        CHECK_EQ_U64(st.restore.n_entries, 5);
        check_entry(&st.restore.entries[4], s + 5, 2, 2);
        raftio_state_free(&st);
        raftio_close(io);
        free(snap.data);
    }
    faultfs_free(ff);
}

/* --- group commit through the writer thread ------------------------------- */

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int armed;   /* the next fdatasync stops at the gate */
    int waiting; /* a sync is held at the gate */
    int open;
};

static void gate_hook(void *ctx)
{
    struct gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    if (g->armed) {
        g->armed = 0;
        g->waiting = 1;
        pthread_cond_broadcast(&g->cv);
        while (!g->open)
            pthread_cond_wait(&g->cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
}

static void gate_wait_held(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->waiting)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

struct durable_log {
    pthread_mutex_t mu;
    uint64_t calls;
    uint64_t last_seq;
};

static void on_durable(void *ctx, uint64_t seq, uint64_t index, int err)
{
    struct durable_log *d = ctx;
    pthread_mutex_lock(&d->mu);
    d->calls++;
    CHECK(seq > d->last_seq);
    d->last_seq = seq;
    pthread_mutex_unlock(&d->mu);
    CHECK_OK(err);
}

TEST_T(raftio_writer_group_commit, 60)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct raftio *io;
    struct raftio_state st;
    CHECK_OK(load(fs, 0, &io, &st));
    raftio_state_free(&st);
    struct gate g = {.armed = 1};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    faultfs_set_sync_hook(ff, gate_hook, &g);
    struct durable_log dl = {.calls = 0};
    pthread_mutex_init(&dl.mu, NULL);
    struct raftio_writer *wr;
    CHECK_OK(raftio_writer_start(io, on_durable, &dl, &wr));
    uint64_t syncs0 = faultfs_count(ff, FAULTFS_FDATASYNC);
    /* Batch 1 (with a vote) starts a round; its fdatasync is held. */
    uint8_t buf[128];
    struct raft_entry e;
    fill_entry(&e, 1, 1, 0, buf);
    struct raft_hard_state hs = {.term = 1, .vote = NODE, .commit = 0};
    struct raftio_batch b = {.entries = &e, .n_entries = 1, .hard_state = &hs};
    uint64_t seq;
    CHECK_OK(raftio_writer_submit(wr, &b, &seq));
    CHECK_EQ_U64(seq, 1);
    gate_wait_held(&g);
    CHECK_EQ_U64(raftio_writer_durable_seq(wr), 0);
    /* While it syncs, 200 more batches of 1..4 entries queue up. */
    uint64_t next = 2;
    for (int i = 0; i < 200; i++) {
        struct raft_entry es[4];
        uint8_t bufs[4][128];
        size_t n = 1 + prng_below(test_rng(), 4);
        for (size_t k = 0; k < n; k++)
            fill_entry(&es[k], next + k, 1, 0, bufs[k]);
        next += n;
        hs.commit = next - 2;
        b = (struct raftio_batch){.entries = es, .n_entries = n, .hard_state = &hs};
        CHECK_OK(raftio_writer_submit(wr, &b, &seq));
    }
    CHECK_EQ_U64(seq, 201);
    gate_open(&g);
    CHECK_OK(raftio_writer_wait(wr, seq));
    CHECK_EQ_U64(raftio_writer_durable_index(wr), next - 1);
    /* 201 batches, two rounds, two fdatasyncs of the log. */
    CHECK_EQ_U64(faultfs_count(ff, FAULTFS_FDATASYNC) - syncs0, 2);
    struct raftio_writer_stats ws;
    raftio_writer_get_stats(wr, &ws);
    CHECK_EQ_U64(ws.batches, 201);
    CHECK_EQ_U64(ws.rounds, 2);
    /* The callback runs after waiters wake: look once the thread is gone. */
    CHECK_OK(raftio_writer_stop(wr));
    CHECK_EQ_U64(dl.calls, 2);
    CHECK_EQ_U64(dl.last_seq, 201);
    /* Everything is on disk after a power cut, and the last commit too. */
    faultfs_crash(ff, FAULTFS_CRASH_LOSE_UNSYNCED, NULL);
    raftio_close(io);
    CHECK_OK(load(fs, 0, &io, &st));
    CHECK_EQ_U64(st.restore.n_entries, next - 1);
    for (uint64_t i = 1; i < next; i++)
        check_entry(&st.restore.entries[i - 1], i, 1, 0);
    CHECK_EQ_U64(st.restore.hard_state.vote, NODE);
    CHECK_EQ_U64(st.restore.hard_state.commit, next - 2);
    raftio_state_free(&st);
    raftio_close(io);
    faultfs_free(ff);
}

TEST_T(raftio_writer_snapshots_and_errors, 60)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct raftio *io;
    struct raftio_state st;
    CHECK_OK(load(fs, 400, &io, &st));
    raftio_state_free(&st);
    struct raftio_writer *wr;
    CHECK_OK(raftio_writer_start(io, NULL, NULL, &wr));
    struct raft_hard_state hs = {.term = 2, .vote = 1, .commit = 0};
    uint64_t seq = 0;
    for (uint64_t i = 1; i <= 60; i++) {
        uint8_t buf[128];
        struct raft_entry e;
        fill_entry(&e, i, 2, 0, buf);
        struct raftio_batch b = {.entries = &e, .n_entries = 1, .hard_state = &hs};
        CHECK_OK(raftio_writer_submit(wr, &b, &seq));
    }
    /* A snapshot the state machine took, then one from a new leader. */
    struct raft_snapshot taken = make_snap(40, 2, 64);
    struct raftio_batch b = {.taken = &taken};
    CHECK_OK(raftio_writer_submit(wr, &b, &seq));
    struct raft_snapshot inst = make_snap(500, 3, 128);
    struct raft_hard_state hs3 = {.term = 3, .vote = 0, .commit = 500};
    uint8_t buf[128];
    struct raft_entry e;
    fill_entry(&e, 501, 3, 1, buf);
    b = (struct raftio_batch){.install = &inst, .entries = &e, .n_entries = 1, .hard_state = &hs3};
    CHECK_OK(raftio_writer_submit(wr, &b, &seq));
    CHECK_OK(raftio_writer_wait(wr, seq));
    CHECK_EQ_U64(raftio_writer_durable_index(wr), 501);
    /* An fdatasync fails: the writer reports it and takes nothing more. */
    faultfs_fail(ff, FAULTFS_FDATASYNC, 1, CAIRN_EIO);
    fill_entry(&e, 502, 3, 1, buf);
    b = (struct raftio_batch){.entries = &e, .n_entries = 1};
    CHECK_OK(raftio_writer_submit(wr, &b, &seq));
    CHECK_EQ(raftio_writer_wait(wr, seq), CAIRN_EIO);
    CHECK_EQ(raftio_writer_error(wr), CAIRN_EIO);
    fill_entry(&e, 503, 3, 1, buf);
    CHECK_EQ(raftio_writer_submit(wr, &b, &seq), CAIRN_EIO);
    CHECK_EQ(raftio_writer_stop(wr), CAIRN_EIO);
    faultfs_clear(ff);
    faultfs_crash(ff, FAULTFS_CRASH_LOSE_UNSYNCED, NULL);
    raftio_close(io);
    CHECK_OK(load(fs, 400, &io, &st));
    check_snap(&st, 500, 3, 128);
    CHECK(st.restore.n_entries >= 1);
    check_entry(&st.restore.entries[0], 501, 3, 1);
    CHECK_EQ_U64(st.restore.hard_state.term, 3);
    raftio_state_free(&st);
    raftio_close(io);
    free(taken.data);
    free(inst.data);
    faultfs_free(ff);
}

/* --- the seam's own model --------------------------------------------------- */

static void write_str(struct raftio_fs *fs, int fd, const char *s, uint64_t off)
{
    CHECK_OK(rio_pwrite(fs, fd, s, strlen(s), off));
}

static void expect_file(const char *name, const char *want)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    uint8_t *data;
    size_t len;
    int rc = rio_read_file(raftio_fs_posix(), path, 1 << 20, &data, &len);
    if (!want) {
        CHECK_EQ(rc, CAIRN_ENOENT);
        return;
    }
    CHECK_OK(rc);
    CHECKF(len == strlen(want) && memcmp(data, want, len) == 0, "%s holds \"%.*s\", want \"%s\"",
           name, (int)len, (const char *)data, want);
    free(data);
}

TEST_T(faultfs_crash_model, 30)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    const char *d = test_tmpdir();
    char a[512], b[512], c[512];
    snprintf(a, sizeof a, "%s/a", d);
    snprintf(b, sizeof b, "%s/b", d);
    snprintf(c, sizeof c, "%s/c", d);
    int fd;
    CHECK_OK(rio_open(fs, a, RAFTIO_OPEN_CREATE, &fd));
    write_str(fs, fd, "hello world", 0);
    CHECK_OK(rio_fdatasync(fs, fd));
    CHECK_OK(rio_sync_dir(fs, d));
    write_str(fs, fd, "HELLO", 0);
    write_str(fs, fd, "!!", 11);
    CHECK_OK(rio_ftruncate(fs, fd, 3));
    CHECK_EQ_U64(faultfs_unsynced(ff), 3);
    CHECK_OK(rio_close(fs, fd));
    /* A synced file renamed over without a directory sync. */
    CHECK_OK(rio_open(fs, b, RAFTIO_OPEN_CREATE, &fd));
    write_str(fs, fd, "bee", 0);
    CHECK_OK(rio_fsync(fs, fd));
    CHECK_OK(rio_close(fs, fd));
    CHECK_OK(rio_sync_dir(fs, d));
    CHECK_OK(rio_open(fs, c, RAFTIO_OPEN_CREATE | RAFTIO_OPEN_EXCL, &fd));
    CHECK_EQ(rio_open(fs, c, RAFTIO_OPEN_CREATE | RAFTIO_OPEN_EXCL, &fd), CAIRN_EEXIST);
    write_str(fs, fd, "sea", 0);
    CHECK_OK(rio_fsync(fs, fd));
    CHECK_OK(rio_rename(fs, c, b));
    expect_file("b", "sea");
    faultfs_crash(ff, FAULTFS_CRASH_LOSE_UNSYNCED, NULL);
    expect_file("a", "hello world");
    expect_file("b", "bee");
    expect_file("c", NULL);
    /* Dead handles after the crash. */
    CHECK_EQ(rio_pwrite(fs, fd, "x", 1, 0), CAIRN_EBADF);
    CHECK_OK(rio_close(fs, fd));
    /* An unlink without a directory sync comes back; with one, it is gone. */
    CHECK_OK(rio_unlink(fs, b));
    expect_file("b", NULL);
    struct raftio_names names;
    CHECK_OK(rio_list(fs, d, &names));
    CHECK_EQ(names.n, 1); /* the hidden backup is not listed */
    rio_names_free(&names);
    faultfs_crash(ff, FAULTFS_CRASH_LOSE_UNSYNCED, NULL);
    expect_file("b", "bee");
    CHECK_OK(rio_unlink(fs, b));
    CHECK_OK(rio_sync_dir(fs, d));
    faultfs_crash(ff, FAULTFS_CRASH_LOSE_UNSYNCED, NULL);
    expect_file("b", NULL);
    faultfs_free(ff);
}

TEST_T(faultfs_random_crash_keeps_a_prefix, 30)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    char a[512];
    snprintf(a, sizeof a, "%s/a", test_tmpdir());
    int fd;
    CHECK_OK(rio_open(fs, a, RAFTIO_OPEN_CREATE, &fd));
    CHECK_OK(rio_close(fs, fd));
    CHECK_OK(rio_sync_dir(fs, test_tmpdir()));
    /* Random crashes keep a prefix of the writes, at most one torn: past
     * the bytes that match, only zeros or garbage up to the end of the torn
     * write. Every kind of outcome shows up over the rounds. */
    int lost = 0, kept = 0, torn = 0;
    for (int round = 0; round < 200; round++) {
        CHECK_OK(rio_open(fs, a, 0, &fd));
        CHECK_OK(rio_ftruncate(fs, fd, 0));
        write_str(fs, fd, "0123", 0);
        CHECK_OK(rio_fdatasync(fs, fd));
        write_str(fs, fd, "4567", 4);
        write_str(fs, fd, "89", 8);
        faultfs_crash(ff, FAULTFS_CRASH_RANDOM, test_rng());
        uint8_t *data;
        size_t len;
        CHECK_OK(rio_read_file(raftio_fs_posix(), a, 100, &data, &len));
        CHECK(len >= 4 && len <= 10);
        CHECK_MEM_EQ(data, "0123", 4);
        size_t good = 4;
        while (good < len && data[good] == "0123456789"[good])
            good++;
        CHECK(good == len || len == 8 || len == 10);
        lost += len == 4;
        kept += len == 10 && good == 10;
        torn += len != 4 && len != 8 && len != 10;
        free(data);
    }
    CHECK(lost > 0 && kept > 0 && torn > 0);
    faultfs_free(ff);
}
