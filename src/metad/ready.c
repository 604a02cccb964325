/*
 * ready.c: the Raft ready loop of the metadata daemon, with group commit.
 *
 * At most one ready batch is out of the core at a time. The loop thread
 * takes it (metad_check_cb, once per loop turn, after all I/O callbacks of
 * that turn), and hands its durable part to the storage thread. While the
 * storage thread appends and fdatasyncs, the core keeps taking messages,
 * proposals and ticks; all of that forms the next batch, which therefore
 * shares one fdatasync however many proposals it holds (group commit). When
 * the storage thread is done, the loop applies the committed entries, sends
 * the batch's messages (only now: persist before send), serves read states
 * and advances the core. A batch with nothing to persist is handled at once
 * on the loop thread.
 *
 * Hard state: term and vote are written before the batch's entries (so the
 * stored term always covers the log), the commit index when a membership
 * change was committed (so a restart replays the configuration it had) and
 * at a clean shutdown. Other commit advances are not written: the commit
 * index is volatile state in Raft (a restarted node learns it again), and
 * writing the file atomically would cost two more fsyncs per batch.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "metad/chunks.h"
#include "metad/locks.h"
#include "metad/node_int.h"

/* --- the storage thread ---------------------------------------------------- */

static int io_step(struct io_job *job, int rc, const char *what)
{
    if (rc && !job->rc) {
        job->rc = rc;
        job->failed = what;
    }
    return rc;
}

/* The durable part of one job, in the order that keeps every state a crash
 * can leave consistent: older snapshot, installed snapshot, term/vote,
 * entries, sync, commit. */
static void io_run(struct raftio *io, struct io_job *job)
{
    if (job->has_save) {
        job->save_rc = raftio_snapshot_save(io, &job->save);
        if (job->save_rc && job->save_rc != CAIRN_EINVAL &&
            io_step(job, job->save_rc, "snapshot save"))
            return;
    }
    const struct raft_ready *rd = job->rd;
    if (rd && rd->snapshot &&
        io_step(job, raftio_snapshot_install(io, rd->snapshot), "snapshot install"))
        return;
    if (job->save_hs_first && io_step(job, raftio_save_hard_state(io, &job->hs), "hard state save"))
        return;
    if (rd && rd->n_entries &&
        io_step(job, raftio_append(io, rd->entries, rd->n_entries), "wal append"))
        return;
    if (io_step(job, raftio_sync(io), "wal sync"))
        return;
    if (job->save_hs_after && io_step(job, raftio_save_hard_state(io, &job->hs), "hard state save"))
        return;
    struct wal_stats ws;
    wal_get_stats(raftio_wal(io), &ws);
    job->syncs = ws.syncs;
}

static void *io_main(void *arg)
{
    struct metad *d = arg;
    pthread_mutex_lock(&d->io.mu);
    for (;;) {
        while (d->io.state != IO_QUEUED && !d->io.quit)
            pthread_cond_wait(&d->io.cv, &d->io.mu);
        if (d->io.state != IO_QUEUED)
            break;
        pthread_mutex_unlock(&d->io.mu);
        io_run(d->rio, &d->io.job);
        pthread_mutex_lock(&d->io.mu);
        d->io.state = IO_DONE;
        uv_async_send(&d->io_async);
    }
    pthread_mutex_unlock(&d->io.mu);
    return NULL;
}

int metad_io_start(struct metad *d)
{
    pthread_mutex_init(&d->io.mu, NULL);
    pthread_cond_init(&d->io.cv, NULL);
    int rc = pthread_create(&d->io.thread, NULL, io_main, d);
    if (rc)
        return cairn_err_from_errno(rc);
    d->io.started = 1;
    return 0;
}

/* Waits for a job in progress, then ends the thread. */
void metad_io_stop(struct metad *d)
{
    if (!d->io.started)
        return;
    pthread_mutex_lock(&d->io.mu);
    d->io.quit = 1;
    pthread_cond_signal(&d->io.cv);
    pthread_mutex_unlock(&d->io.mu);
    pthread_join(d->io.thread, NULL);
    d->io.started = 0;
    pthread_cond_destroy(&d->io.cv);
    pthread_mutex_destroy(&d->io.mu);
}

/* --- applying ---------------------------------------------------------------- */

void metad_fatal(struct metad *d, int rc, const char *what)
{
    LOG_ERROR(METAD_SUBSYS, "%s failed: %s (%s); stopping (a restart recovers what is durable)",
              what, cairn_strerror(rc), cairn_err_name(rc));
    if (!d->exit_rc)
        d->exit_rc = rc;
    metad_shutdown(d);
}

