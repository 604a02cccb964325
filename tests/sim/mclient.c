/*
 * mclient.c: the clients of meta mode, which drive the real metadata state
 * machine (src/meta) through the replicated log.
 *
 * A client first opens a session (SESSION_OPEN; its id is the log index);
 * client 1 then creates the subdirectory "sub" (its inode is shared with the
 * other clients once known). Then each client runs one namespace operation
 * at a time on SIM_NS_SLOTS names (nsmodel.c): CREATE (excl or not), MKDIR,
 * UNLINK, RMDIR, RENAME (with and without NOREPLACE) as session mutations
 * with increasing seq numbers; LOOKUP and READDIR as reads, through
 * ReadIndex (meta_query on the node once it has applied the read index) or,
 * one in four, through the log. The node a command is proposed on stamps
 * now_ns (the simulated time: a tick is a millisecond).
 *
 * An attempt whose node crashes, whose log slot another entry takes, or
 * that gets no answer within the client timeout is retried, with the same
 * bytes (so the same session and seq: the state machine answers a repeat
 * from its reply cache, never applying twice), on the node the client now
 * believes leads. The operation keeps its call time; so it is answered in
 * the end unless the run ends first. The history keeps answered operations,
 * and mutations still unanswered at the end that some node accepted (they
 * may have taken effect) with return time LIN_TIME_INF. Reads without an
 * answer, and operations no node ever accepted, constrain nothing.
 *
 * A client recognizes its command in the entry applied at the index it was
 * given by its bytes, the timestamp aside: so every command is unique to its
 * client (session and seq; an open's lease; identical reads through the log
 * from two clients would get the same answer at that index anyway).
 *
 * A reply that only a broken exactly-once could give (CAIRN_SESSION for a
 * live session, the setup MKDIR failing) fails the run ("exactly-once").
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/cmd.h"
#include "sim.h"

#define MCL_NS_PER_TICK 1000000ull
#define MCL_LEASE_MS CAIRN_SESSION_LEASE_MAX_MS
#define MCL_PROBE_INO_BASE 1000000000ull
/* Offset and size of now_ns in a command (cmd.h: u16 type, u64 now_ns). */
#define MCL_NOW_AT 2u
#define MCL_NOW_LEN 8u
/* Offset of seq (after u64 now_ns and u64 session). */
#define MCL_SEQ_AT 18u

static const char *const slot_name[SIM_NS_SLOTS] = {"a", "b", "c", "d", "x", "y"};

void mcl_init(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->p.n_clients; i++) {
        struct sim_client *c = &w->clients[i];
        c->id = i + 1;
        c->state = SIM_CL_IDLE;
        c->next_tick = prng_range(&w->rng, 1, w->p.think_max);
        c->guess = prng_range(&w->rng, 1, w->p.n_voters);
        buf_init(&c->cmd, 0);
    }
}

void mcl_free(struct sim_world *w)
{
    for (uint32_t i = 0; i < SIM_CLIENTS_MAX; i++)
        buf_free(&w->clients[i].cmd);
}

static uint64_t now_ns(const struct sim_world *w) { return w->tick * MCL_NS_PER_TICK; }

static void hdr(struct meta_hdr *h, uint64_t session, uint64_t seq)
{
    memset(h, 0, sizeof *h);
    h->session = session;
    h->seq = seq;
}

static int is_read(uint32_t kind) { return kind == SIM_NS_LOOKUP || kind == SIM_NS_READDIR; }

static uint64_t slot_parent(const struct sim_world *w, uint32_t slot)
{
    return slot < SIM_NS_ROOT_SLOTS ? META_ROOT_INO : w->sub_ino;
}

