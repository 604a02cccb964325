/* test_metaclient.c: the metadata client without a cluster.
 *
 * The pure pieces (hint parsing, the address list, header stamping, the
 * retry table, the backoff) are checked directly. The client's behaviour is
 * checked against in-process RPC servers on the test's loop that front a
 * REAL metadata state machine (meta_apply / meta_query) with scripted
 * transport faults: answering NOTLEADER (with or without a hint), dropping
 * the reply of a command that was applied, never answering, expiring the
 * session between two attempts. Exactly-once is then visible in the state
 * machine: a retried create that was applied once is answered from the
 * session's cached reply, never with EEXIST. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn_errors.h"
#include "client/metaclient.h"
#include "common/assert.h"
#include "common/buf.h"
#include "common/time.h"
#include "meta/cmd.h"
#include "meta/meta.h"
#include "rpc/rpc.h"
#include "test.h"
#include "wire/codec.h"
#include "wire/msg_meta.h"

#define SECRET "metaclient-test-secret-0123456789"
#define WAIT_MS 20000u /* failure bound only */
#define SEEN_MAX 256

/* --- pure pieces ---------------------------------------------------------- */

TEST(hint_parse)
{
    char out[CAIRN_MEMBER_ADDR_MAX + 1];
    CHECK_EQ(metaclient_hint_parse((const uint8_t *)"", 0, out, sizeof out), CAIRN_ENOENT);
    const char *ok[] = {"127.0.0.1:7001", "localhost:80", "[::1]:5"};
    for (size_t i = 0; i < 3; i++) {
        CHECK_OK(metaclient_hint_parse((const uint8_t *)ok[i], strlen(ok[i]), out, sizeof out));
        CHECK_STR_EQ(out, ok[i]);
    }
    const char *bad[] = {"garbage", "127.0.0.1", "1.2.3.4:99999", "host.example:80", ":80"};
    for (size_t i = 0; i < 5; i++) {
        CHECK_EQ(metaclient_hint_parse((const uint8_t *)bad[i], strlen(bad[i]), out, sizeof out),
                 CAIRN_EINVAL);
        CHECK_STR_EQ(out, "");
    }
    char big[CAIRN_MEMBER_ADDR_MAX + 10];
    memset(big, '1', sizeof big);
    CHECK_EQ(metaclient_hint_parse((const uint8_t *)big, sizeof big, out, sizeof out),
             CAIRN_EINVAL);
    const uint8_t nul[] = "127.0.0.1:7\0001";
    CHECK_EQ(metaclient_hint_parse(nul, sizeof nul - 1, out, sizeof out), CAIRN_EINVAL);
}

TEST(addrs_find_or_add)
{
    struct metaclient_addrs a;
    memset(&a, 0, sizeof a);
    int added;
    CHECK_EQ(metaclient_addrs_find_or_add(&a, "127.0.0.1:7001", &added), 0);
    CHECK_EQ(added, 1);
    CHECK_EQ(metaclient_addrs_find_or_add(&a, "127.0.0.1:7002", &added), 1);
    /* localhost is 127.0.0.1: the same member, not a new one */
    CHECK_EQ(metaclient_addrs_find_or_add(&a, "localhost:7001", &added), 0);
    CHECK_EQ(added, 0);
    CHECK_EQ(metaclient_addrs_find_or_add(&a, "127.0.0.1:7002", &added), 1);
    CHECK_EQ(added, 0);
    CHECK_EQ(metaclient_addrs_find_or_add(&a, "nonsense", &added), CAIRN_EINVAL);
    CHECK_EQ(a.n, 2);
    char s[32];
    for (unsigned i = 2; i < CAIRN_RPC_ADDRS_MAX; i++) {
        snprintf(s, sizeof s, "127.0.0.1:%u", 8000 + i);
        CHECK_EQ(metaclient_addrs_find_or_add(&a, s, &added), (int)i);
    }
    CHECK_EQ(metaclient_addrs_find_or_add(&a, "127.0.0.1:9999", &added), CAIRN_LIMIT);
    CHECK_EQ(metaclient_addrs_find_or_add(&a, "127.0.0.1:8003", &added), 3);
    CHECK_STR_EQ(a.text[1], "127.0.0.1:7002");
}

