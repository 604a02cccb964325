/* metaclient.c: sessions, sequence numbers, leader discovery and retries
 * against the metadata group (see metaclient.h for the contract). */
#include "client/metaclient.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "meta/cmd.h"
#include "wire/msg_meta.h"
#include "wire/wire.h"

/* Header field offsets of cmd.h: u16 type, u64 now_ns, u64 session, u64 seq,
 * u32 uid, u32 gid, u8 n_groups. */
#define MC_OFF_SESSION 10u
#define MC_OFF_SEQ 18u
#define MC_HDR_MIN 35u

enum mc_kind {
    MC_MUTATE = 0,
    MC_QUERY = 1,
    MC_OPEN = 2,      /* SESSION_OPEN for a lane */
    MC_KEEPALIVE = 3, /* SESSION_KEEPALIVE for a lane */
};

/* Where an operation is between attempts. */
enum mc_where {
    MC_QUEUED = 0,   /* a mutation waiting for a free lane */
    MC_PARKED = 1,   /* a mutation waiting for its lane's session to open */
    MC_INFLIGHT = 2, /* an RPC attempt is outstanding */
    MC_DELAYED = 3,  /* waiting for its retry time */
};

enum lane_state {
    LANE_CLOSED = 0,
    LANE_OPENING = 1,
    LANE_READY = 2,
};

struct mc_op;

/* One session: carries one mutation at a time. */
struct mc_lane {
    uint8_t state;
    bool keepalive; /* a KEEPALIVE is outstanding */
    uint64_t session;
    uint64_t seq;     /* last sequence number given out */
    uint64_t used_ms; /* last time the servers renewed the lease */
    struct mc_op *op; /* the mutation holding the lane, or NULL */
};

struct mc_op {
    struct mc_op *prev, *next; /* queue or delayed list */
    struct metaclient *mc;
    uint8_t kind;
    uint8_t where;
    bool in_doubt;        /* an attempt may have been applied */
    int fail;             /* a local error to complete with (delayed path) */
    struct mc_lane *lane; /* MUTATE (once dispatched), OPEN, KEEPALIVE */
    uint64_t session;     /* what the command was stamped with */
    uint64_t seq;
    uint64_t deadline_ms; /* loop time after which the operation gives up */
    uint64_t due_ms;      /* MC_DELAYED: when to send again */
    uint64_t epoch;       /* mc->epoch when the attempt was sent */
    size_t addr_idx;      /* address the attempt went to */
    uint32_t attempts, waits, redirects;
    metaclient_cb cb;
    void *arg;
    size_t len;
    uint8_t cmd[];
};

struct mc_list {
    struct mc_op *head, *tail;
    size_t n;
};

struct metaclient {
    uv_loop_t *loop;
    uv_loop_t *own_loop; /* the private loop, or NULL */
    struct rpc_client *rpc;
    struct rpc_secret secret;
    char name[WIRE_CLIENT_NAME_MAX + 1];
    struct metaclient_addrs addrs;
    uint32_t lease_ms, attempt_ms, op_ms;
    struct prng rng;
    uint64_t epoch; /* bumped on every change of address */
    struct mc_lane *lanes;
    uint32_t n_lanes;
    struct mc_list queue;   /* mutations waiting for a lane */
    struct mc_list delayed; /* operations waiting for a retry time */
    size_t n_ops;           /* caller operations outstanding */
    struct cairn_buf scratch;
    uv_timer_t retry_timer;
    uv_timer_t keepalive_timer;
    int timers_open;
    bool closing;
    struct metaclient_stats st;
};

static void op_send(struct mc_op *op);
static void mc_dispatch(struct metaclient *mc);

/* --- pure pieces ------------------------------------------------------------ */

static int sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

int metaclient_addrs_find_or_add(struct metaclient_addrs *a, const char *addr, int *added)
{
    struct sockaddr_storage sa;
    *added = 0;
    if (strlen(addr) > CAIRN_MEMBER_ADDR_MAX || rpc_addr_parse(addr, &sa) != 0)
        return CAIRN_EINVAL;
    for (size_t i = 0; i < a->n; i++)
        if (sa_equal(&a->sa[i], &sa))
            return (int)i;
    if (a->n == CAIRN_RPC_ADDRS_MAX)
        return CAIRN_LIMIT;
    snprintf(a->text[a->n], sizeof a->text[a->n], "%s", addr);
    a->sa[a->n] = sa;
    *added = 1;
    return (int)a->n++;
}

