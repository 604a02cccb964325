/*
 * test_chunkd_util.h: a whole small cluster inside one test process for the
 * test_chunkd*.c binaries: three metadata daemons (src/metad) and a few
 * chunk servers (src/chunkd), one thread each, on 127.0.0.1 with real data
 * directories under the case's tmpdir; and a minimal data client built from
 * the raw protocol (metaclient for the metadata, CHUNK_WRITE / CHUNK_READ
 * for the bytes), so these tests depend on nothing but the daemons under
 * test. Header-only (static functions) so each test binary is one file.
 *
 * Timing: every wait is bounded by WAIT_MS as a failure bound, never a speed
 * assertion; heartbeats and timeouts are short (100 ms, 1 s) so cases finish
 * in seconds.
 */
#ifndef CAIRN_TEST_CHUNKD_UTIL_H
#define CAIRN_TEST_CHUNKD_UTIL_H

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "chunk/format.h"
#include "chunkd/chunkd.h"
#include "client/metaclient.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/time.h"
#include "meta/cmd.h"
#include "metad/metad.h"
#include "raft/raft.h"
#include "rpc/rpc.h"
#include "test.h"
#include "wire/msg_chunk.h"

#define WAIT_MS 30000u
#define TC_META 3
#define TC_CHUNKS_MAX 6
#define TC_SECRET "chunkd-test-secret-0123456789abcdef"

#define TC_WAIT(cond, what)                                                  \
    do {                                                                     \
        uint64_t end_ = time_mono_ms() + WAIT_MS;                            \
        while (!(cond)) {                                                    \
            CHECKF(time_mono_ms() < end_, "timed out waiting for %s", what); \
            tc_sleep_ms(50);                                                 \
        }                                                                    \
    } while (0)

struct tc_meta {
    struct metad_config cfg;
    struct metad *d;
    pthread_t th;
    int running;
};

struct tc_chunk {
    struct chunkd_config cfg;
    struct chunkd *cd;
    pthread_t th;
    int running;
    char addr[64];
};

struct tc_peer {
    char addr[64];
    struct rpc_client *c;
};

struct tc {
    struct tc_meta meta[TC_META];
    struct tc_chunk chunk[TC_CHUNKS_MAX];
    int n_chunks;
    char meta_addrs[TC_META][64];
    char secret_path[512];
    struct rpc_secret secret;
    struct metaclient *mc;
    uv_loop_t loop; /* the test's clients to chunk servers */
    struct tc_peer peers[TC_CHUNKS_MAX];
    int n_peers;
    struct cairn_buf cmd, reply;
};

static inline void tc_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline uint16_t tc_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t len = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static inline void *tc_meta_main(void *arg)
{
    metad_run(((struct tc_meta *)arg)->d);
    return NULL;
}

static inline void *tc_chunk_main(void *arg)
{
    chunkd_run(((struct tc_chunk *)arg)->cd);
    return NULL;
}

static inline void tc_set(struct chunkd_config *c, const char *k, const char *v)
{
    char err[256];
    CHECKF(chunkd_config_set(c, k, v, err, sizeof err) == 0, "%s: %s", k, err);
}

/* Configure chunk server i (not started): label may be NULL. */
static inline void tc_chunk_cfg(struct tc *t, int i, const char *label)
{
    struct tc_chunk *k = &t->chunk[i];
    char v[1024];
    chunkd_config_defaults(&k->cfg);
    snprintf(v, sizeof v, "%s/c%d", test_tmpdir(), i + 1);
    tc_set(&k->cfg, "data", v);
    snprintf(k->addr, sizeof k->addr, "127.0.0.1:%u", (unsigned)tc_free_port());
    tc_set(&k->cfg, "listen", k->addr);
    snprintf(v, sizeof v, "%s,%s,%s", t->meta_addrs[0], t->meta_addrs[1], t->meta_addrs[2]);
    tc_set(&k->cfg, "meta", v);
    tc_set(&k->cfg, "secret", t->secret_path);
    if (label)
        tc_set(&k->cfg, "label", label);
    tc_set(&k->cfg, "heartbeat_ms", "100");
    tc_set(&k->cfg, "scrub_rate", "0");
    char err[256];
    CHECKF(chunkd_config_check(&k->cfg, err, sizeof err) == 0, "%s", err);
}

