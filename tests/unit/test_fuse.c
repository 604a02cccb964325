/*
 * test_fuse.c: the pure pieces of `cairn mount` (src/fuse): flag parsing,
 * FUSE setattr -> SETATTR fields, fcntl ranges, and F_GETLK's reading of a
 * LOCK_LIST reply produced by the real state machine. The operations on a
 * real mount are tested by tests/fuse.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse/fuse_int.h"
#include "test_meta_lock_util.h"

TEST(fuse_args_defaults_and_flags)
{
    struct fz_opts o;
    fz_opts_default(&o);
    char *argv[] = {"-f",        "--attr-timeout", "2.5",         "--entry-timeout",
                    "0",         "--readahead",    "512",         "--conns",
                    "8",         "--allow-other",  "-o",          "ro",
                    "--cluster", "/x/c.conf",      "--hold-open", "/mnt/c"};
    CHECK_EQ(fz_parse_args(16, argv, &o), 0);
    CHECK_EQ(o.hold_open, 1);
    CHECK_EQ(o.foreground, 1);
    CHECK(o.attr_timeout == 2.5 && o.entry_timeout == 0);
    CHECK_EQ(o.readahead_kib, 512u);
    CHECK_EQ(o.conns, 8u);
    CHECK_EQ(o.allow_other, 1);
    CHECK_STR_EQ(o.extra, "ro");
    CHECK_STR_EQ(o.cluster_file, "/x/c.conf");
    CHECK_STR_EQ(o.mountpoint, "/mnt/c");

    fz_opts_default(&o);
    char *plain[] = {"/mnt/d"};
    CHECK_EQ(fz_parse_args(1, plain, &o), 0);
    CHECK(o.attr_timeout == FZ_TIMEOUT_DEFAULT && o.entry_timeout == FZ_TIMEOUT_DEFAULT);
    CHECK_EQ(o.conns, FZ_CONNS_DEFAULT);
    CHECK_EQ(o.foreground, 0);
}

TEST(fuse_args_bad_usage)
{
    static const struct {
        int argc;
        char *argv[3];
    } bad[] = {
        {1, {"-f"}},                         /* no mountpoint */
        {2, {"/m", "--attr-timeout"}},       /* no value */
        {3, {"--attr-timeout", "-1", "/m"}}, /* negative */
        {3, {"--readahead", "12k", "/m"}},   /* junk */
        {3, {"--conns", "0", "/m"}},
        {3, {"--conns", "17", "/m"}}, /* too many */
        {2, {"--frobnicate", "/m"}},  /* unknown */
        {2, {"/m", "/n"}},            /* two mountpoints */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fz_opts o;
        char *argv[3];
        memcpy(argv, bad[i].argv, sizeof argv);
        fz_opts_default(&o);
        CHECKF(fz_parse_args(bad[i].argc, argv, &o) == FZ_EXIT_USAGE, "case %zu (%s)", i, argv[0]);
    }
}

TEST(fuse_setattr_fields)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_mode = S_IFREG | 04755;
    st.st_uid = 10;
    st.st_gid = 20;
    st.st_size = 12345;
    st.st_atim.tv_sec = 5;
    st.st_atim.tv_nsec = 6;
    st.st_mtim.tv_sec = 7;
    st.st_mtim.tv_nsec = 8;
    struct meta_attr set;

    uint32_t v = fz_setattr_fields(&st, FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_SIZE, &set);
    CHECK_EQ(v, META_SET_MODE | META_SET_SIZE);
    CHECK_EQ(set.mode, 04755u); /* permission bits only */
    CHECK_EQ_U64(set.size, 12345);

    v = fz_setattr_fields(&st, FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID, &set);
    CHECK_EQ(v, META_SET_UID | META_SET_GID);
    CHECK(set.uid == 10 && set.gid == 20);

    /* utimensat(UTIME_NOW, explicit): the kernel sends ATIME|ATIME_NOW. */
    v = fz_setattr_fields(&st, FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME,
                          &set);
    CHECK_EQ(v, META_SET_ATIME_NOW | META_SET_MTIME);
    CHECK_EQ_U64(set.mtime_ns, 7000000008ull);
    CHECK_EQ_U64(set.atime_ns, 0);

    /* UTIME_OMIT for mtime: no bit at all. */
    v = fz_setattr_fields(&st, FUSE_SET_ATTR_ATIME, &set);
    CHECK_EQ(v, META_SET_ATIME);
    CHECK_EQ_U64(set.atime_ns, 5000000006ull);

    CHECK_EQ(fz_setattr_fields(&st, FUSE_SET_ATTR_CTIME, &set), 0u);
}

