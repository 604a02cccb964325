/* test_rpc.c: the RPC layer over real 127.0.0.1 sockets, one loop per
 * case. Well-behaved peers are rpc clients and servers; hostile ones are
 * raw non-blocking sockets sending crafted bytes while the loop is pumped.
 * After every bad input, the server's close-reason counter must show why
 * the connection went, and a good client must be served before and after. */
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

static void tick_cb(uv_timer_t *t) { (void)t; }

typedef int (*pred_fn)(void *arg);

/* Run the loop until pred holds (a 1 ms ticker keeps it turning so raw
 * sockets, which the loop does not watch, are polled). 1 if pred held. */
static int run_until(uv_loop_t *loop, pred_fn pred, void *arg, uint32_t timeout_ms)
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

static int pred_never(void *arg) { return (void)arg, 0; }

/* Let the loop run for about ms (used only to give bad things a chance to
 * happen before checking that they did not). */
static void pump(uv_loop_t *loop, uint32_t ms) { run_until(loop, pred_never, NULL, ms); }

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

static struct rpc_client_cfg client_cfg(const char *name)
{
    struct rpc_client_cfg cfg = {.name = name, .seed = test_seed()};
    cfg.limits.backoff_min_ms = 5;
    cfg.limits.backoff_max_ms = 50;
    return cfg;
}

static struct rpc_client *env_client(struct env *e, const struct rpc_secret *s, const char *name)
{
    const char *addrs[] = {e->addr};
    struct rpc_client_cfg cfg = client_cfg(name);
    struct rpc_client *c;
    CHECK_OK(rpc_client_new(&e->loop, addrs, 1, s, &cfg, &c));
    return c;
}

static struct rpc_server *server_on(uv_loop_t *loop, const struct rpc_secret *s, const char *name,
                                    const struct rpc_limits *lim, uint16_t port)
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

static void env_start(struct env *e, const struct rpc_limits *lim)
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
static void env_check_served(struct env *e)
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

static struct rpc_server_stats srv_stats(struct rpc_server *s)
{
    struct rpc_server_stats st;
    rpc_server_get_stats(s, &st);
    return st;
}

static struct rpc_client_stats cli_stats(struct rpc_client *c)
{
    struct rpc_client_stats st;
    rpc_client_get_stats(c, &st);
    return st;
}

/* Close everything and run the loop dry: every handle must be closed and
 * every byte freed (ASan checks the latter in `make test SAN=1`). */
static void env_stop(struct env *e)
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

static void set_nonblock(int fd)
{
    CHECK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
}

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* Connect (blocking: the kernel completes it from the listen queue without
 * the loop), then switch to non-blocking I/O. */
static void raw_open(struct raw *r, struct env *e, int rcvbuf)
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

static void raw_close(struct raw *r)
{
    close(r->fd);
    buf_free(&r->in);
}

/* Read what is there; note EOF or reset. */
static void raw_poll(struct raw *r)
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

static int pred_sent(void *arg)
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

static void raw_send(struct raw *r, const void *p, size_t n)
{
    struct raw_send_state s = {r, p, n};
    CHECKF(run_until(&r->e->loop, pred_sent, &s, WAIT_MS), "raw send stalled");
}

static void raw_send_frame(struct raw *r, uint16_t type, uint32_t flags, uint64_t id,
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
static int raw_take_frame(struct raw *r, struct raw_frame *f)
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

static int pred_frame(void *arg)
{
    struct raw_recv_state *s = arg;
    raw_poll(s->r);
    return raw_take_frame(s->r, s->f) || s->r->eof;
}

static void raw_recv(struct raw *r, struct raw_frame *f)
{
    struct raw_recv_state s = {r, f};
    f->payload = NULL;
    CHECKF(run_until(&r->e->loop, pred_frame, &s, WAIT_MS), "no frame arrived");
    CHECKF(f->payload != NULL, "connection closed instead of a frame");
}

static int pred_eof(void *arg)
{
    struct raw *r = arg;
    raw_poll(r);
    return r->eof;
}

/* The server closed this connection. */
static void raw_wait_closed(struct raw *r)
{
    CHECKF(run_until(&r->e->loop, pred_eof, r, WAIT_MS), "connection was not closed");
}

/* The handshake by hand, checking the server's proof like a client does. */
static void raw_handshake(struct raw *r, const struct rpc_secret *s)
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

static int pred_reason(void *arg)
{
    struct reason_wait *w = arg;
    return srv_stats(w->s).closed[w->why] >= w->want;
}

/* One bad-input case: the good client is served, a raw connection (after
 * the handshake if authed) sends `bad`, the server closes it for `why`,
 * and the good client is still served. */
static void bad_input_case(const struct rpc_limits *lim, int authed, const void *bad, size_t n,
                           int eof_after, enum rpc_close_reason why)
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
static void ping_frame(struct cairn_buf *f, uint64_t id)
{
    buf_init(f, 0);
    CHECK_OK(wire_frame_encode(f, WIRE_PING, 0, id, NULL, 0));
}

struct accept_state {
    int lfd;
    int fd;
};

static int pred_accept(void *arg)
{
    struct accept_state *a = arg;
    a->fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return a->fd >= 0;
}

/* A free port with nothing listening (bound then closed). */
static uint16_t dead_port(void)
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

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, p, n) == (ssize_t)n);
    CHECK(fchmod(fd, mode) == 0);
    close(fd);
}

TEST(secret_file)
{
    cairn_log_set_level(CAIRN_LOG_OFF);
    char path[600];
    snprintf(path, sizeof path, "%s/secret", test_tmpdir());
    struct rpc_secret a, b;
    /* A trailing newline (or CRLF) is not part of the secret. */
    write_file(path, SECRET "\n", strlen(SECRET) + 1, 0600);
    CHECK_OK(rpc_secret_load(path, &a));
    CHECK_EQ(a.len, strlen(SECRET));
    CHECK_MEM_EQ(a.key, SECRET, a.len);
    write_file(path, SECRET, strlen(SECRET), 0600);
    CHECK_OK(rpc_secret_load(path, &b));
    CHECK_EQ(b.len, a.len);
    CHECK_MEM_EQ(b.key, a.key, a.len);
    write_file(path, SECRET "\r\n", strlen(SECRET) + 2, 0600);
    CHECK_OK(rpc_secret_load(path, &b));
    CHECK_EQ(b.len, a.len);
    /* Only one newline goes: a second one is secret material. */
    write_file(path, SECRET "\n\n", strlen(SECRET) + 2, 0600);
    CHECK_OK(rpc_secret_load(path, &b));
    CHECK_EQ(b.len, a.len + 1);
    /* Sizes: 15 bytes too short, 16 fine, 4096 fine, 4097 too long. */
    char big[CAIRN_SECRET_MAX + 2];
    memset(big, 'k', sizeof big);
    write_file(path, big, CAIRN_SECRET_MIN - 1, 0600);
    CHECK_EQ(rpc_secret_load(path, &b), CAIRN_EINVAL);
    write_file(path, big, CAIRN_SECRET_MIN, 0600);
    CHECK_OK(rpc_secret_load(path, &b));
    write_file(path, big, CAIRN_SECRET_MAX, 0600);
    CHECK_OK(rpc_secret_load(path, &b));
    CHECK_EQ(b.len, CAIRN_SECRET_MAX);
    write_file(path, big, CAIRN_SECRET_MAX + 1, 0600);
    CHECK_EQ(rpc_secret_load(path, &b), CAIRN_TOOBIG);
    write_file(path, big, sizeof big, 0600);
    CHECK_EQ(rpc_secret_load(path, &b), CAIRN_TOOBIG);
    /* Permissions: others may not read it; the group may (with a warning). */
    write_file(path, SECRET, strlen(SECRET), 0644);
    CHECK_EQ(rpc_secret_load(path, &b), CAIRN_EACCES);
    write_file(path, SECRET, strlen(SECRET), 0602);
    CHECK_EQ(rpc_secret_load(path, &b), CAIRN_EACCES);
    write_file(path, SECRET, strlen(SECRET), 0640);
    CHECK_OK(rpc_secret_load(path, &b));
    snprintf(path, sizeof path, "%s/missing", test_tmpdir());
    CHECK_EQ(rpc_secret_load(path, &b), CAIRN_ENOENT);
    CHECK_EQ(rpc_secret_load(test_tmpdir(), &b), CAIRN_EINVAL); /* a directory */
    rpc_secret_wipe(&b);
    CHECK_EQ(b.len, 0);
    CHECK_EQ(rpc_secret_set(&b, "short", 5), CAIRN_EINVAL);
}

