/*
 * api_ns.c: the namespace calls of libcairn (include/cairn.h): mkdir,
 * rmdir, unlink, rename, link, symlink, readlink, chmod, chown, truncate,
 * utimens, extended attributes and directory listings. Each resolves its
 * path(s) here (api_path.c) and sends one metadata command; the metadata
 * state machine checks permissions and applies Linux's rules for "." and
 * "..". Every public function holds the connection's lock throughout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn_errors.h"
#include "client/api_int.h"
#include "wire/codec.h"

/* Entries fetched per READDIR round trip (each cairn_dirent is ~270 bytes). */
#define API_READDIR_PAGE 256u
_Static_assert(API_READDIR_PAGE <= CAIRN_READDIR_MAX, "a page fits one READDIR reply");

struct cairn_dir {
    struct cairn *c;
    uint64_t ino;
    uint64_t cookie; /* resume after this entry */
    int eof;         /* the leader said no entry follows the page */
    uint32_t n, pos; /* entries in the page, next one to return */
    struct cairn_dirent page[API_READDIR_PAGE];
};

/* Resolve the parent of path's last component (links followed). */
static int where(struct cairn *c, const char *path, struct api_where *w)
{
    uint32_t links = 0;
    return api_walk_parent(c, META_ROOT_INO, path, &links, w);
}

/* A new name with a trailing slash ("a/" for symlink or link): Linux says
 * EEXIST when it exists and ENOENT when not (only directories may be named
 * with a slash, and these calls do not make directories). */
static int slash_name_error(struct cairn *c, const struct api_where *w)
{
    struct meta_attr a;
    int rc = api_lookup(c, w->parent, w->name, &a);
    return rc == 0 ? CAIRN_EEXIST : rc;
}

int api_mutate_if(struct cairn *c, uint64_t ino, const uint64_t *if_version)
{
    if (!if_version)
        return api_mutate(c);
    struct cairn_buf inner;
    buf_init(&inner, CAIRN_FRAME_PAYLOAD_MAX);
    int rc = buf_append(&inner, c->cmd.data, c->cmd.len);
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    if (rc == 0)
        rc = meta_cmd_cond(&c->cmd, &h, ino, *if_version, inner.data, inner.len);
    buf_free(&inner);
    return rc ? rc : api_mutate(c);
}

/* The inode a name of directory parent binds now: the one a conditional
 * unlink, rmdir or rename checks (its version changes with every change of
 * its names, so the condition also fails if the name was rebound since). */
static int victim_ino(struct cairn *c, const struct api_where *w, const uint64_t *ifv,
                      uint64_t *ino)
{
    struct meta_attr a;
    *ino = 0;
    if (!ifv)
        return 0;
    int rc = api_lookup(c, w->parent, w->name, &a);
    *ino = a.ino;
    return rc;
}

/* The *_if calls below take if_version as a pointer: NULL = unconditional. */
static int do_mkdir(struct cairn *c, const char *path, uint32_t mode, const uint64_t *ifv)
{
    struct api_where w;
    int rc = where(c, path, &w);
    if (rc)
        return rc;
    if (!w.name[0])
        return CAIRN_EEXIST;
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    rc = meta_cmd_mkdir(&c->cmd, &h, w.parent, w.name, mode & ~c->mode_mask & 07777u);
    return rc ? rc : api_mutate_if(c, w.parent, ifv);
}

/* unlink and rmdir share their shape; the server decides "." and "..". */
static int do_remove(struct cairn *c, const char *path, int dir, const uint64_t *ifv)
{
    struct api_where w;
    int rc = where(c, path, &w);
    if (rc)
        return rc;
    if (!w.name[0])
        return dir ? CAIRN_EBUSY : CAIRN_EISDIR;
    if (w.slash && !dir) { /* "file/" is ENOTDIR, "dir/" EISDIR */
        struct meta_attr a;
        rc = api_lookup(c, w.parent, w.name, &a);
        return rc ? rc : S_ISDIR(a.mode) ? CAIRN_EISDIR : CAIRN_ENOTDIR;
    }
    uint64_t ino;
    if ((rc = victim_ino(c, &w, ifv, &ino)) != 0)
        return rc;
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    rc = dir ? meta_cmd_rmdir(&c->cmd, &h, w.parent, w.name)
             : meta_cmd_unlink(&c->cmd, &h, w.parent, w.name);
    return rc ? rc : api_mutate_if(c, ino, ifv);
}

