/* test_wire_rpc.c: golden vectors, round trips and hostile inputs for the
 * connection-layer messages of src/wire/msg_rpc.h. The expected bytes are
 * written out by hand from the layouts in wire.h (frame CRCs from an
 * independent CRC32C), never produced by the encoder under test. */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/buf.h"
#include "common/prng.h"
#include "test.h"
#include "wire/frame.h"
#include "wire/msg_rpc.h"

#define NONCE_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define NONCE_B "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
#define PROOF_C "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
#define PROOF_D "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"

/* Decode hex (spaces ignored) into a malloc'd buffer; *n gets its length. */
static uint8_t *unhex(const char *hex, size_t *n)
{
    size_t len = strlen(hex);
    uint8_t *out = malloc(len / 2 + 1);
    CHECK(out != NULL);
    size_t k = 0;
    int half = -1;
    for (size_t i = 0; i < len; i++) {
        char ch = hex[i];
        if (ch == ' ')
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

static void fill_seq(uint8_t *p, size_t n, uint8_t first)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(first + i);
}

/* The encoded buffer equals the golden hex byte for byte. */
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

/* Every strict prefix of a valid message fails with CAIRN_TRUNCATED, and
 * one trailing byte fails with CAIRN_BADMSG. Copies keep ASan watching
 * the exact bounds of each prefix. */
static void check_truncations(const uint8_t *p, size_t n, decode_fn dec)
{
    uint8_t out[256];
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

static int dec_error(const uint8_t *p, size_t n, void *o) { return wire_error_decode(p, n, o); }
static int dec_hello(const uint8_t *p, size_t n, void *o) { return wire_hello_decode(p, n, o); }
static int dec_hello_reply(const uint8_t *p, size_t n, void *o)
{
    return wire_hello_reply_decode(p, n, o);
}
static int dec_auth(const uint8_t *p, size_t n, void *o) { return wire_auth_decode(p, n, o); }
static int dec_echo(const uint8_t *p, size_t n, void *o) { return wire_echo_decode(p, n, o); }

TEST(error_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    CHECK_OK(wire_error_encode(&b, CAIRN_NOTLEADER, "not leader", 10));
    /* i32 -1010 = 0xfffffc0e, str16 "not leader" */
    check_bytes(&b, "0efcffff 0a00 6e6f74206c6561646572");
    struct wire_error e;
    CHECK_OK(wire_error_decode(b.data, b.len, &e));
    CHECK_EQ(e.code, CAIRN_NOTLEADER);
    CHECK_EQ(e.msg_len, 10);
    CHECK_MEM_EQ(e.msg, "not leader", 10);
    check_truncations(b.data, b.len, dec_error);

    buf_reset(&b);
    CHECK_OK(wire_error_encode(&b, CAIRN_UNKNOWNTYPE, NULL, 0));
    check_bytes(&b, "10fcffff 0000");
    CHECK_OK(wire_error_decode(b.data, b.len, &e));
    CHECK_EQ(e.code, CAIRN_UNKNOWNTYPE);
    CHECK_EQ(e.msg_len, 0);
    CHECK(e.msg == NULL);
    buf_free(&b);
}

TEST(error_limits)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    char msg[WIRE_ERROR_MSG_MAX + 1];
    memset(msg, 'x', sizeof msg);
    /* A code that is not an error, and an overlong message: refused by the
     * encoder, which leaves the buffer as it was. */
    CHECK_OK(wire_error_encode(&b, CAIRN_EIO, "a", 1));
    size_t before = b.len;
    CHECK_EQ(wire_error_encode(&b, 0, "a", 1), CAIRN_EINVAL);
    CHECK_EQ(wire_error_encode(&b, 5, "a", 1), CAIRN_EINVAL);
    CHECK_EQ(wire_error_encode(&b, CAIRN_EIO, msg, WIRE_ERROR_MSG_MAX + 1), CAIRN_TOOBIG);
    CHECK_EQ(b.len, before);
    buf_reset(&b);
    CHECK_OK(wire_error_encode(&b, CAIRN_EIO, msg, WIRE_ERROR_MSG_MAX));
    struct wire_error e;
    CHECK_OK(wire_error_decode(b.data, b.len, &e));
    CHECK_EQ(e.msg_len, WIRE_ERROR_MSG_MAX);
    /* The same bytes claiming one more message byte (and carrying it). */
    CHECK_OK(buf_append(&b, "x", 1));
    b.data[4] = (uint8_t)((WIRE_ERROR_MSG_MAX + 1) & 0xff);
    b.data[5] = (uint8_t)((WIRE_ERROR_MSG_MAX + 1) >> 8);
    CHECK_EQ(wire_error_decode(b.data, b.len, &e), CAIRN_BADMSG);
    /* Hand-made hostile inputs: code 0 and a positive code. */
    size_t n;
    uint8_t *p = unhex("00000000 0000", &n);
    CHECK_EQ(wire_error_decode(p, n, &e), CAIRN_BADMSG);
    free(p);
    p = unhex("05000000 0000", &n);
    CHECK_EQ(wire_error_decode(p, n, &e), CAIRN_BADMSG);
    free(p);
    /* A length far past the bytes present. */
    p = unhex("fbffffff ffff 41", &n);
    CHECK_EQ(wire_error_decode(p, n, &e), CAIRN_BADMSG);
    free(p);
    p = unhex("fbffffff 0500 4142", &n);
    CHECK_EQ(wire_error_decode(p, n, &e), CAIRN_TRUNCATED);
    free(p);
    buf_free(&b);
}

TEST(hello_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_hello m = {.proto = WIRE_VERSION, .name = (const uint8_t *)"cli", .name_len = 3};
    fill_seq(m.client_nonce, WIRE_NONCE_SIZE, 0x00);
    CHECK_OK(wire_hello_encode(&b, &m));
    check_bytes(&b, "01000000 " NONCE_A " 0300 636c69");
    struct wire_hello d;
    CHECK_OK(wire_hello_decode(b.data, b.len, &d));
    CHECK_EQ(d.proto, 1);
    CHECK_MEM_EQ(d.client_nonce, m.client_nonce, WIRE_NONCE_SIZE);
    CHECK_EQ(d.name_len, 3);
    CHECK_MEM_EQ(d.name, "cli", 3);
    check_truncations(b.data, b.len, dec_hello);

    /* Any proto value decodes (the server judges it); an empty name too. */
    buf_reset(&b);
    m.proto = 0xdeadbeefu;
    m.name = NULL;
    m.name_len = 0;
    CHECK_OK(wire_hello_encode(&b, &m));
    check_bytes(&b, "efbeadde " NONCE_A " 0000");
    CHECK_OK(wire_hello_decode(b.data, b.len, &d));
    CHECK_EQ_U64(d.proto, 0xdeadbeefu);
    CHECK_EQ(d.name_len, 0);
    buf_free(&b);
}

TEST(hello_name_limit)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    char name[WIRE_CLIENT_NAME_MAX + 1];
    memset(name, 'n', sizeof name);
    struct wire_hello m = {.proto = WIRE_VERSION, .name = (const uint8_t *)name};
    m.name_len = WIRE_CLIENT_NAME_MAX + 1;
    CHECK_EQ(wire_hello_encode(&b, &m), CAIRN_TOOBIG);
    CHECK_EQ(b.len, 0);
    m.name_len = WIRE_CLIENT_NAME_MAX;
    CHECK_OK(wire_hello_encode(&b, &m));
    struct wire_hello d;
    CHECK_OK(wire_hello_decode(b.data, b.len, &d));
    CHECK_EQ(d.name_len, WIRE_CLIENT_NAME_MAX);
    /* Patch the length to 65 and supply the byte: over the limit. */
    CHECK_OK(buf_append(&b, "n", 1));
    b.data[36] = WIRE_CLIENT_NAME_MAX + 1;
    CHECK_EQ(wire_hello_decode(b.data, b.len, &d), CAIRN_BADMSG);
    buf_free(&b);
}

