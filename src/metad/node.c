/*
 * node.c: life cycle of a metadata daemon: recover the data directory,
 * build the Raft core and the state machine, bind the listener, run the
 * loop, shut down cleanly (metad.h).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "common/time.h"
#include "metad/chunks.h"
#include "metad/node_int.h"

static void tick_cb(uv_timer_t *h)
{
    struct metad *d = h->data;
    raft_tick(d->raft);
    metad_bg_poll(d);
    metad_reads_tick(d);
    metad_chunks_tick(d);
}

static void session_cb(uv_timer_t *h)
{
    metad_propose_tick(h->data);
    metad_metrics_sweep(h->data);
}

static void stop_cb(uv_async_t *h) { metad_shutdown(h->data); }

/* --- transport callbacks ---------------------------------------------------- */

static void on_deliver(void *arg, const struct raft_msg *m)
{
    struct metad *d = arg;
    if (d->stopping)
        return;
    int rc = raft_step(d->raft, m);
    if (rc)
        LOG_DEBUG(METAD_SUBSYS, "dropped %s from %" PRIu64 ": %s", raft_msg_type_name(m->type),
                  m->from, cairn_err_name(rc));
}

/* Reported while a batch is out, unreachable peers wait for its advance. */
static void on_unreachable(void *arg, uint64_t to)
{
    struct metad *d = arg;
    if (!d->rd_out) {
        raft_report_unreachable(d->raft, to);
        return;
    }
    for (size_t i = 0; i < d->n_unreachable; i++)
        if (d->unreachable[i] == to)
            return;
    if (d->n_unreachable < CAIRN_ARRAY_LEN(d->unreachable))
        d->unreachable[d->n_unreachable++] = to;
}

/* A sender told us where it listens: use it only for ids whose address
 * the replicated member map does not know (a joining member hearing from a
 * leader that was added after the initial peers, for example). */
static void on_learned(void *arg, uint64_t id, const char *addr)
{
    struct metad *d = arg;
    if (metad_members_get(&d->members, id))
        return;
    LOG_INFO(METAD_SUBSYS, "learned address %s of member %" PRIu64 " from its connection", addr,
             id);
    transport_set_peer(d->tr, id, addr);
}

/* --- start ------------------------------------------------------------------- */

/* The state at the snapshot raftio recovered, or the initial state. */
static int state_init(struct metad *d, const struct raftio_state *st)
{
    const struct raft_restore *r = &st->restore;
    if (r->snapshot_meta.index > 0) {
        int rc = metad_state_load(d, st->snapshot_data, st->snapshot_len, r->snapshot_meta.index);
        if (rc)
            LOG_ERROR(METAD_SUBSYS, "snapshot %" PRIu64 " cannot be loaded: %s",
                      r->snapshot_meta.index, cairn_err_name(rc));
        return rc;
    }
    d->meta = meta_new();
    if (!d->meta)
        return CAIRN_ENOMEM;
    for (uint32_t i = 0; i < d->cfg.n_peers; i++) {
        const struct metad_peer *p = &d->cfg.peers[i];
        int rc = metad_members_set(&d->members, p->id, p->addr, strlen(p->addr));
        if (rc)
            return rc;
    }
    return 0;
}

static int raft_init(struct metad *d, struct raftio_state *st)
{
    struct raft_restore r = st->restore;
    if (r.snapshot_meta.index == 0) {
        /* No snapshot yet: the group's initial configuration (raft.h). */
        memset(&r.snapshot_meta.conf, 0, sizeof r.snapshot_meta.conf);
        for (uint32_t i = 0; i < d->cfg.n_peers; i++)
            r.snapshot_meta.conf.voters[r.snapshot_meta.conf.n_voters++] = d->cfg.peers[i].id;
    }
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = time_mono_ns() ^ d->cfg.id;
    struct raft_config rc = {
        .id = d->cfg.id,
        .election_ticks = d->cfg.election_ticks,
        .heartbeat_ticks = d->cfg.heartbeat_ticks,
        .seed = seed,
        .pre_vote = 1,
        .check_quorum = 1,
        .max_entries_per_msg = CAIRN_RAFT_APPEND_ENTRIES_MAX,
        .max_bytes_per_msg = CAIRN_RAFT_APPEND_BYTES_MAX,
        .max_inflight_msgs = CAIRN_RAFT_INFLIGHT_MAX,
    };
    d->raft = raft_new(&rc, &r);
    if (!d->raft) {
        LOG_ERROR(METAD_SUBSYS, "the recovered Raft state is inconsistent");
        return CAIRN_CORRUPT;
    }
    d->hs_latest = d->hs_saved = r.hard_state;
    d->last_snap_index = r.snapshot_meta.index;
    d->term = r.hard_state.term;
    d->role = RAFT_FOLLOWER;
    return 0;
}

