/*
 * test_wire.c: unit and golden tests of src/wire: the codec, the frame, and
 * the WIRE_RAFT message (msg_raft.h).
 *
 * Golden vectors are written out in hex, field by field, from the layouts of
 * frame.h and wire.h, and compared byte for byte with what the encoders
 * produce; then decoded back. (The connection-layer messages of msg_rpc.h
 * have their golden tests in test_wire_rpc.c.) The fuzz target's seed corpus
 * (tests/fuzz/corpus/fuzz_wire) is generated from the same vectors by
 * fuzz_corpus_current; CAIRN_REWRITE_CORPUS=1 rewrites it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/limits.h"
#include "test.h"
#include "wire/codec.h"
#include "wire/frame.h"
#include "wire/msg_raft.h"
#include "wire/msg_rpc.h"
#include "wire/wire.h"

/* ------------------------------------------------------------------------
 * helpers */

/* Parse hex (spaces and '|' ignored) into a malloc'd buffer. */
static uint8_t *hex_bytes(const char *hex, size_t *len)
{
    size_t cap = strlen(hex) / 2 + 1, n = 0;
    uint8_t *out = malloc(cap);
    CHECK(out != NULL);
    int hi = -1;
    for (const char *c = hex; *c; c++) {
        int v;
        if (*c >= '0' && *c <= '9')
            v = *c - '0';
        else if (*c >= 'a' && *c <= 'f')
            v = *c - 'a' + 10;
        else if (*c == ' ' || *c == '|')
            continue;
        else
            test_fail(__FILE__, __LINE__, "bad hex character '%c'", *c);
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    CHECK(hi < 0);
    *len = n;
    return out;
}

/* Compare p[0..n) with the hex vector; on a mismatch print both in hex. */
static void check_golden(const uint8_t *p, size_t n, const char *hex)
{
    size_t want_len;
    uint8_t *want = hex_bytes(hex, &want_len);
    if (n != want_len || memcmp(p, want, n) != 0) {
        fprintf(stderr, "got  (%zu bytes): ", n);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "%02x", p[i]);
        fprintf(stderr, "\nwant (%zu bytes): ", want_len);
        for (size_t i = 0; i < want_len; i++)
            fprintf(stderr, "%02x", want[i]);
        fprintf(stderr, "\n");
        test_fail(__FILE__, __LINE__, "golden vector mismatch");
    }
    free(want);
}

static int entry_eq(const struct raft_entry *a, const struct raft_entry *b)
{
    return a->term == b->term && a->index == b->index && a->type == b->type && a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static int snapshot_eq(const struct raft_snapshot *a, const struct raft_snapshot *b)
{
    if (!a || !b)
        return a == b;
    const struct raft_conf *ca = &a->meta.conf, *cb = &b->meta.conf;
    if (a->meta.index != b->meta.index || a->meta.term != b->meta.term ||
        ca->n_voters != cb->n_voters || ca->n_learners != cb->n_learners || a->len != b->len)
        return 0;
    if (memcmp(ca->voters, cb->voters, ca->n_voters * sizeof ca->voters[0]) ||
        memcmp(ca->learners, cb->learners, ca->n_learners * sizeof ca->learners[0]))
        return 0;
    return a->len == 0 || memcmp(a->data, b->data, a->len) == 0;
}

/* Field-by-field equality of two messages (data compared by content). */
static int raft_msg_eq(const struct raft_msg *a, const struct raft_msg *b)
{
    if (a->type != b->type || a->from != b->from || a->to != b->to || a->term != b->term ||
        a->log_term != b->log_term || a->index != b->index || a->commit != b->commit ||
        a->context != b->context || a->reject != b->reject || a->reject_hint != b->reject_hint ||
        a->n_entries != b->n_entries)
        return 0;
    for (uint32_t i = 0; i < a->n_entries; i++)
        if (!entry_eq(&a->entries[i], &b->entries[i]))
            return 0;
    return snapshot_eq(a->snapshot, b->snapshot);
}

/* ------------------------------------------------------------------------
 * codec */

/* One of every field kind, with values whose bytes are all nonzero so that
 * a get returning zeros is told apart from a get returning data. */
static const uint8_t k_raw[3] = {0xa1, 0xa2, 0xa3};
static const char k_bytes[] = "payload";
static const char k_name[] = "file.txt";
static const char k_str[] = "10.0.0.1:7000";

static void put_all(struct wire_enc *e)
{
    wire_put_u8(e, 0xfe);
    wire_put_u16(e, 0xfedc);
    wire_put_u32(e, 0xfedcba98u);
    wire_put_u64(e, 0xfedcba9876543210ull);
    wire_put_raw(e, k_raw, sizeof k_raw);
    wire_put_bytes(e, k_bytes, strlen(k_bytes));
    wire_put_name(e, k_name, strlen(k_name));
    wire_put_str16(e, k_str, strlen(k_str));
}

TEST(codec_round_trip)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_enc e;
    wire_enc_init(&e, &b);
    put_all(&e);
    CHECK_OK(e.err);
    /* Little-endian, fields back to back, prefixes as codec.h says. */
    check_golden(b.data, b.len,
                 "fe | dcfe | 98badcfe | 1032547698badcfe | a1a2a3"
                 "| 07000000 7061796c6f6164 | 08 66696c652e747874"
                 "| 0d00 31302e302e302e313a37303030");

    struct wire_dec d;
    wire_dec_init(&d, b.data, b.len);
    CHECK_EQ(wire_get_u8(&d), 0xfe);
    CHECK_EQ(wire_get_u16(&d), 0xfedc);
    CHECK_EQ_U64(wire_get_u32(&d), 0xfedcba98u);
    CHECK_EQ_U64(wire_get_u64(&d), 0xfedcba9876543210ull);
    CHECK_MEM_EQ(wire_get_raw(&d, 3), k_raw, 3);
    struct wire_bytes x = wire_get_bytes(&d, 100);
    CHECK(x.len == strlen(k_bytes) && memcmp(x.p, k_bytes, x.len) == 0);
    x = wire_get_name(&d);
    CHECK(x.len == strlen(k_name) && memcmp(x.p, k_name, x.len) == 0);
    x = wire_get_str16(&d, 100);
    CHECK(x.len == strlen(k_str) && memcmp(x.p, k_str, x.len) == 0);
    CHECK_EQ(wire_dec_left(&d), 0);
    CHECK_OK(wire_dec_finish(&d));

    /* Extremes and random values of every integer width. */
    buf_reset(&b);
    uint64_t v[64];
    for (int i = 0; i < 64; i++)
        v[i] = i < 2 ? (i ? UINT64_MAX : 0) : prng_next(test_rng()) >> (i % 64);
    for (int i = 0; i < 64; i++) {
        wire_put_u8(&e, (uint8_t)v[i]);
        wire_put_u16(&e, (uint16_t)v[i]);
        wire_put_u32(&e, (uint32_t)v[i]);
        wire_put_u64(&e, v[i]);
    }
    CHECK_OK(e.err);
    CHECK_EQ(b.len, 64 * 15);
    wire_dec_init(&d, b.data, b.len);
    for (int i = 0; i < 64; i++) {
        CHECK_EQ(wire_get_u8(&d), (uint8_t)v[i]);
        CHECK_EQ(wire_get_u16(&d), (uint16_t)v[i]);
        CHECK_EQ_U64(wire_get_u32(&d), (uint32_t)v[i]);
        CHECK_EQ_U64(wire_get_u64(&d), v[i]);
    }
    CHECK_OK(wire_dec_finish(&d));

    /* Empty byte strings and raw reads of zero bytes are fine. */
    buf_reset(&b);
    wire_put_bytes(&e, NULL, 0);
    wire_put_str16(&e, NULL, 0);
    CHECK_OK(e.err);
    wire_dec_init(&d, b.data, b.len);
    CHECK(wire_get_raw(&d, 0) != NULL);
    CHECK_EQ(wire_get_bytes(&d, 0).len, 0);
    CHECK_EQ(wire_get_str16(&d, 0).len, 0);
    CHECK_OK(wire_dec_finish(&d));
    buf_free(&b);
}

