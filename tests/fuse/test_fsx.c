/* test_fsx.c: a seeded random-operation checker (the idea of fsx and
 * fsrand). One random sequence of file operations (writes at random
 * offsets and lengths, some across the 64 MiB chunk boundary or far out
 * in a sparse file, truncates up and down, reads, renames, hard links,
 * unlinks, re-creates, fsync, close and reopen, handles kept open over an
 * unlink)
 * is applied step by step to the mount and to a local directory (under
 * the case's tmpdir, on the local disk): after every step the return
 * values and errno of both sides must agree, and so must the touched
 * file's size and contents; every full_every steps every name, every open
 * handle and both directory listings are compared whole, and every
 * remount_every steps after closing everything and mounting again (so
 * nothing comes from the old mount's caches). A failure prints
 * the step, the operation, the steps before it and the seed (CAIRN_SEED=...
 * replays the case).
 *
 * CAIRN_FSX_OPS=N overrides the number of steps of every case. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/limits.h"
#include "fx.h"

/* File names the sequence works on (two directories: renames cross them). */
static const char *const fsx_names[] = {"f0", "f1", "f2", "f3", "d/g0", "d/g1"};
#define FSX_NAMES ((uint32_t)(sizeof fsx_names / sizeof fsx_names[0]))
/* Handles open at once (each one fd on the mount and one on the local side). */
#define FSX_HANDLES 3
/* Steps remembered for a failure report, and their descriptions' size. */
#define FSX_HIST 16
#define FSX_DESC 200
#define FSX_PATH 1200
/* Comparison piece; largest single read or write. */
#define FSX_PIECE (1024 * 1024)
#define FSX_IO_MAX (3 * 1024 * 1024)
/* Touched files up to this size are compared whole after a step; larger
 * ones around the operation's range, at both ends and in random windows. */
#define FSX_TOUCH_FULL (2 * 1024 * 1024)
#define FSX_WINDOW (64 * 1024)

struct fsx_cfg {
    uint32_t ops;           /* steps (CAIRN_FSX_OPS overrides) */
    uint32_t full_every;    /* full compare every this many steps */
    uint32_t remount_every; /* close all, new mount, full compare */
    uint32_t far_pct;       /* % of offsets and sizes at the chunk boundary or far out */
    uint64_t small_max;     /* the others stay below this */
};

struct fsx_handle {
    int used;
    int fd_m, fd_l; /* on the mount, on the local directory */
    char name[16];  /* the name it was opened by (for messages) */
};

static struct {
    const struct fsx_cfg *cfg;
    struct prng *rng;
    char root_m[FSX_PATH], root_l[FSX_PATH];
    struct fsx_handle h[FSX_HANDLES];
    uint32_t step;
    char desc[FSX_DESC];
    char hist[FSX_HIST][FSX_DESC];
    uint8_t *wbuf, *rb_m, *rb_l;
    /* Steps by the first word of their description; agreed failures. */
    char kind[16][24];
    uint32_t kind_n[16];
    uint32_t n_kinds, n_errors;
} S;

/* Report a disagreement: the last steps, then the failure with the step. */
__attribute__((format(printf, 2, 3))) static _Noreturn void fsx_fail(int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "fsx: the last steps:\n");
    uint32_t first = S.step >= FSX_HIST ? S.step - FSX_HIST + 1 : 0;
    for (uint32_t i = first; i <= S.step; i++)
        fprintf(stderr, "  step %u: %s\n", i, S.hist[i % FSX_HIST]);
    test_fail(__FILE__, line, "fsx step %u (%s), seed %llu: %s", S.step, S.desc,
              (unsigned long long)test_seed(), msg);
}
#define FSX_FAIL(...) fsx_fail(__LINE__, __VA_ARGS__)

__attribute__((format(printf, 1, 2))) static void fsx_desc(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(S.desc, sizeof S.desc, fmt, ap);
    va_end(ap);
    snprintf(S.hist[S.step % FSX_HIST], FSX_DESC, "%s", S.desc);
    char word[24];
    snprintf(word, sizeof word, "%.*s", (int)strcspn(S.desc, " "), S.desc);
    uint32_t k = 0;
    while (k < S.n_kinds && strcmp(S.kind[k], word) != 0)
        k++;
    if (k == S.n_kinds && k < 16)
        snprintf(S.kind[S.n_kinds++], sizeof S.kind[0], "%s", word);
    if (k < 16)
        S.kind_n[k]++;
}