/* The stamped command is the one the state machine accepts in the session:
 * header fields land where cmd.h puts them. */
TEST(cmd_stamp)
{
    struct meta *m = meta_new();
    CHECK(m);
    struct cairn_buf cmd, reply;
    buf_init(&cmd, 0);
    buf_init(&reply, 0);
    struct meta_hdr h = {0};
    CHECK_OK(meta_cmd_session_open(&cmd, &h, 5000));
    CHECK_OK(meta_apply(m, 1, cmd.data, cmd.len, &reply)); /* session id = index 1 */
    buf_reset(&cmd);
    h = (struct meta_hdr){.session = 77, .seq = 99};
    CHECK_OK(meta_cmd_create(&cmd, &h, META_ROOT_INO, "f", 0644, 1));
    CHECK_EQ(metaclient_cmd_stamp(cmd.data, cmd.len, 1, 1), META_CLASS_SESSION);
    CHECK_EQ_U64(wire_load_u64(cmd.data + 10), 1);
    CHECK_EQ_U64(wire_load_u64(cmd.data + 18), 1);
    buf_reset(&reply);
    CHECK_OK(meta_apply(m, 2, cmd.data, cmd.len, &reply));
    struct meta_attr at;
    CHECK_OK(meta_reply_attr(reply.data, reply.len, &at));
    CHECK_EQ(at.nlink, 1);
    CHECK_EQ(metaclient_cmd_stamp(cmd.data, 34, 1, 1), CAIRN_TRUNCATED);
    buf_reset(&cmd);
    CHECK_OK(meta_cmd_getattr(&cmd, &h, META_ROOT_INO));
    CHECK_EQ(metaclient_cmd_stamp(cmd.data, cmd.len, 0, 0), META_CLASS_READ);
    buf_free(&cmd);
    buf_free(&reply);
    meta_free(m);
}

TEST(judge_table)
{
    struct {
        int rpc, meta, mutation;
        enum metaclient_action act;
        int doubt;
    } rows[] = {
        {0, 0, 1, METACLIENT_ACT_DONE, 0},
        {0, CAIRN_EEXIST, 1, METACLIENT_ACT_DONE, 0},
        {0, CAIRN_SESSION, 1, METACLIENT_ACT_REOPEN, 0},
        {0, CAIRN_SESSION, 0, METACLIENT_ACT_DONE, 0},
        {CAIRN_NOTLEADER, 0, 1, METACLIENT_ACT_REDIRECT, 1},
        {CAIRN_NOTLEADER, 0, 0, METACLIENT_ACT_REDIRECT, 0},
        {CAIRN_ETIMEDOUT, 0, 1, METACLIENT_ACT_SWITCH, 1},
        {CAIRN_CLOSED, 0, 1, METACLIENT_ACT_RETRY, 1},
        {CAIRN_SHUTDOWN, 0, 1, METACLIENT_ACT_RETRY, 1},
        {CAIRN_LIMIT, 0, 1, METACLIENT_ACT_WAIT, 0},
        {CAIRN_EBUSY, 0, 1, METACLIENT_ACT_WAIT, 0},
        {CAIRN_UNAVAILABLE, 0, 1, METACLIENT_ACT_WAIT, 1},
        {CAIRN_NOQUORUM, 0, 0, METACLIENT_ACT_WAIT, 0},
        {CAIRN_AUTH, 0, 1, METACLIENT_ACT_FAIL, 0},
        {CAIRN_UNKNOWNTYPE, 0, 1, METACLIENT_ACT_FAIL, 0},
        {CAIRN_BADMSG, 0, 0, METACLIENT_ACT_FAIL, 0},
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(rows); i++) {
        struct metaclient_verdict v = metaclient_judge(rows[i].rpc, rows[i].meta, rows[i].mutation);
        CHECKF(v.action == rows[i].act && v.in_doubt == rows[i].doubt,
               "row %zu: action %d doubt %d", i, (int)v.action, v.in_doubt);
    }
}

