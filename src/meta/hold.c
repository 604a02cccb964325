/*
 * hold.c: open-file holds (INODE_HOLD, INODE_RELEASE; layouts in cmd.h).
 *
 * POSIX lets a process keep reading and writing a file after its last name
 * is gone. A client session says which inodes it has open with holds; a
 * held regular file whose link count drops to 0 stays in the inode table as
 * an orphan (in no directory) until the last hold ends, and is then freed
 * exactly as unlink would have freed it.
 *
 * Memory: holds stay out of the inode record (80 bytes, the per-file
 * budget). Each session keeps a map ino -> count of its own holds (NULL
 * until it takes one), and the state keeps ino -> the sum over sessions,
 * which unlink consults (one lookup in a map that is empty unless files are
 * open). Both maps are derived from the commands, so replicas agree; the
 * snapshot writes each session's holds in inode order, and the loader
 * rebuilds the sums.
 *
 * Where many holds end at once (a session closed or expired), they end in
 * (session, inode) order, so the outbox ids of freed orphans are the same
 * on every replica.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/internal.h"

static uint32_t count_of(const struct hmap *map, uint64_t ino)
{
    return map ? (uint32_t)(uintptr_t)hmap_get(map, ino) : 0;
}

/* Set a count (0 removes the key). Only a new key can fail (ENOMEM). */
static int count_set(struct hmap *map, uint64_t ino, uint32_t n)
{
    if (n == 0) {
        hmap_del(map, ino);
        return 0;
    }
    return hmap_put(map, ino, (void *)(uintptr_t)n);
}

static int session_map(struct meta_session *s)
{
    if (s->holds)
        return 0;
    s->holds = malloc(sizeof *s->holds);
    if (!s->holds)
        return CAIRN_ENOMEM;
    hmap_init(s->holds);
    return 0;
}

static void session_map_drop_if_empty(struct meta_session *s)
{
    if (s->holds && hmap_len(s->holds) == 0) {
        hmap_free(s->holds);
        free(s->holds);
        s->holds = NULL;
    }
}

/* The session of a SESSION-class command: apply checked it is live. */
static struct meta_session *req_session(struct meta *m, const struct meta_req *r)
{
    struct meta_session *s = hmap_get(&m->sessions, r->h.session);
    CAIRN_ASSERT(s);
    return s;
}

/* INODE_HOLD: one more hold of the session on a regular file. */
int meta_hold_inode(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    struct meta_session *s = req_session(m, r);
    struct meta_inode *in = meta_ino_get(m, r->ino);
    if (!in)
        return CAIRN_ENOENT;
    if (ino_is_dir(in))
        return CAIRN_EISDIR;
    if (!S_ISREG(in->mode))
        return CAIRN_EINVAL;
    if (s->n_holds >= CAIRN_SESSION_HOLDS_MAX || m->holds_total >= CAIRN_HOLDS_MAX)
        return CAIRN_LIMIT;
    if (session_map(s))
        return CAIRN_ENOMEM;
    uint32_t mine = count_of(s->holds, in->ino), all = count_of(&m->held, in->ino);
    CAIRN_ASSERT(all >= mine);
    if (count_set(s->holds, in->ino, mine + 1)) {
        session_map_drop_if_empty(s);
        return CAIRN_ENOMEM;
    }
    if (count_set(&m->held, in->ino, all + 1)) {
        count_set(s->holds, in->ino, mine);
        session_map_drop_if_empty(s);
        return CAIRN_ENOMEM;
    }
    s->n_holds++;
    m->holds_total++;
    struct meta_attr a;
    meta_ino_to_attr(in, &a);
    meta_enc_attr(e, &a);
    return 0;
}

/* Drop n holds of session s on ino; an orphan nobody holds any more is
 * freed. Lowering a count replaces a value (hmap_put may still want to grow
 * the map: out of memory then stops the replica, as everywhere in apply). */
static void hold_drop(struct meta *m, struct meta_session *s, uint64_t ino, uint32_t n)
{
    uint32_t mine = count_of(s->holds, ino), all = count_of(&m->held, ino);
    CAIRN_ASSERT(n > 0 && mine >= n && all >= mine && s->n_holds >= n && m->holds_total >= n);
    int rc = count_set(s->holds, ino, mine - n);
    if (!rc)
        rc = count_set(&m->held, ino, all - n);
    CAIRN_ASSERTF(rc == 0, "meta: out of memory");
    s->n_holds -= n;
    m->holds_total -= n;
    if (all > n)
        return;
    struct meta_inode *in = meta_ino_get(m, ino);
    CAIRN_ASSERT(in && S_ISREG(in->mode));
    if (in->nlink == 0)
        meta_ino_destroy(m, in);
}

