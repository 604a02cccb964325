/* test_meta_snap.c: malformed commands and snapshots of the metadata state
 * machine: every truncation of every command kind fails cleanly and changes
 * nothing; damaged snapshots are refused; random byte damage to commands
 * never breaks the state's invariants. */
#include <sys/stat.h>

#include "common/crc32c.h"
#include "test_meta_util.h"

struct seq_ctx {
    uint64_t dir, file, session2, chunk, version;
};

/* Command number i of a sequence that exercises every command kind, built
 * for the state the previous ones left; returns 0 past the end. */
static int build_cmd(struct mt *t, int i, struct seq_ctx *c)
{
    struct meta_hdr hs = mt_hdr_session(t), hp = mt_hdr_plain(t, 0);
    struct meta_attr set = {.mode = 0600, .size = 10, .goal = 3};
    uint32_t rep[2] = {1, 2};
    uint64_t ids[3] = {1, 2, 99};
    struct cairn_buf *b = &t->cmd;
    buf_reset(b);
    switch (i) {
    case 0:
        return meta_cmd_session_open(b, &hp, 30000) == 0;
    case 1:
        return meta_cmd_node_register(b, &hp, 0, "127.0.0.1:1", "r1", 100, 1) == 0;
    case 2:
        return meta_cmd_node_register(b, &hp, 0, "127.0.0.1:2", "r2", 100, 1) == 0;
    case 3:
        return meta_cmd_node_update(b, &hp, 2, META_NODE_UP, 200, 2) == 0;
    case 4:
        return meta_cmd_mkdir(b, &hs, 1, "dir", 0755) == 0;
    case 5:
        return meta_cmd_create(b, &hs, c->dir, "file", 0644, 1) == 0;
    case 6:
        return meta_cmd_symlink(b, &hs, c->dir, "sym", "file") == 0;
    case 7:
        return meta_cmd_link(b, &hs, c->file, 1, "hard") == 0;
    case 8:
        return meta_cmd_setattr(b, &hs, c->file, META_SET_MODE | META_SET_SIZE, &set) == 0;
    case 9:
        return meta_cmd_setxattr(b, &hs, c->file, "user.k", "value", 5, 0) == 0;
    case 10:
        return meta_cmd_removexattr(b, &hs, c->file, "user.k") == 0;
    case 11:
        return meta_cmd_chunk_alloc(b, &hs, c->file, 0, t->now + 10 * MT_SEC, rep, 2) == 0;
    case 12:
        return meta_cmd_chunk_commit(b, &hs, c->file, 0, c->chunk, c->version, 100, rep, 1) == 0;
    case 13:
        return meta_cmd_chunk_alloc(b, &hs, c->file, 1, t->now + 10 * MT_SEC, rep, 1) == 0;
    case 14:
        return meta_cmd_chunk_abort(b, &hs, c->file, 1, c->chunk, c->version) == 0;
    case 15:
        return meta_cmd_outbox_ack(b, &hp, ids, 3) == 0;
    case 16:
        return meta_cmd_rename(b, &hs, c->dir, "file", 1, "moved", 0) == 0;
    case 17:
        return meta_cmd_unlink(b, &hs, c->dir, "sym") == 0;
    case 18:
        return meta_cmd_rmdir(b, &hs, 1, "dir") == 0;
    case 19:
        hp.session = c->session2;
        return meta_cmd_session_keepalive(b, &hp) == 0;
    case 20:
        return meta_cmd_tick(b, &hp) == 0;
    case 21:
        hp.session = c->session2;
        return meta_cmd_session_close(b, &hp) == 0;
    case 22:
        return meta_cmd_lookup(b, &hp, 1, "moved") == 0;
    case 23:
        return meta_cmd_getattr(b, &hp, c->file) == 0;
    case 24:
        return meta_cmd_readdir(b, &hp, 1, 0, 10) == 0;
    case 25:
        return meta_cmd_listxattr(b, &hp, c->file, 100) == 0;
    case 26:
        return meta_cmd_statfs(b, &hp) == 0;
    case 27:
        return meta_cmd_chunks(b, &hp, c->file, 0, 4) == 0;
    case 28:
        return meta_cmd_getxattr(b, &hp, c->file, "user.none", 0) == 0;
    case 29:
        return meta_cmd_inode_hold(b, &hs, c->file) == 0;
    case 30:
        return meta_cmd_inode_release(b, &hs, c->file) == 0;
    default:
        return 0;
    }
}

