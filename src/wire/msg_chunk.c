/* msg_chunk.c: payloads of the chunk-server messages (layouts in wire.h and
 * msg_chunk.h). Each message has one shape check shared by its encoder (which
 * refuses to build a bad message: CAIRN_EINVAL / CAIRN_TOOBIG) and its decoder
 * (which runs it after the whole payload was read, so a short input is always
 * CAIRN_TRUNCATED and a well-framed bad value CAIRN_BADMSG). */
#include "wire/msg_chunk.h"

#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"

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

/* Finish a decode: trailing bytes first, then the shape rules (a shape error
 * of a well-framed message is BADMSG whatever the encoder would have said). */
static int dec_finish(struct wire_dec *d, int shape)
{
    int rc = wire_dec_finish(d);
    if (rc)
        return rc;
    return shape ? CAIRN_BADMSG : 0;
}

/* Read a u32 count of fixed-size records and point at them: BADMSG above max,
 * TRUNCATED when the bytes left cannot hold them. NULL on any error. */
static const uint8_t *get_array(struct wire_dec *d, uint32_t max, size_t size, uint32_t *count)
{
    uint32_t cnt = wire_get_u32(d);
    *count = 0;
    if (d->err)
        return NULL;
    if (cnt > max) {
        d->err = CAIRN_BADMSG;
        return NULL;
    }
    const uint8_t *p = wire_get_raw(d, (size_t)cnt * size);
    if (p == NULL && cnt > 0)
        return NULL;
    *count = cnt;
    return p;
}

static int addr_check(struct wire_bytes a) { return a.len == 0 || a.len > CAIRN_NODE_ADDR_MAX; }

/* --- registration ------------------------------------------------------------ */

static int register_check(const struct wire_chunk_register *m)
{
    if (addr_check(m->addr))
        return m->addr.len ? CAIRN_TOOBIG : CAIRN_EINVAL;
    if (m->label.len > CAIRN_NODE_LABEL_MAX)
        return CAIRN_TOOBIG;
    return 0;
}

int wire_chunk_register_encode(struct cairn_buf *out, const struct wire_chunk_register *m)
{
    int rc = register_check(m);
    if (rc)
        return rc;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u32(&e, m->node);
    wire_put_str16(&e, m->addr.p, m->addr.len);
    wire_put_str16(&e, m->label.p, m->label.len);
    wire_put_u64(&e, m->capacity);
    wire_put_u64(&e, m->used);
    return enc_finish(&e, start);
}

int wire_chunk_register_decode(const uint8_t *p, size_t n, struct wire_chunk_register *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    m->node = wire_get_u32(&d);
    m->addr = norm(wire_get_str16(&d, CAIRN_NODE_ADDR_MAX));
    m->label = norm(wire_get_str16(&d, CAIRN_NODE_LABEL_MAX));
    m->capacity = wire_get_u64(&d);
    m->used = wire_get_u64(&d);
    return dec_finish(&d, d.err ? 0 : register_check(m));
}

int wire_chunk_register_reply_encode(struct cairn_buf *out,
                                     const struct wire_chunk_register_reply *m)
{
    if (m->node == 0)
        return CAIRN_EINVAL;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u32(&e, m->node);
    wire_put_u32(&e, m->heartbeat_ms);
    wire_put_u32(&e, m->dead_ms);
    return enc_finish(&e, start);
}

int wire_chunk_register_reply_decode(const uint8_t *p, size_t n,
                                     struct wire_chunk_register_reply *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    m->node = wire_get_u32(&d);
    m->heartbeat_ms = wire_get_u32(&d);
    m->dead_ms = wire_get_u32(&d);
    return dec_finish(&d, m->node == 0);
}

/* --- heartbeats --------------------------------------------------------------- */

