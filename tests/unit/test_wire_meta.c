/* test_wire_meta.c: golden vectors, round trips and hostile inputs for the
 * metadata-service messages of src/wire/msg_meta.h (WIRE_META_* and
 * WIRE_RAFT_SNAP_CHUNK). The expected bytes are written out by hand from
 * the layouts in wire.h, never produced by the encoder under test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/buf.h"
#include "common/prng.h"
#include "raft/raft.h"
#include "test.h"
#include "wire/msg_meta.h"

/* Decode hex (spaces and '|' ignored) into a malloc'd buffer. */
static uint8_t *unhex(const char *hex, size_t *n)
{
    size_t len = strlen(hex), k = 0;
    uint8_t *out = malloc(len / 2 + 1);
    CHECK(out != NULL);
    int half = -1;
    for (size_t i = 0; i < len; i++) {
        char ch = hex[i];
        if (ch == ' ' || ch == '|')
            continue;
        int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        CHECKF(v >= 0, "bad hex digit '%c'", ch);
        if (half < 0) {
            half = v;
        } else {
            out[k++] = (uint8_t)(half << 4 | v);
            half = -1;
        }
    }
    CHECK(half < 0);
    *n = k;
    return out;
}

static void check_bytes(const struct cairn_buf *b, const char *hex)
{
    size_t n;
    uint8_t *want = unhex(hex, &n);
    CHECKF(b->len == n, "encoded %zu bytes, golden has %zu", b->len, n);
    for (size_t i = 0; i < n; i++)
        CHECKF(b->data[i] == want[i], "byte %zu: %02x != golden %02x", i, b->data[i], want[i]);
    free(want);
}

typedef int (*decode_fn)(const uint8_t *p, size_t n, void *out);

/* Every strict prefix is CAIRN_TRUNCATED; one trailing byte CAIRN_BADMSG.
 * Copies keep ASan watching the exact bounds of each prefix. */
static void check_truncations(const uint8_t *p, size_t n, decode_fn dec)
{
    static uint8_t out[sizeof(struct wire_meta_status)];
    for (size_t k = 0; k < n; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, p, k);
        CHECKF(dec(cut, k, out) == CAIRN_TRUNCATED, "prefix of %zu/%zu bytes accepted", k, n);
        free(cut);
    }
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, p, n);
    longer[n] = 0;
    CHECK_EQ(dec(longer, n + 1, out), CAIRN_BADMSG);
    CHECK_OK(dec(longer, n, out));
    free(longer);
}

/* A hand-written payload decodes to code. */
static void check_hex_decode(const char *hex, decode_fn dec, int code)
{
    static uint8_t out[sizeof(struct wire_meta_status)];
    size_t n;
    uint8_t *p = unhex(hex, &n);
    CHECKF(dec(p, n, out) == code, "\"%s\" did not decode to %s", hex, cairn_err_name(code));
    free(p);
}

static int dec_bytes(const uint8_t *p, size_t n, void *o)
{
    return wire_meta_bytes_decode(p, n, o);
}
static int dec_cmd_reply(const uint8_t *p, size_t n, void *o)
{
    return wire_meta_cmd_reply_decode(p, n, o);
}
static int dec_status(const uint8_t *p, size_t n, void *o)
{
    return wire_meta_status_decode(p, n, o);
}
static int dec_member(const uint8_t *p, size_t n, void *o)
{
    return wire_meta_member_decode(p, n, o);
}
static int dec_u64(const uint8_t *p, size_t n, void *o) { return wire_meta_u64_decode(p, n, o); }
static int dec_chunk(const uint8_t *p, size_t n, void *o)
{
    return wire_snap_chunk_decode(p, n, o);
}

#define WB(s) ((struct wire_bytes){(const uint8_t *)(s), (uint32_t)strlen(s)})

