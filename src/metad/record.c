/* record.c: entry tags, the member address map and the snapshot body of
 * the metadata daemon (record.h). */
#include "metad/record.h"

#include <string.h>

#include "cairn_errors.h"
#include "wire/codec.h"

const char *metad_members_get(const struct metad_members *m, uint64_t id)
{
    for (uint32_t i = 0; i < m->n; i++)
        if (m->v[i].id == id)
            return m->v[i].addr;
    return NULL;
}

/* An address is printable, without spaces, and of bounded length. */
static int addr_valid(const char *addr, size_t len)
{
    if (len == 0 || len > CAIRN_MEMBER_ADDR_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (addr[i] <= ' ' || addr[i] > '~')
            return 0;
    return 1;
}

int metad_members_set(struct metad_members *m, uint64_t id, const char *addr, size_t len)
{
    if (id == 0 || !addr_valid(addr, len))
        return CAIRN_EINVAL;
    uint32_t i = 0;
    while (i < m->n && m->v[i].id < id)
        i++;
    if (i == m->n || m->v[i].id != id) {
        if (m->n == METAD_MEMBERS_MAX)
            return CAIRN_LIMIT;
        memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof m->v[0]);
        m->n++;
        m->v[i].id = id;
    }
    memcpy(m->v[i].addr, addr, len);
    m->v[i].addr[len] = 0;
    return 0;
}

void metad_members_del(struct metad_members *m, uint64_t id)
{
    for (uint32_t i = 0; i < m->n; i++) {
        if (m->v[i].id == id) {
            memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof m->v[0]);
            m->n--;
            return;
        }
    }
}

int metad_entry_cmd(struct cairn_buf *out, const uint8_t *cmd, size_t len)
{
    int rc = buf_reserve(out, len + 1);
    if (rc)
        return rc;
    uint8_t tag = METAD_TAG_CMD;
    buf_append(out, &tag, 1);
    return buf_append(out, cmd, len);
}

int metad_entry_member(struct cairn_buf *out, uint64_t id, const char *addr)
{
    size_t len = strlen(addr);
    if (id == 0 || !addr_valid(addr, len))
        return CAIRN_EINVAL;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u8(&e, METAD_TAG_MEMBER);
    wire_put_u64(&e, id);
    wire_put_str16(&e, addr, len);
    if (e.err)
        out->len = start;
    return e.err;
}

int metad_entry_member_decode(const uint8_t *p, size_t len, uint64_t *id, const uint8_t **addr,
                              uint16_t *addr_len)
{
    struct wire_dec d;
    wire_dec_init(&d, p, len);
    uint8_t tag = wire_get_u8(&d);
    *id = wire_get_u64(&d);
    struct wire_bytes a = wire_get_str16(&d, CAIRN_MEMBER_ADDR_MAX);
    int rc = wire_dec_finish(&d);
    if (rc)
        return rc;
    if (tag != METAD_TAG_MEMBER || *id == 0 || !addr_valid((const char *)a.p, a.len))
        return CAIRN_BADMSG;
    *addr = a.p;
    *addr_len = (uint16_t)a.len;
    return 0;
}

int metad_snap_encode_head(struct cairn_buf *out, const struct metad_members *m)
{
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u32(&e, METAD_SNAP_MAGIC);
    wire_put_u32(&e, METAD_SNAP_VERSION);
    wire_put_u32(&e, m->n);
    for (uint32_t i = 0; i < m->n; i++) {
        wire_put_u64(&e, m->v[i].id);
        wire_put_str16(&e, m->v[i].addr, strlen(m->v[i].addr));
    }
    if (e.err)
        out->len = start;
    return e.err;
}

int metad_snap_decode(const uint8_t *p, size_t len, struct metad_members *m, const uint8_t **meta,
                      size_t *meta_len)
{
    struct wire_dec d;
    wire_dec_init(&d, p, len);
    uint32_t magic = wire_get_u32(&d);
    uint32_t version = wire_get_u32(&d);
    uint32_t n = wire_get_u32(&d);
    if (d.err)
        return d.err;
    if (magic != METAD_SNAP_MAGIC)
        return CAIRN_BADMSG;
    if (version != METAD_SNAP_VERSION)
        return CAIRN_BADVERSION;
    if (n > METAD_MEMBERS_MAX)
        return CAIRN_BADMSG;
    memset(m, 0, sizeof *m);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = wire_get_u64(&d);
        struct wire_bytes a = wire_get_str16(&d, CAIRN_MEMBER_ADDR_MAX);
        if (d.err)
            return d.err;
        /* Sorted and distinct: the canonical form the encoder writes. */
        if ((i > 0 && id <= m->v[i - 1].id) ||
            metad_members_set(m, id, (const char *)a.p, a.len) != 0)
            return CAIRN_BADMSG;
    }
    *meta = p + d.off;
    *meta_len = len - d.off;
    return 0;
}