/* Proofs against HMAC-SHA256 values computed independently (Python's
 * hmac module) for the layout of wire.h. */
TEST(proof_vectors)
{
    struct rpc_secret s;
    const char *key = "0123456789abcdef-cairn-test-secret";
    CHECK_OK(rpc_secret_set(&s, key, strlen(key)));
    uint8_t cn[32], sn[32], out[32];
    for (int i = 0; i < 32; i++) {
        cn[i] = (uint8_t)i;
        sn[i] = (uint8_t)(32 + i);
    }
    static const uint8_t server[32] = {0x78, 0x29, 0x64, 0x7f, 0x9c, 0x10, 0x12, 0xfd,
                                       0xbb, 0xa9, 0x8c, 0x11, 0x86, 0x97, 0x9d, 0x7f,
                                       0x8b, 0x9b, 0x28, 0x8a, 0xf3, 0x84, 0x0c, 0xd9,
                                       0xf3, 0x62, 0x8f, 0x24, 0x4d, 0xd7, 0x24, 0x27};
    static const uint8_t client[32] = {0xd9, 0xe5, 0xb8, 0x20, 0x27, 0x98, 0x6f, 0x6b,
                                       0x8c, 0x97, 0xe7, 0x3a, 0xa2, 0x03, 0xd2, 0x42,
                                       0xe2, 0xee, 0xbf, 0x83, 0x47, 0x23, 0xeb, 0x43,
                                       0x60, 0x02, 0x84, 0x24, 0x79, 0x1b, 0x95, 0x27};
    CHECK_OK(rpc_proof(&s, RPC_LABEL_SERVER, cn, sn, out));
    CHECK_MEM_EQ(out, server, 32);
    CHECK_OK(rpc_proof(&s, RPC_LABEL_CLIENT, sn, cn, out));
    CHECK_MEM_EQ(out, client, 32);
    /* Nonces: two draws differ (2^-256 chance of a false failure). */
    uint8_t n1[32], n2[32];
    CHECK_OK(rpc_random(n1, sizeof n1));
    CHECK_OK(rpc_random(n2, sizeof n2));
    CHECK(memcmp(n1, n2, 32) != 0);
}

TEST(addr_parse)
{
    struct sockaddr_storage ss;
    CHECK_OK(rpc_addr_parse("127.0.0.1:7000", &ss));
    CHECK_EQ(ss.ss_family, AF_INET);
    CHECK_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), 7000);
    CHECK_OK(rpc_addr_parse("localhost:0", &ss));
    CHECK_EQ(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    CHECK_OK(rpc_addr_parse("[::1]:65535", &ss));
    CHECK_EQ(ss.ss_family, AF_INET6);
    const char *bad[] = {
        "",           ":",          "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "1.2.3.4:-1",
        "1.2.3.4:+5", "1.2.3.4:5x", "[::1:5",    "::1:5",      "host.example:80", "999.1.1.1:1",
        ":80"};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bad); i++)
        CHECKF(rpc_addr_parse(bad[i], &ss) == CAIRN_EINVAL, "accepted \"%s\"", bad[i]);
    CHECK_EQ(rpc_addr_parse(NULL, &ss), CAIRN_EINVAL);
}

/* --- the echo service under load ---------------------------------------- */

#define ECHO_CLIENTS 16
#define ECHO_TOTAL 10000
#define ECHO_WINDOW 24

struct echo_req {
    int client;
    int seq;
    uint8_t *payload; /* the ECHO payload sent */
    size_t len;
    int done;
};

struct echo_load {
    struct env *e;
    struct rpc_client *c[ECHO_CLIENTS];
    struct echo_req *reqs; /* ECHO_TOTAL, client-major */
    int next[ECHO_CLIENTS];
    int completed;
    int per_client;
};

static void echo_issue(struct echo_load *L, int ci);
static struct echo_load *echo_load; /* the running load, for callbacks */

static void echo_done(struct rpc_client *c, int status, const struct rpc_msg *m, void *arg)
{
    struct echo_req *q = arg;
    struct echo_load *L = echo_load;
    CHECKF(status == 0, "client %d request %d: %s", q->client, q->seq, cairn_err_name(status));
    CHECK(c == L->c[q->client]);
    CHECK_EQ(m->type, WIRE_ECHO_REPLY);
    /* The reply must be this request's own bytes: they carry its client and
     * sequence number, so a reply routed to the wrong request fails here. */
    CHECKF(m->len == q->len && memcmp(m->payload, q->payload, q->len) == 0,
           "client %d request %d: reply does not match", q->client, q->seq);
    struct wire_bytes d;
    CHECK_OK(wire_echo_decode(m->payload, m->len, &d));
    int ci = -1, seq = -1;
    CHECK(sscanf((const char *)d.p, "client=%d seq=%d;", &ci, &seq) == 2);
    CHECK(ci == q->client && seq == q->seq);
    CHECK(!q->done);
    q->done = 1;
    L->completed++;
    echo_issue(L, q->client);
}

/* Build request (ci, seq): identity text, then random bytes of a random
 * length (mostly small, now and then up to 200 KB). */
static void echo_issue(struct echo_load *L, int ci)
{
    if (L->next[ci] >= L->per_client)
        return;
    int seq = L->next[ci]++;
    struct echo_req *q = &L->reqs[ci * L->per_client + seq];
    struct prng *r = test_rng();
    char id[48];
    int idn = snprintf(id, sizeof id, "client=%d seq=%d;", ci, seq);
    size_t extra = prng_chance(r, 1, 50) ? (size_t)prng_below(r, 200000) : prng_below(r, 600);
    uint8_t *data = malloc((size_t)idn + extra + 1);
    memcpy(data, id, (size_t)idn + 1);
    prng_fill(r, data + idn + 1, extra);
    struct cairn_buf b;
    buf_init(&b, 0);
    CHECK_OK(wire_echo_encode(&b, data, (size_t)idn + 1 + extra));
    free(data);
    q->client = ci;
    q->seq = seq;
    q->payload = buf_steal(&b, &q->len);
    CHECK_OK(rpc_call(L->c[ci], WIRE_ECHO, q->payload, q->len, WAIT_MS, echo_done, q));
}

static int pred_echo_done(void *arg)
{
    struct echo_load *L = arg;
    return L->completed == ECHO_TOTAL;
}