/* Draw a namespace operation and encode its command into c->cmd. */
static void ns_begin(struct sim_world *w, struct sim_client *c)
{
    struct prng *r = &w->rng;
    uint32_t n_slots = w->sub_ino ? SIM_NS_SLOTS : SIM_NS_ROOT_SLOTS;
    uint32_t k = (uint32_t)prng_below(r, 100);
    uint32_t a = (uint32_t)prng_below(r, n_slots), b = (uint32_t)prng_below(r, n_slots);
    uint32_t tag = w->ns_tag = w->ns_tag % SIM_NS_TAG_MAX + 1;
    struct lin_op *op = &c->op;
    struct meta_hdr h;
    hdr(&h, c->session, c->mseq + 1);
    int rc;
    op->arg[0] = a;
    if (k < 17) {
        int excl = k < 12;
        op->kind = SIM_NS_CREATE;
        op->arg[0] |= (uint64_t)excl << 8;
        op->arg[1] = tag;
        rc = meta_cmd_create(&c->cmd, &h, slot_parent(w, a), slot_name[a], tag, excl);
    } else if (k < 27) {
        op->kind = SIM_NS_MKDIR;
        op->arg[1] = tag;
        rc = meta_cmd_mkdir(&c->cmd, &h, slot_parent(w, a), slot_name[a], tag);
    } else if (k < 45) {
        op->kind = k < 37 ? SIM_NS_UNLINK : SIM_NS_RMDIR;
        rc = op->kind == SIM_NS_UNLINK
                 ? meta_cmd_unlink(&c->cmd, &h, slot_parent(w, a), slot_name[a])
                 : meta_cmd_rmdir(&c->cmd, &h, slot_parent(w, a), slot_name[a]);
    } else if (k < 60) {
        uint32_t noreplace = prng_chance(r, 1, 3);
        op->kind = SIM_NS_RENAME;
        op->arg[0] |= (uint64_t)b << 8 | (uint64_t)noreplace << 16;
        rc = meta_cmd_rename(&c->cmd, &h, slot_parent(w, a), slot_name[a], slot_parent(w, b),
                             slot_name[b], noreplace ? META_RENAME_NOREPLACE : 0);
    } else {
        hdr(&h, 0, 0);
        c->via_log = prng_chance(r, 1, 4);
        if (k < 85) {
            op->kind = SIM_NS_LOOKUP;
            rc = meta_cmd_lookup(&c->cmd, &h, slot_parent(w, a), slot_name[a]);
        } else {
            op->kind = SIM_NS_READDIR;
            op->arg[0] = w->sub_ino ? prng_below(r, 2) : 0;
            rc = meta_cmd_readdir(&c->cmd, &h, op->arg[0] ? w->sub_ino : META_ROOT_INO, 0, 16);
        }
    }
    CAIRN_ASSERT(rc == 0);
    if (!is_read(op->kind))
        c->mseq++;
}

static void mcl_begin(struct sim_world *w, struct sim_client *c)
{
    struct meta_hdr h;
    buf_reset(&c->cmd);
    memset(&c->op, 0, sizeof c->op);
    c->via_log = 0;
    c->index = 0; /* no attempt accepted yet */
    if (!c->session) {
        c->mop = SIM_MOP_OPEN;
        hdr(&h, 0, 0);
        /* A lease of its own makes the command the client's own: two
         * clients' opens must not look alike (each waits for its bytes). */
        CAIRN_ASSERT(meta_cmd_session_open(&c->cmd, &h, MCL_LEASE_MS - c->id) == 0);
    } else if (c->id == 1 && !w->sub_ino) {
        c->mop = SIM_MOP_SETUP;
        hdr(&h, c->session, ++c->mseq);
        CAIRN_ASSERT(meta_cmd_mkdir(&c->cmd, &h, META_ROOT_INO, "sub", 0755) == 0);
    } else {
        c->mop = SIM_MOP_NS;
        ns_begin(w, c);
    }
    c->op.client = c->id;
    c->op.call_time = ++w->step;
    c->state = SIM_CL_SUBMIT;
}

static void mcl_idle(struct sim_world *w, struct sim_client *c)
{
    c->state = SIM_CL_IDLE;
    c->next_tick = w->tick + prng_range(&w->rng, 0, w->p.think_max);
}

/* The node a client tries: its guess if that node is up, else any live one. */
static struct sim_node *mcl_target(struct sim_world *w, struct sim_client *c)
{
    struct sim_node *n = sim_node(w, c->guess);
    if (n && n->state == SIM_NODE_UP)
        return n;
    uint32_t start = (uint32_t)prng_below(&w->rng, w->n_nodes);
    for (uint32_t i = 0; i < w->n_nodes; i++) {
        n = &w->nodes[(start + i) % w->n_nodes];
        if (n->state == SIM_NODE_UP)
            return n;
    }
    return NULL;
}

