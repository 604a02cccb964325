/* test_chunkd_repair.c: the cluster repairing itself (docs/chunkd.md,
 * "Leader side"), chunk servers and metadata servers in one process: a dead
 * server's chunks are copied back to their goal, a corrupt copy (found by a
 * read or by the scrubber) is replaced from a good one, a drained server is
 * emptied, truncation cuts the copies, and all of it survives a change of
 * metadata leader. */
#include "test_chunkd_util.h"

static uint8_t *pattern(size_t len)
{
    uint8_t *p = malloc(len);
    CHECK(p != NULL);
    prng_fill(test_rng(), p, len);
    return p;
}

struct tfile {
    uint64_t ino;
    struct tc_alloc a;
    uint8_t *data;
    size_t len;
};

static void put_files(struct tc *t, const char *prefix, struct tfile *f, int n, uint8_t goal,
                      size_t max_len)
{
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s%d", prefix, i);
        f[i].len = 1 + prng_below(test_rng(), max_len);
        f[i].data = pattern(f[i].len);
        f[i].ino = tc_put(t, name, goal, f[i].data, f[i].len, &f[i].a);
    }
}

/* Every file has goal live replicas and each of them serves the right bytes. */
static int all_at_goal(struct tc *t, struct tfile *f, int n, int goal)
{
    for (int i = 0; i < n; i++) {
        struct meta_chunk_info ci = tc_chunk_of(t, f[i].ino, 0);
        if (tc_live_replicas(t, &ci) < goal)
            return 0;
    }
    return 1;
}

static void check_contents(struct tc *t, struct tfile *f, int n)
{
    for (int i = 0; i < n; i++) {
        struct meta_chunk_info ci = tc_chunk_of(t, f[i].ino, 0);
        for (uint8_t r = 0; r < ci.n_replicas; r++) {
            if (tc_slot(t, ci.replicas[r]) < 0)
                continue;
            CHECK_OK(tc_read_equals(t, tc_addr_of(t, ci.replicas[r]), ci.id, ci.version, f[i].data,
                                    f[i].len));
        }
    }
}

/* The first chunk of ino has two replicas again, none on node (its bad
 * copy there replaced). */
static int replaced(struct tc *t, uint64_t ino, uint32_t node)
{
    struct meta_chunk_info ci = tc_chunk_of(t, ino, 0);
    return ci.n_replicas == 2 && ci.replicas[0] != node && ci.replicas[1] != node;
}

static void free_files(struct tfile *f, int n)
{
    for (int i = 0; i < n; i++)
        free(f[i].data);
}

TEST_T(dead_server_chunks_back_to_goal, 120)
{
    struct tc t;
    tc_init(&t, 4, NULL);
    struct tfile f[20];
    put_files(&t, "f", f, 20, 2, 200000);
    /* kill the server holding the most copies */
    int count[TC_CHUNKS_MAX] = {0}, victim = 0;
    for (int i = 0; i < 20; i++)
        for (uint8_t r = 0; r < f[i].a.n; r++)
            count[tc_slot(&t, f[i].a.reps[r])]++;
    for (int i = 1; i < 4; i++)
        if (count[i] > count[victim])
            victim = i;
    CHECK(count[victim] > 0);
    uint32_t dead = tc_chunk_info(&t, victim).node;
    tc_chunk_stop(&t, victim);
    /* every file stays readable from a live copy meanwhile */
    for (int i = 0; i < 20; i++) {
        int readable = 0;
        for (uint8_t r = 0; r < f[i].a.n; r++)
            if (f[i].a.reps[r] != dead &&
                tc_read_equals(&t, tc_addr_of(&t, f[i].a.reps[r]), f[i].a.chunk, f[i].a.version,
                               f[i].data, f[i].len) == 0)
                readable = 1;
        CHECKF(readable, "file %d unreadable", i);
    }
    TC_WAIT(tc_node_state(&t, dead) == META_NODE_DOWN, "node marked down");
    TC_WAIT(all_at_goal(&t, f, 20, 2), "every chunk back at its goal");
    check_contents(&t, f, 20);
    /* the dead server left the replica lists once the goal was met */
    for (int i = 0; i < 20; i++) {
        struct meta_chunk_info ci;
        TC_WAIT((ci = tc_chunk_of(&t, f[i].ino, 0), ci.n_replicas == 2), "dead copy removed");
        for (uint8_t r = 0; r < ci.n_replicas; r++)
            CHECK(ci.replicas[r] != dead);
    }
    free_files(f, 20);
    tc_free(&t);
}

TEST_T(corrupt_copy_found_by_read_is_replaced, 120)
{
    struct tc t;
    tc_init(&t, 3, NULL);
    struct tfile f[1];
    put_files(&t, "f", f, 1, 2, 300000);
    int bad = tc_slot(&t, f[0].a.reps[0]);
    uint32_t bad_node = f[0].a.reps[0];
    tc_corrupt(&t, bad, f[0].a.chunk, f[0].a.version, 100);
    uint8_t buf[256];
    size_t got;
    /* the bad block is never returned; the other copy serves the bytes */
    CHECK_EQ(tc_read(&t, t.chunk[bad].addr, f[0].a.chunk, f[0].a.version, 0, 256, buf, &got),
             CAIRN_CORRUPT);
    CHECK_OK(tc_read_equals(&t, tc_addr_of(&t, f[0].a.reps[1]), f[0].a.chunk, f[0].a.version,
                            f[0].data, f[0].len));
    /* the server reported it: the copy leaves the list, a good one replaces it */
    TC_WAIT(replaced(&t, f[0].ino, bad_node), "corrupt copy replaced");
    check_contents(&t, f, 1);
    CHECK(tc_chunk_info(&t, bad).bad_found >= 1);
    free_files(f, 1);
    tc_free(&t);
}

