/*
 * lock_int.h: the lock table of the metadata state machine, shared by
 * lock.c (acquire, release, promotion, expiry), lockq.c (decoding, queries)
 * and locksnap.c (snapshot sections). Never included outside src/meta.
 *
 * A lock object exists while someone holds or waits for it, or while a
 * lock-delay runs on it; objects sit in one array sorted by (kind, key), so
 * snapshots, listings and session expiry walk them in a canonical order.
 * Files that were never locked cost nothing. Memory: struct meta owns the
 * objects (each malloc'd with its key) and their entry arrays. Single-
 * threaded like the rest of the module; semantics in docs/locks.md.
 */
#ifndef CAIRN_META_LOCK_INT_H
#define CAIRN_META_LOCK_INT_H

#include <stdint.h>

#include "meta/internal.h"

/* The whole range: NAMED and FLOCK locks, and POSIX [0, EOF). */
#define LOCK_END_MAX UINT64_MAX

/* One held range or one waiter. */
struct meta_lock_ent {
    uint64_t session;
    uint64_t owner;
    uint64_t start, end;  /* [start, end) */
    uint64_t token;       /* held: the grant's fencing token; waiting: 0 */
    uint64_t wait_id;     /* the acquire that queued it (0: granted at once) */
    uint64_t deadline_ns; /* waiting: gives up after this time (0: never) */
    uint32_t delay_ms;    /* lock-delay when the holder's session expires */
    uint8_t mode;         /* enum meta_lock_mode */
};

struct meta_lock {
    uint64_t last_token;        /* newest grant */
    uint64_t delay_until_ns;    /* lock-delay: no grants until a TICK at or after */
    struct meta_lock_ent *held; /* sorted by (session, owner, start) */
    struct meta_lock_ent *wait; /* FIFO: the queue order */
    uint32_t n_held, cap_held;
    uint32_t n_wait, cap_wait;
    uint8_t kind;    /* enum meta_lock_kind */
    uint8_t key_len; /* NAMED: the name; FLOCK/POSIX: 8-byte big-endian ino */
    uint8_t key[];
};

/* A LOCKID as decoded: kind and key bytes. */
struct meta_lock_id {
    uint8_t kind;
    uint8_t key_len;
    uint8_t key[CAIRN_LOCK_NAME_MAX];
};

void meta_lock_id_of(struct meta_lock_id *id, uint8_t kind, uint64_t ino, const uint8_t *name,
                     size_t len);
uint64_t meta_lock_id_ino(const uint8_t *key);
/* Order of lock objects: kind, then key bytes (a prefix first). */
int meta_lock_id_cmp(uint8_t ka, const uint8_t *a, size_t na, uint8_t kb, const uint8_t *b,
                     size_t nb);
/* Position of the object named id in m->locks, or where it would go. */
uint32_t meta_lock_find(const struct meta *m, const struct meta_lock_id *id, int *found);
struct meta_lock *meta_lock_new(const struct meta_lock_id *id);
/* Insert a new object at pos (from meta_lock_find); 0 or CAIRN_ENOMEM. */
int meta_lock_insert(struct meta *m, uint32_t pos, struct meta_lock *lk);
/* 1 if a and b are different holders whose ranges overlap in modes that
 * exclude each other. */
int meta_lock_conflict(const struct meta_lock_ent *a, const struct meta_lock_ent *b);
/* Append to an entry array (grown as needed); 0 or CAIRN_ENOMEM. */
int meta_lock_ents_reserve(struct meta_lock_ent **v, uint32_t *cap, uint32_t need);
/* Count an entry of session s in or out of the totals. */
void meta_lock_count(struct meta *m, uint64_t s, int delta);

#endif
