/*
 * data.c: the data path of a chunk server (docs/chunkd.md): CHUNK_WRITE
 * down a chain of replicas and CHUNK_READ with every block verified, plus
 * the clients to peer chunk servers.
 *
 * A write piece is forwarded to the next replica as soon as it arrives,
 * before this server's own write (pipelining); the reply waits for both and
 * lists one status per replica. The local part runs in the chunk's order
 * (queue.c), so a FLUSH piece is synced after every piece sent before it.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "chunkd/chunkd_int.h"

/* --- peers --------------------------------------------------------------------------- */

struct rpc_client *peer_get(struct chunkd *cd, const uint8_t *addr, size_t len)
{
    if (len == 0 || len > CAIRN_NODE_ADDR_MAX || cd->stopping)
        return NULL;
    for (size_t i = 0; i < cd->n_peers; i++)
        if (strlen(cd->peers[i].addr) == len && memcmp(cd->peers[i].addr, addr, len) == 0)
            return cd->peers[i].c;
    if (cd->n_peers == cd->cap_peers) {
        size_t cap = cd->cap_peers ? cd->cap_peers * 2 : 8;
        struct peer *v = realloc(cd->peers, cap * sizeof *v);
        if (!v)
            return NULL;
        cd->peers = v;
        cd->cap_peers = cap;
    }
    struct peer *p = &cd->peers[cd->n_peers];
    memcpy(p->addr, addr, len);
    p->addr[len] = 0;
    const char *a = p->addr;
    char name[WIRE_CLIENT_NAME_MAX + 1];
    snprintf(name, sizeof name, "chunk-%" PRIu32 "@%.40s", cd->node, cd->cfg.listen);
    struct rpc_client_cfg cc = {.name = name};
    if (rpc_client_new(&cd->loop, &a, 1, &cd->secret, &cc, &p->c))
        return NULL;
    cd->n_peers++;
    return p->c;
}

void peers_close(struct chunkd *cd)
{
    chunkd_fwd_fail_all(cd, CAIRN_SHUTDOWN); /* they point at the clients */
    for (size_t i = 0; i < cd->n_peers; i++)
        rpc_client_close(cd->peers[i].c);
    free(cd->peers);
    cd->peers = NULL;
    cd->n_peers = cd->cap_peers = 0;
}

/* A bad version is reported once (the leader then removes the copy, whose
 * DELETE forgets it here); the scrubber finding it again on its next pass,
 * or another read failing on it, adds nothing. */
void chunkd_note_bad(struct chunkd *cd, uint64_t chunk, uint64_t version, uint32_t block, int err)
{
    if ((uintptr_t)hmap_get(&cd->known_bad, chunk) == version)
        return;
    LOG_WARN(CHUNKD_SUBSYS,
             "bad version chunk=%" PRIu64 " version=%" PRIu64 " block=%" PRIu32 " (%s)", chunk,
             version, block, cairn_err_name(err));
    if (hmap_len(&cd->known_bad) >= CHUNKD_BAD_MAX) {
        hmap_free(&cd->known_bad); /* forget: at worst a copy is reported twice */
        hmap_init(&cd->known_bad);
    }
    hmap_put(&cd->known_bad, chunk, (void *)(uintptr_t)version);
    cd->counters.bad_found++;
    if (cd->n_bad < CHUNKD_BAD_MAX)
        cd->bad[cd->n_bad++] = (struct bad_rec){chunk, version, err < 0 ? err : CAIRN_CORRUPT};
}

/* --- CHUNK_WRITE ----------------------------------------------------------------------- */

struct wop {
    struct op op;
    struct job job;
    struct rpc_req *req;
    uint8_t *payload; /* our copy: m points into it */
    struct wire_chunk_write m;
    int local_rc;
    int local_done;
    int refused; /* the version was dropped here: the job answers STALEVERSION */
    int sealed;  /* refused: its staged version was found at a restart */
    int fwd_done;
    int32_t fwd[CAIRN_GOAL_MAX]; /* statuses of chain[0..n_chain) */
    /* while the forward waits for room in the peer's write queue */
    struct wop *wait_next;
    struct rpc_client *fwd_c;
    uint64_t fwd_deadline_ms; /* uv_now() bound of the whole forward */
};

