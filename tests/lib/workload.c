/* workload.c: the nemesis workloads over libcairn, their final reads and
 * checks (workload.h; what each records: history.h; docs/checkers.md). */
#include "workload.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "cairn_errors.h"
#include "checkers.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "common/prng.h"
#include "common/time.h"
#include "history.h"

/* One metadata operation with all its retries: short, so an operation cut
 * off by a partition ends (as unknown) well within a test's run. */
#define WL_OP_TIMEOUT_MS 5000u
/* Lock sessions: expire soon after their client dies or is cut off. */
#define WL_LOCK_LEASE_MS 5000u
/* How long wl_check retries a final read before giving up. */
#define WL_FINAL_TIMEOUT_MS 60000u
/* Register file: "c<client>-n<seq>" padded with '.', ' ', CRC32C hex, '\n'. */
#define WL_REG_BODY 54u
#define WL_REG_SIZE (WL_REG_BODY + 10u)
/* Append record: "w<writer> s<seq> <crc hex>\n"; longest line accepted. */
#define WL_LOG_LINE_MAX 64u
#define WL_PATH_MAX 512u
#define WL_NAME_MAX 32u
#define WL_SHARED_LOG 0u
/* Directories of the namespace workload: each its own lincheck partition,
 * so a long run's history splits into smaller searches. */
#define WL_NS_DIRS 4u
/* Register and lock files made by wl_setup: wl_cfg.keys may not exceed it. */
#define WL_SETUP_KEYS WL_KEYS_MAX

struct wl {
    const struct wl_cfg *cfg;
    struct cairn *c;
    struct cairn_locks *locks;
    struct hist_writer h;
    struct prng rng;
    uint64_t seq_own, seq_shared; /* append: next record per log */
};

static void wl_sleep_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

static int wl_connect(const char *cluster_file, const char *name, struct cairn **out)
{
    struct cairn_config cfg = {.cluster_file = cluster_file,
                               .name = name,
                               .op_timeout_ms = WL_OP_TIMEOUT_MS,
                               .mode_mask = -1};
    return cairn_connect(&cfg, out);
}

/* Connect, retrying until deadline_ms (monotonic): a worker may start while
 * the cluster is partitioned or electing. */
static int wl_connect_until(const char *cluster_file, const char *name, uint64_t deadline_ms,
                            struct cairn **out)
{
    int rc;
    while ((rc = wl_connect(cluster_file, name, out)) != 0 && time_mono_ms() < deadline_ms)
        wl_sleep_ms(200);
    return rc;
}

/* Errors that say operation op (0: any) was not applied. Anything else on
 * a mutation (timeouts, lost connections, EIO, NOTLEADER's EAGAIN after the
 * retries ran out, ...) leaves its outcome unknown. */
static int wl_definite(int rc, uint32_t op)
{
    switch (rc) {
    case -ENOENT:
    case -EEXIST:
    case -ENOTDIR:
    case -EISDIR:
    case -ENOTEMPTY:
    case -EINVAL:
    case -EACCES:
    case -EPERM:
    case -ENAMETOOLONG:
        return 1;
    case -EAGAIN: /* a try acquire of a held lock */
    case -EBUSY:
    case CAIRN_SESSION:
        return op == HOP_ACQUIRE;
    case CAIRN_FENCED: /* the handle dropped what it had not committed */
        return op == HOP_FWRITE || op == HOP_APPEND;
    }
    return 0;
}

/* Record the completion of an operation from its result code. */
static void wl_done(struct wl *w, uint64_t seq, uint32_t op, uint64_t key, int rc,
                    const uint64_t *res)
{
    uint64_t err[HIST_VALS] = {(uint64_t)(rc < 0 ? -rc : rc)};
    if (rc == CAIRN_SESSION || rc == CAIRN_FENCED)
        err[0] = ESTALE;
    if (rc == 0)
        hist_done(&w->h, seq, HIST_OK, op, key, res);
    else if (wl_definite(rc, op))
        hist_done(&w->h, seq, HIST_FAIL, op, key, err);
    else
        hist_done(&w->h, seq, HIST_UNKNOWN, op, key, res);
}

static void wl_path(char *out, const char *root, const char *fmt, uint64_t n)
{
    char name[WL_NAME_MAX];
    snprintf(name, sizeof name, fmt, n);
    snprintf(out, WL_PATH_MAX, "%s/%s", root, name);
}

/* mkdir -p of root. */
static int wl_mkdirs(struct cairn *c, const char *root)
{
    char p[WL_PATH_MAX];
    if (strlen(root) >= sizeof p)
        return -ENAMETOOLONG;
    snprintf(p, sizeof p, "%s", root);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char was = *s;
        *s = '\0';
        int rc = cairn_mkdir(c, p, 0755);
        if (rc && rc != -EEXIST)
            return rc;
        *s = was;
        if (!was)
            return 0;
    }
}

