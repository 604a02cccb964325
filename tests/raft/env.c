/*
 * env.c: the nodes of a golden-script environment: their disks, their
 * key-value state machines, the handling of ready batches in the order the
 * raft.h contract prescribes, crash/restart, compaction, and the safety
 * checks described in golden.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "golden.h"

typedef unsigned long long ull;

/* --- allocation and deep copies ---------------------------------------- */

void *gx_alloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    CAIRN_ASSERT(p != NULL);
    return p;
}

/* Grow an array so it holds at least need elements of size elem. */
void *gx_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 8;
    while (c < need)
        c *= 2;
    p = realloc(p, c * elem);
    CAIRN_ASSERT(p != NULL);
    *cap = c;
    return p;
}

char *gx_strndup(const char *s, size_t n)
{
    char *p = gx_alloc(n + 1);
    memcpy(p, s, n);
    return p;
}

void gx_entry_copy(struct raft_entry *dst, const struct raft_entry *src)
{
    *dst = *src;
    dst->data = NULL;
    if (src->len) {
        dst->data = gx_alloc(src->len);
        memcpy(dst->data, src->data, src->len);
    }
}

void gx_msg_copy(struct raft_msg *dst, const struct raft_msg *src)
{
    *dst = *src;
    dst->entries = NULL;
    dst->snapshot = NULL;
    if (src->n_entries && src->entries) {
        dst->entries = gx_alloc(src->n_entries * sizeof(struct raft_entry));
        for (uint32_t i = 0; i < src->n_entries; i++)
            gx_entry_copy(&dst->entries[i], &src->entries[i]);
    } else {
        dst->n_entries = 0;
    }
    if (src->snapshot) {
        dst->snapshot = gx_alloc(sizeof *dst->snapshot);
        dst->snapshot->meta = src->snapshot->meta;
        dst->snapshot->len = src->snapshot->len;
        dst->snapshot->data = gx_alloc(src->snapshot->len);
        if (src->snapshot->len)
            memcpy(dst->snapshot->data, src->snapshot->data, src->snapshot->len);
    }
}

void gx_msg_free(struct raft_msg *m)
{
    for (uint32_t i = 0; i < m->n_entries; i++)
        free(m->entries[i].data);
    free(m->entries);
    if (m->snapshot)
        free(m->snapshot->data);
    free(m->snapshot);
    m->entries = NULL;
    m->snapshot = NULL;
    m->n_entries = 0;
}

/* --- output ---------------------------------------------------------------- */

