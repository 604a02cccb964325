/* test_data_crash.c: the two-phase commit of the data path under crashes:
 * a writer SIGKILLed before its commit (the pending write is aborted at its
 * deadline and its staged copies deleted; nobody ever reads its bytes), a
 * chunk server stopped during a write that comes back with the old version
 * (never served, deleted), and the metadata leader killed between prepare
 * and commit (the write completes, or aborts cleanly; never half). */
#include <dirent.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "chunk/format.h"
#include "common/assert.h"
#include "common/time.h"
#include "test.h"
#include "test_data.h"

#define MiB (1024u * 1024u)

/* --- a writer in a child process ------------------------------------------------ */

/* The child: its own loop and clients; writes n bytes of key from 0 in 1 MiB
 * pieces, says so on fd after ready_after bytes, and never commits: it
 * waits to be killed. It must never run the parent's exit handlers (they
 * would kill the cluster), hence _exit everywhere. */
static _Noreturn void writer_child(struct dt *t, uint64_t ino, uint64_t key, uint64_t n,
                                   uint64_t ready_after, uint32_t deadline_ms, int fd)
{
    int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGINT};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(sigs); i++)
        signal(sigs[i], SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const char *addrs[CLUSTER_NODES_MAX];
    size_t na = cluster_addrs(&t->c, addrs, CLUSTER_NODES_MAX);
    struct metaclient_cfg mcfg = {
        .addrs = addrs, .n_addrs = na, .secret = &t->c.secret, .name = "writer", .seed = 99};
    struct metaclient *mc;
    struct dataclient *dc;
    struct datafile *f;
    if (metaclient_new(NULL, &mcfg, &mc) != 0)
        _exit(3);
    struct dataclient_cfg dcfg = {.mc = mc,
                                  .secret = &t->c.secret,
                                  .name = "writer",
                                  .io_timeout_ms = 3000,
                                  .window = 8,
                                  .write_deadline_ms = deadline_ms,
                                  .seed = 98};
    if (dataclient_new(&dcfg, &dc) != 0 || datafile_open(dc, ino, DATAFILE_WRITE, &f) != 0)
        _exit(4);
    static uint8_t buf[MiB];
    for (uint64_t off = 0; off < n; off += MiB) {
        dt_pattern(key, off, buf, MiB);
        if (datafile_pwrite(f, buf, MiB, off) != (int64_t)MiB)
            _exit(5);
        if (off + MiB == ready_after && write(fd, "r", 1) != 1)
            _exit(6);
    }
    for (;;)
        pause();
}

/* Start the writer; returns its pid once it has written ready_after bytes
 * (sent, not committed: with the client's window of 8 pieces, all but the
 * last 8 MiB of them are acknowledged by the replicas). */
static pid_t writer_start(struct dt *t, uint64_t ino, uint64_t key, uint64_t n,
                          uint64_t ready_after, uint32_t deadline_ms)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        writer_child(t, ino, key, n, ready_after, deadline_ms, p[1]);
    }
    close(p[1]);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    int ready = poll(&pf, 1, 30000) == 1;
    char c;
    ready = ready && read(p[0], &c, 1) == 1;
    close(p[0]);
    if (!ready) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        CHECKF(0, "the writer child did not get going");
    }
    return pid;
}

static void writer_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the writer exited on its own: %d", st);
}

/* Staged version files on chunk server slot i (any chunk). */
static size_t staged_files(struct dt *t, uint32_t i)
{
    size_t n = 0;
    char dir[CLUSTER_PATH_MAX + 16];
    for (unsigned h = 0; h < 256; h++) {
        snprintf(dir, sizeof dir, "%s/chunks/%02x", t->c.chunks[i].data, h);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t len = strlen(e->d_name);
            n += len > 4 && strcmp(e->d_name + len - 4, ".stg") == 0;
        }
        closedir(d);
    }
    return n;
}

static size_t staged_everywhere(struct dt *t)
{
    size_t n = 0;
    for (uint32_t i = 0; i < t->c.n_chunks; i++)
        n += staged_files(t, i);
    return n;
}

/* Wait until no chunk server holds a staged version. */
static void wait_no_staged(struct dt *t, uint32_t timeout_ms)
{
    uint64_t end = time_mono_ms() + timeout_ms;
    while (staged_everywhere(t) != 0) {
        CHECKF(time_mono_ms() < end, "staged versions still on disk after %u ms", timeout_ms);
        cluster_run_for(&t->c, 100);
    }
}

/* --- cases ---------------------------------------------------------------------- */

/* A writer SIGKILLed in the middle of a chunk write: its bytes are staged
 * on the replicas but never visible; at the deadline the pending write is
 * aborted and the staged copies deleted everywhere; then the chunk can be
 * written again. */
