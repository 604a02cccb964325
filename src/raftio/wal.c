/* wal.c: the write-ahead log at run time: append, group sync, segment
 * rollover, conflict truncation, compaction and reset. Recovery is in
 * wal_recover.c; the formats are in docs/storage.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "raftio/wal_int.h"
#include "wire/codec.h"

/* --- formats ---------------------------------------------------------------- */

void wal_seg_name(const struct wal_seg *s, char out[WAL_SEGMENT_NAME_MAX])
{
    if (s->open)
        snprintf(out, WAL_SEGMENT_NAME_MAX, "%016" PRIx64 "-open", s->first);
    else
        snprintf(out, WAL_SEGMENT_NAME_MAX, "%016" PRIx64 "-%016" PRIx64, s->first, s->last);
}

int wal_seg_path(const struct wal *w, const struct wal_seg *s, char *out, size_t cap)
{
    char name[WAL_SEGMENT_NAME_MAX];
    wal_seg_name(s, name);
    return rio_path(out, cap, w->dir, name);
}

/* Header: magic[8], u32 version, u32 flags (0), u64 cluster id, u64 first
 * index, u64 term of the entry before the first, u32 reserved (0), u32
 * CRC32C of the 44 bytes before it. */
void wal_header_encode(uint8_t out[WAL_SEGMENT_HEADER_BYTES], uint64_t cluster_id, uint64_t first,
                       uint64_t prev_term)
{
    memset(out, 0, WAL_SEGMENT_HEADER_BYTES);
    memcpy(out, WAL_MAGIC, 8);
    wire_store_u32(out + 8, WAL_FORMAT_VERSION);
    wire_store_u64(out + 16, cluster_id);
    wire_store_u64(out + 24, first);
    wire_store_u64(out + 32, prev_term);
    wire_store_u32(out + 44, crc32c(0, out, 44));
}

int wal_header_decode(const uint8_t *p, size_t len, uint64_t cluster_id, uint64_t first,
                      uint64_t *prev_term)
{
    if (len < WAL_SEGMENT_HEADER_BYTES || memcmp(p, WAL_MAGIC, 8) != 0)
        return CAIRN_CORRUPT;
    if (wire_load_u32(p + 44) != crc32c(0, p, 44))
        return CAIRN_CORRUPT;
    if (wire_load_u32(p + 8) != WAL_FORMAT_VERSION || wire_load_u32(p + 12) != 0)
        return CAIRN_CORRUPT;
    if (wire_load_u64(p + 16) != cluster_id)
        return CAIRN_WRONGCLUSTER;
    if (wire_load_u64(p + 24) != first)
        return CAIRN_CORRUPT;
    *prev_term = wire_load_u64(p + 32);
    return 0;
}

/* Record: u32 CRC32C of everything after it, u32 data length, u64 term,
 * u64 index, u8 type, data. The CRC covers the length, so a damaged length
 * cannot make a record claim another size and still verify. */
void wal_record_encode(uint8_t *out, const struct raft_entry *e)
{
    wire_store_u32(out + 4, e->len);
    wire_store_u64(out + 8, e->term);
    wire_store_u64(out + 16, e->index);
    out[24] = e->type;
    if (e->len)
        memcpy(out + WAL_RECORD_HEADER_BYTES, e->data, e->len);
    wire_store_u32(out, crc32c(0, out + 4, WAL_RECORD_HEADER_BYTES - 4 + e->len));
}

size_t wal_record_parse(const uint8_t *p, size_t avail, struct raft_entry *e)
{
    if (avail < WAL_RECORD_HEADER_BYTES)
        return 0;
    uint32_t len = wire_load_u32(p + 4);
    if (len > CAIRN_RAFT_PROPOSAL_MAX || avail - WAL_RECORD_HEADER_BYTES < len)
        return 0;
    if (wire_load_u32(p) != crc32c(0, p + 4, WAL_RECORD_HEADER_BYTES - 4 + len))
        return 0;
    e->len = len;
    e->term = wire_load_u64(p + 8);
    e->index = wire_load_u64(p + 16);
    e->type = p[24];
    e->data = len ? (uint8_t *)p + WAL_RECORD_HEADER_BYTES : NULL;
    return WAL_RECORD_HEADER_BYTES + len;
}

/* --- segments --------------------------------------------------------------- */

int wal_fail(struct wal *w, int err, const char *what)
{
    if (!w->err) {
        w->err = err;
        LOG_ERROR(WAL_SUBSYS, "%s: %s failed: %s; the log refuses writes until reopened", w->dir,
                  what, cairn_strerror(err));
    }
    return err;
}

