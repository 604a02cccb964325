/*
 * world.c: the simulated group: node lifecycles, the ready/sync loop that
 * stands for each node's shell, and the phases of one run (faults, then
 * healing and the liveness check, in meta mode a settle phase comparing
 * every live replica's state digest, then the history check).
 *
 * One tick: the nemesis may act; crashed nodes due back restart; every live
 * node ticks (a skewed clock ticks half or 1.5 times as often); due messages
 * are delivered (a receiver sometimes runs its I/O at once, so batching
 * varies); clients and
 * background load propose; every live node runs its I/O: sync a written
 * ready once its sync time has come (persist, then send, then apply, then
 * advance, as raft.h orders it), take the next ready. Checkers run inside
 * each of these steps.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "sim.h"

void *sim_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    CAIRN_ASSERT(p != NULL);
    return p;
}

void *sim_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    CAIRN_ASSERT(p != NULL);
    return p;
}

void *sim_xmemdup(const void *p, size_t n)
{
    if (n == 0 || p == NULL)
        return NULL;
    void *q = sim_xmalloc(n);
    memcpy(q, p, n);
    return q;
}

/* Grow an array to hold `need` elements (doubling); new space is zeroed. */
void *sim_xgrow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    uint8_t *q = realloc(p, c * size);
    CAIRN_ASSERT(q != NULL);
    memset(q + *cap * size, 0, (c - *cap) * size);
    *cap = c;
    return q;
}

struct sim_node *sim_node(struct sim_world *w, uint64_t id)
{
    if (id < 1 || id > w->n_nodes)
        return NULL;
    return &w->nodes[id - 1];
}

int sim_conf_has(const struct raft_conf *c, uint64_t id, int *is_voter)
{
    *is_voter = 0;
    for (uint32_t i = 0; i < c->n_voters; i++) {
        if (c->voters[i] == id) {
            *is_voter = 1;
            return 1;
        }
    }
    for (uint32_t i = 0; i < c->n_learners; i++)
        if (c->learners[i] == id)
            return 1;
    return 0;
}

/* The live node that leads the highest term (an old leader may not know it
 * was deposed yet). */
struct sim_node *sim_find_leader(struct sim_world *w)
{
    struct sim_node *best = NULL;
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        struct sim_node *n = &w->nodes[i];
        if (n->state == SIM_NODE_UP && n->role == RAFT_LEADER && (!best || n->term > best->term))
            best = n;
    }
    return best;
}

/* Draw the run's parameters: each seed explores one corner of the space. */
static void draw_params(struct sim_world *w)
{
    struct prng *r = &w->rng;
    struct sim_params *p = &w->p;
    p->n_voters = prng_chance(r, 1, 2) ? 3 : 5;
    p->conf_changes = prng_chance(r, 2, 3);
    p->n_spares = p->conf_changes ? (uint32_t)prng_range(r, 0, 2) : 0;
    /* Ticks are coarse: a message takes 1..delay_max ticks and a sync up to
     * sync_ticks_max, so an election timeout must span a few round trips
     * (real clusters have a ratio of 100 or more). */
    p->election_ticks = (uint32_t)prng_range(r, 10, 20);
    p->heartbeat_ticks = (uint32_t)prng_range(r, 1, p->election_ticks / 4);
    p->pre_vote = prng_chance(r, 4, 5);
    p->check_quorum = prng_chance(r, 4, 5);
    p->max_entries_per_msg = prng_chance(r, 1, 4) ? 1 : (uint32_t)prng_range(r, 2, 64);
    p->max_bytes_per_msg = prng_chance(r, 1, 3) ? (uint32_t)prng_range(r, 64, 1024) : 65536;
    p->max_inflight_msgs = (uint32_t)prng_range(r, 1, 16);
    p->drop_pct = prng_chance(r, 1, 4) ? 0 : (uint32_t)prng_range(r, 1, 20);
    p->dup_pct = prng_chance(r, 1, 2) ? 0 : (uint32_t)prng_range(r, 1, 10);
    p->delay_min = (uint32_t)prng_range(r, 1, 2);
    p->delay_max = p->delay_min + (uint32_t)prng_range(r, 0, p->election_ticks / 3);
    p->reorder = prng_chance(r, 1, 2);
    p->one_way = prng_chance(r, 1, 2);
    p->long_delay_permille = prng_chance(r, 1, 2) ? 0 : (uint32_t)prng_range(r, 1, 20);
    p->sync_ticks_max = (uint32_t)prng_range(r, 0, 2);
    p->torn_writes = prng_chance(r, 1, 3);
    p->snapshot_every = prng_chance(r, 1, 8) ? 0 : (uint32_t)prng_range(r, 3, 40);
    p->fault_ticks = (uint32_t)prng_range(r, 500, 5000);
    p->fault_permille = (uint32_t)prng_range(r, 10, 60);
    p->crash_down_max = (uint32_t)prng_range(r, 5, 150);
    p->transfers = prng_chance(r, 1, 2);
    p->n_clients = (uint32_t)prng_range(r, 1, SIM_CLIENTS_MAX);
    p->think_max = (uint32_t)prng_range(r, 1, 10);
    p->client_timeout = p->election_ticks * (uint32_t)prng_range(r, 3, 6);
    p->load_permille = (uint32_t)prng_range(r, 0, 300);
    p->load_batch_max = (uint32_t)prng_range(r, 1, 16);
    CAIRN_ASSERT(p->n_voters + p->n_spares <= SIM_NODES_MAX);
}