static const char *fsx_path(int mount, const char *name)
{
    static char ring[4][FSX_PATH + 32];
    static unsigned next;
    char *out = ring[next++ % 4];
    snprintf(out, sizeof ring[0], "%s/%s", mount ? S.root_m : S.root_l, name);
    return out;
}

/* Both sides must have returned the same value, and the same errno when
 * that value is -1. */
static void fsx_agree(const char *what, long long rm, int em, long long rl, int el)
{
    if (rm < 0)
        S.n_errors++;
    if (rm != rl || (rm < 0 && em != el))
        FSX_FAIL("%s: mount %lld %s, local %lld %s", what, rm, rm < 0 ? fx_errname(em) : "", rl,
                 rl < 0 ? fx_errname(el) : "");
}

/* Compare [off, off + len) of two open files piece by piece. */
static void fsx_cmp_range(int fd_m, int fd_l, uint64_t off, uint64_t len)
{
    while (len > 0) {
        size_t n = len < FSX_PIECE ? (size_t)len : FSX_PIECE;
        errno = 0;
        ssize_t rm = pread(fd_m, S.rb_m, n, (off_t)off);
        int em = errno;
        errno = 0;
        ssize_t rl = pread(fd_l, S.rb_l, n, (off_t)off);
        fsx_agree("pread (compare)", rm, em, rl, errno);
        if (rm <= 0)
            return;
        if (memcmp(S.rb_m, S.rb_l, (size_t)rm) != 0) {
            size_t i = 0;
            while (S.rb_m[i] == S.rb_l[i])
                i++;
            FSX_FAIL("contents differ at offset %llu: mount 0x%02x, local 0x%02x",
                     (unsigned long long)(off + i), S.rb_m[i], S.rb_l[i]);
        }
        off += (uint64_t)rm;
        len -= (uint64_t)rm;
    }
}

static void fsx_cmp_window(int fd_m, int fd_l, uint64_t size, uint64_t off, uint64_t len)
{
    if (off >= size)
        return;
    if (len > size - off)
        len = size - off;
    fsx_cmp_range(fd_m, fd_l, off, len);
}

/* Sizes must agree; contents whole when full or small, else around the
 * touched range [off, off + len) (len 0: none), at both ends and in two
 * random windows. */
static void fsx_cmp_fds(int fd_m, int fd_l, int full, uint64_t off, uint64_t len)
{
    struct stat sm, sl;
    SYS(fstat(fd_m, &sm));
    SYS(fstat(fd_l, &sl));
    if (sm.st_size != sl.st_size)
        FSX_FAIL("size: mount %lld, local %lld", (long long)sm.st_size, (long long)sl.st_size);
    if (sm.st_nlink != sl.st_nlink)
        FSX_FAIL("nlink: mount %lu, local %lu", (unsigned long)sm.st_nlink,
                 (unsigned long)sl.st_nlink);
    uint64_t size = (uint64_t)sm.st_size;
    if (full || size <= FSX_TOUCH_FULL) {
        fsx_cmp_range(fd_m, fd_l, 0, size);
        return;
    }
    if (len > 0) {
        uint64_t lo = off > FSX_WINDOW ? off - FSX_WINDOW : 0;
        fsx_cmp_window(fd_m, fd_l, size, lo, off - lo + len + FSX_WINDOW);
    }
    fsx_cmp_window(fd_m, fd_l, size, 0, FSX_WINDOW);
    fsx_cmp_window(fd_m, fd_l, size, size - FSX_WINDOW, FSX_WINDOW);
    for (int i = 0; i < 2; i++)
        fsx_cmp_window(fd_m, fd_l, size, prng_below(S.rng, size), FSX_WINDOW);
}

/* Open a name on both sides read-only and compare: both missing, or the
 * same size, link count and contents. */
