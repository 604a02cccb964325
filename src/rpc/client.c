/* client.c: the RPC client: dial, authenticate the server, call, retry. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/hashmap.h"
#include "common/log.h"
#include "common/prng.h"
#include "rpc/conn.h"
#include "rpc/rpc.h"
#include "wire/msg_rpc.h"

/* Connection states on the client side, in handshake order. */
enum cli_state {
    CLI_CONNECTING = 0,
    CLI_HELLO,
    CLI_AUTH,
    CLI_READY,
};

/* One outstanding call. Calls are in the id map and in the deadline list
 * until completed; a call not yet sent (no connection) is also in the send
 * queue and owns a copy of its payload. */
struct rpc_call {
    uint64_t id;
    uint64_t deadline_ms;
    rpc_reply_fn cb;
    void *arg;
    struct rpc_call *dprev, *dnext;
    struct rpc_call *qprev, *qnext;
    uint8_t *payload;
    size_t len;
    uint16_t type;
    bool sent;
};

struct rpc_client {
    uv_loop_t *loop;
    struct rpc_secret secret;
    char name[WIRE_CLIENT_NAME_MAX + 1];
    char side[96];
    struct rpc_limits lim;
    struct sockaddr_storage addrs[CAIRN_RPC_ADDRS_MAX];
    char addr_text[CAIRN_RPC_ADDRS_MAX][64];
    size_t n_addrs;
    size_t cur;
    struct rpc_conn *conn; /* current connection (any state) or NULL */
    uv_timer_t retry_timer;
    uv_timer_t deadline_timer;
    int timers_open;
    struct hmap calls; /* id -> struct rpc_call * */
    struct rpc_call *dhead, *dtail;
    struct rpc_call *qhead, *qtail;
    size_t queued_bytes; /* framed size of the calls in the send queue */
    uint64_t next_id;
    uint32_t attempts;
    struct prng rng;
    bool closing;
    bool switching; /* the next dial goes to cur at once */
    /* One reference for the timers, one per connection until it closed. */
    int refs;
    struct rpc_client_stats st;
};

static size_t frame_bytes(size_t len) { return WIRE_HEADER_SIZE + len + WIRE_TRAILER_SIZE; }

static void cli_unref(struct rpc_client *c)
{
    CAIRN_ASSERT(c->refs > 0);
    if (--c->refs > 0)
        return;
    CAIRN_ASSERT(hmap_len(&c->calls) == 0);
    hmap_free(&c->calls);
    rpc_secret_wipe(&c->secret);
    free(c);
}

static int cli_ready(const struct rpc_client *c)
{
    return c->conn && c->conn->state == CLI_READY && !c->conn->closing;
}

/* --- the deadline list, kept sorted; one timer for its head --------------- */

static void cli_on_deadline(uv_timer_t *t);

static void cli_arm_deadline(struct rpc_client *c)
{
    if (c->closing)
        return;
    if (!c->dhead) {
        uv_timer_stop(&c->deadline_timer);
        return;
    }
    uint64_t now = uv_now(c->loop);
    uint64_t d = c->dhead->deadline_ms;
    uv_timer_start(&c->deadline_timer, cli_on_deadline, d > now ? d - now : 0, 0);
}

/* Insert from the tail: calls usually share one timeout, so the new call
 * belongs at or near the end and insertion is O(1) in the common case. */
static void dl_insert(struct rpc_client *c, struct rpc_call *k)
{
    struct rpc_call *p = c->dtail;
    while (p && p->deadline_ms > k->deadline_ms)
        p = p->dprev;
    k->dprev = p;
    k->dnext = p ? p->dnext : c->dhead;
    if (k->dnext)
        k->dnext->dprev = k;
    else
        c->dtail = k;
    if (p)
        p->dnext = k;
    else
        c->dhead = k;
    if (c->dhead == k)
        cli_arm_deadline(c);
}

static void dl_unlink(struct rpc_client *c, struct rpc_call *k)
{
    if (k->dprev)
        k->dprev->dnext = k->dnext;
    else
        c->dhead = k->dnext;
    if (k->dnext)
        k->dnext->dprev = k->dprev;
    else
        c->dtail = k->dprev;
    k->dprev = k->dnext = NULL;
}

