/*
 * fence.h: the newest fencing token a chunk server has seen per chunk, kept
 * across restarts (docs/chunkd.md, "Fencing"). Private to src/chunkd.
 *
 * A CHUNK_WRITE carrying a nonzero token older than the newest one accepted
 * for its chunk is refused (CAIRN_FENCED): a lock holder whose lease ran out
 * cannot overwrite its successor's bytes. The tokens live in a hash map and
 * in an append-only file DATA/fences of fixed 20-byte records (u64 chunk,
 * u64 token, u32 CRC32C of the 16 bytes before, little-endian). A newer token
 * is appended and fdatasynced before fence_admit() returns, so before the
 * write carrying it is acknowledged: after a restart (or a power cut) a stale
 * token is refused exactly as before. The file is rewritten compactly (one
 * record per chunk: temp file, fsync, rename, directory fsync) at open and
 * whenever it holds over twice the live records.
 *
 * Bound: max_chunks (CAIRN_CHUNKD_FENCES_MAX in the daemon). Beyond it the quarter with the
 * oldest tokens is forgotten (logged): tokens are Raft indexes of lock
 * grants, so those are the grants least likely to have a paused holder
 * still around, and the metadata group checks tokens too (CHUNK_ALLOC_FENCED).
 *
 * Threads: fence_admit() and fence_get() from any thread (a mutex; the
 * append's fdatasync runs under it, on the thread pool, and only for a
 * token newer than any seen for that chunk, i.e. once per lock grant and
 * chunk). Open and close on the owner's thread.
 *
 * Errors: CAIRN_FENCED (a stale token), file system errors as cairn_err
 * (the write is then refused; nothing was acknowledged), CAIRN_ENOMEM.
 */
#ifndef CAIRN_CHUNKD_FENCE_H
#define CAIRN_CHUNKD_FENCE_H

#include <stddef.h>
#include <stdint.h>

#define FENCE_FILE "fences"
#define FENCE_RECORD_SIZE 20u
/* Compaction waits for at least this many dead records (tiny logs are not
 * worth a rewrite). */
#define FENCE_COMPACT_MIN 1024u

struct fence_log;

/* What fence_open found in the file. */
struct fence_open_stats {
    uint64_t records; /* whole records read */
    uint64_t bad;     /* records whose CRC failed (skipped: damage, or a torn tail) */
    uint64_t chunks;  /* chunks with a token after the load */
};

/* Loads DATA/fences (missing: empty) and compacts it, keeping at most
 * max_chunks tokens (the daemon: CAIRN_CHUNKD_FENCES_MAX; tests: smaller).
 * st may be NULL. */
int fence_open(const char *dir, size_t max_chunks, struct fence_log **out,
               struct fence_open_stats *st);
void fence_close(struct fence_log *fl);
/* token 0: no fencing (0). Older than the newest for chunk: CAIRN_FENCED.
 * Newer: made durable, then 0. */
int fence_admit(struct fence_log *fl, uint64_t chunk, uint64_t token);
/* The newest token of chunk (0: none). */
uint64_t fence_get(struct fence_log *fl, uint64_t chunk);
/* Chunks with a token. */
size_t fence_count(struct fence_log *fl);

#endif
