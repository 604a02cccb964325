/* test_meta_data.c: node registry, chunk writes (alloc / commit / abort),
 * the chunk map, truncation and the outbox of the metadata state machine. */
#include <sys/stat.h>

#include "common/limits.h"
#include "test_meta_util.h"

static uint32_t reg_node(struct mt *t, uint32_t id, const char *addr)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_node_register(&t->cmd, &h, id, addr, "rack1", 1u << 30, 0));
    CHECK_OK(mt_apply(t));
    return wire_load_u32(t->reply.data + 4);
}

static int node_state(struct mt *t, uint32_t id, uint8_t state)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_node_update(&t->cmd, &h, id, state, 1u << 30, 1000));
    return mt_apply(t);
}

struct alloc_r {
    uint64_t chunk, version;
};

static int alloc(struct mt *t, uint64_t ino, uint32_t index, const uint32_t *rep, uint8_t n,
                 struct alloc_r *out)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_chunk_alloc(&t->cmd, &h_, ino, index, t->now + 30 * MT_SEC, rep, n));
    int rc = mt_apply(t);
    if (rc == 0) {
        struct wire_dec d;
        wire_dec_init(&d, t->reply.data + 4, t->reply.len - 4);
        out->chunk = wire_get_u64(&d);
        out->version = wire_get_u64(&d);
        CHECK_EQ(wire_get_u8(&d), n);
        for (uint8_t i = 0; i < n; i++)
            CHECK_EQ(wire_get_u32(&d), rep[i]);
        CHECK_OK(wire_dec_finish(&d));
    }
    return rc;
}

static int commit(struct mt *t, uint64_t ino, uint32_t index, struct alloc_r a, uint32_t len,
                  const uint32_t *ok, uint8_t n)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_chunk_commit(&t->cmd, &h_, ino, index, a.chunk, a.version, len, ok, n));
    return mt_apply(t);
}

static int abort_write(struct mt *t, uint64_t ino, uint32_t index, struct alloc_r a)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_chunk_abort(&t->cmd, &h_, ino, index, a.chunk, a.version));
    return mt_apply(t);
}

/* Outbox records after `after`, checked against an expected list of
 * (node, kind, chunk, version); returns the last id. */
static uint64_t expect_outbox(struct mt *t, uint64_t after, const uint64_t (*want)[4], size_t n)
{
    struct meta_outbox_rec recs[64];
    size_t got = meta_outbox_list(t->m, 0, after, recs, 64);
    CHECK_EQ(got, n);
    for (size_t i = 0; i < n; i++) {
        CHECKF(recs[i].node == want[i][0] && recs[i].kind == want[i][1] &&
                   recs[i].chunk == want[i][2] && recs[i].version == want[i][3],
               "outbox[%zu]: node %u kind %u chunk %llu v%llu", i, recs[i].node, recs[i].kind,
               (unsigned long long)recs[i].chunk, (unsigned long long)recs[i].version);
        CHECK(recs[i].id > after);
        after = recs[i].id;
    }
    return after;
}

TEST(meta_nodes)
{
    struct mt t;
    mt_init(&t);
    CHECK_EQ(reg_node(&t, 0, "127.0.0.1:7001"), 1);
    CHECK_EQ(reg_node(&t, 0, "127.0.0.1:7002"), 2);
    /* a node that comes back with its id keeps it, with a new address */
    CHECK_EQ(reg_node(&t, 1, "127.0.0.1:7003"), 1);
    struct meta_node_info ni;
    CHECK_OK(meta_node_get(t.m, 1, &ni));
    CHECK_EQ(ni.state, META_NODE_UP);
    CHECK_EQ(ni.addr_len, 14);
    CHECK_MEM_EQ(ni.addr, "127.0.0.1:7003", 14);
    CHECK_MEM_EQ(ni.label, "rack1", 5);
    /* an unknown id given by a node is adopted; later ids go past it */
    CHECK_EQ(reg_node(&t, 10, "127.0.0.1:7010"), 10);
    CHECK_EQ(reg_node(&t, 0, "127.0.0.1:7011"), 11);
    CHECK_OK(node_state(&t, 2, META_NODE_DRAINING));
    CHECK_OK(meta_node_get(t.m, 2, &ni));
    CHECK_EQ(ni.state, META_NODE_DRAINING);
    CHECK_EQ(ni.used, 1000);
    CHECK_EQ(node_state(&t, 2, 0), CAIRN_EINVAL);
    CHECK_EQ(node_state(&t, 2, 5), CAIRN_EINVAL);
    CHECK_EQ(node_state(&t, 99, META_NODE_UP), CAIRN_ENOENT);
    CHECK_EQ(meta_node_get(t.m, 99, &ni), CAIRN_ENOENT);
    mt_free(&t);
}

