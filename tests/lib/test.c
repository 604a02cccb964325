/* test.c: case registry, seeds, temp dirs and the --list/NAME protocol. */
#include "test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hashmap.h"

#define TEST_CASES_MAX 1024

struct test_case {
    const char *name;
    void (*fn)(void);
    unsigned timeout_s;
};

static struct test_case cases[TEST_CASES_MAX];
static int ncases;
static const char *argv0 = "test";
static const struct test_case *current;
static uint64_t current_seed;
static struct prng current_rng;
static char tmpdir[512];

void test_register(const char *name, void (*fn)(void), unsigned timeout_s)
{
    if (ncases == TEST_CASES_MAX) {
        fprintf(stderr, "too many test cases (limit %d)\n", TEST_CASES_MAX);
        abort();
    }
    cases[ncases++] = (struct test_case){name, fn, timeout_s};
}

uint64_t test_seed(void) { return current_seed; }
struct prng *test_rng(void) { return &current_rng; }
const char *test_name(void) { return current ? current->name : "?"; }

const char *test_tmpdir(void)
{
    if (tmpdir[0])
        return tmpdir;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/cairn-test-%s-XXXXXX", base ? base : "/tmp", test_name());
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        abort();
    }
    return tmpdir;
}

_Noreturn void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  seed=%llu replay: CAIRN_SEED=%llu %s %s\n",
            (unsigned long long)current_seed, (unsigned long long)current_seed, argv0, test_name());
    if (tmpdir[0])
        fprintf(stderr, "  files kept in %s\n", tmpdir);
    fflush(stderr);
    abort();
}

static uint64_t seed_for(const char *name)
{
    const char *env = getenv("CAIRN_SEED");
    if (env && *env) {
        char *end;
        unsigned long long v = strtoull(env, &end, 10);
        if (*end == '\0')
            return v;
        fprintf(stderr, "CAIRN_SEED must be a decimal number: %s\n", env);
        exit(2);
    }
    return hash_bytes(name, strlen(name), 0) % 1000000007u;
}

static void remove_tree(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static int run_case(const struct test_case *c)
{
    current = c;
    current_seed = seed_for(c->name);
    prng_seed(&current_rng, current_seed);
    tmpdir[0] = '\0';
    c->fn();
    if (tmpdir[0] && !getenv("CAIRN_KEEP"))
        remove_tree(tmpdir);
    tmpdir[0] = '\0';
    current = NULL;
    return 0;
}

int test_main(int argc, char **argv)
{
    argv0 = argv[0];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < ncases; i++)
            printf("%s %u\n", cases[i].name, cases[i].timeout_s);
        return 0;
    }
    if (argc == 1) {
        for (int i = 0; i < ncases; i++) {
            run_case(&cases[i]);
            printf("ok %s\n", cases[i].name);
        }
        return 0;
    }
    for (int a = 1; a < argc; a++) {
        int found = 0;
        for (int i = 0; i < ncases; i++) {
            if (strcmp(cases[i].name, argv[a]) == 0) {
                run_case(&cases[i]);
                found = 1;
            }
        }
        if (!found) {
            fprintf(stderr, "%s: no test case named %s\n", argv0, argv[a]);
            return 2;
        }
    }
    return 0;
}

/* Binaries with their own main() still link: theirs wins over this weak one. */
__attribute__((weak)) int main(int argc, char **argv) { return test_main(argc, argv); }
