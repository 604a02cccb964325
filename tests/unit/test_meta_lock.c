/* test_meta_lock.c: pessimistic locks of the metadata state machine
 * (docs/locks.md): modes, FIFO waiters, cancel and deadlines, session
 * expiry, lock-delay, fencing tokens, POSIX ranges, flock, exactly-once,
 * snapshots, a random run against a reference model, and linearizability
 * of a lock history (tests/lib/lincheck.h). */
#include <sys/stat.h>

#include "lincheck.h"
#include "test_meta_lock_util.h"

#define X META_LOCK_EXCLUSIVE
#define S META_LOCK_SHARED

TEST(lock_exclusive_excludes)
{
    struct mt t;
    mt_init(&t);
    struct lc a = lc_open(&t, 60000), b = lc_open(&t, 60000);
    struct meta_lock_req qa = lq_named("db", 1, X), qb = lq_named("db", 1, X);
    uint64_t ta = lc_grant(&t, &a, &qa);
    CHECK_EQ_U64(ta, t.index); /* the token is the log index of the grant */
    CHECK_EQ(lc_acquire(&t, &b, &qb, NULL), CAIRN_EAGAIN);
    qb.mode = S;
    CHECK_EQ(lc_acquire(&t, &b, &qb, NULL), CAIRN_EAGAIN);
    /* the same holder again: EBUSY; another owner of the same session: EAGAIN */
    CHECK_EQ(lc_acquire(&t, &a, &qa, NULL), CAIRN_EBUSY);
    struct meta_lock_req qa2 = lq_named("db", 2, S);
    CHECK_EQ(lc_acquire(&t, &a, &qa2, NULL), CAIRN_EAGAIN);
    /* another name is another lock */
    struct meta_lock_req other = lq_named("db2", 1, X);
    lc_grant(&t, &b, &other);
    /* only the holder releases; a release of what one does not hold: ENOENT */
    CHECK_EQ(lc_release(&t, &b, &qb, NULL), CAIRN_ENOENT);
    struct grants_out g;
    CHECK_OK(lc_release(&t, &a, &qa, &g));
    CHECK_EQ(g.n, 0);
    CHECK_EQ(lc_release(&t, &a, &qa, NULL), CAIRN_ENOENT);
    qb.mode = X;
    uint64_t tb = lc_grant(&t, &b, &qb);
    CHECK(tb > ta);
    mt_free(&t);
}

TEST(lock_shared_coexist)
{
    struct mt t;
    mt_init(&t);
    struct lc a = lc_open(&t, 60000), b = lc_open(&t, 60000), c = lc_open(&t, 60000);
    struct meta_lock_req q = lq_named("cfg", 7, S);
    uint64_t t1 = lc_grant(&t, &a, &q);
    uint64_t t2 = lc_grant(&t, &b, &q);
    CHECK(t2 > t1);
    q.mode = X;
    CHECK_EQ(lc_acquire(&t, &c, &q, NULL), CAIRN_EAGAIN);
    struct status_out st;
    lc_status(&t, &q, b.session, &st);
    CHECK_EQ(st.n_held, 1);
    CHECK_EQ(st.held[0].mode, S);
    CHECK_EQ_U64(st.held[0].token_or_wait, t2);
    CHECK_EQ_U64(st.last_token, t2);
    mt_free(&t);
}

TEST(lock_exclusive_waits_for_shared)
{
    struct mt t;
    mt_init(&t);
    struct lc a = lc_open(&t, 60000), b = lc_open(&t, 60000), c = lc_open(&t, 60000);
    struct meta_lock_req qs = lq_named("q", 1, S), qx = lq_named("q", 1, X);
    lc_grant(&t, &a, &qs);
    lc_grant(&t, &b, &qs);
    uint64_t w = lc_queue(&t, &c, qx, 0);
    struct grants_out g;
    CHECK_OK(lc_release(&t, &a, &qs, &g));
    CHECK_EQ(g.n, 0); /* b still holds it shared */
    struct status_out st;
    lc_status(&t, &qx, c.session, &st);
    CHECK_EQ(st.n_held, 0);
    CHECK_EQ(st.n_wait, 1);
    CHECK_EQ_U64(st.wait[0].token_or_wait, w);
    CHECK_OK(lc_release(&t, &b, &qs, &g));
    CHECK_EQ(g.n, 1);
    CHECK_EQ_U64(g.g[0].session, c.session);
    CHECK_EQ_U64(g.g[0].wait_id, w);
    CHECK_EQ_U64(g.g[0].token, t.index);
    /* the waiter learns it by polling too: held, granted as wait w */
    lc_status(&t, &qx, c.session, &st);
    CHECK_EQ(st.n_held, 1);
    CHECK_EQ(st.n_wait, 0);
    CHECK_EQ(st.held[0].mode, X);
    CHECK_EQ_U64(st.held[0].token_or_wait, g.g[0].token);
    CHECK_EQ_U64(st.held[0].wait_id_or_pos, w);
    mt_free(&t);
}

/* Waiters are served in order; shared waiters at the head go together; a
 * waiting exclusive request is never passed by later shared ones. */
TEST(lock_fifo_order)
{
    struct mt t;
    mt_init(&t);
    struct lc c[7];
    for (int i = 0; i < 7; i++)
        c[i] = lc_open(&t, 60000);
    struct meta_lock_req qx = lq_named("f", 1, X), qs = lq_named("f", 1, S);
    lc_grant(&t, &c[0], &qx);
    uint64_t w1 = lc_queue(&t, &c[1], qx, 0);
    uint64_t w2 = lc_queue(&t, &c[2], qs, 0);
    uint64_t w3 = lc_queue(&t, &c[3], qs, 0);
    uint64_t w4 = lc_queue(&t, &c[4], qx, 0);
    uint64_t w5 = lc_queue(&t, &c[5], qs, 0);
    struct grants_out g;
    CHECK_OK(lc_release(&t, &c[0], &qx, &g));
    CHECK_EQ(g.n, 1);
    CHECK_EQ_U64(g.g[0].wait_id, w1);
    CHECK_OK(lc_release(&t, &c[1], &qx, &g));
    CHECK_EQ(g.n, 2); /* both shared waiters, one token */
    CHECK_EQ_U64(g.g[0].wait_id, w2);
    CHECK_EQ_U64(g.g[1].wait_id, w3);
    CHECK_EQ_U64(g.g[0].token, g.g[1].token);
    /* compatible with the shared holders, but an exclusive request waits
     * ahead: a new shared one may not jump the queue */
    CHECK_EQ(lc_acquire(&t, &c[6], &qs, NULL), CAIRN_EAGAIN);
    uint64_t w6 = lc_queue(&t, &c[6], qs, 0);
    CHECK_OK(lc_release(&t, &c[2], &qs, &g));
    CHECK_EQ(g.n, 0);
    CHECK_OK(lc_release(&t, &c[3], &qs, &g));
    CHECK_EQ(g.n, 1);
    CHECK_EQ_U64(g.g[0].wait_id, w4);
    CHECK_OK(lc_release(&t, &c[4], &qx, &g));
    CHECK_EQ(g.n, 2);
    CHECK_EQ_U64(g.g[0].wait_id, w5);
    CHECK_EQ_U64(g.g[1].wait_id, w6);
    mt_free(&t);
}

TEST(lock_try_vs_wait)
{
    struct mt t;
    mt_init(&t);
    struct lc a = lc_open(&t, 60000), b = lc_open(&t, 60000);
    struct meta_lock_req q = lq_named("tw", 1, X);
    lc_grant(&t, &a, &q);
    uint64_t d = lc_digest_without(t.m, b.session, t.now);
    /* a try that fails leaves nothing behind */
    CHECK_EQ(lc_acquire(&t, &b, &q, NULL), CAIRN_EAGAIN);
    CHECK_EQ_U64(lc_digest_without(t.m, b.session, t.now), d);
    uint64_t w = lc_queue(&t, &b, q, 0);
    /* one wait per holder and lock */
    struct meta_lock_req again = q;
    again.flags = META_LOCK_WAIT;
    CHECK_EQ(lc_acquire(&t, &b, &again, NULL), CAIRN_EBUSY);
    struct grants_out g;
    CHECK_OK(lc_release(&t, &a, &q, &g));
    CHECK_EQ(g.n, 1);
    CHECK_EQ_U64(g.g[0].wait_id, w);
    mt_free(&t);
}

TEST(lock_waiter_cancel_and_deadline)
{
    struct mt t;
    mt_init(&t);
    struct lc a = lc_open(&t, 60000), b = lc_open(&t, 60000), c = lc_open(&t, 60000);
    struct meta_lock_req q = lq_named("cd", 1, X);
    lc_grant(&t, &a, &q);
    uint64_t wb = lc_queue(&t, &b, q, 0);
    uint64_t wc = lc_queue(&t, &c, q, 2000);
    /* only the waiter's session cancels it */
    CHECK_EQ(lc_cancel(&t, &c, wb, NULL), CAIRN_ENOENT);
    struct grants_out g;
    CHECK_OK(lc_cancel(&t, &b, wb, &g));
    CHECK_EQ(g.n, 0);
    CHECK_EQ(lc_cancel(&t, &b, wb, NULL), CAIRN_ENOENT);
    /* c's wait deadline passes: a TICK drops it; the release grants nobody */
    t.now += 3 * MT_SEC;
    lc_tick(&t);
    CHECK_EQ(lc_cancel(&t, &c, wc, NULL), CAIRN_ENOENT);
    CHECK_OK(lc_release(&t, &a, &q, &g));
    CHECK_EQ(g.n, 0);
    /* a deadline that passed before any TICK: never granted either */
    lc_grant(&t, &a, &q);
    lc_queue(&t, &c, q, 1000);
    t.now += 2 * MT_SEC;
    CHECK_OK(lc_release(&t, &a, &q, &g));
    CHECK_EQ(g.n, 0);
    struct status_out st;
    lc_status(&t, &q, c.session, &st);
    CHECK_EQ(st.n_held + st.n_wait, 0);
    CHECK_EQ(st.last_token, 0); /* nobody holds or waits: the lock is gone */
    mt_free(&t);
}

