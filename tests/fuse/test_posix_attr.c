/* test_posix_attr.c: attributes beyond modes on the mount: utimensat(2)
 * (explicit times to the nanosecond, UTIME_NOW, UTIME_OMIT, who may set
 * what: pjdfstest's utimensat group), extended attributes in the user.*
 * namespace (set/get/list/remove with their flags and errors) and
 * statfs(2). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fx.h"
#include "mount_harness.h"

static const char *mkfile(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
    const char *p = fx_p("%s", name);
    fx_write_file(p, "content", 7, 0600);
    SYS(chown(p, uid, gid));
    SYS(chmod(p, mode));
    return p;
}

static void check_ts(struct timespec got, time_t sec, long nsec, const char *what)
{
    CHECKF(got.tv_sec == sec && got.tv_nsec == nsec, "%s: %lld.%09ld, expected %lld.%09ld", what,
           (long long)got.tv_sec, got.tv_nsec, (long long)sec, nsec);
}

/* now +- 10 minutes: a clock check, not a speed check. */
static void check_near_now(struct timespec got, const char *what)
{
    time_t now = time(NULL);
    CHECKF(got.tv_sec > now - 600 && got.tv_sec < now + 600, "%s: %lld, now %lld", what,
           (long long)got.tv_sec, (long long)now);
}

/* utimensat by root: exact times, UTIME_OMIT keeps one, UTIME_NOW sets the
 * current time, NULL sets both to now; on a symlink with
 * AT_SYMLINK_NOFOLLOW the link's own times change. */
TEST_T(posix_utimensat, 60)
{
    fx_begin();
    const char *f = mkfile("f", 0644, 0, 0);
    struct timespec ts[2] = {{1000000000, 123456789}, {1200000000, 987654321}};
    SYS(utimensat(AT_FDCWD, f, ts, 0));
    struct stat st = fx_lstat(f);
    check_ts(st.st_atim, 1000000000, 123456789, "atime");
    check_ts(st.st_mtim, 1200000000, 987654321, "mtime");
    struct timespec omit_a[2] = {{0, UTIME_OMIT}, {1300000000, 5}};
    SYS(utimensat(AT_FDCWD, f, omit_a, 0));
    st = fx_lstat(f);
    check_ts(st.st_atim, 1000000000, 123456789, "atime kept by UTIME_OMIT");
    check_ts(st.st_mtim, 1300000000, 5, "mtime");
    struct timespec now_m[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    SYS(utimensat(AT_FDCWD, f, now_m, 0));
    st = fx_lstat(f);
    check_ts(st.st_atim, 1000000000, 123456789, "atime kept by UTIME_OMIT");
    check_near_now(st.st_mtim, "mtime after UTIME_NOW");
    struct timespec both_omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    SYS(utimensat(AT_FDCWD, f, both_omit, 0));
    check_ts(fx_lstat(f).st_atim, 1000000000, 123456789, "atime after two UTIME_OMIT");
    SYS(utimensat(AT_FDCWD, f, NULL, 0));
    st = fx_lstat(f);
    check_near_now(st.st_atim, "atime after NULL");
    check_near_now(st.st_mtim, "mtime after NULL");
    /* futimens on a descriptor. */
    int fd = open(f, O_RDONLY);
    CHECK(fd >= 0);
    SYS(futimens(fd, ts));
    SYS(fstat(fd, &st));
    check_ts(st.st_mtim, 1200000000, 987654321, "mtime by futimens");
    SYS(close(fd));
    /* A write moves mtime to now. */
    fx_write_file(f, "x", 1, 0);
    check_near_now(fx_lstat(f).st_mtim, "mtime after a write");
    /* Directories and symlinks. */
    SYS(mkdir(fx_p("d"), 0755));
    SYS(utimensat(AT_FDCWD, fx_p("d"), ts, 0));
    check_ts(fx_lstat(fx_p("d")).st_mtim, 1200000000, 987654321, "dir mtime");
    SYS(symlink("f", fx_p("sl")));
    SYS(utimensat(AT_FDCWD, f, NULL, 0));
    SYS(utimensat(AT_FDCWD, fx_p("sl"), ts, AT_SYMLINK_NOFOLLOW));
    check_ts(fx_lstat(fx_p("sl")).st_mtim, 1200000000, 987654321, "symlink mtime");
    check_near_now(fx_lstat(f).st_mtim, "target untouched");
    SYS_ERR(utimensat(AT_FDCWD, fx_p("missing"), ts, 0), ENOENT);
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    SYS_ERR(utimensat(AT_FDCWD, f, bad, 0), EINVAL);
    fx_end();
}

/* Who may: the owner anything; anyone with write permission only "now"
 * (NULL or both UTIME_NOW); others EACCES for "now", EPERM for explicit
 * times; two UTIME_OMIT is allowed to anyone. */
TEST_T(posix_utimensat_perm, 60)
{
    fx_begin();
    const char *w = mkfile("w", 0666, 0, 0);
    const char *r = mkfile("r", 0644, 0, 0);
    const char *own = mkfile("own", 0444, FX_U1.uid, FX_U1.gid);
    const struct timespec t1 = {1111111111, 0};
    const struct timespec now = {0, UTIME_NOW}, omit = {0, UTIME_OMIT};
    AS_EXPECT(&FX_U1, 0, .kind = FX_UTIMENS, .a = w);
    AS_EXPECT(&FX_U1, 0, .kind = FX_UTIMENS, .a = w, .use_ts = 1, .ts = {now, now});
    AS_EXPECT(&FX_U1, EPERM, .kind = FX_UTIMENS, .a = w, .use_ts = 1, .ts = {t1, t1});
    AS_EXPECT(&FX_U1, EPERM, .kind = FX_UTIMENS, .a = w, .use_ts = 1, .ts = {omit, t1});
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_UTIMENS, .a = r);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_UTIMENS, .a = r, .use_ts = 1, .ts = {now, now});
    AS_EXPECT(&FX_U1, EPERM, .kind = FX_UTIMENS, .a = r, .use_ts = 1, .ts = {t1, t1});
    AS_EXPECT(&FX_U1, 0, .kind = FX_UTIMENS, .a = r, .use_ts = 1, .ts = {omit, omit});
    AS_EXPECT(&FX_U1, 0, .kind = FX_UTIMENS, .a = own, .use_ts = 1, .ts = {t1, t1});
    struct stat st = fx_lstat(own);
    check_ts(st.st_atim, 1111111111, 0, "atime set by the owner");
    check_ts(st.st_mtim, 1111111111, 0, "mtime set by the owner");
    AS_EXPECT(&FX_U1, 0, .kind = FX_UTIMENS, .a = own);
    check_near_now(fx_lstat(own).st_mtim, "mtime set to now by the owner");
    AS_EXPECT(&FX_U2, EPERM, .kind = FX_UTIMENS, .a = own, .use_ts = 1, .ts = {t1, t1});
    AS_EXPECT(&FX_U2, EACCES, .kind = FX_UTIMENS, .a = own);
    fx_end();
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names listxattr returned, as one string "a,b," sorted. */
static void list_names(const char *path, char *out, size_t cap)
{
    char buf[4096];
    ssize_t n = listxattr(path, buf, sizeof buf);
    CHECKF(n >= 0, "listxattr %s: %s", path, fx_errname(errno));
    ssize_t size = listxattr(path, NULL, 0);
    CHECK_EQ(size, n);
    const char *names[64];
    size_t k = 0;
    for (ssize_t i = 0; i < n && k < 64; i += (ssize_t)strlen(buf + i) + 1)
        names[k++] = buf + i;
    qsort(names, k, sizeof names[0], cmp_str);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < k; i++) {
        /* Only user.* names: a local file system may carry security.* ones. */
        if (strncmp(names[i], "user.", 5) == 0)
            len += (size_t)snprintf(out + len, cap - len, "%s,", names[i]);
    }
}

