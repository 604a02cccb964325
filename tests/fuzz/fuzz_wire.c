/*
 * fuzz_wire.c: libFuzzer target for every decoder of src/wire.
 *
 * One input is used three ways:
 *   1. as a byte stream: wire_frame_parse() is applied repeatedly, frame
 *      after frame, until it needs more bytes or refuses the stream; each
 *      frame it accepts must re-encode to the same bytes, one byte less of
 *      it must read as "need more", and its payload goes through step 3;
 *   2. as a stream again, after setting the CRC of each frame-shaped piece
 *      right, so mutated headers and payloads reach what lies behind the CRC;
 *      and whole, as a payload (step 3);
 *   3. a payload is given to every message decoder (WIRE_RAFT, the
 *      connection-layer ones of msg_rpc.h and the metadata-service ones of
 *      msg_meta.h): a decoder either refuses it with
 *      a protocol error or accepts it, and then re-encoding the result must
 *      give back exactly the payload (one encoding per message).
 * Any broken expectation aborts (CAIRN_ASSERT), which libFuzzer reports as
 * a crash with the input saved. Seeds: tests/fuzz/corpus/fuzz_wire, produced
 * by tests/unit/test_wire.c (fuzz_corpus_current).
 *
 *   make fuzz && mkdir -p /tmp/fw && build/fuzz/fuzz_wire -max_total_time=20 \
 *       /tmp/fw tests/fuzz/corpus/fuzz_wire
 * (new inputs go to the first directory: keep the committed corpus small.)
 */
#include <stdint.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/limits.h"
#include "wire/codec.h"
#include "wire/frame.h"
#include "wire/msg_meta.h"
#include "wire/msg_raft.h"
#include "wire/msg_rpc.h"
#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The only errors a decoder may return for bad bytes. */
static int is_decode_error(int rc)
{
    return rc == CAIRN_TRUNCATED || rc == CAIRN_BADMSG || rc == CAIRN_ENOMEM;
}

/* out must hold exactly p[0..n). */
static void check_same(const struct cairn_buf *out, const uint8_t *p, size_t n)
{
    CAIRN_ASSERTF(out->len == n, "re-encoded %zu bytes, input %zu", out->len, n);
    CAIRN_ASSERT(n == 0 || memcmp(out->data, p, n) == 0);
}

static int within(const uint8_t *q, size_t len, const uint8_t *p, size_t n)
{
    return len == 0 || (q >= p && len <= n && q <= p + (n - len));
}

static void fuzz_raft(const uint8_t *p, size_t n, struct cairn_buf *out)
{
    struct raft_msg m;
    int rc = wire_raft_msg_decode(p, n, &m);
    if (rc) {
        CAIRN_ASSERTF(is_decode_error(rc), "raft decode returned %d", rc);
        CAIRN_ASSERT(m.entries == NULL && m.snapshot == NULL && m.n_entries == 0);
        return;
    }
    /* Decoded data points into the input, and nowhere else. */
    for (uint32_t i = 0; i < m.n_entries; i++)
        CAIRN_ASSERT(within(m.entries[i].data, m.entries[i].len, p, n));
    if (m.snapshot)
        CAIRN_ASSERT(within(m.snapshot->data, m.snapshot->len, p, n));
    CAIRN_ASSERT(wire_raft_msg_size(&m) == n);
    buf_reset(out);
    CAIRN_ASSERT(wire_raft_msg_encode(out, &m) == 0);
    check_same(out, p, n);
    wire_raft_msg_free(&m);
}

/* The connection-layer decoders of msg_rpc.h, each followed by its encoder
 * when it accepts. */
