/*
 * lock.c: pessimistic locks held by client sessions (DESIGN §6,
 * docs/locks.md): named locks and per-inode flock and fcntl (POSIX
 * byte-range) locks, shared or exclusive, try or wait in a FIFO queue, with
 * fencing tokens, lock-delay after a session expires, and release of
 * everything a session held when it closes or expires.
 *
 * Tokens. A grant's fencing token is the log index of the entry that
 * applied it: indexes only grow, on every replica and across leader
 * changes, so a lock's tokens strictly increase from one grant to the next
 * with nothing stored to keep them so (waiters granted together by one
 * entry share its index).
 *
 * Fairness. A request waits when it conflicts with a holder or, for named
 * and flock locks, with a waiter ahead of it: shared requests do not pass a
 * waiting exclusive one. Byte-range locks are not fair (as POSIX and Linux):
 * an owner converting a range it holds while another owner waits for it
 * would otherwise deadlock.
 *
 * Waiters granted later (a holder released, a session ended, a lock-delay
 * or a wait deadline passed at a TICK) are recorded in m->grants for
 * meta_lock_grants(), and releases and cancels also list them in their
 * reply. Everything is decided by the command's time and log index only.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/time.h"
#include "meta/lock_int.h"

_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "fencing tokens stored as map values");

/* --- lock ids and the object table ------------------------------------------- */

void meta_lock_id_of(struct meta_lock_id *id, uint8_t kind, uint64_t ino, const uint8_t *name,
                     size_t len)
{
    id->kind = kind;
    if (kind == META_LOCK_NAMED) {
        CAIRN_ASSERT(len >= 1 && len <= CAIRN_LOCK_NAME_MAX);
        memcpy(id->key, name, len);
        id->key_len = (uint8_t)len;
        return;
    }
    /* Big-endian, so byte order is numeric order in listings. */
    for (int i = 0; i < 8; i++)
        id->key[i] = (uint8_t)(ino >> (56 - 8 * i));
    id->key_len = 8;
}

uint64_t meta_lock_id_ino(const uint8_t *key)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | key[i];
    return v;
}

int meta_lock_id_cmp(uint8_t ka, const uint8_t *a, size_t na, uint8_t kb, const uint8_t *b,
                     size_t nb)
{
    if (ka != kb)
        return ka < kb ? -1 : 1;
    size_t n = na < nb ? na : nb;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return (na > nb) - (na < nb);
}

