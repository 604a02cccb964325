/*
 * test_raft_util.h: the in-process cluster harness shared by the
 * test_raft*.c binaries. Each node is a pure Raft core plus what its shell
 * would have persisted (hard state, log, snapshot), following the ready
 * contract (persist, then send, then apply). Messages are deep-copied into
 * one FIFO network that can cut links and filter messages. After every
 * ready batch the harness checks the paper's safety properties: election
 * safety (one leader per term), leader append-only, log matching, leader
 * completeness and state-machine safety (every index applied with the same
 * entry). RAFT_TRACE=1 in the environment prints every delivered message.
 *
 * Header-only (static inline functions) so each test binary is one file.
 * A cluster and everything in it is owned by the case (cluster_free());
 * single-threaded.
 */
#ifndef CAIRN_TEST_RAFT_UTIL_H
#define CAIRN_TEST_RAFT_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/hashmap.h"
#include "raft/raft.h"
#include "test.h"

#define MAXN 6
#define TERMS_MAX 100000

struct stored {
    struct raft_hard_state hs;
    struct raft_snapshot_meta snap;
    uint8_t *snap_data;
    size_t snap_len;
    struct raft_entry *ents; /* snap.index + 1 ... */
    size_t n;
};

struct node {
    uint64_t id;
    struct raft *r;
    int up;
    struct stored st;
    uint64_t applied;
    uint64_t lead_term;   /* term in which lead_terms was recorded */
    uint64_t *lead_terms; /* leader append-only: its log's terms */
    size_t n_lead_terms;
    struct raft_read_state reads[64];
    size_t n_reads;
    int installed; /* snapshots installed */
    uint8_t inst_data[64];
    size_t inst_len;
};

typedef int (*msg_filter)(struct raft_msg *m); /* 0 = drop; may edit m */

struct cluster {
    int n;
    struct node nodes[MAXN + 1];
    struct raft_config cfg;
    struct raft_msg *q;
    size_t nq, capq, head;
    uint8_t cut[MAXN + 1][MAXN + 1];
    msg_filter filter;
    /* Lossy network (chaos runs): percent dropped, duplicated, and whether
     * delivery order is random instead of FIFO. */
    struct prng *net_rng;
    uint32_t drop_pct, dup_pct;
    int reorder;
    uint64_t *leader_of; /* term -> leader id */
    /* Applied entries: index -> (term, hash), first writer wins. */
    uint64_t *a_term, *a_hash;
    size_t a_cap;
    uint64_t sent[RAFT_MSG_TYPE_MAX + 1];
    uint64_t rejects_from[MAXN + 1];
    uint64_t badmsg;
};

static inline uint64_t ent_hash(const struct raft_entry *e)
{
    return hash_bytes(e->data ? (const void *)e->data : "", e->len, e->type * 7u + e->term);
}

/* --- message copies ------------------------------------------------------ */

static inline void msg_copy(struct raft_msg *d, const struct raft_msg *s)
{
    *d = *s;
    if (s->n_entries) {
        d->entries = calloc(s->n_entries, sizeof *d->entries);
        for (uint32_t k = 0; k < s->n_entries; k++) {
            d->entries[k] = s->entries[k];
            if (s->entries[k].len) {
                d->entries[k].data = malloc(s->entries[k].len);
                memcpy(d->entries[k].data, s->entries[k].data, s->entries[k].len);
            }
        }
    }
    if (s->snapshot) {
        d->snapshot = calloc(1, sizeof *d->snapshot);
        *d->snapshot = *s->snapshot;
        if (s->snapshot->len) {
            d->snapshot->data = malloc(s->snapshot->len);
            memcpy(d->snapshot->data, s->snapshot->data, s->snapshot->len);
        }
    }
}

static inline void msg_free(struct raft_msg *m)
{
    for (uint32_t k = 0; k < m->n_entries; k++)
        free(m->entries[k].data);
    free(m->entries);
    if (m->snapshot)
        free(m->snapshot->data);
    free(m->snapshot);
    memset(m, 0, sizeof *m);
}

/* --- storage --------------------------------------------------------------- */

static inline void stored_truncate(struct stored *st, uint64_t from)
{
    while (st->n > 0 && st->ents[st->n - 1].index >= from) {
        free(st->ents[st->n - 1].data);
        st->n--;
    }
}

