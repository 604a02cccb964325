/* test_chunkd.c: chunk servers (src/chunkd) with the metadata leader's side
 * (src/metad chunks/placement/liveness) in one process: placement fills
 * CHUNK_ALLOC, writes go down the chain and are read back from every
 * replica, partial overwrites, stale versions, deadlines, garbage
 * collection, ENOSPC, node ids kept across restarts. The failure cases
 * (a dead server, a corrupt copy, draining) are in test_chunkd_repair.c. */
#include "test_chunkd_util.h"

static uint8_t *pattern(size_t len)
{
    uint8_t *p = malloc(len);
    CHECK(p != NULL);
    prng_fill(test_rng(), p, len);
    return p;
}

TEST_T(write_chain_read_every_replica, 90)
{
    struct tc t;
    tc_init(&t, 3, NULL);
    size_t len = 2 * CAIRN_CHUNK_IO_MAX + 12345; /* three pieces, the last partial */
    uint8_t *data = pattern(len);
    struct tc_alloc a;
    uint64_t ino = tc_put(&t, "f", 3, data, len, &a);
    CHECK_EQ(a.n, 3);
    CHECK(a.reps[0] != a.reps[1] && a.reps[1] != a.reps[2] && a.reps[0] != a.reps[2]);
    for (uint8_t i = 0; i < a.n; i++)
        CHECK_OK(tc_read_equals(&t, tc_addr_of(&t, a.reps[i]), a.chunk, a.version, data, len));
    struct meta_chunk_info ci = tc_chunk_of(&t, ino, 0);
    CHECK_EQ_U64(ci.id, a.chunk);
    CHECK_EQ(ci.length, len);
    CHECK_EQ(ci.n_replicas, 3);
    /* a version nobody holds, and a read past the end (clipped) */
    uint8_t buf[16];
    size_t got = 99;
    CHECK_EQ(tc_read(&t, tc_addr_of(&t, a.reps[0]), a.chunk, a.version + 1, 0, 16, buf, &got),
             CAIRN_STALEVERSION);
    CHECK_OK(tc_read(&t, tc_addr_of(&t, a.reps[1]), a.chunk, a.version, len - 4, 16, buf, &got));
    CHECK_EQ(got, 4);
    CHECK_MEM_EQ(buf, data + len - 4, 4);
    /* the COMMIT commands reach every replica: nothing stays staged */
    for (int i = 0; i < 3; i++)
        TC_WAIT(tc_chunk_info(&t, i).cmds_done >= 1, "commit executed");
    free(data);
    tc_free(&t);
}

TEST_T(partial_overwrite_keeps_the_rest, 90)
{
    struct tc t;
    tc_init(&t, 3, NULL);
    size_t len = CAIRN_CHUNK_IO_MAX + 1000;
    uint8_t *data = pattern(len);
    struct tc_alloc a;
    uint64_t ino = tc_put(&t, "f", 2, data, len, &a);
    CHECK_EQ(a.n, 2);
    /* the next version of the same chunk goes to the same servers, based on v1 */
    struct tc_alloc b;
    CHECK_OK(tc_alloc(&t, ino, 0, 30000, &b));
    CHECK_EQ_U64(b.chunk, a.chunk);
    CHECK_EQ_U64(b.version, a.version + 1);
    CHECK_EQ(b.n, 2);
    CHECK((b.reps[0] == a.reps[0] && b.reps[1] == a.reps[1]) ||
          (b.reps[0] == a.reps[1] && b.reps[1] == a.reps[0]));
    uint8_t patch[3000];
    prng_fill(test_rng(), patch, sizeof patch);
    int ok[CAIRN_GOAL_MAX];
    tc_write(&t, &b, a.version, 5000, patch, sizeof patch, ok);
    CHECK(ok[0] && ok[1]);
    CHECK_OK(tc_commit(&t, ino, 0, &b, (uint32_t)len, b.reps, 2));
    memcpy(data + 5000, patch, sizeof patch);
    for (uint8_t i = 0; i < 2; i++)
        CHECK_OK(tc_read_equals(&t, tc_addr_of(&t, b.reps[i]), b.chunk, b.version, data, len));
    /* once the COMMIT ran, the old version is gone on both */
    for (uint8_t i = 0; i < 2; i++) {
        uint8_t buf[8];
        size_t got;
        TC_WAIT(tc_read(&t, tc_addr_of(&t, b.reps[i]), a.chunk, a.version, 0, 8, buf, &got) ==
                    CAIRN_STALEVERSION,
                "old version deleted");
    }
    free(data);
    tc_free(&t);
}

