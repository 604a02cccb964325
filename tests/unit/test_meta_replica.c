/* test_meta_replica.c: the chunk-server maintenance commands of the metadata
 * state machine (src/meta/replica.c): CHUNK_REPLICA ADD / REMOVE / STALE
 * judged item by item at apply time, the NODES read, and the two walks the
 * leader plans with (meta_chunk_walk, meta_node_list). */
#include <sys/stat.h>

#include "common/limits.h"
#include "test_meta_util.h"

static uint32_t reg_node(struct mt *t, uint32_t id, const char *addr, const char *label)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_node_register(&t->cmd, &h, id, addr, label, 1u << 30, 0));
    CHECK_OK(mt_apply(t));
    return wire_load_u32(t->reply.data + 4);
}

static void node_state(struct mt *t, uint32_t id, uint8_t state)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_node_update(&t->cmd, &h, id, state, 1u << 30, 0));
    CHECK_OK(mt_apply(t));
}

struct alloc_r {
    uint64_t chunk, version;
};

static struct alloc_r alloc(struct mt *t, uint64_t ino, uint32_t index, const uint32_t *rep,
                            uint8_t n)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_chunk_alloc(&t->cmd, &h_, ino, index, t->now + 30 * MT_SEC, rep, n));
    CHECK_OK(mt_apply(t));
    struct alloc_r a = {wire_load_u64(t->reply.data + 4), wire_load_u64(t->reply.data + 12)};
    return a;
}

static void commit(struct mt *t, uint64_t ino, uint32_t index, struct alloc_r a, const uint32_t *ok,
                   uint8_t n)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_chunk_commit(&t->cmd, &h_, ino, index, a.chunk, a.version, 100, ok, n));
    CHECK_OK(mt_apply(t));
}

/* Apply one CHUNK_REPLICA with n items; the per-item statuses go to st. */
static int replica(struct mt *t, uint8_t op, uint32_t node, const struct meta_replica_item *it,
                   uint32_t n, int *st)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_chunk_replica(&t->cmd, &h, op, node, it, n));
    int rc = mt_apply(t);
    if (rc == 0) {
        CHECK_EQ(t->reply.len, 8 + 4 * (size_t)n);
        CHECK_EQ(wire_load_u32(t->reply.data + 4), n);
        for (uint32_t i = 0; i < n; i++)
            st[i] = (int32_t)wire_load_u32(t->reply.data + 8 + 4 * (size_t)i);
    }
    return rc;
}

static int replica1(struct mt *t, uint8_t op, uint32_t node, uint64_t chunk, uint64_t version,
                    uint8_t staged)
{
    struct meta_replica_item it = {chunk, version, staged};
    int st;
    CHECK_OK(replica(t, op, node, &it, 1, &st));
    return st;
}

static void expect_replicas(struct mt *t, uint64_t chunk, const uint32_t *want, uint8_t n)
{
    struct meta_chunk_info ci;
    CHECK_OK(meta_chunk_get(t->m, chunk, &ci));
    CHECK_EQ(ci.n_replicas, n);
    for (uint8_t i = 0; i < n; i++)
        CHECK_EQ(ci.replicas[i], want[i]);
}

/* The outbox records after `after` must be exactly (node, kind, chunk,
 * version) x n; returns the last id. */
static uint64_t expect_outbox(struct mt *t, uint64_t after, const uint64_t (*want)[4], size_t n)
{
    struct meta_outbox_rec recs[16];
    size_t got = meta_outbox_list(t->m, 0, after, recs, 16);
    CHECK_EQ(got, n);
    for (size_t i = 0; i < n; i++) {
        CHECKF(recs[i].node == want[i][0] && recs[i].kind == want[i][1] &&
                   recs[i].chunk == want[i][2] && recs[i].version == want[i][3],
               "outbox[%zu]: node %u kind %u chunk %llu v%llu", i, recs[i].node, recs[i].kind,
               (unsigned long long)recs[i].chunk, (unsigned long long)recs[i].version);
        after = recs[i].id;
    }
    return after;
}

