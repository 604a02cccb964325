/* raft.c: roles, terms and elections, message checks, the follower side. */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "raft/raft_int.h"

struct raft_progress *raft_progress(struct raft *r, uint64_t id)
{
    for (uint32_t k = 0; k < r->n_prs; k++)
        if (r->prs[k].id == id)
            return &r->prs[k];
    return NULL;
}

int raft_promotable(const struct raft *r) { return raft_conf_is_voter(&r->conf, r->id); }

uint32_t raft_quorum(const struct raft *r) { return r->conf.n_voters / 2 + 1; }

/* Rebuild the progress list from the configuration, keeping what we knew
 * about members that stay (a conf change must not forget their match). */
static void prs_rebuild(struct raft *r)
{
    struct raft_progress *old = r->prs;
    uint32_t n_old = r->n_prs;
    uint32_t n = r->conf.n_voters + r->conf.n_learners;
    struct raft_progress *prs = raft_xcalloc(n ? n : 1, sizeof *prs);
    uint64_t next = raft_log_last_index(&r->log) + 1;
    for (uint32_t k = 0; k < n; k++) {
        int learner = k >= r->conf.n_voters;
        uint64_t id = learner ? r->conf.learners[k - r->conf.n_voters] : r->conf.voters[k];
        struct raft_progress *keep = NULL;
        for (uint32_t j = 0; j < n_old; j++)
            if (old[j].id == id)
                keep = &old[j];
        if (keep) {
            prs[k] = *keep;
            prs[k].learner = (uint8_t)learner;
        } else {
            raft_pr_init(&prs[k], id, learner, next, r->cfg.max_inflight_msgs);
            /* A new member gets a chance before CheckQuorum judges it. */
            prs[k].recent_active = 1;
        }
    }
    free(old);
    r->prs = prs;
    r->n_prs = n;
}

static void reset_randomized_timeout(struct raft *r)
{
    uint32_t e = r->cfg.election_ticks;
    r->randomized_timeout = (uint32_t)prng_range(&r->prng, e, 2 * (uint64_t)e - 1);
}

/* Common to every role change: a new term forgets the vote; timers and
 * leader-only state restart. */
static void reset(struct raft *r, uint64_t term)
{
    if (r->term != term) {
        r->term = term;
        r->vote = RAFT_NONE;
    }
    r->leader = RAFT_NONE;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    reset_randomized_timeout(r);
    r->lead_transferee = RAFT_NONE;
    r->pending_conf_index = 0;
    r->removed_index = 0;
    r->bcast_pending = 0;
    r->bcast_commit = 0;
    r->n_reads = 0;
    uint64_t last = raft_log_last_index(&r->log);
    for (uint32_t k = 0; k < r->n_prs; k++) {
        struct raft_progress *pr = &r->prs[k];
        raft_pr_init(pr, pr->id, pr->learner, last + 1, r->cfg.max_inflight_msgs);
        if (pr->id == r->id)
            pr->match = last;
    }
}

void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
    reset(r, term);
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
}

static void become_pre_candidate(struct raft *r)
{
    CAIRN_ASSERT(r->role != RAFT_LEADER);
    /* PreVote changes neither the term nor the vote (thesis §9.6). */
    for (uint32_t k = 0; k < r->n_prs; k++)
        r->prs[k].vote = 0;
    r->role = RAFT_PRE_CANDIDATE;
    r->leader = RAFT_NONE;
}

static void become_candidate(struct raft *r)
{
    CAIRN_ASSERT(r->role != RAFT_LEADER);
    reset(r, r->term + 1);
    r->vote = r->id;
    r->role = RAFT_CANDIDATE;
}

enum poll_result { POLL_PENDING, POLL_WON, POLL_LOST };

/* Record a vote (first answer per member counts) and tally the voters. */
static enum poll_result poll(struct raft *r, uint64_t id, int granted)
{
    struct raft_progress *pr = raft_progress(r, id);
    if (pr && !pr->learner && pr->vote == 0)
        pr->vote = granted ? 1 : -1;
    uint32_t yes = 0, no = 0;
    for (uint32_t k = 0; k < r->n_prs; k++) {
        if (r->prs[k].learner)
            continue;
        yes += r->prs[k].vote > 0;
        no += r->prs[k].vote < 0;
    }
    if (yes >= raft_quorum(r))
        return POLL_WON;
    if (no > r->conf.n_voters - raft_quorum(r))
        return POLL_LOST;
    return POLL_PENDING;
}

