/*
 * chunks_int.h: the leader-side chunk-server state shared by chunks.c
 * (handlers, proposals, the CHUNK_ALLOC rewrite) and liveness.c (down
 * marking, re-replication, draining). Private to those files; rules as
 * chunks.h (loop thread only; soft state of the current leader).
 */
#ifndef CAIRN_METAD_CHUNKS_INT_H
#define CAIRN_METAD_CHUNKS_INT_H

#include <stdint.h>

#include "common/buf.h"
#include "common/hashmap.h"
#include "common/prng.h"
#include "meta/cmd.h"
#include "meta/meta.h"
#include "metad/chunks.h"
#include "metad/node_int.h"

#define CHUNKS_SUBSYS "metad"

/* What the leader knows of one chunk server beyond the registry. */
struct chunk_live {
    uint32_t id;
    uint64_t last_hb_ms; /* monotonic ms of the last heartbeat or registration */
    int heard;           /* a heartbeat or registration reached THIS leader */
    uint64_t capacity;   /* from the last heartbeat */
    uint64_t used;
    uint64_t usage_sent_ms; /* last NODE_UPDATE carrying usage */
    int reported;           /* a full report (FIRST..LAST) reached this leader */
    int reporting;          /* between FIRST and LAST */
    int fresh;              /* registered with this leader, its first report not in yet */
    struct hmap held;    /* while reporting: chunk -> version held (+1 if staged: see chunks.c) */
    uint64_t down_index; /* NODE_UPDATE down proposed at this index (0: none) */
    struct hmap acked;   /* outbox id -> index of the OUTBOX_ACK carrying it */
};

/* A replication the leader planned: `target` pulls (chunk, version) from
 * `source`. Found by command id and by chunk (one per chunk at a time). */
struct repl {
    uint64_t id; /* WIRE_CHUNK_CMD_SOFT | sequence */
    uint64_t chunk;
    uint64_t version;
    uint32_t length;
    uint32_t target;
    uint32_t source;
    uint64_t started_ms;
    int adding; /* the target acked: CHUNK_REPLICA ADD is in the log */
};

struct own_prop;
typedef void (*own_done_fn)(struct metad *d, struct own_prop *p, int status, const uint8_t *reply,
                            size_t len);

/* One of the leader's own proposals, waiting for its entry to apply. */
struct own_prop {
    uint64_t index;
    uint64_t term;
    own_done_fn done;
    struct rpc_req *req; /* a chunk server or admin waiting for the outcome, or NULL */
    uint32_t node;
    uint64_t aux; /* repl id, ... */
};

/* Proposals of our own in the log at once: bounds memory when the log is
 * slow; beyond it heartbeats still answer, their acks wait for the next. */
#define CHUNKS_PROPS_MAX 4096u
/* A replication not acknowledged within this time is planned again. */
#define CHUNKS_REPL_TIMEOUT_MS 120000u
/* A planned copy whose source has been silent this many heartbeat
 * intervals (at most the dead timeout) is planned again from another. */
#define CHUNKS_SOURCE_SILENT_HB 4u
/* Chunks the walk looks at per tick: bounds the loop's time per tick. */
#define CHUNKS_WALK_PER_TICK 4096u
/* Under-replicated chunks remembered per pass (the most endangered kept). */
#define CHUNKS_NEEDY_MAX 65536u
/* A REMOVE planned for a chunk is not planned again sooner (it is in the
 * log meanwhile). */
#define CHUNKS_REMOVE_AGAIN_MS 5000u
/* Usage is written to the registry (NODE_UPDATE) at most this often. */
#define CHUNKS_USAGE_EVERY_MS 10000u

struct needy {
    uint64_t chunk;
    uint64_t version;
    uint32_t length;
    uint8_t live;
    uint8_t goal;
};

struct metad_chunks {
    struct hmap live;    /* node id -> struct chunk_live* */
    struct hmap repl;    /* command id -> struct repl* */
    struct hmap repl_by; /* chunk id -> struct repl* */
    struct hmap props;   /* log index -> struct own_prop* */
    uint64_t next_soft;
    struct prng rng;
    int leading; /* we were leader at the last tick */
    uint64_t leader_since_ms;
    uint64_t last_plan_ms;
    struct meta_walk walk;
    struct needy *needy; /* under-replicated chunks found in this pass */
    size_t n_needy, cap_needy;
    struct cairn_buf cmd;         /* a command being built */
    struct cairn_buf entry;       /* tagged entry being proposed */
    struct cairn_buf rewrite;     /* a rewritten CHUNK_ALLOC */
    struct cairn_buf out;         /* reply payloads */
    uint64_t replicated;          /* replicas added (for logs and tests) */
    uint64_t last_index;          /* index of the newest own proposal */
    struct hmap removing;         /* chunk -> monotonic ms of the last REMOVE planned for it */
    struct meta_outbox_rec *recs; /* CAIRN_CHUNK_CMDS_MAX: a heartbeat reply's records */
};

/* chunks.c */
struct chunk_live *chunks_live_get(struct metad *d, uint32_t node, int create);
/* Propose a SYSTEM command (built in cs->cmd); done (may be NULL) runs when
 * it applies or is lost. 0 or an error (nothing proposed). */
int chunks_propose(struct metad *d, own_done_fn done, struct rpc_req *req, uint32_t node,
                   uint64_t aux);
/* Build and propose one CHUNK_REPLICA command. */
int chunks_propose_replica(struct metad *d, uint8_t op, uint32_t node,
                           const struct meta_replica_item *items, uint32_t n, own_done_fn done,
                           uint64_t aux);
void chunks_repl_free(struct metad *d, struct repl *r);
/* The placement candidates: up nodes heard from recently, with free space. */
size_t chunks_candidates(struct metad *d, struct place_node *out, size_t max,
                         const struct meta_node_info *nodes, size_t n_nodes);
/* Does node have an outbox record for chunk? */
int chunks_outbox_has(struct metad *d, uint32_t node, uint64_t chunk);

/* liveness.c */
void chunks_plan(struct metad *d);

#endif
