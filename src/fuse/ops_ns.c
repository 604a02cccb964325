/*
 * ops_ns.c: namespace operations of `cairn mount`: each takes a pooled
 * connection with the caller's credentials, sends one metadata command
 * (the leader checks permissions and applies POSIX's rules) and replies.
 * Inode numbers are cairn's (META_ROOT_INO == FUSE_ROOT_ID).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include "cairn_errors.h"
#include "common/log.h"
#include "fuse/fuse_int.h"
#include "meta/cmd.h"
#include "wire/codec.h"

_Static_assert(META_ROOT_INO == FUSE_ROOT_ID, "cairn's root is FUSE's root");
_Static_assert(META_XATTR_CREATE == XATTR_CREATE && META_XATTR_REPLACE == XATTR_REPLACE,
               "xattr flags agree");

static struct timespec ns_to_ts(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    return ts;
}

void fz_attr_to_stat(const struct meta_attr *a, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = (ino_t)a->ino;
    st->st_mode = (mode_t)a->mode;
    st->st_nlink = (nlink_t)a->nlink;
    st->st_uid = (uid_t)a->uid;
    st->st_gid = (gid_t)a->gid;
    st->st_size = (off_t)a->size;
    st->st_blksize = CAIRN_BLOCK_SIZE;
    st->st_blocks = (blkcnt_t)((a->size + 511u) / 512u);
    st->st_atim = ns_to_ts(a->atime_ns);
    st->st_mtim = ns_to_ts(a->mtime_ns);
    st->st_ctim = ns_to_ts(a->ctime_ns);
}

void fz_entry_param(const struct fz_mount *m, const struct meta_attr *a, struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    e->ino = a->ino;
    e->attr_timeout = m->o.attr_timeout;
    e->entry_timeout = m->o.entry_timeout;
    fz_attr_to_stat(a, &e->attr);
}

void fz_reply_entry(fuse_req_t req, const struct meta_attr *a)
{
    struct fz_mount *m = fz_of(req);
    struct meta_attr at = *a;
    fz_size_merge(m, &at);
    struct fuse_entry_param e;
    fz_entry_param(m, &at, &e);
    fuse_reply_entry(req, &e);
}

void fz_reply_attr(fuse_req_t req, const struct meta_attr *a)
{
    struct fz_mount *m = fz_of(req);
    struct meta_attr at = *a;
    fz_size_merge(m, &at);
    struct stat st;
    fz_attr_to_stat(&at, &st);
    fuse_reply_attr(req, &st, m->o.attr_timeout);
}

/* Reply an error, or the entry of a command that answered ATTR. */
static void reply_entry_rc(fuse_req_t req, int rc, const struct meta_attr *a)
{
    if (rc)
        fuse_reply_err(req, fz_errno(rc));
    else
        fz_reply_entry(req, a);
}

static int name_check(const char *name)
{
    return strlen(name) > CAIRN_NAME_MAX ? CAIRN_ENAMETOOLONG : 0;
}

void fz_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct meta_attr a;
    int rc = name_check(name);
    if (rc == 0) {
        struct fz_conn *cn = fz_conn_get(fz_of(req), req);
        rc = api_lookup(cn->c, parent, name, &a);
        fz_conn_put(cn);
    }
    struct fz_mount *m = fz_of(req);
    if (rc == CAIRN_ENOENT && m->o.entry_timeout > 0) {
        /* A negative entry: the kernel keeps the miss for entry_timeout
         * (docs/fuse.md "Caching"); a name made through this mount
         * replaces it at once (the VFS instantiates the dentry). */
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        e.ino = 0;
        e.entry_timeout = m->o.entry_timeout;
        fuse_reply_entry(req, &e);
        return;
    }
    reply_entry_rc(req, rc, &a);
}

/* Nothing is kept per looked-up inode: the kernel's counts need no work. */
void fz_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) { fuse_reply_none(req); }

void fz_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    fuse_reply_none(req);
}

void fz_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct meta_attr a;
    struct fz_conn *cn = fz_conn_get(fz_of(req), req);
    int rc = api_getattr(cn->c, ino, &a);
    fz_conn_put(cn);
    if (rc)
        fuse_reply_err(req, fz_ino_errno(rc));
    else
        fz_reply_attr(req, &a);
}

