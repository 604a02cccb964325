/* fs_chunk.c: the real file seam of the chunk store: raftio's POSIX seam plus
 * statvfs(3) and an in-kernel file copy (FICLONE reflink, else
 * copy_file_range(2) over the data extents). */
#include <errno.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "chunk/chunk.h"

static int px_statvfs(struct chunk_fs *cfs, const char *dir, struct chunk_space *out)
{
    struct statvfs v;
    if (statvfs(dir, &v) != 0)
        return cairn_err_from_errno(errno);
    out->total_bytes = (uint64_t)v.f_blocks * v.f_frsize;
    out->free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
    return 0;
}

/* copy_file_range of [off, end) at the same offsets. ENOTSUP for the errors
 * that mean "this file system pair cannot", so the caller falls back to a copy
 * through user space. */
static int copy_extent(int in, int out, off_t off, off_t end)
{
    off_t io = off, oo = off;
    while (io < end) {
        ssize_t r = copy_file_range(in, &io, out, &oo, (size_t)(end - io), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == ENOSYS || errno == EXDEV || errno == EOPNOTSUPP || errno == EINVAL))
            return CAIRN_ENOTSUP;
        if (r < 0)
            return cairn_err_from_errno(errno);
        if (r == 0)
            break; /* the source is shorter than its size said: the tail stays a hole
                    */
    }
    return 0;
}

/* A reflink shares the extents (copy on write: no bytes move). Failing that,
 * only the data extents (SEEK_DATA/SEEK_HOLE) are copied, so holes stay holes,
 * and the size is set last. */
static int px_copy_file(struct chunk_fs *cfs, int in, int out, uint64_t len)
{
    if (ioctl(out, FICLONE, in) == 0)
        return 0;
    off_t pos = 0, end = (off_t)len;
    while (pos < end) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break;
        if (data < 0)
            return errno == EINVAL ? CAIRN_ENOTSUP : cairn_err_from_errno(errno);
        if (data >= end)
            break;
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            return cairn_err_from_errno(errno);
        if (hole > end)
            hole = end;
        int rc = copy_extent(in, out, data, hole);
        if (rc)
            return rc;
        pos = hole;
    }
    return ftruncate(out, end) == 0 ? 0 : cairn_err_from_errno(errno);
}

static struct chunk_fs posix_cfs = {
    .fs = NULL, /* raftio_fs_posix(), set once: not a constant expression here */
    .statvfs = px_statvfs,
    .copy_file = px_copy_file,
};
static pthread_once_t posix_once = PTHREAD_ONCE_INIT;

static void posix_init(void) { posix_cfs.fs = raftio_fs_posix(); }

struct chunk_fs *chunk_fs_posix(void)
{
    pthread_once(&posix_once, posix_init);
    return &posix_cfs;
}
