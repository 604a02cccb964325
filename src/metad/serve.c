/*
 * serve.c: client requests of the metadata daemon (wire.h WIRE_META_*):
 * commands through the log, reads through ReadIndex, status, membership
 * changes and leadership transfer. Every request is completed exactly
 * once: at once (an error, a status), when its entry is applied, when its
 * read round is served, or with NOTLEADER/SHUTDOWN when leadership or the
 * process goes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "common/time.h"
#include "meta/cmd.h"
#include "metad/chunks.h"
#include "metad/locks.h"
#include "metad/node_int.h"
#include "wire/codec.h"
#include "wire/msg_meta.h"
#include "wire/msg_rpc.h"

/* A read round that gets no answer within this many election timeouts is
 * given up (the leader may be cut off and not know it yet). */
#define READ_ROUND_TIMEOUTS 2u

const char *metad_leader_addr(const struct metad *d)
{
    if (d->leader == RAFT_NONE)
        return "";
    if (d->leader == d->cfg.id) {
        /* The address the members know us by (a proxy's in the nemesis
         * tests), which may differ from where we listen. */
        const char *self = metad_members_get(&d->members, d->cfg.id);
        return self && *self ? self : d->cfg.listen;
    }
    const char *a = metad_members_get(&d->members, d->leader);
    if (!a)
        a = transport_peer_addr(d->tr, d->leader);
    return a ? a : "";
}

static void reply_error(struct metad *d, struct rpc_req *req, int code)
{
    rpc_reply_error(req, code, code == CAIRN_NOTLEADER ? metad_leader_addr(d) : NULL);
}

/* Every member's address reaches the transport (ours excepted). */
void metad_update_peers(struct metad *d)
{
    if (!d->tr)
        return; /* at start, before the transport exists */
    for (uint32_t i = 0; i < d->members.n; i++) {
        const struct metad_member *m = &d->members.v[i];
        if (m->id != d->cfg.id && transport_set_peer(d->tr, m->id, m->addr) != 0)
            LOG_WARN(METAD_SUBSYS, "cannot use address %s of member %" PRIu64, m->addr, m->id);
    }
}

/* --- pending requests ---------------------------------------------------- */

static struct pending *pending_new(struct metad *d, struct rpc_req *req, uint8_t kind)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->req = req;
    p->kind = kind;
    d->n_pending++;
    return p;
}

static void pending_free(struct metad *d, struct pending *p)
{
    CAIRN_ASSERT(d->n_pending > 0 && d->pending_bytes >= p->bytes);
    d->n_pending--;
    d->pending_bytes -= p->bytes;
    free(p->query);
    free(p);
}

static void list_push(struct pend_list *l, struct pending *p)
{
    p->next = NULL;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
    l->n++;
}

static struct pending *list_pop(struct pend_list *l)
{
    struct pending *p = l->head;
    if (p) {
        l->head = p->next;
        if (!l->head)
            l->tail = NULL;
        l->n--;
    }
    return p;
}

static void list_fail(struct metad *d, struct pend_list *l, int code)
{
    struct pending *p;
    while ((p = list_pop(l))) {
        reply_error(d, p->req, code);
        pending_free(d, p);
    }
}

/* Leadership (or the process) is going: nothing pending will be answered
 * by this node. A command may still commit under the next leader; the
 * client retries it with the same sequence number and meta deduplicates. */
void metad_fail_pending(struct metad *d, int code)
{
    metad_locks_fail(d);
    size_t it = 0;
    uint64_t k;
    void *v;
    while (hmap_next(&d->cmds, &it, &k, &v)) {
        struct pending *p = v;
        reply_error(d, p->req, code);
        pending_free(d, p);
    }
    hmap_free(&d->cmds);
    hmap_init(&d->cmds);
    list_fail(d, &d->read_next, code);
    list_fail(d, &d->read_round, code);
    list_fail(d, &d->read_wait, code);
    d->read_in_flight = 0;
    d->tick_index = 0;
    metad_chunks_reset(d, code);
}

/* A proposal at index waits for its entry; an older request left at the
 * same index (its entry was replaced by another leader's) is answered. */
static int pending_at(struct metad *d, struct pending *p, uint64_t index)
{
    p->index = index;
    p->term = raft_term_at(d->raft, index);
    struct pending *old = hmap_get(&d->cmds, index);
    if (old) {
        reply_error(d, old->req, CAIRN_NOTLEADER);
        pending_free(d, old);
    }
    return hmap_put(&d->cmds, index, p);
}

