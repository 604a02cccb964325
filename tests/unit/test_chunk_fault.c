/* test_chunk_fault.c: chunk storage under faults: restarts, power cuts in the middle of a
 * commit or of writes (raftio's faultfs), bit rot in data, header and CRC table (reads and the
 * scrubber), injected ENOSPC and EIO, and concurrent use from threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/assert.h"
#include "test_chunk_util.h"

#define BS ((uint64_t)CAIRN_BLOCK_SIZE)

/* Stage, write n random bytes at off and commit version v (from base) of id. */
static void put_version(struct tc *t, uint64_t id, uint64_t v, uint64_t base, struct model *m,
                        uint64_t off, size_t n)
{
    CHECK_OK(chunk_stage(t->s, id, v, base));
    write_random(t->s, id, v, m, off, n);
    CHECK_OK(chunk_commit(t->s, id, v));
}

static uint64_t committed_of(struct tc *t, uint64_t id)
{
    struct chunk_info st[1 + CAIRN_CHUNK_STAGED_MAX];
    size_t n;
    chunk_stat(t->s, id, st, &n);
    return n > 0 && !st[0].staged ? st[0].version : 0;
}

static int staged_has(struct tc *t, uint64_t id, uint64_t v)
{
    struct chunk_info st[1 + CAIRN_CHUNK_STAGED_MAX];
    size_t n;
    chunk_stat(t->s, id, st, &n);
    for (size_t i = 0; i < n; i++)
        if (st[i].staged && st[i].version == v)
            return 1;
    return 0;
}

/* --- restart ------------------------------------------------------------------------------ */

/* Writes a file, making its directory first if needed (fan-out directories are
 * made on first use). */
static void write_file(const char *path, const void *p, size_t n)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    mkdir(dir, 0755);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(p, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

static void copy_file(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb");
    CHECK(f != NULL);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_file(to, buf, n);
}

/* Things a crash or an operator leave behind: a temporary file, a foreign file,
 * and a valid file (of chunk 0x1000 v1) in the wrong fan-out directory. */
static void add_leftovers(struct tc *t)
{
    char path[1024], other[1024];
    tc_path(t, 0x2000, 3, CHUNK_NAME_TMP, path, sizeof path);
    write_file(path, "partial", 7);
    snprintf(other, sizeof other, "%s/chunks/00/notes.txt", t->dir);
    write_file(other, "hello", 5);
    tc_path(t, 0x1000, 1, CHUNK_NAME_COMMITTED, path, sizeof path);
    snprintf(other, sizeof other, "%s/chunks/%02x/%s", t->dir, (chunk_fanout(0x1000) + 1) & 0xff,
             strrchr(path, '/') + 1);
    copy_file(path, other);
}

static void check_same_list(const struct chunk_info *a, size_t na, const struct chunk_info *b,
                            size_t nb)
{
    CHECK_EQ(na, nb);
    for (size_t i = 0; i < na; i++) {
        CHECK_EQ_U64(a[i].id, b[i].id);
        CHECK_EQ_U64(a[i].version, b[i].version);
        CHECK_EQ_U64(a[i].length, b[i].length);
        CHECK_EQ(a[i].staged, b[i].staged);
    }
}

TEST_T(chunk_restart_recovers_state, 60)
{
    struct tc t;
    tc_init(&t, 1);
    enum { N = 12 };
    struct model m[N], staged[N];
    memset(m, 0, sizeof m);
    memset(staged, 0, sizeof staged);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t id = 0x1000 + i * 37;
        put_version(&t, id, 1, 0, &m[i], prng_below(test_rng(), 3 * BS), 1 + i * 999);
        if (i % 3 == 1) { /* a flushed staged version beside the committed one */
            CHECK_OK(chunk_stage(t.s, id, 2, 1));
            model_copy(&staged[i], &m[i]);
            write_random(t.s, id, 2, &staged[i], 5, 300);
            CHECK_OK(chunk_flush(t.s, id, 2));
        }
        if (i % 4 == 3) { /* a newer committed version, cloned */
            put_version(&t, id, 5, 1, &m[i], BS - 1, 2);
        }
    }
    CHECK_OK(chunk_delete(t.s, 0x1000 + 5 * 37, 0));
    struct chunk_info *before, *after;
    size_t nb, na;
    CHECK_OK(chunk_list(t.s, &before, &nb));
    struct chunk_usage ub, ua;
    chunk_usage(t.s, &ub);

    add_leftovers(&t);
    tc_reopen(&t);
    CHECK_EQ_U64(t.rec.tmp_removed, 1);
    CHECK_EQ_U64(t.rec.unknown, 1);
    CHECK_EQ_U64(t.rec.quarantined, 1);
    CHECK_EQ_U64(t.rec.superseded, 0);

    CHECK_OK(chunk_list(t.s, &after, &na));
    check_same_list(before, nb, after, na);
    chunk_usage(t.s, &ua);
    CHECK_EQ_U64(ua.chunks, ub.chunks);
    CHECK_EQ_U64(ua.bytes, ub.bytes);
    CHECK_EQ_U64(ua.staged, ub.staged);
    CHECK_EQ_U64(ua.staged_bytes, ub.staged_bytes);
    CHECK_EQ_U64(ua.quarantined, 1);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t id = 0x1000 + i * 37;
        if (i == 5)
            continue;
        check_all(t.s, id, i % 4 == 3 ? 5 : 1, 0, &m[i]);
        if (i % 3 == 1)
            check_all(t.s, id, 2, CHUNK_READ_STAGED, &staged[i]);
    }
    /* A staged version found at restart can still be committed (the outbox retries). */
    CHECK_OK(chunk_commit(t.s, 0x1000 + 1 * 37, 2));
    check_all(t.s, 0x1000 + 1 * 37, 2, 0, &staged[1]);
    free(before);
    free(after);
    for (int i = 0; i < N; i++) {
        model_free(&m[i]);
        model_free(&staged[i]);
    }
    tc_free(&t);
}

