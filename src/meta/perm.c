/*
 * perm.c: POSIX permission checks against the caller's credentials.
 *
 * The rules are those of Linux's generic_permission() without ACLs: the
 * owner class, else the group class when the file's group is the caller's
 * gid or one of its supplementary groups, else other. Root (uid 0) passes
 * read and write always, and execute when the inode is a directory or has
 * at least one execute bit (CAP_DAC_OVERRIDE semantics).
 */
#include "cairn_errors.h"
#include "meta/internal.h"

int meta_perm_in_group(const struct meta_cred *c, uint32_t gid)
{
    if (c->gid == gid)
        return 1;
    for (uint32_t i = 0; i < c->n_groups; i++)
        if (c->groups[i] == gid)
            return 1;
    return 0;
}

/* 0 when the caller may access the inode with every right in mask
 * (META_MAY_R | W | X), else CAIRN_EACCES. */
int meta_perm_access(const struct meta_inode *in, const struct meta_cred *c, int mask)
{
    if (c->uid == 0) {
        if (!(mask & META_MAY_X) || ino_is_dir(in) || (in->mode & 0111))
            return 0;
        return CAIRN_EACCES;
    }
    unsigned bits;
    if (c->uid == in->uid)
        bits = (in->mode >> 6) & 7;
    else if (meta_perm_in_group(c, in->gid))
        bits = (in->mode >> 3) & 7;
    else
        bits = in->mode & 7;
    return ((unsigned)mask & ~bits) ? CAIRN_EACCES : 0;
}

/* In a sticky directory only root, the directory's owner or the victim's
 * owner may remove or rename the victim (EPERM otherwise, as Linux). */
int meta_perm_sticky(const struct meta_inode *dir, const struct meta_inode *victim,
                     const struct meta_cred *c)
{
    if (!(dir->mode & S_ISVTX) || c->uid == 0)
        return 0;
    if (c->uid == dir->uid || c->uid == victim->uid)
        return 0;
    return CAIRN_EPERM;
}

/* Owner or root: who may chmod, chown, set explicit times and the goal. */
int meta_perm_owner(const struct meta_inode *in, const struct meta_cred *c)
{
    return (c->uid == 0 || c->uid == in->uid) ? 0 : CAIRN_EPERM;
}