static void world_init(struct sim_world *w, const struct sim_opts *o)
{
    w->o = *o;
    w->seed = o->seed;
    prng_seed(&w->rng, o->seed);
    draw_params(w);
    w->tr.verbose = o->verbose;
    w->n_nodes = w->p.n_voters + w->p.n_spares;
    if (o->verbose)
        sim_print_params(stdout, w);
    for (uint32_t i = 0; i < w->p.n_voters; i++)
        w->initial.voters[w->initial.n_voters++] = i + 1;
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        struct sim_node *n = &w->nodes[i];
        n->id = i + 1;
        n->disk.snap.conf = w->initial;
        sm_init(&n->sm, sm_ops_of(o->sm), &w->initial);
    }
    buf_init(&w->reply, 0);
    buf_init(&w->probe, 0);
    net_init(w);
    chk_init(w);
    if (o->sm == SIM_SM_META)
        mcl_init(w);
    else
        clients_init(w);
    for (uint32_t i = 0; i < w->p.n_voters; i++)
        sim_node_start(w, &w->nodes[i]);
}

static void world_free(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        struct sim_node *n = &w->nodes[i];
        if (n->r)
            raft_free(n->r);
        pending_discard(&n->pend);
        disk_free(&n->disk);
        free(n->reads);
        sm_free(&n->sm);
    }
    mcl_free(w);
    buf_free(&w->reply);
    buf_free(&w->probe);
    net_free(w);
    chk_free(w);
    free(w->hist);
}

/* The core of a node (re)starting from its disk; NULL if it refuses. */
static struct raft *node_core_new(struct sim_world *w, struct sim_node *n)
{
    struct sim_disk *d = &n->disk;
    struct raft_config cfg = {
        .id = n->id,
        .election_ticks = w->p.election_ticks,
        .heartbeat_ticks = w->p.heartbeat_ticks,
        .seed = hash_u64(w->seed * 1000003u + n->id * 1009u + n->incarnation),
        .pre_vote = w->p.pre_vote,
        .check_quorum = w->p.check_quorum,
        .max_entries_per_msg = w->p.max_entries_per_msg,
        .max_bytes_per_msg = w->p.max_bytes_per_msg,
        .max_inflight_msgs = w->p.max_inflight_msgs,
    };
    struct raft_entry *ents = sim_xcalloc(d->n_log, sizeof *ents);
    for (size_t i = 0; i < d->n_log; i++) {
        const struct sim_entry *e = &d->log[i];
        ents[i] = (struct raft_entry){
            .term = e->term, .index = e->index, .type = e->type, .len = e->len, .data = e->data};
    }
    struct raft_restore rs = {
        .hard_state = d->hs,
        .snapshot_meta = {.index = d->snap.index, .term = d->snap.term, .conf = d->snap.conf},
        .entries = ents,
        .n_entries = d->n_log,
        .applied = d->snap.index,
        .snapshot_data = d->snap.data,
        .snapshot_len = d->snap.len,
    };
    struct raft *r = raft_new(&cfg, &rs);
    free(ents);
    return r;
}

/* Boot a node from what its disk holds: a spare's first start (the group's
 * initial configuration at index 0) or a restart after a crash. */
void sim_node_start(struct sim_world *w, struct sim_node *n)
{
    CAIRN_ASSERT(n->state != SIM_NODE_UP);
    int fresh = n->state == SIM_NODE_OFF;
    struct sim_disk *d = &n->disk;
    n->r = node_core_new(w, n);
    if (!n->r) {
        /* The node cannot come back: its disk holds a state the core refuses.
         * It stays down; the run ends at this step. */
        sim_fail(w, "core contract",
                 "node %llu: raft_new refused its durable state (hard state term %llu vote %llu "
                 "commit %llu, snapshot %llu/%llu, log %llu..%llu, last term %llu)",
                 (unsigned long long)n->id, (unsigned long long)d->hs.term,
                 (unsigned long long)d->hs.vote, (unsigned long long)d->hs.commit,
                 (unsigned long long)d->snap.index, (unsigned long long)d->snap.term,
                 (unsigned long long)d->snap.index + 1, (unsigned long long)disk_last(d),
                 (unsigned long long)disk_term_at(d, disk_last(d)));
        n->state = SIM_NODE_DOWN;
        n->restart_tick = UINT64_MAX;
        return;
    }
    if (d->snap.index == 0)
        sm_init(&n->sm, n->sm.ops, &d->snap.conf);
    else if (sm_load(&n->sm, d->snap.data, d->snap.len, &d->snap.conf) != 0)
        sim_fail(w, "state machine safety",
                 "node %llu: its durable snapshot at %llu does not load (%zu bytes)",
                 (unsigned long long)n->id, (unsigned long long)d->snap.index, d->snap.len);
    n->incarnation++;
    n->state = SIM_NODE_UP;
    n->restart_tick = 0;
    n->skew_until = 0;
    n->n_reads = 0;
    n->role = RAFT_FOLLOWER;
    n->term = d->hs.term;
    n->leader = RAFT_NONE;
    n->commit = 0;
    n->commit_checked = d->snap.index;
    /* What it knows committed now is what its disk says. */
    n->hold = CAIRN_MIN(n->hold, CAIRN_MAX(d->hs.commit, d->snap.index));
    trace_ev(w, fresh ? SIM_EV_START : SIM_EV_RESTART, n->id, 0, 0, d->hs.term, d->hs.commit,
             d->snap.index, disk_last(d));
    if (d->snap.index > 0) {
        chk_snapshot(w, n, d->snap.index, d->snap.term, n->sm.digest);
        chk_state(w, n, d->snap.index, sm_state_digest(&n->sm), "restarts from its snapshot");
    }
    sim_node_observe(w, n);
}