static void q_append(struct rpc_client *c, struct rpc_call *k)
{
    k->qprev = c->qtail;
    k->qnext = NULL;
    if (c->qtail)
        c->qtail->qnext = k;
    else
        c->qhead = k;
    c->qtail = k;
    c->queued_bytes += frame_bytes(k->len);
}

static void q_unlink(struct rpc_client *c, struct rpc_call *k)
{
    if (k->qprev)
        k->qprev->qnext = k->qnext;
    else
        c->qhead = k->qnext;
    if (k->qnext)
        k->qnext->qprev = k->qprev;
    else
        c->qtail = k->qprev;
    k->qprev = k->qnext = NULL;
    c->queued_bytes -= frame_bytes(k->len);
    free(k->payload);
    k->payload = NULL;
}

/* Take a call out of every structure; the caller completes it. Detached
 * calls are chained through dnext so callbacks run after the client's
 * state is consistent again (a callback may call rpc_call or close). */
static void call_detach(struct rpc_client *c, struct rpc_call *k, struct rpc_call **chain)
{
    hmap_del(&c->calls, k->id);
    dl_unlink(c, k);
    if (!k->sent)
        q_unlink(c, k);
    k->dnext = *chain;
    *chain = k;
}

static void chain_complete(struct rpc_client *c, struct rpc_call *chain, int status)
{
    while (chain) {
        struct rpc_call *k = chain;
        chain = k->dnext;
        k->cb(c, status, NULL, k->arg);
        free(k);
    }
}

static void cli_on_deadline(uv_timer_t *t)
{
    struct rpc_client *c = t->data;
    uint64_t now = uv_now(c->loop);
    struct rpc_call *chain = NULL;
    while (c->dhead && c->dhead->deadline_ms <= now)
        call_detach(c, c->dhead, &chain);
    cli_arm_deadline(c);
    chain_complete(c, chain, CAIRN_ETIMEDOUT);
}

/* --- dialing and the handshake ------------------------------------------- */

static void cli_connect(struct rpc_client *c);

static void cli_on_retry(uv_timer_t *t) { cli_connect(t->data); }

/* After a connection ends: the next address (unless the caller chose one),
 * after an exponential backoff with jitter (half to all of the step), so
 * many clients of a restarted server do not dial in lockstep. */
static void cli_schedule_retry(struct rpc_client *c, bool was_ready)
{
    uint64_t delay = 0;
    if (c->switching) {
        c->switching = false;
    } else {
        c->cur = (c->cur + 1) % c->n_addrs;
        if (was_ready)
            c->attempts = 0;
        uint32_t shift = CAIRN_MIN(c->attempts, 20u);
        uint64_t step =
            CAIRN_MIN((uint64_t)c->lim.backoff_min_ms << shift, (uint64_t)c->lim.backoff_max_ms);
        delay = step / 2 + prng_below(&c->rng, step / 2 + 1);
        c->attempts++;
    }
    uv_timer_start(&c->retry_timer, cli_on_retry, delay, 0);
}

static int enc_hello(struct cairn_buf *out, const void *m) { return wire_hello_encode(out, m); }
static int enc_auth(struct cairn_buf *out, const void *m) { return wire_auth_encode(out, m); }

static void cli_on_connect(uv_connect_t *req, int status)
{
    struct rpc_conn *k = req->handle->data;
    struct rpc_client *c = k->owner;
    if (k->closing)
        return;
    if (status < 0) {
        c->st.last_error = cairn_err_from_errno(-status);
        LOG_INFO("rpc", "%s: connect to %s failed: %s", c->side, k->peer.addr, uv_strerror(status));
        conn_close(k, RPC_CLOSE_CONNECT_FAILED);
        return;
    }
    struct wire_hello m = {.proto = WIRE_VERSION,
                           .name = (const uint8_t *)c->name,
                           .name_len = (uint16_t)strlen(c->name)};
    if (conn_start(k) != 0 || rpc_random(m.client_nonce, WIRE_NONCE_SIZE) != 0) {
        conn_close(k, RPC_CLOSE_IO_ERROR);
        return;
    }
    memcpy(k->nonce_mine, m.client_nonce, WIRE_NONCE_SIZE);
    k->state = CLI_HELLO;
    if (conn_send_enc(k, WIRE_HELLO, 0, 0, enc_hello, &m) != 0)
        conn_close(k, RPC_CLOSE_IO_ERROR);
}

