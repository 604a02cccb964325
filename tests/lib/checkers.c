/* checkers.c: history checkers of the nemesis workloads (checkers.h). */
#include "checkers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lincheck.h"

void ck_note(struct ck_result *r, const char *fmt, ...)
{
    if (r->violations++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->first, sizeof r->first, fmt, ap);
        va_end(ap);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int has_u64(const uint64_t *v, size_t n, uint64_t x)
{
    return bsearch(&x, v, n, sizeof *v, cmp_u64) != NULL;
}

/* Run lincheck and note a violation (or a search that gave up, which a test
 * cannot call a pass) with the first line of its report. */
static int run_lin(const struct lin_model *m, const struct lin_op *ops, const uint64_t *bound,
                   size_t n, const char *what, struct ck_result *r)
{
    struct lin_result *res = calloc(1, sizeof *res);
    if (!res)
        return -ENOMEM;
    enum lin_verdict v = lin_check_bounded(m, ops, bound, n, CK_LIN_BUDGET, res);
    if (v != LIN_OK && getenv("CK_VERBOSE"))
        fprintf(stderr, "%s: lincheck report:\n%s\n", what, res->report);
    if (v != LIN_OK) {
        size_t len = strcspn(res->report, "\n");
        ck_note(r, "%s: %s (key %" PRIu64 "): %.*s", what,
                v == LIN_VIOLATION ? "not linearizable" : "linearizability check gave up",
                res->bad_key, (int)(len > 300 ? 300 : len), res->report);
    }
    free(res);
    return 0;
}

/* --- bounds of unknown outcomes -------------------------------------------- */

/* Ops whose success means a mutation of the client's metadata session was
 * applied: the namespace mutations and register writes (whose data commits
 * with CHUNK_COMMIT, and O_TRUNC truncates, both session mutations). Reads
 * and listings are queries; lock ops go through the lock handle's own
 * session, replaced after every unknown outcome. */
static int ck_session_mutation(uint32_t op)
{
    return op == HOP_WRITE || op == HOP_CREATE || op == HOP_UNLINK || op == HOP_RENAME;
}

static int cmp_client_seq(const void *pa, const void *pb)
{
    const struct hist_op *a = *(const struct hist_op *const *)pa;
    const struct hist_op *b = *(const struct hist_op *const *)pb;
    if (a->client != b->client)
        return a->client < b->client ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* bound[i]: for an op of unknown outcome, the return time of the same
 * client's next acked session mutation (docs/checkers.md, "Bounds"): the
 * metadata refuses a session's older sequence number once a newer one
 * applied, so op i applied before that one or never. LIN_TIME_INF when
 * there is none (the run ended), and for an op without completion record
 * (its process was killed: no later op is of its session). An op without
 * completion also ends the search for earlier ops: a client restarted
 * under the same id is a new process with a new session. */
static uint64_t *ck_bounds(const struct hist_op *ops, size_t n)
{
    uint64_t *bound = malloc((n + 1) * sizeof *bound);
    const struct hist_op **by = malloc((n + 1) * sizeof *by);
    if (!bound || !by) {
        free(bound);
        free(by);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        by[i] = &ops[i];
    qsort(by, n, sizeof *by, cmp_client_seq);
    uint64_t next = LIN_TIME_INF;
    for (size_t k = n; k-- > 0;) {
        const struct hist_op *o = by[k];
        if (k + 1 == n || by[k + 1]->client != o->client || o->no_completion)
            next = LIN_TIME_INF;
        bound[o - ops] = o->type == HIST_UNKNOWN ? next : LIN_TIME_INF;
        if (o->type == HIST_OK && ck_session_mutation(o->op))
            next = o->ret_ns;
    }
    free(by);
    return bound;
}

/* --- registers ------------------------------------------------------------- */

static struct lin_op lin_from(const struct hist_op *o, uint32_t kind, uint64_t call, uint64_t ret)
{
    return (struct lin_op){
        .client = o->client, .call_time = call, .ret_time = ret, .kind = kind, .key = o->key};
}

/* A register write opened with O_TRUNC (arg[1]) is two steps: the
 * truncation empties the file when the open returns (a metadata operation),
 * then the close commits the value; reads between them see an empty file.
 * A write in place is one step. A definite failure applied nothing, or only
 * the truncation when it failed after the open. */
static size_t reg_write_ops(const struct hist_op *o, struct lin_op *out)
{
    uint64_t ret = o->type == HIST_OK ? o->ret_ns : LIN_TIME_INF;
    uint64_t opened = o->res[0];
    if (o->type == HIST_FAIL && (opened == 0 || !o->arg[1]))
        return 0;
    if (!o->arg[1]) {
        out[0] = lin_from(o, LIN_KV_PUT, o->call_ns, ret);
        out[0].arg[0] = o->arg[0];
        return 1;
    }
    if (opened == 0) {
        out[0] = lin_from(o, LIN_KV_PUT, o->call_ns, LIN_TIME_INF);
        out[1] = lin_from(o, LIN_KV_PUT, o->call_ns, LIN_TIME_INF);
    } else {
        out[0] = lin_from(o, LIN_KV_PUT, o->call_ns, opened);
        out[1] = lin_from(o, LIN_KV_PUT, opened + 1, ret);
        if (ret != LIN_TIME_INF && ret < opened + 1)
            out[1].call_time = opened;
    }
    out[0].arg[0] = 0;
    out[1].arg[0] = o->arg[0];
    return o->type == HIST_FAIL ? 1 : 2;
}

/* When the truncation of write o is known to have happened by (its open's
 * return), LIN_TIME_INF if it may happen at any later time, 0 if it does
 * not truncate or never did. */
static uint64_t reg_trunc_time(const struct hist_op *o)
{
    if (!o->arg[1] || (o->type == HIST_FAIL && o->res[0] == 0))
        return 0;
    return o->res[0] ? o->res[0] : LIN_TIME_INF;
}

/* The final read of key must not be older than an acked write: its value's
 * write (or, for an empty file, some truncation) may not have completed
 * before the last-invoked acked write was invoked. */
static void reg_check_final(const struct hist_op *ops, size_t n, const struct hist_op *fin,
                            struct ck_result *r)
{
    const struct hist_op *last = NULL;
    for (size_t i = 0; i < n; i++)
        if (ops[i].op == HOP_WRITE && ops[i].key == fin->key && ops[i].type == HIST_OK &&
            (!last || ops[i].call_ns > last->call_ns))
            last = &ops[i];
    if (!last || fin->res[1])
        return;
    uint64_t v = fin->res[0];
    for (size_t i = 0; i < n; i++) {
        const struct hist_op *w = &ops[i];
        if (w->op != HOP_WRITE || w->key != fin->key)
            continue;
        if (v != 0 && w->arg[0] == v && w->ret_ns >= last->call_ns)
            return;
        /* Only a write whose data did not follow (not acked) leaves it empty. */
        if (v == 0 && w->type != HIST_OK && reg_trunc_time(w) >= last->call_ns &&
            reg_trunc_time(w) != 0)
            return;
    }
    ck_note(r,
            "register %" PRIu64 ": acked write lost: final value c%" PRIu64 "-n%" PRIu64
            " is older than acked write c%" PRIu32 "-n%" PRIu64,
            fin->key, v >> 32, v & 0xffffffffu, last->client, last->arg[0] & 0xffffffffu);
}

/* Reads that return bytes no write wrote: malformed or bad checksum, or a
 * well-formed value no client ever tried to write. */
static void reg_check_reads(const struct hist_op *ops, size_t n, const uint64_t *written,
                            size_t n_written, struct ck_result *r)
{
    for (size_t i = 0; i < n; i++) {
        const struct hist_op *o = &ops[i];
        if (o->op != HOP_READ || o->type != HIST_OK)
            continue;
        if (o->res[1])
            ck_note(r, "register %" PRIu64 ": client %" PRIu32 " read bytes that are no value",
                    o->key, o->client);
        else if (o->res[0] != 0 && !has_u64(written, n_written, o->res[0]))
            ck_note(r,
                    "register %" PRIu64 ": client %" PRIu32 " read c%" PRIu64 "-n%" PRIu64
                    ", never written",
                    o->key, o->client, o->res[0] >> 32, o->res[0] & 0xffffffffu);
    }
}

int ck_register(const struct hist_op *ops, size_t n, struct ck_result *r)
{
    uint64_t *written = malloc((n + 1) * sizeof *written);
    struct lin_op *lin = malloc((2 * n + 1) * sizeof *lin);
    uint64_t *lin_bound = malloc((2 * n + 1) * sizeof *lin_bound);
    uint64_t *bound = ck_bounds(ops, n);
    if (!written || !lin || !lin_bound || !bound) {
        free(written);
        free(lin);
        free(lin_bound);
        free(bound);
        return -ENOMEM;
    }
    size_t n_written = 0, n_lin = 0;
    for (size_t i = 0; i < n; i++) {
        const struct hist_op *o = &ops[i];
        if (o->op == HOP_WRITE) {
            written[n_written++] = o->arg[0];
            size_t k = reg_write_ops(o, &lin[n_lin]);
            for (size_t j = 0; j < k; j++)
                lin_bound[n_lin + j] = bound[i];
            n_lin += k;
        } else if (o->op == HOP_READ && o->type == HIST_OK && !o->res[1]) {
            lin[n_lin] = lin_from(o, LIN_KV_GET, o->call_ns, o->ret_ns);
            lin[n_lin++].out[0] = o->res[0];
        }
    }
    qsort(written, n_written, sizeof *written, cmp_u64);
    reg_check_reads(ops, n, written, n_written, r);
    for (size_t i = 0; i < n; i++)
        if (ops[i].client == HIST_CLIENT_FINAL && ops[i].op == HOP_READ && ops[i].type == HIST_OK)
            reg_check_final(ops, n, &ops[i], r);
    int rc = run_lin(&lin_model_kv, lin, lin_bound, n_lin, "registers", r);
    free(written);
    free(lin);
    free(lin_bound);
    free(bound);
    return rc;
}

/* --- namespace ----------------------------------------------------------- */

/* lin_op encoding: kind = hist opcode (| NS_NOREPLACE), arg = names, out[0]
 * = 0 or the errno of a definite failure, out[1] = a listing's bitmap. */
#define NS_NOREPLACE 0x100u

static int ns_bit(uint64_t s, uint64_t name) { return (int)((s >> name) & 1); }

/* Whether op can succeed from s, and the state after it. */
static int ns_apply(uint64_t s, const struct lin_op *op, uint64_t *next)
{
    uint64_t a = op->arg[0], b = op->arg[1];
    *next = s;
    switch (op->kind & ~NS_NOREPLACE) {
    case HOP_CREATE:
        *next = s | (1ull << a);
        return !ns_bit(s, a);
    case HOP_UNLINK:
        *next = s & ~(1ull << a);
        return ns_bit(s, a);
    case HOP_RENAME:
        *next = (s & ~(1ull << a)) | (1ull << b);
        return ns_bit(s, a) && !((op->kind & NS_NOREPLACE) && ns_bit(s, b));
    case HOP_LIST:
        return 1;
    }
    return 0;
}

/* A definite failure is an observation: EEXIST says the (target) name was
 * there, ENOENT that the (source) name was not; other errors say nothing. */
static int ns_fail_legal(uint64_t s, const struct lin_op *op)
{
    uint32_t kind = op->kind & ~NS_NOREPLACE;
    if (op->out[0] == EEXIST)
        return ns_bit(s, kind == HOP_RENAME ? op->arg[1] : op->arg[0]);
    if (op->out[0] == ENOENT)
        return !ns_bit(s, op->arg[0]);
    return 1;
}

static void ns_init(void *state) { memset(state, 0, sizeof(uint64_t)); }

static int ns_step(void *state, const struct lin_op *op)
{
    uint64_t s, next;
    memcpy(&s, state, sizeof s);
    int known = op->ret_time != LIN_TIME_INF;
    if (known && op->out[0] != 0)
        return ns_fail_legal(s, op);
    if (!ns_apply(s, op, &next))
        return 0;
    if (known && (op->kind & ~NS_NOREPLACE) == HOP_LIST && op->out[1] != s)
        return 0;
    memcpy(state, &next, sizeof next);
    return 1;
}

static void ns_describe(const struct lin_op *op, char *out, size_t len)
{
    snprintf(out, len,
             "c%" PRIu64 " %s%s n%" PRIu64 " n%" PRIu64 " -> %s%" PRIu64 " [%#" PRIx64 "]",
             op->client, hist_op_name(op->kind & ~NS_NOREPLACE),
             (op->kind & NS_NOREPLACE) ? "(noreplace)" : "", op->arg[0], op->arg[1],
             op->out[0] ? "errno " : "", op->out[0], op->out[1]);
}

static const struct lin_model ns_model = {
    .name = "namespace",
    .state_size = sizeof(uint64_t),
    .partitioned = 1,
    .init = ns_init,
    .step = ns_step,
    .describe = ns_describe,
};

/* Translate one namespace op; 0 if it says nothing (a failure other than
 * EEXIST/ENOENT, a listing that failed). Keys are dir * CK_NAMES_MAX + name
 * (a listing: its dir's key of name 0); each directory is a partition, and
 * a rename between directories, which would couple two, is not checked. */
static int ns_lin_op(const struct hist_op *o, struct lin_op *out)
{
    if (o->op != HOP_CREATE && o->op != HOP_UNLINK && o->op != HOP_RENAME && o->op != HOP_LIST)
        return 0;
    if (o->op == HOP_LIST && o->type != HIST_OK)
        return 0;
    if (o->type == HIST_FAIL && o->res[0] != EEXIST && o->res[0] != ENOENT)
        return 0;
    uint64_t dir = o->key / CK_NAMES_MAX;
    if (o->op == HOP_RENAME && o->arg[0] / CK_NAMES_MAX != dir)
        return 0;
    *out = lin_from(o, o->op, o->call_ns, o->type == HIST_UNKNOWN ? LIN_TIME_INF : o->ret_ns);
    if (o->op == HOP_RENAME && o->arg[1])
        out->kind |= NS_NOREPLACE;
    out->arg[0] = o->key % CK_NAMES_MAX;
    out->arg[1] = o->op == HOP_RENAME ? o->arg[0] % CK_NAMES_MAX : 0;
    out->out[0] = o->type == HIST_FAIL ? o->res[0] : 0;
    out->out[1] = o->op == HOP_LIST ? o->res[0] : 0;
    out->key = dir;
    return 1;
}

int ck_namespace(const struct hist_op *ops, size_t n, struct ck_result *r)
{
    struct lin_op *lin = malloc((n + 1) * sizeof *lin);
    uint64_t *bound = ck_bounds(ops, n);
    if (!lin || !bound) {
        free(lin);
        free(bound);
        return -ENOMEM;
    }
    size_t n_lin = 0;
    for (size_t i = 0; i < n; i++) {
        bound[n_lin] = bound[i]; /* n_lin <= i: compacted in place */
        n_lin += (size_t)ns_lin_op(&ops[i], &lin[n_lin]);
    }
    int rc = run_lin(&ns_model, lin, bound, n_lin, "namespace", r);
    free(lin);
    free(bound);
    return rc;
}

/* --- append logs ----------------------------------------------------------- */

/* (log, writer, seq) as one sortable triple. */
struct ap_key {
    uint64_t log, writer, seq;
};

static int cmp_ap(const void *pa, const void *pb)
{
    const struct ap_key *a = pa, *b = pb;
    if (a->log != b->log)
        return a->log < b->log ? -1 : 1;
    if (a->writer != b->writer)
        return a->writer < b->writer ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Each writer's last seq seen in a log (writers are few: linear search). */
struct ap_last {
    uint32_t writer;
    uint64_t seq;
    size_t at;
};

/* Note a record whose seq is not above its writer's previous one (out of
 * order or duplicated); returns -ENOMEM if the table cannot grow. */
static int ap_order(const struct ck_log *lg, size_t i, struct ap_last **last, size_t *n_last,
                    struct ck_result *r)
{
    const struct ck_log_rec *e = &lg->rec[i];
    size_t w = 0;
    while (w < *n_last && (*last)[w].writer != e->writer)
        w++;
    if (w == *n_last) {
        struct ap_last *p = realloc(*last, (*n_last + 1) * sizeof *p);
        if (!p)
            return -ENOMEM;
        *last = p;
        p[(*n_last)++] = (struct ap_last){e->writer, e->seq, i};
        return 0;
    }
    struct ap_last *l = &(*last)[w];
    if (e->seq <= l->seq)
        ck_note(r,
                "log %" PRIu64 ": writer %" PRIu32 " seq %" PRIu64
                " at record %zu after seq %" PRIu64 " at record %zu (out of order or duplicated)",
                lg->key, e->writer, e->seq, i, l->seq, l->at);
    *l = (struct ap_last){e->writer, e->seq, i};
    return 0;
}

/* One log read at the end: no garbage, each writer's seqs strictly
 * increasing, every record appended by someone and not by an append that
 * failed definitely. */
static int ap_check_log(const struct ck_log *lg, const struct ap_key *inv, size_t n_inv,
                        const struct ap_key *failed, size_t n_failed, struct ck_result *r)
{
    if (lg->garbage)
        ck_note(r, "log %" PRIu64 ": %" PRIu64 " garbage line(s), first \"%.60s\"", lg->key,
                lg->garbage, lg->first_garbage);
    struct ap_last *last = NULL;
    size_t n_last = 0;
    int rc = 0;
    for (size_t i = 0; i < lg->n && rc == 0; i++) {
        const struct ck_log_rec *e = &lg->rec[i];
        struct ap_key k = {lg->key, e->writer, e->seq};
        if (!bsearch(&k, inv, n_inv, sizeof k, cmp_ap))
            ck_note(r, "log %" PRIu64 ": record w%" PRIu32 " s%" PRIu64 " was never appended",
                    lg->key, e->writer, e->seq);
        else if (bsearch(&k, failed, n_failed, sizeof k, cmp_ap))
            ck_note(r, "log %" PRIu64 ": record w%" PRIu32 " s%" PRIu64 " of a failed append",
                    lg->key, e->writer, e->seq);
        rc = ap_order(lg, i, &last, &n_last, r);
    }
    free(last);
    return rc;
}

/* Sorted (log, writer, seq) of every record in the logs. */
static struct ap_key *ap_present(const struct ck_log *logs, size_t n_logs, size_t *n)
{
    size_t total = 0;
    for (size_t i = 0; i < n_logs; i++)
        total += logs[i].n;
    struct ap_key *p = malloc((total + 1) * sizeof *p);
    if (!p)
        return NULL;
    *n = 0;
    for (size_t i = 0; i < n_logs; i++)
        for (size_t j = 0; j < logs[i].n; j++)
            p[(*n)++] = (struct ap_key){logs[i].key, logs[i].rec[j].writer, logs[i].rec[j].seq};
    qsort(p, *n, sizeof *p, cmp_ap);
    return p;
}

static void ap_keys(const struct hist_op *ops, size_t n, struct ap_key *inv, size_t *n_inv,
                    struct ap_key *failed, size_t *n_failed)
{
    *n_inv = *n_failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].op != HOP_APPEND)
            continue;
        struct ap_key k = {ops[i].key, ops[i].arg[0], ops[i].arg[1]};
        inv[(*n_inv)++] = k;
        if (ops[i].type == HIST_FAIL)
            failed[(*n_failed)++] = k;
    }
    qsort(inv, *n_inv, sizeof *inv, cmp_ap);
    qsort(failed, *n_failed, sizeof *failed, cmp_ap);
}

int ck_append(const struct hist_op *ops, size_t n, const struct ck_log *logs, size_t n_logs,
              struct ck_result *r)
{
    struct ap_key *inv = malloc((n + 1) * sizeof *inv);
    struct ap_key *failed = malloc((n + 1) * sizeof *failed);
    size_t n_inv, n_failed, n_present = 0;
    struct ap_key *present = ap_present(logs, n_logs, &n_present);
    int rc = inv && failed && present ? 0 : -ENOMEM;
    if (rc == 0)
        ap_keys(ops, n, inv, &n_inv, failed, &n_failed);
    for (size_t i = 0; i < n_logs && rc == 0; i++)
        rc = ap_check_log(&logs[i], inv, n_inv, failed, n_failed, r);
    /* Every acked append is in its log. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct hist_op *o = &ops[i];
        struct ap_key k = {o->key, o->arg[0], o->arg[1]};
        if (o->op == HOP_APPEND && o->type == HIST_OK &&
            !bsearch(&k, present, n_present, sizeof k, cmp_ap))
            ck_note(r, "log %" PRIu64 ": acked append w%" PRIu64 " s%" PRIu64 " lost", o->key,
                    o->arg[0], o->arg[1]);
    }
    free(inv);
    free(failed);
    free(present);
    return rc;
}

/* --- locks with fencing ---------------------------------------------------- */

static int cmp_lk_seq(const void *pa, const void *pb)
{
    const struct hist_op *a = *(const struct hist_op *const *)pa;
    const struct hist_op *b = *(const struct hist_op *const *)pb;
    if (a->client != b->client)
        return a->client < b->client ? -1 : 1;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

struct lk_span {
    uint64_t start, end; /* acquire answered, release invoked */
    uint64_t key, token;
    uint32_t client;
};

static int cmp_span(const void *pa, const void *pb)
{
    const struct lk_span *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->start < b->start ? -1 : a->start > b->start;
}

/* Mutual exclusion in real time: the holding spans [acquire answered,
 * release invoked] of grants whose release (the same client's next op on the
 * lock) then succeeded, so the lock was never lost on the way (e.g. by an
 * expired session), must not overlap. */
static int lk_check_spans(const struct hist_op *ops, size_t n, struct ck_result *r)
{
    struct lk_span *sp = malloc((n + 1) * sizeof *sp);
    const struct hist_op **lk = malloc((n + 1) * sizeof *lk);
    if (!sp || !lk) {
        free(sp);
        free(lk);
        return -ENOMEM;
    }
    size_t m = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i].op == HOP_ACQUIRE || ops[i].op == HOP_RELEASE)
            lk[k++] = &ops[i];
    qsort(lk, k, sizeof *lk, cmp_lk_seq);
    for (size_t i = 0; i + 1 < k; i++) {
        const struct hist_op *a = lk[i], *rel = lk[i + 1];
        if (a->op == HOP_ACQUIRE && a->type == HIST_OK && rel->op == HOP_RELEASE &&
            rel->type == HIST_OK && rel->client == a->client && rel->key == a->key)
            sp[m++] = (struct lk_span){a->ret_ns, rel->call_ns, a->key, a->res[0], a->client};
    }
    qsort(sp, m, sizeof *sp, cmp_span);
    for (size_t i = 1, hold = 0; i < m; i++) {
        if (sp[i].key != sp[hold].key) {
            hold = i;
            continue;
        }
        if (sp[i].start < sp[hold].end)
            ck_note(r,
                    "lock %" PRIu64 ": holders overlap: client %" PRIu32 " (token %" PRIu64
                    ") until %" PRIu64 ", client %" PRIu32 " (token %" PRIu64 ") from %" PRIu64,
                    sp[i].key, sp[hold].client, sp[hold].token, sp[hold].end, sp[i].client,
                    sp[i].token, sp[i].start);
        if (sp[i].end > sp[hold].end)
            hold = i;
    }
    free(sp);
    free(lk);
    return 0;
}

struct lk_ev {
    uint64_t key, call, ret, token;
    uint32_t client;
};

static int cmp_ev_ret(const void *pa, const void *pb)
{
    const struct lk_ev *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->ret < b->ret ? -1 : a->ret > b->ret;
}

static int cmp_ev_call(const void *pa, const void *pb)
{
    const struct lk_ev *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->call < b->call ? -1 : a->call > b->call;
}

/* Tokens in real-time order: an op answered (ret) before another was invoked
 * (call) must carry a token not above the later one's (strict for grants;
 * not for accepted fenced writes: a holder may write twice). One sweep over
 * the ops sorted by answer and by invocation, keeping the largest token
 * answered so far. */
static int lk_check_order(const struct hist_op *ops, size_t n, uint32_t op, int strict,
                          const char *what, struct ck_result *r)
{
    struct lk_ev *by_ret = malloc((n + 1) * sizeof *by_ret);
    struct lk_ev *by_call = malloc((n + 1) * sizeof *by_call);
    if (!by_ret || !by_call) {
        free(by_ret);
        free(by_call);
        return -ENOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i].op == op && ops[i].type == HIST_OK)
            by_ret[m++] =
                (struct lk_ev){ops[i].key, ops[i].call_ns, ops[i].ret_ns,
                               op == HOP_ACQUIRE ? ops[i].res[0] : ops[i].arg[0], ops[i].client};
    memcpy(by_call, by_ret, m * sizeof *by_call);
    qsort(by_ret, m, sizeof *by_ret, cmp_ev_ret);
    qsort(by_call, m, sizeof *by_call, cmp_ev_call);
    const struct lk_ev *max = NULL;
    for (size_t b = 0, a = 0; b < m; b++) {
        const struct lk_ev *e = &by_call[b];
        if (b == 0 || by_call[b - 1].key != e->key)
            max = NULL;
        while (a < m &&
               (by_ret[a].key < e->key || (by_ret[a].key == e->key && by_ret[a].ret < e->call))) {
            if (by_ret[a].key == e->key && (!max || by_ret[a].token > max->token))
                max = &by_ret[a];
            a++;
        }
        if (max && (e->token < max->token || (strict && e->token == max->token)))
            ck_note(r,
                    "lock %" PRIu64 ": %s token went backwards: %" PRIu64 " (client %" PRIu32
                    ") after %" PRIu64 " (client %" PRIu32 ")",
                    e->key, what, e->token, e->client, max->token, max->client);
    }
    free(by_ret);
    free(by_call);
    return 0;
}

