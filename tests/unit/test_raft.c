/* test_raft.c: the pure Raft core, driven in-process through the cluster
 * harness of test_raft_util.h: elections, vote granting, log replication,
 * PreVote and CheckQuorum, snapshots, ReadIndex and untrusted input.
 * Membership changes, leadership transfer and restart are in
 * test_raft_membership.c. */

#include "test_raft_util.h"

/* === election ============================================================ */

TEST_T(election_by_timeout, 20)
{
    struct cluster *c = cluster_new(3, 0, 0);
    for (int t = 0; t < 100 && !leader_id(c); t++)
        tick_all(c, 1);
    int l = leader_id(c);
    CHECK(l != 0);
    int leaders = 0;
    for (int i = 1; i <= 3; i++) {
        struct raft_status st = status(c, i);
        leaders += st.role == RAFT_LEADER;
        CHECK_EQ_U64(st.leader, (uint64_t)l);
        CHECK_EQ_U64(st.term, status(c, l).term);
    }
    CHECK_EQ(leaders, 1);
    /* The new leader's no-op entry is committed everywhere. */
    tick_all(c, 2);
    for (int i = 1; i <= 3; i++) {
        CHECK_EQ_U64(status(c, i).commit, status(c, l).last_index);
        CHECK_EQ_U64(raft_term_at(c->nodes[i].r, status(c, l).last_index), status(c, l).term);
    }
    cluster_free(c);
}

TEST_T(election_split_vote_resolves, 20)
{
    struct cluster *c = cluster_new(5, 0, 0);
    /* Everybody campaigns at once: nobody may win, but a later timeout
     * (randomized) settles it, and never two leaders in one term. */
    for (int i = 1; i <= 5; i++)
        raft_campaign(c->nodes[i].r);
    run(c);
    for (int t = 0; t < 200 && !leader_id(c); t++)
        tick_all(c, 1);
    CHECK(leader_id(c) != 0);
    cluster_free(c);
}

static int is_member(const struct raft_status *st, uint64_t id)
{
    for (uint32_t k = 0; k < st->conf.n_voters; k++)
        if (st->conf.voters[k] == id)
            return 1;
    for (uint32_t k = 0; k < st->conf.n_learners; k++)
        if (st->conf.learners[k] == id)
            return 1;
    return 0;
}

/* One random fault step of a chaos run. */
static void chaos_step(struct cluster *c, struct prng *g, int t, int membership)
{
    int n = c->n;
    if (prng_chance(g, 1, 20)) {
        for (int a = 1; a <= n; a++)
            for (int b = 1; b <= n; b++)
                c->cut[a][b] = (uint8_t)(a != b && prng_chance(g, 1, 4));
    }
    if (prng_chance(g, 1, 40)) {
        int v = (int)prng_range(g, 1, (uint64_t)n);
        if (c->nodes[v].up)
            node_stop(c, v);
        node_start(c, v);
    }
    if (prng_chance(g, 1, 30)) {
        int v = (int)prng_range(g, 1, (uint64_t)n);
        struct raft_status st = status(c, v);
        if (c->nodes[v].applied > st.snapshot_index) {
            char snap[32];
            snprintf(snap, sizeof snap, "snap-%llu", (unsigned long long)c->nodes[v].applied);
            node_snapshot(c, v, snap);
        }
    }
    int l = leader_id(c);
    if (l && prng_chance(g, 1, 2)) {
        char buf[32];
        snprintf(buf, sizeof buf, "v%d", t);
        raft_propose(c->nodes[l].r, buf, strlen(buf), NULL);
    }
    if (l && membership && prng_chance(g, 1, 15)) {
        struct raft_conf_change cc = {.op = (uint8_t)prng_below(g, 3),
                                      .node = prng_range(g, 1, (uint64_t)n)};
        struct raft_status st = status(c, l);
        /* Keep at least three voters so that the group stays live. */
        if (cc.op != RAFT_CONF_REMOVE || st.conf.n_voters > 3)
            raft_propose_conf(c->nodes[l].r, &cc, NULL);
    }
    tick_all(c, 1);
}