enum get_kind { G_U8, G_U16, G_U32, G_U64, G_RAW, G_BYTES, G_NAME, G_STR16, G_KINDS };

/* Run one get of the given kind; return 1 if it returned anything other
 * than zeros / NULL. */
static int get_nonzero(struct wire_dec *d, enum get_kind k)
{
    struct wire_bytes x = {NULL, 0};
    switch (k) {
    case G_U8:
        return wire_get_u8(d) != 0;
    case G_U16:
        return wire_get_u16(d) != 0;
    case G_U32:
        return wire_get_u32(d) != 0;
    case G_U64:
        return wire_get_u64(d) != 0;
    case G_RAW:
        return wire_get_raw(d, sizeof k_raw) != NULL;
    case G_BYTES:
        x = wire_get_bytes(d, 100);
        break;
    case G_NAME:
        x = wire_get_name(d);
        break;
    case G_STR16:
        x = wire_get_str16(d, 100);
        break;
    default:
        CHECK(0);
    }
    return x.p != NULL || x.len != 0;
}

static void put_one(struct wire_enc *e, enum get_kind k)
{
    switch (k) {
    case G_U8:
        wire_put_u8(e, 0xfe);
        break;
    case G_U16:
        wire_put_u16(e, 0xfedc);
        break;
    case G_U32:
        wire_put_u32(e, 0xfedcba98u);
        break;
    case G_U64:
        wire_put_u64(e, 0xfedcba9876543210ull);
        break;
    case G_RAW:
        wire_put_raw(e, k_raw, sizeof k_raw);
        break;
    case G_BYTES:
        wire_put_bytes(e, k_bytes, strlen(k_bytes));
        break;
    case G_NAME:
        wire_put_name(e, k_name, strlen(k_name));
        break;
    case G_STR16:
        wire_put_str16(e, k_str, strlen(k_str));
        break;
    default:
        CHECK(0);
    }
}

TEST(codec_truncated_every_length)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    for (int k = 0; k < G_KINDS; k++) {
        buf_reset(&b);
        struct wire_enc e;
        wire_enc_init(&e, &b);
        put_one(&e, (enum get_kind)k);
        CHECK_OK(e.err);
        for (size_t len = 0; len <= b.len; len++) {
            struct wire_dec d;
            wire_dec_init(&d, b.data, len);
            int got = get_nonzero(&d, (enum get_kind)k);
            if (len == b.len) {
                CHECKF(got && d.err == 0 && wire_dec_left(&d) == 0, "kind %d whole", k);
                continue;
            }
            CHECKF(!got && d.err == CAIRN_TRUNCATED, "kind %d len %zu: got %d err %d", k, len, got,
                   d.err);
            /* The decoder never moves past the bytes present. */
            CHECK(d.off <= len);
            CHECK_EQ(wire_dec_finish(&d), CAIRN_TRUNCATED);
        }
    }
    buf_free(&b);
}

TEST(codec_sticky_errors)
{
    uint8_t zeros[64] = {0}, ones[64];
    memset(ones, 0xff, sizeof ones);
    /* Decoder: after the first error every get returns zeros, the offset
     * stays, and the first error is the one reported. */
    struct wire_dec d;
    wire_dec_init(&d, ones, sizeof ones);
    CHECK(wire_get_bytes(&d, 10).p == NULL); /* length 0xffffffff > 10 */
    CHECK_EQ(d.err, CAIRN_BADMSG);
    size_t off = d.off;
    for (int k = 0; k < G_KINDS; k++)
        CHECK(!get_nonzero(&d, (enum get_kind)k));
    CHECK_EQ(d.off, off);
    CHECK(wire_get_raw(&d, 1) == NULL);
    CHECK_EQ(wire_dec_finish(&d), CAIRN_BADMSG);

    wire_dec_init(&d, ones, 3);
    CHECK_EQ_U64(wire_get_u32(&d), 0);
    CHECK_EQ(d.err, CAIRN_TRUNCATED);
    wire_dec_init(&d, ones, 3); /* init resets the error */
    CHECK_EQ(wire_get_u16(&d), 0xffff);
    CHECK_OK(d.err);
    CHECK_EQ(wire_dec_finish(&d), CAIRN_BADMSG); /* one byte left over */
    CHECK_EQ(wire_get_u8(&d), 0);                /* finish's error sticks too */

    /* A bad name (length 0) sets BADMSG; later gets on good bytes fail. */
    wire_dec_init(&d, zeros, sizeof zeros);
    CHECK(wire_get_name(&d).p == NULL);
    CHECK_EQ(d.err, CAIRN_BADMSG);
    CHECK_EQ(wire_get_u8(&d), 0);
    CHECK_EQ(d.err, CAIRN_BADMSG);

    /* Encoder: the first error sticks and nothing more is appended. */
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_enc e;
    wire_enc_init(&e, &b);
    wire_put_u8(&e, 1);
    wire_put_name(&e, "a/b", 3);
    CHECK_EQ(e.err, CAIRN_EINVAL);
    wire_put_u64(&e, 7);
    wire_put_str16(&e, NULL, 70000);
    wire_put_bytes(&e, "x", 1);
    CHECK_EQ(e.err, CAIRN_EINVAL);
    CHECK_EQ(b.len, 1);
    buf_free(&b);

    /* A buffer limit makes the encoder fail with TOOBIG, also sticky. */
    buf_init(&b, 10);
    wire_enc_init(&e, &b);
    wire_put_u64(&e, 1);
    CHECK_OK(e.err);
    wire_put_u32(&e, 2);
    CHECK_EQ(e.err, CAIRN_TOOBIG);
    wire_put_u8(&e, 3);
    CHECK_EQ(e.err, CAIRN_TOOBIG);
    CHECK_EQ(b.len, 8);
    buf_free(&b);
}

/* A random valid name of n bytes: any byte but '/' and NUL. */
static void random_name(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        do
            p[i] = (uint8_t)prng_next(test_rng());
        while (p[i] == '/' || p[i] == 0);
    }
}

