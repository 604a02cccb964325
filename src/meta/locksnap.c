/*
 * locksnap.c: the lock sections of the snapshot (docs/locks.md, docs/meta.md).
 *
 * They follow the outbox and are written only when lock state exists (a
 * lock object or a fencing token), so a state without locks keeps the bytes
 * and digest it always had and older snapshots still load:
 *   u32 n_locks, each: u8 kind, u8 key_len, raw key, u64 last_token,
 *     u64 delay_until_ns, u32 n_held, n_held x HELD, u32 n_wait, n_wait x WAIT
 *   HELD = u64 session, u64 owner, u64 start, u64 end, u64 token,
 *     u64 wait_id, u32 delay_ms, u8 mode
 *   WAIT = u64 session, u64 owner, u64 start, u64 end, u64 wait_id,
 *     u64 deadline_ns, u32 delay_ms, u8 mode
 *   u32 n_fences, each: u64 ino, u64 token
 * Objects in (kind, key) order, holders in (session, owner, start) order,
 * waiters in queue order, fences by inode: canonical. The loader checks
 * every field, the order, the holders' compatibility, that sessions and
 * inodes exist and that tokens and wait ids are past log indexes.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/lock_int.h"

static void put_ent(struct wire_enc *e, const struct meta_lock_ent *x, int held)
{
    wire_put_u64(e, x->session);
    wire_put_u64(e, x->owner);
    wire_put_u64(e, x->start);
    wire_put_u64(e, x->end);
    wire_put_u64(e, held ? x->token : x->wait_id);
    wire_put_u64(e, held ? x->wait_id : x->deadline_ns);
    wire_put_u32(e, x->delay_ms);
    wire_put_u8(e, x->mode);
}

static void put_fences(const struct meta *m, struct wire_enc *e, uint64_t *keys)
{
    size_t n = 0;
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&m->fences, &it, &k, &v);)
        keys[n++] = k;
    qsort(keys, n, sizeof *keys, meta_cmp_u64);
    wire_put_u32(e, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        wire_put_u64(e, keys[i]);
        wire_put_u64(e, meta_lock_fence_get(m, keys[i]));
    }
}

int meta_lock_snap_put(const struct meta *m, struct wire_enc *e, void (*flush)(void *), void *ctx)
{
    if (m->locks_n == 0 && hmap_len(&m->fences) == 0)
        return 0;
    uint64_t *keys = malloc((hmap_len(&m->fences) + 1) * sizeof *keys);
    if (!keys)
        return CAIRN_ENOMEM;
    wire_put_u32(e, m->locks_n);
    for (uint32_t i = 0; i < m->locks_n; i++) {
        const struct meta_lock *lk = m->locks[i];
        wire_put_u8(e, lk->kind);
        wire_put_u8(e, lk->key_len);
        wire_put_raw(e, lk->key, lk->key_len);
        wire_put_u64(e, lk->last_token);
        wire_put_u64(e, lk->delay_until_ns);
        wire_put_u32(e, lk->n_held);
        for (uint32_t k = 0; k < lk->n_held; k++)
            put_ent(e, &lk->held[k], 1);
        wire_put_u32(e, lk->n_wait);
        for (uint32_t k = 0; k < lk->n_wait; k++)
            put_ent(e, &lk->wait[k], 0);
        flush(ctx);
    }
    put_fences(m, e, keys);
    free(keys);
    return 0;
}

/* --- loading ------------------------------------------------------------------ */

static int bad(struct wire_dec *d)
{
    if (!d->err)
        d->err = CAIRN_CORRUPT;
    return d->err;
}

/* One entry's fields as decoded, checked alone: session, mode, range. */
static int load_ent(struct wire_dec *d, const struct meta *m, const struct meta_lock *lk,
                    struct meta_lock_ent *x, int held)
{
    memset(x, 0, sizeof *x);
    x->session = wire_get_u64(d);
    x->owner = wire_get_u64(d);
    x->start = wire_get_u64(d);
    x->end = wire_get_u64(d);
    uint64_t a = wire_get_u64(d), b = wire_get_u64(d);
    x->delay_ms = wire_get_u32(d);
    x->mode = wire_get_u8(d);
    if (d->err)
        return d->err;
    x->token = held ? a : 0;
    x->wait_id = held ? b : a;
    x->deadline_ns = held ? 0 : b;
    int posix = lk->kind == META_LOCK_POSIX;
    if (!hmap_get(&m->sessions, x->session) ||
        (x->mode != META_LOCK_SHARED && x->mode != META_LOCK_EXCLUSIVE) ||
        (posix ? x->start >= x->end : (x->start != 0 || x->end != LOCK_END_MAX)) ||
        x->delay_ms > CAIRN_LOCK_DELAY_MAX_MS || x->wait_id > m->applied_index)
        return bad(d);
    if (held && (x->token == 0 || x->token > lk->last_token))
        return bad(d);
    if (!held && x->wait_id == 0)
        return bad(d);
    return 0;
}

