/* test_wal.c: unit tests of the write-ahead log (src/raftio/wal.h), on real
 * files under the test directory, mostly through the fault-injecting seam. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/log.h"
#include "raftio/faultfs.h"
#include "raftio/wal.h"
#include "test.h"

#define CLUSTER 0xC1u

/* --- a model of the log: what must be recovered --------------------------- */

struct model {
    struct raft_entry *v; /* v[i] has index first + i */
    size_t n;
    size_t cap;
    uint64_t first;
};

static void model_init(struct model *m, uint64_t first)
{
    memset(m, 0, sizeof *m);
    m->first = first;
}

static uint64_t model_last(const struct model *m) { return m->first + m->n - 1; }

static void model_truncate(struct model *m, uint64_t index)
{
    while (m->n > 0 && model_last(m) >= index) {
        m->n--;
        free(m->v[m->n].data);
    }
}

static void model_free(struct model *m)
{
    model_truncate(m, 0);
    free(m->v);
}

/* Appends copies of e[0..n), replacing a conflicting suffix as the WAL does. */
static void model_append(struct model *m, const struct raft_entry *e, size_t n)
{
    model_truncate(m, e[0].index);
    CHECK_EQ_U64(e[0].index, m->first + m->n);
    for (size_t i = 0; i < n; i++) {
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 64;
            m->v = realloc(m->v, m->cap * sizeof *m->v);
            CHECK(m->v);
        }
        struct raft_entry c = e[i];
        c.data = NULL;
        if (c.len) {
            c.data = malloc(c.len);
            CHECK(c.data);
            memcpy(c.data, e[i].data, c.len);
        }
        m->v[m->n++] = c;
    }
}

static const struct raft_entry *model_at(const struct model *m, uint64_t index)
{
    CHECK(index >= m->first && index <= model_last(m));
    return &m->v[index - m->first];
}

/* n entries from first, term `term`, random type and data (0..max_len). */
static struct raft_entry *gen_batch(uint64_t first, size_t n, uint64_t term, uint32_t max_len)
{
    struct raft_entry *e = calloc(n, sizeof *e);
    CHECK(e);
    for (size_t i = 0; i < n; i++) {
        e[i].index = first + i;
        e[i].term = term;
        e[i].type = (uint8_t)prng_below(test_rng(), 2);
        e[i].len = (uint32_t)prng_below(test_rng(), max_len + 1);
        if (e[i].len) {
            e[i].data = malloc(e[i].len);
            CHECK(e[i].data);
            prng_fill(test_rng(), e[i].data, e[i].len);
        }
    }
    return e;
}

static void batch_free(struct raft_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].data);
    free(e);
}

static void check_entry(const struct raft_entry *got, const struct raft_entry *want)
{
    CHECK_EQ_U64(got->index, want->index);
    CHECK_EQ_U64(got->term, want->term);
    CHECK_EQ(got->type, want->type);
    CHECK_EQ(got->len, want->len);
    if (want->len)
        CHECK_MEM_EQ(got->data, want->data, want->len);
}

/* The recovered entries are exactly the model's from `from` to `last`. */
static void check_recovered(const struct wal_entries *got, const struct model *m, uint64_t from,
                            uint64_t last)
{
    CHECK_EQ_U64(got->n, last >= from ? last - from + 1 : 0);
    for (size_t i = 0; i < got->n; i++)
        check_entry(&got->v[i], model_at(m, from + i));
}

/* Appends a random batch at the end of the model and of the wal. */
static void append_random(struct wal *w, struct model *m, size_t n, uint64_t term, uint32_t max_len)
{
    struct raft_entry *e = gen_batch(m->first + m->n, n, term, max_len);
    CHECK_OK(wal_append(w, e, n));
    model_append(m, e, n);
    batch_free(e, n);
}

/* The log lives in <tmpdir>/wal; the test directory also holds a log
 * capture file. */
static const char *wdir(void)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/wal", test_tmpdir());
    struct stat st;
    if (stat(dir, &st) != 0)
        CHECK_EQ(mkdir(dir, 0755), 0);
    return dir;
}

static struct wal_options opts(struct raftio_fs *fs, uint64_t segment_bytes, uint64_t from)
{
    return (struct wal_options){.fs = fs,
                                .cluster_id = CLUSTER,
                                .segment_bytes = segment_bytes,
                                .start_index = 1,
                                .start_term = 0,
                                .from_index = from};
}

