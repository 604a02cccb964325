/*
 * lockq.c: the strict decoder of the lock commands (layouts in cmd.h) and
 * the lock reads: LOCK_STATUS (what one holder has and waits for: how a
 * queued client learns it was granted) and LOCK_LIST (holders, tokens and
 * waiters of every lock, for `cairn lock --list`). Reads change nothing.
 */
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/lock_int.h"

static void bad_if(struct wire_dec *d, int cond)
{
    if (!d->err && cond)
        d->err = CAIRN_BADMSG;
}

/* LOCKID: u8 kind, u64 ino, str16 name; kind 0 (no lock) only if allowed. */
static void dec_lockid(struct wire_dec *d, uint8_t *kind, uint64_t *ino, struct wire_bytes *name,
                       int allow_none)
{
    *kind = wire_get_u8(d);
    *ino = wire_get_u64(d);
    *name = wire_get_str16(d, CAIRN_LOCK_NAME_MAX);
    if (d->err)
        return;
    int ok;
    if (*kind == 0)
        ok = allow_none && *ino == 0 && name->len == 0;
    else if (*kind == META_LOCK_NAMED)
        ok = *ino == 0 && name->len > 0 && !memchr(name->p, 0, name->len);
    else if (*kind == META_LOCK_FLOCK || *kind == META_LOCK_POSIX)
        ok = *ino != 0 && name->len == 0;
    else
        ok = 0;
    bad_if(d, !ok);
}

/* u64 start, u64 end: a POSIX range [start, end), else 0, 0. */
static void dec_range(struct wire_dec *d, struct meta_req *r)
{
    r->u64b = wire_get_u64(d);
    r->u64c = wire_get_u64(d);
    if (r->u8a == META_LOCK_POSIX)
        bad_if(d, r->u64b >= r->u64c);
    else
        bad_if(d, r->u64b != 0 || r->u64c != 0);
}

void meta_lock_decode(struct wire_dec *d, struct meta_req *r)
{
    switch (r->h.type) {
    case META_LOCK_ACQUIRE:
    case META_LOCK_RELEASE:
        dec_lockid(d, &r->u8a, &r->ino, &r->name, 0);
        r->u64a = wire_get_u64(d);
        if (r->h.type == META_LOCK_RELEASE) {
            dec_range(d, r);
            return;
        }
        r->mode = wire_get_u8(d);
        r->flags = wire_get_u8(d);
        dec_range(d, r);
        r->u32a = wire_get_u32(d);
        r->u32b = wire_get_u32(d);
        bad_if(d, r->mode != META_LOCK_SHARED && r->mode != META_LOCK_EXCLUSIVE);
        bad_if(d, (r->flags & ~META_LOCK_WAIT) || (r->u32a && !(r->flags & META_LOCK_WAIT)));
        bad_if(d, r->u32b > CAIRN_LOCK_DELAY_MAX_MS);
        return;
    case META_LOCK_CANCEL:
        r->u64a = wire_get_u64(d);
        return;
    case META_LOCK_STATUS:
        dec_lockid(d, &r->u8a, &r->ino, &r->name, 0);
        r->ino2 = wire_get_u64(d);
        r->u64a = wire_get_u64(d);
        return;
    case META_LOCK_LIST:
        r->u8a = wire_get_u8(d);
        r->name = wire_get_str16(d, CAIRN_LOCK_NAME_MAX);
        dec_lockid(d, &r->goal, &r->ino2, &r->name2, 1);
        r->u32a = wire_get_u32(d);
        bad_if(d, r->u8a > META_LOCK_POSIX || r->u32a == 0 || r->u32a > CAIRN_LOCK_LIST_MAX);
        bad_if(d, r->name.len && r->u8a != 0 && r->u8a != META_LOCK_NAMED);
        return;
    default:
        CAIRN_UNREACHABLE();
    }
}

static void put_lockid(struct wire_enc *e, const struct meta_lock *lk)
{
    int named = lk->kind == META_LOCK_NAMED;
    wire_put_u8(e, lk->kind);
    wire_put_u64(e, named ? 0 : meta_lock_id_ino(lk->key));
    wire_put_str16(e, lk->key, named ? lk->key_len : 0);
}

static void put_range(struct wire_enc *e, const struct meta_lock_ent *x)
{
    wire_put_u8(e, x->mode);
    wire_put_u64(e, x->start);
    wire_put_u64(e, x->end);
}

