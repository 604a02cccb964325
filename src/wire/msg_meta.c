/* msg_meta.c: payloads of the metadata-service messages and of the chunked
 * snapshot transfer (layouts in wire.h and msg_meta.h). */
#include "wire/msg_meta.h"

#include <string.h>

#include "cairn_errors.h"
#include "raft/raft.h"

/* Close an encoding: on a sticky error, put the buffer back as it was. */
static int enc_finish(struct wire_enc *e, size_t start)
{
    if (e->err)
        e->b->len = start;
    return e->err;
}

/* A decoded empty byte string is (NULL, 0), so a re-encode from it is the
 * same whatever pointer the decoder happened to hold. */
static struct wire_bytes norm(struct wire_bytes b)
{
    if (b.len == 0)
        b.p = NULL;
    return b;
}

int wire_meta_bytes_encode(struct cairn_buf *out, const void *p, size_t len)
{
    if (len > CAIRN_RAFT_PROPOSAL_MAX)
        return CAIRN_TOOBIG;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_bytes(&e, p, len);
    return enc_finish(&e, start);
}

int wire_meta_bytes_decode(const uint8_t *p, size_t n, struct wire_bytes *out)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    struct wire_bytes b = wire_get_bytes(&d, CAIRN_RAFT_PROPOSAL_MAX);
    int rc = wire_dec_finish(&d);
    if (rc)
        return rc;
    *out = norm(b);
    return 0;
}

int wire_meta_cmd_reply_encode(struct cairn_buf *out, const struct wire_meta_cmd_reply *m)
{
    if (m->reply.len > CAIRN_RAFT_PROPOSAL_MAX)
        return CAIRN_TOOBIG;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u64(&e, m->index);
    wire_put_bytes(&e, m->reply.p, m->reply.len);
    return enc_finish(&e, start);
}

int wire_meta_cmd_reply_decode(const uint8_t *p, size_t n, struct wire_meta_cmd_reply *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    m->index = wire_get_u64(&d);
    m->reply = norm(wire_get_bytes(&d, CAIRN_RAFT_PROPOSAL_MAX));
    return wire_dec_finish(&d);
}

static int status_check(const struct wire_meta_status *m)
{
    if (m->role > RAFT_LEADER || m->n_members > CAIRN_RAFT_NODES_MAX)
        return CAIRN_EINVAL;
    if (m->leader_addr.len > CAIRN_MEMBER_ADDR_MAX)
        return CAIRN_TOOBIG;
    for (uint32_t i = 0; i < m->n_members; i++) {
        const struct wire_meta_member *mb = &m->members[i];
        if (mb->id == 0 || mb->voter > 1)
            return CAIRN_EINVAL;
        if (mb->addr.len > CAIRN_MEMBER_ADDR_MAX)
            return CAIRN_TOOBIG;
    }
    return 0;
}

int wire_meta_status_encode(struct cairn_buf *out, const struct wire_meta_status *m)
{
    int rc = status_check(m);
    if (rc)
        return rc;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u64(&e, m->id);
    wire_put_u8(&e, m->role);
    wire_put_u64(&e, m->term);
    wire_put_u64(&e, m->leader);
    wire_put_str16(&e, m->leader_addr.p, m->leader_addr.len);
    wire_put_u64(&e, m->commit);
    wire_put_u64(&e, m->applied);
    wire_put_u64(&e, m->snapshot_index);
    wire_put_u64(&e, m->digest);
    wire_put_u32(&e, m->n_members);
    for (uint32_t i = 0; i < m->n_members; i++) {
        wire_put_u64(&e, m->members[i].id);
        wire_put_u8(&e, m->members[i].voter);
        wire_put_str16(&e, m->members[i].addr.p, m->members[i].addr.len);
    }
    return enc_finish(&e, start);
}

/* Each member takes at least 11 bytes (u64, u8, u16): a count the bytes
 * left cannot hold is a truncation, judged before reading any member. */
#define MEMBER_MIN_SIZE 11u

