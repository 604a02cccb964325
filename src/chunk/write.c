/* write.c: the replica's side of the two-phase write (DESIGN.md §6): stage,
 * write, flush, commit, abort, and delete. Each operation holds its chunk's
 * busy flag throughout (see internal.h), so the steps below never interleave
 * for one chunk. */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "chunk/internal.h"
#include "common/assert.h"
#include "common/log.h"

/* --- stage ------------------------------------------------------------------------------------ */

/* Fills the empty file out with a copy of committed version base; *length gets
 * its length. */
static int stage_clone(struct chunk_store *s, uint64_t id, uint64_t base, int out, uint64_t *length)
{
    int in;
    struct chunk_hdr bh;
    int rc = chunk_file_open(s, id, base, CHUNK_NAME_COMMITTED, &in, &bh);
    if (rc == CAIRN_ENOENT)
        return CAIRN_STALEVERSION;
    if (rc)
        return rc;
    rc = chunk_file_copy(s, in, out, UINT64_MAX);
    rio_close(s->fs, in);
    *length = bh.length;
    return rc;
}

static int write_empty_table(struct chunk_store *s, int fd)
{
    uint32_t crcs[CHUNK_BLOCKS];
    for (uint32_t i = 0; i < CHUNK_BLOCKS; i++)
        crcs[i] = chunk_crc_zero_block();
    return chunk_file_write_table(s, fd, 0, CHUNK_BLOCKS, crcs);
}

/* Builds the version under a .tmp name, syncs it, then renames it to .stg and
 * syncs the directory: a crash leaves either a .tmp (deleted at the next open)
 * or a complete staged file whose name is durable, so chunk_flush need only
 * fdatasync the file. */
static int stage_create(struct chunk_store *s, struct chunk_entry *e, uint64_t version,
                        uint64_t base)
{
    char tmp[CAIRN_PATH_MAX], stg[CAIRN_PATH_MAX], dir[CAIRN_PATH_MAX];
    chunk_file_path(s, e->id, version, CHUNK_NAME_TMP, tmp);
    chunk_file_path(s, e->id, version, CHUNK_NAME_STAGED, stg);
    chunk_dir_path(s, e->id, dir);
    int rc = chunk_fanout_ensure(s, e->id);
    if (rc)
        return rc;
    rc = rio_unlink(s->fs, tmp);
    if (rc && rc != CAIRN_ENOENT)
        return rc;
    int fd;
    rc = rio_open(s->fs, tmp, RAFTIO_OPEN_CREATE | RAFTIO_OPEN_EXCL, &fd);
    if (rc)
        return rc;
    struct chunk_hdr h = {
        .id = e->id, .version = version, .base_version = base, .state = CHUNK_STATE_STAGED};
    rc = base ? stage_clone(s, e->id, base, fd, &h.length) : write_empty_table(s, fd);
    if (rc == 0)
        rc = chunk_file_init_hdr(s, fd, &h);
    if (rc == 0)
        rc = rio_fdatasync(s->fs, fd);
    rio_close(s->fs, fd);
    int renamed = 0;
    if (rc == 0) {
        rc = rio_rename(s->fs, tmp, stg);
        renamed = rc == 0;
    }
    if (rc == 0)
        rc = rio_sync_dir(s->fs, dir);
    if (rc) {
        rio_unlink(s->fs, renamed ? stg : tmp);
        return rc;
    }
    entry_add_staged(s, e, version, h.length, 0);
    return 0;
}

int chunk_stage(struct chunk_store *s, uint64_t id, uint64_t version, uint64_t base_version)
{
    if (version == 0)
        return CAIRN_EINVAL;
    struct chunk_entry *e;
    int rc = entry_acquire(s, id, 1, &e);
    if (rc)
        return rc;
    if (entry_staged_find(e, version) >= 0 || e->committed.version == version)
        rc = CAIRN_EEXIST;
    else if (version < e->committed.version)
        rc = CAIRN_STALEVERSION;
    else if (base_version != 0 && base_version != e->committed.version)
        rc = CAIRN_STALEVERSION;
    else if (e->n_staged >= CAIRN_CHUNK_STAGED_MAX)
        rc = CAIRN_LIMIT;
    else
        rc = stage_create(s, e, version, base_version);
    entry_release(s, e);
    return rc;
}