/* Two committed versions of one chunk on disk (a commit cut short before it deleted the older
 * one): the newer is current and the older is deleted at open. */
TEST_T(chunk_restart_two_committed_keeps_newer, 30)
{
    struct tc t;
    tc_init(&t, 0);
    struct model m = {0};
    put_version(&t, 44, 1, 0, &m, 0, 1000);
    char p1[1024], keep[1024];
    tc_path(&t, 44, 1, CHUNK_NAME_COMMITTED, p1, sizeof p1);
    snprintf(keep, sizeof keep, "%s/v1.copy", test_tmpdir());
    copy_file(p1, keep);
    put_version(&t, 44, 2, 1, &m, 10, 10);
    CHECK(!tc_exists(&t, 44, 1, CHUNK_NAME_COMMITTED));
    chunk_store_close(t.s);
    copy_file(keep, p1);
    tc_open(&t);
    CHECK_EQ_U64(t.rec.superseded, 1);
    CHECK_EQ_U64(committed_of(&t, 44), 2);
    CHECK(!tc_exists(&t, 44, 1, CHUNK_NAME_COMMITTED));
    check_all(t.s, 44, 2, 0, &m);
    model_free(&m);
    tc_free(&t);
}

/* --- power cuts ---------------------------------------------------------------------------- */

/* How the runs of commit_crash_case ended, so the test can tell it reached
 * every kind of outcome it means to check. */
static struct {
    int old_with_staged; /* v1 current, v2 still staged: crash before the rename was durable */
    int old_dropped;     /* v1 current, v2 gone: the commit failed before its rename */
    int new_current;     /* v2 current */
    int superseded;      /* v2 current and v1 deleted only at the restart */
} outcomes;

/* One run of the commit of v2 over a committed v1 with the nth call of op failing with EIO,
 * then a power cut. Whatever happened, exactly one of v1 and v2 is current with exactly its
 * bytes; an acknowledged commit is v2; a retried commit finishes the job or says the version
 * is gone. */
static void commit_crash_case(int run, enum faultfs_op op, uint32_t nth,
                              enum faultfs_crash_mode mode)
{
    char sub[64];
    snprintf(sub, sizeof sub, "run%d", run);
    struct tc t;
    tc_init_in(&t, 1, sub);
    struct model m1 = {0}, m2;
    const uint64_t id = 0xc0ffee;
    put_version(&t, id, 1, 0, &m1, 0, 3 * BS + 11);
    CHECK_OK(chunk_stage(t.s, id, 2, 1));
    model_copy(&m2, &m1);
    write_random(t.s, id, 2, &m2, BS + 5, (size_t)BS);
    CHECK_OK(chunk_flush(t.s, id, 2));

    faultfs_fail(t.ff, op, nth, CAIRN_EIO);
    int rc = chunk_commit(t.s, id, 2);
    faultfs_clear(t.ff);
    tc_crash(&t, mode);

    uint64_t cur = committed_of(&t, id);
    CHECKF(cur == 1 || cur == 2, "op %d nth %u: committed version %llu", (int)op, nth,
           (unsigned long long)cur);
    if (rc == 0)
        CHECKF(cur == 2, "op %d nth %u: acknowledged commit lost", (int)op, nth);
    check_all(t.s, id, cur, 0, cur == 1 ? &m1 : &m2);
    CHECK(!tc_exists(&t, id, cur == 1 ? 2 : 1, CHUNK_NAME_COMMITTED));
    int v2_staged = staged_has(&t, id, 2);
    if (v2_staged)
        check_all(t.s, id, 2, CHUNK_READ_STAGED, &m2);
    outcomes.old_with_staged += cur == 1 && v2_staged;
    outcomes.old_dropped += cur == 1 && !v2_staged;
    outcomes.new_current += cur == 2;
    outcomes.superseded += t.rec.superseded > 0;
    int again = chunk_commit(t.s, id, 2);
    if (cur == 2 || v2_staged) {
        CHECK_OK(again);
        check_all(t.s, id, 2, 0, &m2);
    } else {
        CHECK_EQ(again, CAIRN_STALEVERSION);
        check_all(t.s, id, 1, 0, &m1);
    }
    model_free(&m1);
    model_free(&m2);
    tc_free(&t);
}

