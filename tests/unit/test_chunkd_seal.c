/* test_chunkd_seal.c: chunk servers restarted in the middle of a write (docs/chunkd.md,
 * "Restarts"), in a small in-process cluster. A staged version found at a restart is
 * sealed: the rest of the write is refused there (CAIRN_STALEVERSION), so the writer leaves
 * that replica out of its commit and the leader copies the chunk back to it; a replica that
 * acknowledged the FLUSH before the restart still commits; one named by a commit without
 * having been flushed refuses the COMMIT and is repaired from a good copy. The last case
 * runs the real data client (src/client) through a restart of every replica. */
#include "client/file.h"
#include "test_chunkd_util.h"

static uint8_t *pattern(size_t len)
{
    uint8_t *p = malloc(len);
    CHECK(p != NULL);
    prng_fill(test_rng(), p, len);
    return p;
}

/* One piece to the server at `head`, forwarded to `next` (NULL: none); st[0], st[1]: their
 * statuses. */
static void send_piece(struct tc *t, const struct tc_alloc *a, int head, int next, uint64_t off,
                       const uint8_t *data, size_t n, uint8_t flags, int *st)
{
    struct wire_chunk_write m;
    memset(&m, 0, sizeof m);
    m.chunk = a->chunk;
    m.version = a->version;
    m.offset = off;
    m.flags = flags;
    if (next >= 0) {
        const char *ad = t->chunk[next].addr;
        m.chain[m.n_chain++] = (struct wire_bytes){(const uint8_t *)ad, (uint32_t)strlen(ad)};
    }
    m.data = (struct wire_bytes){n ? data : NULL, (uint32_t)n};
    struct wire_chunk_write_reply r;
    CHECK_OK(tc_chunk_write_req(t, t->chunk[head].addr, &m, 3, &r));
    CHECK_EQ(r.n, 1 + m.n_chain);
    for (uint8_t i = 0; i < r.n; i++)
        st[i] = r.status[i];
}

/* Does chunk server i hold (chunk, version) committed (its .chk file)? */
static int committed_on(struct tc *t, int i, uint64_t chunk, uint64_t version)
{
    char name[CHUNK_NAME_LEN], path[CAIRN_PATH_MAX + 64];
    chunk_name_format(name, chunk, version, CHUNK_NAME_COMMITTED);
    snprintf(path, sizeof path, "%s/chunks/%02x/%s", t->chunk[i].cfg.data, chunk_fanout(chunk),
             name);
    return access(path, F_OK) == 0;
}

/* A cluster of two chunk servers (t), a file "f" of goal 2 and its first
 * chunk allocated on both (a); the file's inode. */
static uint64_t two_replica_file(struct tc *t, struct tc_alloc *a)
{
    tc_init(t, 2, NULL);
    uint64_t ino = tc_create(t, "f", 2);
    CHECK_OK(tc_alloc(t, ino, 0, 60000, a));
    CHECK_EQ(a->n, 2);
    return ino;
}

/* The first two pieces of data (CAIRN_CHUNK_IO_MAX each) to head, forwarded
 * to next; both servers acknowledge both. */
static void two_pieces(struct tc *t, const struct tc_alloc *a, int head, int next,
                       const uint8_t *data)
{
    int st[2];
    for (int p = 0; p < 2; p++) {
        send_piece(t, a, head, next, (uint64_t)p * CAIRN_CHUNK_IO_MAX,
                   data + (size_t)p * CAIRN_CHUNK_IO_MAX, CAIRN_CHUNK_IO_MAX, 0, st);
        CHECK_OK(st[0]);
        CHECK_OK(st[1]);
    }
}

/* Two pieces acknowledged by both replicas, then one replica restarts: the third piece and
 * the flush are refused there, go on at the other; the commit names the other only; the
 * restarted server's copy is dropped and the leader copies the committed version back. */
