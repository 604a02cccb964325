/* test_posix_lock.c: flock(2) and fcntl(2) record locks on one mount,
 * between processes (the mount maps both onto the cluster's lock
 * service): conflicts, shared locks, unlock, release on close, the owner
 * rules (flock: the open file; fcntl: the process), F_GETLK, and waiting
 * lockers (LOCK_EX without LOCK_NB, F_SETLKW) woken by the unlock. Two
 * mounts and killed holders are the business of other tests. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "fx.h"
#include "mount_harness.h"

/* What a locking child does. */
struct lk {
    const char *path;
    int use_fcntl;
    int op;     /* flock: LOCK_*; fcntl: F_SETLK, F_SETLKW or F_GETLK */
    short type; /* fcntl: F_RDLCK, F_WRLCK, F_UNLCK */
    off_t start, len;
    int ready_fd; /* >= 0: write one byte there once the lock is held */
    /* F_GETLK: what must come back. */
    short want_type;
    off_t want_start, want_len;
    pid_t want_pid;
};

/* Codes a child returns beyond errno values: F_GETLK answered otherwise. */
#define LK_BAD_TYPE 200
#define LK_BAD_RANGE 201
#define LK_BAD_PID 202

static int lk_getlk(int fd, const struct lk *l)
{
    struct flock fl = {
        .l_type = l->type, .l_whence = SEEK_SET, .l_start = l->start, .l_len = l->len};
    if (fcntl(fd, F_GETLK, &fl) != 0)
        return errno;
    if (fl.l_type != l->want_type) {
        fprintf(stderr, "F_GETLK: l_type %d, expected %d\n", fl.l_type, l->want_type);
        return LK_BAD_TYPE;
    }
    if (l->want_type != F_UNLCK && (fl.l_start != l->want_start || fl.l_len != l->want_len)) {
        fprintf(stderr, "F_GETLK: [%lld, +%lld), expected [%lld, +%lld)\n", (long long)fl.l_start,
                (long long)fl.l_len, (long long)l->want_start, (long long)l->want_len);
        return LK_BAD_RANGE;
    }
    if (l->want_type != F_UNLCK && fl.l_pid != l->want_pid) {
        fprintf(stderr, "F_GETLK: l_pid %d, expected %d\n", (int)fl.l_pid, (int)l->want_pid);
        return LK_BAD_PID;
    }
    return 0;
}

/* In the child: open the file, take (or test) the lock, report it held,
 * and exit (which releases it). */
static int lk_child(void *arg)
{
    const struct lk *l = arg;
    int fd = open(l->path, O_RDWR);
    if (fd < 0)
        return errno;
    int rc;
    if (l->use_fcntl && l->op == F_GETLK) {
        rc = lk_getlk(fd, l);
    } else if (l->use_fcntl) {
        struct flock fl = {
            .l_type = l->type, .l_whence = SEEK_SET, .l_start = l->start, .l_len = l->len};
        rc = fcntl(fd, l->op, &fl) == 0 ? 0 : errno;
    } else {
        rc = flock(fd, l->op) == 0 ? 0 : errno;
    }
    if (rc == 0 && l->ready_fd >= 0 && write(l->ready_fd, "x", 1) != 1)
        rc = EIO;
    close(fd);
    return rc;
}

static int child_try(struct lk l)
{
    l.ready_fd = -1;
    static const gid_t root_groups[] = {0};
    return mount_as_user_groups(0, 0, root_groups, 1, lk_child, &l);
}

#define TRY_FLOCK(p_, op_) child_try((struct lk){.path = (p_), .op = (op_)})
#define TRY_FCNTL(p_, type_, start_, len_)   \
    child_try((struct lk){.path = (p_),      \
                          .use_fcntl = 1,    \
                          .op = F_SETLK,     \
                          .type = (type_),   \
                          .start = (start_), \
                          .len = (len_)})

static void set_lock(int fd, short type, off_t start, off_t len)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    CHECKF(fcntl(fd, F_SETLK, &fl) == 0, "F_SETLK type %d [%lld, +%lld): %s", type,
           (long long)start, (long long)len, fx_errname(errno));
}

/* 1 if a byte arrives on fd within ms. */
static int arrives(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, ms);
    char c;
    return n == 1 && read(fd, &c, 1) == 1;
}

/* A child that blocks on the lock until the parent lets go: it must not
 * get it while the parent holds it (checked after a pause), and must get
 * it after the unlock (unlock_fn). */
static void check_waiter(struct lk l, void (*unlock_fn)(int), int holder_fd)
{
    int p[2];
    SYS(pipe(p));
    l.ready_fd = p[1];
    static const gid_t root_groups[] = {0};
    pid_t pid = mount_as_user_start(0, 0, root_groups, 1, lk_child, &l);
    CHECK(pid > 0);
    close(p[1]);
    int early = arrives(p[0], 300);
    unlock_fn(holder_fd);
    int later = early || arrives(p[0], 20000);
    int rc = mount_as_user_wait(pid);
    close(p[0]);
    CHECKF(!early, "the waiter got the lock while it was held");
    CHECKF(later, "the waiter did not get the lock within 20 s of the unlock");
    CHECK_EQ(rc, 0);
}

