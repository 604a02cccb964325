/*
 * ns.c: the namespace commands of `cairn` (cli.h): ls, stat, mkdir, rm, mv,
 * ln, chmod, chown, truncate, setgoal, getgoal. Each connects through the
 * cluster file, works on every path it is given, reports each failure as
 * `cairn: CMD: PATH: message` and exits with the worst code.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"

#define N_OPTS(o) (sizeof(o) / sizeof((o)[0]))

/* Shared start of every command: parse, check the positional count,
 * connect. Returns CLI_OK or the exit code to return. */
static int start(const char *cmd, int argc, char **argv, const struct cli_opt *opts, size_t n,
                 char **pos, int *n_pos, int min_pos, struct cairn **c)
{
    int rc = cli_parse(cmd, argc, argv, opts, n, pos, n_pos);
    if (rc)
        return rc;
    if (*n_pos < min_pos)
        return cli_usage_error(cmd, "missing operand");
    return cli_connect(cmd, c);
}

/* The --if-version flag of a command (docs/locks.md): s is its text. */
struct cas {
    const char *s;
    uint64_t v;
};

/* Parse --if-version and check it names one path and no tree: CLI_OK or
 * CLI_USAGE (message printed). */
static int cas_check(const char *cmd, struct cas *k, int n_paths, int recursive)
{
    int rc = cli_if_version(cmd, k->s, &k->v);
    if (rc == CLI_OK && k->s && (n_paths != 1 || recursive))
        rc = cli_usage_error(cmd, "--if-version takes one PATH and no -r/-R/-p");
    return rc;
}

/* Report rc of a call made with --if-version (a cairn_err; now_path: the
 * inode it checked) or without (a negative errno). */
static int cas_fail(const char *cmd, struct cairn *c, const struct cas *k, const char *what,
                    const char *now_path, int follow, int rc)
{
    return k->s ? cli_cas_error(cmd, c, what, now_path, follow, rc) : cli_error(cmd, what, rc);
}

static const char *type_name(uint32_t mode)
{
    return S_ISDIR(mode) ? "dir" : S_ISLNK(mode) ? "symlink" : S_ISREG(mode) ? "file" : "other";
}

