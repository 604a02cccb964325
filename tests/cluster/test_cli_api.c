/* test_cli_api.c: libcairn's public API (include/cairn.h) against a real
 * local cluster (`cairn cluster up`): path resolution (symlinks, ELOOP at
 * CAIRN_SYMLINK_FOLLOW_MAX, ENAMETOOLONG, ENOTDIR, "." and ".."), open(2)
 * flags, reads and writes with positions, holes, close-to-open between two
 * clients, truncation, xattrs, times, renames, links, directory paging,
 * statfs, goals, credentials (permission errors) and the inspection calls. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cairn.h"
#include "test.h"
#include "test_cli.h"

#define CHECK_RC(expr, want)                                                               \
    do {                                                                                   \
        long check_rc_ = (long)(expr);                                                     \
        if (check_rc_ != (long)(want))                                                     \
            test_fail(__FILE__, __LINE__, "%s = %ld (%s), expected %ld", #expr, check_rc_, \
                      check_rc_ < 0 ? strerror((int)-check_rc_) : "ok", (long)(want));     \
    } while (0)

static struct cairn *connect_default(void)
{
    struct cairn_config cfg = {.cluster_file = getenv("CAIRN_CLUSTER"), .name = "api-test"};
    struct cairn *c = NULL;
    CHECK_RC(cairn_connect(&cfg, &c), 0);
    return c;
}

static void make_file(struct cairn *c, const char *path, const char *text, uint32_t mode)
{
    struct cairn_file *f;
    CHECK_RC(cairn_open(c, path, O_WRONLY | O_CREAT | O_TRUNC, mode, &f), 0);
    CHECK_RC(cairn_write(f, text, strlen(text)), (long)strlen(text));
    CHECK_RC(cairn_close(f), 0);
}

static void api_paths(struct cairn *c)
{
    struct cairn_stat st;
    CHECK_RC(cairn_mkdir(c, "/a", 0755), 0);
    CHECK_RC(cairn_mkdir(c, "a/b", 0755), 0); /* relative = from the root */
    CHECK_RC(cairn_symlink(c, "b", "/a/l"), 0);
    CHECK_RC(cairn_stat(c, "/a/l/", &st), 0);
    CHECK(S_ISDIR(st.mode));
    CHECK_RC(cairn_lstat(c, "/a/l", &st), 0);
    CHECK(S_ISLNK(st.mode) && st.size == 1);
    make_file(c, "/a/f", "data", 0644);
    CHECK_RC(cairn_stat(c, "/a/f/x", &st), -ENOTDIR);
    CHECK_RC(cairn_stat(c, "/a/f/", &st), -ENOTDIR);
    CHECK_RC(cairn_stat(c, "//a/./b/../f", &st), 0);
    CHECK(S_ISREG(st.mode) && st.size == 4);
    CHECK_RC(cairn_stat(c, "/..", &st), 0);
    CHECK(st.ino == 1);
    CHECK_RC(cairn_mkdir(c, "/a/.", 0755), -EEXIST);
    CHECK_RC(cairn_mkdir(c, "/", 0755), -EEXIST);
    CHECK_RC(cairn_rmdir(c, "/"), -EBUSY);
    CHECK_RC(cairn_rmdir(c, "/a/."), -EINVAL);
    CHECK_RC(cairn_unlink(c, "/a/b/"), -EISDIR);
    CHECK_RC(cairn_stat(c, "", &st), -ENOENT);
    /* a chain of links: 40 are followed, the 41st is ELOOP */
    char from[32], to[32];
    for (int i = 0; i <= 40; i++) {
        snprintf(from, sizeof from, "/s%d", i);
        snprintf(to, sizeof to, i == 40 ? "/a/f" : "s%d", i + 1);
        CHECK_RC(cairn_symlink(c, to, from), 0);
    }
    CHECK_RC(cairn_stat(c, "/s1", &st), 0);
    CHECK_RC(cairn_stat(c, "/s0", &st), -ELOOP);
    CHECK_RC(cairn_lstat(c, "/s0", &st), 0);
    CHECK_RC(cairn_symlink(c, "/self", "/self"), 0);
    CHECK_RC(cairn_stat(c, "/self/x", &st), -ELOOP);
    char name[300], path[5000];
    memset(name, 'n', sizeof name);
    name[0] = '/';
    name[257] = 0; /* a 256-byte component */
    CHECK_RC(cairn_mkdir(c, name, 0755), -ENAMETOOLONG);
    name[256] = 0; /* 255 bytes: fine */
    CHECK_RC(cairn_mkdir(c, name, 0755), 0);
    memset(path, 'p', sizeof path);
    for (size_t i = 0; i < sizeof path; i += 100)
        path[i] = '/';
    path[4096] = 0;
    CHECK_RC(cairn_stat(c, path, &st), -ENAMETOOLONG);
}

