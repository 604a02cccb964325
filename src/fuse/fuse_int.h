/*
 * fuse_int.h: internals of `cairn mount` (docs/fuse.md), shared by mount.c
 * (options, session, daemon), conn.c (connection pool, credentials, the
 * table of open inodes), ops_ns.c (namespace operations), ops_file.c (files
 * and directories) and ops_lock.c (flock and fcntl locks).
 *
 * Threads. FUSE requests run on the workers of fuse_session_loop_mt. The
 * client internals are blocking and single-threaded per connection
 * (client/file.h "Threads"), so the mount keeps a pool of connections
 * (struct fz_conn: a struct cairn with its metaclient on a private loop and
 * a dataclient on the same loop); a worker takes one connection for the
 * length of one metadata command sequence (fz_conn_get / fz_conn_put).
 * Lock order: an inode's `mu` (struct fz_inode) before a connection's lock;
 * a thread never holds two connection locks, nor the table lock while
 * waiting for anything else.
 *
 * Open files. Every open of an inode in this mount shares one datafile
 * (struct fz_inode), bound to the connection that opened it (its dataclient
 * and the metaclient session that holds the inode when it is unlinked while
 * open). Sharing one datafile makes every handle of the mount read the
 * others' writes and lets getattr report the size including bytes not yet
 * committed.
 *
 * Memory: the mount (struct fz_mount) owns the pool and the table; a
 * struct fz_inode lives while it is open (refs > 0). Errors: internal
 * functions return negative cairn_err codes; replies to the kernel carry
 * errno values (fz_errno).
 */
#ifndef CAIRN_FUSE_INT_H
#define CAIRN_FUSE_INT_H

#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>

#include "cairn.h"
#include "client/api_int.h"
#include "client/file.h"
#include "common/hashmap.h"
#include "meta/meta.h"

/* Connections in the pool: each carries one metadata command at a time,
 * so this bounds the requests served in parallel (2 cores, a handful of
 * workers; more only queue on the leader). */
#define FZ_CONNS_DEFAULT 4u
#define FZ_CONNS_MAX 16u
/* FUSE worker threads at most (a waiting setlkw occupies one). */
#define FZ_THREADS_MAX 32u
/* The largest write the kernel sends at once. */
#define FZ_MAX_WRITE (1024u * 1024u)
/* Default cache timeouts (seconds) and read-ahead (KiB). */
#define FZ_TIMEOUT_DEFAULT 1.0
#define FZ_READAHEAD_KIB_DEFAULT 1024u
/* Entries asked for in one READDIR of a readdir / readdirplus call. */
#define FZ_READDIR_PAGE 128u
_Static_assert(FZ_READDIR_PAGE <= CAIRN_READDIR_MAX, "a page fits one READDIR reply");

struct fz_conn {
    struct cairn *c; /* c->mu is the connection's lock */
    struct dataclient *dc;
};

/* An inode open in this mount: one datafile shared by its opens. */
struct fz_inode {
    uint64_t ino;
    uint32_t refs;      /* opens + transient users; under the table lock */
    pthread_mutex_t mu; /* the fields below */
    uint32_t opens;     /* FUSE opens not yet released */
    struct fz_conn *conn;
    struct datafile *df;
    int posix_locked;    /* a setlk was made: flush drops the owner's locks */
    int wrote;           /* a write was made since the entry was created */
    uint32_t held;       /* INODE_HOLDs sent through conn's session */
    uint64_t size_hint;  /* datafile_size after the last operation (getattr) */
    struct meta_attr at; /* attributes at the last open (keep_cache) */
    int at_valid;
};

struct fz_opts {
    const char *cluster_file;
    const char *mountpoint;
    int foreground;
    int allow_other;
    int hold_open; /* hold every open inode (unlinks by other mounts too) */
    double attr_timeout, entry_timeout;
    uint32_t readahead_kib;
    uint32_t conns;
    const char *extra; /* -o options passed to the kernel mount */
};

/* --- mount.c --------------------------------------------------------------- */