TEST_T(data_client_killed_mid_write, 90)
{
    static struct dt t;
    struct dt_opts o = {.chunks = 3,
                        .copt = {.scrub_rate = CLUSTER_SCRUB_OFF, .heartbeat_ms = 200}};
    dt_start(&t, &o);
    uint64_t ino = dt_create(&t, "w", 0);
    const uint32_t deadline_ms = 6000;
    pid_t pid = writer_start(&t, ino, 5, 32ull * MiB, 16ull * MiB, deadline_ms);
    uint64_t killed_at = time_mono_ms();
    writer_kill(pid);
    CHECKF(staged_everywhere(&t) > 0, "the writer left nothing staged: not killed mid-write");

    /* Readers see nothing of it, before and after the abort. */
    struct dt_span none = {5, 0, 0};
    CHECK_EQ_U64(dt_check(&t, NULL, ino, 0, dt_expect_span, &none), 0);
    CHECK_EQ_U64(dt_chunk(&t, ino, 0).id, 0);
    wait_no_staged(&t, deadline_ms + 20000);
    fprintf(stderr, "staged copies gone %" PRIu64 " ms after the kill (deadline %u ms)\n",
            time_mono_ms() - killed_at, deadline_ms);
    CHECK_EQ_U64(dt_check(&t, NULL, ino, 0, dt_expect_span, &none), 0);

    /* The chunk is free again. */
    CHECK_OK(dt_write(&t, ino, 6, 0, 3 * MiB, MiB));
    struct dt_span s = {6, 0, 3 * MiB};
    CHECK_EQ_U64(dt_check(&t, NULL, ino, 3 * MiB, dt_expect_span, &s), 0);
    dt_stop(&t);
}

/* A chunk server stopped (SIGSTOP) while a chunk it holds is overwritten:
 * the write goes on without it and commits on the others. It comes back
 * with the old version: readers are never sent there for the new one, it
 * cannot serve the new version with old bytes, and its old copy is
 * deleted; the chunk gets back to its goal. */
TEST_T(data_stale_replica_deleted, 90)
{
    static struct dt t;
    struct dt_opts o = {.chunks = 3,
                        .copt = {.scrub_rate = CLUSTER_SCRUB_OFF, .heartbeat_ms = 200},
                        .io_timeout_ms = 2000};
    dt_start(&t, &o);
    uint64_t ino = dt_create(&t, "st", 0);
    CHECK_OK(dt_write(&t, ino, 1, 0, 2 * MiB, MiB));
    struct datafile_chunk v1 = dt_chunk(&t, ino, 0);
    dt_wait_committed(&t, &v1, 10000);
    uint32_t stale = v1.replicas[0];
    uint32_t slot = dt_slot(&t, stale);
    /* The overwrite's first piece goes to both; then the server stops. */
    struct datafile *f;
    CHECK_OK(datafile_open(t.dc, ino, DATAFILE_WRITE, &f));
    uint8_t *buf = malloc(300000);
    CHECK(buf);
    dt_pattern(2, 100000, buf, 300000);
    CHECK_EQ(datafile_pwrite(f, buf, 65536, 100000), 65536);
    cluster_run_for(&t.c, 200);
    cluster_chunk_pause(&t.c, slot);
    CHECK_EQ(datafile_pwrite(f, buf + 65536, 300000 - 65536, 100000 + 65536), 300000 - 65536);
    CHECK_OK(datafile_close(f));
    free(buf);
    struct datafile_chunk v2 = dt_chunk(&t, ino, 0);
    CHECK_EQ_U64(v2.version, v1.version + 1);
    for (uint8_t i = 0; i < v2.n_replicas; i++)
        CHECKF(v2.replicas[i] != stale, "the commit names the stopped replica");
    struct dt_spans v = {.n = 2, .s = {{1, 0, 2 * MiB}, {2, 100000, 300000}}};
    CHECK_EQ_U64(dt_check(&t, NULL, ino, 2 * MiB, dt_expect_spans, &v), 0);

    cluster_run_for(&t.c, 2500); /* past the leader's dead timeout */
    cluster_chunk_resume(&t.c, slot);
    /* Back, it holds the old version (and maybe a staged start of the new
     * one, from pieces that were in its socket buffer): the map never names
     * it for the new version until a true copy is made, so readers only see
     * the new bytes; the old version and the leftover are deleted. */
    uint64_t end = time_mono_ms() + 30000;
    for (;;) {
        CHECK_EQ_U64(dt_check(&t, NULL, ino, 2 * MiB, dt_expect_spans, &v), 0);
        struct cluster_chunk_file files[8];
        size_t n = 0;
        CHECK_OK(cluster_chunk_versions(&t.c, slot, v1.id, files, 8, &n));
        int left = 0;
        for (size_t i = 0; i < CAIRN_MIN(n, (size_t)8); i++)
            left |= files[i].version < v2.version || files[i].staged;
        if (!left)
            break;
        CHECKF(time_mono_ms() < end, "the stale version is still on node %u", stale);
        cluster_run_for(&t.c, 100);
    }
    struct datafile_chunk c = dt_wait_goal(&t, ino, 0, 2, 0, 30000);
    CHECK_EQ_U64(c.version, v2.version);
    dt_wait_committed(&t, &c, 20000);
    for (uint8_t i = 0; i < c.n_replicas; i++) {
        int rc = dt_verify_on(&t, c.replicas[i], &c, 0, dt_expect_spans, &v);
        CHECKF(rc == 0, "replica %u: %s", c.replicas[i], cairn_err_name(rc));
    }
    CHECK_EQ_U64(dt_check(&t, NULL, ino, 2 * MiB, dt_expect_spans, &v), 0);
    dt_stop(&t);
}

