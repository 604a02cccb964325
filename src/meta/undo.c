/*
 * undo.c: the undo log that makes a TXN all or nothing (txn.c).
 *
 * Before each op of a transaction runs, the objects it may change are
 * copied once, as they were before the transaction: the inodes the op names
 * (its inode fields, and the entries its names resolve to in those
 * directories: victims of unlink, rmdir and rename), with what they own
 * (directory arrays, symlink target, chunk map), their xattrs and fencing
 * token, the chunk records and pending writes of those files, and the pending
 * write a CHUNK_ALLOC would create. Objects that did not exist are recorded
 * as absent. Counters (next inode, chunk and outbox ids, next chunk version,
 * used bytes, outbox length) are kept once; outbox records are only ever
 * appended by these ops, so cutting the outbox back undoes them (a version
 * handed out by a rolled-back alloc reached nobody, so it may be handed out
 * again). Inodes numbered from the saved next_ino on were created inside the
 * transaction and are destroyed. Open-file holds of the transaction's
 * session are saved per inode by the HOLD and RELEASE ops.
 *
 * Rolling back puts every saved image back, so the state (and its digest)
 * is what it was; committing frees the copies. Each op changes only what its
 * names reach (ns.c, attr.c, xattr.c, data.c), which is why saving those is
 * enough; the cost is a copy of each touched directory's arrays.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/undo.h"

enum { U_INO, U_XATTR, U_CHUNK, U_PENDING, U_FENCE, U_HOLD, U_KINDS };

_Static_assert(U_KINDS == sizeof(((struct meta_undo *)0)->saved) / sizeof(struct hmap),
               "one saved map per kind");

/* A saved object; `existed` 0 means it was absent before the transaction. */
struct undo_rec {
    int existed;
    union {
        struct meta_inode ino; /* owned parts deep-copied */
        struct meta_xattrs *xattrs;
        struct meta_chunk chunk; /* replicas array deep-copied */
        struct meta_pending pending;
        uint64_t token;
        struct {
            uint32_t mine, all; /* the session's holds, every session's */
        } hold;
    } u;
};

void meta_undo_begin(struct meta_undo *u, const struct meta *m)
{
    memset(u, 0, sizeof *u);
    for (int k = 0; k < U_KINDS; k++)
        hmap_init(&u->saved[k]);
    u->next_ino = m->next_ino;
    u->next_chunk = m->next_chunk;
    u->next_outbox = m->next_outbox;
    u->next_version = m->next_version;
    u->used_bytes = m->used_bytes;
    u->outbox_n = m->outbox_n;
    u->outbox_live = m->outbox_live;
}

static void *dup_mem(const void *p, size_t n)
{
    void *q = malloc(n ? n : 1);
    CAIRN_ASSERTF(q, "meta: out of memory saving a transaction's undo image");
    if (n)
        memcpy(q, p, n);
    return q;
}

static struct meta_dir *dir_clone(const struct meta_dir *d)
{
    struct meta_dir *c = dup_mem(d, sizeof *d);
    c->ents = d->cap_ents ? dup_mem(d->ents, (size_t)d->cap_ents * sizeof *d->ents) : NULL;
    c->names = d->names_cap ? dup_mem(d->names, d->names_cap) : NULL;
    c->index = d->index_cap ? dup_mem(d->index, (size_t)d->index_cap * sizeof *d->index) : NULL;
    return c;
}

/* The record with deep copies of what it owns. */
static void ino_clone(struct meta_inode *dst, const struct meta_inode *src)
{
    *dst = *src;
    if (S_ISDIR(src->mode))
        dst->u.dir = dir_clone(src->u.dir);
    else if (S_ISLNK(src->mode))
        dst->u.target = dup_mem(src->u.target, src->size);
    else if (src->n_chunks > 1)
        dst->u.chunks = dup_mem(src->u.chunks, src->n_chunks * sizeof(uint64_t));
}

static struct meta_xattrs *xattrs_clone(const struct meta_xattrs *s)
{
    struct meta_xattrs *c = dup_mem(s, sizeof *s);
    c->v = dup_mem(s->v, s->n * sizeof *s->v);
    for (uint32_t i = 0; i < s->n; i++) {
        c->v[i].name = dup_mem(s->v[i].name, s->v[i].name_len);
        c->v[i].value = dup_mem(s->v[i].value, s->v[i].value_len);
    }
    return c;
}