TEST_T(scrubber_finds_corruption_on_its_own, 120)
{
    struct tc t;
    tc_init(&t, 3, NULL);
    struct tfile f[3];
    put_files(&t, "f", f, 3, 2, 200000);
    /* restart one holder with a fast scrubber */
    int s = tc_slot(&t, f[1].a.reps[0]);
    uint32_t node = f[1].a.reps[0];
    tc_corrupt(&t, s, f[1].a.chunk, f[1].a.version, f[1].len - 1);
    tc_chunk_stop(&t, s);
    tc_set(&t.chunk[s].cfg, "scrub_rate", "100000000");
    tc_set(&t.chunk[s].cfg, "scrub_ms", "50");
    tc_chunk_start(&t, s);
    tc_wait_registered(&t, s);
    TC_WAIT(tc_chunk_info(&t, s).bad_found >= 1, "the scrubber found it");
    TC_WAIT(replaced(&t, f[1].ino, node), "corrupt copy replaced");
    TC_WAIT(all_at_goal(&t, f, 3, 2), "goal met");
    check_contents(&t, f, 3);
    /* The other copies on that server are fine: the scrubber may report the
     * bad copy more than once before it is deleted (it wraps every 50 ms),
     * but no other file loses its replica there. */
    for (int k = 0; k < 3; k += 2) {
        int held = 0;
        for (int r = 0; r < f[k].a.n; r++)
            held |= f[k].a.reps[r] == node;
        if (!held)
            continue;
        struct meta_chunk_info other = tc_chunk_of(&t, f[k].ino, 0);
        int still = 0;
        for (uint32_t r = 0; r < other.n_replicas; r++)
            still |= other.replicas[r] == node;
        CHECKF(still, "file %d lost its good copy on node %u", k, node);
    }
    free_files(f, 3);
    tc_free(&t);
}

TEST_T(drained_server_is_emptied, 120)
{
    struct tc t;
    tc_init(&t, 4, NULL);
    struct tfile f[10];
    put_files(&t, "f", f, 10, 2, 100000);
    int s = tc_slot(&t, f[0].a.reps[0]);
    uint32_t node = f[0].a.reps[0];
    char id[16];
    snprintf(id, sizeof id, "%u", node);
    char servers[256];
    snprintf(servers, sizeof servers, "%s,%s,%s", t.meta_addrs[0], t.meta_addrs[1],
             t.meta_addrs[2]);
    char *argv[] = {"--id", id, "--servers", servers, "--secret", t.secret_path};
    CHECK_EQ(chunkd_drain_main(6, argv), 0);
    TC_WAIT(tc_node_state(&t, node) == META_NODE_DRAINING, "draining");
    for (int i = 0; i < 10; i++) {
        struct meta_chunk_info ci;
        TC_WAIT((ci = tc_chunk_of(&t, f[i].ino, 0),
                 tc_live_replicas(&t, &ci) == 2 && ci.n_replicas == 2 && ci.replicas[0] != node &&
                     ci.replicas[1] != node),
                "chunk moved off the drained server");
        TC_WAIT(!tc_holds(&t, s, f[i].a.chunk), "copy deleted on the drained server");
    }
    check_contents(&t, f, 10);
    /* new chunks never go there */
    struct tfile g[4];
    put_files(&t, "g", g, 4, 3, 1000);
    for (int i = 0; i < 4; i++)
        for (uint8_t r = 0; r < g[i].a.n; r++)
            CHECK(g[i].a.reps[r] != node);
    free_files(f, 10);
    free_files(g, 4);
    tc_free(&t);
}

TEST_T(truncate_cuts_every_copy, 90)
{
    struct tc t;
    tc_init(&t, 2, NULL);
    struct tfile f[1];
    f[0].len = 300000;
    f[0].data = pattern(f[0].len);
    f[0].ino = tc_put(&t, "f", 2, f[0].data, f[0].len, &f[0].a);
    struct meta_hdr h = tc_hdr();
    struct meta_attr set = {.size = 1000};
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_setattr(&t.cmd, &h, f[0].ino, META_SET_SIZE, &set));
    CHECK_OK(tc_mutate(&t));
    for (int i = 0; i < 2; i++) {
        uint8_t buf[4096];
        size_t got = 0;
        TC_WAIT(tc_read(&t, t.chunk[i].addr, f[0].a.chunk, f[0].a.version, 0, 4096, buf, &got) ==
                        0 &&
                    got == 1000,
                "copy cut to 1000 bytes");
        CHECK_MEM_EQ(buf, f[0].data, 1000);
    }
    free_files(f, 1);
    tc_free(&t);
}

/* The leader changes while a server is dead: the new leader marks it down
 * and restores the goal from the same soft state (heartbeats, reports). */
TEST_T(repair_survives_leader_change, 120)
{
    struct tc t;
    tc_init(&t, 4, NULL);
    struct tfile f[8];
    put_files(&t, "f", f, 8, 2, 100000);
    int victim = tc_slot(&t, f[0].a.reps[0]);
    int leader = -1;
    for (int i = 0; i < TC_META; i++) {
        struct metad_info in;
        metad_get_info(t.meta[i].d, &in);
        if (in.role == RAFT_LEADER)
            leader = i;
    }
    CHECK(leader >= 0);
    tc_chunk_stop(&t, victim);
    tc_meta_stop(&t, leader);
    TC_WAIT(all_at_goal(&t, f, 8, 2), "goal restored under the new leader");
    check_contents(&t, f, 8);
    /* writes go on */
    struct tfile g[2];
    put_files(&t, "g", g, 2, 2, 5000);
    check_contents(&t, g, 2);
    free_files(f, 8);
    free_files(g, 2);
    tc_free(&t);
}
