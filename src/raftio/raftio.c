/* raftio.c: a node's data directory: identity, hard state, loading it all
 * into a raft_restore, and the calls that persist a ready batch. Snapshot
 * files are in snapshot.c, the log in wal.c. Layouts: docs/storage.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "raftio/raftio_int.h"
#include "wire/codec.h"

#define IDENTITY_FILE "identity"
#define IDENTITY_MAGIC "CAIRNIDN"
#define IDENTITY_BYTES 36u
#define HARDSTATE_FILE "hardstate"
#define HARDSTATE_MAGIC "CAIRNHST"
#define HARDSTATE_BYTES 44u

/* --- small fixed records: magic[8], u32 version, u32 flags (0), body, and a
 * u32 CRC32C of everything before it ------------------------------------- */

static void fixed_seal(uint8_t *p, size_t len, const char *magic)
{
    memcpy(p, magic, 8);
    wire_store_u32(p + 8, RAFTIO_FORMAT_VERSION);
    wire_store_u32(p + 12, 0);
    wire_store_u32(p + len - 4, crc32c(0, p, len - 4));
}

/* Reads dir/name into out (exactly len bytes). CAIRN_ENOENT if missing,
 * CAIRN_CORRUPT (logged) if its size, magic, version or CRC is wrong. */
static int fixed_read(struct raftio *io, const char *name, const char *magic, uint8_t *out,
                      size_t len)
{
    char path[CAIRN_PATH_MAX];
    int rc = rio_path(path, sizeof path, io->dir, name);
    uint8_t *data = NULL;
    size_t got = 0;
    if (rc == 0)
        rc = rio_read_file(io->fs, path, len, &data, &got);
    if (rc == 0 &&
        (got != len || memcmp(data, magic, 8) != 0 ||
         wire_load_u32(data + 8) != RAFTIO_FORMAT_VERSION || wire_load_u32(data + 12) != 0 ||
         wire_load_u32(data + len - 4) != crc32c(0, data, len - 4)))
        rc = CAIRN_CORRUPT;
    if (rc == CAIRN_TOOBIG)
        rc = CAIRN_CORRUPT;
    if (rc == CAIRN_CORRUPT)
        LOG_ERROR(RAFTIO_SUBSYS, "%s: damaged (size, magic, version or checksum)", path);
    if (rc == 0)
        memcpy(out, data, len);
    free(data);
    return rc;
}

static int fixed_write(struct raftio *io, const char *name, uint8_t *p, size_t len,
                       const char *magic)
{
    fixed_seal(p, len, magic);
    struct rio_part part = {p, len};
    return rio_write_atomic(io->fs, io->dir, name, &part, 1);
}

/* --- the directory ---------------------------------------------------------- */

static int raftio_paths(struct raftio *io, const char *dir)
{
    int n = snprintf(io->dir, sizeof io->dir, "%s", dir);
    if (n <= 0 || (size_t)n >= sizeof io->dir)
        return CAIRN_ENAMETOOLONG;
    int rc = rio_path(io->wal_dir, sizeof io->wal_dir, dir, "wal");
    return rc ? rc : rio_path(io->snap_dir, sizeof io->snap_dir, dir, "snap");
}

static int ensure_dir(struct raftio *io, const char *path, int *created)
{
    int rc = rio_mkdir(io->fs, path);
    *created = rc == 0;
    return rc == CAIRN_EEXIST ? 0 : rc;
}

/* The directory holding path ("." for a bare name). */
static int parent_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    int n = !slash          ? snprintf(out, cap, ".")
            : slash == path ? snprintf(out, cap, "/")
                            : snprintf(out, cap, "%.*s", (int)(slash - path), path);
    return n < 0 || (size_t)n >= cap ? CAIRN_ENAMETOOLONG : 0;
}

/* 1 if dir has entries other than leftovers of interrupted writes. */
static int dir_has_data(struct raftio *io, const char *dir, int *has)
{
    struct raftio_names names;
    *has = 0;
    int rc = rio_list(io->fs, dir, &names);
    if (rc == CAIRN_ENOENT)
        return 0;
    for (size_t i = 0; rc == 0 && i < names.n; i++)
        *has |= !rio_is_tmp_name(names.v[i]);
    if (rc == 0)
        rio_names_free(&names);
    return rc;
}