/* Holders: canonical order and form, pairwise compatible. */
static int check_held(const struct meta_lock *lk)
{
    for (uint32_t i = 0; i < lk->n_held; i++) {
        const struct meta_lock_ent *x = &lk->held[i];
        for (uint32_t j = i + 1; j < lk->n_held; j++)
            if (meta_lock_conflict(x, &lk->held[j]))
                return CAIRN_CORRUPT;
        if (i == 0)
            continue;
        const struct meta_lock_ent *p = &lk->held[i - 1];
        if (p->session != x->session || p->owner != x->owner) {
            if (p->session > x->session || (p->session == x->session && p->owner > x->owner))
                return CAIRN_CORRUPT;
            continue;
        }
        /* the same holder: sorted, disjoint, never adjacent in one mode */
        if (p->end > x->start || (p->end == x->start && p->mode == x->mode))
            return CAIRN_CORRUPT;
    }
    return 0;
}

static int load_ents(struct wire_dec *d, struct meta *m, struct meta_lock *lk, int held)
{
    uint32_t n = wire_get_u32(d);
    if (d->err || n > 2 * CAIRN_LOCK_QUEUE_MAX || n > wire_dec_left(d) / 53)
        return bad(d);
    struct meta_lock_ent **v = held ? &lk->held : &lk->wait;
    uint32_t *cap = held ? &lk->cap_held : &lk->cap_wait;
    if (n && meta_lock_ents_reserve(v, cap, n))
        return CAIRN_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        struct meta_lock_ent *x = &(*v)[i];
        int rc = load_ent(d, m, lk, x, held);
        if (rc)
            return rc;
        if (!held &&
            (hmap_contains(&m->lock_waits, x->wait_id) || hmap_put(&m->lock_waits, x->wait_id, lk)))
            return hmap_contains(&m->lock_waits, x->wait_id) ? bad(d) : CAIRN_ENOMEM;
        if (held)
            lk->n_held++;
        else
            lk->n_wait++;
        meta_lock_count(m, x->session, 1);
    }
    return 0;
}

static int load_lock(struct wire_dec *d, struct meta *m)
{
    struct meta_lock_id id;
    id.kind = wire_get_u8(d);
    id.key_len = wire_get_u8(d);
    const uint8_t *key = wire_get_raw(d, id.key_len);
    if (!key)
        return bad(d);
    memcpy(id.key, key, id.key_len);
    int named = id.kind == META_LOCK_NAMED;
    if ((!named && id.kind != META_LOCK_FLOCK && id.kind != META_LOCK_POSIX) ||
        (named ? id.key_len == 0 || memchr(key, 0, id.key_len) : id.key_len != 8) ||
        (!named && meta_lock_id_ino(key) == 0))
        return bad(d);
    if (m->locks_n) {
        const struct meta_lock *p = m->locks[m->locks_n - 1];
        if (meta_lock_id_cmp(p->kind, p->key, p->key_len, id.kind, id.key, id.key_len) >= 0)
            return bad(d);
    }
    struct meta_lock *lk = meta_lock_new(&id);
    if (!lk || meta_lock_insert(m, m->locks_n, lk)) {
        free(lk);
        return CAIRN_ENOMEM;
    }
    lk->last_token = wire_get_u64(d);
    lk->delay_until_ns = wire_get_u64(d);
    if (d->err || lk->last_token > m->applied_index)
        return bad(d);
    int rc = load_ents(d, m, lk, 1);
    if (!rc)
        rc = load_ents(d, m, lk, 0);
    if (!rc && (check_held(lk) || (!lk->n_held && !lk->n_wait && !lk->delay_until_ns)))
        rc = bad(d);
    return rc;
}

static int load_fences(struct wire_dec *d, struct meta *m)
{
    uint32_t n = wire_get_u32(d);
    if (d->err || n > wire_dec_left(d) / 16)
        return bad(d);
    uint64_t last = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t ino = wire_get_u64(d), token = wire_get_u64(d);
        if (d->err || ino <= last || !meta_ino_get(m, ino) || token == 0 ||
            token > m->applied_index)
            return bad(d);
        last = ino;
        if (hmap_put(&m->fences, ino, (void *)(uintptr_t)token))
            return CAIRN_ENOMEM;
    }
    return 0;
}

int meta_lock_snap_load(struct wire_dec *d, struct meta *m)
{
    uint32_t n = wire_get_u32(d);
    if (d->err || n > CAIRN_LOCKS_MAX || n > wire_dec_left(d) / 27) /* 27: the smallest lock */
        return bad(d);
    for (uint32_t i = 0; i < n; i++) {
        int rc = load_lock(d, m);
        if (rc)
            return rc;
    }
    int rc = load_fences(d, m);
    if (rc)
        return rc;
    /* Written only when something exists: empty sections are not canonical. */
    if (m->locks_n == 0 && hmap_len(&m->fences) == 0)
        return bad(d);
    return m->lock_entries > 2 * CAIRN_LOCK_ENTRIES_MAX ? bad(d) : 0;
}
