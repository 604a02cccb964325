/*
 * util.c: what the `cairn` client commands share (cli.h): flag parsing,
 * connecting through the cluster file, error messages and exit codes,
 * human sizes, mode strings, a JSON writer and a progress bar.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "cli/cli.h"
#include "common/log.h"
#include "common/time.h"

/* Metadata operations of a command: long enough to ride out a leader
 * election or two, short enough that a dead cluster is reported soon. */
#define CLI_OP_TIMEOUT_MS 15000u
/* Progress bars: shown for transfers of at least this many bytes, redrawn
 * at most this often. */
#define CLI_PROGRESS_MIN_BYTES (4u * 1024u * 1024u)
#define CLI_PROGRESS_EVERY_MS 100u

static const char *cluster_file;

void cli_set_cluster_file(const char *path) { cluster_file = path; }
const char *cli_cluster_file(void) { return cluster_file; }

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cairn: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see: cairn %s --help)\n", cmd);
    return CLI_USAGE;
}

static const struct cli_opt *find_long(const struct cli_opt *o, size_t n, const char *name,
                                       size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (o[i].lng && strlen(o[i].lng) == len && memcmp(o[i].lng, name, len) == 0)
            return &o[i];
    return NULL;
}

static const struct cli_opt *find_short(const struct cli_opt *o, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (o[i].shrt == c)
            return &o[i];
    return NULL;
}

/* "--name", "--name=value", "--name value". *i is advanced past a value
 * taken from the next argument. */
static int parse_long(const char *cmd, int argc, char **argv, int *i, const struct cli_opt *opts,
                      size_t n_opts)
{
    const char *a = argv[*i] + 2;
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    static const char *cluster_val;
    static const struct cli_opt cluster_opt = {"cluster", 0, &cluster_val, NULL};
    const struct cli_opt *o = find_long(opts, n_opts, a, len);
    if (!o && len == 7 && memcmp(a, "cluster", 7) == 0)
        o = &cluster_opt;
    if (!o)
        return cli_usage_error(cmd, "unknown flag --%.*s", (int)len, a);
    if (!o->val) {
        if (eq)
            return cli_usage_error(cmd, "flag --%s takes no value", o->lng);
        (*o->count)++;
        return CLI_OK;
    }
    if (eq) {
        *o->val = eq + 1;
    } else if (*i + 1 < argc) {
        *o->val = argv[++*i];
    } else {
        return cli_usage_error(cmd, "flag --%s needs a value", o->lng);
    }
    if (o == &cluster_opt)
        cli_set_cluster_file(cluster_val);
    return CLI_OK;
}

/* "-abc" or "-m VALUE" / "-mVALUE". */
static int parse_short(const char *cmd, int argc, char **argv, int *i, const struct cli_opt *opts,
                       size_t n_opts)
{
    for (const char *p = argv[*i] + 1; *p; p++) {
        const struct cli_opt *o = find_short(opts, n_opts, *p);
        if (!o)
            return cli_usage_error(cmd, "unknown flag -%c", *p);
        if (!o->val) {
            (*o->count)++;
            continue;
        }
        if (p[1]) {
            *o->val = p + 1;
        } else if (*i + 1 < argc) {
            *o->val = argv[++*i];
        } else {
            return cli_usage_error(cmd, "flag -%c needs a value", *p);
        }
        break;
    }
    return CLI_OK;
}

int cli_parse(const char *cmd, int argc, char **argv, const struct cli_opt *opts, size_t n_opts,
              char **pos, int *n_pos)
{
    *n_pos = 0;
    int flags_done = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int rc = CLI_OK;
        if (flags_done || a[0] != '-' || a[1] == 0)
            pos[(*n_pos)++] = argv[i];
        else if (strcmp(a, "--") == 0)
            flags_done = 1;
        else if (a[1] == '-')
            rc = parse_long(cmd, argc, argv, &i, opts, n_opts);
        else
            rc = parse_short(cmd, argc, argv, &i, opts, n_opts);
        if (rc != CLI_OK)
            return rc;
    }
    return CLI_OK;
}

/* --- connecting and errors --------------------------------------------------------- */

void cli_quiet_logs(void)
{
    /* Library chatter (reconnects, redirects) is not for users; CAIRN_LOG
     * turns it on (debug, info, warn, error, off). */
    const char *lv = getenv("CAIRN_LOG");
    int level = lv ? cairn_log_level_parse(lv) : -1;
    cairn_log_set_level(level >= 0 ? (enum cairn_log_level)level : CAIRN_LOG_ERROR);
}

