/*
 * chunks.h: the metadata leader's side of the chunk servers (docs/chunkd.md):
 * placement of new chunks (placement.c, pure), the CHUNK_REGISTER /
 * HEARTBEAT / REPORT / DRAIN handlers and the rewrite of CHUNK_ALLOC
 * (chunks.c), liveness, re-replication, draining and the repair of bad
 * copies (liveness.c). Private to src/metad.
 *
 * Everything the leader decides reaches the state through the Raft log
 * (NODE_REGISTER, NODE_UPDATE, OUTBOX_ACK, CHUNK_REPLICA): heartbeat times,
 * live usage, reported holdings and planned replications are the leader's
 * memory only (soft state), rebuilt by a new leader from heartbeats and
 * reports.
 *
 * Threads: the loop thread of the daemon, like the rest of metad. Memory:
 * struct metad_chunks is owned by the daemon (metad_chunks_new/free).
 * Errors: negative cairn_err codes; CAIRN_ENOSPC from placement when no
 * chunk server can take a chunk.
 */
#ifndef CAIRN_METAD_CHUNKS_H
#define CAIRN_METAD_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/prng.h"

/* --- placement (placement.c): pure ------------------------------------------ */

/* A server placement may choose. label empty: a rack of its own. */
struct place_node {
    uint32_t id;
    uint64_t free_bytes;
    const uint8_t *label;
    uint16_t label_len;
};

/* A server needs this much free space to be given a new chunk: one whole
 * chunk, so a write that fills it cannot run out halfway. */
#define PLACE_FREE_MIN ((uint64_t)CAIRN_CHUNK_SIZE)

/*
 * Choose up to `want` distinct servers from cand[0..n) (ids distinct), none
 * in avoid[0..n_avoid) (current holders), preferring servers whose label is
 * neither in avoid_labels (labels of live holders) nor already chosen, and
 * weighting each choice by free space. Servers with less than PLACE_FREE_MIN
 * free are never chosen. The result (out[0..return)) depends only on the
 * inputs and the generator state: candidates are taken in id order.
 * Returns how many were chosen (<= want), or CAIRN_ENOSPC when fewer than
 * `min` could be.
 */
int place_choose(const struct place_node *cand, size_t n, const uint32_t *avoid, size_t n_avoid,
                 const struct place_node *avoid_labels, size_t n_avoid_labels, uint32_t want,
                 uint32_t min, struct prng *rng, uint32_t *out);

/* --- the daemon's hooks (chunks.c, liveness.c) --------------------------------- */

struct metad;
struct metad_chunks;

/* Defaults of the metad config keys chunk_dead_ms, chunk_heartbeat_ms and
 * replicate_max (docs/chunkd.md). */
#define METAD_CHUNK_DEAD_MS_DEFAULT 3000u
#define METAD_CHUNK_HEARTBEAT_MS_DEFAULT 500u
#define METAD_REPLICATE_MAX_DEFAULT 16u

/* Allocate the leader-side state and register the message handlers. */
int metad_chunks_attach(struct metad *d);
void metad_chunks_free(struct metad *d);
/* The Raft tick (every tick_ms): liveness and re-replication when leader. */
void metad_chunks_tick(struct metad *d);
/* An entry was applied with this reply: completes the leader's own
 * proposals. */
void metad_chunks_applied(struct metad *d, uint64_t index, uint64_t term,
                          const struct cairn_buf *reply);
/* Leadership gained or lost (or shutdown): soft state is dropped, the
 * leader's own proposals are forgotten, waiting chunk-server requests are
 * answered with code. */
void metad_chunks_reset(struct metad *d, int code);
/*
 * Before a META_CMD is proposed: a CHUNK_ALLOC (plain, FENCED, or inside
 * COND) with 0 replicas gets the replica set placement chooses. Returns 0
 * with *cmd / *len pointing at the bytes to propose (the input, or a
 * rewritten copy the chunks state owns until the next call), or an error for
 * the client (CAIRN_ENOSPC, CAIRN_ENOENT for an unknown file).
 */
int metad_chunks_rewrite(struct metad *d, const uint8_t **cmd, size_t *len);

#endif
