/*
 * chunks.c: the metadata leader's service to chunk servers (docs/chunkd.md):
 * CHUNK_REGISTER, CHUNK_HEARTBEAT (acks in, outbox commands out), CHUNK_REPORT
 * (stale copies found), CHUNK_DRAIN, the leader's own proposals, and the
 * rewrite of a CHUNK_ALLOC without replicas into one with placement's
 * choice. Everything that changes the state is proposed through the log;
 * what is kept here is the current leader's memory (chunks.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "common/time.h"
#include "metad/chunks_int.h"
#include "metad/locks.h"
#include "wire/msg_chunk.h"

static void reply_err(struct metad *d, struct rpc_req *req, int code)
{
    rpc_reply_error(req, code, code == CAIRN_NOTLEADER ? metad_leader_addr(d) : NULL);
}

/* Leader, not stopping: else the request is answered here. */
static int gate(struct metad *d, struct rpc_req *req)
{
    int code = d->stopping ? CAIRN_SHUTDOWN : d->role != RAFT_LEADER ? CAIRN_NOTLEADER : 0;
    if (code)
        reply_err(d, req, code);
    return code;
}

struct chunk_live *chunks_live_get(struct metad *d, uint32_t node, int create)
{
    struct metad_chunks *cs = d->chunks;
    struct chunk_live *l = hmap_get(&cs->live, node);
    if (l || !create)
        return l;
    l = calloc(1, sizeof *l);
    if (!l || hmap_put(&cs->live, node, l)) {
        free(l);
        return NULL;
    }
    l->id = node;
    hmap_init(&l->held);
    hmap_init(&l->acked);
    return l;
}

static void live_free(struct chunk_live *l)
{
    hmap_free(&l->held);
    hmap_free(&l->acked);
    free(l);
}

void chunks_repl_free(struct metad *d, struct repl *r)
{
    struct metad_chunks *cs = d->chunks;
    hmap_del(&cs->repl, r->id);
    if (hmap_get(&cs->repl_by, r->chunk) == r)
        hmap_del(&cs->repl_by, r->chunk);
    free(r);
}

/* --- own proposals ------------------------------------------------------------ */

int chunks_propose(struct metad *d, own_done_fn done, struct rpc_req *req, uint32_t node,
                   uint64_t aux)
{
    struct metad_chunks *cs = d->chunks;
    if (d->stopping || d->role != RAFT_LEADER)
        return CAIRN_NOTLEADER;
    if (hmap_len(&cs->props) >= CHUNKS_PROPS_MAX)
        return CAIRN_LIMIT;
    struct own_prop *p = calloc(1, sizeof *p);
    if (!p)
        return CAIRN_ENOMEM;
    buf_reset(&cs->entry);
    int rc = metad_entry_cmd(&cs->entry, cs->cmd.data, cs->cmd.len);
    uint64_t index = 0;
    if (rc == 0) {
        wire_store_u64(cs->entry.data + 1 + 2, metad_now_ns(d)); /* as serve.c */
        rc = raft_propose(d->raft, cs->entry.data, cs->entry.len, &index);
    }
    if (rc) {
        free(p);
        return rc == CAIRN_EBUSY ? CAIRN_NOTLEADER : rc;
    }
    cs->last_index = index;
    d->counters.proposals++;
    *p = (struct own_prop){index, raft_term_at(d->raft, index), done, req, node, aux};
    struct own_prop *old = hmap_del(&cs->props, index);
    if (old) { /* another leader's entry took that index: ours is lost */
        if (old->done)
            old->done(d, old, CAIRN_NOTLEADER, NULL, 0);
        free(old);
    }
    if (hmap_put(&cs->props, index, p)) {
        free(p); /* proposed; only its outcome goes unseen */
        return 0;
    }
    return 0;
}

int chunks_propose_replica(struct metad *d, uint8_t op, uint32_t node,
                           const struct meta_replica_item *items, uint32_t n, own_done_fn done,
                           uint64_t aux)
{
    struct metad_chunks *cs = d->chunks;
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    buf_reset(&cs->cmd);
    int rc = meta_cmd_chunk_replica(&cs->cmd, &h, op, node, items, n);
    return rc ? rc : chunks_propose(d, done, NULL, node, aux);
}

