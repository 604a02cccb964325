/* test_posix_race.c: namespace operations racing between processes on one
 * mount, where atomicity shows: O_CREAT|O_EXCL and mkdir of one name have
 * exactly one winner, concurrent renames onto one name leave exactly one
 * file and lose none, a name renamed over again and again never goes
 * missing for a reader, and a directory listed while its entries change
 * still returns every untouched entry exactly once. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx.h"
#include "mount_harness.h"

enum { RACERS = 6, NAMES = 20 };

struct racer {
    int id;
    int mode; /* 0: create O_EXCL, 1: mkdir, 2: rename own file onto "target<i>"
               */
};

/* In a child: try every name; returns how many it won (a CHECK-free
 * count: unexpected errors return 250 + kind). */
static int racer_run(void *arg)
{
    const struct racer *r = arg;
    int won = 0;
    for (int i = 0; i < NAMES; i++) {
        const char *p = fx_p("n%d", i);
        if (r->mode == 0) {
            int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
            if (fd >= 0) {
                char id = (char)('A' + r->id);
                if (write(fd, &id, 1) != 1)
                    return 251;
                close(fd);
                won++;
            } else if (errno != EEXIST) {
                return 250;
            }
        } else if (r->mode == 1) {
            if (mkdir(p, 0755) == 0)
                won++;
            else if (errno != EEXIST)
                return 250;
        } else {
            const char *src = fx_p("src%d-%d", r->id, i);
            if (rename(src, fx_p("target%d", i)) != 0)
                return 252;
            won++;
        }
    }
    return won;
}

static int run_racers(int mode)
{
    static struct racer rs[RACERS];
    pid_t pids[RACERS];
    static const gid_t root_groups[] = {0};
    for (int i = 0; i < RACERS; i++) {
        rs[i] = (struct racer){.id = i, .mode = mode};
        pids[i] = mount_as_user_start(0, 0, root_groups, 1, racer_run, &rs[i]);
        CHECK(pids[i] > 0);
    }
    int total = 0;
    for (int i = 0; i < RACERS; i++) {
        int rc = mount_as_user_wait(pids[i]);
        CHECKF(rc >= 0 && rc <= NAMES, "racer %d (mode %d): code %d", i, mode, rc);
        total += rc;
    }
    return total;
}

/* O_CREAT|O_EXCL: each name created exactly once, holding its winner's
 * mark; mkdir: each directory made exactly once. */
TEST_T(posix_race_create, 60)
{
    fx_begin();
    CHECK_EQ(run_racers(0), NAMES);
    for (int i = 0; i < NAMES; i++) {
        char c = 0;
        CHECK_EQ(fx_read_file(fx_p("n%d", i), &c, 1), 1);
        CHECK(c >= 'A' && c < 'A' + RACERS);
        SYS(unlink(fx_p("n%d", i)));
    }
    CHECK_EQ(run_racers(1), NAMES);
    for (int i = 0; i < NAMES; i++)
        CHECK(S_ISDIR(fx_lstat(fx_p("n%d", i)).st_mode));
    CHECK_EQ(fx_lstat(fx_dir()).st_nlink, 2 + NAMES);
    fx_end();
}

/* Renames of RACERS different files onto each target name at once: every
 * rename succeeds, each target ends as one of the sources (whole), the
 * other sources are gone (replaced), none is left behind. */
TEST_T(posix_race_rename, 60)
{
    fx_begin();
    for (int r = 0; r < RACERS; r++)
        for (int i = 0; i < NAMES; i++) {
            char mark[2] = {(char)('A' + r), 0};
            fx_write_file(fx_p("src%d-%d", r, i), mark, 1, 0644);
        }
    CHECK_EQ(run_racers(2), RACERS * NAMES);
    int entries = 0;
    DIR *d = opendir(fx_dir());
    CHECK(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        entries += e->d_name[0] != '.';
    closedir(d);
    CHECK_EQ(entries, NAMES);
    for (int i = 0; i < NAMES; i++) {
        char c = 0;
        CHECK_EQ(fx_read_file(fx_p("target%d", i), &c, 1), 1);
        CHECK(c >= 'A' && c < 'A' + RACERS);
        CHECK_EQ(fx_lstat(fx_p("target%d", i)).st_nlink, 1);
    }
    fx_end();
}

/* The decimal number in the first n bytes of s, or -1. */
static int atoi_prefix_n(const char *s, int n)
{
    int v = 0;
    for (int k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        v = v * 10 + (s[k] - '0');
    }
    return v;
}

/* The number in front of a name "NNNN-...", or -1. */
static int atoi_prefix(const char *name) { return name[4] == '-' ? atoi_prefix_n(name, 4) : -1; }

/* A listing that goes on while entries already returned are removed and
 * new ones are added: every entry that exists throughout is returned
 * exactly once, and no name twice (POSIX leaves only the changed ones
 * open). Names are long so the listing takes many kernel reads. */
TEST_T(posix_readdir_while_changing, 90)
{
    fx_begin();
    enum { N = 1200, FIRST = 150 };
    SYS(mkdir(fx_p("d"), 0755));
    char pad[80];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < N; i++)
        fx_write_file(fx_p("d/%04d-%s", i, pad), "", 0, 0644);
    static unsigned char seen[N], removed[N];
    memset(seen, 0, sizeof seen);
    memset(removed, 0, sizeof removed);
    DIR *dir = opendir(fx_p("d"));
    CHECK(dir);
    struct dirent *e;
    int got = 0, added = 0;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "new", 3) == 0)
            continue;
        int i = atoi_prefix(e->d_name);
        CHECKF(i >= 0 && i < N, "unexpected entry %s", e->d_name);
        CHECKF(!seen[i], "entry %s returned twice", e->d_name);
        seen[i] = 1;
        /* After the first FIRST entries: remove each returned entry and
         * add a new one, so every later read sees a changed directory. */
        if (++got > FIRST) {
            SYS(unlink(fx_p("d/%s", e->d_name)));
            removed[i] = 1;
            fx_write_file(fx_p("d/new%04d-%s", added++, pad), "", 0, 0644);
        }
    }
    closedir(dir);
    for (int i = 0; i < N; i++)
        CHECKF(seen[i], "entry %04d (never changed) was not returned", i);
    fx_end();
}

