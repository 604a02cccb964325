/*
 * queue.c: order and concurrency of the chunk server's file work.
 *
 * Per chunk, ops (write pieces, the leader's commands) run one at a time in
 * arrival order: a flush must follow the writes sent before it, a commit
 * the writes of its version, a delete what came before it. Different chunks
 * proceed in parallel. File I/O runs on libuv's thread pool, at most
 * io_threads jobs at once (more wait in a FIFO), so one busy client cannot
 * occupy every pool thread of a process that runs several daemons.
 */
#include <stdlib.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "chunkd/chunkd_int.h"

struct chunk_q {
    struct op *head, *tail;
};

void cq_push(struct chunkd *cd, struct op *op)
{
    op->next = NULL;
    op->cd = cd;
    struct chunk_q *q = hmap_get(&cd->queues, op->chunk);
    if (q) {
        q->tail->next = op;
        q->tail = op;
        return;
    }
    q = calloc(1, sizeof *q);
    CAIRN_ASSERTF(q && hmap_put(&cd->queues, op->chunk, q) == 0, "chunkd: out of memory");
    q->head = q->tail = op;
    op->start(op);
}

void cq_done(struct chunkd *cd, struct op *op)
{
    struct chunk_q *q = hmap_get(&cd->queues, op->chunk);
    CAIRN_ASSERT(q && q->head == op);
    q->head = op->next;
    if (!q->head) {
        hmap_del(&cd->queues, op->chunk);
        free(q);
        return;
    }
    q->head->start(q->head);
}

static void job_work_cb(uv_work_t *w)
{
    struct job *j = (struct job *)w;
    j->work(j);
}

static void job_run(struct chunkd *cd, struct job *j);

static void job_after_cb(uv_work_t *w, int status)
{
    struct job *j = (struct job *)w;
    struct chunkd *cd = w->loop->data;
    CAIRN_ASSERT(status == 0 && cd->jobs_running > 0);
    cd->jobs_running--;
    if (cd->jobs_wait_head < cd->jobs_wait_n) {
        struct job *next = cd->jobs_wait[cd->jobs_wait_head++];
        if (cd->jobs_wait_head == cd->jobs_wait_n)
            cd->jobs_wait_head = cd->jobs_wait_n = 0;
        job_run(cd, next);
    }
    j->after(j);
}

static void job_run(struct chunkd *cd, struct job *j)
{
    cd->jobs_running++;
    int rc = uv_queue_work(&cd->loop, &j->w, job_work_cb, job_after_cb);
    CAIRN_ASSERTF(rc == 0, "chunkd: uv_queue_work: %s", uv_strerror(rc));
}

void job_start(struct chunkd *cd, struct job *j)
{
    CAIRN_ASSERT(j->work && j->after);
    if (cd->jobs_running < cd->cfg.io_threads) {
        job_run(cd, j);
        return;
    }
    if (cd->jobs_wait_n == cd->jobs_wait_cap) {
        size_t cap = cd->jobs_wait_cap ? cd->jobs_wait_cap * 2 : 64;
        struct job **v = realloc(cd->jobs_wait, cap * sizeof *v);
        CAIRN_ASSERTF(v, "chunkd: out of memory");
        cd->jobs_wait = v;
        cd->jobs_wait_cap = cap;
    }
    cd->jobs_wait[cd->jobs_wait_n++] = j;
}