TEST(cmd_query_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    CHECK_OK(wire_meta_bytes_encode(&b, "abc", 3));
    check_bytes(&b, "03000000 616263");
    struct wire_bytes d;
    CHECK_OK(wire_meta_bytes_decode(b.data, b.len, &d));
    CHECK_EQ(d.len, 3);
    CHECK_MEM_EQ(d.p, "abc", 3);
    check_truncations(b.data, b.len, dec_bytes);
    buf_reset(&b);
    CHECK_OK(wire_meta_bytes_encode(&b, NULL, 0));
    check_bytes(&b, "00000000");
    CHECK_OK(wire_meta_bytes_decode(b.data, b.len, &d));
    CHECK(d.p == NULL && d.len == 0);
    /* Limits: a proposal-sized command at most. */
    CHECK_EQ(wire_meta_bytes_encode(&b, NULL, CAIRN_RAFT_PROPOSAL_MAX + 1), CAIRN_TOOBIG);
    CHECK_EQ(b.len, 4);
    check_hex_decode("01001000 00", dec_bytes, CAIRN_BADMSG); /* 1 MiB + 1 announced */
    check_hex_decode("05000000 6162", dec_bytes, CAIRN_TRUNCATED);
    buf_free(&b);
}

TEST(cmd_reply_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_meta_cmd_reply r = {0x0102030405060708ull, WB("xy")};
    CHECK_OK(wire_meta_cmd_reply_encode(&b, &r));
    check_bytes(&b, "0807060504030201 | 02000000 7879");
    struct wire_meta_cmd_reply d;
    CHECK_OK(wire_meta_cmd_reply_decode(b.data, b.len, &d));
    CHECK_EQ_U64(d.index, r.index);
    CHECK_EQ(d.reply.len, 2);
    CHECK_MEM_EQ(d.reply.p, "xy", 2);
    check_truncations(b.data, b.len, dec_cmd_reply);
    buf_free(&b);
}

static const char *STATUS_HEX = "0100000000000000 | 03 | 0200000000000000 | 0100000000000000 |"
                                " 0300 613a31 | 0500000000000000 | 0400000000000000 |"
                                " 0000000000000000 | 8877665544332211 | 02000000 |"
                                " 0100000000000000 01 0300 613a31 |"
                                " 0700000000000000 00 0000";

TEST(status_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_meta_status s;
    memset(&s, 0, sizeof s);
    s.id = 1;
    s.role = RAFT_LEADER;
    s.term = 2;
    s.leader = 1;
    s.leader_addr = WB("a:1");
    s.commit = 5;
    s.applied = 4;
    s.digest = 0x1122334455667788ull;
    s.n_members = 2;
    s.members[0] = (struct wire_meta_member){1, 1, WB("a:1")};
    s.members[1] = (struct wire_meta_member){7, 0, {NULL, 0}};
    CHECK_OK(wire_meta_status_encode(&b, &s));
    check_bytes(&b, STATUS_HEX);
    struct wire_meta_status d;
    CHECK_OK(wire_meta_status_decode(b.data, b.len, &d));
    CHECK_EQ(d.role, RAFT_LEADER);
    CHECK_EQ_U64(d.digest, s.digest);
    CHECK_EQ(d.n_members, 2);
    CHECK_EQ_U64(d.members[1].id, 7);
    CHECK_EQ(d.members[1].voter, 0);
    CHECK_EQ(d.members[1].addr.len, 0);
    CHECK_MEM_EQ(d.members[0].addr.p, "a:1", 3);
    check_truncations(b.data, b.len, dec_status);
    buf_free(&b);
}

