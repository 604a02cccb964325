/*
 * metad.h: the metadata server daemon `cairn meta` (docs/metad.md): one
 * member of the metadata Raft group. It ties together the pure Raft core
 * (raft.h), its durable storage (raftio.h) and transport (transport.h), the
 * metadata state machine (meta.h) and the client RPC service (wire.h
 * WIRE_META_*).
 *
 * Two threads per daemon: the loop thread runs libuv (RPC, timers, the Raft
 * core, the state machine); the storage thread appends and fdatasyncs the
 * Raft ready batches handed to it, one at a time, so proposals arriving
 * during a sync share the next one (group commit).
 *
 * Use: metad_new() recovers the data directory and binds the listener (in
 * the calling thread); metad_run() runs the loop in the calling thread until
 * metad_stop() (callable from any thread or a signal handler's loop) or a
 * fatal storage error; metad_free() releases everything. metad_main() is
 * the whole `cairn meta` command: config, signals, pid file, exit code.
 * Several daemons may run in one process (one thread each), as the
 * in-process tests do.
 *
 * Memory: struct metad owns everything it uses; the config is copied.
 *
 * Errors: metad_new returns CAIRN_WRONGCLUSTER for a data directory of
 * another cluster, CAIRN_EADDRINUSE, CAIRN_CORRUPT, I/O codes, with a log
 * line saying what. metad_run returns 0 after a clean stop, or the storage
 * error that stopped it.
 */
#ifndef CAIRN_METAD_H
#define CAIRN_METAD_H

#include <stdint.h>

#include "metad/config.h"

struct metad;

int metad_new(const struct metad_config *cfg, struct metad **out);
int metad_run(struct metad *d);
/* Thread-safe: asks the loop to shut down cleanly (fsync, close). */
void metad_stop(struct metad *d);
void metad_free(struct metad *d);
/* The port the listener is bound to (useful with port 0 in tests). */
uint16_t metad_port(const struct metad *d);

/* The daemon's state as of its last ready batch, for tests and metrics;
 * any thread. */
struct metad_info {
    uint64_t id;
    int role; /* enum raft_role */
    uint64_t term;
    uint64_t leader;
    uint64_t commit;
    uint64_t applied;
    uint64_t snapshot_index;
    uint64_t proposals;  /* commands proposed since start */
    uint64_t io_batches; /* ready batches persisted by the storage thread */
    uint64_t syncs;      /* WAL fdatasyncs */
    uint64_t snapshots_taken;
    uint64_t snapshots_installed;
};
void metad_get_info(const struct metad *d, struct metad_info *out);

/* `cairn meta ARGS...` (argv[0] is the first argument after "meta").
 * Returns the process exit code (docs/metad.md). */
int metad_main(int argc, char **argv);

#endif
