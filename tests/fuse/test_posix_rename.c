/* test_posix_rename.c: rename(2) and renameat2(2) on the mount (pjdfstest's
 * rename group): moves within and across directories, atomic overwrite of
 * files and of empty directories, nlink bookkeeping, the error codes
 * ENOTEMPTY, EISDIR, ENOTDIR, EINVAL, ENOENT, ENAMETOOLONG, EEXIST
 * (RENAME_NOREPLACE), EINVAL (RENAME_EXCHANGE on the mount), and never EXDEV
 * inside one mount. */
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx.h"

static ino_t ino_of(const char *path) { return fx_lstat(path).st_ino; }

static void check_content(const char *path, const char *want)
{
    char buf[64];
    size_t n = fx_read_file(path, buf, sizeof buf);
    CHECKF(n == strlen(want) && memcmp(buf, want, n) == 0, "%s: content \"%.*s\", expected \"%s\"",
           path, (int)n, buf, want);
}

static void check_gone(const char *path)
{
    struct stat st;
    SYS_ERR(lstat(path, &st), ENOENT);
}

/* Files: a new name in the same directory and in another one; over an
 * existing file (the old target inode loses a link, the name now names
 * the source); over a hard link of itself (nothing happens). */
TEST_T(posix_rename_files, 60)
{
    fx_begin();
    SYS(mkdir(fx_p("a"), 0755));
    SYS(mkdir(fx_p("b"), 0755));
    fx_write_file(fx_p("a/f"), "one", 3, 0640);
    ino_t f = ino_of(fx_p("a/f"));
    SYS(rename(fx_p("a/f"), fx_p("a/g")));
    check_gone(fx_p("a/f"));
    CHECK_EQ_U64(ino_of(fx_p("a/g")), f);
    SYS(rename(fx_p("a/g"), fx_p("b/g")));
    check_gone(fx_p("a/g"));
    struct stat st = fx_lstat(fx_p("b/g"));
    CHECK_EQ_U64(st.st_ino, f);
    CHECK_EQ(st.st_mode & 07777, 0640);
    CHECK_EQ(st.st_nlink, 1);
    check_content(fx_p("b/g"), "one");
    /* Moving files leaves the directories' nlink alone. */
    CHECK_EQ(fx_lstat(fx_p("a")).st_nlink, 2);
    CHECK_EQ(fx_lstat(fx_p("b")).st_nlink, 2);
    /* Over an existing file that has a second link. */
    fx_write_file(fx_p("a/victim"), "two", 3, 0644);
    SYS(link(fx_p("a/victim"), fx_p("a/victim2")));
    ino_t v = ino_of(fx_p("a/victim"));
    SYS(rename(fx_p("b/g"), fx_p("a/victim")));
    CHECK_EQ_U64(ino_of(fx_p("a/victim")), f);
    check_content(fx_p("a/victim"), "one");
    check_gone(fx_p("b/g"));
    st = fx_lstat(fx_p("a/victim2"));
    CHECK_EQ_U64(st.st_ino, v);
    CHECK_EQ(st.st_nlink, 1);
    check_content(fx_p("a/victim2"), "two");
    /* Two names of one inode: rename does nothing, both stay (POSIX). */
    SYS(link(fx_p("a/victim"), fx_p("a/same")));
    SYS(rename(fx_p("a/victim"), fx_p("a/same")));
    CHECK_EQ(fx_lstat(fx_p("a/victim")).st_nlink, 2);
    CHECK_EQ(fx_lstat(fx_p("a/same")).st_nlink, 2);
    /* Onto itself. */
    SYS(rename(fx_p("a/same"), fx_p("a/same")));
    CHECK_EQ(fx_lstat(fx_p("a/same")).st_nlink, 2);
    /* A symlink moves as a link; its target is untouched. */
    SYS(symlink("victim2", fx_p("a/sl")));
    SYS(rename(fx_p("a/sl"), fx_p("a/sl2")));
    char buf[32];
    CHECK_EQ(readlink(fx_p("a/sl2"), buf, sizeof buf), 7);
    CHECK_MEM_EQ(buf, "victim2", 7);
    check_content(fx_p("a/sl2"), "two");
    fx_end();
}

