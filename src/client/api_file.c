/*
 * api_file.c: open files of libcairn (include/cairn.h): open/create with
 * open(2) flags resolved here, then the bytes through the data path
 * (client/file.h: writes down the replica pipeline, reads from one replica
 * with fail-over). A struct cairn_file is a datafile plus a position and the
 * flags it was opened with. The dataclient is made on the first open and
 * shares the connection's metaclient (and so its loop and lock).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "client/api_int.h"
#include "client/file.h"

/* The largest count one read or write moves, as Linux's MAX_RW_COUNT is
 * below 2^31: the result must fit a ssize_t on every platform. */
#define API_RW_MAX ((size_t)INT32_MAX)

struct cairn_file {
    struct cairn *c;
    uint64_t ino;
    int flags; /* O_ACCMODE bits and O_APPEND */
    uint64_t pos;
    struct datafile *df;
};

static void data_close(struct cairn *c)
{
    dataclient_close(c->dc);
    c->dc = NULL;
    c->data_close = NULL;
}

static int data_client(struct cairn *c)
{
    if (c->dc)
        return 0;
    struct dataclient_cfg cfg = {
        .mc = c->mc,
        .secret = &c->secret,
        .name = c->name,
        .uid = c->cred.uid,
        .gid = c->cred.gid,
    };
    int rc = dataclient_new(&cfg, &c->dc);
    if (rc == 0)
        c->data_close = data_close;
    return rc;
}

/* POSIX permission bits of a for the credentials (root passes). want: 4 r,
 * 2 w. The leader checks writes again (CHUNK_ALLOC, SETATTR). */
static int may_access(const struct meta_cred *cr, const struct meta_attr *a, uint32_t want)
{
    if (cr->uid == 0)
        return 0;
    uint32_t bits = a->mode & 7u;
    if (cr->uid == a->uid) {
        bits = (a->mode >> 6) & 7u;
    } else {
        int member = cr->gid == a->gid;
        for (uint32_t i = 0; i < cr->n_groups && !member; i++)
            member = cr->groups[i] == a->gid;
        if (member)
            bits = (a->mode >> 3) & 7u;
    }
    return (bits & want) == want ? 0 : CAIRN_EACCES;
}

/* Rounds of lookup-then-create an open makes while another client creates
 * and removes the same name in between. */
#define API_OPEN_RACES 8

/* The last component of w, created when absent and asked for (*created set
 * only when this call made it: CREATE is always exclusive, so an existing
 * file is never mistaken for a new one and skips no permission check). */
static int open_lookup(struct cairn *c, const struct api_where *w, int flags, uint32_t mode,
                       struct meta_attr *a, int *created)
{
    for (int round = 0; round < API_OPEN_RACES; round++) {
        int rc = api_lookup(c, w->parent, w->name, a);
        if (rc == 0)
            return (flags & O_CREAT) && (flags & O_EXCL) ? CAIRN_EEXIST : 0;
        if (rc != CAIRN_ENOENT || !(flags & O_CREAT))
            return rc;
        if (w->slash)
            return CAIRN_EISDIR;
        struct meta_hdr h;
        api_hdr(c, &h);
        buf_reset(&c->cmd);
        rc = meta_cmd_create(&c->cmd, &h, w->parent, w->name, mode & ~c->mode_mask & 07777u, 1);
        if (rc == 0)
            rc = api_mutate_attr(c, a);
        *created = rc == 0;
        if (rc != CAIRN_EEXIST || (flags & O_EXCL))
            return rc;
    }
    return CAIRN_EAGAIN;
}

/* Resolve (and create) the regular file of an open: a final link is
 * followed, also into a dangling target when creating. */