void metad_chunks_applied(struct metad *d, uint64_t index, uint64_t term,
                          const struct cairn_buf *reply)
{
    struct metad_chunks *cs = d->chunks;
    if (!cs)
        return;
    struct own_prop *p = hmap_del(&cs->props, index);
    if (!p)
        return;
    int status = p->term == term ? meta_reply_status(reply->data, reply->len) : CAIRN_NOTLEADER;
    if (p->done)
        p->done(d, p, status, p->term == term ? reply->data : NULL, reply->len);
    free(p);
}

void metad_chunks_reset(struct metad *d, int code)
{
    struct metad_chunks *cs = d->chunks;
    if (!cs)
        return;
    uint64_t k;
    void *v;
    struct hmap props = cs->props;
    hmap_init(&cs->props);
    for (size_t it = 0; hmap_next(&props, &it, &k, &v);) {
        struct own_prop *p = v;
        if (p->done)
            p->done(d, p, code, NULL, 0);
        free(p);
    }
    hmap_free(&props);
    for (size_t it = 0; hmap_next(&cs->live, &it, &k, &v);)
        live_free(v);
    for (size_t it = 0; hmap_next(&cs->repl, &it, &k, &v);)
        free(v);
    hmap_free(&cs->live);
    hmap_free(&cs->repl);
    hmap_free(&cs->repl_by);
    hmap_free(&cs->removing);
    hmap_init(&cs->removing);
    hmap_init(&cs->live);
    hmap_init(&cs->repl);
    hmap_init(&cs->repl_by);
    cs->n_needy = 0;
    memset(&cs->walk, 0, sizeof cs->walk);
    cs->leading = 0;
}

/* --- CHUNK_REGISTER ------------------------------------------------------------- */

static void register_reply(struct metad *d, struct rpc_req *req, uint32_t node)
{
    struct metad_chunks *cs = d->chunks;
    struct chunk_live *l = chunks_live_get(d, node, 1);
    if (l) {
        l->last_hb_ms = time_mono_ms();
        l->heard = 1;
        l->reported = l->reporting = 0;
        l->fresh = 1;
        l->down_index = 0;
    }
    struct wire_chunk_register_reply r = {node, d->cfg.chunk_heartbeat_ms, d->cfg.chunk_dead_ms};
    buf_reset(&cs->out);
    int rc = wire_chunk_register_reply_encode(&cs->out, &r);
    if (rc)
        rpc_reply_error(req, rc, NULL);
    else
        rpc_reply(req, WIRE_CHUNK_REGISTER_REPLY, cs->out.data, cs->out.len);
}

static void register_done(struct metad *d, struct own_prop *p, int status, const uint8_t *reply,
                          size_t len)
{
    if (status == 0 && len >= 8) {
        uint32_t node = wire_load_u32(reply + 4);
        LOG_INFO(CHUNKS_SUBSYS, "chunk server %" PRIu32 " registered", node);
        register_reply(d, p->req, node);
        return;
    }
    reply_err(d, p->req, status ? status : CAIRN_BADMSG);
}

/* A C string of at most cap - 1 bytes from wire bytes. */
static void cstr(char *dst, size_t cap, struct wire_bytes b)
{
    size_t n = b.len < cap - 1 ? b.len : cap - 1;
    if (n)
        memcpy(dst, b.p, n);
    dst[n] = 0;
}

static void on_register(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                        void *arg)
{
    struct metad *d = arg;
    if (gate(d, req))
        return;
    struct wire_chunk_register m;
    int rc = wire_chunk_register_decode(msg->payload, msg->len, &m);
    if (rc) {
        rpc_reply_error(req, rc, "malformed CHUNK_REGISTER");
        return;
    }
    char addr[CAIRN_NODE_ADDR_MAX + 1], label[CAIRN_NODE_LABEL_MAX + 1];
    cstr(addr, sizeof addr, m.addr);
    cstr(label, sizeof label, m.label);
    struct meta_node_info ni;
    if (m.node && meta_node_get(d->meta, m.node, &ni) == 0 && ni.state == META_NODE_DRAINING &&
        ni.addr_len == m.addr.len && memcmp(ni.addr, m.addr.p, m.addr.len) == 0) {
        register_reply(d, req, m.node); /* registering would make it up: it keeps draining */
        return;
    }
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    buf_reset(&d->chunks->cmd);
    rc = meta_cmd_node_register(&d->chunks->cmd, &h, m.node, addr, label, m.capacity, m.used);
    if (rc == 0)
        rc = chunks_propose(d, register_done, req, m.node, 0);
    if (rc)
        reply_err(d, req, rc);
}

