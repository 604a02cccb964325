/*
 * test_meta_lock_util.h: helpers for test_meta_lock.c and test_meta_txn.c on
 * top of test_meta_util.h: several client sessions (each with its own
 * sequence numbers) issuing lock, COND and TXN commands through meta_apply,
 * reply decoders, and a digest of the state with one session closed (how a
 * test proves that a failed command left nothing behind but its session's
 * cached reply). Header-only, like test_meta_util.h.
 */
#ifndef CAIRN_TEST_META_LOCK_UTIL_H
#define CAIRN_TEST_META_LOCK_UTIL_H

#include "test_meta_util.h"

struct lc {
    uint64_t session;
    uint64_t seq;
};

static inline struct lc lc_open(struct mt *t, uint32_t lease_ms)
{
    struct lc c = {mt_open_session(t, lease_ms), 0};
    return c;
}

static inline struct meta_hdr lc_hdr(struct mt *t, struct lc *c)
{
    struct meta_hdr h = mt_hdr_plain(t, c->session);
    h.seq = ++c->seq;
    return h;
}

static inline struct meta_lock_req lq_named(const char *name, uint64_t owner, uint8_t mode)
{
    struct meta_lock_req q;
    memset(&q, 0, sizeof q);
    q.kind = META_LOCK_NAMED;
    q.name = name;
    q.owner = owner;
    q.mode = mode;
    return q;
}

static inline struct meta_lock_req lq_flock(uint64_t ino, uint64_t owner, uint8_t mode)
{
    struct meta_lock_req q;
    memset(&q, 0, sizeof q);
    q.kind = META_LOCK_FLOCK;
    q.ino = ino;
    q.owner = owner;
    q.mode = mode;
    return q;
}

static inline struct meta_lock_req lq_posix(uint64_t ino, uint64_t owner, uint8_t mode,
                                            uint64_t start, uint64_t end)
{
    struct meta_lock_req q;
    memset(&q, 0, sizeof q);
    q.kind = META_LOCK_POSIX;
    q.ino = ino;
    q.owner = owner;
    q.mode = mode;
    q.start = start;
    q.end = end;
    return q;
}

/* The reply of an acquire. */
struct acq_out {
    uint8_t state;
    uint64_t token, wait_id;
};

static inline int lc_acquire(struct mt *t, struct lc *c, const struct meta_lock_req *q,
                             struct acq_out *out)
{
    struct meta_hdr h = lc_hdr(t, c);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_lock_acquire(&t->cmd, &h, q));
    int rc = mt_apply(t);
    if (rc == 0) {
        CHECK_EQ(t->reply.len, 4 + 17);
        if (out) {
            out->state = t->reply.data[4];
            out->token = wire_load_u64(t->reply.data + 5);
            out->wait_id = wire_load_u64(t->reply.data + 13);
        }
    }
    return rc;
}

/* Acquire that must be granted now; returns the token. */
static inline uint64_t lc_grant(struct mt *t, struct lc *c, const struct meta_lock_req *q)
{
    struct acq_out o;
    CHECK_OK(lc_acquire(t, c, q, &o));
    CHECK_EQ(o.state, META_LOCK_GRANTED);
    CHECK(o.token > 0 && o.wait_id == 0);
    return o.token;
}

/* Acquire with WAIT that must queue; returns the wait id. */
static inline uint64_t lc_queue(struct mt *t, struct lc *c, struct meta_lock_req q,
                                uint32_t wait_ms)
{
    struct acq_out o;
    q.flags = META_LOCK_WAIT;
    q.wait_ms = wait_ms;
    CHECK_OK(lc_acquire(t, c, &q, &o));
    CHECK_EQ(o.state, META_LOCK_QUEUED);
    CHECK_EQ_U64(o.wait_id, t->index);
    return o.wait_id;
}

#define LC_GRANTS_MAX 64
struct grants_out {
    uint32_t n;
    struct meta_lock_grant g[LC_GRANTS_MAX];
};