static void campaign(struct raft *r, enum campaign_kind kind)
{
    if (!raft_promotable(r))
        return;
    uint8_t type;
    uint64_t term;
    if (kind == CAMPAIGN_PRE) {
        become_pre_candidate(r);
        type = RAFT_MSG_PREVOTE;
        term = r->term + 1;
    } else {
        become_candidate(r);
        type = RAFT_MSG_VOTE;
        term = r->term;
    }
    if (poll(r, r->id, 1) == POLL_WON) {
        if (kind == CAMPAIGN_PRE)
            campaign(r, CAMPAIGN_ELECTION);
        else
            raft_leader_become(r);
        return;
    }
    for (uint32_t k = 0; k < r->n_prs; k++) {
        struct raft_progress *pr = &r->prs[k];
        if (pr->learner || pr->id == r->id)
            continue;
        struct raft_msg *m = raft_out_push(r, type, pr->id);
        m->term = term;
        m->index = raft_log_last_index(&r->log);
        m->log_term = raft_log_last_term(&r->log);
        m->context = kind == CAMPAIGN_TRANSFER ? RAFT_VOTE_CTX_TRANSFER : 0;
    }
}

static void hup(struct raft *r)
{
    if (r->role == RAFT_LEADER || !raft_promotable(r))
        return;
    campaign(r, r->cfg.pre_vote ? CAMPAIGN_PRE : CAMPAIGN_ELECTION);
}

void raft_campaign(struct raft *r) { hup(r); }

/* Advance the commit index, applying the configuration changes it passes:
 * a membership change takes effect when committed (one at a time). */
void raft_commit_to(struct raft *r, uint64_t index)
{
    struct raft_log *l = &r->log;
    if (index <= l->committed)
        return;
    CAIRN_ASSERT(index <= raft_log_last_index(l));
    uint64_t conf_index = 0;
    for (uint64_t i = l->committed + 1; i <= index; i++)
        if (raft_log_entry(l, i)->type == RAFT_ENTRY_CONF)
            conf_index = i;
    uint64_t from = l->committed;
    l->committed = index;
    if (conf_index == 0)
        return;
    raft_conf_replay(&r->conf, l, from, index);
    prs_rebuild(r);
    if (r->role != RAFT_LEADER)
        return;
    if (r->lead_transferee != RAFT_NONE && !raft_conf_is_voter(&r->conf, r->lead_transferee))
        raft_leader_abort_transfer(r);
    r->bcast_commit = 1;
    if (!raft_promotable(r)) {
        raft_leader_removed(r, conf_index);
        return;
    }
    /* A smaller quorum may commit more, and may confirm pending reads. */
    raft_leader_maybe_commit(r);
    raft_leader_reads_release(r);
}

void raft_tick(struct raft *r)
{
    if (r->role == RAFT_LEADER) {
        raft_leader_tick(r);
        return;
    }
    r->election_elapsed++;
    if (raft_promotable(r) && r->election_elapsed >= r->randomized_timeout) {
        r->election_elapsed = 0;
        hup(r);
    }
}

static void send_app_resp(struct raft *r, uint64_t to, uint64_t index)
{
    struct raft_msg *m = raft_out_push(r, RAFT_MSG_APP_RESP, to);
    m->index = index;
}

static void handle_append(struct raft *r, const struct raft_msg *m)
{
    struct raft_log *l = &r->log;
    if (m->index < l->committed) {
        send_app_resp(r, m->from, l->committed);
        return;
    }
    uint64_t last_new;
    if (raft_log_maybe_append(l, m->index, m->log_term, m->entries, m->n_entries, &last_new)) {
        raft_commit_to(r, CAIRN_MIN(m->commit, last_new));
        send_app_resp(r, m->from, last_new);
        return;
    }
    /* Reject with a hint: our last index with a term <= the leader's term
     * at m->index, so the leader skips whole terms (etcd). */
    uint64_t hint =
        raft_log_find_conflict_by_term(l, CAIRN_MIN(m->index, raft_log_last_index(l)), m->log_term);
    struct raft_msg *resp = raft_out_push(r, RAFT_MSG_APP_RESP, m->from);
    resp->index = m->index;
    resp->reject = 1;
    resp->reject_hint = hint;
    resp->log_term = raft_log_term(l, hint);
}