/* The final fenced value: the newest accepted token (or a newer one whose
 * write's outcome is unknown), with the value written under it. */
static void lk_check_final(const struct hist_op *ops, size_t n, const struct hist_op *fin,
                           struct ck_result *r)
{
    uint64_t max_ok = 0;
    int found = fin->res[0] == 0 && fin->res[1] == 0;
    for (size_t i = 0; i < n; i++) {
        const struct hist_op *w = &ops[i];
        if (w->op != HOP_FWRITE || w->key != fin->key)
            continue;
        if (w->type == HIST_OK && w->arg[0] > max_ok)
            max_ok = w->arg[0];
        if (w->type != HIST_FAIL && w->arg[0] == fin->res[0] && w->arg[1] == fin->res[1])
            found = 1;
    }
    if (fin->res[2])
        ck_note(r, "fenced register %" PRIu64 ": final bytes are no record", fin->key);
    else if (!found)
        ck_note(r,
                "fenced register %" PRIu64 ": final (token %" PRIu64 ", value %" PRIu64
                ") was never written",
                fin->key, fin->res[0], fin->res[1]);
    else if (fin->res[0] < max_ok)
        ck_note(r,
                "fenced register %" PRIu64 ": acked write with token %" PRIu64
                " lost (final token %" PRIu64 ")",
                fin->key, max_ok, fin->res[0]);
}

