/*
 * internal.h: the tables of the metadata state machine, shared by the files
 * of src/meta only (never included from outside the module).
 *
 * Memory layout (docs/meta.md has the figures):
 *   - inodes and chunks live in paged record tables (struct meta_table):
 *     fixed-size records in pages that never move, a free list of slots,
 *     and an open-addressing index of u32 slot numbers keyed by the record's
 *     leading u64 (inode number, chunk id);
 *   - a directory keeps its entries in an array ordered by a per-directory
 *     sequence number (the readdir cookie), their names in one byte arena,
 *     and an open-addressing name index of u32 positions;
 *   - rare things (xattrs, sessions, nodes, pending writes) sit in hmaps.
 * Single-threaded like the rest of the module.
 */
#ifndef CAIRN_META_INTERNAL_H
#define CAIRN_META_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/hashmap.h"
#include "meta/cmd.h"
#include "meta/meta.h"
#include "wire/codec.h"

/* --- paged record table --------------------------------------------------- */

#define META_PAGE_RECS 1024u

struct meta_table {
    uint8_t **pages;
    uint32_t n_pages;
    uint32_t rec_size;
    uint32_t n_slots;   /* slots ever handed out */
    uint32_t free_head; /* slot + 1 of the first free slot, 0 if none */
    uint32_t len;       /* live records */
    uint32_t *index;    /* slot + 1, 0 = empty */
    uint32_t index_cap; /* power of two, or 0 */
};

void meta_table_init(struct meta_table *t, uint32_t rec_size);
void meta_table_free(struct meta_table *t);
/* The record whose leading u64 is key, or NULL. */
void *meta_table_get(const struct meta_table *t, uint64_t key);
/* A zeroed record with key set (key must be absent and nonzero); NULL on
 * ENOMEM or when the table is full. */
void *meta_table_insert(struct meta_table *t, uint64_t key);
void meta_table_remove(struct meta_table *t, uint64_t key);
/* Record of slot i (i < n_slots); its key is 0 when the slot is free. */
void *meta_table_slot(const struct meta_table *t, uint32_t i);
size_t meta_table_bytes(const struct meta_table *t);

/* --- inodes ----------------------------------------------------------------- */

struct meta_dir;

/* 80 bytes. A file's chunk map is inline when it has at most one chunk. */
struct meta_inode {
    uint64_t ino;
    uint64_t size;
    uint64_t version;
    uint64_t atime_ns, mtime_ns, ctime_ns;
    union {
        uint64_t chunk;       /* regular file, n_chunks <= 1 */
        uint64_t *chunks;     /* regular file, n_chunks > 1 (owned) */
        struct meta_dir *dir; /* directory (owned) */
        uint8_t *target;      /* symlink: size bytes (owned) */
    } u;
    uint32_t uid, gid;
    uint32_t n_chunks;
    uint16_t mode;
    uint16_t nlink;
    uint8_t goal;
    uint8_t flags; /* META_INO_* */
};

_Static_assert(sizeof(struct meta_inode) == 80, "inode record size (docs/meta.md)");

#define META_INO_PENDING 1u /* pending writes may name this inode */

/* --- directories ------------------------------------------------------------ */

struct meta_dent {
    uint64_t ino; /* 0: a tombstone (removed entry awaiting compaction) */
    uint64_t seq; /* readdir cookie: increasing within the directory */
    uint32_t name_off;
    uint8_t name_len;
    uint8_t type; /* S_IFMT >> 12 of the child */
};

struct meta_dir {
    uint64_t parent;
    uint64_t next_seq;
    struct meta_dent *ents; /* ordered by seq; tombstones keep their seq */
    uint32_t n_ents, cap_ents, n_live;
    uint32_t names_len, names_cap;
    uint8_t *names;
    uint32_t *index; /* position + 1 of live entries; 0 = empty */
    uint32_t index_cap;
};

_Static_assert(sizeof(struct meta_dent) == 24, "directory entry size (docs/meta.md)");

/* Cookies 1 and 2 are "." and ".."; entries start at 3. */
#define META_SEQ_FIRST 3u

struct meta_dir *meta_dir_new(uint64_t parent);
void meta_dir_free(struct meta_dir *d);
struct meta_dent *meta_dir_find(const struct meta_dir *d, const uint8_t *name, size_t len);
int meta_dir_add(struct meta_dir *d, const uint8_t *name, size_t len, uint64_t ino, uint8_t type);
void meta_dir_remove(struct meta_dir *d, struct meta_dent *e);
/* Position of the first entry with seq > cookie. */
uint32_t meta_dir_seek(const struct meta_dir *d, uint64_t cookie);
static inline const uint8_t *dent_name(const struct meta_dir *d, const struct meta_dent *e)
{
    return d->names + e->name_off;
}
size_t meta_dir_bytes(const struct meta_dir *d);

