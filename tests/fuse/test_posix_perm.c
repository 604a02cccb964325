/* test_posix_perm.c: permissions on the mount, checked as ordinary users
 * against files root made (pjdfstest's chmod, chown and the EACCES/EPERM
 * parts of every group): who may chmod and chown what, which set-id bits
 * fall, read/write/search permission of owner, group (primary and
 * supplementary) and others, the sticky bit, set-group-ID directories. The
 * mount is root's, shared with allow_other; every case runs its users'
 * calls through fx_as (a forked child with setuid). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx.h"

#define KEEP_UID ((uid_t)-1)
#define KEEP_GID ((gid_t)-1)

static mode_t mode_of(const char *path) { return fx_lstat(path).st_mode & 07777; }

/* A file made by root with exactly this mode and owner. */
static const char *mkfile(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
    const char *p = fx_p("%s", name);
    fx_write_file(p, "content", 7, 0600);
    SYS(chown(p, uid, gid));
    SYS(chmod(p, mode));
    return p;
}

static const char *mkdir_as_root(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
    const char *p = fx_p("%s", name);
    SYS(mkdir(p, 0700));
    SYS(chown(p, uid, gid));
    SYS(chmod(p, mode));
    return p;
}

/* chmod: root any bits; the owner may, others EPERM; a non-root owner
 * outside the file's group loses S_ISGID silently; ENOENT, ENOTDIR. */
TEST_T(posix_chmod, 60)
{
    fx_begin();
    const char *f = mkfile("f", 0644, 0, 0);
    SYS(chmod(f, 07777));
    CHECK_EQ(mode_of(f), 07777);
    SYS(chmod(f, 0));
    CHECK_EQ(mode_of(f), 0);
    struct stat before = fx_lstat(f);
    usleep(20000);
    SYS(chmod(f, 0640));
    struct stat after = fx_lstat(f);
    CHECKF(after.st_ctim.tv_sec > before.st_ctim.tv_sec ||
               (after.st_ctim.tv_sec == before.st_ctim.tv_sec &&
                after.st_ctim.tv_nsec > before.st_ctim.tv_nsec),
           "chmod did not advance ctime");
    const char *u = mkfile("u1file", 0644, FX_U1.uid, FX_U1.gid);
    AS_EXPECT(&FX_U1, 0, .kind = FX_CHMOD, .a = u, .mode = 0600);
    CHECK_EQ(mode_of(u), 0600);
    AS_EXPECT(&FX_U2, EPERM, .kind = FX_CHMOD, .a = u, .mode = 0666);
    AS_EXPECT(&FX_U3, EPERM, .kind = FX_CHMOD, .a = f, .mode = 0666);
    CHECK_EQ(mode_of(u), 0600);
    /* Set-group-ID: kept in the owner's group, dropped outside it. */
    AS_EXPECT(&FX_U1, 0, .kind = FX_CHMOD, .a = u, .mode = 02755);
    CHECK_EQ(mode_of(u), 02755);
    SYS(chown(u, KEEP_UID, 5555));
    AS_EXPECT(&FX_U1, 0, .kind = FX_CHMOD, .a = u, .mode = 02755);
    CHECK_EQ(mode_of(u), 0755);
    AS_EXPECT(&FX_U1, 0, .kind = FX_CHMOD, .a = u, .mode = 04755);
    CHECK_EQ(mode_of(u), 04755);
    /* chmod follows a symlink to its target. */
    SYS(symlink("f", fx_p("sl")));
    SYS(chmod(fx_p("sl"), 0604));
    CHECK_EQ(mode_of(f), 0604);
    /* Directories: the same rules. */
    const char *d = mkdir_as_root("d", 0755, FX_U1.uid, FX_U1.gid);
    AS_EXPECT(&FX_U1, 0, .kind = FX_CHMOD, .a = d, .mode = 01777);
    CHECK_EQ(mode_of(d), 01777);
    AS_EXPECT(&FX_U2, EPERM, .kind = FX_CHMOD, .a = d, .mode = 0755);
    SYS_ERR(chmod(fx_p("missing"), 0644), ENOENT);
    SYS_ERR(chmod(fx_p("f/x"), 0644), ENOTDIR);
    fx_end();
}

/* chown: root anything; the owner only to a group he is in (primary or
 * supplementary) and only to his own uid; others EPERM; a successful
 * chown drops S_ISUID, and S_ISGID when group-executable, for root too;
 * directories keep their bits; lchown changes the link. */
