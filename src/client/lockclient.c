/* lockclient.c: locks, compare-and-set and transactions of libcairn
 * (include/cairn_lock.h; the threading scheme is in lockclient.h). */
#include "client/lockclient.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <uv.h>

#include "cairn_errors.h"
#include "client/api_int.h"
#include "client/metaclient.h"
#include "common/assert.h"
#include "common/time.h"
#include "meta/cmd.h"
#include "wire/codec.h"

#define LOCKS_LEASE_MS_DEFAULT 10000u
#define LOCKS_POLL_MS_MIN 2u
/* Reply bytes kept between calls. */
#define LOCKS_REPLY_MAX (CAIRN_LOCK_LIST_BYTES_MAX + 4096u)

struct cairn_locks;

/* One command handed to the loop thread. */
struct lc_job {
    struct lc_job *next;
    struct cairn_locks *l;
    int mutation;
    const uint8_t *cmd;
    size_t len;
    struct cairn_buf *reply;
    int status;
    int done;
};

struct cairn_locks {
    pthread_mutex_t call_mu; /* serializes API calls */
    pthread_mutex_t mu;      /* the job queue, done flags, stop */
    pthread_cond_t cv;
    struct lc_job *head, *tail;
    int stop;
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t async;
    struct metaclient *mc;
    uint64_t owner;
    struct meta_cred cred;
    struct cairn_buf cmd, reply;
    size_t n_held;
    char held[CAIRN_LOCKCLIENT_HELD_MAX][CAIRN_LOCK_NAME_MAX + 1];
};

/* --- the loop thread ------------------------------------------------------ */

static void job_finish(struct lc_job *j, int status)
{
    pthread_mutex_lock(&j->l->mu);
    j->status = status;
    j->done = 1;
    pthread_cond_broadcast(&j->l->cv);
    pthread_mutex_unlock(&j->l->mu);
}

static void job_done(struct metaclient *mc, const struct metaclient_result *res, void *arg)
{
    (void)mc;
    struct lc_job *j = arg;
    int st = res->status;
    /* the caller's buffer: it is only read after done is seen under mu */
    if (res->reply && buf_append(j->reply, res->reply, res->reply_len))
        st = CAIRN_ENOMEM;
    job_finish(j, st);
}

/* Take the queued jobs and start them; on stop, close the metaclient (which
 * completes what is outstanding) and the wake-up handle, so uv_run returns. */
static void async_cb(uv_async_t *h)
{
    struct cairn_locks *l = h->data;
    pthread_mutex_lock(&l->mu);
    struct lc_job *j = l->head;
    l->head = l->tail = NULL;
    int stop = l->stop;
    pthread_mutex_unlock(&l->mu);
    while (j) {
        struct lc_job *next = j->next; /* j may be freed once finished */
        int rc = stop          ? CAIRN_SHUTDOWN
                 : j->mutation ? metaclient_mutate(l->mc, j->cmd, j->len, job_done, j)
                               : metaclient_query(l->mc, j->cmd, j->len, job_done, j);
        if (rc)
            job_finish(j, rc);
        j = next;
    }
    if (stop) {
        metaclient_close(l->mc);
        uv_close((uv_handle_t *)&l->async, NULL);
    }
}

static void *loop_main(void *arg)
{
    struct cairn_locks *l = arg;
    uv_run(&l->loop, UV_RUN_DEFAULT);
    return NULL;
}

int lockclient_call(struct cairn_locks *l, int mutation, const uint8_t *cmd, size_t len,
                    struct cairn_buf *reply)
{
    struct lc_job j = {.l = l, .mutation = mutation, .cmd = cmd, .len = len, .reply = reply};
    pthread_mutex_lock(&l->mu);
    if (l->stop) {
        pthread_mutex_unlock(&l->mu);
        return CAIRN_SHUTDOWN;
    }
    if (l->tail)
        l->tail->next = &j;
    else
        l->head = &j;
    l->tail = &j;
    pthread_mutex_unlock(&l->mu);
    uv_async_send(&l->async);
    pthread_mutex_lock(&l->mu);
    while (!j.done)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    if (j.status == 0 && reply->len < 4)
        return CAIRN_TRUNCATED;
    return j.status;
}