static uint64_t outbox_last(struct mt *t)
{
    struct meta_outbox_rec recs[256];
    size_t n = meta_outbox_list(t->m, 0, 0, recs, 256);
    return n ? recs[n - 1].id : 0;
}

TEST(replica_add_remove)
{
    struct mt t;
    mt_init(&t);
    uint32_t n1 = reg_node(&t, 0, "a:1", ""), n2 = reg_node(&t, 0, "b:1", "");
    uint32_t n3 = reg_node(&t, 0, "c:1", "");
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    struct alloc_r w = alloc(&t, f.ino, 0, &n1, 1);
    commit(&t, f.ino, 0, w, &n1, 1);
    uint64_t ob = outbox_last(&t);
    uint64_t digest = meta_digest(t.m);

    /* a copy of the current version joins the list */
    CHECK_EQ(replica1(&t, META_REPLICA_ADD, n2, w.chunk, w.version, 0), 0);
    expect_replicas(&t, w.chunk, (uint32_t[]){n1, n2}, 2);
    CHECK(meta_digest(t.m) != digest);
    CHECK_EQ(replica1(&t, META_REPLICA_ADD, n2, w.chunk, w.version, 0), CAIRN_EEXIST);
    CHECK_EQ(replica1(&t, META_REPLICA_ADD, n3, w.chunk, w.version + 1, 0), CAIRN_STALEVERSION);
    CHECK_EQ(replica1(&t, META_REPLICA_ADD, n3, w.chunk + 100, 1, 0), CAIRN_ENOENT);
    node_state(&t, n3, META_NODE_DOWN);
    CHECK_EQ(replica1(&t, META_REPLICA_ADD, n3, w.chunk, w.version, 0), CAIRN_UNAVAILABLE);
    node_state(&t, n3, META_NODE_DRAINING);
    CHECK_EQ(replica1(&t, META_REPLICA_ADD, n3, w.chunk, w.version, 0), CAIRN_UNAVAILABLE);
    expect_outbox(&t, ob, NULL, 0); /* ADD queues nothing */

    /* a copy leaves the list and is deleted; the last one stays */
    CHECK_EQ(replica1(&t, META_REPLICA_REMOVE, n1, w.chunk, w.version, 0), 0);
    expect_replicas(&t, w.chunk, &n2, 1);
    ob = expect_outbox(&t, ob, (const uint64_t[][4]){{n1, META_OUT_DELETE, w.chunk, w.version}}, 1);
    CHECK_EQ(replica1(&t, META_REPLICA_REMOVE, n2, w.chunk, w.version, 0), CAIRN_EBUSY);
    CHECK_EQ(replica1(&t, META_REPLICA_REMOVE, n1, w.chunk, w.version, 0), CAIRN_ENOENT);
    CHECK_EQ(replica1(&t, META_REPLICA_REMOVE, n2, w.chunk, w.version + 1, 0), CAIRN_STALEVERSION);
    expect_replicas(&t, w.chunk, &n2, 1);
    expect_outbox(&t, ob, NULL, 0);

    /* an unknown node fails the whole command */
    struct meta_replica_item it = {w.chunk, w.version, 0};
    int st;
    CHECK_EQ(replica(&t, META_REPLICA_ADD, 99, &it, 1, &st), CAIRN_ENOENT);
    mt_free(&t);
}

