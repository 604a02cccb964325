/*
 * ops_file.c: open files and directories of `cairn mount`. Every open of an
 * inode shares one datafile (struct fz_inode, fuse_int.h); fi->fh points to
 * that entry. Close-to-open: open asks the leader for fresh attributes and
 * reopens the datafile when the inode changed elsewhere (create uses the
 * CREATE reply's attributes instead, as fresh); flush, fsync and
 * the last release commit what was written, so another mount's later open
 * reads it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn_errors.h"
#include "common/log.h"
#include "fuse/fuse_int.h"
#include "meta/cmd.h"
#include "wire/codec.h"

static struct fz_inode *fh_inode(const struct fuse_file_info *ffi)
{
    return (struct fz_inode *)(uintptr_t)ffi->fh;
}

/* The size getattr must not go below: what this mount wrote (committed
 * or not). Not the size seen at open alone: another mount may shrink the
 * file meanwhile. */
static void hint_update(struct fz_inode *fi)
{
    uint64_t v = fi->df && fi->wrote ? datafile_size(fi->df) : 0;
    __atomic_store_n(&fi->size_hint, v, __ATOMIC_RELAXED);
}

/* Lock the inode's connection (fi->mu held; the inode is bound). */
static struct fz_conn *inode_conn(struct fz_inode *fi, fuse_req_t req)
{
    fz_conn_lock(fi->conn, req);
    return fi->conn;
}

int fz_send_with_hold(struct fz_mount *m, fuse_req_t req, uint64_t ino, const struct cairn_buf *cmd,
                      int *rc)
{
    struct fz_inode *fi = fz_inode_find(m, ino);
    if (!fi)
        return 0;
    int done = 0;
    pthread_mutex_lock(&fi->mu);
    if (fi->opens && fi->conn) {
        /* The hold must be in the session of the inode's connection: its
         * last close releases it there. */
        struct fz_conn *cn = inode_conn(fi, req);
        struct meta_hdr h;
        fz_hdr(cn, &h);
        struct cairn_buf hold;
        buf_init(&hold, 0);
        int r = meta_cmd_inode_hold(&hold, &h, ino);
        if (r == 0) {
            struct meta_txn_enc t;
            buf_reset(&cn->c->cmd);
            meta_txn_begin(&t, &cn->c->cmd, &h);
            meta_txn_op(&t, hold.data, hold.len);
            meta_txn_op(&t, cmd->data, cmd->len);
            r = meta_txn_end(&t);
        }
        if (r == 0)
            r = api_mutate(cn->c);
        if (r == 0)
            fi->held++;
        buf_free(&hold);
        fz_conn_put(cn);
        *rc = r;
        done = 1;
    }
    pthread_mutex_unlock(&fi->mu);
    fz_inode_unref(m, fi);
    return done;
}

/* The last close of an inode here: commit, then end the holds (fi->mu
 * held). Returns the commit's result. */
static int inode_last_close(struct fz_inode *fi, fuse_req_t req)
{
    struct fz_conn *cn = inode_conn(fi, req);
    int rc = fi->df ? datafile_close(fi->df) : 0;
    fi->df = NULL;
    hint_update(fi);
    for (; fi->held > 0; fi->held--) {
        struct meta_hdr h;
        fz_hdr(cn, &h);
        buf_reset(&cn->c->cmd);
        int r = meta_cmd_inode_release(&cn->c->cmd, &h, fi->ino);
        if (r == 0)
            r = api_mutate(cn->c);
        if (r)
            LOG_WARN("fuse", "release of held inode %llu: %s", (unsigned long long)fi->ino,
                     cairn_strerror(r));
    }
    fz_conn_put(cn);
    return rc;
}

int fz_truncate_open(struct fz_mount *m, fuse_req_t req, struct fz_inode *fi, uint32_t valid,
                     const struct meta_attr *set, struct meta_attr *out)
{
    pthread_mutex_lock(&fi->mu);
    struct fz_conn *cn = fi->conn ? inode_conn(fi, req) : fz_conn_get(m, req);
    int rc = 0;
    int had = fi->df != NULL;
    if (had) {
        /* Commit what was written, so the truncation cuts it too. */
        rc = datafile_close(fi->df);
        fi->df = NULL;
    }
    if (rc == 0)
        rc = fz_setattr_cmd(m, cn, fi->ino, valid, set, out);
    if (had) {
        int r = datafile_open(cn->dc, fi->ino, DATAFILE_READ | DATAFILE_WRITE, &fi->df);
        if (r) {
            fi->df = NULL;
            rc = rc ? rc : r;
        }
    }
    hint_update(fi);
    fz_conn_put(cn);
    pthread_mutex_unlock(&fi->mu);
    return rc;
}

