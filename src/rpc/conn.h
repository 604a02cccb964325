/*
 * conn.h: the connection machinery shared by the RPC server and client
 * (private to src/rpc).
 *
 * A connection owns its TCP handle, three timers (handshake deadline, frame
 * deadline, a zero-delay "kick" that resumes processing of buffered frames
 * outside of any caller's stack), a read buffer bounded at one maximum
 * frame, and a two-buffer write queue: frames are appended to `wpend` while
 * `wbusy` is being written, then the buffers swap, so every frame queued
 * during one write goes out in the next single uv_write (batching).
 *
 * Lifetime: reference counted. conn_new returns one reference, held by "the
 * connection is open"; it is released when all handles have closed. Other
 * holders (a server request awaiting its reply, ...) take their own
 * references, so a late reply never touches freed memory. Closing is
 * asynchronous: conn_close calls ops->on_closing at once (the owner fails or
 * forgets its state), and ops->on_closed once every handle is closed.
 * Loop thread only.
 */
#ifndef CAIRN_RPC_CONN_H
#define CAIRN_RPC_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "rpc/rpc.h"
#include "wire/frame.h"

struct rpc_conn;

struct rpc_conn_ops {
    /* One whole frame with a good CRC. Return 0 to go on, or a close reason
     * (> 0) to close the connection with it. */
    int (*on_frame)(struct rpc_conn *c, const struct wire_header *h, const uint8_t *payload);
    /* A write completed (queue shorter): resume reading, flush-close, ... */
    void (*on_written)(struct rpc_conn *c);
    /* The connection starts closing; called once. */
    void (*on_closing)(struct rpc_conn *c);
    /* Every handle is closed; called once, before the last unref. */
    void (*on_closed)(struct rpc_conn *c);
};

struct rpc_conn {
    uv_tcp_t tcp;
    uv_timer_t auth_timer;
    uv_timer_t frame_timer;
    uv_timer_t kick_timer;
    uv_connect_t connect_req;
    uv_write_t wreq;
    struct cairn_buf rbuf;
    struct cairn_buf wpend;
    struct cairn_buf wbusy;
    size_t write_queue_max;
    uint32_t frame_timeout_ms;
    const struct rpc_conn_ops *ops;
    void *owner;
    const char *side; /* "server NAME" or "client NAME" for logs */
    int refs;
    int handles_open;
    bool writing;
    bool paused;
    bool closing;
    bool flush_close; /* close once the write queue is empty */
    enum rpc_close_reason reason;
    enum rpc_close_reason flush_reason;
    struct rpc_peer peer;
    /* Owner state (server or client): handshake step, nonces, list links. */
    int state;
    uint32_t outstanding;
    size_t addr_index;
    uint8_t nonce_mine[WIRE_NONCE_SIZE];
    uint8_t nonce_peer[WIRE_NONCE_SIZE];
    struct rpc_conn *prev;
    struct rpc_conn *next;
};

/* Largest frame on the wire: header, the largest payload, trailer. */
#define RPC_FRAME_BYTES_MAX ((size_t)WIRE_HEADER_SIZE + CAIRN_FRAME_PAYLOAD_MAX + WIRE_TRAILER_SIZE)

/* Allocate and init the handles (TCP not yet connected/accepted). NULL on
 * failure (out of memory or libuv refused a handle). */
struct rpc_conn *conn_new(uv_loop_t *loop, const struct rpc_conn_ops *ops, void *owner,
                          const char *side, const struct rpc_limits *lim);
/* After accept/connect: TCP_NODELAY, peer address, start reading. 0 or a
 * cairn code (the caller closes the connection). */
int conn_start(struct rpc_conn *c);
/* Queue one frame. 0; CAIRN_CLOSED if closing; CAIRN_EBUSY if the queue
 * would pass write_queue_max + one frame (the hard bound); CAIRN_TOOBIG. */
int conn_send(struct rpc_conn *c, uint16_t type, uint32_t flags, uint64_t req_id,
              const void *payload, size_t len);
/* Queue a payload produced by enc(out, arg) as one frame. */
int conn_send_enc(struct rpc_conn *c, uint16_t type, uint32_t flags, uint64_t req_id,
                  int (*enc)(struct cairn_buf *out, const void *arg), const void *arg);
/* Queue an ERROR reply. */
int conn_send_error(struct rpc_conn *c, uint64_t req_id, int code, const char *msg);
/* Start the handshake deadline (close with RPC_CLOSE_AUTH_TIMEOUT when it
 * passes); 0 stops it once the handshake is done. */
void conn_auth_deadline(struct rpc_conn *c, uint32_t timeout_ms);
/* Bytes queued and not yet written. */
size_t conn_queued(const struct rpc_conn *c);
/* Stop / restart reading (back-pressure). Buffered frames are processed on
 * resume, from the kick timer (never inside the caller's stack). */
void conn_pause(struct rpc_conn *c);
void conn_resume(struct rpc_conn *c);
/* Close now, with a logged reason (idempotent). */
void conn_close(struct rpc_conn *c, enum rpc_close_reason why);
/* Stop reading and close once the queued frames are written (an error
 * reply goes out first). The handshake timer still bounds the wait. */
void conn_close_after_flush(struct rpc_conn *c, enum rpc_close_reason why);
void conn_ref(struct rpc_conn *c);
void conn_unref(struct rpc_conn *c);

#endif