TEST(backoff_bounds)
{
    struct prng a, b;
    prng_seed(&a, test_seed());
    prng_seed(&b, test_seed());
    uint32_t prev_step = 0;
    for (uint32_t w = 0; w < 40; w++) {
        uint64_t step = CAIRN_MIN((uint64_t)CAIRN_RPC_BACKOFF_MIN_MS << CAIRN_MIN(w, 16u),
                                  (uint64_t)CAIRN_METACLIENT_BACKOFF_MAX_MS);
        uint32_t d = metaclient_backoff_ms(w, &a);
        CHECKF(d >= step / 2 && d <= step, "wait %u: %u not in [%llu, %llu]", w, d,
               (unsigned long long)step / 2, (unsigned long long)step);
        CHECK_EQ(d, metaclient_backoff_ms(w, &b)); /* the seed decides */
        CHECK(step >= prev_step);
        prev_step = (uint32_t)step;
    }
    CHECK_EQ(prev_step, CAIRN_METACLIENT_BACKOFF_MAX_MS);
}

/* --- an in-process metadata server with scripted faults -------------------- */

struct seen {
    uint64_t session, seq;
    uint16_t type;
};

struct fake {
    struct rpc_server *srv;
    struct meta *m; /* NULL: a follower */
    uint64_t index;
    uint64_t now_ns;
    char addr[64];
    char hint[64];    /* NOTLEADER message of a follower */
    int notleader;    /* leader: answer the next N requests NOTLEADER, empty hint */
    int drop;         /* leader: apply, then drop the next N replies */
    int silent;       /* leader: drop every request unanswered, unapplied */
    int expire_after; /* leader: after N more applies, expire every session */
    uint64_t requests;
    struct seen seen[SEEN_MAX];
    int n_seen;
};

/* Expire every session: time jumps past any lease and a TICK is applied. */
static void fake_expire(struct fake *f)
{
    struct cairn_buf cmd, reply;
    buf_init(&cmd, 0);
    buf_init(&reply, 0);
    f->now_ns += 1000ull * CAIRN_NS_PER_SEC;
    struct meta_hdr h = {.now_ns = f->now_ns};
    CAIRN_ASSERT(meta_cmd_tick(&cmd, &h) == 0);
    CAIRN_ASSERT(meta_apply(f->m, ++f->index, cmd.data, cmd.len, &reply) == 0);
    buf_free(&cmd);
    buf_free(&reply);
}

static void fake_cmd(struct rpc_server *s, struct rpc_req *req, const struct rpc_msg *msg,
                     void *arg)
{
    struct fake *f = arg;
    f->requests++;
    struct wire_bytes b;
    if (!f->m || f->notleader > 0) {
        f->notleader -= f->m ? 1 : 0;
        const char *h = f->m ? "" : f->hint;
        rpc_reply_error(req, CAIRN_NOTLEADER, h);
        return;
    }
    if (f->silent || wire_meta_bytes_decode(msg->payload, msg->len, &b) != 0) {
        rpc_req_drop(req);
        return;
    }
    struct cairn_buf reply, out;
    buf_init(&reply, 0);
    buf_init(&out, 0);
    if (msg->type == WIRE_META_QUERY) {
        meta_query(f->m, b.p, b.len, &reply);
        CAIRN_ASSERT(wire_meta_bytes_encode(&out, reply.data, reply.len) == 0);
        rpc_reply(req, WIRE_META_QUERY_REPLY, out.data, out.len);
    } else {
        uint8_t *cmd = malloc(b.len);
        memcpy(cmd, b.p, b.len);
        f->now_ns += CAIRN_NS_PER_MS;
        wire_store_u64(cmd + 2, f->now_ns); /* the leader stamps now_ns */
        if (f->n_seen < SEEN_MAX)
            f->seen[f->n_seen++] =
                (struct seen){wire_load_u64(cmd + 10), wire_load_u64(cmd + 18), wire_load_u16(cmd)};
        uint64_t index = ++f->index;
        meta_apply(f->m, index, cmd, b.len, &reply);
        free(cmd);
        struct wire_meta_cmd_reply r = {index, {reply.data, (uint32_t)reply.len}};
        CAIRN_ASSERT(wire_meta_cmd_reply_encode(&out, &r) == 0);
        if (f->drop > 0) {
            f->drop--;
            rpc_req_drop(req);
        } else {
            rpc_reply(req, WIRE_META_CMD_REPLY, out.data, out.len);
        }
        if (f->expire_after > 0 && --f->expire_after == 0)
            fake_expire(f);
    }
    buf_free(&reply);
    buf_free(&out);
}