static int storage_init(struct metad *d)
{
    struct raftio_options o = {.cluster_id = d->cfg.cluster_id, .node_id = d->cfg.id};
    struct raftio_state st;
    int rc = raftio_load(d->cfg.data, &o, &d->rio, &st);
    if (rc) {
        LOG_ERROR(METAD_SUBSYS, "data directory %s: %s", d->cfg.data, cairn_strerror(rc));
        return rc;
    }
    rc = state_init(d, &st);
    if (rc == 0)
        rc = raft_init(d, &st);
    if (rc == 0)
        LOG_INFO(METAD_SUBSYS,
                 "recovered %s: snapshot %" PRIu64 ", %zu log entries, term %" PRIu64
                 ", commit %" PRIu64,
                 d->cfg.data, st.restore.snapshot_meta.index, st.restore.n_entries,
                 st.restore.hard_state.term, st.restore.hard_state.commit);
    raftio_state_free(&st);
    return rc;
}

static int net_init(struct metad *d)
{
    char name[32];
    snprintf(name, sizeof name, "meta-%" PRIu64, d->cfg.id);
    struct rpc_server_cfg sc = {.secret = &d->secret, .name = name};
    int rc = rpc_server_new(&d->loop, &sc, &d->srv);
    if (rc)
        return rc;
    struct transport_cfg tc = {
        .self_id = d->cfg.id,
        .self_addr = d->cfg.listen,
        .secret = &d->secret,
        .deliver = on_deliver,
        .unreachable = on_unreachable,
        .learned = on_learned,
        .arg = d,
    };
    rc = transport_new(&d->loop, &tc, &d->tr);
    if (rc == 0)
        rc = transport_attach(d->tr, d->srv);
    if (rc == 0)
        rc = metad_serve_attach(d);
    char host[64];
    uint16_t port = 0;
    if (rc == 0)
        rc = metad_split_hostport(d->cfg.listen, host, sizeof host, &port);
    if (rc == 0)
        rc = rpc_server_listen(d->srv, host, port);
    if (rc == 0)
        d->port = rpc_server_port(d->srv);
    return rc;
}

static void handles_init(struct metad *d)
{
    uv_timer_init(&d->loop, &d->tick_timer);
    uv_timer_init(&d->loop, &d->session_timer);
    uv_check_init(&d->loop, &d->check);
    uv_async_init(&d->loop, &d->stop_async, stop_cb);
    uv_async_init(&d->loop, &d->io_async, metad_io_done_cb);
    d->tick_timer.data = d->session_timer.data = d->check.data = d;
    d->stop_async.data = d->io_async.data = d;
    d->handles_open = 1;
}

