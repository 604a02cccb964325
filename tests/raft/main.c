/*
 * main.c: build/tests/raft, the golden Raft interaction scripts.
 *
 *   build/tests/raft --list            one case per script ("NAME 60") and
 *                                      the built-in self checks
 *   build/tests/raft NAME...           run tests/raft/scripts/NAME.txt (or
 *                                      the self check NAME); exit 1 on the
 *                                      first mismatch, printing a diff
 *   build/tests/raft                   run everything
 *   build/tests/raft --rewrite [NAME...]  rewrite expected outputs in place
 *
 * Scripts are found under tests/raft/scripts relative to the working
 * directory (the repository root under `make test`), or under
 * $CAIRN_SRC_DIR/tests/raft/scripts. The self checks (TEST cases below,
 * run through test.h) prove that the comparison and the safety checks fail
 * when they should: a golden test that cannot fail is worthless.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_errors.h"
#include "golden.h"
#include "test.h"

/* Script names are file names; generous for a file name under a path. */
#define GOLDEN_NAME_MAX 200
#define GOLDEN_SCRIPTS_MAX 256
#define GOLDEN_TIMEOUT_S 60

static void scripts_dir(char *buf, size_t len)
{
    const char *src = getenv("CAIRN_SRC_DIR");
    if (src && *src)
        snprintf(buf, len, "%s/tests/raft/scripts", src);
    else
        snprintf(buf, len, "tests/raft/scripts");
}

static void script_path(const char *name, char *buf, size_t len)
{
    char dir[900];
    scripts_dir(dir, sizeof dir);
    snprintf(buf, len, "%s/%s.txt", dir, name);
}

static int is_script_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 4 && n - 4 < GOLDEN_NAME_MAX && strcmp(d->d_name + n - 4, ".txt") == 0 &&
           d->d_name[0] != '.';
}

/* Script names (file names without .txt), sorted; returns the count. */
static int list_scripts(char names[][GOLDEN_NAME_MAX], int max)
{
    char dir[900];
    scripts_dir(dir, sizeof dir);
    struct dirent **ents;
    int n = scandir(dir, &ents, is_script_file, alphasort);
    if (n < 0)
        return 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (k < max)
            snprintf(names[k++], GOLDEN_NAME_MAX, "%.*s", (int)(strlen(ents[i]->d_name) - 4),
                     ents[i]->d_name);
        free(ents[i]);
    }
    free(ents);
    return k;
}

static int script_exists(const char *name)
{
    char path[1100];
    script_path(name, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* Run (or with rewrite, rewrite) one script file; 0 if it passed. */
static int run_script(const char *name, int rewrite)
{
    char path[1100], *text = NULL, *rewritten = NULL;
    script_path(name, path, sizeof path);
    int rc = gscript_read_file(path, &text);
    if (rc) {
        fprintf(stderr, "%s: cannot read: %s\n", path, cairn_err_name(rc));
        free(text);
        return 1;
    }
    struct cairn_buf report;
    buf_init(&report, 0);
    rc = gscript_run(path, text, rewrite ? &rewritten : NULL, &report);
    if (rewritten) {
        int wrc = gscript_write_file(path, rewritten);
        if (wrc)
            fprintf(stderr, "%s: cannot write: %s\n", path, cairn_err_name(wrc));
        else
            printf("rewrote %s\n", path);
        rc = rc ? rc : wrc;
    }
    if (report.len)
        fprintf(stderr, "%.*s", (int)report.len, (const char *)report.data);
    if (rc == 0 && !rewrite)
        printf("ok %s\n", name);
    buf_free(&report);
    free(rewritten);
    free(text);
    return rc != 0;
}

static int cmd_list(char *argv0)
{
    static char names[GOLDEN_SCRIPTS_MAX][GOLDEN_NAME_MAX];
    int n = list_scripts(names, GOLDEN_SCRIPTS_MAX);
    if (n == 0) {
        /* Scripts silently missing would make the suite pass vacuously. */
        char dir[900];
        scripts_dir(dir, sizeof dir);
        fprintf(stderr,
                "%s: no scripts in %s (run from the repository root or set "
                "CAIRN_SRC_DIR)\n",
                argv0, dir);
        return 1;
    }
    for (int i = 0; i < n; i++)
        printf("%s %d\n", names[i], GOLDEN_TIMEOUT_S);
    fflush(stdout);
    char *args[] = {argv0, "--list", NULL};
    return test_main(2, args);
}

static int cmd_rewrite(int argc, char **argv)
{
    static char names[GOLDEN_SCRIPTS_MAX][GOLDEN_NAME_MAX];
    int failed = 0;
    if (argc == 0) {
        int n = list_scripts(names, GOLDEN_SCRIPTS_MAX);
        for (int i = 0; i < n; i++)
            failed |= run_script(names[i], 1);
    }
    for (int i = 0; i < argc; i++)
        failed |= run_script(argv[i], 1);
    return failed;
}

static int cmd_run_all(char *argv0)
{
    static char names[GOLDEN_SCRIPTS_MAX][GOLDEN_NAME_MAX];
    int n = list_scripts(names, GOLDEN_SCRIPTS_MAX), failed = 0;
    for (int i = 0; i < n; i++)
        failed |= run_script(names[i], 0);
    char *args[] = {argv0, NULL};
    return failed | test_main(1, args);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "--list") == 0)
        return cmd_list(argv[0]);
    if (argc >= 2 && strcmp(argv[1], "--rewrite") == 0)
        return cmd_rewrite(argc - 2, argv + 2);
    if (argc == 1)
        return cmd_run_all(argv[0]);
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        if (script_exists(argv[i])) {
            failed |= run_script(argv[i], 0);
        } else {
            char *args[] = {argv[0], argv[i], NULL};
            failed |= test_main(2, args) != 0;
        }
    }
    return failed;
}

