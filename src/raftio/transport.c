/* transport.c: Raft messages over the RPC layer, with chunked snapshot
 * transfers (transport.h). */
#include "raftio/transport.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/hashmap.h"
#include "common/log.h"
#include "common/time.h"
#include "wire/msg_meta.h"
#include "wire/msg_raft.h"

#define TR_SUBSYS "transport"

/* A snapshot being sent in pieces; owns a copy of the snapshot bytes (the
 * core's copy is only lent until raft_advance). */
struct snap_out {
    uint64_t transfer_id;
    uint8_t *data;
    size_t len;
    size_t off;
    struct cairn_buf header; /* WIRE_RAFT encoding of the SNAP without data */
};

struct peer {
    uint64_t id;
    char addr[CAIRN_MEMBER_ADDR_MAX + 1];
    struct rpc_client *client;
    struct snap_out *out;
};

/* A snapshot being assembled from one sender's pieces. */
struct snap_in {
    int used;
    uint64_t from;
    uint64_t transfer_id;
    uint64_t total;
    uint64_t started_ns; /* for eviction: the oldest goes first */
    struct cairn_buf data;
    struct cairn_buf header;
};

struct transport {
    uv_loop_t *loop;
    struct transport_cfg cfg;
    char self_addr[CAIRN_MEMBER_ADDR_MAX + 1];
    struct rpc_secret secret;
    struct hmap peers; /* id -> struct peer */
    uv_timer_t pace;
    int pace_active;
    uint64_t next_transfer;
    struct cairn_buf enc;
    struct snap_in in[CAIRN_SNAP_RECV_MAX];
    struct transport_stats st;
};

static void snap_out_free(struct snap_out *o)
{
    if (!o)
        return;
    free(o->data);
    buf_free(&o->header);
    free(o);
}

static void snap_in_reset(struct snap_in *s)
{
    buf_free(&s->data);
    buf_free(&s->header);
    memset(s, 0, sizeof *s);
}

static void pace_close_cb(uv_handle_t *h) { free(h->data); }

int transport_new(uv_loop_t *loop, const struct transport_cfg *cfg, struct transport **out)
{
    if (!cfg->self_id || !cfg->secret || !cfg->deliver || !cfg->unreachable ||
        strlen(cfg->self_addr) > CAIRN_MEMBER_ADDR_MAX)
        return CAIRN_EINVAL;
    struct transport *t = calloc(1, sizeof *t);
    if (!t)
        return CAIRN_ENOMEM;
    t->loop = loop;
    t->cfg = *cfg;
    if (!t->cfg.pace_ms)
        t->cfg.pace_ms = 5;
    snprintf(t->self_addr, sizeof t->self_addr, "%s", cfg->self_addr);
    t->cfg.self_addr = t->self_addr;
    t->secret = *cfg->secret;
    t->cfg.secret = &t->secret;
    hmap_init(&t->peers);
    buf_init(&t->enc, CAIRN_FRAME_PAYLOAD_MAX);
    /* Transfer ids: sender id in the high bits, a counter from the clock in
     * the low ones, so ids differ across senders and restarts. */
    t->next_transfer = (cfg->self_id << 40) ^ (time_mono_ns() & 0xffffffffffull);
    uv_timer_init(loop, &t->pace);
    t->pace.data = NULL;
    *out = t;
    return 0;
}

static struct peer *peer_get(const struct transport *t, uint64_t id)
{
    return hmap_get(&t->peers, id);
}

static void peer_free(struct peer *p)
{
    if (p->client)
        rpc_client_close(p->client);
    snap_out_free(p->out);
    free(p);
}

static int peer_connect(struct transport *t, struct peer *p)
{
    /* A name over the HELLO limit would be cut, and a cut address is a
     * wrong one: then only the id goes (the address hint is lost). */
    char name[WIRE_CLIENT_NAME_MAX + CAIRN_MEMBER_ADDR_MAX + 32];
    int n = snprintf(name, sizeof name, "meta-%" PRIu64 "@%s", t->cfg.self_id, t->self_addr);
    if (n < 0 || (size_t)n > WIRE_CLIENT_NAME_MAX)
        snprintf(name, sizeof name, "meta-%" PRIu64, t->cfg.self_id);
    struct rpc_client_cfg cc;
    memset(&cc, 0, sizeof cc);
    cc.name = name;
    const char *addrs[1] = {p->addr};
    return rpc_client_new(t->loop, addrs, 1, &t->secret, &cc, &p->client);
}

