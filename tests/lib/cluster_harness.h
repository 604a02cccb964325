/*
 * cluster_harness.h: real `cairn meta` processes on 127.0.0.1 for the
 * cluster tests (tests/cluster) and the metadata benchmark
 * (bench/bench_meta_cluster.c).
 *
 * The harness writes a cluster secret, gives every node a port (drawn from a
 * seeded range below the kernel's ephemeral ports, checked free by binding
 * it), a data directory and a log file under the caller's directory, starts
 * the processes (fork + exec of build/cairn, or $CAIRN_BIN), waits until each
 * answers META_STATUS, finds the leader, and can SIGKILL, restart, SIGSTOP
 * and SIGCONT any node by pid, add a node with --join and change the
 * membership through META_MEMBER.
 *
 * Every process it starts is stopped by pid: by cluster_stop(), and, if the
 * test dies first, by an atexit handler and a handler of the fatal signals
 * (SIGABRT from a failed CHECK included); children also get SIGKILL from the
 * kernel when the test process dies (PR_SET_PDEATHSIG), and the test runner
 * kills the process group at a timeout.
 *
 * Threads: single-threaded. Status and membership RPCs run on the loop given
 * to cluster_start() (or the harness's own): the blocking calls here run
 * that loop, so a test's metadata clients on the same loop keep working
 * while the harness waits.
 *
 * Memory: struct cluster is owned by the caller (large: keep it static or on
 * the heap); cluster_stop() releases what the harness allocated.
 *
 * Errors: negative cairn_err codes: CAIRN_ENAMETOOLONG (a directory path of
 * CLUSTER_DIR_MAX bytes or more), CAIRN_ETIMEDOUT (a wait ran out),
 * CAIRN_EIO (a process could not be started or exited on its own; its log
 * tail has been printed to stderr), RPC errors of status/member calls.
 */
#ifndef CAIRN_TESTS_CLUSTER_HARNESS_H
#define CAIRN_TESTS_CLUSTER_HARNESS_H

#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "common/limits.h"
#include "common/prng.h"
#include "rpc/rpc.h"

#define CLUSTER_NODES_MAX 8
#define CLUSTER_PATH_MAX 512
/* The caller's directory: short enough for every path built under it. */
#define CLUSTER_DIR_MAX 256

struct cluster_opts {
    uint32_t n;                   /* initial voters, 1..CLUSTER_NODES_MAX */
    uint32_t tick_ms;             /* 0 = 10 (daemon default) */
    uint32_t election_ticks;      /* 0 = 20 (daemon default) */
    uint64_t snapshot_every;      /* 0 = the daemon's default */
    const char *log_level;        /* NULL = "info" */
    uint64_t seed;                /* port choice */
    const char *const *meta_args; /* extra flags of every `cairn meta`: NULL-terminated */
    /* Optional (the nemesis's proxy): the address the other processes are
     * given for a server that listens on `listen`; kind CLUSTER_KIND_META
     * (slot = metadata slot) or CLUSTER_KIND_CHUNK. NULL: listen itself. */
    int (*advertise)(void *arg, int kind, uint32_t slot, const char *listen, char *out, size_t len);
    void *advertise_arg;
    /* Optional: told the pid of every server process just started (before
     * it can connect anywhere), with the same kind and slot. */
    void (*spawned)(void *arg, int kind, uint32_t slot, pid_t pid);
};

#define CLUSTER_KIND_META 0
#define CLUSTER_KIND_CHUNK 1

struct cluster_node {
    uint64_t id;
    char addr[CAIRN_MEMBER_ADDR_MAX + 1]; /* where it listens (the harness asks here) */
    char adv[CAIRN_MEMBER_ADDR_MAX + 1];  /* what peers and clients are given */
    char data[CLUSTER_PATH_MAX];
    char log[CLUSTER_PATH_MAX];
    pid_t pid; /* 0 when not running */
    int paused;
    int join; /* started with --join: not one of the initial peers */
    struct rpc_client *rpc;
};

/* --- chunk servers (tests/lib/cluster_chunks.c) ---------------------------- */

#define CLUSTER_CHUNKS_MAX 8
/* scrub_rate value that turns the scrubber off. */
#define CLUSTER_SCRUB_OFF UINT64_MAX

/* Settings of one `cairn chunk` (zero fields: the daemon's defaults). */
struct cluster_chunk_opts {
    uint32_t heartbeat_ms;
    uint64_t scrub_rate; /* bytes/s; CLUSTER_SCRUB_OFF: no scrubbing */
    uint32_t scrub_ms;
    uint64_t capacity;     /* bytes offered (the daemon refuses writes beyond) */
    const char *label;     /* rack label, copied; NULL = none */
    const char *log_level; /* NULL = "info" */
};

