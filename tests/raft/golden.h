/*
 * golden.h: the interpreter behind cairn's golden Raft interaction scripts
 * (tests/raft/README.md documents the script language).
 *
 * An environment (struct genv) holds up to CAIRN_RAFT_NODES_MAX Raft cores
 * (ids 1..16). Each node has a small in-memory "disk" (hard state, snapshot,
 * entries) that survives crash/restart, and a key-value state machine that a
 * crash loses (it is rebuilt from the snapshot and the replayed log). One
 * FIFO queue holds the messages in flight between all nodes. Commands drive
 * the cores and describe in text exactly what happened; script.c compares
 * that text with the expected blocks of a script file.
 *
 * While it drives the cores the environment also checks, cheaply, what must
 * never happen whatever the script: two leaders in one term, a vote changed
 * within a term, a term going back, a node applying an entry that differs
 * from what another node applied at the same index, two nodes with the same
 * commit index but different configurations (a change takes effect when
 * committed, so the configuration is a function of the committed prefix), a
 * commit index beyond the persisted log, entries that do not attach to the
 * log. Each such event
 * prints a line starting with "VIOLATION" and counts in genv.violations: a
 * script whose run has any fails even if its expected text records them.
 *
 * Memory: the environment owns deep copies of everything it keeps
 * (messages, entries, snapshots); nothing points into a core's ready batch
 * after raft_advance(). Single-threaded.
 *
 * Errors: genv_exec() returns 0 when the command ran (its output may report
 * an error code the core returned: that is expected behaviour and part of
 * the golden text), or CAIRN_EINVAL for a mistake in the script (unknown
 * command, bad argument, a command on a crashed node), with a message in err.
 */
#ifndef CAIRN_TESTS_RAFT_GOLDEN_H
#define CAIRN_TESTS_RAFT_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/hashmap.h"
#include "raft/raft.h"

#define GOLDEN_NODES_MAX CAIRN_RAFT_NODES_MAX
/* stabilize gives up after this many rounds of process-ready + deliver: a
 * correct core settles in a few rounds; more means messages never stop
 * (for instance a livelock), which the script should show, not hang on. */
#define GOLDEN_STABILIZE_ROUNDS_MAX 1000u

_Static_assert(GOLDEN_NODES_MAX < 32, "node sets are 32-bit masks indexed by id");

/* What a node has made durable: exactly what restart gives back. */
struct gdisk {
    struct raft_hard_state hs;
    struct raft_snapshot_meta snap;
    uint8_t *snap_data;
    size_t snap_len;
    struct raft_entry *ents; /* indexes snap.index + 1, snap.index + 2, ... */
    size_t n_ents;
    size_t cap_ents;
};

/* One write applied to the key-value state machine ("k=v" entries). */
struct gkv_write {
    uint64_t index;
    char *key;
    char *val;
};

struct gnode {
    uint64_t id;
    int exists;
    struct raft *r; /* NULL while crashed */
    struct raft_config cfg;
    struct gdisk disk;
    struct gkv_write *kv; /* volatile state machine, in apply order */
    size_t n_kv;
    size_t cap_kv;
    uint64_t applied;
    int group;               /* partition group; equal groups talk */
    struct raft_status seen; /* last observed status, to print changes */
    enum raft_role rd_role;  /* soft state of the last ready printed */
    uint64_t rd_leader;
};

struct genv {
    struct gnode nodes[GOLDEN_NODES_MAX + 1]; /* by id; [0] unused */
    struct raft_msg *net;                     /* FIFO of messages in flight */
    size_t n_net;
    size_t cap_net;
    struct cairn_buf *out; /* output of the running command */
    int violations;
    struct hmap leaders; /* term -> (void *)(uintptr_t)leader id */
    struct hmap history; /* index -> struct raft_entry * first applied there */
    struct hmap confs;   /* commit index -> struct raft_conf * first seen there */
    int has_initial;     /* nodes were added: initial_conf is the group's */
    struct raft_conf initial_conf;
};

