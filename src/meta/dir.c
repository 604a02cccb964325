/*
 * dir.c: directory entries.
 *
 * Entries sit in an array in the order they were added, each with a sequence
 * number that increases within the directory; removal leaves a tombstone
 * that keeps its sequence number. The array is therefore always sorted by
 * sequence number, and that number is the readdir cookie: resuming after
 * cookie c means "the first entry with seq > c", found by binary search, so
 * a cookie stays valid however many entries are added or removed in between
 * (an entry added after the listing started may or may not appear, as POSIX
 * allows; no entry is returned twice or skipped). Compaction drops
 * tombstones once they outnumber live entries, keeping order and numbers.
 * Names live in one arena per directory; a u32 open-addressing index of
 * array positions finds a name.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/internal.h"

struct meta_dir *meta_dir_new(uint64_t parent)
{
    struct meta_dir *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->parent = parent;
    d->next_seq = META_SEQ_FIRST;
    return d;
}

void meta_dir_free(struct meta_dir *d)
{
    if (!d)
        return;
    free(d->ents);
    free(d->names);
    free(d->index);
    free(d);
}

static size_t name_home(const struct meta_dir *d, const uint8_t *name, size_t len)
{
    return (size_t)hash_bytes(name, len, 0) & (d->index_cap - 1);
}

static int dent_is(const struct meta_dir *d, uint32_t pos, const uint8_t *name, size_t len)
{
    const struct meta_dent *e = &d->ents[pos];
    return e->name_len == len && memcmp(dent_name(d, e), name, len) == 0;
}

/* Index position holding name, or the empty position where it would go. */
static size_t dir_probe(const struct meta_dir *d, const uint8_t *name, size_t len, int *found)
{
    size_t mask = d->index_cap - 1;
    size_t i = name_home(d, name, len);
    while (d->index[i]) {
        if (dent_is(d, d->index[i] - 1, name, len)) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = 0;
    return i;
}

struct meta_dent *meta_dir_find(const struct meta_dir *d, const uint8_t *name, size_t len)
{
    if (d->n_live == 0)
        return NULL;
    int found;
    size_t i = dir_probe(d, name, len, &found);
    return found ? &d->ents[d->index[i] - 1] : NULL;
}

/* Fill a zeroed index of capacity cap from the live entries. */
static void dir_fill_index(struct meta_dir *d, uint32_t *idx, uint32_t cap)
{
    free(d->index);
    d->index = idx;
    d->index_cap = cap;
    for (uint32_t p = 0; p < d->n_ents; p++) {
        const struct meta_dent *e = &d->ents[p];
        if (!e->ino)
            continue;
        int found;
        size_t i = dir_probe(d, dent_name(d, e), e->name_len, &found);
        CAIRN_ASSERT(!found);
        d->index[i] = p + 1;
    }
}

static int dir_reindex(struct meta_dir *d, uint32_t cap)
{
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return CAIRN_ENOMEM;
    dir_fill_index(d, idx, cap);
    return 0;
}

/* Drop tombstones and their names; order and sequence numbers stay. All
 * memory is taken first: compaction either happens whole or not at all. */
static int dir_compact(struct meta_dir *d)
{
    uint8_t *names = malloc(d->names_len ? d->names_len : 1);
    uint32_t *idx = calloc(d->index_cap, sizeof *idx);
    if (!names || !idx) {
        free(names);
        free(idx);
        return CAIRN_ENOMEM;
    }
    uint32_t n = 0, off = 0;
    for (uint32_t p = 0; p < d->n_ents; p++) {
        struct meta_dent e = d->ents[p];
        if (!e.ino)
            continue;
        memcpy(names + off, dent_name(d, &e), e.name_len);
        e.name_off = off;
        off += e.name_len;
        d->ents[n++] = e;
    }
    free(d->names);
    d->names = names;
    d->names_cap = d->names_len ? d->names_len : 1;
    d->names_len = off;
    d->n_ents = n;
    CAIRN_ASSERT(n == d->n_live);
    dir_fill_index(d, idx, d->index_cap);
    return 0;
}

static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    uint64_t c = *cap ? *cap : 4;
    while (c < need)
        c *= 2;
    if (c > UINT32_MAX)
        return CAIRN_ENOSPC;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q)
        return CAIRN_ENOMEM;
    *p = q;
    *cap = (uint32_t)c;
    return 0;
}

/* Add a name that is not present. Makes room first, so a failure leaves the
 * directory as it was. */
int meta_dir_add(struct meta_dir *d, const uint8_t *name, size_t len, uint64_t ino, uint8_t type)
{
    CAIRN_ASSERT(ino != 0 && len > 0 && len <= 255);
    if (d->n_ents > 16 && d->n_ents - d->n_live > d->n_live) {
        int rc = dir_compact(d);
        if (rc)
            return rc;
    }
    if ((d->n_live + 1) * 4ull > d->index_cap * 3ull) {
        int rc = dir_reindex(d, d->index_cap ? d->index_cap * 2 : 8);
        if (rc)
            return rc;
    }
    int rc = grow((void **)&d->ents, &d->cap_ents, d->n_ents + 1, sizeof *d->ents);
    if (!rc)
        rc = grow((void **)&d->names, &d->names_cap, d->names_len + (uint32_t)len, 1);
    if (rc)
        return rc;
    int found;
    size_t i = dir_probe(d, name, len, &found);
    CAIRN_ASSERT(!found);
    struct meta_dent *e = &d->ents[d->n_ents];
    e->ino = ino;
    e->seq = d->next_seq++;
    e->name_off = d->names_len;
    e->name_len = (uint8_t)len;
    e->type = type;
    memcpy(d->names + d->names_len, name, len);
    d->names_len += (uint32_t)len;
    d->index[i] = d->n_ents + 1;
    d->n_ents++;
    d->n_live++;
    return 0;
}

/* Remove a live entry: tombstone in the array, backward shift in the index. */
void meta_dir_remove(struct meta_dir *d, struct meta_dent *e)
{
    int found;
    size_t i = dir_probe(d, dent_name(d, e), e->name_len, &found);
    CAIRN_ASSERT(found && &d->ents[d->index[i] - 1] == e);
    e->ino = 0;
    d->n_live--;
    size_t mask = d->index_cap - 1;
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!d->index[j])
            break;
        const struct meta_dent *o = &d->ents[d->index[j] - 1];
        size_t home = name_home(d, dent_name(d, o), o->name_len);
        int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        d->index[hole] = d->index[j];
        hole = j;
    }
    d->index[hole] = 0;
}

uint32_t meta_dir_seek(const struct meta_dir *d, uint64_t cookie)
{
    uint32_t lo = 0, hi = d->n_ents;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d->ents[mid].seq <= cookie)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t meta_dir_bytes(const struct meta_dir *d)
{
    return sizeof *d + (size_t)d->cap_ents * sizeof *d->ents + d->names_cap +
           (size_t)d->index_cap * sizeof *d->index;
}