TEST_T(chunk_crash_during_commit, 120)
{
    static const enum faultfs_op ops[] = {FAULTFS_OPEN,      FAULTFS_PREAD,  FAULTFS_PWRITE,
                                          FAULTFS_FDATASYNC, FAULTFS_RENAME, FAULTFS_SYNC_DIR,
                                          FAULTFS_UNLINK};
    int run = 0;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        for (uint32_t nth = 1; nth <= 3; nth++) {
            commit_crash_case(run++, ops[i], nth, FAULTFS_CRASH_LOSE_UNSYNCED);
            commit_crash_case(run++, ops[i], nth, FAULTFS_CRASH_RANDOM);
        }
    /* No fault at all: the commit is acknowledged and survives. */
    commit_crash_case(run++, FAULTFS_MKDIR, 1, FAULTFS_CRASH_RANDOM);
    CHECK(outcomes.old_with_staged > 0);
    CHECK(outcomes.old_dropped > 0);
    CHECK(outcomes.new_current > 0);
    CHECK(outcomes.superseded > 0);
}

/* A truncation cut short by a failure and a power cut leaves the whole old
 * version or the cut one, never neither and never a mixture; a damaged block
 * where the cut falls is refused and changes nothing. */
TEST_T(chunk_crash_during_truncate, 60)
{
    static const enum faultfs_op ops[] = {FAULTFS_OPEN,      FAULTFS_PREAD,     FAULTFS_PWRITE,
                                          FAULTFS_FTRUNCATE, FAULTFS_FDATASYNC, FAULTFS_RENAME,
                                          FAULTFS_SYNC_DIR};
    int run = 0, cut_seen = 0, whole_seen = 0;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        for (uint32_t nth = 1; nth <= 3; nth++, run++) {
            char sub[64];
            snprintf(sub, sizeof sub, "run%d", run);
            struct tc t;
            tc_init_in(&t, 1, sub);
            struct model m = {0}, cut;
            put_version(&t, 31, 2, 0, &m, 0, (size_t)(4 * BS + 5));
            model_copy(&cut, &m);
            model_truncate(&cut, BS + 7);
            faultfs_fail(t.ff, ops[i], nth, CAIRN_EIO);
            int rc = chunk_truncate(t.s, 31, 2, BS + 7);
            faultfs_clear(t.ff);
            tc_crash(&t, run % 2 ? FAULTFS_CRASH_RANDOM : FAULTFS_CRASH_LOSE_UNSYNCED);
            CHECK_EQ_U64(committed_of(&t, 31), 2);
            CHECK(!tc_exists(&t, 31, 2, CHUNK_NAME_TMP));
            struct chunk_info st[1 + CAIRN_CHUNK_STAGED_MAX];
            size_t n;
            chunk_stat(t.s, 31, st, &n);
            if (rc == 0)
                CHECK_EQ_U64(st[0].length, cut.length);
            check_all(t.s, 31, 2, 0, st[0].length == cut.length ? &cut : &m);
            cut_seen += st[0].length == cut.length;
            whole_seen += st[0].length == m.length;
            model_free(&m);
            model_free(&cut);
            tc_free(&t);
        }
    }
    CHECK(cut_seen > 0 && whole_seen > 0);

    struct tc t;
    tc_init_in(&t, 1, "corrupt");
    struct model m = {0};
    put_version(&t, 32, 1, 0, &m, 0, (size_t)(3 * BS));
    tc_corrupt(&t, 32, 1, CHUNK_NAME_COMMITTED, CHUNK_DATA_OFF + BS + 9000, 0x20);
    CHECK_EQ(chunk_truncate(t.s, 32, 1, BS + 100), CAIRN_CORRUPT);
    check_read(t.s, 32, 1, 0, &m, 0, (size_t)BS);
    struct chunk_read_result r;
    uint8_t b;
    CHECK_OK(chunk_read(t.s, 32, 1, 3 * BS - 1, &b, 1, 0, &r));
    CHECK_EQ_U64(r.length, 3 * BS);
    /* A cut on a block boundary does not need the damaged block. */
    CHECK_OK(chunk_truncate(t.s, 32, 1, BS));
    model_truncate(&m, BS);
    check_all(t.s, 32, 1, 0, &m);
    model_free(&m);
    tc_free(&t);
}

/* After a power cut in the middle of unflushed writes, every block of the staged version
 * reads as it was after some prefix of the writes, or fails with CAIRN_CORRUPT: never a
 * mixture that passes its CRC. The flushed state itself is never lost. */
