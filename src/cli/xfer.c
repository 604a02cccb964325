/*
 * xfer.c: the data commands of `cairn` (cli.h): put (local files and trees
 * into cairn), get (out of it) and cat. Holes survive both ways: put writes
 * only the data regions of a sparse local file (SEEK_DATA / SEEK_HOLE) and
 * sets the size; get skips blocks of zeros and sets the size, so the copy
 * is byte-identical and sparse again. A progress bar is drawn while stdout
 * is a terminal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "cli/cli.h"

#define N_OPTS(o) (sizeof(o) / sizeof((o)[0]))
/* One read or write of a transfer: large enough to fill the write pipeline
 * (1 MiB pieces, several in flight), small enough to keep memory modest. */
#define XFER_BUF (8u * 1024u * 1024u)

struct xfer {
    const char *cmd;
    struct cairn *c;
    int recursive;
    const char *ifv_s; /* put --if-version */
    uint64_t ifv;
    uint64_t fence; /* put --fence / $CAIRN_FENCING_TOKEN; 0 = none */
    uint8_t *buf;
    struct cli_progress bar;
};

static int all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Bytes under a local path (for the progress bar's total). */
static uint64_t local_size(const char *path, int recursive)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    DIR *d = recursive ? opendir(path) : NULL;
    uint64_t sum = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char child[PATH_MAX];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            cli_join(child, sizeof child, path, e->d_name) != 0)
            continue;
        sum += local_size(child, 1);
    }
    if (d)
        closedir(d);
    return sum;
}

/* --- put -------------------------------------------------------------------------------------- */

const char cli_put_usage[] =
    "usage: cairn put [-r] [--fence TOKEN] LOCAL... DEST\n"
    "       cairn put [--fence TOKEN] [--if-version V] LOCAL|- FILE\n"
    "       cairn put - DEST                 (standard input)\n"
    "\n"
    "Copy local files into cairn. DEST is the new file's path, or an existing\n"
    "directory to copy into (under each source's last name; required with\n"
    "several sources). An existing file is replaced. Permission bits are kept;\n"
    "holes of sparse files stay holes. Each file is committed (durable on its\n"
    "replicas and visible to every client) before the next one starts.\n"
    "\n"
    "  -r               copy directories and everything in them (links are copied\n"
    "                   as links; devices, fifos and sockets are skipped)\n"
    "  --fence TOKEN    fenced writes (docs/locks.md): every chunk allocation and\n"
    "                   chunk write carries TOKEN, a lock's fencing token, and is\n"
    "                   refused (`stale fencing token`, exit 1) once the file saw\n"
    "                   a newer one. Default: $CAIRN_FENCING_TOKEN, which `cairn\n"
    "                   lock NAME -- ...` sets. The old bytes are cut only after\n"
    "                   the new ones are in, so a put refused at its first write\n"
    "                   leaves the file as it was (a file it created stays, empty)\n"
    "  --if-version V   overwrite FILE only if it still has version V (`cairn stat\n"
    "                   -L`): checked by the truncation that starts the overwrite;\n"
    "                   else `version conflict (now V2)`, exit 1. One LOCAL, no -r\n"
    "\n"
    "examples:\n"
    "  cairn put notes.txt /docs/notes.txt\n"
    "  cairn lock report -- cairn put report.pdf /shared/report.pdf\n"
    "  cairn put -r ./src /projects/        (makes /projects/src)\n"
    "  tar c dir | cairn put - /backups/dir.tar\n";

/* The data regions of fd (all of it when the file system cannot tell). */
static int put_region(struct xfer *x, int fd, struct cairn_file *f, off_t from, off_t to,
                      const char *src)
{
    while (from < to) {
        size_t want = (size_t)(to - from) < XFER_BUF ? (size_t)(to - from) : XFER_BUF;
        ssize_t n = pread(fd, x->buf, want, from);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? cli_error(x->cmd, src, -errno) : CLI_OK; /* shrank meanwhile */
        ssize_t w = cairn_pwrite(f, x->buf, (size_t)n, (uint64_t)from);
        if (w < 0)
            return (int)w;
        cli_progress_add(&x->bar, (uint64_t)n);
        from += n;
    }
    return CLI_OK;
}

/* Copy fd's bytes; returns CLI_OK, an exit code for a local error already
 * reported, or a negative errno of cairn. */
static int put_data(struct xfer *x, int fd, off_t size, struct cairn_file *f, const char *src)
{
    off_t at = 0;
    while (at < size) {
        off_t data = lseek(fd, at, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break; /* only a hole remains */
        if (data < 0)
            data = at; /* no SEEK_DATA here: copy everything */
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0 || hole > size)
            hole = size;
        int rc = put_region(x, fd, f, data, hole, src);
        if (rc)
            return rc;
        at = hole;
    }
    return CLI_OK;
}