static void handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
    /* The leader sends min(commit, our match): safe to adopt within our log. */
    raft_commit_to(r, CAIRN_MIN(m->commit, raft_log_last_index(&r->log)));
    struct raft_msg *resp = raft_out_push(r, RAFT_MSG_HEARTBEAT_RESP, m->from);
    resp->context = m->context;
}

/* Install a snapshot from the leader unless our log already has its last
 * entry (then only the commit index moves). */
static void handle_snapshot(struct raft *r, const struct raft_msg *m)
{
    struct raft_log *l = &r->log;
    const struct raft_snapshot *s = m->snapshot;
    if (s->meta.index <= l->committed) {
        send_app_resp(r, m->from, l->committed);
        return;
    }
    if (raft_log_match_term(l, s->meta.index, s->meta.term)) {
        raft_commit_to(r, s->meta.index);
        send_app_resp(r, m->from, raft_log_last_index(l));
        return;
    }
    raft_log_reset(l, s->meta.index, s->meta.term);
    l->committed = s->meta.index;
    l->applying = s->meta.index; /* the snapshot replaces what is not applied */
    r->conf = s->meta.conf;
    r->snap_conf = s->meta.conf;
    prs_rebuild(r);
    raft_snap_unref(r->install);
    r->install = raft_snap_new(&s->meta, s->data, s->len);
    raft_snap_unref(r->snap);
    r->snap = r->install;
    raft_snap_ref(r->snap);
    send_app_resp(r, m->from, raft_log_last_index(l));
}

static void step_follower(struct raft *r, const struct raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_APP:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAP:
        r->election_elapsed = 0;
        r->leader = m->from;
        if (m->type == RAFT_MSG_APP)
            handle_append(r, m);
        else if (m->type == RAFT_MSG_HEARTBEAT)
            handle_heartbeat(r, m);
        else
            handle_snapshot(r, m);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        /* Leadership transfer: campaign at once, without PreVote. */
        campaign(r, CAMPAIGN_TRANSFER);
        break;
    default:
        break;
    }
}

/* A removed node refusing a vote tells the candidate its commit index, as
 * far as their logs match (the candidate's last entry is in ours, so by
 * log matching everything before it is too). A candidate whose commit lags
 * the removal may need our vote, which our longer log refuses, and no
 * leader may be left to tell it the commit: a removed leader that crashed
 * before the new voters knew (CORE-BUGS #3, seed 5457). */
static void vote_resp_add_commit(const struct raft *r, const struct raft_msg *m,
                                 struct raft_msg *resp)
{
    /* (A log term above our term would make the answer malformed.) */
    if (raft_promotable(r) || m->log_term > r->term ||
        !raft_log_match_term(&r->log, m->index, m->log_term))
        return;
    resp->commit = CAIRN_MIN(r->log.committed, m->index);
    if (resp->commit == 0)
        return;
    resp->index = m->index;
    resp->log_term = m->log_term;
}

/* A refusal that carries a commit index (vote_resp_add_commit) is adopted
 * if our log still holds the entry it was checked against: a commit index
 * is a fact about the group, true whoever reports it, and our entries up
 * to resp->index are the reporter's. */
static void vote_resp_learn_commit(struct raft *r, const struct raft_msg *m)
{
    if (!m->reject || m->commit == 0 || m->commit > m->index ||
        !raft_log_match_term(&r->log, m->index, m->log_term))
        return;
    raft_commit_to(r, m->commit);
}

