/* replicate.c: the leader side: proposals, appends and snapshots to
 * followers, heartbeats, commitment, ReadIndex and leadership transfer. */
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "raft/raft_int.h"

/* Append one entry of the current term to the leader's log. The leader
 * counts itself as a replica at once: its own messages leave only after the
 * entry is persisted (ready contract), so followers' answers, and hence any
 * commitment, come after that. Followers get the entry at the next ready. */
static uint64_t raft_leader_append(struct raft *r, uint8_t type, uint8_t *blob, uint32_t len)
{
    struct raft_entry e = {
        .term = r->term,
        .index = raft_log_last_index(&r->log) + 1,
        .type = type,
        .len = len,
        .data = blob,
    };
    raft_log_append_owned(&r->log, &e);
    struct raft_progress *self = raft_progress(r, r->id);
    if (self)
        raft_pr_maybe_update(self, e.index);
    r->bcast_pending = 1;
    raft_leader_maybe_commit(r);
    return e.index;
}

void raft_leader_become(struct raft *r)
{
    CAIRN_ASSERT(r->role == RAFT_CANDIDATE);
    raft_become_follower(r, r->term, RAFT_NONE); /* the common reset */
    r->role = RAFT_LEADER;
    r->leader = r->id;
    struct raft_progress *self = raft_progress(r, r->id);
    if (self) {
        raft_pr_become_replicate(self);
        self->recent_active = 1;
    }
    /* Entries of earlier terms may hold an uncommitted change; no new one
     * until the no-op below (and so they) is committed. */
    r->pending_conf_index = raft_log_last_index(&r->log);
    raft_leader_append(r, RAFT_ENTRY_NORMAL, NULL, 0);
    if (r->role == RAFT_LEADER)
        raft_leader_bcast_append(r, 1);
}

/* A leader that committed its own removal only finishes its term. */
static int is_acting_leader(const struct raft *r)
{
    return r->role == RAFT_LEADER && r->removed_index == 0;
}

static int proposal_check(const struct raft *r, size_t len)
{
    if (!is_acting_leader(r))
        return CAIRN_NOTLEADER;
    if (r->lead_transferee != RAFT_NONE)
        return CAIRN_EBUSY;
    if (len > CAIRN_RAFT_PROPOSAL_MAX)
        return CAIRN_TOOBIG;
    return 0;
}

int raft_propose(struct raft *r, const void *data, size_t len, uint64_t *index)
{
    int rc = proposal_check(r, len);
    if (rc != 0)
        return rc;
    if (len > 0 && data == NULL)
        return CAIRN_EINVAL;
    uint64_t i = raft_leader_append(r, RAFT_ENTRY_NORMAL, raft_blob_new(data, len), (uint32_t)len);
    if (index)
        *index = i;
    return 0;
}

/* One change at a time, and only once the leader has committed an entry of
 * its term: that closes the single-server-change bug of the thesis (§4.1
 * erratum) and guarantees no older change is still pending. */
int raft_propose_conf(struct raft *r, const struct raft_conf_change *cc, uint64_t *index)
{
    int rc = proposal_check(r, 9);
    if (rc != 0)
        return rc;
    const struct raft_log *l = &r->log;
    if (raft_log_term(l, l->committed) != r->term || r->pending_conf_index > l->committed)
        return CAIRN_EBUSY;
    rc = raft_conf_check_change(&r->conf, cc);
    if (rc != 0)
        return rc;
    uint8_t buf[9];
    raft_conf_change_encode(cc, buf);
    uint64_t i = raft_leader_append(r, RAFT_ENTRY_CONF, raft_blob_new(buf, sizeof buf), sizeof buf);
    r->pending_conf_index = i;
    if (index)
        *index = i;
    return 0;
}

static int send_snapshot(struct raft *r, struct raft_progress *pr)
{
    /* A silent follower is probably down: do not ship it a snapshot yet. */
    if (!pr->recent_active || !r->snap || r->snap->snap.meta.index < r->log.snap_index)
        return 0;
    struct raft_msg *m = raft_out_push(r, RAFT_MSG_SNAP, pr->id);
    m->snapshot = &r->snap->snap;
    raft_snap_ref(r->snap);
    raft_pr_become_snapshot(pr, r->snap->snap.meta.index);
    return 1;
}

/* Send pr the entries from its next index (one message within the batch
 * bounds), or a snapshot if they are compacted away. Returns 1 if sent. */