TEST(meta_chunk_write_commit)
{
    struct mt t;
    mt_init(&t);
    uint32_t n1 = reg_node(&t, 0, "a:1"), n2 = reg_node(&t, 0, "b:1"), n3 = reg_node(&t, 0, "c:1");
    struct meta_attr f, a;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    uint32_t rep[3] = {n1, n2, n3};
    struct alloc_r w;
    CHECK_OK(alloc(&t, f.ino, 0, rep, 3, &w));
    CHECK_EQ(w.version, 1);
    CHECK(w.chunk > 0);
    /* until commit the file has a hole there */
    struct meta_chunk_info ci;
    CHECK_OK(meta_file_chunk(t.m, f.ino, 0, &ci));
    CHECK_EQ(ci.id, 0);
    /* a second writer of the same chunk waits */
    struct alloc_r w2;
    CHECK_EQ(alloc(&t, f.ino, 0, rep, 2, &w2), CAIRN_EBUSY);
    /* commit with two of three acks: n3 is told to drop its copy */
    t.now += MT_SEC;
    uint32_t ok[2] = {n2, n1};
    CHECK_OK(commit(&t, f.ino, 0, w, 1000, ok, 2));
    CHECK_OK(meta_reply_attr(t.reply.data, t.reply.len, &a));
    CHECK_EQ(a.size, 1000);
    CHECK_EQ_U64(a.mtime_ns, t.now);
    CHECK_OK(meta_file_chunk(t.m, f.ino, 0, &ci));
    CHECK_EQ_U64(ci.id, w.chunk);
    CHECK_EQ(ci.version, 1);
    CHECK_EQ(ci.length, 1000);
    CHECK_EQ(ci.state, META_CHUNK_CLEAN);
    CHECK_EQ(ci.n_replicas, 2);
    CHECK_EQ(ci.replicas[0], n2);
    CHECK_EQ(ci.replicas[1], n1);
    const uint64_t want1[][4] = {{n2, META_OUT_COMMIT, w.chunk, 1},
                                 {n1, META_OUT_COMMIT, w.chunk, 1},
                                 {n3, META_OUT_DROP, w.chunk, 1}};
    uint64_t last = expect_outbox(&t, 0, want1, 3);
    /* committing again is stale */
    CHECK_EQ(commit(&t, f.ino, 0, w, 1000, ok, 2), CAIRN_STALEVERSION);
    /* rewrite on other replicas: version 2; old holders not kept delete */
    uint32_t rep2[2] = {n1, n3};
    CHECK_OK(alloc(&t, f.ino, 0, rep2, 2, &w2));
    CHECK_EQ_U64(w2.chunk, w.chunk);
    CHECK_EQ(w2.version, 2);
    CHECK_OK(meta_chunk_get(t.m, w.chunk, &ci));
    CHECK_EQ(ci.state, META_CHUNK_WRITING);
    CHECK_OK(commit(&t, f.ino, 0, w2, 500, rep2, 2));
    const uint64_t want2[][4] = {{n2, META_OUT_DELETE, w.chunk, 1},
                                 {n1, META_OUT_COMMIT, w.chunk, 2},
                                 {n3, META_OUT_COMMIT, w.chunk, 2}};
    last = expect_outbox(&t, last, want2, 3);
    CHECK_OK(mt_getattr(&t, f.ino, &a));
    CHECK_EQ(a.size, 1000); /* a shorter rewrite does not shrink the file */
    /* a write far out leaves holes in between */
    struct alloc_r w3;
    CHECK_OK(alloc(&t, f.ino, 3, rep, 1, &w3));
    CHECK(w3.chunk != w.chunk);
    CHECK_OK(commit(&t, f.ino, 3, w3, 7, rep, 1));
    CHECK_OK(mt_getattr(&t, f.ino, &a));
    CHECK_EQ_U64(a.size, 3ull * CAIRN_CHUNK_SIZE + 7);
    CHECK_OK(meta_file_chunk(t.m, f.ino, 2, &ci));
    CHECK_EQ(ci.id, 0);
    CHECK_OK(meta_file_chunk(t.m, f.ino, 9, &ci));
    CHECK_EQ(ci.id, 0);
    /* the chunk map as a read command */
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_chunks(&t.cmd, &h, f.ino, 0, 100));
    CHECK_OK(mt_query(&t));
    CHECK_EQ(wire_load_u32(t.reply.data + 4), 4);
    struct meta *copy = mt_snapshot_copy(t.m);
    meta_free(copy);
    (void)last;
    mt_free(&t);
}