static void step_candidate(struct raft *r, const struct raft_msg *m)
{
    uint8_t my_resp = r->role == RAFT_PRE_CANDIDATE ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
    switch (m->type) {
    case RAFT_MSG_APP:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAP:
        /* A leader exists in this term. */
        raft_become_follower(r, m->term, m->from);
        step_follower(r, m);
        return;
    default:
        break;
    }
    if (m->type != my_resp)
        return;
    /* It may change our configuration (and so the tally below). */
    vote_resp_learn_commit(r, m);
    switch (poll(r, m->from, !m->reject)) {
    case POLL_WON:
        if (r->role == RAFT_PRE_CANDIDATE)
            campaign(r, CAMPAIGN_ELECTION);
        else
            raft_leader_become(r);
        break;
    case POLL_LOST:
        raft_become_follower(r, r->term, RAFT_NONE);
        break;
    default:
        break;
    }
}

/* Vote granting (§5.2, §5.4.1): one vote per term, persisted before the
 * answer leaves (the ready contract), only for a log at least as up to date
 * as ours. A PreVote for a later term is granted on the log check alone. */
static void handle_vote(struct raft *r, const struct raft_msg *m)
{
    int pre = m->type == RAFT_MSG_PREVOTE;
    int can_vote = r->vote == m->from || (r->vote == RAFT_NONE && r->leader == RAFT_NONE) ||
                   (pre && m->term > r->term);
    uint8_t type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
    if (can_vote && raft_log_is_up_to_date(&r->log, m->index, m->log_term)) {
        struct raft_msg *resp = raft_out_push(r, type, m->from);
        resp->term = m->term;
        if (!pre) {
            r->election_elapsed = 0;
            r->vote = m->from;
        }
    } else {
        struct raft_msg *resp = raft_out_push(r, type, m->from);
        resp->reject = 1;
        vote_resp_add_commit(r, m, resp);
    }
}

static int entries_valid(const struct raft_msg *m)
{
    if (m->n_entries > CAIRN_RAFT_APPEND_ENTRIES_MAX || (m->n_entries && !m->entries))
        return 0;
    if (m->index > UINT64_MAX - m->n_entries - 1 || (m->index == 0 && m->log_term != 0))
        return 0;
    uint64_t prev_term = m->log_term;
    for (uint32_t k = 0; k < m->n_entries; k++) {
        const struct raft_entry *e = &m->entries[k];
        if (e->index != m->index + 1 + k || e->term < prev_term || e->term > m->term ||
            e->term == 0 || e->type > RAFT_ENTRY_CONF || e->len > CAIRN_RAFT_PROPOSAL_MAX ||
            (e->len && !e->data))
            return 0;
        prev_term = e->term;
    }
    return 1;
}

static int snapshot_valid(const struct raft_msg *m)
{
    const struct raft_snapshot *s = m->snapshot;
    return s && s->meta.index > 0 && s->meta.term > 0 && s->meta.term <= m->term &&
           (s->len == 0 || s->data) && raft_conf_is_valid(&s->meta.conf);
}

/* Network input is untrusted: check the shape of a message and that its
 * sender may send it, before any of it touches our state. */
static int msg_valid(const struct raft *r, const struct raft_msg *m)
{
    if (!m || m->type < 1 || m->type > RAFT_MSG_TYPE_MAX || m->to != r->id ||
        m->from == RAFT_NONE || m->from == r->id || m->term == 0 || m->reject > 1)
        return 0;
    if (m->type != RAFT_MSG_APP && m->n_entries != 0)
        return 0;
    if (m->log_term > m->term && m->type != RAFT_MSG_APP_RESP)
        return 0;
    switch (m->type) {
    case RAFT_MSG_APP:
        return entries_valid(m);
    case RAFT_MSG_SNAP:
        return snapshot_valid(m);
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        /* Answered whatever our configuration says (thesis §4.1): it may
         * lag the candidate's, whose quorum may need our vote. A removed
         * node cannot disrupt a healthy group: the lease rule (step_term)
         * ignores it, and PreVote refuses its stale log. */
        return m->index != 0 || m->log_term == 0;
    case RAFT_MSG_APP_RESP:
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
    case RAFT_MSG_HEARTBEAT_RESP:
        /* Only members answer us. */
        return raft_conf_contains(&r->conf, m->from);
    default:
        return 1;
    }
}

/* Term rules (§5.1, with etcd's PreVote and leader-lease refinements).
 * Returns 1 if the message goes on to the role's handler. */