static inline void tc_chunk_start(struct tc *t, int i)
{
    struct tc_chunk *k = &t->chunk[i];
    CHECK(!k->running);
    CHECK_OK(chunkd_new(&k->cfg, &k->cd));
    CHECK(pthread_create(&k->th, NULL, tc_chunk_main, k) == 0);
    k->running = 1;
}

static inline void tc_chunk_stop(struct tc *t, int i)
{
    struct tc_chunk *k = &t->chunk[i];
    if (!k->running)
        return;
    chunkd_stop(k->cd);
    pthread_join(k->th, NULL);
    chunkd_free(k->cd);
    k->cd = NULL;
    k->running = 0;
}

static inline struct chunkd_info tc_chunk_info(struct tc *t, int i)
{
    struct chunkd_info in;
    chunkd_get_info(t->chunk[i].cd, &in);
    return in;
}

static inline void tc_wait_registered(struct tc *t, int i)
{
    uint64_t end = time_mono_ms() + WAIT_MS;
    while (!tc_chunk_info(t, i).registered) {
        CHECKF(time_mono_ms() < end, "chunk server %d not registered", i + 1);
        tc_sleep_ms(20);
    }
}

/* Chunk server i stopped and started again on the same data directory, and
 * registered again before this returns. */
static inline void tc_chunk_restart(struct tc *t, int i)
{
    tc_chunk_stop(t, i);
    tc_chunk_start(t, i);
    tc_wait_registered(t, i);
}

static inline void tc_meta_start(struct tc *t, int i, const char *peers)
{
    struct tc_meta *m = &t->meta[i];
    char err[256], v[1024];
    metad_config_defaults(&m->cfg);
    snprintf(v, sizeof v, "%s/m%d", test_tmpdir(), i + 1);
    CHECK_OK(metad_config_set(&m->cfg, "data", v, err, sizeof err));
    snprintf(v, sizeof v, "%d", i + 1);
    CHECK_OK(metad_config_set(&m->cfg, "id", v, err, sizeof err));
    CHECK_OK(metad_config_set(&m->cfg, "listen", t->meta_addrs[i], err, sizeof err));
    CHECK_OK(metad_config_set(&m->cfg, "peers", peers, err, sizeof err));
    CHECK_OK(metad_config_set(&m->cfg, "secret", t->secret_path, err, sizeof err));
    CHECK_OK(metad_config_set(&m->cfg, "cluster", "chunkd-test", err, sizeof err));
    m->cfg.tick_ms = 20;
    m->cfg.election_ticks = 10;
    m->cfg.heartbeat_ticks = 2;
    m->cfg.session_tick_ms = 100;
    m->cfg.chunk_dead_ms = 1000;
    m->cfg.chunk_heartbeat_ms = 100;
    CHECKF(metad_config_check(&m->cfg, err, sizeof err) == 0, "config: %s", err);
    CHECK_OK(metad_new(&m->cfg, &m->d));
    CHECK(pthread_create(&m->th, NULL, tc_meta_main, m) == 0);
    m->running = 1;
}

static inline void tc_meta_stop(struct tc *t, int i)
{
    struct tc_meta *m = &t->meta[i];
    if (!m->running)
        return;
    metad_stop(m->d);
    pthread_join(m->th, NULL);
    metad_free(m->d);
    m->running = 0;
}

/* Three metadata servers, n chunk servers (labels[i] or none), all up and
 * registered, and a metadata client. */
