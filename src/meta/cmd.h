/*
 * cmd.h: the command catalog of the metadata state machine: every command
 * that meta_apply() (mutations, through the Raft log) and meta_query() (reads,
 * served after ReadIndex) accept, with its byte layout, and the encoders that
 * build them.
 *
 * Notation as wire.h: integers little-endian; name = u8 length (1..255) +
 * bytes without '/' or NUL; xname = u8 length (1..255) + bytes without NUL
 * (an xattr name); bytes = u32 length + bytes; str16 = u16 length + bytes.
 *
 * Every command starts with the same header:
 *   u16 type            enum meta_cmd_type
 *   u64 now_ns          wall time stamped by the leader when it proposed the
 *                       command; apply uses it (never a clock) for a/m/ctime
 *                       and lease expiry. The state keeps max(now_ns seen).
 *   u64 session         client session (META_CLASS_SESSION commands), else 0
 *   u64 seq             >= 1 for session mutations; 0 for every other class
 *   u32 uid, u32 gid    the caller's credentials, checked POSIX style
 *   u8  n_groups        <= CAIRN_GROUPS_MAX, then u32 groups[n_groups]
 * then the body below; trailing bytes make the command malformed.
 *
 * Every reply starts with i32 status (0 or a negative cairn_err); the body
 * listed below follows only when status is 0. A malformed command (short,
 * trailing bytes, a bad name, a count above its limit, an unknown type) gets
 * status CAIRN_TRUNCATED / CAIRN_BADMSG / CAIRN_UNKNOWNTYPE and changes nothing.
 *
 * ATTR (65 bytes): u64 ino, u32 mode (S_IFREG/S_IFDIR/S_IFLNK | 07777),
 *   u32 uid, u32 gid, u32 nlink, u64 size, u64 atime_ns, u64 mtime_ns,
 *   u64 ctime_ns, u64 version, u8 goal
 *
 * Classes (exactly-once rules in meta.h):
 *   SESSION  mutations: need a live session and seq >= 1; deduplicated
 *   OPEN     session management: session 0 (OPEN) or the session's id
 *   SYSTEM   issued by the metadata leader / chunk-server handlers: session 0
 *   READ     reads: meta_query(); also accepted by meta_apply (a read through
 *            the log), never cached
 */
#ifndef CAIRN_META_CMD_H
#define CAIRN_META_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "meta/meta.h"
#include "wire/codec.h"

enum meta_cmd_type {
    /* --- SESSION class: namespace and data mutations --------------------- */

