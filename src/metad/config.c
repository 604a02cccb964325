/* config.c: the daemon's config file and command-line flags (config.h). */
#include "metad/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/conf.h"
#include "common/hashmap.h"
#include "common/log.h"

static const char *const key_names[METAD_KEYS] = {
    [METAD_KEY_ID] = "id",
    [METAD_KEY_LISTEN] = "listen",
    [METAD_KEY_PEERS] = "peers",
    [METAD_KEY_DATA] = "data",
    [METAD_KEY_SECRET] = "secret",
    [METAD_KEY_CLUSTER] = "cluster",
    [METAD_KEY_SNAPSHOT_EVERY] = "snapshot_every",
    [METAD_KEY_TICK_MS] = "tick_ms",
    [METAD_KEY_ELECTION_TICKS] = "election_ticks",
    [METAD_KEY_HEARTBEAT_TICKS] = "heartbeat_ticks",
    [METAD_KEY_SESSION_TICK_MS] = "session_tick_ms",
    [METAD_KEY_LOG_LEVEL] = "log_level",
    [METAD_KEY_PID_FILE] = "pid_file",
    [METAD_KEY_METRICS] = "metrics",
    [METAD_KEY_JOIN] = "join",
    [METAD_KEY_CHUNK_DEAD_MS] = "chunk_dead_ms",
    [METAD_KEY_CHUNK_HEARTBEAT_MS] = "chunk_heartbeat_ms",
    [METAD_KEY_REPLICATE_MAX] = "replicate_max",
};

void metad_config_defaults(struct metad_config *c)
{
    memset(c, 0, sizeof *c);
    c->snapshot_every = 10000;
    /* Election timeout 200-400 ms: a dead leader is replaced in about 300 ms.
     * Heartbeats every 20 ms leave ten chances before a follower gives up on
     * a leader slowed down by a loaded machine. A 10 ms tick gives the
     * randomized timeout 20 distinct values, so two followers rarely time out
     * together and split the vote (docs/metad.md). */
    c->tick_ms = 10;
    c->election_ticks = 20;
    c->heartbeat_ticks = 2;
    c->session_tick_ms = 1000;
    c->log_level = CAIRN_LOG_INFO;
    c->chunk_dead_ms = 3000;
    c->chunk_heartbeat_ms = 500;
    c->replicate_max = 16;
    /* Hashing costs about a microsecond per inode: under 50 ms on the loop. */
    c->digest_inline_inodes_max = 50000;
}

static int key_find(const char *name) { return conf_key_find(key_names, METAD_KEYS, name); }

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

int metad_split_hostport(const char *addr, char *host, size_t host_len, uint16_t *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return CAIRN_EINVAL;
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (h[0] == '[') { /* [v6]:port */
        if (hl < 3 || h[hl - 1] != ']')
            return CAIRN_EINVAL;
        h++;
        hl -= 2;
    } else if (memchr(h, ':', hl)) {
        return CAIRN_EINVAL; /* a bare IPv6 address needs brackets */
    }
    uint64_t p;
    if (hl == 0 || hl >= host_len || conf_parse_u64(colon + 1, 1, 65535, &p))
        return CAIRN_EINVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = (uint16_t)p;
    return 0;
}

static int addr_ok(const char *s)
{
    char host[64];
    uint16_t port;
    return strlen(s) <= CAIRN_MEMBER_ADDR_MAX &&
           metad_split_hostport(s, host, sizeof host, &port) == 0;
}

