/*
 * table.c: paged record tables with a u32 open-addressing index.
 *
 * Records never move once placed (pages are never reallocated), so pointers
 * to records stay valid until the record itself is removed. The index holds
 * slot numbers (4 bytes per slot, load <= 3/4) instead of keys: a probe reads
 * the key from the record. Deletion shifts later entries of the probe run
 * back (no tombstones), so lookups never degrade with churn.
 */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "meta/internal.h"

void meta_table_init(struct meta_table *t, uint32_t rec_size)
{
    memset(t, 0, sizeof *t);
    CAIRN_ASSERT(rec_size >= 16 && rec_size % 8 == 0);
    t->rec_size = rec_size;
}

void meta_table_free(struct meta_table *t)
{
    for (uint32_t i = 0; i < t->n_pages; i++)
        free(t->pages[i]);
    free(t->pages);
    free(t->index);
    uint32_t rs = t->rec_size;
    memset(t, 0, sizeof *t);
    t->rec_size = rs;
}

void *meta_table_slot(const struct meta_table *t, uint32_t i)
{
    return t->pages[i / META_PAGE_RECS] + (size_t)(i % META_PAGE_RECS) * t->rec_size;
}

static uint64_t slot_key(const struct meta_table *t, uint32_t i)
{
    uint64_t k;
    memcpy(&k, meta_table_slot(t, i), sizeof k);
    return k;
}

static size_t table_home(const struct meta_table *t, uint64_t key)
{
    return (size_t)hash_u64(key) & (t->index_cap - 1);
}

/* Index position of key, or of the empty slot where it would go. */
static size_t table_probe(const struct meta_table *t, uint64_t key, int *found)
{
    size_t mask = t->index_cap - 1;
    size_t i = table_home(t, key);
    while (t->index[i]) {
        if (slot_key(t, t->index[i] - 1) == key) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = 0;
    return i;
}

void *meta_table_get(const struct meta_table *t, uint64_t key)
{
    if (t->len == 0 || key == 0)
        return NULL;
    int found;
    size_t i = table_probe(t, key, &found);
    return found ? meta_table_slot(t, t->index[i] - 1) : NULL;
}

static int table_grow_index(struct meta_table *t)
{
    uint32_t cap = t->index_cap ? t->index_cap * 2 : 64;
    if (cap == 0 || cap > (1u << 31))
        return -1;
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return -1;
    uint32_t *old = t->index;
    uint32_t old_cap = t->index_cap;
    t->index = idx;
    t->index_cap = cap;
    for (uint32_t i = 0; i < old_cap; i++) {
        if (!old[i])
            continue;
        int found;
        size_t j = table_probe(t, slot_key(t, old[i] - 1), &found);
        t->index[j] = old[i];
    }
    free(old);
    return 0;
}

/* A free slot number: from the free list, else a new one (maybe a page). */
static int table_take_slot(struct meta_table *t, uint32_t *slot)
{
    if (t->free_head) {
        *slot = t->free_head - 1;
        uint32_t next;
        memcpy(&next, (uint8_t *)meta_table_slot(t, *slot) + 8, sizeof next);
        t->free_head = next;
        return 0;
    }
    if (t->n_slots == UINT32_MAX - 1)
        return -1;
    if (t->n_slots == t->n_pages * META_PAGE_RECS) {
        uint8_t **pages = realloc(t->pages, (t->n_pages + 1) * sizeof *pages);
        if (!pages)
            return -1;
        t->pages = pages;
        pages[t->n_pages] = malloc((size_t)META_PAGE_RECS * t->rec_size);
        if (!pages[t->n_pages])
            return -1;
        t->n_pages++;
    }
    *slot = t->n_slots++;
    return 0;
}

void *meta_table_insert(struct meta_table *t, uint64_t key)
{
    CAIRN_ASSERT(key != 0);
    if ((t->len + 1) * 4ull > t->index_cap * 3ull && table_grow_index(t))
        return NULL;
    int found;
    size_t i = table_probe(t, key, &found);
    CAIRN_ASSERT(!found);
    uint32_t slot;
    if (table_take_slot(t, &slot))
        return NULL;
    uint8_t *rec = meta_table_slot(t, slot);
    memset(rec, 0, t->rec_size);
    memcpy(rec, &key, sizeof key);
    t->index[i] = slot + 1;
    t->len++;
    return rec;
}

void meta_table_remove(struct meta_table *t, uint64_t key)
{
    int found;
    CAIRN_ASSERT(t->len > 0);
    size_t i = table_probe(t, key, &found);
    CAIRN_ASSERT(found);
    uint32_t slot = t->index[i] - 1;
    uint8_t *rec = meta_table_slot(t, slot);
    memset(rec, 0, t->rec_size);
    memcpy(rec + 8, &t->free_head, sizeof t->free_head);
    t->free_head = slot + 1;
    t->len--;
    /* Backward-shift deletion: move later members of the run into the hole
     * when their home position does not lie cyclically in (hole, j]. */
    size_t mask = t->index_cap - 1;
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->index[j])
            break;
        size_t home = table_home(t, slot_key(t, t->index[j] - 1));
        int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        t->index[hole] = t->index[j];
        hole = j;
    }
    t->index[hole] = 0;
}

size_t meta_table_bytes(const struct meta_table *t)
{
    return (size_t)t->n_pages * META_PAGE_RECS * t->rec_size +
           (size_t)t->index_cap * sizeof(uint32_t) + t->n_pages * sizeof(uint8_t *);
}