/* Bytes of a fresh copy of the base past base_length become zeros: the
 * base's TRUNCATE (same version, cut bytes) may not have run here yet, and a
 * cut byte must never come back. Normally the copy is exactly that long. */
static int clip_copy(struct chunkd *cd, uint64_t chunk, uint64_t version, uint32_t base_length)
{
    struct chunk_info v[1 + CAIRN_CHUNK_STAGED_MAX];
    size_t n;
    chunk_stat(cd->store, chunk, v, &n);
    uint64_t len = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].version == version)
            len = v[i].length;
    if (len <= base_length)
        return 0;
    uint8_t *zeros = calloc(1, CAIRN_CHUNK_IO_MAX);
    if (!zeros)
        return CAIRN_ENOMEM;
    int rc = 0;
    for (uint64_t off = base_length; rc == 0 && off < len; off += CAIRN_CHUNK_IO_MAX)
        rc = chunk_write(cd->store, chunk, version, off, zeros,
                         (size_t)CAIRN_MIN((uint64_t)CAIRN_CHUNK_IO_MAX, len - off));
    free(zeros);
    return rc;
}

int chunkd_ensure_staged(struct chunkd *cd, uint64_t chunk, uint64_t version, uint64_t base,
                         uint32_t base_length)
{
    struct chunk_info v[1 + CAIRN_CHUNK_STAGED_MAX];
    size_t n;
    chunk_stat(cd->store, chunk, v, &n);
    uint64_t committed = n && !v[0].staged ? v[0].version : 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].version == version)
            return v[i].staged ? 0 : CAIRN_STALEVERSION; /* committed: not writable */
    if (base && committed != base) {
        int staged_base = 0;
        for (size_t i = 0; i < n; i++)
            staged_base |= v[i].staged && v[i].version == base;
        /* A write based on `base` proves the metadata committed it (CHUNK_ALLOC
         * bases a write on the committed version only): commit it here too if
         * the leader's COMMIT has not arrived yet. */
        if (!staged_base)
            return CAIRN_STALEVERSION;
        int rc = chunk_commit(cd->store, chunk, base);
        if (rc)
            return rc;
    }
    int rc = chunk_stage(cd->store, chunk, version, base);
    if (rc == 0 && base && base_length)
        rc = clip_copy(cd, chunk, version, base_length);
    return rc == CAIRN_EEXIST ? 0 : rc;
}

/* Is (chunk, version) a staged version found at the last restart? Such a
 * version takes no more pieces (chunk.h): a writer that goes on after the
 * restart gets CAIRN_STALEVERSION and leaves this replica out of its chain
 * (or aborts and writes again), never a flush acknowledged over bytes that
 * were lost with the restart. *committable (may be NULL): 0 for a sealed
 * version written after its last flush, which will refuse its COMMIT. */
static int version_sealed(struct chunkd *cd, uint64_t chunk, uint64_t version, int *committable)
{
    struct chunk_info v[1 + CAIRN_CHUNK_STAGED_MAX];
    size_t n;
    chunk_stat(cd->store, chunk, v, &n);
    for (size_t i = 0; i < n; i++)
        if (v[i].version == version) {
            if (committable)
                *committable = !v[i].staged || v[i].committable;
            return v[i].staged && v[i].sealed;
        }
    return 0;
}

/* Bytes held (committed + staged), for the capacity override. */
static uint64_t bytes_held(struct chunkd *cd)
{
    struct chunk_usage u;
    chunk_usage(cd->store, &u);
    return u.bytes + u.staged_bytes;
}