static const struct rpc_conn_ops cli_conn_ops;

static void cli_connect(struct rpc_client *c)
{
    if (c->closing || c->conn)
        return;
    struct rpc_conn *k = conn_new(c->loop, &cli_conn_ops, c, c->side, &c->lim);
    if (!k) {
        c->st.last_error = CAIRN_ENOMEM;
        cli_schedule_retry(c, false);
        return;
    }
    c->refs++;
    c->conn = k;
    c->st.connects++;
    k->state = CLI_CONNECTING;
    k->addr_index = c->cur;
    snprintf(k->peer.addr, sizeof k->peer.addr, "%s", c->addr_text[c->cur]);
    conn_auth_deadline(k, c->lim.auth_timeout_ms);
    int rc = uv_tcp_connect(&k->connect_req, &k->tcp, (struct sockaddr *)&c->addrs[c->cur],
                            cli_on_connect);
    if (rc) {
        c->st.last_error = cairn_err_from_errno(-rc);
        conn_close(k, RPC_CLOSE_CONNECT_FAILED);
    }
}

/* An ERROR reply during the handshake: the server refused us. */
static int cli_handshake_error(struct rpc_client *c, const struct wire_header *h,
                               const uint8_t *payload)
{
    struct wire_error e;
    if (wire_error_decode(payload, h->len, &e) != 0) {
        c->st.last_error = CAIRN_BADMSG;
        return RPC_CLOSE_PROTOCOL;
    }
    c->st.last_error = e.code;
    if (e.code != CAIRN_AUTH)
        return RPC_CLOSE_PROTOCOL;
    c->st.auth_failures++;
    LOG_WARN("rpc", "%s: server %s refused our proof of the cluster secret", c->side,
             c->conn->peer.addr);
    return RPC_CLOSE_AUTH_FAILED;
}

/* HELLO_REPLY: check the server's proof BEFORE proving ourselves, so a
 * server without the secret learns nothing and is refused (mutual auth). */
static int cli_hello_reply(struct rpc_client *c, struct rpc_conn *k, const struct wire_header *h,
                           const uint8_t *payload)
{
    if (h->flags & WIRE_FLAG_ERROR)
        return cli_handshake_error(c, h, payload);
    struct wire_hello_reply r;
    if (h->type != WIRE_HELLO_REPLY || h->req_id != 0 ||
        wire_hello_reply_decode(payload, h->len, &r) != 0) {
        c->st.last_error = CAIRN_BADMSG;
        return RPC_CLOSE_PROTOCOL;
    }
    uint8_t want[WIRE_MAC_SIZE];
    if (rpc_proof(&c->secret, RPC_LABEL_SERVER, k->nonce_mine, r.server_nonce, want) != 0)
        return RPC_CLOSE_IO_ERROR;
    if (CRYPTO_memcmp(want, r.server_proof, WIRE_MAC_SIZE) != 0) {
        c->st.auth_failures++;
        c->st.last_error = CAIRN_AUTH;
        LOG_WARN("rpc", "%s: server %s failed to prove the cluster secret", c->side, k->peer.addr);
        return RPC_CLOSE_AUTH_FAILED;
    }
    memcpy(k->nonce_peer, r.server_nonce, WIRE_NONCE_SIZE);
    struct wire_auth a;
    if (rpc_proof(&c->secret, RPC_LABEL_CLIENT, r.server_nonce, k->nonce_mine, a.client_proof))
        return RPC_CLOSE_IO_ERROR;
    if (conn_send_enc(k, WIRE_AUTH, 0, 0, enc_auth, &a) != 0)
        return RPC_CLOSE_IO_ERROR;
    k->state = CLI_AUTH;
    return 0;
}