/* --- registers --------------------------------------------------------------- */

/* A 64-byte record: body padded with '.', a space, the body's CRC32C in
 * hex, a newline. */
static void rec_encode(const char *body, char out[WL_REG_SIZE])
{
    size_t n = strlen(body);
    CAIRN_ASSERT(n <= WL_REG_BODY);
    memcpy(out, body, n);
    memset(out + n, '.', WL_REG_BODY - n);
    char tail[11];
    snprintf(tail, sizeof tail, " %08x\n", crc32c(0, out, WL_REG_BODY));
    memcpy(out + WL_REG_BODY, tail, 10);
}

static void reg_encode(uint64_t v, char out[WL_REG_SIZE])
{
    char body[WL_REG_BODY + 1];
    snprintf(body, sizeof body, "c%" PRIu64 "-n%" PRIu64, v >> 32, v & 0xffffffffu);
    rec_encode(body, out);
}

/* Register bytes -> value: 0 for an empty file; *bad = 1 unless they are
 * exactly what reg_encode makes of some value. */
static uint64_t reg_decode(const char *p, size_t n, uint64_t *bad)
{
    *bad = 0;
    if (n == 0)
        return 0;
    char again[WL_REG_SIZE];
    unsigned long long cl, sq;
    if (n == WL_REG_SIZE && sscanf(p, "c%llu-n%llu", &cl, &sq) == 2 && cl <= UINT32_MAX &&
        sq <= UINT32_MAX) {
        uint64_t v = ((uint64_t)cl << 32) | sq;
        reg_encode(v, again);
        if (memcmp(again, p, WL_REG_SIZE) == 0)
            return v;
    }
    *bad = 1;
    return 0;
}

/* Read a whole register file: its value (res[0]) and badness (res[1]). */
static int reg_read(struct cairn *c, const char *path, uint64_t *res)
{
    struct cairn_file *f;
    int rc = cairn_open(c, path, O_RDONLY, 0, &f);
    if (rc)
        return rc;
    char buf[2 * WL_REG_SIZE];
    ssize_t got = cairn_pread(f, buf, sizeof buf, 0);
    cairn_close(f);
    if (got < 0)
        return (int)got;
    res[0] = reg_decode(buf, (size_t)got, &res[1]);
    res[2] = (uint64_t)got;
    return 0;
}

/* A write: open (with O_TRUNC if asked: the file empties when the open
 * returns), write the value at 0, close (commits it). res[0] records when
 * the open returned; any failure after it leaves the outcome unknown. */
static void reg_write(struct wl *w, uint64_t key, const char *path)
{
    int trunc = (w->cfg->flags & WL_F_TRUNC) != 0;
    uint64_t arg[HIST_VALS] = {ck_reg_value(w->cfg->client_id, w->h.seq + 1), (uint64_t)trunc};
    uint64_t seq = hist_invoke(&w->h, HOP_WRITE, key, arg);
    uint64_t res[HIST_VALS] = {0};
    struct cairn_file *f;
    int rc = cairn_open(w->c, path, O_WRONLY | (trunc ? O_TRUNC : 0), 0644, &f);
    if (rc) {
        wl_done(w, seq, HOP_WRITE, key, rc, res);
        return;
    }
    res[0] = time_mono_ns();
    char buf[WL_REG_SIZE];
    reg_encode(arg[0], buf);
    ssize_t put = cairn_pwrite(f, buf, sizeof buf, 0);
    rc = cairn_close(f);
    enum hist_type t = put == (ssize_t)sizeof buf && rc == 0 ? HIST_OK : HIST_UNKNOWN;
    hist_done(&w->h, seq, t, HOP_WRITE, key, res);
}

static void reg_step(struct wl *w)
{
    uint64_t key = prng_below(&w->rng, w->cfg->keys);
    char path[WL_PATH_MAX];
    wl_path(path, w->cfg->root, "r%" PRIu64, key);
    if (prng_chance(&w->rng, 1, 2)) {
        reg_write(w, key, path);
        return;
    }
    uint64_t seq = hist_invoke(&w->h, HOP_READ, key, NULL);
    uint64_t res[HIST_VALS] = {0};
    int rc = reg_read(w->c, path, res);
    if (rc) { /* a failed read changed nothing */
        res[0] = (uint64_t)-rc;
        hist_done(&w->h, seq, HIST_FAIL, HOP_READ, key, res);
    } else {
        hist_done(&w->h, seq, HIST_OK, HOP_READ, key, res);
    }
}

static int reg_setup(struct cairn *c, const char *root, uint32_t keys)
{
    for (uint32_t k = 0; k < keys; k++) {
        char path[WL_PATH_MAX];
        wl_path(path, root, "r%" PRIu64, k);
        struct cairn_file *f;
        int rc = cairn_open(c, path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &f);
        if (rc == 0)
            rc = cairn_close(f);
        if (rc)
            return rc;
    }
    return 0;
}

