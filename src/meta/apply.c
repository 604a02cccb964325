/*
 * apply.c: meta_apply(), the one function that changes the state, and the
 * strict decoder of commands.
 *
 * A command is decoded whole (header, body, no trailing bytes, every count
 * and length within its limit) into a struct meta_req before anything is
 * touched: a malformed command gets an error reply and changes nothing, not
 * even the state's time. Then time advances, the session rules of meta.h
 * apply, and one operation runs.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/internal.h"

static void dec_hdr(struct wire_dec *d, struct meta_hdr *h)
{
    h->type = wire_get_u16(d);
    h->now_ns = wire_get_u64(d);
    h->session = wire_get_u64(d);
    h->seq = wire_get_u64(d);
    h->cred.uid = wire_get_u32(d);
    h->cred.gid = wire_get_u32(d);
    h->cred.n_groups = wire_get_u8(d);
    if (!d->err && h->cred.n_groups > CAIRN_GROUPS_MAX)
        d->err = CAIRN_BADMSG;
    for (uint32_t i = 0; i < h->cred.n_groups && !d->err; i++)
        h->cred.groups[i] = wire_get_u32(d);
}

static struct wire_bytes dec_xname(struct wire_dec *d)
{
    struct wire_bytes b = {NULL, 0};
    uint8_t n = wire_get_u8(d);
    const uint8_t *p = wire_get_raw(d, n);
    if (!p)
        return b;
    if (n == 0 || memchr(p, 0, n)) {
        d->err = CAIRN_BADMSG;
        return b;
    }
    b.p = p;
    b.len = n;
    return b;
}

static void dec_nodes(struct wire_dec *d, struct meta_req *r, uint8_t min)
{
    r->n = wire_get_u8(d);
    if (!d->err && (r->n < min || r->n > CAIRN_GOAL_MAX))
        d->err = CAIRN_BADMSG;
    for (uint8_t i = 0; i < r->n && !d->err; i++)
        r->ids32[i] = wire_get_u32(d);
}

static void bad_if(struct wire_dec *d, int cond)
{
    if (!d->err && cond)
        d->err = CAIRN_BADMSG;
}

/* Bodies of the namespace commands. */
static void dec_ns(struct wire_dec *d, struct meta_req *r)
{
    switch (r->h.type) {
    case META_CREATE:
    case META_MKDIR:
    case META_SYMLINK:
        r->ino = wire_get_u64(d);
        r->name = wire_get_name(d);
        if (r->h.type == META_SYMLINK) {
            r->data = wire_get_bytes(d, CAIRN_SYMLINK_MAX);
            bad_if(d, r->data.len == 0 || memchr(r->data.p, 0, r->data.len));
            return;
        }
        r->mode = wire_get_u32(d);
        bad_if(d, r->mode & ~07777u);
        if (r->h.type == META_CREATE) {
            r->u8a = wire_get_u8(d);
            bad_if(d, r->u8a > 1);
        }
        return;
    case META_LINK:
        r->ino = wire_get_u64(d);
        r->ino2 = wire_get_u64(d);
        r->name = wire_get_name(d);
        return;
    case META_UNLINK:
    case META_RMDIR:
    case META_LOOKUP:
        r->ino = wire_get_u64(d);
        r->name = wire_get_name(d);
        return;
    case META_RENAME:
        r->ino = wire_get_u64(d);
        r->name = wire_get_name(d);
        r->ino2 = wire_get_u64(d);
        r->name2 = wire_get_name(d);
        r->flags = wire_get_u32(d);
        return;
    default:
        CAIRN_UNREACHABLE();
    }
}

static void dec_setattr(struct wire_dec *d, struct meta_req *r)
{
    r->ino = wire_get_u64(d);
    r->valid = wire_get_u32(d);
    r->mode = wire_get_u32(d);
    r->uid = wire_get_u32(d);
    r->gid = wire_get_u32(d);
    r->size = wire_get_u64(d);
    r->atime_ns = wire_get_u64(d);
    r->mtime_ns = wire_get_u64(d);
    r->goal = wire_get_u8(d);
    bad_if(d, (r->valid & ~META_SET_ALL) || (r->mode & ~07777u));
}