/* One attempt: ReadIndex, or a proposal stamped with the node's time. */
static void mcl_submit(struct sim_world *w, struct sim_client *c)
{
    struct sim_node *n = mcl_target(w, c);
    if (!n)
        return;
    int read_index = c->mop == SIM_MOP_NS && is_read(c->op.kind) && !c->via_log;
    uint64_t idx = 0;
    int rc;
    c->seq++; /* attempts: each ReadIndex gets its own context */
    c->ctx = (uint64_t)c->id << 40 | c->seq;
    if (read_index) {
        rc = raft_read_index(n->r, c->ctx);
    } else {
        wire_store_u64(c->cmd.data + MCL_NOW_AT, now_ns(w));
        rc = raft_propose(n->r, c->cmd.data, c->cmd.len, &idx);
    }
    if (rc != CAIRN_NOTLEADER && rc != CAIRN_EBUSY && rc != CAIRN_LIMIT)
        trace_ev(w, read_index ? SIM_EV_READ : SIM_EV_PROPOSE, n->id, c->id, (uint8_t)c->op.kind,
                 c->op.arg[0], (uint64_t)(int64_t)rc, read_index ? c->ctx : idx, c->mop);
    if (rc == 0) {
        c->node = n->id;
        c->index = read_index ? c->index : idx;
        c->state = read_index ? SIM_CL_WAIT_READ : SIM_CL_WAIT_APPLY;
        c->deadline = w->tick + w->p.client_timeout;
    } else if (rc == CAIRN_NOTLEADER) {
        int hint = n->leader && n->leader != n->id;
        c->guess = hint ? n->leader : n->id % w->n_nodes + 1;
        c->next_tick = w->tick + (hint ? 1 : prng_range(&w->rng, 1, w->p.election_ticks / 2));
    } else if (rc == CAIRN_EBUSY || rc == CAIRN_LIMIT) {
        c->next_tick = w->tick + 1;
    } else {
        sim_fail(w, "core contract", "node %llu: %s returned %d (%s)", (unsigned long long)n->id,
                 read_index ? "raft_read_index" : "raft_propose", rc, cairn_err_name(rc));
    }
    sim_node_observe(w, n);
}

/* The attempt got no answer: try again (same bytes, same call time). */
static void mcl_retry(struct sim_world *w, struct sim_client *c, uint64_t why)
{
    trace_ev(w, SIM_EV_UNKNOWN, c->node, c->id, (uint8_t)c->op.kind, c->op.arg[0], 0, 0, why);
    w->st.retries++;
    if (w->o.corrupt == SIM_CORRUPT_NO_DEDUP && c->mop == SIM_MOP_NS && !is_read(c->op.kind)) {
        /* Self-test: the retry is a new command (as if the state machine
         * had no reply cache): an attempt that took effect may apply twice. */
        wire_store_u64(c->cmd.data + MCL_SEQ_AT, ++c->mseq);
        w->corrupted = 1;
    }
    c->state = SIM_CL_SUBMIT;
    c->next_tick = w->tick;
}

static void mcl_done(struct sim_world *w, struct sim_client *c, uint64_t status, uint64_t res)
{
    c->op.ret_time = ++w->step;
    c->op.out[0] = status;
    c->op.out[1] = res;
    hist_add(w, &c->op);
    if (is_read(c->op.kind))
        w->st.reads_ok++;
    else
        w->st.ops_ok++;
    trace_ev(w, SIM_EV_REPLY, c->node, c->id, (uint8_t)c->op.kind, c->op.arg[0], status, res, 0);
    mcl_idle(w, c);
}

