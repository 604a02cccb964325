/*
 * sim.h: the deterministic Raft simulator (tests/sim), internal to the
 * build/tests/sim binary.
 *
 * One seed gives one whole run: a small Raft group (3 or 5 voters, plus
 * spare nodes for membership changes) of pure cores (src/raft) over a
 * simulated network and simulated disks, driven in ticks of simulated time,
 * with clients writing and reading a small key-value state machine (kv
 * mode) or running namespace operations on the real metadata state machine
 * of src/meta (meta mode, --sm meta). Every
 * random choice comes from one prng seeded by the seed, nodes are visited in
 * id order, messages in an order drawn from that prng, and nothing reads a
 * clock, so a seed replays bit for bit. README.md in this folder describes
 * the fault model.
 *
 * Files: world.c (nodes, the ready/sync loop and the phases of a run),
 * disk.c (durable and unsynced state of a node), net.c (network), sm.c (the
 * state machine's shared part, and meta mode's ops), kv.c (kv mode's ops),
 * client.c (kv clients and their history), mclient.c (meta clients),
 * nsmodel.c (meta mode's namespace model for lincheck), nemesis.c (faults,
 * membership changes, transfers), check.c (invariant checkers), trace.c
 * (event trace, failure reports), main.c (command line and test cases),
 * selftest.c (one case per checker proving it catches a violation).
 *
 * Memory: the world owns everything it holds (message copies, disk copies,
 * the history); sim_run() frees it all before it returns. Single-threaded.
 *
 * Errors: a broken invariant does not abort. sim_fail() records the first
 * one in the world; the run stops at the next step boundary and sim_run()
 * returns 1 after printing the seed, the invariant, the last trace events and
 * the replay command (unless a self-test expects the failure and asks for
 * quiet). A core assertion aborts the process: the SIGABRT handler prints the
 * same report first.
 */
#ifndef CAIRN_SIM_H
#define CAIRN_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/hashmap.h"
#include "common/prng.h"
#include "lincheck.h"
#include "common/buf.h"
#include "raft/raft.h"

struct meta;

/* Node slots: 5 voters and 2 spares that membership changes bring in. */
#define SIM_NODES_MAX 7u
/* Keys of the state machine: key 0 takes background load (not in the
 * history); keys 1..SIM_KEYS-1 are the clients' (a few keys keep the
 * linearizability search per key short). */
#define SIM_KEYS 5u
#define SIM_CLIENTS_MAX 4u
/* Trace events kept for a failure report, and how many are printed. */
#define SIM_TRACE_RING 256u
#define SIM_TRACE_SHOW 50u
/* Messages in flight: past this the network drops (bounds memory when a
 * core floods; a real network has finite buffers too). */
#define SIM_NET_MAX 20000u
/* Ready batches one node may take and sync in one step of its I/O. */
#define SIM_IO_ROUNDS 8u
/* Search budget of the linearizability check (steps). */
#define SIM_LIN_BUDGET 20000000u

/* ---- parameters drawn from the seed ---------------------------------- */

struct sim_params {
    uint32_t n_voters; /* 3 or 5 */
    uint32_t n_spares; /* 0..2 extra slots for membership changes */
    uint32_t election_ticks;
    uint32_t heartbeat_ticks;
    int pre_vote;
    int check_quorum;
    uint32_t max_entries_per_msg;
    uint32_t max_bytes_per_msg;
    uint32_t max_inflight_msgs;
    /* network */
    uint32_t drop_pct;  /* per message, percent */
    uint32_t dup_pct;   /* per message, percent */
    uint32_t delay_min; /* ticks */
    uint32_t delay_max;
    int reorder;                  /* 0: FIFO per link (TCP-like); 1: any order */
    int one_way;                  /* one-way cuts besides symmetric partitions */
    uint32_t long_delay_permille; /* messages held up to 10 election timeouts */
    /* disk */
    uint32_t sync_ticks_max; /* a ready is durable 0..max ticks later */
    int torn_writes;         /* a crash may keep a prefix of unsynced writes */
    uint32_t snapshot_every; /* app snapshot every K applied entries; 0 never */
    /* faults */
    uint32_t fault_ticks;    /* length of the fault phase */
    uint32_t fault_permille; /* chance per tick that the nemesis acts */
    uint32_t crash_down_max; /* ticks a crashed node stays down */
    int conf_changes;
    int transfers;
    /* load */
    uint32_t n_clients;
    uint32_t think_max;      /* ticks between a client's operations */
    uint32_t client_timeout; /* ticks before an operation's outcome is unknown */
    uint32_t load_permille;  /* background proposals per tick */
    uint32_t load_batch_max; /* proposals per background burst */
};