void gout(struct genv *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    CAIRN_ASSERT(n >= 0);
    CAIRN_ASSERT(buf_reserve(e->out, (size_t)n + 1) == 0);
    va_start(ap, fmt);
    vsnprintf((char *)e->out->data + e->out->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    e->out->len += (size_t)n;
}

void gviolation(struct genv *e, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    gout(e, "VIOLATION %s\n", line);
    e->violations++;
}

/* --- environment --------------------------------------------------------- */

struct genv *genv_new(void)
{
    struct genv *e = gx_alloc(sizeof *e);
    hmap_init(&e->leaders);
    hmap_init(&e->history);
    hmap_init(&e->confs);
    return e;
}

static void kv_clear(struct gnode *n)
{
    for (size_t i = 0; i < n->n_kv; i++) {
        free(n->kv[i].key);
        free(n->kv[i].val);
    }
    n->n_kv = 0;
}

static void disk_drop_entries_from(struct gdisk *d, size_t pos)
{
    for (size_t i = pos; i < d->n_ents; i++)
        free(d->ents[i].data);
    d->n_ents = CAIRN_MIN(d->n_ents, pos);
}

void genv_free(struct genv *e)
{
    for (uint64_t id = 1; id <= GOLDEN_NODES_MAX; id++) {
        struct gnode *n = &e->nodes[id];
        if (n->r)
            raft_free(n->r);
        disk_drop_entries_from(&n->disk, 0);
        free(n->disk.ents);
        free(n->disk.snap_data);
        kv_clear(n);
        free(n->kv);
    }
    gnet_free(e);
    size_t it = 0;
    uint64_t k;
    void *v;
    while (hmap_next(&e->history, &it, &k, &v)) {
        struct raft_entry *ent = v;
        free(ent->data);
        free(ent);
    }
    hmap_free(&e->history);
    it = 0;
    while (hmap_next(&e->confs, &it, &k, &v))
        free(v);
    hmap_free(&e->confs);
    hmap_free(&e->leaders);
    free(e);
}

/* --- the key-value state machine ------------------------------------------ */

static void kv_put(struct gnode *n, uint64_t index, const char *k, size_t kl, const char *v,
                   size_t vl)
{
    n->kv = gx_grow(n->kv, &n->cap_kv, n->n_kv + 1, sizeof n->kv[0]);
    n->kv[n->n_kv++] = (struct gkv_write){index, gx_strndup(k, kl), gx_strndup(v, vl)};
}

/* A normal entry "k=v" sets k; other data (the leader's empty no-op, words
 * without '=') leave the map unchanged. */
static void kv_apply(struct gnode *n, const struct raft_entry *ent)
{
    if (ent->type != RAFT_ENTRY_NORMAL || ent->len == 0)
        return;
    const char *p = (const char *)ent->data;
    const char *eq = memchr(p, '=', ent->len);
    if (eq && eq != p)
        kv_put(n, ent->index, p, (size_t)(eq - p), eq + 1, ent->len - (size_t)(eq - p) - 1);
}

static int cmp_write_key(const void *a, const void *b)
{
    const struct gkv_write *x = a, *y = b;
    return strcmp(x->key, y->key);
}

/* The map as of index (the last write to each key at or before it), encoded
 * as "k=v\n" lines sorted by key: the snapshot data of compact. */
static void kv_encode_at(const struct gnode *n, uint64_t index, struct cairn_buf *b)
{
    struct gkv_write *cur = gx_alloc((n->n_kv + 1) * sizeof *cur);
    size_t nc = 0;
    for (size_t i = 0; i < n->n_kv; i++) {
        if (n->kv[i].index > index)
            continue;
        size_t j = 0;
        while (j < nc && strcmp(cur[j].key, n->kv[i].key) != 0)
            j++;
        cur[j] = n->kv[i];
        nc += j == nc;
    }
    qsort(cur, nc, sizeof cur[0], cmp_write_key);
    for (size_t i = 0; i < nc; i++)
        bprintf(b, "%s=%s\n", cur[i].key, cur[i].val);
    free(cur);
}

/* Replace the map by a snapshot's content ("k=v\n" lines). */
static void kv_load(struct gnode *n, const uint8_t *data, size_t len, uint64_t index)
{
    kv_clear(n);
    const char *p = (const char *)data, *end = p + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *eq = memchr(p, '=', (size_t)(le - p));
        if (eq)
            kv_put(n, index, p, (size_t)(eq - p), eq + 1, (size_t)(le - eq - 1));
        p = nl ? nl + 1 : end;
    }
    n->applied = index;
}

void genv_print_kv(struct genv *e, struct gnode *n)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    kv_encode_at(n, UINT64_MAX, &b);
    gout(e, "%llu: applied=%llu kv={", (ull)n->id, (ull)n->applied);
    for (size_t i = 0; i < b.len; i++) {
        char c = (char)b.data[i];
        int last = i + 1 == b.len;
        if (c == '\n')
            gout(e, "%s", last ? "" : ", ");
        else
            gout(e, "%c", c);
    }
    gout(e, "}\n");
    buf_free(&b);
}

/* --- the disk ------------------------------------------------------------ */

static uint64_t disk_last(const struct gdisk *d) { return d->snap.index + d->n_ents; }

static const struct raft_entry *disk_entry(const struct gdisk *d, uint64_t index)
{
    if (index <= d->snap.index || index > disk_last(d))
        return NULL;
    return &d->ents[index - d->snap.index - 1];
}