static void flock_unlock(int fd) { SYS(flock(fd, LOCK_UN)); }
static void fcntl_unlock(int fd) { set_lock(fd, F_UNLCK, 0, 0); }

/* flock: exclusive and shared between processes, unlock, upgrade, release
 * on close, two open files of one process conflicting, a waiter. */
TEST_T(posix_flock, 90)
{
    fx_begin();
    const char *f = fx_p("f");
    fx_write_file(f, "lock", 4, 0644);
    int a = open(f, O_RDWR);
    CHECK(a >= 0);
    SYS(flock(a, LOCK_EX));
    CHECK_EQ(TRY_FLOCK(f, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    CHECK_EQ(TRY_FLOCK(f, LOCK_SH | LOCK_NB), EWOULDBLOCK);
    SYS(flock(a, LOCK_UN));
    CHECK_EQ(TRY_FLOCK(f, LOCK_EX | LOCK_NB), 0);
    /* Shared with shared; not with exclusive. */
    SYS(flock(a, LOCK_SH));
    CHECK_EQ(TRY_FLOCK(f, LOCK_SH | LOCK_NB), 0);
    CHECK_EQ(TRY_FLOCK(f, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    /* Upgrade in place (nobody else holds it). */
    SYS(flock(a, LOCK_EX | LOCK_NB));
    CHECK_EQ(TRY_FLOCK(f, LOCK_SH | LOCK_NB), EWOULDBLOCK);
    /* Another open file of this process is another owner. */
    int b = open(f, O_RDONLY);
    CHECK(b >= 0);
    SYS_ERR(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    /* A dup shares the lock: closing it keeps the lock; closing the
     * last descriptor of the open file releases it. */
    int a2 = dup(a);
    CHECK(a2 >= 0);
    SYS(close(a2));
    CHECK_EQ(TRY_FLOCK(f, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    SYS(close(a));
    SYS(flock(b, LOCK_EX | LOCK_NB));
    CHECK_EQ(TRY_FLOCK(f, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    /* A waiting locker gets it at the unlock. */
    check_waiter((struct lk){.path = f, .op = LOCK_EX}, flock_unlock, b);
    SYS(close(b));
    fx_end();
}

/* fcntl record locks: ranges, shared and exclusive, F_GETLK (type, range,
 * pid of the holder), unlock of a range, release when the process closes
 * any descriptor of the file, a waiter with F_SETLKW. */
TEST_T(posix_fcntl_locks, 90)
{
    fx_begin();
    const char *f = fx_p("f");
    fx_write_file(f, "records", 7, 0644);
    int fd = open(f, O_RDWR);
    CHECK(fd >= 0);
    set_lock(fd, F_WRLCK, 0, 100);
    CHECK_EQ(TRY_FCNTL(f, F_WRLCK, 50, 10), EAGAIN);
    CHECK_EQ(TRY_FCNTL(f, F_RDLCK, 99, 1), EAGAIN);
    CHECK_EQ(TRY_FCNTL(f, F_WRLCK, 100, 100), 0);
    struct lk get = {.path = f,
                     .use_fcntl = 1,
                     .op = F_GETLK,
                     .type = F_WRLCK,
                     .start = 10,
                     .len = 5,
                     .want_type = F_WRLCK,
                     .want_start = 0,
                     .want_len = 100,
                     .want_pid = getpid()};
    CHECK_EQ(child_try(get), 0);
    get.start = 200;
    get.want_type = F_UNLCK;
    CHECK_EQ(child_try(get), 0);
    /* Shared ranges. */
    set_lock(fd, F_RDLCK, 200, 100);
    CHECK_EQ(TRY_FCNTL(f, F_RDLCK, 250, 10), 0);
    CHECK_EQ(TRY_FCNTL(f, F_WRLCK, 250, 10), EAGAIN);
    /* A lock to EOF (len 0) covers everything after its start. */
    set_lock(fd, F_WRLCK, 1000, 0);
    CHECK_EQ(TRY_FCNTL(f, F_RDLCK, 1 << 30, 1), EAGAIN);
    /* Unlocking a range frees it, the rest stays. */
    set_lock(fd, F_UNLCK, 0, 50);
    CHECK_EQ(TRY_FCNTL(f, F_WRLCK, 0, 50), 0);
    CHECK_EQ(TRY_FCNTL(f, F_WRLCK, 50, 1), EAGAIN);
    /* Same process, another descriptor: no conflict with itself. */
    int fd2 = open(f, O_RDWR);
    CHECK(fd2 >= 0);
    set_lock(fd2, F_WRLCK, 60, 10);
    /* Closing any descriptor of the file drops all the process's locks. */
    SYS(close(fd2));
    CHECK_EQ(TRY_FCNTL(f, F_WRLCK, 0, 0), 0);
    /* A waiter (F_SETLKW) gets the lock at the unlock. */
    set_lock(fd, F_WRLCK, 0, 1);
    check_waiter(
        (struct lk){
            .path = f, .use_fcntl = 1, .op = F_SETLKW, .type = F_WRLCK, .start = 0, .len = 1},
        fcntl_unlock, fd);
    SYS(close(fd));
    fx_end();
}