static void api_open_flags(struct cairn *c)
{
    struct cairn_file *f;
    CHECK_RC(cairn_open(c, "/o1", O_RDWR | O_CREAT | O_EXCL, 0600, &f), 0);
    CHECK_RC(cairn_close(f), 0);
    CHECK_RC(cairn_open(c, "/o1", O_RDWR | O_CREAT | O_EXCL, 0600, &f), -EEXIST);
    CHECK_RC(cairn_open(c, "/nope", O_RDONLY, 0, &f), -ENOENT);
    CHECK_RC(cairn_open(c, "/a", O_RDONLY, 0, &f), -EISDIR);
    CHECK_RC(cairn_open(c, "/a/f", O_RDONLY | O_DIRECTORY, 0, &f), -ENOTDIR);
    CHECK_RC(cairn_open(c, "/s1", O_RDONLY | O_NOFOLLOW, 0, &f), -ELOOP);
    /* creating through a dangling link makes its target */
    CHECK_RC(cairn_symlink(c, "made-by-link", "/a/dangling"), 0);
    CHECK_RC(cairn_open(c, "/a/dangling", O_WRONLY | O_CREAT | O_EXCL, 0644, &f), -EEXIST);
    CHECK_RC(cairn_open(c, "/a/dangling", O_WRONLY | O_CREAT, 0644, &f), 0);
    CHECK_RC(cairn_close(f), 0);
    struct cairn_stat st;
    CHECK_RC(cairn_lstat(c, "/a/made-by-link", &st), 0);
    CHECK(S_ISREG(st.mode) && (st.mode & 0777) == 0644);
    CHECK_RC(cairn_open(c, "/newdir/", O_WRONLY | O_CREAT, 0644, &f), -EISDIR);
}

