/* bench_etcd.c: the reference side of bench/compare/run.sh: the same two
 * workloads bench_meta_cluster (creates) and bench_locks (lock pairs) run on
 * cairn, run against an etcd cluster through its v3 JSON gateway (HTTP/1.1,
 * one keep-alive connection per client, plain sockets, one thread each, so
 * the client is not what limits the rate):
 *
 *   put         N clients, each doing sequential POST /v3/kv/put of a small
 *               key (~24 bytes) and a 16-byte value; a put is acknowledged
 *               once committed (fsynced on a quorum by etcd's default);
 *   distinct    N clients, each with its own lease (/v3/lease/grant), doing
 *               /v3/lock/lock + /v3/lock/unlock on its own lock name;
 *   contended   the same on ONE lock name (etcd queues waiters by revision).
 * for N = 1, 16, 64. Clients talk to the leader (found with
 * /v3/maintenance/status), as cairn's clients talk to theirs.
 *
 * usage: bench_etcd --endpoints H:P[,H:P...] [--seconds S] [--only put|locks]
 * Prints markdown rows; nothing is asserted. Operating errors (a refused
 * connection, a non-200 reply) are counted per row, never retried silently. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/time.h"

#define BE_CLIENTS_MAX 64
#define BE_ENDPOINTS_MAX 8
#define BE_SAMPLES_MAX 200000u
#define BE_REPLY_TIMEOUT_S 60 /* contended: 64 waiters x a slow fsync each */
#define BE_IO_MAX 16384       /* one request or reply; etcd's replies here are < 1 KiB */

struct be_endpoint {
    char host[64];
    int port;
};

/* One HTTP/1.1 keep-alive connection; `in` keeps bytes read past a reply. */
struct be_conn {
    int fd;
    char in[BE_IO_MAX];
    size_t have;
};