/* --- write and flush -------------------------------------------------------------------------- */

/* CHUNK_VER_* of staged version v of e (held busy; v must be staged). */
static unsigned staged_flags(const struct chunk_entry *e, uint64_t version)
{
    int i = entry_staged_find(e, version);
    CAIRN_ASSERT(i >= 0);
    return e->staged[i].flags;
}

/* Computes the new CRC of every block in [off, off + n) into crcs (which hold
 * the old ones, from b0 on). A block the write covers whole is checksummed from
 * p; a partial one (only the first and the last can be) is read, verified
 * against its old CRC, merged and checksummed: a damaged block is refused,
 * never given a fresh CRC. */
static int new_crcs(struct chunk_store *s, int fd, uint64_t off, const uint8_t *p, size_t n,
                    uint32_t *crcs)
{
    uint32_t b0 = (uint32_t)(off / CAIRN_BLOCK_SIZE);
    uint32_t b1 = (uint32_t)((off + n - 1) / CAIRN_BLOCK_SIZE);
    uint8_t *scratch = NULL;
    int rc = 0;
    for (uint32_t b = b0; rc == 0 && b <= b1; b++) {
        uint64_t bs = (uint64_t)b * CAIRN_BLOCK_SIZE, be = bs + CAIRN_BLOCK_SIZE;
        uint64_t ws = CAIRN_MAX(off, bs), we = CAIRN_MIN(off + n, be);
        const uint8_t *src = p + (ws - off);
        if (ws == bs && we == be) {
            crcs[b - b0] = chunk_crc_block(src);
            continue;
        }
        if (!scratch && !(scratch = malloc(CAIRN_BLOCK_SIZE)))
            return CAIRN_ENOMEM;
        size_t got;
        rc = chunk_file_read_block(s, fd, b, crcs[b - b0], scratch, &got);
        if (rc == CAIRN_CORRUPT)
            LOG_ERROR(CHUNK_LOG, "chunk write: block %u fails its CRC", b);
        if (rc == 0) {
            memcpy(scratch + (ws - bs), src, (size_t)(we - ws));
            crcs[b - b0] = chunk_crc_block(scratch);
        }
    }
    free(scratch);
    return rc;
}

/* Data first, then the CRC table; the new length goes to the index only and
 * reaches the header at the next flush or commit (so an unsynced header write
 * can never damage the last synced one). The order of the two writes does not
 * matter for a crash (nothing is durable before chunk_flush), only for one
 * failure: any error leaves the file inconsistent, so the caller drops the
 * version. */
static int write_range(struct chunk_store *s, struct chunk_entry *e, uint64_t version, uint64_t off,
                       const uint8_t *p, size_t n)
{
    int fd;
    struct chunk_hdr h;
    int rc = chunk_file_open(s, e->id, version, CHUNK_NAME_STAGED, &fd, &h);
    if (rc)
        return rc;
    /* The first write after a flush: the header stops saying FLUSHED, durably,
     * before any byte changes, so a restart never takes a file whose bytes may
     * have moved since its last flush for a committable one. The normal writer
     * flushes once, at the end, and never pays this. */
    if (h.flags & CHUNK_HDR_FLUSHED) {
        h.flags &= ~CHUNK_HDR_FLUSHED;
        rc = chunk_file_write_hdr(s, fd, &h);
        if (rc == 0)
            rc = rio_fdatasync(s->fs, fd);
    }
    uint32_t b0 = (uint32_t)(off / CAIRN_BLOCK_SIZE);
    uint32_t nb = (uint32_t)((off + n - 1) / CAIRN_BLOCK_SIZE) - b0 + 1;
    uint32_t crcs[CHUNK_BLOCKS];
    if (rc == 0)
        rc = chunk_file_read_table(s, fd, b0, nb, crcs);
    if (rc == 0)
        rc = new_crcs(s, fd, off, p, n, crcs);
    if (rc == 0)
        rc = rio_pwrite(s->fs, fd, p, n, CHUNK_DATA_OFF + off);
    if (rc == 0)
        rc = chunk_file_write_table(s, fd, b0, nb, crcs);
    rio_close(s->fs, fd);
    uint64_t length = e->staged[entry_staged_find(e, version)].length;
    if (rc == 0 && off + n > length)
        entry_set_staged_length(s, e, version, off + n);
    return rc;
}

