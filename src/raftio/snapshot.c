/* snapshot.c: snapshot files: format, atomic write, retention, and loading
 * the newest one that verifies. Layout in docs/storage.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "raftio/raftio_int.h"
#include "wire/codec.h"

#define SNAP_MAGIC "CAIRNSNP"
#define SNAP_SUFFIX ".snap"
/* Fixed part of the header before the configuration's node ids. */
#define SNAP_HEADER_FIXED 48u

static void snap_name(uint64_t index, uint64_t term, char out[RAFTIO_SNAP_NAME_MAX])
{
    snprintf(out, RAFTIO_SNAP_NAME_MAX, "%016" PRIx64 "-%016" PRIx64 SNAP_SUFFIX, index, term);
}

/* "<16 hex index>-<16 hex term>.snap"; -1 for any other name. */
static int snap_parse_name(const char *name, struct raftio_snap_file *f)
{
    char *end;
    if (strlen(name) != 38 || name[16] != '-' || strcmp(name + 33, SNAP_SUFFIX) != 0)
        return -1;
    for (int i = 0; i < 33; i++)
        if (i != 16 && !((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return -1;
    f->index = strtoull(name, &end, 16);
    f->term = strtoull(name + 17, &end, 16);
    memcpy(f->name, name, 39);
    return 0;
}

static int snap_cmp_newest_first(const void *a, const void *b)
{
    const struct raftio_snap_file *x = a, *y = b;
    if (x->index != y->index)
        return x->index > y->index ? -1 : 1;
    return x->term > y->term ? -1 : x->term < y->term;
}

int raftio_snap_list(struct raftio *io, struct raftio_snap_file **v, size_t *n)
{
    *v = NULL;
    *n = 0;
    struct raftio_names names;
    int rc = rio_list(io->fs, io->snap_dir, &names);
    if (rc)
        return rc;
    struct raftio_snap_file *files = calloc(names.n ? names.n : 1, sizeof *files);
    if (!files) {
        rio_names_free(&names);
        return CAIRN_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < names.n; i++) {
        if (snap_parse_name(names.v[i], &files[k]) == 0)
            k++;
        else if (!rio_is_tmp_name(names.v[i]))
            LOG_WARN(RAFTIO_SUBSYS, "%s: ignoring unknown file %s", io->snap_dir, names.v[i]);
    }
    rio_names_free(&names);
    qsort(files, k, sizeof *files, snap_cmp_newest_first);
    *v = files;
    *n = k;
    return 0;
}

/* Header: magic[8], u32 version, u32 flags (0), u64 cluster id, u64 index,
 * u64 term, u32 voters, u32 learners, the node ids (u64 each), u64 data
 * length. The data follows, then a u32 CRC32C of everything before it. */
static int snap_encode_header(const struct raftio *io, const struct raft_snapshot *snap,
                              struct cairn_buf *b)
{
    const struct raft_conf *c = &snap->meta.conf;
    CAIRN_ASSERT(c->n_voters <= CAIRN_RAFT_NODES_MAX && c->n_learners <= CAIRN_RAFT_NODES_MAX);
    struct wire_enc e;
    wire_enc_init(&e, b);
    wire_put_raw(&e, SNAP_MAGIC, 8);
    wire_put_u32(&e, RAFTIO_FORMAT_VERSION);
    wire_put_u32(&e, 0);
    wire_put_u64(&e, io->cluster_id);
    wire_put_u64(&e, snap->meta.index);
    wire_put_u64(&e, snap->meta.term);
    wire_put_u32(&e, c->n_voters);
    wire_put_u32(&e, c->n_learners);
    for (uint32_t i = 0; i < c->n_voters; i++)
        wire_put_u64(&e, c->voters[i]);
    for (uint32_t i = 0; i < c->n_learners; i++)
        wire_put_u64(&e, c->learners[i]);
    wire_put_u64(&e, snap->len);
    return e.err;
}

/* Parses a whole snapshot file image. CAIRN_CORRUPT for any damage,
 * CAIRN_WRONGCLUSTER for an intact file of another cluster. */
static int snap_decode(const struct raftio *io, const struct raftio_snap_file *f,
                       const uint8_t *img, size_t len, struct raft_snapshot_meta *meta,
                       const uint8_t **data, size_t *data_len)
{
    if (len < SNAP_HEADER_FIXED + 12 || wire_load_u32(img + len - 4) != crc32c(0, img, len - 4))
        return CAIRN_CORRUPT;
    struct wire_dec d;
    wire_dec_init(&d, img, len - 4);
    const uint8_t *magic = wire_get_raw(&d, 8);
    uint32_t version = wire_get_u32(&d), flags = wire_get_u32(&d);
    uint64_t cluster = wire_get_u64(&d);
    memset(meta, 0, sizeof *meta);
    meta->index = wire_get_u64(&d);
    meta->term = wire_get_u64(&d);
    struct raft_conf *c = &meta->conf;
    c->n_voters = wire_get_u32(&d);
    c->n_learners = wire_get_u32(&d);
    if (d.err || memcmp(magic, SNAP_MAGIC, 8) != 0 || version != RAFTIO_FORMAT_VERSION ||
        flags != 0 || c->n_voters > CAIRN_RAFT_NODES_MAX || c->n_learners > CAIRN_RAFT_NODES_MAX)
        return CAIRN_CORRUPT;
    for (uint32_t i = 0; i < c->n_voters; i++)
        c->voters[i] = wire_get_u64(&d);
    for (uint32_t i = 0; i < c->n_learners; i++)
        c->learners[i] = wire_get_u64(&d);
    uint64_t dlen = wire_get_u64(&d);
    if (d.err || dlen != wire_dec_left(&d) || meta->index != f->index || meta->term != f->term)
        return CAIRN_CORRUPT;
    if (cluster != io->cluster_id)
        return CAIRN_WRONGCLUSTER;
    *data = img + d.off;
    *data_len = (size_t)dlen;
    return 0;
}

static int snap_load_one(struct raftio *io, const struct raftio_snap_file *f,
                         struct raftio_state *st)
{
    char path[CAIRN_PATH_MAX];
    int rc = rio_path(path, sizeof path, io->snap_dir, f->name);
    uint8_t *img = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = rio_read_file(io->fs, path, CAIRN_SNAPSHOT_BYTES_MAX, &img, &len);
    if (rc == CAIRN_TOOBIG)
        rc = CAIRN_CORRUPT;
    struct raft_snapshot_meta meta;
    const uint8_t *data = NULL;
    size_t dlen = 0;
    if (rc == 0)
        rc = snap_decode(io, f, img, len, &meta, &data, &dlen);
    if (rc == CAIRN_CORRUPT)
        LOG_ERROR(RAFTIO_SUBSYS, "%s: snapshot damaged (%zu bytes, checksum or format)", path, len);
    if (rc == CAIRN_WRONGCLUSTER)
        LOG_ERROR(RAFTIO_SUBSYS, "%s: snapshot of another cluster", path);
    if (rc) {
        free(img);
        return rc;
    }
    st->snapshot_file = img;
    st->snapshot_data = data;
    st->snapshot_len = dlen;
    st->restore.snapshot_meta = meta;
    io->snap = meta;
    return 0;
}

/* A snapshot file exists only after it was fsynced and renamed, so a damaged
 * one is real damage (logged loudly); the older kept one, with the log kept
 * back to it, may still give a complete state. */
int raftio_snap_load_newest(struct raftio *io, struct raftio_state *st)
{
    struct raftio_snap_file *v;
    size_t n;
    int rc = raftio_snap_list(io, &v, &n);
    if (rc)
        return rc;
    rc = n ? CAIRN_CORRUPT : 0;
    for (size_t i = 0; i < n && rc == CAIRN_CORRUPT; i++) {
        rc = snap_load_one(io, &v[i], st);
        if (rc == 0 && i > 0)
            LOG_ERROR(RAFTIO_SUBSYS, "%s: falling back to the older snapshot %s", io->snap_dir,
                      v[i].name);
    }
    free(v);
    return rc;
}

/* Keeps the newest CAIRN_SNAPSHOTS_KEPT files, deletes the rest (oldest
 * last: a crash midway leaves the newest ones). */
static int snap_retain(struct raftio *io, uint64_t *oldest_kept)
{
    struct raftio_snap_file *v;
    size_t n;
    int rc = raftio_snap_list(io, &v, &n);
    if (rc)
        return rc;
    size_t keep = CAIRN_MIN(n, (size_t)CAIRN_SNAPSHOTS_KEPT);
    *oldest_kept = keep == CAIRN_SNAPSHOTS_KEPT ? v[keep - 1].index : 0;
    for (size_t i = keep; rc == 0 && i < n; i++) {
        char path[CAIRN_PATH_MAX];
        rc = rio_path(path, sizeof path, io->snap_dir, v[i].name);
        if (rc == 0)
            rc = rio_unlink(io->fs, path);
    }
    free(v);
    return rc;
}

int raftio_snap_write(struct raftio *io, const struct raft_snapshot *snap, uint64_t *oldest_kept)
{
    struct cairn_buf hdr;
    buf_init(&hdr, 0);
    int rc = snap_encode_header(io, snap, &hdr);
    uint8_t trailer[4];
    uint32_t crc = crc32c(0, hdr.data, hdr.len);
    if (snap->len)
        crc = crc32c(crc, snap->data, snap->len);
    wire_store_u32(trailer, crc);
    struct rio_part parts[3] = {
        {hdr.data, hdr.len}, {snap->data, snap->len}, {trailer, sizeof trailer}};
    char name[RAFTIO_SNAP_NAME_MAX];
    snap_name(snap->meta.index, snap->meta.term, name);
    if (rc == 0)
        rc = rio_write_atomic(io->fs, io->snap_dir, name, parts, 3);
    buf_free(&hdr);
    if (rc)
        return rc;
    io->snap = snap->meta;
    return snap_retain(io, oldest_kept);
}