static uint64_t ts_ns(struct timespec t)
{
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The attributes of one inode as a JSON object's members. */
static void json_attrs(struct cli_json *j, struct cairn *c, const char *path,
                       const struct cairn_stat *st)
{
    json_ku64(j, "ino", st->ino);
    json_kstr(j, "type", type_name(st->mode));
    json_ku64(j, "mode", st->mode & 07777u);
    json_ku64(j, "nlink", st->nlink);
    json_ku64(j, "uid", st->uid);
    json_ku64(j, "gid", st->gid);
    json_ku64(j, "size", st->size);
    json_ku64(j, "atime_ns", ts_ns(st->atime));
    json_ku64(j, "mtime_ns", ts_ns(st->mtime));
    json_ku64(j, "ctime_ns", ts_ns(st->ctime));
    json_ku64(j, "version", st->version);
    json_ku64(j, "goal", st->goal);
    if (S_ISLNK(st->mode)) {
        char target[4097];
        ssize_t n = cairn_readlink(c, path, target, sizeof target - 1);
        if (n >= 0) {
            json_key(j, "target");
            json_strn(j, target, (size_t)n < sizeof target - 1 ? (size_t)n : sizeof target - 1);
        }
    }
}

/* --- ls ------------------------------------------------------------------------------------- */

const char cli_ls_usage[] =
    "usage: cairn ls [-l] [-a] [-d] [--json] [PATH...]\n"
    "\n"
    "List directories (their entries sorted by name) or name files. PATH defaults\n"
    "to /. A final symbolic link to a directory is listed as the directory.\n"
    "\n"
    "  -l       long form: mode, links, owner, group, size, modification time\n"
    "  -a       also \".\" and \"..\"\n"
    "  -d       the directories themselves, not their entries\n"
    "  --json   one JSON array: an object per entry (name, path, ino, type, mode,\n"
    "           nlink, uid, gid, size, atime_ns, mtime_ns, ctime_ns, version, goal,\n"
    "           target for links)\n"
    "\n"
    "examples:\n"
    "  cairn ls /\n"
    "  cairn ls -l /src /docs\n"
    "  cairn ls --json /src | jq '.[] | select(.size > 1000000) | .path'\n";

struct ls_ctx {
    struct cairn *c;
    int l, a, d, json;
    struct cli_json j;
};

static void ls_line(struct ls_ctx *x, const char *path, const char *name,
                    const struct cairn_stat *st)
{
    if (x->json) {
        json_obj(&x->j);
        json_kstr(&x->j, "name", name);
        json_kstr(&x->j, "path", path);
        json_attrs(&x->j, x->c, path, st);
        json_obj_end(&x->j);
        return;
    }
    if (!x->l) {
        printf("%s\n", name);
        return;
    }
    char mode[11], when[32], target[4097] = "";
    struct tm tm;
    time_t t = st->mtime.tv_sec;
    localtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    if (S_ISLNK(st->mode)) {
        ssize_t n = cairn_readlink(x->c, path, target, sizeof target - 1);
        target[n > 0 && (size_t)n < sizeof target ? n : 0] = 0;
    }
    printf("%s %3" PRIu32 " %5" PRIu32 " %5" PRIu32 " %12" PRIu64 " %s %s%s%s\n",
           cli_mode_string(st->mode, mode), st->nlink, st->uid, st->gid, st->size, when, name,
           target[0] ? " -> " : "", target);
}

static int ls_dir(struct ls_ctx *x, const char *path)
{
    char **names;
    size_t n;
    int rc = cli_list_dir(x->c, path, &names, &n);
    if (rc)
        return cli_error("ls", path, rc);
    int code = CLI_OK;
    const char *dots[] = {".", ".."};
    for (size_t i = x->a ? 0 : 2; i < n + 2; i++) {
        const char *name = i < 2 ? dots[i] : names[i - 2];
        char child[4096];
        struct cairn_stat st = {0};
        rc = cli_join(child, sizeof child, path, name);
        if (rc == 0 && (x->l || x->json))
            rc = cairn_lstat(x->c, child, &st);
        if (rc == -ENOENT && i >= 2)
            continue; /* removed while we listed */
        if (rc) {
            code = cli_worse(code, cli_error("ls", child, rc));
            continue;
        }
        ls_line(x, child, name, &st);
    }
    free(names);
    return code;
}

static int ls_one(struct ls_ctx *x, const char *path, int many)
{
    struct cairn_stat st;
    int rc = cairn_stat(x->c, path, &st);
    if (rc == -ENOENT || rc == -ELOOP) /* a dangling or looping link is still listed */
        rc = cairn_lstat(x->c, path, &st);
    if (rc)
        return cli_error("ls", path, rc);
    if (!S_ISDIR(st.mode) || x->d) {
        if (x->l || x->json)
            rc = cairn_lstat(x->c, path, &st);
        if (rc)
            return cli_error("ls", path, rc);
        ls_line(x, path, path, &st);
        return CLI_OK;
    }
    if (many && !x->json)
        printf("%s:\n", path);
    return ls_dir(x, path);
}

int cli_ls(int argc, char **argv)
{
    struct ls_ctx x = {0};
    const struct cli_opt opts[] = {
        {NULL, 'l', NULL, &x.l},
        {NULL, 'a', NULL, &x.a},
        {NULL, 'd', NULL, &x.d},
        {"json", 0, NULL, &x.json},
    };
    char *pos[argc + 1];
    int n_pos;
    int code = start("ls", argc, argv, opts, N_OPTS(opts), pos, &n_pos, 0, &x.c);
    if (code)
        return code;
    char root[] = "/";
    if (n_pos == 0)
        pos[n_pos++] = root;
    json_init(&x.j, stdout);
    if (x.json)
        json_arr(&x.j);
    for (int i = 0; i < n_pos; i++) {
        if (i > 0 && n_pos > 1 && !x.json)
            printf("\n");
        code = cli_worse(code, ls_one(&x, pos[i], n_pos > 1));
    }
    if (x.json) {
        json_arr_end(&x.j);
        json_done(&x.j);
    }
    cairn_disconnect(x.c);
    return code;
}

/* --- stat ------------------------------------------------------------------------------------- */

const char cli_stat_usage[] =
    "usage: cairn stat [-L] [--json] PATH...\n"
    "\n"
    "Show the attributes of files, directories and links (a link itself unless\n"
    "-L): inode, type, mode, links, owner, size, times, version (bumped by every\n"
    "change) and replication goal.\n"
    "\n"
    "  -L       follow a final symbolic link\n"
    "  --json   a JSON object per path (an array when there are several): path,\n"
    "           ino, type, mode, nlink, uid, gid, size, atime_ns, mtime_ns,\n"
    "           ctime_ns, version, goal, target for links\n"
    "\n"
    "examples:\n"
    "  cairn stat /src/main.c\n"
    "  cairn stat --json /src | jq .version\n";

static void print_time(const char *label, struct timespec t)
{
    char when[64];
    struct tm tm;
    time_t s = t.tv_sec;
    localtime_r(&s, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    printf("%s: %s.%09ld\n", label, when, t.tv_nsec);
}

static void stat_text(struct cairn *c, const char *path, const struct cairn_stat *st)
{
    char mode[11], target[4097] = "";
    if (S_ISLNK(st->mode)) {
        ssize_t n = cairn_readlink(c, path, target, sizeof target - 1);
        target[n > 0 && (size_t)n < sizeof target ? n : 0] = 0;
    }
    printf("  File: %s%s%s\n", path, target[0] ? " -> " : "", target);
    printf("  Type: %-10s Inode: %-12" PRIu64 " Links: %" PRIu32 "\n", type_name(st->mode), st->ino,
           st->nlink);
    printf("  Size: %-10" PRIu64 " Goal: %-13" PRIu32 " Version: %" PRIu64 "\n", st->size, st->goal,
           st->version);
    printf("  Mode: %04o (%s)  Uid: %" PRIu32 "  Gid: %" PRIu32 "\n", st->mode & 07777u,
           cli_mode_string(st->mode, mode), st->uid, st->gid);
    print_time("Access", st->atime);
    print_time("Modify", st->mtime);
    print_time("Change", st->ctime);
}

int cli_stat(int argc, char **argv)
{
    int json = 0, follow = 0;
    const struct cli_opt opts[] = {{"json", 0, NULL, &json}, {NULL, 'L', NULL, &follow}};
    char *pos[argc + 1];
    int n_pos;
    struct cairn *c;
    int code = start("stat", argc, argv, opts, N_OPTS(opts), pos, &n_pos, 1, &c);
    if (code)
        return code;
    struct cli_json j;
    json_init(&j, stdout);
    if (json && n_pos > 1)
        json_arr(&j);
    for (int i = 0; i < n_pos; i++) {
        struct cairn_stat st;
        int rc = follow ? cairn_stat(c, pos[i], &st) : cairn_lstat(c, pos[i], &st);
        if (rc) {
            code = cli_worse(code, cli_error("stat", pos[i], rc));
            continue;
        }
        if (json) {
            json_obj(&j);
            json_kstr(&j, "path", pos[i]);
            json_attrs(&j, c, pos[i], &st);
            json_obj_end(&j);
        } else {
            stat_text(c, pos[i], &st);
        }
    }
    if (json && n_pos > 1)
        json_arr_end(&j);
    if (json && (n_pos > 1 || code == CLI_OK))
        json_done(&j);
    cairn_disconnect(c);
    return code;
}

/* --- mkdir -------------------------------------------------------------------------------------
 */

const char cli_mkdir_usage[] =
    "usage: cairn mkdir [-p] [-m MODE] [--if-version V] PATH...\n"
    "\n"
    "Make directories.\n"
    "\n"
    "  -p                make missing parents too; no error if a directory exists\n"
    "  -m MODE           permission bits in octal (default 0777 less the umask)\n"
    "  --if-version V    only if the PARENT directory still has version V (as\n"
    "                    `cairn stat` shows it: nobody changed its entries since);\n"
    "                    else `version conflict (now V2)` and exit 1. One PATH, no -p\n"
    "\n"
    "examples:\n"
    "  cairn mkdir /projects\n"
    "  cairn mkdir -p -m 0750 /projects/2026/reports\n"
    "  cairn mkdir --if-version 12 /projects/new\n";

static int parse_octal(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 8);
    if (!*s || *end || v > 07777)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* mkdir -p: every prefix of path that is missing. */
static int mkdir_parents(struct cairn *c, const char *path, uint32_t mode)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0)
            continue;
        char saved = buf[i];
        buf[i] = 0;
        int rc = cairn_mkdir(c, buf, mode);
        if (rc == -EEXIST) {
            struct cairn_stat st;
            rc = cairn_stat(c, buf, &st);
            if (rc == 0 && !S_ISDIR(st.mode))
                rc = -ENOTDIR;
        }
        buf[i] = saved;
        if (rc)
            return rc;
    }
    return 0;
}

