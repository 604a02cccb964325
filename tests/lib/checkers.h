/*
 * checkers.h: the history checkers of the nemesis tests (issue #9): given
 * the operations of every client (history.h) and the final reads made after
 * the faults healed, decide whether what the clients saw is allowed by
 * cairn's guarantees (DESIGN.md §1; docs/checkers.md says what each checks
 * and why).
 *
 *   ck_register   files as registers: linearizable per file (lincheck.h;
 *                 a write is two steps, the O_TRUNC at open and the data at
 *                 close), no read of bytes never written, no acked write
 *                 lost (the final read's value is not older than an acked
 *                 write)
 *   ck_namespace  create / unlink / rename / readdir over <= CK_NAMES_MAX
 *                 names per directory: linearizable against a model of the
 *                 set of names, each directory a partition (definite errors
 *                 such as EEXIST are observations too)
 *   ck_append     logs of (writer, seq) records: every acked append present,
 *                 each writer's seqs strictly increasing, no garbage, no
 *                 record nobody appended
 *   ck_lock       locks with fencing tokens: mutual exclusion in real time,
 *                 tokens increasing in grant order, fenced writes never
 *                 accepted with an older token after a newer one, the final
 *                 fenced value the newest accepted (and lincheck's lock model)
 *
 * Final reads are ordinary ops of client HIST_CLIENT_FINAL whose call time
 * follows every other op (wl_check makes them after the workers stopped).
 *
 * Each checker adds what it finds to a struct ck_result: the count, and a
 * description of the first violation (with CK_VERBOSE set in the
 * environment, lincheck's whole report also goes to stderr). Pure functions over the arrays given
 * (they are not modified); temporary memory is freed before return; no
 * global state. Return value: 0, or -ENOMEM (the result is then partial).
 */
#ifndef CAIRN_TEST_CHECKERS_H
#define CAIRN_TEST_CHECKERS_H

#include <stddef.h>
#include <stdint.h>

#include "history.h"

/* Names per directory of the namespace workload: the model state is their
 * bitmap; an op's key is directory * CK_NAMES_MAX + name. */
#define CK_NAMES_MAX 8u
/* Search budget of one lincheck call (steps; 4x lincheck's default, which
 * gives up on the register case below). What fits, measured on generated
 * histories of 3 clients: a register of 25,000 ops with 3% unknown writes
 * (5 s); a namespace directory of 50,000 ops with 2% unknown (1 s). Past
 * ~500 unknown ops in one partition the search can take minutes and give
 * up, which counts as a violation: spread long runs over more keys. */
#define CK_LIN_BUDGET 400000000u

struct ck_result {
    uint64_t violations;
    char first[512];
};

/* Register values: the writer and its seq, never 0 (0 is the empty file). */
static inline uint64_t ck_reg_value(uint32_t client, uint64_t seq)
{
    return ((uint64_t)client << 32) | (seq & 0xffffffffu);
}

int ck_register(const struct hist_op *ops, size_t n, struct ck_result *r);
int ck_namespace(const struct hist_op *ops, size_t n, struct ck_result *r);

/* One log file as read at the end: its records in file order. */
struct ck_log_rec {
    uint32_t writer;
    uint64_t seq;
};
struct ck_log {
    uint64_t key; /* the APPEND ops' key */
    size_t n;
    const struct ck_log_rec *rec;
    uint64_t garbage; /* lines that did not parse or failed their CRC */
    char first_garbage[64];
};
int ck_append(const struct hist_op *ops, size_t n, const struct ck_log *logs, size_t n_logs,
              struct ck_result *r);

int ck_lock(const struct hist_op *ops, size_t n, struct ck_result *r);

/* Record a violation (printf-style description kept if it is the first). */
void ck_note(struct ck_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