/* Is the group settled: a leader whose whole log is committed in its term,
 * every member holding and having applied exactly that? */
static int converged(struct cluster *c, int l)
{
    struct raft_status sl = status(c, l);
    if (sl.commit != sl.last_index || raft_term_at(c->nodes[l].r, sl.commit) != sl.term)
        return 0;
    for (int i = 1; i <= c->n; i++) {
        if (!is_member(&sl, (uint64_t)i))
            continue;
        struct raft_status si = status(c, i);
        if (si.commit != sl.commit || si.last_index != sl.last_index ||
            c->nodes[i].applied != sl.commit)
            return 0;
    }
    return 1;
}

/* After the faults heal, liveness: within a bounded number of ticks a
 * leader commits an entry of its term and every member catches up. */
static void chaos_heal(struct cluster *c)
{
    memset(c->cut, 0, sizeof c->cut);
    c->drop_pct = c->dup_pct = 0;
    uint64_t proposed_term = 0;
    for (int t = 0; t < 1000; t++) {
        tick_all(c, 1);
        int l = leader_id(c);
        if (!l)
            continue;
        if (status(c, l).term != proposed_term) {
            proposed_term = status(c, l).term;
            propose(c, l, "final");
            run(c);
        }
        if (converged(c, l))
            return;
    }
    for (int i = 1; i <= c->n; i++) {
        struct raft_status si = status(c, i);
        fprintf(stderr, "  node %d: %s term %llu leader %llu commit %llu last %llu\n", i,
                raft_role_name(si.role), (unsigned long long)si.term, (unsigned long long)si.leader,
                (unsigned long long)si.commit, (unsigned long long)si.last_index);
    }
    CHECKF(0, "the group did not converge within 1000 ticks after healing");
}

static void chaos(int runs, int n, int lossy, int membership)
{
    for (int run_no = 0; run_no < runs; run_no++) {
        struct prng *g = test_rng();
        struct raft_config cfg = base_cfg();
        cfg.pre_vote = prng_chance(g, 1, 2);
        cfg.check_quorum = prng_chance(g, 1, 2);
        cfg.max_entries_per_msg = (uint32_t)prng_range(g, 1, 8);
        cfg.max_inflight_msgs = (uint32_t)prng_range(g, 1, 4);
        struct cluster *c = cluster_new_cfg(n, membership ? 3 : n, &cfg);
        c->net_rng = g;
        if (lossy) {
            c->drop_pct = (uint32_t)prng_range(g, 0, 10);
            c->dup_pct = (uint32_t)prng_range(g, 0, 5);
            c->reorder = 1;
        }
        for (int t = 0; t < 300; t++)
            chaos_step(c, g, t, membership);
        chaos_heal(c);
        cluster_free(c);
    }
}

TEST_T(safety_random_partitions_restarts, 120)
{
    chaos(6, 3, 0, 0);
    chaos(6, 5, 0, 0);
}

TEST_T(safety_lossy_reordering_network, 120) { chaos(10, 5, 1, 0); }

TEST_T(safety_membership_changes_under_faults, 120) { chaos(10, 5, 1, 1); }

/* === vote granting ======================================================== */

