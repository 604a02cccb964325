/*
 * disk.c: the simulated disk of a node: what survives a crash (hard state,
 * snapshot, log) and the write of a ready batch that is not synced yet.
 *
 * A ready batch is written when it is taken (sim_pending) and becomes
 * durable only at its sync, a later step; a crash in between loses it, or
 * with torn writes keeps a prefix of its entries (a write-ahead log cut at a
 * record boundary), never the hard state behind them. Every change to the
 * durable log goes through here so that the log-matching and "committed
 * entries stay" checkers see each one.
 */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "sim.h"

uint64_t disk_last(const struct sim_disk *d) { return d->snap.index + d->n_log; }

struct sim_entry *disk_at(struct sim_disk *d, uint64_t index)
{
    if (index <= d->snap.index || index > disk_last(d))
        return NULL;
    return &d->log[index - d->snap.index - 1];
}

uint64_t disk_term_at(struct sim_disk *d, uint64_t index)
{
    if (index == d->snap.index)
        return d->snap.term;
    struct sim_entry *e = disk_at(d, index);
    return e ? e->term : 0;
}

static void entries_free(struct sim_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].data);
}

void disk_free(struct sim_disk *d)
{
    entries_free(d->log, d->n_log);
    free(d->log);
    free(d->snap.data);
    memset(d, 0, sizeof *d);
}

/* Keep the first `keep` entries of the durable log. */
void disk_truncate(struct sim_disk *d, size_t keep)
{
    CAIRN_ASSERT(keep <= d->n_log);
    entries_free(d->log + keep, d->n_log - keep);
    d->n_log = keep;
}

/* Drop log entries up to and including index (they are in the snapshot). */
static void disk_compact(struct sim_disk *d, uint64_t index)
{
    if (index <= d->snap.index)
        return;
    size_t drop = (size_t)CAIRN_MIN(index - d->snap.index, (uint64_t)d->n_log);
    entries_free(d->log, drop);
    memmove(d->log, d->log + drop, (d->n_log - drop) * sizeof *d->log);
    d->n_log -= drop;
}

/* Make entries durable: stored entries from ents[0].index on are replaced
 * (they conflict), as raft.h asks. Takes ownership of the entries' data. */
void disk_write_entries(struct sim_world *w, struct sim_node *n, struct sim_entry *ents, size_t k)
{
    struct sim_disk *d = &n->disk;
    uint64_t first = ents[0].index;
    int bad = first <= d->snap.index || first > disk_last(d) + 1;
    for (size_t i = 0; i < k; i++)
        bad |= ents[i].index != first + i;
    if (bad) {
        sim_fail(w, "core contract",
                 "node %llu: ready entries %llu..%llu do not follow its stored log "
                 "(snapshot %llu, last %llu)",
                 (unsigned long long)n->id, (unsigned long long)first,
                 (unsigned long long)ents[k - 1].index, (unsigned long long)d->snap.index,
                 (unsigned long long)disk_last(d));
        entries_free(ents, k);
        return;
    }
    disk_truncate(d, (size_t)(first - d->snap.index - 1));
    d->log = sim_xgrow(d->log, &d->cap_log, d->n_log + k, sizeof *d->log);
    for (size_t i = 0; i < k; i++) {
        uint64_t prev_term = disk_term_at(d, ents[i].index - 1);
        d->log[d->n_log++] = ents[i];
        chk_durable_entry(w, n, &ents[i], prev_term);
    }
    chk_hold(w, n, first);
}

/* Install a snapshot received from the leader. The log after it is kept only
 * if it continues the snapshot (same term at its index); otherwise it is
 * stale and goes. Takes ownership of s->data. */
void disk_install_snapshot(struct sim_world *w, struct sim_node *n, struct sim_snap *s)
{
    struct sim_disk *d = &n->disk;
    if (s->index <= d->snap.index) {
        sim_fail(w, "core contract", "node %llu: ready snapshot at %llu but %llu is installed",
                 (unsigned long long)n->id, (unsigned long long)s->index,
                 (unsigned long long)d->snap.index);
        free(s->data);
        s->data = NULL;
        return;
    }
    if (disk_term_at(d, s->index) == s->term)
        disk_compact(d, s->index);
    else
        disk_truncate(d, 0);
    free(d->snap.data);
    d->snap = *s;
    s->data = NULL;
    chk_hold(w, n, d->snap.index + 1);
}

/* Same members in each list, in any order. */
static int conf_same(const struct raft_conf *a, const struct raft_conf *b)
{
    if (a->n_voters != b->n_voters || a->n_learners != b->n_learners)
        return 0;
    for (uint32_t i = 0; i < a->n_voters; i++) {
        int voter;
        if (!sim_conf_has(b, a->voters[i], &voter) || !voter)
            return 0;
    }
    for (uint32_t i = 0; i < a->n_learners; i++) {
        int voter;
        if (!sim_conf_has(b, a->learners[i], &voter) || voter)
            return 0;
    }
    return 1;
}

