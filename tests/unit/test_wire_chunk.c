/* test_wire_chunk.c: golden vectors, round trips and hostile inputs for the
 * chunk-server messages of src/wire/msg_chunk.h (WIRE_CHUNK_*). The expected
 * bytes are written out by hand from the layouts in wire.h, never produced by
 * the encoder under test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/buf.h"
#include "common/prng.h"
#include "test.h"
#include "wire/msg_chunk.h"

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

union any_msg {
    struct wire_chunk_register reg;
    struct wire_chunk_register_reply regr;
    struct wire_chunk_heartbeat hb;
    struct wire_chunk_hb_reply hbr;
    struct wire_chunk_report rep;
    struct wire_chunk_write w;
    struct wire_chunk_write_reply wr;
    struct wire_chunk_read r;
    struct wire_chunk_read_reply rr;
    struct wire_chunk_status st;
    struct wire_chunk_drain dr;
    uint32_t u32;
};

/* Every strict prefix is CAIRN_TRUNCATED; one trailing byte CAIRN_BADMSG.
 * Copies keep ASan watching the exact bounds of each prefix. */
static void check_truncations(const uint8_t *p, size_t n, decode_fn dec)
{
    static union any_msg out;
    for (size_t k = 0; k < n; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, p, k);
        CHECKF(dec(cut, k, &out) == CAIRN_TRUNCATED, "prefix of %zu/%zu bytes accepted", k, n);
        free(cut);
    }
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, p, n);
    longer[n] = 0;
    CHECK_EQ(dec(longer, n + 1, &out), CAIRN_BADMSG);
    CHECK_OK(dec(longer, n, &out));
    free(longer);
}

static void check_hex_decode(const char *hex, decode_fn dec, int code)
{
    static union any_msg out;
    size_t n;
    uint8_t *p = unhex(hex, &n);
    CHECKF(dec(p, n, &out) == code, "\"%s\" did not decode to %s", hex, cairn_err_name(code));
    free(p);
}

#define DEC(fn, type)                                        \
    static int dec_##fn(const uint8_t *p, size_t n, void *o) \
    {                                                        \
        return wire_chunk_##fn##_decode(p, n, (type *)o);    \
    }
DEC(register, struct wire_chunk_register)
DEC(register_reply, struct wire_chunk_register_reply)
DEC(heartbeat, struct wire_chunk_heartbeat)
DEC(hb_reply, struct wire_chunk_hb_reply)
DEC(report, struct wire_chunk_report)
DEC(write, struct wire_chunk_write)
DEC(write_reply, struct wire_chunk_write_reply)
DEC(read, struct wire_chunk_read)
DEC(read_reply, struct wire_chunk_read_reply)
DEC(status, struct wire_chunk_status)
DEC(drain, struct wire_chunk_drain)
DEC(u32, uint32_t)

#define WB(s) ((struct wire_bytes){(const uint8_t *)(s), (uint32_t)strlen(s)})

TEST(register_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_chunk_register m = {5, WB("h:1"), WB("r1"), 0x100, 0x20};
    CHECK_OK(wire_chunk_register_encode(&b, &m));
    const char *hex = "05000000 | 0300 683a31 | 0200 7231 | 0001000000000000 | 2000000000000000";
    check_bytes(&b, hex);
    struct wire_chunk_register d;
    CHECK_OK(wire_chunk_register_decode(b.data, b.len, &d));
    CHECK_EQ(d.node, 5);
    CHECK_MEM_EQ(d.addr.p, "h:1", 3);
    CHECK_MEM_EQ(d.label.p, "r1", 2);
    CHECK_EQ_U64(d.capacity, 0x100);
    CHECK_EQ_U64(d.used, 0x20);
    check_truncations(b.data, b.len, dec_register);
    /* empty address: refused both ways; empty label is fine */
    m.addr = WB("");
    buf_reset(&b);
    CHECK_EQ(wire_chunk_register_encode(&b, &m), CAIRN_EINVAL);
    CHECK_EQ(b.len, 0);
    check_hex_decode("05000000 0000 0000 0000000000000000 0000000000000000", dec_register,
                     CAIRN_BADMSG);
    check_hex_decode("00000000 0100 61 0000 0000000000000000 0000000000000000", dec_register, 0);
    /* a label over CAIRN_NODE_LABEL_MAX (65 announced) */
    check_hex_decode("00000000 0100 61 4100", dec_register, CAIRN_BADMSG);

    buf_reset(&b);
    struct wire_chunk_register_reply r = {5, 500, 3000};
    CHECK_OK(wire_chunk_register_reply_encode(&b, &r));
    check_bytes(&b, "05000000 f4010000 b80b0000");
    struct wire_chunk_register_reply rd;
    CHECK_OK(wire_chunk_register_reply_decode(b.data, b.len, &rd));
    CHECK_EQ(rd.heartbeat_ms, 500);
    CHECK_EQ(rd.dead_ms, 3000);
    check_truncations(b.data, b.len, dec_register_reply);
    check_hex_decode("00000000 f4010000 b80b0000", dec_register_reply, CAIRN_BADMSG);
    buf_free(&b);
}