TEST_T(vote_up_to_date_and_once_per_term, 10)
{
    struct cluster *c = cluster_new(3, 0, 0);
    uint64_t t1[] = {1, 2};
    node_set_log(c, 1, t1, 2, 2, 1);
    uint8_t rej = 9;
    struct raft_msg m;
    /* Candidate's last term equal, shorter log: rejected (§5.4.1). */
    m = vote_msg(2, 1, 3, 1, 2);
    CHECK_EQ(step_reply(c, 1, &m, &rej, NULL), RAFT_MSG_VOTE_RESP);
    CHECK_EQ(rej, 1);
    CHECK_EQ_U64(status(c, 1).term, 3); /* the term moved nonetheless */
    /* Longer log of an older last term: rejected. */
    m = vote_msg(2, 1, 3, 9, 1);
    CHECK_EQ(step_reply(c, 1, &m, &rej, NULL), RAFT_MSG_VOTE_RESP);
    CHECK_EQ(rej, 1);
    /* Newer last term: granted, and the vote is in the same batch's hard
     * state (persisted before the answer is sent). */
    struct raft_ready rd;
    m = vote_msg(2, 1, 4, 1, 3);
    CHECK_EQ(step_reply(c, 1, &m, &rej, &rd), RAFT_MSG_VOTE_RESP);
    CHECK_EQ(rej, 0);
    CHECK(rd.has_hard_state);
    CHECK_EQ_U64(rd.hard_state.vote, 2);
    CHECK_EQ_U64(rd.hard_state.term, 4);
    /* One vote per term: another up-to-date candidate is refused. */
    m = vote_msg(3, 1, 4, 5, 3);
    CHECK_EQ(step_reply(c, 1, &m, &rej, NULL), RAFT_MSG_VOTE_RESP);
    CHECK_EQ(rej, 1);
    /* The vote survives a restart. */
    node_stop(c, 1);
    node_start(c, 1);
    CHECK_EQ_U64(status(c, 1).vote, 2);
    m = vote_msg(3, 1, 4, 5, 3);
    CHECK_EQ(step_reply(c, 1, &m, &rej, NULL), RAFT_MSG_VOTE_RESP);
    CHECK_EQ(rej, 1);
    m = vote_msg(2, 1, 4, 1, 3); /* the same candidate again: granted */
    CHECK_EQ(step_reply(c, 1, &m, &rej, NULL), RAFT_MSG_VOTE_RESP);
    CHECK_EQ(rej, 0);
    /* A stale term is refused, and the refusal carries our term so the
     * candidate learns it (§5.1; tests/sim/CORE-BUGS.md entry 5). */
    uint64_t term_now = status(c, 1).term;
    m = vote_msg(3, 1, term_now - 1, 50, 2);
    CHECK_EQ(step_reply(c, 1, &m, &rej, NULL), RAFT_MSG_VOTE_RESP);
    CHECK_EQ(rej, 1);
    CHECK_EQ_U64(status(c, 1).term, term_now);
    CHECK_EQ_U64(status(c, 1).vote, 2);
    cluster_free(c);
}

/* === log replication ========================================================= */

TEST_T(log_conflict_repair_and_matching, 20)
{
    struct cluster *c = cluster_new(3, 0, 0);
    uint64_t l1[] = {1, 1, 3, 3};
    uint64_t l2[] = {1, 1, 2, 2, 2, 2};
    uint64_t l3[] = {1, 1};
    node_set_log(c, 1, l1, 4, 3, 2);
    node_set_log(c, 2, l2, 6, 3, 2);
    node_set_log(c, 3, l3, 2, 3, 2);
    elect(c, 1);
    tick_all(c, 2);
    check_logs_equal(c);
    CHECK_EQ_U64(status(c, 2).last_index, 5);
    CHECK_EQ_U64(raft_term_at(c->nodes[2].r, 3), 3);
    CHECK_EQ_U64(raft_term_at(c->nodes[2].r, 5), 4);
    CHECK_EQ_U64(status(c, 2).commit, 5);
    /* The shell's stored log was truncated and replaced as well. */
    CHECK_EQ(c->nodes[2].st.n, 5);
    CHECK_EQ_U64(c->nodes[2].st.ents[2].term, 3);
    cluster_free(c);
}