TEST(hello_reply_and_auth_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    struct wire_hello_reply r;
    fill_seq(r.server_nonce, WIRE_NONCE_SIZE, 0x20);
    fill_seq(r.server_proof, WIRE_MAC_SIZE, 0x40);
    CHECK_OK(wire_hello_reply_encode(&b, &r));
    check_bytes(&b, NONCE_B PROOF_C);
    struct wire_hello_reply rd;
    CHECK_OK(wire_hello_reply_decode(b.data, b.len, &rd));
    CHECK_MEM_EQ(&rd, &r, sizeof r);
    check_truncations(b.data, b.len, dec_hello_reply);

    buf_reset(&b);
    struct wire_auth a;
    fill_seq(a.client_proof, WIRE_MAC_SIZE, 0xa0);
    CHECK_OK(wire_auth_encode(&b, &a));
    check_bytes(&b, PROOF_D);
    struct wire_auth ad;
    CHECK_OK(wire_auth_decode(b.data, b.len, &ad));
    CHECK_MEM_EQ(ad.client_proof, a.client_proof, WIRE_MAC_SIZE);
    check_truncations(b.data, b.len, dec_auth);
    buf_free(&b);
}

TEST(echo_golden)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    CHECK_OK(wire_echo_encode(&b, "hi", 2));
    check_bytes(&b, "02000000 6869");
    struct wire_bytes d;
    CHECK_OK(wire_echo_decode(b.data, b.len, &d));
    CHECK_EQ(d.len, 2);
    CHECK_MEM_EQ(d.p, "hi", 2);
    check_truncations(b.data, b.len, dec_echo);
    buf_reset(&b);
    CHECK_OK(wire_echo_encode(&b, NULL, 0));
    check_bytes(&b, "00000000");
    CHECK_OK(wire_echo_decode(b.data, b.len, &d));
    CHECK_EQ(d.len, 0);
    buf_free(&b);
}

