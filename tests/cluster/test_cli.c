/* test_cli.c: the `cairn` command against a real local cluster (`cairn
 * cluster up` in the case's directory): every command's success and error
 * paths, exit codes, messages, and --json outputs parsed (test_cli.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "test_cli.h"

#define OUT_HAS(o, text) \
    CHECKF(strstr((o)->out, (text)) != NULL, "stdout lacks \"%s\":\n%s", (text), (o)->out)
#define ERR_HAS(o, text) \
    CHECKF(strstr((o)->err, (text)) != NULL, "stderr lacks \"%s\":\n%s", (text), (o)->err)

static void path_in(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", test_tmpdir(), name);
}

static struct jv *parse_out(const struct cli_out *o)
{
    struct jv *v = jv_parse(o->out);
    CHECKF(v != NULL, "not valid JSON:\n%s", o->out);
    return v;
}

/* --- the local cluster's life ----------------------------------------------------- */

TEST_T(cli_cluster_lifecycle, 150)
{
    char dir[512], path[600];
    path_in(dir, sizeof dir, "c");
    cli_up(dir, 3, 2);
    struct stat st;
    snprintf(path, sizeof path, "%s/secret", dir);
    CHECK(stat(path, &st) == 0);
    CHECKF((st.st_mode & 077) == 0, "secret mode %o", (unsigned)st.st_mode & 0777);
    const struct cli_out *o = CLI_EXPECT(0, "cluster", "status");
    OUT_HAS(o, "leader");
    OUT_HAS(o, "node 1 up");
    /* a second up on a running cluster is refused and touches nothing */
    o = CLI_EXPECT(1, "cluster", "up", "--dir", dir);
    ERR_HAS(o, "already running");
    CLI_EXPECT(0, "mkdir", "/keep");
    cli_down();
    o = CLI_EXPECT(3, "cluster", "status");
    OUT_HAS(o, "stopped");
    setenv("CAIRN_TIMEOUT", "2", 1);
    o = CLI_EXPECT(3, "ls", "/");
    ERR_HAS(o, "cairn: ls: cannot reach the cluster");
    unsetenv("CAIRN_TIMEOUT");
    /* up again on the same directory: the same cluster, data kept */
    cli_up(dir, 3, 2);
    o = CLI_EXPECT(0, "ls", "/");
    CHECK(strcmp(o->out, "keep\n") == 0);
    cli_down();
}

TEST_T(cli_usage_and_unreachable, 90)
{
    char file[600], secret[600], text[1400];
    path_in(file, sizeof file, "none.conf");
    setenv("CAIRN_CLUSTER", file, 1);
    const struct cli_out *o = CLI_EXPECT(3, "ls", "/");
    ERR_HAS(o, "no cluster file");
    /* a cluster file whose servers do not answer */
    path_in(secret, sizeof secret, "secret");
    cli_write_local(secret, "0123456789abcdef0123456789abcdef\n", 33, 0600);
    snprintf(text, sizeof text, "meta = 127.0.0.1:1\nsecret = %s\n", secret);
    path_in(file, sizeof file, "dead.conf");
    cli_write_local(file, text, strlen(text), 0644);
    setenv("CAIRN_CLUSTER", file, 1);
    setenv("CAIRN_TIMEOUT", "2", 1);
    o = CLI_EXPECT(3, "stat", "/");
    ERR_HAS(o, "cannot reach the cluster");
    /* a secret others may read is refused before anything is sent */
    CHECK(chmod(secret, 0644) == 0);
    o = CLI_EXPECT(3, "df");
    ERR_HAS(o, "Permission denied");
    unsetenv("CAIRN_TIMEOUT");
    /* usage errors are found before connecting: exit 2 */
    o = cli_run("");
    CHECK(o->code == 2);
    CLI_EXPECT(2, "no-such-command");
    o = CLI_EXPECT(2, "ls", "--bogus");
    ERR_HAS(o, "cairn: ls: unknown flag --bogus");
    CLI_EXPECT(2, "mkdir");
    CLI_EXPECT(2, "mkdir", "-m", "9z", "/x");
    CLI_EXPECT(2, "chmod", "u+q", "/x");
    CLI_EXPECT(2, "setgoal", "10", "/x");
    CLI_EXPECT(2, "truncate", "/x");
    CLI_EXPECT(2, "put", "onlyone");
    CLI_EXPECT(2, "cluster", "sideways");
    o = CLI_EXPECT(1, "cluster", "down", "--dir", "/nonexistent-dir");
    ERR_HAS(o, "No such file or directory");
    o = CLI_EXPECT(0, "--help");
    OUT_HAS(o, "exit codes");
    OUT_HAS(o, "3  cluster unreachable");
    const char *cmds[] = {"put",     "get",     "cat", "ls",     "stat",  "mkdir",
                          "rm",      "mv",      "ln",  "chmod",  "chown", "truncate",
                          "setgoal", "getgoal", "df",  "status", "fsck",  "cluster"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        o = CLI_EXPECT(0, cmds[i], "--help");
        OUT_HAS(o, "usage: cairn ");
        OUT_HAS(o, "example");
        o = CLI_EXPECT(0, "help", cmds[i]);
        OUT_HAS(o, "usage: cairn ");
    }
}