int metad_state_load(struct metad *d, const uint8_t *body, size_t len, uint64_t index)
{
    struct metad_members mb;
    const uint8_t *mp;
    size_t ml;
    int rc = metad_snap_decode(body, len, &mb, &mp, &ml);
    if (rc)
        return rc;
    struct meta *m;
    rc = meta_snapshot_load(mp, ml, &m);
    if (rc)
        return rc;
    if (meta_applied_index(m) != index) {
        LOG_ERROR(METAD_SUBSYS, "snapshot of index %" PRIu64 " holds a state at index %" PRIu64,
                  index, meta_applied_index(m));
        meta_free(m);
        return CAIRN_CORRUPT;
    }
    meta_free(d->meta);
    d->meta = m;
    d->members = mb;
    d->applied = index;
    metad_update_peers(d);
    return 0;
}

static const char *conf_op_name(uint8_t op)
{
    switch (op) {
    case RAFT_CONF_ADD_VOTER:
        return "add voter";
    case RAFT_CONF_ADD_LEARNER:
        return "add learner";
    default:
        return "remove";
    }
}

/* A committed membership change: the core already uses it; here the
 * address map follows (a removed member's address goes). */
static void apply_conf(struct metad *d, const struct raft_entry *e)
{
    struct raft_conf_change cc;
    if (raft_conf_change_decode(e->data, e->len, &cc)) {
        LOG_ERROR(METAD_SUBSYS, "malformed membership entry at index %" PRIu64, e->index);
        return;
    }
    const char *addr = metad_members_get(&d->members, cc.node);
    LOG_INFO(METAD_SUBSYS, "membership: %s %" PRIu64 " (%s) index=%" PRIu64, conf_op_name(cc.op),
             cc.node, addr ? addr : "address unknown", e->index);
    if (cc.op == RAFT_CONF_REMOVE) {
        metad_members_del(&d->members, cc.node);
        if (cc.node == d->cfg.id)
            LOG_WARN(METAD_SUBSYS, "this member was removed from the group");
        else
            transport_remove_peer(d->tr, cc.node);
    } else {
        metad_update_peers(d);
    }
}

static void apply_member_record(struct metad *d, const struct raft_entry *e)
{
    uint64_t id;
    const uint8_t *addr;
    uint16_t len;
    if (metad_entry_member_decode(e->data, e->len, &id, &addr, &len)) {
        LOG_ERROR(METAD_SUBSYS, "malformed member record at index %" PRIu64, e->index);
        return;
    }
    int rc = metad_members_set(&d->members, id, (const char *)addr, len);
    if (rc)
        LOG_WARN(METAD_SUBSYS, "member record for %" PRIu64 " not kept: %s", id,
                 cairn_err_name(rc));
    else
        metad_update_peers(d);
}

/* One committed entry into the state machine (every entry advances its
 * index), then the waiting client's reply. Returns a fatal error or 0. */
static int apply_entry(struct metad *d, const struct raft_entry *e)
{
    if (e->index <= meta_applied_index(d->meta))
        return 0; /* already in the state (a snapshot covered it) */
    buf_reset(&d->reply);
    int kind = 0, rc;
    if (e->type == RAFT_ENTRY_CONF) {
        apply_conf(d, e);
        kind = PEND_MEMBER;
        rc = meta_apply(d->meta, e->index, NULL, 0, &d->reply);
    } else if (e->len == 0) {
        rc = meta_apply(d->meta, e->index, NULL, 0, &d->reply);
    } else if (e->data[0] == METAD_TAG_CMD) {
        kind = PEND_CMD;
        rc = meta_apply(d->meta, e->index, e->data + 1, e->len - 1, &d->reply);
    } else if (e->data[0] == METAD_TAG_MEMBER) {
        apply_member_record(d, e);
        rc = meta_apply(d->meta, e->index, NULL, 0, &d->reply);
    } else {
        LOG_ERROR(METAD_SUBSYS, "entry %" PRIu64 " has unknown tag %u (written by a newer cairn?)",
                  e->index, e->data[0]);
        return CAIRN_UNKNOWNTYPE;
    }
    if (rc == CAIRN_ENOMEM)
        return rc; /* replicas would diverge: stop */
    d->applied = e->index;
    if (e->index == d->tick_index)
        d->tick_index = 0;
    if (kind == PEND_CMD)
        metad_locks_park(d, e, &d->reply); /* a parked request gets no reply here */
    metad_apply_reply(d, e->index, e->term, kind, &d->reply);
    metad_locks_applied(d);
    metad_chunks_applied(d, e->index, e->term, &d->reply);
    return 0;
}

