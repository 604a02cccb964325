/* test_meta_hold.c: open-file holds of the metadata state machine
 * (INODE_HOLD / INODE_RELEASE, src/meta/hold.c): a held file that loses its
 * last name lives on as an orphan that reads and writes still reach, and is
 * freed (chunks deleted through the outbox) when the last hold ends by
 * release, session close or expiry; holds in snapshots and digests; limits,
 * malformed commands, transactions and replay determinism. */
#include <sys/stat.h>

#include "common/crc32c.h"
#include "common/limits.h"
#include "test_meta_util.h"

/* Another client: its session id and sequence numbers. */
struct cl {
    uint64_t id, seq;
};

/* Run the next commands as client c (mt_use(t, c) ... mt_unuse(t, c)). */
static void mt_use(struct mt *t, struct cl *c, struct cl *saved)
{
    saved->id = t->session;
    saved->seq = t->seq;
    t->session = c->id;
    t->seq = c->seq;
}

static void mt_unuse(struct mt *t, struct cl *c, const struct cl *saved)
{
    c->seq = t->seq;
    t->session = saved->id;
    t->seq = saved->seq;
}

static int hold(struct mt *t, uint64_t ino, struct meta_attr *a)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_inode_hold(&t->cmd, &h_, ino));
    int rc = mt_attr(t, mt_apply(t), a);
    if (rc == 0)
        CHECK_EQ(t->reply.len, 4 + META_ATTR_WIRE_SIZE);
    return rc;
}

static int release(struct mt *t, uint64_t ino)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_inode_release(&t->cmd, &h_, ino));
    int rc = mt_apply(t);
    if (rc == 0)
        CHECK_EQ(t->reply.len, 4);
    return rc;
}

static int hold_as(struct mt *t, struct cl *c, uint64_t ino)
{
    struct cl saved;
    mt_use(t, c, &saved);
    int rc = hold(t, ino, NULL);
    mt_unuse(t, c, &saved);
    return rc;
}

static int release_as(struct mt *t, struct cl *c, uint64_t ino)
{
    struct cl saved;
    mt_use(t, c, &saved);
    int rc = release(t, ino);
    mt_unuse(t, c, &saved);
    return rc;
}

static int sys_cmd(struct mt *t, uint16_t type, uint64_t session)
{
    struct meta_hdr h = mt_hdr_plain(t, session);
    buf_reset(&t->cmd);
    if (type == META_TICK)
        CHECK_OK(meta_cmd_tick(&t->cmd, &h));
    else
        CHECK_OK(meta_cmd_session_close(&t->cmd, &h));
    return mt_apply(t);
}

static uint32_t reg_node(struct mt *t, const char *addr)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_node_register(&t->cmd, &h, 0, addr, "", 1u << 30, 0));
    CHECK_OK(mt_apply(t));
    return wire_load_u32(t->reply.data + 4);
}

static int alloc(struct mt *t, uint64_t ino, uint32_t index, const uint32_t *rep, uint8_t n,
                 uint64_t *chunk, uint64_t *version)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_chunk_alloc(&t->cmd, &h_, ino, index, t->now + 30 * MT_SEC, rep, n));
    int rc = mt_apply(t);
    if (rc == 0) {
        *chunk = wire_load_u64(t->reply.data + 4);
        *version = wire_load_u64(t->reply.data + 12);
    }
    return rc;
}

static int commit(struct mt *t, uint64_t ino, uint32_t index, uint64_t chunk, uint64_t version,
                  uint32_t len, const uint32_t *rep, uint8_t n)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_chunk_commit(&t->cmd, &h_, ino, index, chunk, version, len, rep, n));
    return mt_apply(t);
}

/* A file "name" in the root with one committed chunk of `len` bytes. */
static uint64_t file_with_chunk(struct mt *t, const char *name, const uint32_t *rep, uint32_t len,
                                uint64_t *chunk)
{
    struct meta_attr a;
    CHECK_OK(mt_create(t, 1, name, 0644, 1, &a));
    uint64_t v;
    CHECK_OK(alloc(t, a.ino, 0, rep, 2, chunk, &v));
    CHECK_OK(commit(t, a.ino, 0, *chunk, v, len, rep, 2));
    return a.ino;
}

