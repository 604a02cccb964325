/*
 * cairn_lock.h: distributed locks, compare-and-set and transactions of
 * libcairn (DESIGN.md §6, docs/locks.md). Included by cairn.h.
 *
 * Locks. A struct cairn_locks is one lock client: its own metadata session
 * (lease `lease_ms`) kept alive by a thread of the library, so a program may
 * hold a lock for as long as it runs, busy or not. When the process dies or
 * is cut off from the metadata group for longer than the lease, the session
 * expires and every lock it held is released (the next waiter gets it). A
 * lock is named (1..255 bytes, no NUL); mode shared or exclusive; a `try`
 * acquire fails at once with CAIRN_EAGAIN when the lock is not free, a
 * waiting one queues in FIFO order (a shared request does not pass a waiting
 * exclusive one) for up to timeout_ms (0: no limit), then CAIRN_ETIMEDOUT.
 * Every grant returns a fencing token: strictly increasing per lock, across
 * metadata leader changes. Pass it to the resource the lock protects
 * (cairn_file_set_fence for the writes of a file) so a holder that was
 * paused past its lease and lost the lock is refused there (the metadata
 * checks the token of each chunk allocation, the chunk servers the token of
 * each CHUNK_WRITE).
 * One handle holds each name at most once (a second cairn_lock of a name
 * it holds is CAIRN_EBUSY); use several handles for several holders.
 * A queued acquire is answered by the leader at its grant (held open up to
 * 250 ms), else learns of it by polling the leader (every few ms, backing off to
 * CAIRN_LOCK_POLL_MS_MAX), which survives leader changes.
 *
 * Optimistic concurrency. Every inode has a version (struct cairn_stat's
 * version); the *_if calls apply only if it is still `if_version`, else
 * CAIRN_CONFLICT: of N clients racing from one version, exactly one wins.
 *
 * Transactions. cairn_txn applies a batch of conditions and operations as one
 * metadata log entry: all or nothing. Paths are resolved before the batch is
 * sent (their parent directories must exist already); each op's result goes
 * to its `result` field.
 *
 * Errors. These calls return 0 or a negative cairn_err (cairn_errors.h;
 * POSIX ones equal -errno, cairn_strerror gives the message): CAIRN_EAGAIN,
 * CAIRN_ETIMEDOUT, CAIRN_EBUSY, CAIRN_ENOENT (unlock of a lock not held, or
 * the lock was lost with an expired session), CAIRN_SESSION (the session
 * expired while waiting: the lock is not held), CAIRN_CONFLICT, CAIRN_EINVAL.
 *
 * Threads. A struct cairn_locks may be shared by threads: calls are
 * serialized by its lock (a waiting cairn_lock blocks the others: use one
 * handle per thread that waits). The *_if calls and cairn_txn follow the
 * rules of struct cairn (cairn.h).
 *
 * Memory. The library owns struct cairn_locks; cairn_locks_close releases
 * the locks it still holds and frees it (the session then ends with its
 * lease). At most CAIRN_LOCKCLIENT_HELD_MAX (64) names held at once.
 */
#ifndef CAIRN_LOCK_H
#define CAIRN_LOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cairn;
struct cairn_file;
struct cairn_locks;

#define CAIRN_LOCK_SHARED 1
#define CAIRN_LOCK_EXCLUSIVE 2
/* flags of cairn_lock */
#define CAIRN_LOCK_TRY 1u

/* Longest pause between two polls of a queued acquire. */
#define CAIRN_LOCK_POLL_MS_MAX 20u

/* A lock client on the cluster of c (addresses, secret, credentials are
 * copied; c may be disconnected afterwards). lease_ms: the session lease,
 * 1000..600000; 0 = 10000. */
int cairn_locks_open(struct cairn *c, uint32_t lease_ms, struct cairn_locks **out);
/* Release every lock still held and free the handle. */
void cairn_locks_close(struct cairn_locks *l);

/* Acquire lock `name`. On success *token is the fencing token. */
int cairn_lock(struct cairn_locks *l, const char *name, int mode, unsigned flags,
               uint32_t timeout_ms, uint64_t *token);
/* Release a lock this handle holds (CAIRN_ENOENT if it does not). */
int cairn_unlock(struct cairn_locks *l, const char *name);

/* One lock as cairn_lock_list reports it. */
struct cairn_lock_info {
    char name[256];
    uint64_t last_token;
    uint32_t holders, waiters;
    int mode; /* of the first holder; 0 if none */
    uint64_t holder_session, holder_token;
};
/* Named locks in name order, from the first after `after` ("" = the
 * start): at most max; returns how many, and *more = 1 if others follow. */
int cairn_lock_list(struct cairn_locks *l, const char *after, struct cairn_lock_info *out,
                    size_t max, int *more);

