/*
 * kv.c: the simulator's built-in state machine (the default mode): a few u64
 * registers written by PUT and CAS commands, as an ops table of sm.c (which
 * keeps the membership and the chain digest every mode shares). Its snapshot
 * bytes are the registers.
 */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "sim.h"
#include "wire/codec.h"

void kv_cmd_encode(const struct sim_cmd *c, uint8_t out[SIM_CMD_BYTES])
{
    memset(out, 0, SIM_CMD_BYTES);
    out[0] = c->op;
    out[1] = c->key;
    wire_store_u32(out + 4, c->client);
    wire_store_u64(out + 8, c->seq);
    wire_store_u64(out + 16, c->a0);
    wire_store_u64(out + 24, c->a1);
}

int kv_cmd_decode(const uint8_t *p, size_t len, struct sim_cmd *c)
{
    if (len < SIM_CMD_BYTES)
        return -1;
    c->op = p[0];
    c->key = p[1];
    c->client = wire_load_u32(p + 4);
    c->seq = wire_load_u64(p + 8);
    c->a0 = wire_load_u64(p + 16);
    c->a1 = wire_load_u64(p + 24);
    if (c->op < SIM_CMD_PUT || c->op > SIM_CMD_PROBE || c->key >= SIM_KEYS)
        return -1;
    return 0;
}

uint64_t kv_entry_hash(uint64_t term, uint8_t type, const uint8_t *data, size_t len)
{
    uint64_t h = hash_bytes(data, len, term * 31u + type);
    return h ? h : 1; /* 0 means "unknown" in the records */
}

static int conf_remove(uint64_t *ids, uint32_t *n, uint64_t id)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (ids[i] == id) {
            memmove(ids + i, ids + i + 1, (*n - i - 1) * sizeof *ids);
            (*n)--;
            return 1;
        }
    }
    return 0;
}

/* Membership as the core documents it: a node is in at most one list; adding
 * a voter promotes a learner; removing drops it from either list. */
void kv_conf_apply(struct raft_conf *c, const struct raft_conf_change *cc)
{
    int voter = 0;
    int present = sim_conf_has(c, cc->node, &voter);
    switch (cc->op) {
    case RAFT_CONF_ADD_VOTER:
        conf_remove(c->learners, &c->n_learners, cc->node);
        if (!(present && voter) && c->n_voters < CAIRN_RAFT_NODES_MAX)
            c->voters[c->n_voters++] = cc->node;
        break;
    case RAFT_CONF_ADD_LEARNER:
        if (!present && c->n_learners < CAIRN_RAFT_NODES_MAX)
            c->learners[c->n_learners++] = cc->node;
        break;
    case RAFT_CONF_REMOVE:
        conf_remove(c->voters, &c->n_voters, cc->node);
        conf_remove(c->learners, &c->n_learners, cc->node);
        break;
    default:
        break;
    }
}

/* Apply one command. A command the state machine cannot parse is applied
 * as a no-op (sm.c still folds it into the digest): the checkers compare
 * what was applied, not whether it made sense. Returns 1 if a CAS swapped. */
static int kv_sm_apply(struct sim_sm *sm, uint64_t index, const uint8_t *data, size_t len,
                       struct cairn_buf *reply)
{
    struct sim_cmd c;
    if (len == 0 || kv_cmd_decode(data, len, &c) != 0)
        return 0;
    switch (c.op) {
    case SIM_CMD_PUT:
    case SIM_CMD_FILL:
        sm->vals[c.key] = c.a0;
        break;
    case SIM_CMD_CAS:
        if (sm->vals[c.key] == c.a0) {
            sm->vals[c.key] = c.a1;
            return 1;
        }
        break;
    default:
        break;
    }
    return 0;
}

static void kv_sm_init(struct sim_sm *sm) { memset(sm->vals, 0, sizeof sm->vals); }

/* A read: one byte, the key; the reply is its value (u64). */
static int kv_sm_query(const struct sim_sm *sm, const uint8_t *q, size_t len,
                       struct cairn_buf *reply)
{
    if (len != 1 || q[0] >= SIM_KEYS)
        return -1;
    uint8_t v[8];
    wire_store_u64(v, sm->vals[q[0]]);
    return buf_append(reply, v, sizeof v);
}

static int kv_sm_save(const struct sim_sm *sm, struct cairn_buf *out)
{
    uint8_t *p = buf_extend(out, 8u * SIM_KEYS);
    if (!p)
        return -1;
    for (uint32_t k = 0; k < SIM_KEYS; k++)
        wire_store_u64(p + 8 * k, sm->vals[k]);
    return 0;
}

static int kv_sm_load(struct sim_sm *sm, const uint8_t *p, size_t len)
{
    if (len != 8u * SIM_KEYS)
        return -1;
    for (uint32_t k = 0; k < SIM_KEYS; k++)
        sm->vals[k] = wire_load_u64(p + 8 * k);
    return 0;
}

static uint64_t kv_sm_digest(const struct sim_sm *sm)
{
    uint64_t h = hash_bytes(sm->vals, sizeof sm->vals, 0x6b76u);
    return h ? h : 1;
}

static void kv_sm_free(struct sim_sm *sm) { (void)sm; }

const struct sim_sm_ops sim_sm_kv_ops = {
    .name = "kv",
    .init = kv_sm_init,
    .apply = kv_sm_apply,
    .query = kv_sm_query,
    .save = kv_sm_save,
    .load = kv_sm_load,
    .digest = kv_sm_digest,
    .free = kv_sm_free,
};