/* Outbox records of `kind` for chunk with id > after. */
static size_t outbox_count(struct mt *t, uint64_t after, uint8_t kind, uint64_t chunk)
{
    static struct meta_outbox_rec recs[1024];
    size_t n = meta_outbox_list(t->m, 0, after, recs, 1024), k = 0;
    for (size_t i = 0; i < n; i++)
        k += recs[i].kind == kind && recs[i].chunk == chunk;
    return k;
}

static uint64_t outbox_last(struct mt *t)
{
    static struct meta_outbox_rec recs[4096];
    size_t n = meta_outbox_list(t->m, 0, 0, recs, 4096);
    return n ? recs[n - 1].id : 0;
}

/* CHUNKS through meta_query: the chunk id at index 0 (0 for none). */
static uint64_t query_chunk0(struct mt *t, uint64_t ino)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_chunks(&t->cmd, &h, ino, 0, 1));
    CHECK_OK(mt_query(t));
    if (wire_load_u32(t->reply.data + 4) == 0)
        return 0;
    return wire_load_u64(t->reply.data + 8);
}

TEST(hold_unlink_keeps_orphan_until_release)
{
    struct mt t;
    mt_init(&t);
    uint32_t rep[2] = {reg_node(&t, "a:1"), reg_node(&t, "b:1")};
    uint64_t chunk;
    uint64_t ino = file_with_chunk(&t, "f", rep, 1000, &chunk);
    struct meta_attr a;
    CHECK_OK(hold(&t, ino, &a));
    CHECK_EQ_U64(a.ino, ino);
    CHECK_EQ(a.nlink, 1);
    CHECK_EQ_U64(a.size, 1000);
    uint64_t after = outbox_last(&t);
    CHECK_OK(mt_unlink(&t, 1, "f"));
    /* the name is gone, the inode and its chunk are not */
    CHECK_EQ(mt_lookup(&t, 1, "f", NULL), CAIRN_ENOENT);
    CHECK_OK(mt_getattr(&t, ino, &a));
    CHECK_EQ(a.nlink, 0);
    CHECK_EQ_U64(a.size, 1000);
    CHECK_EQ_U64(query_chunk0(&t, ino), chunk);
    CHECK_EQ(outbox_count(&t, after, META_OUT_DELETE, chunk), 0);
    /* no name can be given back to it */
    CHECK_EQ(mt_link(&t, ino, 1, "again", NULL), CAIRN_ENOENT);
    /* writable: a rewrite of chunk 0, a new chunk 1, chmod, truncate */
    uint64_t c2, v2;
    CHECK_OK(alloc(&t, ino, 0, rep, 2, &c2, &v2));
    CHECK_EQ_U64(c2, chunk);
    CHECK_OK(commit(&t, ino, 0, c2, v2, 2000, rep, 2));
    uint64_t c3, v3;
    CHECK_OK(alloc(&t, ino, 1, rep, 2, &c3, &v3));
    CHECK_OK(commit(&t, ino, 1, c3, v3, 10, rep, 2));
    CHECK_OK(mt_chmod(&t, ino, 0600));
    CHECK_OK(mt_setxattr(&t, ino, "user.k", "v", 0));
    CHECK_OK(mt_getattr(&t, ino, &a));
    CHECK_EQ(a.mode, S_IFREG | 0600);
    CHECK_EQ_U64(a.size, CAIRN_CHUNK_SIZE + 10);
    struct meta_attr s = {.size = CAIRN_CHUNK_SIZE + 5};
    CHECK_OK(mt_setattr(&t, ino, META_SET_SIZE, &s, &a));
    CHECK_EQ_U64(a.size, CAIRN_CHUNK_SIZE + 5);
    struct meta_statfs sf;
    meta_statfs(t.m, &sf);
    CHECK_EQ_U64(sf.used_bytes, CAIRN_CHUNK_SIZE + 5);
    /* the state with an orphan is a valid snapshot */
    meta_free(mt_snapshot_copy(t.m));
    /* the last hold ends: freed as unlink would have, chunks deleted */
    after = outbox_last(&t);
    CHECK_OK(release(&t, ino));
    CHECK_EQ(mt_getattr(&t, ino, NULL), CAIRN_ENOENT);
    CHECK_EQ(outbox_count(&t, after, META_OUT_DELETE, chunk), 2);
    CHECK_EQ(outbox_count(&t, after, META_OUT_DELETE, c3), 2);
    struct meta_chunk_info ci;
    CHECK_EQ(meta_chunk_get(t.m, chunk, &ci), CAIRN_ENOENT);
    meta_statfs(t.m, &sf);
    CHECK_EQ_U64(sf.used_bytes, 0);
    /* a freed orphan cannot be held or released again */
    CHECK_EQ(hold(&t, ino, NULL), CAIRN_ENOENT);
    CHECK_EQ(release(&t, ino), CAIRN_ENOENT);
    meta_free(mt_snapshot_copy(t.m));
    mt_free(&t);
}

