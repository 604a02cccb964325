/* format.c: the chunk file header, names and block checksums (pure; see
 * format.h). */
#include "chunk/format.h"

#include <stdio.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "wire/codec.h"

/* Field offsets inside the 64-byte header. */
#define HDR_MAGIC 0u
#define HDR_FORMAT 8u
#define HDR_BLOCK_SIZE 12u
#define HDR_ID 16u
#define HDR_VERSION 24u
#define HDR_LENGTH 32u
#define HDR_STATE 40u
#define HDR_FLAGS 44u
#define HDR_BASE 48u
#define HDR_SEQ 56u
#define HDR_CRC 60u

/* CRC32C of CAIRN_BLOCK_SIZE zero bytes. A constant of the format (the unit
 * test recomputes it), so no caller pays for a 64 KiB CRC to learn what a
 * hole's entry is. */
#define CHUNK_CRC_ZERO_BLOCK 0x72C0C4A4u

void chunk_hdr_encode(const struct chunk_hdr *h, uint8_t out[CHUNK_HDR_SIZE])
{
    CAIRN_ASSERT(h->version != 0 && h->length <= CAIRN_CHUNK_SIZE);
    CAIRN_ASSERT(h->state == CHUNK_STATE_STAGED || h->state == CHUNK_STATE_COMMITTED);
    CAIRN_ASSERT((h->flags & ~CHUNK_HDR_FLAGS_KNOWN) == 0);
    memset(out, 0, CHUNK_HDR_SIZE);
    memcpy(out + HDR_MAGIC, CHUNK_MAGIC, 8);
    wire_store_u32(out + HDR_FORMAT, CHUNK_FORMAT_VERSION);
    wire_store_u32(out + HDR_BLOCK_SIZE, CAIRN_BLOCK_SIZE);
    wire_store_u64(out + HDR_ID, h->id);
    wire_store_u64(out + HDR_VERSION, h->version);
    wire_store_u64(out + HDR_LENGTH, h->length);
    wire_store_u32(out + HDR_STATE, h->state);
    wire_store_u32(out + HDR_FLAGS, h->flags);
    wire_store_u64(out + HDR_BASE, h->base_version);
    wire_store_u32(out + HDR_SEQ, h->seq);
    wire_store_u32(out + HDR_CRC, crc32c(0, out, HDR_CRC));
}

/* Every field is checked, the flags included (known bits only): a header is either exactly what
 * chunk_hdr_encode() writes or damage. The CRC is checked first so a random
 * header is refused for the cheapest reason. */
int chunk_hdr_decode(const uint8_t *p, size_t n, struct chunk_hdr *h)
{
    if (n < CHUNK_HDR_SIZE)
        return CAIRN_CORRUPT;
    if (wire_load_u32(p + HDR_CRC) != crc32c(0, p, HDR_CRC))
        return CAIRN_CORRUPT;
    if (memcmp(p + HDR_MAGIC, CHUNK_MAGIC, 8) != 0)
        return CAIRN_CORRUPT;
    if (wire_load_u32(p + HDR_FORMAT) != CHUNK_FORMAT_VERSION ||
        wire_load_u32(p + HDR_BLOCK_SIZE) != CAIRN_BLOCK_SIZE)
        return CAIRN_CORRUPT;
    if ((wire_load_u32(p + HDR_FLAGS) & ~CHUNK_HDR_FLAGS_KNOWN) != 0)
        return CAIRN_CORRUPT;
    struct chunk_hdr x = {
        .id = wire_load_u64(p + HDR_ID),
        .version = wire_load_u64(p + HDR_VERSION),
        .length = wire_load_u64(p + HDR_LENGTH),
        .base_version = wire_load_u64(p + HDR_BASE),
        .state = wire_load_u32(p + HDR_STATE),
        .flags = wire_load_u32(p + HDR_FLAGS),
        .seq = wire_load_u32(p + HDR_SEQ),
    };
    if (x.version == 0 || x.length > CAIRN_CHUNK_SIZE)
        return CAIRN_CORRUPT;
    if (x.state != CHUNK_STATE_STAGED && x.state != CHUNK_STATE_COMMITTED)
        return CAIRN_CORRUPT;
    *h = x;
    return 0;
}

