/* msg_raft.c: WIRE_RAFT payload encoder and decoder (layout in wire.h). */
#include "wire/msg_raft.h"

#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/limits.h"
#include "wire/codec.h"

/* Fixed part of a snapshot: u64 index, u64 term, u32 n_voters, u32
 * n_learners, u32 data length. */
#define WIRE_RAFT_SNAP_MIN_SIZE (8u + 8u + 4u + 4u + 4u)

_Static_assert(RAFT_ENTRY_CONF == 1, "entry types are 0..RAFT_ENTRY_CONF");
_Static_assert(CAIRN_RAFT_NODES_MAX <= UINT32_MAX, "conf sizes travel as u32");
/* The worst-case entry batch, as a count, times the smallest entry, fits in
 * a frame, so the count check below is the binding one for allocation. */
_Static_assert((uint64_t)CAIRN_RAFT_APPEND_ENTRIES_MAX *WIRE_RAFT_ENTRY_MIN_SIZE <
                   CAIRN_FRAME_PAYLOAD_MAX,
               "a full batch of empty entries fits in one frame");

size_t wire_raft_msg_size(const struct raft_msg *m)
{
    size_t n = WIRE_RAFT_HEAD_SIZE + 1;
    for (uint32_t i = 0; i < m->n_entries; i++)
        n += WIRE_RAFT_ENTRY_MIN_SIZE + m->entries[i].len;
    const struct raft_snapshot *s = m->snapshot;
    if (s)
        n += WIRE_RAFT_SNAP_MIN_SIZE +
             8 * ((size_t)s->meta.conf.n_voters + s->meta.conf.n_learners) + s->len;
    return n;
}

/* The entries' shape: only APP carries entries, within the batch and
 * proposal limits, each of a known type. */
static int check_entries(const struct raft_msg *m)
{
    if (m->n_entries == 0)
        return 0;
    if (m->type != RAFT_MSG_APP || !m->entries)
        return CAIRN_EINVAL;
    if (m->n_entries > CAIRN_RAFT_APPEND_ENTRIES_MAX)
        return CAIRN_TOOBIG;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *en = &m->entries[i];
        if (en->type > RAFT_ENTRY_CONF || (en->len && !en->data))
            return CAIRN_EINVAL;
        if (en->len > CAIRN_RAFT_PROPOSAL_MAX)
            return CAIRN_TOOBIG;
    }
    return 0;
}

int wire_raft_msg_check(const struct raft_msg *m)
{
    if (m->type < 1 || m->type > RAFT_MSG_TYPE_MAX || m->reject > 1)
        return CAIRN_EINVAL;
    int rc = check_entries(m);
    if (rc)
        return rc;
    const struct raft_snapshot *s = m->snapshot;
    if ((m->type == RAFT_MSG_SNAP) != (s != NULL))
        return CAIRN_EINVAL;
    if (s) {
        if (s->len && !s->data)
            return CAIRN_EINVAL;
        if (s->meta.conf.n_voters > CAIRN_RAFT_NODES_MAX ||
            s->meta.conf.n_learners > CAIRN_RAFT_NODES_MAX || s->len > CAIRN_FRAME_PAYLOAD_MAX)
            return CAIRN_TOOBIG;
    }
    /* Every part is bounded above, so the sum cannot overflow a size_t. */
    if (wire_raft_msg_size(m) > CAIRN_FRAME_PAYLOAD_MAX)
        return CAIRN_TOOBIG;
    return 0;
}

static void put_snapshot(struct wire_enc *e, const struct raft_snapshot *s)
{
    wire_put_u64(e, s->meta.index);
    wire_put_u64(e, s->meta.term);
    wire_put_u32(e, s->meta.conf.n_voters);
    for (uint32_t i = 0; i < s->meta.conf.n_voters; i++)
        wire_put_u64(e, s->meta.conf.voters[i]);
    wire_put_u32(e, s->meta.conf.n_learners);
    for (uint32_t i = 0; i < s->meta.conf.n_learners; i++)
        wire_put_u64(e, s->meta.conf.learners[i]);
    wire_put_bytes(e, s->data, s->len);
}

/* Checks the shape first, so what goes out is exactly what a decoder
 * accepts; reserves the exact size once, so a failure leaves out as it was. */
int wire_raft_msg_encode(struct cairn_buf *out, const struct raft_msg *m)
{
    int rc = wire_raft_msg_check(m);
    if (rc)
        return rc;
    size_t size = wire_raft_msg_size(m), start = out->len;
    rc = buf_reserve(out, size);
    if (rc)
        return rc;
    struct wire_enc e;
    wire_enc_init(&e, out);
    wire_put_u8(&e, m->type);
    wire_put_u64(&e, m->from);
    wire_put_u64(&e, m->to);
    wire_put_u64(&e, m->term);
    wire_put_u64(&e, m->log_term);
    wire_put_u64(&e, m->index);
    wire_put_u64(&e, m->commit);
    wire_put_u64(&e, m->context);
    wire_put_u8(&e, m->reject);
    wire_put_u64(&e, m->reject_hint);
    wire_put_u32(&e, m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *en = &m->entries[i];
        wire_put_u64(&e, en->term);
        wire_put_u64(&e, en->index);
        wire_put_u8(&e, en->type);
        wire_put_bytes(&e, en->data, en->len);
    }
    wire_put_u8(&e, m->snapshot ? 1 : 0);
    if (m->snapshot)
        put_snapshot(&e, m->snapshot);
    /* The space was reserved: only a broken size computation fails here. */
    CAIRN_ASSERT(e.err == 0);
    CAIRN_ASSERT(out->len - start == size);
    return 0;
}