static inline void tc_init(struct tc *t, int n, const char *const *labels)
{
    memset(t, 0, sizeof *t);
    signal(SIGPIPE, SIG_IGN); /* as the daemons' main does: a peer gone is an error code */
    cairn_log_set_level(CAIRN_LOG_WARN);
    snprintf(t->secret_path, sizeof t->secret_path, "%s/secret", test_tmpdir());
    int fd = open(t->secret_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, TC_SECRET, strlen(TC_SECRET)) == (ssize_t)strlen(TC_SECRET));
    close(fd);
    CHECK_OK(rpc_secret_load(t->secret_path, &t->secret));
    char peers[512] = "";
    for (int i = 0; i < TC_META; i++) {
        snprintf(t->meta_addrs[i], sizeof t->meta_addrs[i], "127.0.0.1:%u",
                 (unsigned)tc_free_port());
        size_t l = strlen(peers);
        snprintf(peers + l, sizeof peers - l, "%s%d=%s", i ? "," : "", i + 1, t->meta_addrs[i]);
    }
    for (int i = 0; i < TC_META; i++)
        tc_meta_start(t, i, peers);
    t->n_chunks = n;
    for (int i = 0; i < n; i++) {
        tc_chunk_cfg(t, i, labels ? labels[i] : NULL);
        tc_chunk_start(t, i);
    }
    for (int i = 0; i < n; i++)
        tc_wait_registered(t, i);
    const char *addrs[TC_META] = {t->meta_addrs[0], t->meta_addrs[1], t->meta_addrs[2]};
    struct metaclient_cfg mc = {.addrs = addrs,
                                .n_addrs = TC_META,
                                .secret = &t->secret,
                                .name = "test",
                                .seed = test_seed() | 1};
    CHECK_OK(metaclient_new(NULL, &mc, &t->mc));
    CHECK_OK(uv_loop_init(&t->loop));
    buf_init(&t->cmd, 0);
    buf_init(&t->reply, 0);
}

static inline void tc_free(struct tc *t)
{
    for (int i = 0; i < t->n_peers; i++)
        rpc_client_close(t->peers[i].c);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    CHECK_OK(uv_loop_close(&t->loop));
    metaclient_close(t->mc);
    for (int i = 0; i < t->n_chunks; i++)
        tc_chunk_stop(t, i);
    for (int i = 0; i < TC_META; i++)
        tc_meta_stop(t, i);
    buf_free(&t->cmd);
    buf_free(&t->reply);
    rpc_secret_wipe(&t->secret);
}

/* --- the metadata side --------------------------------------------------------------- */

static inline struct meta_hdr tc_hdr(void)
{
    struct meta_hdr h;
    memset(&h, 0, sizeof h); /* root; the client stamps session and seq */
    return h;
}

/* A mutation in t->cmd; the state machine's reply in t->reply. */
static inline int tc_mutate(struct tc *t)
{
    buf_reset(&t->reply);
    int rc = metaclient_mutate_sync(t->mc, t->cmd.data, t->cmd.len, &t->reply, NULL);
    return rc;
}

static inline int tc_query(struct tc *t)
{
    buf_reset(&t->reply);
    return metaclient_query_sync(t->mc, t->cmd.data, t->cmd.len, &t->reply, NULL);
}

static inline uint64_t tc_create(struct tc *t, const char *name, uint8_t goal)
{
    struct meta_hdr h = tc_hdr();
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_create(&t->cmd, &h, META_ROOT_INO, name, 0644, 1));
    CHECK_OK(tc_mutate(t));
    struct meta_attr a;
    CHECK_OK(meta_reply_attr(t->reply.data, t->reply.len, &a));
    if (goal) {
        struct meta_attr set = {.goal = goal};
        buf_reset(&t->cmd);
        CHECK_OK(meta_cmd_setattr(&t->cmd, &h, a.ino, META_SET_GOAL, &set));
        CHECK_OK(tc_mutate(t));
    }
    return a.ino;
}

struct tc_alloc {
    uint64_t chunk, version;
    uint8_t n;
    uint32_t reps[CAIRN_GOAL_MAX];
};

