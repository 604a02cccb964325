/*
 * cairn.h: libcairn, the public client API of cairn (DESIGN.md §7).
 *
 * A program connects to a cluster (the addresses of its metadata servers and
 * the cluster secret, or a cluster file written by `cairn cluster up`), then
 * works on paths and open files with calls shaped like their POSIX namesakes:
 * cairn_open / cairn_read / cairn_write / cairn_close, cairn_stat,
 * cairn_mkdir, cairn_rename, ... Metadata goes to the metadata leader (found
 * by following NOT_LEADER hints, mutations retried with the same session
 * sequence number, so a retry never applies twice); file bytes go straight to
 * the chunk servers (reads from one replica with fail-over, writes down the
 * replica pipeline, client/file.h).
 *
 * Paths. Every path is resolved in the cluster's namespace from its root:
 * "a/b" and "/a/b" name the same file (there is no working directory).
 * Resolution is done here, one component at a time (each a linearizable
 * LOOKUP on the leader): empty components and "." are skipped, ".." goes to
 * the parent directory (the root's parent is the root), symbolic links in
 * the middle of a path are always followed and the last component's link is
 * followed by the calls that follow links in POSIX (stat, open, chmod, ...).
 * More than CAIRN_SYMLINK_FOLLOW_MAX (40) links in one resolution is -ELOOP;
 * a path longer than CAIRN_PATH_MAX (4096) bytes, a component longer than
 * CAIRN_NAME_MAX (255) bytes or more than CAIRN_PATH_DEPTH_MAX components is
 * -ENAMETOOLONG; a component that is not a directory where one is needed is
 * -ENOTDIR; a trailing '/' requires a directory.
 *
 * Credentials. Every request carries a uid, gid and supplementary groups;
 * the metadata servers check POSIX permissions against them (root, uid 0,
 * passes every check). By default they are the calling process's (getuid,
 * getgid, getgroups at connect time); cairn_set_cred changes them.
 * Opening a file for reading checks read permission here, on the attributes
 * just fetched from the leader; write permission is checked by the leader.
 *
 * Consistency. Namespace operations are linearizable. File data is
 * close-to-open (as NFS): after cairn_fsync or cairn_close returns 0, every
 * later cairn_open of the file, by any client, reads the new bytes. Writes
 * are sent behind the caller: an error found later is returned by the next
 * cairn_write, cairn_fsync or cairn_close of that handle.
 *
 * Errors. Every call returns 0 (or a count) on success and a negative errno
 * value on failure: -ENOENT, -EACCES, -EEXIST, -ENOTDIR, -EISDIR,
 * -ENOTEMPTY, -ELOOP, -ENAMETOOLONG, -EINVAL, -EBADF (a handle not open for
 * that), -EFBIG, -ENOSPC (no chunk server can take a chunk), -EIO (no replica
 * could serve a read, or a write failed on every attempt), -ETIMEDOUT (no
 * metadata leader answered within the operation timeout), -ECONNREFUSED,
 * -EACCES also for a refused cluster secret. strerror(-rc) gives the message.
 *
 * Threads. A struct cairn may be shared by threads: every call takes the
 * connection's lock, so calls are serialized (one runs at a time). For
 * parallel I/O open one connection per thread. A struct cairn_file or
 * struct cairn_dir belongs to the connection it was opened on and must be
 * closed before cairn_disconnect. No call may be made from a signal handler.
 *
 * Memory. The library owns struct cairn, cairn_file and cairn_dir; the
 * caller owns every buffer it passes, and no pointer to them is kept after
 * a call returns. cairn_close and cairn_closedir free their handle whatever
 * they return; cairn_disconnect frees the connection.
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cairn;
struct cairn_file;
struct cairn_dir;

/* Supplementary groups a credential carries (CAIRN_GROUPS_MAX). */
#define CAIRN_CRED_GROUPS_MAX 32