static uint64_t ts_to_ns(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

uint32_t fz_setattr_fields(const struct stat *attr, int to_set, struct meta_attr *set)
{
    uint32_t valid = 0;
    memset(set, 0, sizeof *set);
    if (to_set & FUSE_SET_ATTR_MODE) {
        valid |= META_SET_MODE;
        set->mode = (uint32_t)attr->st_mode & 07777u;
    }
    if (to_set & FUSE_SET_ATTR_UID) {
        valid |= META_SET_UID;
        set->uid = (uint32_t)attr->st_uid;
    }
    if (to_set & FUSE_SET_ATTR_GID) {
        valid |= META_SET_GID;
        set->gid = (uint32_t)attr->st_gid;
    }
    if (to_set & FUSE_SET_ATTR_SIZE) {
        valid |= META_SET_SIZE;
        set->size = (uint64_t)attr->st_size;
    }
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
        valid |= META_SET_ATIME_NOW;
    } else if (to_set & FUSE_SET_ATTR_ATIME) {
        valid |= META_SET_ATIME;
        set->atime_ns = ts_to_ns(&attr->st_atim);
    }
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
        valid |= META_SET_MTIME_NOW;
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
        valid |= META_SET_MTIME;
        set->mtime_ns = ts_to_ns(&attr->st_mtim);
    }
    return valid;
}

/* The kernel clears set-id bits after a write or truncate by a caller that
 * may not chmod the file (file_remove_privs with ATTR_FORCE): mode is old
 * with only S_ISUID / S_ISGID removed. A plain chmod by a non-owner never
 * gets here: default_permissions refuses it in the kernel first. */
static int kills_privs_only(uint32_t old, uint32_t mode)
{
    const uint32_t ids = S_ISUID | S_ISGID;
    old &= 07777u;
    mode &= 07777u;
    return (mode & ~ids) == (old & ~ids) && (mode & ids & ~old) == 0 && (mode & ids) != (old & ids);
}

static int setattr_send(struct fz_conn *cn, uint64_t ino, uint32_t valid,
                        const struct meta_attr *set, struct meta_attr *out)
{
    struct meta_hdr h;
    fz_hdr(cn, &h);
    buf_reset(&cn->c->cmd);
    int rc = meta_cmd_setattr(&cn->c->cmd, &h, ino, valid, set);
    return rc ? rc : api_mutate_attr(cn->c, out);
}

int fz_setattr_cmd(struct fz_mount *m, struct fz_conn *cn, uint64_t ino, uint32_t valid,
                   const struct meta_attr *set, struct meta_attr *out)
{
    int rc = setattr_send(cn, ino, valid, set, out);
    if (rc != CAIRN_EPERM || !(valid & META_SET_MODE))
        return rc;
    struct meta_attr old;
    if (api_getattr(cn->c, ino, &old) != 0 || !kills_privs_only(old.mode, set->mode))
        return rc;
    /* The caller's part (size, times: its own rights), then the bits
     * cleared with the mount's credentials. */
    uint32_t rest = valid & ~META_SET_MODE;
    rc = rest ? setattr_send(cn, ino, rest, set, out) : 0;
    if (rc == 0) {
        struct meta_cred caller = cn->c->cred;
        cn->c->cred = m->own_cred;
        rc = setattr_send(cn, ino, META_SET_MODE, set, out);
        cn->c->cred = caller;
    }
    return rc;
}

void fz_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                   struct fuse_file_info *fi)
{
    struct fz_mount *m = fz_of(req);
    struct meta_attr set, a;
    uint32_t valid = fz_setattr_fields(attr, to_set, &set);
    int rc = 0;
    if ((valid & META_SET_SIZE) && (uint64_t)attr->st_size > CAIRN_FILE_SIZE_MAX)
        rc = CAIRN_EFBIG;
    struct fz_inode *open = rc == 0 && (valid & META_SET_SIZE) ? fz_inode_find(m, ino) : NULL;
    if (open) {
        /* The file's open datafile must not keep a map of the old size. */
        rc = fz_truncate_open(m, req, open, valid, &set, &a);
        fz_inode_unref(m, open);
    } else if (rc == 0) {
        struct fz_conn *cn = fz_conn_get(m, req);
        /* Only ctime to change (FUSE_SET_ATTR_CTIME alone): a GETATTR. */
        rc = valid ? fz_setattr_cmd(m, cn, ino, valid, &set, &a) : api_getattr(cn->c, ino, &a);
        fz_conn_put(cn);
    }
    if (rc)
        fuse_reply_err(req, fz_ino_errno(rc));
    else
        fz_reply_attr(req, &a);
}

void fz_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    char target[CAIRN_SYMLINK_MAX + 1];
    size_t len = 0;
    struct fz_conn *cn = fz_conn_get(fz_of(req), req);
    int rc = api_readlink_ino(cn->c, ino, target, &len);
    fz_conn_put(cn);
    if (rc)
        fuse_reply_err(req, fz_ino_errno(rc));
    else
        fuse_reply_readlink(req, target);
}

