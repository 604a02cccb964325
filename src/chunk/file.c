/* file.c: reading and writing the parts of one chunk version file through the
 * seam. */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "chunk/internal.h"
#include "common/assert.h"
#include "common/log.h"
#include "wire/codec.h"

/* The header must be ours, for the file it was opened as: a header naming
 * another chunk or version (a misplaced or swapped file) is as untrustworthy as
 * a bad CRC. */
static int hdr_check(const uint8_t *b, size_t got, uint64_t size, uint64_t id, uint64_t version,
                     enum chunk_name_kind kind, struct chunk_hdr *h)
{
    if (chunk_hdr_pick(b, got, h) != 0)
        return CAIRN_CORRUPT;
    if (h->id != id || h->version != version)
        return CAIRN_CORRUPT;
    /* A staged name may hold a committed header: a commit cut short before its
     * rename. */
    if (kind == CHUNK_NAME_COMMITTED && h->state != CHUNK_STATE_COMMITTED)
        return CAIRN_CORRUPT;
    if (size < CHUNK_DATA_OFF)
        return CAIRN_CORRUPT;
    return 0;
}

int chunk_file_open(struct chunk_store *s, uint64_t id, uint64_t version, enum chunk_name_kind kind,
                    int *fd, struct chunk_hdr *h)
{
    char path[CAIRN_PATH_MAX];
    chunk_file_path(s, id, version, kind, path);
    int f;
    int rc = rio_open(s->fs, path, 0, &f);
    if (rc)
        return rc;
    uint8_t b[CHUNK_HDR_AREA];
    size_t got = 0;
    uint64_t size = 0;
    rc = rio_pread(s->fs, f, b, sizeof b, 0, &got);
    if (rc == 0)
        rc = rio_fsize(s->fs, f, &size);
    if (rc == 0)
        rc = hdr_check(b, got, size, id, version, kind, h);
    if (rc) {
        rio_close(s->fs, f);
        return rc;
    }
    *fd = f;
    return 0;
}

int chunk_file_write_hdr(struct chunk_store *s, int fd, struct chunk_hdr *h)
{
    h->seq++;
    h->slot ^= 1u;
    uint8_t b[CHUNK_HDR_SIZE];
    chunk_hdr_encode(h, b);
    return rio_pwrite(s->fs, fd, b, sizeof b, chunk_hdr_slot_off(h->slot));
}

int chunk_file_init_hdr(struct chunk_store *s, int fd, struct chunk_hdr *h)
{
    h->seq = 1;
    h->slot = 0;
    uint8_t b[CHUNK_HDR_AREA] = {0};
    chunk_hdr_encode(h, b);
    return rio_pwrite(s->fs, fd, b, sizeof b, 0);
}

int chunk_file_read_table(struct chunk_store *s, int fd, uint32_t b0, uint32_t n, uint32_t *crcs)
{
    CAIRN_ASSERT(b0 <= CHUNK_BLOCKS && n <= CHUNK_BLOCKS - b0);
    uint8_t raw[CHUNK_TABLE_SIZE];
    size_t got = 0;
    int rc = rio_pread(s->fs, fd, raw, (size_t)n * 4u, CHUNK_TABLE_OFF + (uint64_t)b0 * 4u, &got);
    if (rc)
        return rc;
    if (got != (size_t)n * 4u)
        return CAIRN_CORRUPT;
    for (uint32_t i = 0; i < n; i++)
        crcs[i] = wire_load_u32(raw + 4u * i);
    return 0;
}

int chunk_file_write_table(struct chunk_store *s, int fd, uint32_t b0, uint32_t n,
                           const uint32_t *crcs)
{
    CAIRN_ASSERT(b0 <= CHUNK_BLOCKS && n <= CHUNK_BLOCKS - b0);
    uint8_t raw[CHUNK_TABLE_SIZE];
    for (uint32_t i = 0; i < n; i++)
        wire_store_u32(raw + 4u * i, crcs[i]);
    return rio_pwrite(s->fs, fd, raw, (size_t)n * 4u, CHUNK_TABLE_OFF + (uint64_t)b0 * 4u);
}