TEST(status_hostile)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_meta_status s;
    memset(&s, 0, sizeof s);
    s.role = 4;
    CHECK_EQ(wire_meta_status_encode(&b, &s), CAIRN_EINVAL);
    s.role = 0;
    s.n_members = 1; /* member id 0 */
    CHECK_EQ(wire_meta_status_encode(&b, &s), CAIRN_EINVAL);
    s.members[0].id = 1;
    s.members[0].voter = 2;
    CHECK_EQ(wire_meta_status_encode(&b, &s), CAIRN_EINVAL);
    s.members[0].voter = 1;
    char big[CAIRN_MEMBER_ADDR_MAX + 2];
    memset(big, 'a', sizeof big);
    s.members[0].addr = (struct wire_bytes){(const uint8_t *)big, CAIRN_MEMBER_ADDR_MAX + 1};
    CHECK_EQ(wire_meta_status_encode(&b, &s), CAIRN_TOOBIG);
    CHECK_EQ(b.len, 0);
    const char *head = "0100000000000000 | %s | 0200000000000000 | 0100000000000000 | 0000 |"
                       " 0500000000000000 0400000000000000 0000000000000000 8877665544332211 | %s";
    char hex[1024];
    /* role 4 */
    snprintf(hex, sizeof hex, head, "04", "00000000");
    check_hex_decode(hex, dec_status, CAIRN_BADMSG);
    /* 17 members announced (> CAIRN_RAFT_NODES_MAX), and 2 with no bytes */
    snprintf(hex, sizeof hex, head, "01", "11000000");
    check_hex_decode(hex, dec_status, CAIRN_BADMSG);
    snprintf(hex, sizeof hex, head, "01", "02000000");
    check_hex_decode(hex, dec_status, CAIRN_TRUNCATED);
    /* a member with id 0, and one with voter 2 */
    snprintf(hex, sizeof hex, head, "01", "01000000 0000000000000000 01 0000");
    check_hex_decode(hex, dec_status, CAIRN_BADMSG);
    snprintf(hex, sizeof hex, head, "01", "01000000 0100000000000000 02 0000");
    check_hex_decode(hex, dec_status, CAIRN_BADMSG);
    /* an address over CAIRN_MEMBER_ADDR_MAX (65 bytes announced) */
    snprintf(hex, sizeof hex, head, "01", "01000000 0100000000000000 01 4100");
    check_hex_decode(hex, dec_status, CAIRN_BADMSG);
    buf_free(&b);
}

TEST(member_and_u64_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_meta_member_req m = {RAFT_CONF_ADD_LEARNER, 4, WB("h:9")};
    CHECK_OK(wire_meta_member_encode(&b, &m));
    check_bytes(&b, "01 | 0400000000000000 | 0300 683a39");
    struct wire_meta_member_req d;
    CHECK_OK(wire_meta_member_decode(b.data, b.len, &d));
    CHECK_EQ(d.op, RAFT_CONF_ADD_LEARNER);
    CHECK_EQ_U64(d.node, 4);
    CHECK_MEM_EQ(d.addr.p, "h:9", 3);
    check_truncations(b.data, b.len, dec_member);
    check_hex_decode("03 0400000000000000 0000", dec_member, CAIRN_BADMSG); /* op 3 */
    check_hex_decode("02 0000000000000000 0000", dec_member, CAIRN_BADMSG); /* node 0 */
    check_hex_decode("02 0400000000000000 0000", dec_member, 0);            /* remove, no addr */
    m.op = 3;
    buf_reset(&b);
    CHECK_EQ(wire_meta_member_encode(&b, &m), CAIRN_EINVAL);
    m.op = 0;
    m.node = 0;
    CHECK_EQ(wire_meta_member_encode(&b, &m), CAIRN_EINVAL);
    CHECK_EQ(b.len, 0);

    CHECK_OK(wire_meta_u64_encode(&b, 42));
    check_bytes(&b, "2a00000000000000");
    uint64_t v;
    CHECK_OK(wire_meta_u64_decode(b.data, b.len, &v));
    CHECK_EQ_U64(v, 42);
    check_truncations(b.data, b.len, dec_u64);
    buf_free(&b);
}

TEST(snap_chunk_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_snap_chunk c = {7, 0, 5, 0, WB("ab"), WB("H")};
    CHECK_OK(wire_snap_chunk_encode(&b, &c));
    check_bytes(&b, "0700000000000000 0000000000000000 0500000000000000 00 | 02000000 6162 |"
                    " 01000000 48");
    struct wire_snap_chunk d;
    CHECK_OK(wire_snap_chunk_decode(b.data, b.len, &d));
    CHECK_EQ_U64(d.transfer_id, 7);
    CHECK_EQ(d.piece.len, 2);
    CHECK_EQ(d.header.len, 1);
    check_truncations(b.data, b.len, dec_chunk);

    buf_reset(&b);
    struct wire_snap_chunk last = {7, 2, 5, 1, WB("cde"), {NULL, 0}};
    CHECK_OK(wire_snap_chunk_encode(&b, &last));
    check_bytes(&b, "0700000000000000 0200000000000000 0500000000000000 01 | 03000000 636465");
    CHECK_OK(wire_snap_chunk_decode(b.data, b.len, &d));
    CHECK_EQ(d.last, 1);
    CHECK(d.header.p == NULL && d.header.len == 0);
    check_truncations(b.data, b.len, dec_chunk);
    buf_free(&b);
}

