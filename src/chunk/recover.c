/* recover.c: rebuilding the index from the data directory at open (after a clean stop, a
 * crash or a power cut). Rules, also in docs/chunk-format.md:
 *  - <id>_<v>.tmp: a chunk_stage cut short; deleted.
 *  - <id>_<v>.chk / .stg whose header does not check (CRC, fields, id and version of the
 *    name, committed state for .chk, room for the CRC table), or that sits in the wrong
 *    fan-out directory, or cannot be read: moved to <dir>/quarantine and counted, never
 *    trusted. A damaged .stg leaves a placeholder in the index: a sealed, never
 *    committable staged version of length 0 without a file, until its DROP.
 *  - several committed versions of one chunk (a commit cut short between its rename and the
 *    deletion of the older version): the newest is current, the older ones are deleted.
 *  - a staged version equal to the committed one: deleted (the committed file is the same
 *    data, made current).
 *  - every other staged version is indexed SEALED (no more writes or flushes: bytes its
 *    writer sent after the last flush may be lost or torn, and a writer that goes on
 *    sending pieces must not get a flush acknowledged over them), and FLUSHED when its
 *    header says nothing was written since a flush (or says committed): only those may
 *    still be committed; the others wait for their DROP (chunk.h, "Restarts").
 *  - any other name: left alone, counted and logged.
 */
#include <string.h>

#include "cairn_errors.h"
#include "chunk/internal.h"
#include "common/assert.h"
#include "common/log.h"

/* mkdir that accepts an existing directory; *made says whether it was created.
 */
static int mkdir_ok(struct chunk_store *s, const char *path, int *made)
{
    int rc = rio_mkdir(s->fs, path);
    if (rc == 0)
        *made = 1;
    return rc == CAIRN_EEXIST ? 0 : rc;
}

/* Creates <dir>, <dir>/chunks and <dir>/quarantine as needed and makes their
 * names durable. The fan-out directories are made on first use
 * (chunk_fanout_ensure), so an empty store costs three directories. */
static int make_layout(struct chunk_store *s)
{
    char path[CAIRN_PATH_MAX];
    int made_top = 0, made_sub = 0;
    int rc = mkdir_ok(s, s->dir, &made_top);
    chunk_path_fmt(s, path, "chunks");
    if (rc == 0)
        rc = mkdir_ok(s, path, &made_sub);
    chunk_path_fmt(s, path, "quarantine");
    if (rc == 0)
        rc = mkdir_ok(s, path, &made_sub);
    if (rc == 0 && made_sub)
        rc = rio_sync_dir(s->fs, s->dir);
    return rc;
}