/* Locks with a release refused with ENOENT (the lock had been lost, e.g.
 * to an expired session): sorted, in lost[0..*n_lost). */
static void lk_lost_keys(const struct hist_op *ops, size_t n, uint64_t *lost, size_t *n_lost)
{
    *n_lost = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i].op == HOP_RELEASE && ops[i].type == HIST_FAIL)
            lost[(*n_lost)++] = ops[i].key;
    qsort(lost, *n_lost, sizeof *lost, cmp_u64);
}

/* A client whose history ends while it may hold a lock (its last acquire or
 * release of the key is an acquire that succeeded or whose outcome is
 * unknown: a worker killed holding it) loses the lock when its session
 * expires, at a time nobody recorded: a release that may take effect any
 * time after its last op (nemesis finding 5). Written to out; returns how
 * many. */
static size_t lk_dead_releases(const struct hist_op *ops, size_t n, const uint64_t *lost,
                               size_t n_lost, struct lin_op *out)
{
    const struct hist_op **lk = malloc((n + 1) * sizeof *lk);
    if (!lk)
        return 0;
    size_t k = 0, m = 0;
    for (size_t i = 0; i < n; i++)
        if ((ops[i].op == HOP_ACQUIRE || ops[i].op == HOP_RELEASE) &&
            !has_u64(lost, n_lost, ops[i].key))
            lk[k++] = &ops[i];
    qsort(lk, k, sizeof *lk, cmp_lk_seq);
    for (size_t i = 0; i < k; i++) {
        const struct hist_op *o = lk[i];
        int last = i + 1 == k || lk[i + 1]->client != o->client || lk[i + 1]->key != o->key;
        if (!last || o->op != HOP_ACQUIRE || o->type == HIST_FAIL)
            continue;
        uint64_t from = o->type == HIST_OK ? o->ret_ns : o->call_ns;
        out[m] = lin_from(o, LIN_LOCK_RELEASE, from, LIN_TIME_INF);
        out[m++].out[0] = 1;
    }
    free(lk);
    return m;
}

