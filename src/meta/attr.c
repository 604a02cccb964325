/*
 * attr.c: SETATTR: chmod, chown, truncate, utimens and the replication goal,
 * with Linux's rules (setattr_prepare, chown_ok, chgrp_ok, setattr_copy,
 * should_remove_suid) for who may change what and which set-id bits fall.
 */
#include "cairn_errors.h"
#include "meta/internal.h"

/* Who may do what the valid mask asks; the first failing rule decides. */
static int setattr_check(const struct meta_inode *in, const struct meta_req *r)
{
    const struct meta_cred *c = &r->h.cred;
    int root = c->uid == 0, owner = c->uid == in->uid;
    if (r->valid & META_SET_SIZE) {
        if (ino_is_dir(in))
            return CAIRN_EISDIR;
        if (!S_ISREG(in->mode))
            return CAIRN_EINVAL;
        if (r->size > CAIRN_FILE_SIZE_MAX)
            return CAIRN_EFBIG;
        int rc = meta_perm_access(in, c, META_MAY_W);
        if (rc)
            return rc;
    }
    if ((r->valid & META_SET_UID) && !root && !(owner && r->uid == in->uid))
        return CAIRN_EPERM;
    if ((r->valid & META_SET_GID) && !root &&
        !(owner && (r->gid == in->gid || meta_perm_in_group(c, r->gid))))
        return CAIRN_EPERM;
    if ((r->valid & (META_SET_MODE | META_SET_GOAL)) && !root && !owner)
        return CAIRN_EPERM;
    if ((r->valid & (META_SET_ATIME | META_SET_MTIME)) && !root && !owner)
        return CAIRN_EPERM;
    /* utimens(NULL): owner, root, or anyone who may write the file. */
    if ((r->valid & (META_SET_ATIME_NOW | META_SET_MTIME_NOW)) && !root && !owner &&
        meta_perm_access(in, c, META_MAY_W))
        return CAIRN_EACCES;
    if ((r->valid & META_SET_GOAL) && (r->goal < 1 || r->goal > CAIRN_GOAL_MAX))
        return CAIRN_EINVAL;
    return 0;
}

/* Set-user-ID always falls, set-group-ID when group-executable. */
static uint16_t kill_suid(uint16_t mode)
{
    mode &= (uint16_t)~S_ISUID;
    if (mode & S_IXGRP)
        mode &= (uint16_t)~S_ISGID;
    return mode;
}

int meta_attr_setattr(struct meta *m, const struct meta_req *r, struct wire_enc *e)
{
    struct meta_inode *in = meta_ino_get(m, r->ino);
    if (!in)
        return CAIRN_ENOENT;
    int rc = setattr_check(in, r);
    if (rc)
        return rc;
    const struct meta_cred *c = &r->h.cred;
    if (r->valid & META_SET_SIZE) {
        rc = meta_data_truncate(m, in, r->size);
        if (rc)
            return rc;
        if (c->uid != 0)
            in->mode = kill_suid(in->mode);
        in->mtime_ns = m->now_ns;
    }
    if (r->valid & (META_SET_UID | META_SET_GID)) {
        if (r->valid & META_SET_UID)
            in->uid = r->uid;
        if (r->valid & META_SET_GID)
            in->gid = r->gid;
        if (!ino_is_dir(in))
            in->mode = kill_suid(in->mode);
    }
    if (r->valid & META_SET_MODE) {
        uint16_t mode = (uint16_t)((in->mode & S_IFMT) | (r->mode & 07777));
        if (c->uid != 0 && !meta_perm_in_group(c, in->gid))
            mode &= (uint16_t)~S_ISGID;
        in->mode = mode;
    }
    if (r->valid & META_SET_ATIME)
        in->atime_ns = r->atime_ns;
    else if (r->valid & META_SET_ATIME_NOW)
        in->atime_ns = m->now_ns;
    if (r->valid & META_SET_MTIME)
        in->mtime_ns = r->mtime_ns;
    else if (r->valid & META_SET_MTIME_NOW)
        in->mtime_ns = m->now_ns;
    if (r->valid & META_SET_GOAL)
        in->goal = r->goal;
    meta_ino_touch(m, in, 0);
    struct meta_attr a;
    meta_ino_to_attr(in, &a);
    meta_enc_attr(e, &a);
    return 0;
}
