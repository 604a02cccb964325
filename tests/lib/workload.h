/*
 * workload.h: client workloads for the nemesis (fault injection) tests of
 * issue #9. Each workload runs in a forked child process over libcairn with
 * short operation timeouts and records a history (history.h) of what it
 * invoked and what it was told; after the faults heal, wl_check makes final
 * reads and runs the checkers (checkers.h) over every client's history.
 *
 * Workloads (docs/checkers.md):
 *   WL_REGISTER   whole small files as registers (write O_TRUNC, read all)
 *   WL_NAMESPACE  create / rename / unlink / readdir over a few names
 *   WL_APPEND     per-writer sequence numbers appended to log files
 *   WL_LOCK       named locks with fencing tokens and a fenced register
 *
 * Outcomes: an operation answered with a definite error (ENOENT, EEXIST, ...)
 * is "fail" (did not apply); a timeout or connection error on a mutation is
 * "unknown" (it may have applied, at any time after its invocation); a
 * SIGKILL between the invoke record and the answer also leaves it unknown.
 *
 * Memory: no pointer passed in is kept after a call returns. Threads: each
 * call uses its own connection; run one wl_run per process. Errors: negative
 * cairn_err / errno values (setup or I/O failures of the harness itself, not
 * operation failures, which are recorded in the history).
 */
#ifndef CAIRN_TEST_WORKLOAD_H
#define CAIRN_TEST_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

enum wl_kind { WL_REGISTER, WL_NAMESPACE, WL_APPEND, WL_LOCK };

/* wl_cfg.keys: 1..WL_KEYS_MAX registers or locks (wl_setup makes that many
 * files); the namespace workload uses min(keys, 8) names (at least 2) in
 * each of its 4 directories. */
#define WL_KEYS_MAX 16u
/* Append: client ids below WL_WRITERS_MAX (one log per writer: a bound on
 * the files one check reads). */
#define WL_WRITERS_MAX 65536u

struct wl_cfg {
    enum wl_kind kind;
    const char *cluster_file;
    const char *root; /* cairn directory of this workload, e.g. "/chaos/reg" */
    uint32_t client_id;
    uint64_t seed;
    uint32_t keys;
    uint32_t duration_ms;
    const char *history_path;
    uint32_t flags; /* WL_F_* */
};

/* Register writes open with O_TRUNC, as most programs rewrite a file: the
 * file is empty between the open and the close. Without it a write
 * overwrites the value in place (every value has the same length), so no
 * empty state exists. docs/checkers.md: the anomaly O_TRUNC exposes. */
#define WL_F_TRUNC 1u

/* Create root (and its parents) and the workload's initial files; call once
 * before the workers start. */
int wl_setup(enum wl_kind kind, const char *cluster_file, const char *root);

/* Run the workload in this process (its own libcairn connection) until
 * duration_ms has passed, appending history records with write(2), so a
 * SIGKILL mid-op leaves an op whose outcome is unknown. Meant for a forked
 * child. */
int wl_run(const struct wl_cfg *cfg);

struct wl_report {
    uint64_t ops, ok, fail, unknown, violations;
    char first_violation[512];
};

/* After the faults heal: final reads, then every checker of the workload over
 * the histories. 0 when the check ran (violations counted in out), negative
 * when it could not run (cluster unreachable, unreadable history). */
int wl_check(enum wl_kind kind, const char *cluster_file, const char *root,
             const char *const *history_paths, size_t n, struct wl_report *out);

/* Every file under root has every chunk with >= goal replicas
 * (cairn_file_chunks, cairn_getgoal); waits up to timeout_ms. 0 when so;
 * -ETIMEDOUT with the first shortfall described in why otherwise. */
int wl_replicas_at_goal(const char *cluster_file, const char *root, uint32_t timeout_ms, char *why,
                        size_t why_len);

#endif
