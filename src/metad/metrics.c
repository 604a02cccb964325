/*
 * metrics.c: the optional Prometheus endpoint of the metadata daemon
 * (DESIGN.md §9): plain HTTP on the `metrics` address, any request answered
 * with the text exposition format, then the connection closes.
 *
 * Bounded: METRICS_CONNS_MAX connections at once (more are closed at
 * accept), a request is read up to METRICS_REQ_MAX bytes, and a connection
 * older than METRICS_CONN_MS is closed by the periodic sweep, so a client
 * that never finishes its request cannot pin anything. Loop thread only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "common/time.h"
#include "metad/node_int.h"

#define METRICS_CONNS_MAX 16u
#define METRICS_REQ_MAX 4096u
#define METRICS_CONN_MS 5000u

struct mconn {
    uv_tcp_t tcp;
    uv_write_t wr;
    struct metrics *m;
    struct mconn *next, *prev;
    uint64_t start_ms;
    size_t got;
    int closing;
    char req[METRICS_REQ_MAX];
    struct cairn_buf out;
};

struct metrics {
    struct metad *d;
    uv_tcp_t listener;
    struct mconn *conns;
    unsigned n_conns;
    int closing;
    /* proposals per second, over the last sweep interval */
    uint64_t last_ms, last_proposals;
    double rate;
};

static void conn_closed(uv_handle_t *h)
{
    struct mconn *c = h->data;
    struct metrics *m = c->m;
    if (c->prev)
        c->prev->next = c->next;
    else
        m->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    m->n_conns--;
    buf_free(&c->out);
    free(c);
    if (m->closing && !m->n_conns && m->listener.data == NULL)
        free(m); /* the listener closed before the last connection */
}

static void conn_close(struct mconn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void write_done(uv_write_t *w, int status) { conn_close(w->data); }

/* The exposition text: a few gauges and counters of this member. */
static void render(struct metrics *m, struct cairn_buf *b)
{
    struct metad *d = m->d;
    struct raft_status st;
    raft_get_status(d->raft, &st);
    struct rpc_server_stats ss;
    memset(&ss, 0, sizeof ss);
    if (d->srv)
        rpc_server_get_stats(d->srv, &ss);
    char t[2048];
    int n = snprintf(
        t, sizeof t,
        "# TYPE cairn_meta_term gauge\ncairn_meta_term %" PRIu64 "\n"
        "# TYPE cairn_meta_role gauge\ncairn_meta_role %d\n"
        "# TYPE cairn_meta_is_leader gauge\ncairn_meta_is_leader %d\n"
        "# TYPE cairn_meta_commit_index gauge\ncairn_meta_commit_index %" PRIu64 "\n"
        "# TYPE cairn_meta_applied_index gauge\ncairn_meta_applied_index %" PRIu64 "\n"
        "# TYPE cairn_meta_snapshot_index gauge\ncairn_meta_snapshot_index %" PRIu64 "\n"
        "# TYPE cairn_meta_clients gauge\ncairn_meta_clients %" PRIu64 "\n"
        "# TYPE cairn_meta_pending_requests gauge\ncairn_meta_pending_requests %zu\n"
        "# TYPE cairn_meta_proposals_total counter\ncairn_meta_proposals_total %" PRIu64 "\n"
        "# TYPE cairn_meta_proposals_per_second gauge\ncairn_meta_proposals_per_second %.1f\n"
        "# TYPE cairn_meta_wal_syncs_total counter\ncairn_meta_wal_syncs_total %" PRIu64 "\n"
        "# TYPE cairn_meta_snapshots_taken_total counter\n"
        "cairn_meta_snapshots_taken_total %" PRIu64 "\n",
        st.term, (int)st.role, st.role == RAFT_LEADER, st.commit, d->applied, st.snapshot_index,
        ss.conns_open, d->n_pending, d->counters.proposals, m->rate, d->counters.syncs,
        d->counters.snapshots_taken);
    static const char head[] = "HTTP/1.0 200 OK\r\n"
                               "Content-Type: text/plain; version=0.0.4\r\n"
                               "Connection: close\r\n\r\n";
    buf_append(b, head, sizeof head - 1);
    if (n > 0)
        buf_append(b, t, CAIRN_MIN((size_t)n, sizeof t - 1));
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *out)
{
    struct mconn *c = h->data;
    *out = uv_buf_init(c->req + c->got, (unsigned)(sizeof c->req - c->got));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct mconn *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->got += (size_t)n;
    if (!memmem(c->req, c->got, "\r\n\r\n", 4) && !memmem(c->req, c->got, "\n\n", 2) &&
        c->got < sizeof c->req)
        return;
    uv_read_stop(s);
    render(c->m, &c->out);
    uv_buf_t ub = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    c->wr.data = c;
    if (uv_write(&c->wr, s, &ub, 1, write_done) != 0)
        conn_close(c);
}

static void accept_cb(uv_stream_t *l, int status)
{
    struct metrics *m = l->data;
    if (status < 0)
        return;
    struct mconn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->m = m;
    c->start_ms = time_mono_ms();
    buf_init(&c->out, 64 * 1024);
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    c->next = m->conns;
    if (m->conns)
        m->conns->prev = c;
    m->conns = c;
    m->n_conns++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 || m->n_conns > METRICS_CONNS_MAX ||
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0)
        conn_close(c);
}

int metad_metrics_start(struct metad *d)
{
    struct sockaddr_storage sa;
    if (rpc_addr_parse(d->cfg.metrics, &sa))
        return CAIRN_EINVAL;
    struct metrics *m = calloc(1, sizeof *m);
    if (!m)
        return CAIRN_ENOMEM;
    m->d = d;
    m->last_ms = time_mono_ms();
    uv_tcp_init(&d->loop, &m->listener);
    m->listener.data = m;
    int rc = uv_tcp_bind(&m->listener, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&m->listener, 16, accept_cb);
    d->metrics = m; /* closed by metad_metrics_stop even on failure */
    if (rc) {
        LOG_ERROR(METAD_SUBSYS, "metrics on %s: %s", d->cfg.metrics, uv_strerror(rc));
        return rc == UV_EADDRINUSE ? CAIRN_EADDRINUSE : CAIRN_EINVAL;
    }
    LOG_INFO(METAD_SUBSYS, "metrics on http://%s/metrics", d->cfg.metrics);
    return 0;
}

/* Periodic: the proposal rate, and connections that took too long. */
void metad_metrics_sweep(struct metad *d)
{
    struct metrics *m = d->metrics;
    if (!m)
        return;
    uint64_t now = time_mono_ms();
    if (now > m->last_ms) {
        m->rate = (double)(d->counters.proposals - m->last_proposals) * 1000.0 /
                  (double)(now - m->last_ms);
        m->last_ms = now;
        m->last_proposals = d->counters.proposals;
    }
    for (struct mconn *c = m->conns; c; c = c->next)
        if (now - c->start_ms > METRICS_CONN_MS)
            conn_close(c);
}

static void listener_closed(uv_handle_t *h)
{
    struct metrics *m = h->data;
    m->listener.data = NULL;
    if (!m->n_conns)
        free(m);
}

void metad_metrics_stop(struct metad *d)
{
    struct metrics *m = d->metrics;
    if (!m)
        return;
    d->metrics = NULL;
    m->closing = 1;
    for (struct mconn *c = m->conns; c; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&m->listener, listener_closed);
}