TEST_T(echo_16_clients_10000_requests, 120)
{
    struct env e;
    env_start(&e, NULL);
    struct echo_load L = {.e = &e, .per_client = ECHO_TOTAL / ECHO_CLIENTS};
    _Static_assert(ECHO_TOTAL % ECHO_CLIENTS == 0, "equal shares");
    L.reqs = calloc(ECHO_TOTAL, sizeof *L.reqs);
    echo_load = &L;
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        char name[24];
        snprintf(name, sizeof name, "echo-%d", i);
        L.c[i] = env_client(&e, &e.secret, name);
    }
    /* The first windows are issued before any client is connected: they
     * wait in the clients' queues and go out after the handshake. */
    for (int w = 0; w < ECHO_WINDOW; w++)
        for (int i = 0; i < ECHO_CLIENTS; i++)
            echo_issue(&L, i);
    CHECK(run_until(&e.loop, pred_echo_done, &L, 100000));
    for (int i = 0; i < ECHO_TOTAL; i++) {
        CHECKF(L.reqs[i].done, "request %d never completed", i);
        free(L.reqs[i].payload);
    }
    struct rpc_server_stats st = srv_stats(e.srv);
    CHECK_EQ_U64(st.authenticated, ECHO_CLIENTS + 1);
    CHECK(st.requests >= ECHO_TOTAL);
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        struct rpc_client_stats cs = cli_stats(L.c[i]);
        CHECK_EQ(cs.handshakes, 1);
        CHECK_EQ(cs.inflight, 0);
        rpc_client_close(L.c[i]);
    }
    free(L.reqs);
    env_stop(&e);
}

/* --- authentication --------------------------------------------------- */

static int pred_auth_failed(void *arg) { return cli_stats(arg).auth_failures >= 1; }

/* An rpc client with the wrong secret: it finds the server's proof wrong
 * and hangs up before proving anything; its calls run into their deadline.
 * A raw client that sends a wrong proof is refused by the server with an
 * ERROR reply (CAIRN_AUTH) and a close. */
TEST(wrong_secret_refused)
{
    struct env e;
    env_start(&e, NULL);
    env_check_served(&e);
    struct rpc_secret other;
    CHECK_OK(rpc_secret_set(&other, OTHER_SECRET, strlen(OTHER_SECRET)));
    struct rpc_client *bad = env_client(&e, &other, "wrong-secret");
    CHECK(run_until(&e.loop, pred_auth_failed, bad, WAIT_MS));
    CHECK_EQ(rpc_call_sync(bad, WIRE_PING, NULL, 0, 100, NULL, NULL), CAIRN_ETIMEDOUT);
    struct rpc_client_stats cs = cli_stats(bad);
    CHECK(cs.auth_failures >= 1);
    CHECK_EQ(cs.last_error, CAIRN_AUTH);
    CHECK_EQ(cs.handshakes, 0);
    rpc_client_close(bad);

    struct raw r;
    raw_open(&r, &e, 0);
    struct wire_hello h = {.proto = WIRE_VERSION};
    struct cairn_buf p;
    buf_init(&p, 0);
    CHECK_OK(wire_hello_encode(&p, &h));
    raw_send_frame(&r, WIRE_HELLO, 0, 0, p.data, p.len);
    struct raw_frame f;
    raw_recv(&r, &f);
    CHECK_EQ(f.h.type, WIRE_HELLO_REPLY);
    struct wire_hello_reply hr;
    CHECK_OK(wire_hello_reply_decode(f.payload, f.h.len, &hr));
    free(f.payload);
    struct wire_auth a;
    CHECK_OK(rpc_proof(&other, RPC_LABEL_CLIENT, hr.server_nonce, h.client_nonce, a.client_proof));
    buf_reset(&p);
    CHECK_OK(wire_auth_encode(&p, &a));
    raw_send_frame(&r, WIRE_AUTH, 0, 0, p.data, p.len);
    raw_recv(&r, &f);
    CHECK_EQ(f.h.flags, WIRE_FLAG_REPLY | WIRE_FLAG_ERROR);
    struct wire_error err;
    CHECK_OK(wire_error_decode(f.payload, f.h.len, &err));
    CHECK_EQ(err.code, CAIRN_AUTH);
    free(f.payload);
    raw_wait_closed(&r);
    struct reason_wait w = {e.srv, RPC_CLOSE_AUTH_FAILED, 1};
    CHECK(run_until(&e.loop, pred_reason, &w, WAIT_MS));
    struct rpc_server_stats st = srv_stats(e.srv);
    CHECK_EQ(st.authenticated, 1); /* the good client only */
    CHECK_EQ(st.requests, 1);      /* its one echo: nothing from the others */
    env_check_served(&e);
    raw_close(&r);
    buf_free(&p);
    env_stop(&e);
}

/* The fake server saw its connection end, whatever the reason. */
static int pred_fake_done(void *arg)
{
    struct rpc_server_stats st = srv_stats(arg);
    return st.conns_open == 0 && st.accepted > 0;
}

/* Mutual: a server that does not hold the client's secret is refused by
 * the client, which never sends its own proof (nothing for a fake server
 * to replay or attack offline). */
TEST(fake_server_refused)
{
    struct env e;
    env_start(&e, NULL);
    rpc_client_close(e.good);
    e.good = NULL;
    struct rpc_secret other;
    CHECK_OK(rpc_secret_set(&other, OTHER_SECRET, strlen(OTHER_SECRET)));
    struct rpc_server *fake = server_on(&e.loop, &other, "fake", NULL, 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)rpc_server_port(fake));
    const char *addrs[] = {addr};
    struct rpc_client_cfg cfg = client_cfg("victim");
    struct rpc_client *c;
    CHECK_OK(rpc_client_new(&e.loop, addrs, 1, &e.secret, &cfg, &c));
    CHECK(run_until(&e.loop, pred_auth_failed, c, WAIT_MS));
    CHECK_EQ(rpc_call_sync(c, WIRE_PING, NULL, 0, 100, NULL, NULL), CAIRN_ETIMEDOUT);
    struct rpc_client_stats cs = cli_stats(c);
    CHECK(cs.auth_failures >= 1);
    CHECK_EQ(cs.last_error, CAIRN_AUTH);
    CHECK_EQ(cs.handshakes, 0);
    CHECK(run_until(&e.loop, pred_fake_done, fake, WAIT_MS));
    struct rpc_server_stats st = srv_stats(fake);
    CHECK_EQ(st.authenticated, 0);
    CHECK_EQ(st.closed[RPC_CLOSE_AUTH_FAILED], 0); /* no AUTH frame ever came */
    CHECK_EQ(st.closed[RPC_CLOSE_NOT_AUTHED], 0);
    CHECK(st.closed[RPC_CLOSE_PEER] >= 1); /* the client hung up */
    rpc_client_close(c);
    rpc_server_close(fake);
    env_stop(&e);
}

/* A raw fake server that answers HELLO with a made-up proof, then one that
 * answers with garbage: the client refuses both and stays usable. */
TEST(fake_raw_server_refused)
{
    cairn_log_set_level(CAIRN_LOG_ERROR);
    struct env e = {0};
    CHECK_EQ(uv_loop_init(&e.loop), 0);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = loopback(0);
    CHECK(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(lfd, 8) == 0);
    socklen_t al = sizeof a;
    CHECK(getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
    set_nonblock(lfd);
    struct rpc_secret s;
    CHECK_OK(rpc_secret_set(&s, SECRET, strlen(SECRET)));
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    const char *addrs[] = {addr};
    struct rpc_client_cfg cfg = client_cfg("victim");
    cfg.limits.backoff_min_ms = 200; /* one connection per round below */
    cfg.limits.backoff_max_ms = 200;
    struct rpc_client *c;
    CHECK_OK(rpc_client_new(&e.loop, addrs, 1, &s, &cfg, &c));
    for (int round = 0; round < 2; round++) {
        struct accept_state as = {lfd, -1};
        CHECK(run_until(&e.loop, pred_accept, &as, WAIT_MS));
        struct raw r = {.e = &e, .fd = as.fd};
        buf_init(&r.in, 0);
        struct raw_frame f;
        raw_recv(&r, &f);
        CHECK_EQ(f.h.type, WIRE_HELLO);
        free(f.payload);
        uint8_t junk[64];
        prng_fill(test_rng(), junk, sizeof junk);
        struct cairn_buf fr;
        buf_init(&fr, 0);
        if (round == 0) /* a HELLO_REPLY with a made-up nonce and proof */
            CHECK_OK(wire_frame_encode(&fr, WIRE_HELLO_REPLY, WIRE_FLAG_REPLY, 0, junk, 64));
        else /* not our protocol at all */
            CHECK_OK(buf_append(&fr, "HTTP/1.1 200 OK\r\n\r\n", 19));
        raw_send(&r, fr.data, fr.len);
        buf_free(&fr);
        raw_wait_closed(&r);
        CHECK_EQ(r.in.len, 0); /* the client hung up without sending AUTH */
        struct rpc_client_stats cs = cli_stats(c);
        CHECK_EQ(cs.auth_failures, 1);
        CHECK_EQ(cs.disconnects, (uint64_t)round + 1);
        CHECK(!rpc_client_ready(c));
        raw_close(&r);
    }
    rpc_client_close(c);
    close(lfd);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&e.loop), 0);
}

