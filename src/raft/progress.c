/* progress.c: the leader's view of one member (etcd's tracker.Progress).
 *
 * probe:     the match is unknown; one append at a time (probe_sent pauses
 *            until an answer or a heartbeat response) walks next back.
 * replicate: the follower matched; appends are sent optimistically (next
 *            moves at send time) up to max_inflight_msgs unanswered ones.
 * snapshot:  a snapshot was sent; nothing else until it is acknowledged.
 */
#include <string.h>

#include "common/assert.h"
#include "raft/raft_int.h"

static void raft_ins_reset(struct inflights *in)
{
    in->start = 0;
    in->count = 0;
}

static void raft_ins_add(struct inflights *in, uint64_t index)
{
    CAIRN_ASSERT(in->count < in->size);
    in->buf[(in->start + in->count) % in->size] = index;
    in->count++;
}

int raft_ins_full(const struct inflights *in) { return in->count >= in->size; }

/* An acknowledgement of index frees every append that ended at or below it. */
void raft_ins_free_le(struct inflights *in, uint64_t index)
{
    while (in->count > 0 && in->buf[in->start] <= index) {
        in->start = (in->start + 1) % in->size;
        in->count--;
    }
    if (in->count == 0)
        in->start = 0;
}

void raft_ins_free_first(struct inflights *in)
{
    if (in->count == 0)
        return;
    in->start = (in->start + 1) % in->size;
    in->count--;
}

void raft_pr_init(struct raft_progress *pr, uint64_t id, int learner, uint64_t next,
                  uint32_t max_inflight)
{
    memset(pr, 0, sizeof *pr);
    pr->id = id;
    pr->learner = (uint8_t)(learner != 0);
    pr->state = PR_PROBE;
    pr->next = next;
    pr->ins.size = max_inflight;
}

void raft_pr_become_probe(struct raft_progress *pr)
{
    /* After a snapshot, the follower holds at least the snapshot. */
    if (pr->state == PR_SNAPSHOT) {
        uint64_t ps = pr->pending_snapshot;
        pr->next = CAIRN_MAX(pr->match + 1, ps + 1);
    } else {
        pr->next = pr->match + 1;
    }
    pr->state = PR_PROBE;
    pr->probe_sent = 0;
    pr->pending_snapshot = 0;
    raft_ins_reset(&pr->ins);
}

void raft_pr_become_replicate(struct raft_progress *pr)
{
    pr->state = PR_REPLICATE;
    pr->next = pr->match + 1;
    pr->probe_sent = 0;
    pr->pending_snapshot = 0;
    raft_ins_reset(&pr->ins);
}

void raft_pr_become_snapshot(struct raft_progress *pr, uint64_t snap_index)
{
    pr->state = PR_SNAPSHOT;
    pr->pending_snapshot = snap_index;
    pr->snap_elapsed = 0;
    pr->probe_sent = 0;
    raft_ins_reset(&pr->ins);
}

void raft_pr_snapshot_failed(struct raft_progress *pr)
{
    pr->pending_snapshot = 0;
    raft_pr_become_probe(pr);
}

/* A successful append answer for index n; 1 if it taught us something. */
int raft_pr_maybe_update(struct raft_progress *pr, uint64_t n)
{
    int updated = 0;
    if (pr->match < n) {
        pr->match = n;
        updated = 1;
        pr->probe_sent = 0;
    }
    if (pr->next < n + 1)
        pr->next = n + 1;
    return updated;
}

/* Bookkeeping after sending an append whose last entry is `last`. */
void raft_pr_sent_entries(struct raft_progress *pr, uint64_t last)
{
    if (pr->state == PR_REPLICATE) {
        pr->next = last + 1;
        raft_ins_add(&pr->ins, last);
    } else {
        pr->probe_sent = 1;
    }
}

/* A rejection of the append after `rejected`; match_hint is where the
 * follower's log may match. Returns 0 for a stale rejection (ignored). */
int raft_pr_maybe_decr_to(struct raft_progress *pr, uint64_t rejected, uint64_t match_hint)
{
    if (pr->state == PR_REPLICATE) {
        if (rejected <= pr->match)
            return 0;
        pr->next = pr->match + 1;
        return 1;
    }
    if (pr->next == 0 || pr->next - 1 != rejected)
        return 0;
    pr->next = CAIRN_MAX(CAIRN_MIN(rejected, match_hint + 1), 1);
    pr->probe_sent = 0;
    return 1;
}

int raft_pr_is_paused(const struct raft_progress *pr)
{
    switch (pr->state) {
    case PR_PROBE:
        return pr->probe_sent;
    case PR_REPLICATE:
        return raft_ins_full(&pr->ins);
    default:
        return 1;
    }
}

const char *raft_pr_state_name(int state)
{
    switch (state) {
    case PR_PROBE:
        return "probe";
    case PR_REPLICATE:
        return "replicate";
    case PR_SNAPSHOT:
        return "snapshot";
    default:
        return "?";
    }
}
