/* test_data_rw.c: the data path end to end with real `cairn meta` and
 * `cairn chunk` processes: files of many sizes written and read back,
 * sparse files, partial overwrites (a new version based on the old one),
 * a handle reading its own writes, and a file larger than one chunk. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "meta/cmd.h"
#include "test.h"
#include "test_data.h"

#define MiB (1024u * 1024u)

static void check_equal(struct dt *t, uint64_t ino, uint64_t size, dt_expect_fn fn, void *arg)
{
    uint64_t bad = dt_check(t, NULL, ino, size, fn, arg);
    CHECKF(bad == 0, "inode %" PRIu64 ": first wrong byte at %" PRIu64, ino, bad - 1);
}

/* Files from empty to a few MiB, written in pieces of odd sizes: every byte
 * reads back, and each file's one chunk is on goal (2) servers. */
TEST_T(data_round_trip_sizes, 120)
{
    static struct dt t;
    struct dt_opts o = {.chunks = 3, .copt = {.scrub_rate = CLUSTER_SCRUB_OFF}};
    dt_start(&t, &o);
    const uint64_t sizes[] = {0, 1, 4095, 65537, MiB + 3, 3 * MiB + 17};
    const size_t pieces[] = {1, 1, 4095, 1000, 65536, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%zu", i);
        uint64_t ino = dt_create(&t, name, 0);
        CHECK_OK(dt_write(&t, ino, i + 1, 0, sizes[i], pieces[i]));
        struct dt_span s = {.key = i + 1, .off = 0, .len = sizes[i]};
        check_equal(&t, ino, sizes[i], dt_expect_span, &s);
        struct datafile_chunk c = dt_chunk(&t, ino, 0);
        if (sizes[i] == 0) {
            CHECK_EQ_U64(c.id, 0);
            continue;
        }
        CHECK(c.id != 0);
        CHECK_EQ_U64(c.version, 1);
        CHECK_EQ(c.length, sizes[i]);
        CHECK_EQ(c.n_replicas, 2);
        CHECK(c.replicas[0] != c.replicas[1]);
    }
    dt_stop(&t);
}

/* Bytes at 0 and far beyond the first chunk: the chunk between is a hole,
 * the gaps read as zeros, the size is the end of the last write. */
TEST_T(data_sparse_file, 90)
{
    static struct dt t;
    struct dt_opts o = {.chunks = 3, .copt = {.scrub_rate = CLUSTER_SCRUB_OFF}};
    dt_start(&t, &o);
    uint64_t ino = dt_create(&t, "sparse", 0);
    const uint64_t far = 130ull * MiB + 12345;
    CHECK_OK(dt_write(&t, ino, 100, 0, 1000, 1000));
    CHECK_OK(dt_write(&t, ino, 100, far, 5000, 5000));
    struct dt_spans v = {.n = 2, .s = {{100, 0, 1000}, {100, far, 5000}}};
    check_equal(&t, ino, far + 5000, dt_expect_spans, &v);
    CHECK(dt_chunk(&t, ino, 0).id != 0);
    CHECK_EQ_U64(dt_chunk(&t, ino, 1).id, 0);
    struct datafile_chunk c2 = dt_chunk(&t, ino, 2);
    CHECK(c2.id != 0);
    CHECK_EQ_U64(c2.length, far + 5000 - 2ull * 64 * MiB);
    dt_stop(&t);
}

/* An overwrite of part of a chunk makes a new version from the old one
 * (base copy on the chunk servers); an append after the end another; a
 * handle reads its own writes before closing. */
TEST_T(data_partial_overwrite, 90)
{
    static struct dt t;
    struct dt_opts o = {.chunks = 3, .copt = {.scrub_rate = CLUSTER_SCRUB_OFF}};
    dt_start(&t, &o);
    uint64_t ino = dt_create(&t, "over", 0);
    CHECK_OK(dt_write(&t, ino, 7, 0, 3 * MiB, MiB));
    CHECK_OK(dt_write(&t, ino, 8, MiB + 100, 200000, 65536));
    struct dt_spans v = {.n = 2, .s = {{7, 0, 3 * MiB}, {8, MiB + 100, 200000}}};
    check_equal(&t, ino, 3 * MiB, dt_expect_spans, &v);
    CHECK_EQ_U64(dt_chunk(&t, ino, 0).version, 2);

    /* Append through one handle and read it back before close. */
    struct datafile *f;
    CHECK_OK(datafile_open(t.dc, ino, DATAFILE_READ | DATAFILE_WRITE, &f));
    uint8_t buf[700], back[700];
    dt_pattern(9, 3 * MiB - 200, buf, sizeof buf);
    CHECK_EQ(datafile_pwrite(f, buf, sizeof buf, 3 * MiB - 200), (int64_t)sizeof buf);
    CHECK_EQ_U64(datafile_size(f), 3 * MiB + 500);
    CHECK_EQ(datafile_pread(f, back, sizeof back, 3 * MiB - 200), (int64_t)sizeof back);
    CHECK_MEM_EQ(back, buf, sizeof buf);
    CHECK_OK(datafile_close(f));
    v.s[v.n++] = (struct dt_span){9, 3 * MiB - 200, 700};
    check_equal(&t, ino, 3 * MiB + 500, dt_expect_spans, &v);
    struct datafile_chunk c = dt_chunk(&t, ino, 0);
    CHECK_EQ_U64(c.version, 3);
    CHECK_EQ(c.length, 3 * MiB + 500);
    CHECK_EQ(c.n_replicas, 2);
    dt_stop(&t);
}

/* 70 MiB in 1 MiB writes: two chunks (the first one's flush and commit
 * overlap the second one's stream), read back whole. */