/* "1=h:p,2=h:p": ids nonzero and distinct, addresses host:port. */
static int parse_peers(struct metad_config *c, const char *s, char *err, size_t err_len)
{
    uint32_t n = 0;
    struct metad_peer peers[CAIRN_RAFT_NODES_MAX];
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char item[CAIRN_MEMBER_ADDR_MAX + 32];
        if (len == 0 || len >= sizeof item)
            return conf_fail(err, err_len, "peers: bad entry near \"%.40s\"", s);
        memcpy(item, s, len);
        item[len] = 0;
        char *eq = strchr(item, '=');
        if (!eq)
            return conf_fail(err, err_len, "peers: \"%s\" is not id=host:port", item);
        *eq = 0;
        if (n == CAIRN_RAFT_NODES_MAX)
            return conf_fail(err, err_len, "peers: more than %u members", CAIRN_RAFT_NODES_MAX);
        if (conf_parse_u64(item, 1, INT64_MAX, &peers[n].id))
            return conf_fail(err, err_len, "peers: bad id \"%s\"", item);
        if (!addr_ok(eq + 1))
            return conf_fail(err, err_len, "peers: bad address \"%s\" (want host:port)", eq + 1);
        for (uint32_t i = 0; i < n; i++)
            if (peers[i].id == peers[n].id)
                return conf_fail(err, err_len, "peers: id %s listed twice", item);
        snprintf(peers[n].addr, sizeof peers[n].addr, "%s", eq + 1);
        n++;
        s += len + (end ? 1 : 0);
    }
    if (n == 0)
        return conf_fail(err, err_len, "peers: empty list");
    memcpy(c->peers, peers, n * sizeof peers[0]);
    c->n_peers = n;
    return 0;
}

/* Copy a string value into a fixed field. */
static int set_str(char *dst, size_t cap, const char *key, const char *v, char *err, size_t err_len)
{
    if (!*v || strlen(v) >= cap)
        return conf_fail(err, err_len, "%s: empty or longer than %zu bytes", key, cap - 1);
    snprintf(dst, cap, "%s", v);
    return 0;
}

/* A cluster id is a nonzero number, or a name hashed to a nonzero u64. */
static uint64_t cluster_id_of(const char *v)
{
    uint64_t id;
    if (conf_parse_u64(v, 1, UINT64_MAX, &id) == 0)
        return id;
    id = hash_bytes(v, strlen(v), 0x636169726eull);
    return id ? id : 1;
}

static int set_number(struct metad_config *c, int k, const char *v, char *err, size_t err_len)
{
    uint64_t x;
    switch (k) {
    case METAD_KEY_ID:
        if (conf_parse_u64(v, 1, INT64_MAX, &x))
            return conf_fail(err, err_len, "id: \"%s\" is not a node id (1..2^63-1)", v);
        c->id = x;
        return 0;
    case METAD_KEY_SNAPSHOT_EVERY:
        if (conf_parse_u64(v, 1, UINT32_MAX, &x))
            return conf_fail(err, err_len, "snapshot_every: \"%s\" is not 1..2^32-1", v);
        c->snapshot_every = x;
        return 0;
    case METAD_KEY_TICK_MS:
    case METAD_KEY_SESSION_TICK_MS:
        if (conf_parse_u64(v, 1, 10000, &x))
            return conf_fail(err, err_len, "%s: \"%s\" is not 1..10000", key_names[k], v);
        *(k == METAD_KEY_TICK_MS ? &c->tick_ms : &c->session_tick_ms) = (uint32_t)x;
        return 0;
    case METAD_KEY_ELECTION_TICKS:
    case METAD_KEY_HEARTBEAT_TICKS:
        if (conf_parse_u64(v, 1, 1000, &x))
            return conf_fail(err, err_len, "%s: \"%s\" is not 1..1000", key_names[k], v);
        *(k == METAD_KEY_ELECTION_TICKS ? &c->election_ticks : &c->heartbeat_ticks) = (uint32_t)x;
        return 0;
    case METAD_KEY_CHUNK_DEAD_MS:
    case METAD_KEY_CHUNK_HEARTBEAT_MS:
        if (conf_parse_u64(v, 10, 600000, &x))
            return conf_fail(err, err_len, "%s: \"%s\" is not 10..600000", key_names[k], v);
        *(k == METAD_KEY_CHUNK_DEAD_MS ? &c->chunk_dead_ms : &c->chunk_heartbeat_ms) = (uint32_t)x;
        return 0;
    case METAD_KEY_REPLICATE_MAX:
        if (conf_parse_u64(v, 1, 1024, &x))
            return conf_fail(err, err_len, "replicate_max: \"%s\" is not 1..1024", v);
        c->replicate_max = (uint32_t)x;
        return 0;
    default:
        return conf_fail(err, err_len, "internal: key %d is not a number", k);
    }
}