static inline void stored_append(struct stored *st, const struct raft_entry *e, size_t n)
{
    if (n == 0)
        return;
    stored_truncate(st, e[0].index);
    st->ents = realloc(st->ents, (st->n + n) * sizeof *st->ents);
    for (size_t k = 0; k < n; k++) {
        uint64_t want = st->n ? st->ents[st->n - 1].index + 1 : st->snap.index + 1;
        CHECK_EQ_U64(e[k].index, want);
        struct raft_entry *d = &st->ents[st->n++];
        *d = e[k];
        d->data = NULL;
        if (e[k].len) {
            d->data = malloc(e[k].len);
            memcpy(d->data, e[k].data, e[k].len);
        }
    }
}

/* Store a snapshot: for one taken locally (compaction) the entries it
 * covers go; for one installed from a ready batch, every entry goes (the
 * core's log restarts after it: newer entries may be divergent). */
static inline void stored_set_snapshot(struct stored *st, const struct raft_snapshot_meta *meta,
                                       const void *data, size_t len, int installed)
{
    size_t keep = 0;
    for (size_t k = 0; k < st->n; k++) {
        if (installed || st->ents[k].index <= meta->index)
            free(st->ents[k].data);
        else
            st->ents[keep++] = st->ents[k];
    }
    st->n = keep;
    st->snap = *meta;
    free(st->snap_data);
    st->snap_data = len ? malloc(len) : NULL;
    if (len)
        memcpy(st->snap_data, data, len);
    st->snap_len = len;
}

static inline void stored_free(struct stored *st)
{
    stored_truncate(st, 0);
    free(st->ents);
    free(st->snap_data);
    memset(st, 0, sizeof *st);
}

/* --- cluster --------------------------------------------------------------- */

static inline struct raft_config base_cfg(void)
{
    struct raft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.election_ticks = 10;
    cfg.heartbeat_ticks = 1;
    cfg.max_entries_per_msg = 64;
    cfg.max_bytes_per_msg = 64 * 1024;
    cfg.max_inflight_msgs = 8;
    return cfg;
}

static inline void node_start(struct cluster *c, int i)
{
    struct node *nd = &c->nodes[i];
    struct raft_config cfg = c->cfg;
    cfg.id = nd->id;
    cfg.seed = test_seed() * 31 + nd->id;
    struct raft_restore rs;
    memset(&rs, 0, sizeof rs);
    rs.hard_state = nd->st.hs;
    rs.snapshot_meta = nd->st.snap;
    rs.snapshot_data = nd->st.snap_data;
    rs.snapshot_len = nd->st.snap_len;
    rs.entries = nd->st.ents;
    rs.n_entries = nd->st.n;
    rs.applied = nd->st.snap.index;
    nd->applied = nd->st.snap.index;
    nd->r = raft_new(&cfg, &rs);
    CHECK(nd->r != NULL);
    nd->up = 1;
    nd->lead_term = 0;
}

/* n nodes with ids 1..n; the first `voters` are the initial voters. Every
 * node, including those that join later, starts from the same initial
 * configuration at index 0 (the raft_restore contract). */
static inline struct cluster *cluster_new_cfg(int n, int voters, const struct raft_config *cfg)
{
    CHECK(n <= MAXN);
    struct cluster *c = calloc(1, sizeof *c);
    c->n = n;
    c->cfg = *cfg;
    c->leader_of = calloc(TERMS_MAX, sizeof *c->leader_of);
    for (int i = 1; i <= n; i++) {
        struct node *nd = &c->nodes[i];
        nd->id = (uint64_t)i;
        for (int v = 1; v <= voters; v++)
            nd->st.snap.conf.voters[nd->st.snap.conf.n_voters++] = (uint64_t)v;
    }
    for (int i = 1; i <= n; i++)
        node_start(c, i);
    return c;
}

static inline struct cluster *cluster_new(int n, int pre_vote, int check_quorum)
{
    struct raft_config cfg = base_cfg();
    cfg.pre_vote = pre_vote;
    cfg.check_quorum = check_quorum;
    return cluster_new_cfg(n, n, &cfg);
}

static inline void node_stop(struct cluster *c, int i)
{
    struct node *nd = &c->nodes[i];
    raft_free(nd->r);
    nd->r = NULL;
    nd->up = 0;
    free(nd->lead_terms);
    nd->lead_terms = NULL;
    nd->n_lead_terms = 0;
}

static inline void cluster_free(struct cluster *c)
{
    for (int i = 1; i <= c->n; i++) {
        if (c->nodes[i].up)
            node_stop(c, i);
        stored_free(&c->nodes[i].st);
    }
    for (size_t k = c->head; k < c->nq; k++)
        msg_free(&c->q[k]);
    free(c->q);
    free(c->leader_of);
    free(c->a_term);
    free(c->a_hash);
    free(c);
}

