/* config.c: the chunk server's config file and flags (chunkd.h,
 * docs/chunkd.md): `key = value` lines with `#` comments, and flags
 * (`--key value`, `--key=value`, `_` written `-`) that override the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/conf.h"
#include "chunkd/chunkd.h"
#include "common/log.h"
#include "rpc/rpc.h"

enum chunkd_key {
    KEY_DATA,
    KEY_LISTEN,
    KEY_META,
    KEY_SECRET,
    KEY_LABEL,
    KEY_CAPACITY,
    KEY_HEARTBEAT_MS,
    KEY_SCRUB_RATE,
    KEY_SCRUB_MS,
    KEY_IO_THREADS,
    KEY_LOG_LEVEL,
    KEY_PID_FILE,
    KEY_ADVERTISE,
    KEYS
};

static const char *const key_names[KEYS] = {
    [KEY_DATA] = "data",
    [KEY_LISTEN] = "listen",
    [KEY_META] = "meta",
    [KEY_SECRET] = "secret",
    [KEY_LABEL] = "label",
    [KEY_CAPACITY] = "capacity",
    [KEY_HEARTBEAT_MS] = "heartbeat_ms",
    [KEY_SCRUB_RATE] = "scrub_rate",
    [KEY_SCRUB_MS] = "scrub_ms",
    [KEY_IO_THREADS] = "io_threads",
    [KEY_LOG_LEVEL] = "log_level",
    [KEY_PID_FILE] = "pid_file",
    [KEY_ADVERTISE] = "advertise",
};

void chunkd_config_defaults(struct chunkd_config *c)
{
    memset(c, 0, sizeof *c);
    c->heartbeat_ms = 500;
    c->scrub_rate = 4u * 1024u * 1024u;
    c->scrub_ms = 1000;
    c->io_threads = 4;
    c->log_level = CAIRN_LOG_INFO;
}

static int key_find(const char *name) { return conf_key_find(key_names, KEYS, name); }

/* host:port with a nonzero port, as rpc_addr_parse understands it. */
static int addr_ok(const char *s, size_t max)
{
    struct sockaddr_storage ss;
    const char *colon = strrchr(s, ':');
    return strlen(s) <= max && colon && strcmp(colon, ":0") != 0 && rpc_addr_parse(s, &ss) == 0;
}

/* "a:p,b:p": 1..CAIRN_RPC_ADDRS_MAX addresses. */
static int parse_meta(struct chunkd_config *c, const char *v, char *err, size_t err_len)
{
    struct chunkd_config t;
    t.n_meta = 0;
    while (*v) {
        const char *end = strchr(v, ',');
        size_t len = end ? (size_t)(end - v) : strlen(v);
        if (t.n_meta == CAIRN_RPC_ADDRS_MAX)
            return conf_fail(err, err_len, "meta: more than %u addresses", CAIRN_RPC_ADDRS_MAX);
        if (len == 0 || len > CAIRN_MEMBER_ADDR_MAX)
            return conf_fail(err, err_len, "meta: bad entry near \"%.40s\"", v);
        memcpy(t.meta[t.n_meta], v, len);
        t.meta[t.n_meta][len] = 0;
        if (!addr_ok(t.meta[t.n_meta], CAIRN_MEMBER_ADDR_MAX))
            return conf_fail(err, err_len, "meta: bad address \"%s\" (want host:port)",
                             t.meta[t.n_meta]);
        t.n_meta++;
        v += len + (end ? 1 : 0);
    }
    if (t.n_meta == 0)
        return conf_fail(err, err_len, "meta: empty list");
    memcpy(c->meta, t.meta, sizeof t.meta);
    c->n_meta = t.n_meta;
    return 0;
}

static int set_str(char *dst, size_t cap, const char *key, const char *v, int allow_empty,
                   char *err, size_t err_len)
{
    if ((!*v && !allow_empty) || strlen(v) >= cap)
        return conf_fail(err, err_len, "%s: empty or longer than %zu bytes", key, cap - 1);
    snprintf(dst, cap, "%s", v);
    return 0;
}