static int wopen(struct raftio_fs *fs, uint64_t segment_bytes, struct wal **w,
                 struct wal_entries *e)
{
    struct wal_options o = opts(fs, segment_bytes, 1);
    return wal_open(wdir(), &o, w, e);
}

/* Reopens the wal and checks it recovered exactly model[first..last]. */
static struct wal *reopen_check(struct raftio_fs *fs, uint64_t segment_bytes, const struct model *m,
                                uint64_t last)
{
    struct wal *w;
    struct wal_entries e;
    CHECK_OK(wopen(fs, segment_bytes, &w, &e));
    check_recovered(&e, m, m->first, last);
    CHECK_EQ_U64(wal_last_index(w), last);
    CHECK_EQ_U64(wal_durable_index(w), last);
    wal_entries_free(&e);
    return w;
}

/* --- files of the test directory ----------------------------------------- */

struct saved_file {
    char name[64];
    uint8_t *data;
    size_t len;
};

static size_t list_names(char names[][64], size_t max)
{
    DIR *d = opendir(wdir());
    CHECK(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        size_t len = strlen(de->d_name);
        CHECK(n < max && len < 64);
        memcpy(names[n++], de->d_name, len + 1);
    }
    closedir(d);
    /* Sorted, so "the last segment" means the same on every run. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[64];
            memcpy(t, names[j], 64);
            memcpy(names[j], names[j - 1], 64);
            memcpy(names[j - 1], t, 64);
        }
    return n;
}

static void file_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", wdir(), name);
}

static uint8_t *read_whole(const char *name, size_t *len)
{
    char path[512];
    file_path(path, sizeof path, name);
    uint8_t *data;
    CHECK_OK(rio_read_file(raftio_fs_posix(), path, 1u << 30, &data, len));
    return data;
}

static void write_whole(const char *name, const uint8_t *data, size_t len)
{
    char path[512];
    file_path(path, sizeof path, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, data, len), (long long)len);
    close(fd);
}

static size_t save_dir(struct saved_file *out, size_t max)
{
    char names[64][64];
    size_t n = list_names(names, 64);
    CHECK(n <= max);
    for (size_t i = 0; i < n; i++) {
        memcpy(out[i].name, names[i], 64);
        out[i].data = read_whole(names[i], &out[i].len);
    }
    return n;
}

/* Puts the directory back as saved: extra files removed, saved ones rewritten. */
static void restore_dir(const struct saved_file *saved, size_t n)
{
    char names[64][64];
    size_t k = list_names(names, 64);
    for (size_t i = 0; i < k; i++) {
        char path[512];
        file_path(path, sizeof path, names[i]);
        CHECK_EQ(unlink(path), 0);
    }
    for (size_t i = 0; i < n; i++)
        write_whole(saved[i].name, saved[i].data, saved[i].len);
}

static void saved_free(struct saved_file *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].data);
}

/* Offsets at which each record of a segment image ends. */
static size_t record_ends(const uint8_t *img, size_t len, uint64_t *ends, size_t max)
{
    size_t n = 0;
    uint64_t off = WAL_SEGMENT_HEADER_BYTES;
    while (off + WAL_RECORD_HEADER_BYTES <= len) {
        uint32_t dlen = (uint32_t)img[off + 4] | (uint32_t)img[off + 5] << 8 |
                        (uint32_t)img[off + 6] << 16 | (uint32_t)img[off + 7] << 24;
        off += WAL_RECORD_HEADER_BYTES + dlen;
        CHECK(off <= len && n < max);
        ends[n++] = off;
    }
    CHECK_EQ_U64(off, len);
    return n;
}

/* Log lines go to a file so tests can check what recovery said. */
static int log_capture_begin(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/log", test_tmpdir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    cairn_log_set_fd(fd);
    return fd;
}

