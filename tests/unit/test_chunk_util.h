/*
 * test_chunk_util.h: shared helpers of the test_chunk*.c binaries: a store over
 * the real file system or over raftio's faultfs (crashes, injected errors), and
 * a sparse in-memory model of a chunk version's bytes to compare reads against.
 * Header-only (static inline).
 */
#ifndef CAIRN_TEST_CHUNK_UTIL_H
#define CAIRN_TEST_CHUNK_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "chunk/chunk.h"
#include "chunk/format.h"
#include "raftio/faultfs.h"
#include "test.h"

/* A store under test: dir is <tmpdir>/data; ff is NULL for the real file
 * system. */
struct tc {
    struct faultfs *ff;
    struct chunk_fs cfs;
    struct chunk_store *s;
    struct chunk_recovery rec;
    char dir[512];
};

static inline void tc_open(struct tc *t)
{
    struct chunk_store_options o = {.dir = t->dir, .cfs = &t->cfs};
    CHECK_OK(chunk_store_open(&o, &t->s, &t->rec));
}

/* use_faultfs: 1 for faultfs (no in-kernel copy: the portable clone), 0 for the
 * real seam. The store lives in <tmpdir>/<sub>. */
static inline void tc_init_in(struct tc *t, int use_faultfs, const char *sub)
{
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "%s/%s", test_tmpdir(), sub);
    t->cfs = *chunk_fs_posix();
    if (use_faultfs) {
        CHECK_OK(faultfs_new(&t->ff));
        t->cfs.fs = faultfs_fs(t->ff);
        t->cfs.copy_file = NULL;
    }
    tc_open(t);
}

static inline void tc_init(struct tc *t, int use_faultfs) { tc_init_in(t, use_faultfs, "data"); }

/* A restart: the store is closed and opened again on the same directory. */
static inline void tc_reopen(struct tc *t)
{
    chunk_store_close(t->s);
    t->s = NULL;
    tc_open(t);
}

/* A power cut: unsynced changes are lost (or a random part of them), then a
 * restart. */
static inline void tc_crash(struct tc *t, enum faultfs_crash_mode mode)
{
    CHECK(t->ff != NULL);
    faultfs_crash(t->ff, mode, test_rng());
    tc_reopen(t);
}

static inline void tc_free(struct tc *t)
{
    chunk_store_close(t->s);
    faultfs_free(t->ff);
    memset(t, 0, sizeof *t);
}

static inline void tc_path(const struct tc *t, uint64_t id, uint64_t version,
                           enum chunk_name_kind kind, char *out, size_t cap)
{
    char name[CHUNK_NAME_LEN];
    chunk_name_format(name, id, version, kind);
    snprintf(out, cap, "%s/chunks/%02x/%s", t->dir, chunk_fanout(id), name);
}

