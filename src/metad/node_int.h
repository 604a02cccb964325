/*
 * node_int.h: the inside of a metadata daemon, shared by node.c (life
 * cycle), ready.c (storage thread, ready batches, apply, snapshots) and
 * serve.c (client requests). Private to src/metad; rules as metad.h.
 *
 * Thread rules: everything here belongs to the loop thread, except the
 * `io` block, which the storage thread reads and writes between a
 * hand-over (io.state = IO_QUEUED under io.mu) and its completion
 * (io.state = IO_DONE under io.mu, then uv_async_send). While a job is out
 * the loop thread does not touch the raftio object nor the job.
 */
#ifndef CAIRN_METAD_NODE_INT_H
#define CAIRN_METAD_NODE_INT_H

#include <pthread.h>
#include <sys/types.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "common/hashmap.h"
#include "meta/meta.h"
#include "metad/config.h"
#include "metad/metad.h"
#include "metad/record.h"
#include "raft/raft.h"
#include "raftio/raftio.h"
#include "raftio/transport.h"
#include "rpc/rpc.h"

#define METAD_SUBSYS "metad"

enum pending_kind {
    PEND_CMD = 1,    /* META_CMD: reply at apply */
    PEND_MEMBER = 2, /* META_MEMBER: reply at apply of the conf entry */
    PEND_QUERY = 3,  /* META_QUERY: reply after a ReadIndex round */
};

/* A client request waiting for the log or for a read round. */
struct pending {
    struct pending *next; /* read lists */
    struct rpc_req *req;
    uint8_t kind;
    uint64_t index; /* CMD/MEMBER: the entry's index; QUERY: the read index */
    uint64_t term;  /* CMD/MEMBER: the entry's term when proposed */
    uint8_t *query; /* QUERY: a copy of the command */
    size_t query_len;
    size_t bytes; /* CMD: entry bytes counted in pending_bytes */
};

/* A FIFO of pending reads. */
struct pend_list {
    struct pending *head, *tail;
    size_t n;
};

enum io_state {
    IO_IDLE = 0,
    IO_QUEUED = 1, /* handed to the storage thread */
    IO_DONE = 2,   /* finished; the loop has not looked yet */
};

/* One storage job: the durable part of a ready batch, and maybe a snapshot
 * the state machine took. Filled by the loop, read by the storage thread. */
struct io_job {
    const struct raft_ready *rd; /* NULL: snapshot save only */
    int save_hs_first;           /* term or vote changed */
    int save_hs_after;           /* a membership change was committed */
    struct raft_hard_state hs;
    int has_save;
    struct raft_snapshot save; /* data owned by the job (malloc'd) */
    /* results */
    int rc;
    const char *failed; /* which step failed */
    int save_rc;        /* snapshot save result (CAIRN_EINVAL: superseded) */
    uint64_t syncs;     /* WAL fdatasyncs so far (wal stats) */
};

struct metad {
    struct metad_config cfg;
    uv_loop_t loop;
    struct rpc_secret secret;
    struct rpc_server *srv;
    struct transport *tr;
    struct raft *raft;
    struct meta *meta;
    struct raftio *rio;
    struct metad_members members;
    uint16_t port;

    /* handles */
    uv_timer_t tick_timer;
    uv_timer_t session_timer;
    uv_check_t check;
    uv_async_t stop_async;
    uv_async_t io_async;
    int handles_open;

    /* the storage thread */
    struct {
        pthread_t thread;
        int started;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        enum io_state state;
        int quit;
        struct io_job job;
    } io;

    /* the ready batch out (taken from the core, not yet advanced) */
    struct raft_ready rd;
    int rd_out;
    int rd_beats_sent;                /* its heartbeats went out before it was durable */
    struct raft_hard_state hs_latest; /* newest hard state the core gave */
    struct raft_hard_state hs_saved;  /* as last written by us */

    /* a snapshot the state machine took, waiting to be handed to storage */
    struct raft_snapshot snap_save;
    int snap_save_pending;
    uint64_t last_snap_index;

    /* soft state seen in the last batch */
    enum raft_role role;
    uint64_t term;
    uint64_t leader;
    uint64_t applied;