/* --- chunks ------------------------------------------------------------------ */

#define META_CHUNK_INLINE 2u

/* 32 bytes; up to two replicas inline (the default goal), else an array. */
struct meta_chunk {
    uint64_t id;
    uint64_t version;
    uint32_t length;
    uint8_t n_replicas;
    uint8_t state;
    uint16_t pad;
    union {
        uint32_t inl[META_CHUNK_INLINE];
        uint32_t *ext;
    } rep;
};

_Static_assert(sizeof(struct meta_chunk) == 32, "chunk record size (docs/meta.md)");

static inline const uint32_t *chunk_replicas(const struct meta_chunk *c)
{
    return c->n_replicas <= META_CHUNK_INLINE ? c->rep.inl : c->rep.ext;
}

struct meta_pending {
    uint64_t ino;
    uint64_t chunk;
    uint64_t version;
    uint64_t deadline_ns;
    /* The writer's session (0: none, or loaded from a version 2 snapshot):
     * its end aborts the write before its deadline (a killed writer must not
     * pin the chunk, blocking repair and other writers, for a minute). */
    uint64_t session;
    uint32_t index;
    uint8_t n;
    uint8_t is_new;
    uint32_t replicas[CAIRN_GOAL_MAX];
};

static inline uint64_t pending_key(uint64_t ino, uint32_t index) { return ino << 16 | index; }

struct meta_node {
    uint32_t id;
    uint8_t state;
    uint64_t capacity;
    uint64_t used;
    uint8_t *addr;
    uint8_t *label;
    uint16_t addr_len, label_len;
};

struct meta_session {
    uint64_t id;
    uint64_t expiry_ns;
    uint64_t lease_ns;
    uint64_t last_seq;
    uint8_t *reply;
    uint32_t reply_len;
    uint32_t n_locks;   /* held ranges + waiters of this session (lock.c) */
    uint32_t n_holds;   /* open-file holds, repeats counted (hold.c) */
    struct hmap *holds; /* ino -> count (as uintptr_t); NULL if none */
};

/* A set of xattrs, sorted by name. */
struct meta_xattr {
    uint8_t *name;
    uint8_t *value;
    uint8_t name_len;
    uint32_t value_len;
};
struct meta_xattrs {
    uint32_t n;
    struct meta_xattr *v;
};

/* --- the state ----------------------------------------------------------------- */

struct meta {
    struct meta_table inodes;
    struct meta_table chunks;
    struct hmap xattrs;             /* ino -> struct meta_xattrs* */
    struct hmap sessions;           /* id -> struct meta_session* */
    struct hmap nodes;              /* id -> struct meta_node* */
    struct hmap pending;            /* pending_key(ino, index) -> struct meta_pending* */
    struct meta_outbox_rec *outbox; /* ordered by id; kind 0 = acknowledged */
    size_t outbox_n, outbox_cap, outbox_live;
    uint64_t next_ino;
    uint64_t next_chunk;
    uint64_t next_outbox;
    uint32_t next_node;
    uint64_t now_ns;
    uint64_t applied_index;
    uint64_t used_bytes;
    /* Every CHUNK_ALLOC of an existing chunk gets a version >= this (and
     * > the chunk's), then raises it: no version is handed out twice. */
    uint64_t next_version;
    /* locks (lock.c): objects sorted by (kind, key); entries counted for
     * the limits; waiters by wait_id; the newest fencing token per inode. */
    struct meta_lock **locks;
    uint32_t locks_n, locks_cap;
    uint32_t lock_entries;
    struct hmap lock_waits; /* wait_id -> struct meta_lock* */
    struct hmap fences;     /* ino -> newest fencing token (as uintptr_t) */
    /* open-file holds (hold.c): per inode, the holds of every session;
     * each session keeps its own in struct meta_session. */
    struct hmap held;     /* ino -> count (as uintptr_t) */
    uint32_t holds_total; /* sum of the counts */
    /* Not state: what the command being applied produced. */
    struct meta_lock_grant *grants;
    size_t grants_n, grants_cap;
    uint8_t txn_fail_stage; /* txn.c: where the last TXN failed */
    uint16_t txn_fail_item;
};

