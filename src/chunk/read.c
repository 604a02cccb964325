/* read.c: verified reads of one version. Every block a read touches is read
 * whole and checked against its CRC before any of its bytes reach the caller.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "chunk/internal.h"
#include "common/assert.h"
#include "common/log.h"

/* Reads [off, off + n) (inside the version's length) into p, verifying each
 * block. Blocks the range covers whole are read straight into p; the partial
 * ones at either end go through a scratch block. *bad: the failing block on
 * CAIRN_CORRUPT. */
static int read_verified(struct chunk_store *s, int fd, uint64_t off, size_t n, uint8_t *p,
                         uint32_t *bad)
{
    uint32_t b0 = (uint32_t)(off / CAIRN_BLOCK_SIZE);
    uint32_t b1 = (uint32_t)((off + n - 1) / CAIRN_BLOCK_SIZE);
    uint32_t crcs[CHUNK_BLOCKS];
    int rc = chunk_file_read_table(s, fd, b0, b1 - b0 + 1, crcs);
    if (rc == CAIRN_CORRUPT)
        *bad = CHUNK_BLOCK_HEADER;
    uint8_t *scratch = NULL;
    for (uint32_t b = b0; rc == 0 && b <= b1; b++) {
        uint64_t bs = (uint64_t)b * CAIRN_BLOCK_SIZE, be = bs + CAIRN_BLOCK_SIZE;
        uint64_t rs = CAIRN_MAX(off, bs), re = CAIRN_MIN(off + n, be);
        int whole = rs == bs && re == be;
        if (!whole && !scratch && !(scratch = malloc(CAIRN_BLOCK_SIZE))) {
            rc = CAIRN_ENOMEM;
            break;
        }
        uint8_t *dst = whole ? p + (bs - off) : scratch;
        size_t got;
        rc = chunk_file_read_block(s, fd, b, crcs[b - b0], dst, &got);
        if (rc == CAIRN_CORRUPT)
            *bad = b;
        if (rc == 0 && !whole)
            memcpy(p + (rs - off), scratch + (rs - bs), (size_t)(re - rs));
    }
    free(scratch);
    return rc;
}

/* Opens (id, version) as kind and reads [off, off + n) clipped to its length:
 * `length`, or the header's when length is UINT64_MAX. */
static int read_version(struct chunk_store *s, uint64_t id, uint64_t version,
                        enum chunk_name_kind kind, uint64_t length, uint64_t off, uint8_t *p,
                        size_t n, struct chunk_read_result *res)
{
    int fd;
    struct chunk_hdr h;
    int rc = chunk_file_open(s, id, version, kind, &fd, &h);
    /* Gone since the index was read: a commit or delete replaced it. */
    if (rc == CAIRN_ENOENT)
        return CAIRN_STALEVERSION;
    if (rc == CAIRN_CORRUPT)
        res->bad_block = CHUNK_BLOCK_HEADER;
    if (rc)
        return rc;
    /* A staged version's length lives in the index until its next flush. */
    res->length = length != UINT64_MAX ? length : h.length;
    uint64_t end = CAIRN_MIN(off + n, res->length);
    if (off < end)
        rc = read_verified(s, fd, off, (size_t)(end - off), p, &res->bad_block);
    if (rc == 0 && off < end)
        res->got = (size_t)(end - off);
    rio_close(s->fs, fd);
    return rc;
}

int chunk_read(struct chunk_store *s, uint64_t id, uint64_t version, uint64_t off, void *p,
               size_t n, unsigned flags, struct chunk_read_result *res)
{
    memset(res, 0, sizeof *res);
    if (version == 0 || off > CAIRN_CHUNK_SIZE || (!p && n))
        return CAIRN_EINVAL;
    n = (size_t)CAIRN_MIN((uint64_t)n, CAIRN_CHUNK_SIZE - off);
    struct chunk_entry *e = NULL;
    enum chunk_name_kind kind = CHUNK_NAME_COMMITTED;
    uint64_t length = UINT64_MAX;
    int rc = 0;
    if (flags & CHUNK_READ_STAGED) {
        /* A staged file is being written: hold the chunk so no write is half done.
         */
        rc = entry_acquire_staged(s, id, version, &e);
        kind = CHUNK_NAME_STAGED;
        if (rc == 0)
            length = e->staged[entry_staged_find(e, version)].length;
    } else if (index_committed(s, id, NULL) != version) {
        rc = CAIRN_STALEVERSION;
    }
    if (rc == 0)
        rc = read_version(s, id, version, kind, length, off, p, n, res);
    if (e && rc == CAIRN_ENOENT)
        rc = CAIRN_STALEVERSION; /* a placeholder of a quarantined file (recover.c) */
    if (e)
        entry_release(s, e);
    if (rc == CAIRN_CORRUPT)
        LOG_ERROR(CHUNK_LOG, "chunk %016llx v%llu: block %ld fails its CRC; read refused",
                  (unsigned long long)id, (unsigned long long)version,
                  res->bad_block == CHUNK_BLOCK_HEADER ? -1L : (long)res->bad_block);
    return rc;
}
