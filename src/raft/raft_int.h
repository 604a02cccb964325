/*
 * raft_int.h: internals of the pure Raft core, shared by the files of
 * src/raft only (no other module includes this header).
 *
 * Files: log.c (payload blobs, snapshots objects, the in-memory log),
 * progress.c (per-follower replication state and the inflight window),
 * conf.c (configurations and membership changes), raft.c (roles, terms,
 * elections, the follower side), replicate.c (the leader side: appends,
 * heartbeats, commitment, ReadIndex, transfer), ready.c (outbox, ready and
 * advance, status).
 *
 * Memory: entry payloads and snapshots are reference counted. The log holds
 * one reference to each payload; every message in the outbox and every
 * array of a ready batch holds another, so a payload stays valid until
 * raft_advance() even if the log truncates or compacts it meanwhile.
 * Allocation failure aborts (the core cannot make progress without memory,
 * and a half-applied step would be worse).
 *
 * Threads: one thread owns a struct raft at a time; nothing here is global.
 */
#ifndef CAIRN_RAFT_INT_H
#define CAIRN_RAFT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/prng.h"
#include "raft/raft.h"

/* --- memory ------------------------------------------------------------ */

void *raft_xmalloc(size_t n);
void *raft_xcalloc(size_t n, size_t size);
void *raft_xrealloc(void *p, size_t n);

/* A payload of len bytes copied from data; NULL when len is 0. */
uint8_t *raft_blob_new(const void *data, size_t len);
void raft_blob_ref(uint8_t *p);   /* NULL-safe */
void raft_blob_unref(uint8_t *p); /* NULL-safe; frees on the last reference */

/* A snapshot shared by the core, messages and ready batches. */
struct raft_snap_obj {
    uint32_t refs;
    struct raft_snapshot snap; /* snap.data is a blob */
};
struct raft_snap_obj *raft_snap_new(const struct raft_snapshot_meta *meta, const void *data,
                                    size_t len);
void raft_snap_ref(struct raft_snap_obj *s);
void raft_snap_unref(struct raft_snap_obj *s); /* NULL-safe */
struct raft_snap_obj *raft_snap_of(struct raft_snapshot *snap);

/* --- the in-memory log --------------------------------------------------- */

/* Entries snap_index+1 .. snap_index+n live in ents[0..n). Indexes below
 * are compacted into a snapshot (only its index and term are known here). */
struct raft_log {
    struct raft_entry *ents;
    size_t n;
    size_t cap;
    uint64_t snap_index;
    uint64_t snap_term;
    uint64_t committed;
    uint64_t applying; /* last index handed to the shell to apply */
    uint64_t applied;  /* last index the shell reported applied (advance) */
    uint64_t unstable; /* first index not yet handed out in a ready batch */
};

void raft_log_init(struct raft_log *l, uint64_t snap_index, uint64_t snap_term);
void raft_log_free(struct raft_log *l);
uint64_t raft_log_last_index(const struct raft_log *l);
uint64_t raft_log_last_term(const struct raft_log *l);
/* Term at i, or 0 when unknown (compacted below the snapshot, or past the end). */
uint64_t raft_log_term(const struct raft_log *l, uint64_t i);
int raft_log_has(const struct raft_log *l, uint64_t i); /* snap_index <= i <= last */
int raft_log_match_term(const struct raft_log *l, uint64_t i, uint64_t term);
struct raft_entry *raft_log_entry(const struct raft_log *l, uint64_t i); /* in memory */
/* Append copies of e[0..n) (payloads copied), e[0].index == last + 1. */
void raft_log_append_copies(struct raft_log *l, const struct raft_entry *e, size_t n);
/* Append one entry whose payload blob the log takes over. */
void raft_log_append_owned(struct raft_log *l, const struct raft_entry *e);
/* Drop entries with index >= i (i > committed). */
void raft_log_truncate_from(struct raft_log *l, uint64_t i);
/* First index of e[] that is not in the log with the same term, or 0. */
uint64_t raft_log_find_conflict(const struct raft_log *l, const struct raft_entry *e, size_t n);
/* The largest index <= i whose term is <= term (or the snapshot index). */
uint64_t raft_log_find_conflict_by_term(const struct raft_log *l, uint64_t i, uint64_t term);
/* Follower append: 1 and *last_new if prev matched (conflicts replaced), else 0. */
int raft_log_maybe_append(struct raft_log *l, uint64_t prev_index, uint64_t prev_term,
                          const struct raft_entry *e, size_t n, uint64_t *last_new);
