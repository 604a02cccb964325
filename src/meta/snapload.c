/*
 * snapload.c: meta_snapshot_load(), which rebuilds a state from the bytes
 * meta_snapshot() wrote (layout in docs/meta.md).
 *
 * A snapshot comes from disk or from another server, so nothing in it is
 * trusted: the checksum is checked first, then every field as it is
 * decoded (lengths, limits, ordering, no duplicate keys), and at the end
 * the cross-references of the whole state (meta_check_refs). Any failure frees
 * what was built and returns CAIRN_CORRUPT; the loader never asserts on
 * input.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "meta/internal.h"

/* Version 2 added next_version and each session's holds; version 3 each
 * pending write's session. Older snapshots still load (version 1: no
 * holds, next_version derived; versions 1-2: pending writes of no session,
 * which end at their deadline only). */
#define SNAP_VERSION 3u

static int bad(struct wire_dec *d)
{
    if (!d->err)
        d->err = CAIRN_CORRUPT;
    return d->err;
}

static int load_dir(struct wire_dec *d, struct meta_inode *in)
{
    struct meta_dir *dir = meta_dir_new(wire_get_u64(d));
    if (!dir)
        return CAIRN_ENOMEM;
    in->u.dir = dir;
    uint64_t next_seq = wire_get_u64(d);
    uint32_t n = wire_get_u32(d);
    uint64_t last = META_SEQ_FIRST - 1;
    for (uint32_t i = 0; i < n && !d->err; i++) {
        uint64_t seq = wire_get_u64(d), ino = wire_get_u64(d);
        uint8_t type = wire_get_u8(d);
        struct wire_bytes name = wire_get_name(d);
        if (d->err)
            break;
        if (seq <= last || seq >= next_seq || ino == 0 || meta_dir_find(dir, name.p, name.len))
            return bad(d);
        last = seq;
        dir->next_seq = seq;
        int rc = meta_dir_add(dir, name.p, name.len, ino, type);
        if (rc)
            return rc;
    }
    dir->next_seq = next_seq;
    return d->err;
}

static int load_file_map(struct wire_dec *d, struct meta_inode *in)
{
    uint32_t n = wire_get_u32(d);
    if (d->err || n > CAIRN_FILE_SIZE_MAX / CAIRN_CHUNK_SIZE || n > wire_dec_left(d) / 8)
        return bad(d);
    if (n > 1) {
        in->u.chunks = malloc(n * sizeof(uint64_t));
        if (!in->u.chunks)
            return CAIRN_ENOMEM;
    }
    in->n_chunks = n;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = wire_get_u64(d);
        if (n == 1)
            in->u.chunk = id;
        else
            in->u.chunks[i] = id;
    }
    return d->err;
}

static int load_xattrs(struct wire_dec *d, struct meta *m, uint64_t ino)
{
    uint32_t n = wire_get_u32(d);
    if (d->err || n > CAIRN_XATTR_COUNT_MAX)
        return bad(d);
    for (uint32_t i = 0; i < n && !d->err; i++) {
        struct meta_req r;
        memset(&r, 0, sizeof r);
        uint8_t len = wire_get_u8(d);
        r.name.p = wire_get_raw(d, len);
        r.name.len = len;
        r.data = wire_get_bytes(d, CAIRN_XATTR_VALUE_MAX);
        if (d->err || len == 0 || memchr(r.name.p, 0, len))
            return bad(d);
        /* Names must come in strictly increasing order (canonical form). */
        struct meta_xattrs *s = hmap_get(&m->xattrs, ino);
        if (s && s->n) {
            const struct meta_xattr *x = &s->v[s->n - 1];
            size_t k = CAIRN_MIN(x->name_len, len);
            int c = memcmp(x->name, r.name.p, k);
            if (c > 0 || (c == 0 && x->name_len >= len))
                return bad(d);
        }
        r.ino = ino;
        r.flags = META_XATTR_CREATE;
        int rc = meta_xattr_store(m, &r);
        if (rc)
            return rc == CAIRN_ENOMEM ? rc : bad(d);
    }
    return d->err;
}

static int valid_mode(uint16_t mode) { return S_ISREG(mode) || S_ISDIR(mode) || S_ISLNK(mode); }