static void fake_start(uv_loop_t *loop, struct fake *f, int leader)
{
    memset(f, 0, sizeof *f);
    struct rpc_secret s;
    CHECK_OK(rpc_secret_set(&s, SECRET, strlen(SECRET)));
    struct rpc_server_cfg cfg = {.secret = &s, .name = leader ? "fake-leader" : "fake-follower"};
    CHECK_OK(rpc_server_new(loop, &cfg, &f->srv));
    CHECK_OK(rpc_server_handle(f->srv, WIRE_META_CMD, 0, fake_cmd, f));
    CHECK_OK(rpc_server_handle(f->srv, WIRE_META_QUERY, 0, fake_cmd, f));
    CHECK_OK(rpc_server_listen(f->srv, "127.0.0.1", 0));
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%u", (unsigned)rpc_server_port(f->srv));
    if (leader) {
        f->m = meta_new();
        CHECK(f->m);
        f->now_ns = 1000 * CAIRN_NS_PER_SEC;
    }
}

static void fake_stop(struct fake *f)
{
    rpc_server_close(f->srv);
    if (f->m)
        meta_free(f->m);
}

struct harness {
    uv_loop_t loop;
    struct fake leader, follower;
    struct metaclient *mc;
};

static void h_start(struct harness *h, const char *addr_for_client, uint32_t sessions,
                    uint32_t op_ms)
{
    struct rpc_secret s;
    CHECK_OK(rpc_secret_set(&s, SECRET, strlen(SECRET)));
    const char *addrs[] = {addr_for_client};
    struct metaclient_cfg cfg = {
        .addrs = addrs,
        .n_addrs = 1,
        .secret = &s,
        .name = "test",
        .sessions = sessions,
        .lease_ms = 5000,
        .attempt_timeout_ms = 300,
        .op_timeout_ms = op_ms,
        .seed = test_seed() + 1,
    };
    CHECK_OK(metaclient_new(&h->loop, &cfg, &h->mc));
}

static void h_init(struct harness *h)
{
    memset(h, 0, sizeof *h);
    CHECK_OK(uv_loop_init(&h->loop));
    fake_start(&h->loop, &h->leader, 1);
    fake_start(&h->loop, &h->follower, 0);
    snprintf(h->follower.hint, sizeof h->follower.hint, "%s", h->leader.addr);
}

static void h_free(struct harness *h)
{
    if (h->mc)
        metaclient_close(h->mc);
    fake_stop(&h->leader);
    fake_stop(&h->follower);
    while (uv_run(&h->loop, UV_RUN_DEFAULT) != 0)
        ;
    CHECK_OK(uv_loop_close(&h->loop));
}

/* A create through the blocking API; returns the completion status. */
static int h_create(struct harness *h, const char *name, struct metaclient_result *res)
{
    struct cairn_buf cmd, reply;
    buf_init(&cmd, 0);
    buf_init(&reply, 0);
    struct meta_hdr hd = {0};
    CHECK_OK(meta_cmd_create(&cmd, &hd, META_ROOT_INO, name, 0644, 1));
    int rc = metaclient_mutate_sync(h->mc, cmd.data, cmd.len, &reply, res);
    if (rc == 0) {
        struct meta_attr at;
        CHECK_OK(meta_reply_attr(reply.data, reply.len, &at));
        CHECK(at.ino > META_ROOT_INO);
    }
    buf_free(&cmd);
    buf_free(&reply);
    return rc;
}