/* --- namespace ----------------------------------------------------------- */

static uint32_t ns_names(uint32_t keys)
{
    return keys < 2 ? 2 : keys > CK_NAMES_MAX ? CK_NAMES_MAX : keys;
}

/* The names n0..n7 present in root, as a bitmap (other entries ignored). */
static int ns_list(struct cairn *c, const char *root, uint64_t *bits)
{
    struct cairn_dir *d;
    int rc = cairn_opendir(c, root, &d);
    if (rc)
        return rc;
    struct cairn_dirent e;
    *bits = 0;
    while ((rc = cairn_readdir(d, &e)) == 1)
        if (e.name[0] == 'n' && e.name[1] >= '0' && e.name[1] < '0' + (int)CK_NAMES_MAX &&
            !e.name[2])
            *bits |= 1ull << (e.name[1] - '0');
    cairn_closedir(d);
    return rc;
}

static int ns_create(struct cairn *c, const char *path)
{
    struct cairn_file *f;
    int rc = cairn_open(c, path, O_WRONLY | O_CREAT | O_EXCL, 0644, &f);
    if (rc == 0)
        cairn_close(f); /* nothing written: the create was the operation */
    return rc;
}

/* Path of name n (0..7) of directory d, and the history key of both. */
static uint64_t ns_path(char *out, const char *root, uint64_t d, uint64_t n)
{
    snprintf(out, WL_PATH_MAX, "%s/d%" PRIu64 "/n%" PRIu64, root, d, n);
    return d * CK_NAMES_MAX + n;
}

static void ns_dir(char *out, const char *root, uint64_t d)
{
    snprintf(out, WL_PATH_MAX, "%s/d%" PRIu64, root, d);
}

/* A listing of directory d (key d * CK_NAMES_MAX). */
static void ns_list_op(struct wl *w, uint64_t d)
{
    char dir[WL_PATH_MAX];
    ns_dir(dir, w->cfg->root, d);
    uint64_t key = d * CK_NAMES_MAX, res[HIST_VALS] = {0};
    uint64_t seq = hist_invoke(&w->h, HOP_LIST, key, NULL);
    int rc = ns_list(w->c, dir, &res[0]);
    if (rc)
        res[0] = (uint64_t)-rc;
    hist_done(&w->h, seq, rc ? HIST_FAIL : HIST_OK, HOP_LIST, key, res);
}

/* One op on names of one directory (renames stay in it). */
static void ns_step(struct wl *w)
{
    uint32_t names = ns_names(w->cfg->keys);
    uint64_t d = prng_below(&w->rng, WL_NS_DIRS), a = prng_below(&w->rng, names);
    uint64_t b = (a + 1 + prng_below(&w->rng, names - 1)) % names;
    char pa[WL_PATH_MAX], pb[WL_PATH_MAX];
    uint64_t ka = ns_path(pa, w->cfg->root, d, a), kb = ns_path(pb, w->cfg->root, d, b);
    uint64_t dice = prng_below(&w->rng, 8), seq;
    if (dice < 3) {
        /* cairn_open creates, then reads the new inode's attributes: a
         * concurrent unlink in between makes it fail with ENOENT although
         * the create applied (docs/checkers.md), so that is no refusal. */
        seq = hist_invoke(&w->h, HOP_CREATE, ka, NULL);
        int rc = ns_create(w->c, pa);
        if (rc == -ENOENT)
            hist_done(&w->h, seq, HIST_UNKNOWN, HOP_CREATE, ka, NULL);
        else
            wl_done(w, seq, HOP_CREATE, ka, rc, NULL);
    } else if (dice < 5) {
        seq = hist_invoke(&w->h, HOP_UNLINK, ka, NULL);
        wl_done(w, seq, HOP_UNLINK, ka, cairn_unlink(w->c, pa), NULL);
    } else if (dice < 7) {
        uint64_t arg[HIST_VALS] = {kb, prng_below(&w->rng, 2)};
        seq = hist_invoke(&w->h, HOP_RENAME, ka, arg);
        unsigned flags = arg[1] ? CAIRN_RENAME_NOREPLACE : 0u;
        wl_done(w, seq, HOP_RENAME, ka, cairn_rename2(w->c, pa, pb, flags), NULL);
    } else {
        ns_list_op(w, d);
    }
}

/* Start from empty directories (names left by an earlier use removed). */
static int ns_setup(struct cairn *c, const char *root)
{
    for (uint32_t d = 0; d < WL_NS_DIRS; d++) {
        char path[WL_PATH_MAX];
        ns_dir(path, root, d);
        int rc = cairn_mkdir(c, path, 0755);
        if (rc && rc != -EEXIST)
            return rc;
        for (uint32_t i = 0; i < CK_NAMES_MAX; i++) {
            ns_path(path, root, d, i);
            rc = cairn_unlink(c, path);
            if (rc && rc != -ENOENT)
                return rc;
        }
    }
    return 0;
}

