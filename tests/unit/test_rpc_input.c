/* test_rpc_input.c: hostile input to an RPC server over real 127.0.0.1
 * sockets, one bad input per case (bad magic, version, CRC, sizes, flags,
 * truncation, slow or missing handshakes, too many connections, a client
 * that does not read). After each, the server's close-reason counter must
 * show why the connection went, and a good client must be served before
 * and after. Fixtures in test_rpc_util.h. */

#include "test_rpc_util.h"

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
