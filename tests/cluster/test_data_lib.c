/* test_data_lib.c: the shared part of the data-path cluster tests (see
 * test_data.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/hashmap.h"
#include "common/time.h"
#include "cops.h"
#include "meta/cmd.h"
#include "wire/msg_chunk.h"
#include "test.h"
#include "test_data.h"

/* Chunk servers silent this long are down: short, so re-replication and
 * placement react within a test's time. */
static const char *const dt_meta_args[] = {"--chunk-dead-ms", "2000", NULL};

void dt_start(struct dt *t, const struct dt_opts *o)
{
    struct cluster_opts co = {.n = 3, .seed = test_seed(), .meta_args = dt_meta_args};
    CHECK_OK(cluster_start(&t->c, test_tmpdir(), &co, NULL));
    for (uint32_t i = 0; i < o->chunks; i++) {
        struct cluster_chunk_opts copt = o->copt;
        if (i + 1 == o->chunks && o->last_capacity)
            copt.capacity = o->last_capacity;
        int rc = cluster_chunk_add(&t->c, &copt, 20000);
        CHECKF(rc >= 0, "chunk server %u: %s", i + 1, cairn_err_name(rc));
    }
    t->mc = cops_client(&t->c, 4, "data-test", test_seed() + 7);
    struct dataclient_cfg cfg = {
        .mc = t->mc,
        .secret = &t->c.secret,
        .name = "data-test",
        .io_timeout_ms = o->io_timeout_ms ? o->io_timeout_ms : 3000,
        .write_deadline_ms = o->write_deadline_ms,
        .seed = test_seed() | 1u,
    };
    CHECK_OK(dataclient_new(&cfg, &t->dc));
}

struct dataclient *dt_dataclient(struct dt *t, uint32_t io_timeout_ms)
{
    struct dataclient_cfg cfg = {
        .mc = t->mc,
        .secret = &t->c.secret,
        .name = "data-test-2",
        .io_timeout_ms = io_timeout_ms ? io_timeout_ms : 3000,
        .seed = test_seed() + 11,
    };
    struct dataclient *dc = NULL;
    CHECK_OK(dataclient_new(&cfg, &dc));
    return dc;
}

void dt_stop(struct dt *t)
{
    dataclient_close(t->dc);
    metaclient_close(t->mc);
    cluster_stop(&t->c);
}

uint64_t dt_create(struct dt *t, const char *name, uint8_t goal)
{
    struct meta_attr a;
    CHECK_OK(cops_create(t->mc, META_ROOT_INO, name, &a));
    if (goal) {
        struct cairn_buf cmd;
        buf_init(&cmd, 0);
        struct meta_hdr h = {0};
        struct meta_attr set = {.goal = goal};
        CHECK_OK(meta_cmd_setattr(&cmd, &h, a.ino, META_SET_GOAL, &set));
        CHECK_OK(metaclient_mutate_sync(t->mc, cmd.data, cmd.len, NULL, NULL));
        buf_free(&cmd);
    }
    return a.ino;
}

void dt_pattern(uint64_t key, uint64_t off, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint64_t at = off + i;
        uint64_t word = hash_u64(key * 0x9e3779b97f4a7c15ull ^ (at / 8));
        for (uint64_t b = at % 8; b < 8 && i < n; b++, i++)
            p[i] = (uint8_t)(word >> (8 * b));
    }
}

int dt_write(struct dt *t, uint64_t ino, uint64_t key, uint64_t off, uint64_t n, size_t piece)
{
    struct datafile *f;
    CHECK_OK(datafile_open(t->dc, ino, DATAFILE_READ | DATAFILE_WRITE, &f));
    uint8_t *buf = malloc(piece);
    CHECK(buf);
    for (uint64_t done = 0; done < n;) {
        size_t len = (size_t)CAIRN_MIN((uint64_t)piece, n - done);
        dt_pattern(key, off + done, buf, len);
        int64_t w = datafile_pwrite(f, buf, len, off + done);
        CHECKF(w == (int64_t)len, "pwrite at %" PRIu64 ": %" PRId64 " (%s)", off + done, w,
               cairn_err_name((int)w));
        done += len;
    }
    free(buf);
    return datafile_close(f);
}

