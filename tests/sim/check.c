/*
 * check.c: the invariant checkers. Each is incremental, run where the state
 * it watches changes (so after every step, at the cost of that step):
 *
 *   election safety       at most one leader per term, ever: every leader
 *                         seen is recorded by term (chk_leader).
 *   log matching          every entry made durable is registered by (index,
 *                         term) with its bytes and the term before it: another
 *                         log holding the same (index, term) must agree on
 *                         both, which by induction means the same prefix
 *                         (chk_durable_entry).
 *   leader completeness   a node that becomes leader of term U holds every
 *                         entry committed in a term below U, with its term
 *                         (chk_leader_complete).
 *   state machine safety  the record of committed entries (term from commit
 *                         indexes, bytes and a chain digest of the whole
 *                         applied history from applies and snapshots) must
 *                         agree with every node's commits, applies and
 *                         installed snapshots (chk_commit, chk_apply,
 *                         chk_snapshot).
 *   no committed entry lost  once a node's durable log holds entries 1..hold
 *                         that are committed and that it knows committed,
 *                         every later write, truncation, snapshot or crash
 *                         must leave them there (chk_hold).
 *   state digest          (meta mode) the state machine's digest after an
 *                         index is the same on every node that applied it,
 *                         loaded it from a snapshot or ends there (chk_state).
 *   linearizability       at the end, the client history against
 *                         lin_model_kv, or sim_model_ns in meta mode
 *                         (chk_history).
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "sim.h"

typedef unsigned long long ull;

void chk_init(struct sim_world *w) { hmap_init(&w->chk.lm_map); }

void chk_free(struct sim_world *w)
{
    hmap_free(&w->chk.lm_map);
    free(w->chk.leader_of);
    free(w->chk.rec);
    free(w->chk.lm);
    memset(&w->chk, 0, sizeof w->chk);
}

struct sim_rec *chk_rec(struct sim_world *w, uint64_t index)
{
    struct sim_check *c = &w->chk;
    c->rec = sim_xgrow(c->rec, &c->n_rec, (size_t)index + 1, sizeof *c->rec);
    return &c->rec[index];
}

static void raise_commit(struct sim_world *w, uint64_t index)
{
    if (index > w->chk.max_commit) {
        chk_rec(w, index);
        w->chk.max_commit = index;
        w->st.committed = index;
    }
}

void chk_leader(struct sim_world *w, uint64_t term, uint64_t id)
{
    struct sim_check *c = &w->chk;
    c->leader_of = sim_xgrow(c->leader_of, &c->n_leader_of, (size_t)term + 1, sizeof(uint64_t));
    if (c->leader_of[term] == 0)
        c->leader_of[term] = id;
    else if (c->leader_of[term] != id)
        sim_fail(w, "election safety", "two leaders in term %llu: node %llu and node %llu",
                 (ull)term, (ull)c->leader_of[term], (ull)id);
}

/* A new leader of term U must hold every entry committed in a term below U
 * (Raft's leader completeness, §5.4.3). An entry committed in U or later may
 * be missing: votes granted in U can reach the candidate after a later leader
 * committed. Entries it compacted into its snapshot are covered by the
 * snapshot checks. */
void chk_leader_complete(struct sim_world *w, struct sim_node *n)
{
    struct raft_status st;
    raft_get_status(n->r, &st);
    int voter = 0;
    if (!sim_conf_has(&st.conf, n->id, &voter) || !voter) {
        sim_fail(w, "election safety",
                 "node %llu leads term %llu but is not a voter of its configuration (%u voters)",
                 (ull)n->id, (ull)st.term, st.conf.n_voters);
        return;
    }
    for (uint64_t i = CAIRN_MAX(st.snapshot_index, 1); i <= w->chk.max_commit; i++) {
        const struct sim_rec *rec = &w->chk.rec[i];
        if (rec->term == 0 || rec->commit_term == 0 || rec->commit_term >= st.term)
            continue;
        uint64_t t = raft_term_at(n->r, i);
        if (t == 0 && i == st.snapshot_index)
            continue;
        if (t != rec->term) {
            sim_fail(w, "leader completeness",
                     "node %llu leads term %llu but holds %s at index %llu, where term %llu was "
                     "committed by term %llu",
                     (ull)n->id, (ull)st.term, t ? "another term" : "nothing", (ull)i,
                     (ull)rec->term, (ull)rec->commit_term);
            return;
        }
    }
}

static void rec_commit_term(struct sim_rec *rec, uint64_t term)
{
    if (term && (rec->commit_term == 0 || term < rec->commit_term))
        rec->commit_term = term;
}

/* A node's commit index advanced: the entries up to it are committed, with
 * the terms its log has for them. Only as far as this node's disk holds
 * them, though: a commit nobody could have learned of yet is no commit. (A
 * lone voter counts its own entry before its batch is synced; if it crashes
 * first, the entry is gone, but it was never applied nor announced, since
 * both wait for the sync.) The rest is looked at again after the sync. */
