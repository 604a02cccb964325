/*
 * cmds.c: the metadata leader's commands on a chunk server (docs/chunkd.md):
 * COMMIT, DROP, DELETE (every version up to the one named), TRUNCATE and
 * REPLICATE (pull a committed version from a peer, commit it here). Each
 * runs in its chunk's order (queue.c) and is idempotent, because the leader
 * resends until the ack is in the log.
 *
 * TRUNCATE keeps a committed version's number while cutting its bytes
 * (chunk_truncate: atomic in the store).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "chunkd/chunkd_int.h"

struct cop {
    struct op op;
    struct job job;
    struct wire_chunk_cmd c;
    char source[CAIRN_NODE_ADDR_MAX + 1];
    uint64_t off;  /* REPLICATE: next byte to pull */
    uint8_t *data; /* REPLICATE: the piece being written */
    uint32_t data_len;
    int fail;             /* REPLICATE: the error that ends it */
    uint64_t deadline_ms; /* REPLICATE: uv_now() bound of the whole copy */
};

/* The committed version of a chunk here (0: none). */
static uint64_t committed_of(struct chunk_store *s, uint64_t id, uint64_t *length)
{
    struct chunk_info v[1 + CAIRN_CHUNK_STAGED_MAX];
    size_t n;
    chunk_stat(s, id, v, &n);
    if (n && !v[0].staged) {
        if (length)
            *length = v[0].length;
        return v[0].version;
    }
    return 0;
}

/* Cut the committed version to len bytes (the store does it atomically). */
static int truncate_version(struct chunk_store *s, uint64_t id, uint64_t v, uint64_t len)
{
    uint64_t cur = committed_of(s, id, NULL);
    if (cur > v)
        return 0; /* a newer version replaced it: nothing to cut */
    return chunk_truncate(s, id, v, len);
}

/* Every version of id up to v goes (a stale or unreferenced copy). */
static int delete_upto(struct chunk_store *s, uint64_t id, uint64_t v)
{
    struct chunk_info vs[1 + CAIRN_CHUNK_STAGED_MAX];
    size_t n;
    chunk_stat(s, id, vs, &n);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (vs[i].version <= v) {
            int r = chunk_delete(s, id, vs[i].version);
            rc = rc ? rc : r;
        }
    return rc;
}

static void simple_work(struct job *j)
{
    struct cop *k = j->arg;
    struct chunk_store *s = k->op.cd->store;
    const struct wire_chunk_cmd *c = &k->c;
    int rc;
    switch (c->kind) {
    case WIRE_CHUNK_CMD_COMMIT:
        rc = chunk_commit(s, c->chunk, c->version);
        if (rc == CAIRN_STALEVERSION && committed_of(s, c->chunk, NULL) > c->version)
            rc = 0; /* superseded by a newer commit */
        break;
    case WIRE_CHUNK_CMD_DROP:
        rc = chunk_abort(s, c->chunk, c->version);
        break;
    case WIRE_CHUNK_CMD_DELETE:
        rc = delete_upto(s, c->chunk, c->version);
        break;
    case WIRE_CHUNK_CMD_TRUNCATE:
        rc = truncate_version(s, c->chunk, c->version, c->length);
        break;
    default:
        rc = CAIRN_EINVAL;
    }
    j->rc = rc;
}

static void cop_finish(struct cop *k, int rc)
{
    struct chunkd *cd = k->op.cd;
    if (rc)
        LOG_WARN(CHUNKD_SUBSYS,
                 "command %" PRIu64 " (kind %u) chunk=%" PRIu64 " version=%" PRIu64 ": %s", k->c.id,
                 k->c.kind, k->c.chunk, k->c.version, cairn_err_name(rc));
    link_cmd_done(cd, k->c.id, rc);
    cq_done(cd, &k->op);
    free(k->data);
    free(k);
}

static void simple_after(struct job *j)
{
    struct cop *k = j->arg;
    if (k->c.kind == WIRE_CHUNK_CMD_DELETE && j->rc == 0 &&
        (uintptr_t)hmap_get(&k->op.cd->known_bad, k->c.chunk) <= k->c.version)
        hmap_del(&k->op.cd->known_bad, k->c.chunk); /* a new copy may be judged afresh */
    /* even if not held here: a piece of it may still come late */
    if (k->c.kind == WIRE_CHUNK_CMD_DROP)
        chunkd_note_dropped(k->op.cd, k->c.chunk, k->c.version);
    cop_finish(k, j->rc);
}

/* --- REPLICATE ------------------------------------------------------------------------------ */

static void repl_pull(struct cop *k);

static void repl_end_work(struct job *j)
{
    struct cop *k = j->arg;
    struct chunk_store *s = k->op.cd->store;
    if (k->fail) {
        chunk_abort(s, k->c.chunk, k->c.version);
        j->rc = k->fail;
        return;
    }
    j->rc = chunk_flush(s, k->c.chunk, k->c.version);
    if (j->rc == 0)
        j->rc = chunk_commit(s, k->c.chunk, k->c.version);
}

static void repl_end_after(struct job *j)
{
    struct cop *k = j->arg;
    if (j->rc == 0) {
        k->op.cd->counters.replicated++;
        LOG_INFO(CHUNKD_SUBSYS, "replicated chunk=%" PRIu64 " version=%" PRIu64 " from=%s bytes=%u",
                 k->c.chunk, k->c.version, k->source, k->c.length);
    }
    cop_finish(k, j->rc);
}

