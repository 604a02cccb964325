/*
 * query.c: reads of the state (lookup, getattr, readlink, readdir, statfs,
 * the chunk map, statistics) as C functions and as READ-class commands.
 * Nothing here changes the state.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/internal.h"

int meta_getattr(const struct meta *m, uint64_t ino, struct meta_attr *out)
{
    const struct meta_inode *in = meta_ino_get(m, ino);
    if (!in)
        return CAIRN_ENOENT;
    meta_ino_to_attr(in, out);
    return 0;
}

/* "." is the directory, ".." its parent (the root is its own parent). */
int meta_lookup(const struct meta *m, const struct meta_cred *c, uint64_t parent,
                const uint8_t *name, size_t len, struct meta_attr *out)
{
    const struct meta_inode *d = meta_ino_get(m, parent);
    if (!d)
        return CAIRN_ENOENT;
    if (!ino_is_dir(d))
        return CAIRN_ENOTDIR;
    int rc = meta_perm_access(d, c, META_MAY_X);
    if (rc)
        return rc;
    uint64_t ino;
    if (len == 1 && name[0] == '.') {
        ino = d->ino;
    } else if (len == 2 && name[0] == '.' && name[1] == '.') {
        ino = d->u.dir->parent;
    } else {
        const struct meta_dent *e = meta_dir_find(d->u.dir, name, len);
        if (!e)
            return CAIRN_ENOENT;
        ino = e->ino;
    }
    return meta_getattr(m, ino, out);
}

int meta_readlink(const struct meta *m, uint64_t ino, const uint8_t **target, uint32_t *len)
{
    const struct meta_inode *in = meta_ino_get(m, ino);
    if (!in)
        return CAIRN_ENOENT;
    if (!S_ISLNK(in->mode))
        return CAIRN_EINVAL;
    *target = in->u.target;
    *len = (uint32_t)in->size;
    return 0;
}

static const uint8_t dot_names[] = "..";

int meta_readdir(const struct meta *m, const struct meta_cred *c, uint64_t ino, uint64_t cookie,
                 uint32_t max, struct meta_dirent *ents, uint32_t *n, int *eof)
{
    const struct meta_inode *in = meta_ino_get(m, ino);
    if (!in)
        return CAIRN_ENOENT;
    if (!ino_is_dir(in))
        return CAIRN_ENOTDIR;
    int rc = meta_perm_access(in, c, META_MAY_R);
    if (rc)
        return rc;
    const struct meta_dir *d = in->u.dir;
    uint32_t k = 0;
    for (; cookie < META_SEQ_FIRST - 1 && k < max; cookie++) {
        /* cookie 0 -> "." (1), cookie 1 -> ".." (2) */
        ents[k++] =
            (struct meta_dirent){cookie + 1, cookie == 0 ? in->ino : d->parent,
                                 (uint8_t)(S_IFDIR >> 12), (uint8_t)(cookie + 1), dot_names};
    }
    uint32_t p = meta_dir_seek(d, cookie);
    for (; p < d->n_ents && k < max; p++) {
        const struct meta_dent *e = &d->ents[p];
        if (!e->ino)
            continue;
        ents[k++] = (struct meta_dirent){e->seq, e->ino, e->type, e->name_len, dent_name(d, e)};
    }
    while (p < d->n_ents && !d->ents[p].ino)
        p++;
    *n = k;
    *eof = p >= d->n_ents;
    return 0;
}

void meta_statfs(const struct meta *m, struct meta_statfs *out)
{
    memset(out, 0, sizeof *out);
    out->files = m->inodes.len;
    out->used_bytes = m->used_bytes;
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&m->nodes, &it, &k, &v);) {
        const struct meta_node *nd = v;
        out->nodes++;
        if (nd->state == META_NODE_DOWN)
            continue;
        if (nd->state == META_NODE_UP)
            out->nodes_up++;
        out->capacity_bytes += nd->capacity;
        out->free_bytes += nd->capacity > nd->used ? nd->capacity - nd->used : 0;
    }
}

void meta_stats(const struct meta *m, struct meta_stats *out)
{
    memset(out, 0, sizeof *out);
    out->inodes = m->inodes.len;
    for (uint32_t i = 0; i < m->inodes.n_slots; i++) {
        const struct meta_inode *in = meta_table_slot(&m->inodes, i);
        if (!in->ino)
            continue;
        if (ino_is_dir(in))
            out->dirs++;
        else if (S_ISREG(in->mode))
            out->files++;
        else
            out->symlinks++;
    }
    out->chunks = m->chunks.len;
    out->nodes = hmap_len(&m->nodes);
    out->sessions = hmap_len(&m->sessions);
    out->pending = hmap_len(&m->pending);
    out->outbox = m->outbox_live;
}

