/* test_meta.c: unit tests of the metadata state machine's namespace
 * operations and their error codes (src/meta). Rename, permissions,
 * sessions, data, snapshots and the model test live in test_meta_*.c. */
#include <stdio.h>
#include <sys/stat.h>

#include "common/limits.h"
#include "test_meta_util.h"

TEST(meta_new_has_root)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr a;
    CHECK_OK(mt_getattr(&t, META_ROOT_INO, &a));
    CHECK_EQ(a.ino, 1);
    CHECK_EQ(a.mode, S_IFDIR | 0755);
    CHECK_EQ(a.nlink, 2);
    CHECK_EQ(a.goal, META_GOAL_DEFAULT);
    CHECK_EQ(mt_getattr(&t, 2, &a), CAIRN_ENOENT);
    CHECK_OK(mt_lookup(&t, 1, "..", &a));
    CHECK_EQ(a.ino, 1);
    CHECK_OK(mt_lookup(&t, 1, ".", &a));
    CHECK_EQ(a.ino, 1);
    mt_free(&t);
}

TEST(meta_create_lookup_getattr)
{
    struct mt t;
    mt_init(&t);
    CHECK_OK(mt_chmod(&t, 1, 0777));
    mt_as(&t, 1000, 100, 0);
    struct meta_attr root0, a, b;
    CHECK_OK(mt_getattr(&t, 1, &root0));
    t.now += 5 * MT_SEC;
    CHECK_OK(mt_create(&t, 1, "file", 0640, 1, &a));
    CHECK(a.ino > 1);
    CHECK_EQ(a.mode, S_IFREG | 0640);
    CHECK_EQ(a.uid, 1000);
    CHECK_EQ(a.gid, 100);
    CHECK_EQ(a.nlink, 1);
    CHECK_EQ(a.size, 0);
    CHECK_EQ_U64(a.atime_ns, t.now);
    CHECK_EQ_U64(a.mtime_ns, t.now);
    CHECK_EQ_U64(a.ctime_ns, t.now);
    CHECK_EQ(a.version, 1);
    CHECK_EQ(a.goal, 2);
    /* The parent changed: mtime, ctime, version. */
    struct meta_attr root1;
    CHECK_OK(mt_getattr(&t, 1, &root1));
    CHECK_EQ_U64(root1.mtime_ns, t.now);
    CHECK_EQ_U64(root1.ctime_ns, t.now);
    CHECK(root1.version > root0.version);
    CHECK_OK(mt_lookup(&t, 1, "file", &b));
    CHECK_EQ(b.ino, a.ino);
    CHECK_EQ(mt_lookup(&t, 1, "nope", &b), CAIRN_ENOENT);
    /* O_EXCL: EEXIST; without it the existing file comes back. */
    CHECK_EQ(mt_create(&t, 1, "file", 0600, 1, NULL), CAIRN_EEXIST);
    CHECK_OK(mt_create(&t, 1, "file", 0600, 0, &b));
    CHECK_EQ(b.ino, a.ino);
    CHECK_EQ(b.mode, S_IFREG | 0640);
    /* Parents that are missing or not directories. */
    CHECK_EQ(mt_create(&t, 999, "x", 0600, 1, NULL), CAIRN_ENOENT);
    CHECK_EQ(mt_create(&t, a.ino, "x", 0600, 1, NULL), CAIRN_ENOTDIR);
    CHECK_EQ(mt_lookup(&t, a.ino, "x", NULL), CAIRN_ENOTDIR);
    CHECK_EQ(mt_create(&t, 1, ".", 0600, 1, NULL), CAIRN_EEXIST);
    CHECK_EQ(mt_create(&t, 1, "..", 0600, 0, NULL), CAIRN_EEXIST);
    /* A directory under O_CREAT without O_EXCL: EISDIR. */
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, NULL));
    CHECK_EQ(mt_create(&t, 1, "d", 0600, 0, NULL), CAIRN_EISDIR);
    /* Inode numbers are never reused. */
    CHECK_OK(mt_unlink(&t, 1, "file"));
    CHECK_OK(mt_create(&t, 1, "file", 0600, 1, &b));
    CHECK(b.ino > a.ino + 1);
    mt_free(&t);
}

