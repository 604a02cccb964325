/* writer.c: the group-commit writer thread (see writer.h for the contract). */
#include "raftio/writer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/limits.h"

/* A queued copy of one batch. Entries' data live in one block (data). */
struct wq_item {
    uint64_t seq;
    struct raft_snapshot *install;
    struct raft_entry *entries;
    size_t n_entries;
    uint8_t *data;
    size_t bytes;
    int has_hs;
    struct raft_hard_state hs;
    struct raft_snapshot *taken;
    struct wq_item *next;
};

struct raftio_writer {
    struct raftio *io;
    raftio_durable_fn fn;
    void *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* the queue got a batch, or stop began */
    pthread_cond_t done; /* a round ended */
    struct wq_item *head;
    struct wq_item *tail;
    size_t queued_bytes;
    uint64_t next_seq;
    uint64_t durable_seq;
    uint64_t durable_index;
    int err;
    int stopping;
    int has_last_hs; /* newest hard state seen, written at stop */
    struct raft_hard_state last_hs;
    struct raftio_writer_stats stats;
};

static struct raft_snapshot *snap_copy(const struct raft_snapshot *s)
{
    struct raft_snapshot *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *s;
    c->data = malloc(s->len ? s->len : 1);
    if (!c->data) {
        free(c);
        return NULL;
    }
    if (s->len)
        memcpy(c->data, s->data, s->len);
    return c;
}

static void snap_free(struct raft_snapshot *s)
{
    if (s)
        free(s->data);
    free(s);
}

static void item_free(struct wq_item *it)
{
    snap_free(it->install);
    snap_free(it->taken);
    free(it->entries);
    free(it->data);
    free(it);
}

/* Copies entries and their data into two blocks owned by the item. */
static int item_copy_entries(struct wq_item *it, const struct raft_entry *e, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += e[i].len;
    it->entries = malloc(n * sizeof *it->entries);
    it->data = malloc(bytes ? bytes : 1);
    if (!it->entries || !it->data)
        return CAIRN_ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        it->entries[i] = e[i];
        it->entries[i].data = e[i].len ? it->data + off : NULL;
        if (e[i].len)
            memcpy(it->data + off, e[i].data, e[i].len);
        off += e[i].len;
    }
    it->n_entries = n;
    it->bytes = bytes + n * sizeof *e;
    return 0;
}

static struct wq_item *item_new(const struct raftio_batch *b)
{
    struct wq_item *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    int ok = 1;
    if (b->n_entries)
        ok = item_copy_entries(it, b->entries, b->n_entries) == 0;
    if (ok && b->install)
        ok = (it->install = snap_copy(b->install)) != NULL;
    if (ok && b->taken)
        ok = (it->taken = snap_copy(b->taken)) != NULL;
    if (b->hard_state) {
        it->has_hs = 1;
        it->hs = *b->hard_state;
    }
    if (!ok) {
        item_free(it);
        return NULL;
    }
    return it;
}

/* Step 1 of a round: a new term or vote is durable before anything of the
 * round is written (an entry of a term never precedes that term on disk). */
static int round_hard_state(struct raftio_writer *wr, struct wq_item *list)
{
    const struct raft_hard_state *hs = NULL;
    for (struct wq_item *it = list; it; it = it->next)
        if (it->has_hs)
            hs = &it->hs;
    if (!hs)
        return 0;
    wr->has_last_hs = 1;
    wr->last_hs = *hs;
    struct raft_hard_state disk;
    raftio_hard_state(wr->io, &disk);
    if (hs->term == disk.term && hs->vote == disk.vote)
        return 0;
    return raftio_save_hard_state(wr->io, hs);
}

/* One round over the batches taken from the queue (writer.h, steps 1-3). */
static int writer_round(struct raftio_writer *wr, struct wq_item *list)
{
    int rc = round_hard_state(wr, list);
    for (struct wq_item *it = list; it && rc == 0; it = it->next) {
        if (it->install)
            rc = raftio_snapshot_install(wr->io, it->install);
        if (rc == 0 && it->n_entries)
            rc = raftio_append(wr->io, it->entries, it->n_entries);
        if (rc == 0 && it->taken)
            rc = raftio_snapshot_save(wr->io, it->taken);
    }
    return rc ? rc : raftio_sync(wr->io);
}