/* Remember what later commands need from a reply. */
static void note_reply(struct mt *t, int i, struct seq_ctx *c)
{
    struct meta_attr a;
    if (i == 0)
        c->session2 = wire_load_u64(t->reply.data + 4);
    if (i == 4 || i == 5) {
        CHECK_OK(meta_reply_attr(t->reply.data, t->reply.len, &a));
        *(i == 4 ? &c->dir : &c->file) = a.ino;
    }
    if (i == 11 || i == 13) {
        c->chunk = wire_load_u64(t->reply.data + 4);
        c->version = wire_load_u64(t->reply.data + 12);
    }
}

TEST(meta_malformed_every_truncation)
{
    struct mt t;
    mt_init(&t);
    struct seq_ctx c;
    memset(&c, 0, sizeof c);
    struct cairn_buf full;
    buf_init(&full, 0);
    int kinds = 0;
    for (int i = 0; build_cmd(&t, i, &c); i++) {
        buf_reset(&full);
        CHECK_OK(buf_append(&full, t.cmd.data, t.cmd.len));
        uint64_t d = meta_digest(t.m);
        uint64_t now = meta_now_ns(t.m);
        t.now += MT_SEC; /* a malformed command must not even move time */
        for (size_t k = 1; k < full.len; k++) {
            buf_reset(&t.cmd);
            CHECK_OK(buf_append(&t.cmd, full.data, k));
            int rc = mt_apply(&t);
            CHECKF(rc == CAIRN_TRUNCATED || rc == CAIRN_BADMSG, "cmd %d cut at %zu: %s", i, k,
                   cairn_err_name(rc));
            CHECK_EQ_U64(meta_digest(t.m), d);
            CHECK_EQ_U64(meta_now_ns(t.m), now);
        }
        /* one byte too many */
        buf_reset(&t.cmd);
        CHECK_OK(buf_append(&t.cmd, full.data, full.len));
        CHECK_OK(buf_append(&t.cmd, "", 1));
        CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
        CHECK_EQ_U64(meta_digest(t.m), d);
        /* the whole command works (re-stamped is not needed: same bytes) */
        buf_reset(&t.cmd);
        CHECK_OK(buf_append(&t.cmd, full.data, full.len));
        int rc = mt_apply(&t);
        CHECKF(rc == 0 || (i == 28 && rc == CAIRN_ENODATA), "cmd %d: %s", i, cairn_err_name(rc));
        note_reply(&t, i, &c);
        kinds++;
    }
    CHECK_EQ(kinds, 31);
    buf_free(&full);
    mt_free(&t);
}

/* Random damage to valid commands: whatever the result, the state stays
 * consistent (its snapshot loads, which checks every cross-reference) and
 * a replica applying the same bytes agrees. */
TEST(meta_malformed_random_damage)
{
    struct mt t;
    mt_init(&t);
    struct seq_ctx c;
    memset(&c, 0, sizeof c);
    struct prng *r = test_rng();
    t.shadow = mt_snapshot_copy(t.m);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; build_cmd(&t, i, &c); i++) {
            for (int k = 0; k < 20; k++) {
                struct cairn_buf keep;
                buf_init(&keep, 0);
                CHECK_OK(buf_append(&keep, t.cmd.data, t.cmd.len));
                size_t at = prng_below(r, t.cmd.len);
                t.cmd.data[at] ^= (uint8_t)(1u << prng_below(r, 8));
                mt_apply(&t);
                buf_reset(&t.cmd);
                CHECK_OK(buf_append(&t.cmd, keep.data, keep.len));
                buf_free(&keep);
            }
            if (mt_apply(&t) == 0)
                note_reply(&t, i, &c);
        }
    }
    struct meta *copy = mt_snapshot_copy(t.m);
    CHECK_EQ_U64(meta_digest(copy), meta_digest(t.shadow));
    meta_free(copy);
    mt_free(&t);
}

static void build_state(struct mt *t)
{
    struct meta_attr d, f;
    CHECK_OK(mt_mkdir(t, 1, "d", 0755, &d));
    CHECK_OK(mt_create(t, d.ino, "f", 0644, 1, &f));
    CHECK_OK(mt_link(t, f.ino, 1, "g", NULL));
    CHECK_OK(mt_symlink(t, 1, "s", "d/f", NULL));
    CHECK_OK(mt_setxattr(t, f.ino, "user.a", "1", 0));
    CHECK_OK(mt_setxattr(t, d.ino, "user.b", "22", 0));
}