/* --- env.c: nodes, disks, ready handling, checks -------------------------- */
struct genv *genv_new(void);
void genv_free(struct genv *e);
/* Run one command line; its description is appended to out. */
int genv_exec(struct genv *e, const char *line, struct cairn_buf *out, char *err, size_t errlen);

void gout(struct genv *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gviolation(struct genv *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print role, term and configuration changes of n since the last look. */
void genv_observe(struct genv *e, struct gnode *n);
/* Handle one ready batch of n (persist, send, apply, print). */
void genv_handle_ready(struct genv *e, struct gnode *n);
int genv_add_node(struct genv *e, const struct raft_config *cfg, const struct raft_conf *conf,
                  uint64_t index);
void genv_crash(struct genv *e, struct gnode *n);
void genv_restart(struct genv *e, struct gnode *n);
int genv_compact(struct genv *e, struct gnode *n, uint64_t index);
void genv_print_status(struct genv *e, struct gnode *n);
void genv_print_log(struct genv *e, struct gnode *n);
void genv_print_kv(struct genv *e, struct gnode *n);

/* --- net.c: the message queue, partitions, delivery, stabilize ----------- */
struct gfilter {
    uint32_t to;   /* recipients to deliver to (bit id); 0 = all */
    uint32_t from; /* only messages from these senders; 0 = any */
    uint32_t drop; /* recipients whose messages are dropped, not delivered */
    int type;      /* only this message type; 0 = any */
};
void gnet_send(struct genv *e, const struct raft_msg *m);
/* Drop (and print) every queued message to `to`: it crashed. */
void gnet_drop_to(struct genv *e, uint64_t to);
/* Deliver (or drop) the queued messages that match f; returns how many. */
size_t gnet_deliver(struct genv *e, const struct gfilter *f);
/* Loop process-ready + deliver over the nodes in mask (0 = all) until
 * quiet; CAIRN_EINVAL if it does not settle. */
int gnet_stabilize(struct genv *e, uint32_t mask);
void gnet_free(struct genv *e);

/* --- fmt.c: one text form for everything printed --------------------------- */
void bprintf(struct cairn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fmt_data(struct cairn_buf *b, const uint8_t *p, size_t len);
void fmt_entry(struct cairn_buf *b, const struct raft_entry *ent);
void fmt_conf(struct cairn_buf *b, const struct raft_conf *c);
void fmt_snapshot(struct cairn_buf *b, const struct raft_snapshot_meta *meta, const uint8_t *data,
                  size_t len);
void fmt_msg(struct cairn_buf *b, const struct raft_msg *m);
const char *fmt_role(enum raft_role role);
const char *fmt_msg_type(int type);
/* Message type by its printed name (APP, VOTE, ...), or 0. */
int fmt_msg_type_parse(const char *name);
int fmt_conf_equal(const struct raft_conf *a, const struct raft_conf *b);

/* --- copies owned by the environment -------------------------------------- */
void *gx_alloc(size_t n);
void *gx_grow(void *p, size_t *cap, size_t need, size_t elem);
char *gx_strndup(const char *s, size_t n);
void gx_entry_copy(struct raft_entry *dst, const struct raft_entry *src);
void gx_msg_copy(struct raft_msg *dst, const struct raft_msg *src);
void gx_msg_free(struct raft_msg *m);

/* --- script.c: script files, comparison, rewrite -------------------------- */
/* Run the script text (named name for messages). With rewritten != NULL,
 * the text with every expected block replaced by the actual output is
 * stored there (malloc'd) and no comparison is made. Otherwise the outputs
 * are compared; the first mismatch is described as a unified diff in report.
 * Returns 0 on a match, 1 on a mismatch or violations, CAIRN_EINVAL on a
 * script error (described in report). */
int gscript_run(const char *name, const char *text, char **rewritten, struct cairn_buf *report);
/* Read a whole file (malloc'd, NUL-terminated); 0 or a negative code. */
int gscript_read_file(const char *path, char **text);
int gscript_write_file(const char *path, const char *text);

#endif