/* CHUNK_ALLOC with no replicas: the leader's placement fills them. */
static inline int tc_alloc(struct tc *t, uint64_t ino, uint32_t index, uint32_t deadline_ms,
                           struct tc_alloc *a)
{
    struct meta_hdr h = tc_hdr();
    buf_reset(&t->cmd);
    uint64_t deadline = time_wall_ns() + (uint64_t)deadline_ms * 1000000u;
    CHECK_OK(meta_cmd_chunk_alloc(&t->cmd, &h, ino, index, deadline, NULL, 0));
    int rc = tc_mutate(t);
    if (rc)
        return rc;
    struct wire_dec d;
    wire_dec_init(&d, t->reply.data + 4, t->reply.len - 4);
    a->chunk = wire_get_u64(&d);
    a->version = wire_get_u64(&d);
    a->n = wire_get_u8(&d);
    for (uint8_t i = 0; i < a->n; i++)
        a->reps[i] = wire_get_u32(&d);
    CHECK_OK(wire_dec_finish(&d));
    return 0;
}

static inline int tc_commit(struct tc *t, uint64_t ino, uint32_t index, const struct tc_alloc *a,
                            uint32_t length, const uint32_t *ok, uint8_t n)
{
    struct meta_hdr h = tc_hdr();
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_chunk_commit(&t->cmd, &h, ino, index, a->chunk, a->version, length, ok, n));
    return tc_mutate(t);
}

/* The chunk at (ino, index) as the metadata has it now (id 0: none). */
static inline struct meta_chunk_info tc_chunk_of(struct tc *t, uint64_t ino, uint32_t index)
{
    struct meta_hdr h = tc_hdr();
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_chunks(&t->cmd, &h, ino, index, 1));
    CHECK_OK(tc_query(t));
    struct wire_dec d;
    wire_dec_init(&d, t->reply.data + 4, t->reply.len - 4);
    struct meta_chunk_info ci;
    memset(&ci, 0, sizeof ci);
    if (wire_get_u32(&d) == 1) {
        ci.id = wire_get_u64(&d);
        ci.version = wire_get_u64(&d);
        ci.length = wire_get_u32(&d);
        ci.n_replicas = wire_get_u8(&d);
        for (uint8_t i = 0; i < ci.n_replicas && i < CAIRN_GOAL_MAX; i++)
            ci.replicas[i] = wire_get_u32(&d);
    }
    CHECK_OK(d.err);
    return ci;
}

/* Registry state of a node (0 if unknown). */
static inline uint8_t tc_node_state(struct tc *t, uint32_t node)
{
    struct meta_hdr h = tc_hdr();
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_nodes(&t->cmd, &h, node - 1, 1));
    CHECK_OK(tc_query(t));
    struct wire_dec d;
    wire_dec_init(&d, t->reply.data + 4, t->reply.len - 4);
    if (wire_get_u32(&d) != 1 || wire_get_u32(&d) != node)
        return 0;
    return wire_get_u8(&d);
}

/* Slot of the chunk server with a node id (-1 if none). */
static inline int tc_slot(struct tc *t, uint32_t node)
{
    for (int i = 0; i < t->n_chunks; i++)
        if (t->chunk[i].running && tc_chunk_info(t, i).node == node)
            return i;
    return -1;
}

/* --- the data side -------------------------------------------------------------------- */

static inline struct rpc_client *tc_peer(struct tc *t, const char *addr)
{
    for (int i = 0; i < t->n_peers; i++)
        if (strcmp(t->peers[i].addr, addr) == 0)
            return t->peers[i].c;
    CHECK(t->n_peers < TC_CHUNKS_MAX);
    struct tc_peer *p = &t->peers[t->n_peers++];
    size_t al = strlen(addr);
    CHECK(al < sizeof p->addr);
    memmove(p->addr, addr, al + 1);
    const char *a = p->addr;
    struct rpc_client_cfg cc = {.name = "test", .seed = 1};
    CHECK_OK(rpc_client_new(&t->loop, &a, 1, &t->secret, &cc, &p->c));
    return p->c;
}

static inline const char *tc_addr_of(struct tc *t, uint32_t node)
{
    int i = tc_slot(t, node);
    CHECKF(i >= 0, "node %u is not running", node);
    return t->chunk[i].addr;
}

/* rpc_call_sync of req to c, tried again (up to `tries` times in all) while
 * the connection is found closed: a server restarted since this client
 * connected to it. Only idempotent requests are tried again. The reply's
 * bytes go to rep. */