int metaclient_hint_parse(const uint8_t *msg, size_t len, char *out, size_t out_len)
{
    CAIRN_ASSERT(out_len > CAIRN_MEMBER_ADDR_MAX);
    out[0] = '\0';
    if (len == 0)
        return CAIRN_ENOENT;
    if (len > CAIRN_MEMBER_ADDR_MAX || memchr(msg, '\0', len))
        return CAIRN_EINVAL;
    memcpy(out, msg, len);
    out[len] = '\0';
    struct sockaddr_storage sa;
    if (rpc_addr_parse(out, &sa) != 0) {
        out[0] = '\0';
        return CAIRN_EINVAL;
    }
    return 0;
}

int metaclient_cmd_stamp(uint8_t *cmd, size_t len, uint64_t session, uint64_t seq)
{
    if (len < MC_HDR_MIN)
        return CAIRN_TRUNCATED;
    wire_store_u64(cmd + MC_OFF_SESSION, session);
    wire_store_u64(cmd + MC_OFF_SEQ, seq);
    return (int)meta_cmd_class(wire_load_u16(cmd));
}

/* The retry policy in one table. Only a mutation can be "in doubt": a read
 * has no effect. NOTLEADER leaves a mutation in doubt because a leader that
 * loses its office answers NOTLEADER for entries the next leader may still
 * commit; a timeout or a lost connection may hide an applied command; LIMIT
 * and EBUSY are refusals before anything was proposed. */
struct metaclient_verdict metaclient_judge(int rpc_status, int meta_status, int mutation)
{
    struct metaclient_verdict v = {METACLIENT_ACT_FAIL, 0};
    switch (rpc_status) {
    case 0:
        v.action =
            meta_status == CAIRN_SESSION && mutation ? METACLIENT_ACT_REOPEN : METACLIENT_ACT_DONE;
        return v;
    case CAIRN_NOTLEADER:
        v.action = METACLIENT_ACT_REDIRECT;
        break;
    case CAIRN_ETIMEDOUT:
        v.action = METACLIENT_ACT_SWITCH;
        break;
    case CAIRN_CLOSED:
    case CAIRN_SHUTDOWN:
        v.action = METACLIENT_ACT_RETRY;
        break;
    case CAIRN_LIMIT:
    case CAIRN_EBUSY:
        v.action = METACLIENT_ACT_WAIT;
        return v;
    case CAIRN_UNAVAILABLE:
    case CAIRN_NOQUORUM:
    case CAIRN_EAGAIN:
        v.action = METACLIENT_ACT_WAIT;
        break;
    default:
        return v;
    }
    v.in_doubt = mutation != 0;
    return v;
}

uint32_t metaclient_backoff_ms(uint32_t waits, struct prng *rng)
{
    uint32_t shift = CAIRN_MIN(waits, 16u);
    uint64_t step = CAIRN_MIN((uint64_t)CAIRN_RPC_BACKOFF_MIN_MS << shift,
                              (uint64_t)CAIRN_METACLIENT_BACKOFF_MAX_MS);
    return (uint32_t)(step / 2 + prng_below(rng, step / 2 + 1));
}

/* --- lists ------------------------------------------------------------------ */

static void list_push(struct mc_list *l, struct mc_op *op, bool front)
{
    op->prev = op->next = NULL;
    if (!l->head) {
        l->head = l->tail = op;
    } else if (front) {
        op->next = l->head;
        l->head->prev = op;
        l->head = op;
    } else {
        op->prev = l->tail;
        l->tail->next = op;
        l->tail = op;
    }
    l->n++;
}

static void list_unlink(struct mc_list *l, struct mc_op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        l->head = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else
        l->tail = op->prev;
    op->prev = op->next = NULL;
    l->n--;
}

/* --- addresses ---------------------------------------------------------------- */

/* A new RPC client over the whole address list, dialing `preferred` first. */
static int mc_rpc_open(struct metaclient *mc, size_t preferred, struct rpc_client **out)
{
    const char *addrs[CAIRN_RPC_ADDRS_MAX];
    for (size_t i = 0; i < mc->addrs.n; i++)
        addrs[i] = mc->addrs.text[i];
    struct rpc_client_cfg cfg = {
        .name = mc->name,
        .preferred = preferred,
        .seed = prng_next(&mc->rng) | 1u,
        .limits = {.backoff_max_ms = CAIRN_METACLIENT_BACKOFF_MAX_MS},
    };
    return rpc_client_new(mc->loop, addrs, mc->addrs.n, &mc->secret, &cfg, out);
}