static int fenced_put(struct cairn *c, const char *path, int flags, uint64_t token, const void *p,
                      size_t n, uint64_t off);

/* A new lock handle (session) in place of one whose state is in doubt: the
 * old one releases what it knows it holds, a grant it does not know of is
 * released when its session's lease runs out. A failed open leaves NULL,
 * retried by wl_locks_ready. */
static void wl_locks_reopen(struct wl *w)
{
    if (w->locks)
        cairn_locks_close(w->locks);
    w->locks = NULL;
    if (cairn_locks_open(w->c, WL_LOCK_LEASE_MS, &w->locks) != 0)
        w->locks = NULL;
}

/* 1 when there is a lock handle (opening one if needed). */
static int wl_locks_ready(struct wl *w)
{
    if (!w->locks)
        wl_locks_reopen(w);
    if (!w->locks)
        wl_sleep_ms(100);
    return w->locks != NULL;
}

/* --- append logs ------------------------------------------------------------- */

/* Concurrent O_APPEND writes are not atomic in cairn (a handle appends at
 * the size it knows), so each writer has a log of its own, appended without
 * a lock, and appends to the shared log only while it holds the named lock
 * "<root>/append", through a handle fenced with the lock's token: a holder
 * that lost the lock (paused past its lease) is refused, not interleaved. */
static int ap_line(uint32_t writer, uint64_t seq, char *out, size_t len)
{
    char body[WL_LOG_LINE_MAX];
    int n = snprintf(body, sizeof body, "w%" PRIu32 " s%" PRIu64, writer, seq);
    return snprintf(out, len, "%s %08x\n", body, crc32c(0, body, (size_t)n));
}

static void ap_log_path(char *out, const char *root, uint64_t key)
{
    if (key == WL_SHARED_LOG)
        snprintf(out, WL_PATH_MAX, "%s/shared.log", root);
    else
        wl_path(out, root, "w%" PRIu64 ".log", key - 1);
}

/* One append of (writer, seq) to log key (fenced with token, 0: none). A
 * refused open or a fenced refusal is a failure; any other error leaves it
 * unknown. */
static void ap_append(struct wl *w, uint64_t key, uint64_t seq_rec, uint64_t token)
{
    char path[WL_PATH_MAX], line[WL_LOG_LINE_MAX];
    ap_log_path(path, w->cfg->root, key);
    int n = ap_line(w->cfg->client_id, seq_rec, line, sizeof line);
    uint64_t arg[HIST_VALS] = {w->cfg->client_id, seq_rec};
    uint64_t seq = hist_invoke(&w->h, HOP_APPEND, key, arg);
    int rc = fenced_put(w->c, path, O_CREAT | O_APPEND, token, line, (size_t)n, 0);
    wl_done(w, seq, HOP_APPEND, key, rc, NULL);
}

static void ap_step(struct wl *w)
{
    if (prng_chance(&w->rng, 1, 2)) {
        ap_append(w, (uint64_t)w->cfg->client_id + 1, ++w->seq_own, 0);
        return;
    }
    if (!wl_locks_ready(w))
        return;
    char name[WL_PATH_MAX];
    snprintf(name, sizeof name, "%s/append", w->cfg->root);
    uint64_t token;
    int rc = cairn_lock(w->locks, name, CAIRN_LOCK_EXCLUSIVE, 0, 2000, &token);
    if (rc == 0) {
        ap_append(w, WL_SHARED_LOG, ++w->seq_shared, token);
        rc = cairn_unlock(w->locks, name);
    }
    /* A grant or release we may not know of: end the session (which
     * releases it) rather than leave the others waiting for its lease. */
    if (rc && !wl_definite(rc, HOP_ACQUIRE))
        wl_locks_reopen(w);
}

/* Parse a log's text into records (garbage counted). */
static int ap_parse(const char *text, size_t len, struct ck_log *lg, struct ck_log_rec **recs)
{
    size_t cap = 0;
    *recs = NULL;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        char line[WL_LOG_LINE_MAX], again[WL_LOG_LINE_MAX];
        unsigned long long wr, sq;
        int ok = nl && n < sizeof line;
        if (ok) {
            memcpy(line, text + at, n);
            line[n] = '\0';
            ok = sscanf(line, "w%llu s%llu", &wr, &sq) == 2 && wr <= UINT32_MAX &&
                 ap_line((uint32_t)wr, sq, again, sizeof again) == (int)n + 1 &&
                 memcmp(again, line, n) == 0;
        }
        if (!ok && lg->garbage++ == 0)
            snprintf(lg->first_garbage, sizeof lg->first_garbage, "%.*s", (int)(n > 40 ? 40 : n),
                     text + at);
        if (ok) {
            if (lg->n == cap) {
                cap = cap ? 2 * cap : 256;
                struct ck_log_rec *p = realloc(*recs, cap * sizeof *p);
                if (!p)
                    return -ENOMEM;
                *recs = p;
            }
            (*recs)[lg->n++] = (struct ck_log_rec){(uint32_t)wr, sq};
        }
        at += n + 1;
    }
    lg->rec = *recs;
    return 0;
}

