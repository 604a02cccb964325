/* test_chunkd_fence.c: fencing tokens kept across restarts (src/chunkd/fence.h): the
 * token log alone (torn tails, damaged records, rewrites, the bound), and a chunk server
 * in a small in-process cluster refusing a stale token after a restart. */
#include <sys/stat.h>

#include "chunkd/fence.h"
#include "common/crc32c.h"
#include "test_chunkd_util.h"
#include "wire/codec.h"

static void fence_dir(char *out, size_t cap, const char *sub)
{
    snprintf(out, cap, "%s/%s", test_tmpdir(), sub);
    CHECK(mkdir(out, 0755) == 0);
}

static off_t file_size(const char *dir)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, FENCE_FILE);
    struct stat sb;
    CHECK(stat(p, &sb) == 0);
    return sb.st_size;
}

static void append_raw(const char *dir, const void *b, size_t n)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, FENCE_FILE);
    int fd = open(p, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(write(fd, b, n) == (ssize_t)n);
    close(fd);
}

/* A fence record (chunk, token, CRC32C of both) as the log stores it; a
 * nonzero damage is XORed into the CRC. */
static void fence_record(uint8_t *rec, uint64_t chunk, uint64_t token, uint32_t damage)
{
    wire_store_u64(rec, chunk);
    wire_store_u64(rec + 8, token);
    wire_store_u32(rec + 16, crc32c(0, rec, 16) ^ damage);
}

TEST_T(fence_log_survives_reopen, 10)
{
    char dir[512];
    fence_dir(dir, sizeof dir, "f");
    struct fence_log *fl;
    struct fence_open_stats st;
    CHECK_OK(fence_open(dir, 1000, &fl, &st));
    CHECK_EQ_U64(st.records, 0);
    CHECK_OK(fence_admit(fl, 7, 0)); /* no token: nothing to check or keep */
    CHECK_EQ(fence_count(fl), 0);
    CHECK_OK(fence_admit(fl, 7, 5));
    CHECK_OK(fence_admit(fl, 7, 5));
    CHECK_EQ(fence_admit(fl, 7, 3), CAIRN_FENCED);
    CHECK_OK(fence_admit(fl, 8, 2)); /* tokens are per chunk */
    CHECK_OK(fence_admit(fl, 7, 9));
    CHECK_EQ(fence_admit(fl, 7, 5), CAIRN_FENCED);
    fence_close(fl); /* no clean-shutdown step: each record was synced when admitted */

    CHECK_OK(fence_open(dir, 1000, &fl, &st));
    CHECK_EQ_U64(st.records, 3);
    CHECK_EQ_U64(st.bad, 0);
    CHECK_EQ_U64(st.chunks, 2);
    CHECK_EQ_U64(fence_get(fl, 7), 9);
    CHECK_EQ_U64(fence_get(fl, 8), 2);
    CHECK_EQ(fence_admit(fl, 7, 8), CAIRN_FENCED);
    CHECK_EQ(fence_admit(fl, 8, 1), CAIRN_FENCED);
    CHECK_OK(fence_admit(fl, 8, 2));
    fence_close(fl);
    /* The open rewrote the file: one record per chunk. */
    CHECK_EQ((long long)file_size(dir), 2 * FENCE_RECORD_SIZE);
}

/* A record cut short by a power cut, and a damaged one: skipped, the rest kept. */
TEST_T(fence_log_torn_tail_and_damage, 10)
{
    char dir[512];
    fence_dir(dir, sizeof dir, "f");
    struct fence_log *fl;
    struct fence_open_stats st;
    CHECK_OK(fence_open(dir, 1000, &fl, &st));
    CHECK_OK(fence_admit(fl, 1, 10));
    CHECK_OK(fence_admit(fl, 2, 20));
    fence_close(fl);
    uint8_t rec[FENCE_RECORD_SIZE];
    fence_record(rec, 3, 30, 1u); /* damaged */
    append_raw(dir, rec, sizeof rec);
    fence_record(rec, 4, 40, 0);
    append_raw(dir, rec, sizeof rec); /* good, after the damaged one */
    append_raw(dir, rec, 7);          /* torn */
    CHECK_OK(fence_open(dir, 1000, &fl, &st));
    CHECK_EQ_U64(st.records, 3);
    CHECK_EQ_U64(st.bad, 2);
    CHECK_EQ_U64(fence_get(fl, 1), 10);
    CHECK_EQ_U64(fence_get(fl, 2), 20);
    CHECK_EQ_U64(fence_get(fl, 3), 0);
    CHECK_EQ_U64(fence_get(fl, 4), 40);
    /* Appends after the rewrite line up again. */
    CHECK_OK(fence_admit(fl, 5, 50));
    fence_close(fl);
    CHECK_OK(fence_open(dir, 1000, &fl, &st));
    CHECK_EQ_U64(st.bad, 0);
    CHECK_EQ_U64(fence_get(fl, 5), 50);
    fence_close(fl);
}