TEST(echo_limits)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    size_t big = WIRE_ECHO_DATA_MAX + 1;
    uint8_t *data = calloc(1, big);
    CHECK(data != NULL);
    CHECK_EQ(wire_echo_encode(&b, data, big), CAIRN_TOOBIG);
    CHECK_EQ(b.len, 0);
    CHECK_OK(wire_echo_encode(&b, data, big - 1));
    CHECK_EQ(b.len, CAIRN_FRAME_PAYLOAD_MAX);
    struct wire_bytes d;
    CHECK_OK(wire_echo_decode(b.data, b.len, &d));
    CHECK_EQ(d.len, WIRE_ECHO_DATA_MAX);
    free(data);
    buf_free(&b);
    /* A length over the limit is refused from the prefix alone, before any
     * byte of data is looked at; one within the limit but past the input
     * is a truncation. */
    size_t n;
    uint8_t *p = unhex("fdff3f00 00", &n); /* 4 MiB - 3 */
    CHECK_EQ(wire_echo_decode(p, n, &d), CAIRN_BADMSG);
    CHECK(d.p == NULL && d.len == 0);
    free(p);
    p = unhex("ffffffff", &n);
    CHECK_EQ(wire_echo_decode(p, n, &d), CAIRN_BADMSG);
    free(p);
    p = unhex("10000000 0102", &n);
    CHECK_EQ(wire_echo_decode(p, n, &d), CAIRN_TRUNCATED);
    free(p);
}

TEST(empty_payloads)
{
    /* AUTH_REPLY, PING, PING_REPLY: nothing, and nothing else. */
    uint8_t one = 0;
    CHECK_OK(wire_empty_decode(NULL, 0));
    CHECK_OK(wire_empty_decode(&one, 0));
    CHECK_EQ(wire_empty_decode(&one, 1), CAIRN_BADMSG);
}

/* Whole frames: the handshake's first frame and an error reply, with their
 * CRC32C, compared byte for byte, then parsed back. */
TEST(frames_golden)
{
    struct cairn_buf p, f;
    buf_init(&p, 0);
    buf_init(&f, 0);
    struct wire_hello m = {.proto = WIRE_VERSION, .name = (const uint8_t *)"cli", .name_len = 3};
    fill_seq(m.client_nonce, WIRE_NONCE_SIZE, 0);
    CHECK_OK(wire_hello_encode(&p, &m));
    CHECK_OK(wire_frame_encode(&f, WIRE_HELLO, 0, 0, p.data, p.len));
    check_bytes(&f, "4341524e 0100 0200 00000000 0000000000000000 29000000"
                    "01000000 " NONCE_A " 0300 636c69 9c9e38a5");
    struct wire_header h;
    const uint8_t *pl;
    size_t flen;
    CHECK_OK(wire_frame_parse(f.data, f.len, &h, &pl, &flen));
    CHECK_EQ(flen, f.len);
    CHECK_EQ(h.type, WIRE_HELLO);
    struct wire_hello d;
    CHECK_OK(wire_hello_decode(pl, h.len, &d));
    CHECK_MEM_EQ(d.name, "cli", 3);

    buf_reset(&p);
    buf_reset(&f);
    CHECK_OK(wire_error_encode(&p, CAIRN_UNKNOWNTYPE, "nope", 4));
    CHECK_OK(
        wire_frame_encode(&f, WIRE_ERROR, WIRE_FLAG_REPLY | WIRE_FLAG_ERROR, 7, p.data, p.len));
    check_bytes(&f, "4341524e 0100 0100 03000000 0700000000000000 0a000000"
                    "10fcffff 0400 6e6f7065 2f2c8c3f");
    buf_free(&p);
    buf_free(&f);
}