uint32_t meta_lock_find(const struct meta *m, const struct meta_lock_id *id, int *found)
{
    uint32_t lo = 0, hi = m->locks_n;
    *found = 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct meta_lock *lk = m->locks[mid];
        int c = meta_lock_id_cmp(lk->kind, lk->key, lk->key_len, id->kind, id->key, id->key_len);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct meta_lock *meta_lock_new(const struct meta_lock_id *id)
{
    struct meta_lock *lk = calloc(1, sizeof *lk + id->key_len);
    if (!lk)
        return NULL;
    lk->kind = id->kind;
    lk->key_len = id->key_len;
    memcpy(lk->key, id->key, id->key_len);
    return lk;
}

int meta_lock_insert(struct meta *m, uint32_t pos, struct meta_lock *lk)
{
    if (m->locks_n == m->locks_cap) {
        uint32_t cap = m->locks_cap ? m->locks_cap * 2 : 16;
        struct meta_lock **v = realloc(m->locks, cap * sizeof *v);
        if (!v)
            return CAIRN_ENOMEM;
        m->locks = v;
        m->locks_cap = cap;
    }
    memmove(&m->locks[pos + 1], &m->locks[pos], (m->locks_n - pos) * sizeof *m->locks);
    m->locks[pos] = lk;
    m->locks_n++;
    return 0;
}

static void lock_free(struct meta_lock *lk)
{
    free(lk->held);
    free(lk->wait);
    free(lk);
}

/* Drop the object at pos once nobody holds or waits and no lock-delay runs.
 * Returns 1 if it went. */
static int lock_gc(struct meta *m, uint32_t pos)
{
    struct meta_lock *lk = m->locks[pos];
    if (lk->n_held || lk->n_wait || lk->delay_until_ns)
        return 0;
    memmove(&m->locks[pos], &m->locks[pos + 1], (m->locks_n - pos - 1) * sizeof *m->locks);
    m->locks_n--;
    lock_free(lk);
    if (m->locks_n == 0) {
        free(m->locks);
        m->locks = NULL;
        m->locks_cap = 0;
    }
    return 1;
}

static void lock_gc_obj(struct meta *m, const struct meta_lock *lk)
{
    struct meta_lock_id id;
    id.kind = lk->kind;
    id.key_len = lk->key_len;
    memcpy(id.key, lk->key, lk->key_len);
    int found;
    uint32_t pos = meta_lock_find(m, &id, &found);
    CAIRN_ASSERT(found && m->locks[pos] == lk);
    lock_gc(m, pos);
}

/* --- entries ----------------------------------------------------------------- */

int meta_lock_conflict(const struct meta_lock_ent *a, const struct meta_lock_ent *b)
{
    if (a->session == b->session && a->owner == b->owner)
        return 0;
    if (a->end <= b->start || b->end <= a->start)
        return 0;
    return a->mode == META_LOCK_EXCLUSIVE || b->mode == META_LOCK_EXCLUSIVE;
}

int meta_lock_ents_reserve(struct meta_lock_ent **v, uint32_t *cap, uint32_t need)
{
    if (need <= *cap)
        return 0;
    uint32_t c = *cap ? *cap : 4;
    while (c < need)
        c *= 2;
    struct meta_lock_ent *p = realloc(*v, (size_t)c * sizeof *p);
    if (!p)
        return CAIRN_ENOMEM;
    *v = p;
    *cap = c;
    return 0;
}

void meta_lock_count(struct meta *m, uint64_t s, int delta)
{
    struct meta_session *ss = hmap_get(&m->sessions, s);
    CAIRN_ASSERTF(ss, "meta: lock entry of unknown session %llu", (unsigned long long)s);
    ss->n_locks = (uint32_t)((int64_t)ss->n_locks + delta);
    m->lock_entries = (uint32_t)((int64_t)m->lock_entries + delta);
}

static int holder_cmp(const struct meta_lock_ent *e, uint64_t s, uint64_t o)
{
    if (e->session != s)
        return e->session < s ? -1 : 1;
    return (e->owner > o) - (e->owner < o);
}

/* The held entries of holder (s, o): a run starting at the returned index. */
static uint32_t own_span(const struct meta_lock *lk, uint64_t s, uint64_t o, uint32_t *n)
{
    uint32_t lo = 0, hi = lk->n_held;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (holder_cmp(&lk->held[mid], s, o) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t k = lo;
    while (k < lk->n_held && holder_cmp(&lk->held[k], s, o) == 0)
        k++;
    *n = k - lo;
    return lo;
}

/* The ranges a holder has after q: every own range is cut out of
 * [q->start, q->end), then (mode != 0) q is added and merged with own
 * ranges of its mode that it touches, so a holder's ranges stay sorted,
 * disjoint and never adjacent in one mode (the canonical form). out has
 * room for n + 2; returns the count. */
static uint32_t own_apply(const struct meta_lock_ent *own, uint32_t n,
                          const struct meta_lock_ent *q, uint8_t mode, struct meta_lock_ent *out)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct meta_lock_ent x = own[i];
        if (x.end <= q->start || x.start >= q->end) {
            out[k++] = x;
        } else {
            if (x.start < q->start) {
                out[k] = x;
                out[k++].end = q->start;
            }
            if (x.end > q->end) {
                out[k] = x;
                out[k++].start = q->end;
            }
        }
    }
    if (!mode)
        return k;
    uint32_t at = 0; /* where q goes: after the pieces left of it */
    while (at < k && out[at].end <= q->start)
        at++;
    struct meta_lock_ent g = *q;
    g.mode = mode;
    if (at > 0 && out[at - 1].end == g.start && out[at - 1].mode == mode) {
        g.start = out[at - 1].start;
        memmove(&out[at - 1], &out[at], (k - at) * sizeof *out);
        k--;
        at--;
    }
    if (at < k && out[at].start == g.end && out[at].mode == mode) {
        g.end = out[at].end;
        memmove(&out[at], &out[at + 1], (k - at - 1) * sizeof *out);
        k--;
    }
    memmove(&out[at + 1], &out[at], (k - at) * sizeof *out);
    out[at] = g;
    return k + 1;
}