static const char *HB_HEX = "02000000 | 0100000000000000 | 0000000000000000 |"
                            " 02000000 | 0700000000000000 00000000 | 0100000000000080 07fcffff |"
                            " 01000000 | 0900000000000000 0300000000000000 17fcffff";

TEST(heartbeat_golden)
{
    struct cairn_buf b, again;
    buf_init(&b, 0);
    buf_init(&again, 0);
    struct wire_chunk_ack acks[2] = {{7, 0}, {WIRE_CHUNK_CMD_SOFT | 1, CAIRN_STALEVERSION}};
    struct wire_chunk_bad bad[1] = {{9, 3, CAIRN_CORRUPT}};
    struct wire_chunk_heartbeat m = {
        .node = 2, .capacity = 1, .n_acks = 2, .acks = acks, .n_bad = 1, .bad = bad};
    CHECK_OK(wire_chunk_heartbeat_encode(&b, &m));
    check_bytes(&b, HB_HEX);
    struct wire_chunk_heartbeat d;
    CHECK_OK(wire_chunk_heartbeat_decode(b.data, b.len, &d));
    CHECK_EQ(d.n_acks, 2);
    CHECK_EQ_U64(wire_chunk_hb_ack(&d, 1).id, WIRE_CHUNK_CMD_SOFT | 1);
    CHECK_EQ(wire_chunk_hb_ack(&d, 1).status, CAIRN_STALEVERSION);
    CHECK_EQ(d.n_bad, 1);
    CHECK_EQ_U64(wire_chunk_hb_bad(&d, 0).version, 3);
    CHECK_EQ(wire_chunk_hb_bad(&d, 0).err, CAIRN_CORRUPT);
    /* a decoded message re-encodes to the same bytes */
    CHECK_OK(wire_chunk_heartbeat_encode(&again, &d));
    CHECK_EQ(again.len, b.len);
    CHECK_MEM_EQ(again.data, b.data, b.len);
    check_truncations(b.data, b.len, dec_heartbeat);
    /* node 0; a positive ack status; a bad version with err 0; 1025 acks */
    const char *tail = "0100000000000000 0000000000000000 00000000 00000000";
    char hex[512];
    snprintf(hex, sizeof hex, "00000000 %s", tail);
    check_hex_decode(hex, dec_heartbeat, CAIRN_BADMSG);
    check_hex_decode("02000000 0100000000000000 0000000000000000 01000000 0700000000000000 "
                     "01000000 00000000",
                     dec_heartbeat, CAIRN_BADMSG);
    check_hex_decode("02000000 0100000000000000 0000000000000000 00000000 01000000 "
                     "0900000000000000 0300000000000000 00000000",
                     dec_heartbeat, CAIRN_BADMSG);
    check_hex_decode("02000000 0100000000000000 0000000000000000 01040000", dec_heartbeat,
                     CAIRN_BADMSG);
    check_hex_decode("02000000 0100000000000000 0000000000000000 02000000 0700000000000000",
                     dec_heartbeat, CAIRN_TRUNCATED);
    buf_reset(&b);
    acks[0].status = 1;
    CHECK_EQ(wire_chunk_heartbeat_encode(&b, &m), CAIRN_EINVAL);
    CHECK_EQ(b.len, 0);
    buf_free(&b);
    buf_free(&again);
}