/* --- bad input, one case each ------------------------------------------ */

static struct rpc_limits fast_limits(void)
{
    struct rpc_limits l = {0};
    /* Long enough that no good peer ever meets them on a loaded machine;
     * the cases about a timeout shorten that one (SHORT_MS). */
    l.auth_timeout_ms = 60000;
    l.frame_timeout_ms = 60000;
    return l;
}

TEST(bad_magic_closes)
{
    struct rpc_limits l = fast_limits();
    const char http[] = "GET / HTTP/1.0\r\n\r\n";
    bad_input_case(&l, 0, http, strlen(http), 0, RPC_CLOSE_BAD_MAGIC);
    struct cairn_buf f;
    ping_frame(&f, 1);
    f.data[3] ^= 0x20; /* "CARn": caught from the 4th byte */
    bad_input_case(&l, 1, f.data, 4, 0, RPC_CLOSE_BAD_MAGIC);
    buf_free(&f);
}

TEST(bad_version_closes)
{
    struct rpc_limits l = fast_limits();
    struct cairn_buf f;
    ping_frame(&f, 1);
    f.data[4] = 2;
    bad_input_case(&l, 1, f.data, f.len, 0, RPC_CLOSE_BAD_VERSION);
    buf_free(&f);
}

/* A HELLO announcing another protocol version gets an ERROR reply first. */
TEST(hello_bad_proto_refused)
{
    struct env e;
    struct rpc_limits l = fast_limits();
    env_start(&e, &l);
    struct raw r;
    raw_open(&r, &e, 0);
    struct wire_hello h = {.proto = WIRE_VERSION + 1};
    struct cairn_buf p;
    buf_init(&p, 0);
    CHECK_OK(wire_hello_encode(&p, &h));
    raw_send_frame(&r, WIRE_HELLO, 0, 0, p.data, p.len);
    struct raw_frame f;
    raw_recv(&r, &f);
    struct wire_error err;
    CHECK_EQ(f.h.flags, WIRE_FLAG_REPLY | WIRE_FLAG_ERROR);
    CHECK_OK(wire_error_decode(f.payload, f.h.len, &err));
    CHECK_EQ(err.code, CAIRN_BADVERSION);
    free(f.payload);
    raw_wait_closed(&r);
    struct reason_wait w = {e.srv, RPC_CLOSE_BAD_VERSION, 1};
    CHECK(run_until(&e.loop, pred_reason, &w, WAIT_MS));
    env_check_served(&e);
    raw_close(&r);
    buf_free(&p);
    env_stop(&e);
}

TEST(bad_crc_closes)
{
    struct rpc_limits l = fast_limits();
    struct cairn_buf f;
    buf_init(&f, 0);
    CHECK_OK(wire_frame_encode(&f, WIRE_ECHO, 0, 1, "\x02\x00\x00\x00hi", 6));
    f.data[f.len - 5] ^= 1; /* one payload bit */
    bad_input_case(&l, 1, f.data, f.len, 0, RPC_CLOSE_BAD_CRC);
    buf_free(&f);
}

/* Oversize: only the 24-byte header is sent; the server judges it from the
 * length field and closes without waiting for (or allocating) a payload. */
TEST(oversize_frame_closes)
{
    struct rpc_limits l = fast_limits();
    struct cairn_buf f;
    ping_frame(&f, 1);
    wire_store_u32(f.data + 20, CAIRN_FRAME_PAYLOAD_MAX + 1);
    bad_input_case(&l, 1, f.data, WIRE_HEADER_SIZE, 0, RPC_CLOSE_TOO_BIG);
    wire_store_u32(f.data + 20, 0xffffffffu);
    bad_input_case(&l, 0, f.data, WIRE_HEADER_SIZE, 0, RPC_CLOSE_TOO_BIG);
    buf_free(&f);
}

TEST(unknown_flags_close)
{
    struct rpc_limits l = fast_limits();
    struct cairn_buf f;
    ping_frame(&f, 1);
    f.data[8] = 0x80;
    bad_input_case(&l, 1, f.data, f.len, 0, RPC_CLOSE_BAD_FRAME);
    buf_free(&f);
}

TEST(truncated_frame_then_eof)
{
    struct rpc_limits l = fast_limits();
    struct cairn_buf f;
    buf_init(&f, 0);
    CHECK_OK(wire_frame_encode(&f, WIRE_ECHO, 0, 1, "\x02\x00\x00\x00hi", 6));
    bad_input_case(&l, 1, f.data, f.len - 3, 1, RPC_CLOSE_TRUNCATED);
    bad_input_case(&l, 1, f.data, 10, 1, RPC_CLOSE_TRUNCATED);
    buf_free(&f);
}

TEST(slow_frame_times_out)
{
    struct rpc_limits l = fast_limits();
    l.frame_timeout_ms = SHORT_MS;
    struct cairn_buf f;
    buf_init(&f, 0);
    CHECK_OK(wire_frame_encode(&f, WIRE_ECHO, 0, 1, "\x02\x00\x00\x00hi", 6));
    bad_input_case(&l, 1, f.data, f.len - 1, 0, RPC_CLOSE_FRAME_TIMEOUT);
    /* Also during the handshake: half a HELLO. */
    bad_input_case(&l, 0, f.data, 12, 0, RPC_CLOSE_FRAME_TIMEOUT);
    buf_free(&f);
}

TEST(request_before_auth_closes)
{
    struct rpc_limits l = fast_limits();
    struct cairn_buf f;
    ping_frame(&f, 1);
    bad_input_case(&l, 0, f.data, f.len, 0, RPC_CLOSE_NOT_AUTHED);
    buf_free(&f);
}

/* A malformed HELLO, and an AUTH with a wrong length. */
TEST(malformed_handshake_closes)
{
    struct rpc_limits l = fast_limits();
    struct cairn_buf f;
    buf_init(&f, 0);
    CHECK_OK(wire_frame_encode(&f, WIRE_HELLO, 0, 0, "\x01\x00\x00", 3));
    bad_input_case(&l, 0, f.data, f.len, 0, RPC_CLOSE_PROTOCOL);
    /* After auth, a second HELLO is a protocol violation too. */
    struct wire_hello h = {.proto = WIRE_VERSION};
    struct cairn_buf p;
    buf_init(&p, 0);
    CHECK_OK(wire_hello_encode(&p, &h));
    buf_reset(&f);
    CHECK_OK(wire_frame_encode(&f, WIRE_HELLO, 0, 0, p.data, p.len));
    bad_input_case(&l, 1, f.data, f.len, 0, RPC_CLOSE_PROTOCOL);
    /* A reply frame sent to the server as if it were a request. */
    buf_reset(&f);
    CHECK_OK(wire_frame_encode(&f, WIRE_PING, WIRE_FLAG_REPLY, 5, NULL, 0));
    bad_input_case(&l, 1, f.data, f.len, 0, RPC_CLOSE_PROTOCOL);
    buf_free(&p);
    buf_free(&f);
}