static int log_capture_has(int fd, const char *needle)
{
    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    CHECK(n >= 0);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static void log_capture_end(int fd)
{
    cairn_log_set_fd(2);
    close(fd);
}

/* --- tests ------------------------------------------------------------------ */

TEST_T(wal_roundtrip_rollover_restart, 60)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct model m;
    model_init(&m, 1);
    struct wal *w;
    struct wal_entries e;
    CHECK_OK(wopen(fs, 1024, &w, &e));
    CHECK_EQ(e.n, 0);
    CHECK_EQ_U64(wal_first_index(w), 1);
    CHECK_EQ_U64(wal_last_index(w), 0);
    wal_entries_free(&e);
    uint64_t term = 1;
    for (int round = 0; round < 4; round++) {
        for (int b = 0; b < 40; b++) {
            term += prng_chance(test_rng(), 1, 10);
            append_random(w, &m, 1 + prng_below(test_rng(), 12), term, 300);
        }
        CHECK_OK(wal_sync(w));
        CHECK_EQ_U64(wal_durable_index(w), model_last(&m));
        struct wal_stats st;
        wal_get_stats(w, &st);
        CHECK(st.segments > 5);
        wal_close(w);
        w = reopen_check(fs, 1024, &m, model_last(&m));
        CHECK_EQ_U64(wal_last_term(w), term);
    }
    /* A record larger than the segment size gets a segment of its own. */
    append_random(w, &m, 1, term, 0);
    struct raft_entry big = {.index = model_last(&m) + 1, .term = term, .len = 5000};
    big.data = calloc(1, big.len);
    big.data[4999] = 7;
    CHECK_OK(wal_append(w, &big, 1));
    model_append(&m, &big, 1);
    free(big.data);
    append_random(w, &m, 3, term, 10);
    CHECK_OK(wal_sync(w));
    wal_close(w);
    w = reopen_check(fs, 1024, &m, model_last(&m));
    /* A different segment size on reopen reads the same log. */
    wal_close(w);
    w = reopen_check(fs, 256, &m, model_last(&m));
    wal_close(w);
    model_free(&m);
    faultfs_free(ff);
}

TEST_T(wal_posix_roundtrip, 30)
{
    /* The real seam: real fdatasync, real rename. */
    struct raftio_fs *fs = raftio_fs_posix();
    struct model m;
    model_init(&m, 1);
    struct wal *w;
    struct wal_entries e;
    CHECK_OK(wopen(fs, 4096, &w, &e));
    wal_entries_free(&e);
    for (int b = 0; b < 30; b++)
        append_random(w, &m, 1 + prng_below(test_rng(), 8), 1 + (uint64_t)b / 10, 400);
    CHECK_OK(wal_sync(w));
    wal_close(w);
    w = reopen_check(fs, 4096, &m, model_last(&m));
    wal_close(w);
    model_free(&m);
}

TEST_T(wal_conflict_truncation, 60)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct model m;
    model_init(&m, 1);
    struct wal *w;
    struct wal_entries e;
    CHECK_OK(wopen(fs, 700, &w, &e));
    wal_entries_free(&e);
    uint64_t term = 1;
    append_random(w, &m, 50, term, 100);
    CHECK_OK(wal_sync(w));
    for (int round = 0; round < 60; round++) {
        /* Overwrite from a random index (sometimes the very first, sometimes
         * inside a sealed segment, sometimes in the open one). */
        uint64_t k = round % 10 == 0 ? 1 : 1 + prng_below(test_rng(), model_last(&m));
        size_t n = 1 + prng_below(test_rng(), 30);
        term++;
        struct raft_entry *b = gen_batch(k, n, term, 100);
        CHECK_OK(wal_append(w, b, n));
        model_append(&m, b, n);
        batch_free(b, n);
        CHECK_EQ_U64(wal_last_index(w), model_last(&m));
        CHECK_EQ_U64(wal_last_term(w), term);
        /* Durable: below the cut, or new entries synced by a rollover. */
        CHECK(wal_durable_index(w) <= wal_last_index(w));
        if (prng_chance(test_rng(), 1, 2))
            append_random(w, &m, 1 + prng_below(test_rng(), 20), term, 100);
        CHECK_OK(wal_sync(w));
        if (round % 5 == 0) {
            wal_close(w);
            w = reopen_check(fs, 700, &m, model_last(&m));
        }
    }
    wal_close(w);
    w = reopen_check(fs, 700, &m, model_last(&m));
    wal_close(w);
    model_free(&m);
    faultfs_free(ff);
}

/* Builds a synced log whose last (open) segment holds `n_last` records after
 * at least one sealed segment, and returns the open segment's name. */
