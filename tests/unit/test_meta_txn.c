/* test_meta_txn.c: compare-and-set (COND) and transactions (TXN) of the
 * metadata state machine (docs/locks.md): all or none under a failing
 * condition or op (the state's digest unchanged), results per op, N
 * clients racing from one version, conditional xattrs, limits and
 * malformed batches, exactly-once, and random batches checked against
 * applying the same ops one by one. */
#include <sys/stat.h>

#include "test_meta_lock_util.h"

/* Builds TXN items from commands made by the ordinary encoders. */
struct tb {
    struct meta_txn_enc x;
    struct cairn_buf cmd, op;
    struct meta_hdr h0;
};

static void tb_begin(struct tb *b, struct mt *t, struct lc *c)
{
    buf_init(&b->cmd, 0);
    buf_init(&b->op, 0);
    memset(&b->h0, 0, sizeof b->h0);
    struct meta_hdr h = lc_hdr(t, c);
    meta_txn_begin(&b->x, &b->cmd, &h);
}

static void tb_add(struct tb *b)
{
    meta_txn_op(&b->x, b->op.data, b->op.len);
    buf_reset(&b->op);
}

static void tb_create(struct tb *b, uint64_t parent, const char *name)
{
    CHECK_OK(meta_cmd_create(&b->op, &b->h0, parent, name, 0644, 1));
    tb_add(b);
}

static void tb_mkdir(struct tb *b, uint64_t parent, const char *name)
{
    CHECK_OK(meta_cmd_mkdir(&b->op, &b->h0, parent, name, 0755));
    tb_add(b);
}

static void tb_unlink(struct tb *b, uint64_t parent, const char *name)
{
    CHECK_OK(meta_cmd_unlink(&b->op, &b->h0, parent, name));
    tb_add(b);
}

static void tb_setxattr(struct tb *b, uint64_t ino, const char *name, const char *v)
{
    CHECK_OK(meta_cmd_setxattr(&b->op, &b->h0, ino, name, v, strlen(v), 0));
    tb_add(b);
}

static void tb_chmod(struct tb *b, uint64_t ino, uint32_t mode)
{
    struct meta_attr s = {.mode = mode};
    CHECK_OK(meta_cmd_setattr(&b->op, &b->h0, ino, META_SET_MODE, &s));
    tb_add(b);
}

static void tb_truncate(struct tb *b, uint64_t ino, uint64_t size)
{
    struct meta_attr s = {.size = size};
    CHECK_OK(meta_cmd_setattr(&b->op, &b->h0, ino, META_SET_SIZE, &s));
    tb_add(b);
}

static void tb_free(struct tb *b)
{
    buf_free(&b->cmd);
    buf_free(&b->op);
}

struct txn_out {
    uint8_t stage;
    uint16_t item;
    uint16_t n;
    struct {
        int status;
        struct meta_attr attr; /* when the op's reply is an ATTR */
        uint32_t len;
    } r[CAIRN_TXN_OPS_MAX];
};

/* Apply the built TXN; decode the per-op results or where it failed. */
static int tb_apply(struct mt *t, struct tb *b, struct txn_out *out)
{
    CHECK_OK(meta_txn_end(&b->x));
    buf_reset(&t->cmd);
    CHECK_OK(buf_append(&t->cmd, b->cmd.data, b->cmd.len));
    int rc = mt_apply(t);
    memset(out, 0, sizeof *out);
    struct wire_dec d;
    wire_dec_init(&d, t->reply.data + 4, t->reply.len - 4);
    if (rc) {
        if (t->reply.len > 4) {
            out->stage = wire_get_u8(&d);
            out->item = wire_get_u16(&d);
        }
        CHECK_OK(wire_dec_finish(&d));
        return rc;
    }
    out->n = wire_get_u16(&d);
    for (uint16_t i = 0; i < out->n; i++) {
        struct wire_bytes r = wire_get_bytes(&d, CAIRN_FRAME_PAYLOAD_MAX);
        CHECK(r.len >= 4);
        out->r[i].status = meta_reply_status(r.p, r.len);
        out->r[i].len = r.len;
        if (r.len == 4 + META_ATTR_WIRE_SIZE)
            CHECK_OK(meta_reply_attr(r.p, r.len, &out->r[i].attr));
    }
    CHECK_OK(wire_dec_finish(&d));
    return rc;
}

static void add_node(struct mt *t)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_node_register(&t->cmd, &h, 0, "127.0.0.1:9", "", 1 << 30, 0));
    CHECK_OK(mt_apply(t));
}

/* A file with one committed chunk of 100 bytes. */
static uint64_t file_with_chunk(struct mt *t, uint64_t parent, const char *name)
{
    struct meta_attr a;
    CHECK_OK(mt_create(t, parent, name, 0644, 1, &a));
    uint32_t rep[1] = {1};
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_chunk_alloc(&t->cmd, &h_, a.ino, 0, t->now + 60 * MT_SEC, rep, 1));
    CHECK_OK(mt_apply(t));
    uint64_t chunk = wire_load_u64(t->reply.data + 4), version = wire_load_u64(t->reply.data + 12);
    struct meta_hdr h2 = mt_hdr_session(t);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_chunk_commit(&t->cmd, &h2, a.ino, 0, chunk, version, 100, rep, 1));
    CHECK_OK(mt_apply(t));
    return a.ino;
}

