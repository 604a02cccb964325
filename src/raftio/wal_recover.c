/* wal_recover.c: opening a log directory. Lists the segments, reads each
 * one whole, checks every record and the index and term sequence, cuts a
 * torn tail of the open segment, and refuses any other damage loudly. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "raftio/wal_int.h"
#include "wire/codec.h"

/* Smallest configurable segment: a header and a few small records (tests use
 * tiny segments to exercise rollover); the largest leaves room for one
 * maximal record past the bound in a file recovery still accepts. */
#define WAL_SEGMENT_BYTES_MIN 256u

static int parse_hex16(const char *p, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 16; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        x = (x << 4) | (uint64_t)d;
    }
    *v = x;
    return 0;
}

/* "<16 hex>-open" or "<16 hex>-<16 hex>"; -1 for any other name. */
static int wal_parse_name(const char *name, struct wal_seg *s)
{
    memset(s, 0, sizeof *s);
    size_t n = strlen(name);
    if (n < 17 || name[16] != '-' || parse_hex16(name, &s->first) != 0 || s->first == 0)
        return -1;
    if (n == 21 && strcmp(name + 17, "open") == 0) {
        s->open = 1;
        s->last = s->first - 1;
        return 0;
    }
    if (n != 33 || parse_hex16(name + 17, &s->last) != 0 || s->last < s->first)
        return -1;
    return 0;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct wal_seg *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Fills w->segs from the directory listing, sorted by first index. At most
 * one open segment may exist and it must be the last: the seal protocol in
 * wal.c never leaves anything else. */
static int wal_list_segments(struct wal *w)
{
    struct raftio_names names;
    int rc = rio_list(w->fs, w->dir, &names);
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        struct wal_seg s;
        if (wal_parse_name(names.v[i], &s) != 0) {
            LOG_WARN(WAL_SUBSYS, "%s: ignoring unknown file %s", w->dir, names.v[i]);
            continue;
        }
        rc = wal_seg_push(w, &s);
    }
    rio_names_free(&names);
    if (rc)
        return rc;
    if (w->n_segs > 1)
        qsort(w->segs, w->n_segs, sizeof *w->segs, seg_cmp);
    for (size_t i = 0; i < w->n_segs; i++) {
        int dup = i > 0 && w->segs[i].first == w->segs[i - 1].first;
        if (dup || (w->segs[i].open && i + 1 != w->n_segs)) {
            LOG_ERROR(WAL_SUBSYS, "%s: segment starting at %016" PRIx64 " is %s", w->dir,
                      w->segs[i].first, dup ? "duplicated" : "open but not the last");
            return CAIRN_CORRUPT;
        }
    }
    return 0;
}

static int entries_push(struct wal_entries *out, const struct raft_entry *e)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 256;
        struct raft_entry *v = realloc(out->v, cap * sizeof *v);
        if (!v)
            return CAIRN_ENOMEM;
        out->v = v;
        out->cap = cap;
    }
    out->v[out->n++] = *e;
    return 0;
}

static int images_push(struct wal_entries *out, uint8_t *img)
{
    uint8_t **v = realloc(out->images, (out->n_images + 1) * sizeof *v);
    if (!v)
        return CAIRN_ENOMEM;
    out->images = v;
    out->images[out->n_images++] = img;
    return 0;
}

/* Whether a whole record with a valid CRC starts anywhere after off. Its
 * index must be >= expected and reachable within the bytes left, which
 * skips almost every offset before a CRC is computed. */
static int wal_valid_after(const uint8_t *img, uint64_t size, uint64_t off, uint64_t expected)
{
    uint64_t reach = (size - off) / WAL_RECORD_HEADER_BYTES + 1;
    for (uint64_t p = off + 1; p + WAL_RECORD_HEADER_BYTES <= size; p++) {
        uint64_t idx = wire_load_u64(img + p + 16);
        if (idx < expected || idx - expected > reach)
            continue;
        struct raft_entry e;
        if (wal_record_parse(img + p, size - p, &e))
            return 1;
    }
    return 0;
}

/* One segment being recovered: its file, its bytes and where it goes. */
struct wal_rseg {
    struct wal *w;
    struct wal_seg *s;
    char path[CAIRN_PATH_MAX];
    int fd;
    uint8_t *img;
    uint64_t size;
    int tail_ok; /* the open, last segment: a torn tail may be cut */
};

/* Walks the records after the header; stops at the first one that does not
 * parse (s->size is then its offset). A record that parses but breaks the
 * index or term sequence is corruption wherever it is. */
