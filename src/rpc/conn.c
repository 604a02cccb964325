/* conn.c: framed, bounded, reference-counted TCP connections on libuv. */
#include "rpc/conn.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "wire/msg_rpc.h"

/* Read granularity when no larger frame is known to be arriving. */
#define CONN_READ_CHUNK (64u * 1024u)
/* Buffers above this capacity are freed when they empty. One largest frame:
 * a connection carrying 1 MiB data pieces reuses its buffers instead of
 * growing (and page-faulting) them anew for every frame (bench_rpc: about
 * 2x on 1 MiB echoes), while an idle connection pins at most this much per
 * buffer after a burst of pipelined frames. */
#define CONN_BUF_KEEP RPC_FRAME_BYTES_MAX

_Static_assert(CAIRN_RPC_WRITE_QUEUE_MAX >= CAIRN_FRAME_PAYLOAD_MAX,
               "the write queue holds at least one largest frame");

static void conn_on_handle_closed(uv_handle_t *h);
static void conn_process(struct rpc_conn *c);

static void conn_on_auth_timeout(uv_timer_t *t) { conn_close(t->data, RPC_CLOSE_AUTH_TIMEOUT); }

/* The frame timer doubles as the deadline of a flush-then-close. */
static void conn_on_frame_timeout(uv_timer_t *t)
{
    struct rpc_conn *c = t->data;
    conn_close(c, c->flush_close ? c->flush_reason : RPC_CLOSE_FRAME_TIMEOUT);
}

static void conn_on_kick(uv_timer_t *t) { conn_process(t->data); }

void conn_auth_deadline(struct rpc_conn *c, uint32_t timeout_ms)
{
    if (c->closing)
        return;
    if (timeout_ms)
        uv_timer_start(&c->auth_timer, conn_on_auth_timeout, timeout_ms, 0);
    else
        uv_timer_stop(&c->auth_timer);
}

struct rpc_conn *conn_new(uv_loop_t *loop, const struct rpc_conn_ops *ops, void *owner,
                          const char *side, const struct rpc_limits *lim)
{
    struct rpc_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (uv_tcp_init(loop, &c->tcp)) {
        free(c);
        return NULL;
    }
    /* Timers cannot fail to init on a live loop; the TCP handle is the only
     * resource acquired so far, and from here every handle must be closed. */
    uv_timer_init(loop, &c->auth_timer);
    uv_timer_init(loop, &c->frame_timer);
    uv_timer_init(loop, &c->kick_timer);
    c->tcp.data = c->auth_timer.data = c->frame_timer.data = c->kick_timer.data = c;
    c->handles_open = 4;
    c->refs = 1;
    c->ops = ops;
    c->owner = owner;
    c->side = side;
    c->write_queue_max = lim->write_queue_max;
    c->frame_timeout_ms = lim->frame_timeout_ms;
    buf_init(&c->rbuf, RPC_FRAME_BYTES_MAX);
    buf_init(&c->wpend, 0);
    buf_init(&c->wbusy, 0);
    snprintf(c->peer.addr, sizeof c->peer.addr, "?");
    return c;
}

static void conn_peer_name(struct rpc_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    uv_ip_name((struct sockaddr *)&ss, ip, sizeof ip);
    int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    snprintf(c->peer.addr, sizeof c->peer.addr, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip,
             port);
}

/* Hand libuv room in the read buffer: a whole frame's remainder when its
 * header is known (large payloads arrive in few reads), else one chunk;
 * never past the buffer's limit of one largest frame. */
static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    struct rpc_conn *c = h->data;
    struct cairn_buf *b = &c->rbuf;
    size_t want = CONN_READ_CHUNK;
    if (b->len >= WIRE_HEADER_SIZE) {
        size_t total = WIRE_HEADER_SIZE + (size_t)wire_load_u32(b->data + 20) + WIRE_TRAILER_SIZE;
        if (total > b->len && total - b->len > want)
            want = total - b->len;
    }
    size_t room = b->limit - b->len;
    if (want > room)
        want = room;
    if (want == 0 || buf_reserve(b, want) != 0) {
        *out = uv_buf_init(NULL, 0); /* read_cb sees UV_ENOBUFS */
        return;
    }
    *out = uv_buf_init((char *)b->data + b->len, (unsigned)want);
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rpc_conn *c = s->data;
    if (nread > 0) {
        c->rbuf.len += (size_t)nread;
        conn_process(c);
    } else if (nread == UV_EOF) {
        conn_close(c, c->rbuf.len ? RPC_CLOSE_TRUNCATED : RPC_CLOSE_PEER);
    } else if (nread == UV_ECONNRESET) {
        conn_close(c, RPC_CLOSE_PEER);
    } else if (nread < 0) {
        conn_close(c, RPC_CLOSE_IO_ERROR);
    }
}