    /* CREATE: u64 parent, name, u32 mode (07777 bits), u8 excl (0/1).
     * A regular file. excl=1: EEXIST if the name exists; excl=0: an existing
     * regular file is returned as is (EISDIR for a directory).
     * Reply: ATTR. */
    META_CREATE = 1,
    /* MKDIR: u64 parent, name, u32 mode. Reply: ATTR. */
    META_MKDIR = 2,
    /* SYMLINK: u64 parent, name, bytes target (1..CAIRN_SYMLINK_MAX, no NUL).
     * Reply: ATTR. */
    META_SYMLINK = 3,
    /* LINK: u64 ino, u64 new_parent, name. Reply: ATTR (nlink updated). */
    META_LINK = 4,
    /* UNLINK: u64 parent, name. Reply: empty. */
    META_UNLINK = 5,
    /* RMDIR: u64 parent, name. Reply: empty. */
    META_RMDIR = 6,
    /* RENAME: u64 parent, name, u64 new_parent, new name, u32 flags
     * (META_RENAME_NOREPLACE; other bits EINVAL). Reply: empty. */
    META_RENAME = 7,
    /* SETATTR: u64 ino, u32 valid (META_SET_*), u32 mode, u32 uid, u32 gid,
     * u64 size, u64 atime_ns, u64 mtime_ns, u8 goal. Fields whose bit is not
     * in valid are ignored. Reply: ATTR. */
    META_SETATTR = 8,
    /* SETXATTR: u64 ino, xname, bytes value (<= CAIRN_XATTR_VALUE_MAX),
     * u32 flags (META_XATTR_CREATE | META_XATTR_REPLACE). Reply: empty. */
    META_SETXATTR = 9,
    /* REMOVEXATTR: u64 ino, xname. Reply: empty. */
    META_REMOVEXATTR = 10,
    /* CHUNK_ALLOC: u64 ino, u32 index (< 65536), u64 deadline_ns,
     * u8 n (1..CAIRN_GOAL_MAX), u32 replicas[n] (distinct nodes, chosen by
     * the leader's placement and written into the command). Logs a pending
     * write: a new chunk (version 1) for a hole, else a version of the chunk
     * at index that was never handed out before (larger than the chunk's, not
     * necessarily the next: a retry after an abort gets a new one).
     * Reply: u64 chunk, u64 version, u8 n, u32 replicas[n]. */
    META_CHUNK_ALLOC = 11,
    /* CHUNK_COMMIT: u64 ino, u32 index, u64 chunk, u64 version, u32 length
     * (<= CAIRN_CHUNK_SIZE), u8 n (>= 1), u32 replicas[n] (those that acked;
     * a subset of the pending set). The commit point of a write: the file
     * map names the new version; the outbox tells acked replicas to commit,
     * others to drop it, holders of the old version to delete it.
     * Reply: ATTR of the file. */
    META_CHUNK_COMMIT = 12,
    /* CHUNK_ABORT: u64 ino, u32 index, u64 chunk, u64 version. Reply: empty. */
    META_CHUNK_ABORT = 13,

    /* --- SESSION class, continued: locks, conditions, transactions --------
     * Semantics in docs/locks.md. LOCKID names a lock:
     *   u8 kind (META_LOCK_NAMED / FLOCK / POSIX), u64 ino (0 for NAMED),
     *   str16 name (NAMED: 1..CAIRN_LOCK_NAME_MAX bytes without NUL; else
     *   empty).
     * A holder is (session of the header, u64 owner): the lock-owner id within
     * the session (FUSE's lock_owner for POSIX, the open file for FLOCK, any
     * number the client picks for NAMED).
     * GRANTS = u32 n, n x (u64 session, u64 wait_id, u64 token): waiters this
     * command granted (also returned by meta_lock_grants() after any apply). */

