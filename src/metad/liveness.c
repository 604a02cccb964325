/*
 * liveness.c: what the metadata leader does on its own, every tick
 * (docs/chunkd.md, "Leader side"): chunk servers silent past chunk_dead_ms
 * go down through the log; a walk over every file's chunks finds chunks
 * with fewer live replicas than their goal and plans REPLICATE commands,
 * most endangered first, at most replicate_max at once; once a chunk has
 * its goal on up servers, its copies on down or draining servers leave the
 * replica list (their deletion goes through the outbox).
 *
 * A replica is live when its server is up in the registry. The planner
 * never copies to a server that has not sent this leader a full report (so
 * the report's judgement and the copy cannot cross), nor to one with an
 * outbox record for the same chunk (a DELETE queued before the copy must not
 * land after it).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "common/time.h"
#include "metad/chunks_int.h"
#include "wire/wire.h"

static void down_done(struct metad *d, struct own_prop *p, int status, const uint8_t *reply,
                      size_t len)
{
    struct chunk_live *l = chunks_live_get(d, p->node, 0);
    if (l && l->down_index == p->index)
        l->down_index = 0;
}

/* Silent servers go down. A new leader first gives each a whole timeout. */
static void mark_down(struct metad *d, const struct meta_node_info *nodes, size_t n)
{
    struct metad_chunks *cs = d->chunks;
    uint64_t now = time_mono_ms();
    for (size_t i = 0; i < n; i++) {
        const struct meta_node_info *ni = &nodes[i];
        if (ni->state == META_NODE_DOWN)
            continue;
        struct chunk_live *l = chunks_live_get(d, ni->id, 1);
        if (!l)
            return;
        uint64_t seen = l->heard ? l->last_hb_ms : cs->leader_since_ms;
        if (l->down_index || now - seen <= d->cfg.chunk_dead_ms)
            continue;
        LOG_WARN(CHUNKS_SUBSYS,
                 "chunk server %" PRIu32 " silent for %" PRIu64 " ms: marking it down", ni->id,
                 now - seen);
        struct meta_hdr h;
        memset(&h, 0, sizeof h);
        buf_reset(&cs->cmd);
        if (meta_cmd_node_update(&cs->cmd, &h, ni->id, META_NODE_DOWN, ni->capacity, ni->used))
            continue;
        if (chunks_propose(d, down_done, NULL, ni->id, 0) == 0) {
            l->down_index = cs->last_index;
            l->reported = l->reporting = 0;
        }
    }
}

