/*
 * trace.c: the event trace of a run and the failure report.
 *
 * Events are kept as small binary records in a ring (formatting every event
 * would cost more than simulating it) and formatted only when printed: all
 * of them with --verbose, the last SIM_TRACE_SHOW in a failure report. A
 * digest folds every event so that two runs of one seed can be compared.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "sim.h"

static struct sim_world *current_world;

void sim_set_current(struct sim_world *w) { current_world = w; }

static const char *ev_name(uint8_t kind)
{
    static const char *const names[] = {
        [SIM_EV_SEND] = "send",           [SIM_EV_DELIVER] = "deliver",
        [SIM_EV_DROP] = "drop",           [SIM_EV_DUP] = "dup",
        [SIM_EV_READY] = "ready",         [SIM_EV_SYNC] = "sync",
        [SIM_EV_APPLY] = "apply",         [SIM_EV_ROLE] = "role",
        [SIM_EV_CRASH] = "CRASH",         [SIM_EV_RESTART] = "RESTART",
        [SIM_EV_START] = "START",         [SIM_EV_STOP] = "STOP",
        [SIM_EV_PARTITION] = "PARTITION", [SIM_EV_CUT] = "CUT",
        [SIM_EV_HEAL] = "HEAL",           [SIM_EV_CONF] = "conf",
        [SIM_EV_TRANSFER] = "transfer",   [SIM_EV_PROPOSE] = "propose",
        [SIM_EV_READ] = "read-index",     [SIM_EV_REPLY] = "reply",
        [SIM_EV_UNKNOWN] = "unknown",     [SIM_EV_SNAPSHOT] = "snapshot",
        [SIM_EV_INSTALL] = "install",     [SIM_EV_SLOW] = "SLOW",
        [SIM_EV_PHASE] = "PHASE",         [SIM_EV_CORRUPT] = "CORRUPT",
        [SIM_EV_PROBE] = "probe",         [SIM_EV_UNREACH] = "unreachable",
    };
    if (kind < CAIRN_ARRAY_LEN(names) && names[kind])
        return names[kind];
    return "?";
}

static const char *op_name(uint8_t op)
{
    switch (op) {
    case LIN_KV_GET:
        return "GET";
    case LIN_KV_PUT:
        return "PUT";
    case LIN_KV_CAS:
        return "CAS";
    case SIM_NS_CREATE:
        return "CREATE";
    case SIM_NS_MKDIR:
        return "MKDIR";
    case SIM_NS_UNLINK:
        return "UNLINK";
    case SIM_NS_RMDIR:
        return "RMDIR";
    case SIM_NS_RENAME:
        return "RENAME";
    case SIM_NS_LOOKUP:
        return "LOOKUP";
    case SIM_NS_READDIR:
        return "READDIR";
    default:
        return "?";
    }
}

static const char *conf_op_name(uint8_t op)
{
    switch (op) {
    case RAFT_CONF_ADD_VOTER:
        return "add-voter";
    case RAFT_CONF_ADD_LEARNER:
        return "add-learner";
    case RAFT_CONF_REMOVE:
        return "remove";
    default:
        return "?";
    }
}

typedef unsigned long long ull;

/* A return code recorded as u64: its error name. */
static const char *rc_name(uint64_t rc)
{
    return rc == 0 ? "ok" : cairn_err_name((int)(int64_t)rc);
}

/* The details of one event, by kind (what a..d mean is set where the event
 * is recorded). */
static void msg_details(const struct sim_ev *e, char *s, size_t n)
{
    snprintf(s, n, "%u->%u %s term=%llu idx=%llu logterm=%llu n=%llu commit=%llu", e->node, e->peer,
             raft_msg_type_name(e->sub & 0x3f), (ull)e->a, (ull)e->b, (ull)(e->c >> 32),
             (ull)(e->c & 0xffffffffu), (ull)e->d);
    if (e->sub & 0x80)
        snprintf(s + strlen(s), n - strlen(s), " reject");
    if (e->sub & 0x40)
        snprintf(s + strlen(s), n - strlen(s), " (partition/down)");
}

/* Events of the shell and of clients. */
static void client_details(const struct sim_ev *e, char *s, size_t n)
{
    switch (e->kind) {
    case SIM_EV_PROPOSE:
        snprintf(s, n, "client %u at node %u %s key=%llu -> %s index=%llu", e->peer, e->node,
                 op_name(e->sub), (ull)e->a, rc_name(e->b), (ull)e->c);
        break;
    case SIM_EV_READ:
        snprintf(s, n, "client %u at node %u GET key=%llu -> %s ctx=%#llx", e->peer, e->node,
                 (ull)e->a, rc_name(e->b), (ull)e->c);
        break;
    case SIM_EV_PROBE:
        snprintf(s, n, "liveness probe at node %u -> %s index=%llu", e->node, rc_name(e->b),
                 (ull)e->c);
        break;
    default: /* SIM_EV_REPLY, SIM_EV_UNKNOWN */
        snprintf(s, n, "client %u %s key=%llu arg=%#llx out=%#llx", e->peer, op_name(e->sub),
                 (ull)e->a, (ull)e->b, (ull)e->c);
        break;
    }
}