/* --- CHUNK_HEARTBEAT -------------------------------------------------------------- */

/* The outbox record `id` of node (failed acks only: a scan). */
static int outbox_find(struct metad *d, uint32_t node, uint64_t id, struct meta_outbox_rec *out)
{
    return id && meta_outbox_list(d->meta, node, id - 1, out, 1) == 1 && out->id == id;
}

int chunks_outbox_has(struct metad *d, uint32_t node, uint64_t chunk)
{
    struct meta_outbox_rec recs[256];
    uint64_t after = 0;
    size_t n;
    while ((n = meta_outbox_list(d->meta, node, after, recs, CAIRN_ARRAY_LEN(recs))) > 0) {
        for (size_t i = 0; i < n; i++)
            if (recs[i].chunk == chunk)
                return 1;
        after = recs[n - 1].id;
    }
    return 0;
}

static void log_items(const char *what, uint32_t node, const uint8_t *reply, size_t len)
{
    if (!reply || len < 8)
        return;
    uint32_t n = wire_load_u32(reply + 4);
    for (uint32_t i = 0; i < n && 8 + 4 * (size_t)i + 4 <= len; i++) {
        int st = (int32_t)wire_load_u32(reply + 8 + 4 * (size_t)i);
        if (st)
            LOG_INFO(CHUNKS_SUBSYS, "%s on node %" PRIu32 ", item %" PRIu32 ": %s", what, node, i,
                     cairn_err_name(st));
    }
}

static void remove_done(struct metad *d, struct own_prop *p, int status, const uint8_t *reply,
                        size_t len)
{
    log_items("replica removal", p->node, reply, len);
}

static void add_done(struct metad *d, struct own_prop *p, int status, const uint8_t *reply,
                     size_t len)
{
    struct metad_chunks *cs = d->chunks;
    struct repl *r = hmap_get(&cs->repl, p->aux);
    int item = status == 0 && reply && len >= 12 ? (int32_t)wire_load_u32(reply + 8) : status;
    if (r && item == 0) {
        cs->replicated++;
        LOG_INFO(CHUNKS_SUBSYS,
                 "replica of chunk %" PRIu64 " version %" PRIu64 " added on node %" PRIu32,
                 r->chunk, r->version, r->target);
    } else if (r) {
        LOG_INFO(CHUNKS_SUBSYS, "replica of chunk %" PRIu64 " on node %" PRIu32 " not added: %s",
                 r->chunk, r->target, cairn_err_name(item));
        /* the copy made is now an orphan (a write moved the chunk on, ...):
         * the state judges whether the target may delete it */
        struct meta_replica_item it = {r->chunk, r->version, 0};
        if (item != CAIRN_EEXIST && status != CAIRN_NOTLEADER && status != CAIRN_SHUTDOWN)
            chunks_propose_replica(d, META_REPLICA_STALE, r->target, &it, 1, NULL, 0);
    }
    if (r)
        chunks_repl_free(d, r);
}

/* The OUTBOX_ACK applied (or was lost): its ids are sent again if still in
 * the outbox. */
static void ack_done(struct metad *d, struct own_prop *p, int status, const uint8_t *reply,
                     size_t len)
{
    struct chunk_live *l = chunks_live_get(d, p->node, 0);
    if (!l)
        return;
    uint64_t drop[256], k;
    void *v;
    size_t n;
    do {
        n = 0;
        for (size_t it = 0; n < CAIRN_ARRAY_LEN(drop) && hmap_next(&l->acked, &it, &k, &v);)
            if ((uintptr_t)v == p->index)
                drop[n++] = k;
        for (size_t i = 0; i < n; i++)
            hmap_del(&l->acked, drop[i]);
    } while (n == CAIRN_ARRAY_LEN(drop));
}

/* A soft (planned) command acked by its target. */
static void soft_ack(struct metad *d, uint32_t node, struct wire_chunk_ack a)
{
    struct repl *r = hmap_get(&d->chunks->repl, a.id);
    if (!r || r->target != node || r->adding)
        return;
    if (a.status) {
        LOG_WARN(CHUNKS_SUBSYS, "node %" PRIu32 " failed to replicate chunk %" PRIu64 ": %s", node,
                 r->chunk, cairn_err_name(a.status));
        chunks_repl_free(d, r);
        return;
    }
    struct meta_replica_item it = {r->chunk, r->version, 0};
    if (chunks_propose_replica(d, META_REPLICA_ADD, node, &it, 1, add_done, r->id) == 0)
        r->adding = 1;
}