/* Give q's holder mode over q's range (mode 0: unlock it). With limits,
 * CAIRN_LIMIT when the entries would pass them; else 0 or CAIRN_ENOMEM,
 * and nothing changed on failure. */
static int own_set(struct meta *m, struct meta_lock *lk, const struct meta_lock_ent *q,
                   uint8_t mode, int limits)
{
    uint32_t n;
    uint32_t at = own_span(lk, q->session, q->owner, &n);
    if (n == 0 && mode == 0)
        return 0;
    struct meta_lock_ent *out = malloc((size_t)(n + 2) * sizeof *out);
    if (!out)
        return CAIRN_ENOMEM;
    uint32_t k = own_apply(n ? &lk->held[at] : NULL, n, q, mode, out);
    int rc = 0;
    if (k > n && limits &&
        (m->lock_entries + (k - n) > CAIRN_LOCK_ENTRIES_MAX ||
         lk->n_held + lk->n_wait + (k - n) > CAIRN_LOCK_QUEUE_MAX))
        rc = CAIRN_LIMIT;
    if (!rc && k > n)
        rc = meta_lock_ents_reserve(&lk->held, &lk->cap_held, lk->n_held + (k - n));
    if (rc) {
        free(out);
        return rc;
    }
    memmove(&lk->held[at + k], &lk->held[at + n], (lk->n_held - at - n) * sizeof *out);
    memcpy(&lk->held[at], out, (size_t)k * sizeof *out);
    lk->n_held = lk->n_held - n + k;
    meta_lock_count(m, q->session, (int)k - (int)n);
    free(out);
    return 0;
}

static int waiter_live(const struct meta *m, const struct meta_lock_ent *w)
{
    return w->deadline_ns == 0 || w->deadline_ns >= m->now_ns;
}

static void wait_remove(struct meta *m, struct meta_lock *lk, uint32_t i)
{
    CAIRN_ASSERT(hmap_del(&m->lock_waits, lk->wait[i].wait_id) == lk);
    meta_lock_count(m, lk->wait[i].session, -1);
    memmove(&lk->wait[i], &lk->wait[i + 1], (lk->n_wait - i - 1) * sizeof *lk->wait);
    lk->n_wait--;
}

/* Whether q has to wait: a lock-delay runs, a holder conflicts, or (named
 * and flock locks: FIFO) a live waiter among the first `ahead` does. */
static int lock_blocked(const struct meta *m, const struct meta_lock *lk,
                        const struct meta_lock_ent *q, uint32_t ahead)
{
    if (lk->delay_until_ns)
        return 1;
    for (uint32_t i = 0; i < lk->n_held; i++)
        if (meta_lock_conflict(q, &lk->held[i]))
            return 1;
    if (lk->kind == META_LOCK_POSIX)
        return 0;
    for (uint32_t i = 0; i < ahead; i++)
        if (waiter_live(m, &lk->wait[i]) && meta_lock_conflict(q, &lk->wait[i]))
            return 1;
    return 0;
}

/* --- fencing tokens per inode --------------------------------------------------- */

