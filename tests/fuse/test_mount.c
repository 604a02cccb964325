/* test_mount.c: the mount harness itself (tests/lib/mount_harness.h) on a
 * real `cairn mount`: a mount appears, stops cleanly on SIGTERM, can be
 * started again on the same directory, and leaves no stale mount when it
 * is killed, when the test aborts, or when the test process is SIGKILLed;
 * mount_as_user runs code with the asked identity. Skipped (passing) with
 * CAIRN_FUSE_TEST_DIR set: there is no mount to test then. */
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/time.h"
#include "fx.h"
#include "mount_harness.h"

static int local_mode(void)
{
    const char *base = getenv("CAIRN_FUSE_TEST_DIR");
    if (base && *base) {
        fprintf(stderr, "skipped: CAIRN_FUSE_TEST_DIR is set (no mount)\n");
        return 1;
    }
    return 0;
}

static void start_cluster(struct cluster *c)
{
    struct cluster_opts co = {.n = 1, .seed = test_seed()};
    CHECK_OK(cluster_start(c, test_tmpdir(), &co, NULL));
}

static int is_fuse(const char *dir)
{
    struct statfs s;
    return statfs(dir, &s) == 0 && (unsigned long)s.f_type == MOUNT_FUSE_MAGIC;
}

/* The directory is a plain directory again: in no mount table, and
 * reachable (a stale FUSE mount answers ENOTCONN). */
static void check_unmounted(const struct mount_proc *m)
{
    CHECKF(!mount_is_mounted(m), "%s still mounted", m->dir);
    struct stat st;
    CHECKF(stat(m->dir, &st) == 0, "stat %s: %s", m->dir, fx_errname(errno));
    CHECK(!is_fuse(m->dir));
}

/* Start, SIGTERM (clean: exit 0, unmounted), start again on the same
 * directory, SIGKILL (unmounted by the harness). */
