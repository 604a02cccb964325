/*
 * raft.h: the pure Raft core of cairn (DESIGN.md §4), in the style of etcd's
 * raft: a deterministic state machine with no I/O, no clock, no threads and
 * no randomness of its own. It links against libc and src/common's pure
 * parts only (a unit test checks the object files' undefined symbols).
 *
 * Driving the core (one thread owns a struct raft at a time):
 *
 *   r = raft_new(&cfg, &restore)       from persisted state (or empty)
 *   loop:
 *     raft_tick(r)                      every tick interval (time passes in)
 *     raft_step(r, &msg)                every message received from a peer
 *     raft_propose(r, data, len, &idx)  on the leader, for client commands
 *     raft_read_index(r, ctx)           on the leader, for linearizable reads
 *     if (raft_has_ready(r)) {
 *         raft_ready(r, &rd);
 *         1. if rd.snapshot: persist it, install it in the state machine,
 *            and drop every stored entry (the log restarts after it);
 *         2. persist rd.entries (first delete any stored entries with index
 *            >= rd.entries[0].index: they conflict and are replaced);
 *         3. if rd.has_hard_state: persist rd.hard_state (atomically);
 *         4. only after 1-3 are durable: send rd.msgs;
 *         5. apply rd.committed in order (they are durable on a quorum);
 *         6. serve each rd.reads[i] once applied index >= its index;
 *         raft_advance(r, &rd);
 *     }
 * Everything in a ready batch (entries, message payloads, snapshot bytes)
 * is owned by the core and stays valid until raft_advance(). raft_step()
 * and raft_propose() copy what they keep; the caller keeps its buffers.
 *
 * Randomness: the randomized election timeout is drawn from a generator
 * seeded by cfg.seed, so the caller (or the simulator) decides it.
 *
 * Errors: raft_propose / raft_read_index / raft_propose_conf /
 * raft_transfer_leader return CAIRN_NOTLEADER on a non-leader (and on a
 * leader that committed its own removal: it stays RAFT_LEADER only until
 * the new voters know of it, see docs/raft.md "Membership"),
 * CAIRN_EBUSY while a leadership transfer or a membership change is pending,
 * CAIRN_TOOBIG above the proposal limit. Messages with a bad shape (unknown
 * sender, impossible indexes) are dropped, never asserted on: they come from
 * the network. Broken internal invariants abort (CAIRN_ASSERT).
 */
#ifndef CAIRN_RAFT_H
#define CAIRN_RAFT_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

#define RAFT_NONE 0u /* no node: ids are nonzero */

enum raft_role {
    RAFT_FOLLOWER = 0,
    RAFT_PRE_CANDIDATE = 1,
    RAFT_CANDIDATE = 2,
    RAFT_LEADER = 3,
};

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 0, /* application data (empty: a leader's no-op) */
    RAFT_ENTRY_CONF = 1,   /* membership change; data = encoded raft_conf_change */
};

struct raft_entry {
    uint64_t term;
    uint64_t index;
    uint8_t type;
    uint32_t len;
    uint8_t *data; /* len bytes (NULL if 0) */
};

struct raft_hard_state {
    uint64_t term;
    uint64_t vote; /* RAFT_NONE if none in this term */
    uint64_t commit;
};

/* A configuration: voters and learners (non-voting members that receive
 * the log). A node is in at most one of the two lists. */
struct raft_conf {
    uint32_t n_voters;
    uint32_t n_learners;
    uint64_t voters[CAIRN_RAFT_NODES_MAX];
    uint64_t learners[CAIRN_RAFT_NODES_MAX];
};

enum raft_conf_op {
    RAFT_CONF_ADD_VOTER = 0,   /* a new voter (or promote a learner) */
    RAFT_CONF_ADD_LEARNER = 1, /* a new learner */
    RAFT_CONF_REMOVE = 2,      /* remove a voter or learner */
};

struct raft_conf_change {
    uint8_t op; /* enum raft_conf_op */
    uint64_t node;
};

struct raft_snapshot_meta {
    uint64_t index; /* last index the snapshot covers */
    uint64_t term;  /* term of that entry */
    struct raft_conf conf;
};

struct raft_snapshot {
    struct raft_snapshot_meta meta;
    uint8_t *data; /* the state machine's serialized state */
    size_t len;
};

