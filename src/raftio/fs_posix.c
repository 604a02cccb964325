/* fs_posix.c: the real file seam (POSIX calls) and helpers built on the seam. */
#include "raftio/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/limits.h"

static int err_now(void) { return cairn_err_from_errno(errno); }

static int px_open(struct raftio_fs *fs, const char *path, int flags, int *fd)
{
    int oflags = O_RDWR | O_CLOEXEC;
    if (flags & RAFTIO_OPEN_CREATE)
        oflags |= O_CREAT;
    if (flags & RAFTIO_OPEN_EXCL)
        oflags |= O_EXCL;
    int f = open(path, oflags, 0644);
    if (f < 0)
        return err_now();
    *fd = f;
    return 0;
}

static int px_close(struct raftio_fs *fs, int fd)
{
    /* Linux releases the descriptor even when close fails; never retry. */
    return close(fd) == 0 ? 0 : err_now();
}

static int px_pread(struct raftio_fs *fs, int fd, void *p, size_t n, uint64_t off, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (uint8_t *)p + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return err_now();
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

static int px_pwrite(struct raftio_fs *fs, int fd, const void *p, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pwrite(fd, (const uint8_t *)p + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return err_now();
        done += (size_t)r;
    }
    return 0;
}

static int px_fdatasync(struct raftio_fs *fs, int fd) { return fdatasync(fd) == 0 ? 0 : err_now(); }
static int px_fsync(struct raftio_fs *fs, int fd) { return fsync(fd) == 0 ? 0 : err_now(); }

static int px_ftruncate(struct raftio_fs *fs, int fd, uint64_t size)
{
    return ftruncate(fd, (off_t)size) == 0 ? 0 : err_now();
}

static int px_fsize(struct raftio_fs *fs, int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return err_now();
    *size = (uint64_t)st.st_size;
    return 0;
}

static int px_rename(struct raftio_fs *fs, const char *from, const char *to)
{
    return rename(from, to) == 0 ? 0 : err_now();
}

static int px_unlink(struct raftio_fs *fs, const char *path)
{
    return unlink(path) == 0 ? 0 : err_now();
}

static int px_mkdir(struct raftio_fs *fs, const char *path)
{
    return mkdir(path, 0755) == 0 ? 0 : err_now();
}

static int px_sync_dir(struct raftio_fs *fs, const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_now();
    int rc = fsync(fd) == 0 ? 0 : err_now();
    close(fd);
    return rc;
}

/* Appends a copy of name to out; grows the array by doubling. */
static int names_push(struct raftio_names *out, size_t *cap, const char *name)
{
    if (out->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        char **v = realloc(out->v, ncap * sizeof *v);
        if (!v)
            return CAIRN_ENOMEM;
        out->v = v;
        *cap = ncap;
    }
    char *s = strdup(name);
    if (!s)
        return CAIRN_ENOMEM;
    out->v[out->n++] = s;
    return 0;
}

static int px_list(struct raftio_fs *fs, const char *dir, struct raftio_names *out)
{
    out->v = NULL;
    out->n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return err_now();
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            rc = errno ? err_now() : 0;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = names_push(out, &cap, de->d_name);
        if (rc)
            break;
    }
    closedir(d);
    if (rc)
        rio_names_free(out);
    return rc;
}

static const struct raftio_fs_ops posix_ops = {
    .open = px_open,
    .close = px_close,
    .pread = px_pread,
    .pwrite = px_pwrite,
    .fdatasync = px_fdatasync,
    .fsync = px_fsync,
    .ftruncate = px_ftruncate,
    .fsize = px_fsize,
    .rename = px_rename,
    .unlink = px_unlink,
    .mkdir = px_mkdir,
    .sync_dir = px_sync_dir,
    .list = px_list,
};

static struct raftio_fs posix_fs = {.ops = &posix_ops};

struct raftio_fs *raftio_fs_posix(void) { return &posix_fs; }

void rio_names_free(struct raftio_names *names)
{
    for (size_t i = 0; i < names->n; i++)
        free(names->v[i]);
    free(names->v);
    names->v = NULL;
    names->n = 0;
}

int rio_path(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return CAIRN_ENAMETOOLONG;
    return 0;
}

int rio_is_tmp_name(const char *name)
{
    size_t n = strlen(name);
    return n >= 4 && strcmp(name + n - 4, ".tmp") == 0;
}

int rio_read_file(struct raftio_fs *fs, const char *path, uint64_t max, uint8_t **data, size_t *len)
{
    int fd;
    int rc = rio_open(fs, path, 0, &fd);
    if (rc)
        return rc;
    uint64_t size;
    rc = rio_fsize(fs, fd, &size);
    if (rc == 0 && size > max)
        rc = CAIRN_TOOBIG;
    uint8_t *buf = NULL;
    if (rc == 0) {
        buf = malloc(size ? size : 1);
        if (!buf)
            rc = CAIRN_ENOMEM;
    }
    size_t got = 0;
    if (rc == 0)
        rc = rio_pread(fs, fd, buf, size, 0, &got);
    rio_close(fs, fd);
    if (rc) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = got;
    return 0;
}

/* The temporary file is fsynced before the rename so the new name never
 * points at data that is not on disk; the directory is fsynced after it so
 * the new name itself survives a crash. */
int rio_write_atomic(struct raftio_fs *fs, const char *dir, const char *name,
                     const struct rio_part *parts, size_t n_parts)
{
    char final[CAIRN_PATH_MAX], tmp[CAIRN_PATH_MAX];
    int rc = rio_path(final, sizeof final, dir, name);
    if (rc)
        return rc;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", final);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return CAIRN_ENAMETOOLONG;
    rc = rio_unlink(fs, tmp);
    if (rc && rc != CAIRN_ENOENT)
        return rc;
    int fd;
    rc = rio_open(fs, tmp, RAFTIO_OPEN_CREATE | RAFTIO_OPEN_EXCL, &fd);
    if (rc)
        return rc;
    uint64_t off = 0;
    for (size_t i = 0; rc == 0 && i < n_parts; i++) {
        rc = rio_pwrite(fs, fd, parts[i].p, parts[i].len, off);
        off += parts[i].len;
    }
    if (rc == 0)
        rc = rio_fsync(fs, fd);
    int crc = rio_close(fs, fd);
    if (rc == 0)
        rc = crc;
    if (rc == 0)
        rc = rio_rename(fs, tmp, final);
    if (rc == 0)
        rc = rio_sync_dir(fs, dir);
    return rc;
}