TEST(meta_snapshot_damage_refused)
{
    struct mt t;
    mt_init(&t);
    build_state(&t);
    struct cairn_buf s;
    buf_init(&s, 0);
    CHECK_OK(meta_snapshot(t.m, &s));
    struct meta *m = NULL;
    /* every single-bit flip and every truncation is caught */
    for (size_t i = 0; i < s.len; i++) {
        uint8_t bit = (uint8_t)(1u << (i % 8));
        s.data[i] ^= bit;
        int rc = meta_snapshot_load(s.data, s.len, &m);
        CHECKF(rc == CAIRN_CORRUPT || rc == CAIRN_BADVERSION, "flip at %zu: %d", i, rc);
        CHECK(m == NULL);
        s.data[i] ^= bit;
        CHECK(meta_snapshot_load(s.data, i, &m) < 0);
    }
    CHECK_OK(meta_snapshot_load(s.data, s.len, &m));
    meta_free(m);
    buf_free(&s);
    mt_free(&t);
}

/* Damage that keeps the checksum valid (a buggy writer, not a bad disk) is
 * caught by the structural checks: flip each byte of the body, fix the CRC,
 * and the loader must either refuse or produce a state whose own snapshot
 * loads again (never crash, never hand out an inconsistent state). */
TEST(meta_snapshot_structural_checks)
{
    struct mt t;
    mt_init(&t);
    build_state(&t);
    struct cairn_buf s;
    buf_init(&s, 0);
    CHECK_OK(meta_snapshot(t.m, &s));
    int refused = 0;
    for (size_t i = 12; i + 4 < s.len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            s.data[i] ^= (uint8_t)(1u << bit);
            wire_store_u32(s.data + s.len - 4, crc32c(0, s.data, s.len - 4));
            struct meta *m = NULL;
            int rc = meta_snapshot_load(s.data, s.len, &m);
            if (rc) {
                CHECKF(rc == CAIRN_CORRUPT, "byte %zu: %d", i, rc);
                refused++;
            } else {
                struct meta *again = mt_snapshot_copy(m);
                meta_free(again);
                meta_free(m);
            }
            s.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    CHECK(refused > 0);
    buf_free(&s);
    mt_free(&t);
}

TEST(meta_snapshot_empty_and_version)
{
    struct meta *m = meta_new();
    struct cairn_buf s;
    buf_init(&s, 0);
    CHECK_OK(meta_snapshot(m, &s));
    struct meta *copy = NULL;
    CHECK_OK(meta_snapshot_load(s.data, s.len, &copy));
    CHECK_EQ_U64(meta_digest(copy), meta_digest(m));
    meta_free(copy);
    s.data[8] = 4; /* a format from the future */
    wire_store_u32(s.data + s.len - 4, crc32c(0, s.data, s.len - 4));
    CHECK_EQ(meta_snapshot_load(s.data, s.len, &copy), CAIRN_BADVERSION);
    CHECK_EQ(meta_snapshot_load(s.data, 3, &copy), CAIRN_CORRUPT);
    /* different states, different digests */
    struct mt t;
    mt_init(&t);
    CHECK(meta_digest(t.m) != meta_digest(m));
    meta_free(m);
    buf_free(&s);
    mt_free(&t);
}

/* A version 1 snapshot (before holds and next_version) still loads: the
 * state is the same, next_version derived above every chunk version. */
TEST(meta_snapshot_version1_loads)
{
    struct mt t;
    mt_init(&t);
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_node_register(&t.cmd, &h, 0, "a:1", "", 1u << 30, 0));
    CHECK_OK(mt_apply(&t));
    uint32_t node = wire_load_u32(t.reply.data + 4);
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    for (int i = 0; i < 2; i++) { /* version 1, then a rewrite: version 2 */
        MT_BEGIN(&t);
        CHECK_OK(meta_cmd_chunk_alloc(&t.cmd, &h_, f.ino, 0, t.now + MT_SEC, &node, 1));
        CHECK_OK(mt_apply(&t));
        uint64_t chunk = wire_load_u64(t.reply.data + 4), v = wire_load_u64(t.reply.data + 12);
        CHECK_EQ_U64(v, (uint64_t)i + 1);
        h = mt_hdr_session(&t);
        buf_reset(&t.cmd);
        CHECK_OK(meta_cmd_chunk_commit(&t.cmd, &h, f.ino, 0, chunk, v, 10, &node, 1));
        CHECK_OK(mt_apply(&t));
    }
    /* no session left: version 1 session records had no holds */
    h = mt_hdr_plain(&t, t.session);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_session_close(&t.cmd, &h));
    CHECK_OK(mt_apply(&t));
    struct cairn_buf s, v1;
    buf_init(&s, 0);
    buf_init(&v1, 0);
    CHECK_OK(meta_snapshot(t.m, &s));
    /* v1: no u64 next_version after used_bytes (offset 64) */
    CHECK_EQ_U64(wire_load_u64(s.data + 64), 3);
    CHECK_OK(buf_append(&v1, s.data, 64));
    CHECK_OK(buf_append(&v1, s.data + 72, s.len - 72));
    wire_store_u32(v1.data + 8, 1);
    wire_store_u32(v1.data + v1.len - 4, crc32c(0, v1.data, v1.len - 4));
    struct meta *copy = NULL;
    CHECK_OK(meta_snapshot_load(v1.data, v1.len, &copy));
    CHECK_EQ_U64(meta_digest(copy), meta_digest(t.m));
    meta_free(copy);
    /* a version 2 snapshot whose counter is not above every version */
    wire_store_u64(s.data + 64, 2);
    wire_store_u32(s.data + s.len - 4, crc32c(0, s.data, s.len - 4));
    CHECK_EQ(meta_snapshot_load(s.data, s.len, &copy), CAIRN_CORRUPT);
    buf_free(&s);
    buf_free(&v1);
    mt_free(&t);
}