static void fuzz_rpc(const uint8_t *p, size_t n, struct cairn_buf *out)
{
    struct wire_error er;
    int rc = wire_error_decode(p, n, &er);
    CAIRN_ASSERT(rc == 0 || is_decode_error(rc));
    if (rc == 0) {
        CAIRN_ASSERT(er.code < 0 && within(er.msg, er.msg_len, p, n));
        buf_reset(out);
        CAIRN_ASSERT(wire_error_encode(out, er.code, er.msg, er.msg_len) == 0);
        check_same(out, p, n);
    }
    struct wire_hello he;
    rc = wire_hello_decode(p, n, &he);
    CAIRN_ASSERT(rc == 0 || is_decode_error(rc));
    if (rc == 0) {
        CAIRN_ASSERT(he.name_len <= WIRE_CLIENT_NAME_MAX && within(he.name, he.name_len, p, n));
        buf_reset(out);
        CAIRN_ASSERT(wire_hello_encode(out, &he) == 0);
        check_same(out, p, n);
    }
    struct wire_hello_reply hr;
    rc = wire_hello_reply_decode(p, n, &hr);
    CAIRN_ASSERT(rc == 0 || is_decode_error(rc));
    if (rc == 0) {
        buf_reset(out);
        CAIRN_ASSERT(wire_hello_reply_encode(out, &hr) == 0);
        check_same(out, p, n);
    }
    struct wire_auth au;
    rc = wire_auth_decode(p, n, &au);
    CAIRN_ASSERT(rc == 0 || is_decode_error(rc));
    if (rc == 0) {
        buf_reset(out);
        CAIRN_ASSERT(wire_auth_encode(out, &au) == 0);
        check_same(out, p, n);
    }
    struct wire_bytes echo;
    rc = wire_echo_decode(p, n, &echo);
    CAIRN_ASSERT(rc == 0 || is_decode_error(rc));
    if (rc == 0) {
        CAIRN_ASSERT(within(echo.p, echo.len, p, n));
        buf_reset(out);
        CAIRN_ASSERT(wire_echo_encode(out, echo.p, echo.len) == 0);
        check_same(out, p, n);
    }
    rc = wire_empty_decode(p, n);
    CAIRN_ASSERT(rc == (n == 0 ? 0 : CAIRN_BADMSG));
}

/* The metadata-service decoders of msg_meta.h, each followed by its
 * encoder when it accepts. */
static void fuzz_meta(const uint8_t *p, size_t n, struct cairn_buf *out)
{
    struct wire_bytes b;
    int rc = wire_meta_bytes_decode(p, n, &b);
    CAIRN_ASSERT(rc == 0 || is_decode_error(rc));
    if (rc == 0) {
        CAIRN_ASSERT(within(b.p, b.len, p, n));
        buf_reset(out);
        CAIRN_ASSERT(wire_meta_bytes_encode(out, b.p, b.len) == 0);
        check_same(out, p, n);
    }
    struct wire_meta_cmd_reply cr;
    rc = wire_meta_cmd_reply_decode(p, n, &cr);
    CAIRN_ASSERT(rc == 0 || is_decode_error(rc));
    if (rc == 0) {
        buf_reset(out);
        CAIRN_ASSERT(wire_meta_cmd_reply_encode(out, &cr) == 0);
        check_same(out, p, n);
    }
    static struct wire_meta_status st;
    rc = wire_meta_status_decode(p, n, &st);
    CAIRN_ASSERT(rc == 0 || is_decode_error(rc));
    if (rc == 0) {
        buf_reset(out);
        CAIRN_ASSERT(wire_meta_status_encode(out, &st) == 0);
        check_same(out, p, n);
    }
    struct wire_meta_member_req mr;
    rc = wire_meta_member_decode(p, n, &mr);
    CAIRN_ASSERT(rc == 0 || is_decode_error(rc));
    if (rc == 0) {
        buf_reset(out);
        CAIRN_ASSERT(wire_meta_member_encode(out, &mr) == 0);
        check_same(out, p, n);
    }
    uint64_t v;
    rc = wire_meta_u64_decode(p, n, &v);
    CAIRN_ASSERT(rc == (n == 8 ? 0 : (n < 8 ? CAIRN_TRUNCATED : CAIRN_BADMSG)));
    struct wire_snap_chunk ch;
    rc = wire_snap_chunk_decode(p, n, &ch);
    CAIRN_ASSERT(rc == 0 || is_decode_error(rc));
    if (rc == 0) {
        CAIRN_ASSERT(within(ch.piece.p, ch.piece.len, p, n));
        buf_reset(out);
        CAIRN_ASSERT(wire_snap_chunk_encode(out, &ch) == 0);
        check_same(out, p, n);
    }
}