/* user.* extended attributes: set, get (with size query and ERANGE),
 * XATTR_CREATE (EEXIST) and XATTR_REPLACE (ENODATA), list, remove,
 * ENODATA, empty and binary values, directories, symlinks (EPERM), the
 * name length limit (ERANGE), permissions (EACCES). */
TEST_T(posix_xattr, 60)
{
    fx_begin();
    const char *f = mkfile("f", 0644, 0, 0);
    char buf[2048];
    SYS(setxattr(f, "user.one", "value", 5, 0));
    CHECK_EQ(getxattr(f, "user.one", buf, sizeof buf), 5);
    CHECK_MEM_EQ(buf, "value", 5);
    CHECK_EQ(getxattr(f, "user.one", NULL, 0), 5);
    SYS_ERR(getxattr(f, "user.one", buf, 2), ERANGE);
    SYS_ERR(setxattr(f, "user.one", "other", 5, XATTR_CREATE), EEXIST);
    SYS_ERR(setxattr(f, "user.two", "x", 1, XATTR_REPLACE), ENODATA);
    SYS_ERR(getxattr(f, "user.two", buf, sizeof buf), ENODATA);
    SYS(setxattr(f, "user.one", "v2", 2, XATTR_REPLACE));
    CHECK_EQ(getxattr(f, "user.one", buf, sizeof buf), 2);
    CHECK_MEM_EQ(buf, "v2", 2);
    SYS(setxattr(f, "user.two", "", 0, XATTR_CREATE));
    CHECK_EQ(getxattr(f, "user.two", buf, sizeof buf), 0);
    uint8_t bin[1000];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t)(i * 7);
    SYS(setxattr(f, "user.bin", bin, sizeof bin, 0));
    CHECK_EQ(getxattr(f, "user.bin", buf, sizeof buf), sizeof bin);
    CHECK_MEM_EQ(buf, bin, sizeof bin);
    char names[512];
    list_names(f, names, sizeof names);
    CHECK_STR_EQ(names, "user.bin,user.one,user.two,");
    SYS_ERR(listxattr(f, buf, 3), ERANGE);
    SYS(removexattr(f, "user.one"));
    SYS_ERR(getxattr(f, "user.one", buf, sizeof buf), ENODATA);
    SYS_ERR(removexattr(f, "user.one"), ENODATA);
    list_names(f, names, sizeof names);
    CHECK_STR_EQ(names, "user.bin,user.two,");
    /* Through a descriptor. */
    int fd = open(f, O_RDONLY);
    CHECK(fd >= 0);
    CHECK_EQ(fgetxattr(fd, "user.two", buf, sizeof buf), 0);
    SYS(fsetxattr(fd, "user.three", "3", 1, 0));
    SYS(close(fd));
    CHECK_EQ(getxattr(f, "user.three", buf, sizeof buf), 1);
    /* Directories have them; symlinks may not have user.* ones. */
    SYS(mkdir(fx_p("d"), 0755));
    SYS(setxattr(fx_p("d"), "user.dir", "d", 1, 0));
    CHECK_EQ(getxattr(fx_p("d"), "user.dir", buf, sizeof buf), 1);
    SYS(symlink("f", fx_p("sl")));
    SYS_ERR(lsetxattr(fx_p("sl"), "user.x", "1", 1, 0), EPERM);
    CHECK_EQ(getxattr(fx_p("sl"), "user.three", buf, sizeof buf), 1); /* follows */
    /* Name limits: 255 bytes in all. */
    char name[300] = "user.";
    memset(name + 5, 'n', 251);
    name[256] = '\0';
    SYS_ERR(setxattr(f, name, "1", 1, 0), ERANGE);
    name[255] = '\0';
    SYS(setxattr(f, name, "1", 1, 0));
    CHECK_EQ(getxattr(f, name, buf, sizeof buf), 1);
    SYS_ERR(setxattr(f, "user.", "1", 1, 0), EINVAL);
    SYS_ERR(getxattr(fx_p("missing"), "user.x", buf, sizeof buf), ENOENT);
    /* Permissions: reading needs read, changing needs write permission. */
    AS_EXPECT(&FX_U1, 0, .kind = FX_GETXATTR, .a = f, .b = "user.three");
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_SETXATTR, .a = f, .b = "user.u1", .data = "1");
    const char *p = mkfile("private", 0600, 0, 0);
    SYS(setxattr(p, "user.secret", "s", 1, 0));
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_GETXATTR, .a = p, .b = "user.secret");
    const char *mine = mkfile("mine", 0644, FX_U1.uid, FX_U1.gid);
    AS_EXPECT(&FX_U1, 0, .kind = FX_SETXATTR, .a = mine, .b = "user.u1", .data = "1");
    CHECK_EQ(getxattr(mine, "user.u1", buf, sizeof buf), 1);
    /* Trusted names are root's only. */
    AS_EXPECT(&FX_U1, EPERM, .kind = FX_SETXATTR, .a = mine, .b = "trusted.x", .data = "1");
    fx_end();
}