/* A write based on a version whose TRUNCATE has not reached this server
 * yet: the copy is cut to the base length the client names, so cut bytes
 * never come back. Also: a write based on a version still staged here
 * commits it (the metadata allocates on committed versions only). */
TEST_T(base_copy_clipped_to_base_length, 60)
{
    struct tc t;
    tc_init(&t, 1, NULL);
    size_t len = 300000;
    uint8_t *data = pattern(len);
    struct tc_alloc v1 = {.chunk = 5555, .version = 1, .n = 1};
    v1.reps[0] = tc_chunk_info(&t, 0).node;
    int ok[CAIRN_GOAL_MAX];
    tc_write(&t, &v1, 0, 0, data, len, ok);
    CHECK(ok[0]);
    struct tc_alloc v2 = v1;
    v2.version = 2;
    uint8_t patch[10];
    memset(patch, 0xee, sizeof patch);
    tc_write_clip(&t, &v2, 1, 1000, 5000, patch, sizeof patch, ok);
    CHECK(ok[0]);
    uint8_t *want = calloc(1, len);
    memcpy(want, data, 1000);
    memcpy(want + 5000, patch, sizeof patch);
    CHECK_OK(tc_read_equals(&t, t.chunk[0].addr, v2.chunk, 2, want, len));
    CHECK_OK(tc_read_equals(&t, t.chunk[0].addr, v1.chunk, 1, data, len)); /* v1 committed */
    free(want);
    free(data);
    tc_free(&t);
}

TEST_T(placement_spreads_over_racks, 90)
{
    static const char *const labels[] = {"r1", "r1", "r2", "r2"};
    struct tc t;
    tc_init(&t, 4, labels);
    uint8_t data[100] = {1};
    for (int f = 0; f < 6; f++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", f);
        struct tc_alloc a;
        tc_put(&t, name, 2, data, sizeof data, &a);
        CHECK_EQ(a.n, 2);
        int s0 = tc_slot(&t, a.reps[0]), s1 = tc_slot(&t, a.reps[1]);
        CHECK(s0 >= 0 && s1 >= 0);
        CHECKF(strcmp(labels[s0], labels[s1]) != 0, "both replicas in %s", labels[s0]);
    }
    tc_free(&t);
}

