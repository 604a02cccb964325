/* bench_chunk.c: sequential write and read of one 64 MiB chunk through the chunk store,
 * next to the same I/O on a plain file of the same disk, in the same run.
 *
 * Write: stage a version, write 64 MiB in 1 MiB pieces, flush (fdatasync), commit.
 * Raw write: pwrite 64 MiB in 1 MiB pieces to a plain file, fdatasync (what `dd conv=fsync`
 * measures). Reads: the page cache is emptied for the file first (posix_fadvise DONTNEED,
 * clean pages only, so after the fdatasync it empties the file), then 64 MiB are read in 1
 * MiB pieces: through chunk_read (every block's CRC verified) and with plain pread. Each
 * row is repeated for about `seconds` (default 0.3) and reports MiB/s over all rounds.
 * The directory is created under $TMPDIR (default /tmp) and removed after.
 *
 *   build/bench/bench_chunk [seconds-per-row]
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "chunk/chunk.h"
#include "chunk/format.h"
#include "common/prng.h"
#include "common/time.h"

#define PIECE (1024u * 1024u)
#define ROUNDS_MAX 20

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Drops the file's clean pages from the page cache, so the next read comes from the disk. */
static void drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

struct ctx {
    char dir[4096];
    char raw[4200];
    char chk[4200];
    struct chunk_store *s;
    uint8_t *data; /* 64 MiB of random bytes */
    uint8_t *buf;  /* a read piece */
    uint64_t version;
};

static int chunk_write_round(struct ctx *c)
{
    uint64_t v = ++c->version;
    int rc = chunk_stage(c->s, 1, v, 0);
    for (uint64_t off = 0; rc == 0 && off < CAIRN_CHUNK_SIZE; off += PIECE)
        rc = chunk_write(c->s, 1, v, off, c->data + off, PIECE);
    if (rc == 0)
        rc = chunk_flush(c->s, 1, v);
    if (rc == 0)
        rc = chunk_commit(c->s, 1, v);
    char name[CHUNK_NAME_LEN];
    chunk_name_format(name, 1, v, CHUNK_NAME_COMMITTED);
    snprintf(c->chk, sizeof c->chk, "%s/chunks/%02x/%s", c->dir, chunk_fanout(1), name);
    return rc;
}

static int chunk_read_round(struct ctx *c)
{
    drop_cache(c->chk);
    int rc = 0;
    for (uint64_t off = 0; rc == 0 && off < CAIRN_CHUNK_SIZE; off += PIECE) {
        struct chunk_read_result r;
        rc = chunk_read(c->s, 1, c->version, off, c->buf, PIECE, 0, &r);
        if (rc == 0 && (r.got != PIECE || memcmp(c->buf, c->data + off, PIECE) != 0))
            rc = CAIRN_CORRUPT;
    }
    return rc;
}

static int raw_write_round(struct ctx *c)
{
    int fd = open(c->raw, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return CAIRN_EIO;
    int rc = 0;
    for (uint64_t off = 0; rc == 0 && off < CAIRN_CHUNK_SIZE; off += PIECE)
        if (pwrite(fd, c->data + off, PIECE, (off_t)off) != (ssize_t)PIECE)
            rc = CAIRN_EIO;
    if (rc == 0 && fdatasync(fd) != 0)
        rc = CAIRN_EIO;
    close(fd);
    return rc;
}

static int raw_read_round(struct ctx *c)
{
    drop_cache(c->raw);
    int fd = open(c->raw, O_RDONLY);
    if (fd < 0)
        return CAIRN_EIO;
    int rc = 0;
    for (uint64_t off = 0; rc == 0 && off < CAIRN_CHUNK_SIZE; off += PIECE)
        if (pread(fd, c->buf, PIECE, (off_t)off) != (ssize_t)PIECE ||
            memcmp(c->buf, c->data + off, PIECE) != 0)
            rc = CAIRN_EIO;
    close(fd);
    return rc;
}

/* Runs one kind of round until secs have passed (at least one, at most ROUNDS_MAX) and
 * prints its MiB/s. */
static int row(struct ctx *c, const char *what, int (*round)(struct ctx *), double secs)
{
    uint64_t start = time_mono_ns(), now = start;
    int n = 0, rc = 0;
    while (rc == 0 && n < ROUNDS_MAX && (n == 0 || (double)(now - start) < secs * 1e9)) {
        rc = round(c);
        n++;
        now = time_mono_ns();
    }
    if (rc) {
        fprintf(stderr, "%s: %s\n", what, cairn_strerror(rc));
        return 1;
    }
    double s = (double)(now - start) / 1e9;
    printf("%-32s %6d %10.1f\n", what, n, (double)n * CAIRN_CHUNK_SIZE / s / (1024.0 * 1024.0));
    return 0;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? strtod(argv[1], NULL) : 0.3;
    if (secs <= 0)
        secs = 0.6;
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    static struct ctx c;
    snprintf(c.dir, sizeof c.dir, "%s/cairn-bench-chunk-XXXXXX", base);
    if (!mkdtemp(c.dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(c.raw, sizeof c.raw, "%s/raw", c.dir);
    c.data = malloc(CAIRN_CHUNK_SIZE);
    c.buf = malloc(PIECE);
    struct chunk_store_options o = {.dir = c.dir};
    int rc = c.data && c.buf ? chunk_store_open(&o, &c.s, NULL) : CAIRN_ENOMEM;
    if (rc) {
        fprintf(stderr, "chunk_store_open: %s\n", cairn_strerror(rc));
        remove_tree(c.dir);
        return 1;
    }
    struct prng r;
    prng_seed(&r, 1);
    prng_fill(&r, c.data, CAIRN_CHUNK_SIZE);
    printf("chunk: one 64 MiB chunk, 1 MiB pieces, fdatasync before the end of each write, "
           "cold reads, in %s\n",
           base);
    printf("%-32s %6s %10s\n", "", "rounds", "MiB/s");
    int bad = row(&c, "raw write + fdatasync", raw_write_round, secs) ||
              row(&c, "chunk stage+write+flush+commit", chunk_write_round, secs) ||
              row(&c, "raw read", raw_read_round, secs) ||
              row(&c, "chunk read (CRC verified)", chunk_read_round, secs);
    chunk_store_close(c.s);
    remove_tree(c.dir);
    free(c.data);
    free(c.buf);
    return bad;
}
