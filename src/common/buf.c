/* buf.c: growable byte buffer with a hard limit. */
#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"

void buf_init(struct cairn_buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit ? limit : SIZE_MAX / 2;
}

void buf_free(struct cairn_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int buf_reserve(struct cairn_buf *b, size_t extra)
{
    if (extra > b->limit || b->len > b->limit - extra)
        return CAIRN_TOOBIG;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > b->limit / 2 ? b->limit : cap * 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return CAIRN_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct cairn_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

uint8_t *buf_extend(struct cairn_buf *b, size_t n)
{
    if (buf_reserve(b, n))
        return NULL;
    uint8_t *p = b->data + b->len;
    memset(p, 0, n);
    b->len += n;
    return p;
}

void buf_consume(struct cairn_buf *b, size_t n)
{
    CAIRN_ASSERT(n <= b->len);
    if (n < b->len)
        memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void buf_reset(struct cairn_buf *b) { b->len = 0; }

uint8_t *buf_steal(struct cairn_buf *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
