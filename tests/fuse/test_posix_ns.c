/* test_posix_ns.c: POSIX namespace behaviour on the mount (what pjdfstest's
 * mkdir, rmdir, link, unlink, symlink and mkfifo groups check): results,
 * nlink counts and the error codes ENAMETOOLONG, EEXIST, ENOENT, ENOTDIR,
 * EISDIR, ENOTEMPTY, ELOOP, EPERM, EINVAL. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx.h"

/* A name of n bytes: 'a'..'z' repeated, distinct per `tag`. */
static const char *name_of(size_t n, char tag)
{
    static char ring[4][NAME_MAX + 2];
    static unsigned next;
    char *s = ring[next++ % 4];
    CHECK(n <= NAME_MAX + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + (i + (size_t)tag) % 26);
    s[n] = '\0';
    return s;
}

/* mkdir: modes, nlink of the new directory (2) and of its parent (+1 per
 * subdirectory, files do not count), and every error of pjdfstest's mkdir. */
TEST_T(posix_mkdir, 60)
{
    fx_begin();
    struct stat p0 = fx_lstat(fx_dir());
    CHECK_EQ(p0.st_nlink, 2);
    SYS(mkdir(fx_p("d"), 0755));
    struct stat d = fx_lstat(fx_p("d"));
    CHECK(S_ISDIR(d.st_mode));
    CHECK_EQ(d.st_mode & 07777, 0755);
    CHECK_EQ(d.st_uid, 0);
    CHECK_EQ(d.st_gid, 0);
    CHECK_EQ(d.st_nlink, 2);
    CHECK_EQ(fx_lstat(fx_dir()).st_nlink, 3);
    /* The sticky bit is kept; the umask applies. */
    SYS(mkdir(fx_p("sticky"), 01777));
    CHECK_EQ(fx_lstat(fx_p("sticky")).st_mode & 07777, 01777);
    mode_t old = umask(022);
    SYS(mkdir(fx_p("masked"), 0777));
    umask(old);
    CHECK_EQ(fx_lstat(fx_p("masked")).st_mode & 07777, 0755);
    /* Subdirectories count in the parent's nlink, files and symlinks not. */
    SYS(mkdir(fx_p("d/a"), 0700));
    SYS(mkdir(fx_p("d/b"), 0700));
    fx_write_file(fx_p("d/f"), "x", 1, 0644);
    SYS(symlink("a", fx_p("d/l")));
    CHECK_EQ(fx_lstat(fx_p("d")).st_nlink, 4);
    /* Errors. */
    SYS_ERR(mkdir(fx_p("d"), 0755), EEXIST);
    SYS_ERR(mkdir(fx_p("d/f"), 0755), EEXIST);
    SYS_ERR(mkdir(fx_p("d/l"), 0755), EEXIST);
    SYS_ERR(mkdir(fx_p("d/f/x"), 0755), ENOTDIR);
    SYS_ERR(mkdir(fx_p("missing/x"), 0755), ENOENT);
    SYS_ERR(mkdir(fx_p("%s", name_of(NAME_MAX + 1, 0)), 0755), ENAMETOOLONG);
    SYS(mkdir(fx_p("%s", name_of(NAME_MAX, 0)), 0755));
    CHECK(S_ISDIR(fx_lstat(fx_p("%s", name_of(NAME_MAX, 0))).st_mode));
    SYS_ERR(mkdir(fx_p("d/."), 0755), EEXIST);
    SYS_ERR(mkdir(fx_p("d/.."), 0755), EEXIST);
    fx_end();
}

/* rmdir: parent nlink back, and ENOTEMPTY, ENOTDIR, ENOENT, EINVAL ("."),
 * ENOTEMPTY (".." on Linux), ENAMETOOLONG. */
