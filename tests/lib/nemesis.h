/*
 * nemesis.h: fault injection on a real cluster (issue #9), the way Jepsen
 * tests databases. nem_run starts metadata and chunk servers (the cluster
 * harness) behind the loopback proxy (netproxy.h), starts client workers
 * that record histories (workload.h), and for the fault phase injects
 * actions scheduled from a seed: SIGKILL + restart and SIGSTOP/SIGCONT of a
 * metadata or chunk server, partitions (majority/minority, isolated leader,
 * one-way, flapping), corrupted chunk files, a full chunk-server disk (a
 * tmpfs filled by a ballast file), a client killed mid-operation. Then it
 * heals everything, restarts what is down, waits for a leader and every
 * chunk server, and runs the checkers and the replica-count check.
 *
 * Every action goes with its time to <dir>/nemesis.log; server logs,
 * histories and worker logs stay under dir (the caller keeps it on failure).
 *
 * Memory: nem_run allocates and frees everything it uses; no pointer of cfg
 * is kept. Threads: one caller thread (the proxy has its own); workers and
 * the libcairn calls of setup and check run in forked children, so the
 * caller's process never holds a libcairn connection.
 *
 * Errors: nem_run returns 0 when the run completed (violations are counted
 * in the report, not returned), or a negative cairn_err code when the
 * cluster could not be started or the check could not run.
 */
#ifndef CAIRN_TESTS_NEMESIS_H
#define CAIRN_TESTS_NEMESIS_H

#include <stdint.h>
#include <stdio.h>

#include "workload.h"

enum nem_fault {
    NEM_KILL_META,
    NEM_KILL_CHUNK,
    NEM_PAUSE_META,
    NEM_PAUSE_CHUNK,
    NEM_PART_MAJORITY, /* servers split, the metadata majority on one side */
    NEM_PART_LEADER,   /* the metadata leader cut off from every server */
    NEM_PART_ONEWAY,   /* one direction between two servers dropped */
    NEM_PART_FLAP,     /* a majority split toggled every few hundred ms */
    NEM_CORRUPT,       /* a byte flipped in a committed chunk file */
    NEM_DISK_FULL,     /* the tmpfs of chunk server 1 filled */
    NEM_KILL_CLIENT,   /* a worker SIGKILLed, a new one started */
    NEM_FAULTS
};
#define NEM_ALL_FAULTS ((1u << NEM_FAULTS) - 1u)

#define NEM_WORKLOADS_MAX 4
#define NEM_WORKERS_MAX 256 /* workers over a run, including replaced ones */

struct nem_workload {
    enum wl_kind kind;
    uint32_t workers; /* at once */
    uint32_t keys;
};

struct nem_cfg {
    const char *dir; /* run directory (exists) */
    uint64_t seed;
    uint32_t n_meta;   /* 0 = 3 */
    uint32_t n_chunks; /* 0 = 3 */
    uint32_t goal;     /* replicas of every workload's files; 0 = 2 */
    uint32_t faults;   /* bit per enum nem_fault */
    uint32_t duration_ms;
    uint32_t n_workloads;
    struct nem_workload wl[NEM_WORKLOADS_MAX];
    int verbose; /* actions to stderr as well */
};

struct nem_report {
    uint64_t ops, ok, fail, unknown, violations;
    uint64_t faults[NEM_FAULTS];
    uint64_t crashes;      /* servers that exited on their own */
    uint64_t cut;          /* proxy connections closed at heals */
    uint64_t dropped;      /* bytes the proxy black-holed */
    int replicas_ok;       /* every file back at its goal */
    int converged;         /* the metadata replicas agree (digest) */
    int disk_full_skipped; /* no tmpfs (not root, or mount refused) */
    char first_violation[512];
};

const char *nem_fault_name(enum nem_fault f);
int nem_run(const struct nem_cfg *cfg, struct nem_report *out);
/* 1 when the run shows no problem: no violation, no crash, replicas at
 * goal, converged. */
int nem_report_clean(const struct nem_report *r);
/* One line of figures: "name seed=S ops=N ok=N ... violations=N". */
void nem_report_print(FILE *f, const char *name, uint64_t seed, const struct nem_report *r);

#endif
