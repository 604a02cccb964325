/* bench_rpc.c: RPC round trips per second and echo throughput over
 * loopback, next to a raw TCP baseline measured in the same run.
 *
 * The RPC server runs in its own thread on its own loop; the RPC clients
 * share the main thread's loop. The baseline does the same exchange (the
 * same frames with CRC32C, echoed back) over plain blocking sockets, one
 * thread per connection on both sides, with no handshake, no libuv and
 * no request bookkeeping: the difference is the cost of the RPC layer.
 * Numbers only; nothing is asserted. Takes about 15 s. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/time.h"
#include "rpc/rpc.h"
#include "wire/frame.h"
#include "wire/msg_rpc.h"

#define RUN_NS (2 * CAIRN_NS_PER_SEC)
#define SMALL 32u
#define BIG (1u << 20)
#define CLIENTS_MAX 16

static const char secret_text[] = "bench-secret-0123456789abcdef";

/* --- the RPC server thread --------------------------------------------- */

struct srv_thread {
    pthread_t tid;
    uv_loop_t loop;
    uv_async_t stop;
    struct rpc_server *srv;
    uint16_t port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void srv_stop_cb(uv_async_t *a)
{
    struct srv_thread *t = a->data;
    rpc_server_close(t->srv);
    uv_close((uv_handle_t *)a, NULL);
}

static void *srv_main(void *arg)
{
    struct srv_thread *t = arg;
    struct rpc_secret s;
    CAIRN_ASSERT(rpc_secret_set(&s, secret_text, strlen(secret_text)) == 0);
    uv_loop_init(&t->loop);
    uv_async_init(&t->loop, &t->stop, srv_stop_cb);
    t->stop.data = t;
    struct rpc_server_cfg cfg = {.secret = &s, .name = "bench"};
    CAIRN_ASSERT(rpc_server_new(&t->loop, &cfg, &t->srv) == 0);
    CAIRN_ASSERT(rpc_server_listen(t->srv, "127.0.0.1", 0) == 0);
    pthread_mutex_lock(&t->mu);
    t->port = rpc_server_port(t->srv);
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    uv_loop_close(&t->loop);
    return NULL;
}

static void srv_start(struct srv_thread *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    pthread_create(&t->tid, NULL, srv_main, t);
    pthread_mutex_lock(&t->mu);
    while (!t->port)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

/* --- RPC clients on the main loop ---------------------------------------- */

struct rpc_run {
    uv_loop_t *loop;
    struct rpc_client *c[CLIENTS_MAX];
    int n_clients;
    struct cairn_buf req; /* one ECHO payload, sent by every call */
    uint64_t end_ns;
    uint64_t done;
    int outstanding;
    int failed;
};

static void rpc_issue(struct rpc_run *R, struct rpc_client *c);

static void rpc_done(struct rpc_client *c, int status, const struct rpc_msg *m, void *arg)
{
    struct rpc_run *R = arg;
    R->outstanding--;
    if (status != 0 || m->len != R->req.len) {
        R->failed = 1;
        return;
    }
    R->done++;
    if (time_mono_ns() < R->end_ns)
        rpc_issue(R, c);
}

static void rpc_issue(struct rpc_run *R, struct rpc_client *c)
{
    if (rpc_call(c, WIRE_ECHO, R->req.data, R->req.len, 30000, rpc_done, R) == 0)
        R->outstanding++;
    else
        R->failed = 1;
}

/* Echo rounds with n clients x depth calls in flight for RUN_NS: calls/s. */
static double rpc_measure(uv_loop_t *loop, uint16_t port, int n, int depth, size_t size)
{
    struct rpc_run R = {.loop = loop, .n_clients = n};
    struct rpc_secret s;
    CAIRN_ASSERT(rpc_secret_set(&s, secret_text, strlen(secret_text)) == 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)port);
    const char *addrs[] = {addr};
    struct rpc_client_cfg cfg = {.name = "bench"};
    uint8_t *data = calloc(1, size);
    buf_init(&R.req, 0);
    CAIRN_ASSERT(wire_echo_encode(&R.req, data, size) == 0);
    free(data);
    for (int i = 0; i < n; i++) {
        CAIRN_ASSERT(rpc_client_new(loop, addrs, 1, &s, &cfg, &R.c[i]) == 0);
        CAIRN_ASSERT(rpc_call_sync(R.c[i], WIRE_PING, NULL, 0, 10000, NULL, NULL) == 0);
    }
    uint64_t t0 = time_mono_ns();
    R.end_ns = t0 + RUN_NS;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < depth; k++)
            rpc_issue(&R, R.c[i]);
    while (R.outstanding > 0 && !R.failed)
        uv_run(loop, UV_RUN_ONCE);
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    for (int i = 0; i < n; i++)
        rpc_client_close(R.c[i]);
    uv_run(loop, UV_RUN_DEFAULT);
    buf_free(&R.req);
    if (R.failed) {
        fprintf(stderr, "bench_rpc: a call failed\n");
        exit(1);
    }
    return (double)R.done / secs;
}