TEST(meta_chunk_alloc_errors)
{
    struct mt t;
    mt_init(&t);
    uint32_t n1 = reg_node(&t, 0, "a:1"), n2 = reg_node(&t, 0, "b:1");
    struct meta_attr f, d;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, &d));
    struct alloc_r w;
    uint32_t dup[2] = {n1, n1}, unknown[1] = {77}, ok[2] = {n1, n2};
    CHECK_EQ(alloc(&t, f.ino, 0, dup, 2, &w), CAIRN_EINVAL);
    CHECK_EQ(alloc(&t, f.ino, 0, unknown, 1, &w), CAIRN_EINVAL);
    CHECK_EQ(alloc(&t, d.ino, 0, ok, 2, &w), CAIRN_EISDIR);
    CHECK_EQ(alloc(&t, 999, 0, ok, 2, &w), CAIRN_ENOENT);
    CHECK_EQ(alloc(&t, f.ino, 65536, ok, 2, &w), CAIRN_EFBIG);
    CHECK_OK(node_state(&t, n2, META_NODE_DOWN));
    CHECK_EQ(alloc(&t, f.ino, 0, ok, 2, &w), CAIRN_UNAVAILABLE);
    CHECK_OK(node_state(&t, n2, META_NODE_UP));
    mt_as(&t, 1000, 1000, 0);
    CHECK_EQ(alloc(&t, f.ino, 0, ok, 2, &w), CAIRN_EACCES);
    mt_as(&t, 0, 0, 0);
    /* no replicas at all, or more than the goal maximum: malformed */
    CHECK_EQ(alloc(&t, f.ino, 0, ok, 0, &w), CAIRN_BADMSG);
    uint32_t many[CAIRN_GOAL_MAX + 1] = {0};
    CHECK_EQ(alloc(&t, f.ino, 0, many, CAIRN_GOAL_MAX + 1, &w), CAIRN_BADMSG);
    /* commit only with replicas from the pending set */
    CHECK_OK(alloc(&t, f.ino, 0, ok, 1, &w));
    uint32_t other[1] = {n2};
    CHECK_EQ(commit(&t, f.ino, 0, w, 10, other, 1), CAIRN_EINVAL);
    struct alloc_r wrong = {w.chunk, w.version + 1};
    CHECK_EQ(commit(&t, f.ino, 0, wrong, 10, ok, 1), CAIRN_STALEVERSION);
    CHECK_EQ(abort_write(&t, f.ino, 0, wrong), CAIRN_STALEVERSION);
    /* an index past the limit must not alias another file's key */
    CHECK_EQ(commit(&t, 0, (uint32_t)(f.ino << 16), w, 10, ok, 1), CAIRN_STALEVERSION);
    CHECK_EQ(abort_write(&t, 1ull << 48 | f.ino, 0, w), CAIRN_STALEVERSION);
    /* abort: the replicas drop the version; the chunk id is never reused */
    CHECK_OK(abort_write(&t, f.ino, 0, w));
    const uint64_t want[][4] = {{n1, META_OUT_DROP, w.chunk, 1}};
    expect_outbox(&t, 0, want, 1);
    struct alloc_r w2;
    CHECK_OK(alloc(&t, f.ino, 0, ok, 2, &w2));
    CHECK(w2.chunk > w.chunk);
    mt_free(&t);
}

