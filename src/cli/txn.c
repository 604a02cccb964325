/*
 * txn.c: `cairn txn [FILE|-]` (an atomic batch of metadata operations with
 * conditions, read as text, one item per line) and `cairn setxattr PATH NAME
 * VALUE [--if-version V]` (a compare-and-set mutation). Formats in
 * docs/locks.md, "The command line".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "cli/cli.h"
#include "common/limits.h"

#define TXN_N_OPTS(a) (sizeof(a) / sizeof((a)[0]))
#define TXN_LINE_MAX 8192u
#define TXN_WORDS_MAX 4

const char cli_txn_usage[] =
    "usage: cairn txn [FILE|-]\n"
    "\n"
    "Apply a batch of operations atomically (one metadata log entry: all or\n"
    "nothing). The batch is read from FILE or stdin, one item per line; words are\n"
    "separated by blanks; '#' starts a comment line:\n"
    "\n"
    "  if-version PATH VERSION   PATH's inode has this version (cairn stat --json)\n"
    "  if-exists PATH            PATH exists\n"
    "  if-absent PATH            PATH does not exist\n"
    "  mkdir PATH [MODE]         (octal, default 755)\n"
    "  create PATH [MODE]        an empty regular file (default 644); fails if it exists\n"
    "  unlink PATH | rmdir PATH | rename FROM TO\n"
    "  setxattr PATH NAME VALUE\n"
    "  chmod PATH MODE\n"
    "\n"
    "Conditions are checked first, then the operations run in order. Parent\n"
    "directories must exist before the batch. Prints one line per item:\n"
    "`N ok`, `N failed: MESSAGE` or `N not applied`; exit 0 if the batch applied,\n"
    "1 if not (nothing changed).\n"
    "\n"
    "example:\n"
    "  printf 'if-absent /lockfile\\ncreate /lockfile\\nsetxattr /d user.owner me\\n' | cairn "
    "txn\n";

const char cli_setxattr_usage[] =
    "usage: cairn setxattr PATH NAME VALUE [--if-version V]\n"
    "\n"
    "Set an extended attribute. With --if-version, only if PATH's version is\n"
    "still V (compare-and-set, V from `cairn stat -L`); otherwise exit 1 with\n"
    "\"version conflict (now V2)\".\n"
    "\n"
    "example:\n"
    "  cairn setxattr /cfg user.owner alice --if-version 4\n";

/* Split line into at most max blank-separated words (in place). */
static int split(char *line, char **w, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == max)
            return -1;
        w[n++] = t;
    }
    return n;
}

static const struct {
    const char *word;
    int kind;
    int min, max; /* words after the keyword */
} txn_words[] = {
    {"if-version", CAIRN_TXN_IF_VERSION, 2, 2}, {"if-exists", CAIRN_TXN_IF_EXISTS, 1, 1},
    {"if-absent", CAIRN_TXN_IF_ABSENT, 1, 1},   {"mkdir", CAIRN_TXN_MKDIR, 1, 2},
    {"create", CAIRN_TXN_CREATE, 1, 2},         {"unlink", CAIRN_TXN_UNLINK, 1, 1},
    {"rmdir", CAIRN_TXN_RMDIR, 1, 1},           {"rename", CAIRN_TXN_RENAME, 2, 2},
    {"setxattr", CAIRN_TXN_SETXATTR, 3, 3},     {"chmod", CAIRN_TXN_CHMOD, 2, 2},
};

/* One line's words into op (strings point into the line, kept by caller). */
static int parse_item(char **w, int n, struct cairn_txn_op *op)
{
    memset(op, 0, sizeof *op);
    for (size_t i = 0; i < sizeof txn_words / sizeof txn_words[0]; i++) {
        if (strcmp(w[0], txn_words[i].word) != 0)
            continue;
        if (n - 1 < txn_words[i].min || n - 1 > txn_words[i].max)
            return -1;
        op->kind = txn_words[i].kind;
        op->path = w[1];
        op->mode = op->kind == CAIRN_TXN_MKDIR ? 0755 : 0644;
        char *end = NULL;
        if (op->kind == CAIRN_TXN_IF_VERSION)
            op->version = strtoull(w[2], &end, 10);
        else if (op->kind == CAIRN_TXN_CHMOD || (n == 3 && op->kind <= CAIRN_TXN_CREATE))
            op->mode = (uint32_t)strtoul(w[2], &end, 8);
        else if (n >= 3)
            op->path2 = w[2];
        if (end && *end)
            return -1;
        if (op->kind == CAIRN_TXN_SETXATTR) {
            op->value = w[3];
            op->value_len = strlen(w[3]);
        }
        return 0;
    }
    return -1;
}

