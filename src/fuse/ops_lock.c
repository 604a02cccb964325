/*
 * ops_lock.c: flock(2) and fcntl(2) locks of `cairn mount`, kept by the
 * cluster's lock service (docs/locks.md) so mounts on different machines
 * exclude each other. Every lock command of the mount goes through ONE
 * lock client (m->locks: one metadata session kept alive by its own
 * thread), so a lock lives as long as the mount's session, and a killed
 * mount's locks are released when that session expires.
 *
 * Holders: FUSE's lock_owner (the fcntl owner for POSIX, the open file for
 * flock) mixed with a random salt of the mount, so two mounts never share
 * an owner id and getlk can tell this mount's locks from the others'.
 *
 * Waiting (F_SETLKW, flock without LOCK_NB) polls with try-acquires, with
 * a growing pause up to FZ_LOCK_POLL_MS_MAX, until granted or the request
 * is interrupted (EINTR): the waiting worker thread blocks, the others go
 * on. Polling gives up the FIFO fairness of NAMED/FLOCK queues (docs/fuse.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include "cairn_errors.h"
#include "client/lockclient.h"
#include "common/log.h"
#include "fuse/fuse_int.h"
#include "meta/cmd.h"
#include "wire/codec.h"

#define FZ_LOCK_POLL_MS_MIN 2u
#define FZ_LOCK_POLL_MS_MAX 50u

static uint64_t owner_of(const struct fz_mount *m, uint64_t lock_owner)
{
    return lock_owner ^ m->owner_salt;
}

/* One LOCK_ACQUIRE (try) or LOCK_RELEASE through the mount's lock client:
 * the reply's status. */
static int lock_cmd(struct fz_mount *m, fuse_req_t req, int acquire, const struct meta_lock_req *q)
{
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    fz_req_cred(req, &h.cred);
    struct cairn_buf cmd, reply;
    buf_init(&cmd, 0);
    buf_init(&reply, 0);
    int rc = acquire ? meta_cmd_lock_acquire(&cmd, &h, q) : meta_cmd_lock_release(&cmd, &h, q);
    if (rc == 0)
        rc = lockclient_call(m->locks, 1, cmd.data, cmd.len, &reply);
    buf_free(&cmd);
    buf_free(&reply);
    return rc;
}

/* The pid F_GETLK reports for a holder of this mount (the lock service
 * knows sessions and owners, not processes); 0 for another mount's. */
static void pid_remember(struct fz_mount *m, uint64_t owner, pid_t pid)
{
    pthread_mutex_lock(&m->pid_mu);
    if (pid > 0 && hmap_put(&m->lock_pids, owner, (void *)(uintptr_t)pid) != 0)
        LOG_WARN("fuse", "no memory for a lock owner's pid");
    pthread_mutex_unlock(&m->pid_mu);
}

static pid_t pid_of(struct fz_mount *m, uint64_t owner)
{
    pthread_mutex_lock(&m->pid_mu);
    pid_t pid = (pid_t)(uintptr_t)hmap_get(&m->lock_pids, owner);
    pthread_mutex_unlock(&m->pid_mu);
    return pid;
}

static void pid_forget(struct fz_mount *m, uint64_t owner)
{
    pthread_mutex_lock(&m->pid_mu);
    (void)hmap_del(&m->lock_pids, owner);
    pthread_mutex_unlock(&m->pid_mu);
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Acquire q, polling while it conflicts when wait is set: 0 or an errno. */
static int acquire_poll(struct fz_mount *m, fuse_req_t req, struct meta_lock_req *q, int wait,
                        int convert_drops)
{
    uint32_t pause = FZ_LOCK_POLL_MS_MIN;
    for (int round = 0;; round++) {
        int rc = lock_cmd(m, req, 1, q);
        if (rc != CAIRN_EAGAIN || !wait)
            return fz_errno(rc);
        if (round == 0 && convert_drops) {
            /* A flock conversion that must wait first gives up the old
             * lock, as Linux (two shared holders upgrading would deadlock). */
            struct meta_lock_req r = *q;
            r.start = r.end = 0;
            (void)lock_cmd(m, req, 0, &r);
        }
        if (fuse_req_interrupted(req))
            return EINTR;
        sleep_ms(pause);
        pause = pause * 2 > FZ_LOCK_POLL_MS_MAX ? FZ_LOCK_POLL_MS_MAX : pause * 2;
    }
}

/* The request for an inode's FLOCK or POSIX lock object (kind) by owner
 * (the mount's owner id); mode, range and flags zero. */
static struct meta_lock_req lock_req(uint8_t kind, uint64_t ino, uint64_t owner)
{
    struct meta_lock_req q;
    memset(&q, 0, sizeof q);
    q.kind = kind;
    q.ino = ino;
    q.name = "";
    q.owner = owner;
    return q;
}

void fz_lock_range(const struct flock *lk, uint64_t *start, uint64_t *end)
{
    *start = lk->l_start < 0 ? 0 : (uint64_t)lk->l_start;
    *end = lk->l_len <= 0 ? UINT64_MAX : *start + (uint64_t)lk->l_len;
}

void fz_op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *ffi, struct flock *lock,
                 int sleep)
{
    struct fz_mount *m = fz_of(req);
    struct meta_lock_req q = lock_req(META_LOCK_POSIX, ino, owner_of(m, ffi->lock_owner));
    fz_lock_range(lock, &q.start, &q.end);
    if (lock->l_type == F_UNLCK) {
        fuse_reply_err(req, fz_errno(lock_cmd(m, req, 0, &q)));
        return;
    }
    struct fz_inode *fi = (struct fz_inode *)(uintptr_t)ffi->fh;
    if (fi) {
        pthread_mutex_lock(&fi->mu);
        fi->posix_locked = 1;
        pthread_mutex_unlock(&fi->mu);
    }
    q.mode = lock->l_type == F_WRLCK ? META_LOCK_EXCLUSIVE : META_LOCK_SHARED;
    int err = acquire_poll(m, req, &q, sleep, 0);
    if (err == 0)
        pid_remember(m, q.owner, fuse_req_ctx(req)->pid);
    fuse_reply_err(req, err);
}