static uint64_t disk_term(const struct gdisk *d, uint64_t index)
{
    if (index == d->snap.index)
        return d->snap.term;
    const struct raft_entry *ent = disk_entry(d, index);
    return ent ? ent->term : 0;
}

static void disk_set_snapshot(struct gdisk *d, const struct raft_snapshot_meta *meta,
                              const uint8_t *data, size_t len)
{
    free(d->snap_data);
    d->snap = *meta;
    d->snap_data = gx_alloc(len);
    if (len)
        memcpy(d->snap_data, data, len);
    d->snap_len = len;
}

/* Persist rd.entries: stored entries at or after the first new index
 * conflict with it and are replaced (raft.h ready step 2). */
static void disk_append(struct genv *e, struct gnode *n, const struct raft_entry *ents, size_t cnt)
{
    struct gdisk *d = &n->disk;
    uint64_t first = ents[0].index;
    if (first <= d->snap.index || first > disk_last(d) + 1) {
        gviolation(e, "%llu: entries from %llu do not attach to the log (snapshot %llu, last %llu)",
                   (ull)n->id, (ull)first, (ull)d->snap.index, (ull)disk_last(d));
        return;
    }
    for (size_t i = 1; i < cnt; i++) {
        if (ents[i].index != first + i || ents[i].term < ents[i - 1].term) {
            gviolation(e, "%llu: entries to persist are not consecutive at %llu", (ull)n->id,
                       (ull)ents[i].index);
            return;
        }
    }
    disk_drop_entries_from(d, first - d->snap.index - 1);
    d->ents = gx_grow(d->ents, &d->cap_ents, d->n_ents + cnt, sizeof d->ents[0]);
    for (size_t i = 0; i < cnt; i++)
        gx_entry_copy(&d->ents[d->n_ents++], &ents[i]);
}

/* Rules every persisted hard state obeys, checked before it replaces the
 * previous one (entries of the same ready are already on the disk). */
static void check_hard_state(struct genv *e, struct gnode *n, const struct raft_hard_state *hs)
{
    const struct raft_hard_state *old = &n->disk.hs;
    ull id = n->id;
    if (hs->term < old->term)
        gviolation(e, "%llu: term went back from %llu to %llu", id, (ull)old->term, (ull)hs->term);
    if (hs->term == old->term && old->vote != RAFT_NONE && hs->vote != old->vote)
        gviolation(e, "%llu: changed its vote in term %llu from %llu to %llu", id, (ull)hs->term,
                   (ull)old->vote, (ull)hs->vote);
    if (hs->commit < old->commit)
        gviolation(e, "%llu: commit went back from %llu to %llu", id, (ull)old->commit,
                   (ull)hs->commit);
    if (hs->commit > disk_last(&n->disk))
        gviolation(e, "%llu: commit %llu beyond the persisted log (last %llu)", id, (ull)hs->commit,
                   (ull)disk_last(&n->disk));
}

