/* test_lock_cas.c: compare-and-set on every mutation (docs/locks.md,
 * "Optimistic concurrency"), end to end against a real metadata server
 * (`cairn cluster up`): each cairn_*_if call of cairn_lock.h refuses a stale
 * version without changing anything and applies with the current one, and
 * each `--if-version` flag of the command line does the same with exit code
 * 1 and `version conflict (now V)`. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn.h"
#include "cairn_errors.h"
#include "test.h"
#include "test_cli.h"

static struct cairn *cas_connect(void)
{
    struct cairn_config cfg = {.cluster_file = getenv("CAIRN_CLUSTER"), .name = "cas-test"};
    struct cairn *c = NULL;
    CHECK_EQ(cairn_connect(&cfg, &c), 0);
    return c;
}

/* The version of what path names (a final link itself). */
static uint64_t cas_ver(struct cairn *c, const char *path)
{
    struct cairn_stat st;
    int rc = cairn_lstat(c, path, &st);
    CHECKF(rc == 0, "lstat %s: %d", path, rc);
    return st.version;
}

/* A version of path that is stale: read, then changed by someone else (an
 * xattr set through a link too: the inode it names). */
static uint64_t cas_stale(struct cairn *c, const char *path)
{
    uint64_t v = cas_ver(c, path);
    CHECK_EQ(cairn_setxattr(c, path, "user.bump", "x", 1, 0), 0);
    CHECK(cas_ver(c, path) != v);
    return v;
}

static int cas_exists(struct cairn *c, const char *path)
{
    struct cairn_stat st;
    int rc = cairn_lstat(c, path, &st);
    CHECK(rc == 0 || rc == -ENOENT);
    return rc == 0;
}

static void cas_create(struct cairn *c, const char *path)
{
    struct cairn_file *f;
    CHECK_EQ(cairn_open(c, path, O_WRONLY | O_CREAT | O_EXCL, 0644, &f), 0);
    CHECK_EQ(cairn_close(f), 0);
}

/* Attribute calls: chmod, chown, lchown, truncate, utimens, setgoal and the
 * xattrs. Each stale call leaves the attribute as it was. */