TEST_T(posix_chown, 60)
{
    fx_begin();
    const char *f = mkfile("f", 0644, 0, 0);
    SYS(chown(f, 4242, 4343));
    struct stat st = fx_lstat(f);
    CHECK_EQ(st.st_uid, 4242);
    CHECK_EQ(st.st_gid, 4343);
    SYS(chown(f, KEEP_UID, KEEP_GID));
    CHECK_EQ(fx_lstat(f).st_uid, 4242);
    /* The owner (U1: groups 4242, 4343). */
    AS_EXPECT(&FX_U1, 0, .kind = FX_CHOWN, .a = f, .uid = 4242, .gid = KEEP_GID);
    AS_EXPECT(&FX_U1, EPERM, .kind = FX_CHOWN, .a = f, .uid = 4343, .gid = KEEP_GID);
    AS_EXPECT(&FX_U1, EPERM, .kind = FX_CHOWN, .a = f, .uid = 0, .gid = KEEP_GID);
    AS_EXPECT(&FX_U1, 0, .kind = FX_CHOWN, .a = f, .uid = KEEP_UID, .gid = 4242);
    CHECK_EQ(fx_lstat(f).st_gid, 4242);
    AS_EXPECT(&FX_U1, 0, .kind = FX_CHOWN, .a = f, .uid = KEEP_UID, .gid = 4343);
    CHECK_EQ(fx_lstat(f).st_gid, 4343);
    AS_EXPECT(&FX_U1, EPERM, .kind = FX_CHOWN, .a = f, .uid = KEEP_UID, .gid = 5555);
    AS_EXPECT(&FX_U1, EPERM, .kind = FX_CHOWN, .a = f, .uid = KEEP_UID, .gid = 0);
    AS_EXPECT(&FX_U1, 0, .kind = FX_CHOWN, .a = f, .uid = KEEP_UID, .gid = KEEP_GID);
    /* Not the owner. */
    AS_EXPECT(&FX_U3, EPERM, .kind = FX_CHOWN, .a = f, .uid = KEEP_UID, .gid = 4343);
    AS_EXPECT(&FX_U2, EPERM, .kind = FX_CHOWN, .a = f, .uid = 65534, .gid = KEEP_GID);
    st = fx_lstat(f);
    CHECK_EQ(st.st_uid, 4242);
    CHECK_EQ(st.st_gid, 4343);
    /* Set-id bits fall on chown by the owner. */
    SYS(chmod(f, 06755));
    AS_EXPECT(&FX_U1, 0, .kind = FX_CHOWN, .a = f, .uid = KEEP_UID, .gid = 4242);
    CHECK_EQ(mode_of(f), 0755);
    /* By root too; S_ISGID without group-execute stays. */
    SYS(chmod(f, 06755));
    SYS(chown(f, 0, 0));
    CHECK_EQ(mode_of(f), 0755);
    SYS(chmod(f, 06745));
    SYS(chown(f, 4242, KEEP_GID));
    CHECK_EQ(mode_of(f), 02745);
    /* A directory keeps them. */
    const char *d = mkdir_as_root("d", 06755, 0, 0);
    SYS(chown(d, 4242, 4242));
    CHECK_EQ(mode_of(d), 06755);
    /* lchown changes the symlink, not its target; chown follows. */
    const char *t = mkfile("target", 0644, 0, 0);
    SYS(symlink("target", fx_p("sl")));
    SYS(lchown(fx_p("sl"), 4242, 4242));
    CHECK_EQ(fx_lstat(fx_p("sl")).st_uid, 4242);
    CHECK_EQ(fx_lstat(t).st_uid, 0);
    SYS(chown(fx_p("sl"), 4343, KEEP_GID));
    CHECK_EQ(fx_lstat(t).st_uid, 4343);
    CHECK_EQ(fx_lstat(fx_p("sl")).st_uid, 4242);
    SYS_ERR(chown(fx_p("missing"), 1, 1), ENOENT);
    fx_end();
}

/* Read and write permission by class: the owner's bits decide for the
 * owner even when others have more; a supplementary group counts; root
 * reads and writes anything but executes only with some x bit. */
