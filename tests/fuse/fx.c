/* fx.c: the file system under test of the FUSE cases and their helpers
 * (see fx.h). */
#include "fx.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "mount_harness.h"

#define FX_MOUNT_WAIT_MS 20000u
#define FX_CHUNK_WAIT_MS 20000u

const struct fx_user FX_U1 = {.uid = 4242, .gid = 4242, .n_groups = 2, .groups = {4242, 4343}};
const struct fx_user FX_U2 = {.uid = 65534, .gid = 65534, .n_groups = 1, .groups = {65534}};
const struct fx_user FX_U3 = {.uid = 4343, .gid = 4343, .n_groups = 1, .groups = {4343}};

static struct {
    int mounted;
    int begun;
    struct cluster c;
    struct mount_proc m;
    char root[CLUSTER_PATH_MAX];
    char dir[CLUSTER_PATH_MAX + 8];
} fx;

/* Mount options of every test mount: root's mount shared with the test users. */
static const char *const fx_mount_args[] = {"--allow-other", NULL};

const char *fx_errname(int err)
{
    if (err == 0)
        return "0";
    const char *n = strerrorname_np(err);
    return n ? n : "E?";
}

static void fx_begin_cluster(void)
{
    const char *tmp = test_tmpdir();
    /* Test users reach the mountpoint through the case directory. */
    SYS(chmod(tmp, 0711));
    struct cluster_opts co = {.n = 1, .seed = test_seed()};
    CHECK_OK(cluster_start(&fx.c, tmp, &co, NULL));
    struct cluster_chunk_opts copt = {.scrub_rate = CLUSTER_SCRUB_OFF};
    for (int i = 0; i < 2; i++) {
        int rc = cluster_chunk_add(&fx.c, &copt, FX_CHUNK_WAIT_MS);
        CHECKF(rc >= 0, "chunk server %d: %s", i + 1, cairn_err_name(rc));
    }
    char mnt[CLUSTER_PATH_MAX];
    snprintf(mnt, sizeof mnt, "%s/mnt", tmp);
    CHECK_OK(mount_start(&fx.c, mnt, fx_mount_args, FX_MOUNT_WAIT_MS, &fx.m));
    snprintf(fx.root, sizeof fx.root, "%s", fx.m.dir);
    fx.mounted = 1;
}

static void fx_begin_local(const char *base)
{
    char tmpl[CLUSTER_PATH_MAX];
    snprintf(tmpl, sizeof tmpl, "%s/cairn-fx-%s-XXXXXX", base, test_name());
    CHECKF(mkdtemp(tmpl) != NULL, "mkdtemp %s: %s", tmpl, strerror(errno));
    SYS(chmod(tmpl, 0755));
    snprintf(fx.root, sizeof fx.root, "%s", tmpl);
    fx.mounted = 0;
}

void fx_begin(void)
{
    CHECK(!fx.begun);
    CHECKF(geteuid() == 0, "the FUSE tests run as root: they mount with allow_other and "
                           "switch to test users with setuid");
    fx.begun = 1;
    umask(0);
    const char *base = getenv("CAIRN_FUSE_TEST_DIR");
    if (base && *base)
        fx_begin_local(base);
    else
        fx_begin_cluster();
    snprintf(fx.dir, sizeof fx.dir, "%s/w", fx.root);
    SYS(mkdir(fx.dir, 0777));
    SYS(chmod(fx.dir, 0777));
}

void fx_end(void)
{
    CHECK(fx.begun);
    fx.begun = 0;
    if (!fx.mounted) {
        char cmd[CLUSTER_PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.root);
        CHECK(system(cmd) == 0);
        return;
    }
    /* How the process exits is test_mount.c's business; here it only
     * matters that nothing stays mounted (mount_stop makes sure). */
    int rc = mount_stop(&fx.m);
    if (rc)
        fprintf(stderr, "note: mount_stop: %s (see mount_start_stop_kill)\n", cairn_err_name(rc));
    CHECK(!mount_is_mounted(&fx.m));
    cluster_stop(&fx.c);
}

int fx_mounted(void) { return fx.mounted; }
const char *fx_dir(void) { return fx.dir; }
const char *fx_root(void) { return fx.root; }

const char *fx_p(const char *fmt, ...)
{
    static char ring[FX_PATHS][2 * CLUSTER_PATH_MAX];
    static unsigned next;
    char *out = ring[next++ % FX_PATHS];
    int n = snprintf(out, sizeof ring[0], "%s/", fx.dir);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, sizeof ring[0] - (size_t)n, fmt, ap);
    va_end(ap);
    return out;
}

void fx_remount(void)
{
    if (!fx.mounted) {
        sync();
        return;
    }
    int rc = mount_stop(&fx.m);
    if (rc)
        fprintf(stderr, "note: mount_stop: %s (see mount_start_stop_kill)\n", cairn_err_name(rc));
    CHECK(!mount_is_mounted(&fx.m));
    CHECK_OK(mount_start(&fx.c, fx.root, fx_mount_args, FX_MOUNT_WAIT_MS, &fx.m));
}