TEST_T(restarted_replica_refuses_rest_of_write, 120)
{
    struct tc t;
    struct tc_alloc a;
    uint64_t ino = two_replica_file(&t, &a);
    int s0 = tc_slot(&t, a.reps[0]), s1 = tc_slot(&t, a.reps[1]);
    size_t len = 3 * CAIRN_CHUNK_IO_MAX;
    uint8_t *data = pattern(len);
    int st[2];
    /* The server to restart heads the chain: the piece after the restart reaches it
     * (the test's connection is re-made), whatever the forward's connection does. */
    two_pieces(&t, &a, s1, s0, data);
    tc_chunk_restart(&t, s1);
    send_piece(&t, &a, s1, s0, 2 * CAIRN_CHUNK_IO_MAX, data + 2 * CAIRN_CHUNK_IO_MAX,
               CAIRN_CHUNK_IO_MAX, 0, st);
    CHECK_EQ(st[0], CAIRN_STALEVERSION);
    CHECK_OK(st[1]);
    send_piece(&t, &a, s1, s0, 0, NULL, 0, WIRE_CHUNK_WRITE_FLUSH, st);
    CHECK_EQ(st[0], CAIRN_STALEVERSION);
    CHECK_OK(st[1]);
    TC_WAIT(tc_chunk_info(&t, s1).sealed_refused >= 2, "refusals counted");
    CHECK_OK(tc_commit(&t, ino, 0, &a, (uint32_t)len, &a.reps[0], 1));
    CHECK_OK(tc_read_equals(&t, t.chunk[s0].addr, a.chunk, a.version, data, len));
    /* The leader drops the refused copy and copies the committed one back. */
    TC_WAIT(committed_on(&t, s1, a.chunk, a.version), "the chunk copied back");
    CHECK_OK(tc_read_equals(&t, t.chunk[s1].addr, a.chunk, a.version, data, len));
    struct meta_chunk_info ci;
    TC_WAIT((ci = tc_chunk_of(&t, ino, 0)).n_replicas == 2, "both replicas listed");
    free(data);
    tc_free(&t);
}

/* The FLUSH acknowledged by both, then one restarts before the commit: its copy is sealed
 * but complete, and the outbox's COMMIT makes it current there. */
TEST_T(replica_flushed_before_restart_commits, 90)
{
    struct tc t;
    struct tc_alloc a;
    uint64_t ino = two_replica_file(&t, &a);
    size_t len = CAIRN_CHUNK_IO_MAX + 4321;
    uint8_t *data = pattern(len);
    int ok[CAIRN_GOAL_MAX];
    tc_write(&t, &a, 0, 0, data, len, ok);
    CHECK(ok[0] && ok[1]);
    int s1 = tc_slot(&t, a.reps[1]);
    tc_chunk_restart(&t, s1);
    /* Sealed but complete: served as a version committed in the metadata and still staged
     * here is. */
    uint8_t b[100];
    size_t got;
    CHECK_OK(tc_read(&t, t.chunk[s1].addr, a.chunk, a.version, 0, sizeof b, b, &got));
    CHECK(got == sizeof b && memcmp(b, data, sizeof b) == 0);
    CHECK_OK(tc_commit(&t, ino, 0, &a, (uint32_t)len, a.reps, 2));
    TC_WAIT(committed_on(&t, s1, a.chunk, a.version), "the COMMIT executed after the restart");
    CHECK_OK(tc_read_equals(&t, t.chunk[s1].addr, a.chunk, a.version, data, len));
    CHECK_EQ(tc_chunk_info(&t, s1).sealed_refused, 0);
    struct meta_chunk_info ci = tc_chunk_of(&t, ino, 0);
    CHECK_EQ(ci.n_replicas, 2);
    free(data);
    tc_free(&t);
}

/* A commit naming a replica that restarted before any flush (a writer breaking the
 * protocol): that replica refuses the COMMIT rather than make its copy (the bytes of its
 * last flush: none) current; the leader takes it off the list and copies the good one back. */