/* statfs and statvfs of the mount: sane, consistent numbers, the FUSE
 * magic on the mount, the same through a descriptor, and a capacity that
 * holds a written file. */
TEST_T(posix_statfs, 60)
{
    fx_begin();
    struct statfs sf;
    SYS(statfs(fx_root(), &sf));
    if (fx_mounted())
        CHECK_EQ((unsigned long)sf.f_type, MOUNT_FUSE_MAGIC);
    struct statvfs sv;
    SYS(statvfs(fx_root(), &sv));
    CHECK(sv.f_bsize > 0);
    CHECK(sv.f_frsize > 0);
    CHECK(sv.f_blocks > 0);
    CHECKF(sv.f_bfree <= sv.f_blocks, "bfree %llu > blocks %llu", (unsigned long long)sv.f_bfree,
           (unsigned long long)sv.f_blocks);
    CHECKF(sv.f_bavail <= sv.f_bfree, "bavail %llu > bfree %llu", (unsigned long long)sv.f_bavail,
           (unsigned long long)sv.f_bfree);
    CHECKF(sv.f_ffree <= sv.f_files, "ffree %llu > files %llu", (unsigned long long)sv.f_ffree,
           (unsigned long long)sv.f_files);
    CHECK_EQ(sv.f_namemax, 255);
    int fd = open(fx_dir(), O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0);
    struct statvfs sv2;
    SYS(fstatvfs(fd, &sv2));
    SYS(close(fd));
    CHECK_EQ(sv2.f_blocks, sv.f_blocks);
    CHECK_EQ(sv2.f_bsize, sv.f_bsize);
    /* Total capacity in bytes is at least the bytes of a written file. */
    enum { SIZE = 4 * 1024 * 1024 };
    char *data = calloc(1, SIZE);
    CHECK(data);
    memset(data, 0x5a, SIZE);
    fx_write_file(fx_p("f"), data, SIZE, 0644);
    free(data);
    SYS(statvfs(fx_dir(), &sv2));
    CHECK((unsigned long long)sv2.f_blocks * sv2.f_frsize >= SIZE);
    CHECK(sv2.f_bfree <= sv2.f_blocks);
    fx_end();
}