/* --- self checks ------------------------------------------------------------- */

/* A script whose expected text is wrong must fail, with a diff naming the
 * line; the right text must pass. Needs no Raft core: heal prints "ok". */
TEST_T(golden_selfcheck_diff, 10)
{
    struct cairn_buf r;
    buf_init(&r, 0);
    CHECK_EQ(gscript_run("t", "# c\nheal\n----\nok\n\nheal\n----\nok\n", NULL, &r), 0);
    CHECK_EQ(r.len, 0);
    CHECK_EQ(gscript_run("t", "# c\nheal\n----\nok\n\nheal\n----\nnot ok\n", NULL, &r), 1);
    CHECK_EQ(buf_append(&r, "", 1), 0);
    const char *rep = (const char *)r.data;
    CHECK(strstr(rep, "t:6: output of 'heal' differs") != NULL);
    CHECK(strstr(rep, "@@ -8,1 +8,1 @@\n-not ok\n+ok\n") != NULL);
    buf_reset(&r);
    /* A missing expected block fails; an extra expected line fails. */
    CHECK_EQ(gscript_run("t", "heal\n", NULL, &r), 1);
    CHECK_EQ(gscript_run("t", "heal\n----\nok\nok\n", NULL, &r), 1);
    CHECK_EQ(gscript_run("t", "heal\n----\n\n", NULL, &r), 1);
    /* A mistake in the script is a script error, not an output. */
    buf_reset(&r);
    CHECK_EQ(gscript_run("t", "frobnicate 1\n----\nok\n", NULL, &r), CAIRN_EINVAL);
    CHECK_EQ(gscript_run("t", "campaign 7\n----\nok\n", NULL, &r), CAIRN_EINVAL);
    /* Rewrite fills in missing blocks and keeps comments. */
    char *out = NULL;
    CHECK_EQ(gscript_run("t", "# keep me\nheal\n\nheal\n----\nwrong\n", &out, &r), 0);
    CHECK_STR_EQ(out, "# keep me\nheal\n----\nok\n\nheal\n----\nok\n\n");
    free(out);
    buf_free(&r);
}

static const char selfcheck_script[] = "# elect 1, replicate one write\n"
                                       "add-nodes 3\n"
                                       "campaign 1\n"
                                       "stabilize\n"
                                       "propose 1 x=1\n"
                                       "stabilize\n"
                                       "kv 1 2 3\n";

/* Replace the first occurrence of from (after the first "----") by to. */
static char *mutate(const char *text, const char *from, const char *to)
{
    const char *start = strstr(text, "----");
    const char *p = start ? strstr(start, from) : NULL;
    if (!p)
        return NULL;
    size_t head = (size_t)(p - text), fl = strlen(from), tl = strlen(to);
    char *s = gx_alloc(strlen(text) - fl + tl + 1);
    memcpy(s, text, head);
    memcpy(s + head, to, tl);
    memcpy(s + head + tl, p + fl, strlen(p + fl) + 1);
    return s;
}

static void expect_mismatch(const char *golden, const char *from, const char *to)
{
    char *bad = mutate(golden, from, to);
    CHECKF(bad != NULL, "'%s' not found in the golden output", from);
    struct cairn_buf r;
    buf_init(&r, 0);
    CHECK_EQ(gscript_run("s", bad, NULL, &r), 1);
    CHECK_EQ(buf_append(&r, "", 1), 0);
    CHECK(strstr((const char *)r.data, "differs") != NULL);
    CHECK(strstr((const char *)r.data, "\n+") != NULL || strstr((const char *)r.data, "\n-"));
    buf_free(&r);
    free(bad);
}