void metad_apply_reply(struct metad *d, uint64_t index, uint64_t term, int kind,
                       const struct cairn_buf *reply)
{
    struct pending *p = hmap_del(&d->cmds, index);
    if (!p)
        return;
    if (p->term != term || p->kind != kind) {
        reply_error(d, p->req, CAIRN_NOTLEADER); /* another leader's entry took the index */
        pending_free(d, p);
        return;
    }
    buf_reset(&d->scratch);
    int rc;
    if (kind == PEND_CMD) {
        struct wire_meta_cmd_reply r = {index, {reply->data, (uint32_t)reply->len}};
        rc = wire_meta_cmd_reply_encode(&d->scratch, &r);
        if (rc == 0)
            rc = rpc_reply(p->req, WIRE_META_CMD_REPLY, d->scratch.data, d->scratch.len);
    } else {
        rc = wire_meta_u64_encode(&d->scratch, index);
        if (rc == 0)
            rc = rpc_reply(p->req, WIRE_META_MEMBER_REPLY, d->scratch.data, d->scratch.len);
    }
    if (rc)
        rpc_reply_error(p->req, rc, "reply encoding failed");
    pending_free(d, p);
}

void metad_pending_answer(struct metad *d, struct pending *p, uint64_t index, const uint8_t *reply,
                          size_t len)
{
    buf_reset(&d->scratch);
    struct wire_meta_cmd_reply r = {index, {reply, (uint32_t)len}};
    int rc = wire_meta_cmd_reply_encode(&d->scratch, &r);
    if (rc == 0)
        rc = rpc_reply(p->req, WIRE_META_CMD_REPLY, d->scratch.data, d->scratch.len);
    if (rc)
        rpc_reply_error(p->req, rc, "reply encoding failed");
    pending_free(d, p);
}

/* --- requests -------------------------------------------------------------- */

/* Common gate: leader, not stopping, room for one more pending request. */
static int admit(struct metad *d, struct rpc_req *req)
{
    int code = 0;
    if (d->stopping)
        code = CAIRN_SHUTDOWN;
    else if (d->role != RAFT_LEADER)
        code = CAIRN_NOTLEADER;
    else if (d->n_pending >= CAIRN_METAD_PENDING_MAX ||
             d->pending_bytes > CAIRN_RAFTIO_QUEUE_BYTES_MAX)
        code = CAIRN_LIMIT;
    if (code)
        reply_error(d, req, code);
    return code;
}

/* The core refused a proposal: map its answer for the client. */
static int propose_error(int rc) { return rc == CAIRN_EBUSY ? CAIRN_NOTLEADER : rc; }

/* Stamp the leader's wall clock into a command (u64 now_ns at offset 2)
 * and propose it as a tagged entry. */
static int propose_cmd(struct metad *d, const uint8_t *cmd, size_t len, uint64_t *index)
{
    if (len < 10)
        return CAIRN_TRUNCATED;
    buf_reset(&d->scratch);
    int rc = metad_entry_cmd(&d->scratch, cmd, len);
    if (rc)
        return rc;
    wire_store_u64(d->scratch.data + 1 + 2, metad_now_ns(d));
    rc = raft_propose(d->raft, d->scratch.data, d->scratch.len, index);
    if (rc == 0)
        d->counters.proposals++;
    return rc;
}

static void on_cmd(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                   void *arg)
{
    struct metad *d = arg;
    if (admit(d, req))
        return;
    struct wire_bytes cmd;
    int rc = wire_meta_bytes_decode(msg->payload, msg->len, &cmd);
    uint64_t index = 0;
    const uint8_t *cp = cmd.p;
    size_t clen = cmd.len;
    if (rc == 0)
        rc = metad_chunks_rewrite(d, &cp, &clen); /* placement fills CHUNK_ALLOC */
    if (rc == 0)
        rc = propose_cmd(d, cp, clen, &index);
    struct pending *p = NULL;
    if (rc == 0 && !(p = pending_new(d, req, PEND_CMD)))
        rc = CAIRN_ENOMEM;
    if (rc == 0 && (rc = pending_at(d, p, index)) != 0)
        pending_free(d, p);
    if (rc) {
        reply_error(d, req, propose_error(rc));
        return;
    }
    p->bytes = cmd.len;
    d->pending_bytes += cmd.len;
}