/* Crash: the core and everything in memory go; an unsynced ready is lost
 * (or torn); its messages were never sent. */
void sim_node_crash(struct sim_world *w, struct sim_node *n, uint64_t down_ticks)
{
    CAIRN_ASSERT(n->state == SIM_NODE_UP);
    int lost = n->pend.active;
    size_t kept = pending_crash(w, n);
    raft_free(n->r);
    n->r = NULL;
    n->state = SIM_NODE_DOWN;
    n->restart_tick = down_ticks == UINT64_MAX ? UINT64_MAX : w->tick + down_ticks;
    n->n_reads = 0;
    n->role = RAFT_FOLLOWER;
    n->leader = RAFT_NONE;
    w->st.crashes++;
    w->st.torn += kept > 0;
    trace_ev(w, down_ticks == UINT64_MAX ? SIM_EV_STOP : SIM_EV_CRASH, n->id, 0, 0, (uint64_t)lost,
             kept, down_ticks == UINT64_MAX ? 0 : down_ticks, 0);
    if (w->o.sm == SIM_SM_META)
        mcl_on_crash(w, n);
    else
        clients_on_crash(w, n);
}

/* Corruptions for the self-tests that fire when a node becomes leader. */
static void corrupt_on_leader(struct sim_world *w, struct sim_node *n)
{
    if (w->corrupted || w->tick < 100)
        return;
    if (w->o.corrupt == SIM_CORRUPT_SPLIT_BRAIN) {
        w->corrupted = 1;
        uint64_t other = n->id % w->n_nodes + 1;
        trace_ev(w, SIM_EV_CORRUPT, other, 0, 0, n->term, 0, 0, 0);
        chk_leader(w, n->term, other);
    } else if (w->o.corrupt == SIM_CORRUPT_LEADER_INCOMPLETE && w->chk.max_commit > 0) {
        /* Pretend an entry the new leader does not hold was committed. */
        w->corrupted = 1;
        uint64_t i = w->chk.max_commit + 1;
        struct sim_rec *rec = chk_rec(w, i);
        rec->term = raft_term_at(n->r, i) + 1;
        rec->commit_term = 1;
        w->chk.max_commit = i;
        trace_ev(w, SIM_EV_CORRUPT, n->id, 0, 0, i, rec->term, 0, 0);
    }
}

/* Look at a node after anything happened to it: role and term changes go to
 * the trace and the election checkers, commit advances to the record. */
void sim_node_observe(struct sim_world *w, struct sim_node *n)
{
    if (w->failed || n->state != SIM_NODE_UP)
        return;
    struct raft_status st;
    raft_get_status(n->r, &st);
    int changed = st.role != n->role || st.term != n->term || st.leader != n->leader;
    int new_leader = st.role == RAFT_LEADER && (n->role != RAFT_LEADER || n->term != st.term);
    if (changed)
        trace_ev(w, SIM_EV_ROLE, n->id, 0, (uint8_t)st.role, st.term, st.leader, st.commit, 0);
    if (st.term < n->term || st.commit < n->commit || st.commit > st.last_index)
        sim_fail(w, "core monotonicity",
                 "node %llu: term %llu -> %llu, commit %llu -> %llu, last index %llu",
                 (unsigned long long)n->id, (unsigned long long)n->term,
                 (unsigned long long)st.term, (unsigned long long)n->commit,
                 (unsigned long long)st.commit, (unsigned long long)st.last_index);
    n->role = st.role;
    n->term = st.term;
    n->leader = st.leader;
    n->commit = st.commit;
    if (st.term > w->st.max_term)
        w->st.max_term = st.term;
    if (st.role == RAFT_LEADER) {
        chk_leader(w, st.term, n->id);
        if (new_leader) {
            w->st.leaders++;
            corrupt_on_leader(w, n);
            chk_leader_complete(w, n);
        }
    }
    if (st.commit > n->commit_checked)
        chk_commit(w, n);
}

static void node_serve_reads(struct sim_world *w, struct sim_node *n)
{
    size_t k = 0;
    for (size_t i = 0; i < n->n_reads; i++) {
        if (n->reads[i].index > n->sm.applied)
            n->reads[k++] = n->reads[i];
        else if (w->o.sm == SIM_SM_META)
            mcl_on_read(w, n, n->reads[i].ctx);
        else
            clients_on_read(w, n, n->reads[i].ctx);
    }
    n->n_reads = k;
}