static void write_work(struct job *j)
{
    struct wop *w = j->arg;
    struct chunkd *cd = w->op.cd;
    const struct wire_chunk_write *m = &w->m;
    /* A newer token is durable before this piece can be acknowledged, so a
     * restart never lets an older holder back in. */
    int rc = fence_admit(cd->fences, m->chunk, m->token);
    if (rc == 0 && w->refused)
        rc = CAIRN_STALEVERSION;
    if (rc == 0)
        rc = chunkd_ensure_staged(cd, m->chunk, m->version, m->base_version, m->base_length);
    if (rc == 0 && version_sealed(cd, m->chunk, m->version, NULL)) {
        w->sealed = 1; /* before the capacity check below, which would drop it */
        rc = CAIRN_STALEVERSION;
    }
    if (rc == 0 && m->data.len && cd->cfg.capacity &&
        bytes_held(cd) + m->data.len > cd->cfg.capacity) {
        chunk_abort(cd->store, m->chunk, m->version); /* as a full disk: the staged copy goes */
        rc = CAIRN_ENOSPC;
    }
    if (rc == 0 && m->data.len)
        rc = chunk_write(cd->store, m->chunk, m->version, m->offset, m->data.p, m->data.len);
    if (rc == 0 && (m->flags & WIRE_CHUNK_WRITE_FLUSH))
        rc = chunk_flush(cd->store, m->chunk, m->version);
    j->rc = rc;
}

static void wop_finish(struct wop *w)
{
    if (!w->local_done || !w->fwd_done)
        return;
    struct chunkd *cd = w->op.cd;
    struct wire_chunk_write_reply r = {.n = (uint8_t)(1 + w->m.n_chain)};
    r.status[0] = w->local_rc;
    for (uint8_t i = 0; i < w->m.n_chain; i++)
        r.status[1 + i] = w->fwd[i];
    buf_reset(&cd->scratch);
    int rc = wire_chunk_write_reply_encode(&cd->scratch, &r);
    if (rc)
        rpc_reply_error(w->req, rc, NULL);
    else
        rpc_reply(w->req, WIRE_CHUNK_WRITE_REPLY, cd->scratch.data, cd->scratch.len);
    cd->counters.writes++;
    free(w->payload);
    free(w);
}

static void write_after(struct job *j)
{
    struct wop *w = j->arg;
    struct chunkd *cd = w->op.cd;
    w->local_rc = j->rc;
    w->local_done = 1;
    if (j->rc == CAIRN_ENOSPC) /* write_work removed the staged copy */
        chunkd_note_dropped(cd, w->m.chunk, w->m.version);
    if (w->sealed)
        cd->counters.sealed_refused++;
    if (j->rc && j->rc != CAIRN_STALEVERSION && j->rc != CAIRN_FENCED)
        LOG_WARN(CHUNKD_SUBSYS, "write chunk=%" PRIu64 " version=%" PRIu64 " off=%" PRIu64 ": %s",
                 w->m.chunk, w->m.version, w->m.offset, cairn_err_name(j->rc));
    cq_done(cd, &w->op);
    wop_finish(w);
}

/* Remembered so a write piece arriving after its version was dropped (a
 * late piece of an aborted write) cannot stage that version again: it would
 * stay as an orphan until the next full report. Only version 1 is: the
 * metadata gives every new chunk a fresh id, so (chunk, 1) is never
 * allocated twice; a later version is allocated again, the same number, by
 * the retry after an abort (committed + 1, src/meta/data.c), and a late
 * piece cannot be told from the retry's pieces here. */
void chunkd_note_dropped(struct chunkd *cd, uint64_t chunk, uint64_t version)
{
    if (version != 1 || hmap_contains(&cd->dropped, chunk))
        return;
    if (hmap_len(&cd->dropped) >= CHUNKD_DROPPED_MAX) {
        hmap_free(&cd->dropped); /* forgetting only lets the next report clean up */
        hmap_init(&cd->dropped);
    }
    hmap_put(&cd->dropped, chunk, (void *)(uintptr_t)version);
}

static void write_start(struct op *op)
{
    struct wop *w = (struct wop *)op;
    /* Checked at the head of the chunk's order: a DROP queued before this
     * piece has run by now. */
    if (w->m.version == 1 && hmap_contains(&op->cd->dropped, w->m.chunk)) {
        w->refused = 1;
        op->cd->counters.dropped_refused++;
    }
    w->job = (struct job){.work = write_work, .after = write_after, .arg = w};
    job_start(op->cd, &w->job);
}