/* Acks: outbox records are acknowledged through the log; a COMMIT that
 * failed (the staged copy is gone) takes the node out of the replica list. */
static void handle_acks(struct metad *d, const struct wire_chunk_heartbeat *hb)
{
    struct metad_chunks *cs = d->chunks;
    uint64_t ids[CAIRN_OUTBOX_ACK_MAX];
    struct meta_replica_item lost[64];
    uint32_t n = 0, n_lost = 0;
    for (uint32_t i = 0; i < hb->n_acks; i++) {
        struct wire_chunk_ack a = wire_chunk_hb_ack(hb, i);
        if (a.id & WIRE_CHUNK_CMD_SOFT) {
            soft_ack(d, hb->node, a);
            continue;
        }
        struct meta_outbox_rec rec;
        if (a.status && outbox_find(d, hb->node, a.id, &rec)) {
            LOG_WARN(CHUNKS_SUBSYS,
                     "node %" PRIu32 ": command %" PRIu64 " (kind %u chunk %" PRIu64
                     " version %" PRIu64 ") failed: %s",
                     hb->node, a.id, rec.kind, rec.chunk, rec.version, cairn_err_name(a.status));
            if (rec.kind == META_OUT_COMMIT && n_lost < CAIRN_ARRAY_LEN(lost))
                lost[n_lost++] = (struct meta_replica_item){rec.chunk, rec.version, 0};
        }
        ids[n++] = a.id;
    }
    if (n_lost)
        chunks_propose_replica(d, META_REPLICA_REMOVE, hb->node, lost, n_lost, remove_done, 0);
    if (n) {
        struct meta_hdr h;
        memset(&h, 0, sizeof h);
        buf_reset(&cs->cmd);
        struct chunk_live *l = chunks_live_get(d, hb->node, 0);
        if (meta_cmd_outbox_ack(&cs->cmd, &h, ids, n) == 0 &&
            chunks_propose(d, ack_done, NULL, hb->node, 0) == 0 && l)
            for (uint32_t i = 0; i < n; i++)
                hmap_put(&l->acked, ids[i], (void *)(uintptr_t)cs->last_index);
    }
}

/* Bad versions: out of the replica list (the last copy stays), then the
 * planner copies a good one. */
static void handle_bad(struct metad *d, const struct wire_chunk_heartbeat *hb)
{
    if (hb->n_bad == 0)
        return;
    struct meta_replica_item *items = malloc(hb->n_bad * sizeof *items);
    if (!items)
        return;
    for (uint32_t i = 0; i < hb->n_bad; i++) {
        struct wire_chunk_bad b = wire_chunk_hb_bad(hb, i);
        LOG_WARN(CHUNKS_SUBSYS,
                 "node %" PRIu32 " reports chunk %" PRIu64 " version %" PRIu64 " bad: %s", hb->node,
                 b.chunk, b.version, cairn_err_name(b.err));
        items[i] = (struct meta_replica_item){b.chunk, b.version, 0};
    }
    chunks_propose_replica(d, META_REPLICA_REMOVE, hb->node, items, hb->n_bad, remove_done, 0);
    free(items);
}

/* Usage reaches the registry (statfs, placement after a leader change) now
 * and then, not on every heartbeat. */
static void maybe_usage(struct metad *d, struct chunk_live *l, const struct meta_node_info *ni)
{
    uint64_t now = time_mono_ms();
    uint64_t slack = CAIRN_MAX(ni->capacity / 64, (uint64_t)CAIRN_CHUNK_SIZE);
    int moved =
        l->capacity != ni->capacity || l->used + slack < ni->used || ni->used + slack < l->used;
    if (!moved || l->down_index || now - l->usage_sent_ms < CHUNKS_USAGE_EVERY_MS)
        return;
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    buf_reset(&d->chunks->cmd);
    if (meta_cmd_node_update(&d->chunks->cmd, &h, l->id, ni->state, l->capacity, l->used) == 0 &&
        chunks_propose(d, NULL, NULL, l->id, 0) == 0)
        l->usage_sent_ms = now;
}