/* Install a snapshot sent by the leader into the state machine. */
static void node_install(struct sim_world *w, struct sim_node *n, const struct raft_snapshot *s)
{
    if (s->meta.index <= n->sm.applied) {
        sim_fail(w, "state machine safety",
                 "node %llu: snapshot at %llu would roll back applied index %llu",
                 (unsigned long long)n->id, (unsigned long long)s->meta.index,
                 (unsigned long long)n->sm.applied);
        return;
    }
    if (sm_load(&n->sm, s->data, s->len, &s->meta.conf) != 0 || n->sm.applied != s->meta.index) {
        sim_fail(w, "state machine safety",
                 "node %llu: snapshot at %llu carries no state of this state machine at that "
                 "index (%zu bytes)",
                 (unsigned long long)n->id, (unsigned long long)s->meta.index, s->len);
        return;
    }
    w->st.snapshots_installed++;
    trace_ev(w, SIM_EV_INSTALL, n->id, 0, 0, s->meta.index, s->meta.term, 0, 0);
    chk_snapshot(w, n, s->meta.index, s->meta.term, n->sm.digest);
    chk_state(w, n, s->meta.index, sm_state_digest(&n->sm), "installs a snapshot");
}

/* Self-test corruption: the state machine applies other bytes than the
 * entry's, once another node has applied that index. */
static const uint8_t *corrupt_apply(struct sim_world *w, const struct raft_entry *e, uint8_t *buf)
{
    if (w->o.corrupt != SIM_CORRUPT_APPLY_BYTE || w->corrupted || w->tick < 100 || e->len == 0 ||
        e->len > SIM_CMD_BYTES + SIM_FILL_PAD_MAX)
        return e->data;
    if (e->index >= w->chk.n_rec || !w->chk.rec[e->index].hash)
        return e->data;
    memcpy(buf, e->data, e->len);
    buf[e->len - 1] ^= 0x5a;
    w->corrupted = 1;
    trace_ev(w, SIM_EV_CORRUPT, 0, 0, 0, e->index, e->term, 0, 0);
    return buf;
}

/* Self-test corruption (meta mode): one replica applies a command with
 * another timestamp than the entry's; the entry's bytes, and so every
 * log and chain-digest check, stay the same, only its state differs. */
static const uint8_t *corrupt_state(struct sim_world *w, const struct raft_entry *e, uint8_t *buf,
                                    size_t cap)
{
    if (w->o.corrupt != SIM_CORRUPT_STATE || w->corrupted || w->tick < 100 || e->len < 10 ||
        e->len > cap || e->type != RAFT_ENTRY_NORMAL)
        return e->data;
    if (e->index >= w->chk.n_rec || !w->chk.rec[e->index].state)
        return e->data;
    memcpy(buf, e->data, e->len);
    buf[9] ^= 0x40; /* the top byte of now_ns (cmd.h: u16 type, u64 now_ns) */
    w->corrupted = 1;
    trace_ev(w, SIM_EV_CORRUPT, 0, 0, 1, e->index, e->term, 0, 0);
    return buf;
}

/* Who waits for an entry of meta mode: the probe or a client. */
static void node_applied_meta(struct sim_world *w, struct sim_node *n, const struct raft_entry *e)
{
    if (w->probe_node == n->id && e->index == w->probe_index) {
        if (e->type == RAFT_ENTRY_NORMAL && e->len == w->probe.len &&
            memcmp(e->data, w->probe.data, e->len) == 0)
            w->probe_done = 1;
        else
            w->probe_node = 0; /* overwritten: propose it again */
    }
    mcl_on_apply(w, n, e, &w->reply);
}

static void node_apply(struct sim_world *w, struct sim_node *n, const struct raft_entry *e)
{
    if (e->index != n->sm.applied + 1) {
        sim_fail(w, "state machine safety", "node %llu: applies index %llu after %llu",
                 (unsigned long long)n->id, (unsigned long long)e->index,
                 (unsigned long long)n->sm.applied);
        return;
    }
    uint8_t buf[SIM_CMD_BYTES + SIM_FILL_PAD_MAX];
    const uint8_t *data = corrupt_apply(w, e, buf);
    uint64_t hash = kv_entry_hash(e->term, e->type, data, e->len);
    if (w->o.sm == SIM_SM_META)
        data = corrupt_state(w, e, buf, sizeof buf);
    int result = sm_apply(&n->sm, e->index, e->type, data, e->len, hash, &w->reply);
    trace_ev(w, SIM_EV_APPLY, n->id, 0, e->type, e->index, e->term, 0, 0);
    if (e->type == RAFT_ENTRY_CONF && n->role == RAFT_LEADER)
        w->st.conf_applied++;
    chk_apply(w, n, e->index, e->term, hash, n->sm.digest);
    if (w->o.sm == SIM_SM_META) {
        chk_state(w, n, e->index, sm_state_digest(&n->sm), "applies");
        if (!w->failed)
            node_applied_meta(w, n, e);
        return;
    }
    struct sim_cmd cmd;
    int is_cmd = e->type == RAFT_ENTRY_NORMAL && kv_cmd_decode(data, e->len, &cmd) == 0;
    if (w->probe_node == n->id && e->index == w->probe_index) {
        if (is_cmd && cmd.op == SIM_CMD_PROBE && cmd.seq == w->probe_seq)
            w->probe_done = 1;
        else
            w->probe_node = 0; /* overwritten: propose it again */
    }
    clients_on_apply(w, n, e->index, &cmd, is_cmd, (uint64_t)result);
}

