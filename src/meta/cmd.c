/*
 * cmd.c: encoders of the commands of cmd.h and decoders of common reply
 * parts. Encoders are used by the daemon, the client library, the tests and
 * the benchmark; they follow cmd.h's layouts field by field.
 */
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/cmd.h"

enum meta_cmd_class meta_cmd_class(uint16_t type)
{
    if (type == META_CHUNK_REPLICA)
        return META_CLASS_SYSTEM;
    if (type == META_NODES)
        return META_CLASS_READ;
    if (type >= META_CREATE && type <= META_INODE_RELEASE)
        return META_CLASS_SESSION;
    if (type >= META_SESSION_OPEN && type <= META_SESSION_CLOSE)
        return META_CLASS_OPEN;
    if (type >= META_TICK && type <= META_OUTBOX_ACK)
        return META_CLASS_SYSTEM;
    if (type >= META_LOOKUP && type <= META_LOCK_LIST)
        return META_CLASS_READ;
    return META_CLASS_INVALID;
}

void meta_enc_hdr(struct wire_enc *e, const struct meta_hdr *h)
{
    wire_put_u16(e, h->type);
    wire_put_u64(e, h->now_ns);
    wire_put_u64(e, h->session);
    wire_put_u64(e, h->seq);
    wire_put_u32(e, h->cred.uid);
    wire_put_u32(e, h->cred.gid);
    CAIRN_ASSERT(h->cred.n_groups <= CAIRN_GROUPS_MAX);
    wire_put_u8(e, (uint8_t)h->cred.n_groups);
    for (uint32_t i = 0; i < h->cred.n_groups; i++)
        wire_put_u32(e, h->cred.groups[i]);
}

void meta_enc_attr(struct wire_enc *e, const struct meta_attr *a)
{
    wire_put_u64(e, a->ino);
    wire_put_u32(e, a->mode);
    wire_put_u32(e, a->uid);
    wire_put_u32(e, a->gid);
    wire_put_u32(e, a->nlink);
    wire_put_u64(e, a->size);
    wire_put_u64(e, a->atime_ns);
    wire_put_u64(e, a->mtime_ns);
    wire_put_u64(e, a->ctime_ns);
    wire_put_u64(e, a->version);
    wire_put_u8(e, a->goal);
}

void meta_dec_attr(struct wire_dec *d, struct meta_attr *a)
{
    a->ino = wire_get_u64(d);
    a->mode = wire_get_u32(d);
    a->uid = wire_get_u32(d);
    a->gid = wire_get_u32(d);
    a->nlink = wire_get_u32(d);
    a->size = wire_get_u64(d);
    a->atime_ns = wire_get_u64(d);
    a->mtime_ns = wire_get_u64(d);
    a->ctime_ns = wire_get_u64(d);
    a->version = wire_get_u64(d);
    a->goal = wire_get_u8(d);
}

/* An xattr name: u8 length 1..255, no NUL. */
void meta_put_xname(struct wire_enc *e, const void *p, size_t n)
{
    if (n == 0 || n > CAIRN_XATTR_NAME_MAX || memchr(p, 0, n)) {
        if (!e->err)
            e->err = n > CAIRN_XATTR_NAME_MAX ? CAIRN_ERANGE : CAIRN_EINVAL;
        return;
    }
    wire_put_u8(e, (uint8_t)n);
    wire_put_raw(e, p, n);
}

static void begin(struct wire_enc *e, struct cairn_buf *out, struct meta_hdr *h, uint16_t type)
{
    wire_enc_init(e, out);
    h->type = type;
    meta_enc_hdr(e, h);
}

static void put_name(struct wire_enc *e, const char *name) { wire_put_name(e, name, strlen(name)); }

int meta_cmd_create(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name,
                    uint32_t mode, int excl)
{
    struct wire_enc e;
    begin(&e, out, h, META_CREATE);
    wire_put_u64(&e, parent);
    put_name(&e, name);
    wire_put_u32(&e, mode);
    wire_put_u8(&e, excl ? 1 : 0);
    return e.err;
}