struct cluster_chunk {
    char addr[CAIRN_MEMBER_ADDR_MAX + 1];
    char adv[CAIRN_MEMBER_ADDR_MAX + 1]; /* registered address (--advertise) */
    char data[CLUSTER_PATH_MAX];
    char log[CLUSTER_PATH_MAX];
    char label[CAIRN_NODE_LABEL_MAX + 1];
    struct cluster_chunk_opts o;
    uint32_t node; /* registry id, known once it registered */
    pid_t pid;     /* 0 when not running */
    int paused;
    struct rpc_client *rpc;
};

struct cluster {
    char dir[CLUSTER_DIR_MAX];
    char bin[CLUSTER_PATH_MAX];
    char secret_path[CLUSTER_PATH_MAX];
    struct rpc_secret secret;
    char peers[CLUSTER_NODES_MAX * (CAIRN_MEMBER_ADDR_MAX + 24)];
    struct cluster_opts o;
    uint32_t n_nodes; /* slots in use */
    struct cluster_node nodes[CLUSTER_NODES_MAX];
    uv_loop_t *loop;
    uv_loop_t own_loop;
    int own;
    struct prng ports;
    uint32_t n_chunks; /* chunk-server slots in use (cluster_chunks.c) */
    struct cluster_chunk chunks[CLUSTER_CHUNKS_MAX];
};

struct cluster_member {
    uint64_t id;
    int voter;
    char addr[CAIRN_MEMBER_ADDR_MAX + 1];
};

/* META_STATUS_REPLY with its strings copied. */
struct cluster_status {
    uint64_t id;
    int role; /* enum raft_role */
    uint64_t term;
    uint64_t leader;
    char leader_addr[CAIRN_MEMBER_ADDR_MAX + 1];
    uint64_t commit, applied, snapshot_index, digest;
    uint32_t n_members;
    struct cluster_member members[CAIRN_RAFT_NODES_MAX];
};

/* Start o->n nodes under dir (which must exist) and wait for a leader.
 * loop: where status RPCs run (NULL: a loop of the harness). */
int cluster_start(struct cluster *c, const char *dir, const struct cluster_opts *o,
                  uv_loop_t *loop);
/* SIGKILL every process still running, reap it, close the RPC clients. */
void cluster_stop(struct cluster *c);

/* The node's "host:port" strings of every started slot, for clients. */
size_t cluster_addrs(const struct cluster *c, const char **out, size_t max);
/* The same, as given to peers and clients (the advertised addresses). */
size_t cluster_adv_addrs(const struct cluster *c, const char **out, size_t max);

/* Process control, by slot index. spawn starts the process (same id, port
 * and data dir as before); kill is SIGKILL + reap; term is SIGTERM + reap
 * (its exit status is returned: 0 for a clean shutdown); pause/resume are
 * SIGSTOP/SIGCONT. restart = kill (if running) + spawn + wait ready. */
int cluster_node_spawn(struct cluster *c, uint32_t i);
void cluster_node_kill(struct cluster *c, uint32_t i);
int cluster_node_term(struct cluster *c, uint32_t i);
void cluster_node_pause(struct cluster *c, uint32_t i);
void cluster_node_resume(struct cluster *c, uint32_t i);
int cluster_node_restart(struct cluster *c, uint32_t i, uint32_t timeout_ms);
/* Wait until node i answers META_STATUS (CAIRN_EIO if its process died). */
int cluster_wait_ready(struct cluster *c, uint32_t i, uint32_t timeout_ms);
/* Print the last bytes of node i's log to stderr (after a failure). */
void cluster_node_log_tail(const struct cluster *c, uint32_t i, size_t bytes);
/* 1 if node i's log contains `text`. */
int cluster_node_log_has(const struct cluster *c, uint32_t i, const char *text);
/* Resident set size of node i's process in bytes (from /proc), 0 if unknown. */
uint64_t cluster_node_rss(const struct cluster *c, uint32_t i);

int cluster_status(struct cluster *c, uint32_t i, struct cluster_status *out, uint32_t timeout_ms);
/* The slot of the leader that a majority of the running, unpaused nodes
 * follow in its term; waits up to timeout_ms. Negative error otherwise. */
int cluster_wait_leader(struct cluster *c, uint32_t timeout_ms);
/* Wait until the running, unpaused nodes in `mask` (bit per slot; 0 = all
 * running) report the same applied index and digest; *digest set. */