/* Index of the metadata leader (CHECKed). */
static uint32_t leader_slot(struct dt *t)
{
    int l = cluster_wait_leader(&t->c, 20000);
    CHECK(l >= 0);
    return (uint32_t)l;
}

/* The metadata leader is SIGKILLed after the bytes of an overwrite are
 * prepared on the replicas and before the commit: readers see the old file
 * whole; the writer's commit goes to the new leader and completes (the
 * pending write was in the Raft log); then readers see the new file whole.
 * A second overwrite loses its leader AND its writer before the commit: it
 * is aborted at its deadline and the file stays as it was. */
TEST_T(data_leader_killed_before_commit, 120)
{
    static struct dt t;
    struct dt_opts o = {.chunks = 3,
                        .copt = {.scrub_rate = CLUSTER_SCRUB_OFF, .heartbeat_ms = 200}};
    dt_start(&t, &o);
    uint64_t ino = dt_create(&t, "l", 0);
    const uint64_t size = 4ull * MiB;
    CHECK_OK(dt_write(&t, ino, 1, 0, size, MiB));
    struct dt_span old = {1, 0, size}, neu = {2, 0, size}, third = {3, 0, size};

    struct datafile *f;
    CHECK_OK(datafile_open(t.dc, ino, DATAFILE_READ | DATAFILE_WRITE, &f));
    uint8_t *buf = malloc(MiB);
    CHECK(buf);
    for (uint64_t off = 0; off < size; off += MiB) {
        dt_pattern(2, off, buf, MiB);
        CHECK_EQ(datafile_pwrite(f, buf, MiB, off), (int64_t)MiB);
    }
    free(buf);
    uint32_t l = leader_slot(&t);
    cluster_node_kill(&t.c, l);
    struct dataclient *reader = dt_dataclient(&t, 3000);
    CHECK_EQ_U64(dt_check(&t, reader, ino, size, dt_expect_span, &old), 0);
    CHECK_OK(datafile_fsync(f));
    CHECK_OK(datafile_close(f));
    CHECK_EQ_U64(dt_check(&t, reader, ino, size, dt_expect_span, &neu), 0);
    CHECK_OK(cluster_node_spawn(&t.c, l));
    CHECK_OK(cluster_wait_ready(&t.c, l, 20000));

    /* Leader and writer both die before the commit. */
    pid_t pid = writer_start(&t, ino, 3, 3 * size, 3 * size, 5000);
    l = leader_slot(&t);
    cluster_node_kill(&t.c, l);
    writer_kill(pid);
    CHECK_EQ_U64(dt_check(&t, reader, ino, size, dt_expect_span, &neu), 0);
    CHECK_OK(cluster_node_spawn(&t.c, l));
    wait_no_staged(&t, 30000);
    uint64_t bad = dt_check(&t, reader, ino, size, dt_expect_span, &neu);
    CHECKF(bad == 0, "the file changed at %" PRIu64 " (third writer's bytes: %s)", bad - 1,
           dt_check(&t, reader, ino, size, dt_expect_span, &third) == 0 ? "all" : "some");
    dataclient_close(reader);
    uint64_t digest;
    CHECK_OK(cluster_wait_converged(&t.c, 0, 30000, &digest));
    dt_stop(&t);
}

/* Write 32 MiB of key into f at 0, calling mid() after the first 16. */
static void write_around(struct dt *t, struct datafile *f, uint64_t key, void (*mid)(struct dt *),
                         struct dt *arg)
{
    uint8_t *buf = malloc(MiB);
    CHECK(buf);
    for (uint64_t off = 0; off < 32ull * MiB; off += MiB) {
        if (off == 16ull * MiB)
            mid(arg);
        dt_pattern(key, off, buf, MiB);
        int64_t n = datafile_pwrite(f, buf, MiB, off);
        CHECKF(n == (int64_t)MiB, "pwrite at %" PRIu64 ": %s", off, cairn_err_name((int)n));
    }
    free(buf);
    (void)t;
}

