/*
 * wal_int.h: what wal.c (append, sync, truncation, compaction) and
 * wal_recover.c (open and recovery) share: the struct, segment naming and
 * the header and record codecs. Private to src/raftio. Same thread and
 * memory rules as wal.h.
 */
#ifndef CAIRN_RAFTIO_WAL_INT_H
#define CAIRN_RAFTIO_WAL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"
#include "raftio/wal.h"

#define WAL_SUBSYS "wal"
#define WAL_MAGIC "CAIRNWAL"
#define WAL_SEGMENT_NAME_MAX 40u

/* One segment file. An empty segment has last == first - 1 and last_term ==
 * prev_term. Only the open segment (always the last one) may be empty. */
struct wal_seg {
    uint64_t first;
    uint64_t last;
    uint64_t prev_term; /* term of entry first - 1 (from the header) */
    uint64_t last_term; /* term of entry last */
    uint64_t size;      /* bytes of the file that hold header and records */
    int open;
};

struct wal {
    struct raftio_fs *fs;
    char dir[CAIRN_PATH_MAX];
    uint64_t cluster_id;
    uint64_t segment_bytes;
    /* Sorted by index, consecutive; never empty once opened; the last one is
     * the open segment. */
    struct wal_seg *segs;
    size_t n_segs;
    size_t cap_segs;
    int fd;           /* handle of the open segment, -1 if none */
    uint64_t durable; /* entries up to here are durable */
    int unsynced;     /* the open segment was written since its last fdatasync */
    int dir_dirty;    /* the directory changed since its last fsync */
    int err;          /* sticky failure */
    struct cairn_buf wbuf;
    struct wal_stats stats;
};

static inline struct wal_seg *wal_open_seg(struct wal *w) { return &w->segs[w->n_segs - 1]; }
static inline const struct wal_seg *wal_open_seg_c(const struct wal *w)
{
    return &w->segs[w->n_segs - 1];
}

/* "<first>-<last>" or "<first>-open", each 16 hex digits. */
void wal_seg_name(const struct wal_seg *s, char out[WAL_SEGMENT_NAME_MAX]);
int wal_seg_path(const struct wal *w, const struct wal_seg *s, char *out, size_t cap);
/* Appends a segment record to w->segs (0 or CAIRN_ENOMEM). */
int wal_seg_push(struct wal *w, const struct wal_seg *s);
/* Creates the open segment file for first/prev_term, writes its header and
 * pushes it (not synced: marks the file and directory dirty). */
int wal_seg_create(struct wal *w, uint64_t first, uint64_t prev_term);

void wal_header_encode(uint8_t out[WAL_SEGMENT_HEADER_BYTES], uint64_t cluster_id, uint64_t first,
                       uint64_t prev_term);
/* 0 if the header is intact (prev_term filled), CAIRN_WRONGCLUSTER for an
 * intact header of another cluster, CAIRN_CORRUPT otherwise (short, bad
 * magic, version or CRC, or first index not the expected one). */
int wal_header_decode(const uint8_t *p, size_t len, uint64_t cluster_id, uint64_t first,
                      uint64_t *prev_term);

/* Encodes e at out (WAL_RECORD_HEADER_BYTES + e->len bytes). */
void wal_record_encode(uint8_t *out, const struct raft_entry *e);
/* Parses a record at p with avail bytes present. Returns its length and
 * fills e (data pointing into p) if the record is whole and its CRC holds;
 * 0 otherwise. */
size_t wal_record_parse(const uint8_t *p, size_t avail, struct raft_entry *e);

/* Records the failure, logs it once and returns it. */
int wal_fail(struct wal *w, int err, const char *what);

#endif
