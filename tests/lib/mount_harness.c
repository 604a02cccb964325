/* mount_harness.c: start, stop and kill `cairn mount` processes and run
 * test code as another user (see mount_harness.h). */
#include "mount_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/time.h"

/* Mounts alive at once in one test process (two-mount tests use 2). */
#define MOUNTS_MAX 16
#define POLL_MS 20u
#define STOP_WAIT_MS 10000u
#define LOG_TAIL_BYTES 3000u

/* --- the registry of live mounts (for fatal exits) --------------------------------------------
 * Plain arrays of pid and mountpoint, read by the signal handler: only
 * async-signal-safe calls (kill, umount2) act on them there. */

struct mount_reg {
    volatile pid_t pid;
    char dir[CLUSTER_PATH_MAX];
};
static struct mount_reg regs[MOUNTS_MAX];
static int reg_installed;
static struct sigaction reg_old[NSIG];
static int watchdog_fd = -1;
static const int fatal_sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGINT};

/* The watchdog only unmounts: the daemons die with the test process
 * (PR_SET_PDEATHSIG, the runner's group kill), and a pid signalled after its
 * owner is gone could belong to someone else by then. */
static void regs_unmount(void)
{
    for (int i = 0; i < MOUNTS_MAX; i++) {
        if (regs[i].pid > 0) {
            umount2(regs[i].dir, MNT_DETACH);
            regs[i].pid = 0;
        }
    }
}

static void regs_kill_unmount(void)
{
    for (int i = 0; i < MOUNTS_MAX; i++) {
        pid_t p = regs[i].pid;
        if (p > 0) {
            kill(p, SIGKILL);
            umount2(regs[i].dir, MNT_DETACH);
            regs[i].pid = 0;
        }
    }
}

/* A fatal signal: unmount ours, then hand the signal to the handler that
 * was there before (the cluster harness's, which kills its daemons and
 * re-raises), or die of it. */
static void reg_on_signal(int sig)
{
    regs_kill_unmount();
    const struct sigaction *old = &reg_old[sig];
    if (!(old->sa_flags & SA_SIGINFO) && old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void reg_install(void)
{
    if (reg_installed)
        return;
    reg_installed = 1;
    atexit(regs_kill_unmount);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = reg_on_signal;
    sa.sa_flags = (int)SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(fatal_sigs); i++)
        sigaction(fatal_sigs[i], &sa, &reg_old[fatal_sigs[i]]);
}

/* --- the watchdog (survives a SIGKILL of the test) --------------------------------------------
 * A child in its own session (the runner kills the test's process group at
 * a timeout) reading "+PID DIR\n" and "-PID\n" lines; when every write end
 * is closed, the test process is gone: lazily unmount what is left. It only
 * uses read/umount2/_exit and string calls that do not allocate, which are
 * safe after fork in a process with threads. */

static void watchdog_line(char *line)
{
    char *end = NULL;
    long pid = strtol(line + 1, &end, 10);
    if (pid <= 0)
        return;
    for (int i = 0; i < MOUNTS_MAX; i++) {
        if (line[0] == '+' && regs[i].pid == 0 && end && *end == ' ') {
            regs[i].pid = (pid_t)pid;
            snprintf(regs[i].dir, sizeof regs[i].dir, "%s", end + 1);
            return;
        }
        if (line[0] == '-' && regs[i].pid == (pid_t)pid) {
            regs[i].pid = 0;
            return;
        }
    }
}

static _Noreturn void watchdog_run(int fd)
{
    char buf[4 * CLUSTER_PATH_MAX];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        char *nl;
        while ((nl = memchr(buf, '\n', len)) != NULL) {
            *nl = '\0';
            watchdog_line(buf);
            size_t used = (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len - used);
            len -= used;
        }
        if (len == sizeof buf - 1)
            len = 0; /* a line longer than any we write: drop it */
    }
    regs_unmount();
    _exit(0);
}

/* Started once, with the first mount. The registry copy in the child is
 * empty at that point (no mount yet), and filled from the pipe. */
static void watchdog_start(void)
{
    if (watchdog_fd >= 0)
        return;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        /* Not the test's handlers: they would signal pids of the test's
         * children, which may be reused once the test is gone. */
        for (size_t i = 0; i < CAIRN_ARRAY_LEN(fatal_sigs); i++)
            signal(fatal_sigs[i], SIG_DFL);
        setsid();
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            dup2(nul, 2);
        }
        /* Keep no socket or log of the test open: only the read end. */
        for (int fd = 3; fd < 4096; fd++)
            if (fd != p[0])
                close(fd);
        watchdog_run(p[0]);
    }
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return;
    }
    watchdog_fd = p[1];
}

static void watchdog_send(char op, pid_t pid, const char *dir)
{
    if (watchdog_fd < 0)
        return;
    char line[CLUSTER_PATH_MAX + 32];
    int n = op == '+' ? snprintf(line, sizeof line, "+%ld %s\n", (long)pid, dir)
                      : snprintf(line, sizeof line, "-%ld\n", (long)pid);
    if (n > 0 && (size_t)n < sizeof line) {
        ssize_t w = write(watchdog_fd, line, (size_t)n);
        (void)w; /* a lost line leaves a mount to the other handlers */
    }
}