TEST(replica_items_judged_one_by_one)
{
    struct mt t;
    mt_init(&t);
    uint32_t n1 = reg_node(&t, 0, "a:1", ""), n2 = reg_node(&t, 0, "b:1", "");
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    struct alloc_r w0 = alloc(&t, f.ino, 0, &n1, 1);
    commit(&t, f.ino, 0, w0, &n1, 1);
    struct alloc_r w1 = alloc(&t, f.ino, 1, &n1, 1);
    commit(&t, f.ino, 1, w1, &n1, 1);
    struct meta_replica_item it[3] = {
        {w0.chunk, w0.version, 0}, {w1.chunk, w1.version + 5, 0}, {w1.chunk, w1.version, 0}};
    int st[3];
    CHECK_OK(replica(&t, META_REPLICA_ADD, n2, it, 3, st));
    CHECK_EQ(st[0], 0);
    CHECK_EQ(st[1], CAIRN_STALEVERSION);
    CHECK_EQ(st[2], 0);
    expect_replicas(&t, w0.chunk, (uint32_t[]){n1, n2}, 2);
    expect_replicas(&t, w1.chunk, (uint32_t[]){n1, n2}, 2);
    mt_free(&t);
}

TEST(replica_stale_versions)
{
    struct mt t;
    mt_init(&t);
    uint32_t n1 = reg_node(&t, 0, "a:1", ""), n2 = reg_node(&t, 0, "b:1", "");
    uint32_t n3 = reg_node(&t, 0, "c:1", "");
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    uint32_t r12[2] = {n1, n2};
    struct alloc_r w = alloc(&t, f.ino, 0, r12, 2);
    commit(&t, f.ino, 0, w, r12, 2);
    struct alloc_r w2 = alloc(&t, f.ino, 0, r12, 2);
    commit(&t, f.ino, 0, w2, r12, 2); /* version 2 current on n1, n2 */
    uint64_t c = w.chunk, ob = outbox_last(&t);

    /* committed copies: the listed current version is needed */
    CHECK_EQ(replica1(&t, META_REPLICA_STALE, n1, c, 2, 0), CAIRN_EBUSY);
    CHECK_EQ(replica1(&t, META_REPLICA_STALE, n1, c, 3, 0), CAIRN_CONFLICT);
    CHECK_EQ(replica1(&t, META_REPLICA_STALE, n1, c, 1, 0), 0);   /* older */
    CHECK_EQ(replica1(&t, META_REPLICA_STALE, n3, c, 2, 0), 0);   /* not listed */
    CHECK_EQ(replica1(&t, META_REPLICA_STALE, n3, 777, 4, 0), 0); /* unknown chunk */
    ob = expect_outbox(&t, ob,
                       (const uint64_t[][4]){{n1, META_OUT_DELETE, c, 1},
                                             {n3, META_OUT_DELETE, c, 2},
                                             {n3, META_OUT_DELETE, 777, 4}},
                       3);
    /* staged copies: one a pending write uses is needed, others are dropped */
    struct alloc_r w3 = alloc(&t, f.ino, 0, &n1, 1); /* version 3 pending on n1 */
    CHECK_EQ(w3.version, 3);
    CHECK_EQ(replica1(&t, META_REPLICA_STALE, n1, c, 3, 1), CAIRN_EBUSY);
    CHECK_EQ(replica1(&t, META_REPLICA_STALE, n2, c, 3, 1), 0);
    CHECK_EQ(replica1(&t, META_REPLICA_STALE, n1, c, 2, 1), 0); /* a leftover of v2 */
    /* a pending write of a new chunk (not in the table yet) */
    struct alloc_r w4 = alloc(&t, f.ino, 1, &n2, 1);
    CHECK_EQ(replica1(&t, META_REPLICA_STALE, n2, w4.chunk, 1, 1), CAIRN_EBUSY);
    CHECK_EQ(replica1(&t, META_REPLICA_STALE, n3, w4.chunk, 1, 1), 0);
    expect_outbox(&t, ob,
                  (const uint64_t[][4]){{n2, META_OUT_DROP, c, 3},
                                        {n1, META_OUT_DROP, c, 2},
                                        {n3, META_OUT_DROP, w4.chunk, 1}},
                  3);
    expect_replicas(&t, c, r12, 2); /* STALE never touches the list */
    mt_free(&t);
}