/* --hold-open: the first open here holds the inode, so an unlink by any
 * mount leaves it readable until the last close here (cn held). */
static int hold_open(struct fz_conn *cn, struct fz_inode *fi)
{
    struct meta_hdr h;
    struct meta_attr a;
    fz_hdr(cn, &h);
    buf_reset(&cn->c->cmd);
    int rc = meta_cmd_inode_hold(&cn->c->cmd, &h, fi->ino);
    if (rc == 0)
        rc = api_mutate_attr(cn->c, &a);
    if (rc == 0)
        fi->held++;
    return rc;
}

/* Open the datafile of fi for one more FUSE open (fi->mu held): fresh
 * attributes from the leader (close-to-open); a datafile opened before a
 * change made elsewhere is committed and opened again. known: attributes
 * the leader just answered for this open (the CREATE's reply, as fresh as
 * a GETATTR after it), used instead of reading them again; NULL: read them.
 * *keep: the cached pages are still good (size and mtime unchanged since
 * the last open). */
static int inode_open(struct fz_mount *m, fuse_req_t req, struct fz_inode *fi,
                      const struct meta_attr *known, int *keep)
{
    struct fz_conn *cn = fi->conn ? inode_conn(fi, req) : fz_conn_get(m, req);
    struct meta_attr a;
    int rc = 0;
    if (fi->df) {
        if (known)
            a = *known;
        else
            rc = api_getattr(cn->c, fi->ino, &a);
        struct meta_attr da;
        datafile_attr(fi->df, &da);
        if (rc == 0 && da.version != a.version) {
            rc = datafile_close(fi->df);
            fi->df = NULL;
        }
    }
    /* datafile_open reads the attributes from the leader itself (and
     * refuses anything but a regular file); datafile_open_attr takes the
     * known ones (same checks). */
    if (rc == 0 && !fi->df) {
        rc = known ? datafile_open_attr(cn->dc, known, DATAFILE_READ | DATAFILE_WRITE, &fi->df)
                   : datafile_open(cn->dc, fi->ino, DATAFILE_READ | DATAFILE_WRITE, &fi->df);
        if (rc == 0)
            datafile_attr(fi->df, &a);
        else
            fi->df = NULL;
    }
    if (rc == 0 && m->o.hold_open && fi->held == 0)
        rc = hold_open(cn, fi);
    if (rc && fi->opens == 0 && fi->df) {
        (void)datafile_close(fi->df); /* nothing written through it yet */
        fi->df = NULL;
    }
    if (rc == 0) {
        fi->conn = cn;
        fi->opens++;
        *keep = fi->at_valid && a.size == fi->at.size && a.mtime_ns == fi->at.mtime_ns;
        fi->at = a;
        fi->at_valid = 1;
    }
    hint_update(fi);
    fz_conn_put(cn);
    return rc;
}

static int release_common(struct fz_mount *m, fuse_req_t req, struct fuse_file_info *ffi);

/* Open ino for ffi: the shared entry's reference goes to ffi->fh. known:
 * see inode_open; fresh: the inode was just made by this request, so the
 * kernel has nothing cached of it to drop. */
static int open_common(struct fz_mount *m, fuse_req_t req, uint64_t ino,
                       const struct meta_attr *known, int fresh, struct fuse_file_info *ffi)
{
    struct fz_inode *fi = fz_inode_ref(m, ino);
    if (!fi)
        return CAIRN_ENOMEM;
    int keep = 0;
    pthread_rwlock_rdlock(&m->open_rw);
    pthread_mutex_lock(&fi->mu);
    int rc = inode_open(m, req, fi, known, &keep);
    pthread_mutex_unlock(&fi->mu);
    pthread_rwlock_unlock(&m->open_rw);
    if (rc) {
        fz_inode_unref(m, fi);
        return rc;
    }
    /* Changed since the last open (maybe by another mount): the kernel's
     * cached attributes must go too, or it would read to the old size. */
    if (!keep && !fresh && m->se)
        (void)fuse_lowlevel_notify_inval_inode(m->se, ino, -1, 0);
    ffi->fh = (uint64_t)(uintptr_t)fi;
    ffi->keep_cache = keep;
    ffi->direct_io = 0;
    return 0;
}

