/*
 * fs.h: the file seam of raftio. Every file operation of the write-ahead
 * log, the hard-state file, the snapshots and the identity file goes through
 * one small vtable, so a test can put a fault-injecting file system under
 * them (faultfs.h, in the manner of SQLite's crash-simulating VFS) while the
 * daemon uses the real POSIX one (raftio_fs_posix()).
 *
 * Handles are small non-negative ints chosen by the implementation (the POSIX
 * one returns real file descriptors). Paths are plain C strings; raftio
 * builds them with rio_path().
 *
 * Memory: nothing here keeps a pointer to the caller's buffers. rio_list()
 * and rio_read_file() return malloc'd results that the caller frees
 * (rio_names_free(), free()).
 *
 * Threads: the POSIX implementation is stateless and may be called from any
 * thread; a handle is used by one thread at a time.
 *
 * Errors: every call returns 0 or a negative cairn_err: POSIX failures map
 * to the code of their errno (CAIRN_ENOENT, CAIRN_EIO, CAIRN_ENOSPC, ...).
 * After a failed pwrite the written range holds unknown bytes; after a failed
 * fdatasync/fsync nothing written since the last successful one may be
 * assumed durable (Linux may have dropped the dirty pages: PostgreSQL's
 * "fsyncgate"), so raftio treats both as fatal for the object concerned.
 */
#ifndef CAIRN_RAFTIO_FS_H
#define CAIRN_RAFTIO_FS_H

#include <stddef.h>
#include <stdint.h>

enum raftio_open_flags {
    RAFTIO_OPEN_CREATE = 1, /* create the file if missing */
    RAFTIO_OPEN_EXCL = 2,   /* with CREATE: CAIRN_EEXIST if it exists */
};

/* A directory listing: n names (no "." or ".."), each malloc'd. */
struct raftio_names {
    char **v;
    size_t n;
};

struct raftio_fs;

struct raftio_fs_ops {
    /* Opens path read-write; *fd receives the handle. */
    int (*open)(struct raftio_fs *fs, const char *path, int flags, int *fd);
    int (*close)(struct raftio_fs *fs, int fd);
    /* Reads up to n bytes at off; *got < n only at the end of the file. */
    int (*pread)(struct raftio_fs *fs, int fd, void *p, size_t n, uint64_t off, size_t *got);
    /* Writes all n bytes at off, or fails. */
    int (*pwrite)(struct raftio_fs *fs, int fd, const void *p, size_t n, uint64_t off);
    /* Makes the file's data and size durable (fdatasync(2)). */
    int (*fdatasync)(struct raftio_fs *fs, int fd);
    /* Makes the file's data and all its metadata durable (fsync(2)). */
    int (*fsync)(struct raftio_fs *fs, int fd);
    int (*ftruncate)(struct raftio_fs *fs, int fd, uint64_t size);
    int (*fsize)(struct raftio_fs *fs, int fd, uint64_t *size);
    /* Atomically replaces `to` (if it exists) by `from`; both in one directory. */
    int (*rename)(struct raftio_fs *fs, const char *from, const char *to);
    int (*unlink)(struct raftio_fs *fs, const char *path);
    /* CAIRN_EEXIST if it exists. */
    int (*mkdir)(struct raftio_fs *fs, const char *path);
    /* Makes the directory's entries (creates, renames, unlinks) durable. */
    int (*sync_dir)(struct raftio_fs *fs, const char *path);
    int (*list)(struct raftio_fs *fs, const char *dir, struct raftio_names *out);
};

struct raftio_fs {
    const struct raftio_fs_ops *ops;
};

/* The real file system (a static object; never freed). */
struct raftio_fs *raftio_fs_posix(void);

/* Thin wrappers, so call sites read as plain calls. */
static inline int rio_open(struct raftio_fs *fs, const char *path, int flags, int *fd)
{
    return fs->ops->open(fs, path, flags, fd);
}
static inline int rio_close(struct raftio_fs *fs, int fd) { return fs->ops->close(fs, fd); }
static inline int rio_pread(struct raftio_fs *fs, int fd, void *p, size_t n, uint64_t off,
                            size_t *got)
{
    return fs->ops->pread(fs, fd, p, n, off, got);
}
static inline int rio_pwrite(struct raftio_fs *fs, int fd, const void *p, size_t n, uint64_t off)
{
    return fs->ops->pwrite(fs, fd, p, n, off);
}
static inline int rio_fdatasync(struct raftio_fs *fs, int fd) { return fs->ops->fdatasync(fs, fd); }
static inline int rio_fsync(struct raftio_fs *fs, int fd) { return fs->ops->fsync(fs, fd); }
static inline int rio_ftruncate(struct raftio_fs *fs, int fd, uint64_t size)
{
    return fs->ops->ftruncate(fs, fd, size);
}
static inline int rio_fsize(struct raftio_fs *fs, int fd, uint64_t *size)
{
    return fs->ops->fsize(fs, fd, size);
}
static inline int rio_rename(struct raftio_fs *fs, const char *from, const char *to)
{
    return fs->ops->rename(fs, from, to);
}
static inline int rio_unlink(struct raftio_fs *fs, const char *path)
{
    return fs->ops->unlink(fs, path);
}
static inline int rio_mkdir(struct raftio_fs *fs, const char *path)
{
    return fs->ops->mkdir(fs, path);
}
static inline int rio_sync_dir(struct raftio_fs *fs, const char *path)
{
    return fs->ops->sync_dir(fs, path);
}
static inline int rio_list(struct raftio_fs *fs, const char *dir, struct raftio_names *out)
{
    return fs->ops->list(fs, dir, out);
}

void rio_names_free(struct raftio_names *names);

/* out = dir + "/" + name; CAIRN_ENAMETOOLONG if it does not fit in cap. */
int rio_path(char *out, size_t cap, const char *dir, const char *name);

/* Reads a whole file into a malloc'd buffer. CAIRN_ENOENT if missing,
 * CAIRN_TOOBIG if larger than max bytes. */
int rio_read_file(struct raftio_fs *fs, const char *path, uint64_t max, uint8_t **data,
                  size_t *len);

/* One piece of a file written by rio_write_atomic. */
struct rio_part {
    const void *p;
    size_t len;
};

/* Replaces dir/name by the concatenated parts atomically and durably: writes
 * dir/name.tmp, fsyncs it, renames it over dir/name, fsyncs dir. A crash at
 * any point leaves either the old or the new file (and maybe a stale .tmp). */
int rio_write_atomic(struct raftio_fs *fs, const char *dir, const char *name,
                     const struct rio_part *parts, size_t n_parts);

/* 1 if name ends with ".tmp" (a leftover of an interrupted rio_write_atomic). */
int rio_is_tmp_name(const char *name);

#endif