/* The forward of w ended with status (0: reply holds the statuses of the
 * rest of the chain). A transport failure names only chain[0] as failed by
 * its own error; the replicas behind it are unknown (CAIRN_UNAVAILABLE):
 * this chain loses them, the leader restores the replica count later. */
static void fwd_end(struct wop *w, int status, const struct rpc_msg *reply)
{
    uint8_t n = w->m.n_chain;
    struct wire_chunk_write_reply r;
    if (status == 0 &&
        (wire_chunk_write_reply_decode(reply->payload, reply->len, &r) || r.n != n)) {
        status = CAIRN_BADMSG;
    }
    for (uint8_t i = 0; i < n; i++) {
        if (status == 0)
            w->fwd[i] = r.status[i];
        else
            w->fwd[i] = i == 0 && status != CAIRN_CLOSED && status != CAIRN_ETIMEDOUT &&
                                status != CAIRN_SHUTDOWN
                            ? status
                            : CAIRN_UNAVAILABLE;
    }
    w->fwd_done = 1;
    wop_finish(w);
}

static void fwd_cb(struct rpc_client *c, int status, const struct rpc_msg *reply, void *arg)
{
    (void)c;
    fwd_end(arg, status, reply);
}

/* Deadline of a forward from a server with `below` replicas under it (see
 * CAIRN_CHUNK_FORWARD_MS): each hop waits CAIRN_CHUNK_FORWARD_STEP_MS less
 * than its caller, so a stalled replica is blamed by the server just above
 * it, which still answers its own caller in time. */
static uint32_t fwd_timeout_ms(uint8_t below)
{
    CAIRN_ASSERT(below >= 1 && below < CAIRN_GOAL_MAX);
    return CAIRN_CHUNK_FORWARD_MS - (CAIRN_GOAL_MAX - 1u - below) * CAIRN_CHUNK_FORWARD_STEP_MS;
}

/* Try to send w's piece now. CAIRN_EBUSY: the peer's write queue is full
 * (back-pressure, not a failure: the caller keeps the piece waiting). Any
 * other error ends the forward. */
static int fwd_send(struct chunkd *cd, struct wop *w)
{
    uint64_t now = uv_now(&cd->loop);
    if (now >= w->fwd_deadline_ms)
        return CAIRN_ETIMEDOUT;
    struct wire_chunk_write f = w->m;
    f.n_chain = (uint8_t)(w->m.n_chain - 1);
    for (uint8_t i = 0; i < f.n_chain; i++)
        f.chain[i] = w->m.chain[i + 1];
    buf_reset(&cd->scratch);
    int rc = wire_chunk_write_encode(&cd->scratch, &f);
    if (rc == 0)
        rc = rpc_call(w->fwd_c, WIRE_CHUNK_WRITE, cd->scratch.data, cd->scratch.len,
                      (uint32_t)(w->fwd_deadline_ms - now), fwd_cb, w);
    return rc;
}

static int fwd_waiting_for(const struct chunkd *cd, const struct rpc_client *c)
{
    for (const struct wop *q = cd->fwd_wait; q; q = q->wait_next)
        if (q->fwd_c == c)
            return 1;
    return 0;
}

/* The timer: send waiting pieces in arrival order, per peer (a FLUSH piece
 * must reach the next replica after the pieces before it); a peer still
 * busy keeps the rest of its pieces waiting. */