uint64_t meta_lock_fence_get(const struct meta *m, uint64_t ino)
{
    return (uint64_t)(uintptr_t)hmap_get(&m->fences, ino);
}

void meta_lock_fence_set(struct meta *m, uint64_t ino, uint64_t token)
{
    if (!token) {
        hmap_del(&m->fences, ino);
        return;
    }
    int rc = hmap_put(&m->fences, ino, (void *)(uintptr_t)token);
    CAIRN_ASSERTF(rc == 0, "meta: out of memory recording a fencing token");
}

int meta_lock_fence_check(const struct meta *m, uint64_t ino, uint64_t token)
{
    return token < meta_lock_fence_get(m, ino) ? CAIRN_FENCED : 0;
}

void meta_lock_fence_note(struct meta *m, uint64_t ino, uint64_t token)
{
    if (token > meta_lock_fence_get(m, ino) && meta_ino_get(m, ino))
        meta_lock_fence_set(m, ino, token);
}

/* --- grants ------------------------------------------------------------------ */

static void note_grant(struct meta *m, const struct meta_lock_ent *w, uint64_t token)
{
    if (m->grants_n == m->grants_cap) {
        size_t cap = m->grants_cap ? m->grants_cap * 2 : 16;
        struct meta_lock_grant *v = realloc(m->grants, cap * sizeof *v);
        CAIRN_ASSERTF(v, "meta: out of memory noting a lock grant");
        m->grants = v;
        m->grants_cap = cap;
    }
    m->grants[m->grants_n++] = (struct meta_lock_grant){w->session, w->wait_id, token};
}

/* q's holder gets q's range and mode with the token of this entry. A grant
 * of the whole file (flock, or a POSIX range from 0 to the end) moves the
 * file's fence: a file has one fence, and a grant of part of it must not
 * fence the holders of other parts. */
static int lock_grant(struct meta *m, struct meta_lock *lk, const struct meta_lock_ent *q,
                      int limits)
{
    struct meta_lock_ent g = *q;
    g.token = m->applied_index;
    g.deadline_ns = 0;
    int rc = own_set(m, lk, &g, g.mode, limits);
    if (rc)
        return rc;
    lk->last_token = g.token;
    if (lk->kind != META_LOCK_NAMED && g.start == 0 && g.end == LOCK_END_MAX)
        meta_lock_fence_note(m, meta_lock_id_ino(lk->key), g.token);
    return 0;
}

/* Grant the waiters that can go now, in queue order; waiters past their
 * deadline give up on the way. Shared waiters at the head go together. */
static void lock_promote(struct meta *m, struct meta_lock *lk)
{
    uint32_t i = 0;
    while (i < lk->n_wait) {
        if (!waiter_live(m, &lk->wait[i])) {
            wait_remove(m, lk, i);
            continue;
        }
        if (lock_blocked(m, lk, &lk->wait[i], i)) {
            i++;
            continue;
        }
        struct meta_lock_ent w = lk->wait[i];
        /* the waiter's entry becomes a held one: counted out, then in */
        wait_remove(m, lk, i);
        int rc = lock_grant(m, lk, &w, 0);
        CAIRN_ASSERTF(rc == 0, "meta: out of memory granting a lock");
        note_grant(m, &w, lk->last_token);
    }
}

size_t meta_lock_grants(const struct meta *m, const struct meta_lock_grant **out)
{
    *out = m->grants;
    return m->grants_n;
}

static void put_grants(const struct meta *m, size_t from, struct wire_enc *e)
{
    wire_put_u32(e, (uint32_t)(m->grants_n - from));
    for (size_t i = from; i < m->grants_n; i++) {
        wire_put_u64(e, m->grants[i].session);
        wire_put_u64(e, m->grants[i].wait_id);
        wire_put_u64(e, m->grants[i].token);
    }
}

/* --- commands ------------------------------------------------------------------ */