static const char *HBR_HEX =
    "01 | 02000000 |"
    " 0300000000000000 01 0900000000000000 0200000000000000 00000000 0000 |"
    " 0500000000000080 05 0900000000000000 0200000000000000 10000000 0300 613a32";

TEST(heartbeat_reply_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_chunk_hb_reply_enc e;
    wire_chunk_hb_reply_begin(&e, &b, WIRE_CHUNK_HB_REPORT);
    struct wire_chunk_cmd c1 = {3, WIRE_CHUNK_CMD_COMMIT, 9, 2, 0, {NULL, 0}};
    struct wire_chunk_cmd c2 = {
        WIRE_CHUNK_CMD_SOFT | 5, WIRE_CHUNK_CMD_REPLICATE, 9, 2, 16, WB("a:2")};
    wire_chunk_hb_reply_add(&e, &c1);
    wire_chunk_hb_reply_add(&e, &c2);
    CHECK_OK(wire_chunk_hb_reply_end(&e));
    check_bytes(&b, HBR_HEX);
    struct wire_chunk_hb_reply d;
    CHECK_OK(wire_chunk_hb_reply_decode(b.data, b.len, &d));
    CHECK_EQ(d.flags, WIRE_CHUNK_HB_REPORT);
    CHECK_EQ(d.n, 2);
    struct wire_chunk_cmd c;
    size_t off = 0;
    CHECK(wire_chunk_hb_reply_next(&d, &off, &c));
    CHECK_EQ_U64(c.id, 3);
    CHECK_EQ(c.kind, WIRE_CHUNK_CMD_COMMIT);
    CHECK_EQ(c.source.len, 0);
    CHECK(wire_chunk_hb_reply_next(&d, &off, &c));
    CHECK_EQ(c.kind, WIRE_CHUNK_CMD_REPLICATE);
    CHECK_EQ(c.length, 16);
    CHECK_MEM_EQ(c.source.p, "a:2", 3);
    CHECK(!wire_chunk_hb_reply_next(&d, &off, &c));
    check_truncations(b.data, b.len, dec_hb_reply);
    /* empty reply */
    buf_reset(&b);
    wire_chunk_hb_reply_begin(&e, &b, 0);
    CHECK_OK(wire_chunk_hb_reply_end(&e));
    check_bytes(&b, "00 00000000");
    /* the builder refuses a bad command, and leaves the buffer as it was */
    buf_reset(&b);
    wire_chunk_hb_reply_begin(&e, &b, 0);
    c1.source = WB("x:1"); /* COMMIT with a source */
    wire_chunk_hb_reply_add(&e, &c1);
    CHECK_EQ(wire_chunk_hb_reply_end(&e), CAIRN_EINVAL);
    CHECK_EQ(b.len, 0);
    /* hostile: unknown kind 6, REPLICATE without source, flags 2, 1025 commands */
    const char *cmd_tail = "0900000000000000 0200000000000000 00000000 0000";
    char hex[512];
    snprintf(hex, sizeof hex, "00 01000000 0300000000000000 06 %s", cmd_tail);
    check_hex_decode(hex, dec_hb_reply, CAIRN_BADMSG);
    snprintf(hex, sizeof hex, "00 01000000 0300000000000000 05 %s", cmd_tail);
    check_hex_decode(hex, dec_hb_reply, CAIRN_BADMSG);
    snprintf(hex, sizeof hex, "02 01000000 0300000000000000 01 %s", cmd_tail);
    check_hex_decode(hex, dec_hb_reply, CAIRN_BADMSG);
    check_hex_decode("00 01040000", dec_hb_reply, CAIRN_BADMSG);
    check_hex_decode("00 02000000 0300000000000000", dec_hb_reply, CAIRN_TRUNCATED);
    buf_free(&b);
}