static int be_connect(struct be_conn *c, const struct be_endpoint *ep)
{
    c->have = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* A reply later than this is an error in the row, not a hung bench. */
    struct timeval tv = {.tv_sec = BE_REPLY_TIMEOUT_S};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ep->port)};
    if (inet_pton(AF_INET, ep->host, &a.sin_addr) != 1 ||
        connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void be_close(struct be_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int be_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read more bytes into c->in; -1 on EOF, error or a full buffer. */
static int be_fill(struct be_conn *c)
{
    if (c->have >= sizeof c->in - 1)
        return -1;
    ssize_t r;
    do {
        r = read(c->fd, c->in + c->have, sizeof c->in - 1 - c->have);
    } while (r < 0 && errno == EINTR);
    if (r <= 0)
        return -1;
    c->have += (size_t)r;
    c->in[c->have] = 0;
    return 0;
}

/* Decode a chunked body in place (from `body`, `avail` bytes so far, more
 * read as needed) into out; returns its length or -1. */
static long be_chunked(struct be_conn *c, size_t body, char *out, size_t cap)
{
    size_t pos = body, len = 0;
    for (;;) {
        char *eol;
        while (!(eol = strstr(c->in + pos, "\r\n")))
            if (be_fill(c))
                return -1;
        size_t n = strtoul(c->in + pos, NULL, 16);
        size_t start = (size_t)(eol - c->in) + 2;
        while (c->have < start + n + 2)
            if (be_fill(c))
                return -1;
        if (n == 0) {
            pos = start + 2;
            break;
        }
        if (len + n >= cap)
            return -1;
        memcpy(out + len, c->in + start, n);
        len += n;
        pos = start + n + 2;
    }
    memmove(c->in, c->in + pos, c->have - pos);
    c->have -= pos;
    c->in[c->have] = 0;
    out[len] = 0;
    return (long)len;
}

/* Read one reply: its status code (or -1) and its body into out (NUL-ended). */
static int be_read_reply(struct be_conn *c, char *out, size_t cap)
{
    char *end;
    while (!(end = strstr(c->in, "\r\n\r\n")))
        if (be_fill(c))
            return -1;
    int status = 0;
    if (sscanf(c->in, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    size_t body = (size_t)(end - c->in) + 4;
    *end = 0; /* headers are now one string; restored below */
    const char *cl = strcasestr(c->in, "\r\nContent-Length:");
    int chunked = strcasestr(c->in, "\r\nTransfer-Encoding: chunked") != NULL;
    *end = '\r';
    if (chunked)
        return be_chunked(c, body, out, cap) < 0 ? -1 : status;
    if (!cl)
        return -1;
    size_t n = strtoul(cl + 17, NULL, 10);
    if (n >= cap)
        return -1;
    while (c->have < body + n)
        if (be_fill(c))
            return -1;
    memcpy(out, c->in + body, n);
    out[n] = 0;
    memmove(c->in, c->in + body + n, c->have - body - n);
    c->have -= body + n;
    c->in[c->have] = 0;
    return status;
}

/* One POST with a JSON body; 0 when the reply is 200, else -1. */
static int be_post(struct be_conn *c, const char *path, const char *json, char *out, size_t cap)
{
    char req[BE_IO_MAX];
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: etcd\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     path, strlen(json), json);
    if (n < 0 || (size_t)n >= sizeof req || be_write_all(c->fd, req, (size_t)n))
        return -1;
    return be_read_reply(c, out, cap) == 200 ? 0 : -1;
}

static void be_base64(const char *in, char *out, size_t cap)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    CAIRN_ASSERT((n + 2) / 3 * 4 < cap);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (uint32_t)(unsigned char)in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

/* The value of "field" in a flat JSON reply, quoted or not (etcd's gateway
 * writes 64-bit integers as strings); 0 when found. */
static int be_json_field(const char *json, const char *field, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", field);
    const char *p = strstr(json, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    if (*p == '"')
        p++;
    size_t n = strcspn(p, "\",}");
    if (n == 0 || n >= cap)
        return -1;
    memcpy(out, p, n);
    out[n] = 0;
    return 0;
}

enum be_kind { BE_PUT = 0, BE_LOCK_DISTINCT = 1, BE_LOCK_CONTENDED = 2 };

struct be_client {
    pthread_t t;
    int id, kind, run;
    struct be_endpoint ep;
    uint64_t end_ms;
    uint64_t *lat_us;
    size_t n;
    uint64_t errors;
};

/* One acquire+release of `name` under `lease`; 0 when both were answered 200. */
static int be_lock_pair(struct be_conn *c, const char *name, const char *lease)
{
    char b64[128], json[512], reply[BE_IO_MAX], key[256];
    be_base64(name, b64, sizeof b64);
    snprintf(json, sizeof json, "{\"name\":\"%s\",\"lease\":\"%s\"}", b64, lease);
    if (be_post(c, "/v3/lock/lock", json, reply, sizeof reply) ||
        be_json_field(reply, "key", key, sizeof key))
        return -1;
    snprintf(json, sizeof json, "{\"key\":\"%s\"}", key);
    return be_post(c, "/v3/lock/unlock", json, reply, sizeof reply);
}

static void *be_main(void *arg)
{
    struct be_client *b = arg;
    struct be_conn c;
    char json[512], reply[BE_IO_MAX], lease[64] = "", name[64], kb[128], vb[64];
    if (be_connect(&c, &b->ep)) {
        b->errors++;
        return NULL;
    }
    if (b->kind != BE_PUT &&
        (be_post(&c, "/v3/lease/grant", "{\"TTL\":600}", reply, sizeof reply) ||
         be_json_field(reply, "ID", lease, sizeof lease))) {
        b->errors++;
        be_close(&c);
        return NULL;
    }
    be_base64("0123456789abcdef", vb, sizeof vb); /* the 16-byte value */
    snprintf(name, sizeof name, b->kind == BE_LOCK_CONTENDED ? "hot" : "lock-%d", b->id);
    for (uint64_t seq = 0; time_mono_ms() < b->end_ms && b->n < BE_SAMPLES_MAX; seq++) {
        uint64_t t0 = time_mono_ns();
        int rc;
        if (b->kind == BE_PUT) {
            char key[64];
            snprintf(key, sizeof key, "b%d/c%02d/%011" PRIu64, b->run, b->id, seq);
            be_base64(key, kb, sizeof kb);
            snprintf(json, sizeof json, "{\"key\":\"%s\",\"value\":\"%s\"}", kb, vb);
            rc = be_post(&c, "/v3/kv/put", json, reply, sizeof reply);
        } else {
            rc = be_lock_pair(&c, name, lease);
        }
        if (rc) {
            b->errors++;
            be_close(&c); /* the stream may be out of step: start afresh */
            if (be_connect(&c, &b->ep))
                break;
            continue;
        }
        b->lat_us[b->n++] = (time_mono_ns() - t0) / 1000u;
    }
    be_close(&c);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One row: n clients of `kind` for `seconds` against the leader. */
static void be_run(const struct be_endpoint *leader, int kind, int n, uint32_t seconds, int run)
{
    static const char *names[] = {"put", "distinct", "contended"};
    static struct be_client cl[BE_CLIENTS_MAX];
    static uint64_t all[BE_CLIENTS_MAX * 4096];
    uint64_t start = time_mono_ms();
    for (int i = 0; i < n; i++) {
        cl[i] = (struct be_client){.id = i, .kind = kind, .run = run, .ep = *leader};
        cl[i].end_ms = start + seconds * 1000u;
        cl[i].lat_us = malloc(BE_SAMPLES_MAX * sizeof *cl[i].lat_us);
        CAIRN_ASSERT(cl[i].lat_us);
        CAIRN_ASSERT(pthread_create(&cl[i].t, NULL, be_main, &cl[i]) == 0);
    }
    size_t total = 0, kept = 0;
    uint64_t errors = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(cl[i].t, NULL);
        total += cl[i].n;
        errors += cl[i].errors;
        for (size_t k = 0; k < cl[i].n && kept < sizeof all / sizeof all[0]; k++)
            all[kept++] = cl[i].lat_us[k];
        free(cl[i].lat_us);
    }
    double secs = (double)(time_mono_ms() - start) / 1000.0;
    qsort(all, kept, sizeof all[0], cmp_u64);
    uint64_t p50 = kept ? all[kept / 2] : 0, p99 = kept ? all[kept * 99 / 100] : 0;
    printf("| %-9s | %2d | %8.0f | %8.2f | %8.2f | %" PRIu64 " |\n", names[kind], n,
           (double)total / secs, (double)p50 / 1000.0, (double)p99 / 1000.0, errors);
    fflush(stdout);
}

/* The endpoint whose member id is the leader's; -1 when none answers so. */
static int be_find_leader(const struct be_endpoint *eps, int n)
{
    for (int i = 0; i < n; i++) {
        struct be_conn c;
        char reply[BE_IO_MAX], me[32], leader[32];
        if (be_connect(&c, &eps[i]))
            continue;
        int rc = be_post(&c, "/v3/maintenance/status", "{}", reply, sizeof reply);
        be_close(&c);
        if (rc == 0 && be_json_field(reply, "member_id", me, sizeof me) == 0 &&
            be_json_field(reply, "leader", leader, sizeof leader) == 0 && strcmp(me, leader) == 0)
            return i;
    }
    return -1;
}

static int be_parse_endpoints(const char *s, struct be_endpoint *eps)
{
    int n = 0;
    while (*s && n < BE_ENDPOINTS_MAX) {
        size_t len = strcspn(s, ",");
        char one[96];
        if (len >= sizeof one)
            return -1;
        memcpy(one, s, len);
        one[len] = 0;
        char *colon = strrchr(one, ':');
        if (!colon || (size_t)(colon - one) >= sizeof eps[n].host)
            return -1;
        *colon = 0;
        memcpy(eps[n].host, one, (size_t)(colon - one) + 1);
        eps[n].port = (int)strtol(colon + 1, NULL, 10);
        n++;
        s += len + (s[len] == ',');
    }
    return n;
}

int main(int argc, char **argv)
{
    struct be_endpoint eps[BE_ENDPOINTS_MAX];
    int n_eps = 0;
    uint32_t seconds = 5;
    const char *only = "";
    if (argc == 1) { /* as `make bench` runs every bench binary */
        printf("bench_etcd: needs an etcd cluster: run by bench/compare/run.sh "
               "(make bench-compare)\n");
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--endpoints") == 0 && i + 1 < argc)
            n_eps = be_parse_endpoints(argv[++i], eps);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else
            n_eps = -1;
    }
    if (n_eps <= 0) {
        fprintf(stderr, "usage: %s --endpoints H:P[,H:P...] [--seconds S] [--only put|locks]\n",
                argv[0]);
        return 2;
    }
    int l = -1;
    for (int tries = 0; tries < 100 && l < 0; tries++) {
        l = be_find_leader(eps, n_eps);
        if (l < 0)
            usleep(100000);
    }
    if (l < 0) {
        fprintf(stderr, "bench_etcd: no endpoint reports itself leader\n");
        return 1;
    }
    fprintf(stderr, "bench_etcd: leader %s:%d\n", eps[l].host, eps[l].port);
    static const int ns[] = {1, 16, 64};
    int run = (int)(time_wall_ns() / 1000000000u % 100000u);
    printf("| etcd op | clients | ops/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|\n");
    for (int kind = BE_PUT; kind <= BE_LOCK_CONTENDED; kind++) {
        if ((kind == BE_PUT && strcmp(only, "locks") == 0) ||
            (kind != BE_PUT && strcmp(only, "put") == 0))
            continue;
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            be_run(&eps[l], kind, ns[i], seconds, run);
    }
    return 0;
}