#define FZ_EXIT_USAGE 2
/* Defaults of every option (allow_other when running as root). */
void fz_opts_default(struct fz_opts *o);
/* Parse the arguments after "mount" over the defaults in o: 0, or
 * FZ_EXIT_USAGE with a message on stderr. Values point into argv. */
int fz_parse_args(int argc, char **argv, struct fz_opts *o);

struct fz_mount {
    struct fz_opts o;
    struct fz_conn conns[FZ_CONNS_MAX];
    uint32_t n_conns;
    uint32_t next; /* round robin of fz_conn_get */
    struct cairn_locks *locks;
    struct fuse_session *se;   /* for cache invalidations */
    uint64_t owner_salt;       /* mixed into lock owners: unique per mount */
    struct meta_cred own_cred; /* the mount process's credentials */
    pthread_mutex_t pid_mu;
    struct hmap lock_pids; /* POSIX owner (salted) -> pid of its last setlk */
    pthread_mutex_t table_mu;
    struct hmap table; /* ino -> struct fz_inode */
    /* Opens (read side, from before their GETATTR to their count going up)
     * against UNLINK and RENAME-over (write side, from the check for an
     * open inode to the commit): a removal either sees the open and holds
     * the inode, or commits before the open asks the leader, which then
     * answers ENOENT (ESTALE to the kernel, which looks the name up again).
     * Taken before any fz_inode mu. */
    pthread_rwlock_t open_rw;
    uint32_t max_write;
    /* keep-alive thread */
    pthread_t ka_thread;
    pthread_mutex_t ka_mu;
    pthread_cond_t ka_cv;
    int ka_stop, ka_started;
};

/* The mount of a request (fuse_req_userdata). */
struct fz_mount *fz_of(fuse_req_t req);
/* errno of a cairn_err (positive, for fuse_reply_err). */
int fz_errno(int rc);
/* The same for an operation on an inode the kernel looked up: an inode
 * gone meanwhile (renamed over, unlinked elsewhere) is ESTALE, not ENOENT,
 * so the VFS walks the path again (LOOKUP_REVAL) and finds what the name
 * names now, as over NFS. */
int fz_ino_errno(int rc);

/* --- conn.c ---------------------------------------------------------------- */

int fz_pool_open(struct fz_mount *m);
void fz_pool_close(struct fz_mount *m);
/* Take a connection (locked) and put the request's credentials on it. */
struct fz_conn *fz_conn_get(struct fz_mount *m, fuse_req_t req);
/* Take a given connection (an inode's), with the request's credentials. */
void fz_conn_lock(struct fz_conn *cn, fuse_req_t req);
void fz_conn_put(struct fz_conn *cn);
/* The caller's credentials of a request (uid, gid, groups). */
void fz_req_cred(fuse_req_t req, struct meta_cred *out);
/* A header with the connection's (the caller's) credentials. */
void fz_hdr(const struct fz_conn *cn, struct meta_hdr *h);

/* The open inode ino with one more reference, created when absent (NULL:
 * out of memory). fz_inode_find: only if open (NULL otherwise). */
struct fz_inode *fz_inode_ref(struct fz_mount *m, uint64_t ino);
struct fz_inode *fz_inode_find(struct fz_mount *m, uint64_t ino);
/* Drop a reference; the last one frees the entry (df must be closed). */
void fz_inode_unref(struct fz_mount *m, struct fz_inode *fi);
/* Whether any inode is open in this mount. */
int fz_any_open(struct fz_mount *m);
/* Size including this mount's uncommitted writes: max(a->size, hint). */
void fz_size_merge(struct fz_mount *m, struct meta_attr *a);

/* Keep every pooled session alive (holds and idle connections). */
int fz_keepalive_start(struct fz_mount *m);
void fz_keepalive_stop(struct fz_mount *m);

/* --- ops_ns.c ---------------------------------------------------------------- */