int chunk_write(struct chunk_store *s, uint64_t id, uint64_t version, uint64_t off, const void *p,
                size_t n)
{
    if (version == 0 || (!p && n))
        return CAIRN_EINVAL;
    if (off > CAIRN_CHUNK_SIZE || n > CAIRN_CHUNK_SIZE - off)
        return CAIRN_EFBIG;
    struct chunk_entry *e;
    int rc = entry_acquire_staged(s, id, version, &e);
    if (rc)
        return rc;
    if (staged_flags(e, version) & CHUNK_VER_SEALED) {
        entry_release(s, e); /* kept: it may still be committed or dropped */
        return CAIRN_STALEVERSION;
    }
    if (n > 0)
        rc = write_range(s, e, version, off, p, n);
    if (rc)
        chunk_drop_staged(s, e, version, rc);
    entry_release(s, e);
    return rc;
}

/* Makes a staged version durable in the given state: the header is rewritten
 * (into its other slot) when the length in the index, the state or the
 * FLUSHED flag differ from it, then the file is fdatasynced: the header says
 * FLUSHED only once it and every byte before it are on disk together.
 * *h: the header now current. */
static int sync_staged(struct chunk_store *s, struct chunk_entry *e, uint64_t version,
                       uint32_t state, struct chunk_hdr *h)
{
    int fd;
    int rc = chunk_file_open(s, e->id, version, CHUNK_NAME_STAGED, &fd, h);
    if (rc)
        return rc;
    uint64_t length = e->staged[entry_staged_find(e, version)].length;
    if (h->length != length || h->state != state || !(h->flags & CHUNK_HDR_FLUSHED)) {
        h->length = length;
        h->state = state;
        h->flags |= CHUNK_HDR_FLUSHED;
        rc = chunk_file_write_hdr(s, fd, h);
    }
    if (rc == 0)
        rc = rio_fdatasync(s->fs, fd);
    rio_close(s->fs, fd);
    return rc;
}

int chunk_flush(struct chunk_store *s, uint64_t id, uint64_t version)
{
    if (version == 0)
        return CAIRN_EINVAL;
    struct chunk_entry *e;
    int rc = entry_acquire_staged(s, id, version, &e);
    if (rc)
        return rc;
    if (staged_flags(e, version) & CHUNK_VER_SEALED) {
        entry_release(s, e); /* a flush must never vouch for bytes sent before a restart */
        return CAIRN_STALEVERSION;
    }
    struct chunk_hdr h;
    rc = sync_staged(s, e, version, CHUNK_STATE_STAGED, &h);
    if (rc)
        chunk_drop_staged(s, e, version, rc);
    entry_release(s, e);
    return rc;
}

/* --- commit, abort, delete -------------------------------------------------------------------- */

/* The commit point on this replica is the directory fsync after the rename:
 * before it a crash leaves the older version current (and this one staged, its
 * header already saying committed, which recovery accepts); after it, this one.
 * The older committed file is deleted last; a crash before that leaves two
 * committed files and recovery keeps the newer. The header is synced before the
 * rename so the committed name never points at a header that is not on disk. */