static int do_rename(struct cairn *c, const char *from, const char *to, unsigned flags,
                     const uint64_t *ifv)
{
    if (flags & ~CAIRN_RENAME_NOREPLACE)
        return CAIRN_EINVAL;
    struct api_where a, b;
    int rc = where(c, from, &a);
    if (rc == 0)
        rc = where(c, to, &b);
    if (rc)
        return rc;
    if (!a.name[0] || !b.name[0])
        return CAIRN_EBUSY;
    if (a.slash || b.slash) { /* a trailing slash needs a directory source */
        struct meta_attr st;
        rc = api_lookup(c, a.parent, a.name, &st);
        if (rc == 0 && !S_ISDIR(st.mode))
            rc = CAIRN_ENOTDIR;
        if (rc)
            return rc;
    }
    uint64_t ino;
    if ((rc = victim_ino(c, &a, ifv, &ino)) != 0)
        return rc;
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    rc = meta_cmd_rename(&c->cmd, &h, a.parent, a.name, b.parent, b.name,
                         flags & CAIRN_RENAME_NOREPLACE ? META_RENAME_NOREPLACE : 0);
    return rc ? rc : api_mutate_if(c, ino, ifv);
}

static int do_link(struct cairn *c, const char *oldpath, const char *newpath, const uint64_t *ifv)
{
    struct meta_attr a;
    struct api_where w;
    int rc = api_resolve(c, oldpath, 0, &a);
    if (rc == 0)
        rc = where(c, newpath, &w);
    if (rc)
        return rc;
    if (!w.name[0])
        return CAIRN_EEXIST;
    if (w.slash)
        return slash_name_error(c, &w);
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    rc = meta_cmd_link(&c->cmd, &h, a.ino, w.parent, w.name);
    return rc ? rc : api_mutate_if(c, a.ino, ifv);
}

static int do_symlink(struct cairn *c, const char *target, const char *linkpath,
                      const uint64_t *ifv)
{
    size_t tlen = strnlen(target, CAIRN_SYMLINK_MAX + 1);
    if (tlen == 0)
        return CAIRN_ENOENT;
    if (tlen > CAIRN_SYMLINK_MAX)
        return CAIRN_ENAMETOOLONG;
    struct api_where w;
    int rc = where(c, linkpath, &w);
    if (rc)
        return rc;
    if (!w.name[0])
        return CAIRN_EEXIST;
    if (w.slash)
        return slash_name_error(c, &w);
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    rc = meta_cmd_symlink(&c->cmd, &h, w.parent, w.name, target);
    return rc ? rc : api_mutate_if(c, w.parent, ifv);
}

static int setattr_ino(struct cairn *c, uint64_t ino, uint32_t valid, const struct meta_attr *set,
                       const uint64_t *ifv)
{
    struct meta_hdr h;
    struct meta_attr a;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    int rc = meta_cmd_setattr(&c->cmd, &h, ino, valid, set);
    if (rc == 0)
        rc = api_mutate_if(c, ino, ifv);
    return rc ? rc : meta_reply_attr(c->reply.data, c->reply.len, &a);
}

/* SETATTR on what path names (follow: through a final link). Nothing to
 * change (valid 0) still resolves the path (errors as chown(2), utimensat),
 * and a condition is then checked against the version just read. */
static int do_setattr(struct cairn *c, const char *path, int follow, uint32_t valid,
                      const struct meta_attr *set, const uint64_t *ifv)
{
    struct meta_attr a;
    int rc = api_resolve(c, path, follow, &a);
    if (rc == 0 && !valid)
        return ifv && a.version != *ifv ? CAIRN_CONFLICT : 0;
    return rc ? rc : setattr_ino(c, a.ino, valid, set, ifv);
}

