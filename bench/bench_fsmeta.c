/* bench_fsmeta.c: metadata operations through a mounted file system (any
 * POSIX directory: a cairn mount, a MooseFS mount, a local disk), for
 * bench/compare/run.sh. P processes (fork) share the work of each phase;
 * a phase's rate is its operations over the wall time from the first fork
 * to the last exit, so it includes no setup. Before each phase it waits
 * --pause-ms (default 1500): longer than both mounts' attribute and entry
 * cache timeouts (1 s), so a stat or lookup is answered by the file system,
 * not by the kernel's cache of what the previous phase just did:
 *
 *   create    N files in ONE directory (open O_CREAT|O_EXCL, close), N/P each
 *   stat      stat of each of them
 *   readdir   each process lists the whole directory once (entries/s)
 *   unlink    unlink of each of them
 *   mkdir     a tree per process: 10 + 100 + 1000 directories (fan-out 10)
 *   rmdir     the same trees removed, leaves first
 *
 * usage: bench_fsmeta DIR [--procs P] [--files N] [--label L] [--pause-ms MS]
 * Prints one markdown row per phase: | label | phase | procs | ops/s |
 * seconds | errors |. Nothing is asserted; failed calls are counted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/time.h"

#define FM_PROCS_MAX 64
#define FM_FANOUT 10
#define FM_PATH_MAX 4096

enum fm_phase { FM_CREATE, FM_STAT, FM_READDIR, FM_UNLINK, FM_MKDIR, FM_RMDIR, FM_PHASES };
static const char *fm_names[FM_PHASES] = {"create", "stat", "readdir", "unlink", "mkdir", "rmdir"};

struct fm {
    const char *dir;
    int procs;
    long files;
    long pause_ms;
};

/* The files of process p: p*per .. (p+1)*per - 1 (the last takes the rest). */
static void fm_range(const struct fm *f, int p, long *lo, long *hi)
{
    long per = f->files / f->procs;
    *lo = (long)p * per;
    *hi = p == f->procs - 1 ? f->files : *lo + per;
}

static long fm_files_phase(const struct fm *f, int phase, int p)
{
    long lo, hi, errors = 0;
    fm_range(f, p, &lo, &hi);
    char path[FM_PATH_MAX];
    for (long i = lo; i < hi; i++) {
        snprintf(path, sizeof path, "%s/flat/f%07ld", f->dir, i);
        if (phase == FM_CREATE) {
            int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
            if (fd < 0 || close(fd) != 0)
                errors++;
        } else if (phase == FM_STAT) {
            struct stat st;
            if (stat(path, &st) != 0)
                errors++;
        } else if (unlink(path) != 0) {
            errors++;
        }
    }
    return errors;
}

