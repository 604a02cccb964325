/* test_meta_rename.c: rename edge cases of the metadata state machine. */
#include <sys/stat.h>

#include "test_meta_util.h"

static uint64_t nlink_of(struct mt *t, uint64_t ino)
{
    struct meta_attr a;
    CHECK_OK(mt_getattr(t, ino, &a));
    return a.nlink;
}

TEST(meta_rename_file_same_dir)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f, a;
    CHECK_OK(mt_create(&t, 1, "a", 0644, 1, &f));
    t.now += MT_SEC;
    CHECK_OK(mt_rename(&t, 1, "a", 1, "b", 0));
    CHECK_EQ(mt_lookup(&t, 1, "a", &a), CAIRN_ENOENT);
    CHECK_OK(mt_lookup(&t, 1, "b", &a));
    CHECK_EQ(a.ino, f.ino);
    CHECK_EQ_U64(a.ctime_ns, t.now);
    CHECK_OK(mt_getattr(&t, 1, &a));
    CHECK_EQ_U64(a.mtime_ns, t.now);
    CHECK_EQ(mt_rename(&t, 1, "a", 1, "c", 0), CAIRN_ENOENT);
    CHECK_EQ(mt_rename(&t, 999, "b", 1, "c", 0), CAIRN_ENOENT);
    CHECK_EQ(mt_rename(&t, 1, "b", 999, "c", 0), CAIRN_ENOENT);
    CHECK_EQ(mt_rename(&t, f.ino, "b", 1, "c", 0), CAIRN_ENOTDIR);
    CHECK_EQ(mt_rename(&t, 1, "b", 1, "c", 2), CAIRN_EINVAL);
    CHECK_EQ(mt_rename(&t, 1, ".", 1, "c", 0), CAIRN_EBUSY);
    CHECK_EQ(mt_rename(&t, 1, "b", 1, "..", 0), CAIRN_EBUSY);
    mt_free(&t);
}

TEST(meta_rename_replaces_file)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr a, b, x;
    CHECK_OK(mt_create(&t, 1, "a", 0644, 1, &a));
    CHECK_OK(mt_create(&t, 1, "b", 0644, 1, &b));
    CHECK_EQ(mt_rename(&t, 1, "a", 1, "b", META_RENAME_NOREPLACE), CAIRN_EEXIST);
    CHECK_OK(mt_rename(&t, 1, "a", 1, "b", 0));
    CHECK_OK(mt_lookup(&t, 1, "b", &x));
    CHECK_EQ(x.ino, a.ino);
    CHECK_EQ(mt_getattr(&t, b.ino, &x), CAIRN_ENOENT);
    /* A replaced file with another link survives with one link less. */
    struct meta_attr d;
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, &d));
    CHECK_OK(mt_create(&t, 1, "c", 0644, 1, &b));
    CHECK_OK(mt_link(&t, b.ino, d.ino, "c2", NULL));
    CHECK_OK(mt_rename(&t, 1, "b", 1, "c", 0));
    CHECK_OK(mt_getattr(&t, b.ino, &x));
    CHECK_EQ(x.nlink, 1);
    CHECK_EQ(nlink_of(&t, 1), 3);
    mt_free(&t);
}

TEST(meta_rename_same_inode_noop)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr a, x;
    CHECK_OK(mt_create(&t, 1, "a", 0644, 1, &a));
    CHECK_OK(mt_link(&t, a.ino, 1, "hard", NULL));
    /* Nothing changes but the session's dedup record: same versions. */
    struct meta_attr root0, f0;
    CHECK_OK(mt_getattr(&t, 1, &root0));
    CHECK_OK(mt_getattr(&t, a.ino, &f0));
    t.now += MT_SEC;
    CHECK_OK(mt_rename(&t, 1, "a", 1, "a", 0));
    CHECK_OK(mt_rename(&t, 1, "a", 1, "hard", 0));
    CHECK_OK(mt_getattr(&t, 1, &x));
    CHECK_EQ_U64(x.version, root0.version);
    CHECK_EQ_U64(x.mtime_ns, root0.mtime_ns);
    CHECK_OK(mt_getattr(&t, a.ino, &x));
    CHECK_EQ_U64(x.version, f0.version);
    CHECK_OK(mt_lookup(&t, 1, "a", &x));
    CHECK_OK(mt_lookup(&t, 1, "hard", &x));
    CHECK_EQ(x.nlink, 2);
    mt_free(&t);
}

