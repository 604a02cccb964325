/*
 * metaclient.h: the part of libcairn that talks to the metadata group
 * (`cairn meta` servers, docs/metad.md): it finds the leader, keeps client
 * sessions open, numbers mutations with their session's sequence, retries
 * what failed in transit with the SAME sequence number, and sends reads as
 * META_QUERY (linearizable, served by the leader after ReadIndex).
 *
 * Leader discovery. The client holds the list of metadata addresses it was
 * given. A follower answers CAIRN_NOTLEADER with the leader's address as the
 * error message: the client moves there (adding the address to its list if
 * it is new, for example a member added at run time). Without a hint (no
 * leader known: an election runs) it moves to the next address and waits a
 * short, growing, jittered delay. A call that times out also moves it to the
 * next address (the server may be paused or cut off from its group).
 *
 * Exactly-once. Each session carries one mutation at a time (meta.h): the
 * client opens `sessions` sessions (META_SESSION_OPEN, lazily, on first use)
 * and so has that many mutations in flight; more wait in a FIFO queue. A
 * mutation takes the next sequence number of its session when it is first
 * sent and keeps it for every retry, so the state machine applies it once and
 * answers a retry with the cached reply. Idle sessions are kept alive with
 * META_SESSION_KEEPALIVE every third of the lease. A session found expired
 * (the state machine answers CAIRN_SESSION) is replaced by a new one; the
 * mutation is sent again in the new session only if no earlier attempt of it
 * can have been applied, else it completes with CAIRN_SESSION and outcome
 * METACLIENT_UNKNOWN.
 *
 * Commands are built by the caller with the encoders of src/meta/cmd.h
 * (credentials in the header are the caller's); the client writes the
 * session and sequence fields of the header (bytes 10..25) itself, so their
 * values in the caller's bytes do not matter.
 *
 * Threads. Single-threaded: a metaclient belongs to the loop it was created
 * on and every call must be made on that loop's thread. With loop NULL the
 * client owns a private loop and is used through the *_sync calls (tools,
 * tests); one such client per thread. A *_sync call runs the loop until its
 * operation completes and must not be called from a callback of that loop.
 * metaclient_close() may be called from a completion callback only on a
 * caller's loop (on a private loop it runs the loop itself).
 * A private loop only turns inside *_sync calls, so keep-alives are only sent
 * then: a session left idle past its lease is replaced on its next use.
 *
 * Memory. The client copies the command bytes it is given. The reply passed
 * to a callback (struct metaclient_result) points into a receive buffer and
 * is valid only during the callback. metaclient_close() completes every
 * outstanding operation with CAIRN_SHUTDOWN (callbacks run inside it) and
 * starts an asynchronous close: on a caller's loop the memory is freed once
 * the loop has run the close callbacks; on a private loop close finishes
 * before it returns.
 *
 * Errors. Functions return 0 or a negative cairn_err: CAIRN_EINVAL (bad
 * configuration, a command of the wrong class or too short), CAIRN_LIMIT
 * (CAIRN_METACLIENT_OPS_MAX operations outstanding), CAIRN_SHUTDOWN (closing),
 * CAIRN_ENOMEM. A completion's status is the state machine's reply status
 * when a reply came (0, CAIRN_ENOENT, CAIRN_EEXIST, ...) or the client's
 * reason to give up: CAIRN_ETIMEDOUT (op_timeout_ms passed without a reply),
 * CAIRN_SESSION (see Exactly-once), CAIRN_SHUTDOWN, or a protocol error from
 * the server (CAIRN_BADMSG, CAIRN_UNKNOWNTYPE, CAIRN_AUTH ...).
 */
#ifndef CAIRN_CLIENT_METACLIENT_H
#define CAIRN_CLIENT_METACLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/prng.h"
#include "rpc/rpc.h"

/* Defaults of the zero fields of struct metaclient_cfg. */
#define METACLIENT_LEASE_MS_DEFAULT 30000u
#define METACLIENT_ATTEMPT_MS_DEFAULT 2000u
#define METACLIENT_OP_MS_DEFAULT 30000u

struct metaclient;

struct metaclient_cfg {
    const char *const *addrs; /* 1..CAIRN_RPC_ADDRS_MAX "host:port" (copied) */
    size_t n_addrs;
    const struct rpc_secret *secret; /* copied */
    const char *name;                /* HELLO name for the servers' logs */
    uint32_t sessions;               /* mutations in flight; 0 = 1 */
    uint32_t lease_ms;               /* session lease; 0 = default */
    uint32_t attempt_timeout_ms;     /* one RPC attempt; 0 = default */
    uint32_t op_timeout_ms;          /* one operation, all retries; 0 = default */
    uint64_t seed;                   /* retry jitter; 0 = from getrandom */
};

/* What is known of a completed operation's effect. */
enum metaclient_outcome {
    METACLIENT_DONE = 0,        /* a reply came: the command was applied (or read) */
    METACLIENT_NOT_APPLIED = 1, /* no attempt can have been applied */
    METACLIENT_UNKNOWN = 2,     /* an attempt may have been applied, or not */
};

struct metaclient_result {
    int status; /* see Errors above */
    enum metaclient_outcome outcome;
    uint64_t index;       /* log index a mutation was applied at (DONE), else 0 */
    const uint8_t *reply; /* the state machine's reply (i32 status first), or NULL */
    size_t reply_len;
    uint32_t attempts; /* RPC attempts made */
};