TEST_T(posix_rmdir, 60)
{
    fx_begin();
    SYS(mkdir(fx_p("d"), 0755));
    SYS(mkdir(fx_p("d/sub"), 0755));
    fx_write_file(fx_p("f"), "x", 1, 0644);
    SYS(mkdir(fx_p("e"), 0755));
    fx_write_file(fx_p("e/f"), "x", 1, 0644);
    CHECK_EQ(fx_lstat(fx_dir()).st_nlink, 4);
    SYS_ERR(rmdir(fx_p("d")), ENOTEMPTY);
    SYS_ERR(rmdir(fx_p("e")), ENOTEMPTY);
    SYS_ERR(rmdir(fx_p("f")), ENOTDIR);
    SYS_ERR(rmdir(fx_p("f/x")), ENOTDIR);
    SYS_ERR(rmdir(fx_p("nothing")), ENOENT);
    SYS_ERR(rmdir(fx_p("d/sub/.")), EINVAL);
    SYS_ERR(rmdir(fx_p("d/sub/..")), ENOTEMPTY);
    SYS_ERR(rmdir(fx_p("%s", name_of(NAME_MAX + 1, 1))), ENAMETOOLONG);
    SYS(rmdir(fx_p("d/sub")));
    CHECK_EQ(fx_lstat(fx_p("d")).st_nlink, 2);
    SYS(rmdir(fx_p("d")));
    SYS_ERR(lstat(fx_p("d"), &(struct stat){0}), ENOENT);
    CHECK_EQ(fx_lstat(fx_dir()).st_nlink, 3);
    /* A symlink to a directory is not a directory to rmdir. */
    SYS(symlink("e", fx_p("le")));
    SYS_ERR(rmdir(fx_p("le")), ENOTDIR);
    SYS(unlink(fx_p("e/f")));
    SYS(rmdir(fx_p("e")));
    CHECK_EQ(fx_lstat(fx_dir()).st_nlink, 2);
    fx_end();
}

/* link and unlink: one inode under several names, nlink counted up and
 * down, the content shared; errors EEXIST, EPERM (a directory), ENOENT,
 * ENOTDIR, EISDIR, ENAMETOOLONG. */
TEST_T(posix_link_unlink, 60)
{
    fx_begin();
    fx_write_file(fx_p("f"), "hello", 5, 0644);
    struct stat f0 = fx_lstat(fx_p("f"));
    CHECK_EQ(f0.st_nlink, 1);
    SYS(mkdir(fx_p("d"), 0755));
    SYS(link(fx_p("f"), fx_p("g")));
    SYS(link(fx_p("f"), fx_p("d/h")));
    struct stat g = fx_lstat(fx_p("g"));
    CHECK_EQ_U64(g.st_ino, f0.st_ino);
    CHECK_EQ(g.st_nlink, 3);
    CHECK_EQ(fx_lstat(fx_p("f")).st_nlink, 3);
    CHECK_EQ(fx_lstat(fx_p("d/h")).st_nlink, 3);
    /* A hard link is not a subdirectory: d's nlink stays 2. */
    CHECK_EQ(fx_lstat(fx_p("d")).st_nlink, 2);
    /* Writes through one name are seen through the others. */
    fx_write_file(fx_p("g"), "world!", 6, 0644);
    char buf[16];
    CHECK_EQ(fx_read_file(fx_p("d/h"), buf, sizeof buf), 6);
    CHECK_MEM_EQ(buf, "world!", 6);
    SYS(unlink(fx_p("f")));
    SYS_ERR(lstat(fx_p("f"), &(struct stat){0}), ENOENT);
    CHECK_EQ(fx_lstat(fx_p("g")).st_nlink, 2);
    SYS(unlink(fx_p("d/h")));
    CHECK_EQ(fx_lstat(fx_p("g")).st_nlink, 1);
    CHECK_EQ(fx_read_file(fx_p("g"), buf, sizeof buf), 6);
    /* Many links. */
    for (int i = 0; i < 20; i++)
        SYS(link(fx_p("g"), fx_p("l%d", i)));
    CHECK_EQ(fx_lstat(fx_p("l7")).st_nlink, 21);
    for (int i = 0; i < 20; i++)
        SYS(unlink(fx_p("l%d", i)));
    CHECK_EQ(fx_lstat(fx_p("g")).st_nlink, 1);
    /* link errors. */
    fx_write_file(fx_p("other"), "o", 1, 0644);
    SYS_ERR(link(fx_p("g"), fx_p("other")), EEXIST);
    SYS_ERR(link(fx_p("g"), fx_p("d")), EEXIST);
    SYS_ERR(link(fx_p("d"), fx_p("dlink")), EPERM);
    SYS_ERR(link(fx_p("missing"), fx_p("x")), ENOENT);
    SYS_ERR(link(fx_p("g"), fx_p("missing/x")), ENOENT);
    SYS_ERR(link(fx_p("g"), fx_p("other/x")), ENOTDIR);
    SYS_ERR(link(fx_p("g"), fx_p("%s", name_of(NAME_MAX + 1, 2))), ENAMETOOLONG);
    SYS(link(fx_p("g"), fx_p("%s", name_of(NAME_MAX, 2))));
    CHECK_EQ(fx_lstat(fx_p("g")).st_nlink, 2);
    /* unlink errors. */
    SYS_ERR(unlink(fx_p("d")), EISDIR);
    SYS_ERR(unlink(fx_p("missing")), ENOENT);
    SYS_ERR(unlink(fx_p("other/x")), ENOTDIR);
    SYS_ERR(unlink(fx_p("%s", name_of(NAME_MAX + 1, 3))), ENAMETOOLONG);
    fx_end();
}