/* CREATE / MKDIR / SYMLINK: the command is built by `build` on the taken
 * connection; the reply is an entry. */
enum mk_kind { MK_FILE, MK_DIR, MK_LINK };

static void make_entry(fuse_req_t req, enum mk_kind kind, fuse_ino_t parent, const char *name,
                       uint32_t mode, const char *target)
{
    struct meta_attr a;
    int rc = name_check(name);
    if (rc == 0) {
        struct fz_conn *cn = fz_conn_get(fz_of(req), req);
        struct meta_hdr h;
        fz_hdr(cn, &h);
        buf_reset(&cn->c->cmd);
        if (kind == MK_FILE)
            rc = meta_cmd_create(&cn->c->cmd, &h, parent, name, mode & 07777u, 1);
        else if (kind == MK_DIR)
            rc = meta_cmd_mkdir(&cn->c->cmd, &h, parent, name, mode & 07777u);
        else
            rc = meta_cmd_symlink(&cn->c->cmd, &h, parent, name, target);
        if (rc == 0)
            rc = api_mutate_attr(cn->c, &a);
        fz_conn_put(cn);
    }
    reply_entry_rc(req, rc, &a);
}

/* Regular files only: the metadata has no fifos, sockets or devices. */
void fz_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    if (!S_ISREG(mode)) {
        fuse_reply_err(req, EPERM);
        return;
    }
    make_entry(req, MK_FILE, parent, name, mode, NULL);
}

void fz_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    make_entry(req, MK_DIR, parent, name, mode, NULL);
}

void fz_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    size_t n = strlen(link);
    if (n == 0 || n > CAIRN_SYMLINK_MAX) {
        fuse_reply_err(req, n ? ENAMETOOLONG : ENOENT);
        return;
    }
    make_entry(req, MK_LINK, parent, name, 0, link);
}

/* Send a namespace mutation built by the caller (header with the caller's
 * credentials) on a pooled connection. */
static int send_cmd(fuse_req_t req, const struct cairn_buf *cmd)
{
    struct fz_conn *cn = fz_conn_get(fz_of(req), req);
    buf_reset(&cn->c->cmd);
    int rc = buf_append(&cn->c->cmd, cmd->data, cmd->len);
    if (rc == 0)
        rc = api_mutate(cn->c);
    fz_conn_put(cn);
    return rc;
}

/* cmd (UNLINK, or RENAME over parent/name) may drop the last name of an
 * inode this mount has open: if so it goes with a HOLD of that inode in one
 * TXN (fz_send_with_hold), else alone. */
static int send_removing(fuse_req_t req, uint64_t parent, const char *name,
                         const struct cairn_buf *cmd)
{
    struct fz_mount *m = fz_of(req);
    int rc;
    pthread_rwlock_wrlock(&m->open_rw); /* no open between the check and the commit */
    if (fz_any_open(m)) {               /* else no lookup needed */
        struct meta_attr a;
        struct fz_conn *cn = fz_conn_get(m, req);
        rc = api_lookup(cn->c, parent, name, &a);
        fz_conn_put(cn);
        if (rc == 0 && S_ISREG(a.mode) && fz_send_with_hold(m, req, a.ino, cmd, &rc)) {
            pthread_rwlock_unlock(&m->open_rw);
            return rc;
        }
    }
    rc = send_cmd(req, cmd);
    pthread_rwlock_unlock(&m->open_rw);
    return rc;
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, int dir)
{
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    fz_req_cred(req, &h.cred);
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    int rc = name_check(name);
    if (rc == 0)
        rc = dir ? meta_cmd_rmdir(&cmd, &h, parent, name) : meta_cmd_unlink(&cmd, &h, parent, name);
    if (rc == 0)
        rc = dir ? send_cmd(req, &cmd) : send_removing(req, parent, name, &cmd);
    buf_free(&cmd);
    fuse_reply_err(req, fz_errno(rc));
}

void fz_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    remove_name(req, parent, name, 0);
}

void fz_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    remove_name(req, parent, name, 1);
}