static int open_resolve(struct cairn *c, const char *path, int flags, uint32_t mode,
                        struct meta_attr *a, int *created)
{
    uint32_t links = 0;
    struct api_where w;
    int rc = api_walk_parent(c, META_ROOT_INO, path, &links, &w);
    while (rc == 0) {
        if (!w.name[0])
            return CAIRN_EISDIR;
        rc = open_lookup(c, &w, flags, mode, a, created);
        if (rc || !S_ISLNK(a->mode))
            break;
        if (flags & O_NOFOLLOW)
            return CAIRN_ELOOP;
        if (++links > CAIRN_SYMLINK_FOLLOW_MAX)
            return CAIRN_ELOOP;
        char target[CAIRN_SYMLINK_MAX + 1];
        size_t tlen;
        rc = api_readlink_ino(c, a->ino, target, &tlen);
        uint64_t from = w.parent;
        if (rc == 0)
            rc = api_walk_parent(c, from, target, &links, &w);
    }
    if (rc)
        return rc;
    if (S_ISDIR(a->mode))
        return CAIRN_EISDIR;
    if (w.slash || (flags & O_DIRECTORY))
        return CAIRN_ENOTDIR;
    return S_ISREG(a->mode) ? 0 : CAIRN_EINVAL;
}

static int set_size(struct cairn *c, uint64_t ino, uint64_t size)
{
    struct meta_hdr h;
    struct meta_attr set = {.size = size}, a;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    int rc = meta_cmd_setattr(&c->cmd, &h, ino, META_SET_SIZE, &set);
    return rc ? rc : api_mutate_attr(c, &a);
}

static int do_open(struct cairn *c, const char *path, int flags, uint32_t mode,
                   struct cairn_file *f)
{
    int acc = flags & O_ACCMODE;
    if (acc != O_RDONLY && acc != O_WRONLY && acc != O_RDWR)
        return CAIRN_EINVAL;
    struct meta_attr a;
    int created = 0;
    int rc = open_resolve(c, path, flags, mode, &a, &created);
    uint32_t want = (acc != O_WRONLY ? 4u : 0u) | (acc != O_RDONLY ? 2u : 0u);
    /* The creator may open what it just made, whatever its mode (POSIX). */
    if (rc == 0 && !created)
        rc = may_access(&c->cred, &a, want);
    if (rc == 0 && acc != O_RDONLY && (flags & O_TRUNC) && a.size > 0)
        rc = set_size(c, a.ino, 0);
    if (rc == 0)
        rc = data_client(c);
    if (rc)
        return rc;
    f->c = c;
    f->ino = a.ino;
    f->flags = flags & (O_ACCMODE | O_APPEND);
    unsigned dflags =
        (acc != O_WRONLY ? DATAFILE_READ : 0u) | (acc != O_RDONLY ? DATAFILE_WRITE : 0u);
    /* A file this open created: the CREATE reply's attributes are fresh (a
     * new empty file), and reading them again would fail the open with
     * ENOENT if another client unlinked the name in between. */
    if (created)
        return datafile_open_attr(c->dc, &a, dflags, &f->df);
    return datafile_open(c->dc, a.ino, dflags, &f->df);
}

int cairn_open(struct cairn *c, const char *path, int flags, uint32_t mode, struct cairn_file **out)
{
    struct cairn_file *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    pthread_mutex_lock(&c->mu);
    int rc = do_open(c, path, flags, mode, f);
    if (rc == 0)
        c->files_open++;
    pthread_mutex_unlock(&c->mu);
    if (rc) {
        free(f);
        return api_errno(rc);
    }
    *out = f;
    return 0;
}

int cairn_close(struct cairn_file *f)
{
    struct cairn *c = f->c;
    pthread_mutex_lock(&c->mu);
    int rc = datafile_close(f->df);
    c->files_open--;
    pthread_mutex_unlock(&c->mu);
    free(f);
    return api_errno(rc);
}

static int readable(const struct cairn_file *f) { return (f->flags & O_ACCMODE) != O_WRONLY; }
static int writable(const struct cairn_file *f) { return (f->flags & O_ACCMODE) != O_RDONLY; }

ssize_t cairn_pread(struct cairn_file *f, void *buf, size_t n, uint64_t off)
{
    if (!readable(f))
        return -EBADF;
    pthread_mutex_lock(&f->c->mu);
    int64_t rc = datafile_pread(f->df, buf, n > API_RW_MAX ? API_RW_MAX : n, off);
    pthread_mutex_unlock(&f->c->mu);
    return rc < 0 ? api_errno((int)rc) : (ssize_t)rc;
}

