/*
 * cmd.c: the commands of the golden-script language (tests/raft/README.md):
 * parsing one command line and driving the environment. A mistake in the
 * script (unknown command or option, a bad number, a node that does not
 * exist or is down) is a script error, never part of the expected output.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "golden.h"

typedef unsigned long long ull;

/* A command line is short text written by hand; these bound the parser. */
#define GOLDEN_LINE_MAX 1024
#define GOLDEN_ARGS_MAX 48

struct gctx {
    struct genv *e;
    char *tok[GOLDEN_ARGS_MAX];
    int ntok;
    char *err;
    size_t errlen;
    char line[GOLDEN_LINE_MAX];
};

static int fail(struct gctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct gctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return CAIRN_EINVAL;
}

/* Split on blanks; "(1, 2)" stays one token up to its ')', and a double-
 * quoted token may hold blanks (the quotes are removed). */
static int tokenize(struct gctx *c, const char *line)
{
    if (strlen(line) >= sizeof c->line)
        return fail(c, "line longer than %d bytes", GOLDEN_LINE_MAX - 1);
    memcpy(c->line, line, strlen(line) + 1);
    char *p = c->line;
    c->ntok = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            *p++ = '\0';
        if (!*p)
            break;
        if (c->ntok == GOLDEN_ARGS_MAX)
            return fail(c, "more than %d words", GOLDEN_ARGS_MAX);
        if (*p == '"') {
            c->tok[c->ntok++] = ++p;
            while (*p && *p != '"')
                p++;
            if (!*p)
                return fail(c, "unterminated quote");
            *p++ = '\0';
            continue;
        }
        c->tok[c->ntok++] = p;
        int depth = 0;
        while (*p && (depth > 0 || (*p != ' ' && *p != '\t'))) {
            depth += (*p == '(') - (*p == ')');
            p++;
        }
    }
    return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
    if (!*s || *s < '0' || *s > '9')
        return -1;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *v = x;
    return 0;
}

static int parse_bool(const char *s, int *v)
{
    if (strcmp(s, "true") == 0)
        *v = 1;
    else if (strcmp(s, "false") == 0)
        *v = 0;
    else
        return -1;
    return 0;
}

