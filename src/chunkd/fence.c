/*
 * fence.c: the newest fencing token per chunk, in memory and in the
 * append-only file DATA/fences (fence.h). A record is appended and synced
 * before the write that carried a newer token is acknowledged; the file is
 * rewritten compactly at open and when it is mostly dead records. Records
 * have a fixed size, so an append cut short (a failed write, a power cut)
 * can only leave a torn tail: the loader skips it, and after a failed append
 * nothing more is appended until the file has been rewritten whole.
 */
#include "chunkd/fence.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/crc32c.h"
#include "common/hashmap.h"
#include "common/limits.h"
#include "common/log.h"
#include "wire/codec.h"

#define FENCE_LOG "chunkd"

_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "a token fits in a map value");

struct fence_log {
    pthread_mutex_t mu;
    struct hmap map;  /* chunk -> newest token (never 0) */
    size_t max;       /* chunks kept at most */
    int fd;           /* FENCE_FILE open for appending; -1: rewrite it first */
    uint64_t records; /* records in the file */
    char dir[CAIRN_PATH_MAX];
    char path[CAIRN_PATH_MAX + 16];
    char tmp[CAIRN_PATH_MAX + 16];
};

static void record_encode(uint8_t *out, uint64_t chunk, uint64_t token)
{
    wire_store_u64(out, chunk);
    wire_store_u64(out + 8, token);
    wire_store_u32(out + 16, crc32c(0, out, 16));
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return cairn_err_from_errno(errno);
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cairn_err_from_errno(errno);
    int rc = fsync(fd) == 0 ? 0 : cairn_err_from_errno(errno);
    close(fd);
    return rc;
}

static int token_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The map is full: forget the quarter with the oldest tokens (fence.h says
 * why those). The file keeps their records until the next rewrite; a load
 * applies the same bound again. */
static int fence_evict(struct fence_log *fl)
{
    size_t n = hmap_len(&fl->map);
    uint64_t *v = malloc(n * sizeof *v);
    if (!v)
        return CAIRN_ENOMEM;
    size_t i = 0;
    uint64_t k;
    void *val;
    for (size_t it = 0; hmap_next(&fl->map, &it, &k, &val);)
        v[i++] = (uint64_t)(uintptr_t)val;
    qsort(v, n, sizeof *v, token_cmp);
    uint64_t cut = v[n / 4];
    size_t gone = 0;
    for (size_t it = 0; hmap_next(&fl->map, &it, &k, &val);)
        if ((uint64_t)(uintptr_t)val <= cut)
            v[gone++] = k; /* the keys to delete, collected first */
    for (size_t j = 0; j < gone; j++)
        hmap_del(&fl->map, v[j]);
    free(v);
    LOG_WARN(FENCE_LOG, "fencing tokens of %zu chunks forgotten (limit %zu)", gone, fl->max);
    return 0;
}

/* Keeps the newer of token and what chunk has. */
static int fence_put(struct fence_log *fl, uint64_t chunk, uint64_t token)
{
    uint64_t seen = (uint64_t)(uintptr_t)hmap_get(&fl->map, chunk);
    if (token <= seen)
        return 0;
    if (seen == 0 && hmap_len(&fl->map) >= fl->max) {
        int rc = fence_evict(fl);
        if (rc)
            return rc;
    }
    return hmap_put(&fl->map, chunk, (void *)(uintptr_t)token) ? CAIRN_ENOMEM : 0;
}

/* Rewrites the file with one record per chunk: temp file, fsync, rename,
 * directory fsync; appends go to the new file only once its name is durable
 * (else a power cut could bring back the old file without them). Called at
 * open, or with mu held. */
