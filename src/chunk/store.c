/* store.c: the chunk store object, its paths and its in-memory index (see
 * internal.h for the locking rules), and the reports built from the index. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "chunk/internal.h"
#include "common/assert.h"

void chunk_path_fmt(const struct chunk_store *s, char *out, const char *fmt, ...)
{
    int n = snprintf(out, CAIRN_PATH_MAX, "%s/", s->dir);
    CAIRN_ASSERT(n > 0 && (size_t)n < CAIRN_PATH_MAX);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(out + n, CAIRN_PATH_MAX - (size_t)n, fmt, ap);
    va_end(ap);
    CAIRN_ASSERT(m >= 0 && (size_t)m < CAIRN_PATH_MAX - (size_t)n);
}

void chunk_dir_path(const struct chunk_store *s, uint64_t id, char *out)
{
    chunk_path_fmt(s, out, "chunks/%02x", chunk_fanout(id));
}

void chunk_file_path(const struct chunk_store *s, uint64_t id, uint64_t version,
                     enum chunk_name_kind kind, char *out)
{
    char name[CHUNK_NAME_LEN];
    chunk_name_format(name, id, version, kind);
    chunk_path_fmt(s, out, "chunks/%02x/%s", chunk_fanout(id), name);
}

/* --- index ------------------------------------------------------------------------------------ */

int entry_acquire(struct chunk_store *s, uint64_t id, int create, struct chunk_entry **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    struct chunk_entry *e;
    while ((e = hmap_get(&s->index, id)) != NULL && e->busy)
        pthread_cond_wait(&s->cv, &s->mu);
    if (!e && create) {
        e = calloc(1, sizeof *e);
        if (!e || hmap_put(&s->index, id, e) != 0) {
            free(e);
            pthread_mutex_unlock(&s->mu);
            return CAIRN_ENOMEM;
        }
        e->id = id;
    }
    if (e)
        e->busy = 1;
    pthread_mutex_unlock(&s->mu);
    *out = e;
    return 0;
}

