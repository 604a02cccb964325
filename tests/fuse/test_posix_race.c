/* test_posix_race.c: namespace operations racing between processes on one
 * mount, where atomicity shows: O_CREAT|O_EXCL and mkdir of one name have
 * exactly one winner, concurrent renames onto one name leave exactly one
 * file and lose none, and a directory listed while its entries change
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
static int racer_run(void *arg) {
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

static int run_racers(int mode) {
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
TEST_T(posix_race_create, 60) {
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
TEST_T(posix_race_rename, 60) {
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

/* The number in front of a name "NNNN-...", or -1. */
static int atoi_prefix(const char *name) {
  int v = 0;
  for (int k = 0; k < 4; k++) {
    if (name[k] < '0' || name[k] > '9')
      return -1;
    v = v * 10 + (name[k] - '0');
  }
  return name[4] == '-' ? v : -1;
}

/* A listing that goes on while entries already returned are removed and
 * new ones are added: every entry that exists throughout is returned
 * exactly once, and no name twice (POSIX leaves only the changed ones
 * open). Names are long so the listing takes many kernel reads. */
TEST_T(posix_readdir_while_changing, 90) {
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
