/* history.c: writing and reading workload histories (history.h). */
#include "history.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/time.h"

static const char *const type_names[] = {"invoke", "ok", "fail", "unknown"};
static const char *const op_names[] = {
    [HOP_READ] = "read",     [HOP_WRITE] = "write",     [HOP_CREATE] = "create",
    [HOP_UNLINK] = "unlink", [HOP_RENAME] = "rename",   [HOP_LIST] = "list",
    [HOP_APPEND] = "append", [HOP_ACQUIRE] = "acquire", [HOP_RELEASE] = "release",
    [HOP_FWRITE] = "fwrite", [HOP_FREAD] = "fread",
};
#define OP_NAMES_N (sizeof op_names / sizeof op_names[0])

const char *hist_op_name(uint32_t op)
{
    return op < OP_NAMES_N && op_names[op] ? op_names[op] : "?";
}

int hist_format(const struct hist_rec *r, char *out, size_t len)
{
    if ((unsigned)r->type > HIST_UNKNOWN)
        return -EINVAL;
    int n = snprintf(out, len,
                     "%" PRIu32 " %" PRIu64 " %s %" PRIu64 " %s %" PRIu64 " %" PRIu64 " %" PRIu64
                     " %" PRIu64 " %" PRIu64,
                     r->client, r->seq, type_names[r->type], r->t_ns, hist_op_name(r->op), r->key,
                     r->v[0], r->v[1], r->v[2], r->v[3]);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : n;
}

/* One decimal u64 field ending at a space or at the end: no sign, no
 * leading space, no overflow. */
static int parse_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    if (*s != ' ' && *s != '\0')
        return -EINVAL;
    *out = v;
    *p = *s ? s + 1 : s;
    return 0;
}

/* A word field: its index in names[0..n), or -EINVAL. */
static int parse_word(const char **p, const char *const *names, size_t n)
{
    const char *s = *p;
    size_t len = strcspn(s, " ");
    for (size_t i = 0; i < n; i++) {
        if (names[i] && strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
            *p = s[len] ? s + len + 1 : s + len;
            return (int)i;
        }
    }
    return -EINVAL;
}

int hist_parse(const char *line, size_t len, struct hist_rec *r)
{
    char buf[HIST_LINE_MAX];
    if (len >= sizeof buf || memchr(line, '\0', len))
        return -EINVAL;
    memcpy(buf, line, len);
    buf[len] = '\0';
    const char *p = buf;
    uint64_t client;
    int type, op;
    if (parse_u64(&p, &client) || client > UINT32_MAX || parse_u64(&p, &r->seq))
        return -EINVAL;
    if ((type = parse_word(&p, type_names, 4)) < 0 || parse_u64(&p, &r->t_ns))
        return -EINVAL;
    if ((op = parse_word(&p, op_names, OP_NAMES_N)) < 0 || parse_u64(&p, &r->key))
        return -EINVAL;
    for (size_t i = 0; i < HIST_VALS; i++)
        if (parse_u64(&p, &r->v[i]))
            return -EINVAL;
    if (*p != '\0')
        return -EINVAL;
    r->client = (uint32_t)client;
    r->type = (enum hist_type)type;
    r->op = (uint32_t)op;
    return 0;
}

/* Cut a partial last line left by a killed writer, and return the highest
 * seq already in the file, so a restarted client continues the numbering
 * (its pending invokes stay unknown, never matched by new completions). */
static int open_tail(int fd, uint64_t *max_seq)
{
    FILE *f = fdopen(dup(fd), "r");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    off_t good = 0;
    *max_seq = 0;
    while ((got = getline(&line, &cap, f)) > 0) {
        if (line[got - 1] != '\n')
            break;
        struct hist_rec r;
        if (hist_parse(line, (size_t)got - 1, &r) == 0 && r.seq > *max_seq)
            *max_seq = r.seq;
        good += got;
    }
    free(line);
    fclose(f);
    return ftruncate(fd, good) ? -errno : 0;
}

int hist_open(struct hist_writer *w, const char *path, uint32_t client)
{
    w->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (w->fd < 0)
        return -errno;
    w->client = client;
    int rc = open_tail(w->fd, &w->seq);
    if (rc) {
        close(w->fd);
        w->fd = -1;
    }
    return rc;
}