/* Directories: moved with their content, '..' follows, nlink of both
 * parents updated; over an empty directory (replaced); over a non-empty
 * one (ENOTEMPTY); into itself or a descendant (EINVAL). */
TEST_T(posix_rename_dirs, 60)
{
    fx_begin();
    SYS(mkdir(fx_p("a"), 0755));
    SYS(mkdir(fx_p("b"), 0755));
    SYS(mkdir(fx_p("a/d"), 0700));
    SYS(mkdir(fx_p("a/d/sub"), 0700));
    fx_write_file(fx_p("a/d/sub/f"), "deep", 4, 0644);
    ino_t d = ino_of(fx_p("a/d"));
    CHECK_EQ(fx_lstat(fx_p("a")).st_nlink, 3);
    SYS(rename(fx_p("a/d"), fx_p("b/d")));
    CHECK_EQ_U64(ino_of(fx_p("b/d")), d);
    check_gone(fx_p("a/d"));
    CHECK_EQ(fx_lstat(fx_p("a")).st_nlink, 2);
    CHECK_EQ(fx_lstat(fx_p("b")).st_nlink, 3);
    CHECK_EQ(fx_lstat(fx_p("b/d")).st_nlink, 3);
    CHECK_EQ_U64(ino_of(fx_p("b/d/..")), ino_of(fx_p("b")));
    check_content(fx_p("b/d/sub/f"), "deep");
    /* Over an empty directory: replaced atomically. */
    SYS(mkdir(fx_p("a/empty"), 0755));
    SYS(rename(fx_p("b/d"), fx_p("a/empty")));
    CHECK_EQ_U64(ino_of(fx_p("a/empty")), d);
    check_gone(fx_p("b/d"));
    CHECK_EQ(fx_lstat(fx_p("a")).st_nlink, 3);
    CHECK_EQ(fx_lstat(fx_p("b")).st_nlink, 2);
    check_content(fx_p("a/empty/sub/f"), "deep");
    /* Over a non-empty directory. */
    SYS(mkdir(fx_p("b/full"), 0755));
    fx_write_file(fx_p("b/full/x"), "", 0, 0644);
    SYS_ERR(rename(fx_p("a/empty"), fx_p("b/full")), ENOTEMPTY);
    SYS(mkdir(fx_p("b/full2"), 0755));
    SYS(mkdir(fx_p("b/full2/sub"), 0755));
    SYS_ERR(rename(fx_p("a/empty"), fx_p("b/full2")), ENOTEMPTY);
    CHECK_EQ_U64(ino_of(fx_p("a/empty")), d);
    /* Into itself or below itself. */
    SYS_ERR(rename(fx_p("a/empty"), fx_p("a/empty/sub/x")), EINVAL);
    SYS_ERR(rename(fx_p("a"), fx_p("a/empty/y")), EINVAL);
    SYS_ERR(rename(fx_p("a/empty"), fx_p("a/empty/sub")), EINVAL);
    /* '.' and '..' as source or target. */
    SYS_ERR(rename(fx_p("a/empty/."), fx_p("b/dot")), EBUSY);
    SYS_ERR(rename(fx_p("b/full"), fx_p("a/empty/..")), EBUSY);
    /* Onto itself. */
    SYS(rename(fx_p("a/empty"), fx_p("a/empty")));
    CHECK_EQ_U64(ino_of(fx_p("a/empty")), d);
    fx_end();
}

/* Mixed kinds and missing names: EISDIR (file over directory), ENOTDIR
 * (directory over file, a file as a path component), ENOENT,
 * ENAMETOOLONG. */