/* Events of a node's shell: ready batches, syncs, roles, applies. */
static void node_details(const struct sim_ev *e, char *s, size_t n)
{
    switch (e->kind) {
    case SIM_EV_READY:
        if (e->a)
            snprintf(s, n, "node %u entries %llu..%llu", e->node, (ull)(e->a >> 32),
                     (ull)(e->a & 0xffffffffu));
        else
            snprintf(s, n, "node %u no entries", e->node);
        if (e->sub)
            snprintf(s + strlen(s), n - strlen(s), ", hard state term=%llu commit=%llu", (ull)e->b,
                     (ull)e->c);
        snprintf(s + strlen(s), n - strlen(s), ", %llu msgs", (ull)e->d);
        break;
    case SIM_EV_SYNC:
        snprintf(s, n, "node %u durable: last=%llu term=%llu commit=%llu", e->node, (ull)e->a,
                 (ull)e->b, (ull)e->c);
        break;
    case SIM_EV_ROLE:
        snprintf(s, n, "node %u -> %s term=%llu leader=%llu commit=%llu", e->node,
                 raft_role_name((enum raft_role)e->sub), (ull)e->a, (ull)e->b, (ull)e->c);
        break;
    case SIM_EV_CRASH:
        snprintf(s, n, "node %u (unsynced batch lost=%llu, torn: kept %llu pieces) down %llu ticks",
                 e->node, (ull)e->a, (ull)e->b, (ull)e->c);
        break;
    case SIM_EV_RESTART:
    case SIM_EV_START:
        snprintf(s, n, "node %u term=%llu commit=%llu snap=%llu last=%llu", e->node, (ull)e->a,
                 (ull)e->b, (ull)e->c, (ull)e->d);
        break;
    default: /* SIM_EV_APPLY, SIM_EV_INSTALL, SIM_EV_SNAPSHOT */
        snprintf(s, n, "node %u index=%llu term=%llu", e->node, (ull)e->a, (ull)e->b);
        break;
    }
}

/* Events of the nemesis and of the run's phases. */
static void fault_details(const struct sim_ev *e, char *s, size_t n)
{
    switch (e->kind) {
    case SIM_EV_PARTITION:
        snprintf(s, n, "groups by mask %#llx | %#llx", (ull)e->a, (ull)e->b);
        break;
    case SIM_EV_CUT:
        snprintf(s, n, "one-way %u -/-> %u", e->node, e->peer);
        break;
    case SIM_EV_CONF:
        snprintf(s, n, "leader %u %s %u -> %s index=%llu", e->node, conf_op_name(e->sub), e->peer,
                 rc_name(e->a), (ull)e->b);
        break;
    case SIM_EV_TRANSFER:
        snprintf(s, n, "leader %u to %u -> %s", e->node, e->peer, rc_name(e->a));
        break;
    case SIM_EV_CORRUPT:
        snprintf(s, n, "self-test corruption: node %u index %llu term %llu", e->node, (ull)e->a,
                 (ull)e->b);
        break;
    case SIM_EV_SLOW:
        snprintf(s, n, "node %u clock runs %s until %llu", e->node, e->sub ? "fast" : "slow",
                 (ull)e->a);
        break;
    case SIM_EV_UNREACH:
        snprintf(s, n, "node %u reports %u unreachable", e->node, e->peer);
        break;
    case SIM_EV_PHASE:
        snprintf(s, n, "faults end: network heals, crashed nodes restart; liveness check");
        break;
    case SIM_EV_HEAL:
        snprintf(s, n, "every link works again");
        break;
    default: /* SIM_EV_STOP */
        snprintf(s, n, "node %u stopped for good: no longer a member", e->node);
        break;
    }
}

static void ev_details(const struct sim_ev *e, char *s, size_t n)
{
    switch (e->kind) {
    case SIM_EV_SEND:
    case SIM_EV_DELIVER:
    case SIM_EV_DROP:
    case SIM_EV_DUP:
        msg_details(e, s, n);
        break;
    case SIM_EV_PROPOSE:
    case SIM_EV_READ:
    case SIM_EV_PROBE:
    case SIM_EV_REPLY:
    case SIM_EV_UNKNOWN:
        client_details(e, s, n);
        break;
    case SIM_EV_READY:
    case SIM_EV_SYNC:
    case SIM_EV_ROLE:
    case SIM_EV_CRASH:
    case SIM_EV_RESTART:
    case SIM_EV_START:
    case SIM_EV_APPLY:
    case SIM_EV_INSTALL:
    case SIM_EV_SNAPSHOT:
        node_details(e, s, n);
        break;
    default:
        fault_details(e, s, n);
        break;
    }
}