TEST(hold_counts_and_unlinked_without_hold)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f, g;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    CHECK_OK(mt_create(&t, 1, "g", 0644, 1, &g));
    /* held twice: one release leaves it alive */
    CHECK_OK(hold(&t, f.ino, NULL));
    CHECK_OK(hold(&t, f.ino, NULL));
    CHECK_OK(mt_unlink(&t, 1, "f"));
    CHECK_OK(release(&t, f.ino));
    CHECK_OK(mt_getattr(&t, f.ino, NULL));
    CHECK_OK(release(&t, f.ino));
    CHECK_EQ(mt_getattr(&t, f.ino, NULL), CAIRN_ENOENT);
    /* a hold on a file that keeps its name frees nothing at release */
    CHECK_OK(hold(&t, g.ino, NULL));
    CHECK_OK(release(&t, g.ino));
    CHECK_OK(mt_lookup(&t, 1, "g", NULL));
    CHECK_EQ(release(&t, g.ino), CAIRN_ENOENT);
    /* hard links: the orphan appears only when the last name goes */
    CHECK_OK(hold(&t, g.ino, NULL));
    CHECK_OK(mt_link(&t, g.ino, 1, "g2", NULL));
    CHECK_OK(mt_unlink(&t, 1, "g"));
    struct meta_attr a;
    CHECK_OK(mt_getattr(&t, g.ino, &a));
    CHECK_EQ(a.nlink, 1);
    CHECK_OK(mt_unlink(&t, 1, "g2"));
    CHECK_OK(mt_getattr(&t, g.ino, &a));
    CHECK_EQ(a.nlink, 0);
    CHECK_OK(release(&t, g.ino));
    CHECK_EQ(mt_getattr(&t, g.ino, NULL), CAIRN_ENOENT);
    /* without a hold, unlink frees at once as before */
    CHECK_OK(mt_create(&t, 1, "h", 0644, 1, &a));
    CHECK_OK(mt_unlink(&t, 1, "h"));
    CHECK_EQ(mt_getattr(&t, a.ino, NULL), CAIRN_ENOENT);
    mt_free(&t);
}

TEST(hold_two_sessions)
{
    struct mt t;
    mt_init(&t);
    struct cl b = {mt_open_session(&t, 60000), 0};
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    CHECK_OK(hold(&t, f.ino, NULL));
    CHECK_OK(hold_as(&t, &b, f.ino));
    CHECK_OK(mt_unlink(&t, 1, "f"));
    /* each session releases its own holds only */
    CHECK_OK(release(&t, f.ino));
    CHECK_EQ(release(&t, f.ino), CAIRN_ENOENT);
    CHECK_OK(mt_getattr(&t, f.ino, NULL));
    /* another session may hold an orphan that still exists */
    CHECK_OK(hold(&t, f.ino, NULL));
    CHECK_OK(release_as(&t, &b, f.ino));
    CHECK_OK(mt_getattr(&t, f.ino, NULL));
    CHECK_OK(release(&t, f.ino));
    CHECK_EQ(mt_getattr(&t, f.ino, NULL), CAIRN_ENOENT);
    mt_free(&t);
}

/* The fixture of cases about freeing: nodes a:1 and b:1, another client b
 * (a 60 s lease), a file "f" with one chunk (its inode returned, the chunk's
 * id in *chunk) and an empty file "g" (its attributes in *g). */
static uint64_t f_and_g(struct mt *t, struct cl *b, uint64_t *chunk, struct meta_attr *g)
{
    mt_init(t);
    uint32_t rep[2] = {reg_node(t, "a:1"), reg_node(t, "b:1")};
    *b = (struct cl){mt_open_session(t, 60000), 0};
    uint64_t ino = file_with_chunk(t, "f", rep, 100, chunk);
    CHECK_OK(mt_create(t, 1, "g", 0644, 1, g));
    return ino;
}