/* "t" listed exactly once in the work directory: 0, else EBADMSG. */
static int listed_once(void)
{
    DIR *d = opendir(fx_dir());
    if (!d)
        return errno;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, "t") == 0;
    closedir(d);
    return n == 1 ? 0 : EBADMSG;
}

/* The reader: opens "t" until "done" exists; every open must succeed and
 * read a whole version "vNNN", never older than one read before. */
static int atomic_reader(void *arg)
{
    (void)arg;
    int last = -1;
    for (long iter = 0; iter < 1000000; iter++) {
        int fd = open(fx_p("t"), O_RDONLY);
        if (fd < 0) {
            fprintf(stderr, "reader: open t: %s after version %d\n", fx_errname(errno), last);
            return errno;
        }
        char buf[8] = {0};
        ssize_t n = read(fd, buf, sizeof buf);
        close(fd);
        int v = n == 4 && buf[0] == 'v' ? atoi_prefix_n(buf + 1, 3) : -1;
        if (v < last) {
            fprintf(stderr, "reader: read \"%.*s\" after version %d\n", (int)(n > 0 ? n : 0), buf,
                    last);
            return EBADMSG;
        }
        last = v;
        if (iter % 16 == 0 && listed_once() != 0) {
            fprintf(stderr, "reader: t not listed exactly once after version %d\n", last);
            return EBADMSG;
        }
        if (access(fx_p("done"), F_OK) == 0)
            return 0;
    }
    return ETIMEDOUT;
}

/* rename over an existing name is atomic: a reader in another process
 * always finds the name (old or new file, whole), versions never go back. */
TEST_T(posix_rename_atomic, 60)
{
    fx_begin();
    fx_write_file(fx_p("t"), "v000", 4, 0644);
    static const gid_t root_groups[] = {0};
    pid_t pid = mount_as_user_start(0, 0, root_groups, 1, atomic_reader, NULL);
    CHECK(pid > 0);
    for (int i = 1; i <= 150; i++) {
        char v[16];
        snprintf(v, sizeof v, "v%03d", i);
        fx_write_file(fx_p("tmp"), v, 4, 0644);
        SYS(rename(fx_p("tmp"), fx_p("t")));
    }
    fx_write_file(fx_p("done"), "", 0, 0644);
    CHECK_EQ(mount_as_user_wait(pid), 0);
    char buf[8];
    CHECK_EQ(fx_read_file(fx_p("t"), buf, sizeof buf), 4);
    CHECK_MEM_EQ(buf, "v150", 4);
    fx_end();
}

struct appender {
    int id;
};

/* In a child: 100 records of 100 bytes, each written whole with O_APPEND. */
static int appender_run(void *arg)
{
    const struct appender *a = arg;
    int fd = open(fx_p("log"), O_WRONLY | O_APPEND);
    if (fd < 0)
        return errno;
    for (int i = 0; i < 100; i++) {
        char rec[100];
        memset(rec, 'a' + a->id, sizeof rec);
        snprintf(rec, sizeof rec, "%d:%03d:", a->id, i);
        rec[sizeof rec - 1] = '\n';
        if (write(fd, rec, sizeof rec) != (ssize_t)sizeof rec)
            return EIO;
    }
    return close(fd) == 0 ? 0 : errno;
}

/* Processes appending to one file with O_APPEND: no record overwrites
 * another or is torn; each process's records are in its order. */
TEST_T(posix_race_append, 60)
{
    fx_begin();
    enum { WRITERS = 4, RECS = 100, REC = 100 };
    fx_write_file(fx_p("log"), "", 0, 0644);
    static struct appender as[WRITERS];
    pid_t pids[WRITERS];
    static const gid_t root_groups[] = {0};
    for (int i = 0; i < WRITERS; i++) {
        as[i].id = i;
        pids[i] = mount_as_user_start(0, 0, root_groups, 1, appender_run, &as[i]);
        CHECK(pids[i] > 0);
    }
    for (int i = 0; i < WRITERS; i++)
        CHECK_EQ(mount_as_user_wait(pids[i]), 0);
    static char buf[WRITERS * RECS * REC + 1];
    CHECK_EQ(fx_read_file(fx_p("log"), buf, sizeof buf), WRITERS * RECS * REC);
    int next[WRITERS] = {0};
    for (int r = 0; r < WRITERS * RECS; r++) {
        const char *rec = buf + r * REC;
        int id = rec[0] - '0';
        CHECKF(id >= 0 && id < WRITERS && rec[1] == ':', "record %d torn", r);
        CHECKF(atoi_prefix_n(rec + 2, 3) == next[id], "record %d: writer %d out of order", r, id);
        next[id]++;
        CHECKF(rec[REC - 1] == '\n' && rec[REC - 2] == 'a' + id, "record %d torn", r);
    }
    fx_end();
}