static void kill_first(struct dt *t) { cluster_chunk_kill(&t->c, 0); }

/* The highest chunk id with a version file on slot i (0: none) and, with
 * staged_only, counting staged versions only. */
static uint64_t max_chunk_on(struct dt *t, uint32_t i, int staged_only)
{
    uint64_t max = 0;
    char dir[CLUSTER_PATH_MAX + 16];
    for (unsigned h = 0; h < 256; h++) {
        snprintf(dir, sizeof dir, "%s/chunks/%02x", t->c.chunks[i].data, h);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            uint64_t id, version;
            enum chunk_name_kind k = chunk_name_parse(e->d_name, &id, &version);
            if (k == CHUNK_NAME_STAGED || (!staged_only && k == CHUNK_NAME_COMMITTED))
                max = CAIRN_MAX(max, id);
        }
        closedir(d);
    }
    return max;
}

/* Chunk ids are allocated in increasing order: the goal-1 write's chunk is
 * newer than every chunk on disk when it began. */
static uint64_t stager_after;

/* Kill the chunk server holding the staged copy of the goal-1 write. */
static void kill_stager(struct dt *t)
{
    for (uint32_t i = 0; i < t->c.n_chunks; i++) {
        if (t->c.chunks[i].pid > 0 && max_chunk_on(t, i, 1) > stager_after) {
            cluster_chunk_kill(&t->c, i);
            return;
        }
    }
    CHECKF(0, "no chunk server holds the staged copy");
}

/* A chunk server SIGKILLed in the middle of a write: with goal 3 it is left
 * out of the chain and the write commits on the other two; with goal 1 the
 * chain is empty, so the write is aborted and done again (from the client's
 * copy) on a new allocation. Both files read back whole. */
TEST_T(data_write_survives_chunk_server_kill, 120)
{
    static struct dt t;
    struct dt_opts o = {.chunks = 3,
                        .copt = {.scrub_rate = CLUSTER_SCRUB_OFF, .heartbeat_ms = 200}};
    dt_start(&t, &o);
    struct dt_span s3 = {43, 0, 32ull * MiB}, s1 = {41, 0, 32ull * MiB};
    uint64_t g3 = dt_create(&t, "g3", 3);
    struct datafile *f;
    CHECK_OK(datafile_open(t.dc, g3, DATAFILE_WRITE, &f));
    write_around(&t, f, 43, kill_first, &t);
    CHECK_OK(datafile_close(f));
    struct dataclient_stats st;
    dataclient_get_stats(t.dc, &st);
    CHECK(st.replicas_dropped >= 1);
    /* The commit names who acked everything: when a replica in the middle
     * of the chain dies, the ones after it are unknown too (the chunk server
     * cannot tell what they got), so one or two; the leader copies it back
     * to both live servers. */
    struct datafile_chunk c = dt_chunk(&t, g3, 0);
    CHECK(c.n_replicas >= 1 && c.n_replicas <= 2);
    for (uint8_t i = 0; i < c.n_replicas; i++)
        CHECK(c.replicas[i] != t.c.chunks[0].node);
    CHECK_EQ_U64(dt_check(&t, NULL, g3, 32ull * MiB, dt_expect_span, &s3), 0);
    dt_wait_goal(&t, g3, 0, 2, t.c.chunks[0].node, 30000);

    CHECK_OK(cluster_chunk_spawn(&t.c, 0));
    CHECK_OK(cluster_chunk_wait_ready(&t.c, 0, 20000));
    stager_after = 0;
    for (uint32_t i = 0; i < t.c.n_chunks; i++)
        stager_after = CAIRN_MAX(stager_after, max_chunk_on(&t, i, 0));
    uint64_t g1 = dt_create(&t, "g1", 1);
    uint64_t aborts = st.aborts;
    CHECK_OK(datafile_open(t.dc, g1, DATAFILE_WRITE, &f));
    write_around(&t, f, 41, kill_stager, &t);
    CHECK_OK(datafile_close(f));
    dataclient_get_stats(t.dc, &st);
    CHECK(st.aborts > aborts);
    c = dt_chunk(&t, g1, 0);
    CHECK_EQ(c.n_replicas, 1);
    int s = cluster_chunk_slot(&t.c, c.replicas[0]);
    CHECK(s >= 0 && t.c.chunks[s].pid > 0);
    CHECK_EQ_U64(dt_check(&t, NULL, g1, 32ull * MiB, dt_expect_span, &s1), 0);
    dt_stop(&t);
}