/* Decode a GRANTS reply body at t->reply + 4. */
static inline void lc_grants(struct mt *t, struct grants_out *out)
{
    struct wire_dec d;
    wire_dec_init(&d, t->reply.data + 4, t->reply.len - 4);
    out->n = wire_get_u32(&d);
    CHECK(out->n <= LC_GRANTS_MAX);
    for (uint32_t i = 0; i < out->n; i++) {
        out->g[i].session = wire_get_u64(&d);
        out->g[i].wait_id = wire_get_u64(&d);
        out->g[i].token = wire_get_u64(&d);
    }
    CHECK_OK(wire_dec_finish(&d));
    /* the same list meta_lock_grants() hands to the daemon */
    const struct meta_lock_grant *g;
    size_t n = meta_lock_grants(t->m, &g);
    CHECK_EQ(n, out->n);
    CHECK(n == 0 || memcmp(g, out->g, n * sizeof *g) == 0);
}

static inline int lc_release(struct mt *t, struct lc *c, const struct meta_lock_req *q,
                             struct grants_out *out)
{
    struct meta_hdr h = lc_hdr(t, c);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_lock_release(&t->cmd, &h, q));
    int rc = mt_apply(t);
    if (rc == 0 && out)
        lc_grants(t, out);
    return rc;
}

static inline int lc_cancel(struct mt *t, struct lc *c, uint64_t wait_id, struct grants_out *out)
{
    struct meta_hdr h = lc_hdr(t, c);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_lock_cancel(&t->cmd, &h, wait_id));
    int rc = mt_apply(t);
    if (rc == 0 && out)
        lc_grants(t, out);
    return rc;
}

static inline void lc_tick(struct mt *t)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_tick(&t->cmd, &h));
    CHECK_OK(mt_apply(t));
}

static inline int lc_close(struct mt *t, struct lc *c)
{
    struct meta_hdr h = mt_hdr_plain(t, c->session);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_session_close(&t->cmd, &h));
    return mt_apply(t);
}

static inline int lc_keepalive(struct mt *t, struct lc *c)
{
    struct meta_hdr h = mt_hdr_plain(t, c->session);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_session_keepalive(&t->cmd, &h));
    return mt_apply(t);
}

/* What LOCK_STATUS says one holder has. */
#define LC_RANGES_MAX 32
struct lc_range {
    uint8_t mode;
    uint64_t start, end, token_or_wait, wait_id_or_pos;
};
struct status_out {
    uint64_t last_token;
    uint32_t n_held, n_wait;
    struct lc_range held[LC_RANGES_MAX], wait[LC_RANGES_MAX];
};

static inline void lc_status(struct mt *t, const struct meta_lock_req *q, uint64_t session,
                             struct status_out *out)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_lock_status(&t->cmd, &h, q, session));
    CHECK_OK(mt_query(t));
    struct wire_dec d;
    wire_dec_init(&d, t->reply.data + 4, t->reply.len - 4);
    memset(out, 0, sizeof *out);
    out->last_token = wire_get_u64(&d);
    out->n_held = wire_get_u32(&d);
    CHECK(out->n_held <= LC_RANGES_MAX);
    for (uint32_t i = 0; i < out->n_held; i++) {
        struct lc_range *r = &out->held[i];
        r->mode = wire_get_u8(&d);
        r->start = wire_get_u64(&d);
        r->end = wire_get_u64(&d);
        r->token_or_wait = wire_get_u64(&d);
        r->wait_id_or_pos = wire_get_u64(&d);
    }
    out->n_wait = wire_get_u32(&d);
    CHECK(out->n_wait <= LC_RANGES_MAX);
    for (uint32_t i = 0; i < out->n_wait; i++) {
        struct lc_range *r = &out->wait[i];
        r->mode = wire_get_u8(&d);
        r->start = wire_get_u64(&d);
        r->end = wire_get_u64(&d);
        r->token_or_wait = wire_get_u64(&d);
        r->wait_id_or_pos = wire_get_u32(&d);
    }
    CHECK_OK(wire_dec_finish(&d));
}

/* The digest of a snapshot copy of `m` after `session` is closed at time
 * now: equal for two states that differ only in that session's cache. */
static inline uint64_t lc_digest_without(const struct meta *m, uint64_t session, uint64_t now)
{
    struct meta *copy = mt_snapshot_copy(m);
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    h.now_ns = now;
    h.session = session;
    struct cairn_buf cmd, reply;
    buf_init(&cmd, 0);
    buf_init(&reply, 0);
    CHECK_OK(meta_cmd_session_close(&cmd, &h));
    CHECK_OK(meta_apply(copy, meta_applied_index(copy) + 1, cmd.data, cmd.len, &reply));
    uint64_t d = meta_digest(copy);
    meta_free(copy);
    buf_free(&cmd);
    buf_free(&reply);
    return d;
}

#endif