TEST(hold_freed_at_session_close)
{
    struct mt t;
    struct cl b;
    uint64_t chunk;
    struct meta_attr g;
    uint64_t ino = f_and_g(&t, &b, &chunk, &g);
    CHECK_OK(hold_as(&t, &b, ino));
    CHECK_OK(hold_as(&t, &b, ino));
    CHECK_OK(hold_as(&t, &b, g.ino));
    CHECK_OK(mt_unlink(&t, 1, "f"));
    uint64_t after = outbox_last(&t);
    CHECK_OK(sys_cmd(&t, META_SESSION_CLOSE, b.id));
    CHECK_EQ(mt_getattr(&t, ino, NULL), CAIRN_ENOENT);
    CHECK_EQ(outbox_count(&t, after, META_OUT_DELETE, chunk), 2);
    CHECK_OK(mt_getattr(&t, g.ino, NULL)); /* still named: untouched */
    meta_free(mt_snapshot_copy(t.m));
    mt_free(&t);
}

TEST(hold_freed_at_session_expiry)
{
    struct mt t;
    mt_init(&t);
    uint32_t rep[2] = {reg_node(&t, "a:1"), reg_node(&t, "b:1")};
    struct cl b = {mt_open_session(&t, CAIRN_SESSION_LEASE_MIN_MS), 0};
    struct cl c = {mt_open_session(&t, CAIRN_SESSION_LEASE_MIN_MS), 0};
    uint64_t chunk;
    uint64_t ino = file_with_chunk(&t, "f", rep, 100, &chunk);
    CHECK_OK(hold_as(&t, &b, ino));
    CHECK_OK(mt_unlink(&t, 1, "f"));
    /* a TICK before the lease ends changes nothing */
    t.now += CAIRN_SESSION_LEASE_MIN_MS * 1000000ull / 2;
    CHECK_OK(sys_cmd(&t, META_TICK, 0));
    CHECK_OK(mt_getattr(&t, ino, NULL));
    uint64_t after = outbox_last(&t);
    t.now += 2 * MT_SEC;
    CHECK_OK(sys_cmd(&t, META_TICK, 0));
    CHECK_EQ(wire_load_u32(t.reply.data + 4), 2); /* b and c expired */
    CHECK_EQ(mt_getattr(&t, ino, NULL), CAIRN_ENOENT);
    CHECK_EQ(outbox_count(&t, after, META_OUT_DELETE, chunk), 2);
    /* a session found expired by its own next command ends its holds too */
    struct cl d = {mt_open_session(&t, CAIRN_SESSION_LEASE_MIN_MS), 0};
    struct meta_attr g;
    CHECK_OK(mt_create(&t, 1, "g", 0644, 1, &g));
    CHECK_OK(hold_as(&t, &d, g.ino));
    CHECK_OK(mt_unlink(&t, 1, "g"));
    t.now += 2 * MT_SEC;
    CHECK_OK(mt_getattr(&t, g.ino, NULL));
    CHECK_EQ(hold_as(&t, &d, g.ino), CAIRN_SESSION);
    CHECK_EQ(mt_getattr(&t, g.ino, NULL), CAIRN_ENOENT);
    (void)c;
    mt_free(&t);
}

TEST(hold_rename_over_held_file)
{
    struct mt t;
    mt_init(&t);
    uint32_t rep[2] = {reg_node(&t, "a:1"), reg_node(&t, "b:1")};
    uint64_t chunk;
    uint64_t old = file_with_chunk(&t, "target", rep, 100, &chunk);
    struct meta_attr n;
    CHECK_OK(mt_create(&t, 1, "new", 0644, 1, &n));
    CHECK_OK(hold(&t, old, NULL));
    uint64_t after = outbox_last(&t);
    CHECK_OK(mt_rename(&t, 1, "new", 1, "target", 0));
    struct meta_attr a;
    CHECK_OK(mt_lookup(&t, 1, "target", &a));
    CHECK_EQ_U64(a.ino, n.ino);
    CHECK_OK(mt_getattr(&t, old, &a));
    CHECK_EQ(a.nlink, 0);
    CHECK_EQ_U64(query_chunk0(&t, old), chunk);
    CHECK_EQ(outbox_count(&t, after, META_OUT_DELETE, chunk), 0);
    CHECK_OK(release(&t, old));
    CHECK_EQ(mt_getattr(&t, old, NULL), CAIRN_ENOENT);
    CHECK_EQ(outbox_count(&t, after, META_OUT_DELETE, chunk), 2);
    mt_free(&t);
}