TEST_T(posix_access_files, 60)
{
    fx_begin();
    const char *r0600 = mkfile("r0600", 0600, 0, 0);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_READ, .a = r0600);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_WRITE, .a = r0600, .data = "x");
    const char *r0644 = mkfile("r0644", 0644, 0, 0);
    AS_EXPECT(&FX_U1, 0, .kind = FX_READ, .a = r0644);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_WRITE, .a = r0644, .data = "x");
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_OPEN, .a = r0644, .flags = O_RDONLY | O_TRUNC);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_TRUNCATE, .a = r0644, .len = 1);
    AS_EXPECT(&FX_U1, 0, .kind = FX_ACCESS, .a = r0644, .flags = R_OK);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_ACCESS, .a = r0644, .flags = W_OK);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_ACCESS, .a = r0644, .flags = X_OK);
    CHECK_EQ(fx_lstat(r0644).st_size, 7);
    /* The owner class decides for the owner. */
    const char *o0066 = mkfile("o0066", 0066, FX_U1.uid, FX_U1.gid);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_READ, .a = o0066);
    AS_EXPECT(&FX_U2, 0, .kind = FX_READ, .a = o0066);
    AS_EXPECT(&FX_U2, 0, .kind = FX_WRITE, .a = o0066, .data = "y");
    /* Group: primary (U3) and supplementary (U1) membership of 4343. */
    const char *g0060 = mkfile("g0060", 0060, 0, 4343);
    AS_EXPECT(&FX_U1, 0, .kind = FX_READ, .a = g0060);
    AS_EXPECT(&FX_U3, 0, .kind = FX_WRITE, .a = g0060, .data = "z");
    AS_EXPECT(&FX_U2, EACCES, .kind = FX_READ, .a = g0060);
    /* Others' write. */
    const char *w0666 = mkfile("w0666", 0666, 0, 0);
    AS_EXPECT(&FX_U2, 0, .kind = FX_WRITE, .a = w0666, .data = "w", .flags = O_TRUNC);
    CHECK_EQ(fx_lstat(w0666).st_size, 1);
    AS_EXPECT(&FX_U2, 0, .kind = FX_TRUNCATE, .a = w0666, .len = 100);
    CHECK_EQ(fx_lstat(w0666).st_size, 100);
    /* Root: read and write without bits, execute needs one x bit. */
    const char *z = mkfile("z0000", 0, FX_U1.uid, FX_U1.gid);
    char buf[16];
    CHECK_EQ(fx_read_file(z, buf, sizeof buf), 7);
    SYS(access(z, R_OK | W_OK));
    SYS_ERR(access(z, X_OK), EACCES);
    SYS(chmod(z, 0001));
    SYS(access(z, X_OK));
    fx_end();
}

/* Directories: search (x) to reach names, read (r) to list, write and
 * search to create, remove and rename; the creator owns the new file with
 * his primary group. */
