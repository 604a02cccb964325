/*
 * codec.h: bounds-checked little-endian encoding and decoding.
 *
 * Encoding appends to a cairn_buf; a failure (limit reached, out of memory)
 * is sticky in enc->err, so a message is built with a run of puts and one
 * check at the end. Decoding reads from a byte range it never leaves: every
 * get checks the bytes present first; on a short or malformed input the
 * decoder's err becomes CAIRN_TRUNCATED / CAIRN_BADMSG, every later get
 * returns zeros, and the caller checks dec->err once. Nothing here allocates
 * while decoding: byte strings are returned as pointers into the input.
 * Not thread safe per object; no global state.
 */
#ifndef CAIRN_WIRE_CODEC_H
#define CAIRN_WIRE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct wire_enc {
    struct cairn_buf *b;
    int err;
};

struct wire_dec {
    const uint8_t *p;
    size_t len;
    size_t off;
    int err;
};

struct wire_bytes {
    const uint8_t *p;
    uint32_t len;
};

void wire_enc_init(struct wire_enc *e, struct cairn_buf *b);
void wire_put_u8(struct wire_enc *e, uint8_t v);
void wire_put_u16(struct wire_enc *e, uint16_t v);
void wire_put_u32(struct wire_enc *e, uint32_t v);
void wire_put_u64(struct wire_enc *e, uint64_t v);
/* Raw bytes, no length prefix. */
void wire_put_raw(struct wire_enc *e, const void *p, size_t n);
/* u32 length, then the bytes. */
void wire_put_bytes(struct wire_enc *e, const void *p, size_t n);
/* A file name: u8 length (1..255), then the bytes. Fails with CAIRN_EINVAL
 * for an empty name or one holding '/' or NUL, CAIRN_ENAMETOOLONG above 255. */
void wire_put_name(struct wire_enc *e, const void *p, size_t n);
/* u16 length then bytes (short strings: addresses, labels, lock names). */
void wire_put_str16(struct wire_enc *e, const void *p, size_t n);

void wire_dec_init(struct wire_dec *d, const void *p, size_t len);
uint8_t wire_get_u8(struct wire_dec *d);
uint16_t wire_get_u16(struct wire_dec *d);
uint32_t wire_get_u32(struct wire_dec *d);
uint64_t wire_get_u64(struct wire_dec *d);
/* n raw bytes; NULL (and err set) if fewer are present. */
const uint8_t *wire_get_raw(struct wire_dec *d, size_t n);
/* u32 length-prefixed bytes, at most max bytes (else CAIRN_BADMSG). */
struct wire_bytes wire_get_bytes(struct wire_dec *d, uint32_t max);
/* A name as wire_put_name checks it (CAIRN_BADMSG if invalid). */
struct wire_bytes wire_get_name(struct wire_dec *d);
struct wire_bytes wire_get_str16(struct wire_dec *d, uint16_t max);
/* CAIRN_BADMSG if bytes remain unread (a message must be consumed whole). */
int wire_dec_finish(struct wire_dec *d);
static inline size_t wire_dec_left(const struct wire_dec *d) { return d->len - d->off; }

/* 0 if p[0..n) is a valid file name (1..255 bytes, no '/', no NUL). */
int wire_name_check(const void *p, size_t n);

/* Little-endian loads and stores on raw memory. */
static inline void wire_store_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void wire_store_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void wire_store_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t wire_load_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}
static inline uint32_t wire_load_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline uint64_t wire_load_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#endif
