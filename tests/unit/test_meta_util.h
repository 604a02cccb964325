/*
 * test_meta_util.h: a small driver of the metadata state machine for the
 * test_meta*.c binaries: it keeps a state, a log index, a clock, one client
 * session and the current caller, builds commands with the cmd.h encoders
 * and applies them through meta_apply() (mutations) or meta_query() (reads),
 * exactly as the daemon will. Header-only (static inline) so each test
 * binary stays one file plus this header.
 */
#ifndef CAIRN_TEST_META_UTIL_H
#define CAIRN_TEST_META_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "cairn_errors.h"
#include "common/hashmap.h"
#include "meta/cmd.h"
#include "meta/meta.h"
#include "test.h"

#define MT_SEC 1000000000ull
#define MT_T0 (1700000000ull * MT_SEC)

struct mt {
    struct meta *m;
    uint64_t index;
    uint64_t now;
    uint64_t session;
    uint64_t seq;
    struct meta_cred cred;
    struct cairn_buf cmd;
    struct cairn_buf reply;
    /* When set, every applied command is applied to this replica too and
     * the replies must be byte-identical. */
    struct meta *shadow;
    struct cairn_buf shadow_reply;
};

static inline struct meta_hdr mt_hdr_session(struct mt *t)
{
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    h.now_ns = t->now;
    h.session = t->session;
    h.seq = ++t->seq;
    h.cred = t->cred;
    return h;
}

static inline struct meta_hdr mt_hdr_plain(struct mt *t, uint64_t session)
{
    struct meta_hdr h;
    memset(&h, 0, sizeof h);
    h.now_ns = t->now;
    h.session = session;
    h.cred = t->cred;
    return h;
}

/* Apply the command in t->cmd at the next index; the reply is in t->reply. */
static inline int mt_apply(struct mt *t)
{
    buf_reset(&t->reply);
    int rc = meta_apply(t->m, ++t->index, t->cmd.data, t->cmd.len, &t->reply);
    CHECK_EQ(rc, meta_reply_status(t->reply.data, t->reply.len));
    if (t->shadow) {
        buf_reset(&t->shadow_reply);
        CHECK_EQ(meta_apply(t->shadow, t->index, t->cmd.data, t->cmd.len, &t->shadow_reply), rc);
        CHECK_EQ(t->shadow_reply.len, t->reply.len);
        CHECK_MEM_EQ(t->shadow_reply.data, t->reply.data, t->reply.len);
    }
    return rc;
}

static inline int mt_query(struct mt *t)
{
    buf_reset(&t->reply);
    int rc = meta_query(t->m, t->cmd.data, t->cmd.len, &t->reply);
    CHECK_EQ(rc, meta_reply_status(t->reply.data, t->reply.len));
    return rc;
}

/* Open a session (lease lease_ms) and return its id (CHECKs success). */
static inline uint64_t mt_open_session(struct mt *t, uint32_t lease_ms)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_session_open(&t->cmd, &h, lease_ms));
    CHECK_OK(mt_apply(t));
    CHECK_EQ(t->reply.len, 4 + 16);
    uint64_t id = wire_load_u64(t->reply.data + 4);
    CHECK_EQ_U64(id, t->index);
    return id;
}

static inline void mt_as(struct mt *t, uint32_t uid, uint32_t gid, uint32_t n_groups, ...)
{
    memset(&t->cred, 0, sizeof t->cred);
    t->cred.uid = uid;
    t->cred.gid = gid;
    t->cred.n_groups = n_groups;
    va_list ap;
    va_start(ap, n_groups);
    for (uint32_t i = 0; i < n_groups; i++)
        t->cred.groups[i] = va_arg(ap, uint32_t);
    va_end(ap);
}

static inline void mt_init(struct mt *t)
{
    memset(t, 0, sizeof *t);
    t->m = meta_new();
    CHECK(t->m != NULL);
    t->now = MT_T0;
    buf_init(&t->cmd, 0);
    buf_init(&t->reply, 0);
    buf_init(&t->shadow_reply, 0);
    t->session = mt_open_session(t, 600000);
}

static inline void mt_free(struct mt *t)
{
    meta_free(t->m);
    meta_free(t->shadow);
    buf_free(&t->shadow_reply);
    buf_free(&t->cmd);
    buf_free(&t->reply);
}

/* Decode an ATTR reply into *a (if a); returns the status. */
static inline int mt_attr(struct mt *t, int rc, struct meta_attr *a)
{
    if (rc == 0 && a)
        CHECK_OK(meta_reply_attr(t->reply.data, t->reply.len, a));
    return rc;
}

#define MT_BEGIN(t)                         \
    struct meta_hdr h_ = mt_hdr_session(t); \
    buf_reset(&(t)->cmd)

static inline int mt_create(struct mt *t, uint64_t parent, const char *name, uint32_t mode,
                            int excl, struct meta_attr *a)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_create(&t->cmd, &h_, parent, name, mode, excl));
    return mt_attr(t, mt_apply(t), a);
}

static inline int mt_mkdir(struct mt *t, uint64_t parent, const char *name, uint32_t mode,
                           struct meta_attr *a)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_mkdir(&t->cmd, &h_, parent, name, mode));
    return mt_attr(t, mt_apply(t), a);
}