static uint8_t wire_kind(uint8_t outbox_kind)
{
    _Static_assert((int)META_OUT_COMMIT == (int)WIRE_CHUNK_CMD_COMMIT &&
                       (int)META_OUT_DROP == (int)WIRE_CHUNK_CMD_DROP &&
                       (int)META_OUT_DELETE == (int)WIRE_CHUNK_CMD_DELETE &&
                       (int)META_OUT_TRUNCATE == (int)WIRE_CHUNK_CMD_TRUNCATE,
                   "outbox kinds travel unchanged");
    return outbox_kind;
}

/* The reply: this node's outbox records, then its planned replications. */
static int heartbeat_reply(struct metad *d, const struct chunk_live *l, struct cairn_buf *out)
{
    struct metad_chunks *cs = d->chunks;
    struct meta_outbox_rec *recs = cs->recs;
    size_t n = meta_outbox_list(d->meta, l->id, 0, recs, CAIRN_CHUNK_CMDS_MAX);
    struct wire_chunk_hb_reply_enc b;
    wire_chunk_hb_reply_begin(&b, out, l->reported || l->reporting ? 0 : WIRE_CHUNK_HB_REPORT);
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        if (hmap_contains(&l->acked, recs[i].id))
            continue; /* its ack is in the log: not resent meanwhile */
        struct wire_chunk_cmd c = {recs[i].id,      wire_kind(recs[i].kind), recs[i].chunk,
                                   recs[i].version, recs[i].length,          {NULL, 0}};
        wire_chunk_hb_reply_add(&b, &c);
        sent++;
    }
    if (n < CAIRN_CHUNK_CMDS_MAX)
        n = sent; /* room for planned copies: every record of the node is in the reply */
    uint64_t k;
    void *v;
    for (size_t it = 0; n < CAIRN_CHUNK_CMDS_MAX && hmap_next(&cs->repl, &it, &k, &v);) {
        const struct repl *r = v;
        struct meta_node_info src;
        if (r->target != l->id || r->adding || meta_node_get(d->meta, r->source, &src))
            continue;
        struct wire_chunk_cmd c = {r->id,     WIRE_CHUNK_CMD_REPLICATE, r->chunk, r->version,
                                   r->length, {src.addr, src.addr_len}};
        wire_chunk_hb_reply_add(&b, &c);
        n++;
    }
    return wire_chunk_hb_reply_end(&b);
}

static void on_heartbeat(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                         void *arg)
{
    struct metad *d = arg;
    if (gate(d, req))
        return;
    struct wire_chunk_heartbeat hb;
    int rc = wire_chunk_heartbeat_decode(msg->payload, msg->len, &hb);
    if (rc) {
        rpc_reply_error(req, rc, "malformed CHUNK_HEARTBEAT");
        return;
    }
    struct meta_node_info ni;
    if (meta_node_get(d->meta, hb.node, &ni) ||
        (ni.state != META_NODE_UP && ni.state != META_NODE_DRAINING)) {
        rpc_reply_error(req, CAIRN_ENOENT, "not registered as up: register again");
        return;
    }
    struct chunk_live *l = chunks_live_get(d, hb.node, 1);
    if (!l) {
        rpc_reply_error(req, CAIRN_ENOMEM, NULL);
        return;
    }
    l->last_hb_ms = time_mono_ms();
    l->heard = 1;
    l->capacity = hb.capacity;
    l->used = hb.used;
    handle_acks(d, &hb);
    handle_bad(d, &hb);
    maybe_usage(d, l, &ni);
    buf_reset(&d->chunks->out);
    rc = heartbeat_reply(d, l, &d->chunks->out);
    if (rc)
        rpc_reply_error(req, rc, "heartbeat reply");
    else
        rpc_reply(req, WIRE_CHUNK_HEARTBEAT_REPLY, d->chunks->out.data, d->chunks->out.len);
}

/* --- CHUNK_REPORT --------------------------------------------------------------------- */

static int listed(const struct meta_chunk_info *ci, uint32_t node)
{
    for (uint8_t i = 0; i < ci->n_replicas; i++)
        if (ci->replicas[i] == node)
            return 1;
    return 0;
}

