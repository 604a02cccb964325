/* test_metad_cluster.c: metadata daemons (src/metad) running in this
 * process, one thread each, on 127.0.0.1 with real data directories under
 * the case's tmpdir: election, durable creates through the log with group
 * commit, linearizable reads, NOT_LEADER redirects, restart from disk,
 * catch-up by snapshot, membership changes and leadership transfer. The
 * real-process tests (SIGKILL, ...) are tests/cluster. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/time.h"
#include "meta/cmd.h"
#include "metad/metad.h"
#include "raft/raft.h"
#include "rpc/rpc.h"
#include "test.h"
#include "wire/msg_meta.h"

/* A failure bound on every wait, not a speed assertion (ASan is slow). */
#define WAIT_MS 30000u
#define NODES_MAX 5
#define SECRET "metad-test-secret-0123456789abcdef"

struct tnode {
    struct metad_config cfg;
    struct metad *d;
    pthread_t th;
    int running;
    int rc;
};

struct tcluster {
    int n;
    struct tnode nodes[NODES_MAX];
    char addrs[NODES_MAX][64];
    char secret_path[512];
};

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A port nobody listens on now (bind port 0, read it, close). */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t len = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void cfg_node(struct tcluster *c, int i, const char *peers, int join)
{
    struct metad_config *cfg = &c->nodes[i].cfg;
    char err[256], v[1024];
    metad_config_defaults(cfg);
    snprintf(v, sizeof v, "%s/m%d", test_tmpdir(), i + 1);
    CHECK_OK(metad_config_set(cfg, "data", v, err, sizeof err));
    snprintf(v, sizeof v, "%d", i + 1);
    CHECK_OK(metad_config_set(cfg, "id", v, err, sizeof err));
    CHECK_OK(metad_config_set(cfg, "listen", c->addrs[i], err, sizeof err));
    CHECK_OK(metad_config_set(cfg, "peers", peers, err, sizeof err));
    CHECK_OK(metad_config_set(cfg, "secret", c->secret_path, err, sizeof err));
    CHECK_OK(metad_config_set(cfg, "cluster", "test", err, sizeof err));
    cfg->tick_ms = 20;
    cfg->election_ticks = 10;
    cfg->heartbeat_ticks = 2;
    cfg->session_tick_ms = 200;
    cfg->join = join;
    CHECKF(metad_config_check(cfg, err, sizeof err) == 0, "config: %s", err);
}

/* n_initial voters; slots up to n_total get addresses (joiners later). */
static void cl_init(struct tcluster *c, int n_initial, int n_total, uint64_t snapshot_every)
{
    memset(c, 0, sizeof *c);
    c->n = n_total;
    cairn_log_set_level(CAIRN_LOG_WARN);
    snprintf(c->secret_path, sizeof c->secret_path, "%s/secret", test_tmpdir());
    int fd = open(c->secret_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, SECRET, strlen(SECRET)) == (ssize_t)strlen(SECRET));
    close(fd);
    char peers[1024] = "";
    for (int i = 0; i < n_total; i++) {
        snprintf(c->addrs[i], sizeof c->addrs[i], "127.0.0.1:%u", (unsigned)free_port());
        if (i < n_initial) {
            size_t l = strlen(peers);
            snprintf(peers + l, sizeof peers - l, "%s%d=%s", i ? "," : "", i + 1, c->addrs[i]);
        }
    }
    for (int i = 0; i < n_total; i++) {
        cfg_node(c, i, peers, i >= n_initial);
        c->nodes[i].cfg.snapshot_every = snapshot_every;
    }
}

static void *node_main(void *arg)
{
    struct tnode *t = arg;
    t->rc = metad_run(t->d);
    return NULL;
}

static void node_start(struct tcluster *c, int i)
{
    struct tnode *t = &c->nodes[i];
    CHECK(!t->running);
    CHECK_OK(metad_new(&t->cfg, &t->d));
    CHECK(pthread_create(&t->th, NULL, node_main, t) == 0);
    t->running = 1;
}

static void node_stop(struct tcluster *c, int i)
{
    struct tnode *t = &c->nodes[i];
    if (!t->running)
        return;
    metad_stop(t->d);
    pthread_join(t->th, NULL);
    CHECK_OK(t->rc);
    metad_free(t->d);
    t->d = NULL;
    t->running = 0;
}