static int q_readdir(const struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    struct meta_dirent *v = malloc(r->u32a * sizeof *v);
    if (!v)
        return CAIRN_ENOMEM;
    uint32_t n;
    int eof;
    int rc = meta_readdir(m, &r->h.cred, r->ino, r->u64a, r->u32a, v, &n, &eof);
    if (rc) {
        free(v);
        return rc;
    }
    wire_put_u32(e, n);
    for (uint32_t i = 0; i < n; i++) {
        wire_put_u64(e, v[i].cookie);
        wire_put_u64(e, v[i].ino);
        wire_put_u8(e, v[i].type);
        wire_put_u8(e, v[i].name_len);
        wire_put_raw(e, v[i].name, v[i].name_len);
    }
    wire_put_u8(e, (uint8_t)eof);
    free(v);
    return 0;
}

/* GETXATTR and LISTXATTR share the size protocol of getxattr(2). */
static int q_sized(struct wire_enc *e, uint32_t size, const uint8_t *p, size_t len)
{
    if (size && size < len)
        return CAIRN_ERANGE;
    wire_put_u32(e, (uint32_t)len);
    if (size)
        wire_put_raw(e, p, len);
    return 0;
}

static int q_xattr(const struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    if (r->h.type == META_GETXATTR) {
        const uint8_t *val;
        uint32_t len;
        int rc = meta_getxattr(m, &r->h.cred, r->ino, r->name.p, r->name.len, &val, &len);
        return rc ? rc : q_sized(e, r->u32a, val, len);
    }
    struct cairn_buf names;
    buf_init(&names, 0);
    int rc = meta_listxattr(m, &r->h.cred, r->ino, &names);
    if (!rc)
        rc = q_sized(e, r->u32a, names.data, names.len);
    buf_free(&names);
    return rc;
}

static int q_chunks(const struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    const struct meta_inode *in = meta_ino_get(m, r->ino);
    if (!in)
        return CAIRN_ENOENT;
    if (!S_ISREG(in->mode))
        return ino_is_dir(in) ? CAIRN_EISDIR : CAIRN_EINVAL;
    uint32_t n = 0;
    if (r->u32a < in->n_chunks)
        n = CAIRN_MIN(r->u32b, in->n_chunks - r->u32a);
    wire_put_u32(e, n);
    for (uint32_t i = 0; i < n; i++) {
        struct meta_chunk_info ci;
        int rc = meta_file_chunk(m, r->ino, r->u32a + i, &ci);
        CAIRN_ASSERT(rc == 0);
        wire_put_u64(e, ci.id);
        wire_put_u64(e, ci.version);
        wire_put_u32(e, ci.length);
        wire_put_u8(e, ci.n_replicas);
        for (uint8_t j = 0; j < ci.n_replicas; j++)
            wire_put_u32(e, ci.replicas[j]);
    }
    /* The size at the same instant: a reader whose size came from an older
     * answer (its open) cuts its read there instead of reading the hole a
     * truncate left as zeros nobody wrote. */
    wire_put_u64(e, in->size);
    return 0;
}

int meta_query_dispatch(const struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    struct meta_attr a;
    int rc;
    switch (r->h.type) {
    case META_LOOKUP:
    case META_GETATTR:
        rc = r->h.type == META_LOOKUP
                 ? meta_lookup(m, &r->h.cred, r->ino, r->name.p, r->name.len, &a)
                 : meta_getattr(m, r->ino, &a);
        if (!rc)
            meta_enc_attr(e, &a);
        return rc;
    case META_READLINK: {
        const uint8_t *t;
        uint32_t len;
        rc = meta_readlink(m, r->ino, &t, &len);
        if (!rc)
            wire_put_bytes(e, t, len);
        return rc;
    }
    case META_READDIR:
        return q_readdir(m, r, e);
    case META_GETXATTR:
    case META_LISTXATTR:
        return q_xattr(m, r, e);
    case META_STATFS: {
        struct meta_statfs s;
        meta_statfs(m, &s);
        wire_put_u64(e, s.files);
        wire_put_u64(e, s.used_bytes);
        wire_put_u64(e, s.capacity_bytes);
        wire_put_u64(e, s.free_bytes);
        wire_put_u32(e, s.nodes);
        wire_put_u32(e, s.nodes_up);
        return 0;
    }
    case META_CHUNKS:
        return q_chunks(m, r, e);
    case META_NODES:
        return meta_nodes_query(m, r, e);
    case META_LOCK_STATUS:
    case META_LOCK_LIST:
        return meta_lock_query(m, r, e);
    default:
        CAIRN_UNREACHABLE();
    }
}
