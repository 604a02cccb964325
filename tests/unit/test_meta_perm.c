/* test_meta_perm.c: POSIX permission checks of the metadata state machine. */
#include <sys/stat.h>

#include "test_meta_util.h"

TEST(meta_perm_search_and_write)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr d, a;
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, &d));
    CHECK_OK(mt_create(&t, d.ino, "f", 0644, 1, NULL));
    mt_as(&t, 1000, 1000, 0);
    /* no write on d */
    CHECK_EQ(mt_create(&t, d.ino, "g", 0644, 1, NULL), CAIRN_EACCES);
    CHECK_EQ(mt_mkdir(&t, d.ino, "g", 0755, NULL), CAIRN_EACCES);
    CHECK_EQ(mt_symlink(&t, d.ino, "g", "x", NULL), CAIRN_EACCES);
    CHECK_EQ(mt_unlink(&t, d.ino, "f"), CAIRN_EACCES);
    /* EEXIST is decided before write permission, as Linux */
    CHECK_EQ(mt_create(&t, d.ino, "f", 0644, 1, NULL), CAIRN_EEXIST);
    CHECK_OK(mt_lookup(&t, d.ino, "f", &a));
    /* no search on d: lookups fail, and so does everything below d */
    mt_as(&t, 0, 0, 0);
    CHECK_OK(mt_chmod(&t, d.ino, 0766));
    mt_as(&t, 1000, 1000, 0);
    CHECK_EQ(mt_lookup(&t, d.ino, "f", &a), CAIRN_EACCES);
    CHECK_EQ(mt_create(&t, d.ino, "g", 0644, 1, NULL), CAIRN_EACCES);
    CHECK_EQ(mt_unlink(&t, d.ino, "f"), CAIRN_EACCES);
    /* root passes read/write/search on directories whatever the mode */
    mt_as(&t, 0, 0, 0);
    CHECK_OK(mt_chmod(&t, d.ino, 0));
    CHECK_OK(mt_lookup(&t, d.ino, "f", &a));
    CHECK_OK(mt_create(&t, d.ino, "root-made", 0644, 1, NULL));
    CHECK_OK(mt_unlink(&t, d.ino, "root-made"));
    mt_free(&t);
}

TEST(meta_perm_groups)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr d;
    CHECK_OK(mt_mkdir(&t, 1, "g", 0770, &d));
    CHECK_OK(mt_chown(&t, d.ino, 0, 500));
    /* other: no access */
    mt_as(&t, 1000, 1000, 0);
    CHECK_EQ(mt_create(&t, d.ino, "x", 0644, 1, NULL), CAIRN_EACCES);
    /* primary group */
    mt_as(&t, 1000, 500, 0);
    CHECK_OK(mt_create(&t, d.ino, "x", 0644, 1, NULL));
    /* supplementary group, last of several */
    mt_as(&t, 1001, 1001, 3, 7, 8, 500);
    CHECK_OK(mt_create(&t, d.ino, "y", 0644, 1, NULL));
    /* the owner class applies to the owner even when the group would allow:
     * owner bits 0 deny although group bits grant */
    mt_as(&t, 0, 0, 0);
    CHECK_OK(mt_chown(&t, d.ino, 1001, 500));
    CHECK_OK(mt_chmod(&t, d.ino, 0070));
    mt_as(&t, 1001, 500, 0);
    CHECK_EQ(mt_create(&t, d.ino, "z", 0644, 1, NULL), CAIRN_EACCES);
    mt_as(&t, 1000, 500, 0);
    CHECK_OK(mt_create(&t, d.ino, "z", 0644, 1, NULL));
    mt_free(&t);
}

TEST(meta_perm_sticky)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr tmp;
    CHECK_OK(mt_mkdir(&t, 1, "tmp", 01777, &tmp));
    CHECK_OK(mt_chown(&t, tmp.ino, 3000, 3000));
    mt_as(&t, 1000, 1000, 0);
    CHECK_OK(mt_create(&t, tmp.ino, "a", 0666, 1, NULL));
    CHECK_OK(mt_mkdir(&t, tmp.ino, "ad", 0777, NULL));
    mt_as(&t, 2000, 2000, 0);
    CHECK_OK(mt_create(&t, tmp.ino, "b", 0666, 1, NULL));
    CHECK_EQ(mt_unlink(&t, tmp.ino, "a"), CAIRN_EPERM);
    CHECK_EQ(mt_rmdir(&t, tmp.ino, "ad"), CAIRN_EPERM);
    CHECK_OK(mt_unlink(&t, tmp.ino, "b"));
    /* the directory's owner may remove anyone's files */
    mt_as(&t, 3000, 3000, 0);
    CHECK_OK(mt_unlink(&t, tmp.ino, "a"));
    CHECK_OK(mt_rmdir(&t, tmp.ino, "ad"));
    /* without the sticky bit, write permission on the directory suffices */
    mt_as(&t, 1000, 1000, 0);
    CHECK_OK(mt_create(&t, tmp.ino, "c", 0600, 1, NULL));
    mt_as(&t, 3000, 3000, 0);
    CHECK_OK(mt_chmod(&t, tmp.ino, 0777));
    mt_as(&t, 2000, 2000, 0);
    CHECK_OK(mt_unlink(&t, tmp.ino, "c"));
    mt_free(&t);
}

