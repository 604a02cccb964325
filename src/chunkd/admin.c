/*
 * admin.c: administration of chunk servers (docs/chunkd.md):
 *   cairn chunk-status --addr HOST:PORT --secret FILE [--json]
 *   cairn chunk-drain --id N [--off] --servers META,... --secret FILE
 *   cairn chunk-nodes --servers META,... --secret FILE [--json]
 * Each prints key=value lines (or one JSON object per line with --json) and
 * exits 0 on success, 1 on failure (message on stderr), 2 on bad usage.
 * Requests for the metadata leader follow NOTLEADER hints.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cairn_errors.h"
#include "chunkd/admin.h"
#include "chunkd/chunkd.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/time.h"
#include "meta/cmd.h"
#include "rpc/rpc.h"
#include "wire/msg_chunk.h"
#include "wire/msg_meta.h"

#define ADMIN_TOTAL_MS 20000u

enum { A_OK = 0, A_FAIL = 1, A_USAGE = 2 };

struct admin {
    struct chunkd_admin_conn c;
    uint64_t id;
    int off, json;
};

int chunkd_admin_add_addr(struct chunkd_admin_conn *a, const char *s, size_t len)
{
    if (len == 0 || len > CAIRN_MEMBER_ADDR_MAX)
        return -1;
    for (size_t i = 0; i < a->n; i++)
        if (strlen(a->addrs[i]) == len && memcmp(a->addrs[i], s, len) == 0)
            return (int)i;
    if (a->n == CAIRN_RPC_ADDRS_MAX)
        return -1;
    memcpy(a->addrs[a->n], s, len);
    a->addrs[a->n][len] = 0;
    return (int)a->n++;
}

int chunkd_admin_parse_list(struct chunkd_admin_conn *a, const char *s)
{
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (chunkd_admin_add_addr(a, s, len) < 0)
            return -1;
        s += len + (end ? 1 : 0);
    }
    return a->n ? 0 : -1;
}

int chunkd_admin_open(struct chunkd_admin_conn *a, const char *secret_path)
{
    int rc = rpc_secret_load(secret_path, &a->secret);
    if (rc) {
        fprintf(stderr, "secret %s: %s\n", secret_path, cairn_strerror(rc));
        return rc;
    }
    uv_loop_init(&a->loop);
    return 0;
}

/* Flags: `addr_flag` is "--addr" or "--servers"; want_id asks for --id. */
static int admin_args(struct admin *a, int argc, char **argv, const char *addr_flag, int want_id)
{
    memset(a, 0, sizeof *a);
    cairn_log_set_level(CAIRN_LOG_WARN);
    const char *secret = NULL;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--json") == 0 || (strcmp(f, "--off") == 0 && want_id)) {
            *(f[2] == 'j' ? &a->json : &a->off) = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "flag %s needs a value\n", f);
            return A_USAGE;
        }
        const char *v = argv[++i];
        char *end;
        int bad = 0;
        if (strcmp(f, addr_flag) == 0)
            bad = chunkd_admin_parse_list(&a->c, v);
        else if (strcmp(f, "--secret") == 0)
            secret = v;
        else if (strcmp(f, "--id") == 0 && want_id)
            bad = (a->id = strtoull(v, &end, 10)) == 0 || *end || a->id >= UINT32_MAX;
        else
            bad = -2;
        if (bad) {
            fprintf(stderr, bad == -2 ? "unknown flag %s\n" : "bad value for %s\n", f);
            return A_USAGE;
        }
    }
    if (!a->c.n || !secret || (want_id && !a->id)) {
        fprintf(stderr, "missing flags: %s, --secret%s are required\n", addr_flag,
                want_id ? ", --id" : "");
        return A_USAGE;
    }
    return chunkd_admin_open(&a->c, secret) ? A_FAIL : A_OK;
}

void chunkd_admin_done(struct chunkd_admin_conn *a)
{
    uv_run(&a->loop, UV_RUN_DEFAULT); /* lets closed clients free themselves */
    uv_loop_close(&a->loop);
    rpc_secret_wipe(&a->secret);
}