/* Is a reported version needed (or not ours to judge now)? */
static int report_keep(struct metad *d, uint32_t node, const struct wire_chunk_entry *en,
                       const struct hmap *pend)
{
    if (hmap_contains(pend, en->chunk))
        return 1; /* a command for it is on its way: judge it after */
    const struct repl *r = hmap_get(&d->chunks->repl_by, en->chunk);
    if (r && r->target == node)
        return 1;
    struct meta_chunk_info ci;
    if (meta_chunk_get(d->meta, en->chunk, &ci))
        return 0; /* unknown: deleted, or a pending new chunk (the state decides) */
    /* While a write is pending, any newer staged version may be its own:
     * rewrite versions are not consecutive (meta/data.c). */
    if (en->staged)
        return ci.state == META_CHUNK_WRITING && en->version > ci.version;
    if (en->version > ci.version)
        return 1;
    return en->version == ci.version && listed(&ci, node);
}

/* Chunks with an outbox record for node (they are judged later). */
static void pending_set(struct metad *d, uint32_t node, struct hmap *out)
{
    struct meta_outbox_rec recs[256];
    uint64_t after = 0;
    size_t n;
    while ((n = meta_outbox_list(d->meta, node, after, recs, CAIRN_ARRAY_LEN(recs))) > 0) {
        for (size_t i = 0; i < n; i++)
            hmap_put(out, recs[i].chunk, (void *)1);
        after = recs[n - 1].id;
    }
}

/* Judge one piece: stale versions go to the log as CHUNK_REPLICA STALE. */
static uint32_t report_piece(struct metad *d, struct chunk_live *l,
                             const struct wire_chunk_report *m)
{
    struct hmap pend;
    hmap_init(&pend);
    pending_set(d, l->id, &pend);
    struct meta_replica_item *items = malloc((m->n ? m->n : 1) * sizeof *items);
    uint32_t n = 0;
    for (uint32_t i = 0; items && i < m->n; i++) {
        struct wire_chunk_entry en = wire_chunk_report_entry(m, i);
        uintptr_t had = (uintptr_t)hmap_get(&l->held, en.chunk);
        if (en.version > had)
            hmap_put(&l->held, en.chunk, (void *)(uintptr_t)en.version);
        if (!report_keep(d, l->id, &en, &pend))
            items[n++] = (struct meta_replica_item){en.chunk, en.version, en.staged};
    }
    for (uint32_t i = 0; i < n; i += CAIRN_REPLICA_ITEMS_MAX) {
        uint32_t k = CAIRN_MIN(n - i, CAIRN_REPLICA_ITEMS_MAX);
        chunks_propose_replica(d, META_REPLICA_STALE, l->id, items + i, k, remove_done, 0);
    }
    free(items);
    hmap_free(&pend);
    return n;
}

/* After the report that followed a registration: copies the replica lists
 * name on this node but the node does not hold are taken out of the lists
 * (a lost disk, a deleted file). Only then: a report a new leader asked for
 * may race with writes already staged since the node's list was taken. */
static void report_missing(struct metad *d, struct chunk_live *l)
{
    struct meta_walk w;
    memset(&w, 0, sizeof w);
    struct meta_chunk_goal g[256];
    struct meta_replica_item items[256];
    do {
        size_t n = meta_chunk_walk(d->meta, &w, g, CAIRN_ARRAY_LEN(g));
        uint32_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const struct meta_chunk_info *ci = &g[i].chunk;
            uintptr_t held = (uintptr_t)hmap_get(&l->held, ci->id);
            if (ci->state == META_CHUNK_CLEAN && listed(ci, l->id) && held < ci->version)
                items[k++] = (struct meta_replica_item){ci->id, ci->version, 0};
        }
        if (k) {
            LOG_WARN(CHUNKS_SUBSYS,
                     "node %" PRIu32 " lacks %" PRIu32 " chunk copies it should hold", l->id, k);
            chunks_propose_replica(d, META_REPLICA_REMOVE, l->id, items, k, remove_done, 0);
        }
    } while (!w.wrapped);
}

