/* conf.c: key = value config text and --key flags for the daemons (conf.h). */
#include "common/conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/limits.h"

/* The longest config line: a path value and room for its key. */
#define CONF_LINE_MAX (2 * CAIRN_PATH_MAX)

int conf_fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return CAIRN_EINVAL;
}

int conf_key_find(const char *const *names, int n, const char *name)
{
    char norm[32];
    size_t len = strlen(name);
    if (len >= sizeof norm)
        return -1;
    for (size_t i = 0; i <= len; i++)
        norm[i] = name[i] == '-' ? '_' : name[i];
    for (int k = 0; k < n; k++)
        if (strcmp(norm, names[k]) == 0)
            return k;
    return -1;
}

int conf_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Trim spaces and tabs at both ends (and a CR at the end), in place. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

/* One line of a config file: blank, a comment, or key = value. */
static int conf_line(char *line, const char *source, unsigned lineno, conf_set_fn set, void *arg,
                     char *err, size_t err_len)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = 0;
    char *s = trim(line);
    if (!*s)
        return 0;
    char *eq = strchr(s, '=');
    if (!eq)
        return conf_fail(err, err_len, "%s:%u: expected key = value", source, lineno);
    *eq = 0;
    char *key = trim(s), *val = trim(eq + 1);
    char sub[CONF_ERR_MAX];
    if (set(arg, key, val, sub, sizeof sub))
        return conf_fail(err, err_len, "%s:%u: %s", source, lineno, sub);
    return 0;
}

int conf_text(const char *text, size_t len, const char *source, conf_set_fn set, void *arg,
              char *err, size_t err_len)
{
    unsigned lineno = 0;
    size_t off = 0;
    while (off < len) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
        lineno++;
        char line[CONF_LINE_MAX];
        if (n >= sizeof line)
            return conf_fail(err, err_len, "%s:%u: line too long", source, lineno);
        memcpy(line, text + off, n);
        line[n] = 0;
        if (memchr(line, 0, n))
            return conf_fail(err, err_len, "%s:%u: NUL byte", source, lineno);
        int rc = conf_line(line, source, lineno, set, arg, err, err_len);
        if (rc)
            return rc;
        off += n + (nl ? 1 : 0);
    }
    return 0;
}

int conf_file(const char *path, size_t file_max, conf_set_fn set, void *arg, char *err,
              size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = cairn_err_from_errno(errno);
        snprintf(err, err_len, "config %s: %s", path, cairn_strerror(rc));
        return rc;
    }
    char *text = malloc(file_max + 1);
    size_t len = 0;
    int rc = text ? 0 : CAIRN_ENOMEM;
    while (rc == 0) {
        ssize_t n = read(fd, text + len, file_max + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = cairn_err_from_errno(errno);
        else if (n == 0)
            break;
        else if ((len += (size_t)n) > file_max)
            rc = CAIRN_TOOBIG;
    }
    close(fd);
    if (rc)
        snprintf(err, err_len, "config %s: %s", path, cairn_strerror(rc));
    else
        rc = conf_text(text, len, path, set, arg, err, err_len);
    free(text);
    return rc;
}

/* "--key=value" or "--key value" at argv[*i]; advances *i past it. */
static int conf_flag(int argc, char *const *argv, int *i, const char *bare_true, conf_set_fn set,
                     void *arg, char *err, size_t err_len)
{
    const char *a = argv[*i];
    if (strncmp(a, "--", 2) != 0)
        return conf_fail(err, err_len, "unexpected argument \"%s\"", a);
    char key[40];
    const char *eq = strchr(a + 2, '=');
    size_t kl = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
    if (kl == 0 || kl >= sizeof key)
        return conf_fail(err, err_len, "unknown flag \"%s\"", a);
    memcpy(key, a + 2, kl);
    key[kl] = 0;
    const char *val = eq ? eq + 1 : NULL;
    if (bare_true && strcmp(key, bare_true) == 0 && !val)
        val = "true";
    if (!val) {
        if (*i + 1 >= argc)
            return conf_fail(err, err_len, "flag --%s needs a value", key);
        val = argv[++*i];
    }
    (*i)++;
    if (strcmp(key, "config") == 0)
        return 0; /* read before the other flags */
    char sub[CONF_ERR_MAX];
    if (set(arg, key, val, sub, sizeof sub))
        return conf_fail(err, err_len, "flag --%s: %s", key, sub);
    return 0;
}

int conf_args(int argc, char *const *argv, size_t file_max, const char *bare_true, conf_set_fn set,
              void *arg, char *err, size_t err_len)
{
    for (int i = 0; i < argc; i++) {
        const char *path = NULL;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return conf_fail(err, err_len, "flag --config needs a value");
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        }
        int rc = path ? conf_file(path, file_max, set, arg, err, err_len) : 0;
        if (rc)
            return rc;
    }
    for (int i = 0; i < argc;) {
        int rc = conf_flag(argc, argv, &i, bare_true, set, arg, err, err_len);
        if (rc)
            return rc;
    }
    return 0;
}
