/*
 * api_path.c: path resolution of libcairn (include/cairn.h, "Paths"), done
 * on the client one component at a time with META_LOOKUP, so the metadata
 * servers only ever see (directory inode, name) pairs. Symbolic links are
 * expanded into the rest of the path; one resolution (including the final
 * link of a call that follows it) follows at most CAIRN_SYMLINK_FOLLOW_MAX.
 */
#include <string.h>
#include <sys/stat.h>

#include "cairn_errors.h"
#include "client/api_int.h"

int api_path_check(const char *path)
{
    size_t n = strnlen(path, CAIRN_PATH_MAX + 1);
    if (n == 0)
        return CAIRN_ENOENT;
    /* As Linux: PATH_MAX counts the terminating NUL. */
    return n >= CAIRN_PATH_MAX ? CAIRN_ENAMETOOLONG : 0;
}

/* buf = target + "/" + rest: the path still to walk once a link in the
 * middle of it is expanded. rest may point into buf. */
static int path_splice(char *buf, size_t cap, const char *target, size_t tlen, const char *rest)
{
    size_t rlen = strlen(rest);
    if (tlen + 1 + rlen + 1 > cap || tlen + 1 + rlen >= CAIRN_PATH_MAX)
        return CAIRN_ENAMETOOLONG;
    memmove(buf + tlen + 1, rest, rlen + 1);
    memcpy(buf, target, tlen);
    buf[tlen] = '/';
    return 0;
}

/* One intermediate component: look it up, expand a link into buf (cur goes
 * back to the root for an absolute target), or step into the directory.
 * *p is where the walk goes on. */
static int step(struct cairn *c, uint64_t *cur, const char *name, char *buf, size_t cap,
                const char **p, uint32_t *links)
{
    struct meta_attr a;
    int rc = api_lookup(c, *cur, name, &a);
    if (rc)
        return rc;
    if (S_ISLNK(a.mode)) {
        if (++*links > CAIRN_SYMLINK_FOLLOW_MAX)
            return CAIRN_ELOOP;
        char target[CAIRN_SYMLINK_MAX + 1];
        size_t tlen;
        rc = api_readlink_ino(c, a.ino, target, &tlen);
        if (rc == 0)
            rc = path_splice(buf, cap, target, tlen, *p);
        if (rc)
            return rc;
        if (target[0] == '/')
            *cur = META_ROOT_INO;
        *p = buf;
        return 0;
    }
    if (!S_ISDIR(a.mode))
        return CAIRN_ENOTDIR;
    *cur = a.ino;
    return 0;
}

int api_walk_parent(struct cairn *c, uint64_t start, const char *path, uint32_t *links,
                    struct api_where *w)
{
    int rc = api_path_check(path);
    if (rc)
        return rc;
    /* Room for a link target spliced in front of the rest of the path. */
    char buf[2 * CAIRN_PATH_MAX + 2];
    memcpy(buf, path, strlen(path) + 1);
    uint64_t cur = path[0] == '/' ? META_ROOT_INO : start;
    const char *p = buf;
    uint32_t depth = 0;
    memset(w, 0, sizeof *w);
    for (;;) {
        while (*p == '/')
            p++;
        if (*p == 0) { /* only slashes left: the path names cur itself */
            w->parent = w->dir = cur;
            w->slash = 1;
            return 0;
        }
        const char *end = strchrnul(p, '/');
        size_t len = (size_t)(end - p);
        if (len > CAIRN_NAME_MAX || ++depth > CAIRN_PATH_DEPTH_MAX)
            return CAIRN_ENAMETOOLONG;
        char name[CAIRN_NAME_MAX + 1];
        memcpy(name, p, len);
        name[len] = 0;
        const char *q = end;
        while (*q == '/')
            q++;
        if (*q == 0) {
            memcpy(w->name, name, len + 1);
            w->parent = cur;
            w->slash = *end == '/';
            return 0;
        }
        p = q;
        if (strcmp(name, ".") == 0)
            continue;
        rc = step(c, &cur, name, buf, sizeof buf, &p, links);
        if (rc)
            return rc;
    }
}

int api_resolve_where(struct cairn *c, const struct api_where *w0, int follow, uint32_t *links,
                      struct meta_attr *out)
{
    struct api_where w = *w0;
    for (;;) {
        if (!w.name[0])
            return api_getattr(c, w.dir, out);
        int rc = api_lookup(c, w.parent, w.name, out);
        if (rc)
            return rc;
        if (!S_ISLNK(out->mode) || !(follow || w.slash)) {
            if (w.slash && !S_ISDIR(out->mode) && !S_ISLNK(out->mode))
                return CAIRN_ENOTDIR;
            return 0;
        }
        if (++*links > CAIRN_SYMLINK_FOLLOW_MAX)
            return CAIRN_ELOOP;
        char target[CAIRN_SYMLINK_MAX + 2];
        size_t tlen;
        rc = api_readlink_ino(c, out->ino, target, &tlen);
        if (rc)
            return rc;
        if (w.slash) { /* "link/" must name a directory: keep the slash */
            target[tlen++] = '/';
            target[tlen] = 0;
        }
        uint64_t from = w.parent;
        rc = api_walk_parent(c, from, target, links, &w);
        if (rc)
            return rc;
    }
}

int api_resolve(struct cairn *c, const char *path, int follow, struct meta_attr *out)
{
    uint32_t links = 0;
    struct api_where w;
    int rc = api_walk_parent(c, META_ROOT_INO, path, &links, &w);
    return rc ? rc : api_resolve_where(c, &w, follow, &links, out);
}