/* The whole directory, once; returns entries listed (negative: -errors). */
static long fm_readdir(const struct fm *f)
{
    char path[FM_PATH_MAX];
    snprintf(path, sizeof path, "%s/flat", f->dir);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* mkdir (or rmdir, leaves first) of process p's tree: 10 + 100 + 1000 dirs. */
static long fm_tree(const struct fm *f, int p, int remove)
{
    char path[FM_PATH_MAX];
    long errors = 0;
    snprintf(path, sizeof path, "%s/tree/p%02d", f->dir, p);
    if (!remove && mkdir(path, 0755) != 0)
        return 1;
    for (int a = 0; a < FM_FANOUT; a++) {
        snprintf(path, sizeof path, "%s/tree/p%02d/a%d", f->dir, p, a);
        if (!remove && mkdir(path, 0755) != 0)
            errors++;
        for (int b = 0; b < FM_FANOUT; b++) {
            snprintf(path, sizeof path, "%s/tree/p%02d/a%d/b%d", f->dir, p, a, b);
            if (!remove && mkdir(path, 0755) != 0)
                errors++;
            for (int c = 0; c < FM_FANOUT; c++) {
                snprintf(path, sizeof path, "%s/tree/p%02d/a%d/b%d/c%d", f->dir, p, a, b, c);
                if (!remove && mkdir(path, 0755) != 0)
                    errors++;
                if (remove && rmdir(path) != 0)
                    errors++;
            }
            snprintf(path, sizeof path, "%s/tree/p%02d/a%d/b%d", f->dir, p, a, b);
            if (remove && rmdir(path) != 0)
                errors++;
        }
        snprintf(path, sizeof path, "%s/tree/p%02d/a%d", f->dir, p, a);
        if (remove && rmdir(path) != 0)
            errors++;
    }
    snprintf(path, sizeof path, "%s/tree/p%02d", f->dir, p);
    if (remove && rmdir(path) != 0)
        errors++;
    return errors;
}

/* Run one phase in f->procs children; prints its row. */
static void fm_phase(const struct fm *f, int phase, const char *label)
{
    int fds[FM_PROCS_MAX][2];
    pid_t pids[FM_PROCS_MAX];
    usleep((useconds_t)f->pause_ms * 1000u);
    uint64_t t0 = time_mono_ns();
    for (int p = 0; p < f->procs; p++) {
        CAIRN_ASSERT(pipe(fds[p]) == 0);
        pids[p] = fork();
        CAIRN_ASSERT(pids[p] >= 0);
        if (pids[p] == 0) {
            long r[2] = {0, 0}; /* operations, errors */
            if (phase <= FM_UNLINK && phase != FM_READDIR) {
                long lo, hi;
                fm_range(f, p, &lo, &hi);
                r[0] = hi - lo;
                r[1] = fm_files_phase(f, phase, p);
            } else if (phase == FM_READDIR) {
                long n = fm_readdir(f);
                r[0] = n > 0 ? n : 0;
                r[1] = n == f->files + 2 ? 0 : 1; /* + "." and ".." */
            } else {
                r[0] = 1 + FM_FANOUT + FM_FANOUT * FM_FANOUT + FM_FANOUT * FM_FANOUT * FM_FANOUT;
                r[1] = fm_tree(f, p, phase == FM_RMDIR);
            }
            ssize_t w = write(fds[p][1], r, sizeof r);
            _exit(w == (ssize_t)sizeof r ? 0 : 1);
        }
        close(fds[p][1]);
    }
    long ops = 0, errors = 0;
    for (int p = 0; p < f->procs; p++) {
        long r[2] = {0, 1};
        int st;
        if (read(fds[p][0], r, sizeof r) != (ssize_t)sizeof r)
            r[1] = 1;
        close(fds[p][0]);
        CAIRN_ASSERT(waitpid(pids[p], &st, 0) == pids[p]);
        ops += r[0];
        errors += r[1];
    }
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    printf("| %s | %s | %d | %.0f | %.2f | %ld |\n", label, fm_names[phase], f->procs,
           (double)ops / secs, secs, errors);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct fm f = {.procs = 1, .files = 10000, .pause_ms = 1500};
    const char *label = "fs";
    if (argc == 1) { /* as `make bench` runs every bench binary */
        printf("bench_fsmeta: needs a mounted directory: run by bench/compare/run.sh "
               "(make bench-compare)\n");
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--procs") == 0 && i + 1 < argc)
            f.procs = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--files") == 0 && i + 1 < argc)
            f.files = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--pause-ms") == 0 && i + 1 < argc)
            f.pause_ms = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
            label = argv[++i];
        else if (argv[i][0] != '-' && !f.dir)
            f.dir = argv[i];
        else
            f.dir = NULL, i = argc;
    }
    if (!f.dir || f.pause_ms < 0 || f.procs < 1 || f.procs > FM_PROCS_MAX || f.files < f.procs) {
        fprintf(stderr, "usage: %s DIR [--procs P<=%d] [--files N] [--label L] [--pause-ms MS]\n",
                argv[0], FM_PROCS_MAX);
        return 2;
    }
    char path[FM_PATH_MAX];
    snprintf(path, sizeof path, "%s/flat", f.dir);
    int rc = mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/tree", f.dir);
    if (rc != 0 || mkdir(path, 0755) != 0) {
        fprintf(stderr, "bench_fsmeta: cannot make %s/flat and %s/tree: %s\n", f.dir, f.dir,
                strerror(errno));
        return 1;
    }
    for (int phase = 0; phase < FM_PHASES; phase++)
        fm_phase(&f, phase, label);
    snprintf(path, sizeof path, "%s/flat", f.dir);
    rc = rmdir(path);
    snprintf(path, sizeof path, "%s/tree", f.dir);
    if (rc != 0 || rmdir(path) != 0)
        fprintf(stderr, "bench_fsmeta: could not remove %s/flat or %s/tree\n", f.dir, f.dir);
    return 0;
}
