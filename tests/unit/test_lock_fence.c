/* test_lock_fence.c: fencing tokens at the resources a lock protects, with
 * the daemons of src/metad and src/chunkd in this process
 * (test_chunkd_util.h): a chunk server refuses a CHUNK_WRITE whose token is
 * older than the newest it saw for the chunk, and the metadata refuses a
 * CHUNK_ALLOC_FENCED older than the file's newest lock grant. */
#include "test_chunkd_util.h"

/* One CHUNK_WRITE of a few bytes to the first replica alone, with token;
 * the replica's status. */
static int fence_write(struct tc *t, const struct tc_alloc *a, uint64_t token)
{
    static const uint8_t bytes[8] = "fenced!";
    struct wire_chunk_write m;
    memset(&m, 0, sizeof m);
    m.chunk = a->chunk;
    m.version = a->version;
    m.flags = WIRE_CHUNK_WRITE_FLUSH;
    m.token = token;
    m.data = (struct wire_bytes){bytes, sizeof bytes};
    struct wire_chunk_write_reply r;
    int rc = tc_chunk_write_req(t, tc_addr_of(t, a->reps[0]), &m, 1, &r);
    if (rc == 0)
        rc = r.status[0];
    return rc;
}

TEST_T(lock_fence_chunk_server_refuses_older_token, 90)
{
    struct tc t;
    tc_init(&t, 1, NULL);
    uint64_t ino = tc_create(&t, "f", 1);
    struct tc_alloc a;
    CHECK_OK(tc_alloc(&t, ino, 0, 30000, &a));
    CHECK_EQ(a.n, 1);
    CHECK_OK(fence_write(&t, &a, 0)); /* no token: not fenced */
    CHECK_OK(fence_write(&t, &a, 50));
    CHECK_OK(fence_write(&t, &a, 50)); /* the same holder again */
    CHECK_EQ(fence_write(&t, &a, 49), CAIRN_FENCED);
    CHECK_OK(fence_write(&t, &a, 70)); /* a newer holder */
    CHECK_EQ(fence_write(&t, &a, 50), CAIRN_FENCED);
    CHECK_OK(fence_write(&t, &a, 0));
    tc_free(&t);
}

/* A FLOCK grant on the file moves its fence: an alloc carrying an older
 * token (a holder that lost the lock) is refused by the metadata. */
TEST_T(lock_fence_metadata_refuses_older_alloc, 90)
{
    struct tc t;
    tc_init(&t, 1, NULL);
    uint64_t ino = tc_create(&t, "g", 1);
    struct meta_lock_req q = {
        .kind = META_LOCK_FLOCK, .ino = ino, .owner = 1, .mode = META_LOCK_EXCLUSIVE};
    struct meta_hdr h = tc_hdr();
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_lock_acquire(&t.cmd, &h, &q));
    CHECK_OK(tc_mutate(&t));
    uint64_t tok1 = wire_load_u64(t.reply.data + 5);
    CHECK(tok1 > 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_lock_release(&t.cmd, &h, &q));
    CHECK_OK(tc_mutate(&t));
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_lock_acquire(&t.cmd, &h, &q));
    CHECK_OK(tc_mutate(&t));
    uint64_t tok2 = wire_load_u64(t.reply.data + 5);
    CHECK(tok2 > tok1);
    uint64_t deadline = time_wall_ns() + 30000ull * 1000000u;
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_chunk_alloc_fenced(&t.cmd, &h, tok1, ino, 0, deadline, NULL, 0));
    CHECK_EQ(tc_mutate(&t), CAIRN_FENCED);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_chunk_alloc_fenced(&t.cmd, &h, tok2, ino, 0, deadline, NULL, 0));
    CHECK_OK(tc_mutate(&t));
    tc_free(&t);
}