TEST(codec_names)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_enc e;
    struct wire_dec d;
    uint8_t name[300];
    for (size_t n = 1; n <= CAIRN_NAME_MAX; n++) {
        random_name(name, n);
        buf_reset(&b);
        wire_enc_init(&e, &b);
        wire_put_name(&e, name, n);
        CHECK_OK(e.err);
        CHECK_EQ(b.len, n + 1);
        CHECK_EQ(b.data[0], n);
        wire_dec_init(&d, b.data, b.len);
        struct wire_bytes x = wire_get_name(&d);
        CHECK(x.len == n && memcmp(x.p, name, n) == 0);
        CHECK_OK(wire_dec_finish(&d));
    }
    /* Encoder side: 0 and 256 bytes, '/' or NUL anywhere are refused. */
    random_name(name, sizeof name);
    CHECK_EQ(wire_name_check(name, 0), CAIRN_EINVAL);
    CHECK_EQ(wire_name_check(name, CAIRN_NAME_MAX + 1), CAIRN_ENAMETOOLONG);
    CHECK_OK(wire_name_check(name, CAIRN_NAME_MAX));
    size_t bad_len[2] = {0, CAIRN_NAME_MAX + 1};
    int bad_err[2] = {CAIRN_EINVAL, CAIRN_ENAMETOOLONG};
    for (int i = 0; i < 2; i++) {
        buf_reset(&b);
        wire_enc_init(&e, &b);
        wire_put_name(&e, name, bad_len[i]);
        CHECK_EQ(e.err, bad_err[i]);
        CHECK_EQ(b.len, 0);
    }
    const uint8_t bad_char[2] = {'/', '\0'};
    for (int c = 0; c < 2; c++) {
        for (size_t pos = 0; pos < 5; pos++) {
            uint8_t n5[5] = {'a', 'b', 'c', 'd', 'e'};
            n5[pos] = bad_char[c];
            buf_reset(&b);
            wire_enc_init(&e, &b);
            wire_put_name(&e, n5, 5);
            CHECK_EQ(e.err, CAIRN_EINVAL);
            CHECK_EQ(b.len, 0);
            /* Decoder side: the same bytes arriving on the wire. */
            uint8_t wire[6] = {5};
            memcpy(wire + 1, n5, 5);
            wire_dec_init(&d, wire, sizeof wire);
            CHECK(wire_get_name(&d).p == NULL);
            CHECK_EQ(d.err, CAIRN_BADMSG);
        }
    }
    /* Decoder side, length 0. A u8 length cannot say 256: the longest
     * name the wire can announce is exactly CAIRN_NAME_MAX. */
    _Static_assert(CAIRN_NAME_MAX == UINT8_MAX, "the name length prefix is a u8");
    uint8_t empty[4] = {0, 'a', 'b', 'c'};
    wire_dec_init(&d, empty, sizeof empty);
    CHECK(wire_get_name(&d).p == NULL);
    CHECK_EQ(d.err, CAIRN_BADMSG);
    buf_free(&b);
}

TEST(codec_str16_and_bytes_max)
{
    size_t big = UINT16_MAX + 1;
    uint8_t *data = malloc(big);
    CHECK(data != NULL);
    prng_fill(test_rng(), data, big);
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_enc e;
    wire_enc_init(&e, &b);
    /* The longest str16 round-trips; one byte more is refused. */
    wire_put_str16(&e, data, UINT16_MAX);
    CHECK_OK(e.err);
    CHECK_EQ(b.len, 2 + UINT16_MAX);
    struct wire_dec d;
    wire_dec_init(&d, b.data, b.len);
    struct wire_bytes x = wire_get_str16(&d, UINT16_MAX);
    CHECK(x.len == UINT16_MAX && memcmp(x.p, data, x.len) == 0);
    CHECK_OK(wire_dec_finish(&d));
    /* The decoder's max is inclusive: max - 1 refuses it. */
    wire_dec_init(&d, b.data, b.len);
    CHECK(wire_get_str16(&d, UINT16_MAX - 1).p == NULL);
    CHECK_EQ(d.err, CAIRN_BADMSG);
    wire_put_str16(&e, data, big);
    CHECK_EQ(e.err, CAIRN_TOOBIG);
    CHECK_EQ(b.len, 2 + UINT16_MAX);

    /* bytes: exactly max passes, max + 1 is BADMSG, both judged from the
     * length alone (the data need not be present for the refusal). */
    buf_reset(&b);
    wire_enc_init(&e, &b);
    wire_put_bytes(&e, data, 1000);
    CHECK_OK(e.err);
    wire_dec_init(&d, b.data, b.len);
    x = wire_get_bytes(&d, 1000);
    CHECK(x.len == 1000 && memcmp(x.p, data, 1000) == 0);
    wire_dec_init(&d, b.data, b.len);
    CHECK(wire_get_bytes(&d, 999).p == NULL);
    CHECK_EQ(d.err, CAIRN_BADMSG);
    wire_dec_init(&d, b.data, 4);
    CHECK(wire_get_bytes(&d, 999).p == NULL);
    CHECK_EQ(d.err, CAIRN_BADMSG);
    wire_dec_init(&d, b.data, 4);
    CHECK(wire_get_bytes(&d, 1000).p == NULL);
    CHECK_EQ(d.err, CAIRN_TRUNCATED);
    /* A byte string longer than a u32 can say is refused before it is read. */
    wire_enc_init(&e, &b);
    wire_put_bytes(&e, NULL, (size_t)UINT32_MAX + 1);
    CHECK_EQ(e.err, CAIRN_TOOBIG);
    buf_free(&b);
    free(data);
}

/* ------------------------------------------------------------------------
 * frames */

/* An ECHO_REPLY frame: flags REPLY, request id 0x0807060504030201, payload
 * the bytes "hello". The CRC was computed independently (RFC 3720 CRC32C,
 * bitwise, in a script), not by this code. */
#define GOLDEN_FRAME_HEX                               \
    "4341524e"            /* magic "CARN" */           \
    "0100"                /* version 1 */              \
    "0700"                /* type WIRE_ECHO_REPLY */   \
    "01000000"            /* flags REPLY */            \
    "0102030405060708"    /* request id */             \
    "09000000"            /* payload length 9 */       \
    "05000000 68656c6c6f" /* payload: bytes "hello" */ \
    "a6bec35b"            /* crc32c of the 33 bytes above */

/* A PING frame, empty payload, request id 42. */
#define GOLDEN_PING_HEX "4341524e 0100 0800 00000000 2a00000000000000 00000000 4b996881"

static uint8_t *golden_frame(size_t *len) { return hex_bytes(GOLDEN_FRAME_HEX, len); }

TEST(frame_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    CHECK_OK(wire_frame_encode(&b, WIRE_ECHO_REPLY, WIRE_FLAG_REPLY, 0x0807060504030201ull,
                               "\x05\x00\x00\x00hello", 9));
    check_golden(b.data, b.len, GOLDEN_FRAME_HEX);
    struct wire_header h;
    const uint8_t *payload = NULL;
    size_t flen = 0;
    CHECK_OK(wire_frame_parse(b.data, b.len, &h, &payload, &flen));
    CHECK_EQ(flen, b.len);
    CHECK_EQ(h.version, WIRE_VERSION);
    CHECK_EQ(h.type, WIRE_ECHO_REPLY);
    CHECK_EQ(h.flags, WIRE_FLAG_REPLY);
    CHECK_EQ_U64(h.req_id, 0x0807060504030201ull);
    CHECK_EQ(h.len, 9);
    CHECK(payload == b.data + WIRE_HEADER_SIZE);

    buf_reset(&b);
    CHECK_OK(wire_frame_encode(&b, WIRE_PING, 0, 42, NULL, 0));
    check_golden(b.data, b.len, GOLDEN_PING_HEX);
    CHECK_OK(wire_frame_parse(b.data, b.len, &h, &payload, &flen));
    CHECK_EQ(flen, WIRE_HEADER_SIZE + WIRE_TRAILER_SIZE);
    CHECK_EQ(h.len, 0);
    buf_free(&b);
}