TEST(txn_failing_condition_changes_nothing)
{
    struct mt t;
    mt_init(&t);
    struct lc c = lc_open(&t, 60000);
    struct meta_attr d, f;
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, &d));
    CHECK_OK(mt_create(&t, d.ino, "f", 0644, 1, &f));
    uint64_t before = lc_digest_without(t.m, c.session, t.now);
    struct tb b;
    tb_begin(&b, &t, &c);
    meta_txn_if_version(&b.x, f.ino, f.version);
    tb_create(&b, d.ino, "g");
    meta_txn_if_exists(&b.x, d.ino, "f");
    tb_chmod(&b, f.ino, 0600);
    meta_txn_if_absent(&b.x, d.ino, "f"); /* fails: f exists */
    struct txn_out o;
    CHECK_EQ(tb_apply(&t, &b, &o), CAIRN_CONFLICT);
    CHECK_EQ(o.stage, META_TXN_FAIL_COND);
    CHECK_EQ(o.item, 4);
    CHECK_EQ_U64(lc_digest_without(t.m, c.session, t.now), before);
    CHECK_EQ(mt_lookup(&t, d.ino, "g", NULL), CAIRN_ENOENT);
    tb_free(&b);
    /* a stale version fails the same way; the right one passes */
    tb_begin(&b, &t, &c);
    meta_txn_if_version(&b.x, f.ino, f.version + 1);
    tb_chmod(&b, f.ino, 0600);
    CHECK_EQ(tb_apply(&t, &b, &o), CAIRN_CONFLICT);
    CHECK_EQ(o.item, 0);
    tb_free(&b);
    tb_begin(&b, &t, &c);
    meta_txn_if_version(&b.x, f.ino, f.version);
    meta_txn_if_absent(&b.x, d.ino, "g");
    meta_txn_if_version(&b.x, 424242, 1); /* no such inode: the version cannot match */
    tb_chmod(&b, f.ino, 0600);
    CHECK_EQ(tb_apply(&t, &b, &o), CAIRN_CONFLICT);
    CHECK_EQ(o.item, 2);
    tb_free(&b);
    tb_begin(&b, &t, &c);
    meta_txn_if_version(&b.x, f.ino, f.version);
    meta_txn_if_absent(&b.x, d.ino, "g");
    meta_txn_if_exists(&b.x, 1, "d");
    tb_chmod(&b, f.ino, 0600);
    CHECK_OK(tb_apply(&t, &b, &o));
    CHECK_EQ(o.n, 1);
    CHECK_EQ(o.r[0].attr.mode & 07777, 0600);
    CHECK_EQ_U64(o.r[0].attr.version, f.version + 1);
    tb_free(&b);
    /* a name looked up in a directory the caller may not search: EACCES */
    CHECK_OK(mt_chmod(&t, d.ino, 0700));
    mt_as(&t, 1000, 1000, 0);
    tb_begin(&b, &t, &c);
    meta_txn_if_exists(&b.x, d.ino, "f");
    tb_create(&b, 1, "x");
    CHECK_EQ(tb_apply(&t, &b, &o), CAIRN_EACCES);
    CHECK_EQ(o.stage, META_TXN_FAIL_COND);
    tb_free(&b);
    mt_free(&t);
}

/* Ops of every kind that reach far into the state (destroying inodes with
 * chunks, xattrs and pending writes, committing, moving directories), then
 * an op that fails: the state is exactly what it was. */
