/*
 * link.c: the chunk server's side of the metadata leader (docs/chunkd.md):
 * register, send the full report, heartbeat with acks and bad versions,
 * take the commands each heartbeat reply carries.
 *
 * One call to the leader at a time, driven by the heartbeat timer and by
 * the completion of the previous call (a report's pieces and the first
 * heartbeat after it go out at once). The leader is followed through
 * NOTLEADER hints; a leader that does not know us as up answers ENOENT and
 * we register again, then report again.
 *
 * Commands are remembered by id: a command resent before its ack reached
 * the state is acknowledged again, never executed twice; a finished
 * command is forgotten once a complete heartbeat reply no longer lists it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "chunkd/chunkd_int.h"

/* --- the node id file ------------------------------------------------------------------ */

#define NODE_ID_FILE "node_id"

int chunkd_node_id_load(const char *dir, uint32_t *out)
{
    char path[CAIRN_PATH_MAX + 16], text[32];
    snprintf(path, sizeof path, "%s/%s", dir, NODE_ID_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? (*out = 0, 0) : cairn_err_from_errno(errno);
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return CAIRN_CORRUPT;
    text[n] = 0;
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (end == text || (*end && *end != '\n') || v == 0 || v >= UINT32_MAX)
        return CAIRN_CORRUPT;
    *out = (uint32_t)v;
    return 0;
}

/* Written once, atomically: temp file, fsync, rename, directory fsync. */
int chunkd_node_id_save(const char *dir, uint32_t node)
{
    char path[CAIRN_PATH_MAX + 16], tmp[CAIRN_PATH_MAX + 16], text[32];
    snprintf(path, sizeof path, "%s/%s", dir, NODE_ID_FILE);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, NODE_ID_FILE);
    int n = snprintf(text, sizeof text, "%" PRIu32 "\n", node);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cairn_err_from_errno(errno);
    int rc = write(fd, text, (size_t)n) == n && fsync(fd) == 0 ? 0 : cairn_err_from_errno(errno);
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = cairn_err_from_errno(errno);
    int dfd = rc == 0 ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            rc = cairn_err_from_errno(errno);
        close(dfd);
    }
    return rc;
}

/* --- calls ------------------------------------------------------------------------------ */

static void link_call(struct chunkd *cd, uint16_t type, rpc_reply_fn cb)
{
    int rc = rpc_call(cd->meta, type, cd->scratch.data, cd->scratch.len, CHUNKD_CALL_MS, cb, cd);
    if (rc == 0)
        cd->call_out = 1;
    else
        LOG_DEBUG(CHUNKD_SUBSYS, "call to the metadata group not sent: %s", cairn_err_name(rc));
}

/* What every failed call does: follow a leader hint, move on from a server
 * that does not answer, register again when the leader asks. */
static void link_failed(struct chunkd *cd, int status, const struct rpc_msg *reply)
{
    if (status == CAIRN_NOTLEADER) {
        size_t len = reply ? reply->len : 0;
        for (uint32_t i = 0; i < cd->cfg.n_meta && len; i++)
            if (strlen(cd->cfg.meta[i]) == len &&
                memcmp(cd->cfg.meta[i], reply->payload, len) == 0) {
                if (rpc_client_addr_index(cd->meta) != i)
                    rpc_client_prefer(cd->meta, i);
                return;
            }
        rpc_client_next(cd->meta);
        return;
    }
    if (status == CAIRN_ETIMEDOUT) {
        rpc_client_next(cd->meta);
        return;
    }
    if (status == CAIRN_ENOENT) {
        LOG_INFO(CHUNKD_SUBSYS, "the leader does not know this server as up: registering again");
        cd->link = LINK_REGISTER;
        return;
    }
    if (status == CAIRN_EAGAIN && cd->link == LINK_REPORT) {
        cd->report_off = 0;
        return;
    }
    if (status != CAIRN_CLOSED && status != CAIRN_SHUTDOWN)
        LOG_WARN(CHUNKD_SUBSYS, "metadata call failed: %s", cairn_err_name(status));
}