static void cl_stop(struct tcluster *c)
{
    for (int i = 0; i < c->n; i++)
        node_stop(c, i);
}

static struct metad_info info_of(struct tcluster *c, int i)
{
    struct metad_info in;
    metad_get_info(c->nodes[i].d, &in);
    return in;
}

/* Index of the one running node that is leader, waiting for it. */
static int wait_leader(struct tcluster *c)
{
    uint64_t end = time_mono_ms() + WAIT_MS;
    while (time_mono_ms() < end) {
        for (int i = 0; i < c->n; i++)
            if (c->nodes[i].running && info_of(c, i).role == RAFT_LEADER)
                return i;
        sleep_ms(10);
    }
    test_fail(__FILE__, __LINE__, "no leader within %u ms", WAIT_MS);
}

/* --- a blocking client ---------------------------------------------------- */

struct tclient {
    uv_loop_t loop;
    struct rpc_secret secret;
    struct rpc_client *c;
    struct tcluster *cl;
    uint64_t session;
    uint64_t seq;
};

static void tc_open(struct tclient *t, struct tcluster *c)
{
    memset(t, 0, sizeof *t);
    t->cl = c;
    CHECK(uv_loop_init(&t->loop) == 0);
    CHECK_OK(rpc_secret_set(&t->secret, SECRET, strlen(SECRET)));
    const char *addrs[NODES_MAX];
    for (int i = 0; i < c->n; i++)
        addrs[i] = c->addrs[i];
    struct rpc_client_cfg cfg = {.name = "test-client", .seed = test_seed()};
    CHECK_OK(rpc_client_new(&t->loop, addrs, (size_t)c->n, &t->secret, &cfg, &t->c));
}

static void tc_close(struct tclient *t)
{
    rpc_client_close(t->c);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&t->loop) == 0);
}

static int addr_index(struct tcluster *c, const struct cairn_buf *hint)
{
    for (int i = 0; i < c->n; i++)
        if (hint->len == strlen(c->addrs[i]) && memcmp(hint->data, c->addrs[i], hint->len) == 0)
            return i;
    return -1;
}

/* A call to the leader: NOTLEADER hints are followed, lost connections
 * and elections retried, until WAIT_MS. Returns the final status. */
static int tc_call(struct tclient *t, uint16_t type, const struct cairn_buf *req,
                   struct cairn_buf *out)
{
    uint64_t end = time_mono_ms() + WAIT_MS;
    int rc;
    do {
        buf_reset(out);
        uint16_t rtype;
        rc = rpc_call_sync(t->c, type, req->data, req->len, 2000, &rtype, out);
        if (rc == CAIRN_NOTLEADER) {
            int i = addr_index(t->cl, out);
            if (i >= 0 && (size_t)i != rpc_client_addr_index(t->c)) {
                rpc_client_prefer(t->c, (size_t)i);
                continue;
            }
            sleep_ms(20);
            rpc_client_next(t->c);
        } else if (rc == CAIRN_CLOSED || rc == CAIRN_ETIMEDOUT) {
            sleep_ms(20);
        } else {
            return rc;
        }
    } while (time_mono_ms() < end);
    return rc;
}

/* A state-machine command through the log; returns the reply's status and
 * leaves the reply (after the META_CMD_REPLY header) in body. */
static int tc_cmd(struct tclient *t, const struct cairn_buf *cmd, struct cairn_buf *body,
                  uint64_t *index)
{
    struct cairn_buf req, out;
    buf_init(&req, 0);
    buf_init(&out, 0);
    CHECK_OK(wire_meta_bytes_encode(&req, cmd->data, cmd->len));
    CHECK_OK(tc_call(t, WIRE_META_CMD, &req, &out));
    struct wire_meta_cmd_reply r;
    CHECK_OK(wire_meta_cmd_reply_decode(out.data, out.len, &r));
    if (index)
        *index = r.index;
    buf_reset(body);
    CHECK_OK(buf_append(body, r.reply.p, r.reply.len));
    buf_free(&req);
    buf_free(&out);
    return meta_reply_status(body->data, body->len);
}