static void fwd_retry_cb(uv_timer_t *t)
{
    struct chunkd *cd = t->data;
    struct rpc_client *busy[CAIRN_GOAL_MAX * 8];
    size_t n_busy = 0;
    struct wop **pp = &cd->fwd_wait;
    while (*pp) {
        struct wop *w = *pp;
        int blocked = 0;
        for (size_t i = 0; i < n_busy; i++)
            blocked |= busy[i] == w->fwd_c;
        int rc = blocked ? CAIRN_EBUSY : fwd_send(cd, w);
        if (rc == CAIRN_EBUSY) {
            if (!blocked && n_busy < CAIRN_ARRAY_LEN(busy))
                busy[n_busy++] = w->fwd_c;
            if (!blocked && n_busy == CAIRN_ARRAY_LEN(busy))
                break; /* the rest waits for the next tick */
            pp = &w->wait_next;
            continue;
        }
        *pp = w->wait_next;
        cd->fwd_wait_n--;
        if (rc)
            fwd_end(w, rc, NULL);
    }
    if (cd->fwd_wait && !cd->stopping)
        uv_timer_start(&cd->fwd_timer, fwd_retry_cb, CHUNKD_FWD_RETRY_MS, 0);
}

/* Keep w waiting for room in its peer's queue (bounded: beyond
 * CHUNKD_FWD_WAIT_MAX pieces the forward fails with CAIRN_EBUSY). */
static int fwd_wait(struct chunkd *cd, struct wop *w)
{
    if (cd->fwd_wait_n >= CHUNKD_FWD_WAIT_MAX || cd->stopping)
        return cd->stopping ? CAIRN_SHUTDOWN : CAIRN_EBUSY;
    struct wop **pp = &cd->fwd_wait;
    while (*pp)
        pp = &(*pp)->wait_next;
    w->wait_next = NULL;
    *pp = w;
    cd->fwd_wait_n++;
    cd->counters.fwd_waits++;
    if (!uv_is_active((uv_handle_t *)&cd->fwd_timer))
        uv_timer_start(&cd->fwd_timer, fwd_retry_cb, CHUNKD_FWD_RETRY_MS, 0);
    return 0;
}

void chunkd_fwd_fail_all(struct chunkd *cd, int status)
{
    while (cd->fwd_wait) {
        struct wop *w = cd->fwd_wait;
        cd->fwd_wait = w->wait_next;
        cd->fwd_wait_n--;
        fwd_end(w, status, NULL);
    }
}

/* Send the piece on to chain[0] with the rest of the chain. A full write
 * queue toward the peer makes the piece wait (behind any piece already
 * waiting for that peer, to keep their order); only a real failure drops
 * the replicas below. */
static void forward(struct chunkd *cd, struct wop *w)
{
    w->fwd_c = peer_get(cd, w->m.chain[0].p, w->m.chain[0].len);
    w->fwd_deadline_ms = uv_now(&cd->loop) + fwd_timeout_ms(w->m.n_chain);
    int rc = CAIRN_UNAVAILABLE;
    if (w->fwd_c)
        rc = fwd_waiting_for(cd, w->fwd_c) ? CAIRN_EBUSY : fwd_send(cd, w);
    if (rc == CAIRN_EBUSY)
        rc = fwd_wait(cd, w);
    if (rc) {
        for (uint8_t i = 0; i < w->m.n_chain; i++)
            w->fwd[i] = i == 0 && rc == CAIRN_EBUSY ? CAIRN_EBUSY : CAIRN_UNAVAILABLE;
        w->fwd_done = 1;
    }
}

static void on_write(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                     void *arg)
{
    struct chunkd *cd = arg;
    struct wop *w = calloc(1, sizeof *w);
    uint8_t *copy = malloc(msg->len ? msg->len : 1);
    int rc = w && copy ? 0 : CAIRN_ENOMEM;
    if (rc == 0) {
        memcpy(copy, msg->payload, msg->len);
        rc = wire_chunk_write_decode(copy, msg->len, &w->m);
    }
    if (rc || cd->stopping) {
        rpc_reply_error(req, rc ? rc : CAIRN_SHUTDOWN, rc ? "bad CHUNK_WRITE" : NULL);
        free(w);
        free(copy);
        return;
    }
    w->req = req;
    w->payload = copy;
    w->op.cd = cd;
    w->op.chunk = w->m.chunk;
    w->op.start = write_start;
    w->fwd_done = w->m.n_chain == 0;
    if (!w->fwd_done)
        forward(cd, w); /* before our own write: pipelining */
    /* The fencing token is checked by the job, in the chunk's order (fence.h). */
    rc = cd->accept_writes ? 0 : CAIRN_UNAVAILABLE;
    if (rc) {
        w->local_rc = rc;
        w->local_done = 1;
        wop_finish(w);
        return;
    }
    cq_push(cd, &w->op);
}