int raft_leader_send_append(struct raft *r, struct raft_progress *pr, int send_if_empty)
{
    if (pr->id == r->id || raft_pr_is_paused(pr))
        return 0;
    const struct raft_log *l = &r->log;
    CAIRN_ASSERT(pr->next >= 1 && pr->next <= raft_log_last_index(l) + 1);
    uint64_t prev = pr->next - 1;
    if (prev < l->snap_index)
        return send_snapshot(r, pr);
    size_t n = raft_log_batch(l, pr->next, r->cfg.max_entries_per_msg, r->cfg.max_bytes_per_msg);
    if (n == 0 && !send_if_empty)
        return 0;
    struct raft_msg *m = raft_out_push(r, RAFT_MSG_APP, pr->id);
    m->index = prev;
    m->log_term = raft_log_term(l, prev);
    m->commit = l->committed;
    if (n > 0) {
        m->entries = raft_xmalloc(n * sizeof *m->entries);
        for (size_t k = 0; k < n; k++) {
            m->entries[k] = *raft_log_entry(l, pr->next + k);
            raft_blob_ref(m->entries[k].data);
        }
        m->n_entries = (uint32_t)n;
        raft_pr_sent_entries(pr, prev + n);
    }
    return 1;
}

/* Send every member what it lacks, as many messages as its state allows
 * (several in flight to a replicating follower: pipelining). */
void raft_leader_bcast_append(struct raft *r, int send_if_empty)
{
    for (uint32_t k = 0; k < r->n_prs; k++) {
        if (raft_leader_send_append(r, &r->prs[k], send_if_empty))
            while (raft_leader_send_append(r, &r->prs[k], 0))
                ;
    }
}

void raft_leader_bcast_heartbeat(struct raft *r, uint64_t ctx)
{
    for (uint32_t k = 0; k < r->n_prs; k++) {
        struct raft_progress *pr = &r->prs[k];
        if (pr->id == r->id)
            continue;
        struct raft_msg *m = raft_out_push(r, RAFT_MSG_HEARTBEAT, pr->id);
        /* Never more than the follower is known to hold: it cannot check. */
        m->commit = CAIRN_MIN(pr->match, r->log.committed);
        m->context = ctx;
    }
}

/* Start a heartbeat round for the reads that wait for one. */
static void reads_start_round(struct raft *r)
{
    int waiting = 0;
    r->read_seq++;
    for (size_t k = 0; k < r->n_reads; k++) {
        if (r->reads[k].seq == 0) {
            r->reads[k].seq = r->read_seq;
            r->reads[k].index = r->log.committed;
            waiting = 1;
        }
    }
    if (!waiting)
        return;
    struct raft_progress *self = raft_progress(r, r->id);
    if (self)
        self->read_ack = r->read_seq;
    raft_leader_bcast_heartbeat(r, r->read_seq);
    raft_leader_reads_release(r);
}

static int read_confirmed(const struct raft *r, uint64_t seq)
{
    uint32_t acks = 0;
    for (uint32_t k = 0; k < r->n_prs; k++)
        if (!r->prs[k].learner && r->prs[k].read_ack >= seq)
            acks++;
    return acks >= raft_quorum(r);
}

/* Reads are confirmed in order: a quorum acknowledging round s also
 * confirms every earlier round. */
void raft_leader_reads_release(struct raft *r)
{
    size_t k = 0;
    while (k < r->n_reads && r->reads[k].seq != 0 && read_confirmed(r, r->reads[k].seq)) {
        raft_rs_push(r, r->reads[k].ctx, r->reads[k].index);
        k++;
    }
    if (k > 0) {
        memmove(r->reads, r->reads + k, (r->n_reads - k) * sizeof *r->reads);
        r->n_reads -= k;
    }
}

int raft_read_index(struct raft *r, uint64_t ctx)
{
    if (!is_acting_leader(r))
        return CAIRN_NOTLEADER;
    if (r->n_reads >= CAIRN_RAFT_READS_MAX)
        return CAIRN_LIMIT;
    if (r->n_reads == r->cap_reads) {
        r->cap_reads = r->cap_reads ? 2 * r->cap_reads : 16;
        r->reads = raft_xrealloc(r->reads, r->cap_reads * sizeof *r->reads);
    }
    r->reads[r->n_reads++] = (struct read_req){.ctx = ctx};
    /* Until the leader commits an entry of its term, its commit index may
     * lag entries earlier leaders committed (§6.4): wait for the no-op. */
    if (raft_log_term(&r->log, r->log.committed) == r->term)
        reads_start_round(r);
    return 0;
}