TEST(snap_chunk_shape_rules)
{
    const char *t = "0700000000000000 ";
    char hex[512];
    struct {
        const char *rest;
        int code;
    } cases[] = {
        /* last=1 but the piece does not reach total_len */
        {"0000000000000000 0500000000000000 01 02000000 6162 01000000 48", CAIRN_BADMSG},
        /* last=0 but the piece reaches total_len */
        {"0300000000000000 0500000000000000 00 02000000 6465", CAIRN_BADMSG},
        /* piece past total_len */
        {"0400000000000000 0500000000000000 01 02000000 6465", CAIRN_BADMSG},
        /* empty piece */
        {"0200000000000000 0500000000000000 00 00000000", CAIRN_BADMSG},
        /* total_len 0 */
        {"0000000000000000 0000000000000000 01 00000000 01000000 48", CAIRN_BADMSG},
        /* first piece without a header */
        {"0000000000000000 0500000000000000 00 02000000 6162 00000000", CAIRN_BADMSG},
        /* a header on a later piece is a trailing field */
        {"0300000000000000 0500000000000000 01 02000000 6465 01000000 48", CAIRN_BADMSG},
        /* total_len above CAIRN_SNAPSHOT_BYTES_MAX (16 GiB + 1) */
        {"0000000000000000 0100000004000000 00 02000000 6162 01000000 48", CAIRN_BADMSG},
        /* a well-formed middle piece */
        {"0200000000000000 0500000000000000 00 01000000 63", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(hex, sizeof hex, "%s%s", t, cases[i].rest);
        check_hex_decode(hex, dec_chunk, cases[i].code);
    }
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_snap_chunk c = {7, 0, 5, 1, WB("ab"), WB("H")};
    CHECK_EQ(wire_snap_chunk_encode(&b, &c), CAIRN_EINVAL);
    c.last = 0;
    c.header = (struct wire_bytes){NULL, 0};
    CHECK_EQ(wire_snap_chunk_encode(&b, &c), CAIRN_EINVAL);
    CHECK_EQ(b.len, 0);
    buf_free(&b);
}

/* Random statuses and chunks: decode(encode(x)) re-encodes to the same bytes. */
TEST(random_round_trips)
{
    struct prng *r = test_rng();
    struct cairn_buf b, b2;
    buf_init(&b, 0);
    buf_init(&b2, 0);
    char addrs[CAIRN_RAFT_NODES_MAX][CAIRN_MEMBER_ADDR_MAX + 1];
    for (int round = 0; round < 500; round++) {
        struct wire_meta_status s;
        memset(&s, 0, sizeof s);
        s.id = prng_next(r);
        s.role = (uint8_t)prng_below(r, 4);
        s.term = prng_next(r);
        s.commit = prng_next(r);
        s.digest = prng_next(r);
        s.n_members = (uint32_t)prng_below(r, CAIRN_RAFT_NODES_MAX + 1);
        for (uint32_t i = 0; i < s.n_members; i++) {
            size_t len = prng_below(r, CAIRN_MEMBER_ADDR_MAX + 1);
            prng_fill(r, addrs[i], len);
            s.members[i] =
                (struct wire_meta_member){prng_range(r, 1, UINT64_MAX),
                                          (uint8_t)prng_below(r, 2),
                                          {len ? (const uint8_t *)addrs[i] : NULL, (uint32_t)len}};
        }
        buf_reset(&b);
        buf_reset(&b2);
        CHECK_OK(wire_meta_status_encode(&b, &s));
        struct wire_meta_status d;
        CHECK_OK(wire_meta_status_decode(b.data, b.len, &d));
        CHECK_OK(wire_meta_status_encode(&b2, &d));
        CHECK_EQ(b.len, b2.len);
        CHECK_MEM_EQ(b.data, b2.data, b.len);
    }
    buf_free(&b);
    buf_free(&b2);
}
