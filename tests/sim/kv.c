/*
 * kv.c: the simulator's state machine: a few u64 registers written by PUT
 * and CAS commands, plus the membership as of the applied index (needed for
 * the meta of the snapshots the application takes). A chain digest of every
 * applied entry lets the checkers compare two nodes' whole histories in one
 * number.
 */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "sim.h"
#include "wire/codec.h"

void kv_init(struct sim_kv *kv, const struct raft_conf *conf)
{
    memset(kv, 0, sizeof *kv);
    kv->conf = *conf;
}

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

/* Apply one entry. An entry the state machine cannot parse is applied as a
 * no-op (it still enters the digest): the checkers compare what was applied,
 * not whether it made sense. */
void kv_apply(struct sim_kv *kv, uint64_t index, uint8_t type, const uint8_t *data, size_t len,
              uint64_t hash, uint64_t *result)
{
    *result = 0;
    uint64_t mix[3] = {kv->digest, index, hash};
    kv->digest = hash_bytes(mix, sizeof mix, 0x51u);
    kv->applied = index;
    if (type == RAFT_ENTRY_CONF) {
        struct raft_conf_change cc;
        if (raft_conf_change_decode(data, len, &cc) == 0)
            kv_conf_apply(&kv->conf, &cc);
        return;
    }
    struct sim_cmd c;
    if (len == 0 || kv_cmd_decode(data, len, &c) != 0)
        return;
    switch (c.op) {
    case SIM_CMD_PUT:
    case SIM_CMD_FILL:
        kv->vals[c.key] = c.a0;
        break;
    case SIM_CMD_CAS:
        if (kv->vals[c.key] == c.a0) {
            kv->vals[c.key] = c.a1;
            *result = 1;
        }
        break;
    default:
        break;
    }
}

#define KV_SAVE_BYTES (8u * (2u + SIM_KEYS))

uint8_t *kv_save(const struct sim_kv *kv, size_t *len)
{
    uint8_t *p = sim_xmalloc(KV_SAVE_BYTES);
    wire_store_u64(p, kv->applied);
    wire_store_u64(p + 8, kv->digest);
    for (uint32_t k = 0; k < SIM_KEYS; k++)
        wire_store_u64(p + 16 + 8 * k, kv->vals[k]);
    *len = KV_SAVE_BYTES;
    return p;
}

/* Load a snapshot's data; the membership comes from the snapshot's meta. */
int kv_load(struct sim_kv *kv, const uint8_t *p, size_t len, const struct raft_conf *conf)
{
    if (len != KV_SAVE_BYTES)
        return -1;
    kv_init(kv, conf);
    kv->applied = wire_load_u64(p);
    kv->digest = wire_load_u64(p + 8);
    for (uint32_t k = 0; k < SIM_KEYS; k++)
        kv->vals[k] = wire_load_u64(p + 16 + 8 * k);
    return 0;
}