/* ---- disks ----------------------------------------------------------- */

/* One entry as stored: owned copy of the data and its content hash. */
struct sim_entry {
    uint64_t term;
    uint64_t index;
    uint8_t type;
    uint32_t len;
    uint8_t *data;
    uint64_t hash;
};

struct sim_snap {
    uint64_t index; /* 0: none (the group's initial configuration) */
    uint64_t term;
    struct raft_conf conf;
    uint8_t *data;
    size_t len;
};

/* What survives a crash. */
struct sim_disk {
    struct raft_hard_state hs;
    struct sim_snap snap;
    struct sim_entry *log; /* entries snap.index+1 .. snap.index+n_log */
    size_t n_log, cap_log;
};

/* A ready batch written but not yet synced: lost by a crash before
 * sync_tick (a torn write may keep a prefix). The ready itself stays with
 * the core until raft_advance(), after the sync. */
struct sim_pending {
    int active;
    uint64_t sync_tick;
    struct raft_ready rd;
    int has_snap;
    struct sim_snap snap;
    struct sim_entry *ents;
    size_t n_ents;
    int has_hs;
    struct raft_hard_state hs;
};

/* ---- the replicated state machine ------------------------------------- */

enum sim_cmd_op {
    SIM_CMD_PUT = 1,
    SIM_CMD_CAS = 2,
    SIM_CMD_FILL = 3,  /* background load: key 0, padded payload */
    SIM_CMD_PROBE = 4, /* liveness probe */
};

struct sim_cmd {
    uint8_t op;
    uint8_t key;
    uint32_t client;
    uint64_t seq;
    uint64_t a0, a1;
};
#define SIM_CMD_BYTES 32u
#define SIM_FILL_PAD_MAX 300u

/* Which state machine the group replicates (sim_opts.sm). */
enum sim_sm_kind {
    SIM_SM_KV = 0,   /* the built-in registers of kv.c */
    SIM_SM_META = 1, /* the real metadata state machine of src/meta */
};

struct sim_sm_ops;

/* A node's state machine: the part every mode shares (applied index, chain
 * digest, membership; sm.c) and the mode's own state (vals for kv, meta for
 * meta), reached through its ops table. */
struct sim_sm {
    const struct sim_sm_ops *ops;
    uint64_t applied;
    uint64_t digest; /* chain hash of every entry applied, 1..applied */
    uint64_t vals[SIM_KEYS];
    struct raft_conf conf; /* membership as of `applied` */
    struct meta *meta;     /* SIM_SM_META */
};

/* A state machine implementation. Normal entries only (membership entries
 * and the chain digest are sm.c's); apply appends the command's reply to
 * `reply` and returns its status (kv: 1 when a CAS swapped); query serves a
 * read without changing anything; save appends the state's snapshot bytes,
 * load rebuilds the state from them (0 or -1); digest hashes the logical
 * state (equal states, equal digests). */
struct sim_sm_ops {
    const char *name;
    void (*init)(struct sim_sm *sm);
    int (*apply)(struct sim_sm *sm, uint64_t index, const uint8_t *data, size_t len,
                 struct cairn_buf *reply);
    int (*query)(const struct sim_sm *sm, const uint8_t *q, size_t len, struct cairn_buf *reply);
    int (*save)(const struct sim_sm *sm, struct cairn_buf *out);
    int (*load)(struct sim_sm *sm, const uint8_t *p, size_t len);
    uint64_t (*digest)(const struct sim_sm *sm);
    void (*free)(struct sim_sm *sm);
};
extern const struct sim_sm_ops sim_sm_kv_ops;
extern const struct sim_sm_ops sim_sm_meta_ops;

/* ---- meta mode: the namespace the clients work on ---------------------- */

/* Names: slots 0..3 in the root ("a".."d"), 4..5 in the subdirectory "sub"
 * ("x", "y"); a few names keep the unpartitioned linearizability search
 * short. */
#define SIM_NS_SLOTS 6u
#define SIM_NS_ROOT_SLOTS 4u
/* A new inode's tag (its permission bits): 1..SIM_NS_TAG_MAX; 0777 is never
 * given (the self-test's invented file has it). */