/* Read a whole file into a malloc'd buffer. */
static int wl_slurp(struct cairn *c, const char *path, char **out, size_t *len)
{
    struct cairn_file *f;
    struct cairn_stat st;
    int rc = cairn_open(c, path, O_RDONLY, 0, &f);
    if (rc)
        return rc;
    cairn_fstat(f, &st);
    char *p = malloc(st.size + 1);
    ssize_t got = p ? cairn_pread(f, p, st.size, 0) : -ENOMEM;
    cairn_close(f);
    if (got < 0) {
        free(p);
        return (int)got;
    }
    *out = p;
    *len = (size_t)got;
    return 0;
}

/* --- locks with fencing ------------------------------------------------------- */

static void lk_name(char *out, const char *root, uint64_t key)
{
    wl_path(out, root, "l%" PRIu64, key);
}

/* The fenced register of lock key: file f<key> holding one record
 * "t<token> c<client>-n<seq>", written through a handle fenced with the
 * writer's token (cairn_file_set_fence), so the metadata and the chunk
 * servers refuse it once a newer token wrote the file. Empty: (0, 0). */
static void fence_encode(uint64_t token, uint64_t v, char out[WL_REG_SIZE])
{
    char body[WL_REG_BODY + 1];
    snprintf(body, sizeof body, "t%" PRIu64 " c%" PRIu64 "-n%" PRIu64, token, v >> 32,
             v & 0xffffffffu);
    rec_encode(body, out);
}

static int fence_read(struct cairn *c, const char *path, uint64_t *res)
{
    struct cairn_file *f;
    int rc = cairn_open(c, path, O_RDONLY, 0, &f);
    if (rc)
        return rc;
    char buf[2 * WL_REG_SIZE], again[WL_REG_SIZE];
    ssize_t got = cairn_pread(f, buf, sizeof buf, 0);
    cairn_close(f);
    if (got < 0)
        return (int)got;
    unsigned long long t, cl, sq;
    res[0] = res[1] = res[2] = 0;
    if (got == 0)
        return 0;
    if (got == WL_REG_SIZE && sscanf(buf, "t%llu c%llu-n%llu", &t, &cl, &sq) == 3 &&
        cl <= UINT32_MAX && sq <= UINT32_MAX) {
        fence_encode(t, ((uint64_t)cl << 32) | sq, again);
        if (memcmp(again, buf, WL_REG_SIZE) == 0) {
            res[0] = t;
            res[1] = ((uint64_t)cl << 32) | sq;
            return 0;
        }
    }
    res[2] = 1; /* bytes that are no record */
    return 0;
}

/* Write n bytes (at off, or at the end with O_APPEND) through a handle
 * fenced with token (0: unfenced), and commit. Returns 0; a definite error
 * of the open or CAIRN_FENCED (refused by the fence: nothing applied); or
 * -EIO for any other failure after the open (outcome unknown). */
static int fenced_put(struct cairn *c, const char *path, int flags, uint64_t token, const void *p,
                      size_t n, uint64_t off)
{
    struct cairn_file *f;
    int rc = cairn_open(c, path, O_WRONLY | flags, 0644, &f);
    if (rc)
        return rc;
    if (token)
        rc = cairn_file_set_fence(f, token);
    ssize_t put = rc ? rc : (flags & O_APPEND) ? cairn_write(f, p, n) : cairn_pwrite(f, p, n, off);
    rc = put < 0 ? (int)put : put != (ssize_t)n ? -EIO : cairn_fsync(f);
    if (rc)
        rc = cairn_file_error(f) == CAIRN_FENCED ? CAIRN_FENCED : -EIO;
    int crc = cairn_close(f);
    return rc ? rc : crc ? -EIO : 0;
}

/* The locks handle after an acquire or release whose outcome is unknown:
 * closed (its session ends, releasing what the leader may have granted it,
 * recorded as a release that may happen any time) and opened again. */
static void lk_reset(struct wl *w, uint64_t key)
{
    hist_invoke(&w->h, HOP_RELEASE, key, NULL);
    wl_locks_reopen(w);
}