/* symlink, readlink, lstat: the link's own attributes, following and not
 * following, dangling links, loops (ELOOP), O_NOFOLLOW, target lengths. */
TEST_T(posix_symlink, 60)
{
    fx_begin();
    SYS(mkdir(fx_p("d"), 0755));
    fx_write_file(fx_p("d/f"), "data", 4, 0600);
    SYS(symlink("d/f", fx_p("s")));
    struct stat l = fx_lstat(fx_p("s"));
    CHECK(S_ISLNK(l.st_mode));
    CHECK_EQ(l.st_size, 3);
    CHECK_EQ(l.st_nlink, 1);
    struct stat t;
    SYS(stat(fx_p("s"), &t));
    CHECK_EQ_U64(t.st_ino, fx_lstat(fx_p("d/f")).st_ino);
    char buf[PATH_MAX + 1];
    ssize_t n = readlink(fx_p("s"), buf, sizeof buf);
    CHECK_EQ(n, 3);
    CHECK_MEM_EQ(buf, "d/f", 3);
    /* A short buffer truncates, without an error. */
    CHECK_EQ(readlink(fx_p("s"), buf, 2), 2);
    CHECK_EQ(fx_read_file(fx_p("s"), buf, sizeof buf), 4);
    SYS_ERR(readlink(fx_p("d/f"), buf, sizeof buf), EINVAL);
    SYS_ERR(readlink(fx_p("nothing"), buf, sizeof buf), ENOENT);
    /* Through a link to a directory. */
    SYS(symlink("d", fx_p("sd")));
    fx_write_file(fx_p("sd/g"), "g", 1, 0644);
    CHECK_EQ(fx_lstat(fx_p("d/g")).st_size, 1);
    /* Dangling. */
    SYS(symlink("nowhere", fx_p("dang")));
    SYS_ERR(stat(fx_p("dang"), &t), ENOENT);
    CHECK(S_ISLNK(fx_lstat(fx_p("dang")).st_mode));
    /* O_CREAT through a dangling link creates the target (Linux). */
    int fd = open(fx_p("dang"), O_WRONLY | O_CREAT, 0644);
    CHECKF(fd >= 0, "open(O_CREAT) through a dangling link: %s", fx_errname(errno));
    SYS(close(fd));
    CHECK(S_ISREG(fx_lstat(fx_p("nowhere")).st_mode));
    /* Loops. */
    SYS(symlink("loop2", fx_p("loop1")));
    SYS(symlink("loop1", fx_p("loop2")));
    SYS(symlink("self", fx_p("self")));
    SYS_ERR(stat(fx_p("loop1"), &t), ELOOP);
    SYS_ERR(open(fx_p("self"), O_RDONLY), ELOOP);
    SYS_ERR(stat(fx_p("self/x"), &t), ELOOP);
    SYS_ERR(open(fx_p("s"), O_RDONLY | O_NOFOLLOW), ELOOP);
    /* Errors of symlink itself. */
    SYS_ERR(symlink("x", fx_p("s")), EEXIST);
    SYS_ERR(symlink("x", fx_p("d")), EEXIST);
    SYS_ERR(symlink("x", fx_p("missing/s")), ENOENT);
    SYS_ERR(symlink("x", fx_p("d/f/s")), ENOTDIR);
    SYS_ERR(symlink("x", fx_p("%s", name_of(NAME_MAX + 1, 4))), ENAMETOOLONG);
    SYS_ERR(symlink("", fx_p("empty")), ENOENT);
    /* The longest target (PATH_MAX - 1 bytes) is kept whole. */
    char *target = malloc(PATH_MAX + 1);
    CHECK(target);
    for (size_t i = 0; i < PATH_MAX; i++)
        target[i] = (i % 64 == 63) ? '/' : (char)('a' + i % 26);
    target[PATH_MAX - 1] = '\0';
    SYS(symlink(target, fx_p("long")));
    CHECK_EQ(fx_lstat(fx_p("long")).st_size, PATH_MAX - 1);
    CHECK_EQ(readlink(fx_p("long"), buf, sizeof buf), PATH_MAX - 1);
    CHECK_MEM_EQ(buf, target, PATH_MAX - 1);
    target[PATH_MAX - 1] = 'x';
    target[PATH_MAX] = '\0';
    SYS_ERR(symlink(target, fx_p("toolong")), ENAMETOOLONG);
    free(target);
    /* unlink removes the link, not the target. */
    SYS(unlink(fx_p("s")));
    CHECK_EQ(fx_lstat(fx_p("d/f")).st_size, 4);
    fx_end();
}