int chunkd_admin_call_one(struct chunkd_admin_conn *a, const char *addr, uint16_t type,
                          const struct cairn_buf *req, struct cairn_buf *out)
{
    struct rpc_client *c;
    const char *addrs[1] = {addr};
    struct rpc_client_cfg cfg = {.name = "cairn-admin"};
    int rc = rpc_client_new(&a->loop, addrs, 1, &a->secret, &cfg, &c);
    if (rc)
        return rc;
    buf_reset(out);
    uint16_t rtype = 0;
    rc = rpc_call_sync(c, type, req->data, req->len, CHUNKD_ADMIN_CALL_MS, &rtype, out);
    if (rc == CAIRN_SHUTDOWN || rc == CAIRN_CLOSED)
        rc = CAIRN_ECONNREFUSED;
    rpc_client_close(c);
    return rc;
}

void chunkd_admin_sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A leader-only request: NOTLEADER hints are followed, addresses cycled. */
static int call_leader(struct admin *a, uint16_t type, const struct cairn_buf *req,
                       struct cairn_buf *out)
{
    uint64_t deadline = time_mono_ms() + ADMIN_TOTAL_MS;
    size_t at = 0;
    int rc = CAIRN_ETIMEDOUT;
    while (time_mono_ms() < deadline) {
        rc = chunkd_admin_call_one(&a->c, a->c.addrs[at], type, req, out);
        if (rc == 0 || (rc != CAIRN_NOTLEADER && rc != CAIRN_ETIMEDOUT &&
                        rc != CAIRN_ECONNREFUSED && rc != CAIRN_UNAVAILABLE))
            return rc;
        int hint = rc == CAIRN_NOTLEADER && out->len
                       ? chunkd_admin_add_addr(&a->c, (const char *)out->data, out->len)
                       : -1;
        if (hint >= 0 && (size_t)hint != at) {
            at = (size_t)hint;
            continue;
        }
        at = (at + 1) % a->c.n;
        chunkd_admin_sleep_ms(150);
    }
    return rc;
}

void chunkd_admin_print_error(const char *what, int rc, const struct cairn_buf *msg)
{
    fprintf(stderr, "%s: %s (%s)%s%.*s\n", what, cairn_strerror(rc), cairn_err_name(rc),
            msg->len ? ": " : "", (int)msg->len, (const char *)msg->data);
}

static void print_status(const struct admin *a, const struct wire_chunk_status *s)
{
    const char *f = a->json ? "{\"node\":%" PRIu32 ",\"addr\":\"%.*s\",\"label\":\"%.*s\","
                              "\"registered\":%u,\"leader\":\"%.*s\","
                            : "node=%" PRIu32 " addr=%.*s label=%.*s registered=%u leader=%.*s ";
    printf(f, s->node, (int)s->addr.len, (const char *)s->addr.p, (int)s->label.len,
           (const char *)s->label.p, s->registered, (int)s->leader.len, (const char *)s->leader.p);
    const char *names[] = {"capacity",  "used",       "chunks",       "staged",
                           "cmds_done", "replicated", "scrub_passes", "scrub_bytes",
                           "bad_found", "writes",     "reads"};
    const uint64_t v[] = {s->capacity,  s->used,       s->chunks,       s->staged,
                          s->cmds_done, s->replicated, s->scrub_passes, s->scrub_bytes,
                          s->bad_found, s->writes,     s->reads};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        printf(a->json ? "%s\"%s\":%" PRIu64 : "%s%s=%" PRIu64, i ? (a->json ? "," : " ") : "",
               names[i], v[i]);
    printf(a->json ? "}\n" : "\n");
}

int chunkd_status_main(int argc, char **argv)
{
    struct admin a;
    int code = admin_args(&a, argc, argv, "--addr", 0);
    if (code)
        return code;
    struct cairn_buf req, out;
    buf_init(&req, 0);
    buf_init(&out, 0);
    int rc = chunkd_admin_call_one(&a.c, a.c.addrs[0], WIRE_CHUNK_STATUS, &req, &out);
    struct wire_chunk_status s;
    if (rc == 0)
        rc = wire_chunk_status_decode(out.data, out.len, &s);
    if (rc == 0)
        print_status(&a, &s);
    else
        chunkd_admin_print_error("chunk-status", rc, &out);
    buf_free(&req);
    buf_free(&out);
    chunkd_admin_done(&a.c);
    return rc ? A_FAIL : A_OK;
}

