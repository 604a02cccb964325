/* test_lockd.c: the pure pieces of the lock service's daemon and client
 * sides: the leader's command clock (src/metad/locks.h) and the decoding of
 * a LOCK_LIST reply by the lock client (src/client/lockclient.h). */
#include <string.h>

#include "cairn_errors.h"
#include "client/lockclient.h"
#include "common/buf.h"
#include "common/limits.h"
#include "meta/cmd.h"
#include "metad/locks.h"
#include "test.h"
#include "wire/codec.h"

#define MS 1000000ull

TEST(lockd_clock_first_start_is_wall)
{
    CHECK_EQ_U64(metad_clock_stamp(1000 * MS, 0, 1500 * MS), 1500 * MS);
}

TEST(lockd_clock_gap_taken_out_then_caught_up)
{
    uint64_t base_meta = 10000 * MS, base_wall = base_meta + 3000 * MS; /* 3 s leaderless */
    /* resumes where the state machine stood */
    CHECK_EQ_U64(metad_clock_stamp(base_wall, base_meta, base_wall), base_meta);
    /* runs 1/64 fast: after 640 ms of wall time, 650 ms have passed */
    CHECK_EQ_U64(metad_clock_stamp(base_wall, base_meta, base_wall + 640 * MS),
                 base_meta + 650 * MS);
    /* caught up after 64 x the gap, then plain wall time */
    uint64_t w = base_wall + 64 * 3000 * MS;
    CHECK_EQ_U64(metad_clock_stamp(base_wall, base_meta, w), w);
    CHECK_EQ_U64(metad_clock_stamp(base_wall, base_meta, w + 5 * MS), w + 5 * MS);
    /* monotonic and never ahead of the wall clock */
    uint64_t prev = 0;
    for (uint64_t t = base_wall; t < base_wall + 200000 * MS; t += 997 * MS) {
        uint64_t s = metad_clock_stamp(base_wall, base_meta, t);
        CHECK(s >= prev && s <= t);
        prev = s;
    }
}

TEST(lockd_clock_long_outage_uses_wall)
{
    uint64_t base_meta = 10000 * MS;
    uint64_t base_wall = base_meta + (uint64_t)CAIRN_METAD_CLOCK_PAUSE_MAX_MS * MS + 1;
    CHECK_EQ_U64(metad_clock_stamp(base_wall, base_meta, base_wall), base_wall);
    /* a state machine stamped ahead of this node's clock: wall time (the
     * state machine itself never lets its time go back) */
    CHECK_EQ_U64(metad_clock_stamp(100 * MS, 200 * MS, 150 * MS), 150 * MS);
}

/* A LOCK_LIST reply with one named lock. */
static void list_reply(struct cairn_buf *b, const char *name, uint64_t holder_owner,
                       uint64_t waiter_owner)
{
    struct wire_enc e;
    wire_enc_init(&e, b);
    wire_put_u32(&e, 0); /* status */
    wire_put_u32(&e, 1);
    wire_put_u8(&e, META_LOCK_NAMED);
    wire_put_u64(&e, 0);
    wire_put_str16(&e, name, strlen(name));
    wire_put_u64(&e, 42); /* last token */
    wire_put_u64(&e, 0);
    wire_put_u32(&e, 1);
    wire_put_u64(&e, 7); /* session */
    wire_put_u64(&e, holder_owner);
    wire_put_u8(&e, META_LOCK_EXCLUSIVE);
    wire_put_u64(&e, 0);
    wire_put_u64(&e, 0);
    wire_put_u64(&e, 42);
    wire_put_u32(&e, 1);
    wire_put_u64(&e, 9);
    wire_put_u64(&e, waiter_owner);
    wire_put_u8(&e, META_LOCK_SHARED);
    wire_put_u64(&e, 0);
    wire_put_u64(&e, 0);
    wire_put_u64(&e, 40); /* wait id */
    wire_put_u64(&e, 0);
    wire_put_u8(&e, 0); /* more */
    CHECK_EQ(e.err, 0);
}

TEST(lockd_client_finds_its_grant)
{
    struct cairn_buf b;
    buf_init(&b, 1 << 20);
    struct lockclient_seen s;
    list_reply(&b, "job", 1234, 99);
    CHECK_EQ(lockclient_seen_parse(b.data, b.len, "job", 1234, &s), 0);
    CHECK(s.found && s.held && !s.waiting);
    CHECK_EQ_U64(s.token, 42);
    CHECK_EQ_U64(s.session, 7);
    CHECK_EQ(s.info.holders, 1);
    CHECK_EQ(s.info.waiters, 1);
    CHECK_EQ(s.info.mode, META_LOCK_EXCLUSIVE);
    CHECK_EQ(lockclient_seen_parse(b.data, b.len, "job", 99, &s), 0);
    CHECK(s.found && !s.held && s.waiting);
    CHECK_EQ_U64(s.session, 9);
    /* a longer name with the same prefix is not the lock */
    CHECK_EQ(lockclient_seen_parse(b.data, b.len, "jo", 1234, &s), 0);
    CHECK(!s.found && !s.held && !s.waiting);
    /* a truncated lock entry is an error, never a wrong answer (the last
     * byte, "more", is not needed for the first lock) */
    for (size_t n = 4; n < b.len - 1; n++) {
        int rc = lockclient_seen_parse(b.data, n, "job", 1234, &s);
        CHECKF(rc != 0 || !s.held, "truncated at %zu", n);
    }
    buf_reset(&b);
    struct wire_enc e;
    wire_enc_init(&e, &b);
    wire_put_u32(&e, (uint32_t)CAIRN_NOTLEADER);
    CHECK_EQ(lockclient_seen_parse(b.data, b.len, "job", 1, &s), CAIRN_NOTLEADER);
    buf_free(&b);
}
