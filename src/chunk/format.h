/*
 * format.h: the on-disk format of one chunk version file (docs/chunk-format.md), as pure
 * code: the layout constants, the header encoder and decoder, the file names, the fan-out
 * directory of a chunk and the block checksum. No system calls: the fuzzer and the
 * simulator may link it alone.
 *
 * A file holds one version of one chunk:
 *
 *   [0, 64)             header slot 0 (struct chunk_hdr, little-endian, CRC32C)
 *   [512, 576)          header slot 1
 *   [4096, 8192)        CRC table: CHUNK_BLOCKS u32 CRC32C, one per 64 KiB block
 *   [8192, 8192 + len)  data; bytes past the end of the file read as zeros (holes)
 *   everything else     zeros
 *
 * Two header slots, in different sectors: a header is rewritten (a new length at a flush,
 * the committed state at a commit) into the slot that does not hold the current header,
 * then synced; the current header is the valid slot with the newer sequence number. So a
 * write torn by a power cut damages only a slot that held an older header, never the
 * current one (the way LMDB keeps two meta pages).
 *
 * Every block's CRC covers the whole CAIRN_BLOCK_SIZE bytes of that block, where bytes past
 * the chunk's length (and holes) count as zeros; so a never-written block's entry is the
 * CRC of a zero block (chunk_crc_zero_block()).
 *
 * Memory: nothing here allocates or keeps pointers. Threads: pure functions, any thread.
 * Errors: chunk_hdr_decode() and chunk_hdr_pick() return CAIRN_CORRUPT for what they do not
 * accept; the name parser returns CHUNK_NAME_NONE for a name that is not one of ours.
 */
#ifndef CAIRN_CHUNK_FORMAT_H
#define CAIRN_CHUNK_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

#define CHUNK_MAGIC "CAIRNCHK"
#define CHUNK_FORMAT_VERSION 1u
#define CHUNK_HDR_SIZE 64u
/* Offset of header slot 1; slot 0 is at 0. One read of CHUNK_HDR_AREA bytes gets both. */
#define CHUNK_HDR_SLOT1_OFF 512u
#define CHUNK_HDR_AREA (CHUNK_HDR_SLOT1_OFF + CHUNK_HDR_SIZE)
/* The CRC table sits on its own 4 KiB page, and data starts page aligned (8 KiB), so a
 * header rewrite never shares a page with data and reflinks stay block aligned. */
#define CHUNK_TABLE_OFF 4096u
#define CHUNK_BLOCKS (CAIRN_CHUNK_SIZE / CAIRN_BLOCK_SIZE)
#define CHUNK_TABLE_SIZE (CHUNK_BLOCKS * 4u)
#define CHUNK_DATA_OFF 8192u

_Static_assert(CHUNK_HDR_SIZE <= CHUNK_HDR_SLOT1_OFF, "header slots do not overlap");
_Static_assert(CHUNK_HDR_SLOT1_OFF % 512u == 0, "each header slot has its own sector");
_Static_assert(CHUNK_HDR_AREA <= CHUNK_TABLE_OFF, "the header slots fit before the table");
_Static_assert(CHUNK_TABLE_OFF + CHUNK_TABLE_SIZE <= CHUNK_DATA_OFF,
               "the CRC table fits before the data");
_Static_assert(CHUNK_DATA_OFF % 4096u == 0, "data starts on a page boundary");

enum chunk_state {
    CHUNK_STATE_STAGED = 1,    /* written by a prepare, not yet made current */
    CHUNK_STATE_COMMITTED = 2, /* made current by a commit; never written again */
};

/* Header flags (the only bits chunk_hdr_decode accepts). FLUSHED: no byte was written
 * since the fdatasync that made this header durable, so the file is exactly what the last
 * acknowledged flush (or commit) made it; the first write after a flush clears it (durably)
 * before writing any byte. Recovery lets only a FLUSHED staged version be committed. */