/* --- connecting --------------------------------------------------------------- */

/* Defaults of zero fields of struct cairn_config. */
#define CAIRN_OP_TIMEOUT_MS_DEFAULT 30000u

struct cairn_config {
    /* Either meta_addrs + secret_path, or cluster_file; with none of them the
     * default cluster file is used (cairn_cluster_file_default). */
    const char *const *meta_addrs; /* "host:port" of metadata servers (1..16) */
    size_t n_meta_addrs;
    const char *secret_path; /* cluster secret file, mode 0600 */
    const char *cluster_file;
    const char *name;       /* client name in the servers' logs; NULL: "libcairn" */
    uint32_t op_timeout_ms; /* one metadata operation, all retries; 0 = default */
    int mode_mask;          /* mask of created files' modes (as umask): 0 = the
                               process umask at connect, -1 = none, else the bits */
};

/* Connect: read the cluster file or secret, then make one metadata query
 * (the root's attributes), so an unreachable cluster is reported here:
 * -ETIMEDOUT, -ECONNREFUSED, -EACCES (secret refused or unreadable), -ENOENT
 * (no cluster file), -EINVAL (a malformed cluster file or address). */
int cairn_connect(const struct cairn_config *cfg, struct cairn **out);
/* Close every connection and free the client. Every file and directory
 * handle must be closed first. */
void cairn_disconnect(struct cairn *c);

/* The cluster file used when none is named: $CAIRN_CLUSTER if set, else
 * $HOME/.cairn/cluster. -ENAMETOOLONG if it does not fit in len bytes. */
int cairn_cluster_file_default(char *out, size_t len);

/* What a cluster file says (docs: README "Running a real cluster"). */
#define CAIRN_CLUSTER_ADDRS_MAX 16
#define CAIRN_CLUSTER_ADDR_MAX 64
struct cairn_cluster_info {
    size_t n_meta;
    char meta[CAIRN_CLUSTER_ADDRS_MAX][CAIRN_CLUSTER_ADDR_MAX + 1];
    char secret[4096];
};
/* Parse a cluster file (`key = value` lines: `meta = a:p,b:p,...`, `secret =
 * PATH`; other keys are kept for `cairn cluster`). A relative secret path is
 * taken relative to the file's directory. -ENOENT, -EINVAL (with the line
 * number in *line when line is not NULL). */
int cairn_cluster_file_read(const char *path, struct cairn_cluster_info *out, int *line);

struct cairn_cred {
    uint32_t uid;
    uint32_t gid;
    uint32_t n_groups; /* <= CAIRN_CRED_GROUPS_MAX */
    uint32_t groups[CAIRN_CRED_GROUPS_MAX];
};
/* Credentials of every later call. -EINVAL for too many groups. */
int cairn_set_cred(struct cairn *c, const struct cairn_cred *cred);
void cairn_get_cred(struct cairn *c, struct cairn_cred *out);

/* --- attributes ------------------------------------------------------------------ */

struct cairn_stat {
    uint64_t ino;
    uint32_t mode; /* S_IFREG / S_IFDIR / S_IFLNK | 07777 */
    uint32_t nlink;
    uint32_t uid;
    uint32_t gid;
    uint64_t size;
    struct timespec atime, mtime, ctime;
    uint64_t version; /* bumped by every change of the inode */
    uint32_t goal;    /* replication goal (copies of each chunk) */
};
/* The struct stat a POSIX caller expects (st_dev 0, st_blksize 64 KiB,
 * st_blocks from the size). */
void cairn_stat_to_posix(const struct cairn_stat *in, struct stat *out);

/* stat follows a final symbolic link, lstat does not. */
int cairn_stat(struct cairn *c, const char *path, struct cairn_stat *out);
int cairn_lstat(struct cairn *c, const char *path, struct cairn_stat *out);

/* --- files -------------------------------------------------------------------------- */

