/*
 * rpc.h: authenticated request/reply RPC over TCP on a libuv loop.
 *
 * A server listens on host:port, authenticates every connection with the
 * HMAC-SHA256 challenge-response of wire.h (HELLO, HELLO_REPLY, AUTH,
 * AUTH_REPLY; mutual: the client checks the server's proof first), then
 * dispatches request frames to handlers registered per message type. A
 * handler may reply at once or LATER (a Raft leader replies after commit):
 * it keeps the struct rpc_req and completes it with rpc_reply(),
 * rpc_reply_error() or rpc_req_drop(). A client connects to one of several
 * addresses, authenticates, reconnects with exponential backoff and jitter,
 * correlates replies by request id, enforces per-call deadlines and bounds
 * the calls in flight (rpc_call returns CAIRN_EBUSY at the bound).
 * docs/rpc.md describes the lifecycle and what happens on each bad input.
 *
 * Threads: single-threaded. A server or client belongs to the loop it was
 * created on and every function here (except the rpc_secret_* and
 * rpc_addr_parse helpers, which are pure and may be called from any thread)
 * must be called on that loop's thread. Use one loop per thread.
 *
 * Memory: the server and client own their connections and buffers. Request
 * and reply payloads passed to callbacks point into a connection's read
 * buffer and are valid only during the callback: copy what must outlive it.
 * Payloads passed to rpc_reply/rpc_call/rpc_send are copied before return.
 * rpc_server_close/rpc_client_close start an asynchronous close: memory is
 * freed once the loop has run the close callbacks (run the loop until
 * uv_run returns 0 to finish cleanly); the pointer must not be used after
 * the close call. A server is only freed after every rpc_req it handed out
 * was completed (replying to a request whose connection is gone is safe and
 * drops the reply).
 *
 * Errors: negative cairn_err codes. Call completions report CAIRN_ETIMEDOUT
 * (deadline passed), CAIRN_CLOSED (connection lost with the call in flight:
 * it may or may not have executed), CAIRN_SHUTDOWN (client closed), or the
 * code of the server's ERROR reply (for example CAIRN_UNKNOWNTYPE).
 */
#ifndef CAIRN_RPC_H
#define CAIRN_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/buf.h"
#include "common/limits.h"
#include "wire/wire.h"

/* --- cluster secret, proofs, addresses ------------------------------- */

struct rpc_secret {
    uint8_t key[CAIRN_SECRET_MAX];
    size_t len;
};

/* Load the secret from a file: its bytes, minus ONE trailing "\n" (or
 * "\r\n"), so `echo s3cret... > f` and `printf s3cret... > f` agree. The
 * result must be CAIRN_SECRET_MIN..CAIRN_SECRET_MAX bytes (CAIRN_EINVAL /
 * CAIRN_TOOBIG otherwise). A file readable or writable by "others" is refused
 * with CAIRN_EACCES (chmod 600 it); a group-readable one is loaded with a
 * warning. Open/read failures return the errno as a cairn code. */
int rpc_secret_load(const char *path, struct rpc_secret *out);
/* Secret from memory (tests, tools); same size rules as a file. */
int rpc_secret_set(struct rpc_secret *s, const void *key, size_t len);
/* Overwrite the key bytes (OPENSSL_cleanse). */
void rpc_secret_wipe(struct rpc_secret *s);

#define RPC_LABEL_SERVER "cairn-server"
#define RPC_LABEL_CLIENT "cairn-client"
/* out = HMAC-SHA256(secret, label || first || second), with 32-byte first
 * and second (the handshake nonces; wire.h gives the order). 0 or CAIRN_EIO. */
int rpc_proof(const struct rpc_secret *s, const char *label, const uint8_t *first,
              const uint8_t *second, uint8_t out[WIRE_MAC_SIZE]);
/* n bytes from getrandom(2). 0 or a cairn code. */
int rpc_random(void *p, size_t n);
/* "1.2.3.4:port", "[::1]:port" or "localhost:port" (= 127.0.0.1). Numeric
 * addresses only otherwise (no DNS: nothing blocks the loop). CAIRN_EINVAL. */
int rpc_addr_parse(const char *hostport, struct sockaddr_storage *out);

/* --- limits ----------------------------------------------------------- */

/* Each field 0 means the default from limits.h. */
struct rpc_limits {
    uint32_t conn_max;         /* server: connections at once */
    uint32_t inflight_max;     /* client: calls outstanding; server: requests
                                  awaiting a reply on one connection before
                                  the server stops reading from it */
    uint32_t auth_timeout_ms;  /* handshake deadline (client: incl. connect) */
    uint32_t frame_timeout_ms; /* a started frame must complete in this time */
    size_t write_queue_max;    /* bytes queued for one connection (see docs) */
    uint32_t backoff_min_ms;   /* client reconnect backoff */
    uint32_t backoff_max_ms;
};

