/*
 * buf.h: a growable byte buffer.
 *
 * The buffer owns its memory (malloc/realloc). Growth is bounded by `limit`
 * (0 = no limit other than SIZE_MAX/2): appending past it fails with
 * CAIRN_TOOBIG and leaves the buffer unchanged, so a peer cannot make a
 * server allocate without bound. Not thread safe: one owner at a time.
 */
#ifndef CAIRN_COMMON_BUF_H
#define CAIRN_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct cairn_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit;
};

void buf_init(struct cairn_buf *b, size_t limit);
void buf_free(struct cairn_buf *b);
/* Make room for `extra` more bytes; 0, CAIRN_ENOMEM or CAIRN_TOOBIG. */
int buf_reserve(struct cairn_buf *b, size_t extra);
int buf_append(struct cairn_buf *b, const void *p, size_t n);
/* Append n zero bytes and return a pointer to them (NULL on failure). */
uint8_t *buf_extend(struct cairn_buf *b, size_t n);
/* Drop the first n bytes (n <= len), moving the rest to the front. */
void buf_consume(struct cairn_buf *b, size_t n);
void buf_reset(struct cairn_buf *b);
/* Give the memory to the caller (who frees it) and reset the buffer. */
uint8_t *buf_steal(struct cairn_buf *b, size_t *len);

#endif