int cli_connect(const char *cmd, struct cairn **out)
{
    cli_quiet_logs();
    char path[4096];
    if (cluster_file)
        snprintf(path, sizeof path, "%s", cluster_file);
    else if (cairn_cluster_file_default(path, sizeof path) != 0)
        path[0] = 0;
    struct stat st;
    if (!path[0] || stat(path, &st) != 0) {
        fprintf(stderr,
                "cairn: %s: no cluster file at %s\n"
                "(start a local cluster with `cairn cluster up`, or name one with --cluster FILE "
                "or CAIRN_CLUSTER)\n",
                cmd, path[0] ? path : "(none)");
        return CLI_UNREACHABLE;
    }
    /* CAIRN_TIMEOUT (seconds): how long a metadata operation may take. */
    const char *t = getenv("CAIRN_TIMEOUT");
    unsigned long secs = t ? strtoul(t, NULL, 10) : 0;
    struct cairn_config cfg = {
        .cluster_file = path,
        .name = "cairn-cli",
        .op_timeout_ms = secs > 0 && secs < 3600 ? (uint32_t)secs * 1000u : CLI_OP_TIMEOUT_MS,
    };
    int rc = cairn_connect(&cfg, out);
    if (rc) {
        fprintf(stderr, "cairn: %s: cannot reach the cluster of %s: %s\n", cmd, path,
                strerror(-rc));
        return CLI_UNREACHABLE;
    }
    return CLI_OK;
}

int cli_error(const char *cmd, const char *what, int rc)
{
    if (what)
        fprintf(stderr, "cairn: %s: %s: %s\n", cmd, what, strerror(-rc));
    else
        fprintf(stderr, "cairn: %s: %s\n", cmd, strerror(-rc));
    return rc == -ETIMEDOUT || rc == -ECONNREFUSED ? CLI_UNREACHABLE : CLI_FAIL;
}

int cli_worse(int a, int b) { return a > b ? a : b; }

/* --- output ------------------------------------------------------------------------- */

const char *cli_human(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%" PRIu64 " B", bytes);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

int cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    double mult = 1;
    const char *units = "KMGTP";
    if (*end) {
        const char *u = strchr(units, *end >= 'a' ? *end - 32 : *end);
        if (!u)
            return -1;
        for (const char *k = units; k <= u; k++)
            mult *= 1024.0;
        end++;
        if (*end == 'i')
            end++;
        if (*end == 'B')
            end++;
    }
    if (*end || v * mult > 1.8e19)
        return -1;
    *out = (uint64_t)(v * mult);
    return 0;
}

const char *cli_mode_string(uint32_t mode, char *buf)
{
    static const char rwx[] = "rwxrwxrwx";
    buf[0] = S_ISDIR(mode) ? 'd' : S_ISLNK(mode) ? 'l' : '-';
    for (int i = 0; i < 9; i++)
        buf[1 + i] = mode & (1u << (8 - i)) ? rwx[i] : '-';
    if (mode & S_ISUID)
        buf[3] = buf[3] == 'x' ? 's' : 'S';
    if (mode & S_ISGID)
        buf[6] = buf[6] == 'x' ? 's' : 'S';
    if (mode & S_ISVTX)
        buf[9] = buf[9] == 'x' ? 't' : 'T';
    buf[10] = 0;
    return buf;
}

/* --- JSON ----------------------------------------------------------------------------- */

void json_init(struct cli_json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

/* Separator before a value (not after a key). */
static void json_sep(struct cli_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->need_comma[j->depth])
        fputc(',', j->f);
    j->need_comma[j->depth] = 1;
}

static void json_open(struct cli_json *j, char c)
{
    json_sep(j);
    fputc(c, j->f);
    if (j->depth + 1 < (int)(sizeof j->need_comma / sizeof j->need_comma[0]))
        j->depth++;
    j->need_comma[j->depth] = 0;
}

static void json_close(struct cli_json *j, char c)
{
    fputc(c, j->f);
    if (j->depth > 0)
        j->depth--;
}