void fz_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                  const char *newname, unsigned int flags)
{
    int rc = name_check(name);
    if (rc == 0)
        rc = name_check(newname);
    /* RENAME_EXCHANGE and RENAME_WHITEOUT: the metadata has no such rename. */
    if (rc == 0 && (flags & ~(unsigned)RENAME_NOREPLACE))
        rc = CAIRN_EINVAL;
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    fz_req_cred(req, &h.cred);
    struct cairn_buf cmd;
    buf_init(&cmd, 0);
    int noreplace = (flags & RENAME_NOREPLACE) != 0;
    if (rc == 0)
        rc = meta_cmd_rename(&cmd, &h, parent, name, newparent, newname,
                             noreplace ? META_RENAME_NOREPLACE : 0);
    if (rc == 0)
        rc = noreplace ? send_cmd(req, &cmd) : send_removing(req, newparent, newname, &cmd);
    buf_free(&cmd);
    fuse_reply_err(req, fz_errno(rc));
}

void fz_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    struct meta_attr a;
    int rc = name_check(newname);
    if (rc == 0) {
        struct fz_conn *cn = fz_conn_get(fz_of(req), req);
        struct meta_hdr h;
        fz_hdr(cn, &h);
        buf_reset(&cn->c->cmd);
        rc = meta_cmd_link(&cn->c->cmd, &h, ino, newparent, newname);
        if (rc == 0)
            rc = api_mutate_attr(cn->c, &a);
        fz_conn_put(cn);
    }
    reply_entry_rc(req, rc, &a);
}

/* Block counts in units of 4 KiB: small enough that df shows free space
 * precisely, large enough for petabytes in 64 bits. */
#define FZ_STATFS_BSIZE 4096u

/* STATFS reply body into s. Runs with cn held. */
static int statfs_query(struct fz_conn *cn, struct meta_statfs *s)
{
    struct meta_hdr h;
    fz_hdr(cn, &h);
    buf_reset(&cn->c->cmd);
    int rc = meta_cmd_statfs(&cn->c->cmd, &h);
    if (rc == 0)
        rc = api_query(cn->c);
    if (rc)
        return rc;
    struct wire_dec d;
    wire_dec_init(&d, cn->c->reply.data + 4, cn->c->reply.len - 4);
    s->files = wire_get_u64(&d);
    s->used_bytes = wire_get_u64(&d);
    s->capacity_bytes = wire_get_u64(&d);
    s->free_bytes = wire_get_u64(&d);
    s->nodes = wire_get_u32(&d);
    s->nodes_up = wire_get_u32(&d);
    return wire_dec_finish(&d);
}

void fz_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct meta_statfs s;
    struct fz_conn *cn = fz_conn_get(fz_of(req), req);
    int rc = statfs_query(cn, &s);
    fz_conn_put(cn);
    if (rc) {
        fuse_reply_err(req, fz_errno(rc));
        return;
    }
    struct statvfs st;
    memset(&st, 0, sizeof st);
    st.f_bsize = CAIRN_BLOCK_SIZE;
    st.f_frsize = FZ_STATFS_BSIZE;
    st.f_blocks = s.capacity_bytes / FZ_STATFS_BSIZE;
    st.f_bfree = s.free_bytes / FZ_STATFS_BSIZE;
    st.f_bavail = st.f_bfree;
    /* No inode limit: report plenty free, as network file systems do. */
    st.f_files = s.files + (1u << 30);
    st.f_ffree = 1u << 30;
    st.f_favail = st.f_ffree;
    st.f_namemax = CAIRN_NAME_MAX;
    fuse_reply_statfs(req, &st);
}

/* --- extended attributes ------------------------------------------------------- */

/* An empty name, or a namespace prefix alone ("user."), is EINVAL as in
 * Linux's VFS; too long is ERANGE. */
static int xname_check(const char *name)
{
    static const char *const prefixes[] = {"user.", "trusted.", "security.", "system."};
    size_t n = strlen(name);
    if (n == 0)
        return CAIRN_EINVAL;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strcmp(name, prefixes[i]) == 0)
            return CAIRN_EINVAL;
    return n > CAIRN_XATTR_NAME_MAX ? CAIRN_ERANGE : 0;
}

void fz_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                    size_t size, int flags)
{
    if (size > CAIRN_XATTR_VALUE_MAX) {
        fuse_reply_err(req, E2BIG);
        return;
    }
    int rc = xname_check(name);
    if (rc == 0 && (flags & ~(int)(META_XATTR_CREATE | META_XATTR_REPLACE)))
        rc = CAIRN_EINVAL;
    if (rc == 0) {
        struct fz_conn *cn = fz_conn_get(fz_of(req), req);
        struct meta_hdr h;
        fz_hdr(cn, &h);
        buf_reset(&cn->c->cmd);
        rc = meta_cmd_setxattr(&cn->c->cmd, &h, ino, name, value, size, (uint32_t)flags);
        if (rc == 0)
            rc = api_mutate(cn->c);
        fz_conn_put(cn);
    }
    fuse_reply_err(req, fz_ino_errno(rc));
}

