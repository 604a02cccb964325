/*
 * scrub.c: the scrubber of a chunk server. On a timer, one step of
 * chunk_scrub_step() verifies the next scrub_rate x scrub_ms bytes of
 * committed versions on the thread pool (one step at a time); bad blocks it
 * finds become bad versions reported to the leader, which replaces them.
 */
#include <stdlib.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "chunkd/chunkd_int.h"

struct scrub_job {
    struct job job;
    struct chunkd *cd;
    uint64_t budget;
    struct chunk_scrub_stats st;
    struct bad_rec *found; /* filled on the pool thread, read after */
    uint32_t n_found;
    uint32_t *blocks;
};

#define SCRUB_FOUND_MAX 256u

/* On the pool thread: collect, the loop reports them after. */
static void bad_cb(void *ctx, uint64_t id, uint64_t version, uint32_t block, int err)
{
    struct scrub_job *s = ctx;
    for (uint32_t i = 0; i < s->n_found; i++)
        if (s->found[i].chunk == id && s->found[i].version == version)
            return;
    if (s->n_found < SCRUB_FOUND_MAX) {
        s->blocks[s->n_found] = block;
        s->found[s->n_found++] = (struct bad_rec){id, version, err};
    }
}

static void scrub_work(struct job *j)
{
    struct scrub_job *s = j->arg;
    j->rc = chunk_scrub_step(s->cd->store, s->budget, bad_cb, s, &s->st);
}

static void scrub_after(struct job *j)
{
    struct scrub_job *s = j->arg;
    struct chunkd *cd = s->cd;
    cd->scrubbing = 0;
    cd->counters.scrub_bytes += s->st.bytes_read;
    cd->counters.scrub_passes += s->st.passes_done;
    for (uint32_t i = 0; i < s->n_found; i++)
        chunkd_note_bad(cd, s->found[i].chunk, s->found[i].version, s->blocks[i], s->found[i].err);
    chunkd_info_publish(cd);
    free(s->found);
    free(s->blocks);
    free(s);
}

void scrub_tick(struct chunkd *cd)
{
    if (cd->scrubbing || cd->stopping || cd->cfg.scrub_rate == 0)
        return;
    struct scrub_job *s = calloc(1, sizeof *s);
    if (!s)
        return;
    s->found = malloc(SCRUB_FOUND_MAX * sizeof *s->found);
    s->blocks = malloc(SCRUB_FOUND_MAX * sizeof *s->blocks);
    if (!s->found || !s->blocks) {
        free(s->found);
        free(s->blocks);
        free(s);
        return;
    }
    s->cd = cd;
    s->budget = CAIRN_MAX(cd->cfg.scrub_rate * cd->cfg.scrub_ms / 1000u, (uint64_t)1);
    s->job = (struct job){.work = scrub_work, .after = scrub_after, .arg = s};
    cd->scrubbing = 1;
    job_start(cd, &s->job);
}
