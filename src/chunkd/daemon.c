/*
 * daemon.c: life cycle of a chunk server (chunkd.h): open the store (and
 * finish interrupted truncations), bind the listener, run the loop with the
 * heartbeat and scrub timers, shut down cleanly; the status message; and
 * `cairn chunk`, the process around it (config, log, pid file, signals,
 * exit codes).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "chunkd/chunkd_int.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

void chunkd_usage(struct chunkd *cd, uint64_t *capacity, uint64_t *used)
{
    struct chunk_space sp = {0, 0};
    struct chunk_usage u;
    chunk_capacity(cd->store, &sp);
    chunk_usage(cd->store, &u);
    uint64_t held = u.bytes + u.staged_bytes;
    uint64_t cap = cd->cfg.capacity ? cd->cfg.capacity : sp.total_bytes;
    uint64_t free_bytes = CAIRN_MIN(sp.free_bytes, cap > held ? cap - held : 0);
    *capacity = cap;
    *used = cap - free_bytes;
}

void chunkd_info_publish(struct chunkd *cd)
{
    pthread_mutex_lock(&cd->info_mu);
    cd->info = cd->counters;
    cd->info.node = cd->node;
    cd->info.registered = cd->accept_writes && cd->link == LINK_HEARTBEAT;
    pthread_mutex_unlock(&cd->info_mu);
}

void chunkd_get_info(const struct chunkd *cd, struct chunkd_info *out)
{
    pthread_mutex_lock((pthread_mutex_t *)&cd->info_mu);
    *out = cd->info;
    pthread_mutex_unlock((pthread_mutex_t *)&cd->info_mu);
}

uint16_t chunkd_port(const struct chunkd *cd) { return cd->port; }

static struct wire_bytes wb(const char *s)
{
    return (struct wire_bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static void on_status(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                      void *arg)
{
    struct chunkd *cd = arg;
    struct chunk_usage u;
    chunk_usage(cd->store, &u);
    struct wire_chunk_status s = {
        .node = cd->node,
        .addr = wb(cd->cfg.advertise[0] ? cd->cfg.advertise : cd->cfg.listen),
        .label = wb(cd->cfg.label),
        .registered = (uint8_t)(cd->accept_writes && cd->link == LINK_HEARTBEAT),
        .leader = wb(cd->leader),
        .chunks = u.chunks,
        .staged = u.staged,
        .cmds_done = cd->counters.cmds_done,
        .replicated = cd->counters.replicated,
        .scrub_passes = cd->counters.scrub_passes,
        .scrub_bytes = cd->counters.scrub_bytes,
        .bad_found = cd->counters.bad_found,
        .writes = cd->counters.writes,
        .reads = cd->counters.reads,
    };
    chunkd_usage(cd, &s.capacity, &s.used);
    buf_reset(&cd->scratch);
    int rc = wire_chunk_status_encode(&cd->scratch, &s);
    if (rc)
        rpc_reply_error(req, rc, NULL);
    else
        rpc_reply(req, WIRE_CHUNK_STATUS_REPLY, cd->scratch.data, cd->scratch.len);
}

static void hb_cb(uv_timer_t *h)
{
    struct chunkd *cd = h->data;
    link_tick(cd);
    chunkd_info_publish(cd);
}

static void scrub_cb(uv_timer_t *h) { scrub_tick(h->data); }

static void close_cb(uv_handle_t *h) { (void)h; }

/* Stop serving: the listener and every client close (their calls fail and
 * the ops waiting on them finish), timers stop; the loop ends once the
 * thread-pool jobs in flight have finished. */
static void chunkd_shutdown(struct chunkd *cd)
{
    if (cd->stopping)
        return;
    cd->stopping = 1;
    LOG_INFO(CHUNKD_SUBSYS, "shutting down");
    if (cd->srv)
        rpc_server_close(cd->srv);
    cd->srv = NULL;
    link_close(cd);
    peers_close(cd);
    if (!cd->handles_open)
        return;
    cd->handles_open = 0;
    if (cd->signals_on) {
        uv_close((uv_handle_t *)&cd->sig_term, close_cb);
        uv_close((uv_handle_t *)&cd->sig_int, close_cb);
        cd->signals_on = 0;
    }
    uv_close((uv_handle_t *)&cd->hb_timer, close_cb);
    uv_close((uv_handle_t *)&cd->scrub_timer, close_cb);
    uv_close((uv_handle_t *)&cd->fwd_timer, close_cb);
    uv_close((uv_handle_t *)&cd->stop_async, close_cb);
}

static void stop_cb(uv_async_t *h) { chunkd_shutdown(h->data); }

void chunkd_stop(struct chunkd *cd) { uv_async_send(&cd->stop_async); }