static inline void net_push(struct cluster *c, const struct raft_msg *m)
{
    if (c->nq == c->capq) {
        if (c->head > 0) {
            memmove(c->q, c->q + c->head, (c->nq - c->head) * sizeof *c->q);
            c->nq -= c->head;
            c->head = 0;
        }
        if (c->nq == c->capq) {
            c->capq = c->capq ? 2 * c->capq : 64;
            c->q = realloc(c->q, c->capq * sizeof *c->q);
        }
    }
    msg_copy(&c->q[c->nq++], m);
    c->sent[m->type]++;
    if (m->type == RAFT_MSG_APP_RESP && m->reject && m->from <= MAXN)
        c->rejects_from[m->from]++;
}

static inline void record_applied(struct cluster *c, const struct raft_entry *e)
{
    if (e->index >= c->a_cap) {
        size_t cap = c->a_cap ? c->a_cap : 256;
        while (cap <= e->index)
            cap *= 2;
        c->a_term = realloc(c->a_term, cap * sizeof *c->a_term);
        c->a_hash = realloc(c->a_hash, cap * sizeof *c->a_hash);
        memset(c->a_term + c->a_cap, 0, (cap - c->a_cap) * sizeof *c->a_term);
        memset(c->a_hash + c->a_cap, 0, (cap - c->a_cap) * sizeof *c->a_hash);
        c->a_cap = cap;
    }
    uint64_t h = ent_hash(e);
    if (c->a_term[e->index] == 0) {
        c->a_term[e->index] = e->term;
        c->a_hash[e->index] = h;
        return;
    }
    CHECKF(c->a_term[e->index] == e->term && c->a_hash[e->index] == h,
           "state machine safety: index %llu applied as term %llu, earlier as term %llu",
           (unsigned long long)e->index, (unsigned long long)e->term,
           (unsigned long long)c->a_term[e->index]);
}

/* Election safety, leader append-only and leader completeness. */
static inline void check_leader(struct cluster *c, struct node *nd)
{
    struct raft_status st;
    raft_get_status(nd->r, &st);
    if (st.role != RAFT_LEADER)
        return;
    CHECK(st.term < TERMS_MAX);
    CHECKF(c->leader_of[st.term] == 0 || c->leader_of[st.term] == nd->id,
           "election safety: term %llu has leaders %llu and %llu", (unsigned long long)st.term,
           (unsigned long long)c->leader_of[st.term], (unsigned long long)nd->id);
    if (c->leader_of[st.term] == 0) {
        c->leader_of[st.term] = nd->id;
        /* Completeness: a new leader holds every entry applied anywhere. */
        for (uint64_t i = st.first_index; i < c->a_cap && c->a_term[i]; i++)
            CHECKF(raft_term_at(nd->r, i) == c->a_term[i],
                   "leader completeness: leader %llu lacks applied index %llu",
                   (unsigned long long)nd->id, (unsigned long long)i);
    }
    if (nd->lead_term == st.term) {
        CHECK(st.last_index >= nd->n_lead_terms);
        for (uint64_t i = st.first_index; i <= nd->n_lead_terms; i++)
            CHECKF(raft_term_at(nd->r, i) == nd->lead_terms[i - 1],
                   "leader append-only: leader %llu changed index %llu", (unsigned long long)nd->id,
                   (unsigned long long)i);
    }
    nd->lead_term = st.term;
    nd->lead_terms = realloc(nd->lead_terms, (st.last_index + 1) * sizeof *nd->lead_terms);
    for (uint64_t i = 1; i <= st.last_index; i++)
        nd->lead_terms[i - 1] = raft_term_at(nd->r, i);
    nd->n_lead_terms = st.last_index;
}

/* Log matching: if two logs hold an entry with the same index and term,
 * they are identical up to it (checked over the indexes both keep). */
static inline void check_log_matching(struct cluster *c)
{
    for (int a = 1; a <= c->n; a++) {
        for (int b = a + 1; b <= c->n; b++) {
            struct node *x = &c->nodes[a], *y = &c->nodes[b];
            if (!x->up || !y->up)
                continue;
            struct raft_status sx, sy;
            raft_get_status(x->r, &sx);
            raft_get_status(y->r, &sy);
            uint64_t lo = CAIRN_MAX(sx.first_index, sy.first_index);
            uint64_t hi = CAIRN_MIN(sx.last_index, sy.last_index);
            int same = 0;
            for (uint64_t i = hi; i >= lo && i > 0; i--) {
                uint64_t tx = raft_term_at(x->r, i), ty = raft_term_at(y->r, i);
                if (same)
                    CHECKF(tx == ty, "log matching: nodes %d %d differ at %llu", a, b,
                           (unsigned long long)i);
                else if (tx == ty)
                    same = 1;
            }
        }
    }
}

