/* test_compare.c: the workload programs of bench/compare/run.sh
 * (docs/compare.md) do the work they claim, so their rates compare like
 * with like. Speed is never asserted, only that every operation succeeded,
 * that the counts add up and that nothing is left behind:
 *
 *   compare_fsmeta_local_dir    build/bench/bench_fsmeta on a local directory
 *                               with 3 processes: every phase row present,
 *                               no failed call, the directory empty after;
 *   compare_etcd_single_member  build/bench/bench_etcd against a one-member
 *                               etcd started here (when etcd is installed:
 *                               `make bench-compare` installs it): puts, lock
 *                               pairs distinct and contended, no errors, and
 *                               the keys it wrote are in etcd. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/time.h"
#include "test.h"

#define TC_LINE_MAX 512
#define TC_ROWS_MAX 32

struct tc_row {
    char label[32], op[32];
    int procs;
    double rate;
    long errors;
};

/* Run `cmd`, parse its "| a | b | n | x | ... | errors |" rows. */
static int tc_run_rows(const char *cmd, int fsmeta, struct tc_row *rows, int max)
{
    FILE *p = popen(cmd, "r");
    CHECKF(p != NULL, "popen %s", cmd);
    char line[TC_LINE_MAX];
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        struct tc_row r = {0};
        double secs_or_p50, p99;
        int got = fsmeta ? sscanf(line, "| %31s | %31s | %d | %lf | %lf | %ld |", r.label, r.op,
                                  &r.procs, &r.rate, &secs_or_p50, &r.errors)
                         : sscanf(line, "| %31s | %d | %lf | %lf | %lf | %ld |", r.op, &r.procs,
                                  &r.rate, &secs_or_p50, &p99, &r.errors);
        if (got == 6 && n < max)
            rows[n++] = r;
        fputs(line, stderr);
    }
    int st = pclose(p);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %d", cmd, st);
    return n;
}

static int tc_dir_entries(const char *path)
{
    DIR *d = opendir(path);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

TEST_T(compare_fsmeta_local_dir, 120)
{
    static const char *phases[] = {"create", "stat", "readdir", "unlink", "mkdir", "rmdir"};
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/bench/bench_fsmeta '%s' --procs 3 --files 301 --pause-ms 0",
             CAIRN_BUILD_DIR, test_tmpdir());
    struct tc_row rows[TC_ROWS_MAX];
    int n = tc_run_rows(cmd, 1, rows, TC_ROWS_MAX);
    CHECK_EQ(n, 6);
    for (int i = 0; i < n; i++) {
        CHECK_STR_EQ(rows[i].op, phases[i]);
        CHECK_EQ(rows[i].procs, 3);
        CHECKF(rows[i].errors == 0, "%s: %ld errors", rows[i].op, rows[i].errors);
        CHECK(rows[i].rate > 0);
    }
    CHECK_EQ(tc_dir_entries(test_tmpdir()), 0);
    /* A name clash is counted, not hidden: the second run finds flat/ there. */
    snprintf(cmd, sizeof cmd, "mkdir '%s/flat'", test_tmpdir());
    CHECK_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/bench/bench_fsmeta '%s' --files 10 --pause-ms 0 2>/dev/null",
             CAIRN_BUILD_DIR, test_tmpdir());
    CHECK(system(cmd) != 0);
}

/* A port nobody listens on now (bind to 0, read it, close). */
static int tc_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static pid_t tc_etcd_start(int cport, int pport)
{
    char data[512], curl[64], purl[64], cluster[96], logf[512];
    snprintf(data, sizeof data, "%s/etcd", test_tmpdir());
    snprintf(logf, sizeof logf, "%s/etcd.log", test_tmpdir());
    snprintf(curl, sizeof curl, "http://127.0.0.1:%d", cport);
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", pport);
    snprintf(cluster, sizeof cluster, "t=%s", purl);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed CHECK aborts us: etcd goes too */
        FILE *f = freopen(logf, "w", stderr);
        (void)f;
        execlp("etcd", "etcd", "--name", "t", "--data-dir", data, "--listen-client-urls", curl,
               "--advertise-client-urls", curl, "--listen-peer-urls", purl,
               "--initial-advertise-peer-urls", purl, "--initial-cluster", cluster, (char *)NULL);
        _exit(127);
    }
    return pid;
}

TEST_T(compare_etcd_single_member, 120)
{
    if (system("command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1") != 0) {
        printf("SKIPPED: etcd is not installed (make bench-compare installs etcd-server)\n");
        return;
    }
    int cport = tc_free_port(), pport = tc_free_port();
    pid_t pid = tc_etcd_start(cport, pport);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s/bench/bench_etcd --endpoints 127.0.0.1:%d --seconds 1 2>/dev/null",
             CAIRN_BUILD_DIR, cport);
    struct tc_row rows[TC_ROWS_MAX];
    int n = tc_run_rows(cmd, 0, rows, TC_ROWS_MAX);
    static const char *ops[] = {"put", "distinct", "contended"};
    static const int procs[] = {1, 16, 64};
    CHECK_EQ(n, 9);
    for (int i = 0; i < n; i++) {
        CHECK_STR_EQ(rows[i].op, ops[i / 3]);
        CHECK_EQ(rows[i].procs, procs[i % 3]);
        CHECKF(rows[i].errors == 0, "%s x %d: %ld errors", rows[i].op, rows[i].procs,
               rows[i].errors);
        CHECK(rows[i].rate > 0);
    }
    /* The puts are really in etcd: count the keys under the bench prefix. */
    snprintf(cmd, sizeof cmd,
             "ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:%d get b --prefix --keys-only "
             "| grep -c /c",
             cport);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    long keys = 0;
    CHECK_EQ(fscanf(p, "%ld", &keys), 1);
    pclose(p);
    CHECKF(keys >= 3, "%ld keys", keys);
    CHECK_EQ(kill(pid, SIGTERM), 0);
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
}