ssize_t cairn_pwrite(struct cairn_file *f, const void *buf, size_t n, uint64_t off)
{
    if (!writable(f))
        return -EBADF;
    pthread_mutex_lock(&f->c->mu);
    int64_t rc = datafile_pwrite(f->df, buf, n > API_RW_MAX ? API_RW_MAX : n, off);
    pthread_mutex_unlock(&f->c->mu);
    return rc < 0 ? api_errno((int)rc) : (ssize_t)rc;
}

ssize_t cairn_read(struct cairn_file *f, void *buf, size_t n)
{
    if (!readable(f))
        return -EBADF;
    pthread_mutex_lock(&f->c->mu);
    int64_t rc = datafile_pread(f->df, buf, n > API_RW_MAX ? API_RW_MAX : n, f->pos);
    if (rc > 0)
        f->pos += (uint64_t)rc;
    pthread_mutex_unlock(&f->c->mu);
    return rc < 0 ? api_errno((int)rc) : (ssize_t)rc;
}

ssize_t cairn_write(struct cairn_file *f, const void *buf, size_t n)
{
    if (!writable(f))
        return -EBADF;
    pthread_mutex_lock(&f->c->mu);
    if (f->flags & O_APPEND)
        f->pos = datafile_size(f->df);
    int64_t rc = datafile_pwrite(f->df, buf, n > API_RW_MAX ? API_RW_MAX : n, f->pos);
    if (rc > 0)
        f->pos += (uint64_t)rc;
    pthread_mutex_unlock(&f->c->mu);
    return rc < 0 ? api_errno((int)rc) : (ssize_t)rc;
}

int64_t cairn_lseek(struct cairn_file *f, int64_t off, int whence)
{
    pthread_mutex_lock(&f->c->mu);
    int64_t base = whence == SEEK_SET   ? 0
                   : whence == SEEK_CUR ? (int64_t)f->pos
                   : whence == SEEK_END ? (int64_t)datafile_size(f->df)
                                        : -1;
    int64_t rc = -EINVAL;
    if (base >= 0 && !(off > 0 && base > INT64_MAX - off) && base + off >= 0) {
        f->pos = (uint64_t)(base + off);
        rc = (int64_t)f->pos;
    }
    pthread_mutex_unlock(&f->c->mu);
    return rc;
}

int cairn_fsync(struct cairn_file *f)
{
    pthread_mutex_lock(&f->c->mu);
    int rc = datafile_fsync(f->df);
    pthread_mutex_unlock(&f->c->mu);
    return api_errno(rc);
}

int cairn_fstat(struct cairn_file *f, struct cairn_stat *out)
{
    struct meta_attr a;
    pthread_mutex_lock(&f->c->mu);
    datafile_attr(f->df, &a);
    a.size = datafile_size(f->df);
    pthread_mutex_unlock(&f->c->mu);
    api_attr_to_stat(&a, out);
    return 0;
}

/* Commit, set the size through the leader, then open the inode again: the
 * handle's cached size and chunk map predate the truncation. */
int cairn_ftruncate(struct cairn_file *f, uint64_t size)
{
    if (!writable(f))
        return -EINVAL;
    if (size > CAIRN_FILE_SIZE_MAX)
        return -EFBIG;
    struct cairn *c = f->c;
    pthread_mutex_lock(&c->mu);
    int rc = datafile_fsync(f->df);
    if (rc == 0)
        rc = set_size(c, f->ino, size);
    if (rc == 0) {
        unsigned dflags = (readable(f) ? DATAFILE_READ : 0u) | DATAFILE_WRITE;
        struct datafile *df;
        rc = datafile_open(c->dc, f->ino, dflags, &df);
        if (rc == 0) {
            datafile_close(f->df);
            f->df = df;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return api_errno(rc);
}

/* --- fencing (include/cairn_lock.h) ------------------------------------------------------ */

int cairn_file_set_fence(struct cairn_file *f, uint64_t token)
{
    pthread_mutex_lock(&f->c->mu);
    int rc = datafile_set_fence(f->df, token);
    pthread_mutex_unlock(&f->c->mu);
    return rc;
}

int cairn_file_error(struct cairn_file *f)
{
    pthread_mutex_lock(&f->c->mu);
    int rc = datafile_error(f->df);
    pthread_mutex_unlock(&f->c->mu);
    return rc;
}