int transport_set_peer(struct transport *t, uint64_t id, const char *addr)
{
    if (id == 0 || id == t->cfg.self_id || strlen(addr) > CAIRN_MEMBER_ADDR_MAX)
        return CAIRN_EINVAL;
    struct peer *p = peer_get(t, id);
    if (p && strcmp(p->addr, addr) == 0)
        return 0;
    struct peer *np = calloc(1, sizeof *np);
    if (!np)
        return CAIRN_ENOMEM;
    np->id = id;
    snprintf(np->addr, sizeof np->addr, "%s", addr);
    int rc = peer_connect(t, np);
    if (rc == 0)
        rc = hmap_put(&t->peers, id, np);
    if (rc) {
        peer_free(np);
        return rc;
    }
    if (p) {
        LOG_INFO(TR_SUBSYS, "peer %" PRIu64 " moves from %s to %s", id, p->addr, addr);
        peer_free(p);
    }
    return 0;
}

void transport_remove_peer(struct transport *t, uint64_t id)
{
    struct peer *p = hmap_del(&t->peers, id);
    if (p)
        peer_free(p);
}

const char *transport_peer_addr(const struct transport *t, uint64_t id)
{
    const struct peer *p = peer_get(t, id);
    return p ? p->addr : NULL;
}

int transport_peer_ready(const struct transport *t, uint64_t id)
{
    const struct peer *p = peer_get(t, id);
    return p && rpc_client_ready(p->client);
}

static void drop(struct transport *t, uint64_t to)
{
    t->st.dropped++;
    t->cfg.unreachable(t->cfg.arg, to);
}

static void pace_cb(uv_timer_t *h);

static void pace_start(struct transport *t)
{
    if (t->pace_active)
        return;
    t->pace_active = 1;
    t->pace.data = t;
    uv_timer_start(&t->pace, pace_cb, t->cfg.pace_ms, t->cfg.pace_ms);
}

/* Hand pieces of p's transfer to its connection until the write queue is
 * full or the transfer is done. Returns 1 while pieces remain. */
static int snap_pump(struct transport *t, struct peer *p)
{
    struct snap_out *o = p->out;
    while (o->off < o->len) {
        size_t n = CAIRN_MIN(o->len - o->off, (size_t)CAIRN_RAFT_APPEND_BYTES_MAX);
        struct wire_snap_chunk ch = {
            .transfer_id = o->transfer_id,
            .offset = o->off,
            .total_len = o->len,
            .last = o->off + n == o->len,
            .piece = {o->data + o->off, (uint32_t)n},
        };
        if (o->off == 0)
            ch.header = (struct wire_bytes){o->header.data, (uint32_t)o->header.len};
        buf_reset(&t->enc);
        int rc = wire_snap_chunk_encode(&t->enc, &ch);
        CAIRN_ASSERTF(rc == 0, "snapshot piece encode: %d", rc);
        rc = rpc_send(p->client, WIRE_RAFT_SNAP_CHUNK, t->enc.data, t->enc.len);
        if (rc == CAIRN_EBUSY)
            return 1; /* the queue is full: the pace timer resumes */
        if (rc) {
            LOG_INFO(TR_SUBSYS, "snapshot to %" PRIu64 " aborted at %zu/%zu bytes: %s", p->id,
                     o->off, o->len, cairn_err_name(rc));
            t->st.snaps_aborted++;
            snap_out_free(o);
            p->out = NULL;
            drop(t, p->id);
            return 0;
        }
        t->st.snap_chunks_sent++;
        o->off += n;
    }
    t->st.snaps_sent++;
    LOG_INFO(TR_SUBSYS, "snapshot of %zu bytes sent to %" PRIu64, o->len, p->id);
    snap_out_free(o);
    p->out = NULL;
    return 0;
}

static void pace_cb(uv_timer_t *h)
{
    struct transport *t = h->data;
    int more = 0;
    size_t it = 0;
    uint64_t id;
    void *v;
    while (hmap_next(&t->peers, &it, &id, &v)) {
        struct peer *p = v;
        if (p->out)
            more |= snap_pump(t, p);
    }
    if (!more) {
        uv_timer_stop(&t->pace);
        t->pace_active = 0;
    }
}

/* A SNAP message too large for one frame: copy the bytes and start a paced
 * transfer (replacing one in progress to the same peer). */
