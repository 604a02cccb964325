/*
 * history.h: operation histories of the nemesis workloads (workload.h),
 * written by each client process as it runs and read back by the checkers
 * (checkers.h).
 *
 * File format: text, one record per line, fields separated by one space:
 *
 *   <client> <seq> <type> <t_ns> <op> <key> <v0> <v1> <v2> <v3>
 *
 *   client  decimal u32, the writing client (HIST_CLIENT_FINAL: wl_check's
 *           final reads)
 *   seq     decimal u64, numbers the client's operations from 1; an
 *           operation's invoke and completion records share it
 *   type    invoke | ok | fail | unknown
 *   t_ns    CLOCK_MONOTONIC nanoseconds (comparable across the processes of
 *           one machine)
 *   op      read write create unlink rename list append acquire release
 *           fwrite fread (enum hist_opcode)
 *   key     decimal u64: the register, name, log or lock operated on
 *   v0..v3  decimal u64: the arguments on an invoke record, the results on
 *           an ok or unknown record, the positive errno (v0) on a fail record;
 *           what each op puts there is documented at enum hist_opcode
 *
 * Each record is one write(2) of a whole line on an O_APPEND descriptor, so
 * a client killed mid-operation leaves an invoke without completion (the
 * operation's outcome is unknown) and at worst a partial last line, which
 * the parser ignores. Any other malformed line is an error (-EINVAL).
 *
 * Memory: hist_load allocates the array it returns (free() it). Threads: a
 * struct hist_writer belongs to one thread. Errors: negative errno values.
 */
#ifndef CAIRN_TEST_HISTORY_H
#define CAIRN_TEST_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define HIST_VALS 4
/* The client number of wl_check's final reads, made after every other op. */
#define HIST_CLIENT_FINAL 999999u
#define HIST_TIME_INF UINT64_MAX
/* Longest history one load accepts (all files together): bounds memory. */
#define HIST_OPS_MAX 2000000u
/* Longest record line (ten u64 fields and names fit in far less). */
#define HIST_LINE_MAX 256u

enum hist_type { HIST_INVOKE = 0, HIST_OK = 1, HIST_FAIL = 2, HIST_UNKNOWN = 3 };

/* Operations, with their invoke arguments (arg) and results (res):
 *   READ    register read: res[0] value (0: empty file), res[1] 1 if the bytes
 *           were not a well-formed value with a good checksum, res[2] bytes
 *           read
 *   WRITE   register write: arg[0] value, arg[1] 1 if opened with O_TRUNC
 *           (which empties the file when the open returns; else the value
 *           overwrites the old one in place, same length); res[0] time the
 *           open returned, 0 if it did not
 *   CREATE  exclusive create of name `key` (namespace keys: directory * 8 +
 *           name, checkers.h CK_NAMES_MAX)
 *   UNLINK  unlink of name `key`
 *   RENAME  key -> arg[0]; arg[1] 1 with NOREPLACE
 *   LIST    readdir of directory key / 8: res[0] bitmap of the names present
 *   APPEND  log `key`: arg[0] writer, arg[1] sequence number
 *   ACQUIRE lock `key` (try): res[0] fencing token (fail EAGAIN: held)
 *   RELEASE lock `key`
 *   FWRITE  fenced register `key`: arg[0] token, arg[1] value (fail ESTALE:
 *           refused by the fence, the file saw a newer token)
 *   FREAD   fenced register `key`: res[0] token stored, res[1] value, res[2]
 *           1 if the bytes were no well-formed record */
enum hist_opcode {
    HOP_READ = 1,
    HOP_WRITE,
    HOP_CREATE,
    HOP_UNLINK,
    HOP_RENAME,
    HOP_LIST,
    HOP_APPEND,
    HOP_ACQUIRE,
    HOP_RELEASE,
    HOP_FWRITE,
    HOP_FREAD,
};

/* One operation: its invoke joined with its completion. */
struct hist_op {
    uint32_t client;
    uint64_t seq;
    uint32_t op; /* enum hist_opcode */
    uint64_t key;
    uint64_t arg[HIST_VALS];
    uint64_t res[HIST_VALS]; /* results (ok, unknown), res[0] = errno (fail) */
    uint64_t call_ns;
    uint64_t ret_ns;     /* HIST_TIME_INF when the outcome is unknown */
    enum hist_type type; /* HIST_OK, HIST_FAIL or HIST_UNKNOWN */
    /* 1: an invoke without completion record (hist_load): the client process
     * died mid-op (a later op of this client, if any, is another process,
     * with another metadata session), or gave up without recording one (the
     * lock workload's reset). 0 for every op with a completion. */
    int no_completion;
};

struct hist_writer {
    int fd;
    uint32_t client;
    uint64_t seq;
};

/* Open (append to) the history file of a client. */
int hist_open(struct hist_writer *w, const char *path, uint32_t client);
void hist_close(struct hist_writer *w);
/* Record an invocation now; returns its seq (for hist_done). */
uint64_t hist_invoke(struct hist_writer *w, uint32_t op, uint64_t key, const uint64_t *arg);
/* Record the completion of seq: type HIST_OK / HIST_UNKNOWN with results
 * (NULL: zeros), HIST_FAIL with res[0] = errno. Returns 0 or -errno. */
int hist_done(struct hist_writer *w, uint64_t seq, enum hist_type type, uint32_t op, uint64_t key,
              const uint64_t *res);

/* Format / parse one record line (without its '\n'). parse: 0, or -EINVAL. */
struct hist_rec {
    uint32_t client;
    uint64_t seq;
    enum hist_type type;
    uint64_t t_ns;
    uint32_t op;
    uint64_t key;
    uint64_t v[HIST_VALS];
};
int hist_format(const struct hist_rec *r, char *out, size_t len);
int hist_parse(const char *line, size_t len, struct hist_rec *r);

/* Load the operations of files paths[0..n), appended to *ops (which may be
 * NULL with *n_ops 0; grown with realloc). Invokes without a completion are
 * unknown. -EINVAL with the file and line in why for a malformed line. */
int hist_load(const char *const *paths, size_t n, struct hist_op **ops, size_t *n_ops, char *why,
              size_t why_len);

/* Name of an op code ("?" if none). */
const char *hist_op_name(uint32_t op);

#endif