    /* LOCK_ACQUIRE: LOCKID, u64 owner, u8 mode (META_LOCK_SHARED /
     * META_LOCK_EXCLUSIVE), u8 flags (META_LOCK_WAIT), u64 start, u64 end
     * (POSIX: the range [start, end), start < end, end UINT64_MAX = to the
     * end of any file; others: 0, 0 = whole), u32 wait_ms (with WAIT: give
     * up after this long, 0 = never; else 0), u32 delay_ms (lock-delay if
     * this holder's session expires, <= CAIRN_LOCK_DELAY_MAX_MS).
     * Without WAIT a lock that cannot be granted now is CAIRN_EAGAIN.
     * Reply: u8 state (META_LOCK_GRANTED / META_LOCK_QUEUED), u64 token
     * (granted: the fencing token), u64 wait_id (queued: the log index of
     * this command, naming the waiter). */
    META_LOCK_ACQUIRE = 14,
    /* LOCK_RELEASE: LOCKID, u64 owner, u64 start, u64 end (as ACQUIRE).
     * NAMED not held: ENOENT; FLOCK/POSIX: unlocking nothing is not an error
     * (POSIX). Reply: GRANTS. */
    META_LOCK_RELEASE = 15,
    /* LOCK_CANCEL: u64 wait_id. The session's waiter gives up (ENOENT if it
     * is not waiting: granted meanwhile, expired or unknown). Reply: GRANTS. */
    META_LOCK_CANCEL = 16,
    /* COND: u64 ino, u64 if_version, u16 type, then the body of a command of
     * that type (CREATE..CHUNK_ABORT, CHUNK_ALLOC_FENCED, INODE_HOLD,
     * INODE_RELEASE) with this header.
     * CAIRN_ENOENT if ino does not exist, CAIRN_CONFLICT if its version is
     * not if_version; else the command runs. Reply: the command's reply. */
    META_COND = 17,
    /* TXN: u16 n items (1..2 x CAIRN_TXN_OPS_MAX), each u8 kind then:
     *   META_TXN_IF_VERSION: u64 ino, u64 version
     *   META_TXN_IF_EXISTS / META_TXN_IF_ABSENT: u64 parent, name
     *   META_TXN_OP: u16 type (CREATE..CHUNK_ABORT, INODE_HOLD, INODE_RELEASE),
     *     u32 length, body
     * At most CAIRN_TXN_OPS_MAX conditions and 1..CAIRN_TXN_OPS_MAX ops. Every
     * condition is checked first (CAIRN_CONFLICT when one fails), then the
     * ops run in order, each seeing the effects of those before; if one
     * fails, everything is undone. One log entry, all or nothing. An op's
     * inode fields (the u64 parent / ino / new_parent of its layout) may hold
     * META_TXN_REF(k): the inode of op k's ATTR reply (CREATE, MKDIR, SYMLINK,
     * LINK, SETATTR, CHUNK_COMMIT, INODE_HOLD), k an earlier op (counted
     * among ops).
     * Reply: u16 n_ops, n_ops x bytes (the op's whole reply: status 0, body).
     * A failed TXN's reply is its status followed by u8 stage
     * (META_TXN_FAIL_COND / META_TXN_FAIL_OP) and u16 item (index among the
     * items): the one exception to "no body on error". */
    META_TXN = 18,
    /* CHUNK_ALLOC_FENCED: u64 token, then the body of CHUNK_ALLOC. The fencing
     * token of the lock that protects the file: CAIRN_FENCED when it is older
     * than the newest whole-file grant (FLOCK, POSIX [0, EOF)) on the file or
     * token carried by an earlier fenced alloc of the file; CAIRN_EINVAL if 0 or
     * not a past log index. Reply: as CHUNK_ALLOC. */
    META_CHUNK_ALLOC_FENCED = 19,

    /* --- SESSION class, continued: open-file holds (src/meta/hold.c) ------
     * A held regular file outlives its last name: UNLINK or RENAME-over that
     * drops nlink to 0 leaves an orphan (nlink 0, in no directory) that
     * GETATTR, SETATTR, CHUNKS, CHUNK_ALLOC/COMMIT/ABORT, xattrs and locks
     * still reach by inode; LINK to it is ENOENT. The last hold's end
     * (INODE_RELEASE, SESSION_CLOSE, or expiry) frees an orphan as unlink
     * would have (chunks deleted through the outbox). Both are accepted as
     * TXN ops and under COND (hold + unlink in one entry). */

    /* INODE_HOLD: u64 ino. The session holds the inode open, once more (a
     * count, at most CAIRN_SESSION_HOLDS_MAX per session, CAIRN_HOLDS_MAX in
     * all: LIMIT). ENOENT: no such inode (an orphan already freed included);
     * EISDIR / EINVAL: a directory / symlink (only regular files are held).
     * No permission check: opening was checked by the caller. Reply: ATTR. */
    META_INODE_HOLD = 20,
    /* INODE_RELEASE: u64 ino. Drops one hold of the session (ENOENT if it
     * holds none). Reply: empty. */
    META_INODE_RELEASE = 21,

    /* --- OPEN class: sessions -------------------------------------------- */

    /* SESSION_OPEN (session 0): u32 lease_ms (CAIRN_SESSION_LEASE_MIN_MS..
     * MAX_MS). The session id is the log index of this command.
     * Reply: u64 session, u64 expiry_ns. */
    META_SESSION_OPEN = 32,
    /* SESSION_KEEPALIVE: empty body. Reply: u64 expiry_ns. */
    META_SESSION_KEEPALIVE = 33,
    /* SESSION_CLOSE: empty body. Reply: empty. */
    META_SESSION_CLOSE = 34,