TEST(no_handshake_times_out)
{
    struct rpc_limits l = fast_limits();
    l.auth_timeout_ms = SHORT_MS;
    bad_input_case(&l, 0, NULL, 0, 0, RPC_CLOSE_AUTH_TIMEOUT);
    /* HELLO sent, AUTH never. */
    struct wire_hello h = {.proto = WIRE_VERSION};
    struct cairn_buf p, f;
    buf_init(&p, 0);
    buf_init(&f, 0);
    CHECK_OK(wire_hello_encode(&p, &h));
    CHECK_OK(wire_frame_encode(&f, WIRE_HELLO, 0, 0, p.data, p.len));
    bad_input_case(&l, 0, f.data, f.len, 0, RPC_CLOSE_AUTH_TIMEOUT);
    buf_free(&p);
    buf_free(&f);
}

/* Unknown type: an error reply, and the connection stays usable. */
TEST(unknown_type_keeps_connection)
{
    struct env e;
    env_start(&e, NULL);
    struct raw r;
    raw_open(&r, &e, 0);
    raw_handshake(&r, &e.secret);
    raw_send_frame(&r, 999, 0, 42, "x", 1);
    struct raw_frame f;
    raw_recv(&r, &f);
    CHECK_EQ(f.h.flags, WIRE_FLAG_REPLY | WIRE_FLAG_ERROR);
    CHECK_EQ_U64(f.h.req_id, 42);
    struct wire_error err;
    CHECK_OK(wire_error_decode(f.payload, f.h.len, &err));
    CHECK_EQ(err.code, CAIRN_UNKNOWNTYPE);
    free(f.payload);
    raw_send_frame(&r, WIRE_PING, 0, 43, NULL, 0);
    raw_recv(&r, &f);
    CHECK_EQ(f.h.type, WIRE_PING_REPLY);
    CHECK_EQ(f.h.flags, WIRE_FLAG_REPLY);
    CHECK_EQ_U64(f.h.req_id, 43);
    free(f.payload);
    /* Through the client: the status is the server's code, with its text. */
    struct cairn_buf msg;
    buf_init(&msg, 0);
    CHECK_EQ(rpc_call_sync(e.good, 777, NULL, 0, WAIT_MS, NULL, &msg), CAIRN_UNKNOWNTYPE);
    CHECK(msg.len > 0);
    buf_free(&msg);
    /* A malformed ECHO: error reply CAIRN_BADMSG, connection kept. */
    CHECK_EQ(rpc_call_sync(e.good, WIRE_ECHO, "\x09\x00\x00\x00", 4, WAIT_MS, NULL, NULL),
             CAIRN_BADMSG);
    env_check_served(&e);
    CHECK_EQ(srv_stats(e.srv).unknown_type, 2);
    CHECK_EQ(srv_stats(e.srv).conns_open, 2);
    raw_close(&r);
    env_stop(&e);
}

static int pred_conns(void *arg)
{
    struct reason_wait *w = arg;
    return srv_stats(w->s).conns_open == w->want;
}

/* conn_max 3: the good client and two raw connections fill the server;
 * the next connection is closed at once; when one leaves, a new one fits. */
TEST(too_many_connections)
{
    struct env e;
    struct rpc_limits l = fast_limits();
    l.conn_max = 3;
    env_start(&e, &l);
    env_check_served(&e);
    struct raw a, b, c, d;
    raw_open(&a, &e, 0);
    raw_open(&b, &e, 0);
    raw_handshake(&b, &e.secret);
    struct reason_wait w = {e.srv, RPC_CLOSE_CONN_MAX, 3};
    CHECK(run_until(&e.loop, pred_conns, &w, WAIT_MS));
    raw_open(&c, &e, 0);
    raw_wait_closed(&c);
    w.want = 1;
    CHECK(run_until(&e.loop, pred_reason, &w, WAIT_MS));
    env_check_served(&e);
    raw_close(&a);
    w.want = 2;
    CHECK(run_until(&e.loop, pred_conns, &w, WAIT_MS));
    raw_open(&d, &e, 0);
    raw_handshake(&d, &e.secret);
    raw_send_frame(&d, WIRE_PING, 0, 1, NULL, 0);
    struct raw_frame f;
    raw_recv(&d, &f);
    CHECK_EQ(f.h.type, WIRE_PING_REPLY);
    free(f.payload);
    env_check_served(&e);
    CHECK_EQ(srv_stats(e.srv).closed[RPC_CLOSE_CONN_MAX], 1);
    raw_close(&b);
    raw_close(&c);
    raw_close(&d);
    env_stop(&e);
}

/* A client that sends requests and does not read replies: the server stops
 * reading from it once its write queue passes the bound (memory stays
 * bounded), keeps serving others, and resumes when the client reads. */
struct flood {
    struct raw *r;
    struct cairn_buf out;
    size_t sent;
    int reading;
    int replies;
    int want;
    uint8_t *data;
    size_t data_len;
};

static int pred_flood(void *arg)
{
    struct flood *F = arg;
    while (F->sent < F->out.len) {
        ssize_t k = send(F->r->fd, F->out.data + F->sent, F->out.len - F->sent, MSG_NOSIGNAL);
        if (k <= 0)
            break;
        F->sent += (size_t)k;
    }
    if (!F->reading)
        return 0;
    raw_poll(F->r);
    struct raw_frame f;
    while (raw_take_frame(F->r, &f)) {
        CHECK_EQ(f.h.type, WIRE_ECHO_REPLY);
        CHECK_EQ_U64(f.h.req_id, (uint64_t)F->replies + 1); /* in order */
        CHECK_EQ(f.h.len, F->data_len);
        CHECK_MEM_EQ(f.payload, F->data, F->data_len);
        free(f.payload);
        F->replies++;
    }
    CHECK(!F->r->eof);
    return F->replies == F->want;
}

static int pred_paused(void *arg)
{
    struct flood *F = arg;
    pred_flood(F);
    return srv_stats(F->r->e->srv).pauses >= 1;
}

TEST(client_not_reading_is_paused)
{
    struct env e;
    struct rpc_limits l = {0};
    l.write_queue_max = 256 * 1024;
    env_start(&e, &l);
    env_check_served(&e);
    struct raw r;
    raw_open(&r, &e, 16 * 1024);
    raw_handshake(&r, &e.secret);
    struct flood F = {.r = &r, .want = 384};
    uint8_t chunk[64 * 1024];
    prng_fill(test_rng(), chunk, sizeof chunk);
    struct cairn_buf p;
    buf_init(&p, 0);
    CHECK_OK(wire_echo_encode(&p, chunk, sizeof chunk));
    F.data = p.data;
    F.data_len = p.len;
    buf_init(&F.out, 0);
    for (int i = 1; i <= F.want; i++) /* 24 MiB of requests */
        CHECK_OK(wire_frame_encode(&F.out, WIRE_ECHO, 0, (uint64_t)i, p.data, p.len));
    CHECK(run_until(&e.loop, pred_paused, &F, WAIT_MS));
    /* The kernel's send buffer (autotuned, up to tcp_wmem's 4 MiB) drains
     * the queue a few times and the server resumes; once it is full the
     * server stays paused: no request of the flood is handled any more. */
    uint64_t before, now = srv_stats(e.srv).requests;
    int stable = 0;
    for (int i = 0; i < 200 && !stable; i++) {
        before = now;
        run_until(&e.loop, pred_flood, &F, 100);
        now = srv_stats(e.srv).requests;
        stable = now == before;
    }
    CHECK(stable);
    CHECKF(now < (uint64_t)F.want, "all %llu requests handled", (unsigned long long)now);
    /* While it is paused, others are served; the queue of the flooding
     * connection never grew past the bound plus one reply. */
    env_check_served(&e);
    struct rpc_server_stats st = srv_stats(e.srv);
    CHECKF(st.queue_peak <= l.write_queue_max + WIRE_HEADER_SIZE + p.len + WIRE_TRAILER_SIZE,
           "write queue peaked at %llu", (unsigned long long)st.queue_peak);
    CHECK_EQ(st.conns_open, 2);
    F.reading = 1;
    CHECK(run_until(&e.loop, pred_flood, &F, 60000));
    CHECK_EQ(F.sent, F.out.len);
    st = srv_stats(e.srv);
    CHECK(st.queue_peak <= l.write_queue_max + WIRE_HEADER_SIZE + p.len + WIRE_TRAILER_SIZE);
    CHECK_EQ(st.conns_open, 2);
    env_check_served(&e);
    buf_free(&F.out);
    buf_free(&p);
    raw_close(&r);
    env_stop(&e);
}