/* The application snapshots its state every snapshot_every entries. */
static void node_maybe_snapshot(struct sim_world *w, struct sim_node *n)
{
    uint32_t k = w->p.snapshot_every;
    if (k == 0 || n->sm.applied < n->disk.snap.index + k || w->failed)
        return;
    /* A snapshot from the leader may be installed in the core already (it
     * arrived while this batch was syncing): nothing older to take then. */
    struct raft_snapshot_meta meta;
    raft_get_snapshot_meta(n->r, &meta);
    if (meta.index >= n->sm.applied)
        return;
    size_t len;
    uint8_t *data = sm_save(&n->sm, &len);
    int rc = raft_snapshot_taken(n->r, n->sm.applied, data, len);
    if (rc != 0) {
        sim_fail(w, "core contract", "node %llu: raft_snapshot_taken(%llu) = %d (%s)",
                 (unsigned long long)n->id, (unsigned long long)n->sm.applied, rc,
                 cairn_err_name(rc));
        free(data);
        return;
    }
    w->st.snapshots_taken++;
    trace_ev(w, SIM_EV_SNAPSHOT, n->id, 0, 0, n->sm.applied, disk_term_at(&n->disk, n->sm.applied),
             0, 0);
    disk_app_snapshot(w, n, n->sm.applied, data, len);
}

/* Self-test corruptions of a durable write: different bytes for an entry
 * another node already stored (log matching), a different term just before
 * a shared entry (log matching, prefix). */
static void corrupt_write(struct sim_world *w, struct sim_node *n)
{
    struct sim_pending *p = &n->pend;
    if (w->corrupted || w->tick < 100 || p->n_ents == 0 || p->has_snap)
        return;
    struct sim_entry *e = &p->ents[0];
    uint64_t key = e->index << 24 | e->term;
    if (!hmap_get(&w->chk.lm_map, key))
        return;
    if (w->o.corrupt == SIM_CORRUPT_LOG_BYTE && e->len > 0) {
        e->data[0] ^= 0x20;
        e->hash = kv_entry_hash(e->term, e->type, e->data, e->len);
    } else if (w->o.corrupt == SIM_CORRUPT_LOG_PREV_TERM) {
        struct sim_entry *prev = disk_at(&n->disk, e->index - 1);
        if (!prev)
            return;
        prev->term += 1000;
    } else {
        return;
    }
    w->corrupted = 1;
    trace_ev(w, SIM_EV_CORRUPT, n->id, 0, 0, e->index, e->term, 0, 0);
}

/* Self-test corruption: a committed entry disappears from a durable log. */
static void corrupt_drop(struct sim_world *w, struct sim_node *n)
{
    struct sim_disk *d = &n->disk;
    if (w->o.corrupt != SIM_CORRUPT_DROP_COMMITTED || w->corrupted || w->tick < 100 ||
        n->hold <= d->snap.index || n->hold > disk_last(d))
        return;
    w->corrupted = 1;
    trace_ev(w, SIM_EV_CORRUPT, n->id, 0, 0, n->hold, 0, 0, 0);
    disk_truncate(d, (size_t)(n->hold - d->snap.index - 1));
    chk_hold(w, n, n->hold);
}

static void node_send(struct sim_world *w, struct sim_node *n, const struct raft_ready *rd,
                      uint64_t *unreach, size_t *n_unreach)
{
    for (size_t i = 0; i < rd->n_msgs && !w->failed; i++) {
        const struct raft_msg *m = &rd->msgs[i];
        if (m->from != n->id) {
            sim_fail(w, "core contract", "node %llu sends a message from %llu",
                     (unsigned long long)n->id, (unsigned long long)m->from);
            return;
        }
        if (net_send(w, m) && *n_unreach < SIM_NODES_MAX && prng_chance(&w->rng, 1, 2))
            unreach[(*n_unreach)++] = m->to;
    }
}

/* The sync of a written ready, in raft.h's order: persist (snapshot,
 * entries, hard state), then send, then install and apply, then advance. */
static void node_sync(struct sim_world *w, struct sim_node *n)
{
    struct raft_ready rd = n->pend.rd;
    corrupt_write(w, n);
    pending_sync(w, n);
    pending_discard(&n->pend);
    corrupt_drop(w, n);
    if (w->failed)
        return;
    trace_ev(w, SIM_EV_SYNC, n->id, 0, 0, disk_last(&n->disk), n->disk.hs.term, n->disk.hs.commit,
             0);
    uint64_t unreach[SIM_NODES_MAX];
    size_t n_unreach = 0;
    node_send(w, n, &rd, unreach, &n_unreach);
    if (rd.snapshot && !w->failed)
        node_install(w, n, rd.snapshot);
    for (size_t i = 0; i < rd.n_committed && !w->failed; i++)
        node_apply(w, n, &rd.committed[i]);
    if (w->failed)
        return;
    for (size_t i = 0; i < rd.n_reads; i++) {
        n->reads = sim_xgrow(n->reads, &n->cap_reads, n->n_reads + 1, sizeof *n->reads);
        n->reads[n->n_reads++] = (struct sim_read){rd.reads[i].ctx, rd.reads[i].index};
    }
    node_serve_reads(w, n);
    raft_advance(n->r, &rd);
    for (size_t i = 0; i < n_unreach; i++) {
        trace_ev(w, SIM_EV_UNREACH, n->id, unreach[i], 0, 0, 0, 0, 0);
        raft_report_unreachable(n->r, unreach[i]);
    }
    node_maybe_snapshot(w, n);
    sim_node_observe(w, n);
}