int conn_start(struct rpc_conn *c)
{
    uv_tcp_nodelay(&c->tcp, 1);
    conn_peer_name(c);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
    return rc ? cairn_err_from_errno(-rc) : 0;
}

static enum rpc_close_reason reason_of_parse_error(int rc)
{
    switch (rc) {
    case CAIRN_BADMAGIC:
        return RPC_CLOSE_BAD_MAGIC;
    case CAIRN_BADVERSION:
        return RPC_CLOSE_BAD_VERSION;
    case CAIRN_BADCRC:
        return RPC_CLOSE_BAD_CRC;
    case CAIRN_TOOBIG:
        return RPC_CLOSE_TOO_BIG;
    default:
        return RPC_CLOSE_BAD_FRAME;
    }
}

/* After frames were consumed: an empty buffer stops the frame deadline; a
 * partial frame keeps it, restarted whenever a frame completed, so the
 * deadline always measures how long the CURRENT frame has been arriving. */
static void conn_frame_deadline(struct rpc_conn *c, bool progressed)
{
    if (c->rbuf.len == 0 || c->paused) {
        uv_timer_stop(&c->frame_timer);
        if (c->rbuf.len == 0 && c->rbuf.cap > CONN_BUF_KEEP)
            buf_free(&c->rbuf);
        return;
    }
    if (progressed || !uv_is_active((uv_handle_t *)&c->frame_timer))
        uv_timer_start(&c->frame_timer, conn_on_frame_timeout, c->frame_timeout_ms, 0);
}

/* Deliver every whole frame in the read buffer. Frames are consumed by
 * offset and the buffer compacted once at the end (no memmove per frame).
 * Stops early when the owner pauses or closes the connection. */
static void conn_process(struct rpc_conn *c)
{
    size_t off = 0;
    bool progressed = false;
    while (!c->closing && !c->paused && !c->flush_close) {
        struct wire_header h;
        const uint8_t *payload = NULL;
        size_t flen;
        int rc = wire_frame_parse(c->rbuf.data + off, c->rbuf.len - off, &h, &payload, &flen);
        if (rc) {
            conn_close(c, reason_of_parse_error(rc));
            return;
        }
        if (flen == 0)
            break;
        off += flen;
        progressed = true;
        int why = c->ops->on_frame(c, &h, payload);
        if (why) {
            conn_close(c, (enum rpc_close_reason)why);
            return;
        }
    }
    if (c->closing)
        return;
    buf_consume(&c->rbuf, off);
    if (!c->flush_close)
        conn_frame_deadline(c, progressed);
}

size_t conn_queued(const struct rpc_conn *c) { return c->wpend.len + c->wbusy.len; }

static void conn_on_write(uv_write_t *w, int status);

/* Start writing wpend if no write is in flight. */
static void conn_flush(struct rpc_conn *c)
{
    if (c->writing || c->closing || c->wpend.len == 0)
        return;
    struct cairn_buf t = c->wbusy;
    c->wbusy = c->wpend;
    c->wpend = t;
    uv_buf_t b = uv_buf_init((char *)c->wbusy.data, (unsigned)c->wbusy.len);
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, conn_on_write);
    if (rc) {
        conn_close(c, RPC_CLOSE_IO_ERROR);
        return;
    }
    c->writing = true;
}

static void conn_on_write(uv_write_t *w, int status)
{
    struct rpc_conn *c = w->handle->data;
    c->writing = false;
    c->wbusy.len = 0;
    if (c->wbusy.cap > CONN_BUF_KEEP)
        buf_free(&c->wbusy);
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c, status == UV_EPIPE || status == UV_ECONNRESET ? RPC_CLOSE_PEER
                                                                    : RPC_CLOSE_IO_ERROR);
        return;
    }
    conn_flush(c);
    if (c->flush_close && conn_queued(c) == 0) {
        conn_close(c, c->flush_reason);
        return;
    }
    if (c->ops->on_written)
        c->ops->on_written(c);
}

/* Admission of one frame of `bytes` to the write queue: the hard bound is
 * write_queue_max plus one largest frame; owners apply the soft bound
 * (write_queue_max) themselves as back-pressure before reaching this. */
static int conn_admit(const struct rpc_conn *c, size_t bytes)
{
    if (c->closing || c->flush_close)
        return CAIRN_CLOSED;
    if (conn_queued(c) + bytes > c->write_queue_max + RPC_FRAME_BYTES_MAX)
        return CAIRN_EBUSY;
    return 0;
}

int conn_send(struct rpc_conn *c, uint16_t type, uint32_t flags, uint64_t req_id,
              const void *payload, size_t len)
{
    if (len > CAIRN_FRAME_PAYLOAD_MAX)
        return CAIRN_TOOBIG;
    int rc = conn_admit(c, WIRE_HEADER_SIZE + len + WIRE_TRAILER_SIZE);
    if (rc)
        return rc;
    rc = wire_frame_encode(&c->wpend, type, flags, req_id, payload, len);
    if (rc)
        return rc;
    conn_flush(c);
    return 0;
}