int metad_new(const struct metad_config *cfg, struct metad **out)
{
    struct metad *d = calloc(1, sizeof *d);
    if (!d)
        return CAIRN_ENOMEM;
    d->cfg = *cfg;
    metad_bg_init(d);
    hmap_init(&d->cmds);
    buf_init(&d->reply, 0);
    buf_init(&d->scratch, 0);
    pthread_mutex_init(&d->info_mu, NULL);
    int rc = uv_loop_init(&d->loop);
    if (rc) {
        pthread_mutex_destroy(&d->info_mu);
        free(d);
        return CAIRN_ENOMEM;
    }
    handles_init(d);
    rc = rpc_secret_load(cfg->secret, &d->secret);
    if (rc)
        LOG_ERROR(METAD_SUBSYS, "secret %s: %s", cfg->secret, cairn_strerror(rc));
    if (rc == 0)
        rc = storage_init(d); /* before binding: a wrong data dir fails first */
    if (rc == 0)
        rc = net_init(d);
    if (rc == 0 && cfg->metrics[0])
        rc = metad_metrics_start(d);
    if (rc == 0) {
        metad_update_peers(d);
        rc = metad_io_start(d);
    }
    if (rc) {
        metad_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

uint16_t metad_port(const struct metad *d) { return d->port; }

int metad_run(struct metad *d)
{
    uv_timer_start(&d->tick_timer, tick_cb, d->cfg.tick_ms, d->cfg.tick_ms);
    uv_timer_start(&d->session_timer, session_cb, d->cfg.session_tick_ms, d->cfg.session_tick_ms);
    uv_check_start(&d->check, metad_check_cb);
    struct raft_status st;
    raft_get_status(d->raft, &st);
    d->applied = st.applied;
    LOG_INFO(METAD_SUBSYS,
             "ready id=%" PRIu64 " listen=%s term=%" PRIu64 " applied=%" PRIu64 " members=%u%s",
             d->cfg.id, d->cfg.listen, st.term, st.applied, st.conf.n_voters + st.conf.n_learners,
             d->cfg.join ? " (joining: waiting to be added)" : "");
    uv_run(&d->loop, UV_RUN_DEFAULT);
    metad_io_stop(d);
    if (d->exit_rc == 0 && d->rio) {
        /* Keep the newest commit index, so a restart applies at once. */
        int rc = raftio_sync(d->rio);
        if (rc == 0)
            rc = raftio_save_hard_state(d->rio, &d->hs_latest);
        if (rc) {
            LOG_ERROR(METAD_SUBSYS, "final sync failed: %s", cairn_strerror(rc));
            d->exit_rc = rc;
        }
    }
    LOG_INFO(METAD_SUBSYS, "stopped%s", d->exit_rc ? " after an error" : "");
    return d->exit_rc;
}

void metad_stop(struct metad *d) { uv_async_send(&d->stop_async); }

static void close_cb(uv_handle_t *h) { (void)h; }

static void signal_cb(uv_signal_t *h, int signum)
{
    LOG_INFO(METAD_SUBSYS, "signal %d (%s)", signum, signum == SIGTERM ? "SIGTERM" : "SIGINT");
    metad_shutdown(h->data);
}

void metad_handle_signals(struct metad *d)
{
    uv_signal_init(&d->loop, &d->sig_term);
    uv_signal_init(&d->loop, &d->sig_int);
    d->sig_term.data = d->sig_int.data = d;
    uv_signal_start(&d->sig_term, signal_cb, SIGTERM);
    uv_signal_start(&d->sig_int, signal_cb, SIGINT);
    d->signals_on = 1;
}

/* Stop serving: pending requests get SHUTDOWN, the listener and the peer
 * connections close, timers stop. The storage handle closes only once a job
 * in progress has finished (metad_io_done_cb calls this again). */
void metad_shutdown(struct metad *d)
{
    if (!d->stopping) {
        d->stopping = 1;
        LOG_INFO(METAD_SUBSYS, "shutting down");
        metad_fail_pending(d, CAIRN_SHUTDOWN);
        metad_bg_stop(d);
        if (d->srv)
            rpc_server_close(d->srv);
        d->srv = NULL;
        if (d->tr)
            transport_close(d->tr);
        d->tr = NULL;
        metad_metrics_stop(d);
    }
    if (!d->handles_open || d->io.state == IO_QUEUED)
        return;
    d->handles_open = 0;
    if (d->signals_on) {
        uv_close((uv_handle_t *)&d->sig_term, close_cb);
        uv_close((uv_handle_t *)&d->sig_int, close_cb);
        d->signals_on = 0;
    }
    uv_close((uv_handle_t *)&d->tick_timer, close_cb);
    uv_close((uv_handle_t *)&d->session_timer, close_cb);
    uv_close((uv_handle_t *)&d->check, close_cb);
    uv_close((uv_handle_t *)&d->stop_async, close_cb);
    uv_close((uv_handle_t *)&d->io_async, close_cb);
}

void metad_free(struct metad *d)
{
    if (!d)
        return;
    if (!d->stopping || d->handles_open) {
        metad_shutdown(d); /* not run, or run without stopping */
        uv_run(&d->loop, UV_RUN_DEFAULT);
    }
    metad_io_stop(d);
    metad_bg_stop(d);
    int rc = uv_loop_close(&d->loop);
    CAIRN_ASSERTF(rc == 0, "metad: loop still has handles: %s", uv_strerror(rc));
    metad_chunks_free(d);
    raft_free(d->raft);
    meta_free(d->meta);
    raftio_close(d->rio);
    free(d->snap_save.data);
    hmap_free(&d->cmds);
    buf_free(&d->reply);
    buf_free(&d->scratch);
    rpc_secret_wipe(&d->secret);
    pthread_mutex_destroy(&d->info_mu);
    free(d);
}

void metad_get_info(const struct metad *d, struct metad_info *out)
{
    pthread_mutex_lock((pthread_mutex_t *)&d->info_mu);
    *out = d->info;
    pthread_mutex_unlock((pthread_mutex_t *)&d->info_mu);
}