static int heartbeat_check(const struct wire_chunk_heartbeat *m)
{
    if (m->node == 0)
        return CAIRN_EINVAL;
    if (m->n_acks > CAIRN_OUTBOX_ACK_MAX || m->n_bad > CAIRN_CHUNK_BAD_MAX)
        return CAIRN_TOOBIG;
    for (uint32_t i = 0; i < m->n_acks; i++) {
        struct wire_chunk_ack a = m->acks ? m->acks[i] : wire_chunk_hb_ack(m, i);
        if (a.status > 0)
            return CAIRN_EINVAL;
    }
    for (uint32_t i = 0; i < m->n_bad; i++) {
        struct wire_chunk_bad b = m->bad ? m->bad[i] : wire_chunk_hb_bad(m, i);
        if (b.err >= 0 || b.chunk == 0 || b.version == 0)
            return CAIRN_EINVAL;
    }
    return 0;
}

int wire_chunk_heartbeat_encode(struct cairn_buf *out, const struct wire_chunk_heartbeat *m)
{
    CAIRN_ASSERT((m->acks || m->acks_raw || !m->n_acks) && (m->bad || m->bad_raw || !m->n_bad));
    int rc = heartbeat_check(m);
    if (rc)
        return rc;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u32(&e, m->node);
    wire_put_u64(&e, m->capacity);
    wire_put_u64(&e, m->used);
    wire_put_u32(&e, m->n_acks);
    for (uint32_t i = 0; i < m->n_acks; i++) {
        struct wire_chunk_ack a = m->acks ? m->acks[i] : wire_chunk_hb_ack(m, i);
        wire_put_u64(&e, a.id);
        wire_put_u32(&e, (uint32_t)a.status);
    }
    wire_put_u32(&e, m->n_bad);
    for (uint32_t i = 0; i < m->n_bad; i++) {
        struct wire_chunk_bad b = m->bad ? m->bad[i] : wire_chunk_hb_bad(m, i);
        wire_put_u64(&e, b.chunk);
        wire_put_u64(&e, b.version);
        wire_put_u32(&e, (uint32_t)b.err);
    }
    return enc_finish(&e, start);
}

int wire_chunk_heartbeat_decode(const uint8_t *p, size_t n, struct wire_chunk_heartbeat *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    memset(m, 0, sizeof *m);
    m->node = wire_get_u32(&d);
    m->capacity = wire_get_u64(&d);
    m->used = wire_get_u64(&d);
    m->acks_raw = get_array(&d, CAIRN_OUTBOX_ACK_MAX, WIRE_CHUNK_ACK_SIZE, &m->n_acks);
    m->bad_raw = get_array(&d, CAIRN_CHUNK_BAD_MAX, WIRE_CHUNK_BAD_SIZE, &m->n_bad);
    if (d.err) {
        m->n_acks = m->n_bad = 0;
        return d.err;
    }
    return dec_finish(&d, heartbeat_check(m));
}

struct wire_chunk_ack wire_chunk_hb_ack(const struct wire_chunk_heartbeat *m, uint32_t i)
{
    CAIRN_ASSERT(i < m->n_acks && m->acks_raw != NULL);
    const uint8_t *q = m->acks_raw + (size_t)i * WIRE_CHUNK_ACK_SIZE;
    return (struct wire_chunk_ack){wire_load_u64(q), (int32_t)wire_load_u32(q + 8)};
}

struct wire_chunk_bad wire_chunk_hb_bad(const struct wire_chunk_heartbeat *m, uint32_t i)
{
    CAIRN_ASSERT(i < m->n_bad && m->bad_raw != NULL);
    const uint8_t *q = m->bad_raw + (size_t)i * WIRE_CHUNK_BAD_SIZE;
    return (struct wire_chunk_bad){wire_load_u64(q), wire_load_u64(q + 8),
                                   (int32_t)wire_load_u32(q + 16)};
}

/* A command's shape: known kind, nonzero chunk and version, a source address
 * exactly for REPLICATE, a length within a chunk. */
static int cmd_check(const struct wire_chunk_cmd *c)
{
    if (c->kind < WIRE_CHUNK_CMD_COMMIT || c->kind > WIRE_CHUNK_CMD_KIND_MAX || c->chunk == 0 ||
        c->version == 0 || c->length > CAIRN_CHUNK_SIZE)
        return CAIRN_EINVAL;
    if (c->kind == WIRE_CHUNK_CMD_REPLICATE)
        return addr_check(c->source) ? CAIRN_EINVAL : 0;
    return c->source.len ? CAIRN_EINVAL : 0;
}