static int do_truncate(struct cairn *c, const char *path, uint64_t size, const uint64_t *ifv)
{
    if (size > CAIRN_FILE_SIZE_MAX)
        return CAIRN_EFBIG;
    struct meta_attr set = {.size = size};
    struct meta_attr a;
    int rc = api_resolve(c, path, 1, &a);
    if (rc == 0 && S_ISDIR(a.mode))
        rc = CAIRN_EISDIR;
    else if (rc == 0 && !S_ISREG(a.mode))
        rc = CAIRN_EINVAL;
    return rc ? rc : setattr_ino(c, a.ino, META_SET_SIZE, &set, ifv);
}

/* One time of utimensat(2) into the SETATTR fields. */
static uint32_t utime_field(const struct timespec *ts, uint64_t *ns, uint32_t set_bit,
                            uint32_t now_bit)
{
    if (!ts || ts->tv_nsec == UTIME_NOW)
        return now_bit;
    if (ts->tv_nsec == UTIME_OMIT)
        return 0;
    *ns = (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
    return set_bit;
}

static int do_utimens(struct cairn *c, const char *path, const struct timespec ts[2],
                      const uint64_t *ifv)
{
    for (int i = 0; ts && i < 2; i++)
        if (ts[i].tv_nsec != UTIME_NOW && ts[i].tv_nsec != UTIME_OMIT &&
            (ts[i].tv_nsec < 0 || ts[i].tv_nsec >= 1000000000L || ts[i].tv_sec < 0))
            return CAIRN_EINVAL;
    struct meta_attr set = {0};
    uint32_t valid =
        utime_field(ts ? &ts[0] : NULL, &set.atime_ns, META_SET_ATIME, META_SET_ATIME_NOW) |
        utime_field(ts ? &ts[1] : NULL, &set.mtime_ns, META_SET_MTIME, META_SET_MTIME_NOW);
    return do_setattr(c, path, 1, valid, &set, ifv);
}

static int do_chown(struct cairn *c, const char *path, int follow, uint32_t uid, uint32_t gid,
                    const uint64_t *ifv)
{
    struct meta_attr set = {.uid = uid, .gid = gid};
    uint32_t valid =
        (uid != UINT32_MAX ? META_SET_UID : 0) | (gid != UINT32_MAX ? META_SET_GID : 0);
    return do_setattr(c, path, follow, valid, &set, ifv);
}

static int do_chmod(struct cairn *c, const char *path, uint32_t mode, const uint64_t *ifv)
{
    struct meta_attr set = {.mode = mode & 07777u};
    return do_setattr(c, path, 1, META_SET_MODE, &set, ifv);
}

static int do_setgoal(struct cairn *c, const char *path, uint32_t goal, const uint64_t *ifv)
{
    if (goal < 1 || goal > CAIRN_GOAL_MAX)
        return CAIRN_EINVAL;
    struct meta_attr set = {.goal = (uint8_t)goal};
    return do_setattr(c, path, 1, META_SET_GOAL, &set, ifv);
}

/* --- public calls ---------------------------------------------------------------- */

/* Each public call holds the lock around its do_* function; the plain forms
 * return -errno, the *_if forms (cairn_lock.h) the cairn_err itself. */
#define API_LOCKED(c, call)             \
    do {                                \
        pthread_mutex_lock(&(c)->mu);   \
        rc = (call);                    \
        pthread_mutex_unlock(&(c)->mu); \
    } while (0)

int cairn_mkdir(struct cairn *c, const char *path, uint32_t mode)
{
    int rc;
    API_LOCKED(c, do_mkdir(c, path, mode, NULL));
    return api_errno(rc);
}

int cairn_mkdir_if(struct cairn *c, const char *path, uint32_t mode, uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_mkdir(c, path, mode, &if_version));
    return rc;
}

int cairn_rmdir(struct cairn *c, const char *path)
{
    int rc;
    API_LOCKED(c, do_remove(c, path, 1, NULL));
    return api_errno(rc);
}

int cairn_rmdir_if(struct cairn *c, const char *path, uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_remove(c, path, 1, &if_version));
    return rc;
}