TEST_T(unflushed_replica_refuses_commit_and_is_repaired, 120)
{
    struct tc t;
    struct tc_alloc a;
    uint64_t ino = two_replica_file(&t, &a);
    int s0 = tc_slot(&t, a.reps[0]), s1 = tc_slot(&t, a.reps[1]);
    size_t len = 2 * CAIRN_CHUNK_IO_MAX;
    uint8_t *data = pattern(len);
    two_pieces(&t, &a, s0, s1, data);
    tc_chunk_restart(&t, s1);
    /* Its bytes are not served either (a version still staged here is, as a rule: its
     * COMMIT may be on its way; not one that will refuse it). */
    uint8_t b[100];
    size_t got;
    CHECK_EQ(tc_read(&t, t.chunk[s1].addr, a.chunk, a.version, 0, sizeof b, b, &got),
             CAIRN_STALEVERSION);
    CHECK_OK(tc_read(&t, t.chunk[s0].addr, a.chunk, a.version, 0, sizeof b, b, &got));
    CHECK(got == sizeof b && memcmp(b, data, sizeof b) == 0);
    CHECK_OK(tc_commit(&t, ino, 0, &a, (uint32_t)len, a.reps, 2));
    CHECK_OK(tc_read_equals(&t, t.chunk[s0].addr, a.chunk, a.version, data, len));
    /* Never made current from the unflushed copy: the copy that lands there is the good one. */
    TC_WAIT(committed_on(&t, s1, a.chunk, a.version), "the chunk copied back");
    CHECK_OK(tc_read_equals(&t, t.chunk[s1].addr, a.chunk, a.version, data, len));
    free(data);
    tc_free(&t);
}

/* The real data client writing while every replica restarts between its pieces: the pieces
 * after the restarts are refused (sealed) or fail, the client aborts and writes the chunk
 * again, and the file reads back whole. */
TEST_T(data_client_rides_through_restarts, 120)
{
    struct tc t;
    tc_init(&t, 2, NULL);
    uint64_t ino = tc_create(&t, "f", 2);
    struct dataclient_cfg cfg = {
        .mc = t.mc, .secret = &t.secret, .name = "seal-test", .seed = test_seed() | 1};
    struct dataclient *dc;
    CHECK_OK(dataclient_new(&cfg, &dc));
    struct datafile *f;
    CHECK_OK(datafile_open(dc, ino, DATAFILE_WRITE | DATAFILE_READ, &f));
    size_t len = 3 * CAIRN_CHUNK_IO_MAX;
    uint8_t *data = pattern(len);
    CHECK_EQ(datafile_pwrite(f, data, 2 * CAIRN_CHUNK_IO_MAX, 0), 2 * CAIRN_CHUNK_IO_MAX);
    /* Both pieces written on both servers (their replies may still be on the way). The
     * client's pieces move only while its loop runs. */
    uv_loop_t *loop = metaclient_loop(t.mc);
    for (int i = 0; i < 2; i++)
        TC_WAIT(uv_run(loop, UV_RUN_NOWAIT) >= 0 && tc_chunk_info(&t, i).writes >= 2,
                "the first pieces written");
    tc_chunk_restart(&t, 0);
    tc_chunk_restart(&t, 1);
    CHECK_EQ(datafile_pwrite(f, data + 2 * CAIRN_CHUNK_IO_MAX, CAIRN_CHUNK_IO_MAX,
                             2 * CAIRN_CHUNK_IO_MAX),
             CAIRN_CHUNK_IO_MAX);
    CHECK_OK(datafile_close(f));
    struct dataclient_stats ds;
    dataclient_get_stats(dc, &ds);
    CHECK(ds.replicas_dropped >= 2);
    CHECK(ds.aborts >= 1);
    /* At least the server the client did not talk to before the restarts got a piece of
     * the old attempt on a fresh connection, and refused it as sealed. */
    TC_WAIT(tc_chunk_info(&t, 0).sealed_refused + tc_chunk_info(&t, 1).sealed_refused >= 1,
            "a sealed refusal");
    CHECK_OK(datafile_open(dc, ino, DATAFILE_READ, &f));
    uint8_t *back = malloc(len + 1);
    CHECK(back != NULL);
    CHECK_EQ(datafile_pread(f, back, len + 1, 0), (int64_t)len);
    CHECK(memcmp(back, data, len) == 0);
    CHECK_OK(datafile_close(f));
    dataclient_close(dc);
    free(back);
    free(data);
    tc_free(&t);
}