static int h_exists(struct harness *h, const char *name)
{
    struct meta_cred c = {0};
    struct meta_attr at;
    return meta_lookup(h->leader.m, &c, META_ROOT_INO, (const uint8_t *)name, strlen(name), &at);
}

/* A follower address only: the hint leads to the leader, which the client
 * adds to its list and keeps using. */
TEST_T(follows_notleader_hint, 30)
{
    struct harness h;
    h_init(&h);
    h_start(&h, h.follower.addr, 1, 10000);
    struct metaclient_result res;
    CHECK_OK(h_create(&h, "a", &res));
    CHECK_EQ(res.outcome, METACLIENT_DONE);
    CHECK(res.index > 0);
    CHECK_STR_EQ(metaclient_current_addr(h.mc), h.leader.addr);
    CHECK_OK(h_create(&h, "b", NULL));
    struct metaclient_stats st;
    metaclient_get_stats(h.mc, &st);
    CHECK(st.redirects >= 1);
    CHECK_EQ(st.sessions_opened, 1);
    CHECK(h.follower.requests >= 1);
    uint64_t before = h.follower.requests;
    CHECK_OK(h_create(&h, "c", NULL));
    CHECK_EQ_U64(h.follower.requests, before); /* stays with the leader */
    CHECK_OK(h_exists(&h, "a"));
    CHECK_OK(h_exists(&h, "c"));
    h_free(&h);
}

/* The reply of an applied create is lost twice: the client retries with the
 * same session and sequence, the state machine answers from its cache. */
TEST_T(lost_reply_retried_same_seq, 30)
{
    struct harness h;
    h_init(&h);
    h_start(&h, h.leader.addr, 1, 10000);
    CHECK_OK(h_create(&h, "warm", NULL));
    h.leader.drop = 2;
    int n0 = h.leader.n_seen;
    struct metaclient_result res;
    CHECK_OK(h_create(&h, "once", &res)); /* not EEXIST: applied once */
    CHECK_EQ(res.outcome, METACLIENT_DONE);
    CHECK_EQ(res.attempts, 3);
    CHECK_EQ(h.leader.n_seen - n0, 3);
    for (int i = n0; i < h.leader.n_seen; i++) {
        CHECK_EQ_U64(h.leader.seen[i].session, h.leader.seen[n0].session);
        CHECK_EQ_U64(h.leader.seen[i].seq, 2); /* "warm" was 1 */
    }
    CHECK_OK(h_exists(&h, "once"));
    struct meta_statfs sf;
    meta_statfs(h.leader.m, &sf);
    CHECK_EQ_U64(sf.files, 3); /* root, warm, once */
    h_free(&h);
}

/* No leader known for a while: the client waits, growing its delay. */
TEST_T(no_leader_waits, 30)
{
    struct harness h;
    h_init(&h);
    h_start(&h, h.leader.addr, 1, 10000);
    h.leader.notleader = 5;
    struct metaclient_result res;
    CHECK_OK(h_create(&h, "x", &res));
    struct metaclient_stats st;
    metaclient_get_stats(h.mc, &st);
    CHECK(st.waits >= 5);
    CHECK_EQ(res.outcome, METACLIENT_DONE);
    h_free(&h);
}

/* A session that expired while idle is replaced and the create goes
 * through in the new one (nothing of it could have been applied). */
