/*
 * client.c: the simulated clients and the history they record.
 *
 * Each client runs one operation at a time on keys 1..SIM_KEYS-1: PUT and
 * CAS are proposed on the node the client believes leads (following the
 * NOTLEADER hint), GET is a ReadIndex read served once the node has applied
 * the read's index. An operation answers when the node it went to applies
 * it (or serves the read); a timeout, a crash of that node, or the end of
 * the run leaves it unknown. The history keeps:
 *   - answered operations with their call and return steps;
 *   - unknown writes with return time LIN_TIME_INF (they may or may not have
 *     taken effect, at any time after their call);
 *   - never unknown reads (a read without an answer constrains nothing), nor
 *     writes that no node accepted or whose log slot another entry took (a
 *     Raft entry never moves to another index, so those never take effect).
 * Values are unique per write, so the check is sharp.
 *
 * Background load (key 0, not in the history) makes logs long enough for
 * snapshots and batching to matter.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "sim.h"
#include "wire/codec.h"

void clients_init(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->p.n_clients; i++) {
        struct sim_client *c = &w->clients[i];
        c->id = i + 1;
        c->state = SIM_CL_IDLE;
        c->next_tick = prng_range(&w->rng, 1, w->p.think_max);
        c->guess = prng_range(&w->rng, 1, w->p.n_voters);
    }
}

void hist_add(struct sim_world *w, const struct lin_op *op)
{
    w->hist = sim_xgrow(w->hist, &w->cap_hist, w->n_hist + 1, sizeof *w->hist);
    w->hist[w->n_hist++] = *op;
}

static void client_idle(struct sim_world *w, struct sim_client *c)
{
    c->state = SIM_CL_IDLE;
    c->next_tick = w->tick + prng_range(&w->rng, 0, w->p.think_max);
}

static void client_done(struct sim_world *w, struct sim_client *c, uint64_t out)
{
    c->op.ret_time = ++w->step;
    c->op.out[0] = out;
    hist_add(w, &c->op);
    if (c->op.kind == LIN_KV_GET)
        w->st.reads_ok++;
    else
        w->st.ops_ok++;
    trace_ev(w, SIM_EV_REPLY, c->node, c->id, (uint8_t)c->op.kind, c->op.key, c->op.arg[0], out, 0);
    client_idle(w, c);
}

/* The outcome is unknown: an accepted write stays in the history with no
 * return; a read is dropped. */
static void client_unknown(struct sim_world *w, struct sim_client *c)
{
    if (c->state == SIM_CL_WAIT_APPLY) {
        c->op.ret_time = LIN_TIME_INF;
        hist_add(w, &c->op);
        w->st.ops_unknown++;
    }
    trace_ev(w, SIM_EV_UNKNOWN, c->node, c->id, (uint8_t)c->op.kind, c->op.key, c->op.arg[0], 0, 0);
    client_idle(w, c);
}

static void client_begin(struct sim_world *w, struct sim_client *c)
{
    struct prng *r = &w->rng;
    uint32_t k = (uint32_t)prng_below(r, 10);
    c->seq++;
    uint64_t value = (uint64_t)c->id << 48 | c->seq;
    memset(&c->op, 0, sizeof c->op);
    c->op.client = c->id;
    c->op.call_time = ++w->step;
    c->op.key = prng_range(r, 1, SIM_KEYS - 1);
    if (k < 4) {
        c->op.kind = LIN_KV_GET;
    } else if (k < 8) {
        c->op.kind = LIN_KV_PUT;
        c->op.arg[0] = value;
    } else {
        /* Expect a value seen lately, or absent, so that some CAS succeed. */
        c->op.kind = LIN_KV_CAS;
        c->op.arg[0] = prng_chance(r, 2, 3) ? w->nodes[0].sm.vals[c->op.key] : 0;
        c->op.arg[1] = value;
    }
    c->ctx = (uint64_t)c->id << 40 | c->seq;
    c->deadline = w->tick + w->p.client_timeout;
    c->state = SIM_CL_SUBMIT;
}

/* The node a client tries: its guess if that node is up, else any live one. */
static struct sim_node *client_target(struct sim_world *w, struct sim_client *c)
{
    struct sim_node *n = sim_node(w, c->guess);
    if (n && n->state == SIM_NODE_UP)
        return n;
    uint32_t start = (uint32_t)prng_below(&w->rng, w->n_nodes);
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        n = &w->nodes[(start + i) % w->n_nodes];
        if (n->state == SIM_NODE_UP)
            return n;
    }
    return NULL;
}

