/*
 * mount.c: `cairn mount`: flags, the FUSE session (operations table, init,
 * the multi-threaded loop), daemon start and clean unmount (fuse_mount.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/log.h"
#include "fuse/fuse_int.h"
#include "fuse/fuse_mount.h"

const char fuse_mount_usage[] =
    "usage: cairn mount [--cluster FILE] [-f|--foreground] [--attr-timeout S]\n"
    "                   [--entry-timeout S] [--readahead KiB] [--allow-other]\n"
    "                   [--conns N] [--hold-open] [-o OPTS] MOUNTPOINT\n"
    "\n"
    "Mount the cluster's namespace on MOUNTPOINT with FUSE (docs/fuse.md).\n"
    "Without -f the command returns once the mount is up and serves it in the\n"
    "background. Unmount with `fusermount3 -u MOUNTPOINT` (or SIGTERM).\n"
    "\n"
    "  -f, --foreground     stay in the foreground (logs on stderr)\n"
    "  --attr-timeout S     seconds the kernel caches attributes (default 1)\n"
    "  --entry-timeout S    seconds the kernel caches names (default 1)\n"
    "  --readahead KiB      read-ahead window (default 1024; the kernel may cap it)\n"
    "  --allow-other        let every local user in (the default when root)\n"
    "  --conns N            connections to the cluster (default 4, at most 16)\n"
    "  --hold-open          keep open files readable when ANY mount unlinks them\n"
    "                       (two more metadata commits per open file)\n"
    "  -o OPTS              more FUSE mount options (comma separated)\n"
    "\n"
    "Permissions are checked per caller: the kernel checks mode bits\n"
    "(default_permissions) and every metadata command carries the caller's\n"
    "uid, gid and groups to the metadata leader.\n"
    "\n"
    "example:\n"
    "  cairn mount /mnt/cairn && ls /mnt/cairn && fusermount3 -u /mnt/cairn\n";

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = FZ_EXIT_USAGE, EXIT_UNREACHABLE = 3 };

void fz_opts_default(struct fz_opts *o)
{
    memset(o, 0, sizeof *o);
    o->attr_timeout = FZ_TIMEOUT_DEFAULT;
    o->entry_timeout = FZ_TIMEOUT_DEFAULT;
    o->readahead_kib = FZ_READAHEAD_KIB_DEFAULT;
    o->conns = FZ_CONNS_DEFAULT;
    o->allow_other = geteuid() == 0;
}

/* A number flag's value; -1 when malformed. */
static double parse_num(const char *s, double max)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0 || v > max)
        return -1;
    return v;
}

int fz_parse_args(int argc, char **argv, struct fz_opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double num = 0;
        int takes = strcmp(a, "--cluster") == 0 || strcmp(a, "--attr-timeout") == 0 ||
                    strcmp(a, "--entry-timeout") == 0 || strcmp(a, "--readahead") == 0 ||
                    strcmp(a, "--conns") == 0 || strcmp(a, "-o") == 0;
        if (takes && !v) {
            fprintf(stderr, "cairn: mount: %s needs a value\n", a);
            return EXIT_USAGE;
        }
        if (strcmp(a, "-f") == 0 || strcmp(a, "--foreground") == 0) {
            o->foreground = 1;
        } else if (strcmp(a, "--allow-other") == 0) {
            o->allow_other = 1;
        } else if (strcmp(a, "--hold-open") == 0) {
            o->hold_open = 1;
        } else if (strcmp(a, "--cluster") == 0) {
            o->cluster_file = v;
        } else if (strcmp(a, "-o") == 0) {
            o->extra = v;
        } else if (strcmp(a, "--attr-timeout") == 0 && (num = parse_num(v, 3600)) >= 0) {
            o->attr_timeout = num;
        } else if (strcmp(a, "--entry-timeout") == 0 && (num = parse_num(v, 3600)) >= 0) {
            o->entry_timeout = num;
        } else if (strcmp(a, "--readahead") == 0 && (num = parse_num(v, 65536)) >= 0) {
            o->readahead_kib = (uint32_t)num;
        } else if (strcmp(a, "--conns") == 0 && (num = parse_num(v, FZ_CONNS_MAX)) >= 1) {
            o->conns = (uint32_t)num;
        } else if (a[0] != '-' && !o->mountpoint) {
            o->mountpoint = a;
            continue;
        } else {
            fprintf(stderr, "cairn: mount: bad argument \"%s\"%s\n", a, takes ? " value" : "");
            return EXIT_USAGE;
        }
        i += takes;
    }
    if (!o->mountpoint) {
        fputs(fuse_mount_usage, stderr);
        return EXIT_USAGE;
    }
    return 0;
}