/* Bodies of the data, session and system commands. */
static void dec_data(struct wire_dec *d, struct meta_req *r)
{
    switch (r->h.type) {
    case META_CHUNK_ALLOC_FENCED:
    case META_CHUNK_ALLOC:
        if (r->h.type == META_CHUNK_ALLOC_FENCED)
            r->u64b = wire_get_u64(d); /* the fencing token comes first */
        r->ino = wire_get_u64(d);
        r->u32a = wire_get_u32(d);
        r->u64a = wire_get_u64(d);
        dec_nodes(d, r, 1);
        return;
    case META_CHUNK_COMMIT:
    case META_CHUNK_ABORT:
        r->ino = wire_get_u64(d);
        r->u32a = wire_get_u32(d);
        r->u64a = wire_get_u64(d);
        r->u64b = wire_get_u64(d);
        if (r->h.type == META_CHUNK_COMMIT) {
            r->u32b = wire_get_u32(d);
            bad_if(d, r->u32b > CAIRN_CHUNK_SIZE);
            dec_nodes(d, r, 1);
        }
        return;
    case META_INODE_HOLD:
    case META_INODE_RELEASE:
        r->ino = wire_get_u64(d);
        return;
    case META_SESSION_OPEN:
        r->u32a = wire_get_u32(d);
        return;
    case META_NODE_REGISTER:
        r->u32a = wire_get_u32(d);
        r->name = wire_get_str16(d, CAIRN_NODE_ADDR_MAX);
        r->name2 = wire_get_str16(d, CAIRN_NODE_LABEL_MAX);
        r->u64a = wire_get_u64(d);
        r->u64b = wire_get_u64(d);
        return;
    case META_NODE_UPDATE:
        r->u32a = wire_get_u32(d);
        r->u8a = wire_get_u8(d);
        r->u64a = wire_get_u64(d);
        r->u64b = wire_get_u64(d);
        return;
    case META_OUTBOX_ACK:
        r->n64 = wire_get_u32(d);
        bad_if(d, r->n64 > CAIRN_OUTBOX_ACK_MAX);
        r->ids64 = wire_get_raw(d, d->err ? 0 : (size_t)r->n64 * 8);
        return;
    default:
        return; /* empty bodies */
    }
}

/* Bodies of the reads. */
static void dec_read(struct wire_dec *d, struct meta_req *r)
{
    if (r->h.type == META_STATFS)
        return;
    r->ino = wire_get_u64(d);
    switch (r->h.type) {
    case META_READDIR:
        r->u64a = wire_get_u64(d);
        r->u32a = wire_get_u32(d);
        bad_if(d, r->u32a == 0 || r->u32a > CAIRN_READDIR_MAX);
        return;
    case META_GETXATTR:
        r->name = dec_xname(d);
        r->u32a = wire_get_u32(d);
        return;
    case META_LISTXATTR:
        r->u32a = wire_get_u32(d);
        return;
    case META_CHUNKS:
        r->u32a = wire_get_u32(d);
        r->u32b = wire_get_u32(d);
        bad_if(d, r->u32b == 0 || r->u32b > CAIRN_CHUNKS_QUERY_MAX);
        return;
    default:
        return; /* GETATTR, READLINK */
    }
}

/* The header's session fields as each class requires them. */
static int hdr_class_ok(const struct meta_hdr *h)
{
    switch (meta_cmd_class(h->type)) {
    case META_CLASS_SESSION:
        return h->session != 0 && h->seq != 0;
    case META_CLASS_OPEN:
        return h->seq == 0 && (h->type == META_SESSION_OPEN) == (h->session == 0);
    case META_CLASS_SYSTEM:
        return h->session == 0 && h->seq == 0;
    default:
        return 1;
    }
}

static int is_lock_cmd(uint16_t t)
{
    return (t >= META_LOCK_ACQUIRE && t <= META_LOCK_CANCEL) || t == META_LOCK_STATUS ||
           t == META_LOCK_LIST;
}

/* The body of a command whose header (r->h) is decoded. */
static void dec_body(struct wire_dec *d, struct meta_req *r)
{
    uint16_t t = r->h.type;
    if (t == META_SETATTR)
        dec_setattr(d, r);
    else if (t == META_SETXATTR || t == META_REMOVEXATTR) {
        r->ino = wire_get_u64(d);
        r->name = dec_xname(d);
        if (t == META_SETXATTR) {
            r->data = wire_get_bytes(d, CAIRN_XATTR_VALUE_MAX);
            r->flags = wire_get_u32(d);
        }
    } else if (t <= META_RENAME || t == META_LOOKUP)
        dec_ns(d, r);
    else if (t == META_CHUNK_REPLICA || t == META_NODES)
        meta_replica_decode(d, r);
    else if (is_lock_cmd(t))
        meta_lock_decode(d, r);
    else if (t == META_COND || t == META_TXN)
        meta_txn_decode(d, r);
    else if (meta_cmd_class(t) == META_CLASS_READ)
        dec_read(d, r);
    else
        dec_data(d, r);
}