void chk_commit(struct sim_world *w, struct sim_node *n)
{
    uint64_t to = CAIRN_MIN(n->commit, disk_last(&n->disk));
    for (uint64_t i = n->commit_checked + 1; i <= to; i++) {
        uint64_t t = raft_term_at(n->r, i);
        if (t == 0)
            continue; /* compacted: the snapshot checks cover it */
        if (disk_term_at(&n->disk, i) != t) {
            to = i - 1; /* the durable copy is still on its way */
            break;
        }
        struct sim_rec *rec = chk_rec(w, i);
        rec_commit_term(rec, n->term);
        if (rec->term == 0) {
            rec->term = t;
        } else if (rec->term != t) {
            sim_fail(w, "state machine safety",
                     "node %llu commits index %llu with term %llu, but term %llu was committed "
                     "there",
                     (ull)n->id, (ull)i, (ull)t, (ull)rec->term);
            return;
        }
    }
    if (to > n->commit_checked)
        n->commit_checked = to;
    raise_commit(w, n->commit_checked);
}

void chk_apply(struct sim_world *w, struct sim_node *n, uint64_t index, uint64_t term,
               uint64_t hash, uint64_t digest)
{
    struct sim_rec *rec = chk_rec(w, index);
    if ((rec->term && rec->term != term) || (rec->hash && rec->hash != hash)) {
        sim_fail(w, "state machine safety",
                 "node %llu applies index %llu (term %llu, hash %016llx), but the committed "
                 "entry there is term %llu, hash %016llx",
                 (ull)n->id, (ull)index, (ull)term, (ull)hash, (ull)rec->term, (ull)rec->hash);
        return;
    }
    if (rec->digest && rec->digest != digest) {
        sim_fail(w, "state machine safety",
                 "node %llu applied a different history up to index %llu than another node "
                 "(digest %016llx vs %016llx)",
                 (ull)n->id, (ull)index, (ull)digest, (ull)rec->digest);
        return;
    }
    rec->term = term;
    rec->hash = hash;
    rec->digest = digest;
    rec->applied = 1;
    rec_commit_term(rec, n->term);
    raise_commit(w, index);
}

void chk_snapshot(struct sim_world *w, struct sim_node *n, uint64_t index, uint64_t term,
                  uint64_t digest)
{
    struct sim_rec *rec = chk_rec(w, index);
    if ((rec->term && rec->term != term) || (rec->digest && rec->digest != digest)) {
        sim_fail(w, "state machine safety",
                 "node %llu installs a snapshot at index %llu (term %llu, digest %016llx) that "
                 "differs from the state applied there (term %llu, digest %016llx)",
                 (ull)n->id, (ull)index, (ull)term, (ull)digest, (ull)rec->term, (ull)rec->digest);
        return;
    }
    rec->term = term;
    rec->digest = digest;
    rec_commit_term(rec, n->term);
    raise_commit(w, index);
}

/* Log matching, by induction over the entries made durable anywhere. */
void chk_durable_entry(struct sim_world *w, struct sim_node *n, const struct sim_entry *e,
                       uint64_t prev_term)
{
    struct sim_check *c = &w->chk;
    CAIRN_ASSERTF(e->term < (1u << 24) && e->index < ((uint64_t)1 << 40),
                  "sim: term %llu or index %llu beyond the registry's key", (ull)e->term,
                  (ull)e->index);
    uint64_t key = e->index << 24 | e->term;
    uintptr_t pos = (uintptr_t)hmap_get(&c->lm_map, key);
    if (pos == 0) {
        c->lm = sim_xgrow(c->lm, &c->cap_lm, c->n_lm + 1, sizeof *c->lm);
        c->lm[c->n_lm++] = (struct sim_lm){e->index, e->term, e->hash, prev_term, n->id};
        CAIRN_ASSERT(hmap_put(&c->lm_map, key, (void *)(uintptr_t)c->n_lm) == 0);
        return;
    }
    const struct sim_lm *lm = &c->lm[pos - 1];
    if (lm->hash != e->hash)
        sim_fail(w, "log matching",
                 "index %llu term %llu: node %llu stored other bytes than node %llu did",
                 (ull)e->index, (ull)e->term, (ull)n->id, (ull)lm->node);
    else if (lm->prev_term != prev_term)
        sim_fail(w, "log matching",
                 "index %llu term %llu: node %llu has term %llu before it, node %llu had %llu "
                 "(same entry, different prefix)",
                 (ull)e->index, (ull)e->term, (ull)n->id, (ull)prev_term, (ull)lm->node,
                 (ull)lm->prev_term);
}

/* Committed entries a node knows are committed (up to its commit index) and
 * holds durably must stay: check the range from `from` to the node's hold
 * mark after a change, then advance the mark. (A committed entry the node
 * does not know about may be overwritten by a stale leader: Raft keeps it on
 * a majority, and leader completeness checks every later leader has it.) */
