/*
 * meta.h: the deterministic metadata state machine of cairn (DESIGN.md §3,
 * §5, §6): namespace (inodes, directory entries, xattrs), the file-to-chunk
 * map, the chunk table, the chunk-server registry, client sessions with
 * exactly-once replies, pending chunk writes and the outbox of commands to
 * chunk servers.
 *
 * Purity. No system calls, no clock, no randomness: the only inputs are the
 * commands (byte strings laid out in cmd.h) and their log indexes, so every
 * replica that applies the same log reaches the same state, and
 * meta_digest() proves it. The module links against libc memory/string
 * functions and src/common's pure parts only (a unit test checks the object
 * files' undefined symbols).
 *
 * Changing state. meta_apply() is the one function that changes it: for live
 * operation, for log replay, and after meta_snapshot_load() rebuilt a state
 * from a snapshot. Reads (meta_query() and the meta_lookup()... functions)
 * never change it; the daemon serves them after ReadIndex.
 *
 * Exactly-once (Raft thesis §6.3). A SESSION-class command carries (session,
 * seq). Per session the state keeps the last seq applied and its reply:
 *   - seq == last: the cached reply is returned and nothing is applied;
 *   - seq < last: CAIRN_SESSION (the client has moved on; never re-applied);
 *   - seq > last: applied; its reply (error replies too) is cached.
 * Unknown or expired sessions get CAIRN_SESSION. A session expires when a
 * command stamped later than its lease end is applied; every command of the
 * session and SESSION_KEEPALIVE renew the lease. A client keeps at most one
 * mutation in flight per session.
 *
 * Memory. struct meta owns everything in it. Replies are appended to the
 * caller's buffer. Pointers returned by the read functions (names, symlink
 * targets, xattr values) point into the state and stay valid until the next
 * meta_apply() or meta_free().
 *
 * Threads. None inside. One thread at a time may call meta_apply(); reads
 * may run concurrently with each other, not with meta_apply().
 *
 * Errors. POSIX results are negative cairn_err codes equal to -errno
 * (CAIRN_ENOENT, CAIRN_EEXIST, ...); a malformed command is CAIRN_TRUNCATED,
 * CAIRN_BADMSG or CAIRN_UNKNOWNTYPE and changes nothing; CAIRN_SESSION for
 * dedup failures; CAIRN_LIMIT when a table limit of limits.h is reached;
 * CAIRN_ENOMEM when memory runs out (the command is then not applied, but a
 * replica that runs out of memory must stop: replicas would diverge).
 * Broken invariants abort (CAIRN_ASSERT).
 */
#ifndef CAIRN_META_H
#define CAIRN_META_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"

#define META_ROOT_INO 1u
/* Replication goal of the root directory; new inodes inherit the parent's. */
#define META_GOAL_DEFAULT 2u

struct meta;

/* The caller of a command: POSIX credentials. */
struct meta_cred {
    uint32_t uid;
    uint32_t gid;
    uint32_t n_groups;
    uint32_t groups[CAIRN_GROUPS_MAX];
};

struct meta_attr {
    uint64_t ino;
    uint64_t size;
    uint64_t atime_ns;
    uint64_t mtime_ns;
    uint64_t ctime_ns;
    uint64_t version; /* bumped by every change of the inode */
    uint32_t mode;    /* S_IFREG / S_IFDIR / S_IFLNK | 07777 */
    uint32_t uid;
    uint32_t gid;
    uint32_t nlink;
    uint8_t goal;
};

struct meta_dirent {
    uint64_t cookie; /* resume after this entry with this cookie */
    uint64_t ino;
    uint8_t type; /* S_IFMT bits >> 12, as DT_* */
    uint8_t name_len;
    const uint8_t *name; /* into the state */
};

enum meta_node_state {
    META_NODE_UP = 1,
    META_NODE_SUSPECT = 2,
    META_NODE_DOWN = 3,
    META_NODE_DRAINING = 4,
};

enum meta_chunk_state {
    META_CHUNK_CLEAN = 1,   /* every listed replica holds `version` */
    META_CHUNK_WRITING = 2, /* a pending write prepares a newer version */
};

struct meta_chunk_info {
    uint64_t id;
    uint64_t version;
    uint32_t length;
    uint8_t state;
    uint8_t n_replicas;
    uint32_t replicas[CAIRN_GOAL_MAX];
};

struct meta_node_info {
    uint32_t id;
    uint8_t state;
    uint64_t capacity;
    uint64_t used;
    const uint8_t *addr; /* into the state */
    uint16_t addr_len;
    const uint8_t *label;
    uint16_t label_len;
};

enum meta_outbox_kind {
    META_OUT_COMMIT = 1,   /* make `version` of chunk current */
    META_OUT_DROP = 2,     /* discard the uncommitted `version` */
    META_OUT_DELETE = 3,   /* delete the chunk (every version <= `version`) */
    META_OUT_TRUNCATE = 4, /* cut `version` of the chunk to `length` bytes */
};

struct meta_outbox_rec {
    uint64_t id; /* increasing; acknowledged by OUTBOX_ACK */
    uint64_t chunk;
    uint64_t version;
    uint32_t node;
    uint32_t length; /* TRUNCATE only */
    uint8_t kind;
};

struct meta_session_info {
    uint64_t id;
    uint64_t expiry_ns;
    uint64_t lease_ns;
    uint64_t last_seq;
};

struct meta_statfs {
    uint64_t files;          /* inodes of every type */
    uint64_t used_bytes;     /* sum of file sizes */
    uint64_t capacity_bytes; /* sum over nodes not down */
    uint64_t free_bytes;
    uint32_t nodes;
    uint32_t nodes_up;
};