TEST_T(chunk_crash_mid_write_never_returns_garbage, 120)
{
    int corrupt_seen = 0, newer_seen = 0;
    for (int run = 0; run < 16; run++) {
        char sub[64];
        snprintf(sub, sizeof sub, "run%d", run);
        struct tc t;
        tc_init_in(&t, 1, sub);
        enum { WRITES = 4 };
        struct model states[WRITES + 1];
        memset(states, 0, sizeof states);
        CHECK_OK(chunk_stage(t.s, 7, 1, 0));
        write_random(t.s, 7, 1, &states[0], 0, (size_t)(2 * BS + 100));
        CHECK_OK(chunk_flush(t.s, 7, 1));
        for (int w = 1; w <= WRITES; w++) {
            model_copy(&states[w], &states[w - 1]);
            uint64_t off = prng_below(test_rng(), 2 * BS); /* over the flushed bytes */
            write_random(t.s, 7, 1, &states[w], off, (size_t)prng_range(test_rng(), 1, 2 * BS));
        }
        int mode = run % 3 == 0 ? FAULTFS_CRASH_LOSE_UNSYNCED : FAULTFS_CRASH_RANDOM;
        tc_crash(&t, (enum faultfs_crash_mode)mode);
        CHECK(staged_has(&t, 7, 1));
        if (mode == FAULTFS_CRASH_LOSE_UNSYNCED)
            check_all(t.s, 7, 1, CHUNK_READ_STAGED, &states[0]);
        uint8_t *got = malloc(BS), *want = malloc(BS);
        for (uint32_t b = 0; b < 8; b++) {
            struct chunk_read_result r;
            int rc = chunk_read(t.s, 7, 1, b * BS, got, (size_t)BS, CHUNK_READ_STAGED, &r);
            if (rc == CAIRN_CORRUPT) {
                CHECK_EQ(r.bad_block, b);
                corrupt_seen++;
                continue;
            }
            CHECK_OK(rc);
            int match = 0, w;
            for (w = 0; w <= WRITES && !match; w++) {
                memset(want, 0, BS);
                model_read(&states[w], b * BS, want, r.got);
                match = memcmp(got, want, r.got) == 0;
            }
            newer_seen += match && w > 1;
            CHECKF(match, "run %d block %u: bytes of no state of the writes", run, b);
        }
        free(got);
        free(want);
        for (int w = 0; w <= WRITES; w++)
            model_free(&states[w]);
        tc_free(&t);
    }
    /* The runs reached both kinds of survivor: torn blocks and later writes. */
    CHECK(corrupt_seen > 0);
    CHECK(newer_seen > 0);
}

/* What was acknowledged survives a power cut: a staged version once chunk_stage returns, its
 * bytes once flushed, an abort and a delete once they return. */
TEST_T(chunk_crash_keeps_acknowledged, 60)
{
    struct tc t;
    tc_init(&t, 1);
    struct model m1 = {0}, m2 = {0}, gone = {0};
    put_version(&t, 1, 1, 0, &m1, 0, 100);
    CHECK_OK(chunk_stage(t.s, 2, 1, 0)); /* staged, never written */
    CHECK_OK(chunk_stage(t.s, 3, 1, 0));
    write_random(t.s, 3, 1, &m2, 0, (size_t)BS + 1);
    CHECK_OK(chunk_flush(t.s, 3, 1));
    put_version(&t, 4, 1, 0, &gone, 0, 10);
    CHECK_OK(chunk_stage(t.s, 4, 2, 1));
    CHECK_OK(chunk_abort(t.s, 4, 2));
    put_version(&t, 5, 1, 0, &gone, 0, 10);
    CHECK_OK(chunk_delete(t.s, 5, 0));
    tc_crash(&t, FAULTFS_CRASH_LOSE_UNSYNCED);
    check_all(t.s, 1, 1, 0, &m1);
    CHECK(staged_has(&t, 2, 1));
    check_all(t.s, 3, 1, CHUNK_READ_STAGED, &m2);
    CHECK(!staged_has(&t, 4, 2));
    CHECK_EQ_U64(committed_of(&t, 4), 1);
    CHECK_EQ_U64(committed_of(&t, 5), 0);
    CHECK_EQ_U64(t.rec.quarantined, 0);
    model_free(&m1);
    model_free(&m2);
    model_free(&gone);
    tc_free(&t);
}

/* --- corruption ---------------------------------------------------------------------------- */

struct bad {
    uint64_t id, version;
    uint32_t block;
    int err;
};

struct bads {
    struct bad v[64];
    int n;
};

static void on_bad(void *ctx, uint64_t id, uint64_t version, uint32_t block, int err)
{
    struct bads *b = ctx;
    CHECK(b->n < 64);
    b->v[b->n++] = (struct bad){id, version, block, err};
}

/* Runs scrub steps until one finishes a pass; returns the number of steps.
 * *bytes: the data bytes verified. */
static int scrub_pass(struct tc *t, uint64_t budget, struct bads *b, uint64_t *bytes)
{
    int steps = 0;
    *bytes = 0;
    for (;;) {
        struct chunk_scrub_stats st;
        CHECK_OK(chunk_scrub_step(t->s, budget, on_bad, b, &st));
        steps++;
        *bytes += st.data_bytes;
        /* At most one table and one block past the budget. */
        CHECKF(st.bytes_read <= budget + BS + CHUNK_TABLE_SIZE, "budget %llu read %llu",
               (unsigned long long)budget, (unsigned long long)st.bytes_read);
        if (st.passes_done)
            return steps;
        CHECK(steps < 10000);
    }
}

