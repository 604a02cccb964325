/*
 * nemesis.c: the faults of the fault phase. On a tick it acts with the
 * seed's probability, picking one of: a symmetric partition, a one-way cut,
 * healing the network, crashing a node (it restarts after a drawn downtime),
 * crashing the leader, a membership change (add a learner, which starts a
 * spare or brings a removed node back, or add a voter straight; promote a
 * learner; remove a voter or learner, the leader included), a leadership transfer, or skewing a
 * node's clock (slower or faster ticks) for a while.
 */
#include "cairn_errors.h"
#include "common/assert.h"
#include "sim.h"

static struct sim_node *random_up(struct sim_world *w)
{
    uint32_t start = (uint32_t)prng_below(&w->rng, w->n_nodes);
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        struct sim_node *n = &w->nodes[(start + i) % w->n_nodes];
        if (n->state == SIM_NODE_UP)
            return n;
    }
    return NULL;
}

static void crash(struct sim_world *w, struct sim_node *n)
{
    if (n)
        sim_node_crash(w, n, prng_range(&w->rng, 1, w->p.crash_down_max));
}

/* A node's clock runs slow or fast for a while (its ticks, not the
 * network's). */
static void skew(struct sim_world *w)
{
    struct sim_node *n = random_up(w);
    if (!n)
        return;
    n->skew_until = w->tick + prng_range(&w->rng, 10, 200);
    n->skew_fast = prng_chance(&w->rng, 1, 2);
    trace_ev(w, SIM_EV_SLOW, n->id, 0, (uint8_t)n->skew_fast, n->skew_until, 0, 0, 0);
}

static int accepted_rc(int rc) { return rc == 0 || rc == CAIRN_EBUSY || rc == CAIRN_NOTLEADER; }

/* Pick a single-server change: promote a learner; add a node from outside
 * (as a learner mostly, straight as a voter sometimes; a spare starts empty,
 * a removed node comes back with its old disk); or remove a voter or a
 * learner, keeping two voters (one, now and then). */
static int pick_change(struct sim_world *w, const struct raft_conf *conf,
                       struct raft_conf_change *cc)
{
    struct prng *r = &w->rng;
    if (conf->n_learners > 0 && prng_chance(r, 2, 3)) {
        cc->op = RAFT_CONF_ADD_VOTER;
        cc->node = conf->learners[prng_below(r, conf->n_learners)];
        return 1;
    }
    uint64_t outside[SIM_NODES_MAX];
    uint32_t n_out = 0;
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        int voter;
        if (!sim_conf_has(conf, w->nodes[i].id, &voter))
            outside[n_out++] = w->nodes[i].id;
    }
    if (n_out > 0 && prng_chance(r, 1, 2)) {
        cc->op = prng_chance(r, 1, 5) ? RAFT_CONF_ADD_VOTER : RAFT_CONF_ADD_LEARNER;
        cc->node = outside[prng_below(r, n_out)];
        struct sim_node *n = sim_node(w, cc->node);
        if (n->state == SIM_NODE_OFF)
            sim_node_start(w, n);
        return 1;
    }
    uint32_t min_voters = prng_chance(r, 1, 4) ? 1 : 2;
    uint32_t voters = conf->n_voters > min_voters ? conf->n_voters : 0;
    if (voters + conf->n_learners == 0)
        return 0;
    uint32_t k = (uint32_t)prng_below(r, voters + conf->n_learners);
    cc->op = RAFT_CONF_REMOVE;
    cc->node = k < voters ? conf->voters[k] : conf->learners[k - voters];
    return 1;
}

static void conf_change(struct sim_world *w)
{
    struct sim_node *l = sim_find_leader(w);
    if (!l)
        return;
    struct raft_status st;
    raft_get_status(l->r, &st);
    struct raft_conf_change cc;
    if (!pick_change(w, &st.conf, &cc))
        return;
    uint64_t idx = 0;
    int rc = raft_propose_conf(l->r, &cc, &idx);
    trace_ev(w, SIM_EV_CONF, l->id, cc.node, cc.op, (uint64_t)(int64_t)rc, idx, 0, 0);
    if (rc == 0)
        w->st.conf_proposed++;
    else if (!accepted_rc(rc))
        sim_fail(w, "core contract", "raft_propose_conf(op %u, node %llu) on leader %llu = %d (%s)",
                 cc.op, (unsigned long long)cc.node, (unsigned long long)l->id, rc,
                 cairn_err_name(rc));
    sim_node_observe(w, l);
}

static void transfer(struct sim_world *w)
{
    struct sim_node *l = sim_find_leader(w);
    if (!l)
        return;
    struct raft_status st;
    raft_get_status(l->r, &st);
    if (st.conf.n_voters < 2)
        return;
    uint64_t target;
    do
        target = st.conf.voters[prng_below(&w->rng, st.conf.n_voters)];
    while (target == l->id);
    int rc = raft_transfer_leader(l->r, target);
    trace_ev(w, SIM_EV_TRANSFER, l->id, target, 0, (uint64_t)(int64_t)rc, 0, 0, 0);
    if (rc == 0)
        w->st.transfers++;
    else if (!accepted_rc(rc))
        sim_fail(w, "core contract", "raft_transfer_leader(%llu) on leader %llu = %d (%s)",
                 (unsigned long long)target, (unsigned long long)l->id, rc, cairn_err_name(rc));
    sim_node_observe(w, l);
}

void nemesis_step(struct sim_world *w)
{
    if (!prng_chance(&w->rng, w->p.fault_permille, 1000))
        return;
    uint32_t k = (uint32_t)prng_below(&w->rng, 100);
    if (k < 14)
        net_partition(w);
    else if (k < 24)
        w->p.one_way ? net_cut(w) : net_partition(w);
    else if (k < 40)
        net_heal(w);
    else if (k < 55)
        crash(w, random_up(w));
    else if (k < 62)
        crash(w, sim_find_leader(w));
    else if (k < 77)
        w->p.conf_changes ? conf_change(w) : crash(w, random_up(w));
    else if (k < 88)
        w->p.transfers ? transfer(w) : net_heal(w);
    else
        skew(w);
}