/* "(1,2,3)" or "()" or "2": a set of node ids as a bit mask. */
static int parse_ids(struct gctx *c, const char *s, uint32_t *mask)
{
    char buf[GOLDEN_LINE_MAX];
    size_t n = strlen(s);
    *mask = 0;
    if (n >= 2 && s[0] == '(' && s[n - 1] == ')') {
        s++;
        n -= 2;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (char *p = buf; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        char *q = p;
        while (*q && *q != ',' && *q != ' ')
            q++;
        char save = *q;
        *q = '\0';
        uint64_t id;
        if (parse_u64(p, &id) || id == 0 || id > GOLDEN_NODES_MAX)
            return fail(c, "bad node id '%s' in '%s'", p, s);
        *mask |= 1u << id;
        *q = save;
        p = q;
    }
    return 0;
}

static void mask_to_ids(uint32_t mask, uint64_t *ids, uint32_t *n)
{
    *n = 0;
    for (uint64_t id = 1; id <= GOLDEN_NODES_MAX; id++)
        if (mask & (1u << id))
            ids[(*n)++] = id;
}

/* The node named by token i; it must exist, and be running if up. */
static int node_arg(struct gctx *c, int i, int up, struct gnode **n)
{
    uint64_t id;
    if (i >= c->ntok)
        return fail(c, "missing node id");
    if (parse_u64(c->tok[i], &id) || id == 0 || id > GOLDEN_NODES_MAX || !c->e->nodes[id].exists)
        return fail(c, "no node '%s'", c->tok[i]);
    *n = &c->e->nodes[id];
    if (up && !(*n)->r)
        return fail(c, "node %llu is down", (ull)id);
    return 0;
}

static int u64_arg(struct gctx *c, int i, uint64_t *v)
{
    if (i >= c->ntok || parse_u64(c->tok[i], v))
        return fail(c, "argument %d: a number expected", i);
    return 0;
}

static int want_args(struct gctx *c, int lo, int hi)
{
    if (c->ntok - 1 < lo || c->ntok - 1 > hi)
        return fail(c, "%s takes %d to %d arguments", c->tok[0], lo, hi);
    return 0;
}

static void print_rc(struct genv *e, int rc)
{
    if (rc)
        gout(e, "error %s\n", cairn_err_name(rc));
}

/* --- add-nodes -------------------------------------------------------------- */

struct add_opts {
    struct raft_config cfg;
    uint32_t voters, learners;
    int has_conf;
    uint64_t index;
};

static int add_option(struct gctx *c, const char *k, const char *v, struct add_opts *o)
{
    uint64_t x = 0;
    int b = 0, bad = 0;
    if (strcmp(k, "voters") == 0 || strcmp(k, "learners") == 0) {
        o->has_conf = 1;
        return parse_ids(c, v, k[0] == 'v' ? &o->voters : &o->learners);
    }
    if (strcmp(k, "prevote") == 0 || strcmp(k, "checkquorum") == 0) {
        bad = parse_bool(v, &b);
        *(k[0] == 'p' ? &o->cfg.pre_vote : &o->cfg.check_quorum) = b;
    } else {
        bad = parse_u64(v, &x) || x > UINT32_MAX;
        if (strcmp(k, "index") == 0)
            o->index = x;
        else if (strcmp(k, "election") == 0)
            o->cfg.election_ticks = (uint32_t)x;
        else if (strcmp(k, "heartbeat") == 0)
            o->cfg.heartbeat_ticks = (uint32_t)x;
        else if (strcmp(k, "max-entries") == 0)
            o->cfg.max_entries_per_msg = (uint32_t)x;
        else if (strcmp(k, "max-bytes") == 0)
            o->cfg.max_bytes_per_msg = (uint32_t)x;
        else if (strcmp(k, "inflight") == 0)
            o->cfg.max_inflight_msgs = (uint32_t)x;
        else
            return fail(c, "add-nodes: unknown option %s", k);
    }
    return bad ? fail(c, "add-nodes: bad value %s=%s", k, v) : 0;
}

/* New nodes take the ids after the highest existing one. Without voters=
 * or learners=, the first nodes of a script form the group themselves and
 * later ones start, as raft.h prescribes for a node that joins, with the
 * group's initial configuration (the first add-nodes'): they become members
 * through a configuration change and learn the rest from the leader. */
static int cmd_add_nodes(struct gctx *c)
{
    uint64_t count, first = 1;
    int rc = u64_arg(c, 1, &count);
    if (rc)
        return rc;
    struct add_opts o = {.cfg = {.election_ticks = 10,
                                 .heartbeat_ticks = 1,
                                 .max_entries_per_msg = CAIRN_RAFT_APPEND_ENTRIES_MAX,
                                 .max_bytes_per_msg = CAIRN_RAFT_APPEND_BYTES_MAX,
                                 .max_inflight_msgs = CAIRN_RAFT_INFLIGHT_MAX}};
    for (int i = 2; i < c->ntok && rc == 0; i++) {
        char *eq = strchr(c->tok[i], '=');
        if (!eq)
            return fail(c, "add-nodes: option expected, got %s", c->tok[i]);
        *eq = '\0';
        rc = add_option(c, c->tok[i], eq + 1, &o);
    }
    if (rc)
        return rc;
    for (uint64_t id = 1; id <= GOLDEN_NODES_MAX; id++)
        if (c->e->nodes[id].exists)
            first = id + 1;
    if (count == 0 || first + count - 1 > GOLDEN_NODES_MAX)
        return fail(c, "add-nodes: ids %llu.. exceed %u nodes", (ull)first, GOLDEN_NODES_MAX);
    if (!o.has_conf && first == 1)
        o.voters = (uint32_t)(((1ull << count) - 1) << 1);
    struct raft_conf conf = {0};
    mask_to_ids(o.voters, conf.voters, &conf.n_voters);
    mask_to_ids(o.learners, conf.learners, &conf.n_learners);
    if (!o.has_conf && c->e->has_initial)
        conf = c->e->initial_conf;
    if (!c->e->has_initial) {
        c->e->initial_conf = conf;
        c->e->has_initial = 1;
    }
    for (uint64_t id = first; id < first + count; id++) {
        o.cfg.id = id;
        o.cfg.seed = id;
        CAIRN_ASSERT(genv_add_node(c->e, &o.cfg, &conf, o.index) == 0);
    }
    return 0;
}

/* --- commands on one node ---------------------------------------------------- */

static int cmd_campaign(struct gctx *c)
{
    struct gnode *n;
    int rc = want_args(c, 1, 1);
    if (rc || (rc = node_arg(c, 1, 1, &n)))
        return rc;
    raft_campaign(n->r);
    genv_observe(c->e, n);
    return 0;
}

static int cmd_propose(struct gctx *c)
{
    struct gnode *n;
    int rc = want_args(c, 2, 2);
    if (rc || (rc = node_arg(c, 1, 1, &n)))
        return rc;
    uint64_t index = 0;
    rc = raft_propose(n->r, c->tok[2], strlen(c->tok[2]), &index);
    if (rc == 0)
        gout(c->e, "index %llu\n", (ull)index);
    print_rc(c->e, rc);
    genv_observe(c->e, n);
    return 0;
}

static int cmd_propose_conf(struct gctx *c)
{
    struct gnode *n;
    uint64_t node, index = 0;
    int rc = want_args(c, 3, 3);
    if (rc || (rc = node_arg(c, 1, 1, &n)) || (rc = u64_arg(c, 3, &node)))
        return rc;
    struct raft_conf_change cc = {.node = node};
    if (strcmp(c->tok[2], "add-voter") == 0)
        cc.op = RAFT_CONF_ADD_VOTER;
    else if (strcmp(c->tok[2], "add-learner") == 0)
        cc.op = RAFT_CONF_ADD_LEARNER;
    else if (strcmp(c->tok[2], "remove") == 0)
        cc.op = RAFT_CONF_REMOVE;
    else
        return fail(c, "unknown change %s (add-voter, add-learner, remove)", c->tok[2]);
    rc = raft_propose_conf(n->r, &cc, &index);
    if (rc == 0)
        gout(c->e, "index %llu\n", (ull)index);
    print_rc(c->e, rc);
    genv_observe(c->e, n);
    return 0;
}

/* Shared shape of transfer-leader, read-index, report-unreachable: a node
 * and one number handed to a core call. */
static int cmd_node_u64(struct gctx *c, int (*call)(struct raft *, uint64_t))
{
    struct gnode *n;
    uint64_t v;
    int rc = want_args(c, 2, 2);
    if (rc || (rc = node_arg(c, 1, 1, &n)) || (rc = u64_arg(c, 2, &v)))
        return rc;
    print_rc(c->e, call(n->r, v));
    genv_observe(c->e, n);
    return 0;
}

static int call_unreachable(struct raft *r, uint64_t to)
{
    raft_report_unreachable(r, to);
    return 0;
}

static int cmd_transfer(struct gctx *c) { return cmd_node_u64(c, raft_transfer_leader); }
static int cmd_read_index(struct gctx *c) { return cmd_node_u64(c, raft_read_index); }
static int cmd_unreachable(struct gctx *c) { return cmd_node_u64(c, call_unreachable); }

static int tick_n(struct gctx *c, struct gnode *n, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        raft_tick(n->r);
        genv_observe(c->e, n);
    }
    return 0;
}

