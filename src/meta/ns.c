/*
 * ns.c: namespace mutations: create, mkdir, symlink, link, unlink, rmdir,
 * rename.
 *
 * Each operation checks everything first and changes the state only once
 * it cannot fail any more (allocations come before the first change), so a
 * failed operation leaves no trace but its error. The order of the checks
 * follows Linux's VFS (namei.c), which decides which error a caller sees
 * when several apply: search permission while walking, then existence,
 * then write permission, then the sticky bit, then type rules.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "meta/internal.h"

struct meta_inode *meta_ino_get(const struct meta *m, uint64_t ino)
{
    return meta_table_get(&m->inodes, ino);
}

/* A change to the inode: ctime (and mtime if asked) become now, version++. */
void meta_ino_touch(struct meta *m, struct meta_inode *in, int mtime)
{
    in->ctime_ns = m->now_ns;
    if (mtime)
        in->mtime_ns = m->now_ns;
    in->version++;
}

void meta_ino_to_attr(const struct meta_inode *in, struct meta_attr *a)
{
    a->ino = in->ino;
    a->size = in->size;
    a->atime_ns = in->atime_ns;
    a->mtime_ns = in->mtime_ns;
    a->ctime_ns = in->ctime_ns;
    a->version = in->version;
    a->mode = in->mode;
    a->uid = in->uid;
    a->gid = in->gid;
    a->nlink = in->nlink;
    a->goal = in->goal;
}

static void put_attr(struct wire_enc *e, const struct meta_inode *in)
{
    struct meta_attr a;
    meta_ino_to_attr(in, &a);
    meta_enc_attr(e, &a);
}

/* Free an inode and everything it owns (its chunks go to the outbox). */
void meta_ino_destroy(struct meta *m, struct meta_inode *in)
{
    if (S_ISREG(in->mode)) {
        meta_data_release(m, in);
        m->used_bytes -= in->size;
    } else if (S_ISLNK(in->mode)) {
        free(in->u.target);
    } else {
        meta_dir_free(in->u.dir);
    }
    meta_xattr_drop(m, in->ino);
    meta_lock_fence_set(m, in->ino, 0); /* its newest fencing token (lock.c) */
    meta_table_remove(&m->inodes, in->ino);
}

/* One name of a non-directory goes away. Returns 1 if the inode is gone;
 * a file some session holds open stays as an orphan (nlink 0) until the
 * last hold ends (hold.c). */
int meta_ino_drop_link(struct meta *m, struct meta_inode *in)
{
    CAIRN_ASSERT(!ino_is_dir(in) && in->nlink > 0);
    if (--in->nlink == 0 && !meta_ino_held(m, in->ino)) {
        meta_ino_destroy(m, in);
        return 1;
    }
    meta_ino_touch(m, in, 0);
    return 0;
}

static int is_dot(const struct wire_bytes *n)
{
    return (n->len == 1 && n->p[0] == '.') || (n->len == 2 && n->p[0] == '.' && n->p[1] == '.');
}

/* The directory `ino` searched by the caller: ENOENT, ENOTDIR or EACCES. */
static int dir_searchable(const struct meta *m, const struct meta_cred *c, uint64_t ino,
                          struct meta_inode **out)
{
    struct meta_inode *d = meta_ino_get(m, ino);
    if (!d)
        return CAIRN_ENOENT;
    if (!ino_is_dir(d))
        return CAIRN_ENOTDIR;
    *out = d;
    return meta_perm_access(d, c, META_MAY_X);
}