static void fsx_cmp_name(const char *name, int full, uint64_t off, uint64_t len)
{
    errno = 0;
    int fm = open(fsx_path(1, name), O_RDONLY);
    int em = errno;
    errno = 0;
    int fl = open(fsx_path(0, name), O_RDONLY);
    int el = errno;
    fsx_agree(name, fm < 0 ? -1 : 0, em, fl < 0 ? -1 : 0, el);
    if (fm < 0)
        return;
    fsx_cmp_fds(fm, fl, full, off, len);
    errno = 0;
    int rm = close(fm);
    em = errno;
    errno = 0;
    int rl = close(fl);
    fsx_agree("close (compare)", rm, em, rl, errno);
}

/* The sorted names of a directory, one string "a b c". */
static void fsx_listing(const char *dir, char *out, size_t cap)
{
    char names[32][256];
    int n = 0;
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "opendir %s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        CHECK(n < 32);
        snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    out[0] = '\0';
    size_t used = 0;
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s ", names[i]);
}

static void fsx_cmp_all(void)
{
    static const char *const dirs[] = {"", "d"};
    for (int i = 0; i < 2; i++) {
        char lm[2048], ll[2048];
        fsx_listing(fsx_path(1, dirs[i]), lm, sizeof lm);
        fsx_listing(fsx_path(0, dirs[i]), ll, sizeof ll);
        if (strcmp(lm, ll) != 0)
            FSX_FAIL("listing of /%s: mount [%s], local [%s]", dirs[i], lm, ll);
    }
    for (uint32_t i = 0; i < FSX_NAMES; i++)
        fsx_cmp_name(fsx_names[i], 1, 0, 0);
    for (int i = 0; i < FSX_HANDLES; i++)
        if (S.h[i].used)
            fsx_cmp_fds(S.h[i].fd_m, S.h[i].fd_l, 1, 0, 0);
}

/* --- random choices --- */

/* An offset or a size: mostly below small_max; sometimes around the first
 * chunk boundary, or far out (a sparse file past it). */
static uint64_t fsx_offset(void)
{
    uint64_t p = prng_below(S.rng, 100);
    if (p < S.cfg->far_pct / 2 + S.cfg->far_pct % 2)
        return CAIRN_CHUNK_SIZE - FSX_IO_MAX + prng_below(S.rng, 2 * FSX_IO_MAX);
    if (p < S.cfg->far_pct)
        return CAIRN_CHUNK_SIZE + 8u * 1024 * 1024 + prng_below(S.rng, 16u * 1024 * 1024);
    return prng_below(S.rng, S.cfg->small_max);
}

static size_t fsx_len(void)
{
    uint64_t p = prng_below(S.rng, 100);
    if (p < 3)
        return 0;
    if (p < 55)
        return 1 + prng_below(S.rng, 16 * 1024);
    if (p < 90)
        return 1 + prng_below(S.rng, 256 * 1024);
    return 1 + prng_below(S.rng, FSX_IO_MAX);
}

static const char *fsx_name(void) { return fsx_names[prng_below(S.rng, FSX_NAMES)]; }

/* A used handle at random, or -1. */
static int fsx_pick_handle(void)
{
    int used[FSX_HANDLES], n = 0;
    for (int i = 0; i < FSX_HANDLES; i++)
        if (S.h[i].used)
            used[n++] = i;
    return n ? used[prng_below(S.rng, (uint64_t)n)] : -1;
}

/* --- operations --- */

static void fsx_close_handle(int i)
{
    struct fsx_handle *h = &S.h[i];
    errno = 0;
    int rm = close(h->fd_m);
    int em = errno;
    errno = 0;
    int rl = close(h->fd_l);
    h->used = 0;
    fsx_agree("close", rm, em, rl, errno);
}

/* open(name, flags) on both sides into handle slot i. */
static void fsx_open_into(int i, const char *name, int flags)
{
    struct fsx_handle *h = &S.h[i];
    errno = 0;
    int fm = open(fsx_path(1, name), flags, 0644);
    int em = errno;
    errno = 0;
    int fl = open(fsx_path(0, name), flags, 0644);
    int el = errno;
    if (fm >= 0 && fl >= 0) {
        *h = (struct fsx_handle){.used = 1, .fd_m = fm, .fd_l = fl};
        snprintf(h->name, sizeof h->name, "%s", name);
        fsx_cmp_fds(fm, fl, 0, 0, 0);
        return;
    }
    if (fm >= 0)
        close(fm);
    if (fl >= 0)
        close(fl);
    fsx_agree("open", fm < 0 ? -1 : 0, em, fl < 0 ? -1 : 0, el);
}