TEST(hold_errors_malformed_and_limit)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr d, l, f;
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, &d));
    CHECK_OK(mt_symlink(&t, 1, "l", "d", &l));
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    CHECK_EQ(hold(&t, 999, NULL), CAIRN_ENOENT);
    CHECK_EQ(hold(&t, 0, NULL), CAIRN_ENOENT);
    CHECK_EQ(hold(&t, d.ino, NULL), CAIRN_EISDIR);
    CHECK_EQ(hold(&t, l.ino, NULL), CAIRN_EINVAL);
    CHECK_EQ(release(&t, f.ino), CAIRN_ENOENT);
    /* malformed: short body, trailing bytes; nothing changes but the
     * session's cached reply, which is not part of the namespace */
    uint64_t d0 = meta_digest(t.m);
    struct meta_hdr h = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_inode_hold(&t.cmd, &h, f.ino));
    t.cmd.len -= 1;
    CHECK_EQ(mt_apply(&t), CAIRN_TRUNCATED);
    h = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_inode_release(&t.cmd, &h, f.ino));
    uint8_t extra = 0;
    CHECK_OK(buf_append(&t.cmd, &extra, 1));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    CHECK_EQ_U64(meta_digest(t.m), d0);
    /* a hold needs a session (SESSION class) */
    h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_inode_hold(&t.cmd, &h, f.ino));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    CHECK_EQ(meta_cmd_class(META_INODE_HOLD), META_CLASS_SESSION);
    CHECK_EQ(meta_cmd_class(META_INODE_RELEASE), META_CLASS_SESSION);
    /* the per-session limit counts repeats */
    for (uint32_t i = 0; i < CAIRN_SESSION_HOLDS_MAX; i++) {
        h = mt_hdr_session(&t);
        buf_reset(&t.cmd);
        CHECK_OK(meta_cmd_inode_hold(&t.cmd, &h, f.ino));
        buf_reset(&t.reply);
        CHECK_OK(meta_apply(t.m, ++t.index, t.cmd.data, t.cmd.len, &t.reply));
    }
    CHECK_EQ(hold(&t, f.ino, NULL), CAIRN_LIMIT);
    /* another session is not limited by this one's holds */
    struct cl b = {mt_open_session(&t, 60000), 0};
    CHECK_OK(hold_as(&t, &b, f.ino));
    CHECK_OK(release(&t, f.ino));
    CHECK_OK(hold(&t, f.ino, NULL));
    CHECK_OK(mt_unlink(&t, 1, "f"));
    struct meta *copy = mt_snapshot_copy(t.m);
    meta_free(copy);
    /* closing the session ends all 65536 of its holds at once */
    CHECK_OK(sys_cmd(&t, META_SESSION_CLOSE, t.session));
    CHECK_OK(mt_getattr(&t, f.ino, NULL)); /* b still holds it */
    CHECK_OK(sys_cmd(&t, META_SESSION_CLOSE, b.id));
    CHECK_EQ(mt_getattr(&t, f.ino, NULL), CAIRN_ENOENT);
    mt_free(&t);
}

/* Where a session's only hold (u32 1, u64 ino, u32 count) is in a
 * snapshot: the offset of its ino (the last match; the test is
 * deterministic and checks the unpatched copy loads). */
static size_t find_hold(const struct cairn_buf *s, uint64_t ino, uint32_t count)
{
    uint8_t pat[16];
    wire_store_u32(pat, 1);
    wire_store_u64(pat + 4, ino);
    wire_store_u32(pat + 12, count);
    for (size_t i = s->len - 16; i > 12; i--)
        if (memcmp(s->data + i, pat, 16) == 0)
            return i + 4;
    return 0;
}

/* Load s with n bytes at `at` replaced (checksum fixed); *digest gets the
 * loaded state's digest. */
