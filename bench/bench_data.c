/* bench_data.c: the data path as a client sees it, on a local cluster of 3
 * `cairn meta` and 3 `cairn chunk` processes (tests/lib/cluster_harness.h)
 * with the data client (src/client/file.h) in this process.
 *
 *   raw disk    a plain file on the same disk, written in 1 MiB writes then
 *               fdatasync'd (dd conv=fdatasync), dropped from the page cache
 *               (posix_fadvise DONTNEED) and read back in 1 MiB reads;
 *   write MB/s  one file of --size MiB (default 1024) written sequentially in
 *               1 MiB pwrites and closed (every chunk flushed on each replica
 *               and committed), with replication goal 1, 2 and 3;
 *   read MB/s   the same file read back in 16 MiB preads, the chunk files
 *               dropped from the page cache first;
 *   restore     the goal-3 file's servers each hold all of it: a 4th server
 *               is added, one of the 3 is SIGKILLed, and the time until
 *               every chunk has 3 replicas on live servers is measured (the
 *               leader's dead timeout, 3 s by default, is included).
 *
 * usage: bench_data [--size MiB] [--log-level L (of the daemons)] [--keep]
 * Numbers only; nothing is asserted except that the bytes read are the
 * bytes written. Every process shares the machine's disk and 2 cores. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "client/file.h"
#include "client/metaclient.h"
#include "cluster_harness.h"
#include "common/assert.h"
#include "common/log.h"
#include "common/time.h"
#include "meta/cmd.h"

#define MiB (1024u * 1024u)
#define READ_PIECE (16u * MiB)

struct bench {
    struct cluster c;
    struct metaclient *mc;
    struct dataclient *dc;
    uint64_t size;
    uint8_t *wbuf, *rbuf;
    struct cairn_buf cmd, reply;
};

static double mbps(uint64_t bytes, uint64_t ns) { return (double)bytes / 1e6 / ((double)ns / 1e9); }

/* The bytes at off: a random 1 MiB block, stamped with its offset. */
static void fill(uint8_t *p, uint64_t off) { memcpy(p, &off, sizeof off); }

/* --- the raw disk ----------------------------------------------------------------- */

static void raw_disk(const char *dir, struct bench *b, double *w, double *r)
{
    char path[CLUSTER_DIR_MAX + 16];
    snprintf(path, sizeof path, "%s/raw", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CAIRN_ASSERTF(fd >= 0, "open %s: %s", path, strerror(errno));
    uint64_t t0 = time_mono_ns();
    for (uint64_t off = 0; off < b->size; off += MiB) {
        fill(b->wbuf, off);
        CAIRN_ASSERT(pwrite(fd, b->wbuf, MiB, (off_t)off) == (ssize_t)MiB);
    }
    CAIRN_ASSERT(fdatasync(fd) == 0);
    *w = mbps(b->size, time_mono_ns() - t0);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    t0 = time_mono_ns();
    for (uint64_t off = 0; off < b->size; off += MiB)
        CAIRN_ASSERT(pread(fd, b->rbuf, MiB, (off_t)off) == (ssize_t)MiB);
    *r = mbps(b->size, time_mono_ns() - t0);
    close(fd);
    unlink(path);
}

/* Drop every chunk file of every server from the page cache, so reads come
 * from the disk as the raw read does. */
static void drop_chunk_cache(struct bench *b)
{
    for (uint32_t i = 0; i < b->c.n_chunks; i++) {
        char dir[CLUSTER_PATH_MAX + 16], path[CLUSTER_PATH_MAX + 300];
        for (unsigned h = 0; h < 256; h++) {
            snprintf(dir, sizeof dir, "%s/chunks/%02x", b->c.chunks[i].data, h);
            DIR *d = opendir(dir);
            if (!d)
                continue;
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
                    close(fd);
                }
            }
            closedir(d);
        }
    }
}

/* --- metadata helpers ---------------------------------------------------------------- */

static uint64_t create_file(struct bench *b, const char *name, uint8_t goal)
{
    struct meta_hdr h = {0};
    buf_reset(&b->cmd);
    buf_reset(&b->reply);
    CAIRN_ASSERT(meta_cmd_create(&b->cmd, &h, META_ROOT_INO, name, 0644, 1) == 0);
    int rc = metaclient_mutate_sync(b->mc, b->cmd.data, b->cmd.len, &b->reply, NULL);
    struct meta_attr a;
    CAIRN_ASSERTF(rc == 0 && meta_reply_attr(b->reply.data, b->reply.len, &a) == 0, "create %s: %s",
                  name, cairn_err_name(rc));
    struct meta_attr set = {.goal = goal};
    buf_reset(&b->cmd);
    CAIRN_ASSERT(meta_cmd_setattr(&b->cmd, &h, a.ino, META_SET_GOAL, &set) == 0);
    rc = metaclient_mutate_sync(b->mc, b->cmd.data, b->cmd.len, NULL, NULL);
    CAIRN_ASSERTF(rc == 0, "setattr goal: %s", cairn_err_name(rc));
    return a.ino;
}