static void lk_step(struct wl *w)
{
    if (!wl_locks_ready(w))
        return;
    uint64_t key = prng_below(&w->rng, w->cfg->keys), token = 0;
    char name[WL_PATH_MAX], path[WL_PATH_MAX];
    lk_name(name, w->cfg->root, key);
    wl_path(path, w->cfg->root, "f%" PRIu64, key);
    uint64_t seq = hist_invoke(&w->h, HOP_ACQUIRE, key, NULL);
    int rc = cairn_lock(w->locks, name, CAIRN_LOCK_EXCLUSIVE, CAIRN_LOCK_TRY, 0, &token);
    uint64_t res[HIST_VALS] = {token};
    wl_done(w, seq, HOP_ACQUIRE, key, rc, res);
    if (rc && !wl_definite(rc, HOP_ACQUIRE))
        lk_reset(w, key);
    if (rc) {
        wl_sleep_ms((uint32_t)prng_below(&w->rng, 10));
        return;
    }
    uint64_t arg[HIST_VALS] = {token, ck_reg_value(w->cfg->client_id, w->h.seq + 1)};
    char rec[WL_REG_SIZE];
    fence_encode(token, arg[1], rec);
    seq = hist_invoke(&w->h, HOP_FWRITE, key, arg);
    wl_done(w, seq, HOP_FWRITE, key, fenced_put(w->c, path, 0, token, rec, sizeof rec, 0), NULL);
    wl_sleep_ms((uint32_t)prng_below(&w->rng, 5));
    seq = hist_invoke(&w->h, HOP_RELEASE, key, NULL);
    rc = cairn_unlock(w->locks, name);
    wl_done(w, seq, HOP_RELEASE, key, rc, NULL);
    if (rc && !wl_definite(rc, HOP_RELEASE))
        lk_reset(w, key);
}

static int lk_setup(struct cairn *c, const char *root, uint32_t keys)
{
    for (uint32_t k = 0; k < keys; k++) {
        char path[WL_PATH_MAX];
        wl_path(path, root, "f%" PRIu64, k);
        struct cairn_file *f;
        int rc = cairn_open(c, path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &f);
        if (rc == 0)
            rc = cairn_close(f);
        if (rc)
            return rc;
    }
    return 0;
}

/* --- running ------------------------------------------------------------------ */

int wl_setup(enum wl_kind kind, const char *cluster_file, const char *root)
{
    struct cairn *c;
    int rc = wl_connect_until(cluster_file, "wl-setup", time_mono_ms() + WL_FINAL_TIMEOUT_MS, &c);
    if (rc)
        return rc;
    rc = wl_mkdirs(c, root);
    /* Setup creates what every key may need; keys beyond it are refused. */
    if (rc == 0 && kind == WL_REGISTER)
        rc = reg_setup(c, root, WL_SETUP_KEYS);
    if (rc == 0 && kind == WL_NAMESPACE)
        rc = ns_setup(c, root);
    if (rc == 0 && kind == WL_LOCK)
        rc = lk_setup(c, root, WL_SETUP_KEYS);
    cairn_disconnect(c);
    return rc;
}

static void wl_step(struct wl *w)
{
    switch (w->cfg->kind) {
    case WL_REGISTER:
        reg_step(w);
        break;
    case WL_NAMESPACE:
        ns_step(w);
        break;
    case WL_APPEND:
        ap_step(w);
        break;
    case WL_LOCK:
        lk_step(w);
        break;
    }
}

int wl_run(const struct wl_cfg *cfg)
{
    if (cfg->keys == 0 || cfg->keys > WL_SETUP_KEYS || cfg->client_id == HIST_CLIENT_FINAL ||
        (cfg->kind == WL_APPEND && cfg->client_id >= WL_WRITERS_MAX))
        return -EINVAL;
    struct wl w = {.cfg = cfg};
    uint64_t end_ms = time_mono_ms() + cfg->duration_ms;
    prng_seed(&w.rng, cfg->seed ^ ((uint64_t)cfg->client_id << 40));
    int rc = hist_open(&w.h, cfg->history_path, cfg->client_id);
    if (rc)
        return rc;
    char name[32];
    snprintf(name, sizeof name, "wl-c%" PRIu32, cfg->client_id);
    rc = wl_connect_until(cfg->cluster_file, name, end_ms, &w.c);
    while (rc == 0 && time_mono_ms() < end_ms) {
        wl_step(&w);
        wl_sleep_ms((uint32_t)prng_below(&w.rng, 4));
    }
    if (w.locks)
        cairn_locks_close(w.locks);
    if (w.c)
        cairn_disconnect(w.c);
    hist_close(&w.h);
    return rc;
}

/* --- checking ------------------------------------------------------------------ */

/* Errors a final read retries (the cluster may still be recovering). */
static int wl_transient(int rc) { return rc != 0 && !wl_definite(rc, 0) && rc != -ENOMEM; }

/* Append a final op of client HIST_CLIENT_FINAL to *ops. */
static int wl_add_final(struct hist_op **ops, size_t *n, uint32_t op, uint64_t key, uint64_t call,
                        const uint64_t *res)
{
    struct hist_op *p = realloc(*ops, (*n + 1) * sizeof *p);
    if (!p)
        return -ENOMEM;
    *ops = p;
    p[*n] = (struct hist_op){.client = HIST_CLIENT_FINAL,
                             .seq = *n + 1,
                             .op = op,
                             .key = key,
                             .call_ns = call,
                             .ret_ns = time_mono_ns(),
                             .type = HIST_OK};
    memcpy(p[*n].res, res, sizeof p[*n].res);
    (*n)++;
    return 0;
}