static int load_inode(struct wire_dec *d, struct meta *m)
{
    uint64_t ino = wire_get_u64(d);
    if (d->err || ino == 0 || ino >= m->next_ino || meta_table_get(&m->inodes, ino))
        return bad(d);
    struct meta_inode *in = meta_table_insert(&m->inodes, ino);
    if (!in)
        return CAIRN_ENOMEM;
    in->mode = wire_get_u16(d);
    in->nlink = wire_get_u16(d);
    in->uid = wire_get_u32(d);
    in->gid = wire_get_u32(d);
    in->size = wire_get_u64(d);
    in->atime_ns = wire_get_u64(d);
    in->mtime_ns = wire_get_u64(d);
    in->ctime_ns = wire_get_u64(d);
    in->version = wire_get_u64(d);
    in->goal = wire_get_u8(d);
    in->flags = wire_get_u8(d);
    if (d->err || !valid_mode(in->mode) || in->goal < 1 || in->goal > CAIRN_GOAL_MAX)
        return bad(d);
    int rc;
    if (S_ISREG(in->mode)) {
        rc = load_file_map(d, in);
        if (!rc && in->size > CAIRN_FILE_SIZE_MAX)
            rc = bad(d);
    } else if (S_ISLNK(in->mode)) {
        const uint8_t *t =
            in->size && in->size <= CAIRN_SYMLINK_MAX ? wire_get_raw(d, in->size) : NULL;
        if (!t)
            return bad(d);
        in->u.target = malloc(in->size);
        if (!in->u.target)
            return CAIRN_ENOMEM;
        memcpy(in->u.target, t, in->size);
        rc = 0;
    } else {
        rc = load_dir(d, in);
    }
    return rc ? rc : load_xattrs(d, m, ino);
}

static int load_chunk(struct wire_dec *d, struct meta *m)
{
    uint64_t id = wire_get_u64(d);
    if (d->err || id == 0 || id >= m->next_chunk || meta_table_get(&m->chunks, id))
        return bad(d);
    struct meta_chunk *ch = meta_table_insert(&m->chunks, id);
    if (!ch)
        return CAIRN_ENOMEM;
    ch->version = wire_get_u64(d);
    ch->length = wire_get_u32(d);
    ch->state = wire_get_u8(d);
    uint8_t n = wire_get_u8(d);
    uint32_t rep[CAIRN_GOAL_MAX];
    if (d->err || n > CAIRN_GOAL_MAX || ch->length > CAIRN_CHUNK_SIZE ||
        (ch->state != META_CHUNK_CLEAN && ch->state != META_CHUNK_WRITING))
        return bad(d);
    for (uint8_t i = 0; i < n; i++)
        rep[i] = wire_get_u32(d);
    ch->n_replicas = 0;
    return d->err ? d->err : meta_chunk_set_replicas(ch, rep, n);
}

static int load_node(struct wire_dec *d, struct meta *m)
{
    struct meta_req r;
    memset(&r, 0, sizeof r);
    r.u32a = wire_get_u32(d);
    uint8_t state = wire_get_u8(d);
    r.u64a = wire_get_u64(d);
    r.u64b = wire_get_u64(d);
    r.name = wire_get_str16(d, CAIRN_NODE_ADDR_MAX);
    r.name2 = wire_get_str16(d, CAIRN_NODE_LABEL_MAX);
    if (d->err || r.u32a == 0 || r.u32a >= m->next_node || hmap_contains(&m->nodes, r.u32a) ||
        state < META_NODE_UP || state > META_NODE_DRAINING)
        return bad(d);
    struct cairn_buf scratch;
    buf_init(&scratch, 0);
    struct wire_enc e;
    wire_enc_init(&e, &scratch);
    uint32_t next = m->next_node;
    int rc = meta_node_register(m, &r, &e);
    buf_free(&scratch);
    m->next_node = next;
    if (rc)
        return rc;
    ((struct meta_node *)hmap_get(&m->nodes, r.u32a))->state = state;
    return 0;
}

static int load_session(struct wire_dec *d, struct meta *m, int with_holds)
{
    uint64_t id = wire_get_u64(d);
    struct meta_session *s = calloc(1, sizeof *s);
    if (!s)
        return CAIRN_ENOMEM;
    s->id = id;
    s->expiry_ns = wire_get_u64(d);
    s->lease_ns = wire_get_u64(d);
    s->last_seq = wire_get_u64(d);
    struct wire_bytes rep = wire_get_bytes(d, CAIRN_FRAME_PAYLOAD_MAX);
    if (d->err || id == 0 || hmap_contains(&m->sessions, id) || (rep.len && rep.len < 4) ||
        (s->last_seq == 0) != (rep.len == 0)) {
        free(s);
        return bad(d);
    }
    s->reply_len = rep.len;
    s->reply = rep.len ? malloc(rep.len) : NULL;
    if ((rep.len && !s->reply) || hmap_put(&m->sessions, id, s)) {
        meta_session_free(s);
        return CAIRN_ENOMEM;
    }
    if (rep.len)
        memcpy(s->reply, rep.p, rep.len);
    return with_holds ? meta_hold_snap_load(d, m, s) : 0;
}

static int load_session_v1(struct wire_dec *d, struct meta *m) { return load_session(d, m, 0); }
static int load_session_v2(struct wire_dec *d, struct meta *m) { return load_session(d, m, 1); }

