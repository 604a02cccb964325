/*
 * faultfs.h: a fault-injecting file seam for tests (SQLite's crash-simulating
 * VFS is the model). It wraps the real file system, so files are real files
 * under a test directory, and keeps what a power cut could undo:
 *
 *  - data: every pwrite/ftruncate of a file since its last fdatasync/fsync,
 *    with the bytes it overwrote (its pre-image);
 *  - directory entries: every create, rename and unlink since the last
 *    sync_dir of the parent directory (an unlinked or replaced file waits
 *    under a hidden name ".faultfs-N" that list() does not show).
 *
 * faultfs_crash() then plays the power cut: it rolls back every unsynced
 * change (FAULTFS_CRASH_LOSE_UNSYNCED), or keeps a random prefix of each
 * file's unsynced changes, tears the next write at a random byte (the rest
 * of it reverts, or reads as zeros or as garbage past the old end of file),
 * and keeps a random prefix of the unsynced directory changes
 * (FAULTFS_CRASH_RANDOM). Model assumptions, stated because tests rely on
 * them: writes to one file persist in the order they were made (a prefix);
 * directory operations persist in the order they were made (as the
 * metadata journals of ext4 and XFS do); mkdir is durable at once; fsync of a
 * file does not make its directory entry durable (only sync_dir does).
 * After a crash every handle is dead (calls on it fail with CAIRN_EBADF;
 * close succeeds) and the files on disk are what a rebooted machine sees.
 *
 * Faults on demand: faultfs_fail() makes the n-th next call of one operation
 * fail with a given error (a failing pwrite first writes half of its bytes,
 * as a short write before ENOSPC). Counters say how many calls of each
 * operation were made (the group-commit test counts fdatasyncs); a sync hook
 * runs at the start of every fdatasync/fsync (a test can hold a sync there).
 *
 * The real fdatasync/fsync are not called: durability is what this layer
 * records, and tests stay fast.
 *
 * Memory: the object owns its records; faultfs_free() releases everything.
 * Threads: all calls take one internal mutex, so the seam may be used from
 * an I/O thread while a test thread calls the control functions; the sync
 * hook runs outside the mutex, on the thread that called fdatasync/fsync.
 * Errors: as fs.h; faultfs_new returns CAIRN_ENOMEM on allocation failure.
 */
#ifndef CAIRN_RAFTIO_FAULTFS_H
#define CAIRN_RAFTIO_FAULTFS_H

#include <stdint.h>

#include "common/prng.h"
#include "raftio/fs.h"

enum faultfs_op {
    FAULTFS_OPEN = 0,
    FAULTFS_PREAD,
    FAULTFS_PWRITE,
    FAULTFS_FDATASYNC,
    FAULTFS_FSYNC,
    FAULTFS_FTRUNCATE,
    FAULTFS_RENAME,
    FAULTFS_UNLINK,
    FAULTFS_MKDIR,
    FAULTFS_SYNC_DIR,
    FAULTFS_LIST,
    FAULTFS_OP_COUNT
};

enum faultfs_crash_mode {
    FAULTFS_CRASH_LOSE_UNSYNCED = 0, /* every unsynced change is lost */
    FAULTFS_CRASH_RANDOM = 1,        /* random prefixes survive, one write torn */
};

/* faultfs_fail(..., FAULTFS_ALWAYS, err): every call fails until cleared. */
#define FAULTFS_ALWAYS 0u

struct faultfs;

int faultfs_new(struct faultfs **out);
void faultfs_free(struct faultfs *f);
/* The seam to hand to raftio; valid while f lives. */
struct raftio_fs *faultfs_fs(struct faultfs *f);

/* The nth next call of op (1 = the very next) fails with err (a negative
 * cairn_err), once; FAULTFS_ALWAYS: every call fails until faultfs_clear. */
void faultfs_fail(struct faultfs *f, enum faultfs_op op, uint32_t nth, int err);
void faultfs_clear(struct faultfs *f);
/* Calls of op made so far (failed ones included). */
uint64_t faultfs_count(struct faultfs *f, enum faultfs_op op);
/* Unsynced changes recorded now: data changes plus directory changes. */
uint64_t faultfs_unsynced(struct faultfs *f);
void faultfs_set_sync_hook(struct faultfs *f, void (*fn)(void *ctx), void *ctx);

/* The power cut (rng may be NULL for FAULTFS_CRASH_LOSE_UNSYNCED). */
void faultfs_crash(struct faultfs *f, enum faultfs_crash_mode mode, struct prng *rng);

/* Durable corruption, as bit rot: XORs the byte at off of path with mask,
 * straight on disk. 0, or the error of the failing call. */
int faultfs_corrupt(const char *path, uint64_t off, uint8_t mask);

#endif
