/* bench_fuse.c: `cairn mount` next to a local directory on the same disk,
 * in the same run: a cluster on loopback (tests/lib/cluster_harness.h: one
 * `cairn meta`, two `cairn chunk`, goal 2 by default) with its data under
 * a base directory, a real FUSE mount of it (tests/lib/mount_harness.h)
 * and a plain directory beside them; every figure is measured on both.
 *
 *   seq write    MB/s writing one file of --mb MiB in 1 MiB write(2)s,
 *                fsync and close included;
 *   seq read     MB/s reading it back in 1 MiB read(2)s, page cache dropped
 *                first (echo 3 > /proc/sys/vm/drop_caches, as root);
 *   create/stat/unlink   ops/s over --files files in one directory
 *                (open O_CREAT|O_EXCL + close; stat after dropping the
 *                caches, so no cached attributes; unlink);
 *   4 KiB files  files/s written (open, 4 KiB write, close) and read
 *                (open, read, close; caches dropped first), --small files;
 *   tree         seconds of `cp -a` of --tree (default /usr/include) into
 *                the target and of `rm -rf` of the copy.
 *
 * usage: bench_fuse [--mb N] [--files N] [--small N] [--tree DIR]
 *                   [--chunks N] [--dir BASE] [--keep]
 * Needs root and /dev/fuse (else it says so and exits 0). The base
 * directory (default $TMPDIR or /var/tmp) holds both sides, so they share
 * one disk. Numbers only; nothing is asserted. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "cluster_harness.h"
#include "common/assert.h"
#include "common/log.h"
#include "common/prng.h"
#include "common/time.h"
#include "mount_harness.h"

#define BF_IO (1024 * 1024)
#define BF_SMALL 4096
#define BF_PATH 1024

struct bf_opts {
    uint64_t mb;
    uint32_t files, small, chunks;
    const char *tree;
    const char *base;
    int keep;
};

/* One figure for both sides; higher_better says which way the ratio reads. */
struct bf_row {
    char name[64];
    const char *unit;
    double v[2]; /* [0] mount, [1] local */
};

#define BF_ROWS 12
static struct bf_row rows[BF_ROWS];
static int n_rows;
static int caches_dropped = 1;
static uint8_t io_buf[BF_IO];

static double now_s(void) { return (double)time_mono_ns() / 1e9; }

static struct bf_row *bf_row(const char *name, const char *unit)
{
    for (int i = 0; i < n_rows; i++)
        if (strcmp(rows[i].name, name) == 0)
            return &rows[i];
    CAIRN_ASSERT(n_rows < BF_ROWS);
    struct bf_row *r = &rows[n_rows++];
    snprintf(r->name, sizeof r->name, "%s", name);
    r->unit = unit;
    return r;
}

static void bf_set(int side, const char *name, const char *unit, double v)
{
    bf_row(name, unit)->v[side] = v;
    fprintf(stderr, "  %-6s %-28s %12.1f %s\n", side ? "local" : "mount", name, v, unit);
}

/* sync(2) and drop the page cache (root only; remembered if it failed). */
static void bf_drop_caches(void)
{
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd < 0 || write(fd, "3", 1) != 1)
        caches_dropped = 0;
    if (fd >= 0)
        close(fd);
}

static void bf_path(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, BF_PATH, "%s/%s", dir, name);
    CAIRN_ASSERT(n > 0 && n < BF_PATH);
}

static void bf_seq(int side, const char *dir, uint64_t mb)
{
    char p[BF_PATH];
    bf_path(p, dir, "seq");
    double t0 = now_s();
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CAIRN_ASSERTF(fd >= 0, "open %s: %s", p, strerror(errno));
    for (uint64_t i = 0; i < mb; i++)
        CAIRN_ASSERTF(write(fd, io_buf, BF_IO) == BF_IO, "write %s: %s", p, strerror(errno));
    CAIRN_ASSERT(fsync(fd) == 0 && close(fd) == 0);
    double w = now_s() - t0;
    bf_drop_caches();
    t0 = now_s();
    fd = open(p, O_RDONLY);
    CAIRN_ASSERT(fd >= 0);
    uint64_t got = 0;
    ssize_t n;
    while ((n = read(fd, io_buf, BF_IO)) > 0)
        got += (uint64_t)n;
    CAIRN_ASSERTF(n == 0 && got == mb * BF_IO, "read %s: %" PRIu64 " bytes", p, got);
    close(fd);
    double r = now_s() - t0;
    char name[64];
    snprintf(name, sizeof name, "seq write %" PRIu64 " MiB", mb);
    bf_set(side, name, "MB/s", (double)(mb * BF_IO) / 1e6 / w);
    snprintf(name, sizeof name, "seq read %" PRIu64 " MiB", mb);
    bf_set(side, name, "MB/s", (double)(mb * BF_IO) / 1e6 / r);
    CAIRN_ASSERT(unlink(p) == 0);
}