/* The grants meta_lock_grants() reports for the last applied command. */
static uint32_t last_grants(struct mt *t, struct meta_lock_grant *out, uint32_t max)
{
    const struct meta_lock_grant *g;
    size_t n = meta_lock_grants(t->m, &g);
    CHECK(n <= max);
    if (n)
        memcpy(out, g, n * sizeof *g);
    return (uint32_t)n;
}

TEST(lock_session_expiry_releases)
{
    struct mt t;
    mt_init(&t);
    struct lc a = lc_open(&t, 1000), b = lc_open(&t, 60000), c = lc_open(&t, 60000);
    struct meta_lock_req q = lq_named("exp", 1, X), q2 = lq_named("exp2", 1, S);
    struct meta_lock_req q3 = lq_named("exp3", 1, X);
    lc_grant(&t, &a, &q);
    lc_grant(&t, &a, &q2);
    lc_grant(&t, &c, &q3);
    lc_queue(&t, &a, q3, 0);
    uint64_t wb = lc_queue(&t, &b, q, 0);
    /* a stops renewing its lease; the next TICK expires it */
    t.now += 2 * MT_SEC;
    lc_tick(&t);
    struct meta_lock_grant g[8];
    CHECK_EQ(last_grants(&t, g, 8), 1);
    CHECK_EQ_U64(g[0].session, b.session);
    CHECK_EQ_U64(g[0].wait_id, wb);
    CHECK_EQ_U64(g[0].token, t.index);
    struct grants_out go;
    CHECK_OK(lc_release(&t, &c, &q3, &go));
    CHECK_EQ(go.n, 0); /* a's wait went with its session */
    struct status_out st;
    lc_status(&t, &q2, a.session, &st);
    CHECK_EQ(st.n_held + st.n_wait + st.last_token, 0);
    /* a clean close releases too and wakes the next waiter */
    uint64_t wc = lc_queue(&t, &c, q, 0);
    CHECK_OK(lc_close(&t, &b));
    CHECK_EQ(last_grants(&t, g, 8), 1);
    CHECK_EQ_U64(g[0].wait_id, wc);
    /* an expired session found by its own next command: released there */
    struct lc e = lc_open(&t, 1000), f = lc_open(&t, 60000);
    struct meta_lock_req lz = lq_named("lazy", 1, X);
    lc_grant(&t, &e, &lz);
    uint64_t wf = lc_queue(&t, &f, lz, 0);
    t.now += 2 * MT_SEC;
    CHECK_EQ(lc_acquire(&t, &e, &q2, NULL), CAIRN_SESSION);
    CHECK_EQ(last_grants(&t, g, 8), 1);
    CHECK_EQ_U64(g[0].wait_id, wf);
    mt_free(&t);
}

/* After an expiry (not a clean release) the lock stays unavailable for the
 * holder's lock-delay; waiters are granted at the first TICK after it. */
TEST(lock_delay_after_expiry)
{
    struct mt t;
    mt_init(&t);
    struct lc a = lc_open(&t, 1000), b = lc_open(&t, 60000), c = lc_open(&t, 60000);
    struct meta_lock_req q = lq_named("ld", 1, X);
    q.delay_ms = 5000;
    lc_grant(&t, &a, &q);
    uint64_t wb = lc_queue(&t, &b, q, 0);
    t.now += 2 * MT_SEC;
    lc_tick(&t); /* a expires at now: delay until now + 5 s */
    struct meta_lock_grant g[4];
    CHECK_EQ(last_grants(&t, g, 4), 0);
    CHECK_EQ(lc_acquire(&t, &c, &q, NULL), CAIRN_EAGAIN);
    t.now += 4 * MT_SEC;
    lc_tick(&t);
    CHECK_EQ(last_grants(&t, g, 4), 0);
    t.now += 2 * MT_SEC;
    lc_tick(&t);
    CHECK_EQ(last_grants(&t, g, 4), 1);
    CHECK_EQ_U64(g[0].wait_id, wb);
    /* a clean release with the same delay: the waiter goes at once */
    uint64_t wc = lc_queue(&t, &c, q, 0);
    struct grants_out go;
    CHECK_OK(lc_release(&t, &b, &q, &go));
    CHECK_EQ(go.n, 1);
    CHECK_EQ_U64(go.g[0].wait_id, wc);
    /* a clean close: no delay either */
    CHECK_OK(lc_close(&t, &c));
    lc_grant(&t, &b, &q);
    /* a delay on a lock nobody waits for: still unavailable until a TICK */
    struct lc d = lc_open(&t, 1000);
    struct meta_lock_req q2 = lq_named("ld2", 1, S);
    q2.delay_ms = 1000;
    lc_grant(&t, &d, &q2);
    t.now += 2 * MT_SEC;
    lc_tick(&t);
    CHECK_EQ(lc_acquire(&t, &b, &q2, NULL), CAIRN_EAGAIN);
    t.now += 2 * MT_SEC;
    CHECK_EQ(lc_acquire(&t, &b, &q2, NULL), CAIRN_EAGAIN); /* passed, no TICK yet */
    lc_tick(&t);
    lc_grant(&t, &b, &q2);
    mt_free(&t);
}

static int alloc_fenced(struct mt *t, uint64_t token, uint64_t ino, uint32_t index)
{
    MT_BEGIN(t);
    uint32_t rep[1] = {1};
    CHECK_OK(
        meta_cmd_chunk_alloc_fenced(&t->cmd, &h_, token, ino, index, t->now + 60 * MT_SEC, rep, 1));
    return mt_apply(t);
}

static void add_node(struct mt *t)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_node_register(&t->cmd, &h, 0, "127.0.0.1:9", "", 1 << 30, 0));
    CHECK_OK(mt_apply(t));
}

/* Tokens strictly increase per lock, also after a leader change (a new
 * state from a snapshot applying later indexes); a fenced chunk write with
 * an older token than the file has seen is refused. */
TEST(lock_fencing_tokens)
{
    struct mt t;
    mt_init(&t);
    add_node(&t);
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "file", 0644, 1, &f));
    struct lc a = lc_open(&t, 60000), b = lc_open(&t, 60000);
    struct meta_lock_req q = lq_flock(f.ino, 1, X);
    uint64_t last = 0;
    for (int i = 0; i < 5; i++) {
        struct lc *c = i % 2 ? &b : &a;
        uint64_t tok = lc_grant(&t, c, &q);
        CHECK(tok > last);
        last = tok;
        CHECK_OK(lc_release(&t, c, &q, NULL));
    }
    /* leader change: the new leader's state comes from a snapshot */
    struct meta *copy = mt_snapshot_copy(t.m);
    meta_free(t.m);
    t.m = copy;
    t.index += 10;
    uint64_t ta = lc_grant(&t, &a, &q);
    CHECK(ta > last);
    CHECK_OK(alloc_fenced(&t, ta, f.ino, 0));
    CHECK_OK(lc_release(&t, &a, &q, NULL));
    uint64_t tb = lc_grant(&t, &b, &q);
    CHECK(tb > ta);
    /* a paused former holder writes with its old token: fenced */
    CHECK_EQ(alloc_fenced(&t, ta, f.ino, 1), CAIRN_FENCED);
    CHECK_OK(alloc_fenced(&t, tb, f.ino, 1));
    CHECK_EQ(alloc_fenced(&t, 0, f.ino, 2), CAIRN_EINVAL);
    CHECK_EQ(alloc_fenced(&t, t.index + 1, f.ino, 2), CAIRN_EINVAL);
    /* a named lock protecting the file: its newer token moves the fence */
    struct meta_lock_req n = lq_named("file-lock", 1, X);
    uint64_t tn = lc_grant(&t, &a, &n);
    CHECK_OK(alloc_fenced(&t, tn, f.ino, 2));
    CHECK_EQ(alloc_fenced(&t, tb, f.ino, 3), CAIRN_FENCED);
    /* COND around a fenced alloc */
    struct meta_attr cur;
    CHECK_OK(mt_getattr(&t, f.ino, &cur));
    struct cairn_buf inner;
    buf_init(&inner, 0);
    struct meta_hdr hi = mt_hdr_plain(&t, 0);
    uint32_t rep[1] = {1};
    CHECK_OK(meta_cmd_chunk_alloc_fenced(&inner, &hi, tb, f.ino, 3, t.now + MT_SEC, rep, 1));
    MT_BEGIN(&t);
    CHECK_OK(meta_cmd_cond(&t.cmd, &h_, f.ino, cur.version, inner.data, inner.len));
    CHECK_EQ(mt_apply(&t), CAIRN_FENCED);
    buf_free(&inner);
    /* a byte range of the file does not move its fence; the whole file does */
    struct meta_lock_req part = lq_posix(f.ino, 1, X, 0, 100);
    lc_grant(&t, &b, &part);
    CHECK_OK(alloc_fenced(&t, tn, f.ino, 3));
    struct meta_lock_req whole = lq_posix(f.ino, 1, X, 0, UINT64_MAX);
    lc_grant(&t, &b, &whole);
    CHECK_EQ(alloc_fenced(&t, tn, f.ino, 4), CAIRN_FENCED);
    /* the file goes: its fence goes with it */
    CHECK_OK(lc_release(&t, &b, &q, NULL));
    CHECK_OK(mt_unlink(&t, 1, "file"));
    struct meta *c2 = mt_snapshot_copy(t.m);
    meta_free(c2);
    mt_free(&t);
}