TEST(meta_rename_dir_across_parents)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr p1, p2, d, x;
    CHECK_OK(mt_mkdir(&t, 1, "p1", 0755, &p1));
    CHECK_OK(mt_mkdir(&t, 1, "p2", 0755, &p2));
    CHECK_OK(mt_mkdir(&t, p1.ino, "d", 0755, &d));
    CHECK_OK(mt_create(&t, d.ino, "inside", 0644, 1, NULL));
    CHECK_EQ(nlink_of(&t, p1.ino), 3);
    CHECK_EQ(nlink_of(&t, p2.ino), 2);
    CHECK_OK(mt_rename(&t, p1.ino, "d", p2.ino, "moved", 0));
    CHECK_EQ(nlink_of(&t, p1.ino), 2);
    CHECK_EQ(nlink_of(&t, p2.ino), 3);
    CHECK_OK(mt_lookup(&t, d.ino, "..", &x));
    CHECK_EQ(x.ino, p2.ino);
    CHECK_OK(mt_walk(&t, "p2/moved/inside", &x));
    /* A file moved across directories leaves link counts alone. */
    CHECK_OK(mt_rename(&t, d.ino, "inside", p1.ino, "f", 0));
    CHECK_EQ(nlink_of(&t, p1.ino), 2);
    CHECK_EQ(nlink_of(&t, d.ino), 2);
    /* Over an empty directory elsewhere: that one goes. */
    struct meta_attr e;
    CHECK_OK(mt_mkdir(&t, p1.ino, "empty", 0755, &e));
    CHECK_EQ(nlink_of(&t, p1.ino), 3);
    CHECK_OK(mt_rename(&t, p2.ino, "moved", p1.ino, "empty", 0));
    CHECK_EQ(mt_getattr(&t, e.ino, &x), CAIRN_ENOENT);
    CHECK_EQ(nlink_of(&t, p1.ino), 3);
    CHECK_EQ(nlink_of(&t, p2.ino), 2);
    CHECK_OK(mt_lookup(&t, p1.ino, "empty", &x));
    CHECK_EQ(x.ino, d.ino);
    CHECK_OK(mt_lookup(&t, d.ino, "..", &x));
    CHECK_EQ(x.ino, p1.ino);
    /* Same parent, over an empty directory: one subdirectory less. */
    CHECK_OK(mt_mkdir(&t, p1.ino, "e2", 0755, &e));
    CHECK_EQ(nlink_of(&t, p1.ino), 4);
    CHECK_OK(mt_rename(&t, p1.ino, "empty", p1.ino, "e2", 0));
    CHECK_EQ(nlink_of(&t, p1.ino), 3);
    struct meta *copy = mt_snapshot_copy(t.m);
    meta_free(copy);
    mt_free(&t);
}

TEST(meta_rename_type_rules)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr x;
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, NULL));
    CHECK_OK(mt_mkdir(&t, 1, "full", 0755, &x));
    CHECK_OK(mt_create(&t, x.ino, "f", 0644, 1, NULL));
    CHECK_OK(mt_create(&t, 1, "file", 0644, 1, NULL));
    CHECK_OK(mt_symlink(&t, 1, "ln", "file", NULL));
    uint64_t dg = mt_ns_digest(&t, 100);
    CHECK_EQ(mt_rename(&t, 1, "d", 1, "file", 0), CAIRN_ENOTDIR);
    CHECK_EQ(mt_rename(&t, 1, "d", 1, "ln", 0), CAIRN_ENOTDIR);
    CHECK_EQ(mt_rename(&t, 1, "file", 1, "d", 0), CAIRN_EISDIR);
    CHECK_EQ(mt_rename(&t, 1, "ln", 1, "d", 0), CAIRN_EISDIR);
    CHECK_EQ(mt_rename(&t, 1, "d", 1, "full", 0), CAIRN_ENOTEMPTY);
    CHECK_EQ_U64(mt_ns_digest(&t, 100), dg);
    /* A symlink replaces a file. */
    CHECK_OK(mt_rename(&t, 1, "ln", 1, "file", 0));
    CHECK_OK(mt_lookup(&t, 1, "file", &x));
    CHECK_EQ(x.mode & S_IFMT, S_IFLNK);
    mt_free(&t);
}