static inline int mt_symlink(struct mt *t, uint64_t parent, const char *name, const char *target,
                             struct meta_attr *a)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_symlink(&t->cmd, &h_, parent, name, target));
    return mt_attr(t, mt_apply(t), a);
}

static inline int mt_link(struct mt *t, uint64_t ino, uint64_t parent, const char *name,
                          struct meta_attr *a)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_link(&t->cmd, &h_, ino, parent, name));
    return mt_attr(t, mt_apply(t), a);
}

static inline int mt_unlink(struct mt *t, uint64_t parent, const char *name)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_unlink(&t->cmd, &h_, parent, name));
    return mt_apply(t);
}

static inline int mt_rmdir(struct mt *t, uint64_t parent, const char *name)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_rmdir(&t->cmd, &h_, parent, name));
    return mt_apply(t);
}

static inline int mt_rename(struct mt *t, uint64_t p1, const char *n1, uint64_t p2, const char *n2,
                            uint32_t flags)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_rename(&t->cmd, &h_, p1, n1, p2, n2, flags));
    return mt_apply(t);
}

static inline int mt_setattr(struct mt *t, uint64_t ino, uint32_t valid,
                             const struct meta_attr *set, struct meta_attr *a)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_setattr(&t->cmd, &h_, ino, valid, set));
    return mt_attr(t, mt_apply(t), a);
}

static inline int mt_chmod(struct mt *t, uint64_t ino, uint32_t mode)
{
    struct meta_attr s = {.mode = mode};
    return mt_setattr(t, ino, META_SET_MODE, &s, NULL);
}

static inline int mt_chown(struct mt *t, uint64_t ino, uint32_t uid, uint32_t gid)
{
    struct meta_attr s = {.uid = uid, .gid = gid};
    return mt_setattr(t, ino, META_SET_UID | META_SET_GID, &s, NULL);
}

static inline int mt_setxattr(struct mt *t, uint64_t ino, const char *name, const char *value,
                              uint32_t flags)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_setxattr(&t->cmd, &h_, ino, name, value, strlen(value), flags));
    return mt_apply(t);
}

static inline int mt_removexattr(struct mt *t, uint64_t ino, const char *name)
{
    MT_BEGIN(t);
    CHECK_OK(meta_cmd_removexattr(&t->cmd, &h_, ino, name));
    return mt_apply(t);
}

static inline int mt_lookup(struct mt *t, uint64_t parent, const char *name, struct meta_attr *a)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_lookup(&t->cmd, &h, parent, name));
    return mt_attr(t, mt_query(t), a);
}

static inline int mt_getattr(struct mt *t, uint64_t ino, struct meta_attr *a)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_getattr(&t->cmd, &h, ino));
    return mt_attr(t, mt_query(t), a);
}

/* Look a path of names up from the root ("a/b/c"); ENOENT etc. as lookup. */
static inline int mt_walk(struct mt *t, const char *path, struct meta_attr *a)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    uint64_t cur = META_ROOT_INO;
    int rc = mt_getattr(t, cur, a);
    for (char *save = NULL, *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        rc = mt_lookup(t, cur, c, a);
        if (rc)
            return rc;
        cur = a->ino;
    }
    return rc;
}

/* A hash of the namespace alone (every inode's attributes below max_ino
 * and every directory's entries), read through the read functions: for
 * tests that a failed command changed nothing although its reply was
 * cached in the session (which meta_digest covers). */
static inline uint64_t mt_ns_digest(struct mt *t, uint64_t max_ino)
{
    uint64_t h = 0;
    struct meta_cred root;
    memset(&root, 0, sizeof root);
    static struct meta_dirent ents[64];
    for (uint64_t ino = 1; ino < max_ino; ino++) {
        struct meta_attr a;
        memset(&a, 0, sizeof a); /* padding is hashed too */
        if (meta_getattr(t->m, ino, &a))
            continue;
        h = hash_bytes(&a, sizeof a, h);
        uint64_t cookie = 0;
        uint32_t n;
        int eof = 0;
        while ((a.mode & S_IFMT) == S_IFDIR && !eof) {
            CHECK_OK(meta_readdir(t->m, &root, ino, cookie, 64, ents, &n, &eof));
            for (uint32_t i = 0; i < n; i++) {
                h = hash_bytes(ents[i].name, ents[i].name_len, h ^ ents[i].ino);
                cookie = ents[i].cookie;
            }
        }
    }
    return h;
}

/* Snapshot, load, compare digests; returns the loaded state's copy. */
static inline struct meta *mt_snapshot_copy(const struct meta *m)
{
    struct cairn_buf s;
    buf_init(&s, 0);
    CHECK_OK(meta_snapshot(m, &s));
    struct meta *copy = NULL;
    CHECK_OK(meta_snapshot_load(s.data, s.len, &copy));
    CHECK_EQ_U64(meta_digest(copy), meta_digest(m));
    CHECK_EQ_U64(meta_applied_index(copy), meta_applied_index(m));
    struct cairn_buf s2;
    buf_init(&s2, 0);
    CHECK_OK(meta_snapshot(copy, &s2));
    CHECK_EQ(s2.len, s.len);
    CHECK_MEM_EQ(s2.data, s.data, s.len);
    buf_free(&s);
    buf_free(&s2);
    return copy;
}

#endif