TEST(txn_failing_op_undoes_everything)
{
    struct mt t;
    mt_init(&t);
    add_node(&t);
    struct lc c = lc_open(&t, 60000);
    struct meta_attr d, sub, s, b_attr;
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, &d));
    uint64_t a = file_with_chunk(&t, d.ino, "a");
    CHECK_OK(mt_setxattr(&t, a, "user.k", "v", 0));
    CHECK_OK(mt_create(&t, d.ino, "b", 0644, 1, &b_attr));
    uint32_t rep[1] = {1};
    MT_BEGIN(&t);
    CHECK_OK(meta_cmd_chunk_alloc(&t.cmd, &h_, b_attr.ino, 0, t.now + 60 * MT_SEC, rep, 1));
    CHECK_OK(mt_apply(&t));
    uint64_t bchunk = wire_load_u64(t.reply.data + 4), bver = wire_load_u64(t.reply.data + 12);
    CHECK_OK(mt_mkdir(&t, d.ino, "sub", 0755, &sub));
    CHECK_OK(mt_symlink(&t, d.ino, "sym", "a", &s));
    uint64_t e = file_with_chunk(&t, 1, "e");
    uint64_t vict = file_with_chunk(&t, 1, "vict"); /* reached only as a rename's victim */
    CHECK_OK(mt_setxattr(&t, vict, "user.v", "w", 0));
    /* many entries in d, so its arrays are copied and restored */
    for (int i = 0; i < 200; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "n%d", i);
        CHECK_OK(mt_create(&t, d.ino, nm, 0644, 1, NULL));
    }
    for (int i = 0; i < 150; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "n%d", i);
        CHECK_OK(mt_unlink(&t, d.ino, nm)); /* tombstones */
    }
    struct meta_outbox_rec ob[64];
    size_t nob = meta_outbox_list(t.m, 0, 0, ob, 64);
    uint64_t before = lc_digest_without(t.m, c.session, t.now);
    uint64_t ns_before = mt_ns_digest(&t, 1000);
    struct tb b;
    for (int fail_at_end = 1; fail_at_end >= 0; fail_at_end--) {
        tb_begin(&b, &t, &c);
        tb_mkdir(&b, d.ino, "new");          /* op 0 */
        tb_create(&b, META_TXN_REF(0), "f"); /* op 1: in the new dir */
        tb_setxattr(&b, a, "user.x", "y");   /* op 2 */
        tb_truncate(&b, a, 0);               /* op 3: a's chunk deleted */
        CHECK_OK(meta_cmd_rename(&b.op, &b.h0, d.ino, "b", d.ino, "a", 0));
        tb_add(&b); /* op 4: b replaces a */
        CHECK_OK(meta_cmd_rename(&b.op, &b.h0, d.ino, "sub", 1, "moved", 0));
        tb_add(&b); /* op 5: a directory moves */
        CHECK_OK(meta_cmd_chunk_commit(&b.op, &b.h0, b_attr.ino, 0, bchunk, bver, 50, rep, 1));
        tb_add(&b); /* op 6: b's pending write */
        CHECK_OK(meta_cmd_link(&b.op, &b.h0, b_attr.ino, 1, "blink"));
        tb_add(&b);                          /* op 7 */
        tb_unlink(&b, d.ino, "sym");         /* op 8 */
        tb_unlink(&b, 1, "e");               /* op 9: e and its chunk go */
        tb_chmod(&b, META_TXN_REF(1), 0600); /* op 10 */
        CHECK_OK(meta_cmd_chunk_alloc(&b.op, &b.h0, META_TXN_REF(1), 0, t.now + MT_SEC, rep, 1));
        tb_add(&b);                 /* op 11: a pending write on f */
        tb_create(&b, d.ino, "n5"); /* op 12: a name unlinked before */
        CHECK_OK(meta_cmd_rename(&b.op, &b.h0, d.ino, "n170", 1, "vict", 0));
        tb_add(&b); /* op 13: vict goes */
        if (fail_at_end)
            tb_create(&b, d.ino, "n160"); /* op 14: EEXIST */
        struct txn_out o;
        if (fail_at_end) {
            CHECK_EQ(tb_apply(&t, &b, &o), CAIRN_EEXIST);
            CHECK_EQ(o.stage, META_TXN_FAIL_OP);
            CHECK_EQ(o.item, 14);
            CHECK_EQ_U64(lc_digest_without(t.m, c.session, t.now), before);
            CHECK_EQ_U64(mt_ns_digest(&t, 1000), ns_before);
            CHECK_EQ(meta_outbox_list(t.m, 0, 0, ob, 64), nob);
            struct meta *copy = mt_snapshot_copy(t.m); /* consistent enough to load */
            meta_free(copy);
        } else {
            /* the same ops without the failing one all apply */
            CHECK_OK(tb_apply(&t, &b, &o));
            CHECK_EQ(o.n, 14);
            CHECK(o.r[1].attr.ino > o.r[0].attr.ino);
            CHECK_EQ(mt_lookup(&t, o.r[0].attr.ino, "f", NULL), 0);
            CHECK_EQ(mt_lookup(&t, 1, "e", NULL), CAIRN_ENOENT);
            CHECK_EQ(meta_getattr(t.m, vict, &s), CAIRN_ENOENT);
            CHECK(meta_outbox_list(t.m, 0, 0, ob, 64) > nob);
            (void)e;
        }
        tb_free(&b);
    }
    mt_free(&t);
}

