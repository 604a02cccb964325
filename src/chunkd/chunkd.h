/*
 * chunkd.h: the chunk server daemon `cairn chunk` (docs/chunkd.md).
 *
 * One process keeps chunk versions on its local disk (src/chunk), serves
 * CHUNK_WRITE (down a chain of replicas) and CHUNK_READ to clients and peer
 * chunk servers, and follows the metadata leader: it registers (a node id
 * kept in DATA/node_id), sends a full chunk report after every
 * registration, heartbeats, and executes the leader's commands (commit,
 * drop, delete, truncate, replicate), acknowledging each in the next
 * heartbeat. A scrubber verifies every committed version at a configured
 * rate; bad versions found by it or by reads are reported to the leader.
 *
 * Threads: one libuv loop thread runs the RPC server, the clients (to the
 * metadata group and to peer chunk servers), the timers and every callback;
 * file I/O runs on libuv's thread pool (uv_queue_work), serialized per
 * chunk in arrival order, so the loop stays responsive. chunkd_new() and
 * chunkd_free() are called on the thread that owns the daemon; chunkd_run()
 * runs the loop on the calling thread; chunkd_stop() and chunkd_get_info()
 * may be called from any thread. Several daemons may run in one process,
 * one thread each (the in-process tests do).
 *
 * Memory: struct chunkd owns everything; the config is copied.
 *
 * Errors: chunkd_new returns CAIRN_EINVAL (bad config), CAIRN_EADDRINUSE,
 * the store's errors (I/O, CAIRN_CORRUPT), with a log line saying what.
 * chunkd_run returns 0 after a clean stop.
 */
#ifndef CAIRN_CHUNKD_H
#define CAIRN_CHUNKD_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

/* A config file is a few hundred bytes; refuse anything absurd. */
#define CHUNKD_CONFIG_FILE_MAX (64u * 1024u)
#define CHUNKD_ERR_MAX 256u

struct chunkd_config {
    char data[CAIRN_PATH_MAX];
    char listen[CAIRN_NODE_ADDR_MAX + 1];
    /* The address registered with the metadata leader (clients and other
     * chunk servers dial it); empty = listen. A proxy's, in the nemesis tests. */
    char advertise[CAIRN_NODE_ADDR_MAX + 1];
    char meta[CAIRN_RPC_ADDRS_MAX][CAIRN_MEMBER_ADDR_MAX + 1];
    uint32_t n_meta;
    char secret[CAIRN_PATH_MAX];
    char label[CAIRN_NODE_LABEL_MAX + 1];
    uint64_t capacity;     /* bytes offered; 0 = the file system's size */
    uint32_t heartbeat_ms; /* heartbeat interval (the leader may ask for another) */
    uint64_t scrub_rate;   /* bytes per second verified; 0 = no scrubbing */
    uint32_t scrub_ms;     /* scrubber timer period */
    uint32_t io_threads;   /* file operations in flight at once */
    int log_level;         /* enum cairn_log_level */
    char pid_file[CAIRN_PATH_MAX];
    uint32_t set; /* bit per key given (CHUNKD_KEY_*) */
};

void chunkd_config_defaults(struct chunkd_config *c);
/* One key (file name; '-' accepted for '_') from its text. CAIRN_EINVAL with
 * a one-line explanation in err. */
int chunkd_config_set(struct chunkd_config *c, const char *key, const char *value, char *err,
                      size_t err_len);
/* A whole config text (`key = value` lines, `#` comments); source names it. */
int chunkd_config_text(struct chunkd_config *c, const char *text, size_t len, const char *source,
                       char *err, size_t err_len);
/* argv[0..argc): --config FILE is read first, then every flag in order. */
int chunkd_config_args(struct chunkd_config *c, int argc, char *const *argv, char *err,
                       size_t err_len);
/* Required keys present and consistent. */
int chunkd_config_check(const struct chunkd_config *c, char *err, size_t err_len);

struct chunkd;

int chunkd_new(const struct chunkd_config *cfg, struct chunkd **out);
int chunkd_run(struct chunkd *cd);
/* Thread-safe: asks the loop to shut down cleanly. */
void chunkd_stop(struct chunkd *cd);
void chunkd_free(struct chunkd *cd);
/* The port the listener is bound to. */
uint16_t chunkd_port(const struct chunkd *cd);

/* Counters and state for tests and status; any thread. */
struct chunkd_info {
    uint32_t node;       /* 0 until registered */
    int registered;      /* registered and the full report delivered */
    uint64_t writes;     /* CHUNK_WRITE pieces served */
    uint64_t reads;      /* CHUNK_READ served */
    uint64_t cmds_done;  /* leader commands executed */
    uint64_t replicated; /* REPLICATE commands completed */
    uint64_t scrub_passes;
    uint64_t scrub_bytes;
    uint64_t bad_found;       /* bad versions found (reads and scrubber) */
    uint64_t heartbeats;      /* heartbeats answered by a leader */
    uint64_t reports;         /* full reports delivered */
    uint64_t fwd_waits;       /* forwards that waited for room toward their peer */
    uint64_t dropped_refused; /* write pieces refused: their version was dropped */
    uint64_t sealed_refused;  /* write pieces refused: their staged version was found at a
                                 restart (sealed, docs/chunk-format.md) */
};
void chunkd_get_info(const struct chunkd *cd, struct chunkd_info *out);

/* `cairn chunk ARGS...` (argv[0] is the first argument after "chunk").
 * Returns the exit code (docs/chunkd.md). */
int chunkd_main(int argc, char **argv);

/* Admin commands (admin.c): `cairn chunk-status`, `chunk-drain`,
 * `chunk-nodes`. Exit 0 success, 1 failure, 2 usage. */
int chunkd_status_main(int argc, char **argv);
int chunkd_drain_main(int argc, char **argv);
int chunkd_nodes_main(int argc, char **argv);

#endif