enum raft_msg_type {
    RAFT_MSG_APP = 1, /* append entries (or heartbeat-free probe) */
    RAFT_MSG_APP_RESP = 2,
    RAFT_MSG_VOTE = 3,
    RAFT_MSG_VOTE_RESP = 4,
    RAFT_MSG_PREVOTE = 5,
    RAFT_MSG_PREVOTE_RESP = 6,
    RAFT_MSG_HEARTBEAT = 7,
    RAFT_MSG_HEARTBEAT_RESP = 8,
    RAFT_MSG_SNAP = 9,         /* install snapshot */
    RAFT_MSG_TIMEOUT_NOW = 10, /* leadership transfer: campaign now */
};
#define RAFT_MSG_TYPE_MAX 10
/* VOTE/PREVOTE context of a campaign started by TIMEOUT_NOW: voters grant it
 * even inside a leader lease (CheckQuorum). */
#define RAFT_VOTE_CTX_TRANSFER 1u

/* One message between two cores. Field use by type:
 *   APP: term, log_term/index (of the entry before entries), entries, commit
 *   APP_RESP: term, index (last matching index or rejected index), reject,
 *             reject_hint (follower's last index / conflict hint), log_term
 *   VOTE/PREVOTE: term (PREVOTE: the term the candidate would have),
 *             log_term/index (candidate's last entry), context (1 = transfer)
 *   VOTE_RESP/PREVOTE_RESP: term, reject; a refusal from a node outside its
 *             own configuration may carry commit, with the index/log_term of
 *             the candidate's entry it was checked against
 *   HEARTBEAT: term, commit, context (ReadIndex round); HEARTBEAT_RESP: term,
 *             context
 *   SNAP: term, snapshot; TIMEOUT_NOW: term */
struct raft_msg {
    uint8_t type; /* enum raft_msg_type */
    uint64_t from;
    uint64_t to;
    uint64_t term;
    uint64_t log_term;
    uint64_t index;
    uint64_t commit;
    uint64_t context;
    uint8_t reject;
    uint64_t reject_hint;
    uint32_t n_entries;
    struct raft_entry *entries;
    struct raft_snapshot *snapshot; /* SNAP only */
};

/* A linearizable read is safe to serve once the state machine has applied
 * `index`: it answers the raft_read_index() call with the same ctx. */
struct raft_read_state {
    uint64_t ctx;
    uint64_t index;
};

struct raft_ready {
    int has_hard_state;
    struct raft_hard_state hard_state;
    struct raft_snapshot *snapshot; /* NULL unless one must be installed */
    struct raft_entry *entries;
    size_t n_entries;
    struct raft_msg *msgs;
    size_t n_msgs;
    struct raft_entry *committed;
    size_t n_committed;
    struct raft_read_state *reads;
    size_t n_reads;
    /* Soft state, for the shell's information (not persisted). */
    enum raft_role role;
    uint64_t leader;
};

struct raft_config {
    uint64_t id;
    /* Ticks without hearing from a leader before campaigning; the actual
     * timeout is drawn in [election_ticks, 2 * election_ticks). */
    uint32_t election_ticks;
    uint32_t heartbeat_ticks; /* < election_ticks */
    uint64_t seed;            /* seeds the election-timeout generator */
    int pre_vote;             /* PreVote (thesis §9.6) on */
    int check_quorum;         /* a leader without a quorum steps down */
    /* Bounds on one append message and on the pipeline to one follower. */
    uint32_t max_entries_per_msg; /* <= CAIRN_RAFT_APPEND_ENTRIES_MAX */
    uint32_t max_bytes_per_msg;   /* <= CAIRN_RAFT_APPEND_BYTES_MAX */
    uint32_t max_inflight_msgs;   /* <= CAIRN_RAFT_INFLIGHT_MAX */
};

/* What a restarting node recovered from its disk. For a brand-new group,
 * pass a snapshot meta with index 0 and the initial configuration in
 * snapshot_meta.conf, no entries, zero hard state. A node that joins the
 * group later starts the same way, with the group's *initial*
 * configuration (index 0 stands for the same state everywhere): it learns
 * later changes from the log or a snapshot, and is not a member (does not
 * campaign) until a committed change adds it. */