/* Sort a handful of match indexes (at most CAIRN_RAFT_NODES_MAX), largest first. */
static void sort_desc(uint64_t *v, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        uint64_t x = v[i];
        uint32_t j = i;
        for (; j > 0 && v[j - 1] < x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

/* Commit the largest index a quorum of voters holds, but only if it is of
 * the current term (Figure 8: an earlier-term entry is committed only
 * indirectly, by a current-term entry after it). */
int raft_leader_maybe_commit(struct raft *r)
{
    uint64_t match[CAIRN_RAFT_NODES_MAX];
    uint32_t n = 0;
    for (uint32_t k = 0; k < r->n_prs; k++)
        if (!r->prs[k].learner)
            match[n++] = r->prs[k].match;
    if (n == 0)
        return 0;
    CAIRN_ASSERT(n == r->conf.n_voters);
    sort_desc(match, n);
    uint64_t mci = match[raft_quorum(r) - 1];
    struct raft_log *l = &r->log;
    if (mci <= l->committed || raft_log_term(l, mci) != r->term)
        return 0;
    int first_in_term = raft_log_term(l, l->committed) != r->term;
    raft_commit_to(r, mci);
    if (r->role != RAFT_LEADER)
        return 1;
    r->bcast_commit = 1;
    if (first_in_term && r->n_reads > 0)
        reads_start_round(r);
    return 1;
}

static void send_timeout_now(struct raft *r, uint64_t to)
{
    raft_out_push(r, RAFT_MSG_TIMEOUT_NOW, to);
}

/* Heartbeat round of a removed leader: the commit index goes to every
 * member that holds the removal entry, with a round number in the context
 * that its answer echoes (reads are over, so the rounds are free). */
static void removed_send(struct raft *r, struct raft_progress *pr)
{
    uint64_t commit = CAIRN_MIN(pr->match, r->log.committed);
    if (commit >= r->removed_index && pr->removal_round == 0)
        pr->removal_round = r->read_seq;
    struct raft_msg *m = raft_out_push(r, RAFT_MSG_HEARTBEAT, pr->id);
    m->commit = commit;
    m->context = r->read_seq;
}

static void removed_round(struct raft *r)
{
    r->read_seq++;
    for (uint32_t k = 0; k < r->n_prs; k++)
        if (r->prs[k].id != r->id)
            removed_send(r, &r->prs[k]);
}

/* Once a quorum of the new voters know the removal committed, they have
 * the new configuration and can elect a leader among themselves (the
 * others learn it from that leader): step down, handing over to an
 * up-to-date one of them with TIMEOUT_NOW so that no election timeout is
 * lost. Stepping down earlier could strand a voter whose configuration
 * still needs our vote while our longer log refuses it (CORE-BUGS #3). */
static void removed_maybe_step_down(struct raft *r)
{
    uint32_t known = 0;
    struct raft_progress *heir = NULL;
    uint64_t last = raft_log_last_index(&r->log);
    for (uint32_t k = 0; k < r->n_prs; k++) {
        struct raft_progress *pr = &r->prs[k];
        if (pr->learner || pr->removal_round == 0 || pr->read_ack < pr->removal_round)
            continue;
        known++;
        if (pr->match == last)
            heir = pr;
    }
    if (known < raft_quorum(r))
        return;
    if (heir)
        send_timeout_now(r, heir->id);
    raft_become_follower(r, r->term, RAFT_NONE);
}

static void handle_append_reject(struct raft *r, struct raft_progress *pr, const struct raft_msg *m)
{
    uint64_t next_probe = m->reject_hint;
    if (m->log_term > 0)
        next_probe = raft_log_find_conflict_by_term(&r->log, m->reject_hint, m->log_term);
    if (raft_pr_maybe_decr_to(pr, m->index, next_probe)) {
        if (pr->state == PR_REPLICATE)
            raft_pr_become_probe(pr);
        raft_leader_send_append(r, pr, 1);
    }
}

static void handle_append_resp(struct raft *r, struct raft_progress *pr, const struct raft_msg *m)
{
    pr->recent_active = 1;
    if (m->reject) {
        handle_append_reject(r, pr, m);
        return;
    }
    uint64_t last = raft_log_last_index(&r->log);
    if (m->index > last)
        return; /* acknowledges entries we never had: bogus */
    int old_paused = raft_pr_is_paused(pr);
    if (!raft_pr_maybe_update(pr, m->index))
        return;
    if (pr->state == PR_PROBE) {
        raft_pr_become_replicate(pr);
    } else if (pr->state == PR_SNAPSHOT) {
        if (pr->match >= pr->pending_snapshot) {
            raft_pr_become_probe(pr);
            raft_pr_become_replicate(pr);
        }
    } else {
        raft_ins_free_le(&pr->ins, m->index);
    }
    if (raft_leader_maybe_commit(r)) {
        /* A committed conf change rebuilds the progress list: look again. */
        uint64_t id = m->from;
        if (r->role != RAFT_LEADER || (pr = raft_progress(r, id)) == NULL)
            return;
    }
    if (r->removed_index != 0 && pr->removal_round == 0 && pr->match >= r->removed_index) {
        /* It now holds the removal entry: tell it the commit at once. */
        r->read_seq++;
        removed_send(r, pr);
    } else if (old_paused && !r->bcast_commit) {
        /* It missed commit updates while paused (unless a broadcast of
         * the commit index is due at the next ready anyway). */
        raft_leader_send_append(r, pr, 1);
    }
    /* Keep the pipeline full. */
    while (raft_leader_send_append(r, pr, 0))
        ;
    if (pr->id == r->lead_transferee && pr->match == raft_log_last_index(&r->log))
        send_timeout_now(r, pr->id);
}

static void handle_heartbeat_resp(struct raft *r, struct raft_progress *pr,
                                  const struct raft_msg *m)
{
    pr->recent_active = 1;
    pr->probe_sent = 0;
    /* A lost append would otherwise hold a full window forever. */
    if (pr->state == PR_REPLICATE && raft_ins_full(&pr->ins))
        raft_ins_free_first(&pr->ins);
    if (pr->match < raft_log_last_index(&r->log))
        raft_leader_send_append(r, pr, 1);
    if (m->context != 0 && m->context <= r->read_seq && m->context > pr->read_ack) {
        pr->read_ack = m->context;
        raft_leader_reads_release(r);
        if (r->removed_index != 0)
            removed_maybe_step_down(r);
    }
}

void raft_leader_step(struct raft *r, const struct raft_msg *m)
{
    struct raft_progress *pr = raft_progress(r, m->from);
    if (!pr)
        return;
    if (m->type == RAFT_MSG_APP_RESP)
        handle_append_resp(r, pr, m);
    else if (m->type == RAFT_MSG_HEARTBEAT_RESP)
        handle_heartbeat_resp(r, pr, m);
}

/* CheckQuorum: did a quorum of voters talk to us in the last election
 * timeout? Forgets the activity for the next round. */
static int quorum_active(struct raft *r)
{
    uint32_t active = 0;
    for (uint32_t k = 0; k < r->n_prs; k++) {
        struct raft_progress *pr = &r->prs[k];
        if (!pr->learner && (pr->recent_active || pr->id == r->id))
            active++;
        if (pr->id != r->id)
            pr->recent_active = 0;
    }
    return active >= raft_quorum(r);
}

/* A snapshot message may be lost (nothing else tells us): unanswered for
 * two election timeouts, it is sent again after a new probe. */
static void snapshots_tick(struct raft *r)
{
    for (uint32_t k = 0; k < r->n_prs; k++) {
        struct raft_progress *pr = &r->prs[k];
        if (pr->state == PR_SNAPSHOT && ++pr->snap_elapsed >= 2 * r->cfg.election_ticks)
            raft_pr_snapshot_failed(pr);
    }
}

void raft_leader_tick(struct raft *r)
{
    snapshots_tick(r);
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->election_elapsed >= r->cfg.election_ticks) {
        r->election_elapsed = 0;
        /* A removed leader keeps trying however long the new voters stay
         * silent: leaving before they know would strand them (above). */
        if (r->cfg.check_quorum && r->removed_index == 0 && !quorum_active(r)) {
            raft_become_follower(r, r->term, RAFT_NONE);
            return;
        }
        raft_leader_abort_transfer(r);
    }
    if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        if (r->removed_index != 0)
            removed_round(r);
        else
            raft_leader_bcast_heartbeat(r, r->n_reads > 0 ? r->read_seq : 0);
    }
}

