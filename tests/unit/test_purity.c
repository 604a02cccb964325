/* test_purity.c: the Raft core links against libc's memory and string
 * functions and src/common's pure parts only (DESIGN.md §4): no sockets,
 * files, clocks or randomness of its own. The proof is the undefined
 * symbols of its object files (`nm -u`), checked against an allowlist. */
#include <dirent.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#define SYMS_MAX 4096
#define SYM_LEN 256

struct syms {
    char name[SYMS_MAX][SYM_LEN];
    int n;
};

/* libc calls that touch nothing but memory, and the pure parts of common. */
static const char *const allowed_exact[] = {
    "memcpy",
    "memmove",
    "memset",
    "memcmp",
    "strlen",
    "malloc",
    "calloc",
    "realloc",
    "free",
    "snprintf",
    "abort",
    "__assert_fail",
    "__stack_chk_fail",
    "_GLOBAL_OFFSET_TABLE_",
    "cairn_panic",
};
static const char *const allowed_prefix[] = {
    "__asan_", "__ubsan_", "prng_", "hash_", "buf_", "hmap_",
};

static int sym_allowed(const char *s, const struct syms *own)
{
    for (size_t k = 0; k < sizeof allowed_exact / sizeof *allowed_exact; k++)
        if (strcmp(s, allowed_exact[k]) == 0)
            return 1;
    for (size_t k = 0; k < sizeof allowed_prefix / sizeof *allowed_prefix; k++)
        if (strncmp(s, allowed_prefix[k], strlen(allowed_prefix[k])) == 0)
            return 1;
    for (int k = 0; own && k < own->n; k++)
        if (strcmp(s, own->name[k]) == 0)
            return 1;
    return 0;
}

/* Append the symbols `nm <flags> path` prints (last column of each line). */
static void nm_syms(const char *flags, const char *path, struct syms *out)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "nm %s '%s'", flags, path);
    FILE *p = popen(cmd, "r");
    CHECKF(p != NULL, "popen(%s) failed", cmd);
    char line[512];
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        char *sym = strrchr(line, ' ');
        sym = sym ? sym + 1 : line;
        if (*sym == '\0')
            continue;
        CHECK(out->n < SYMS_MAX);
        snprintf(out->name[out->n++], SYM_LEN, "%.*s", SYM_LEN - 1, sym);
    }
    CHECKF(pclose(p) == 0, "%s failed (is binutils installed?)", cmd);
}

/* Undefined symbols of one object outside the allowlist (and outside the
 * symbols the module's own objects define); returns their count. */
static int violations(const char *obj, const struct syms *own, char *first, size_t first_len)
{
    static struct syms undef;
    undef.n = 0;
    nm_syms("-u", obj, &undef);
    int bad = 0;
    for (int k = 0; k < undef.n; k++) {
        if (sym_allowed(undef.name[k], own))
            continue;
        if (bad++ == 0 && first)
            snprintf(first, first_len, "%s", undef.name[k]);
        fprintf(stderr, "  %s: forbidden symbol %s\n", obj, undef.name[k]);
    }
    return bad;
}

/* The build directory: CAIRN_BUILD_DIR relative to the working directory,
 * else derived from this binary's path (<build>/tests/unit/test_purity). */
static void build_dir(char *out, size_t len)
{
    struct stat sb;
    if (stat(CAIRN_BUILD_DIR "/obj", &sb) == 0) {
        snprintf(out, len, "%s", CAIRN_BUILD_DIR);
        return;
    }
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    char *d = dirname(dirname(dirname(exe)));
    snprintf(out, len, "%s", d);
}

static int list_objects(const char *dir, char names[][512], int max)
{
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "cannot open %s (build the raft module first)", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 2 && strcmp(e->d_name + l - 2, ".o") == 0 && n < max)
            snprintf(names[n++], 512, "%.300s/%.200s", dir, e->d_name);
    }
    closedir(d);
    return n;
}

TEST_T(raft_objects_are_pure, 30)
{
    char bd[900], dir[1024];
    build_dir(bd, sizeof bd);
    snprintf(dir, sizeof dir, "%s/obj/src/raft", bd);
    static char objs[64][512];
    int n = list_objects(dir, objs, 64);
    CHECKF(n >= 1, "no objects in %s", dir);
    static struct syms own;
    own.n = 0;
    for (int k = 0; k < n; k++)
        nm_syms("-g --defined-only", objs[k], &own);
    int bad = 0;
    for (int k = 0; k < n; k++)
        bad += violations(objs[k], &own, NULL, 0);
    CHECKF(bad == 0, "%d forbidden symbol(s) in the raft core (listed above)", bad);
}

TEST_T(checker_rejects_io_symbols, 30)
{
    /* The allowlist itself refuses what an I/O shell would call. */
    static const char *const io[] = {
        "socket",        "open",           "read",      "write", "fsync",
        "clock_gettime", "time",           "getrandom", "rand",  "fopen",
        "gettimeofday",  "pthread_create", "uv_run",    "send",  "recv",
    };
    for (size_t k = 0; k < sizeof io / sizeof *io; k++)
        CHECKF(!sym_allowed(io[k], NULL), "%s allowed", io[k]);
    CHECK(sym_allowed("memcpy", NULL));
    CHECK(sym_allowed("prng_seed", NULL));
    CHECK(sym_allowed("__asan_report_load8", NULL));
    /* And the checker finds real violations: common/time.o reads the clock,
     * common/log.o writes. */
    char bd[900], obj[1024], first[SYM_LEN] = "";
    build_dir(bd, sizeof bd);
    snprintf(obj, sizeof obj, "%s/obj/src/common/time.o", bd);
    CHECKF(violations(obj, NULL, first, sizeof first) > 0, "no violation found in %s", obj);
    CHECKF(strstr(first, "clock") != NULL || strstr(first, "time") != NULL,
           "unexpected first violation %s", first);
    snprintf(obj, sizeof obj, "%s/obj/src/common/log.o", bd);
    CHECK(violations(obj, NULL, NULL, 0) > 0);
}
