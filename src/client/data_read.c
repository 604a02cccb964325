/* data_read.c: reads (see file.h "Reads"). A read is cut into pieces of at
 * most CAIRN_CHUNK_IO_MAX inside one chunk; up to dc->window are in flight.
 * Each piece goes to one replica of its chunk's cached map entry: the first
 * one not known bad for this version and not tried yet by the piece, nodes
 * that failed recently last. A failed piece moves on to the next replica; a
 * stale version, or no replica left, refreshes the entry from the leader
 * (at most DC_READ_REFRESHES times per piece). Holes, and bytes past a
 * chunk's length, are zeros without asking anyone.
 *
 * The handle's size comes from its open; the map entries come later, each
 * with the file's size in the same answer. A read stops at the smallest such
 * size it used: a file truncated since the open (another client's O_TRUNC)
 * gives a short read, never the dropped chunk's hole as zeros nobody wrote. */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "client/data_int.h"
#include "common/assert.h"
#include "common/log.h"
#include "wire/msg_chunk.h"

enum dr_state {
    DR_WAIT = 0,
    DR_INFLIGHT = 1,
    DR_DONE = 2,
};

struct dr_op;

struct dr_piece {
    struct dr_op *op;
    uint8_t *dst;
    uint32_t index; /* chunk index */
    uint32_t off;   /* in the chunk */
    uint32_t len;
    /* Bytes of the piece inside the chunk's length when it was sent: a copy
     * may hold older bytes past a truncation until the outbox trims it, and
     * those read as zeros. */
    uint32_t avail;
    uint8_t state; /* enum dr_state */
    bool stale;    /* refresh the map entry before the next try */
    uint8_t refreshes;
    uint8_t n_tried;
    uint32_t tried[CAIRN_GOAL_MAX]; /* nodes tried since the last refresh */
    uint32_t node;                  /* in flight to */
    int err;                        /* the last failure */
};

struct dr_op {
    struct datafile *f;
    struct dr_piece *p;
    size_t n, done, cursor; /* pieces; done; first that may be waiting */
    uint32_t inflight;
    uint64_t eof; /* smallest file size of the map entries used */
    int err;
};