void wire_chunk_hb_reply_begin(struct wire_chunk_hb_reply_enc *b, struct cairn_buf *out,
                               uint8_t flags)
{
    wire_enc_init(&b->e, out);
    b->start = out->len;
    b->n = 0;
    if (flags & ~WIRE_CHUNK_HB_REPORT)
        b->e.err = CAIRN_EINVAL;
    wire_put_u8(&b->e, flags);
    b->count_at = out->len;
    wire_put_u32(&b->e, 0);
}

void wire_chunk_hb_reply_add(struct wire_chunk_hb_reply_enc *b, const struct wire_chunk_cmd *c)
{
    if (b->e.err)
        return;
    if (b->n >= CAIRN_CHUNK_CMDS_MAX) {
        b->e.err = CAIRN_TOOBIG;
        return;
    }
    int rc = cmd_check(c);
    if (rc) {
        b->e.err = rc;
        return;
    }
    wire_put_u64(&b->e, c->id);
    wire_put_u8(&b->e, c->kind);
    wire_put_u64(&b->e, c->chunk);
    wire_put_u64(&b->e, c->version);
    wire_put_u32(&b->e, c->length);
    wire_put_str16(&b->e, c->source.p, c->source.len);
    b->n++;
}

int wire_chunk_hb_reply_end(struct wire_chunk_hb_reply_enc *b)
{
    if (b->e.err == 0)
        wire_store_u32(b->e.b->data + b->count_at, b->n);
    return enc_finish(&b->e, b->start);
}

/* Decode one command at d (no shape check). */
static void get_cmd(struct wire_dec *d, struct wire_chunk_cmd *c)
{
    c->id = wire_get_u64(d);
    c->kind = wire_get_u8(d);
    c->chunk = wire_get_u64(d);
    c->version = wire_get_u64(d);
    c->length = wire_get_u32(d);
    c->source = norm(wire_get_str16(d, CAIRN_NODE_ADDR_MAX));
}

/* The smallest command: u64 u8 u64 u64 u32 u16. */
#define CMD_MIN_SIZE 31u

int wire_chunk_hb_reply_decode(const uint8_t *p, size_t n, struct wire_chunk_hb_reply *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    memset(m, 0, sizeof *m);
    uint8_t flags = wire_get_u8(&d);
    uint32_t cnt = wire_get_u32(&d);
    if (d.err)
        return d.err;
    if (cnt > CAIRN_CHUNK_CMDS_MAX)
        return CAIRN_BADMSG;
    if ((uint64_t)cnt * CMD_MIN_SIZE > wire_dec_left(&d))
        return CAIRN_TRUNCATED;
    size_t first = d.off;
    int shape = flags & ~WIRE_CHUNK_HB_REPORT;
    for (uint32_t i = 0; i < cnt && d.err == 0; i++) {
        struct wire_chunk_cmd c;
        get_cmd(&d, &c);
        if (d.err == 0 && cmd_check(&c))
            shape = 1;
    }
    int rc = dec_finish(&d, shape);
    if (rc)
        return rc;
    m->flags = flags;
    m->n = cnt;
    m->cmds_raw = p + first;
    m->cmds_len = n - first;
    return 0;
}

int wire_chunk_hb_reply_next(const struct wire_chunk_hb_reply *m, size_t *off,
                             struct wire_chunk_cmd *c)
{
    if (*off >= m->cmds_len)
        return 0;
    struct wire_dec d;
    wire_dec_init(&d, m->cmds_raw, m->cmds_len);
    d.off = *off;
    get_cmd(&d, c);
    CAIRN_ASSERT(d.err == 0); /* checked by the decoder */
    *off = d.off;
    return 1;
}

/* --- full chunk report ------------------------------------------------------------ */

static int entry_before(const struct wire_chunk_entry *a, const struct wire_chunk_entry *b)
{
    return a->chunk < b->chunk || (a->chunk == b->chunk && a->version < b->version);
}