TEST(replica_malformed)
{
    struct mt t;
    mt_init(&t);
    uint32_t n1 = reg_node(&t, 0, "a:1", "");
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    struct meta_replica_item it = {5, 1, 0};
    static const struct {
        uint8_t op;
        uint32_t node, n;
        struct meta_replica_item item;
    } bad[] = {
        {0, 1, 1, {5, 1, 0}}, {4, 1, 1, {5, 1, 0}}, {1, 0, 1, {5, 1, 0}}, {1, 1, 0, {5, 1, 0}},
        {3, 1, 1, {0, 1, 0}}, {3, 1, 1, {5, 0, 0}}, {3, 1, 1, {5, 1, 2}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf_reset(&t.cmd);
        CHECK_OK(
            meta_cmd_chunk_replica(&t.cmd, &h, bad[i].op, bad[i].node, &bad[i].item, bad[i].n));
        uint64_t d = meta_digest(t.m);
        CHECKF(mt_apply(&t) == CAIRN_BADMSG, "case %zu accepted", i);
        CHECK_EQ_U64(meta_digest(t.m), d);
    }
    /* more items than CAIRN_REPLICA_ITEMS_MAX */
    struct meta_replica_item *many = calloc(CAIRN_REPLICA_ITEMS_MAX + 1, sizeof *many);
    for (uint32_t i = 0; i <= CAIRN_REPLICA_ITEMS_MAX; i++)
        many[i] = (struct meta_replica_item){i + 1, 1, 0};
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_chunk_replica(&t.cmd, &h, META_REPLICA_STALE, n1, many,
                                    CAIRN_REPLICA_ITEMS_MAX + 1));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    free(many);
    /* every truncation, and a trailing byte */
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_chunk_replica(&t.cmd, &h, META_REPLICA_STALE, n1, &it, 1));
    size_t len = t.cmd.len;
    for (size_t k = 0; k < len; k++) {
        struct cairn_buf r;
        buf_init(&r, 0);
        int rc = meta_apply(t.m, ++t.index, t.cmd.data, k, &r);
        CHECKF(k == 0 ? rc == 0 : rc == CAIRN_TRUNCATED, "prefix %zu: %d", k, rc);
        buf_free(&r);
    }
    CHECK_OK(buf_append(&t.cmd, "", 1));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    /* a SYSTEM command carries no session */
    struct meta_hdr hs = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_chunk_replica(&t.cmd, &hs, META_REPLICA_STALE, n1, &it, 1));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    /* a read it is not */
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_chunk_replica(&t.cmd, &h, META_REPLICA_STALE, n1, &it, 1));
    CHECK_EQ(mt_query(&t), CAIRN_EINVAL);
    CHECK_EQ(meta_cmd_class(META_CHUNK_REPLICA), META_CLASS_SYSTEM);
    CHECK_EQ(meta_cmd_class(META_NODES), META_CLASS_READ);
    mt_free(&t);
}

TEST(replica_golden_command)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    struct meta_replica_item it = {0x0102, 3, 1};
    CHECK_OK(meta_cmd_chunk_replica(&b, &h, META_REPLICA_STALE, 7, &it, 1));
    /* header: u16 type 56, u64 now, u64 session, u64 seq, u32 uid, u32 gid, u8 groups */
    static const uint8_t want[] = {
        56, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* body: */ 3,
        7,  0, 0, 0, 1, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 3, 0,
        0,  0, 0, 0, 0, 0, 1};
    CHECK_EQ(b.len, sizeof want);
    CHECK_MEM_EQ(b.data, want, sizeof want);
    buf_reset(&b);
    CHECK_OK(meta_cmd_nodes(&b, &h, 2, 10));
    static const uint8_t want2[] = {88,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    /* body: */ 2,
                                    0,
                                    0,
                                    0,
                                    10,
                                    0,
                                    0,
                                    0};
    CHECK_EQ(b.len, sizeof want2);
    CHECK_MEM_EQ(b.data, want2, sizeof want2);
    buf_free(&b);
}

