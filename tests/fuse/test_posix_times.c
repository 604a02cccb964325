/* test_posix_times.c: which operations move which timestamps (pjdfstest
 * checks these in every group): a directory's mtime and ctime on every
 * change of its entries, a file's ctime on link count and attribute
 * changes, mtime and ctime on writes and truncation, and no change of
 * mtime by a chmod. Also the size seen by stat(2) while a writer still has
 * the file open, after the attribute cache timed out. Each step sleeps a
 * little first, so a timestamp that moves is strictly later. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx.h"

static int ts_after(struct timespec a, struct timespec b)
{
    return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

static int ts_same(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Times of path now, after a pause that makes any later change visible. */
static struct stat before(const char *path)
{
    struct stat st = fx_lstat(path);
    usleep(20000);
    return st;
}

#define CHECK_MOVED(old, path, field, what)                                                       \
    do {                                                                                          \
        struct stat now_ = fx_lstat(path);                                                        \
        CHECKF(ts_after(now_.field, (old).field), "%s: %s of %s did not move (%lld.%09ld)", what, \
               #field, path, (long long)now_.field.tv_sec, now_.field.tv_nsec);                   \
    } while (0)

#define CHECK_KEPT(old, path, field, what)                                                  \
    do {                                                                                    \
        struct stat now_ = fx_lstat(path);                                                  \
        CHECKF(ts_same(now_.field, (old).field), "%s: %s of %s moved", what, #field, path); \
    } while (0)

/* Entries added and removed: the directory's mtime and ctime move. */
TEST_T(posix_times_dir_entries, 60)
{
    fx_begin();
    const char *d = fx_p("d"), *e = fx_p("e");
    SYS(mkdir(d, 0755));
    SYS(mkdir(e, 0755));
    struct stat b = before(d);
    fx_write_file(fx_p("d/f"), "x", 1, 0644);
    CHECK_MOVED(b, d, st_mtim, "create");
    CHECK_MOVED(b, d, st_ctim, "create");
    b = before(d);
    SYS(mkdir(fx_p("d/sub"), 0755));
    CHECK_MOVED(b, d, st_mtim, "mkdir");
    CHECK_MOVED(b, d, st_ctim, "mkdir");
    b = before(d);
    SYS(symlink("f", fx_p("d/sl")));
    CHECK_MOVED(b, d, st_mtim, "symlink");
    b = before(d);
    struct stat fb = fx_lstat(fx_p("d/f"));
    SYS(link(fx_p("d/f"), fx_p("d/f2")));
    CHECK_MOVED(b, d, st_mtim, "link");
    CHECK_MOVED(fb, fx_p("d/f"), st_ctim, "link (the file)");
    b = before(d);
    fb = fx_lstat(fx_p("d/f"));
    SYS(unlink(fx_p("d/f2")));
    CHECK_MOVED(b, d, st_mtim, "unlink");
    CHECK_MOVED(b, d, st_ctim, "unlink");
    CHECK_MOVED(fb, fx_p("d/f"), st_ctim, "unlink of another link (the file)");
    b = before(d);
    struct stat eb = fx_lstat(e);
    SYS(rename(fx_p("d/f"), fx_p("e/f")));
    CHECK_MOVED(b, d, st_mtim, "rename (source directory)");
    CHECK_MOVED(eb, e, st_mtim, "rename (target directory)");
    CHECK_MOVED(eb, e, st_ctim, "rename (target directory)");
    b = before(d);
    SYS(rmdir(fx_p("d/sub")));
    CHECK_MOVED(b, d, st_mtim, "rmdir");
    CHECK_MOVED(b, d, st_ctim, "rmdir");
    /* Looking at a directory changes nothing. */
    b = before(d);
    struct stat st;
    SYS(lstat(fx_p("d/sl"), &st));
    CHECK_KEPT(b, d, st_mtim, "lookup");
    fx_end();
}

/* File contents and attributes: write and truncate move mtime and ctime;
 * chmod, chown and a new hard link move ctime only. */
TEST_T(posix_times_file, 60)
{
    fx_begin();
    const char *f = fx_p("f");
    fx_write_file(f, "abc", 3, 0644);
    struct stat b = before(f);
    int fd = open(f, O_WRONLY);
    CHECK(fd >= 0);
    CHECK_EQ(pwrite(fd, "d", 1, 3), 1);
    SYS(close(fd));
    CHECK_MOVED(b, f, st_mtim, "write");
    CHECK_MOVED(b, f, st_ctim, "write");
    b = before(f);
    SYS(truncate(f, 2));
    CHECK_MOVED(b, f, st_mtim, "truncate");
    CHECK_MOVED(b, f, st_ctim, "truncate");
    b = before(f);
    fd = open(f, O_WRONLY);
    CHECK(fd >= 0);
    SYS(ftruncate(fd, 10));
    SYS(close(fd));
    CHECK_MOVED(b, f, st_mtim, "ftruncate");
    b = before(f);
    SYS(chmod(f, 0600));
    CHECK_MOVED(b, f, st_ctim, "chmod");
    CHECK_KEPT(b, f, st_mtim, "chmod");
    b = before(f);
    SYS(chown(f, 4242, 4242));
    CHECK_MOVED(b, f, st_ctim, "chown");
    CHECK_KEPT(b, f, st_mtim, "chown");
    b = before(f);
    fd = open(f, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0);
    SYS(close(fd));
    CHECK_MOVED(b, f, st_mtim, "open(O_TRUNC)");
    fx_end();
}

/* stat(2) by path sees the size a writer reached, while the writer still
 * has the file open, also once the attribute cache (1 s) has expired and
 * the kernel asks the mount again. */
TEST_T(posix_size_while_open, 60)
{
    fx_begin();
    const char *f = fx_p("f");
    int fd = open(f, O_WRONLY | O_CREAT, 0644);
    CHECK(fd >= 0);
    char buf[100000];
    memset(buf, 'a', sizeof buf);
    CHECK_EQ(write(fd, buf, sizeof buf), (ssize_t)sizeof buf);
    CHECK_EQ(fx_lstat(f).st_size, (off_t)sizeof buf);
    usleep(1500000);
    CHECK_EQ(fx_lstat(f).st_size, (off_t)sizeof buf);
    CHECK_EQ(pwrite(fd, "z", 1, 300000), 1);
    usleep(1500000);
    CHECK_EQ(fx_lstat(f).st_size, 300001);
    /* Another descriptor reads what was written, before any close. */
    int r = open(f, O_RDONLY);
    CHECK(r >= 0);
    char c = 0;
    CHECK_EQ(pread(r, &c, 1, 300000), 1);
    CHECK_EQ(c, 'z');
    CHECK_EQ(pread(r, &c, 1, 99999), 1);
    CHECK_EQ(c, 'a');
    SYS(close(r));
    SYS(close(fd));
    CHECK_EQ(fx_lstat(f).st_size, 300001);
    fx_end();
}
