/* bench_raft.c: entries committed per second by a 3-node Raft core cluster
 * in one process, messages handed from core to core in memory, no I/O (so
 * the number is the core's own cost, an upper bound the shell's disk and
 * network bring down). Proposals per ready cycle: 1 and 64. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "raft/raft.h"

#define NODES 3
#define PAYLOAD 128
#define COMPACT_EVERY 20000u
#define RUN_SECONDS 2.5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench {
    struct raft *n[NODES + 1];
    uint64_t applied[NODES + 1];
    uint64_t msgs;
};

/* Run every node's ready cycle until nothing is pending: messages go
 * straight into the receiver's raft_step (it copies what it keeps). */
static void pump(struct bench *b)
{
    int busy = 1;
    while (busy) {
        busy = 0;
        for (int i = 1; i <= NODES; i++) {
            if (!raft_has_ready(b->n[i]))
                continue;
            busy = 1;
            struct raft_ready rd;
            raft_ready(b->n[i], &rd);
            for (size_t k = 0; k < rd.n_msgs; k++)
                raft_step(b->n[rd.msgs[k].to], &rd.msgs[k]);
            b->msgs += rd.n_msgs;
            if (rd.n_committed)
                b->applied[i] = rd.committed[rd.n_committed - 1].index;
            raft_advance(b->n[i], &rd);
            struct raft_status st;
            raft_get_status(b->n[i], &st);
            if (b->applied[i] >= st.snapshot_index + COMPACT_EVERY)
                raft_snapshot_taken(b->n[i], b->applied[i], "state", 5);
        }
    }
}

static void bench_batch(int batch)
{
    struct bench b;
    memset(&b, 0, sizeof b);
    struct raft_restore rs;
    memset(&rs, 0, sizeof rs);
    for (int v = 1; v <= NODES; v++)
        rs.snapshot_meta.conf.voters[rs.snapshot_meta.conf.n_voters++] = (uint64_t)v;
    for (int i = 1; i <= NODES; i++) {
        struct raft_config cfg = {
            .id = (uint64_t)i,
            .election_ticks = 10,
            .heartbeat_ticks = 1,
            .seed = (uint64_t)i,
            .pre_vote = 1,
            .check_quorum = 1,
        };
        b.n[i] = raft_new(&cfg, &rs);
    }
    raft_campaign(b.n[1]);
    pump(&b);
    uint8_t payload[PAYLOAD];
    memset(payload, 'x', sizeof payload);
    uint64_t start_commit = b.applied[1];
    uint64_t rounds = 0;
    double t0 = now_s(), t1 = t0;
    while (t1 - t0 < RUN_SECONDS) {
        for (int k = 0; k < batch; k++)
            raft_propose(b.n[1], payload, sizeof payload, NULL);
        pump(&b);
        rounds++;
        if ((rounds & 63) == 0)
            t1 = now_s();
    }
    t1 = now_s();
    uint64_t committed = b.applied[1] - start_commit;
    printf("%-6d %12.0f %12.0f %14.2f\n", batch, (double)committed / (t1 - t0),
           (double)rounds / (t1 - t0), (double)b.msgs / (double)(committed ? committed : 1));
    for (int i = 1; i <= NODES; i++)
        raft_free(b.n[i]);
}

int main(void)
{
    printf("raft core, %d nodes in one process, %d-byte entries, no I/O\n", NODES, PAYLOAD);
    printf("%-6s %12s %12s %14s\n", "batch", "entries/s", "cycles/s", "msgs/entry");
    bench_batch(1);
    bench_batch(64);
    return 0;
}