TEST_T(data_file_over_one_chunk, 150)
{
    static struct dt t;
    struct dt_opts o = {.chunks = 3, .copt = {.scrub_rate = CLUSTER_SCRUB_OFF}};
    dt_start(&t, &o);
    uint64_t ino = dt_create(&t, "big", 0);
    const uint64_t size = 70ull * MiB;
    CHECK_OK(dt_write(&t, ino, 70, 0, size, MiB));
    struct dt_span s = {70, 0, size};
    check_equal(&t, ino, size, dt_expect_span, &s);
    CHECK_EQ(dt_chunk(&t, ino, 0).length, 64u * MiB);
    CHECK_EQ(dt_chunk(&t, ino, 1).length, 6u * MiB);
    struct dataclient_stats st;
    dataclient_get_stats(t.dc, &st);
    fprintf(stderr,
            "pieces %" PRIu64 " allocs %" PRIu64 " commits %" PRIu64 " aborts %" PRIu64
            " reads %" PRIu64 "\n",
            st.pieces_sent, st.allocs, st.commits, st.aborts, st.reads_sent);
    CHECK_EQ_U64(st.commits, 2);
    CHECK_EQ_U64(st.aborts, 0);
    dt_stop(&t);
}

/* Truncate down, then write past the new end inside the same chunk: the
 * rewrite's copy of the base is cut to the truncated length on the chunk
 * servers (CHUNK_WRITE base_length), so the cut bytes read as zeros, even
 * before the outbox's TRUNCATE reaches the copies. Found on the FUSE mount:
 * without base_length the old bytes came back and were committed. */
TEST_T(data_truncate_then_write_past_end, 90)
{
    static struct dt t;
    struct dt_opts o = {.chunks = 3, .copt = {.scrub_rate = CLUSTER_SCRUB_OFF}};
    dt_start(&t, &o);
    uint64_t ino = dt_create(&t, "cut", 0);
    CHECK_OK(dt_write(&t, ino, 11, 0, 200000, 65536));
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    struct meta_hdr h = {0};
    struct meta_attr set = {.size = 50000};
    CHECK_OK(meta_cmd_setattr(&cmd, &h, ino, META_SET_SIZE, &set));
    CHECK_OK(metaclient_mutate_sync(t.mc, cmd.data, cmd.len, NULL, NULL));
    buf_free(&cmd);
    CHECK_OK(dt_write(&t, ino, 12, 150000, 1000, 1000));
    struct dt_spans v = {.n = 2, .s = {{11, 0, 50000}, {12, 150000, 1000}}};
    check_equal(&t, ino, 151000, dt_expect_spans, &v);
    CHECK_EQ(dt_chunk(&t, ino, 0).length, 151000);
    dt_stop(&t);
}

/* SETATTR size through the metadata client: another client's truncate. */
static void truncate_to(struct dt *t, uint64_t ino, uint64_t size)
{
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    struct meta_hdr h = {0};
    struct meta_attr set = {.size = size};
    CHECK_OK(meta_cmd_setattr(&cmd, &h, ino, META_SET_SIZE, &set));
    CHECK_OK(metaclient_mutate_sync(t->mc, cmd.data, cmd.len, NULL, NULL));
    buf_free(&cmd);
}

/* A handle opened before another client truncated the file (an O_TRUNC
 * writer) reads what the file holds when its chunk map is fetched: nothing,
 * or the shorter new value; never the dropped chunk's hole as zeros up to
 * the size it saw at open (nemesis finding 1: registers read 64 zero bytes
 * with O_TRUNC writers). Its own writes past a fetched entry's size still
 * read back (holes as zeros). */
TEST_T(data_read_after_other_truncate, 90)
{
    static struct dt t;
    struct dt_opts o = {.chunks = 3, .copt = {.scrub_rate = CLUSTER_SCRUB_OFF}};
    dt_start(&t, &o);
    uint64_t ino = dt_create(&t, "reg", 0);
    CHECK_OK(dt_write(&t, ino, 21, 0, 64, 64));
    uint8_t buf[256], want[256];

    struct datafile *r;
    CHECK_OK(datafile_open(t.dc, ino, DATAFILE_READ, &r));
    CHECK_EQ_U64(datafile_size(r), 64);
    truncate_to(&t, ino, 0);
    CHECK_EQ(datafile_pread(r, buf, 128, 0), 0);
    CHECK_OK(datafile_close(r));

    CHECK_OK(dt_write(&t, ino, 21, 0, 64, 64));
    CHECK_OK(datafile_open(t.dc, ino, DATAFILE_READ, &r));
    truncate_to(&t, ino, 0);
    CHECK_OK(dt_write(&t, ino, 22, 0, 32, 32));
    CHECK_EQ(datafile_pread(r, buf, 128, 0), 32);
    dt_pattern(22, 0, want, 32);
    CHECK_MEM_EQ(buf, want, 32);
    CHECK_OK(datafile_close(r));

    /* The map entry of chunk 0 says size 32; the handle then writes into
     * chunk 1 and reads across the hole between. */
    CHECK_OK(datafile_open(t.dc, ino, DATAFILE_READ | DATAFILE_WRITE, &r));
    CHECK_EQ(datafile_pread(r, buf, 16, 0), 16);
    const uint64_t far = 64ull * MiB + 10;
    dt_pattern(23, far, want, 100);
    CHECK_EQ(datafile_pwrite(r, want, 100, far), 100);
    CHECK_EQ(datafile_pread(r, buf, 200, far - 110), 200);
    uint8_t expect[200] = {0};
    memcpy(expect + 110, want, 90);
    CHECK_MEM_EQ(buf, expect, 200);
    CHECK_OK(datafile_close(r));
    dt_stop(&t);
}
