/*
 * data.c: the file-to-chunk map, the chunk table, pending writes (the
 * prepare phase of DESIGN §6's two-phase commit) and the outbox.
 *
 * A file's map holds chunk ids only; the chunk table holds each chunk's
 * version, length, replicas and state, so the pair (id, version) a reader
 * needs is one lookup away and is stored once. A pending write is keyed by
 * (inode, chunk index): at most one per index. Everything that tells chunk
 * servers to act (commit, drop, delete, truncate) becomes an outbox record;
 * records are resent by the leader until acknowledged, and every kind is
 * idempotent on the chunk server.
 *
 * Where several pending writes are handled at once (expiry, truncate,
 * unlink), they are taken in key order: hash-map order depends on the
 * map's history, and outbox ids must not.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/internal.h"

int meta_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t file_chunk_id(const struct meta_inode *in, uint32_t index)
{
    if (index >= in->n_chunks)
        return 0;
    return in->n_chunks == 1 ? in->u.chunk : in->u.chunks[index];
}

/* Point map[index] at id, growing the map (holes are 0). */
static int file_map_set(struct meta_inode *in, uint32_t index, uint64_t id)
{
    if (index < in->n_chunks) {
        if (in->n_chunks == 1)
            in->u.chunk = id;
        else
            in->u.chunks[index] = id;
        return 0;
    }
    uint32_t n = index + 1;
    if (n == 1) {
        in->u.chunk = id;
        in->n_chunks = 1;
        return 0;
    }
    uint64_t *v;
    if (in->n_chunks > 1) {
        v = realloc(in->u.chunks, n * sizeof *v);
    } else {
        v = malloc(n * sizeof *v);
        if (v)
            v[0] = in->n_chunks ? in->u.chunk : 0;
    }
    if (!v)
        return CAIRN_ENOMEM;
    uint32_t from = in->n_chunks ? in->n_chunks : 1;
    memset(v + from, 0, (n - from) * sizeof *v);
    v[index] = id;
    in->u.chunks = v;
    in->n_chunks = n;
    return 0;
}

/* Keep the first n entries of the map. */
static void file_map_cut(struct meta_inode *in, uint32_t n)
{
    if (n >= in->n_chunks)
        return;
    if (in->n_chunks > 1 && n <= 1) {
        uint64_t *v = in->u.chunks;
        in->u.chunk = n ? v[0] : 0;
        free(v);
    } else if (n == 0) {
        in->u.chunk = 0;
    }
    in->n_chunks = n;
}

int meta_chunk_set_replicas(struct meta_chunk *ch, const uint32_t *rep, uint8_t n)
{
    uint32_t *ext = NULL;
    if (n > META_CHUNK_INLINE) {
        ext = malloc(n * sizeof *ext);
        if (!ext)
            return CAIRN_ENOMEM;
        memcpy(ext, rep, n * sizeof *ext);
    }
    if (ch->n_replicas > META_CHUNK_INLINE)
        free(ch->rep.ext);
    if (ext)
        ch->rep.ext = ext;
    else
        memcpy(ch->rep.inl, rep, n * sizeof *rep);
    ch->n_replicas = n;
    return 0;
}