#define SIM_NS_TAG_MAX 510u
#define SIM_NS_TAG_NEVER 0777u
#define SIM_NS_FILE 0x1000u /* LOOKUP's out[1]: kind | tag */
#define SIM_NS_DIR 0x2000u

/* History operations of meta mode (lin_op.kind); arguments and results in
 * nsmodel.c. */
enum sim_ns_op {
    SIM_NS_CREATE = 21,
    SIM_NS_MKDIR = 22,
    SIM_NS_UNLINK = 23,
    SIM_NS_RMDIR = 24,
    SIM_NS_RENAME = 25,
    SIM_NS_LOOKUP = 26,
    SIM_NS_READDIR = 27,
};

/* ---- nodes ----------------------------------------------------------- */

enum sim_node_state {
    SIM_NODE_OFF = 0, /* never started: a spare */
    SIM_NODE_UP = 1,
    SIM_NODE_DOWN = 2, /* crashed; restarts at restart_tick */
};

struct sim_read {
    uint64_t ctx;
    uint64_t index;
};

struct sim_node {
    uint64_t id;
    enum sim_node_state state;
    struct raft *r;
    struct sim_disk disk;
    struct sim_pending pend;
    struct sim_sm sm;
    struct sim_read *reads; /* read states waiting for apply */
    size_t n_reads, cap_reads;
    uint64_t restart_tick; /* UINT64_MAX: stays down */
    uint32_t incarnation;
    uint64_t skew_until; /* a skewed clock until then: */
    int skew_fast;       /* 1: ticks 1.5x as fast, 0: half as fast */
    /* Last observed soft state (node_observe). */
    enum raft_role role;
    uint64_t term;
    uint64_t leader;
    uint64_t commit;
    uint64_t commit_checked; /* commits up to here compared with the record */
    /* Entries 1..hold are committed, known committed by this node, and in
     * its durable log or snapshot: they must stay there. */
    uint64_t hold;
};

/* ---- network --------------------------------------------------------- */

struct sim_msg {
    struct raft_msg m; /* owned deep copy */
    uint64_t due;
    uint64_t seq;
};

struct sim_net {
    struct sim_msg *q;
    size_t n, cap;
    uint64_t seq;
    uint8_t blocked[SIM_NODES_MAX + 1][SIM_NODES_MAX + 1];   /* [from][to] */
    uint64_t link_due[SIM_NODES_MAX + 1][SIM_NODES_MAX + 1]; /* FIFO mode */
    uint32_t drop_pct, dup_pct, delay_min, delay_max;
};

/* ---- clients --------------------------------------------------------- */

enum sim_client_state {
    SIM_CL_IDLE = 0,
    SIM_CL_SUBMIT = 1,     /* looking for a leader to take it */
    SIM_CL_WAIT_APPLY = 2, /* proposed at (node, index) */
    SIM_CL_WAIT_READ = 3,  /* read index requested at node with ctx */
};

struct sim_client {
    uint32_t id; /* 1-based */
    enum sim_client_state state;
    uint64_t next_tick;
    uint64_t deadline;
    uint64_t node; /* target */
    uint64_t index;
    uint64_t ctx;
    uint64_t seq;
    uint64_t guess; /* node believed to lead */
    struct lin_op op;
    /* meta mode */
    uint64_t session;     /* 0: none open yet */
    uint64_t mseq;        /* last session seq used */
    uint32_t mop;         /* SIM_MOP_* */
    int via_log;          /* a read through the log instead of ReadIndex */
    struct cairn_buf cmd; /* the command, now_ns 0 (stamped on proposal) */
};

/* Meta-mode operations outside the history. */
enum sim_mop {
    SIM_MOP_NS = 0,   /* a namespace operation of the history (op.kind) */
    SIM_MOP_OPEN = 1, /* SESSION_OPEN */
    SIM_MOP_SETUP = 2 /* MKDIR of the subdirectory (client 1, once) */
};

/* ---- checker state --------------------------------------------------- */

/* What is known about the committed entry at one index. */
struct sim_rec {
    uint64_t term; /* 0: not known yet */
    /* It was committed in this term or earlier (the lowest current term of
     * a node seen knowing it committed; 0: not known yet). */
    uint64_t commit_term;
    uint64_t hash;
    uint64_t digest;
    uint8_t applied; /* hash and digest are known */
    uint64_t state;  /* state machine digest after this index; 0: not known */
};

/* One (index, term) seen in a durable log: log matching says every log with
 * it has the same bytes there and the same term just before. */