/* "tick all N": N rounds in which every running node ticks once, in id
 * order: time passing for the whole cluster. */
static int tick_all(struct gctx *c, uint64_t rounds)
{
    for (uint64_t i = 0; i < rounds; i++)
        for (uint64_t id = 1; id <= GOLDEN_NODES_MAX; id++)
            if (c->e->nodes[id].r)
                tick_n(c, &c->e->nodes[id], 1);
    return 0;
}

static int cmd_tick(struct gctx *c)
{
    struct gnode *n = NULL;
    uint64_t count = 1;
    int rc = want_args(c, 1, 2);
    if (rc || (c->ntok == 3 && (rc = u64_arg(c, 2, &count))))
        return rc;
    if (strcmp(c->tok[1], "all") == 0)
        return tick_all(c, count);
    if ((rc = node_arg(c, 1, 1, &n)))
        return rc;
    return tick_n(c, n, count);
}

/* 2 * election - 1 ticks: enough for any randomized timeout, drawn in
 * [election, 2 * election), to expire once on a freshly reset timer, and
 * too few for a second timeout to follow the first. */
static int cmd_tick_election(struct gctx *c)
{
    struct gnode *n;
    int rc = want_args(c, 1, 1);
    if (rc || (rc = node_arg(c, 1, 1, &n)))
        return rc;
    return tick_n(c, n, 2ull * n->cfg.election_ticks - 1);
}