static int load_patched_d(const struct cairn_buf *s, size_t at, const void *p, size_t n,
                          uint64_t *digest)
{
    struct cairn_buf c;
    buf_init(&c, 0);
    CHECK_OK(buf_append(&c, s->data, s->len));
    memcpy(c.data + at, p, n);
    wire_store_u32(c.data + c.len - 4, crc32c(0, c.data, c.len - 4));
    struct meta *m = NULL;
    int rc = meta_snapshot_load(c.data, c.len, &m);
    if (rc == 0) {
        *digest = meta_digest(m);
        meta_free(m);
    }
    buf_free(&c);
    return rc;
}

static int load_patched(const struct cairn_buf *s, size_t at, const void *p, size_t n)
{
    uint64_t d;
    return load_patched_d(s, at, p, n, &d);
}

TEST(hold_snapshot_round_trip_and_damage)
{
    struct mt t;
    struct cl b;
    uint64_t chunk;
    struct meta_attr g;
    uint64_t ino = f_and_g(&t, &b, &chunk, &g);
    CHECK_OK(hold(&t, ino, NULL));
    CHECK_OK(hold(&t, ino, NULL));
    CHECK_OK(hold(&t, g.ino, NULL));
    CHECK_OK(hold_as(&t, &b, ino));
    CHECK_OK(mt_unlink(&t, 1, "f"));
    /* round trip; then both states follow the same log */
    t.shadow = mt_snapshot_copy(t.m);
    CHECK_OK(release(&t, ino));
    CHECK_OK(release_as(&t, &b, ino));
    CHECK_OK(mt_getattr(&t, ino, NULL)); /* one hold of ours left */
    uint64_t after = outbox_last(&t);
    CHECK_OK(release(&t, ino));
    CHECK_EQ(mt_getattr(&t, ino, NULL), CAIRN_ENOENT);
    CHECK_EQ(outbox_count(&t, after, META_OUT_DELETE, chunk), 2);
    CHECK_EQ_U64(meta_digest(t.shadow), meta_digest(t.m));
    meta_free(t.shadow);
    t.shadow = NULL;

    /* damaged holds are refused: count 0, a missing inode, a directory */
    CHECK_OK(hold(&t, g.ino, NULL));
    struct cairn_buf s;
    buf_init(&s, 0);
    CHECK_OK(meta_snapshot(t.m, &s));
    size_t at = find_hold(&s, g.ino, 2);
    CHECK(at > 0);
    uint64_t d;
    CHECK_OK(load_patched_d(&s, at, s.data + at, 12, &d));
    CHECK_EQ_U64(d, meta_digest(t.m));
    /* holds are state: one more hold (a valid snapshot), another digest */
    uint8_t three[4];
    wire_store_u32(three, 3);
    CHECK_OK(load_patched_d(&s, at + 8, three, 4, &d));
    CHECK(d != meta_digest(t.m));
    uint8_t zero[4] = {0};
    CHECK_EQ(load_patched(&s, at + 8, zero, 4), CAIRN_CORRUPT);
    uint8_t ino_bytes[8];
    wire_store_u64(ino_bytes, g.ino + 1000);
    CHECK_EQ(load_patched(&s, at, ino_bytes, 8), CAIRN_CORRUPT);
    wire_store_u64(ino_bytes, META_ROOT_INO);
    CHECK_EQ(load_patched(&s, at, ino_bytes, 8), CAIRN_CORRUPT);
    uint8_t big[4];
    wire_store_u32(big, CAIRN_SESSION_HOLDS_MAX + 1);
    CHECK_EQ(load_patched(&s, at + 8, big, 4), CAIRN_CORRUPT);
    buf_free(&s);

    /* an orphan nobody holds is refused: hold f', unlink, then patch the
     * hold onto the named file g */
    struct meta_attr h;
    CHECK_OK(mt_create(&t, 1, "h", 0644, 1, &h));
    CHECK_OK(hold_as(&t, &b, h.ino));
    CHECK_OK(mt_unlink(&t, 1, "h"));
    buf_init(&s, 0);
    CHECK_OK(meta_snapshot(t.m, &s));
    at = find_hold(&s, h.ino, 1);
    CHECK(at > 0);
    CHECK_OK(load_patched(&s, at, s.data + at, 12));
    wire_store_u64(ino_bytes, g.ino);
    /* b's holds are then (g: 1) only; h is an orphan without a hold */
    CHECK_EQ(load_patched(&s, at, ino_bytes, 8), CAIRN_CORRUPT);
    buf_free(&s);
    mt_free(&t);
}