struct sim_lm {
    uint64_t index, term, hash, prev_term;
    uint64_t node;
};

struct sim_check {
    uint64_t *leader_of; /* by term: the one leader seen, 0 if none */
    size_t n_leader_of;
    struct sim_rec *rec; /* by index; rec[0] unused */
    size_t n_rec;
    uint64_t max_commit;
    struct hmap lm_map; /* (index, term) -> position + 1 in lm */
    struct sim_lm *lm;
    size_t n_lm, cap_lm;
};

/* ---- trace ----------------------------------------------------------- */

enum sim_ev_kind {
    SIM_EV_SEND = 1,
    SIM_EV_DELIVER,
    SIM_EV_DROP,
    SIM_EV_DUP,
    SIM_EV_READY,
    SIM_EV_SYNC,
    SIM_EV_APPLY,
    SIM_EV_ROLE,
    SIM_EV_CRASH,
    SIM_EV_RESTART,
    SIM_EV_START,
    SIM_EV_STOP,
    SIM_EV_PARTITION,
    SIM_EV_CUT,
    SIM_EV_HEAL,
    SIM_EV_CONF,
    SIM_EV_TRANSFER,
    SIM_EV_PROPOSE,
    SIM_EV_READ,
    SIM_EV_REPLY,
    SIM_EV_UNKNOWN,
    SIM_EV_SNAPSHOT,
    SIM_EV_INSTALL,
    SIM_EV_SLOW,
    SIM_EV_PHASE,
    SIM_EV_CORRUPT,
    SIM_EV_PROBE,
    SIM_EV_UNREACH,
};

struct sim_ev {
    uint64_t step;
    uint64_t tick;
    uint8_t kind;
    uint8_t node;
    uint8_t peer;
    uint8_t sub; /* message type, role, op, ... */
    uint64_t a, b, c, d;
};

struct sim_trace {
    struct sim_ev ring[SIM_TRACE_RING];
    uint64_t n; /* events ever added */
    uint64_t digest;
    int verbose;
};

/* ---- the world ------------------------------------------------------- */

/* Deliberate corruptions, one per checker, for the self-tests: the checker
 * named must fire. */
enum sim_corrupt {
    SIM_CORRUPT_NONE = 0,
    SIM_CORRUPT_SPLIT_BRAIN,       /* election safety */
    SIM_CORRUPT_LOG_BYTE,          /* log matching */
    SIM_CORRUPT_LOG_PREV_TERM,     /* log matching (prefix) */
    SIM_CORRUPT_LEADER_INCOMPLETE, /* leader completeness */
    SIM_CORRUPT_APPLY_BYTE,        /* state machine safety */
    SIM_CORRUPT_DROP_COMMITTED,    /* no committed entry lost */
    SIM_CORRUPT_NO_PROGRESS,       /* liveness */
    SIM_CORRUPT_FUTURE_READ,       /* linearizability */
    SIM_CORRUPT_NS_HISTORY,        /* linearizability (meta: a LOOKUP lies) */
    SIM_CORRUPT_STATE,             /* state digest (meta: one replica's state) */
    SIM_CORRUPT_NO_DEDUP,          /* linearizability (meta: retries get a new seq) */
};

enum sim_phase {
    SIM_PHASE_FAULTS = 0,
    SIM_PHASE_LIVENESS = 1,
};

struct sim_stats {
    uint64_t seeds;
    uint64_t ticks;
    uint64_t msgs_delivered;
    uint64_t msgs_dropped;
    uint64_t leaders;
    uint64_t max_term;
    uint64_t crashes;
    uint64_t torn;
    uint64_t partitions;
    uint64_t snapshots_taken;
    uint64_t snapshots_installed;
    uint64_t conf_proposed;
    uint64_t conf_applied;
    uint64_t transfers;
    uint64_t committed;
    uint64_t ops_ok;
    uint64_t ops_unknown;
    uint64_t reads_ok;
    /* meta mode */
    uint64_t hist_ops;     /* operations in the checked histories */
    uint64_t retries;      /* client attempts after the first */
    uint64_t state_checks; /* per-index state digests compared */
    uint64_t converged;    /* seeds whose live replicas were compared at the end */
    uint64_t replicas_compared;
};

struct sim_opts {
    uint64_t seed;
    int verbose;
    enum sim_corrupt corrupt;
    int quiet; /* print no failure report (self-tests expecting one) */
    enum sim_sm_kind sm;
};