/* Move to the next address, once per address: the first attempt to time out
 * (or to find no leader) since the last move decides, the others sent to the
 * same address meanwhile only retry. */
static void mc_switch(struct metaclient *mc, uint64_t epoch)
{
    if (epoch != mc->epoch)
        return;
    rpc_client_next(mc->rpc);
    mc->epoch++;
    mc->st.switches++;
}

/* Follow a NOTLEADER hint. A leader not in our list (a member added at run
 * time) is added, and the RPC client is rebuilt over the longer list: the
 * old one's calls complete with CAIRN_SHUTDOWN and are retried on the new.
 * Returns 0 when the client now heads for the hint, else an error. */
static int mc_follow(struct metaclient *mc, const char *hint)
{
    int added;
    int idx = metaclient_addrs_find_or_add(&mc->addrs, hint, &added);
    if (idx < 0)
        return idx;
    if (added) {
        struct rpc_client *fresh;
        int rc = mc_rpc_open(mc, (size_t)idx, &fresh);
        if (rc) {
            mc->addrs.n--;
            return rc;
        }
        LOG_INFO("metaclient", "%s: new metadata member %s", mc->name, hint);
        struct rpc_client *old = mc->rpc;
        mc->rpc = fresh;
        mc->epoch++;
        rpc_client_close(old);
    } else if (rpc_client_addr_index(mc->rpc) != (size_t)idx) {
        rpc_client_prefer(mc->rpc, (size_t)idx);
        mc->epoch++;
    }
    mc->st.redirects++;
    return 0;
}

/* --- completing operations ------------------------------------------------ */

static void lane_release(struct metaclient *mc, struct mc_op *op)
{
    if (op->kind == MC_MUTATE && op->lane && op->lane->op == op)
        op->lane->op = NULL;
    else if (op->kind == MC_KEEPALIVE && op->lane)
        op->lane->keepalive = false;
    (void)mc;
}

/* Run the caller's callback (caller operations) and free the operation. */
static void op_complete(struct mc_op *op, int status, enum metaclient_outcome outcome,
                        uint64_t index, const uint8_t *reply, size_t len)
{
    struct metaclient *mc = op->mc;
    lane_release(mc, op);
    if (op->cb) {
        struct metaclient_result res = {status, outcome, index, reply, len, op->attempts};
        mc->st.ops++;
        if (outcome == METACLIENT_UNKNOWN)
            mc->st.unknown++;
        mc->n_ops--;
        op->cb(mc, &res, op->arg);
    }
    free(op);
}

static void op_give_up(struct mc_op *op, int status)
{
    enum metaclient_outcome o = op->in_doubt ? METACLIENT_UNKNOWN : METACLIENT_NOT_APPLIED;
    struct mc_lane *lane = op->kind == MC_OPEN ? op->lane : NULL;
    struct metaclient *mc = op->mc;
    op_complete(op, status, o, 0, NULL, 0);
    if (lane) {
        /* The session could not be opened: the mutation waiting for it
         * fails likewise (nothing of it was sent in this session). */
        lane->state = LANE_CLOSED;
        struct mc_op *w = lane->op;
        if (w && w->where == MC_PARKED)
            op_complete(w, status, w->in_doubt ? METACLIENT_UNKNOWN : METACLIENT_NOT_APPLIED, 0,
                        NULL, 0);
    }
    if (!mc->closing)
        mc_dispatch(mc);
}

/* --- the retry timer -------------------------------------------------------- */

static void mc_on_retry(uv_timer_t *t);

/* One timer serves every delayed operation: it fires at the earliest due
 * time (the list is short: at most the operations in flight). */
static void mc_arm_retry(struct metaclient *mc)
{
    if (mc->closing)
        return;
    if (!mc->delayed.head) {
        uv_timer_stop(&mc->retry_timer);
        return;
    }
    uint64_t due = UINT64_MAX;
    for (struct mc_op *p = mc->delayed.head; p; p = p->next)
        due = CAIRN_MIN(due, p->due_ms);
    uint64_t now = uv_now(mc->loop);
    uv_timer_start(&mc->retry_timer, mc_on_retry, due > now ? due - now : 0, 0);
}

