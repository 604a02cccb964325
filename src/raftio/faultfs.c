/* faultfs.c: the crash-simulating file seam (see faultfs.h for the model). */
#include "raftio/faultfs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/hashmap.h"
#include "common/limits.h"

#define FF_HIDDEN_PREFIX ".faultfs-"
/* Handles start high so a test mixing them up with real descriptors fails. */
#define FF_HANDLE_FIRST 1000

/* One unsynced change to a file's bytes or size. A pwrite wrote len bytes at
 * off; an ftruncate (len 0) set the size to off. pre holds the bytes the
 * change overwrote or cut, [pre_off, pre_off + pre_len). */
struct ff_change {
    int is_write;
    uint64_t size_before;
    uint64_t off;
    uint64_t len;
    uint64_t pre_off;
    uint64_t pre_len;
    uint8_t *pre;
};

/* A file (an inode) with unsynced changes or open handles. It keeps its own
 * descriptor, so a rollback works after close, rename or unlink. */
struct ff_file {
    dev_t dev;
    ino_t ino;
    int fd;
    int handles;
    struct ff_change *ch;
    size_t n_ch;
    size_t cap_ch;
    struct ff_file *next;
};

enum ff_dirop_kind { FF_CREATE, FF_RENAME, FF_UNLINK };

/* One unsynced directory change. CREATE and UNLINK: a = path. RENAME:
 * a = from, b = to. backup: where an unlinked file, or the target a rename
 * replaced, waits until the directory is synced (NULL if none). */
struct ff_dirop {
    enum ff_dirop_kind kind;
    char *dir;
    char *a;
    char *b;
    char *backup;
};

struct ff_handle {
    int real_fd;
    struct ff_file *file;
};

struct faultfs {
    struct raftio_fs fs; /* first: the seam pointer is the object pointer */
    pthread_mutex_t mu;
    struct hmap handles; /* handle id -> struct ff_handle */
    int next_handle;
    struct ff_file *files;
    struct ff_dirop *dirops;
    size_t n_dirops;
    size_t cap_dirops;
    uint64_t backup_seq;
    uint64_t counts[FAULTFS_OP_COUNT];
    uint32_t fail_nth[FAULTFS_OP_COUNT];
    int fail_always[FAULTFS_OP_COUNT];
    int fail_err[FAULTFS_OP_COUNT];
    void (*hook)(void *ctx);
    void *hook_ctx;
};

static struct faultfs *ff_of(struct raftio_fs *fs) { return (struct faultfs *)fs; }

static int err_now(void) { return cairn_err_from_errno(errno); }

/* Counts the call and says whether an injected fault fires on it. */
static int ff_fault(struct faultfs *f, enum faultfs_op op)
{
    f->counts[op]++;
    if (f->fail_always[op])
        return f->fail_err[op];
    if (f->fail_nth[op] == 0)
        return 0;
    if (--f->fail_nth[op] > 0)
        return 0;
    return f->fail_err[op];
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    CAIRN_ASSERTF(p, "faultfs: out of memory (%zu bytes)", n);
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    CAIRN_ASSERTF(p, "faultfs: out of memory");
    return p;
}

/* Real I/O on the files under test must work; a failure here is a broken
 * test environment, not a fault being simulated. */
static void must_pwrite(int fd, const void *p, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pwrite(fd, (const uint8_t *)p + done, n - done, (off_t)(off + done));
        CAIRN_ASSERTF(r > 0 || errno == EINTR, "faultfs: pwrite: %s", strerror(errno));
        if (r > 0)
            done += (size_t)r;
    }
}

static void must_pread(int fd, void *p, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (uint8_t *)p + done, n - done, (off_t)(off + done));
        CAIRN_ASSERTF(r > 0 || (r < 0 && errno == EINTR), "faultfs: pread: %s",
                      r == 0 ? "short file" : strerror(errno));
        if (r > 0)
            done += (size_t)r;
    }
}

static uint64_t fd_size(int fd)
{
    struct stat st;
    CAIRN_ASSERTF(fstat(fd, &st) == 0, "faultfs: fstat: %s", strerror(errno));
    return (uint64_t)st.st_size;
}