/* Deep paths: a chain of directories whose relative path reaches just
 * below PATH_MAX resolves; one byte more is ENAMETOOLONG. */
TEST_T(posix_path_max, 60)
{
    fx_begin();
    int dir = open(fx_dir(), O_RDONLY | O_DIRECTORY);
    CHECK(dir >= 0);
    /* 200-byte components: 20 of them with their slashes make 4020 bytes. */
    char path[PATH_MAX + 300];
    size_t len = 0;
    const char *comp = name_of(200, 5);
    for (int i = 0; i < 20; i++) {
        len += (size_t)snprintf(path + len, sizeof path - len, "%s%s", i ? "/" : "", comp);
        SYS(mkdirat(dir, path, 0755));
    }
    CHECK_EQ(len, 20 * 201 - 1);
    /* Add a file whose name brings the path to PATH_MAX - 1 bytes. */
    size_t rest = PATH_MAX - 1 - len - 1;
    snprintf(path + len, sizeof path - len, "/%s", name_of(rest, 6));
    CHECK_EQ(strlen(path), PATH_MAX - 1);
    int fd = openat(dir, path, O_WRONLY | O_CREAT, 0644);
    CHECKF(fd >= 0, "openat of a %zu-byte path: %s", strlen(path), fx_errname(errno));
    SYS(close(fd));
    struct stat st;
    SYS(fstatat(dir, path, &st, AT_SYMLINK_NOFOLLOW));
    CHECK(S_ISREG(st.st_mode));
    /* PATH_MAX bytes and more (the terminating NUL does not fit). */
    snprintf(path + len, sizeof path - len, "/%s", name_of(rest + 1, 6));
    CHECK_EQ(strlen(path), PATH_MAX);
    SYS_ERR(fstatat(dir, path, &st, AT_SYMLINK_NOFOLLOW), ENAMETOOLONG);
    SYS_ERR(openat(dir, path, O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
    SYS_ERR(mkdirat(dir, path, 0755), ENAMETOOLONG);
    SYS(close(dir));
    fx_end();
}

/* Entries of a directory read by readdir, sorted into `out` (names only,
 * '.' and '..' included). Returns the count. */
static size_t list_dir(const char *path, char (*out)[NAME_MAX + 1], size_t max)
{
    DIR *d = opendir(path);
    CHECKF(d != NULL, "opendir %s: %s", path, fx_errname(errno));
    size_t n = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        CHECKF(n < max, "more than %zu entries in %s", max, path);
        snprintf(out[n++], NAME_MAX + 1, "%s", e->d_name);
    }
    CHECKF(errno == 0, "readdir %s: %s", path, fx_errname(errno));
    closedir(d);
    qsort(out, n, sizeof out[0], (int (*)(const void *, const void *))strcmp);
    return n;
}

/* readdir lists exactly the entries, '.' and '..' included, each once, in
 * a directory large enough to need several reads; telldir/seekdir and
 * rewinddir give the same entries again; removals and renames are seen by
 * the next listing. */
TEST_T(posix_readdir, 90)
{
    fx_begin();
    enum { N = 300 };
    static char got[N + 16][NAME_MAX + 1];
    static char want[N + 16][NAME_MAX + 1];
    SYS(mkdir(fx_p("d"), 0755));
    size_t nw = 0;
    snprintf(want[nw++], NAME_MAX + 1, ".");
    snprintf(want[nw++], NAME_MAX + 1, "..");
    for (int i = 0; i < N; i++) {
        /* Long names (up to 255 bytes) make the listing span several pages. */
        char name[NAME_MAX + 1];
        snprintf(name, sizeof name, "%03d-%s", i, name_of((size_t)(i % 200) + 1, (char)i));
        snprintf(want[nw++], NAME_MAX + 1, "%s", name);
        if (i % 10 == 0)
            SYS(mkdir(fx_p("d/%s", name), 0755));
        else if (i % 10 == 1)
            SYS(symlink("target", fx_p("d/%s", name)));
        else
            fx_write_file(fx_p("d/%s", name), "", 0, 0644);
    }
    qsort(want, nw, sizeof want[0], (int (*)(const void *, const void *))strcmp);
    size_t ng = list_dir(fx_p("d"), got, N + 16);
    CHECK_EQ(ng, nw);
    for (size_t i = 0; i < nw; i++)
        CHECK_STR_EQ(got[i], want[i]);
    /* d_type and d_ino agree with lstat. */
    DIR *d = opendir(fx_p("d"));
    CHECK(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st = fx_lstat(fx_p("d/%s", e->d_name));
        CHECKF(e->d_ino == st.st_ino, "%s: d_ino %llu, st_ino %llu", e->d_name,
               (unsigned long long)e->d_ino, (unsigned long long)st.st_ino);
        if (e->d_type != DT_UNKNOWN)
            CHECKF((mode_t)DTTOIF(e->d_type) == (st.st_mode & S_IFMT), "%s: d_type %u", e->d_name,
                   (unsigned)e->d_type);
    }
    closedir(d);
    /* telldir/seekdir: back to a position, the same entries follow. */
    d = opendir(fx_p("d"));
    CHECK(d);
    for (int i = 0; i < 100; i++)
        CHECK(readdir(d) != NULL);
    long pos = telldir(d);
    CHECK(pos >= 0);
    size_t n1 = 0, n2 = 0;
    while ((e = readdir(d)) != NULL)
        snprintf(got[n1++], NAME_MAX + 1, "%s", e->d_name);
    seekdir(d, pos);
    while ((e = readdir(d)) != NULL) {
        CHECKF(n2 < n1, "more entries after seekdir than before");
        CHECK_STR_EQ(e->d_name, got[n2]);
        n2++;
    }
    CHECK_EQ(n2, n1);
    CHECK_EQ(n1, nw - 100);
    rewinddir(d);
    size_t n3 = 0;
    while (readdir(d) != NULL)
        n3++;
    CHECK_EQ(n3, nw);
    closedir(d);
    /* An empty directory lists '.' and '..' only. */
    SYS(mkdir(fx_p("empty"), 0755));
    CHECK_EQ(list_dir(fx_p("empty"), got, N + 16), 2);
    CHECK_STR_EQ(got[0], ".");
    CHECK_STR_EQ(got[1], "..");
    /* After removals and a rename. */
    SYS(unlink(fx_p("d/%s", want[5])));
    SYS(rename(fx_p("d/%s", want[6]), fx_p("d/zz-renamed")));
    snprintf(want[5], NAME_MAX + 1, "zz-renamed");
    snprintf(want[6], NAME_MAX + 1, "%s", want[nw - 1]);
    nw--;
    qsort(want, nw, sizeof want[0], (int (*)(const void *, const void *))strcmp);
    ng = list_dir(fx_p("d"), got, N + 16);
    CHECK_EQ(ng, nw);
    for (size_t i = 0; i < nw; i++)
        CHECK_STR_EQ(got[i], want[i]);
    SYS_ERR(open(fx_p("d/zz-renamed/"), O_RDONLY), ENOTDIR);
    SYS_ERR(open(fx_p("d/zz-renamed"), O_RDONLY | O_DIRECTORY), ENOTDIR);
    fx_end();
}

/* Names with every byte but '/' and NUL are names: spaces, newlines,
 * UTF-8, a leading dash, high bytes. */
TEST_T(posix_names, 60)
{
    fx_begin();
    const char *names[] = {"a b",          "line\nbreak", "\xc3\xa9t\xc3\xa9", "-dash",
                           "\x01\x7f\xff", "...",         ".hidden",           "tab\there"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        fx_write_file(fx_p("%s", names[i]), names[i], strlen(names[i]), 0644);
        char buf[32];
        CHECK_EQ(fx_read_file(fx_p("%s", names[i]), buf, sizeof buf), strlen(names[i]));
        CHECK_MEM_EQ(buf, names[i], strlen(names[i]));
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        SYS(unlink(fx_p("%s", names[i])));
    fx_end();
}

/* mkfifo: cairn keeps regular files, directories and symlinks only; the
 * mount answers mknod of a FIFO with EPERM (docs/fuse.md). A local file
 * system makes the FIFO. */
TEST_T(posix_mkfifo, 60)
{
    fx_begin();
    if (fx_mounted()) {
        SYS_ERR(mkfifo(fx_p("fifo"), 0644), EPERM);
        SYS_ERR(lstat(fx_p("fifo"), &(struct stat){0}), ENOENT);
        SYS_ERR(mknod(fx_p("sock"), S_IFSOCK | 0644, 0), EPERM);
    } else {
        SYS(mkfifo(fx_p("fifo"), 0644));
        CHECK(S_ISFIFO(fx_lstat(fx_p("fifo")).st_mode));
        SYS(unlink(fx_p("fifo")));
    }
    /* mknod of a regular file is a create. */
    SYS(mknod(fx_p("reg"), S_IFREG | 0640, 0));
    struct stat st = fx_lstat(fx_p("reg"));
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ(st.st_mode & 07777, 0640);
    CHECK_EQ(st.st_size, 0);
    fx_end();
}