static int tc_query(struct tclient *t, const struct cairn_buf *q, struct cairn_buf *body)
{
    struct cairn_buf req, out;
    buf_init(&req, 0);
    buf_init(&out, 0);
    CHECK_OK(wire_meta_bytes_encode(&req, q->data, q->len));
    CHECK_OK(tc_call(t, WIRE_META_QUERY, &req, &out));
    struct wire_bytes r;
    CHECK_OK(wire_meta_bytes_decode(out.data, out.len, &r));
    buf_reset(body);
    CHECK_OK(buf_append(body, r.p, r.len));
    buf_free(&req);
    buf_free(&out);
    return meta_reply_status(body->data, body->len);
}

static uint64_t tc_session_open(struct tclient *t)
{
    struct cairn_buf cmd, body;
    buf_init(&cmd, 0);
    buf_init(&body, 0);
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    CHECK_OK(meta_cmd_session_open(&cmd, &h, 60000));
    CHECK_OK(tc_cmd(t, &cmd, &body, NULL));
    CHECK(body.len >= 12);
    uint64_t s = wire_load_u64(body.data + 4);
    buf_free(&cmd);
    buf_free(&body);
    return s;
}

static int tc_create(struct tclient *t, const char *name, struct meta_attr *attr)
{
    struct cairn_buf cmd, body;
    buf_init(&cmd, 0);
    buf_init(&body, 0);
    struct meta_hdr h = {.session = t->session, .seq = ++t->seq};
    CHECK_OK(meta_cmd_create(&cmd, &h, META_ROOT_INO, name, 0644, 1));
    int rc = tc_cmd(t, &cmd, &body, NULL);
    if (rc == 0 && attr)
        CHECK_OK(meta_reply_attr(body.data, body.len, attr));
    buf_free(&cmd);
    buf_free(&body);
    return rc;
}

static int tc_lookup(struct tclient *t, const char *name, struct meta_attr *attr)
{
    struct cairn_buf q, body;
    buf_init(&q, 0);
    buf_init(&body, 0);
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    CHECK_OK(meta_cmd_lookup(&q, &h, META_ROOT_INO, name));
    int rc = tc_query(t, &q, &body);
    if (rc == 0 && attr)
        CHECK_OK(meta_reply_attr(body.data, body.len, attr));
    buf_free(&q);
    buf_free(&body);
    return rc;
}

static void tc_status(struct tclient *t, int i, struct wire_meta_status *s, struct cairn_buf *keep)
{
    const char *addrs[1] = {t->cl->addrs[i]};
    struct rpc_client *c;
    struct rpc_client_cfg cfg = {.name = "test-status", .seed = test_seed()};
    CHECK_OK(rpc_client_new(&t->loop, addrs, 1, &t->secret, &cfg, &c));
    buf_reset(keep);
    uint16_t rtype;
    CHECK_OK(rpc_call_sync(c, WIRE_META_STATUS, NULL, 0, WAIT_MS, &rtype, keep));
    CHECK_OK(wire_meta_status_decode(keep->data, keep->len, s));
    rpc_client_close(c);
}

/* Wait until every running node has applied `index` and all digests agree. */
static uint64_t wait_converged(struct tclient *t, uint64_t index)
{
    uint64_t end = time_mono_ms() + WAIT_MS;
    struct cairn_buf keep;
    buf_init(&keep, 0);
    for (;;) {
        int same = 1;
        uint64_t digest = 0;
        int first = 1;
        for (int i = 0; i < t->cl->n && same; i++) {
            if (!t->cl->nodes[i].running)
                continue;
            struct wire_meta_status s;
            tc_status(t, i, &s, &keep);
            if (s.applied < index || (!first && s.digest != digest))
                same = 0;
            digest = s.digest;
            first = 0;
        }
        if (same) {
            buf_free(&keep);
            return digest;
        }
        CHECKF(time_mono_ms() < end, "replicas did not converge at index %" PRIu64, index);
        sleep_ms(20);
    }
}

/* --- pipelined creates: several sessions, one mutation in flight each ---- */

struct pipe_worker {
    struct pipe_run *run;
    uint64_t session, seq;
    int done;
};