void json_obj(struct cli_json *j) { json_open(j, '{'); }
void json_obj_end(struct cli_json *j) { json_close(j, '}'); }
void json_arr(struct cli_json *j) { json_open(j, '['); }
void json_arr_end(struct cli_json *j) { json_close(j, ']'); }

static void json_quoted(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

void json_key(struct cli_json *j, const char *k)
{
    json_sep(j);
    json_quoted(j->f, k, strlen(k));
    fputc(':', j->f);
    j->after_key = 1;
}

void json_strn(struct cli_json *j, const char *s, size_t n)
{
    json_sep(j);
    json_quoted(j->f, s, n);
}

void json_str(struct cli_json *j, const char *s) { json_strn(j, s, strlen(s)); }

void json_u64(struct cli_json *j, uint64_t v)
{
    json_sep(j);
    fprintf(j->f, "%" PRIu64, v);
}

void json_i64(struct cli_json *j, int64_t v)
{
    json_sep(j);
    fprintf(j->f, "%" PRId64, v);
}

void json_null(struct cli_json *j)
{
    json_sep(j);
    fputs("null", j->f);
}

void json_bool(struct cli_json *j, int v)
{
    json_sep(j);
    fputs(v ? "true" : "false", j->f);
}

void json_kstr(struct cli_json *j, const char *k, const char *s)
{
    json_key(j, k);
    json_str(j, s);
}

void json_ku64(struct cli_json *j, const char *k, uint64_t v)
{
    json_key(j, k);
    json_u64(j, v);
}

void json_kbool(struct cli_json *j, const char *k, int v)
{
    json_key(j, k);
    json_bool(j, v);
}

void json_done(struct cli_json *j)
{
    fputc('\n', j->f);
    fflush(j->f);
}

/* --- progress --------------------------------------------------------------------------- */

void cli_progress_begin(struct cli_progress *p, const char *label, uint64_t total)
{
    memset(p, 0, sizeof *p);
    p->on = total >= CLI_PROGRESS_MIN_BYTES && isatty(STDOUT_FILENO);
    p->total = total;
    p->label = label;
    p->start_ms = time_mono_ms();
}

static void progress_draw(struct cli_progress *p, uint64_t now)
{
    enum { WIDTH = 30 };
    uint64_t pct = p->total ? p->done * 100u / p->total : 100u;
    char bar[WIDTH + 1], a[32], b[32], r[32];
    size_t fill = (size_t)(p->total ? p->done * WIDTH / p->total : WIDTH);
    for (size_t i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : ' ';
    bar[WIDTH] = 0;
    uint64_t ms = now > p->start_ms ? now - p->start_ms : 1;
    printf("\r%-24.24s [%s] %3" PRIu64 "%% %s / %s  %s/s ", p->label ? p->label : "", bar, pct,
           cli_human(p->done, a, sizeof a), cli_human(p->total, b, sizeof b),
           cli_human(p->done * 1000u / ms, r, sizeof r));
    fflush(stdout);
    p->drawn_ms = now;
}

void cli_progress_add(struct cli_progress *p, uint64_t n)
{
    p->done += n;
    if (!p->on)
        return;
    uint64_t now = time_mono_ms();
    if (now - p->drawn_ms >= CLI_PROGRESS_EVERY_MS)
        progress_draw(p, now);
}

void cli_progress_end(struct cli_progress *p)
{
    if (!p->on)
        return;
    progress_draw(p, time_mono_ms());
    fputc('\n', stdout);
    fflush(stdout);
}

/* --- paths and trees ----------------------------------------------------------------------- */

int cli_join(char *out, size_t len, const char *dir, const char *name)
{
    size_t d = strlen(dir);
    while (d > 1 && dir[d - 1] == '/')
        d--;
    int n = d == 1 && dir[0] == '/' ? snprintf(out, len, "/%s", name)
                                    : snprintf(out, len, "%.*s/%s", (int)d, dir, name);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

const char *cli_basename(const char *path, char *out, size_t len)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    if (b == n) /* "/" or "" */
        snprintf(out, len, "%s", n ? "/" : "");
    else
        snprintf(out, len, "%.*s", (int)(n - b), path + b);
    return out;
}

const char *cli_dirname(const char *path, char *out, size_t len)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    while (n > 0 && path[n - 1] != '/')
        n--;
    while (n > 1 && path[n - 1] == '/')
        n--;
    snprintf(out, len, "%.*s", (int)(n ? n : 1), n ? path : "/");
    return out;
}

/* --- compare-and-set ------------------------------------------------------------------ */

int cli_if_version(const char *cmd, const char *s, uint64_t *v)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = s ? strtoull(s, &end, 10) : 0;
    if (s && (!*s || *s == '-' || *end || errno))
        return cli_usage_error(cmd, "bad --if-version \"%s\" (a version from `cairn stat`)", s);
    *v = x;
    return CLI_OK;
}