int cli_mkdir(int argc, char **argv)
{
    int parents = 0;
    const char *mode_s = NULL;
    struct cas k = {0};
    const struct cli_opt opts[] = {{"parents", 'p', NULL, &parents},
                                   {"mode", 'm', &mode_s, NULL},
                                   {"if-version", 0, &k.s, NULL}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("mkdir", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code == CLI_OK && n_pos >= 1)
        code = cas_check("mkdir", &k, n_pos, parents);
    if (code)
        return code;
    uint32_t mode = 0777;
    if (mode_s && parse_octal(mode_s, &mode) != 0)
        return cli_usage_error("mkdir", "bad mode \"%s\" (octal, e.g. 0755)", mode_s);
    if (n_pos < 1)
        return cli_usage_error("mkdir", "missing operand");
    struct cairn *c;
    code = cli_connect("mkdir", &c);
    if (code)
        return code;
    for (int i = 0; i < n_pos; i++) {
        int rc = parents ? mkdir_parents(c, pos[i], mode)
                 : k.s   ? cairn_mkdir_if(c, pos[i], mode, k.v)
                         : cairn_mkdir(c, pos[i], mode);
        char dir[4096];
        if (rc) {
            cli_dirname(pos[i], dir, sizeof dir);
            code = cli_worse(code, cas_fail("mkdir", c, &k, pos[i], dir, 1, rc));
            continue;
        }
        if (mode_s) /* explicit modes are not masked (as mkdir -m) */
            rc = cairn_chmod(c, pos[i], mode);
        if (rc)
            code = cli_worse(code, cli_error("mkdir", pos[i], rc));
    }
    cairn_disconnect(c);
    return code;
}

/* --- rm ------------------------------------------------------------------------------------------
 */

const char cli_rm_usage[] =
    "usage: cairn rm [-r] [-f] [--if-version V] PATH...\n"
    "\n"
    "Remove files and links; with -r also directories and everything in them.\n"
    "The root directory is never removed.\n"
    "\n"
    "  -r, -R           remove directories and their contents\n"
    "  -f               ignore paths that do not exist\n"
    "  --if-version V   only if the file being removed (the link itself for a\n"
    "                   link) still has version V (`cairn stat`); else `version\n"
    "                   conflict (now V2)` and exit 1. One PATH, no -r\n"
    "\n"
    "examples:\n"
    "  cairn rm /tmp/old.log\n"
    "  cairn rm -rf /scratch\n"
    "  cairn rm --if-version 7 /queue/job-17\n";

static int rm_visit(struct cairn *c, const char *path, const struct cairn_stat *st, int post,
                    void *arg)
{
    (void)arg;
    if (S_ISDIR(st->mode) && !post)
        return CLI_OK;
    int rc = S_ISDIR(st->mode) ? cairn_rmdir(c, path) : cairn_unlink(c, path);
    return rc && rc != -ENOENT ? cli_error("rm", path, rc) : CLI_OK;
}

static int rm_one(struct cairn *c, const char *path, int recursive, int force, const struct cas *k)
{
    struct cairn_stat st;
    int rc = cairn_lstat(c, path, &st);
    if (rc)
        return force && rc == -ENOENT ? CLI_OK : cli_error("rm", path, rc);
    if (S_ISDIR(st.mode) && st.ino == 1) {
        fprintf(stderr, "cairn: rm: %s: refusing to remove the root directory\n", path);
        return CLI_FAIL;
    }
    if (!S_ISDIR(st.mode)) {
        rc = k->s ? cairn_unlink_if(c, path, k->v) : cairn_unlink(c, path);
        return rc && !(force && rc == -ENOENT) ? cas_fail("rm", c, k, path, path, 0, rc) : CLI_OK;
    }
    if (!recursive)
        return cli_error("rm", path, -EISDIR);
    return cli_walk("rm", c, path, rm_visit, NULL);
}

int cli_rm(int argc, char **argv)
{
    int r = 0, rr = 0, f = 0;
    struct cas k = {0};
    const struct cli_opt opts[] = {{"recursive", 'r', NULL, &r},
                                   {NULL, 'R', NULL, &rr},
                                   {"force", 'f', NULL, &f},
                                   {"if-version", 0, &k.s, NULL}};
    char *pos[argc + 1];
    int n_pos;
    struct cairn *c;
    int code = cli_parse("rm", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code == CLI_OK && n_pos >= 1)
        code = cas_check("rm", &k, n_pos, r || rr);
    if (code)
        return code;
    if (n_pos < 1)
        return f ? CLI_OK : cli_usage_error("rm", "missing operand");
    code = cli_connect("rm", &c);
    if (code)
        return code;
    for (int i = 0; i < n_pos; i++)
        code = cli_worse(code, rm_one(c, pos[i], r || rr, f, &k));
    cairn_disconnect(c);
    return code;
}

/* --- mv and ln ---------------------------------------------------------------------------------
 */

const char cli_mv_usage[] =
    "usage: cairn mv [-n] [--if-version V] SOURCE DEST\n"
    "       cairn mv [-n] SOURCE... DIRECTORY\n"
    "\n"
    "Rename SOURCE to DEST, replacing a DEST that is a file (or an empty\n"
    "directory); or move each SOURCE into DIRECTORY. One atomic rename each.\n"
    "\n"
    "  -n               never replace an existing target (fails with \"File exists\")\n"
    "  --if-version V   only if SOURCE (the inode being moved, not a DEST it would\n"
    "                   replace) still has version V (`cairn stat`); else `version\n"
    "                   conflict (now V2)` and exit 1. One SOURCE\n"
    "\n"
    "examples:\n"
    "  cairn mv /a.txt /b.txt\n"
    "  cairn mv /a.txt /b.txt /archive/\n"
    "  cairn mv --if-version 9 /inbox/msg /done/msg\n";

/* DEST, or DEST/basename(src) when DEST is a directory. */
static int target_in(struct cairn *c, const char *src, const char *dest, int many, char *out,
                     size_t len)
{
    struct cairn_stat st;
    int rc = cairn_stat(c, dest, &st);
    if (rc == 0 && S_ISDIR(st.mode)) {
        char base[256];
        return cli_join(out, len, dest, cli_basename(src, base, sizeof base));
    }
    if (many)
        return rc ? rc : -ENOTDIR;
    snprintf(out, len, "%s", dest);
    return 0;
}

int cli_mv(int argc, char **argv)
{
    int noreplace = 0;
    struct cas k = {0};
    const struct cli_opt opts[] = {{"no-clobber", 'n', NULL, &noreplace},
                                   {"if-version", 0, &k.s, NULL}};
    char *pos[argc + 1];
    int n_pos;
    struct cairn *c;
    int code = cli_parse("mv", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code == CLI_OK && n_pos >= 2)
        code = cas_check("mv", &k, n_pos - 1, 0);
    if (code == CLI_OK)
        code = n_pos < 2 ? cli_usage_error("mv", "missing operand") : cli_connect("mv", &c);
    if (code)
        return code;
    const char *dest = pos[n_pos - 1];
    for (int i = 0; i < n_pos - 1; i++) {
        char to[4096];
        int rc = target_in(c, pos[i], dest, n_pos > 2, to, sizeof to);
        unsigned flags = noreplace ? CAIRN_RENAME_NOREPLACE : 0;
        if (rc == 0)
            rc = k.s ? cairn_rename_if(c, pos[i], to, flags, k.v)
                     : cairn_rename2(c, pos[i], to, flags);
        if (rc)
            code =
                cli_worse(code, cas_fail("mv", c, &k, rc == -ENOTDIR && n_pos > 2 ? dest : pos[i],
                                         pos[i], 0, rc));
    }
    cairn_disconnect(c);
    return code;
}

const char cli_ln_usage[] =
    "usage: cairn ln [-s] [--if-version V] TARGET LINK\n"
    "       cairn ln [-s] [--if-version V] TARGET DIRECTORY\n"
    "\n"
    "Make a hard link LINK to the file TARGET, or with -s a symbolic link LINK\n"
    "whose content is TARGET (any text; resolved when the link is used). With a\n"
    "DIRECTORY, the link is made in it under TARGET's last name.\n"
    "\n"
    "  -s               symbolic link\n"
    "  --if-version V   only if TARGET (whose link count changes) still has\n"
    "                   version V (`cairn stat`); with -s, the directory that\n"
    "                   gets LINK (TARGET is only text); else `version conflict\n"
    "                   (now V2)` and exit 1\n"
    "\n"
    "examples:\n"
    "  cairn ln /data/v2.bin /data/current.bin\n"
    "  cairn ln -s ../shared/config /app/config\n";

int cli_ln(int argc, char **argv)
{
    int sym = 0;
    struct cas k = {0};
    const struct cli_opt opts[] = {{"symbolic", 's', NULL, &sym}, {"if-version", 0, &k.s, NULL}};
    char *pos[argc + 1];
    int n_pos;
    struct cairn *c;
    int code = cli_parse("ln", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code == CLI_OK)
        code = cas_check("ln", &k, 1, 0);
    if (code == CLI_OK)
        code = n_pos < 2 ? cli_usage_error("ln", "missing operand") : cli_connect("ln", &c);
    if (code)
        return code;
    if (n_pos != 2) {
        cairn_disconnect(c);
        return cli_usage_error("ln", "expected TARGET and LINK");
    }
    char to[4096];
    int rc = target_in(c, pos[0], pos[1], 0, to, sizeof to);
    if (rc == 0 && k.s)
        rc = sym ? cairn_symlink_if(c, pos[0], to, k.v) : cairn_link_if(c, pos[0], to, k.v);
    else if (rc == 0)
        rc = sym ? cairn_symlink(c, pos[0], to) : cairn_link(c, pos[0], to);
    char dir[4096];
    if (rc)
        code = cas_fail("ln", c, &k, rc == -EEXIST ? to : pos[0],
                        sym ? cli_dirname(to, dir, sizeof dir) : pos[0], sym, rc);
    cairn_disconnect(c);
    return code;
}

/* --- chmod, chown, truncate --------------------------------------------------------------------
 */

const char cli_chmod_usage[] =
    "usage: cairn chmod [-R] [--if-version V] MODE PATH...\n"
    "\n"
    "Change permission bits. MODE is octal (0644) or symbolic as chmod(1):\n"
    "[ugoa]*[+-=][rwxXst]*, several separated by commas (u+x,go-w).\n"
    "\n"
    "  -R               also everything under directories (links are not followed)\n"
    "  --if-version V   only if the inode PATH names (through a final link) still\n"
    "                   has version V (`cairn stat -L`); else `version conflict\n"
    "                   (now V2)` and exit 1. One PATH, no -R\n"
    "\n"
    "examples:\n"
    "  cairn chmod 0640 /secrets/key\n"
    "  cairn chmod -R go-w /shared\n";

/* One clause of a symbolic mode ("ug+rx") applied to mode. */
static int sym_clause(const char *s, const char **end, uint32_t *mode, int is_dir)
{
    uint32_t who = 0;
    for (; *s && strchr("ugoa", *s); s++)
        who |= *s == 'u' ? 04700u : *s == 'g' ? 02070u : *s == 'o' ? 01007u : 07777u;
    if (!who)
        who = 07777u;
    if (!*s || !strchr("+-=", *s))
        return -1;
    while (*s && strchr("+-=", *s)) {
        char op = *s++;
        uint32_t bits = 0;
        for (; *s && strchr("rwxXst", *s); s++)
            bits |= *s == 'r'   ? 0444u
                    : *s == 'w' ? 0222u
                    : *s == 'x' ? 0111u
                    : *s == 'X' ? ((is_dir || (*mode & 0111u)) ? 0111u : 0)
                    : *s == 's' ? 06000u
                                : 01000u;
        bits &= who;
        if (op == '+')
            *mode |= bits;
        else if (op == '-')
            *mode &= ~bits;
        else
            *mode = (*mode & ~(who & 0777u)) | bits;
    }
    *end = s;
    return 0;
}

/* A mode string applied to the current mode; -1 if malformed. */
static int mode_apply(const char *spec, uint32_t cur, int is_dir, uint32_t *out)
{
    if (spec[0] >= '0' && spec[0] <= '7')
        return parse_octal(spec, out);
    uint32_t mode = cur & 07777u;
    const char *s = spec;
    for (;;) {
        if (sym_clause(s, &s, &mode, is_dir) != 0)
            return -1;
        if (*s == 0)
            break;
        if (*s++ != ',')
            return -1;
    }
    *out = mode;
    return 0;
}

struct chmod_arg {
    const char *spec;
    struct cas k;
};

static int chmod_visit(struct cairn *c, const char *path, const struct cairn_stat *st, int post,
                       void *arg)
{
    const struct chmod_arg *a = arg;
    if (post || S_ISLNK(st->mode))
        return CLI_OK;
    uint32_t mode;
    if (mode_apply(a->spec, st->mode, S_ISDIR(st->mode), &mode) != 0)
        return cli_usage_error("chmod", "bad mode \"%s\"", a->spec);
    int rc = a->k.s ? cairn_chmod_if(c, path, mode, a->k.v) : cairn_chmod(c, path, mode);
    return rc ? cas_fail("chmod", c, &a->k, path, path, 1, rc) : CLI_OK;
}

int cli_chmod(int argc, char **argv)
{
    int rec = 0;
    struct chmod_arg a = {0};
    const struct cli_opt opts[] = {{"recursive", 'R', NULL, &rec}, {"if-version", 0, &a.k.s, NULL}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("chmod", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code)
        return code;
    uint32_t probe;
    if (n_pos < 2)
        return cli_usage_error("chmod", "missing operand");
    if ((code = cas_check("chmod", &a.k, n_pos - 1, rec)) != 0)
        return code;
    a.spec = pos[0];
    if (mode_apply(pos[0], 0, 0, &probe) != 0)
        return cli_usage_error("chmod", "bad mode \"%s\"", pos[0]);
    struct cairn *c;
    code = cli_connect("chmod", &c);
    if (code)
        return code;
    for (int i = 1; i < n_pos; i++) {
        struct cairn_stat st;
        int rc = cairn_stat(c, pos[i], &st);
        if (rc)
            code = cli_worse(code, cli_error("chmod", pos[i], rc));
        else if (rec && S_ISDIR(st.mode))
            code = cli_worse(code, cli_walk("chmod", c, pos[i], chmod_visit, &a));
        else
            code = cli_worse(code, chmod_visit(c, pos[i], &st, 0, &a));
    }
    cairn_disconnect(c);
    return code;
}

const char cli_chown_usage[] =
    "usage: cairn chown [-R] [--if-version V] OWNER[:GROUP] PATH...\n"
    "       cairn chown [-R] [--if-version V] :GROUP PATH...\n"
    "\n"
    "Change the owner and/or group (names of this machine or numbers). Only root\n"
    "may change the owner; an owner may change the group to one of its groups.\n"
    "\n"
    "  -R               also everything under directories (links themselves are\n"
    "                   changed)\n"
    "  --if-version V   only if the inode PATH names (through a final link) still\n"
    "                   has version V (`cairn stat -L`); else `version conflict\n"
    "                   (now V2)` and exit 1. One PATH, no -R\n"
    "\n"
    "examples:\n"
    "  cairn chown alice /home/alice\n"
    "  cairn chown -R 1000:1000 /projects/x\n";

static int parse_id(const char *s, int group, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s && !*end && v < UINT32_MAX) {
        *out = (uint32_t)v;
        return 0;
    }
    if (group) {
        struct group *g = getgrnam(s);
        if (g)
            *out = (uint32_t)g->gr_gid;
        return g ? 0 : -1;
    }
    struct passwd *p = getpwnam(s);
    if (p)
        *out = (uint32_t)p->pw_uid;
    return p ? 0 : -1;
}

struct owner {
    uint32_t uid, gid;
};

static int chown_visit(struct cairn *c, const char *path, const struct cairn_stat *st, int post,
                       void *arg)
{
    (void)st;
    const struct owner *o = arg;
    if (post)
        return CLI_OK;
    int rc = cairn_lchown(c, path, o->uid, o->gid);
    return rc ? cli_error("chown", path, rc) : CLI_OK;
}

int cli_chown(int argc, char **argv)
{
    int rec = 0;
    struct cas k = {0};
    const struct cli_opt opts[] = {{"recursive", 'R', NULL, &rec}, {"if-version", 0, &k.s, NULL}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("chown", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code)
        return code;
    if (n_pos < 2)
        return cli_usage_error("chown", "missing operand");
    if ((code = cas_check("chown", &k, n_pos - 1, rec)) != 0)
        return code;
    struct owner o = {UINT32_MAX, UINT32_MAX};
    char spec[256];
    snprintf(spec, sizeof spec, "%s", pos[0]);
    char *colon = strchr(spec, ':');
    if (colon)
        *colon = 0;
    if ((spec[0] && parse_id(spec, 0, &o.uid) != 0) ||
        (colon && colon[1] && parse_id(colon + 1, 1, &o.gid) != 0) || (!spec[0] && !colon))
        return cli_usage_error("chown", "unknown owner or group \"%s\"", pos[0]);
    struct cairn *c;
    code = cli_connect("chown", &c);
    if (code)
        return code;
    for (int i = 1; i < n_pos; i++) {
        if (rec) {
            code = cli_worse(code, cli_walk("chown", c, pos[i], chown_visit, &o));
            continue;
        }
        int rc = k.s ? cairn_chown_if(c, pos[i], o.uid, o.gid, k.v)
                     : cairn_chown(c, pos[i], o.uid, o.gid);
        if (rc)
            code = cli_worse(code, cas_fail("chown", c, &k, pos[i], pos[i], 1, rc));
    }
    cairn_disconnect(c);
    return code;
}

const char cli_truncate_usage[] =
    "usage: cairn truncate [-c] [--if-version V] -s SIZE PATH...\n"
    "\n"
    "Set the size of files: cut, or extend with zeros (a hole: no space used).\n"
    "A missing file is created empty first unless -c.\n"
    "\n"
    "  -s SIZE   bytes, or with a suffix K, M, G, T (powers of 1024): 10M\n"
    "  -c               do not create missing files\n"
    "  --if-version V   only if the file still has version V (`cairn stat -L`);\n"
    "                   else `version conflict (now V2)` and exit 1. One PATH,\n"
    "                   never created\n"
    "\n"
    "examples:\n"
    "  cairn truncate -s 0 /logs/app.log\n"
    "  cairn truncate -s 1G /scratch/sparse.img\n";

int cli_truncate(int argc, char **argv)
{
    int no_create = 0;
    const char *size_s = NULL;
    struct cas k = {0};
    const struct cli_opt opts[] = {{"size", 's', &size_s, NULL},
                                   {"no-create", 'c', NULL, &no_create},
                                   {"if-version", 0, &k.s, NULL}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("truncate", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code == CLI_OK && n_pos >= 1)
        code = cas_check("truncate", &k, n_pos, 0);
    if (code)
        return code;
    uint64_t size;
    if (!size_s || cli_parse_size(size_s, &size) != 0)
        return cli_usage_error("truncate", "-s SIZE is required (e.g. -s 10M)");
    if (n_pos < 1)
        return cli_usage_error("truncate", "missing operand");
    struct cairn *c;
    code = cli_connect("truncate", &c);
    if (code)
        return code;
    for (int i = 0; i < n_pos; i++) {
        int rc = k.s ? cairn_truncate_if(c, pos[i], size, k.v) : cairn_truncate(c, pos[i], size);
        if (rc == -ENOENT && !no_create && !k.s) {
            struct cairn_file *f;
            rc = cairn_open(c, pos[i], O_WRONLY | O_CREAT, 0666, &f);
            if (rc == 0)
                rc = cairn_close(f);
            if (rc == 0)
                rc = cairn_truncate(c, pos[i], size);
        }
        if (rc)
            code = cli_worse(code, cas_fail("truncate", c, &k, pos[i], pos[i], 1, rc));
    }
    cairn_disconnect(c);
    return code;
}

/* --- setgoal, getgoal --------------------------------------------------------------------------
 */

const char cli_setgoal_usage[] =
    "usage: cairn setgoal [-r] [--if-version V] GOAL PATH...\n"
    "\n"
    "Set the replication goal (copies of each chunk, 1..9) of files and\n"
    "directories; files created later in a directory inherit its goal. The\n"
    "metadata leader brings existing chunks to the new goal in the background\n"
    "(see `cairn status` / `cairn fsck`).\n"
    "\n"
    "  -r               also everything under directories\n"
    "  --if-version V   only if the inode PATH names (through a final link) still\n"
    "                   has version V (`cairn stat -L`); else `version conflict\n"
    "                   (now V2)` and exit 1. One PATH, no -r\n"
    "\n"
    "examples:\n"
    "  cairn setgoal 3 /important\n"
    "  cairn setgoal -r 1 /scratch\n";

static int setgoal_visit(struct cairn *c, const char *path, const struct cairn_stat *st, int post,
                         void *arg)
{
    if (post || S_ISLNK(st->mode))
        return CLI_OK;
    int rc = cairn_setgoal(c, path, *(const uint32_t *)arg);
    return rc ? cli_error("setgoal", path, rc) : CLI_OK;
}

int cli_setgoal(int argc, char **argv)
{
    int rec = 0;
    struct cas k = {0};
    const struct cli_opt opts[] = {{"recursive", 'r', NULL, &rec}, {"if-version", 0, &k.s, NULL}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("setgoal", argc, argv, opts, N_OPTS(opts), pos, &n_pos);
    if (code == CLI_OK && n_pos >= 2)
        code = cas_check("setgoal", &k, n_pos - 1, rec);
    if (code)
        return code;
    char *end;
    unsigned long goal = n_pos > 0 ? strtoul(pos[0], &end, 10) : 0;
    if (n_pos < 2)
        return cli_usage_error("setgoal", "missing operand");
    if (*end || goal < 1 || goal > 9)
        return cli_usage_error("setgoal", "bad goal \"%s\" (1..9)", pos[0]);
    uint32_t g = (uint32_t)goal;
    struct cairn *c;
    code = cli_connect("setgoal", &c);
    if (code)
        return code;
    for (int i = 1; i < n_pos; i++) {
        if (rec) {
            code = cli_worse(code, cli_walk("setgoal", c, pos[i], setgoal_visit, &g));
            continue;
        }
        int rc = k.s ? cairn_setgoal_if(c, pos[i], g, k.v) : cairn_setgoal(c, pos[i], g);
        if (rc)
            code = cli_worse(code, cas_fail("setgoal", c, &k, pos[i], pos[i], 1, rc));
    }
    cairn_disconnect(c);
    return code;
}

const char cli_getgoal_usage[] = "usage: cairn getgoal PATH...\n"
                                 "\n"
                                 "Print the replication goal of each path as `PATH: GOAL`.\n"
                                 "\n"
                                 "example:\n"
                                 "  cairn getgoal / /important\n";

int cli_getgoal(int argc, char **argv)
{
    char *pos[argc + 1];
    int n_pos;
    struct cairn *c;
    int code = start("getgoal", argc, argv, NULL, 0, pos, &n_pos, 1, &c);
    if (code)
        return code;
    for (int i = 0; i < n_pos; i++) {
        uint32_t goal;
        int rc = cairn_getgoal(c, pos[i], &goal);
        if (rc)
            code = cli_worse(code, cli_error("getgoal", pos[i], rc));
        else
            printf("%s: %" PRIu32 "\n", pos[i], goal);
    }
    cairn_disconnect(c);
    return code;
}
