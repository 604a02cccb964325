/* data_write.c: chunk writes, the client's half of DESIGN.md §6's two-phase
 * commit (see file.h "Writes" for the story, data_int.h for the shape).
 *
 * A chunk write holds its pieces in order. Pieces are sent in that order
 * with up to dc->window in flight; a piece never overtakes an earlier one it
 * overlaps (a chunk server may run two writes of one chunk in either order),
 * and the FLUSH goes only once every data piece is acked by every replica
 * still in the chain. A replica that answers an error is left out of the
 * chain for good (it missed a piece: the commit must not name it); a
 * transport error blames the head. With nobody left, or when the commit
 * finds the pending write gone, the write is aborted and allocated again,
 * and every piece is sent again to the new replicas. */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "client/data_int.h"
#include "common/assert.h"
#include "common/log.h"
#include "common/time.h"
#include "meta/cmd.h"
#include "wire/msg_chunk.h"

/* Allocation retry backoff: doubles from the minimum to the maximum. */
#define DW_BACKOFF_MIN_MS 100u
#define DW_BACKOFF_MAX_MS 2000u
/* Wait between allocations refused with EBUSY (another pending write on
 * the chunk: a crashed writer's, until its deadline aborts it). */
#define DW_BUSY_RETRY_MS 500u

/* One CHUNK_WRITE in flight. */
struct dc_wcall {
    struct dwrite *w;
    struct dc_piece *p;
    struct dc_node *head; /* nodes are never freed while calls are out */
    uint32_t epoch;
    uint32_t sent; /* the chain it was sent to: bits of w->nodes */
};

static int lowest_bit(uint32_t m)
{
    CAIRN_ASSERT(m != 0);
    return __builtin_ctz(m);
}

static struct dc_piece *piece_new(uint32_t off, const uint8_t *p, uint32_t len, uint8_t flags)
{
    struct dc_piece *pc = malloc(sizeof *pc + len);
    if (!pc)
        return NULL;
    pc->next = NULL;
    pc->off = off;
    pc->len = len;
    pc->flags = flags;
    pc->state = DC_QUEUED;
    if (len)
        memcpy(pc->data, p, len);
    return pc;
}

static void piece_append(struct dwrite *w, struct dc_piece *pc)
{
    if (w->tail)
        w->tail->next = pc;
    else
        w->head = pc;
    w->tail = pc;
    if (!w->first_unacked)
        w->first_unacked = pc;
}

static struct dwrite *dw_new(struct datafile *f, uint32_t index)
{
    struct dwrite *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->f = f;
    w->index = index;
    w->state = DW_ALLOC;
    return w;
}

static void dw_free(struct dwrite *w)
{
    CAIRN_ASSERT(w->calls_out == 0);
    for (struct dc_piece *p = w->head, *n; p; p = n) {
        n = p->next;
        free(p);
    }
    free(w);
}

/* Every piece goes back to the queue (a new allocation, a new chain). */
static void dw_requeue_all(struct dwrite *w)
{
    for (struct dc_piece *p = w->head; p; p = p->next)
        p->state = DC_QUEUED;
    w->first_unacked = w->head;
    w->inflight = 0;
}

static uint64_t dw_backoff_ms(struct dwrite *w)
{
    uint32_t shift = CAIRN_MIN(w->attempts, 5u);
    uint64_t step = CAIRN_MIN((uint64_t)DW_BACKOFF_MIN_MS << shift, (uint64_t)DW_BACKOFF_MAX_MS);
    return step / 2 + prng_below(&w->f->dc->rng, step / 2 + 1);
}

static void dw_fail(struct dwrite *w, int err)
{
    struct datafile *f = w->f;
    w->state = DW_FAILED;
    w->err = err ? err : CAIRN_EIO;
    LOG_WARN("client", "write of inode %llu chunk index %u failed: %s", (unsigned long long)f->ino,
             w->index, cairn_err_name(w->err));
    if (!f->err)
        f->err = w->err;
}

/* Abort the pending write (best effort: if this fails, its deadline does
 * it), so the chunk is free for other writers at once. */
static void dw_abort(struct dwrite *w, int err)
{
    struct dataclient *dc = w->f->dc;
    if (!w->version)
        return;
    struct meta_hdr h;
    dc_hdr(dc, &h);
    buf_reset(&dc->cmd);
    if (meta_cmd_chunk_abort(&dc->cmd, &h, w->f->ino, w->index, w->chunk, w->version) == 0)
        metaclient_mutate_sync(dc->mc, dc->cmd.data, dc->cmd.len, NULL, NULL);
    dc->st.aborts++;
    LOG_INFO("client", "inode %llu chunk %llu v%llu: write aborted (%s)",
             (unsigned long long)w->f->ino, (unsigned long long)w->chunk,
             (unsigned long long)w->version, cairn_err_name(err));
    w->version = 0;
}