static int commit_staged(struct chunk_store *s, struct chunk_entry *e, uint64_t version)
{
    struct chunk_hdr h;
    int rc = sync_staged(s, e, version, CHUNK_STATE_COMMITTED, &h);
    char stg[CAIRN_PATH_MAX], chk[CAIRN_PATH_MAX], dir[CAIRN_PATH_MAX];
    chunk_file_path(s, e->id, version, CHUNK_NAME_STAGED, stg);
    chunk_file_path(s, e->id, version, CHUNK_NAME_COMMITTED, chk);
    chunk_dir_path(s, e->id, dir);
    if (rc == 0)
        rc = rio_rename(s->fs, stg, chk);
    if (rc) {
        chunk_drop_staged(s, e, version, rc);
        return rc;
    }
    uint64_t old = e->committed.version;
    entry_del_staged(s, e, version);
    entry_set_committed(s, e, version, h.length);
    /* The index follows the names; if this sync fails, a retried commit syncs
     * again. */
    rc = rio_sync_dir(s->fs, dir);
    if (rc == 0 && old != 0) {
        int urc = chunk_file_remove(s, e->id, old, CHUNK_NAME_COMMITTED);
        if (urc)
            LOG_WARN(CHUNK_LOG,
                     "chunk %016llx: cannot remove superseded v%llu: %s (removed at "
                     "the next open)",
                     (unsigned long long)e->id, (unsigned long long)old, cairn_err_name(urc));
    }
    return rc;
}

int chunk_commit(struct chunk_store *s, uint64_t id, uint64_t version)
{
    if (version == 0)
        return CAIRN_EINVAL;
    struct chunk_entry *e;
    int rc = entry_acquire(s, id, 0, &e);
    if (rc)
        return rc;
    if (!e)
        return CAIRN_STALEVERSION;
    if (e->committed.version == version) {
        /* A retried commit: the rename is done; make sure it is durable. */
        char dir[CAIRN_PATH_MAX];
        chunk_dir_path(s, id, dir);
        rc = rio_sync_dir(s->fs, dir);
    } else if (version < e->committed.version || entry_staged_find(e, version) < 0) {
        rc = CAIRN_STALEVERSION;
    } else if ((staged_flags(e, version) & (CHUNK_VER_SEALED | CHUNK_VER_FLUSHED)) ==
               CHUNK_VER_SEALED) {
        /* Written after its last flush, then a restart: its bytes are not the
         * ones any writer was told are durable. Kept for its DROP; the metadata
         * group re-replicates from a good copy. */
        LOG_WARN(CHUNK_LOG, "chunk %016llx: commit of v%llu refused: not flushed before restart",
                 (unsigned long long)id, (unsigned long long)version);
        rc = CAIRN_STALEVERSION;
    } else {
        rc = commit_staged(s, e, version);
    }
    entry_release(s, e);
    return rc;
}

int chunk_abort(struct chunk_store *s, uint64_t id, uint64_t version)
{
    if (version == 0)
        return CAIRN_EINVAL;
    struct chunk_entry *e;
    int rc = entry_acquire(s, id, 0, &e);
    if (rc || !e)
        return rc;
    if (e->committed.version == version) {
        LOG_ERROR(CHUNK_LOG, "chunk %016llx: abort of committed v%llu refused",
                  (unsigned long long)id, (unsigned long long)version);
        rc = CAIRN_CONFLICT;
    } else if (entry_staged_find(e, version) >= 0) {
        rc = chunk_file_remove(s, id, version, CHUNK_NAME_STAGED);
        if (rc == 0)
            entry_del_staged(s, e, version);
    }
    entry_release(s, e);
    return rc;
}

int chunk_delete(struct chunk_store *s, uint64_t id, uint64_t version)
{
    struct chunk_entry *e;
    int rc = entry_acquire(s, id, 0, &e);
    if (rc || !e)
        return rc;
    if (e->committed.version != 0 && (version == 0 || version == e->committed.version)) {
        rc = chunk_file_remove(s, id, e->committed.version, CHUNK_NAME_COMMITTED);
        if (rc == 0)
            entry_set_committed(s, e, 0, 0);
    }
    for (uint32_t i = e->n_staged; rc == 0 && i > 0; i--) {
        uint64_t v = e->staged[i - 1].version;
        if (version != 0 && version != v)
            continue;
        rc = chunk_file_remove(s, id, v, CHUNK_NAME_STAGED);
        if (rc == 0)
            entry_del_staged(s, e, v);
    }
    entry_release(s, e);
    return rc;
}