static void note_leader(struct chunkd *cd)
{
    size_t i = rpc_client_addr_index(cd->meta);
    snprintf(cd->leader, sizeof cd->leader, "%s", i < cd->cfg.n_meta ? cd->cfg.meta[i] : "");
}

/* --- report ----------------------------------------------------------------------------- */

/* Take the list of versions held. */
static void report_prepare(struct chunkd *cd)
{
    free(cd->report);
    cd->report = NULL;
    cd->report_n = cd->report_off = 0;
    struct chunk_info *v;
    size_t n;
    if (chunk_list(cd->store, &v, &n)) {
        LOG_ERROR(CHUNKD_SUBSYS, "chunk list: out of memory");
        return;
    }
    cd->report = v;
    cd->report_n = n;
    cd->link = LINK_REPORT;
}

static void report_cb(struct rpc_client *c, int status, const struct rpc_msg *reply, void *arg);

static void report_send(struct chunkd *cd)
{
    size_t k = CAIRN_MIN(cd->report_n - cd->report_off, (size_t)CAIRN_CHUNK_REPORT_MAX);
    struct wire_chunk_entry *e = malloc((k ? k : 1) * sizeof *e);
    if (!e)
        return;
    for (size_t i = 0; i < k; i++) {
        const struct chunk_info *ci = &cd->report[cd->report_off + i];
        e[i] = (struct wire_chunk_entry){ci->id, ci->version, (uint32_t)ci->length,
                                         (uint8_t)(ci->staged != 0)};
    }
    struct wire_chunk_report m = {.node = cd->node, .n = (uint32_t)k, .entries = e};
    m.flags = (cd->report_off == 0 ? WIRE_CHUNK_REPORT_FIRST : 0) |
              (cd->report_off + k == cd->report_n ? WIRE_CHUNK_REPORT_LAST : 0);
    buf_reset(&cd->scratch);
    int rc = wire_chunk_report_encode(&cd->scratch, &m);
    free(e);
    if (rc) {
        LOG_ERROR(CHUNKD_SUBSYS, "report encoding: %s", cairn_err_name(rc));
        return;
    }
    link_call(cd, WIRE_CHUNK_REPORT, report_cb);
}

static void report_cb(struct rpc_client *c, int status, const struct rpc_msg *reply, void *arg)
{
    struct chunkd *cd = arg;
    cd->call_out = 0;
    if (cd->stopping)
        return;
    if (status) {
        link_failed(cd, status, reply);
        return;
    }
    cd->report_off += CAIRN_MIN(cd->report_n - cd->report_off, (size_t)CAIRN_CHUNK_REPORT_MAX);
    if (cd->report_off < cd->report_n) {
        report_send(cd);
        return;
    }
    LOG_INFO(CHUNKD_SUBSYS, "report sent entries=%zu", cd->report_n);
    free(cd->report);
    cd->report = NULL;
    cd->link = LINK_HEARTBEAT;
    cd->accept_writes = 1;
    cd->counters.reports++;
    chunkd_info_publish(cd);
    link_tick(cd);
}

/* --- register ----------------------------------------------------------------------------- */

static void register_cb(struct rpc_client *c, int status, const struct rpc_msg *reply, void *arg)
{
    struct chunkd *cd = arg;
    cd->call_out = 0;
    if (cd->stopping)
        return;
    struct wire_chunk_register_reply r;
    if (status == 0 && wire_chunk_register_reply_decode(reply->payload, reply->len, &r))
        status = CAIRN_BADMSG;
    if (status) {
        link_failed(cd, status, reply);
        return;
    }
    if (r.node != cd->node) {
        int rc = chunkd_node_id_save(cd->cfg.data, r.node);
        if (rc) {
            LOG_ERROR(CHUNKD_SUBSYS, "cannot keep node id %" PRIu32 ": %s", r.node,
                      cairn_strerror(rc));
            return; /* registered again later, with the same outcome or a working disk */
        }
        cd->node = r.node;
    }
    note_leader(cd);
    LOG_INFO(CHUNKD_SUBSYS, "registered node=%" PRIu32 " leader=%s", cd->node, cd->leader);
    if (r.heartbeat_ms >= 10 && r.heartbeat_ms != cd->hb_ms) {
        cd->hb_ms = r.heartbeat_ms;
        chunkd_hb_restart(cd);
    }
    cd->accept_writes = 0; /* until the leader has our report (docs/chunkd.md) */
    report_prepare(cd);
    chunkd_info_publish(cd);
    link_tick(cd);
}