int chunk_file_read_block(struct chunk_store *s, int fd, uint32_t b, uint32_t crc, uint8_t *buf,
                          size_t *got)
{
    CAIRN_ASSERT(b < CHUNK_BLOCKS);
    *got = 0;
    int rc = rio_pread(s->fs, fd, buf, CAIRN_BLOCK_SIZE,
                       CHUNK_DATA_OFF + (uint64_t)b * CAIRN_BLOCK_SIZE, got);
    if (rc)
        return rc;
    /* Past the end of the file: the block's tail is a hole, and holes are zeros.
     */
    memset(buf + *got, 0, CAIRN_BLOCK_SIZE - *got);
    return chunk_crc_block(buf) == crc ? 0 : CAIRN_CORRUPT;
}

int chunk_file_remove(struct chunk_store *s, uint64_t id, uint64_t version,
                      enum chunk_name_kind kind)
{
    char path[CAIRN_PATH_MAX], dir[CAIRN_PATH_MAX];
    chunk_file_path(s, id, version, kind, path);
    int rc = rio_unlink(s->fs, path);
    if (rc == CAIRN_ENOENT)
        return 0;
    if (rc)
        return rc;
    chunk_dir_path(s, id, dir);
    return rio_sync_dir(s->fs, dir);
}

static int is_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* The portable clone: the first CHUNK_DATA_OFF bytes (header and CRC table) as
 * they are, then every data block that is not all zeros; zero blocks stay
 * holes, and the final size is set so a trailing hole is kept too. The CRCs are
 * copied, not recomputed: a damaged block of the base stays detectable in the
 * copy. */
static int copy_portable(struct chunk_store *s, int in, int out, uint64_t size)
{
    uint8_t *buf = malloc(CAIRN_BLOCK_SIZE);
    if (!buf)
        return CAIRN_ENOMEM;
    int rc = 0;
    for (uint64_t off = 0; rc == 0 && off < size;) {
        uint64_t piece = off < CHUNK_DATA_OFF ? CHUNK_DATA_OFF - off : CAIRN_BLOCK_SIZE;
        size_t got = 0;
        rc = rio_pread(s->fs, in, buf, (size_t)CAIRN_MIN(piece, size - off), off, &got);
        if (rc == 0 && got == 0)
            break;
        if (rc == 0 && (off < CHUNK_DATA_OFF || !is_zero(buf, got)))
            rc = rio_pwrite(s->fs, out, buf, got, off);
        off += got;
    }
    free(buf);
    if (rc == 0)
        rc = rio_ftruncate(s->fs, out, size);
    return rc;
}

int chunk_file_copy(struct chunk_store *s, int in, int out, uint64_t limit)
{
    uint64_t size = 0;
    int rc = rio_fsize(s->fs, in, &size);
    size = CAIRN_MIN(size, limit);
    if (rc == 0)
        rc = s->cfs->copy_file ? s->cfs->copy_file(s->cfs, in, out, size) : CAIRN_ENOTSUP;
    if (rc == CAIRN_ENOTSUP) {
        rc = rio_ftruncate(s->fs, out, 0);
        if (rc == 0)
            rc = copy_portable(s, in, out, size);
    }
    return rc;
}

void chunk_drop_staged(struct chunk_store *s, struct chunk_entry *e, uint64_t version, int why)
{
    LOG_WARN(CHUNK_LOG, "chunk %016llx v%llu: staged version dropped after %s",
             (unsigned long long)e->id, (unsigned long long)version, cairn_err_name(why));
    int rc = chunk_file_remove(s, e->id, version, CHUNK_NAME_STAGED);
    if (rc)
        LOG_WARN(CHUNK_LOG, "chunk %016llx v%llu: cannot remove staged file: %s",
                 (unsigned long long)e->id, (unsigned long long)version, cairn_err_name(rc));
    entry_del_staged(s, e, version);
}