/* Abort and go back to allocation after a backoff; stale calls of the old
 * epoch are ignored when they complete. */
static void dw_restart(struct dwrite *w, int err)
{
    struct dataclient *dc = w->f->dc;
    w->err = err;
    dw_abort(w, err);
    w->epoch++;
    w->alive = 0;
    dw_requeue_all(w);
    w->state = DW_ALLOC;
    w->retry_ms = dc_now_ms(dc) + dw_backoff_ms(w);
}

/* The base version of a rewrite and its length: the chunk's committed
 * version, which the pending write now pins. Versions are not consecutive
 * (an aborted attempt's version is never handed out again: meta/data.c), so
 * the cache answers only when its entry is the version just below ours
 * (nothing can have been committed in between); else the map is asked. */
static int dw_base_len(struct dwrite *w)
{
    struct datafile *f = w->f;
    const struct dc_loc *l = w->index < f->n_locs ? &f->locs[w->index] : NULL;
    if (l && l->valid && l->c.id == w->chunk && l->c.version + 1 == w->version) {
        w->base = l->c.version;
        w->base_len = l->c.length;
        return 0;
    }
    struct datafile_chunk c;
    int rc = dataclient_chunk_info(f->dc, f->ino, w->index, &c);
    if (rc)
        return rc;
    if (c.id != w->chunk || c.version == 0 || c.version >= w->version)
        return CAIRN_STALEVERSION;
    w->base = c.version;
    w->base_len = c.length;
    return dc_loc_set(f, w->index, &c);
}

/* Decode an alloc reply and take its replica set (nodes the table does not
 * know are left out). */
static int dw_take_alloc(struct dwrite *w, const struct cairn_buf *reply)
{
    struct wire_dec d;
    wire_dec_init(&d, reply->data + 4, reply->len - 4);
    w->chunk = wire_get_u64(&d);
    w->version = wire_get_u64(&d);
    w->n = wire_get_u8(&d);
    if (d.err || w->n == 0 || w->n > CAIRN_GOAL_MAX || w->version == 0)
        return CAIRN_BADMSG;
    for (uint8_t i = 0; i < w->n; i++)
        w->nodes[i] = wire_get_u32(&d);
    int rc = wire_dec_finish(&d);
    if (rc)
        return rc;
    w->alive = 0;
    for (uint8_t i = 0; i < w->n; i++)
        if (dc_node_get(w->f->dc, w->nodes[i]))
            w->alive |= 1u << i;
    w->base = 0; /* version 1: a new chunk */
    w->base_len = 0;
    return w->version > 1 ? dw_base_len(w) : 0;
}

/* Is a refused allocation worth another try? */
static int alloc_transient(int rc)
{
    return rc == CAIRN_UNAVAILABLE || rc == CAIRN_NOQUORUM || rc == CAIRN_EAGAIN ||
           rc == CAIRN_LIMIT || rc == CAIRN_ETIMEDOUT || rc == CAIRN_NOTLEADER ||
           rc == CAIRN_SESSION || rc == CAIRN_CLOSED;
}