static void build_two_segment_log(struct raftio_fs *fs, struct model *m, size_t n_last,
                                  char open_name[64])
{
    struct wal *w;
    struct wal_entries e;
    CHECK_OK(wopen(fs, 600, &w, &e));
    wal_entries_free(&e);
    while (1) {
        append_random(w, m, 1, 3, 60);
        struct wal_stats st;
        wal_get_stats(w, &st);
        if (st.segments >= 2)
            break;
    }
    /* The rollover left one record in the new open segment. */
    append_random(w, m, n_last - 1, 4, 60);
    CHECK_OK(wal_sync(w));
    wal_close(w);
    char names[64][64];
    size_t k = list_names(names, 64);
    CHECK_EQ(k, 2);
    CHECK(strstr(names[1], "-open"));
    memcpy(open_name, names[1], 64);
}

TEST_T(wal_torn_tail_every_offset, 120)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct model m;
    model_init(&m, 1);
    char open_name[64];
    build_two_segment_log(fs, &m, 5, open_name);
    struct saved_file saved[8];
    size_t n_saved = save_dir(saved, 8);
    size_t len;
    uint8_t *img = read_whole(open_name, &len);
    uint64_t ends[16];
    size_t n_rec = record_ends(img, len, ends, 16);
    CHECK_EQ(n_rec, 5);
    uint64_t first_in_open = model_last(&m) - n_rec + 1;
    /* Cut the open segment at every byte offset, header included. */
    for (size_t cut = 0; cut <= len; cut++) {
        restore_dir(saved, n_saved);
        write_whole(open_name, img, cut);
        size_t whole = 0;
        while (whole < n_rec && ends[whole] <= cut)
            whole++;
        uint64_t want_last = first_in_open - 1 + whole;
        struct wal *w = reopen_check(fs, 600, &m, want_last);
        struct wal_stats st;
        wal_get_stats(w, &st);
        /* What was cut: the partial record, or a partial header whole. */
        uint64_t kept = whole ? ends[whole - 1] : WAL_SEGMENT_HEADER_BYTES;
        CHECK_EQ_U64(st.torn_bytes, cut >= WAL_SEGMENT_HEADER_BYTES ? cut - kept : cut);
        /* The log takes new appends after the cut, and keeps them. */
        struct raft_entry *b = gen_batch(want_last + 1, 2, 5, 60);
        CHECK_OK(wal_append(w, b, 2));
        CHECK_OK(wal_sync(w));
        wal_close(w);
        struct model m2;
        model_init(&m2, 1);
        for (uint64_t i = 1; i <= want_last; i++)
            model_append(&m2, model_at(&m, i), 1);
        model_append(&m2, b, 2);
        batch_free(b, 2);
        w = reopen_check(fs, 600, &m2, want_last + 2);
        wal_close(w);
        model_free(&m2);
    }
    free(img);
    saved_free(saved, n_saved);
    model_free(&m);
    faultfs_free(ff);
}

TEST_T(wal_flip_bits_last_record, 120)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct model m;
    model_init(&m, 1);
    char open_name[64];
    build_two_segment_log(fs, &m, 4, open_name);
    struct saved_file saved[8];
    size_t n_saved = save_dir(saved, 8);
    size_t len;
    uint8_t *img = read_whole(open_name, &len);
    uint64_t ends[16];
    size_t n_rec = record_ends(img, len, ends, 16);
    uint64_t start = ends[n_rec - 2];
    /* Every bit of the last record: the record is cut, the rest stays. */
    for (uint64_t bit = start * 8; bit < len * 8; bit++) {
        restore_dir(saved, n_saved);
        char path[512];
        file_path(path, sizeof path, open_name);
        CHECK_OK(faultfs_corrupt(path, bit / 8, (uint8_t)(1u << (bit % 8))));
        struct wal *w = reopen_check(fs, 600, &m, model_last(&m) - 1);
        struct wal_stats st;
        wal_get_stats(w, &st);
        CHECK_EQ_U64(st.torn_bytes, len - start);
        wal_close(w);
    }
    /* Every byte of the last record replaced by a random other value. */
    for (uint64_t off = start; off < len; off++) {
        restore_dir(saved, n_saved);
        char path[512];
        file_path(path, sizeof path, open_name);
        CHECK_OK(faultfs_corrupt(path, off, (uint8_t)(1 + prng_below(test_rng(), 255))));
        struct wal *w = reopen_check(fs, 600, &m, model_last(&m) - 1);
        wal_close(w);
    }
    free(img);
    saved_free(saved, n_saved);
    model_free(&m);
    faultfs_free(ff);
}

