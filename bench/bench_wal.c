/* bench_wal.c: write-ahead log throughput with one fdatasync per batch.
 *
 * For batch sizes 1, 16 and 256 entries of 100 bytes, appends a batch and
 * syncs it, again and again for about two seconds each, on the real file
 * system in a fresh directory under $TMPDIR (default /tmp), removed after.
 * Prints one table row per batch size: batches (= fdatasyncs) per second,
 * entries per second, and payload MiB per second. Batches of 16 and 256 are
 * what group commit buys: a proposal's cost is its share of one fdatasync.
 *
 *   build/bench/bench_wal [seconds-per-row]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/time.h"
#include "raftio/fs.h"
#include "raftio/wal.h"

#define ENTRY_BYTES 100u
#define BATCH_MAX 256u

static void remove_dir(const char *dir)
{
    struct raftio_fs *fs = raftio_fs_posix();
    struct raftio_names names;
    if (rio_list(fs, dir, &names) == 0) {
        for (size_t i = 0; i < names.n; i++) {
            char path[4096];
            if (rio_path(path, sizeof path, dir, names.v[i]) == 0)
                rio_unlink(fs, path);
        }
        rio_names_free(&names);
    }
    rmdir(dir);
}

/* One row: appends batches of `batch` entries with a sync each for `secs`. */
static int bench_row(const char *base, unsigned batch, double secs)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/cairn-bench-wal-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    struct wal_options o = {.cluster_id = 1, .start_index = 1};
    struct wal *w;
    int rc = wal_open(dir, &o, &w, NULL);
    if (rc) {
        fprintf(stderr, "wal_open: %s\n", cairn_strerror(rc));
        remove_dir(dir);
        return 1;
    }
    static uint8_t data[BATCH_MAX][ENTRY_BYTES];
    struct raft_entry e[BATCH_MAX];
    for (unsigned i = 0; i < batch; i++) {
        memset(data[i], (int)i, ENTRY_BYTES);
        e[i] = (struct raft_entry){.term = 1, .len = ENTRY_BYTES, .data = data[i]};
    }
    uint64_t next = 1, batches = 0;
    uint64_t start = time_mono_ns(), deadline = start + (uint64_t)(secs * 1e9), now = start;
    while (rc == 0 && now < deadline) {
        for (unsigned i = 0; i < batch; i++)
            e[i].index = next + i;
        rc = wal_append(w, e, batch);
        if (rc == 0)
            rc = wal_sync(w);
        next += batch;
        batches++;
        now = time_mono_ns();
    }
    wal_close(w);
    remove_dir(dir);
    if (rc) {
        fprintf(stderr, "append/sync: %s\n", cairn_strerror(rc));
        return 1;
    }
    double elapsed = (double)(now - start) / 1e9;
    double entries = (double)batches * batch;
    printf("%10u %14.0f %14.0f %10.2f\n", batch, (double)batches / elapsed, entries / elapsed,
           entries * ENTRY_BYTES / elapsed / (1024.0 * 1024.0));
    return 0;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? strtod(argv[1], NULL) : 2.0;
    if (secs <= 0)
        secs = 2.0;
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    static const unsigned batches[] = {1, 16, 256};
    printf("wal: %u-byte entries, one fdatasync per batch, %.1f s per row, in %s\n", ENTRY_BYTES,
           secs, base);
    printf("%10s %14s %14s %10s\n", "batch", "fdatasync/s", "entries/s", "MiB/s");
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++)
        if (bench_row(base, batches[i], secs) != 0)
            return 1;
    return 0;
}