TEST_T(posix_rename_errors, 60)
{
    fx_begin();
    SYS(mkdir(fx_p("d"), 0755));
    SYS(mkdir(fx_p("e"), 0755));
    fx_write_file(fx_p("f"), "f", 1, 0644);
    fx_write_file(fx_p("g"), "g", 1, 0644);
    SYS_ERR(rename(fx_p("f"), fx_p("d")), EISDIR);
    SYS_ERR(rename(fx_p("d"), fx_p("f")), ENOTDIR);
    SYS_ERR(rename(fx_p("d"), fx_p("f/x")), ENOTDIR);
    SYS_ERR(rename(fx_p("f/x"), fx_p("y")), ENOTDIR);
    SYS_ERR(rename(fx_p("f"), fx_p("g/")), ENOTDIR);
    SYS_ERR(rename(fx_p("missing"), fx_p("y")), ENOENT);
    SYS_ERR(rename(fx_p("f"), fx_p("missing/y")), ENOENT);
    char name[NAME_MAX + 2];
    memset(name, 'n', NAME_MAX + 1);
    name[NAME_MAX + 1] = '\0';
    SYS_ERR(rename(fx_p("f"), fx_p("%s", name)), ENAMETOOLONG);
    SYS_ERR(rename(fx_p("%s", name), fx_p("f")), ENAMETOOLONG);
    name[NAME_MAX] = '\0';
    SYS(rename(fx_p("f"), fx_p("%s", name)));
    SYS(rename(fx_p("%s", name), fx_p("f")));
    /* Nothing moved by the failures. */
    check_content(fx_p("f"), "f");
    check_content(fx_p("g"), "g");
    CHECK(S_ISDIR(fx_lstat(fx_p("d")).st_mode));
    fx_end();
}

static int rename2(const char *a, const char *b, unsigned flags)
{
    return renameat2(AT_FDCWD, a, AT_FDCWD, b, flags);
}

/* renameat2(RENAME_NOREPLACE): EEXIST over any existing name (file,
 * directory, symlink, dangling symlink), a plain rename otherwise;
 * RENAME_EXCHANGE as documented. */
TEST_T(posix_rename_noreplace, 60)
{
    fx_begin();
    fx_write_file(fx_p("f"), "f", 1, 0644);
    fx_write_file(fx_p("g"), "g", 1, 0644);
    SYS(mkdir(fx_p("d"), 0755));
    SYS(symlink("nowhere", fx_p("dang")));
    SYS_ERR(rename2(fx_p("f"), fx_p("g"), RENAME_NOREPLACE), EEXIST);
    SYS_ERR(rename2(fx_p("f"), fx_p("d"), RENAME_NOREPLACE), EEXIST);
    SYS_ERR(rename2(fx_p("d"), fx_p("g"), RENAME_NOREPLACE), EEXIST);
    SYS_ERR(rename2(fx_p("f"), fx_p("dang"), RENAME_NOREPLACE), EEXIST);
    check_content(fx_p("f"), "f");
    check_content(fx_p("g"), "g");
    SYS(rename2(fx_p("f"), fx_p("h"), RENAME_NOREPLACE));
    check_gone(fx_p("f"));
    check_content(fx_p("h"), "f");
    SYS(rename2(fx_p("d"), fx_p("d2"), RENAME_NOREPLACE));
    CHECK(S_ISDIR(fx_lstat(fx_p("d2")).st_mode));
    /* RENAME_EXCHANGE: the mount refuses it with EINVAL (docs/fuse.md); a
     * local file system swaps the two names. Either way nothing is lost. */
    if (fx_mounted()) {
        SYS_ERR(rename2(fx_p("g"), fx_p("h"), RENAME_EXCHANGE), EINVAL);
        check_content(fx_p("g"), "g");
        check_content(fx_p("h"), "f");
    } else {
        SYS(rename2(fx_p("g"), fx_p("h"), RENAME_EXCHANGE));
        check_content(fx_p("g"), "f");
        check_content(fx_p("h"), "g");
    }
    /* Unknown flags. */
    SYS_ERR(rename2(fx_p("g"), fx_p("h"), 1u << 20), EINVAL);
    fx_end();
}