/* Is a log ending at (index, term) at least as up to date as ours (§5.4.1)? */
int raft_log_is_up_to_date(const struct raft_log *l, uint64_t index, uint64_t term);
/* Forget entries up to index (kept in a snapshot); index <= last. */
void raft_log_compact(struct raft_log *l, uint64_t index);
/* Drop everything; the log restarts after a snapshot at (index, term). */
void raft_log_reset(struct raft_log *l, uint64_t index, uint64_t term);
/* Number of entries from lo (in memory) within the count and byte bounds;
 * at least one if lo <= last. */
size_t raft_log_batch(const struct raft_log *l, uint64_t lo, uint32_t max_n, uint32_t max_bytes);

/* --- configurations ------------------------------------------------------ */

int raft_conf_is_voter(const struct raft_conf *c, uint64_t id);
int raft_conf_is_learner(const struct raft_conf *c, uint64_t id);
int raft_conf_contains(const struct raft_conf *c, uint64_t id);
/* 0 if a change is valid against c; CAIRN_EINVAL or CAIRN_LIMIT if not. */
int raft_conf_check_change(const struct raft_conf *c, const struct raft_conf_change *cc);
/* Apply a valid change (a no-op for an invalid one, identically everywhere). */
void raft_conf_apply_change(struct raft_conf *c, const struct raft_conf_change *cc);
/* 1 if a configuration from the network is well formed. */
int raft_conf_is_valid(const struct raft_conf *c);
/* Apply the CONF entries of the log in (from, to] to c. */
void raft_conf_replay(struct raft_conf *c, const struct raft_log *l, uint64_t from, uint64_t to);

/* --- progress of one member, tracked by the leader ---------------------- */

enum raft_pr_state {
    PR_PROBE = 0,     /* one append at a time until the match is found */
    PR_REPLICATE = 1, /* match known: optimistic pipelining of appends */
    PR_SNAPSHOT = 2,  /* a snapshot is on its way: nothing else is sent */
};

/* Ring of the last index of each append in flight to one follower. */
struct inflights {
    uint32_t start;
    uint32_t count;
    uint32_t size;
    uint64_t buf[CAIRN_RAFT_INFLIGHT_MAX];
};

struct raft_progress {
    uint64_t id;
    uint8_t learner;
    uint8_t state;         /* enum raft_pr_state */
    uint8_t probe_sent;    /* probe: an append is out, wait for its answer */
    uint8_t recent_active; /* heard from it in this election timeout */
    int8_t vote;           /* campaigns: 1 granted, -1 rejected, 0 unknown */
    uint64_t match;
    uint64_t next;
    uint64_t pending_snapshot; /* snapshot state: index of the snapshot sent */
    uint64_t read_ack;         /* highest ReadIndex round it acknowledged */
    uint32_t snap_elapsed;     /* snapshot state: ticks since it was sent */
    /* Removed leader: first heartbeat round that told this member the
     * commit of the removal (0: none yet); known once read_ack reaches it. */
    uint64_t removal_round;
    struct inflights ins;
};

void raft_pr_init(struct raft_progress *pr, uint64_t id, int learner, uint64_t next,
                  uint32_t max_inflight);