/* --- the FUSE session ------------------------------------------------------- */

static void fz_init(void *userdata, struct fuse_conn_info *conn)
{
    struct fz_mount *m = userdata;
    conn->max_write = FZ_MAX_WRITE;
    uint32_t ra = m->o.readahead_kib * 1024u;
    if (ra < conn->max_readahead)
        conn->max_readahead = ra;
    /* Writes go through to the datafile at once (it buffers and commits at
     * flush): the kernel's write-back cache would need mtime/size handling
     * we do not do, so it stays off. */
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
    /* O_TRUNC as a separate SETATTR from the kernel (checked and applied
     * like truncate(2)), not inside open. */
    conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
    if (conn->capable & FUSE_CAP_ASYNC_READ)
        conn->want |= FUSE_CAP_ASYNC_READ;
    conn->time_gran = 1;
    m->max_write = conn->max_write;
    LOG_INFO("fuse", "mounted on %s: max_write %u, max_readahead %u", m->o.mountpoint,
             conn->max_write, conn->max_readahead);
}

static const struct fuse_lowlevel_ops fz_ops = {
    .init = fz_init,
    .lookup = fz_op_lookup,
    .forget = fz_op_forget,
    .forget_multi = fz_op_forget_multi,
    .getattr = fz_op_getattr,
    .setattr = fz_op_setattr,
    .readlink = fz_op_readlink,
    .mknod = fz_op_mknod,
    .mkdir = fz_op_mkdir,
    .unlink = fz_op_unlink,
    .rmdir = fz_op_rmdir,
    .symlink = fz_op_symlink,
    .rename = fz_op_rename,
    .link = fz_op_link,
    .open = fz_op_open,
    .create = fz_op_create,
    .read = fz_op_read,
    .write = fz_op_write,
    .flush = fz_op_flush,
    .release = fz_op_release,
    .fsync = fz_op_fsync,
    .opendir = fz_op_opendir,
    .readdir = fz_op_readdir,
    .readdirplus = fz_op_readdirplus,
    .releasedir = fz_op_releasedir,
    .fsyncdir = fz_op_fsyncdir,
    .statfs = fz_op_statfs,
    .setxattr = fz_op_setxattr,
    .getxattr = fz_op_getxattr,
    .listxattr = fz_op_listxattr,
    .removexattr = fz_op_removexattr,
    .access = fz_op_access,
    .getlk = fz_op_getlk,
    .setlk = fz_op_setlk,
    .flock = fz_op_flock,
};