void fz_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *ffi)
{
    struct fz_mount *m = fz_of(req);
    int rc = open_common(m, req, ino, NULL, 0, ffi);
    if (rc)
        fuse_reply_err(req, fz_ino_errno(rc));
    else if (fuse_reply_open(req, ffi) == -ENOENT)
        (void)release_common(m, NULL, ffi); /* the caller was interrupted */
}

void fz_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                  struct fuse_file_info *ffi)
{
    struct fz_mount *m = fz_of(req);
    struct meta_attr a;
    int rc = strlen(name) > CAIRN_NAME_MAX ? CAIRN_ENAMETOOLONG : 0;
    if (rc == 0) {
        struct fz_conn *cn = fz_conn_get(m, req);
        struct meta_hdr h;
        fz_hdr(cn, &h);
        buf_reset(&cn->c->cmd);
        /* Without O_EXCL an existing file (made meanwhile by another
         * client) is opened as open(2) would. */
        rc = meta_cmd_create(&cn->c->cmd, &h, parent, name, (uint32_t)mode & 07777u,
                             (ffi->flags & O_EXCL) ? 1 : 0);
        if (rc == 0)
            rc = api_mutate_attr(cn->c, &a);
        fz_conn_put(cn);
    }
    /* The CREATE's reply is the leader's state at its commit, after this
     * open(2) began: fresher than close-to-open asks (a change elsewhere
     * after it is concurrent with this open), so no GETATTR again. An
     * O_EXCL create made a new inode the kernel cannot have cached. */
    if (rc == 0)
        rc = open_common(m, req, a.ino, &a, (ffi->flags & O_EXCL) != 0, ffi);
    if (rc) {
        fuse_reply_err(req, fz_errno(rc));
        return;
    }
    struct fuse_entry_param e;
    fz_entry_param(m, &a, &e);
    if (fuse_reply_create(req, &e, ffi) == -ENOENT)
        (void)release_common(m, NULL, ffi);
}

void fz_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *ffi)
{
    struct fz_inode *fi = fh_inode(ffi);
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    pthread_mutex_lock(&fi->mu);
    int64_t n = CAIRN_EBADF;
    if (fi->df) {
        struct fz_conn *cn = inode_conn(fi, NULL);
        n = datafile_pread(fi->df, buf, size, (uint64_t)off);
        fz_conn_put(cn);
    }
    pthread_mutex_unlock(&fi->mu);
    if (n < 0)
        fuse_reply_err(req, fz_errno((int)n));
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

void fz_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                 struct fuse_file_info *ffi)
{
    struct fz_inode *fi = fh_inode(ffi);
    pthread_mutex_lock(&fi->mu);
    int64_t n = CAIRN_EBADF;
    if (fi->df) {
        struct fz_conn *cn = inode_conn(fi, NULL);
        n = datafile_pwrite(fi->df, buf, size, (uint64_t)off);
        fi->wrote = 1;
        hint_update(fi);
        fz_conn_put(cn);
    }
    pthread_mutex_unlock(&fi->mu);
    if (n < 0)
        fuse_reply_err(req, fz_errno((int)n));
    else
        fuse_reply_write(req, (size_t)n);
}

/* Commit what the inode's datafile holds (flush, fsync). */
static int inode_sync(struct fz_inode *fi)
{
    pthread_mutex_lock(&fi->mu);
    int rc = 0;
    if (fi->df) {
        struct fz_conn *cn = inode_conn(fi, NULL);
        rc = datafile_fsync(fi->df);
        hint_update(fi);
        fz_conn_put(cn);
    }
    pthread_mutex_unlock(&fi->mu);
    return rc;
}

void fz_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *ffi)
{
    struct fz_inode *fi = fh_inode(ffi);
    int rc = inode_sync(fi);
    /* The kernel keeps no record of remote POSIX locks: a close drops the
     * closing owner's locks here (fcntl(2) semantics). */
    pthread_mutex_lock(&fi->mu);
    int locked = fi->posix_locked;
    pthread_mutex_unlock(&fi->mu);
    if (locked)
        fz_locks_drop_posix(fz_of(req), req, ino, ffi->lock_owner);
    fuse_reply_err(req, fz_errno(rc));
}