static void unlink_file(struct bench *b, const char *name)
{
    struct meta_hdr h = {0};
    buf_reset(&b->cmd);
    CAIRN_ASSERT(meta_cmd_unlink(&b->cmd, &h, META_ROOT_INO, name) == 0);
    int rc = metaclient_mutate_sync(b->mc, b->cmd.data, b->cmd.len, NULL, NULL);
    CAIRN_ASSERTF(rc == 0, "unlink %s: %s", name, cairn_err_name(rc));
}

/* --- the data path --------------------------------------------------------------------- */

static double write_file(struct bench *b, uint64_t ino)
{
    struct datafile *f;
    CAIRN_ASSERT(datafile_open(b->dc, ino, DATAFILE_WRITE, &f) == 0);
    uint64_t t0 = time_mono_ns();
    for (uint64_t off = 0; off < b->size; off += MiB) {
        fill(b->wbuf, off);
        int64_t n = datafile_pwrite(f, b->wbuf, MiB, off);
        CAIRN_ASSERTF(n == (int64_t)MiB, "pwrite: %s", cairn_err_name((int)n));
    }
    int rc = datafile_close(f);
    CAIRN_ASSERTF(rc == 0, "close: %s", cairn_err_name(rc));
    return mbps(b->size, time_mono_ns() - t0);
}

static double read_file(struct bench *b, uint64_t ino)
{
    struct datafile *f;
    CAIRN_ASSERT(datafile_open(b->dc, ino, DATAFILE_READ, &f) == 0);
    CAIRN_ASSERT(datafile_size(f) == b->size);
    uint64_t t0 = time_mono_ns();
    for (uint64_t off = 0; off < b->size; off += READ_PIECE) {
        size_t len = (size_t)CAIRN_MIN((uint64_t)READ_PIECE, b->size - off);
        int64_t n = datafile_pread(f, b->rbuf, len, off);
        CAIRN_ASSERTF(n == (int64_t)len, "pread: %s", cairn_err_name((int)n));
        for (size_t k = 0; k < len; k += MiB) {
            fill(b->wbuf, off + k);
            CAIRN_ASSERTF(memcmp(b->rbuf + k, b->wbuf, MiB) == 0, "wrong bytes at %" PRIu64,
                          off + k);
        }
    }
    double r = mbps(b->size, time_mono_ns() - t0);
    CAIRN_ASSERT(datafile_close(f) == 0);
    return r;
}

/* 1 when every chunk of ino has `goal` replicas on running servers other
 * than `dead`. */
static int at_goal(struct bench *b, uint64_t ino, uint8_t goal, uint32_t dead)
{
    uint32_t chunks = (uint32_t)((b->size + CAIRN_CHUNK_SIZE - 1) / CAIRN_CHUNK_SIZE);
    for (uint32_t i = 0; i < chunks; i++) {
        struct datafile_chunk c;
        if (dataclient_chunk_info(b->dc, ino, i, &c) != 0 || c.n_replicas != goal)
            return 0;
        for (uint8_t k = 0; k < c.n_replicas; k++) {
            int s = cluster_chunk_slot(&b->c, c.replicas[k]);
            if (c.replicas[k] == dead || s < 0 || b->c.chunks[s].pid <= 0)
                return 0;
        }
    }
    return 1;
}

/* Bytes of ino's chunks that slot i holds, by the chunk map. */
static uint64_t held_by(struct bench *b, uint64_t ino, uint32_t i)
{
    uint64_t bytes = 0;
    uint32_t chunks = (uint32_t)((b->size + CAIRN_CHUNK_SIZE - 1) / CAIRN_CHUNK_SIZE);
    for (uint32_t k = 0; k < chunks; k++) {
        struct datafile_chunk c;
        CAIRN_ASSERT(dataclient_chunk_info(b->dc, ino, k, &c) == 0);
        for (uint8_t r = 0; r < c.n_replicas; r++)
            bytes += c.replicas[r] == b->c.chunks[i].node ? c.length : 0;
    }
    return bytes;
}

/* Add a 4th server (the target), wait until the goal-3 file is at its goal,
 * kill the server holding most of it, time the way back to the goal. */
static double restore_time(struct bench *b, uint64_t ino, uint64_t *held)
{
    int fourth = cluster_chunk_add(&b->c, &b->c.chunks[0].o, 20000);
    CAIRN_ASSERTF(fourth >= 0, "4th chunk server: %s", cairn_err_name(fourth));
    while (!at_goal(b, ino, 3, 0))
        cluster_run_for(&b->c, 50);
    uint32_t victim = 0;
    for (uint32_t i = 1; i < b->c.n_chunks; i++)
        if (held_by(b, ino, i) > held_by(b, ino, victim))
            victim = i;
    *held = held_by(b, ino, victim);
    uint32_t dead = b->c.chunks[victim].node;
    uint64_t t0 = time_mono_ns();
    cluster_chunk_kill(&b->c, victim);
    while (!at_goal(b, ino, 3, dead)) {
        CAIRN_ASSERTF(time_mono_ns() - t0 < 300 * CAIRN_NS_PER_SEC, "goal not restored in 300 s");
        cluster_run_for(&b->c, 50);
    }
    return (double)(time_mono_ns() - t0) / 1e9;
}

