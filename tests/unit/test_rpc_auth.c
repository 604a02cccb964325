/* test_rpc_auth.c: RPC authentication over real 127.0.0.1 sockets: a
 * client or server that does not hold the cluster secret is refused, and
 * the good client is served before and after. Fixtures in test_rpc_util.h. */

#include "test_rpc_util.h"

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
