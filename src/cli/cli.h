/*
 * cli.h: the `cairn` command: a table of subcommands (main.c) and the
 * functions behind them, one file per command group:
 *   cluster.c     cairn cluster up | down | status (a local dev cluster)
 *   ns.c          ls stat mkdir rm mv ln chmod chown truncate setgoal getgoal
 *   xfer.c        put get cat (file data, progress bars)
 *   health.c      df status fsck
 *   meta_admin.c  meta-status meta-add meta-remove meta-transfer
 *   util.c        what they share: flag parsing, connecting through the
 *                 cluster file, error messages, JSON output, sizes, progress
 * Each command gets the arguments after its name and returns the process
 * exit code (enum cli_exit, documented in `cairn --help` and the README).
 *
 * Threads: a command runs on the main thread. Memory: nothing outlives a
 * command. Errors: each command prints `cairn: CMD: PATH: message` on stderr
 * for every failure and goes on with its other arguments where that makes
 * sense; the exit code is the worst seen.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cairn.h"

enum cli_exit {
    CLI_OK = 0,          /* success */
    CLI_FAIL = 1,        /* an operation failed (message on stderr) */
    CLI_USAGE = 2,       /* bad usage: unknown flag, missing argument */
    CLI_UNREACHABLE = 3, /* no cluster file, or no metadata server answered */
};

/* --- commands (the table is in main.c) ------------------------------------------ */

/* meta_admin.c: cairn meta-status | meta-add | meta-remove | meta-transfer */
int cli_meta_status(int argc, char **argv);
int cli_meta_add(int argc, char **argv);
int cli_meta_remove(int argc, char **argv);
int cli_meta_transfer(int argc, char **argv);

/* cluster.c */
int cli_cluster(int argc, char **argv);
extern const char cli_cluster_usage[];

/* ns.c */
int cli_ls(int argc, char **argv);
int cli_stat(int argc, char **argv);
int cli_mkdir(int argc, char **argv);
int cli_rm(int argc, char **argv);
int cli_mv(int argc, char **argv);
int cli_ln(int argc, char **argv);
int cli_chmod(int argc, char **argv);
int cli_chown(int argc, char **argv);
int cli_truncate(int argc, char **argv);
int cli_setgoal(int argc, char **argv);
int cli_getgoal(int argc, char **argv);
extern const char cli_ls_usage[], cli_stat_usage[], cli_mkdir_usage[], cli_rm_usage[],
    cli_mv_usage[], cli_ln_usage[], cli_chmod_usage[], cli_chown_usage[], cli_truncate_usage[],
    cli_setgoal_usage[], cli_getgoal_usage[];

/* xfer.c */
int cli_put(int argc, char **argv);
int cli_get(int argc, char **argv);
int cli_cat(int argc, char **argv);
extern const char cli_put_usage[], cli_get_usage[], cli_cat_usage[];