/* --- open, close ------------------------------------------------------------ */

static int locks_start(struct cairn_locks *l, struct cairn *c, uint32_t lease_ms)
{
    const char *addrs[CAIRN_RPC_ADDRS_MAX];
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_addrs; i++)
        addrs[i] = c->addrs[i];
    struct metaclient_cfg cfg = {
        .addrs = addrs,
        .n_addrs = c->n_addrs,
        .secret = &c->secret,
        .name = "libcairn-locks",
        .sessions = 1,
        .lease_ms = lease_ms,
    };
    l->cred = c->cred;
    int rc = uv_loop_init(&l->loop) ? CAIRN_EIO : 0;
    if (rc == 0 && (rc = metaclient_new(&l->loop, &cfg, &l->mc)) != 0)
        uv_loop_close(&l->loop);
    pthread_mutex_unlock(&c->mu);
    if (rc)
        return rc;
    l->async.data = l;
    uv_async_init(&l->loop, &l->async, async_cb);
    if (pthread_create(&l->thread, NULL, loop_main, l)) {
        metaclient_close(l->mc);
        uv_close((uv_handle_t *)&l->async, NULL);
        uv_run(&l->loop, UV_RUN_DEFAULT);
        uv_loop_close(&l->loop);
        return CAIRN_ENOMEM;
    }
    return 0;
}