/* The lock a command names and the entry it asks for. An acquire of an
 * inode lock needs the inode; POSIX ranges need read (shared) or write
 * (exclusive) permission, standing in for the open mode fcntl(2) wants. */
static int lock_req(const struct meta *m, const struct meta_req *r, struct meta_lock_id *id,
                    struct meta_lock_ent *q, int acquire)
{
    meta_lock_id_of(id, r->u8a, r->ino, r->name.p, r->name.len);
    memset(q, 0, sizeof *q);
    q->session = r->h.session;
    q->owner = r->u64a;
    q->mode = (uint8_t)r->mode;
    q->start = r->u8a == META_LOCK_POSIX ? r->u64b : 0;
    q->end = r->u8a == META_LOCK_POSIX ? r->u64c : LOCK_END_MAX;
    q->delay_ms = r->u32b;
    if (!acquire || r->u8a == META_LOCK_NAMED)
        return 0;
    const struct meta_inode *in = meta_ino_get(m, r->ino);
    if (!in)
        return CAIRN_ENOENT;
    if (r->u8a != META_LOCK_POSIX)
        return 0;
    int mask = q->mode == META_LOCK_EXCLUSIVE ? META_MAY_W : META_MAY_R;
    return meta_perm_access(in, &r->h.cred, mask);
}

static int has_waiter(const struct meta_lock *lk, const struct meta_lock_ent *q)
{
    for (uint32_t i = 0; i < lk->n_wait; i++)
        if (holder_cmp(&lk->wait[i], q->session, q->owner) == 0)
            return 1;
    return 0;
}

static void reply_acquire(struct wire_enc *e, uint8_t state, uint64_t token, uint64_t wait_id)
{
    wire_put_u8(e, state);
    wire_put_u64(e, token);
    wire_put_u64(e, wait_id);
}

/* Checks of an acquire on an existing lock before anything changes: 1 when
 * answered already (a flock held in the same mode), else 0 or an error. */
static int acquire_check(const struct meta *m, const struct meta_lock *lk,
                         const struct meta_lock_ent *q, struct wire_enc *e)
{
    if (!lk)
        return m->locks_n >= CAIRN_LOCKS_MAX ? CAIRN_LIMIT : 0;
    /* One wait per holder of a named or flock lock; POSIX owners (threads
     * of a process) may have several blocked requests, as Linux. */
    if (lk->kind != META_LOCK_POSIX && has_waiter(lk, q))
        return CAIRN_EBUSY;
    uint32_t n;
    uint32_t at = own_span(lk, q->session, q->owner, &n);
    if (n && lk->kind == META_LOCK_NAMED)
        return CAIRN_EBUSY;
    if (n && lk->kind == META_LOCK_FLOCK && lk->held[at].mode == q->mode) {
        reply_acquire(e, META_LOCK_GRANTED, lk->held[at].token, 0);
        return 1;
    }
    /* Room for a byte-range split (+2) and the waiter itself. */
    if (lk->n_held + lk->n_wait + 3 > CAIRN_LOCK_QUEUE_MAX)
        return CAIRN_LIMIT;
    return 0;
}

/* A request that has to wait. A flock conversion first gives up the lock
 * it converts (as Linux: two shared holders converting to exclusive would
 * otherwise wait for each other forever); that may let it go at once. */
