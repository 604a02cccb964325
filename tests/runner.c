/*
 * runner.c: runs every test case of cairn, each in its own process group
 * with its own timeout, a few at a time, and ends with one summary line
 * "N passed, N failed".
 *
 * usage: runner [-j JOBS] [-k FILTER] [-l LOGDIR] ENTRY...
 *   ENTRY is a test binary speaking the test.h protocol (--list, NAME), or
 *   fuzz:BIN:SECONDS:CORPUS for a libFuzzer target run for SECONDS.
 * A case's output goes to LOGDIR/<binary>.<case>.log; a failing case's last
 * lines are printed with the command that replays it. A crash or a hang
 * (killed at its timeout, with its whole process group) fails that case only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNNER_CASES_MAX 8192
#define RUNNER_JOBS_MAX 64

struct rcase {
    char bin[512];
    char name[256];
    char log[1024];
    unsigned timeout_s;
    int fuzz;
    char corpus[512];
    pid_t pid;
    double start;
    int status; /* -1 running/pending, 0 pass, 1 fail */
    int timed_out;
};

static struct rcase cases[RUNNER_CASES_MAX];
static int ncases;
static double timeout_scale = 1.0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void add_case(const char *bin, const char *name, unsigned timeout_s, const char *logdir)
{
    if (ncases == RUNNER_CASES_MAX) {
        fprintf(stderr, "runner: too many cases\n");
        exit(2);
    }
    struct rcase *c = &cases[ncases++];
    memset(c, 0, sizeof *c);
    snprintf(c->bin, sizeof c->bin, "%s", bin);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->log, sizeof c->log, "%s/%s.%s.log", logdir, base_name(bin), name);
    c->timeout_s = timeout_s;
    c->status = -1;
}

static void list_cases(const char *bin, const char *filter, const char *logdir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "'%s' --list", bin);
    FILE *f = popen(cmd, "r");
    if (!f) {
        fprintf(stderr, "runner: cannot run %s\n", bin);
        exit(2);
    }
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char name[256];
        unsigned t = 60;
        if (sscanf(line, "%255s %u", name, &t) < 1)
            continue;
        n++;
        if (filter && !strstr(name, filter) && !strstr(bin, filter))
            continue;
        add_case(bin, name, t, logdir);
    }
    int st = pclose(f);
    if (st != 0 || n == 0) {
        /* A binary that cannot list its cases is itself a failing case. */
        add_case(bin, "list", 10, logdir);
        cases[ncases - 1].status = 1;
        fprintf(stderr, "runner: %s --list failed (status %d, %d cases)\n", bin, st, n);
    }
}

static void add_fuzz(const char *spec, const char *filter, const char *logdir)
{
    /* fuzz:BIN:SECONDS:CORPUS */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec + 5);
    char *bin = buf, *secs = strchr(bin, ':');
    if (!secs) {
        fprintf(stderr, "runner: bad fuzz entry %s\n", spec);
        exit(2);
    }
    *secs++ = '\0';
    char *corpus = strchr(secs, ':');
    if (!corpus) {
        fprintf(stderr, "runner: bad fuzz entry %s\n", spec);
        exit(2);
    }
    *corpus++ = '\0';
    char name[1024];
    snprintf(name, sizeof name, "%s", base_name(bin));
    if (filter && !strstr(name, filter))
        return;
    unsigned s = (unsigned)strtoul(secs, NULL, 10);
    add_case(bin, name, s + 60, logdir);
    struct rcase *c = &cases[ncases - 1];
    c->fuzz = (int)s;
    snprintf(c->corpus, sizeof c->corpus, "%s", corpus);
}

static void start_case(struct rcase *c)
{
    c->start = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(c->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        if (c->fuzz) {
            char t[64], work[1100];
            snprintf(t, sizeof t, "-max_total_time=%d", c->fuzz);
            snprintf(work, sizeof work, "%s.corpus", c->log);
            mkdir(work, 0755);
            execl(c->bin, c->bin, t, "-seed=1", "-rss_limit_mb=2048", "-print_final_stats=1", work,
                  c->corpus, (char *)NULL);
        } else {
            execl(c->bin, c->bin, c->name, (char *)NULL);
        }
        perror("exec");
        _exit(127);
    }
    setpgid(pid, pid);
    c->pid = pid;
}