TEST(meta_chunk_deadline_expiry)
{
    struct mt t;
    mt_init(&t);
    uint32_t n1 = reg_node(&t, 0, "a:1");
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    struct alloc_r w, w2;
    CHECK_OK(alloc(&t, f.ino, 0, &n1, 1, &w));
    CHECK_OK(alloc(&t, f.ino, 1, &n1, 1, &w2));
    /* a deadline in the past is refused */
    MT_BEGIN(&t);
    CHECK_OK(meta_cmd_chunk_alloc(&t.cmd, &h_, f.ino, 2, t.now, &n1, 1));
    CHECK_EQ(mt_apply(&t), CAIRN_EINVAL);
    /* past the deadline a TICK aborts both writes, in key order */
    t.now += 31 * MT_SEC;
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_tick(&t.cmd, &h));
    CHECK_OK(mt_apply(&t));
    CHECK_EQ(wire_load_u32(t.reply.data + 8), 2);
    const uint64_t want[][4] = {{n1, META_OUT_DROP, w.chunk, 1}, {n1, META_OUT_DROP, w2.chunk, 1}};
    expect_outbox(&t, 0, want, 2);
    CHECK_EQ(commit(&t, f.ino, 0, w, 10, &n1, 1), CAIRN_STALEVERSION);
    /* an expired write does not block a new allocation (no TICK needed) */
    CHECK_OK(alloc(&t, f.ino, 0, &n1, 1, &w));
    t.now += 31 * MT_SEC;
    CHECK_OK(alloc(&t, f.ino, 0, &n1, 1, &w2));
    CHECK(w2.chunk > w.chunk);
    mt_free(&t);
}

/* Every attempt to rewrite a chunk gets a version never handed out before
 * (issue #5): after CHUNK_ABORT, a deadline abort by TICK, or an alloc over
 * an overdue write, the retry's version is new and larger, and a commit of
 * the aborted version is refused. The counter survives snapshots. */
TEST(meta_chunk_retry_gets_fresh_version)
{
    struct mt t;
    mt_init(&t);
    uint32_t rep[2] = {reg_node(&t, 0, "a:1"), reg_node(&t, 0, "b:1")};
    struct meta_attr f, g;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    CHECK_OK(mt_create(&t, 1, "g", 0644, 1, &g));
    struct alloc_r w0, w1, w2, w3, w4, wg;
    CHECK_OK(alloc(&t, f.ino, 0, rep, 2, &w0));
    CHECK_EQ_U64(w0.version, 1);
    CHECK_OK(commit(&t, f.ino, 0, w0, 100, rep, 2));
    /* alloc, abort, alloc: a different, larger version */
    CHECK_OK(alloc(&t, f.ino, 0, rep, 2, &w1));
    CHECK_EQ_U64(w1.chunk, w0.chunk);
    CHECK(w1.version > w0.version);
    CHECK_OK(abort_write(&t, f.ino, 0, w1));
    CHECK_OK(alloc(&t, f.ino, 0, rep, 2, &w2));
    CHECK(w2.version > w1.version);
    CHECK_EQ(commit(&t, f.ino, 0, w1, 100, rep, 2), CAIRN_STALEVERSION);
    /* a deadline abort by TICK, then a retry */
    t.now += 31 * MT_SEC;
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_tick(&t.cmd, &h));
    CHECK_OK(mt_apply(&t));
    CHECK_EQ(wire_load_u32(t.reply.data + 8), 1);
    CHECK_OK(alloc(&t, f.ino, 0, rep, 2, &w3));
    CHECK(w3.version > w2.version);
    CHECK_EQ(commit(&t, f.ino, 0, w2, 100, rep, 2), CAIRN_STALEVERSION);
    CHECK_EQ(abort_write(&t, f.ino, 0, w2), CAIRN_STALEVERSION);
    /* an alloc over an overdue write (no TICK) aborts it and moves on */
    t.now += 31 * MT_SEC;
    CHECK_OK(alloc(&t, f.ino, 0, rep, 2, &w4));
    CHECK(w4.version > w3.version);
    CHECK_EQ(commit(&t, f.ino, 0, w3, 100, rep, 2), CAIRN_STALEVERSION);
    /* the DROPs name each aborted attempt's own version */
    struct meta_outbox_rec recs[64];
    size_t n = meta_outbox_list(t.m, 0, 0, recs, 64), drops = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].kind != META_OUT_DROP)
            continue;
        CHECK(recs[i].version == w1.version || recs[i].version == w2.version ||
              recs[i].version == w3.version);
        drops++;
    }
    CHECK_EQ(drops, 6);
    CHECK_OK(commit(&t, f.ino, 0, w4, 200, rep, 2));
    struct meta_chunk_info ci;
    CHECK_OK(meta_file_chunk(t.m, f.ino, 0, &ci));
    CHECK_EQ_U64(ci.version, w4.version);
    CHECK_EQ(ci.state, META_CHUNK_CLEAN);
    /* versions are unique across chunks too; a new chunk starts at 1 */
    CHECK_OK(alloc(&t, g.ino, 0, rep, 2, &wg));
    CHECK_EQ_U64(wg.version, 1);
    CHECK_OK(commit(&t, g.ino, 0, wg, 10, rep, 2));
    CHECK_OK(alloc(&t, g.ino, 0, rep, 2, &wg));
    CHECK(wg.version > w4.version);
    /* a snapshot keeps the counter: a restored replica hands out the same
     * next version, and an abort + retry on both stays in step */
    t.shadow = mt_snapshot_copy(t.m);
    CHECK_OK(abort_write(&t, g.ino, 0, wg));
    struct alloc_r wg2;
    CHECK_OK(alloc(&t, g.ino, 0, rep, 2, &wg2));
    CHECK(wg2.version > wg.version);
    CHECK_EQ_U64(meta_digest(t.shadow), meta_digest(t.m));
    mt_free(&t);
}

