/*
 * config.h: the configuration of one `cairn meta` daemon (docs/metad.md has
 * every key): a config file of `key = value` lines with `#` comments, and
 * command-line flags (`--key value`, `--key=value`, `_` written `-`) that
 * override the file's keys.
 *
 * Use: metad_config_defaults(), then metad_config_args() (which reads the
 * file named by --config first, then applies the other flags), then
 * metad_config_check() for the required keys and the relations between
 * them. metad_config_set() and metad_config_text() are the pieces, exposed
 * for tests.
 *
 * Memory: struct metad_config is plain data (fixed-size strings), copied by
 * value. Threads: pure functions on the caller's struct, any thread (the
 * file read is a plain read(2)).
 *
 * Errors: CAIRN_EINVAL with a one-line explanation in err (naming the file
 * and line, or the flag, and the key) for anything malformed, unknown or
 * missing; the file's own errors (CAIRN_ENOENT, CAIRN_EACCES, ...) and
 * CAIRN_TOOBIG for a config file over METAD_CONFIG_FILE_MAX bytes.
 */
#ifndef CAIRN_METAD_CONFIG_H
#define CAIRN_METAD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

/* A config file is a few hundred bytes; refuse anything absurd. */
#define METAD_CONFIG_FILE_MAX (64u * 1024u)
/* Room for one explanation line. */
#define METAD_ERR_MAX 256u

struct metad_peer {
    uint64_t id;
    char addr[CAIRN_MEMBER_ADDR_MAX + 1];
};

struct metad_config {
    uint64_t id;
    char listen[CAIRN_MEMBER_ADDR_MAX + 1];
    uint32_t n_peers;
    struct metad_peer peers[CAIRN_RAFT_NODES_MAX];
    char data[CAIRN_PATH_MAX];
    char secret[CAIRN_PATH_MAX];
    uint64_t cluster_id;
    uint64_t snapshot_every;
    uint32_t tick_ms;
    uint32_t election_ticks;
    uint32_t heartbeat_ticks;
    uint32_t session_tick_ms;
    int log_level; /* enum cairn_log_level */
    char pid_file[CAIRN_PATH_MAX];
    char metrics[CAIRN_MEMBER_ADDR_MAX + 1]; /* "" = no metrics listener */
    int join;
    uint32_t chunk_dead_ms;      /* chunk server silent this long: down */
    uint32_t chunk_heartbeat_ms; /* heartbeat interval told to chunk servers */
    uint32_t replicate_max;      /* re-replications in flight */
    /* META_STATUS hashes states of fewer inodes on the loop thread, larger
     * ones in a forked child (bg.c). Not a key: tests set 0 (always a child). */
    uint32_t digest_inline_inodes_max;
    uint32_t set; /* bit per key (METAD_KEY_*) given by the file or a flag */
};

enum metad_key {
    METAD_KEY_ID = 0,
    METAD_KEY_LISTEN,
    METAD_KEY_PEERS,
    METAD_KEY_DATA,
    METAD_KEY_SECRET,
    METAD_KEY_CLUSTER,
    METAD_KEY_SNAPSHOT_EVERY,
    METAD_KEY_TICK_MS,
    METAD_KEY_ELECTION_TICKS,
    METAD_KEY_HEARTBEAT_TICKS,
    METAD_KEY_SESSION_TICK_MS,
    METAD_KEY_LOG_LEVEL,
    METAD_KEY_PID_FILE,
    METAD_KEY_METRICS,
    METAD_KEY_JOIN,
    METAD_KEY_CHUNK_DEAD_MS,
    METAD_KEY_CHUNK_HEARTBEAT_MS,
    METAD_KEY_REPLICATE_MAX,
    METAD_KEYS
};

void metad_config_defaults(struct metad_config *c);
/* Set one key (name as in the file; '-' accepted for '_') from its text. */
int metad_config_set(struct metad_config *c, const char *key, const char *value, char *err,
                     size_t err_len);
/* Apply a whole config text; `source` names it in errors ("meta.conf"). */
int metad_config_text(struct metad_config *c, const char *text, size_t len, const char *source,
                      char *err, size_t err_len);
int metad_config_file(struct metad_config *c, const char *path, char *err, size_t err_len);
/* argv[0..argc) are the arguments after "meta": --config FILE is read
 * first wherever it appears, then every flag in order. */
int metad_config_args(struct metad_config *c, int argc, char *const *argv, char *err,
                      size_t err_len);
/* Required keys present; heartbeat < election; this node in peers unless
 * joining (and not in them when joining); distinct peer ids. */
int metad_config_check(const struct metad_config *c, char *err, size_t err_len);

/* The address of peer id in the initial peers, or NULL. */
const char *metad_config_peer_addr(const struct metad_config *c, uint64_t id);
/* "a:p" -> host and port; CAIRN_EINVAL if malformed. host_len >= 64. */
int metad_split_hostport(const char *addr, char *host, size_t host_len, uint16_t *port);

#endif
