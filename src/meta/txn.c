/*
 * txn.c: optimistic concurrency (DESIGN §6, docs/locks.md): COND, one
 * command run only if an inode still has the version the client read (the
 * compare-and-set of every mutation, xattrs included), and TXN, a batch of
 * conditions and ops applied as one log entry, all or nothing.
 *
 * Both carry their inner commands as (type, body) under the outer header,
 * so an inner command is decoded by the same strict decoder as a top-level
 * one, and every inner command is decoded when the outer one is (a malformed
 * op anywhere refuses the whole command before anything changes). A TXN
 * checks every condition first, then runs its ops in order under the undo
 * log of undo.c; the first failing op rolls everything back. Exactly-once
 * covers the whole TXN: it is one command of its session.
 */
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/undo.h"

struct txn_item {
    uint8_t kind; /* enum meta_txn_item */
    uint64_t ino, version;
    struct wire_bytes name;
    uint16_t type;
    struct wire_bytes body;
};

static void bad_if(struct wire_dec *d, int cond)
{
    if (!d->err && cond)
        d->err = CAIRN_BADMSG;
}

static void item_get(struct wire_dec *d, struct txn_item *it)
{
    memset(it, 0, sizeof *it);
    it->kind = wire_get_u8(d);
    switch (it->kind) {
    case META_TXN_IF_VERSION:
        it->ino = wire_get_u64(d);
        it->version = wire_get_u64(d);
        return;
    case META_TXN_IF_EXISTS:
    case META_TXN_IF_ABSENT:
        it->ino = wire_get_u64(d);
        it->name = wire_get_name(d);
        return;
    case META_TXN_OP:
        it->type = wire_get_u16(d);
        it->body = wire_get_bytes(d, CAIRN_FRAME_PAYLOAD_MAX);
        bad_if(d, (it->type < META_CREATE || it->type > META_CHUNK_ABORT) &&
                      it->type != META_INODE_HOLD && it->type != META_INODE_RELEASE);
        return;
    default:
        bad_if(d, 1);
    }
}

/* Ops whose reply is an ATTR: their inode may be named by later ops. */
static int replies_attr(uint16_t type)
{
    return type == META_CREATE || type == META_MKDIR || type == META_SYMLINK || type == META_LINK ||
           type == META_SETATTR || type == META_CHUNK_COMMIT || type == META_INODE_HOLD;
}

/* A reference in an inode field must name an earlier op with an ATTR reply. */
static int ref_ok(uint64_t v, uint32_t op, const uint16_t *types)
{
    if (!(v & META_TXN_REF_BIT))
        return 1;
    uint64_t k = v & ~META_TXN_REF_BIT;
    return k < op && replies_attr(types[k]);
}

/* Decode a TXN's items whole: counts, every op's body, references. */
static int txn_validate(const struct meta_req *r)
{
    struct wire_dec d;
    wire_dec_init(&d, r->data.p, r->data.len);
    uint16_t types[CAIRN_TXN_OPS_MAX];
    uint32_t conds = 0, ops = 0;
    for (uint32_t i = 0; i < r->u32a && !d.err; i++) {
        struct txn_item it;
        item_get(&d, &it);
        if (d.err)
            break;
        if (it.kind != META_TXN_OP) {
            bad_if(&d, ++conds > CAIRN_TXN_OPS_MAX);
            continue;
        }
        if (ops == CAIRN_TXN_OPS_MAX)
            return CAIRN_BADMSG;
        struct meta_req op;
        int rc = meta_req_decode_body(&op, &r->h, it.type, it.body.p, it.body.len);
        if (rc)
            return rc;
        if (!ref_ok(op.ino, ops, types) || !ref_ok(op.ino2, ops, types))
            return CAIRN_BADMSG;
        types[ops++] = it.type;
    }
    if (!d.err && ops == 0)
        return CAIRN_BADMSG;
    return wire_dec_finish(&d);
}

static int cond_type_ok(uint32_t t)
{
    return (t >= META_CREATE && t <= META_CHUNK_ABORT) || t == META_CHUNK_ALLOC_FENCED ||
           t == META_INODE_HOLD || t == META_INODE_RELEASE;
}

void meta_txn_decode(struct wire_dec *d, struct meta_req *r)
{
    if (r->h.type == META_COND) {
        r->ino = wire_get_u64(d);
        r->size = wire_get_u64(d);
        r->u32b = wire_get_u16(d);
    } else {
        CAIRN_ASSERT(r->h.type == META_TXN);
        r->u32a = wire_get_u16(d);
        bad_if(d, r->u32a == 0 || r->u32a > 2 * CAIRN_TXN_OPS_MAX);
    }
    size_t left = d->err ? 0 : wire_dec_left(d);
    r->data.p = wire_get_raw(d, left);
    r->data.len = (uint32_t)left;
    if (d->err)
        return;
    int rc;
    if (r->h.type == META_COND) {
        struct meta_req inner;
        rc = cond_type_ok(r->u32b)
                 ? meta_req_decode_body(&inner, &r->h, (uint16_t)r->u32b, r->data.p, r->data.len)
                 : CAIRN_BADMSG;
    } else {
        rc = txn_validate(r);
    }
    if (rc)
        d->err = rc;
}