static void xattrs_free(struct meta_xattrs *s)
{
    for (uint32_t i = 0; s && i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].value);
    }
    if (s)
        free(s->v);
    free(s);
}

/* A new record for (kind, key), or NULL if one is saved already. */
static struct undo_rec *rec_new(struct meta_undo *u, int kind, uint64_t key)
{
    if (hmap_contains(&u->saved[kind], key))
        return NULL;
    struct undo_rec *r = calloc(1, sizeof *r);
    CAIRN_ASSERTF(r && hmap_put(&u->saved[kind], key, r) == 0, "meta: out of memory (undo)");
    return r;
}

static void save_chunk(struct meta_undo *u, const struct meta *m, uint64_t id)
{
    struct undo_rec *r = rec_new(u, U_CHUNK, id);
    const struct meta_chunk *ch = r ? meta_table_get(&m->chunks, id) : NULL;
    if (!ch)
        return;
    r->existed = 1;
    r->u.chunk = *ch;
    if (ch->n_replicas > META_CHUNK_INLINE)
        r->u.chunk.rep.ext = dup_mem(ch->rep.ext, ch->n_replicas * sizeof(uint32_t));
}

static void save_pending(struct meta_undo *u, const struct meta *m, uint64_t key)
{
    struct undo_rec *r = rec_new(u, U_PENDING, key);
    const struct meta_pending *p = r ? hmap_get(&m->pending, key) : NULL;
    if (p) {
        r->existed = 1;
        r->u.pending = *p;
    }
}

/* The chunks and pending writes of a file (re-walked before every op: a
 * write allocated by an earlier op of the transaction names a chunk that a
 * later commit creates, and that chunk must be saved as absent first). */
static void save_file_data(struct meta_undo *u, const struct meta *m, const struct meta_inode *in)
{
    for (uint32_t i = 0; i < in->n_chunks; i++) {
        uint64_t id = in->n_chunks == 1 ? in->u.chunk : in->u.chunks[i];
        if (id)
            save_chunk(u, m, id);
    }
    if (!(in->flags & META_INO_PENDING))
        return;
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&m->pending, &it, &k, &v);) {
        const struct meta_pending *p = v;
        if (p->ino != in->ino)
            continue;
        save_pending(u, m, k);
        save_chunk(u, m, p->chunk);
    }
}

/* An inode and everything of it an op may change. */
static void save_inode(struct meta_undo *u, const struct meta *m, uint64_t ino)
{
    const struct meta_inode *in = meta_ino_get(m, ino);
    struct undo_rec *r = rec_new(u, U_INO, ino);
    if (r && in && ino < u->next_ino) {
        r->existed = 1;
        ino_clone(&r->u.ino, in);
    }
    if ((r = rec_new(u, U_XATTR, ino)) != NULL) {
        const struct meta_xattrs *s = hmap_get(&m->xattrs, ino);
        r->existed = s != NULL;
        r->u.xattrs = s ? xattrs_clone(s) : NULL;
    }
    if ((r = rec_new(u, U_FENCE, ino)) != NULL) {
        r->u.token = meta_lock_fence_get(m, ino);
        r->existed = r->u.token != 0;
    }
    if (in && S_ISREG(in->mode))
        save_file_data(u, m, in);
}

static void save_entry(struct meta_undo *u, const struct meta *m, uint64_t dir,
                       const struct wire_bytes *name)
{
    const struct meta_inode *d = meta_ino_get(m, dir);
    if (!d || !ino_is_dir(d) || name->len == 0)
        return;
    const struct meta_dent *e = meta_dir_find(d->u.dir, name->p, name->len);
    if (e)
        save_inode(u, m, e->ino);
}

void meta_undo_save(struct meta_undo *u, const struct meta *m, const struct meta_req *r)
{
    const uint64_t inos[2] = {r->ino, r->ino2};
    for (int i = 0; i < 2; i++) {
        if (!inos[i])
            continue;
        save_inode(u, m, inos[i]);
        save_entry(u, m, inos[i], &r->name);
        save_entry(u, m, inos[i], &r->name2);
    }
    if (r->h.type == META_INODE_HOLD || r->h.type == META_INODE_RELEASE) {
        struct undo_rec *h = rec_new(u, U_HOLD, r->ino);
        u->session = r->h.session;
        if (h) {
            h->existed = 1;
            meta_hold_counts(m, r->h.session, r->ino, &h->u.hold.mine, &h->u.hold.all);
        }
    }
    if ((r->h.type == META_CHUNK_ALLOC || r->h.type == META_CHUNK_ALLOC_FENCED) &&
        r->ino < CAIRN_INO_MAX && r->u32a < CAIRN_FILE_SIZE_MAX / CAIRN_CHUNK_SIZE)
        save_pending(u, m, pending_key(r->ino, r->u32a));
}