/* --- namespace commands ------------------------------------------------------------ */

static void ns_dirs_and_listing(void)
{
    const struct cli_out *o;
    CLI_EXPECT(0, "mkdir", "/d");
    o = CLI_EXPECT(1, "mkdir", "/d");
    ERR_HAS(o, "cairn: mkdir: /d: File exists");
    CLI_EXPECT(0, "mkdir", "-p", "/d/e/f");
    CLI_EXPECT(0, "mkdir", "-p", "/d/e/f");
    o = CLI_EXPECT(1, "mkdir", "/x/y");
    ERR_HAS(o, "cairn: mkdir: /x/y: No such file or directory");
    CLI_EXPECT(0, "mkdir", "-m", "0700", "/private");
    o = CLI_EXPECT(0, "ls", "/");
    CHECK(strcmp(o->out, "d\nprivate\n") == 0);
    o = CLI_EXPECT(0, "ls", "-l", "/d");
    OUT_HAS(o, "drwx");
    OUT_HAS(o, " e\n");
    o = CLI_EXPECT(0, "ls", "--json", "/");
    struct jv *v = parse_out(o);
    CHECK(v->type == JV_ARR && v->n == 2);
    CHECK(strcmp(jv_str(v->vals[0], "name"), "d") == 0);
    CHECK(strcmp(jv_str(v->vals[0], "type"), "dir") == 0);
    CHECK(strcmp(jv_str(v->vals[1], "path"), "/private") == 0);
    CHECK(jv_u64(v->vals[1], "mode") == 0700);
    jv_free(v);
    o = CLI_EXPECT(1, "ls", "/nope");
    ERR_HAS(o, "cairn: ls: /nope: No such file or directory");
}

static void ns_files_and_links(const char *local)
{
    const struct cli_out *o;
    CLI_EXPECT(0, "put", local, "/d/f.txt");
    o = CLI_EXPECT(0, "stat", "--json", "/d/f.txt");
    struct jv *v = parse_out(o);
    CHECK(strcmp(jv_str(v, "type"), "file") == 0);
    CHECK(jv_u64(v, "size") == 12);
    CHECK(jv_u64(v, "mode") == 0640);
    CHECK(jv_u64(v, "goal") == 2);
    CHECK(jv_u64(v, "nlink") == 1);
    jv_free(v);
    o = CLI_EXPECT(0, "stat", "/d/f.txt");
    OUT_HAS(o, "Size: 12");
    o = CLI_EXPECT(1, "stat", "/d/nope");
    ERR_HAS(o, "cairn: stat: /d/nope: No such file or directory");
    CLI_EXPECT(0, "mv", "/d/f.txt", "/d/g.txt");
    CLI_EXPECT(1, "stat", "/d/f.txt");
    CLI_EXPECT(0, "mv", "/d/g.txt", "/d/e"); /* into the directory */
    CLI_EXPECT(0, "stat", "/d/e/g.txt");
    CLI_EXPECT(0, "put", local, "/a1");
    CLI_EXPECT(0, "put", local, "/a2");
    o = CLI_EXPECT(1, "mv", "-n", "/a1", "/a2");
    ERR_HAS(o, "File exists");
    CLI_EXPECT(0, "ln", "/d/e/g.txt", "/hard");
    v = parse_out(CLI_EXPECT(0, "stat", "--json", "/hard"));
    CHECK(jv_u64(v, "nlink") == 2);
    jv_free(v);
    CLI_EXPECT(0, "ln", "-s", "/d/e", "/sym");
    o = CLI_EXPECT(0, "ls", "/sym");
    CHECK(strcmp(o->out, "f\ng.txt\n") == 0);
    v = parse_out(CLI_EXPECT(0, "stat", "--json", "/sym"));
    CHECK(strcmp(jv_str(v, "type"), "symlink") == 0);
    CHECK(strcmp(jv_str(v, "target"), "/d/e") == 0);
    jv_free(v);
    v = parse_out(CLI_EXPECT(0, "stat", "-L", "--json", "/sym"));
    CHECK(strcmp(jv_str(v, "type"), "dir") == 0);
    jv_free(v);
    o = CLI_EXPECT(0, "cat", "/sym/g.txt");
    CHECK(strcmp(o->out, "hello cairn\n") == 0);
    CLI_EXPECT(0, "ln", "-s", "/loop2", "/loop1");
    CLI_EXPECT(0, "ln", "-s", "/loop1", "/loop2");
    o = CLI_EXPECT(1, "stat", "-L", "/loop1");
    ERR_HAS(o, "Too many levels of symbolic links");
    o = CLI_EXPECT(1, "ln", "/nope", "/x");
    ERR_HAS(o, "cairn: ln: /nope: No such file or directory");
}