TEST(meta_rename_into_own_subtree)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr a, b, c;
    CHECK_OK(mt_mkdir(&t, 1, "a", 0755, &a));
    CHECK_OK(mt_mkdir(&t, a.ino, "b", 0755, &b));
    CHECK_OK(mt_mkdir(&t, b.ino, "c", 0755, &c));
    uint64_t dg = mt_ns_digest(&t, 100);
    CHECK_EQ(mt_rename(&t, 1, "a", a.ino, "x", 0), CAIRN_EINVAL);
    CHECK_EQ(mt_rename(&t, 1, "a", b.ino, "x", 0), CAIRN_EINVAL);
    CHECK_EQ(mt_rename(&t, 1, "a", c.ino, "x", 0), CAIRN_EINVAL);
    CHECK_EQ(mt_rename(&t, a.ino, "b", c.ino, "x", 0), CAIRN_EINVAL);
    /* Onto an ancestor of the source: not empty. */
    CHECK_EQ(mt_rename(&t, b.ino, "c", 1, "a", 0), CAIRN_ENOTEMPTY);
    CHECK_EQ_U64(mt_ns_digest(&t, 100), dg);
    /* Up the tree is fine. */
    CHECK_OK(mt_rename(&t, b.ino, "c", 1, "c", 0));
    CHECK_EQ(nlink_of(&t, 1), 4);
    CHECK_EQ(nlink_of(&t, b.ino), 2);
    mt_free(&t);
}

TEST(meta_rename_permissions)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr src, dst, sticky, d;
    CHECK_OK(mt_mkdir(&t, 1, "src", 0777, &src));
    CHECK_OK(mt_mkdir(&t, 1, "dst", 0755, &dst));
    CHECK_OK(mt_mkdir(&t, 1, "sticky", 01777, &sticky));
    mt_as(&t, 1000, 1000, 0);
    CHECK_OK(mt_create(&t, src.ino, "mine", 0644, 1, NULL));
    CHECK_OK(mt_mkdir(&t, src.ino, "mydir", 0555, &d));
    /* no write permission on the target directory */
    CHECK_EQ(mt_rename(&t, src.ino, "mine", dst.ino, "x", 0), CAIRN_EACCES);
    /* moving a directory to another parent needs write on it (for "..") */
    CHECK_EQ(mt_rename(&t, src.ino, "mydir", sticky.ino, "x", 0), CAIRN_EACCES);
    CHECK_OK(mt_rename(&t, src.ino, "mydir", src.ino, "renamed", 0));
    /* sticky: others' files cannot be moved out or replaced */
    mt_as(&t, 2000, 2000, 0);
    CHECK_OK(mt_create(&t, sticky.ino, "theirs", 0666, 1, NULL));
    mt_as(&t, 1000, 1000, 0);
    CHECK_EQ(mt_rename(&t, sticky.ino, "theirs", src.ino, "stolen", 0), CAIRN_EPERM);
    CHECK_OK(mt_rename(&t, src.ino, "mine", sticky.ino, "m", 0));
    CHECK_EQ(mt_rename(&t, sticky.ino, "m", sticky.ino, "theirs", 0), CAIRN_EPERM);
    mt_as(&t, 0, 0, 0);
    CHECK_OK(mt_rename(&t, sticky.ino, "m", sticky.ino, "theirs", 0));
    mt_free(&t);
}

/* Every name of a tree after a sequence of moves resolves, and a snapshot
 * of the result loads (the loader checks parents and link counts). */
TEST(meta_rename_random_tree)
{
    struct mt t;
    mt_init(&t);
    struct prng *rng = test_rng();
    uint64_t dirs[64];
    int nd = 1;
    dirs[0] = 1;
    char nm[16];
    for (int i = 0; i < 2000; i++) {
        uint64_t p = dirs[prng_below(rng, (uint64_t)nd)];
        uint64_t q = dirs[prng_below(rng, (uint64_t)nd)];
        snprintf(nm, sizeof nm, "n%u", (unsigned)prng_below(rng, 12));
        char nm2[16];
        snprintf(nm2, sizeof nm2, "n%u", (unsigned)prng_below(rng, 12));
        struct meta_attr a;
        int rc;
        switch (prng_below(rng, 4)) {
        case 0:
            rc = mt_mkdir(&t, p, nm, 0755, &a);
            if (rc == 0 && nd < 64)
                dirs[nd++] = a.ino;
            CHECK(rc == 0 || rc == CAIRN_EEXIST || rc == CAIRN_ENOENT);
            break;
        case 1:
            rc = mt_create(&t, p, nm, 0644, 1, NULL);
            CHECK(rc == 0 || rc == CAIRN_EEXIST || rc == CAIRN_ENOENT);
            break;
        default:
            rc = mt_rename(&t, p, nm, q, nm2, 0);
            CHECK(rc == 0 || rc == CAIRN_ENOENT || rc == CAIRN_EINVAL || rc == CAIRN_ENOTEMPTY ||
                  rc == CAIRN_EISDIR || rc == CAIRN_ENOTDIR);
            break;
        }
    }
    struct meta *copy = mt_snapshot_copy(t.m);
    meta_free(copy);
    mt_free(&t);
}