static int store_open(struct chunkd *cd)
{
    if (mkdir(cd->cfg.data, 0755) != 0 && errno != EEXIST)
        return cairn_err_from_errno(errno);
    struct chunk_store_options o = {.dir = cd->cfg.data};
    struct chunk_recovery rep;
    int rc = chunk_store_open(&o, &cd->store, &rep);
    if (rc) {
        LOG_ERROR(CHUNKD_SUBSYS, "data directory %s: %s", cd->cfg.data, cairn_strerror(rc));
        return rc;
    }
    if (rep.quarantined)
        LOG_WARN(CHUNKD_SUBSYS, "%" PRIu64 " damaged chunk files quarantined", rep.quarantined);
    if (rep.staged)
        LOG_INFO(CHUNKD_SUBSYS,
                 "%" PRIu64 " staged versions sealed (%" PRIu64 " not flushed: drop only)",
                 rep.staged, rep.staged_unflushed);
    rc = chunkd_node_id_load(cd->cfg.data, &cd->node);
    if (rc)
        LOG_ERROR(CHUNKD_SUBSYS, "data directory %s: %s", cd->cfg.data, cairn_strerror(rc));
    struct fence_open_stats fs;
    if (rc == 0)
        rc = fence_open(cd->cfg.data, CAIRN_CHUNKD_FENCES_MAX, &cd->fences, &fs);
    if (rc == 0 && fs.chunks)
        LOG_INFO(CHUNKD_SUBSYS, "fencing tokens of %" PRIu64 " chunks loaded", fs.chunks);
    return rc;
}

static int net_open(struct chunkd *cd)
{
    struct rpc_server_cfg sc = {
        .secret = &cd->secret, .name = "chunk", .limits = {.inflight_max = CHUNKD_CONN_INFLIGHT}};
    int rc = rpc_server_new(&cd->loop, &sc, &cd->srv);
    if (rc == 0)
        rc = rpc_server_handle(cd->srv, WIRE_CHUNK_STATUS, 0, on_status, cd);
    if (rc == 0)
        rc = data_attach(cd);
    char host[64];
    const char *colon = strrchr(cd->cfg.listen, ':');
    size_t hl = colon ? (size_t)(colon - cd->cfg.listen) : 0;
    if (rc == 0 && (hl == 0 || hl >= sizeof host))
        rc = CAIRN_EINVAL;
    if (rc == 0) {
        memcpy(host, cd->cfg.listen, hl);
        host[hl] = 0;
        if (host[0] == '[' && hl > 2) { /* [v6] */
            memmove(host, host + 1, hl - 2);
            host[hl - 2] = 0;
        }
        rc = rpc_server_listen(cd->srv, host, (uint16_t)strtoul(colon + 1, NULL, 10));
    }
    if (rc == 0)
        cd->port = rpc_server_port(cd->srv);
    else
        LOG_ERROR(CHUNKD_SUBSYS, "listen %s: %s", cd->cfg.listen, cairn_strerror(rc));
    return rc;
}

static void handles_init(struct chunkd *cd)
{
    uv_timer_init(&cd->loop, &cd->hb_timer);
    uv_timer_init(&cd->loop, &cd->scrub_timer);
    uv_timer_init(&cd->loop, &cd->fwd_timer);
    uv_async_init(&cd->loop, &cd->stop_async, stop_cb);
    cd->hb_timer.data = cd->scrub_timer.data = cd->stop_async.data = cd;
    cd->fwd_timer.data = cd;
    cd->handles_open = 1;
}

int chunkd_new(const struct chunkd_config *cfg, struct chunkd **out)
{
    struct chunkd *cd = calloc(1, sizeof *cd);
    if (!cd)
        return CAIRN_ENOMEM;
    cd->cfg = *cfg;
    hmap_init(&cd->queues);
    hmap_init(&cd->cmds);
    hmap_init(&cd->known_bad);
    hmap_init(&cd->dropped);
    buf_init(&cd->scratch, 0);
    pthread_mutex_init(&cd->info_mu, NULL);
    cd->acks = malloc(CAIRN_OUTBOX_ACK_MAX * sizeof *cd->acks);
    cd->bad = malloc(CHUNKD_BAD_MAX * sizeof *cd->bad);
    if (!cd->acks || !cd->bad || uv_loop_init(&cd->loop)) {
        free(cd->acks);
        free(cd->bad);
        pthread_mutex_destroy(&cd->info_mu);
        free(cd);
        return CAIRN_ENOMEM;
    }
    cd->loop.data = cd;
    handles_init(cd);
    int rc = rpc_secret_load(cfg->secret, &cd->secret);
    if (rc)
        LOG_ERROR(CHUNKD_SUBSYS, "secret %s: %s", cfg->secret, cairn_strerror(rc));
    if (rc == 0)
        rc = store_open(cd);
    if (rc == 0)
        rc = net_open(cd);
    if (rc == 0)
        rc = link_start(cd);
    if (rc) {
        chunkd_free(cd);
        return rc;
    }
    *out = cd;
    return 0;
}

