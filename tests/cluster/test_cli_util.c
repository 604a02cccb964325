/* test_cli_util.c: the helpers of test_cli.h: running the `cairn` binary,
 * a local cluster per case (killed by pid on any exit), and a small JSON
 * parser to check --json outputs. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "test_cli.h"

#define CLI_ARGS_MAX 64
#define CLI_PIDS_MAX 32

static char bin[1024];
static char cluster_dir[512];
static volatile long pids[CLI_PIDS_MAX];
static int handlers_installed;
static struct cli_out last;

/* --- processes ------------------------------------------------------------------ */

static void kill_registered(void)
{
    for (int i = 0; i < CLI_PIDS_MAX; i++)
        if (pids[i] > 0)
            kill((pid_t)pids[i], SIGKILL);
}

static void on_fatal(int sig)
{
    kill_registered();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_handlers(void)
{
    if (handlers_installed)
        return;
    handlers_installed = 1;
    atexit(kill_registered);
    const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGTERM, SIGINT, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], on_fatal);
}

static void find_bin(void)
{
    if (bin[0])
        return;
    const char *env = getenv("CAIRN_BIN");
    if (env && *env) {
        snprintf(bin, sizeof bin, "%s", env);
        return;
    }
    char self[900];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    self[n] = 0;
    *strrchr(self, '/') = 0; /* build/tests or build/san/tests */
    snprintf(bin, sizeof bin, "%s/../cairn", self);
    if (access(bin, X_OK) != 0)
        snprintf(bin, sizeof bin, "%s/../../cairn", self);
    CHECKF(access(bin, X_OK) == 0, "no cairn binary near %s", self);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    CHECK(f != NULL);
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    CHECK(p != NULL);
    size_t got;
    while ((got = fread(p + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            p = realloc(p, cap);
            CHECK(p != NULL);
        }
    }
    fclose(f);
    p[n] = 0;
    if (len)
        *len = n;
    return p;
}

const struct cli_out *cli_run_in(const char *in_path, const char *arg0, ...)
{
    find_bin();
    char *argv[CLI_ARGS_MAX + 2];
    int argc = 0;
    argv[argc++] = (char *)"cairn";
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && argc < CLI_ARGS_MAX; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    char out_path[600], err_path[600];
    snprintf(out_path, sizeof out_path, "%s/cli.out", test_tmpdir());
    snprintf(err_path, sizeof err_path, "%s/cli.err", test_tmpdir());
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(bin, argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        CHECK(errno == EINTR);
    free(last.out);
    free(last.err);
    last.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    last.out = slurp(out_path, &last.out_len);
    last.err = slurp(err_path, NULL);
    return &last;
}

const struct cli_out *cli_expect_(const char *file, int line, int code, const struct cli_out *o)
{
    if (o->code != code)
        test_fail(file, line, "exit code %d, expected %d\n--- stdout:\n%s\n--- stderr:\n%s",
                  o->code, code, o->out, o->err);
    return o;
}

const char *cli_cluster_dir(void) { return cluster_dir; }

/* "proc = KIND ID ADDR PID CONF" lines of the cluster file: the pid of one,
 * or each one registered (id 0). */
static long scan_pids(const char *kind, int id, int do_register)
{
    char path[600], line[2048];
    snprintf(path, sizeof path, "%s/cluster.conf", cluster_dir);
    FILE *f = fopen(path, "re");
    CHECK(f != NULL);
    long found = 0;
    int slot = 0;
    while (fgets(line, sizeof line, f)) {
        char k[16];
        int pid_id;
        long pid;
        if (sscanf(line, "proc = %15s %d %*s %ld", k, &pid_id, &pid) != 3)
            continue;
        if (do_register && slot < CLI_PIDS_MAX)
            pids[slot++] = pid;
        if (kind && strcmp(k, kind) == 0 && pid_id == id)
            found = pid;
    }
    fclose(f);
    return found;
}

long cli_pid(const char *kind, int id) { return scan_pids(kind, id, 0); }

/* A process is gone once it no longer exists or is a zombie (its parent,
 * not us, reaps it). */
static int gone(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 1;
    char state = 0;
    int ok = fscanf(f, "%*d (%*[^)]) %c", &state) == 1;
    fclose(f);
    return !ok || state == 'Z' || state == 'X';
}

static void wait_gone(long pid)
{
    for (int i = 0; i < 400 && !gone(pid); i++) {
        struct timespec ts = {0, 25 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECKF(gone(pid), "process %ld still running", pid);
}

void cli_kill(const char *kind, int id)
{
    long pid = cli_pid(kind, id);
    CHECKF(pid > 0, "no %s %d in the cluster file", kind, id);
    kill((pid_t)pid, SIGKILL);
    wait_gone(pid);
}

void cli_up(const char *dir, int metas, int chunks)
{
    install_handlers();
    snprintf(cluster_dir, sizeof cluster_dir, "%s", dir);
    CHECK(mkdir(dir, 0700) == 0 || errno == EEXIST);
    char file[600], m[16], c[16];
    snprintf(file, sizeof file, "%s/cluster.conf", dir);
    setenv("CAIRN_CLUSTER", file, 1);
    snprintf(m, sizeof m, "%d", metas);
    snprintf(c, sizeof c, "%d", chunks);
    const struct cli_out *o = cli_run("cluster", "up", "--dir", dir, "--metas", m, "--chunks", c);
    if (access(file, R_OK) == 0)
        scan_pids(NULL, 0, 1); /* registered even if up failed: they get killed */
    CHECKF(o->code == 0, "cluster up: exit %d\n%s\n%s", o->code, o->out, o->err);
}

void cli_down(void)
{
    long p[CLI_PIDS_MAX];
    for (int i = 0; i < CLI_PIDS_MAX; i++)
        p[i] = pids[i];
    const struct cli_out *o = cli_run("cluster", "down");
    CHECKF(o->code == 0, "cluster down: exit %d\n%s", o->code, o->err);
    for (int i = 0; i < CLI_PIDS_MAX; i++)
        if (p[i] > 0)
            wait_gone(p[i]);
}

/* --- local files ------------------------------------------------------------------ */

void cli_write_local(const char *path, const void *p, size_t n, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, (mode_t)mode);
    CHECKF(fd >= 0, "create %s", path);
    CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
    CHECK(fchmod(fd, (mode_t)mode) == 0);
    CHECK(close(fd) == 0);
}

void cli_check_same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    CHECKF(fa && fb, "open %s / %s", a, b);
    static char ba[1 << 16], bb[1 << 16];
    uint64_t at = 0;
    for (;;) {
        size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
        CHECKF(na == nb && memcmp(ba, bb, na) == 0, "%s and %s differ near byte %llu", a, b,
               (unsigned long long)at);
        if (na == 0)
            break;
        at += na;
    }
    fclose(fa);
    fclose(fb);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The sorted entry names of a local directory (caller frees each and v). */
static size_t local_names(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "opendir %s", dir);
    size_t n = 0, cap = 16;
    char **v = malloc(cap * sizeof *v);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        CHECK(v != NULL);
        v[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(v, n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

uint64_t cli_check_same_tree(const char *a, const char *b)
{
    struct stat sa, sb;
    CHECKF(lstat(a, &sa) == 0 && lstat(b, &sb) == 0, "lstat %s / %s", a, b);
    CHECKF((sa.st_mode & S_IFMT) == (sb.st_mode & S_IFMT), "%s and %s: types differ", a, b);
    if (S_ISLNK(sa.st_mode)) {
        char ta[4096], tb[4096];
        ssize_t na = readlink(a, ta, sizeof ta), nb = readlink(b, tb, sizeof tb);
        CHECKF(na == nb && na >= 0 && memcmp(ta, tb, (size_t)na) == 0, "links %s / %s differ", a,
               b);
        return 0;
    }
    CHECKF((sa.st_mode & 07777) == (sb.st_mode & 07777), "%s and %s: modes %o / %o", a, b,
           (unsigned)sa.st_mode & 07777, (unsigned)sb.st_mode & 07777);
    if (S_ISREG(sa.st_mode)) {
        CHECKF(sa.st_size == sb.st_size, "%s and %s: sizes %lld / %lld", a, b,
               (long long)sa.st_size, (long long)sb.st_size);
        cli_check_same_file(a, b);
        return 1;
    }
    char **na, **nb;
    size_t n = local_names(a, &na), m = local_names(b, &nb);
    CHECKF(n == m, "%s has %zu entries, %s has %zu", a, n, b, m);
    uint64_t files = 0;
    for (size_t i = 0; i < n; i++) {
        CHECKF(strcmp(na[i], nb[i]) == 0, "%s/%s vs %s/%s", a, na[i], b, nb[i]);
        char ca[4096], cb[4096];
        snprintf(ca, sizeof ca, "%s/%s", a, na[i]);
        snprintf(cb, sizeof cb, "%s/%s", b, nb[i]);
        files += cli_check_same_tree(ca, cb);
        free(na[i]);
        free(nb[i]);
    }
    free(na);
    free(nb);
    return files;
}

/* --- JSON --------------------------------------------------------------------------- */

struct jp {
    const char *s;
    int depth;
};

static struct jv *jv_value(struct jp *p);

static void skip_ws(struct jp *p)
{
    while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')
        p->s++;
}

static struct jv *jv_new(enum jv_type t)
{
    struct jv *v = calloc(1, sizeof *v);
    CHECK(v != NULL);
    v->type = t;
    return v;
}

/* A string after its opening quote; escapes decoded (\u to '?' beyond
 * ASCII: the tests only compare ASCII). NULL if malformed. */
static char *jv_string(struct jp *p)
{
    size_t cap = 64, n = 0;
    char *out = malloc(cap);
    CHECK(out != NULL);
    for (;;) {
        unsigned char c = (unsigned char)*p->s++;
        if (c == '"')
            break;
        if (c < 0x20) {
            free(out);
            return NULL;
        }
        if (c == '\\') {
            char e = *p->s++;
            const char *map = strchr("\"\\/bfnrt", e);
            if (e == 'u') {
                unsigned v = 0;
                for (int i = 0; i < 4; i++, p->s++) {
                    if (!isxdigit((unsigned char)*p->s)) {
                        free(out);
                        return NULL;
                    }
                    v = v * 16 + (unsigned)(isdigit((unsigned char)*p->s)
                                                ? *p->s - '0'
                                                : (*p->s | 32) - 'a' + 10);
                }
                c = v < 0x80 ? (unsigned char)v : '?';
            } else if (map && e) {
                c = (unsigned char)"\"\\/\b\f\n\r\t"[map - "\"\\/bfnrt"];
            } else {
                free(out);
                return NULL;
            }
        }
        if (n + 2 > cap) {
            cap *= 2;
            out = realloc(out, cap);
            CHECK(out != NULL);
        }
        out[n++] = (char)c;
    }
    out[n] = 0;
    return out;
}

/* A number as RFC 8259 spells it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static struct jv *jv_number(struct jp *p)
{
    const char *s = p->s;
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (isdigit((unsigned char)*s))
        while (isdigit((unsigned char)*s))
            s++;
    else
        return NULL;
    if (*s == '.') {
        if (!isdigit((unsigned char)*++s))
            return NULL;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return NULL;
        while (isdigit((unsigned char)*s))
            s++;
    }
    struct jv *v = jv_new(JV_NUM);
    v->num = strtod(p->s, NULL);
    p->s = s;
    return v;
}

static int jv_push(struct jv *v, char *key, struct jv *val)
{
    v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
    v->vals = realloc(v->vals, (v->n + 1) * sizeof *v->vals);
    CHECK(v->keys && v->vals);
    v->keys[v->n] = key;
    v->vals[v->n++] = val;
    return 0;
}

/* Members of an array or object after its opening bracket. */
static struct jv *jv_members(struct jp *p, int obj)
{
    struct jv *v = jv_new(obj ? JV_OBJ : JV_ARR);
    skip_ws(p);
    if (*p->s == (obj ? '}' : ']')) {
        p->s++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(p);
        if (obj) {
            if (*p->s++ != '"' || !(key = jv_string(p)))
                goto bad;
            skip_ws(p);
            if (*p->s++ != ':') {
                free(key);
                goto bad;
            }
        }
        struct jv *item = jv_value(p);
        if (!item) {
            free(key);
            goto bad;
        }
        jv_push(v, key, item);
        skip_ws(p);
        char c = *p->s++;
        if (c == (obj ? '}' : ']'))
            return v;
        if (c != ',')
            goto bad;
    }
bad:
    jv_free(v);
    return NULL;
}

static struct jv *jv_value(struct jp *p)
{
    skip_ws(p);
    if (++p->depth > 64)
        return NULL;
    struct jv *v = NULL;
    char c = *p->s;
    if (c == '{' || c == '[') {
        p->s++;
        v = jv_members(p, c == '{');
    } else if (c == '"') {
        p->s++;
        char *s = jv_string(p);
        if (s) {
            v = jv_new(JV_STR);
            v->str = s;
        }
    } else if (strncmp(p->s, "true", 4) == 0 || strncmp(p->s, "false", 5) == 0) {
        v = jv_new(JV_BOOL);
        v->num = c == 't';
        p->s += c == 't' ? 4 : 5;
    } else if (strncmp(p->s, "null", 4) == 0) {
        v = jv_new(JV_NULL);
        p->s += 4;
    } else {
        v = jv_number(p);
    }
    p->depth--;
    return v;
}

struct jv *jv_parse(const char *text)
{
    struct jp p = {text, 0};
    struct jv *v = jv_value(&p);
    skip_ws(&p);
    if (v && *p.s) {
        jv_free(v);
        return NULL;
    }
    return v;
}

void jv_free(struct jv *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        free(v->keys ? v->keys[i] : NULL);
        jv_free(v->vals[i]);
    }
    free(v->keys);
    free(v->vals);
    free(v->str);
    free(v);
}

const struct jv *jv_get(const struct jv *o, const char *key)
{
    if (!o || o->type != JV_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return o->vals[i];
    return NULL;
}

uint64_t jv_u64(const struct jv *o, const char *key)
{
    const struct jv *v = jv_get(o, key);
    CHECKF(v && (v->type == JV_NUM || v->type == JV_BOOL), "JSON member %s missing", key);
    return (uint64_t)v->num;
}

const char *jv_str(const struct jv *o, const char *key)
{
    const struct jv *v = jv_get(o, key);
    CHECKF(v && v->type == JV_STR, "JSON string member %s missing", key);
    return v->str;
}