struct pipe_run {
    struct tclient *t;
    struct pipe_worker w[16];
    int n_workers;
    int per_worker;
    int completed;
    int failed;
    uint64_t max_index;
    struct cairn_buf req;
};

static void pipe_send(struct pipe_worker *w);

static void pipe_reply(struct rpc_client *c, int status, const struct rpc_msg *m, void *arg)
{
    struct pipe_worker *w = arg;
    struct pipe_run *r = w->run;
    struct wire_meta_cmd_reply rep;
    if (status != 0 || wire_meta_cmd_reply_decode(m->payload, m->len, &rep) != 0 ||
        meta_reply_status(rep.reply.p, rep.reply.len) != 0) {
        r->failed++;
        w->done = r->per_worker;
        return;
    }
    if (rep.index > r->max_index)
        r->max_index = rep.index;
    r->completed++;
    if (++w->done < r->per_worker)
        pipe_send(w);
}

static void pipe_send(struct pipe_worker *w)
{
    struct pipe_run *r = w->run;
    char name[64];
    snprintf(name, sizeof name, "s%" PRIu64 "-f%d", w->session, w->done);
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    struct meta_hdr h = {.session = w->session, .seq = ++w->seq};
    CHECK_OK(meta_cmd_create(&cmd, &h, META_ROOT_INO, name, 0644, 1));
    buf_reset(&r->req);
    CHECK_OK(wire_meta_bytes_encode(&r->req, cmd.data, cmd.len));
    CHECK_OK(rpc_call(r->t->c, WIRE_META_CMD, r->req.data, r->req.len, WAIT_MS, pipe_reply, w));
    buf_free(&cmd);
}

/* n_workers sessions each create per_worker files; the client is already
 * pointed at the leader (a tc_call went through). */
static uint64_t pipe_creates(struct tclient *t, int n_workers, int per_worker,
                             uint64_t *first_session)
{
    struct pipe_run r;
    memset(&r, 0, sizeof r);
    r.t = t;
    r.n_workers = n_workers;
    r.per_worker = per_worker;
    buf_init(&r.req, 0);
    for (int i = 0; i < n_workers; i++) {
        r.w[i].run = &r;
        r.w[i].session = tc_session_open(t);
    }
    for (int i = 0; i < n_workers; i++)
        pipe_send(&r.w[i]);
    uint64_t end = time_mono_ms() + WAIT_MS;
    while (r.completed + r.failed < n_workers * per_worker && r.failed == 0 && time_mono_ms() < end)
        uv_run(&t->loop, UV_RUN_ONCE);
    CHECK_EQ(r.failed, 0);
    CHECK_EQ(r.completed, n_workers * per_worker);
    if (first_session)
        *first_session = r.w[0].session;
    buf_free(&r.req);
    return r.max_index;
}

/* --- cases ------------------------------------------------------------------- */

/* Three nodes elect one leader; a create is durable and answered with its
 * index; a read through ReadIndex sees it; a duplicate name is EEXIST;
 * followers redirect to the leader's address. */
TEST_T(three_nodes_create_and_read, 120)
{
    struct tcluster c;
    cl_init(&c, 3, 3, 100000);
    for (int i = 0; i < 3; i++)
        node_start(&c, i);
    int l = wait_leader(&c);
    struct tclient t;
    tc_open(&t, &c);
    t.session = tc_session_open(&t);
    struct meta_attr a, b;
    CHECK_OK(tc_create(&t, "hello", &a));
    CHECK(a.ino > META_ROOT_INO);
    CHECK_EQ(tc_create(&t, "hello", NULL), CAIRN_EEXIST);
    CHECK_OK(tc_lookup(&t, "hello", &b));
    CHECK_EQ_U64(a.ino, b.ino);
    CHECK_EQ(tc_lookup(&t, "nothing", NULL), CAIRN_ENOENT);

    /* A follower answers NOTLEADER with the leader's address. */
    int f = (l + 1) % 3;
    const char *addrs[1] = {c.addrs[f]};
    struct rpc_client *fc;
    struct rpc_client_cfg cfg = {.name = "redirect", .seed = test_seed()};
    CHECK_OK(rpc_client_new(&t.loop, addrs, 1, &t.secret, &cfg, &fc));
    struct cairn_buf req, out;
    buf_init(&req, 0);
    buf_init(&out, 0);
    CHECK_OK(wire_meta_bytes_encode(&req, (const uint8_t *)"x", 1));
    uint16_t rtype;
    CHECK_EQ(rpc_call_sync(fc, WIRE_META_QUERY, req.data, req.len, WAIT_MS, &rtype, &out),
             CAIRN_NOTLEADER);
    CHECK_EQ(addr_index(&c, &out), wait_leader(&c));
    rpc_client_close(fc);
    buf_free(&req);
    buf_free(&out);
    tc_close(&t);
    cl_stop(&c);
}