TEST(meta_names_checked)
{
    struct mt t;
    mt_init(&t);
    char longname[300];
    memset(longname, 'n', sizeof longname);
    longname[255] = 0;
    CHECK_OK(mt_create(&t, 1, longname, 0600, 1, NULL));
    longname[255] = 'n';
    longname[256] = 0;
    struct meta_hdr h = mt_hdr_session(&t);
    buf_reset(&t.cmd);
    CHECK_EQ(meta_cmd_create(&t.cmd, &h, 1, longname, 0600, 1), CAIRN_ENAMETOOLONG);
    CHECK_EQ(meta_cmd_create(&t.cmd, &h, 1, "a/b", 0600, 1), CAIRN_EINVAL);
    CHECK_EQ(meta_cmd_create(&t.cmd, &h, 1, "", 0600, 1), CAIRN_EINVAL);
    /* Hand-built commands with bad names are malformed and change nothing. */
    const char *bad[] = {"a/b", "", "x\0y"};
    size_t bad_len[] = {3, 0, 3};
    for (int i = 0; i < 3; i++) {
        h = mt_hdr_session(&t);
        buf_reset(&t.cmd);
        struct wire_enc e;
        wire_enc_init(&e, &t.cmd);
        h.type = META_CREATE;
        meta_enc_hdr(&e, &h);
        wire_put_u64(&e, 1);
        wire_put_u8(&e, (uint8_t)bad_len[i]);
        wire_put_raw(&e, bad[i], bad_len[i]);
        wire_put_u32(&e, 0600);
        wire_put_u8(&e, 1);
        uint64_t d = meta_digest(t.m);
        CHECK_EQ(mt_apply(&t), CAIRN_BADMSG);
        CHECK_EQ_U64(meta_digest(t.m), d);
    }
    mt_free(&t);
}

TEST(meta_mkdir_rmdir)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr d, sub, a;
    CHECK_OK(mt_mkdir(&t, 1, "d", 0750, &d));
    CHECK_EQ(d.mode, S_IFDIR | 0750);
    CHECK_EQ(d.nlink, 2);
    CHECK_OK(mt_getattr(&t, 1, &a));
    CHECK_EQ(a.nlink, 3);
    CHECK_OK(mt_mkdir(&t, d.ino, "sub", 0700, &sub));
    CHECK_OK(mt_getattr(&t, d.ino, &a));
    CHECK_EQ(a.nlink, 3);
    CHECK_OK(mt_lookup(&t, sub.ino, "..", &a));
    CHECK_EQ(a.ino, d.ino);
    CHECK_EQ(mt_mkdir(&t, 1, "d", 0700, NULL), CAIRN_EEXIST);
    CHECK_OK(mt_create(&t, d.ino, "f", 0600, 1, NULL));
    /* rmdir errors */
    CHECK_EQ(mt_rmdir(&t, 1, "d"), CAIRN_ENOTEMPTY);
    CHECK_EQ(mt_rmdir(&t, d.ino, "f"), CAIRN_ENOTDIR);
    CHECK_EQ(mt_rmdir(&t, 1, "nope"), CAIRN_ENOENT);
    CHECK_EQ(mt_rmdir(&t, 999, "x"), CAIRN_ENOENT);
    CHECK_EQ(mt_rmdir(&t, d.ino, "."), CAIRN_EINVAL);
    CHECK_EQ(mt_rmdir(&t, d.ino, ".."), CAIRN_ENOTEMPTY);
    CHECK_EQ(mt_rmdir(&t, 1, "."), CAIRN_EBUSY);
    CHECK_EQ(mt_unlink(&t, 1, "d"), CAIRN_EISDIR);
    CHECK_EQ(mt_unlink(&t, 1, "."), CAIRN_EISDIR);
    /* emptied, it goes; the parent's link count follows */
    CHECK_OK(mt_unlink(&t, d.ino, "f"));
    CHECK_OK(mt_rmdir(&t, d.ino, "sub"));
    CHECK_EQ(mt_getattr(&t, sub.ino, &a), CAIRN_ENOENT);
    CHECK_OK(mt_getattr(&t, d.ino, &a));
    CHECK_EQ(a.nlink, 2);
    CHECK_OK(mt_rmdir(&t, 1, "d"));
    CHECK_OK(mt_getattr(&t, 1, &a));
    CHECK_EQ(a.nlink, 2);
    CHECK_EQ(mt_lookup(&t, 1, "d", &a), CAIRN_ENOENT);
    struct meta_stats st;
    meta_stats(t.m, &st);
    CHECK_EQ(st.inodes, 1);
    mt_free(&t);
}

