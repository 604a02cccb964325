/*
 * replica.c: the chunk-server maintenance side of the state machine:
 * CHUNK_REPLICA (the metadata leader changes a chunk's replica list after a
 * re-replication, a corrupt or drained copy, or a chunk report naming a
 * stale version), the NODES read, and two walks the leader plans with
 * (meta_chunk_walk over the chunks of every file with their goal, and
 * meta_node_list over the registry).
 *
 * The leader decides from what it saw; the state decides again at apply
 * time from what is true then, item by item, so a decision made on a stale
 * view (a report crossing a commit, a leader change) never removes a copy a
 * file needs: ADD names the chunk's current version on an up node; REMOVE
 * keeps the last replica; STALE never deletes the version the list names
 * for that node nor a staged version a pending write uses.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/internal.h"

#define REPLICA_ITEM_SIZE 17u /* u64 chunk, u64 version, u8 staged */

static int has_node(const struct meta_chunk *ch, uint32_t node)
{
    const uint32_t *rep = chunk_replicas(ch);
    for (uint8_t i = 0; i < ch->n_replicas; i++)
        if (rep[i] == node)
            return 1;
    return 0;
}

/* Bodies of CHUNK_REPLICA and NODES (the decoder of apply.c calls this). */
void meta_replica_decode(struct wire_dec *d, struct meta_req *r)
{
    if (r->h.type == META_NODES) {
        r->u32a = wire_get_u32(d);
        r->u32b = wire_get_u32(d);
        if (!d->err && (r->u32b == 0 || r->u32b > CAIRN_NODES_QUERY_MAX))
            d->err = CAIRN_BADMSG;
        return;
    }
    r->u8a = wire_get_u8(d);
    r->u32a = wire_get_u32(d);
    r->n64 = wire_get_u32(d);
    if (!d->err && (r->u8a < META_REPLICA_ADD || r->u8a > META_REPLICA_STALE || r->u32a == 0 ||
                    r->n64 == 0 || r->n64 > CAIRN_REPLICA_ITEMS_MAX))
        d->err = CAIRN_BADMSG;
    r->ids64 = wire_get_raw(d, d->err ? 0 : (size_t)r->n64 * REPLICA_ITEM_SIZE);
    for (uint32_t i = 0; i < r->n64 && !d->err; i++) {
        const uint8_t *q = r->ids64 + (size_t)i * REPLICA_ITEM_SIZE;
        if (wire_load_u64(q) == 0 || wire_load_u64(q + 8) == 0 || q[16] > 1)
            d->err = CAIRN_BADMSG;
    }
}

static int replica_add(struct meta *m, const struct meta_node *nd, uint64_t id, uint64_t version)
{
    struct meta_chunk *ch = meta_table_get(&m->chunks, id);
    if (!ch)
        return CAIRN_ENOENT;
    if (version != ch->version)
        return CAIRN_STALEVERSION;
    if (nd->state != META_NODE_UP)
        return CAIRN_UNAVAILABLE;
    if (has_node(ch, nd->id))
        return CAIRN_EEXIST;
    if (ch->n_replicas >= CAIRN_GOAL_MAX)
        return CAIRN_LIMIT;
    uint32_t rep[CAIRN_GOAL_MAX];
    memcpy(rep, chunk_replicas(ch), ch->n_replicas * sizeof *rep);
    rep[ch->n_replicas] = nd->id;
    return meta_chunk_set_replicas(ch, rep, (uint8_t)(ch->n_replicas + 1));
}

static int replica_remove(struct meta *m, uint32_t node, uint64_t id, uint64_t version)
{
    struct meta_chunk *ch = meta_table_get(&m->chunks, id);
    if (!ch)
        return CAIRN_ENOENT;
    if (version != ch->version)
        return CAIRN_STALEVERSION;
    if (!has_node(ch, node))
        return CAIRN_ENOENT;
    if (ch->n_replicas == 1)
        return CAIRN_EBUSY; /* a damaged last copy still serves its good blocks */
    uint32_t rep[CAIRN_GOAL_MAX];
    uint8_t n = 0;
    const uint32_t *cur = chunk_replicas(ch);
    for (uint8_t i = 0; i < ch->n_replicas; i++)
        if (cur[i] != node)
            rep[n++] = cur[i];
    int rc = meta_chunk_set_replicas(ch, rep, n);
    if (rc == 0)
        meta_outbox_add(m, node, META_OUT_DELETE, id, version, 0);
    return rc;
}

/* Does a pending write prepare (chunk, version) on node? Pending writes are
 * few; only staged versions of chunks being written or not yet in the table
 * get here. */
static int pending_uses(const struct meta *m, uint32_t node, uint64_t id, uint64_t version)
{
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&m->pending, &it, &k, &v);) {
        const struct meta_pending *p = v;
        if (p->chunk != id || p->version != version)
            continue;
        for (uint8_t i = 0; i < p->n; i++)
            if (p->replicas[i] == node)
                return 1;
    }
    return 0;
}

static int replica_stale(struct meta *m, uint32_t node, uint64_t id, uint64_t version, int staged)
{
    const struct meta_chunk *ch = meta_table_get(&m->chunks, id);
    if (staged) {
        if ((!ch || ch->state == META_CHUNK_WRITING) && pending_uses(m, node, id, version))
            return CAIRN_EBUSY;
        meta_outbox_add(m, node, META_OUT_DROP, id, version, 0);
        return 0;
    }
    if (ch && version == ch->version && has_node(ch, node))
        return CAIRN_EBUSY;
    if (ch && version > ch->version)
        return CAIRN_CONFLICT; /* newer than any commit: not ours to judge */
    meta_outbox_add(m, node, META_OUT_DELETE, id, version, 0);
    return 0;
}