static void cas_attr_calls(struct cairn *c)
{
    struct cairn_stat st;
    uint64_t v = cas_stale(c, "/d/f");
    CHECK_EQ(cairn_chmod_if(c, "/d/f", 0600, v), CAIRN_CONFLICT);
    CHECK_EQ(cairn_chmod_if(c, "/d/f", 0600, cas_ver(c, "/d/f")), 0);
    CHECK_EQ(cairn_stat(c, "/d/f", &st), 0);
    CHECK_EQ(st.mode & 07777, 0600);
    v = cas_stale(c, "/d/f");
    CHECK_EQ(cairn_chown_if(c, "/d/f", UINT32_MAX, getgid(), v), CAIRN_CONFLICT);
    CHECK_EQ(cairn_chown_if(c, "/d/f", UINT32_MAX, getgid(), cas_ver(c, "/d/f")), 0);
    /* lchown checks the link itself, not the file */
    CHECK_EQ(cairn_symlink(c, "f", "/d/l"), 0);
    v = cas_ver(c, "/d/l");
    CHECK_EQ(cairn_lchown(c, "/d/l", UINT32_MAX, getgid()), 0); /* moves the link's version */
    CHECK(cas_ver(c, "/d/l") != v);
    CHECK_EQ(cairn_lchown_if(c, "/d/l", UINT32_MAX, getgid(), v), CAIRN_CONFLICT);
    CHECK_EQ(cairn_lchown_if(c, "/d/l", UINT32_MAX, getgid(), cas_ver(c, "/d/l")), 0);
    v = cas_stale(c, "/d/f");
    CHECK_EQ(cairn_truncate_if(c, "/d/f", 100, v), CAIRN_CONFLICT);
    CHECK_EQ(cairn_stat(c, "/d/f", &st), 0);
    CHECK_EQ(st.size, 0);
    CHECK_EQ(cairn_truncate_if(c, "/d/l", 100, cas_ver(c, "/d/f")), 0); /* through the link */
    CHECK_EQ(cairn_stat(c, "/d/f", &st), 0);
    CHECK_EQ(st.size, 100);
    struct timespec ts[2] = {{.tv_sec = 1000}, {.tv_sec = 2000}};
    v = cas_stale(c, "/d/f");
    CHECK_EQ(cairn_utimens_if(c, "/d/f", ts, v), CAIRN_CONFLICT);
    CHECK_EQ(cairn_utimens_if(c, "/d/f", ts, cas_ver(c, "/d/f")), 0);
    CHECK_EQ(cairn_stat(c, "/d/f", &st), 0);
    CHECK_EQ(st.mtime.tv_sec, 2000);
    v = cas_stale(c, "/d/f");
    CHECK_EQ(cairn_setgoal_if(c, "/d/f", 1, v), CAIRN_CONFLICT);
    CHECK_EQ(cairn_stat(c, "/d/f", &st), 0);
    CHECK(st.goal != 1);
    CHECK_EQ(cairn_setgoal_if(c, "/d/f", 1, cas_ver(c, "/d/f")), 0);
    CHECK_EQ(cairn_stat(c, "/d/f", &st), 0);
    CHECK_EQ(st.goal, 1);
    v = cas_stale(c, "/d/f");
    CHECK_EQ(cairn_removexattr_if(c, "/d/f", "user.bump", v), CAIRN_CONFLICT);
    CHECK_EQ(cairn_removexattr_if(c, "/d/f", "user.bump", cas_ver(c, "/d/f")), 0);
    char val[8];
    CHECK_EQ(cairn_getxattr(c, "/d/f", "user.bump", val, sizeof val), -ENODATA);
    /* a gone inode: ENOENT, not a conflict */
    CHECK_EQ(cairn_chmod_if(c, "/d/nope", 0600, 1), CAIRN_ENOENT);
}

/* Namespace calls: each checks the inode it changes (docs/locks.md). */
static void cas_ns_calls(struct cairn *c)
{
    uint64_t v = cas_stale(c, "/d");
    CHECK_EQ(cairn_mkdir_if(c, "/d/x", 0755, v), CAIRN_CONFLICT);
    CHECK(!cas_exists(c, "/d/x"));
    CHECK_EQ(cairn_mkdir_if(c, "/d/x", 0755, cas_ver(c, "/d")), 0);
    v = cas_stale(c, "/d");
    CHECK_EQ(cairn_symlink_if(c, "x", "/d/s", v), CAIRN_CONFLICT);
    CHECK(!cas_exists(c, "/d/s"));
    CHECK_EQ(cairn_symlink_if(c, "x", "/d/s", cas_ver(c, "/d")), 0);
    /* link: the existing file's version (its link count changes) */
    v = cas_stale(c, "/d/f");
    CHECK_EQ(cairn_link_if(c, "/d/f", "/d/h", v), CAIRN_CONFLICT);
    CHECK(!cas_exists(c, "/d/h"));
    CHECK_EQ(cairn_link_if(c, "/d/f", "/d/h", cas_ver(c, "/d/f")), 0);
    struct cairn_stat st;
    CHECK_EQ(cairn_stat(c, "/d/f", &st), 0);
    CHECK_EQ(st.nlink, 2);
    /* rename: the moved inode's version, whatever the directories did */
    v = cas_stale(c, "/d/h");
    CHECK_EQ(cairn_rename_if(c, "/d/h", "/d/h2", 0, v), CAIRN_CONFLICT);
    CHECK(cas_exists(c, "/d/h") && !cas_exists(c, "/d/h2"));
    CHECK_EQ(cairn_mkdir(c, "/d/y", 0755), 0); /* the directory moves on */
    CHECK_EQ(cairn_rename_if(c, "/d/h", "/d/h2", 0, cas_ver(c, "/d/h")), 0);
    /* unlink: the removed inode's version */
    v = cas_stale(c, "/d/h2");
    CHECK_EQ(cairn_unlink_if(c, "/d/h2", v), CAIRN_CONFLICT);
    CHECK(cas_exists(c, "/d/h2"));
    CHECK_EQ(cairn_unlink_if(c, "/d/h2", cas_ver(c, "/d/h2")), 0);
    CHECK(!cas_exists(c, "/d/h2") && cas_exists(c, "/d/f"));
    v = cas_stale(c, "/d/x");
    CHECK_EQ(cairn_rmdir_if(c, "/d/x", v), CAIRN_CONFLICT);
    CHECK_EQ(cairn_rmdir_if(c, "/d/x", cas_ver(c, "/d/x")), 0);
    CHECK(!cas_exists(c, "/d/x"));
}

