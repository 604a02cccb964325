/*
 * xattr.c: extended attributes, kept per inode in a set sorted by name
 * (sorted so that listing, snapshots and the digest are canonical). Few
 * inodes carry xattrs, so the sets hang off a side map instead of a pointer
 * in every inode record.
 *
 * Namespaces as Linux (fs/xattr.c xattr_permission): "user." needs read or
 * write permission and exists only on regular files and directories;
 * "trusted." is for root only (hidden from others); "security." follows file
 * permissions; "system." (POSIX ACLs) is not supported; any other prefix is
 * ENOTSUP.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "meta/internal.h"

enum { XNS_USER, XNS_TRUSTED, XNS_SECURITY, XNS_SYSTEM };

static int has_prefix(const uint8_t *p, size_t n, const char *pre)
{
    size_t k = strlen(pre);
    return n > k && memcmp(p, pre, k) == 0;
}

static int xattr_ns(const uint8_t *p, size_t n)
{
    if (has_prefix(p, n, "user."))
        return XNS_USER;
    if (has_prefix(p, n, "trusted."))
        return XNS_TRUSTED;
    if (has_prefix(p, n, "security."))
        return XNS_SECURITY;
    if (has_prefix(p, n, "system."))
        return XNS_SYSTEM;
    return CAIRN_ENOTSUP;
}

/* May the caller read (write = 0) or change (write = 1) this xattr? */
static int xattr_perm(const struct meta_inode *in, const struct meta_cred *c, const uint8_t *name,
                      size_t len, int write)
{
    int ns = xattr_ns(name, len);
    if (ns < 0)
        return ns;
    switch (ns) {
    case XNS_TRUSTED:
        if (c->uid != 0)
            return write ? CAIRN_EPERM : CAIRN_ENODATA;
        return 0;
    case XNS_SYSTEM:
        return write ? CAIRN_ENOTSUP : CAIRN_ENODATA;
    case XNS_USER:
        if (!S_ISREG(in->mode) && !ino_is_dir(in))
            return write ? CAIRN_EPERM : CAIRN_ENODATA;
        break;
    default:
        break;
    }
    return meta_perm_access(in, c, write ? META_MAY_W : META_MAY_R);
}

static int xname_cmp(const struct meta_xattr *x, const uint8_t *name, size_t len)
{
    size_t n = x->name_len < len ? x->name_len : len;
    int d = memcmp(x->name, name, n);
    if (d)
        return d;
    return (x->name_len > len) - (x->name_len < len);
}

