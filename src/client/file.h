/*
 * file.h: file I/O of libcairn: the data path (DESIGN.md §6, §7,
 * docs/chunkd.md) on top of the metadata client (metaclient.h).
 *
 * A file is an array of 64 MiB chunks (CAIRN_CHUNK_SIZE); a hole (chunk id 0)
 * reads as zeros, and so do bytes past a chunk's length but inside the file.
 *
 * Writes. pwrite is cut at chunk boundaries. For each chunk touched the
 * handle opens a "chunk write": CHUNK_ALLOC through the metadata leader (n =
 * 0 replicas: the leader's placement fills the set and logs a pending write
 * with a deadline), then the bytes go to the first replica of the chain in
 * pieces of at most CAIRN_CHUNK_IO_MAX, `window` in flight (and at most
 * CAIRN_DATACLIENT_HEAD_BYTES_MAX to one head), each replica forwarding to
 * the next (CHUNK_WRITE). A write of part of an existing chunk
 * names the committed version as its base: the chunk server stages a copy
 * and the piece overwrites part of it. On fsync, close, or when the handle
 * moves on to other chunks, the chunk write is flushed (an empty CHUNK_WRITE
 * with the FLUSH flag: every replica fdatasyncs) and committed (CHUNK_COMMIT
 * naming the replicas that acknowledged every piece and the flush): that
 * Raft entry is the commit point. A replica that fails a piece is dropped
 * from the chain and the write goes on with the others (the leader brings
 * the chunk back to its goal later). When no replica is left, or the commit
 * finds the pending write gone (its deadline passed: CAIRN_STALEVERSION), the
 * write is aborted (CHUNK_ABORT) and done again with a new allocation: the
 * handle keeps a copy of every byte of an open chunk write until it commits
 * (at most CAIRN_DATACLIENT_REPLAY_MAX bytes per chunk write), so a retry
 * needs nothing from the caller. Pieces are written behind the caller:
 * pwrite returns once its bytes are copied and sent; an error found later
 * is kept in the handle and returned by the next pwrite, fsync or close (as
 * NFS does). Nothing is visible to readers before the commit.
 *
 * Reads. The handle caches the file's chunk map (chunk id, version, length,
 * replica node ids; META_CHUNKS) and the node addresses (META_NODES). A
 * piece is read from the first replica not known bad; on an error, a timeout
 * or CAIRN_CORRUPT (the chunk server never returns bytes that fail their
 * CRC, and reports the bad copy to the leader itself) the piece moves to the
 * next replica; CAIRN_STALEVERSION or every replica failing refreshes the
 * chunk's entry from the leader and tries again. A read on a handle that has
 * open chunk writes commits them first (a handle reads its own writes).
 *
 * Consistency: close-to-open, as NFS. datafile_open() reads the inode's
 * attributes (its size) from the leader; the size then only changes by the
 * handle's own commits. After fsync or close returns, every later open sees
 * the new bytes.
 *
 * Threads. A dataclient runs on its metaclient's loop (metaclient_loop())
 * and every call must be made on that loop's thread, never from a callback
 * of that loop: each call runs the loop until it is done (the metaclient's
 * *_sync calls do the same). With a metaclient that owns a private loop this
 * is a plain blocking API for tools and tests, one client per thread.
 *
 * Memory. The dataclient owns its connections to chunk servers and its node
 * table; a datafile owns its chunk map cache and the copies of unwritten
 * bytes. datafile_close() frees the handle whatever it returns;
 * dataclient_close() requires every handle closed. Callers own their
 * buffers; no pointer to them is kept after a call returns.
 *
 * Errors: negative cairn_err codes. CAIRN_EINVAL (bad arguments, a handle
 * not open for that), CAIRN_EFBIG (past CAIRN_FILE_SIZE_MAX), CAIRN_ENOSPC (no
 * chunk server can take a chunk), CAIRN_EIO (no replica could serve a read,
 * or a write failed on every attempt), CAIRN_ETIMEDOUT, and the metadata
 * group's answers (CAIRN_ENOENT, CAIRN_EACCES, CAIRN_EISDIR, ...).
 */
#ifndef CAIRN_CLIENT_FILE_H
#define CAIRN_CLIENT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "client/metaclient.h"
#include "meta/meta.h"
#include "rpc/rpc.h"

/* Defaults of the zero fields of struct dataclient_cfg. */
#define DATACLIENT_IO_MS_DEFAULT 10000u
#define DATACLIENT_DEADLINE_MS_DEFAULT 60000u
#define DATACLIENT_WINDOW_DEFAULT 8u
#define DATACLIENT_ATTEMPTS_DEFAULT 6u

struct dataclient;
struct datafile;