void dt_expect_span(void *arg, uint64_t off, uint8_t *p, size_t n)
{
    const struct dt_span *s = arg;
    memset(p, 0, n);
    uint64_t lo = CAIRN_MAX(off, s->off), hi = CAIRN_MIN(off + n, s->off + s->len);
    if (lo < hi)
        dt_pattern(s->key, lo, p + (lo - off), (size_t)(hi - lo));
}

void dt_expect_spans(void *arg, uint64_t off, uint8_t *p, size_t n)
{
    const struct dt_spans *v = arg;
    memset(p, 0, n);
    for (size_t k = 0; k < v->n; k++) {
        const struct dt_span *s = &v->s[k];
        uint64_t lo = CAIRN_MAX(off, s->off), hi = CAIRN_MIN(off + n, s->off + s->len);
        if (lo < hi)
            dt_pattern(s->key, lo, p + (lo - off), (size_t)(hi - lo));
    }
}

#define DT_READ_PIECE (4u * 1024u * 1024u)

uint64_t dt_check(struct dt *t, struct dataclient *dc, uint64_t ino, uint64_t size,
                  dt_expect_fn expect, void *arg)
{
    struct datafile *f;
    CHECK_OK(datafile_open(dc ? dc : t->dc, ino, DATAFILE_READ, &f));
    CHECK_EQ_U64(datafile_size(f), size);
    uint8_t *got = malloc(DT_READ_PIECE), *want = malloc(DT_READ_PIECE);
    CHECK(got && want);
    uint64_t bad = 0;
    for (uint64_t off = 0; off < size && !bad; off += DT_READ_PIECE) {
        size_t n = (size_t)CAIRN_MIN((uint64_t)DT_READ_PIECE, size - off);
        int64_t r = datafile_pread(f, got, n, off);
        CHECKF(r == (int64_t)n, "pread at %" PRIu64 ": %" PRId64 " (%s)", off, r,
               r < 0 ? cairn_err_name((int)r) : "short");
        expect(arg, off, want, n);
        for (size_t i = 0; i < n && !bad; i++)
            if (got[i] != want[i])
                bad = off + i + 1;
    }
    /* Past the end: nothing. */
    CHECK_EQ(datafile_pread(f, got, 16, size), 0);
    free(got);
    free(want);
    CHECK_OK(datafile_close(f));
    return bad;
}

struct datafile_chunk dt_chunk(struct dt *t, uint64_t ino, uint32_t index)
{
    struct datafile_chunk c;
    CHECK_OK(dataclient_chunk_info(t->dc, ino, index, &c));
    return c;
}

uint32_t dt_slot(struct dt *t, uint32_t node)
{
    int s = cluster_chunk_slot(&t->c, node);
    CHECKF(s >= 0, "node %u is not one of the test's chunk servers", node);
    return (uint32_t)s;
}

/* 1 if every replica of c is a running chunk server other than not_node. */
static int replicas_ok(struct dt *t, const struct datafile_chunk *c, uint8_t goal,
                       uint32_t not_node)
{
    if (c->n_replicas != goal)
        return 0;
    for (uint8_t i = 0; i < c->n_replicas; i++) {
        int s = cluster_chunk_slot(&t->c, c->replicas[i]);
        if (c->replicas[i] == not_node || s < 0 || t->c.chunks[s].pid <= 0)
            return 0;
    }
    return 1;
}