TEST_T(chunk_bitflip_in_data_detected, 30)
{
    struct tc t;
    tc_init(&t, 1);
    struct model m = {0};
    put_version(&t, 10, 1, 0, &m, 0, (size_t)(5 * BS));
    tc_corrupt(&t, 10, 1, CHUNK_NAME_COMMITTED, CHUNK_DATA_OFF + 2 * BS + 100, 0x08);
    uint8_t *buf = malloc(5 * BS);
    struct chunk_read_result r;
    CHECK_EQ(chunk_read(t.s, 10, 1, 0, buf, (size_t)(5 * BS), 0, &r), CAIRN_CORRUPT);
    CHECK_EQ(r.bad_block, 2);
    CHECK_EQ(chunk_read(t.s, 10, 1, 2 * BS + 100, buf, 1, 0, &r), CAIRN_CORRUPT);
    CHECK_EQ(r.bad_block, 2);
    CHECK_EQ(chunk_read(t.s, 10, 1, 3 * BS - 1, buf, 2, 0, &r), CAIRN_CORRUPT);
    CHECK_EQ(r.bad_block, 2);
    check_read(t.s, 10, 1, 0, &m, 0, (size_t)(2 * BS));
    check_read(t.s, 10, 1, 0, &m, 3 * BS, (size_t)(2 * BS));
    /* The scrubber finds it on its own, once per pass. */
    struct bads b = {0};
    uint64_t bytes;
    scrub_pass(&t, 1 << 20, &b, &bytes);
    CHECK_EQ(b.n, 1);
    CHECK_EQ_U64(b.v[0].id, 10);
    CHECK_EQ_U64(b.v[0].version, 1);
    CHECK_EQ(b.v[0].block, 2);
    CHECK_EQ(b.v[0].err, CAIRN_CORRUPT);
    /* A clone keeps the damage detectable; a partial write over the damaged block is refused
     * (never re-checksummed) and drops the staged version. */
    CHECK_OK(chunk_stage(t.s, 10, 2, 1));
    CHECK_EQ(chunk_read(t.s, 10, 2, 2 * BS, buf, 10, CHUNK_READ_STAGED, &r), CAIRN_CORRUPT);
    CHECK_EQ(r.bad_block, 2);
    CHECK_EQ(chunk_write(t.s, 10, 2, 2 * BS + 7, "x", 1), CAIRN_CORRUPT);
    CHECK(!staged_has(&t, 10, 2));
    /* A write of the whole block repairs it in a new version. */
    CHECK_OK(chunk_stage(t.s, 10, 3, 1));
    write_random(t.s, 10, 3, &m, 2 * BS, (size_t)BS);
    CHECK_OK(chunk_commit(t.s, 10, 3));
    check_all(t.s, 10, 3, 0, &m);
    free(buf);
    model_free(&m);
    tc_free(&t);
}

/* The header slot a version file's current header is in. */
static unsigned live_slot(const struct tc *t, uint64_t id, uint64_t v)
{
    char path[1024];
    tc_path(t, id, v, CHUNK_NAME_COMMITTED, path, sizeof path);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    uint8_t area[CHUNK_HDR_AREA];
    CHECK(fread(area, 1, sizeof area, f) == sizeof area);
    fclose(f);
    struct chunk_hdr h;
    CHECK_OK(chunk_hdr_pick(area, sizeof area, &h));
    CHECK_EQ(h.state, CHUNK_STATE_COMMITTED);
    return h.slot;
}

