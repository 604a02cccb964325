/*
 * sm.c: the state machine a node replicates, as every mode shares it: the
 * applied index, the membership as of that index (needed for the meta of
 * the snapshots the application takes) and a chain digest of every applied
 * entry (the checkers compare two nodes' whole histories in one number);
 * the mode's own state sits behind an ops table (kv.c, or the real metadata
 * state machine of src/meta below).
 *
 * A snapshot is the applied index and the chain digest (16 bytes), then the
 * mode's bytes: for meta, meta_snapshot()'s own format, which
 * meta_snapshot_load() reads back on a restart or an InstallSnapshot.
 */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "meta/meta.h"
#include "sim.h"
#include "wire/codec.h"

#define SM_HEADER_BYTES 16u

const struct sim_sm_ops *sm_ops_of(enum sim_sm_kind kind)
{
    return kind == SIM_SM_META ? &sim_sm_meta_ops : &sim_sm_kv_ops;
}

void sm_free(struct sim_sm *sm)
{
    if (sm->ops)
        sm->ops->free(sm);
}

void sm_init(struct sim_sm *sm, const struct sim_sm_ops *ops, const struct raft_conf *conf)
{
    sm_free(sm);
    memset(sm, 0, sizeof *sm);
    sm->ops = ops;
    sm->conf = *conf;
    ops->init(sm);
}

int sm_apply(struct sim_sm *sm, uint64_t index, uint8_t type, const uint8_t *data, size_t len,
             uint64_t hash, struct cairn_buf *reply)
{
    uint64_t mix[3] = {sm->digest, index, hash};
    sm->digest = hash_bytes(mix, sizeof mix, 0x51u);
    sm->applied = index;
    buf_reset(reply);
    if (type == RAFT_ENTRY_CONF) {
        struct raft_conf_change cc;
        if (raft_conf_change_decode(data, len, &cc) == 0)
            kv_conf_apply(&sm->conf, &cc);
        return 0;
    }
    return sm->ops->apply(sm, index, data, len, reply);
}

uint8_t *sm_save(const struct sim_sm *sm, size_t *len)
{
    struct cairn_buf b;
    buf_init(&b, 0);
    uint8_t *p = buf_extend(&b, SM_HEADER_BYTES);
    CAIRN_ASSERT(p != NULL);
    wire_store_u64(p, sm->applied);
    wire_store_u64(p + 8, sm->digest);
    CAIRN_ASSERT(sm->ops->save(sm, &b) == 0);
    return buf_steal(&b, len);
}

int sm_load(struct sim_sm *sm, const uint8_t *p, size_t len, const struct raft_conf *conf)
{
    if (len < SM_HEADER_BYTES)
        return -1;
    sm_init(sm, sm->ops, conf);
    sm->applied = wire_load_u64(p);
    sm->digest = wire_load_u64(p + 8);
    return sm->ops->load(sm, p + SM_HEADER_BYTES, len - SM_HEADER_BYTES);
}

uint64_t sm_state_digest(const struct sim_sm *sm)
{
    uint64_t h = sm->ops->digest(sm);
    return h ? h : 1; /* 0 means "unknown" in the records */
}

/* ---- meta: the real metadata state machine ------------------------------ */

static void meta_sm_init(struct sim_sm *sm)
{
    sm->meta = meta_new();
    CAIRN_ASSERT(sm->meta != NULL);
}

static int meta_sm_apply(struct sim_sm *sm, uint64_t index, const uint8_t *data, size_t len,
                         struct cairn_buf *reply)
{
    return meta_apply(sm->meta, index, data, len, reply);
}

static int meta_sm_query(const struct sim_sm *sm, const uint8_t *q, size_t len,
                         struct cairn_buf *reply)
{
    return meta_query(sm->meta, q, len, reply);
}

static int meta_sm_save(const struct sim_sm *sm, struct cairn_buf *out)
{
    return meta_snapshot(sm->meta, out);
}

/* The state meta_snapshot() saved; its applied index may lag the entry's
 * (membership entries do not reach the metadata state machine). */
static int meta_sm_load(struct sim_sm *sm, const uint8_t *p, size_t len)
{
    struct meta *m = NULL;
    if (meta_snapshot_load(p, len, &m) != 0)
        return -1;
    if (meta_applied_index(m) > sm->applied) {
        meta_free(m);
        return -1;
    }
    meta_free(sm->meta);
    sm->meta = m;
    return 0;
}

static uint64_t meta_sm_digest(const struct sim_sm *sm) { return meta_digest(sm->meta); }

static void meta_sm_free(struct sim_sm *sm)
{
    meta_free(sm->meta);
    sm->meta = NULL;
}

const struct sim_sm_ops sim_sm_meta_ops = {
    .name = "meta",
    .init = meta_sm_init,
    .apply = meta_sm_apply,
    .query = meta_sm_query,
    .save = meta_sm_save,
    .load = meta_sm_load,
    .digest = meta_sm_digest,
    .free = meta_sm_free,
};