/* One final read of key k: a register, a fenced register, or (namespace)
 * the listing of directory k. */
static int wl_final_read(enum wl_kind kind, struct cairn *c, const char *root, uint64_t k,
                         uint64_t *res)
{
    char path[WL_PATH_MAX];
    if (kind == WL_NAMESPACE) {
        ns_dir(path, root, k);
        return ns_list(c, path, &res[0]);
    }
    wl_path(path, root, kind == WL_REGISTER ? "r%" PRIu64 : "f%" PRIu64, k);
    return kind == WL_REGISTER ? reg_read(c, path, res) : fence_read(c, path, res);
}

/* Final reads of every register, fenced register or directory, retried
 * while the cluster answers with transient errors. */
static int wl_final_reads(enum wl_kind kind, struct cairn *c, const char *root,
                          struct hist_op **ops, size_t *n)
{
    uint32_t count = kind == WL_NAMESPACE ? WL_NS_DIRS : WL_SETUP_KEYS;
    uint32_t op = kind == WL_REGISTER ? HOP_READ : kind == WL_LOCK ? HOP_FREAD : HOP_LIST;
    uint64_t deadline = time_mono_ms() + WL_FINAL_TIMEOUT_MS;
    for (uint32_t k = 0; k < count; k++) {
        uint64_t res[HIST_VALS] = {0}, call = time_mono_ns();
        int rc;
        while (wl_transient(rc = wl_final_read(kind, c, root, k, res)) &&
               time_mono_ms() < deadline) {
            wl_sleep_ms(200);
            call = time_mono_ns();
        }
        uint64_t key = kind == WL_NAMESPACE ? (uint64_t)k * CK_NAMES_MAX : k;
        if (rc == 0)
            rc = wl_add_final(ops, n, op, key, call, res);
        if (rc)
            return rc;
    }
    return 0;
}

static void wl_count(const struct hist_op *ops, size_t n, struct wl_report *out)
{
    for (size_t i = 0; i < n; i++) {
        if (ops[i].client == HIST_CLIENT_FINAL)
            continue;
        out->ops++;
        out->ok += ops[i].type == HIST_OK;
        out->fail += ops[i].type == HIST_FAIL;
        out->unknown += ops[i].type == HIST_UNKNOWN;
    }
}

static int wl_cmp_u64(const void *pa, const void *pb)
{
    uint64_t x = *(const uint64_t *)pa, y = *(const uint64_t *)pb;
    return x < y ? -1 : x > y;
}

/* The logs the appends went to (the shared one always), sorted, unique. */
static uint64_t *wl_log_keys(const struct hist_op *ops, size_t n, size_t *n_keys)
{
    uint64_t *keys = malloc((n + 1) * sizeof *keys);
    if (!keys)
        return NULL;
    size_t m = 0;
    keys[m++] = WL_SHARED_LOG;
    for (size_t i = 0; i < n; i++)
        if (ops[i].op == HOP_APPEND)
            keys[m++] = ops[i].key;
    qsort(keys, m, sizeof *keys, wl_cmp_u64);
    *n_keys = 0;
    for (size_t i = 0; i < m; i++)
        if (i == 0 || keys[i] != keys[i - 1])
            keys[(*n_keys)++] = keys[i];
    return keys;
}

/* Read one log (retried while the cluster recovers) into lg; a log that
 * does not exist is empty (nothing appended to it, or every append lost). */
static int wl_read_log(struct cairn *c, const char *root, uint64_t key, uint64_t deadline,
                       struct ck_log *lg, struct ck_log_rec **recs)
{
    char path[WL_PATH_MAX], *text = NULL;
    size_t len = 0;
    int rc;
    ap_log_path(path, root, key);
    while (wl_transient(rc = wl_slurp(c, path, &text, &len)) && time_mono_ms() < deadline)
        wl_sleep_ms(200);
    *lg = (struct ck_log){.key = key};
    *recs = NULL;
    if (rc == 0)
        rc = ap_parse(text, len, lg, recs);
    free(text);
    return rc == -ENOENT ? 0 : rc;
}

/* Read every log the history names and run the append checker. */
static int wl_check_logs(struct cairn *c, const char *root, const struct hist_op *ops, size_t n,
                         struct ck_result *r)
{
    size_t n_keys = 0, got = 0;
    uint64_t *keys = wl_log_keys(ops, n, &n_keys);
    struct ck_log *logs = calloc(n_keys + 1, sizeof *logs);
    struct ck_log_rec **recs = calloc(n_keys + 1, sizeof *recs);
    int rc = keys && logs && recs ? 0 : -ENOMEM;
    uint64_t deadline = time_mono_ms() + WL_FINAL_TIMEOUT_MS;
    for (; got < n_keys && rc == 0; got++)
        rc = wl_read_log(c, root, keys[got], deadline, &logs[got], &recs[got]);
    if (rc == 0)
        rc = ck_append(ops, n, logs, got, r);
    for (size_t i = 0; recs && i < got; i++)
        free(recs[i]);
    free(keys);
    free(logs);
    free(recs);
    return rc;
}