/* --- asynchronous replies, deadlines, one-way ---------------------------- */

struct held {
    struct rpc_req *req[64];
    uint64_t tag[64];
    int n;
    int oneway;
};

/* Keep each request to answer later; its payload (a u64 tag) is copied. */
static void hold_handler(struct rpc_server *s, struct rpc_req *req, const struct rpc_msg *m,
                         void *arg)
{
    struct held *H = arg;
    CHECK(H->n < 64);
    uint64_t tag = 0;
    if (m->len == 8)
        tag = wire_load_u64(m->payload);
    H->req[H->n] = req;
    H->tag[H->n++] = tag;
}

static void oneway_handler(struct rpc_server *s, struct rpc_req *req, const struct rpc_msg *m,
                           void *arg)
{
    struct held *H = arg;
    CHECK(req == NULL);
    CHECK_EQ(m->len, 3);
    CHECK_MEM_EQ(m->payload, "one", 3);
    H->oneway++;
}

struct result {
    int done;
    int status;
    uint64_t tag;
};

static void result_cb(struct rpc_client *c, int status, const struct rpc_msg *m, void *arg)
{
    struct result *res = arg;
    CHECK(!res->done);
    res->done = 1;
    res->status = status;
    if (status == 0 && m->len == 8)
        res->tag = wire_load_u64(m->payload);
}

static int pred_held(void *arg)
{
    struct held *H = arg;
    return H->n == 8;
}

struct all_done {
    struct result *r;
    int n;
};

static int pred_all_done(void *arg)
{
    struct all_done *a = arg;
    for (int i = 0; i < a->n; i++)
        if (!a->r[i].done)
            return 0;
    return 1;
}