/* INODE_RELEASE: one hold of the session ends. */
int meta_hold_release(struct meta *m, const struct meta_req *r)
{
    struct meta_session *s = req_session(m, r);
    if (count_of(s->holds, r->ino) == 0)
        return CAIRN_ENOENT;
    hold_drop(m, s, r->ino, 1);
    session_map_drop_if_empty(s);
    return 0;
}

/* The inodes a session holds, sorted (NULL with *n 0 when none). */
static uint64_t *session_inos(const struct meta_session *s, size_t *n)
{
    *n = 0;
    if (!s->holds || hmap_len(s->holds) == 0)
        return NULL;
    uint64_t *v = malloc(hmap_len(s->holds) * sizeof *v);
    CAIRN_ASSERTF(v, "meta: out of memory");
    uint64_t k;
    void *val;
    for (size_t it = 0; hmap_next(s->holds, &it, &k, &val);)
        v[(*n)++] = k;
    qsort(v, *n, sizeof *v, meta_cmp_u64);
    return v;
}

void meta_hold_sessions_end(struct meta *m, const uint64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct meta_session *s = hmap_get(&m->sessions, ids[i]);
        if (!s || !s->holds)
            continue;
        size_t k;
        uint64_t *inos = session_inos(s, &k);
        for (size_t j = 0; j < k; j++)
            hold_drop(m, s, inos[j], count_of(s->holds, inos[j]));
        free(inos);
        CAIRN_ASSERT(s->n_holds == 0);
        session_map_drop_if_empty(s);
    }
}

void meta_hold_counts(const struct meta *m, uint64_t session, uint64_t ino, uint32_t *mine,
                      uint32_t *all)
{
    const struct meta_session *s = hmap_get(&m->sessions, session);
    *mine = s ? count_of(s->holds, ino) : 0;
    *all = count_of(&m->held, ino);
}

void meta_hold_restore(struct meta *m, uint64_t session, uint64_t ino, uint32_t mine, uint32_t all)
{
    struct meta_session *s = hmap_get(&m->sessions, session);
    CAIRN_ASSERT(s);
    uint32_t mine_now = count_of(s->holds, ino), all_now = count_of(&m->held, ino);
    int rc = session_map(s);
    if (!rc)
        rc = count_set(s->holds, ino, mine);
    if (!rc)
        rc = count_set(&m->held, ino, all);
    CAIRN_ASSERTF(rc == 0, "meta: out of memory undoing a transaction");
    s->n_holds = s->n_holds - mine_now + mine;
    m->holds_total = m->holds_total - all_now + all;
    session_map_drop_if_empty(s);
}

void meta_hold_snap_put(struct wire_enc *e, const struct meta_session *s)
{
    size_t n;
    uint64_t *inos = session_inos(s, &n);
    wire_put_u32(e, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        wire_put_u64(e, inos[i]);
        wire_put_u32(e, count_of(s->holds, inos[i]));
    }
    free(inos);
}

static int corrupt(struct wire_dec *d)
{
    if (!d->err)
        d->err = CAIRN_CORRUPT;
    return d->err;
}

/* A session's holds from a snapshot: u32 n, n x (u64 ino, u32 count). The
 * session is already in the state (meta_free frees what is loaded here). */
int meta_hold_snap_load(struct wire_dec *d, struct meta *m, struct meta_session *s)
{
    uint32_t n = wire_get_u32(d);
    if (d->err || n > CAIRN_SESSION_HOLDS_MAX || n > wire_dec_left(d) / 12)
        return corrupt(d);
    uint64_t last = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t ino = wire_get_u64(d);
        uint32_t c = wire_get_u32(d);
        const struct meta_inode *in = d->err ? NULL : meta_ino_get(m, ino);
        if (!in || !S_ISREG(in->mode) || ino <= last || c == 0 ||
            c > CAIRN_SESSION_HOLDS_MAX - s->n_holds || c > CAIRN_HOLDS_MAX - m->holds_total)
            return corrupt(d);
        last = ino;
        if (session_map(s))
            return CAIRN_ENOMEM;
        if (count_set(s->holds, ino, c) || count_set(&m->held, ino, count_of(&m->held, ino) + c))
            return CAIRN_ENOMEM;
        s->n_holds += c;
        m->holds_total += c;
    }
    return d->err;
}
