/* conf.c: configurations (voters and learners) and single-server changes.
 *
 * A change is a RAFT_ENTRY_CONF entry; it takes effect when committed, on
 * every node alike. A change that is invalid against the configuration it
 * meets (possible only from a buggy or hostile leader) is applied as a
 * no-op, so all nodes still agree on the result.
 */
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "raft/raft_int.h"

static int ids_find(const uint64_t *ids, uint32_t n, uint64_t id)
{
    for (uint32_t k = 0; k < n; k++)
        if (ids[k] == id)
            return (int)k;
    return -1;
}

static void ids_remove(uint64_t *ids, uint32_t *n, uint64_t id)
{
    int k = ids_find(ids, *n, id);
    if (k < 0)
        return;
    memmove(&ids[k], &ids[k + 1], (size_t)(*n - (uint32_t)k - 1) * sizeof *ids);
    (*n)--;
}

int raft_conf_is_voter(const struct raft_conf *c, uint64_t id)
{
    return ids_find(c->voters, c->n_voters, id) >= 0;
}

int raft_conf_is_learner(const struct raft_conf *c, uint64_t id)
{
    return ids_find(c->learners, c->n_learners, id) >= 0;
}

int raft_conf_contains(const struct raft_conf *c, uint64_t id)
{
    return raft_conf_is_voter(c, id) || raft_conf_is_learner(c, id);
}

int raft_conf_check_change(const struct raft_conf *c, const struct raft_conf_change *cc)
{
    if (cc->node == RAFT_NONE)
        return CAIRN_EINVAL;
    switch (cc->op) {
    case RAFT_CONF_ADD_VOTER:
        if (raft_conf_is_voter(c, cc->node))
            return CAIRN_EINVAL;
        if (!raft_conf_is_learner(c, cc->node) &&
            c->n_voters + c->n_learners >= CAIRN_RAFT_NODES_MAX)
            return CAIRN_LIMIT;
        return 0;
    case RAFT_CONF_ADD_LEARNER:
        /* Demoting a voter is not a supported change. */
        if (raft_conf_contains(c, cc->node))
            return CAIRN_EINVAL;
        if (c->n_voters + c->n_learners >= CAIRN_RAFT_NODES_MAX)
            return CAIRN_LIMIT;
        return 0;
    case RAFT_CONF_REMOVE:
        if (!raft_conf_contains(c, cc->node))
            return CAIRN_EINVAL;
        /* A group without voters could never elect a leader again. */
        if (raft_conf_is_voter(c, cc->node) && c->n_voters == 1)
            return CAIRN_EINVAL;
        return 0;
    default:
        return CAIRN_EINVAL;
    }
}

void raft_conf_apply_change(struct raft_conf *c, const struct raft_conf_change *cc)
{
    if (raft_conf_check_change(c, cc) != 0)
        return;
    switch (cc->op) {
    case RAFT_CONF_ADD_VOTER:
        ids_remove(c->learners, &c->n_learners, cc->node);
        c->voters[c->n_voters++] = cc->node;
        break;
    case RAFT_CONF_ADD_LEARNER:
        c->learners[c->n_learners++] = cc->node;
        break;
    case RAFT_CONF_REMOVE:
        ids_remove(c->voters, &c->n_voters, cc->node);
        ids_remove(c->learners, &c->n_learners, cc->node);
        break;
    default:
        CAIRN_UNREACHABLE();
    }
}

int raft_conf_is_valid(const struct raft_conf *c)
{
    if (c->n_voters > CAIRN_RAFT_NODES_MAX || c->n_learners > CAIRN_RAFT_NODES_MAX ||
        c->n_voters + c->n_learners > CAIRN_RAFT_NODES_MAX)
        return 0;
    for (uint32_t k = 0; k < c->n_voters; k++) {
        if (c->voters[k] == RAFT_NONE || ids_find(c->voters, k, c->voters[k]) >= 0)
            return 0;
    }
    for (uint32_t k = 0; k < c->n_learners; k++) {
        uint64_t id = c->learners[k];
        if (id == RAFT_NONE || ids_find(c->learners, k, id) >= 0 || raft_conf_is_voter(c, id))
            return 0;
    }
    return 1;
}

void raft_conf_replay(struct raft_conf *c, const struct raft_log *l, uint64_t from, uint64_t to)
{
    for (uint64_t i = from + 1; i <= to; i++) {
        const struct raft_entry *e = raft_log_entry(l, i);
        struct raft_conf_change cc;
        if (e->type == RAFT_ENTRY_CONF && raft_conf_change_decode(e->data, e->len, &cc) == 0)
            raft_conf_apply_change(c, &cc);
    }
}

void raft_conf_change_encode(const struct raft_conf_change *cc, uint8_t out[9])
{
    out[0] = cc->op;
    for (int k = 0; k < 8; k++)
        out[1 + k] = (uint8_t)(cc->node >> (8 * k));
}

int raft_conf_change_decode(const uint8_t *p, size_t len, struct raft_conf_change *cc)
{
    if (p == NULL || len != 9 || p[0] > RAFT_CONF_REMOVE)
        return CAIRN_BADMSG;
    cc->op = p[0];
    cc->node = 0;
    for (int k = 0; k < 8; k++)
        cc->node |= (uint64_t)p[1 + k] << (8 * k);
    return 0;
}