static int fence_compact(struct fence_log *fl)
{
    size_t n = hmap_len(&fl->map);
    uint8_t *buf = malloc(n ? n * FENCE_RECORD_SIZE : 1);
    if (!buf)
        return CAIRN_ENOMEM;
    size_t i = 0;
    uint64_t k;
    void *val;
    for (size_t it = 0; hmap_next(&fl->map, &it, &k, &val);)
        record_encode(buf + FENCE_RECORD_SIZE * i++, k, (uint64_t)(uintptr_t)val);
    int fd = open(fl->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? cairn_err_from_errno(errno) : 0;
    if (rc == 0)
        rc = write_all(fd, buf, n * FENCE_RECORD_SIZE);
    if (rc == 0 && fsync(fd) != 0)
        rc = cairn_err_from_errno(errno);
    if (fd >= 0)
        close(fd);
    free(buf);
    if (rc == 0 && rename(fl->tmp, fl->path) != 0)
        rc = cairn_err_from_errno(errno);
    if (rc) {
        unlink(fl->tmp);
        return rc;
    }
    if (fl->fd >= 0)
        close(fl->fd); /* the old file: its name is gone */
    fl->fd = -1;
    rc = sync_dir(fl->dir);
    if (rc == 0) {
        fl->fd = open(fl->path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fl->fd < 0)
            rc = cairn_err_from_errno(errno);
    }
    if (rc == 0)
        fl->records = n;
    return rc;
}

/* Reads every whole record; a record failing its CRC is skipped (a torn
 * tail, or damage: logged). */
static int fence_load(struct fence_log *fl, struct fence_open_stats *st)
{
    int fd = open(fl->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : cairn_err_from_errno(errno);
    enum { BATCH = 1024 };
    uint8_t *buf = malloc(BATCH * FENCE_RECORD_SIZE);
    int rc = buf ? 0 : CAIRN_ENOMEM;
    for (off_t off = 0; rc == 0;) {
        ssize_t got = pread(fd, buf, BATCH * FENCE_RECORD_SIZE, off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = cairn_err_from_errno(errno);
            break;
        }
        size_t whole = (size_t)got / FENCE_RECORD_SIZE;
        for (size_t i = 0; rc == 0 && i < whole; i++) {
            const uint8_t *r = buf + i * FENCE_RECORD_SIZE;
            uint64_t chunk = wire_load_u64(r), token = wire_load_u64(r + 8);
            if (wire_load_u32(r + 16) != crc32c(0, r, 16) || token == 0) {
                st->bad++;
                continue;
            }
            st->records++;
            rc = fence_put(fl, chunk, token);
        }
        if (whole < BATCH) {
            if ((size_t)got % FENCE_RECORD_SIZE)
                st->bad++; /* a torn tail */
            break;
        }
        off += (off_t)got;
    }
    free(buf);
    close(fd);
    if (st->bad)
        LOG_WARN(FENCE_LOG, "%s: %llu damaged or torn records skipped", fl->path,
                 (unsigned long long)st->bad);
    return rc;
}

int fence_open(const char *dir, size_t max_chunks, struct fence_log **out,
               struct fence_open_stats *st)
{
    CAIRN_ASSERT(max_chunks >= 4);
    *out = NULL;
    struct fence_open_stats local = {0};
    st = st ? st : &local;
    memset(st, 0, sizeof *st);
    if (strlen(dir) >= CAIRN_PATH_MAX)
        return CAIRN_ENAMETOOLONG;
    struct fence_log *fl = calloc(1, sizeof *fl);
    if (!fl)
        return CAIRN_ENOMEM;
    pthread_mutex_init(&fl->mu, NULL);
    hmap_init(&fl->map);
    fl->fd = -1;
    fl->max = max_chunks;
    snprintf(fl->dir, sizeof fl->dir, "%s", dir);
    snprintf(fl->path, sizeof fl->path, "%s/%s", dir, FENCE_FILE);
    snprintf(fl->tmp, sizeof fl->tmp, "%s/%s.tmp", dir, FENCE_FILE);
    int rc = fence_load(fl, st);
    if (rc == 0)
        rc = fence_compact(fl);
    if (rc) {
        LOG_ERROR(FENCE_LOG, "%s: %s", fl->path, cairn_strerror(rc));
        fence_close(fl);
        return rc;
    }
    st->chunks = hmap_len(&fl->map);
    *out = fl;
    return 0;
}

void fence_close(struct fence_log *fl)
{
    if (!fl)
        return;
    if (fl->fd >= 0)
        close(fl->fd);
    hmap_free(&fl->map);
    pthread_mutex_destroy(&fl->mu);
    free(fl);
}

/* Appends (chunk, token) and syncs it. Any failure leaves the file's tail
 * unknown: nothing is appended again before a whole rewrite. */
static int fence_append(struct fence_log *fl, uint64_t chunk, uint64_t token)
{
    int rc = fl->fd < 0 ? fence_compact(fl) : 0;
    uint8_t rec[FENCE_RECORD_SIZE];
    record_encode(rec, chunk, token);
    if (rc == 0)
        rc = write_all(fl->fd, rec, sizeof rec);
    if (rc == 0 && fdatasync(fl->fd) != 0)
        rc = cairn_err_from_errno(errno);
    if (rc) {
        if (fl->fd >= 0)
            close(fl->fd);
        fl->fd = -1;
        return rc;
    }
    fl->records++;
    return 0;
}

int fence_admit(struct fence_log *fl, uint64_t chunk, uint64_t token)
{
    if (token == 0)
        return 0;
    pthread_mutex_lock(&fl->mu);
    uint64_t seen = (uint64_t)(uintptr_t)hmap_get(&fl->map, chunk);
    int rc = 0;
    if (token < seen) {
        rc = CAIRN_FENCED;
    } else if (token > seen) {
        /* Durable first: the map only says what a restart would say too. */
        rc = fence_append(fl, chunk, token);
        if (rc == 0)
            rc = fence_put(fl, chunk, token);
        if (rc == 0 && fl->records > 2 * (uint64_t)hmap_len(&fl->map) + FENCE_COMPACT_MIN) {
            int crc = fence_compact(fl);
            if (crc) /* the record is durable; the next append retries the rewrite */
                LOG_WARN(FENCE_LOG, "%s: rewrite failed: %s", fl->path, cairn_strerror(crc));
        }
    }
    pthread_mutex_unlock(&fl->mu);
    if (rc && rc != CAIRN_FENCED)
        LOG_ERROR(FENCE_LOG, "%s: cannot keep token %llu of chunk %llu: %s", fl->path,
                  (unsigned long long)token, (unsigned long long)chunk, cairn_strerror(rc));
    return rc;
}

uint64_t fence_get(struct fence_log *fl, uint64_t chunk)
{
    pthread_mutex_lock(&fl->mu);
    uint64_t t = (uint64_t)(uintptr_t)hmap_get(&fl->map, chunk);
    pthread_mutex_unlock(&fl->mu);
    return t;
}

size_t fence_count(struct fence_log *fl)
{
    pthread_mutex_lock(&fl->mu);
    size_t n = hmap_len(&fl->map);
    pthread_mutex_unlock(&fl->mu);
    return n;
}
