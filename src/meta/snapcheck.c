/*
 * snapcheck.c: the whole-state consistency check run on a loaded snapshot
 * (and usable by tests on any state): the namespace is one tree rooted at
 * inode 1, link counts match the entries, each chunk is mapped exactly once,
 * pending writes agree with the chunk table, totals add up.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "meta/internal.h"

/* Entries of one directory: targets exist with the right type; a child
 * directory names this one as parent. Counts references in refs. */
static int check_dir(const struct meta *m, const struct meta_inode *in, struct hmap *refs)
{
    const struct meta_dir *d = in->u.dir;
    uint32_t subdirs = 0;
    for (uint32_t p = 0; p < d->n_ents; p++) {
        const struct meta_dent *e = &d->ents[p];
        if (!e->ino)
            continue;
        const struct meta_inode *c = meta_ino_get(m, e->ino);
        if (!c || e->type != (c->mode >> 12) || c->ino == META_ROOT_INO)
            return CAIRN_CORRUPT;
        if (ino_is_dir(c)) {
            if (c->u.dir->parent != in->ino)
                return CAIRN_CORRUPT;
            subdirs++;
        }
        uintptr_t n = (uintptr_t)hmap_get(refs, e->ino);
        if (hmap_put(refs, e->ino, (void *)(n + 1)))
            return CAIRN_ENOMEM;
    }
    return in->nlink == 2 + subdirs ? 0 : CAIRN_CORRUPT;
}

/* Every directory reachable from the root: rules out detached cycles. */
static int check_reachable(const struct meta *m, uint64_t dirs)
{
    uint64_t *stack = malloc((dirs ? dirs : 1) * sizeof *stack);
    if (!stack)
        return CAIRN_ENOMEM;
    uint64_t n = 0, seen = 0;
    stack[n++] = META_ROOT_INO;
    while (n > 0) {
        const struct meta_dir *d = ((struct meta_inode *)meta_ino_get(m, stack[--n]))->u.dir;
        seen++;
        for (uint32_t p = 0; p < d->n_ents; p++) {
            const struct meta_dent *e = &d->ents[p];
            if (e->ino && S_ISDIR((uint32_t)e->type << 12)) {
                if (n == dirs) {
                    free(stack);
                    return CAIRN_CORRUPT;
                }
                stack[n++] = e->ino;
            }
        }
    }
    free(stack);
    return seen == dirs ? 0 : CAIRN_CORRUPT;
}

/* The chunks a file maps exist, once each, and pending writes agree. */
static int check_file(const struct meta *m, const struct meta_inode *in, struct hmap *seen,
                      uint64_t *sum)
{
    *sum += in->size;
    for (uint32_t i = 0; i < in->n_chunks; i++) {
        uint64_t id = in->n_chunks == 1 ? in->u.chunk : in->u.chunks[i];
        if (!id)
            continue;
        if (!meta_table_get(&m->chunks, id) || hmap_contains(seen, id))
            return CAIRN_CORRUPT;
        if (hmap_put(seen, id, (void *)(uintptr_t)(((uint64_t)i << 1) | 1)))
            return CAIRN_ENOMEM;
    }
    return 0;
}

static int check_pending(const struct meta *m, const struct hmap *seen)
{
    uint64_t k, writing = 0;
    void *v;
    if (m->next_version < 2)
        return CAIRN_CORRUPT;
    for (uint32_t i = 0; i < m->chunks.n_slots; i++) {
        const struct meta_chunk *ch = meta_table_slot(&m->chunks, i);
        writing += ch->id && ch->state == META_CHUNK_WRITING;
        if (ch->id && ch->version >= m->next_version)
            return CAIRN_CORRUPT; /* versions come from next_version (data.c) */
    }
    for (size_t it = 0; hmap_next(&m->pending, &it, &k, &v);) {
        const struct meta_pending *p = v;
        const struct meta_chunk *ch = meta_table_get(&m->chunks, p->chunk);
        if (p->version >= m->next_version)
            return CAIRN_CORRUPT;
        /* a session's end aborts its writes (data.c) */
        if (p->session && !hmap_contains(&m->sessions, p->session))
            return CAIRN_CORRUPT;
        if (p->is_new) {
            if (ch || p->chunk == 0 || p->chunk >= m->next_chunk || p->version != 1)
                return CAIRN_CORRUPT;
            continue;
        }
        uintptr_t at = (uintptr_t)hmap_get(seen, p->chunk);
        if (!ch || ch->state != META_CHUNK_WRITING || p->version <= ch->version ||
            at != ((((uintptr_t)p->index) << 1) | 1))
            return CAIRN_CORRUPT;
        writing--;
    }
    return writing == 0 ? 0 : CAIRN_CORRUPT;
}

/* Link counts from the entry references counted by check_dir. */
static int check_links(const struct meta *m, const struct hmap *refs, uint64_t *dirs)
{
    for (uint32_t i = 0; i < m->inodes.n_slots; i++) {
        const struct meta_inode *in = meta_table_slot(&m->inodes, i);
        if (!in->ino)
            continue;
        uintptr_t n = (uintptr_t)hmap_get(refs, in->ino);
        if (ino_is_dir(in)) {
            (*dirs)++;
            if (n != (in->ino == META_ROOT_INO ? 0u : 1u))
                return CAIRN_CORRUPT;
        } else if (n != in->nlink) {
            return CAIRN_CORRUPT;
        } else if (n == 0 && !(S_ISREG(in->mode) && meta_ino_held(m, in->ino))) {
            return CAIRN_CORRUPT; /* only a held file lives on without a name */
        }
    }
    return 0;
}

static int check_walk(const struct meta *m, struct hmap *refs, struct hmap *seen)
{
    uint64_t sum = 0, dirs = 0;
    for (uint32_t i = 0; i < m->inodes.n_slots; i++) {
        const struct meta_inode *in = meta_table_slot(&m->inodes, i);
        int rc = 0;
        if (in->ino && ino_is_dir(in))
            rc = check_dir(m, in, refs);
        else if (in->ino && S_ISREG(in->mode))
            rc = check_file(m, in, seen, &sum);
        if (rc)
            return rc;
    }
    if (sum != m->used_bytes || hmap_len(seen) != m->chunks.len)
        return CAIRN_CORRUPT;
    int rc = check_links(m, refs, &dirs);
    if (!rc)
        rc = check_reachable(m, dirs);
    if (!rc)
        rc = check_pending(m, seen);
    return rc;
}

int meta_check_refs(const struct meta *m)
{
    const struct meta_inode *root = meta_ino_get(m, META_ROOT_INO);
    if (!root || !ino_is_dir(root) || root->u.dir->parent != META_ROOT_INO)
        return CAIRN_CORRUPT;
    uint64_t k;
    void *v;
    for (size_t it = 0; hmap_next(&m->sessions, &it, &k, &v);)
        if (k > m->applied_index)
            return CAIRN_CORRUPT;
    struct hmap refs, seen;
    hmap_init(&refs);
    hmap_init(&seen);
    int rc = check_walk(m, &refs, &seen);
    hmap_free(&refs);
    hmap_free(&seen);
    return rc;
}