TEST_T(expired_session_reopened, 30)
{
    struct harness h;
    h_init(&h);
    h_start(&h, h.leader.addr, 1, 10000);
    CHECK_OK(h_create(&h, "a", NULL));
    uint64_t s1 = h.leader.seen[h.leader.n_seen - 1].session;
    fake_expire(&h.leader);
    struct metaclient_result res;
    CHECK_OK(h_create(&h, "b", &res));
    CHECK_EQ(res.outcome, METACLIENT_DONE);
    struct seen last = h.leader.seen[h.leader.n_seen - 1];
    CHECK(last.session != s1);
    CHECK_EQ_U64(last.seq, 1);
    struct metaclient_stats st;
    metaclient_get_stats(h.mc, &st);
    CHECK_EQ(st.sessions_lost, 1);
    CHECK_EQ(st.sessions_opened, 2);
    CHECK_OK(h_exists(&h, "b"));
    h_free(&h);
}

/* Applied, reply lost, session expired before the retry: the client cannot
 * know, and says so (CAIRN_SESSION, outcome unknown) instead of creating the
 * file a second time in a new session. */
TEST_T(in_doubt_after_expiry_is_unknown, 30)
{
    struct harness h;
    h_init(&h);
    h_start(&h, h.leader.addr, 1, 10000);
    CHECK_OK(h_create(&h, "a", NULL));
    h.leader.drop = 1;
    h.leader.expire_after = 1;
    struct metaclient_result res;
    CHECK_EQ(h_create(&h, "b", &res), CAIRN_SESSION);
    CHECK_EQ(res.outcome, METACLIENT_UNKNOWN);
    CHECK_OK(h_exists(&h, "b"));       /* it was applied, once */
    CHECK_OK(h_create(&h, "c", NULL)); /* the client goes on in a new session */
    h_free(&h);
}

/* A server that never answers: the operation gives up at its deadline,
 * and a mutation that was sent is reported as unknown. */
TEST_T(silent_server_times_out, 30)
{
    struct harness h;
    h_init(&h);
    h_start(&h, h.leader.addr, 1, 1500);
    CHECK_OK(h_create(&h, "a", NULL));
    h.leader.silent = 1;
    struct metaclient_result res;
    CHECK_EQ(h_create(&h, "b", &res), CAIRN_ETIMEDOUT);
    CHECK_EQ(res.outcome, METACLIENT_UNKNOWN);
    CHECK(res.attempts >= 2);
    h.leader.silent = 0;
    CHECK_OK(h_create(&h, "c", NULL));
    CHECK_EQ(h_exists(&h, "b"), CAIRN_ENOENT);
    h_free(&h);
}

struct many {
    int done, ok, inside;
};

static void many_done(struct metaclient *mc, const struct metaclient_result *res, void *arg)
{
    (void)mc;
    struct many *w = arg;
    CHECK(!w->inside);
    w->done++;
    w->ok += res->status == 0 && res->outcome == METACLIENT_DONE;
}

/* 40 creates submitted at once over 4 sessions: at most 4 sessions, each
 * numbering its mutations 1, 2, 3, ... in order. */
TEST_T(sessions_carry_one_mutation_each, 30)
{
    struct harness h;
    h_init(&h);
    h_start(&h, h.leader.addr, 4, 10000);
    struct many w = {0};
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        struct meta_hdr hd = {0};
        buf_reset(&cmd);
        CHECK_OK(meta_cmd_create(&cmd, &hd, META_ROOT_INO, name, 0644, 1));
        w.inside = 1;
        CHECK_OK(metaclient_mutate(h.mc, cmd.data, cmd.len, many_done, &w));
        w.inside = 0;
    }
    uint64_t end = time_mono_ms() + WAIT_MS;
    while (w.done < 40 && time_mono_ms() < end)
        uv_run(&h.loop, UV_RUN_ONCE);
    CHECK_EQ(w.ok, 40);
    uint64_t sessions[8];
    uint64_t last[8] = {0};
    int n = 0;
    for (int i = 0; i < h.leader.n_seen; i++) {
        struct seen *s = &h.leader.seen[i];
        if (s->type != META_CREATE)
            continue;
        int k = 0;
        while (k < n && sessions[k] != s->session)
            k++;
        if (k == n) {
            CHECK(n < 4);
            sessions[n++] = s->session;
        }
        CHECK_EQ_U64(s->seq, last[k] + 1);
        last[k] = s->seq;
    }
    CHECK_EQ(n, 4);
    buf_reset(&cmd);
    struct meta_hdr hd = {0};
    CHECK_OK(meta_cmd_lookup(&cmd, &hd, META_ROOT_INO, "f39"));
    struct cairn_buf reply;
    buf_init(&reply, 0);
    CHECK_OK(metaclient_query_sync(h.mc, cmd.data, cmd.len, &reply, NULL));
    struct meta_attr at;
    CHECK_OK(meta_reply_attr(reply.data, reply.len, &at));
    buf_reset(&reply);
    buf_reset(&cmd);
    CHECK_OK(meta_cmd_lookup(&cmd, &hd, META_ROOT_INO, "nope"));
    CHECK_EQ(metaclient_query_sync(h.mc, cmd.data, cmd.len, &reply, NULL), CAIRN_ENOENT);
    CHECK_EQ(meta_reply_status(reply.data, reply.len), CAIRN_ENOENT);
    buf_free(&reply);
    buf_free(&cmd);
    h_free(&h);
}

