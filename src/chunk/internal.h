/*
 * internal.h: what the files of src/chunk share: the store object, the index
 * entry and the helpers on both. Not for use outside src/chunk.
 *
 * Locking (see chunk.h): s->mu guards the index map, every entry's fields and
 * s->usage; it is held for map and field updates only, never across file I/O.
 * An entry's `busy` flag is the per-chunk lock: entry_acquire() sets it
 * (waiting on s->cv while another holds it) and entry_release() clears it. Only
 * the busy holder changes an entry's versions (still under s->mu, so lock-free
 * readers of committed versions see a consistent entry); an entry that holds no
 * version and is not busy is removed from the map by entry_release().
 */
#ifndef CAIRN_CHUNK_INTERNAL_H
#define CAIRN_CHUNK_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "chunk/chunk.h"
#include "chunk/format.h"
#include "common/hashmap.h"
#include "common/limits.h"

#define CHUNK_LOG "chunk"

/* chunk_ver.flags of a staged version. */
enum {
    /* Found on disk at open (a restart): its writer's unflushed bytes may be lost
     * or torn, so it takes no more writes or flushes (chunk.h, "Restarts"). */
    CHUNK_VER_SEALED = 1,
    /* Its header said CHUNK_HDR_FLUSHED (or committed) at open: every byte ever
     * acknowledged by a flush is on disk and nothing was written after, so a
     * sealed version may still be committed. Only meaningful with SEALED. */
    CHUNK_VER_FLUSHED = 2,
};

struct chunk_ver {
    uint64_t version; /* 0: none */
    uint64_t length;
    unsigned flags; /* CHUNK_VER_*; 0 for the committed version */
};

struct chunk_entry {
    uint64_t id;
    struct chunk_ver committed;
    struct chunk_ver staged[CAIRN_CHUNK_STAGED_MAX];
    uint32_t n_staged;
    int busy;
};

/* The scrubber's position: the ids of the pass (sorted), the next one to visit,
 * and the block to resume at inside it (for the version it was started on). */
struct chunk_scrub {
    uint64_t *ids;
    size_t n;
    size_t pos;
    uint64_t version;
    uint32_t block;
};

struct chunk_store {
    struct chunk_fs *cfs;
    struct raftio_fs *fs;
    char dir[CAIRN_PATH_MAX];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct hmap index; /* id -> struct chunk_entry * */
    struct chunk_usage usage;
    uint8_t fanout_made[256]; /* chunks/<hh> is known to exist (under mu) */
    pthread_mutex_t scrub_mu;
    struct chunk_scrub scrub;
};

/* --- paths (store.c) -------------------------------------------------------------------------- */

/* out = <dir>/ followed by fmt; out holds CAIRN_PATH_MAX bytes, and every path
 * the store builds fits (checked at open against the longest one). */