TEST(fuse_lock_range)
{
    struct flock lk;
    memset(&lk, 0, sizeof lk);
    uint64_t s, e;
    lk.l_start = 100;
    lk.l_len = 0;
    fz_lock_range(&lk, &s, &e);
    CHECK(s == 100 && e == UINT64_MAX);
    lk.l_len = 50;
    fz_lock_range(&lk, &s, &e);
    CHECK(s == 100 && e == 150);
}

/* A LOCK_LIST reply for the POSIX lock of ino, as getlk asks it. */
static void list_posix(struct mt *t, uint64_t ino)
{
    struct meta_hdr h = mt_hdr_plain(t, 0);
    struct meta_lock_req after;
    memset(&after, 0, sizeof after);
    after.kind = META_LOCK_POSIX;
    after.ino = ino - 1;
    after.name = "";
    buf_reset(&t->cmd);
    CHECK_OK(meta_cmd_lock_list(&t->cmd, &h, META_LOCK_POSIX, "", &after, 1));
    CHECK_OK(mt_query(t));
}

TEST(fuse_getlk_reads_lock_list)
{
    struct mt t;
    mt_init(&t);
    struct meta_attr a, b;
    CHECK_OK(mt_create(&t, META_ROOT_INO, "a", 0644, 1, &a));
    CHECK_OK(mt_create(&t, META_ROOT_INO, "b", 0644, 1, &b));
    struct lc c1 = lc_open(&t, 10000);
    struct meta_lock_req q = lq_posix(a.ino, 7, META_LOCK_EXCLUSIVE, 0, 10);
    (void)lc_grant(&t, &c1, &q);
    q = lq_posix(a.ino, 7, META_LOCK_SHARED, 20, 30);
    (void)lc_grant(&t, &c1, &q);
    q = lq_posix(a.ino, 8, META_LOCK_SHARED, 40, UINT64_MAX);
    (void)lc_grant(&t, &c1, &q);

    list_posix(&t, a.ino);
    struct flock out;
    const uint8_t *p = t.reply.data;
    size_t n = t.reply.len;
    /* The owner's own locks never conflict with it. */
    CHECK_EQ(fz_lock_conflict(p, n, a.ino, 7, META_LOCK_EXCLUSIVE, 0, 35, &out, NULL),
             CAIRN_ENOENT);
    /* Shared against the exclusive [0, 10). */
    memset(&out, 0, sizeof out);
    uint64_t holder = 0;
    CHECK_OK(fz_lock_conflict(p, n, a.ino, 9, META_LOCK_SHARED, 5, 6, &out, &holder));
    CHECK_EQ_U64(holder, 7);
    CHECK(out.l_type == F_WRLCK && out.l_start == 0 && out.l_len == 10 && out.l_pid == 0);
    /* Shared with shared: no conflict. */
    CHECK_EQ(fz_lock_conflict(p, n, a.ino, 9, META_LOCK_SHARED, 20, 25, &out, NULL), CAIRN_ENOENT);
    /* Exclusive against shared [20, 30); ranges are half-open. */
    CHECK_EQ(fz_lock_conflict(p, n, a.ino, 9, META_LOCK_EXCLUSIVE, 10, 20, &out, NULL),
             CAIRN_ENOENT);
    CHECK_OK(fz_lock_conflict(p, n, a.ino, 9, META_LOCK_EXCLUSIVE, 25, 26, &out, NULL));
    CHECK(out.l_type == F_RDLCK && out.l_start == 20 && out.l_len == 10);
    /* A lock to EOF is reported with l_len 0. */
    CHECK_OK(
        fz_lock_conflict(p, n, a.ino, 7, META_LOCK_EXCLUSIVE, 1000, UINT64_MAX, &out, &holder));
    CHECK_EQ_U64(holder, 8);
    CHECK(out.l_type == F_RDLCK && out.l_start == 40 && out.l_len == 0);

    /* Another inode's lock object is not this one's. */
    list_posix(&t, b.ino);
    CHECK_EQ(fz_lock_conflict(t.reply.data, t.reply.len, b.ino, 9, META_LOCK_EXCLUSIVE, 0,
                              UINT64_MAX, &out, NULL),
             CAIRN_ENOENT);
    /* A truncated reply is an error, never a read past the end; a cut
     * after the first holder may still report that (whole) holder. */
    list_posix(&t, a.ino);
    for (size_t cut = 0; cut < t.reply.len; cut++) {
        memset(&out, 0, sizeof out);
        int rc = fz_lock_conflict(t.reply.data, cut, a.ino, 9, META_LOCK_EXCLUSIVE, 0, UINT64_MAX,
                                  &out, NULL);
        CHECKF(rc != 0 || (out.l_start == 0 && out.l_len == 10), "cut %zu", cut);
    }
    mt_free(&t);
}
