/*
 * raftio.h: the durable state of one Raft node in one data directory
 * (DESIGN.md §4, the shell; docs/storage.md has every byte):
 *
 *   <dir>/identity      cluster id and node id, written at first start
 *   <dir>/hardstate     term, vote, commit; replaced atomically
 *   <dir>/wal/          the write-ahead log (wal.h)
 *   <dir>/snap/<index>-<term>.snap   snapshots, the newest two kept
 *
 * raftio_load() opens the directory (creating it on first start), recovers
 * everything and hands back a struct raft_restore for raft_new(). The daemon
 * then persists each ready batch through raftio_append/raftio_sync,
 * raftio_save_hard_state and the snapshot calls, or hands whole batches to
 * the group-commit writer thread (writer.h).
 *
 * Ordering rules the calls keep (and rely on):
 *  - every file that replaces another (hard state, snapshot, identity) is
 *    written to a .tmp file, fsynced, renamed, and its directory fsynced;
 *  - raftio_snapshot_install() makes the snapshot durable before the log is
 *    reset; raftio_snapshot_save() makes it durable before compacting;
 *  - the caller persists entries (raftio_sync) before a hard state whose
 *    commit index covers them, and both before sending messages.
 * At load, a snapshot and the log must connect: the log holds the snapshot's
 * index with the snapshot's term, or starts right after it; a log that does
 * not hold the snapshot's index or holds it with another term is the rest of
 * an interrupted install and is dropped; a log starting after a gap is
 * CAIRN_CORRUPT.
 *
 * Memory: a struct raftio_state owns the recovered entries and the snapshot
 * bytes that its restore points to; free it with raftio_state_free() after
 * raft_new() has copied them. The calls copy nothing they keep.
 *
 * Threads: one thread owns a struct raftio at a time (no locking); while a
 * raftio_writer runs, it is the writer thread.
 *
 * Errors: CAIRN_WRONGCLUSTER (the directory belongs to another cluster),
 * CAIRN_EINVAL (bad options, or the directory belongs to another node),
 * CAIRN_CORRUPT (damage recovery must not paper over; logged with the file
 * and offset), the seam's I/O codes. An I/O error in the log fails the
 * object (wal.h): close it and load again.
 */
#ifndef CAIRN_RAFTIO_H
#define CAIRN_RAFTIO_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "raftio/fs.h"
#include "raftio/wal.h"

#define RAFTIO_FORMAT_VERSION 1u

struct raftio_options {
    struct raftio_fs *fs;   /* NULL: the POSIX seam */
    uint64_t cluster_id;    /* nonzero */
    uint64_t node_id;       /* nonzero */
    uint64_t segment_bytes; /* 0: CAIRN_WAL_SEGMENT_BYTES */
};

/* What raftio_load recovered. restore is ready for raft_new(): hard state,
 * snapshot meta (index 0 and an empty configuration on a fresh node: the
 * daemon puts the initial configuration there, or saves a snapshot at index
 * 0 holding it with raftio_snapshot_save), entries after the snapshot,
 * applied = snapshot index, and the snapshot bytes. */
struct raftio_state {
    struct raft_restore restore;
    int fresh; /* 1 if this load created the data directory's identity */
    const uint8_t *snapshot_data;
    size_t snapshot_len;
    /* owned storage behind restore */
    uint8_t *snapshot_file;
    struct wal_entries entries;
};

struct raftio;

int raftio_load(const char *dir, const struct raftio_options *opt, struct raftio **out,
                struct raftio_state *st);
void raftio_state_free(struct raftio_state *st);
/* Closes the files; appended entries that were not synced may be lost. */
void raftio_close(struct raftio *io);

/* The log (wal.h semantics). */
int raftio_append(struct raftio *io, const struct raft_entry *entries, size_t n);
int raftio_sync(struct raftio *io);
uint64_t raftio_durable_index(const struct raftio *io);
struct wal *raftio_wal(struct raftio *io);

/* Replaces the hard state file (atomic and durable on return). */
int raftio_save_hard_state(struct raftio *io, const struct raft_hard_state *hs);
/* The hard state as it is on disk. */
void raftio_hard_state(const struct raftio *io, struct raft_hard_state *hs);

/* A snapshot the state machine took (index <= the log's last index): saved
 * durably, older snapshots beyond the newest two deleted, and log segments
 * wholly covered by the older kept snapshot deleted (so that either kept
 * snapshot plus the log is a complete state). CAIRN_EINVAL if older than
 * the newest snapshot on disk. */
int raftio_snapshot_save(struct raftio *io, const struct raft_snapshot *snap);
/* A snapshot received from the leader: saved durably, then the whole log is
 * dropped and continues at snap->meta.index + 1. */
int raftio_snapshot_install(struct raftio *io, const struct raft_snapshot *snap);
/* Meta of the newest snapshot on disk (index 0 if none). */
void raftio_snapshot_meta(const struct raftio *io, struct raft_snapshot_meta *meta);

uint64_t raftio_cluster_id(const struct raftio *io);
uint64_t raftio_node_id(const struct raftio *io);

#endif