/* 16 sessions create 32 files each with 16 mutations in flight: every one
 * is acknowledged, all replicas reach the same digest, and the leader's
 * proposals shared fdatasyncs (group commit: fewer syncs than creates). */
TEST_T(pipelined_creates_group_commit, 120)
{
    struct tcluster c;
    cl_init(&c, 3, 3, 100000);
    for (int i = 0; i < 3; i++)
        node_start(&c, i);
    int l = wait_leader(&c);
    struct tclient t;
    tc_open(&t, &c);
    t.session = tc_session_open(&t);
    uint64_t syncs0 = info_of(&c, l).syncs;
    uint64_t s0;
    uint64_t top = pipe_creates(&t, 16, 32, &s0);
    struct metad_info in = info_of(&c, l);
    CHECK(wait_leader(&c) == l);
    uint64_t syncs = in.syncs - syncs0;
    printf("group commit: %d creates, %" PRIu64 " leader fdatasyncs\n", 16 * 32, syncs);
    CHECKF(syncs < 16 * 32, "%" PRIu64 " syncs for %d creates", syncs, 16 * 32);
    wait_converged(&t, top);
    char name[64];
    snprintf(name, sizeof name, "s%" PRIu64 "-f31", s0);
    CHECK_OK(tc_lookup(&t, name, NULL));
    tc_close(&t);
    cl_stop(&c);
}

/* Everything acknowledged survives a stop and restart of every node. */
TEST_T(restart_keeps_namespace, 120)
{
    struct tcluster c;
    cl_init(&c, 3, 3, 100000);
    for (int i = 0; i < 3; i++)
        node_start(&c, i);
    wait_leader(&c);
    struct tclient t;
    tc_open(&t, &c);
    t.session = tc_session_open(&t);
    char name[32];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "f%d", i);
        CHECK_OK(tc_create(&t, name, NULL));
    }
    struct meta_attr before;
    CHECK_OK(tc_lookup(&t, "f7", &before));
    tc_close(&t);
    cl_stop(&c);

    for (int i = 0; i < 3; i++)
        node_start(&c, i);
    wait_leader(&c);
    tc_open(&t, &c);
    struct meta_attr after;
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "f%d", i);
        CHECK_OK(tc_lookup(&t, name, i == 7 ? &after : NULL));
    }
    CHECK_EQ_U64(before.ino, after.ino);
    t.session = tc_session_open(&t);
    CHECK_OK(tc_create(&t, "after-restart", NULL));
    tc_close(&t);
    cl_stop(&c);
}

/* A follower stopped while the others take snapshots and compact their
 * logs comes back and is brought up to date by InstallSnapshot. */
TEST_T(follower_catches_up_by_snapshot, 120)
{
    struct tcluster c;
    cl_init(&c, 3, 3, 40);
    for (int i = 0; i < 3; i++)
        node_start(&c, i);
    int l = wait_leader(&c);
    int f = (l + 1) % 3;
    node_stop(&c, f);
    struct tclient t;
    tc_open(&t, &c);
    tc_call(&t, WIRE_META_STATUS, &(struct cairn_buf){0}, &(struct cairn_buf){0});
    uint64_t top = pipe_creates(&t, 4, 50, NULL);
    CHECK(info_of(&c, wait_leader(&c)).snapshots_taken >= 1);
    node_start(&c, f);
    wait_converged(&t, top);
    CHECKF(info_of(&c, f).snapshots_installed >= 1, "follower %d did not install a snapshot", f);
    tc_close(&t);
    cl_stop(&c);
}

