/*
 * fx.h: what the FUSE test cases (tests/fuse/test_*.c) share: the file
 * system under test, checks of system calls with errno names, and
 * operations run as another user.
 *
 * The file system under test is, for each case (each case runs in its own
 * process):
 *   - by default a real mount: a cluster of one `cairn meta` and two
 *     `cairn chunk` processes under test_tmpdir(), and `cairn mount -f
 *     --allow-other` on test_tmpdir()/mnt (tests/lib/mount_harness.h);
 *   - with CAIRN_FUSE_TEST_DIR=/some/dir set, a fresh directory under it
 *     instead (no cluster, no mount): the same cases run against a local
 *     file system (ext4, tmpfs), whose answers as root are the POSIX
 *     reference. `CAIRN_FUSE_TEST_DIR=/tmp build/tests/runner build/tests/fuse`
 *     checks the suite itself. Where cairn documents a departure
 *     (docs/fuse.md: mknod of FIFOs EPERM, RENAME_EXCHANGE EINVAL, files up
 *     to CAIRN_FILE_SIZE_MAX, at most CAIRN_GROUPS_MAX groups sent to the
 *     metadata leader), a case asks fx_mounted() and expects each answer.
 * Every case works in fx_dir(), a fresh directory of mode 0777 owned by
 * root inside it. Every case runs as root (the mount is made with
 * allow_other; test users are entered with setuid in forked children).
 *
 * Single-threaded. Paths returned by fx_p() live in a ring of static
 * buffers: valid for the next FX_PATHS calls.
 */
#ifndef CAIRN_TESTS_FUSE_FX_H
#define CAIRN_TESTS_FUSE_FX_H

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "test.h"

#define FX_PATHS 16

/* Start the file system under test and make the work directory. */
void fx_begin(void);
/* Stop it: CHECKs that the mount stopped cleanly (SIGTERM, exit 0, gone). */
void fx_end(void);
/* 1 on a real cairn mount, 0 on a local directory. */
int fx_mounted(void);
/* The work directory (absolute). */
const char *fx_dir(void);
/* The root of the file system under test (the mountpoint, or the local
 * directory's parent made for this case). */
const char *fx_root(void);
/* fx_dir() + "/" + printf(fmt, ...) in a ring buffer. */
const char *fx_p(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Stop the mount and start a new one on the same cluster (the cache of the
 * old one is gone); on a local directory: sync(). */
void fx_remount(void);

/* Small file helpers that CHECK success. */
void fx_write_file(const char *path, const void *data, size_t len, mode_t mode);
/* Whole content into buf (at most cap bytes); returns the length. */
size_t fx_read_file(const char *path, void *buf, size_t cap);
struct stat fx_lstat(const char *path);

/* errno's name ("ENOENT"), "0" for 0. */
const char *fx_errname(int err);

/* A call returning -1 and errno on failure must succeed. */
#define SYS(expr)                                                                              \
    do {                                                                                       \
        errno = 0;                                                                             \
        long long sys_rc_ = (long long)(expr);                                                 \
        if (sys_rc_ < 0)                                                                       \
            test_fail(__FILE__, __LINE__, "%s: failed with %s (%s)", #expr, fx_errname(errno), \
                      strerror(errno));                                                        \
    } while (0)

/* A call returning -1 and errno on failure must fail with err. */
#define SYS_ERR(expr, err)                                                                    \
    do {                                                                                      \
        errno = 0;                                                                            \
        long long sys_rc_ = (long long)(expr);                                                \
        int sys_errno_ = errno;                                                               \
        if (sys_rc_ != -1 || sys_errno_ != (err))                                             \
            test_fail(__FILE__, __LINE__, "%s: expected -1 %s, got %lld %s", #expr,           \
                      fx_errname(err), sys_rc_, sys_rc_ == -1 ? fx_errname(sys_errno_) : ""); \
    } while (0)

/* --- as another user ----------------------------------------------------------------------- */

struct fx_user {
    uid_t uid;
    gid_t gid;
    size_t n_groups;
    gid_t groups[40]; /* more than CAIRN_GROUPS_MAX (32) */
};
/* uid 4242, gid 4242, supplementary groups 4242 and 4343. */
extern const struct fx_user FX_U1;
/* nobody: uid 65534, gid 65534. */
extern const struct fx_user FX_U2;
/* uid 4343 gid 4343: another ordinary user (shares group 4343 with U1). */
extern const struct fx_user FX_U3;

enum fx_op_kind {
    FX_OPEN,     /* open(a, flags, mode) then close */
    FX_WRITE,    /* open(a, O_WRONLY | flags), write data, close */
    FX_READ,     /* open(a, O_RDONLY), read, close */
    FX_MKDIR,    /* mkdir(a, mode) */
    FX_RMDIR,    /* rmdir(a) */
    FX_UNLINK,   /* unlink(a) */
    FX_RENAME,   /* rename(a, b) */
    FX_LINK,     /* link(a, b) */
    FX_SYMLINK,  /* symlink(a, b) */
    FX_CHMOD,    /* chmod(a, mode) */
    FX_CHOWN,    /* chown(a, uid, gid) (-1 keeps) */
    FX_LCHOWN,   /* lchown(a, uid, gid) */
    FX_TRUNCATE, /* truncate(a, len) */
    FX_UTIMENS,  /* utimensat(AT_FDCWD, a, ts or NULL if !use_ts, 0) */
    FX_SETXATTR, /* setxattr(a, b, data, strlen(data), flags) */
    FX_GETXATTR, /* getxattr(a, b) */
    FX_STAT,     /* stat(a) */
    FX_READDIR,  /* opendir(a) + readdir to the end */
    FX_CHDIR,    /* chdir(a) */
    FX_ACCESS,   /* access(a, flags) */
};

struct fx_op {
    enum fx_op_kind kind;
    const char *a, *b;
    int flags;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    off_t len;
    int use_ts;
    struct timespec ts[2];
    const char *data;
};

/* Run op as u in a forked child: 0 on success, else the errno (-1 if the
 * child died). */
int fx_as(const struct fx_user *u, struct fx_op op);
/* Describe op for a failure message (static buffer). */
const char *fx_op_str(const struct fx_op *op);

/* op run as u must end with err (0: success). */
#define AS_EXPECT(u, err, ...)                                                  \
    do {                                                                        \
        struct fx_op as_op_ = (struct fx_op){__VA_ARGS__};                      \
        int as_got_ = fx_as((u), as_op_);                                       \
        if (as_got_ != (err))                                                   \
            test_fail(__FILE__, __LINE__, "as uid %u: %s: expected %s, got %s", \
                      (unsigned)(u)->uid, fx_op_str(&as_op_), fx_errname(err),  \
                      as_got_ < 0 ? "child died" : fx_errname(as_got_));        \
    } while (0)

#endif