/* Holder (session, owner) of POSIX ranges: ranges of one owner merge and
 * split; different owners conflict only where they overlap. */
struct rng {
    uint8_t mode;
    uint64_t start, end;
};

static void expect_ranges(struct mt *t, uint64_t ino, uint64_t session, uint64_t owner,
                          const struct rng *want, uint32_t n)
{
    struct meta_lock_req q = lq_posix(ino, owner, S, 0, 1);
    struct status_out st;
    lc_status(t, &q, session, &st);
    CHECK_EQ(st.n_held, n);
    for (uint32_t i = 0; i < n; i++) {
        CHECKF(st.held[i].mode == want[i].mode && st.held[i].start == want[i].start &&
                   st.held[i].end == want[i].end,
               "range %u: got %u [%llu, %llu) want %u [%llu, %llu)", i, st.held[i].mode,
               (unsigned long long)st.held[i].start, (unsigned long long)st.held[i].end,
               want[i].mode, (unsigned long long)want[i].start, (unsigned long long)want[i].end);
    }
}

TEST(lock_posix_ranges)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "r", 0666, 1, &f));
    struct lc a = lc_open(&t, 60000), b = lc_open(&t, 60000);
    struct meta_lock_req ax = lq_posix(f.ino, 1, X, 0, 100);
    lc_grant(&t, &a, &ax);
    struct meta_lock_req bs = lq_posix(f.ino, 1, S, 50, 60);
    CHECK_EQ(lc_acquire(&t, &b, &bs, NULL), CAIRN_EAGAIN);
    /* touching ranges do not overlap */
    struct meta_lock_req bt = lq_posix(f.ino, 1, X, 100, 200);
    lc_grant(&t, &b, &bt);
    /* unlock the middle: split in two */
    struct meta_lock_req un = lq_posix(f.ino, 1, X, 40, 60);
    CHECK_OK(lc_release(&t, &a, &un, NULL));
    struct rng w1[] = {{X, 0, 40}, {X, 60, 100}};
    expect_ranges(&t, f.ino, a.session, 1, w1, 2);
    lc_grant(&t, &b, &bs);
    /* another mode next to a range: kept apart; the same mode: merged */
    struct meta_lock_req as = lq_posix(f.ino, 1, S, 40, 50);
    lc_grant(&t, &a, &as);
    struct rng w2[] = {{X, 0, 40}, {S, 40, 50}, {X, 60, 100}};
    expect_ranges(&t, f.ino, a.session, 1, w2, 3);
    struct meta_lock_req ax2 = lq_posix(f.ino, 1, X, 30, 50);
    uint64_t tk = lc_grant(&t, &a, &ax2);
    struct rng w3[] = {{X, 0, 50}, {X, 60, 100}};
    expect_ranges(&t, f.ino, a.session, 1, w3, 2);
    struct status_out st;
    lc_status(&t, &ax2, a.session, &st);
    CHECK_EQ_U64(st.held[0].token_or_wait, tk); /* the merged range: the new token */
    CHECK(st.held[1].token_or_wait < tk);       /* untouched: its own */
    /* converting within an own range: split around it */
    struct meta_lock_req ax3 = lq_posix(f.ino, 1, S, 10, 20);
    lc_grant(&t, &a, &ax3);
    struct rng w4[] = {{X, 0, 10}, {S, 10, 20}, {X, 20, 50}, {X, 60, 100}};
    expect_ranges(&t, f.ino, a.session, 1, w4, 4);
    /* another owner of the same session is another holder */
    struct meta_lock_req o2 = lq_posix(f.ino, 2, S, 10, 20);
    lc_grant(&t, &a, &o2);
    o2.start = 5;
    CHECK_EQ(lc_acquire(&t, &a, &o2, NULL), CAIRN_EAGAIN);
    /* to the end of the file and beyond */
    struct meta_lock_req eof = lq_posix(f.ino, 3, X, 1000, UINT64_MAX);
    lc_grant(&t, &a, &eof);
    struct meta_lock_req big = lq_posix(f.ino, 1, S, 5000, 5001);
    CHECK_EQ(lc_acquire(&t, &b, &big, NULL), CAIRN_EAGAIN);
    /* unlock of what one does not hold: fine (POSIX) */
    struct meta_lock_req none = lq_posix(f.ino, 9, X, 0, 10);
    CHECK_OK(lc_release(&t, &b, &none, NULL));
    /* a waiter for a range goes when its conflicts go, not before */
    struct meta_lock_req bw = lq_posix(f.ino, 1, X, 0, 10);
    uint64_t w = lc_queue(&t, &b, bw, 0);
    struct grants_out g;
    struct meta_lock_req a_all = lq_posix(f.ino, 1, X, 0, UINT64_MAX);
    CHECK_OK(lc_release(&t, &a, &a_all, &g));
    CHECK_EQ(g.n, 1);
    CHECK_EQ_U64(g.g[0].wait_id, w);
    /* not fair: a compatible request passes a waiting conflicting one */
    struct meta_lock_req bx = lq_posix(f.ino, 1, X, 50, 70);
    lc_grant(&t, &b, &bx);
    struct meta_lock_req aw = lq_posix(f.ino, 1, X, 60, 80);
    lc_queue(&t, &a, aw, 0);
    struct meta_lock_req as2 = lq_posix(f.ino, 1, S, 75, 90);
    lc_grant(&t, &a, &as2); /* the same owner's own waiter does not block it */
    /* permission: shared needs read, exclusive write access */
    CHECK_OK(mt_create(&t, 1, "ro", 0444, 1, &f));
    mt_as(&t, 1000, 1000, 0);
    struct meta_lock_req rw = lq_posix(f.ino, 1, X, 0, 1);
    CHECK_EQ(lc_acquire(&t, &a, &rw, NULL), CAIRN_EACCES);
    rw.mode = S;
    lc_grant(&t, &a, &rw);
    struct meta_lock_req gone = lq_posix(999999, 1, S, 0, 1);
    CHECK_EQ(lc_acquire(&t, &a, &gone, NULL), CAIRN_ENOENT);
    mt_free(&t);
}

TEST(lock_flock_whole_file)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "fl", 0644, 1, &f));
    struct lc a = lc_open(&t, 60000), b = lc_open(&t, 60000), c = lc_open(&t, 60000);
    struct meta_lock_req s1 = lq_flock(f.ino, 1, S), x1 = lq_flock(f.ino, 1, X);
    uint64_t ta = lc_grant(&t, &a, &s1);
    lc_grant(&t, &b, &s1);
    /* flock again in the same mode: granted, same token, nothing new */
    CHECK_EQ_U64(lc_grant(&t, &a, &s1), ta);
    /* flock and fcntl locks do not interact (as Linux) */
    struct meta_lock_req px = lq_posix(f.ino, 1, X, 0, UINT64_MAX);
    lc_grant(&t, &c, &px);
    uint64_t wc = lc_queue(&t, &c, x1, 0);
    /* a try conversion that cannot go: EAGAIN, the shared lock stays */
    CHECK_EQ(lc_acquire(&t, &a, &x1, NULL), CAIRN_EAGAIN);
    struct status_out st;
    lc_status(&t, &s1, a.session, &st);
    CHECK_EQ(st.n_held, 1);
    /* a waiting conversion gives up the shared lock first (no deadlock of
     * two converting holders) and queues behind c */
    uint64_t wa = lc_queue(&t, &a, x1, 0);
    lc_status(&t, &s1, a.session, &st);
    CHECK_EQ(st.n_held, 0);
    CHECK_EQ(st.n_wait, 1);
    CHECK_EQ(st.wait[0].wait_id_or_pos, 1); /* second in the queue */
    struct grants_out g;
    CHECK_OK(lc_release(&t, &b, &s1, &g));
    CHECK_EQ(g.n, 1);
    CHECK_EQ_U64(g.g[0].wait_id, wc);
    CHECK_OK(lc_release(&t, &c, &x1, &g));
    CHECK_EQ(g.n, 1);
    CHECK_EQ_U64(g.g[0].wait_id, wa);
    /* downgrade in place when nothing conflicts */
    lc_grant(&t, &a, &s1);
    lc_grant(&t, &b, &s1);
    /* unlocking nothing is not an error for flock */
    CHECK_OK(lc_release(&t, &c, &s1, NULL));
    mt_free(&t);
}