/* Small handshake and error payloads are encoded on the side, then framed. */
int conn_send_enc(struct rpc_conn *c, uint16_t type, uint32_t flags, uint64_t req_id,
                  int (*enc)(struct cairn_buf *out, const void *arg), const void *arg)
{
    struct cairn_buf p;
    buf_init(&p, CAIRN_FRAME_PAYLOAD_MAX);
    int rc = enc(&p, arg);
    if (rc == 0)
        rc = conn_send(c, type, flags, req_id, p.data, p.len);
    buf_free(&p);
    return rc;
}

struct conn_err_arg {
    int code;
    const char *msg;
};

static int conn_enc_error(struct cairn_buf *out, const void *arg)
{
    const struct conn_err_arg *a = arg;
    size_t n = a->msg ? strlen(a->msg) : 0;
    return wire_error_encode(out, a->code, a->msg, CAIRN_MIN(n, (size_t)WIRE_ERROR_MSG_MAX));
}

int conn_send_error(struct rpc_conn *c, uint64_t req_id, int code, const char *msg)
{
    struct conn_err_arg a = {code < 0 ? code : CAIRN_EIO, msg};
    return conn_send_enc(c, WIRE_ERROR, WIRE_FLAG_REPLY | WIRE_FLAG_ERROR, req_id, conn_enc_error,
                         &a);
}

void conn_pause(struct rpc_conn *c)
{
    if (c->paused || c->closing)
        return;
    c->paused = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_stop(&c->frame_timer);
}

void conn_resume(struct rpc_conn *c)
{
    if (!c->paused || c->closing || c->flush_close)
        return;
    c->paused = false;
    if (uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read) != 0) {
        conn_close(c, RPC_CLOSE_IO_ERROR);
        return;
    }
    /* Frames that arrived before the pause are delivered from the loop, not
     * from inside whoever resumed us (a handler of another connection). */
    if (c->rbuf.len)
        uv_timer_start(&c->kick_timer, conn_on_kick, 0, 0);
}

static bool reason_is_normal(enum rpc_close_reason why)
{
    return why == RPC_CLOSE_PEER || why == RPC_CLOSE_SHUTDOWN || why == RPC_CLOSE_SWITCH ||
           why == RPC_CLOSE_CONNECT_FAILED;
}

void conn_close(struct rpc_conn *c, enum rpc_close_reason why)
{
    if (c->closing)
        return;
    c->closing = true;
    c->reason = why;
    if (reason_is_normal(why))
        LOG_DEBUG("rpc", "%s: connection %s closed: %s", c->side, c->peer.addr,
                  rpc_close_reason_text(why));
    else
        LOG_WARN("rpc", "%s: closing connection %s%s%s%s: %s", c->side, c->peer.addr,
                 c->peer.name[0] ? " (\"" : "", c->peer.name, c->peer.name[0] ? "\")" : "",
                 rpc_close_reason_text(why));
    c->ops->on_closing(c);
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, conn_on_handle_closed);
    uv_close((uv_handle_t *)&c->auth_timer, conn_on_handle_closed);
    uv_close((uv_handle_t *)&c->frame_timer, conn_on_handle_closed);
    uv_close((uv_handle_t *)&c->kick_timer, conn_on_handle_closed);
}

void conn_close_after_flush(struct rpc_conn *c, enum rpc_close_reason why)
{
    if (c->closing || c->flush_close)
        return;
    if (conn_queued(c) == 0) {
        conn_close(c, why);
        return;
    }
    c->flush_close = true;
    c->flush_reason = why;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_start(&c->frame_timer, conn_on_frame_timeout, c->frame_timeout_ms, 0);
}

static void conn_on_handle_closed(uv_handle_t *h)
{
    struct rpc_conn *c = h->data;
    CAIRN_ASSERT(c->handles_open > 0);
    if (--c->handles_open > 0)
        return;
    c->ops->on_closed(c);
    conn_unref(c);
}

void conn_ref(struct rpc_conn *c)
{
    CAIRN_ASSERT(c->refs > 0);
    c->refs++;
}

void conn_unref(struct rpc_conn *c)
{
    CAIRN_ASSERT(c->refs > 0);
    if (--c->refs > 0)
        return;
    CAIRN_ASSERT(c->closing && c->handles_open == 0);
    buf_free(&c->rbuf);
    buf_free(&c->wpend);
    buf_free(&c->wbusy);
    free(c);
}

const char *rpc_close_reason_text(enum rpc_close_reason r)
{
    static const char *const texts[] = {
#define RPC_CLOSE_TEXT_(name, text) text,
        RPC_CLOSE_REASON_MAP(RPC_CLOSE_TEXT_)
#undef RPC_CLOSE_TEXT_
    };
    return (unsigned)r < CAIRN_ARRAY_LEN(texts) ? texts[r] : "?";
}