static void ev_print(FILE *f, const struct sim_ev *e)
{
    char s[256];
    ev_details(e, s, sizeof s);
    fprintf(f, "  t=%-5llu #%-7llu %-11s %s\n", (ull)e->tick, (ull)e->step, ev_name(e->kind), s);
}

void trace_ev(struct sim_world *w, uint8_t kind, uint64_t node, uint64_t peer, uint8_t sub,
              uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    struct sim_trace *t = &w->tr;
    struct sim_ev *e = &t->ring[t->n % SIM_TRACE_RING];
    w->step++;
    *e = (struct sim_ev){.step = w->step,
                         .tick = w->tick,
                         .kind = kind,
                         .node = (uint8_t)node,
                         .peer = (uint8_t)peer,
                         .sub = sub,
                         .a = a,
                         .b = b,
                         .c = c,
                         .d = d};
    t->n++;
    uint64_t mix[7] = {
        t->digest, w->tick, (uint64_t)kind << 24 | node << 16 | peer << 8 | sub, a, b, c, d};
    t->digest = hash_bytes(mix, sizeof mix, 0);
    if (t->verbose)
        ev_print(stdout, e);
}

void trace_print_last(const struct sim_world *w, unsigned n)
{
    const struct sim_trace *t = &w->tr;
    uint64_t k = t->n < n ? t->n : n;
    fprintf(stderr, "last %llu of %llu events:\n", (ull)k, (ull)t->n);
    for (uint64_t i = t->n - k; i < t->n; i++)
        ev_print(stderr, &t->ring[i % SIM_TRACE_RING]);
}

void sim_fail(struct sim_world *w, const char *inv, const char *fmt, ...)
{
    if (w->failed)
        return;
    w->failed = 1;
    snprintf(w->fail_inv, sizeof w->fail_inv, "%s", inv);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->fail_msg, sizeof w->fail_msg, fmt, ap);
    va_end(ap);
}

void sim_print_params(FILE *f, const struct sim_world *w)
{
    const struct sim_params *p = &w->p;
    fprintf(f,
            "seed %llu: voters=%u spares=%u election=%u heartbeat=%u prevote=%d "
            "checkquorum=%d batch=%u/%uB inflight=%u drop=%u%% dup=%u%% delay=%u..%u "
            "reorder=%d oneway=%d longdelay=%u/1000 sync<=%u torn=%d snap_every=%u "
            "fault_ticks=%u "
            "faults=%u/1000 down<=%u conf=%d transfer=%d clients=%u\n",
            (ull)w->seed, p->n_voters, p->n_spares, p->election_ticks, p->heartbeat_ticks,
            p->pre_vote, p->check_quorum, p->max_entries_per_msg, p->max_bytes_per_msg,
            p->max_inflight_msgs, p->drop_pct, p->dup_pct, p->delay_min, p->delay_max, p->reorder,
            p->one_way, p->long_delay_permille, p->sync_ticks_max, p->torn_writes,
            p->snapshot_every, p->fault_ticks, p->fault_permille, p->crash_down_max,
            p->conf_changes, p->transfers, p->n_clients);
}

/* The failure report: what broke, where, the events leading to it, and the
 * command that replays the seed. */
void sim_report(const struct sim_world *w)
{
    fprintf(stderr, "\nSIM FAILURE seed=%llu tick=%llu step=%llu\n", (ull)w->seed, (ull)w->tick,
            (ull)w->step);
    fprintf(stderr, "invariant broken: %s\n  %s\n", w->fail_inv, w->fail_msg);
    sim_print_params(stderr, w);
    trace_print_last(w, SIM_TRACE_SHOW);
    fprintf(stderr, "replay: make sim SEED=%llu%s\n", (ull)w->seed,
            w->o.sm == SIM_SM_META ? " SM=meta" : "");
    fflush(stderr);
}

/* A core assertion (or any abort) in the middle of a seed: say which seed and
 * what led there before dying. Not async-signal-safe, and need not be: the
 * process is single-threaded and about to end. */
static void on_abort(int sig)
{
    signal(sig, SIG_DFL);
    struct sim_world *w = current_world;
    if (w) {
        current_world = NULL;
        fprintf(stderr,
                "\nSIM ABORT (signal %d: a core assertion or crash) seed=%llu "
                "tick=%llu step=%llu\n",
                sig, (ull)w->seed, (ull)w->tick, (ull)w->step);
        sim_print_params(stderr, w);
        trace_print_last(w, SIM_TRACE_SHOW);
        fprintf(stderr, "replay: make sim SEED=%llu%s\n", (ull)w->seed,
                w->o.sm == SIM_SM_META ? " SM=meta" : "");
        fflush(stderr);
    }
    raise(sig);
}

void sim_install_abort_handler(void)
{
    signal(SIGABRT, on_abort);
    signal(SIGSEGV, on_abort);
    signal(SIGFPE, on_abort);
}