/* CHUNK_ALLOC with no replicas: the leader's placement picks them. */
static void dw_alloc(struct dwrite *w)
{
    struct dataclient *dc = w->f->dc;
    uint64_t now = dc_now_ms(dc);
    if (w->attempts >= dc->attempts) {
        dw_fail(w, w->err);
        return;
    }
    struct meta_hdr h;
    dc_hdr(dc, &h);
    buf_reset(&dc->cmd);
    buf_reset(&dc->reply);
    uint64_t deadline = time_wall_ns() + (uint64_t)dc->deadline_ms * CAIRN_NS_PER_MS;
    int rc = w->f->fence
                 ? meta_cmd_chunk_alloc_fenced(&dc->cmd, &h, w->f->fence, w->f->ino, w->index,
                                               deadline, NULL, 0)
                 : meta_cmd_chunk_alloc(&dc->cmd, &h, w->f->ino, w->index, deadline, NULL, 0);
    if (rc == 0)
        rc = metaclient_mutate_sync(dc->mc, dc->cmd.data, dc->cmd.len, &dc->reply, NULL);
    if (rc == CAIRN_EBUSY) {
        /* Not an attempt of ours: wait out the other writer's deadline. */
        w->busy_since = w->busy_since ? w->busy_since : CAIRN_MAX(now, (uint64_t)1);
        if (now - w->busy_since > (uint64_t)dc->deadline_ms + 10000u) {
            dw_fail(w, rc);
            return;
        }
        w->retry_ms = now + DW_BUSY_RETRY_MS;
        return;
    }
    w->busy_since = 0;
    w->attempts++;
    if (rc == 0) {
        dc->st.allocs++;
        rc = dw_take_alloc(w, &dc->reply);
        if (rc == 0 && w->alive == 0)
            rc = CAIRN_UNAVAILABLE;
        if (rc) {
            dw_restart(w, rc);
            return;
        }
        w->epoch++;
        dw_requeue_all(w);
        w->state = DW_STREAM;
        w->alloc_ms = now;
        return;
    }
    if (!alloc_transient(rc)) {
        dw_fail(w, rc);
        return;
    }
    w->err = rc;
    w->retry_ms = now + dw_backoff_ms(w);
}

static int reply_fenced(const struct wire_chunk_write_reply *r)
{
    for (uint8_t i = 0; i < r->n; i++)
        if (r->status[i] == CAIRN_FENCED)
            return 1;
    return 0;
}

/* Completion of a CHUNK_WRITE: who acked, who drops out of the chain. */
static void dw_on_reply(struct rpc_client *c, int status, const struct rpc_msg *reply, void *arg)
{
    (void)c;
    struct dc_wcall *call = arg;
    struct dwrite *w = call->w;
    struct dataclient *dc = w->f->dc;
    w->calls_out--;
    dc->calls_out--;
    call->head->head_bytes -= call->p->len;
    if (call->epoch != w->epoch || w->state != DW_STREAM) {
        free(call);
        return;
    }
    w->inflight--;
    struct dc_piece *p = call->p;
    struct wire_chunk_write_reply r;
    if (status == 0 && (reply->type != WIRE_CHUNK_WRITE_REPLY ||
                        wire_chunk_write_reply_decode(reply->payload, reply->len, &r) != 0 ||
                        r.n != (uint8_t)__builtin_popcount(call->sent)))
        status = CAIRN_BADMSG;
    if (status == CAIRN_FENCED || (status == 0 && reply_fenced(&r))) {
        /* A newer lock holder wrote the chunk: no other replica or
         * allocation may take these bytes (dw_pump aborts the write). */
        p->state = DC_QUEUED;
        dw_fail(w, CAIRN_FENCED);
        free(call);
        return;
    }
    if (status != 0) {
        int head = lowest_bit(call->sent);
        struct dc_node *n = hmap_get(&dc->nodes, w->nodes[head]);
        if (n)
            dc_node_failed(dc, n, status);
        if (w->alive & (1u << head)) {
            w->alive &= ~(1u << head);
            dc->st.replicas_dropped++;
            LOG_INFO("client", "chunk %llu v%llu: head node %u left out of the chain: %s",
                     (unsigned long long)w->chunk, (unsigned long long)w->version, w->nodes[head],
                     cairn_err_name(status));
        }
        w->err = status;
        p->state = DC_QUEUED;
    } else {
        uint8_t j = 0;
        for (uint32_t i = 0; i < w->n; i++) {
            if (!(call->sent & (1u << i)))
                continue;
            int st = r.status[j++];
            if (st != 0 && (w->alive & (1u << i))) {
                w->alive &= ~(1u << i);
                dc->st.replicas_dropped++;
                w->err = st;
                LOG_INFO("client", "chunk %llu v%llu: node %u left out of the chain: %s",
                         (unsigned long long)w->chunk, (unsigned long long)w->version, w->nodes[i],
                         cairn_err_name(st));
            }
        }
        p->state = w->alive ? DC_ACKED : DC_QUEUED;
    }
    if (w->alive == 0)
        LOG_INFO("client", "chunk %llu v%llu: no replica left in the chain (%s)",
                 (unsigned long long)w->chunk, (unsigned long long)w->version,
                 cairn_err_name(w->err));
    free(call);
}

