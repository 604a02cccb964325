/*
 * lincheck.h: a linearizability checker for recorded client histories
 * (Wing & Gong's search with Lowe's memoization of (linearized set, state),
 * as in Knossos and Porcupine), used by the Raft simulator, the cluster
 * tests and the lock tests.
 *
 * A history is a list of operations, each with the time it was invoked and
 * the time its answer arrived. An operation whose outcome is unknown (the
 * client timed out or crashed) has ret_time = LIN_TIME_INF: it may have
 * taken effect at any point after its call, or never.
 *
 * The caller supplies a sequential model: a fixed-size state, an init
 * function and a step function that says whether an operation with its
 * recorded result is legal from a state (and applies it). Histories are
 * checked one partition at a time when the model has a partition key
 * (operations on different keys of a key-value store are independent:
 * P-compositionality), which keeps the search small.
 *
 * Times: an operation A precedes B only if A.ret_time < B.call_time; equal
 * times count as concurrent (events within one tick have no known order).
 * Model states are compared byte for byte (the search memoizes them), so a
 * model's init and step must write every byte of the state (no padding
 * garbage); the state pointer is aligned for any scalar type.
 *
 * Cost: about linear in the history for a few concurrent clients per key
 * and a few ops with unknown outcome per key; it grows steeply with both
 * (on one key, 16 clients always in flight, or a hundred pending writes,
 * can exhaust the default budget). Spread ops over keys, and let clients
 * retry a timed-out op under the same request id until it is answered, so
 * only ops in flight at a crash or at the end stay unknown.
 *
 * Memory: lin_check allocates its own working memory and frees it before
 * returning; the memo of one partition is bounded by LIN_CACHE_BYTES_MAX
 * (past it the verdict is LIN_GAVE_UP). Thread safety: no global state.
 */
#ifndef CAIRN_LINCHECK_H
#define CAIRN_LINCHECK_H

#include <stddef.h>
#include <stdint.h>

#define LIN_TIME_INF UINT64_MAX
/* Largest state a model may use (bytes), and longest history per partition. */
#define LIN_STATE_MAX 256u
#define LIN_OPS_MAX 100000u
/* Memory for the memo of (linearized set, state) pairs of one partition: a
 * history whose search needs more is too concurrent to check in a test run
 * on a shared 2-core machine anyway, so the checker gives up instead. */
#define LIN_CACHE_BYTES_MAX (256u << 20)

struct lin_op {
    uint64_t client;    /* who issued it (for reports) */
    uint64_t call_time; /* invocation */
    uint64_t ret_time;  /* response, or LIN_TIME_INF if unknown */
    uint32_t kind;      /* model-specific operation kind */
    uint64_t key;       /* partition key (models with partitioned = 1) */
    uint64_t arg[2];    /* model-specific arguments */
    uint64_t out[2];    /* model-specific recorded results (ignored if unknown) */
};

struct lin_model {
    const char *name;
    size_t state_size; /* <= LIN_STATE_MAX */
    int partitioned;   /* check each key's operations separately */
    void (*init)(void *state);
    /* Return 1 and update state if op (with its recorded out[] when known,
     * i.e. ret_time != LIN_TIME_INF) is legal from state; 0 otherwise.
     * Must not modify state when returning 0. */
    int (*step)(void *state, const struct lin_op *op);
    /* Print one op for reports (optional; NULL prints kind/args). */
    void (*describe)(const struct lin_op *op, char *out, size_t outlen);
};

enum lin_verdict {
    LIN_OK = 0,        /* linearizable */
    LIN_VIOLATION = 1, /* no linearization exists */
    LIN_GAVE_UP = 2,   /* search budget exhausted (counts as failure in tests) */
};

struct lin_result {
    enum lin_verdict verdict;
    uint64_t bad_key;  /* partition that failed */
    size_t explored;   /* search steps taken */
    char report[2048]; /* human explanation of a violation */
};

/* Check ops[0..n). budget bounds the search steps (0 = default 10^8). */
enum lin_verdict lin_check(const struct lin_model *m, const struct lin_op *ops, size_t n,
                           uint64_t budget, struct lin_result *res);

/* lin_check where pending ops may have a bound: bound[i] (for op i with
 * ret_time == LIN_TIME_INF; ignored for completed ops) says that op took
 * effect at a time before bound[i], or never: as if it returned at bound[i]
 * but may be left out. 0 or LIN_TIME_INF: unbounded (lin_check's meaning).
 * bound may be NULL (all unbounded). An op called after bound[i] follows
 * op i whenever op i took effect. Typical source: a session that refuses an
 * older request once a newer one applied bounds a lost request by the
 * return of that client's next acknowledged request. With bounds, the cost
 * depends on how many ops are pending at once, not on how many there are. */
enum lin_verdict lin_check_bounded(const struct lin_model *m, const struct lin_op *ops,
                                   const uint64_t *bound, size_t n, uint64_t budget,
                                   struct lin_result *res);

/* A key-value register model over u64 keys and values, value 0 = absent.
 *   LIN_KV_GET:  out[0] = value read
 *   LIN_KV_PUT:  arg[0] = value written
 *   LIN_KV_CAS:  arg[0] = expected, arg[1] = new, out[0] = 1 if swapped
 * Partitioned by key. */
enum { LIN_KV_GET = 1, LIN_KV_PUT = 2, LIN_KV_CAS = 3 };
extern const struct lin_model lin_model_kv;

/* An exclusive lock per key (the lock id), owned by the op's client field.
 *   LIN_LOCK_ACQUIRE: out[0] = fencing token granted (> 0), or 0 if refused
 *                     because the lock was held (by anyone, the caller too)
 *   LIN_LOCK_RELEASE: out[0] = 1 if released, 0 if the caller did not hold it
 * At most one holder at a time; each grant's token is strictly greater than
 * every earlier grant's token of that lock. An acquire with unknown outcome
 * that took effect is a grant of an unknown token (so later grants need a
 * token of at least the last known one + 2). Partitioned by key. */
enum { LIN_LOCK_ACQUIRE = 11, LIN_LOCK_RELEASE = 12 };
extern const struct lin_model lin_model_lock;

#endif