/* Copy a stream (stdin) of unknown size. */
static int put_stream(struct xfer *x, int fd, struct cairn_file *f)
{
    for (;;) {
        ssize_t n = read(fd, x->buf, XFER_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cli_error(x->cmd, "-", -errno);
        if (n == 0)
            return CLI_OK;
        ssize_t w = cairn_write(f, x->buf, (size_t)n);
        if (w < 0)
            return (int)w;
        cli_progress_add(&x->bar, (uint64_t)n);
    }
}

static int put_file(struct xfer *x, const char *src, const char *dst, const struct stat *st)
{
    int fd = strcmp(src, "-") == 0 ? STDIN_FILENO : open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cli_error(x->cmd, src, -errno);
    struct cairn_file *f;
    /* --if-version: the truncation that starts the overwrite is the check.
     * Fenced: no O_TRUNC, the size is set once the bytes are in. */
    int rc = x->ifv_s ? cairn_truncate_if(x->c, dst, 0, x->ifv) : 0;
    int oflags = O_WRONLY | O_CREAT | (x->fence || x->ifv_s ? 0 : O_TRUNC);
    if (rc == 0)
        rc = cairn_open(x->c, dst, oflags, st->st_mode & 07777u, &f);
    if (rc == 0 && x->fence && (rc = cairn_file_set_fence(f, x->fence)) != 0)
        cairn_close(f);
    if (rc) {
        if (fd != STDIN_FILENO)
            close(fd);
        return x->ifv_s ? cli_cas_error(x->cmd, x->c, dst, dst, 1, rc) : cli_error(x->cmd, dst, rc);
    }
    int code = S_ISREG(st->st_mode) ? put_data(x, fd, st->st_size, f, src) : put_stream(x, fd, f);
    /* A sparse tail (or a longer old file not truncated at open): the size
     * says where the file ends. */
    if (code == CLI_OK && (S_ISREG(st->st_mode) || oflags != (O_WRONLY | O_CREAT | O_TRUNC))) {
        int64_t end = S_ISREG(st->st_mode) ? (int64_t)st->st_size : cairn_lseek(f, 0, SEEK_CUR);
        code = end < 0 ? (int)end : cairn_ftruncate(f, (uint64_t)end);
    }
    int ferr = cairn_file_error(f);
    int crc = cairn_close(f);
    if (fd != STDIN_FILENO)
        close(fd);
    if (ferr == CAIRN_FENCED)
        return cli_cas_error(x->cmd, x->c, dst, NULL, 0, ferr);
    if (code < 0)
        return cli_error(x->cmd, dst, code);
    if (crc)
        return cli_error(x->cmd, dst, crc);
    return code;
}

static int put_link(struct xfer *x, const char *src, const char *dst)
{
    char target[PATH_MAX];
    ssize_t n = readlink(src, target, sizeof target - 1);
    if (n < 0)
        return cli_error(x->cmd, src, -errno);
    target[n] = 0;
    int rc = cairn_symlink(x->c, target, dst);
    if (rc == -EEXIST) { /* replace, as a copy would */
        rc = cairn_unlink(x->c, dst);
        if (rc == 0)
            rc = cairn_symlink(x->c, target, dst);
    }
    return rc ? cli_error(x->cmd, dst, rc) : CLI_OK;
}

static int put_path(struct xfer *x, const char *src, const char *dst);

static int put_dir(struct xfer *x, const char *src, const char *dst, const struct stat *st)
{
    if (!x->recursive) {
        fprintf(stderr, "cairn: %s: %s: Is a directory (use -r)\n", x->cmd, src);
        return CLI_FAIL;
    }
    int rc = cairn_mkdir(x->c, dst, st->st_mode & 07777u);
    struct cairn_stat cst;
    if (rc == -EEXIST && cairn_stat(x->c, dst, &cst) == 0 && S_ISDIR(cst.mode))
        rc = 0;
    if (rc)
        return cli_error(x->cmd, dst, rc);
    DIR *d = opendir(src);
    if (!d)
        return cli_error(x->cmd, src, -errno);
    int code = CLI_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char s[PATH_MAX], t[4096];
        if (cli_join(s, sizeof s, src, e->d_name) != 0 ||
            cli_join(t, sizeof t, dst, e->d_name) != 0) {
            code = cli_worse(code, cli_error(x->cmd, e->d_name, -ENAMETOOLONG));
            continue;
        }
        code = cli_worse(code, put_path(x, s, t));
    }
    closedir(d);
    return code;
}

