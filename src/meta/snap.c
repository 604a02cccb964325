/*
 * snap.c: creating and freeing a state, the snapshot format, its loader and
 * the state digest.
 *
 * The snapshot is canonical: every table is written in key order (inodes by
 * number, chunks by id, ...), directory entries in cookie order, xattrs by
 * name, so two equal states give equal bytes whatever their tables' layout.
 * The digest is a hash of the same byte stream (without the applied index),
 * computed in 64 KiB pieces so it never holds the whole snapshot. The loader
 * trusts nothing: it checks the checksum, every length and limit, and the
 * cross-references (entries name existing inodes, link counts match, every
 * chunk is mapped once) before it hands out a state.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "meta/internal.h"

#define SNAP_MAGIC "CAIRNMS1"
#define SNAP_VERSION 3u
#define SNAP_PIECE (64u * 1024u)

struct meta *meta_alloc_empty(void)
{
    struct meta *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    meta_table_init(&m->inodes, sizeof(struct meta_inode));
    meta_table_init(&m->chunks, sizeof(struct meta_chunk));
    hmap_init(&m->xattrs);
    hmap_init(&m->sessions);
    hmap_init(&m->nodes);
    hmap_init(&m->pending);
    hmap_init(&m->held);
    meta_lock_init(m);
    m->next_ino = META_ROOT_INO;
    m->next_chunk = 1;
    m->next_outbox = 1;
    m->next_node = 1;
    return m;
}

struct meta *meta_new(void)
{
    struct meta *m = meta_alloc_empty();
    if (!m)
        return NULL;
    struct meta_inode *root = meta_table_insert(&m->inodes, META_ROOT_INO);
    struct meta_dir *d = meta_dir_new(META_ROOT_INO);
    if (!root || !d) {
        meta_dir_free(d);
        meta_free(m);
        return NULL;
    }
    root->mode = S_IFDIR | 0755;
    root->nlink = 2;
    root->goal = META_GOAL_DEFAULT;
    root->version = 1;
    root->u.dir = d;
    m->next_ino = META_ROOT_INO + 1;
    m->next_version = 2; /* version 1 is every new chunk's */
    return m;
}

void meta_ino_free_parts(struct meta_inode *in)
{
    if (S_ISDIR(in->mode))
        meta_dir_free(in->u.dir);
    else if (S_ISLNK(in->mode))
        free(in->u.target);
    else if (S_ISREG(in->mode) && in->n_chunks > 1)
        free(in->u.chunks);
}

void meta_free(struct meta *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < m->inodes.n_slots; i++) {
        struct meta_inode *in = meta_table_slot(&m->inodes, i);
        if (in->ino)
            meta_ino_free_parts(in);
    }
    for (uint32_t i = 0; i < m->chunks.n_slots; i++) {
        struct meta_chunk *ch = meta_table_slot(&m->chunks, i);
        if (ch->id && ch->n_replicas > META_CHUNK_INLINE)
            free(ch->rep.ext);
    }
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&m->xattrs, &it, &k, &v);) {
        struct meta_xattrs *s = v;
        for (uint32_t i = 0; i < s->n; i++) {
            free(s->v[i].name);
            free(s->v[i].value);
        }
        free(s->v);
        free(s);
    }
    for (size_t it = 0; hmap_next(&m->sessions, &it, &k, &v);)
        meta_session_free(v);
    for (size_t it = 0; hmap_next(&m->nodes, &it, &k, &v);) {
        struct meta_node *nd = v;
        free(nd->addr);
        free(nd->label);
        free(nd);
    }
    for (size_t it = 0; hmap_next(&m->pending, &it, &k, &v);)
        free(v);
    meta_table_free(&m->inodes);
    meta_table_free(&m->chunks);
    hmap_free(&m->xattrs);
    hmap_free(&m->sessions);
    hmap_free(&m->nodes);
    hmap_free(&m->pending);
    hmap_free(&m->held);
    meta_lock_free_all(m);
    free(m->outbox);
    free(m);
}

/* --- writing ------------------------------------------------------------------ */

/* Where the serializer's bytes go: the snapshot buffer, or a hash fed in
 * pieces (digest). */
struct snap_out {
    struct wire_enc e;
    struct cairn_buf scratch;
    int hashing;
    uint64_t h;
};

static void out_flush(struct snap_out *o, int force)
{
    if (!o->hashing || (!force && o->scratch.len < SNAP_PIECE))
        return;
    for (size_t i = 0; i < o->scratch.len; i++) {
        o->h ^= o->scratch.data[i];
        o->h *= 0x100000001b3ULL;
    }
    buf_reset(&o->scratch);
}