static inline int tc_exists(const struct tc *t, uint64_t id, uint64_t version,
                            enum chunk_name_kind kind)
{
    char path[1024];
    tc_path(t, id, version, kind, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* Flips bits (mask) of the byte at off of a version file, on disk, as bit rot
 * would. */
static inline void tc_corrupt(const struct tc *t, uint64_t id, uint64_t version,
                              enum chunk_name_kind kind, uint64_t off, uint8_t mask)
{
    char path[1024];
    tc_path(t, id, version, kind, path, sizeof path);
    CHECK_OK(faultfs_corrupt(path, off, mask));
}

/* --- the model: a sparse copy of one version's bytes ------------------------------------------ */

struct model {
    uint8_t *blocks[CHUNK_BLOCKS]; /* NULL: zeros */
    uint64_t length;
};

static inline void model_free(struct model *m)
{
    for (uint32_t i = 0; i < CHUNK_BLOCKS; i++)
        free(m->blocks[i]);
    memset(m, 0, sizeof *m);
}

static inline void model_copy(struct model *dst, const struct model *src)
{
    memset(dst, 0, sizeof *dst);
    dst->length = src->length;
    for (uint32_t i = 0; i < CHUNK_BLOCKS; i++) {
        if (!src->blocks[i])
            continue;
        dst->blocks[i] = malloc(CAIRN_BLOCK_SIZE);
        CHECK(dst->blocks[i] != NULL);
        memcpy(dst->blocks[i], src->blocks[i], CAIRN_BLOCK_SIZE);
    }
}

static inline void model_write(struct model *m, uint64_t off, const uint8_t *p, size_t n)
{
    for (size_t done = 0; done < n;) {
        uint64_t at = off + done;
        uint32_t b = (uint32_t)(at / CAIRN_BLOCK_SIZE);
        size_t in = (size_t)(at % CAIRN_BLOCK_SIZE);
        size_t k = CAIRN_BLOCK_SIZE - in < n - done ? CAIRN_BLOCK_SIZE - in : n - done;
        if (!m->blocks[b]) {
            m->blocks[b] = calloc(1, CAIRN_BLOCK_SIZE);
            CHECK(m->blocks[b] != NULL);
        }
        memcpy(m->blocks[b] + in, p + done, k);
        done += k;
    }
    if (off + n > m->length)
        m->length = off + n;
}

/* Cuts the model to length: the bytes past it become zeros (holes). */
static inline void model_truncate(struct model *m, uint64_t length)
{
    for (uint32_t b = 0; b < CHUNK_BLOCKS; b++) {
        uint64_t bs = (uint64_t)b * CAIRN_BLOCK_SIZE;
        if (!m->blocks[b] || bs + CAIRN_BLOCK_SIZE <= length)
            continue;
        if (bs >= length) {
            free(m->blocks[b]);
            m->blocks[b] = NULL;
        } else {
            memset(m->blocks[b] + (length - bs), 0, (size_t)(bs + CAIRN_BLOCK_SIZE - length));
        }
    }
    if (m->length > length)
        m->length = length;
}

/* The bytes [off, off + n) clipped to the length; returns how many. */
static inline size_t model_read(const struct model *m, uint64_t off, uint8_t *p, size_t n)
{
    if (off >= m->length)
        return 0;
    if (n > m->length - off)
        n = (size_t)(m->length - off);
    for (size_t done = 0; done < n;) {
        uint64_t at = off + done;
        uint32_t b = (uint32_t)(at / CAIRN_BLOCK_SIZE);
        size_t in = (size_t)(at % CAIRN_BLOCK_SIZE);
        size_t k = CAIRN_BLOCK_SIZE - in < n - done ? CAIRN_BLOCK_SIZE - in : n - done;
        if (m->blocks[b])
            memcpy(p + done, m->blocks[b] + in, k);
        else
            memset(p + done, 0, k);
        done += k;
    }
    return n;
}

/* Reads [off, off + n) of (id, version) and checks it equals the model. */
static inline void check_read(struct chunk_store *s, uint64_t id, uint64_t version, unsigned flags,
                              const struct model *m, uint64_t off, size_t n)
{
    uint8_t *got = malloc(n ? n : 1), *want = malloc(n ? n : 1);
    CHECK(got && want);
    struct chunk_read_result r;
    int rc = chunk_read(s, id, version, off, got, n, flags, &r);
    CHECKF(rc == 0, "read %016llx v%llu [%llu, +%zu): %s (block %u)", (unsigned long long)id,
           (unsigned long long)version, (unsigned long long)off, n, cairn_err_name(rc),
           r.bad_block);
    size_t wn = model_read(m, off, want, n);
    CHECK_EQ_U64(r.length, m->length);
    CHECK_EQ_U64(r.got, wn);
    CHECKF(memcmp(got, want, wn) == 0, "read %016llx v%llu [%llu, +%zu): bytes differ",
           (unsigned long long)id, (unsigned long long)version, (unsigned long long)off, n);
    free(got);
    free(want);
}

/* Reads the whole version and checks it against the model. */
static inline void check_all(struct chunk_store *s, uint64_t id, uint64_t version, unsigned flags,
                             const struct model *m)
{
    check_read(s, id, version, flags, m, 0, (size_t)m->length + 17);
}

/* Writes n random bytes at off to the store and the model. */
static inline void write_random(struct chunk_store *s, uint64_t id, uint64_t version,
                                struct model *m, uint64_t off, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    CHECK(p != NULL);
    prng_fill(test_rng(), p, n);
    CHECK_OK(chunk_write(s, id, version, off, p, n));
    model_write(m, off, p, n);
    free(p);
}

#endif