static int load_pending(struct wire_dec *d, struct meta *m, int with_session)
{
    struct meta_pending *p = calloc(1, sizeof *p);
    if (!p)
        return CAIRN_ENOMEM;
    p->ino = wire_get_u64(d);
    p->index = wire_get_u32(d);
    p->chunk = wire_get_u64(d);
    p->version = wire_get_u64(d);
    p->deadline_ns = wire_get_u64(d);
    p->is_new = wire_get_u8(d);
    p->n = wire_get_u8(d);
    if (!d->err && (p->n == 0 || p->n > CAIRN_GOAL_MAX))
        d->err = CAIRN_CORRUPT;
    for (uint8_t i = 0; i < p->n && !d->err; i++)
        p->replicas[i] = wire_get_u32(d);
    if (with_session)
        p->session = wire_get_u64(d);
    const struct meta_inode *in = d->err ? NULL : meta_table_get(&m->inodes, p->ino);
    uint64_t key = pending_key(p->ino, p->index);
    if (!in || !S_ISREG(in->mode) || !(in->flags & META_INO_PENDING) || p->is_new > 1 ||
        p->index >= CAIRN_FILE_SIZE_MAX / CAIRN_CHUNK_SIZE || hmap_contains(&m->pending, key)) {
        free(p);
        return bad(d);
    }
    if (hmap_put(&m->pending, key, p)) {
        free(p);
        return CAIRN_ENOMEM;
    }
    return 0;
}

static int load_pending_v2(struct wire_dec *d, struct meta *m) { return load_pending(d, m, 0); }
static int load_pending_v3(struct wire_dec *d, struct meta *m) { return load_pending(d, m, 1); }

static int load_outbox(struct wire_dec *d, struct meta *m)
{
    uint64_t n = wire_get_u64(d);
    if (d->err || n > wire_dec_left(d) / 33) /* 33 bytes a record */
        return bad(d);
    uint64_t last = 0;
    for (uint64_t i = 0; i < n && !d->err; i++) {
        uint64_t id = wire_get_u64(d), chunk = wire_get_u64(d), version = wire_get_u64(d);
        uint32_t node = wire_get_u32(d), length = wire_get_u32(d);
        uint8_t kind = wire_get_u8(d);
        if (d->err || id <= last || id >= m->next_outbox || kind < META_OUT_COMMIT ||
            kind > META_OUT_TRUNCATE)
            return bad(d);
        last = id;
        uint64_t next = m->next_outbox;
        m->next_outbox = id;
        meta_outbox_add(m, node, kind, chunk, version, length);
        m->next_outbox = next;
    }
    return d->err;
}

/* The counted sections: inodes, chunks, nodes, sessions, pending writes. */
static int load_sections(struct wire_dec *d, struct meta *m, uint32_t version)
{
    int (*const fns[5])(struct wire_dec *, struct meta *) = {
        load_inode, load_chunk, load_node, version == 1 ? load_session_v1 : load_session_v2,
        version < 3 ? load_pending_v2 : load_pending_v3};
    for (int k = 0; k < 5; k++) {
        uint64_t n = k < 2 ? wire_get_u64(d) : wire_get_u32(d);
        if (d->err || n > wire_dec_left(d))
            return bad(d);
        for (uint64_t i = 0; i < n; i++) {
            int rc = fns[k](d, m);
            if (rc)
                return rc;
        }
    }
    return load_outbox(d, m);
}

int meta_snapshot_load(const uint8_t *p, size_t len, struct meta **out)
{
    *out = NULL;
    if (len < 12 || memcmp(p, "CAIRNMS1", 8) != 0)
        return CAIRN_CORRUPT;
    uint32_t version = wire_load_u32(p + 8);
    if (version < 1 || version > SNAP_VERSION)
        return CAIRN_BADVERSION;
    if (crc32c(0, p, len - 4) != wire_load_u32(p + len - 4))
        return CAIRN_CORRUPT;
    struct meta *m = meta_alloc_empty();
    if (!m)
        return CAIRN_ENOMEM;
    struct wire_dec d;
    wire_dec_init(&d, p + 12, len - 16);
    m->applied_index = wire_get_u64(&d);
    m->now_ns = wire_get_u64(&d);
    m->next_ino = wire_get_u64(&d);
    m->next_chunk = wire_get_u64(&d);
    m->next_outbox = wire_get_u64(&d);
    m->next_node = wire_get_u32(&d);
    m->used_bytes = wire_get_u64(&d);
    if (version >= 2)
        m->next_version = wire_get_u64(&d);
    int rc = d.err ? CAIRN_CORRUPT : load_sections(&d, m, version);
    if (!rc && version == 1)
        meta_version_floor(m);
    /* Lock sections (locksnap.c) follow only when lock state exists. */
    if (!rc && wire_dec_left(&d) > 0)
        rc = meta_lock_snap_load(&d, m);
    if (!rc && wire_dec_finish(&d))
        rc = CAIRN_CORRUPT;
    if (!rc)
        rc = meta_check_refs(m);
    if (rc) {
        meta_free(m);
        return rc == CAIRN_ENOMEM ? rc : CAIRN_CORRUPT;
    }
    *out = m;
    return 0;
}
