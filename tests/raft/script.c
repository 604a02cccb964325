/*
 * script.c: golden script files in the style of etcd raft's datadriven
 * testdata. A file is a sequence of blocks
 *
 *     command line
 *     ----
 *     expected output lines
 *     <blank line or end of file>
 *
 * with '#' comment lines and blank lines between blocks. Running a script
 * feeds each command to a fresh environment in order and compares its
 * output with the expected lines; the first mismatch stops the run and is
 * reported as a unified diff whose line numbers are those of the file.
 * Rewriting keeps comments and commands and replaces every expected block.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "golden.h"

/* Lines of one diff side at most; beyond, the LCS table (n * m cells) would
 * be large and the two outputs are printed whole instead. */
#define GOLDEN_DIFF_CELLS_MAX (4u * 1024u * 1024u)
/* Lines of context around each change, as diff -u. */
#define GOLDEN_DIFF_CONTEXT 3

struct gitem {
    int is_cmd;
    const char *text; /* verbatim line (with its newline) or the command */
    size_t len;
    int line; /* 1-based line number in the file */
    int has_exp;
    const char *exp; /* expected output, each line ending in '\n' */
    size_t exp_len;
};

struct gparsed {
    struct gitem *items;
    size_t n;
    size_t cap;
};

static size_t line_len(const char *p)
{
    const char *nl = strchr(p, '\n');
    return nl ? (size_t)(nl - p) : strlen(p);
}

static const char *next_line(const char *p)
{
    size_t n = line_len(p);
    return p[n] == '\n' ? p + n + 1 : p + n;
}

static struct gitem *add_item(struct gparsed *ps)
{
    ps->items = gx_grow(ps->items, &ps->cap, ps->n + 1, sizeof ps->items[0]);
    struct gitem *it = &ps->items[ps->n++];
    memset(it, 0, sizeof *it);
    return it;
}

/* Expected lines after "----" up to a blank line (consumed) or the end. */
static const char *parse_expected(struct gitem *it, const char *p, int *lineno)
{
    it->has_exp = 1;
    it->exp = p;
    while (*p && line_len(p) > 0) {
        p = next_line(p);
        (*lineno)++;
    }
    it->exp_len = (size_t)(p - it->exp);
    if (*p) {
        p = next_line(p);
        (*lineno)++;
    }
    return p;
}

static void parse_script(const char *text, struct gparsed *ps)
{
    int lineno = 1;
    const char *p = text;
    while (*p) {
        size_t n = line_len(p);
        struct gitem *it = add_item(ps);
        it->text = p;
        it->line = lineno;
        if (n == 0 || p[0] == '#') {
            it->len = (size_t)(next_line(p) - p);
            p = next_line(p);
            lineno++;
            continue;
        }
        it->is_cmd = 1;
        it->len = n;
        p = next_line(p);
        lineno++;
        if (strncmp(p, "----", 4) == 0 && line_len(p) == 4) {
            p = next_line(p);
            lineno++;
            p = parse_expected(it, p, &lineno);
        } else if (*p && line_len(p) == 0) {
            /* No expected block yet: the blank line after it is the one
             * a rewrite writes after the block it adds. */
            p = next_line(p);
            lineno++;
        }
    }
}

/* --- diff --------------------------------------------------------------------- */

struct glines {
    const char **p;
    size_t *len;
    size_t n;
};

static void split_lines(const char *s, size_t len, struct glines *l)
{
    l->p = gx_alloc((len + 1) * sizeof *l->p);
    l->len = gx_alloc((len + 1) * sizeof *l->len);
    l->n = 0;
    const char *end = s + len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl ? nl : end;
        l->p[l->n] = s;
        l->len[l->n++] = (size_t)(le - s);
        s = nl ? nl + 1 : end;
    }
}

static int same_line(const struct glines *a, size_t i, const struct glines *b, size_t j)
{
    return a->len[i] == b->len[j] && memcmp(a->p[i], b->p[j], a->len[i]) == 0;
}

/* The edit script from a to b as ops ' ', '-', '+' (longest common
 * subsequence, computed backwards so the walk goes forwards). */