/* The decoded command (header and body), filled before anything changes. */
struct meta_req {
    struct meta_hdr h;
    uint64_t ino, ino2; /* parent / ino; new_parent */
    struct wire_bytes name, name2, data;
    uint32_t mode, flags, valid, uid, gid, u32a, u32b;
    uint64_t size, atime_ns, mtime_ns, u64a, u64b, u64c;
    uint8_t goal, u8a, n;
    uint32_t ids32[CAIRN_GOAL_MAX];
    const uint8_t *ids64; /* OUTBOX_ACK: n64 x u64, raw */
    uint32_t n64;
};

/* apply.c / cmd decoding */
int meta_req_decode(struct meta_req *r, const uint8_t *cmd, size_t len);
/* The body of a command of `type` under header h (COND and TXN carry them). */
int meta_req_decode_body(struct meta_req *r, const struct meta_hdr *h, uint16_t type,
                         const uint8_t *p, size_t len);
int meta_reply_error(struct cairn_buf *reply, size_t start, int status);
/* Run one decoded operation (any class but OPEN); appends its reply body. */
int meta_exec(struct meta *m, uint64_t index, const struct meta_req *r, struct wire_enc *e);

/* inode helpers (ns.c) */
struct meta_inode *meta_ino_get(const struct meta *m, uint64_t ino);
void meta_ino_touch(struct meta *m, struct meta_inode *in, int mtime);
void meta_ino_to_attr(const struct meta_inode *in, struct meta_attr *a);
int meta_ino_drop_link(struct meta *m, struct meta_inode *in);
/* Free an inode and what it owns (a file's chunks go to the outbox). */
void meta_ino_destroy(struct meta *m, struct meta_inode *in);
static inline int ino_is_dir(const struct meta_inode *in) { return S_ISDIR(in->mode); }

/* permissions (perm.c) */
#define META_MAY_X 1
#define META_MAY_W 2
#define META_MAY_R 4
int meta_perm_access(const struct meta_inode *in, const struct meta_cred *c, int mask);
int meta_perm_in_group(const struct meta_cred *c, uint32_t gid);
int meta_perm_sticky(const struct meta_inode *dir, const struct meta_inode *victim,
                     const struct meta_cred *c);
int meta_perm_owner(const struct meta_inode *in, const struct meta_cred *c);

/* operations: each returns a status and appends a body on success */
int meta_ns_create(struct meta *m, const struct meta_req *r, struct wire_enc *e);
int meta_ns_link(struct meta *m, const struct meta_req *r, struct wire_enc *e);
int meta_ns_unlink(struct meta *m, const struct meta_req *r, int rmdir);
int meta_ns_rename(struct meta *m, const struct meta_req *r);
int meta_attr_setattr(struct meta *m, const struct meta_req *r, struct wire_enc *e);
int meta_xattr_set(struct meta *m, const struct meta_req *r);
int meta_xattr_store(struct meta *m, const struct meta_req *r);
int meta_xattr_remove(struct meta *m, const struct meta_req *r);
void meta_xattr_drop(struct meta *m, uint64_t ino);
int meta_chunk_set_replicas(struct meta_chunk *ch, const uint32_t *rep, uint8_t n);
int meta_data_alloc(struct meta *m, const struct meta_req *r, struct wire_enc *e);
int meta_data_commit(struct meta *m, const struct meta_req *r, struct wire_enc *e);
int meta_data_abort_cmd(struct meta *m, const struct meta_req *r);
int meta_data_truncate(struct meta *m, struct meta_inode *in, uint64_t size);
void meta_data_release(struct meta *m, struct meta_inode *in);
uint32_t meta_data_expire(struct meta *m);
/* Abort the pending writes of the sessions ids[0..n) (sorted), which end. */
void meta_data_sessions_end(struct meta *m, const uint64_t *ids, size_t n);
/* next_version for a state loaded from a version 1 snapshot: above every
 * version in the chunk table and in pending writes. */
void meta_version_floor(struct meta *m);
int meta_node_register(struct meta *m, const struct meta_req *r, struct wire_enc *e);
int meta_node_update(struct meta *m, const struct meta_req *r);
int meta_outbox_ack(struct meta *m, const struct meta_req *r, struct wire_enc *e);
int meta_outbox_add(struct meta *m, uint32_t node, uint8_t kind, uint64_t chunk, uint64_t version,
                    uint32_t length);
int meta_session_open(struct meta *m, uint64_t index, const struct meta_req *r, struct wire_enc *e);
struct meta_session *meta_session_live(struct meta *m, uint64_t id);
uint32_t meta_session_expire(struct meta *m);
void meta_session_free(struct meta_session *s);
int meta_query_dispatch(const struct meta *m, const struct meta_req *r, struct wire_enc *e);