static int wal_scan(struct wal_rseg *r, uint64_t from, struct wal_entries *out, int *used)
{
    struct wal_seg *s = r->s;
    uint64_t off = WAL_SEGMENT_HEADER_BYTES, expected = s->first, term = s->prev_term;
    while (off < r->size) {
        struct raft_entry e;
        size_t len = wal_record_parse(r->img + off, r->size - off, &e);
        if (len == 0)
            break;
        if (e.index != expected || e.term < term) {
            LOG_ERROR(WAL_SUBSYS,
                      "%s: record at offset %" PRIu64 " has index %" PRIu64 " term %" PRIu64
                      ", expected index %" PRIu64 " term >= %" PRIu64,
                      r->path, off, e.index, e.term, expected, term);
            return CAIRN_CORRUPT;
        }
        if (out && from && e.index >= from) {
            int rc = entries_push(out, &e);
            if (rc)
                return rc;
            *used = 1;
        }
        term = e.term;
        expected++;
        off += len;
    }
    s->last = expected - 1;
    s->last_term = term;
    s->size = off;
    return 0;
}

/* Cuts the file at s->size and makes the cut durable. */
static int wal_cut(struct wal_rseg *r)
{
    int rc = rio_ftruncate(r->w->fs, r->fd, r->s->size);
    if (rc == 0)
        rc = rio_fdatasync(r->w->fs, r->fd);
    r->w->stats.torn_bytes += r->size - r->s->size;
    return rc;
}

/* A bad header is a crash between creating the open segment and syncing its
 * header only if it is the last segment and no record follows; the header is
 * then written again. Anything else is corruption. */
static int wal_recover_header(struct wal_rseg *r, uint64_t fallback_prev_term)
{
    struct wal_seg *s = r->s;
    int rc = wal_header_decode(r->img, r->size, r->w->cluster_id, s->first, &s->prev_term);
    if (rc == CAIRN_WRONGCLUSTER)
        LOG_ERROR(WAL_SUBSYS, "%s: segment of another cluster (ours is %016" PRIx64 ")", r->path,
                  r->w->cluster_id);
    if (rc != CAIRN_CORRUPT)
        return rc;
    if (!r->tail_ok || wal_valid_after(r->img, r->size, 0, s->first)) {
        LOG_ERROR(WAL_SUBSYS, "%s: corrupt segment header at offset 0", r->path);
        return CAIRN_CORRUPT;
    }
    LOG_WARN(WAL_SUBSYS, "%s: torn segment header (%" PRIu64 " bytes), written again", r->path,
             r->size);
    s->prev_term = fallback_prev_term;
    s->last = s->first - 1;
    s->last_term = s->prev_term;
    s->size = 0;
    rc = wal_cut(r);
    uint8_t hdr[WAL_SEGMENT_HEADER_BYTES];
    wal_header_encode(hdr, r->w->cluster_id, s->first, s->prev_term);
    if (rc == 0)
        rc = rio_pwrite(r->w->fs, r->fd, hdr, sizeof hdr, 0);
    if (rc == 0)
        rc = rio_fdatasync(r->w->fs, r->fd);
    s->size = WAL_SEGMENT_HEADER_BYTES;
    return rc ? rc : 1;
}

/* Checks one segment and returns its entries >= from. A damaged record with
 * nothing valid after it, at the end of the open segment, is a torn tail
 * and is cut; any other damage is CAIRN_CORRUPT. */
static int wal_recover_body(struct wal_rseg *r, uint64_t from, struct wal_entries *out)
{
    struct wal_seg *s = r->s;
    uint64_t name_last = s->last;
    int used = 0;
    int rc = wal_scan(r, from, out, &used);
    if (rc)
        return rc;
    if (s->size < r->size) {
        if (!r->tail_ok || wal_valid_after(r->img, r->size, s->size, s->last + 1)) {
            LOG_ERROR(WAL_SUBSYS,
                      "%s: corrupt record at offset %" PRIu64 " (index %" PRIu64
                      ") with valid data after it%s",
                      r->path, s->size, s->last + 1, r->tail_ok ? "" : " or in a sealed segment");
            return CAIRN_CORRUPT;
        }
        LOG_WARN(WAL_SUBSYS,
                 "%s: torn tail at offset %" PRIu64 " (after index %" PRIu64 "): %" PRIu64
                 " bytes cut",
                 r->path, s->size, s->last, r->size - s->size);
        rc = wal_cut(r);
        if (rc)
            return rc;
    }
    if (!s->open && s->last != name_last) {
        LOG_ERROR(WAL_SUBSYS,
                  "%s: sealed segment ends at index %" PRIu64 ", its name says %" PRIu64, r->path,
                  s->last, name_last);
        return CAIRN_CORRUPT;
    }
    if (used) {
        rc = images_push(out, r->img);
        if (rc == 0)
            r->img = NULL;
    }
    return rc;
}