static int remove_tmp_files(struct raftio *io, const char *dir)
{
    struct raftio_names names;
    int rc = rio_list(io->fs, dir, &names);
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        if (!rio_is_tmp_name(names.v[i]))
            continue;
        char path[CAIRN_PATH_MAX];
        rc = rio_path(path, sizeof path, dir, names.v[i]);
        if (rc == 0)
            rc = rio_unlink(io->fs, path);
        if (rc == 0)
            LOG_INFO(RAFTIO_SUBSYS, "%s: removed %s left by an interrupted write", dir, names.v[i]);
    }
    if (rc == 0)
        rio_names_free(&names);
    return rc;
}

/* The identity is written first on a fresh directory, so state without one
 * means the identity was lost: refuse rather than adopt unknown data. */
static int identity_create(struct raftio *io)
{
    int has_hs = 0, has_wal = 0, has_snap = 0;
    uint8_t hs[HARDSTATE_BYTES];
    int rc = fixed_read(io, HARDSTATE_FILE, HARDSTATE_MAGIC, hs, sizeof hs);
    has_hs = rc != CAIRN_ENOENT;
    rc = dir_has_data(io, io->wal_dir, &has_wal);
    if (rc == 0)
        rc = dir_has_data(io, io->snap_dir, &has_snap);
    if (rc == 0 && (has_hs || has_wal || has_snap)) {
        LOG_ERROR(RAFTIO_SUBSYS, "%s: Raft state present but no identity file", io->dir);
        return CAIRN_CORRUPT;
    }
    uint8_t b[IDENTITY_BYTES];
    wire_store_u64(b + 16, io->cluster_id);
    wire_store_u64(b + 24, io->node_id);
    if (rc == 0)
        rc = fixed_write(io, IDENTITY_FILE, b, sizeof b, IDENTITY_MAGIC);
    if (rc == 0)
        LOG_INFO(RAFTIO_SUBSYS, "%s: new data directory of cluster %016" PRIx64 ", node %" PRIu64,
                 io->dir, io->cluster_id, io->node_id);
    return rc;
}

static int identity_check(struct raftio *io, int *fresh)
{
    uint8_t b[IDENTITY_BYTES];
    int rc = fixed_read(io, IDENTITY_FILE, IDENTITY_MAGIC, b, sizeof b);
    *fresh = rc == CAIRN_ENOENT;
    if (*fresh)
        return identity_create(io);
    if (rc)
        return rc;
    uint64_t cluster = wire_load_u64(b + 16), node = wire_load_u64(b + 24);
    if (cluster != io->cluster_id) {
        LOG_ERROR(RAFTIO_SUBSYS, "%s: belongs to cluster %016" PRIx64 ", not %016" PRIx64, io->dir,
                  cluster, io->cluster_id);
        return CAIRN_WRONGCLUSTER;
    }
    if (node != io->node_id) {
        LOG_ERROR(RAFTIO_SUBSYS, "%s: belongs to node %" PRIu64 ", not %" PRIu64, io->dir, node,
                  io->node_id);
        return CAIRN_EINVAL;
    }
    return 0;
}

static int raftio_prepare(struct raftio *io, int *fresh)
{
    int created, rc = ensure_dir(io, io->dir, &created);
    char parent[CAIRN_PATH_MAX];
    if (rc == 0 && created && (rc = parent_of(io->dir, parent, sizeof parent)) == 0)
        rc = rio_sync_dir(io->fs, parent);
    if (rc == 0)
        rc = identity_check(io, fresh);
    int c_wal = 0, c_snap = 0;
    if (rc == 0)
        rc = ensure_dir(io, io->wal_dir, &c_wal);
    if (rc == 0)
        rc = ensure_dir(io, io->snap_dir, &c_snap);
    if (rc == 0 && (c_wal || c_snap))
        rc = rio_sync_dir(io->fs, io->dir);
    if (rc == 0)
        rc = remove_tmp_files(io, io->dir);
    if (rc == 0)
        rc = remove_tmp_files(io, io->snap_dir);
    return rc;
}

/* --- hard state ------------------------------------------------------------- */

static int hard_state_load(struct raftio *io)
{
    uint8_t b[HARDSTATE_BYTES];
    int rc = fixed_read(io, HARDSTATE_FILE, HARDSTATE_MAGIC, b, sizeof b);
    memset(&io->hs, 0, sizeof io->hs);
    if (rc == CAIRN_ENOENT)
        return 0;
    if (rc)
        return rc;
    io->hs.term = wire_load_u64(b + 16);
    io->hs.vote = wire_load_u64(b + 24);
    io->hs.commit = wire_load_u64(b + 32);
    return 0;
}