struct datafile_chunk dt_wait_goal(struct dt *t, uint64_t ino, uint32_t index, uint8_t goal,
                                   uint32_t not_node, uint32_t timeout_ms)
{
    uint64_t end = time_mono_ms() + timeout_ms;
    struct datafile_chunk c;
    for (;;) {
        c = dt_chunk(t, ino, index);
        if (replicas_ok(t, &c, goal, not_node))
            return c;
        if (time_mono_ms() > end)
            break;
        cluster_run_for(&t->c, 100);
    }
    fprintf(stderr, "inode %" PRIu64 " chunk %" PRIu64 " v%" PRIu64 ": %u replicas:", ino, c.id,
            c.version, c.n_replicas);
    for (uint8_t i = 0; i < c.n_replicas; i++)
        fprintf(stderr, " %u", c.replicas[i]);
    fprintf(stderr, "\n");
    CHECKF(0, "replicas of inode %" PRIu64 " index %u not back to %u within %u ms", ino, index,
           goal, timeout_ms);
    return c;
}

int dt_verify_on(struct dt *t, uint32_t node, const struct datafile_chunk *c, uint32_t index,
                 dt_expect_fn expect, void *arg)
{
    char addr[CAIRN_NODE_ADDR_MAX + 1];
    int rc = dataclient_node_addr(t->dc, node, addr, sizeof addr);
    if (rc)
        return rc;
    const char *addrs[] = {addr};
    struct rpc_client_cfg cfg = {.name = "verify", .seed = test_seed() | 1u};
    struct rpc_client *rpc;
    CHECK_OK(rpc_client_new(t->c.loop, addrs, 1, &t->c.secret, &cfg, &rpc));
    struct cairn_buf req, reply;
    buf_init(&req, 0);
    buf_init(&reply, 0);
    uint8_t *want = malloc(CAIRN_CHUNK_IO_MAX);
    CHECK(want);
    uint64_t base = (uint64_t)index * CAIRN_CHUNK_SIZE;
    for (uint32_t off = 0; rc == 0 && off < c->length; off += CAIRN_CHUNK_IO_MAX) {
        struct wire_chunk_read m = {.chunk = c->id,
                                    .version = c->version,
                                    .offset = off,
                                    .len = CAIRN_MIN(CAIRN_CHUNK_IO_MAX, c->length - off)};
        buf_reset(&req);
        buf_reset(&reply);
        CHECK_OK(wire_chunk_read_encode(&req, &m));
        uint16_t type = 0;
        rc = rpc_call_sync(rpc, WIRE_CHUNK_READ, req.data, req.len, 5000, &type, &reply);
        struct wire_chunk_read_reply r;
        if (rc == 0)
            rc = type == WIRE_CHUNK_READ_REPLY
                     ? wire_chunk_read_reply_decode(reply.data, reply.len, &r)
                     : CAIRN_BADMSG;
        if (rc == 0 && (r.length != c->length || r.data.len != m.len))
            rc = CAIRN_BADMSG;
        if (rc == 0) {
            expect(arg, base + off, want, m.len);
            if (memcmp(want, r.data.p, m.len) != 0)
                rc = CAIRN_CORRUPT;
        }
    }
    free(want);
    buf_free(&req);
    buf_free(&reply);
    rpc_client_close(rpc);
    cluster_run_for(&t->c, 1);
    return rc;
}

void dt_wait_committed(struct dt *t, const struct datafile_chunk *c, uint32_t timeout_ms)
{
    uint64_t end = time_mono_ms() + timeout_ms;
    for (uint8_t i = 0; i < c->n_replicas; i++) {
        uint32_t slot = dt_slot(t, c->replicas[i]);
        for (;;) {
            struct cluster_chunk_file v[8];
            size_t n = 0;
            CHECK_OK(cluster_chunk_versions(&t->c, slot, c->id, v, 8, &n));
            int found = 0;
            for (size_t k = 0; k < CAIRN_MIN(n, (size_t)8); k++)
                found |= v[k].version == c->version && !v[k].staged;
            if (found)
                break;
            CHECKF(time_mono_ms() < end, "chunk %" PRIu64 " v%" PRIu64 " not committed on node %u",
                   c->id, c->version, c->replicas[i]);
            cluster_run_for(&t->c, 50);
        }
    }
}