/* COND: the command runs only if the inode's version is still if_version. */
int meta_txn_cond(struct meta *m, uint64_t index, const struct meta_req *r, struct wire_enc *e)
{
    const struct meta_inode *in = meta_ino_get(m, r->ino);
    if (!in)
        return CAIRN_ENOENT;
    if (in->version != r->size)
        return CAIRN_CONFLICT;
    struct meta_req inner;
    int rc = meta_req_decode_body(&inner, &r->h, (uint16_t)r->u32b, r->data.p, r->data.len);
    CAIRN_ASSERT(rc == 0); /* decoded once already */
    return meta_exec(m, index, &inner, e);
}

/* A condition of a TXN: CONFLICT when it does not hold; EACCES when the
 * caller may not search the directory a name is looked up in. */
static int cond_check(const struct meta *m, const struct meta_cred *c, const struct txn_item *it)
{
    if (it->kind == META_TXN_IF_VERSION) {
        const struct meta_inode *in = meta_ino_get(m, it->ino);
        return in && in->version == it->version ? 0 : CAIRN_CONFLICT;
    }
    struct meta_attr a;
    int rc = meta_lookup(m, c, it->ino, it->name.p, it->name.len, &a);
    if (rc == CAIRN_EACCES)
        return rc;
    return (rc == 0) == (it->kind == META_TXN_IF_EXISTS) ? 0 : CAIRN_CONFLICT;
}

static int txn_fail(struct meta *m, uint8_t stage, uint32_t item, int rc)
{
    m->txn_fail_stage = stage;
    m->txn_fail_item = (uint16_t)item;
    return rc;
}

/* Run one op: its reply (as bytes: length, status 0, body) is appended. */
static int txn_op(struct meta *m, uint64_t index, struct meta_req *op, const uint64_t *inos,
                  struct meta_undo *u, struct wire_enc *e)
{
    if (op->ino & META_TXN_REF_BIT)
        op->ino = inos[op->ino & ~META_TXN_REF_BIT];
    if (op->ino2 & META_TXN_REF_BIT)
        op->ino2 = inos[op->ino2 & ~META_TXN_REF_BIT];
    meta_undo_save(u, m, op);
    size_t at = e->b->len;
    wire_put_u32(e, 0);
    wire_put_u32(e, 0);
    int rc = e->err ? e->err : meta_exec(m, index, op, e);
    if (!rc && e->err)
        rc = e->err;
    if (!rc)
        wire_store_u32(e->b->data + at, (uint32_t)(e->b->len - at - 4));
    return rc;
}

/* TXN: every condition, then every op under the undo log. */
int meta_txn_exec(struct meta *m, uint64_t index, const struct meta_req *r, struct wire_enc *e)
{
    struct wire_dec d;
    struct txn_item it;
    wire_dec_init(&d, r->data.p, r->data.len);
    uint32_t n_ops = 0;
    for (uint32_t i = 0; i < r->u32a; i++) {
        item_get(&d, &it);
        if (it.kind == META_TXN_OP) {
            n_ops++;
            continue;
        }
        int rc = cond_check(m, &r->h.cred, &it);
        if (rc)
            return txn_fail(m, META_TXN_FAIL_COND, i, rc);
    }
    CAIRN_ASSERT(!d.err);
    wire_put_u16(e, (uint16_t)n_ops);
    uint64_t inos[CAIRN_TXN_OPS_MAX];
    struct meta_undo u;
    meta_undo_begin(&u, m);
    wire_dec_init(&d, r->data.p, r->data.len);
    int rc = 0;
    for (uint32_t i = 0, k = 0; i < r->u32a && !rc; i++) {
        item_get(&d, &it);
        if (it.kind != META_TXN_OP)
            continue;
        struct meta_req op;
        rc = meta_req_decode_body(&op, &r->h, it.type, it.body.p, it.body.len);
        CAIRN_ASSERT(rc == 0);
        size_t at = e->b->len;
        rc = txn_op(m, index, &op, inos, &u, e);
        if (rc) {
            meta_undo_rollback(&u, m);
            txn_fail(m, META_TXN_FAIL_OP, i, rc);
            break;
        }
        inos[k++] = replies_attr(it.type) ? wire_load_u64(e->b->data + at + 8) : 0;
    }
    meta_undo_end(&u);
    return rc;
}

void meta_txn_fail_detail(struct meta *m, const struct meta_req *r, struct cairn_buf *reply)
{
    if (r->h.type != META_TXN || !m->txn_fail_stage)
        return;
    struct wire_enc e;
    wire_enc_init(&e, reply);
    wire_put_u8(&e, m->txn_fail_stage);
    wire_put_u16(&e, m->txn_fail_item);
}