struct raft_restore {
    struct raft_hard_state hard_state;
    struct raft_snapshot_meta snapshot_meta;
    /* Entries after snapshot_meta.index, consecutive (copied by the core). */
    const struct raft_entry *entries;
    size_t n_entries;
    uint64_t applied; /* last index the state machine had applied (>= snapshot index) */
    /* The snapshot's bytes (copied), served to followers that fall behind
     * the compacted log. NULL if snapshot_meta.index is 0; if NULL with a
     * nonzero index, no snapshot can be sent until raft_snapshot_taken(). */
    const void *snapshot_data;
    size_t snapshot_len;
};

struct raft;

/* NULL if restore is inconsistent (entries not consecutive from the snapshot,
 * commit index past the log, malformed configuration). restore may be NULL:
 * an empty node with an empty configuration. */
struct raft *raft_new(const struct raft_config *cfg, const struct raft_restore *restore);
void raft_free(struct raft *r);

void raft_tick(struct raft *r);
/* Feed one message addressed to this node. Returns 0, or CAIRN_BADMSG for a
 * message the core dropped as malformed (logged by the caller if wanted). */
int raft_step(struct raft *r, const struct raft_msg *m);
/* Leader only: append data as a new entry; *index receives its index. */
int raft_propose(struct raft *r, const void *data, size_t len, uint64_t *index);
/* Leader only: one membership change at a time (single-server changes).
 * The change takes effect when its entry is committed. */
int raft_propose_conf(struct raft *r, const struct raft_conf_change *cc, uint64_t *index);
/* Leader only: request a linearizable read; the answer arrives as a read
 * state with this ctx in a later ready batch (or never, if leadership is
 * lost: the caller times out and retries elsewhere). */
int raft_read_index(struct raft *r, uint64_t ctx);
/* Leader only: hand leadership to target (a voter) once it is caught up.
 * Proposals are refused with CAIRN_EBUSY until done or an election timeout. */
int raft_transfer_leader(struct raft *r, uint64_t target);
/* Start an election now (tests and the `campaign` admin command). */
void raft_campaign(struct raft *r);

/* 1 if raft_ready() has something to hand out; 0 while a batch is out
 * (one at a time: raft_ready() again before raft_advance() aborts). */
int raft_has_ready(const struct raft *r);
void raft_ready(struct raft *r, struct raft_ready *rd);
void raft_advance(struct raft *r, const struct raft_ready *rd);

/* The application has taken a snapshot of its state at `index` (<= applied);
 * the core keeps a copy of data for followers that need it and drops log
 * entries up to index (log compaction). */
int raft_snapshot_taken(struct raft *r, uint64_t index, const void *data, size_t len);
/* Meta of the latest snapshot the core holds (taken or installed): what the
 * shell persists beside the snapshot bytes after raft_snapshot_taken(), as
 * its configuration is the one in effect at its index. Index 0 if none. */
void raft_get_snapshot_meta(const struct raft *r, struct raft_snapshot_meta *meta);
/* The shell could not deliver a message to `to` (connection down): the
 * leader goes back to probing that follower. */
void raft_report_unreachable(struct raft *r, uint64_t to);

struct raft_status {
    uint64_t id;
    enum raft_role role;
    uint64_t term;
    uint64_t vote;
    uint64_t leader;
    uint64_t commit;
    uint64_t applied;
    uint64_t first_index; /* first entry kept in memory */
    uint64_t last_index;
    uint64_t snapshot_index;
    struct raft_conf conf;
    /* Leader only: match index per member, in the order voters then learners. */
    uint64_t match[2 * CAIRN_RAFT_NODES_MAX];
};
void raft_get_status(const struct raft *r, struct raft_status *st);

/* Term of the entry at index, or 0 if not known (compacted or past the end). */
uint64_t raft_term_at(const struct raft *r, uint64_t index);

/* Encode/decode a membership change as the data of a RAFT_ENTRY_CONF entry
 * (9 bytes: u8 op, u64 node, little-endian). decode returns CAIRN_BADMSG on
 * a malformed one. */
void raft_conf_change_encode(const struct raft_conf_change *cc, uint8_t out[9]);
int raft_conf_change_decode(const uint8_t *p, size_t len, struct raft_conf_change *cc);

const char *raft_role_name(enum raft_role role);
const char *raft_msg_type_name(int type);

#endif