static char *edit_script(const struct glines *a, const struct glines *b, size_t *nops)
{
    size_t w = b->n + 1;
    uint32_t *t = gx_alloc((a->n + 1) * w * sizeof *t);
    for (size_t i = a->n; i-- > 0;)
        for (size_t j = b->n; j-- > 0;)
            t[i * w + j] = same_line(a, i, b, j) ? t[(i + 1) * w + j + 1] + 1
                                                 : CAIRN_MAX(t[(i + 1) * w + j], t[i * w + j + 1]);
    char *ops = gx_alloc(a->n + b->n + 1);
    size_t i = 0, j = 0, k = 0;
    while (i < a->n || j < b->n) {
        if (i < a->n && j < b->n && same_line(a, i, b, j)) {
            ops[k++] = ' ';
            i++;
            j++;
        } else if (j == b->n || (i < a->n && t[(i + 1) * w + j] >= t[i * w + j + 1])) {
            ops[k++] = '-';
            i++;
        } else {
            ops[k++] = '+';
            j++;
        }
    }
    free(t);
    *nops = k;
    return ops;
}

/* One hunk: ops[from, to) with the line numbers of its first lines. */
static void print_hunk(struct cairn_buf *r, const char *ops, size_t from, size_t to,
                       const struct glines *a, const struct glines *b, size_t ai, size_t bj,
                       int first_line)
{
    size_t na = 0, nb = 0;
    for (size_t k = from; k < to; k++) {
        na += ops[k] != '+';
        nb += ops[k] != '-';
    }
    bprintf(r, "@@ -%zu,%zu +%zu,%zu @@\n", (size_t)first_line + ai, na, (size_t)first_line + bj,
            nb);
    for (size_t k = from; k < to; k++) {
        const struct glines *l = ops[k] == '+' ? b : a;
        size_t idx = ops[k] == '+' ? bj++ : ai++;
        if (ops[k] == ' ')
            bj++;
        bprintf(r, "%c%.*s\n", ops[k], (int)l->len[idx], l->p[idx]);
    }
}

/* Hunks of the edit script with GOLDEN_DIFF_CONTEXT lines around changes. */
static void print_hunks(struct cairn_buf *r, const char *ops, size_t nops, const struct glines *a,
                        const struct glines *b, int first_line)
{
    size_t k = 0, ai = 0, bj = 0;
    while (k < nops) {
        size_t c = k;
        while (c < nops && ops[c] == ' ')
            c++;
        if (c == nops)
            break;
        size_t from = c > k + GOLDEN_DIFF_CONTEXT ? c - GOLDEN_DIFF_CONTEXT : k;
        size_t end = c, quiet = 0;
        while (end < nops && quiet <= 2 * GOLDEN_DIFF_CONTEXT) {
            quiet = ops[end] == ' ' ? quiet + 1 : 0;
            end++;
        }
        size_t to = end - (quiet > GOLDEN_DIFF_CONTEXT ? quiet - GOLDEN_DIFF_CONTEXT : 0);
        for (size_t s = k; s < from; s++)
            ai++, bj++;
        print_hunk(r, ops, from, to, a, b, ai, bj, first_line);
        for (size_t s = from; s < to; s++) {
            ai += ops[s] != '+';
            bj += ops[s] != '-';
        }
        k = to;
    }
}

static void report_diff(struct cairn_buf *r, const char *exp, size_t el, const char *act, size_t al,
                        int first_line)
{
    struct glines a, b;
    split_lines(exp, el, &a);
    split_lines(act, al, &b);
    bprintf(r, "--- expected\n+++ actual\n");
    if ((a.n + 1) * (b.n + 1) > GOLDEN_DIFF_CELLS_MAX) {
        for (size_t i = 0; i < a.n; i++)
            bprintf(r, "-%.*s\n", (int)a.len[i], a.p[i]);
        for (size_t j = 0; j < b.n; j++)
            bprintf(r, "+%.*s\n", (int)b.len[j], b.p[j]);
    } else {
        size_t nops;
        char *ops = edit_script(&a, &b, &nops);
        print_hunks(r, ops, nops, &a, &b, first_line);
        free(ops);
    }
    free(a.p);
    free(a.len);
    free(b.p);
    free(b.len);
}

/* --- running ------------------------------------------------------------------ */

static int cmd_matches(const struct gitem *it, const struct cairn_buf *out)
{
    return it->has_exp && it->exp_len == out->len &&
           (out->len == 0 || memcmp(it->exp, out->data, out->len) == 0);
}

