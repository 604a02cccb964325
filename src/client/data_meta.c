/* data_meta.c: what the data path asks of the metadata group (node table,
 * chunk map, attributes), the connections to chunk servers, and the loop
 * turn every blocking call of file.h is made of (see data_int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "client/data_int.h"
#include "common/assert.h"
#include "meta/cmd.h"
#include "wire/codec.h"

/* --- the loop turn ------------------------------------------------------------ */

uint64_t dc_now_ms(const struct dataclient *dc) { return uv_now(dc->loop); }

void dc_wake_at(struct dataclient *dc, uint64_t ms)
{
    if (dc->wake_ms == 0 || ms < dc->wake_ms)
        dc->wake_ms = ms;
}

static void dc_on_timer(uv_timer_t *t) { (void)t; }

/* One turn of the loop. The timer bounds the sleep: the metaclient's
 * keep-alive timer alone could leave it asleep for seconds while a pump
 * waits for a retry time or a write's age. */
void dc_wait_once(struct dataclient *dc)
{
    uv_update_time(dc->loop);
    uint64_t now = dc_now_ms(dc);
    uint64_t sleep = DC_TURN_MS;
    if (dc->wake_ms)
        sleep = dc->wake_ms > now ? CAIRN_MIN(dc->wake_ms - now, sleep) : 0;
    dc->wake_ms = 0;
    uv_timer_start(dc->timer, dc_on_timer, sleep, 0);
    uv_run(dc->loop, UV_RUN_ONCE);
    uv_timer_stop(dc->timer);
}

/* --- metadata commands ------------------------------------------------------------ */

void dc_hdr(const struct dataclient *dc, struct meta_hdr *h)
{
    memset(h, 0, sizeof *h);
    h->cred.uid = dc->uid;
    h->cred.gid = dc->gid;
}

/* Run a READ-class command built in dc->cmd: the reply body (after the
 * status) is left in dc->reply from offset 4. */
static int dc_query(struct dataclient *dc)
{
    buf_reset(&dc->reply);
    int rc = metaclient_query_sync(dc->mc, dc->cmd.data, dc->cmd.len, &dc->reply, NULL);
    if (rc == 0 && dc->reply.len < 4)
        rc = CAIRN_TRUNCATED;
    return rc;
}

int dc_getattr(struct dataclient *dc, uint64_t ino, struct meta_attr *out)
{
    struct meta_hdr h;
    dc_hdr(dc, &h);
    buf_reset(&dc->cmd);
    int rc = meta_cmd_getattr(&dc->cmd, &h, ino);
    if (rc == 0)
        rc = dc_query(dc);
    if (rc == 0)
        rc = meta_reply_attr(dc->reply.data, dc->reply.len, out);
    return rc;
}

int dc_chunks_query(struct dataclient *dc, uint64_t ino, uint32_t first, uint32_t count,
                    struct datafile_chunk *out, uint32_t *n, uint64_t *size)
{
    struct meta_hdr h;
    dc_hdr(dc, &h);
    buf_reset(&dc->cmd);
    *n = 0;
    dc->st.loc_refreshes++;
    int rc = meta_cmd_chunks(&dc->cmd, &h, ino, first, count);
    if (rc == 0)
        rc = dc_query(dc);
    if (rc)
        return rc;
    struct wire_dec d;
    wire_dec_init(&d, dc->reply.data + 4, dc->reply.len - 4);
    uint32_t got = wire_get_u32(&d);
    if (got > count)
        return CAIRN_BADMSG;
    for (uint32_t i = 0; i < got && !d.err; i++) {
        struct datafile_chunk *c = &out[i];
        memset(c, 0, sizeof *c);
        c->id = wire_get_u64(&d);
        c->version = wire_get_u64(&d);
        c->length = wire_get_u32(&d);
        c->n_replicas = wire_get_u8(&d);
        if (c->n_replicas > CAIRN_GOAL_MAX || c->length > CAIRN_CHUNK_SIZE)
            return CAIRN_BADMSG;
        for (uint8_t k = 0; k < c->n_replicas; k++)
            c->replicas[k] = wire_get_u32(&d);
    }
    uint64_t fsize = wire_get_u64(&d);
    rc = wire_dec_finish(&d);
    if (rc == 0)
        *n = got;
    if (rc == 0 && size)
        *size = fsize;
    return rc;
}