void chunkd_hb_restart(struct chunkd *cd)
{
    uv_timer_start(&cd->hb_timer, hb_cb, cd->hb_ms, cd->hb_ms);
}

int chunkd_run(struct chunkd *cd)
{
    chunkd_hb_restart(cd);
    if (cd->cfg.scrub_rate)
        uv_timer_start(&cd->scrub_timer, scrub_cb, cd->cfg.scrub_ms, cd->cfg.scrub_ms);
    struct chunk_usage u;
    chunk_usage(cd->store, &u);
    LOG_INFO(CHUNKD_SUBSYS, "ready listen=%s data=%s chunks=%" PRIu64 " staged=%" PRIu64,
             cd->cfg.listen, cd->cfg.data, u.chunks, u.staged);
    link_tick(cd);
    uv_run(&cd->loop, UV_RUN_DEFAULT);
    LOG_INFO(CHUNKD_SUBSYS, "stopped");
    return 0;
}

void chunkd_free(struct chunkd *cd)
{
    if (!cd)
        return;
    chunkd_shutdown(cd);
    uv_run(&cd->loop, UV_RUN_DEFAULT); /* close callbacks, jobs in flight */
    int rc = uv_loop_close(&cd->loop);
    CAIRN_ASSERTF(rc == 0, "chunkd: loop still has handles: %s", uv_strerror(rc));
    CAIRN_ASSERT(hmap_len(&cd->queues) == 0);
    chunk_store_close(cd->store);
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&cd->cmds, &it, &k, &v);)
        free(v);
    hmap_free(&cd->cmds);
    hmap_free(&cd->queues);
    fence_close(cd->fences);
    hmap_free(&cd->known_bad);
    hmap_free(&cd->dropped);
    free(cd->jobs_wait);
    free(cd->acks);
    free(cd->bad);
    buf_free(&cd->scratch);
    rpc_secret_wipe(&cd->secret);
    pthread_mutex_destroy(&cd->info_mu);
    free(cd);
}

/* --- `cairn chunk` ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: cairn chunk --config FILE [--key value ...]\n"
          "       cairn chunk --data DIR --listen HOST:PORT --meta HOST:PORT,... --secret FILE\n"
          "                   [--label RACK] [--capacity BYTES] [--heartbeat-ms MS]\n"
          "                   [--scrub-rate BYTES_PER_S] [--scrub-ms MS] [--io-threads N]\n"
          "                   [--log-level LEVEL] [--pid-file FILE]\n"
          "Runs one chunk server. Keys and exit codes: docs/chunkd.md.\n",
          f);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    LOG_INFO(CHUNKD_SUBSYS, "signal %d (%s)", signum, signum == SIGTERM ? "SIGTERM" : "SIGINT");
    chunkd_shutdown(h->data);
}

static int pid_file_write(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cairn_err_from_errno(errno);
    char b[32];
    int n = snprintf(b, sizeof b, "%ld\n", (long)getpid());
    int rc = write(fd, b, (size_t)n) == n ? 0 : CAIRN_EIO;
    close(fd);
    return rc;
}

int chunkd_main(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        }
    struct chunkd_config cfg;
    char err[CHUNKD_ERR_MAX];
    chunkd_config_defaults(&cfg);
    if (chunkd_config_args(&cfg, argc, argv, err, sizeof err) ||
        chunkd_config_check(&cfg, err, sizeof err)) {
        fprintf(stderr, "cairn chunk: %s\n", err);
        usage(stderr);
        return EXIT_USAGE;
    }
    cairn_log_set_level((enum cairn_log_level)cfg.log_level);
    cairn_log_set_node(cfg.listen);
    signal(SIGPIPE, SIG_IGN);
    struct chunkd *cd;
    int rc = chunkd_new(&cfg, &cd);
    if (rc) {
        LOG_ERROR(CHUNKD_SUBSYS, "cannot start: %s (%s)", cairn_strerror(rc), cairn_err_name(rc));
        return EXIT_FAIL;
    }
    if (cfg.pid_file[0] && (rc = pid_file_write(cfg.pid_file)) != 0) {
        LOG_ERROR(CHUNKD_SUBSYS, "pid file %s: %s", cfg.pid_file, cairn_strerror(rc));
        chunkd_free(cd);
        return EXIT_FAIL;
    }
    uv_signal_init(&cd->loop, &cd->sig_term);
    uv_signal_init(&cd->loop, &cd->sig_int);
    cd->sig_term.data = cd->sig_int.data = cd;
    uv_signal_start(&cd->sig_term, signal_cb, SIGTERM);
    uv_signal_start(&cd->sig_int, signal_cb, SIGINT);
    cd->signals_on = 1;
    rc = chunkd_run(cd);
    chunkd_free(cd);
    if (cfg.pid_file[0])
        unlink(cfg.pid_file);
    return rc ? EXIT_FAIL : EXIT_OK;
}