TEST_T(stale_copy_never_served_and_deleted, 90)
{
    struct tc t;
    tc_init(&t, 3, NULL);
    size_t len = 50000;
    uint8_t *v1 = pattern(len);
    struct tc_alloc a;
    uint64_t ino = tc_put(&t, "f", 2, v1, len, &a);
    int gone = tc_slot(&t, a.reps[1]);
    uint32_t gone_node = a.reps[1];
    tc_chunk_stop(&t, gone); /* misses the next write */
    TC_WAIT(tc_node_state(&t, gone_node) == META_NODE_DOWN, "node marked down");
    struct tc_alloc b;
    CHECK_OK(tc_alloc(&t, ino, 0, 30000, &b));
    CHECK_EQ(b.n, 1); /* the holder that is up */
    CHECK_EQ(b.reps[0], a.reps[0]);
    uint8_t *v2 = pattern(len);
    int ok[CAIRN_GOAL_MAX];
    tc_write(&t, &b, a.version, 0, v2, len, ok);
    CHECK(ok[0]);
    CHECK_OK(tc_commit(&t, ino, 0, &b, (uint32_t)len, b.reps, 1));
    /* it comes back with v1: v1 is deleted there, v2 is what readers get */
    tc_chunk_start(&t, gone);
    tc_wait_registered(&t, gone);
    uint8_t buf[8];
    size_t got;
    /* asked for v2 it never holds v1's bytes: STALEVERSION, or v2 once copied */
    int rc = tc_read(&t, t.chunk[gone].addr, b.chunk, b.version, 0, 8, buf, &got);
    CHECK(rc == CAIRN_STALEVERSION || (rc == 0 && memcmp(buf, v2, 8) == 0));
    TC_WAIT(tc_read(&t, t.chunk[gone].addr, a.chunk, a.version, 0, 8, buf, &got) ==
                CAIRN_STALEVERSION,
            "the stale copy deleted");
    /* the goal is met again from the good copy */
    struct meta_chunk_info ci;
    TC_WAIT((ci = tc_chunk_of(&t, ino, 0), tc_live_replicas(&t, &ci) == 2), "goal restored");
    CHECK_EQ_U64(ci.version, b.version);
    for (uint8_t i = 0; i < ci.n_replicas; i++)
        CHECK_OK(tc_read_equals(&t, tc_addr_of(&t, ci.replicas[i]), ci.id, ci.version, v2, len));
    free(v1);
    free(v2);
    tc_free(&t);
}

TEST_T(pending_write_aborted_at_deadline, 90)
{
    struct tc t;
    tc_init(&t, 3, NULL);
    uint64_t ino = tc_create(&t, "f", 2);
    struct tc_alloc a;
    CHECK_OK(tc_alloc(&t, ino, 0, 500, &a)); /* a writer that dies after preparing */
    uint8_t data[4096] = {7};
    int ok[CAIRN_GOAL_MAX];
    tc_write(&t, &a, 0, 0, data, sizeof data, ok);
    CHECK(ok[0] && ok[1]);
    for (uint8_t i = 0; i < a.n; i++)
        CHECK(tc_holds(&t, tc_slot(&t, a.reps[i]), a.chunk));
    /* TICK aborts it; the outbox drops the staged copies everywhere */
    for (uint8_t i = 0; i < a.n; i++)
        TC_WAIT(!tc_holds(&t, tc_slot(&t, a.reps[i]), a.chunk), "staged copy dropped");
    CHECK_EQ_U64(tc_chunk_of(&t, ino, 0).id, 0);
    CHECK_EQ(tc_commit(&t, ino, 0, &a, sizeof data, a.reps, a.n), CAIRN_STALEVERSION);
    tc_free(&t);
}

TEST_T(unlink_deletes_every_copy, 90)
{
    struct tc t;
    tc_init(&t, 3, NULL);
    uint8_t data[5000] = {3};
    struct tc_alloc a[3];
    for (int f = 0; f < 3; f++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", f);
        tc_put(&t, name, 2, data, sizeof data, &a[f]);
    }
    struct meta_hdr h = tc_hdr();
    for (int f = 0; f < 3; f++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", f);
        buf_reset(&t.cmd);
        CHECK_OK(meta_cmd_unlink(&t.cmd, &h, META_ROOT_INO, name));
        CHECK_OK(tc_mutate(&t));
    }
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < 3; i++)
            TC_WAIT(!tc_holds(&t, i, a[f].chunk), "chunk deleted");
    tc_free(&t);
}

TEST_T(orphan_copies_found_by_the_report, 90)
{
    struct tc t;
    tc_init(&t, 2, NULL);
    /* a copy the metadata never heard of (written straight to a server) */
    struct tc_alloc fake = {.chunk = 987654, .version = 3, .n = 1, .reps = {0}};
    fake.reps[0] = tc_chunk_info(&t, 0).node;
    uint8_t data[100] = {9};
    int ok[CAIRN_GOAL_MAX];
    tc_write(&t, &fake, 0, 0, data, sizeof data, ok);
    CHECK(ok[0]);
    CHECK(tc_holds(&t, 0, fake.chunk));
    /* the next full report (after a restart) has it deleted */
    tc_chunk_restart(&t, 0);
    TC_WAIT(!tc_holds(&t, 0, fake.chunk), "orphan deleted");
    tc_free(&t);
}

