/*
 * chunk.h: chunk storage on a chunk server's disk, the library under `cairn chunk`.
 *
 * One file per chunk version in <dir>/chunks/<hh>/ (format: docs/chunk-format.md,
 * format.h), with a CRC32C per 64 KiB block kept in a table inside the file. The write
 * path is the replica's half of DESIGN.md §6's two-phase commit:
 *
 *   chunk_stage(id, v, base)  a new staged version v beside the committed one, empty or a
 *                             clone of the committed version `base` (partial overwrites)
 *   chunk_write(id, v, ...)   write ranges of the staged version (CRCs kept up to date)
 *   chunk_flush(id, v)        header + fdatasync: after it returns 0, the staged bytes and
 *                             length survive a crash
 *   chunk_commit(id, v)       v becomes the committed version (atomically: rename and
 *                             directory fsync); the older committed version is deleted after
 *   chunk_abort(id, v)        the staged version is deleted
 *
 * Reads (chunk_read) verify the CRC of every block they touch and never return bytes that
 * do not match: they fail with CAIRN_CORRUPT and name the block. The scrubber
 * (chunk_scrub_step) verifies every committed version a budget of bytes at a time.
 * chunk_store_open() rebuilds the in-memory index from the directory after a restart or a
 * crash; a staged version comes back as of its last flush (blocks written after that flush
 * read either as some later write left them or as CAIRN_CORRUPT, never as a mixture: such
 * a version was never acknowledged whole, and the metadata group aborts it).
 *
 * Restarts: every staged version found at open is sealed: chunk_write and chunk_flush refuse
 * it (CAIRN_STALEVERSION, the version is kept), because a writer unaware of the restart
 * must not get a flush acknowledged over bytes the restart may have lost. chunk_commit
 * accepts a sealed version only if nothing was written after its last flush (the header's
 * CHUNK_HDR_FLUSHED flag, set by chunk_flush and cleared durably by the first write after
 * it): a replica that acknowledged the final flush and then restarted still commits; any
 * other sealed version refuses the commit and waits for its abort (docs/chunk-format.md,
 * "Restarts"). chunk_info.sealed and .committable say which is which.
 *
 * Versions are >= 1 (0 means "none" in this interface). A chunk has at most one committed
 * version and up to CAIRN_CHUNK_STAGED_MAX staged ones, each newer than the committed one
 * when it was staged. Committed files are immutable: only staged versions are written.
 *
 * Memory: the store owns its index; chunk_list() returns an array the caller frees with
 * free(). No call keeps a pointer to a caller's buffer after it returns.
 *
 * Threads: every function may be called from any thread (the daemon runs them on libuv's
 * thread pool), concurrently, except chunk_store_close() (no call may be running or
 * follow). An internal mutex protects the index and is never held across file I/O.
 * Operations that change a chunk (stage, write, flush, commit, abort, delete) and reads of
 * staged versions are serialized per chunk id (a busy flag in the index entry; a second
 * caller waits), so they run in parallel for different chunks. Reads of committed versions
 * and the scrubber take no per-chunk lock: a committed file is never modified, so they open
 * and read it while a commit or delete may replace or unlink its name (an open file stays
 * readable); a read that loses that race to the unlink fails with CAIRN_STALEVERSION.
 * chunk_scrub_step() calls are serialized among themselves (one cursor).
 *
 * Errors (negative cairn_err):
 *   CAIRN_STALEVERSION  the server does not hold that version (in the state asked for), or
 *                       holds it sealed (a write, a flush, or the commit of an unflushed one)
 *   CAIRN_CORRUPT       a block or the header failed its CRC (chunk_read says which block)
 *   CAIRN_ENOSPC        the disk is full; the staged version concerned has been removed,
 *                       the committed version is untouched
 *   CAIRN_EIO, ...      other file system errors, as their errno; a failed write, flush or
 *                       commit removes the staged version (its bytes are unknown: after a
 *                       failed fdatasync Linux may have dropped the dirty pages), so a retry
 *                       gets CAIRN_STALEVERSION and the writer starts over
 *   CAIRN_EFBIG         a write past CAIRN_CHUNK_SIZE (the staged version stays usable)
 *   CAIRN_EEXIST        chunk_stage of a version already held
 *   CAIRN_LIMIT         CAIRN_CHUNK_STAGED_MAX staged versions of one chunk exist already
 *   CAIRN_CONFLICT      chunk_abort of the committed version (a protocol error upstream;
 *                       nothing is deleted)
 *   CAIRN_EINVAL        version 0 or bad arguments
 */
#ifndef CAIRN_CHUNK_CHUNK_H
#define CAIRN_CHUNK_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "raftio/fs.h"

/* --- the file seam ---------------------------------------------------------------------------- */

/* Space of the file system holding the data directory. */
struct chunk_space {
    uint64_t total_bytes;
    uint64_t free_bytes; /* available to this (unprivileged) process */
};

