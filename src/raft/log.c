/* log.c: payload blobs, shared snapshots and the in-memory Raft log. */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "raft/raft_int.h"

void *raft_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    CAIRN_ASSERTF(p != NULL, "raft: out of memory (%zu bytes)", n);
    return p;
}

void *raft_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    CAIRN_ASSERTF(p != NULL, "raft: out of memory (%zu x %zu bytes)", n, size);
    return p;
}

void *raft_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    CAIRN_ASSERTF(q != NULL, "raft: out of memory (%zu bytes)", n);
    return q;
}

/* A blob is a reference count in front of the payload bytes; the entry's
 * data pointer points at the bytes, so the shell sees a plain buffer. */
struct blob {
    uint64_t refs; /* 8 bytes keep data 8-aligned */
    uint8_t data[];
};

static struct blob *raft_blob_of(uint8_t *p)
{
    return (struct blob *)(void *)(p - offsetof(struct blob, data));
}

uint8_t *raft_blob_new(const void *data, size_t len)
{
    if (len == 0)
        return NULL;
    struct blob *b = raft_xmalloc(sizeof *b + len);
    b->refs = 1;
    memcpy(b->data, data, len);
    return b->data;
}

void raft_blob_ref(uint8_t *p)
{
    if (p)
        raft_blob_of(p)->refs++;
}

void raft_blob_unref(uint8_t *p)
{
    if (!p)
        return;
    struct blob *b = raft_blob_of(p);
    CAIRN_ASSERT(b->refs > 0);
    if (--b->refs == 0)
        free(b);
}

struct raft_snap_obj *raft_snap_new(const struct raft_snapshot_meta *meta, const void *data,
                                    size_t len)
{
    struct raft_snap_obj *s = raft_xcalloc(1, sizeof *s);
    s->refs = 1;
    s->snap.meta = *meta;
    s->snap.data = raft_blob_new(data, len);
    s->snap.len = len;
    return s;
}

void raft_snap_ref(struct raft_snap_obj *s) { s->refs++; }

void raft_snap_unref(struct raft_snap_obj *s)
{
    if (!s)
        return;
    CAIRN_ASSERT(s->refs > 0);
    if (--s->refs == 0) {
        raft_blob_unref(s->snap.data);
        free(s);
    }
}

struct raft_snap_obj *raft_snap_of(struct raft_snapshot *snap)
{
    return (struct raft_snap_obj *)(void *)((uint8_t *)snap - offsetof(struct raft_snap_obj, snap));
}

void raft_log_init(struct raft_log *l, uint64_t snap_index, uint64_t snap_term)
{
    memset(l, 0, sizeof *l);
    l->snap_index = snap_index;
    l->snap_term = snap_term;
    l->committed = snap_index;
    l->applying = snap_index;
    l->applied = snap_index;
    l->unstable = snap_index + 1;
}

static void raft_log_unref_range(struct raft_log *l, size_t from)
{
    for (size_t k = from; k < l->n; k++)
        raft_blob_unref(l->ents[k].data);
}

void raft_log_free(struct raft_log *l)
{
    raft_log_unref_range(l, 0);
    free(l->ents);
    l->ents = NULL;
    l->n = l->cap = 0;
}

uint64_t raft_log_last_index(const struct raft_log *l) { return l->snap_index + l->n; }

uint64_t raft_log_last_term(const struct raft_log *l)
{
    return l->n ? l->ents[l->n - 1].term : l->snap_term;
}

int raft_log_has(const struct raft_log *l, uint64_t i)
{
    return i >= l->snap_index && i <= raft_log_last_index(l);
}

uint64_t raft_log_term(const struct raft_log *l, uint64_t i)
{
    if (!raft_log_has(l, i))
        return 0;
    if (i == l->snap_index)
        return l->snap_term;
    return l->ents[i - l->snap_index - 1].term;
}

int raft_log_match_term(const struct raft_log *l, uint64_t i, uint64_t term)
{
    return raft_log_has(l, i) && raft_log_term(l, i) == term;
}

struct raft_entry *raft_log_entry(const struct raft_log *l, uint64_t i)
{
    CAIRN_ASSERTF(i > l->snap_index && i <= raft_log_last_index(l),
                  "raft log: entry %llu not in memory (%llu..%llu]", (unsigned long long)i,
                  (unsigned long long)l->snap_index, (unsigned long long)raft_log_last_index(l));
    return &l->ents[i - l->snap_index - 1];
}