static int contains(const uint32_t *v, uint8_t n, uint32_t x)
{
    for (uint8_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

int meta_outbox_add(struct meta *m, uint32_t node, uint8_t kind, uint64_t chunk, uint64_t version,
                    uint32_t length)
{
    if (m->outbox_n == m->outbox_cap) {
        size_t cap = m->outbox_cap ? m->outbox_cap * 2 : 64;
        struct meta_outbox_rec *v = realloc(m->outbox, cap * sizeof *v);
        CAIRN_ASSERTF(v, "meta: out of memory growing the outbox");
        m->outbox = v;
        m->outbox_cap = cap;
    }
    m->outbox[m->outbox_n++] = (struct meta_outbox_rec){
        .id = m->next_outbox++,
        .chunk = chunk,
        .version = version,
        .node = node,
        .length = length,
        .kind = kind,
    };
    m->outbox_live++;
    return 0;
}

/* Delete a chunk: every replica is told, the record goes. */
static void chunk_delete(struct meta *m, uint64_t id)
{
    struct meta_chunk *ch = meta_table_get(&m->chunks, id);
    CAIRN_ASSERT(ch);
    const uint32_t *rep = chunk_replicas(ch);
    for (uint8_t i = 0; i < ch->n_replicas; i++)
        meta_outbox_add(m, rep[i], META_OUT_DELETE, id, ch->version, 0);
    if (ch->n_replicas > META_CHUNK_INLINE)
        free(ch->rep.ext);
    meta_table_remove(&m->chunks, id);
}

static void pending_abort(struct meta *m, struct meta_pending *p)
{
    for (uint8_t i = 0; i < p->n; i++)
        meta_outbox_add(m, p->replicas[i], META_OUT_DROP, p->chunk, p->version, 0);
    if (!p->is_new) {
        struct meta_chunk *ch = meta_table_get(&m->chunks, p->chunk);
        CAIRN_ASSERT(ch && ch->state == META_CHUNK_WRITING);
        ch->state = META_CHUNK_CLEAN;
    }
    hmap_del(&m->pending, pending_key(p->ino, p->index));
    free(p);
}

/* Abort the pending writes of ino at index >= from, in index order. */
static void pending_abort_from(struct meta *m, struct meta_inode *in, uint32_t from)
{
    if (!(in->flags & META_INO_PENDING))
        return;
    size_t n = 0, cap = hmap_len(&m->pending);
    uint64_t *keys = malloc((cap ? cap : 1) * sizeof *keys);
    CAIRN_ASSERTF(keys, "meta: out of memory");
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&m->pending, &it, &k, &v);) {
        const struct meta_pending *p = v;
        if (p->ino == in->ino && p->index >= from)
            keys[n++] = k;
    }
    qsort(keys, n, sizeof *keys, meta_cmp_u64);
    for (size_t i = 0; i < n; i++)
        pending_abort(m, hmap_get(&m->pending, keys[i]));
    free(keys);
    if (from == 0)
        in->flags &= (uint8_t)~META_INO_PENDING;
}

/* Truncate (or extend with a hole) a regular file to size. */
int meta_data_truncate(struct meta *m, struct meta_inode *in, uint64_t size)
{
    CAIRN_ASSERT(S_ISREG(in->mode) && size <= CAIRN_FILE_SIZE_MAX);
    if (size < in->size) {
        uint32_t keep = (uint32_t)((size + CAIRN_CHUNK_SIZE - 1) / CAIRN_CHUNK_SIZE);
        uint32_t cut = (uint32_t)(size / CAIRN_CHUNK_SIZE);
        uint32_t rem = (uint32_t)(size % CAIRN_CHUNK_SIZE);
        pending_abort_from(m, in, cut);
        for (uint32_t i = keep; i < in->n_chunks; i++) {
            uint64_t id = file_chunk_id(in, i);
            if (id)
                chunk_delete(m, id);
        }
        file_map_cut(in, keep);
        uint64_t id = rem ? file_chunk_id(in, cut) : 0;
        struct meta_chunk *ch = id ? meta_table_get(&m->chunks, id) : NULL;
        if (ch && ch->length > rem) {
            ch->length = rem;
            const uint32_t *rep = chunk_replicas(ch);
            for (uint8_t i = 0; i < ch->n_replicas; i++)
                meta_outbox_add(m, rep[i], META_OUT_TRUNCATE, id, ch->version, rem);
        }
    }
    m->used_bytes = m->used_bytes - in->size + size;
    in->size = size;
    return 0;
}

/* The file goes away: its pending writes are aborted, its chunks deleted. */
void meta_data_release(struct meta *m, struct meta_inode *in)
{
    pending_abort_from(m, in, 0);
    for (uint32_t i = 0; i < in->n_chunks; i++) {
        uint64_t id = file_chunk_id(in, i);
        if (id)
            chunk_delete(m, id);
    }
    file_map_cut(in, 0);
}

/* Replica set of an alloc: distinct registered nodes that are up. */
static int check_replicas(const struct meta *m, const struct meta_req *r)
{
    for (uint8_t i = 0; i < r->n; i++) {
        if (contains(r->ids32, i, r->ids32[i]))
            return CAIRN_EINVAL;
        const struct meta_node *nd = hmap_get(&m->nodes, r->ids32[i]);
        if (!nd)
            return CAIRN_EINVAL;
        if (nd->state != META_NODE_UP)
            return CAIRN_UNAVAILABLE;
    }
    return 0;
}