#define CHUNK_HDR_FLUSHED 0x1u
#define CHUNK_HDR_FLAGS_KNOWN CHUNK_HDR_FLUSHED

struct chunk_hdr {
    uint64_t id;
    uint64_t version;      /* >= 1 */
    uint64_t length;       /* bytes of data, <= CAIRN_CHUNK_SIZE */
    uint64_t base_version; /* committed version this one was cloned from; 0: started empty */
    uint32_t state;        /* enum chunk_state */
    uint32_t flags;        /* CHUNK_HDR_* bits */
    uint32_t seq;          /* header generation: +1 at every rewrite (wraps) */
    unsigned slot;         /* not encoded: the slot (0, 1) it was read from or written to */
};

/* Writes the 64-byte header, CRC included (slot is not part of it). */
void chunk_hdr_encode(const struct chunk_hdr *h, uint8_t out[CHUNK_HDR_SIZE]);
/* Checks magic, format version, block size, CRC, state, version, length and the flags
 * (zero); 0 or CAIRN_CORRUPT (also for n < CHUNK_HDR_SIZE). h->slot is set to 0. */
int chunk_hdr_decode(const uint8_t *p, size_t n, struct chunk_hdr *h);
/* The current header of a file from its first n bytes (n >= CHUNK_HDR_AREA to see both
 * slots): the valid slot with the newer seq, h->slot saying which. CAIRN_CORRUPT if no slot
 * is valid, or if both are valid and name different chunks or versions. */
int chunk_hdr_pick(const uint8_t *p, size_t n, struct chunk_hdr *h);
/* Byte offset of a header slot. */
static inline uint32_t chunk_hdr_slot_off(unsigned slot) { return slot ? CHUNK_HDR_SLOT1_OFF : 0u; }

/* --- names ---------------------------------------------------------------------------- */

enum chunk_name_kind {
    CHUNK_NAME_NONE = 0,  /* not a name of ours */
    CHUNK_NAME_COMMITTED, /* <id>_<version>.chk */
    CHUNK_NAME_STAGED,    /* <id>_<version>.stg */
    CHUNK_NAME_TMP,       /* <id>_<version>.tmp: a staged version being created */
};

/* "<16 hex id>_<16 hex version>.ext" plus NUL. */
#define CHUNK_NAME_LEN 38u

/* Formats the file name of (id, version) of the given kind (not NONE) into out. */
void chunk_name_format(char out[CHUNK_NAME_LEN], uint64_t id, uint64_t version,
                       enum chunk_name_kind kind);
/* Parses a file name; CHUNK_NAME_NONE if it is not exactly one of the forms above
 * (lower-case hex, 16 digits each, version not 0). */
enum chunk_name_kind chunk_name_parse(const char *name, uint64_t *id, uint64_t *version);

/* The fan-out directory (0..255) of a chunk: the XOR of the id's eight bytes, so
 * sequential ids spread evenly over the 256 directories "chunks/00" .. "chunks/ff".
 * Part of the format. */
static inline unsigned chunk_fanout(uint64_t id)
{
    uint64_t x = id;
    x ^= x >> 32;
    x ^= x >> 16;
    x ^= x >> 8;
    return (unsigned)(x & 0xffu);
}

/* Parses a fan-out directory name "00".."ff" (lower-case); -1 if it is not one. */
int chunk_fanout_parse(const char *name);

/* --- checksums ------------------------------------------------------------------------ */

/* CRC32C of one whole block (CAIRN_BLOCK_SIZE bytes). */
uint32_t chunk_crc_block(const void *block);
/* CRC32C of a block of zeros: the table entry of every hole. */
uint32_t chunk_crc_zero_block(void);

/* Number of blocks that hold bytes [0, length). */
static inline uint32_t chunk_blocks_of(uint64_t length)
{
    return (uint32_t)((length + CAIRN_BLOCK_SIZE - 1) / CAIRN_BLOCK_SIZE);
}

#endif
