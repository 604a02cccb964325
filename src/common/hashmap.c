/* hashmap.c: linear probing, backward-shift deletion. */
#include "common/hashmap.h"

#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"

uint64_t hash_u64(uint64_t x)
{
    /* splitmix64 finalizer: full avalanche, cheap. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    /* FNV-1a over the bytes, then a finalizer to spread the low bits. */
    const uint8_t *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return hash_u64(h);
}

void hmap_init(struct hmap *m) { memset(m, 0, sizeof *m); }

void hmap_free(struct hmap *m)
{
    free(m->slots);
    free(m->used);
    memset(m, 0, sizeof *m);
}

static size_t hmap_find(const struct hmap *m, uint64_t key, int *found)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)hash_u64(key) & mask;
    while (m->used[i]) {
        if (m->slots[i].key == key) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = 0;
    return i;
}

static int hmap_grow(struct hmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct hmap old = *m;
    m->slots = calloc(cap, sizeof *m->slots);
    m->used = calloc(cap, 1);
    if (!m->slots || !m->used) {
        free(m->slots);
        free(m->used);
        *m = old;
        return CAIRN_ENOMEM;
    }
    m->cap = cap;
    m->len = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.used[i])
            continue;
        int found;
        size_t j = hmap_find(m, old.slots[i].key, &found);
        m->used[j] = 1;
        m->slots[j] = old.slots[i];
        m->len++;
    }
    free(old.slots);
    free(old.used);
    return 0;
}

int hmap_put(struct hmap *m, uint64_t key, void *val)
{
    if (m->cap == 0 || (m->len + 1) * 4 > m->cap * 3) {
        int rc = hmap_grow(m);
        if (rc)
            return rc;
    }
    int found;
    size_t i = hmap_find(m, key, &found);
    if (!found) {
        m->used[i] = 1;
        m->slots[i].key = key;
        m->len++;
    }
    m->slots[i].val = val;
    return 0;
}

void *hmap_get(const struct hmap *m, uint64_t key)
{
    if (m->len == 0)
        return NULL;
    int found;
    size_t i = hmap_find(m, key, &found);
    return found ? m->slots[i].val : NULL;
}

int hmap_contains(const struct hmap *m, uint64_t key)
{
    if (m->len == 0)
        return 0;
    int found;
    hmap_find(m, key, &found);
    return found;
}

void *hmap_del(struct hmap *m, uint64_t key)
{
    if (m->len == 0)
        return NULL;
    int found;
    size_t i = hmap_find(m, key, &found);
    if (!found)
        return NULL;
    void *val = m->slots[i].val;
    size_t mask = m->cap - 1;
    /* Backward shift: move later members of the probe run into the hole
     * when their home slot is not cyclically between the hole and them. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->used[j])
            break;
        size_t home = (size_t)hash_u64(m->slots[j].key) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->used[i] = 0;
    m->len--;
    return val;
}

int hmap_next(const struct hmap *m, size_t *it, uint64_t *key, void **val)
{
    while (*it < m->cap) {
        size_t i = (*it)++;
        if (m->used[i]) {
            if (key)
                *key = m->slots[i].key;
            if (val)
                *val = m->slots[i].val;
            return 1;
        }
    }
    return 0;
}