/* Replace the zero fields of l with the defaults. */
void rpc_limits_fill(struct rpc_limits *l);

/* --- messages --------------------------------------------------------- */

/* Who is at the other end of a connection (for logs and checks). */
struct rpc_peer {
    char addr[64];                       /* "127.0.0.1:43210" */
    char name[WIRE_CLIENT_NAME_MAX + 1]; /* from HELLO, printable only */
    uint64_t conn_id;                    /* unique per server */
};

/* A received request or reply. payload is valid during the callback only. */
struct rpc_msg {
    uint16_t type;
    uint32_t flags;
    uint64_t req_id;
    const uint8_t *payload;
    size_t len;
    const struct rpc_peer *peer;
};

/* Why a connection was closed (server statistics, logs). */
#define RPC_CLOSE_REASON_MAP(X)                                           \
    X(NONE, "open")                                                       \
    X(PEER, "closed by the peer")                                         \
    X(SHUTDOWN, "shutting down")                                          \
    X(CONN_MAX, "too many connections")                                   \
    X(CONNECT_FAILED, "connect failed")                                   \
    X(AUTH_TIMEOUT, "handshake not completed within the timeout")         \
    X(AUTH_FAILED, "authentication failed")                               \
    X(NOT_AUTHED, "frame other than the handshake before authentication") \
    X(PROTOCOL, "protocol violation")                                     \
    X(BAD_MAGIC, "bad frame magic")                                       \
    X(BAD_VERSION, "unsupported protocol version")                        \
    X(BAD_CRC, "frame checksum mismatch")                                 \
    X(TOO_BIG, "frame larger than the limit")                             \
    X(BAD_FRAME, "malformed frame header")                                \
    X(TRUNCATED, "connection ended in the middle of a frame")             \
    X(FRAME_TIMEOUT, "frame not completed within the timeout")            \
    X(WRITE_OVERFLOW, "peer does not read its replies")                   \
    X(IO_ERROR, "socket error")                                           \
    X(SWITCH, "client moved to another address")

enum rpc_close_reason {
#define RPC_CLOSE_ENUM_(name, text) RPC_CLOSE_##name,
    RPC_CLOSE_REASON_MAP(RPC_CLOSE_ENUM_)
#undef RPC_CLOSE_ENUM_
        RPC_CLOSE_REASONS
};

const char *rpc_close_reason_text(enum rpc_close_reason r);

/* --- server ----------------------------------------------------------- */

struct rpc_server;
struct rpc_req;

struct rpc_server_cfg {
    const struct rpc_secret *secret; /* copied */
    const char *name;                /* for logs, e.g. "meta-1"; copied */
    struct rpc_limits limits;
};

/* Handler of one message type. For a request type, req must be completed
 * exactly once, now or later (rpc_reply / rpc_reply_error / rpc_req_drop).
 * For a one-way type req is NULL and nothing is sent back. */
typedef void (*rpc_handler_fn)(struct rpc_server *srv, struct rpc_req *req,
                               const struct rpc_msg *msg, void *arg);

#define RPC_ONEWAY 0x1u

int rpc_server_new(uv_loop_t *loop, const struct rpc_server_cfg *cfg, struct rpc_server **out);
/* Register (or replace) the handler of a type. Handshake types (1..5) are
 * refused with CAIRN_EINVAL. PING and ECHO are served by default. */
int rpc_server_handle(struct rpc_server *s, uint16_t type, unsigned flags, rpc_handler_fn fn,
                      void *arg);
/* Listen on host (numeric or "localhost") and port (0 = ephemeral). */
int rpc_server_listen(struct rpc_server *s, const char *host, uint16_t port);
/* The bound port (0 before rpc_server_listen succeeded). */
uint16_t rpc_server_port(const struct rpc_server *s);
/* Close the listener and every connection; see Memory above. */
void rpc_server_close(struct rpc_server *s);

/* Reply to req (flags REPLY, the request's id) and complete it. If the
 * connection is gone the reply is dropped and 0 returned. A payload over
 * the frame limit is answered with an error reply CAIRN_TOOBIG instead (and
 * CAIRN_TOOBIG returned). CAIRN_EBUSY: the connection's write queue passed
 * write_queue_max plus one frame (a peer that does not read): the
 * connection was closed and the reply dropped. */
int rpc_reply(struct rpc_req *req, uint16_t type, const void *payload, size_t len);
/* Error reply (flags REPLY|ERROR, WIRE_ERROR payload) and complete req.
 * msg may be NULL; it is cut at WIRE_ERROR_MSG_MAX bytes. */