static int cmd_tick_heartbeat(struct gctx *c)
{
    struct gnode *n;
    int rc = want_args(c, 1, 1);
    if (rc || (rc = node_arg(c, 1, 1, &n)))
        return rc;
    return tick_n(c, n, n->cfg.heartbeat_ticks);
}

static int cmd_crash(struct gctx *c)
{
    struct gnode *n;
    int rc = want_args(c, 1, 1);
    if (rc || (rc = node_arg(c, 1, 1, &n)))
        return rc;
    genv_crash(c->e, n);
    return 0;
}

static int cmd_restart(struct gctx *c)
{
    struct gnode *n;
    int rc = want_args(c, 1, 1);
    if (rc || (rc = node_arg(c, 1, 0, &n)))
        return rc;
    if (n->r)
        return fail(c, "node %llu is running", (ull)n->id);
    genv_restart(c->e, n);
    return 0;
}

static int cmd_compact(struct gctx *c)
{
    struct gnode *n;
    uint64_t index;
    int rc = want_args(c, 2, 2);
    if (rc || (rc = node_arg(c, 1, 1, &n)) || (rc = u64_arg(c, 2, &index)))
        return rc;
    return genv_compact(c->e, n, index);
}

/* --- commands on sets of nodes ------------------------------------------------ */

/* The nodes named by the arguments from token `from` on (all existing nodes
 * if none or "all"); each must be running if up. */
static int nodes_args(struct gctx *c, int from, int up, uint32_t *mask)
{
    *mask = 0;
    if (c->ntok <= from || (c->ntok == from + 1 && strcmp(c->tok[from], "all") == 0)) {
        for (uint64_t id = 1; id <= GOLDEN_NODES_MAX; id++)
            if (c->e->nodes[id].exists && (!up || c->e->nodes[id].r))
                *mask |= 1u << id;
        return 0;
    }
    for (int i = from; i < c->ntok; i++) {
        struct gnode *n;
        int rc = node_arg(c, i, up, &n);
        if (rc)
            return rc;
        *mask |= 1u << n->id;
    }
    return 0;
}

static int cmd_process_ready(struct gctx *c)
{
    uint32_t mask;
    int rc = nodes_args(c, 1, 1, &mask);
    if (rc)
        return rc;
    for (uint64_t id = 1; id <= GOLDEN_NODES_MAX; id++) {
        struct gnode *n = &c->e->nodes[id];
        if ((mask & (1u << id)) && raft_has_ready(n->r))
            genv_handle_ready(c->e, n);
    }
    return 0;
}

static int deliver_option(struct gctx *c, char *tok, struct gfilter *f)
{
    char *eq = strchr(tok, '=');
    *eq = '\0';
    if (strcmp(tok, "drop") == 0)
        return parse_ids(c, eq + 1, &f->drop);
    if (strcmp(tok, "from") == 0)
        return parse_ids(c, eq + 1, &f->from);
    if (strcmp(tok, "type") == 0) {
        f->type = fmt_msg_type_parse(eq + 1);
        return f->type ? 0 : fail(c, "unknown message type %s", eq + 1);
    }
    return fail(c, "deliver-msgs: unknown option %s", tok);
}

static int cmd_deliver(struct gctx *c)
{
    struct gfilter f = {0};
    for (int i = 1; i < c->ntok; i++) {
        int rc;
        uint32_t one;
        if (strchr(c->tok[i], '='))
            rc = deliver_option(c, c->tok[i], &f);
        else if ((rc = parse_ids(c, c->tok[i], &one)) == 0)
            f.to |= one;
        if (rc)
            return rc;
    }
    gnet_deliver(c->e, &f);
    return 0;
}