/* Truncation and unlink turn chunks into outbox deletes; a partial last
 * chunk is cut; pending writes beyond the cut are aborted. */
TEST(meta_chunk_truncate_unlink)
{
    struct mt t;
    mt_init(&t);
    uint32_t n1 = reg_node(&t, 0, "a:1"), n2 = reg_node(&t, 0, "b:1");
    uint32_t rep[2] = {n1, n2};
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    struct alloc_r w[3];
    for (uint32_t i = 0; i < 3; i++) {
        CHECK_OK(alloc(&t, f.ino, i, rep, 2, &w[i]));
        CHECK_OK(commit(&t, f.ino, i, w[i], CAIRN_CHUNK_SIZE, rep, 2));
    }
    struct alloc_r p;
    CHECK_OK(alloc(&t, f.ino, 1, rep, 2, &p)); /* a pending rewrite of chunk 1 */
    struct meta_outbox_rec recs[64];
    size_t n = meta_outbox_list(t.m, 0, 0, recs, 64);
    CHECK_EQ(n, 6);
    uint64_t last = recs[n - 1].id;
    struct meta_attr set = {.size = CAIRN_CHUNK_SIZE + 100}, a;
    CHECK_OK(mt_setattr(&t, f.ino, META_SET_SIZE, &set, &a));
    CHECK_EQ_U64(a.size, CAIRN_CHUNK_SIZE + 100);
    const uint64_t want[][4] = {
        {n1, META_OUT_DROP, w[1].chunk, 2},     {n2, META_OUT_DROP, w[1].chunk, 2},
        {n1, META_OUT_DELETE, w[2].chunk, 1},   {n2, META_OUT_DELETE, w[2].chunk, 1},
        {n1, META_OUT_TRUNCATE, w[1].chunk, 1}, {n2, META_OUT_TRUNCATE, w[1].chunk, 1},
    };
    last = expect_outbox(&t, last, want, 6);
    struct meta_chunk_info ci;
    CHECK_OK(meta_chunk_get(t.m, w[1].chunk, &ci));
    CHECK_EQ(ci.length, 100);
    CHECK_EQ(ci.state, META_CHUNK_CLEAN);
    CHECK_EQ(meta_chunk_get(t.m, w[2].chunk, &ci), CAIRN_ENOENT);
    CHECK_EQ(commit(&t, f.ino, 1, p, 5, rep, 2), CAIRN_STALEVERSION);
    /* extending again leaves a hole, no chunk comes back */
    set.size = 5ull * CAIRN_CHUNK_SIZE;
    CHECK_OK(mt_setattr(&t, f.ino, META_SET_SIZE, &set, &a));
    CHECK_OK(meta_file_chunk(t.m, f.ino, 2, &ci));
    CHECK_EQ(ci.id, 0);
    struct meta_statfs sf;
    meta_statfs(t.m, &sf);
    CHECK_EQ_U64(sf.used_bytes, 5ull * CAIRN_CHUNK_SIZE);
    /* a hard link keeps the data; the last unlink deletes the chunks */
    CHECK_OK(mt_link(&t, f.ino, 1, "g", NULL));
    CHECK_OK(mt_unlink(&t, 1, "f"));
    CHECK_EQ(meta_outbox_list(t.m, 0, last, recs, 64), 0);
    CHECK_OK(alloc(&t, f.ino, 4, rep, 1, &p));
    CHECK_OK(mt_unlink(&t, 1, "g"));
    const uint64_t want2[][4] = {
        {n1, META_OUT_DROP, p.chunk, 1},      {n1, META_OUT_DELETE, w[0].chunk, 1},
        {n2, META_OUT_DELETE, w[0].chunk, 1}, {n1, META_OUT_DELETE, w[1].chunk, 1},
        {n2, META_OUT_DELETE, w[1].chunk, 1},
    };
    expect_outbox(&t, last, want2, 5);
    struct meta_stats st;
    meta_stats(t.m, &st);
    CHECK_EQ(st.chunks, 0);
    CHECK_EQ(st.pending, 0);
    meta_statfs(t.m, &sf);
    CHECK_EQ(sf.used_bytes, 0);
    mt_free(&t);
}