/* --- rollback ----------------------------------------------------------------- */

static void restore_inode(struct meta *m, uint64_t ino, struct undo_rec *r)
{
    struct meta_inode *cur = meta_ino_get(m, ino);
    if (cur)
        meta_ino_free_parts(cur);
    if (!r->existed) {
        if (cur)
            meta_table_remove(&m->inodes, ino);
        return;
    }
    if (!cur)
        cur = meta_table_insert(&m->inodes, ino);
    CAIRN_ASSERTF(cur, "meta: out of memory undoing a transaction");
    *cur = r->u.ino; /* the copy's parts now belong to the state */
    r->existed = 0;
}

static void restore_chunk(struct meta *m, uint64_t id, struct undo_rec *r)
{
    struct meta_chunk *cur = meta_table_get(&m->chunks, id);
    if (cur && cur->n_replicas > META_CHUNK_INLINE)
        free(cur->rep.ext);
    if (!r->existed) {
        if (cur)
            meta_table_remove(&m->chunks, id);
        return;
    }
    if (!cur)
        cur = meta_table_insert(&m->chunks, id);
    CAIRN_ASSERTF(cur, "meta: out of memory undoing a transaction");
    *cur = r->u.chunk;
    r->existed = 0;
}

static void restore(struct meta_undo *u, struct meta *m, int kind, uint64_t key, struct undo_rec *r)
{
    switch (kind) {
    case U_INO:
        restore_inode(m, key, r);
        return;
    case U_XATTR:
        meta_xattr_drop(m, key);
        if (r->u.xattrs)
            CAIRN_ASSERTF(hmap_put(&m->xattrs, key, r->u.xattrs) == 0, "meta: out of memory");
        r->u.xattrs = NULL;
        return;
    case U_CHUNK:
        restore_chunk(m, key, r);
        return;
    case U_PENDING:
        free(hmap_del(&m->pending, key));
        if (r->existed) {
            struct meta_pending *p = dup_mem(&r->u.pending, sizeof r->u.pending);
            CAIRN_ASSERTF(hmap_put(&m->pending, key, p) == 0, "meta: out of memory");
        }
        return;
    case U_HOLD:
        /* After U_INO: an orphan a RELEASE freed is back in the table. */
        meta_hold_restore(m, u->session, key, r->u.hold.mine, r->u.hold.all);
        return;
    default:
        meta_lock_fence_set(m, key, r->u.token);
        return;
    }
}

void meta_undo_rollback(struct meta_undo *u, struct meta *m)
{
    uint64_t k;
    void *v;
    for (int kind = 0; kind < U_KINDS; kind++)
        for (size_t it = 0; hmap_next(&u->saved[kind], &it, &k, &v);)
            restore(u, m, kind, k, v);
    /* Inodes the transaction created and no later op touched. */
    for (uint64_t ino = u->next_ino; ino < m->next_ino; ino++) {
        struct meta_inode *in = meta_ino_get(m, ino);
        if (!in)
            continue;
        meta_ino_free_parts(in);
        meta_xattr_drop(m, ino);
        meta_table_remove(&m->inodes, ino);
    }
    m->next_ino = u->next_ino;
    m->next_chunk = u->next_chunk;
    m->next_outbox = u->next_outbox;
    m->next_version = u->next_version;
    m->used_bytes = u->used_bytes;
    m->outbox_n = u->outbox_n;
    m->outbox_live = u->outbox_live;
}

/* Free the copies (those restored were handed to the state already). */
void meta_undo_end(struct meta_undo *u)
{
    uint64_t k;
    void *v;
    for (int kind = 0; kind < U_KINDS; kind++) {
        for (size_t it = 0; hmap_next(&u->saved[kind], &it, &k, &v);) {
            struct undo_rec *r = v;
            if (kind == U_INO && r->existed)
                meta_ino_free_parts(&r->u.ino);
            else if (kind == U_XATTR)
                xattrs_free(r->u.xattrs);
            else if (kind == U_CHUNK && r->existed && r->u.chunk.n_replicas > META_CHUNK_INLINE)
                free(r->u.chunk.rep.ext);
            free(r);
        }
        hmap_free(&u->saved[kind]);
    }
}