/* A retried acquire (same session and seq) gets the cached reply and
 * grants nothing twice. */
TEST(lock_exactly_once_acquire)
{
    struct mt t;
    mt_init(&t);
    struct lc a = lc_open(&t, 60000), b = lc_open(&t, 60000);
    struct meta_lock_req q = lq_named("once", 1, X);
    struct meta_hdr h = lc_hdr(&t, &a);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_lock_acquire(&t.cmd, &h, &q));
    CHECK_OK(mt_apply(&t));
    uint64_t tok = wire_load_u64(t.reply.data + 5);
    struct cairn_buf first;
    buf_init(&first, 0);
    CHECK_OK(buf_append(&first, t.reply.data, t.reply.len));
    uint64_t d = meta_digest(t.m);
    t.now += MT_SEC / 1000;
    CHECK_OK(mt_apply(&t)); /* the same bytes again */
    CHECK_EQ(t.reply.len, first.len);
    CHECK_MEM_EQ(t.reply.data, first.data, first.len);
    CHECK_EQ_U64(wire_load_u64(t.reply.data + 5), tok);
    struct meta_lock_grant g[2];
    CHECK_EQ(last_grants(&t, g, 2), 0);
    (void)d;
    struct status_out st;
    lc_status(&t, &q, a.session, &st);
    CHECK_EQ(st.n_held, 1);
    CHECK_EQ_U64(st.held[0].token_or_wait, tok);
    /* a queued acquire retried: still one waiter */
    h = lc_hdr(&t, &b);
    q.flags = META_LOCK_WAIT;
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_lock_acquire(&t.cmd, &h, &q));
    CHECK_OK(mt_apply(&t));
    CHECK_OK(mt_apply(&t));
    CHECK_EQ(t.reply.data[4], META_LOCK_QUEUED);
    lc_status(&t, &q, b.session, &st);
    CHECK_EQ(st.n_wait, 1);
    /* a retried release grants nothing again */
    q.flags = 0;
    h = lc_hdr(&t, &a);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_lock_release(&t.cmd, &h, &q));
    CHECK_OK(mt_apply(&t));
    CHECK_EQ(last_grants(&t, g, 2), 1);
    CHECK_OK(mt_apply(&t));
    CHECK_EQ(last_grants(&t, g, 2), 0);
    CHECK_EQ(wire_load_u32(t.reply.data + 4), 1); /* the cached reply still lists it */
    buf_free(&first);
    mt_free(&t);
}

/* --- snapshot round trip ------------------------------------------------------ */

static void same_grants(struct mt *t)
{
    const struct meta_lock_grant *a, *b;
    size_t na = meta_lock_grants(t->m, &a), nb = meta_lock_grants(t->shadow, &b);
    CHECK_EQ(na, nb);
    CHECK(na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* Every kind of lock state survives a snapshot: the digest is equal, and a
 * replica restored from it answers every later command byte for byte as
 * the original (mt's shadow), granting the same waiters. */
TEST(lock_snapshot_round_trip)
{
    struct mt t;
    mt_init(&t);
    add_node(&t);
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "snapf", 0666, 1, &f));
    struct lc a = lc_open(&t, 60000), b = lc_open(&t, 60000), c = lc_open(&t, 60000);
    struct lc d = lc_open(&t, 1000);
    struct meta_lock_req nx = lq_named("n/x", 1, X), ns = lq_named("n/s", 1, S);
    lc_grant(&t, &a, &nx);
    uint64_t wb = lc_queue(&t, &b, nx, 30000);
    lc_queue(&t, &c, lq_named("n/x", 2, S), 0);
    lc_grant(&t, &a, &ns);
    lc_grant(&t, &b, &ns);
    struct meta_lock_req fl = lq_flock(f.ino, 5, S);
    lc_grant(&t, &c, &fl);
    struct meta_lock_req p1 = lq_posix(f.ino, 1, X, 0, 100), p2 = lq_posix(f.ino, 1, S, 40, 60);
    lc_grant(&t, &a, &p1);
    lc_grant(&t, &a, &p2);
    lc_queue(&t, &b, lq_posix(f.ino, 3, S, 50, 150), 0);
    struct meta_lock_req dl = lq_named("delayed", 1, X);
    dl.delay_ms = 10000;
    lc_grant(&t, &d, &dl);
    lc_queue(&t, &c, dl, 0);
    CHECK_OK(alloc_fenced(&t, t.index - 1, f.ino, 0));
    t.now += 2 * MT_SEC;
    lc_tick(&t); /* d expires: "delayed" runs its lock-delay */
    t.shadow = mt_snapshot_copy(t.m);
    /* the same future on both */
    struct grants_out g;
    CHECK_OK(lc_release(&t, &a, &nx, &g));
    same_grants(&t);
    CHECK_EQ(g.n, 1);
    CHECK_EQ_U64(g.g[0].wait_id, wb);
    CHECK_OK(lc_release(&t, &a, &p1, &g));
    same_grants(&t);
    CHECK_EQ(g.n, 1);
    t.now += 11 * MT_SEC;
    lc_tick(&t);
    same_grants(&t);
    struct meta_lock_grant lg[4];
    CHECK_EQ(last_grants(&t, lg, 4), 1); /* the delay ended: c gets "delayed" */
    CHECK_OK(lc_close(&t, &b));
    same_grants(&t);
    CHECK_EQ_U64(meta_digest(t.m), meta_digest(t.shadow));
    struct meta *again = mt_snapshot_copy(t.shadow);
    meta_free(again);
    mt_free(&t);
}

/* --- random operations against a reference model --------------------------------
 * The model keeps each holder's locks as a mode per byte of a 16-byte file
 * (named and flock locks cover every byte), waiters as a list, and follows
 * the rules of docs/locks.md in the plainest way; after every operation the
 * replies, the grants and the whole lock table (LOCK_LIST) must agree. */

#define MB 16  /* bytes of the modelled file */
#define MH 16  /* holders per lock */
#define MW 64  /* waiters per lock */
#define MCL 4  /* clients */
#define MLK 4  /* locks: named "a", named "b", flock and POSIX on one file */
#define MR 128 /* ranges or waiters in one listed lock */

struct mhold {
    uint64_t sess, owner;
    uint8_t mode[MB];
    uint64_t token[MB], wait_id[MB];
    uint32_t delay[MB];
};

struct mwait {
    uint64_t sess, owner, wait_id, deadline;
    uint32_t s, e, delay;
    uint8_t mode;
};

struct mlock {
    uint8_t kind;
    struct mhold h[MH];
    int nh;
    struct mwait w[MW];
    int nw;
    uint64_t delay_until, last_token;
};

struct mclient {
    struct lc c;
    uint64_t lease, expiry;
    int live;
};

struct model {
    struct mlock l[MLK];
    struct mclient cl[MCL];
    uint64_t now, index, ino;
    struct meta_lock_grant g[256];
    int ng;
};

static int m_dead(const struct model *M, const struct mwait *w)
{
    return w->deadline && w->deadline < M->now;
}

static int m_blocked(const struct model *M, const struct mlock *L, uint64_t sess, uint64_t owner,
                     uint8_t mode, uint32_t s, uint32_t e, int ahead)
{
    if (L->delay_until)
        return 1;
    for (int i = 0; i < L->nh; i++) {
        const struct mhold *h = &L->h[i];
        if (h->sess == sess && h->owner == owner)
            continue;
        for (uint32_t b = s; b < e; b++)
            if (h->mode[b] && (h->mode[b] == X || mode == X))
                return 1;
    }
    if (L->kind == META_LOCK_POSIX)
        return 0;
    for (int i = 0; i < ahead; i++) {
        const struct mwait *w = &L->w[i];
        if (m_dead(M, w) || (w->sess == sess && w->owner == owner))
            continue;
        if (w->s < e && s < w->e && (w->mode == X || mode == X))
            return 1;
    }
    return 0;
}

static struct mhold *m_holder(struct mlock *L, uint64_t sess, uint64_t owner, int create)
{
    for (int i = 0; i < L->nh; i++)
        if (L->h[i].sess == sess && L->h[i].owner == owner)
            return &L->h[i];
    if (!create)
        return NULL;
    CHECK(L->nh < MH);
    struct mhold *h = &L->h[L->nh++];
    memset(h, 0, sizeof *h);
    h->sess = sess;
    h->owner = owner;
    return h;
}

static void m_drop_empty(struct mlock *L)
{
    for (int i = 0; i < L->nh;) {
        int any = 0;
        for (int b = 0; b < MB; b++)
            any |= L->h[i].mode[b] != 0;
        if (any) {
            i++;
            continue;
        }
        L->h[i] = L->h[--L->nh];
    }
}

/* Set (mode != 0) or clear the holder's bytes; a grant gives its token to
 * the whole run of that mode it joins. */
static void m_set(struct mlock *L, uint64_t sess, uint64_t owner, uint32_t s, uint32_t e,
                  uint8_t mode, uint64_t token, uint64_t wait_id, uint32_t delay)
{
    struct mhold *h = m_holder(L, sess, owner, mode != 0);
    if (!h)
        return;
    uint32_t lo = s, hi = e;
    while (mode && lo > 0 && h->mode[lo - 1] == mode)
        lo--;
    while (mode && hi < MB && h->mode[hi] == mode)
        hi++;
    for (uint32_t b = lo; b < hi; b++) {
        h->mode[b] = mode;
        h->token[b] = mode ? token : 0;
        h->wait_id[b] = mode ? wait_id : 0;
        h->delay[b] = mode ? delay : 0;
    }
    if (mode)
        L->last_token = token;
    m_drop_empty(L);
}

static void m_wait_del(struct mlock *L, int i)
{
    memmove(&L->w[i], &L->w[i + 1], (size_t)(L->nw - i - 1) * sizeof *L->w);
    L->nw--;
}

static void m_promote(struct model *M, struct mlock *L)
{
    int i = 0;
    while (i < L->nw) {
        struct mwait w = L->w[i];
        if (m_dead(M, &w)) {
            m_wait_del(L, i);
            continue;
        }
        if (m_blocked(M, L, w.sess, w.owner, w.mode, w.s, w.e, i)) {
            i++;
            continue;
        }
        m_wait_del(L, i);
        m_set(L, w.sess, w.owner, w.s, w.e, w.mode, M->index, w.wait_id, w.delay);
        M->g[M->ng++] = (struct meta_lock_grant){w.sess, w.wait_id, M->index};
    }
}

static int m_in(const uint64_t *ids, int n, uint64_t x)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == x)
            return 1;
    return 0;
}