int metad_config_set(struct metad_config *c, const char *key, const char *v, char *err,
                     size_t err_len)
{
    int k = key_find(key);
    if (k < 0)
        return conf_fail(err, err_len, "unknown key \"%s\"", key);
    int rc = 0, b;
    switch (k) {
    case METAD_KEY_LISTEN:
    case METAD_KEY_METRICS:
        if (!addr_ok(v))
            return conf_fail(err, err_len, "%s: bad address \"%s\" (want host:port)", key_names[k],
                             v);
        rc = set_str(k == METAD_KEY_LISTEN ? c->listen : c->metrics, sizeof c->listen, key_names[k],
                     v, err, err_len);
        break;
    case METAD_KEY_PEERS:
        rc = parse_peers(c, v, err, err_len);
        break;
    case METAD_KEY_DATA:
        rc = set_str(c->data, sizeof c->data, "data", v, err, err_len);
        break;
    case METAD_KEY_SECRET:
        rc = set_str(c->secret, sizeof c->secret, "secret", v, err, err_len);
        break;
    case METAD_KEY_PID_FILE:
        rc = set_str(c->pid_file, sizeof c->pid_file, "pid_file", v, err, err_len);
        break;
    case METAD_KEY_CLUSTER:
        if (!*v)
            return conf_fail(err, err_len, "cluster: empty");
        c->cluster_id = cluster_id_of(v);
        break;
    case METAD_KEY_LOG_LEVEL:
        if ((b = cairn_log_level_parse(v)) < 0)
            return conf_fail(err, err_len, "log_level: \"%s\" is not debug/info/warn/error/off", v);
        c->log_level = b;
        break;
    case METAD_KEY_JOIN:
        if (parse_bool(v, &b))
            return conf_fail(err, err_len, "join: \"%s\" is not true/false", v);
        c->join = b;
        break;
    default:
        rc = set_number(c, k, v, err, err_len);
    }
    if (rc == 0)
        c->set |= 1u << k;
    return rc;
}

/* metad_config_set() as conf.h's setter. */
static int set_key(void *arg, const char *key, const char *val, char *err, size_t err_len)
{
    return metad_config_set(arg, key, val, err, err_len);
}

int metad_config_text(struct metad_config *c, const char *text, size_t len, const char *source,
                      char *err, size_t err_len)
{
    return conf_text(text, len, source, set_key, c, err, err_len);
}

int metad_config_file(struct metad_config *c, const char *path, char *err, size_t err_len)
{
    return conf_file(path, METAD_CONFIG_FILE_MAX, set_key, c, err, err_len);
}

/* A bare --join (no value) means --join=true. */
int metad_config_args(struct metad_config *c, int argc, char *const *argv, char *err,
                      size_t err_len)
{
    return conf_args(argc, argv, METAD_CONFIG_FILE_MAX, "join", set_key, c, err, err_len);
}

const char *metad_config_peer_addr(const struct metad_config *c, uint64_t id)
{
    for (uint32_t i = 0; i < c->n_peers; i++)
        if (c->peers[i].id == id)
            return c->peers[i].addr;
    return NULL;
}

int metad_config_check(const struct metad_config *c, char *err, size_t err_len)
{
    static const int required[] = {METAD_KEY_ID,   METAD_KEY_LISTEN, METAD_KEY_PEERS,
                                   METAD_KEY_DATA, METAD_KEY_SECRET, METAD_KEY_CLUSTER};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!(c->set & (1u << required[i])))
            return conf_fail(err, err_len, "missing required key \"%s\" (--%s)",
                             key_names[required[i]], key_names[required[i]]);
    if (c->heartbeat_ticks >= c->election_ticks)
        return conf_fail(err, err_len, "heartbeat_ticks (%u) must be below election_ticks (%u)",
                         c->heartbeat_ticks, c->election_ticks);
    const char *self = metad_config_peer_addr(c, c->id);
    if (!c->join && !self)
        return conf_fail(err, err_len,
                         "id %llu is not in peers (a new member is started with --join)",
                         (unsigned long long)c->id);
    if (c->join && self)
        return conf_fail(err, err_len, "join: id %llu is already an initial peer",
                         (unsigned long long)c->id);
    return 0;
}
