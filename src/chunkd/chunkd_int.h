/*
 * chunkd_int.h: the inside of a chunk server, shared by daemon.c (life
 * cycle, status), queue.c (per-chunk order, thread-pool jobs), data.c
 * (CHUNK_WRITE / CHUNK_READ, peers), link.c (the metadata leader), cmds.c
 * (the leader's commands) and scrub.c. Private to src/chunkd.
 *
 * Threads: everything here belongs to the loop thread, except what a
 * thread-pool job reads or writes between uv_queue_work() and its after
 * callback (its own job struct, and the store, which is thread-safe), and
 * `info` under info_mu.
 */
#ifndef CAIRN_CHUNKD_INT_H
#define CAIRN_CHUNKD_INT_H

#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#include "chunk/chunk.h"
#include "chunkd/chunkd.h"
#include "chunkd/fence.h"
#include "common/buf.h"
#include "common/hashmap.h"
#include "rpc/rpc.h"
#include "wire/msg_chunk.h"

#define CHUNKD_SUBSYS "chunkd"

/* Deadline of one call to the metadata group, or of one REPLICATE pull
 * (the whole copy is bounded by CHUNKD_REPL_MS). Forwards down a write
 * chain use the shorter CAIRN_CHUNK_FORWARD_MS scheme (limits.h). */
#define CHUNKD_CALL_MS 30000u
/* Bad versions remembered until a heartbeat carries them. */
#define CHUNKD_BAD_MAX 4096u
/* CHUNK_WRITE requests one client connection may have waiting (server
 * side): with 1 MiB pieces this bounds the memory one writer pins. */
#define CHUNKD_CONN_INFLIGHT 64u
/* Forwards waiting for room in a peer's write queue (rpc_call said
 * CAIRN_EBUSY: back-pressure, not a failure). Each pins its piece (<= 1 MiB);
 * four connections' worth of CHUNKD_CONN_INFLIGHT. Beyond it the forward
 * fails with CAIRN_EBUSY and the replica below is lost from that write. */
#define CHUNKD_FWD_WAIT_MAX 256u
/* Retry period of waiting forwards: the rpc client has no drain callback;
 * a 1 MiB piece leaves a loopback socket queue in about this time. */
#define CHUNKD_FWD_RETRY_MS 5u
/* New chunks (version 1) whose staged copy was dropped or aborted here,
 * remembered so a late write piece cannot stage it again (an orphan copy
 * until the next full report; see chunkd_note_dropped). 16 bytes each plus
 * the map. */
#define CHUNKD_DROPPED_MAX 65536u
/* A REPLICATE command gives up after this long (its source may be a server
 * just killed and not yet declared down): the leader then plans another
 * source. Well above a 64 MiB copy on loopback. */
#define CHUNKD_REPL_MS 20000u

/* --- per-chunk order -------------------------------------------------------------- */

struct op;
struct wop;
typedef void (*op_fn)(struct op *op);

/* Something done to one chunk: writes and commands of a chunk run one at a
 * time in arrival order (a flush after the writes before it; a commit after
 * the writes of its version). start() runs when the op reaches the head;
 * the op calls cq_done() when it is finished. */
struct op {
    struct op *next;
    struct chunkd *cd;
    uint64_t chunk;
    op_fn start;
};

void cq_push(struct chunkd *cd, struct op *op);
/* The head op of its chunk finished: start the next one. */
void cq_done(struct chunkd *cd, struct op *op);

/* Run work(arg) on the thread pool, then after(arg, ...) on the loop. */
struct job {
    uv_work_t w;
    void (*work)(struct job *j);
    void (*after)(struct job *j);
    void *arg;
    int rc;
};
void job_start(struct chunkd *cd, struct job *j);

/* --- peers ----------------------------------------------------------------------------- */

struct peer {
    char addr[CAIRN_NODE_ADDR_MAX + 1];
    struct rpc_client *c;
};
/* The client for a peer address (connected lazily, kept). NULL on error. */
struct rpc_client *peer_get(struct chunkd *cd, const uint8_t *addr, size_t len);

/* --- the leader's commands -------------------------------------------------------------- */

struct cmd_state {
    uint64_t id;
    int32_t status;
    int done;          /* executed: status is the result */
    uint64_t seen_gen; /* last heartbeat reply that listed it */
};

enum link_state {
    LINK_REGISTER = 0,  /* (re-)register */
    LINK_REPORT = 1,    /* send the full report */
    LINK_HEARTBEAT = 2, /* registered and reported */
};

