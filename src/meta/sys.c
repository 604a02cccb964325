/*
 * sys.c: client sessions and the chunk-server registry.
 *
 * A session's id is the log index of the SESSION_OPEN that created it, so
 * every replica names it alike without a counter. Expiry is decided by the
 * time carried in commands only: a session whose lease end is before the
 * state's time is dead, whether a TICK swept it or a later command of the
 * session found it so. Node ids are assigned by the state (next_node) unless
 * a chunk server that already has one registers again with it.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/time.h"
#include "meta/internal.h"

void meta_session_free(struct meta_session *s)
{
    if (!s)
        return;
    if (s->holds) {
        hmap_free(s->holds);
        free(s->holds);
    }
    free(s->reply);
    free(s);
}

int meta_session_open(struct meta *m, uint64_t index, const struct meta_req *r, struct wire_enc *e)
{
    if (r->u32a < CAIRN_SESSION_LEASE_MIN_MS || r->u32a > CAIRN_SESSION_LEASE_MAX_MS)
        return CAIRN_EINVAL;
    if (hmap_len(&m->sessions) >= CAIRN_SESSIONS_MAX)
        return CAIRN_LIMIT;
    CAIRN_ASSERT(!hmap_contains(&m->sessions, index));
    struct meta_session *s = calloc(1, sizeof *s);
    if (!s || hmap_put(&m->sessions, index, s)) {
        free(s);
        return CAIRN_ENOMEM;
    }
    s->id = index;
    s->lease_ns = (uint64_t)r->u32a * CAIRN_NS_PER_MS;
    s->expiry_ns = m->now_ns + s->lease_ns;
    wire_put_u64(e, s->id);
    wire_put_u64(e, s->expiry_ns);
    return 0;
}

/* The session if it is live; an expired one is removed on the way. */
struct meta_session *meta_session_live(struct meta *m, uint64_t id)
{
    struct meta_session *s = hmap_get(&m->sessions, id);
    if (s && s->expiry_ns < m->now_ns) {
        meta_lock_sessions_end(m, &id, 1, 1);
        meta_data_sessions_end(m, &id, 1);
        meta_hold_sessions_end(m, &id, 1);
        hmap_del(&m->sessions, id);
        meta_session_free(s);
        s = NULL;
    }
    return s;
}

/* Remove every expired session (in id order, for when sessions hold locks). */
uint32_t meta_session_expire(struct meta *m)
{
    size_t n = 0, cap = hmap_len(&m->sessions);
    uint64_t *ids = malloc((cap ? cap : 1) * sizeof *ids);
    CAIRN_ASSERTF(ids, "meta: out of memory");
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&m->sessions, &it, &k, &v);)
        if (((const struct meta_session *)v)->expiry_ns < m->now_ns)
            ids[n++] = k;
    qsort(ids, n, sizeof *ids, meta_cmp_u64);
    meta_lock_sessions_end(m, ids, n, 1);
    meta_data_sessions_end(m, ids, n);
    meta_hold_sessions_end(m, ids, n);
    for (size_t i = 0; i < n; i++)
        meta_session_free(hmap_del(&m->sessions, ids[i]));
    free(ids);
    return (uint32_t)n;
}

int meta_session_get(const struct meta *m, uint64_t session, struct meta_session_info *out)
{
    const struct meta_session *s = hmap_get(&m->sessions, session);
    if (!s)
        return CAIRN_SESSION;
    out->id = s->id;
    out->expiry_ns = s->expiry_ns;
    out->lease_ns = s->lease_ns;
    out->last_seq = s->last_seq;
    return 0;
}

static uint8_t *dup_bytes(const struct wire_bytes *b)
{
    uint8_t *p = malloc(b->len ? b->len : 1);
    if (p && b->len)
        memcpy(p, b->p, b->len);
    return p;
}

/* Set a node's address and label (copies taken before anything changes). */
static int node_set_names(struct meta_node *nd, const struct meta_req *r)
{
    uint8_t *addr = dup_bytes(&r->name), *label = dup_bytes(&r->name2);
    if (!addr || !label) {
        free(addr);
        free(label);
        return CAIRN_ENOMEM;
    }
    free(nd->addr);
    free(nd->label);
    nd->addr = addr;
    nd->label = label;
    nd->addr_len = (uint16_t)r->name.len;
    nd->label_len = (uint16_t)r->name2.len;
    return 0;
}

/* NODE_REGISTER: a new chunk server (id 0) or a known one coming back. */
int meta_node_register(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    uint32_t id = r->u32a ? r->u32a : m->next_node;
    struct meta_node *nd = hmap_get(&m->nodes, id);
    if (!nd) {
        if (hmap_len(&m->nodes) >= CAIRN_NODES_MAX || id == UINT32_MAX)
            return CAIRN_LIMIT;
        nd = calloc(1, sizeof *nd);
        if (!nd)
            return CAIRN_ENOMEM;
        nd->id = id;
        if (node_set_names(nd, r) || hmap_put(&m->nodes, id, nd)) {
            free(nd->addr);
            free(nd->label);
            free(nd);
            return CAIRN_ENOMEM;
        }
        if (id >= m->next_node)
            m->next_node = id + 1;
    } else if (node_set_names(nd, r)) {
        return CAIRN_ENOMEM;
    }
    nd->state = META_NODE_UP;
    nd->capacity = r->u64a;
    nd->used = r->u64b;
    wire_put_u32(e, id);
    return 0;
}

int meta_node_update(struct meta *m, const struct meta_req *r)
{
    struct meta_node *nd = hmap_get(&m->nodes, r->u32a);
    if (!nd)
        return CAIRN_ENOENT;
    if (r->u8a < META_NODE_UP || r->u8a > META_NODE_DRAINING)
        return CAIRN_EINVAL;
    nd->state = r->u8a;
    nd->capacity = r->u64a;
    nd->used = r->u64b;
    return 0;
}

int meta_node_get(const struct meta *m, uint32_t node, struct meta_node_info *out)
{
    const struct meta_node *nd = hmap_get(&m->nodes, node);
    if (!nd)
        return CAIRN_ENOENT;
    out->id = nd->id;
    out->state = nd->state;
    out->capacity = nd->capacity;
    out->used = nd->used;
    out->addr = nd->addr;
    out->addr_len = nd->addr_len;
    out->label = nd->label;
    out->label_len = nd->label_len;
    return 0;
}
