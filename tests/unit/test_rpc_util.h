/*
 * test_rpc_util.h: fixtures shared by the test_rpc*.c binaries: a loop
 * pumped until a predicate holds, an env of one rpc server and client on
 * 127.0.0.1, and raw non-blocking sockets that send crafted bytes (frames,
 * handshakes) while the loop is pumped. Header-only (static inline
 * functions) so each test binary is one file plus this header.
 *
 * Memory: every env, raw socket and buffer is owned by the calling case and
 * released by its env_stop() / raw_close(); single-threaded (the case's loop).
 */
#ifndef CAIRN_TEST_RPC_UTIL_H
#define CAIRN_TEST_RPC_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/prng.h"
#include "common/time.h"
#include "rpc/rpc.h"
#include "test.h"
#include "wire/frame.h"
#include "wire/msg_rpc.h"

/* Upper bound on any wait in these tests: a failure bound, not a speed
 * assertion (ASan runs are several times slower). */
#define WAIT_MS 20000u
#define SECRET "test-cluster-secret-0123456789"
#define OTHER_SECRET "another-secret-not-the-cluster-one"
#define T_ASYNC 100 /* request type whose handler replies later */
#define T_ONEWAY 101
#define SHORT_MS 500u /* a timeout under test */

/* --- loop pumping ---------------------------------------------------- */

static inline void tick_cb(uv_timer_t *t) { (void)t; }

typedef int (*pred_fn)(void *arg);

/* Run the loop until pred holds (a 1 ms ticker keeps it turning so raw
 * sockets, which the loop does not watch, are polled). 1 if pred held. */
static inline int run_until(uv_loop_t *loop, pred_fn pred, void *arg, uint32_t timeout_ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tick_cb, 1, 1);
    uint64_t end = time_mono_ms() + timeout_ms;
    int ok;
    while (!(ok = pred(arg)) && time_mono_ms() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static inline int pred_never(void *arg) { return (void)arg, 0; }

/* Let the loop run for about ms (used only to give bad things a chance to
 * happen before checking that they did not). */
static inline void pump(uv_loop_t *loop, uint32_t ms) { run_until(loop, pred_never, NULL, ms); }

/* --- environment: a server and one good client on one loop ----------- */

struct env {
    uv_loop_t loop;
    struct rpc_secret secret;
    struct rpc_server *srv;
    struct rpc_client *good;
    char addr[32];
    uint16_t port;
    int served;
};

static inline struct rpc_client_cfg client_cfg(const char *name)
{
    struct rpc_client_cfg cfg = {.name = name, .seed = test_seed()};
    cfg.limits.backoff_min_ms = 5;
    cfg.limits.backoff_max_ms = 50;
    return cfg;
}

static inline struct rpc_client *env_client(struct env *e, const struct rpc_secret *s,
                                            const char *name)
{
    const char *addrs[] = {e->addr};
    struct rpc_client_cfg cfg = client_cfg(name);
    struct rpc_client *c;
    CHECK_OK(rpc_client_new(&e->loop, addrs, 1, s, &cfg, &c));
    return c;
}

static inline struct rpc_server *server_on(uv_loop_t *loop, const struct rpc_secret *s,
                                           const char *name, const struct rpc_limits *lim,
                                           uint16_t port)
{
    struct rpc_server_cfg cfg = {.secret = s, .name = name};
    if (lim)
        cfg.limits = *lim;
    struct rpc_server *srv;
    CHECK_OK(rpc_server_new(loop, &cfg, &srv));
    CHECK_OK(rpc_server_listen(srv, "127.0.0.1", port));
    CHECK(rpc_server_port(srv) != 0);
    return srv;
}

static inline void env_start(struct env *e, const struct rpc_limits *lim)
{
    memset(e, 0, sizeof *e);
    cairn_log_set_level(CAIRN_LOG_WARN);
    CHECK_EQ(uv_loop_init(&e->loop), 0);
    CHECK_OK(rpc_secret_set(&e->secret, SECRET, strlen(SECRET)));
    e->srv = server_on(&e->loop, &e->secret, "test", lim, 0);
    e->port = rpc_server_port(e->srv);
    snprintf(e->addr, sizeof e->addr, "127.0.0.1:%u", (unsigned)e->port);
    e->good = env_client(e, &e->secret, "good");
}

/* The good client gets a correct echo of a fresh payload. */
static inline void env_check_served(struct env *e)
{
    char msg[64];
    int n = snprintf(msg, sizeof msg, "served #%d", ++e->served);
    struct cairn_buf req, rep;
    buf_init(&req, 0);
    buf_init(&rep, 0);
    CHECK_OK(wire_echo_encode(&req, msg, (size_t)n));
    uint16_t type = 0;
    CHECK_OK(rpc_call_sync(e->good, WIRE_ECHO, req.data, req.len, WAIT_MS, &type, &rep));
    CHECK_EQ(type, WIRE_ECHO_REPLY);
    CHECK_EQ(rep.len, req.len);
    CHECK_MEM_EQ(rep.data, req.data, req.len);
    buf_free(&req);
    buf_free(&rep);
}

static inline struct rpc_server_stats srv_stats(struct rpc_server *s)
{
    struct rpc_server_stats st;
    rpc_server_get_stats(s, &st);
    return st;
}

static inline struct rpc_client_stats cli_stats(struct rpc_client *c)
{
    struct rpc_client_stats st;
    rpc_client_get_stats(c, &st);
    return st;
}

/* Close everything and run the loop dry: every handle must be closed and
 * every byte freed (ASan checks the latter in `make test SAN=1`). */
static inline void env_stop(struct env *e)
{
    if (e->good)
        rpc_client_close(e->good);
    if (e->srv)
        rpc_server_close(e->srv);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&e->loop), 0);
}