/* The stored commit never names an entry that is not durable here (it is
 * lowered to what is): at load, a commit past the log is then real loss. */
int raftio_save_hard_state(struct raftio *io, const struct raft_hard_state *hs)
{
    int rc = wal_error(io->wal);
    if (rc)
        return rc;
    CAIRN_ASSERTF(hs->term >= io->hs.term, "raftio: term goes back from %" PRIu64 " to %" PRIu64,
                  io->hs.term, hs->term);
    CAIRN_ASSERTF(hs->term > io->hs.term || io->hs.vote == RAFT_NONE || hs->vote == io->hs.vote,
                  "raftio: vote changes within term %" PRIu64, hs->term);
    struct raft_hard_state h = *hs;
    h.commit = CAIRN_MIN(h.commit, CAIRN_MAX(io->snap.index, wal_durable_index(io->wal)));
    uint8_t b[HARDSTATE_BYTES];
    wire_store_u64(b + 16, h.term);
    wire_store_u64(b + 24, h.vote);
    wire_store_u64(b + 32, h.commit);
    rc = fixed_write(io, HARDSTATE_FILE, b, sizeof b, HARDSTATE_MAGIC);
    if (rc == 0)
        io->hs = h;
    return rc;
}

void raftio_hard_state(const struct raftio *io, struct raft_hard_state *hs) { *hs = io->hs; }

/* --- load ------------------------------------------------------------------- */

static int raftio_drop_log(struct raftio *io, struct raftio_state *st, const char *why)
{
    const struct raft_snapshot_meta *s = &io->snap;
    LOG_WARN(RAFTIO_SUBSYS,
             "%s: log [%" PRIu64 ", %" PRIu64 "] %s snapshot %" PRIu64 " (term %" PRIu64
             "): dropped (an interrupted snapshot install)",
             io->wal_dir, wal_first_index(io->wal), wal_last_index(io->wal), why, s->index,
             s->term);
    wal_entries_free(&st->entries);
    return wal_reset(io->wal, s->index + 1, s->term);
}

/* Opens the log and makes it connect to the snapshot (see raftio.h). The
 * log is read from the snapshot's own index, to compare its term. */
static int raftio_open_log(struct raftio *io, const struct raftio_options *opt,
                           struct raftio_state *st)
{
    uint64_t s = io->snap.index, t = io->snap.term;
    struct wal_options o = {.fs = io->fs,
                            .cluster_id = io->cluster_id,
                            .segment_bytes = opt->segment_bytes,
                            .start_index = s + 1,
                            .start_term = t,
                            .from_index = s ? s : 1};
    int rc = wal_open(io->wal_dir, &o, &io->wal, &st->entries);
    if (rc)
        return rc;
    uint64_t first = wal_first_index(io->wal), last = wal_last_index(io->wal);
    struct wal_entries *e = &st->entries;
    size_t skip = 0;
    if (first > s + 1 || (s == 0 && first != 1)) {
        LOG_ERROR(RAFTIO_SUBSYS, "%s: log starts at %" PRIu64 " but the snapshot ends at %" PRIu64,
                  io->wal_dir, first, s);
        return CAIRN_CORRUPT;
    }
    if (s > 0 && last < s)
        rc = raftio_drop_log(io, st, "ends before");
    else if (s > 0 && first <= s && e->v[0].term != t)
        rc = raftio_drop_log(io, st, "has another term at the index of");
    else if (s > 0 && first == s + 1 && wal_prev_term(io->wal) != t)
        rc = raftio_drop_log(io, st, "does not continue");
    else if (s > 0 && first <= s)
        skip = 1;
    CAIRN_ASSERT(rc || e->n == 0 || e->v[0].index == (skip ? s : s + 1));
    st->restore.entries = e->v ? e->v + skip : NULL;
    st->restore.n_entries = e->n - skip;
    return rc;
}

/* The hard state must cover the log: its term is at least every stored
 * term, and its commit names no entry that is missing. */