int meta_cmd_mkdir(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name,
                   uint32_t mode)
{
    struct wire_enc e;
    begin(&e, out, h, META_MKDIR);
    wire_put_u64(&e, parent);
    put_name(&e, name);
    wire_put_u32(&e, mode);
    return e.err;
}

int meta_cmd_symlink(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name,
                     const char *target)
{
    struct wire_enc e;
    begin(&e, out, h, META_SYMLINK);
    wire_put_u64(&e, parent);
    put_name(&e, name);
    wire_put_bytes(&e, target, strlen(target));
    return e.err;
}

int meta_cmd_link(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint64_t new_parent,
                  const char *name)
{
    struct wire_enc e;
    begin(&e, out, h, META_LINK);
    wire_put_u64(&e, ino);
    wire_put_u64(&e, new_parent);
    put_name(&e, name);
    return e.err;
}

static int parent_name(struct cairn_buf *out, struct meta_hdr *h, uint16_t type, uint64_t parent,
                       const char *name)
{
    struct wire_enc e;
    begin(&e, out, h, type);
    wire_put_u64(&e, parent);
    put_name(&e, name);
    return e.err;
}

int meta_cmd_unlink(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name)
{
    return parent_name(out, h, META_UNLINK, parent, name);
}

int meta_cmd_rmdir(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name)
{
    return parent_name(out, h, META_RMDIR, parent, name);
}

int meta_cmd_lookup(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name)
{
    return parent_name(out, h, META_LOOKUP, parent, name);
}

int meta_cmd_rename(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name,
                    uint64_t new_parent, const char *new_name, uint32_t flags)
{
    struct wire_enc e;
    begin(&e, out, h, META_RENAME);
    wire_put_u64(&e, parent);
    put_name(&e, name);
    wire_put_u64(&e, new_parent);
    put_name(&e, new_name);
    wire_put_u32(&e, flags);
    return e.err;
}

int meta_cmd_setattr(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint32_t valid,
                     const struct meta_attr *set)
{
    struct wire_enc e;
    begin(&e, out, h, META_SETATTR);
    wire_put_u64(&e, ino);
    wire_put_u32(&e, valid);
    wire_put_u32(&e, set->mode);
    wire_put_u32(&e, set->uid);
    wire_put_u32(&e, set->gid);
    wire_put_u64(&e, set->size);
    wire_put_u64(&e, set->atime_ns);
    wire_put_u64(&e, set->mtime_ns);
    wire_put_u8(&e, set->goal);
    return e.err;
}

int meta_cmd_setxattr(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, const char *name,
                      const void *value, size_t len, uint32_t flags)
{
    struct wire_enc e;
    begin(&e, out, h, META_SETXATTR);
    wire_put_u64(&e, ino);
    meta_put_xname(&e, name, strlen(name));
    wire_put_bytes(&e, value, len);
    wire_put_u32(&e, flags);
    return e.err;
}

int meta_cmd_removexattr(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, const char *name)
{
    struct wire_enc e;
    begin(&e, out, h, META_REMOVEXATTR);
    wire_put_u64(&e, ino);
    meta_put_xname(&e, name, strlen(name));
    return e.err;
}

static void put_nodes(struct wire_enc *e, const uint32_t *v, uint8_t n)
{
    wire_put_u8(e, n);
    for (uint8_t i = 0; i < n; i++)
        wire_put_u32(e, v[i]);
}

int meta_cmd_chunk_alloc(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint32_t index,
                         uint64_t deadline_ns, const uint32_t *replicas, uint8_t n)
{
    struct wire_enc e;
    begin(&e, out, h, META_CHUNK_ALLOC);
    wire_put_u64(&e, ino);
    wire_put_u32(&e, index);
    wire_put_u64(&e, deadline_ns);
    put_nodes(&e, replicas, n);
    return e.err;
}