TEST_T(follower_commits_only_what_matched, 10)
{
    /* The follower's entries 3-4 are stale; the leader's commit index of 4
     * covers only what this message proves identical (up to index 2). */
    struct cluster *c = cluster_new(3, 0, 0);
    uint64_t l2[] = {1, 1, 1, 1};
    node_set_log(c, 2, l2, 4, 1, 1);
    struct raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_APP;
    m.from = 1;
    m.to = 2;
    m.term = 2;
    m.index = 2;
    m.log_term = 1;
    m.commit = 4;
    uint8_t rej = 9;
    struct raft_ready rd;
    CHECK_EQ(step_reply(c, 2, &m, &rej, &rd), RAFT_MSG_APP_RESP);
    CHECK_EQ(rej, 0);
    CHECK_EQ_U64(status(c, 2).commit, 2);
    CHECK_EQ_U64(status(c, 2).leader, 1);
    /* A mismatch is rejected with a hint, the commit index unmoved. */
    m.index = 4;
    m.log_term = 2;
    CHECK_EQ(step_reply(c, 2, &m, &rej, &rd), RAFT_MSG_APP_RESP);
    CHECK_EQ(rej, 1);
    CHECK_EQ_U64(status(c, 2).commit, 2);
    cluster_free(c);
}

TEST_T(log_batching_and_pipelining, 20)
{
    struct raft_config cfg = base_cfg();
    cfg.max_entries_per_msg = 4;
    cfg.max_inflight_msgs = 3;
    struct cluster *c = cluster_new_cfg(3, 3, &cfg);
    elect(c, 1);
    tick_all(c, 1);
    /* 20 proposals in one ready cycle: batches of 4, at most 3 in flight
     * to each follower before an answer. */
    for (int k = 0; k < 20; k++)
        propose(c, 1, "x");
    struct raft_ready rd;
    raft_ready(c->nodes[1].r, &rd);
    int apps = 0;
    for (size_t k = 0; k < rd.n_msgs; k++) {
        if (rd.msgs[k].type == RAFT_MSG_APP && rd.msgs[k].to == 2) {
            apps++;
            CHECK_EQ(rd.msgs[k].n_entries, 4);
        }
        net_push(c, &rd.msgs[k]);
    }
    CHECK_EQ(apps, 3);
    stored_append(&c->nodes[1].st, rd.entries, rd.n_entries);
    CHECK_EQ(rd.n_entries, 20);
    raft_advance(c->nodes[1].r, &rd);
    run(c);
    check_logs_equal(c);
    CHECK_EQ_U64(status(c, 2).commit, status(c, 1).last_index);
    cluster_free(c);
}

static uint64_t strip_term;
/* Deliver APPs without their entries of term >= strip_term. */
static int strip_filter(struct raft_msg *m)
{
    if (m->type != RAFT_MSG_APP)
        return 1;
    uint32_t keep = 0;
    while (keep < m->n_entries && m->entries[keep].term < strip_term)
        keep++;
    for (uint32_t k = keep; k < m->n_entries; k++)
        free(m->entries[k].data);
    m->n_entries = keep;
    return 1;
}

TEST_T(commit_rule_figure8, 20)
{
    /* Index 2 (term 2) reaches every node under a term-3 leader, but the
     * leader must not commit it by counting replicas: only once an entry
     * of term 3 is replicated on a majority. */
    struct cluster *c = cluster_new(3, 0, 0);
    uint64_t l12[] = {1, 2};
    uint64_t l3[] = {1};
    node_set_log(c, 1, l12, 2, 2, 1);
    node_set_log(c, 2, l12, 2, 2, 1);
    node_set_log(c, 3, l3, 1, 2, 1);
    strip_term = 3;
    c->filter = strip_filter;
    elect(c, 1);
    tick_all(c, 3);
    struct raft_status st = status(c, 1);
    CHECK_EQ_U64(st.term, 3);
    CHECK_EQ_U64(st.match[1], 2);
    CHECK_EQ_U64(st.match[2], 2);
    CHECK_EQ_U64(st.commit, 1);
    for (int i = 2; i <= 3; i++)
        CHECK_EQ_U64(status(c, i).commit, 1);
    c->filter = NULL;
    tick_all(c, 3);
    CHECK_EQ_U64(status(c, 1).commit, 3);
    check_logs_equal(c);
    CHECK_EQ_U64(c->nodes[3].applied, 3);
    cluster_free(c);
}