TEST_T(chunk_bitflip_in_header_and_table_detected, 30)
{
    struct tc t;
    tc_init(&t, 1);
    struct model m = {0}, m2 = {0}, m3 = {0};
    put_version(&t, 20, 1, 0, &m, 0, (size_t)(3 * BS));
    put_version(&t, 21, 1, 0, &m2, 0, (size_t)(3 * BS));
    put_version(&t, 22, 1, 0, &m3, 0, 10);
    uint8_t buf[64];
    struct chunk_read_result r;
    /* A table entry: the block it covers fails; the others read fine. */
    tc_corrupt(&t, 20, 1, CHUNK_NAME_COMMITTED, CHUNK_TABLE_OFF + 4 * 1 + 2, 0x40);
    CHECK_EQ(chunk_read(t.s, 20, 1, BS + 3, buf, sizeof buf, 0, &r), CAIRN_CORRUPT);
    CHECK_EQ(r.bad_block, 1);
    check_read(t.s, 20, 1, 0, &m, 0, (size_t)BS);
    check_read(t.s, 20, 1, 0, &m, 2 * BS, (size_t)BS);
    /* The entry of a hole past the end: only the scrubber looks there. */
    tc_corrupt(&t, 20, 1, CHUNK_NAME_COMMITTED, CHUNK_TABLE_OFF + 4 * 500, 0x01);
    /* The header: the stale slot (the staged header before the commit) does not
     * matter; the current one does, and then nothing of the file is trusted. */
    unsigned live = live_slot(&t, 21, 1);
    tc_corrupt(&t, 21, 1, CHUNK_NAME_COMMITTED, chunk_hdr_slot_off(live ^ 1u) + 30, 0x80);
    check_read(t.s, 21, 1, 0, &m2, 0, (size_t)BS);
    tc_corrupt(&t, 21, 1, CHUNK_NAME_COMMITTED, chunk_hdr_slot_off(live) + 30, 0x80);
    CHECK_EQ(chunk_read(t.s, 21, 1, 0, buf, sizeof buf, 0, &r), CAIRN_CORRUPT);
    CHECK_EQ(r.bad_block, CHUNK_BLOCK_HEADER);
    /* A file cut short inside its CRC table. */
    char path[1024];
    tc_path(&t, 22, 1, CHUNK_NAME_COMMITTED, path, sizeof path);
    CHECK(truncate(path, CHUNK_TABLE_OFF + 100) == 0);
    CHECK_EQ(chunk_read(t.s, 22, 1, 0, buf, 1, 0, &r), CAIRN_CORRUPT);
    CHECK_EQ(r.bad_block, CHUNK_BLOCK_HEADER);

    struct bads b = {0};
    uint64_t bytes;
    scrub_pass(&t, 1 << 20, &b, &bytes);
    CHECK_EQ(b.n, 4);
    CHECK(b.v[0].id == 20 && b.v[0].block == 1 && b.v[0].err == CAIRN_CORRUPT);
    CHECK(b.v[1].id == 20 && b.v[1].block == 500 && b.v[1].err == CAIRN_CORRUPT);
    CHECK(b.v[2].id == 21 && b.v[2].block == CHUNK_BLOCK_HEADER);
    CHECK(b.v[3].id == 22 && b.v[3].block == CHUNK_BLOCK_HEADER);

    /* At restart the bad headers are quarantined, not trusted; the table damage is a block
     * problem and stays for the daemon to report. */
    tc_reopen(&t);
    CHECK_EQ_U64(t.rec.quarantined, 2);
    CHECK_EQ_U64(t.rec.committed, 1);
    CHECK_EQ(chunk_read(t.s, 21, 1, 0, buf, 1, 0, &r), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_read(t.s, 22, 1, 0, buf, 1, 0, &r), CAIRN_STALEVERSION);
    char name[CHUNK_NAME_LEN];
    chunk_name_format(name, 21, 1, CHUNK_NAME_COMMITTED);
    snprintf(path, sizeof path, "%s/quarantine/%s", t.dir, name);
    CHECK(access(path, F_OK) == 0);
    model_free(&m);
    model_free(&m2);
    model_free(&m3);
    tc_free(&t);
}

/* The scrubber reads at most its budget (plus one block) per step, resumes inside a chunk
 * where it stopped, visits every chunk once per pass in id order, and wraps around. */
TEST_T(chunk_scrub_budget_resume_wrap, 60)
{
    struct tc t;
    tc_init(&t, 1);
    static const size_t lens[] = {0, 1, 3 * BS, 10 * BS + 5, 2 * BS, 7 * BS - 1};
    struct model m = {0};
    uint64_t total = 0;
    for (uint64_t i = 0; i < 6; i++) {
        put_version(&t, 100 + i, 1, 0, &m, 0, lens[i]);
        model_free(&m);
        total += lens[i];
    }
    tc_corrupt(&t, 103, 1, CHUNK_NAME_COMMITTED, CHUNK_DATA_OFF + 6 * BS + 1, 0x02);
    for (int pass = 0; pass < 2; pass++) {
        struct bads b = {0};
        uint64_t bytes;
        int steps = scrub_pass(&t, 2 * BS, &b, &bytes);
        CHECK_EQ_U64(bytes, total);
        CHECK(steps >= (int)(total / (3 * BS)));
        CHECK_EQ(b.n, 1);
        CHECK(b.v[0].id == 103 && b.v[0].block == 6);
    }
    /* A budget of 0 still makes progress: one data block or one chunk per step
     * (the empty chunk, then the one-byte one, then one step per block). */
    struct bads b = {0};
    uint64_t bytes;
    int steps = scrub_pass(&t, 0, &b, &bytes);
    CHECK_EQ_U64(bytes, total);
    CHECK_EQ(steps, 1 + 1 + 3 + 11 + 2 + 7);
    /* Chunks committed during a pass wait for the next one; deleted ones are skipped. */
    struct chunk_scrub_stats st;
    CHECK_OK(chunk_scrub_step(t.s, 4 * BS, on_bad, &b, &st));
    put_version(&t, 99, 1, 0, &m, 0, (size_t)BS);
    model_free(&m);
    CHECK_OK(chunk_delete(t.s, 104, 0));
    uint64_t rest;
    scrub_pass(&t, 1 << 20, &b, &rest);
    CHECK_EQ_U64(st.data_bytes + rest, total - 2 * BS);
    scrub_pass(&t, 1 << 20, &b, &rest);
    CHECK_EQ_U64(rest, total - 2 * BS + BS);
    /* An empty store: every step is a whole pass. */
    struct tc e;
    tc_init_in(&e, 1, "empty");
    CHECK_OK(chunk_scrub_step(e.s, BS, NULL, NULL, &st));
    CHECK_EQ_U64(st.passes_done, 1);
    tc_free(&e);
    tc_free(&t);
}