static void node_take_ready(struct sim_world *w, struct sim_node *n)
{
    struct raft_ready rd;
    raft_ready(n->r, &rd);
    pending_write(&n->pend, &rd);
    /* Most syncs are quick; some take a few ticks (a slow disk). */
    uint64_t lat = prng_chance(&w->rng, 1, 2) ? 0 : prng_range(&w->rng, 0, w->p.sync_ticks_max);
    n->pend.sync_tick = w->tick + lat;
    uint64_t first = rd.n_entries ? rd.entries[0].index : 0;
    uint64_t last = rd.n_entries ? rd.entries[rd.n_entries - 1].index : 0;
    trace_ev(w, SIM_EV_READY, n->id, 0, (uint8_t)rd.has_hard_state,
             first << 32 | (last & 0xffffffffu), rd.has_hard_state ? rd.hard_state.term : 0,
             rd.has_hard_state ? rd.hard_state.commit : 0, rd.n_msgs);
}

/* A node's shell: sync what is due, take what is ready. */
static void node_io(struct sim_world *w, struct sim_node *n)
{
    for (uint32_t round = 0; round < SIM_IO_ROUNDS && !w->failed; round++) {
        if (n->state != SIM_NODE_UP)
            return;
        if (n->pend.active) {
            if (n->pend.sync_tick > w->tick)
                return;
            node_sync(w, n);
            continue;
        }
        if (!raft_has_ready(n->r))
            return;
        node_take_ready(w, n);
        /* Now and then a crash between the write and its sync. */
        if (w->phase == SIM_PHASE_FAULTS && prng_chance(&w->rng, w->p.fault_permille, 20000)) {
            sim_node_crash(w, n, prng_range(&w->rng, 1, w->p.crash_down_max));
            return;
        }
    }
}

/* Deliver one message; the receiver sometimes runs its I/O at once. */
void sim_node_recv(struct sim_world *w, struct sim_node *n, const struct raft_msg *m)
{
    raft_step(n->r, m); /* CAIRN_BADMSG: the core dropped it, as it may */
    sim_node_observe(w, n);
    if (prng_chance(&w->rng, 1, 3))
        node_io(w, n);
}

static void restart_due(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        struct sim_node *n = &w->nodes[i];
        if (n->state == SIM_NODE_DOWN && n->restart_tick <= w->tick)
            sim_node_start(w, n);
    }
}

static void sim_tick(struct sim_world *w)
{
    w->tick++;
    w->st.ticks++;
    if (w->phase == SIM_PHASE_FAULTS)
        nemesis_step(w);
    restart_due(w);
    for (uint32_t i = 0; i < w->n_nodes && !w->failed; i++) {
        struct sim_node *n = &w->nodes[i];
        if (n->state != SIM_NODE_UP)
            continue;
        int ticks = 1;
        if (n->skew_until > w->tick && prng_chance(&w->rng, 1, 2))
            ticks = n->skew_fast ? 2 : 0;
        for (int k = 0; k < ticks && !w->failed; k++) {
            raft_tick(n->r);
            sim_node_observe(w, n);
        }
    }
    if (!w->failed)
        net_deliver_due(w);
    if (!w->failed && w->o.sm == SIM_SM_META)
        mcl_step(w);
    else if (!w->failed)
        clients_step(w);
    if (!w->failed && w->phase == SIM_PHASE_FAULTS && w->o.sm == SIM_SM_META)
        mcl_load_step(w);
    else if (!w->failed && w->phase == SIM_PHASE_FAULTS)
        load_step(w);
    for (uint32_t i = 0; i < w->n_nodes && !w->failed; i++) {
        struct sim_node *n = &w->nodes[i];
        if (n->state != SIM_NODE_UP)
            continue;
        node_io(w, n);
        chk_hold(w, n, n->hold + 1);
    }
}

/* The membership as a live node's core knows it (as of its commit index:
 * a restarted state machine lags behind that until it has re-applied). */
static void core_conf(struct sim_node *n, struct raft_conf *conf, uint64_t *commit)
{
    struct raft_status st;
    raft_get_status(n->r, &st);
    *conf = st.conf;
    *commit = st.commit;
}

/* Does any live member of conf still count node x as a member? Then x may
 * still be needed for a quorum. */
static int still_needed(struct sim_world *w, const struct raft_conf *conf, uint64_t x)
{
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        struct sim_node *m = &w->nodes[i];
        struct raft_conf mc;
        uint64_t commit;
        int voter;
        if (m->state != SIM_NODE_UP || !sim_conf_has(conf, m->id, &voter))
            continue;
        core_conf(m, &mc, &commit);
        if (sim_conf_has(&mc, x, &voter))
            return 1;
    }
    return 0;
}

/* After the faults: an operator stops the nodes that the committed
 * membership (as the node with the highest commit index knows it) no longer
 * has, once no live member still counts them in (it would need their
 * votes). */
static void stop_removed(struct sim_world *w)
{
    struct raft_conf best_conf = {0};
    uint64_t best_commit = 0;
    int have = 0;
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        struct sim_node *n = &w->nodes[i];
        struct raft_conf c;
        uint64_t commit;
        if (n->state != SIM_NODE_UP)
            continue;
        core_conf(n, &c, &commit);
        if (!have || commit > best_commit) {
            best_conf = c;
            best_commit = commit;
            have = 1;
        }
    }
    for (uint32_t i = 0; have && i < w->n_nodes; i++) {
        struct sim_node *n = &w->nodes[i];
        int voter;
        if (n->state == SIM_NODE_UP && !sim_conf_has(&best_conf, n->id, &voter) &&
            !still_needed(w, &best_conf, n->id))
            sim_node_crash(w, n, UINT64_MAX);
    }
}