static void m_end_sessions(struct model *M, const uint64_t *ids, int n, int expired)
{
    for (int k = 0; k < MLK; k++) {
        struct mlock *L = &M->l[k];
        int changed = 0;
        uint32_t delay = 0;
        for (int i = 0; i < L->nh;) {
            struct mhold *h = &L->h[i];
            if (!m_in(ids, n, h->sess)) {
                i++;
                continue;
            }
            for (int b = 0; b < MB && expired; b++)
                if (h->mode[b] && h->delay[b] > delay)
                    delay = h->delay[b];
            L->h[i] = L->h[--L->nh];
            changed = 1;
        }
        for (int i = 0; i < L->nw;) {
            if (m_in(ids, n, L->w[i].sess)) {
                m_wait_del(L, i);
                changed = 1;
            } else {
                i++;
            }
        }
        if (delay && M->now + delay * 1000000ull > L->delay_until)
            L->delay_until = M->now + delay * 1000000ull;
        if (changed)
            m_promote(M, L);
    }
}

/* The session rules: an expired session found by its own command ends. */
static int m_session_ok(struct model *M, struct mclient *c)
{
    if (!c->live)
        return 0;
    if (c->expiry < M->now) {
        m_end_sessions(M, &c->c.session, 1, 1);
        c->live = 0;
        return 0;
    }
    return 1;
}

static void m_tick(struct model *M)
{
    uint64_t ids[MCL];
    int n = 0;
    for (uint64_t best = 0;;) { /* in session id order */
        int pick = -1;
        for (int i = 0; i < MCL; i++)
            if (M->cl[i].live && M->cl[i].expiry < M->now && M->cl[i].c.session > best &&
                (pick < 0 || M->cl[i].c.session < M->cl[pick].c.session))
                pick = i;
        if (pick < 0)
            break;
        best = M->cl[pick].c.session;
        ids[n++] = best;
        M->cl[pick].live = 0;
    }
    m_end_sessions(M, ids, n, 1);
    for (int k = 0; k < MLK; k++) {
        struct mlock *L = &M->l[k];
        int changed = 0;
        if (L->delay_until && L->delay_until <= M->now) {
            L->delay_until = 0;
            changed = 1;
        }
        for (int i = 0; i < L->nw; i++)
            changed |= m_dead(M, &L->w[i]);
        if (changed)
            m_promote(M, L);
    }
}

struct mop {
    int lock;
    uint64_t owner;
    uint8_t mode, wait;
    uint32_t s, e, wait_ms, delay_ms;
};

static int m_acquire(struct model *M, struct mclient *c, const struct mop *op, struct acq_out *o)
{
    if (!m_session_ok(M, c))
        return CAIRN_SESSION;
    c->expiry = M->now + c->lease;
    struct mlock *L = &M->l[op->lock];
    uint64_t sess = c->c.session;
    for (int i = 0; i < L->nw && L->kind != META_LOCK_POSIX; i++)
        if (L->w[i].sess == sess && L->w[i].owner == op->owner)
            return CAIRN_EBUSY;
    struct mhold *h = m_holder(L, sess, op->owner, 0);
    if (h && L->kind == META_LOCK_NAMED)
        return CAIRN_EBUSY;
    if (h && L->kind == META_LOCK_FLOCK && h->mode[0] == op->mode) {
        *o = (struct acq_out){META_LOCK_GRANTED, h->token[0], 0};
        return 0;
    }
    int blocked = m_blocked(M, L, sess, op->owner, op->mode, op->s, op->e, L->nw);
    if (blocked && !op->wait)
        return CAIRN_EAGAIN;
    if (blocked && h && L->kind == META_LOCK_FLOCK) {
        m_set(L, sess, op->owner, 0, MB, 0, 0, 0, 0);
        m_promote(M, L);
        blocked = m_blocked(M, L, sess, op->owner, op->mode, op->s, op->e, L->nw);
    }
    if (!blocked) {
        m_set(L, sess, op->owner, op->s, op->e, op->mode, M->index, 0, op->delay_ms);
        *o = (struct acq_out){META_LOCK_GRANTED, M->index, 0};
        return 0;
    }
    CHECK(L->nw < MW);
    L->w[L->nw++] = (struct mwait){
        sess,  op->owner, M->index,     op->wait_ms ? M->now + op->wait_ms * 1000000ull : 0,
        op->s, op->e,     op->delay_ms, op->mode};
    *o = (struct acq_out){META_LOCK_QUEUED, 0, M->index};
    return 0;
}

static int m_release(struct model *M, struct mclient *c, const struct mop *op)
{
    if (!m_session_ok(M, c))
        return CAIRN_SESSION;
    c->expiry = M->now + c->lease;
    struct mlock *L = &M->l[op->lock];
    if (!m_holder(L, c->c.session, op->owner, 0))
        return L->kind == META_LOCK_NAMED ? CAIRN_ENOENT : 0;
    m_set(L, c->c.session, op->owner, op->s, op->e, 0, 0, 0, 0);
    m_promote(M, L);
    return 0;
}

static int m_cancel(struct model *M, struct mclient *c, uint64_t wait_id)
{
    if (!m_session_ok(M, c))
        return CAIRN_SESSION;
    c->expiry = M->now + c->lease;
    for (int k = 0; k < MLK; k++) {
        struct mlock *L = &M->l[k];
        for (int i = 0; i < L->nw; i++) {
            if (L->w[i].wait_id != wait_id)
                continue;
            if (L->w[i].sess != c->c.session)
                return CAIRN_ENOENT;
            m_wait_del(L, i);
            m_promote(M, L);
            return 0;
        }
    }
    return CAIRN_ENOENT;
}

/* One listed lock, as LOCK_LIST describes it. */
struct lrec {
    uint8_t kind;
    uint64_t ino, last_token, delay_until;
    uint8_t name[8];
    uint16_t name_len;
    uint32_t nh, nw;
    struct {
        uint64_t sess, owner, s, e, a, b;
        uint8_t mode;
    } h[MR], w[MR];
};

static uint32_t list_locks(struct mt *t, struct lrec *out, uint32_t max)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_lock_list(&t->cmd, &h, 0, NULL, NULL, CAIRN_LOCK_LIST_MAX));
    CHECK_OK(mt_query(t));
    struct wire_dec d;
    wire_dec_init(&d, t->reply.data + 4, t->reply.len - 4);
    uint32_t n = wire_get_u32(&d);
    CHECK(n <= max);
    for (uint32_t i = 0; i < n; i++) {
        struct lrec *x = &out[i];
        memset(x, 0, sizeof *x);
        x->kind = wire_get_u8(&d);
        x->ino = wire_get_u64(&d);
        struct wire_bytes nm = wire_get_str16(&d, 255);
        CHECK(nm.len <= sizeof x->name);
        memcpy(x->name, nm.p, nm.len);
        x->name_len = (uint16_t)nm.len;
        x->last_token = wire_get_u64(&d);
        x->delay_until = wire_get_u64(&d);
        x->nh = wire_get_u32(&d);
        CHECK(x->nh <= MR);
        for (uint32_t k = 0; k < x->nh; k++) {
            x->h[k].sess = wire_get_u64(&d);
            x->h[k].owner = wire_get_u64(&d);
            x->h[k].mode = wire_get_u8(&d);
            x->h[k].s = wire_get_u64(&d);
            x->h[k].e = wire_get_u64(&d);
            x->h[k].a = wire_get_u64(&d);
        }
        x->nw = wire_get_u32(&d);
        CHECK(x->nw <= MR);
        for (uint32_t k = 0; k < x->nw; k++) {
            x->w[k].sess = wire_get_u64(&d);
            x->w[k].owner = wire_get_u64(&d);
            x->w[k].mode = wire_get_u8(&d);
            x->w[k].s = wire_get_u64(&d);
            x->w[k].e = wire_get_u64(&d);
            x->w[k].a = wire_get_u64(&d);
            x->w[k].b = wire_get_u64(&d);
        }
    }
    CHECK_EQ(wire_get_u8(&d), 0);
    CHECK_OK(wire_dec_finish(&d));
    return n;
}

