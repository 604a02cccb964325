/*
 * frame.h: the frame every cairn message travels in.
 *
 * Layout (little-endian), WIRE_HEADER_SIZE = 24 bytes, then the payload,
 * then a CRC32C over header and payload:
 *
 *   off size field
 *   0   4    magic        0x4e524143 ("CARN" in memory order)
 *   4   2    version      WIRE_VERSION
 *   6   2    type         enum wire_type (wire.h)
 *   8   4    flags        WIRE_FLAG_*
 *   12  8    request id   chosen by the requester, echoed by the reply
 *   20  4    payload len  0..CAIRN_FRAME_PAYLOAD_MAX
 *   24  len  payload
 *   24+len 4 crc32c       of bytes [0, 24+len)
 *
 * Parsing is incremental: wire_frame_parse() looks at the bytes received so
 * far and says "need more", "here is a frame of N bytes", or why the stream is
 * broken. A header is judged (magic, version, length) as soon as its 24 bytes
 * are present, so an oversize frame is refused before its payload arrives.
 * Pure functions; no allocation.
 */
#ifndef CAIRN_WIRE_FRAME_H
#define CAIRN_WIRE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define WIRE_MAGIC 0x4e524143u
#define WIRE_VERSION 1u
#define WIRE_HEADER_SIZE 24u
#define WIRE_TRAILER_SIZE 4u

/* Flags: a reply carries WIRE_FLAG_REPLY; an error reply also WIRE_FLAG_ERROR
 * and a payload laid out as WIRE_ERROR (wire.h): i32 code, str16 message. */
#define WIRE_FLAG_REPLY 0x1u
#define WIRE_FLAG_ERROR 0x2u
#define WIRE_FLAGS_KNOWN (WIRE_FLAG_REPLY | WIRE_FLAG_ERROR)

struct wire_header {
    uint16_t version;
    uint16_t type;
    uint32_t flags;
    uint64_t req_id;
    uint32_t len;
};

/* Append a whole frame (header, payload, crc) to out. 0, CAIRN_TOOBIG or
 * CAIRN_ENOMEM. */
int wire_frame_encode(struct cairn_buf *out, uint16_t type, uint32_t flags, uint64_t req_id,
                      const void *payload, size_t len);

/* Parse the start of p[0..n).
 *   returns 0 and sets *frame_len = 0 if more bytes are needed;
 *   returns 0 and sets *frame_len > 0, *h, *payload when a whole frame with a
 *     good CRC is present (payload points into p);
 *   returns CAIRN_BADMAGIC, CAIRN_BADVERSION, CAIRN_TOOBIG, CAIRN_BADCRC or
 *     CAIRN_BADMSG (unknown flag bits) when the stream is broken. */
int wire_frame_parse(const uint8_t *p, size_t n, struct wire_header *h, const uint8_t **payload,
                     size_t *frame_len);

#endif
