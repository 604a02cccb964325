/* test_chunk_seal.c: staged versions across a restart or a power cut (docs/chunk-format.md,
 * "Restarts"). A staged version found at open is sealed: it takes no more writes or
 * flushes, since bytes its writer sent after the last flush may be lost or torn and a
 * writer going on after the restart must not get a flush acknowledged over them. It may
 * still be committed only if nothing was written after its last flush (the header's
 * FLUSHED flag); otherwise it waits for its DROP. */
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "test_chunk_util.h"

#define BS ((uint64_t)CAIRN_BLOCK_SIZE)

/* The staged version v of id as chunk_stat reports it; 0 if it is not staged. */
static int staged_info(struct tc *t, uint64_t id, uint64_t v, struct chunk_info *out)
{
    struct chunk_info st[1 + CAIRN_CHUNK_STAGED_MAX];
    size_t n;
    chunk_stat(t->s, id, st, &n);
    for (size_t i = 0; i < n; i++)
        if (st[i].staged && st[i].version == v) {
            *out = st[i];
            return 1;
        }
    return 0;
}

static uint64_t committed_of(struct tc *t, uint64_t id)
{
    struct chunk_info st[1 + CAIRN_CHUNK_STAGED_MAX];
    size_t n;
    chunk_stat(t->s, id, st, &n);
    return n > 0 && !st[0].staged ? st[0].version : 0;
}

/* Every way a sealed version refuses more bytes, and stays held. */
static void check_sealed(struct tc *t, uint64_t id, uint64_t v, int committable)
{
    struct chunk_info ci;
    CHECK(staged_info(t, id, v, &ci));
    CHECK(ci.sealed);
    CHECK_EQ(ci.committable, committable);
    uint8_t b[100] = {1};
    CHECK_EQ(chunk_write(t->s, id, v, ci.length, b, sizeof b), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_write(t->s, id, v, 0, b, sizeof b), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_flush(t->s, id, v), CAIRN_STALEVERSION);
    CHECK(staged_info(t, id, v, &ci)); /* refused, not dropped */
}

/* Five writers caught by a power cut (both crash modes, several seeds):
 *   1: wrote and flushed            -> sealed, committable, bytes of the flush
 *   2: flushed, then wrote more     -> sealed, not committable, abort works
 *   3: wrote, never flushed         -> sealed, not committable
 *   4: flushed, wrote, flushed      -> sealed, committable, bytes of the second flush
 *   5: staged from a base, untouched -> sealed, not committable (no writer was acked) */