/* Send one piece to the head of the chain, the rest of the chain in it. */
static int dw_send_piece(struct dwrite *w, struct dc_piece *p)
{
    struct dataclient *dc = w->f->dc;
    int head = lowest_bit(w->alive);
    struct dc_node *hn = hmap_get(&dc->nodes, w->nodes[head]);
    struct rpc_client *rpc = hn ? dc_node_rpc(dc, hn) : NULL;
    if (!rpc)
        return CAIRN_ENOMEM;
    if (hn->head_bytes && hn->head_bytes + p->len > CAIRN_DATACLIENT_HEAD_BYTES_MAX)
        return CAIRN_EBUSY;
    struct wire_chunk_write m = {.chunk = w->chunk,
                                 .version = w->version,
                                 .base_version = w->base,
                                 .base_length = w->base_len,
                                 .offset = p->off,
                                 .flags = p->flags,
                                 .token = w->f->fence,
                                 .data = {p->data, p->len}};
    for (uint32_t i = (uint32_t)head + 1; i < w->n; i++) {
        if (!(w->alive & (1u << i)))
            continue;
        struct dc_node *n = hmap_get(&dc->nodes, w->nodes[i]);
        CAIRN_ASSERT(n); /* resolved at allocation; nodes are never removed */
        m.chain[m.n_chain++] =
            (struct wire_bytes){(const uint8_t *)n->addr, (uint32_t)strlen(n->addr)};
    }
    buf_reset(&dc->payload);
    int rc = wire_chunk_write_encode(&dc->payload, &m);
    if (rc)
        return rc;
    struct dc_wcall *call = malloc(sizeof *call);
    if (!call)
        return CAIRN_ENOMEM;
    *call = (struct dc_wcall){w, p, hn, w->epoch, w->alive};
    rc = rpc_call(rpc, WIRE_CHUNK_WRITE, dc->payload.data, dc->payload.len, dc->io_ms, dw_on_reply,
                  call);
    if (rc) {
        free(call);
        return rc;
    }
    p->state = DC_INFLIGHT;
    hn->head_bytes += p->len;
    w->inflight++;
    w->calls_out++;
    dc->calls_out++;
    dc->st.pieces_sent++;
    return 0;
}

static int overlaps(const struct dc_piece *a, const struct dc_piece *b)
{
    return a->off < b->off + b->len && b->off < a->off + a->len;
}

/* Leave out of the chain the replicas whose connection is known to fail
 * (refused, or a call timed out lately): a dead server then costs this
 * check instead of a timeout per attempt. */
static void dw_drop_suspects(struct dwrite *w)
{
    struct dataclient *dc = w->f->dc;
    for (uint32_t i = 0; i < w->n; i++) {
        if (!(w->alive & (1u << i)))
            continue;
        struct dc_node *n = hmap_get(&dc->nodes, w->nodes[i]);
        if (n && dc_node_suspect(dc, n)) {
            w->alive &= ~(1u << i);
            dc->st.replicas_dropped++;
            w->err = CAIRN_UNAVAILABLE;
            LOG_INFO("client", "chunk %llu v%llu: node %u left out of the chain: unreachable",
                     (unsigned long long)w->chunk, (unsigned long long)w->version, n->id);
        }
    }
}

/* Send queued pieces in order while the window has room (see the top). */
static void dw_send(struct dwrite *w)
{
    struct dataclient *dc = w->f->dc;
    struct dc_piece *pend[CAIRN_DATACLIENT_WINDOW_MAX];
    uint32_t k = 0;
    dw_drop_suspects(w);
    while (w->first_unacked && w->first_unacked->state == DC_ACKED)
        w->first_unacked = w->first_unacked->next;
    for (struct dc_piece *p = w->first_unacked; p && w->inflight < dc->window && w->alive;
         p = p->next) {
        if (p->state == DC_ACKED)
            continue;
        if (p->state == DC_INFLIGHT) {
            pend[k++] = p;
            continue;
        }
        if ((p->flags & WIRE_CHUNK_WRITE_FLUSH) && k > 0)
            break;
        int blocked = 0;
        for (uint32_t i = 0; i < k && !blocked; i++)
            blocked = overlaps(pend[i], p);
        if (blocked)
            break;
        int rc = dw_send_piece(w, p);
        if (rc == CAIRN_EBUSY)
            break; /* the connection's window is full: next turn */
        if (rc) {
            w->err = rc;
            w->alive = 0;
            break;
        }
        pend[k++] = p;
    }
}