    /* --- SYSTEM class ------------------------------------------------------ */

    /* TICK: empty body. Time passes (now_ns): expired sessions are removed
     * and pending writes past their deadline are aborted, in key order.
     * Reply: u32 sessions_expired, u32 writes_aborted. */
    META_TICK = 48,
    /* NODE_REGISTER: u32 node (0 = assign a new id), str16 addr
     * (<= CAIRN_NODE_ADDR_MAX), str16 label (<= CAIRN_NODE_LABEL_MAX),
     * u64 capacity, u64 used. The node becomes up. Reply: u32 node. */
    META_NODE_REGISTER = 49,
    /* NODE_UPDATE: u32 node, u8 state (enum meta_node_state), u64 capacity,
     * u64 used. Reply: empty. */
    META_NODE_UPDATE = 50,
    /* OUTBOX_ACK: u32 n (<= CAIRN_OUTBOX_ACK_MAX), u64 ids[n]. Unknown ids
     * are ignored (acks are retried). Reply: u32 removed. */
    META_OUTBOX_ACK = 51,
    /* CHUNK_REPLICA (chunk-server maintenance, src/meta/replica.c): u8 op
     * (META_REPLICA_ADD / REMOVE / STALE), u32 node (registered), u32 n
     * (1..CAIRN_REPLICA_ITEMS_MAX), n x (u64 chunk, u64 version, u8 staged
     * (0/1; STALE only, else 0)). Each item is judged on its own:
     *   ADD: node gets a copy of the chunk's CURRENT version into its replica
     *     list (ENOENT no chunk, STALEVERSION other version, UNAVAILABLE node
     *     not up, EEXIST listed, LIMIT at CAIRN_GOAL_MAX);
     *   REMOVE: node leaves the list of the chunk at that version and gets an
     *     outbox DELETE (EBUSY: the last replica is kept; ENOENT not listed);
     *   STALE: a version a chunk server reported that nothing needs: an
     *     outbox DROP (staged) or DELETE (committed) for node; EBUSY when the
     *     list names it for node or a pending write uses it, CONFLICT for a
     *     committed version newer than the chunk's.
     * Reply: u32 n, n x i32 status. */
    META_CHUNK_REPLICA = 56,

    /* --- READ class -------------------------------------------------------- */