int cli_cas_error(const char *cmd, struct cairn *c, const char *what, const char *now_path,
                  int follow, int rc)
{
    if (rc == CAIRN_CONFLICT && now_path) {
        struct cairn_stat st;
        int src = follow ? cairn_stat(c, now_path, &st) : cairn_lstat(c, now_path, &st);
        if (src == 0) {
            fprintf(stderr, "cairn: %s: %s: version conflict (now %" PRIu64 ")\n", cmd, what,
                    st.version);
            return CLI_FAIL;
        }
    }
    int e = cairn_err_to_errno(rc);
    if (rc == -e)
        return cli_error(cmd, what, rc); /* a POSIX code: strerror's words */
    fprintf(stderr, "cairn: %s: %s: %s\n", cmd, what, cairn_strerror(rc));
    return e == ETIMEDOUT ? CLI_UNREACHABLE : CLI_FAIL;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cli_list_dir(struct cairn *c, const char *path, char ***names, size_t *n)
{
    struct cairn_dir *d;
    int rc = cairn_opendir(c, path, &d);
    if (rc)
        return rc;
    size_t cap = 64, count = 0, bytes = 0, bcap = 4096;
    struct cairn_dirent e;
    char *text = malloc(bcap);
    size_t *offs = malloc(cap * sizeof *offs);
    if (!text || !offs)
        rc = -ENOMEM;
    while (rc == 0 && (rc = cairn_readdir(d, &e)) == 1) {
        rc = 0;
        if (strcmp(e.name, ".") == 0 || strcmp(e.name, "..") == 0)
            continue;
        size_t l = strlen(e.name) + 1;
        if (count == cap) {
            cap *= 2;
            size_t *no = realloc(offs, cap * sizeof *offs);
            if (!no) {
                rc = -ENOMEM;
                break;
            }
            offs = no;
        }
        if (bytes + l > bcap) {
            bcap = 2 * (bytes + l);
            char *nt = realloc(text, bcap);
            if (!nt) {
                rc = -ENOMEM;
                break;
            }
            text = nt;
        }
        memcpy(text + bytes, e.name, l);
        offs[count++] = bytes;
        bytes += l;
    }
    cairn_closedir(d);
    /* One block: the pointer array, then the names. */
    char **out = rc == 0 ? malloc(count * sizeof *out + bytes + 1) : NULL;
    if (rc == 0 && out) {
        char *base = (char *)(out + count);
        memcpy(base, text, bytes);
        for (size_t i = 0; i < count; i++)
            out[i] = base + offs[i];
        qsort(out, count, sizeof *out, cmp_names);
        *names = out;
        *n = count;
    }
    free(text);
    free(offs);
    return rc < 0 ? rc : out ? 0 : -ENOMEM;
}

static int walk_dir(const char *cmd, struct cairn *c, const char *path, cli_visit_fn fn, void *arg)
{
    char **names;
    size_t n;
    int rc = cli_list_dir(c, path, &names, &n);
    if (rc)
        return cli_error(cmd, path, rc);
    int code = CLI_OK;
    char child[4096];
    for (size_t i = 0; i < n; i++) {
        if (cli_join(child, sizeof child, path, names[i]) != 0) {
            code = cli_worse(code, cli_error(cmd, names[i], -ENAMETOOLONG));
            continue;
        }
        code = cli_worse(code, cli_walk(cmd, c, child, fn, arg));
    }
    free(names);
    return code;
}

int cli_walk(const char *cmd, struct cairn *c, const char *path, cli_visit_fn fn, void *arg)
{
    struct cairn_stat st;
    int rc = cairn_lstat(c, path, &st);
    if (rc)
        return cli_error(cmd, path, rc);
    int code = fn(c, path, &st, 0, arg);
    if (!S_ISDIR(st.mode) || code != CLI_OK)
        return code;
    code = walk_dir(cmd, c, path, fn, arg);
    return cli_worse(code, fn(c, path, &st, 1, arg));
}