TEST_T(wal_corrupt_middle_is_loud, 60)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct model m;
    model_init(&m, 1);
    char open_name[64];
    build_two_segment_log(fs, &m, 4, open_name);
    struct saved_file saved[8];
    size_t n_saved = save_dir(saved, 8);
    char names[64][64];
    CHECK_EQ(list_names(names, 64), 2);
    const char *sealed = names[0];
    CHECK(!strstr(sealed, "-open"));
    size_t len;
    uint8_t *img = read_whole(sealed, &len);
    uint64_t ends[64];
    size_t n_rec = record_ends(img, len, ends, 64);
    /* A byte in every record of the sealed segment, the last one included:
     * damage in a sealed segment is never a torn tail. */
    for (size_t r = 0; r < n_rec; r++) {
        restore_dir(saved, n_saved);
        uint64_t from = r ? ends[r - 1] : WAL_SEGMENT_HEADER_BYTES;
        uint64_t off = from + prng_below(test_rng(), ends[r] - from);
        char path[512], needle[128];
        file_path(path, sizeof path, sealed);
        CHECK_OK(faultfs_corrupt(path, off, 0x5a));
        int lfd = log_capture_begin();
        struct wal *w;
        struct wal_entries e;
        CHECK_EQ(wopen(fs, 600, &w, &e), CAIRN_CORRUPT);
        /* The log line names the file and the offset of the bad record. */
        snprintf(needle, sizeof needle, "%s: corrupt record at offset %llu", sealed,
                 (unsigned long long)from);
        CHECKF(log_capture_has(lfd, needle), "no log line with \"%s\"", needle);
        log_capture_end(lfd);
    }
    /* A bad record in the open segment followed by valid ones. */
    restore_dir(saved, n_saved);
    uint8_t *oimg = read_whole(open_name, &len);
    n_rec = record_ends(oimg, len, ends, 64);
    CHECK(n_rec >= 3);
    char path[512];
    file_path(path, sizeof path, open_name);
    CHECK_OK(faultfs_corrupt(path, ends[0] + 3, 0x01));
    struct wal *w;
    struct wal_entries e;
    CHECK_EQ(wopen(fs, 600, &w, &e), CAIRN_CORRUPT);
    /* The segment header of a sealed segment. */
    restore_dir(saved, n_saved);
    file_path(path, sizeof path, sealed);
    CHECK_OK(faultfs_corrupt(path, 20, 0x10));
    CHECK_EQ(wopen(fs, 600, &w, &e), CAIRN_CORRUPT);
    /* Nothing was changed by the refused opens: the intact log still loads. */
    restore_dir(saved, n_saved);
    w = reopen_check(fs, 600, &m, model_last(&m));
    wal_close(w);
    free(img);
    free(oimg);
    saved_free(saved, n_saved);
    model_free(&m);
    faultfs_free(ff);
}

