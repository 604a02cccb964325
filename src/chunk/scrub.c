/* scrub.c: the background scrubber. It walks the committed versions in id
 * order, a byte budget per call, and verifies every entry of every CRC table
 * (holes past the end of the file included, which cost no I/O), so bit rot is
 * found on chunks nobody reads. */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "chunk/internal.h"
#include "common/assert.h"
#include "common/log.h"

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A pass covers the chunks committed now; ones committed later wait for the
 * next pass, so a pass always ends. */
static int scrub_new_pass(struct chunk_store *s)
{
    struct chunk_scrub *sc = &s->scrub;
    free(sc->ids);
    *sc = (struct chunk_scrub){0};
    pthread_mutex_lock(&s->mu);
    size_t cap = (size_t)s->usage.chunks;
    uint64_t *ids = cap ? malloc(cap * sizeof *ids) : NULL;
    size_t n = 0;
    uint64_t id;
    void *val;
    for (size_t it = 0; ids && hmap_next(&s->index, &it, &id, &val);)
        if (((struct chunk_entry *)val)->committed.version != 0)
            ids[n++] = id;
    pthread_mutex_unlock(&s->mu);
    if (cap && !ids)
        return CAIRN_ENOMEM;
    CAIRN_ASSERT(n == cap);
    if (n > 1)
        qsort(ids, n, sizeof *ids, u64_cmp);
    sc->ids = ids;
    sc->n = n;
    return 0;
}

struct scrub_ctx {
    struct chunk_store *s;
    uint64_t budget;
    chunk_bad_block_fn fn;
    void *ctx;
    struct chunk_scrub_stats *st;
    uint8_t *buf;
    int progress; /* a data block was read or a chunk finished in this step */
};

static void report(struct scrub_ctx *c, uint64_t id, uint64_t version, uint32_t block, int err)
{
    LOG_ERROR(CHUNK_LOG, "scrub: chunk %016llx v%llu block %ld: %s", (unsigned long long)id,
              (unsigned long long)version, block == CHUNK_BLOCK_HEADER ? -1L : (long)block,
              cairn_err_name(err));
    c->st->bad_blocks++;
    if (c->fn)
        c->fn(c->ctx, id, version, block, err);
}

/* Verifies blocks of an open version from s->scrub.block on; returns 1 when the
 * version is done, 0 when the budget ran out first (s->scrub.block says where
 * to resume). */
static int scrub_blocks(struct scrub_ctx *c, int fd, uint64_t id, uint64_t version)
{
    struct chunk_scrub *sc = &c->s->scrub;
    uint32_t crcs[CHUNK_BLOCKS];
    uint64_t size = 0;
    int rc = rio_fsize(c->s->fs, fd, &size);
    if (rc == 0)
        rc = chunk_file_read_table(c->s, fd, 0, CHUNK_BLOCKS, crcs);
    c->st->bytes_read += CHUNK_TABLE_SIZE;
    if (rc) {
        report(c, id, version, CHUNK_BLOCK_HEADER, rc);
        return 1;
    }
    for (uint32_t b = sc->block; b < CHUNK_BLOCKS; b++) {
        c->st->blocks_checked++;
        if (CHUNK_DATA_OFF + (uint64_t)b * CAIRN_BLOCK_SIZE >= size) {
            if (crcs[b] != chunk_crc_zero_block())
                report(c, id, version, b, CAIRN_CORRUPT);
            continue;
        }
        if (c->st->bytes_read >= c->budget && c->progress) {
            c->st->blocks_checked--;
            sc->block = b;
            return 0;
        }
        size_t got = 0;
        rc = chunk_file_read_block(c->s, fd, b, crcs[b], c->buf, &got);
        c->st->bytes_read += got;
        c->st->data_bytes += got;
        c->progress = 1;
        if (rc)
            report(c, id, version, b, rc);
    }
    return 1;
}

/* Scrubs the committed version of one chunk (from where the last step stopped
 * if it is still the same version); 1 when done with it, 0 when the budget ran
 * out. */
static int scrub_chunk(struct scrub_ctx *c, uint64_t id)
{
    struct chunk_scrub *sc = &c->s->scrub;
    uint64_t version = index_committed(c->s, id, NULL);
    if (version == 0)
        return 1;
    if (version != sc->version) {
        sc->version = version;
        sc->block = 0;
    }
    int fd;
    struct chunk_hdr h;
    int rc = chunk_file_open(c->s, id, version, CHUNK_NAME_COMMITTED, &fd, &h);
    if (rc == CAIRN_ENOENT)
        return 1; /* replaced or deleted since the index was read */
    if (rc) {
        report(c, id, version, CHUNK_BLOCK_HEADER, rc);
        return 1;
    }
    int done = scrub_blocks(c, fd, id, version);
    rio_close(c->s->fs, fd);
    if (done)
        c->st->chunks_done++;
    return done;
}

int chunk_scrub_step(struct chunk_store *s, uint64_t budget_bytes, chunk_bad_block_fn fn, void *ctx,
                     struct chunk_scrub_stats *st)
{
    struct chunk_scrub_stats local = {0};
    struct scrub_ctx c = {s, budget_bytes, fn, ctx, &local, malloc(CAIRN_BLOCK_SIZE), 0};
    if (!c.buf)
        return CAIRN_ENOMEM;
    pthread_mutex_lock(&s->scrub_mu);
    struct chunk_scrub *sc = &s->scrub;
    int rc = sc->pos < sc->n ? 0 : scrub_new_pass(s);
    while (rc == 0 && sc->pos < sc->n) {
        if (!scrub_chunk(&c, sc->ids[sc->pos]))
            break;
        sc->pos++;
        sc->version = 0;
        sc->block = 0;
        c.progress = 1;
        if (local.bytes_read >= budget_bytes)
            break;
    }
    if (rc == 0 && sc->pos >= sc->n)
        local.passes_done = 1;
    pthread_mutex_unlock(&s->scrub_mu);
    free(c.buf);
    if (st)
        *st = local;
    return rc;
}