/* READDIR's reply as nsmodel.c's listing bits; -1 if malformed. */
static int parse_listing(const struct sim_world *w, const uint8_t *p, size_t len, uint64_t dir,
                         uint64_t *bits)
{
    struct wire_dec d;
    wire_dec_init(&d, p + 4, len - 4);
    uint32_t n = wire_get_u32(&d);
    uint32_t lo = dir ? SIM_NS_ROOT_SLOTS : 0, hi = dir ? SIM_NS_SLOTS : SIM_NS_ROOT_SLOTS;
    *bits = 0;
    for (uint32_t i = 0; i < n && !d.err; i++) {
        wire_get_u64(&d); /* cookie */
        wire_get_u64(&d); /* ino */
        uint8_t type = wire_get_u8(&d);
        uint8_t nl = wire_get_u8(&d);
        const uint8_t *name = wire_get_raw(&d, nl);
        for (uint32_t s = lo; s < hi && name; s++) {
            if (nl == strlen(slot_name[s]) && memcmp(name, slot_name[s], nl) == 0) {
                *bits |= 1ull << (2 * s);
                if (type == (S_IFDIR >> 12))
                    *bits |= 1ull << (2 * s + 1);
            }
        }
    }
    uint8_t eof = wire_get_u8(&d);
    (void)w;
    return wire_dec_finish(&d) == 0 && eof == 1 ? 0 : -1;
}

/* A namespace operation's reply as the history records it. */
static void ns_reply(struct sim_world *w, struct sim_client *c, const uint8_t *p, size_t len)
{
    int st = meta_reply_status(p, len);
    uint64_t res = 0;
    int bad = st == CAIRN_TRUNCATED || st == CAIRN_BADMSG || st == CAIRN_SESSION;
    if (st == 0 && (c->op.kind == SIM_NS_CREATE || c->op.kind == SIM_NS_LOOKUP)) {
        struct meta_attr a;
        bad = meta_reply_attr(p, len, &a) != 0;
        uint64_t kind = S_ISDIR(a.mode) ? SIM_NS_DIR : SIM_NS_FILE;
        res = c->op.kind == SIM_NS_CREATE ? (a.mode & 0777u) : (kind | (a.mode & 0777u));
    } else if (st == 0 && c->op.kind == SIM_NS_READDIR) {
        bad = parse_listing(w, p, len, c->op.arg[0], &res) != 0;
    }
    if (bad) {
        sim_fail(w, st == CAIRN_SESSION ? "exactly-once" : "meta reply",
                 "client %u: %s reply of %zu bytes, status %d (%s)", c->id,
                 c->via_log || !is_read(c->op.kind) ? "applied" : "query", len, st,
                 cairn_err_name(st));
        return;
    }
    mcl_done(w, c, (uint64_t)(int64_t)st, res);
}

/* The reply to a client's command (applied, or served after ReadIndex). */
static void mcl_reply(struct sim_world *w, struct sim_client *c, const uint8_t *p, size_t len)
{
    int st = meta_reply_status(p, len);
    if (c->mop == SIM_MOP_NS) {
        ns_reply(w, c, p, len);
        return;
    }
    struct meta_attr a;
    if (c->mop == SIM_MOP_OPEN && st == 0 && len >= 12) {
        c->session = wire_load_u64(p + 4);
        c->mseq = 0;
    } else if (c->mop == SIM_MOP_SETUP && meta_reply_attr(p, len, &a) == 0) {
        w->sub_ino = a.ino;
    } else {
        sim_fail(w, "exactly-once", "client %u: %s answered %d (%s)", c->id,
                 c->mop == SIM_MOP_OPEN ? "SESSION_OPEN" : "MKDIR sub (retried with its seq)", st,
                 cairn_err_name(st));
        return;
    }
    trace_ev(w, SIM_EV_REPLY, c->node, c->id, 0, c->mop, c->session, w->sub_ino, 0);
    mcl_idle(w, c);
}

/* Equal commands but for the timestamp the proposing node put in. */
static int same_cmd(const struct cairn_buf *cmd, const uint8_t *p, size_t len)
{
    return len == cmd->len && len >= MCL_NOW_AT + MCL_NOW_LEN &&
           memcmp(p, cmd->data, MCL_NOW_AT) == 0 &&
           memcmp(p + MCL_NOW_AT + MCL_NOW_LEN, cmd->data + MCL_NOW_AT + MCL_NOW_LEN,
                  len - MCL_NOW_AT - MCL_NOW_LEN) == 0;
}