/* Random messages survive encode/decode unchanged. */
TEST(round_trips)
{
    struct prng *r = test_rng();
    struct cairn_buf b;
    buf_init(&b, 0);
    uint8_t data[2048];
    for (int i = 0; i < 2000; i++) {
        buf_reset(&b);
        size_t len = (size_t)prng_below(r, sizeof data);
        prng_fill(r, data, len);
        int32_t code = -(int32_t)prng_range(r, 1, 0x7fffffff);
        size_t ml = CAIRN_MIN(len, (size_t)WIRE_ERROR_MSG_MAX);
        CHECK_OK(wire_error_encode(&b, code, data, ml));
        struct wire_error e;
        CHECK_OK(wire_error_decode(b.data, b.len, &e));
        CHECK_EQ(e.code, code);
        CHECK_EQ(e.msg_len, ml);
        CHECK(ml == 0 || memcmp(e.msg, data, ml) == 0);

        buf_reset(&b);
        struct wire_hello h = {.proto = (uint32_t)prng_next(r), .name = data};
        h.name_len = (uint16_t)CAIRN_MIN(len, (size_t)WIRE_CLIENT_NAME_MAX);
        prng_fill(r, h.client_nonce, WIRE_NONCE_SIZE);
        CHECK_OK(wire_hello_encode(&b, &h));
        struct wire_hello hd;
        CHECK_OK(wire_hello_decode(b.data, b.len, &hd));
        CHECK_EQ_U64(hd.proto, h.proto);
        CHECK_MEM_EQ(hd.client_nonce, h.client_nonce, WIRE_NONCE_SIZE);
        CHECK_EQ(hd.name_len, h.name_len);
        CHECK(h.name_len == 0 || memcmp(hd.name, data, h.name_len) == 0);

        buf_reset(&b);
        CHECK_OK(wire_echo_encode(&b, data, len));
        CHECK_EQ(b.len, len + 4);
        struct wire_bytes eb;
        CHECK_OK(wire_echo_decode(b.data, b.len, &eb));
        CHECK_EQ(eb.len, len);
        CHECK(len == 0 || memcmp(eb.p, data, len) == 0);
    }
    buf_free(&b);
}

/* Random bytes never crash a decoder, and whatever decodes re-encodes to
 * the same bytes (the encoding is canonical). */
TEST(random_inputs)
{
    struct prng *r = test_rng();
    struct cairn_buf b;
    buf_init(&b, 0);
    uint8_t in[200];
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)prng_below(r, sizeof in);
        prng_fill(r, in, n);
        if (n >= 6 && prng_chance(r, 1, 2)) /* plausible lengths now and then */
            in[4] = (uint8_t)(n - 6), in[5] = 0;
        struct wire_error e;
        if (wire_error_decode(in, n, &e) == 0) {
            buf_reset(&b);
            CHECK_OK(wire_error_encode(&b, e.code, e.msg, e.msg_len));
            CHECK(b.len == n && memcmp(b.data, in, n) == 0);
        }
        struct wire_bytes eb;
        if (wire_echo_decode(in, n, &eb) == 0) {
            buf_reset(&b);
            CHECK_OK(wire_echo_encode(&b, eb.p, eb.len));
            CHECK(b.len == n && memcmp(b.data, in, n) == 0);
        }
        struct wire_hello h;
        if (wire_hello_decode(in, n, &h) == 0) {
            buf_reset(&b);
            CHECK_OK(wire_hello_encode(&b, &h));
            CHECK(b.len == n && memcmp(b.data, in, n) == 0);
        }
    }
    buf_free(&b);
}