void fz_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *ffi)
{
    fuse_reply_err(req, fz_errno(inode_sync(fh_inode(ffi))));
}

/* Drop one open of ffi's inode; the last commits and ends the holds.
 * req NULL: undo an open the kernel did not take (no reply). */
static int release_common(struct fz_mount *m, fuse_req_t req, struct fuse_file_info *ffi)
{
    struct fz_inode *fi = fh_inode(ffi);
    pthread_mutex_lock(&fi->mu);
    int rc = 0;
    if (fi->opens > 0 && --fi->opens == 0)
        rc = inode_last_close(fi, req);
    pthread_mutex_unlock(&fi->mu);
    if (rc)
        LOG_WARN("fuse", "inode %llu: commit at close: %s", (unsigned long long)fi->ino,
                 cairn_strerror(rc));
    fz_inode_unref(m, fi);
    return rc;
}

void fz_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *ffi)
{
    struct fz_mount *m = fz_of(req);
    if (ffi->flock_release)
        fz_locks_drop_flock(m, req, ino, ffi->lock_owner);
    fuse_reply_err(req, fz_errno(release_common(m, req, ffi)));
}

/* --- directories ----------------------------------------------------------------- */

void fz_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *ffi)
{
    ffi->fh = 0;
    fuse_reply_open(req, ffi);
}

void fz_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *ffi)
{
    fuse_reply_err(req, 0);
}

void fz_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *ffi)
{
    fuse_reply_err(req, 0); /* namespace changes are committed when made */
}

struct dent {
    uint64_t cookie, ino;
    uint32_t mode; /* S_IFMT bits */
    char name[CAIRN_NAME_MAX + 1];
};

/* One READDIR page after cookie into ents (cn held). */
static int dir_page(struct fz_conn *cn, uint64_t ino, uint64_t cookie, uint32_t max,
                    struct dent *ents, uint32_t *n)
{
    struct meta_hdr h;
    fz_hdr(cn, &h);
    buf_reset(&cn->c->cmd);
    int rc = meta_cmd_readdir(&cn->c->cmd, &h, ino, cookie, max);
    if (rc == 0)
        rc = api_query(cn->c);
    if (rc)
        return rc;
    struct wire_dec d;
    wire_dec_init(&d, cn->c->reply.data + 4, cn->c->reply.len - 4);
    uint32_t count = wire_get_u32(&d);
    if (count > max)
        return CAIRN_BADMSG;
    for (uint32_t i = 0; i < count && !d.err; i++) {
        ents[i].cookie = wire_get_u64(&d);
        ents[i].ino = wire_get_u64(&d);
        ents[i].mode = (uint32_t)wire_get_u8(&d) << 12;
        struct wire_bytes nm = wire_get_name(&d);
        memcpy(ents[i].name, nm.p ? (const char *)nm.p : "", nm.len);
        ents[i].name[nm.len] = 0;
    }
    (void)wire_get_u8(&d); /* eof: an empty page says it too */
    rc = wire_dec_finish(&d);
    *n = rc ? 0 : count;
    return rc;
}

static int is_dot(const char *name) { return strcmp(name, ".") == 0 || strcmp(name, "..") == 0; }

/* The attributes of one readdirplus entry, asked for with the others. */
struct dent_attr {
    struct meta_attr a;
    int rc;
    uint32_t *pending;
};

static void dent_attr_done(struct metaclient *mc, const struct metaclient_result *res, void *arg)
{
    struct dent_attr *da = arg;
    da->rc = res->status;
    if (da->rc == 0)
        da->rc = res->reply ? meta_reply_attr(res->reply, res->reply_len, &da->a) : CAIRN_TRUNCATED;
    (*da->pending)--;
}

/* GETATTR of ents[0..n) but "." and "..", all in flight at once on cn's
 * metaclient (one round trip's wait for the page, not one per entry):
 * results in out[i] (rc CAIRN_ENOENT: removed meanwhile). cn held. */