/* --- injected errors ---------------------------------------------------------------------- */

TEST_T(chunk_enospc_drops_staged_keeps_committed, 30)
{
    struct tc t;
    tc_init(&t, 1);
    struct model m1 = {0}, m2;
    put_version(&t, 50, 1, 0, &m1, 0, (size_t)(4 * BS));
    /* Full disk in the middle of a write to a clone. */
    CHECK_OK(chunk_stage(t.s, 50, 2, 1));
    model_copy(&m2, &m1);
    write_random(t.s, 50, 2, &m2, 10, 10);
    faultfs_fail(t.ff, FAULTFS_PWRITE, 1, CAIRN_ENOSPC);
    uint8_t *p = calloc(1, 3 * BS);
    CHECK_EQ(chunk_write(t.s, 50, 2, 5 * BS, p, (size_t)(3 * BS)), CAIRN_ENOSPC);
    CHECK(!staged_has(&t, 50, 2));
    CHECK(!tc_exists(&t, 50, 2, CHUNK_NAME_STAGED));
    CHECK_EQ(chunk_write(t.s, 50, 2, 0, p, 1), CAIRN_STALEVERSION);
    CHECK_EQ(chunk_commit(t.s, 50, 2), CAIRN_STALEVERSION);
    check_all(t.s, 50, 1, 0, &m1);
    /* Full disk while the clone is made: nothing is left behind. */
    for (uint32_t nth = 1; nth <= 4; nth++) {
        faultfs_fail(t.ff, FAULTFS_PWRITE, nth, CAIRN_ENOSPC);
        CHECK_EQ(chunk_stage(t.s, 50, 3, 1), CAIRN_ENOSPC);
        faultfs_clear(t.ff);
        CHECK(!staged_has(&t, 50, 3));
        CHECK(!tc_exists(&t, 50, 3, CHUNK_NAME_TMP));
        CHECK(!tc_exists(&t, 50, 3, CHUNK_NAME_STAGED));
    }
    faultfs_fail(t.ff, FAULTFS_OPEN, 1, CAIRN_ENOSPC);
    CHECK_EQ(chunk_stage(t.s, 51, 1, 0), CAIRN_ENOSPC);
    struct chunk_usage u;
    chunk_usage(t.s, &u);
    CHECK_EQ_U64(u.staged, 0);
    CHECK_EQ_U64(u.chunks, 1);
    check_all(t.s, 50, 1, 0, &m1);
    /* Space again: the same version can be staged and committed. */
    CHECK_OK(chunk_stage(t.s, 50, 3, 1));
    CHECK_OK(chunk_commit(t.s, 50, 3));
    check_all(t.s, 50, 3, 0, &m1);
    tc_reopen(&t);
    CHECK_EQ_U64(t.rec.quarantined, 0);
    check_all(t.s, 50, 3, 0, &m1);
    free(p);
    model_free(&m1);
    model_free(&m2);
    tc_free(&t);
}

TEST_T(chunk_eio_injected, 30)
{
    struct tc t;
    tc_init(&t, 1);
    struct model m = {0}, m2 = {0};
    put_version(&t, 60, 1, 0, &m, 0, (size_t)(2 * BS));
    uint8_t buf[100];
    struct chunk_read_result r;
    /* Reads: the header, the table, then a block. */
    for (uint32_t nth = 1; nth <= 3; nth++) {
        faultfs_fail(t.ff, FAULTFS_PREAD, nth, CAIRN_EIO);
        CHECK_EQ(chunk_read(t.s, 60, 1, 0, buf, sizeof buf, 0, &r), CAIRN_EIO);
    }
    check_all(t.s, 60, 1, 0, &m);
    /* A failed flush loses the staged version (its pages may be gone: fsyncgate). */
    CHECK_OK(chunk_stage(t.s, 61, 1, 0));
    write_random(t.s, 61, 1, &m2, 0, 100);
    faultfs_fail(t.ff, FAULTFS_FDATASYNC, 1, CAIRN_EIO);
    CHECK_EQ(chunk_flush(t.s, 61, 1), CAIRN_EIO);
    CHECK(!staged_has(&t, 61, 1));
    CHECK_EQ(chunk_flush(t.s, 61, 1), CAIRN_STALEVERSION);
    /* A failed rename at commit: the old version stays current. */
    CHECK_OK(chunk_stage(t.s, 60, 2, 1));
    faultfs_fail(t.ff, FAULTFS_RENAME, 1, CAIRN_EIO);
    CHECK_EQ(chunk_commit(t.s, 60, 2), CAIRN_EIO);
    CHECK_EQ_U64(committed_of(&t, 60), 1);
    check_all(t.s, 60, 1, 0, &m);
    /* A failed directory listing at open fails the open. */
    chunk_store_close(t.s);
    t.s = NULL;
    faultfs_fail(t.ff, FAULTFS_LIST, 1, CAIRN_EIO);
    struct chunk_store_options o = {.dir = t.dir, .cfs = &t.cfs};
    CHECK_EQ(chunk_store_open(&o, &t.s, NULL), CAIRN_EIO);
    CHECK(t.s == NULL);
    tc_open(&t);
    check_all(t.s, 60, 1, 0, &m);
    model_free(&m);
    model_free(&m2);
    tc_free(&t);
}