/* The fixed head. Fails before any allocation when the entry count is out
 * of range or more than the bytes left could hold. */
static int decode_head(struct wire_dec *d, struct raft_msg *m)
{
    m->type = wire_get_u8(d);
    m->from = wire_get_u64(d);
    m->to = wire_get_u64(d);
    m->term = wire_get_u64(d);
    m->log_term = wire_get_u64(d);
    m->index = wire_get_u64(d);
    m->commit = wire_get_u64(d);
    m->context = wire_get_u64(d);
    m->reject = wire_get_u8(d);
    m->reject_hint = wire_get_u64(d);
    m->n_entries = wire_get_u32(d);
    if (d->err)
        return d->err;
    if (m->type < 1 || m->type > RAFT_MSG_TYPE_MAX || m->reject > 1)
        return CAIRN_BADMSG;
    if (m->n_entries > CAIRN_RAFT_APPEND_ENTRIES_MAX)
        return CAIRN_BADMSG;
    if (m->n_entries && m->type != RAFT_MSG_APP)
        return CAIRN_BADMSG;
    if (m->n_entries > wire_dec_left(d) / WIRE_RAFT_ENTRY_MIN_SIZE)
        return CAIRN_TRUNCATED;
    return 0;
}

/* Entries into an array allocated here (the count was checked against the
 * bytes left); data points into the input. */
static int decode_entries(struct wire_dec *d, struct raft_msg *m)
{
    if (m->n_entries == 0)
        return 0;
    m->entries = calloc(m->n_entries, sizeof *m->entries);
    if (!m->entries)
        return CAIRN_ENOMEM;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        struct raft_entry *en = &m->entries[i];
        en->term = wire_get_u64(d);
        en->index = wire_get_u64(d);
        en->type = wire_get_u8(d);
        struct wire_bytes b = wire_get_bytes(d, CAIRN_RAFT_PROPOSAL_MAX);
        if (d->err)
            return d->err;
        if (en->type > RAFT_ENTRY_CONF)
            return CAIRN_BADMSG;
        en->len = b.len;
        /* Read-only by contract (msg_raft.h); the core's type is not const. */
        en->data = b.len ? (uint8_t *)(uintptr_t)b.p : NULL;
    }
    return 0;
}

/* A list of node ids: u32 count (<= CAIRN_RAFT_NODES_MAX), then the ids. */
static int decode_nodes(struct wire_dec *d, uint32_t *n, uint64_t *ids)
{
    *n = wire_get_u32(d);
    if (d->err)
        return d->err;
    if (*n > CAIRN_RAFT_NODES_MAX)
        return CAIRN_BADMSG;
    for (uint32_t i = 0; i < *n; i++)
        ids[i] = wire_get_u64(d);
    return d->err;
}

/* has_snapshot and, on a SNAP, the snapshot: decoded on the stack and
 * allocated only once whole. */
static int decode_snapshot(struct wire_dec *d, struct raft_msg *m)
{
    uint8_t has = wire_get_u8(d);
    if (d->err)
        return d->err;
    if (has > 1 || (has == 1) != (m->type == RAFT_MSG_SNAP))
        return CAIRN_BADMSG;
    if (!has)
        return 0;
    struct raft_snapshot s;
    memset(&s, 0, sizeof s);
    s.meta.index = wire_get_u64(d);
    s.meta.term = wire_get_u64(d);
    int rc = decode_nodes(d, &s.meta.conf.n_voters, s.meta.conf.voters);
    if (rc == 0)
        rc = decode_nodes(d, &s.meta.conf.n_learners, s.meta.conf.learners);
    if (rc)
        return rc;
    struct wire_bytes b = wire_get_bytes(d, CAIRN_FRAME_PAYLOAD_MAX);
    if (d->err)
        return d->err;
    s.len = b.len;
    s.data = b.len ? (uint8_t *)(uintptr_t)b.p : NULL;
    m->snapshot = malloc(sizeof *m->snapshot);
    if (!m->snapshot)
        return CAIRN_ENOMEM;
    *m->snapshot = s;
    return 0;
}

/* Decodes in layout order; any failure frees what was allocated so the
 * caller has nothing to release. */
int wire_raft_msg_decode(const uint8_t *p, size_t len, struct raft_msg *m)
{
    memset(m, 0, sizeof *m);
    if (len > CAIRN_FRAME_PAYLOAD_MAX)
        return CAIRN_BADMSG;
    struct wire_dec d;
    wire_dec_init(&d, p, len);
    int rc = decode_head(&d, m);
    if (rc == 0)
        rc = decode_entries(&d, m);
    if (rc == 0)
        rc = decode_snapshot(&d, m);
    if (rc == 0)
        rc = wire_dec_finish(&d);
    if (rc)
        wire_raft_msg_free(m);
    return rc;
}

void wire_raft_msg_free(struct raft_msg *m)
{
    free(m->entries);
    free(m->snapshot);
    memset(m, 0, sizeof *m);
}