static void on_report(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                      void *arg)
{
    struct metad *d = arg;
    if (gate(d, req))
        return;
    struct wire_chunk_report m;
    int rc = wire_chunk_report_decode(msg->payload, msg->len, &m);
    if (rc) {
        rpc_reply_error(req, rc, "malformed CHUNK_REPORT");
        return;
    }
    struct meta_node_info ni;
    struct chunk_live *l =
        meta_node_get(d->meta, m.node, &ni) ? NULL : chunks_live_get(d, m.node, 1);
    if (!l) {
        rpc_reply_error(req, CAIRN_ENOENT, "unknown node: register first");
        return;
    }
    if (m.flags & WIRE_CHUNK_REPORT_FIRST) {
        hmap_free(&l->held);
        hmap_init(&l->held);
        l->reporting = 1;
        l->reported = 0;
    } else if (!l->reporting) {
        rpc_reply_error(req, CAIRN_EAGAIN, "report piece without its start: send it again");
        return;
    }
    uint32_t stale = report_piece(d, l, &m);
    if (m.flags & WIRE_CHUNK_REPORT_LAST) {
        if (l->fresh)
            report_missing(d, l);
        l->reporting = l->fresh = 0;
        l->reported = 1;
        hmap_free(&l->held);
        hmap_init(&l->held);
        LOG_INFO(CHUNKS_SUBSYS, "node %" PRIu32 " reported its chunks", m.node);
    }
    buf_reset(&d->chunks->out);
    rc = wire_chunk_u32_encode(&d->chunks->out, stale);
    if (rc == 0)
        rpc_reply(req, WIRE_CHUNK_REPORT_REPLY, d->chunks->out.data, d->chunks->out.len);
    else
        rpc_reply_error(req, rc, NULL);
}

/* --- CHUNK_DRAIN ------------------------------------------------------------------------ */

static void drain_done(struct metad *d, struct own_prop *p, int status, const uint8_t *reply,
                       size_t len)
{
    if (status)
        reply_err(d, p->req, status);
    else
        rpc_reply(p->req, WIRE_CHUNK_DRAIN_REPLY, NULL, 0);
}

static void on_drain(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                     void *arg)
{
    struct metad *d = arg;
    if (gate(d, req))
        return;
    struct wire_chunk_drain m;
    struct meta_node_info ni;
    int rc = wire_chunk_drain_decode(msg->payload, msg->len, &m);
    if (rc == 0 && meta_node_get(d->meta, m.node, &ni))
        rc = CAIRN_ENOENT;
    if (rc == 0) {
        struct meta_hdr h;
        memset(&h, 0, sizeof h);
        buf_reset(&d->chunks->cmd);
        rc = meta_cmd_node_update(&d->chunks->cmd, &h, m.node,
                                  m.on ? META_NODE_DRAINING : META_NODE_UP, ni.capacity, ni.used);
    }
    if (rc == 0)
        rc = chunks_propose(d, drain_done, req, m.node, 0);
    if (rc)
        reply_err(d, req, rc);
    else
        LOG_INFO(CHUNKS_SUBSYS, "node %" PRIu32 ": drain %s", m.node, m.on ? "on" : "off");
}

/* --- placement of new writes ------------------------------------------------------------- */

size_t chunks_candidates(struct metad *d, struct place_node *out, size_t max,
                         const struct meta_node_info *nodes, size_t n_nodes)
{
    struct metad_chunks *cs = d->chunks;
    uint64_t now = time_mono_ms();
    int grace = now - cs->leader_since_ms < d->cfg.chunk_dead_ms;
    size_t n = 0;
    for (size_t i = 0; i < n_nodes && n < max; i++) {
        const struct meta_node_info *ni = &nodes[i];
        const struct chunk_live *l = hmap_get(&cs->live, ni->id);
        if (ni->state != META_NODE_UP || (l && l->fresh))
            continue;
        int heard = l && l->heard;
        if (heard ? now - l->last_hb_ms > d->cfg.chunk_dead_ms : !grace)
            continue;
        uint64_t cap = heard ? l->capacity : ni->capacity, used = heard ? l->used : ni->used;
        out[n++] =
            (struct place_node){ni->id, cap > used ? cap - used : 0, ni->label, ni->label_len};
    }
    return n;
}

/* The replica set of a write of (ino, index): the current holders that are
 * up (they have the base version), else a new placement. */
static int place_alloc(struct metad *d, uint64_t ino, uint32_t index, uint32_t *out)
{
    struct meta_attr a;
    if (meta_getattr(d->meta, ino, &a))
        return CAIRN_ENOENT;
    if (!S_ISREG(a.mode))
        return S_ISDIR(a.mode) ? CAIRN_EISDIR : CAIRN_EINVAL;
    uint32_t goal = CAIRN_MAX(1u, CAIRN_MIN((uint32_t)a.goal, CAIRN_GOAL_MAX));
    struct meta_chunk_info ci;
    int n = 0;
    if (meta_file_chunk(d->meta, ino, index, &ci) == 0 && ci.id) {
        for (uint8_t i = 0; i < ci.n_replicas; i++) {
            struct meta_node_info ni;
            if (meta_node_get(d->meta, ci.replicas[i], &ni) == 0 && ni.state == META_NODE_UP)
                out[n++] = ci.replicas[i];
        }
        if (n)
            return n;
    }
    struct meta_node_info *nodes = malloc(CAIRN_NODES_MAX * sizeof *nodes);
    struct place_node *cand = malloc(CAIRN_NODES_MAX * sizeof *cand);
    int rc = CAIRN_ENOMEM;
    if (nodes && cand) {
        size_t nn = meta_node_list(d->meta, 0, nodes, CAIRN_NODES_MAX);
        size_t nc = chunks_candidates(d, cand, CAIRN_NODES_MAX, nodes, nn);
        rc = place_choose(cand, nc, NULL, 0, NULL, 0, goal, 1, &d->chunks->rng, out);
    }
    free(nodes);
    free(cand);
    return rc;
}

