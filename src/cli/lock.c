/*
 * lock.c: `cairn lock NAME [--shared] [--try] [--timeout S] [--lease S] --
 * COMMAND...` (run a command while holding a lock) and `cairn lock --list
 * [--json]` (docs/locks.md, "The command line").
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "cli/cli.h"

#define LOCK_N_OPTS(a) (sizeof(a) / sizeof((a)[0]))
#define LOCK_LIST_PAGE 64u

const char cli_lock_usage[] =
    "usage: cairn lock NAME [--shared] [--try] [--timeout S] [--lease S] -- COMMAND [ARGS...]\n"
    "       cairn lock --list [--json]\n"
    "\n"
    "Run COMMAND while holding the named lock of the cluster. The fencing token of\n"
    "the grant (a number that grows with every grant of the lock) is passed in the\n"
    "environment as CAIRN_FENCING_TOKEN: give it to whatever the lock protects so\n"
    "that it can refuse a holder that lost the lock. The lock is released when\n"
    "COMMAND exits; if cairn itself dies, it is released when its session lease\n"
    "runs out (--lease, default 10 s). The exit code is COMMAND's (128+N if it was\n"
    "killed by signal N); 1 if the lock was not acquired.\n"
    "\n"
    "  --shared      a shared lock (default: exclusive)\n"
    "  --try         fail at once (exit 1, \"lock is busy\") instead of waiting\n"
    "  --timeout S   give up waiting after S seconds (default: wait for ever)\n"
    "  --lease S     session lease in seconds, 1..600 (default 10)\n"
    "  --list        list the named locks: holders, waiters, newest token\n"
    "  --json        with --list: one JSON array\n"
    "\n"
    "examples:\n"
    "  cairn lock backup -- ./backup.sh\n"
    "  cairn lock --try --timeout 5 deploy -- sh -c 'echo token $CAIRN_FENCING_TOKEN'\n"
    "  cairn lock --list --json\n";

/* Seconds (a whole or decimal number) to milliseconds; -1 if bad. */
static long long seconds_ms(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0 || v > 1e7)
        return -1;
    return (long long)(v * 1000.0);
}

/* fork + exec argv with the token in the environment; the exit code. */
static int run_child(char **argv, uint64_t token)
{
    char tok[32];
    snprintf(tok, sizeof tok, "%llu", (unsigned long long)token);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "cairn: lock: fork: %s\n", strerror(errno));
        return CLI_FAIL;
    }
    if (pid == 0) {
        setenv("CAIRN_FENCING_TOKEN", tok, 1);
        execvp(argv[0], argv);
        fprintf(stderr, "cairn: lock: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return CLI_FAIL;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void list_print(const struct cairn_lock_info *in, int n, struct cli_json *j)
{
    for (int i = 0; i < n; i++) {
        const char *mode = in[i].mode == CAIRN_LOCK_SHARED      ? "shared"
                           : in[i].mode == CAIRN_LOCK_EXCLUSIVE ? "exclusive"
                                                                : "-";
        if (!j) {
            printf("%-24s %-9s holders=%u waiters=%u token=%llu session=%llu\n", in[i].name, mode,
                   in[i].holders, in[i].waiters, (unsigned long long)in[i].last_token,
                   (unsigned long long)in[i].holder_session);
            continue;
        }
        json_obj(j);
        json_kstr(j, "name", in[i].name);
        json_kstr(j, "mode", mode);
        json_ku64(j, "holders", in[i].holders);
        json_ku64(j, "waiters", in[i].waiters);
        json_ku64(j, "last_token", in[i].last_token);
        json_ku64(j, "holder_session", in[i].holder_session);
        json_obj_end(j);
    }
}

/* Every named lock, a page at a time. */
static int lock_list(struct cairn_locks *l, int json)
{
    static struct cairn_lock_info page[LOCK_LIST_PAGE];
    struct cli_json j;
    if (json) {
        json_init(&j, stdout);
        json_arr(&j);
    }
    char after[256] = "";
    int more = 1, rc = 0;
    while (more) {
        rc = cairn_lock_list(l, after, page, LOCK_LIST_PAGE, &more);
        if (rc < 0)
            break;
        list_print(page, rc, json ? &j : NULL);
        if (rc > 0)
            snprintf(after, sizeof after, "%s", page[rc - 1].name);
        rc = 0;
    }
    if (json) {
        json_arr_end(&j);
        json_done(&j);
    }
    if (rc < 0)
        fprintf(stderr, "cairn: lock: --list: %s\n", cairn_strerror(rc));
    return rc < 0 ? CLI_FAIL : CLI_OK;
}

/* Acquire, run, release. */
static int lock_run(struct cairn_locks *l, const char *name, int mode, unsigned flags,
                    uint32_t timeout_ms, char **argv)
{
    uint64_t token;
    int rc = cairn_lock(l, name, mode, flags, timeout_ms, &token);
    if (rc) {
        fprintf(stderr, "cairn: lock: %s: %s\n", name,
                rc == CAIRN_EAGAIN ? "lock is busy" : cairn_strerror(rc));
        return CLI_FAIL;
    }
    int code = run_child(argv, token);
    rc = cairn_unlock(l, name);
    if (rc)
        fprintf(stderr, "cairn: lock: %s: release: %s (the lock was lost)\n", name,
                cairn_strerror(rc));
    return code;
}

int cli_lock(int argc, char **argv)
{
    int shared = 0, try_ = 0, list = 0, json = 0;
    const char *timeout = NULL, *lease = NULL;
    const struct cli_opt opts[] = {
        {"shared", 0, NULL, &shared}, {"try", 0, NULL, &try_},        {"list", 0, NULL, &list},
        {"json", 0, NULL, &json},     {"timeout", 0, &timeout, NULL}, {"lease", 0, &lease, NULL},
    };
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("lock", argc, argv, opts, LOCK_N_OPTS(opts), pos, &n_pos);
    if (code)
        return code;
    long long t_ms = timeout ? seconds_ms(timeout) : 0, l_ms = lease ? seconds_ms(lease) : 10000;
    if (t_ms < 0 || t_ms > UINT32_MAX)
        return cli_usage_error("lock", "bad --timeout \"%s\"", timeout);
    if (l_ms < 1000 || l_ms > 600000)
        return cli_usage_error("lock", "bad --lease \"%s\" (1..600 seconds)", lease);
    if (!list && n_pos < 2)
        return cli_usage_error("lock", "need NAME -- COMMAND");
    if (list && n_pos)
        return cli_usage_error("lock", "--list takes no arguments");
    pos[n_pos] = NULL;
    struct cairn *c;
    if ((code = cli_connect("lock", &c)) != 0)
        return code;
    struct cairn_locks *l;
    int rc = cairn_locks_open(c, (uint32_t)l_ms, &l);
    cairn_disconnect(c);
    if (rc) {
        fprintf(stderr, "cairn: lock: %s\n", cairn_strerror(rc));
        return CLI_FAIL;
    }
    code = list ? lock_list(l, json)
                : lock_run(l, pos[0], shared ? CAIRN_LOCK_SHARED : CAIRN_LOCK_EXCLUSIVE,
                           try_ ? CAIRN_LOCK_TRY : 0, (uint32_t)t_ms, pos + 1);
    cairn_locks_close(l);
    return code;
}