/* --- threads ------------------------------------------------------------------------------ */

#define THREADS 4
#define HOT_ID 0x7777ull
#define HOT_LEN 20000u

struct worker {
    struct tc *t;
    int idx;
    uint64_t seed;
    volatile int *stop;
    int reads_ok;
};

/* A version of the hot chunk is HOT_LEN bytes of (version & 0xff): a reader can check any
 * version it gets without knowing which one it asked for in advance. */
static void put_hot(struct chunk_store *s, uint64_t v)
{
    static uint8_t buf[HOT_LEN];
    memset(buf, (int)(v & 0xff), sizeof buf);
    CHECK_OK(chunk_stage(s, HOT_ID, v, 0));
    CHECK_OK(chunk_write(s, HOT_ID, v, 0, buf, sizeof buf));
    CHECK_OK(chunk_commit(s, HOT_ID, v));
}

/* Writers own distinct chunks and check them against their own models; worker 0 also keeps
 * committing new versions of the hot chunk. */
static void *writer_main(void *arg)
{
    struct worker *w = arg;
    struct prng rng;
    prng_seed(&rng, w->seed);
    struct model m[3];
    memset(m, 0, sizeof m);
    uint64_t ver[3] = {0};
    uint8_t buf[3000];
    for (int it = 0; it < 12; it++) {
        int k = (int)prng_below(&rng, 3);
        uint64_t id = (uint64_t)(w->idx + 1) * 1000 + (uint64_t)k;
        uint64_t v = ver[k] + 1;
        CHECK_OK(chunk_stage(w->t->s, id, v, ver[k]));
        uint64_t off = prng_below(&rng, 3 * BS);
        size_t n = (size_t)prng_range(&rng, 1, sizeof buf);
        prng_fill(&rng, buf, n);
        CHECK_OK(chunk_write(w->t->s, id, v, off, buf, n));
        if (prng_chance(&rng, 1, 4)) {
            CHECK_OK(chunk_abort(w->t->s, id, v));
        } else {
            CHECK_OK(chunk_flush(w->t->s, id, v));
            CHECK_OK(chunk_commit(w->t->s, id, v));
            model_write(&m[k], off, buf, n);
            ver[k] = v;
        }
        if (ver[k])
            check_all(w->t->s, id, ver[k], 0, &m[k]);
        if (w->idx == 0)
            put_hot(w->t->s, 2 + (uint64_t)it);
    }
    for (int k = 0; k < 3; k++)
        model_free(&m[k]);
    return NULL;
}

static void *reader_main(void *arg)
{
    struct worker *w = arg;
    static uint8_t buf[HOT_LEN];
    while (!*w->stop) {
        struct chunk_info st[1 + CAIRN_CHUNK_STAGED_MAX];
        size_t n;
        chunk_stat(w->t->s, HOT_ID, st, &n);
        CHECK(n >= 1 && !st[0].staged);
        struct chunk_read_result r;
        int rc = chunk_read(w->t->s, HOT_ID, st[0].version, 0, buf, sizeof buf, 0, &r);
        if (rc == CAIRN_STALEVERSION)
            continue; /* replaced between the stat and the open: allowed */
        CHECK_OK(rc);
        CHECK_EQ(r.got, HOT_LEN);
        for (size_t i = 0; i < HOT_LEN; i++)
            CHECK_EQ(buf[i], st[0].version & 0xff);
        w->reads_ok++;
    }
    return NULL;
}

TEST_T(chunk_concurrent_threads, 120)
{
    struct tc t;
    tc_init(&t, 0);
    put_hot(t.s, 1);
    volatile int stop = 0;
    struct worker w[THREADS + 1];
    pthread_t th[THREADS + 1];
    for (int i = 0; i <= THREADS; i++) {
        w[i] = (struct worker){&t, i, test_seed() * 31 + (uint64_t)i, &stop, 0};
        CHECK(pthread_create(&th[i], NULL, i < THREADS ? writer_main : reader_main, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(th[THREADS], NULL) == 0);
    CHECK_EQ_U64(committed_of(&t, HOT_ID), 13);
    /* Everything the threads left is what a restart finds. */
    struct chunk_info *before, *after;
    size_t nb, na;
    CHECK_OK(chunk_list(t.s, &before, &nb));
    tc_reopen(&t);
    CHECK_OK(chunk_list(t.s, &after, &na));
    check_same_list(before, nb, after, na);
    free(before);
    free(after);
    tc_free(&t);
}