TEST(meta_symlink_readlink)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr s, f;
    CHECK_OK(mt_symlink(&t, 1, "ln", "some/where/else", &s));
    CHECK_EQ(s.mode, S_IFLNK | 0777);
    CHECK_EQ(s.size, 15);
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_readlink(&t.cmd, &h, s.ino));
    CHECK_OK(mt_query(&t));
    CHECK_EQ(t.reply.len, 4 + 4 + 15);
    CHECK_MEM_EQ(t.reply.data + 8, "some/where/else", 15);
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_readlink(&t.cmd, &h, f.ino));
    CHECK_EQ(mt_query(&t), CAIRN_EINVAL);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_readlink(&t.cmd, &h, 12345));
    CHECK_EQ(mt_query(&t), CAIRN_ENOENT);
    CHECK_EQ(mt_symlink(&t, 1, "ln", "x", NULL), CAIRN_EEXIST);
    /* An empty target is malformed. */
    CHECK_EQ(mt_symlink(&t, 1, "empty", "", NULL), CAIRN_BADMSG);
    /* Symlinks are removed by unlink, and can be hard-linked. */
    CHECK_OK(mt_link(&t, s.ino, 1, "ln2", &f));
    CHECK_EQ(f.nlink, 2);
    CHECK_OK(mt_unlink(&t, 1, "ln"));
    CHECK_OK(mt_unlink(&t, 1, "ln2"));
    CHECK_EQ(mt_getattr(&t, s.ino, &f), CAIRN_ENOENT);
    mt_free(&t);
}

TEST(meta_link_nlink)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f, d, a;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, &d));
    t.now += MT_SEC;
    CHECK_OK(mt_link(&t, f.ino, d.ino, "g", &a));
    CHECK_EQ(a.ino, f.ino);
    CHECK_EQ(a.nlink, 2);
    CHECK_EQ_U64(a.ctime_ns, t.now);
    CHECK(a.version > f.version);
    CHECK_EQ(mt_link(&t, f.ino, d.ino, "g", NULL), CAIRN_EEXIST);
    CHECK_EQ(mt_link(&t, d.ino, 1, "dd", NULL), CAIRN_EPERM);
    CHECK_EQ(mt_link(&t, 999, 1, "x", NULL), CAIRN_ENOENT);
    CHECK_EQ(mt_link(&t, f.ino, 999, "x", NULL), CAIRN_ENOENT);
    CHECK_EQ(mt_link(&t, f.ino, f.ino, "x", NULL), CAIRN_ENOTDIR);
    CHECK_OK(mt_unlink(&t, 1, "f"));
    CHECK_OK(mt_lookup(&t, d.ino, "g", &a));
    CHECK_EQ(a.nlink, 1);
    CHECK_EQ(mt_unlink(&t, 1, "f"), CAIRN_ENOENT);
    CHECK_OK(mt_unlink(&t, d.ino, "g"));
    CHECK_EQ(mt_getattr(&t, f.ino, &a), CAIRN_ENOENT);
    mt_free(&t);
}