TEST_T(wal_segment_gap_or_overlap_is_corrupt, 30)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct model m;
    model_init(&m, 1);
    struct wal *w;
    struct wal_entries e;
    CHECK_OK(wopen(fs, 300, &w, &e));
    wal_entries_free(&e);
    for (int i = 0; i < 40; i++)
        append_random(w, &m, 1, 1, 30);
    CHECK_OK(wal_sync(w));
    wal_close(w);
    struct saved_file saved[64];
    size_t n_saved = save_dir(saved, 64);
    CHECK(n_saved >= 4);
    /* A sealed segment missing between two others: a gap. */
    char path[512];
    file_path(path, sizeof path, saved[1].name);
    CHECK_EQ(unlink(path), 0);
    CHECK_EQ(wopen(fs, 300, &w, &e), CAIRN_CORRUPT);
    /* A sealed segment whose name claims more than it holds. */
    restore_dir(saved, n_saved);
    char longer[64];
    memcpy(longer, saved[0].name, 64);
    longer[32] = longer[32] == 'f' ? '0' : 'f';
    write_whole(longer, saved[0].data, saved[0].len);
    file_path(path, sizeof path, saved[0].name);
    CHECK_EQ(unlink(path), 0);
    CHECK_EQ(wopen(fs, 300, &w, &e), CAIRN_CORRUPT);
    /* An open segment that is not the last one. */
    restore_dir(saved, n_saved);
    char open_early[64];
    memcpy(open_early, saved[1].name, 17);
    memcpy(open_early + 17, "open", 5);
    write_whole(open_early, saved[1].data, saved[1].len);
    file_path(path, sizeof path, saved[1].name);
    CHECK_EQ(unlink(path), 0);
    CHECK_EQ(wopen(fs, 300, &w, &e), CAIRN_CORRUPT);
    restore_dir(saved, n_saved);
    w = reopen_check(fs, 300, &m, model_last(&m));
    wal_close(w);
    saved_free(saved, n_saved);
    model_free(&m);
    faultfs_free(ff);
}

/* Random appends, truncations, syncs and crashes: after each crash the log
 * holds everything synced, and beyond it only whole entries of what was
 * appended (a prefix of the model), never a damaged one. */
TEST_T(wal_crash_loses_only_unsynced, 120)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct model m;
    model_init(&m, 1);
    struct wal *w;
    struct wal_entries e;
    CHECK_OK(wopen(fs, 900, &w, &e));
    wal_entries_free(&e);
    uint64_t term = 1;
    int torn_seen = 0, beyond_seen = 0;
    for (int crash = 0; crash < 150; crash++) {
        int ops = 1 + (int)prng_below(test_rng(), 12);
        for (int i = 0; i < ops; i++) {
            if (model_last(&m) > 0 && prng_chance(test_rng(), 1, 8)) {
                uint64_t k = 1 + prng_below(test_rng(), model_last(&m));
                size_t n = 1 + prng_below(test_rng(), 5);
                struct raft_entry *b = gen_batch(k, n, ++term, 80);
                CHECK_OK(wal_append(w, b, n));
                model_append(&m, b, n);
                batch_free(b, n);
            } else {
                append_random(w, &m, 1 + prng_below(test_rng(), 10), term, 80);
            }
            if (prng_chance(test_rng(), 1, 3))
                CHECK_OK(wal_sync(w));
        }
        uint64_t durable = wal_durable_index(w);
        uint64_t appended = model_last(&m);
        enum faultfs_crash_mode mode =
            crash % 2 ? FAULTFS_CRASH_RANDOM : FAULTFS_CRASH_LOSE_UNSYNCED;
        faultfs_crash(ff, mode, test_rng());
        wal_close(w);
        CHECK_OK(wopen(fs, 900, &w, &e));
        uint64_t got = wal_last_index(w);
        CHECKF(got >= durable && got <= appended,
               "crash %d: recovered up to %llu, durable %llu, appended %llu", crash,
               (unsigned long long)got, (unsigned long long)durable, (unsigned long long)appended);
        if (mode == FAULTFS_CRASH_LOSE_UNSYNCED)
            CHECK_EQ_U64(got, durable);
        struct wal_stats st;
        wal_get_stats(w, &st);
        torn_seen += st.torn_bytes > 0;
        beyond_seen += got > durable;
        check_recovered(&e, &m, 1, got);
        wal_entries_free(&e);
        model_truncate(&m, got + 1);
        term = CAIRN_MAX(term, wal_last_term(w));
    }
    /* The random crashes did tear records and keep unsynced ones. */
    CHECK(torn_seen > 0 && beyond_seen > 0);
    wal_close(w);
    model_free(&m);
    faultfs_free(ff);
}