/* A TXN of (type, ino) ops and one UNLINK(1, name) where it falls. */
static int txn(struct mt *t, const uint16_t *types, const uint64_t *inos, size_t n,
               const char *unlink_name, size_t unlink_at)
{
    struct cairn_buf op;
    buf_init(&op, 0);
    struct meta_hdr h = mt_hdr_session(t), h0;
    memset(&h0, 0, sizeof h0);
    struct meta_txn_enc x;
    buf_reset(&t->cmd);
    meta_txn_begin(&x, &t->cmd, &h);
    for (size_t i = 0; i <= n; i++) {
        if (i == unlink_at) {
            buf_reset(&op);
            CHECK_OK(meta_cmd_unlink(&op, &h0, 1, unlink_name));
            meta_txn_op(&x, op.data, op.len);
        }
        if (i == n)
            break;
        buf_reset(&op);
        if (types[i] == META_INODE_HOLD)
            CHECK_OK(meta_cmd_inode_hold(&op, &h0, inos[i]));
        else
            CHECK_OK(meta_cmd_inode_release(&op, &h0, inos[i]));
        meta_txn_op(&x, op.data, op.len);
    }
    CHECK_OK(meta_txn_end(&x));
    buf_free(&op);
    return mt_apply(t);
}

TEST(hold_in_txn_and_cond)
{
    struct mt t;
    mt_init(&t);
    uint32_t rep[2] = {reg_node(&t, "a:1"), reg_node(&t, "b:1")};
    uint64_t chunk;
    uint64_t f = file_with_chunk(&t, "f", rep, 100, &chunk);
    /* hold + unlink in one entry */
    const uint16_t hold1[] = {META_INODE_HOLD};
    CHECK_OK(txn(&t, hold1, &f, 1, "f", 1));
    struct meta_attr a;
    CHECK_OK(mt_getattr(&t, f, &a));
    CHECK_EQ(a.nlink, 0);
    /* a failing op rolls back a hold and an unlink: the state is as before */
    struct meta_attr g;
    CHECK_OK(mt_create(&t, 1, "g", 0644, 1, &g));
    uint64_t d0 = mt_ns_digest(&t, 100);
    const uint16_t two[] = {META_INODE_HOLD, META_INODE_RELEASE, META_INODE_HOLD};
    const uint64_t inos[] = {g.ino, g.ino, 999};
    CHECK_EQ(txn(&t, two, inos, 3, "g", 1), CAIRN_ENOENT);
    CHECK_EQ_U64(mt_ns_digest(&t, 100), d0);
    CHECK_OK(mt_lookup(&t, 1, "g", NULL));
    CHECK_EQ(release(&t, g.ino), CAIRN_ENOENT); /* the hold was undone */
    /* a RELEASE that frees the orphan, then a failing op (the second
     * release: no hold left): orphan, hold and outbox are as before */
    uint64_t after = outbox_last(&t);
    d0 = mt_ns_digest(&t, 100);
    const uint16_t rel2[] = {META_INODE_RELEASE, META_INODE_RELEASE};
    const uint64_t rel_inos[] = {f, f};
    CHECK_EQ(txn(&t, rel2, rel_inos, 2, NULL, 99), CAIRN_ENOENT);
    CHECK_EQ_U64(mt_ns_digest(&t, 100), d0);
    CHECK_EQ_U64(outbox_last(&t), after);
    CHECK_OK(mt_getattr(&t, f, &a));
    CHECK_EQ(a.nlink, 0);
    CHECK_EQ_U64(query_chunk0(&t, f), chunk);
    meta_free(mt_snapshot_copy(t.m));
    CHECK_OK(release(&t, f));
    CHECK_EQ(mt_getattr(&t, f, NULL), CAIRN_ENOENT);
    CHECK_EQ(outbox_count(&t, after, META_OUT_DELETE, chunk), 2);
    /* COND around a hold: CONFLICT on a stale version, else held */
    CHECK_OK(mt_getattr(&t, g.ino, &a));
    struct cairn_buf inner;
    buf_init(&inner, 0);
    struct meta_hdr h0;
    memset(&h0, 0, sizeof h0);
    CHECK_OK(meta_cmd_inode_hold(&inner, &h0, g.ino));
    struct meta_hdr h = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_cond(&t.cmd, &h, g.ino, a.version + 1, inner.data, inner.len));
    CHECK_EQ(mt_apply(&t), CAIRN_CONFLICT);
    h = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_cond(&t.cmd, &h, g.ino, a.version, inner.data, inner.len));
    CHECK_OK(mt_apply(&t));
    CHECK_OK(release(&t, g.ino));
    buf_free(&inner);
    mt_free(&t);
}