int metad_chunks_rewrite(struct metad *d, const uint8_t **cmd, size_t *len)
{
    const uint8_t *c = *cmd;
    size_t hs = meta_cmd_hdr_size(c, *len), off = hs;
    if (hs == 0)
        return 0; /* the state machine answers malformed commands */
    uint16_t type = wire_load_u16(c);
    if (type == META_COND && *len >= off + 18) {
        type = wire_load_u16(c + off + 16);
        off += 18;
    }
    if (type == META_CHUNK_ALLOC_FENCED)
        off += 8;
    else if (type != META_CHUNK_ALLOC)
        return 0;
    /* body: u64 ino, u32 index, u64 deadline_ns, u8 n (= 0: ours to fill) */
    if (*len != off + 21 || c[off + 20] != 0)
        return 0;
    uint32_t reps[CAIRN_GOAL_MAX];
    int n = place_alloc(d, wire_load_u64(c + off), wire_load_u32(c + off + 8), reps);
    if (n < 0)
        return n;
    struct cairn_buf *b = &d->chunks->rewrite;
    buf_reset(b);
    struct wire_enc e;
    wire_enc_init(&e, b);
    wire_put_raw(&e, c, off + 20);
    wire_put_u8(&e, (uint8_t)n);
    for (int i = 0; i < n; i++)
        wire_put_u32(&e, reps[i]);
    if (e.err)
        return e.err;
    *cmd = b->data;
    *len = b->len;
    return 0;
}

/* --- life cycle ----------------------------------------------------------------------------- */

int metad_chunks_attach(struct metad *d)
{
    struct metad_chunks *cs = calloc(1, sizeof *cs);
    if (!cs)
        return CAIRN_ENOMEM;
    hmap_init(&cs->live);
    hmap_init(&cs->repl);
    hmap_init(&cs->repl_by);
    hmap_init(&cs->props);
    hmap_init(&cs->removing);
    buf_init(&cs->cmd, 0);
    buf_init(&cs->entry, 0);
    buf_init(&cs->rewrite, 0);
    buf_init(&cs->out, 0);
    cs->recs = malloc(CAIRN_CHUNK_CMDS_MAX * sizeof *cs->recs);
    if (!cs->recs) {
        free(cs);
        return CAIRN_ENOMEM;
    }
    prng_seed(&cs->rng, time_mono_ns() ^ d->cfg.id);
    d->chunks = cs;
    static const struct {
        uint16_t type;
        rpc_handler_fn fn;
    } handlers[] = {
        {WIRE_CHUNK_REGISTER, on_register},
        {WIRE_CHUNK_HEARTBEAT, on_heartbeat},
        {WIRE_CHUNK_REPORT, on_report},
        {WIRE_CHUNK_DRAIN, on_drain},
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(handlers); i++) {
        int rc = rpc_server_handle(d->srv, handlers[i].type, 0, handlers[i].fn, d);
        if (rc)
            return rc;
    }
    return 0;
}

void metad_chunks_free(struct metad *d)
{
    struct metad_chunks *cs = d->chunks;
    if (!cs)
        return;
    metad_chunks_reset(d, CAIRN_SHUTDOWN);
    hmap_free(&cs->live);
    hmap_free(&cs->repl);
    hmap_free(&cs->repl_by);
    hmap_free(&cs->props);
    hmap_free(&cs->removing);
    buf_free(&cs->cmd);
    buf_free(&cs->entry);
    buf_free(&cs->rewrite);
    buf_free(&cs->out);
    free(cs->recs);
    free(cs->needy);
    free(cs);
    d->chunks = NULL;
}