static void *writer_main(void *arg)
{
    struct raftio_writer *wr = arg;
    pthread_mutex_lock(&wr->mu);
    for (;;) {
        while (!wr->head && !wr->stopping)
            pthread_cond_wait(&wr->work, &wr->mu);
        if (!wr->head)
            break;
        struct wq_item *list = wr->head;
        wr->head = wr->tail = NULL;
        wr->queued_bytes = 0;
        int err = wr->err;
        pthread_mutex_unlock(&wr->mu);
        uint64_t last_seq = 0, n = 0;
        for (struct wq_item *it = list; it; it = it->next, n++)
            last_seq = it->seq;
        int rc = err ? err : writer_round(wr, list);
        uint64_t durable = raftio_durable_index(wr->io);
        pthread_mutex_lock(&wr->mu);
        if (rc && !wr->err)
            wr->err = rc;
        if (rc == 0) {
            wr->durable_seq = last_seq;
            wr->durable_index = durable;
            wr->stats.batches += n;
            wr->stats.rounds++;
        }
        pthread_cond_broadcast(&wr->done);
        pthread_mutex_unlock(&wr->mu);
        if (wr->fn)
            wr->fn(wr->ctx, last_seq, durable, rc);
        while (list) {
            struct wq_item *next = list->next;
            item_free(list);
            list = next;
        }
        pthread_mutex_lock(&wr->mu);
    }
    pthread_mutex_unlock(&wr->mu);
    return NULL;
}

int raftio_writer_start(struct raftio *io, raftio_durable_fn fn, void *ctx,
                        struct raftio_writer **out)
{
    struct raftio_writer *wr = calloc(1, sizeof *wr);
    if (!wr)
        return CAIRN_ENOMEM;
    wr->io = io;
    wr->fn = fn;
    wr->ctx = ctx;
    wr->next_seq = 1;
    wr->durable_index = raftio_durable_index(io);
    pthread_mutex_init(&wr->mu, NULL);
    pthread_cond_init(&wr->work, NULL);
    pthread_cond_init(&wr->done, NULL);
    if (pthread_create(&wr->thread, NULL, writer_main, wr) != 0) {
        pthread_cond_destroy(&wr->done);
        pthread_cond_destroy(&wr->work);
        pthread_mutex_destroy(&wr->mu);
        free(wr);
        return CAIRN_EAGAIN;
    }
    *out = wr;
    return 0;
}

int raftio_writer_submit(struct raftio_writer *wr, const struct raftio_batch *b, uint64_t *seq)
{
    struct wq_item *it = item_new(b);
    if (!it)
        return CAIRN_ENOMEM;
    pthread_mutex_lock(&wr->mu);
    int rc = wr->err ? wr->err : wr->stopping ? CAIRN_SHUTDOWN : 0;
    if (rc == 0 && wr->head && wr->queued_bytes + it->bytes > CAIRN_RAFTIO_QUEUE_BYTES_MAX)
        rc = CAIRN_LIMIT;
    if (rc == 0) {
        it->seq = wr->next_seq++;
        *seq = it->seq;
        if (wr->tail)
            wr->tail->next = it;
        else
            wr->head = it;
        wr->tail = it;
        wr->queued_bytes += it->bytes;
        pthread_cond_signal(&wr->work);
    }
    pthread_mutex_unlock(&wr->mu);
    if (rc)
        item_free(it);
    return rc;
}

uint64_t raftio_writer_durable_seq(struct raftio_writer *wr)
{
    pthread_mutex_lock(&wr->mu);
    uint64_t v = wr->durable_seq;
    pthread_mutex_unlock(&wr->mu);
    return v;
}

uint64_t raftio_writer_durable_index(struct raftio_writer *wr)
{
    pthread_mutex_lock(&wr->mu);
    uint64_t v = wr->durable_index;
    pthread_mutex_unlock(&wr->mu);
    return v;
}

int raftio_writer_error(struct raftio_writer *wr)
{
    pthread_mutex_lock(&wr->mu);
    int v = wr->err;
    pthread_mutex_unlock(&wr->mu);
    return v;
}

int raftio_writer_wait(struct raftio_writer *wr, uint64_t seq)
{
    pthread_mutex_lock(&wr->mu);
    CAIRN_ASSERT(seq < wr->next_seq);
    while (wr->durable_seq < seq && !wr->err)
        pthread_cond_wait(&wr->done, &wr->mu);
    int rc = wr->durable_seq >= seq ? 0 : wr->err;
    pthread_mutex_unlock(&wr->mu);
    return rc;
}

void raftio_writer_get_stats(struct raftio_writer *wr, struct raftio_writer_stats *st)
{
    pthread_mutex_lock(&wr->mu);
    *st = wr->stats;
    pthread_mutex_unlock(&wr->mu);
}

int raftio_writer_stop(struct raftio_writer *wr)
{
    pthread_mutex_lock(&wr->mu);
    wr->stopping = 1;
    pthread_cond_signal(&wr->work);
    pthread_mutex_unlock(&wr->mu);
    pthread_join(wr->thread, NULL);
    int rc = wr->err;
    /* The thread is gone: the last commit index is worth keeping. */
    struct raft_hard_state disk;
    raftio_hard_state(wr->io, &disk);
    const struct raft_hard_state *last = &wr->last_hs;
    int changed = disk.term != last->term || disk.vote != last->vote || disk.commit != last->commit;
    if (rc == 0 && wr->has_last_hs && changed)
        rc = raftio_save_hard_state(wr->io, &wr->last_hs);
    pthread_cond_destroy(&wr->done);
    pthread_cond_destroy(&wr->work);
    pthread_mutex_destroy(&wr->mu);
    free(wr);
    return rc;
}