TEST_T(chunk_power_cut_seals_staged, 60)
{
    for (int run = 0; run < 8; run++) {
        char sub[32];
        snprintf(sub, sizeof sub, "run%d", run);
        struct tc t;
        tc_init_in(&t, 1, sub);
        struct model m1 = {0}, m2 = {0}, m3 = {0}, m4 = {0}, base = {0};
        CHECK_OK(chunk_stage(t.s, 1, 1, 0));
        write_random(t.s, 1, 1, &m1, 0, (size_t)(2 * BS + 3));
        CHECK_OK(chunk_flush(t.s, 1, 1));
        CHECK_OK(chunk_stage(t.s, 2, 1, 0));
        write_random(t.s, 2, 1, &m2, 0, (size_t)BS);
        CHECK_OK(chunk_flush(t.s, 2, 1));
        write_random(t.s, 2, 1, &m2, BS / 2, (size_t)BS);
        CHECK_OK(chunk_stage(t.s, 3, 1, 0));
        write_random(t.s, 3, 1, &m3, 0, (size_t)(BS + 1));
        CHECK_OK(chunk_stage(t.s, 4, 1, 0));
        write_random(t.s, 4, 1, &m4, 0, (size_t)BS);
        CHECK_OK(chunk_flush(t.s, 4, 1));
        write_random(t.s, 4, 1, &m4, BS - 10, (size_t)BS);
        CHECK_OK(chunk_flush(t.s, 4, 1));
        CHECK_OK(chunk_stage(t.s, 5, 1, 0));
        write_random(t.s, 5, 1, &base, 0, 5000);
        CHECK_OK(chunk_commit(t.s, 5, 1));
        CHECK_OK(chunk_stage(t.s, 5, 2, 1));

        tc_crash(&t, run % 2 ? FAULTFS_CRASH_RANDOM : FAULTFS_CRASH_LOSE_UNSYNCED);
        CHECK_EQ_U64(t.rec.staged, 5);
        CHECK_EQ_U64(t.rec.staged_unflushed, 3);
        CHECK_EQ_U64(t.rec.quarantined, 0);
        check_sealed(&t, 1, 1, 1);
        check_sealed(&t, 2, 1, 0);
        check_sealed(&t, 3, 1, 0);
        check_sealed(&t, 4, 1, 1);
        check_sealed(&t, 5, 2, 0);
        check_all(t.s, 1, 1, CHUNK_READ_STAGED, &m1);
        check_all(t.s, 4, 1, CHUNK_READ_STAGED, &m4);

        /* The outbox's COMMIT of a version flushed before the cut goes through. */
        CHECK_OK(chunk_commit(t.s, 1, 1));
        check_all(t.s, 1, 1, 0, &m1);
        CHECK_OK(chunk_commit(t.s, 4, 1));
        check_all(t.s, 4, 1, 0, &m4);
        /* The others are never made current; their DROP removes them, and a new
         * attempt may stage the number again, writable. */
        for (uint64_t id = 2; id <= 3; id++) {
            CHECK_EQ(chunk_commit(t.s, id, 1), CAIRN_STALEVERSION);
            CHECK_EQ_U64(committed_of(&t, id), 0);
            CHECK_OK(chunk_abort(t.s, id, 1));
            CHECK(!tc_exists(&t, id, 1, CHUNK_NAME_STAGED));
        }
        CHECK_EQ(chunk_commit(t.s, 5, 2), CAIRN_STALEVERSION);
        CHECK_EQ_U64(committed_of(&t, 5), 1);
        check_all(t.s, 5, 1, 0, &base);
        struct model again = {0};
        CHECK_OK(chunk_stage(t.s, 2, 1, 0));
        write_random(t.s, 2, 1, &again, 0, 777);
        CHECK_OK(chunk_flush(t.s, 2, 1));
        CHECK_OK(chunk_commit(t.s, 2, 1));
        check_all(t.s, 2, 1, 0, &again);
        model_free(&again);
        model_free(&m1);
        model_free(&m2);
        model_free(&m3);
        model_free(&m4);
        model_free(&base);
        tc_free(&t);
    }
}

/* A clean restart seals too (the store cannot tell it from a crash), and a version whose
 * commit was cut short after its header said committed stays committable. */
TEST_T(chunk_clean_restart_seals_staged, 30)
{
    struct tc t;
    tc_init(&t, 0);
    struct model m = {0}, u = {0};
    CHECK_OK(chunk_stage(t.s, 9, 3, 0));
    write_random(t.s, 9, 3, &m, 100, (size_t)BS);
    CHECK_OK(chunk_flush(t.s, 9, 3));
    CHECK_OK(chunk_stage(t.s, 10, 1, 0));
    write_random(t.s, 10, 1, &u, 0, 10);
    tc_reopen(&t);
    CHECK_EQ_U64(t.rec.staged_unflushed, 1);
    check_sealed(&t, 9, 3, 1);
    check_sealed(&t, 10, 1, 0);
    struct chunk_info *list;
    size_t n;
    CHECK_OK(chunk_list(t.s, &list, &n));
    CHECK_EQ(n, 2);
    CHECK(list[0].sealed && list[0].committable && list[1].sealed && !list[1].committable);
    free(list);
    /* Not sealed: a version staged after the open. */
    CHECK_OK(chunk_stage(t.s, 11, 1, 0));
    struct chunk_info ci;
    CHECK(staged_info(&t, 11, 1, &ci));
    CHECK(!ci.sealed && ci.committable);
    CHECK_OK(chunk_abort(t.s, 11, 1));
    /* Two restarts in a row change nothing. */
    tc_reopen(&t);
    check_sealed(&t, 9, 3, 1);
    check_sealed(&t, 10, 1, 0);
    CHECK_OK(chunk_commit(t.s, 9, 3));
    check_all(t.s, 9, 3, 0, &m);
    CHECK_OK(chunk_commit(t.s, 9, 3)); /* the resent COMMIT */
    model_free(&m);
    model_free(&u);
    tc_free(&t);
}