static void mc_on_retry(uv_timer_t *t)
{
    struct metaclient *mc = t->data;
    uint64_t now = uv_now(mc->loop);
    /* One due operation at a time, looked up afresh: a callback run on the
     * way may close the client (the list is then emptied) or delay others.
     * An operation delayed again is due later than now, or given up. */
    while (!mc->closing) {
        struct mc_op *op = mc->delayed.head;
        while (op && op->due_ms > now)
            op = op->next;
        if (!op)
            break;
        list_unlink(&mc->delayed, op);
        if (op->fail)
            op_give_up(op, op->fail);
        else
            op_send(op);
    }
    mc_arm_retry(mc);
}

/* Send op again after a backoff (or, with fail set, complete it with that
 * error from the loop: callbacks never run inside a submitting call). */
static void op_delay(struct mc_op *op, int fail)
{
    struct metaclient *mc = op->mc;
    uint64_t now = uv_now(mc->loop);
    op->fail = fail;
    op->due_ms = now;
    if (!fail) {
        op->due_ms += metaclient_backoff_ms(op->waits++, &mc->rng);
        op->due_ms = CAIRN_MIN(op->due_ms, CAIRN_MAX(op->deadline_ms, now));
        mc->st.waits++;
    }
    op->where = MC_DELAYED;
    list_push(&mc->delayed, op, false);
    mc_arm_retry(mc);
}

/* --- attempts ------------------------------------------------------------- */

static void op_rpc_done(struct rpc_client *c, int status, const struct rpc_msg *m, void *arg);

/* One RPC attempt of op, bounded by the attempt timeout and what is left of
 * the operation's deadline. */
static void op_send(struct mc_op *op)
{
    struct metaclient *mc = op->mc;
    uv_update_time(mc->loop);
    uint64_t now = uv_now(mc->loop);
    if (now >= op->deadline_ms) {
        op_give_up(op, CAIRN_ETIMEDOUT);
        return;
    }
    uint32_t timeout = (uint32_t)CAIRN_MIN((uint64_t)mc->attempt_ms, op->deadline_ms - now);
    uint16_t type = op->kind == MC_QUERY ? WIRE_META_QUERY : WIRE_META_CMD;
    buf_reset(&mc->scratch);
    int rc = wire_meta_bytes_encode(&mc->scratch, op->cmd, op->len);
    if (rc == 0)
        rc = rpc_call(mc->rpc, type, mc->scratch.data, mc->scratch.len, timeout, op_rpc_done, op);
    if (rc == CAIRN_EBUSY) {
        op_delay(op, 0);
        return;
    }
    if (rc) {
        op_delay(op, rc);
        return;
    }
    op->where = MC_INFLIGHT;
    op->epoch = mc->epoch;
    op->addr_idx = rpc_client_addr_index(mc->rpc);
    op->attempts++;
    mc->st.attempts++;
}

/* The state machine's reply inside a META_CMD_REPLY / META_QUERY_REPLY:
 * 0 with the reply bytes and its status, or CAIRN_BADMSG. */
static int op_decode(const struct mc_op *op, const struct rpc_msg *m, uint64_t *index,
                     struct wire_bytes *reply, int *meta_status)
{
    *index = 0;
    int rc;
    if (op->kind == MC_QUERY) {
        rc = m->type == WIRE_META_QUERY_REPLY ? wire_meta_bytes_decode(m->payload, m->len, reply)
                                              : CAIRN_BADMSG;
    } else {
        struct wire_meta_cmd_reply r = {0};
        rc = m->type == WIRE_META_CMD_REPLY ? wire_meta_cmd_reply_decode(m->payload, m->len, &r)
                                            : CAIRN_BADMSG;
        *index = r.index;
        *reply = r.reply;
    }
    if (rc)
        return CAIRN_BADMSG;
    *meta_status = meta_reply_status(reply->p, reply->len);
    return *meta_status == CAIRN_TRUNCATED ? CAIRN_BADMSG : 0;
}

static void op_done(struct mc_op *op, int meta_status, uint64_t index, const uint8_t *reply,
                    size_t len);
static void op_reopen(struct mc_op *op);

/* After a NOTLEADER: go where the hint says, at once the first time; a hint
 * naming the server that sent it, an empty or bad hint, or a second hint for
 * the same operation (the hinted leader may be dead: its followers have not
 * noticed yet) moves on and waits. */