/* The application wrote a snapshot of its state at index (durable at once:
 * written to a new file, synced, renamed) and the log up to it goes. */
void disk_app_snapshot(struct sim_world *w, struct sim_node *n, uint64_t index, uint8_t *data,
                       size_t len)
{
    struct sim_disk *d = &n->disk;
    uint64_t term = disk_term_at(d, index);
    if (index <= d->snap.index || term == 0) {
        sim_fail(w, "core contract",
                 "node %llu: applied index %llu is not in its durable log (snapshot %llu, "
                 "last %llu)",
                 (unsigned long long)n->id, (unsigned long long)index,
                 (unsigned long long)d->snap.index, (unsigned long long)disk_last(d));
        free(data);
        return;
    }
    /* The meta to persist comes from the core; the membership in it must be
     * the one the state machine replayed up to index. */
    struct raft_snapshot_meta meta;
    raft_get_snapshot_meta(n->r, &meta);
    if (meta.index != index || meta.term != term || !conf_same(&meta.conf, &n->sm.conf)) {
        sim_fail(w, "core contract",
                 "node %llu: snapshot meta after raft_snapshot_taken(%llu) is index %llu term "
                 "%llu (log term %llu), %u voters %u learners (state machine: %u, %u)",
                 (unsigned long long)n->id, (unsigned long long)index,
                 (unsigned long long)meta.index, (unsigned long long)meta.term,
                 (unsigned long long)term, meta.conf.n_voters, meta.conf.n_learners,
                 n->sm.conf.n_voters, n->sm.conf.n_learners);
        free(data);
        return;
    }
    disk_compact(d, index);
    free(d->snap.data);
    d->snap = (struct sim_snap){
        .index = index, .term = term, .conf = meta.conf, .data = data, .len = len};
    chk_hold(w, n, index + 1);
}

void pending_discard(struct sim_pending *p)
{
    entries_free(p->ents, p->n_ents);
    free(p->ents);
    free(p->snap.data);
    memset(p, 0, sizeof *p);
}

/* Write a ready batch: copy what it asks to persist (the page cache). */
void pending_write(struct sim_pending *p, const struct raft_ready *rd)
{
    p->rd = *rd;
    p->active = 1;
    if (rd->snapshot) {
        const struct raft_snapshot *s = rd->snapshot;
        p->has_snap = 1;
        p->snap = (struct sim_snap){.index = s->meta.index,
                                    .term = s->meta.term,
                                    .conf = s->meta.conf,
                                    .data = sim_xmemdup(s->data, s->len),
                                    .len = s->len};
    }
    if (rd->n_entries > 0) {
        p->ents = sim_xcalloc(rd->n_entries, sizeof *p->ents);
        p->n_ents = rd->n_entries;
        for (size_t i = 0; i < rd->n_entries; i++) {
            const struct raft_entry *e = &rd->entries[i];
            p->ents[i] =
                (struct sim_entry){.term = e->term,
                                   .index = e->index,
                                   .type = e->type,
                                   .len = e->len,
                                   .data = sim_xmemdup(e->data, e->len),
                                   .hash = kv_entry_hash(e->term, e->type, e->data, e->len)};
        }
    }
    p->has_hs = rd->has_hard_state;
    p->hs = rd->hard_state;
}

/* Sync: the written batch becomes durable (entries, then hard state, as a
 * log writes them). */
void pending_sync(struct sim_world *w, struct sim_node *n)
{
    struct sim_pending *p = &n->pend;
    if (p->has_snap) {
        disk_install_snapshot(w, n, &p->snap);
        p->has_snap = 0;
    }
    if (p->n_ents > 0 && !w->failed) {
        disk_write_entries(w, n, p->ents, p->n_ents);
        p->n_ents = 0;
    }
    if (p->has_hs && !w->failed)
        n->disk.hs = p->hs;
}

/* A crash with a batch written but not synced: with torn writes, a prefix
 * of it reached the disk, in the order a log writes it: the snapshot (raftio
 * makes it durable before it resets the log), then entries, never the hard
 * state, written last. Returns how many pieces (snapshot, entries) survived. */
size_t pending_crash(struct sim_world *w, struct sim_node *n)
{
    struct sim_pending *p = &n->pend;
    size_t kept = 0;
    if (!p->active || !w->p.torn_writes || (!p->has_snap && p->n_ents == 0) ||
        !prng_chance(&w->rng, 1, 2)) {
        pending_discard(p);
        return 0;
    }
    if (p->has_snap) {
        disk_install_snapshot(w, n, &p->snap);
        p->has_snap = 0;
        kept = 1;
    }
    size_t k = p->n_ents ? (size_t)prng_range(&w->rng, kept ? 0 : 1, p->n_ents) : 0;
    if (k > 0 && !w->failed) {
        entries_free(p->ents + k, p->n_ents - k);
        disk_write_entries(w, n, p->ents, k);
        p->n_ents = 0;
    }
    pending_discard(p);
    return kept + k;
}