static void fuzz_payload(const uint8_t *p, size_t n, struct cairn_buf *out)
{
    fuzz_raft(p, n, out);
    fuzz_rpc(p, n, out);
    fuzz_meta(p, n, out);
}

/* Frames one after another, as a connection's read buffer sees them. */
static void fuzz_stream(const uint8_t *p, size_t n, struct cairn_buf *out)
{
    size_t off = 0;
    while (off < n) {
        struct wire_header h;
        const uint8_t *payload = NULL;
        size_t flen = 1;
        int rc = wire_frame_parse(p + off, n - off, &h, &payload, &flen);
        if (rc) {
            CAIRN_ASSERT(rc == CAIRN_BADMAGIC || rc == CAIRN_BADVERSION || rc == CAIRN_TOOBIG ||
                         rc == CAIRN_BADCRC || rc == CAIRN_BADMSG);
            CAIRN_ASSERT(flen == 0);
            return;
        }
        if (flen == 0)
            return; /* needs more bytes than the input has */
        CAIRN_ASSERT(flen <= n - off);
        CAIRN_ASSERT(flen == WIRE_HEADER_SIZE + (size_t)h.len + WIRE_TRAILER_SIZE);
        CAIRN_ASSERT(payload == p + off + WIRE_HEADER_SIZE);
        CAIRN_ASSERT((h.flags & ~WIRE_FLAGS_KNOWN) == 0 && h.version == WIRE_VERSION);
        buf_reset(out);
        CAIRN_ASSERT(wire_frame_encode(out, h.type, h.flags, h.req_id, payload, h.len) == 0);
        check_same(out, p + off, flen);
        /* Any shorter prefix of a good frame is "need more", never an error. */
        size_t shorter = 1;
        CAIRN_ASSERT(wire_frame_parse(p + off, flen - 1, &h, &payload, &shorter) == 0);
        CAIRN_ASSERT(shorter == 0);
        fuzz_payload(p + off + WIRE_HEADER_SIZE, flen - WIRE_HEADER_SIZE - WIRE_TRAILER_SIZE, out);
        off += flen;
    }
}

/* A copy of the input with the CRC of every frame-shaped piece set right,
 * so that mutated headers and payloads get past the CRC check (a fuzzer
 * almost never guesses a CRC) and reach the checks and decoders behind it. */
static void fuzz_stream_crc_fixed(const uint8_t *p, size_t n, struct cairn_buf *out)
{
    struct cairn_buf copy;
    buf_init(&copy, 0);
    if (n == 0 || buf_append(&copy, p, n) != 0) {
        buf_free(&copy);
        return;
    }
    uint8_t *q = copy.data;
    size_t off = 0;
    while (n - off >= WIRE_HEADER_SIZE) {
        uint32_t len = wire_load_u32(q + off + 20);
        if (len > CAIRN_FRAME_PAYLOAD_MAX ||
            n - off - WIRE_HEADER_SIZE < (size_t)len + WIRE_TRAILER_SIZE)
            break;
        size_t body = WIRE_HEADER_SIZE + (size_t)len;
        wire_store_u32(q + off + body, crc32c(0, q + off, body));
        off += body + WIRE_TRAILER_SIZE;
    }
    fuzz_stream(q, n, out);
    buf_free(&copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cairn_buf out;
    buf_init(&out, 0);
    fuzz_stream(data, size, &out);
    fuzz_stream_crc_fixed(data, size, &out);
    fuzz_payload(data, size, &out);
    buf_free(&out);
    return 0;
}