/* The commit point: CHUNK_COMMIT naming the replicas left in the chain. */
static void dw_commit(struct dwrite *w)
{
    struct datafile *f = w->f;
    struct dataclient *dc = f->dc;
    struct datafile_chunk c = {.id = w->chunk, .version = w->version};
    c.length = CAIRN_MAX(w->base_len, w->end);
    for (uint32_t i = 0; i < w->n; i++)
        if (w->alive & (1u << i))
            c.replicas[c.n_replicas++] = w->nodes[i];
    struct meta_hdr h;
    dc_hdr(dc, &h);
    buf_reset(&dc->cmd);
    buf_reset(&dc->reply);
    struct metaclient_result res = {0};
    int rc = meta_cmd_chunk_commit(&dc->cmd, &h, f->ino, w->index, w->chunk, w->version, c.length,
                                   c.replicas, c.n_replicas);
    if (rc == 0)
        rc = metaclient_mutate_sync(dc->mc, dc->cmd.data, dc->cmd.len, &dc->reply, &res);
    struct meta_attr a;
    if (rc == 0 && meta_reply_attr(dc->reply.data, dc->reply.len, &a) == 0 && a.ino == f->ino)
        f->attr = a;
    if (rc && res.outcome == METACLIENT_UNKNOWN) {
        /* Maybe applied: the map says. */
        struct datafile_chunk now;
        if (dataclient_chunk_info(dc, f->ino, w->index, &now) == 0 && now.id == w->chunk &&
            now.version == w->version) {
            rc = 0;
            if (dc_getattr(dc, f->ino, &a) == 0)
                f->attr = a;
        }
    }
    if (rc == 0) {
        dc->st.commits++;
        dc_locs_unbound(f);
        dc_loc_set(f, w->index, &c);
        w->state = DW_DONE;
        return;
    }
    if (rc == CAIRN_ENOENT || rc == CAIRN_EACCES || rc == CAIRN_EPERM || rc == CAIRN_EINVAL ||
        rc == CAIRN_FENCED)
        dw_fail(w, rc);
    else
        dw_restart(w, rc);
}

/* One step of a chunk write. */
static void dw_pump(struct dwrite *w)
{
    struct dataclient *dc = w->f->dc;
    uint64_t now = dc_now_ms(dc);
    if (w->state == DW_FAILED && w->err == CAIRN_FENCED)
        dw_abort(w, w->err); /* refused in a callback, which may not call the leader */
    if (w->state == DW_ALLOC) {
        if (now < w->retry_ms) {
            dc_wake_at(dc, w->retry_ms);
            return;
        }
        dw_alloc(w);
        if (w->state == DW_ALLOC)
            dc_wake_at(dc, w->retry_ms);
    }
    if (w->state != DW_STREAM)
        return;
    if (w->alive == 0) {
        dw_restart(w, w->err ? w->err : CAIRN_UNAVAILABLE);
        dc_wake_at(dc, w->retry_ms);
        return;
    }
    /* Commit well before the deadline aborts the pending write. */
    if (!w->commit_wanted && w->head && now - w->alloc_ms > dc->deadline_ms / 2)
        w->commit_wanted = true;
    if (w->commit_wanted && !(w->tail && (w->tail->flags & WIRE_CHUNK_WRITE_FLUSH))) {
        struct dc_piece *fl = piece_new(0, NULL, 0, WIRE_CHUNK_WRITE_FLUSH);
        if (!fl) {
            dw_fail(w, CAIRN_ENOMEM);
            return;
        }
        piece_append(w, fl);
    }
    dw_send(w);
    if (w->tail && (w->tail->flags & WIRE_CHUNK_WRITE_FLUSH) && w->tail->state == DC_ACKED)
        dw_commit(w);
}

/* Remove finished writes from the handle (into the zombie list while calls
 * of theirs are out) and free zombies whose calls are all back. */
static void dw_reap(struct datafile *f)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < f->n_w; i++) {
        struct dwrite *w = f->w[i];
        if (w->state != DW_DONE && w->state != DW_FAILED) {
            f->w[k++] = w;
            continue;
        }
        w->next = f->zombies;
        f->zombies = w;
    }
    f->n_w = k;
    for (struct dwrite **pp = &f->zombies; *pp;) {
        struct dwrite *w = *pp;
        if (w->calls_out == 0) {
            *pp = w->next;
            dw_free(w);
        } else {
            pp = &w->next;
        }
    }
}

int dw_pump_all(struct datafile *f)
{
    for (uint32_t i = 0; i < f->n_w; i++)
        dw_pump(f->w[i]);
    dw_reap(f);
    return f->err;
}