/* --- main ------------------------------------------------------------------------------------ */

static void start(struct bench *b, const char *dir, const char *log_level)
{
    struct cluster_opts o = {.n = 3, .seed = 42, .log_level = log_level};
    int rc = cluster_start(&b->c, dir, &o, NULL);
    CAIRN_ASSERTF(rc == 0, "cluster_start: %s", cairn_err_name(rc));
    struct cluster_chunk_opts co = {.scrub_rate = CLUSTER_SCRUB_OFF, .log_level = log_level};
    for (int i = 0; i < 3; i++) {
        rc = cluster_chunk_add(&b->c, &co, 20000);
        CAIRN_ASSERTF(rc >= 0, "chunk server: %s", cairn_err_name(rc));
    }
    const char *addrs[CLUSTER_NODES_MAX];
    size_t n = cluster_addrs(&b->c, addrs, CLUSTER_NODES_MAX);
    struct metaclient_cfg mcfg = {
        .addrs = addrs, .n_addrs = n, .secret = &b->c.secret, .name = "bench", .seed = 5};
    CAIRN_ASSERT(metaclient_new(b->c.loop, &mcfg, &b->mc) == 0);
    struct dataclient_cfg dcfg = {.mc = b->mc, .secret = &b->c.secret, .name = "bench", .seed = 6};
    CAIRN_ASSERT(dataclient_new(&dcfg, &b->dc) == 0);
}

struct args {
    uint64_t size_mib;
    int keep;
    const char *log_level;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    *a = (struct args){.size_mib = 1024, .log_level = "warn"};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            a->size_mib = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc)
            a->log_level = argv[++i];
        else if (strcmp(argv[i], "--keep") == 0)
            a->keep = 1;
        else
            return -1;
    }
    return a->size_mib >= 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static struct bench b;
    struct args a;
    if (parse_args(argc, argv, &a) != 0) {
        fprintf(stderr, "usage: %s [--size MiB] [--log-level L] [--keep]\n", argv[0]);
        return 2;
    }
    uint64_t size_mib = a.size_mib;
    b.size = size_mib * MiB;
    cairn_log_set_level(CAIRN_LOG_WARN);
    b.wbuf = malloc(MiB);
    b.rbuf = malloc(READ_PIECE);
    CAIRN_ASSERT(b.wbuf && b.rbuf);
    struct prng rng;
    prng_seed(&rng, 1);
    prng_fill(&rng, b.wbuf, MiB);
    buf_init(&b.cmd, 0);
    buf_init(&b.reply, 0);
    const char *base = getenv("TMPDIR");
    char dir[CLUSTER_DIR_MAX];
    snprintf(dir, sizeof dir, "%s/cairn-bench-data-XXXXXX", base ? base : "/tmp");
    CAIRN_ASSERT(mkdtemp(dir));

    double raw_w, raw_r, w[4], r[4];
    raw_disk(dir, &b, &raw_w, &raw_r);
    start(&b, dir, a.log_level);
    uint64_t ino[4];
    for (uint8_t g = 1; g <= 3; g++) {
        char name[8];
        snprintf(name, sizeof name, "r%u", g);
        ino[g] = create_file(&b, name, g);
        w[g] = write_file(&b, ino[g]);
        drop_chunk_cache(&b);
        r[g] = read_file(&b, ino[g]);
        fprintf(stderr, "goal %u: write %.0f MB/s, read %.0f MB/s\n", g, w[g], r[g]);
    }
    unlink_file(&b, "r1");
    unlink_file(&b, "r2");
    uint64_t held = 0;
    double restore = restore_time(&b, ino[3], &held);

    printf("| %" PRIu64 " MiB file, 1 MiB writes, %u MiB reads | write MB/s | read MB/s |\n",
           size_mib, READ_PIECE / MiB);
    printf("|---|---|---|\n");
    printf("| raw disk (1 MiB writes + fdatasync; cold reads) | %.0f | %.0f |\n", raw_w, raw_r);
    for (int g = 1; g <= 3; g++)
        printf("| cairn, replication %d | %.0f | %.0f |\n", g, w[g], r[g]);
    struct dataclient_stats st;
    dataclient_get_stats(b.dc, &st);
    printf("\nrestore the goal (3) after SIGKILL of a server holding %" PRIu64
           " MiB: %.1f s (3 s dead timeout included)\n",
           held / MiB, restore);
    printf("writes: %" PRIu64 " chunk commits, %" PRIu64 " replicas dropped from a chain, %" PRIu64
           " aborted and redone\n",
           st.commits, st.replicas_dropped, st.aborts);

    dataclient_close(b.dc);
    metaclient_close(b.mc);
    cluster_stop(&b.c);
    buf_free(&b.cmd);
    buf_free(&b.reply);
    free(b.wbuf);
    free(b.rbuf);
    if (!a.keep) {
        char cmd[CLUSTER_DIR_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}