TEST_T(meta_emlink, 120)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f, d, a;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    CHECK_OK(mt_mkdir(&t, 1, "links", 0755, &d));
    char name[32];
    for (uint32_t i = 1; i < CAIRN_LINK_MAX; i++) {
        snprintf(name, sizeof name, "l%u", i);
        CHECK_OK(mt_link(&t, f.ino, d.ino, name, NULL));
    }
    CHECK_OK(mt_getattr(&t, f.ino, &a));
    CHECK_EQ(a.nlink, CAIRN_LINK_MAX);
    CHECK_EQ(mt_link(&t, f.ino, d.ino, "one-more", NULL), CAIRN_EMLINK);
    /* Subdirectories count against the parent's link count too. */
    CHECK_OK(mt_mkdir(&t, 1, "subs", 0755, &d));
    for (uint32_t i = 2; i < CAIRN_LINK_MAX; i++) {
        snprintf(name, sizeof name, "s%u", i);
        CHECK_OK(mt_mkdir(&t, d.ino, name, 0755, NULL));
    }
    CHECK_EQ(mt_mkdir(&t, d.ino, "one-more", 0755, NULL), CAIRN_EMLINK);
    CHECK_OK(mt_create(&t, d.ino, "file-ok", 0644, 1, NULL));
    mt_free(&t);
}

TEST(meta_setattr)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f, a, set;
    CHECK_OK(mt_create(&t, 1, "f", 04755, 1, &f));
    memset(&set, 0, sizeof set);
    t.now += MT_SEC;
    set.mode = 0600;
    set.uid = 7;
    set.gid = 8;
    set.size = 12345;
    set.atime_ns = 111;
    set.mtime_ns = 222;
    set.goal = 3;
    CHECK_OK(
        mt_setattr(&t, f.ino, META_SET_ALL & ~(META_SET_ATIME_NOW | META_SET_MTIME_NOW), &set, &a));
    CHECK_EQ(a.mode, S_IFREG | 0600);
    CHECK_EQ(a.uid, 7);
    CHECK_EQ(a.gid, 8);
    CHECK_EQ(a.size, 12345);
    CHECK_EQ_U64(a.atime_ns, 111);
    CHECK_EQ_U64(a.mtime_ns, 222);
    CHECK_EQ_U64(a.ctime_ns, t.now);
    CHECK_EQ(a.goal, 3);
    CHECK_EQ(a.version, f.version + 1);
    /* "now" times; truncation moves mtime. */
    t.now += MT_SEC;
    CHECK_OK(mt_setattr(&t, f.ino, META_SET_ATIME_NOW | META_SET_MTIME_NOW, &set, &a));
    CHECK_EQ_U64(a.atime_ns, t.now);
    CHECK_EQ_U64(a.mtime_ns, t.now);
    t.now += MT_SEC;
    set.size = 10;
    CHECK_OK(mt_setattr(&t, f.ino, META_SET_SIZE, &set, &a));
    CHECK_EQ(a.size, 10);
    CHECK_EQ_U64(a.mtime_ns, t.now);
    /* chown kills set-user-ID on files */
    CHECK_OK(mt_chmod(&t, f.ino, 06755));
    CHECK_OK(mt_chown(&t, f.ino, 9, 9));
    CHECK_OK(mt_getattr(&t, f.ino, &a));
    CHECK_EQ(a.mode, S_IFREG | 0755);
    /* errors */
    struct meta_attr d;
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, &d));
    CHECK_EQ(mt_setattr(&t, d.ino, META_SET_SIZE, &set, NULL), CAIRN_EISDIR);
    CHECK_OK(mt_symlink(&t, 1, "l", "f", &a));
    CHECK_EQ(mt_setattr(&t, a.ino, META_SET_SIZE, &set, NULL), CAIRN_EINVAL);
    set.size = CAIRN_FILE_SIZE_MAX + 1;
    CHECK_EQ(mt_setattr(&t, f.ino, META_SET_SIZE, &set, NULL), CAIRN_EFBIG);
    set.goal = 0;
    CHECK_EQ(mt_setattr(&t, f.ino, META_SET_GOAL, &set, NULL), CAIRN_EINVAL);
    set.goal = CAIRN_GOAL_MAX + 1;
    CHECK_EQ(mt_setattr(&t, f.ino, META_SET_GOAL, &set, NULL), CAIRN_EINVAL);
    CHECK_EQ(mt_setattr(&t, 999, META_SET_MODE, &set, NULL), CAIRN_ENOENT);
    /* Unknown valid bits or mode bits beyond 07777 are malformed. */
    set.mode = 010000;
    CHECK_EQ(mt_setattr(&t, f.ino, META_SET_MODE, &set, NULL), CAIRN_BADMSG);
    set.mode = 0;
    CHECK_EQ(mt_setattr(&t, f.ino, 0x8000, &set, NULL), CAIRN_BADMSG);
    /* goal is inherited by new children */
    set.goal = 5;
    CHECK_OK(mt_setattr(&t, d.ino, META_SET_GOAL, &set, NULL));
    CHECK_OK(mt_create(&t, d.ino, "child", 0644, 1, &a));
    CHECK_EQ(a.goal, 5);
    CHECK_OK(mt_mkdir(&t, d.ino, "subdir", 0755, &a));
    CHECK_EQ(a.goal, 5);
    mt_free(&t);
}