TEST(txn_results_and_references)
{
    struct mt t;
    mt_init(&t);
    struct lc c = lc_open(&t, 60000);
    struct tb b;
    tb_begin(&b, &t, &c);
    tb_mkdir(&b, 1, "p");
    tb_mkdir(&b, META_TXN_REF(0), "q");
    tb_create(&b, META_TXN_REF(1), "r");
    tb_setxattr(&b, META_TXN_REF(2), "user.a", "1");
    CHECK_OK(meta_cmd_link(&b.op, &b.h0, META_TXN_REF(2), META_TXN_REF(0), "r2"));
    tb_add(&b);
    tb_chmod(&b, META_TXN_REF(4), 0640);
    struct txn_out o;
    CHECK_OK(tb_apply(&t, &b, &o));
    CHECK_EQ(o.n, 6);
    for (int i = 0; i < 6; i++)
        CHECK_EQ(o.r[i].status, 0);
    CHECK_EQ(o.r[3].len, 4); /* setxattr: status only */
    CHECK(S_ISDIR(o.r[0].attr.mode) && S_ISDIR(o.r[1].attr.mode) && S_ISREG(o.r[2].attr.mode));
    CHECK_EQ(o.r[4].attr.nlink, 2);
    CHECK_EQ_U64(o.r[5].attr.ino, o.r[2].attr.ino);
    struct meta_attr a;
    CHECK_OK(mt_walk(&t, "p/q/r", &a));
    CHECK_EQ_U64(a.ino, o.r[2].attr.ino);
    CHECK_EQ(a.mode & 07777, 0640);
    CHECK_OK(mt_walk(&t, "p/r2", &a));
    tb_free(&b);
    mt_free(&t);
}

/* N clients read version v and race to update: exactly one wins. */
TEST(txn_cas_race_exactly_one)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "race", 0644, 1, &f));
    enum { N = 8 };
    struct lc cl[N];
    for (int i = 0; i < N; i++)
        cl[i] = lc_open(&t, 60000);
    struct prng *r = test_rng();
    for (int round = 0; round < 30; round++) {
        struct meta_attr cur;
        CHECK_OK(mt_getattr(&t, f.ino, &cur));
        struct cairn_buf cmds[N];
        for (int i = 0; i < N; i++) {
            buf_init(&cmds[i], 0);
            struct cairn_buf inner;
            buf_init(&inner, 0);
            struct meta_hdr h0;
            memset(&h0, 0, sizeof h0);
            if (round % 2) {
                struct meta_attr s = {.mode = 0600 + (uint32_t)i};
                CHECK_OK(meta_cmd_setattr(&inner, &h0, f.ino, META_SET_MODE, &s));
                struct meta_hdr h = lc_hdr(&t, &cl[i]);
                CHECK_OK(meta_cmd_cond(&cmds[i], &h, f.ino, cur.version, inner.data, inner.len));
            } else {
                char v[16];
                snprintf(v, sizeof v, "%d", i);
                CHECK_OK(meta_cmd_setxattr(&inner, &h0, f.ino, "user.owner", v, 1, 0));
                struct meta_txn_enc x;
                struct meta_hdr h = lc_hdr(&t, &cl[i]);
                meta_txn_begin(&x, &cmds[i], &h);
                meta_txn_if_version(&x, f.ino, cur.version);
                meta_txn_op(&x, inner.data, inner.len);
                CHECK_OK(meta_txn_end(&x));
            }
            buf_free(&inner);
        }
        int order[N];
        for (int i = 0; i < N; i++)
            order[i] = i;
        for (int i = N - 1; i > 0; i--) {
            int j = (int)prng_below(r, (uint64_t)i + 1), x = order[i];
            order[i] = order[j];
            order[j] = x;
        }
        int wins = 0, winner = -1;
        for (int k = 0; k < N; k++) {
            int i = order[k];
            buf_reset(&t.cmd);
            CHECK_OK(buf_append(&t.cmd, cmds[i].data, cmds[i].len));
            int rc = mt_apply(&t);
            CHECK(rc == 0 || rc == CAIRN_CONFLICT);
            if (rc == 0) {
                wins++;
                winner = i;
            }
            buf_free(&cmds[i]);
        }
        CHECK_EQ(wins, 1);
        CHECK_EQ(winner, order[0]);
        struct meta_attr after;
        CHECK_OK(mt_getattr(&t, f.ino, &after));
        CHECK_EQ_U64(after.version, cur.version + 1);
        if (round % 2)
            CHECK_EQ(after.mode & 07777, 0600 + (uint32_t)winner);
    }
    mt_free(&t);
}

static int cond_setxattr(struct mt *t, uint64_t ino, uint64_t version, const char *name,
                         const char *value)
{
    struct cairn_buf inner;
    buf_init(&inner, 0);
    struct meta_hdr h0;
    memset(&h0, 0, sizeof h0);
    CHECK_OK(meta_cmd_setxattr(&inner, &h0, ino, name, value, strlen(value), 0));
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_cond(&t->cmd, &h_, ino, version, inner.data, inner.len));
    buf_free(&inner);
    return mt_apply(t);
}