static int raftio_check_restore(struct raftio *io, struct raftio_state *st)
{
    uint64_t s = io->snap.index;
    uint64_t top = CAIRN_MAX(s, wal_last_index(io->wal));
    uint64_t top_term = CAIRN_MAX(io->snap.term, wal_last_term(io->wal));
    if (io->hs.commit > top || io->hs.term < top_term) {
        LOG_ERROR(RAFTIO_SUBSYS,
                  "%s: hard state (term %" PRIu64 ", commit %" PRIu64 ") does not cover the "
                  "stored log (last index %" PRIu64 ", term %" PRIu64 "): entries are missing",
                  io->dir, io->hs.term, io->hs.commit, top, top_term);
        return CAIRN_CORRUPT;
    }
    struct raft_restore *r = &st->restore;
    r->hard_state = io->hs;
    r->hard_state.commit = CAIRN_MAX(io->hs.commit, s);
    r->snapshot_meta = io->snap;
    r->applied = s;
    r->snapshot_data = st->snapshot_data;
    r->snapshot_len = st->snapshot_len;
    return 0;
}

int raftio_load(const char *dir, const struct raftio_options *opt, struct raftio **out,
                struct raftio_state *st)
{
    memset(st, 0, sizeof *st);
    if (opt->cluster_id == 0 || opt->node_id == 0)
        return CAIRN_EINVAL;
    struct raftio *io = calloc(1, sizeof *io);
    if (!io)
        return CAIRN_ENOMEM;
    io->fs = opt->fs ? opt->fs : raftio_fs_posix();
    io->cluster_id = opt->cluster_id;
    io->node_id = opt->node_id;
    int rc = raftio_paths(io, dir);
    if (rc == 0)
        rc = raftio_prepare(io, &st->fresh);
    if (rc == 0)
        rc = hard_state_load(io);
    if (rc == 0)
        rc = raftio_snap_load_newest(io, st);
    if (rc == 0)
        rc = raftio_open_log(io, opt, st);
    if (rc == 0)
        rc = raftio_check_restore(io, st);
    if (rc) {
        raftio_close(io);
        raftio_state_free(st);
        return rc;
    }
    *out = io;
    return 0;
}

void raftio_state_free(struct raftio_state *st)
{
    free(st->snapshot_file);
    wal_entries_free(&st->entries);
    memset(st, 0, sizeof *st);
}

void raftio_close(struct raftio *io)
{
    if (!io)
        return;
    wal_close(io->wal);
    free(io);
}

/* --- persisting ------------------------------------------------------------- */

int raftio_append(struct raftio *io, const struct raft_entry *entries, size_t n)
{
    return wal_append(io->wal, entries, n);
}

int raftio_sync(struct raftio *io) { return wal_sync(io->wal); }
uint64_t raftio_durable_index(const struct raftio *io) { return wal_durable_index(io->wal); }
struct wal *raftio_wal(struct raftio *io) { return io->wal; }

/* Compaction keeps the log back to the older kept snapshot, so that one is
 * a complete fallback should the newest be found damaged. */
int raftio_snapshot_save(struct raftio *io, const struct raft_snapshot *snap)
{
    int rc = wal_error(io->wal);
    if (rc)
        return rc;
    if (snap->meta.index < io->snap.index || snap->meta.index > wal_last_index(io->wal))
        return CAIRN_EINVAL;
    uint64_t oldest_kept;
    rc = raftio_snap_write(io, snap, &oldest_kept);
    return rc ? rc : wal_compact(io->wal, oldest_kept);
}

/* The snapshot is durable before the log goes; a crash between the two is
 * repaired at load (the old log does not connect and is dropped). */
int raftio_snapshot_install(struct raftio *io, const struct raft_snapshot *snap)
{
    int rc = wal_error(io->wal);
    if (rc)
        return rc;
    uint64_t oldest_kept;
    rc = raftio_snap_write(io, snap, &oldest_kept);
    if (rc == 0)
        rc = wal_reset(io->wal, snap->meta.index + 1, snap->meta.term);
    /* A stored commit past the snapshot named entries that are gone now. */
    if (rc == 0 && io->hs.commit > snap->meta.index)
        rc = raftio_save_hard_state(io, &io->hs);
    return rc;
}

void raftio_snapshot_meta(const struct raftio *io, struct raft_snapshot_meta *meta)
{
    *meta = io->snap;
}

uint64_t raftio_cluster_id(const struct raftio *io) { return io->cluster_id; }
uint64_t raftio_node_id(const struct raftio *io) { return io->node_id; }