TEST(nodes_query_pages)
{
    struct mt t;
    mt_init(&t);
    reg_node(&t, 0, "a:1", "r1");
    reg_node(&t, 0, "b:1", "");
    reg_node(&t, 5, "c:1", "r2");
    node_state(&t, 2, META_NODE_DOWN);
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_nodes(&t.cmd, &h, 0, 1));
    CHECK_OK(mt_query(&t));
    /* status 0, n 1, node 1 up, capacity 2^30, used 0, "a:1", "r1", more 1 */
    static const uint8_t page1[] = {0,
                                    0,
                                    0,
                                    0,
                                    /* status */ 1,
                                    0,
                                    0,
                                    0,
                                    /* n */ 1,
                                    0,
                                    0,
                                    0,
                                    /* id */ 1, /* up */
                                    0,
                                    0,
                                    0,
                                    0x40,
                                    0,
                                    0,
                                    0,
                                    0,
                                    /* capacity */ 0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0, /* used */
                                    3,
                                    0,
                                    'a',
                                    ':',
                                    '1',
                                    2,
                                    0,
                                    'r',
                                    '1',
                                    1 /* more */};
    CHECK_EQ(t.reply.len, sizeof page1);
    CHECK_MEM_EQ(t.reply.data, page1, sizeof page1);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_nodes(&t.cmd, &h, 1, 10));
    CHECK_OK(mt_query(&t));
    struct wire_dec d;
    wire_dec_init(&d, t.reply.data + 4, t.reply.len - 4);
    CHECK_EQ(wire_get_u32(&d), 2);
    CHECK_EQ(wire_get_u32(&d), 2);
    CHECK_EQ(wire_get_u8(&d), META_NODE_DOWN);
    wire_get_u64(&d);
    wire_get_u64(&d);
    wire_get_str16(&d, 255);
    wire_get_str16(&d, 255);
    CHECK_EQ(wire_get_u32(&d), 5);
    CHECK_EQ(wire_get_u8(&d), META_NODE_UP);
    wire_get_u64(&d);
    wire_get_u64(&d);
    CHECK_EQ(wire_get_str16(&d, 255).len, 3);
    CHECK_EQ(wire_get_str16(&d, 255).len, 2);
    CHECK_EQ(wire_get_u8(&d), 0); /* no more */
    CHECK_OK(wire_dec_finish(&d));
    /* max 0 and max above the limit are malformed */
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_nodes(&t.cmd, &h, 0, 0));
    CHECK_EQ(mt_query(&t), CAIRN_BADMSG);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_nodes(&t.cmd, &h, 0, CAIRN_NODES_QUERY_MAX + 1));
    CHECK_EQ(mt_query(&t), CAIRN_BADMSG);
    /* meta_node_list: id order, after, max */
    struct meta_node_info v[4];
    CHECK_EQ(meta_node_list(t.m, 0, v, 4), 3);
    CHECK_EQ(v[0].id, 1);
    CHECK_EQ(v[2].id, 5);
    CHECK_EQ(meta_node_list(t.m, 1, v, 1), 1);
    CHECK_EQ(v[0].id, 2);
    CHECK_EQ(meta_node_list(t.m, 5, v, 4), 0);
    mt_free(&t);
}

