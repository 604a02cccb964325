/* test_metad_transport.c: the Raft transport of the metadata servers
 * (src/raftio/transport.h) between two transports on one loop over real
 * 127.0.0.1 sockets: plain messages, a snapshot larger than a frame sent in
 * paced pieces and reassembled byte for byte, back-to-back transfers, unknown
 * and unreachable peers, and address learning from the HELLO name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/prng.h"
#include "common/time.h"
#include "raftio/transport.h"
#include "rpc/rpc.h"
#include "test.h"

#define WAIT_MS 30000u
#define SECRET "transport-test-secret-0123456789"

struct side {
    uint64_t id;
    char addr[64];
    struct rpc_server *srv;
    struct transport *tr;
    /* what arrived */
    int n_msgs;
    struct raft_msg last;
    uint8_t *snap;
    size_t snap_len;
    uint64_t snap_index;
    int n_unreachable;
    uint64_t learned_id;
    char learned[64];
};

static void on_deliver(void *arg, const struct raft_msg *m)
{
    struct side *s = arg;
    s->n_msgs++;
    s->last = *m;
    s->last.entries = NULL;
    s->last.snapshot = NULL;
    if (m->type == RAFT_MSG_SNAP) {
        free(s->snap);
        s->snap = malloc(m->snapshot->len ? m->snapshot->len : 1);
        CHECK(s->snap != NULL);
        memcpy(s->snap, m->snapshot->data, m->snapshot->len);
        s->snap_len = m->snapshot->len;
        s->snap_index = m->snapshot->meta.index;
    }
}

static void on_unreachable(void *arg, uint64_t to)
{
    struct side *s = arg;
    s->n_unreachable++;
}

static void on_learned(void *arg, uint64_t id, const char *addr)
{
    struct side *s = arg;
    s->learned_id = id;
    snprintf(s->learned, sizeof s->learned, "%s", addr);
}

static void side_init(uv_loop_t *loop, struct side *s, uint64_t id, const struct rpc_secret *sec)
{
    memset(s, 0, sizeof *s);
    s->id = id;
    struct rpc_server_cfg sc = {.secret = sec, .name = "tr-test"};
    CHECK_OK(rpc_server_new(loop, &sc, &s->srv));
    CHECK_OK(rpc_server_listen(s->srv, "127.0.0.1", 0));
    snprintf(s->addr, sizeof s->addr, "127.0.0.1:%u", (unsigned)rpc_server_port(s->srv));
    struct transport_cfg tc = {.self_id = id,
                               .self_addr = s->addr,
                               .secret = sec,
                               .deliver = on_deliver,
                               .unreachable = on_unreachable,
                               .learned = on_learned,
                               .arg = s};
    CHECK_OK(transport_new(loop, &tc, &s->tr));
    CHECK_OK(transport_attach(s->tr, s->srv));
}

static void side_close(struct side *s)
{
    transport_close(s->tr);
    rpc_server_close(s->srv);
    free(s->snap);
}

static void tick_cb(uv_timer_t *t) { (void)t; }

/* Run the loop until *flag reaches want (a 1 ms ticker keeps it turning). */
static int run_until(uv_loop_t *loop, const int *flag, int want)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tick_cb, 1, 1);
    uint64_t end = time_mono_ms() + WAIT_MS;
    while (*flag < want && time_mono_ms() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag >= want;
}

static void wait_ready(uv_loop_t *loop, struct transport *t, uint64_t id)
{
    uint64_t end = time_mono_ms() + WAIT_MS;
    while (!transport_peer_ready(t, id) && time_mono_ms() < end)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(transport_peer_ready(t, id));
}

static struct raft_msg snap_msg(uint64_t from, uint64_t to, uint8_t *data, size_t len,
                                struct raft_snapshot *snap, uint64_t index)
{
    memset(snap, 0, sizeof *snap);
    snap->meta.index = index;
    snap->meta.term = 3;
    snap->meta.conf.n_voters = 2;
    snap->meta.conf.voters[0] = 1;
    snap->meta.conf.voters[1] = 2;
    snap->data = data;
    snap->len = len;
    struct raft_msg m = {.type = RAFT_MSG_SNAP, .from = from, .to = to, .term = 3};
    m.snapshot = snap;
    return m;
}