static void must_truncate(int fd, uint64_t size)
{
    CAIRN_ASSERTF(ftruncate(fd, (off_t)size) == 0, "faultfs: ftruncate: %s", strerror(errno));
}

/* --- file records --------------------------------------------------------- */

static struct ff_file *file_get(struct faultfs *f, int real_fd)
{
    struct stat st;
    CAIRN_ASSERTF(fstat(real_fd, &st) == 0, "faultfs: fstat: %s", strerror(errno));
    for (struct ff_file *x = f->files; x; x = x->next)
        if (x->dev == st.st_dev && x->ino == st.st_ino)
            return x;
    struct ff_file *x = xmalloc(sizeof *x);
    memset(x, 0, sizeof *x);
    x->dev = st.st_dev;
    x->ino = st.st_ino;
    x->fd = dup(real_fd);
    CAIRN_ASSERTF(x->fd >= 0, "faultfs: dup: %s", strerror(errno));
    x->next = f->files;
    f->files = x;
    return x;
}

static void changes_free(struct ff_file *x)
{
    for (size_t i = 0; i < x->n_ch; i++)
        free(x->ch[i].pre);
    x->n_ch = 0;
}

/* Drops the record of a file nobody holds and with nothing to roll back. */
static void file_maybe_release(struct faultfs *f, struct ff_file *x)
{
    if (x->handles > 0 || x->n_ch > 0)
        return;
    for (struct ff_file **pp = &f->files; *pp; pp = &(*pp)->next) {
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    }
    close(x->fd);
    free(x->ch);
    free(x);
}

/* Records the change about to be made: the size before it and the bytes it
 * will overwrite (write) or cut (truncate to a smaller size). */
static void change_record(struct ff_file *x, int is_write, uint64_t off, uint64_t len)
{
    if (x->n_ch == x->cap_ch) {
        x->cap_ch = x->cap_ch ? x->cap_ch * 2 : 8;
        x->ch = realloc(x->ch, x->cap_ch * sizeof *x->ch);
        CAIRN_ASSERTF(x->ch, "faultfs: out of memory");
    }
    struct ff_change *c = &x->ch[x->n_ch++];
    memset(c, 0, sizeof *c);
    c->is_write = is_write;
    c->size_before = fd_size(x->fd);
    c->off = off;
    c->len = len;
    uint64_t end = is_write ? CAIRN_MIN(off + len, c->size_before) : c->size_before;
    if (off < end) {
        c->pre_off = off;
        c->pre_len = end - off;
        c->pre = xmalloc(c->pre_len);
        must_pread(x->fd, c->pre, c->pre_len, off);
    }
}

/* Rolls one change back, keeping the first `keep` bytes of a write. tail
 * says what the dropped bytes past the old end of file become: 0 gone (the
 * size shrinks back), 1 zeros, 2 garbage (the size was persisted before the
 * data, as after a crash on a file system that extends files eagerly). The
 * file is in the state right after this change when it is called. */
static void change_undo(struct ff_file *x, const struct ff_change *c, uint64_t keep, int tail,
                        struct prng *rng)
{
    uint64_t cut = c->is_write ? c->off + keep : c->off;
    uint64_t size = c->size_before;
    if (c->is_write && cut > size)
        size = cut;
    if (c->is_write && tail != 0 && c->off + c->len > size) {
        uint64_t from = size;
        size = c->off + c->len;
        must_truncate(x->fd, size);
        uint8_t *fill = xmalloc(size - from);
        memset(fill, 0, size - from);
        if (tail == 2 && rng)
            prng_fill(rng, fill, size - from);
        must_pwrite(x->fd, fill, size - from, from);
        free(fill);
    } else {
        must_truncate(x->fd, size);
    }
    if (c->pre_len) {
        uint64_t from = CAIRN_MAX(c->pre_off, cut);
        uint64_t end = c->pre_off + c->pre_len;
        if (from < end)
            must_pwrite(x->fd, c->pre + (from - c->pre_off), end - from, from);
    }
}

