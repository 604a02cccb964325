/*
 * conf.h: the key = value config format and "--key value" flags shared by
 * the daemons (src/metad/config.c, src/chunkd/config.c). Each daemon keeps
 * its own keys, defaults and checks and hands every (key, value) pair to its
 * own setter (conf_set_fn); this module only splits text and argv into those
 * pairs and words the errors the same way for both.
 *
 * Format: one "key = value" a line; '#' starts a comment; blank lines and
 * spaces around keys and values are ignored. Flags: "--key=value" or
 * "--key value"; "--config PATH" files are read before any other flag, so
 * flags override the file.
 *
 * Memory: nothing is kept; text is read, never changed. Thread safe (no
 * state). Errors: CAIRN_EINVAL for a malformed line or flag, the setter's
 * error for a refused value, a file's read error (CAIRN_ENOENT, ...), or
 * CAIRN_TOOBIG / CAIRN_ENOMEM; a message goes to err (err_len bytes, may
 * be 0) prefixed with where ("path:line: ", "flag --key: ").
 */
#ifndef CAIRN_COMMON_CONF_H
#define CAIRN_COMMON_CONF_H

#include <stddef.h>
#include <stdint.h>

/* Room for a setter's message, before conf_* adds where it came from. */
#define CONF_ERR_MAX 256u

/* Sets key to val in the config arg; 0 or a negative error with a message
 * in err. */
typedef int (*conf_set_fn)(void *arg, const char *key, const char *val, char *err, size_t err_len);

/* Writes the message to err (if any room) and returns CAIRN_EINVAL. */
int conf_fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Index of name in names[0..n) with '-' read as '_', or -1. */
int conf_key_find(const char *const *names, int n, const char *name);

/* A whole decimal (or 0x hex) number in [lo, hi] to *out: 0, else -1. */
int conf_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* Every line of text[0..len) to set; source names the text in messages. */
int conf_text(const char *text, size_t len, const char *source, conf_set_fn set, void *arg,
              char *err, size_t err_len);

/* The file at path (at most file_max bytes) through conf_text. */
int conf_file(const char *path, size_t file_max, conf_set_fn set, void *arg, char *err,
              size_t err_len);

/* argv[0..argc): first every --config file (at most file_max bytes each),
 * then every other flag, in order. A flag named bare_true (NULL: none) may
 * come without a value, meaning "true". */
int conf_args(int argc, char *const *argv, size_t file_max, const char *bare_true, conf_set_fn set,
              void *arg, char *err, size_t err_len);

#endif /* CAIRN_COMMON_CONF_H */