TEST(meta_outbox_ack)
{
    struct mt t;
    mt_init(&t);
    uint32_t n1 = reg_node(&t, 0, "a:1"), n2 = reg_node(&t, 0, "b:1");
    uint32_t rep[2] = {n1, n2};
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    /* 100 writes -> 200 commit records */
    for (uint32_t i = 0; i < 100; i++) {
        struct alloc_r w;
        CHECK_OK(alloc(&t, f.ino, i, rep, 2, &w));
        CHECK_OK(commit(&t, f.ino, i, w, 1, rep, 2));
    }
    static struct meta_outbox_rec recs[256];
    CHECK_EQ(meta_outbox_list(t.m, 0, 0, recs, 256), 200);
    CHECK_EQ(meta_outbox_list(t.m, n2, 0, recs, 256), 100);
    CHECK_EQ(meta_outbox_list(t.m, n1, 0, recs, 10), 10);
    /* ack every n1 record plus unknown ids; acks are idempotent */
    CHECK_EQ(meta_outbox_list(t.m, n1, 0, recs, 256), 100);
    static uint64_t ids[102];
    for (int i = 0; i < 100; i++)
        ids[i] = recs[i].id;
    ids[100] = 0;
    ids[101] = 1u << 30;
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    for (int round = 0; round < 2; round++) {
        buf_reset(&t.cmd);
        CHECK_OK(meta_cmd_outbox_ack(&t.cmd, &h, ids, 102));
        CHECK_OK(mt_apply(&t));
        CHECK_EQ(wire_load_u32(t.reply.data + 4), round == 0 ? 100 : 0);
    }
    CHECK_EQ(meta_outbox_list(t.m, 0, 0, recs, 256), 100);
    CHECK_EQ(meta_outbox_list(t.m, n1, 0, recs, 256), 0);
    struct meta_stats st;
    meta_stats(t.m, &st);
    CHECK_EQ(st.outbox, 100);
    struct meta *copy = mt_snapshot_copy(t.m);
    CHECK_EQ(meta_outbox_list(copy, n2, 0, recs, 256), 100);
    meta_free(copy);
    /* too many ids in one ack: malformed */
    static uint64_t many[CAIRN_OUTBOX_ACK_MAX + 1];
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_outbox_ack(&t.cmd, &h, many, CAIRN_OUTBOX_ACK_MAX + 1));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    mt_free(&t);
}

/* A pending write belongs to its writer's session: when the session expires
 * (a killed writer) its writes are aborted at once, long before their
 * deadline, so repair and other writers are not held up (nemesis finding
 * 4). The session survives a snapshot with its writes. */