/* Open (and with O_CREAT create) a regular file. flags as open(2):
 * O_RDONLY / O_WRONLY / O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND,
 * O_NOFOLLOW (-ELOOP on a final link), O_DIRECTORY (-ENOTDIR: only regular
 * files open here); others are ignored. mode: permission bits of a created
 * file (masked by cairn_config.mode_mask). A directory is -EISDIR (use
 * cairn_opendir). A final symbolic link is followed, also when creating
 * through a dangling one (except with O_EXCL: -EEXIST). */
int cairn_open(struct cairn *c, const char *path, int flags, uint32_t mode,
               struct cairn_file **out);
/* Flush and commit what was written (cairn_fsync), then free the handle
 * (always freed). Returns the fsync's result. */
int cairn_close(struct cairn_file *f);

/* read/write at the handle's position (O_APPEND: writes at the end) and
 * advance it; pread/pwrite at off, position unchanged. Return the count
 * (reads: short only at the end of the file, 0 past it) or a negative errno.
 * At most 2^31 - 1 bytes per call. */
ssize_t cairn_read(struct cairn_file *f, void *buf, size_t n);
ssize_t cairn_write(struct cairn_file *f, const void *buf, size_t n);
ssize_t cairn_pread(struct cairn_file *f, void *buf, size_t n, uint64_t off);
ssize_t cairn_pwrite(struct cairn_file *f, const void *buf, size_t n, uint64_t off);
/* SEEK_SET / SEEK_CUR / SEEK_END; returns the new position. */
int64_t cairn_lseek(struct cairn_file *f, int64_t off, int whence);
/* Make everything written durable and visible to later opens. */
int cairn_fsync(struct cairn_file *f);
/* Attributes as this handle sees them (its own writes included). */
int cairn_fstat(struct cairn_file *f, struct cairn_stat *out);
/* Commit what was written, then set the size (zeros past the old end). */
int cairn_ftruncate(struct cairn_file *f, uint64_t size);

/* --- directories ---------------------------------------------------------------- */

struct cairn_dirent {
    uint64_t ino;
    uint32_t type; /* S_IFREG / S_IFDIR / S_IFLNK */
    char name[256];
};
/* Open a directory for listing (follows a final link). */
int cairn_opendir(struct cairn *c, const char *path, struct cairn_dir **out);
/* The next entry ("." and ".." first): 1 and *out filled, 0 at the end, or
 * a negative errno. Entries are fetched from the leader in pages; an entry
 * added or removed during the listing may or may not be returned, every
 * other entry is returned exactly once (as readdir(3)). */
int cairn_readdir(struct cairn_dir *d, struct cairn_dirent *out);
void cairn_closedir(struct cairn_dir *d);

/* --- namespace operations (as their POSIX namesakes) ------------------------------ */

int cairn_mkdir(struct cairn *c, const char *path, uint32_t mode);
int cairn_rmdir(struct cairn *c, const char *path);
int cairn_unlink(struct cairn *c, const char *path);
/* Replaces an existing target as rename(2); CAIRN_RENAME_NOREPLACE: -EEXIST
 * instead (as renameat2's RENAME_NOREPLACE). */
#define CAIRN_RENAME_NOREPLACE 1u
int cairn_rename(struct cairn *c, const char *from, const char *to);
int cairn_rename2(struct cairn *c, const char *from, const char *to, unsigned flags);
/* A hard link newpath to the file at oldpath (a final link is not followed). */
int cairn_link(struct cairn *c, const char *oldpath, const char *newpath);
int cairn_symlink(struct cairn *c, const char *target, const char *linkpath);
/* Copies at most size bytes of the target (no NUL added); returns its full
 * length, which may exceed size (then the copy is cut). */
ssize_t cairn_readlink(struct cairn *c, const char *path, char *buf, size_t size);
int cairn_chmod(struct cairn *c, const char *path, uint32_t mode);
/* uid or gid (uint32_t)-1 leaves it unchanged. lchown does not follow a
 * final link. */