int wal_seg_push(struct wal *w, const struct wal_seg *s)
{
    if (w->n_segs == w->cap_segs) {
        size_t cap = w->cap_segs ? w->cap_segs * 2 : 8;
        struct wal_seg *v = realloc(w->segs, cap * sizeof *v);
        if (!v)
            return CAIRN_ENOMEM;
        w->segs = v;
        w->cap_segs = cap;
    }
    w->segs[w->n_segs++] = *s;
    w->stats.segments = w->n_segs;
    return 0;
}

int wal_seg_create(struct wal *w, uint64_t first, uint64_t prev_term)
{
    CAIRN_ASSERT(w->fd < 0);
    struct wal_seg s = {.first = first,
                        .last = first - 1,
                        .prev_term = prev_term,
                        .last_term = prev_term,
                        .size = WAL_SEGMENT_HEADER_BYTES,
                        .open = 1};
    char path[CAIRN_PATH_MAX];
    int rc = wal_seg_path(w, &s, path, sizeof path);
    if (rc)
        return rc;
    rc = rio_open(w->fs, path, RAFTIO_OPEN_CREATE | RAFTIO_OPEN_EXCL, &w->fd);
    if (rc)
        return rc;
    w->dir_dirty = 1;
    uint8_t hdr[WAL_SEGMENT_HEADER_BYTES];
    wal_header_encode(hdr, w->cluster_id, first, prev_term);
    rc = rio_pwrite(w->fs, w->fd, hdr, sizeof hdr, 0);
    if (rc == 0)
        rc = wal_seg_push(w, &s);
    w->unsynced = 1;
    return rc;
}

/* Seals the open segment and starts the next one. The data is made durable
 * before the rename, and the rename before the new file exists, so recovery
 * never sees a sealed name over unsynced data, nor two open segments. */
static int wal_roll(struct wal *w)
{
    struct wal_seg *s = wal_open_seg(w);
    CAIRN_ASSERT(s->last >= s->first);
    char from[CAIRN_PATH_MAX], to[CAIRN_PATH_MAX];
    int rc = wal_seg_path(w, s, from, sizeof from);
    if (rc == 0)
        rc = rio_fdatasync(w->fs, w->fd);
    s->open = 0;
    if (rc == 0)
        rc = wal_seg_path(w, s, to, sizeof to);
    if (rc == 0)
        rc = rio_rename(w->fs, from, to);
    if (rc == 0)
        rc = rio_sync_dir(w->fs, w->dir);
    rio_close(w->fs, w->fd);
    w->fd = -1;
    if (rc)
        return rc;
    w->dir_dirty = 0;
    w->unsynced = 0;
    w->durable = s->last;
    return wal_seg_create(w, s->last + 1, s->last_term);
}

/* Writes records into the open segment, rolling over whenever the next
 * record would pass the segment size (a segment holds at least one record,
 * so a record larger than the segment size gets a segment of its own). */
static int wal_write_records(struct wal *w, const struct raft_entry *e, size_t n)
{
    size_t i = 0;
    while (i < n) {
        struct wal_seg *s = wal_open_seg(w);
        uint64_t size = s->size;
        size_t j = i;
        buf_reset(&w->wbuf);
        while (j < n) {
            uint64_t rec = WAL_RECORD_HEADER_BYTES + (uint64_t)e[j].len;
            int has_records = s->last >= s->first || j > i;
            if (has_records && size + rec > w->segment_bytes)
                break;
            uint8_t *p = buf_extend(&w->wbuf, rec);
            if (!p)
                return CAIRN_ENOMEM;
            wal_record_encode(p, &e[j]);
            size += rec;
            j++;
        }
        if (j > i) {
            int rc = rio_pwrite(w->fs, w->fd, w->wbuf.data, w->wbuf.len, s->size);
            w->unsynced = 1;
            if (rc)
                return rc;
            s->size = size;
            s->last = e[j - 1].index;
            s->last_term = e[j - 1].term;
            w->stats.bytes_written += w->wbuf.len;
        }
        if (j < n) {
            int rc = wal_roll(w);
            if (rc)
                return rc;
        }
        i = j;
    }
    return 0;
}

/* Finds where record `index` starts in segment s (and the term before it)
 * by walking the records; truncation is rare, so no offset index is kept. */