static int in_list(const uint32_t *v, uint8_t n, uint32_t x)
{
    for (uint8_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

static void dr_on_reply(struct rpc_client *c, int status, const struct rpc_msg *reply, void *arg)
{
    (void)c;
    struct dr_piece *p = arg;
    struct dr_op *op = p->op;
    struct dataclient *dc = op->f->dc;
    op->inflight--;
    dc->calls_out--;
    struct wire_chunk_read_reply r;
    if (status == 0 && (reply->type != WIRE_CHUNK_READ_REPLY ||
                        wire_chunk_read_reply_decode(reply->payload, reply->len, &r) != 0))
        status = CAIRN_BADMSG;
    if (status == 0) {
        uint32_t got = CAIRN_MIN(r.data.len, p->avail);
        if (got)
            memcpy(p->dst, r.data.p, got);
        memset(p->dst + got, 0, p->len - got);
        p->state = DR_DONE;
        op->done++;
        return;
    }
    p->err = status;
    p->state = DR_WAIT;
    op->cursor = CAIRN_MIN(op->cursor, (size_t)(p - op->p));
    dc->st.read_failovers++;
    struct dc_loc *l = &op->f->locs[p->index];
    if (status == CAIRN_CORRUPT) {
        dc->st.corrupt_seen++;
        if (l->n_bad < CAIRN_GOAL_MAX && !in_list(l->bad, l->n_bad, p->node))
            l->bad[l->n_bad++] = p->node;
    } else if (status == CAIRN_STALEVERSION) {
        p->stale = true;
    } else {
        struct dc_node *n = hmap_get(&dc->nodes, p->node);
        if (n)
            dc_node_failed(dc, n, status);
    }
    LOG_DEBUG("client", "read of chunk %llu from node %u failed: %s", (unsigned long long)l->c.id,
              p->node, cairn_err_name(status));
}

/* The replica to try next: not bad, not tried, healthy first. 0 if none. */
static uint32_t dr_choose(struct dataclient *dc, const struct dc_loc *l, const struct dr_piece *p)
{
    uint32_t fallback = 0;
    for (uint8_t i = 0; i < l->c.n_replicas; i++) {
        uint32_t id = l->c.replicas[i];
        if (in_list(l->bad, l->n_bad, id) || in_list(p->tried, p->n_tried, id))
            continue;
        struct dc_node *n = hmap_get(&dc->nodes, id);
        if (n && !dc_node_suspect(dc, n))
            return id;
        if (!fallback)
            fallback = id;
    }
    return fallback;
}

/* Send a CHUNK_READ for p to node id. */
static int dr_send(struct dr_piece *p, const struct dc_loc *l, struct dc_node *n)
{
    struct dataclient *dc = p->op->f->dc;
    struct rpc_client *rpc = dc_node_rpc(dc, n);
    if (!rpc)
        return CAIRN_ENOMEM;
    struct wire_chunk_read m = {
        .chunk = l->c.id, .version = l->c.version, .offset = p->off, .len = p->len};
    buf_reset(&dc->payload);
    int rc = wire_chunk_read_encode(&dc->payload, &m);
    if (rc == 0)
        rc = rpc_call(rpc, WIRE_CHUNK_READ, dc->payload.data, dc->payload.len, dc->io_ms,
                      dr_on_reply, p);
    if (rc)
        return rc;
    p->node = n->id;
    p->state = DR_INFLIGHT;
    p->op->inflight++;
    dc->calls_out++;
    dc->st.reads_sent++;
    return 0;
}

/* Start (or restart) one waiting piece. Returns CAIRN_EBUSY when the
 * connection is full (try again next turn), another error to fail the
 * read, 0 otherwise. */
static int dr_start(struct dr_piece *p)
{
    struct datafile *f = p->op->f;
    struct dataclient *dc = f->dc;
    for (;;) {
        int rc;
        struct dc_loc *l = dc_loc_get(f, p->index, p->stale, &rc);
        if (!l)
            return rc;
        if (p->stale) {
            p->stale = false;
            p->n_tried = 0;
        }
        uint64_t at = (uint64_t)p->index * CAIRN_CHUNK_SIZE + p->off;
        p->op->eof = CAIRN_MIN(p->op->eof, l->fsize);
        if (l->c.id == 0 || p->off >= l->c.length || l->fsize <= at) {
            memset(p->dst, 0, p->len);
            p->state = DR_DONE;
            p->op->done++;
            return 0;
        }
        p->avail = (uint32_t)CAIRN_MIN((uint64_t)p->len, l->c.length - p->off);
        uint32_t id = dr_choose(dc, l, p);
        if (id == 0) {
            if (p->refreshes >= DC_READ_REFRESHES) {
                LOG_WARN("client", "inode %llu chunk %llu v%llu: no replica could be read: %s",
                         (unsigned long long)f->ino, (unsigned long long)l->c.id,
                         (unsigned long long)l->c.version, cairn_err_name(p->err));
                return CAIRN_EIO;
            }
            p->refreshes++;
            p->stale = true;
            continue;
        }
        CAIRN_ASSERT(p->n_tried < CAIRN_GOAL_MAX);
        p->tried[p->n_tried++] = id;
        struct dc_node *n = dc_node_get(dc, id);
        if (!n)
            continue;
        rc = dr_send(p, l, n);
        if (rc == CAIRN_EBUSY)
            p->n_tried--;
        if (rc == 0 || rc == CAIRN_EBUSY)
            return rc;
        p->err = rc;
    }
}

static void dr_pump(struct dr_op *op)
{
    struct dataclient *dc = op->f->dc;
    while (op->cursor < op->n && op->p[op->cursor].state != DR_WAIT)
        op->cursor++;
    for (size_t i = op->cursor; i < op->n && op->inflight < dc->window && !op->err; i++) {
        if (op->p[i].state != DR_WAIT)
            continue;
        int rc = dr_start(&op->p[i]);
        if (rc == CAIRN_EBUSY)
            break;
        if (rc)
            op->err = rc;
    }
}

/* Cut [off, off + n) into pieces that stay inside one chunk. */
static size_t dr_cut(struct dr_op *op, uint8_t *buf, size_t n, uint64_t off)
{
    size_t k = 0;
    for (size_t done = 0; done < n; k++) {
        uint64_t at = off + done;
        uint32_t coff = (uint32_t)(at % CAIRN_CHUNK_SIZE);
        size_t len = CAIRN_MIN(n - done, (size_t)CAIRN_CHUNK_IO_MAX);
        len = CAIRN_MIN(len, (size_t)(CAIRN_CHUNK_SIZE - coff));
        if (op->p) {
            struct dr_piece *p = &op->p[k];
            memset(p, 0, sizeof *p);
            p->op = op;
            p->dst = buf + done;
            p->index = (uint32_t)(at / CAIRN_CHUNK_SIZE);
            p->off = coff;
            p->len = (uint32_t)len;
        }
        done += len;
    }
    return k;
}

int dr_read(struct datafile *f, uint8_t *buf, size_t n, uint64_t off, size_t *got)
{
    struct dr_op op = {.f = f, .eof = UINT64_MAX};
    *got = 0;
    size_t count = dr_cut(&op, buf, n, off);
    op.p = calloc(count ? count : 1, sizeof *op.p);
    if (!op.p)
        return CAIRN_ENOMEM;
    op.n = dr_cut(&op, buf, n, off);
    for (;;) {
        dr_pump(&op);
        if ((op.done == op.n || op.err) && op.inflight == 0)
            break;
        dc_wait_once(f->dc);
    }
    free(op.p);
    if (op.err == 0)
        *got = op.eof <= off ? 0 : (size_t)CAIRN_MIN((uint64_t)n, op.eof - off);
    return op.err;
}