TEST(frame_every_split_point)
{
    size_t n;
    uint8_t *f = golden_frame(&n);
    struct cairn_buf stream;
    buf_init(&stream, 0);
    struct wire_header h;
    const uint8_t *payload;
    size_t flen;
    /* The frame arrives in two reads split at k: after the first read the
     * parser wants more (it never errs on a good prefix), after the second
     * it has the frame. */
    for (size_t k = 0; k <= n; k++) {
        buf_reset(&stream);
        CHECK_OK(buf_append(&stream, f, k));
        CHECK_OK(wire_frame_parse(stream.data, stream.len, &h, &payload, &flen));
        CHECK_EQ(flen, k == n ? n : 0);
        CHECK_OK(buf_append(&stream, f + k, n - k));
        CHECK_OK(wire_frame_parse(stream.data, stream.len, &h, &payload, &flen));
        CHECK_EQ(flen, n);
        CHECK_EQ(h.len, 9);
        CHECK_MEM_EQ(payload + 4, "hello", 5);
    }
    buf_free(&stream);
    free(f);
}

/* Parse p[0..n), expecting an error or "need more" (0 with no frame). */
static int parse_err(const uint8_t *p, size_t n)
{
    struct wire_header h;
    const uint8_t *payload = NULL;
    size_t flen = 7;
    int rc = wire_frame_parse(p, n, &h, &payload, &flen);
    CHECK_EQ(flen, 0);
    return rc;
}

TEST(frame_bad_magic_from_first_byte)
{
    size_t n;
    uint8_t *f = golden_frame(&n);
    for (size_t i = 0; i < 4; i++) {
        uint8_t save = f[i];
        f[i] ^= 0x20; /* e.g. "carn": a near miss */
        /* Up to the bad byte: need more; from it on: BADMAGIC. */
        for (size_t len = 0; len <= n; len++)
            CHECK_EQ(parse_err(f, len), len <= i ? 0 : CAIRN_BADMAGIC);
        f[i] = save;
    }
    /* Plain text (an HTTP request sent to the port) is refused at byte 0. */
    CHECK_EQ(parse_err((const uint8_t *)"GET / HTTP/1.1\r\n", 1), CAIRN_BADMAGIC);
    free(f);
}

TEST(frame_header_errors)
{
    size_t n;
    uint8_t *f = golden_frame(&n);
    uint8_t hdr[WIRE_HEADER_SIZE];

    /* Version: judged once the header is whole, not before. */
    memcpy(hdr, f, sizeof hdr);
    wire_store_u16(hdr + 4, WIRE_VERSION + 1);
    CHECK_EQ(parse_err(hdr, WIRE_HEADER_SIZE - 1), 0);
    CHECK_EQ(parse_err(hdr, WIRE_HEADER_SIZE), CAIRN_BADVERSION);
    wire_store_u16(hdr + 4, 0);
    CHECK_EQ(parse_err(hdr, WIRE_HEADER_SIZE), CAIRN_BADVERSION);

    /* Oversize: refused from the 24 header bytes alone, before any payload. */
    memcpy(hdr, f, sizeof hdr);
    wire_store_u32(hdr + 20, CAIRN_FRAME_PAYLOAD_MAX + 1);
    CHECK_EQ(parse_err(hdr, WIRE_HEADER_SIZE - 1), 0);
    CHECK_EQ(parse_err(hdr, WIRE_HEADER_SIZE), CAIRN_TOOBIG);
    wire_store_u32(hdr + 20, UINT32_MAX);
    CHECK_EQ(parse_err(hdr, WIRE_HEADER_SIZE), CAIRN_TOOBIG);
    wire_store_u32(hdr + 20, CAIRN_FRAME_PAYLOAD_MAX); /* the limit itself: wait for it */
    CHECK_EQ(parse_err(hdr, WIRE_HEADER_SIZE), 0);

    /* Unknown flag bits, each one. */
    for (int bit = 0; bit < 32; bit++) {
        uint32_t flag = 1u << bit;
        memcpy(hdr, f, sizeof hdr);
        wire_store_u32(hdr + 8, flag);
        int want = (flag & WIRE_FLAGS_KNOWN) ? 0 : CAIRN_BADMSG;
        CHECK_EQ(parse_err(hdr, WIRE_HEADER_SIZE), want);
    }

    /* The encoder refuses what the parser would refuse. */
    struct cairn_buf b;
    buf_init(&b, 0);
    CHECK_OK(buf_append(&b, "x", 1));
    CHECK_EQ(wire_frame_encode(&b, WIRE_ECHO, 0, 1, NULL, CAIRN_FRAME_PAYLOAD_MAX + 1),
             CAIRN_TOOBIG);
    CHECK_EQ(b.len, 1);
    buf_free(&b);
    free(f);
}