/* Nodes 2 and 3 hash the state for META_STATUS in a forked child, node 1
 * on its loop: once quiet, all three report the same nonzero digest. */
TEST_T(status_digest_from_child, 60)
{
    struct tcluster c;
    cl_init(&c, 3, 3, 100000);
    c.nodes[1].cfg.digest_inline_inodes_max = 0;
    c.nodes[2].cfg.digest_inline_inodes_max = 0;
    for (int i = 0; i < 3; i++)
        node_start(&c, i);
    wait_leader(&c);
    struct tclient t;
    tc_open(&t, &c);
    uint64_t top = pipe_creates(&t, 4, 20, NULL);
    struct cairn_buf keep;
    buf_init(&keep, 0);
    uint64_t end = time_mono_ms() + WAIT_MS;
    for (int done = 0; !done;) {
        struct wire_meta_status s[3];
        for (int i = 0; i < 3; i++)
            tc_status(&t, i, &s[i], &keep);
        done = 1;
        for (int i = 0; i < 3; i++)
            done = done && s[i].applied >= top && s[i].applied == s[0].applied &&
                   s[i].digest != 0 && s[i].digest == s[0].digest;
        CHECKF(done || time_mono_ms() < end, "no common digest at index %" PRIu64, top);
        if (!done)
            sleep_ms(20);
    }
    buf_free(&keep);
    tc_close(&t);
    cl_stop(&c);
}

static int member_op(struct tclient *t, uint8_t op, uint64_t node, const char *addr)
{
    struct cairn_buf req, out;
    buf_init(&req, 0);
    buf_init(&out, 0);
    struct wire_meta_member_req m = {op, node, {(const uint8_t *)addr, (uint32_t)strlen(addr)}};
    CHECK_OK(wire_meta_member_encode(&req, &m));
    int rc = tc_call(t, WIRE_META_MEMBER, &req, &out);
    buf_free(&req);
    buf_free(&out);
    return rc;
}

/* A fourth server started with join is added as a voter, catches up, is
 * counted in the status, then removed; leadership moves on request. */
TEST_T(membership_add_remove_transfer, 150)
{
    struct tcluster c;
    cl_init(&c, 3, 4, 100000);
    for (int i = 0; i < 4; i++)
        node_start(&c, i);
    wait_leader(&c);
    struct tclient t;
    tc_open(&t, &c);
    t.session = tc_session_open(&t);
    CHECK_OK(tc_create(&t, "before-add", NULL));
    CHECK_OK(member_op(&t, RAFT_CONF_ADD_VOTER, 4, c.addrs[3]));
    CHECK_EQ(member_op(&t, RAFT_CONF_ADD_VOTER, 4, c.addrs[3]), CAIRN_EEXIST);
    uint64_t idx;
    struct cairn_buf cmd, body;
    buf_init(&cmd, 0);
    buf_init(&body, 0);
    struct meta_hdr h = {.session = t.session, .seq = ++t.seq};
    CHECK_OK(meta_cmd_create(&cmd, &h, META_ROOT_INO, "after-add", 0644, 1));
    CHECK_OK(tc_cmd(&t, &cmd, &body, &idx));
    wait_converged(&t, idx);
    struct wire_meta_status s;
    tc_status(&t, 3, &s, &body);
    CHECK_EQ(s.n_members, 4);

    /* Leadership to the new member, then remove it (it hands over). */
    int l = wait_leader(&c);
    CHECK(l != 3);
    struct cairn_buf req, out;
    buf_init(&req, 0);
    buf_init(&out, 0);
    CHECK_OK(wire_meta_u64_encode(&req, 4));
    CHECK_OK(tc_call(&t, WIRE_META_TRANSFER, &req, &out));
    uint64_t end = time_mono_ms() + WAIT_MS;
    while (wait_leader(&c) != 3 && time_mono_ms() < end)
        sleep_ms(10);
    CHECK_EQ(wait_leader(&c), 3);
    CHECK_OK(member_op(&t, RAFT_CONF_REMOVE, 4, ""));
    end = time_mono_ms() + WAIT_MS;
    while (wait_leader(&c) == 3 && time_mono_ms() < end)
        sleep_ms(10);
    CHECK(wait_leader(&c) != 3);
    h.seq = ++t.seq;
    buf_reset(&cmd);
    CHECK_OK(meta_cmd_create(&cmd, &h, META_ROOT_INO, "after-remove", 0644, 1));
    CHECK_OK(tc_cmd(&t, &cmd, &body, &idx));
    tc_status(&t, wait_leader(&c), &s, &body);
    CHECK_EQ(s.n_members, 3);
    buf_free(&cmd);
    buf_free(&body);
    buf_free(&req);
    buf_free(&out);
    tc_close(&t);
    cl_stop(&c);
}