static int step_term(struct raft *r, const struct raft_msg *m)
{
    int is_vote = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
    if (m->term > r->term) {
        if (is_vote) {
            int force = m->context == RAFT_VOTE_CTX_TRANSFER;
            int in_lease = r->cfg.check_quorum && r->leader != RAFT_NONE &&
                           r->election_elapsed < r->cfg.election_ticks;
            if (!force && in_lease)
                return 0; /* we heard from a leader recently: ignore */
        }
        if (m->type == RAFT_MSG_PREVOTE || (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject)) {
            /* A PreVote never changes terms; a granted answer carries the
             * term the pre-candidate will use. */
        } else if (m->type == RAFT_MSG_APP || m->type == RAFT_MSG_HEARTBEAT ||
                   m->type == RAFT_MSG_SNAP) {
            raft_become_follower(r, m->term, m->from);
        } else {
            /* A higher term without a leader (a vote request, an answer)
             * does not restart our election timer (Figure 2: only a leader
             * or a granted vote do). Otherwise a node whose log is too old
             * to win, timing out first again and again, would keep
             * resetting the timer of every node that could win. */
            uint32_t elapsed = r->election_elapsed;
            int was_leader = r->role == RAFT_LEADER;
            raft_become_follower(r, m->term, RAFT_NONE);
            if (!was_leader)
                r->election_elapsed = elapsed;
        }
        return 1;
    }
    if (m->term < r->term) {
        if (m->type == RAFT_MSG_APP || m->type == RAFT_MSG_HEARTBEAT) {
            /* A stale leader learns our term and steps down (§5.1: the
             * answer carries the current term). etcd answers only with
             * PreVote or CheckQuorum on, counting on our own campaign to
             * spread the term otherwise; but a member that may not campaign
             * (a learner, or a voter whose committed configuration lags)
             * would then stay unreachable forever. */
            raft_out_push(r, RAFT_MSG_APP_RESP, m->from);
        } else if (m->type == RAFT_MSG_PREVOTE) {
            struct raft_msg *resp = raft_out_push(r, RAFT_MSG_PREVOTE_RESP, m->from);
            resp->reject = 1;
        } else if (m->type == RAFT_MSG_VOTE) {
            /* A candidate of a stale term learns ours from the refusal
             * (§5.1). Without it, with PreVote off, two nodes can climb
             * terms forever without either hearing of the other's
             * (tests/sim/CORE-BUGS.md entry 5, seed 81403). */
            struct raft_msg *resp = raft_out_push(r, RAFT_MSG_VOTE_RESP, m->from);
            resp->reject = 1;
        }
        return 0;
    }
    return 1;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
    if (!msg_valid(r, m))
        return CAIRN_BADMSG;
    if (!step_term(r, m))
        return 0;
    if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE) {
        handle_vote(r, m);
        return 0;
    }
    switch (r->role) {
    case RAFT_LEADER:
        raft_leader_step(r, m);
        break;
    case RAFT_FOLLOWER:
        step_follower(r, m);
        break;
    default:
        step_candidate(r, m);
        break;
    }
    return 0;
}

/* Is what the shell read from its disk consistent? Entries or a snapshot of
 * a term above the hard state's are accepted: the shell writes the log and
 * the hard state separately, and a crash between the two loses only the
 * newer hard state (whose vote, if any, was never sent: messages leave
 * after both writes). A commit index past the log is refused: the log
 * must be durable before a hard state that commits it. */
static int restore_valid(const struct raft_restore *rs)
{
    const struct raft_snapshot_meta *sm = &rs->snapshot_meta;
    if (!raft_conf_is_valid(&sm->conf) || (sm->index == 0) != (sm->term == 0) ||
        (rs->n_entries && !rs->entries))
        return 0;
    uint64_t prev_term = sm->term;
    for (size_t k = 0; k < rs->n_entries; k++) {
        const struct raft_entry *e = &rs->entries[k];
        if (e->index != sm->index + 1 + k || e->term < prev_term || e->type > RAFT_ENTRY_CONF ||
            (e->len && !e->data))
            return 0;
        prev_term = e->term;
    }
    uint64_t last = sm->index + rs->n_entries;
    return rs->hard_state.commit <= last &&
           rs->applied <= CAIRN_MAX(rs->hard_state.commit, sm->index);
}