/* The record and owned parts of a new inode, not yet linked anywhere. */
static int ino_new(struct meta *m, const struct meta_req *r, const struct meta_inode *parent,
                   uint16_t mode, struct meta_inode **out)
{
    if (m->next_ino >= CAIRN_INO_MAX)
        return CAIRN_ENOSPC;
    void *owned = NULL;
    if (S_ISDIR(mode))
        owned = meta_dir_new(parent->ino);
    else if (S_ISLNK(mode))
        owned = malloc(r->data.len);
    if (!S_ISREG(mode) && !owned)
        return CAIRN_ENOMEM;
    struct meta_inode *in = meta_table_insert(&m->inodes, m->next_ino);
    if (!in) {
        free(owned);
        return CAIRN_ENOMEM;
    }
    m->next_ino++;
    const struct meta_cred *c = &r->h.cred;
    in->uid = c->uid;
    in->gid = c->gid;
    if (parent->mode & S_ISGID) {
        /* BSD group semantics in a setgid directory; subdirectories keep
         * the bit so the rule propagates. */
        in->gid = parent->gid;
        if (S_ISDIR(mode))
            mode |= S_ISGID;
    }
    if (!S_ISDIR(mode) && (mode & S_ISGID) && c->uid != 0 && !meta_perm_in_group(c, in->gid))
        mode &= (uint16_t)~S_ISGID;
    in->mode = mode;
    in->nlink = S_ISDIR(mode) ? 2 : 1;
    in->goal = parent->goal;
    in->version = 1;
    in->atime_ns = in->mtime_ns = in->ctime_ns = m->now_ns;
    if (S_ISDIR(mode)) {
        in->u.dir = owned;
    } else if (S_ISLNK(mode)) {
        memcpy(owned, r->data.p, r->data.len);
        in->u.target = owned;
        in->size = r->data.len;
    }
    *out = in;
    return 0;
}

/* CREATE, MKDIR and SYMLINK: a new inode under a new name. */
int meta_ns_create(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    const struct meta_cred *c = &r->h.cred;
    struct meta_inode *parent;
    int rc = dir_searchable(m, c, r->ino, &parent);
    if (rc)
        return rc;
    if (is_dot(&r->name))
        return CAIRN_EEXIST;
    struct meta_dent *old = meta_dir_find(parent->u.dir, r->name.p, r->name.len);
    if (old) {
        if (r->h.type != META_CREATE || r->u8a)
            return CAIRN_EEXIST;
        struct meta_inode *in = meta_ino_get(m, old->ino);
        if (ino_is_dir(in))
            return CAIRN_EISDIR;
        put_attr(e, in);
        return 0;
    }
    rc = meta_perm_access(parent, c, META_MAY_W | META_MAY_X);
    if (rc)
        return rc;
    uint16_t mode;
    if (r->h.type == META_MKDIR) {
        if (parent->nlink >= CAIRN_LINK_MAX)
            return CAIRN_EMLINK;
        mode = (uint16_t)(S_IFDIR | (r->mode & 07777));
    } else if (r->h.type == META_SYMLINK) {
        mode = (uint16_t)(S_IFLNK | 0777);
    } else {
        mode = (uint16_t)(S_IFREG | (r->mode & 07777));
    }
    struct meta_inode *in;
    rc = ino_new(m, r, parent, mode, &in);
    if (rc)
        return rc;
    rc = meta_dir_add(parent->u.dir, r->name.p, r->name.len, in->ino, (uint8_t)(mode >> 12));
    if (rc) {
        if (S_ISDIR(mode))
            meta_dir_free(in->u.dir);
        else if (S_ISLNK(mode))
            free(in->u.target);
        meta_table_remove(&m->inodes, in->ino);
        return rc;
    }
    if (S_ISDIR(mode))
        parent->nlink++;
    meta_ino_touch(m, parent, 1);
    put_attr(e, in);
    return 0;
}