/* --- batches ----------------------------------------------------------------- */

static void log_soft_state(struct metad *d, const struct raft_ready *rd)
{
    uint64_t term = d->hs_latest.term;
    if (rd->role == d->role && term == d->term && rd->leader == d->leader)
        return;
    int was_leader = d->role == RAFT_LEADER;
    if (rd->role != d->role || term != d->term) {
        if (rd->role == RAFT_FOLLOWER)
            LOG_INFO(METAD_SUBSYS, "became follower term=%" PRIu64 " leader=%" PRIu64, term,
                     rd->leader);
        else
            LOG_INFO(METAD_SUBSYS, "became %s term=%" PRIu64, raft_role_name(rd->role), term);
    } else {
        LOG_INFO(METAD_SUBSYS, "leader is %" PRIu64 " term=%" PRIu64, rd->leader, term);
    }
    d->role = rd->role;
    d->term = term;
    d->leader = rd->leader;
    if (was_leader && rd->role != RAFT_LEADER)
        metad_fail_pending(d, CAIRN_NOTLEADER);
    if (!was_leader && rd->role == RAFT_LEADER)
        metad_clock_became_leader(d);
}

/* Every snapshot_every applied entries, a forked child serializes the state
 * (bg.c): on the loop thread it would take seconds at a million files. When
 * the child is done, metad_bg_poll hands the snapshot to the core (which
 * compacts its log) and queues it for the storage thread. */
static void maybe_snapshot(struct metad *d)
{
    if (d->snap_save_pending || d->stopping || d->bg.snap_pid ||
        d->applied < d->last_snap_index + d->cfg.snapshot_every)
        return;
    int rc = metad_bg_snapshot_start(d);
    if (rc)
        LOG_ERROR(METAD_SUBSYS, "snapshot at %" PRIu64 " not started: %s", d->applied,
                  cairn_err_name(rc));
    d->last_snap_index = d->applied; /* on failure: try again snapshot_every later */
}

static void update_info(struct metad *d)
{
    struct raft_status st;
    raft_get_status(d->raft, &st);
    pthread_mutex_lock(&d->info_mu);
    d->info = d->counters;
    d->info.id = d->cfg.id;
    d->info.role = st.role;
    d->info.term = st.term;
    d->info.leader = st.leader;
    d->info.commit = st.commit;
    d->info.applied = d->applied;
    d->info.snapshot_index = st.snapshot_index;
    pthread_mutex_unlock(&d->info_mu);
}

/* The installed snapshot (already durable) becomes the state. */
static int install_snapshot(struct metad *d, const struct raft_snapshot *s)
{
    int rc = metad_state_load(d, s->data, s->len, s->meta.index);
    if (rc)
        return rc;
    d->last_snap_index = s->meta.index;
    d->counters.snapshots_installed++;
    LOG_INFO(METAD_SUBSYS, "snapshot installed index=%" PRIu64 " bytes=%zu", s->meta.index, s->len);
    return 0;
}

static int is_beat(const struct raft_msg *m)
{
    return m->type == RAFT_MSG_HEARTBEAT || m->type == RAFT_MSG_HEARTBEAT_RESP;
}

/* Heartbeats and their answers claim nothing about the log, only the term,
 * so once the term is durable they need not wait for the batch's fdatasync:
 * sent at once, they keep followers from starting elections and the leader
 * from losing its quorum (CheckQuorum) while a slow disk syncs. */
static void send_beats_early(struct metad *d, const struct io_job *job)
{
    if (!job->rd || job->save_hs_first)
        return;
    for (size_t i = 0; i < job->rd->n_msgs; i++)
        if (is_beat(&job->rd->msgs[i]))
            transport_send(d->tr, &job->rd->msgs[i]);
    d->rd_beats_sent = 1;
}