    /* LOOKUP: u64 parent, name ("." and ".." resolve). Reply: ATTR. */
    META_LOOKUP = 64,
    /* GETATTR: u64 ino. Reply: ATTR. */
    META_GETATTR = 65,
    /* READLINK: u64 ino. Reply: bytes target. */
    META_READLINK = 66,
    /* READDIR: u64 ino, u64 cookie (0 = start), u32 max (1..CAIRN_READDIR_MAX).
     * Reply: u32 n, n x (u64 cookie, u64 ino, u8 type (S_IFMT >> 12), name),
     * u8 eof. Resume with the cookie of the last entry returned. */
    META_READDIR = 67,
    /* GETXATTR: u64 ino, xname, u32 size (0 = ask the length).
     * Reply: u32 length, then raw[length] if size > 0 (ERANGE if size is
     * smaller than length). */
    META_GETXATTR = 68,
    /* LISTXATTR: u64 ino, u32 size. Reply: u32 length of the list of
     * NUL-terminated names, then raw[length] if size > 0 (ERANGE if small). */
    META_LISTXATTR = 69,
    /* STATFS: empty body. Reply: u64 files, u64 used_bytes,
     * u64 capacity_bytes, u64 free_bytes, u32 nodes, u32 nodes_up. */
    META_STATFS = 70,
    /* CHUNKS: u64 ino, u32 first, u32 count (1..CAIRN_CHUNKS_QUERY_MAX).
     * Reply: u32 n (indexes first.. that exist in the map), n x (u64 chunk
     * (0 = hole), u64 version, u32 length, u8 n_replicas, u32 replicas[]),
     * u64 size (the file's size in the same state as the entries). */
    META_CHUNKS = 71,
    /* LOCK_STATUS: LOCKID, u64 session, u64 owner. What that holder has:
     * Reply: u64 last_token (newest grant on the lock, 0 if no lock object),
     * u32 n, n x (u8 mode, u64 start, u64 end, u64 token, u64 wait_id (the
     * waiter it was granted as, 0 if granted at once)), u32 w, w x (u8 mode,
     * u64 start, u64 end, u64 wait_id, u32 position in the queue). A client
     * whose acquire was QUEUED polls this until its wait_id appears held. */
    META_LOCK_STATUS = 72,
    /* LOCK_LIST: u8 kind (0 = every kind), str16 prefix (of NAMED names;
     * non-empty lists named locks only), u8 after_kind (0 = from the start),
     * u64 after_ino, str16 after_name (resume after this LOCKID), u32 max
     * (1..CAIRN_LOCK_LIST_MAX). Locks in order of (kind, name or inode).
     * Reply: u32 n, n x LOCK, u8 more. LOCK = LOCKID, u64 last_token,
     * u64 delay_until_ns (0: no lock-delay running), u32 h, h x (u64 session,
     * u64 owner, u8 mode, u64 start, u64 end, u64 token), u32 w, w x
     * (u64 session, u64 owner, u8 mode, u64 start, u64 end, u64 wait_id,
     * u64 deadline_ns). */
    META_LOCK_LIST = 73,
    /* NODES (chunk-server registry): u32 after (node id; 0 = from the start),
     * u32 max (1..CAIRN_NODES_QUERY_MAX). Nodes with id > after in id order.
     * Reply: u32 n, n x (u32 id, u8 state (enum meta_node_state), u64 capacity,
     * u64 used, str16 addr, str16 label), u8 more (1: a next page exists). */
    META_NODES = 88,
};

enum meta_cmd_class {
    META_CLASS_INVALID = 0,
    META_CLASS_SESSION = 1,
    META_CLASS_OPEN = 2,
    META_CLASS_SYSTEM = 3,
    META_CLASS_READ = 4,
};

/* Class of a command type; META_CLASS_INVALID for an unknown one. */
enum meta_cmd_class meta_cmd_class(uint16_t type);

#define META_RENAME_NOREPLACE 1u

#define META_SET_MODE 0x001u
#define META_SET_UID 0x002u
#define META_SET_GID 0x004u
#define META_SET_SIZE 0x008u
#define META_SET_ATIME 0x010u
#define META_SET_MTIME 0x020u
#define META_SET_ATIME_NOW 0x040u
#define META_SET_MTIME_NOW 0x080u
#define META_SET_GOAL 0x100u
#define META_SET_ALL 0x1ffu

#define META_XATTR_CREATE 1u
#define META_XATTR_REPLACE 2u

#define META_ATTR_WIRE_SIZE 65u

enum meta_lock_kind {
    META_LOCK_NAMED = 1, /* a name in the lock namespace */
    META_LOCK_FLOCK = 2, /* flock(2) on an inode: whole file */
    META_LOCK_POSIX = 3, /* fcntl(2) byte ranges on an inode */
};
enum meta_lock_mode {
    META_LOCK_SHARED = 1,
    META_LOCK_EXCLUSIVE = 2,
};
#define META_LOCK_WAIT 1u
enum meta_lock_state {
    META_LOCK_GRANTED = 1,
    META_LOCK_QUEUED = 2,
};

enum meta_txn_item {
    META_TXN_IF_VERSION = 1,
    META_TXN_IF_EXISTS = 2,
    META_TXN_IF_ABSENT = 3,
    META_TXN_OP = 4,
};
#define META_TXN_FAIL_COND 1u
#define META_TXN_FAIL_OP 2u
/* An inode field of a TXN op naming the inode of op k's reply. */
#define META_TXN_REF_BIT (1ull << 63)
#define META_TXN_REF(k) (META_TXN_REF_BIT | (uint64_t)(k))

