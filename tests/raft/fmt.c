/*
 * fmt.c: the text form of entries, messages, configurations and snapshots in
 * golden scripts. The form is part of every expected output: change it and
 * every script must be rewritten (and reviewed), so keep it stable.
 *
 * Entries print as term/index (as etcd's raft testdata), messages as
 * "FROM->TO TYPE" followed by the fields that type uses and then any other
 * field that is nonzero, so a core that fills a field it should not is seen.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "golden.h"

void bprintf(struct cairn_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    CAIRN_ASSERT(n >= 0);
    CAIRN_ASSERT(buf_reserve(b, (size_t)n + 1) == 0);
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Quoted, with anything but printable ASCII escaped, so outputs stay text. */
void fmt_data(struct cairn_buf *b, const uint8_t *p, size_t len)
{
    bprintf(b, "\"");
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\')
            bprintf(b, "\\%c", c);
        else if (c == '\n')
            bprintf(b, "\\n");
        else if (c >= 0x20 && c < 0x7f)
            bprintf(b, "%c", c);
        else
            bprintf(b, "\\x%02x", c);
    }
    bprintf(b, "\"");
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
        return "op?";
    }
}

void fmt_entry(struct cairn_buf *b, const struct raft_entry *ent)
{
    bprintf(b, "%llu/%llu ", (unsigned long long)ent->term, (unsigned long long)ent->index);
    if (ent->type == RAFT_ENTRY_NORMAL) {
        bprintf(b, "EntryNormal ");
        fmt_data(b, ent->data, ent->len);
    } else if (ent->type == RAFT_ENTRY_CONF) {
        struct raft_conf_change cc;
        if (raft_conf_change_decode(ent->data, ent->len, &cc) == 0) {
            bprintf(b, "EntryConf %s %llu", conf_op_name(cc.op), (unsigned long long)cc.node);
        } else {
            bprintf(b, "EntryConf malformed ");
            fmt_data(b, ent->data, ent->len);
        }
    } else {
        bprintf(b, "EntryType(%u) ", ent->type);
        fmt_data(b, ent->data, ent->len);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Ids sorted: the core may keep members in any order. */
static void fmt_ids(struct cairn_buf *b, const uint64_t *ids, uint32_t n)
{
    uint64_t sorted[CAIRN_RAFT_NODES_MAX];
    n = CAIRN_MIN(n, CAIRN_RAFT_NODES_MAX);
    memcpy(sorted, ids, n * sizeof ids[0]);
    qsort(sorted, n, sizeof sorted[0], cmp_u64);
    bprintf(b, "(");
    for (uint32_t i = 0; i < n; i++)
        bprintf(b, "%s%llu", i ? "," : "", (unsigned long long)sorted[i]);
    bprintf(b, ")");
}

void fmt_conf(struct cairn_buf *b, const struct raft_conf *c)
{
    bprintf(b, "voters=");
    fmt_ids(b, c->voters, c->n_voters);
    bprintf(b, " learners=");
    fmt_ids(b, c->learners, c->n_learners);
}

static int ids_equal(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb)
{
    if (na != nb || na > CAIRN_RAFT_NODES_MAX)
        return 0;
    uint64_t x[CAIRN_RAFT_NODES_MAX], y[CAIRN_RAFT_NODES_MAX];
    memcpy(x, a, na * sizeof a[0]);
    memcpy(y, b, nb * sizeof b[0]);
    qsort(x, na, sizeof x[0], cmp_u64);
    qsort(y, nb, sizeof y[0], cmp_u64);
    return memcmp(x, y, na * sizeof x[0]) == 0;
}

int fmt_conf_equal(const struct raft_conf *a, const struct raft_conf *b)
{
    return ids_equal(a->voters, a->n_voters, b->voters, b->n_voters) &&
           ids_equal(a->learners, a->n_learners, b->learners, b->n_learners);
}

void fmt_snapshot(struct cairn_buf *b, const struct raft_snapshot_meta *meta, const uint8_t *data,
                  size_t len)
{
    bprintf(b, "index=%llu term=%llu ", (unsigned long long)meta->index,
            (unsigned long long)meta->term);
    fmt_conf(b, &meta->conf);
    bprintf(b, " data=");
    fmt_data(b, data, len);
}

static const char *const msg_type_names[RAFT_MSG_TYPE_MAX + 1] = {
    [RAFT_MSG_APP] = "APP",
    [RAFT_MSG_APP_RESP] = "APP_RESP",
    [RAFT_MSG_VOTE] = "VOTE",
    [RAFT_MSG_VOTE_RESP] = "VOTE_RESP",
    [RAFT_MSG_PREVOTE] = "PREVOTE",
    [RAFT_MSG_PREVOTE_RESP] = "PREVOTE_RESP",
    [RAFT_MSG_HEARTBEAT] = "HEARTBEAT",
    [RAFT_MSG_HEARTBEAT_RESP] = "HEARTBEAT_RESP",
    [RAFT_MSG_SNAP] = "SNAP",
    [RAFT_MSG_TIMEOUT_NOW] = "TIMEOUT_NOW",
};

const char *fmt_msg_type(int type)
{
    if (type > 0 && type <= RAFT_MSG_TYPE_MAX && msg_type_names[type])
        return msg_type_names[type];
    return "TYPE?";
}

int fmt_msg_type_parse(const char *name)
{
    for (int t = 1; t <= RAFT_MSG_TYPE_MAX; t++)
        if (msg_type_names[t] && strcmp(msg_type_names[t], name) == 0)
            return t;
    return 0;
}

const char *fmt_role(enum raft_role role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRE_CANDIDATE:
        return "pre-candidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    }
    return "role?";
}

/* Fields a message type always shows (bits below); others print if nonzero. */
enum {
    F_LOGTERM = 1,
    F_INDEX = 2,
    F_COMMIT = 4,
    F_ENTRIES = 8,
};

static unsigned msg_fields(int type)
{
    switch (type) {
    case RAFT_MSG_APP:
        return F_LOGTERM | F_INDEX | F_COMMIT | F_ENTRIES;
    case RAFT_MSG_APP_RESP:
        return F_INDEX;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        return F_LOGTERM | F_INDEX;
    case RAFT_MSG_HEARTBEAT:
        return F_COMMIT;
    default:
        return 0;
    }
}

static void fmt_msg_entries(struct cairn_buf *b, const struct raft_msg *m)
{
    bprintf(b, " entries=[");
    for (uint32_t i = 0; i < m->n_entries && m->entries; i++) {
        if (i)
            bprintf(b, ", ");
        fmt_entry(b, &m->entries[i]);
    }
    bprintf(b, "]");
}

/* "1->2 APP term=1 logterm=0 index=0 commit=0 entries=[1/1 EntryNormal \"\"]".
 * A vote with context 1 (leadership transfer) prints "transfer". */
void fmt_msg(struct cairn_buf *b, const struct raft_msg *m)
{
    unsigned f = msg_fields(m->type);
    bprintf(b, "%llu->%llu %s term=%llu", (unsigned long long)m->from, (unsigned long long)m->to,
            fmt_msg_type(m->type), (unsigned long long)m->term);
    if ((f & F_LOGTERM) || m->log_term)
        bprintf(b, " logterm=%llu", (unsigned long long)m->log_term);
    if ((f & F_INDEX) || m->index)
        bprintf(b, " index=%llu", (unsigned long long)m->index);
    if ((f & F_COMMIT) || m->commit)
        bprintf(b, " commit=%llu", (unsigned long long)m->commit);
    int vote = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
    if (vote && m->context == 1)
        bprintf(b, " transfer");
    else if (m->context)
        bprintf(b, " context=%llu", (unsigned long long)m->context);
    if (m->reject)
        bprintf(b, " reject");
    if (m->reject_hint)
        bprintf(b, " hint=%llu", (unsigned long long)m->reject_hint);
    if ((f & F_ENTRIES) || m->n_entries)
        fmt_msg_entries(b, m);
    if (m->snapshot) {
        bprintf(b, " snapshot: ");
        fmt_snapshot(b, &m->snapshot->meta, m->snapshot->data, m->snapshot->len);
    }
}