static void register_send(struct chunkd *cd)
{
    uint64_t cap, used;
    chunkd_usage(cd, &cap, &used);
    /* Peers dial the advertised address (a proxy's in the nemesis tests). */
    const char *addr = cd->cfg.advertise[0] ? cd->cfg.advertise : cd->cfg.listen;
    struct wire_chunk_register m = {
        .node = cd->node,
        .addr = {(const uint8_t *)addr, (uint32_t)strlen(addr)},
        .label = {(const uint8_t *)cd->cfg.label, (uint32_t)strlen(cd->cfg.label)},
        .capacity = cap,
        .used = used,
    };
    buf_reset(&cd->scratch);
    if (wire_chunk_register_encode(&cd->scratch, &m) == 0)
        link_call(cd, WIRE_CHUNK_REGISTER, register_cb);
}

/* --- heartbeat ----------------------------------------------------------------------------- */

static int ack_pending(const struct chunkd *cd, uint64_t id)
{
    for (uint32_t i = 0; i < cd->n_acks; i++)
        if (cd->acks[i].id == id)
            return 1;
    return 0;
}

void link_cmd_done(struct chunkd *cd, uint64_t id, int status)
{
    struct cmd_state *st = hmap_get(&cd->cmds, id);
    if (st) {
        st->done = 1;
        st->status = status;
    }
    cd->counters.cmds_done++;
    if (cd->n_acks < CAIRN_OUTBOX_ACK_MAX && !ack_pending(cd, id))
        cd->acks[cd->n_acks++] = (struct wire_chunk_ack){id, status};
}

/* One command of a reply: new ones run, finished ones are acked again. */
static void take_cmd(struct chunkd *cd, const struct wire_chunk_cmd *c)
{
    struct cmd_state *st = hmap_get(&cd->cmds, c->id);
    if (st) {
        st->seen_gen = cd->reply_gen;
        if (st->done && !ack_pending(cd, c->id) && cd->n_acks < CAIRN_OUTBOX_ACK_MAX)
            cd->acks[cd->n_acks++] = (struct wire_chunk_ack){c->id, st->status};
        return;
    }
    if (!(st = calloc(1, sizeof *st)))
        return;
    st->id = c->id;
    st->seen_gen = cd->reply_gen;
    if (hmap_put(&cd->cmds, c->id, st)) {
        free(st);
        return;
    }
    if (cmd_exec(cd, c))
        free(hmap_del(&cd->cmds, c->id)); /* taken again from a later reply */
}

/* Finished commands a complete reply no longer lists are forgotten. */
static void cmds_prune(struct chunkd *cd)
{
    uint64_t drop[256], k;
    size_t n = 0;
    void *v;
    for (size_t it = 0; n < CAIRN_ARRAY_LEN(drop) && hmap_next(&cd->cmds, &it, &k, &v);) {
        const struct cmd_state *st = v;
        if (st->done && st->seen_gen != cd->reply_gen && !ack_pending(cd, st->id))
            drop[n++] = k;
    }
    for (size_t i = 0; i < n; i++)
        free(hmap_del(&cd->cmds, drop[i]));
}