void hist_close(struct hist_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

static int hist_write(struct hist_writer *w, const struct hist_rec *r)
{
    char line[HIST_LINE_MAX + 1];
    int n = hist_format(r, line, sizeof line - 1);
    if (n < 0)
        return n;
    line[n++] = '\n';
    ssize_t put = write(w->fd, line, (size_t)n);
    return put == n ? 0 : put < 0 ? -errno : -EIO;
}

uint64_t hist_invoke(struct hist_writer *w, uint32_t op, uint64_t key, const uint64_t *arg)
{
    struct hist_rec r = {
        .client = w->client, .seq = ++w->seq, .type = HIST_INVOKE, .op = op, .key = key};
    if (arg)
        memcpy(r.v, arg, sizeof r.v);
    r.t_ns = time_mono_ns();
    /* Not written (the disk is full?): the completion then has no invoke and
     * hist_load rejects the file, so the run cannot pass unchecked. */
    (void)hist_write(w, &r);
    return r.seq;
}

int hist_done(struct hist_writer *w, uint64_t seq, enum hist_type type, uint32_t op, uint64_t key,
              const uint64_t *res)
{
    struct hist_rec r = {.client = w->client, .seq = seq, .type = type, .op = op, .key = key};
    if (res)
        memcpy(r.v, res, sizeof r.v);
    r.t_ns = time_mono_ns();
    return hist_write(w, &r);
}

struct loader {
    struct hist_op **ops;
    size_t *n;
    size_t cap;
    size_t file_first; /* ops of the current file start here */
};

/* An invoke opens an operation (unknown until its completion arrives). */
static int load_invoke(struct loader *l, const struct hist_rec *r)
{
    if (*l->n >= HIST_OPS_MAX)
        return -E2BIG;
    if (*l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        struct hist_op *p = realloc(*l->ops, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        *l->ops = p;
        l->cap = cap;
    }
    struct hist_op *o = &(*l->ops)[(*l->n)++];
    *o = (struct hist_op){.client = r->client,
                          .seq = r->seq,
                          .op = r->op,
                          .key = r->key,
                          .call_ns = r->t_ns,
                          .ret_ns = HIST_TIME_INF,
                          .type = HIST_UNKNOWN,
                          .no_completion = 1};
    memcpy(o->arg, r->v, sizeof o->arg);
    return 0;
}

/* A completion closes the latest open operation of this file with its
 * client and seq (searched from the end: it is almost always the last). */
static int load_done(struct loader *l, const struct hist_rec *r)
{
    for (size_t i = *l->n; i > l->file_first; i--) {
        struct hist_op *o = &(*l->ops)[i - 1];
        if (o->client != r->client || o->seq != r->seq)
            continue;
        if (o->ret_ns != HIST_TIME_INF || o->op != r->op || o->key != r->key ||
            o->call_ns > r->t_ns)
            return -EINVAL;
        memcpy(o->res, r->v, sizeof o->res);
        o->type = r->type;
        o->no_completion = 0;
        /* An unknown completion keeps ret = infinity: it may apply later. */
        if (r->type != HIST_UNKNOWN)
            o->ret_ns = r->t_ns;
        return 0;
    }
    return -EINVAL;
}

static int load_file(struct loader *l, const char *path, char *why, size_t why_len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        return -errno;
    }
    l->file_first = *l->n;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[got - 1] != '\n')
            break; /* the partial last line of a killed writer */
        struct hist_rec r;
        rc = hist_parse(line, (size_t)got - 1, &r);
        if (rc == 0)
            rc = r.type == HIST_INVOKE ? load_invoke(l, &r) : load_done(l, &r);
        if (rc)
            snprintf(why, why_len, "%s:%zu: bad record (%s)", path, lineno, strerror(-rc));
    }
    free(line);
    fclose(f);
    return rc;
}

int hist_load(const char *const *paths, size_t n, struct hist_op **ops, size_t *n_ops, char *why,
              size_t why_len)
{
    struct loader l = {.ops = ops, .n = n_ops, .cap = *n_ops};
    if (why_len)
        why[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int rc = load_file(&l, paths[i], why, why_len);
        if (rc)
            return rc;
    }
    return 0;
}