/* The version of a rewrite of chunk ch: never handed out before, for any
 * chunk (issue #5). A retry after an abort (CHUNK_ABORT, a deadline, a new
 * alloc over an overdue write) so never reuses the aborted attempt's
 * version, whose staged bytes a chunk server may still hold, and a commit
 * naming the aborted version is refused (STALEVERSION). One counter for all
 * chunks keeps the chunk record at 32 bytes; versions stay increasing per
 * chunk, which is all chunk servers assume (chunk_stage). A new chunk
 * starts at version 1: its id is new. */
static uint64_t version_next(struct meta *m, const struct meta_chunk *ch)
{
    uint64_t v = CAIRN_MAX(m->next_version, ch->version + 1);
    m->next_version = v + 1;
    return v;
}

/* CHUNK_ALLOC: log a pending write of (ino, index). */
int meta_data_alloc(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    struct meta_inode *in = meta_ino_get(m, r->ino);
    if (!in)
        return CAIRN_ENOENT;
    if (ino_is_dir(in))
        return CAIRN_EISDIR;
    if (!S_ISREG(in->mode))
        return CAIRN_EINVAL;
    int rc = meta_perm_access(in, &r->h.cred, META_MAY_W);
    if (rc)
        return rc;
    if (r->u32a >= CAIRN_FILE_SIZE_MAX / CAIRN_CHUNK_SIZE)
        return CAIRN_EFBIG;
    if (r->u64a <= m->now_ns)
        return CAIRN_EINVAL;
    rc = check_replicas(m, r);
    if (rc)
        return rc;
    uint64_t key = pending_key(in->ino, r->u32a);
    struct meta_pending *old = hmap_get(&m->pending, key);
    if (old && old->deadline_ns >= m->now_ns)
        return CAIRN_EBUSY;
    if (!old && hmap_len(&m->pending) >= CAIRN_PENDING_WRITES_MAX)
        return CAIRN_LIMIT;
    struct meta_pending *p = calloc(1, sizeof *p);
    if (!p)
        return CAIRN_ENOMEM;
    if (old)
        pending_abort(m, old);
    if (hmap_put(&m->pending, key, p)) {
        free(p);
        return CAIRN_ENOMEM;
    }
    uint64_t cur = file_chunk_id(in, r->u32a);
    struct meta_chunk *ch = cur ? meta_table_get(&m->chunks, cur) : NULL;
    *p = (struct meta_pending){.ino = in->ino,
                               .chunk = cur ? cur : m->next_chunk++,
                               .version = ch ? version_next(m, ch) : 1,
                               .deadline_ns = r->u64a,
                               .session = r->h.session,
                               .index = r->u32a,
                               .n = r->n,
                               .is_new = !cur};
    memcpy(p->replicas, r->ids32, r->n * sizeof *r->ids32);
    if (ch)
        ch->state = META_CHUNK_WRITING;
    in->flags |= META_INO_PENDING;
    wire_put_u64(e, p->chunk);
    wire_put_u64(e, p->version);
    wire_put_u8(e, p->n);
    for (uint8_t i = 0; i < p->n; i++)
        wire_put_u32(e, p->replicas[i]);
    return 0;
}

/* The pending write a COMMIT or ABORT names, or STALEVERSION. */
static struct meta_pending *pending_named(struct meta *m, const struct meta_req *r)
{
    if (r->ino >= CAIRN_INO_MAX || r->u32a >= CAIRN_FILE_SIZE_MAX / CAIRN_CHUNK_SIZE)
        return NULL; /* would not pack into a key: no such write */
    struct meta_pending *p = hmap_get(&m->pending, pending_key(r->ino, r->u32a));
    if (!p || p->chunk != r->u64a || p->version != r->u64b)
        return NULL;
    CAIRN_ASSERT(p->ino == r->ino && p->index == r->u32a);
    return p;
}

/* Outbox for a commit: old holders not in the new set delete the chunk,
 * acked replicas commit, pending replicas that did not ack drop. */