/* Start a ReadIndex round for every read waiting for one. */
static void read_round_start(struct metad *d)
{
    if (d->read_in_flight || !d->read_next.n || d->role != RAFT_LEADER)
        return;
    int rc = raft_read_index(d->raft, ++d->read_ctx);
    if (rc) {
        list_fail(d, &d->read_next, propose_error(rc));
        return;
    }
    d->read_round = d->read_next;
    memset(&d->read_next, 0, sizeof d->read_next);
    d->read_in_flight = 1;
    d->read_started_ms = time_mono_ms();
}

static void on_query(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                     void *arg)
{
    struct metad *d = arg;
    if (admit(d, req))
        return;
    struct wire_bytes q;
    int rc = wire_meta_bytes_decode(msg->payload, msg->len, &q);
    struct pending *p = NULL;
    if (rc == 0 && !(p = pending_new(d, req, PEND_QUERY)))
        rc = CAIRN_ENOMEM;
    if (rc == 0 && q.len && !(p->query = malloc(q.len))) {
        pending_free(d, p);
        rc = CAIRN_ENOMEM;
    }
    if (rc) {
        reply_error(d, req, rc);
        return;
    }
    if (q.len)
        memcpy(p->query, q.p, q.len);
    p->query_len = q.len;
    list_push(&d->read_next, p);
    read_round_start(d);
}

void metad_read_state(struct metad *d, uint64_t ctx, uint64_t index)
{
    if (!d->read_in_flight || ctx != d->read_ctx)
        return; /* a round given up meanwhile */
    struct pending *p;
    while ((p = list_pop(&d->read_round))) {
        p->index = index;
        list_push(&d->read_wait, p);
    }
    d->read_in_flight = 0;
}

/* Serve the reads whose index is applied (read indexes only grow, so the
 * list is in index order), and start the next round. */
void metad_reads_served(struct metad *d)
{
    while (d->read_wait.head && d->read_wait.head->index <= d->applied) {
        struct pending *p = list_pop(&d->read_wait);
        buf_reset(&d->reply);
        meta_query(d->meta, p->query, p->query_len, &d->reply);
        buf_reset(&d->scratch);
        int rc = wire_meta_bytes_encode(&d->scratch, d->reply.data, d->reply.len);
        if (rc == 0)
            rpc_reply(p->req, WIRE_META_QUERY_REPLY, d->scratch.data, d->scratch.len);
        else
            rpc_reply_error(p->req, rc, "reply too large");
        pending_free(d, p);
    }
    read_round_start(d);
}

void metad_reads_tick(struct metad *d)
{
    uint64_t limit = (uint64_t)READ_ROUND_TIMEOUTS * d->cfg.election_ticks * d->cfg.tick_ms;
    if (d->read_in_flight && time_mono_ms() - d->read_started_ms > limit) {
        LOG_WARN(METAD_SUBSYS, "read round %" PRIu64 " unanswered for %" PRIu64 " ms", d->read_ctx,
                 limit);
        list_fail(d, &d->read_round, CAIRN_NOTLEADER);
        d->read_in_flight = 0;
    }
    read_round_start(d);
}

static void on_status(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                      void *arg)
{
    struct metad *d = arg;
    struct raft_status st;
    raft_get_status(d->raft, &st);
    struct wire_meta_status s;
    memset(&s, 0, sizeof s);
    s.id = d->cfg.id;
    s.role = (uint8_t)st.role;
    s.term = st.term;
    s.leader = st.leader;
    const char *la = metad_leader_addr(d);
    s.leader_addr = (struct wire_bytes){(const uint8_t *)la, (uint32_t)strlen(la)};
    s.commit = st.commit;
    s.applied = d->applied;
    s.snapshot_index = st.snapshot_index;
    if (!metad_bg_digest(d, &s.digest))
        s.digest = 0; /* large state changing or being hashed: ask again */
    for (uint32_t i = 0; i < st.conf.n_voters + st.conf.n_learners; i++) {
        int voter = i < st.conf.n_voters;
        uint64_t id = voter ? st.conf.voters[i] : st.conf.learners[i - st.conf.n_voters];
        const char *a = id == d->cfg.id ? d->cfg.listen : metad_members_get(&d->members, id);
        if (!a)
            a = "";
        s.members[s.n_members++] = (struct wire_meta_member){
            id, (uint8_t)voter, {(const uint8_t *)a, (uint32_t)strlen(a)}};
    }
    buf_reset(&d->scratch);
    int rc = wire_meta_status_encode(&d->scratch, &s);
    if (rc)
        rpc_reply_error(req, rc, "status encoding failed");
    else
        rpc_reply(req, WIRE_META_STATUS_REPLY, d->scratch.data, d->scratch.len);
}