TEST_T(fast_backoff_by_term, 20)
{
    struct cluster *c = cluster_new(3, 0, 0);
    uint64_t l1[110], l2[200], l3[100];
    for (int k = 0; k < 200; k++) {
        if (k < 110)
            l1[k] = k < 100 ? 1 : 5;
        l2[k] = k < 100 ? 1 : 2;
        if (k < 100)
            l3[k] = 1;
    }
    node_set_log(c, 1, l1, 110, 5, 100);
    node_set_log(c, 2, l2, 200, 5, 100);
    node_set_log(c, 3, l3, 100, 5, 100);
    elect(c, 1);
    tick_all(c, 2);
    check_logs_equal(c);
    /* 100 conflicting entries, one term: repaired in a single rejection
     * (one-by-one backoff would take ~100 round trips). */
    CHECK(c->rejects_from[2] <= 1);
    CHECK(c->rejects_from[2] + c->rejects_from[3] <= 2);
    CHECK_EQ_U64(status(c, 2).last_index, 111);
    cluster_free(c);
}

/* === PreVote and CheckQuorum ================================================ */

static void prevote_rejoin(int pre_vote, uint64_t *term_before, uint64_t *term_after,
                           int *same_leader)
{
    struct cluster *c = cluster_new(3, pre_vote, 0);
    elect(c, 1);
    tick_all(c, 1);
    *term_before = status(c, 1).term;
    isolate(c, 3, 1);
    propose(c, 1, "while-3-is-away"); /* the group moves on without 3 */
    tick_all(c, 60);                  /* node 3 times out again and again */
    isolate(c, 3, 0);
    tick_all(c, 30);
    *term_after = status(c, 1).term;
    *same_leader = leader_id(c) == 1 && status(c, 1).role == RAFT_LEADER;
    check_logs_equal(c);
    cluster_free(c);
}

TEST_T(prevote_prevents_disruptive_rejoin, 20)
{
    uint64_t before, after;
    int same;
    prevote_rejoin(1, &before, &after, &same);
    CHECK_EQ_U64(after, before);
    CHECK(same);
    /* Without PreVote the isolated node's inflated term deposes the leader. */
    prevote_rejoin(0, &before, &after, &same);
    CHECK(after > before);
}

TEST_T(check_quorum_leader_steps_down, 20)
{
    struct cluster *c = cluster_new(3, 0, 1);
    elect(c, 1);
    tick_all(c, 1);
    isolate(c, 1, 1);
    tick_all(c, 25);
    CHECK(status(c, 1).role != RAFT_LEADER);
    int l = leader_id(c);
    CHECK(l == 2 || l == 3);
    CHECK(status(c, l).term > status(c, 1).term);
    isolate(c, 1, 0);
    tick_all(c, 5);
    check_logs_equal(c);
    cluster_free(c);
}

TEST_T(check_quorum_lease_ignores_votes, 20)
{
    struct cluster *c = cluster_new(3, 0, 1);
    elect(c, 1);
    tick_all(c, 1);
    uint64_t term = status(c, 2).term;
    struct raft_status s3 = status(c, 3);
    /* Node 2 just heard from the leader: a vote request is ignored. */
    struct raft_msg m =
        vote_msg(3, 2, term + 5, s3.last_index, raft_term_at(c->nodes[3].r, s3.last_index));
    CHECK_OK(raft_step(c->nodes[2].r, &m));
    CHECK_EQ_U64(status(c, 2).term, term);
    CHECK(!raft_has_ready(c->nodes[2].r));
    /* A transfer campaign (context 1) is not. */
    m.context = RAFT_VOTE_CTX_TRANSFER;
    uint8_t rej = 9;
    CHECK_EQ(step_reply(c, 2, &m, &rej, NULL), RAFT_MSG_VOTE_RESP);
    CHECK_EQ(rej, 0);
    CHECK_EQ_U64(status(c, 2).term, term + 5);
    cluster_free(c);
}