static void commit_outbox(struct meta *m, const struct meta_pending *p,
                          const struct meta_chunk *old, const struct meta_req *r)
{
    if (old) {
        const uint32_t *rep = chunk_replicas(old);
        for (uint8_t i = 0; i < old->n_replicas; i++)
            if (!contains(r->ids32, r->n, rep[i]))
                meta_outbox_add(m, rep[i], META_OUT_DELETE, p->chunk, old->version, 0);
    }
    for (uint8_t i = 0; i < r->n; i++)
        meta_outbox_add(m, r->ids32[i], META_OUT_COMMIT, p->chunk, p->version, 0);
    for (uint8_t i = 0; i < p->n; i++)
        if (!contains(r->ids32, r->n, p->replicas[i]))
            meta_outbox_add(m, p->replicas[i], META_OUT_DROP, p->chunk, p->version, 0);
}

/* CHUNK_COMMIT: the commit point of a write. */
int meta_data_commit(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    struct meta_pending *p = pending_named(m, r);
    if (!p)
        return CAIRN_STALEVERSION;
    for (uint8_t i = 0; i < r->n; i++)
        if (!contains(p->replicas, p->n, r->ids32[i]) || contains(r->ids32, i, r->ids32[i]))
            return CAIRN_EINVAL;
    struct meta_inode *in = meta_ino_get(m, p->ino);
    CAIRN_ASSERT(in && S_ISREG(in->mode));
    struct meta_chunk *ch;
    if (p->is_new) {
        if (file_map_set(in, p->index, 0))
            return CAIRN_ENOMEM;
        ch = meta_table_insert(&m->chunks, p->chunk);
        if (!ch)
            return CAIRN_ENOMEM;
        file_map_set(in, p->index, p->chunk);
    } else {
        ch = meta_table_get(&m->chunks, p->chunk);
        CAIRN_ASSERT(ch && ch->state == META_CHUNK_WRITING);
    }
    commit_outbox(m, p, p->is_new ? NULL : ch, r);
    if (meta_chunk_set_replicas(ch, r->ids32, r->n))
        CAIRN_ASSERTF(0, "meta: out of memory");
    ch->version = p->version;
    ch->length = r->u32b;
    ch->state = META_CHUNK_CLEAN;
    uint64_t end = (uint64_t)p->index * CAIRN_CHUNK_SIZE + r->u32b;
    if (end > in->size) {
        m->used_bytes += end - in->size;
        in->size = end;
    }
    hmap_del(&m->pending, pending_key(p->ino, p->index));
    free(p);
    meta_ino_touch(m, in, 1);
    struct meta_attr a;
    meta_ino_to_attr(in, &a);
    meta_enc_attr(e, &a);
    return 0;
}

int meta_data_abort_cmd(struct meta *m, const struct meta_req *r)
{
    struct meta_pending *p = pending_named(m, r);
    if (!p)
        return CAIRN_STALEVERSION;
    pending_abort(m, p);
    return 0;
}

/* Abort every pending write whose deadline has passed. */
uint32_t meta_data_expire(struct meta *m)
{
    size_t n = 0, cap = hmap_len(&m->pending);
    uint64_t *keys = malloc((cap ? cap : 1) * sizeof *keys);
    CAIRN_ASSERTF(keys, "meta: out of memory");
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&m->pending, &it, &k, &v);)
        if (((const struct meta_pending *)v)->deadline_ns < m->now_ns)
            keys[n++] = k;
    qsort(keys, n, sizeof *keys, meta_cmp_u64);
    for (size_t i = 0; i < n; i++)
        pending_abort(m, hmap_get(&m->pending, keys[i]));
    free(keys);
    return (uint32_t)n;
}

void meta_data_sessions_end(struct meta *m, const uint64_t *ids, size_t n_ids)
{
    if (n_ids == 0 || hmap_len(&m->pending) == 0)
        return;
    size_t n = 0, cap = hmap_len(&m->pending);
    uint64_t *keys = malloc(cap * sizeof *keys);
    CAIRN_ASSERTF(keys, "meta: out of memory");
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&m->pending, &it, &k, &v);) {
        uint64_t s = ((const struct meta_pending *)v)->session;
        if (s && bsearch(&s, ids, n_ids, sizeof *ids, meta_cmp_u64))
            keys[n++] = k;
    }
    qsort(keys, n, sizeof *keys, meta_cmp_u64);
    for (size_t i = 0; i < n; i++)
        pending_abort(m, hmap_get(&m->pending, keys[i]));
    free(keys);
}