/* A name rebound to another inode after its version was read: the removal
 * checks the inode the name binds now, so the old version does not pass. */
static void cas_rebound_name(struct cairn *c)
{
    cas_create(c, "/d/a");
    cas_create(c, "/d/b");
    uint64_t va = cas_ver(c, "/d/a");
    while (cas_ver(c, "/d/b") <= va + 1)
        CHECK_EQ(cairn_setxattr(c, "/d/b", "user.bump", "y", 1, 0), 0);
    CHECK_EQ(cairn_rename(c, "/d/b", "/d/a"), 0);
    CHECK_EQ(cairn_unlink_if(c, "/d/a", va), CAIRN_CONFLICT);
    CHECK(cas_exists(c, "/d/a"));
}

TEST_T(lock_cas_library_calls, 90)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/c", test_tmpdir());
    cli_up(dir, 1, 0);
    struct cairn *c = cas_connect();
    CHECK_EQ(cairn_mkdir(c, "/d", 0755), 0);
    cas_create(c, "/d/f");
    cas_attr_calls(c);
    cas_ns_calls(c);
    cas_rebound_name(c);
    cairn_disconnect(c);
    cli_down();
}

/* --- the command line ------------------------------------------------------------ */

#define CAS_ARGS_MAX 8

/* Run `cairn ARGS` (at most CAS_ARGS_MAX, NULL-terminated; the word "V"
 * becomes a version of `checked`): with a stale version it must exit 1 with
 * `version conflict (now N)`, N being the current version, and change
 * nothing `checked` shows; then with the current version it must exit 0. */
static void cas_cli(struct cairn *c, const char *checked, const char *const *args)
{
    const char *a[CAS_ARGS_MAX + 1] = {0};
    char ver[32], want[64];
    for (int round = 0; round < 2; round++) {
        uint64_t v = round == 0 ? cas_stale(c, checked) : cas_ver(c, checked);
        uint64_t now = cas_ver(c, checked);
        snprintf(ver, sizeof ver, "%" PRIu64, v);
        for (int i = 0; args[i]; i++) {
            CHECK(i < CAS_ARGS_MAX);
            a[i] = strcmp(args[i], "V") == 0 ? ver : args[i];
        }
        const struct cli_out *o =
            cli_run_in(NULL, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], (const char *)NULL);
        if (round == 0) {
            snprintf(want, sizeof want, "version conflict (now %" PRIu64 ")", now);
            CHECKF(o->code == 1 && strstr(o->err, want), "cairn %s %s: %d %s", a[0], a[1], o->code,
                   o->err);
            CHECK_EQ(cas_ver(c, checked), now);
        } else {
            CHECKF(o->code == 0, "cairn %s %s: %d %s", a[0], a[1], o->code, o->err);
        }
    }
}