/* --- CHUNK_READ ---------------------------------------------------------------------------- */

struct rop {
    struct job job;
    struct chunkd *cd;
    struct rpc_req *req;
    struct wire_chunk_read m;
    uint8_t *buf; /* WIRE_CHUNK_READ_REPLY_HDR + len */
    struct chunk_read_result res;
};

static void read_work(struct job *j)
{
    struct rop *r = j->arg;
    uint8_t *p = r->buf + WIRE_CHUNK_READ_REPLY_HDR;
    j->rc = chunk_read(r->cd->store, r->m.chunk, r->m.version, r->m.offset, p, r->m.len,
                       r->m.flags & WIRE_CHUNK_READ_STAGED ? CHUNK_READ_STAGED : 0, &r->res);
    /* Committed in the metadata, still staged here (its COMMIT is on its
     * way): readers are only told about committed versions. The committed
     * name is looked up again after the staged one, so a read racing with
     * the commit's rename (either way round) finds the version it holds. */
    int committable = 1;
    if (j->rc == CAIRN_STALEVERSION && !(r->m.flags & WIRE_CHUNK_READ_STAGED)) {
        /* Not a copy that would refuse its COMMIT (sealed, written after its
         * last flush): its bytes are not the committed ones. */
        version_sealed(r->cd, r->m.chunk, r->m.version, &committable);
        if (committable)
            j->rc = chunk_read(r->cd->store, r->m.chunk, r->m.version, r->m.offset, p, r->m.len,
                               CHUNK_READ_STAGED, &r->res);
    }
    if (j->rc == CAIRN_STALEVERSION) /* the COMMIT ran between the reads */
        j->rc = chunk_read(r->cd->store, r->m.chunk, r->m.version, r->m.offset, p, r->m.len, 0,
                           &r->res);
}

static void read_after(struct job *j)
{
    struct rop *r = j->arg;
    struct chunkd *cd = r->cd;
    cd->counters.reads++;
    if (j->rc == CAIRN_CORRUPT)
        chunkd_note_bad(cd, r->m.chunk, r->m.version, r->res.bad_block, j->rc);
    if (j->rc) {
        rpc_reply_error(r->req, j->rc, NULL);
    } else {
        wire_store_u64(r->buf, r->res.length);
        wire_store_u32(r->buf + 8, (uint32_t)r->res.got);
        rpc_reply(r->req, WIRE_CHUNK_READ_REPLY, r->buf, WIRE_CHUNK_READ_REPLY_HDR + r->res.got);
    }
    free(r->buf);
    free(r);
}

static void on_read(struct rpc_server *srv, struct rpc_req *req, const struct rpc_msg *msg,
                    void *arg)
{
    struct chunkd *cd = arg;
    struct rop *r = calloc(1, sizeof *r);
    int rc = r ? wire_chunk_read_decode(msg->payload, msg->len, &r->m) : CAIRN_ENOMEM;
    if (rc == 0 && !(r->buf = malloc(WIRE_CHUNK_READ_REPLY_HDR + r->m.len)))
        rc = CAIRN_ENOMEM;
    if (rc || cd->stopping) {
        rpc_reply_error(req, rc ? rc : CAIRN_SHUTDOWN, NULL);
        if (r)
            free(r->buf);
        free(r);
        return;
    }
    r->cd = cd;
    r->req = req;
    r->job = (struct job){.work = read_work, .after = read_after, .arg = r};
    job_start(cd, &r->job);
}

int data_attach(struct chunkd *cd)
{
    int rc = rpc_server_handle(cd->srv, WIRE_CHUNK_WRITE, 0, on_write, cd);
    if (rc == 0)
        rc = rpc_server_handle(cd->srv, WIRE_CHUNK_READ, 0, on_read, cd);
    return rc;
}