struct bad_rec {
    uint64_t chunk;
    uint64_t version;
    int32_t err;
};

struct chunkd {
    struct chunkd_config cfg;
    uv_loop_t loop;
    struct rpc_secret secret;
    struct rpc_server *srv;
    struct chunk_store *store;
    uint16_t port;

    uv_timer_t hb_timer;
    uv_timer_t scrub_timer;
    uv_async_t stop_async;
    uv_signal_t sig_term, sig_int;
    int signals_on;
    int handles_open;
    int stopping;

    /* per-chunk queues: chunk id -> struct chunk_q */
    struct hmap queues;
    uint32_t jobs_running;
    struct job **jobs_wait; /* jobs beyond io_threads, FIFO */
    size_t jobs_wait_n, jobs_wait_cap, jobs_wait_head;

    /* peers */
    struct peer *peers;
    size_t n_peers, cap_peers;
    /* forwards waiting for room toward their peer (FIFO, data.c) */
    struct wop *fwd_wait;
    uint32_t fwd_wait_n;
    uv_timer_t fwd_timer;

    /* new chunks whose version 1 was dropped here (CHUNKD_DROPPED_MAX) */
    struct hmap dropped;

    /* newest fencing token per chunk, durable (fence.h); used on the thread
     * pool by write jobs */
    struct fence_log *fences;

    /* the metadata link */
    struct rpc_client *meta;
    enum link_state link;
    int call_out;              /* a call to the leader is in flight */
    uint32_t node;             /* 0 until registered once */
    int accept_writes;         /* the report after the last registration is delivered */
    uint32_t hb_ms;            /* heartbeat interval in use */
    struct chunk_info *report; /* the report being sent (malloc'd) */
    size_t report_n, report_off;
    struct hmap cmds; /* command id -> struct cmd_state */
    uint64_t reply_gen;
    struct wire_chunk_ack *acks; /* to send (CAIRN_OUTBOX_ACK_MAX) */
    uint32_t n_acks;
    uint32_t n_acks_out;   /* of them, carried by the heartbeat in flight */
    struct hmap known_bad; /* chunk -> bad version already reported */
    struct bad_rec *bad;   /* to send (CHUNKD_BAD_MAX) */
    uint32_t n_bad;
    uint32_t n_bad_out;
    char leader[CAIRN_MEMBER_ADDR_MAX + 1];

    /* the scrubber */
    int scrubbing;

    struct cairn_buf scratch;

    struct chunkd_info counters;
    struct chunkd_info info;
    pthread_mutex_t info_mu;
};

/* data.c */
int data_attach(struct chunkd *cd);
void peers_close(struct chunkd *cd);
/* End every waiting forward with status (shutdown). */
void chunkd_fwd_fail_all(struct chunkd *cd, int status);
/* (chunk, version) was dropped here: refuse later writes to it. */
void chunkd_note_dropped(struct chunkd *cd, uint64_t chunk, uint64_t version);
/* A bad version found (read or scrub): logged and queued for the leader. */
void chunkd_note_bad(struct chunkd *cd, uint64_t chunk, uint64_t version, uint32_t block, int err);
/* Stage (chunk, version) from base (bytes past base_length zeroed, 0: none)
 * unless staged already (the write path). Runs on the thread pool. */
int chunkd_ensure_staged(struct chunkd *cd, uint64_t chunk, uint64_t version, uint64_t base,
                         uint32_t base_length);

/* link.c */
int link_start(struct chunkd *cd);
void link_tick(struct chunkd *cd);
void link_close(struct chunkd *cd);
/* A command finished: remember its status, ack it in the next heartbeat. */
void link_cmd_done(struct chunkd *cd, uint64_t id, int status);
int chunkd_node_id_load(const char *dir, uint32_t *out);
int chunkd_node_id_save(const char *dir, uint32_t node);

/* cmds.c */
/* Queue a command in its chunk's order; CAIRN_ENOMEM (nothing queued). */
int cmd_exec(struct chunkd *cd, const struct wire_chunk_cmd *c);

/* scrub.c */
void scrub_tick(struct chunkd *cd);

/* daemon.c */
void chunkd_info_publish(struct chunkd *cd);
/* (Re)start the heartbeat timer at cd->hb_ms. */
void chunkd_hb_restart(struct chunkd *cd);
/* capacity and used as the leader sees them */
void chunkd_usage(struct chunkd *cd, uint64_t *capacity, uint64_t *used);

#endif
