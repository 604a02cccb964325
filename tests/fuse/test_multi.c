/* test_multi.c: what shows only with more than one mount or with a server
 * going away under a mount: two mounts A and B of one cluster (close-to-open
 * consistency both ways, flock and fcntl byte-range locks excluding across
 * the mounts, a killed mount's locks released when its lock session
 * expires, a file open on B unlinked by A under --hold-open), and a chunk
 * server killed under a mount that keeps reading and writing (goal 2 and
 * goal 3 files, three chunk servers) without an error.
 *
 * Each case starts its own cluster (one `cairn meta`, chunk servers) and
 * its mounts under test_tmpdir() (tests/lib/mount_harness.h). Lock
 * attempts on mount B run in forked children (a process per lock owner, as
 * real lockers are); the test process holds mount A's locks. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/time.h"
#include "fx.h"
#include "mount_harness.h"

#define MM_MOUNT_WAIT_MS 20000u
#define MM_CHUNK_WAIT_MS 20000u
/* The mount's lock session lease (docs/fuse.md) and the slack allowed
 * beyond it for the expiry to be applied and the waiter's poll to see it. */
#define MM_LOCK_LEASE_MS 10000u
#define MM_LOCK_SLACK_MS 20000u

static struct {
    struct cluster c;
    struct mount_proc a, b;
    int has_b;
} M;

static const char *const mm_mount_args[] = {"--allow-other", NULL};

/* A cluster of one metadata server and `chunks` chunk servers, mount A and
 * (if two) mount B on it. */
static void mm_begin_args(uint32_t chunks, int two, const char *const *b_args)
{
    const char *tmp = test_tmpdir();
    memset(&M, 0, sizeof M);
    SYS(chmod(tmp, 0711));
    struct cluster_opts co = {.n = 1, .seed = test_seed()};
    CHECK_OK(cluster_start(&M.c, tmp, &co, NULL));
    struct cluster_chunk_opts copt = {.scrub_rate = CLUSTER_SCRUB_OFF};
    for (uint32_t i = 0; i < chunks; i++) {
        int rc = cluster_chunk_add(&M.c, &copt, MM_CHUNK_WAIT_MS);
        CHECKF(rc >= 0, "chunk server %u: %s", i + 1, cairn_err_name(rc));
    }
    char dir[CLUSTER_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/ma", tmp);
    CHECK_OK(mount_start(&M.c, dir, mm_mount_args, MM_MOUNT_WAIT_MS, &M.a));
    if (two) {
        snprintf(dir, sizeof dir, "%s/mb", tmp);
        CHECK_OK(mount_start(&M.c, dir, b_args, MM_MOUNT_WAIT_MS, &M.b));
        M.has_b = 1;
    }
}

static void mm_begin(uint32_t chunks, int two) { mm_begin_args(chunks, two, mm_mount_args); }

static void mm_end(void)
{
    CHECK_OK(mount_stop(&M.a));
    if (M.has_b)
        CHECK_OK(mount_stop(&M.b));
    cluster_stop(&M.c);
}

/* Path of name on mount A (mount 0) or B (1), in a ring of buffers. */
static const char *mm_p(int mount, const char *name)
{
    static char ring[8][2 * CLUSTER_PATH_MAX];
    static unsigned next;
    char *out = ring[next++ % 8];
    int n = snprintf(out, sizeof ring[0], "%s/%s", mount ? M.b.dir : M.a.dir, name);
    CHECK(n > 0 && (size_t)n < sizeof ring[0]);
    return out;
}

/* Write data[0..len) at off (O_TRUNC if trunc) and close: every call must
 * succeed. */
static void mm_write(const char *path, const uint8_t *data, size_t len, off_t off, int trunc)
{
    int fd = open(path, O_WRONLY | O_CREAT | (trunc ? O_TRUNC : 0), 0644);
    CHECKF(fd >= 0, "open %s: %s", path, strerror(errno));
    ssize_t n = pwrite(fd, data, len, off);
    CHECKF(n == (ssize_t)len, "pwrite %s (%zu bytes at %lld): %zd %s", path, len, (long long)off, n,
           n < 0 ? strerror(errno) : "short");
    CHECKF(close(fd) == 0, "close %s: %s", path, strerror(errno));
}

/* The whole file must be exactly want[0..len). */
static void mm_expect(const char *path, const uint8_t *want, size_t len)
{
    int fd = open(path, O_RDONLY);
    CHECKF(fd >= 0, "open %s: %s", path, strerror(errno));
    uint8_t *got = malloc(len + 4096);
    CHECK(got != NULL);
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, got + have, len + 4096 - have);
        CHECKF(n >= 0, "read %s at %zu: %s", path, have, strerror(errno));
        if (n == 0 || have + (size_t)n == len + 4096) {
            have += (size_t)n;
            break;
        }
        have += (size_t)n;
    }
    CHECKF(close(fd) == 0, "close %s: %s", path, strerror(errno));
    CHECKF(have == len, "%s: read %zu bytes, expected %zu", path, have, len);
    for (size_t i = 0; i < len; i++)
        CHECKF(got[i] == want[i], "%s: byte %zu is 0x%02x, expected 0x%02x", path, i, got[i],
               want[i]);
    free(got);
}