/* Send the calls that waited for a connection, oldest first. The admission
 * check of rpc_call kept their total under the write queue bound. */
static void cli_flush_queue(struct rpc_client *c)
{
    while (c->qhead && cli_ready(c)) {
        struct rpc_call *k = c->qhead;
        if (conn_send(c->conn, k->type, 0, k->id, k->payload, k->len) != 0)
            break;
        q_unlink(c, k);
        k->sent = true;
    }
}

static int cli_auth_reply(struct rpc_client *c, struct rpc_conn *k, const struct wire_header *h,
                          const uint8_t *payload)
{
    if (h->flags & WIRE_FLAG_ERROR)
        return cli_handshake_error(c, h, payload);
    if (h->type != WIRE_AUTH_REPLY || wire_empty_decode(payload, h->len) != 0) {
        c->st.last_error = CAIRN_BADMSG;
        return RPC_CLOSE_PROTOCOL;
    }
    k->state = CLI_READY;
    conn_auth_deadline(k, 0);
    c->attempts = 0;
    c->st.handshakes++;
    c->st.last_error = 0;
    LOG_DEBUG("rpc", "%s: connected to %s", c->side, k->peer.addr);
    cli_flush_queue(c);
    return 0;
}

/* --- replies ------------------------------------------------------------- */

static int cli_reply(struct rpc_client *c, struct rpc_conn *k, const struct wire_header *h,
                     const uint8_t *payload)
{
    struct rpc_call *call = hmap_get(&c->calls, h->req_id);
    if (!call) {
        /* Its deadline passed, or it was cancelled: a late reply. */
        LOG_DEBUG("rpc", "%s: reply to unknown request %llu", c->side,
                  (unsigned long long)h->req_id);
        return 0;
    }
    if (!call->sent)
        return RPC_CLOSE_PROTOCOL; /* a reply to a request never sent */
    struct rpc_msg m = {h->type, h->flags, h->req_id, payload, h->len, &k->peer};
    int status = 0;
    int why = 0;
    if (h->flags & WIRE_FLAG_ERROR) {
        struct wire_error e;
        if (wire_error_decode(payload, h->len, &e) == 0) {
            status = e.code;
            m.payload = e.msg;
            m.len = e.msg_len;
        } else {
            status = CAIRN_BADMSG;
            why = RPC_CLOSE_PROTOCOL;
        }
    }
    struct rpc_call *chain = NULL;
    call_detach(c, call, &chain);
    call->cb(c, status, why ? NULL : &m, call->arg);
    free(call);
    return why;
}

static int cli_on_frame(struct rpc_conn *k, const struct wire_header *h, const uint8_t *payload)
{
    struct rpc_client *c = k->owner;
    if (!(h->flags & WIRE_FLAG_REPLY))
        return RPC_CLOSE_PROTOCOL; /* servers do not send requests */
    switch (k->state) {
    case CLI_HELLO:
        return cli_hello_reply(c, k, h, payload);
    case CLI_AUTH:
        return cli_auth_reply(c, k, h, payload);
    case CLI_READY:
        return cli_reply(c, k, h, payload);
    default:
        return RPC_CLOSE_PROTOCOL;
    }
}

/* The connection ends: every call sent on it fails with CAIRN_CLOSED (it
 * may or may not have run; retrying is the caller's decision), calls still
 * queued wait for the next connection, and a redial is scheduled. */
static void cli_on_closing(struct rpc_conn *k)
{
    struct rpc_client *c = k->owner;
    CAIRN_ASSERT(c->conn == k);
    c->conn = NULL;
    bool was_ready = k->state == CLI_READY;
    if (k->state != CLI_CONNECTING)
        c->st.disconnects++;
    if (k->reason == RPC_CLOSE_AUTH_TIMEOUT)
        c->st.last_error = CAIRN_ETIMEDOUT;
    struct rpc_call *chain = NULL;
    for (struct rpc_call *p = c->dhead, *n; p; p = n) {
        n = p->dnext;
        if (p->sent)
            call_detach(c, p, &chain);
    }
    cli_arm_deadline(c);
    if (!c->closing)
        cli_schedule_retry(c, was_ready);
    chain_complete(c, chain, CAIRN_CLOSED);
}