TEST(report_golden)
{
    struct cairn_buf b, again;
    buf_init(&b, 0);
    buf_init(&again, 0);
    struct wire_chunk_entry e[2] = {{1, 1, 5, 0}, {1, 2, 0, 1}};
    struct wire_chunk_report m = {2, WIRE_CHUNK_REPORT_FIRST | WIRE_CHUNK_REPORT_LAST, 2, e, NULL};
    CHECK_OK(wire_chunk_report_encode(&b, &m));
    check_bytes(&b, "02000000 | 03 | 02000000 | 0100000000000000 0100000000000000 05000000 00 |"
                    " 0100000000000000 0200000000000000 00000000 01");
    struct wire_chunk_report d;
    CHECK_OK(wire_chunk_report_decode(b.data, b.len, &d));
    CHECK_EQ(d.n, 2);
    CHECK_EQ(wire_chunk_report_entry(&d, 0).length, 5);
    CHECK_EQ(wire_chunk_report_entry(&d, 1).staged, 1);
    CHECK_OK(wire_chunk_report_encode(&again, &d));
    CHECK_MEM_EQ(again.data, b.data, b.len);
    check_truncations(b.data, b.len, dec_report);
    /* unsorted, staged 2, version 0, flags 4, too many entries */
    const char *h = "02000000 00 02000000 ";
    char hex[512];
    snprintf(hex, sizeof hex,
             "%s0100000000000000 0200000000000000 00000000 00 "
             "0100000000000000 0100000000000000 00000000 00",
             h);
    check_hex_decode(hex, dec_report, CAIRN_BADMSG);
    check_hex_decode("02000000 00 01000000 0100000000000000 0100000000000000 00000000 02",
                     dec_report, CAIRN_BADMSG);
    check_hex_decode("02000000 00 01000000 0100000000000000 0000000000000000 00000000 00",
                     dec_report, CAIRN_BADMSG);
    check_hex_decode("02000000 04 00000000", dec_report, CAIRN_BADMSG);
    check_hex_decode("02000000 00 01800000", dec_report, CAIRN_BADMSG);
    check_hex_decode("02000000 00 00000000", dec_report, 0); /* an empty piece */
    e[1].version = 1;                                        /* duplicate (1, 1) */
    buf_reset(&b);
    CHECK_EQ(wire_chunk_report_encode(&b, &m), CAIRN_EINVAL);

    buf_reset(&b);
    CHECK_OK(wire_chunk_u32_encode(&b, 7));
    check_bytes(&b, "07000000");
    check_truncations(b.data, b.len, dec_u32);
    buf_free(&b);
    buf_free(&again);
}