/* create, stat, unlink of n files in one new directory. */
static void bf_meta(int side, const char *dir, uint32_t n)
{
    char d[BF_PATH], p[BF_PATH + 16];
    bf_path(d, dir, "many");
    CAIRN_ASSERT(mkdir(d, 0755) == 0);
    double t0 = now_s();
    for (uint32_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/f%07u", d, i);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
        CAIRN_ASSERTF(fd >= 0, "create %s: %s", p, strerror(errno));
        close(fd);
    }
    double tc = now_s() - t0;
    bf_drop_caches(); /* stat what is not cached (kernel dentries and attributes) */
    t0 = now_s();
    for (uint32_t i = 0; i < n; i++) {
        struct stat st;
        snprintf(p, sizeof p, "%s/f%07u", d, i);
        CAIRN_ASSERTF(stat(p, &st) == 0, "stat %s: %s", p, strerror(errno));
    }
    double ts = now_s() - t0;
    t0 = now_s();
    for (uint32_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/f%07u", d, i);
        CAIRN_ASSERTF(unlink(p) == 0, "unlink %s: %s", p, strerror(errno));
    }
    double tu = now_s() - t0;
    CAIRN_ASSERT(rmdir(d) == 0);
    bf_set(side, "create (1 dir)", "ops/s", n / tc);
    bf_set(side, "stat", "ops/s", n / ts);
    bf_set(side, "unlink", "ops/s", n / tu);
}

/* n files of 4 KiB written, then (caches dropped) read. */
static void bf_small(int side, const char *dir, uint32_t n)
{
    char d[BF_PATH], p[BF_PATH + 16];
    bf_path(d, dir, "small");
    CAIRN_ASSERT(mkdir(d, 0755) == 0);
    double t0 = now_s();
    for (uint32_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/s%07u", d, i);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CAIRN_ASSERTF(fd >= 0, "create %s: %s", p, strerror(errno));
        CAIRN_ASSERT(write(fd, io_buf + (i % 256) * 16, BF_SMALL) == BF_SMALL);
        CAIRN_ASSERTF(close(fd) == 0, "close %s: %s", p, strerror(errno));
    }
    double tw = now_s() - t0;
    bf_drop_caches();
    t0 = now_s();
    for (uint32_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/s%07u", d, i);
        int fd = open(p, O_RDONLY);
        CAIRN_ASSERTF(fd >= 0, "open %s: %s", p, strerror(errno));
        CAIRN_ASSERT(read(fd, io_buf + BF_IO / 2, BF_SMALL) == BF_SMALL);
        close(fd);
    }
    double tr = now_s() - t0;
    char cmd[BF_PATH + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    CAIRN_ASSERT(system(cmd) == 0);
    bf_set(side, "4 KiB files written", "files/s", n / tw);
    bf_set(side, "4 KiB files read", "files/s", n / tr);
}

/* cp -a of the tree, then rm -rf of the copy: seconds each. */
static void bf_tree(int side, const char *dir, const char *tree)
{
    char dst[BF_PATH], cmd[3 * BF_PATH];
    bf_path(dst, dir, "tree");
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", tree, dst);
    double t0 = now_s();
    int rc = system(cmd);
    double tc = now_s() - t0;
    CAIRN_ASSERTF(rc == 0, "%s: status %d", cmd, rc);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dst);
    t0 = now_s();
    rc = system(cmd);
    double tr = now_s() - t0;
    CAIRN_ASSERTF(rc == 0, "%s: status %d", cmd, rc);
    bf_set(side, "tree cp -a", "s", tc);
    bf_set(side, "tree rm -rf", "s", tr);
}

static void bf_run(int side, const char *dir, const struct bf_opts *o)
{
    fprintf(stderr, "%s: %s\n", side ? "local directory" : "cairn mount", dir);
    bf_seq(side, dir, o->mb);
    bf_meta(side, dir, o->files);
    bf_small(side, dir, o->small);
    bf_tree(side, dir, o->tree);
}