struct meta_stats {
    uint64_t inodes, dirs, files, symlinks, chunks, nodes, sessions, pending, outbox;
};

/* A new state: the root directory (inode 1, 0755, uid 0, gid 0, goal 2).
 * NULL when out of memory. */
struct meta *meta_new(void);
void meta_free(struct meta *m);

/* Apply the command of log entry `index` (strictly greater than the last
 * one applied) and append its reply to `reply`. Returns the reply's status.
 * An empty command (a leader's no-op entry) only advances the index. */
int meta_apply(struct meta *m, uint64_t index, const uint8_t *cmd, size_t len,
               struct cairn_buf *reply);
/* Serve a READ-class command without changing anything; other classes get
 * CAIRN_EINVAL. Returns the reply's status. */
int meta_query(const struct meta *m, const uint8_t *cmd, size_t len, struct cairn_buf *reply);
uint64_t meta_applied_index(const struct meta *m);
uint64_t meta_now_ns(const struct meta *m);

/* A 64-bit hash of the whole logical state (independent of table layout and
 * of history that left no trace, such as tombstones): equal on replicas at
 * the same applied index. The applied index itself is not included. */
uint64_t meta_digest(const struct meta *m);
/* Append the whole state to `out` in the snapshot format of docs/meta.md
 * (canonical: equal states give equal bytes). 0 or CAIRN_ENOMEM. */
int meta_snapshot(const struct meta *m, struct cairn_buf *out);
/* Build a state from a snapshot; CAIRN_CORRUPT (bad checksum or an
 * inconsistent state), CAIRN_BADVERSION, CAIRN_ENOMEM. */
int meta_snapshot_load(const uint8_t *p, size_t len, struct meta **out);

/* --- reads on the state --------------------------------------------------- */

int meta_lookup(const struct meta *m, const struct meta_cred *c, uint64_t parent,
                const uint8_t *name, size_t len, struct meta_attr *out);
int meta_getattr(const struct meta *m, uint64_t ino, struct meta_attr *out);
int meta_readlink(const struct meta *m, uint64_t ino, const uint8_t **target, uint32_t *len);
/* Up to max entries after `cookie` (0: from the start, "." and ".." first).
 * *eof is 1 when no entry follows the last one returned. */
int meta_readdir(const struct meta *m, const struct meta_cred *c, uint64_t ino, uint64_t cookie,
                 uint32_t max, struct meta_dirent *ents, uint32_t *n, int *eof);
int meta_getxattr(const struct meta *m, const struct meta_cred *c, uint64_t ino,
                  const uint8_t *name, size_t len, const uint8_t **value, uint32_t *value_len);
/* Append the NUL-terminated names the caller may see to `names`. */
int meta_listxattr(const struct meta *m, const struct meta_cred *c, uint64_t ino,
                   struct cairn_buf *names);
void meta_statfs(const struct meta *m, struct meta_statfs *out);
void meta_stats(const struct meta *m, struct meta_stats *out);
/* The chunk at `index` of a file (id 0: a hole or past the end). */
int meta_file_chunk(const struct meta *m, uint64_t ino, uint32_t index,
                    struct meta_chunk_info *out);
int meta_chunk_get(const struct meta *m, uint64_t chunk, struct meta_chunk_info *out);
int meta_node_get(const struct meta *m, uint32_t node, struct meta_node_info *out);
int meta_session_get(const struct meta *m, uint64_t session, struct meta_session_info *out);
/* Outbox records with id > after_id (for one node, or all if node is 0), in
 * id order; returns how many were written (at most max). */
size_t meta_outbox_list(const struct meta *m, uint32_t node, uint64_t after_id,
                        struct meta_outbox_rec *out, size_t max);

/* --- locks (docs/locks.md) ----------------------------------------------------- */

/* A waiter granted a lock: the acquire that queued it (wait_id, the log
 * index of that LOCK_ACQUIRE) of `session` now holds it with `token`. */
struct meta_lock_grant {
    uint64_t session;
    uint64_t wait_id;
    uint64_t token;
};

/* The waiters granted by the last meta_apply() (a release, a cancel, a
 * session closed or expired, a TICK that ended a lock-delay or a wait...),
 * in the order granted; *out stays valid until the next meta_apply(). The
 * daemon pushes these to the waiting clients; a retried command (cached
 * reply) grants nothing again, so nothing is pushed twice. Every replica
 * computes the same list, so a new leader could do it too. */
size_t meta_lock_grants(const struct meta *m, const struct meta_lock_grant **out);

/* --- chunk-server maintenance (replica.c) ---------------------------------- */

/* A chunk of a file and the file's replication goal. */
struct meta_chunk_goal {
    struct meta_chunk_info chunk;
    uint64_t ino;
    uint32_t index;
    uint8_t goal;
};
/* Cursor of meta_chunk_walk: zero it to start. */
struct meta_walk {
    uint32_t slot;
    uint32_t index;
    int wrapped; /* set by the call that finished a pass (the cursor restarts) */
};
/* The next chunks of regular files (at most max), resuming at the cursor; a
 * pass visits every file's chunks once, in inode-table order (not stable
 * across changes; for the leader's planning, never for the state). */
size_t meta_chunk_walk(const struct meta *m, struct meta_walk *w, struct meta_chunk_goal *out,
                       size_t max);
/* Registered nodes with id > after, in id order (at most max). */
size_t meta_node_list(const struct meta *m, uint32_t after, struct meta_node_info *out, size_t max);

#endif
