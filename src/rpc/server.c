/* server.c: the RPC server: accept, authenticate, dispatch, reply later. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/hashmap.h"
#include "common/log.h"
#include "rpc/conn.h"
#include "rpc/rpc.h"
#include "wire/msg_rpc.h"

/* Connection states on the server side, in handshake order. */
enum srv_state {
    SRV_AWAIT_HELLO = 0,
    SRV_AWAIT_AUTH,
    SRV_READY,
};

struct srv_handler {
    rpc_handler_fn fn;
    void *arg;
    unsigned flags;
};

struct rpc_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    struct rpc_secret secret;
    char side[96]; /* "server NAME", for logs */
    struct rpc_limits lim;
    struct hmap handlers; /* type -> struct srv_handler * */
    struct rpc_conn *conns;
    uint64_t next_conn_id;
    uint16_t port;
    /* One reference for "not closed", one per connection until its handles
     * closed, one per request until completed: the server outlives them. */
    int refs;
    bool closing;
    struct rpc_server_stats st;
};

struct rpc_req {
    struct rpc_conn *conn;
    uint64_t req_id;
};

static void srv_unref(struct rpc_server *s)
{
    CAIRN_ASSERT(s->refs > 0);
    if (--s->refs > 0)
        return;
    uint64_t key;
    void *val;
    for (size_t it = 0; hmap_next(&s->handlers, &it, &key, &val);)
        free(val);
    hmap_free(&s->handlers);
    rpc_secret_wipe(&s->secret);
    free(s);
}

/* Back-pressure: stop reading from a connection whose replies pile up
 * (it does not read them) or that has too many requests awaiting replies;
 * read again once the queue has drained to half and a request slot is free. */
static void srv_check_pause(struct rpc_server *s, struct rpc_conn *c)
{
    if (c->closing || c->flush_close)
        return;
    size_t q = conn_queued(c);
    bool over = q > s->lim.write_queue_max || c->outstanding >= s->lim.inflight_max;
    if (!c->paused && over) {
        conn_pause(c);
        s->st.pauses++;
        LOG_INFO("rpc", "%s: pausing reads from %s: %zu bytes queued, %u requests waiting", s->side,
                 c->peer.addr, q, c->outstanding);
    } else if (c->paused && q <= s->lim.write_queue_max / 2 &&
               c->outstanding < s->lim.inflight_max) {
        LOG_DEBUG("rpc", "%s: resuming reads from %s", s->side, c->peer.addr);
        conn_resume(c);
    }
}

/* Result of queueing a reply: the hard bound on the write queue closes
 * the connection (a peer that never reads). */
static int srv_sent(struct rpc_server *s, struct rpc_conn *c, int rc)
{
    if (rc == 0) {
        s->st.replies++;
        s->st.queue_peak = CAIRN_MAX(s->st.queue_peak, (uint64_t)conn_queued(c));
    } else if (rc == CAIRN_EBUSY) {
        s->st.replies_dropped++;
        conn_close(c, RPC_CLOSE_WRITE_OVERFLOW);
    }
    return rc;
}

static int enc_hello_reply(struct cairn_buf *out, const void *m)
{
    return wire_hello_reply_encode(out, m);
}