static void print_tail(const char *path, int lines)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    static char ring[80][512];
    int n = 0;
    char line[512];
    while (fgets(line, sizeof line, f))
        snprintf(ring[n++ % 80], 512, "%s", line);
    fclose(f);
    int from = n > lines ? n - lines : 0;
    for (int i = from; i < n; i++)
        fprintf(stdout, "    | %s", ring[i % 80]);
}

static void finish_case(struct rcase *c, int wstatus)
{
    double dt = now_s() - c->start;
    c->status = (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 && !c->timed_out) ? 0 : 1;
    if (c->status == 0) {
        printf("PASS %s %s (%.1fs)\n", base_name(c->bin), c->name, dt);
        return;
    }
    const char *why = c->timed_out ? "timed out" : "failed";
    char detail[64] = "";
    if (WIFSIGNALED(wstatus))
        snprintf(detail, sizeof detail, " (signal %d)", WTERMSIG(wstatus));
    else if (WIFEXITED(wstatus))
        snprintf(detail, sizeof detail, " (exit %d)", WEXITSTATUS(wstatus));
    printf("FAIL %s %s %s%s after %.1fs; log %s\n", base_name(c->bin), c->name, why, detail, dt,
           c->log);
    print_tail(c->log, 40);
    if (c->fuzz)
        printf("    replay: %s %s.corpus %s\n", c->bin, c->log, c->corpus);
    else
        printf("    replay: %s %s   (the log above shows the seed)\n", c->bin, c->name);
}

int main(int argc, char **argv)
{
    int jobs = 2;
    const char *filter = getenv("T");
    const char *logdir = "build/test-logs";
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-j") == 0 && i + 1 < argc)
            jobs = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-k") == 0 && i + 1 < argc)
            filter = argv[++i];
        else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc)
            logdir = argv[++i];
        else {
            fprintf(stderr, "usage: runner [-j JOBS] [-k FILTER] [-l LOGDIR] ENTRY...\n");
            return 2;
        }
    }
    if (filter && !*filter)
        filter = NULL;
    /* Sanitizer builds run several times slower: the Makefile scales every
     * case's timeout for them through CAIRN_TIMEOUT_SCALE. */
    const char *scale_env = getenv("CAIRN_TIMEOUT_SCALE");
    if (scale_env && *scale_env) {
        timeout_scale = strtod(scale_env, NULL);
        if (timeout_scale < 1.0 || timeout_scale > 20.0)
            timeout_scale = 1.0;
    }
    if (jobs < 1 || jobs > RUNNER_JOBS_MAX)
        jobs = 2;
    mkdir(logdir, 0755);
    for (; i < argc; i++) {
        if (strncmp(argv[i], "fuzz:", 5) == 0)
            add_fuzz(argv[i], filter, logdir);
        else
            list_cases(argv[i], filter, logdir);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    int next = 0, running = 0;
    while (next < ncases || running > 0) {
        while (running < jobs && next < ncases) {
            struct rcase *c = &cases[next++];
            if (c->status != -1) {
                printf("FAIL %s %s\n", base_name(c->bin), c->name);
                continue;
            }
            start_case(c);
            running++;
        }
        int wstatus;
        pid_t pid = waitpid(-1, &wstatus, WNOHANG);
        if (pid > 0) {
            for (int k = 0; k < ncases; k++) {
                if (cases[k].pid == pid && cases[k].status == -1) {
                    /* The case is over: stop anything it left in its group. */
                    kill(-pid, SIGKILL);
                    finish_case(&cases[k], wstatus);
                    running--;
                    break;
                }
            }
            continue;
        }
        double t = now_s();
        for (int k = 0; k < next; k++) {
            struct rcase *c = &cases[k];
            if (c->status == -1 && c->pid > 0 && !c->timed_out &&
                t - c->start > c->timeout_s * timeout_scale) {
                c->timed_out = 1;
                kill(-c->pid, SIGKILL);
            }
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int passed = 0, failed = 0;
    for (int k = 0; k < ncases; k++) {
        if (cases[k].status == 0)
            passed++;
        else
            failed++;
    }
    if (failed) {
        printf("failed cases:\n");
        for (int k = 0; k < ncases; k++)
            if (cases[k].status != 0)
                printf("  %s %s\n", base_name(cases[k].bin), cases[k].name);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
