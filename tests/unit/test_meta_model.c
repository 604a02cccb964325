/* test_meta_model.c: model-based random test of the metadata state machine.
 *
 * Random namespace operations (seeded by test_rng()) go to the state
 * machine and to a deliberately simple reference model written here
 * (arrays, linear scans); results must agree: the status of every command,
 * the inode numbers handed out, and periodically every directory listing
 * (in cookie order) and every inode's type, link count and size. Along the
 * way the state is snapshotted and loaded into a shadow replica that then
 * receives the same commands: replies must stay byte-identical and digests
 * equal. */
#include <sys/stat.h>

#include "test_meta_util.h"

#define MI_MAX 8192
#define ME_MAX 64

enum { T_NONE, T_FILE, T_DIR, T_LINK };

struct m_ent {
    char name[4];
    uint64_t ino;
    uint64_t seq;
};

struct m_ino {
    int type;
    uint32_t nlink;
    uint64_t size;
    uint64_t parent;
    uint64_t next_seq;
    int n;
    struct m_ent ents[ME_MAX];
};

static struct m_ino model[MI_MAX];
static uint64_t model_next;

static void model_init(void)
{
    memset(model, 0, sizeof model);
    model[1] = (struct m_ino){.type = T_DIR, .nlink = 2, .parent = 1, .next_seq = 3};
    model_next = 2;
}

static struct m_ino *mget(uint64_t ino)
{
    return ino < MI_MAX && model[ino].type != T_NONE ? &model[ino] : NULL;
}

static int is_dot(const char *n) { return !strcmp(n, ".") || !strcmp(n, ".."); }

static struct m_ent *mfind(struct m_ino *d, const char *name)
{
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->ents[i].name, name))
            return &d->ents[i];
    return NULL;
}