static inline void node_ready(struct cluster *c, int i)
{
    struct node *nd = &c->nodes[i];
    struct raft_ready rd;
    raft_ready(nd->r, &rd);
    /* 1-3: persist. */
    if (rd.snapshot) {
        stored_set_snapshot(&nd->st, &rd.snapshot->meta, rd.snapshot->data, rd.snapshot->len, 1);
        nd->applied = rd.snapshot->meta.index;
        nd->installed++;
        nd->inst_len = CAIRN_MIN(rd.snapshot->len, sizeof nd->inst_data);
        memcpy(nd->inst_data, rd.snapshot->data, nd->inst_len);
    }
    stored_append(&nd->st, rd.entries, rd.n_entries);
    if (rd.has_hard_state) {
        CHECK(rd.hard_state.term >= nd->st.hs.term);
        nd->st.hs = rd.hard_state;
    }
    /* 4: send. */
    for (size_t k = 0; k < rd.n_msgs; k++) {
        CHECK_EQ_U64(rd.msgs[k].from, nd->id);
        net_push(c, &rd.msgs[k]);
    }
    /* 5: apply. */
    for (size_t k = 0; k < rd.n_committed; k++) {
        CHECK_EQ_U64(rd.committed[k].index, nd->applied + 1);
        record_applied(c, &rd.committed[k]);
        nd->applied++;
    }
    for (size_t k = 0; k < rd.n_reads && nd->n_reads < CAIRN_ARRAY_LEN(nd->reads); k++)
        nd->reads[nd->n_reads++] = rd.reads[k];
    raft_advance(nd->r, &rd);
    check_leader(c, nd);
}

static inline int deliver_one(struct cluster *c)
{
    if (c->head == c->nq)
        return 0;
    if (c->reorder) {
        size_t k = c->head + prng_below(c->net_rng, c->nq - c->head);
        struct raft_msg t = c->q[k];
        c->q[k] = c->q[c->head];
        c->q[c->head] = t;
    }
    struct raft_msg m = c->q[c->head++];
    struct node *to = m.to >= 1 && m.to <= (uint64_t)c->n ? &c->nodes[m.to] : NULL;
    int ok = to && to->up && !c->cut[m.from][m.to] && (!c->filter || c->filter(&m));
    if (ok && c->drop_pct && prng_below(c->net_rng, 100) < c->drop_pct)
        ok = 0;
    if (ok && c->dup_pct && prng_below(c->net_rng, 100) < c->dup_pct)
        net_push(c, &m);
    if (ok && getenv("RAFT_TRACE"))
        fprintf(stderr, "%llu->%llu %s t%llu i%llu lt%llu c%llu rej%d hint%llu ctx%llu n%u\n",
                (unsigned long long)m.from, (unsigned long long)m.to, raft_msg_type_name(m.type),
                (unsigned long long)m.term, (unsigned long long)m.index,
                (unsigned long long)m.log_term, (unsigned long long)m.commit, m.reject,
                (unsigned long long)m.reject_hint, (unsigned long long)m.context, m.n_entries);
    if (ok && raft_step(to->r, &m) == CAIRN_BADMSG)
        c->badmsg++;
    msg_free(&m);
    return 1;
}

/* Process readies and deliver messages until the cluster is quiet. */
static inline void run(struct cluster *c)
{
    for (int iter = 0;; iter++) {
        CHECKF(iter < 1000000, "cluster does not quiesce");
        int busy = 0;
        for (int i = 1; i <= c->n; i++) {
            while (c->nodes[i].up && raft_has_ready(c->nodes[i].r)) {
                node_ready(c, i);
                busy = 1;
            }
        }
        if (busy)
            check_log_matching(c);
        if (deliver_one(c))
            busy = 1;
        if (!busy)
            return;
    }
}

static inline void tick_all(struct cluster *c, int ticks)
{
    for (int t = 0; t < ticks; t++) {
        for (int i = 1; i <= c->n; i++)
            if (c->nodes[i].up)
                raft_tick(c->nodes[i].r);
        run(c);
    }
}

static inline struct raft_status status(struct cluster *c, int i)
{
    struct raft_status st;
    raft_get_status(c->nodes[i].r, &st);
    return st;
}

static inline int leader_id(struct cluster *c)
{
    int found = 0;
    for (int i = 1; i <= c->n; i++) {
        if (!c->nodes[i].up || status(c, i).role != RAFT_LEADER)
            continue;
        /* Several may believe it in different terms; take the newest. */
        if (!found || status(c, i).term > status(c, found).term)
            found = i;
    }
    return found;
}