/* === snapshots ============================================================= */

TEST_T(snapshot_install_for_lagging_follower, 20)
{
    struct cluster *c = cluster_new(3, 0, 0);
    elect(c, 1);
    isolate(c, 3, 1);
    char buf[16];
    for (int k = 0; k < 30; k++) {
        snprintf(buf, sizeof buf, "p%d", k);
        propose(c, 1, buf);
        run(c);
    }
    CHECK_EQ_U64(c->nodes[1].applied, 31);
    node_snapshot(c, 1, "state-at-31");
    CHECK_EQ_U64(status(c, 1).first_index, 32);
    CHECK_EQ_U64(raft_term_at(c->nodes[1].r, 10), 0); /* compacted */
    CHECK_EQ(raft_snapshot_taken(c->nodes[1].r, 40, "x", 1), CAIRN_EINVAL);
    isolate(c, 3, 0);
    tick_all(c, 3);
    CHECK_EQ(c->nodes[3].installed, 1);
    CHECK_EQ(c->nodes[3].inst_len, strlen("state-at-31"));
    CHECK_MEM_EQ(c->nodes[3].inst_data, "state-at-31", c->nodes[3].inst_len);
    struct raft_status s3 = status(c, 3);
    CHECK_EQ_U64(s3.snapshot_index, 31);
    CHECK_EQ_U64(s3.commit, 31);
    CHECK_EQ(s3.conf.n_voters, 3);
    CHECK_EQ_U64(c->nodes[3].applied, 31);
    propose(c, 1, "after");
    tick_all(c, 2);
    check_logs_equal(c);
    CHECK_EQ_U64(c->nodes[3].applied, 32);
    /* The follower restarts from its installed snapshot. */
    node_stop(c, 3);
    node_start(c, 3);
    tick_all(c, 2);
    CHECK_EQ_U64(status(c, 3).commit, 32);
    cluster_free(c);
}

/* === ReadIndex ============================================================== */

static int snaps_dropped;
static int drop_first_snap(struct raft_msg *m)
{
    if (m->type == RAFT_MSG_SNAP && snaps_dropped == 0) {
        snaps_dropped++;
        return 0;
    }
    return 1;
}

TEST_T(snapshot_lost_is_sent_again, 20)
{
    struct cluster *c = cluster_new(3, 0, 0);
    elect(c, 1);
    isolate(c, 3, 1);
    for (int k = 0; k < 5; k++)
        propose(c, 1, "p");
    run(c);
    node_snapshot(c, 1, "snap-6");
    isolate(c, 3, 0);
    snaps_dropped = 0;
    c->filter = drop_first_snap;
    tick_all(c, 3);
    CHECK_EQ(snaps_dropped, 1);
    CHECK_EQ(c->nodes[3].installed, 0);
    tick_all(c, 3 * (int)c->cfg.election_ticks);
    CHECK_EQ(c->nodes[3].installed, 1);
    CHECK_EQ_U64(status(c, 3).commit, status(c, 1).commit);
    /* The shell may also report the loss at once. */
    isolate(c, 3, 1);
    for (int k = 0; k < 5; k++)
        propose(c, 1, "q");
    run(c);
    node_snapshot(c, 1, "snap-11");
    isolate(c, 3, 0);
    snaps_dropped = 0;
    tick_all(c, 2);
    CHECK_EQ(snaps_dropped, 1);
    raft_report_unreachable(c->nodes[1].r, 3);
    tick_all(c, 3);
    CHECK_EQ(c->nodes[3].installed, 2);
    CHECK_EQ_U64(status(c, 3).commit, status(c, 1).commit);
    cluster_free(c);
}