static int set_number(struct chunkd_config *c, int k, const char *v, char *err, size_t err_len)
{
    uint64_t x;
    switch (k) {
    case KEY_CAPACITY:
    case KEY_SCRUB_RATE:
        if (conf_parse_u64(v, 0, UINT64_MAX / 2, &x))
            return conf_fail(err, err_len, "%s: \"%s\" is not a byte count", key_names[k], v);
        *(k == KEY_CAPACITY ? &c->capacity : &c->scrub_rate) = x;
        return 0;
    case KEY_HEARTBEAT_MS:
    case KEY_SCRUB_MS:
        if (conf_parse_u64(v, 10, 60000, &x))
            return conf_fail(err, err_len, "%s: \"%s\" is not 10..60000", key_names[k], v);
        *(k == KEY_HEARTBEAT_MS ? &c->heartbeat_ms : &c->scrub_ms) = (uint32_t)x;
        return 0;
    case KEY_IO_THREADS:
        if (conf_parse_u64(v, 1, 64, &x))
            return conf_fail(err, err_len, "io_threads: \"%s\" is not 1..64", v);
        c->io_threads = (uint32_t)x;
        return 0;
    default:
        return conf_fail(err, err_len, "internal: key %d is not a number", k);
    }
}

int chunkd_config_set(struct chunkd_config *c, const char *key, const char *v, char *err,
                      size_t err_len)
{
    int k = key_find(key), rc = 0, lvl;
    if (k < 0)
        return conf_fail(err, err_len, "unknown key \"%s\"", key);
    switch (k) {
    case KEY_DATA:
        rc = set_str(c->data, sizeof c->data, "data", v, 0, err, err_len);
        break;
    case KEY_SECRET:
        rc = set_str(c->secret, sizeof c->secret, "secret", v, 0, err, err_len);
        break;
    case KEY_PID_FILE:
        rc = set_str(c->pid_file, sizeof c->pid_file, "pid_file", v, 0, err, err_len);
        break;
    case KEY_LABEL:
        rc = set_str(c->label, sizeof c->label, "label", v, 1, err, err_len);
        break;
    case KEY_LISTEN:
        if (!addr_ok(v, CAIRN_NODE_ADDR_MAX))
            return conf_fail(err, err_len,
                             "listen: bad address \"%s\" (want host:port, port not 0)", v);
        rc = set_str(c->listen, sizeof c->listen, "listen", v, 0, err, err_len);
        break;
    case KEY_ADVERTISE:
        if (!addr_ok(v, CAIRN_NODE_ADDR_MAX))
            return conf_fail(err, err_len, "advertise: bad address \"%s\" (want host:port)", v);
        rc = set_str(c->advertise, sizeof c->advertise, "advertise", v, 0, err, err_len);
        break;
    case KEY_META:
        rc = parse_meta(c, v, err, err_len);
        break;
    case KEY_LOG_LEVEL:
        if ((lvl = cairn_log_level_parse(v)) < 0)
            return conf_fail(err, err_len, "log_level: \"%s\" is not debug/info/warn/error/off", v);
        c->log_level = lvl;
        break;
    default:
        rc = set_number(c, k, v, err, err_len);
    }
    if (rc == 0)
        c->set |= 1u << k;
    return rc;
}

/* chunkd_config_set() as conf.h's setter. */
static int set_key(void *arg, const char *key, const char *val, char *err, size_t err_len)
{
    return chunkd_config_set(arg, key, val, err, err_len);
}

int chunkd_config_text(struct chunkd_config *c, const char *text, size_t len, const char *source,
                       char *err, size_t err_len)
{
    return conf_text(text, len, source, set_key, c, err, err_len);
}

int chunkd_config_args(struct chunkd_config *c, int argc, char *const *argv, char *err,
                       size_t err_len)
{
    return conf_args(argc, argv, CHUNKD_CONFIG_FILE_MAX, NULL, set_key, c, err, err_len);
}

int chunkd_config_check(const struct chunkd_config *c, char *err, size_t err_len)
{
    static const int required[] = {KEY_DATA, KEY_LISTEN, KEY_META, KEY_SECRET};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!(c->set & (1u << required[i])))
            return conf_fail(err, err_len, "missing required key \"%s\"", key_names[required[i]]);
    return 0;
}