static int wal_find_record(struct wal *w, const struct wal_seg *s, uint64_t index, uint64_t *off,
                           uint64_t *prev_term)
{
    *off = WAL_SEGMENT_HEADER_BYTES;
    *prev_term = s->prev_term;
    if (index == s->first)
        return 0;
    uint8_t *img = malloc(s->size);
    if (!img)
        return CAIRN_ENOMEM;
    size_t got;
    int rc = rio_pread(w->fs, w->fd, img, s->size, 0, &got);
    if (rc == 0 && got != s->size)
        rc = CAIRN_CORRUPT;
    while (rc == 0) {
        struct raft_entry e;
        size_t len = wal_record_parse(img + *off, s->size - *off, &e);
        if (len == 0 || e.index > index) {
            LOG_ERROR(WAL_SUBSYS, "%s: record %" PRIu64 " not found at offset %" PRIu64, w->dir,
                      index, *off);
            rc = CAIRN_CORRUPT;
        } else if (e.index == index) {
            break;
        } else {
            *prev_term = e.term;
            *off += len;
        }
    }
    free(img);
    return rc;
}

/* Raft's conflict rule: entries from index on are replaced. Later segments
 * go newest first (a crash leaves a contiguous log), a sealed segment that
 * holds index is reopened (renamed to -open), the directory is synced, and
 * the cut is made durable before anything new is written after it: stale
 * records past the cut must never reappear behind new ones. */
static int wal_truncate(struct wal *w, uint64_t index)
{
    size_t t = w->n_segs - 1;
    while (w->segs[t].first > index)
        t--;
    char path[CAIRN_PATH_MAX], to[CAIRN_PATH_MAX];
    int rc = 0;
    while (rc == 0 && w->n_segs - 1 > t) {
        struct wal_seg *s = wal_open_seg(w);
        if (s->open) {
            rio_close(w->fs, w->fd);
            w->fd = -1;
        }
        rc = wal_seg_path(w, s, path, sizeof path);
        if (rc == 0)
            rc = rio_unlink(w->fs, path);
        if (rc == 0)
            w->n_segs--;
        w->dir_dirty = 1;
    }
    struct wal_seg *s = &w->segs[t];
    if (rc == 0 && !s->open) {
        rc = wal_seg_path(w, s, path, sizeof path);
        s->open = 1;
        if (rc == 0)
            rc = wal_seg_path(w, s, to, sizeof to);
        if (rc == 0)
            rc = rio_rename(w->fs, path, to);
        if (rc == 0)
            rc = rio_open(w->fs, to, 0, &w->fd);
        w->dir_dirty = 1;
    }
    if (rc == 0 && w->dir_dirty)
        rc = rio_sync_dir(w->fs, w->dir);
    if (rc)
        return rc;
    w->dir_dirty = 0;
    uint64_t off, prev_term;
    rc = wal_find_record(w, s, index, &off, &prev_term);
    if (rc == 0)
        rc = rio_ftruncate(w->fs, w->fd, off);
    if (rc == 0)
        rc = rio_fdatasync(w->fs, w->fd);
    if (rc)
        return rc;
    w->stats.segments = w->n_segs;
    s->size = off;
    s->last = index - 1;
    s->last_term = prev_term;
    w->unsynced = 0;
    w->durable = CAIRN_MIN(w->durable, index - 1);
    return 0;
}

/* --- API -------------------------------------------------------------------- */

/* The checks that guard Raft's log rules: a violation is a bug in the core
 * or the shell, not an operating error. Oversized data is an operating error
 * (it may come from a peer), refused before anything changes. */
static int wal_check_batch(const struct wal *w, const struct raft_entry *e, size_t n)
{
    CAIRN_ASSERT(n > 0);
    for (size_t i = 0; i < n; i++) {
        if (e[i].len > CAIRN_RAFT_PROPOSAL_MAX)
            return CAIRN_TOOBIG;
        CAIRN_ASSERTF(e[i].index == e[0].index + i, "wal: entries not consecutive at %zu", i);
        CAIRN_ASSERTF(i == 0 || e[i].term >= e[i - 1].term, "wal: term decreases at %zu", i);
        CAIRN_ASSERT(e[i].len == 0 || e[i].data);
    }
    uint64_t first = wal_first_index(w), last = wal_last_index(w);
    CAIRN_ASSERTF(e[0].index >= first && e[0].index <= last + 1,
                  "wal: append at %" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]", e[0].index,
                  first, last + 1);
    return 0;
}