/* Random holds, releases, unlinks, renames, writes, closes and ticks from
 * three clients, applied to a state and a snapshot-restored replica;
 * replies and digests must agree, and every snapshot must load. */
TEST(hold_replay_determinism)
{
    struct mt t;
    mt_init(&t);
    struct prng *rng = test_rng();
    uint32_t rep[2] = {reg_node(&t, "a:1"), reg_node(&t, "b:1")};
    struct cl cls[3];
    for (int i = 0; i < 3; i++)
        cls[i] = (struct cl){mt_open_session(&t, 60000), 0};
    t.shadow = mt_snapshot_copy(t.m);
    uint64_t inos[16] = {0}, orphans_seen = 0;
    static uint64_t created[3000];
    size_t n_created = 0;
    char name[16];
    for (int step = 0; step < 3000; step++) {
        uint32_t k = (uint32_t)prng_below(rng, 16);
        snprintf(name, sizeof name, "f%u", k);
        struct cl *c = &cls[prng_below(rng, 3)];
        struct cl saved;
        switch (prng_below(rng, 9)) {
        case 0: {
            struct meta_attr a;
            if (mt_create(&t, 1, name, 0644, 1, &a) == 0 && a.ino != inos[k])
                inos[k] = created[n_created++] = a.ino;
            break;
        }
        case 1:
        case 2:
            if (inos[k])
                hold_as(&t, c, inos[k]);
            break;
        case 3:
            if (inos[k])
                release_as(&t, c, inos[k]);
            break;
        case 4:
            mt_unlink(&t, 1, name);
            break;
        case 5: {
            char other[16];
            snprintf(other, sizeof other, "f%u", (uint32_t)prng_below(rng, 16));
            mt_rename(&t, 1, name, 1, other, 0);
            break;
        }
        case 6:
            if (inos[k]) {
                uint64_t ch, v;
                mt_use(&t, c, &saved);
                if (alloc(&t, inos[k], 0, rep, 2, &ch, &v) == 0)
                    commit(&t, inos[k], 0, ch, v, 500, rep, 2);
                mt_unuse(&t, c, &saved);
            }
            break;
        case 7:
            if (prng_below(rng, 20) == 0) {
                sys_cmd(&t, META_SESSION_CLOSE, c->id);
                *c = (struct cl){mt_open_session(&t, 60000), 0};
            }
            break;
        default:
            t.now += MT_SEC;
            sys_cmd(&t, META_TICK, 0);
            break;
        }
        for (size_t i = 0; step % 10 == 0 && i < n_created; i++) {
            struct meta_attr a;
            orphans_seen += meta_getattr(t.m, created[i], &a) == 0 && a.nlink == 0;
        }
        if (step % 500 == 499) {
            CHECK_EQ_U64(meta_digest(t.shadow), meta_digest(t.m));
            meta_free(t.shadow);
            t.shadow = mt_snapshot_copy(t.m);
        }
    }
    CHECK_EQ_U64(meta_digest(t.shadow), meta_digest(t.m));
    CHECKF(orphans_seen > 10, "orphans seen: %llu", (unsigned long long)orphans_seen);
    /* every session ends: no orphan outlives its holds */
    for (int i = 0; i < 3; i++)
        CHECK_OK(sys_cmd(&t, META_SESSION_CLOSE, cls[i].id));
    for (size_t i = 0; i < n_created; i++) {
        struct meta_attr a;
        if (meta_getattr(t.m, created[i], &a) == 0)
            CHECK(a.nlink > 0);
    }
    meta_free(mt_snapshot_copy(t.m));
    mt_free(&t);
}