/* CHUNK_REPLICA: each item is judged and applied on its own; the reply
 * lists every item's status. Out of memory stops at that item (the state is
 * unchanged by it) and fails the command. */
int meta_replica_apply(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    const struct meta_node *nd = hmap_get(&m->nodes, r->u32a);
    if (!nd)
        return CAIRN_ENOENT;
    wire_put_u32(e, r->n64);
    for (uint32_t i = 0; i < r->n64; i++) {
        const uint8_t *q = r->ids64 + (size_t)i * REPLICA_ITEM_SIZE;
        uint64_t id = wire_load_u64(q), version = wire_load_u64(q + 8);
        int rc;
        if (r->u8a == META_REPLICA_ADD)
            rc = replica_add(m, nd, id, version);
        else if (r->u8a == META_REPLICA_REMOVE)
            rc = replica_remove(m, nd->id, id, version);
        else
            rc = replica_stale(m, nd->id, id, version, q[16]);
        if (rc == CAIRN_ENOMEM)
            return rc;
        wire_put_u32(e, (uint32_t)rc);
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

size_t meta_node_list(const struct meta *m, uint32_t after, struct meta_node_info *out, size_t max)
{
    size_t n = 0, cap = hmap_len(&m->nodes);
    uint32_t *ids = malloc((cap ? cap : 1) * sizeof *ids);
    CAIRN_ASSERTF(ids, "meta: out of memory");
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&m->nodes, &it, &k, &v);)
        if (k > after)
            ids[n++] = (uint32_t)k;
    qsort(ids, n, sizeof *ids, cmp_u32);
    size_t w = 0;
    for (size_t i = 0; i < n && w < max; i++)
        meta_node_get(m, ids[i], &out[w++]);
    free(ids);
    return w;
}

/* NODES: the registry in id order, a page at a time. */
int meta_nodes_query(const struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    struct meta_node_info *v = malloc((r->u32b + 1) * sizeof *v);
    if (!v)
        return CAIRN_ENOMEM;
    size_t n = meta_node_list(m, r->u32a, v, r->u32b + 1);
    uint32_t shown = (uint32_t)(n > r->u32b ? r->u32b : n);
    wire_put_u32(e, shown);
    for (uint32_t i = 0; i < shown; i++) {
        wire_put_u32(e, v[i].id);
        wire_put_u8(e, v[i].state);
        wire_put_u64(e, v[i].capacity);
        wire_put_u64(e, v[i].used);
        wire_put_str16(e, v[i].addr, v[i].addr_len);
        wire_put_str16(e, v[i].label, v[i].label_len);
    }
    wire_put_u8(e, n > shown);
    free(v);
    return 0;
}

/* The chunk ids of a file's map (inline for one chunk). */
static uint64_t map_at(const struct meta_inode *in, uint32_t index)
{
    return in->n_chunks == 1 ? in->u.chunk : in->u.chunks[index];
}

size_t meta_chunk_walk(const struct meta *m, struct meta_walk *w, struct meta_chunk_goal *out,
                       size_t max)
{
    size_t n = 0;
    w->wrapped = 0;
    while (n < max) {
        if (w->slot >= m->inodes.n_slots) {
            w->slot = w->index = 0;
            w->wrapped = 1;
            break;
        }
        const struct meta_inode *in = meta_table_slot(&m->inodes, w->slot);
        if (in->ino == 0 || !S_ISREG(in->mode) || w->index >= in->n_chunks) {
            w->slot++;
            w->index = 0;
            continue;
        }
        uint64_t id = map_at(in, w->index);
        if (id) {
            struct meta_chunk_goal *g = &out[n++];
            int rc = meta_chunk_get(m, id, &g->chunk);
            CAIRN_ASSERT(rc == 0);
            g->ino = in->ino;
            g->index = w->index;
            g->goal = in->goal;
        }
        w->index++;
    }
    return n;
}

static void put_hdr(struct wire_enc *e, struct meta_hdr *h, uint16_t type)
{
    h->type = type;
    meta_enc_hdr(e, h);
}

int meta_cmd_chunk_replica(struct cairn_buf *out, struct meta_hdr *h, uint8_t op, uint32_t node,
                           const struct meta_replica_item *items, uint32_t n)
{
    struct wire_enc e;
    wire_enc_init(&e, out);
    size_t start = out->len;
    put_hdr(&e, h, META_CHUNK_REPLICA);
    wire_put_u8(&e, op);
    wire_put_u32(&e, node);
    wire_put_u32(&e, n);
    for (uint32_t i = 0; i < n; i++) {
        wire_put_u64(&e, items[i].chunk);
        wire_put_u64(&e, items[i].version);
        wire_put_u8(&e, items[i].staged);
    }
    if (e.err)
        out->len = start;
    return e.err;
}

int meta_cmd_nodes(struct cairn_buf *out, struct meta_hdr *h, uint32_t after, uint32_t max)
{
    struct wire_enc e;
    wire_enc_init(&e, out);
    size_t start = out->len;
    put_hdr(&e, h, META_NODES);
    wire_put_u32(&e, after);
    wire_put_u32(&e, max);
    if (e.err)
        out->len = start;
    return e.err;
}