static void op_redirect(struct mc_op *op, const struct rpc_msg *m)
{
    struct metaclient *mc = op->mc;
    char hint[CAIRN_MEMBER_ADDR_MAX + 1];
    int rc = m ? metaclient_hint_parse(m->payload, m->len, hint, sizeof hint) : CAIRN_ENOENT;
    if (rc == 0) {
        int added;
        int idx = metaclient_addrs_find_or_add(&mc->addrs, hint, &added);
        if (added)
            mc->addrs.n--; /* only looked up here; mc_follow adds it */
        if (idx >= 0 && !added && (size_t)idx == op->addr_idx)
            rc = CAIRN_EINVAL;
    }
    if (rc == 0 && mc_follow(mc, hint) == 0) {
        if (op->redirects++ == 0) {
            op_send(op);
            return;
        }
    } else {
        mc_switch(mc, op->epoch);
    }
    op_delay(op, 0);
}

static void op_rpc_done(struct rpc_client *c, int status, const struct rpc_msg *m, void *arg)
{
    (void)c;
    struct mc_op *op = arg;
    struct metaclient *mc = op->mc;
    if (mc->closing) {
        op->in_doubt = op->in_doubt || op->kind == MC_MUTATE;
        op_give_up(op, CAIRN_SHUTDOWN);
        return;
    }
    uint64_t index = 0;
    struct wire_bytes reply = {0};
    int meta_status = 0;
    if (status == 0 && op_decode(op, m, &index, &reply, &meta_status) != 0) {
        LOG_WARN("metaclient", "%s: malformed reply from %s", mc->name, m->peer->addr);
        op->in_doubt = op->in_doubt || op->kind == MC_MUTATE;
        op_give_up(op, CAIRN_BADMSG);
        return;
    }
    struct metaclient_verdict v = metaclient_judge(status, meta_status, op->kind == MC_MUTATE);
    op->in_doubt = op->in_doubt || v.in_doubt;
    switch (v.action) {
    case METACLIENT_ACT_DONE:
        op_done(op, meta_status, index, reply.p, reply.len);
        return;
    case METACLIENT_ACT_REOPEN:
        op_reopen(op);
        return;
    case METACLIENT_ACT_REDIRECT:
        op_redirect(op, m);
        return;
    case METACLIENT_ACT_SWITCH:
        mc_switch(mc, op->epoch);
        op_send(op);
        return;
    case METACLIENT_ACT_RETRY:
        op_send(op);
        return;
    case METACLIENT_ACT_WAIT:
        op_delay(op, 0);
        return;
    case METACLIENT_ACT_FAIL:
        op_give_up(op, status);
        return;
    }
    CAIRN_UNREACHABLE();
}

/* --- sessions (lanes) ------------------------------------------------------- */

static struct mc_op *op_new(struct metaclient *mc, uint8_t kind, const uint8_t *cmd, size_t len,
                            uint32_t timeout_ms)
{
    struct mc_op *op = calloc(1, sizeof *op + len);
    if (!op)
        return NULL;
    op->mc = mc;
    op->kind = kind;
    op->len = len;
    memcpy(op->cmd, cmd, len);
    uv_update_time(mc->loop);
    op->deadline_ms = uv_now(mc->loop) + timeout_ms;
    return op;
}

/* An internal session command (OPEN or KEEPALIVE) for lane. */
static int lane_cmd(struct metaclient *mc, struct mc_lane *lane, uint8_t kind, uint32_t timeout_ms)
{
    struct meta_hdr h = {.session = kind == MC_OPEN ? 0 : lane->session};
    struct cairn_buf b;
    buf_init(&b, 0);
    int rc = kind == MC_OPEN ? meta_cmd_session_open(&b, &h, mc->lease_ms)
                             : meta_cmd_session_keepalive(&b, &h);
    struct mc_op *op = rc ? NULL : op_new(mc, kind, b.data, b.len, timeout_ms);
    buf_free(&b);
    if (!op)
        return rc ? rc : CAIRN_ENOMEM;
    op->lane = lane;
    op->session = h.session;
    op_send(op);
    return 0;
}

/* Give the lane's mutation its session and next sequence number and send
 * it; a lane without a session opens one first (the mutation waits). */
static void lane_start(struct metaclient *mc, struct mc_lane *lane)
{
    struct mc_op *op = lane->op;
    if (lane->state == LANE_READY) {
        op->session = lane->session;
        op->seq = ++lane->seq;
        metaclient_cmd_stamp(op->cmd, op->len, op->session, op->seq);
        op_send(op);
        return;
    }
    op->where = MC_PARKED;
    if (lane->state == LANE_OPENING)
        return;
    lane->state = LANE_OPENING;
    int rc = lane_cmd(mc, lane, MC_OPEN, mc->op_ms);
    if (rc) {
        lane->state = LANE_CLOSED;
        op_delay(op, rc);
    }
}