void entry_release(struct chunk_store *s, struct chunk_entry *e)
{
    pthread_mutex_lock(&s->mu);
    CAIRN_ASSERT(e->busy);
    e->busy = 0;
    if (e->committed.version == 0 && e->n_staged == 0) {
        void *was = hmap_del(&s->index, e->id);
        CAIRN_ASSERT(was == e);
        free(e);
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int entry_acquire_staged(struct chunk_store *s, uint64_t id, uint64_t version,
                         struct chunk_entry **e)
{
    int rc = entry_acquire(s, id, 0, e);
    if (rc)
        return rc;
    if (*e && entry_staged_find(*e, version) < 0) {
        entry_release(s, *e);
        *e = NULL;
    }
    return *e ? 0 : CAIRN_STALEVERSION;
}

int entry_staged_find(const struct chunk_entry *e, uint64_t version)
{
    for (uint32_t i = 0; i < e->n_staged; i++)
        if (e->staged[i].version == version)
            return (int)i;
    return -1;
}

void entry_set_committed(struct chunk_store *s, struct chunk_entry *e, uint64_t version,
                         uint64_t length)
{
    pthread_mutex_lock(&s->mu);
    if (e->committed.version != 0) {
        s->usage.chunks--;
        s->usage.bytes -= e->committed.length;
    }
    e->committed.version = version;
    e->committed.length = version ? length : 0;
    if (version != 0) {
        s->usage.chunks++;
        s->usage.bytes += length;
    }
    pthread_mutex_unlock(&s->mu);
}

void entry_add_staged(struct chunk_store *s, struct chunk_entry *e, uint64_t version,
                      uint64_t length, unsigned flags)
{
    pthread_mutex_lock(&s->mu);
    CAIRN_ASSERT(e->n_staged < CAIRN_CHUNK_STAGED_MAX && entry_staged_find(e, version) < 0);
    e->staged[e->n_staged++] = (struct chunk_ver){version, length, flags};
    s->usage.staged++;
    s->usage.staged_bytes += length;
    pthread_mutex_unlock(&s->mu);
}

void entry_del_staged(struct chunk_store *s, struct chunk_entry *e, uint64_t version)
{
    pthread_mutex_lock(&s->mu);
    int i = entry_staged_find(e, version);
    if (i >= 0) {
        s->usage.staged--;
        s->usage.staged_bytes -= e->staged[i].length;
        e->staged[i] = e->staged[--e->n_staged];
    }
    pthread_mutex_unlock(&s->mu);
}

void entry_set_staged_length(struct chunk_store *s, struct chunk_entry *e, uint64_t version,
                             uint64_t length)
{
    pthread_mutex_lock(&s->mu);
    int i = entry_staged_find(e, version);
    CAIRN_ASSERT(i >= 0);
    s->usage.staged_bytes = s->usage.staged_bytes - e->staged[i].length + length;
    e->staged[i].length = length;
    pthread_mutex_unlock(&s->mu);
}

uint64_t index_committed(struct chunk_store *s, uint64_t id, uint64_t *length)
{
    pthread_mutex_lock(&s->mu);
    const struct chunk_entry *e = hmap_get(&s->index, id);
    uint64_t v = e ? e->committed.version : 0;
    if (length)
        *length = e ? e->committed.length : 0;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* --- reports ---------------------------------------------------------------------------------- */

static int info_cmp(const void *a, const void *b)
{
    const struct chunk_info *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    return 0;
}

/* Appends the versions of e to out (room for 1 + CAIRN_CHUNK_STAGED_MAX);
 * returns the count. Called under s->mu. */
static size_t entry_infos(const struct chunk_entry *e, struct chunk_info *out)
{
    size_t n = 0;
    if (e->committed.version != 0)
        out[n++] = (struct chunk_info){
            .id = e->id, .version = e->committed.version, .length = e->committed.length};
    for (uint32_t i = 0; i < e->n_staged; i++) {
        unsigned f = e->staged[i].flags;
        out[n++] = (struct chunk_info){.id = e->id,
                                       .version = e->staged[i].version,
                                       .length = e->staged[i].length,
                                       .staged = 1,
                                       .sealed = (f & CHUNK_VER_SEALED) != 0,
                                       .committable =
                                           !(f & CHUNK_VER_SEALED) || (f & CHUNK_VER_FLUSHED) != 0};
    }
    return n;
}

int chunk_list(struct chunk_store *s, struct chunk_info **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    size_t cap = (size_t)(s->usage.chunks + s->usage.staged);
    struct chunk_info *v = cap ? malloc(cap * sizeof *v) : NULL;
    if (cap && !v) {
        pthread_mutex_unlock(&s->mu);
        return CAIRN_ENOMEM;
    }
    size_t len = 0;
    uint64_t id;
    void *val;
    for (size_t it = 0; hmap_next(&s->index, &it, &id, &val);) {
        struct chunk_info tmp[1 + CAIRN_CHUNK_STAGED_MAX];
        size_t k = entry_infos(val, tmp);
        CAIRN_ASSERT(len + k <= cap);
        memcpy(v + len, tmp, k * sizeof *tmp);
        len += k;
    }
    pthread_mutex_unlock(&s->mu);
    CAIRN_ASSERT(len == cap);
    if (len > 1)
        qsort(v, len, sizeof *v, info_cmp);
    *out = v;
    *n = len;
    return 0;
}

void chunk_stat(struct chunk_store *s, uint64_t id, struct chunk_info *out, size_t *n)
{
    pthread_mutex_lock(&s->mu);
    const struct chunk_entry *e = hmap_get(&s->index, id);
    *n = e ? entry_infos(e, out) : 0;
    pthread_mutex_unlock(&s->mu);
}

void chunk_usage(struct chunk_store *s, struct chunk_usage *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->usage;
    pthread_mutex_unlock(&s->mu);
}

int chunk_capacity(struct chunk_store *s, struct chunk_space *out)
{
    memset(out, 0, sizeof *out);
    return s->cfs->statvfs(s->cfs, s->dir, out);
}

/* --- open and close --------------------------------------------------------------------------- */

/* The longest path the store builds: <dir>/chunks/hh/<name> and
 * <dir>/quarantine/<name>. */
#define CHUNK_PATH_EXTRA (sizeof "/quarantine/" + CHUNK_NAME_LEN)

int chunk_store_open(const struct chunk_store_options *o, struct chunk_store **out,
                     struct chunk_recovery *rep)
{
    *out = NULL;
    if (!o->dir || !o->dir[0])
        return CAIRN_EINVAL;
    if (strlen(o->dir) + CHUNK_PATH_EXTRA >= CAIRN_PATH_MAX)
        return CAIRN_ENAMETOOLONG;
    struct chunk_store *s = calloc(1, sizeof *s);
    if (!s)
        return CAIRN_ENOMEM;
    s->cfs = o->cfs ? o->cfs : chunk_fs_posix();
    s->fs = s->cfs->fs;
    snprintf(s->dir, sizeof s->dir, "%s", o->dir);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->scrub_mu, NULL);
    hmap_init(&s->index);
    struct chunk_recovery r = {0};
    int rc = chunk_recover(s, &r);
    if (rc) {
        chunk_store_close(s);
        return rc;
    }
    s->usage.quarantined = r.quarantined;
    if (rep)
        *rep = r;
    *out = s;
    return 0;
}

void chunk_store_close(struct chunk_store *s)
{
    if (!s)
        return;
    uint64_t id;
    void *val;
    for (size_t it = 0; hmap_next(&s->index, &it, &id, &val);) {
        struct chunk_entry *e = val;
        CAIRN_ASSERTF(!e->busy, "chunk_store_close while chunk %016llx is in use",
                      (unsigned long long)id);
        free(e);
    }
    hmap_free(&s->index);
    free(s->scrub.ids);
    pthread_mutex_destroy(&s->scrub_mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