int rpc_reply_error(struct rpc_req *req, int code, const char *msg);
/* Complete req without replying (the client will see its deadline pass). */
void rpc_req_drop(struct rpc_req *req);
const struct rpc_peer *rpc_req_peer(const struct rpc_req *req);
/* 1 while the request's connection is open (a reply can still arrive). */
int rpc_req_alive(const struct rpc_req *req);

struct rpc_server_stats {
    uint64_t accepted;        /* connections accepted (incl. refused ones) */
    uint64_t conns_open;      /* connections open now */
    uint64_t authenticated;   /* handshakes completed */
    uint64_t requests;        /* request and one-way frames dispatched */
    uint64_t unknown_type;    /* requests answered with CAIRN_UNKNOWNTYPE */
    uint64_t replies;         /* replies queued */
    uint64_t replies_dropped; /* replies to connections gone meanwhile */
    uint64_t pauses;          /* times reading stopped for back-pressure */
    uint64_t queue_peak;      /* largest write queue of one connection, bytes */
    uint64_t closed[RPC_CLOSE_REASONS];
};

void rpc_server_get_stats(const struct rpc_server *s, struct rpc_server_stats *out);

/* --- client ----------------------------------------------------------- */

struct rpc_client;

struct rpc_client_cfg {
    const char *name; /* sent in HELLO (<= 64 bytes, cut), for the server's logs */
    struct rpc_limits limits;
    size_t preferred; /* index of the first address to try */
    uint64_t seed;    /* backoff jitter; 0 = from getrandom */
};

/* Completion of a call. status 0: reply is the reply frame. status < 0: an
 * error; for an ERROR reply from the server, reply->payload/len hold its
 * message text (not NUL-terminated); for local errors reply is NULL. */
typedef void (*rpc_reply_fn)(struct rpc_client *c, int status, const struct rpc_msg *reply,
                             void *arg);

/* addrs: 1..CAIRN_RPC_ADDRS_MAX "host:port" strings (copied). Starts
 * connecting at once. CAIRN_EINVAL for a bad address or count. */
int rpc_client_new(uv_loop_t *loop, const char *const *addrs, size_t n_addrs,
                   const struct rpc_secret *secret, const struct rpc_client_cfg *cfg,
                   struct rpc_client **out);
/* Send a request; cb runs exactly once later (never inside rpc_call). If
 * not connected, the request waits in a bounded queue for the connection.
 * Returns 0, CAIRN_EBUSY (calls in flight at inflight_max, or write queue
 * full: back-pressure), CAIRN_TOOBIG, CAIRN_EINVAL (timeout 0) or
 * CAIRN_SHUTDOWN; on an error cb is never called. */
int rpc_call(struct rpc_client *c, uint16_t type, const void *payload, size_t len,
             uint32_t timeout_ms, rpc_reply_fn cb, void *arg);
/* One-way message (no reply). Only while connected: CAIRN_UNAVAILABLE
 * otherwise (nothing is queued), CAIRN_EBUSY if the write queue is full. */
int rpc_send(struct rpc_client *c, uint16_t type, const void *payload, size_t len);
/* Blocking helper for tools and tests: runs the loop until the call
 * completes. Must not be called from a callback of the same loop. The reply
 * payload (or error message) is appended to reply if not NULL. */
int rpc_call_sync(struct rpc_client *c, uint16_t type, const void *payload, size_t len,
                  uint32_t timeout_ms, uint16_t *reply_type, struct cairn_buf *reply);
/* Use address idx from now on (e.g. following a NOT_LEADER hint): if
 * connected elsewhere, that connection is closed (its calls fail with
 * CAIRN_CLOSED) and idx is dialed at once. rpc_client_next moves to the
 * next address the same way. */
void rpc_client_prefer(struct rpc_client *c, size_t idx);
void rpc_client_next(struct rpc_client *c);
/* 1 when authenticated and ready to send. */
int rpc_client_ready(const struct rpc_client *c);
/* Index of the address in use or being dialed. */
size_t rpc_client_addr_index(const struct rpc_client *c);
/* Fail every outstanding call with CAIRN_SHUTDOWN and close; see Memory. */
void rpc_client_close(struct rpc_client *c);

struct rpc_client_stats {
    uint64_t connects;      /* TCP connects attempted */
    uint64_t handshakes;    /* handshakes completed */
    uint64_t auth_failures; /* server proof wrong, or our proof refused */
    uint64_t disconnects;   /* connections lost after or during the handshake */
    size_t inflight;        /* calls outstanding (sent or queued) */
    int last_error;         /* last connect/handshake error, 0 if none */
};

void rpc_client_get_stats(const struct rpc_client *c, struct rpc_client_stats *out);

#endif
