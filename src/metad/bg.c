/*
 * bg.c: work on the whole state done in a forked child, off the loop thread.
 *
 * Serializing a snapshot or hashing the whole state takes seconds at a
 * million files: done on the loop thread, it stops heartbeats long enough
 * for a leader to lose its office. fork() gives a child a copy-on-write
 * image of the state at the current applied index; the child does the work
 * and exits, while the parent keeps serving. The loop polls its children
 * (metad_bg_poll, every tick and after every batch) and takes the result.
 *
 * The child lives in a copy of a multi-threaded process: it calls only
 * async-signal-safe system calls and the pure state machine (malloc is
 * fork-safe in glibc, which locks its arenas around fork()). It closes
 * every descriptor it inherited but the one it writes (so it never holds
 * the listener or a peer connection open), and dies with its parent
 * (PR_SET_PDEATHSIG), so a SIGKILLed daemon leaves no child behind.
 *
 * Snapshot: the child writes the snapshot body (metad_snap_encode_head +
 * meta_snapshot) to <data>/snap-body.tmp. When it has exited, between two
 * ready batches, the parent reads the file back (a sequential read from the
 * page cache: tens of ms at 100 MB, against seconds of serializing), renames
 * it to <data>/snap-body, tells the core (raft_snapshot_taken with no bytes:
 * log compaction; the core would otherwise keep a copy as large as the
 * state) and queues the bytes for the storage thread, which saves them
 * durably as raftio snapshot files (ready.c) and frees them. A SNAP message
 * for a lagging follower is filled from <data>/snap-body (metad_bg_send).
 * Digest: the child writes 8 bytes to a pipe.
 *
 * Ownership: the loop thread owns d->bg; at most one child of each kind.
 * Errors: a failed fork, child or file step is logged and skipped (the next
 * snapshot comes snapshot_every entries later; a status answers digest 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "metad/node_int.h"

/* --- the child ------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* In the child, right after fork(): die with the parent and let go of
 * every inherited descriptor but `keep` (and stdin/out/err). */
static void child_setup(pid_t parent, int keep)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(3); /* the parent died before the line above */
    /* keep >= 3: it came from open()/pipe2() after stdin/out/err */
    if (keep > 3)
        close_range(3, (unsigned)keep - 1, 0);
    close_range((unsigned)keep + 1, ~0u, 0);
}

static void snap_child(struct metad *d, int fd)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    int rc = metad_snap_encode_head(&b, &d->members);
    if (rc == 0)
        rc = meta_snapshot(d->meta, &b);
    if (rc == 0)
        rc = write_all(fd, b.data, b.len);
    if (rc == 0)
        rc = close(fd);
    _exit(rc ? 1 : 0);
}

static void digest_child(struct metad *d, int fd)
{
    uint64_t h = meta_digest(d->meta);
    _exit(write_all(fd, (const uint8_t *)&h, sizeof h) ? 1 : 0);
}

/* fork() a child running fn(d, fd); the parent gets its pid or 0. */
static pid_t bg_fork(struct metad *d, int fd, void (*fn)(struct metad *, int))
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        child_setup(parent, fd);
        fn(d, fd);
        _exit(1);
    }
    if (pid < 0) {
        LOG_WARN(METAD_SUBSYS, "fork failed: %s", strerror(errno));
        return 0;
    }
    return pid;
}

/* 0 while the child runs; 1 once reaped (*ok: it exited with 0). */
static int bg_reap(pid_t pid, int *ok)
{
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == 0)
        return 0;
    *ok = r == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return 1;
}

static void bg_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* --- snapshots -------------------------------------------------------------- */

/* The data directory (at most CAIRN_PATH_MAX - 1 bytes) and the file name. */
#define SNAP_PATH_MAX (CAIRN_PATH_MAX + 16u)

static void snap_path(const struct metad *d, char *out, size_t n)
{
    snprintf(out, n, "%s/snap-body.tmp", d->cfg.data);
}

/* The body of the newest snapshot this node took, kept for followers that
 * need it: the core holds no copy of it in memory (see snapshot_finish). */
static void body_path(const struct metad *d, char *out, size_t n)
{
    snprintf(out, n, "%s/snap-body", d->cfg.data);
}

int metad_bg_snapshot_start(struct metad *d)
{
    if (d->bg.snap_pid)
        return CAIRN_EBUSY;
    char path[SNAP_PATH_MAX];
    snap_path(d, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return cairn_err_from_errno(errno);
    pid_t pid = bg_fork(d, fd, snap_child);
    close(fd);
    if (!pid) {
        unlink(path);
        return CAIRN_ENOMEM;
    }
    d->bg.snap_pid = pid;
    d->bg.snap_index = d->applied;
    return 0;
}

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cairn_err_from_errno(errno);
    struct stat st;
    int rc = fstat(fd, &st) ? cairn_err_from_errno(errno) : 0;
    uint8_t *p = rc ? NULL : malloc(st.st_size ? (size_t)st.st_size : 1);
    if (rc == 0 && !p)
        rc = CAIRN_ENOMEM;
    size_t got = 0;
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            rc = r < 0 ? cairn_err_from_errno(errno) : CAIRN_TRUNCATED;
        else
            got += (size_t)r;
    }
    close(fd);
    if (rc) {
        free(p);
        return rc;
    }
    *data = p;
    *len = got;
    return 0;
}

/* The snapshot child exited: its body becomes the core's snapshot (unless
 * an installed snapshot overtook it) and goes to the storage thread. */