/* A version 2 snapshot (pending writes without a session) still loads: its
 * writes end at their deadline only, not with any session. Made from a
 * version 3 one with an empty outbox and no locks, whose pending write's
 * session is the last field before the outbox count. */
TEST(meta_snapshot_v2_pending_loads)
{
    struct mt t;
    mt_init(&t);
    buf_reset(&t.cmd);
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    CHECK_OK(meta_cmd_node_register(&t.cmd, &h, 0, "a:1", "", 1u << 30, 0));
    CHECK_OK(mt_apply(&t));
    uint32_t node = wire_load_u32(t.reply.data + 4);
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    t.session = mt_open_session(&t, 2000);
    t.seq = 0;
    MT_BEGIN(&t);
    CHECK_OK(meta_cmd_chunk_alloc(&t.cmd, &h_, f.ino, 0, t.now + 30 * MT_SEC, &node, 1));
    CHECK_OK(mt_apply(&t));
    uint64_t chunk = wire_load_u64(t.reply.data + 4);
    struct meta_outbox_rec rec[2];
    CHECK_EQ(meta_outbox_list(t.m, 0, 0, rec, 2), 0);
    struct cairn_buf s;
    buf_init(&s, 0);
    CHECK_OK(meta_snapshot(t.m, &s));
    CHECK(s.len > 20);
    CHECK_EQ_U64(wire_load_u64(s.data + s.len - 20), t.session);
    CHECK_EQ_U64(wire_load_u64(s.data + s.len - 12), 0);
    memmove(s.data + s.len - 20, s.data + s.len - 12, 12);
    s.len -= 8;
    wire_store_u32(s.data + 8, 2);
    wire_store_u32(s.data + s.len - 4, crc32c(0, s.data, s.len - 4));
    struct meta *old = NULL;
    CHECK_OK(meta_snapshot_load(s.data, s.len, &old));
    meta_free(t.m);
    t.m = old;
    /* the session expires: the write stays until its deadline */
    t.now += 3 * MT_SEC;
    h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_tick(&t.cmd, &h));
    CHECK_OK(mt_apply(&t));
    CHECK_EQ(meta_outbox_list(t.m, 0, 0, rec, 2), 0);
    t.now += 30 * MT_SEC;
    h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_tick(&t.cmd, &h));
    CHECK_OK(mt_apply(&t));
    CHECK_EQ(meta_outbox_list(t.m, 0, 0, rec, 2), 1);
    CHECK_EQ(rec[0].kind, META_OUT_DROP);
    CHECK_EQ_U64(rec[0].chunk, chunk);
    buf_free(&s);
    mt_free(&t);
}