/* The -o string given to the kernel mount. */
static int mount_options(const struct fz_opts *o, char *out, size_t len)
{
    int n = snprintf(out, len, "fsname=cairn,subtype=cairn,default_permissions%s%s%s",
                     o->allow_other ? ",allow_other" : "", o->extra ? "," : "",
                     o->extra ? o->extra : "");
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static struct fuse_session *session_new(struct fz_mount *m)
{
    char opts[1024];
    if (mount_options(&m->o, opts, sizeof opts) != 0) {
        fprintf(stderr, "cairn: mount: -o options too long\n");
        return NULL;
    }
    char *argv[] = {"cairn-mount", "-o", opts, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    struct fuse_session *se = fuse_session_new(&args, &fz_ops, sizeof fz_ops, m);
    fuse_opt_free_args(&args);
    return se;
}

/* Serve until unmounted; 0 after a clean unmount. */
static int serve(struct fuse_session *se)
{
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    if (!cfg)
        return -1;
    fuse_loop_cfg_set_max_threads(cfg, FZ_THREADS_MAX);
    fuse_loop_cfg_set_idle_threads(cfg, 4);
    int rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    return rc;
}

/* Tell the waiting parent how the start went (daemon mode). */
static void notify_parent(int fd, int code)
{
    if (fd < 0)
        return;
    unsigned char b = (unsigned char)code;
    ssize_t w = write(fd, &b, 1);
    (void)w;
    close(fd);
}

/* Leave the terminal: new session, stdio to /dev/null (logs go nowhere
 * unless CAIRN_LOG_FILE names a file). */
static void detach(void)
{
    (void)setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    const char *logf = getenv("CAIRN_LOG_FILE");
    int logfd = logf && *logf ? open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(logfd >= 0 ? logfd : null, 2);
        if (null > 2)
            close(null);
    }
    if (logfd > 2)
        close(logfd);
    if (chdir("/") != 0)
        LOG_WARN("fuse", "chdir /: %s", strerror(errno));
}

/* Connect, mount, serve, unmount. notify_fd: the parent's pipe, or -1. */
static int run(struct fz_mount *m, int notify_fd)
{
    int rc = fz_pool_open(m);
    if (rc) {
        fprintf(stderr, "cairn: mount: cannot reach the cluster: %s\n", strerror(-rc));
        notify_parent(notify_fd, EXIT_UNREACHABLE);
        return EXIT_UNREACHABLE;
    }
    int code = EXIT_FAIL;
    struct fuse_session *se = session_new(m);
    m->se = se;
    if (se && fuse_set_signal_handlers(se) == 0) {
        if (fuse_session_mount(se, m->o.mountpoint) == 0) {
            if (fz_keepalive_start(m) == 0) {
                notify_parent(notify_fd, EXIT_OK);
                notify_fd = -1;
                if (!m->o.foreground)
                    detach();
                /* A signal ends the loop with its number: a clean unmount too. */
                code = serve(se) >= 0 ? EXIT_OK : EXIT_FAIL;
                fz_keepalive_stop(m);
            }
            fuse_session_unmount(se);
        }
        fuse_remove_signal_handlers(se);
    }
    if (se)
        fuse_session_destroy(se);
    fz_pool_close(m);
    notify_parent(notify_fd, code);
    LOG_INFO("fuse", "unmounted %s", m->o.mountpoint);
    return code;
}

/* Fork before any thread exists (the pool starts some); the parent waits
 * for the child's word that the mount is up, so errors reach the shell. */
static int daemon_start(struct fz_mount *m)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        perror("cairn: mount: pipe");
        return EXIT_FAIL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("cairn: mount: fork");
        return EXIT_FAIL;
    }
    if (pid == 0) {
        close(fds[0]);
        _exit(run(m, fds[1]));
    }
    close(fds[1]);
    unsigned char b = EXIT_FAIL;
    ssize_t n;
    do {
        n = read(fds[0], &b, 1);
    } while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n != 1) { /* the child died before saying anything */
        int st = 0;
        waitpid(pid, &st, 0);
        return EXIT_FAIL;
    }
    return b;
}

int fuse_mount_main(int argc, char **argv, const char *cluster_file)
{
    struct fz_mount *m = calloc(1, sizeof *m);
    if (!m)
        return EXIT_FAIL;
    fz_opts_default(&m->o);
    m->o.cluster_file = cluster_file;
    int rc = fz_parse_args(argc, argv, &m->o);
    if (rc) {
        free(m);
        return rc;
    }
    const char *lv = getenv("CAIRN_LOG");
    if (lv && cairn_log_level_parse(lv) >= 0)
        cairn_log_set_level((enum cairn_log_level)cairn_log_level_parse(lv));
    while (m->owner_salt == 0)
        if (getrandom(&m->owner_salt, sizeof m->owner_salt, 0) != (ssize_t)sizeof m->owner_salt)
            m->owner_salt = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
    struct stat st;
    if (stat(m->o.mountpoint, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "cairn: mount: %s: not a directory\n", m->o.mountpoint);
        free(m);
        return EXIT_FAIL;
    }
    rc = m->o.foreground ? run(m, -1) : daemon_start(m);
    free(m);
    return rc;
}