TEST(frame_bad_crc)
{
    size_t n;
    uint8_t *f = golden_frame(&n);
    /* Payload and CRC bytes flipped: BADCRC once the frame is whole. */
    for (size_t i = WIRE_HEADER_SIZE; i < n; i++) {
        f[i] ^= 0x01;
        CHECK_EQ(parse_err(f, n - 1), 0);
        CHECK_EQ(parse_err(f, n), CAIRN_BADCRC);
        f[i] ^= 0x01;
    }
    /* Every single-bit flip anywhere never yields a frame: it is refused
     * (magic, version, flags, CRC...) or, if the length grew, waits. */
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            f[i] ^= (uint8_t)(1u << bit);
            int rc = parse_err(f, n);
            if (i >= 20 && i < 24 && rc == 0)
                CHECK(wire_load_u32(f + 20) > 9); /* waits for a longer payload */
            else
                CHECKF(rc < 0, "byte %zu bit %d accepted", i, bit);
            f[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* Header fields nothing else checks (type, request id) are covered by
     * the CRC too. */
    f[6] ^= 0x01;
    CHECK_EQ(parse_err(f, n), CAIRN_BADCRC);
    f[6] ^= 0x01;
    f[15] ^= 0x80;
    CHECK_EQ(parse_err(f, n), CAIRN_BADCRC);
    free(f);
}

TEST(frame_back_to_back)
{
    /* Two golden frames in one read come out one after the other. */
    size_t n1, n2;
    uint8_t *f1 = golden_frame(&n1), *f2 = hex_bytes(GOLDEN_PING_HEX, &n2);
    struct cairn_buf s;
    buf_init(&s, 0);
    CHECK_OK(buf_append(&s, f1, n1));
    CHECK_OK(buf_append(&s, f2, n2));
    struct wire_header h;
    const uint8_t *payload;
    size_t flen;
    CHECK_OK(wire_frame_parse(s.data, s.len, &h, &payload, &flen));
    CHECK_EQ(flen, n1);
    CHECK_EQ(h.type, WIRE_ECHO_REPLY);
    buf_consume(&s, flen);
    CHECK_OK(wire_frame_parse(s.data, s.len, &h, &payload, &flen));
    CHECK_EQ(flen, n2);
    CHECK_EQ(h.type, WIRE_PING);
    CHECK_EQ_U64(h.req_id, 42);
    buf_consume(&s, flen);
    CHECK_EQ(s.len, 0);
    CHECK_OK(wire_frame_parse(s.data, s.len, &h, &payload, &flen));
    CHECK_EQ(flen, 0);

    /* A stream of random frames, delivered in random pieces, is parsed
     * back into the same frames in order. */
    struct prng *rng = test_rng();
    struct cairn_buf out, in;
    buf_init(&out, 0);
    buf_init(&in, 0);
    enum { NFRAMES = 200 };
    uint64_t ids[NFRAMES];
    uint8_t data[600];
    for (int i = 0; i < NFRAMES; i++) {
        ids[i] = prng_next(rng);
        size_t len = prng_below(rng, sizeof data);
        prng_fill(rng, data, len);
        CHECK_OK(wire_frame_encode(&out, (uint16_t)(i + 1), (uint32_t)prng_below(rng, 4), ids[i],
                                   data, len));
    }
    int got = 0;
    for (size_t off = 0; off < out.len;) {
        size_t piece = CAIRN_MIN(out.len - off, 1 + prng_below(rng, 700));
        CHECK_OK(buf_append(&in, out.data + off, piece));
        off += piece;
        for (;;) {
            CHECK_OK(wire_frame_parse(in.data, in.len, &h, &payload, &flen));
            if (flen == 0)
                break;
            CHECK(got < NFRAMES);
            CHECK_EQ(h.type, got + 1);
            CHECK_EQ_U64(h.req_id, ids[got]);
            got++;
            buf_consume(&in, flen);
        }
    }
    CHECK_EQ(got, NFRAMES);
    CHECK_EQ(in.len, 0);
    buf_free(&in);
    buf_free(&out);
    buf_free(&s);
    free(f1);
    free(f2);
}

/* ------------------------------------------------------------------------
 * WIRE_RAFT messages */

static uint8_t g_app_data0[] = "set x=1";
/* A conf change "add voter 4" as raft.h lays it out (u8 op, u64 node). */
static uint8_t g_app_data1[] = {0, 4, 0, 0, 0, 0, 0, 0, 0};
static struct raft_entry g_app_entries[2] = {
    {.term = 7, .index = 0x1235, .type = RAFT_ENTRY_NORMAL, .len = 7, .data = g_app_data0},
    {.term = 7, .index = 0x1236, .type = RAFT_ENTRY_CONF, .len = 9, .data = g_app_data1},
};
static const struct raft_msg g_app = {
    .type = RAFT_MSG_APP,
    .from = 1,
    .to = 2,
    .term = 7,
    .log_term = 6,
    .index = 0x1234,
    .commit = 0x1233,
    .n_entries = 2,
    .entries = g_app_entries,
};
#define GOLDEN_APP_HEX                                                               \
    "01"                                   /* type APP */                            \
    "0100000000000000 0200000000000000"    /* from 1, to 2 */                        \
    "0700000000000000 0600000000000000"    /* term 7, log_term 6 */                  \
    "3412000000000000 3312000000000000"    /* index 0x1234, commit 0x1233 */         \
    "0000000000000000"                     /* context */                             \
    "00 0000000000000000"                  /* reject 0, reject_hint 0 */             \
    "02000000"                             /* n_entries 2 */                         \
    "0700000000000000 3512000000000000 00" /* entry: term 7, index 0x1235, NORMAL */ \
    "07000000 7365742078 3d31"             /*   bytes "set x=1" */                   \
    "0700000000000000 3612000000000000 01" /* entry: term 7, index 0x1236, CONF */   \
    "09000000 00 0400000000000000"         /*   bytes: add voter 4 */                \
    "00"                                   /* has_snapshot 0 */

static const struct raft_msg g_vote_resp = {
    .type = RAFT_MSG_VOTE_RESP,
    .from = 3,
    .to = 1,
    .term = 0x0102030405060708ull,
    .reject = 1,
};
#define GOLDEN_VOTE_RESP_HEX                                                    \
    "04"                                /* type VOTE_RESP */                    \
    "0300000000000000 0100000000000000" /* from 3, to 1 */                      \
    "0807060504030201 0000000000000000" /* term 0x0102030405060708, log_term */ \
    "0000000000000000 0000000000000000" /* index, commit */                     \
    "0000000000000000"                  /* context */                           \
    "01 0000000000000000"               /* reject 1, reject_hint 0 */           \
    "00000000"                          /* n_entries 0 */                       \
    "00"                                /* has_snapshot 0 */

static uint8_t g_snap_data[] = "snapshot";
static struct raft_snapshot g_snap_snapshot = {
    .meta = {.index = 100,
             .term = 6,
             .conf = {.n_voters = 3, .n_learners = 1, .voters = {1, 2, 3}, .learners = {4}}},
    .data = g_snap_data,
    .len = 8,
};
static const struct raft_msg g_snap = {
    .type = RAFT_MSG_SNAP,
    .from = 1,
    .to = 3,
    .term = 7,
    .snapshot = &g_snap_snapshot,
};
#define GOLDEN_SNAP_HEX                                                                           \
    "09"                                                          /* type SNAP */                 \
    "0100000000000000 0300000000000000"                           /* from 1, to 3 */              \
    "0700000000000000 0000000000000000"                           /* term 7, log_term */          \
    "0000000000000000 0000000000000000 0000000000000000"          /* index, commit, context */    \
    "00 0000000000000000 00000000"                                /* reject, hint, n_entries 0 */ \
    "01"                                                          /* has_snapshot 1 */            \
    "6400000000000000 0600000000000000"                           /* index 100, term 6 */         \
    "03000000 0100000000000000 0200000000000000 0300000000000000" /* voters 1 2 3 */              \
    "01000000 0400000000000000"                                   /* learners 4 */                \
    "08000000 736e617073686f74"                                   /* bytes "snapshot" */

struct golden_msg {
    const char *name;
    const struct raft_msg *msg;
    const char *hex;
};
static const struct golden_msg g_golden[] = {
    {"app", &g_app, GOLDEN_APP_HEX},
    {"vote_resp", &g_vote_resp, GOLDEN_VOTE_RESP_HEX},
    {"snap", &g_snap, GOLDEN_SNAP_HEX},
};

/* Encode the golden message, compare bytes, decode back, compare fields,
 * and check the decoded data points into the input (no copies). */
static void check_golden_msg(const struct golden_msg *g)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    CHECK_OK(wire_raft_msg_encode(&b, g->msg));
    check_golden(b.data, b.len, g->hex);
    CHECK_EQ(wire_raft_msg_size(g->msg), b.len);
    struct raft_msg m;
    CHECK_OK(wire_raft_msg_decode(b.data, b.len, &m));
    CHECKF(raft_msg_eq(&m, g->msg), "%s decodes to a different message", g->name);
    for (uint32_t i = 0; i < m.n_entries; i++)
        CHECK(m.entries[i].data >= b.data && m.entries[i].data < b.data + b.len);
    if (m.snapshot)
        CHECK(m.snapshot->data >= b.data && m.snapshot->data < b.data + b.len);
    wire_raft_msg_free(&m);
    CHECK(m.entries == NULL && m.snapshot == NULL);
    buf_free(&b);
}