TEST(txn_conditional_xattr_and_commands)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f, d;
    CHECK_OK(mt_create(&t, 1, "x", 0644, 1, &f));
    CHECK_OK(cond_setxattr(&t, f.ino, f.version, "user.a", "1"));
    CHECK_EQ(cond_setxattr(&t, f.ino, f.version, "user.a", "2"), CAIRN_CONFLICT);
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_getxattr(&t.cmd, &h, f.ino, "user.a", 16));
    CHECK_OK(mt_query(&t));
    CHECK_EQ(t.reply.data[8], '1');
    CHECK_OK(cond_setxattr(&t, f.ino, f.version + 1, "user.a", "3"));
    CHECK_EQ(cond_setxattr(&t, 999999, 1, "user.a", "3"), CAIRN_ENOENT);
    /* the inner command's own errors come through */
    struct meta_attr now;
    CHECK_OK(mt_getattr(&t, f.ino, &now));
    CHECK_EQ(cond_setxattr(&t, f.ino, now.version, "bogus.a", "3"), CAIRN_ENOTSUP);
    /* a directory's version guards its entries */
    CHECK_OK(mt_mkdir(&t, 1, "dir", 0755, &d));
    struct cairn_buf inner;
    buf_init(&inner, 0);
    struct meta_hdr h0;
    memset(&h0, 0, sizeof h0);
    CHECK_OK(meta_cmd_create(&inner, &h0, d.ino, "one", 0644, 1));
    MT_BEGIN(&t);
    CHECK_OK(meta_cmd_cond(&t.cmd, &h_, d.ino, d.version, inner.data, inner.len));
    struct meta_attr made;
    CHECK_OK(mt_attr(&t, mt_apply(&t), &made));
    CHECK(S_ISREG(made.mode));
    struct cairn_buf retry;
    buf_init(&retry, 0);
    CHECK_OK(buf_append(&retry, t.reply.data, t.reply.len));
    CHECK_OK(mt_apply(&t)); /* a retry: the cached reply, not a CONFLICT */
    CHECK_EQ(t.reply.len, retry.len);
    CHECK_MEM_EQ(t.reply.data, retry.data, retry.len);
    h_ = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_cond(&t.cmd, &h_, d.ino, d.version, inner.data, inner.len));
    CHECK_EQ(mt_apply(&t), CAIRN_CONFLICT);
    /* only mutations of the namespace and data can be wrapped */
    buf_reset(&inner);
    struct meta_lock_req q = lq_named("n", 1, META_LOCK_EXCLUSIVE);
    CHECK_OK(meta_cmd_lock_acquire(&inner, &h0, &q));
    h_ = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_cond(&t.cmd, &h_, d.ino, d.version, inner.data, inner.len));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    buf_reset(&inner);
    CHECK_OK(meta_cmd_getattr(&inner, &h0, d.ino));
    h_ = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_cond(&t.cmd, &h_, d.ino, d.version, inner.data, inner.len));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    CHECK_EQ(meta_cmd_cond(&t.cmd, &h_, d.ino, 1, inner.data, 5), CAIRN_BADMSG);
    buf_free(&inner);
    buf_free(&retry);
    mt_free(&t);
}

/* The raw bytes of a TXN with the given items (for malformed ones). */
static void raw_txn(struct mt *t, struct lc *c, uint16_t n, const void *items, size_t len)
{
    struct meta_hdr h = lc_hdr(t, c);
    h.type = META_TXN;
    buf_reset(&t->cmd);
    struct wire_enc e;
    wire_enc_init(&e, &t->cmd);
    meta_enc_hdr(&e, &h);
    wire_put_u16(&e, n);
    wire_put_raw(&e, items, len);
    CHECK_OK(e.err);
}

/* An OP item of the given type and raw body. */
static void put_op(struct cairn_buf *b, uint16_t type, const void *body, uint32_t len)
{
    struct wire_enc e;
    wire_enc_init(&e, b);
    wire_put_u8(&e, META_TXN_OP);
    wire_put_u16(&e, type);
    wire_put_bytes(&e, body, len);
}