static int entry_equal(const struct raft_entry *a, const struct raft_entry *b)
{
    return a->term == b->term && a->type == b->type && a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* State-machine safety: whoever applies index i applies the same entry. */
static void check_applied(struct genv *e, struct gnode *n, const struct raft_entry *ent)
{
    if (ent->index != n->applied + 1)
        gviolation(e, "%llu: applies index %llu after %llu", (ull)n->id, (ull)ent->index,
                   (ull)n->applied);
    if (disk_term(&n->disk, ent->index) != ent->term)
        gviolation(e, "%llu: applies %llu/%llu which is not in its persisted log", (ull)n->id,
                   (ull)ent->term, (ull)ent->index);
    struct raft_entry *first = hmap_get(&e->history, ent->index);
    if (!first) {
        first = gx_alloc(sizeof *first);
        gx_entry_copy(first, ent);
        CAIRN_ASSERT(hmap_put(&e->history, ent->index, first) == 0);
    } else if (!entry_equal(first, ent)) {
        gviolation(e, "%llu: applies %llu/%llu but another node applied %llu/%llu there",
                   (ull)n->id, (ull)ent->term, (ull)ent->index, (ull)first->term,
                   (ull)first->index);
    }
}

/* --- ready handling -------------------------------------------------------- */

static void ready_snapshot(struct genv *e, struct gnode *n, const struct raft_snapshot *s)
{
    struct cairn_buf *o = e->out;
    gout(e, "  snapshot: ");
    fmt_snapshot(o, &s->meta, s->data, s->len);
    gout(e, "\n");
    if (s->meta.index <= n->applied)
        gviolation(e, "%llu: told to install snapshot %llu at applied %llu", (ull)n->id,
                   (ull)s->meta.index, (ull)n->applied);
    /* The core restarts its log at the snapshot point: so does the disk. */
    disk_drop_entries_from(&n->disk, 0);
    disk_set_snapshot(&n->disk, &s->meta, s->data, s->len);
    kv_load(n, s->data, s->len, s->meta.index);
}

static void ready_entries(struct genv *e, struct gnode *n, const struct raft_ready *rd)
{
    gout(e, "  entries:\n");
    for (size_t i = 0; i < rd->n_entries; i++) {
        gout(e, "    ");
        fmt_entry(e->out, &rd->entries[i]);
        gout(e, "\n");
    }
    disk_append(e, n, rd->entries, rd->n_entries);
}

static void ready_messages(struct genv *e, struct gnode *n, const struct raft_ready *rd)
{
    gout(e, "  messages:\n");
    for (size_t i = 0; i < rd->n_msgs; i++) {
        gout(e, "    ");
        fmt_msg(e->out, &rd->msgs[i]);
        gout(e, "\n");
        if (rd->msgs[i].from != n->id)
            gviolation(e, "%llu: sends a message from %llu", (ull)n->id, (ull)rd->msgs[i].from);
        gnet_send(e, &rd->msgs[i]);
    }
}

static void ready_committed(struct genv *e, struct gnode *n, const struct raft_ready *rd)
{
    gout(e, "  committed:\n");
    for (size_t i = 0; i < rd->n_committed; i++) {
        const struct raft_entry *ent = &rd->committed[i];
        gout(e, "    ");
        fmt_entry(e->out, ent);
        gout(e, "\n");
        check_applied(e, n, ent);
        kv_apply(n, ent);
        n->applied = ent->index;
    }
}

/* One ready batch, printed and handled in the order of raft.h: snapshot,
 * entries, hard state (all durable), then messages, then apply, then reads. */
void genv_handle_ready(struct genv *e, struct gnode *n)
{
    struct raft_ready rd;
    raft_ready(n->r, &rd);
    gout(e, "> %llu handling Ready\n", (ull)n->id);
    if (rd.role != n->rd_role || rd.leader != n->rd_leader) {
        gout(e, "  soft: role=%s leader=%llu\n", fmt_role(rd.role), (ull)rd.leader);
        n->rd_role = rd.role;
        n->rd_leader = rd.leader;
    }
    if (rd.snapshot)
        ready_snapshot(e, n, rd.snapshot);
    if (rd.n_entries)
        ready_entries(e, n, &rd);
    if (rd.has_hard_state) {
        gout(e, "  hard: term=%llu vote=%llu commit=%llu\n", (ull)rd.hard_state.term,
             (ull)rd.hard_state.vote, (ull)rd.hard_state.commit);
        check_hard_state(e, n, &rd.hard_state);
        n->disk.hs = rd.hard_state;
    }
    if (rd.snapshot && n->disk.hs.commit < rd.snapshot->meta.index)
        gviolation(e, "%llu: persisted commit %llu below its snapshot %llu", (ull)n->id,
                   (ull)n->disk.hs.commit, (ull)rd.snapshot->meta.index);
    if (rd.n_msgs)
        ready_messages(e, n, &rd);
    if (rd.n_committed)
        ready_committed(e, n, &rd);
    if (rd.n_reads) {
        gout(e, "  reads:\n");
        for (size_t i = 0; i < rd.n_reads; i++)
            gout(e, "    ctx=%llu index=%llu\n", (ull)rd.reads[i].ctx, (ull)rd.reads[i].index);
    }
    raft_advance(n->r, &rd);
    genv_observe(e, n);
}

/* --- observation of state changes ------------------------------------------ */

/* Election safety: at most one leader per term, across the whole run. */
static void check_leader(struct genv *e, uint64_t id, uint64_t term)
{
    uint64_t other = (uint64_t)(uintptr_t)hmap_get(&e->leaders, term);
    if (!other)
        CAIRN_ASSERT(hmap_put(&e->leaders, term, (void *)(uintptr_t)id) == 0);
    else if (other != id)
        gviolation(e, "two leaders in term %llu: %llu and %llu", (ull)term, (ull)other, (ull)id);
}

/* Configuration safety: a change takes effect when its entry commits, and
 * committed prefixes are equal on all nodes, so nodes with equal commit
 * indexes have equal configurations. Commit 0 is left out: a node that
 * joins starts empty, knowing no configuration yet. */
static void check_conf(struct genv *e, const struct raft_status *st)
{
    if (st->commit == 0)
        return;
    struct raft_conf *first = hmap_get(&e->confs, st->commit);
    if (!first) {
        first = gx_alloc(sizeof *first);
        *first = st->conf;
        CAIRN_ASSERT(hmap_put(&e->confs, st->commit, first) == 0);
        return;
    }
    if (fmt_conf_equal(first, &st->conf))
        return;
    struct cairn_buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    fmt_conf(&a, &st->conf);
    fmt_conf(&b, first);
    gviolation(e, "%llu: at commit %llu has %.*s but another node had %.*s", (ull)st->id,
               (ull)st->commit, (int)a.len, (const char *)a.data, (int)b.len, (const char *)b.data);
    buf_free(&a);
    buf_free(&b);
}

void genv_observe(struct genv *e, struct gnode *n)
{
    struct raft_status st;
    raft_get_status(n->r, &st);
    if (st.role != n->seen.role || st.term != n->seen.term)
        gout(e, "INFO %llu became %s at term %llu\n", (ull)n->id, fmt_role(st.role), (ull)st.term);
    if (st.role == RAFT_LEADER)
        check_leader(e, n->id, st.term);
    if (!fmt_conf_equal(&st.conf, &n->seen.conf)) {
        gout(e, "INFO %llu switched to configuration ", (ull)n->id);
        fmt_conf(e->out, &st.conf);
        gout(e, "\n");
    }
    check_conf(e, &st);
    n->seen = st;
}

/* --- node lifecycle ---------------------------------------------------------- */

static void print_status_line(struct genv *e, const struct raft_status *st);

/* Start a core from the disk, with a fresh state machine from the snapshot:
 * both a new node and a restarted one come up this way. */
static void node_start(struct genv *e, struct gnode *n)
{
    struct raft_restore rs = {
        .hard_state = n->disk.hs,
        .snapshot_meta = n->disk.snap,
        .entries = n->disk.ents,
        .n_entries = n->disk.n_ents,
        .applied = n->disk.snap.index,
        .snapshot_data = n->disk.snap.index ? n->disk.snap_data : NULL,
        .snapshot_len = n->disk.snap.index ? n->disk.snap_len : 0,
    };
    kv_load(n, n->disk.snap_data, n->disk.snap_len, n->disk.snap.index);
    n->r = raft_new(&n->cfg, &rs);
    CAIRN_ASSERT(n->r != NULL);
    raft_get_status(n->r, &n->seen);
    n->rd_role = RAFT_FOLLOWER;
    n->rd_leader = RAFT_NONE;
    gout(e, "INFO %llu started: ", (ull)n->id);
    print_status_line(e, &n->seen);
}

int genv_add_node(struct genv *e, const struct raft_config *cfg, const struct raft_conf *conf,
                  uint64_t index)
{
    if (cfg->id == 0 || cfg->id > GOLDEN_NODES_MAX || e->nodes[cfg->id].exists)
        return CAIRN_EINVAL;
    struct gnode *n = &e->nodes[cfg->id];
    memset(n, 0, sizeof *n);
    n->id = cfg->id;
    n->exists = 1;
    n->cfg = *cfg;
    struct raft_snapshot_meta meta = {.index = index, .term = index ? 1 : 0, .conf = *conf};
    disk_set_snapshot(&n->disk, &meta, NULL, 0);
    if (index)
        n->disk.hs = (struct raft_hard_state){.term = 1, .vote = RAFT_NONE, .commit = index};
    node_start(e, n);
    return 0;
}

/* Everything not persisted is lost: the core, its pending ready, the state
 * machine, and the messages on their way to it. Messages it already sent
 * stay in flight. */
void genv_crash(struct genv *e, struct gnode *n)
{
    raft_free(n->r);
    n->r = NULL;
    kv_clear(n);
    n->applied = 0;
    gout(e, "INFO %llu crashed\n", (ull)n->id);
    gnet_drop_to(e, n->id);
}

/* Messages sent to the node while it was down never reach it. */
void genv_restart(struct genv *e, struct gnode *n)
{
    gnet_drop_to(e, n->id);
    node_start(e, n);
}

/* The configuration in force at index: the snapshot's, then every
 * configuration entry up to index (all committed, as index <= applied). */
static void disk_conf_at(const struct gdisk *d, uint64_t index, struct raft_conf *c)
{
    *c = d->snap.conf;
    for (uint64_t i = d->snap.index + 1; i <= index && i <= disk_last(d); i++) {
        const struct raft_entry *ent = disk_entry(d, i);
        struct raft_conf_change cc;
        if (ent->type != RAFT_ENTRY_CONF || raft_conf_change_decode(ent->data, ent->len, &cc))
            continue;
        struct raft_conf next = {0};
        for (uint32_t k = 0; k < c->n_voters; k++)
            if (c->voters[k] != cc.node)
                next.voters[next.n_voters++] = c->voters[k];
        for (uint32_t k = 0; k < c->n_learners; k++)
            if (c->learners[k] != cc.node)
                next.learners[next.n_learners++] = c->learners[k];
        if (cc.op == RAFT_CONF_ADD_VOTER && next.n_voters < CAIRN_RAFT_NODES_MAX)
            next.voters[next.n_voters++] = cc.node;
        else if (cc.op == RAFT_CONF_ADD_LEARNER && next.n_learners < CAIRN_RAFT_NODES_MAX)
            next.learners[next.n_learners++] = cc.node;
        *c = next;
    }
}

/* The core's meta for a snapshot at index must match the disk: the term of
 * the entry there and the configuration in force there. */
static void check_snapshot_meta(struct genv *e, struct gnode *n, uint64_t index,
                                const struct raft_snapshot_meta *meta)
{
    struct raft_conf conf;
    disk_conf_at(&n->disk, index, &conf);
    if (meta->index != index || meta->term != disk_term(&n->disk, index) ||
        !fmt_conf_equal(&meta->conf, &conf))
        gviolation(e, "%llu: snapshot meta %llu/%llu does not match the log at %llu (term %llu)",
                   (ull)n->id, (ull)meta->term, (ull)meta->index, (ull)index,
                   (ull)disk_term(&n->disk, index));
}

/* Drop the disk's entries up to index and keep the snapshot beside the
 * rest, as a shell does after raft_snapshot_taken(). */
static void disk_compact(struct gdisk *d, const struct raft_snapshot_meta *meta,
                         const uint8_t *data, size_t len)
{
    size_t drop = (size_t)(meta->index - d->snap.index);
    size_t keep = d->n_ents - drop;
    for (size_t i = 0; i < drop; i++)
        free(d->ents[i].data);
    memmove(d->ents, d->ents + drop, keep * sizeof d->ents[0]);
    d->n_ents = keep;
    disk_set_snapshot(d, meta, data, len);
}

/* Snapshot the state machine at index (<= applied), hand it to the core,
 * and compact the disk the same way, with the meta the core reports. */
int genv_compact(struct genv *e, struct gnode *n, uint64_t index)
{
    if (index > n->applied) {
        gout(e, "error: index %llu not applied (applied %llu)\n", (ull)index, (ull)n->applied);
        return 0;
    }
    struct cairn_buf data;
    buf_init(&data, 0);
    kv_encode_at(n, index, &data);
    int rc = raft_snapshot_taken(n->r, index, data.data, data.len);
    if (rc) {
        gout(e, "error %s\n", cairn_err_name(rc));
    } else if (index > n->disk.snap.index && index <= disk_last(&n->disk)) {
        struct raft_snapshot_meta meta;
        raft_get_snapshot_meta(n->r, &meta);
        check_snapshot_meta(e, n, index, &meta);
        disk_compact(&n->disk, &meta, data.data, data.len);
        gout(e, "compacted %llu to snapshot ", (ull)n->id);
        fmt_snapshot(e->out, &meta, data.data, data.len);
        gout(e, "\n");
    }
    buf_free(&data);
    genv_observe(e, n);
    return 0;
}

/* --- inspection ------------------------------------------------------------ */

static int cmp_pair(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* "follower term=1 vote=1 leader=1 commit=2 ..." from the core's status. */
static void print_status_line(struct genv *e, const struct raft_status *st)
{
    gout(e, "%s term=%llu vote=%llu leader=%llu commit=%llu applied=%llu log=[%llu,%llu] ",
         fmt_role(st->role), (ull)st->term, (ull)st->vote, (ull)st->leader, (ull)st->commit,
         (ull)st->applied, (ull)st->first_index, (ull)st->last_index);
    gout(e, "snapshot=%llu ", (ull)st->snapshot_index);
    fmt_conf(e->out, &st->conf);
    gout(e, "\n");
}

void genv_print_status(struct genv *e, struct gnode *n)
{
    struct raft_status st;
    raft_get_status(n->r, &st);
    gout(e, "%llu: ", (ull)n->id);
    print_status_line(e, &st);
    if (st.role != RAFT_LEADER)
        return;
    /* match[] follows the member order of st.conf (voters, then learners);
     * printed by id so the core's internal order does not show. */
    uint64_t pairs[2 * CAIRN_RAFT_NODES_MAX][2];
    uint32_t nm = CAIRN_MIN(st.conf.n_voters + st.conf.n_learners, 2 * CAIRN_RAFT_NODES_MAX);
    for (uint32_t i = 0; i < nm; i++) {
        pairs[i][0] =
            i < st.conf.n_voters ? st.conf.voters[i] : st.conf.learners[i - st.conf.n_voters];
        pairs[i][1] = st.match[i];
    }
    qsort(pairs, nm, sizeof pairs[0], cmp_pair);
    gout(e, "   match:");
    for (uint32_t i = 0; i < nm; i++)
        gout(e, " %llu=%llu", (ull)pairs[i][0], (ull)pairs[i][1]);
    gout(e, "\n");
}

void genv_print_log(struct genv *e, struct gnode *n)
{
    const struct gdisk *d = &n->disk;
    gout(e, "%llu: hard term=%llu vote=%llu commit=%llu\n", (ull)n->id, (ull)d->hs.term,
         (ull)d->hs.vote, (ull)d->hs.commit);
    gout(e, "%llu: snapshot ", (ull)n->id);
    fmt_snapshot(e->out, &d->snap, d->snap_data, d->snap_len);
    gout(e, "\n");
    if (d->n_ents == 0)
        gout(e, "%llu: no entries\n", (ull)n->id);
    for (size_t i = 0; i < d->n_ents; i++) {
        gout(e, "%llu: ", (ull)n->id);
        fmt_entry(e->out, &d->ents[i]);
        gout(e, "\n");
    }
}
