/* file.c: the data client and file handles of file.h: creation, the
 * blocking calls, and what they check before handing work to data_write.c
 * and data_read.c. */
#include "client/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn_errors.h"
#include "client/data_int.h"
#include "common/assert.h"

static void dc_on_timer_closed(uv_handle_t *h) { free(h); }

/* Validate a configuration and copy it with its defaults filled in. */
static int dc_config(struct dataclient *dc, const struct dataclient_cfg *cfg)
{
    if (!cfg->mc || !cfg->secret || cfg->window > CAIRN_DATACLIENT_WINDOW_MAX ||
        cfg->attempts > CAIRN_DATACLIENT_ATTEMPTS_MAX)
        return CAIRN_EINVAL;
    dc->mc = cfg->mc;
    dc->loop = metaclient_loop(cfg->mc);
    dc->secret = *cfg->secret;
    snprintf(dc->name, sizeof dc->name, "%s", cfg->name ? cfg->name : "cairn-data");
    dc->uid = cfg->uid;
    dc->gid = cfg->gid;
    dc->io_ms = cfg->io_timeout_ms ? cfg->io_timeout_ms : DATACLIENT_IO_MS_DEFAULT;
    dc->deadline_ms =
        cfg->write_deadline_ms ? cfg->write_deadline_ms : DATACLIENT_DEADLINE_MS_DEFAULT;
    dc->window = cfg->window ? cfg->window : DATACLIENT_WINDOW_DEFAULT;
    dc->attempts = cfg->attempts ? cfg->attempts : DATACLIENT_ATTEMPTS_DEFAULT;
    uint64_t seed = cfg->seed;
    if (!seed && rpc_random(&seed, sizeof seed) != 0)
        seed = (uint64_t)(uintptr_t)dc;
    prng_seed(&dc->rng, seed);
    return 0;
}

int dataclient_new(const struct dataclient_cfg *cfg, struct dataclient **out)
{
    struct dataclient *dc = calloc(1, sizeof *dc);
    if (!dc)
        return CAIRN_ENOMEM;
    int rc = dc_config(dc, cfg);
    if (rc) {
        free(dc);
        return rc;
    }
    dc->timer = malloc(sizeof *dc->timer);
    if (!dc->timer) {
        free(dc);
        return CAIRN_ENOMEM;
    }
    CAIRN_ASSERT(uv_timer_init(dc->loop, dc->timer) == 0);
    hmap_init(&dc->nodes);
    buf_init(&dc->cmd, 0);
    buf_init(&dc->reply, 0);
    buf_init(&dc->payload, 0);
    *out = dc;
    return 0;
}

void dataclient_close(struct dataclient *dc)
{
    if (!dc)
        return;
    CAIRN_ASSERTF(dc->n_files == 0, "dataclient_close with %u files open", dc->n_files);
    CAIRN_ASSERT(dc->calls_out == 0);
    dc_nodes_free(dc);
    uv_close((uv_handle_t *)dc->timer, dc_on_timer_closed);
    buf_free(&dc->cmd);
    buf_free(&dc->reply);
    buf_free(&dc->payload);
    rpc_secret_wipe(&dc->secret);
    free(dc);
}

void dataclient_get_stats(const struct dataclient *dc, struct dataclient_stats *out)
{
    *out = dc->st;
}

int datafile_open(struct dataclient *dc, uint64_t ino, unsigned flags, struct datafile **out)
{
    if (!flags || (flags & ~(DATAFILE_READ | DATAFILE_WRITE)))
        return CAIRN_EINVAL;
    struct datafile *f = calloc(1, sizeof *f);
    if (!f)
        return CAIRN_ENOMEM;
    f->dc = dc;
    f->ino = ino;
    f->flags = flags;
    int rc = dc_getattr(dc, ino, &f->attr);
    if (rc == 0 && !S_ISREG(f->attr.mode))
        rc = S_ISDIR(f->attr.mode) ? CAIRN_EISDIR : CAIRN_EINVAL;
    if (rc) {
        free(f);
        return rc;
    }
    dc->n_files++;
    *out = f;
    return 0;
}

int datafile_open_attr(struct dataclient *dc, const struct meta_attr *a, unsigned flags,
                       struct datafile **out)
{
    if (!flags || (flags & ~(DATAFILE_READ | DATAFILE_WRITE)))
        return CAIRN_EINVAL;
    if (!S_ISREG(a->mode))
        return S_ISDIR(a->mode) ? CAIRN_EISDIR : CAIRN_EINVAL;
    struct datafile *f = calloc(1, sizeof *f);
    if (!f)
        return CAIRN_ENOMEM;
    f->dc = dc;
    f->ino = a->ino;
    f->flags = flags;
    f->attr = *a;
    dc->n_files++;
    *out = f;
    return 0;
}

uint64_t datafile_size(const struct datafile *f) { return CAIRN_MAX(f->attr.size, dw_end(f)); }

void datafile_attr(const struct datafile *f, struct meta_attr *out) { *out = f->attr; }

int64_t datafile_pread(struct datafile *f, void *buf, size_t n, uint64_t off)
{
    if (!(f->flags & DATAFILE_READ))
        return CAIRN_EBADF;
    if (f->err)
        return f->err;
    /* A handle reads its own writes: they must be committed first. */
    if (f->n_w) {
        int rc = dw_commit_all(f);
        if (rc)
            return rc;
    }
    uint64_t size = datafile_size(f);
    if (off >= size || n == 0)
        return 0;
    n = (size_t)CAIRN_MIN((uint64_t)n, size - off);
    n = CAIRN_MIN(n, (size_t)INT64_MAX);
    size_t got;
    int rc = dr_read(f, buf, n, off, &got);
    if (rc)
        return rc;
    f->dc->st.bytes_read += got;
    return (int64_t)got;
}

int64_t datafile_pwrite(struct datafile *f, const void *buf, size_t n, uint64_t off)
{
    if (!(f->flags & DATAFILE_WRITE))
        return CAIRN_EBADF;
    if (f->err)
        return f->err;
    if (n == 0)
        return 0;
    if (off > CAIRN_FILE_SIZE_MAX || n > CAIRN_FILE_SIZE_MAX - off)
        return CAIRN_EFBIG;
    const uint8_t *p = buf;
    for (size_t done = 0; done < n;) {
        uint64_t at = off + done;
        size_t room = CAIRN_CHUNK_SIZE - (size_t)(at % CAIRN_CHUNK_SIZE);
        uint32_t len = (uint32_t)CAIRN_MIN(n - done, room);
        int rc = dw_write(f, p + done, len, at);
        if (rc == 0)
            rc = dw_pump_all(f);
        if (rc)
            return rc;
        done += len;
    }
    /* Back-pressure: return once every byte is on its way. */
    while (dw_pump_all(f) == 0 && dw_any_queued(f))
        dc_wait_once(f->dc);
    if (f->err)
        return f->err;
    f->dc->st.bytes_written += n;
    return (int64_t)n;
}

int datafile_set_fence(struct datafile *f, uint64_t token)
{
    if (token == 0)
        return CAIRN_EINVAL;
    f->fence = token;
    return 0;
}

int datafile_error(const struct datafile *f) { return f->err; }

int datafile_fsync(struct datafile *f)
{
    if (f->err)
        return f->err;
    return f->n_w ? dw_commit_all(f) : 0;
}

int datafile_close(struct datafile *f)
{
    int rc = f->n_w ? dw_commit_all(f) : 0;
    dw_drain(f);
    if (!rc)
        rc = f->err;
    f->dc->n_files--;
    free(f->locs);
    free(f);
    return rc;
}