TEST(raft_golden_app) { check_golden_msg(&g_golden[0]); }
TEST(raft_golden_vote_resp_reject) { check_golden_msg(&g_golden[1]); }
TEST(raft_golden_snap) { check_golden_msg(&g_golden[2]); }

static int is_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* Decode p[0..n) expecting failure: the error comes back, *m is zeroed. */
static int decode_err(const uint8_t *p, size_t n)
{
    struct raft_msg m;
    memset(&m, 0xa5, sizeof m);
    int rc = wire_raft_msg_decode(p, n, &m);
    if (rc == 0)
        wire_raft_msg_free(&m);
    CHECKF(rc < 0, "decode of %zu bytes succeeded", n);
    CHECK(is_zero(&m, sizeof m));
    return rc;
}

TEST(raft_golden_truncations)
{
    for (size_t g = 0; g < CAIRN_ARRAY_LEN(g_golden); g++) {
        size_t n;
        uint8_t *v = hex_bytes(g_golden[g].hex, &n);
        /* Every prefix fails as truncated; a copy of exactly that length
         * lets ASan see any read past it. */
        for (size_t len = 0; len < n; len++) {
            uint8_t *cut = malloc(len ? len : 1);
            CHECK(cut != NULL);
            memcpy(cut, v, len);
            CHECKF(decode_err(cut, len) == CAIRN_TRUNCATED, "%s cut at %zu", g_golden[g].name, len);
            free(cut);
        }
        /* One byte too many: trailing bytes are refused. */
        uint8_t *longer = malloc(n + 1);
        CHECK(longer != NULL);
        memcpy(longer, v, n);
        longer[n] = 0;
        CHECK_EQ(decode_err(longer, n + 1), CAIRN_BADMSG);
        free(longer);
        free(v);
    }
}

/* A copy of a golden vector to corrupt; offsets below follow wire.h. */
enum {
    OFF_TYPE = 0,
    OFF_REJECT = 57,
    OFF_N_ENTRIES = 66,
    OFF_ENTRY0 = 70, /* first entry (APP) or has_snapshot */
};

static uint8_t *golden_copy(int g, size_t *n) { return hex_bytes(g_golden[g].hex, n); }

TEST(raft_hostile_inputs)
{
    size_t n;
    uint8_t *v;
    _Static_assert(OFF_ENTRY0 == WIRE_RAFT_HEAD_SIZE, "offsets follow the layout");

    /* Message type 0, one past the last, and 255. */
    const uint8_t bad_types[] = {0, RAFT_MSG_TYPE_MAX + 1, 255};
    v = golden_copy(1, &n);
    for (size_t i = 0; i < sizeof bad_types; i++) {
        v[OFF_TYPE] = bad_types[i];
        CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    }
    v[OFF_TYPE] = RAFT_MSG_VOTE_RESP;
    v[OFF_REJECT] = 2; /* reject is 0/1 */
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    v[OFF_REJECT] = 1;
    v[OFF_ENTRY0] = 2; /* has_snapshot is 0/1 */
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    v[OFF_ENTRY0] = 1; /* a snapshot on a VOTE_RESP */
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    free(v);

    /* Huge entry counts: above the limit is malformed; within it but more
     * than the bytes can hold is truncated, and refused before allocating. */
    v = golden_copy(0, &n);
    wire_store_u32(v + OFF_N_ENTRIES, UINT32_MAX);
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    wire_store_u32(v + OFF_N_ENTRIES, CAIRN_RAFT_APPEND_ENTRIES_MAX + 1);
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    wire_store_u32(v + OFF_N_ENTRIES, CAIRN_RAFT_APPEND_ENTRIES_MAX);
    CHECK_EQ(decode_err(v, n), CAIRN_TRUNCATED);
    wire_store_u32(v + OFF_N_ENTRIES, 3);
    CHECK_EQ(decode_err(v, n), CAIRN_TRUNCATED);
    wire_store_u32(v + OFF_N_ENTRIES, 1); /* the second entry's term read as has_snapshot */
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    wire_store_u32(v + OFF_N_ENTRIES, 2);

    /* Huge entry data length: above the proposal limit, or within it but
     * past the end. */
    size_t len0 = OFF_ENTRY0 + 17; /* the first entry's length field */
    wire_store_u32(v + len0, UINT32_MAX);
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    wire_store_u32(v + len0, CAIRN_RAFT_PROPOSAL_MAX + 1);
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    wire_store_u32(v + len0, CAIRN_RAFT_PROPOSAL_MAX);
    CHECK_EQ(decode_err(v, n), CAIRN_TRUNCATED);
    wire_store_u32(v + len0, 7);
    v[OFF_ENTRY0 + 16] = RAFT_ENTRY_CONF + 1; /* unknown entry type */
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    v[OFF_ENTRY0 + 16] = RAFT_ENTRY_NORMAL;
    v[OFF_TYPE] = RAFT_MSG_HEARTBEAT; /* entries on a message that has none */
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    v[OFF_TYPE] = RAFT_MSG_APP;
    struct raft_msg m;
    CHECK_OK(wire_raft_msg_decode(v, n, &m)); /* restored: valid again */
    wire_raft_msg_free(&m);
    free(v);

    /* Snapshot: conf sizes above the limit, data past the end, a SNAP
     * without its snapshot. */
    v = golden_copy(2, &n);
    size_t nv = OFF_ENTRY0 + 1 + 16;
    wire_store_u32(v + nv, CAIRN_RAFT_NODES_MAX + 1);
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    wire_store_u32(v + nv, UINT32_MAX);
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    wire_store_u32(v + nv, 3);
    size_t nl = nv + 4 + 3 * 8;
    wire_store_u32(v + nl, CAIRN_RAFT_NODES_MAX + 1);
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    wire_store_u32(v + nl, CAIRN_RAFT_NODES_MAX); /* within limit, bytes missing */
    CHECK_EQ(decode_err(v, n), CAIRN_TRUNCATED);
    wire_store_u32(v + nl, 1);
    wire_store_u32(v + nl + 12, UINT32_MAX);
    CHECK_EQ(decode_err(v, n), CAIRN_BADMSG);
    wire_store_u32(v + nl + 12, 9);
    CHECK_EQ(decode_err(v, n), CAIRN_TRUNCATED);
    wire_store_u32(v + nl + 12, 8);
    v[OFF_ENTRY0] = 0;
    CHECK_EQ(decode_err(v, OFF_ENTRY0 + 1), CAIRN_BADMSG);
    free(v);

    /* Anything above the frame payload limit is refused unread (ASan would
     * see a read of the one byte present going further). */
    uint8_t one[1] = {RAFT_MSG_APP};
    CHECK_EQ(decode_err(one, (size_t)CAIRN_FRAME_PAYLOAD_MAX + 1), CAIRN_BADMSG);
}

TEST(raft_encode_refuses_bad_shapes)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    CHECK_OK(buf_append(&b, "x", 1));
    struct raft_msg m = g_app;
    struct raft_entry e[2];
    memcpy(e, g_app_entries, sizeof e);
    m.entries = e;