/* Printable copy of the client's self-chosen name, for log lines. */
static void srv_set_peer_name(struct rpc_conn *c, const struct wire_hello *m)
{
    size_t n = CAIRN_MIN((size_t)m->name_len, sizeof c->peer.name - 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = m->name[i];
        c->peer.name[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    c->peer.name[n] = '\0';
}

/* HELLO: answer with our nonce and our proof of the secret (the client
 * checks it first: mutual authentication). */
static int srv_hello(struct rpc_server *s, struct rpc_conn *c, const struct wire_header *h,
                     const uint8_t *payload)
{
    if (h->type != WIRE_HELLO || h->flags != 0)
        return RPC_CLOSE_NOT_AUTHED;
    struct wire_hello m;
    if (wire_hello_decode(payload, h->len, &m) != 0 || h->req_id != 0)
        return RPC_CLOSE_PROTOCOL;
    srv_set_peer_name(c, &m);
    if (m.proto != WIRE_VERSION) {
        srv_sent(s, c, conn_send_error(c, h->req_id, CAIRN_BADVERSION, "unsupported proto"));
        conn_close_after_flush(c, RPC_CLOSE_BAD_VERSION);
        return 0;
    }
    struct wire_hello_reply r;
    memcpy(c->nonce_peer, m.client_nonce, WIRE_NONCE_SIZE);
    if (rpc_random(r.server_nonce, WIRE_NONCE_SIZE) != 0 ||
        rpc_proof(&s->secret, RPC_LABEL_SERVER, m.client_nonce, r.server_nonce, r.server_proof) !=
            0)
        return RPC_CLOSE_IO_ERROR;
    memcpy(c->nonce_mine, r.server_nonce, WIRE_NONCE_SIZE);
    if (conn_send_enc(c, WIRE_HELLO_REPLY, WIRE_FLAG_REPLY, h->req_id, enc_hello_reply, &r))
        return RPC_CLOSE_IO_ERROR;
    c->state = SRV_AWAIT_AUTH;
    return 0;
}

/* AUTH: compare the client's proof in constant time. A wrong proof gets an
 * ERROR reply (so an honest client with the wrong secret knows why) and
 * the connection closes once that reply is written. */
static int srv_auth(struct rpc_server *s, struct rpc_conn *c, const struct wire_header *h,
                    const uint8_t *payload)
{
    if (h->type != WIRE_AUTH || h->flags != 0)
        return RPC_CLOSE_NOT_AUTHED;
    struct wire_auth m;
    if (wire_auth_decode(payload, h->len, &m) != 0)
        return RPC_CLOSE_PROTOCOL;
    uint8_t want[WIRE_MAC_SIZE];
    if (rpc_proof(&s->secret, RPC_LABEL_CLIENT, c->nonce_mine, c->nonce_peer, want) != 0)
        return RPC_CLOSE_IO_ERROR;
    if (CRYPTO_memcmp(want, m.client_proof, WIRE_MAC_SIZE) != 0) {
        srv_sent(s, c, conn_send_error(c, h->req_id, CAIRN_AUTH, "authentication failed"));
        conn_close_after_flush(c, RPC_CLOSE_AUTH_FAILED);
        return 0;
    }
    if (conn_send(c, WIRE_AUTH_REPLY, WIRE_FLAG_REPLY, h->req_id, NULL, 0) != 0)
        return RPC_CLOSE_IO_ERROR;
    c->state = SRV_READY;
    conn_auth_deadline(c, 0);
    s->st.authenticated++;
    LOG_DEBUG("rpc", "%s: %s (\"%s\") authenticated", s->side, c->peer.addr, c->peer.name);
    return 0;
}

/* A request after authentication: to its handler, or an error reply for a
 * type nobody serves (the connection stays open: a newer client may try a
 * message this server does not know). */
static int srv_dispatch(struct rpc_server *s, struct rpc_conn *c, const struct wire_header *h,
                        const uint8_t *payload)
{
    if (h->flags != 0 || (h->type >= WIRE_HELLO && h->type <= WIRE_AUTH_REPLY))
        return RPC_CLOSE_PROTOCOL;
    s->st.requests++;
    const struct srv_handler *hd = hmap_get(&s->handlers, h->type);
    if (!hd) {
        s->st.unknown_type++;
        LOG_DEBUG("rpc", "%s: %s sent unknown type %u", s->side, c->peer.addr, h->type);
        srv_sent(s, c, conn_send_error(c, h->req_id, CAIRN_UNKNOWNTYPE, "unknown message type"));
        srv_check_pause(s, c);
        return 0;
    }
    struct rpc_msg msg = {h->type, h->flags, h->req_id, payload, h->len, &c->peer};
    if (hd->flags & RPC_ONEWAY) {
        hd->fn(s, NULL, &msg, hd->arg);
        return 0;
    }
    struct rpc_req *r = malloc(sizeof *r);
    if (!r) {
        srv_sent(s, c, conn_send_error(c, h->req_id, CAIRN_ENOMEM, "server out of memory"));
        return 0;
    }
    r->conn = c;
    r->req_id = h->req_id;
    conn_ref(c);
    s->refs++;
    c->outstanding++;
    hd->fn(s, r, &msg, hd->arg);
    srv_check_pause(s, c);
    return 0;
}

static int srv_on_frame(struct rpc_conn *c, const struct wire_header *h, const uint8_t *payload)
{
    struct rpc_server *s = c->owner;
    switch (c->state) {
    case SRV_AWAIT_HELLO:
        return srv_hello(s, c, h, payload);
    case SRV_AWAIT_AUTH:
        return srv_auth(s, c, h, payload);
    default:
        return srv_dispatch(s, c, h, payload);
    }
}

static void srv_on_written(struct rpc_conn *c) { srv_check_pause(c->owner, c); }

static void srv_on_closing(struct rpc_conn *c)
{
    struct rpc_server *s = c->owner;
    if (c->prev)
        c->prev->next = c->next;
    else if (s->conns == c)
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->st.conns_open--;
    s->st.closed[c->reason]++;
}

static void srv_on_closed(struct rpc_conn *c) { srv_unref(c->owner); }

static const struct rpc_conn_ops srv_conn_ops = {
    .on_frame = srv_on_frame,
    .on_written = srv_on_written,
    .on_closing = srv_on_closing,
    .on_closed = srv_on_closed,
};

/* Accept every pending connection (refusing one still means accepting it,
 * or the listen queue would stall), then enforce the connection bound. */
static void srv_on_connection(uv_stream_t *l, int status)
{
    struct rpc_server *s = l->data;
    if (status < 0) {
        LOG_WARN("rpc", "%s: accept failed: %s", s->side, uv_strerror(status));
        return;
    }
    struct rpc_conn *c = conn_new(s->loop, &srv_conn_ops, s, s->side, &s->lim);
    if (!c) {
        LOG_ERROR("rpc", "%s: out of memory accepting a connection", s->side);
        return;
    }
    s->refs++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->st.conns_open++;
    s->st.accepted++;
    c->peer.conn_id = ++s->next_conn_id;
    c->state = SRV_AWAIT_HELLO;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 || conn_start(c) != 0) {
        conn_close(c, RPC_CLOSE_IO_ERROR);
        return;
    }
    if (s->st.conns_open > s->lim.conn_max) {
        conn_close(c, RPC_CLOSE_CONN_MAX);
        return;
    }
    conn_auth_deadline(c, s->lim.auth_timeout_ms);
}

static void srv_ping(struct rpc_server *s, struct rpc_req *req, const struct rpc_msg *m, void *a)
{
    if (wire_empty_decode(m->payload, m->len) != 0)
        rpc_reply_error(req, CAIRN_BADMSG, "PING carries no payload");
    else
        rpc_reply(req, WIRE_PING_REPLY, NULL, 0);
}

/* ECHO: the reply's layout equals the request's, so a valid request
 * payload is sent back as it is. */
static void srv_echo(struct rpc_server *s, struct rpc_req *req, const struct rpc_msg *m, void *a)
{
    struct wire_bytes data;
    if (wire_echo_decode(m->payload, m->len, &data) != 0)
        rpc_reply_error(req, CAIRN_BADMSG, "malformed ECHO");
    else
        rpc_reply(req, WIRE_ECHO_REPLY, m->payload, m->len);
}

int rpc_server_new(uv_loop_t *loop, const struct rpc_server_cfg *cfg, struct rpc_server **out)
{
    if (!cfg->secret || cfg->secret->len < CAIRN_SECRET_MIN || cfg->secret->len > CAIRN_SECRET_MAX)
        return CAIRN_EINVAL;
    struct rpc_server *s = calloc(1, sizeof *s);
    if (!s)
        return CAIRN_ENOMEM;
    s->loop = loop;
    s->secret = *cfg->secret;
    s->lim = cfg->limits;
    rpc_limits_fill(&s->lim);
    snprintf(s->side, sizeof s->side, "server %s", cfg->name ? cfg->name : "-");
    hmap_init(&s->handlers);
    int rc = uv_tcp_init(loop, &s->listener);
    if (rc) {
        free(s);
        return cairn_err_from_errno(-rc);
    }
    s->listener.data = s;
    s->refs = 1;
    if (rpc_server_handle(s, WIRE_PING, 0, srv_ping, NULL) ||
        rpc_server_handle(s, WIRE_ECHO, 0, srv_echo, NULL)) {
        rpc_server_close(s);
        return CAIRN_ENOMEM;
    }
    *out = s;
    return 0;
}

int rpc_server_handle(struct rpc_server *s, uint16_t type, unsigned flags, rpc_handler_fn fn,
                      void *arg)
{
    if (type == 0 || type <= WIRE_AUTH_REPLY || !fn || (flags & ~RPC_ONEWAY))
        return CAIRN_EINVAL;
    struct srv_handler *h = malloc(sizeof *h);
    if (!h)
        return CAIRN_ENOMEM;
    *h = (struct srv_handler){fn, arg, flags};
    struct srv_handler *old = hmap_get(&s->handlers, type);
    if (hmap_put(&s->handlers, type, h) != 0) {
        free(h);
        return CAIRN_ENOMEM;
    }
    free(old);
    return 0;
}

int rpc_server_listen(struct rpc_server *s, const char *host, uint16_t port)
{
    char hp[96];
    struct sockaddr_storage ss;
    snprintf(hp, sizeof hp, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
    if (rpc_addr_parse(hp, &ss) != 0)
        return CAIRN_EINVAL;
    int rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, SOMAXCONN, srv_on_connection);
    if (rc) {
        LOG_ERROR("rpc", "%s: cannot listen on %s: %s", s->side, hp, uv_strerror(rc));
        return cairn_err_from_errno(-rc);
    }
    int len = sizeof ss;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    LOG_INFO("rpc", "%s: listening on %s:%u", s->side, host, (unsigned)s->port);
    return 0;
}

uint16_t rpc_server_port(const struct rpc_server *s) { return s->port; }

static void srv_on_listener_closed(uv_handle_t *h) { srv_unref(h->data); }

void rpc_server_close(struct rpc_server *s)
{
    if (s->closing)
        return;
    s->closing = true;
    uv_close((uv_handle_t *)&s->listener, srv_on_listener_closed);
    while (s->conns)
        conn_close(s->conns, RPC_CLOSE_SHUTDOWN);
}

void rpc_server_get_stats(const struct rpc_server *s, struct rpc_server_stats *out)
{
    *out = s->st;
}

/* Every request ends here, whatever became of its connection. */
static void req_complete(struct rpc_req *r)
{
    struct rpc_conn *c = r->conn;
    struct rpc_server *s = c->owner;
    CAIRN_ASSERT(c->outstanding > 0);
    c->outstanding--;
    srv_check_pause(s, c);
    free(r);
    conn_unref(c);
    srv_unref(s);
}

int rpc_reply(struct rpc_req *r, uint16_t type, const void *payload, size_t len)
{
    struct rpc_conn *c = r->conn;
    struct rpc_server *s = c->owner;
    int rc = 0;
    if (!rpc_req_alive(r)) {
        s->st.replies_dropped++;
    } else if (len > CAIRN_FRAME_PAYLOAD_MAX) {
        rc = CAIRN_TOOBIG;
        srv_sent(s, c, conn_send_error(c, r->req_id, rc, "reply larger than the frame limit"));
    } else {
        rc = srv_sent(s, c, conn_send(c, type, WIRE_FLAG_REPLY, r->req_id, payload, len));
    }
    req_complete(r);
    return rc;
}

int rpc_reply_error(struct rpc_req *r, int code, const char *msg)
{
    struct rpc_conn *c = r->conn;
    struct rpc_server *s = c->owner;
    int rc = 0;
    if (!rpc_req_alive(r))
        s->st.replies_dropped++;
    else
        rc = srv_sent(s, c, conn_send_error(c, r->req_id, code, msg));
    req_complete(r);
    return rc;
}

void rpc_req_drop(struct rpc_req *r) { req_complete(r); }

const struct rpc_peer *rpc_req_peer(const struct rpc_req *r) { return &r->conn->peer; }

int rpc_req_alive(const struct rpc_req *r) { return !r->conn->closing && !r->conn->flush_close; }