void fz_attr_to_stat(const struct meta_attr *a, struct stat *st);
/* The SETATTR valid bits and fields of a FUSE setattr (to_set:
 * FUSE_SET_ATTR_*; *_NOW wins over the explicit time; CTIME alone is 0). */
uint32_t fz_setattr_fields(const struct stat *attr, int to_set, struct meta_attr *set);
/* SETATTR on cn (held, with the caller's credentials); a refused change
 * that only clears set-id bits after the caller's write (the kernel's
 * killpriv) is applied with the mount's credentials. */
int fz_setattr_cmd(struct fz_mount *m, struct fz_conn *cn, uint64_t ino, uint32_t valid,
                   const struct meta_attr *set, struct meta_attr *out);
/* The entry of a with the options' timeouts (a taken as it is). */
void fz_entry_param(const struct fz_mount *m, const struct meta_attr *a,
                    struct fuse_entry_param *e);
/* Reply with an entry for a (timeouts from the options). */
void fz_reply_entry(fuse_req_t req, const struct meta_attr *a);
void fz_reply_attr(fuse_req_t req, const struct meta_attr *a);

void fz_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fz_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fz_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void fz_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fz_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                   struct fuse_file_info *fi);
void fz_op_readlink(fuse_req_t req, fuse_ino_t ino);
void fz_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void fz_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fz_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fz_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fz_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fz_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                  const char *newname, unsigned int flags);
void fz_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void fz_op_statfs(fuse_req_t req, fuse_ino_t ino);
void fz_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                    size_t size, int flags);
void fz_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fz_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fz_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void fz_op_access(fuse_req_t req, fuse_ino_t ino, int mask);

/* --- ops_file.c ------------------------------------------------------------- */

/* If this mount has inode ino open: send cmd (a whole UNLINK or RENAME that
 * may drop ino's last name) in one TXN after an INODE_HOLD of ino, through
 * the session of the inode's connection (the last close releases it), and
 * return 1 with the TXN's status in *rc. 0: not open here, nothing sent. */
int fz_send_with_hold(struct fz_mount *m, fuse_req_t req, uint64_t ino, const struct cairn_buf *cmd,
                      int *rc);
/* Commit, truncate through SETATTR and reopen an open inode's datafile. */
int fz_truncate_open(struct fz_mount *m, fuse_req_t req, struct fz_inode *fi, uint32_t valid,
                     const struct meta_attr *set, struct meta_attr *out);

void fz_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fz_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                  struct fuse_file_info *fi);
void fz_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fz_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                 struct fuse_file_info *fi);
void fz_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fz_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fz_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fz_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fz_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi);
void fz_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi);
void fz_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fz_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* --- ops_lock.c ------------------------------------------------------------- */

/* The lock service's [start, end) of an fcntl range (l_len 0: to EOF =
 * UINT64_MAX; l_whence is SEEK_SET from FUSE). */
void fz_lock_range(const struct flock *lk, uint64_t *start, uint64_t *end);
/* The first holder in a LOCK_LIST reply (status first) of the POSIX lock
 * of ino that conflicts with `want` (META_LOCK_*) on [start, end) for an
 * owner other than `owner`: 0 with *out filled as F_GETLK reports it (pid
 * 0) and that holder's owner id in *holder (may be NULL),
 * CAIRN_ENOENT if none (or the reply's lock is another inode's), or a
 * decoder error. */
int fz_lock_conflict(const uint8_t *p, size_t len, uint64_t ino, uint64_t owner, uint8_t want,
                     uint64_t start, uint64_t end, struct flock *out, uint64_t *holder);

void fz_op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock);
void fz_op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
                 int sleep);
void fz_op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);
/* Drop every POSIX lock of fi->lock_owner on ino (flush) / the flock of
 * the open file (release). Best effort: errors are logged. */
void fz_locks_drop_posix(struct fz_mount *m, fuse_req_t req, uint64_t ino, uint64_t owner);
void fz_locks_drop_flock(struct fz_mount *m, fuse_req_t req, uint64_t ino, uint64_t owner);

#endif