static int in_conf(const struct raft_conf *c, uint64_t id, int *voter)
{
    for (uint32_t i = 0; i < c->n_voters; i++)
        if (c->voters[i] == id)
            return *voter = 1, 1;
    for (uint32_t i = 0; i < c->n_learners; i++)
        if (c->learners[i] == id)
            return *voter = 0, 1;
    return 0;
}

/* Validate a membership request against the current configuration, and
 * for an addition, put the address into the log before the change. */
static int member_prepare(struct metad *d, const struct wire_meta_member_req *m)
{
    struct raft_status st;
    raft_get_status(d->raft, &st);
    int voter = 0, present = in_conf(&st.conf, m->node, &voter);
    if (m->op == RAFT_CONF_REMOVE)
        return present ? 0 : CAIRN_ENOENT;
    if (present && (voter || m->op == RAFT_CONF_ADD_LEARNER))
        return CAIRN_EEXIST;
    char addr[CAIRN_MEMBER_ADDR_MAX + 1], host[64];
    uint16_t port;
    if (m->addr.len == 0) {
        const char *known = metad_members_get(&d->members, m->node);
        if (!known)
            return CAIRN_EINVAL; /* a new member needs its address */
        snprintf(addr, sizeof addr, "%s", known);
    } else {
        memcpy(addr, m->addr.p, m->addr.len);
        addr[m->addr.len] = 0;
    }
    if (metad_split_hostport(addr, host, sizeof host, &port))
        return CAIRN_EINVAL;
    buf_reset(&d->scratch);
    uint64_t index;
    int rc = metad_entry_member(&d->scratch, m->node, addr);
    if (rc == 0)
        rc = raft_propose(d->raft, d->scratch.data, d->scratch.len, &index);
    if (rc == 0)
        transport_set_peer(d->tr, m->node, addr); /* the leader talks to it at once */
    return rc;
}

static void on_member(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                      void *arg)
{
    struct metad *d = arg;
    if (admit(d, req))
        return;
    struct wire_meta_member_req m;
    int rc = wire_meta_member_decode(msg->payload, msg->len, &m);
    if (rc == 0)
        rc = member_prepare(d, &m);
    uint64_t index = 0;
    if (rc == 0) {
        struct raft_conf_change cc = {m.op, m.node};
        rc = raft_propose_conf(d->raft, &cc, &index);
    }
    struct pending *p = NULL;
    if (rc == 0 && !(p = pending_new(d, req, PEND_MEMBER)))
        rc = CAIRN_ENOMEM;
    if (rc == 0 && (rc = pending_at(d, p, index)) != 0)
        pending_free(d, p);
    if (rc) {
        reply_error(d, req, rc == CAIRN_EBUSY ? CAIRN_EBUSY : rc);
        return;
    }
    LOG_INFO(METAD_SUBSYS, "membership change proposed: op %u node %" PRIu64 " index=%" PRIu64,
             m.op, m.node, index);
}

static void on_transfer(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                        void *arg)
{
    struct metad *d = arg;
    if (admit(d, req))
        return;
    uint64_t target;
    int rc = wire_meta_u64_decode(msg->payload, msg->len, &target);
    if (rc == 0)
        rc = raft_transfer_leader(d->raft, target);
    if (rc) {
        reply_error(d, req, rc);
        return;
    }
    LOG_INFO(METAD_SUBSYS, "leadership transfer to %" PRIu64 " requested", target);
    rpc_reply(req, WIRE_META_TRANSFER_REPLY, NULL, 0);
}

/* The leader lets time pass in the state machine: sessions expire and
 * pending writes pass their deadlines through the log, deterministically. */
void metad_propose_tick(struct metad *d)
{
    if (d->role != RAFT_LEADER || d->tick_index || d->stopping)
        return;
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    buf_reset(&d->reply);
    if (meta_cmd_tick(&d->reply, &h))
        return;
    uint64_t index;
    if (propose_cmd(d, d->reply.data, d->reply.len, &index) == 0)
        d->tick_index = index;
}

int metad_serve_attach(struct metad *d)
{
    static const struct {
        uint16_t type;
        rpc_handler_fn fn;
    } handlers[] = {
        {WIRE_META_CMD, on_cmd},           {WIRE_META_QUERY, on_query},
        {WIRE_META_STATUS, on_status},     {WIRE_META_MEMBER, on_member},
        {WIRE_META_TRANSFER, on_transfer},
    };
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
        int rc = rpc_server_handle(d->srv, handlers[i].type, 0, handlers[i].fn, d);
        if (rc)
            return rc;
    }
    return metad_chunks_attach(d);
}
