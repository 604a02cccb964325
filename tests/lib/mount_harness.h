/*
 * mount_harness.h: real `cairn mount` processes over a test cluster, for
 * the FUSE tests (tests/fuse): start a mount on a directory and wait until
 * the kernel shows it, stop it cleanly (SIGTERM) or kill it, and run a
 * piece of a test as another user (permission tests).
 *
 * A mount is started as `cairn --cluster CONF mount -f [args...] DIR` (the
 * global --cluster form every cairn command accepts), its stdout and stderr
 * appended to a log file under the cluster's directory, through
 * cluster_proc_spawn() (so the cluster harness's fatal handlers SIGKILL it
 * too).
 *
 * Never a stale mount: a FUSE mount whose daemon died stays in the mount
 * table ("Transport endpoint is not connected") and breaks whatever walks
 * /tmp afterwards (rm -rf of a test directory included). So every mount is
 * unmounted (lazily, MNT_DETACH / `fusermount3 -u -z`) and its daemon
 * killed by pid
 *   - by mount_stop() / mount_kill(),
 *   - if the test process dies first: by an atexit handler and a handler of
 *     the fatal signals (SIGABRT of a failed CHECK included), chained to the
 *     cluster harness's handlers,
 *   - if the test process is SIGKILLed (the runner's timeout): by a small
 *     watchdog process in its own session, started with the first mount,
 *     which learns every mount through a pipe and acts when the pipe's
 *     write end closes (the test process is gone).
 *
 * Threads: single-threaded test code only. mount_as_user() forks: the
 * function runs in the child with the fatal handlers reset (a failed CHECK
 * there aborts only the child) and the child leaves with _exit(), never
 * running the parent's atexit handlers.
 *
 * Memory: struct mount_proc is owned by the caller (plain data).
 *
 * Errors: negative cairn_err codes: CAIRN_EIO (the mount process could not
 * start or died; its log tail has been printed to stderr), CAIRN_ETIMEDOUT
 * (the mount did not appear in time), errno-derived codes of mkdir and of
 * writing the cluster file.
 */
#ifndef CAIRN_TESTS_MOUNT_HARNESS_H
#define CAIRN_TESTS_MOUNT_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cluster_harness.h"

/* statfs(2) f_type of a FUSE file system (linux/magic.h FUSE_SUPER_MAGIC). */
#define MOUNT_FUSE_MAGIC 0x65735546

struct mount_proc {
    char dir[CLUSTER_PATH_MAX];  /* the mountpoint, absolute and canonical */
    char log[CLUSTER_PATH_MAX];  /* stdout + stderr of the mount process */
    char conf[CLUSTER_PATH_MAX]; /* the cluster file it was given */
    pid_t pid;                   /* 0 when not running */
};

/* Write a cluster file for c (meta = its addresses, secret =
 * c->secret_path) under c->dir, create dir, start `cairn mount` on it with
 * the extra args (NULL-terminated, may be NULL) and wait until dir is a FUSE
 * mount (statfs f_type MOUNT_FUSE_MAGIC) or the process died (CAIRN_EIO,
 * log tail printed) or timeout_ms passed (CAIRN_ETIMEDOUT, process killed
 * and unmounted). */
int mount_start(struct cluster *c, const char *dir, const char *const *args, uint32_t timeout_ms,
                struct mount_proc *m);
/* SIGTERM, wait up to 10 s for the exit and the unmount; then SIGKILL and a
 * lazy unmount. 0 if the process exited with status 0 and its mount was
 * gone; CAIRN_EIO otherwise (log tail printed). No-op (0) if not running. */
int mount_stop(struct mount_proc *m);
/* SIGKILL now, lazily unmount, reap. */
void mount_kill(struct mount_proc *m);
/* 1 if m->dir is in this process's mount table now. */
int mount_is_mounted(const struct mount_proc *m);
/* Print the last `bytes` of the mount's log to stderr. */
void mount_log_tail(const struct mount_proc *m, size_t bytes);

/* Run fn(arg) in a forked child as uid/gid with the supplementary groups
 * {gid} (setgroups, setgid, setuid). Returns fn's value (errno-style: 0 or a
 * positive errno, < 256), or -1 if the child died of a signal or could not
 * change its identity (the reason printed). */
int mount_as_user(uid_t uid, gid_t gid, int (*fn)(void *), void *arg);
/* The same with an explicit list of supplementary groups (n may be 0). */
int mount_as_user_groups(uid_t uid, gid_t gid, const gid_t *groups, size_t n, int (*fn)(void *),
                         void *arg);
/* The same in two steps, for a child that must run while the test goes on
 * (a lock waiter): start returns the child's pid (-1 if fork failed), wait
 * reaps it and returns what mount_as_user would. */
pid_t mount_as_user_start(uid_t uid, gid_t gid, const gid_t *groups, size_t n, int (*fn)(void *),
                          void *arg);
int mount_as_user_wait(pid_t pid);

#endif