int meta_cmd_chunk_commit(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint32_t index,
                          uint64_t chunk, uint64_t version, uint32_t length,
                          const uint32_t *replicas, uint8_t n)
{
    struct wire_enc e;
    begin(&e, out, h, META_CHUNK_COMMIT);
    wire_put_u64(&e, ino);
    wire_put_u32(&e, index);
    wire_put_u64(&e, chunk);
    wire_put_u64(&e, version);
    wire_put_u32(&e, length);
    put_nodes(&e, replicas, n);
    return e.err;
}

int meta_cmd_chunk_abort(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint32_t index,
                         uint64_t chunk, uint64_t version)
{
    struct wire_enc e;
    begin(&e, out, h, META_CHUNK_ABORT);
    wire_put_u64(&e, ino);
    wire_put_u32(&e, index);
    wire_put_u64(&e, chunk);
    wire_put_u64(&e, version);
    return e.err;
}

int meta_cmd_session_open(struct cairn_buf *out, struct meta_hdr *h, uint32_t lease_ms)
{
    struct wire_enc e;
    begin(&e, out, h, META_SESSION_OPEN);
    wire_put_u32(&e, lease_ms);
    return e.err;
}

static int header_only(struct cairn_buf *out, struct meta_hdr *h, uint16_t type)
{
    struct wire_enc e;
    begin(&e, out, h, type);
    return e.err;
}

int meta_cmd_session_keepalive(struct cairn_buf *out, struct meta_hdr *h)
{
    return header_only(out, h, META_SESSION_KEEPALIVE);
}

int meta_cmd_session_close(struct cairn_buf *out, struct meta_hdr *h)
{
    return header_only(out, h, META_SESSION_CLOSE);
}

int meta_cmd_tick(struct cairn_buf *out, struct meta_hdr *h)
{
    return header_only(out, h, META_TICK);
}

int meta_cmd_statfs(struct cairn_buf *out, struct meta_hdr *h)
{
    return header_only(out, h, META_STATFS);
}

int meta_cmd_node_register(struct cairn_buf *out, struct meta_hdr *h, uint32_t node,
                           const char *addr, const char *label, uint64_t capacity, uint64_t used)
{
    struct wire_enc e;
    begin(&e, out, h, META_NODE_REGISTER);
    wire_put_u32(&e, node);
    wire_put_str16(&e, addr, strlen(addr));
    wire_put_str16(&e, label, strlen(label));
    wire_put_u64(&e, capacity);
    wire_put_u64(&e, used);
    return e.err;
}

int meta_cmd_node_update(struct cairn_buf *out, struct meta_hdr *h, uint32_t node, uint8_t state,
                         uint64_t capacity, uint64_t used)
{
    struct wire_enc e;
    begin(&e, out, h, META_NODE_UPDATE);
    wire_put_u32(&e, node);
    wire_put_u8(&e, state);
    wire_put_u64(&e, capacity);
    wire_put_u64(&e, used);
    return e.err;
}

int meta_cmd_outbox_ack(struct cairn_buf *out, struct meta_hdr *h, const uint64_t *ids, uint32_t n)
{
    struct wire_enc e;
    begin(&e, out, h, META_OUTBOX_ACK);
    wire_put_u32(&e, n);
    for (uint32_t i = 0; i < n; i++)
        wire_put_u64(&e, ids[i]);
    return e.err;
}

static int ino_only(struct cairn_buf *out, struct meta_hdr *h, uint16_t type, uint64_t ino)
{
    struct wire_enc e;
    begin(&e, out, h, type);
    wire_put_u64(&e, ino);
    return e.err;
}

int meta_cmd_inode_hold(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino)
{
    return ino_only(out, h, META_INODE_HOLD, ino);
}

int meta_cmd_inode_release(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino)
{
    return ino_only(out, h, META_INODE_RELEASE, ino);
}

int meta_cmd_getattr(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino)
{
    return ino_only(out, h, META_GETATTR, ino);
}

int meta_cmd_readlink(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino)
{
    return ino_only(out, h, META_READLINK, ino);
}

int meta_cmd_readdir(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint64_t cookie,
                     uint32_t max)
{
    struct wire_enc e;
    begin(&e, out, h, META_READDIR);
    wire_put_u64(&e, ino);
    wire_put_u64(&e, cookie);
    wire_put_u32(&e, max);
    return e.err;
}