TEST_T(full_server_gets_enospc_and_no_chunks, 90)
{
    struct tc t;
    memset(&t, 0, sizeof t);
    tc_init(&t, 2, NULL);
    /* a third server offering 1 MiB: placement never picks it */
    tc_chunk_cfg(&t, 2, NULL);
    tc_set(&t.chunk[2].cfg, "capacity", "1048576");
    tc_chunk_start(&t, 2);
    t.n_chunks = 3;
    tc_wait_registered(&t, 2);
    uint32_t full = tc_chunk_info(&t, 2).node;
    uint8_t data[1000] = {1};
    for (int f = 0; f < 8; f++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", f);
        struct tc_alloc a;
        tc_put(&t, name, 3, data, sizeof data, &a);
        CHECK_EQ(a.n, 2);
        CHECK(a.reps[0] != full && a.reps[1] != full);
    }
    /* written to directly, it refuses what does not fit; nothing is left */
    size_t len = 2 * CAIRN_CHUNK_IO_MAX;
    uint8_t *big = pattern(len);
    struct tc_alloc d = {.chunk = 4242, .version = 1, .n = 1, .reps = {full}};
    int ok[CAIRN_GOAL_MAX];
    tc_write(&t, &d, 0, 0, big, len, ok);
    CHECK(!ok[0]);
    CHECK(!tc_holds(&t, 2, d.chunk));
    free(big);
    tc_free(&t);
}

TEST_T(node_id_survives_restart, 60)
{
    struct tc t;
    tc_init(&t, 2, NULL);
    uint32_t id0 = tc_chunk_info(&t, 0).node, id1 = tc_chunk_info(&t, 1).node;
    CHECK(id0 && id1 && id0 != id1);
    tc_chunk_restart(&t, 1);
    CHECK_EQ(tc_chunk_info(&t, 1).node, id1);
    tc_free(&t);
}

/* --- fixes found by the data-path tests ------------------------------------------------- */

struct burst {
    int done;
    int failed; /* pieces with any replica not 0 */
    int n_rep;
};

static void burst_cb(struct rpc_client *c, int status, const struct rpc_msg *reply, void *arg)
{
    struct burst *b = arg;
    struct wire_chunk_write_reply r;
    b->done++;
    if (status || wire_chunk_write_reply_decode(reply->payload, reply->len, &r) ||
        r.n != b->n_rep) {
        b->failed++;
        return;
    }
    for (uint8_t i = 0; i < r.n; i++)
        if (r.status[i]) {
            fprintf(stderr, "piece: replica %u answered %s\n", i, cairn_err_name(r.status[i]));
            b->failed++;
            return;
        }
}

/* A whole chunk sent at once to the head: its forwards fill the write queue
 * toward the next replica (CAIRN_EBUSY from rpc_call). That is back-pressure:
 * the pieces wait and go on; no healthy replica is dropped. */