static int acquire_wait(struct meta *m, struct meta_lock *lk, struct meta_lock_ent *q,
                        const struct meta_req *r, struct wire_enc *e)
{
    uint32_t n;
    own_span(lk, q->session, q->owner, &n);
    if (n && lk->kind == META_LOCK_FLOCK) {
        int rc = own_set(m, lk, q, 0, 0);
        CAIRN_ASSERTF(rc == 0, "meta: out of memory converting a lock");
        lock_promote(m, lk);
        if (!lock_blocked(m, lk, q, lk->n_wait)) {
            rc = lock_grant(m, lk, q, 0);
            CAIRN_ASSERTF(rc == 0, "meta: out of memory granting a lock");
            reply_acquire(e, META_LOCK_GRANTED, lk->last_token, 0);
            return 0;
        }
    }
    q->wait_id = m->applied_index;
    q->deadline_ns = r->u32a ? m->now_ns + (uint64_t)r->u32a * CAIRN_NS_PER_MS : 0;
    if (meta_lock_ents_reserve(&lk->wait, &lk->cap_wait, lk->n_wait + 1) ||
        hmap_put(&m->lock_waits, q->wait_id, lk))
        CAIRN_ASSERTF(0, "meta: out of memory queueing a lock waiter");
    lk->wait[lk->n_wait++] = *q;
    meta_lock_count(m, q->session, 1);
    reply_acquire(e, META_LOCK_QUEUED, 0, q->wait_id);
    return 0;
}

/* LOCK_ACQUIRE: grant now, queue (WAIT), or CAIRN_EAGAIN. */
int meta_lock_acquire(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    struct meta_lock_id id;
    struct meta_lock_ent q;
    int rc = lock_req(m, r, &id, &q, 1);
    if (rc)
        return rc;
    int found;
    uint32_t pos = meta_lock_find(m, &id, &found);
    struct meta_lock *lk = found ? m->locks[pos] : NULL;
    rc = acquire_check(m, lk, &q, e);
    if (rc)
        return rc < 0 ? rc : 0;
    if (m->lock_entries + 3 > CAIRN_LOCK_ENTRIES_MAX)
        return CAIRN_LIMIT;
    int blocked = lk && lock_blocked(m, lk, &q, lk->n_wait);
    if (blocked && !(r->flags & META_LOCK_WAIT))
        return CAIRN_EAGAIN;
    if (!lk) {
        lk = meta_lock_new(&id);
        if (!lk || meta_lock_insert(m, pos, lk)) {
            free(lk);
            return CAIRN_ENOMEM;
        }
    }
    if (blocked)
        return acquire_wait(m, lk, &q, r, e);
    rc = lock_grant(m, lk, &q, 1);
    if (rc) {
        lock_gc(m, pos);
        return rc;
    }
    reply_acquire(e, META_LOCK_GRANTED, lk->last_token, 0);
    return 0;
}

/* LOCK_RELEASE: the holder's lock (its range, for POSIX) goes; waiters
 * that can go are granted and listed in the reply. */
int meta_lock_release(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    struct meta_lock_id id;
    struct meta_lock_ent q;
    lock_req(m, r, &id, &q, 0);
    int found;
    uint32_t pos = meta_lock_find(m, &id, &found);
    uint32_t n = 0;
    if (found)
        own_span(m->locks[pos], q.session, q.owner, &n);
    if (n == 0 && r->u8a == META_LOCK_NAMED)
        return CAIRN_ENOENT;
    size_t from = m->grants_n;
    if (n) {
        struct meta_lock *lk = m->locks[pos];
        int rc = own_set(m, lk, &q, 0, 1);
        if (rc)
            return rc;
        lock_promote(m, lk);
        lock_gc(m, pos);
    }
    put_grants(m, from, e);
    return 0;
}

/* LOCK_CANCEL: the session's waiter gives up; those behind it may go. */
int meta_lock_cancel(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    struct meta_lock *lk = hmap_get(&m->lock_waits, r->u64a);
    if (!lk)
        return CAIRN_ENOENT;
    uint32_t i = 0;
    while (lk->wait[i].wait_id != r->u64a)
        i++;
    if (lk->wait[i].session != r->h.session)
        return CAIRN_ENOENT;
    size_t from = m->grants_n;
    wait_remove(m, lk, i);
    lock_promote(m, lk);
    put_grants(m, from, e);
    lock_gc_obj(m, lk);
    return 0;
}