int dataclient_chunk_info(struct dataclient *dc, uint64_t ino, uint32_t index,
                          struct datafile_chunk *out)
{
    uint32_t n;
    int rc = dc_chunks_query(dc, ino, index, 1, out, &n, NULL);
    if (rc == 0 && n == 0)
        memset(out, 0, sizeof *out);
    return rc;
}

/* --- the chunk-map cache of a handle ----------------------------------------------- */

/* Make room for index in f->locs (new entries invalid). */
static int loc_grow(struct datafile *f, uint32_t index)
{
    if (index < f->n_locs)
        return 0;
    uint32_t n = CAIRN_MAX(index + 1, f->n_locs * 2);
    n = CAIRN_MAX(n, 4u);
    struct dc_loc *v = realloc(f->locs, (size_t)n * sizeof *v);
    if (!v)
        return CAIRN_ENOMEM;
    memset(v + f->n_locs, 0, (size_t)(n - f->n_locs) * sizeof *v);
    f->locs = v;
    f->n_locs = n;
    return 0;
}

int dc_loc_set(struct datafile *f, uint32_t index, const struct datafile_chunk *c)
{
    int rc = loc_grow(f, index);
    if (rc)
        return rc;
    struct dc_loc *l = &f->locs[index];
    memset(l, 0, sizeof *l);
    l->valid = true;
    l->fsize = UINT64_MAX;
    l->c = *c;
    return 0;
}

/* Fetch the map around index: a batch from index on (a read moves forward),
 * entries past the map's end are holes. A refresh asks for index alone. */
static int loc_fetch(struct datafile *f, uint32_t index, uint32_t count)
{
    const uint32_t max_index = (uint32_t)(CAIRN_FILE_SIZE_MAX / CAIRN_CHUNK_SIZE);
    count = CAIRN_MIN(count, max_index - index);
    struct datafile_chunk *v = malloc((size_t)count * sizeof *v);
    if (!v)
        return CAIRN_ENOMEM;
    uint32_t n = 0;
    uint64_t size = 0;
    int rc = dc_chunks_query(f->dc, f->ino, index, count, v, &n, &size);
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        struct datafile_chunk hole = {0};
        rc = dc_loc_set(f, index + i, i < n ? &v[i] : &hole);
        if (rc == 0)
            f->locs[index + i].fsize = size;
    }
    free(v);
    return rc;
}

void dc_locs_unbound(struct datafile *f)
{
    for (uint32_t i = 0; i < f->n_locs; i++)
        f->locs[i].fsize = UINT64_MAX;
}

struct dc_loc *dc_loc_get(struct datafile *f, uint32_t index, bool refresh, int *rc)
{
    *rc = 0;
    if (refresh || index >= f->n_locs || !f->locs[index].valid) {
        *rc = loc_fetch(f, index, refresh ? 1u : DC_LOC_BATCH);
        if (*rc)
            return NULL;
    }
    return &f->locs[index];
}

/* --- the node table and connections ------------------------------------------------ */

/* Insert or update one node of a NODES reply; a changed address closes the
 * old connection (the server moved). */
static int node_upsert(struct dataclient *dc, uint32_t id, uint8_t state, struct wire_bytes addr)
{
    if (addr.len == 0 || addr.len > CAIRN_NODE_ADDR_MAX)
        return CAIRN_BADMSG;
    struct dc_node *n = hmap_get(&dc->nodes, id);
    if (!n) {
        n = calloc(1, sizeof *n);
        if (!n || hmap_put(&dc->nodes, id, n)) {
            free(n);
            return CAIRN_ENOMEM;
        }
        n->id = id;
    }
    n->state = state;
    if (strlen(n->addr) != addr.len || memcmp(n->addr, addr.p, addr.len) != 0) {
        if (n->rpc)
            rpc_client_close(n->rpc);
        n->rpc = NULL;
        n->fail_ms = 0;
        memcpy(n->addr, addr.p, addr.len);
        n->addr[addr.len] = '\0';
    }
    return 0;
}