/* Compare-and-set forms of the path calls of cairn.h: each applies only if
 * the version of the inode it checks is still if_version (CAIRN_CONFLICT,
 * or CAIRN_ENOENT when that inode is gone), atomically with the change (one
 * COND command). The inode checked is the one the call changes:
 *   chmod, chown, lchown, truncate, utimens, setgoal, setxattr, removexattr:
 *     the inode path names (lchown: a final link itself);
 *   unlink, rmdir: the inode being removed; rename: the inode being moved
 *     (from), not a target it would replace; link: the existing inode
 *     (oldpath), whose link count changes;
 *   mkdir, symlink: the directory that gets the new name.
 * A name's inode changes version when the name goes or moves, so a
 * condition on it also fails if the name was rebound since it was read.
 * Errors are cairn_err codes (CAIRN_CONFLICT has no errno of its own). */
int cairn_setxattr_if(struct cairn *c, const char *path, const char *name, const void *value,
                      size_t size, int flags, uint64_t if_version);
int cairn_removexattr_if(struct cairn *c, const char *path, const char *name, uint64_t if_version);
int cairn_chmod_if(struct cairn *c, const char *path, uint32_t mode, uint64_t if_version);
int cairn_chown_if(struct cairn *c, const char *path, uint32_t uid, uint32_t gid,
                   uint64_t if_version);
int cairn_lchown_if(struct cairn *c, const char *path, uint32_t uid, uint32_t gid,
                    uint64_t if_version);
int cairn_truncate_if(struct cairn *c, const char *path, uint64_t size, uint64_t if_version);
int cairn_utimens_if(struct cairn *c, const char *path, const struct timespec ts[2],
                     uint64_t if_version);
int cairn_setgoal_if(struct cairn *c, const char *path, uint32_t goal, uint64_t if_version);
int cairn_unlink_if(struct cairn *c, const char *path, uint64_t if_version);
int cairn_rmdir_if(struct cairn *c, const char *path, uint64_t if_version);
/* flags: CAIRN_RENAME_NOREPLACE or 0 (as cairn_rename2). */
int cairn_rename_if(struct cairn *c, const char *from, const char *to, unsigned flags,
                    uint64_t if_version);
int cairn_link_if(struct cairn *c, const char *oldpath, const char *newpath, uint64_t if_version);
int cairn_mkdir_if(struct cairn *c, const char *path, uint32_t mode, uint64_t if_version);
int cairn_symlink_if(struct cairn *c, const char *target, const char *linkpath,
                     uint64_t if_version);

/* Fence the writes of an open file with a lock's token (nonzero, else
 * CAIRN_EINVAL): from now on its chunk allocations carry the token to the
 * metadata (CHUNK_ALLOC_FENCED: refused when the file already saw a newer
 * token, from a newer holder's fenced write or a whole-file lock grant) and
 * its CHUNK_WRITEs carry it to the chunk servers (refused when the chunk
 * saw a newer one). A refused write fails the handle: the next cairn_write,
 * cairn_pwrite, cairn_fsync or cairn_close returns -ESTALE (the errno of
 * CAIRN_FENCED) and the bytes not yet committed are dropped, never retried
 * under a new allocation. Set it before the first write: bytes written
 * earlier went out unfenced. Returns a cairn_err. */
int cairn_file_set_fence(struct cairn_file *f, uint64_t token);
/* The error that failed f's writes (a cairn_err: CAIRN_FENCED tells a
 * refused token from other ESTALE causes), 0 if none. */
int cairn_file_error(struct cairn_file *f);

enum cairn_txn_kind {
    CAIRN_TXN_IF_VERSION = 1, /* path's inode has version `version` */
    CAIRN_TXN_IF_EXISTS = 2,  /* path exists */
    CAIRN_TXN_IF_ABSENT = 3,  /* path does not exist */
    CAIRN_TXN_MKDIR = 10,     /* path, mode */
    CAIRN_TXN_CREATE = 11,    /* path (a regular file; exclusive), mode */
    CAIRN_TXN_UNLINK = 12,    /* path */
    CAIRN_TXN_RMDIR = 13,     /* path */
    CAIRN_TXN_RENAME = 14,    /* path -> path2 */
    CAIRN_TXN_SETXATTR = 15,  /* path, xattr name = path2, value */
    CAIRN_TXN_CHMOD = 16,     /* path, mode */
};
struct cairn_txn_op {
    int kind; /* enum cairn_txn_kind */
    const char *path;
    const char *path2;
    const void *value;
    size_t value_len;
    uint64_t version;
    uint32_t mode;
    int result; /* out: 0, or the error of the failing item */
};
/* Apply the batch atomically. Returns 0 when everything applied; else the
 * error, with *failed the index in ops of the failing item (SIZE_MAX when
 * the batch failed as a whole, e.g. a path that could not be resolved). */
int cairn_txn(struct cairn *c, struct cairn_txn_op *ops, size_t n, size_t *failed);

#ifdef __cplusplus
}
#endif

#endif