static uint8_t *mm_random(size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    CHECK(p != NULL);
    prng_fill(test_rng(), p, len);
    return p;
}

/* A file written and closed on one mount is read whole on the other: new,
 * overwritten shorter (O_TRUNC), rewritten in place at the same size (the
 * reader's cached pages must go), appended to, and in the other
 * direction. */
TEST_T(multi_close_to_open, 90)
{
    mm_begin(2, 1);
    const size_t big = 3 * 1024 * 1024 + 123, small = 1024 * 1024 + 7;
    uint8_t *d1 = mm_random(big), *d2 = mm_random(big);
    mm_write(mm_p(0, "f"), d1, big, 0, 1);
    mm_expect(mm_p(1, "f"), d1, big);
    mm_write(mm_p(0, "f"), d2, small, 0, 1);
    mm_expect(mm_p(1, "f"), d2, small);
    /* Same size, other bytes: B read the file just before. */
    mm_write(mm_p(0, "f"), d1, small, 0, 0);
    mm_expect(mm_p(1, "f"), d1, small);
    /* Grow by appending: the old part and the new. */
    memcpy(d2, d1, small);
    mm_write(mm_p(0, "f"), d2 + small, big - small, (off_t)small, 0);
    mm_expect(mm_p(1, "f"), d2, big);
    /* B writes a part, A reads the whole. */
    memcpy(d2 + 1000, d1 + 5000, 200000);
    mm_write(mm_p(1, "f"), d2 + 1000, 200000, 1000, 0);
    mm_expect(mm_p(0, "f"), d2, big);
    /* A second file from B, read on A; an overwrite from A read on B. */
    mm_write(mm_p(1, "g"), d1, 4096, 0, 1);
    mm_expect(mm_p(0, "g"), d1, 4096);
    mm_write(mm_p(0, "g"), d2, 4096, 0, 1);
    mm_expect(mm_p(1, "g"), d2, 4096);
    free(d1);
    free(d2);
    mm_end();
}

/* pread of the whole [0, len) of fd must be exactly want. */
static void mm_expect_fd(int fd, const uint8_t *want, size_t len)
{
    uint8_t *got = malloc(len + 1);
    CHECK(got != NULL);
    ssize_t n = pread(fd, got, len + 1, 0);
    CHECKF(n == (ssize_t)len, "pread: %zd, expected %zu (%s)", n, len,
           n < 0 ? strerror(errno) : "");
    for (size_t i = 0; i < len; i++)
        CHECKF(got[i] == want[i], "byte %zu is 0x%02x, expected 0x%02x", i, got[i], want[i]);
    free(got);
}

