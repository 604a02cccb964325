/*
 * api_info.c: inspection calls of libcairn (include/cairn.h): the metadata
 * servers' status (WIRE_META_STATUS to each of them, not only the leader),
 * the chunk-server registry (META_NODES) and a file's chunk map
 * (META_CHUNKS). They serve `cairn status`, `cairn fsck` and tools.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn_errors.h"
#include "client/api_int.h"
#include "wire/codec.h"
#include "wire/msg_meta.h"

/* One status call's deadline: a dead member costs this much of a listing. */
#define API_STATUS_CALL_MS 1500u

static void copy_bytes(char *dst, size_t cap, struct wire_bytes b)
{
    size_t n = b.len < cap - 1 ? b.len : cap - 1;
    if (n)
        memcpy(dst, b.p, n);
    dst[n] = 0;
}

/* META_STATUS to one address on the metaclient's loop. */
static int status_one(struct cairn *c, const char *addr, struct cairn_buf *out,
                      struct wire_meta_status *s)
{
    struct rpc_client *rpc;
    const char *addrs[1] = {addr};
    struct rpc_client_cfg cfg = {.name = c->name};
    int rc = rpc_client_new(metaclient_loop(c->mc), addrs, 1, &c->secret, &cfg, &rpc);
    if (rc)
        return rc;
    buf_reset(out);
    uint16_t type = 0;
    rc = rpc_call_sync(rpc, WIRE_META_STATUS, NULL, 0, API_STATUS_CALL_MS, &type, out);
    /* Closed clients are freed by the next turn of the loop (any call). */
    rpc_client_close(rpc);
    return rc ? rc : wire_meta_status_decode(out->data, out->len, s);
}

static size_t addr_add(char (*list)[CAIRN_MEMBER_ADDR_MAX + 1], size_t n, const char *a, size_t len)
{
    if (len == 0 || len > CAIRN_MEMBER_ADDR_MAX || n == CAIRN_RPC_ADDRS_MAX)
        return n;
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && memcmp(list[i], a, len) == 0)
            return n;
    memcpy(list[n], a, len);
    list[n][len] = 0;
    return n + 1;
}

int cairn_members(struct cairn *c, struct cairn_member *out, size_t max)
{
    char list[CAIRN_RPC_ADDRS_MAX][CAIRN_MEMBER_ADDR_MAX + 1];
    struct cairn_buf reply;
    buf_init(&reply, 0);
    pthread_mutex_lock(&c->mu);
    size_t n = 0, got = 0;
    for (size_t i = 0; i < c->n_addrs; i++)
        n = addr_add(list, n, c->addrs[i], strlen(c->addrs[i]));
    /* The list grows with the members each server reports. */
    for (size_t i = 0; i < n && got < max; i++) {
        struct wire_meta_status s;
        struct cairn_member *m = &out[got++];
        memset(m, 0, sizeof *m);
        memcpy(m->addr, list[i], sizeof m->addr);
        if (status_one(c, list[i], &reply, &s) != 0)
            continue;
        m->reachable = 1;
        m->id = s.id;
        m->role = s.role;
        m->term = s.term;
        m->leader = s.leader;
        m->commit = s.commit;
        m->applied = s.applied;
        for (uint32_t k = 0; k < s.n_members; k++) {
            if (s.members[k].id == s.id)
                m->voter = s.members[k].voter;
            n = addr_add(list, n, (const char *)s.members[k].addr.p, s.members[k].addr.len);
        }
    }
    pthread_mutex_unlock(&c->mu);
    buf_free(&reply);
    return (int)got;
}

/* One NODES page after node id `after`; *more set when another follows. */
static int nodes_page(struct cairn *c, uint32_t after, struct cairn_node *out, size_t max,
                      size_t *got, uint32_t *total, uint32_t *last, int *more)
{
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    int rc = meta_cmd_nodes(&c->cmd, &h, after, CAIRN_NODES_QUERY_MAX);
    if (rc == 0)
        rc = api_query(c);
    if (rc)
        return rc;
    struct wire_dec d;
    wire_dec_init(&d, c->reply.data + 4, c->reply.len - 4);
    uint32_t n = wire_get_u32(&d);
    for (uint32_t i = 0; i < n && !d.err; i++) {
        struct cairn_node nd = {0};
        nd.id = wire_get_u32(&d);
        nd.state = wire_get_u8(&d);
        nd.capacity = wire_get_u64(&d);
        nd.used = wire_get_u64(&d);
        copy_bytes(nd.addr, sizeof nd.addr, wire_get_str16(&d, CAIRN_NODE_ADDR_MAX));
        copy_bytes(nd.label, sizeof nd.label, wire_get_str16(&d, CAIRN_NODE_LABEL_MAX));
        if (*got < max)
            out[(*got)++] = nd;
        (*total)++;
        *last = nd.id;
    }
    *more = wire_get_u8(&d) != 0;
    rc = wire_dec_finish(&d);
    /* A page that claims more but names nobody would loop for ever. */
    return rc ? rc : (*more && n == 0) ? CAIRN_BADMSG : 0;
}

int cairn_nodes(struct cairn *c, struct cairn_node *out, size_t max)
{
    size_t got = 0;
    uint32_t total = 0, last = 0;
    int more = 1, rc = 0;
    pthread_mutex_lock(&c->mu);
    while (more && rc == 0)
        rc = nodes_page(c, last, out, max, &got, &total, &last, &more);
    pthread_mutex_unlock(&c->mu);
    return rc ? api_errno(rc) : (int)total;
}

static int chunks_decode(struct cairn *c, struct cairn_chunk *out, size_t max, size_t *got)
{
    struct wire_dec d;
    wire_dec_init(&d, c->reply.data + 4, c->reply.len - 4);
    uint32_t n = wire_get_u32(&d);
    if (n > max)
        return CAIRN_BADMSG;
    for (uint32_t i = 0; i < n && !d.err; i++) {
        struct cairn_chunk *k = &out[i];
        memset(k, 0, sizeof *k);
        k->id = wire_get_u64(&d);
        k->version = wire_get_u64(&d);
        k->length = wire_get_u32(&d);
        k->n_replicas = wire_get_u8(&d);
        if (k->n_replicas > CAIRN_GOAL_MAX)
            return CAIRN_BADMSG;
        for (uint32_t r = 0; r < k->n_replicas; r++)
            k->replicas[r] = wire_get_u32(&d);
    }
    wire_get_u64(&d); /* the file's size */
    *got = n;
    return wire_dec_finish(&d);
}

int cairn_file_chunks(struct cairn *c, const char *path, uint32_t first, struct cairn_chunk *out,
                      size_t max)
{
    if (max == 0)
        return 0;
    uint32_t count = max > CAIRN_CHUNKS_QUERY_MAX ? CAIRN_CHUNKS_QUERY_MAX : (uint32_t)max;
    size_t got = 0;
    pthread_mutex_lock(&c->mu);
    struct meta_attr a;
    int rc = api_resolve(c, path, 1, &a);
    if (rc == 0 && !S_ISREG(a.mode))
        rc = S_ISDIR(a.mode) ? CAIRN_EISDIR : CAIRN_EINVAL;
    if (rc == 0) {
        struct meta_hdr h;
        api_hdr(c, &h);
        buf_reset(&c->cmd);
        rc = meta_cmd_chunks(&c->cmd, &h, a.ino, first, count);
    }
    if (rc == 0)
        rc = api_query(c);
    if (rc == 0)
        rc = chunks_decode(c, out, count, &got);
    pthread_mutex_unlock(&c->mu);
    return rc ? api_errno(rc) : (int)got;
}