    /* client requests */
    struct hmap cmds;            /* log index -> struct pending */
    struct pend_list read_next;  /* waiting for a read round */
    struct pend_list read_round; /* in the round with ctx read_ctx */
    struct pend_list read_wait;  /* have a read index, wait for apply */
    uint64_t read_ctx;
    int read_in_flight;
    uint64_t read_started_ms;
    size_t n_pending;
    size_t pending_bytes; /* proposed command bytes not yet applied */
    uint64_t tick_index;  /* META_TICK proposed and not yet applied (0: none) */
    /* the command clock (locks.h): wall time and state-machine time when
     * this node last became leader */
    uint64_t clock_base_wall_ns, clock_base_meta_ns;
    struct metad_lockwaits *lockwaits; /* parked LOCK_ACQUIREs (locks.c), or NULL */

    /* unreachable peers reported while a batch is out */
    uint64_t unreachable[2 * CAIRN_RAFT_NODES_MAX];
    size_t n_unreachable;

    struct cairn_buf reply; /* scratch for replies */
    struct cairn_buf scratch;

    int stopping;
    int exit_rc;

    /* children forked for whole-state work (bg.c); pids 0: none */
    struct {
        pid_t snap_pid, digest_pid;
        uint64_t snap_index;           /* applied index the snapshot child saves */
        uint64_t body_index;           /* index of the snapshot in <data>/snap-body */
        int digest_fd;                 /* read end of the digest child's pipe */
        uint64_t digest_child_index;   /* applied index the digest child hashes */
        uint64_t digest, digest_index; /* last digest known (UINT64_MAX: none) */
    } bg;

    struct metrics *metrics;     /* NULL unless cfg.metrics */
    struct metad_chunks *chunks; /* leader side of the chunk servers (chunks.h) */

    /* signals (metad_main only) */
    uv_signal_t sig_term, sig_int;
    int signals_on;

    /* counters (loop thread), and the info other threads may read */
    struct metad_info counters;
    struct metad_info info;
    pthread_mutex_t info_mu;
};

/* ready.c */
int metad_io_start(struct metad *d);
void metad_io_stop(struct metad *d);
void metad_io_done_cb(uv_async_t *h);
void metad_check_cb(uv_check_t *h);
/* Install a snapshot body (members + meta) as the state at index. */
int metad_state_load(struct metad *d, const uint8_t *body, size_t len, uint64_t index);
void metad_fatal(struct metad *d, int rc, const char *what);

/* bg.c: snapshots and digests in a forked child (off the loop thread) */
void metad_bg_init(struct metad *d);
/* Fork a child writing the snapshot at the applied index; CAIRN_EBUSY if
 * one runs. Its end is noticed by metad_bg_poll, which takes the snapshot. */
int metad_bg_snapshot_start(struct metad *d);
/* The state digest at the applied index: 1 with *digest when known (cached,
 * or cheap enough to compute at once); 0 when a child is hashing it. */
int metad_bg_digest(struct metad *d, uint64_t *digest);
/* transport_send, filling a snapshot the core holds without its bytes. */
void metad_bg_send(struct metad *d, const struct raft_msg *m);
/* Reap children that ended (tick timer). */
void metad_bg_poll(struct metad *d);
/* Kill and reap children (shutdown). */
void metad_bg_stop(struct metad *d);

/* serve.c */
int metad_serve_attach(struct metad *d);
void metad_fail_pending(struct metad *d, int code);
/* Answer a META_CMD request with the reply of the entry at index, and free
 * it (for requests taken out of d->cmds, as locks.c parks them). */
void metad_pending_answer(struct metad *d, struct pending *p, uint64_t index, const uint8_t *reply,
                          size_t len);
void metad_apply_reply(struct metad *d, uint64_t index, uint64_t term, int kind_ok,
                       const struct cairn_buf *reply);
void metad_reads_served(struct metad *d);
void metad_read_state(struct metad *d, uint64_t ctx, uint64_t index);
void metad_reads_tick(struct metad *d);
void metad_propose_tick(struct metad *d);
const char *metad_leader_addr(const struct metad *d);
void metad_update_peers(struct metad *d);

/* metrics.c: the optional Prometheus endpoint */
int metad_metrics_start(struct metad *d);
void metad_metrics_sweep(struct metad *d);
void metad_metrics_stop(struct metad *d);

/* node.c */
void metad_shutdown(struct metad *d);
/* SIGTERM and SIGINT shut the daemon down cleanly (before metad_run). */
void metad_handle_signals(struct metad *d);

#endif