/* The header every command starts with. */
struct meta_hdr {
    uint16_t type;
    uint64_t now_ns;
    uint64_t session;
    uint64_t seq;
    struct meta_cred cred;
};

/* Encoders: each appends one whole command to `out` (which the caller owns
 * and resets) and returns 0 or the encoder's error (CAIRN_EINVAL /
 * CAIRN_ENAMETOOLONG for a bad name, CAIRN_TOOBIG, CAIRN_ENOMEM). h->type is
 * set by each encoder. */
void meta_enc_hdr(struct wire_enc *e, const struct meta_hdr *h);
void meta_enc_attr(struct wire_enc *e, const struct meta_attr *a);
void meta_put_xname(struct wire_enc *e, const void *p, size_t n);
int meta_cmd_create(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name,
                    uint32_t mode, int excl);
int meta_cmd_mkdir(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name,
                   uint32_t mode);
int meta_cmd_symlink(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name,
                     const char *target);
int meta_cmd_link(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint64_t new_parent,
                  const char *name);
int meta_cmd_unlink(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name);
int meta_cmd_rmdir(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name);
int meta_cmd_rename(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name,
                    uint64_t new_parent, const char *new_name, uint32_t flags);
/* set: the fields of struct meta_attr named by valid (mode, uid, gid, size,
 * atime_ns, mtime_ns, goal). */
int meta_cmd_setattr(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint32_t valid,
                     const struct meta_attr *set);
int meta_cmd_setxattr(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, const char *name,
                      const void *value, size_t len, uint32_t flags);
int meta_cmd_removexattr(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, const char *name);
int meta_cmd_chunk_alloc(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint32_t index,
                         uint64_t deadline_ns, const uint32_t *replicas, uint8_t n);
int meta_cmd_chunk_commit(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint32_t index,
                          uint64_t chunk, uint64_t version, uint32_t length,
                          const uint32_t *replicas, uint8_t n);
int meta_cmd_chunk_abort(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint32_t index,
                         uint64_t chunk, uint64_t version);
int meta_cmd_inode_hold(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino);
int meta_cmd_inode_release(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino);
int meta_cmd_session_open(struct cairn_buf *out, struct meta_hdr *h, uint32_t lease_ms);
int meta_cmd_session_keepalive(struct cairn_buf *out, struct meta_hdr *h);
int meta_cmd_session_close(struct cairn_buf *out, struct meta_hdr *h);
int meta_cmd_tick(struct cairn_buf *out, struct meta_hdr *h);
int meta_cmd_node_register(struct cairn_buf *out, struct meta_hdr *h, uint32_t node,
                           const char *addr, const char *label, uint64_t capacity, uint64_t used);
int meta_cmd_node_update(struct cairn_buf *out, struct meta_hdr *h, uint32_t node, uint8_t state,
                         uint64_t capacity, uint64_t used);
int meta_cmd_outbox_ack(struct cairn_buf *out, struct meta_hdr *h, const uint64_t *ids, uint32_t n);
int meta_cmd_lookup(struct cairn_buf *out, struct meta_hdr *h, uint64_t parent, const char *name);
int meta_cmd_getattr(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino);
int meta_cmd_readlink(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino);
int meta_cmd_readdir(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint64_t cookie,
                     uint32_t max);
int meta_cmd_getxattr(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, const char *name,
                      uint32_t size);
int meta_cmd_listxattr(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint32_t size);
int meta_cmd_statfs(struct cairn_buf *out, struct meta_hdr *h);
int meta_cmd_chunks(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint32_t first,
                    uint32_t count);

