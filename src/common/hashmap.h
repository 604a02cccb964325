/*
 * hashmap.h: an open-addressing hash map from u64 keys to pointer values.
 *
 * Linear probing with backward-shift deletion (no tombstones), power-of-two
 * capacity, load factor kept at most 3/4. Keys are any u64 (0
 * included: occupancy is tracked apart from the key). Byte-string keys are
 * hashed to u64 by the caller with hash_bytes() and compared by the caller.
 * The map does not own the values. Not thread safe.
 */
#ifndef CAIRN_COMMON_HASHMAP_H
#define CAIRN_COMMON_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_slot {
    uint64_t key;
    void *val;
};

struct hmap {
    struct hmap_slot *slots;
    uint8_t *used;
    size_t cap; /* power of two or 0 */
    size_t len;
};

void hmap_init(struct hmap *m);
void hmap_free(struct hmap *m);
/* Insert or replace; 0 or CAIRN_ENOMEM. */
int hmap_put(struct hmap *m, uint64_t key, void *val);
/* Value for key or NULL (store non-NULL values to tell absence apart). */
void *hmap_get(const struct hmap *m, uint64_t key);
int hmap_contains(const struct hmap *m, uint64_t key);
/* Remove key; returns its value or NULL. */
void *hmap_del(struct hmap *m, uint64_t key);
static inline size_t hmap_len(const struct hmap *m) { return m->len; }

/* Iterate: for (size_t it = 0; hmap_next(m, &it, &k, &v);) ... Do not
 * insert or delete while iterating. */
int hmap_next(const struct hmap *m, size_t *it, uint64_t *key, void **val);

/* 64-bit mixers: a finalizer for integer keys and a hash for byte strings. */
uint64_t hash_u64(uint64_t x);
uint64_t hash_bytes(const void *p, size_t n, uint64_t seed);

#endif
