/* test_chunk.c: chunk storage (src/chunk): the format, the write path (stage,
 * write, flush, commit, abort, delete), verified reads and the reports, on real
 * files under test_tmpdir(). Faults, crashes, corruption, the scrubber and
 * threads: test_chunk_fault.c. */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/crc32c.h"
#include "test_chunk_util.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

TEST_T(chunk_format_header, 10)
{
    struct chunk_hdr h = {.id = 0x0123456789abcdefull,
                          .version = 7,
                          .length = 12345,
                          .base_version = 6,
                          .state = CHUNK_STATE_COMMITTED};
    uint8_t b[CHUNK_HDR_SIZE];
    chunk_hdr_encode(&h, b);
    struct chunk_hdr d;
    CHECK_OK(chunk_hdr_decode(b, sizeof b, &d));
    CHECK_EQ_U64(d.id, h.id);
    CHECK_EQ_U64(d.version, 7);
    CHECK_EQ_U64(d.length, 12345);
    CHECK_EQ_U64(d.base_version, 6);
    CHECK_EQ(d.state, CHUNK_STATE_COMMITTED);
    CHECK_EQ(chunk_hdr_decode(b, sizeof b - 1, &d), CAIRN_CORRUPT);
    /* Every single-bit flip anywhere in the header is refused. */
    for (size_t i = 0; i < sizeof b * 8; i++) {
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
        CHECKF(chunk_hdr_decode(b, sizeof b, &d) == CAIRN_CORRUPT, "bit %zu accepted", i);
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    /* The hole CRC constant is what it claims to be. */
    uint8_t *zero = calloc(1, CAIRN_BLOCK_SIZE);
    CHECK(zero != NULL);
    CHECK_EQ_U64(chunk_crc_zero_block(), crc32c(0, zero, CAIRN_BLOCK_SIZE));
    CHECK_EQ_U64(chunk_crc_block(zero), chunk_crc_zero_block());
    free(zero);
}

/* Two header slots: the valid one with the newer sequence number is current; a
 * torn newer slot falls back to the older one. */
TEST_T(chunk_format_header_slots, 10)
{
    uint8_t area[CHUNK_HDR_AREA] = {0};
    struct chunk_hdr h = {
        .id = 4, .version = 9, .length = 100, .state = CHUNK_STATE_STAGED, .seq = 1};
    struct chunk_hdr got;
    CHECK_EQ(chunk_hdr_pick(area, sizeof area, &got), CAIRN_CORRUPT);
    chunk_hdr_encode(&h, area);
    CHECK_OK(chunk_hdr_pick(area, sizeof area, &got));
    CHECK_EQ(got.slot, 0);
    CHECK_EQ_U64(got.length, 100);
    h.seq = 2;
    h.length = 200;
    chunk_hdr_encode(&h, area + CHUNK_HDR_SLOT1_OFF);
    CHECK_OK(chunk_hdr_pick(area, sizeof area, &got));
    CHECK_EQ(got.slot, 1);
    CHECK_EQ_U64(got.length, 200);
    CHECK_EQ(got.seq, 2);
    /* Only the first slot present (a short read): it is used. */
    CHECK_OK(chunk_hdr_pick(area, CHUNK_HDR_SIZE, &got));
    CHECK_EQ(got.slot, 0);
    /* The newer slot torn: the older one is current. */
    area[CHUNK_HDR_SLOT1_OFF + 20] ^= 0x10;
    CHECK_OK(chunk_hdr_pick(area, sizeof area, &got));
    CHECK_EQ(got.slot, 0);
    CHECK_EQ_U64(got.length, 100);
    area[CHUNK_HDR_SLOT1_OFF + 20] ^= 0x10;
    /* Sequence numbers wrap: 0 is newer than UINT32_MAX. */
    h.seq = UINT32_MAX;
    chunk_hdr_encode(&h, area);
    h.seq = 0;
    h.length = 300;
    chunk_hdr_encode(&h, area + CHUNK_HDR_SLOT1_OFF);
    CHECK_OK(chunk_hdr_pick(area, sizeof area, &got));
    CHECK_EQ(got.slot, 1);
    /* Slots naming different versions: damage, not a choice. */
    h.version = 10;
    chunk_hdr_encode(&h, area + CHUNK_HDR_SLOT1_OFF);
    CHECK_EQ(chunk_hdr_pick(area, sizeof area, &got), CAIRN_CORRUPT);
}

TEST_T(chunk_format_names, 10)
{
    char name[CHUNK_NAME_LEN];
    uint64_t id, v;
    chunk_name_format(name, 0xabcull, 0x10ull, CHUNK_NAME_COMMITTED);
    CHECK_STR_EQ(name, "0000000000000abc_0000000000000010.chk");
    CHECK_EQ(chunk_name_parse(name, &id, &v), CHUNK_NAME_COMMITTED);
    CHECK_EQ_U64(id, 0xabc);
    CHECK_EQ_U64(v, 0x10);
    chunk_name_format(name, UINT64_MAX, 1, CHUNK_NAME_STAGED);
    CHECK_EQ(chunk_name_parse(name, &id, &v), CHUNK_NAME_STAGED);
    CHECK_EQ_U64(id, UINT64_MAX);
    chunk_name_format(name, 5, 9, CHUNK_NAME_TMP);
    CHECK_EQ(chunk_name_parse(name, &id, &v), CHUNK_NAME_TMP);
    static const char *const bad[] = {
        "0000000000000abc_0000000000000010.ch",
        "0000000000000ABC_0000000000000010.chk",
        "0000000000000abc_0000000000000000.chk",
        "0000000000000abc-0000000000000010.chk",
        "0000000000000abc_0000000000000010.chkx",
        "000000000000abc_00000000000000010.chk",
        "",
        "0000000000000abc_0000000000000010.dat",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECKF(chunk_name_parse(bad[i], &id, &v) == CHUNK_NAME_NONE, "accepted %s", bad[i]);
    CHECK_EQ(chunk_fanout_parse("00"), 0);
    CHECK_EQ(chunk_fanout_parse("ff"), 255);
    CHECK_EQ(chunk_fanout_parse("FF"), -1);
    CHECK_EQ(chunk_fanout_parse("0"), -1);
    CHECK_EQ(chunk_fanout_parse("100"), -1);
    /* Sequential ids spread evenly over the fan-out directories. */
    unsigned hits[256] = {0};
    for (uint64_t i = 0; i < 256 * 16; i++)
        hits[chunk_fanout(0x70000 + i)]++; /* 16 aligned runs of 256 */
    for (unsigned i = 0; i < 256; i++)
        CHECK_EQ(hits[i], 16);
}

/* A random offset, mostly in the first MiB, sometimes anywhere in the chunk. */
static uint64_t random_off(void)
{
    struct prng *r = test_rng();
    if (prng_chance(r, 1, 8))
        return prng_below(r, CAIRN_CHUNK_SIZE);
    return prng_below(r, MiB);
}

static size_t random_len(uint64_t off)
{
    struct prng *r = test_rng();
    size_t n = prng_chance(r, 1, 3) ? (size_t)prng_range(r, 1, 200)
                                    : (size_t)prng_range(r, 1, 3 * CAIRN_BLOCK_SIZE + 77);
    return (size_t)CAIRN_MIN((uint64_t)n, CAIRN_CHUNK_SIZE - off);
}

static void random_reads(struct chunk_store *s, uint64_t id, uint64_t v, unsigned flags,
                         const struct model *m, int count)
{
    for (int i = 0; i < count; i++) {
        uint64_t off =
            prng_chance(test_rng(), 1, 2) ? prng_below(test_rng(), m->length + 1) : random_off();
        check_read(s, id, v, flags, m, off, random_len(off));
    }
}

/* Random writes and reads of a staged version, its commit, then a clone of it
 * with more writes: every read matches the model, before and after the commit
 * and a restart. */
static void roundtrip(int use_faultfs)
{
    struct tc t;
    tc_init(&t, use_faultfs);
    const uint64_t id = 0x5eed0000ull + (uint64_t)use_faultfs;
    struct model m1 = {0}, m2;
    CHECK_OK(chunk_stage(t.s, id, 1, 0));
    for (int i = 0; i < 40; i++) {
        uint64_t off = random_off();
        write_random(t.s, id, 1, &m1, off, random_len(off));
        if (i % 10 == 9)
            random_reads(t.s, id, 1, CHUNK_READ_STAGED, &m1, 10);
    }
    CHECK_OK(chunk_flush(t.s, id, 1));
    CHECK_OK(chunk_commit(t.s, id, 1));
    random_reads(t.s, id, 1, 0, &m1, 40);
    check_all(t.s, id, 1, 0, &m1);

    /* v2 starts as a clone of v1 and diverges; v1 is untouched until v2 is
     * committed. */
    CHECK_OK(chunk_stage(t.s, id, 2, 1));
    model_copy(&m2, &m1);
    check_all(t.s, id, 2, CHUNK_READ_STAGED, &m2);
    for (int i = 0; i < 20; i++) {
        uint64_t off = random_off();
        write_random(t.s, id, 2, &m2, off, random_len(off));
    }
    random_reads(t.s, id, 2, CHUNK_READ_STAGED, &m2, 20);
    random_reads(t.s, id, 1, 0, &m1, 20);
    CHECK_OK(chunk_commit(t.s, id, 2));
    tc_reopen(&t);
    check_all(t.s, id, 2, 0, &m2);
    random_reads(t.s, id, 2, 0, &m2, 40);
    struct chunk_read_result r;
    uint8_t b;
    CHECK_EQ(chunk_read(t.s, id, 1, 0, &b, 1, 0, &r), CAIRN_STALEVERSION);
    CHECK(!tc_exists(&t, id, 1, CHUNK_NAME_COMMITTED));
    model_free(&m1);
    model_free(&m2);
    tc_free(&t);
}

TEST_T(chunk_roundtrip_random_faultfs, 60) { roundtrip(1); }

TEST_T(chunk_roundtrip_random_posix, 60) { roundtrip(0); }

/* Writes that start, end or both inside blocks, and ones across block
 * boundaries. */
TEST_T(chunk_partial_block_writes, 30)
{
    struct tc t;
    tc_init(&t, 1);
    struct model m = {0};
    CHECK_OK(chunk_stage(t.s, 9, 1, 0));
    const uint64_t bs = CAIRN_BLOCK_SIZE;
    const uint64_t offs[] = {0, 1, bs - 1, bs, bs + 1, 2 * bs - 3, 5 * bs + 100, 3};
    const size_t lens[] = {1, 2, 2, bs, bs, 7, 2 * bs + 5, bs - 6};
    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
        write_random(t.s, 9, 1, &m, offs[i], lens[i]);
        check_all(t.s, 9, 1, CHUNK_READ_STAGED, &m);
    }
    for (uint64_t off = 0; off < 8 * bs; off += bs / 2 - 1)
        check_read(t.s, 9, 1, CHUNK_READ_STAGED, &m, off, (size_t)(bs / 3));
    CHECK_OK(chunk_commit(t.s, 9, 1));
    check_all(t.s, 9, 1, 0, &m);
    /* A one-byte overwrite in a clone keeps every other byte. */
    CHECK_OK(chunk_stage(t.s, 9, 2, 1));
    write_random(t.s, 9, 2, &m, bs + 17, 1);
    CHECK_OK(chunk_commit(t.s, 9, 2));
    check_all(t.s, 9, 2, 0, &m);
    model_free(&m);
    tc_free(&t);
}

/* Unwritten ranges read as zeros: before, between and (within the length) after
 * writes. */
TEST_T(chunk_sparse_reads_zeros, 30)
{
    struct tc t;
    tc_init(&t, 0);
    struct model m = {0};
    CHECK_OK(chunk_stage(t.s, 77, 3, 0));
    write_random(t.s, 77, 3, &m, 10 * MiB + 5, 1000);
    write_random(t.s, 77, 3, &m, 40 * MiB, CAIRN_BLOCK_SIZE);
    CHECK_OK(chunk_commit(t.s, 77, 3));
    CHECK_EQ_U64(m.length, 40 * MiB + CAIRN_BLOCK_SIZE);
    check_read(t.s, 77, 3, 0, &m, 0, 2 * MiB);
    check_read(t.s, 77, 3, 0, &m, 10 * MiB - 3, 2000);
    check_read(t.s, 77, 3, 0, &m, 20 * MiB + 12345, 3 * CAIRN_BLOCK_SIZE);
    check_read(t.s, 77, 3, 0, &m, 40 * MiB - 10, 100);
    /* A fresh empty version has length 0 and reads nothing. */
    CHECK_OK(chunk_stage(t.s, 78, 1, 0));
    CHECK_OK(chunk_commit(t.s, 78, 1));
    struct chunk_read_result r;
    uint8_t buf[16];
    CHECK_OK(chunk_read(t.s, 78, 1, 0, buf, sizeof buf, 0, &r));
    CHECK_EQ(r.got, 0);
    CHECK_EQ_U64(r.length, 0);
    model_free(&m);
    tc_free(&t);
}

TEST_T(chunk_staged_invisible_until_commit, 30)
{
    struct tc t;
    tc_init(&t, 1);
    struct model m1 = {0}, m2;
    struct chunk_read_result r;
    uint8_t b[64];
    CHECK_OK(chunk_stage(t.s, 5, 1, 0));
    write_random(t.s, 5, 1, &m1, 0, 5000);
    CHECK_EQ(chunk_read(t.s, 5, 1, 0, b, sizeof b, 0, &r), CAIRN_STALEVERSION);
    check_all(t.s, 5, 1, CHUNK_READ_STAGED, &m1);
    CHECK_OK(chunk_commit(t.s, 5, 1));
    check_all(t.s, 5, 1, 0, &m1);
    CHECK_EQ(chunk_read(t.s, 5, 1, 0, b, sizeof b, CHUNK_READ_STAGED, &r), CAIRN_STALEVERSION);
    /* v2 staged beside v1: readers of v1 see v1 only; v2 is not readable as
     * committed. */
    CHECK_OK(chunk_stage(t.s, 5, 2, 1));
    model_copy(&m2, &m1);
    write_random(t.s, 5, 2, &m2, 100, 50);
    CHECK_OK(chunk_flush(t.s, 5, 2));
    check_all(t.s, 5, 1, 0, &m1);
    CHECK_EQ(chunk_read(t.s, 5, 2, 0, b, sizeof b, 0, &r), CAIRN_STALEVERSION);
    CHECK_OK(chunk_commit(t.s, 5, 2));
    check_all(t.s, 5, 2, 0, &m2);
    CHECK_EQ(chunk_read(t.s, 5, 1, 0, b, sizeof b, 0, &r), CAIRN_STALEVERSION);
    model_free(&m1);
    model_free(&m2);
    tc_free(&t);
}

/* Commands from the metadata outbox are retried: each must be harmless the
 * second time. */
TEST_T(chunk_commit_abort_idempotent, 30)
{
    struct tc t;
    tc_init(&t, 1);
    struct model m = {0};
    CHECK_OK(chunk_stage(t.s, 1, 1, 0));
    write_random(t.s, 1, 1, &m, 0, 100);
    CHECK_OK(chunk_commit(t.s, 1, 1));
    CHECK_OK(chunk_commit(t.s, 1, 1));
    CHECK_OK(chunk_commit(t.s, 1, 1));
    check_all(t.s, 1, 1, 0, &m);
    CHECK_OK(chunk_abort(t.s, 1, 99));                /* unknown version */
    CHECK_OK(chunk_abort(t.s, 42, 1));                /* unknown chunk */
    CHECK_EQ(chunk_abort(t.s, 1, 1), CAIRN_CONFLICT); /* never deletes the committed one */
    check_all(t.s, 1, 1, 0, &m);
    CHECK_OK(chunk_stage(t.s, 1, 2, 1));
    CHECK_OK(chunk_abort(t.s, 1, 2));
    CHECK_OK(chunk_abort(t.s, 1, 2));
    CHECK(!tc_exists(&t, 1, 2, CHUNK_NAME_STAGED));
    CHECK_EQ(chunk_commit(t.s, 1, 2), CAIRN_STALEVERSION); /* aborted: cannot commit */
    CHECK_EQ(chunk_commit(t.s, 7, 1), CAIRN_STALEVERSION); /* never staged here */
    /* Stage rules: no duplicates, only newer versions, base must be the committed
     * one. */
    CHECK_EQ(chunk_stage(t.s, 1, 1, 0), CAIRN_EEXIST);
    CHECK_OK(chunk_stage(t.s, 1, 3, 0));
    CHECK_EQ(chunk_stage(t.s, 1, 3, 1), CAIRN_EEXIST);
    CHECK_EQ(chunk_stage(t.s, 1, 4, 2), CAIRN_STALEVERSION);
    CHECK_OK(chunk_commit(t.s, 1, 3));
    CHECK_EQ(chunk_stage(t.s, 1, 2, 0), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_commit(t.s, 1, 1), CAIRN_STALEVERSION); /* older than the committed one */
    CHECK_EQ(chunk_stage(t.s, 1, 0, 0), CAIRN_EINVAL);
    for (uint64_t v = 10; v < 10 + CAIRN_CHUNK_STAGED_MAX; v++)
        CHECK_OK(chunk_stage(t.s, 1, v, 3));
    CHECK_EQ(chunk_stage(t.s, 1, 100, 3), CAIRN_LIMIT);
    CHECK_OK(chunk_delete(t.s, 1, 0));
    CHECK_OK(chunk_delete(t.s, 1, 0));
    size_t n;
    struct chunk_info *list;
    CHECK_OK(chunk_list(t.s, &list, &n));
    CHECK_EQ(n, 0);
    free(list);
    model_free(&m);
    tc_free(&t);
}

TEST_T(chunk_stale_version_refused, 30)
{
    struct tc t;
    tc_init(&t, 1);
    struct chunk_read_result r;
    uint8_t b[8] = {0};
    CHECK_EQ(chunk_read(t.s, 3, 1, 0, b, sizeof b, 0, &r), CAIRN_STALEVERSION);
    CHECK_OK(chunk_stage(t.s, 3, 4, 0));
    CHECK_OK(chunk_write(t.s, 3, 4, 0, b, sizeof b));
    CHECK_OK(chunk_commit(t.s, 3, 4));
    CHECK_EQ(chunk_read(t.s, 3, 3, 0, b, sizeof b, 0, &r), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_read(t.s, 3, 5, 0, b, sizeof b, 0, &r), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_read(t.s, 3, 4, 0, b, sizeof b, CHUNK_READ_STAGED, &r), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_write(t.s, 3, 4, 0, b, sizeof b), CAIRN_STALEVERSION); /* committed */
    CHECK_EQ(chunk_write(t.s, 3, 5, 0, b, sizeof b), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_flush(t.s, 3, 5), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_read(t.s, 3, 0, 0, b, sizeof b, 0, &r), CAIRN_EINVAL);
    CHECK_OK(chunk_read(t.s, 3, 4, 0, b, sizeof b, 0, &r));
    CHECK_EQ(r.got, sizeof b);
    tc_free(&t);
}

/* The 64 MiB chunk size is enforced; the very last byte is writable and
 * readable. */
TEST_T(chunk_max_size_enforced, 30)
{
    struct tc t;
    tc_init(&t, 1);
    struct model m = {0};
    uint8_t b[32] = {1};
    CHECK_OK(chunk_stage(t.s, 8, 1, 0));
    CHECK_EQ(chunk_write(t.s, 8, 1, CAIRN_CHUNK_SIZE - 10, b, 11), CAIRN_EFBIG);
    CHECK_EQ(chunk_write(t.s, 8, 1, CAIRN_CHUNK_SIZE + 1ull, b, 1), CAIRN_EFBIG);
    CHECK_EQ(chunk_write(t.s, 8, 1, UINT64_MAX - 4, b, 8), CAIRN_EFBIG);
    /* An argument error leaves the staged version usable. */
    write_random(t.s, 8, 1, &m, CAIRN_CHUNK_SIZE - 10, 10);
    write_random(t.s, 8, 1, &m, CAIRN_CHUNK_SIZE - CAIRN_BLOCK_SIZE - 3, 5);
    CHECK_OK(chunk_commit(t.s, 8, 1));
    CHECK_EQ_U64(m.length, CAIRN_CHUNK_SIZE);
    check_read(t.s, 8, 1, 0, &m, CAIRN_CHUNK_SIZE - 2 * CAIRN_BLOCK_SIZE, 2 * CAIRN_BLOCK_SIZE);
    struct chunk_read_result r;
    CHECK_OK(chunk_read(t.s, 8, 1, CAIRN_CHUNK_SIZE, b, sizeof b, 0, &r));
    CHECK_EQ(r.got, 0);
    CHECK_EQ(chunk_read(t.s, 8, 1, CAIRN_CHUNK_SIZE + 1ull, b, 1, 0, &r), CAIRN_EINVAL);
    model_free(&m);
    tc_free(&t);
}

static int fake_statvfs(struct chunk_fs *cfs, const char *dir, struct chunk_space *out)
{
    out->total_bytes = 1000;
    out->free_bytes = 250;
    return 0;
}

TEST_T(chunk_list_usage_capacity_delete, 30)
{
    struct tc t;
    tc_init(&t, 1);
    struct model m = {0};
    static const char text[32] = "abcdefghijklmnopqrstuvwxyz";
    for (uint64_t id = 20; id > 10; id--) {
        CHECK_OK(chunk_stage(t.s, id, 1, 0));
        CHECK_OK(chunk_write(t.s, id, 1, 0, text, (size_t)id));
        CHECK_OK(chunk_commit(t.s, id, 1));
    }
    CHECK_OK(chunk_stage(t.s, 15, 2, 1));
    write_random(t.s, 15, 2, &m, 1000, 24);
    struct chunk_usage u;
    chunk_usage(t.s, &u);
    CHECK_EQ_U64(u.chunks, 10);
    CHECK_EQ_U64(u.bytes, 11 + 12 + 13 + 14 + 15 + 16 + 17 + 18 + 19 + 20);
    CHECK_EQ_U64(u.staged, 1);
    CHECK_EQ_U64(u.staged_bytes, 1024);
    struct chunk_info *list;
    size_t n;
    CHECK_OK(chunk_list(t.s, &list, &n));
    CHECK_EQ(n, 11);
    for (size_t i = 0; i < n; i++) {
        size_t k = i <= 4 ? i : i - 1; /* 15 has two rows, v1 then v2 */
        CHECK_EQ_U64(list[i].id, 11 + k);
        if (i == 5) {
            CHECK_EQ_U64(list[i].version, 2);
            CHECK_EQ(list[i].staged, 1);
            CHECK_EQ_U64(list[i].length, 1024);
        } else {
            CHECK_EQ(list[i].staged, 0);
            CHECK_EQ_U64(list[i].length, 11 + k);
        }
    }
    free(list);
    struct chunk_info st[1 + CAIRN_CHUNK_STAGED_MAX];
    chunk_stat(t.s, 15, st, &n);
    CHECK_EQ(n, 2);
    CHECK_EQ_U64(st[0].version, 1);
    CHECK_EQ(st[0].staged, 0);
    /* Deletes: one version, all versions, unknown ones. */
    CHECK_OK(chunk_delete(t.s, 15, 1));
    CHECK(!tc_exists(&t, 15, 1, CHUNK_NAME_COMMITTED));
    CHECK(tc_exists(&t, 15, 2, CHUNK_NAME_STAGED));
    CHECK_OK(chunk_delete(t.s, 15, 0));
    CHECK(!tc_exists(&t, 15, 2, CHUNK_NAME_STAGED));
    CHECK_OK(chunk_delete(t.s, 16, 5));
    CHECK_OK(chunk_delete(t.s, 999, 0));
    chunk_usage(t.s, &u);
    CHECK_EQ_U64(u.chunks, 9);
    CHECK_EQ_U64(u.staged, 0);
    CHECK_EQ_U64(u.staged_bytes, 0);
    chunk_stat(t.s, 15, st, &n);
    CHECK_EQ(n, 0);
    /* Capacity goes through the seam: the real statvfs, then an injected one. */
    struct chunk_space sp;
    CHECK_OK(chunk_capacity(t.s, &sp));
    CHECK(sp.total_bytes > 0 && sp.free_bytes <= sp.total_bytes);
    t.cfs.statvfs = fake_statvfs;
    CHECK_OK(chunk_capacity(t.s, &sp));
    CHECK_EQ_U64(sp.total_bytes, 1000);
    CHECK_EQ_U64(sp.free_bytes, 250);
    model_free(&m);
    tc_free(&t);
}

static void count_bad(void *ctx, uint64_t id, uint64_t version, uint32_t block, int err)
{
    (*(int *)ctx)++;
}

/* Truncation keeps the version number and cuts the bytes; what was cut reads as zeros when
 * a later version extends the chunk again. */
static void truncate_case(int use_faultfs)
{
    struct tc t;
    tc_init(&t, use_faultfs);
    const uint64_t bs = CAIRN_BLOCK_SIZE;
    struct model m = {0};
    CHECK_OK(chunk_stage(t.s, 70, 4, 0));
    write_random(t.s, 70, 4, &m, 0, (size_t)(5 * bs + 123));
    CHECK_OK(chunk_commit(t.s, 70, 4));
    CHECK_OK(chunk_truncate(t.s, 70, 4, 3 * bs + 10));
    model_truncate(&m, 3 * bs + 10);
    check_all(t.s, 70, 4, 0, &m);
    CHECK_OK(chunk_truncate(t.s, 70, 4, 3 * bs + 10)); /* resent: nothing to do */
    CHECK_OK(chunk_truncate(t.s, 70, 4, 5 * bs));      /* never extends */
    check_all(t.s, 70, 4, 0, &m);
    struct chunk_usage u;
    chunk_usage(t.s, &u);
    CHECK_EQ_U64(u.bytes, 3 * bs + 10);
    /* A clone extended past the cut reads zeros where the old bytes were. */
    CHECK_OK(chunk_stage(t.s, 70, 5, 4));
    write_random(t.s, 70, 5, &m, 4 * bs + 1, 10);
    CHECK_OK(chunk_commit(t.s, 70, 5));
    check_all(t.s, 70, 5, 0, &m);
    /* On a block boundary, then to nothing. */
    CHECK_OK(chunk_truncate(t.s, 70, 5, 2 * bs));
    model_truncate(&m, 2 * bs);
    check_all(t.s, 70, 5, 0, &m);
    CHECK_OK(chunk_truncate(t.s, 70, 5, 0));
    model_truncate(&m, 0);
    check_all(t.s, 70, 5, 0, &m);
    /* Only the committed version can be cut. */
    CHECK_OK(chunk_stage(t.s, 70, 6, 0));
    CHECK_EQ(chunk_truncate(t.s, 70, 6, 0), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_truncate(t.s, 70, 4, 0), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_truncate(t.s, 71, 1, 0), CAIRN_STALEVERSION);
    CHECK(!tc_exists(&t, 70, 5, CHUNK_NAME_TMP));
    /* The scrubber finds every CRC of the cut files right. */
    int bad = 0;
    struct chunk_scrub_stats st = {0};
    while (!st.passes_done)
        CHECK_OK(chunk_scrub_step(t.s, 1u << 20, count_bad, &bad, &st));
    CHECK_EQ(bad, 0);
    tc_reopen(&t);
    CHECK_EQ_U64(t.rec.committed, 1);
    check_all(t.s, 70, 5, 0, &m);
    model_free(&m);
    tc_free(&t);
}

TEST_T(chunk_truncate_faultfs, 30) { truncate_case(1); }

TEST_T(chunk_truncate_posix, 30) { truncate_case(0); }