static void cas_cli_attrs(struct cairn *c)
{
    struct cairn_stat st;
    cas_cli(c, "/f", (const char *const[]){"chmod", "--if-version", "V", "600", "/f", NULL});
    CHECK_EQ(cairn_stat(c, "/f", &st), 0);
    CHECK_EQ(st.mode & 07777, 0600);
    char owner[32];
    snprintf(owner, sizeof owner, ":%u", (unsigned)getgid());
    cas_cli(c, "/f", (const char *const[]){"chown", "--if-version", "V", owner, "/f", NULL});
    cas_cli(c, "/f",
            (const char *const[]){"truncate", "-s", "10", "--if-version", "V", "/f", NULL});
    CHECK_EQ(cairn_stat(c, "/f", &st), 0);
    CHECK_EQ(st.size, 10);
    cas_cli(c, "/f", (const char *const[]){"setgoal", "--if-version", "V", "1", "/f", NULL});
    CHECK_EQ(cairn_stat(c, "/f", &st), 0);
    CHECK_EQ(st.goal, 1);
    cas_cli(c, "/f",
            (const char *const[]){"setxattr", "/f", "user.k", "v", "--if-version", "V", NULL});
}

static void cas_cli_names(struct cairn *c)
{
    cas_cli(c, "/", (const char *const[]){"mkdir", "--if-version", "V", "/m", NULL});
    CHECK(cas_exists(c, "/m"));
    cas_cli(c, "/f", (const char *const[]){"ln", "--if-version", "V", "/f", "/m/h", NULL});
    CHECK(cas_exists(c, "/m/h"));
    cas_cli(c, "/m", (const char *const[]){"ln", "-s", "--if-version", "V", "../f", "/m/s", NULL});
    CHECK(cas_exists(c, "/m/s"));
    cas_cli(c, "/m/h", (const char *const[]){"mv", "--if-version", "V", "/m/h", "/m/h2", NULL});
    CHECK(cas_exists(c, "/m/h2") && !cas_exists(c, "/m/h"));
    cas_cli(c, "/m/h2", (const char *const[]){"rm", "--if-version", "V", "/m/h2", NULL});
    CHECK(!cas_exists(c, "/m/h2") && cas_exists(c, "/f"));
}

/* put --if-version overwrites only the version it was given. */
static void cas_cli_put(struct cairn *c)
{
    char local[700], got[16];
    snprintf(local, sizeof local, "%s/new", test_tmpdir());
    cli_write_local(local, "fresh", 5, 0644);
    cas_cli(c, "/f", (const char *const[]){"put", "--if-version", "V", local, "/f", NULL});
    struct cairn_file *f;
    CHECK_EQ(cairn_open(c, "/f", O_RDONLY, 0, &f), 0);
    CHECK_EQ(cairn_pread(f, got, sizeof got, 0), 5);
    CHECK_EQ(cairn_close(f), 0);
    CHECK_MEM_EQ(got, "fresh", 5);
    /* a missing target is not created */
    const struct cli_out *o = CLI_EXPECT(1, "put", "--if-version", "1", local, "/absent");
    CHECKF(strstr(o->err, "No such file") != NULL, "%s", o->err);
}

TEST_T(lock_cas_cli_flags, 120)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/c", test_tmpdir());
    cli_up(dir, 1, 1);
    struct cairn *c = cas_connect();
    cas_create(c, "/f");
    cas_cli_attrs(c);
    cas_cli_names(c);
    cas_cli_put(c);
    /* one path, no trees; a number */
    CLI_EXPECT(2, "chmod", "-R", "--if-version", "1", "600", "/f");
    CLI_EXPECT(2, "chmod", "--if-version", "1", "600", "/f", "/m");
    CLI_EXPECT(2, "rm", "--if-version", "x1", "/f");
    CLI_EXPECT(2, "mkdir", "-p", "--if-version", "1", "/q/r");
    CLI_EXPECT(2, "put", "-r", "--if-version", "1", test_tmpdir(), "/f");
    /* stat --json shows the version the flags take */
    const struct cli_out *o = CLI_EXPECT(0, "stat", "--json", "/f");
    struct jv *v = jv_parse(o->out);
    CHECK(v != NULL);
    CHECK_EQ(jv_u64(v, "version"), cas_ver(c, "/f"));
    jv_free(v);
    cairn_disconnect(c);
    cli_down();
}