/* Keys of the live records of a table, sorted. */
static uint64_t *table_keys(const struct meta_table *t)
{
    uint64_t *keys = malloc((t->len ? t->len : 1) * sizeof *keys);
    if (!keys)
        return NULL;
    size_t n = 0;
    for (uint32_t i = 0; i < t->n_slots; i++) {
        uint64_t k;
        memcpy(&k, meta_table_slot(t, i), sizeof k);
        if (k)
            keys[n++] = k;
    }
    CAIRN_ASSERT(n == t->len);
    qsort(keys, n, sizeof *keys, meta_cmp_u64);
    return keys;
}

static uint64_t *hmap_keys(const struct hmap *map)
{
    size_t n = 0;
    uint64_t *keys = malloc((hmap_len(map) ? hmap_len(map) : 1) * sizeof *keys);
    if (!keys)
        return NULL;
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(map, &it, &k, &v);)
        keys[n++] = k;
    qsort(keys, n, sizeof *keys, meta_cmp_u64);
    return keys;
}

static void put_inode_body(struct wire_enc *e, const struct meta_inode *in)
{
    if (S_ISREG(in->mode)) {
        wire_put_u32(e, in->n_chunks);
        for (uint32_t i = 0; i < in->n_chunks; i++)
            wire_put_u64(e, in->n_chunks == 1 ? in->u.chunk : in->u.chunks[i]);
    } else if (S_ISLNK(in->mode)) {
        wire_put_raw(e, in->u.target, in->size);
    } else {
        const struct meta_dir *d = in->u.dir;
        wire_put_u64(e, d->parent);
        wire_put_u64(e, d->next_seq);
        wire_put_u32(e, d->n_live);
        for (uint32_t p = 0; p < d->n_ents; p++) {
            const struct meta_dent *de = &d->ents[p];
            if (!de->ino)
                continue;
            wire_put_u64(e, de->seq);
            wire_put_u64(e, de->ino);
            wire_put_u8(e, de->type);
            wire_put_u8(e, de->name_len);
            wire_put_raw(e, dent_name(d, de), de->name_len);
        }
    }
}

static void put_inode(struct snap_out *o, const struct meta *m, const struct meta_inode *in)
{
    struct wire_enc *e = &o->e;
    wire_put_u64(e, in->ino);
    wire_put_u16(e, in->mode);
    wire_put_u16(e, in->nlink);
    wire_put_u32(e, in->uid);
    wire_put_u32(e, in->gid);
    wire_put_u64(e, in->size);
    wire_put_u64(e, in->atime_ns);
    wire_put_u64(e, in->mtime_ns);
    wire_put_u64(e, in->ctime_ns);
    wire_put_u64(e, in->version);
    wire_put_u8(e, in->goal);
    wire_put_u8(e, in->flags);
    put_inode_body(e, in);
    const struct meta_xattrs *s = hmap_get(&m->xattrs, in->ino);
    wire_put_u32(e, s ? s->n : 0);
    for (uint32_t i = 0; s && i < s->n; i++) {
        wire_put_u8(e, s->v[i].name_len);
        wire_put_raw(e, s->v[i].name, s->v[i].name_len);
        wire_put_bytes(e, s->v[i].value, s->v[i].value_len);
    }
    out_flush(o, 0);
}

static void put_chunk(struct snap_out *o, const struct meta_chunk *ch)
{
    wire_put_u64(&o->e, ch->id);
    wire_put_u64(&o->e, ch->version);
    wire_put_u32(&o->e, ch->length);
    wire_put_u8(&o->e, ch->state);
    wire_put_u8(&o->e, ch->n_replicas);
    const uint32_t *rep = chunk_replicas(ch);
    for (uint8_t i = 0; i < ch->n_replicas; i++)
        wire_put_u32(&o->e, rep[i]);
    out_flush(o, 0);
}

static int put_tables(struct snap_out *o, const struct meta *m)
{
    uint64_t *keys = table_keys(&m->inodes);
    if (!keys)
        return CAIRN_ENOMEM;
    wire_put_u64(&o->e, m->inodes.len);
    for (uint32_t i = 0; i < m->inodes.len; i++)
        put_inode(o, m, meta_table_get(&m->inodes, keys[i]));
    free(keys);
    keys = table_keys(&m->chunks);
    if (!keys)
        return CAIRN_ENOMEM;
    wire_put_u64(&o->e, m->chunks.len);
    for (uint32_t i = 0; i < m->chunks.len; i++)
        put_chunk(o, meta_table_get(&m->chunks, keys[i]));
    free(keys);
    return 0;
}