TEST_T(posix_access_dirs, 60)
{
    fx_begin();
    const char *d700 = mkdir_as_root("d700", 0700, 0, 0);
    mkfile("d700/f", 0644, 0, 0);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_STAT, .a = fx_p("d700/f"));
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_READDIR, .a = d700);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_CHDIR, .a = d700);
    const char *d711 = mkdir_as_root("d711", 0711, 0, 0);
    mkfile("d711/f", 0644, 0, 0);
    AS_EXPECT(&FX_U1, 0, .kind = FX_STAT, .a = fx_p("d711/f"));
    AS_EXPECT(&FX_U1, 0, .kind = FX_READ, .a = fx_p("d711/f"));
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_READDIR, .a = d711);
    const char *d755 = mkdir_as_root("d755", 0755, 0, 0);
    mkfile("d755/f", 0666, 0, 0);
    mkdir_as_root("d755/sub", 0777, 0, 0);
    AS_EXPECT(&FX_U1, 0, .kind = FX_READDIR, .a = d755);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_OPEN, .a = fx_p("d755/new"), .flags = O_WRONLY | O_CREAT,
              .mode = 0644);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_MKDIR, .a = fx_p("d755/newd"), .mode = 0755);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_SYMLINK, .a = "x", .b = fx_p("d755/newl"));
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_LINK, .a = fx_p("d755/f"), .b = fx_p("d755/l"));
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_UNLINK, .a = fx_p("d755/f"));
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_RMDIR, .a = fx_p("d755/sub"));
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_RENAME, .a = fx_p("d755/f"), .b = fx_p("moved"));
    /* A writable file in a read-only directory: written, not removed. */
    AS_EXPECT(&FX_U1, 0, .kind = FX_WRITE, .a = fx_p("d755/f"), .data = "ok");
    CHECK_EQ(fx_lstat(fx_p("d755/f")).st_nlink, 1);
    /* Write without search is not enough. */
    const char *d766 = mkdir_as_root("d766", 0766, 0, 0);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_OPEN, .a = fx_p("d766/new"), .flags = O_WRONLY | O_CREAT,
              .mode = 0644);
    (void)d766;
    /* Write and search without read: create, rename, remove work. */
    mkdir_as_root("d733", 0733, 0, 0);
    AS_EXPECT(&FX_U1, 0, .kind = FX_OPEN, .a = fx_p("d733/mine"), .flags = O_WRONLY | O_CREAT,
              .mode = 0640);
    struct stat st = fx_lstat(fx_p("d733/mine"));
    CHECK_EQ(st.st_uid, FX_U1.uid);
    CHECK_EQ(st.st_gid, FX_U1.gid);
    CHECK_EQ(st.st_mode & 07777, 0640);
    AS_EXPECT(&FX_U1, 0, .kind = FX_MKDIR, .a = fx_p("d733/mydir"), .mode = 0750);
    st = fx_lstat(fx_p("d733/mydir"));
    CHECK_EQ(st.st_uid, FX_U1.uid);
    CHECK_EQ(st.st_gid, FX_U1.gid);
    AS_EXPECT(&FX_U1, 0, .kind = FX_RENAME, .a = fx_p("d733/mine"), .b = fx_p("d733/mine2"));
    AS_EXPECT(&FX_U1, 0, .kind = FX_UNLINK, .a = fx_p("d733/mine2"));
    AS_EXPECT(&FX_U1, 0, .kind = FX_RMDIR, .a = fx_p("d733/mydir"));
    /* Rename needs write on both directories. */
    mkfile("d733/f", 0644, 0, 0);
    AS_EXPECT(&FX_U1, EACCES, .kind = FX_RENAME, .a = fx_p("d733/f"), .b = fx_p("d755/f2"));
    /* A group-writable directory through a supplementary group. */
    mkdir_as_root("g770", 0770, 0, 4343);
    AS_EXPECT(&FX_U1, 0, .kind = FX_OPEN, .a = fx_p("g770/x"), .flags = O_WRONLY | O_CREAT,
              .mode = 0600);
    AS_EXPECT(&FX_U2, EACCES, .kind = FX_STAT, .a = fx_p("g770/x"));
    fx_end();
}

/* The sticky bit: in a 01777 directory only the file's owner, the
 * directory's owner and root may remove or rename an entry (EPERM). */
TEST_T(posix_sticky, 60)
{
    fx_begin();
    mkdir_as_root("t", 01777, FX_U3.uid, FX_U3.gid);
    AS_EXPECT(&FX_U1, 0, .kind = FX_OPEN, .a = fx_p("t/u1"), .flags = O_WRONLY | O_CREAT,
              .mode = 0666);
    AS_EXPECT(&FX_U1, 0, .kind = FX_MKDIR, .a = fx_p("t/u1d"), .mode = 0777);
    AS_EXPECT(&FX_U2, EPERM, .kind = FX_UNLINK, .a = fx_p("t/u1"));
    AS_EXPECT(&FX_U2, EPERM, .kind = FX_RENAME, .a = fx_p("t/u1"), .b = fx_p("t/stolen"));
    AS_EXPECT(&FX_U2, EPERM, .kind = FX_RMDIR, .a = fx_p("t/u1d"));
    /* Others may still write the file itself (mode 0666). */
    AS_EXPECT(&FX_U2, 0, .kind = FX_WRITE, .a = fx_p("t/u1"), .data = "ok");
    /* A rename over U1's file by U2 is a removal too. */
    AS_EXPECT(&FX_U2, 0, .kind = FX_OPEN, .a = fx_p("t/u2"), .flags = O_WRONLY | O_CREAT,
              .mode = 0600);
    AS_EXPECT(&FX_U2, EPERM, .kind = FX_RENAME, .a = fx_p("t/u2"), .b = fx_p("t/u1"));
    /* The file's owner and the directory's owner may. */
    AS_EXPECT(&FX_U1, 0, .kind = FX_RENAME, .a = fx_p("t/u1"), .b = fx_p("t/u1b"));
    AS_EXPECT(&FX_U3, 0, .kind = FX_UNLINK, .a = fx_p("t/u1b"));
    AS_EXPECT(&FX_U3, 0, .kind = FX_RMDIR, .a = fx_p("t/u1d"));
    SYS(unlink(fx_p("t/u2")));
    fx_end();
}

