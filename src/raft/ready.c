/* ready.c: the outbox, ready batches and their acknowledgement, snapshots
 * taken by the application, status and names. */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "raft/raft_int.h"

/* A new message from us in the current term; the pointer is valid until the
 * next raft_out_push (the outbox may move). */
struct raft_msg *raft_out_push(struct raft *r, uint8_t type, uint64_t to)
{
    if (r->n_out == r->cap_out) {
        r->cap_out = r->cap_out ? 2 * r->cap_out : 16;
        r->out = raft_xrealloc(r->out, r->cap_out * sizeof *r->out);
    }
    struct raft_msg *m = &r->out[r->n_out++];
    memset(m, 0, sizeof *m);
    m->type = type;
    m->from = r->id;
    m->to = to;
    m->term = r->term;
    return m;
}

void raft_out_free_msg(struct raft_msg *m)
{
    for (uint32_t k = 0; k < m->n_entries; k++)
        raft_blob_unref(m->entries[k].data);
    free(m->entries);
    if (m->snapshot)
        raft_snap_unref(raft_snap_of(m->snapshot));
    memset(m, 0, sizeof *m);
}

void raft_rs_push(struct raft *r, uint64_t ctx, uint64_t index)
{
    if (r->n_rs == r->cap_rs) {
        r->cap_rs = r->cap_rs ? 2 * r->cap_rs : 16;
        r->rs = raft_xrealloc(r->rs, r->cap_rs * sizeof *r->rs);
    }
    r->rs[r->n_rs++] = (struct raft_read_state){.ctx = ctx, .index = index};
}

static int hard_state_changed(const struct raft *r)
{
    return r->term != r->hs_saved.term || r->vote != r->hs_saved.vote ||
           r->log.committed != r->hs_saved.commit;
}

int raft_has_ready(const struct raft *r)
{
    if (r->ready_out)
        return 0;
    const struct raft_log *l = &r->log;
    return r->n_out > 0 || r->n_rs > 0 || r->install != NULL || r->bcast_pending ||
           r->bcast_commit || l->unstable <= raft_log_last_index(l) || l->committed > l->applying ||
           hard_state_changed(r) || r->role != r->ss_role || r->leader != r->ss_leader;
}

/* Shallow copies of entries lo..hi of the log, each holding a reference. */
static struct raft_entry *copy_range(const struct raft_log *l, uint64_t lo, uint64_t hi, size_t *n)
{
    *n = 0;
    if (lo > hi)
        return NULL;
    size_t cnt = (size_t)(hi - lo + 1);
    struct raft_entry *v = raft_xmalloc(cnt * sizeof *v);
    for (size_t k = 0; k < cnt; k++) {
        v[k] = *raft_log_entry(l, lo + k);
        raft_blob_ref(v[k].data);
    }
    *n = cnt;
    return v;
}

/* Hand out everything pending. New entries appended by the leader since the
 * last batch go out to followers now, so proposals made between two batches
 * share append messages (batching). */
void raft_ready(struct raft *r, struct raft_ready *rd)
{
    CAIRN_ASSERTF(!r->ready_out, "raft_ready: the previous batch was not advanced");
    if (r->role == RAFT_LEADER && (r->bcast_pending || r->bcast_commit))
        raft_leader_bcast_append(r, r->bcast_commit);
    r->bcast_pending = 0;
    r->bcast_commit = 0;

    struct raft_log *l = &r->log;
    memset(rd, 0, sizeof *rd);
    rd->role = r->role;
    rd->leader = r->leader;
    r->ss_role = r->role;
    r->ss_leader = r->leader;
    if (r->install) {
        rd->snapshot = &r->install->snap; /* the reference moves to rd */
        r->install = NULL;
    }
    if (hard_state_changed(r)) {
        rd->has_hard_state = 1;
        rd->hard_state = (struct raft_hard_state){r->term, r->vote, l->committed};
        r->hs_saved = rd->hard_state;
    }
    rd->entries = copy_range(l, l->unstable, raft_log_last_index(l), &rd->n_entries);
    l->unstable = raft_log_last_index(l) + 1;
    rd->committed = copy_range(l, l->applying + 1, l->committed, &rd->n_committed);
    l->applying = l->committed;
    rd->msgs = r->out;
    rd->n_msgs = r->n_out;
    r->out = NULL;
    r->n_out = r->cap_out = 0;
    rd->reads = r->rs;
    rd->n_reads = r->n_rs;
    r->rs = NULL;
    r->n_rs = r->cap_rs = 0;
    r->rd = *rd;
    r->ready_out = 1;
}