static void batch_finish(struct metad *d)
{
    struct raft_ready *rd = &d->rd;
    int rc = rd->snapshot ? install_snapshot(d, rd->snapshot) : 0;
    if (rc) {
        metad_fatal(d, rc, "snapshot install");
        return;
    }
    for (size_t i = 0; i < rd->n_committed; i++) {
        rc = apply_entry(d, &rd->committed[i]);
        if (rc) {
            metad_fatal(d, rc, "apply");
            return;
        }
    }
    for (size_t i = 0; i < rd->n_msgs; i++)
        if (!d->rd_beats_sent || !is_beat(&rd->msgs[i]))
            metad_bg_send(d, &rd->msgs[i]);
    d->rd_beats_sent = 0;
    for (size_t i = 0; i < rd->n_reads; i++)
        metad_read_state(d, rd->reads[i].ctx, rd->reads[i].index);
    metad_reads_served(d);
    log_soft_state(d, rd);
    raft_advance(d->raft, rd);
    d->rd_out = 0;
    for (size_t i = 0; i < d->n_unreachable; i++)
        raft_report_unreachable(d->raft, d->unreachable[i]);
    d->n_unreachable = 0;
    metad_bg_poll(d);
    maybe_snapshot(d);
    update_info(d);
}

/* A job is complete (storage thread or inline): check it, then finish the
 * batch it carried. */
static void job_done(struct metad *d)
{
    struct io_job *job = &d->io.job;
    if (job->has_save) {
        if (job->save_rc == CAIRN_EINVAL)
            LOG_INFO(METAD_SUBSYS, "snapshot %" PRIu64 " superseded by a newer one",
                     job->save.meta.index);
        free(job->save.data);
        job->save.data = NULL;
        job->has_save = 0;
    }
    if (job->rc) {
        metad_fatal(d, job->rc, job->failed);
        return;
    }
    if (job->save_hs_first || job->save_hs_after)
        d->hs_saved = job->hs;
    d->counters.syncs = job->syncs ? job->syncs : d->counters.syncs;
    if (job->rd && !d->stopping)
        batch_finish(d);
}

void metad_io_done_cb(uv_async_t *h)
{
    struct metad *d = h->data;
    pthread_mutex_lock(&d->io.mu);
    int done = d->io.state == IO_DONE;
    if (done)
        d->io.state = IO_IDLE;
    pthread_mutex_unlock(&d->io.mu);
    if (!done)
        return;
    job_done(d);
    if (d->stopping && d->handles_open)
        metad_shutdown(d); /* finishes closing what waited for the job */
}

static int has_conf(const struct raft_ready *rd)
{
    for (size_t i = 0; i < rd->n_committed; i++)
        if (rd->committed[i].type == RAFT_ENTRY_CONF)
            return 1;
    return 0;
}

/* Take the next batch out of the core (and a snapshot to save, if any). */
static int batch_take(struct metad *d, struct io_job *job)
{
    int has_ready = raft_has_ready(d->raft);
    if (!has_ready && !d->snap_save_pending)
        return 0;
    memset(job, 0, sizeof *job);
    if (has_ready) {
        raft_ready(d->raft, &d->rd);
        d->rd_out = 1;
        if (d->rd.has_hard_state)
            d->hs_latest = d->rd.hard_state;
        job->rd = &d->rd;
        job->hs = d->hs_latest;
        job->save_hs_first =
            d->hs_latest.term != d->hs_saved.term || d->hs_latest.vote != d->hs_saved.vote;
        job->save_hs_after = has_conf(&d->rd);
    }
    if (d->snap_save_pending) {
        job->has_save = 1;
        job->save = d->snap_save;
        memset(&d->snap_save, 0, sizeof d->snap_save);
        d->snap_save_pending = 0;
    }
    return 1;
}

/* Batches with nothing to persist are finished here at once, and the next
 * one is looked at (a bounded number of times: the loop comes back anyway). */
#define INLINE_BATCHES_MAX 8

void metad_check_cb(uv_check_t *h)
{
    struct metad *d = h->data;
    struct io_job *job = &d->io.job;
    metad_locks_sweep(d);
    for (int k = 0; k < INLINE_BATCHES_MAX; k++) {
        if (d->stopping || d->io.state != IO_IDLE || d->rd_out || !batch_take(d, job))
            return;
        const struct raft_ready *rd = job->rd;
        int durable = job->has_save || job->save_hs_first || job->save_hs_after ||
                      (rd && (rd->snapshot || rd->n_entries));
        if (durable) {
            send_beats_early(d, job);
            d->counters.io_batches++;
            pthread_mutex_lock(&d->io.mu);
            d->io.state = IO_QUEUED;
            pthread_cond_signal(&d->io.cv);
            pthread_mutex_unlock(&d->io.mu);
            return;
        }
        job_done(d); /* nothing to persist: no need for the storage thread */
    }
}