static inline int tc_call(struct rpc_client *c, uint16_t type, const struct cairn_buf *req,
                          struct cairn_buf *rep, int tries)
{
    uint16_t rtype;
    int rc = CAIRN_CLOSED;
    for (int i = 0; i < tries; i++) {
        buf_reset(rep);
        rc = rpc_call_sync(c, type, req->data, req->len, 10000, &rtype, rep);
        if (rc != CAIRN_CLOSED)
            break;
    }
    return rc;
}

/* One CHUNK_WRITE request m to the chunk server at addr (tc_call with
 * `tries`), its decoded reply in r: the call's or the decoder's error, else 0
 * (the replicas' statuses are in r). */
static inline int tc_chunk_write_req(struct tc *t, const char *addr,
                                     const struct wire_chunk_write *m, int tries,
                                     struct wire_chunk_write_reply *r)
{
    struct cairn_buf req, rep;
    buf_init(&req, 0);
    buf_init(&rep, 0);
    CHECK_OK(wire_chunk_write_encode(&req, m));
    int rc = tc_call(tc_peer(t, addr), WIRE_CHUNK_WRITE, &req, &rep, tries);
    if (rc == 0)
        rc = wire_chunk_write_reply_decode(rep.data, rep.len, r);
    buf_free(&req);
    buf_free(&rep);
    return rc;
}

/* Write data at off down the chain of the allocation's replicas, in 1 MiB
 * pieces, the last with FLUSH; ok[i] = replica i acknowledged every piece. */
static inline void tc_write_clip(struct tc *t, const struct tc_alloc *a, uint64_t base,
                                 uint32_t base_length, uint64_t off, const uint8_t *data,
                                 size_t len, int *ok)
{
    for (uint8_t i = 0; i < a->n; i++)
        ok[i] = 1;
    const char *head = tc_addr_of(t, a->reps[0]);
    size_t done = 0;
    do {
        size_t n = len - done < CAIRN_CHUNK_IO_MAX ? len - done : CAIRN_CHUNK_IO_MAX;
        struct wire_chunk_write m;
        memset(&m, 0, sizeof m);
        m.chunk = a->chunk;
        m.version = a->version;
        m.base_version = base;
        m.base_length = base_length;
        m.offset = off + done;
        m.flags = done + n == len ? WIRE_CHUNK_WRITE_FLUSH : 0;
        m.n_chain = (uint8_t)(a->n - 1);
        for (uint8_t i = 1; i < a->n; i++) {
            const char *ad = tc_addr_of(t, a->reps[i]);
            m.chain[i - 1] = (struct wire_bytes){(const uint8_t *)ad, (uint32_t)strlen(ad)};
        }
        m.data = (struct wire_bytes){n ? data + done : NULL, (uint32_t)n};
        struct wire_chunk_write_reply r;
        int rc = tc_chunk_write_req(t, head, &m, 3, &r); /* pieces are idempotent */
        for (uint8_t i = 0; i < a->n; i++)
            if (rc || r.n != a->n || r.status[i])
                ok[i] = 0;
        done += n;
    } while (done < len);
}

static inline void tc_write(struct tc *t, const struct tc_alloc *a, uint64_t base, uint64_t off,
                            const uint8_t *data, size_t len, int *ok)
{
    tc_write_clip(t, a, base, 0, off, data, len, ok);
}

/* CHUNK_READ of [off, off + len) from addr; the bytes go to out. */
static inline int tc_read(struct tc *t, const char *addr, uint64_t chunk, uint64_t version,
                          uint64_t off, uint32_t len, uint8_t *out, size_t *got)
{
    struct rpc_client *c = tc_peer(t, addr);
    struct cairn_buf req, rep;
    buf_init(&req, 0);
    buf_init(&rep, 0);
    struct wire_chunk_read m = {chunk, version, off, len, 0};
    CHECK_OK(wire_chunk_read_encode(&req, &m));
    int rc = tc_call(c, WIRE_CHUNK_READ, &req, &rep, 3);
    struct wire_chunk_read_reply r;
    if (rc == 0)
        rc = wire_chunk_read_reply_decode(rep.data, rep.len, &r);
    if (rc == 0) {
        memcpy(out, r.data.p, r.data.len);
        *got = r.data.len;
    }
    buf_free(&req);
    buf_free(&rep);
    return rc;
}