/* --- raw sockets ------------------------------------------------------ */

struct raw {
    struct env *e;
    int fd;
    struct cairn_buf in;
    int eof;
};

static inline void set_nonblock(int fd)
{
    CHECK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
}

static inline struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* Connect (blocking: the kernel completes it from the listen queue without
 * the loop), then switch to non-blocking I/O. */
static inline void raw_open(struct raw *r, struct env *e, int rcvbuf)
{
    memset(r, 0, sizeof *r);
    r->e = e;
    buf_init(&r->in, 0);
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(r->fd >= 0);
    if (rcvbuf)
        CHECK(setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
    struct sockaddr_in a = loopback(e->port);
    CHECKF(connect(r->fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
    set_nonblock(r->fd);
}

static inline void raw_close(struct raw *r)
{
    close(r->fd);
    buf_free(&r->in);
}

/* Read what is there; note EOF or reset. */
static inline void raw_poll(struct raw *r)
{
    uint8_t tmp[65536];
    while (!r->eof) {
        ssize_t n = recv(r->fd, tmp, sizeof tmp, 0);
        if (n > 0) {
            CHECK_OK(buf_append(&r->in, tmp, (size_t)n));
        } else if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            r->eof = 1;
        } else {
            CHECKF(errno == EAGAIN || errno == EWOULDBLOCK, "recv: %s", strerror(errno));
            return;
        }
    }
}

struct raw_send_state {
    struct raw *r;
    const uint8_t *p;
    size_t n;
};

static inline int pred_sent(void *arg)
{
    struct raw_send_state *s = arg;
    while (s->n > 0) {
        ssize_t k = send(s->r->fd, s->p, s->n, MSG_NOSIGNAL);
        if (k < 0) {
            CHECKF(errno == EAGAIN || errno == EWOULDBLOCK, "send: %s", strerror(errno));
            return 0;
        }
        s->p += k;
        s->n -= (size_t)k;
    }
    return 1;
}

static inline void raw_send(struct raw *r, const void *p, size_t n)
{
    struct raw_send_state s = {r, p, n};
    CHECKF(run_until(&r->e->loop, pred_sent, &s, WAIT_MS), "raw send stalled");
}

static inline void raw_send_frame(struct raw *r, uint16_t type, uint32_t flags, uint64_t id,
                                  const void *payload, size_t len)
{
    struct cairn_buf f;
    buf_init(&f, 0);
    CHECK_OK(wire_frame_encode(&f, type, flags, id, payload, len));
    raw_send(r, f.data, f.len);
    buf_free(&f);
}

struct raw_frame {
    struct wire_header h;
    uint8_t *payload; /* malloc'd copy */
};

/* Take one whole frame from the input buffer if present. */
static inline int raw_take_frame(struct raw *r, struct raw_frame *f)
{
    const uint8_t *pl;
    size_t flen;
    CHECK_OK(wire_frame_parse(r->in.data, r->in.len, &f->h, &pl, &flen));
    if (flen == 0)
        return 0;
    f->payload = malloc(f->h.len + 1);
    memcpy(f->payload, pl, f->h.len);
    buf_consume(&r->in, flen);
    return 1;
}

struct raw_recv_state {
    struct raw *r;
    struct raw_frame *f;
};

static inline int pred_frame(void *arg)
{
    struct raw_recv_state *s = arg;
    raw_poll(s->r);
    return raw_take_frame(s->r, s->f) || s->r->eof;
}

static inline void raw_recv(struct raw *r, struct raw_frame *f)
{
    struct raw_recv_state s = {r, f};
    f->payload = NULL;
    CHECKF(run_until(&r->e->loop, pred_frame, &s, WAIT_MS), "no frame arrived");
    CHECKF(f->payload != NULL, "connection closed instead of a frame");
}

static inline int pred_eof(void *arg)
{
    struct raw *r = arg;
    raw_poll(r);
    return r->eof;
}

/* The server closed this connection. */
static inline void raw_wait_closed(struct raw *r)
{
    CHECKF(run_until(&r->e->loop, pred_eof, r, WAIT_MS), "connection was not closed");
}

/* The handshake by hand, checking the server's proof like a client does. */
static inline void raw_handshake(struct raw *r, const struct rpc_secret *s)
{
    struct wire_hello h = {.proto = WIRE_VERSION, .name = (const uint8_t *)"raw", .name_len = 3};
    prng_fill(test_rng(), h.client_nonce, WIRE_NONCE_SIZE);
    struct cairn_buf p;
    buf_init(&p, 0);
    CHECK_OK(wire_hello_encode(&p, &h));
    raw_send_frame(r, WIRE_HELLO, 0, 0, p.data, p.len);
    struct raw_frame f;
    raw_recv(r, &f);
    CHECK_EQ(f.h.type, WIRE_HELLO_REPLY);
    CHECK_EQ(f.h.flags, WIRE_FLAG_REPLY);
    struct wire_hello_reply hr;
    CHECK_OK(wire_hello_reply_decode(f.payload, f.h.len, &hr));
    free(f.payload);
    uint8_t want[WIRE_MAC_SIZE];
    CHECK_OK(rpc_proof(s, RPC_LABEL_SERVER, h.client_nonce, hr.server_nonce, want));
    CHECK_MEM_EQ(want, hr.server_proof, WIRE_MAC_SIZE);
    struct wire_auth a;
    CHECK_OK(rpc_proof(s, RPC_LABEL_CLIENT, hr.server_nonce, h.client_nonce, a.client_proof));
    buf_reset(&p);
    CHECK_OK(wire_auth_encode(&p, &a));
    raw_send_frame(r, WIRE_AUTH, 0, 0, p.data, p.len);
    raw_recv(r, &f);
    CHECK_EQ(f.h.type, WIRE_AUTH_REPLY);
    CHECK_EQ(f.h.len, 0);
    free(f.payload);
    buf_free(&p);
}

struct reason_wait {
    struct rpc_server *s;
    enum rpc_close_reason why;
    uint64_t want;
};

static inline int pred_reason(void *arg)
{
    struct reason_wait *w = arg;
    return srv_stats(w->s).closed[w->why] >= w->want;
}

/* One bad-input case: the good client is served, a raw connection (after
 * the handshake if authed) sends `bad`, the server closes it for `why`,
 * and the good client is still served. */
static inline void bad_input_case(const struct rpc_limits *lim, int authed, const void *bad,
                                  size_t n, int eof_after, enum rpc_close_reason why)
{
    struct env e;
    env_start(&e, lim);
    env_check_served(&e);
    struct raw r;
    raw_open(&r, &e, 0);
    if (authed)
        raw_handshake(&r, &e.secret);
    if (n)
        raw_send(&r, bad, n);
    if (eof_after)
        CHECK(shutdown(r.fd, SHUT_WR) == 0);
    raw_wait_closed(&r);
    struct reason_wait w = {e.srv, why, 1};
    CHECKF(run_until(&e.loop, pred_reason, &w, WAIT_MS), "not closed for: %s",
           rpc_close_reason_text(why));
    struct rpc_server_stats st = srv_stats(e.srv);
    for (int i = RPC_CLOSE_NONE + 1; i < RPC_CLOSE_REASONS; i++)
        CHECKF(i == (int)why || st.closed[i] == 0, "unexpected close: %s",
               rpc_close_reason_text((enum rpc_close_reason)i));
    CHECK_EQ(st.conns_open, 1); /* the good client's */
    env_check_served(&e);
    raw_close(&r);
    env_stop(&e);
}

/* A valid PING request frame, for corrupting. */
static inline void ping_frame(struct cairn_buf *f, uint64_t id)
{
    buf_init(f, 0);
    CHECK_OK(wire_frame_encode(f, WIRE_PING, 0, id, NULL, 0));
}

struct accept_state {
    int lfd;
    int fd;
};

static inline int pred_accept(void *arg)
{
    struct accept_state *a = arg;
    a->fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return a->fd >= 0;
}

/* A free port with nothing listening (bound then closed). */
static inline uint16_t dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = loopback(0);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t al = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* --- secret, proofs, addresses ---------------------------------------- */

#endif /* CAIRN_TEST_RPC_UTIL_H */