static void op_open(void)
{
    int slot = -1;
    for (int i = 0; i < FSX_HANDLES && slot < 0; i++)
        if (!S.h[i].used)
            slot = i;
    const char *name = fsx_name();
    int flags = O_RDWR;
    if (prng_chance(S.rng, 4, 5)) {
        flags |= O_CREAT;
        if (prng_chance(S.rng, 1, 10))
            flags |= O_EXCL;
    }
    if (prng_chance(S.rng, 1, 10))
        flags |= O_TRUNC;
    if (prng_chance(S.rng, 1, 20))
        flags |= O_APPEND;
    if (slot < 0)
        slot = (int)prng_below(S.rng, FSX_HANDLES);
    fsx_desc("open %s%s%s%s%s -> h%d%s", name, flags & O_CREAT ? " O_CREAT" : "",
             flags & O_EXCL ? " O_EXCL" : "", flags & O_TRUNC ? " O_TRUNC" : "",
             flags & O_APPEND ? " O_APPEND" : "", slot,
             S.h[slot].used ? " (closing it first)" : "");
    if (S.h[slot].used)
        fsx_close_handle(slot);
    fsx_open_into(slot, name, flags);
}

static void op_write(int i)
{
    uint64_t off = fsx_offset();
    size_t len = fsx_len();
    fsx_desc("pwrite h%d (%s) off %llu len %zu", i, S.h[i].name, (unsigned long long)off, len);
    prng_fill(S.rng, S.wbuf, len);
    errno = 0;
    ssize_t rm = pwrite(S.h[i].fd_m, S.wbuf, len, (off_t)off);
    int em = errno;
    errno = 0;
    ssize_t rl = pwrite(S.h[i].fd_l, S.wbuf, len, (off_t)off);
    fsx_agree("pwrite", rm, em, rl, errno);
    fsx_cmp_fds(S.h[i].fd_m, S.h[i].fd_l, 0, off, len);
}

static void op_read(int i)
{
    uint64_t off = fsx_offset();
    size_t len = fsx_len();
    fsx_desc("pread h%d (%s) off %llu len %zu", i, S.h[i].name, (unsigned long long)off, len);
    errno = 0;
    ssize_t rm = pread(S.h[i].fd_m, S.rb_m, len, (off_t)off);
    int em = errno;
    errno = 0;
    ssize_t rl = pread(S.h[i].fd_l, S.rb_l, len, (off_t)off);
    fsx_agree("pread", rm, em, rl, errno);
    if (rm > 0 && memcmp(S.rb_m, S.rb_l, (size_t)rm) != 0)
        FSX_FAIL("pread: the bytes differ");
}

/* Truncate through a handle or by name; up or down. */
static void op_truncate(int i)
{
    uint64_t size = prng_chance(S.rng, 1, 8) ? 0 : fsx_offset();
    errno = 0;
    int rm, em, rl;
    if (i >= 0) {
        fsx_desc("ftruncate h%d (%s) to %llu", i, S.h[i].name, (unsigned long long)size);
        rm = ftruncate(S.h[i].fd_m, (off_t)size);
        em = errno;
        errno = 0;
        rl = ftruncate(S.h[i].fd_l, (off_t)size);
        fsx_agree("ftruncate", rm, em, rl, errno);
        fsx_cmp_fds(S.h[i].fd_m, S.h[i].fd_l, 0, size, 0);
        return;
    }
    const char *name = fsx_name();
    fsx_desc("truncate %s to %llu", name, (unsigned long long)size);
    rm = truncate(fsx_path(1, name), (off_t)size);
    em = errno;
    errno = 0;
    rl = truncate(fsx_path(0, name), (off_t)size);
    fsx_agree("truncate", rm, em, rl, errno);
    fsx_cmp_name(name, 0, size, 0);
}

/* open(O_WRONLY|O_CREAT) + pwrite + close by name: the write committed by
 * close, then read back through a fresh open. */
