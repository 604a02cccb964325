/*
 * writer.h: group commit on an I/O thread. The daemon's loop thread hands
 * each Raft ready batch (entries, hard state, snapshots) to
 * raftio_writer_submit(), which copies it into a queue and returns at once
 * with a sequence number. The writer thread takes EVERYTHING queued, writes
 * it in order and makes it durable with one fdatasync, then reports the
 * last sequence number it covered. Batches that arrive while a sync runs
 * wait in the queue and share the next one: many batches, few fdatasyncs.
 *
 * One round, in this order (docs/storage.md, "fsync ordering"):
 *  1. the newest hard state of the round, if its term or vote differs from
 *     the one on disk (a vote is durable before anything that follows it;
 *     its commit is lowered to what is durable, see raftio.h);
 *  2. each batch in order: installed snapshot (saved, log reset), entries
 *     (appended, a conflicting suffix replaced), taken snapshot (saved, log
 *     compacted);
 *  3. one wal_sync: fdatasync, plus a directory fsync if segments changed;
 *  4. durable_seq = last batch of the round; the callback runs.
 * A hard state that changes only the commit index is not written (the core
 * learns the commit again from its leader); raftio_writer_stop() writes the
 * last one so a clean restart starts from it.
 *
 * Threads: submit, durable_seq, durable_index, error and wait may be called
 * from any thread; start and stop from the owner. While the writer runs, it
 * owns the struct raftio: nobody else may call raftio_* on it. The callback
 * runs on the writer thread (a libuv daemon calls uv_async_send there).
 *
 * Memory: submit copies the batch (entries, their data, snapshot bytes);
 * the caller's buffers may go once it returns (as a ready batch's do at
 * raft_advance()).
 *
 * Errors: submit returns CAIRN_LIMIT when more than
 * CAIRN_RAFTIO_QUEUE_BYTES_MAX of entries are queued (back-pressure; an
 * empty queue takes any batch), CAIRN_SHUTDOWN after stop began, CAIRN_ENOMEM,
 * or the writer's sticky error. The first I/O error fails the writer for
 * good: the callback gets it, later batches are not written, and the daemon
 * restarts its storage (raftio_load) as wal.h says.
 */
#ifndef CAIRN_RAFTIO_WRITER_H
#define CAIRN_RAFTIO_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "raftio/raftio.h"

/* One ready batch; every field is optional (NULL / 0). */
struct raftio_batch {
    const struct raft_snapshot *install; /* from the leader: rd.snapshot */
    const struct raft_entry *entries;    /* rd.entries */
    size_t n_entries;
    const struct raft_hard_state *hard_state; /* rd.hard_state if rd.has_hard_state */
    const struct raft_snapshot *taken;        /* a snapshot the state machine took */
};

/* Called on the writer thread after each round: every batch up to seq is
 * durable (err 0), or the writer failed with err. */
typedef void (*raftio_durable_fn)(void *ctx, uint64_t seq, uint64_t durable_index, int err);

struct raftio_writer_stats {
    uint64_t batches; /* batches written */
    uint64_t rounds;  /* rounds (one wal_sync each) */
};

struct raftio_writer;

/* Starts the writer thread on io (which it owns until stop); fn may be NULL. */
int raftio_writer_start(struct raftio *io, raftio_durable_fn fn, void *ctx,
                        struct raftio_writer **out);
/* Queues a copy of b; *seq receives its sequence number (1, 2, ...). */
int raftio_writer_submit(struct raftio_writer *wr, const struct raftio_batch *b, uint64_t *seq);
/* Last sequence number known durable (0: none yet). */
uint64_t raftio_writer_durable_seq(struct raftio_writer *wr);
/* The log's durable index after the last round. */
uint64_t raftio_writer_durable_index(struct raftio_writer *wr);
/* 0, or the error that failed the writer. */
int raftio_writer_error(struct raftio_writer *wr);
/* Blocks until seq is durable (0) or the writer failed (its error). */
int raftio_writer_wait(struct raftio_writer *wr, uint64_t seq);
void raftio_writer_get_stats(struct raftio_writer *wr, struct raftio_writer_stats *st);
/* Writes what is queued, persists the last hard state, joins the thread and
 * frees the writer; io belongs to the caller again. Returns the writer's
 * error (0 if none). */
int raftio_writer_stop(struct raftio_writer *wr);

#endif