static int wal_recover_seg(struct wal *w, size_t i, uint64_t from, uint64_t fallback_prev_term,
                           struct wal_entries *out)
{
    struct wal_rseg r = {.w = w, .s = &w->segs[i], .fd = -1};
    r.tail_ok = r.s->open && i + 1 == w->n_segs;
    int rc = wal_seg_path(w, r.s, r.path, sizeof r.path);
    if (rc == 0)
        rc = rio_open(w->fs, r.path, 0, &r.fd);
    if (rc == 0)
        rc = rio_fsize(w->fs, r.fd, &r.size);
    if (rc == 0 && r.size > CAIRN_WAL_SEGMENT_BYTES_MAX) {
        LOG_ERROR(WAL_SUBSYS, "%s: %" PRIu64 " bytes, more than any segment", r.path, r.size);
        rc = CAIRN_CORRUPT;
    }
    if (rc == 0 && !(r.img = malloc(r.size ? r.size : 1)))
        rc = CAIRN_ENOMEM;
    size_t got = 0;
    if (rc == 0)
        rc = rio_pread(w->fs, r.fd, r.img, r.size, 0, &got);
    if (rc == 0 && got != r.size)
        rc = CAIRN_EIO;
    if (rc == 0)
        rc = wal_recover_header(&r, fallback_prev_term);
    if (rc == 0)
        rc = wal_recover_body(&r, from, out);
    if (r.fd >= 0)
        rio_close(w->fs, r.fd);
    free(r.img);
    return rc < 0 ? rc : 0;
}

/* Segments must continue each other: no gap, no overlap, and each header's
 * previous term is the term the segment before it ends with. */
static int wal_check_link(const struct wal *w, const struct wal_seg *a, const struct wal_seg *b)
{
    if (b->first == a->last + 1 && b->prev_term == a->last_term)
        return 0;
    LOG_ERROR(WAL_SUBSYS,
              "%s: segment %016" PRIx64 " (prev term %" PRIu64 ") does not follow the one "
              "ending at index %" PRIu64 " term %" PRIu64,
              w->dir, b->first, b->prev_term, a->last, a->last_term);
    return CAIRN_CORRUPT;
}

static int wal_recover_all(struct wal *w, const struct wal_options *opt, struct wal_entries *out)
{
    int rc = wal_list_segments(w);
    for (size_t i = 0; rc == 0 && i < w->n_segs; i++) {
        uint64_t prev_term = i > 0 ? w->segs[i - 1].last_term : opt->start_term;
        rc = wal_recover_seg(w, i, opt->from_index, prev_term, out);
        if (rc == 0 && i > 0)
            rc = wal_check_link(w, &w->segs[i - 1], &w->segs[i]);
    }
    if (rc)
        return rc;
    /* The log continues in the open segment, or in a new one. */
    if (w->n_segs == 0)
        return wal_seg_create(w, opt->start_index, opt->start_term);
    struct wal_seg *s = wal_open_seg(w);
    if (!s->open)
        return wal_seg_create(w, s->last + 1, s->last_term);
    char path[CAIRN_PATH_MAX];
    rc = wal_seg_path(w, s, path, sizeof path);
    return rc ? rc : rio_open(w->fs, path, 0, &w->fd);
}

static int wal_check_options(const struct wal_options *opt, uint64_t segment_bytes)
{
    if (opt->cluster_id == 0 || opt->start_index == 0)
        return CAIRN_EINVAL;
    if (segment_bytes < WAL_SEGMENT_BYTES_MIN ||
        segment_bytes > CAIRN_WAL_SEGMENT_BYTES_MAX - CAIRN_RAFT_PROPOSAL_MAX -
                            WAL_RECORD_HEADER_BYTES - WAL_SEGMENT_HEADER_BYTES)
        return CAIRN_EINVAL;
    return 0;
}

/* What was read back may sit in the page cache only (the previous process
 * may have died before its sync): sync it before calling it durable. */
int wal_open(const char *dir, const struct wal_options *opt, struct wal **out,
             struct wal_entries *entries)
{
    if (entries)
        memset(entries, 0, sizeof *entries);
    uint64_t segment_bytes = opt->segment_bytes ? opt->segment_bytes : CAIRN_WAL_SEGMENT_BYTES;
    int rc = wal_check_options(opt, segment_bytes);
    if (rc)
        return rc;
    struct wal *w = calloc(1, sizeof *w);
    if (!w)
        return CAIRN_ENOMEM;
    w->fs = opt->fs ? opt->fs : raftio_fs_posix();
    w->cluster_id = opt->cluster_id;
    w->segment_bytes = segment_bytes;
    w->fd = -1;
    buf_init(&w->wbuf, 0);
    int n = snprintf(w->dir, sizeof w->dir, "%s", dir);
    rc = n < 0 || (size_t)n >= sizeof w->dir ? CAIRN_ENAMETOOLONG : 0;
    if (rc == 0)
        rc = wal_recover_all(w, opt, entries);
    if (rc == 0)
        rc = rio_fdatasync(w->fs, w->fd);
    if (rc == 0)
        rc = rio_sync_dir(w->fs, w->dir);
    if (rc) {
        wal_close(w);
        if (entries)
            wal_entries_free(entries);
        return rc;
    }
    w->unsynced = 0;
    w->dir_dirty = 0;
    w->durable = wal_last_index(w);
    w->stats.segments = w->n_segs;
    *out = w;
    return 0;
}

void wal_entries_free(struct wal_entries *e)
{
    for (size_t i = 0; i < e->n_images; i++)
        free(e->images[i]);
    free(e->images);
    free(e->v);
    memset(e, 0, sizeof *e);
}