static void report_mismatch(struct cairn_buf *r, const char *name, const struct gitem *it,
                            const struct cairn_buf *out)
{
    bprintf(r, "%s:%d: output of '%.*s' differs", name, it->line, (int)it->len, it->text);
    if (!it->has_exp) {
        bprintf(r, " (no expected block: run --rewrite)\n");
        return;
    }
    bprintf(r, "\n");
    report_diff(r, it->exp, it->exp_len, (const char *)out->data, out->len, it->line + 2);
}

static void append_block(struct cairn_buf *nt, const struct gitem *it, const struct cairn_buf *out)
{
    CAIRN_ASSERT(buf_append(nt, it->text, it->len) == 0);
    CAIRN_ASSERT(buf_append(nt, "\n----\n", 6) == 0);
    CAIRN_ASSERT(buf_append(nt, out->data, out->len) == 0);
    CAIRN_ASSERT(buf_append(nt, "\n", 1) == 0);
}

/* Violation lines of the first command that produced any, for the report. */
static void note_violation(struct cairn_buf *first, const char *name, const struct gitem *it,
                           const struct cairn_buf *out)
{
    if (first->len)
        return;
    bprintf(first, "%s:%d: '%.*s' broke a Raft safety rule:\n", name, it->line, (int)it->len,
            it->text);
    const char *p = (const char *)out->data, *end = p + out->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n >= 9 && memcmp(p, "VIOLATION", 9) == 0)
            bprintf(first, "  %.*s\n", (int)n, p);
        p += n + 1;
    }
}

int gscript_run(const char *name, const char *text, char **rewritten, struct cairn_buf *report)
{
    struct gparsed ps = {0};
    parse_script(text, &ps);
    struct genv *e = genv_new();
    struct cairn_buf out, nt, first_violation;
    buf_init(&out, 0);
    buf_init(&nt, 0);
    buf_init(&first_violation, 0);
    int result = 0, seen = 0;
    for (size_t i = 0; i < ps.n && result == 0; i++) {
        const struct gitem *it = &ps.items[i];
        if (!it->is_cmd) {
            CAIRN_ASSERT(buf_append(&nt, it->text, it->len) == 0);
            continue;
        }
        char cmd[1100], err[256] = "";
        snprintf(cmd, sizeof cmd, "%.*s", (int)it->len, it->text);
        buf_reset(&out);
        if (genv_exec(e, cmd, &out, err, sizeof err)) {
            bprintf(report, "%s:%d: script error in '%s': %s\n", name, it->line, cmd, err);
            result = CAIRN_EINVAL;
            break;
        }
        if (e->violations > seen)
            note_violation(&first_violation, name, it, &out);
        seen = e->violations;
        if (rewritten) {
            append_block(&nt, it, &out);
        } else if (!cmd_matches(it, &out)) {
            report_mismatch(report, name, it, &out);
            result = 1;
        }
    }
    if (result == 0 && e->violations) {
        bprintf(report, "%.*s", (int)first_violation.len, (const char *)first_violation.data);
        bprintf(report, "%s: %d safety violation(s) in the run\n", name, e->violations);
        result = 1;
    }
    if (rewritten && result != CAIRN_EINVAL) {
        CAIRN_ASSERT(buf_append(&nt, "", 1) == 0);
        *rewritten = (char *)buf_steal(&nt, NULL);
    }
    genv_free(e);
    buf_free(&out);
    buf_free(&nt);
    buf_free(&first_violation);
    free(ps.items);
    return result;
}

int gscript_read_file(const char *path, char **text)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cairn_err_from_errno(errno);
    struct cairn_buf b;
    buf_init(&b, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        CAIRN_ASSERT(buf_append(&b, chunk, n) == 0);
    int rc = ferror(f) ? CAIRN_EIO : 0;
    fclose(f);
    CAIRN_ASSERT(buf_append(&b, "", 1) == 0);
    *text = (char *)buf_steal(&b, NULL);
    return rc;
}

/* Write to a temporary file, then rename: an interrupted rewrite leaves the
 * old script intact. */
int gscript_write_file(const char *path, const char *text)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return cairn_err_from_errno(errno);
    size_t len = strlen(text);
    int rc = fwrite(text, 1, len, f) == len ? 0 : CAIRN_EIO;
    if (fclose(f) != 0)
        rc = CAIRN_EIO;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = cairn_err_from_errno(errno);
    return rc;
}