static int has_read(struct node *nd, uint64_t ctx, uint64_t *index)
{
    for (size_t k = 0; k < nd->n_reads; k++) {
        if (nd->reads[k].ctx == ctx) {
            *index = nd->reads[k].index;
            return 1;
        }
    }
    return 0;
}

TEST_T(read_index_quorum_confirmed, 20)
{
    struct cluster *c = cluster_new(3, 0, 0);
    elect(c, 1);
    propose(c, 1, "a");
    run(c);
    uint64_t idx = 0;
    CHECK_OK(raft_read_index(c->nodes[1].r, 7));
    run(c);
    CHECK(has_read(&c->nodes[1], 7, &idx));
    CHECK_EQ_U64(idx, status(c, 1).commit);
    CHECK_EQ(raft_read_index(c->nodes[2].r, 8), CAIRN_NOTLEADER);
    /* A partitioned leader cannot confirm its leadership: no answer. */
    isolate(c, 1, 1);
    CHECK_OK(raft_read_index(c->nodes[1].r, 9));
    tick_all(c, 5);
    CHECK(!has_read(&c->nodes[1], 9, &idx));
    cluster_free(c);
}

TEST_T(read_index_waits_for_commit_in_term, 20)
{
    struct cluster *c = cluster_new(3, 0, 0);
    c->filter = drop_app; /* the new leader's no-op cannot commit */
    elect(c, 1);
    CHECK_OK(raft_read_index(c->nodes[1].r, 5));
    tick_all(c, 3); /* heartbeats do flow and are answered */
    uint64_t idx = 0;
    CHECK(!has_read(&c->nodes[1], 5, &idx));
    c->filter = NULL;
    tick_all(c, 3);
    CHECK(has_read(&c->nodes[1], 5, &idx));
    CHECK_EQ_U64(raft_term_at(c->nodes[1].r, idx), status(c, 1).term);
    cluster_free(c);
}

TEST_T(read_index_single_voter, 10)
{
    struct cluster *c = cluster_new(1, 0, 0);
    elect(c, 1);
    run(c);
    CHECK_OK(raft_read_index(c->nodes[1].r, 11));
    run(c);
    uint64_t idx = 0;
    CHECK(has_read(&c->nodes[1], 11, &idx));
    CHECK_EQ_U64(idx, 1);
    cluster_free(c);
}

/* === untrusted input ========================================================= */