int cairn_locks_open(struct cairn *c, uint32_t lease_ms, struct cairn_locks **out)
{
    *out = NULL;
    if (!lease_ms)
        lease_ms = LOCKS_LEASE_MS_DEFAULT;
    if (lease_ms < CAIRN_SESSION_LEASE_MIN_MS || lease_ms > CAIRN_SESSION_LEASE_MAX_MS)
        return CAIRN_EINVAL;
    struct cairn_locks *l = calloc(1, sizeof *l);
    if (!l)
        return CAIRN_ENOMEM;
    pthread_mutex_init(&l->call_mu, NULL);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    buf_init(&l->cmd, CAIRN_FRAME_PAYLOAD_MAX);
    buf_init(&l->reply, LOCKS_REPLY_MAX);
    while (l->owner == 0)
        if (getrandom(&l->owner, sizeof l->owner, 0) != (ssize_t)sizeof l->owner)
            l->owner = time_mono_ns() ^ ((uint64_t)getpid() << 32);
    int rc = locks_start(l, c, lease_ms);
    if (rc) {
        buf_free(&l->cmd);
        buf_free(&l->reply);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

static void lock_req(struct meta_lock_req *q, const struct cairn_locks *l, const char *name)
{
    memset(q, 0, sizeof *q);
    q->kind = META_LOCK_NAMED;
    q->name = name;
    q->owner = l->owner;
}

static void locks_hdr(const struct cairn_locks *l, struct meta_hdr *h)
{
    memset(h, 0, sizeof *h);
    h->cred = l->cred;
}

/* LOCK_RELEASE of name; status of the reply. */
static int release_one(struct cairn_locks *l, const char *name)
{
    struct meta_hdr h;
    struct meta_lock_req q;
    locks_hdr(l, &h);
    lock_req(&q, l, name);
    buf_reset(&l->cmd);
    buf_reset(&l->reply);
    int rc = meta_cmd_lock_release(&l->cmd, &h, &q);
    return rc ? rc : lockclient_call(l, 1, l->cmd.data, l->cmd.len, &l->reply);
}

/* Release what the handle holds (the session itself ends with its lease:
 * the metaclient does not close sessions), stop the thread, free. */
void cairn_locks_close(struct cairn_locks *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->call_mu);
    for (size_t i = 0; i < l->n_held; i++)
        (void)release_one(l, l->held[i]);
    l->n_held = 0;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_mutex_unlock(&l->mu);
    uv_async_send(&l->async);
    pthread_join(l->thread, NULL);
    uv_run(&l->loop, UV_RUN_DEFAULT); /* close callbacks left, if any */
    uv_loop_close(&l->loop);
    pthread_mutex_unlock(&l->call_mu);
    pthread_mutex_destroy(&l->call_mu);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    buf_free(&l->cmd);
    buf_free(&l->reply);
    free(l);
}

/* --- lock, unlock, list ------------------------------------------------------ */

/* One LOCK of a LOCK_LIST reply into info; owner's entries into out. */
static void seen_lock(struct wire_dec *d, uint64_t owner, struct lockclient_seen *out)
{
    struct cairn_lock_info *in = &out->info;
    (void)wire_get_u8(d);
    (void)wire_get_u64(d);
    struct wire_bytes nm = wire_get_str16(d, CAIRN_LOCK_NAME_MAX);
    if (!d->err) {
        memcpy(in->name, nm.p, nm.len);
        in->name[nm.len] = 0;
    }
    in->last_token = wire_get_u64(d);
    (void)wire_get_u64(d);
    in->holders = wire_get_u32(d);
    for (uint32_t i = 0; i < in->holders && !d->err; i++) {
        uint64_t session = wire_get_u64(d), own = wire_get_u64(d);
        uint8_t mode = wire_get_u8(d);
        (void)wire_get_u64(d);
        (void)wire_get_u64(d);
        uint64_t token = wire_get_u64(d);
        if (i == 0) {
            in->mode = mode;
            in->holder_session = session;
            in->holder_token = token;
        }
        if (own == owner && owner) {
            out->held = 1;
            out->token = token;
            out->session = session;
        }
    }
    in->waiters = wire_get_u32(d);
    for (uint32_t i = 0; i < in->waiters && !d->err; i++) {
        uint64_t session = wire_get_u64(d), own = wire_get_u64(d);
        (void)wire_get_raw(d, 1 + 8 + 8 + 8 + 8);
        if (own == owner && owner) {
            out->waiting = 1;
            out->session = session;
        }
    }
}

int lockclient_seen_parse(const uint8_t *reply, size_t len, const char *name, uint64_t owner,
                          struct lockclient_seen *out)
{
    memset(out, 0, sizeof *out);
    struct wire_dec d;
    wire_dec_init(&d, reply, len);
    int st = (int32_t)wire_get_u32(&d);
    if (d.err)
        return d.err;
    if (st)
        return st;
    uint32_t n = wire_get_u32(&d);
    if (n > 0) {
        seen_lock(&d, owner, out);
        out->found = !d.err && strcmp(out->info.name, name) == 0;
        if (!out->found)
            out->held = out->waiting = 0;
    }
    return d.err;
}

/* LOCK_LIST of the locks after `after` (NULL: from the start) whose names
 * start with prefix; the reply is left in l->reply. */
static int list_query(struct cairn_locks *l, const char *prefix, const char *after, uint32_t max)
{
    struct meta_hdr h;
    struct meta_lock_req a;
    locks_hdr(l, &h);
    lock_req(&a, l, after);
    buf_reset(&l->cmd);
    buf_reset(&l->reply);
    int rc = meta_cmd_lock_list(&l->cmd, &h, META_LOCK_NAMED, prefix ? prefix : "",
                                after && *after ? &a : NULL, max);
    return rc ? rc : lockclient_call(l, 0, l->cmd.data, l->cmd.len, &l->reply);
}

/* What the leader knows of this handle and lock `name`. */
static int poll_seen(struct cairn_locks *l, const char *name, struct lockclient_seen *out)
{
    int rc = list_query(l, name, NULL, 1);
    if (rc == 0 || l->reply.len >= 4)
        rc = lockclient_seen_parse(l->reply.data, l->reply.len, name, l->owner, out);
    return rc;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The waiter gave up at its deadline: cancel; a grant that raced with the
 * cancel is kept (the caller got the lock after all). */
static int wait_give_up(struct cairn_locks *l, const char *name, uint64_t wait_id, uint64_t *token)
{
    struct meta_hdr h;
    locks_hdr(l, &h);
    buf_reset(&l->cmd);
    buf_reset(&l->reply);
    int rc = meta_cmd_lock_cancel(&l->cmd, &h, wait_id);
    if (rc == 0)
        rc = lockclient_call(l, 1, l->cmd.data, l->cmd.len, &l->reply);
    if (rc != CAIRN_ENOENT)
        return rc ? rc : CAIRN_ETIMEDOUT;
    struct lockclient_seen s;
    rc = poll_seen(l, name, &s);
    if (rc == 0 && s.held) {
        *token = s.token;
        return 0;
    }
    return rc ? rc : CAIRN_ETIMEDOUT;
}

/* Polling failed (not a timeout): leave no waiter behind, nor a grant that
 * nobody knows of; best effort, the caller gets rc. */
static int wait_abandon(struct cairn_locks *l, const char *name, uint64_t wait_id, int rc)
{
    uint64_t token;
    if (wait_give_up(l, name, wait_id, &token) == 0)
        (void)release_one(l, name);
    return rc;
}

/* A queued acquire: poll until the owner holds the lock, its deadline
 * passes, or it left the queue without a grant (its session ended). */
static int wait_grant(struct cairn_locks *l, const char *name, uint64_t wait_id,
                      uint32_t timeout_ms, uint64_t *token)
{
    uint64_t deadline = timeout_ms ? time_mono_ms() + timeout_ms : 0;
    uint32_t pause = LOCKS_POLL_MS_MIN;
    for (;;) {
        struct lockclient_seen s;
        int rc = poll_seen(l, name, &s);
        if (rc == 0 && s.held) {
            *token = s.token;
            return 0;
        }
        if (rc == 0 && !s.waiting)
            return CAIRN_SESSION;
        if (rc && rc != CAIRN_ETIMEDOUT)
            return wait_abandon(l, name, wait_id, rc);
        if (deadline && time_mono_ms() >= deadline)
            return wait_give_up(l, name, wait_id, token);
        sleep_ms(pause);
        pause = pause * 2 > CAIRN_LOCK_POLL_MS_MAX ? CAIRN_LOCK_POLL_MS_MAX : pause * 2;
    }
}

static int acquire(struct cairn_locks *l, const char *name, int mode, unsigned flags,
                   uint32_t timeout_ms, uint64_t *token)
{
    struct meta_hdr h;
    struct meta_lock_req q;
    locks_hdr(l, &h);
    lock_req(&q, l, name);
    q.mode = mode == CAIRN_LOCK_SHARED ? META_LOCK_SHARED : META_LOCK_EXCLUSIVE;
    q.flags = (flags & CAIRN_LOCK_TRY) ? 0 : META_LOCK_WAIT;
    /* the server drops the waiter a little after the client gives up */
    q.wait_ms = q.flags && timeout_ms ? timeout_ms + 1000u : 0;
    buf_reset(&l->cmd);
    buf_reset(&l->reply);
    int rc = meta_cmd_lock_acquire(&l->cmd, &h, &q);
    if (rc == 0)
        rc = lockclient_call(l, 1, l->cmd.data, l->cmd.len, &l->reply);
    if (rc)
        return rc;
    struct wire_dec d;
    wire_dec_init(&d, l->reply.data + 4, l->reply.len - 4);
    uint8_t state = wire_get_u8(&d);
    uint64_t tok = wire_get_u64(&d), wait_id = wire_get_u64(&d);
    if (d.err)
        return d.err;
    if (state == META_LOCK_GRANTED) {
        *token = tok;
        return 0;
    }
    return wait_grant(l, name, wait_id, timeout_ms, token);
}

int cairn_lock(struct cairn_locks *l, const char *name, int mode, unsigned flags,
               uint32_t timeout_ms, uint64_t *token)
{
    *token = 0;
    if (!name || !*name || strlen(name) > CAIRN_LOCK_NAME_MAX ||
        (mode != CAIRN_LOCK_SHARED && mode != CAIRN_LOCK_EXCLUSIVE) || (flags & ~CAIRN_LOCK_TRY))
        return CAIRN_EINVAL;
    pthread_mutex_lock(&l->call_mu);
    int rc = CAIRN_LIMIT;
    if (l->n_held < CAIRN_LOCKCLIENT_HELD_MAX)
        rc = acquire(l, name, mode, flags, timeout_ms, token);
    if (rc == 0)
        memcpy(l->held[l->n_held++], name, strlen(name) + 1);
    pthread_mutex_unlock(&l->call_mu);
    return rc;
}

int cairn_unlock(struct cairn_locks *l, const char *name)
{
    if (!name || !*name || strlen(name) > CAIRN_LOCK_NAME_MAX)
        return CAIRN_EINVAL;
    pthread_mutex_lock(&l->call_mu);
    int rc = release_one(l, name);
    for (size_t i = 0; i < l->n_held; i++) {
        if (strcmp(l->held[i], name) == 0) {
            memmove(l->held[i], l->held[l->n_held - 1], sizeof l->held[i]);
            l->n_held--;
            break;
        }
    }
    pthread_mutex_unlock(&l->call_mu);
    return rc;
}

/* Decode up to max locks of a LOCK_LIST reply in l->reply. */
static int list_decode(struct cairn_locks *l, struct cairn_lock_info *out, size_t max, int *more)
{
    struct wire_dec d;
    wire_dec_init(&d, l->reply.data + 4, l->reply.len - 4);
    uint32_t n = wire_get_u32(&d);
    if (n > max)
        return CAIRN_BADMSG;
    for (uint32_t i = 0; i < n && !d.err; i++) {
        struct lockclient_seen s;
        memset(&s, 0, sizeof s);
        seen_lock(&d, 0, &s);
        out[i] = s.info;
    }
    *more = wire_get_u8(&d);
    return d.err ? d.err : (int)n;
}

int cairn_lock_list(struct cairn_locks *l, const char *after, struct cairn_lock_info *out,
                    size_t max, int *more)
{
    *more = 0;
    if (max == 0)
        return 0;
    if (max > CAIRN_LOCK_LIST_MAX)
        max = CAIRN_LOCK_LIST_MAX;
    pthread_mutex_lock(&l->call_mu);
    int rc = list_query(l, NULL, after, (uint32_t)max);
    if (rc == 0)
        rc = list_decode(l, out, max, more);
    pthread_mutex_unlock(&l->call_mu);
    return rc;
}

/* The compare-and-set calls (cairn_*_if) are in api_ns.c. */

/* --- transactions ------------------------------------------------------------ */

/* Where a path's last component lives: its parent and name. */
static int txn_where(struct cairn *c, const char *path, struct api_where *w)
{
    uint32_t links = 0;
    int rc = api_path_check(path);
    if (rc == 0)
        rc = api_walk_parent(c, 1, path, &links, w);
    if (rc == 0 && !w->name[0])
        rc = CAIRN_EINVAL; /* "/" or "a/..": no entry to act on */
    return rc;
}

/* One op as a whole command in `cmd` (its header is dropped by the TXN). */
static int txn_op_cmd(struct cairn *c, const struct cairn_txn_op *op, struct cairn_buf *cmd)
{
    struct api_where w, w2;
    struct meta_hdr h;
    struct meta_attr a;
    api_hdr(c, &h);
    int rc = txn_where(c, op->path, &w);
    if (rc)
        return rc;
    switch (op->kind) {
    case CAIRN_TXN_MKDIR:
        return meta_cmd_mkdir(cmd, &h, w.parent, w.name, op->mode & 07777u);
    case CAIRN_TXN_CREATE:
        return meta_cmd_create(cmd, &h, w.parent, w.name, op->mode & 07777u, 1);
    case CAIRN_TXN_UNLINK:
        return meta_cmd_unlink(cmd, &h, w.parent, w.name);
    case CAIRN_TXN_RMDIR:
        return meta_cmd_rmdir(cmd, &h, w.parent, w.name);
    case CAIRN_TXN_RENAME:
        if (!op->path2 || (rc = txn_where(c, op->path2, &w2)) != 0)
            return rc ? rc : CAIRN_EINVAL;
        return meta_cmd_rename(cmd, &h, w.parent, w.name, w2.parent, w2.name, 0);
    case CAIRN_TXN_SETXATTR:
    case CAIRN_TXN_CHMOD:
        if ((rc = api_resolve(c, op->path, 1, &a)) != 0)
            return rc;
        if (op->kind == CAIRN_TXN_SETXATTR)
            return op->path2
                       ? meta_cmd_setxattr(cmd, &h, a.ino, op->path2, op->value, op->value_len, 0)
                       : CAIRN_EINVAL;
        uint64_t ino = a.ino;
        memset(&a, 0, sizeof a);
        a.mode = op->mode & 07777u;
        return meta_cmd_setattr(cmd, &h, ino, META_SET_MODE, &a);
    default:
        return CAIRN_EINVAL;
    }
}

/* One condition of the batch. */
static int txn_cond(struct cairn *c, struct meta_txn_enc *t, const struct cairn_txn_op *op)
{
    struct api_where w;
    struct meta_attr a;
    int rc;
    switch (op->kind) {
    case CAIRN_TXN_IF_VERSION:
        if ((rc = api_resolve(c, op->path, 0, &a)) != 0)
            return rc;
        meta_txn_if_version(t, a.ino, op->version);
        return 0;
    case CAIRN_TXN_IF_EXISTS:
    case CAIRN_TXN_IF_ABSENT:
        if ((rc = txn_where(c, op->path, &w)) != 0)
            return rc;
        if (op->kind == CAIRN_TXN_IF_EXISTS)
            meta_txn_if_exists(t, w.parent, w.name);
        else
            meta_txn_if_absent(t, w.parent, w.name);
        return 0;
    default:
        return CAIRN_EINVAL;
    }
}

/* Build the TXN into c->cmd; *bad: the op that could not be built. */
static int txn_build(struct cairn *c, struct cairn_txn_op *ops, size_t n, size_t *bad)
{
    struct cairn_buf one, out;
    struct meta_txn_enc t;
    struct meta_hdr h;
    buf_init(&one, CAIRN_FRAME_PAYLOAD_MAX);
    buf_init(&out, CAIRN_FRAME_PAYLOAD_MAX);
    api_hdr(c, &h);
    meta_txn_begin(&t, &out, &h);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        *bad = i;
        if (ops[i].kind < CAIRN_TXN_MKDIR) {
            rc = txn_cond(c, &t, &ops[i]);
            continue;
        }
        buf_reset(&one);
        rc = txn_op_cmd(c, &ops[i], &one);
        if (rc == 0)
            meta_txn_op(&t, one.data, one.len);
    }
    int end = meta_txn_end(&t);
    if (rc == 0 && end) {
        rc = end;
        *bad = SIZE_MAX;
    }
    buf_reset(&c->cmd);
    if (rc == 0)
        rc = buf_append(&c->cmd, out.data, out.len);
    buf_free(&one);
    buf_free(&out);
    return rc;
}

/* The failing item of a failed TXN reply: u8 stage, u16 item (index among
 * all items, which txn_build encodes in the caller's order). */
static size_t txn_failed_index(const struct cairn *c, size_t n)
{
    struct wire_dec d;
    wire_dec_init(&d, c->reply.data + 4, c->reply.len - 4);
    (void)wire_get_u8(&d);
    uint16_t item = wire_get_u16(&d);
    return d.err || item >= n ? SIZE_MAX : item;
}

int cairn_txn(struct cairn *c, struct cairn_txn_op *ops, size_t n, size_t *failed)
{
    *failed = SIZE_MAX;
    if (n == 0 || n > 2u * CAIRN_TXN_OPS_MAX)
        return CAIRN_EINVAL;
    for (size_t i = 0; i < n; i++) {
        ops[i].result = 0;
        if (!ops[i].path)
            return CAIRN_EINVAL;
    }
    pthread_mutex_lock(&c->mu);
    size_t bad = SIZE_MAX;
    int rc = txn_build(c, ops, n, &bad);
    if (rc == 0) {
        rc = api_mutate(c);
        if (rc && c->reply.len >= 4)
            bad = txn_failed_index(c, n);
        else
            bad = SIZE_MAX;
    }
    if (rc) {
        *failed = bad;
        if (bad < n)
            ops[bad].result = rc;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}