void chunk_path_fmt(const struct chunk_store *s, char *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* <dir>/chunks/<hh> of a chunk; out holds CAIRN_PATH_MAX bytes (the store
 * checked at open that every path fits). */
void chunk_dir_path(const struct chunk_store *s, uint64_t id, char *out);
/* <dir>/chunks/<hh>/<name of (id, version, kind)>. */
void chunk_file_path(const struct chunk_store *s, uint64_t id, uint64_t version,
                     enum chunk_name_kind kind, char *out);

/* --- index (store.c) -------------------------------------------------------------------------- */

/* Takes the per-chunk lock of id, creating the entry if create is set. *out is
 * NULL (and 0 returned) when the chunk is unknown and create is 0.
 * CAIRN_ENOMEM. */
int entry_acquire(struct chunk_store *s, uint64_t id, int create, struct chunk_entry **out);
void entry_release(struct chunk_store *s, struct chunk_entry *e);
/* Takes the chunk's lock if version is staged: 0 with *e set, or
 * CAIRN_STALEVERSION (or CAIRN_ENOMEM) with *e NULL and no lock held. */
int entry_acquire_staged(struct chunk_store *s, uint64_t id, uint64_t version,
                         struct chunk_entry **e);
/* Index of staged version v in e->staged, or -1. */
int entry_staged_find(const struct chunk_entry *e, uint64_t version);
/* Field updates; each takes s->mu and keeps s->usage in step. The caller holds
 * e busy (or is chunk_store_open, alone). */
void entry_set_committed(struct chunk_store *s, struct chunk_entry *e, uint64_t version,
                         uint64_t length);
void entry_add_staged(struct chunk_store *s, struct chunk_entry *e, uint64_t version,
                      uint64_t length, unsigned flags);
void entry_del_staged(struct chunk_store *s, struct chunk_entry *e, uint64_t version);
void entry_set_staged_length(struct chunk_store *s, struct chunk_entry *e, uint64_t version,
                             uint64_t length);
/* The committed version of id and its length, read under s->mu; 0 if none. */
uint64_t index_committed(struct chunk_store *s, uint64_t id, uint64_t *length);

/* Makes sure the fan-out directory of id exists, durably (recover.c). */
int chunk_fanout_ensure(struct chunk_store *s, uint64_t id);
/* Scans the data directory into the empty index of s (recover.c; see
 * chunk_store_open). */
int chunk_recover(struct chunk_store *s, struct chunk_recovery *rep);

/* --- file helpers (file.c) -------------------------------------------------------------------- */

/* Opens the file of (id, version, kind) and reads and checks its header:
 * CAIRN_CORRUPT if it does not decode, names another chunk or version, or (for
 * a committed name) is not in the committed state, or if the file is too short
 * to hold the CRC table. CAIRN_ENOENT if there is no such file. On success *fd
 * is open and the caller closes it. */
int chunk_file_open(struct chunk_store *s, uint64_t id, uint64_t version, enum chunk_name_kind kind,
                    int *fd, struct chunk_hdr *h);
/* Writes h as the next header: seq + 1, into the other slot than h->slot (which
 * must hold the current header, as chunk_file_open returned it); updates h. The
 * caller syncs before relying on it. */
int chunk_file_write_hdr(struct chunk_store *s, int fd, struct chunk_hdr *h);
/* Writes the first header of a new file: h (seq 1) in slot 0 and a zeroed
 * slot 1, replacing whatever a clone brought along. */
int chunk_file_init_hdr(struct chunk_store *s, int fd, struct chunk_hdr *h);
/* Reads the table entries of blocks [b0, b0 + n) into crcs. A short read is
 * CAIRN_CORRUPT. */
int chunk_file_read_table(struct chunk_store *s, int fd, uint32_t b0, uint32_t n, uint32_t *crcs);
int chunk_file_write_table(struct chunk_store *s, int fd, uint32_t b0, uint32_t n,
                           const uint32_t *crcs);
/* Reads block b into buf (CAIRN_BLOCK_SIZE bytes; past the end of file: zeros)
 * and checks it against crc: 0, CAIRN_CORRUPT or the read error. *got: bytes
 * the file held. */
int chunk_file_read_block(struct chunk_store *s, int fd, uint32_t b, uint32_t crc, uint8_t *buf,
                          size_t *got);
/* Makes the empty file out a copy of the first `limit` bytes of in (all of it
 * for UINT64_MAX): header slots, CRC table (as they are: damage stays
 * detectable) and data, holes kept, through the seam's in-kernel copy when it
 * has one, else through pread/pwrite. */
int chunk_file_copy(struct chunk_store *s, int in, int out, uint64_t limit);
/* Unlinks the file of (id, version, kind) and makes that durable (directory
 * fsync). A missing file is not an error. */
int chunk_file_remove(struct chunk_store *s, uint64_t id, uint64_t version,
                      enum chunk_name_kind kind);
/* Removes staged version v of e after a failed operation: its file (best
 * effort: a leftover is reported at the next open and aborted by the metadata
 * group) and its index slot. */
void chunk_drop_staged(struct chunk_store *s, struct chunk_entry *e, uint64_t version, int why);

#endif