/* The outcome of one run. */
struct sim_result {
    int failed;
    int corrupted;   /* the requested corruption was applied */
    char inv[64];    /* invariant broken, if failed */
    uint64_t digest; /* of the whole trace: equal digests, equal runs */
    uint64_t ticks;
};

struct sim_world {
    uint64_t seed;
    struct prng rng;
    struct sim_params p;
    struct sim_opts o;
    uint64_t tick;
    uint64_t step; /* one per event: the history's clock */
    enum sim_phase phase;
    uint32_t n_nodes;
    struct sim_node nodes[SIM_NODES_MAX]; /* nodes[i].id == i + 1 */
    struct raft_conf initial;
    struct sim_net net;
    struct sim_client clients[SIM_CLIENTS_MAX];
    struct lin_op *hist;
    size_t n_hist, cap_hist;
    uint64_t load_seq;
    /* Liveness probe: an entry proposed after the faults heal. */
    uint64_t probe_seq;
    uint64_t probe_node; /* 0: none in flight */
    uint64_t probe_index;
    int probe_done;
    /* meta mode */
    struct cairn_buf reply; /* scratch: replies of applies and queries */
    struct cairn_buf probe; /* the probe command in flight */
    uint64_t sub_ino;       /* the subdirectory, once created */
    uint32_t ns_tag;        /* last tag given to a new inode */
    int draining;           /* clients start no new operation */
    struct sim_check chk;
    struct sim_trace tr;
    struct sim_stats st;
    /* Corruption bookkeeping for the self-tests. */
    int corrupted;
    /* The first failure. */
    int failed;
    char fail_inv[64];
    char fail_msg[1024];
};

/* world.c */
int sim_run(const struct sim_opts *o, struct sim_result *res, struct sim_stats *stats);
void sim_stats_add(struct sim_stats *sum, const struct sim_stats *s);
struct sim_node *sim_node(struct sim_world *w, uint64_t id);
void sim_node_start(struct sim_world *w, struct sim_node *n);
void sim_node_crash(struct sim_world *w, struct sim_node *n, uint64_t down_ticks);
void sim_node_recv(struct sim_world *w, struct sim_node *n, const struct raft_msg *m);
void sim_node_observe(struct sim_world *w, struct sim_node *n);
struct sim_node *sim_find_leader(struct sim_world *w);
int sim_conf_has(const struct raft_conf *c, uint64_t id, int *is_voter);
void *sim_xmalloc(size_t n);
void *sim_xcalloc(size_t n, size_t size);
void *sim_xmemdup(const void *p, size_t n);
void *sim_xgrow(void *p, size_t *cap, size_t need, size_t size);

/* disk.c */
uint64_t disk_last(const struct sim_disk *d);
struct sim_entry *disk_at(struct sim_disk *d, uint64_t index);
uint64_t disk_term_at(struct sim_disk *d, uint64_t index);
void disk_free(struct sim_disk *d);
void disk_truncate(struct sim_disk *d, size_t keep);
void disk_write_entries(struct sim_world *w, struct sim_node *n, struct sim_entry *ents, size_t k);
void disk_install_snapshot(struct sim_world *w, struct sim_node *n, struct sim_snap *s);
void disk_app_snapshot(struct sim_world *w, struct sim_node *n, uint64_t index, uint8_t *data,
                       size_t len);
void pending_discard(struct sim_pending *p);
void pending_write(struct sim_pending *p, const struct raft_ready *rd);
void pending_sync(struct sim_world *w, struct sim_node *n);
size_t pending_crash(struct sim_world *w, struct sim_node *n);

/* net.c */
void net_init(struct sim_world *w);
void net_free(struct sim_world *w);
int net_send(struct sim_world *w, const struct raft_msg *m);
void net_deliver_due(struct sim_world *w);
void net_heal(struct sim_world *w);
void net_partition(struct sim_world *w);
void net_cut(struct sim_world *w);
void net_isolate_all(struct sim_world *w);
void sim_msg_free(struct raft_msg *m);

/* kv.c */
void kv_cmd_encode(const struct sim_cmd *c, uint8_t out[SIM_CMD_BYTES]);
int kv_cmd_decode(const uint8_t *p, size_t len, struct sim_cmd *c);
uint64_t kv_entry_hash(uint64_t term, uint8_t type, const uint8_t *data, size_t len);
void kv_conf_apply(struct raft_conf *c, const struct raft_conf_change *cc);