/* Read a whole directory in pages of `page`; names appended to out. */
static uint32_t list_dir(struct mt *t, uint64_t dir, uint32_t page, char names[][64], uint32_t max)
{
    uint64_t cookie = 0;
    uint32_t n = 0;
    for (;;) {
        struct meta_hdr h = mt_hdr_plain(t, 0);
        buf_reset(&t->cmd);
        CHECK_OK(meta_cmd_readdir(&t->cmd, &h, dir, cookie, page));
        CHECK_OK(mt_query(t));
        struct wire_dec d;
        wire_dec_init(&d, t->reply.data + 4, t->reply.len - 4);
        uint32_t k = wire_get_u32(&d);
        CHECK(k <= page);
        for (uint32_t i = 0; i < k; i++) {
            uint64_t c = wire_get_u64(&d);
            CHECK(c > cookie);
            cookie = c;
            wire_get_u64(&d);
            wire_get_u8(&d);
            struct wire_bytes nm = wire_get_name(&d);
            CHECK(n < max);
            snprintf(names[n++], 64, "%.*s", (int)nm.len, (const char *)nm.p);
        }
        uint8_t eof = wire_get_u8(&d);
        CHECK_OK(wire_dec_finish(&d));
        if (eof)
            return n;
        CHECK(k > 0);
    }
}

TEST(meta_readdir_basic)
{
    struct mt t;
    mt_init(&t);
    static char names[64][64];
    CHECK_EQ(list_dir(&t, 1, 10, names, 64), 2);
    CHECK_STR_EQ(names[0], ".");
    CHECK_STR_EQ(names[1], "..");
    struct meta_attr d;
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, &d));
    for (int i = 0; i < 20; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "e%02d", i);
        CHECK_OK(mt_create(&t, d.ino, nm, 0644, 1, NULL));
    }
    for (uint32_t page = 1; page <= 23; page++) {
        CHECK_EQ(list_dir(&t, d.ino, page, names, 64), 22);
        for (int i = 0; i < 20; i++) {
            char nm[16];
            snprintf(nm, sizeof nm, "e%02d", i);
            CHECK_STR_EQ(names[i + 2], nm);
        }
    }
    /* errors: not a directory, missing, no read permission, bad max */
    struct meta_attr f;
    CHECK_OK(mt_lookup(&t, d.ino, "e00", &f));
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_readdir(&t.cmd, &h, f.ino, 0, 10));
    CHECK_EQ(mt_query(&t), CAIRN_ENOTDIR);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_readdir(&t.cmd, &h, 999, 0, 10));
    CHECK_EQ(mt_query(&t), CAIRN_ENOENT);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_readdir(&t.cmd, &h, 1, 0, 0));
    CHECK_EQ(mt_query(&t), CAIRN_BADMSG);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_readdir(&t.cmd, &h, 1, 0, CAIRN_READDIR_MAX + 1));
    CHECK_EQ(mt_query(&t), CAIRN_BADMSG);
    CHECK_OK(mt_chmod(&t, d.ino, 0311));
    mt_as(&t, 1000, 1000, 0);
    h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_readdir(&t.cmd, &h, d.ino, 0, 10));
    CHECK_EQ(mt_query(&t), CAIRN_EACCES);
    mt_free(&t);
}