/* Set-group-ID directories hand their group (and, to subdirectories, the
 * bit) down; a non-member creating a g+x set-gid file loses the bit;
 * writing or truncating a set-id file as an ordinary user drops the bits. */
TEST_T(posix_setgid, 60)
{
    fx_begin();
    mkdir_as_root("g", 02777, 0, 4343);
    fx_write_file(fx_p("g/rootfile"), "", 0, 0644);
    CHECK_EQ(fx_lstat(fx_p("g/rootfile")).st_gid, 4343);
    SYS(mkdir(fx_p("g/sub"), 0755));
    struct stat st = fx_lstat(fx_p("g/sub"));
    CHECK_EQ(st.st_gid, 4343);
    CHECK_EQ(st.st_mode & 07777, 02755);
    AS_EXPECT(&FX_U2, 0, .kind = FX_OPEN, .a = fx_p("g/u2"), .flags = O_WRONLY | O_CREAT,
              .mode = 02755);
    st = fx_lstat(fx_p("g/u2"));
    CHECK_EQ(st.st_uid, 65534);
    CHECK_EQ(st.st_gid, 4343);
    CHECK_EQ(st.st_mode & 07777, 0755);
    AS_EXPECT(&FX_U1, 0, .kind = FX_OPEN, .a = fx_p("g/u1"), .flags = O_WRONLY | O_CREAT,
              .mode = 02755);
    CHECK_EQ(mode_of(fx_p("g/u1")), 02755);
    /* A write by someone other than root drops S_ISUID and S_ISGID. */
    const char *s = mkfile("setid", 06777, 0, 0);
    AS_EXPECT(&FX_U1, 0, .kind = FX_WRITE, .a = s, .data = "data");
    CHECK_EQ(mode_of(s), 0777);
    /* Truncation too. */
    SYS(chmod(s, 06777));
    AS_EXPECT(&FX_U1, 0, .kind = FX_TRUNCATE, .a = s, .len = 2);
    CHECK_EQ(mode_of(s), 0777);
    CHECK_EQ(fx_lstat(s).st_size, 2);
    /* Root's write keeps them. */
    SYS(chmod(s, 06777));
    fx_write_file(s, "root", 4, 0);
    CHECK_EQ(mode_of(s), 06777);
    fx_end();
}

/* Supplementary groups up to CAIRN_GROUPS_MAX (32) all count, the last one
 * too. A caller with more is sent to the metadata leader with none
 * (docs/fuse.md): what the kernel checks (default_permissions: open) still
 * works, what the leader checks (create) is EACCES. A local file system
 * counts them all. */
TEST_T(posix_many_groups, 60)
{
    fx_begin();
    struct fx_user u = {.uid = 4242, .gid = 4242};
    for (gid_t g = 0; g < 32; g++)
        u.groups[u.n_groups++] = 5000 + g;
    const char *f = mkfile("g5031", 0060, 0, 5031);
    mkdir_as_root("d5031", 0070, 0, 5031);
    AS_EXPECT(&u, 0, .kind = FX_READ, .a = f);
    AS_EXPECT(&u, 0, .kind = FX_OPEN, .a = fx_p("d5031/new"), .flags = O_WRONLY | O_CREAT,
              .mode = 0600);
    struct stat st = fx_lstat(fx_p("d5031/new"));
    CHECK_EQ(st.st_uid, 4242);
    CHECK_EQ(st.st_gid, 4242);
    AS_EXPECT(&u, 0, .kind = FX_CHOWN, .a = fx_p("d5031/new"), .uid = KEEP_UID, .gid = 5031);
    CHECK_EQ(fx_lstat(fx_p("d5031/new")).st_gid, 5031);
    /* 33 groups: opening is the kernel's check (it sees every group);
     * a create is checked by the metadata leader, which got none. */
    u.groups[u.n_groups++] = 5032;
    AS_EXPECT(&u, 0, .kind = FX_READ, .a = f);
    AS_EXPECT(&u, fx_mounted() ? EACCES : 0, .kind = FX_OPEN, .a = fx_p("d5031/new33"),
              .flags = O_WRONLY | O_CREAT, .mode = 0600);
    fx_end();
}