static void raft_log_reserve(struct raft_log *l, size_t extra)
{
    if (l->n + extra <= l->cap)
        return;
    size_t cap = l->cap ? l->cap : 64;
    while (cap < l->n + extra)
        cap *= 2;
    l->ents = raft_xrealloc(l->ents, cap * sizeof *l->ents);
    l->cap = cap;
}

void raft_log_append_copies(struct raft_log *l, const struct raft_entry *e, size_t n)
{
    if (n == 0)
        return;
    CAIRN_ASSERT(e[0].index == raft_log_last_index(l) + 1);
    raft_log_reserve(l, n);
    for (size_t k = 0; k < n; k++) {
        struct raft_entry *d = &l->ents[l->n++];
        *d = e[k];
        d->data = raft_blob_new(e[k].data, e[k].len);
    }
}

void raft_log_append_owned(struct raft_log *l, const struct raft_entry *e)
{
    CAIRN_ASSERT(e->index == raft_log_last_index(l) + 1);
    CAIRN_ASSERT(e->term >= raft_log_last_term(l));
    raft_log_reserve(l, 1);
    l->ents[l->n++] = *e;
}

void raft_log_truncate_from(struct raft_log *l, uint64_t i)
{
    CAIRN_ASSERTF(i > l->committed, "raft log: truncating committed entry %llu",
                  (unsigned long long)i);
    if (i > raft_log_last_index(l))
        return;
    size_t keep = (size_t)(i - l->snap_index - 1);
    raft_log_unref_range(l, keep);
    l->n = keep;
    if (l->unstable > i)
        l->unstable = i;
}

uint64_t raft_log_find_conflict(const struct raft_log *l, const struct raft_entry *e, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!raft_log_match_term(l, e[k].index, e[k].term))
            return e[k].index;
    return 0;
}

/* etcd's findConflictByTerm: walking back from i, the first entry whose term
 * is <= term. A rejecting follower sends it as a hint (with the term there),
 * and the leader uses it to skip a whole term of mismatching entries per
 * round trip instead of one entry. */
uint64_t raft_log_find_conflict_by_term(const struct raft_log *l, uint64_t i, uint64_t term)
{
    if (i > raft_log_last_index(l))
        i = raft_log_last_index(l);
    while (i > l->snap_index && raft_log_term(l, i) > term)
        i--;
    return i;
}

int raft_log_maybe_append(struct raft_log *l, uint64_t prev_index, uint64_t prev_term,
                          const struct raft_entry *e, size_t n, uint64_t *last_new)
{
    if (!raft_log_match_term(l, prev_index, prev_term))
        return 0;
    *last_new = prev_index + n;
    uint64_t ci = raft_log_find_conflict(l, e, n);
    if (ci != 0) {
        /* The leader's log holds every committed entry, and a message
         * starting below our commit index was answered before this. */
        CAIRN_ASSERT(ci > l->committed);
        raft_log_truncate_from(l, ci);
        raft_log_append_copies(l, &e[ci - prev_index - 1], (size_t)(prev_index + n - ci + 1));
    }
    return 1;
}

int raft_log_is_up_to_date(const struct raft_log *l, uint64_t index, uint64_t term)
{
    uint64_t lt = raft_log_last_term(l);
    return term > lt || (term == lt && index >= raft_log_last_index(l));
}

void raft_log_compact(struct raft_log *l, uint64_t index)
{
    if (index <= l->snap_index)
        return;
    CAIRN_ASSERT(index <= raft_log_last_index(l));
    uint64_t term = raft_log_term(l, index);
    size_t drop = (size_t)(index - l->snap_index);
    for (size_t k = 0; k < drop; k++)
        raft_blob_unref(l->ents[k].data);
    memmove(l->ents, l->ents + drop, (l->n - drop) * sizeof *l->ents);
    l->n -= drop;
    l->snap_index = index;
    l->snap_term = term;
    if (l->unstable <= index)
        l->unstable = index + 1;
}

void raft_log_reset(struct raft_log *l, uint64_t index, uint64_t term)
{
    raft_log_unref_range(l, 0);
    l->n = 0;
    l->snap_index = index;
    l->snap_term = term;
    l->unstable = index + 1;
}

size_t raft_log_batch(const struct raft_log *l, uint64_t lo, uint32_t max_n, uint32_t max_bytes)
{
    uint64_t last = raft_log_last_index(l);
    if (lo > last)
        return 0;
    CAIRN_ASSERT(lo > l->snap_index);
    size_t n = 0;
    uint64_t bytes = 0;
    for (uint64_t i = lo; i <= last && n < max_n; i++) {
        bytes += raft_log_entry(l, i)->len;
        if (n > 0 && bytes > max_bytes)
            break;
        n++;
    }
    return n;
}