static int cmd_stabilize(struct gctx *c)
{
    uint32_t mask = 0;
    int rc = c->ntok > 1 ? nodes_args(c, 1, 0, &mask) : 0;
    return rc ? rc : gnet_stabilize(c->e, mask);
}

/* "partition 1 | 2 3": groups separated by '|'; nodes not named (and nodes
 * added later) form one more group together. */
static int cmd_partition(struct gctx *c)
{
    int group = 1;
    uint32_t seen = 0;
    for (uint64_t id = 1; id <= GOLDEN_NODES_MAX; id++)
        c->e->nodes[id].group = 0;
    for (int i = 1; i < c->ntok; i++) {
        if (strcmp(c->tok[i], "|") == 0) {
            group++;
            continue;
        }
        struct gnode *n;
        int rc = node_arg(c, i, 0, &n);
        if (rc)
            return rc;
        if (seen & (1u << n->id))
            return fail(c, "node %llu in two groups", (ull)n->id);
        seen |= 1u << n->id;
        n->group = group;
    }
    return 0;
}

static int cmd_heal(struct gctx *c)
{
    for (uint64_t id = 1; id <= GOLDEN_NODES_MAX; id++)
        c->e->nodes[id].group = 0;
    return want_args(c, 0, 0);
}

/* status, raft-log, kv: print something for each named node. */
static int cmd_inspect(struct gctx *c, void (*print)(struct genv *, struct gnode *), int up)
{
    uint32_t mask;
    int rc = nodes_args(c, 1, up, &mask);
    if (rc)
        return rc;
    for (uint64_t id = 1; id <= GOLDEN_NODES_MAX; id++)
        if (mask & (1u << id))
            print(c->e, &c->e->nodes[id]);
    return 0;
}

static int cmd_status(struct gctx *c) { return cmd_inspect(c, genv_print_status, 1); }
static int cmd_raft_log(struct gctx *c) { return cmd_inspect(c, genv_print_log, 0); }
static int cmd_kv(struct gctx *c) { return cmd_inspect(c, genv_print_kv, 1); }

static const struct {
    const char *name;
    int (*fn)(struct gctx *c);
} commands[] = {
    {"add-nodes", cmd_add_nodes},
    {"campaign", cmd_campaign},
    {"propose", cmd_propose},
    {"propose-conf-change", cmd_propose_conf},
    {"transfer-leader", cmd_transfer},
    {"read-index", cmd_read_index},
    {"report-unreachable", cmd_unreachable},
    {"tick", cmd_tick},
    {"tick-election", cmd_tick_election},
    {"tick-heartbeat", cmd_tick_heartbeat},
    {"process-ready", cmd_process_ready},
    {"deliver-msgs", cmd_deliver},
    {"stabilize", cmd_stabilize},
    {"partition", cmd_partition},
    {"heal", cmd_heal},
    {"crash", cmd_crash},
    {"restart", cmd_restart},
    {"compact", cmd_compact},
    {"status", cmd_status},
    {"raft-log", cmd_raft_log},
    {"kv", cmd_kv},
};

int genv_exec(struct genv *e, const char *line, struct cairn_buf *out, char *err, size_t errlen)
{
    struct gctx *c = gx_alloc(sizeof *c);
    c->e = e;
    c->err = err;
    c->errlen = errlen;
    int rc = tokenize(c, line);
    size_t start = out->len;
    e->out = out;
    if (rc == 0 && c->ntok == 0)
        rc = fail(c, "empty command");
    if (rc == 0) {
        size_t i = 0;
        while (i < CAIRN_ARRAY_LEN(commands) && strcmp(commands[i].name, c->tok[0]) != 0)
            i++;
        rc = i < CAIRN_ARRAY_LEN(commands) ? commands[i].fn(c)
                                           : fail(c, "unknown command '%s'", c->tok[0]);
    }
    if (rc == 0 && out->len == start)
        gout(e, "ok\n");
    e->out = NULL;
    free(c);
    return rc;
}