#define REFUSED(want)                                   \
    do {                                                \
        CHECK_EQ(wire_raft_msg_encode(&b, &m), (want)); \
        CHECK_EQ(b.len, 1);                             \
        m = g_app;                                      \
        m.entries = e;                                  \
        memcpy(e, g_app_entries, sizeof e);             \
    } while (0)
    m.type = 0;
    REFUSED(CAIRN_EINVAL);
    m.type = RAFT_MSG_TYPE_MAX + 1;
    REFUSED(CAIRN_EINVAL);
    m.reject = 2;
    REFUSED(CAIRN_EINVAL);
    m.type = RAFT_MSG_VOTE; /* entries on a VOTE */
    REFUSED(CAIRN_EINVAL);
    e[1].type = 2;
    REFUSED(CAIRN_EINVAL);
    e[0].data = NULL;
    REFUSED(CAIRN_EINVAL);
    e[0].len = CAIRN_RAFT_PROPOSAL_MAX + 1;
    REFUSED(CAIRN_TOOBIG);
    m.n_entries = CAIRN_RAFT_APPEND_ENTRIES_MAX + 1;
    REFUSED(CAIRN_TOOBIG);
    m.snapshot = &g_snap_snapshot; /* a snapshot on an APP */
    REFUSED(CAIRN_EINVAL);
    m.type = RAFT_MSG_SNAP; /* a SNAP with entries */
    m.snapshot = &g_snap_snapshot;
    REFUSED(CAIRN_EINVAL);
    m.type = RAFT_MSG_SNAP; /* a SNAP without a snapshot */
    m.n_entries = 0;
    REFUSED(CAIRN_EINVAL);

    struct raft_snapshot s = g_snap_snapshot;
    m = g_snap;
    m.snapshot = &s;
    s.meta.conf.n_voters = CAIRN_RAFT_NODES_MAX + 1;
    CHECK_EQ(wire_raft_msg_encode(&b, &m), CAIRN_TOOBIG);
    s = g_snap_snapshot;
    s.data = NULL;
    CHECK_EQ(wire_raft_msg_encode(&b, &m), CAIRN_EINVAL);
    /* Whole message above the frame limit: 5 entries of the largest size. */
    size_t big = CAIRN_RAFT_PROPOSAL_MAX;
    uint8_t *data = calloc(1, big);
    CHECK(data != NULL);
    struct raft_entry many[5];
    for (int i = 0; i < 5; i++)
        many[i] = (struct raft_entry){.term = 1, .index = 1u + i, .len = big, .data = data};
    m = g_app;
    m.entries = many;
    m.n_entries = 5;
    CHECK_EQ(wire_raft_msg_encode(&b, &m), CAIRN_TOOBIG);
    m.n_entries = 3; /* 3 MiB fits */
    CHECK_OK(wire_raft_msg_encode(&b, &m));
    CHECK_EQ(b.len, 1 + wire_raft_msg_size(&m));
    /* The buffer's own limit also leaves it as it was. */
    struct cairn_buf small;
    buf_init(&small, 100);
    CHECK_EQ(wire_raft_msg_encode(&small, &m), CAIRN_TOOBIG);
    CHECK_EQ(small.len, 0);
    buf_free(&small);
    free(data);
    buf_free(&b);
#undef REFUSED
}

/* Storage for one random message. */
struct rand_msg {
    struct raft_msg m;
    struct raft_entry entries[40];
    struct raft_snapshot snap;
    uint8_t data[4096];
};

/* Fill r with a random valid message: random fields, entries on APP,
 * a snapshot on SNAP, lengths 0..a few hundred bytes. */
static void random_msg(struct prng *rng, struct rand_msg *r)
{
    memset(r, 0, sizeof *r);
    struct raft_msg *m = &r->m;
    prng_fill(rng, r->data, sizeof r->data);
    m->type = (uint8_t)prng_range(rng, 1, RAFT_MSG_TYPE_MAX);
    uint64_t *f[] = {&m->from,  &m->to,     &m->term,    &m->log_term,
                     &m->index, &m->commit, &m->context, &m->reject_hint};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(f); i++)
        *f[i] = prng_next(rng) >> prng_below(rng, 64);
    m->reject = (uint8_t)prng_below(rng, 2);
    if (m->type == RAFT_MSG_APP) {
        m->n_entries = (uint32_t)prng_below(rng, CAIRN_ARRAY_LEN(r->entries) + 1);
        m->entries = m->n_entries ? r->entries : NULL;
        for (uint32_t i = 0; i < m->n_entries; i++) {
            struct raft_entry *e = &r->entries[i];
            e->term = prng_next(rng);
            e->index = prng_next(rng);
            e->type = (uint8_t)prng_below(rng, 2);
            e->len = (uint32_t)prng_below(rng, 100);
            e->data = e->len ? r->data + prng_below(rng, sizeof r->data - 100) : NULL;
        }
    }
    if (m->type == RAFT_MSG_SNAP) {
        struct raft_snapshot *s = &r->snap;
        s->meta.index = prng_next(rng);
        s->meta.term = prng_next(rng);
        s->meta.conf.n_voters = (uint32_t)prng_below(rng, CAIRN_RAFT_NODES_MAX + 1);
        s->meta.conf.n_learners = (uint32_t)prng_below(rng, CAIRN_RAFT_NODES_MAX + 1);
        for (uint32_t i = 0; i < CAIRN_RAFT_NODES_MAX; i++) {
            s->meta.conf.voters[i] = i < s->meta.conf.n_voters ? prng_next(rng) : 0;
            s->meta.conf.learners[i] = i < s->meta.conf.n_learners ? prng_next(rng) : 0;
        }
        s->len = prng_below(rng, sizeof r->data);
        s->data = s->len ? r->data : NULL;
        m->snapshot = s;
    }
}

TEST(raft_random_round_trip)
{
    struct rand_msg *r = malloc(sizeof *r);
    CHECK(r != NULL);
    struct cairn_buf b, b2, fr;
    buf_init(&b, 0);
    buf_init(&b2, 0);
    buf_init(&fr, 0);
    for (int iter = 0; iter < 2000; iter++) {
        random_msg(test_rng(), r);
        buf_reset(&b);
        buf_reset(&b2);
        buf_reset(&fr);
        CHECK_OK(wire_raft_msg_encode(&b, &r->m));
        CHECK_EQ(b.len, wire_raft_msg_size(&r->m));
        /* Through a frame and back, as it travels between servers. */
        CHECK_OK(wire_frame_encode(&fr, WIRE_RAFT, 0, (uint64_t)iter, b.data, b.len));
        struct wire_header h;
        const uint8_t *payload;
        size_t flen;
        CHECK_OK(wire_frame_parse(fr.data, fr.len, &h, &payload, &flen));
        CHECK_EQ(flen, fr.len);
        CHECK_EQ(h.type, WIRE_RAFT);
        struct raft_msg m;
        CHECK_OK(wire_raft_msg_decode(payload, h.len, &m));
        CHECKF(raft_msg_eq(&m, &r->m), "iteration %d: message differs", iter);
        CHECK_OK(wire_raft_msg_encode(&b2, &m));
        CHECK(b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0);
        wire_raft_msg_free(&m);
    }
    buf_free(&b);
    buf_free(&b2);
    buf_free(&fr);
    free(r);
}