/* Rolls back the unsynced changes of one file that a crash loses. */
static void file_crash(struct ff_file *x, enum faultfs_crash_mode mode, struct prng *rng)
{
    size_t keep = 0;
    if (mode == FAULTFS_CRASH_RANDOM && rng && x->n_ch > 0)
        keep = (size_t)prng_below(rng, x->n_ch + 1);
    for (size_t i = x->n_ch; i > keep; i--) {
        const struct ff_change *c = &x->ch[i - 1];
        if (i - 1 == keep && mode == FAULTFS_CRASH_RANDOM && c->is_write && c->len > 0 &&
            prng_chance(rng, 1, 2)) {
            uint64_t bytes = prng_below(rng, c->len);
            change_undo(x, c, bytes, (int)prng_below(rng, 3), rng);
        } else {
            change_undo(x, c, 0, 0, NULL);
        }
    }
    changes_free(x);
}

/* --- directory records ---------------------------------------------------- */

static void dirop_push(struct faultfs *f, enum ff_dirop_kind kind, const char *a, const char *b,
                       char *backup)
{
    if (f->n_dirops == f->cap_dirops) {
        f->cap_dirops = f->cap_dirops ? f->cap_dirops * 2 : 16;
        f->dirops = realloc(f->dirops, f->cap_dirops * sizeof *f->dirops);
        CAIRN_ASSERTF(f->dirops, "faultfs: out of memory");
    }
    struct ff_dirop *d = &f->dirops[f->n_dirops++];
    d->kind = kind;
    d->dir = dir_of(b ? b : a);
    CAIRN_ASSERTF(d->dir, "faultfs: out of memory");
    d->a = xstrdup(a);
    d->b = b ? xstrdup(b) : NULL;
    d->backup = backup;
}

static void dirop_free(struct ff_dirop *d)
{
    free(d->dir);
    free(d->a);
    free(d->b);
    free(d->backup);
}

/* The change is durable: the file that waited under a hidden name is gone. */
static void dirop_keep(struct ff_dirop *d)
{
    if (d->backup)
        CAIRN_ASSERTF(unlink(d->backup) == 0, "faultfs: unlink %s: %s", d->backup, strerror(errno));
    dirop_free(d);
}

static void dirop_undo(struct ff_dirop *d)
{
    switch (d->kind) {
    case FF_CREATE:
        CAIRN_ASSERTF(unlink(d->a) == 0, "faultfs: undo create %s: %s", d->a, strerror(errno));
        break;
    case FF_UNLINK:
        CAIRN_ASSERTF(rename(d->backup, d->a) == 0, "faultfs: undo unlink %s: %s", d->a,
                      strerror(errno));
        free(d->backup);
        d->backup = NULL;
        break;
    case FF_RENAME:
        CAIRN_ASSERTF(rename(d->b, d->a) == 0, "faultfs: undo rename %s: %s", d->b,
                      strerror(errno));
        if (d->backup) {
            CAIRN_ASSERTF(rename(d->backup, d->b) == 0, "faultfs: restore %s: %s", d->b,
                          strerror(errno));
            free(d->backup);
            d->backup = NULL;
        }
        break;
    }
    dirop_free(d);
}

/* A hidden name in the same directory, where a file waits for a sync_dir. */
static char *backup_name(struct faultfs *f, const char *path)
{
    char *dir = dir_of(path);
    CAIRN_ASSERTF(dir, "faultfs: out of memory");
    char buf[CAIRN_PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s/" FF_HIDDEN_PREFIX "%llu", dir,
                     (unsigned long long)++f->backup_seq);
    free(dir);
    CAIRN_ASSERTF(n > 0 && (size_t)n < sizeof buf, "faultfs: path too long");
    return xstrdup(buf);
}

/* --- the seam ------------------------------------------------------------- */

static struct ff_handle *handle_get(struct faultfs *f, int fd)
{
    return fd < 0 ? NULL : hmap_get(&f->handles, (uint64_t)fd);
}