struct dataclient_cfg {
    struct metaclient *mc;           /* required; outlives the dataclient */
    const struct rpc_secret *secret; /* cluster secret (copied) */
    const char *name;                /* HELLO name towards chunk servers */
    uint32_t uid, gid;               /* credentials of every command */
    uint32_t io_timeout_ms;          /* one CHUNK_WRITE / CHUNK_READ; 0 = default */
    uint32_t write_deadline_ms;      /* deadline of a pending write; 0 = default */
    uint32_t window;                 /* pieces in flight per handle; 0 = default */
    uint32_t attempts;               /* allocations tried per chunk write; 0 = default */
    uint64_t seed;                   /* retry jitter; 0 = from getrandom */
};

int dataclient_new(const struct dataclient_cfg *cfg, struct dataclient **out);
/* Closes the connections to chunk servers (their memory is freed when the
 * loop next runs: metaclient_close() or the caller's loop does it). Every
 * datafile must be closed first. */
void dataclient_close(struct dataclient *dc);

struct dataclient_stats {
    uint64_t bytes_written;    /* accepted by pwrite */
    uint64_t bytes_read;       /* returned by pread */
    uint64_t pieces_sent;      /* CHUNK_WRITE requests, flushes included */
    uint64_t allocs;           /* CHUNK_ALLOC applied */
    uint64_t commits;          /* CHUNK_COMMIT applied */
    uint64_t aborts;           /* chunk writes aborted and redone */
    uint64_t replicas_dropped; /* replicas left out of a chain after an error */
    uint64_t reads_sent;       /* CHUNK_READ requests */
    uint64_t read_failovers;   /* reads moved to another replica */
    uint64_t corrupt_seen;     /* CAIRN_CORRUPT answers */
    uint64_t loc_refreshes;    /* chunk-map queries */
};
void dataclient_get_stats(const struct dataclient *dc, struct dataclient_stats *out);

/* datafile_open flags. */
#define DATAFILE_READ 0x1u
#define DATAFILE_WRITE 0x2u

/* Open inode ino (a regular file) and read its attributes (close-to-open).
 * No permission is checked here: the leader checks CHUNK_ALLOC (write) and
 * the caller resolved the path. */
int datafile_open(struct dataclient *dc, uint64_t ino, unsigned flags, struct datafile **out);
/* Open with attributes the caller just got from the leader (the reply of the
 * CREATE that made the file) instead of reading them again: a concurrent
 * unlink between the two cannot fail the open (POSIX: open succeeds). */
int datafile_open_attr(struct dataclient *dc, const struct meta_attr *a, unsigned flags,
                       struct datafile **out);
/* Up to n bytes at off: returns the count (short only at the end of the
 * file, 0 past it) or a negative cairn_err. */
int64_t datafile_pread(struct datafile *f, void *buf, size_t n, uint64_t off);
/* n bytes at off: returns n or a negative cairn_err (possibly one of an
 * earlier write behind, see Writes). */
int64_t datafile_pwrite(struct datafile *f, const void *buf, size_t n, uint64_t off);
/* Flush and commit every open chunk write: durable and visible to later
 * opens when it returns 0. */
int datafile_fsync(struct datafile *f);
/* fsync, then free the handle (always freed). Returns the fsync result. */
int datafile_close(struct datafile *f);
/* Fence the handle's writes with a lock's token (nonzero, CAIRN_EINVAL
 * otherwise): from now on its allocations are CHUNK_ALLOC_FENCED carrying
 * it and its CHUNK_WRITEs carry it. A write refused for its token (by the
 * metadata: the file saw a newer token; or by a chunk server: the chunk did)
 * fails the handle with CAIRN_FENCED, returned by the next pwrite, fsync or
 * close; it is not retried under a new allocation (a holder that lost its
 * lock must not get through by retrying), and the bytes it held are lost. */
int datafile_set_fence(struct datafile *f, uint64_t token);
/* The handle's sticky error (0: none): what the next call will return. */
int datafile_error(const struct datafile *f);
/* The file size as this handle sees it (attributes at open + own commits,
 * and bytes written but not committed yet). */
uint64_t datafile_size(const struct datafile *f);
/* The attributes read at open, updated by the handle's commits. */
void datafile_attr(const struct datafile *f, struct meta_attr *out);

/* One entry of a file's chunk map, as the leader answers META_CHUNKS. */
struct datafile_chunk {
    uint64_t id; /* 0: a hole */
    uint64_t version;
    uint32_t length;
    uint8_t n_replicas;
    uint32_t replicas[CAIRN_GOAL_MAX];
};
/* Ask the leader for the map entry of chunk `index` of inode ino (a hole
 * past the map's end). For tools and tests (replica counts, which node
 * holds what). */
int dataclient_chunk_info(struct dataclient *dc, uint64_t ino, uint32_t index,
                          struct datafile_chunk *out);
/* The address of chunk server `node` ("host:port", NUL-terminated into out
 * of at least CAIRN_NODE_ADDR_MAX + 1 bytes), from the node table (fetched
 * again when the node is unknown). CAIRN_ENOENT for an unknown node. */
int dataclient_node_addr(struct dataclient *dc, uint32_t node, char *out, size_t len);

#endif