int meta_req_decode(struct meta_req *r, const uint8_t *cmd, size_t len)
{
    memset(r, 0, sizeof *r);
    struct wire_dec d;
    wire_dec_init(&d, cmd, len);
    dec_hdr(&d, &r->h);
    if (d.err)
        return d.err;
    enum meta_cmd_class cls = meta_cmd_class(r->h.type);
    if (cls == META_CLASS_INVALID)
        return CAIRN_UNKNOWNTYPE;
    if (!hdr_class_ok(&r->h))
        return CAIRN_BADMSG;
    dec_body(&d, r);
    return wire_dec_finish(&d);
}

int meta_req_decode_body(struct meta_req *r, const struct meta_hdr *h, uint16_t type,
                         const uint8_t *p, size_t len)
{
    memset(r, 0, sizeof *r);
    r->h = *h;
    r->h.type = type;
    CAIRN_ASSERT(meta_cmd_class(type) == META_CLASS_SESSION);
    struct wire_dec d;
    wire_dec_init(&d, p, len);
    dec_body(&d, r);
    return wire_dec_finish(&d);
}

int meta_reply_error(struct cairn_buf *reply, size_t start, int status)
{
    CAIRN_ASSERT(status < 0 && start <= reply->len);
    reply->len = start;
    struct wire_enc e;
    wire_enc_init(&e, reply);
    wire_put_u32(&e, (uint32_t)status);
    return status;
}

static int exec_system(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    switch (r->h.type) {
    case META_TICK: {
        uint32_t s = meta_session_expire(m);
        uint32_t w = meta_data_expire(m);
        meta_lock_tick(m);
        wire_put_u32(e, s);
        wire_put_u32(e, w);
        return 0;
    }
    case META_NODE_REGISTER:
        return meta_node_register(m, r, e);
    case META_NODE_UPDATE:
        return meta_node_update(m, r);
    case META_OUTBOX_ACK:
        return meta_outbox_ack(m, r, e);
    case META_CHUNK_REPLICA:
        return meta_replica_apply(m, r, e);
    default:
        CAIRN_UNREACHABLE();
    }
}

/* One operation on the state; appends the body of a successful reply. */
int meta_exec(struct meta *m, uint64_t index, const struct meta_req *r, struct wire_enc *e)
{
    switch (r->h.type) {
    case META_CREATE:
    case META_MKDIR:
    case META_SYMLINK:
        return meta_ns_create(m, r, e);
    case META_LINK:
        return meta_ns_link(m, r, e);
    case META_UNLINK:
        return meta_ns_unlink(m, r, 0);
    case META_RMDIR:
        return meta_ns_unlink(m, r, 1);
    case META_RENAME:
        return meta_ns_rename(m, r);
    case META_SETATTR:
        return meta_attr_setattr(m, r, e);
    case META_SETXATTR:
        return meta_xattr_set(m, r);
    case META_REMOVEXATTR:
        return meta_xattr_remove(m, r);
    case META_CHUNK_ALLOC:
        return meta_data_alloc(m, r, e);
    case META_CHUNK_COMMIT:
        return meta_data_commit(m, r, e);
    case META_CHUNK_ABORT:
        return meta_data_abort_cmd(m, r);
    case META_SESSION_OPEN:
        return meta_session_open(m, index, r, e);
    case META_LOCK_ACQUIRE:
        return meta_lock_acquire(m, r, e);
    case META_LOCK_RELEASE:
        return meta_lock_release(m, r, e);
    case META_LOCK_CANCEL:
        return meta_lock_cancel(m, r, e);
    case META_COND:
        return meta_txn_cond(m, index, r, e);
    case META_TXN:
        return meta_txn_exec(m, index, r, e);
    case META_CHUNK_ALLOC_FENCED:
        return meta_lock_alloc_fenced(m, index, r, e);
    case META_INODE_HOLD:
        return meta_hold_inode(m, r, e);
    case META_INODE_RELEASE:
        return meta_hold_release(m, r);
    default:
        break;
    }
    if (meta_cmd_class(r->h.type) == META_CLASS_READ)
        return meta_query_dispatch(m, r, e);
    return exec_system(m, r, e);
}

/* Run one operation and write its whole reply (status first). */
static int run(struct meta *m, uint64_t index, const struct meta_req *r, struct cairn_buf *reply)
{
    size_t start = reply->len;
    struct wire_enc e;
    wire_enc_init(&e, reply);
    wire_put_u32(&e, 0);
    int rc = e.err ? e.err : meta_exec(m, index, r, &e);
    if (!rc && e.err)
        rc = e.err;
    if (rc) {
        meta_reply_error(reply, start, rc);
        meta_txn_fail_detail(m, r, reply);
    }
    return rc;
}