static void madd(struct m_ino *d, const char *name, uint64_t ino)
{
    CHECK(d->n < ME_MAX);
    struct m_ent *e = &d->ents[d->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ino = ino;
    e->seq = d->next_seq++;
}

static void mdel(struct m_ino *d, struct m_ent *e)
{
    int i = (int)(e - d->ents);
    memmove(&d->ents[i], &d->ents[i + 1], (size_t)(d->n - i - 1) * sizeof *e);
    d->n--;
}

/* Parent lookup with the first errors every operation shares. */
static int mparent(uint64_t ino, struct m_ino **out)
{
    *out = mget(ino);
    if (!*out)
        return CAIRN_ENOENT;
    return (*out)->type == T_DIR ? 0 : CAIRN_ENOTDIR;
}

static void mdrop(uint64_t ino)
{
    struct m_ino *in = mget(ino);
    if (in->type == T_DIR || --in->nlink == 0)
        memset(in, 0, sizeof *in);
}

static int m_create(uint64_t p, const char *name, int type, int excl, uint64_t *ino)
{
    struct m_ino *d;
    int rc = mparent(p, &d);
    if (rc)
        return rc;
    if (is_dot(name))
        return CAIRN_EEXIST;
    struct m_ent *e = mfind(d, name);
    if (e) {
        if (type != T_FILE || excl)
            return CAIRN_EEXIST;
        if (mget(e->ino)->type == T_DIR)
            return CAIRN_EISDIR;
        *ino = e->ino;
        return 0;
    }
    if (d->n == ME_MAX)
        return 1; /* the model's own limit: skip */
    *ino = model_next++;
    CHECK(*ino < MI_MAX);
    model[*ino] = (struct m_ino){.type = type,
                                 .nlink = type == T_DIR ? 2 : 1,
                                 .parent = p,
                                 .next_seq = 3,
                                 .size = type == T_LINK ? 3 : 0};
    madd(d, name, *ino);
    if (type == T_DIR)
        d->nlink++;
    return 0;
}

static int m_link(uint64_t ino, uint64_t p, const char *name)
{
    struct m_ino *in = mget(ino), *d;
    if (!in)
        return CAIRN_ENOENT;
    int rc = mparent(p, &d);
    if (rc)
        return rc;
    if (is_dot(name) || mfind(d, name))
        return CAIRN_EEXIST;
    if (in->type == T_DIR)
        return CAIRN_EPERM;
    if (d->n == ME_MAX)
        return 1;
    madd(d, name, ino);
    in->nlink++;
    return 0;
}

static int m_unlink(uint64_t p, const char *name, int rmdir)
{
    struct m_ino *d;
    int rc = mparent(p, &d);
    if (rc)
        return rc;
    if (is_dot(name)) {
        if (!rmdir)
            return CAIRN_EISDIR;
        if (!strcmp(name, ".."))
            return CAIRN_ENOTEMPTY;
        return p == 1 ? CAIRN_EBUSY : CAIRN_EINVAL;
    }
    struct m_ent *e = mfind(d, name);
    if (!e)
        return CAIRN_ENOENT;
    struct m_ino *v = mget(e->ino);
    if (rmdir && v->type != T_DIR)
        return CAIRN_ENOTDIR;
    if (!rmdir && v->type == T_DIR)
        return CAIRN_EISDIR;
    if (rmdir && v->n)
        return CAIRN_ENOTEMPTY;
    uint64_t ino = e->ino;
    mdel(d, e);
    if (rmdir)
        d->nlink--;
    mdrop(ino);
    return 0;
}

static int m_ancestor(uint64_t anc, uint64_t d)
{
    for (;;) {
        if (d == anc)
            return 1;
        if (d == 1)
            return 0;
        d = model[d].parent;
    }
}

static int m_rename_check(uint64_t p1, const char *n1, uint64_t p2, const char *n2, int flags,
                          struct m_ino **op, struct m_ino **np)
{
    int rc = mparent(p1, op);
    if (!rc)
        rc = mparent(p2, np);
    if (rc)
        return rc;
    if (is_dot(n1) || is_dot(n2))
        return CAIRN_EBUSY;
    struct m_ent *s = mfind(*op, n1), *v = mfind(*np, n2);
    if (!s)
        return CAIRN_ENOENT;
    if (v && flags)
        return CAIRN_EEXIST;
    int sdir = mget(s->ino)->type == T_DIR;
    if (sdir && m_ancestor(s->ino, p2))
        return CAIRN_EINVAL;
    int vdir = v && mget(v->ino)->type == T_DIR;
    if (vdir && m_ancestor(v->ino, p1))
        return CAIRN_ENOTEMPTY;
    if (v && v->ino == s->ino)
        return 2;
    if (v && sdir && !vdir)
        return CAIRN_ENOTDIR;
    if (v && !sdir && vdir)
        return CAIRN_EISDIR;
    if (vdir && mget(v->ino)->n)
        return CAIRN_ENOTEMPTY;
    if (!v && (*np)->n == ME_MAX)
        return 1;
    return 0;
}

static int m_rename(uint64_t p1, const char *n1, uint64_t p2, const char *n2, int flags)
{
    struct m_ino *op, *np;
    int rc = m_rename_check(p1, n1, p2, n2, flags, &op, &np);
    if (rc)
        return rc == 2 ? 0 : rc;
    uint64_t src = mfind(op, n1)->ino;
    struct m_ent *v = mfind(np, n2);
    uint64_t victim = v ? v->ino : 0;
    if (v)
        v->ino = src; /* the entry keeps its place (cookie) */
    else
        madd(np, n2, src);
    mdel(op, mfind(op, n1));
    if (model[src].type == T_DIR && op != np) {
        op->nlink--;
        np->nlink++;
        model[src].parent = p2;
    }
    if (victim && model[victim].type == T_DIR)
        np->nlink--;
    if (victim)
        mdrop(victim);
    return 0;
}

static int m_truncate(uint64_t ino, uint64_t size)
{
    struct m_ino *in = mget(ino);
    if (!in)
        return CAIRN_ENOENT;
    if (in->type == T_DIR)
        return CAIRN_EISDIR;
    if (in->type != T_FILE)
        return CAIRN_EINVAL;
    in->size = size;
    return 0;
}

/* Every model inode against the state: type, nlink, size, and each
 * directory's listing in cookie order. */
static void compare_all(struct mt *t)
{
    static struct meta_dirent ents[ME_MAX + 2];
    struct meta_cred root;
    memset(&root, 0, sizeof root);
    for (uint64_t ino = 1; ino < model_next; ino++) {
        struct meta_attr a;
        struct m_ino *in = mget(ino);
        int rc = meta_getattr(t->m, ino, &a);
        if (!in) {
            CHECK_EQ(rc, CAIRN_ENOENT);
            continue;
        }
        CHECK_OK(rc);
        static const uint32_t types[] = {0, S_IFREG, S_IFDIR, S_IFLNK};
        CHECK_EQ(a.mode & S_IFMT, types[in->type]);
        CHECKF(a.nlink == in->nlink, "ino %llu nlink %u, model %u", (unsigned long long)ino,
               a.nlink, in->nlink);
        CHECK_EQ_U64(a.size, in->size);
        if (in->type != T_DIR)
            continue;
        uint32_t n;
        int eof;
        CHECK_OK(meta_readdir(t->m, &root, ino, 0, ME_MAX + 2, ents, &n, &eof));
        CHECK(eof);
        CHECK_EQ(n, (uint32_t)in->n + 2);
        CHECK_EQ_U64(ents[1].ino, in->parent);
        for (int i = 0; i < in->n; i++) {
            CHECK_EQ_U64(ents[i + 2].ino, in->ents[i].ino);
            CHECK_EQ_U64(ents[i + 2].cookie, in->ents[i].seq);
            CHECK_EQ(ents[i + 2].name_len, strlen(in->ents[i].name));
            CHECK_MEM_EQ(ents[i + 2].name, in->ents[i].name, ents[i + 2].name_len);
        }
    }
}

static const char *const NAMES[] = {"a", "b", "c", "d", "e", ".", ".."};

static const char *pick_name(struct prng *r)
{
    return NAMES[prng_below(r, prng_chance(r, 1, 20) ? 7 : 5)];
}

/* An inode number: mostly live ones, sometimes dead or never used. */
static uint64_t pick_ino(struct prng *r, int want_dir)
{
    for (int tries = 0; tries < 20; tries++) {
        uint64_t ino = 1 + prng_below(r, model_next + 1);
        if (prng_chance(r, 1, 30))
            return ino;
        struct m_ino *in = mget(ino);
        if (in && (!want_dir || in->type == T_DIR))
            return ino;
    }
    return 1;
}

/* One random operation on both sides; statuses (and new inode numbers)
 * must agree. */
static void one_op(struct mt *t, struct prng *r)
{
    uint64_t p = pick_ino(r, 1), q = pick_ino(r, 1), x = pick_ino(r, 0);
    const char *n1 = pick_name(r), *n2 = pick_name(r);
    struct meta_attr a;
    uint64_t want_ino = 0;
    int want, got;
    switch (prng_below(r, 9)) {
    case 0:
    case 1: {
        int excl = (int)prng_below(r, 2);
        want = m_create(p, n1, T_FILE, excl, &want_ino);
        if (want == 1)
            return;
        got = mt_create(t, p, n1, 0644, excl, &a);
        break;
    }
    case 2:
        want = m_create(p, n1, T_DIR, 1, &want_ino);
        if (want == 1)
            return;
        got = mt_mkdir(t, p, n1, 0755, &a);
        break;
    case 3:
        want = m_create(p, n1, T_LINK, 1, &want_ino);
        if (want == 1)
            return;
        got = mt_symlink(t, p, n1, "tgt", &a);
        break;
    case 4:
        want = m_link(x, p, n1);
        if (want == 1)
            return;
        got = mt_link(t, x, p, n1, NULL);
        break;
    case 5:
        want = m_unlink(p, n1, 0);
        got = mt_unlink(t, p, n1);
        break;
    case 6:
        want = m_unlink(p, n1, 1);
        got = mt_rmdir(t, p, n1);
        break;
    case 7: {
        int flags = prng_chance(r, 1, 4) ? (int)META_RENAME_NOREPLACE : 0;
        want = m_rename(p, n1, q, n2, flags);
        if (want == 1)
            return;
        got = mt_rename(t, p, n1, q, n2, (uint32_t)flags);
        break;
    }
    default: {
        struct meta_attr set = {.size = prng_below(r, 1u << 20)};
        want = m_truncate(x, set.size);
        got = mt_setattr(t, x, META_SET_SIZE, &set, NULL);
        break;
    }
    }
    CHECKF(got == want, "op result %s, model %s", cairn_err_name(got), cairn_err_name(want));
    if (want_ino && got == 0)
        CHECK_EQ_U64(a.ino, want_ino);
}

TEST_T(meta_model_random_ops, 120)
{
    struct mt t;
    mt_init(&t);
    model_init();
    struct prng *r = test_rng();
    int snap_at = (int)prng_range(r, 500, 3000);
    for (int i = 0; i < 6000; i++) {
        t.now += prng_below(r, MT_SEC);
        one_op(&t, r);
        if (i % 500 == 0)
            compare_all(&t);
        if (i == snap_at) {
            /* a replica restored from a snapshot follows the same log */
            t.shadow = mt_snapshot_copy(t.m);
        }
        if (t.shadow && i % 250 == 0)
            CHECK_EQ_U64(meta_digest(t.shadow), meta_digest(t.m));
    }
    compare_all(&t);
    CHECK(t.shadow != NULL);
    CHECK_EQ_U64(meta_digest(t.shadow), meta_digest(t.m));
    struct meta *copy = mt_snapshot_copy(t.m);
    meta_free(copy);
    mt_free(&t);
}

/* Two replicas fed the same random log reach equal digests
 * at every step; a replica that skips one command does not. */
TEST_T(meta_model_replicas_agree, 60)
{
    struct mt t;
    mt_init(&t);
    model_init();
    /* the second replica starts from the first's state after the session
     * was opened (a snapshot), then follows the same log */
    t.shadow = mt_snapshot_copy(t.m);
    struct prng *r = test_rng();
    for (int i = 0; i < 1500; i++) {
        t.now += prng_below(r, MT_SEC);
        one_op(&t, r);
        CHECK_EQ_U64(meta_digest(t.shadow), meta_digest(t.m));
    }
    /* divergence is visible: one more command to one replica only */
    struct meta *s = t.shadow;
    t.shadow = NULL;
    CHECK_OK(mt_mkdir(&t, 1, "only-here", 0755, NULL));
    CHECK(meta_digest(s) != meta_digest(t.m));
    meta_free(s);
    mt_free(&t);
}