/* The session of op's lane is gone (expired, or lost by the group). */
static void op_reopen(struct mc_op *op)
{
    struct metaclient *mc = op->mc;
    struct mc_lane *lane = op->lane;
    mc->st.sessions_lost++;
    if (lane->state == LANE_READY && lane->session == op->session)
        lane->state = LANE_CLOSED;
    LOG_INFO("metaclient", "%s: session %llu lost", mc->name, (unsigned long long)op->session);
    if (op->in_doubt) {
        op_give_up(op, CAIRN_SESSION);
        return;
    }
    lane_start(mc, lane);
}

/* SESSION_OPEN applied: the lane is ready, its waiting mutation goes. */
static void lane_opened(struct mc_op *op, int meta_status, const uint8_t *reply, size_t len)
{
    struct metaclient *mc = op->mc;
    struct mc_lane *lane = op->lane;
    struct wire_dec d;
    wire_dec_init(&d, reply + 4, len - 4);
    uint64_t session = wire_get_u64(&d);
    (void)wire_get_u64(&d); /* expiry_ns: the servers' clock, not ours */
    int rc = meta_status ? meta_status : wire_dec_finish(&d);
    if (rc == 0 && session == 0)
        rc = CAIRN_BADMSG;
    if (rc) {
        op_give_up(op, rc);
        return;
    }
    lane->state = LANE_READY;
    lane->session = session;
    lane->seq = 0;
    lane->used_ms = uv_now(mc->loop);
    mc->st.sessions_opened++;
    free(op);
    if (lane->op && lane->op->where == MC_PARKED)
        lane_start(mc, lane);
}

static void op_done(struct mc_op *op, int meta_status, uint64_t index, const uint8_t *reply,
                    size_t len)
{
    struct metaclient *mc = op->mc;
    struct mc_lane *lane = op->lane;
    switch (op->kind) {
    case MC_OPEN:
        lane_opened(op, meta_status, reply, len);
        return;
    case MC_KEEPALIVE:
        if (meta_status == 0)
            lane->used_ms = uv_now(mc->loop);
        else if (meta_status == CAIRN_SESSION && lane->state == LANE_READY &&
                 lane->session == op->session && !lane->op)
            lane->state = LANE_CLOSED;
        lane->keepalive = false;
        free(op);
        return;
    case MC_MUTATE:
        lane->used_ms = uv_now(mc->loop);
        break;
    default:
        break;
    }
    op_complete(op, meta_status, METACLIENT_DONE, index, reply, len);
    mc_dispatch(mc);
}

/* Hand queued mutations to free lanes, in order. */
static void mc_dispatch(struct metaclient *mc)
{
    for (uint32_t i = 0; i < mc->n_lanes && mc->queue.head; i++) {
        struct mc_lane *lane = &mc->lanes[i];
        if (lane->op)
            continue;
        struct mc_op *op = mc->queue.head;
        list_unlink(&mc->queue, op);
        op->lane = lane;
        lane->op = op;
        lane_start(mc, lane);
    }
}

/* Keep idle sessions alive: a session's own mutations renew its lease, so
 * only lanes quiet for a third of the lease send a KEEPALIVE. */
static void mc_on_keepalive(uv_timer_t *t)
{
    struct metaclient *mc = t->data;
    uint64_t now = uv_now(mc->loop);
    for (uint32_t i = 0; i < mc->n_lanes; i++) {
        struct mc_lane *lane = &mc->lanes[i];
        if (lane->state != LANE_READY || lane->op || lane->keepalive ||
            now - lane->used_ms < mc->lease_ms / 3)
            continue;
        lane->keepalive = true;
        if (lane_cmd(mc, lane, MC_KEEPALIVE, mc->lease_ms / 3) == 0)
            mc->st.keepalives++;
        else
            lane->keepalive = false;
    }
}

/* --- public calls ------------------------------------------------------------ */