/* A bound on the ticks to replicate `entries` entries to one follower in a
 * calm network, one message in flight at a time (no credit for pipelining):
 * a round trip per message of as many entries as the message limits allow. */
static uint64_t ticks_for_entries(const struct sim_world *w, uint64_t entries)
{
    const struct sim_params *p = &w->p;
    uint64_t rtt = 2u * (w->net.delay_max + p->sync_ticks_max + 1u);
    uint64_t per_msg = p->max_bytes_per_msg / (SIM_CMD_BYTES + SIM_FILL_PAD_MAX);
    per_msg = CAIRN_MAX(1u, CAIRN_MIN(per_msg, (uint64_t)p->max_entries_per_msg));
    return 2u * entries * rtt / per_msg;
}

/* Entries some log holds beyond the lowest commit index among live nodes:
 * what a new leader may have to replicate before its probe commits. */
static uint64_t backlog(struct sim_world *w)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        struct sim_node *n = &w->nodes[i];
        if (n->state != SIM_NODE_UP)
            continue;
        lo = CAIRN_MIN(lo, n->commit);
        hi = CAIRN_MAX(hi, disk_last(&n->disk));
    }
    return hi > lo ? hi - lo : 0;
}

/* Liveness probe: propose on the leader until the entry is applied there,
 * then wait for every live member to apply it too. Returns 1 when done. */
static int probe_step(struct sim_world *w, uint64_t *catchup_deadline)
{
    if (!w->probe_done) {
        struct sim_node *p = sim_node(w, w->probe_node);
        if (p && (p->state != SIM_NODE_UP || p->role != RAFT_LEADER))
            w->probe_node = 0;
        struct sim_node *l = sim_find_leader(w);
        if (w->probe_node || !l)
            return 0;
        uint8_t buf[SIM_CMD_BYTES];
        const uint8_t *cmd = buf;
        size_t len = sizeof buf;
        if (w->o.sm == SIM_SM_META) {
            mcl_probe_cmd(w, ++w->probe_seq, &w->probe);
            cmd = w->probe.data;
            len = w->probe.len;
        } else {
            struct sim_cmd c = {.op = SIM_CMD_PROBE, .seq = ++w->probe_seq};
            kv_cmd_encode(&c, buf);
        }
        uint64_t idx = 0;
        int rc = raft_propose(l->r, cmd, len, &idx);
        trace_ev(w, SIM_EV_PROBE, l->id, 0, 0, 0, (uint64_t)(int64_t)rc, idx, 0);
        if (rc == 0) {
            w->probe_node = l->id;
            w->probe_index = idx;
        }
        sim_node_observe(w, l);
        return 0;
    }
    struct sim_node *p = sim_node(w, w->probe_node);
    if (*catchup_deadline == 0) {
        uint64_t lag = 0;
        for (uint32_t i = 0; i < w->n_nodes; i++)
            if (w->nodes[i].state == SIM_NODE_UP && w->nodes[i].sm.applied < w->probe_index)
                lag = CAIRN_MAX(lag, w->probe_index - w->nodes[i].sm.applied);
        *catchup_deadline = w->tick + 40u * w->p.election_ticks + ticks_for_entries(w, lag);
    }
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        struct sim_node *n = &w->nodes[i];
        int voter;
        if (n->state == SIM_NODE_UP && sim_conf_has(&p->sm.conf, n->id, &voter) &&
            n->sm.applied < w->probe_index)
            return 0;
    }
    return 1;
}

static void liveness_fail(struct sim_world *w, uint64_t budget)
{
    char s[512];
    size_t k = 0;
    for (uint32_t i = 0; i < w->n_nodes && k < sizeof s - 80; i++) {
        struct sim_node *n = &w->nodes[i];
        k += (size_t)snprintf(s + k, sizeof s - k, " [%u %s %s term=%llu applied=%llu]",
                              (unsigned)n->id, n->state == SIM_NODE_UP ? "up" : "down",
                              raft_role_name(n->role), (unsigned long long)n->term,
                              (unsigned long long)n->sm.applied);
    }
    if (!w->probe_done)
        sim_fail(w, "liveness",
                 "no leader committed a new entry within %llu ticks after the faults healed;%s",
                 (unsigned long long)budget, s);
    else
        sim_fail(w, "liveness",
                 "members did not all apply the probe entry %llu in time after it committed;%s",
                 (unsigned long long)w->probe_index, s);
}

/* Every live member is at the leader's applied index: compare the state
 * machines' digests (and with the per-index record). */
static void settle_compare(struct sim_world *w, struct sim_node *l)
{
    uint64_t want = sm_state_digest(&l->sm);
    for (uint32_t i = 0; i < w->n_nodes && !w->failed; i++) {
        struct sim_node *n = &w->nodes[i];
        int voter;
        if (n->state != SIM_NODE_UP || !sim_conf_has(&l->sm.conf, n->id, &voter))
            continue;
        uint64_t d = sm_state_digest(&n->sm);
        w->st.replicas_compared++;
        if (d != want)
            sim_fail(w, "state digest",
                     "at the end, node %llu's state at index %llu has digest %016llx, leader "
                     "%llu's %016llx",
                     (unsigned long long)n->id, (unsigned long long)n->sm.applied,
                     (unsigned long long)d, (unsigned long long)l->id, (unsigned long long)want);
        chk_state(w, n, n->sm.applied, d, "ends");
    }
    w->st.converged++;
    trace_ev(w, SIM_EV_PHASE, 0, 0, 0, 2, l->sm.applied, 0, 0);
}