static int wl_check_ops(enum wl_kind kind, struct cairn *c, const char *root, struct hist_op **ops,
                        size_t *n, struct ck_result *r)
{
    if (kind == WL_APPEND)
        return wl_check_logs(c, root, *ops, *n, r);
    int rc = wl_final_reads(kind, c, root, ops, n);
    if (rc)
        return rc;
    if (kind == WL_REGISTER)
        return ck_register(*ops, *n, r);
    if (kind == WL_NAMESPACE)
        return ck_namespace(*ops, *n, r);
    return ck_lock(*ops, *n, r);
}

int wl_check(enum wl_kind kind, const char *cluster_file, const char *root,
             const char *const *history_paths, size_t n, struct wl_report *out)
{
    memset(out, 0, sizeof *out);
    struct hist_op *ops = NULL;
    size_t n_ops = 0;
    struct ck_result r = {0};
    int rc = hist_load(history_paths, n, &ops, &n_ops, out->first_violation,
                       sizeof out->first_violation);
    if (rc) {
        free(ops);
        return rc;
    }
    wl_count(ops, n_ops, out);
    struct cairn *c;
    rc = wl_connect_until(cluster_file, "wl-check", time_mono_ms() + WL_FINAL_TIMEOUT_MS, &c);
    if (rc == 0) {
        rc = wl_check_ops(kind, c, root, &ops, &n_ops, &r);
        cairn_disconnect(c);
    }
    free(ops);
    out->violations = r.violations;
    snprintf(out->first_violation, sizeof out->first_violation, "%s", r.first);
    return rc;
}

/* --- replicas back at their goal -------------------------------------------- */

/* The first chunk of the regular file at path with fewer replicas than the
 * file's goal: 1 with why filled, 0 if none, or an error. */
static int rep_file_short(struct cairn *c, const char *path, char *why, size_t why_len)
{
    uint32_t goal;
    int rc = cairn_getgoal(c, path, &goal);
    if (rc)
        return rc;
    struct cairn_chunk ch[64];
    for (uint32_t first = 0;;) {
        int got = cairn_file_chunks(c, path, first, ch, sizeof ch / sizeof ch[0]);
        if (got <= 0)
            return got;
        for (int i = 0; i < got; i++) {
            if (ch[i].id != 0 && ch[i].n_replicas < goal) {
                snprintf(why, why_len,
                         "%s: chunk %" PRIu32 " has %" PRIu32 " of %" PRIu32 " replicas", path,
                         first + (uint32_t)i, ch[i].n_replicas, goal);
                return 1;
            }
        }
        first += (uint32_t)got;
    }
}

/* Walk the tree under dir (depth-first, bounded depth): 1 at the first
 * file short of its goal, 0 if none, or an error. */
static int rep_walk(struct cairn *c, const char *dir, int depth, char *why, size_t why_len)
{
    struct cairn_dir *d;
    int rc = cairn_opendir(c, dir, &d);
    if (rc)
        return rc;
    struct cairn_dirent e;
    while (rc == 0 && cairn_readdir(d, &e) == 1) {
        if (!strcmp(e.name, ".") || !strcmp(e.name, ".."))
            continue;
        char path[WL_PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e.name) >= (int)sizeof path)
            continue;
        if (e.type == S_IFREG)
            rc = rep_file_short(c, path, why, why_len);
        else if (e.type == S_IFDIR && depth < 16)
            rc = rep_walk(c, path, depth + 1, why, why_len);
        if (rc == -ENOENT) /* removed meanwhile */
            rc = 0;
    }
    cairn_closedir(d);
    return rc;
}

int wl_replicas_at_goal(const char *cluster_file, const char *root, uint32_t timeout_ms, char *why,
                        size_t why_len)
{
    uint64_t deadline = time_mono_ms() + timeout_ms;
    struct cairn *c;
    int rc = wl_connect_until(cluster_file, "wl-replicas", deadline, &c);
    if (rc) {
        snprintf(why, why_len, "cannot connect: %s", strerror(-rc));
        return rc;
    }
    for (;;) {
        rc = rep_walk(c, root, 0, why, why_len);
        if (rc == 0 || time_mono_ms() >= deadline)
            break;
        wl_sleep_ms(250);
    }
    cairn_disconnect(c);
    if (rc < 0)
        snprintf(why, why_len, "walking %s: %s", root, strerror(-rc));
    return rc == 0 ? 0 : -ETIMEDOUT;
}