static inline void isolate(struct cluster *c, int i, int on)
{
    for (int j = 1; j <= c->n; j++) {
        c->cut[i][j] = (uint8_t)on;
        c->cut[j][i] = (uint8_t)on;
    }
}

static inline void elect(struct cluster *c, int i)
{
    raft_campaign(c->nodes[i].r);
    run(c);
    CHECK_EQ(status(c, i).role, RAFT_LEADER);
}

static inline uint64_t propose(struct cluster *c, int i, const char *s)
{
    uint64_t idx = 0;
    CHECK_OK(raft_propose(c->nodes[i].r, s, strlen(s), &idx));
    return idx;
}

/* A node restored from given logs (terms of entries 1..n), for crafted
 * divergent histories. */
static inline void node_set_log(struct cluster *c, int i, const uint64_t *terms, size_t n,
                                uint64_t term, uint64_t commit)
{
    struct node *nd = &c->nodes[i];
    node_stop(c, i);
    stored_truncate(&nd->st, 0);
    struct raft_entry *e = calloc(n ? n : 1, sizeof *e);
    char buf[32];
    for (size_t k = 0; k < n; k++) {
        e[k].index = k + 1;
        e[k].term = terms[k];
        e[k].len =
            (uint32_t)snprintf(buf, sizeof buf, "e%zu-t%llu", k + 1, (unsigned long long)terms[k]);
        e[k].data = (uint8_t *)buf;
        stored_append(&nd->st, &e[k], 1);
    }
    free(e);
    nd->st.hs = (struct raft_hard_state){.term = term, .vote = 0, .commit = commit};
    node_start(c, i);
}

static inline void check_logs_equal(struct cluster *c)
{
    int l = leader_id(c);
    CHECK(l != 0);
    struct raft_status sl = status(c, l);
    for (int i = 1; i <= c->n; i++) {
        if (!c->nodes[i].up)
            continue;
        struct raft_status si = status(c, i);
        CHECK_EQ_U64(si.last_index, sl.last_index);
        CHECK_EQ_U64(si.commit, sl.commit);
        for (uint64_t k = CAIRN_MAX(si.first_index, sl.first_index); k <= sl.last_index; k++)
            CHECK_EQ_U64(raft_term_at(c->nodes[i].r, k), raft_term_at(c->nodes[l].r, k));
    }
}

static inline void node_snapshot(struct cluster *c, int i, const char *data)
{
    struct node *nd = &c->nodes[i];
    CHECK_OK(raft_snapshot_taken(nd->r, nd->applied, data, strlen(data)));
    struct raft_status st = status(c, i);
    CHECK_EQ_U64(st.snapshot_index, nd->applied);
    /* The shell stores the snapshot and drops the log it covers. */
    struct raft_snapshot_meta meta;
    raft_get_snapshot_meta(nd->r, &meta);
    CHECK_EQ_U64(meta.index, nd->applied);
    CHECK_EQ_U64(meta.term, raft_term_at(nd->r, nd->applied));
    stored_set_snapshot(&nd->st, &meta, data, strlen(data), 0);
}

/* --- single steps --------------------------------------------------------- */

static inline struct raft_msg vote_msg(uint64_t from, uint64_t to, uint64_t term, uint64_t idx,
                                       uint64_t log_term)
{
    struct raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_VOTE;
    m.from = from;
    m.to = to;
    m.term = term;
    m.index = idx;
    m.log_term = log_term;
    return m;
}

/* Step one message into node i and return the reply it sends (type, reject). */
static inline int step_reply(struct cluster *c, int i, const struct raft_msg *m, uint8_t *reject,
                             struct raft_ready *out_rd)
{
    CHECK_OK(raft_step(c->nodes[i].r, m));
    if (!raft_has_ready(c->nodes[i].r))
        return 0;
    struct raft_ready rd;
    raft_ready(c->nodes[i].r, &rd);
    int type = 0;
    for (size_t k = 0; k < rd.n_msgs; k++) {
        if (rd.msgs[k].to == m->from) {
            type = rd.msgs[k].type;
            *reject = rd.msgs[k].reject;
        }
    }
    if (rd.has_hard_state)
        c->nodes[i].st.hs = rd.hard_state;
    if (out_rd)
        *out_rd = rd;
    raft_advance(c->nodes[i].r, &rd);
    return type;
}

/* Drops every append (a filter): what was proposed cannot commit. */
static inline int drop_app(struct raft_msg *m) { return m->type != RAFT_MSG_APP; }

#endif /* CAIRN_TEST_RAFT_UTIL_H */