static void snapshot_finish(struct metad *d, int ok)
{
    char path[SNAP_PATH_MAX];
    snap_path(d, path, sizeof path);
    uint64_t index = d->bg.snap_index;
    d->bg.snap_pid = 0;
    uint8_t *data = NULL;
    size_t len = 0;
    char body[SNAP_PATH_MAX];
    body_path(d, body, sizeof body);
    int rc = ok ? read_file(path, &data, &len) : CAIRN_EIO;
    if (rc == 0 && rename(path, body) != 0)
        rc = cairn_err_from_errno(errno);
    if (rc == 0)
        d->bg.body_index = index; /* what the file holds now */
    /* The core keeps an empty snapshot (no copy of the bytes: they are as
     * large as the state itself); metad_bg_send fills it from the file. */
    if (rc == 0)
        rc = raft_snapshot_taken(d->raft, index, NULL, 0);
    if (rc) {
        LOG_WARN(METAD_SUBSYS, "snapshot at %" PRIu64 " not taken: %s", index, cairn_err_name(rc));
        unlink(path);
        free(data);
        return;
    }
    CAIRN_ASSERT(!d->snap_save_pending);
    memset(&d->snap_save, 0, sizeof d->snap_save);
    raft_get_snapshot_meta(d->raft, &d->snap_save.meta);
    CAIRN_ASSERT(d->snap_save.meta.index == index);
    d->snap_save.data = data;
    d->snap_save.len = len;
    d->snap_save_pending = 1;
    d->counters.snapshots_taken++;
    LOG_INFO(METAD_SUBSYS, "snapshot taken index=%" PRIu64 " bytes=%zu", index, len);
    /* The compacted log entries and the child's copy-on-write pages are
     * back with the allocator: give what it does not need to the system. */
    malloc_trim(0);
}

/* A SNAP message whose snapshot the core holds without bytes (taken by
 * snapshot_finish) is sent with the body file's bytes; any other message
 * as it is. The transport copies what it keeps. */
void metad_bg_send(struct metad *d, const struct raft_msg *m)
{
    if (m->type != RAFT_MSG_SNAP || !m->snapshot || m->snapshot->len != 0 ||
        m->snapshot->meta.index == 0) {
        transport_send(d->tr, m);
        return;
    }
    char body[SNAP_PATH_MAX];
    body_path(d, body, sizeof body);
    struct raft_snapshot s = *m->snapshot;
    uint8_t *data = NULL;
    int rc = d->bg.body_index == s.meta.index ? read_file(body, &data, &s.len) : CAIRN_ENOENT;
    if (rc) {
        LOG_ERROR(METAD_SUBSYS, "snapshot %" PRIu64 " for %" PRIu64 " unreadable: %s", s.meta.index,
                  m->to, cairn_err_name(rc));
        if (d->n_unreachable < CAIRN_ARRAY_LEN(d->unreachable))
            d->unreachable[d->n_unreachable++] = m->to; /* the core tries again later */
        return;
    }
    s.data = data;
    struct raft_msg copy = *m;
    copy.snapshot = &s;
    transport_send(d->tr, &copy);
    free(data);
}

/* --- digests ---------------------------------------------------------------- */

static void digest_start(struct metad *d)
{
    int p[2];
    if (d->bg.digest_pid || pipe2(p, O_CLOEXEC))
        return;
    pid_t pid = bg_fork(d, p[1], digest_child);
    close(p[1]);
    if (!pid) {
        close(p[0]);
        return;
    }
    d->bg.digest_pid = pid;
    d->bg.digest_fd = p[0];
    d->bg.digest_child_index = d->applied;
}

static void digest_finish(struct metad *d, int ok)
{
    uint64_t h;
    ssize_t r = read(d->bg.digest_fd, &h, sizeof h);
    close(d->bg.digest_fd);
    d->bg.digest_pid = 0;
    d->bg.digest_fd = -1;
    if (ok && r == (ssize_t)sizeof h) {
        d->bg.digest = h;
        d->bg.digest_index = d->bg.digest_child_index;
    }
}

int metad_bg_digest(struct metad *d, uint64_t *digest)
{
    if (d->bg.digest_index == d->applied && d->bg.digest_index != UINT64_MAX) {
        *digest = d->bg.digest;
        return 1;
    }
    struct meta_stats ms;
    meta_stats(d->meta, &ms);
    if (ms.inodes < d->cfg.digest_inline_inodes_max) {
        d->bg.digest = meta_digest(d->meta);
        d->bg.digest_index = d->applied;
        *digest = d->bg.digest;
        return 1;
    }
    if (!d->bg.digest_pid || d->bg.digest_child_index != d->applied) {
        if (d->bg.digest_pid)
            return 0; /* one child at a time: ask again when it is done */
        digest_start(d);
    }
    return 0;
}

/* --- the loop side ---------------------------------------------------------- */

void metad_bg_init(struct metad *d)
{
    d->bg.digest_fd = -1;
    d->bg.digest_index = UINT64_MAX;
}

void metad_bg_poll(struct metad *d)
{
    int ok;
    /* The core takes a snapshot only between batches (as raft.h wants). */
    if (d->bg.snap_pid && !d->rd_out && bg_reap(d->bg.snap_pid, &ok)) {
        if (d->stopping)
            d->bg.snap_pid = 0;
        else
            snapshot_finish(d, ok);
    }
    if (d->bg.digest_pid && bg_reap(d->bg.digest_pid, &ok))
        digest_finish(d, ok);
}

void metad_bg_stop(struct metad *d)
{
    if (d->bg.snap_pid) {
        bg_kill(d->bg.snap_pid);
        d->bg.snap_pid = 0;
        char path[SNAP_PATH_MAX];
        snap_path(d, path, sizeof path);
        unlink(path);
    }
    if (d->bg.digest_pid) {
        bg_kill(d->bg.digest_pid);
        d->bg.digest_pid = 0;
    }
    if (d->bg.digest_fd >= 0)
        close(d->bg.digest_fd);
    d->bg.digest_fd = -1;
}