static int mhold_cmp(const void *a, const void *b)
{
    const struct mhold *x = a, *y = b;
    if (x->sess != y->sess)
        return x->sess < y->sess ? -1 : 1;
    return (x->owner > y->owner) - (x->owner < y->owner);
}

/* The model's lock table in LOCK_LIST's form. */
static uint32_t model_list(struct model *M, struct lrec *out)
{
    static const char *names[2] = {"a", "b"};
    uint32_t n = 0;
    for (int k = 0; k < MLK; k++) {
        struct mlock *L = &M->l[k];
        if (!L->nh && !L->nw && !L->delay_until)
            continue;
        struct lrec *x = &out[n++];
        memset(x, 0, sizeof *x);
        x->kind = L->kind;
        x->ino = L->kind == META_LOCK_NAMED ? 0 : M->ino;
        if (L->kind == META_LOCK_NAMED) {
            x->name_len = 1;
            x->name[0] = (uint8_t)names[k][0];
        }
        x->last_token = L->last_token;
        x->delay_until = L->delay_until;
        qsort(L->h, (size_t)L->nh, sizeof *L->h, mhold_cmp);
        int whole = L->kind != META_LOCK_POSIX;
        for (int i = 0; i < L->nh; i++) {
            const struct mhold *h = &L->h[i];
            for (uint32_t b = 0; b < MB;) {
                if (!h->mode[b]) {
                    b++;
                    continue;
                }
                uint32_t e = b;
                while (e < MB && h->mode[e] == h->mode[b]) {
                    CHECK_EQ_U64(h->token[e], h->token[b]); /* a run has one token */
                    e++;
                }
                CHECK(x->nh < MR);
                x->h[x->nh].sess = h->sess;
                x->h[x->nh].owner = h->owner;
                x->h[x->nh].mode = h->mode[b];
                x->h[x->nh].s = whole ? 0 : b;
                x->h[x->nh].e = whole ? UINT64_MAX : e;
                x->h[x->nh++].a = h->token[b];
                b = e;
            }
        }
        for (int i = 0; i < L->nw; i++) {
            const struct mwait *w = &L->w[i];
            x->w[x->nw].sess = w->sess;
            x->w[x->nw].owner = w->owner;
            x->w[x->nw].mode = w->mode;
            x->w[x->nw].s = whole ? 0 : w->s;
            x->w[x->nw].e = whole ? UINT64_MAX : w->e;
            x->w[x->nw].a = w->wait_id;
            x->w[x->nw++].b = w->deadline;
        }
    }
    return n;
}

static void compare_tables(struct mt *t, struct model *M, int step)
{
    static struct lrec got[MLK + 1], want[MLK + 1];
    uint32_t ng = list_locks(t, got, MLK + 1), nw = model_list(M, want);
    CHECKF(ng == nw, "step %d: %u locks listed, model has %u", step, ng, nw);
    for (uint32_t i = 0; i < ng; i++) {
        const struct lrec *a = &got[i], *b = &want[i];
        CHECKF(a->kind == b->kind && a->ino == b->ino && a->name_len == b->name_len &&
                   memcmp(a->name, b->name, a->name_len) == 0,
               "step %d: lock %u differs", step, i);
        CHECKF(a->last_token == b->last_token && a->delay_until == b->delay_until,
               "step %d kind %u: token %llu/%llu delay %llu/%llu", step, a->kind,
               (unsigned long long)a->last_token, (unsigned long long)b->last_token,
               (unsigned long long)a->delay_until, (unsigned long long)b->delay_until);
        CHECKF(a->nh == b->nh && a->nw == b->nw, "step %d kind %u: %u/%u held, %u/%u waiting", step,
               a->kind, a->nh, b->nh, a->nw, b->nw);
        CHECKF(memcmp(a->h, b->h, a->nh * sizeof a->h[0]) == 0, "step %d kind %u: holders", step,
               a->kind);
        CHECKF(memcmp(a->w, b->w, a->nw * sizeof a->w[0]) == 0, "step %d kind %u: waiters", step,
               a->kind);
    }
}

static void compare_grants(struct mt *t, struct model *M, int step)
{
    const struct meta_lock_grant *g;
    size_t n = meta_lock_grants(t->m, &g);
    CHECKF(n == (size_t)M->ng, "step %d: %zu grants, model %d", step, n, M->ng);
    for (size_t i = 0; i < n; i++)
        CHECKF(g[i].session == M->g[i].session && g[i].wait_id == M->g[i].wait_id &&
                   g[i].token == M->g[i].token,
               "step %d: grant %zu differs", step, i);
}

static struct meta_lock_req mop_req(const struct model *M, const struct mop *op)
{
    static const char *names[2] = {"a", "b"};
    struct meta_lock_req q;
    switch (M->l[op->lock].kind) {
    case META_LOCK_NAMED:
        q = lq_named(names[op->lock], op->owner, op->mode);
        break;
    case META_LOCK_FLOCK:
        q = lq_flock(M->ino, op->owner, op->mode);
        break;
    default:
        q = lq_posix(M->ino, op->owner, op->mode, op->s, op->e);
    }
    q.flags = op->wait ? META_LOCK_WAIT : 0;
    q.wait_ms = op->wait_ms;
    q.delay_ms = op->delay_ms;
    return q;
}

static struct mop random_mop(struct prng *r, const struct model *M)
{
    struct mop op;
    memset(&op, 0, sizeof op);
    op.lock = (int)prng_below(r, MLK);
    op.owner = 1 + prng_below(r, 2);
    op.mode = prng_chance(r, 1, 2) ? X : S;
    op.wait = (uint8_t)prng_chance(r, 2, 3);
    op.wait_ms = op.wait && prng_chance(r, 1, 3) ? (uint32_t)prng_range(r, 500, 4000) : 0;
    op.delay_ms = prng_chance(r, 1, 4) ? (uint32_t)prng_range(r, 500, 3000) : 0;
    if (M->l[op.lock].kind == META_LOCK_POSIX) {
        op.s = (uint32_t)prng_below(r, MB);
        op.e = (uint32_t)prng_range(r, op.s + 1, MB);
    } else {
        op.s = 0;
        op.e = MB;
    }
    return op;
}

/* One random step on both the state and the model. */
static void model_step(struct mt *t, struct model *M, struct prng *r, int step)
{
    int which = (int)prng_below(r, MCL);
    struct mclient *c = &M->cl[which];
    M->ng = 0;
    uint64_t k = prng_below(r, 100);
    if (k < 8) {
        M->now += prng_range(r, 1, 1500) * 1000000ull;
        t->now = M->now;
    }
    M->index = t->index + 1;
    if (!c->live && k < 50) {
        c->c = lc_open(t, (uint32_t)c->lease / 1000000u);
        c->live = 1;
        c->expiry = M->now + c->lease;
    } else if (k < 45) {
        struct mop op = random_mop(r, M);
        struct meta_lock_req q = mop_req(M, &op);
        struct acq_out got = {0, 0, 0}, want = {0, 0, 0};
        int rc = lc_acquire(t, &c->c, &q, &got);
        CHECKF(rc == m_acquire(M, c, &op, &want), "step %d: acquire %d", step, rc);
        CHECKF(rc || (got.state == want.state && got.token == want.token &&
                      got.wait_id == want.wait_id),
               "step %d: acquire reply differs", step);
    } else if (k < 70) {
        struct mop op = random_mop(r, M);
        struct meta_lock_req q = mop_req(M, &op);
        int rc = lc_release(t, &c->c, &q, NULL);
        CHECKF(rc == m_release(M, c, &op), "step %d: release %d", step, rc);
    } else if (k < 78) {
        uint64_t id = M->index > 20 ? M->index - prng_below(r, 20) : 1;
        int rc = lc_cancel(t, &c->c, id, NULL);
        CHECKF(rc == m_cancel(M, c, id), "step %d: cancel %d", step, rc);
    } else if (k < 90) {
        lc_tick(t);
        m_tick(M);
    } else if (k < 97) {
        int rc = lc_keepalive(t, &c->c);
        int want = m_session_ok(M, c) ? 0 : CAIRN_SESSION;
        if (!want)
            c->expiry = M->now + c->lease;
        CHECKF(rc == want, "step %d: keepalive %d", step, rc);
    } else {
        int rc = lc_close(t, &c->c);
        int want = m_session_ok(M, c) ? 0 : CAIRN_SESSION;
        if (!want) {
            m_end_sessions(M, &c->c.session, 1, 0);
            c->live = 0;
        }
        CHECKF(rc == want, "step %d: close %d", step, rc);
    }
    compare_grants(t, M, step);
    compare_tables(t, M, step);
}

