/*
 * net.c: the network of a golden-script environment: one FIFO queue of
 * messages sent (made available by process-ready) and not yet delivered.
 * Delivery happens only when the script says so; a message is lost at
 * delivery time if the script drops it, if its recipient is down or does
 * not exist, or if a partition separates sender and recipient. Messages to
 * one recipient are delivered in the order they were sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "golden.h"

typedef unsigned long long ull;

void gnet_send(struct genv *e, const struct raft_msg *m)
{
    e->net = gx_grow(e->net, &e->cap_net, e->n_net + 1, sizeof e->net[0]);
    gx_msg_copy(&e->net[e->n_net++], m);
}

void gnet_free(struct genv *e)
{
    for (size_t i = 0; i < e->n_net; i++)
        gx_msg_free(&e->net[i]);
    free(e->net);
    e->net = NULL;
    e->n_net = e->cap_net = 0;
}

static int in_mask(uint32_t mask, uint64_t id) { return id < 32 && ((mask >> id) & 1u); }

static int matches(const struct gfilter *f, const struct raft_msg *m)
{
    if (f->from && !in_mask(f->from, m->from))
        return 0;
    if (f->type && m->type != f->type)
        return 0;
    return 1;
}

static int group_of(const struct genv *e, uint64_t id)
{
    if (id == 0 || id > GOLDEN_NODES_MAX || !e->nodes[id].exists)
        return 0;
    return e->nodes[id].group;
}

/* Why m is lost instead of delivered, or NULL if it arrives. */
static const char *drop_reason(const struct genv *e, const struct gfilter *f,
                               const struct raft_msg *m)
{
    if (in_mask(f->drop, m->to))
        return "dropped";
    if (m->to == 0 || m->to > GOLDEN_NODES_MAX || !e->nodes[m->to].exists)
        return "no such node";
    if (!e->nodes[m->to].r)
        return "down";
    if (group_of(e, m->from) != group_of(e, m->to))
        return "partition";
    return NULL;
}

/* Take the matching messages to `to` out of the queue, keeping the rest in
 * order; returns them in a new array (the caller frees it). */
static struct raft_msg *take_for(struct genv *e, uint64_t to, const struct gfilter *f,
                                 size_t *count)
{
    struct raft_msg *take = gx_alloc((e->n_net + 1) * sizeof *take);
    size_t nt = 0, keep = 0;
    for (size_t i = 0; i < e->n_net; i++) {
        if (e->net[i].to == to && matches(f, &e->net[i]))
            take[nt++] = e->net[i];
        else
            e->net[keep++] = e->net[i];
    }
    e->n_net = keep;
    *count = nt;
    return take;
}

/* Deliver (step) or drop every matching message to one recipient. */
static size_t deliver_to(struct genv *e, uint64_t to, const struct gfilter *f)
{
    size_t nt;
    struct raft_msg *take = take_for(e, to, f, &nt);
    if (nt)
        gout(e, "> %llu receiving messages\n", (ull)to);
    for (size_t i = 0; i < nt; i++) {
        const char *why = drop_reason(e, f, &take[i]);
        if (why)
            gout(e, "  %s: ", why);
        else
            gout(e, "  ");
        fmt_msg(e->out, &take[i]);
        gout(e, "\n");
        if (!why) {
            struct gnode *n = &e->nodes[to];
            int rc = raft_step(n->r, &take[i]);
            if (rc)
                gout(e, "  step returned %s\n", cairn_err_name(rc));
            genv_observe(e, n);
        }
        gx_msg_free(&take[i]);
    }
    free(take);
    return nt;
}

/* A crashed node receives nothing: what was on its way to it is lost. */
void gnet_drop_to(struct genv *e, uint64_t to)
{
    struct gfilter all = {0};
    size_t nt;
    struct raft_msg *take = take_for(e, to, &all, &nt);
    for (size_t i = 0; i < nt; i++) {
        gout(e, "  lost: ");
        fmt_msg(e->out, &take[i]);
        gout(e, "\n");
        gx_msg_free(&take[i]);
    }
    free(take);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Recipients of matching queued messages, ascending, each once. The list is
 * taken before any delivery: stepping a message queues nothing (replies
 * leave only through a later ready). */
size_t gnet_deliver(struct genv *e, const struct gfilter *f)
{
    uint32_t want = f->to ? (f->to | f->drop) : 0;
    uint64_t *targets = gx_alloc((e->n_net + 1) * sizeof *targets);
    size_t nt = 0;
    for (size_t i = 0; i < e->n_net; i++) {
        const struct raft_msg *m = &e->net[i];
        if (!matches(f, m) || (want && !in_mask(want, m->to)))
            continue;
        targets[nt++] = m->to;
    }
    qsort(targets, nt, sizeof targets[0], cmp_u64);
    size_t done = 0;
    for (size_t i = 0; i < nt; i++)
        if (i == 0 || targets[i] != targets[i - 1])
            done += deliver_to(e, targets[i], f);
    free(targets);
    return done;
}

/* Round after round, every selected node with a ready handles it, then the
 * messages to selected nodes are delivered; stops when a round does
 * nothing. A core that never goes quiet is reported as a violation. */
int gnet_stabilize(struct genv *e, uint32_t mask)
{
    for (unsigned round = 0; round < GOLDEN_STABILIZE_ROUNDS_MAX; round++) {
        int busy = 0;
        for (uint64_t id = 1; id <= GOLDEN_NODES_MAX; id++) {
            struct gnode *n = &e->nodes[id];
            if (!n->exists || !n->r || (mask && !in_mask(mask, id)))
                continue;
            if (raft_has_ready(n->r)) {
                genv_handle_ready(e, n);
                busy = 1;
            }
        }
        struct gfilter f = {.to = mask};
        if (gnet_deliver(e, &f))
            busy = 1;
        if (!busy)
            return 0;
    }
    gviolation(e, "stabilize: still busy after %u rounds", GOLDEN_STABILIZE_ROUNDS_MAX);
    return 0;
}
