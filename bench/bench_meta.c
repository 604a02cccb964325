/*
 * bench_meta.c: memory per file and apply speed of the metadata state
 * machine (src/meta), without Raft or disks.
 *
 * Creates N files (default 1,000,000; argv[1] overrides) with 16-byte names
 * in 1,000 directories, each with one committed chunk on two chunk servers
 * (create + chunk alloc + chunk commit, all through meta_apply), then
 * prints the heap bytes per file (mallinfo2) and the RSS growth per file,
 * creates/s, lookups/s through meta_query, and the snapshot size, write and
 * load times. Speed is measured here, never asserted in tests.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/time.h"
#include "meta/cmd.h"
#include "meta/meta.h"

#define DIRS 1000u

struct bench {
    struct meta *m;
    uint64_t index;
    uint64_t seq;
    uint64_t session;
    struct cairn_buf cmd, reply;
};

static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (size_t)sysconf(_SC_PAGESIZE);
}

static int apply(struct bench *b)
{
    buf_reset(&b->reply);
    return meta_apply(b->m, ++b->index, b->cmd.data, b->cmd.len, &b->reply);
}

static struct meta_hdr hdr(struct bench *b, int session)
{
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    h.now_ns = 1700000000ull * CAIRN_NS_PER_SEC + b->index;
    if (session) {
        h.session = b->session;
        h.seq = ++b->seq;
    }
    return h;
}

static void must(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "bench_meta: %s: %s\n", what, cairn_strerror(rc));
        exit(1);
    }
}

static void setup(struct bench *b, uint64_t *dirs)
{
    struct meta_hdr h = hdr(b, 0);
    buf_reset(&b->cmd);
    must(meta_cmd_session_open(&b->cmd, &h, 600000), "encode");
    must(apply(b), "session open");
    b->session = b->index;
    for (int i = 0; i < 2; i++) {
        h = hdr(b, 0);
        buf_reset(&b->cmd);
        must(meta_cmd_node_register(&b->cmd, &h, 0, "127.0.0.1:9000", "", 1ull << 40, 0), "encode");
        must(apply(b), "node register");
    }
    for (uint32_t d = 0; d < DIRS; d++) {
        char name[32];
        snprintf(name, sizeof name, "dir%05u", d);
        h = hdr(b, 1);
        buf_reset(&b->cmd);
        must(meta_cmd_mkdir(&b->cmd, &h, META_ROOT_INO, name, 0755), "encode");
        must(apply(b), "mkdir");
        struct meta_attr a;
        must(meta_reply_attr(b->reply.data, b->reply.len, &a), "mkdir reply");
        dirs[d] = a.ino;
    }
}

/* One file of one chunk: create, allocate the chunk, commit it. */
static void one_file(struct bench *b, uint64_t dir, uint64_t i)
{
    static const uint32_t rep[2] = {1, 2};
    char name[32]; /* 16 bytes used */
    snprintf(name, sizeof name, "f%015llu", (unsigned long long)(i % 1000000000000000ull));
    struct meta_hdr h = hdr(b, 1);
    buf_reset(&b->cmd);
    must(meta_cmd_create(&b->cmd, &h, dir, name, 0644, 1), "encode");
    must(apply(b), "create");
    struct meta_attr a;
    must(meta_reply_attr(b->reply.data, b->reply.len, &a), "create reply");
    h = hdr(b, 1);
    buf_reset(&b->cmd);
    must(meta_cmd_chunk_alloc(&b->cmd, &h, a.ino, 0, h.now_ns + CAIRN_NS_PER_SEC, rep, 2),
         "encode");
    must(apply(b), "alloc");
    uint64_t chunk = wire_load_u64(b->reply.data + 4);
    h = hdr(b, 1);
    buf_reset(&b->cmd);
    must(meta_cmd_chunk_commit(&b->cmd, &h, a.ino, 0, chunk, 1, 4096, rep, 2), "encode");
    must(apply(b), "commit");
}

