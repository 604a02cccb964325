/*
 * locks.h: the daemon's part of the lock service (docs/locks.md, "The
 * daemon"): the clock the leader stamps into every command, chosen so that
 * client sessions (and the locks they hold) survive a leader change.
 *
 * The rule. The state machine only knows the time the leaders stamp into
 * commands (meta_apply never reads a clock). While no leader serves, no
 * client can renew its session, so that time must not count against the
 * lease. On becoming leader a node therefore resumes the state machine's
 * clock where it stood (the newest stamp it has applied) instead of jumping
 * to its own wall clock: the leaderless gap is taken out. It then runs 1/64
 * faster than the wall clock until it has caught up again (a lease shrinks
 * by at most 1.6% meanwhile; clients renew at a third of it). A gap longer
 * than CAIRN_METAD_CLOCK_PAUSE_MAX_MS (a cluster that was down) is not
 * taken out: wall time is used, and sessions older than that expire.
 *
 * Grants to queued waiters. The leader holds back the QUEUED reply of a
 * LOCK_ACQUIRE (parks the request) and answers it GRANTED (token, wait_id)
 * when an applied entry grants that wait (meta_lock_grants). A request
 * parked for METAD_LOCK_PARK_MS (250 ms: while parked the client's session
 * gets no keep-alive)
 * or when leadership is lost is answered with its QUEUED reply: the client
 * then polls (client/lockclient.h), which also covers leader changes. The
 * reply is only held back, never changed: the state machine's (cached) reply
 * stays QUEUED, as a retry would see it.
 *
 * Memory: parked requests are owned here (d->lockwaits) until answered.
 * Threads: the daemon's loop thread only. No errors.
 */
#ifndef CAIRN_METAD_LOCKS_H
#define CAIRN_METAD_LOCKS_H

#include <stdint.h>

#include "common/buf.h"
#include "raft/raft.h"

struct metad;

/* The pure rule, for unit tests: the stamp for wall time `wall` when this
 * node became leader at `base_wall` and the state machine's clock then
 * stood at `base_meta` (0: never stamped). */
uint64_t metad_clock_stamp(uint64_t base_wall, uint64_t base_meta, uint64_t wall);

/* Called when this node becomes leader: remember where the clock resumes. */
void metad_clock_became_leader(struct metad *d);

/* The time to stamp into a command proposed now (nanoseconds). */
uint64_t metad_now_ns(const struct metad *d);

/* Entry e was just applied with `reply`: if it is a QUEUED LOCK_ACQUIRE
 * with a waiting client request, take that request (1), else 0. */
int metad_locks_park(struct metad *d, const struct raft_entry *e, const struct cairn_buf *reply);
/* After each applied entry: answer the parked acquires it granted. */
void metad_locks_applied(struct metad *d);
/* Answer (QUEUED) requests parked too long; cheap, called every loop turn. */
void metad_locks_sweep(struct metad *d);
/* Answer every parked request (QUEUED) and free the table: leadership
 * lost, or shutdown. */
void metad_locks_fail(struct metad *d);

#endif