void chk_hold(struct sim_world *w, struct sim_node *n, uint64_t from)
{
    struct sim_disk *d = &n->disk;
    uint64_t last = disk_last(d);
    chk_rec(w, CAIRN_MAX(n->hold, w->chk.max_commit));
    for (uint64_t i = CAIRN_MAX(from, d->snap.index + 1); i <= n->hold && !w->failed; i++) {
        const struct sim_rec *rec = &w->chk.rec[i];
        const struct sim_entry *e = disk_at(d, i);
        if (!e) {
            sim_fail(w, "committed entry lost",
                     "node %llu's durable log ends at %llu, but it held committed entry %llu "
                     "(term %llu)",
                     (ull)n->id, (ull)last, (ull)i, (ull)rec->term);
        } else if ((rec->term && e->term != rec->term) || (rec->hash && e->hash != rec->hash)) {
            sim_fail(w, "committed entry lost",
                     "node %llu's durable entry %llu is now term %llu; it held the committed "
                     "one (term %llu)",
                     (ull)n->id, (ull)i, (ull)e->term, (ull)rec->term);
        }
    }
    if (n->hold < d->snap.index)
        n->hold = d->snap.index;
    uint64_t known = n->state == SIM_NODE_UP ? n->commit : d->hs.commit;
    while (n->hold < CAIRN_MIN(w->chk.max_commit, known) && n->hold < last) {
        const struct sim_rec *rec = &w->chk.rec[n->hold + 1];
        const struct sim_entry *e = disk_at(d, n->hold + 1);
        if (!rec->term || e->term != rec->term || (rec->hash && e->hash != rec->hash))
            break;
        n->hold++;
    }
}

/* Self-test corruption: a GET answers a value written only after it
 * returned (or never written): no linearization can explain that. */
static void corrupt_history(struct sim_world *w)
{
    w->corrupted = 1;
    for (size_t i = 0; i < w->n_hist; i++) {
        struct lin_op *g = &w->hist[i];
        if (g->kind != LIN_KV_GET || g->ret_time == LIN_TIME_INF)
            continue;
        for (size_t j = 0; j < w->n_hist; j++) {
            const struct lin_op *p = &w->hist[j];
            if (p->kind == LIN_KV_PUT && p->key == g->key && p->call_time > g->ret_time) {
                g->out[0] = p->arg[0];
                return;
            }
        }
    }
    struct lin_op bad = {.client = 99, .call_time = ++w->step, .kind = LIN_KV_GET, .key = 1};
    bad.ret_time = ++w->step;
    bad.out[0] = 0xdeadbeefu; /* never written */
    hist_add(w, &bad);
}

void chk_state(struct sim_world *w, struct sim_node *n, uint64_t index, uint64_t digest,
               const char *what)
{
    struct sim_rec *rec = chk_rec(w, index);
    w->st.state_checks++;
    if (rec->state == 0)
        rec->state = digest;
    else if (rec->state != digest)
        sim_fail(w, "state digest",
                 "node %llu %s at index %llu with state digest %016llx; another node had "
                 "%016llx there",
                 (ull)n->id, what, (ull)index, (ull)digest, (ull)rec->state);
}

/* Self-test corruption (meta mode): a LOOKUP answers a file with a tag no
 * inode ever had (a replica serving an invented namespace). */
static void corrupt_ns_history(struct sim_world *w)
{
    for (size_t i = 0; i < w->n_hist; i++) {
        struct lin_op *g = &w->hist[i];
        if (g->kind != SIM_NS_LOOKUP || g->ret_time == LIN_TIME_INF)
            continue;
        w->corrupted = 1;
        g->out[0] = 0;
        g->out[1] = SIM_NS_FILE | SIM_NS_TAG_NEVER;
        return;
    }
}

void chk_history(struct sim_world *w)
{
    if (w->o.corrupt == SIM_CORRUPT_FUTURE_READ)
        corrupt_history(w);
    if (w->o.corrupt == SIM_CORRUPT_NS_HISTORY)
        corrupt_ns_history(w);
    const struct lin_model *model = w->o.sm == SIM_SM_META ? &sim_model_ns : &lin_model_kv;
    struct lin_result res;
    memset(&res, 0, sizeof res);
    w->st.hist_ops += w->n_hist;
    enum lin_verdict v = lin_check(model, w->hist, w->n_hist, SIM_LIN_BUDGET, &res);
    if (v == LIN_VIOLATION)
        sim_fail(w, "linearizability", "history of %zu ops, key %llu: %s", w->n_hist,
                 (ull)res.bad_key, res.report);
    else if (v == LIN_GAVE_UP)
        sim_fail(w, "linearizability",
                 "the checker gave up after %zu steps on key %llu (history of %zu ops)",
                 res.explored, (ull)res.bad_key, w->n_hist);
}