int wire_meta_status_decode(const uint8_t *p, size_t n, struct wire_meta_status *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    memset(m, 0, sizeof *m);
    m->id = wire_get_u64(&d);
    m->role = wire_get_u8(&d);
    m->term = wire_get_u64(&d);
    m->leader = wire_get_u64(&d);
    m->leader_addr = norm(wire_get_str16(&d, CAIRN_MEMBER_ADDR_MAX));
    m->commit = wire_get_u64(&d);
    m->applied = wire_get_u64(&d);
    m->snapshot_index = wire_get_u64(&d);
    m->digest = wire_get_u64(&d);
    uint32_t cnt = wire_get_u32(&d);
    if (d.err)
        return d.err;
    if (cnt > CAIRN_RAFT_NODES_MAX)
        return CAIRN_BADMSG;
    if ((uint64_t)cnt * MEMBER_MIN_SIZE > wire_dec_left(&d))
        return CAIRN_TRUNCATED;
    for (uint32_t i = 0; i < cnt; i++) {
        struct wire_meta_member *mb = &m->members[i];
        mb->id = wire_get_u64(&d);
        mb->voter = wire_get_u8(&d);
        mb->addr = norm(wire_get_str16(&d, CAIRN_MEMBER_ADDR_MAX));
    }
    m->n_members = cnt;
    int rc = wire_dec_finish(&d);
    if (rc)
        return rc;
    return status_check(m) ? CAIRN_BADMSG : 0;
}

int wire_meta_member_encode(struct cairn_buf *out, const struct wire_meta_member_req *m)
{
    if (m->op > RAFT_CONF_REMOVE || m->node == 0)
        return CAIRN_EINVAL;
    if (m->addr.len > CAIRN_MEMBER_ADDR_MAX)
        return CAIRN_TOOBIG;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u8(&e, m->op);
    wire_put_u64(&e, m->node);
    wire_put_str16(&e, m->addr.p, m->addr.len);
    return enc_finish(&e, start);
}

int wire_meta_member_decode(const uint8_t *p, size_t n, struct wire_meta_member_req *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    m->op = wire_get_u8(&d);
    m->node = wire_get_u64(&d);
    m->addr = norm(wire_get_str16(&d, CAIRN_MEMBER_ADDR_MAX));
    int rc = wire_dec_finish(&d);
    if (rc)
        return rc;
    return (m->op > RAFT_CONF_REMOVE || m->node == 0) ? CAIRN_BADMSG : 0;
}

int wire_meta_u64_encode(struct cairn_buf *out, uint64_t v)
{
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u64(&e, v);
    return enc_finish(&e, start);
}

int wire_meta_u64_decode(const uint8_t *p, size_t n, uint64_t *v)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    *v = wire_get_u64(&d);
    return wire_dec_finish(&d);
}

/* The shape rules of msg_meta.h, shared by encoder and decoder. */
static int snap_chunk_check(const struct wire_snap_chunk *m)
{
    if (m->total_len == 0 || m->total_len > CAIRN_SNAPSHOT_BYTES_MAX || m->last > 1 ||
        m->piece.len == 0 || m->piece.len > CAIRN_RAFT_APPEND_BYTES_MAX ||
        m->offset > m->total_len - m->piece.len)
        return CAIRN_EINVAL;
    if (m->last != (m->offset + m->piece.len == m->total_len))
        return CAIRN_EINVAL;
    if ((m->offset == 0) != (m->header.len > 0) || m->header.len > WIRE_SNAP_HEADER_MAX)
        return CAIRN_EINVAL;
    return 0;
}

int wire_snap_chunk_encode(struct cairn_buf *out, const struct wire_snap_chunk *m)
{
    int rc = snap_chunk_check(m);
    if (rc)
        return rc;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u64(&e, m->transfer_id);
    wire_put_u64(&e, m->offset);
    wire_put_u64(&e, m->total_len);
    wire_put_u8(&e, m->last);
    wire_put_bytes(&e, m->piece.p, m->piece.len);
    if (m->offset == 0)
        wire_put_bytes(&e, m->header.p, m->header.len);
    return enc_finish(&e, start);
}

int wire_snap_chunk_decode(const uint8_t *p, size_t n, struct wire_snap_chunk *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    memset(m, 0, sizeof *m);
    m->transfer_id = wire_get_u64(&d);
    m->offset = wire_get_u64(&d);
    m->total_len = wire_get_u64(&d);
    m->last = wire_get_u8(&d);
    m->piece = norm(wire_get_bytes(&d, CAIRN_RAFT_APPEND_BYTES_MAX));
    if (!d.err && m->offset == 0)
        m->header = norm(wire_get_bytes(&d, WIRE_SNAP_HEADER_MAX));
    int rc = wire_dec_finish(&d);
    if (rc) {
        memset(m, 0, sizeof *m);
        return rc;
    }
    if (snap_chunk_check(m)) {
        memset(m, 0, sizeof *m);
        return CAIRN_BADMSG;
    }
    return 0;
}