TEST(write_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_chunk_write m;
    memset(&m, 0, sizeof m);
    m.chunk = 9;
    m.version = 2;
    m.base_version = 1;
    m.base_length = 0x2000;
    m.offset = 0x10000;
    m.flags = WIRE_CHUNK_WRITE_FLUSH;
    m.n_chain = 1;
    m.chain[0] = WB("b:2");
    m.data = WB("xyz");
    CHECK_OK(wire_chunk_write_encode(&b, &m));
    const char *hex = "0900000000000000 0200000000000000 0100000000000000 | 00200000 |"
                      " 0000010000000000 | 01 |"
                      " 0000000000000000 | 01 0300 623a32 | 03000000 78797a";
    check_bytes(&b, hex);
    struct wire_chunk_write d;
    CHECK_OK(wire_chunk_write_decode(b.data, b.len, &d));
    CHECK_EQ_U64(d.offset, 0x10000);
    CHECK_EQ(d.base_length, 0x2000);
    CHECK_EQ(d.n_chain, 1);
    CHECK_MEM_EQ(d.chain[0].p, "b:2", 3);
    CHECK_MEM_EQ(d.data.p, "xyz", 3);
    check_truncations(b.data, b.len, dec_write);
    /* a flush without data is a valid piece */
    check_hex_decode(
        "0900000000000000 0200000000000000 0000000000000000 00000000 0000000000000000 01 "
        "0000000000000000 00 00000000",
        dec_write, 0);
    /* ... but not without the flag */
    check_hex_decode(
        "0900000000000000 0200000000000000 0000000000000000 00000000 0000000000000000 00 "
        "0000000000000000 00 00000000",
        dec_write, CAIRN_BADMSG);
    /* base not older than the version */
    check_hex_decode(
        "0900000000000000 0200000000000000 0200000000000000 00000000 0000000000000000 01 "
        "0000000000000000 00 00000000",
        dec_write, CAIRN_BADMSG);
    /* 9 chain entries (> CAIRN_GOAL_MAX - 1) */
    check_hex_decode(
        "0900000000000000 0200000000000000 0000000000000000 00000000 0000000000000000 01 "
        "0000000000000000 09",
        dec_write, CAIRN_BADMSG);
    /* past the end of a chunk: offset 64 MiB - 1, 2 bytes */
    check_hex_decode(
        "0900000000000000 0200000000000000 0000000000000000 00000000 ffffff0300000000 00 "
        "0000000000000000 00 02000000 6161",
        dec_write, CAIRN_BADMSG);
    /* data over CAIRN_CHUNK_IO_MAX announced */
    check_hex_decode(
        "0900000000000000 0200000000000000 0000000000000000 00000000 0000000000000000 00 "
        "0000000000000000 00 01001000",
        dec_write, CAIRN_BADMSG);
    /* an empty chain address */
    check_hex_decode(
        "0900000000000000 0200000000000000 0000000000000000 00000000 0000000000000000 01 "
        "0000000000000000 01 0000 00000000",
        dec_write, CAIRN_BADMSG);
    /* a base length without a base, and one past a chunk */
    check_hex_decode("0900000000000000 0200000000000000 0000000000000000 01000000 "
                     "0000000000000000 01 0000000000000000 00 00000000",
                     dec_write, CAIRN_BADMSG);
    check_hex_decode("0900000000000000 0200000000000000 0100000000000000 01000004 "
                     "0000000000000000 01 0000000000000000 00 00000000",
                     dec_write, CAIRN_BADMSG);
    m.offset = CAIRN_CHUNK_SIZE - 1;
    buf_reset(&b);
    CHECK_EQ(wire_chunk_write_encode(&b, &m), CAIRN_EFBIG);
    CHECK_EQ(b.len, 0);

    struct wire_chunk_write_reply r = {2, {0, CAIRN_UNAVAILABLE}};
    CHECK_OK(wire_chunk_write_reply_encode(&b, &r));
    check_bytes(&b, "02 00000000 05fcffff");
    struct wire_chunk_write_reply rd;
    CHECK_OK(wire_chunk_write_reply_decode(b.data, b.len, &rd));
    CHECK_EQ(rd.status[1], CAIRN_UNAVAILABLE);
    check_truncations(b.data, b.len, dec_write_reply);
    check_hex_decode("00", dec_write_reply, CAIRN_BADMSG);
    check_hex_decode("0a", dec_write_reply, CAIRN_BADMSG);
    check_hex_decode("01 01000000", dec_write_reply, CAIRN_BADMSG);
    buf_free(&b);
}