/* Opens without O_CREAT first, so a create is known and can be recorded. */
static int ff_open(struct raftio_fs *fs, const char *path, int flags, int *fd)
{
    struct faultfs *f = ff_of(fs);
    pthread_mutex_lock(&f->mu);
    int rc = ff_fault(f, FAULTFS_OPEN);
    int real = -1, created = 0;
    if (rc == 0) {
        real = open(path, O_RDWR | O_CLOEXEC);
        if (real >= 0 && (flags & RAFTIO_OPEN_CREATE) && (flags & RAFTIO_OPEN_EXCL)) {
            close(real);
            real = -1;
            rc = CAIRN_EEXIST;
        } else if (real < 0 && errno == ENOENT && (flags & RAFTIO_OPEN_CREATE)) {
            real = open(path, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0644);
            created = real >= 0;
        }
        if (real < 0 && rc == 0)
            rc = err_now();
    }
    if (rc == 0) {
        struct ff_handle *h = xmalloc(sizeof *h);
        h->real_fd = real;
        h->file = file_get(f, real);
        h->file->handles++;
        *fd = f->next_handle++;
        CAIRN_ASSERTF(hmap_put(&f->handles, (uint64_t)*fd, h) == 0, "faultfs: out of memory");
        if (created)
            dirop_push(f, FF_CREATE, path, NULL, NULL);
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int ff_close(struct raftio_fs *fs, int fd)
{
    struct faultfs *f = ff_of(fs);
    pthread_mutex_lock(&f->mu);
    struct ff_handle *h = fd < 0 ? NULL : hmap_del(&f->handles, (uint64_t)fd);
    if (h) {
        close(h->real_fd);
        h->file->handles--;
        file_maybe_release(f, h->file);
        free(h);
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static int ff_pread(struct raftio_fs *fs, int fd, void *p, size_t n, uint64_t off, size_t *got)
{
    struct faultfs *f = ff_of(fs);
    pthread_mutex_lock(&f->mu);
    int rc = ff_fault(f, FAULTFS_PREAD);
    struct ff_handle *h = handle_get(f, fd);
    if (rc == 0 && !h)
        rc = CAIRN_EBADF;
    if (rc == 0)
        rc = raftio_fs_posix()->ops->pread(raftio_fs_posix(), h->real_fd, p, n, off, got);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int ff_pwrite(struct raftio_fs *fs, int fd, const void *p, size_t n, uint64_t off)
{
    struct faultfs *f = ff_of(fs);
    pthread_mutex_lock(&f->mu);
    int rc = ff_fault(f, FAULTFS_PWRITE);
    struct ff_handle *h = handle_get(f, fd);
    if (!h) {
        pthread_mutex_unlock(&f->mu);
        return CAIRN_EBADF;
    }
    /* A failing write first writes half: a short write, then the error. */
    size_t len = rc ? n / 2 : n;
    if (len > 0) {
        change_record(h->file, 1, off, len);
        must_pwrite(h->real_fd, p, len, off);
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int ff_sync_file(struct raftio_fs *fs, int fd, enum faultfs_op op)
{
    struct faultfs *f = ff_of(fs);
    pthread_mutex_lock(&f->mu);
    void (*hook)(void *) = f->hook;
    void *ctx = f->hook_ctx;
    pthread_mutex_unlock(&f->mu);
    if (hook)
        hook(ctx);
    pthread_mutex_lock(&f->mu);
    int rc = ff_fault(f, op);
    struct ff_handle *h = handle_get(f, fd);
    if (rc == 0 && !h)
        rc = CAIRN_EBADF;
    if (rc == 0)
        changes_free(h->file);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int ff_fdatasync(struct raftio_fs *fs, int fd)
{
    return ff_sync_file(fs, fd, FAULTFS_FDATASYNC);
}

static int ff_fsync(struct raftio_fs *fs, int fd) { return ff_sync_file(fs, fd, FAULTFS_FSYNC); }

static int ff_ftruncate(struct raftio_fs *fs, int fd, uint64_t size)
{
    struct faultfs *f = ff_of(fs);
    pthread_mutex_lock(&f->mu);
    int rc = ff_fault(f, FAULTFS_FTRUNCATE);
    struct ff_handle *h = handle_get(f, fd);
    if (rc == 0 && !h)
        rc = CAIRN_EBADF;
    if (rc == 0) {
        change_record(h->file, 0, size, 0);
        must_truncate(h->real_fd, size);
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int ff_fsize(struct raftio_fs *fs, int fd, uint64_t *size)
{
    struct faultfs *f = ff_of(fs);
    pthread_mutex_lock(&f->mu);
    struct ff_handle *h = handle_get(f, fd);
    int rc = h ? 0 : CAIRN_EBADF;
    if (h)
        *size = fd_size(h->real_fd);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* A replaced target is first hard-linked under a hidden name, so a crash
 * before the directory sync can bring it back. */
static int ff_rename(struct raftio_fs *fs, const char *from, const char *to)
{
    struct faultfs *f = ff_of(fs);
    pthread_mutex_lock(&f->mu);
    int rc = ff_fault(f, FAULTFS_RENAME);
    char *backup = NULL;
    struct stat st;
    if (rc == 0 && lstat(from, &st) != 0)
        rc = err_now();
    if (rc == 0 && lstat(to, &st) == 0) {
        backup = backup_name(f, to);
        if (link(to, backup) != 0)
            rc = err_now();
    }
    if (rc == 0 && rename(from, to) != 0) {
        rc = err_now();
        if (backup)
            unlink(backup);
    }
    if (rc == 0)
        dirop_push(f, FF_RENAME, from, to, backup);
    else
        free(backup);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int ff_unlink(struct raftio_fs *fs, const char *path)
{
    struct faultfs *f = ff_of(fs);
    pthread_mutex_lock(&f->mu);
    int rc = ff_fault(f, FAULTFS_UNLINK);
    if (rc == 0) {
        char *backup = backup_name(f, path);
        if (rename(path, backup) != 0) {
            rc = err_now();
            free(backup);
        } else {
            dirop_push(f, FF_UNLINK, path, NULL, backup);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int ff_mkdir(struct raftio_fs *fs, const char *path)
{
    struct faultfs *f = ff_of(fs);
    pthread_mutex_lock(&f->mu);
    int rc = ff_fault(f, FAULTFS_MKDIR);
    if (rc == 0)
        rc = raftio_fs_posix()->ops->mkdir(raftio_fs_posix(), path);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* Makes the recorded changes of this directory durable, keeping the order
 * of the others. */
static int ff_sync_dir(struct raftio_fs *fs, const char *path)
{
    struct faultfs *f = ff_of(fs);
    pthread_mutex_lock(&f->mu);
    int rc = ff_fault(f, FAULTFS_SYNC_DIR);
    if (rc == 0) {
        size_t kept = 0;
        for (size_t i = 0; i < f->n_dirops; i++) {
            if (strcmp(f->dirops[i].dir, path) == 0)
                dirop_keep(&f->dirops[i]);
            else
                f->dirops[kept++] = f->dirops[i];
        }
        f->n_dirops = kept;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int ff_list(struct raftio_fs *fs, const char *dir, struct raftio_names *out)
{
    struct faultfs *f = ff_of(fs);
    pthread_mutex_lock(&f->mu);
    int rc = ff_fault(f, FAULTFS_LIST);
    if (rc == 0)
        rc = raftio_fs_posix()->ops->list(raftio_fs_posix(), dir, out);
    if (rc == 0) {
        size_t kept = 0;
        for (size_t i = 0; i < out->n; i++) {
            if (strncmp(out->v[i], FF_HIDDEN_PREFIX, strlen(FF_HIDDEN_PREFIX)) == 0)
                free(out->v[i]);
            else
                out->v[kept++] = out->v[i];
        }
        out->n = kept;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static const struct raftio_fs_ops faultfs_ops = {
    .open = ff_open,
    .close = ff_close,
    .pread = ff_pread,
    .pwrite = ff_pwrite,
    .fdatasync = ff_fdatasync,
    .fsync = ff_fsync,
    .ftruncate = ff_ftruncate,
    .fsize = ff_fsize,
    .rename = ff_rename,
    .unlink = ff_unlink,
    .mkdir = ff_mkdir,
    .sync_dir = ff_sync_dir,
    .list = ff_list,
};

/* --- control -------------------------------------------------------------- */

int faultfs_new(struct faultfs **out)
{
    struct faultfs *f = calloc(1, sizeof *f);
    if (!f)
        return CAIRN_ENOMEM;
    f->fs.ops = &faultfs_ops;
    pthread_mutex_init(&f->mu, NULL);
    hmap_init(&f->handles);
    f->next_handle = FF_HANDLE_FIRST;
    *out = f;
    return 0;
}

struct raftio_fs *faultfs_fs(struct faultfs *f) { return &f->fs; }

/* Closes every handle and forgets every record (the records' effects stay
 * on disk as they are). */
static void ff_forget_all(struct faultfs *f)
{
    uint64_t key;
    void *val;
    for (size_t it = 0; hmap_next(&f->handles, &it, &key, &val);) {
        struct ff_handle *h = val;
        close(h->real_fd);
        free(h);
    }
    hmap_free(&f->handles);
    hmap_init(&f->handles);
    while (f->files) {
        struct ff_file *x = f->files;
        f->files = x->next;
        changes_free(x);
        close(x->fd);
        free(x->ch);
        free(x);
    }
}

void faultfs_free(struct faultfs *f)
{
    if (!f)
        return;
    /* Whatever was not synced stays as it is on disk; hidden files go. */
    for (size_t i = 0; i < f->n_dirops; i++)
        dirop_keep(&f->dirops[i]);
    free(f->dirops);
    ff_forget_all(f);
    hmap_free(&f->handles);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void faultfs_fail(struct faultfs *f, enum faultfs_op op, uint32_t nth, int err)
{
    CAIRN_ASSERT(op < FAULTFS_OP_COUNT && err < 0);
    pthread_mutex_lock(&f->mu);
    f->fail_always[op] = nth == FAULTFS_ALWAYS;
    f->fail_nth[op] = nth;
    f->fail_err[op] = err;
    pthread_mutex_unlock(&f->mu);
}

void faultfs_clear(struct faultfs *f)
{
    pthread_mutex_lock(&f->mu);
    memset(f->fail_nth, 0, sizeof f->fail_nth);
    memset(f->fail_always, 0, sizeof f->fail_always);
    pthread_mutex_unlock(&f->mu);
}

uint64_t faultfs_count(struct faultfs *f, enum faultfs_op op)
{
    CAIRN_ASSERT(op < FAULTFS_OP_COUNT);
    pthread_mutex_lock(&f->mu);
    uint64_t n = f->counts[op];
    pthread_mutex_unlock(&f->mu);
    return n;
}

uint64_t faultfs_unsynced(struct faultfs *f)
{
    pthread_mutex_lock(&f->mu);
    uint64_t n = f->n_dirops;
    for (struct ff_file *x = f->files; x; x = x->next)
        n += x->n_ch;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void faultfs_set_sync_hook(struct faultfs *f, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&f->mu);
    f->hook = fn;
    f->hook_ctx = ctx;
    pthread_mutex_unlock(&f->mu);
}

/* Data first (through each file's own descriptor, whatever its name now),
 * then the directory changes, newest first, so every undo finds the names
 * as the change left them. */
void faultfs_crash(struct faultfs *f, enum faultfs_crash_mode mode, struct prng *rng)
{
    CAIRN_ASSERT(mode == FAULTFS_CRASH_LOSE_UNSYNCED || rng);
    pthread_mutex_lock(&f->mu);
    for (struct ff_file *x = f->files; x; x = x->next)
        file_crash(x, mode, rng);
    size_t keep = 0;
    if (mode == FAULTFS_CRASH_RANDOM && f->n_dirops > 0)
        keep = (size_t)prng_below(rng, f->n_dirops + 1);
    for (size_t i = f->n_dirops; i > keep; i--)
        dirop_undo(&f->dirops[i - 1]);
    for (size_t i = 0; i < keep; i++)
        dirop_keep(&f->dirops[i]);
    f->n_dirops = 0;
    ff_forget_all(f);
    pthread_mutex_unlock(&f->mu);
}

int faultfs_corrupt(const char *path, uint64_t off, uint8_t mask)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return err_now();
    uint8_t b;
    int rc = 0;
    if (pread(fd, &b, 1, (off_t)off) != 1)
        rc = CAIRN_EINVAL;
    b ^= mask;
    if (rc == 0 && pwrite(fd, &b, 1, (off_t)off) != 1)
        rc = err_now();
    close(fd);
    return rc;
}