/* With a real core: the recorded output is deterministic, passes, and any
 * change to it (a field, a missing line, an extra line) fails. */
TEST_T(golden_selfcheck_core, 20)
{
    struct cairn_buf r;
    buf_init(&r, 0);
    char *golden = NULL, *again = NULL;
    CHECK_EQ(gscript_run("s", selfcheck_script, &golden, &r), 0);
    CHECK_EQ(gscript_run("s", selfcheck_script, &again, &r), 0);
    CHECK_STR_EQ(golden, again);
    CHECK(strstr(golden, "INFO 1 became leader at term 1") != NULL);
    CHECK(strstr(golden, "1: applied=2 kv={x=1}") != NULL);
    CHECK(strstr(golden, "3: applied=2 kv={x=1}") != NULL);
    CHECK_EQ(gscript_run("s", golden, NULL, &r), 0);
    CHECK_EQ(r.len, 0);
    expect_mismatch(golden, "term=1", "term=2");
    expect_mismatch(golden, "3: applied=2 kv={x=1}\n", "");
    expect_mismatch(golden, "3: applied=2 kv={x=1}\n", "3: applied=2 kv={x=1}\nextra\n");
    buf_free(&r);
    free(golden);
    free(again);
}

/* Run cmd; with want != NULL, its output must contain want. */
static void exec_want(struct genv *e, const char *cmd, const char *want)
{
    struct cairn_buf out;
    char err[256] = "";
    buf_init(&out, 0);
    CHECKF(genv_exec(e, cmd, &out, err, sizeof err) == 0, "%s: %s", cmd, err);
    CHECK_EQ(buf_append(&out, "", 1), 0);
    CHECKF(!want || strstr((const char *)out.data, want), "'%s' printed no '%s':\n%s", cmd, want,
           (const char *)out.data);
    buf_free(&out);
}

static void exec_ok(struct genv *e, const char *cmd) { exec_want(e, cmd, NULL); }

static struct genv *elected_env(void)
{
    struct genv *e = genv_new();
    exec_ok(e, "add-nodes 3");
    exec_ok(e, "campaign 1");
    exec_ok(e, "stabilize");
    exec_ok(e, "propose 1 x=1");
    exec_ok(e, "stabilize");
    CHECK_EQ(e->violations, 0);
    return e;
}

/* Each safety check fires when the recorded past contradicts what a node
 * does next (the past is forged, as no correct core would produce it). */
TEST_T(golden_selfcheck_violations, 20)
{
    /* Election safety: another leader already recorded for term 1. */
    struct genv *e = elected_env();
    hmap_put(&e->leaders, 1, (void *)(uintptr_t)2);
    exec_want(e, "tick 1", "VIOLATION two leaders in term 1: 2 and 1");
    CHECK(e->violations > 0);
    genv_free(e);

    /* State-machine safety: another entry recorded as applied at index 2. */
    e = elected_env();
    struct raft_entry *ent = hmap_get(&e->history, 2);
    CHECK(ent != NULL);
    ent->term = 7;
    exec_ok(e, "crash 2");
    exec_ok(e, "restart 2");
    exec_want(e, "stabilize", "VIOLATION 2: applies 1/2 but another node applied 7/2 there");
    CHECK(e->violations > 0);
    genv_free(e);

    /* Configuration safety: another configuration recorded at commit 2. */
    e = elected_env();
    struct raft_conf *conf = hmap_get(&e->confs, 2);
    CHECK(conf != NULL);
    conf->n_voters = 2;
    exec_want(e, "tick 3",
              "VIOLATION 3: at commit 2 has voters=(1,2,3) learners=() but another "
              "node had voters=(1,2) learners=()");
    CHECK(e->violations > 0);
    genv_free(e);

    /* Log persistence: node 2's disk lost its entries behind the core's
     * back, so the next entries do not attach to what is stored. */
    e = elected_env();
    e->nodes[2].disk.n_ents = 1;
    free(e->nodes[2].disk.ents[1].data);
    exec_ok(e, "propose 1 y=2");
    exec_want(e, "stabilize", "VIOLATION 2: entries from 3 do not attach to the log");
    genv_free(e);

    /* Vote safety: node 2 recorded as having voted for 3 in term 1. */
    e = elected_env();
    CHECK_EQ_U64(e->nodes[2].disk.hs.term, 1);
    e->nodes[2].disk.hs.vote = 3;
    exec_ok(e, "propose 1 y=2");
    exec_want(e, "stabilize", "VIOLATION 2: changed its vote in term 1 from 3 to 1");
    CHECK(e->violations > 0);
    genv_free(e);
}