static int mc_cfg_apply(struct metaclient *mc, const struct metaclient_cfg *cfg)
{
    if (!cfg->secret || cfg->n_addrs == 0 || cfg->n_addrs > CAIRN_RPC_ADDRS_MAX ||
        cfg->sessions > CAIRN_METACLIENT_SESSIONS_MAX)
        return CAIRN_EINVAL;
    for (size_t i = 0; i < cfg->n_addrs; i++) {
        int added;
        if (metaclient_addrs_find_or_add(&mc->addrs, cfg->addrs[i], &added) < 0)
            return CAIRN_EINVAL;
    }
    mc->lease_ms = cfg->lease_ms ? cfg->lease_ms : METACLIENT_LEASE_MS_DEFAULT;
    if (mc->lease_ms < CAIRN_SESSION_LEASE_MIN_MS || mc->lease_ms > CAIRN_SESSION_LEASE_MAX_MS)
        return CAIRN_EINVAL;
    mc->attempt_ms =
        cfg->attempt_timeout_ms ? cfg->attempt_timeout_ms : METACLIENT_ATTEMPT_MS_DEFAULT;
    mc->op_ms = cfg->op_timeout_ms ? cfg->op_timeout_ms : METACLIENT_OP_MS_DEFAULT;
    mc->n_lanes = cfg->sessions ? cfg->sessions : 1;
    mc->secret = *cfg->secret;
    snprintf(mc->name, sizeof mc->name, "%s", cfg->name ? cfg->name : "metaclient");
    uint64_t seed = cfg->seed;
    if (seed == 0 && rpc_random(&seed, sizeof seed) != 0)
        seed = (uint64_t)(uintptr_t)mc;
    prng_seed(&mc->rng, seed);
    return 0;
}

static void mc_free(struct metaclient *mc)
{
    rpc_secret_wipe(&mc->secret);
    buf_free(&mc->scratch);
    free(mc->lanes);
    free(mc);
}

int metaclient_new(uv_loop_t *loop, const struct metaclient_cfg *cfg, struct metaclient **out)
{
    struct metaclient *mc = calloc(1, sizeof *mc);
    if (!mc)
        return CAIRN_ENOMEM;
    int rc = mc_cfg_apply(mc, cfg);
    mc->lanes = rc ? NULL : calloc(mc->n_lanes, sizeof *mc->lanes);
    if (!rc && !mc->lanes)
        rc = CAIRN_ENOMEM;
    if (!rc && !loop) {
        mc->own_loop = malloc(sizeof *mc->own_loop);
        rc = !mc->own_loop ? CAIRN_ENOMEM : uv_loop_init(mc->own_loop) ? CAIRN_EIO : 0;
        if (rc) {
            free(mc->own_loop);
            mc->own_loop = NULL;
        }
        loop = mc->own_loop;
    }
    if (rc) {
        mc_free(mc);
        return rc;
    }
    mc->loop = loop;
    buf_init(&mc->scratch, 0);
    rc = mc_rpc_open(mc, 0, &mc->rpc);
    if (rc) {
        if (mc->own_loop) {
            uv_loop_close(mc->own_loop);
            free(mc->own_loop);
        }
        mc_free(mc);
        return rc;
    }
    uv_timer_init(loop, &mc->retry_timer);
    uv_timer_init(loop, &mc->keepalive_timer);
    mc->retry_timer.data = mc->keepalive_timer.data = mc;
    mc->timers_open = 2;
    uint64_t every = CAIRN_MAX(mc->lease_ms / 6, 100u);
    uv_timer_start(&mc->keepalive_timer, mc_on_keepalive, every, every);
    *out = mc;
    return 0;
}

static void mc_on_timer_closed(uv_handle_t *h)
{
    struct metaclient *mc = h->data;
    if (--mc->timers_open == 0 && !mc->own_loop)
        mc_free(mc);
}

/* Fail every operation not in flight (in-flight ones fail through their
 * RPC callbacks when the RPC client closes). */
static void mc_fail_waiting(struct metaclient *mc)
{
    while (mc->queue.head) {
        struct mc_op *op = mc->queue.head;
        list_unlink(&mc->queue, op);
        op_give_up(op, CAIRN_SHUTDOWN);
    }
    while (mc->delayed.head) {
        struct mc_op *op = mc->delayed.head;
        list_unlink(&mc->delayed, op);
        op_give_up(op, CAIRN_SHUTDOWN);
    }
}