static int atoi_n(const uint8_t *p, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    return v;
}

/* Cookies survive inserts and deletes between pages: every entry present
 * for the whole listing is returned exactly once, none twice. */
TEST(meta_readdir_cookie_stable)
{
    struct mt t;
    mt_init(&t);
    struct prng *rng = test_rng();
    struct meta_attr d;
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, &d));
    enum { N = 400 };
    static int alive[N * 4], stable[N * 4], seen[N * 4];
    int next = 0;
    for (; next < N; next++) {
        char nm[16];
        snprintf(nm, sizeof nm, "n%d", next);
        CHECK_OK(mt_create(&t, d.ino, nm, 0644, 1, NULL));
        alive[next] = stable[next] = 1;
    }
    uint64_t cookie = 0;
    for (int rounds = 0; rounds < 10000; rounds++) {
        /* churn: delete some (never stable again), insert some */
        for (int k = 0; k < 8; k++) {
            int v = (int)prng_below(rng, (uint64_t)next);
            char nm[16];
            snprintf(nm, sizeof nm, "n%d", v);
            if (alive[v]) {
                CHECK_OK(mt_unlink(&t, d.ino, nm));
                alive[v] = stable[v] = 0;
            }
        }
        for (int k = 0; k < 3 && next < N * 4; k++, next++) {
            char nm[16];
            snprintf(nm, sizeof nm, "n%d", next);
            CHECK_OK(mt_create(&t, d.ino, nm, 0644, 1, NULL));
            alive[next] = 1;
        }
        struct meta_hdr h = mt_hdr_plain(&t, 0);
        buf_reset(&t.cmd);
        CHECK_OK(meta_cmd_readdir(&t.cmd, &h, d.ino, cookie, 7));
        CHECK_OK(mt_query(&t));
        struct wire_dec dec;
        wire_dec_init(&dec, t.reply.data + 4, t.reply.len - 4);
        uint32_t n = wire_get_u32(&dec);
        for (uint32_t i = 0; i < n; i++) {
            cookie = wire_get_u64(&dec);
            wire_get_u64(&dec);
            wire_get_u8(&dec);
            struct wire_bytes nm = wire_get_name(&dec);
            if (nm.p[0] == '.')
                continue;
            int v = atoi_n(nm.p + 1, nm.len - 1);
            CHECK(alive[v]);
            CHECK(!seen[v]);
            seen[v] = 1;
        }
        if (wire_get_u8(&dec))
            break;
    }
    for (int v = 0; v < next; v++)
        CHECKF(!stable[v] || seen[v], "entry n%d present throughout but not listed", v);
    mt_free(&t);
}