/* What a lock command names and asks (LOCKID and the fields after it). */
struct meta_lock_req {
    uint8_t kind;     /* enum meta_lock_kind */
    uint64_t ino;     /* FLOCK / POSIX */
    const char *name; /* NAMED: NUL-terminated */
    uint64_t owner;
    uint8_t mode;               /* enum meta_lock_mode (ACQUIRE) */
    uint8_t flags;              /* META_LOCK_WAIT (ACQUIRE) */
    uint64_t start, end;        /* POSIX range; 0, 0 otherwise */
    uint32_t wait_ms, delay_ms; /* ACQUIRE */
};

int meta_cmd_lock_acquire(struct cairn_buf *out, struct meta_hdr *h, const struct meta_lock_req *q);
int meta_cmd_lock_release(struct cairn_buf *out, struct meta_hdr *h, const struct meta_lock_req *q);
int meta_cmd_lock_cancel(struct cairn_buf *out, struct meta_hdr *h, uint64_t wait_id);
int meta_cmd_lock_status(struct cairn_buf *out, struct meta_hdr *h, const struct meta_lock_req *q,
                         uint64_t session);
/* after: resume after this lock (NULL: from the start). */
int meta_cmd_lock_list(struct cairn_buf *out, struct meta_hdr *h, uint8_t kind, const char *prefix,
                       const struct meta_lock_req *after, uint32_t max);
int meta_cmd_chunk_alloc_fenced(struct cairn_buf *out, struct meta_hdr *h, uint64_t token,
                                uint64_t ino, uint32_t index, uint64_t deadline_ns,
                                const uint32_t *replicas, uint8_t n);
/* COND around a command built by another encoder (cmd, len: a whole command;
 * its header is replaced by h). CAIRN_BADMSG if cmd is not a whole header. */
int meta_cmd_cond(struct cairn_buf *out, struct meta_hdr *h, uint64_t ino, uint64_t if_version,
                  const uint8_t *cmd, size_t len);

/* TXN builder: begin, then conditions and ops in any order, then end (which
 * writes the item count and returns the first error of the whole build). */
struct meta_txn_enc {
    struct wire_enc e;
    size_t count_at;
    uint32_t n_items, n_conds, n_ops;
};
void meta_txn_begin(struct meta_txn_enc *t, struct cairn_buf *out, struct meta_hdr *h);
void meta_txn_if_version(struct meta_txn_enc *t, uint64_t ino, uint64_t version);
void meta_txn_if_exists(struct meta_txn_enc *t, uint64_t parent, const char *name);
void meta_txn_if_absent(struct meta_txn_enc *t, uint64_t parent, const char *name);
/* An op from a whole command built by another encoder (header dropped). */
void meta_txn_op(struct meta_txn_enc *t, const uint8_t *cmd, size_t len);
int meta_txn_end(struct meta_txn_enc *t);
/* Size of the command header at the start of cmd, or 0 if cmd is shorter. */
size_t meta_cmd_hdr_size(const uint8_t *cmd, size_t len);

/* Reply decoding: the status of a reply (CAIRN_TRUNCATED if shorter than 4
 * bytes), and an ATTR body after the status (0 or a decoder error). */
int meta_reply_status(const uint8_t *p, size_t len);
int meta_reply_attr(const uint8_t *p, size_t len, struct meta_attr *out);
void meta_dec_attr(struct wire_dec *d, struct meta_attr *a);

/* --- chunk-server maintenance (replica.c) -------------------------------- */

enum meta_replica_op {
    META_REPLICA_ADD = 1,
    META_REPLICA_REMOVE = 2,
    META_REPLICA_STALE = 3,
};
struct meta_replica_item {
    uint64_t chunk;
    uint64_t version;
    uint8_t staged;
};
int meta_cmd_chunk_replica(struct cairn_buf *out, struct meta_hdr *h, uint8_t op, uint32_t node,
                           const struct meta_replica_item *items, uint32_t n);
int meta_cmd_nodes(struct cairn_buf *out, struct meta_hdr *h, uint32_t after, uint32_t max);

#endif