void fz_op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *ffi, int op)
{
    struct fz_mount *m = fz_of(req);
    struct meta_lock_req q = lock_req(META_LOCK_FLOCK, ino, owner_of(m, ffi->lock_owner));
    int what = op & ~LOCK_NB;
    if (what == LOCK_UN) {
        fuse_reply_err(req, fz_errno(lock_cmd(m, req, 0, &q)));
        return;
    }
    if (what != LOCK_SH && what != LOCK_EX) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    q.mode = what == LOCK_EX ? META_LOCK_EXCLUSIVE : META_LOCK_SHARED;
    fuse_reply_err(req, acquire_poll(m, req, &q, !(op & LOCK_NB), 1));
}

int fz_lock_conflict(const uint8_t *p, size_t len, uint64_t ino, uint64_t owner, uint8_t want,
                     uint64_t start, uint64_t end, struct flock *out, uint64_t *holder)
{
    int st = meta_reply_status(p, len);
    if (st)
        return st;
    struct wire_dec d;
    wire_dec_init(&d, p + 4, len - 4);
    uint32_t n = wire_get_u32(&d);
    if (d.err || n == 0)
        return d.err ? d.err : CAIRN_ENOENT;
    uint8_t kind = wire_get_u8(&d);
    uint64_t lino = wire_get_u64(&d);
    (void)wire_get_str16(&d, CAIRN_LOCK_NAME_MAX);
    (void)wire_get_u64(&d); /* last_token */
    (void)wire_get_u64(&d); /* delay_until_ns */
    if (d.err || kind != META_LOCK_POSIX || lino != ino)
        return d.err ? d.err : CAIRN_ENOENT;
    uint32_t holders = wire_get_u32(&d);
    for (uint32_t i = 0; i < holders && !d.err; i++) {
        (void)wire_get_u64(&d); /* session */
        uint64_t own = wire_get_u64(&d);
        uint8_t mode = wire_get_u8(&d);
        uint64_t s = wire_get_u64(&d), e = wire_get_u64(&d);
        (void)wire_get_u64(&d); /* token */
        if (d.err || own == owner || s >= end || start >= e)
            continue;
        if (mode != META_LOCK_EXCLUSIVE && want != META_LOCK_EXCLUSIVE)
            continue;
        out->l_type = mode == META_LOCK_EXCLUSIVE ? F_WRLCK : F_RDLCK;
        out->l_whence = SEEK_SET;
        out->l_start = (off_t)s;
        out->l_len = e == UINT64_MAX ? 0 : (off_t)(e - s);
        out->l_pid = 0; /* the caller knows the pids of its own mount's holders */
        if (holder)
            *holder = own;
        return 0;
    }
    return d.err ? d.err : CAIRN_ENOENT;
}

/* F_GETLK: the POSIX lock object of ino is the first after (POSIX, ino-1)
 * in LOCK_LIST order. */
void fz_op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *ffi, struct flock *lock)
{
    struct fz_mount *m = fz_of(req);
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    fz_req_cred(req, &h.cred);
    struct meta_lock_req after = lock_req(META_LOCK_POSIX, ino - 1, 0);
    struct cairn_buf cmd, reply;
    buf_init(&cmd, 0);
    buf_init(&reply, 0);
    int rc = meta_cmd_lock_list(&cmd, &h, META_LOCK_POSIX, "", &after, 1);
    if (rc == 0)
        rc = lockclient_call(m->locks, 0, cmd.data, cmd.len, &reply);
    uint64_t start, end;
    fz_lock_range(lock, &start, &end);
    uint8_t want = lock->l_type == F_WRLCK ? META_LOCK_EXCLUSIVE : META_LOCK_SHARED;
    struct flock out = *lock;
    uint64_t holder = 0;
    if (rc == 0) {
        rc = fz_lock_conflict(reply.data, reply.len, ino, owner_of(m, ffi->lock_owner), want, start,
                              end, &out, &holder);
        if (rc == CAIRN_ENOENT) {
            out.l_type = F_UNLCK;
            rc = 0;
        } else if (rc == 0) {
            out.l_pid = pid_of(m, holder);
        }
    }
    buf_free(&cmd);
    buf_free(&reply);
    if (rc)
        fuse_reply_err(req, fz_errno(rc));
    else
        fuse_reply_lock(req, &out);
}

static void drop(struct fz_mount *m, fuse_req_t req, uint8_t kind, uint64_t ino, uint64_t owner)
{
    struct meta_lock_req q = lock_req(kind, ino, owner_of(m, owner));
    if (kind == META_LOCK_POSIX)
        q.end = UINT64_MAX;
    int rc = lock_cmd(m, req, 0, &q);
    if (rc && rc != CAIRN_ENOENT)
        LOG_WARN("fuse", "inode %llu: dropping locks at close: %s", (unsigned long long)ino,
                 cairn_strerror(rc));
}

void fz_locks_drop_posix(struct fz_mount *m, fuse_req_t req, uint64_t ino, uint64_t owner)
{
    drop(m, req, META_LOCK_POSIX, ino, owner);
    pid_forget(m, owner_of(m, owner));
}

void fz_locks_drop_flock(struct fz_mount *m, fuse_req_t req, uint64_t ino, uint64_t owner)
{
    drop(m, req, META_LOCK_FLOCK, ino, owner);
}