static void ns_attributes(void)
{
    const struct cli_out *o;
    struct jv *v;
    CLI_EXPECT(0, "chmod", "0600", "/hard");
    CLI_EXPECT(0, "chmod", "g+r,o+x", "/hard");
    v = parse_out(CLI_EXPECT(0, "stat", "--json", "/hard"));
    CHECK(jv_u64(v, "mode") == 0641);
    jv_free(v);
    o = CLI_EXPECT(1, "chmod", "0644", "/nope");
    ERR_HAS(o, "cairn: chmod: /nope: No such file or directory");
    if (geteuid() == 0) {
        CLI_EXPECT(0, "chown", "1234:5678", "/hard");
        v = parse_out(CLI_EXPECT(0, "stat", "--json", "/hard"));
        CHECK(jv_u64(v, "uid") == 1234 && jv_u64(v, "gid") == 5678);
        jv_free(v);
    }
    CLI_EXPECT(2, "chown", "no-such-user-here", "/hard");
    o = CLI_EXPECT(1, "chown", "0:0", "/nope");
    ERR_HAS(o, "cairn: chown: /nope: No such file or directory");
    o = CLI_EXPECT(1, "setgoal", "2", "/nope");
    ERR_HAS(o, "cairn: setgoal: /nope: No such file or directory");
    o = CLI_EXPECT(1, "getgoal", "/nope");
    ERR_HAS(o, "cairn: getgoal: /nope: No such file or directory");
    CLI_EXPECT(0, "truncate", "-s", "1M", "/t.bin");
    v = parse_out(CLI_EXPECT(0, "stat", "--json", "/t.bin"));
    CHECK(jv_u64(v, "size") == 1048576);
    jv_free(v);
    CLI_EXPECT(0, "truncate", "-s", "10", "/t.bin");
    o = CLI_EXPECT(0, "cat", "/t.bin");
    CHECK(o->out_len == 10 && memcmp(o->out, "\0\0\0\0\0\0\0\0\0\0", 10) == 0);
    o = CLI_EXPECT(1, "truncate", "-c", "-s", "5", "/absent");
    ERR_HAS(o, "No such file or directory");
    o = CLI_EXPECT(1, "mkdir", "/t.bin/x");
    ERR_HAS(o, "Not a directory");
    CLI_EXPECT(0, "setgoal", "3", "/d");
    o = CLI_EXPECT(0, "getgoal", "/d");
    CHECK(strcmp(o->out, "/d: 3\n") == 0);
    CLI_EXPECT(0, "setgoal", "-r", "1", "/d");
    o = CLI_EXPECT(0, "getgoal", "/d/e/g.txt", "/");
    CHECK(strcmp(o->out, "/d/e/g.txt: 1\n/: 2\n") == 0);
    char longname[300];
    memset(longname, 'a', sizeof longname);
    longname[0] = '/';
    longname[sizeof longname - 1] = 0;
    o = CLI_EXPECT(1, "mkdir", longname);
    ERR_HAS(o, "File name too long");
}

static void ns_remove(void)
{
    const struct cli_out *o = CLI_EXPECT(1, "rm", "/d");
    ERR_HAS(o, "cairn: rm: /d: Is a directory");
    CLI_EXPECT(0, "rm", "-r", "/d");
    CLI_EXPECT(1, "stat", "/d");
    CLI_EXPECT(0, "rm", "-f", "/nope");
    o = CLI_EXPECT(1, "rm", "/nope");
    ERR_HAS(o, "cairn: rm: /nope: No such file or directory");
    o = CLI_EXPECT(1, "rm", "-r", "/");
    ERR_HAS(o, "refusing to remove the root");
    CLI_EXPECT(0, "rm", "/sym", "/hard", "/a1", "/a2", "/loop1", "/loop2", "/t.bin");
}

TEST_T(cli_namespace, 150)
{
    char dir[512], local[600];
    path_in(dir, sizeof dir, "c");
    path_in(local, sizeof local, "f.txt");
    cli_write_local(local, "hello cairn\n", 12, 0640);
    cli_up(dir, 3, 2);
    ns_dirs_and_listing();
    ns_files_and_links(local);
    ns_attributes();
    ns_remove();
    const struct cli_out *o = CLI_EXPECT(0, "ls", "/");
    CHECK(strcmp(o->out, "private\n") == 0);
    /* --cluster FILE, before or after the command, beats CAIRN_CLUSTER */
    char file[600], bogus[600];
    snprintf(file, sizeof file, "%s", getenv("CAIRN_CLUSTER"));
    path_in(bogus, sizeof bogus, "nothing-here.conf");
    setenv("CAIRN_CLUSTER", bogus, 1);
    CLI_EXPECT(3, "ls", "/");
    o = CLI_EXPECT(0, "--cluster", file, "ls", "/");
    CHECK(strcmp(o->out, "private\n") == 0);
    o = CLI_EXPECT(0, "ls", "--cluster", file, "/");
    CHECK(strcmp(o->out, "private\n") == 0);
    setenv("CAIRN_CLUSTER", file, 1);
    cli_down();
}