int wal_append(struct wal *w, const struct raft_entry *entries, size_t n)
{
    if (w->err)
        return w->err;
    int rc = wal_check_batch(w, entries, n);
    if (rc)
        return rc;
    if (entries[0].index <= wal_last_index(w)) {
        rc = wal_truncate(w, entries[0].index);
        if (rc)
            return wal_fail(w, rc, "truncate");
    }
    CAIRN_ASSERTF(entries[0].term >= wal_last_term(w),
                  "wal: term %" PRIu64 " at %" PRIu64 " below previous term %" PRIu64,
                  entries[0].term, entries[0].index, wal_last_term(w));
    rc = wal_write_records(w, entries, n);
    if (rc)
        return wal_fail(w, rc, "append");
    return 0;
}

int wal_sync(struct wal *w)
{
    if (w->err)
        return w->err;
    uint64_t last = wal_last_index(w);
    if (w->unsynced) {
        int rc = rio_fdatasync(w->fs, w->fd);
        if (rc)
            return wal_fail(w, rc, "fdatasync");
        w->stats.syncs++;
        w->unsynced = 0;
    }
    if (w->dir_dirty) {
        int rc = rio_sync_dir(w->fs, w->dir);
        if (rc)
            return wal_fail(w, rc, "directory fsync");
        w->dir_dirty = 0;
    }
    w->durable = last;
    return 0;
}

/* Oldest first, so a crash in the middle leaves a contiguous log. Not synced
 * here: a deleted segment that comes back after a crash only holds entries
 * the snapshot covers, and the next wal_sync syncs the directory. */
int wal_compact(struct wal *w, uint64_t index)
{
    if (w->err)
        return w->err;
    size_t drop = 0;
    int rc = 0;
    while (drop + 1 < w->n_segs && w->segs[drop].last <= index) {
        char path[CAIRN_PATH_MAX];
        rc = wal_seg_path(w, &w->segs[drop], path, sizeof path);
        if (rc == 0)
            rc = rio_unlink(w->fs, path);
        if (rc)
            break;
        w->dir_dirty = 1;
        drop++;
    }
    memmove(w->segs, w->segs + drop, (w->n_segs - drop) * sizeof *w->segs);
    w->n_segs -= drop;
    w->stats.segments = w->n_segs;
    return rc ? wal_fail(w, rc, "compact") : 0;
}

int wal_reset(struct wal *w, uint64_t next_index, uint64_t prev_term)
{
    if (w->err)
        return w->err;
    CAIRN_ASSERT(next_index >= 1);
    if (w->fd >= 0)
        rio_close(w->fs, w->fd);
    w->fd = -1;
    int rc = 0;
    while (rc == 0 && w->n_segs > 0) {
        char path[CAIRN_PATH_MAX];
        rc = wal_seg_path(w, wal_open_seg(w), path, sizeof path);
        if (rc == 0)
            rc = rio_unlink(w->fs, path);
        if (rc == 0)
            w->n_segs--;
    }
    /* The old segments must be gone for good before the new one exists. */
    if (rc == 0)
        rc = rio_sync_dir(w->fs, w->dir);
    if (rc == 0)
        rc = wal_seg_create(w, next_index, prev_term);
    if (rc == 0)
        rc = rio_fdatasync(w->fs, w->fd);
    if (rc == 0)
        rc = rio_sync_dir(w->fs, w->dir);
    if (rc)
        return wal_fail(w, rc, "reset");
    w->unsynced = 0;
    w->dir_dirty = 0;
    w->durable = next_index - 1;
    return 0;
}

void wal_close(struct wal *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        rio_close(w->fs, w->fd);
    buf_free(&w->wbuf);
    free(w->segs);
    free(w);
}

/* A wal that failed in wal_reset may hold no segment; it answers 0 then. */
uint64_t wal_first_index(const struct wal *w) { return w->n_segs ? w->segs[0].first : 0; }
uint64_t wal_last_index(const struct wal *w) { return w->n_segs ? wal_open_seg_c(w)->last : 0; }
uint64_t wal_last_term(const struct wal *w) { return w->n_segs ? wal_open_seg_c(w)->last_term : 0; }
uint64_t wal_prev_term(const struct wal *w) { return w->n_segs ? w->segs[0].prev_term : 0; }
uint64_t wal_durable_index(const struct wal *w) { return w->durable; }
int wal_error(const struct wal *w) { return w->err; }
void wal_get_stats(const struct wal *w, struct wal_stats *st) { *st = w->stats; }