static void bf_print(const struct bf_opts *o)
{
    printf("\ncairn mount (1 meta, %u chunk servers, goal 2, loopback) vs a local directory on "
           "the same disk\n",
           o->chunks);
    printf("%-28s %12s %12s %8s  %s\n", "", "mount", "local", "ratio", "unit");
    for (int i = 0; i < n_rows; i++) {
        const struct bf_row *r = &rows[i];
        printf("%-28s %12.1f %12.1f %8.3f  %s\n", r->name, r->v[0], r->v[1],
               r->v[1] > 0 ? r->v[0] / r->v[1] : 0.0, r->unit);
    }
    printf("(ratio = mount / local; for seconds lower is better)\n");
    if (!caches_dropped)
        printf("note: page cache NOT dropped between write and read (not root?)\n");
}

static int bf_parse(int argc, char **argv, struct bf_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            o->keep = 1;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--mb") == 0)
            o->mb = strtoull(v, NULL, 10);
        else if (strcmp(a, "--files") == 0)
            o->files = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--small") == 0)
            o->small = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--chunks") == 0)
            o->chunks = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--tree") == 0)
            o->tree = v;
        else if (strcmp(a, "--dir") == 0)
            o->base = v;
        else
            return -1;
    }
    return o->mb && o->files && o->small && o->chunks ? 0 : -1;
}

/* Cluster, chunk servers and the mount under base/c and base/mnt. */
static void bf_start(struct cluster *c, struct mount_proc *m, const char *base,
                     const struct bf_opts *o)
{
    char dir[CLUSTER_DIR_MAX];
    snprintf(dir, sizeof dir, "%s/c", base);
    CAIRN_ASSERT(mkdir(dir, 0755) == 0);
    struct cluster_opts co = {.n = 1, .seed = 7};
    int rc = cluster_start(c, dir, &co, NULL);
    CAIRN_ASSERTF(rc == 0, "cluster_start: %s", cairn_err_name(rc));
    struct cluster_chunk_opts copt = {.scrub_rate = CLUSTER_SCRUB_OFF};
    for (uint32_t i = 0; i < o->chunks; i++) {
        rc = cluster_chunk_add(c, &copt, 20000);
        CAIRN_ASSERTF(rc >= 0, "chunk server %u: %s", i, cairn_err_name(rc));
    }
    char mnt[CLUSTER_PATH_MAX];
    snprintf(mnt, sizeof mnt, "%s/mnt", base);
    rc = mount_start(c, mnt, NULL, 20000, m);
    CAIRN_ASSERTF(rc == 0, "mount_start: %s", cairn_err_name(rc));
}

int main(int argc, char **argv)
{
    struct bf_opts o = {.mb = 1024, .files = 10000, .small = 1000, .chunks = 2};
    o.tree = "/usr/include";
    o.base = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    if (bf_parse(argc, argv, &o) != 0) {
        fprintf(stderr,
                "usage: %s [--mb N] [--files N] [--small N] [--tree DIR] [--chunks N] "
                "[--dir BASE] [--keep]\n",
                argv[0]);
        return 2;
    }
    if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
        printf("bench_fuse: skipped (needs root and /dev/fuse)\n");
        return 0;
    }
    cairn_log_set_level(CAIRN_LOG_WARN);
    struct prng r;
    prng_seed(&r, 42);
    prng_fill(&r, io_buf, sizeof io_buf);
    char base[CLUSTER_DIR_MAX - 64];
    snprintf(base, sizeof base, "%s/cairn-bench-fuse-XXXXXX", o.base);
    CAIRN_ASSERTF(mkdtemp(base) != NULL, "mkdtemp %s: %s", base, strerror(errno));
    static struct cluster c;
    static struct mount_proc m;
    bf_start(&c, &m, base, &o);
    char local[BF_PATH];
    bf_path(local, base, "local");
    CAIRN_ASSERT(mkdir(local, 0755) == 0);
    bf_run(0, m.dir, &o);
    bf_run(1, local, &o);
    int rc = mount_stop(&m);
    if (rc)
        fprintf(stderr, "mount_stop: %s\n", cairn_err_name(rc));
    cluster_stop(&c);
    bf_print(&o);
    if (!o.keep) {
        char cmd[BF_PATH + 32];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", base);
    } else {
        printf("kept %s\n", base);
    }
    return 0;
}