int cairn_unlink(struct cairn *c, const char *path)
{
    int rc;
    API_LOCKED(c, do_remove(c, path, 0, NULL));
    return api_errno(rc);
}

int cairn_unlink_if(struct cairn *c, const char *path, uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_remove(c, path, 0, &if_version));
    return rc;
}

int cairn_rename2(struct cairn *c, const char *from, const char *to, unsigned flags)
{
    int rc;
    API_LOCKED(c, do_rename(c, from, to, flags, NULL));
    return api_errno(rc);
}

int cairn_rename(struct cairn *c, const char *from, const char *to)
{
    return cairn_rename2(c, from, to, 0);
}

int cairn_rename_if(struct cairn *c, const char *from, const char *to, unsigned flags,
                    uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_rename(c, from, to, flags, &if_version));
    return rc;
}

int cairn_link(struct cairn *c, const char *oldpath, const char *newpath)
{
    int rc;
    API_LOCKED(c, do_link(c, oldpath, newpath, NULL));
    return api_errno(rc);
}

int cairn_link_if(struct cairn *c, const char *oldpath, const char *newpath, uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_link(c, oldpath, newpath, &if_version));
    return rc;
}

int cairn_symlink(struct cairn *c, const char *target, const char *linkpath)
{
    int rc;
    API_LOCKED(c, do_symlink(c, target, linkpath, NULL));
    return api_errno(rc);
}

int cairn_symlink_if(struct cairn *c, const char *target, const char *linkpath, uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_symlink(c, target, linkpath, &if_version));
    return rc;
}

ssize_t cairn_readlink(struct cairn *c, const char *path, char *buf, size_t size)
{
    char target[CAIRN_SYMLINK_MAX + 1];
    size_t len = 0;
    struct meta_attr a;
    pthread_mutex_lock(&c->mu);
    int rc = api_resolve(c, path, 0, &a);
    if (rc == 0 && !S_ISLNK(a.mode))
        rc = CAIRN_EINVAL;
    if (rc == 0)
        rc = api_readlink_ino(c, a.ino, target, &len);
    pthread_mutex_unlock(&c->mu);
    if (rc)
        return api_errno(rc);
    memcpy(buf, target, len < size ? len : size);
    return (ssize_t)len;
}

int cairn_chmod(struct cairn *c, const char *path, uint32_t mode)
{
    int rc;
    API_LOCKED(c, do_chmod(c, path, mode, NULL));
    return api_errno(rc);
}

int cairn_chmod_if(struct cairn *c, const char *path, uint32_t mode, uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_chmod(c, path, mode, &if_version));
    return rc;
}

int cairn_chown(struct cairn *c, const char *path, uint32_t uid, uint32_t gid)
{
    int rc;
    API_LOCKED(c, do_chown(c, path, 1, uid, gid, NULL));
    return api_errno(rc);
}

int cairn_lchown(struct cairn *c, const char *path, uint32_t uid, uint32_t gid)
{
    int rc;
    API_LOCKED(c, do_chown(c, path, 0, uid, gid, NULL));
    return api_errno(rc);
}

int cairn_chown_if(struct cairn *c, const char *path, uint32_t uid, uint32_t gid,
                   uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_chown(c, path, 1, uid, gid, &if_version));
    return rc;
}

int cairn_lchown_if(struct cairn *c, const char *path, uint32_t uid, uint32_t gid,
                    uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_chown(c, path, 0, uid, gid, &if_version));
    return rc;
}

int cairn_truncate(struct cairn *c, const char *path, uint64_t size)
{
    int rc;
    API_LOCKED(c, do_truncate(c, path, size, NULL));
    return api_errno(rc);
}

int cairn_truncate_if(struct cairn *c, const char *path, uint64_t size, uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_truncate(c, path, size, &if_version));
    return rc;
}

int cairn_utimens(struct cairn *c, const char *path, const struct timespec ts[2])
{
    int rc;
    API_LOCKED(c, do_utimens(c, path, ts, NULL));
    return api_errno(rc);
}