TEST_T(lock_model_random, 120)
{
    for (int round = 0; round < 4; round++) {
        struct prng r;
        prng_seed(&r, test_seed() + (uint64_t)round);
        struct mt t;
        mt_init(&t);
        struct meta_attr f;
        CHECK_OK(mt_create(&t, 1, "m", 0666, 1, &f));
        static struct model M;
        memset(&M, 0, sizeof M);
        M.ino = f.ino;
        M.now = t.now;
        const uint8_t kinds[MLK] = {META_LOCK_NAMED, META_LOCK_NAMED, META_LOCK_FLOCK,
                                    META_LOCK_POSIX};
        for (int k = 0; k < MLK; k++)
            M.l[k].kind = kinds[k];
        for (int i = 0; i < MCL; i++) {
            M.cl[i].lease = prng_range(&r, 1000, 4000) * 1000000ull;
            M.cl[i].c = lc_open(&t, (uint32_t)(M.cl[i].lease / 1000000u));
            M.cl[i].live = 1;
            M.cl[i].expiry = M.now + M.cl[i].lease;
        }
        for (int step = 0; step < 3000; step++) {
            /* halfway, a replica restored from a snapshot follows along */
            if (step == 1500)
                t.shadow = mt_snapshot_copy(t.m);
            model_step(&t, &M, &r, step);
        }
        CHECK_EQ_U64(meta_digest(t.m), meta_digest(t.shadow));
        mt_free(&t);
    }
}

/* --- linearizability of a lock history ------------------------------------------
 * Clients issue try and wait acquires and releases of three exclusive named
 * locks; a request is applied a random number of ticks after it is sent and
 * answered a random number of ticks after it is applied, so requests
 * overlap; queued acquires complete when their grant is reported (or give
 * up with a cancel); clients pause past their lease and lose their locks by
 * expiry (recorded as releases at that TICK), their requests in flight
 * staying unknown. The history must be linearizable for lin_model_lock. */

#define LN_CLIENTS 5
#define LN_KEYS 3
#define LN_OPS_MAX 4096

enum { LN_IDLE, LN_SENT, LN_WAITING, LN_RETURNING };

struct lnc {
    struct lc c;
    int state, paused, is_wait, key;
    uint64_t apply_at, ret_at, wait_id;
    int wait_ticks;
    int held[LN_KEYS];
    struct lin_op op;
};

struct lnw {
    struct mt t;
    struct prng *r;
    struct lnc cl[LN_CLIENTS];
    struct lin_op *ops;
    size_t n;
    uint64_t tick;
};

static const char *const ln_names[LN_KEYS] = {"k0", "k1", "k2"};

static void ln_push(struct lnw *w, const struct lin_op *op)
{
    CHECK(w->n < LN_OPS_MAX);
    w->ops[w->n++] = *op;
}

static void ln_returning(struct lnw *w, struct lnc *c, uint64_t out)
{
    c->op.out[0] = out;
    c->state = LN_RETURNING;
    c->ret_at = w->tick + prng_below(w->r, 3);
}

/* Waiters granted by the last apply complete with their token. */
static void ln_grants(struct lnw *w)
{
    const struct meta_lock_grant *g;
    size_t n = meta_lock_grants(w->t.m, &g);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < LN_CLIENTS; k++) {
            struct lnc *c = &w->cl[k];
            if (c->state != LN_WAITING || c->wait_id != g[i].wait_id)
                continue;
            CHECK_EQ_U64(g[i].session, c->c.session);
            c->held[c->key] = 1;
            ln_returning(w, c, g[i].token);
        }
}

/* The client's session ended now (found expired by its own request, or
 * swept by a TICK): what it held was released at this moment. */
static void ln_expired(struct lnw *w, struct lnc *c)
{
    CHECK(c->paused); /* live clients renew their lease in time */
    for (int key = 0; key < LN_KEYS; key++) {
        if (!c->held[key])
            continue;
        struct lin_op rel = {c->c.session,  w->tick, w->tick, LIN_LOCK_RELEASE,
                             (uint64_t)key, {0, 0},  {1, 0}};
        ln_push(w, &rel);
    }
    memset(c->held, 0, sizeof c->held);
}

static void ln_apply(struct lnw *w, struct lnc *c)
{
    struct meta_session_info si;
    int alive = meta_session_get(w->t.m, c->c.session, &si) == 0;
    struct meta_lock_req q = lq_named(ln_names[c->key], 1, X);
    if (c->op.kind == LIN_LOCK_RELEASE) {
        int rc = lc_release(&w->t, &c->c, &q, NULL);
        CHECK(rc == 0 || rc == CAIRN_ENOENT || rc == CAIRN_SESSION);
        if (rc == CAIRN_SESSION && alive)
            ln_expired(w, c);
        c->held[c->key] = 0;
        ln_returning(w, c, rc == 0);
    } else {
        q.flags = c->is_wait ? META_LOCK_WAIT : 0;
        struct acq_out o;
        int rc = lc_acquire(&w->t, &c->c, &q, &o);
        CHECK(rc == 0 || rc == CAIRN_EAGAIN || rc == CAIRN_SESSION);
        if (rc == CAIRN_SESSION && alive)
            ln_expired(w, c);
        if (rc == 0 && o.state == META_LOCK_QUEUED) {
            c->state = LN_WAITING;
            c->wait_id = o.wait_id;
            c->wait_ticks = (int)prng_range(w->r, 2, 12);
        } else {
            c->held[c->key] = rc == 0;
            ln_returning(w, c, rc == 0 ? o.token : 0);
        }
    }
    ln_grants(w);
}

static void ln_client_step(struct lnw *w, struct lnc *c)
{
    if (c->state == LN_IDLE && !c->paused && prng_chance(w->r, 1, 2)) {
        memset(&c->op, 0, sizeof c->op);
        c->key = (int)prng_below(w->r, LN_KEYS);
        c->op.client = c->c.session;
        c->op.key = (uint64_t)c->key;
        c->op.kind = c->held[c->key] ? LIN_LOCK_RELEASE : LIN_LOCK_ACQUIRE;
        c->op.call_time = w->tick;
        c->is_wait = prng_chance(w->r, 1, 2);
        c->state = LN_SENT;
        c->apply_at = w->tick + prng_below(w->r, 3);
    }
    if (c->state == LN_SENT && c->apply_at <= w->tick) {
        ln_apply(w, c);
    } else if (c->state == LN_WAITING && !c->paused && --c->wait_ticks <= 0) {
        int rc = lc_cancel(&w->t, &c->c, c->wait_id, NULL);
        CHECK_OK(rc); /* a grant would have been seen when it happened */
        ln_grants(w);
        ln_returning(w, c, 0);
    }
    if (c->state == LN_RETURNING && c->ret_at <= w->tick && !c->paused) {
        c->op.ret_time = w->tick;
        ln_push(w, &c->op);
        c->state = LN_IDLE;
    }
    if (!c->paused && w->tick % 3 == 0)
        CHECK_OK(lc_keepalive(&w->t, &c->c));
    if (!c->paused && prng_chance(w->r, 1, 150))
        c->paused = 1;
}

/* A TICK; paused clients whose session it expired lose their locks (each
 * recorded as a release at this time) and come back with a new session. */
static void ln_tick(struct lnw *w)
{
    lc_tick(&w->t);
    ln_grants(w);
    for (int k = 0; k < LN_CLIENTS; k++) {
        struct lnc *c = &w->cl[k];
        struct meta_session_info si;
        if (meta_session_get(w->t.m, c->c.session, &si) == 0)
            continue;
        ln_expired(w, c);
        if (c->state != LN_IDLE) {
            c->op.ret_time = LIN_TIME_INF;
            ln_push(w, &c->op);
        }
        c->state = LN_IDLE;
        c->paused = 0;
        c->c = lc_open(&w->t, 1000);
    }
}

TEST_T(lock_history_linearizable, 120)
{
    struct lnw w;
    memset(&w, 0, sizeof w);
    mt_init(&w.t);
    w.r = test_rng();
    w.ops = calloc(LN_OPS_MAX, sizeof *w.ops);
    CHECK(w.ops != NULL);
    for (int k = 0; k < LN_CLIENTS; k++)
        w.cl[k].c = lc_open(&w.t, 1000);
    for (w.tick = 1; w.tick < 1500; w.tick++) {
        w.t.now += 100 * 1000000ull;
        int order[LN_CLIENTS];
        for (int k = 0; k < LN_CLIENTS; k++)
            order[k] = k;
        for (int k = LN_CLIENTS - 1; k > 0; k--) {
            int j = (int)prng_below(w.r, (uint64_t)k + 1), x = order[k];
            order[k] = order[j];
            order[j] = x;
        }
        for (int k = 0; k < LN_CLIENTS; k++)
            ln_client_step(&w, &w.cl[order[k]]);
        if (w.tick % 3 == 0)
            ln_tick(&w);
    }
    for (int k = 0; k < LN_CLIENTS; k++)
        if (w.cl[k].state != LN_IDLE) {
            w.cl[k].op.ret_time = LIN_TIME_INF;
            ln_push(&w, &w.cl[k].op);
        }
    size_t grants = 0;
    for (size_t i = 0; i < w.n; i++)
        grants += w.ops[i].kind == LIN_LOCK_ACQUIRE && w.ops[i].out[0] &&
                  w.ops[i].ret_time != LIN_TIME_INF;
    CHECKF(grants > 50, "only %zu grants", grants);
    static struct lin_result res;
    CHECKF(lin_check(&lin_model_lock, w.ops, w.n, 0, &res) == LIN_OK, "%s", res.report);
    /* the check can fail: the first and the last grant of k0 swap tokens */
    size_t first = w.n, last = w.n;
    for (size_t i = 0; i < w.n; i++)
        if (w.ops[i].kind == LIN_LOCK_ACQUIRE && w.ops[i].key == 0 && w.ops[i].out[0] &&
            w.ops[i].ret_time != LIN_TIME_INF) {
            first = first == w.n ? i : first;
            last = i;
        }
    CHECK(first < last);
    uint64_t tk = w.ops[first].out[0];
    w.ops[first].out[0] = w.ops[last].out[0];
    w.ops[last].out[0] = tk;
    CHECK_EQ(lin_check(&lin_model_lock, w.ops, w.n, 0, &res), LIN_VIOLATION);
    free(w.ops);
    mt_free(&w.t);
}