static void op_write_path(void)
{
    const char *name = fsx_name();
    uint64_t off = fsx_offset();
    size_t len = fsx_len();
    fsx_desc("open+pwrite+close %s off %llu len %zu", name, (unsigned long long)off, len);
    prng_fill(S.rng, S.wbuf, len);
    errno = 0;
    int fm = open(fsx_path(1, name), O_WRONLY | O_CREAT, 0644);
    int em = errno;
    errno = 0;
    int fl = open(fsx_path(0, name), O_WRONLY | O_CREAT, 0644);
    fsx_agree("open", fm < 0 ? -1 : 0, em, fl < 0 ? -1 : 0, errno);
    if (fm < 0)
        return;
    errno = 0;
    ssize_t wm = pwrite(fm, S.wbuf, len, (off_t)off);
    em = errno;
    errno = 0;
    ssize_t wl = pwrite(fl, S.wbuf, len, (off_t)off);
    fsx_agree("pwrite", wm, em, wl, errno);
    errno = 0;
    int cm = close(fm);
    em = errno;
    errno = 0;
    int cl = close(fl);
    fsx_agree("close", cm, em, cl, errno);
    fsx_cmp_name(name, 0, off, len);
}

static void op_rename(void)
{
    const char *a = fsx_name(), *b = fsx_name();
    fsx_desc("rename %s -> %s", a, b);
    errno = 0;
    int rm = rename(fsx_path(1, a), fsx_path(1, b));
    int em = errno;
    errno = 0;
    int rl = rename(fsx_path(0, a), fsx_path(0, b));
    fsx_agree("rename", rm, em, rl, errno);
    fsx_cmp_name(a, 0, 0, 0);
    fsx_cmp_name(b, 0, 0, 0);
}

/* A hard link: both names then share size, contents and nlink. */
static void op_link(void)
{
    const char *a = fsx_name(), *b = fsx_name();
    fsx_desc("link %s -> %s", a, b);
    errno = 0;
    int rm = link(fsx_path(1, a), fsx_path(1, b));
    int em = errno;
    errno = 0;
    int rl = link(fsx_path(0, a), fsx_path(0, b));
    fsx_agree("link", rm, em, rl, errno);
    fsx_cmp_name(b, 0, 0, 0);
}

static void op_unlink(void)
{
    const char *a = fsx_name();
    fsx_desc("unlink %s", a);
    errno = 0;
    int rm = unlink(fsx_path(1, a));
    int em = errno;
    errno = 0;
    int rl = unlink(fsx_path(0, a));
    fsx_agree("unlink", rm, em, rl, errno);
    fsx_cmp_name(a, 0, 0, 0);
}

static void op_stat(void)
{
    const char *a = fsx_name();
    fsx_desc("stat %s", a);
    struct stat sm, sl;
    errno = 0;
    int rm = stat(fsx_path(1, a), &sm);
    int em = errno;
    errno = 0;
    int rl = stat(fsx_path(0, a), &sl);
    fsx_agree("stat", rm, em, rl, errno);
    if (rm == 0 && (sm.st_size != sl.st_size || sm.st_nlink != sl.st_nlink ||
                    (sm.st_mode & 07777) != (sl.st_mode & 07777) || !S_ISREG(sm.st_mode)))
        FSX_FAIL("stat: mount size %lld nlink %lu mode 0%o, local %lld %lu 0%o",
                 (long long)sm.st_size, (unsigned long)sm.st_nlink, (unsigned)sm.st_mode,
                 (long long)sl.st_size, (unsigned long)sl.st_nlink, (unsigned)sl.st_mode);
}

static void op_fsync(int i)
{
    fsx_desc("fsync h%d (%s)", i, S.h[i].name);
    errno = 0;
    int rm = fsync(S.h[i].fd_m);
    int em = errno;
    errno = 0;
    int rl = fsync(S.h[i].fd_l);
    fsx_agree("fsync", rm, em, rl, errno);
}

/* Close a handle and open its name again (gone if it was unlinked). */
static void op_reopen(int i)
{
    char name[16];
    snprintf(name, sizeof name, "%s", S.h[i].name);
    fsx_desc("close h%d + reopen %s", i, name);
    fsx_close_handle(i);
    fsx_open_into(i, name, O_RDWR);
}