/* LOCK_STATUS: the ranges one holder has and the waits it has queued. */
static int q_status(const struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    struct meta_lock_id id;
    meta_lock_id_of(&id, r->u8a, r->ino, r->name.p, r->name.len);
    int found;
    uint32_t pos = meta_lock_find(m, &id, &found);
    const struct meta_lock *lk = found ? m->locks[pos] : NULL;
    wire_put_u64(e, lk ? lk->last_token : 0);
    uint32_t n = 0;
    for (uint32_t i = 0; lk && i < lk->n_held; i++)
        n += lk->held[i].session == r->ino2 && lk->held[i].owner == r->u64a;
    wire_put_u32(e, n);
    for (uint32_t i = 0; lk && i < lk->n_held; i++) {
        const struct meta_lock_ent *x = &lk->held[i];
        if (x->session != r->ino2 || x->owner != r->u64a)
            continue;
        put_range(e, x);
        wire_put_u64(e, x->token);
        wire_put_u64(e, x->wait_id);
    }
    n = 0;
    for (uint32_t i = 0; lk && i < lk->n_wait; i++)
        n += lk->wait[i].session == r->ino2 && lk->wait[i].owner == r->u64a;
    wire_put_u32(e, n);
    for (uint32_t i = 0; lk && i < lk->n_wait; i++) {
        const struct meta_lock_ent *x = &lk->wait[i];
        if (x->session != r->ino2 || x->owner != r->u64a)
            continue;
        put_range(e, x);
        wire_put_u64(e, x->wait_id);
        wire_put_u32(e, i);
    }
    return 0;
}

static void put_lock(struct wire_enc *e, const struct meta_lock *lk)
{
    put_lockid(e, lk);
    wire_put_u64(e, lk->last_token);
    wire_put_u64(e, lk->delay_until_ns);
    wire_put_u32(e, lk->n_held);
    for (uint32_t i = 0; i < lk->n_held; i++) {
        const struct meta_lock_ent *x = &lk->held[i];
        wire_put_u64(e, x->session);
        wire_put_u64(e, x->owner);
        put_range(e, x);
        wire_put_u64(e, x->token);
    }
    wire_put_u32(e, lk->n_wait);
    for (uint32_t i = 0; i < lk->n_wait; i++) {
        const struct meta_lock_ent *x = &lk->wait[i];
        wire_put_u64(e, x->session);
        wire_put_u64(e, x->owner);
        put_range(e, x);
        wire_put_u64(e, x->wait_id);
        wire_put_u64(e, x->deadline_ns);
    }
}

static int list_match(const struct meta_lock *lk, const struct meta_req *r)
{
    if (r->u8a && lk->kind != r->u8a)
        return 0;
    if (r->name.len == 0)
        return 1;
    return lk->kind == META_LOCK_NAMED && lk->key_len >= r->name.len &&
           memcmp(lk->key, r->name.p, r->name.len) == 0;
}

/* LOCK_LIST: locks in (kind, key) order after the cursor, up to max of them
 * and about CAIRN_LOCK_LIST_BYTES_MAX of reply. */
static int q_list(const struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    uint32_t pos = 0;
    if (r->goal) {
        struct meta_lock_id after;
        meta_lock_id_of(&after, r->goal, r->ino2, r->name2.p, r->name2.len);
        int found;
        pos = meta_lock_find(m, &after, &found);
        pos += (uint32_t)found;
    }
    size_t count_at = e->b->len, begin = e->b->len;
    wire_put_u32(e, 0);
    uint32_t n = 0;
    uint8_t more = 0;
    for (; pos < m->locks_n && !e->err; pos++) {
        const struct meta_lock *lk = m->locks[pos];
        if (r->name.len && lk->kind > META_LOCK_NAMED)
            break;
        if (!list_match(lk, r))
            continue;
        if (n == r->u32a || e->b->len - begin > CAIRN_LOCK_LIST_BYTES_MAX) {
            more = 1;
            break;
        }
        put_lock(e, lk);
        n++;
    }
    wire_put_u8(e, more);
    if (!e->err)
        wire_store_u32(e->b->data + count_at, n);
    return 0;
}

int meta_lock_query(const struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    if (r->h.type == META_LOCK_STATUS)
        return q_status(m, r, e);
    CAIRN_ASSERT(r->h.type == META_LOCK_LIST);
    return q_list(m, r, e);
}