/* Every rename between any two directories of the mount succeeds: never
 * EXDEV (a FUSE file system is one device), for files, symlinks and
 * directories, between deep and shallow places, with the seeded order. */
TEST_T(posix_rename_never_exdev, 90)
{
    fx_begin();
    const char *dirs[] = {"", "x", "x/y", "x/y/z", "p", "p/q"};
    enum { NDIRS = sizeof dirs / sizeof dirs[0] };
    for (size_t i = 1; i < NDIRS; i++)
        SYS(mkdir(fx_p("%s", dirs[i]), 0755));
    fx_write_file(fx_p("obj-f"), "f", 1, 0644);
    SYS(symlink("t", fx_p("obj-s")));
    SYS(mkdir(fx_p("obj-d"), 0755));
    const char *objs[] = {"obj-f", "obj-s", "obj-d"};
    size_t where[3] = {0, 0, 0};
    for (int step = 0; step < 60; step++) {
        size_t o = (size_t)prng_range(test_rng(), 0, 2);
        size_t to = (size_t)prng_range(test_rng(), 0, NDIRS - 1);
        char from[PATH_MAX], dst[PATH_MAX];
        snprintf(from, sizeof from, "%s%s%s", dirs[where[o]], *dirs[where[o]] ? "/" : "", objs[o]);
        snprintf(dst, sizeof dst, "%s%s%s", dirs[to], *dirs[to] ? "/" : "", objs[o]);
        const char *pf = fx_p("%s", from), *pt = fx_p("%s", dst);
        errno = 0;
        int rc = rename(pf, pt);
        CHECKF(rc == 0, "step %d: rename(%s, %s): %s", step, from, dst, fx_errname(errno));
        where[o] = to;
    }
    for (size_t o = 0; o < 3; o++) {
        const char *p = fx_p("%s%s%s", dirs[where[o]], *dirs[where[o]] ? "/" : "", objs[o]);
        fx_lstat(p);
    }
    fx_end();
}

/* A file open for reading and writing keeps working across renames of its
 * name, and across being renamed over (the old inode stays reachable
 * through the descriptor). */
TEST_T(posix_rename_open_files, 60)
{
    fx_begin();
    fx_write_file(fx_p("f"), "abc", 3, 0644);
    int fd = open(fx_p("f"), O_RDWR);
    CHECK(fd >= 0);
    SYS(mkdir(fx_p("d"), 0755));
    SYS(rename(fx_p("f"), fx_p("d/f2")));
    CHECK_EQ(pwrite(fd, "XY", 2, 3), 2);
    SYS(fsync(fd));
    check_content(fx_p("d/f2"), "abcXY");
    /* Renamed over: the descriptor still reads the old inode. */
    fx_write_file(fx_p("new"), "new", 3, 0644);
    SYS(rename(fx_p("new"), fx_p("d/f2")));
    char buf[16];
    CHECK_EQ(pread(fd, buf, sizeof buf, 0), 5);
    CHECK_MEM_EQ(buf, "abcXY", 5);
    struct stat st;
    SYS(fstat(fd, &st));
    CHECK_EQ(st.st_nlink, 0);
    SYS(close(fd));
    check_content(fx_p("d/f2"), "new");
    /* The directory of an open file moves: the descriptor goes on. */
    fd = open(fx_p("d/f2"), O_RDWR | O_APPEND);
    CHECK(fd >= 0);
    SYS(rename(fx_p("d"), fx_p("e")));
    CHECK_EQ(write(fd, "!", 1), 1);
    SYS(close(fd));
    check_content(fx_p("e/f2"), "new!");
    fx_end();
}