static int report_check(const struct wire_chunk_report *m)
{
    if (m->node == 0 || (m->flags & ~(WIRE_CHUNK_REPORT_FIRST | WIRE_CHUNK_REPORT_LAST)))
        return CAIRN_EINVAL;
    if (m->n > CAIRN_CHUNK_REPORT_MAX)
        return CAIRN_TOOBIG;
    struct wire_chunk_entry prev = {0, 0, 0, 0};
    for (uint32_t i = 0; i < m->n; i++) {
        struct wire_chunk_entry en = m->entries ? m->entries[i] : wire_chunk_report_entry(m, i);
        if (en.chunk == 0 || en.version == 0 || en.length > CAIRN_CHUNK_SIZE || en.staged > 1)
            return CAIRN_EINVAL;
        if (i > 0 && !entry_before(&prev, &en))
            return CAIRN_EINVAL;
        prev = en;
    }
    return 0;
}

int wire_chunk_report_encode(struct cairn_buf *out, const struct wire_chunk_report *m)
{
    CAIRN_ASSERT(m->entries || m->entries_raw || m->n == 0);
    int rc = report_check(m);
    if (rc)
        return rc;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u32(&e, m->node);
    wire_put_u8(&e, m->flags);
    wire_put_u32(&e, m->n);
    for (uint32_t i = 0; i < m->n; i++) {
        struct wire_chunk_entry en = m->entries ? m->entries[i] : wire_chunk_report_entry(m, i);
        wire_put_u64(&e, en.chunk);
        wire_put_u64(&e, en.version);
        wire_put_u32(&e, en.length);
        wire_put_u8(&e, en.staged);
    }
    return enc_finish(&e, start);
}

int wire_chunk_report_decode(const uint8_t *p, size_t n, struct wire_chunk_report *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    memset(m, 0, sizeof *m);
    m->node = wire_get_u32(&d);
    m->flags = wire_get_u8(&d);
    m->entries_raw = get_array(&d, CAIRN_CHUNK_REPORT_MAX, WIRE_CHUNK_ENTRY_SIZE, &m->n);
    if (d.err) {
        m->n = 0;
        return d.err;
    }
    return dec_finish(&d, report_check(m));
}

struct wire_chunk_entry wire_chunk_report_entry(const struct wire_chunk_report *m, uint32_t i)
{
    CAIRN_ASSERT(i < m->n && m->entries_raw != NULL);
    const uint8_t *q = m->entries_raw + (size_t)i * WIRE_CHUNK_ENTRY_SIZE;
    return (struct wire_chunk_entry){wire_load_u64(q), wire_load_u64(q + 8), wire_load_u32(q + 16),
                                     q[20]};
}

int wire_chunk_u32_encode(struct cairn_buf *out, uint32_t v)
{
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u32(&e, v);
    return enc_finish(&e, start);
}

int wire_chunk_u32_decode(const uint8_t *p, size_t n, uint32_t *v)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    *v = wire_get_u32(&d);
    return wire_dec_finish(&d);
}

/* --- data path ----------------------------------------------------------------------- */

static int write_check(const struct wire_chunk_write *m)
{
    if (m->chunk == 0 || m->version == 0 || m->base_version >= m->version ||
        m->base_length > CAIRN_CHUNK_SIZE || (m->base_length && !m->base_version) ||
        (m->flags & ~WIRE_CHUNK_WRITE_FLUSH) || m->n_chain > CAIRN_GOAL_MAX - 1)
        return CAIRN_EINVAL;
    for (uint8_t i = 0; i < m->n_chain; i++)
        if (addr_check(m->chain[i]))
            return CAIRN_EINVAL;
    if (m->data.len > CAIRN_CHUNK_IO_MAX)
        return CAIRN_TOOBIG;
    if (m->data.len == 0 && !(m->flags & WIRE_CHUNK_WRITE_FLUSH))
        return CAIRN_EINVAL;
    if (m->offset > CAIRN_CHUNK_SIZE || m->data.len > CAIRN_CHUNK_SIZE - m->offset)
        return CAIRN_EFBIG;
    return 0;
}

