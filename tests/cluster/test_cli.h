/*
 * test_cli.h: helpers of the CLI tests (tests/cluster/test_cli*.c): they run
 * the real `cairn` binary against a real local cluster started with
 * `cairn cluster up` in the case's temporary directory.
 *
 * Processes: cli_up() reads the pids of the daemons from the cluster file
 * and registers them; they are SIGKILLed by pid when the test process exits
 * or dies of a signal (a failed CHECK aborts), and cli_down() stops them
 * with `cairn cluster down`. The environment variable CAIRN_CLUSTER points
 * at the case's cluster file, so nothing under $HOME is touched.
 *
 * Memory: the outputs of cli_run() live in a static buffer until the next
 * call. Threads: single-threaded, as every test case.
 */
#ifndef CAIRN_TESTS_CLUSTER_TEST_CLI_H
#define CAIRN_TESTS_CLUSTER_TEST_CLI_H

#include <stddef.h>
#include <stdint.h>

/* What one run of the binary did. */
struct cli_out {
    int code;  /* exit status; 128 + signal if killed */
    char *out; /* stdout, NUL-terminated */
    size_t out_len;
    char *err; /* stderr, NUL-terminated */
};

/* Start a cluster in dir (metas, chunks) and point CAIRN_CLUSTER at it. */
void cli_up(const char *dir, int metas, int chunks);
/* `cairn cluster down` (and a check that every daemon is gone). */
void cli_down(void);
/* Run `cairn ARGS...` (NULL-terminated), stdin from in_path (NULL: /dev/null). */
const struct cli_out *cli_run_in(const char *in_path, const char *arg0, ...)
    __attribute__((sentinel));
#define cli_run(...) cli_run_in(NULL, __VA_ARGS__, (const char *)NULL)
/* Run and check the exit code; prints both outputs on a mismatch. */
#define CLI_EXPECT(code_, ...) \
    cli_expect_(__FILE__, __LINE__, (code_), cli_run_in(NULL, __VA_ARGS__, (const char *)NULL))
const struct cli_out *cli_expect_(const char *file, int line, int code, const struct cli_out *o);

/* The pid of daemon KIND ID of the running cluster file (0 if absent). */
long cli_pid(const char *kind, int id);
/* SIGKILL one daemon (by the pid of the cluster file) and wait for it. */
void cli_kill(const char *kind, int id);
/* The cluster file and directory of the running case. */
const char *cli_cluster_dir(void);

/* Two local files have the same bytes (the check fails otherwise). */
void cli_check_same_file(const char *a, const char *b);
/* Two local trees have the same names, types, permission bits, bytes and
 * link targets; returns the number of regular files compared. */
uint64_t cli_check_same_tree(const char *a, const char *b);
/* Write n bytes to a new local file with mode. */
void cli_write_local(const char *path, const void *p, size_t n, unsigned mode);

/* --- a small JSON parser for checking --json outputs ------------------------- */

enum jv_type { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

struct jv {
    enum jv_type type;
    double num; /* JV_NUM, JV_BOOL (0/1) */
    char *str;  /* JV_STR */
    size_t n;   /* JV_ARR, JV_OBJ: members */
    char **keys;
    struct jv **vals;
};

/* Parse a whole document (whitespace around it allowed): NULL if the text
 * is not valid JSON (RFC 8259 grammar, strings with escapes). */
struct jv *jv_parse(const char *text);
void jv_free(struct jv *v);
/* Member of an object (NULL if absent or not an object). */
const struct jv *jv_get(const struct jv *o, const char *key);
/* Number member as an integer; the check fails if it is missing. */
uint64_t jv_u64(const struct jv *o, const char *key);
const char *jv_str(const struct jv *o, const char *key);

#endif