int cairn_utimens_if(struct cairn *c, const char *path, const struct timespec ts[2],
                     uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_utimens(c, path, ts, &if_version));
    return rc;
}

int cairn_setgoal_if(struct cairn *c, const char *path, uint32_t goal, uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_setgoal(c, path, goal, &if_version));
    return rc;
}

/* --- extended attributes ------------------------------------------------------------ */

static int xattr_name_check(const char *name)
{
    size_t n = strnlen(name, CAIRN_XATTR_NAME_MAX + 1);
    return n == 0 ? CAIRN_EINVAL : n > CAIRN_XATTR_NAME_MAX ? CAIRN_ERANGE : 0;
}

/* GETXATTR / LISTXATTR reply: u32 length, then the bytes when size > 0. */
static int xattr_reply(struct cairn *c, void *out, size_t size, uint32_t *len)
{
    struct wire_dec d;
    wire_dec_init(&d, c->reply.data + 4, c->reply.len - 4);
    *len = wire_get_u32(&d);
    const uint8_t *p = size ? wire_get_raw(&d, *len) : NULL;
    int rc = wire_dec_finish(&d);
    if (rc == 0 && p)
        memcpy(out, p, *len);
    return rc;
}

ssize_t cairn_getxattr(struct cairn *c, const char *path, const char *name, void *value,
                       size_t size)
{
    int rc = xattr_name_check(name);
    if (rc)
        return api_errno(rc);
    uint32_t ask = size > CAIRN_XATTR_VALUE_MAX ? CAIRN_XATTR_VALUE_MAX : (uint32_t)size;
    uint32_t len = 0;
    pthread_mutex_lock(&c->mu);
    struct meta_attr a;
    rc = api_resolve(c, path, 1, &a);
    if (rc == 0) {
        struct meta_hdr h;
        api_hdr(c, &h);
        buf_reset(&c->cmd);
        rc = meta_cmd_getxattr(&c->cmd, &h, a.ino, name, ask);
    }
    if (rc == 0)
        rc = api_query(c);
    if (rc == 0)
        rc = xattr_reply(c, value, ask, &len);
    pthread_mutex_unlock(&c->mu);
    return rc ? api_errno(rc) : (ssize_t)len;
}

ssize_t cairn_listxattr(struct cairn *c, const char *path, char *list, size_t size)
{
    uint32_t ask =
        size > CAIRN_FRAME_PAYLOAD_MAX / 2 ? CAIRN_FRAME_PAYLOAD_MAX / 2 : (uint32_t)size;
    uint32_t len = 0;
    pthread_mutex_lock(&c->mu);
    struct meta_attr a;
    int rc = api_resolve(c, path, 1, &a);
    if (rc == 0) {
        struct meta_hdr h;
        api_hdr(c, &h);
        buf_reset(&c->cmd);
        rc = meta_cmd_listxattr(&c->cmd, &h, a.ino, ask);
    }
    if (rc == 0)
        rc = api_query(c);
    if (rc == 0)
        rc = xattr_reply(c, list, ask, &len);
    pthread_mutex_unlock(&c->mu);
    return rc ? api_errno(rc) : (ssize_t)len;
}

/* SETXATTR, or REMOVEXATTR when value is NULL. */
static int do_xattr_change(struct cairn *c, const char *path, const char *name, const void *value,
                           size_t size, int flags, const uint64_t *ifv)
{
    int rc = xattr_name_check(name);
    if (rc)
        return rc;
    if (flags & ~(int)(META_XATTR_CREATE | META_XATTR_REPLACE))
        return CAIRN_EINVAL;
    struct meta_attr a;
    rc = api_resolve(c, path, 1, &a);
    if (rc)
        return rc;
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    rc = value ? meta_cmd_setxattr(&c->cmd, &h, a.ino, name, value, size, (uint32_t)flags)
               : meta_cmd_removexattr(&c->cmd, &h, a.ino, name);
    return rc ? rc : api_mutate_if(c, a.ino, ifv);
}

/* A value of size 0 may come as NULL: give do_xattr_change a pointer. */
static const void *xattr_value(const void *value) { return value ? value : ""; }