int wire_chunk_write_encode(struct cairn_buf *out, const struct wire_chunk_write *m)
{
    int rc = write_check(m);
    if (rc)
        return rc;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u64(&e, m->chunk);
    wire_put_u64(&e, m->version);
    wire_put_u64(&e, m->base_version);
    wire_put_u32(&e, m->base_length);
    wire_put_u64(&e, m->offset);
    wire_put_u8(&e, m->flags);
    wire_put_u64(&e, m->token);
    wire_put_u8(&e, m->n_chain);
    for (uint8_t i = 0; i < m->n_chain; i++)
        wire_put_str16(&e, m->chain[i].p, m->chain[i].len);
    wire_put_bytes(&e, m->data.p, m->data.len);
    return enc_finish(&e, start);
}

int wire_chunk_write_decode(const uint8_t *p, size_t n, struct wire_chunk_write *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    memset(m, 0, sizeof *m);
    m->chunk = wire_get_u64(&d);
    m->version = wire_get_u64(&d);
    m->base_version = wire_get_u64(&d);
    m->base_length = wire_get_u32(&d);
    m->offset = wire_get_u64(&d);
    m->flags = wire_get_u8(&d);
    m->token = wire_get_u64(&d);
    uint8_t cnt = wire_get_u8(&d);
    if (d.err)
        return d.err;
    if (cnt > CAIRN_GOAL_MAX - 1)
        return CAIRN_BADMSG;
    for (uint8_t i = 0; i < cnt; i++)
        m->chain[i] = norm(wire_get_str16(&d, CAIRN_NODE_ADDR_MAX));
    m->n_chain = cnt;
    m->data = norm(wire_get_bytes(&d, CAIRN_CHUNK_IO_MAX));
    return dec_finish(&d, d.err ? 0 : write_check(m));
}

int wire_chunk_write_reply_encode(struct cairn_buf *out, const struct wire_chunk_write_reply *m)
{
    if (m->n == 0 || m->n > CAIRN_GOAL_MAX)
        return CAIRN_EINVAL;
    for (uint8_t i = 0; i < m->n; i++)
        if (m->status[i] > 0)
            return CAIRN_EINVAL;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u8(&e, m->n);
    for (uint8_t i = 0; i < m->n; i++)
        wire_put_u32(&e, (uint32_t)m->status[i]);
    return enc_finish(&e, start);
}

int wire_chunk_write_reply_decode(const uint8_t *p, size_t n, struct wire_chunk_write_reply *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    memset(m, 0, sizeof *m);
    uint8_t cnt = wire_get_u8(&d);
    if (d.err)
        return d.err;
    if (cnt == 0 || cnt > CAIRN_GOAL_MAX)
        return CAIRN_BADMSG;
    int shape = 0;
    for (uint8_t i = 0; i < cnt; i++) {
        m->status[i] = (int32_t)wire_get_u32(&d);
        shape |= m->status[i] > 0;
    }
    m->n = cnt;
    return dec_finish(&d, shape);
}

static int read_check(const struct wire_chunk_read *m)
{
    if (m->chunk == 0 || m->version == 0 || m->len == 0 || m->len > CAIRN_CHUNK_IO_MAX ||
        m->offset >= CAIRN_CHUNK_SIZE || (m->flags & ~WIRE_CHUNK_READ_STAGED))
        return CAIRN_EINVAL;
    return 0;
}

int wire_chunk_read_encode(struct cairn_buf *out, const struct wire_chunk_read *m)
{
    int rc = read_check(m);
    if (rc)
        return rc;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u64(&e, m->chunk);
    wire_put_u64(&e, m->version);
    wire_put_u64(&e, m->offset);
    wire_put_u32(&e, m->len);
    wire_put_u8(&e, m->flags);
    return enc_finish(&e, start);
}