/* One step: an operation drawn by weight (handle operations fall back to
 * open when no handle is open). */
static void fsx_step(void)
{
    uint64_t p = prng_below(S.rng, 100);
    int h = fsx_pick_handle();
    if (p < 28 && h >= 0)
        op_write(h);
    else if (p < 33)
        op_write_path();
    else if (p < 48 && h >= 0)
        op_read(h);
    else if (p < 54 && h >= 0)
        op_truncate(h);
    else if (p < 59)
        op_truncate(-1);
    else if (p < 66 && h >= 0) {
        fsx_desc("close h%d (%s)", h, S.h[h].name);
        fsx_close_handle(h);
    } else if (p < 71 && h >= 0)
        op_reopen(h);
    else if (p < 76)
        op_rename();
    else if (p < 78)
        op_link();
    else if (p < 83)
        op_unlink();
    else if (p < 87 && h >= 0)
        op_fsync(h);
    else if (p < 92)
        op_stat();
    else
        op_open();
}

static void fsx_close_all(void)
{
    for (int i = 0; i < FSX_HANDLES; i++)
        if (S.h[i].used)
            fsx_close_handle(i);
}

static void fsx_run(const struct fsx_cfg *cfg)
{
    memset(&S, 0, sizeof S);
    S.cfg = cfg;
    S.rng = test_rng();
    fx_begin();
    snprintf(S.root_m, sizeof S.root_m, "%s", fx_dir());
    snprintf(S.root_l, sizeof S.root_l, "%s/ref", test_tmpdir());
    SYS(mkdir(S.root_l, 0777));
    SYS(mkdir(fsx_path(1, "d"), 0777));
    SYS(mkdir(fsx_path(0, "d"), 0777));
    S.wbuf = malloc(FSX_IO_MAX);
    S.rb_m = malloc(FSX_IO_MAX);
    S.rb_l = malloc(FSX_IO_MAX);
    CHECK(S.wbuf && S.rb_m && S.rb_l);
    uint32_t ops = cfg->ops;
    const char *env = getenv("CAIRN_FSX_OPS");
    if (env && *env)
        ops = (uint32_t)strtoul(env, NULL, 10);
    for (S.step = 0; S.step < ops; S.step++) {
        fsx_step();
        if ((S.step + 1) % cfg->remount_every == 0) {
            snprintf(S.desc, sizeof S.desc, "close all, remount, full compare after step %u",
                     S.step);
            fsx_close_all();
            fx_remount();
            fsx_cmp_all();
        } else if ((S.step + 1) % cfg->full_every == 0) {
            snprintf(S.desc, sizeof S.desc, "full compare after step %u", S.step);
            fsx_cmp_all();
        }
    }
    snprintf(S.desc, sizeof S.desc, "close all + full compare at the end");
    fsx_close_all();
    fsx_cmp_all();
    fprintf(stderr, "fsx: %u steps agreed (seed %llu), %u calls failed alike on both sides:", ops,
            (unsigned long long)test_seed(), S.n_errors);
    for (uint32_t k = 0; k < S.n_kinds; k++)
        fprintf(stderr, " %s %u", S.kind[k], S.kind_n[k]);
    fprintf(stderr, "\n");
    free(S.wbuf);
    free(S.rb_m);
    free(S.rb_l);
    fx_end();
}

/* Small files, many namespace operations and handles: thousands of steps. */
TEST_T(fsx_small_files, 240)
{
    static const struct fsx_cfg cfg = {.ops = 3000,
                                       .full_every = 100,
                                       .remount_every = 1000,
                                       .far_pct = 0,
                                       .small_max = 256 * 1024};
    fsx_run(&cfg);
}

/* Files of a few MiB, some writes and truncates across the 64 MiB chunk
 * boundary and far out in sparse files. */
TEST_T(fsx_large_sparse, 240)
{
    static const struct fsx_cfg cfg = {.ops = 1500,
                                       .full_every = 150,
                                       .remount_every = 750,
                                       .far_pct = 4,
                                       .small_max = 8 * 1024 * 1024};
    fsx_run(&cfg);
}