static void config_check(struct raft_config *c)
{
    CAIRN_ASSERT(c->id != RAFT_NONE);
    CAIRN_ASSERT(c->heartbeat_ticks > 0 && c->heartbeat_ticks < c->election_ticks);
    CAIRN_ASSERT(c->election_ticks <= UINT32_MAX / 2);
    if (c->max_entries_per_msg == 0 || c->max_entries_per_msg > CAIRN_RAFT_APPEND_ENTRIES_MAX)
        c->max_entries_per_msg = CAIRN_RAFT_APPEND_ENTRIES_MAX;
    if (c->max_bytes_per_msg == 0 || c->max_bytes_per_msg > CAIRN_RAFT_APPEND_BYTES_MAX)
        c->max_bytes_per_msg = CAIRN_RAFT_APPEND_BYTES_MAX;
    if (c->max_inflight_msgs == 0 || c->max_inflight_msgs > CAIRN_RAFT_INFLIGHT_MAX)
        c->max_inflight_msgs = CAIRN_RAFT_INFLIGHT_MAX;
}

/* Start from what the node persisted: the configuration is the snapshot's
 * plus the committed CONF entries after it. */
struct raft *raft_new(const struct raft_config *cfg, const struct raft_restore *restore)
{
    struct raft_restore empty;
    if (!restore) {
        memset(&empty, 0, sizeof empty);
        restore = &empty;
    }
    if (!restore_valid(restore))
        return NULL;
    struct raft *r = raft_xcalloc(1, sizeof *r);
    r->cfg = *cfg;
    config_check(&r->cfg);
    r->id = cfg->id;
    prng_seed(&r->prng, cfg->seed);
    const struct raft_snapshot_meta *sm = &restore->snapshot_meta;
    raft_log_init(&r->log, sm->index, sm->term);
    raft_log_append_copies(&r->log, restore->entries, restore->n_entries);
    r->log.unstable = raft_log_last_index(&r->log) + 1;
    r->conf = sm->conf;
    r->snap_conf = sm->conf;
    uint64_t commit = CAIRN_MAX(restore->hard_state.commit, sm->index);
    raft_conf_replay(&r->conf, &r->log, sm->index, commit);
    r->log.committed = commit;
    r->log.applied = r->log.applying = CAIRN_MAX(restore->applied, sm->index);
    if (sm->index > 0 && restore->snapshot_data)
        r->snap = raft_snap_new(sm, restore->snapshot_data, restore->snapshot_len);
    r->term = restore->hard_state.term;
    r->vote = restore->hard_state.vote;
    r->hs_saved = (struct raft_hard_state){r->term, r->vote, commit};
    if (raft_log_last_term(&r->log) > r->term) {
        /* The newer hard state was lost (see restore_valid): we never
         * voted in the later term. */
        r->term = raft_log_last_term(&r->log);
        r->vote = RAFT_NONE;
    }
    prs_rebuild(r);
    raft_become_follower(r, r->term, RAFT_NONE);
    return r;
}

void raft_free(struct raft *r)
{
    if (!r)
        return;
    if (r->ready_out)
        raft_advance(r, &r->rd);
    for (size_t k = 0; k < r->n_out; k++)
        raft_out_free_msg(&r->out[k]);
    free(r->out);
    free(r->rs);
    free(r->reads);
    free(r->prs);
    raft_snap_unref(r->snap);
    raft_snap_unref(r->install);
    raft_log_free(&r->log);
    free(r);
}

uint64_t raft_term_at(const struct raft *r, uint64_t index)
{
    return raft_log_term(&r->log, index);
}

void raft_report_unreachable(struct raft *r, uint64_t to)
{
    if (r->role != RAFT_LEADER)
        return;
    struct raft_progress *pr = raft_progress(r, to);
    if (!pr || pr->id == r->id)
        return;
    if (pr->state == PR_REPLICATE)
        raft_pr_become_probe(pr);
    else if (pr->state == PR_SNAPSHOT)
        raft_pr_snapshot_failed(pr);
}