TEST_T(wal_group_commit_one_fdatasync, 30)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct model m;
    model_init(&m, 1);
    struct wal *w;
    struct wal_entries e;
    CHECK_OK(wopen(fs, 0, &w, &e));
    wal_entries_free(&e);
    uint64_t before = faultfs_count(ff, FAULTFS_FDATASYNC);
    for (int i = 0; i < 100; i++)
        append_random(w, &m, 1 + prng_below(test_rng(), 4), 1, 100);
    CHECK_EQ_U64(wal_durable_index(w), 0);
    CHECK_OK(wal_sync(w));
    CHECK_EQ_U64(wal_durable_index(w), model_last(&m));
    /* 100 batches, one fdatasync; a sync with nothing pending does none. */
    CHECK_EQ_U64(faultfs_count(ff, FAULTFS_FDATASYNC) - before, 1);
    CHECK_OK(wal_sync(w));
    CHECK_EQ_U64(faultfs_count(ff, FAULTFS_FDATASYNC) - before, 1);
    struct wal_stats st;
    wal_get_stats(w, &st);
    CHECK_EQ_U64(st.syncs, 1);
    CHECK_EQ_U64(faultfs_unsynced(ff), 0);
    wal_close(w);
    model_free(&m);
    faultfs_free(ff);
}

/* An injected error surfaces, fails the wal, and loses nothing synced. */
static void io_error_case(enum faultfs_op op, int err, int when)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct model m;
    model_init(&m, 1);
    struct wal *w;
    struct wal_entries e;
    CHECK_OK(wopen(fs, 500, &w, &e));
    wal_entries_free(&e);
    for (int i = 0; i < 20; i++)
        append_random(w, &m, 3, 1, 50);
    CHECK_OK(wal_sync(w));
    uint64_t durable = wal_durable_index(w);
    faultfs_fail(ff, op, (uint32_t)when, err);
    int rc = 0;
    for (int i = 0; i < 40 && rc == 0; i++) {
        struct raft_entry *b = gen_batch(model_last(&m) + 1, 3, 1, 50);
        rc = wal_append(w, b, 3);
        /* A failed append may still have made part of its batch durable (a
         * rollover syncs), so the model keeps it as what may be recovered. */
        model_append(&m, b, 3);
        if (rc == 0) {
            if (i % 4 == 3)
                rc = wal_sync(w);
            if (rc == 0 && i % 4 == 3)
                durable = wal_durable_index(w);
        }
        batch_free(b, 3);
    }
    CHECK_EQ(rc, err);
    CHECK_EQ(wal_error(w), err);
    /* Failed for good: no append, no sync. */
    struct raft_entry *b = gen_batch(wal_last_index(w) + 1, 1, 1, 10);
    CHECK_EQ(wal_append(w, b, 1), err);
    CHECK_EQ(wal_sync(w), err);
    batch_free(b, 1);
    faultfs_clear(ff);
    faultfs_crash(ff, FAULTFS_CRASH_LOSE_UNSYNCED, NULL);
    wal_close(w);
    CHECK_OK(wopen(fs, 500, &w, &e));
    CHECK(wal_last_index(w) >= durable);
    check_recovered(&e, &m, 1, wal_last_index(w));
    wal_entries_free(&e);
    wal_close(w);
    model_free(&m);
    faultfs_free(ff);
}

TEST_T(wal_io_errors_lose_nothing_durable, 60)
{
    io_error_case(FAULTFS_PWRITE, CAIRN_ENOSPC, 5);
    io_error_case(FAULTFS_PWRITE, CAIRN_ENOSPC, 31);
    io_error_case(FAULTFS_FDATASYNC, CAIRN_EIO, 2);
    io_error_case(FAULTFS_RENAME, CAIRN_EIO, 1);
    io_error_case(FAULTFS_SYNC_DIR, CAIRN_EIO, 1);
    io_error_case(FAULTFS_OPEN, CAIRN_EMFILE, 1);
}

TEST(wal_wrong_cluster_refused)
{
    struct raftio_fs *fs = raftio_fs_posix();
    struct model m;
    model_init(&m, 1);
    struct wal *w;
    struct wal_entries e;
    CHECK_OK(wopen(fs, 0, &w, &e));
    append_random(w, &m, 3, 1, 10);
    CHECK_OK(wal_sync(w));
    wal_close(w);
    struct wal_options o = opts(fs, 0, 1);
    o.cluster_id = CLUSTER + 1;
    CHECK_EQ(wal_open(wdir(), &o, &w, &e), CAIRN_WRONGCLUSTER);
    CHECK_EQ(e.n, 0);
    o.cluster_id = 0;
    CHECK_EQ(wal_open(wdir(), &o, &w, &e), CAIRN_EINVAL);
    w = reopen_check(fs, 0, &m, 3);
    wal_close(w);
    model_free(&m);
}