TEST(meta_xattr)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f, a;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    CHECK_OK(mt_setxattr(&t, f.ino, "user.b", "two", 0));
    CHECK_OK(mt_setxattr(&t, f.ino, "user.a", "one", META_XATTR_CREATE));
    CHECK_EQ(mt_setxattr(&t, f.ino, "user.a", "x", META_XATTR_CREATE), CAIRN_EEXIST);
    CHECK_EQ(mt_setxattr(&t, f.ino, "user.c", "x", META_XATTR_REPLACE), CAIRN_ENODATA);
    CHECK_OK(mt_setxattr(&t, f.ino, "user.b", "TWO!", META_XATTR_REPLACE));
    CHECK_EQ(mt_setxattr(&t, f.ino, "user.c", "x", 4), CAIRN_EINVAL);
    CHECK_OK(mt_getattr(&t, f.ino, &a));
    CHECK_EQ(a.version, f.version + 3);
    /* get: size 0 asks the length; too small is ERANGE */
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_getxattr(&t.cmd, &h, f.ino, "user.b", 0));
    CHECK_OK(mt_query(&t));
    CHECK_EQ(t.reply.len, 8);
    CHECK_EQ(wire_load_u32(t.reply.data + 4), 4);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_getxattr(&t.cmd, &h, f.ino, "user.b", 3));
    CHECK_EQ(mt_query(&t), CAIRN_ERANGE);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_getxattr(&t.cmd, &h, f.ino, "user.b", 100));
    CHECK_OK(mt_query(&t));
    CHECK_EQ(t.reply.len, 12);
    CHECK_MEM_EQ(t.reply.data + 8, "TWO!", 4);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_getxattr(&t.cmd, &h, f.ino, "user.zz", 100));
    CHECK_EQ(mt_query(&t), CAIRN_ENODATA);
    /* list: sorted, NUL-terminated names */
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_listxattr(&t.cmd, &h, f.ino, 100));
    CHECK_OK(mt_query(&t));
    CHECK_EQ(wire_load_u32(t.reply.data + 4), 14);
    CHECK_MEM_EQ(t.reply.data + 8, "user.a\0user.b\0", 14);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_listxattr(&t.cmd, &h, f.ino, 13));
    CHECK_EQ(mt_query(&t), CAIRN_ERANGE);
    /* remove */
    CHECK_OK(mt_removexattr(&t, f.ino, "user.a"));
    CHECK_EQ(mt_removexattr(&t, f.ino, "user.a"), CAIRN_ENODATA);
    CHECK_EQ(mt_removexattr(&t, 999, "user.a"), CAIRN_ENOENT);
    /* namespaces */
    CHECK_EQ(mt_setxattr(&t, f.ino, "weird.x", "v", 0), CAIRN_ENOTSUP);
    CHECK_EQ(mt_setxattr(&t, f.ino, "system.posix_acl_access", "v", 0), CAIRN_ENOTSUP);
    CHECK_OK(mt_setxattr(&t, f.ino, "trusted.t", "v", 0));
    CHECK_OK(mt_symlink(&t, 1, "l", "f", &a));
    CHECK_EQ(mt_setxattr(&t, a.ino, "user.x", "v", 0), CAIRN_EPERM);
    mt_as(&t, 1000, 1000, 0);
    CHECK_EQ(mt_setxattr(&t, f.ino, "trusted.u", "v", 0), CAIRN_EPERM);
    CHECK_EQ(mt_setxattr(&t, f.ino, "user.c", "v", 0), CAIRN_EACCES);
    h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_listxattr(&t.cmd, &h, f.ino, 100));
    CHECK_OK(mt_query(&t));
    CHECK_EQ(wire_load_u32(t.reply.data + 4), 7); /* trusted.t hidden */
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_getxattr(&t.cmd, &h, f.ino, "trusted.t", 100));
    CHECK_EQ(mt_query(&t), CAIRN_ENODATA);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_getxattr(&t.cmd, &h, f.ino, "user.b", 100));
    CHECK_OK(mt_query(&t));
    mt_as(&t, 0, 0, 0);
    /* limits: count, and a value above the maximum is malformed */
    for (uint32_t i = 0; i < CAIRN_XATTR_COUNT_MAX - 2; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "user.k%u", i);
        CHECK_OK(mt_setxattr(&t, f.ino, nm, "", 0));
    }
    CHECK_EQ(mt_setxattr(&t, f.ino, "user.over", "", 0), CAIRN_ENOSPC);
    CHECK_OK(mt_setxattr(&t, f.ino, "user.b", "replace still fine", 0));
    static char big[CAIRN_XATTR_VALUE_MAX + 2];
    memset(big, 'v', sizeof big - 1);
    CHECK_OK(mt_removexattr(&t, f.ino, "user.b"));
    CHECK_EQ(mt_setxattr(&t, f.ino, "user.big", big, 0), CAIRN_BADMSG);
    big[CAIRN_XATTR_VALUE_MAX] = 0;
    CHECK_OK(mt_setxattr(&t, f.ino, "user.big", big, 0));
    /* xattrs survive a snapshot; they go with the inode */
    struct meta *copy = mt_snapshot_copy(t.m);
    meta_free(copy);
    CHECK_OK(mt_unlink(&t, 1, "f"));
    mt_free(&t);
}