/* locks (lock.c, lockq.c, locksnap.c) */
void meta_lock_decode(struct wire_dec *d, struct meta_req *r);
int meta_lock_acquire(struct meta *m, const struct meta_req *r, struct wire_enc *e);
int meta_lock_release(struct meta *m, const struct meta_req *r, struct wire_enc *e);
int meta_lock_cancel(struct meta *m, const struct meta_req *r, struct wire_enc *e);
int meta_lock_query(const struct meta *m, const struct meta_req *r, struct wire_enc *e);
/* Sessions ids[0..n) (sorted) end: their locks are released and their waits
 * dropped, in lock order; expired = 1 starts lock-delays. */
void meta_lock_sessions_end(struct meta *m, const uint64_t *ids, size_t n, int expired);
/* TICK: lock-delays that passed end, waiters past their deadline give up. */
void meta_lock_tick(struct meta *m);
/* CHUNK_ALLOC_FENCED's check and record of a fencing token for ino. */
int meta_lock_fence_check(const struct meta *m, uint64_t ino, uint64_t token);
void meta_lock_fence_note(struct meta *m, uint64_t ino, uint64_t token);
int meta_lock_alloc_fenced(struct meta *m, uint64_t index, const struct meta_req *r,
                           struct wire_enc *e);
uint64_t meta_lock_fence_get(const struct meta *m, uint64_t ino);
void meta_lock_fence_set(struct meta *m, uint64_t ino, uint64_t token);
void meta_lock_init(struct meta *m);
void meta_lock_free_all(struct meta *m);
/* Snapshot sections (written only when lock state exists; docs/locks.md). */
int meta_lock_snap_put(const struct meta *m, struct wire_enc *e, void (*flush)(void *), void *ctx);
int meta_lock_snap_load(struct wire_dec *d, struct meta *m);

/* conditions and transactions (txn.c, undo.c) */
void meta_txn_decode(struct wire_dec *d, struct meta_req *r);
int meta_txn_cond(struct meta *m, uint64_t index, const struct meta_req *r, struct wire_enc *e);
int meta_txn_exec(struct meta *m, uint64_t index, const struct meta_req *r, struct wire_enc *e);
/* A failed TXN's reply: append where it failed after the status. */
void meta_txn_fail_detail(struct meta *m, const struct meta_req *r, struct cairn_buf *reply);

/* snap.c: fresh empty state used by meta_new and the loader */
struct meta *meta_alloc_empty(void);
/* Free what an inode record owns (directory, symlink target, chunk map). */
void meta_ino_free_parts(struct meta_inode *in);
/* snapcheck.c: cross-reference checks of a loaded state; CAIRN_CORRUPT. */
int meta_check_refs(const struct meta *m);

/* Sort helper: ascending u64 keys (qsort comparator). */
int meta_cmp_u64(const void *a, const void *b);

/* open-file holds (hold.c) */
int meta_hold_inode(struct meta *m, const struct meta_req *r, struct wire_enc *e);
int meta_hold_release(struct meta *m, const struct meta_req *r);
/* Sessions ids[0..n) end: their holds go, in (session, ino) order; orphans
 * left without a hold are freed. Call before the sessions are freed. */
void meta_hold_sessions_end(struct meta *m, const uint64_t *ids, size_t n);
static inline int meta_ino_held(const struct meta *m, uint64_t ino)
{
    return hmap_len(&m->held) > 0 && hmap_contains(&m->held, ino);
}
/* A session's count for ino and the count over all sessions; and setting
 * them back (the TXN undo log; frees nothing, creates no orphan). */
void meta_hold_counts(const struct meta *m, uint64_t session, uint64_t ino, uint32_t *mine,
                      uint32_t *all);
void meta_hold_restore(struct meta *m, uint64_t session, uint64_t ino, uint32_t mine, uint32_t all);
/* Snapshot: a session's holds (after its reply); the loader checks each
 * names a regular file, counts > 0, inodes increasing, limits. */
void meta_hold_snap_put(struct wire_enc *e, const struct meta_session *s);
int meta_hold_snap_load(struct wire_dec *d, struct meta *m, struct meta_session *s);

/* chunk-server maintenance (replica.c): CHUNK_REPLICA and NODES */
void meta_replica_decode(struct wire_dec *d, struct meta_req *r);
int meta_replica_apply(struct meta *m, const struct meta_req *r, struct wire_enc *e);
int meta_nodes_query(const struct meta *m, const struct meta_req *r, struct wire_enc *e);

#endif