/* With --hold-open on B, a file open on B stays readable and writable
 * there when mount A unlinks it or renames another file over it; A's new
 * file of the same name is another file. */
TEST_T(multi_unlinked_elsewhere, 90)
{
    static const char *const hold_args[] = {"--allow-other", "--hold-open", NULL};
    mm_begin_args(2, 1, hold_args);
    const size_t len = 2 * 1024 * 1024;
    uint8_t *d1 = mm_random(len), *d2 = mm_random(len);
    mm_write(mm_p(0, "u"), d1, len, 0, 1);
    mm_write(mm_p(0, "v"), d1, len, 0, 1);
    mm_write(mm_p(0, "w"), d2, 4096, 0, 1);
    int fu = open(mm_p(1, "u"), O_RDWR), fv = open(mm_p(1, "v"), O_RDONLY);
    SYS(fu);
    SYS(fv);
    mm_expect_fd(fu, d1, len); /* read through B before the unlink */
    SYS(unlink(mm_p(0, "u")));
    SYS(rename(mm_p(0, "w"), mm_p(0, "v")));
    mm_write(mm_p(0, "u"), d2, 8192, 0, 1);
    /* B's handles still see the old files, whole. */
    mm_expect_fd(fu, d1, len);
    mm_expect_fd(fv, d1, len);
    memcpy(d1 + 1000000, d2, 100000);
    CHECK_EQ(pwrite(fu, d2, 100000, 1000000), 100000);
    SYS(fsync(fu));
    mm_expect_fd(fu, d1, len);
    struct stat st;
    SYS(fstat(fu, &st));
    CHECK_EQ(st.st_nlink, 0);
    SYS(close(fu));
    SYS(close(fv));
    /* The names hold A's new files. */
    mm_expect(mm_p(1, "u"), d2, 8192);
    mm_expect(mm_p(1, "v"), d2, 4096);
    free(d1);
    free(d2);
    mm_end();
}

/* --- locks --- */

/* One lock attempt in a child (the lock dies with the child). */
struct mm_lock {
    const char *path;
    int use_fcntl;
    int op;     /* flock: LOCK_*; fcntl: F_SETLK or F_SETLKW */
    short type; /* fcntl: F_RDLCK, F_WRLCK */
    off_t start, len;
};

static int mm_lock_child(void *arg)
{
    const struct mm_lock *l = arg;
    int fd = open(l->path, O_RDWR);
    if (fd < 0)
        return errno;
    int rc;
    if (l->use_fcntl) {
        struct flock fl = {
            .l_type = l->type, .l_whence = SEEK_SET, .l_start = l->start, .l_len = l->len};
        rc = fcntl(fd, l->op, &fl) == 0 ? 0 : errno;
    } else {
        rc = flock(fd, l->op) == 0 ? 0 : errno;
    }
    close(fd);
    return rc;
}

static int mm_try_flock(const char *path, int op)
{
    struct mm_lock l = {.path = path, .op = op};
    return mount_as_user(0, 0, mm_lock_child, &l);
}

static int mm_try_fcntl(const char *path, short type, off_t start, off_t len)
{
    struct mm_lock l = {
        .path = path, .use_fcntl = 1, .op = F_SETLK, .type = type, .start = start, .len = len};
    return mount_as_user(0, 0, mm_lock_child, &l);
}

static void mm_setlk(int fd, short type, off_t start, off_t len)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    SYS(fcntl(fd, F_SETLK, &fl));
}

static int mm_conflict(int err) { return err == EAGAIN || err == EACCES; }