static void snap_send_chunked(struct transport *t, struct peer *p, const struct raft_msg *m)
{
    struct snap_out *o = calloc(1, sizeof *o);
    uint8_t *copy = malloc(m->snapshot->len);
    if (!o || !copy) {
        free(o);
        free(copy);
        drop(t, p->id);
        return;
    }
    memcpy(copy, m->snapshot->data, m->snapshot->len);
    o->data = copy;
    o->len = m->snapshot->len;
    o->transfer_id = ++t->next_transfer;
    buf_init(&o->header, WIRE_SNAP_HEADER_MAX);
    struct raft_snapshot bare = *m->snapshot;
    bare.data = NULL;
    bare.len = 0;
    struct raft_msg hm = *m;
    hm.snapshot = &bare;
    int rc = wire_raft_msg_encode(&o->header, &hm);
    CAIRN_ASSERTF(rc == 0, "snapshot header encode: %d", rc);
    if (p->out) {
        t->st.snaps_aborted++;
        snap_out_free(p->out);
    }
    p->out = o;
    LOG_INFO(TR_SUBSYS, "sending snapshot index %" PRIu64 " (%zu bytes) to %" PRIu64 " in pieces",
             m->snapshot->meta.index, o->len, p->id);
    if (snap_pump(t, p))
        pace_start(t);
}

void transport_send(struct transport *t, const struct raft_msg *m)
{
    struct peer *p = peer_get(t, m->to);
    if (!p) {
        drop(t, m->to);
        return;
    }
    if (m->type == RAFT_MSG_SNAP && m->snapshot &&
        wire_raft_msg_size(m) > CAIRN_FRAME_PAYLOAD_MAX) {
        snap_send_chunked(t, p, m);
        return;
    }
    buf_reset(&t->enc);
    int rc = wire_raft_msg_encode(&t->enc, m);
    CAIRN_ASSERTF(rc == 0, "raft message encode: %d (%s)", rc, cairn_err_name(rc));
    rc = rpc_send(p->client, WIRE_RAFT, t->enc.data, t->enc.len);
    if (rc) {
        drop(t, m->to);
        return;
    }
    t->st.sent++;
}