/* A data directory of another cluster is refused. */
TEST(wrong_cluster_refused)
{
    struct tcluster c;
    cl_init(&c, 1, 1, 100000);
    node_start(&c, 0);
    wait_leader(&c);
    node_stop(&c, 0);
    char err[256];
    CHECK_OK(metad_config_set(&c.nodes[0].cfg, "cluster", "another", err, sizeof err));
    struct metad *d;
    CHECK_EQ(metad_new(&c.nodes[0].cfg, &d), CAIRN_WRONGCLUSTER);
}

/* A member added at run time stays a member across a restart of every
 * node (the configuration comes back from the log and the saved commit),
 * and the joined node restarts from its own data directory. */
TEST_T(membership_survives_restart, 150)
{
    struct tcluster c;
    cl_init(&c, 3, 4, 100000);
    for (int i = 0; i < 4; i++)
        node_start(&c, i);
    wait_leader(&c);
    struct tclient t;
    tc_open(&t, &c);
    CHECK_OK(member_op(&t, RAFT_CONF_ADD_VOTER, 4, c.addrs[3]));
    t.session = tc_session_open(&t);
    CHECK_OK(tc_create(&t, "x", NULL));
    tc_close(&t);
    cl_stop(&c);
    for (int i = 0; i < 4; i++)
        node_start(&c, i);
    wait_leader(&c);
    tc_open(&t, &c);
    t.session = tc_session_open(&t);
    uint64_t idx;
    struct cairn_buf cmd, body;
    buf_init(&cmd, 0);
    buf_init(&body, 0);
    struct meta_hdr h = {.session = t.session, .seq = ++t.seq};
    CHECK_OK(meta_cmd_create(&cmd, &h, META_ROOT_INO, "y", 0644, 1));
    CHECK_OK(tc_cmd(&t, &cmd, &body, &idx));
    wait_converged(&t, idx);
    for (int i = 0; i < 4; i++) {
        struct wire_meta_status s;
        tc_status(&t, i, &s, &body);
        CHECK_EQ(s.n_members, 4);
        for (uint32_t k = 0; k < s.n_members; k++)
            CHECK_EQ(s.members[k].voter, 1);
    }
    /* Node 4 and another follower stopped: a 3-voter group would still
     * commit with the two left, a 4-voter group must not. */
    int l = wait_leader(&c);
    int other = l == 0 ? 1 : 0;
    node_stop(&c, l == 3 ? 2 : 3);
    node_stop(&c, other);
    h.seq = ++t.seq;
    buf_reset(&cmd);
    CHECK_OK(meta_cmd_create(&cmd, &h, META_ROOT_INO, "z", 0644, 1));
    struct cairn_buf req, out;
    buf_init(&req, 0);
    buf_init(&out, 0);
    CHECK_OK(wire_meta_bytes_encode(&req, cmd.data, cmd.len));
    const char *laddr[1] = {c.addrs[l]};
    struct rpc_client *lc;
    struct rpc_client_cfg ccfg = {.name = "to-leader", .seed = test_seed()};
    CHECK_OK(rpc_client_new(&t.loop, laddr, 1, &t.secret, &ccfg, &lc));
    uint16_t rtype;
    int rc = rpc_call_sync(lc, WIRE_META_CMD, req.data, req.len, 1500, &rtype, &out);
    CHECKF(rc == CAIRN_ETIMEDOUT || rc == CAIRN_NOTLEADER,
           "a create with 2 of 4 voters alive returned %s", cairn_err_name(rc));
    rpc_client_close(lc);
    buf_free(&req);
    buf_free(&out);
    buf_free(&cmd);
    buf_free(&body);
    tc_close(&t);
    cl_stop(&c);
}