/* flock(2) on A excludes flock on B; shared locks share; close releases. */
TEST_T(multi_flock, 90)
{
    mm_begin(2, 1);
    static const uint8_t x = 'x';
    mm_write(mm_p(0, "lk"), &x, 1, 0, 1);
    int fd = open(mm_p(0, "lk"), O_RDWR);
    SYS(fd);
    SYS(flock(fd, LOCK_EX));
    CHECK_EQ(mm_try_flock(mm_p(1, "lk"), LOCK_EX | LOCK_NB), EWOULDBLOCK);
    CHECK_EQ(mm_try_flock(mm_p(1, "lk"), LOCK_SH | LOCK_NB), EWOULDBLOCK);
    /* Converted to shared: B shares it, B's exclusive still fails. */
    SYS(flock(fd, LOCK_SH | LOCK_NB));
    CHECK_EQ(mm_try_flock(mm_p(1, "lk"), LOCK_SH | LOCK_NB), 0);
    CHECK_EQ(mm_try_flock(mm_p(1, "lk"), LOCK_EX | LOCK_NB), EWOULDBLOCK);
    SYS(flock(fd, LOCK_EX | LOCK_NB));
    CHECK_EQ(mm_try_flock(mm_p(1, "lk"), LOCK_EX | LOCK_NB), EWOULDBLOCK);
    SYS(close(fd));
    CHECK_EQ(mm_try_flock(mm_p(1, "lk"), LOCK_EX | LOCK_NB), 0);
    /* And the other way round: B's holder blocks A. */
    int fb = open(mm_p(1, "lk"), O_RDWR);
    SYS(fb);
    SYS(flock(fb, LOCK_EX | LOCK_NB));
    fd = open(mm_p(0, "lk"), O_RDWR);
    SYS(fd);
    SYS_ERR(flock(fd, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    SYS(flock(fb, LOCK_UN));
    SYS(flock(fd, LOCK_EX | LOCK_NB));
    SYS(close(fd));
    SYS(close(fb));
    mm_end();
}

/* fcntl byte ranges held on A exclude overlapping ranges on B, not
 * disjoint ones; read locks share; the holder's close releases them. */
TEST_T(multi_fcntl_ranges, 90)
{
    mm_begin(2, 1);
    static const uint8_t x = 'x';
    mm_write(mm_p(0, "rl"), &x, 1, 0, 1);
    int fd = open(mm_p(0, "rl"), O_RDWR);
    SYS(fd);
    mm_setlk(fd, F_WRLCK, 0, 100);
    mm_setlk(fd, F_RDLCK, 300, 100);
    const char *pb = mm_p(1, "rl");
    int rc = mm_try_fcntl(pb, F_WRLCK, 50, 100);
    CHECKF(mm_conflict(rc), "B write [50,150) over A's [0,100): %s", fx_errname(rc));
    rc = mm_try_fcntl(pb, F_RDLCK, 99, 1);
    CHECKF(mm_conflict(rc), "B read [99,100) under A's write lock: %s", fx_errname(rc));
    CHECK_EQ(mm_try_fcntl(pb, F_WRLCK, 100, 200), 0);
    CHECK_EQ(mm_try_fcntl(pb, F_RDLCK, 300, 100), 0);
    rc = mm_try_fcntl(pb, F_WRLCK, 350, 10);
    CHECKF(mm_conflict(rc), "B write [350,360) over A's read lock: %s", fx_errname(rc));
    CHECK_EQ(mm_try_fcntl(pb, F_WRLCK, 400, 0), 0); /* 400 to EOF */
    rc = mm_try_fcntl(pb, F_WRLCK, 0, 0);
    CHECKF(mm_conflict(rc), "B write of the whole file: %s", fx_errname(rc));
    /* Unlock a part on A: that part is free on B, the rest is not. */
    mm_setlk(fd, F_UNLCK, 0, 50);
    CHECK_EQ(mm_try_fcntl(pb, F_WRLCK, 0, 50), 0);
    rc = mm_try_fcntl(pb, F_WRLCK, 40, 20);
    CHECKF(mm_conflict(rc), "B write [40,60) over A's [50,100): %s", fx_errname(rc));
    SYS(close(fd));
    CHECK_EQ(mm_try_fcntl(pb, F_WRLCK, 0, 0), 0);
    mm_end();
}

/* Blocking waiter on B for the lock a killed mount A held. */
struct mm_waiter {
    struct mm_lock l;
    uint64_t took_ms;
};

static int mm_wait_child(void *arg)
{
    struct mm_lock *l = arg;
    alarm((MM_LOCK_LEASE_MS + 2 * MM_LOCK_SLACK_MS) / 1000); /* never hang the case */
    return mm_lock_child(l);
}

static uint64_t mm_blocking(const char *path, int use_fcntl)
{
    struct mm_lock l = {.path = path, .use_fcntl = use_fcntl};
    l.op = use_fcntl ? F_SETLKW : LOCK_EX;
    l.type = F_WRLCK;
    uint64_t t0 = time_mono_ms();
    int rc = mount_as_user(0, 0, mm_wait_child, &l);
    uint64_t took = time_mono_ms() - t0;
    CHECKF(rc == 0, "blocking %s on B: %s after %llu ms", use_fcntl ? "F_SETLKW" : "flock",
           rc < 0 ? "child died (alarm?)" : fx_errname(rc), (unsigned long long)took);
    return took;
}

/* A's flock and fcntl locks outlive A's process only until its lock
 * session expires: B's blocking lockers get them within lease + slack. */
TEST_T(multi_killed_mount_locks, 120)
{
    mm_begin(2, 1);
    static const uint8_t x = 'x';
    mm_write(mm_p(0, "k1"), &x, 1, 0, 1);
    mm_write(mm_p(0, "k2"), &x, 1, 0, 1);
    int f1 = open(mm_p(0, "k1"), O_RDWR), f2 = open(mm_p(0, "k2"), O_RDWR);
    SYS(f1);
    SYS(f2);
    SYS(flock(f1, LOCK_EX));
    mm_setlk(f2, F_WRLCK, 0, 0);
    CHECK_EQ(mm_try_flock(mm_p(1, "k1"), LOCK_EX | LOCK_NB), EWOULDBLOCK);
    int rc = mm_try_fcntl(mm_p(1, "k2"), F_WRLCK, 10, 1);
    CHECKF(mm_conflict(rc), "B over A's fcntl lock: %s", fx_errname(rc));
    uint64_t t0 = time_mono_ms();
    mount_kill(&M.a);
    /* Right after the kill the session lives: the lock is still held. */
    CHECK_EQ(mm_try_flock(mm_p(1, "k1"), LOCK_EX | LOCK_NB), EWOULDBLOCK);
    uint64_t t_flock = mm_blocking(mm_p(1, "k1"), 0);
    uint64_t t_fcntl = mm_blocking(mm_p(1, "k2"), 1);
    uint64_t total = time_mono_ms() - t0;
    fprintf(stderr,
            "killed mount: flock granted after %llu ms, fcntl %llu ms later "
            "(%llu ms)\n",
            (unsigned long long)t_flock, (unsigned long long)t_fcntl, (unsigned long long)total);
    CHECKF(total < MM_LOCK_LEASE_MS + MM_LOCK_SLACK_MS, "locks freed after %llu ms",
           (unsigned long long)total);
    close(f1); /* on the dead mount: the result does not matter */
    close(f2);
    CHECK_OK(mount_stop(&M.b));
    cluster_stop(&M.c);
}

/* --- a chunk server killed under the mount --- */

#define MM_FILES_MAX 48

/* What every file of the chunk-kill case must hold. */
struct mm_file {
    char name[32];
    uint8_t *data;
    size_t len;
};

static struct mm_file mm_files[MM_FILES_MAX];
static int mm_n_files;

static void mm_new_file(const char *dir, const char *tag, size_t len)
{
    CHECK(mm_n_files < MM_FILES_MAX);
    struct mm_file *f = &mm_files[mm_n_files++];
    int n = snprintf(f->name, sizeof f->name, "%s/%s%d", dir, tag, mm_n_files);
    CHECK(n > 0 && (size_t)n < sizeof f->name);
    f->len = len;
    f->data = mm_random(len);
    mm_write(mm_p(0, f->name), f->data, len, 0, 1);
}

/* Overwrite a random range of a random file in place. */
static void mm_overwrite_one(void)
{
    struct mm_file *f = &mm_files[prng_below(test_rng(), (uint64_t)mm_n_files)];
    size_t off = (size_t)prng_below(test_rng(), f->len);
    size_t len = 1 + (size_t)prng_below(test_rng(), f->len - off);
    prng_fill(test_rng(), f->data + off, len);
    mm_write(mm_p(0, f->name), f->data + off, len, (off_t)off, 0);
}

static void mm_check_all(void)
{
    for (int i = 0; i < mm_n_files; i++)
        mm_expect(mm_p(0, mm_files[i].name), mm_files[i].data, mm_files[i].len);
}

/* One round of work through the mount: a new file in each goal's
 * directory, an overwrite, every file read back whole. */
static void mm_round(const char *tag)
{
    size_t len = 256 * 1024 + (size_t)prng_below(test_rng(), 2 * 1024 * 1024);
    mm_new_file("g2", tag, len);
    mm_new_file("g3", tag, len / 2 + 1);
    mm_overwrite_one();
    mm_check_all();
}

/* Goal 2 and goal 3 files on three chunk servers; one server is killed
 * (SIGKILL) while the mount keeps writing and reading, then restarted:
 * no call fails and every byte reads back. */
TEST_T(multi_chunk_server_killed, 240)
{
    mm_begin(3, 0);
    mm_n_files = 0;
    SYS(mkdir(mm_p(0, "g2"), 0755));
    SYS(mkdir(mm_p(0, "g3"), 0755));
    char cmd[4 * CLUSTER_PATH_MAX];
    snprintf(cmd, sizeof cmd, "'%s' --cluster '%s' setgoal 3 /g3 >>'%s/setgoal.log' 2>&1", M.c.bin,
             M.a.conf, M.c.dir);
    CHECKF(system(cmd) == 0, "%s failed", cmd);
    for (int i = 0; i < 3; i++)
        mm_round("pre");
    /* A file open across the kill, written before and after it. */
    const size_t half = 1536 * 1024;
    uint8_t *open_data = mm_random(2 * half);
    int fd = open(mm_p(0, "g3/open"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    SYS(fd);
    CHECK_EQ(pwrite(fd, open_data, half, 0), (ssize_t)half);
    uint32_t victim = (uint32_t)prng_below(test_rng(), 3);
    fprintf(stderr, "killing chunk server slot %u\n", victim);
    cluster_chunk_kill(&M.c, victim);
    uint64_t t0 = time_mono_ms();
    CHECK_EQ(pwrite(fd, open_data + half, half, (off_t)half), (ssize_t)half);
    SYS(fsync(fd));
    SYS(close(fd));
    mm_expect(mm_p(0, "g3/open"), open_data, 2 * half);
    for (int i = 0; i < 5; i++)
        mm_round("down");
    fprintf(stderr, "5 rounds with a server down: %llu ms\n",
            (unsigned long long)(time_mono_ms() - t0));
    CHECK_OK(cluster_chunk_spawn(&M.c, victim));
    CHECK_OK(cluster_chunk_wait_ready(&M.c, victim, MM_CHUNK_WAIT_MS));
    for (int i = 0; i < 3; i++)
        mm_round("back");
    mm_expect(mm_p(0, "g3/open"), open_data, 2 * half);
    free(open_data);
    for (int i = 0; i < mm_n_files; i++)
        free(mm_files[i].data);
    mm_end();
}