/* The leader committed its own removal (the CONF entry at conf_index).
 * etcd's StepDownOnRemoval: it leads on for the rest of its term, taking
 * no proposals, reads or transfers and no longer counted in any quorum,
 * replicating to the new configuration until the new voters know of the
 * removal (removed_maybe_step_down). A higher term ends it as usual. */
void raft_leader_removed(struct raft *r, uint64_t conf_index)
{
    CAIRN_ASSERT(r->role == RAFT_LEADER && conf_index > 0);
    r->removed_index = conf_index;
    r->n_reads = 0; /* never answered: the callers time out and retry */
    raft_leader_abort_transfer(r);
    for (uint32_t k = 0; k < r->n_prs; k++)
        r->prs[k].removal_round = 0;
    r->bcast_commit = 1;
    removed_round(r);
}

void raft_leader_abort_transfer(struct raft *r) { r->lead_transferee = RAFT_NONE; }

int raft_transfer_leader(struct raft *r, uint64_t target)
{
    if (!is_acting_leader(r))
        return CAIRN_NOTLEADER;
    if (target == r->id)
        return 0;
    if (r->lead_transferee != RAFT_NONE)
        return r->lead_transferee == target ? 0 : CAIRN_EBUSY;
    if (!raft_conf_is_voter(&r->conf, target))
        return CAIRN_EINVAL;
    r->lead_transferee = target;
    /* The transfer must finish within an election timeout. */
    r->election_elapsed = 0;
    struct raft_progress *pr = raft_progress(r, target);
    if (pr->match == raft_log_last_index(&r->log))
        send_timeout_now(r, target);
    else
        raft_leader_send_append(r, pr, 1);
    return 0;
}