TEST_T(burst_of_pieces_keeps_every_replica, 120)
{
    struct tc t;
    tc_init(&t, 3, NULL);
    uint64_t ino = tc_create(&t, "f", 3);
    struct tc_alloc a;
    CHECK_OK(tc_alloc(&t, ino, 0, 60000, &a));
    CHECK_EQ(a.n, 3);
    size_t len = CAIRN_CHUNK_SIZE;
    uint8_t *data = pattern(len);
    struct rpc_client *c = tc_peer(&t, tc_addr_of(&t, a.reps[0]));
    struct cairn_buf req;
    buf_init(&req, 0);
    struct burst b = {.n_rep = a.n};
    int sent = 0, pieces = (int)(len / CAIRN_CHUNK_IO_MAX);
    while (sent < pieces - 1) { /* all but the last (FLUSH) piece, as fast as we can */
        struct wire_chunk_write m;
        memset(&m, 0, sizeof m);
        m.chunk = a.chunk;
        m.version = a.version;
        m.offset = (uint64_t)sent * CAIRN_CHUNK_IO_MAX;
        m.n_chain = (uint8_t)(a.n - 1);
        for (uint8_t i = 1; i < a.n; i++) {
            const char *ad = tc_addr_of(&t, a.reps[i]);
            m.chain[i - 1] = (struct wire_bytes){(const uint8_t *)ad, (uint32_t)strlen(ad)};
        }
        m.data = (struct wire_bytes){data + m.offset, CAIRN_CHUNK_IO_MAX};
        buf_reset(&req);
        CHECK_OK(wire_chunk_write_encode(&req, &m));
        int rc = rpc_call(c, WIRE_CHUNK_WRITE, req.data, req.len, 60000, burst_cb, &b);
        if (rc == CAIRN_EBUSY) {
            uv_run(&t.loop, UV_RUN_ONCE); /* our own queue is full: let it drain */
            continue;
        }
        CHECK_OK(rc);
        sent++;
    }
    while (b.done < sent)
        uv_run(&t.loop, UV_RUN_ONCE);
    buf_free(&req);
    CHECK_EQ(b.failed, 0);
    int ok[CAIRN_GOAL_MAX];
    size_t last = (size_t)(pieces - 1) * CAIRN_CHUNK_IO_MAX;
    tc_write(&t, &a, 0, last, data + last, len - last, ok);
    CHECK(ok[0] && ok[1] && ok[2]);
    uint64_t waits = 0;
    for (int i = 0; i < 3; i++)
        waits += tc_chunk_info(&t, i).fwd_waits;
    fprintf(stderr, "forwards that waited for room: %" PRIu64 "\n", waits);
    CHECK_OK(tc_commit(&t, ino, 0, &a, len, a.reps, a.n));
    for (uint8_t i = 0; i < a.n; i++)
        CHECK_OK(tc_read_equals(&t, tc_addr_of(&t, a.reps[i]), a.chunk, a.version, data, len));
    free(data);
    tc_free(&t);
}

/* Does chunk server i hold (chunk, version) staged? */
static int staged_on(struct tc *t, int i, uint64_t chunk, uint64_t version)
{
    char dir[CAIRN_PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/chunks/%02x", t->chunk[i].cfg.data, chunk_fanout(chunk));
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t id, v;
        found |= chunk_name_parse(e->d_name, &id, &v) == CHUNK_NAME_STAGED && id == chunk &&
                 v == version;
    }
    closedir(d);
    return found;
}

/* A piece that arrives after its version was dropped (the write was aborted
 * at its deadline) must not stage that version again. */