/* --- raw TCP baseline: blocking sockets, same frames --------------------- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = recv(fd, p, n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Read one frame into b (checked with wire_frame_parse: CRC included). */
static int read_frame(int fd, struct cairn_buf *b, struct wire_header *h, const uint8_t **pl)
{
    buf_reset(b);
    uint8_t *hd = buf_extend(b, WIRE_HEADER_SIZE);
    if (!hd || read_all(fd, hd, WIRE_HEADER_SIZE))
        return -1;
    size_t rest = wire_load_u32(b->data + 20) + (size_t)WIRE_TRAILER_SIZE;
    if (rest > CAIRN_FRAME_PAYLOAD_MAX + WIRE_TRAILER_SIZE)
        return -1;
    uint8_t *body = buf_extend(b, rest);
    size_t flen;
    if (!body || read_all(fd, body, rest) || wire_frame_parse(b->data, b->len, h, pl, &flen) != 0 ||
        flen != b->len)
        return -1;
    return 0;
}

static void *raw_conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct cairn_buf in, out;
    buf_init(&in, 0);
    buf_init(&out, 0);
    struct wire_header h;
    const uint8_t *pl;
    while (read_frame(fd, &in, &h, &pl) == 0) {
        buf_reset(&out);
        if (wire_frame_encode(&out, WIRE_ECHO_REPLY, WIRE_FLAG_REPLY, h.req_id, pl, h.len) ||
            write_all(fd, out.data, out.len))
            break;
    }
    close(fd);
    buf_free(&in);
    buf_free(&out);
    return NULL;
}