/* Finish: flush and commit, or (fail set) drop what was staged. */
static void repl_end(struct cop *k, int fail)
{
    k->fail = fail;
    k->job = (struct job){.work = repl_end_work, .after = repl_end_after, .arg = k};
    job_start(k->op.cd, &k->job);
}

static void repl_write_work(struct job *j)
{
    struct cop *k = j->arg;
    j->rc = chunk_write(k->op.cd->store, k->c.chunk, k->c.version, k->off, k->data, k->data_len);
}

static void repl_write_after(struct job *j)
{
    struct cop *k = j->arg;
    if (j->rc) {
        repl_end(k, j->rc);
        return;
    }
    k->off += k->data_len;
    repl_pull(k);
}

static void repl_read_cb(struct rpc_client *c, int status, const struct rpc_msg *reply, void *arg)
{
    struct cop *k = arg;
    struct wire_chunk_read_reply r;
    uint32_t want = (uint32_t)CAIRN_MIN((uint64_t)CAIRN_CHUNK_IO_MAX, k->c.length - k->off);
    if (status == 0 && wire_chunk_read_reply_decode(reply->payload, reply->len, &r))
        status = CAIRN_BADMSG;
    if (status == 0 && (r.length != k->c.length || r.data.len != want))
        status = CAIRN_STALEVERSION; /* the source holds another length: not that version */
    if (status == 0 && k->op.cd->stopping)
        status = CAIRN_SHUTDOWN;
    if (status) {
        repl_end(k, status);
        return;
    }
    memcpy(k->data, r.data.p, want);
    k->data_len = want;
    k->job = (struct job){.work = repl_write_work, .after = repl_write_after, .arg = k};
    job_start(k->op.cd, &k->job);
}

/* The next piece from the source (its CRCs are verified there; the frame's
 * CRC covers the trip; chunk_write makes ours). */
static void repl_pull(struct cop *k)
{
    struct chunkd *cd = k->op.cd;
    if (k->off >= k->c.length) {
        repl_end(k, 0);
        return;
    }
    struct wire_chunk_read m = {
        k->c.chunk, k->c.version, k->off,
        (uint32_t)CAIRN_MIN((uint64_t)CAIRN_CHUNK_IO_MAX, k->c.length - k->off), 0};
    /* Bounded as a whole: a source killed a moment ago (not yet down in the
     * metadata) must not hold the copy; failing lets the leader plan another. */
    uint64_t now = uv_now(&cd->loop);
    if (now >= k->deadline_ms) {
        repl_end(k, CAIRN_ETIMEDOUT);
        return;
    }
    uint32_t wait_ms = (uint32_t)CAIRN_MIN((uint64_t)CHUNKD_CALL_MS, k->deadline_ms - now);
    struct rpc_client *c = peer_get(cd, (const uint8_t *)k->source, strlen(k->source));
    buf_reset(&cd->scratch);
    int rc = c ? wire_chunk_read_encode(&cd->scratch, &m) : CAIRN_UNAVAILABLE;
    if (rc == 0)
        rc = rpc_call(c, WIRE_CHUNK_READ, cd->scratch.data, cd->scratch.len, wait_ms, repl_read_cb,
                      k);
    if (rc)
        repl_end(k, rc);
}

static void repl_stage_work(struct job *j)
{
    struct cop *k = j->arg;
    struct chunk_store *s = k->op.cd->store;
    uint64_t cur = committed_of(s, k->c.chunk, NULL);
    if (cur == k->c.version) {
        j->rc = 1; /* held already: a resent command */
        return;
    }
    if (cur > k->c.version) {
        j->rc = CAIRN_STALEVERSION;
        return;
    }
    chunk_abort(s, k->c.chunk, k->c.version); /* a copy an earlier attempt left */
    j->rc = chunk_stage(s, k->c.chunk, k->c.version, 0);
}

static void repl_stage_after(struct job *j)
{
    struct cop *k = j->arg;
    if (j->rc == 1)
        cop_finish(k, 0);
    else if (j->rc)
        cop_finish(k, j->rc);
    else if (!(k->data = malloc(CAIRN_CHUNK_IO_MAX)))
        repl_end(k, CAIRN_ENOMEM);
    else {
        k->deadline_ms = uv_now(&k->op.cd->loop) + CHUNKD_REPL_MS;
        repl_pull(k);
    }
}

static void cmd_start(struct op *op)
{
    struct cop *k = (struct cop *)op;
    if (k->c.kind == WIRE_CHUNK_CMD_REPLICATE)
        k->job = (struct job){.work = repl_stage_work, .after = repl_stage_after, .arg = k};
    else
        k->job = (struct job){.work = simple_work, .after = simple_after, .arg = k};
    job_start(op->cd, &k->job);
}

int cmd_exec(struct chunkd *cd, const struct wire_chunk_cmd *c)
{
    struct cop *k = calloc(1, sizeof *k);
    if (!k)
        return CAIRN_ENOMEM; /* not acked: the leader sends it again */
    k->c = *c;
    memcpy(k->source, c->source.p ? (const char *)c->source.p : "", c->source.len);
    k->source[c->source.len] = 0;
    k->c.source = (struct wire_bytes){NULL, 0};
    k->op.cd = cd;
    k->op.chunk = c->chunk;
    k->op.start = cmd_start;
    cq_push(cd, &k->op);
    return 0;
}