/* --- sessions ending, time passing ------------------------------------------------ */

static int id_in(const uint64_t *ids, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == x)
            return 1;
        if (ids[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Remove the entries of ended sessions from one lock; an expired holder's
 * lock-delay starts. Returns 1 if anything changed. */
static int drop_sessions(struct meta *m, struct meta_lock *lk, const uint64_t *ids, size_t n,
                         int expired)
{
    uint32_t delay_ms = 0, k = 0, before = lk->n_held + lk->n_wait;
    for (uint32_t i = 0; i < lk->n_held; i++) {
        const struct meta_lock_ent *h = &lk->held[i];
        if (!id_in(ids, n, h->session)) {
            lk->held[k++] = *h;
            continue;
        }
        if (expired && h->delay_ms > delay_ms)
            delay_ms = h->delay_ms;
        meta_lock_count(m, h->session, -1);
    }
    lk->n_held = k;
    for (uint32_t i = 0; i < lk->n_wait;) {
        if (id_in(ids, n, lk->wait[i].session))
            wait_remove(m, lk, i);
        else
            i++;
    }
    if (delay_ms) {
        uint64_t until = m->now_ns + (uint64_t)delay_ms * CAIRN_NS_PER_MS;
        lk->delay_until_ns = CAIRN_MAX(lk->delay_until_ns, until);
    }
    return lk->n_held + lk->n_wait != before;
}

void meta_lock_sessions_end(struct meta *m, const uint64_t *ids, size_t n, int expired)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const struct meta_session *s = hmap_get(&m->sessions, ids[i]);
        total += s ? s->n_locks : 0;
    }
    if (total == 0)
        return;
    for (uint32_t pos = 0; pos < m->locks_n;) {
        struct meta_lock *lk = m->locks[pos];
        if (drop_sessions(m, lk, ids, n, expired)) {
            lock_promote(m, lk);
            if (lock_gc(m, pos))
                continue;
        }
        pos++;
    }
}

void meta_lock_tick(struct meta *m)
{
    for (uint32_t pos = 0; pos < m->locks_n;) {
        struct meta_lock *lk = m->locks[pos];
        int changed = 0;
        if (lk->delay_until_ns && lk->delay_until_ns <= m->now_ns) {
            lk->delay_until_ns = 0;
            changed = 1;
        }
        for (uint32_t i = 0; i < lk->n_wait && !changed; i++)
            changed = !waiter_live(m, &lk->wait[i]);
        if (changed) {
            lock_promote(m, lk);
            if (lock_gc(m, pos))
                continue;
        }
        pos++;
    }
}

/* CHUNK_ALLOC_FENCED: the token must be a past log index no older than the
 * newest the file has seen; a successful alloc records it, as a chunk
 * server does, so the named lock protecting a file fences it too. */
int meta_lock_alloc_fenced(struct meta *m, uint64_t index, const struct meta_req *r,
                           struct wire_enc *e)
{
    if (r->u64b == 0 || r->u64b >= index)
        return CAIRN_EINVAL;
    int rc = meta_lock_fence_check(m, r->ino, r->u64b);
    if (!rc)
        rc = meta_data_alloc(m, r, e);
    if (!rc)
        meta_lock_fence_note(m, r->ino, r->u64b);
    return rc;
}

/* --- lifetime --------------------------------------------------------------------- */

void meta_lock_init(struct meta *m)
{
    hmap_init(&m->lock_waits);
    hmap_init(&m->fences);
}

void meta_lock_free_all(struct meta *m)
{
    for (uint32_t i = 0; i < m->locks_n; i++)
        lock_free(m->locks[i]);
    free(m->locks);
    m->locks = NULL;
    m->locks_n = m->locks_cap = 0;
    hmap_free(&m->lock_waits);
    hmap_free(&m->fences);
    free(m->grants);
    m->grants = NULL;
    m->grants_n = m->grants_cap = 0;
}