/* The outbox holds two COMMIT records per file until chunk servers ack;
 * acknowledge them so the figure is the steady state of a file. */
static void ack_outbox(struct bench *b)
{
    static struct meta_outbox_rec recs[CAIRN_OUTBOX_ACK_MAX];
    static uint64_t ids[CAIRN_OUTBOX_ACK_MAX];
    size_t n;
    while ((n = meta_outbox_list(b->m, 0, 0, recs, CAIRN_OUTBOX_ACK_MAX)) > 0) {
        for (size_t i = 0; i < n; i++)
            ids[i] = recs[i].id;
        struct meta_hdr h = hdr(b, 0);
        buf_reset(&b->cmd);
        must(meta_cmd_outbox_ack(&b->cmd, &h, ids, (uint32_t)n), "encode");
        must(apply(b), "ack");
    }
}

static void lookups(struct bench *b, const uint64_t *dirs, uint64_t n)
{
    uint64_t t0 = time_mono_ns();
    for (uint64_t i = 0; i < n; i++) {
        char name[32]; /* 16 bytes used */
        snprintf(name, sizeof name, "f%015llu", (unsigned long long)(i % 1000000000000000ull));
        struct meta_hdr h = hdr(b, 0);
        buf_reset(&b->cmd);
        must(meta_cmd_lookup(&b->cmd, &h, dirs[i % DIRS], name), "encode");
        buf_reset(&b->reply);
        must(meta_query(b->m, b->cmd.data, b->cmd.len, &b->reply), "lookup");
    }
    double s = (double)(time_mono_ns() - t0) / 1e9;
    printf("lookups (meta_query): %.0f/s\n", (double)n / s);
}

static void snapshot(struct bench *b, uint64_t n)
{
    struct cairn_buf s;
    buf_init(&s, 0);
    uint64_t t0 = time_mono_ns();
    must(meta_snapshot(b->m, &s), "snapshot");
    uint64_t t1 = time_mono_ns();
    struct meta *copy;
    must(meta_snapshot_load(s.data, s.len, &copy), "load");
    uint64_t t2 = time_mono_ns();
    uint64_t d1 = meta_digest(b->m);
    uint64_t t3 = time_mono_ns();
    if (meta_digest(copy) != d1)
        must(CAIRN_CORRUPT, "digest after load");
    printf("snapshot: %.1f bytes/file, write %.2f s, load+check %.2f s, digest %.2f s\n",
           (double)s.len / (double)n, (double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9,
           (double)(t3 - t2) / 1e9);
    meta_free(copy);
    buf_free(&s);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    struct bench b;
    memset(&b, 0, sizeof b);
    buf_init(&b.cmd, 0);
    buf_init(&b.reply, 0);
    b.m = meta_new();
    uint64_t *dirs = calloc(DIRS, sizeof *dirs);
    if (!b.m || !dirs)
        must(CAIRN_ENOMEM, "setup");
    setup(&b, dirs);
    ack_outbox(&b);
    size_t heap0 = heap_bytes(), rss0 = rss_bytes();
    uint64_t t0 = time_mono_ns();
    for (uint64_t i = 0; i < n; i++)
        one_file(&b, dirs[i % DIRS], i);
    double s = (double)(time_mono_ns() - t0) / 1e9;
    ack_outbox(&b);
    malloc_trim(0);
    size_t heap1 = heap_bytes(), rss1 = rss_bytes();
    printf("files: %llu of one chunk, 16-byte names, %u directories\n", (unsigned long long)n,
           DIRS);
    printf("files/s (create + alloc + commit, 3 applies each): %.0f (%.0f applies/s)\n",
           (double)n / s, 3.0 * (double)n / s);
    printf("memory per file: heap %.1f bytes, RSS %.1f bytes\n",
           (double)(heap1 - heap0) / (double)n, (double)(rss1 - rss0) / (double)n);
    lookups(&b, dirs, n);
    snapshot(&b, n);
    meta_free(b.m);
    free(dirs);
    buf_free(&b.cmd);
    buf_free(&b.reply);
    return 0;
}