struct txn_batch {
    size_t n;
    struct cairn_txn_op ops[2 * CAIRN_TXN_OPS_MAX];
    char *lines[2 * CAIRN_TXN_OPS_MAX];
};

/* Read the batch; CLI_USAGE (message printed) on a bad line. */
static int read_batch(FILE *f, const char *src, struct txn_batch *b)
{
    char line[TXN_LINE_MAX];
    unsigned lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *w[TXN_WORDS_MAX + 1];
        char *copy = strdup(line);
        if (!copy)
            return CLI_FAIL;
        int n = split(copy, w, TXN_WORDS_MAX);
        if (n == 0 || (n > 0 && w[0][0] == '#')) {
            free(copy);
            continue;
        }
        if (b->n == 2 * CAIRN_TXN_OPS_MAX || n < 0 || parse_item(w, n, &b->ops[b->n])) {
            free(copy);
            return cli_usage_error("txn", "%s:%u: bad item (or too many)", src, lineno);
        }
        b->lines[b->n++] = copy;
    }
    return CLI_OK;
}

static void print_results(const struct txn_batch *b, int rc, size_t failed)
{
    for (size_t i = 0; i < b->n; i++) {
        if (rc == 0)
            printf("%zu ok\n", i);
        else if (i == failed)
            printf("%zu failed: %s\n", i, cairn_strerror(rc));
        else
            printf("%zu not applied\n", i);
    }
    if (rc && failed >= b->n)
        printf("batch failed: %s\n", cairn_strerror(rc));
}

int cli_txn(int argc, char **argv)
{
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("txn", argc, argv, NULL, 0, pos, &n_pos);
    if (code)
        return code;
    if (n_pos > 1)
        return cli_usage_error("txn", "one FILE at most");
    const char *src = n_pos && strcmp(pos[0], "-") != 0 ? pos[0] : "-";
    FILE *f = strcmp(src, "-") == 0 ? stdin : fopen(src, "r");
    if (!f)
        return cli_error("txn", src, -errno);
    static struct txn_batch b;
    code = read_batch(f, src, &b);
    if (f != stdin)
        fclose(f);
    if (code == CLI_OK && b.n == 0)
        code = cli_usage_error("txn", "empty batch");
    struct cairn *c = NULL;
    if (code == CLI_OK)
        code = cli_connect("txn", &c);
    if (code == CLI_OK) {
        size_t failed;
        int rc = cairn_txn(c, b.ops, b.n, &failed);
        print_results(&b, rc, failed);
        code = rc ? CLI_FAIL : CLI_OK;
        cairn_disconnect(c);
    }
    for (size_t i = 0; i < b.n; i++)
        free(b.lines[i]);
    b.n = 0;
    return code;
}

int cli_setxattr(int argc, char **argv)
{
    const char *ifv = NULL;
    const struct cli_opt opts[] = {{"if-version", 0, &ifv, NULL}};
    char *pos[argc + 1];
    int n_pos;
    int code = cli_parse("setxattr", argc, argv, opts, TXN_N_OPTS(opts), pos, &n_pos);
    if (code)
        return code;
    if (n_pos != 3)
        return cli_usage_error("setxattr", "need PATH NAME VALUE");
    uint64_t v;
    if ((code = cli_if_version("setxattr", ifv, &v)) != 0)
        return code;
    struct cairn *c;
    if ((code = cli_connect("setxattr", &c)) != 0)
        return code;
    int rc = ifv ? cairn_setxattr_if(c, pos[0], pos[1], pos[2], strlen(pos[2]), 0, v)
                 : cairn_setxattr(c, pos[0], pos[1], pos[2], strlen(pos[2]), 0);
    if (rc)
        code = ifv ? cli_cas_error("setxattr", c, pos[0], pos[0], 1, rc)
                   : cli_error("setxattr", pos[0], rc);
    cairn_disconnect(c);
    return code;
}