static void cli_on_closed(struct rpc_conn *k) { cli_unref(k->owner); }

/* A write finished: calls held back by a full queue may go now. */
static void cli_on_written(struct rpc_conn *k) { cli_flush_queue(k->owner); }

static const struct rpc_conn_ops cli_conn_ops = {
    .on_frame = cli_on_frame,
    .on_written = cli_on_written,
    .on_closing = cli_on_closing,
    .on_closed = cli_on_closed,
};

/* --- public calls -------------------------------------------------------- */

static int cli_set_addrs(struct rpc_client *c, const char *const *addrs, size_t n)
{
    if (n == 0 || n > CAIRN_RPC_ADDRS_MAX)
        return CAIRN_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (rpc_addr_parse(addrs[i], &c->addrs[i]) != 0 ||
            strlen(addrs[i]) >= sizeof c->addr_text[i])
            return CAIRN_EINVAL;
        snprintf(c->addr_text[i], sizeof c->addr_text[i], "%s", addrs[i]);
    }
    c->n_addrs = n;
    return 0;
}

int rpc_client_new(uv_loop_t *loop, const char *const *addrs, size_t n_addrs,
                   const struct rpc_secret *secret, const struct rpc_client_cfg *cfg,
                   struct rpc_client **out)
{
    if (!secret || secret->len < CAIRN_SECRET_MIN || secret->len > CAIRN_SECRET_MAX)
        return CAIRN_EINVAL;
    struct rpc_client *c = calloc(1, sizeof *c);
    if (!c)
        return CAIRN_ENOMEM;
    int rc = cli_set_addrs(c, addrs, n_addrs);
    if (rc) {
        free(c);
        return rc;
    }
    c->loop = loop;
    c->secret = *secret;
    c->lim = cfg ? cfg->limits : (struct rpc_limits){0};
    rpc_limits_fill(&c->lim);
    snprintf(c->name, sizeof c->name, "%s", cfg && cfg->name ? cfg->name : "");
    snprintf(c->side, sizeof c->side, "client %s", c->name[0] ? c->name : "-");
    c->cur = cfg ? cfg->preferred % n_addrs : 0;
    uint64_t seed = cfg ? cfg->seed : 0;
    if (seed == 0 && rpc_random(&seed, sizeof seed) != 0)
        seed = (uint64_t)(uintptr_t)c;
    prng_seed(&c->rng, seed);
    hmap_init(&c->calls);
    uv_timer_init(loop, &c->retry_timer);
    uv_timer_init(loop, &c->deadline_timer);
    c->retry_timer.data = c->deadline_timer.data = c;
    c->timers_open = 2;
    c->refs = 1;
    c->next_id = 1; /* 0 is the handshake's */
    cli_connect(c);
    *out = c;
    return 0;
}

/* Back-pressure: a bound on calls outstanding, and on bytes waiting to be
 * written (an empty queue always admits one frame, however large). */
static int cli_admit(const struct rpc_client *c, size_t len)
{
    if (c->closing)
        return CAIRN_SHUTDOWN;
    if (len > CAIRN_FRAME_PAYLOAD_MAX)
        return CAIRN_TOOBIG;
    size_t q = c->queued_bytes + (c->conn ? conn_queued(c->conn) : 0);
    if (q > 0 && q + frame_bytes(len) > c->lim.write_queue_max)
        return CAIRN_EBUSY;
    return 0;
}