/* Too long for any xattr (E2BIG has no cairn_err: both forms return -E2BIG). */
#define XATTR_SIZE_CHECK(size)              \
    do {                                    \
        if ((size) > CAIRN_XATTR_VALUE_MAX) \
            return -E2BIG;                  \
    } while (0)

int cairn_setxattr(struct cairn *c, const char *path, const char *name, const void *value,
                   size_t size, int flags)
{
    int rc;
    XATTR_SIZE_CHECK(size);
    API_LOCKED(c, do_xattr_change(c, path, name, xattr_value(value), size, flags, NULL));
    return api_errno(rc);
}

int cairn_setxattr_if(struct cairn *c, const char *path, const char *name, const void *value,
                      size_t size, int flags, uint64_t if_version)
{
    int rc;
    XATTR_SIZE_CHECK(size);
    API_LOCKED(c, do_xattr_change(c, path, name, xattr_value(value), size, flags, &if_version));
    return rc;
}

int cairn_removexattr(struct cairn *c, const char *path, const char *name)
{
    int rc;
    API_LOCKED(c, do_xattr_change(c, path, name, NULL, 0, 0, NULL));
    return api_errno(rc);
}

int cairn_removexattr_if(struct cairn *c, const char *path, const char *name, uint64_t if_version)
{
    int rc;
    API_LOCKED(c, do_xattr_change(c, path, name, NULL, 0, 0, &if_version));
    return rc;
}

/* --- directories ----------------------------------------------------------------------- */

int cairn_opendir(struct cairn *c, const char *path, struct cairn_dir **out)
{
    struct cairn_dir *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    pthread_mutex_lock(&c->mu);
    struct meta_attr a;
    int rc = api_resolve(c, path, 1, &a);
    if (rc == 0 && !S_ISDIR(a.mode))
        rc = CAIRN_ENOTDIR;
    if (rc == 0)
        c->files_open++;
    pthread_mutex_unlock(&c->mu);
    if (rc) {
        free(d);
        return api_errno(rc);
    }
    d->c = c;
    d->ino = a.ino;
    *out = d;
    return 0;
}

/* The next page of entries after d->cookie. */
static int dir_fetch(struct cairn_dir *d)
{
    struct cairn *c = d->c;
    struct meta_hdr h;
    api_hdr(c, &h);
    buf_reset(&c->cmd);
    int rc = meta_cmd_readdir(&c->cmd, &h, d->ino, d->cookie, API_READDIR_PAGE);
    if (rc == 0)
        rc = api_query(c);
    if (rc)
        return rc;
    struct wire_dec dec;
    wire_dec_init(&dec, c->reply.data + 4, c->reply.len - 4);
    uint32_t n = wire_get_u32(&dec);
    if (n > API_READDIR_PAGE)
        return CAIRN_BADMSG;
    for (uint32_t i = 0; i < n && !dec.err; i++) {
        struct cairn_dirent *e = &d->page[i];
        d->cookie = wire_get_u64(&dec);
        e->ino = wire_get_u64(&dec);
        e->type = (uint32_t)wire_get_u8(&dec) << 12;
        struct wire_bytes name = wire_get_name(&dec);
        memcpy(e->name, name.p ? (const char *)name.p : "", name.len);
        e->name[name.len] = 0;
    }
    d->eof = wire_get_u8(&dec) != 0;
    rc = wire_dec_finish(&dec);
    d->n = rc ? 0 : n;
    d->pos = 0;
    return rc;
}

int cairn_readdir(struct cairn_dir *d, struct cairn_dirent *out)
{
    int rc = 0;
    pthread_mutex_lock(&d->c->mu);
    while (d->pos == d->n && !d->eof && rc == 0)
        rc = dir_fetch(d);
    pthread_mutex_unlock(&d->c->mu);
    if (rc)
        return api_errno(rc);
    if (d->pos == d->n)
        return 0;
    *out = d->page[d->pos++];
    return 1;
}

void cairn_closedir(struct cairn_dir *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->c->mu);
    d->c->files_open--;
    pthread_mutex_unlock(&d->c->mu);
    free(d);
}
