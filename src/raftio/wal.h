/*
 * wal.h: the write-ahead log of Raft entries, in segment files of one
 * directory (docs/storage.md has the byte layout).
 *
 *   wal/0000000000000001-0000000000000400   sealed: entries 0x1..0x400
 *   wal/0000000000000401-open               the open segment, appended to
 *
 * Each segment starts with a header (magic, format version, cluster id, first
 * index, CRC32C) and holds records (CRC32C, length, term, index, type, data).
 * A segment is sealed (fdatasync, renamed to first-last, directory fsynced)
 * once the next record would make it pass the configured segment size.
 *
 * Recovery (wal_open) reads every segment and checks every record, the index
 * sequence within and across segments and non-decreasing terms. A damaged
 * TAIL of the open segment (a partial record, a CRC mismatch, preallocated or
 * lost zeros) with no valid record after it is what a crash leaves: it is
 * logged and truncated. Anything else (a bad record followed by a valid one,
 * any damage in a sealed segment, a gap or overlap between segments) is
 * CAIRN_CORRUPT, with an error log line naming the file and the offset.
 *
 * Group commit: wal_append() only writes (into the page cache); wal_sync()
 * makes everything appended so far durable with one fdatasync (plus a
 * directory fsync when segments were created or removed), and advances
 * wal_durable_index(). A caller that appends several batches per sync shares
 * one fdatasync among them; raftio_writer (writer.h) does exactly that on an
 * I/O thread.
 *
 * Threads: a struct wal has no lock; one thread owns it at a time (with
 * raftio_writer, the writer thread). Another thread must not call anything
 * here, wal_durable_index() included, while the owner may be using it.
 *
 * Memory: wal_open() may fill a struct wal_entries whose entries point into
 * segment images it owns; free it with wal_entries_free(). wal_append()
 * copies nothing it keeps: the caller's entries may go once it returns.
 *
 * Errors: CAIRN_CORRUPT (damage that is not a torn tail), CAIRN_WRONGCLUSTER
 * (a segment written for another cluster id), CAIRN_TOOBIG (an entry larger
 * than CAIRN_RAFT_PROPOSAL_MAX), the file seam's codes (CAIRN_EIO,
 * CAIRN_ENOSPC, ...). After any I/O failure in wal_append, wal_sync,
 * wal_compact or wal_reset the wal is failed: every later call returns the
 * same error, and the owner closes it and opens it again, which recovers
 * exactly what is on disk (writes after a failed fdatasync cannot be trusted,
 * so no retry in place). Entries that break Raft's rules (not consecutive,
 * a gap after the last index, overwriting compacted entries, a decreasing
 * term) are programmer errors and abort.
 */
#ifndef CAIRN_RAFTIO_WAL_H
#define CAIRN_RAFTIO_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "raftio/fs.h"

/* Bytes of the segment header and of a record's header (docs/storage.md). */
#define WAL_SEGMENT_HEADER_BYTES 48u
#define WAL_RECORD_HEADER_BYTES 25u
#define WAL_FORMAT_VERSION 1u

struct wal_options {
    struct raftio_fs *fs;   /* NULL: the POSIX seam */
    uint64_t cluster_id;    /* nonzero; written in and checked against every header */
    uint64_t segment_bytes; /* 0: CAIRN_WAL_SEGMENT_BYTES */
    /* An empty directory starts a log whose first index is start_index (>= 1)
     * and whose previous entry has term start_term (a snapshot's). */
    uint64_t start_index;
    uint64_t start_term;
    /* Recovered entries with index >= from_index are returned (0: none). */
    uint64_t from_index;
};

/* Entries recovered by wal_open: v[0..n) are consecutive; their data point
 * into images[] (kept whole segment files). */
struct wal_entries {
    struct raft_entry *v;
    size_t n;
    size_t cap;
    uint8_t **images;
    size_t n_images;
};

struct wal_stats {
    uint64_t syncs;         /* fdatasyncs of the open segment by wal_sync */
    uint64_t bytes_written; /* record bytes appended since open */
    uint64_t segments;      /* segment files now */
    uint64_t torn_bytes;    /* bytes of torn tail cut at recovery */
};

struct wal;

/* Opens (creating if needed: the directory must exist) and recovers the log
 * in dir. entries may be NULL. On success the recovered log is durable (the
 * open segment and the directory are synced before returning). */
int wal_open(const char *dir, const struct wal_options *opt, struct wal **out,
             struct wal_entries *entries);
/* Closes the files; no sync (call wal_sync first to keep appended entries). */
void wal_close(struct wal *w);
void wal_entries_free(struct wal_entries *e);

/* Appends n >= 1 consecutive entries. If entries[0].index <= last index,
 * the stored suffix from that index is removed first, durably (Raft's
 * conflict rule), and the durable index drops below it. */
int wal_append(struct wal *w, const struct raft_entry *entries, size_t n);
/* Makes every appended entry durable. Does nothing if nothing is pending. */
int wal_sync(struct wal *w);
/* Deletes the sealed segments whose entries all have index <= index (after a
 * snapshot that covers them). The open segment is never deleted. */
int wal_compact(struct wal *w, uint64_t index);
/* Drops the whole log, durably, and starts an empty one whose first index is
 * next_index (after installing a snapshot of next_index - 1 with prev_term). */
int wal_reset(struct wal *w, uint64_t next_index, uint64_t prev_term);

/* First index kept (last_index + 1 when the log is empty). */
uint64_t wal_first_index(const struct wal *w);
uint64_t wal_last_index(const struct wal *w);
/* Term of the last entry (or of the entry before the first when empty). */
uint64_t wal_last_term(const struct wal *w);
/* Term of the entry before the first one kept (first segment's header). */
uint64_t wal_prev_term(const struct wal *w);
/* Every entry up to this index is durable. */
uint64_t wal_durable_index(const struct wal *w);
/* 0, or the error that failed the wal. */
int wal_error(const struct wal *w);
void wal_get_stats(const struct wal *w, struct wal_stats *st);

#endif