TEST(raft_random_corruptions)
{
    /* Random byte changes to valid messages: decode either fails with a
     * protocol error and a zeroed message, or succeeds and re-encodes to
     * exactly the input (the decoder accepts one encoding per message). */
    struct rand_msg *r = malloc(sizeof *r);
    CHECK(r != NULL);
    struct cairn_buf b, b2;
    buf_init(&b, 0);
    buf_init(&b2, 0);
    struct prng *rng = test_rng();
    int ok = 0, failed = 0;
    for (int iter = 0; iter < 3000; iter++) {
        random_msg(rng, r);
        buf_reset(&b);
        CHECK_OK(wire_raft_msg_encode(&b, &r->m));
        int flips = 1 + (int)prng_below(rng, 3);
        for (int i = 0; i < flips; i++)
            b.data[prng_below(rng, b.len)] = (uint8_t)prng_next(rng);
        size_t len = prng_chance(rng, 1, 4) ? prng_below(rng, b.len + 1) : b.len;
        struct raft_msg m;
        int rc = wire_raft_msg_decode(b.data, len, &m);
        if (rc) {
            CHECKF(rc == CAIRN_BADMSG || rc == CAIRN_TRUNCATED, "rc %d", rc);
            CHECK(is_zero(&m, sizeof m));
            failed++;
            continue;
        }
        buf_reset(&b2);
        CHECK_OK(wire_raft_msg_encode(&b2, &m));
        CHECK(b2.len == len && memcmp(b2.data, b.data, len) == 0);
        wire_raft_msg_free(&m);
        ok++;
    }
    /* Both outcomes occur, or the test is not testing much. */
    CHECK(ok > 0 && failed > 0);
    buf_free(&b);
    buf_free(&b2);
    free(r);
}

/* ------------------------------------------------------------------------
 * the fuzz target's seed corpus */

#define CORPUS_DIR "tests/fuzz/corpus/fuzz_wire"
#define CORPUS_SEEDS_MAX 32

struct corpus_seed {
    char name[64];
    struct cairn_buf b;
};

static struct corpus_seed *seed_add(struct corpus_seed *seeds, int *n, const char *name)
{
    CHECK(*n < CORPUS_SEEDS_MAX);
    struct corpus_seed *s = &seeds[(*n)++];
    snprintf(s->name, sizeof s->name, "%s", name);
    buf_init(&s->b, 0);
    return s;
}

/* The seeds: each golden frame and WIRE_RAFT payload alone, each payload in
 * a WIRE_RAFT frame, and a stream of two frames back to back. */
static int corpus_build(struct corpus_seed *seeds)
{
    int n = 0;
    size_t len;
    uint8_t *p = hex_bytes(GOLDEN_FRAME_HEX, &len);
    CHECK_OK(buf_append(&seed_add(seeds, &n, "frame_echo_reply")->b, p, len));
    free(p);
    p = hex_bytes(GOLDEN_PING_HEX, &len);
    CHECK_OK(buf_append(&seed_add(seeds, &n, "frame_ping")->b, p, len));
    free(p);
    for (size_t g = 0; g < CAIRN_ARRAY_LEN(g_golden); g++) {
        char name[64];
        snprintf(name, sizeof name, "raft_%s", g_golden[g].name);
        struct cairn_buf *payload = &seed_add(seeds, &n, name)->b;
        CHECK_OK(wire_raft_msg_encode(payload, g_golden[g].msg));
        snprintf(name, sizeof name, "frame_raft_%s", g_golden[g].name);
        CHECK_OK(wire_frame_encode(&seed_add(seeds, &n, name)->b, WIRE_RAFT, 0, g + 1,
                                   payload->data, payload->len));
    }
    /* Connection-layer messages (msg_rpc.h), so the fuzzer starts with a
     * valid payload of each kind the handshake uses. */
    struct cairn_buf rpc;
    buf_init(&rpc, 0);
    struct wire_hello hello = {
        .proto = WIRE_VERSION, .name = (const uint8_t *)"fuzz", .name_len = 4};
    memset(hello.client_nonce, 0x5a, sizeof hello.client_nonce);
    CHECK_OK(wire_hello_encode(&rpc, &hello));
    CHECK_OK(wire_frame_encode(&seed_add(seeds, &n, "frame_hello")->b, WIRE_HELLO, 0, 0, rpc.data,
                               rpc.len));
    buf_reset(&rpc);
    CHECK_OK(wire_error_encode(&rpc, CAIRN_NOTLEADER, "not the leader", 14));
    CHECK_OK(wire_frame_encode(&seed_add(seeds, &n, "frame_error")->b, WIRE_ECHO_REPLY,
                               WIRE_FLAG_REPLY | WIRE_FLAG_ERROR, 9, rpc.data, rpc.len));
    buf_free(&rpc);
    struct cairn_buf *two = &seed_add(seeds, &n, "stream_two_frames")->b;
    for (int i = 0; i < n; i++)
        if (strcmp(seeds[i].name, "frame_raft_app") == 0 ||
            strcmp(seeds[i].name, "frame_echo_reply") == 0)
            CHECK_OK(buf_append(two, seeds[i].b.data, seeds[i].b.len));
    return n;
}

/* The whole content of a file, or NULL if it cannot be read. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct cairn_buf b;
    buf_init(&b, 0);
    uint8_t chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        CHECK_OK(buf_append(&b, chunk, got));
    fclose(f);
    return buf_steal(&b, len);
}

/* The committed corpus equals what the encoders produce today, so a change
 * of format cannot leave the fuzzer starting from stale seeds. With
 * CAIRN_REWRITE_CORPUS=1 (run from the repository root) it rewrites them. */
TEST(fuzz_corpus_current)
{
    struct corpus_seed seeds[CORPUS_SEEDS_MAX];
    int n = corpus_build(seeds);
    const char *rewrite = getenv("CAIRN_REWRITE_CORPUS");
    if (rewrite && strcmp(rewrite, "1") == 0) {
        mkdir("tests/fuzz/corpus", 0755);
        mkdir(CORPUS_DIR, 0755);
    }
    for (int i = 0; i < n; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, seeds[i].name);
        if (rewrite && strcmp(rewrite, "1") == 0) {
            FILE *f = fopen(path, "wb");
            CHECKF(f != NULL, "cannot write %s (run from the repository root)", path);
            CHECK_EQ(fwrite(seeds[i].b.data, 1, seeds[i].b.len, f), seeds[i].b.len);
            CHECK_EQ(fclose(f), 0);
        }
        size_t len = 0;
        uint8_t *have = read_file(path, &len);
        CHECKF(have != NULL,
               "missing %s (run from the repository root; "
               "CAIRN_REWRITE_CORPUS=1 regenerates)",
               path);
        CHECKF(len == seeds[i].b.len && memcmp(have, seeds[i].b.data, len) == 0,
               "%s is stale: CAIRN_REWRITE_CORPUS=1 %s fuzz_corpus_current", path,
               "build/tests/unit/test_wire");
        free(have);
        buf_free(&seeds[i].b);
    }
}