int rpc_call(struct rpc_client *c, uint16_t type, const void *payload, size_t len,
             uint32_t timeout_ms, rpc_reply_fn cb, void *arg)
{
    if (!timeout_ms || !cb)
        return CAIRN_EINVAL;
    int rc = cli_admit(c, len);
    if (rc)
        return rc;
    if (hmap_len(&c->calls) >= c->lim.inflight_max)
        return CAIRN_EBUSY;
    struct rpc_call *k = calloc(1, sizeof *k);
    if (!k)
        return CAIRN_ENOMEM;
    uv_update_time(c->loop); /* the loop's cached time may be stale here */
    *k = (struct rpc_call){.id = c->next_id++, .cb = cb, .arg = arg, .type = type, .len = len};
    k->deadline_ms = uv_now(c->loop) + timeout_ms;
    if (hmap_put(&c->calls, k->id, k) != 0) {
        free(k);
        return CAIRN_ENOMEM;
    }
    if (cli_ready(c) && !c->qhead) {
        rc = conn_send(c->conn, type, 0, k->id, payload, len);
        k->sent = rc == 0;
    } else {
        k->payload = len ? malloc(len) : NULL;
        rc = len && !k->payload ? CAIRN_ENOMEM : 0;
        if (rc == 0) {
            if (len)
                memcpy(k->payload, payload, len);
            q_append(c, k);
        }
    }
    if (rc) {
        hmap_del(&c->calls, k->id);
        free(k);
        return rc;
    }
    dl_insert(c, k);
    return 0;
}

int rpc_send(struct rpc_client *c, uint16_t type, const void *payload, size_t len)
{
    int rc = cli_admit(c, len);
    if (rc)
        return rc;
    if (!cli_ready(c))
        return CAIRN_UNAVAILABLE;
    return conn_send(c->conn, type, 0, c->next_id++, payload, len);
}

struct sync_wait {
    bool done;
    int status;
    uint16_t *type;
    struct cairn_buf *out;
};

static void sync_done(struct rpc_client *c, int status, const struct rpc_msg *m, void *arg)
{
    struct sync_wait *w = arg;
    w->done = true;
    w->status = status;
    if (m && w->type)
        *w->type = m->type;
    if (m && w->out && buf_append(w->out, m->payload, m->len) != 0 && status == 0)
        w->status = CAIRN_ENOMEM;
}

int rpc_call_sync(struct rpc_client *c, uint16_t type, const void *payload, size_t len,
                  uint32_t timeout_ms, uint16_t *reply_type, struct cairn_buf *reply)
{
    struct sync_wait w = {false, 0, reply_type, reply};
    int rc = rpc_call(c, type, payload, len, timeout_ms, sync_done, &w);
    if (rc)
        return rc;
    /* The deadline timer is active while the call is outstanding, so every
     * turn of the loop has work and UV_RUN_ONCE cannot spin or hang. */
    while (!w.done)
        uv_run(c->loop, UV_RUN_ONCE);
    return w.status;
}

void rpc_client_prefer(struct rpc_client *c, size_t idx)
{
    if (c->closing || idx >= c->n_addrs)
        return;
    if (c->conn && c->conn->addr_index == idx)
        return;
    c->cur = idx;
    c->attempts = 0;
    if (c->conn) {
        c->switching = true;
        conn_close(c->conn, RPC_CLOSE_SWITCH);
    } else {
        uv_timer_stop(&c->retry_timer);
        cli_connect(c);
    }
}

void rpc_client_next(struct rpc_client *c)
{
    size_t at = c->conn ? c->conn->addr_index : c->cur;
    rpc_client_prefer(c, (at + 1) % c->n_addrs);
}

int rpc_client_ready(const struct rpc_client *c) { return cli_ready(c); }

size_t rpc_client_addr_index(const struct rpc_client *c)
{
    return c->conn ? c->conn->addr_index : c->cur;
}

static void cli_on_timer_closed(uv_handle_t *h)
{
    struct rpc_client *c = h->data;
    if (--c->timers_open == 0)
        cli_unref(c);
}

void rpc_client_close(struct rpc_client *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct rpc_call *chain = NULL;
    while (c->dhead)
        call_detach(c, c->dhead, &chain);
    if (c->conn)
        conn_close(c->conn, RPC_CLOSE_SHUTDOWN);
    uv_close((uv_handle_t *)&c->retry_timer, cli_on_timer_closed);
    uv_close((uv_handle_t *)&c->deadline_timer, cli_on_timer_closed);
    chain_complete(c, chain, CAIRN_SHUTDOWN);
}

void rpc_client_get_stats(const struct rpc_client *c, struct rpc_client_stats *out)
{
    *out = c->st;
    out->inflight = hmap_len(&c->calls);
}