/* LINK: one more name for a non-directory. */
int meta_ns_link(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    const struct meta_cred *c = &r->h.cred;
    struct meta_inode *in = meta_ino_get(m, r->ino);
    if (!in || (in->nlink == 0 && !ino_is_dir(in)))
        return CAIRN_ENOENT; /* an orphan (open but unlinked) gets no name */
    struct meta_inode *parent;
    int rc = dir_searchable(m, c, r->ino2, &parent);
    if (rc)
        return rc;
    if (is_dot(&r->name) || meta_dir_find(parent->u.dir, r->name.p, r->name.len))
        return CAIRN_EEXIST;
    rc = meta_perm_access(parent, c, META_MAY_W | META_MAY_X);
    if (rc)
        return rc;
    if (ino_is_dir(in))
        return CAIRN_EPERM;
    if (in->nlink >= CAIRN_LINK_MAX)
        return CAIRN_EMLINK;
    rc = meta_dir_add(parent->u.dir, r->name.p, r->name.len, in->ino, (uint8_t)(in->mode >> 12));
    if (rc)
        return rc;
    in->nlink++;
    meta_ino_touch(m, in, 0);
    meta_ino_touch(m, parent, 1);
    put_attr(e, in);
    return 0;
}

/* The checks that removing (or replacing) victim from dir needs: write and
 * search on dir, the sticky rule, and the type rule (want_dir: the caller
 * removes a directory). */
static int may_delete(const struct meta_inode *dir, const struct meta_inode *victim,
                      const struct meta_cred *c, int want_dir)
{
    int rc = meta_perm_access(dir, c, META_MAY_W | META_MAY_X);
    if (!rc)
        rc = meta_perm_sticky(dir, victim, c);
    if (rc)
        return rc;
    if (want_dir && !ino_is_dir(victim))
        return CAIRN_ENOTDIR;
    if (!want_dir && ino_is_dir(victim))
        return CAIRN_EISDIR;
    if (victim->ino == META_ROOT_INO)
        return CAIRN_EBUSY;
    return 0;
}

/* Errors for "." and ".." given to unlink/rmdir (Linux's LAST_DOT rules). */
static int unlink_dot_error(const struct meta_req *r, int rmdir)
{
    if (!rmdir)
        return CAIRN_EISDIR;
    if (r->name.len == 1)
        return r->ino == META_ROOT_INO ? CAIRN_EBUSY : CAIRN_EINVAL;
    return CAIRN_ENOTEMPTY;
}

/* UNLINK and RMDIR. */
int meta_ns_unlink(struct meta *m, const struct meta_req *r, int rmdir)
{
    const struct meta_cred *c = &r->h.cred;
    struct meta_inode *parent;
    int rc = dir_searchable(m, c, r->ino, &parent);
    if (rc)
        return rc;
    if (is_dot(&r->name))
        return unlink_dot_error(r, rmdir);
    struct meta_dent *de = meta_dir_find(parent->u.dir, r->name.p, r->name.len);
    if (!de)
        return CAIRN_ENOENT;
    struct meta_inode *victim = meta_ino_get(m, de->ino);
    rc = may_delete(parent, victim, c, rmdir);
    if (rc)
        return rc;
    if (rmdir && victim->u.dir->n_live > 0)
        return CAIRN_ENOTEMPTY;
    meta_dir_remove(parent->u.dir, de);
    meta_ino_touch(m, parent, 1);
    if (rmdir) {
        parent->nlink--;
        meta_ino_destroy(m, victim);
    } else {
        meta_ino_drop_link(m, victim);
    }
    return 0;
}

/* 1 if directory `anc` is `d` or one of its ancestors. */
static int dir_is_ancestor(const struct meta *m, uint64_t anc, uint64_t d)
{
    for (;;) {
        if (d == anc)
            return 1;
        if (d == META_ROOT_INO)
            return 0;
        const struct meta_inode *in = meta_ino_get(m, d);
        CAIRN_ASSERT(in && ino_is_dir(in));
        d = in->u.dir->parent;
    }
}

struct rename_ctx {
    struct meta_inode *op, *np; /* old and new parent */
    struct meta_inode *src, *victim;
    struct meta_dent *src_de, *dst_de;
};