/* One page of META_NODES; *after moves to the last id, *more says if a next
 * page exists. */
static int nodes_page(struct dataclient *dc, uint32_t *after, int *more)
{
    struct meta_hdr h;
    dc_hdr(dc, &h);
    buf_reset(&dc->cmd);
    int rc = meta_cmd_nodes(&dc->cmd, &h, *after, CAIRN_NODES_QUERY_MAX);
    if (rc == 0)
        rc = dc_query(dc);
    if (rc)
        return rc;
    struct wire_dec d;
    wire_dec_init(&d, dc->reply.data + 4, dc->reply.len - 4);
    uint32_t n = wire_get_u32(&d);
    for (uint32_t i = 0; i < n && !d.err && rc == 0; i++) {
        uint32_t id = wire_get_u32(&d);
        uint8_t state = wire_get_u8(&d);
        wire_get_u64(&d); /* capacity */
        wire_get_u64(&d); /* used */
        struct wire_bytes addr = wire_get_str16(&d, CAIRN_NODE_ADDR_MAX);
        wire_get_str16(&d, CAIRN_NODE_LABEL_MAX);
        if (!d.err)
            rc = node_upsert(dc, id, state, addr);
        *after = id;
    }
    *more = wire_get_u8(&d);
    if (rc == 0)
        rc = wire_dec_finish(&d);
    return rc;
}

static int nodes_fetch(struct dataclient *dc)
{
    uint32_t after = 0;
    int more = 1, rc = 0;
    for (int pages = 0; more && rc == 0 && pages <= (int)(CAIRN_NODES_MAX / CAIRN_NODES_QUERY_MAX);
         pages++)
        rc = nodes_page(dc, &after, &more);
    return rc;
}

struct dc_node *dc_node_get(struct dataclient *dc, uint32_t id)
{
    struct dc_node *n = hmap_get(&dc->nodes, id);
    if (n)
        return n;
    if (nodes_fetch(dc) != 0)
        return NULL;
    return hmap_get(&dc->nodes, id);
}

int dataclient_node_addr(struct dataclient *dc, uint32_t node, char *out, size_t len)
{
    struct dc_node *n = dc_node_get(dc, node);
    if (!n)
        return CAIRN_ENOENT;
    if (strlen(n->addr) >= len)
        return CAIRN_ERANGE;
    snprintf(out, len, "%s", n->addr);
    return 0;
}

struct rpc_client *dc_node_rpc(struct dataclient *dc, struct dc_node *n)
{
    if (n->rpc)
        return n->rpc;
    const char *addrs[] = {n->addr};
    /* A short reconnect backoff: a restarted chunk server is used again
     * within a fraction of a second. */
    struct rpc_client_cfg cfg = {
        .name = dc->name,
        .seed = prng_next(&dc->rng) | 1u,
        .limits = {.backoff_min_ms = 20, .backoff_max_ms = 500, .auth_timeout_ms = 2000},
    };
    if (rpc_client_new(dc->loop, addrs, 1, &dc->secret, &cfg, &n->rpc) != 0)
        n->rpc = NULL;
    return n->rpc;
}

int dc_node_suspect(struct dataclient *dc, struct dc_node *n)
{
    if (n->fail_ms && dc_now_ms(dc) - n->fail_ms < DC_NODE_SUSPECT_MS)
        return 1;
    if (!n->rpc || rpc_client_ready(n->rpc))
        return 0;
    struct rpc_client_stats st;
    rpc_client_get_stats(n->rpc, &st);
    return st.last_error != 0;
}

void dc_node_failed(struct dataclient *dc, struct dc_node *n, int status)
{
    if (status == CAIRN_ETIMEDOUT || status == CAIRN_CLOSED || status == CAIRN_ECONNREFUSED ||
        status == CAIRN_ECONNRESET || status == CAIRN_UNAVAILABLE)
        n->fail_ms = CAIRN_MAX(dc_now_ms(dc), (uint64_t)1);
}

void dc_nodes_free(struct dataclient *dc)
{
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&dc->nodes, &it, &k, &v);) {
        struct dc_node *n = v;
        if (n->rpc)
            rpc_client_close(n->rpc);
        free(n);
    }
    hmap_free(&dc->nodes);
}