int transport_parse_name(const char *name, uint64_t *id, char *addr, size_t addr_cap)
{
    if (strncmp(name, "meta-", 5) != 0)
        return CAIRN_EINVAL;
    const char *at = strchr(name + 5, '@');
    if (!at || at == name + 5)
        return CAIRN_EINVAL;
    uint64_t v = 0;
    for (const char *s = name + 5; s < at; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return CAIRN_EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    size_t n = strlen(at + 1);
    if (v == 0 || n == 0 || n >= addr_cap || n > CAIRN_MEMBER_ADDR_MAX)
        return CAIRN_EINVAL;
    memcpy(addr, at + 1, n + 1);
    *id = v;
    return 0;
}

/* The sender's HELLO name says where it listens: tell the daemon when the
 * transport does not know that address for that id yet. */
static void learn(struct transport *t, const struct rpc_msg *msg, uint64_t from)
{
    if (!t->cfg.learned || !msg->peer)
        return;
    uint64_t id;
    char addr[CAIRN_MEMBER_ADDR_MAX + 1];
    if (transport_parse_name(msg->peer->name, &id, addr, sizeof addr) || id != from)
        return;
    const struct peer *p = peer_get(t, id);
    if (!p || strcmp(p->addr, addr) != 0)
        t->cfg.learned(t->cfg.arg, id, addr);
}

static void deliver(struct transport *t, const struct rpc_msg *msg, const struct raft_msg *m)
{
    if (m->to != t->cfg.self_id || m->from == 0 || m->from == t->cfg.self_id) {
        t->st.bad++;
        return;
    }
    learn(t, msg, m->from);
    t->st.received++;
    t->cfg.deliver(t->cfg.arg, m);
}

static void on_raft(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                    void *arg)
{
    struct transport *t = arg;
    struct raft_msg m;
    int rc = wire_raft_msg_decode(msg->payload, msg->len, &m);
    if (rc) {
        t->st.bad++;
        LOG_WARN(TR_SUBSYS, "bad raft message from %s: %s", msg->peer ? msg->peer->addr : "?",
                 cairn_err_name(rc));
        return;
    }
    deliver(t, msg, &m);
    wire_raft_msg_free(&m);
}

/* The slot assembling transfer_id, or NULL. */
static struct snap_in *in_find(struct transport *t, uint64_t transfer_id)
{
    for (size_t i = 0; i < CAIRN_SNAP_RECV_MAX; i++)
        if (t->in[i].used && t->in[i].transfer_id == transfer_id)
            return &t->in[i];
    return NULL;
}

/* A first piece: a new assembly, replacing any from the same sender, else
 * a free slot, else the oldest. */
static struct snap_in *in_start(struct transport *t, const struct wire_snap_chunk *ch,
                                uint64_t from)
{
    struct snap_in *slot = NULL;
    for (size_t i = 0; i < CAIRN_SNAP_RECV_MAX && !slot; i++)
        if (t->in[i].used && t->in[i].from == from)
            slot = &t->in[i];
    for (size_t i = 0; i < CAIRN_SNAP_RECV_MAX && !slot; i++)
        if (!t->in[i].used)
            slot = &t->in[i];
    if (!slot) {
        slot = &t->in[0];
        for (size_t i = 1; i < CAIRN_SNAP_RECV_MAX; i++)
            if (t->in[i].started_ns < slot->started_ns)
                slot = &t->in[i];
    }
    if (slot->used)
        t->st.snaps_aborted++;
    snap_in_reset(slot);
    slot->used = 1;
    slot->from = from;
    slot->transfer_id = ch->transfer_id;
    slot->total = ch->total_len;
    slot->started_ns = time_mono_ns();
    buf_init(&slot->data, (size_t)ch->total_len);
    buf_init(&slot->header, WIRE_SNAP_HEADER_MAX);
    if (buf_append(&slot->header, ch->header.p, ch->header.len)) {
        snap_in_reset(slot);
        return NULL;
    }
    return slot;
}

/* The whole snapshot is here: step the SNAP message with its bytes. */
static void in_finish(struct transport *t, const struct rpc_msg *msg, struct snap_in *s)
{
    struct raft_msg m;
    int rc = wire_raft_msg_decode(s->header.data, s->header.len, &m);
    if (rc || m.type != RAFT_MSG_SNAP || !m.snapshot || m.snapshot->len != 0) {
        t->st.bad++;
        LOG_WARN(TR_SUBSYS, "bad snapshot header from %" PRIu64, s->from);
        wire_raft_msg_free(&m);
        snap_in_reset(s);
        return;
    }
    m.snapshot->data = s->data.data;
    m.snapshot->len = s->data.len;
    t->st.snaps_received++;
    LOG_INFO(TR_SUBSYS, "snapshot index %" PRIu64 " (%zu bytes) received from %" PRIu64,
             m.snapshot->meta.index, s->data.len, m.from);
    deliver(t, msg, &m);
    wire_raft_msg_free(&m);
    snap_in_reset(s);
}

static void on_snap_chunk(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                          void *arg)
{
    struct transport *t = arg;
    struct wire_snap_chunk ch;
    if (wire_snap_chunk_decode(msg->payload, msg->len, &ch)) {
        t->st.bad++;
        return;
    }
    struct snap_in *s;
    if (ch.offset == 0) {
        struct raft_msg hm;
        if (wire_raft_msg_decode(ch.header.p, ch.header.len, &hm)) {
            t->st.bad++;
            return;
        }
        uint64_t from = hm.from;
        wire_raft_msg_free(&hm);
        s = in_start(t, &ch, from);
    } else {
        s = in_find(t, ch.transfer_id);
        if (s && (s->data.len != ch.offset || s->total != ch.total_len)) {
            t->st.snaps_aborted++;
            snap_in_reset(s); /* a gap: the leader will send it again */
            s = NULL;
        }
    }
    if (!s)
        return;
    if (buf_append(&s->data, ch.piece.p, ch.piece.len)) {
        t->st.snaps_aborted++;
        snap_in_reset(s);
        return;
    }
    if (ch.last)
        in_finish(t, msg, s);
}

int transport_attach(struct transport *t, struct rpc_server *srv)
{
    int rc = rpc_server_handle(srv, WIRE_RAFT, RPC_ONEWAY, on_raft, t);
    if (rc == 0)
        rc = rpc_server_handle(srv, WIRE_RAFT_SNAP_CHUNK, RPC_ONEWAY, on_snap_chunk, t);
    return rc;
}

void transport_get_stats(const struct transport *t, struct transport_stats *st) { *st = t->st; }

void transport_close(struct transport *t)
{
    size_t it = 0;
    uint64_t id;
    void *v;
    while (hmap_next(&t->peers, &it, &id, &v))
        peer_free(v);
    hmap_free(&t->peers);
    for (size_t i = 0; i < CAIRN_SNAP_RECV_MAX; i++)
        snap_in_reset(&t->in[i]);
    buf_free(&t->enc);
    rpc_secret_wipe(&t->secret);
    /* The timer handle lives inside t: free t once libuv has closed it. */
    uv_timer_stop(&t->pace);
    t->pace.data = t;
    uv_close((uv_handle_t *)&t->pace, pace_close_cb);
}