/* Many newer tokens for few chunks: the file is rewritten on the way, never losing the
 * newest; beyond the bound the oldest tokens go first. */
TEST_T(fence_log_compaction_and_bound, 30)
{
    char dir[512];
    fence_dir(dir, sizeof dir, "f");
    struct fence_log *fl;
    CHECK_OK(fence_open(dir, 64, &fl, NULL));
    uint64_t newest[8] = {0};
    for (uint64_t tok = 1; tok <= 1500; tok++) {
        uint64_t c = prng_below(test_rng(), 8);
        CHECK_OK(fence_admit(fl, c, tok));
        newest[c] = tok;
    }
    /* Rewritten at least once: far fewer records than admitted. */
    CHECK((uint64_t)file_size(dir) <= (2 * 8 + FENCE_COMPACT_MIN + 1) * FENCE_RECORD_SIZE);
    fence_close(fl);
    CHECK_OK(fence_open(dir, 64, &fl, NULL));
    for (uint64_t c = 0; c < 8; c++) {
        CHECK_EQ_U64(fence_get(fl, c), newest[c]);
        if (newest[c] > 1)
            CHECK_EQ(fence_admit(fl, c, newest[c] - 1), CAIRN_FENCED);
    }
    /* The bound: chunks 100.. get tokens 10001..; the oldest (chunks 0..7) go first. */
    for (uint64_t i = 0; i < 70; i++)
        CHECK_OK(fence_admit(fl, 100 + i, 10001 + i));
    CHECK(fence_count(fl) <= 64);
    CHECK_EQ_U64(fence_get(fl, 169), 10070);
    CHECK_EQ_U64(fence_get(fl, 0), 0);
    fence_close(fl);
    CHECK_OK(fence_open(dir, 64, &fl, NULL));
    CHECK(fence_count(fl) <= 64);
    CHECK_EQ_U64(fence_get(fl, 169), 10070);
    fence_close(fl);
}

/* One CHUNK_WRITE piece with a token straight to one chunk server (no chain);
 * returns its status. */
static int write_token(struct tc *t, int slot, uint64_t chunk, uint64_t version, uint64_t token,
                       uint64_t off)
{
    uint8_t data[512];
    memset(data, (int)token, sizeof data);
    struct wire_chunk_write m;
    memset(&m, 0, sizeof m);
    m.chunk = chunk;
    m.version = version;
    m.offset = off;
    m.token = token;
    m.flags = WIRE_CHUNK_WRITE_FLUSH;
    m.data = (struct wire_bytes){data, sizeof data};
    struct wire_chunk_write_reply r;
    int rc = tc_chunk_write_req(t, t->chunk[slot].addr, &m, 3, &r);
    if (rc == 0) {
        CHECK_EQ(r.n, 1);
        rc = r.status[0];
    }
    return rc;
}

/* The brief's case: token 5 written, the server restarted, token 3 refused, 5 and 6 pass. */
TEST_T(stale_token_refused_after_restart, 90)
{
    struct tc t;
    tc_init(&t, 1, NULL);
    uint64_t ino = tc_create(&t, "f", 1);
    struct tc_alloc a;
    CHECK_OK(tc_alloc(&t, ino, 0, 60000, &a));
    CHECK_EQ(a.n, 1);
    CHECK_OK(write_token(&t, 0, a.chunk, a.version, 5, 0));
    CHECK_EQ(write_token(&t, 0, a.chunk, a.version, 4, 512), CAIRN_FENCED);
    tc_chunk_restart(&t, 0);
    /* Another chunk's writes never met a token: anything goes there. */
    CHECK_OK(write_token(&t, 0, a.chunk + 1000, 1, 1, 0));
    CHECK_EQ(write_token(&t, 0, a.chunk, a.version + 1, 3, 0), CAIRN_FENCED);
    CHECK_OK(write_token(&t, 0, a.chunk, a.version + 1, 5, 0));
    CHECK_OK(write_token(&t, 0, a.chunk, a.version + 1, 6, 512));
    CHECK_EQ(write_token(&t, 0, a.chunk, a.version + 1, 5, 1024), CAIRN_FENCED);
    CHECK_OK(write_token(&t, 0, a.chunk, a.version + 1, 0, 1024)); /* unfenced writer */
    /* And again, so the token written after the first restart counts too. */
    tc_chunk_restart(&t, 0);
    CHECK_EQ(write_token(&t, 0, a.chunk, a.version + 2, 5, 0), CAIRN_FENCED);
    CHECK_OK(write_token(&t, 0, a.chunk, a.version + 2, 6, 0));
    tc_free(&t);
}
