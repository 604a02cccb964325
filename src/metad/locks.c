/* locks.c: the leader's command clock and the parking of queued lock
 * acquires until their grant (rules in locks.h). */
#include "metad/locks.h"

#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/time.h"
#include "meta/cmd.h"
#include "metad/node_int.h"
#include "wire/codec.h"

/* A LOCK_ACQUIRE reply: i32 status, u8 state, u64 token, u64 wait_id. */
#define METAD_LOCK_REPLY_LEN 21u
/* How long a queued acquire's reply is held back for its grant. Short: while
 * its reply is out, the client's session carries a mutation and gets no
 * keep-alive (client/metaclient.h), so parking eats into the lease (a 2 s
 * lease is renewed after 667 ms; parking 1 s made sessions expire across a
 * leader change). A longer wait falls back to the client's polling. */
#define METAD_LOCK_PARK_MS 250u

/* Without a usable base (first start, a stamp from the future, or a gap
 * longer than the pause limit) the stamp is plain wall time. Else it is the
 * base plus the wall time since, plus 1/64 of it until the lag is gone:
 * monotonic in `wall`, and never ahead of it. */
uint64_t metad_clock_stamp(uint64_t base_wall, uint64_t base_meta, uint64_t wall)
{
    const uint64_t pause_max_ns = (uint64_t)CAIRN_METAD_CLOCK_PAUSE_MAX_MS * 1000000u;
    if (base_meta == 0 || base_meta >= base_wall || base_wall - base_meta > pause_max_ns ||
        wall < base_wall)
        return wall;
    uint64_t lag = base_wall - base_meta;
    uint64_t since = wall - base_wall;
    uint64_t catch_up = since / 64u;
    return catch_up >= lag ? wall : wall - (lag - catch_up);
}

void metad_clock_became_leader(struct metad *d)
{
    d->clock_base_wall_ns = time_wall_ns();
    d->clock_base_meta_ns = meta_now_ns(d->meta);
}

uint64_t metad_now_ns(const struct metad *d)
{
    return metad_clock_stamp(d->clock_base_wall_ns, d->clock_base_meta_ns, time_wall_ns());
}

/* --- queued acquires answered at their grant --------------------------------- */

/* An acquire answered QUEUED whose client is still waiting for the reply. */
struct lockwait {
    struct lockwait *next; /* FIFO by park time */
    struct pending *p;
    uint64_t wait_id;
    uint64_t parked_ms;
    uint8_t queued[METAD_LOCK_REPLY_LEN]; /* the state machine's QUEUED reply */
};

struct metad_lockwaits {
    struct hmap by_id; /* wait_id -> struct lockwait */
    struct lockwait *head, *tail;
};

static struct metad_lockwaits *lockwaits(struct metad *d)
{
    if (!d->lockwaits && (d->lockwaits = calloc(1, sizeof *d->lockwaits)) != NULL)
        hmap_init(&d->lockwaits->by_id);
    return d->lockwaits;
}

/* Answer a parked acquire (reply: a LOCK_ACQUIRE reply, status first) and
 * forget it; unlinking from the FIFO is the caller's. */
static void lockwait_answer(struct metad *d, struct lockwait *w, const uint8_t *reply)
{
    hmap_del(&d->lockwaits->by_id, w->wait_id);
    metad_pending_answer(d, w->p, w->wait_id, reply, METAD_LOCK_REPLY_LEN);
    w->p = NULL; /* left in the FIFO until swept (cheap: one pointer check) */
}

int metad_locks_park(struct metad *d, const struct raft_entry *e, const struct cairn_buf *reply)
{
    if (e->len < 3 || e->data[0] != METAD_TAG_CMD ||
        wire_load_u16(e->data + 1) != META_LOCK_ACQUIRE || reply->len != METAD_LOCK_REPLY_LEN ||
        wire_load_u32(reply->data) != 0 || reply->data[4] != META_LOCK_QUEUED)
        return 0;
    struct pending *p = hmap_get(&d->cmds, e->index);
    struct metad_lockwaits *ws = lockwaits(d);
    uint64_t wait_id = wire_load_u64(reply->data + 13);
    if (!p || p->term != e->term || p->kind != PEND_CMD || !ws || hmap_get(&ws->by_id, wait_id))
        return 0;
    struct lockwait *w = calloc(1, sizeof *w);
    if (!w || hmap_put(&ws->by_id, wait_id, w)) {
        free(w);
        return 0;
    }
    hmap_del(&d->cmds, e->index);
    *w = (struct lockwait){NULL, p, wait_id, time_mono_ms(), {0}};
    memcpy(w->queued, reply->data, METAD_LOCK_REPLY_LEN);
    if (ws->tail)
        ws->tail->next = w;
    else
        ws->head = w;
    ws->tail = w;
    return 1;
}

void metad_locks_applied(struct metad *d)
{
    const struct meta_lock_grant *g;
    size_t n = meta_lock_grants(d->meta, &g);
    if (!n || !d->lockwaits)
        return;
    for (size_t i = 0; i < n; i++) {
        struct lockwait *w = hmap_get(&d->lockwaits->by_id, g[i].wait_id);
        if (!w)
            continue;
        uint8_t r[METAD_LOCK_REPLY_LEN];
        wire_store_u32(r, 0);
        r[4] = META_LOCK_GRANTED;
        wire_store_u64(r + 5, g[i].token);
        wire_store_u64(r + 13, g[i].wait_id);
        lockwait_answer(d, w, r);
    }
}

/* Drop answered entries from the FIFO head; answer QUEUED (the client then
 * polls) those parked for METAD_LOCK_PARK_MS, or all when `all`. */
static void lockwaits_sweep(struct metad *d, int all)
{
    struct metad_lockwaits *ws = d->lockwaits;
    if (!ws)
        return;
    uint64_t now = time_mono_ms();
    while (ws->head && (!ws->head->p || all || now - ws->head->parked_ms >= METAD_LOCK_PARK_MS)) {
        struct lockwait *w = ws->head;
        if (w->p)
            lockwait_answer(d, w, w->queued);
        ws->head = w->next;
        if (!ws->head)
            ws->tail = NULL;
        free(w);
    }
}

void metad_locks_sweep(struct metad *d) { lockwaits_sweep(d, 0); }

void metad_locks_fail(struct metad *d)
{
    lockwaits_sweep(d, 1);
    if (d->lockwaits) {
        hmap_free(&d->lockwaits->by_id);
        free(d->lockwaits);
        d->lockwaits = NULL;
    }
}
