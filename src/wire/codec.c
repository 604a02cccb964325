/* codec.c: sticky-error encoder and bounds-checked decoder. */
#include "wire/codec.h"

#include <string.h>

#include "cairn_errors.h"
#include "common/limits.h"

void wire_enc_init(struct wire_enc *e, struct cairn_buf *b)
{
    e->b = b;
    e->err = 0;
}

void wire_put_raw(struct wire_enc *e, const void *p, size_t n)
{
    if (e->err)
        return;
    int rc = buf_append(e->b, p, n);
    if (rc)
        e->err = rc;
}

void wire_put_u8(struct wire_enc *e, uint8_t v) { wire_put_raw(e, &v, 1); }

void wire_put_u16(struct wire_enc *e, uint16_t v)
{
    uint8_t t[2];
    wire_store_u16(t, v);
    wire_put_raw(e, t, 2);
}

void wire_put_u32(struct wire_enc *e, uint32_t v)
{
    uint8_t t[4];
    wire_store_u32(t, v);
    wire_put_raw(e, t, 4);
}

void wire_put_u64(struct wire_enc *e, uint64_t v)
{
    uint8_t t[8];
    wire_store_u64(t, v);
    wire_put_raw(e, t, 8);
}

void wire_put_bytes(struct wire_enc *e, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        if (!e->err)
            e->err = CAIRN_TOOBIG;
        return;
    }
    wire_put_u32(e, (uint32_t)n);
    wire_put_raw(e, p, n);
}

int wire_name_check(const void *p, size_t n)
{
    if (n == 0)
        return CAIRN_EINVAL;
    if (n > CAIRN_NAME_MAX)
        return CAIRN_ENAMETOOLONG;
    if (memchr(p, '/', n) || memchr(p, '\0', n))
        return CAIRN_EINVAL;
    return 0;
}

void wire_put_name(struct wire_enc *e, const void *p, size_t n)
{
    int rc = wire_name_check(p, n);
    if (rc) {
        if (!e->err)
            e->err = rc;
        return;
    }
    wire_put_u8(e, (uint8_t)n);
    wire_put_raw(e, p, n);
}

void wire_put_str16(struct wire_enc *e, const void *p, size_t n)
{
    if (n > UINT16_MAX) {
        if (!e->err)
            e->err = CAIRN_TOOBIG;
        return;
    }
    wire_put_u16(e, (uint16_t)n);
    wire_put_raw(e, p, n);
}

void wire_dec_init(struct wire_dec *d, const void *p, size_t len)
{
    d->p = p;
    d->len = len;
    d->off = 0;
    d->err = 0;
}

const uint8_t *wire_get_raw(struct wire_dec *d, size_t n)
{
    if (d->err)
        return NULL;
    if (n > d->len - d->off) {
        d->err = CAIRN_TRUNCATED;
        return NULL;
    }
    const uint8_t *p = d->p + d->off;
    d->off += n;
    return p;
}

uint8_t wire_get_u8(struct wire_dec *d)
{
    const uint8_t *p = wire_get_raw(d, 1);
    return p ? p[0] : 0;
}

uint16_t wire_get_u16(struct wire_dec *d)
{
    const uint8_t *p = wire_get_raw(d, 2);
    return p ? wire_load_u16(p) : 0;
}

uint32_t wire_get_u32(struct wire_dec *d)
{
    const uint8_t *p = wire_get_raw(d, 4);
    return p ? wire_load_u32(p) : 0;
}

uint64_t wire_get_u64(struct wire_dec *d)
{
    const uint8_t *p = wire_get_raw(d, 8);
    return p ? wire_load_u64(p) : 0;
}

struct wire_bytes wire_get_bytes(struct wire_dec *d, uint32_t max)
{
    struct wire_bytes b = {NULL, 0};
    uint32_t n = wire_get_u32(d);
    if (d->err)
        return b;
    if (n > max) {
        d->err = CAIRN_BADMSG;
        return b;
    }
    const uint8_t *p = wire_get_raw(d, n);
    if (p) {
        b.p = p;
        b.len = n;
    }
    return b;
}

struct wire_bytes wire_get_name(struct wire_dec *d)
{
    struct wire_bytes b = {NULL, 0};
    uint8_t n = wire_get_u8(d);
    const uint8_t *p = wire_get_raw(d, n);
    if (!p)
        return b;
    if (wire_name_check(p, n)) {
        d->err = CAIRN_BADMSG;
        return b;
    }
    b.p = p;
    b.len = n;
    return b;
}

struct wire_bytes wire_get_str16(struct wire_dec *d, uint16_t max)
{
    struct wire_bytes b = {NULL, 0};
    uint16_t n = wire_get_u16(d);
    if (d->err)
        return b;
    if (n > max) {
        d->err = CAIRN_BADMSG;
        return b;
    }
    const uint8_t *p = wire_get_raw(d, n);
    if (p) {
        b.p = p;
        b.len = n;
    }
    return b;
}

int wire_dec_finish(struct wire_dec *d)
{
    if (d->err)
        return d->err;
    if (d->off != d->len)
        d->err = CAIRN_BADMSG;
    return d->err;
}