int cairn_chown(struct cairn *c, const char *path, uint32_t uid, uint32_t gid);
int cairn_lchown(struct cairn *c, const char *path, uint32_t uid, uint32_t gid);
int cairn_truncate(struct cairn *c, const char *path, uint64_t size);
/* ts[0] atime, ts[1] mtime; tv_nsec UTIME_NOW or UTIME_OMIT as utimensat(2);
 * ts NULL sets both to now. */
int cairn_utimens(struct cairn *c, const char *path, const struct timespec ts[2]);

/* Extended attributes (follow a final link). getxattr and listxattr with
 * size 0 return the length needed; with a smaller buffer -ERANGE. The list
 * is NUL-terminated names back to back. setxattr flags: XATTR_CREATE,
 * XATTR_REPLACE (sys/xattr.h) or 0. */
ssize_t cairn_getxattr(struct cairn *c, const char *path, const char *name, void *value,
                       size_t size);
int cairn_setxattr(struct cairn *c, const char *path, const char *name, const void *value,
                   size_t size, int flags);
ssize_t cairn_listxattr(struct cairn *c, const char *path, char *list, size_t size);
int cairn_removexattr(struct cairn *c, const char *path, const char *name);

/* --- cluster-wide ----------------------------------------------------------------- */

struct cairn_statfs {
    uint64_t files;          /* inodes of every type */
    uint64_t used_bytes;     /* sum of file sizes (one copy) */
    uint64_t capacity_bytes; /* sum over chunk servers that are not down */
    uint64_t free_bytes;
    uint32_t nodes;    /* chunk servers registered */
    uint32_t nodes_up; /* of which up */
};
int cairn_statfs(struct cairn *c, struct cairn_statfs *out);

/* Replication goal of a file or directory (1..9; new inodes inherit their
 * directory's). Files already written are brought to the new goal by the
 * metadata leader in the background. */
int cairn_setgoal(struct cairn *c, const char *path, uint32_t goal);
int cairn_getgoal(struct cairn *c, const char *path, uint32_t *goal);

/* --- inspection (status and fsck tools) ------------------------------------------ */

/* A metadata server as it answers a status request. */
struct cairn_member {
    char addr[CAIRN_CLUSTER_ADDR_MAX + 1];
    int reachable; /* 0: no answer; the fields below are zero */
    uint64_t id;
    int role; /* 0 follower, 1 pre-candidate, 2 candidate, 3 leader */
    int voter;
    uint64_t term;
    uint64_t leader; /* id of the leader it follows, 0 if none */
    uint64_t commit, applied;
};
/* Ask every metadata server known (the configured ones and the members they
 * report): at most max entries; returns how many, or a negative errno. */
int cairn_members(struct cairn *c, struct cairn_member *out, size_t max);

struct cairn_node {
    uint32_t id;
    int state; /* 1 up, 2 suspect, 3 down, 4 draining */
    uint64_t capacity, used;
    char addr[256];
    char label[65];
};
/* Chunk servers in the registry, in id order: at most max; returns the
 * total registered (which may be more than max), or a negative errno. */
int cairn_nodes(struct cairn *c, struct cairn_node *out, size_t max);

#define CAIRN_CHUNK_REPLICAS_MAX 9
struct cairn_chunk {
    uint64_t id; /* 0: a hole */
    uint64_t version;
    uint32_t length;
    uint32_t n_replicas;
    uint32_t replicas[CAIRN_CHUNK_REPLICAS_MAX]; /* chunk server ids */
};
/* The chunk map of the regular file at path from chunk index `first`: at
 * most max entries; returns how many (0 past the end of the map). */
int cairn_file_chunks(struct cairn *c, const char *path, uint32_t first, struct cairn_chunk *out,
                      size_t max);

#ifdef __cplusplus
}
#endif

#endif
#include "cairn_lock.h"