static void reg_add(pid_t pid, const char *dir)
{
    reg_install();
    watchdog_start();
    for (int i = 0; i < MOUNTS_MAX; i++) {
        if (regs[i].pid == 0) {
            snprintf(regs[i].dir, sizeof regs[i].dir, "%s", dir);
            regs[i].pid = pid;
            watchdog_send('+', pid, dir);
            return;
        }
    }
    CAIRN_ASSERTF(0, "mount harness: more than %d mounts", MOUNTS_MAX);
}

static void reg_del(pid_t pid)
{
    for (int i = 0; i < MOUNTS_MAX; i++) {
        if (regs[i].pid == pid) {
            regs[i].pid = 0;
            watchdog_send('-', pid, NULL);
        }
    }
}

/* --- helpers ------------------------------------------------------------------------------------
 */

void mount_log_tail(const struct mount_proc *m, size_t bytes)
{
    int fd = open(m->log, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)bytes ? end - (off_t)bytes : 0;
    char buf[4096];
    ssize_t r;
    fprintf(stderr, "--- last lines of %s ---\n", m->log);
    lseek(fd, from, SEEK_SET);
    while ((r = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)r, stderr);
    fprintf(stderr, "--- end of %s ---\n", m->log);
    close(fd);
}

int mount_is_mounted(const struct mount_proc *m)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    /* Fields: id parent major:minor root mountpoint ...; our paths carry no
     * spaces, so no \040 unescaping is needed. */
    while (!found && fgets(line, sizeof line, f)) {
        char point[CLUSTER_PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %*s %511s", point) == 1)
            found = strcmp(point, m->dir) == 0;
    }
    fclose(f);
    return found;
}

/* Unmount lazily: umount2 as root (what fusermount3 does for root), else
 * `fusermount3 -u -z`. Errors are ignored: there may be nothing mounted. */
static void lazy_unmount(const char *dir)
{
    if (umount2(dir, MNT_DETACH) == 0 || errno == EINVAL || errno == ENOENT)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 1);
            dup2(nul, 2);
        }
        execlp("fusermount3", "fusermount3", "-u", "-z", dir, (char *)NULL);
        _exit(127);
    }
    int st;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
}

/* waitpid without blocking: 1 and *status if the process has exited. */
static int reaped(pid_t pid, int *status)
{
    pid_t r;
    while ((r = waitpid(pid, status, WNOHANG)) < 0 && errno == EINTR)
        ;
    return r == pid;
}

static void forget(struct mount_proc *m)
{
    cluster_proc_reaped(m->pid);
    reg_del(m->pid);
    m->pid = 0;
}

static int write_conf(struct cluster *c, const char *path)
{
    const char *addrs[CLUSTER_NODES_MAX];
    size_t n = cluster_addrs(c, addrs, CLUSTER_NODES_MAX);
    FILE *f = fopen(path, "we");
    if (!f)
        return cairn_err_from_errno(errno);
    fprintf(f, "# cluster file of a mount test (tests/lib/mount_harness.c)\nmeta = ");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? "," : "", addrs[i]);
    fprintf(f, "\nsecret = %s\n", c->secret_path);
    int bad = ferror(f);
    bad |= fclose(f);
    return bad ? CAIRN_EIO : 0;
}

/* Names of this mount's files under c->dir: mount<k>.conf, mount<k>.log,
 * with k counted per process so two mounts of one cluster differ. */
static int mount_paths(struct cluster *c, const char *dir, struct mount_proc *m)
{
    static unsigned counter;
    unsigned k = ++counter;
    memset(m, 0, sizeof *m);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return cairn_err_from_errno(errno);
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return cairn_err_from_errno(errno);
    int n1 = snprintf(m->dir, sizeof m->dir, "%s", real);
    int n2 = snprintf(m->log, sizeof m->log, "%s/mount%u.log", c->dir, k);
    int n3 = snprintf(m->conf, sizeof m->conf, "%s/mount%u.conf", c->dir, k);
    if (n1 < 0 || n2 < 0 || n3 < 0 || (size_t)n1 >= sizeof m->dir || (size_t)n2 >= sizeof m->log ||
        (size_t)n3 >= sizeof m->conf)
        return CAIRN_ENAMETOOLONG;
    return 0;
}

static int is_fuse(const char *dir)
{
    struct statfs s;
    return statfs(dir, &s) == 0 && (unsigned long)s.f_type == MOUNT_FUSE_MAGIC;
}

/* --- the API
 * --------------------------------------------------------------------------------------- */

/* Start the process, then poll: the kernel shows the mount once the daemon
 * has mounted (it answers the statfs itself), or the process is gone. */