TEST_T(mount_start_stop_kill, 60)
{
    if (local_mode())
        return;
    static struct cluster c;
    start_cluster(&c);
    char dir[CLUSTER_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/mnt", test_tmpdir());
    struct mount_proc m;
    CHECK_OK(mount_start(&c, dir, NULL, 20000, &m));
    CHECK(m.pid > 0);
    CHECK(is_fuse(m.dir));
    CHECK(mount_is_mounted(&m));
    CHECK_OK(mount_stop(&m));
    CHECK_EQ(m.pid, 0);
    check_unmounted(&m);
    CHECK_OK(mount_stop(&m)); /* not running: a no-op */
    CHECK_OK(mount_start(&c, dir, NULL, 20000, &m));
    CHECK(is_fuse(m.dir));
    mount_kill(&m);
    CHECK_EQ(m.pid, 0);
    check_unmounted(&m);
    cluster_stop(&c);
}

static void write_script(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");
    CHECK(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    CHECK(fclose(f) == 0);
    SYS(chmod(path, 0755));
}

/* A mount process that exits at once: CAIRN_EIO; one that never mounts:
 * CAIRN_ETIMEDOUT, and it is killed; nothing stays mounted either way.
 * (Scripts stand in for `cairn` once the cluster runs.) */
TEST_T(mount_start_failures, 60)
{
    if (local_mode())
        return;
    static struct cluster c;
    start_cluster(&c);
    char bin[CLUSTER_PATH_MAX], dir[CLUSTER_PATH_MAX];
    snprintf(bin, sizeof bin, "%s/exits.sh", test_tmpdir());
    write_script(bin, "echo cannot mount >&2; exit 3");
    snprintf(c.bin, sizeof c.bin, "%s", bin);
    snprintf(dir, sizeof dir, "%s/mnt", test_tmpdir());
    struct mount_proc m;
    CHECK_EQ(mount_start(&c, dir, NULL, 10000, &m), CAIRN_EIO);
    CHECK_EQ(m.pid, 0);
    check_unmounted(&m);
    snprintf(bin, sizeof bin, "%s/hangs.sh", test_tmpdir());
    write_script(bin, "exec sleep 600");
    snprintf(c.bin, sizeof c.bin, "%s", bin);
    uint64_t t0 = time_mono_ms();
    CHECK_EQ(mount_start(&c, dir, NULL, 500, &m), CAIRN_ETIMEDOUT);
    CHECK(time_mono_ms() - t0 >= 500);
    CHECK_EQ(m.pid, 0);
    check_unmounted(&m);
    cluster_stop(&c);
}

/* Wait until dir leaves the mount table (up to timeout_ms). */
static int wait_unmounted(const struct mount_proc *m, uint32_t timeout_ms)
{
    uint64_t end = time_mono_ms() + timeout_ms;
    while (mount_is_mounted(m)) {
        if (time_mono_ms() > end)
            return 0;
        usleep(20000);
    }
    return 1;
}

/* A child that starts a cluster and a mount, reports the mountpoint on fd
 * and then either aborts (a failed CHECK) or waits to be SIGKILLed. */
static _Noreturn void doomed_child(int fd, int do_abort)
{
    static struct cluster c;
    start_cluster(&c);
    char dir[CLUSTER_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/mnt%d", test_tmpdir(), do_abort);
    static struct mount_proc m;
    CHECK_OK(mount_start(&c, dir, NULL, 20000, &m));
    CHECK((size_t)write(fd, &m, sizeof m) == sizeof m);
    if (do_abort)
        abort();
    for (;;)
        pause();
}

/* The test process dies (abort: the fatal-signal handler; SIGKILL: the
 * watchdog process): its mount is gone, not left stale. */
static void check_dies_clean(int do_abort)
{
    (void)test_tmpdir(); /* made here, so this process removes it */
    int p[2];
    SYS(pipe(p));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        doomed_child(p[1], do_abort);
    }
    close(p[1]);
    struct mount_proc m;
    ssize_t r = read(p[0], &m, sizeof m);
    close(p[0]);
    if (!do_abort)
        kill(pid, SIGKILL);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECKF(r == (ssize_t)sizeof m, "the child did not mount (status 0x%x)", (unsigned)st);
    CHECK(WIFSIGNALED(st));
    CHECK_EQ(WTERMSIG(st), do_abort ? SIGABRT : SIGKILL);
    CHECKF(wait_unmounted(&m, 10000), "%s still mounted 10 s after the test process died", m.dir);
    check_unmounted(&m);
}

TEST_T(mount_gone_after_abort, 60)
{
    if (local_mode())
        return;
    check_dies_clean(1);
}

TEST_T(mount_gone_after_sigkill, 60)
{
    if (local_mode())
        return;
    check_dies_clean(0);
}

struct ident {
    uid_t uid;
    gid_t gid;
    gid_t groups[8];
    int n;
};

/* In the child: fail (return EINVAL) unless the identity is as asked. */
static int check_ident(void *arg)
{
    const struct ident *want = arg;
    gid_t groups[16];
    int n = getgroups(16, groups);
    if (geteuid() != want->uid || getuid() != want->uid || getegid() != want->gid || n != want->n)
        return EINVAL;
    for (int i = 0; i < n; i++)
        if (groups[i] != want->groups[i])
            return EINVAL;
    return 0;
}

static int return_seven(void *arg) { return *(int *)arg; }

static int crash(void *arg)
{
    (void)arg;
    abort();
}

/* mount_as_user: the identity, the returned value, a crash in the child. */
TEST_T(mount_as_user_identity, 30)
{
    struct ident a = {.uid = 4242, .gid = 4242, .groups = {4242}, .n = 1};
    CHECK_EQ(mount_as_user(4242, 4242, check_ident, &a), 0);
    struct ident b = {.uid = 4242, .gid = 4242, .groups = {4242, 4343}, .n = 2};
    CHECK_EQ(mount_as_user_groups(4242, 4242, b.groups, 2, check_ident, &b), 0);
    CHECK_EQ(mount_as_user_groups(4242, 4242, a.groups, 1, check_ident, &b), EINVAL);
    int seven = 7;
    CHECK_EQ(mount_as_user(65534, 65534, return_seven, &seven), 7);
    CHECK_EQ(mount_as_user(65534, 65534, crash, NULL), -1);
    CHECK_EQ(geteuid(), 0);
}