static void dent_attrs(struct fz_conn *cn, const struct dent *ents, uint32_t n,
                       struct dent_attr *out)
{
    struct metaclient *mc = cn->c->mc;
    uint32_t pending = 0;
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    for (uint32_t i = 0; i < n; i++) {
        out[i].rc = 0;
        out[i].pending = &pending;
        if (is_dot(ents[i].name))
            continue;
        struct meta_hdr h;
        fz_hdr(cn, &h);
        buf_reset(&cmd);
        int rc = meta_cmd_getattr(&cmd, &h, ents[i].ino);
        if (rc == 0)
            rc = metaclient_query(mc, cmd.data, cmd.len, dent_attr_done, &out[i]);
        if (rc == 0)
            pending++;
        else
            out[i].rc = rc;
    }
    buf_free(&cmd);
    /* The metaclient's keep-alive timer is always active: UV_RUN_ONCE
     * blocks until something happens (as its own *_sync calls do). */
    while (pending > 0)
        uv_run(metaclient_loop(mc), UV_RUN_ONCE);
}

/* Fill buf with entries of ents, stopping at the first that does not fit;
 * plus: with attributes (asked for together into attrs, dent_attrs; an
 * entry removed meanwhile is skipped). Returns the bytes used. cn held. */
static size_t dir_fill(fuse_req_t req, struct fz_conn *cn, const struct dent *ents, uint32_t n,
                       struct dent_attr *attrs, char *buf, size_t size, int plus)
{
    struct fz_mount *m = fz_of(req);
    if (plus) {
        /* Only the entries that fit: the rest come with the next call. */
        uint32_t fit = 0;
        for (size_t need = 0; fit < n; fit++) {
            need += fuse_add_direntry_plus(req, NULL, 0, ents[fit].name, NULL, 0);
            if (need > size)
                break;
        }
        n = fit;
        dent_attrs(cn, ents, n, attrs);
    }
    size_t pos = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct dent *e = &ents[i];
        struct fuse_entry_param ep;
        memset(&ep, 0, sizeof ep);
        ep.attr.st_ino = (ino_t)e->ino;
        ep.attr.st_mode = (mode_t)e->mode;
        size_t need = plus ? fuse_add_direntry_plus(req, NULL, 0, e->name, NULL, 0)
                           : fuse_add_direntry(req, NULL, 0, e->name, NULL, 0);
        if (pos + need > size)
            break;
        if (plus && !is_dot(e->name)) {
            if (attrs[i].rc == CAIRN_ENOENT)
                continue;
            if (attrs[i].rc == 0) {
                struct meta_attr a = attrs[i].a;
                fz_size_merge(m, &a);
                fz_attr_to_stat(&a, &ep.attr);
                ep.ino = e->ino;
                ep.attr_timeout = m->o.attr_timeout;
                ep.entry_timeout = m->o.entry_timeout;
            }
        }
        pos += plus ? fuse_add_direntry_plus(req, buf + pos, size - pos, e->name, &ep,
                                             (off_t)e->cookie)
                    : fuse_add_direntry(req, buf + pos, size - pos, e->name, &ep.attr,
                                        (off_t)e->cookie);
    }
    return pos;
}

/* readdir and readdirplus: off is the cookie of the last entry returned
 * (0: from the start). */
static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
    struct dent *ents = malloc(FZ_READDIR_PAGE * sizeof *ents);
    struct dent_attr *attrs = plus ? malloc(FZ_READDIR_PAGE * sizeof *attrs) : NULL;
    char *buf = malloc(size ? size : 1);
    if (!ents || !buf || (plus && !attrs)) {
        free(ents);
        free(attrs);
        free(buf);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    /* Entries are at least 24 bytes (plus: 152): ask no more than fit. */
    size_t fit = size / (plus ? 152u : 24u) + 1u;
    uint32_t max = fit < FZ_READDIR_PAGE ? (uint32_t)fit : FZ_READDIR_PAGE;
    uint32_t n = 0;
    struct fz_conn *cn = fz_conn_get(fz_of(req), req);
    int rc = dir_page(cn, ino, (uint64_t)off, max, ents, &n);
    size_t used = rc ? 0 : dir_fill(req, cn, ents, n, attrs, buf, size, plus);
    fz_conn_put(cn);
    if (rc)
        fuse_reply_err(req, fz_errno(rc));
    else
        fuse_reply_buf(req, buf, used);
    free(ents);
    free(attrs);
    free(buf);
}

void fz_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *ffi)
{
    readdir_common(req, ino, size, off, 0);
}

void fz_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *ffi)
{
    readdir_common(req, ino, size, off, 1);
}