/* sm.c: the shared part of every state machine. sm_init and sm_load free
 * what the state held before. */
const struct sim_sm_ops *sm_ops_of(enum sim_sm_kind kind);
void sm_init(struct sim_sm *sm, const struct sim_sm_ops *ops, const struct raft_conf *conf);
void sm_free(struct sim_sm *sm);
/* Apply one committed entry (any type) with its content hash; the reply of a
 * normal entry goes to `reply` (reset first). Returns the command's status. */
int sm_apply(struct sim_sm *sm, uint64_t index, uint8_t type, const uint8_t *data, size_t len,
             uint64_t hash, struct cairn_buf *reply);
/* Serialize into a malloc'd buffer (*len bytes); load returns 0 or -1 (the
 * membership comes from the snapshot's meta). */
uint8_t *sm_save(const struct sim_sm *sm, size_t *len);
int sm_load(struct sim_sm *sm, const uint8_t *p, size_t len, const struct raft_conf *conf);
uint64_t sm_state_digest(const struct sim_sm *sm);

/* client.c */
void clients_init(struct sim_world *w);
void clients_step(struct sim_world *w);
void clients_on_apply(struct sim_world *w, struct sim_node *n, uint64_t index,
                      const struct sim_cmd *cmd, int is_cmd, uint64_t result);
void clients_on_read(struct sim_world *w, struct sim_node *n, uint64_t ctx);
void clients_on_crash(struct sim_world *w, struct sim_node *n);
void clients_finish(struct sim_world *w);
void hist_add(struct sim_world *w, const struct lin_op *op);
void load_step(struct sim_world *w);

/* mclient.c: the clients of meta mode (namespace operations through
 * sessions) and its background load and liveness probe. */
void mcl_init(struct sim_world *w);
void mcl_free(struct sim_world *w);
void mcl_step(struct sim_world *w);
void mcl_on_apply(struct sim_world *w, struct sim_node *n, const struct raft_entry *e,
                  const struct cairn_buf *reply);
void mcl_on_read(struct sim_world *w, struct sim_node *n, uint64_t ctx);
void mcl_on_crash(struct sim_world *w, struct sim_node *n);
void mcl_finish(struct sim_world *w);
int mcl_busy(const struct sim_world *w);
void mcl_load_step(struct sim_world *w);
/* The probe command (meta mode): a read through the log unique to seq. */
void mcl_probe_cmd(struct sim_world *w, uint64_t seq, struct cairn_buf *out);

/* nsmodel.c: the namespace model for lincheck (meta mode). Slots 0..3 are
 * names in the root, 4..5 in the subdirectory; see nsmodel.c. */
extern const struct lin_model sim_model_ns;

/* nemesis.c */
void nemesis_step(struct sim_world *w);

/* check.c */
void chk_init(struct sim_world *w);
void chk_free(struct sim_world *w);
void chk_leader(struct sim_world *w, uint64_t term, uint64_t id);
void chk_leader_complete(struct sim_world *w, struct sim_node *n);
void chk_commit(struct sim_world *w, struct sim_node *n);
void chk_apply(struct sim_world *w, struct sim_node *n, uint64_t index, uint64_t term,
               uint64_t hash, uint64_t digest);
void chk_snapshot(struct sim_world *w, struct sim_node *n, uint64_t index, uint64_t term,
                  uint64_t digest);
void chk_durable_entry(struct sim_world *w, struct sim_node *n, const struct sim_entry *e,
                       uint64_t prev_term);
void chk_hold(struct sim_world *w, struct sim_node *n, uint64_t from);
void chk_history(struct sim_world *w);
/* The state machine's state digest after `index` on node n (applied or
 * loaded from a snapshot: `what`) must equal every other node's there. */
void chk_state(struct sim_world *w, struct sim_node *n, uint64_t index, uint64_t digest,
               const char *what);
struct sim_rec *chk_rec(struct sim_world *w, uint64_t index);

/* trace.c */
void trace_ev(struct sim_world *w, uint8_t kind, uint64_t node, uint64_t peer, uint8_t sub,
              uint64_t a, uint64_t b, uint64_t c, uint64_t d);
void trace_print_last(const struct sim_world *w, unsigned n);
void sim_fail(struct sim_world *w, const char *inv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sim_report(const struct sim_world *w);
void sim_print_params(FILE *f, const struct sim_world *w);
void sim_install_abort_handler(void);
void sim_set_current(struct sim_world *w);

#endif