static void client_submit(struct sim_world *w, struct sim_client *c)
{
    struct sim_node *n = client_target(w, c);
    if (!n)
        return;
    int rc;
    uint64_t idx = 0;
    if (c->op.kind == LIN_KV_GET) {
        rc = raft_read_index(n->r, c->ctx);
    } else {
        struct sim_cmd cmd = {.op = c->op.kind == LIN_KV_PUT ? SIM_CMD_PUT : SIM_CMD_CAS,
                              .key = (uint8_t)c->op.key,
                              .client = c->id,
                              .seq = c->seq,
                              .a0 = c->op.arg[0],
                              .a1 = c->op.arg[1]};
        uint8_t buf[SIM_CMD_BYTES];
        kv_cmd_encode(&cmd, buf);
        rc = raft_propose(n->r, buf, sizeof buf, &idx);
    }
    /* Refusals are not traced: with no leader they would fill the trace
     * that a failure report shows (role events say who leads). */
    if (rc != CAIRN_NOTLEADER && rc != CAIRN_EBUSY && rc != CAIRN_LIMIT)
        trace_ev(w, c->op.kind == LIN_KV_GET ? SIM_EV_READ : SIM_EV_PROPOSE, n->id, c->id,
                 (uint8_t)c->op.kind, c->op.key, (uint64_t)(int64_t)rc,
                 c->op.kind == LIN_KV_GET ? c->ctx : idx, 0);
    if (rc == 0) {
        c->node = n->id;
        c->index = idx;
        c->state = c->op.kind == LIN_KV_GET ? SIM_CL_WAIT_READ : SIM_CL_WAIT_APPLY;
    } else if (rc == CAIRN_NOTLEADER) {
        /* Follow the hint at once, or try the next node after a pause. */
        int hint = n->leader && n->leader != n->id;
        c->guess = hint ? n->leader : n->id % w->n_nodes + 1;
        c->next_tick = w->tick + (hint ? 1 : prng_range(&w->rng, 1, w->p.election_ticks / 2));
    } else if (rc == CAIRN_EBUSY || rc == CAIRN_LIMIT) {
        c->next_tick = w->tick + 1;
    } else {
        sim_fail(w, "core contract", "node %llu: %s returned %d (%s)", (unsigned long long)n->id,
                 c->op.kind == LIN_KV_GET ? "raft_read_index" : "raft_propose", rc,
                 cairn_err_name(rc));
    }
    sim_node_observe(w, n);
}

void clients_step(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->p.n_clients && !w->failed; i++) {
        struct sim_client *c = &w->clients[i];
        switch (c->state) {
        case SIM_CL_IDLE:
            if (w->tick < c->next_tick)
                break;
            client_begin(w, c);
            client_submit(w, c);
            break;
        case SIM_CL_SUBMIT:
            if (w->tick > c->deadline)
                client_idle(w, c); /* no node took it: it never happens */
            else if (w->tick >= c->next_tick)
                client_submit(w, c);
            break;
        case SIM_CL_WAIT_APPLY:
        case SIM_CL_WAIT_READ:
            if (w->tick > c->deadline)
                client_unknown(w, c);
            break;
        }
    }
}

void clients_on_apply(struct sim_world *w, struct sim_node *n, uint64_t index,
                      const struct sim_cmd *cmd, int is_cmd, uint64_t result)
{
    for (uint32_t i = 0; i < w->p.n_clients; i++) {
        struct sim_client *c = &w->clients[i];
        if (c->state != SIM_CL_WAIT_APPLY || c->node != n->id || c->index != index)
            continue;
        if (is_cmd && cmd->client == c->id && cmd->seq == c->seq) {
            client_done(w, c, c->op.kind == LIN_KV_CAS ? result : 0);
        } else {
            /* Another entry took the slot: this write never takes effect. */
            trace_ev(w, SIM_EV_UNKNOWN, n->id, c->id, (uint8_t)c->op.kind, c->op.key, 0, 0, 1);
            client_idle(w, c);
        }
    }
}

void clients_on_read(struct sim_world *w, struct sim_node *n, uint64_t ctx)
{
    for (uint32_t i = 0; i < w->p.n_clients; i++) {
        struct sim_client *c = &w->clients[i];
        if (c->state != SIM_CL_WAIT_READ || c->node != n->id || c->ctx != ctx)
            continue;
        uint8_t key = (uint8_t)c->op.key;
        buf_reset(&w->reply);
        CAIRN_ASSERT(n->sm.ops->query(&n->sm, &key, 1, &w->reply) == 0 && w->reply.len == 8);
        client_done(w, c, wire_load_u64(w->reply.data));
    }
}

void clients_on_crash(struct sim_world *w, struct sim_node *n)
{
    for (uint32_t i = 0; i < w->p.n_clients; i++) {
        struct sim_client *c = &w->clients[i];
        if ((c->state == SIM_CL_WAIT_APPLY || c->state == SIM_CL_WAIT_READ) && c->node == n->id)
            client_unknown(w, c);
    }
}

/* End of the run: what is still in flight is unknown. */
void clients_finish(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->p.n_clients; i++) {
        struct sim_client *c = &w->clients[i];
        if (c->state == SIM_CL_WAIT_APPLY || c->state == SIM_CL_WAIT_READ)
            client_unknown(w, c);
        c->state = SIM_CL_IDLE;
    }
}

/* Background writes on key 0, in bursts (batching), on the leader. */
void load_step(struct sim_world *w)
{
    if (!prng_chance(&w->rng, w->p.load_permille, 1000))
        return;
    struct sim_node *l = sim_find_leader(w);
    if (!l)
        return;
    uint32_t burst = (uint32_t)prng_range(&w->rng, 1, w->p.load_batch_max);
    uint8_t buf[SIM_CMD_BYTES + SIM_FILL_PAD_MAX];
    for (uint32_t i = 0; i < burst; i++) {
        struct sim_cmd cmd = {
            .op = SIM_CMD_FILL, .key = 0, .seq = ++w->load_seq, .a0 = w->load_seq};
        kv_cmd_encode(&cmd, buf);
        size_t pad = (size_t)prng_below(&w->rng, SIM_FILL_PAD_MAX + 1);
        memset(buf + SIM_CMD_BYTES, (int)(w->load_seq & 0xff), pad);
        uint64_t idx;
        if (raft_propose(l->r, buf, SIM_CMD_BYTES + pad, &idx) != 0)
            break;
    }
    sim_node_observe(w, l);
}