static const struct meta_node_info *node_in(const struct meta_node_info *nodes, size_t n,
                                            uint32_t id)
{
    size_t lo = 0, hi = n; /* nodes are in id order */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nodes[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && nodes[lo].id == id ? &nodes[lo] : NULL;
}

static int node_up(const struct meta_node_info *nodes, size_t n, uint32_t id)
{
    const struct meta_node_info *ni = node_in(nodes, n, id);
    return ni && ni->state == META_NODE_UP;
}

/* A planned copy's source is still usable: up or draining, and heard from
 * within a few heartbeat intervals (a source gone silent is probably dead:
 * the copy is planned again from another holder; the target gives up on its
 * pull by itself after CHUNKD_REPL_MS). */
static int source_ok(struct metad *d, const struct meta_node_info *nodes, size_t n, uint32_t id)
{
    const struct meta_node_info *ni = node_in(nodes, n, id);
    const struct chunk_live *l = hmap_get(&d->chunks->live, id);
    if (!ni || (ni->state != META_NODE_UP && ni->state != META_NODE_DRAINING) || !l)
        return 0;
    uint64_t silent_ms = CAIRN_MIN((uint64_t)d->cfg.chunk_dead_ms,
                                   (uint64_t)CHUNKS_SOURCE_SILENT_HB * d->cfg.chunk_heartbeat_ms);
    return time_mono_ms() - l->last_hb_ms <= silent_ms;
}

/* Planned copies that took too long, whose target left or whose source went
 * silent are forgotten (planned again by the walk). */
static void repl_expire(struct metad *d, const struct meta_node_info *nodes, size_t n)
{
    uint64_t now = time_mono_ms(), k;
    void *v;
    struct repl *drop[64];
    size_t nd = 0;
    for (size_t it = 0; nd < CAIRN_ARRAY_LEN(drop) && hmap_next(&d->chunks->repl, &it, &k, &v);) {
        struct repl *r = v;
        if (!r->adding && (now - r->started_ms > CHUNKS_REPL_TIMEOUT_MS ||
                           !node_up(nodes, n, r->target) || !source_ok(d, nodes, n, r->source)))
            drop[nd++] = r;
    }
    for (size_t i = 0; i < nd; i++) {
        LOG_INFO(CHUNKS_SUBSYS, "replication of chunk %" PRIu64 " to node %" PRIu32 " given up",
                 drop[i]->chunk, drop[i]->target);
        chunks_repl_free(d, drop[i]);
    }
}

static void needy_push(struct metad_chunks *cs, const struct meta_chunk_goal *g, uint8_t live)
{
    if (cs->n_needy == cs->cap_needy) {
        if (cs->cap_needy >= CHUNKS_NEEDY_MAX)
            return; /* the rest waits for a later pass */
        size_t cap = cs->cap_needy ? cs->cap_needy * 2 : 64;
        struct needy *v = realloc(cs->needy, cap * sizeof *v);
        if (!v)
            return;
        cs->needy = v;
        cs->cap_needy = cap;
    }
    cs->needy[cs->n_needy++] =
        (struct needy){g->chunk.id, g->chunk.version, g->chunk.length, live, g->goal};
}

/* One chunk of the walk: under its goal -> needy; at its goal with copies on
 * servers that are not up -> those copies leave the list. */
static void walk_one(struct metad *d, const struct meta_chunk_goal *g,
                     const struct meta_node_info *nodes, size_t n)
{
    const struct meta_chunk_info *ci = &g->chunk;
    if (ci->state != META_CHUNK_CLEAN || hmap_contains(&d->chunks->repl_by, ci->id))
        return;
    uint8_t goal = (uint8_t)CAIRN_MAX(1u, CAIRN_MIN((uint32_t)g->goal, CAIRN_GOAL_MAX));
    uint8_t live = 0;
    for (uint8_t i = 0; i < ci->n_replicas; i++)
        live += node_up(nodes, n, ci->replicas[i]);
    if (live < goal) {
        needy_push(d->chunks, g, live);
        return;
    }
    uint64_t now = time_mono_ms();
    uintptr_t last = (uintptr_t)hmap_get(&d->chunks->removing, ci->id);
    if (live == ci->n_replicas || (last && now - last < CHUNKS_REMOVE_AGAIN_MS))
        return;
    if (hmap_len(&d->chunks->removing) >= CHUNKS_NEEDY_MAX) {
        hmap_free(&d->chunks->removing);
        hmap_init(&d->chunks->removing);
    }
    hmap_put(&d->chunks->removing, ci->id, (void *)(uintptr_t)now);
    for (uint8_t i = 0; i < ci->n_replicas; i++) {
        if (node_up(nodes, n, ci->replicas[i]))
            continue;
        struct meta_replica_item it = {ci->id, ci->version, 0};
        LOG_INFO(CHUNKS_SUBSYS, "chunk %" PRIu64 " has its goal: copy on node %" PRIu32 " goes",
                 ci->id, ci->replicas[i]);
        chunks_propose_replica(d, META_REPLICA_REMOVE, ci->replicas[i], &it, 1, NULL, 0);
    }
}

static int cmp_needy(const void *a, const void *b)
{
    const struct needy *x = a, *y = b;
    if (x->live != y->live)
        return x->live < y->live ? -1 : 1;
    return (x->chunk > y->chunk) - (x->chunk < y->chunk);
}

/* A source for a copy: a holder that is up or draining and not silent,
 * the most recently heard first. A holder just killed stays `up` until its
 * dead timeout; the freshest heartbeat (in this leader's memory) steers
 * the copy to a live one when there is one. Ties go to the first listed. */
static int pick_source(struct metad *d, const struct meta_chunk_info *ci,
                       const struct meta_node_info *nodes, size_t n, uint32_t *out)
{
    uint64_t now = time_mono_ms(), best_hb = 0;
    int found = 0;
    for (uint8_t i = 0; i < ci->n_replicas; i++) {
        const struct meta_node_info *ni = node_in(nodes, n, ci->replicas[i]);
        const struct chunk_live *l = hmap_get(&d->chunks->live, ci->replicas[i]);
        if (!ni || (ni->state != META_NODE_UP && ni->state != META_NODE_DRAINING))
            continue;
        if (!l || !l->heard || now - l->last_hb_ms > d->cfg.chunk_dead_ms)
            continue;
        if (!found || l->last_hb_ms > best_hb) {
            *out = ci->replicas[i];
            best_hb = l->last_hb_ms;
            found = 1;
        }
    }
    return found ? 0 : CAIRN_UNAVAILABLE;
}

/* A target: placement among reported up servers that hold no copy and have
 * no command for the chunk queued, on a label no live holder has if any. */
static int pick_target(struct metad *d, const struct meta_chunk_info *ci,
                       const struct meta_node_info *nodes, size_t n, struct place_node *cand,
                       uint32_t *out)
{
    size_t nc = chunks_candidates(d, cand, n, nodes, n), k = 0;
    for (size_t i = 0; i < nc; i++) {
        const struct chunk_live *l = hmap_get(&d->chunks->live, cand[i].id);
        if (l && l->reported && !chunks_outbox_has(d, cand[i].id, ci->id))
            cand[k++] = cand[i];
    }
    struct place_node labels[CAIRN_GOAL_MAX];
    size_t nl = 0;
    for (uint8_t i = 0; i < ci->n_replicas; i++) {
        const struct meta_node_info *ni = node_in(nodes, n, ci->replicas[i]);
        if (ni && ni->state == META_NODE_UP)
            labels[nl++] = (struct place_node){ni->id, 0, ni->label, ni->label_len};
    }
    int rc =
        place_choose(cand, k, ci->replicas, ci->n_replicas, labels, nl, 1, 1, &d->chunks->rng, out);
    return rc < 0 ? rc : 0;
}

/* Plan copies for the chunks the pass found, fewest live replicas first. */
static void schedule(struct metad *d, const struct meta_node_info *nodes, size_t n)
{
    struct metad_chunks *cs = d->chunks;
    if (cs->n_needy == 0)
        return;
    qsort(cs->needy, cs->n_needy, sizeof *cs->needy, cmp_needy);
    struct place_node *cand = malloc((n ? n : 1) * sizeof *cand);
    for (size_t i = 0; cand && i < cs->n_needy; i++) {
        if (hmap_len(&cs->repl) >= d->cfg.replicate_max)
            break;
        struct meta_chunk_info ci;
        const struct needy *nd = &cs->needy[i];
        if (hmap_contains(&cs->repl_by, nd->chunk) || meta_chunk_get(d->meta, nd->chunk, &ci) ||
            ci.version != nd->version || ci.state != META_CHUNK_CLEAN)
            continue;
        uint32_t src, dst;
        if (pick_source(d, &ci, nodes, n, &src) || pick_target(d, &ci, nodes, n, cand, &dst))
            continue;
        struct repl *r = calloc(1, sizeof *r);
        if (!r)
            break;
        *r = (struct repl){WIRE_CHUNK_CMD_SOFT | ++cs->next_soft,
                           ci.id,
                           ci.version,
                           ci.length,
                           dst,
                           src,
                           time_mono_ms(),
                           0};
        if (hmap_put(&cs->repl, r->id, r) || hmap_put(&cs->repl_by, r->chunk, r)) {
            hmap_del(&cs->repl, r->id);
            free(r);
            break;
        }
        LOG_INFO(CHUNKS_SUBSYS,
                 "replicate chunk %" PRIu64 " version %" PRIu64 " from node %" PRIu32
                 " to node %" PRIu32 " (%u of %u live)",
                 ci.id, ci.version, src, dst, nd->live, nd->goal);
    }
    free(cand);
    cs->n_needy = 0;
}

void chunks_plan(struct metad *d)
{
    struct metad_chunks *cs = d->chunks;
    struct meta_node_info *nodes = malloc(CAIRN_NODES_MAX * sizeof *nodes);
    struct meta_chunk_goal *g = malloc(256 * sizeof *g);
    if (!nodes || !g)
        goto out;
    size_t n = meta_node_list(d->meta, 0, nodes, CAIRN_NODES_MAX);
    mark_down(d, nodes, n);
    repl_expire(d, nodes, n);
    for (size_t seen = 0; seen < CHUNKS_WALK_PER_TICK;) {
        size_t k = meta_chunk_walk(d->meta, &cs->walk, g, 256);
        for (size_t i = 0; i < k; i++)
            walk_one(d, &g[i], nodes, n);
        seen += k + 1;
        if (cs->walk.wrapped) {
            schedule(d, nodes, n);
            break;
        }
    }
out:
    free(nodes);
    free(g);
}

void metad_chunks_tick(struct metad *d)
{
    struct metad_chunks *cs = d->chunks;
    if (!cs || d->stopping)
        return;
    if (d->role != RAFT_LEADER) {
        if (cs->leading)
            metad_chunks_reset(d, CAIRN_NOTLEADER);
        return;
    }
    uint64_t now = time_mono_ms();
    if (!cs->leading) {
        cs->leading = 1;
        cs->leader_since_ms = now;
    }
    /* Plan a few times per heartbeat interval: each plan is bounded work. */
    if (now - cs->last_plan_ms < d->cfg.chunk_heartbeat_ms / 2)
        return;
    cs->last_plan_ms = now;
    chunks_plan(d);
}