static void *raw_accept_main(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            return NULL; /* the listener was shut down */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        pthread_create(&t, NULL, raw_conn_main, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}

struct raw_client {
    pthread_t tid;
    uint16_t port;
    int depth;
    size_t size;
    uint64_t end_ns;
    uint64_t done;
};

static int raw_dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CAIRN_ASSERT(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Keep `depth` requests in flight like the RPC client does: poll(2) for
 * both directions, send what fits, parse whole replies as they come. */
static void raw_pump(int fd, struct cairn_buf *out, size_t *sent, struct cairn_buf *in,
                     uint64_t *replies)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN | (*sent < out->len ? POLLOUT : 0)};
    CAIRN_ASSERT(poll(&pfd, 1, 10000) > 0);
    if (pfd.revents & POLLOUT) {
        ssize_t k = send(fd, out->data + *sent, out->len - *sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        CAIRN_ASSERT(k > 0 || errno == EAGAIN);
        *sent += k > 0 ? (size_t)k : 0;
        if (*sent == out->len) {
            buf_reset(out);
            *sent = 0;
        }
    }
    if (!(pfd.revents & POLLIN))
        return;
    uint8_t *room = buf_extend(in, 256 * 1024);
    CAIRN_ASSERT(room != NULL);
    ssize_t k = recv(fd, room, 256 * 1024, MSG_DONTWAIT);
    CAIRN_ASSERT(k > 0 || errno == EAGAIN);
    in->len -= 256 * 1024 - (k > 0 ? (size_t)k : 0);
    size_t off = 0, flen;
    struct wire_header h;
    const uint8_t *pl;
    while (wire_frame_parse(in->data + off, in->len - off, &h, &pl, &flen) == 0 && flen) {
        off += flen;
        (*replies)++;
    }
    buf_consume(in, off);
}

static void *raw_client_main(void *arg)
{
    struct raw_client *rc = arg;
    int fd = raw_dial(rc->port);
    struct cairn_buf p, out, in;
    buf_init(&p, 0);
    buf_init(&out, 0);
    buf_init(&in, 0);
    uint8_t *data = calloc(1, rc->size);
    CAIRN_ASSERT(wire_echo_encode(&p, data, rc->size) == 0);
    free(data);
    uint64_t issued = 0;
    size_t sent = 0;
    /* One in flight: the plainest exchange, a blocking write then read. */
    while (rc->depth == 1 && time_mono_ns() < rc->end_ns) {
        struct wire_header h;
        const uint8_t *pl;
        buf_reset(&out);
        CAIRN_ASSERT(wire_frame_encode(&out, WIRE_ECHO, 0, ++issued, p.data, p.len) == 0);
        CAIRN_ASSERT(write_all(fd, out.data, out.len) == 0);
        CAIRN_ASSERT(read_frame(fd, &in, &h, &pl) == 0 && h.len == p.len);
        rc->done++;
    }
    buf_reset(&out);
    while (rc->depth > 1) {
        bool more = time_mono_ns() < rc->end_ns;
        while (more && issued - rc->done < (uint64_t)rc->depth)
            CAIRN_ASSERT(wire_frame_encode(&out, WIRE_ECHO, 0, ++issued, p.data, p.len) == 0);
        if (!more && rc->done == issued)
            break;
        raw_pump(fd, &out, &sent, &in, &rc->done);
    }
    close(fd);
    buf_free(&p);
    buf_free(&out);
    buf_free(&in);
    return NULL;
}

static double raw_measure(uint16_t port, int n, int depth, size_t size)
{
    struct raw_client rc[CLIENTS_MAX];
    uint64_t t0 = time_mono_ns();
    for (int i = 0; i < n; i++) {
        rc[i] = (struct raw_client){.port = port, .depth = depth, .size = size};
        rc[i].end_ns = t0 + RUN_NS;
        pthread_create(&rc[i].tid, NULL, raw_client_main, &rc[i]);
    }
    uint64_t done = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(rc[i].tid, NULL);
        done += rc[i].done;
    }
    return (double)done / ((double)(time_mono_ns() - t0) / 1e9);
}

static int raw_listen(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CAIRN_ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 64) == 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return fd;
}

/* --- the table ------------------------------------------------------------ */

struct row {
    const char *what;
    int clients;
    int depth;
    size_t size;
};

int main(void)
{
    cairn_log_set_level(CAIRN_LOG_WARN);
    struct srv_thread st;
    srv_start(&st);
    uint16_t raw_port;
    int lfd = raw_listen(&raw_port);
    pthread_t acc;
    pthread_create(&acc, NULL, raw_accept_main, (void *)(intptr_t)lfd);
    uv_loop_t loop;
    uv_loop_init(&loop);

    static const struct row rows[] = {
        {"echo 32 B, 1 client x 1 in flight", 1, 1, SMALL},
        {"echo 32 B, 16 clients x 32 in flight", 16, 32, SMALL},
        {"echo 1 MiB, 1 client x 1 in flight", 1, 1, BIG},
        {"echo 1 MiB, 1 client x 4 in flight", 1, 4, BIG},
    };
    printf("%-40s %14s %14s %8s\n", "loopback, payload each way", "rpc", "raw tcp", "rpc/raw");
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(rows); i++) {
        const struct row *r = &rows[i];
        double a = rpc_measure(&loop, st.port, r->clients, r->depth, r->size);
        double b = raw_measure(raw_port, r->clients, r->depth, r->size);
        if (r->size >= BIG)
            printf("%-40s %9.0f MB/s %9.0f MB/s %7.2f\n", r->what, a * (double)r->size / 1e6,
                   b * (double)r->size / 1e6, a / b);
        else
            printf("%-40s %10.0f rt/s %10.0f rt/s %7.2f\n", r->what, a, b, a / b);
        fflush(stdout);
    }
    uv_loop_close(&loop);
    shutdown(lfd, SHUT_RDWR);
    close(lfd);
    pthread_join(acc, NULL);
    uv_async_send(&st.stop);
    pthread_join(st.tid, NULL);
    return 0;
}