static void put_node(struct wire_enc *e, const struct meta_node *nd)
{
    wire_put_u32(e, nd->id);
    wire_put_u8(e, nd->state);
    wire_put_u64(e, nd->capacity);
    wire_put_u64(e, nd->used);
    wire_put_str16(e, nd->addr, nd->addr_len);
    wire_put_str16(e, nd->label, nd->label_len);
}

static void put_session(struct wire_enc *e, const struct meta_session *s)
{
    wire_put_u64(e, s->id);
    wire_put_u64(e, s->expiry_ns);
    wire_put_u64(e, s->lease_ns);
    wire_put_u64(e, s->last_seq);
    wire_put_bytes(e, s->reply, s->reply_len);
    meta_hold_snap_put(e, s);
}

static void put_pending(struct wire_enc *e, const struct meta_pending *p)
{
    wire_put_u64(e, p->ino);
    wire_put_u32(e, p->index);
    wire_put_u64(e, p->chunk);
    wire_put_u64(e, p->version);
    wire_put_u64(e, p->deadline_ns);
    wire_put_u8(e, p->is_new);
    wire_put_u8(e, p->n);
    for (uint8_t i = 0; i < p->n; i++)
        wire_put_u32(e, p->replicas[i]);
    wire_put_u64(e, p->session);
}

/* Nodes, sessions and pending writes: small maps written in key order. */
static int put_maps(struct snap_out *o, const struct meta *m)
{
    const struct hmap *maps[3] = {&m->nodes, &m->sessions, &m->pending};
    for (int k = 0; k < 3; k++) {
        uint64_t *keys = hmap_keys(maps[k]);
        if (!keys)
            return CAIRN_ENOMEM;
        size_t n = hmap_len(maps[k]);
        wire_put_u32(&o->e, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
            const void *v = hmap_get(maps[k], keys[i]);
            if (k == 0)
                put_node(&o->e, v);
            else if (k == 1)
                put_session(&o->e, v);
            else
                put_pending(&o->e, v);
            out_flush(o, 0);
        }
        free(keys);
    }
    return 0;
}

static void put_outbox(struct snap_out *o, const struct meta *m)
{
    wire_put_u64(&o->e, m->outbox_live);
    for (size_t i = 0; i < m->outbox_n; i++) {
        const struct meta_outbox_rec *r = &m->outbox[i];
        if (!r->kind)
            continue;
        wire_put_u64(&o->e, r->id);
        wire_put_u64(&o->e, r->chunk);
        wire_put_u64(&o->e, r->version);
        wire_put_u32(&o->e, r->node);
        wire_put_u32(&o->e, r->length);
        wire_put_u8(&o->e, r->kind);
        out_flush(o, 0);
    }
}

static void snap_flush(void *o) { out_flush(o, 0); }

/* The whole state as a byte stream (without the checksum). */
static int snap_write(struct snap_out *o, const struct meta *m)
{
    struct wire_enc *e = &o->e;
    wire_put_raw(e, SNAP_MAGIC, 8);
    wire_put_u32(e, SNAP_VERSION);
    wire_put_u64(e, o->hashing ? 0 : m->applied_index);
    wire_put_u64(e, m->now_ns);
    wire_put_u64(e, m->next_ino);
    wire_put_u64(e, m->next_chunk);
    wire_put_u64(e, m->next_outbox);
    wire_put_u32(e, m->next_node);
    wire_put_u64(e, m->used_bytes);
    wire_put_u64(e, m->next_version);
    int rc = put_tables(o, m);
    if (!rc)
        rc = put_maps(o, m);
    if (!rc)
        put_outbox(o, m);
    if (!rc)
        rc = meta_lock_snap_put(m, e, snap_flush, o);
    out_flush(o, 1);
    return rc ? rc : e->err;
}

int meta_snapshot(const struct meta *m, struct cairn_buf *out)
{
    struct snap_out o;
    memset(&o, 0, sizeof o);
    size_t start = out->len;
    wire_enc_init(&o.e, out);
    int rc = snap_write(&o, m);
    if (!rc) {
        uint32_t crc = crc32c(0, out->data + start, out->len - start);
        wire_put_u32(&o.e, crc);
        rc = o.e.err;
    }
    if (rc)
        out->len = start;
    return rc;
}

uint64_t meta_digest(const struct meta *m)
{
    struct snap_out o;
    memset(&o, 0, sizeof o);
    buf_init(&o.scratch, 0);
    wire_enc_init(&o.e, &o.scratch);
    o.hashing = 1;
    o.h = 0xcbf29ce484222325ULL;
    int rc = snap_write(&o, m);
    CAIRN_ASSERTF(rc == 0, "meta: digest: %d", rc);
    buf_free(&o.scratch);
    return hash_u64(o.h);
}