/* --- listing, malformed commands, limits ------------------------------------------ */

static uint32_t list_names(struct mt *t, uint8_t kind, const char *prefix,
                           const struct meta_lock_req *after, uint32_t max, char names[][16],
                           int *more)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_lock_list(&t->cmd, &h, kind, prefix, after, max));
    CHECK_OK(mt_query(t));
    struct wire_dec d;
    wire_dec_init(&d, t->reply.data + 4, t->reply.len - 4);
    uint32_t n = wire_get_u32(&d);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t k = wire_get_u8(&d);
        uint64_t ino = wire_get_u64(&d);
        struct wire_bytes nm = wire_get_str16(&d, 255);
        if (k == META_LOCK_NAMED)
            snprintf(names[i], 16, "%.*s", (int)nm.len, (const char *)nm.p);
        else
            snprintf(names[i], 16, "%c%llu", k == META_LOCK_FLOCK ? 'f' : 'p',
                     (unsigned long long)ino);
        wire_get_u64(&d);
        wire_get_u64(&d);
        uint32_t nh = wire_get_u32(&d);
        CHECK(wire_get_raw(&d, (size_t)nh * 41) != NULL || nh == 0);
        uint32_t nw = wire_get_u32(&d);
        CHECK(wire_get_raw(&d, (size_t)nw * 49) != NULL || nw == 0);
    }
    *more = wire_get_u8(&d);
    CHECK_OK(wire_dec_finish(&d));
    return n;
}

TEST(lock_list_query)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "lf", 0666, 1, &f));
    struct lc a = lc_open(&t, 60000);
    const char *names[] = {"job/2", "job/10", "job/1", "web", "jo"};
    for (int i = 0; i < 5; i++) {
        struct meta_lock_req q = lq_named(names[i], 1, S);
        lc_grant(&t, &a, &q);
    }
    struct meta_lock_req fq = lq_flock(f.ino, 1, S), pq = lq_posix(f.ino, 1, S, 0, 5);
    lc_grant(&t, &a, &fq);
    lc_grant(&t, &a, &pq);
    char got[16][16];
    int more;
    CHECK_EQ(list_names(&t, 0, NULL, NULL, 16, got, &more), 7);
    CHECK(!more);
    const char *order[] = {"jo", "job/1", "job/10", "job/2", "web"};
    for (int i = 0; i < 5; i++)
        CHECK_STR_EQ(got[i], order[i]);
    char want[16];
    snprintf(want, sizeof want, "f%llu", (unsigned long long)f.ino);
    CHECK_STR_EQ(got[5], want);
    CHECK_EQ(list_names(&t, 0, "job/", NULL, 16, got, &more), 3);
    CHECK_STR_EQ(got[0], "job/1");
    /* pages of two, resumed after the last one returned */
    CHECK_EQ(list_names(&t, 0, "job/", NULL, 2, got, &more), 2);
    CHECK(more);
    struct meta_lock_req after = lq_named("job/10", 0, 0);
    CHECK_EQ(list_names(&t, 0, "job/", &after, 2, got, &more), 1);
    CHECK_STR_EQ(got[0], "job/2");
    CHECK(!more);
    CHECK_EQ(list_names(&t, META_LOCK_POSIX, NULL, NULL, 16, got, &more), 1);
    CHECK_EQ(list_names(&t, META_LOCK_NAMED, "zzz", NULL, 16, got, &more), 0);
    mt_free(&t);
}

/* Malformed lock commands are refused whole and change nothing. */
TEST(lock_malformed_commands)
{
    struct mt t;
    mt_init(&t);
    struct lc a = lc_open(&t, 60000);
    uint64_t d = meta_digest(t.m);
    struct meta_lock_req bad[] = {
        lq_named("x", 1, 0),       /* no mode */
        lq_named("x", 1, 3),       /* unknown mode */
        lq_posix(5, 1, X, 10, 10), /* empty range */
        lq_posix(5, 1, X, 10, 5),  /* backwards */
        lq_flock(0, 1, X),         /* no inode */
        lq_named("x", 1, X),       /* (range on a named lock, below) */
        lq_named("x", 1, X),       /* (flag bits, below) */
        lq_named("x", 1, X),       /* (wait_ms without WAIT, below) */
        lq_named("x", 1, X),       /* (delay too long, below) */
        lq_named("x", 1, X),       /* (unknown kind, below) */
    };
    bad[5].end = 10;
    bad[6].flags = 4;
    bad[7].wait_ms = 10;
    bad[8].delay_ms = CAIRN_LOCK_DELAY_MAX_MS + 1;
    bad[9].kind = 9;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct meta_hdr h = lc_hdr(&t, &a);
        buf_reset(&t.cmd);
        CHECK_OK(meta_cmd_lock_acquire(&t.cmd, &h, &bad[i]));
        CHECKF(mt_apply(&t) == CAIRN_BADMSG, "case %zu", i);
    }
    /* a name with a NUL, a named lock with an inode */
    struct meta_lock_req q = lq_named("x", 1, X);
    struct meta_hdr h = lc_hdr(&t, &a);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_lock_acquire(&t.cmd, &h, &q));
    t.cmd.data[meta_cmd_hdr_size(t.cmd.data, t.cmd.len) + 11] = 0; /* the name's byte */
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    q.ino = 3;
    h = lc_hdr(&t, &a);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_lock_acquire(&t.cmd, &h, &q));
    CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
    /* every truncation of a valid acquire */
    q.ino = 0;
    h = lc_hdr(&t, &a);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_lock_acquire(&t.cmd, &h, &q));
    size_t full = t.cmd.len;
    for (size_t n = 1; n < full; n++) { /* (0 bytes: a leader's no-op entry) */
        t.cmd.len = n;
        int rc = mt_apply(&t);
        CHECKF(rc == CAIRN_TRUNCATED || rc == CAIRN_BADMSG, "length %zu: %d", n, rc);
    }
    /* encoders refuse what cannot be sent */
    struct meta_lock_req empty = lq_named("", 1, X);
    CHECK_EQ(meta_cmd_lock_acquire(&t.cmd, &h, &empty), CAIRN_EINVAL);
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    struct meta_lock_req toolong = lq_named(longname, 1, X);
    CHECK_EQ(meta_cmd_lock_acquire(&t.cmd, &h, &toolong), CAIRN_ENAMETOOLONG);
    CHECK_EQ_U64(meta_digest(t.m), d);
    /* list: max 0, a prefix with an inode kind */
    struct meta_hdr hq = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_lock_list(&t.cmd, &hq, 0, NULL, NULL, 0));
    CHECK_EQ(mt_query(&t), CAIRN_BADMSG);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_lock_list(&t.cmd, &hq, META_LOCK_FLOCK, "x", NULL, 5));
    CHECK_EQ(mt_query(&t), CAIRN_BADMSG);
    /* locks are mutations: meta_query refuses them */
    h = lc_hdr(&t, &a);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_lock_acquire(&t.cmd, &h, &q));
    CHECK_EQ(mt_query(&t), CAIRN_EINVAL);
    mt_free(&t);
}

TEST(lock_limits)
{
    struct mt t;
    mt_init(&t);
    struct lc a = lc_open(&t, 60000), b = lc_open(&t, 60000);
    struct meta_lock_req q = lq_named("hot", 0, X);
    lc_grant(&t, &a, &q);
    /* waiters of one lock, each another owner of b's session */
    uint32_t n = 0;
    for (;; n++) {
        q.owner = 1 + n;
        q.flags = META_LOCK_WAIT;
        int rc = lc_acquire(&t, &b, &q, NULL);
        if (rc) {
            CHECK_EQ(rc, CAIRN_LIMIT);
            break;
        }
    }
    CHECK(n + 1 + 3 > CAIRN_LOCK_QUEUE_MAX && n < CAIRN_LOCK_QUEUE_MAX);
    /* the session's end frees them all, in one go */
    CHECK_OK(lc_close(&t, &b));
    struct status_out st;
    lc_status(&t, &q, b.session, &st);
    CHECK_EQ(st.n_wait, 0);
    /* byte-range splits count too: alternate unlocks of a held range */
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "split", 0666, 1, &f));
    struct meta_lock_req all = lq_posix(f.ino, 1, X, 0, 1000000);
    lc_grant(&t, &a, &all);
    int rc = 0;
    uint64_t k;
    for (k = 0; k < 2000 && !rc; k++) {
        struct meta_lock_req hole = lq_posix(f.ino, 1, X, 2 * k + 1, 2 * k + 2);
        rc = lc_release(&t, &a, &hole, NULL);
    }
    CHECK_EQ(rc, CAIRN_LIMIT);
    CHECK(k > CAIRN_LOCK_QUEUE_MAX - 5);
    mt_free(&t);
}
