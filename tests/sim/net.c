/*
 * net.c: the simulated network. Every message sent is deep-copied (the
 * core's ready buffers die at raft_advance) and delivered after a delay
 * drawn per message, unless dropped (at random, or by a partition at send
 * or at delivery time, or because the receiver is down); some are
 * duplicated. With reorder on, the messages due in a tick are delivered in
 * a shuffled order and delays alone reorder a link; with it off each link is
 * FIFO, as one TCP connection. Partitions are a [from][to] matrix, so cuts
 * can be one-way.
 */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "sim.h"

void net_init(struct sim_world *w)
{
    w->net.drop_pct = w->p.drop_pct;
    w->net.dup_pct = w->p.dup_pct;
    w->net.delay_min = w->p.delay_min;
    w->net.delay_max = w->p.delay_max;
}

void sim_msg_free(struct raft_msg *m)
{
    for (uint32_t i = 0; i < m->n_entries; i++)
        free(m->entries[i].data);
    free(m->entries);
    if (m->snapshot) {
        free(m->snapshot->data);
        free(m->snapshot);
    }
    m->entries = NULL;
    m->snapshot = NULL;
    m->n_entries = 0;
}

void net_free(struct sim_world *w)
{
    for (size_t i = 0; i < w->net.n; i++)
        sim_msg_free(&w->net.q[i].m);
    free(w->net.q);
    memset(&w->net, 0, sizeof w->net);
}

static void msg_copy(struct raft_msg *d, const struct raft_msg *s)
{
    *d = *s;
    d->entries = NULL;
    d->snapshot = NULL;
    if (s->n_entries > 0) {
        d->entries = sim_xcalloc(s->n_entries, sizeof *d->entries);
        for (uint32_t i = 0; i < s->n_entries; i++) {
            d->entries[i] = s->entries[i];
            d->entries[i].data = sim_xmemdup(s->entries[i].data, s->entries[i].len);
        }
    }
    if (s->snapshot) {
        d->snapshot = sim_xmalloc(sizeof *d->snapshot);
        *d->snapshot = *s->snapshot;
        d->snapshot->data = sim_xmemdup(s->snapshot->data, s->snapshot->len);
    }
}

/* Trace a message: a = term, b = index, c = log_term:n_entries, d = commit;
 * sub = type, 0x80 if a rejection, 0x40 if lost to a partition or a down
 * receiver. */
static void trace_msg(struct sim_world *w, uint8_t kind, const struct raft_msg *m, int cut)
{
    uint8_t sub = (uint8_t)(m->type | (m->reject ? 0x80 : 0) | (cut ? 0x40 : 0));
    trace_ev(w, kind, m->from, m->to, sub, m->term, m->index,
             m->log_term << 32 | (m->n_entries & 0xffffffffu), m->commit);
}

static void enqueue(struct sim_world *w, const struct raft_msg *m)
{
    struct sim_net *net = &w->net;
    net->q = sim_xgrow(net->q, &net->cap, net->n + 1, sizeof *net->q);
    struct sim_msg *s = &net->q[net->n++];
    msg_copy(&s->m, m);
    s->due = w->tick + prng_range(&w->rng, net->delay_min, net->delay_max);
    /* Now and then a message is held up for long (a stalled connection, a
     * router queue): it arrives stale, terms later. */
    if (prng_chance(&w->rng, w->p.long_delay_permille, 1000))
        s->due = w->tick + prng_range(&w->rng, net->delay_max, 10u * w->p.election_ticks);
    if (!w->p.reorder) {
        uint64_t *link = &net->link_due[m->from][m->to];
        s->due = CAIRN_MAX(s->due, *link);
        *link = s->due;
    }
    s->seq = ++net->seq;
}

static int msg_valid(struct sim_world *w, const struct raft_msg *m)
{
    if (m->to < 1 || m->to > w->n_nodes || m->to == m->from || m->type < 1 ||
        m->type > RAFT_MSG_TYPE_MAX || (m->n_entries > 0 && !m->entries) ||
        (m->type == RAFT_MSG_SNAP && !m->snapshot)) {
        sim_fail(w, "core contract",
                 "node %llu emits a malformed message: type %u to %llu, %u entries%s",
                 (unsigned long long)m->from, m->type, (unsigned long long)m->to, m->n_entries,
                 m->type == RAFT_MSG_SNAP && !m->snapshot ? ", no snapshot" : "");
        return 0;
    }
    return 1;
}