TEST(txn_limits_and_malformed)
{
    struct mt t;
    mt_init(&t);
    struct lc c = lc_open(&t, 60000);
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    uint64_t d = meta_digest(t.m);
    struct tb b;
    struct txn_out o;
    /* nothing, or conditions only */
    tb_begin(&b, &t, &c);
    CHECK_EQ(tb_apply(&t, &b, &o), CAIRN_BADMSG);
    tb_free(&b);
    tb_begin(&b, &t, &c);
    meta_txn_if_version(&b.x, f.ino, f.version);
    CHECK_EQ(tb_apply(&t, &b, &o), CAIRN_BADMSG);
    tb_free(&b);
    /* CAIRN_TXN_OPS_MAX ops and conditions pass; one more of either fails */
    for (int extra = 0; extra < 3; extra++) {
        tb_begin(&b, &t, &c);
        for (uint32_t i = 0; i < CAIRN_TXN_OPS_MAX + (extra == 1); i++) {
            char nm[32];
            snprintf(nm, sizeof nm, "o%d_%u", extra, i);
            tb_create(&b, 1, nm);
        }
        for (uint32_t i = 0; i < CAIRN_TXN_OPS_MAX + (extra == 2); i++)
            meta_txn_if_absent(&b.x, 1, "nope");
        int rc = tb_apply(&t, &b, &o);
        CHECK_EQ(rc, extra ? CAIRN_BADMSG : 0);
        if (!rc)
            CHECK_EQ(o.n, CAIRN_TXN_OPS_MAX);
        tb_free(&b);
    }
    d = meta_digest(t.m);
    /* op types that cannot be in a TXN; unknown item kinds; bad bodies */
    struct cairn_buf items;
    buf_init(&items, 0);
    uint8_t ino_body[8];
    wire_store_u64(ino_body, f.ino);
    const uint16_t bad_types[] = {META_COND,
                                  META_TXN,
                                  META_LOCK_ACQUIRE,
                                  META_LOCK_CANCEL,
                                  META_CHUNK_ALLOC_FENCED,
                                  META_SESSION_OPEN,
                                  META_TICK,
                                  META_GETATTR,
                                  0,
                                  999};
    for (size_t i = 0; i < sizeof bad_types / sizeof *bad_types; i++) {
        buf_reset(&items);
        put_op(&items, bad_types[i], ino_body, 8);
        raw_txn(&t, &c, 1, items.data, items.len);
        CHECKF(mt_apply(&t) == CAIRN_BADMSG, "type %u", bad_types[i]);
    }
    uint8_t kind9 = 9;
    raw_txn(&t, &c, 1, &kind9, 1);
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    buf_reset(&items);
    put_op(&items, META_UNLINK, ino_body, 8); /* no name */
    raw_txn(&t, &c, 1, items.data, items.len);
    CHECK_EQ(mt_apply(&t), CAIRN_TRUNCATED);
    raw_txn(&t, &c, 2, items.data, items.len); /* count says 2 */
    CHECK(mt_apply(&t) < 0);
    /* references: forward, to itself, to an op without an ATTR reply */
    for (int k = 0; k < 3; k++) {
        tb_begin(&b, &t, &c);
        tb_setxattr(&b, f.ino, "user.a", "1");
        tb_create(&b, k == 0 ? META_TXN_REF(2) : k == 1 ? META_TXN_REF(1) : META_TXN_REF(0), "z");
        tb_create(&b, 1, "zz");
        CHECK_EQ(tb_apply(&t, &b, &o), CAIRN_BADMSG);
        tb_free(&b);
    }
    /* every truncation of a valid TXN */
    tb_begin(&b, &t, &c);
    meta_txn_if_version(&b.x, f.ino, f.version);
    tb_create(&b, 1, "t1");
    tb_setxattr(&b, f.ino, "user.t", "v");
    CHECK_OK(meta_txn_end(&b.x));
    for (size_t n = 1; n < b.cmd.len; n++) {
        buf_reset(&t.cmd);
        CHECK_OK(buf_append(&t.cmd, b.cmd.data, n));
        int rc = mt_apply(&t);
        CHECKF(rc == CAIRN_TRUNCATED || rc == CAIRN_BADMSG, "length %zu: %d", n, rc);
    }
    /* a trailing byte */
    buf_reset(&t.cmd);
    CHECK_OK(buf_append(&t.cmd, b.cmd.data, b.cmd.len));
    CHECK_OK(buf_append(&t.cmd, "", 1));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    CHECK_EQ_U64(meta_digest(t.m), d); /* malformed: nothing changed, not even time */
    /* random damage: refused or applied, never a broken state */
    struct prng *r = test_rng();
    for (int i = 0; i < 500; i++) {
        buf_reset(&t.cmd);
        CHECK_OK(buf_append(&t.cmd, b.cmd.data, b.cmd.len));
        size_t hs = meta_cmd_hdr_size(t.cmd.data, t.cmd.len);
        size_t at = hs + prng_below(r, t.cmd.len - hs);
        t.cmd.data[at] ^= (uint8_t)(1u << prng_below(r, 8));
        wire_store_u64(t.cmd.data + 18, ++c.seq); /* a fresh seq each time */
        mt_apply(&t);
    }
    struct meta *copy = mt_snapshot_copy(t.m);
    meta_free(copy);
    buf_free(&items);
    tb_free(&b);
    mt_free(&t);
}

TEST(txn_exactly_once)
{
    struct mt t;
    mt_init(&t);
    struct lc c = lc_open(&t, 60000);
    struct tb b;
    tb_begin(&b, &t, &c);
    tb_mkdir(&b, 1, "once");
    tb_create(&b, META_TXN_REF(0), "a");
    struct txn_out o;
    CHECK_OK(tb_apply(&t, &b, &o));
    struct cairn_buf first;
    buf_init(&first, 0);
    CHECK_OK(buf_append(&first, t.reply.data, t.reply.len));
    struct meta_stats st0, st1;
    meta_stats(t.m, &st0);
    t.now += MT_SEC;
    CHECK_OK(mt_apply(&t)); /* the retry: no EEXIST, nothing new */
    CHECK_EQ(t.reply.len, first.len);
    CHECK_MEM_EQ(t.reply.data, first.data, first.len);
    meta_stats(t.m, &st1);
    CHECK_EQ(st1.inodes, st0.inodes);
    tb_free(&b);
    /* a failed TXN retried: the same failure, still nothing applied */
    tb_begin(&b, &t, &c);
    tb_create(&b, 1, "fresh");
    tb_mkdir(&b, 1, "once");
    CHECK_EQ(tb_apply(&t, &b, &o), CAIRN_EEXIST);
    buf_reset(&first);
    CHECK_OK(buf_append(&first, t.reply.data, t.reply.len));
    CHECK_EQ(first.len, 4 + 3);
    struct cairn_buf again;
    buf_init(&again, 0);
    CHECK_OK(buf_append(&again, t.cmd.data, t.cmd.len));
    CHECK_EQ(mt_unlink(&t, 1, "fresh"), CAIRN_ENOENT);
    buf_reset(&t.cmd);
    CHECK_OK(buf_append(&t.cmd, again.data, again.len));
    buf_free(&again);
    CHECK_EQ(mt_apply(&t), CAIRN_EEXIST); /* (the unlink was another session's) */
    CHECK_MEM_EQ(t.reply.data, first.data, first.len);
    CHECK_EQ(mt_lookup(&t, 1, "fresh", NULL), CAIRN_ENOENT);
    tb_free(&b);
    buf_free(&first);
    mt_free(&t);
}