static int put_path(struct xfer *x, const char *src, const char *dst)
{
    struct stat st;
    if (strcmp(src, "-") == 0) {
        memset(&st, 0, sizeof st);
        st.st_mode = S_IFIFO | 0666;
        return put_file(x, src, dst, &st);
    }
    if (lstat(src, &st) != 0)
        return cli_error(x->cmd, src, -errno);
    if (S_ISDIR(st.st_mode))
        return put_dir(x, src, dst, &st);
    if (S_ISLNK(st.st_mode))
        return x->recursive ? put_link(x, src, dst) : put_file(x, src, dst, &st);
    if (S_ISREG(st.st_mode))
        return put_file(x, src, dst, &st);
    fprintf(stderr, "cairn: %s: %s: skipped (not a file, directory or link)\n", x->cmd, src);
    return CLI_OK;
}

/* Where SRC goes: DEST, or DEST/name when DEST is an existing directory. */
static int remote_target(struct xfer *x, const char *src, const char *dest, int many, char *out,
                         size_t len)
{
    struct cairn_stat st;
    int rc = cairn_stat(x->c, dest, &st);
    if (rc == 0 && S_ISDIR(st.mode) && strcmp(src, "-") != 0) {
        char base[256];
        return cli_join(out, len, dest, cli_basename(src, base, sizeof base));
    }
    if (many)
        return rc ? rc : -ENOTDIR;
    return snprintf(out, len, "%s", dest) < (int)len ? 0 : -ENAMETOOLONG;
}

/* --fence (else $CAIRN_FENCING_TOKEN) and --if-version: CLI_OK or CLI_USAGE. */
static int put_flags(struct xfer *x, const char *fence_s, int n_pos)
{
    const char *env = getenv("CAIRN_FENCING_TOKEN");
    const char *s = fence_s ? fence_s : env && *env ? env : NULL;
    char *end = NULL;
    errno = 0;
    x->fence = s ? strtoull(s, &end, 10) : 0;
    if (s && (!*s || *s == '-' || *end || errno || x->fence == 0))
        return cli_usage_error("put", "bad fencing token \"%s\"%s", s,
                               fence_s ? "" : " (from $CAIRN_FENCING_TOKEN)");
    int code = cli_if_version("put", x->ifv_s, &x->ifv);
    if (code == CLI_OK && x->ifv_s && (n_pos != 2 || x->recursive))
        code = cli_usage_error("put", "--if-version takes one LOCAL and no -r");
    return code;
}