/* A one-chunk file holding data, written to the placement's replicas and
 * committed with every replica that acknowledged. */
static inline uint64_t tc_put(struct tc *t, const char *name, uint8_t goal, const uint8_t *data,
                              size_t len, struct tc_alloc *a)
{
    uint64_t ino = tc_create(t, name, goal);
    CHECK_OK(tc_alloc(t, ino, 0, 30000, a));
    int ok[CAIRN_GOAL_MAX];
    tc_write(t, a, 0, 0, data, len, ok);
    uint32_t acked[CAIRN_GOAL_MAX];
    uint8_t n = 0;
    for (uint8_t i = 0; i < a->n; i++)
        if (ok[i])
            acked[n++] = a->reps[i];
    CHECKF(n == a->n, "only %u of %u replicas acknowledged", n, a->n);
    CHECK_OK(tc_commit(t, ino, 0, a, (uint32_t)len, acked, n));
    return ino;
}

/* The whole chunk from addr equals data. */
static inline int tc_read_equals(struct tc *t, const char *addr, uint64_t chunk, uint64_t version,
                                 const uint8_t *data, size_t len)
{
    uint8_t *buf = malloc(CAIRN_CHUNK_IO_MAX);
    int rc = 0;
    for (size_t off = 0; rc == 0 && off < len; off += CAIRN_CHUNK_IO_MAX) {
        uint32_t n = (uint32_t)(len - off < CAIRN_CHUNK_IO_MAX ? len - off : CAIRN_CHUNK_IO_MAX);
        size_t got = 0;
        rc = tc_read(t, addr, chunk, version, off, n, buf, &got);
        if (rc == 0 && (got != n || memcmp(buf, data + off, n) != 0))
            rc = CAIRN_CORRUPT; /* wrong bytes: the test fails on it */
    }
    free(buf);
    return rc;
}

/* Replicas of the chunk on nodes that are up and running (and distinct). */
static inline int tc_live_replicas(struct tc *t, const struct meta_chunk_info *ci)
{
    int live = 0;
    for (uint8_t i = 0; i < ci->n_replicas; i++)
        live +=
            tc_slot(t, ci->replicas[i]) >= 0 && tc_node_state(t, ci->replicas[i]) == META_NODE_UP;
    return live;
}

/* Flip one byte of data (offset off of the chunk) in the committed file of
 * (chunk, version) in chunk server i's data directory. */
static inline void tc_corrupt(struct tc *t, int i, uint64_t chunk, uint64_t version, uint64_t off)
{
    char name[CHUNK_NAME_LEN], path[CAIRN_PATH_MAX + 64];
    chunk_name_format(name, chunk, version, CHUNK_NAME_COMMITTED);
    snprintf(path, sizeof path, "%s/chunks/%02x/%s", t->chunk[i].cfg.data, chunk_fanout(chunk),
             name);
    int fd; /* the leader's COMMIT may not have run yet */
    TC_WAIT((fd = open(path, O_RDWR)) >= 0, "the committed file");
    uint8_t b;
    CHECK(pread(fd, &b, 1, (off_t)(CHUNK_DATA_OFF + off)) == 1);
    b ^= 0x5a;
    CHECK(pwrite(fd, &b, 1, (off_t)(CHUNK_DATA_OFF + off)) == 1);
    close(fd);
}

/* Does chunk server i hold any file of this chunk? */
static inline int tc_holds(struct tc *t, int i, uint64_t chunk)
{
    char dir[CAIRN_PATH_MAX + 64], prefix[20];
    snprintf(dir, sizeof dir, "%s/chunks/%02x", t->chunk[i].cfg.data, chunk_fanout(chunk));
    snprintf(prefix, sizeof prefix, "%016" PRIx64, chunk);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        found |= strncmp(e->d_name, prefix, 16) == 0;
    closedir(d);
    return found;
}

#endif
