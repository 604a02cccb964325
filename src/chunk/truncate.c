/* truncate.c: cutting a committed version to a shorter length in place, keeping its version
 * number (the metadata group's TRUNCATE command, after a file was truncated). A committed file
 * is never modified, so the cut copy is built under the .tmp name and renamed over the
 * committed name: a crash leaves the whole old version or the cut one (and maybe a .tmp that
 * the next open removes), never neither; a reader that had the old file open keeps reading
 * it. */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "chunk/internal.h"
#include "common/assert.h"
#include "common/log.h"

/* The new CRCs of blocks [length / BS, CHUNK_BLOCKS): the block the cut falls into is read
 * from in and verified (a damaged block is never given a fresh CRC), its tail zeroed and
 * checksummed again; every block after it becomes a hole. Returns the first block. */
static int cut_crcs(struct chunk_store *s, int in, uint64_t length, uint32_t *crcs, uint32_t *first)
{
    uint32_t b = (uint32_t)(length / CAIRN_BLOCK_SIZE);
    size_t keep = (size_t)(length % CAIRN_BLOCK_SIZE);
    *first = b;
    for (uint32_t i = b; i < CHUNK_BLOCKS; i++)
        crcs[i - b] = chunk_crc_zero_block();
    if (keep == 0)
        return 0;
    uint8_t *buf = malloc(CAIRN_BLOCK_SIZE);
    if (!buf)
        return CAIRN_ENOMEM;
    uint32_t old;
    size_t got;
    int rc = chunk_file_read_table(s, in, b, 1, &old);
    if (rc == 0)
        rc = chunk_file_read_block(s, in, b, old, buf, &got);
    if (rc == CAIRN_CORRUPT)
        LOG_ERROR(CHUNK_LOG, "chunk truncate: block %u fails its CRC", b);
    if (rc == 0) {
        memset(buf + keep, 0, CAIRN_BLOCK_SIZE - keep);
        crcs[0] = chunk_crc_block(buf);
    }
    free(buf);
    return rc;
}

/* Fills the empty file out with version h (open as in) cut to length, synced. */
static int cut_build(struct chunk_store *s, int in, int out, struct chunk_hdr *h, uint64_t length)
{
    uint32_t crcs[CHUNK_BLOCKS], first = 0;
    int rc = cut_crcs(s, in, length, crcs, &first);
    if (rc == 0)
        rc = chunk_file_copy(s, in, out, CHUNK_DATA_OFF + length);
    /* The cut block's tail goes (a copy may bring whole blocks or a reflink all). */
    if (rc == 0)
        rc = rio_ftruncate(s->fs, out, CHUNK_DATA_OFF + length);
    if (rc == 0)
        rc = chunk_file_write_table(s, out, first, CHUNK_BLOCKS - first, crcs);
    h->length = length;
    if (rc == 0)
        rc = chunk_file_init_hdr(s, out, h);
    if (rc == 0)
        rc = rio_fdatasync(s->fs, out);
    return rc;
}

static int cut_committed(struct chunk_store *s, struct chunk_entry *e, uint64_t length)
{
    uint64_t version = e->committed.version;
    char tmp[CAIRN_PATH_MAX], chk[CAIRN_PATH_MAX], dir[CAIRN_PATH_MAX];
    chunk_file_path(s, e->id, version, CHUNK_NAME_TMP, tmp);
    chunk_file_path(s, e->id, version, CHUNK_NAME_COMMITTED, chk);
    chunk_dir_path(s, e->id, dir);
    int rc = rio_unlink(s->fs, tmp);
    if (rc && rc != CAIRN_ENOENT)
        return rc;
    int in, out;
    struct chunk_hdr h;
    rc = chunk_file_open(s, e->id, version, CHUNK_NAME_COMMITTED, &in, &h);
    if (rc)
        return rc;
    rc = rio_open(s->fs, tmp, RAFTIO_OPEN_CREATE | RAFTIO_OPEN_EXCL, &out);
    if (rc == 0) {
        rc = cut_build(s, in, out, &h, length);
        rio_close(s->fs, out);
    }
    rio_close(s->fs, in);
    if (rc == 0)
        rc = rio_rename(s->fs, tmp, chk);
    if (rc) {
        rio_unlink(s->fs, tmp);
        return rc;
    }
    entry_set_committed(s, e, version, length);
    /* If this sync fails, a retried truncate syncs again (see chunk_truncate). */
    return rio_sync_dir(s->fs, dir);
}

int chunk_truncate(struct chunk_store *s, uint64_t id, uint64_t version, uint64_t length)
{
    if (version == 0)
        return CAIRN_EINVAL;
    struct chunk_entry *e;
    int rc = entry_acquire(s, id, 0, &e);
    if (rc)
        return rc;
    if (!e)
        return CAIRN_STALEVERSION;
    if (e->committed.version != version) {
        rc = CAIRN_STALEVERSION;
    } else if (length >= e->committed.length) {
        /* Already this short (a resent command): make sure the rename is durable. */
        char dir[CAIRN_PATH_MAX];
        chunk_dir_path(s, id, dir);
        rc = rio_sync_dir(s->fs, dir);
    } else {
        rc = cut_committed(s, e, length);
    }
    entry_release(s, e);
    return rc;
}