int cli_put(int argc, char **argv)
{
    struct xfer x = {.cmd = "put"};
    int rr = 0;
    const char *fence_s = NULL;
    const struct cli_opt opts[] = {{"recursive", 'r', NULL, &x.recursive},
                                   {NULL, 'R', NULL, &rr},
                                   {"fence", 0, &fence_s, NULL},
                                   {"if-version", 0, &x.ifv_s, NULL}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("put", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code)
        return code;
    x.recursive |= rr;
    if (n_pos < 2)
        return cli_usage_error("put", "expected LOCAL... DEST");
    if ((code = put_flags(&x, fence_s, n_pos)) != 0)
        return code;
    x.buf = malloc(XFER_BUF);
    if (!x.buf)
        return cli_error("put", NULL, -ENOMEM);
    code = cli_connect("put", &x.c);
    if (code) {
        free(x.buf);
        return code;
    }
    uint64_t total = 0;
    for (int i = 0; i + 1 < n_pos && isatty(STDOUT_FILENO); i++)
        total += local_size(pos[i], x.recursive);
    cli_progress_begin(&x.bar, "put", total);
    const char *dest = pos[n_pos - 1];
    for (int i = 0; i + 1 < n_pos; i++) {
        char to[4096];
        int rc = remote_target(&x, pos[i], dest, n_pos > 2, to, sizeof to);
        code = cli_worse(code, rc ? cli_error("put", dest, rc) : put_path(&x, pos[i], to));
    }
    cli_progress_end(&x.bar);
    cairn_disconnect(x.c);
    free(x.buf);
    return code;
}

/* --- get and cat ----------------------------------------------------------------------------- */

const char cli_get_usage[] =
    "usage: cairn get [-r] PATH... LOCAL\n"
    "       cairn get PATH -                 (standard output)\n"
    "\n"
    "Copy files out of cairn. LOCAL is the new file's path, or an existing\n"
    "directory to copy into (under each path's last name; required with several\n"
    "paths). Permission bits and modification times are kept; runs of zeros\n"
    "become holes, so sparse files stay sparse.\n"
    "\n"
    "  -r   copy directories and everything in them (links are copied as links)\n"
    "\n"
    "examples:\n"
    "  cairn get /docs/notes.txt .\n"
    "  cairn get -r /projects/src ./src-copy\n";

/* Write buf[0..n) at off into a local file, leaving every all-zero 64 KiB
 * block unwritten (a hole, once the size is set at the end). */
static int write_sparse(int fd, const uint8_t *buf, size_t n, uint64_t off)
{
    enum { BLOCK = 64 * 1024 };
    for (size_t done = 0; done < n;) {
        size_t len = n - done < BLOCK ? n - done : BLOCK;
        if (all_zero(buf + done, len)) {
            done += len;
            continue;
        }
        ssize_t w = pwrite(fd, buf + done, len, (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        done += (size_t)w;
    }
    return 0;
}

static int write_all(int fd, const uint8_t *buf, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        done += (size_t)w;
    }
    return 0;
}

/* Bytes of f into local fd (holes for zero blocks; stdout gets them all).
 * Returns CLI_OK, an exit code already reported, or a negative errno of
 * cairn. */
static int get_data(struct xfer *x, struct cairn_file *f, int fd, uint64_t size, const char *dst)
{
    uint64_t at = 0;
    while (at < size) {
        size_t want = size - at < XFER_BUF ? (size_t)(size - at) : XFER_BUF;
        ssize_t n = cairn_pread(f, x->buf, want, at);
        if (n < 0)
            return (int)n;
        if (n == 0)
            break; /* shorter than its attributes said: truncated meanwhile */
        int rc = fd == STDOUT_FILENO ? write_all(fd, x->buf, (size_t)n)
                                     : write_sparse(fd, x->buf, (size_t)n, at);
        if (rc)
            return cli_error(x->cmd, dst, rc);
        cli_progress_add(&x->bar, (uint64_t)n);
        at += (uint64_t)n;
    }
    if (fd != STDOUT_FILENO && ftruncate(fd, (off_t)at) != 0)
        return cli_error(x->cmd, dst, -errno);
    return CLI_OK;
}

static int get_file(struct xfer *x, const char *src, const char *dst, const struct cairn_stat *st)
{
    struct cairn_file *f;
    int rc = cairn_open(x->c, src, O_RDONLY, 0, &f);
    if (rc)
        return cli_error(x->cmd, src, rc);
    int to_stdout = strcmp(dst, "-") == 0;
    int fd = to_stdout ? STDOUT_FILENO
                       : open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st->mode & 07777u);
    if (fd < 0) {
        cairn_close(f);
        return cli_error(x->cmd, dst, -errno);
    }
    int code = get_data(x, f, fd, st->size, dst);
    cairn_close(f);
    if (code < 0)
        code = cli_error(x->cmd, src, code);
    if (!to_stdout) {
        struct timespec ts[2] = {st->atime, st->mtime};
        if (code == CLI_OK && fchmod(fd, st->mode & 07777u) != 0)
            code = cli_error(x->cmd, dst, -errno);
        if (code == CLI_OK && futimens(fd, ts) != 0)
            code = cli_error(x->cmd, dst, -errno);
        if (close(fd) != 0 && code == CLI_OK)
            code = cli_error(x->cmd, dst, -errno);
    }
    return code;
}

static int get_path(struct xfer *x, const char *src, const char *dst);

static int get_dir(struct xfer *x, const char *src, const char *dst, const struct cairn_stat *st)
{
    if (!x->recursive) {
        fprintf(stderr, "cairn: %s: %s: Is a directory (use -r)\n", x->cmd, src);
        return CLI_FAIL;
    }
    struct stat lst;
    if (mkdir(dst, (st->mode & 07777u) | 0700u) != 0 &&
        !(errno == EEXIST && stat(dst, &lst) == 0 && S_ISDIR(lst.st_mode)))
        return cli_error(x->cmd, dst, -errno);
    char **names;
    size_t n;
    int rc = cli_list_dir(x->c, src, &names, &n);
    if (rc)
        return cli_error(x->cmd, src, rc);
    int code = CLI_OK;
    for (size_t i = 0; i < n; i++) {
        char s[4096], t[PATH_MAX];
        if (cli_join(s, sizeof s, src, names[i]) != 0 ||
            cli_join(t, sizeof t, dst, names[i]) != 0) {
            code = cli_worse(code, cli_error(x->cmd, names[i], -ENAMETOOLONG));
            continue;
        }
        code = cli_worse(code, get_path(x, s, t));
    }
    free(names);
    if (code == CLI_OK && chmod(dst, st->mode & 07777u) != 0)
        code = cli_error(x->cmd, dst, -errno);
    return code;
}

static int get_link(struct xfer *x, const char *src, const char *dst)
{
    char target[4097];
    ssize_t n = cairn_readlink(x->c, src, target, sizeof target - 1);
    if (n < 0)
        return cli_error(x->cmd, src, (int)n);
    target[n < (ssize_t)sizeof target ? n : (ssize_t)sizeof target - 1] = 0;
    if (symlink(target, dst) != 0 &&
        !(errno == EEXIST && unlink(dst) == 0 && symlink(target, dst) == 0))
        return cli_error(x->cmd, dst, -errno);
    return CLI_OK;
}

static int get_path(struct xfer *x, const char *src, const char *dst)
{
    struct cairn_stat st;
    int rc = x->recursive ? cairn_lstat(x->c, src, &st) : cairn_stat(x->c, src, &st);
    if (rc)
        return cli_error(x->cmd, src, rc);
    if (S_ISDIR(st.mode))
        return get_dir(x, src, dst, &st);
    if (S_ISLNK(st.mode))
        return get_link(x, src, dst);
    return get_file(x, src, dst, &st);
}

/* The total bytes of what get will copy (for the progress bar). */
static int size_visit(struct cairn *c, const char *path, const struct cairn_stat *st, int post,
                      void *arg)
{
    (void)c;
    (void)path;
    if (!post && S_ISREG(st->mode))
        *(uint64_t *)arg += st->size;
    return CLI_OK;
}

int cli_get(int argc, char **argv)
{
    struct xfer x = {.cmd = "get"};
    int rr = 0;
    const struct cli_opt opts[] = {{"recursive", 'r', NULL, &x.recursive}, {NULL, 'R', NULL, &rr}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("get", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code)
        return code;
    x.recursive |= rr;
    if (n_pos < 2)
        return cli_usage_error("get", "expected PATH... LOCAL");
    const char *dest = pos[n_pos - 1];
    struct stat dst;
    int dest_dir = stat(dest, &dst) == 0 && S_ISDIR(dst.st_mode);
    if (n_pos > 2 && !dest_dir)
        return cli_error("get", dest, -ENOTDIR);
    x.buf = malloc(XFER_BUF);
    if (!x.buf)
        return cli_error("get", NULL, -ENOMEM);
    code = cli_connect("get", &x.c);
    if (code) {
        free(x.buf);
        return code;
    }
    uint64_t total = 0;
    for (int i = 0; i + 1 < n_pos && isatty(STDOUT_FILENO) && strcmp(dest, "-") != 0; i++)
        cli_walk("get", x.c, pos[i], size_visit, &total);
    cli_progress_begin(&x.bar, "get", total);
    for (int i = 0; i + 1 < n_pos; i++) {
        char to[PATH_MAX], base[256];
        if (dest_dir && cli_join(to, sizeof to, dest, cli_basename(pos[i], base, sizeof base)))
            code = cli_worse(code, cli_error("get", pos[i], -ENAMETOOLONG));
        else
            code = cli_worse(code, get_path(&x, pos[i], dest_dir ? to : dest));
    }
    cli_progress_end(&x.bar);
    cairn_disconnect(x.c);
    free(x.buf);
    return code;
}

const char cli_cat_usage[] = "usage: cairn cat PATH...\n"
                             "\n"
                             "Write the contents of files to standard output, in order.\n"
                             "\n"
                             "examples:\n"
                             "  cairn cat /docs/notes.txt\n"
                             "  cairn cat /logs/a.log /logs/b.log | grep ERROR\n";

int cli_cat(int argc, char **argv)
{
    struct xfer x = {.cmd = "cat"};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("cat", argc, argv, NULL, 0, pos, &n_pos);
    if (code)
        return code;
    if (n_pos < 1)
        return cli_usage_error("cat", "missing operand");
    x.buf = malloc(XFER_BUF);
    if (!x.buf)
        return cli_error("cat", NULL, -ENOMEM);
    code = cli_connect("cat", &x.c);
    if (code) {
        free(x.buf);
        return code;
    }
    for (int i = 0; i < n_pos; i++) {
        struct cairn_stat st;
        int rc = cairn_stat(x.c, pos[i], &st);
        if (rc == 0 && S_ISDIR(st.mode))
            rc = -EISDIR;
        code = cli_worse(code, rc ? cli_error("cat", pos[i], rc) : get_file(&x, pos[i], "-", &st));
    }
    cairn_disconnect(x.c);
    free(x.buf);
    return code;
}