/* Heal everything, then require a leader and a committed new entry within a
 * bounded number of ticks, and every live member caught up. */
static void liveness_phase(struct sim_world *w)
{
    w->phase = SIM_PHASE_LIVENESS;
    trace_ev(w, SIM_EV_PHASE, 0, 0, 0, 1, 0, 0, 0);
    net_heal(w);
    w->net.drop_pct = 0;
    w->net.dup_pct = 0;
    w->net.delay_min = 1;
    w->net.delay_max = 2;
    w->p.long_delay_permille = 0;
    w->p.sync_ticks_max = CAIRN_MIN(w->p.sync_ticks_max, 1u);
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        struct sim_node *n = &w->nodes[i];
        n->skew_until = 0;
        if (n->state == SIM_NODE_DOWN)
            sim_node_start(w, n);
    }
    if (w->o.corrupt == SIM_CORRUPT_NO_PROGRESS) {
        /* Self-test: the network never heals, and every node stops (a lone
         * voter needs no network to commit). */
        w->corrupted = 1;
        net_isolate_all(w);
        for (uint32_t i = 0; i < w->n_nodes; i++)
            if (w->nodes[i].state == SIM_NODE_UP)
                sim_node_crash(w, &w->nodes[i], UINT64_MAX);
    }
    uint64_t budget = 50u * w->p.election_ticks + 100u + ticks_for_entries(w, backlog(w));
    uint64_t start = w->tick, catchup_deadline = 0;
    while (!w->failed) {
        sim_tick(w);
        if (w->failed)
            return;
        stop_removed(w);
        if (probe_step(w, &catchup_deadline))
            return;
        if ((!w->probe_done && w->tick - start > budget) ||
            (catchup_deadline && w->tick > catchup_deadline)) {
            liveness_fail(w, budget);
            return;
        }
    }
}

/* Meta mode, after the liveness check: clients finish what they have in
 * flight and start nothing new (so the history has few unknown outcomes),
 * then every live member must reach the leader's commit index, where their
 * state machines' digests must all be equal. */
static void settle_phase(struct sim_world *w)
{
    w->draining = 1;
    uint64_t bound = w->tick + 100u * w->p.election_ticks + ticks_for_entries(w, backlog(w));
    while (!w->failed && mcl_busy(w) && w->tick < bound) {
        sim_tick(w);
        stop_removed(w);
    }
    mcl_finish(w);
    bound = w->tick + 100u * w->p.election_ticks + ticks_for_entries(w, backlog(w));
    while (!w->failed) {
        struct sim_node *l = sim_find_leader(w);
        size_t n_same = 0, n_members = 0;
        for (uint32_t i = 0; l && i < w->n_nodes; i++) {
            struct sim_node *n = &w->nodes[i];
            int voter;
            if (n->state != SIM_NODE_UP || !sim_conf_has(&l->sm.conf, n->id, &voter))
                continue;
            n_members++;
            n_same += n->sm.applied == l->commit && !n->pend.active;
        }
        if (l && n_members > 0 && n_same == n_members && l->sm.applied == l->commit) {
            settle_compare(w, l);
            return;
        }
        if (w->tick >= bound) {
            sim_fail(w, "liveness",
                     "after the clients finished, the live members did not all apply the "
                     "leader's commit index within %llu ticks (leader %llu)",
                     (unsigned long long)(100u * w->p.election_ticks),
                     l ? (unsigned long long)l->id : 0ull);
            return;
        }
        sim_tick(w);
        stop_removed(w);
    }
}

void sim_stats_add(struct sim_stats *sum, const struct sim_stats *s)
{
    const uint64_t *a = (const uint64_t *)s;
    uint64_t *b = (uint64_t *)sum;
    for (size_t i = 0; i < sizeof *s / sizeof(uint64_t); i++)
        b[i] = (i == offsetof(struct sim_stats, max_term) / sizeof(uint64_t))
                   ? CAIRN_MAX(b[i], a[i])
                   : b[i] + a[i];
}

/* One seed, start to end. Returns 1 if an invariant broke. */
int sim_run(const struct sim_opts *o, struct sim_result *res, struct sim_stats *stats)
{
    struct sim_world *w = sim_xcalloc(1, sizeof *w);
    sim_set_current(w);
    world_init(w, o);
    w->st.seeds = 1;
    while (!w->failed && w->tick < w->p.fault_ticks)
        sim_tick(w);
    if (!w->failed)
        liveness_phase(w);
    if (!w->failed && w->o.sm == SIM_SM_META)
        settle_phase(w);
    if (!w->failed) {
        if (w->o.sm == SIM_SM_META)
            mcl_finish(w);
        else
            clients_finish(w);
        chk_history(w);
    }
    if (w->failed && !o->quiet)
        sim_report(w);
    memset(res, 0, sizeof *res);
    res->failed = w->failed;
    res->corrupted = w->corrupted;
    snprintf(res->inv, sizeof res->inv, "%s", w->failed ? w->fail_inv : "");
    res->digest = w->tr.digest;
    res->ticks = w->tick;
    if (stats)
        sim_stats_add(stats, &w->st);
    sim_set_current(NULL);
    world_free(w);
    free(w);
    return res->failed;
}