void fx_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECKF(fd >= 0, "open %s: %s", path, fx_errname(errno));
    ssize_t w = write(fd, data, len);
    CHECKF(w == (ssize_t)len, "write %s: %zd (%s)", path, w, fx_errname(errno));
    SYS(close(fd));
}

size_t fx_read_file(const char *path, void *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    CHECKF(fd >= 0, "open %s: %s", path, fx_errname(errno));
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, (char *)buf + got, cap - got);
        CHECKF(r >= 0, "read %s: %s", path, fx_errname(errno));
        if (r == 0)
            break;
        got += (size_t)r;
    }
    SYS(close(fd));
    return got;
}

struct stat fx_lstat(const char *path)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    CHECKF(lstat(path, &st) == 0, "lstat %s: %s", path, fx_errname(errno));
    return st;
}

/* --- as another user -------------------------------------------------------------------------- */

static int fx_op_io(const struct fx_op *op)
{
    int write_op = op->kind == FX_WRITE;
    int fd = open(op->a, write_op ? O_WRONLY | op->flags : O_RDONLY);
    if (fd < 0)
        return errno;
    char buf[256];
    ssize_t r = write_op ? write(fd, op->data, strlen(op->data)) : read(fd, buf, sizeof buf);
    int err = r < 0 ? errno : 0;
    if (close(fd) != 0 && !err)
        err = errno;
    return err;
}

static int fx_op_readdir(const struct fx_op *op)
{
    DIR *d = opendir(op->a);
    if (!d)
        return errno;
    errno = 0;
    while (readdir(d))
        ;
    int err = errno;
    closedir(d);
    return err;
}

static int fx_op_run(void *arg)
{
    const struct fx_op *op = arg;
    int rc = 0;
    switch (op->kind) {
    case FX_OPEN:
        rc = open(op->a, op->flags, op->mode);
        if (rc >= 0)
            rc = close(rc);
        break;
    case FX_WRITE:
    case FX_READ:
        return fx_op_io(op);
    case FX_READDIR:
        return fx_op_readdir(op);
    case FX_MKDIR:
        rc = mkdir(op->a, op->mode);
        break;
    case FX_RMDIR:
        rc = rmdir(op->a);
        break;
    case FX_UNLINK:
        rc = unlink(op->a);
        break;
    case FX_RENAME:
        rc = rename(op->a, op->b);
        break;
    case FX_LINK:
        rc = link(op->a, op->b);
        break;
    case FX_SYMLINK:
        rc = symlink(op->a, op->b);
        break;
    case FX_CHMOD:
        rc = chmod(op->a, op->mode);
        break;
    case FX_CHOWN:
        rc = chown(op->a, op->uid, op->gid);
        break;
    case FX_LCHOWN:
        rc = lchown(op->a, op->uid, op->gid);
        break;
    case FX_TRUNCATE:
        rc = truncate(op->a, op->len);
        break;
    case FX_UTIMENS:
        rc = utimensat(AT_FDCWD, op->a, op->use_ts ? op->ts : NULL, 0);
        break;
    case FX_SETXATTR:
        rc = setxattr(op->a, op->b, op->data, strlen(op->data), op->flags);
        break;
    case FX_GETXATTR: {
        char v[256];
        rc = getxattr(op->a, op->b, v, sizeof v) < 0 ? -1 : 0;
        break;
    }
    case FX_STAT: {
        struct stat st;
        rc = stat(op->a, &st);
        break;
    }
    case FX_CHDIR:
        rc = chdir(op->a);
        break;
    case FX_ACCESS:
        rc = access(op->a, op->flags);
        break;
    }
    return rc < 0 ? errno : 0;
}

int fx_as(const struct fx_user *u, struct fx_op op)
{
    return mount_as_user_groups(u->uid, u->gid, u->groups, u->n_groups, fx_op_run, &op);
}

const char *fx_op_str(const struct fx_op *op)
{
    static const char *const names[] = {
        [FX_OPEN] = "open",         [FX_WRITE] = "write",       [FX_READ] = "read",
        [FX_MKDIR] = "mkdir",       [FX_RMDIR] = "rmdir",       [FX_UNLINK] = "unlink",
        [FX_RENAME] = "rename",     [FX_LINK] = "link",         [FX_SYMLINK] = "symlink",
        [FX_CHMOD] = "chmod",       [FX_CHOWN] = "chown",       [FX_LCHOWN] = "lchown",
        [FX_TRUNCATE] = "truncate", [FX_UTIMENS] = "utimensat", [FX_SETXATTR] = "setxattr",
        [FX_GETXATTR] = "getxattr", [FX_STAT] = "stat",         [FX_READDIR] = "readdir",
        [FX_CHDIR] = "chdir",       [FX_ACCESS] = "access",
    };
    static char out[3 * CLUSTER_PATH_MAX];
    snprintf(out, sizeof out, "%s(%s%s%s, flags 0%o, mode 0%o, uid %d, gid %d, len %lld)",
             names[op->kind], op->a ? op->a : "", op->b ? ", " : "", op->b ? op->b : "",
             (unsigned)op->flags, (unsigned)op->mode, (int)op->uid, (int)op->gid,
             (long long)op->len);
    return out;
}