/* The header's FLUSHED flag: set by a flush, cleared on disk before the first write after
 * it, and refused for unknown bits. */
TEST_T(chunk_flushed_flag_on_disk, 10)
{
    struct chunk_hdr h = {.id = 5, .version = 2, .length = 9, .state = CHUNK_STATE_STAGED};
    uint8_t b[CHUNK_HDR_SIZE];
    struct chunk_hdr d;
    h.flags = CHUNK_HDR_FLUSHED;
    chunk_hdr_encode(&h, b);
    CHECK_OK(chunk_hdr_decode(b, sizeof b, &d));
    CHECK_EQ(d.flags, CHUNK_HDR_FLUSHED);
    /* An unknown flag with a right CRC is still refused. */
    b[44] |= 0x2;
    uint32_t crc = crc32c(0, b, 60);
    memcpy(b + 60, &crc, 4); /* little-endian host (x86-64, aarch64) */
    CHECK_EQ(chunk_hdr_decode(b, sizeof b, &d), CAIRN_CORRUPT);

    struct tc t;
    tc_init(&t, 1);
    char path[1024];
    tc_path(&t, 77, 1, CHUNK_NAME_STAGED, path, sizeof path);
    CHECK_OK(chunk_stage(t.s, 77, 1, 0));
    uint8_t area[CHUNK_HDR_AREA];
    size_t got;
    struct raftio_fs *fs = t.cfs.fs;
    int fd;
    uint8_t x[10] = {0};
    for (int step = 0; step < 4; step++) {
        if (step == 1 || step == 3)
            CHECK_OK(chunk_flush(t.s, 77, 1));
        if (step == 2)
            CHECK_OK(chunk_write(t.s, 77, 1, 3, x, sizeof x));
        CHECK_OK(rio_open(fs, path, 0, &fd));
        CHECK_OK(rio_pread(fs, fd, area, sizeof area, 0, &got));
        rio_close(fs, fd);
        CHECK_OK(chunk_hdr_pick(area, got, &d));
        CHECK_EQ(d.flags, step == 1 || step == 3 ? CHUNK_HDR_FLUSHED : 0u);
    }
    tc_free(&t);
}

/* A staged file whose header is damaged is quarantined; a placeholder keeps its version
 * sealed (no later piece can stage a fresh copy with a hole) until its abort. */
TEST_T(chunk_damaged_staged_leaves_sealed_placeholder, 10)
{
    struct tc t;
    tc_init(&t, 0);
    struct model m = {0};
    CHECK_OK(chunk_stage(t.s, 21, 4, 0));
    write_random(t.s, 21, 4, &m, 0, (size_t)BS);
    CHECK_OK(chunk_flush(t.s, 21, 4));
    chunk_store_close(t.s);
    t.s = NULL;
    tc_corrupt(&t, 21, 4, CHUNK_NAME_STAGED, 20, 0x40);                       /* slot 0 */
    tc_corrupt(&t, 21, 4, CHUNK_NAME_STAGED, CHUNK_HDR_SLOT1_OFF + 20, 0x40); /* slot 1 */
    tc_open(&t);
    CHECK_EQ_U64(t.rec.quarantined, 1);
    CHECK(!tc_exists(&t, 21, 4, CHUNK_NAME_STAGED));
    check_sealed(&t, 21, 4, 0);
    struct chunk_info ci;
    CHECK(staged_info(&t, 21, 4, &ci));
    CHECK_EQ_U64(ci.length, 0);
    uint8_t b[16];
    struct chunk_read_result r;
    CHECK_EQ(chunk_read(t.s, 21, 4, 0, b, sizeof b, CHUNK_READ_STAGED, &r), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_stage(t.s, 21, 4, 0), CAIRN_EEXIST);
    CHECK_EQ(chunk_commit(t.s, 21, 4), CAIRN_STALEVERSION);
    CHECK_OK(chunk_abort(t.s, 21, 4));
    CHECK(!staged_info(&t, 21, 4, &ci));
    /* After the abort the number may be staged afresh. */
    CHECK_OK(chunk_stage(t.s, 21, 4, 0));
    CHECK_OK(chunk_abort(t.s, 21, 4));
    model_free(&m);
    tc_free(&t);
}