static void api_read_write(struct cairn *c)
{
    struct cairn_file *f, *g;
    char buf[64] = {0};
    CHECK_RC(cairn_open(c, "/rw", O_RDWR | O_CREAT, 0644, &f), 0);
    CHECK_RC(cairn_write(f, "hello", 5), 5);
    CHECK_RC(cairn_lseek(f, 0, SEEK_SET), 0);
    CHECK_RC(cairn_read(f, buf, sizeof buf), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_RC(cairn_pwrite(f, "tail", 4, 1u << 20), 4); /* a hole in between */
    struct cairn_stat st;
    CHECK_RC(cairn_fstat(f, &st), 0);
    CHECK(st.size == (1u << 20) + 4);
    CHECK_RC(cairn_pread(f, buf, 8, 1000), 8);
    CHECK(memcmp(buf, "\0\0\0\0\0\0\0\0", 8) == 0);
    CHECK_RC(cairn_pread(f, buf, 8, (1u << 20) + 4), 0);
    CHECK_RC(cairn_lseek(f, -4, SEEK_END), (1 << 20));
    CHECK_RC(cairn_lseek(f, -1, SEEK_SET), -EINVAL);
    CHECK_RC(cairn_fsync(f), 0);
    /* close-to-open: another client sees what was fsynced */
    struct cairn *c2 = connect_default();
    CHECK_RC(cairn_open(c2, "/rw", O_RDONLY, 0, &g), 0);
    CHECK_RC(cairn_pread(g, buf, 4, 1u << 20), 4);
    CHECK(memcmp(buf, "tail", 4) == 0);
    CHECK_RC(cairn_write(g, "x", 1), -EBADF);
    CHECK_RC(cairn_close(g), 0);
    cairn_disconnect(c2);
    CHECK_RC(cairn_ftruncate(f, 3), 0);
    CHECK_RC(cairn_fstat(f, &st), 0);
    CHECK(st.size == 3);
    CHECK_RC(cairn_close(f), 0);
    CHECK_RC(cairn_open(c, "/rw", O_WRONLY | O_APPEND, 0, &f), 0);
    CHECK_RC(cairn_write(f, "LO", 2), 2);
    CHECK_RC(cairn_read(f, buf, 1), -EBADF);
    CHECK_RC(cairn_close(f), 0);
    CHECK_RC(cairn_open(c, "/rw", O_RDONLY, 0, &f), 0);
    CHECK_RC(cairn_read(f, buf, sizeof buf), 5);
    CHECK(memcmp(buf, "helLO", 5) == 0);
    CHECK_RC(cairn_close(f), 0);
    CHECK_RC(cairn_truncate(c, "/rw", 2), 0);
    CHECK_RC(cairn_stat(c, "/rw", &st), 0);
    CHECK(st.size == 2);
    CHECK_RC(cairn_truncate(c, "/a", 2), -EISDIR);
    CHECK_RC(cairn_open(c, "/rw", O_WRONLY | O_TRUNC, 0, &f), 0);
    CHECK_RC(cairn_close(f), 0);
    CHECK_RC(cairn_stat(c, "/rw", &st), 0);
    CHECK(st.size == 0);
}

static void api_attrs(struct cairn *c)
{
    char buf[64];
    CHECK_RC(cairn_setxattr(c, "/a/f", "user.color", "blue", 4, 0), 0);
    CHECK_RC(cairn_setxattr(c, "/a/f", "user.color", "red", 3, XATTR_CREATE), -EEXIST);
    CHECK_RC(cairn_setxattr(c, "/a/f", "user.size", "xl", 2, XATTR_REPLACE), -ENODATA);
    CHECK_RC(cairn_getxattr(c, "/a/f", "user.color", NULL, 0), 4);
    CHECK_RC(cairn_getxattr(c, "/a/f", "user.color", buf, 2), -ERANGE);
    CHECK_RC(cairn_getxattr(c, "/a/f", "user.color", buf, sizeof buf), 4);
    CHECK(memcmp(buf, "blue", 4) == 0);
    CHECK_RC(cairn_listxattr(c, "/a/f", buf, sizeof buf), 11);
    CHECK(strcmp(buf, "user.color") == 0);
    CHECK_RC(cairn_removexattr(c, "/a/f", "user.color"), 0);
    CHECK_RC(cairn_getxattr(c, "/a/f", "user.color", buf, sizeof buf), -ENODATA);
    struct timespec ts[2] = {{0, UTIME_OMIT}, {1000000000, 500}};
    struct cairn_stat before, st;
    CHECK_RC(cairn_stat(c, "/a/f", &before), 0);
    CHECK_RC(cairn_utimens(c, "/a/f", ts), 0);
    CHECK_RC(cairn_stat(c, "/a/f", &st), 0);
    CHECK(st.mtime.tv_sec == 1000000000 && st.mtime.tv_nsec == 500);
    CHECK(st.atime.tv_sec == before.atime.tv_sec && st.atime.tv_nsec == before.atime.tv_nsec);
    CHECK(st.version > before.version);
    CHECK_RC(cairn_chmod(c, "/a/f", 0600), 0);
    CHECK_RC(cairn_chown(c, "/a/f", 42, UINT32_MAX), 0);
    CHECK_RC(cairn_stat(c, "/a/f", &st), 0);
    CHECK((st.mode & 07777) == 0600 && st.uid == 42 && st.gid == 0);
    CHECK_RC(cairn_lchown(c, "/a/l", 7, 7), 0);
    CHECK_RC(cairn_lstat(c, "/a/l", &st), 0);
    CHECK(st.uid == 7);
    CHECK_RC(cairn_readlink(c, "/a/l", buf, sizeof buf), 1);
    CHECK(buf[0] == 'b');
    CHECK_RC(cairn_readlink(c, "/a/f", buf, sizeof buf), -EINVAL);
    uint32_t goal = 0;
    CHECK_RC(cairn_setgoal(c, "/a/f", 1), 0);
    CHECK_RC(cairn_getgoal(c, "/a/f", &goal), 0);
    CHECK(goal == 1);
    CHECK_RC(cairn_setgoal(c, "/a/f", 0), -EINVAL);
}

static void api_names(struct cairn *c)
{
    struct cairn_stat st;
    make_file(c, "/r1", "one", 0644);
    make_file(c, "/r2", "two", 0644);
    CHECK_RC(cairn_rename2(c, "/r1", "/r2", CAIRN_RENAME_NOREPLACE), -EEXIST);
    CHECK_RC(cairn_rename(c, "/r1", "/r2"), 0);
    CHECK_RC(cairn_stat(c, "/r1", &st), -ENOENT);
    CHECK_RC(cairn_stat(c, "/r2", &st), 0);
    CHECK(st.size == 3);
    CHECK_RC(cairn_rename(c, "/r2/", "/r3"), -ENOTDIR);
    CHECK_RC(cairn_link(c, "/r2", "/r2-link"), 0);
    CHECK_RC(cairn_stat(c, "/r2", &st), 0);
    CHECK(st.nlink == 2);
    CHECK_RC(cairn_link(c, "/r2", "/r2-link"), -EEXIST);
    CHECK_RC(cairn_unlink(c, "/r2"), 0);
    CHECK_RC(cairn_stat(c, "/r2-link", &st), 0);
    CHECK(st.nlink == 1);
    CHECK_RC(cairn_rmdir(c, "/a"), -ENOTEMPTY);
    /* listings longer than a page are returned whole, each entry once */
    CHECK_RC(cairn_mkdir(c, "/many", 0755), 0);
    for (int i = 0; i < 600; i++) {
        char p[32];
        snprintf(p, sizeof p, "/many/e%03d", i);
        CHECK_RC(cairn_mkdir(c, p, 0755), 0);
    }
    struct cairn_dir *d;
    struct cairn_dirent e;
    static char seen[600];
    int n = 0, rc;
    CHECK_RC(cairn_opendir(c, "/many", &d), 0);
    while ((rc = cairn_readdir(d, &e)) == 1) {
        n++;
        int k;
        if (sscanf(e.name, "e%d", &k) == 1) {
            CHECK(k >= 0 && k < 600 && !seen[k] && S_ISDIR(e.type));
            seen[k] = 1;
        }
    }
    CHECK_RC(rc, 0);
    CHECK(n == 602);
    cairn_closedir(d);
    CHECK_RC(cairn_opendir(c, "/a/f", &d), -ENOTDIR);
}

static void api_cluster(struct cairn *c)
{
    struct cairn_statfs fs;
    CHECK_RC(cairn_statfs(c, &fs), 0);
    CHECK(fs.nodes == 2 && fs.nodes_up == 2 && fs.capacity_bytes > 0 && fs.files > 600);
    struct cairn_member m[4];
    CHECK_RC(cairn_members(c, m, 4), 1);
    CHECK(m[0].reachable && m[0].role == 3 && m[0].voter && m[0].id == 1);
    struct cairn_node nodes[4];
    CHECK_RC(cairn_nodes(c, nodes, 4), 2);
    CHECK(nodes[0].state == 1 && nodes[1].state == 1 && nodes[0].id < nodes[1].id);
    struct cairn_chunk ch[4];
    CHECK_RC(cairn_file_chunks(c, "/a/made-by-link", 0, ch, 4), 0); /* empty: no chunk */
    make_file(c, "/chunked", "bytes", 0644);
    CHECK_RC(cairn_file_chunks(c, "/chunked", 0, ch, 4), 1);
    CHECK(ch[0].id != 0 && ch[0].length == 5 && ch[0].n_replicas == 2);
    CHECK_RC(cairn_file_chunks(c, "/a", 0, ch, 4), -EISDIR);
}

/* A caller who is not root meets the permission checks. */
static void api_credentials(struct cairn *c)
{
    struct cairn_cred root, user = {.uid = 1000, .gid = 1000};
    cairn_get_cred(c, &root);
    make_file(c, "/secret-file", "s", 0600);
    CHECK_RC(cairn_mkdir(c, "/open", 0777), 0);
    CHECK_RC(cairn_chmod(c, "/open", 0777), 0);
    CHECK_RC(cairn_set_cred(c, &user), 0);
    struct cairn_file *f;
    CHECK_RC(cairn_mkdir(c, "/denied", 0755), -EACCES);
    CHECK_RC(cairn_open(c, "/secret-file", O_RDONLY, 0, &f), -EACCES);
    CHECK_RC(cairn_unlink(c, "/secret-file"), -EACCES);
    CHECK_RC(cairn_chmod(c, "/secret-file", 0777), -EPERM);
    CHECK_RC(cairn_open(c, "/open/mine", O_RDWR | O_CREAT, 0600, &f), 0);
    CHECK_RC(cairn_write(f, "ok", 2), 2);
    CHECK_RC(cairn_close(f), 0);
    struct cairn_stat st;
    CHECK_RC(cairn_stat(c, "/open/mine", &st), 0);
    CHECK(st.uid == 1000 && st.gid == 1000 && st.size == 2);
    CHECK_RC(cairn_set_cred(c, &root), 0);
    CHECK_RC(cairn_unlink(c, "/secret-file"), 0);
}

TEST_T(cli_libcairn_api, 180)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/c", test_tmpdir());
    cli_up(dir, 1, 2);
    struct cairn *c = connect_default();
    api_paths(c);
    api_open_flags(c);
    api_read_write(c);
    api_attrs(c);
    api_names(c);
    api_cluster(c);
    if (geteuid() == 0)
        api_credentials(c);
    cairn_disconnect(c);
    /* connect errors: no file, and a file naming no server */
    struct cairn_config none = {.cluster_file = "/nonexistent/cluster.conf"};
    CHECK_RC(cairn_connect(&none, &c), -ENOENT);
    cli_down();
}