void mcl_on_apply(struct sim_world *w, struct sim_node *n, const struct raft_entry *e,
                  const struct cairn_buf *reply)
{
    for (uint32_t i = 0; i < w->p.n_clients && !w->failed; i++) {
        struct sim_client *c = &w->clients[i];
        if (c->state != SIM_CL_WAIT_APPLY || c->node != n->id || c->index != e->index)
            continue;
        if (e->type == RAFT_ENTRY_NORMAL && same_cmd(&c->cmd, e->data, e->len))
            mcl_reply(w, c, reply->data, reply->len);
        else
            mcl_retry(w, c, 1); /* another entry took the slot */
    }
}

void mcl_on_read(struct sim_world *w, struct sim_node *n, uint64_t ctx)
{
    for (uint32_t i = 0; i < w->p.n_clients && !w->failed; i++) {
        struct sim_client *c = &w->clients[i];
        if (c->state != SIM_CL_WAIT_READ || c->node != n->id || c->ctx != ctx)
            continue;
        buf_reset(&w->reply);
        n->sm.ops->query(&n->sm, c->cmd.data, c->cmd.len, &w->reply);
        mcl_reply(w, c, w->reply.data, w->reply.len);
    }
}

void mcl_on_crash(struct sim_world *w, struct sim_node *n)
{
    for (uint32_t i = 0; i < w->p.n_clients; i++) {
        struct sim_client *c = &w->clients[i];
        if ((c->state == SIM_CL_WAIT_APPLY || c->state == SIM_CL_WAIT_READ) && c->node == n->id)
            mcl_retry(w, c, 2);
    }
}

void mcl_step(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->p.n_clients && !w->failed; i++) {
        struct sim_client *c = &w->clients[i];
        switch (c->state) {
        case SIM_CL_IDLE:
            if (w->draining || w->tick < c->next_tick)
                break;
            mcl_begin(w, c);
            mcl_submit(w, c);
            break;
        case SIM_CL_SUBMIT:
            if (w->tick >= c->next_tick)
                mcl_submit(w, c);
            break;
        case SIM_CL_WAIT_APPLY:
        case SIM_CL_WAIT_READ:
            if (w->tick > c->deadline)
                mcl_retry(w, c, 3);
            break;
        }
    }
}

int mcl_busy(const struct sim_world *w)
{
    for (uint32_t i = 0; i < w->p.n_clients; i++)
        if (w->clients[i].state != SIM_CL_IDLE)
            return 1;
    return 0;
}

/* End of the run: a mutation some node accepted is unknown; the rest never
 * happened or constrains nothing. */
void mcl_finish(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->p.n_clients; i++) {
        struct sim_client *c = &w->clients[i];
        if (c->state != SIM_CL_IDLE && c->mop == SIM_MOP_NS && !is_read(c->op.kind) &&
            c->index != 0) {
            c->op.ret_time = LIN_TIME_INF;
            hist_add(w, &c->op);
            w->st.ops_unknown++;
        }
        c->state = SIM_CL_IDLE;
    }
}

/* Background load: bursts of TICK commands (time passes) on the leader. */
void mcl_load_step(struct sim_world *w)
{
    if (!prng_chance(&w->rng, w->p.load_permille, 1000))
        return;
    struct sim_node *l = sim_find_leader(w);
    if (!l)
        return;
    uint32_t burst = (uint32_t)prng_range(&w->rng, 1, w->p.load_batch_max);
    struct cairn_buf b;
    buf_init(&b, 0);
    struct meta_hdr h;
    hdr(&h, 0, 0);
    h.now_ns = now_ns(w);
    CAIRN_ASSERT(meta_cmd_tick(&b, &h) == 0);
    for (uint32_t i = 0; i < burst; i++) {
        uint64_t idx;
        if (raft_propose(l->r, b.data, b.len, &idx) != 0)
            break;
    }
    buf_free(&b);
    sim_node_observe(w, l);
}

void mcl_probe_cmd(struct sim_world *w, uint64_t seq, struct cairn_buf *out)
{
    struct meta_hdr h;
    hdr(&h, 0, 0);
    h.now_ns = now_ns(w);
    buf_reset(out);
    CAIRN_ASSERT(meta_cmd_getattr(out, &h, MCL_PROBE_INO_BASE + seq) == 0);
}