int dw_any_queued(const struct datafile *f)
{
    for (uint32_t i = 0; i < f->n_w; i++) {
        const struct dwrite *w = f->w[i];
        for (const struct dc_piece *p = w->first_unacked; p; p = p->next)
            if (p->state == DC_QUEUED && !(p->flags & WIRE_CHUNK_WRITE_FLUSH))
                return 1;
    }
    return 0;
}

static int dw_present(const struct datafile *f, const struct dwrite *w)
{
    for (uint32_t i = 0; i < f->n_w; i++)
        if (f->w[i] == w)
            return 1;
    return 0;
}

/* Commit w and wait until it has left the handle (committed or failed). */
static int dw_finish(struct datafile *f, struct dwrite *w)
{
    w->commit_wanted = true;
    for (;;) {
        dw_pump_all(f);
        if (!dw_present(f, w))
            return f->err;
        dc_wait_once(f->dc);
    }
}

int dw_commit_all(struct datafile *f)
{
    for (uint32_t i = 0; i < f->n_w; i++)
        f->w[i]->commit_wanted = true;
    for (;;) {
        dw_pump_all(f);
        if (f->n_w == 0)
            return f->err;
        dc_wait_once(f->dc);
    }
}

void dw_drain(struct datafile *f)
{
    for (;;) {
        dw_reap(f);
        if (f->n_w == 0 && f->zombies == NULL)
            return;
        CAIRN_ASSERT(f->n_w == 0); /* dw_commit_all ran before */
        dc_wait_once(f->dc);
    }
}

uint64_t dw_end(const struct datafile *f)
{
    uint64_t end = 0;
    for (uint32_t i = 0; i < f->n_w; i++)
        if (f->w[i]->end)
            end = CAIRN_MAX(end, (uint64_t)f->w[i]->index * CAIRN_CHUNK_SIZE + f->w[i]->end);
    return end;
}

static struct dwrite *dw_find(const struct datafile *f, uint32_t index)
{
    for (uint32_t i = 0; i < f->n_w; i++)
        if (f->w[i]->index == index)
            return f->w[i];
    return NULL;
}

/* The open chunk write of index that can take n more bytes: a write that is
 * committing, or whose copy would pass CAIRN_DATACLIENT_REPLAY_MAX, is
 * finished first; so is the oldest when the handle has too many open. A
 * write that reached the end of its chunk is asked to commit as soon as the
 * next one opens (a sequential writer's flush overlaps the next stream). */
static int dw_open(struct datafile *f, uint32_t index, uint32_t n, struct dwrite **out)
{
    for (;;) {
        struct dwrite *w = dw_find(f, index);
        if (w && !w->commit_wanted && w->bytes + n <= CAIRN_DATACLIENT_REPLAY_MAX) {
            *out = w;
            return 0;
        }
        int rc = w ? dw_finish(f, w) : 0;
        if (rc == 0 && !w && f->n_w == CAIRN_DATACLIENT_OPEN_WRITES_MAX)
            rc = dw_finish(f, f->w[0]);
        if (rc)
            return rc;
        if (w || f->n_w == CAIRN_DATACLIENT_OPEN_WRITES_MAX)
            continue;
        w = dw_new(f, index);
        if (!w)
            return CAIRN_ENOMEM;
        for (uint32_t i = 0; i < f->n_w; i++)
            if (f->w[i]->end == CAIRN_CHUNK_SIZE)
                f->w[i]->commit_wanted = true;
        f->w[f->n_w++] = w;
        *out = w;
        return 0;
    }
}

int dw_write(struct datafile *f, const uint8_t *p, uint32_t n, uint64_t off)
{
    uint32_t index = (uint32_t)(off / CAIRN_CHUNK_SIZE);
    uint32_t coff = (uint32_t)(off % CAIRN_CHUNK_SIZE);
    CAIRN_ASSERT(n > 0 && (uint64_t)coff + n <= CAIRN_CHUNK_SIZE);
    struct dwrite *w;
    int rc = dw_open(f, index, n, &w);
    if (rc)
        return rc;
    for (uint32_t done = 0; done < n;) {
        uint32_t len = CAIRN_MIN(n - done, CAIRN_CHUNK_IO_MAX);
        struct dc_piece *pc = piece_new(coff + done, p + done, len, 0);
        if (!pc)
            return CAIRN_ENOMEM;
        piece_append(w, pc);
        w->bytes += len;
        done += len;
    }
    w->end = CAIRN_MAX(w->end, coff + n);
    return 0;
}