void metaclient_close(struct metaclient *mc)
{
    if (mc->closing)
        return;
    mc->closing = true;
    mc_fail_waiting(mc);
    /* Parked mutations complete with their lane's OPEN, which is in flight. */
    rpc_client_close(mc->rpc);
    mc->rpc = NULL;
    for (uint32_t i = 0; i < mc->n_lanes; i++)
        CAIRN_ASSERT(mc->lanes[i].op == NULL);
    CAIRN_ASSERT(mc->n_ops == 0);
    uv_close((uv_handle_t *)&mc->retry_timer, mc_on_timer_closed);
    uv_close((uv_handle_t *)&mc->keepalive_timer, mc_on_timer_closed);
    if (mc->own_loop) {
        uv_loop_t *loop = mc->own_loop;
        while (uv_run(loop, UV_RUN_DEFAULT) != 0)
            ;
        CAIRN_ASSERT(mc->timers_open == 0);
        uv_loop_close(loop);
        free(loop);
        mc_free(mc);
    }
}

static int mc_submit(struct metaclient *mc, uint8_t kind, const uint8_t *cmd, size_t len,
                     metaclient_cb cb, void *arg)
{
    if (mc->closing)
        return CAIRN_SHUTDOWN;
    if (!cb || len > CAIRN_RAFT_PROPOSAL_MAX)
        return CAIRN_EINVAL;
    int cls = len >= MC_HDR_MIN ? (int)meta_cmd_class(wire_load_u16(cmd)) : CAIRN_TRUNCATED;
    if (cls != (kind == MC_MUTATE ? META_CLASS_SESSION : META_CLASS_READ))
        return CAIRN_EINVAL;
    if (mc->n_ops >= CAIRN_METACLIENT_OPS_MAX)
        return CAIRN_LIMIT;
    struct mc_op *op = op_new(mc, kind, cmd, len, mc->op_ms);
    if (!op)
        return CAIRN_ENOMEM;
    op->cb = cb;
    op->arg = arg;
    mc->n_ops++;
    if (kind == MC_QUERY) {
        op_send(op);
        return 0;
    }
    op->where = MC_QUEUED;
    list_push(&mc->queue, op, false);
    mc_dispatch(mc);
    return 0;
}

int metaclient_mutate(struct metaclient *mc, const uint8_t *cmd, size_t len, metaclient_cb cb,
                      void *arg)
{
    return mc_submit(mc, MC_MUTATE, cmd, len, cb, arg);
}

int metaclient_query(struct metaclient *mc, const uint8_t *cmd, size_t len, metaclient_cb cb,
                     void *arg)
{
    return mc_submit(mc, MC_QUERY, cmd, len, cb, arg);
}

struct mc_sync {
    bool done;
    struct metaclient_result res;
    struct cairn_buf *reply;
};

static void mc_sync_done(struct metaclient *mc, const struct metaclient_result *res, void *arg)
{
    (void)mc;
    struct mc_sync *w = arg;
    w->done = true;
    w->res = *res;
    w->res.reply = NULL;
    if (res->reply && w->reply && buf_append(w->reply, res->reply, res->reply_len) != 0 &&
        w->res.status == 0)
        w->res.status = CAIRN_ENOMEM;
}

static int mc_sync(struct metaclient *mc, uint8_t kind, const uint8_t *cmd, size_t len,
                   struct cairn_buf *reply, struct metaclient_result *res)
{
    struct mc_sync w = {.reply = reply};
    int rc = mc_submit(mc, kind, cmd, len, mc_sync_done, &w);
    if (rc)
        return rc;
    /* The keep-alive timer is always active, so UV_RUN_ONCE blocks until
     * something happens and never spins. */
    while (!w.done)
        uv_run(mc->loop, UV_RUN_ONCE);
    if (res)
        *res = w.res;
    return w.res.status;
}

int metaclient_mutate_sync(struct metaclient *mc, const uint8_t *cmd, size_t len,
                           struct cairn_buf *reply, struct metaclient_result *res)
{
    return mc_sync(mc, MC_MUTATE, cmd, len, reply, res);
}

int metaclient_query_sync(struct metaclient *mc, const uint8_t *cmd, size_t len,
                          struct cairn_buf *reply, struct metaclient_result *res)
{
    return mc_sync(mc, MC_QUERY, cmd, len, reply, res);
}

uv_loop_t *metaclient_loop(struct metaclient *mc) { return mc->loop; }

const char *metaclient_current_addr(const struct metaclient *mc)
{
    if (!mc->rpc)
        return "";
    return mc->addrs.text[rpc_client_addr_index(mc->rpc)];
}

void metaclient_get_stats(const struct metaclient *mc, struct metaclient_stats *out)
{
    *out = mc->st;
}
