/* cops.c: blocking namespace operations for the cluster tests. */
#include "cops.h"

#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/cmd.h"
#include "wire/codec.h"

struct metaclient *cops_client(struct cluster *c, uint32_t sessions, const char *name,
                               uint64_t seed)
{
    const char *addrs[CLUSTER_NODES_MAX];
    size_t n = cluster_addrs(c, addrs, CLUSTER_NODES_MAX);
    struct metaclient_cfg cfg = {
        .addrs = addrs,
        .n_addrs = n,
        .secret = &c->secret,
        .name = name,
        .sessions = sessions,
        .attempt_timeout_ms = 1000,
        .op_timeout_ms = 30000,
        .seed = seed | 1u,
    };
    struct metaclient *mc = NULL;
    int rc = metaclient_new(c->loop, &cfg, &mc);
    CAIRN_ASSERTF(rc == 0, "metaclient_new: %s", cairn_err_name(rc));
    return mc;
}

/* Run cmd (mutation or read by its class) and decode an ATTR reply. */
static int run_attr(struct metaclient *mc, struct cairn_buf *cmd, int query, struct meta_attr *out)
{
    struct cairn_buf reply;
    buf_init(&reply, 0);
    int rc = query ? metaclient_query_sync(mc, cmd->data, cmd->len, &reply, NULL)
                   : metaclient_mutate_sync(mc, cmd->data, cmd->len, &reply, NULL);
    if (rc == 0 && out)
        rc = meta_reply_attr(reply.data, reply.len, out);
    buf_free(&reply);
    buf_free(cmd);
    return rc;
}

int cops_create(struct metaclient *mc, uint64_t parent, const char *name, struct meta_attr *out)
{
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    struct meta_hdr h = {0};
    int rc = meta_cmd_create(&cmd, &h, parent, name, 0644, 1);
    return rc ? (buf_free(&cmd), rc) : run_attr(mc, &cmd, 0, out);
}

int cops_mkdir(struct metaclient *mc, uint64_t parent, const char *name, struct meta_attr *out)
{
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    struct meta_hdr h = {0};
    int rc = meta_cmd_mkdir(&cmd, &h, parent, name, 0755);
    return rc ? (buf_free(&cmd), rc) : run_attr(mc, &cmd, 0, out);
}

int cops_lookup(struct metaclient *mc, uint64_t parent, const char *name, struct meta_attr *out)
{
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    struct meta_hdr h = {0};
    int rc = meta_cmd_lookup(&cmd, &h, parent, name);
    return rc ? (buf_free(&cmd), rc) : run_attr(mc, &cmd, 1, out);
}

int cops_statfs_files(struct metaclient *mc, uint64_t *files)
{
    struct cairn_buf cmd, reply;
    buf_init(&cmd, 0);
    buf_init(&reply, 0);
    struct meta_hdr h = {0};
    int rc = meta_cmd_statfs(&cmd, &h);
    if (rc == 0)
        rc = metaclient_query_sync(mc, cmd.data, cmd.len, &reply, NULL);
    if (rc == 0) {
        struct wire_dec d;
        wire_dec_init(&d, reply.data + 4, reply.len - 4);
        *files = wire_get_u64(&d);
        rc = d.err;
    }
    buf_free(&cmd);
    buf_free(&reply);
    return rc;
}

static int list_push(struct cops_list *l, const struct cops_entry *e)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        struct cops_entry *p = realloc(l->e, cap * sizeof *p);
        if (!p)
            return CAIRN_ENOMEM;
        l->e = p;
        l->cap = cap;
    }
    l->e[l->n++] = *e;
    return 0;
}

/* One READDIR page: entries appended, *cookie advanced, *eof set. */
static int list_page(const uint8_t *p, size_t len, struct cops_list *out, uint64_t *cookie,
                     int *eof)
{
    struct wire_dec d;
    wire_dec_init(&d, p + 4, len - 4);
    uint32_t n = wire_get_u32(&d);
    for (uint32_t i = 0; i < n && !d.err; i++) {
        struct cops_entry e;
        *cookie = wire_get_u64(&d);
        e.ino = wire_get_u64(&d);
        e.type = wire_get_u8(&d);
        uint8_t name_len = wire_get_u8(&d);
        const uint8_t *name = wire_get_raw(&d, name_len);
        if (d.err)
            break;
        memcpy(e.name, name, name_len);
        e.name[name_len] = '\0';
        if (strcmp(e.name, ".") == 0 || strcmp(e.name, "..") == 0)
            continue;
        if (list_push(out, &e) != 0)
            return CAIRN_ENOMEM;
    }
    *eof = wire_get_u8(&d);
    return wire_dec_finish(&d);
}

int cops_list_dir(struct metaclient *mc, uint64_t ino, struct cops_list *out)
{
    memset(out, 0, sizeof *out);
    struct cairn_buf cmd, reply;
    buf_init(&cmd, 0);
    buf_init(&reply, 0);
    uint64_t cookie = 0;
    int eof = 0, rc = 0;
    while (rc == 0 && !eof) {
        struct meta_hdr h = {0};
        buf_reset(&cmd);
        buf_reset(&reply);
        rc = meta_cmd_readdir(&cmd, &h, ino, cookie, CAIRN_READDIR_MAX);
        if (rc == 0)
            rc = metaclient_query_sync(mc, cmd.data, cmd.len, &reply, NULL);
        if (rc == 0)
            rc = list_page(reply.data, reply.len, out, &cookie, &eof);
    }
    buf_free(&cmd);
    buf_free(&reply);
    return rc;
}

void cops_list_free(struct cops_list *l)
{
    free(l->e);
    memset(l, 0, sizeof *l);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct cops_entry *)a)->name, ((const struct cops_entry *)b)->name);
}

void cops_list_sort(struct cops_list *l)
{
    if (l->n)
        qsort(l->e, l->n, sizeof *l->e, cmp_entry);
}