/*
 * Every file system call of the store goes through `fs` (raftio's seam: open,
 * pread, pwrite, fdatasync, rename, unlink, mkdir, sync_dir, list, ...) plus
 * the two calls below, so a test can put raftio's faultfs under it to inject
 * EIO/ENOSPC and crashes.
 */
struct chunk_fs {
    struct raftio_fs *fs;
    /* statvfs(3) of dir. */
    int (*statvfs)(struct chunk_fs *cfs, const char *dir, struct chunk_space *out);
    /* Optional (NULL: not available). Makes the empty file out a copy of the
     * first len bytes of in, inside the kernel (reflink, else copy_file_range),
     * keeping holes as holes. in and out are handles of `fs`. CAIRN_ENOTSUP: use
     * the portable copy through pread/pwrite. */
    int (*copy_file)(struct chunk_fs *cfs, int in, int out, uint64_t len);
};

/* The real file system: raftio_fs_posix() plus statvfs(3) and
 * FICLONE/copy_file_range(2). A static object; never freed. */
struct chunk_fs *chunk_fs_posix(void);

/* --- the store -------------------------------------------------------------------------------- */

struct chunk_store;

struct chunk_store_options {
    const char *dir;      /* data directory; created if missing (its parent must exist) */
    struct chunk_fs *cfs; /* NULL: chunk_fs_posix(); must outlive the store */
};

/* What chunk_store_open() found on disk. */
struct chunk_recovery {
    uint64_t committed;        /* committed versions indexed */
    uint64_t staged;           /* staged versions indexed (all sealed) */
    uint64_t staged_unflushed; /* of them, written after their last flush: never
                                  committable, kept for their DROP */
    uint64_t quarantined;      /* files moved to <dir>/quarantine: bad header, wrong
                                  place */
    uint64_t tmp_removed;      /* leftovers of an interrupted chunk_stage, deleted */
    uint64_t superseded;       /* older committed versions deleted (a commit cut short) */
    uint64_t unknown;          /* other names under chunks/, left alone (and logged) */
};

/* Opens (creating the directory layout if needed) and scans the data directory:
 * every version file is checked (header CRC, name, place) and indexed; bad ones
 * are quarantined, never trusted. rep may be NULL. Errors: file system errors,
 * CAIRN_ENAMETOOLONG for a dir too long to build paths under, CAIRN_ENOMEM. */
int chunk_store_open(const struct chunk_store_options *o, struct chunk_store **out,
                     struct chunk_recovery *rep);
/* Frees the store (files stay as they are). NULL is ignored. */
void chunk_store_close(struct chunk_store *s);

/* --- the write path (DESIGN.md §6) ------------------------------------------------------------ */

/* Creates staged version `version` of chunk id. base_version 0: an empty chunk
 * (length 0, holes read as zeros). Otherwise it must be the committed version,
 * which is cloned (reflink or in-kernel copy when the seam can, else a copy
 * keeping holes) so a write of part of the chunk keeps the rest; the clone
 * keeps the base's CRCs, so corruption in the base stays detectable in the
 * clone. The new file's name is durable when this returns. Errors:
 * CAIRN_STALEVERSION (version not newer than the committed one, or base_version
 * not the committed version), CAIRN_EEXIST, CAIRN_LIMIT, CAIRN_ENOSPC, I/O
 * errors. */
int chunk_stage(struct chunk_store *s, uint64_t id, uint64_t version, uint64_t base_version);

/* Writes n bytes at off (off + n <= CAIRN_CHUNK_SIZE) into a staged version;
 * the length becomes at least off + n. Partial blocks are read, verified and
 * merged (a damaged block is CAIRN_CORRUPT, never re-checksummed). Not durable
 * until chunk_flush or chunk_commit. */
int chunk_write(struct chunk_store *s, uint64_t id, uint64_t version, uint64_t off, const void *p,
                size_t n);

/* Makes a staged version durable: its length goes into the header (the slot not
 * holding the current one) and the file is fdatasynced. Call before
 * acknowledging a flush to the writer. */
int chunk_flush(struct chunk_store *s, uint64_t id, uint64_t version);

/* Makes a staged version the committed one, durably (header, fdatasync, rename,
 * directory fsync), then deletes the older committed version. Idempotent:
 * committing the committed version returns 0 (after making sure its name is
 * durable). CAIRN_STALEVERSION if the version is neither staged nor committed
 * here, or older than the committed one. */
int chunk_commit(struct chunk_store *s, uint64_t id, uint64_t version);

/* Deletes a staged version, durably. Idempotent: an unknown version returns 0.
 */
int chunk_abort(struct chunk_store *s, uint64_t id, uint64_t version);

/* Deletes one version (staged or committed), or every version of the chunk when
 * version is 0 (garbage collection, a stale replica). Idempotent: an unknown
 * version returns 0. */
int chunk_delete(struct chunk_store *s, uint64_t id, uint64_t version);