/* Replies come later and in any order; each lands on its own call. */
TEST(async_replies_out_of_order)
{
    struct env e;
    env_start(&e, NULL);
    struct held H = {0};
    CHECK_OK(rpc_server_handle(e.srv, T_ASYNC, 0, hold_handler, &H));
    struct result res[8] = {0};
    for (int i = 0; i < 8; i++) {
        uint8_t tag[8];
        wire_store_u64(tag, 1000 + (uint64_t)i);
        CHECK_OK(rpc_call(e.good, T_ASYNC, tag, 8, WAIT_MS, result_cb, &res[i]));
    }
    CHECK(run_until(&e.loop, pred_held, &H, WAIT_MS));
    for (int i = 0; i < 8; i++)
        CHECK(!res[i].done);
    /* Reply in a seeded random order, each with tag * 2. */
    int order[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    for (int i = 7; i > 0; i--) {
        int j = (int)prng_below(test_rng(), (uint64_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int k = 0; k < 8; k++) {
        int i = order[k];
        CHECK(rpc_req_alive(H.req[i]));
        CHECK_STR_EQ(rpc_req_peer(H.req[i])->name, "good");
        uint8_t out[8];
        wire_store_u64(out, H.tag[i] * 2);
        CHECK_OK(rpc_reply(H.req[i], T_ASYNC + 1, out, 8));
    }
    struct all_done ad = {res, 8};
    CHECK(run_until(&e.loop, pred_all_done, &ad, WAIT_MS));
    for (int i = 0; i < 8; i++) {
        CHECK_OK(res[i].status);
        CHECK_EQ_U64(res[i].tag, (1000 + (uint64_t)i) * 2);
    }
    env_stop(&e);
}

static int pred_done(void *arg) { return ((struct result *)arg)->done; }

static int pred_refused(void *arg) { return cli_stats(arg).last_error == CAIRN_ECONNREFUSED; }

/* The deadline passes: ETIMEDOUT once; the late reply is ignored. */
TEST(deadline_expires)
{
    struct env e;
    env_start(&e, NULL);
    struct held H = {0};
    CHECK_OK(rpc_server_handle(e.srv, T_ASYNC, 0, hold_handler, &H));
    struct result res = {0};
    CHECK_OK(rpc_call(e.good, T_ASYNC, "12345678", 8, 100, result_cb, &res));
    CHECK(run_until(&e.loop, pred_done, &res, WAIT_MS));
    CHECK_EQ(res.status, CAIRN_ETIMEDOUT);
    CHECK_EQ(H.n, 1);
    CHECK_EQ(cli_stats(e.good).inflight, 0);
    CHECK_OK(rpc_reply(H.req[0], T_ASYNC + 1, "late....", 8));
    pump(&e.loop, 30); /* result_cb would fail its CHECK(!done) on a 2nd call */
    env_check_served(&e);
    /* Calls waiting for a connection that never comes time out too. */
    char dead_addr[32];
    snprintf(dead_addr, sizeof dead_addr, "127.0.0.1:%u", (unsigned)dead_port());
    const char *dead[] = {dead_addr};
    struct rpc_client_cfg cfg = client_cfg("dead");
    struct rpc_client *c;
    CHECK_OK(rpc_client_new(&e.loop, dead, 1, &e.secret, &cfg, &c));
    CHECK_EQ(rpc_call_sync(c, WIRE_PING, NULL, 0, 100, NULL, NULL), CAIRN_ETIMEDOUT);
    CHECK(run_until(&e.loop, pred_refused, c, WAIT_MS));
    rpc_client_close(c);
    env_stop(&e);
}

/* Replies to a connection that closed meanwhile are dropped safely. */
TEST(reply_after_disconnect_dropped)
{
    struct env e;
    env_start(&e, NULL);
    struct held H = {0};
    CHECK_OK(rpc_server_handle(e.srv, T_ASYNC, 0, hold_handler, &H));
    struct rpc_client *c = env_client(&e, &e.secret, "leaver");
    struct result res[2] = {0};
    CHECK_OK(rpc_call(c, T_ASYNC, "abcdefgh", 8, WAIT_MS, result_cb, &res[0]));
    CHECK_OK(rpc_call(c, T_ASYNC, "ijklmnop", 8, WAIT_MS, result_cb, &res[1]));
    struct reason_wait w = {e.srv, RPC_CLOSE_PEER, 0};
    while (H.n < 2)
        uv_run(&e.loop, UV_RUN_ONCE);
    rpc_client_close(c);
    CHECK(res[0].done && res[0].status == CAIRN_SHUTDOWN);
    CHECK(res[1].done && res[1].status == CAIRN_SHUTDOWN);
    w.want = 1;
    CHECK(run_until(&e.loop, pred_reason, &w, WAIT_MS));
    CHECK(!rpc_req_alive(H.req[0]));
    CHECK_OK(rpc_reply(H.req[0], T_ASYNC + 1, "x", 1));
    CHECK_OK(rpc_reply_error(H.req[1], CAIRN_EIO, "too late"));
    CHECK_EQ(srv_stats(e.srv).replies_dropped, 2);
    env_check_served(&e);
    env_stop(&e);
}

/* Requests still unanswered when the server closes: completed afterwards;
 * the server's memory is freed only then (ASan would see a leak or a
 * use-after-free otherwise). */
TEST(server_close_with_pending_requests)
{
    struct env e;
    env_start(&e, NULL);
    struct held H = {0};
    CHECK_OK(rpc_server_handle(e.srv, T_ASYNC, 0, hold_handler, &H));
    struct result res = {0};
    CHECK_OK(rpc_call(e.good, T_ASYNC, "abcdefgh", 8, WAIT_MS, result_cb, &res));
    while (H.n < 1)
        uv_run(&e.loop, UV_RUN_ONCE);
    rpc_server_close(e.srv);
    CHECK(run_until(&e.loop, pred_done, &res, WAIT_MS));
    CHECK_EQ(res.status, CAIRN_CLOSED);
    rpc_req_drop(H.req[0]);
    e.srv = NULL;
    env_stop(&e);
}

TEST(oneway_messages)
{
    struct env e;
    env_start(&e, NULL);
    struct held H = {0};
    CHECK_OK(rpc_server_handle(e.srv, T_ONEWAY, RPC_ONEWAY, oneway_handler, &H));
    CHECK_EQ(rpc_server_handle(e.srv, WIRE_AUTH, 0, oneway_handler, &H), CAIRN_EINVAL);
    CHECK_EQ(rpc_send(e.good, T_ONEWAY, "one", 3), CAIRN_UNAVAILABLE); /* not connected yet */
    env_check_served(&e);
    for (int i = 0; i < 5; i++)
        CHECK_OK(rpc_send(e.good, T_ONEWAY, "one", 3));
    /* Frames on one connection are handled in order: the echo's reply
     * arrives after all five one-way messages were handled. */
    env_check_served(&e);
    CHECK_EQ(H.oneway, 5);
    struct rpc_server_stats st = srv_stats(e.srv);
    CHECK_EQ(st.replies, 2); /* the two echoes; nothing for one-way */
    env_stop(&e);
}

/* --- client behaviour: bounds, reconnects, addresses -------------------- */

TEST(inflight_bound_returns_ebusy)
{
    struct env e;
    env_start(&e, NULL);
    struct held H = {0};
    CHECK_OK(rpc_server_handle(e.srv, T_ASYNC, 0, hold_handler, &H));
    rpc_client_close(e.good);
    struct rpc_client_cfg cfg = client_cfg("bounded");
    cfg.limits.inflight_max = 4;
    const char *addrs[] = {e.addr};
    CHECK_OK(rpc_client_new(&e.loop, addrs, 1, &e.secret, &cfg, &e.good));
    struct result res[6] = {0};
    /* Not connected yet: queued calls count against the bound too. */
    for (int i = 0; i < 4; i++)
        CHECK_OK(rpc_call(e.good, T_ASYNC, "abcdefgh", 8, WAIT_MS, result_cb, &res[i]));
    CHECK_EQ(rpc_call(e.good, T_ASYNC, "abcdefgh", 8, WAIT_MS, result_cb, &res[4]), CAIRN_EBUSY);
    while (H.n < 4)
        uv_run(&e.loop, UV_RUN_ONCE);
    CHECK_EQ(rpc_call(e.good, T_ASYNC, "abcdefgh", 8, WAIT_MS, result_cb, &res[4]), CAIRN_EBUSY);
    CHECK_OK(rpc_reply(H.req[0], T_ASYNC + 1, "r0r0r0r0", 8));
    CHECK(run_until(&e.loop, pred_done, &res[0], WAIT_MS));
    CHECK_OK(rpc_call(e.good, T_ASYNC, "abcdefgh", 8, WAIT_MS, result_cb, &res[4]));
    CHECK_EQ(rpc_call(e.good, T_ASYNC, "abcdefgh", 8, WAIT_MS, result_cb, &res[5]), CAIRN_EBUSY);
    CHECK(!res[4].done && !res[5].done);
    while (H.n < 5)
        uv_run(&e.loop, UV_RUN_ONCE);
    for (int i = 1; i < 5; i++)
        rpc_req_drop(H.req[i]);
    rpc_client_close(e.good); /* the dropped calls end with SHUTDOWN */
    for (int i = 1; i < 5; i++)
        CHECK_EQ(res[i].status, CAIRN_SHUTDOWN);
    CHECK(!res[5].done);
    e.good = NULL;
    env_stop(&e);
}

static int pred_ready(void *arg) { return rpc_client_ready(arg); }
static int pred_not_ready(void *arg) { return !rpc_client_ready(arg); }

/* The server goes away with a call in flight (CLOSED) and comes back on
 * the same port: the client reconnects by itself. */
TEST(reconnect_after_server_restart)
{
    struct env e;
    env_start(&e, NULL);
    struct held H = {0};
    CHECK_OK(rpc_server_handle(e.srv, T_ASYNC, 0, hold_handler, &H));
    env_check_served(&e);
    struct result res = {0};
    CHECK_OK(rpc_call(e.good, T_ASYNC, "abcdefgh", 8, WAIT_MS, result_cb, &res));
    while (H.n < 1)
        uv_run(&e.loop, UV_RUN_ONCE);
    rpc_server_close(e.srv);
    CHECK(run_until(&e.loop, pred_done, &res, WAIT_MS));
    CHECK_EQ(res.status, CAIRN_CLOSED);
    rpc_req_drop(H.req[0]);
    CHECK(run_until(&e.loop, pred_not_ready, e.good, WAIT_MS));
    pump(&e.loop, 30); /* a few refused dials with backoff */
    CHECK(!rpc_client_ready(e.good));
    /* A call made while the server is down waits for the reconnect. */
    struct result res2 = {0};
    CHECK_OK(rpc_call(e.good, WIRE_PING, NULL, 0, WAIT_MS, result_cb, &res2));
    e.srv = server_on(&e.loop, &e.secret, "test-again", NULL, e.port);
    CHECK(run_until(&e.loop, pred_done, &res2, WAIT_MS));
    CHECK_OK(res2.status);
    env_check_served(&e);
    struct rpc_client_stats cs = cli_stats(e.good);
    CHECK_EQ(cs.handshakes, 2);
    CHECK(cs.connects >= 3); /* at least one refused dial in between */
    env_stop(&e);
}

static void name_handler(struct rpc_server *s, struct rpc_req *req, const struct rpc_msg *m,
                         void *arg)
{
    rpc_reply(req, T_ASYNC + 1, arg, strlen(arg));
}

/* Ask which server answers (each replies with its name). */
static void check_answered_by(struct rpc_client *c, const char *name)
{
    struct cairn_buf out;
    buf_init(&out, 0);
    CHECK_OK(rpc_call_sync(c, T_ASYNC, NULL, 0, WAIT_MS, NULL, &out));
    CHECKF(out.len == strlen(name) && memcmp(out.data, name, out.len) == 0,
           "answered by %.*s, not %s", (int)out.len, (const char *)out.data, name);
    buf_free(&out);
}

TEST(multiple_addresses_first_dead)
{
    struct env e;
    env_start(&e, NULL);
    CHECK_OK(rpc_server_handle(e.srv, T_ASYNC, 0, name_handler, "A"));
    struct rpc_server *b = server_on(&e.loop, &e.secret, "B", NULL, 0);
    CHECK_OK(rpc_server_handle(b, T_ASYNC, 0, name_handler, "B"));
    char dead[32], addr_b[32];
    snprintf(dead, sizeof dead, "127.0.0.1:%u", (unsigned)dead_port());
    snprintf(addr_b, sizeof addr_b, "127.0.0.1:%u", (unsigned)rpc_server_port(b));
    const char *addrs[] = {dead, e.addr, addr_b};
    struct rpc_client_cfg cfg = client_cfg("multi");
    struct rpc_client *c;
    CHECK_OK(rpc_client_new(&e.loop, addrs, 3, &e.secret, &cfg, &c));
    check_answered_by(c, "A");
    CHECK_EQ(rpc_client_addr_index(c), 1);
    CHECK(cli_stats(c).connects >= 2);
    /* Follow a hint: prefer address 2 (B) now. */
    rpc_client_prefer(c, 2);
    CHECK(!rpc_client_ready(c));
    check_answered_by(c, "B");
    CHECK_EQ(rpc_client_addr_index(c), 2);
    /* Next wraps around to the dead one, then moves on to A by itself. */
    rpc_client_next(c);
    check_answered_by(c, "A");
    CHECK_EQ(rpc_client_addr_index(c), 1);
    rpc_client_close(c);
    rpc_server_close(b);
    env_stop(&e);
}

/* rpc_client_close fails every call, queued or sent, with SHUTDOWN, and
 * rpc_call afterwards is refused. */
TEST(client_close_fails_calls)
{
    struct env e;
    env_start(&e, NULL);
    struct held H = {0};
    CHECK_OK(rpc_server_handle(e.srv, T_ASYNC, 0, hold_handler, &H));
    struct result sent = {0}, queued = {0};
    CHECK_OK(rpc_call(e.good, T_ASYNC, "abcdefgh", 8, WAIT_MS, result_cb, &sent));
    CHECK(run_until(&e.loop, pred_ready, e.good, WAIT_MS));
    while (H.n < 1)
        uv_run(&e.loop, UV_RUN_ONCE);
    char dead_addr[32];
    snprintf(dead_addr, sizeof dead_addr, "127.0.0.1:%u", (unsigned)dead_port());
    const char *dead[] = {dead_addr};
    struct rpc_client_cfg cfg = client_cfg("dead");
    struct rpc_client *c;
    CHECK_OK(rpc_client_new(&e.loop, dead, 1, &e.secret, &cfg, &c));
    CHECK_OK(rpc_call(c, WIRE_PING, NULL, 0, WAIT_MS, result_cb, &queued));
    rpc_client_close(c);
    CHECK(queued.done && queued.status == CAIRN_SHUTDOWN);
    rpc_client_close(e.good);
    CHECK(sent.done && sent.status == CAIRN_SHUTDOWN);
    e.good = NULL;
    rpc_req_drop(H.req[0]);
    env_stop(&e);
}

/* A large payload both ways, and the frame limit enforced on the client. */
TEST(large_payloads)
{
    struct env e;
    env_start(&e, NULL);
    size_t n = WIRE_ECHO_DATA_MAX;
    uint8_t *data = malloc(n);
    prng_fill(test_rng(), data, n);
    struct cairn_buf req, rep;
    buf_init(&req, 0);
    buf_init(&rep, 0);
    CHECK_OK(wire_echo_encode(&req, data, n));
    CHECK_EQ(req.len, CAIRN_FRAME_PAYLOAD_MAX);
    CHECK_OK(rpc_call_sync(e.good, WIRE_ECHO, req.data, req.len, WAIT_MS, NULL, &rep));
    CHECK_EQ(rep.len, req.len);
    CHECK_MEM_EQ(rep.data, req.data, req.len);
    CHECK_OK(buf_append(&req, "x", 1));
    CHECK_EQ(rpc_call(e.good, WIRE_ECHO, req.data, req.len, WAIT_MS, result_cb, NULL),
             CAIRN_TOOBIG);
    free(data);
    buf_free(&req);
    buf_free(&rep);
    env_check_served(&e);
    env_stop(&e);
}

/* Callbacks may close the client: the remaining calls of the same failure
 * still complete once each, and nothing is touched after it is freed. */
struct closer {
    struct rpc_client *c;
    int calls;
    int statuses[3];
};

static void closer_cb(struct rpc_client *c, int status, const struct rpc_msg *m, void *arg)
{
    struct closer *k = arg;
    CHECK(k->calls < 3);
    k->statuses[k->calls++] = status;
    CHECK(c == k->c);
    rpc_client_close(c); /* the first call closes; the others find it closing */
    CHECK_EQ(rpc_call(c, WIRE_PING, NULL, 0, 100, closer_cb, k), CAIRN_SHUTDOWN);
}

TEST(close_from_callback)
{
    struct env e;
    env_start(&e, NULL);
    struct held H = {0};
    CHECK_OK(rpc_server_handle(e.srv, T_ASYNC, 0, hold_handler, &H));
    struct closer k = {0};
    k.c = env_client(&e, &e.secret, "closer");
    for (int i = 0; i < 3; i++)
        CHECK_OK(rpc_call(k.c, T_ASYNC, "abcdefgh", 8, WAIT_MS, closer_cb, &k));
    while (H.n < 3)
        uv_run(&e.loop, UV_RUN_ONCE);
    rpc_server_close(e.srv); /* all three calls fail with CLOSED */
    e.srv = NULL;
    while (k.calls < 3)
        uv_run(&e.loop, UV_RUN_ONCE);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(k.statuses[i], CAIRN_CLOSED);
    for (int i = 0; i < 3; i++)
        rpc_req_drop(H.req[i]);
    env_stop(&e);
}

/* Late replies piling up for a peer that does not read: past the hard
 * bound (write_queue_max plus one largest frame) the connection is closed,
 * the reply that overflowed reports CAIRN_EBUSY, later ones are dropped. */
TEST(reply_queue_overflow_closes)
{
    struct env e;
    struct rpc_limits l = {0};
    l.write_queue_max = 64 * 1024;
    env_start(&e, &l);
    struct held H = {0};
    CHECK_OK(rpc_server_handle(e.srv, T_ASYNC, 0, hold_handler, &H));
    struct raw r;
    raw_open(&r, &e, 16 * 1024);
    raw_handshake(&r, &e.secret);
    for (int i = 0; i < 40; i++)
        raw_send_frame(&r, T_ASYNC, 0, (uint64_t)i + 1, "abcdefgh", 8);
    while (H.n < 40)
        uv_run(&e.loop, UV_RUN_ONCE);
    size_t big = 256 * 1024;
    uint8_t *data = calloc(1, big);
    int busy = 0, sent = 0, dropped = 0;
    for (int i = 0; i < 40; i++) {
        int alive = rpc_req_alive(H.req[i]);
        int rc = rpc_reply(H.req[i], T_ASYNC + 1, data, big);
        if (rc == CAIRN_EBUSY) {
            busy++;
        } else {
            CHECK_OK(rc);
            sent += alive;
            dropped += !alive;
        }
    }
    free(data);
    CHECK_EQ(busy, 1);
    CHECK(sent >= 16 && dropped >= 1); /* 4 MiB + 64 KiB of 256 KiB replies */
    struct rpc_server_stats st = srv_stats(e.srv);
    CHECK_EQ(st.closed[RPC_CLOSE_WRITE_OVERFLOW], 1);
    CHECK_EQ(st.replies_dropped, (uint64_t)dropped + 1);
    CHECK(st.queue_peak <=
          l.write_queue_max + WIRE_HEADER_SIZE + CAIRN_FRAME_PAYLOAD_MAX + WIRE_TRAILER_SIZE);
    raw_wait_closed(&r);
    env_check_served(&e);
    raw_close(&r);
    env_stop(&e);
}