TEST(read_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_chunk_read m = {9, 2, 0x100, 0x1000, 0};
    CHECK_OK(wire_chunk_read_encode(&b, &m));
    check_bytes(&b, "0900000000000000 0200000000000000 0001000000000000 00100000 00");
    check_truncations(b.data, b.len, dec_read);
    check_hex_decode("0900000000000000 0200000000000000 0000000000000000 00000000 00", dec_read,
                     CAIRN_BADMSG); /* len 0 */
    check_hex_decode("0900000000000000 0200000000000000 0000000000000000 01001000 00", dec_read,
                     CAIRN_BADMSG); /* 1 MiB + 1 */
    check_hex_decode("0900000000000000 0200000000000000 0000000400000000 01000000 00", dec_read,
                     CAIRN_BADMSG); /* offset 64 MiB */
    check_hex_decode("0900000000000000 0200000000000000 0000000000000000 01000000 02", dec_read,
                     CAIRN_BADMSG); /* unknown flag */
    check_hex_decode("0900000000000000 0000000000000000 0000000000000000 01000000 00", dec_read,
                     CAIRN_BADMSG); /* version 0 */

    buf_reset(&b);
    struct wire_chunk_read_reply r = {3, WB("abc")};
    CHECK_OK(wire_chunk_read_reply_encode(&b, &r));
    check_bytes(&b, "0300000000000000 03000000 616263");
    CHECK_EQ(WIRE_CHUNK_READ_REPLY_HDR, 12);
    struct wire_chunk_read_reply rd;
    CHECK_OK(wire_chunk_read_reply_decode(b.data, b.len, &rd));
    CHECK_EQ_U64(rd.length, 3);
    check_truncations(b.data, b.len, dec_read_reply);
    check_hex_decode("0000000500000000 00000000", dec_read_reply, CAIRN_BADMSG); /* 80 MiB */
    buf_free(&b);
}

TEST(status_and_drain_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_chunk_status s = {1, WB("a:1"), {NULL, 0}, 1, WB("m:1"), 10, 2, 3,
                                  0, 4,         5,         6, 7,         8,  9, 10};
    CHECK_OK(wire_chunk_status_encode(&b, &s));
    check_bytes(&b, "01000000 | 0300 613a31 | 0000 | 01 | 0300 6d3a31 |"
                    " 0a00000000000000 0200000000000000 0300000000000000 0000000000000000"
                    " 0400000000000000 0500000000000000 0600000000000000 0700000000000000"
                    " 0800000000000000 0900000000000000 0a00000000000000");
    struct wire_chunk_status d;
    CHECK_OK(wire_chunk_status_decode(b.data, b.len, &d));
    CHECK_EQ_U64(d.reads, 10);
    CHECK_EQ_U64(d.scrub_bytes, 7);
    CHECK_MEM_EQ(d.leader.p, "m:1", 3);
    check_truncations(b.data, b.len, dec_status);
    s.registered = 2;
    buf_reset(&b);
    CHECK_EQ(wire_chunk_status_encode(&b, &s), CAIRN_EINVAL);

    struct wire_chunk_drain m = {3, 1};
    CHECK_OK(wire_chunk_drain_encode(&b, &m));
    check_bytes(&b, "03000000 01");
    check_truncations(b.data, b.len, dec_drain);
    check_hex_decode("00000000 01", dec_drain, CAIRN_BADMSG);
    check_hex_decode("03000000 02", dec_drain, CAIRN_BADMSG);
    buf_free(&b);
}

/* Random valid messages: decode(encode(m)) re-encodes to the same bytes. */
static void rand_addr(struct prng *r, char *buf, size_t cap)
{
    size_t n = 1 + prng_below(r, cap - 1);
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + prng_below(r, 26));
    buf[n] = 0;
}

