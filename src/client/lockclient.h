/*
 * lockclient.h: the inside of libcairn's lock client (include/cairn_lock.h).
 *
 * A struct cairn_locks owns a thread that runs a libuv loop with a
 * metaclient (one session) on it: the metaclient's keep-alive timers turn
 * with no help from the caller, so a held lock outlives idle periods. API
 * calls run on the caller's thread and hand commands to the loop thread
 * (lockclient_call: a queue under a mutex, a uv_async wake-up, a condition
 * variable for the answer).
 *
 * A queued acquire's reply is usually held back by the leader until the
 * grant (src/metad/locks.h); if it comes back QUEUED the grant is learned by
 * polling LOCK_LIST for the lock's name: the holder is found by the handle's owner id (64 random
 * bits), so the client needs no session id and a leader change costs one retried poll.
 *
 * Memory: the reply buffer passed to lockclient_call is the caller's.
 * Threads: lockclient_call from any thread but the loop's. Errors: negative
 * cairn_err codes.
 */
#ifndef CAIRN_CLIENT_LOCKCLIENT_H
#define CAIRN_CLIENT_LOCKCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "cairn_lock.h"
#include "common/buf.h"

/* What one named lock's LOCK_LIST entry says about owner `owner`. */
struct lockclient_seen {
    int found;        /* the lock object exists */
    int held;         /* owner holds it */
    int waiting;      /* owner waits for it */
    uint64_t token;   /* held: the fencing token */
    uint64_t session; /* held or waiting: the owner's session */
    struct cairn_lock_info info;
};

/* Decode a LOCK_LIST reply (status first) and look for `name` and `owner`
 * in its first lock. 0 or a decoder error (CAIRN_TRUNCATED, CAIRN_BADMSG). */
int lockclient_seen_parse(const uint8_t *reply, size_t len, const char *name, uint64_t owner,
                          struct lockclient_seen *out);

/* Run one command on the handle's loop thread and wait for it; mutation:
 * a SESSION-class command. The reply (status first) is appended to `reply`.
 * Returns the completion's status. */
int lockclient_call(struct cairn_locks *l, int mutation, const uint8_t *cmd, size_t len,
                    struct cairn_buf *reply);

#endif