TEST_T(wal_compact_and_reset, 30)
{
    struct faultfs *ff;
    CHECK_OK(faultfs_new(&ff));
    struct raftio_fs *fs = faultfs_fs(ff);
    struct model m;
    model_init(&m, 1);
    struct wal *w;
    struct wal_entries e;
    CHECK_OK(wopen(fs, 400, &w, &e));
    wal_entries_free(&e);
    for (int i = 0; i < 30; i++)
        append_random(w, &m, 2, 2, 40);
    CHECK_OK(wal_sync(w));
    struct wal_stats st;
    wal_get_stats(w, &st);
    uint64_t segs = st.segments;
    CHECK(segs >= 4);
    /* Nothing is wholly covered by index 1 (unless one record per segment). */
    CHECK_OK(wal_compact(w, 0));
    CHECK_EQ_U64(wal_first_index(w), 1);
    uint64_t cut = model_last(&m) / 2;
    CHECK_OK(wal_compact(w, cut));
    uint64_t first = wal_first_index(w);
    CHECK(first > 1 && first <= cut + 1);
    wal_get_stats(w, &st);
    CHECK(st.segments < segs);
    CHECK_OK(wal_sync(w));
    wal_close(w);
    struct wal_options o = opts(fs, 400, first);
    CHECK_OK(wal_open(wdir(), &o, &w, &e));
    CHECK_EQ_U64(wal_first_index(w), first);
    check_recovered(&e, &m, first, model_last(&m));
    wal_entries_free(&e);
    /* Compaction never removes the open segment. */
    CHECK_OK(wal_compact(w, model_last(&m) + 100));
    CHECK_EQ_U64(wal_last_index(w), model_last(&m));
    /* Reset: an empty log continuing after a snapshot at 1000, term 9. */
    CHECK_OK(wal_reset(w, 1001, 9));
    CHECK_EQ_U64(wal_first_index(w), 1001);
    CHECK_EQ_U64(wal_last_index(w), 1000);
    CHECK_EQ_U64(wal_last_term(w), 9);
    CHECK_EQ_U64(wal_durable_index(w), 1000);
    struct model m2;
    model_init(&m2, 1001);
    append_random(w, &m2, 5, 9, 40);
    CHECK_OK(wal_sync(w));
    wal_close(w);
    o = opts(fs, 400, 1001);
    CHECK_OK(wal_open(wdir(), &o, &w, &e));
    CHECK_EQ_U64(wal_first_index(w), 1001);
    check_recovered(&e, &m2, 1001, 1005);
    wal_entries_free(&e);
    wal_close(w);
    /* A crash right after the reset keeps the reset. */
    CHECK_OK(wal_open(wdir(), &o, &w, &e));
    wal_entries_free(&e);
    CHECK_OK(wal_reset(w, 2001, 10));
    faultfs_crash(ff, FAULTFS_CRASH_RANDOM, test_rng());
    wal_close(w);
    CHECK_OK(wal_open(wdir(), &o, &w, &e));
    CHECK_EQ_U64(wal_first_index(w), 2001);
    CHECK_EQ(e.n, 0);
    wal_entries_free(&e);
    wal_close(w);
    model_free(&m);
    model_free(&m2);
    faultfs_free(ff);
}

TEST(wal_oversized_entry_refused)
{
    struct wal *w;
    struct wal_entries e;
    CHECK_OK(wopen(raftio_fs_posix(), 0, &w, &e));
    struct raft_entry big = {.index = 1, .term = 1, .len = CAIRN_RAFT_PROPOSAL_MAX + 1};
    big.data = calloc(1, big.len);
    CHECK_EQ(wal_append(w, &big, 1), CAIRN_TOOBIG);
    CHECK_OK(wal_error(w));
    big.len = CAIRN_RAFT_PROPOSAL_MAX;
    CHECK_OK(wal_append(w, &big, 1));
    CHECK_OK(wal_sync(w));
    free(big.data);
    wal_close(w);
    CHECK_OK(wopen(raftio_fs_posix(), 0, &w, &e));
    CHECK_EQ(e.n, 1);
    CHECK_EQ(e.v[0].len, CAIRN_RAFT_PROPOSAL_MAX);
    wal_entries_free(&e);
    wal_close(w);
}