/* Every check of rename, in Linux's order; 1 means "same inode: no-op". */
static int rename_check(struct meta *m, const struct meta_req *r, struct rename_ctx *x)
{
    const struct meta_cred *c = &r->h.cred;
    if (r->flags & ~META_RENAME_NOREPLACE)
        return CAIRN_EINVAL;
    int rc = dir_searchable(m, c, r->ino, &x->op);
    if (!rc)
        rc = dir_searchable(m, c, r->ino2, &x->np);
    if (rc)
        return rc;
    if (is_dot(&r->name) || is_dot(&r->name2))
        return CAIRN_EBUSY;
    x->src_de = meta_dir_find(x->op->u.dir, r->name.p, r->name.len);
    if (!x->src_de)
        return CAIRN_ENOENT;
    x->src = meta_ino_get(m, x->src_de->ino);
    x->dst_de = meta_dir_find(x->np->u.dir, r->name2.p, r->name2.len);
    x->victim = x->dst_de ? meta_ino_get(m, x->dst_de->ino) : NULL;
    if (x->victim && (r->flags & META_RENAME_NOREPLACE))
        return CAIRN_EEXIST;
    int src_dir = ino_is_dir(x->src);
    if (src_dir && dir_is_ancestor(m, x->src->ino, x->np->ino))
        return CAIRN_EINVAL;
    if (x->victim && ino_is_dir(x->victim) && dir_is_ancestor(m, x->victim->ino, x->op->ino))
        return CAIRN_ENOTEMPTY;
    if (x->victim == x->src)
        return 1;
    rc = may_delete(x->op, x->src, c, src_dir);
    if (rc)
        return rc;
    if (x->victim)
        rc = may_delete(x->np, x->victim, c, src_dir);
    else
        rc = meta_perm_access(x->np, c, META_MAY_W | META_MAY_X);
    if (!rc && src_dir && x->op != x->np)
        rc = meta_perm_access(x->src, c, META_MAY_W);
    if (rc)
        return rc;
    if (x->victim && src_dir && x->victim->u.dir->n_live > 0)
        return CAIRN_ENOTEMPTY;
    if (src_dir && x->op != x->np && !x->victim && x->np->nlink >= CAIRN_LINK_MAX)
        return CAIRN_EMLINK;
    return 0;
}

/* RENAME: atomic; replaces a file by a non-directory or an empty directory
 * by a directory. The only allocation (a new entry when nothing is
 * replaced) happens before the first change. */
int meta_ns_rename(struct meta *m, const struct meta_req *r)
{
    struct rename_ctx x;
    memset(&x, 0, sizeof x);
    int rc = rename_check(m, r, &x);
    if (rc)
        return rc == 1 ? 0 : rc;
    int src_dir = ino_is_dir(x.src);
    if (x.victim) {
        /* Re-point the existing entry: no allocation, keeps its cookie. */
        x.dst_de->ino = x.src->ino;
        x.dst_de->type = (uint8_t)(x.src->mode >> 12);
    } else {
        rc = meta_dir_add(x.np->u.dir, r->name2.p, r->name2.len, x.src->ino,
                          (uint8_t)(x.src->mode >> 12));
        if (rc)
            return rc;
    }
    /* meta_dir_add may have moved the old directory's entries: find it again. */
    x.src_de = meta_dir_find(x.op->u.dir, r->name.p, r->name.len);
    CAIRN_ASSERT(x.src_de && x.src_de->ino == x.src->ino);
    meta_dir_remove(x.op->u.dir, x.src_de);
    if (src_dir && x.op != x.np) {
        x.op->nlink--;
        x.np->nlink++;
        x.src->u.dir->parent = x.np->ino;
    }
    meta_ino_touch(m, x.op, 1);
    if (x.np != x.op)
        meta_ino_touch(m, x.np, 1);
    meta_ino_touch(m, x.src, 0);
    if (x.victim && ino_is_dir(x.victim)) {
        x.np->nlink--;
        meta_ino_destroy(m, x.victim);
    } else if (x.victim) {
        meta_ino_drop_link(m, x.victim);
    }
    return 0;
}