static void heartbeat_cb(struct rpc_client *c, int status, const struct rpc_msg *reply, void *arg)
{
    struct chunkd *cd = arg;
    cd->call_out = 0;
    if (cd->stopping)
        return;
    struct wire_chunk_hb_reply r;
    if (status == 0 && wire_chunk_hb_reply_decode(reply->payload, reply->len, &r))
        status = CAIRN_BADMSG;
    if (status) {
        cd->n_acks_out = cd->n_bad_out = 0;
        link_failed(cd, status, reply);
        return;
    }
    /* delivered: the leader proposes them now */
    memmove(cd->acks, cd->acks + cd->n_acks_out, (cd->n_acks - cd->n_acks_out) * sizeof *cd->acks);
    cd->n_acks -= cd->n_acks_out;
    memmove(cd->bad, cd->bad + cd->n_bad_out, (cd->n_bad - cd->n_bad_out) * sizeof *cd->bad);
    cd->n_bad -= cd->n_bad_out;
    cd->n_acks_out = cd->n_bad_out = 0;
    cd->counters.heartbeats++;
    note_leader(cd);
    cd->reply_gen++;
    struct wire_chunk_cmd cmd;
    for (size_t off = 0; wire_chunk_hb_reply_next(&r, &off, &cmd);)
        take_cmd(cd, &cmd);
    if (r.n < CAIRN_CHUNK_CMDS_MAX)
        cmds_prune(cd);
    if (r.flags & WIRE_CHUNK_HB_REPORT) {
        report_prepare(cd);
        link_tick(cd);
    }
}

static void heartbeat_send(struct chunkd *cd)
{
    uint64_t cap, used;
    chunkd_usage(cd, &cap, &used);
    uint32_t nb = CAIRN_MIN(cd->n_bad, CAIRN_CHUNK_BAD_MAX);
    struct wire_chunk_bad bad[64];
    nb = CAIRN_MIN(nb, (uint32_t)CAIRN_ARRAY_LEN(bad));
    for (uint32_t i = 0; i < nb; i++)
        bad[i] = (struct wire_chunk_bad){cd->bad[i].chunk, cd->bad[i].version, cd->bad[i].err};
    struct wire_chunk_heartbeat m = {.node = cd->node,
                                     .capacity = cap,
                                     .used = used,
                                     .n_acks = cd->n_acks,
                                     .acks = cd->acks,
                                     .n_bad = nb,
                                     .bad = bad};
    buf_reset(&cd->scratch);
    int rc = wire_chunk_heartbeat_encode(&cd->scratch, &m);
    if (rc) {
        LOG_ERROR(CHUNKD_SUBSYS, "heartbeat encoding: %s", cairn_err_name(rc));
        return;
    }
    link_call(cd, WIRE_CHUNK_HEARTBEAT, heartbeat_cb);
    if (cd->call_out) {
        cd->n_acks_out = cd->n_acks;
        cd->n_bad_out = nb;
    }
}

void link_tick(struct chunkd *cd)
{
    if (cd->stopping || cd->call_out)
        return;
    switch (cd->link) {
    case LINK_REGISTER:
        register_send(cd);
        break;
    case LINK_REPORT:
        if (cd->report == NULL && cd->report_n == 0 && cd->report_off == 0)
            report_prepare(cd); /* (re)start: the list is taken now */
        report_send(cd);
        break;
    case LINK_HEARTBEAT:
        heartbeat_send(cd);
        break;
    }
}

int link_start(struct chunkd *cd)
{
    const char *addrs[CAIRN_RPC_ADDRS_MAX];
    for (uint32_t i = 0; i < cd->cfg.n_meta; i++)
        addrs[i] = cd->cfg.meta[i];
    char name[WIRE_CLIENT_NAME_MAX + 1];
    snprintf(name, sizeof name, "chunk@%.50s", cd->cfg.listen);
    struct rpc_client_cfg cc = {.name = name};
    cd->hb_ms = cd->cfg.heartbeat_ms;
    cd->link = LINK_REGISTER;
    return rpc_client_new(&cd->loop, addrs, cd->cfg.n_meta, &cd->secret, &cc, &cd->meta);
}

void link_close(struct chunkd *cd)
{
    if (cd->meta)
        rpc_client_close(cd->meta);
    cd->meta = NULL;
    free(cd->report);
    cd->report = NULL;
}