/* Sequence numbers compare as serial numbers (RFC 1982): a wrapped counter is
 * still newer, as the two slots are never more than one rewrite apart. */
static int seq_newer(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

int chunk_hdr_pick(const uint8_t *p, size_t n, struct chunk_hdr *h)
{
    struct chunk_hdr s0 = {0}, s1 = {0};
    int ok0 = chunk_hdr_decode(p, n, &s0) == 0;
    int ok1 = n > CHUNK_HDR_SLOT1_OFF &&
              chunk_hdr_decode(p + CHUNK_HDR_SLOT1_OFF, n - CHUNK_HDR_SLOT1_OFF, &s1) == 0;
    if (!ok0 && !ok1)
        return CAIRN_CORRUPT;
    /* Both slots of one file always describe the same version of the same chunk. */
    if (ok0 && ok1 && (s0.id != s1.id || s0.version != s1.version))
        return CAIRN_CORRUPT;
    s0.slot = 0;
    s1.slot = 1;
    *h = ok0 && (!ok1 || !seq_newer(s1.seq, s0.seq)) ? s0 : s1;
    return 0;
}

static const char *kind_ext(enum chunk_name_kind kind)
{
    switch (kind) {
    case CHUNK_NAME_COMMITTED:
        return "chk";
    case CHUNK_NAME_STAGED:
        return "stg";
    case CHUNK_NAME_TMP:
        return "tmp";
    case CHUNK_NAME_NONE:
        break;
    }
    CAIRN_UNREACHABLE();
}

void chunk_name_format(char out[CHUNK_NAME_LEN], uint64_t id, uint64_t version,
                       enum chunk_name_kind kind)
{
    int n = snprintf(out, CHUNK_NAME_LEN, "%016llx_%016llx.%s", (unsigned long long)id,
                     (unsigned long long)version, kind_ext(kind));
    CAIRN_ASSERT(n == (int)CHUNK_NAME_LEN - 1);
}

/* Lower-case hex digit value, or -1. Upper case is refused so a name has one
 * spelling. */
static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int parse_hex16(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        int d = hex_digit(s[i]);
        if (d < 0)
            return -1;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return 0;
}

enum chunk_name_kind chunk_name_parse(const char *name, uint64_t *id, uint64_t *version)
{
    if (strlen(name) != CHUNK_NAME_LEN - 1 || name[16] != '_' || name[33] != '.')
        return CHUNK_NAME_NONE;
    uint64_t i, v;
    if (parse_hex16(name, &i) != 0 || parse_hex16(name + 17, &v) != 0 || v == 0)
        return CHUNK_NAME_NONE;
    const char *ext = name + 34;
    enum chunk_name_kind kind = CHUNK_NAME_NONE;
    if (strcmp(ext, "chk") == 0)
        kind = CHUNK_NAME_COMMITTED;
    else if (strcmp(ext, "stg") == 0)
        kind = CHUNK_NAME_STAGED;
    else if (strcmp(ext, "tmp") == 0)
        kind = CHUNK_NAME_TMP;
    if (kind != CHUNK_NAME_NONE) {
        *id = i;
        *version = v;
    }
    return kind;
}

int chunk_fanout_parse(const char *name)
{
    if (strlen(name) != 2)
        return -1;
    int hi = hex_digit(name[0]), lo = hex_digit(name[1]);
    if (hi < 0 || lo < 0)
        return -1;
    return hi * 16 + lo;
}

uint32_t chunk_crc_block(const void *block) { return crc32c(0, block, CAIRN_BLOCK_SIZE); }

uint32_t chunk_crc_zero_block(void) { return CHUNK_CRC_ZERO_BLOCK; }