int cluster_wait_converged(struct cluster *c, uint32_t mask, uint32_t timeout_ms, uint64_t *digest);

/* Wait until node i has applied everything the leader had committed when
 * the wait began (cheaper than a digest comparison on a large state, where
 * the periodic META_TICK entries keep the applied indexes moving). */
int cluster_wait_caught_up(struct cluster *c, uint32_t i, uint32_t timeout_ms);

/* A membership change through the leader (op: enum raft_conf_op), retried
 * on NOTLEADER until timeout_ms; addr may be NULL for a removal. */
int cluster_member_change(struct cluster *c, uint8_t op, uint64_t node, const char *addr,
                          uint32_t timeout_ms);
/* A new slot: next id, a fresh port and data dir, started with --join and
 * waited for (not yet added to the group). Returns the slot or an error. */
int cluster_node_new_join(struct cluster *c, uint32_t timeout_ms);

/* Run the harness loop for about ms (clients on it make progress). */
void cluster_run_for(struct cluster *c, uint32_t ms);

/* --- chunk servers (tests/lib/cluster_chunks.c) ------------------------------
 * `cairn chunk` processes given every metadata address, each with a port, a
 * data directory dir/cs/cK and a log dir/cs/cK.log; stopped by pid like the
 * metadata nodes (cluster_stop() stops them too). */

/* Start a new chunk server (o may be NULL) and wait until it has registered
 * with the metadata leader. Returns its slot or an error. */
int cluster_chunk_add(struct cluster *c, const struct cluster_chunk_opts *o, uint32_t timeout_ms);
/* Process control by slot, as the cluster_node_* calls. spawn restarts a
 * stopped server with the same port and data directory. */
int cluster_chunk_spawn(struct cluster *c, uint32_t i);
void cluster_chunk_kill(struct cluster *c, uint32_t i);
int cluster_chunk_term(struct cluster *c, uint32_t i);
void cluster_chunk_pause(struct cluster *c, uint32_t i);
void cluster_chunk_resume(struct cluster *c, uint32_t i);
/* Wait until slot i answers CHUNK_STATUS as registered (sets its node id). */
int cluster_chunk_wait_ready(struct cluster *c, uint32_t i, uint32_t timeout_ms);
/* SIGKILL every chunk server and close their status clients. */
void cluster_chunks_stop(struct cluster *c);
void cluster_chunk_log_tail(const struct cluster *c, uint32_t i, size_t bytes);
int cluster_chunk_log_has(const struct cluster *c, uint32_t i, const char *text);
/* The slot of registry node id `node`, or -1. */
int cluster_chunk_slot(const struct cluster *c, uint32_t node);

/* CHUNK_STATUS_REPLY with its strings copied. */
struct cluster_chunk_status {
    uint32_t node;
    int registered;
    char addr[CAIRN_NODE_ADDR_MAX + 1];
    char leader[CAIRN_MEMBER_ADDR_MAX + 1];
    uint64_t capacity, used, chunks, staged, cmds_done, replicated;
    uint64_t scrub_passes, scrub_bytes, bad_found, writes, reads;
};
int cluster_chunk_status(struct cluster *c, uint32_t i, struct cluster_chunk_status *out,
                         uint32_t timeout_ms);

/* A version file of a chunk on a server's disk. */
struct cluster_chunk_file {
    uint64_t version;
    int staged; /* 1: a staged (uncommitted) version */
    char path[CLUSTER_PATH_MAX + 320];
};
/* The version files of chunk on slot i (committed and staged), into
 * out[0..max); *n is how many exist (may exceed max). */
int cluster_chunk_versions(const struct cluster *c, uint32_t i, uint64_t chunk,
                           struct cluster_chunk_file *out, size_t max, size_t *n);
/* Flip one byte of data block `block` of the committed `version` of chunk on
 * slot i's disk, behind the server's back (CAIRN_ENOENT: not there;
 * CAIRN_ERANGE: the file holds no bytes of that block). */
int cluster_chunk_corrupt(const struct cluster *c, uint32_t i, uint64_t chunk, uint64_t version,
                          uint32_t block);

/* For cluster_chunks.c: start a process logged to `log` and registered for
 * the kill-at-exit handlers; forget a reaped one; a free loopback port. */
pid_t cluster_proc_spawn(const char *bin, char *const argv[], const char *log);
void cluster_proc_reaped(pid_t pid);
/* Register a process started otherwise (a forked worker) for the kill-at-exit
 * handlers; forget it with cluster_proc_reaped once reaped. */
void cluster_proc_register(pid_t pid);
int cluster_port_pick(struct cluster *c, char *addr, size_t len);

#endif