/* health.c */
int cli_df(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_fsck(int argc, char **argv);
extern const char cli_df_usage[], cli_status_usage[], cli_fsck_usage[];

/* lock.c, txn.c: locks, transactions, compare-and-set (docs/locks.md) */
int cli_lock(int argc, char **argv);
int cli_txn(int argc, char **argv);
int cli_setxattr(int argc, char **argv);
extern const char cli_lock_usage[], cli_txn_usage[], cli_setxattr_usage[];

/* --- util.c: flags -------------------------------------------------------------- */

/* One flag of a command. A flag with an argument stores it in *val (the
 * last one given wins); one without counts in *count. Short flags combine
 * ("-rf"); long flags take "--name VALUE" or "--name=VALUE". */
struct cli_opt {
    const char *lng; /* without "--"; NULL: none */
    char shrt;       /* 0: none */
    const char **val;
    int *count;
};

/* Parse argv into flags and positional arguments (put into pos, which has
 * room for argc entries; "--" ends the flags, "-" alone is positional).
 * Every command also takes --cluster FILE (stored for cli_connect).
 * Returns CLI_OK or CLI_USAGE (message printed). */
int cli_parse(const char *cmd, int argc, char **argv, const struct cli_opt *opts, size_t n_opts,
              char **pos, int *n_pos);
/* `cairn: CMD: message` for bad usage, with a pointer to --help. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The cluster file named by --cluster (before or after the command). */
void cli_set_cluster_file(const char *path);
const char *cli_cluster_file(void);

/* --- util.c: connecting and errors ---------------------------------------------- */

/* Library log lines: errors only, unless $CAIRN_LOG names a level. */
void cli_quiet_logs(void);
/* Connect through the cluster file. On failure the message is printed and
 * CLI_UNREACHABLE returned. */
int cli_connect(const char *cmd, struct cairn **out);
/* Print `cairn: CMD: WHAT: strerror` (WHAT may be NULL) and return the exit
 * code for the error rc (negative errno): CLI_UNREACHABLE for a cluster
 * that stopped answering, else CLI_FAIL. */
int cli_error(const char *cmd, const char *what, int rc);
/* The worse of two exit codes. */
int cli_worse(int a, int b);

/* --- util.c: paths and trees ------------------------------------------------------ */

/* dir + "/" + name into out (len bytes; no double slash). -ENAMETOOLONG. */
int cli_join(char *out, size_t len, const char *dir, const char *name);
/* The last component of a path ("/a/b/" -> "b", "/" -> "/"), into out. */
const char *cli_basename(const char *path, char *out, size_t len);

/* Called by cli_walk for path (attributes st, links not followed): once
 * before a directory's entries (post 0) and once after (post 1), once for
 * anything else (post 0). Returns an exit code; nonzero before a directory's
 * entries skips them. */
typedef int (*cli_visit_fn)(struct cairn *c, const char *path, const struct cairn_stat *st,
                            int post, void *arg);
/* Visit path and everything under it, depth first, entries of a directory
 * in name order (read whole before visiting, so visits may remove them).
 * Errors of the walk itself are printed as cmd's. Returns the worst exit
 * code. */
int cli_walk(const char *cmd, struct cairn *c, const char *path, cli_visit_fn fn, void *arg);
/* The names of a directory's entries but "." and "..", sorted; *names is
 * one malloc'd array of n pointers into the same block (free(*names)). */
int cli_list_dir(struct cairn *c, const char *path, char ***names, size_t *n);

/* The directory holding path's last component ("/a/b" -> "/a", "a" -> "/"). */
const char *cli_dirname(const char *path, char *out, size_t len);

/* --- util.c: compare-and-set (--if-version, docs/locks.md) ---------------------- */

/* Parse the value of --if-version (s NULL: not given, *v = 0). CLI_OK, or
 * CLI_USAGE with the message printed. */
int cli_if_version(const char *cmd, const char *s, uint64_t *v);
/* Report the error rc (a cairn_err) of a cairn_*_if call on `what`: a
 * conflict as `cairn: CMD: WHAT: version conflict (now V)` with the version
 * the inode the call checked has now (now_path, stat'ed through a final link
 * if follow), anything else with its message. Returns the exit code. */
int cli_cas_error(const char *cmd, struct cairn *c, const char *what, const char *now_path,
                  int follow, int rc);

/* --- util.c: output --------------------------------------------------------------- */

/* "1.5 MiB" style (binary units) into buf. */
const char *cli_human(uint64_t bytes, char *buf, size_t len);
/* "123", "64K", "1.5M", "2G", "1T" (binary units) -> bytes; -1 if bad. */
int cli_parse_size(const char *s, uint64_t *out);
/* "drwxr-xr-x" of a mode into buf (11 bytes). */
const char *cli_mode_string(uint32_t mode, char *buf);

/* A JSON writer on stdout: values are separated and nested correctly as
 * long as begin/end calls pair up; strings are escaped (UTF-8 passes, control
 * bytes become \u00XX). */
struct cli_json {
    FILE *f;
    int depth;
    int need_comma[32];
    int after_key;
};
void json_init(struct cli_json *j, FILE *f);
void json_obj(struct cli_json *j);
void json_obj_end(struct cli_json *j);
void json_arr(struct cli_json *j);
void json_arr_end(struct cli_json *j);
void json_key(struct cli_json *j, const char *k);
void json_str(struct cli_json *j, const char *s);
void json_strn(struct cli_json *j, const char *s, size_t n);
void json_u64(struct cli_json *j, uint64_t v);
void json_i64(struct cli_json *j, int64_t v);
void json_bool(struct cli_json *j, int v);
void json_null(struct cli_json *j);
/* Shorthands: key then value. */
void json_kstr(struct cli_json *j, const char *k, const char *s);
void json_ku64(struct cli_json *j, const char *k, uint64_t v);
void json_kbool(struct cli_json *j, const char *k, int v);
/* Close the document with a newline. */
void json_done(struct cli_json *j);

/* A progress bar on stdout while it is a terminal (nothing otherwise):
 * redrawn at most every 100 ms, erased by cli_progress_end. */
struct cli_progress {
    int on;
    uint64_t total, done;
    uint64_t start_ms, drawn_ms;
    const char *label;
};
void cli_progress_begin(struct cli_progress *p, const char *label, uint64_t total);
void cli_progress_add(struct cli_progress *p, uint64_t n);
void cli_progress_end(struct cli_progress *p);

#endif
