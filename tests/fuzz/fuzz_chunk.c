/*
 * fuzz_chunk.c: libFuzzer target for the chunk file format decoders of src/chunk/format.h.
 *
 * One input is used three ways:
 *   1. as the first bytes of a chunk file: chunk_hdr_pick() either refuses it
 *      (CAIRN_CORRUPT) or returns a header that re-encodes to exactly the bytes of the slot
 *      it came from, and that slot decodes on its own to the same header;
 *   2. the same after the CRC of each slot is set right, so mutated fields reach the checks
 *      behind the CRC;
 *   3. as a file name (up to the first NUL, at most 63 bytes): chunk_name_parse() either
 *      refuses it or chunk_name_format() gives back exactly the same name; and as a fan-out
 *      directory name, which must then print back the same.
 * Any broken expectation aborts (CAIRN_ASSERT), which libFuzzer reports as a crash with the
 * input saved. Seeds: tests/fuzz/corpus/fuzz_chunk.
 *
 *   make fuzz && mkdir -p /tmp/fc && build/fuzz/fuzz_chunk -max_total_time=20 \
 *       /tmp/fc tests/fuzz/corpus/fuzz_chunk
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cairn_errors.h"
#include "chunk/format.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "wire/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_hdr(const struct chunk_hdr *a, const struct chunk_hdr *b)
{
    return a->id == b->id && a->version == b->version && a->length == b->length &&
           a->base_version == b->base_version && a->state == b->state && a->seq == b->seq;
}

static void check_pick(const uint8_t *p, size_t n)
{
    struct chunk_hdr h;
    int rc = chunk_hdr_pick(p, n, &h);
    if (rc != 0) {
        CAIRN_ASSERT(rc == CAIRN_CORRUPT);
        return;
    }
    CAIRN_ASSERT(h.slot <= 1 && h.version != 0 && h.length <= CAIRN_CHUNK_SIZE);
    uint32_t off = chunk_hdr_slot_off(h.slot);
    CAIRN_ASSERT(off + CHUNK_HDR_SIZE <= n);
    uint8_t again[CHUNK_HDR_SIZE];
    chunk_hdr_encode(&h, again);
    CAIRN_ASSERT(memcmp(again, p + off, CHUNK_HDR_SIZE) == 0);
    struct chunk_hdr d;
    CAIRN_ASSERT(chunk_hdr_decode(p + off, CHUNK_HDR_SIZE, &d) == 0 && same_hdr(&d, &h));
}

static void check_names(const uint8_t *data, size_t size)
{
    char name[64];
    size_t n = 0;
    while (n < size && n < sizeof name - 1 && data[n] != 0)
        n++;
    memcpy(name, data, n);
    name[n] = '\0';
    uint64_t id, version;
    enum chunk_name_kind kind = chunk_name_parse(name, &id, &version);
    if (kind != CHUNK_NAME_NONE) {
        char back[CHUNK_NAME_LEN];
        chunk_name_format(back, id, version, kind);
        CAIRN_ASSERT(strcmp(back, name) == 0);
    }
    int hh = chunk_fanout_parse(name);
    if (hh >= 0) {
        char back[3];
        snprintf(back, sizeof back, "%02x", (unsigned)hh);
        CAIRN_ASSERT(hh < 256 && strcmp(back, name) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_pick(data, size);
    uint8_t area[CHUNK_HDR_AREA];
    size_t n = size < sizeof area ? size : sizeof area;
    memcpy(area, data, n);
    for (unsigned slot = 0; slot < 2; slot++) {
        uint32_t off = chunk_hdr_slot_off(slot);
        if (off + CHUNK_HDR_SIZE <= n)
            wire_store_u32(area + off + 60, crc32c(0, area + off, 60));
    }
    check_pick(area, n);
    check_names(data, size);
    return 0;
}