TEST_T(late_piece_of_dropped_version_refused, 90)
{
    struct tc t;
    tc_init(&t, 3, NULL);
    uint64_t ino = tc_create(&t, "f", 2);
    struct tc_alloc a;
    CHECK_OK(tc_alloc(&t, ino, 0, 500, &a));
    uint8_t data[4096] = {5};
    int ok[CAIRN_GOAL_MAX];
    tc_write(&t, &a, 0, 0, data, sizeof data, ok);
    CHECK(ok[0] && ok[1]);
    for (uint8_t i = 0; i < a.n; i++)
        TC_WAIT(!tc_holds(&t, tc_slot(&t, a.reps[i]), a.chunk), "staged copy dropped");
    /* the late piece (a slow writer, a delayed forward) */
    tc_write(&t, &a, 0, CAIRN_CHUNK_IO_MAX, data, sizeof data, ok);
    CHECK(!ok[0] && !ok[1]);
    for (uint8_t i = 0; i < a.n; i++) {
        int s = tc_slot(&t, a.reps[i]);
        CHECK(!tc_holds(&t, s, a.chunk));
        TC_WAIT(tc_chunk_info(&t, s).dropped_refused >= 1, "refusal counted"); /* published later */
    }
    /* a new allocation of the same chunk index is writable as usual */
    struct tc_alloc b;
    CHECK_OK(tc_alloc(&t, ino, 0, 60000, &b));
    CHECK(b.version > a.version || b.chunk != a.chunk);
    tc_write(&t, &b, 0, 0, data, sizeof data, ok);
    CHECK(ok[0] && ok[1]);
    CHECK_OK(tc_commit(&t, ino, 0, &b, sizeof data, b.reps, b.n));
    /* A rewrite of that chunk aborted at its deadline, then retried: the
     * retry (a fresh version number, or the same one from a metadata group
     * that reuses committed + 1) must be writable. */
    struct tc_alloc c, d;
    for (uint8_t i = 0; i < b.n; i++) /* the COMMIT of b done everywhere */
        TC_WAIT(tc_chunk_info(&t, tc_slot(&t, b.reps[i])).cmds_done >= 1, "commit executed");
    CHECK_OK(tc_alloc(&t, ino, 0, 500, &c));
    tc_write(&t, &c, b.version, 0, data, 100, ok);
    CHECK(ok[0] && ok[1]);
    for (uint8_t i = 0; i < c.n; i++)
        TC_WAIT(!staged_on(&t, tc_slot(&t, c.reps[i]), c.chunk, c.version), "rewrite dropped");
    int rc;
    TC_WAIT((rc = tc_alloc(&t, ino, 0, 60000, &d)) != CAIRN_EBUSY, "the aborted write ended");
    CHECK_OK(rc);
    CHECK_EQ_U64(d.chunk, c.chunk);
    CHECK(d.version >= c.version);
    tc_write(&t, &d, b.version, 0, data, 200, ok);
    CHECK(ok[0] && ok[1]);
    CHECK_OK(tc_commit(&t, ino, 0, &d, sizeof data, d.reps, d.n));
    tc_free(&t);
}

/* A listener that never answers (not even the handshake): a stalled replica. */
static int mute_listener(char *addr, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(fd, 16) == 0);
    socklen_t sl = sizeof sa;
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    snprintf(addr, cap, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    return fd;
}

/* The last replica of a chain stalls: the one above it blames it (and only
 * it) and the head answers well inside the client's 10 s request timeout,
 * naming the replicas that acked. */
TEST_T(stalled_replica_blamed_by_the_one_above, 60)
{
    struct tc t;
    tc_init(&t, 2, NULL);
    char mute[64];
    int fd = mute_listener(mute, sizeof mute);
    const char *b = t.chunk[1].addr;
    struct wire_chunk_write m;
    memset(&m, 0, sizeof m);
    m.chunk = 4242;
    m.version = 1;
    m.flags = WIRE_CHUNK_WRITE_FLUSH;
    m.n_chain = 2;
    m.chain[0] = (struct wire_bytes){(const uint8_t *)b, (uint32_t)strlen(b)};
    m.chain[1] = (struct wire_bytes){(const uint8_t *)mute, (uint32_t)strlen(mute)};
    uint8_t data[4096] = {1};
    m.data = (struct wire_bytes){data, sizeof data};
    struct cairn_buf req, rep;
    buf_init(&req, 0);
    buf_init(&rep, 0);
    CHECK_OK(wire_chunk_write_encode(&req, &m));
    uint16_t type;
    CHECK_OK(rpc_call_sync(tc_peer(&t, t.chunk[0].addr), WIRE_CHUNK_WRITE, req.data, req.len,
                           CAIRN_CHUNK_CLIENT_IO_MS_MIN, &type, &rep));
    struct wire_chunk_write_reply r;
    CHECK_OK(wire_chunk_write_reply_decode(rep.data, rep.len, &r));
    CHECK_EQ(r.n, 3);
    CHECK_EQ(r.status[0], 0);
    CHECK_EQ(r.status[1], 0);
    CHECK_EQ(r.status[2], CAIRN_UNAVAILABLE);
    buf_free(&req);
    buf_free(&rep);
    close(fd);
    tc_free(&t);
}