/* Send one message of a synced ready. Returns 1 if a partition refused it
 * (a shell would see the connection fail). */
int net_send(struct sim_world *w, const struct raft_msg *m)
{
    struct sim_net *net = &w->net;
    if (!msg_valid(w, m))
        return 0;
    if (net->blocked[m->from][m->to]) {
        w->st.msgs_dropped++;
        trace_msg(w, SIM_EV_DROP, m, 1);
        return 1;
    }
    if (net->n >= SIM_NET_MAX || prng_chance(&w->rng, net->drop_pct, 100)) {
        w->st.msgs_dropped++;
        trace_msg(w, SIM_EV_DROP, m, 0);
        return 0;
    }
    trace_msg(w, SIM_EV_SEND, m, 0);
    enqueue(w, m);
    if (prng_chance(&w->rng, net->dup_pct, 100)) {
        trace_msg(w, SIM_EV_DUP, m, 0);
        enqueue(w, m);
    }
    return 0;
}

/* Deliver every message due by now. They are moved out of the queue first:
 * deliveries make nodes send new messages, which are due later. */
void net_deliver_due(struct sim_world *w)
{
    struct sim_net *net = &w->net;
    size_t k = 0, n_due = 0;
    struct sim_msg *due = NULL;
    size_t cap_due = 0;
    for (size_t i = 0; i < net->n; i++) {
        if (net->q[i].due <= w->tick) {
            due = sim_xgrow(due, &cap_due, n_due + 1, sizeof *due);
            due[n_due++] = net->q[i];
        } else {
            net->q[k++] = net->q[i];
        }
    }
    net->n = k;
    if (w->p.reorder) {
        for (size_t i = n_due; i > 1; i--) {
            size_t j = (size_t)prng_below(&w->rng, i);
            struct sim_msg t = due[i - 1];
            due[i - 1] = due[j];
            due[j] = t;
        }
    }
    for (size_t i = 0; i < n_due; i++) {
        struct raft_msg *m = &due[i].m;
        struct sim_node *to = sim_node(w, m->to);
        if (w->failed) {
            /* stop delivering; just free */
        } else if (to->state != SIM_NODE_UP || net->blocked[m->from][m->to]) {
            w->st.msgs_dropped++;
            trace_msg(w, SIM_EV_DROP, m, 1);
        } else {
            w->st.msgs_delivered++;
            trace_msg(w, SIM_EV_DELIVER, m, 0);
            sim_node_recv(w, to, m);
        }
        sim_msg_free(m);
    }
    free(due);
}

/* A symmetric partition: nodes split into two non-empty sides at random. */
void net_partition(struct sim_world *w)
{
    uint32_t n = w->n_nodes;
    uint64_t mask = prng_below(&w->rng, ((uint64_t)1 << n) - 2) + 1; /* not none, not all */
    memset(w->net.blocked, 0, sizeof w->net.blocked);
    for (uint32_t a = 1; a <= n; a++)
        for (uint32_t b = 1; b <= n; b++)
            w->net.blocked[a][b] = ((mask >> (a - 1)) & 1) != ((mask >> (b - 1)) & 1);
    w->st.partitions++;
    trace_ev(w, SIM_EV_PARTITION, 0, 0, 0, mask, ~mask & (((uint64_t)1 << n) - 1), 0, 0);
}

/* A one-way cut: a's messages no longer reach b (b's still reach a). */
void net_cut(struct sim_world *w)
{
    uint32_t n = w->n_nodes;
    uint32_t a = (uint32_t)prng_range(&w->rng, 1, n);
    uint32_t b = (uint32_t)prng_range(&w->rng, 1, n - 1);
    if (b >= a)
        b++;
    w->net.blocked[a][b] = 1;
    w->st.partitions++;
    trace_ev(w, SIM_EV_CUT, a, b, 0, 0, 0, 0, 0);
}

void net_heal(struct sim_world *w)
{
    memset(w->net.blocked, 0, sizeof w->net.blocked);
    trace_ev(w, SIM_EV_HEAL, 0, 0, 0, 0, 0, 0, 0);
}

void net_isolate_all(struct sim_world *w)
{
    memset(w->net.blocked, 1, sizeof w->net.blocked);
    trace_ev(w, SIM_EV_PARTITION, 0, 0, 0, 0, 0, 0, 0);
}