TEST_T(malformed_messages_are_dropped, 20)
{
    struct cluster *c = cluster_new(3, 0, 0);
    elect(c, 1);
    tick_all(c, 1);
    struct raft_status before = status(c, 2);
    struct raft *r = c->nodes[2].r;
    struct raft_entry ents[3] = {
        {.term = 1, .index = 2},
        {.term = 1, .index = 4},
        {.term = 9, .index = 4},
    };
    struct raft_snapshot snap;
    memset(&snap, 0, sizeof snap);
    snap.meta.index = 50;
    snap.meta.term = 1;
    snap.meta.conf.n_voters = 2;
    snap.meta.conf.voters[0] = snap.meta.conf.voters[1] = 1; /* duplicate */
    struct raft_msg good;
    memset(&good, 0, sizeof good);
    good.type = RAFT_MSG_APP;
    good.from = 1;
    good.to = 2;
    good.term = before.term;
    good.index = 1;
    good.log_term = 1;
    struct raft_msg bad[16];
    for (int k = 0; k < 16; k++)
        bad[k] = good;
    bad[0].to = 3;
    bad[1].from = 0;
    bad[2].from = 2;
    bad[3].type = 0;
    bad[4].type = RAFT_MSG_TYPE_MAX + 1;
    bad[5].term = 0;
    bad[6].n_entries = 2; /* entries NULL */
    bad[7].n_entries = 2;
    bad[7].entries = ents; /* 2 then 4: not consecutive */
    bad[8].n_entries = 1;
    bad[8].entries = &ents[2];   /* index 4 after prev 1 */
    bad[9].type = RAFT_MSG_SNAP; /* no snapshot */
    bad[10].type = RAFT_MSG_SNAP;
    bad[10].snapshot = &snap; /* bad conf */
    bad[11].type = RAFT_MSG_VOTE_RESP;
    bad[11].from = 9; /* an answer from an unknown sender */
    bad[12].type = RAFT_MSG_HEARTBEAT;
    bad[12].n_entries = 1;
    bad[12].entries = ents; /* entries on a heartbeat */
    bad[13].reject = 7;
    bad[14].n_entries = CAIRN_RAFT_APPEND_ENTRIES_MAX + 1;
    bad[14].entries = ents;
    bad[15].index = UINT64_MAX;
    bad[15].n_entries = 1;
    bad[15].entries = ents;
    for (int k = 0; k < 16; k++)
        CHECKF(raft_step(r, &bad[k]) == CAIRN_BADMSG, "bad message %d accepted", k);
    CHECK_EQ(raft_step(r, NULL), CAIRN_BADMSG);
    struct raft_status after = status(c, 2);
    CHECK_EQ_U64(after.term, before.term);
    CHECK_EQ_U64(after.last_index, before.last_index);
    CHECK_EQ_U64(after.commit, before.commit);
    /* Random garbage: never a crash; the group keeps working. */
    struct prng *g = test_rng();
    for (int k = 0; k < 20000; k++) {
        struct raft_msg m;
        memset(&m, 0, sizeof m);
        m.type = (uint8_t)prng_below(g, RAFT_MSG_TYPE_MAX + 2);
        m.from = prng_below(g, 5);
        m.to = prng_range(g, 1, 3);
        m.term = prng_below(g, 2) ? before.term : prng_below(g, 4);
        m.log_term = prng_below(g, 4);
        m.index = prng_below(g, 8);
        m.commit = prng_below(g, 8);
        m.reject = (uint8_t)prng_below(g, 3);
        m.reject_hint = prng_below(g, 8);
        m.context = prng_below(g, 3);
        raft_step(c->nodes[m.to].r, &m);
        for (int i = 1; i <= 3; i++) {
            while (raft_has_ready(c->nodes[i].r)) {
                struct raft_ready rd;
                raft_ready(c->nodes[i].r, &rd);
                raft_advance(c->nodes[i].r, &rd);
            }
        }
    }
    cluster_free(c);
}

TEST_T(conf_change_codec, 5)
{
    struct raft_conf_change cc = {.op = RAFT_CONF_ADD_LEARNER, .node = 0x0102030405060708ull};
    uint8_t buf[9];
    raft_conf_change_encode(&cc, buf);
    CHECK_EQ(buf[0], RAFT_CONF_ADD_LEARNER);
    CHECK_EQ(buf[1], 0x08);
    struct raft_conf_change out;
    CHECK_OK(raft_conf_change_decode(buf, 9, &out));
    CHECK_EQ(out.op, cc.op);
    CHECK_EQ_U64(out.node, cc.node);
    CHECK_EQ(raft_conf_change_decode(buf, 8, &out), CAIRN_BADMSG);
    buf[0] = 3;
    CHECK_EQ(raft_conf_change_decode(buf, 9, &out), CAIRN_BADMSG);
    CHECK_STR_EQ(raft_role_name(RAFT_PRE_CANDIDATE), "pre-candidate");
    CHECK_STR_EQ(raft_msg_type_name(RAFT_MSG_TIMEOUT_NOW), "TIMEOUT_NOW");
    CHECK_STR_EQ(raft_msg_type_name(99), "?");
}