int meta_cmd_getxattr(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, const char *name,
                      uint32_t size)
{
    struct wire_enc e;
    begin(&e, out, h, META_GETXATTR);
    wire_put_u64(&e, ino);
    meta_put_xname(&e, name, strlen(name));
    wire_put_u32(&e, size);
    return e.err;
}

int meta_cmd_listxattr(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint32_t size)
{
    struct wire_enc e;
    begin(&e, out, h, META_LISTXATTR);
    wire_put_u64(&e, ino);
    wire_put_u32(&e, size);
    return e.err;
}

int meta_cmd_chunks(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint32_t first,
                    uint32_t count)
{
    struct wire_enc e;
    begin(&e, out, h, META_CHUNKS);
    wire_put_u64(&e, ino);
    wire_put_u32(&e, first);
    wire_put_u32(&e, count);
    return e.err;
}

/* --- locks, conditions, transactions (docs/locks.md) ---------------------- */

static void put_lockid(struct wire_enc *e, uint8_t kind, uint64_t ino, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (kind == META_LOCK_NAMED && (n == 0 || n > CAIRN_LOCK_NAME_MAX) && !e->err)
        e->err = n ? CAIRN_ENAMETOOLONG : CAIRN_EINVAL;
    wire_put_u8(e, kind);
    wire_put_u64(e, ino);
    wire_put_str16(e, name ? name : "", n);
}

int meta_cmd_lock_acquire(struct cairn_buf *out, struct meta_hdr *h, const struct meta_lock_req *q)
{
    struct wire_enc e;
    begin(&e, out, h, META_LOCK_ACQUIRE);
    put_lockid(&e, q->kind, q->ino, q->name);
    wire_put_u64(&e, q->owner);
    wire_put_u8(&e, q->mode);
    wire_put_u8(&e, q->flags);
    wire_put_u64(&e, q->start);
    wire_put_u64(&e, q->end);
    wire_put_u32(&e, q->wait_ms);
    wire_put_u32(&e, q->delay_ms);
    return e.err;
}

int meta_cmd_lock_release(struct cairn_buf *out, struct meta_hdr *h, const struct meta_lock_req *q)
{
    struct wire_enc e;
    begin(&e, out, h, META_LOCK_RELEASE);
    put_lockid(&e, q->kind, q->ino, q->name);
    wire_put_u64(&e, q->owner);
    wire_put_u64(&e, q->start);
    wire_put_u64(&e, q->end);
    return e.err;
}

int meta_cmd_lock_cancel(struct cairn_buf *out, struct meta_hdr *h, uint64_t wait_id)
{
    struct wire_enc e;
    begin(&e, out, h, META_LOCK_CANCEL);
    wire_put_u64(&e, wait_id);
    return e.err;
}

int meta_cmd_lock_status(struct cairn_buf *out, struct meta_hdr *h, const struct meta_lock_req *q,
                         uint64_t session)
{
    struct wire_enc e;
    begin(&e, out, h, META_LOCK_STATUS);
    put_lockid(&e, q->kind, q->ino, q->name);
    wire_put_u64(&e, session);
    wire_put_u64(&e, q->owner);
    return e.err;
}

int meta_cmd_lock_list(struct cairn_buf *out, struct meta_hdr *h, uint8_t kind, const char *prefix,
                       const struct meta_lock_req *after, uint32_t max)
{
    struct wire_enc e;
    begin(&e, out, h, META_LOCK_LIST);
    wire_put_u8(&e, kind);
    wire_put_str16(&e, prefix ? prefix : "", prefix ? strlen(prefix) : 0);
    if (after)
        put_lockid(&e, after->kind, after->ino, after->name);
    else
        put_lockid(&e, 0, 0, NULL);
    wire_put_u32(&e, max);
    return e.err;
}