int chunk_fanout_ensure(struct chunk_store *s, uint64_t id)
{
    unsigned hh = chunk_fanout(id);
    pthread_mutex_lock(&s->mu);
    int known = s->fanout_made[hh];
    pthread_mutex_unlock(&s->mu);
    if (known)
        return 0;
    char path[CAIRN_PATH_MAX];
    chunk_dir_path(s, id, path);
    int made = 0;
    int rc = mkdir_ok(s, path, &made);
    /* The new name must be durable before any file in it is. */
    if (rc == 0 && made) {
        chunk_path_fmt(s, path, "chunks");
        rc = rio_sync_dir(s->fs, path);
    }
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        s->fanout_made[hh] = 1;
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

/* Moves chunks/<hh>/<name> to quarantine/<name>, durably. */
static int quarantine(struct chunk_store *s, unsigned hh, const char *name, const char *why,
                      struct chunk_recovery *rep)
{
    char from[CAIRN_PATH_MAX], to[CAIRN_PATH_MAX], dir[CAIRN_PATH_MAX];
    chunk_path_fmt(s, from, "chunks/%02x/%s", hh, name);
    chunk_path_fmt(s, to, "quarantine/%s", name);
    LOG_ERROR(CHUNK_LOG, "quarantined %s: %s", from, why);
    int rc = rio_rename(s->fs, from, to);
    chunk_path_fmt(s, dir, "quarantine");
    if (rc == 0)
        rc = rio_sync_dir(s->fs, dir);
    chunk_path_fmt(s, dir, "chunks/%02x", hh);
    if (rc == 0)
        rc = rio_sync_dir(s->fs, dir);
    if (rc == 0)
        rep->quarantined++;
    return rc;
}

/* Indexes one checked version file; resolves two committed versions of one
 * chunk. */
static int index_add(struct chunk_store *s, uint64_t id, uint64_t version, int staged,
                     const struct chunk_hdr *h, struct chunk_recovery *rep)
{
    struct chunk_entry *e;
    uint64_t length = h->length;
    int rc = entry_acquire(s, id, 1, &e);
    if (rc)
        return rc;
    if (staged) {
        CAIRN_ASSERT(e->n_staged < CAIRN_CHUNK_STAGED_MAX); /* checked by the caller */
        /* A committed header under a staged name was synced by the commit that
         * wrote it: as durable as a flush. */
        int flushed = (h->flags & CHUNK_HDR_FLUSHED) || h->state == CHUNK_STATE_COMMITTED;
        entry_add_staged(s, e, version, length,
                         CHUNK_VER_SEALED | (flushed ? CHUNK_VER_FLUSHED : 0u));
        rep->staged++;
        rep->staged_unflushed += !flushed;
    } else if (e->committed.version == 0 || e->committed.version < version) {
        uint64_t old = e->committed.version;
        entry_set_committed(s, e, version, length);
        if (old != 0) {
            rc = chunk_file_remove(s, id, old, CHUNK_NAME_COMMITTED);
            rep->superseded++;
        } else {
            rep->committed++;
        }
    } else {
        rc = chunk_file_remove(s, id, version, CHUNK_NAME_COMMITTED);
        rep->superseded++;
    }
    entry_release(s, e);
    return rc;
}

static int staged_full(struct chunk_store *s, uint64_t id)
{
    pthread_mutex_lock(&s->mu);
    const struct chunk_entry *e = hmap_get(&s->index, id);
    int full = e && e->n_staged >= CAIRN_CHUNK_STAGED_MAX;
    pthread_mutex_unlock(&s->mu);
    return full;
}

/* Looks at one name of chunks/<hh>. */
static int recover_name(struct chunk_store *s, unsigned hh, const char *name,
                        struct chunk_recovery *rep)
{
    uint64_t id, version;
    enum chunk_name_kind kind = chunk_name_parse(name, &id, &version);
    if (kind == CHUNK_NAME_NONE) {
        LOG_WARN(CHUNK_LOG, "%s/chunks/%02x/%s: not a chunk file; left alone", s->dir, hh, name);
        rep->unknown++;
        return 0;
    }
    if (chunk_fanout(id) != hh)
        return quarantine(s, hh, name, "in the wrong fan-out directory", rep);
    if (kind == CHUNK_NAME_TMP) {
        rep->tmp_removed++;
        return chunk_file_remove(s, id, version, CHUNK_NAME_TMP);
    }
    int fd;
    struct chunk_hdr h;
    int rc = chunk_file_open(s, id, version, kind, &fd, &h);
    int staged = kind == CHUNK_NAME_STAGED;
    if (rc == CAIRN_CORRUPT || rc == CAIRN_EIO) {
        rc = quarantine(s, hh, name, rc == CAIRN_CORRUPT ? "bad header" : "unreadable", rep);
        /* Its writer may go on: a placeholder keeps the version sealed (no file,
         * length 0, never committable) until its DROP, so a late piece cannot
         * stage a fresh copy with a hole where the lost bytes were. */
        h = (struct chunk_hdr){.id = id, .version = version, .state = CHUNK_STATE_STAGED};
        if (rc == 0 && staged && !staged_full(s, id))
            rc = index_add(s, id, version, 1, &h, rep);
        return rc;
    }
    if (rc)
        return rc;
    rio_close(s->fs, fd);
    if (staged && staged_full(s, id))
        return quarantine(s, hh, name, "too many staged versions", rep);
    return index_add(s, id, version, staged, &h, rep);
}

static int recover_dir(struct chunk_store *s, unsigned hh, struct chunk_recovery *rep)
{
    char dir[CAIRN_PATH_MAX];
    chunk_path_fmt(s, dir, "chunks/%02x", hh);
    struct raftio_names names = {0};
    int rc = rio_list(s->fs, dir, &names);
    for (size_t i = 0; rc == 0 && i < names.n; i++)
        rc = recover_name(s, hh, names.v[i], rep);
    rio_names_free(&names);
    return rc;
}

/* A staged version equal to the committed one can only be a copy left behind;
 * the committed file wins. Collected first: the map must not change while
 * iterated. */
static int drop_staged_dups(struct chunk_store *s)
{
    uint64_t id;
    void *val;
    for (size_t it = 0; hmap_next(&s->index, &it, &id, &val);) {
        struct chunk_entry *e = val;
        if (e->committed.version == 0 || entry_staged_find(e, e->committed.version) < 0)
            continue;
        int rc = chunk_file_remove(s, id, e->committed.version, CHUNK_NAME_STAGED);
        if (rc)
            return rc;
        entry_del_staged(s, e, e->committed.version);
    }
    return 0;
}

int chunk_recover(struct chunk_store *s, struct chunk_recovery *rep)
{
    int rc = make_layout(s);
    if (rc)
        return rc;
    char dir[CAIRN_PATH_MAX];
    chunk_path_fmt(s, dir, "chunks");
    struct raftio_names names = {0};
    rc = rio_list(s->fs, dir, &names);
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        int hh = chunk_fanout_parse(names.v[i]);
        if (hh < 0) {
            LOG_WARN(CHUNK_LOG, "%s/%s: not a fan-out directory; left alone", dir, names.v[i]);
            rep->unknown++;
            continue;
        }
        s->fanout_made[hh] = 1;
        rc = recover_dir(s, (unsigned)hh, rep);
    }
    rio_names_free(&names);
    if (rc == 0)
        rc = drop_staged_dups(s);
    if (rc == 0 && (rep->quarantined || rep->superseded || rep->unknown))
        LOG_WARN(CHUNK_LOG,
                 "%s: %llu committed, %llu staged; %llu quarantined, %llu superseded "
                 "removed, "
                 "%llu temporary removed, %llu unknown",
                 s->dir, (unsigned long long)rep->committed, (unsigned long long)rep->staged,
                 (unsigned long long)rep->quarantined, (unsigned long long)rep->superseded,
                 (unsigned long long)rep->tmp_removed, (unsigned long long)rep->unknown);
    return rc;
}
