/* frame.c: frame encoding and incremental parsing. */
#include "wire/frame.h"

#include "cairn_errors.h"
#include "common/crc32c.h"
#include "common/limits.h"
#include "wire/codec.h"

_Static_assert(WIRE_HEADER_SIZE == 4 + 2 + 2 + 4 + 8 + 4, "header layout");

int wire_frame_encode(struct cairn_buf *out, uint16_t type, uint32_t flags, uint64_t req_id,
                      const void *payload, size_t len)
{
    if (len > CAIRN_FRAME_PAYLOAD_MAX)
        return CAIRN_TOOBIG;
    size_t start = out->len;
    uint8_t *h = buf_extend(out, WIRE_HEADER_SIZE);
    if (!h)
        return CAIRN_ENOMEM;
    wire_store_u32(h, WIRE_MAGIC);
    wire_store_u16(h + 4, WIRE_VERSION);
    wire_store_u16(h + 6, type);
    wire_store_u32(h + 8, flags);
    wire_store_u64(h + 12, req_id);
    wire_store_u32(h + 20, (uint32_t)len);
    int rc = buf_append(out, payload, len);
    if (rc == 0) {
        uint8_t t[4];
        wire_store_u32(t, crc32c(0, out->data + start, WIRE_HEADER_SIZE + len));
        rc = buf_append(out, t, 4);
    }
    if (rc)
        out->len = start; /* leave the buffer as it was */
    return rc;
}

int wire_frame_parse(const uint8_t *p, size_t n, struct wire_header *h, const uint8_t **payload,
                     size_t *frame_len)
{
    *frame_len = 0;
    /* Judge the magic from the first byte on, so garbage is refused early. */
    for (size_t i = 0; i < 4 && i < n; i++)
        if (p[i] != (uint8_t)(WIRE_MAGIC >> (8 * i)))
            return CAIRN_BADMAGIC;
    if (n < WIRE_HEADER_SIZE)
        return 0;
    h->version = wire_load_u16(p + 4);
    h->type = wire_load_u16(p + 6);
    h->flags = wire_load_u32(p + 8);
    h->req_id = wire_load_u64(p + 12);
    h->len = wire_load_u32(p + 20);
    if (h->version != WIRE_VERSION)
        return CAIRN_BADVERSION;
    if (h->len > CAIRN_FRAME_PAYLOAD_MAX)
        return CAIRN_TOOBIG;
    if (h->flags & ~WIRE_FLAGS_KNOWN)
        return CAIRN_BADMSG;
    size_t total = WIRE_HEADER_SIZE + (size_t)h->len + WIRE_TRAILER_SIZE;
    if (n < total)
        return 0;
    uint32_t want = wire_load_u32(p + WIRE_HEADER_SIZE + h->len);
    if (crc32c(0, p, WIRE_HEADER_SIZE + h->len) != want)
        return CAIRN_BADCRC;
    *payload = p + WIRE_HEADER_SIZE;
    *frame_len = total;
    return 0;
}