/* --- random batches ---------------------------------------------------------------
 * Random ops on a small tree, names from a small pool so that some fail.
 * A TXN that fails leaves the state as it was; one that succeeds leaves it
 * as the same ops applied one by one would; a replica restored from a
 * snapshot follows every command byte for byte. */

#define RT_NAMES 6

static void random_op(struct prng *r, struct cairn_buf *out, const uint64_t *dirs, int ndirs,
                      const uint64_t *files, int nfiles)
{
    static const char *names[RT_NAMES] = {"a", "b", "c", "d", "e", "f"};
    struct meta_hdr h0;
    memset(&h0, 0, sizeof h0);
    uint64_t dir = dirs[prng_below(r, (uint64_t)ndirs)];
    uint64_t dir2 = dirs[prng_below(r, (uint64_t)ndirs)];
    uint64_t file = files[prng_below(r, (uint64_t)nfiles)];
    const char *n1 = names[prng_below(r, RT_NAMES)], *n2 = names[prng_below(r, RT_NAMES)];
    struct meta_attr s = {.mode = (uint32_t)prng_below(r, 0777), .size = prng_below(r, 3) * 1000};
    int rc;
    switch (prng_below(r, 11)) {
    case 0:
        rc = meta_cmd_create(out, &h0, dir, n1, 0644, (int)prng_below(r, 2));
        break;
    case 1:
        rc = meta_cmd_mkdir(out, &h0, dir, n1, 0755);
        break;
    case 2:
        rc = meta_cmd_unlink(out, &h0, dir, n1);
        break;
    case 3:
        rc = meta_cmd_rmdir(out, &h0, dir, n1);
        break;
    case 4:
        rc = meta_cmd_rename(out, &h0, dir, n1, dir2, n2, 0);
        break;
    case 5:
        rc = meta_cmd_setattr(out, &h0, file, META_SET_MODE | META_SET_SIZE, &s);
        break;
    case 6:
        rc = meta_cmd_setxattr(out, &h0, file, "user.k", n1, 1, (uint32_t)prng_below(r, 3));
        break;
    case 7:
        rc = meta_cmd_removexattr(out, &h0, file, "user.k");
        break;
    case 8:
        rc = meta_cmd_link(out, &h0, file, dir, n1);
        break;
    case 9:
        rc = meta_cmd_symlink(out, &h0, dir, n1, "target");
        break;
    default: {
        uint32_t rep[1] = {1};
        rc = meta_cmd_chunk_alloc(out, &h0, file, (uint32_t)prng_below(r, 2), MT_T0 + 1000 * MT_SEC,
                                  rep, 1);
    }
    }
    CHECK_OK(rc);
}

/* Apply cmd (a whole command without header semantics) as a command of c. */
static int apply_as(struct meta *m, uint64_t index, struct lc *c, uint64_t now, const uint8_t *op,
                    size_t len, struct cairn_buf *reply)
{
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    h.type = wire_load_u16(op);
    h.now_ns = now;
    h.session = c->session;
    h.seq = ++c->seq;
    struct wire_enc e;
    wire_enc_init(&e, &cmd);
    meta_enc_hdr(&e, &h);
    size_t hs = meta_cmd_hdr_size(op, len);
    wire_put_raw(&e, op + hs, len - hs);
    buf_reset(reply);
    int rc = meta_apply(m, index, cmd.data, cmd.len, reply);
    buf_free(&cmd);
    return rc;
}