static void unref_entries(struct raft_entry *v, size_t n)
{
    for (size_t k = 0; k < n; k++)
        raft_blob_unref(v[k].data);
    free(v);
}

/* The shell has done what the batch asked: what it applied is applied, and
 * the core drops its references to the batch. */
void raft_advance(struct raft *r, const struct raft_ready *rd)
{
    CAIRN_ASSERTF(r->ready_out, "raft_advance without raft_ready");
    CAIRN_ASSERTF(rd->msgs == r->rd.msgs && rd->entries == r->rd.entries &&
                      rd->committed == r->rd.committed && rd->snapshot == r->rd.snapshot,
                  "raft_advance: not the batch raft_ready returned");
    struct raft_ready *b = &r->rd;
    struct raft_log *l = &r->log;
    if (b->snapshot) {
        l->applied = CAIRN_MAX(l->applied, b->snapshot->meta.index);
        raft_snap_unref(raft_snap_of(b->snapshot));
    }
    if (b->n_committed)
        l->applied = CAIRN_MAX(l->applied, b->committed[b->n_committed - 1].index);
    unref_entries(b->entries, b->n_entries);
    unref_entries(b->committed, b->n_committed);
    for (size_t k = 0; k < b->n_msgs; k++)
        raft_out_free_msg(&b->msgs[k]);
    free(b->msgs);
    free(b->reads);
    memset(b, 0, sizeof *b);
    r->ready_out = 0;
}

/* Keep the application's snapshot at index for lagging followers and drop
 * the log up to it. The snapshot's configuration is the one in effect at
 * index: the previous snapshot's plus the CONF entries up to index. */
int raft_snapshot_taken(struct raft *r, uint64_t index, const void *data, size_t len)
{
    struct raft_log *l = &r->log;
    if (index == 0 || index > l->applied || index < l->snap_index || (len && !data))
        return CAIRN_EINVAL;
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = index;
    meta.term = raft_log_term(l, index);
    meta.conf = r->snap_conf;
    raft_conf_replay(&meta.conf, l, l->snap_index, index);
    raft_snap_unref(r->snap);
    r->snap = raft_snap_new(&meta, data, len);
    raft_log_compact(l, index);
    r->snap_conf = meta.conf;
    return 0;
}

void raft_get_snapshot_meta(const struct raft *r, struct raft_snapshot_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    meta->index = r->log.snap_index;
    meta->term = r->log.snap_term;
    meta->conf = r->snap_conf;
}

void raft_get_status(const struct raft *r, struct raft_status *st)
{
    memset(st, 0, sizeof *st);
    st->id = r->id;
    st->role = r->role;
    st->term = r->term;
    st->vote = r->vote;
    st->leader = r->leader;
    st->commit = r->log.committed;
    st->applied = r->log.applied;
    st->first_index = r->log.snap_index + 1;
    st->last_index = raft_log_last_index(&r->log);
    st->snapshot_index = r->log.snap_index;
    st->conf = r->conf;
    if (r->role != RAFT_LEADER)
        return;
    for (uint32_t k = 0; k < r->n_prs && k < CAIRN_ARRAY_LEN(st->match); k++)
        st->match[k] = r->prs[k].match;
}

const char *raft_role_name(enum raft_role role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRE_CANDIDATE:
        return "pre-candidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    default:
        return "?";
    }
}

const char *raft_msg_type_name(int type)
{
    static const char *const names[] = {
        [RAFT_MSG_APP] = "APP",
        [RAFT_MSG_APP_RESP] = "APP_RESP",
        [RAFT_MSG_VOTE] = "VOTE",
        [RAFT_MSG_VOTE_RESP] = "VOTE_RESP",
        [RAFT_MSG_PREVOTE] = "PREVOTE",
        [RAFT_MSG_PREVOTE_RESP] = "PREVOTE_RESP",
        [RAFT_MSG_HEARTBEAT] = "HEARTBEAT",
        [RAFT_MSG_HEARTBEAT_RESP] = "HEARTBEAT_RESP",
        [RAFT_MSG_SNAP] = "SNAP",
        [RAFT_MSG_TIMEOUT_NOW] = "TIMEOUT_NOW",
    };
    if (type < 1 || type > RAFT_MSG_TYPE_MAX)
        return "?";
    return names[type];
}
