/*
 * raftio_int.h: what raftio.c (load, identity, hard state) and snapshot.c
 * share. Private to src/raftio; same rules as raftio.h.
 */
#ifndef CAIRN_RAFTIO_INT_H
#define CAIRN_RAFTIO_INT_H

#include <stdint.h>

#include "common/limits.h"
#include "raftio/raftio.h"

#define RAFTIO_SUBSYS "raftio"
#define RAFTIO_SNAP_NAME_MAX 48u

struct raftio {
    struct raftio_fs *fs;
    char dir[CAIRN_PATH_MAX];
    char wal_dir[CAIRN_PATH_MAX];
    char snap_dir[CAIRN_PATH_MAX];
    uint64_t cluster_id;
    uint64_t node_id;
    struct wal *wal;
    struct raft_hard_state hs;      /* as on disk */
    struct raft_snapshot_meta snap; /* newest snapshot on disk (index 0: none) */
};

/* A snapshot file: its name and what the name says. */
struct raftio_snap_file {
    uint64_t index;
    uint64_t term;
    char name[RAFTIO_SNAP_NAME_MAX];
};

/* Snapshot files in the snapshot directory, newest first (malloc'd). */
int raftio_snap_list(struct raftio *io, struct raftio_snap_file **v, size_t *n);
/* Loads the newest snapshot that verifies into st (older ones are tried when
 * a newer one is damaged, with an error logged); none: index 0. */
int raftio_snap_load_newest(struct raftio *io, struct raftio_state *st);
/* Writes snap durably, deletes all but the newest CAIRN_SNAPSHOTS_KEPT and
 * returns in *oldest_kept the index of the oldest one kept. */
int raftio_snap_write(struct raftio *io, const struct raft_snapshot *snap, uint64_t *oldest_kept);

#endif