/* Wrong classes are refused; closing completes what is outstanding. */
TEST_T(close_and_bad_input, 30)
{
    struct harness h;
    h_init(&h);
    h_start(&h, h.leader.addr, 1, 10000);
    struct many w = {0};
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    struct meta_hdr hd = {0};
    CHECK_OK(meta_cmd_getattr(&cmd, &hd, META_ROOT_INO));
    CHECK_EQ(metaclient_mutate(h.mc, cmd.data, cmd.len, many_done, &w), CAIRN_EINVAL);
    buf_reset(&cmd);
    CHECK_OK(meta_cmd_create(&cmd, &hd, META_ROOT_INO, "z", 0644, 1));
    CHECK_EQ(metaclient_query(h.mc, cmd.data, cmd.len, many_done, &w), CAIRN_EINVAL);
    CHECK_EQ(metaclient_mutate(h.mc, cmd.data, 10, many_done, &w), CAIRN_EINVAL);
    h.leader.silent = 1;
    for (int i = 0; i < 3; i++)
        CHECK_OK(metaclient_mutate(h.mc, cmd.data, cmd.len, many_done, &w));
    uv_run(&h.loop, UV_RUN_NOWAIT);
    metaclient_close(h.mc);
    h.mc = NULL;
    CHECK_EQ(w.done, 3);
    CHECK_EQ(w.ok, 0);
    buf_free(&cmd);
    h_free(&h);
}

struct closer {
    struct harness *h;
    int done, shutdown;
};

static void close_in_cb(struct metaclient *mc, const struct metaclient_result *res, void *arg)
{
    struct closer *w = arg;
    w->done++;
    w->shutdown += res->status == CAIRN_SHUTDOWN;
    if (w->done == 1) {
        CHECK_OK(res->status);
        metaclient_close(mc); /* the others complete inside, with SHUTDOWN */
        w->h->mc = NULL;
    }
}

/* Closing from a completion callback (on the caller's loop) completes the
 * rest, queued or delayed, and leaves nothing behind (ASan checks). */
TEST_T(close_from_callback, 30)
{
    struct harness h;
    h_init(&h);
    h_start(&h, h.leader.addr, 1, 10000);
    struct closer w = {&h, 0, 0};
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%d", i);
        struct meta_hdr hd = {0};
        buf_reset(&cmd);
        CHECK_OK(meta_cmd_create(&cmd, &hd, META_ROOT_INO, name, 0644, 1));
        CHECK_OK(metaclient_mutate(h.mc, cmd.data, cmd.len, close_in_cb, &w));
    }
    h.leader.notleader = 2; /* some wait on the retry timer when it closes */
    uint64_t end = time_mono_ms() + WAIT_MS;
    while (w.done < 4 && time_mono_ms() < end)
        uv_run(&h.loop, UV_RUN_ONCE);
    CHECK_EQ(w.done, 4);
    CHECK_EQ(w.shutdown, 3);
    buf_free(&cmd);
    h_free(&h);
}
