/*
 * fuzz_chunk_wire.c: libFuzzer target for the chunk-server message decoders
 * of src/wire/msg_chunk.h. Every input is given to every decoder: each either
 * refuses it with a protocol error or accepts it, and then re-encoding the
 * result must give back exactly the input (the decoders are canonical).
 * Any broken expectation aborts (CAIRN_ASSERT), which libFuzzer reports as a
 * crash with the input saved. Seeds: tests/fuzz/corpus/fuzz_chunk_wire (the
 * golden payloads of tests/unit/test_wire_chunk.c).
 *
 *   make fuzz && mkdir -p /tmp/fc && build/fuzz/fuzz_chunk_wire -max_total_time=20 \
 *       /tmp/fc tests/fuzz/corpus/fuzz_chunk_wire
 */
#include <stdint.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/buf.h"
#include "wire/msg_chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rc(int rc)
{
    CAIRN_ASSERTF(rc == 0 || rc == CAIRN_TRUNCATED || rc == CAIRN_BADMSG, "decoder returned %d",
                  rc);
}

static void check_same(struct cairn_buf *out, int rc, const uint8_t *p, size_t n)
{
    CAIRN_ASSERTF(rc == 0, "re-encoding an accepted message failed: %d", rc);
    CAIRN_ASSERTF(out->len == n, "re-encoded %zu bytes, input %zu", out->len, n);
    CAIRN_ASSERT(n == 0 || memcmp(out->data, p, n) == 0);
    buf_reset(out);
}

/* Decode with dec into m; if accepted, re-encode with enc and compare. */
#define ROUND(type, dec, enc)                     \
    do {                                          \
        type m_;                                  \
        int rc_ = dec(p, n, &m_);                 \
        check_rc(rc_);                            \
        if (rc_ == 0)                             \
            check_same(out, enc(out, &m_), p, n); \
    } while (0)

static int hb_reply_reencode(struct cairn_buf *out, const struct wire_chunk_hb_reply *m)
{
    struct wire_chunk_hb_reply_enc e;
    wire_chunk_hb_reply_begin(&e, out, m->flags);
    struct wire_chunk_cmd c;
    for (size_t off = 0; wire_chunk_hb_reply_next(m, &off, &c);)
        wire_chunk_hb_reply_add(&e, &c);
    return wire_chunk_hb_reply_end(&e);
}

static int u32_reencode(struct cairn_buf *out, const uint32_t *v)
{
    return wire_chunk_u32_encode(out, *v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t n = size;
    struct cairn_buf b;
    buf_init(&b, 0);
    struct cairn_buf *out = &b;
    ROUND(struct wire_chunk_register, wire_chunk_register_decode, wire_chunk_register_encode);
    ROUND(struct wire_chunk_register_reply, wire_chunk_register_reply_decode,
          wire_chunk_register_reply_encode);
    ROUND(struct wire_chunk_heartbeat, wire_chunk_heartbeat_decode, wire_chunk_heartbeat_encode);
    ROUND(struct wire_chunk_hb_reply, wire_chunk_hb_reply_decode, hb_reply_reencode);
    ROUND(struct wire_chunk_report, wire_chunk_report_decode, wire_chunk_report_encode);
    ROUND(uint32_t, wire_chunk_u32_decode, u32_reencode);
    ROUND(struct wire_chunk_write, wire_chunk_write_decode, wire_chunk_write_encode);
    ROUND(struct wire_chunk_write_reply, wire_chunk_write_reply_decode,
          wire_chunk_write_reply_encode);
    ROUND(struct wire_chunk_read, wire_chunk_read_decode, wire_chunk_read_encode);
    ROUND(struct wire_chunk_read_reply, wire_chunk_read_reply_decode, wire_chunk_read_reply_encode);
    ROUND(struct wire_chunk_status, wire_chunk_status_decode, wire_chunk_status_encode);
    ROUND(struct wire_chunk_drain, wire_chunk_drain_decode, wire_chunk_drain_encode);
    buf_free(&b);
    return 0;
}