TEST_T(messages_and_big_snapshot, 120)
{
    cairn_log_set_level(CAIRN_LOG_WARN);
    uv_loop_t loop;
    CHECK(uv_loop_init(&loop) == 0);
    struct rpc_secret sec;
    CHECK_OK(rpc_secret_set(&sec, SECRET, strlen(SECRET)));
    struct side a, b;
    side_init(&loop, &a, 1, &sec);
    side_init(&loop, &b, 2, &sec);
    CHECK_OK(transport_set_peer(a.tr, 2, b.addr));
    CHECK_EQ(transport_set_peer(a.tr, 1, b.addr), CAIRN_EINVAL); /* ourselves */
    CHECK_STR_EQ(transport_peer_addr(a.tr, 2), b.addr);
    wait_ready(&loop, a.tr, 2);

    /* A plain message; b learns a's address from the HELLO name. */
    uint8_t payload[3] = {7, 8, 9};
    struct raft_entry e = {
        .term = 3, .index = 5, .type = RAFT_ENTRY_NORMAL, .len = 3, .data = payload};
    struct raft_msg m = {.type = RAFT_MSG_APP,
                         .from = 1,
                         .to = 2,
                         .term = 3,
                         .log_term = 2,
                         .index = 4,
                         .commit = 4,
                         .n_entries = 1,
                         .entries = &e};
    transport_send(a.tr, &m);
    CHECK(run_until(&loop, &b.n_msgs, 1));
    CHECK_EQ(b.last.type, RAFT_MSG_APP);
    CHECK_EQ_U64(b.last.index, 4);
    CHECK_EQ_U64(b.learned_id, 1);
    CHECK_STR_EQ(b.learned, a.addr);

    /* A message to a peer nobody configured is dropped and reported. */
    m.to = 9;
    transport_send(a.tr, &m);
    CHECK_EQ(a.n_unreachable, 1);

    /* 9 MiB + 5 bytes: more than two frames' worth, in 1 MiB pieces. */
    size_t len = 9u * 1024u * 1024u + 5u;
    uint8_t *data = malloc(len);
    CHECK(data != NULL);
    prng_fill(test_rng(), data, len);
    struct raft_snapshot snap;
    m = snap_msg(1, 2, data, len, &snap, 1000);
    transport_send(a.tr, &m);
    int before = b.n_msgs;
    CHECK(run_until(&loop, &b.n_msgs, before + 1));
    CHECK_EQ(b.last.type, RAFT_MSG_SNAP);
    CHECK_EQ_U64(b.snap_index, 1000);
    CHECK_EQ(b.snap_len, len);
    CHECK_MEM_EQ(b.snap, data, len);
    struct transport_stats st;
    transport_get_stats(a.tr, &st);
    CHECK_EQ_U64(st.snaps_sent, 1);
    CHECK(st.snap_chunks_sent >= 10);

    /* Two transfers back to back (both fit the connection's write queue,
     * so neither replaces the other): both arrive whole, in order. */
    struct raft_snapshot snap2;
    struct raft_msg m1 = snap_msg(1, 2, data, len, &snap, 2000);
    transport_send(a.tr, &m1);
    data[0] ^= 0xff; /* the transport copied the first one's bytes */
    struct raft_msg m2 = snap_msg(1, 2, data, len, &snap2, 3000);
    before = b.n_msgs;
    transport_send(a.tr, &m2);
    CHECK(run_until(&loop, &b.n_msgs, before + 2));
    CHECK_EQ_U64(b.snap_index, 3000);
    CHECK_MEM_EQ(b.snap, data, len);
    transport_get_stats(b.tr, &st);
    CHECK_EQ_U64(st.snaps_received, 3);
    CHECK_EQ_U64(st.snaps_aborted, 0);
    free(data);

    side_close(&a);
    side_close(&b);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}

/* A peer that is down: sends fail fast and are reported, never queued. */
TEST_T(unreachable_peer, 60)
{
    cairn_log_set_level(CAIRN_LOG_ERROR);
    uv_loop_t loop;
    CHECK(uv_loop_init(&loop) == 0);
    struct rpc_secret sec;
    CHECK_OK(rpc_secret_set(&sec, SECRET, strlen(SECRET)));
    struct side a;
    side_init(&loop, &a, 1, &sec);
    CHECK_OK(transport_set_peer(a.tr, 2, "127.0.0.1:1")); /* nothing listens on port 1 */
    struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 1};
    for (int i = 0; i < 5; i++)
        transport_send(a.tr, &m);
    CHECK_EQ(a.n_unreachable, 5);
    struct transport_stats st;
    transport_get_stats(a.tr, &st);
    CHECK_EQ_U64(st.dropped, 5);
    CHECK_EQ_U64(st.sent, 0);
    transport_remove_peer(a.tr, 2);
    CHECK(transport_peer_addr(a.tr, 2) == NULL);
    side_close(&a);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}