TEST(random_round_trips)
{
    struct prng *r = test_rng();
    struct cairn_buf b, again;
    buf_init(&b, 0);
    buf_init(&again, 0);
    static uint8_t data[4096];
    prng_fill(r, data, sizeof data);
    for (int iter = 0; iter < 2000; iter++) {
        buf_reset(&b);
        buf_reset(&again);
        char addrs[CAIRN_GOAL_MAX][40];
        struct wire_chunk_write w;
        memset(&w, 0, sizeof w);
        w.chunk = 1 + prng_below(r, UINT64_MAX - 1);
        w.version = 1 + prng_below(r, 1000);
        w.base_version = prng_below(r, w.version);
        w.base_length = w.base_version ? (uint32_t)prng_below(r, CAIRN_CHUNK_SIZE + 1) : 0;
        w.flags = (uint8_t)prng_below(r, 2);
        w.token = prng_next(r);
        w.n_chain = (uint8_t)prng_below(r, CAIRN_GOAL_MAX);
        for (uint8_t i = 0; i < w.n_chain; i++) {
            rand_addr(r, addrs[i], sizeof addrs[i]);
            w.chain[i] = WB(addrs[i]);
        }
        uint32_t len = (uint32_t)prng_below(r, sizeof data + 1);
        if (len == 0)
            w.flags = WIRE_CHUNK_WRITE_FLUSH;
        w.data = (struct wire_bytes){len ? data : NULL, len};
        w.offset = prng_below(r, CAIRN_CHUNK_SIZE - len + 1);
        CHECK_OK(wire_chunk_write_encode(&b, &w));
        struct wire_chunk_write d;
        CHECK_OK(wire_chunk_write_decode(b.data, b.len, &d));
        CHECK_OK(wire_chunk_write_encode(&again, &d));
        CHECK_EQ(again.len, b.len);
        CHECK_MEM_EQ(again.data, b.data, b.len);

        buf_reset(&b);
        buf_reset(&again);
        struct wire_chunk_hb_reply_enc e;
        wire_chunk_hb_reply_begin(&e, &b, (uint8_t)prng_below(r, 2));
        uint32_t n = (uint32_t)prng_below(r, 8);
        for (uint32_t i = 0; i < n; i++) {
            struct wire_chunk_cmd c = {prng_next(r),
                                       (uint8_t)(1 + prng_below(r, 5)),
                                       1 + prng_below(r, 1000),
                                       1 + prng_below(r, 1000),
                                       (uint32_t)prng_below(r, CAIRN_CHUNK_SIZE + 1),
                                       {NULL, 0}};
            if (c.kind == WIRE_CHUNK_CMD_REPLICATE) {
                rand_addr(r, addrs[0], sizeof addrs[0]);
                c.source = WB(addrs[0]);
            }
            wire_chunk_hb_reply_add(&e, &c);
        }
        CHECK_OK(wire_chunk_hb_reply_end(&e));
        struct wire_chunk_hb_reply hd;
        CHECK_OK(wire_chunk_hb_reply_decode(b.data, b.len, &hd));
        CHECK_EQ(hd.n, n);
        struct wire_chunk_hb_reply_enc e2;
        wire_chunk_hb_reply_begin(&e2, &again, hd.flags);
        struct wire_chunk_cmd c;
        for (size_t off = 0; wire_chunk_hb_reply_next(&hd, &off, &c);)
            wire_chunk_hb_reply_add(&e2, &c);
        CHECK_OK(wire_chunk_hb_reply_end(&e2));
        CHECK_EQ(again.len, b.len);
        CHECK_MEM_EQ(again.data, b.data, b.len);
    }
    buf_free(&b);
    buf_free(&again);
}

/* Random bytes never crash a decoder, and whatever decodes re-encodes to
 * the same bytes (the decoders are canonical). */
TEST(random_bytes)
{
    struct prng *r = test_rng();
    static uint8_t p[256];
    static union any_msg m;
    struct cairn_buf b;
    buf_init(&b, 0);
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = prng_below(r, sizeof p);
        prng_fill(r, p, n);
        if (wire_chunk_register_decode(p, n, &m.reg) == 0) {
            buf_reset(&b);
            CHECK_OK(wire_chunk_register_encode(&b, &m.reg));
            CHECK_MEM_EQ(b.data, p, n);
        }
        if (wire_chunk_heartbeat_decode(p, n, &m.hb) == 0) {
            buf_reset(&b);
            CHECK_OK(wire_chunk_heartbeat_encode(&b, &m.hb));
            CHECK_MEM_EQ(b.data, p, n);
        }
        wire_chunk_hb_reply_decode(p, n, &m.hbr);
        wire_chunk_report_decode(p, n, &m.rep);
        if (wire_chunk_write_decode(p, n, &m.w) == 0) {
            buf_reset(&b);
            CHECK_OK(wire_chunk_write_encode(&b, &m.w));
            CHECK_MEM_EQ(b.data, p, n);
        }
        wire_chunk_write_reply_decode(p, n, &m.wr);
        wire_chunk_read_decode(p, n, &m.r);
        wire_chunk_read_reply_decode(p, n, &m.rr);
        wire_chunk_status_decode(p, n, &m.st);
    }
    buf_free(&b);
}