TEST(chunk_walk_visits_every_chunk_once)
{
    struct mt t;
    mt_init(&t);
    uint32_t n1 = reg_node(&t, 0, "a:1", "");
    struct prng *r = test_rng();
    uint64_t want_chunks = 0;
    struct hmap seen_goal; /* chunk -> goal expected */
    hmap_init(&seen_goal);
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        struct meta_attr f;
        CHECK_OK(mt_create(&t, 1, name, 0644, 1, &f));
        uint8_t goal = (uint8_t)(1 + prng_below(r, 3));
        struct meta_attr set = {.goal = goal};
        CHECK_OK(mt_setattr(&t, f.ino, META_SET_GOAL, &set, NULL));
        uint32_t chunks = (uint32_t)prng_below(r, 4);
        for (uint32_t k = 0; k < chunks; k++) {
            uint32_t index = k * 2; /* holes between */
            struct alloc_r w = alloc(&t, f.ino, index, &n1, 1);
            commit(&t, f.ino, index, w, &n1, 1);
            CHECK_OK(hmap_put(&seen_goal, w.chunk, (void *)(uintptr_t)goal));
            want_chunks++;
        }
    }
    CHECK_OK(mt_unlink(&t, 1, "f3")); /* a freed inode slot is skipped */
    struct meta_walk w;
    memset(&w, 0, sizeof w);
    struct meta_chunk_goal g[3];
    uint64_t got = 0;
    for (int calls = 0; calls < 1000; calls++) {
        size_t n = meta_chunk_walk(t.m, &w, g, 3);
        for (size_t i = 0; i < n; i++) {
            void *v = hmap_del(&seen_goal, g[i].chunk.id);
            CHECKF(v != NULL, "chunk %llu visited twice or unknown",
                   (unsigned long long)g[i].chunk.id);
            CHECK_EQ(g[i].goal, (uintptr_t)v);
            CHECK_EQ(g[i].chunk.n_replicas, 1);
            got++;
        }
        if (w.wrapped)
            break;
    }
    CHECK(w.wrapped);
    /* the chunks of the unlinked file were never visited: they are deleted */
    CHECK_EQ_U64(got + hmap_len(&seen_goal), want_chunks);
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&seen_goal, &it, &k, &v);) {
        struct meta_chunk_info ci;
        CHECK_EQ(meta_chunk_get(t.m, k, &ci), CAIRN_ENOENT);
    }
    /* the next call starts a new pass */
    CHECK(meta_chunk_walk(t.m, &w, g, 3) > 0 || want_chunks == got + hmap_len(&seen_goal));
    hmap_free(&seen_goal);
    mt_free(&t);
}

TEST(replica_changes_replay_and_snapshot)
{
    struct mt t;
    mt_init(&t);
    t.shadow = meta_new(); /* a replica applying the same log must agree byte for byte */
    CHECK(t.shadow != NULL);
    /* catch the shadow up: replay is what the test driver does for every command from here */
    meta_free(t.shadow);
    struct cairn_buf snap;
    buf_init(&snap, 0);
    CHECK_OK(meta_snapshot(t.m, &snap));
    CHECK_OK(meta_snapshot_load(snap.data, snap.len, &t.shadow));
    uint32_t n1 = reg_node(&t, 0, "a:1", ""), n2 = reg_node(&t, 0, "b:1", "");
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    struct alloc_r w = alloc(&t, f.ino, 0, &n1, 1);
    commit(&t, f.ino, 0, w, &n1, 1);
    CHECK_EQ(replica1(&t, META_REPLICA_ADD, n2, w.chunk, w.version, 0), 0);
    CHECK_EQ(replica1(&t, META_REPLICA_REMOVE, n1, w.chunk, w.version, 0), 0);
    CHECK_EQ(replica1(&t, META_REPLICA_STALE, n1, w.chunk, 9, 1), 0);
    CHECK_EQ_U64(meta_digest(t.m), meta_digest(t.shadow));
    buf_reset(&snap);
    CHECK_OK(meta_snapshot(t.m, &snap));
    struct meta *loaded;
    CHECK_OK(meta_snapshot_load(snap.data, snap.len, &loaded));
    CHECK_EQ_U64(meta_digest(loaded), meta_digest(t.m));
    struct meta_chunk_info ci;
    CHECK_OK(meta_chunk_get(loaded, w.chunk, &ci));
    CHECK_EQ(ci.n_replicas, 1);
    CHECK_EQ(ci.replicas[0], n2);
    meta_free(loaded);
    buf_free(&snap);
    mt_free(&t);
}