int mount_start(struct cluster *c, const char *dir, const char *const *args, uint32_t timeout_ms,
                struct mount_proc *m)
{
    int rc = mount_paths(c, dir, m);
    if (rc == 0)
        rc = write_conf(c, m->conf);
    if (rc)
        return rc;
    char *argv[48];
    size_t a = 0;
    const char *fixed[] = {c->bin, "--cluster", m->conf, "mount", "-f"};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(fixed); i++)
        argv[a++] = (char *)fixed[i];
    for (size_t i = 0; args && args[i]; i++) {
        CAIRN_ASSERT(a + 2 < CAIRN_ARRAY_LEN(argv));
        argv[a++] = (char *)args[i];
    }
    argv[a++] = m->dir;
    argv[a] = NULL;
    pid_t pid = cluster_proc_spawn(c->bin, argv, m->log);
    if (pid <= 0)
        return CAIRN_EIO;
    m->pid = pid;
    reg_add(pid, m->dir);
    uint64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        int st;
        if (reaped(m->pid, &st)) {
            fprintf(stderr, "mount_start: cairn mount exited (status 0x%x) before mounting %s\n",
                    (unsigned)st, m->dir);
            forget(m);
            lazy_unmount(m->dir);
            mount_log_tail(m, LOG_TAIL_BYTES);
            return CAIRN_EIO;
        }
        if (is_fuse(m->dir))
            return 0;
        if (time_mono_ms() >= deadline) {
            fprintf(stderr, "mount_start: %s not mounted after %u ms\n", m->dir, timeout_ms);
            mount_kill(m);
            mount_log_tail(m, LOG_TAIL_BYTES);
            return CAIRN_ETIMEDOUT;
        }
        usleep(POLL_MS * 1000);
    }
}

int mount_stop(struct mount_proc *m)
{
    if (m->pid <= 0)
        return 0;
    kill(m->pid, SIGTERM);
    uint64_t deadline = time_mono_ms() + STOP_WAIT_MS;
    int st = 0, exited = 0;
    while (time_mono_ms() < deadline) {
        if (!exited)
            exited = reaped(m->pid, &st);
        if (exited && !mount_is_mounted(m))
            break;
        usleep(POLL_MS * 1000);
    }
    int clean = exited && WIFEXITED(st) && WEXITSTATUS(st) == 0 && !mount_is_mounted(m);
    if (!exited) {
        fprintf(stderr, "mount_stop: %s: no exit 10 s after SIGTERM: SIGKILL\n", m->dir);
        kill(m->pid, SIGKILL);
        while (waitpid(m->pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    if (mount_is_mounted(m)) {
        fprintf(stderr, "mount_stop: %s still mounted: lazy unmount\n", m->dir);
        lazy_unmount(m->dir);
    }
    forget(m);
    if (!clean) {
        fprintf(stderr, "mount_stop: %s: exit status 0x%x\n", m->dir, (unsigned)st);
        mount_log_tail(m, LOG_TAIL_BYTES);
    }
    return clean ? 0 : CAIRN_EIO;
}

void mount_kill(struct mount_proc *m)
{
    if (m->pid <= 0)
        return;
    kill(m->pid, SIGKILL);
    lazy_unmount(m->dir);
    int st;
    while (waitpid(m->pid, &st, 0) < 0 && errno == EINTR)
        ;
    forget(m);
}

/* The child of mount_as_user: no handler of the parent's may run here (the
 * cluster's would kill the daemons, ours would unmount). */
static _Noreturn void as_user_child(uid_t uid, gid_t gid, const gid_t *groups, size_t n,
                                    int (*fn)(void *), void *arg)
{
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(fatal_sigs); i++)
        signal(fatal_sigs[i], SIG_DFL);
    if (watchdog_fd >= 0)
        close(watchdog_fd);
    if (setgroups(n, groups) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        fprintf(stderr, "mount_as_user: cannot become %u:%u: %s\n", (unsigned)uid, (unsigned)gid,
                strerror(errno));
        fflush(stderr);
        _exit(255);
    }
    int r = fn(arg);
    fflush(stdout);
    fflush(stderr);
    _exit(r < 0 || r > 254 ? 254 : r);
}

pid_t mount_as_user_start(uid_t uid, gid_t gid, const gid_t *groups, size_t n, int (*fn)(void *),
                          void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        as_user_child(uid, gid, groups, n, fn, arg);
    return pid;
}

int mount_as_user_wait(pid_t pid)
{
    if (pid <= 0)
        return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) < 255)
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        fprintf(stderr, "mount_as_user: child died of signal %d\n", WTERMSIG(st));
    return -1;
}

int mount_as_user_groups(uid_t uid, gid_t gid, const gid_t *groups, size_t n, int (*fn)(void *),
                         void *arg)
{
    return mount_as_user_wait(mount_as_user_start(uid, gid, groups, n, fn, arg));
}

int mount_as_user(uid_t uid, gid_t gid, int (*fn)(void *), void *arg)
{
    return mount_as_user_groups(uid, gid, &gid, 1, fn, arg);
}