/* GETXATTR / LISTXATTR, encoded into cn's command (rc: the encoder's
 * result): query, then reply the length alone or the bytes when asked
 * (size > 0) from the reply's u32 length and bytes. Runs with cn held and
 * lets it go. */
static void xattr_reply(fuse_req_t req, struct fz_conn *cn, int rc, size_t size)
{
    if (rc == 0)
        rc = api_query(cn->c);
    if (rc) {
        fz_conn_put(cn);
        fuse_reply_err(req, fz_ino_errno(rc));
        return;
    }
    struct cairn *c = cn->c;
    struct wire_dec d;
    wire_dec_init(&d, c->reply.data + 4, c->reply.len - 4);
    uint32_t len = wire_get_u32(&d);
    const uint8_t *p = size ? wire_get_raw(&d, len) : NULL;
    rc = wire_dec_finish(&d);
    if (rc) {
        fz_conn_put(cn);
        fuse_reply_err(req, fz_errno(rc));
        return;
    }
    if (!size) {
        fz_conn_put(cn);
        fuse_reply_xattr(req, len);
        return;
    }
    /* The reply buffer belongs to the connection: copy before letting go. */
    char *copy = malloc(len ? len : 1);
    if (copy)
        memcpy(copy, p, len);
    fz_conn_put(cn);
    if (!copy)
        fuse_reply_err(req, ENOMEM);
    else
        fuse_reply_buf(req, copy, len);
    free(copy);
}

void fz_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    int rc = xname_check(name);
    if (rc) {
        fuse_reply_err(req, fz_ino_errno(rc));
        return;
    }
    uint32_t ask = size > CAIRN_XATTR_VALUE_MAX ? CAIRN_XATTR_VALUE_MAX : (uint32_t)size;
    struct fz_conn *cn = fz_conn_get(fz_of(req), req);
    struct meta_hdr h;
    fz_hdr(cn, &h);
    buf_reset(&cn->c->cmd);
    rc = meta_cmd_getxattr(&cn->c->cmd, &h, ino, name, ask);
    xattr_reply(req, cn, rc, ask);
}

void fz_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    uint32_t ask =
        size > CAIRN_FRAME_PAYLOAD_MAX / 2 ? CAIRN_FRAME_PAYLOAD_MAX / 2 : (uint32_t)size;
    struct fz_conn *cn = fz_conn_get(fz_of(req), req);
    struct meta_hdr h;
    fz_hdr(cn, &h);
    buf_reset(&cn->c->cmd);
    int rc = meta_cmd_listxattr(&cn->c->cmd, &h, ino, ask);
    xattr_reply(req, cn, rc, ask);
}

void fz_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    int rc = xname_check(name);
    if (rc == 0) {
        struct fz_conn *cn = fz_conn_get(fz_of(req), req);
        struct meta_hdr h;
        fz_hdr(cn, &h);
        buf_reset(&cn->c->cmd);
        rc = meta_cmd_removexattr(&cn->c->cmd, &h, ino, name);
        if (rc == 0)
            rc = api_mutate(cn->c);
        fz_conn_put(cn);
    }
    fuse_reply_err(req, fz_ino_errno(rc));
}

/* access(2) (only sent without default_permissions, or for the X_OK of
 * exec): the mode bits against the caller, root passing all but X_OK on a
 * file without any x bit, as Linux. */
void fz_op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    struct meta_attr a;
    struct fz_conn *cn = fz_conn_get(fz_of(req), req);
    struct meta_cred cr = cn->c->cred;
    int rc = api_getattr(cn->c, ino, &a);
    fz_conn_put(cn);
    if (rc == 0 && mask != F_OK) {
        uint32_t want = (uint32_t)mask & 7u, bits;
        if (cr.uid == 0) {
            bits = (want & 1u) && !S_ISDIR(a.mode) && !(a.mode & 0111u) ? 6u : 7u;
        } else if (cr.uid == a.uid) {
            bits = (a.mode >> 6) & 7u;
        } else {
            int member = cr.gid == a.gid;
            for (uint32_t i = 0; i < cr.n_groups && !member; i++)
                member = cr.groups[i] == a.gid;
            bits = member ? (a.mode >> 3) & 7u : a.mode & 7u;
        }
        if ((bits & want) != want)
            rc = CAIRN_EACCES;
    }
    fuse_reply_err(req, fz_ino_errno(rc));
}