/* Position of name in the sorted set, or where it would go (*found = 0). */
static uint32_t xattr_pos(const struct meta_xattrs *s, const uint8_t *name, size_t len, int *found)
{
    uint32_t lo = 0, hi = s ? s->n : 0;
    *found = 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int d = xname_cmp(&s->v[mid], name, len);
        if (d == 0) {
            *found = 1;
            return mid;
        }
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int meta_getxattr(const struct meta *m, const struct meta_cred *c, uint64_t ino,
                  const uint8_t *name, size_t len, const uint8_t **value, uint32_t *value_len)
{
    const struct meta_inode *in = meta_ino_get(m, ino);
    if (!in)
        return CAIRN_ENOENT;
    int rc = xattr_perm(in, c, name, len, 0);
    if (rc)
        return rc;
    const struct meta_xattrs *s = hmap_get(&m->xattrs, ino);
    int found;
    uint32_t i = xattr_pos(s, name, len, &found);
    if (!found)
        return CAIRN_ENODATA;
    *value = s->v[i].value;
    *value_len = s->v[i].value_len;
    return 0;
}

int meta_listxattr(const struct meta *m, const struct meta_cred *c, uint64_t ino,
                   struct cairn_buf *names)
{
    const struct meta_inode *in = meta_ino_get(m, ino);
    if (!in)
        return CAIRN_ENOENT;
    const struct meta_xattrs *s = hmap_get(&m->xattrs, ino);
    for (uint32_t i = 0; s && i < s->n; i++) {
        const struct meta_xattr *x = &s->v[i];
        if (c->uid != 0 && xattr_ns(x->name, x->name_len) == XNS_TRUSTED)
            continue;
        int rc = buf_append(names, x->name, x->name_len);
        if (!rc)
            rc = buf_append(names, "", 1);
        if (rc)
            return rc;
    }
    return 0;
}

/* A copy of the value, then the place in the set; the set changes last. */
static int xattr_put(struct meta *m, struct meta_xattrs *s, const struct meta_req *r, uint32_t i,
                     int found)
{
    uint8_t *val = malloc(r->data.len ? r->data.len : 1);
    if (!val)
        return CAIRN_ENOMEM;
    memcpy(val, r->data.p, r->data.len);
    if (found) {
        free(s->v[i].value);
        s->v[i].value = val;
        s->v[i].value_len = r->data.len;
        return 0;
    }
    uint8_t *name = malloc(r->name.len);
    struct meta_xattr *v = realloc(s->v, (s->n + 1) * sizeof *v);
    if (v)
        s->v = v;
    if (!name || !v) {
        free(val);
        free(name);
        return CAIRN_ENOMEM;
    }
    memcpy(name, r->name.p, r->name.len);
    memmove(&v[i + 1], &v[i], (s->n - i) * sizeof *v);
    v[i] = (struct meta_xattr){name, val, (uint8_t)r->name.len, r->data.len};
    s->n++;
    return 0;
}

/* Store an xattr under the CREATE / REPLACE flags of setxattr(2), without
 * permission checks (SETXATTR checks them; the snapshot loader is trusted
 * for permissions, not for shape). */
int meta_xattr_store(struct meta *m, const struct meta_req *r)
{
    struct meta_xattrs *s = hmap_get(&m->xattrs, r->ino);
    int found;
    uint32_t i = xattr_pos(s, r->name.p, r->name.len, &found);
    if (found && (r->flags & META_XATTR_CREATE))
        return CAIRN_EEXIST;
    if (!found && (r->flags & META_XATTR_REPLACE))
        return CAIRN_ENODATA;
    if (!found && s && s->n >= CAIRN_XATTR_COUNT_MAX)
        return CAIRN_ENOSPC;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || hmap_put(&m->xattrs, r->ino, s)) {
            free(s);
            return CAIRN_ENOMEM;
        }
    }
    int rc = xattr_put(m, s, r, i, found);
    if (rc && s->n == 0) {
        hmap_del(&m->xattrs, r->ino);
        free(s->v);
        free(s);
    }
    return rc;
}

int meta_xattr_set(struct meta *m, const struct meta_req *r)
{
    struct meta_inode *in = meta_ino_get(m, r->ino);
    if (!in)
        return CAIRN_ENOENT;
    if (r->flags & ~(META_XATTR_CREATE | META_XATTR_REPLACE))
        return CAIRN_EINVAL;
    int rc = xattr_perm(in, &r->h.cred, r->name.p, r->name.len, 1);
    if (!rc)
        rc = meta_xattr_store(m, r);
    if (rc)
        return rc;
    meta_ino_touch(m, in, 0);
    return 0;
}

int meta_xattr_remove(struct meta *m, const struct meta_req *r)
{
    struct meta_inode *in = meta_ino_get(m, r->ino);
    if (!in)
        return CAIRN_ENOENT;
    int rc = xattr_perm(in, &r->h.cred, r->name.p, r->name.len, 1);
    if (rc)
        return rc;
    struct meta_xattrs *s = hmap_get(&m->xattrs, r->ino);
    int found;
    uint32_t i = xattr_pos(s, r->name.p, r->name.len, &found);
    if (!found)
        return CAIRN_ENODATA;
    free(s->v[i].name);
    free(s->v[i].value);
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
    if (--s->n == 0) {
        hmap_del(&m->xattrs, r->ino);
        free(s->v);
        free(s);
    }
    meta_ino_touch(m, in, 0);
    return 0;
}

/* Free the xattrs of an inode that goes away. */
void meta_xattr_drop(struct meta *m, uint64_t ino)
{
    struct meta_xattrs *s = hmap_del(&m->xattrs, ino);
    if (!s)
        return;
    for (uint32_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].value);
    }
    free(s->v);
    free(s);
}