void meta_version_floor(struct meta *m)
{
    uint64_t top = 0, k;
    void *v;
    for (uint32_t i = 0; i < m->chunks.n_slots; i++) {
        const struct meta_chunk *ch = meta_table_slot(&m->chunks, i);
        if (ch->id)
            top = CAIRN_MAX(top, ch->version);
    }
    for (size_t it = 0; hmap_next(&m->pending, &it, &k, &v);)
        top = CAIRN_MAX(top, ((const struct meta_pending *)v)->version);
    m->next_version = CAIRN_MAX(top + 1, (uint64_t)2);
}

/* Position of the first outbox record with id > after. */
static size_t outbox_seek(const struct meta *m, uint64_t after)
{
    size_t lo = 0, hi = m->outbox_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->outbox[mid].id <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* OUTBOX_ACK: drop acknowledged records; compact when most are dead. */
int meta_outbox_ack(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    uint32_t removed = 0;
    for (uint32_t i = 0; i < r->n64; i++) {
        uint64_t id = wire_load_u64(r->ids64 + 8 * (size_t)i);
        size_t pos = id ? outbox_seek(m, id - 1) : m->outbox_n;
        if (pos < m->outbox_n && m->outbox[pos].id == id && m->outbox[pos].kind) {
            m->outbox[pos].kind = 0;
            m->outbox_live--;
            removed++;
        }
    }
    if (m->outbox_n > 64 && m->outbox_live * 2 < m->outbox_n) {
        size_t w = 0;
        for (size_t i = 0; i < m->outbox_n; i++)
            if (m->outbox[i].kind)
                m->outbox[w++] = m->outbox[i];
        m->outbox_n = w;
        /* Give back memory after a backlog drained (a dead chunk server
         * can leave millions of records behind). */
        size_t cap = CAIRN_MAX(w * 2, (size_t)64);
        if (cap < m->outbox_cap / 4) {
            struct meta_outbox_rec *v = realloc(m->outbox, cap * sizeof *v);
            if (v) {
                m->outbox = v;
                m->outbox_cap = cap;
            }
        }
    }
    wire_put_u32(e, removed);
    return 0;
}

size_t meta_outbox_list(const struct meta *m, uint32_t node, uint64_t after_id,
                        struct meta_outbox_rec *out, size_t max)
{
    size_t n = 0;
    for (size_t i = outbox_seek(m, after_id); i < m->outbox_n && n < max; i++) {
        const struct meta_outbox_rec *o = &m->outbox[i];
        if (o->kind && (node == 0 || o->node == node))
            out[n++] = *o;
    }
    return n;
}

static void chunk_info(const struct meta_chunk *ch, struct meta_chunk_info *out)
{
    memset(out, 0, sizeof *out);
    out->id = ch->id;
    out->version = ch->version;
    out->length = ch->length;
    out->state = ch->state;
    out->n_replicas = ch->n_replicas;
    memcpy(out->replicas, chunk_replicas(ch), ch->n_replicas * sizeof *out->replicas);
}

int meta_chunk_get(const struct meta *m, uint64_t chunk, struct meta_chunk_info *out)
{
    const struct meta_chunk *ch = meta_table_get(&m->chunks, chunk);
    if (!ch)
        return CAIRN_ENOENT;
    chunk_info(ch, out);
    return 0;
}

int meta_file_chunk(const struct meta *m, uint64_t ino, uint32_t index, struct meta_chunk_info *out)
{
    const struct meta_inode *in = meta_ino_get(m, ino);
    if (!in)
        return CAIRN_ENOENT;
    if (ino_is_dir(in))
        return CAIRN_EISDIR;
    if (!S_ISREG(in->mode))
        return CAIRN_EINVAL;
    uint64_t id = file_chunk_id(in, index);
    if (!id) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    return meta_chunk_get(m, id, out);
}