int wire_chunk_read_decode(const uint8_t *p, size_t n, struct wire_chunk_read *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    m->chunk = wire_get_u64(&d);
    m->version = wire_get_u64(&d);
    m->offset = wire_get_u64(&d);
    m->len = wire_get_u32(&d);
    m->flags = wire_get_u8(&d);
    return dec_finish(&d, read_check(m));
}

static int read_reply_check(const struct wire_chunk_read_reply *m)
{
    if (m->length > CAIRN_CHUNK_SIZE)
        return CAIRN_EINVAL;
    return m->data.len > CAIRN_CHUNK_IO_MAX ? CAIRN_TOOBIG : 0;
}

int wire_chunk_read_reply_encode(struct cairn_buf *out, const struct wire_chunk_read_reply *m)
{
    int rc = read_reply_check(m);
    if (rc)
        return rc;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u64(&e, m->length);
    wire_put_bytes(&e, m->data.p, m->data.len);
    return enc_finish(&e, start);
}

int wire_chunk_read_reply_decode(const uint8_t *p, size_t n, struct wire_chunk_read_reply *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    m->length = wire_get_u64(&d);
    m->data = norm(wire_get_bytes(&d, CAIRN_CHUNK_IO_MAX));
    return dec_finish(&d, d.err ? 0 : read_reply_check(m));
}

/* --- status and admin -------------------------------------------------------------- */

static int status_check(const struct wire_chunk_status *m)
{
    if (m->registered > 1)
        return CAIRN_EINVAL;
    if (m->addr.len > CAIRN_NODE_ADDR_MAX || m->label.len > CAIRN_NODE_LABEL_MAX ||
        m->leader.len > CAIRN_MEMBER_ADDR_MAX)
        return CAIRN_TOOBIG;
    return 0;
}

int wire_chunk_status_encode(struct cairn_buf *out, const struct wire_chunk_status *m)
{
    int rc = status_check(m);
    if (rc)
        return rc;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u32(&e, m->node);
    wire_put_str16(&e, m->addr.p, m->addr.len);
    wire_put_str16(&e, m->label.p, m->label.len);
    wire_put_u8(&e, m->registered);
    wire_put_str16(&e, m->leader.p, m->leader.len);
    const uint64_t v[] = {m->capacity,  m->used,       m->chunks,       m->staged,
                          m->cmds_done, m->replicated, m->scrub_passes, m->scrub_bytes,
                          m->bad_found, m->writes,     m->reads};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        wire_put_u64(&e, v[i]);
    return enc_finish(&e, start);
}

int wire_chunk_status_decode(const uint8_t *p, size_t n, struct wire_chunk_status *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    memset(m, 0, sizeof *m);
    m->node = wire_get_u32(&d);
    m->addr = norm(wire_get_str16(&d, CAIRN_NODE_ADDR_MAX));
    m->label = norm(wire_get_str16(&d, CAIRN_NODE_LABEL_MAX));
    m->registered = wire_get_u8(&d);
    m->leader = norm(wire_get_str16(&d, CAIRN_MEMBER_ADDR_MAX));
    uint64_t *v[] = {&m->capacity,  &m->used,       &m->chunks,       &m->staged,
                     &m->cmds_done, &m->replicated, &m->scrub_passes, &m->scrub_bytes,
                     &m->bad_found, &m->writes,     &m->reads};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        *v[i] = wire_get_u64(&d);
    return dec_finish(&d, status_check(m));
}

int wire_chunk_drain_encode(struct cairn_buf *out, const struct wire_chunk_drain *m)
{
    if (m->node == 0 || m->on > 1)
        return CAIRN_EINVAL;
    struct wire_enc e;
    size_t start = out->len;
    wire_enc_init(&e, out);
    wire_put_u32(&e, m->node);
    wire_put_u8(&e, m->on);
    return enc_finish(&e, start);
}

int wire_chunk_drain_decode(const uint8_t *p, size_t n, struct wire_chunk_drain *m)
{
    struct wire_dec d;
    wire_dec_init(&d, p, n);
    m->node = wire_get_u32(&d);
    m->on = wire_get_u8(&d);
    return dec_finish(&d, m->node == 0 || m->on > 1);
}