int chunkd_drain_main(int argc, char **argv)
{
    struct admin a;
    int code = admin_args(&a, argc, argv, "--servers", 1);
    if (code)
        return code;
    struct cairn_buf req, out;
    buf_init(&req, 0);
    buf_init(&out, 0);
    struct wire_chunk_drain m = {(uint32_t)a.id, (uint8_t)!a.off};
    int rc = wire_chunk_drain_encode(&req, &m);
    if (rc == 0)
        rc = call_leader(&a, WIRE_CHUNK_DRAIN, &req, &out);
    if (rc == 0)
        printf("ok node=%" PRIu64 " drain=%s\n", a.id, a.off ? "off" : "on");
    else
        chunkd_admin_print_error("chunk-drain", rc, &out);
    buf_free(&req);
    buf_free(&out);
    chunkd_admin_done(&a.c);
    return rc ? A_FAIL : A_OK;
}

static const char *state_name(uint8_t s)
{
    static const char *const names[] = {"?", "up", "suspect", "down", "draining"};
    return s <= META_NODE_DRAINING ? names[s] : "?";
}

/* Print one NODES reply page; *after becomes the last id; 1 if more follow. */
static int print_nodes(const struct admin *a, const uint8_t *p, size_t len, uint32_t *after)
{
    struct wire_dec d;
    wire_dec_init(&d, p, len);
    int st = (int32_t)wire_get_u32(&d);
    uint32_t n = st ? 0 : wire_get_u32(&d);
    for (uint32_t i = 0; i < n && !d.err; i++) {
        uint32_t id = wire_get_u32(&d);
        uint8_t state = wire_get_u8(&d);
        uint64_t cap = wire_get_u64(&d), used = wire_get_u64(&d);
        struct wire_bytes addr = wire_get_str16(&d, CAIRN_NODE_ADDR_MAX);
        struct wire_bytes label = wire_get_str16(&d, CAIRN_NODE_LABEL_MAX);
        if (d.err)
            break;
        printf(a->json ? "{\"id\":%" PRIu32
                         ",\"state\":\"%s\",\"addr\":\"%.*s\",\"label\":\"%.*s\","
                         "\"capacity\":%" PRIu64 ",\"used\":%" PRIu64 "}\n"
                       : "node id=%" PRIu32 " state=%s addr=%.*s label=%.*s capacity=%" PRIu64
                         " used=%" PRIu64 "\n",
               id, state_name(state), (int)addr.len, (const char *)addr.p, (int)label.len,
               (const char *)label.p, cap, used);
        *after = id;
    }
    uint8_t more = st ? 0 : wire_get_u8(&d);
    if (st)
        return st;
    return wire_dec_finish(&d) ? CAIRN_BADMSG : more;
}

int chunkd_nodes_main(int argc, char **argv)
{
    struct admin a;
    int code = admin_args(&a, argc, argv, "--servers", 0);
    if (code)
        return code;
    struct cairn_buf q, req, out;
    buf_init(&q, 0);
    buf_init(&req, 0);
    buf_init(&out, 0);
    uint32_t after = 0;
    int rc;
    do {
        struct meta_hdr h;
        memset(&h, 0, sizeof h);
        buf_reset(&q);
        buf_reset(&req);
        rc = meta_cmd_nodes(&q, &h, after, CAIRN_NODES_QUERY_MAX);
        if (rc == 0)
            rc = wire_meta_bytes_encode(&req, q.data, q.len);
        if (rc == 0)
            rc = call_leader(&a, WIRE_META_QUERY, &req, &out);
        struct wire_bytes r;
        if (rc == 0)
            rc = wire_meta_bytes_decode(out.data, out.len, &r);
        if (rc == 0)
            rc = print_nodes(&a, r.p, r.len, &after);
    } while (rc == 1);
    if (rc)
        chunkd_admin_print_error("chunk-nodes", rc, &out);
    buf_free(&q);
    buf_free(&req);
    buf_free(&out);
    chunkd_admin_done(&a.c);
    return rc ? A_FAIL : A_OK;
}
