/* test_rpc.c: the RPC layer over real 127.0.0.1 sockets, one loop per
 * case: the secret file, proofs and addresses, an echo service under load,
 * and the life of a request (asynchronous replies, deadlines, one-way
 * messages, reconnects, closes). Authentication is in test_rpc_auth.c,
 * hostile input in test_rpc_input.c, shared fixtures in test_rpc_util.h. */

#include "test_rpc_util.h"

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