typedef void (*metaclient_cb)(struct metaclient *mc, const struct metaclient_result *res,
                              void *arg);

/* Create a client on `loop` (NULL: a private loop, for the *_sync calls).
 * It connects at once; sessions are opened on first use. */
int metaclient_new(uv_loop_t *loop, const struct metaclient_cfg *cfg, struct metaclient **out);
/* Fail everything outstanding with CAIRN_SHUTDOWN and close (see Memory).
 * Open sessions are not closed on the servers: they end with their lease. */
void metaclient_close(struct metaclient *mc);

/* A SESSION-class command (cmd.h: CREATE .. CHUNK_ABORT). cb runs exactly
 * once, never inside this call. */
int metaclient_mutate(struct metaclient *mc, const uint8_t *cmd, size_t len, metaclient_cb cb,
                      void *arg);
/* A READ-class command (cmd.h: LOOKUP .. CHUNKS), retried freely. */
int metaclient_query(struct metaclient *mc, const uint8_t *cmd, size_t len, metaclient_cb cb,
                     void *arg);

/* Blocking forms: run the client's loop until the operation completes.
 * Return the completion's status; the state machine's reply (status first)
 * is appended to `reply` when one came (reply may be NULL), and the other
 * fields of the result go to *res when res is not NULL (res->reply is then
 * NULL: the bytes are in `reply`). */
int metaclient_mutate_sync(struct metaclient *mc, const uint8_t *cmd, size_t len,
                           struct cairn_buf *reply, struct metaclient_result *res);
int metaclient_query_sync(struct metaclient *mc, const uint8_t *cmd, size_t len,
                          struct cairn_buf *reply, struct metaclient_result *res);

/* The loop the client runs on (its private loop when created with NULL). */
uv_loop_t *metaclient_loop(struct metaclient *mc);
/* The address the client sends to now (the leader, once found). */
const char *metaclient_current_addr(const struct metaclient *mc);

struct metaclient_stats {
    uint64_t ops;             /* operations completed */
    uint64_t attempts;        /* RPC attempts */
    uint64_t redirects;       /* NOTLEADER hints followed */
    uint64_t switches;        /* moves to the next address (timeout, no hint) */
    uint64_t waits;           /* delayed retries */
    uint64_t sessions_opened; /* SESSION_OPEN applied */
    uint64_t sessions_lost;   /* sessions found expired */
    uint64_t keepalives;      /* SESSION_KEEPALIVE sent */
    uint64_t unknown;         /* operations completed with METACLIENT_UNKNOWN */
};
void metaclient_get_stats(const struct metaclient *mc, struct metaclient_stats *out);

/* --- the pure pieces, exposed for unit tests ------------------------------ */

/* The address list: text as given (or as hinted) and its parsed form, so
 * "localhost:7001" and "127.0.0.1:7001" are the same member. */
struct metaclient_addrs {
    size_t n;
    char text[CAIRN_RPC_ADDRS_MAX][CAIRN_MEMBER_ADDR_MAX + 1];
    struct sockaddr_storage sa[CAIRN_RPC_ADDRS_MAX];
};
/* Index of addr in the list, adding it if absent (*added = 1). CAIRN_EINVAL
 * for an unparsable address, CAIRN_LIMIT when the list is full. */
int metaclient_addrs_find_or_add(struct metaclient_addrs *a, const char *addr, int *added);

/* The leader address of a NOTLEADER error message: 0 and out set (NUL-
 * terminated) for a valid "host:port", CAIRN_ENOENT for an empty message (no
 * leader known), CAIRN_EINVAL for anything else. out_len > CAIRN_MEMBER_ADDR_MAX. */
int metaclient_hint_parse(const uint8_t *msg, size_t len, char *out, size_t out_len);

/* Write session and seq into a command's header (cmd.h). Returns the
 * command's class (enum meta_cmd_class), or CAIRN_TRUNCATED for bytes
 * shorter than a header. */
int metaclient_cmd_stamp(uint8_t *cmd, size_t len, uint64_t session, uint64_t seq);

/* What to do after one attempt. */
enum metaclient_action {
    METACLIENT_ACT_DONE = 0,     /* a reply: complete the operation */
    METACLIENT_ACT_RETRY = 1,    /* send again at once (same address logic) */
    METACLIENT_ACT_SWITCH = 2,   /* move to the next address, send again */
    METACLIENT_ACT_REDIRECT = 3, /* follow the NOTLEADER hint (none: switch + wait) */
    METACLIENT_ACT_WAIT = 4,     /* send again after a backoff delay */
    METACLIENT_ACT_REOPEN = 5,   /* the session is gone: open another */
    METACLIENT_ACT_FAIL = 6,     /* give up with this status */
};
struct metaclient_verdict {
    enum metaclient_action action;
    int in_doubt; /* this attempt may have been applied */
};
/* Judge one attempt from its RPC status and, when that is 0, the state
 * machine's reply status. mutation: the command is a SESSION-class one. */
struct metaclient_verdict metaclient_judge(int rpc_status, int meta_status, int mutation);

/* Delay before the (waits+1)-th delayed retry: exponential from
 * CAIRN_RPC_BACKOFF_MIN_MS up to CAIRN_METACLIENT_BACKOFF_MAX_MS, jittered
 * to between half and all of the step. */
uint32_t metaclient_backoff_ms(uint32_t waits, struct prng *rng);

#endif