TEST_T(txn_random_batches, 120)
{
    struct mt t;
    mt_init(&t);
    add_node(&t);
    struct lc c = lc_open(&t, 600000);
    uint64_t dirs[3] = {1, 0, 0}, files[3];
    struct meta_attr a;
    CHECK_OK(mt_mkdir(&t, 1, "x", 0755, &a));
    dirs[1] = a.ino;
    CHECK_OK(mt_mkdir(&t, a.ino, "y", 0755, &a));
    dirs[2] = a.ino;
    for (int i = 0; i < 3; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "f%d", i);
        files[i] = file_with_chunk(&t, dirs[i], nm);
    }
    t.shadow = mt_snapshot_copy(t.m);
    struct prng *r = test_rng();
    struct cairn_buf ops[12], reply;
    for (int i = 0; i < 12; i++)
        buf_init(&ops[i], 0);
    buf_init(&reply, 0);
    int committed = 0, failed = 0;
    for (int round = 0; round < 500; round++) {
        t.now += MT_SEC / 10;
        int n = (int)prng_range(r, 1, 8);
        for (int i = 0; i < n; i++) {
            buf_reset(&ops[i]);
            random_op(r, &ops[i], dirs, 3, files, 3);
        }
        uint64_t before = lc_digest_without(t.m, c.session, t.now);
        struct meta *seq_copy = mt_snapshot_copy(t.m);
        struct tb b;
        tb_begin(&b, &t, &c);
        for (int i = 0; i < n; i++)
            meta_txn_op(&b.x, ops[i].data, ops[i].len);
        struct txn_out o;
        int rc = tb_apply(&t, &b, &o);
        tb_free(&b);
        /* the same ops one by one on the copy, as separate commands */
        uint64_t idx = meta_applied_index(seq_copy), seq = c.seq;
        int seq_rc = 0;
        for (int i = 0; i < n && !seq_rc; i++)
            seq_rc = apply_as(seq_copy, ++idx, &c, t.now, ops[i].data, ops[i].len, &reply);
        CHECKF(seq_rc == rc, "round %d: %d one by one, %d as a TXN", round, seq_rc, rc);
        if (rc) {
            failed++;
            CHECK_EQ(o.stage, META_TXN_FAIL_OP);
            CHECK_EQ_U64(lc_digest_without(t.m, c.session, t.now), before);
        } else {
            committed++;
            CHECK_EQ(o.n, n);
            CHECK_EQ_U64(lc_digest_without(t.m, c.session, t.now),
                         lc_digest_without(seq_copy, c.session, t.now));
        }
        c.seq = seq; /* the copy's commands used seqs the TXN did not */
        meta_free(seq_copy);
    }
    CHECKF(committed > 20 && failed > 20, "%d committed, %d failed", committed, failed);
    CHECK_EQ_U64(meta_digest(t.m), meta_digest(t.shadow));
    for (int i = 0; i < 12; i++)
        buf_free(&ops[i]);
    buf_free(&reply);
    mt_free(&t);
}

/* A chunk allocated and committed by the same TXN (the chunk record is
 * created inside it) goes away with the rest when a later op fails. */
TEST(txn_alloc_and_commit_in_one_batch)
{
    struct mt t;
    mt_init(&t);
    add_node(&t);
    struct lc c = lc_open(&t, 60000);
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    uint64_t keep = file_with_chunk(&t, 1, "keep");
    uint32_t rep[1] = {1};
    /* learn the chunk id the alloc will get, on a copy */
    struct meta *copy = mt_snapshot_copy(t.m);
    struct meta *real = t.m;
    t.m = copy;
    uint64_t seq = c.seq;
    MT_BEGIN(&t);
    CHECK_OK(meta_cmd_chunk_alloc(&t.cmd, &h_, f.ino, 0, t.now + MT_SEC, rep, 1));
    CHECK_OK(mt_apply(&t));
    uint64_t chunk = wire_load_u64(t.reply.data + 4), version = wire_load_u64(t.reply.data + 12);
    meta_free(copy);
    t.m = real;
    c.seq = seq;
    uint64_t before = lc_digest_without(t.m, c.session, t.now);
    for (int fail = 1; fail >= 0; fail--) {
        struct tb b;
        tb_begin(&b, &t, &c);
        CHECK_OK(meta_cmd_chunk_alloc(&b.op, &b.h0, f.ino, 0, t.now + MT_SEC, rep, 1));
        tb_add(&b);
        CHECK_OK(meta_cmd_chunk_commit(&b.op, &b.h0, f.ino, 0, chunk, version, 10, rep, 1));
        tb_add(&b);
        tb_truncate(&b, keep, 0);
        if (fail)
            tb_mkdir(&b, 1, "f");
        struct txn_out o;
        struct meta_chunk_info ci;
        if (fail) {
            CHECK_EQ(tb_apply(&t, &b, &o), CAIRN_EEXIST);
            CHECK_EQ_U64(lc_digest_without(t.m, c.session, t.now), before);
            CHECK_EQ(meta_chunk_get(t.m, chunk, &ci), CAIRN_ENOENT);
            CHECK_OK(meta_file_chunk(t.m, keep, 0, &ci));
            CHECK_EQ(ci.length, 100);
        } else {
            CHECK_OK(tb_apply(&t, &b, &o));
            CHECK_EQ(o.r[1].attr.size, 10);
            CHECK_OK(meta_file_chunk(t.m, f.ino, 0, &ci));
            CHECK_EQ_U64(ci.id, chunk);
        }
        tb_free(&b);
    }
    mt_free(&t);
}