/* Cuts the committed version to length bytes, keeping its version number (a
 * file truncated inside this chunk). Atomic: the cut copy replaces the file by
 * a rename, so a crash leaves the old bytes or the cut ones; the block the cut
 * falls into is verified first (CAIRN_CORRUPT if damaged: nothing changes).
 * A length not shorter than the current one returns 0 (a resent command).
 * CAIRN_STALEVERSION if version is not the committed version here. */
int chunk_truncate(struct chunk_store *s, uint64_t id, uint64_t version, uint64_t length);

/* --- reads ------------------------------------------------------------------------------------ */

enum chunk_read_flags {
    CHUNK_READ_STAGED = 1, /* read a staged version (replication of staged data) */
};

/* The block number chunk_read and the scrubber report when the header or the
 * CRC table itself cannot be trusted (bad header CRC, truncated table). */
#define CHUNK_BLOCK_HEADER UINT32_MAX

struct chunk_read_result {
    size_t got;         /* bytes copied: n clipped to the version's length */
    uint64_t length;    /* the version's length */
    uint32_t bad_block; /* with CAIRN_CORRUPT: the block that failed, or
                           CHUNK_BLOCK_HEADER */
};

/* Reads [off, off + n) of a committed version (or a staged one with
 * CHUNK_READ_STAGED), clipped to its length; holes read as zeros. Every block
 * touched is verified first. Errors: CAIRN_STALEVERSION, CAIRN_CORRUPT
 * (res->bad_block), CAIRN_EINVAL (off past CAIRN_CHUNK_SIZE, version 0), I/O
 * errors. */
int chunk_read(struct chunk_store *s, uint64_t id, uint64_t version, uint64_t off, void *p,
               size_t n, unsigned flags, struct chunk_read_result *res);

/* --- reports ---------------------------------------------------------------------------------- */

/* One version held, as the full chunk report lists them. */
struct chunk_info {
    uint64_t id;
    uint64_t version;
    uint64_t length;
    int staged;      /* 0: the committed version; 1: a staged one */
    int sealed;      /* staged, found on disk at open: refuses writes and flushes */
    int committable; /* staged: chunk_commit may make it current (not sealed, or
                        sealed after a flush with nothing written since) */
};

/* Every version held, sorted by (id, version): a malloc'd array (NULL when n is
 * 0) the caller frees. CAIRN_ENOMEM. */
int chunk_list(struct chunk_store *s, struct chunk_info **out, size_t *n);

/* The versions of one chunk: out[0..*n) (at most 1 + CAIRN_CHUNK_STAGED_MAX),
 * committed first. */
void chunk_stat(struct chunk_store *s, uint64_t id, struct chunk_info *out, size_t *n);

struct chunk_usage {
    uint64_t chunks;       /* chunks with a committed version */
    uint64_t bytes;        /* sum of committed lengths */
    uint64_t staged;       /* staged versions */
    uint64_t staged_bytes; /* sum of staged lengths */
    uint64_t quarantined;  /* files quarantined since open (recovery) */
};

void chunk_usage(struct chunk_store *s, struct chunk_usage *out);

/* statvfs of the data directory through the seam. */
int chunk_capacity(struct chunk_store *s, struct chunk_space *out);

/* --- scrubbing -------------------------------------------------------------------------------- */

/* Called for each bad block found: err is CAIRN_CORRUPT (CRC mismatch; block
 * may be CHUNK_BLOCK_HEADER) or the I/O error that made the block unreadable.
 */
typedef void (*chunk_bad_block_fn)(void *ctx, uint64_t id, uint64_t version, uint32_t block,
                                   int err);

struct chunk_scrub_stats {
    uint64_t bytes_read;     /* bytes read in this step: data blocks and CRC tables */
    uint64_t data_bytes;     /* of which data bytes (what the file held) */
    uint64_t blocks_checked; /* table entries verified (holes past the end of file
                                included) */
    uint64_t bad_blocks;     /* reports made through the callback */
    uint64_t chunks_done;    /* chunk versions finished in this step */
    uint64_t passes_done;    /* 1 when this step finished a pass over every chunk */
};

/* Verifies committed versions, block by block, from where the previous step
 * stopped, until budget_bytes have been read (data blocks, and the 4 KiB CRC
 * table of each chunk visited) or the pass ends. Each step makes progress: it
 * reads at least one data block or finishes one chunk, so a budget smaller than
 * a block still advances (by one block per step). A pass covers the chunks
 * committed when it started, in id order; the step after the one that ends a
 * pass starts a new one (it wraps around). The daemon rate-limits scrubbing by
 * calling this on a timer. st may be NULL. fn runs on the calling thread and
 * must not call chunk_scrub_step. Returns 0 (problems go to fn) or
 * CAIRN_ENOMEM. */
int chunk_scrub_step(struct chunk_store *s, uint64_t budget_bytes, chunk_bad_block_fn fn, void *ctx,
                     struct chunk_scrub_stats *st);

#endif