int meta_cmd_chunk_alloc_fenced(struct cairn_buf *out, struct meta_hdr *h, uint64_t token,
                                uint64_t ino, uint32_t index, uint64_t deadline_ns,
                                const uint32_t *replicas, uint8_t n)
{
    struct wire_enc e;
    begin(&e, out, h, META_CHUNK_ALLOC_FENCED);
    wire_put_u64(&e, token);
    wire_put_u64(&e, ino);
    wire_put_u32(&e, index);
    wire_put_u64(&e, deadline_ns);
    put_nodes(&e, replicas, n);
    return e.err;
}

size_t meta_cmd_hdr_size(const uint8_t *cmd, size_t len)
{
    const size_t fixed = 2 + 8 + 8 + 8 + 4 + 4 + 1;
    if (len < fixed)
        return 0;
    size_t n = fixed + 4 * (size_t)cmd[fixed - 1];
    return len < n ? 0 : n;
}

/* u16 type of a whole command, then its body: how COND and TXN carry one. */
static void put_inner(struct wire_enc *e, const uint8_t *cmd, size_t len, int with_len)
{
    size_t hs = meta_cmd_hdr_size(cmd, len);
    if (hs == 0) {
        if (!e->err)
            e->err = CAIRN_BADMSG;
        return;
    }
    wire_put_u16(e, wire_load_u16(cmd));
    if (with_len)
        wire_put_bytes(e, cmd + hs, len - hs);
    else
        wire_put_raw(e, cmd + hs, len - hs);
}

int meta_cmd_cond(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint64_t if_version,
                  const uint8_t *cmd, size_t len)
{
    struct wire_enc e;
    begin(&e, out, h, META_COND);
    wire_put_u64(&e, ino);
    wire_put_u64(&e, if_version);
    put_inner(&e, cmd, len, 0);
    return e.err;
}

void meta_txn_begin(struct meta_txn_enc *t, struct cairn_buf *out, struct meta_hdr *h)
{
    memset(t, 0, sizeof *t);
    begin(&t->e, out, h, META_TXN);
    t->count_at = out->len;
    wire_put_u16(&t->e, 0);
}

static void txn_cond(struct meta_txn_enc *t, uint8_t kind)
{
    wire_put_u8(&t->e, kind);
    t->n_items++;
    t->n_conds++;
}

void meta_txn_if_version(struct meta_txn_enc *t, uint64_t ino, uint64_t version)
{
    txn_cond(t, META_TXN_IF_VERSION);
    wire_put_u64(&t->e, ino);
    wire_put_u64(&t->e, version);
}

void meta_txn_if_exists(struct meta_txn_enc *t, uint64_t parent, const char *name)
{
    txn_cond(t, META_TXN_IF_EXISTS);
    wire_put_u64(&t->e, parent);
    put_name(&t->e, name);
}

void meta_txn_if_absent(struct meta_txn_enc *t, uint64_t parent, const char *name)
{
    txn_cond(t, META_TXN_IF_ABSENT);
    wire_put_u64(&t->e, parent);
    put_name(&t->e, name);
}

void meta_txn_op(struct meta_txn_enc *t, const uint8_t *cmd, size_t len)
{
    wire_put_u8(&t->e, META_TXN_OP);
    put_inner(&t->e, cmd, len, 1);
    t->n_items++;
    t->n_ops++;
}

int meta_txn_end(struct meta_txn_enc *t)
{
    if (!t->e.err && t->n_items > UINT16_MAX)
        t->e.err = CAIRN_TOOBIG;
    if (!t->e.err)
        wire_store_u16(t->e.b->data + t->count_at, (uint16_t)t->n_items);
    return t->e.err;
}

int meta_reply_status(const uint8_t *p, size_t len)
{
    if (len < 4)
        return CAIRN_TRUNCATED;
    return (int32_t)wire_load_u32(p);
}

int meta_reply_attr(const uint8_t *p, size_t len, struct meta_attr *out)
{
    int st = meta_reply_status(p, len);
    if (st)
        return st;
    struct wire_dec d;
    wire_dec_init(&d, p + 4, len - 4);
    meta_dec_attr(&d, out);
    return wire_dec_finish(&d);
}