/* SESSION_KEEPALIVE and SESSION_CLOSE. */
static int session_cmd(struct meta *m, const struct meta_req *r, struct cairn_buf *reply)
{
    size_t start = reply->len;
    struct meta_session *s = meta_session_live(m, r->h.session);
    if (!s)
        return meta_reply_error(reply, start, CAIRN_SESSION);
    struct wire_enc e;
    wire_enc_init(&e, reply);
    wire_put_u32(&e, 0);
    if (r->h.type == META_SESSION_KEEPALIVE) {
        s->expiry_ns = m->now_ns + s->lease_ns;
        wire_put_u64(&e, s->expiry_ns);
    } else {
        meta_lock_sessions_end(m, &s->id, 1, 0); /* a clean close: no lock-delay */
        meta_data_sessions_end(m, &s->id, 1);
        meta_hold_sessions_end(m, &s->id, 1);
        meta_session_free(hmap_del(&m->sessions, s->id));
    }
    return e.err ? meta_reply_error(reply, start, e.err) : 0;
}

/* A SESSION-class command under the exactly-once rules of meta.h. */
static int apply_deduped(struct meta *m, uint64_t index, const struct meta_req *r,
                         struct cairn_buf *reply)
{
    size_t start = reply->len;
    struct meta_session *s = meta_session_live(m, r->h.session);
    if (!s || r->h.seq < s->last_seq)
        return meta_reply_error(reply, start, CAIRN_SESSION);
    s->expiry_ns = m->now_ns + s->lease_ns;
    if (r->h.seq == s->last_seq) {
        int rc = buf_append(reply, s->reply, s->reply_len);
        if (rc)
            return meta_reply_error(reply, start, rc);
        return meta_reply_status(s->reply, s->reply_len);
    }
    int rc = run(m, index, r, reply);
    size_t n = reply->len - start;
    uint8_t *copy = malloc(n);
    CAIRN_ASSERTF(copy, "meta: out of memory caching a reply");
    memcpy(copy, reply->data + start, n);
    free(s->reply);
    s->reply = copy;
    s->reply_len = (uint32_t)n;
    s->last_seq = r->h.seq;
    return rc;
}

int meta_apply(struct meta *m, uint64_t index, const uint8_t *cmd, size_t len,
               struct cairn_buf *reply)
{
    CAIRN_ASSERTF(index > m->applied_index, "meta: index %llu after %llu",
                  (unsigned long long)index, (unsigned long long)m->applied_index);
    m->applied_index = index;
    m->grants_n = 0;
    m->txn_fail_stage = 0;
    size_t start = reply->len;
    if (len == 0) {
        struct wire_enc e;
        wire_enc_init(&e, reply);
        wire_put_u32(&e, 0);
        return e.err ? meta_reply_error(reply, start, e.err) : 0;
    }
    struct meta_req r;
    int rc = meta_req_decode(&r, cmd, len);
    if (rc)
        return meta_reply_error(reply, start, rc);
    if (r.h.now_ns > m->now_ns)
        m->now_ns = r.h.now_ns;
    switch (meta_cmd_class(r.h.type)) {
    case META_CLASS_SESSION:
        return apply_deduped(m, index, &r, reply);
    case META_CLASS_OPEN:
        if (r.h.type != META_SESSION_OPEN)
            return session_cmd(m, &r, reply);
        return run(m, index, &r, reply);
    default:
        return run(m, index, &r, reply);
    }
}

int meta_query(const struct meta *m, const uint8_t *cmd, size_t len, struct cairn_buf *reply)
{
    size_t start = reply->len;
    struct meta_req r;
    int rc = meta_req_decode(&r, cmd, len);
    if (rc)
        return meta_reply_error(reply, start, rc);
    if (meta_cmd_class(r.h.type) != META_CLASS_READ)
        return meta_reply_error(reply, start, CAIRN_EINVAL);
    struct wire_enc e;
    wire_enc_init(&e, reply);
    wire_put_u32(&e, 0);
    rc = e.err ? e.err : meta_query_dispatch(m, &r, &e);
    if (!rc && e.err)
        rc = e.err;
    return rc ? meta_reply_error(reply, start, rc) : 0;
}

uint64_t meta_applied_index(const struct meta *m) { return m->applied_index; }
uint64_t meta_now_ns(const struct meta *m) { return m->now_ns; }