TEST(meta_perm_chmod_chown)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f, a;
    CHECK_OK(mt_chmod(&t, 1, 0777));
    mt_as(&t, 1000, 100, 2, 200, 300);
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    CHECK_EQ(f.gid, 100);
    /* owner may chmod; others may not */
    CHECK_OK(mt_chmod(&t, f.ino, 0600));
    mt_as(&t, 1001, 100, 0);
    CHECK_EQ(mt_chmod(&t, f.ino, 0666), CAIRN_EPERM);
    /* chown: only root gives a file away; the owner may change the group to
     * one of its own groups, not to a foreign one */
    mt_as(&t, 1000, 100, 2, 200, 300);
    CHECK_EQ(mt_chown(&t, f.ino, 1001, 100), CAIRN_EPERM);
    CHECK_OK(mt_chown(&t, f.ino, 1000, 300));
    CHECK_EQ(mt_chown(&t, f.ino, 1000, 999), CAIRN_EPERM);
    mt_as(&t, 1001, 300, 0);
    CHECK_EQ(mt_chown(&t, f.ino, 1000, 300), CAIRN_EPERM); /* not the owner */
    mt_as(&t, 0, 0, 0);
    CHECK_OK(mt_chown(&t, f.ino, 1001, 999));
    CHECK_OK(mt_getattr(&t, f.ino, &a));
    CHECK_EQ(a.uid, 1001);
    CHECK_EQ(a.gid, 999);
    /* setgid falls on chmod by an owner outside the file's group */
    mt_as(&t, 1001, 1001, 0);
    CHECK_OK(mt_chmod(&t, f.ino, 02755));
    CHECK_OK(mt_getattr(&t, f.ino, &a));
    CHECK_EQ(a.mode, S_IFREG | 0755);
    mt_as(&t, 1001, 1001, 1, 999);
    CHECK_OK(mt_chmod(&t, f.ino, 06755));
    CHECK_OK(mt_getattr(&t, f.ino, &a));
    CHECK_EQ(a.mode, S_IFREG | 06755);
    /* chown by the owner (group change) kills setuid and setgid (g+x) */
    CHECK_OK(mt_chown(&t, f.ino, 1001, 1001));
    CHECK_OK(mt_getattr(&t, f.ino, &a));
    CHECK_EQ(a.mode, S_IFREG | 0755);
    /* setgid without group exec survives chown (mandatory-locking bit) */
    CHECK_OK(mt_chmod(&t, f.ino, 02745));
    CHECK_OK(mt_chown(&t, f.ino, 1001, 1001));
    CHECK_OK(mt_getattr(&t, f.ino, &a));
    CHECK_EQ(a.mode, S_IFREG | 02745);
    /* goal: owner or root */
    mt_as(&t, 1002, 1002, 0);
    struct meta_attr set = {.goal = 3};
    CHECK_EQ(mt_setattr(&t, f.ino, META_SET_GOAL, &set, NULL), CAIRN_EPERM);
    mt_free(&t);
}

TEST(meta_perm_times_and_truncate)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f, a, set;
    memset(&set, 0, sizeof set);
    CHECK_OK(mt_create(&t, 1, "w", 0666, 1, &f));
    CHECK_OK(mt_chown(&t, f.ino, 1000, 1000));
    mt_as(&t, 2000, 2000, 0);
    /* a writer that is not the owner: "now" yes, explicit times no */
    t.now += MT_SEC;
    CHECK_OK(mt_setattr(&t, f.ino, META_SET_ATIME_NOW | META_SET_MTIME_NOW, &set, &a));
    CHECK_EQ_U64(a.mtime_ns, t.now);
    set.mtime_ns = 5;
    CHECK_EQ(mt_setattr(&t, f.ino, META_SET_MTIME, &set, NULL), CAIRN_EPERM);
    /* truncate needs write permission; non-root truncation kills setuid */
    set.size = 100;
    CHECK_OK(mt_setattr(&t, f.ino, META_SET_SIZE, &set, &a));
    CHECK_EQ(a.size, 100);
    mt_as(&t, 0, 0, 0);
    CHECK_OK(mt_chmod(&t, f.ino, 04644));
    mt_as(&t, 1000, 1000, 0);
    set.size = 50;
    CHECK_OK(mt_setattr(&t, f.ino, META_SET_SIZE, &set, &a));
    CHECK_EQ(a.mode, S_IFREG | 0644);
    mt_as(&t, 2000, 2000, 0);
    CHECK_EQ(mt_setattr(&t, f.ino, META_SET_SIZE, &set, NULL), CAIRN_EACCES);
    /* neither owner nor writer: "now" is EACCES */
    CHECK_EQ(mt_setattr(&t, f.ino, META_SET_ATIME_NOW, &set, NULL), CAIRN_EACCES);
    /* the owner without write permission may still set times */
    mt_as(&t, 1000, 1000, 0);
    CHECK_OK(mt_chmod(&t, f.ino, 0444));
    set.atime_ns = 77;
    CHECK_OK(mt_setattr(&t, f.ino, META_SET_ATIME | META_SET_MTIME_NOW, &set, &a));
    CHECK_EQ_U64(a.atime_ns, 77);
    CHECK_EQ(mt_setattr(&t, f.ino, META_SET_SIZE, &set, NULL), CAIRN_EACCES);
    mt_free(&t);
}

TEST(meta_perm_setgid_dir)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr d, a;
    CHECK_OK(mt_mkdir(&t, 1, "shared", 02777, &d));
    CHECK_OK(mt_chown(&t, d.ino, 0, 600));
    CHECK_OK(mt_chmod(&t, d.ino, 02777));
    mt_as(&t, 1000, 1000, 0);
    CHECK_OK(mt_create(&t, d.ino, "f", 02755, 1, &a));
    CHECK_EQ(a.gid, 600);
    CHECK_EQ(a.mode, S_IFREG | 0755); /* not in group 600: setgid dropped */
    CHECK_OK(mt_mkdir(&t, d.ino, "sub", 0755, &a));
    CHECK_EQ(a.gid, 600);
    CHECK_EQ(a.mode, S_IFDIR | 02755); /* directories inherit the bit */
    mt_free(&t);
}