TEST(meta_statfs)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr f;
    CHECK_OK(mt_create(&t, 1, "f", 0644, 1, &f));
    struct meta_attr set = {.size = 5000};
    CHECK_OK(mt_setattr(&t, f.ino, META_SET_SIZE, &set, NULL));
    CHECK_OK(mt_mkdir(&t, 1, "d", 0755, NULL));
    struct meta_hdr h = mt_hdr_plain(&t, 0);
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_node_register(&t.cmd, &h, 0, "127.0.0.1:9000", "", 1000, 100));
    CHECK_OK(mt_apply(&t));
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_node_register(&t.cmd, &h, 0, "127.0.0.1:9001", "", 2000, 500));
    CHECK_OK(mt_apply(&t));
    buf_reset(&t.cmd);
    CHECK_OK(meta_cmd_statfs(&t.cmd, &h));
    CHECK_OK(mt_query(&t));
    struct wire_dec d;
    wire_dec_init(&d, t.reply.data + 4, t.reply.len - 4);
    CHECK_EQ(wire_get_u64(&d), 3);
    CHECK_EQ(wire_get_u64(&d), 5000);
    CHECK_EQ(wire_get_u64(&d), 3000);
    CHECK_EQ(wire_get_u64(&d), 2400);
    CHECK_EQ(wire_get_u32(&d), 2);
    CHECK_EQ(wire_get_u32(&d), 2);
    CHECK_OK(wire_dec_finish(&d));
    CHECK_OK(mt_unlink(&t, 1, "f"));
    struct meta_statfs s;
    meta_statfs(t.m, &s);
    CHECK_EQ(s.files, 2);
    CHECK_EQ(s.used_bytes, 0);
    mt_free(&t);
}

/* The module makes no system calls: every undefined symbol of its objects
 * is libc memory/string code or another pure part of cairn. */
TEST(meta_objects_are_pure)
{
    static const char *allowed[] = {
        "malloc",
        "calloc",
        "realloc",
        "free",
        "memcpy",
        "memmove",
        "memcmp",
        "memset",
        "memchr",
        "strlen",
        "qsort",
        "cairn_panic",
        "crc32c",
        "hash_u64",
        "hash_bytes",
        "__stack_chk_fail",
        "_GLOBAL_OFFSET_TABLE_",
    };
    static const char *prefixes[] = {"meta_",  "wire_",   "buf_",       "hmap_",
                                     "__asan", "__ubsan", "__sanitizer"};
    char cmd[512];
    snprintf(cmd, sizeof cmd, "nm -u %s/obj/src/meta/*.o 2>&1", CAIRN_BUILD_DIR);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        char sym[200];
        if (sscanf(line, " U %199s", sym) != 1)
            continue;
        n++;
        int ok = 0;
        for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
            ok |= strcmp(sym, allowed[i]) == 0;
        for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
            ok |= strncmp(sym, prefixes[i], strlen(prefixes[i])) == 0;
        CHECKF(ok, "src/meta uses %s", sym);
    }
    CHECK_EQ(pclose(p), 0);
    CHECK(n > 10);
}