TEST(meta_pending_aborted_when_session_expires)
{
    struct mt t;
    mt_init(&t);
    uint32_t n1 = reg_node(&t, 0, "a:1"), n2 = reg_node(&t, 0, "b:1");
    uint32_t rep[2] = {n1, n2};
    struct meta_attr f, g;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    CHECK_OK(mt_create(&t, 1, "g", 0644, 1, &g));
    struct alloc_r w0, w, wg;
    CHECK_OK(alloc(&t, f.ino, 0, rep, 2, &w0));
    CHECK_OK(commit(&t, f.ino, 0, w0, 100, rep, 2));
    uint64_t keeper = t.session, keeper_seq = t.seq;
    struct meta_outbox_rec recs[8];
    size_t nrec = meta_outbox_list(t.m, 0, 0, recs, 8);
    CHECK(nrec > 0);
    uint64_t last = recs[nrec - 1].id;

    t.session = mt_open_session(&t, 2000); /* the writer: a 2 s lease */
    t.seq = 0;
    CHECK_OK(alloc(&t, f.ino, 0, rep, 2, &w));  /* a rewrite: deadline 30 s away */
    CHECK_OK(alloc(&t, g.ino, 0, rep, 2, &wg)); /* a new chunk */
    struct meta_chunk_info ci;
    CHECK_OK(meta_file_chunk(t.m, f.ino, 0, &ci));
    CHECK_EQ(ci.state, META_CHUNK_WRITING);
    struct meta *copy = mt_snapshot_copy(t.m); /* pending writes keep their session */

    t.now += 3 * MT_SEC; /* past the lease, far from the deadline */
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_tick(&t.cmd, &h));
    CHECK_OK(mt_apply(&t));
    buf_reset(&t.reply);
    CHECK_OK(meta_apply(copy, t.index, t.cmd.data, t.cmd.len, &t.reply));
    CHECK_EQ_U64(meta_digest(copy), meta_digest(t.m));
    meta_free(copy);
    const uint64_t want[][4] = {{n1, META_OUT_DROP, w.chunk, w.version},
                                {n2, META_OUT_DROP, w.chunk, w.version},
                                {n1, META_OUT_DROP, wg.chunk, 1},
                                {n2, META_OUT_DROP, wg.chunk, 1}};
    expect_outbox(&t, last, want, 4);
    CHECK_OK(meta_file_chunk(t.m, f.ino, 0, &ci));
    CHECK_EQ(ci.state, META_CHUNK_CLEAN);
    CHECK_EQ_U64(ci.version, w0.version);

    /* the commits are refused; another writer allocates at once */
    t.session = keeper;
    t.seq = keeper_seq;
    CHECK_EQ(commit(&t, f.ino, 0, w, 100, rep, 2), CAIRN_STALEVERSION);
    CHECK_EQ(commit(&t, g.ino, 0, wg, 100, rep, 2), CAIRN_STALEVERSION);
    CHECK_OK(alloc(&t, f.ino, 0, rep, 2, &w));
    CHECK_OK(commit(&t, f.ino, 0, w, 100, rep, 2));
    mt_free(&t);
}

/* The same when the session closes, and when the expired session's own next
 * command finds it gone (no TICK in between); other sessions' writes stay. */
TEST(meta_pending_aborted_at_session_close)
{
    struct mt t;
    mt_init(&t);
    uint32_t n1 = reg_node(&t, 0, "a:1");
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    uint64_t keeper = t.session, keeper_seq;
    struct alloc_r mine, w, w2;
    CHECK_OK(alloc(&t, f.ino, 1, &n1, 1, &mine)); /* the long session's */
    keeper_seq = t.seq;

    t.session = mt_open_session(&t, 600000);
    t.seq = 0;
    CHECK_OK(alloc(&t, f.ino, 0, &n1, 1, &w));
    CHECK_EQ(alloc(&t, f.ino, 0, &n1, 1, &w2), CAIRN_EBUSY);
    struct meta_hdr h = mt_hdr_plain(&t, t.session);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_session_close(&t.cmd, &h));
    CHECK_OK(mt_apply(&t));
    t.session = mt_open_session(&t, 2000);
    t.seq = 0;
    CHECK_OK(alloc(&t, f.ino, 0, &n1, 1, &w2)); /* not EBUSY: the closed one's write is gone */
    CHECK(w2.chunk != w.chunk);
    t.now += 3 * MT_SEC;
    CHECK_EQ(alloc(&t, f.ino, 2, &n1, 1, &w), CAIRN_SESSION);

    t.session = keeper;
    t.seq = keeper_seq;
    CHECK_EQ(commit(&t, f.ino, 0, w2, 10, &n1, 1), CAIRN_STALEVERSION);
    CHECK_OK(commit(&t, f.ino, 1, mine, 10, &n1, 1));
    struct meta *copy = mt_snapshot_copy(t.m);
    meta_free(copy);
    mt_free(&t);
}