void raft_pr_become_probe(struct raft_progress *pr);
void raft_pr_become_replicate(struct raft_progress *pr);
void raft_pr_become_snapshot(struct raft_progress *pr, uint64_t snap_index);
/* The snapshot was lost or refused: probe again from the match. */
void raft_pr_snapshot_failed(struct raft_progress *pr);
int raft_pr_maybe_update(struct raft_progress *pr, uint64_t n);
void raft_pr_sent_entries(struct raft_progress *pr, uint64_t last);
int raft_pr_maybe_decr_to(struct raft_progress *pr, uint64_t rejected, uint64_t match_hint);
int raft_pr_is_paused(const struct raft_progress *pr);
void raft_ins_free_le(struct inflights *in, uint64_t index);
void raft_ins_free_first(struct inflights *in);
int raft_ins_full(const struct inflights *in);
const char *raft_pr_state_name(int state);

/* --- the core ------------------------------------------------------------ */

/* A ReadIndex request: seq 0 while it waits for the leader to commit an
 * entry of its term; then the round number whose acknowledgement by a
 * quorum confirms it. */
struct read_req {
    uint64_t ctx;
    uint64_t index;
    uint64_t seq;
};

enum campaign_kind { CAMPAIGN_PRE, CAMPAIGN_ELECTION, CAMPAIGN_TRANSFER };

struct raft {
    struct raft_config cfg;
    uint64_t id;
    struct prng prng;

    uint64_t term;
    uint64_t vote;
    uint64_t leader;
    enum raft_role role;

    struct raft_log log;
    struct raft_conf conf;     /* the configuration as of log.committed */
    struct raft_progress *prs; /* conf members, voters then learners */
    uint32_t n_prs;

    uint32_t election_elapsed;
    uint32_t heartbeat_elapsed;
    uint32_t randomized_timeout;

    uint64_t lead_transferee;
    uint64_t pending_conf_index; /* leader: last CONF entry in the log */
    /* Leader that committed its own removal (index of that CONF entry; 0
     * otherwise): it leads on without proposals until the new voters know. */
    uint64_t removed_index;
    uint8_t bcast_pending; /* leader: new entries to send at ready */
    uint8_t bcast_commit;  /* leader: the commit index moved */

    struct read_req *reads;
    size_t n_reads;
    size_t cap_reads;
    uint64_t read_seq;

    /* Output accumulated until the next ready batch. */
    struct raft_msg *out;
    size_t n_out;
    size_t cap_out;
    struct raft_read_state *rs;
    size_t n_rs;
    size_t cap_rs;

    struct raft_snap_obj *snap;      /* latest snapshot, served to lagging followers */
    struct raft_snap_obj *install;   /* received snapshot the shell must install */
    struct raft_conf snap_conf;      /* the configuration at log.snap_index */
    struct raft_hard_state hs_saved; /* last hard state handed out */
    enum raft_role ss_role;          /* last soft state handed out */
    uint64_t ss_leader;

    int ready_out;        /* a ready batch is out, awaiting raft_advance() */
    struct raft_ready rd; /* that batch */
};

/* raft.c */
void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader);
void raft_commit_to(struct raft *r, uint64_t index);
struct raft_progress *raft_progress(struct raft *r, uint64_t id);
int raft_promotable(const struct raft *r);
uint32_t raft_quorum(const struct raft *r);

/* replicate.c (leader side) */
void raft_leader_become(struct raft *r);
int raft_leader_send_append(struct raft *r, struct raft_progress *pr, int send_if_empty);
void raft_leader_bcast_append(struct raft *r, int send_if_empty);
void raft_leader_bcast_heartbeat(struct raft *r, uint64_t ctx);
void raft_leader_step(struct raft *r, const struct raft_msg *m);
int raft_leader_maybe_commit(struct raft *r);
void raft_leader_tick(struct raft *r);
void raft_leader_reads_release(struct raft *r);
void raft_leader_abort_transfer(struct raft *r);
void raft_leader_removed(struct raft *r, uint64_t conf_index);

/* ready.c */
struct raft_msg *raft_out_push(struct raft *r, uint8_t type, uint64_t to);
void raft_out_free_msg(struct raft_msg *m);
void raft_rs_push(struct raft *r, uint64_t ctx, uint64_t index);

#endif