/* Acquires and releases against lincheck's lock model, which knows no
 * session expiry: locks that were lost on the way are left out, and a
 * client that ended holding one releases it some time later. */
static int lk_lin(const struct hist_op *ops, size_t n, struct ck_result *r)
{
    struct lin_op *lin = malloc((2 * n + 1) * sizeof *lin);
    uint64_t *lost = malloc((n + 1) * sizeof *lost);
    if (!lin || !lost) {
        free(lin);
        free(lost);
        return -ENOMEM;
    }
    size_t m = 0, n_lost;
    lk_lost_keys(ops, n, lost, &n_lost);
    for (size_t i = 0; i < n; i++) {
        const struct hist_op *o = &ops[i];
        if ((o->op != HOP_ACQUIRE && o->op != HOP_RELEASE) || has_u64(lost, n_lost, o->key))
            continue;
        if (o->type == HIST_FAIL && o->res[0] != EAGAIN)
            continue; /* refused for another reason: nothing happened */
        uint32_t kind = o->op == HOP_ACQUIRE ? LIN_LOCK_ACQUIRE : LIN_LOCK_RELEASE;
        lin[m] = lin_from(o, kind, o->call_ns, o->type == HIST_UNKNOWN ? LIN_TIME_INF : o->ret_ns);
        lin[m++].out[0] = o->type == HIST_FAIL ? 0 : o->op == HOP_ACQUIRE ? o->res[0] : 1;
    }
    m += lk_dead_releases(ops, n, lost, n_lost, lin + m);
    int rc = run_lin(&lin_model_lock, lin, NULL, m, "locks", r); /* no bounds: ck_bounds */
    free(lin);
    free(lost);
    return rc;
}

int ck_lock(const struct hist_op *ops, size_t n, struct ck_result *r)
{
    int rc = lk_check_spans(ops, n, r);
    if (rc == 0)
        rc = lk_check_order(ops, n, HOP_ACQUIRE, 1, "grant", r);
    if (rc == 0)
        rc = lk_check_order(ops, n, HOP_FWRITE, 0, "accepted fenced write", r);
    for (size_t i = 0; i < n; i++)
        if (ops[i].client == HIST_CLIENT_FINAL && ops[i].op == HOP_FREAD && ops[i].type == HIST_OK)
            lk_check_final(ops, n, &ops[i], r);
    return rc ? rc : lk_lin(ops, n, r);
}
