/* test_lock.c: the lock service end to end against a real 3-node metadata
 * group (`cairn cluster up`): a killed holder's session expires and the
 * waiter gets the lock; FIFO order with shared holders granted together;
 * compare-and-set races between processes; all-or-none transactions. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "cairn_errors.h"
#include "test.h"
#include "test_cli.h"

static struct cairn *lk_connect(void)
{
    struct cairn_config cfg = {.cluster_file = getenv("CAIRN_CLUSTER"), .name = "lock-test"};
    struct cairn *c = NULL;
    CHECK_EQ(cairn_connect(&cfg, &c), 0);
    return c;
}

static struct cairn_locks *lk_open(uint32_t lease_ms)
{
    struct cairn *c = lk_connect();
    struct cairn_locks *l = NULL;
    CHECK_EQ(cairn_locks_open(c, lease_ms, &l), 0);
    cairn_disconnect(c);
    return l;
}

static void lk_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The listing of lock `name` (zeroes if it does not exist). */
static struct cairn_lock_info lk_info(struct cairn_locks *l, const char *name)
{
    struct cairn_lock_info in[16];
    int more = 0;
    int n = cairn_lock_list(l, "", in, 16, &more);
    CHECKF(n >= 0, "lock list: %s", cairn_strerror(n));
    for (int i = 0; i < n; i++)
        if (strcmp(in[i].name, name) == 0)
            return in[i];
    struct cairn_lock_info none;
    memset(&none, 0, sizeof none);
    return none;
}

/* Wait until lock `name` has `waiters` waiters (a queued acquire has been
 * applied), up to 20 s. */
static void lk_wait_waiters(struct cairn_locks *l, const char *name, uint32_t waiters)
{
    for (int i = 0; i < 2000; i++) {
        if (lk_info(l, name).waiters == waiters)
            return;
        lk_sleep_ms(10);
    }
    CHECKF(0, "lock %s never had %u waiters", name, waiters);
}

/* A child that holds lock "exp" with a 2 s lease, reports its token on fd
 * and then idles until killed. Uses _exit: no test handlers in children. */
static void expiry_child(int fd)
{
    struct cairn_config cfg = {.cluster_file = getenv("CAIRN_CLUSTER"), .name = "holder"};
    struct cairn *c;
    struct cairn_locks *l;
    uint64_t tok = 0;
    if (cairn_connect(&cfg, &c) || cairn_locks_open(c, 2000, &l))
        _exit(2);
    if (cairn_lock(l, "exp", CAIRN_LOCK_EXCLUSIVE, 0, 0, &tok))
        _exit(3);
    if (write(fd, &tok, sizeof tok) != (ssize_t)sizeof tok)
        _exit(4);
    for (;;)
        pause();
}

TEST_T(lock_session_expiry, 90)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/c", test_tmpdir());
    cli_up(dir, 3, 0);
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        expiry_child(p[1]);
    uint64_t tok = 0, tok2 = 0;
    CHECK(read(p[0], &tok, sizeof tok) == (ssize_t)sizeof tok);
    CHECK(tok > 0);
    struct cairn_locks *l = lk_open(5000);
    CHECK_EQ(cairn_lock(l, "exp", CAIRN_LOCK_EXCLUSIVE, CAIRN_LOCK_TRY, 0, &tok2), CAIRN_EAGAIN);
    /* the holder stays alive past several leases: its library keeps it */
    lk_sleep_ms(5000);
    CHECK_EQ(cairn_lock(l, "exp", CAIRN_LOCK_SHARED, CAIRN_LOCK_TRY, 0, &tok2), CAIRN_EAGAIN);
    CHECK_EQ(lk_info(l, "exp").holders, 1);
    kill(pid, SIGKILL);
    CHECK(waitpid(pid, NULL, 0) == pid);
    CHECK_EQ(cairn_lock(l, "exp", CAIRN_LOCK_EXCLUSIVE, 0, 30000, &tok2), 0);
    CHECKF(tok2 > tok, "token %llu after %llu", (unsigned long long)tok2, (unsigned long long)tok);
    CHECK_EQ(cairn_unlock(l, "exp"), 0);
    CHECK_EQ(cairn_unlock(l, "exp"), CAIRN_ENOENT);
    cairn_locks_close(l);
    close(p[0]);
    close(p[1]);
    cli_down();
}

/* A waiter on its own handle, run in a thread. */
struct waiter {
    pthread_t t;
    struct cairn_locks *l;
    int mode;
    int rc;
    uint64_t token;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    w->rc = cairn_lock(w->l, "q", w->mode, 0, 60000, &w->token);
    return NULL;
}

static void waiter_start(struct waiter *w, int mode, struct cairn_locks *observer, uint32_t n)
{
    w->l = lk_open(10000);
    w->mode = mode;
    w->rc = 1;
    CHECK(pthread_create(&w->t, NULL, waiter_main, w) == 0);
    lk_wait_waiters(observer, "q", n); /* queued in this order */
}

TEST_T(lock_fifo_shared, 120)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/c", test_tmpdir());
    cli_up(dir, 3, 0);
    struct cairn_locks *a = lk_open(10000), *e = lk_open(10000);
    uint64_t ta, te;
    CHECK_EQ(cairn_lock(a, "q", CAIRN_LOCK_EXCLUSIVE, 0, 0, &ta), 0);
    struct waiter b, c, d;
    waiter_start(&b, CAIRN_LOCK_EXCLUSIVE, e, 1);
    waiter_start(&c, CAIRN_LOCK_SHARED, e, 2);
    waiter_start(&d, CAIRN_LOCK_SHARED, e, 3);
    /* a shared try does not pass the queue */
    CHECK_EQ(cairn_lock(e, "q", CAIRN_LOCK_SHARED, CAIRN_LOCK_TRY, 0, &te), CAIRN_EAGAIN);
    CHECK_EQ(cairn_unlock(a, "q"), 0);
    CHECK(pthread_join(b.t, NULL) == 0);
    CHECK_EQ(b.rc, 0);
    CHECK(b.token > ta);
    /* B holds alone; the shared waiters still wait behind it */
    struct cairn_lock_info in = lk_info(e, "q");
    CHECK_EQ(in.holders, 1);
    CHECK_EQ(in.waiters, 2);
    CHECK_EQ(in.mode, CAIRN_LOCK_EXCLUSIVE);
    CHECK_EQ(cairn_unlock(b.l, "q"), 0);
    CHECK(pthread_join(c.t, NULL) == 0);
    CHECK(pthread_join(d.t, NULL) == 0);
    CHECK_EQ(c.rc, 0);
    CHECK_EQ(d.rc, 0);
    /* granted together by one entry: one token, newer than B's */
    CHECK_EQ_U64(c.token, d.token);
    CHECK(c.token > b.token);
    in = lk_info(e, "q");
    CHECK_EQ(in.holders, 2);
    CHECK_EQ(in.mode, CAIRN_LOCK_SHARED);
    CHECK_EQ(cairn_lock(e, "q", CAIRN_LOCK_EXCLUSIVE, CAIRN_LOCK_TRY, 0, &te), CAIRN_EAGAIN);
    /* a waiting exclusive gives up at its timeout and leaves the queue */
    CHECK_EQ(cairn_lock(e, "q", CAIRN_LOCK_EXCLUSIVE, 0, 300, &te), CAIRN_ETIMEDOUT);
    CHECK_EQ(lk_info(e, "q").waiters, 0);
    CHECK_EQ(cairn_unlock(c.l, "q"), 0);
    CHECK_EQ(cairn_unlock(d.l, "q"), 0);
    CHECK_EQ(cairn_lock(e, "q", CAIRN_LOCK_EXCLUSIVE, CAIRN_LOCK_TRY, 0, &te), 0);
    CHECK(te > c.token);
    struct cairn_locks *all[] = {a, b.l, c.l, d.l, e};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        cairn_locks_close(all[i]);
    cli_down();
}

/* One CAS racer: waits for the start byte, then sets user.v if the
 * version is still v. Exit 0: won; 1: conflict; 2: another error. */
static void cas_child(int fd, const char *path, uint64_t v, int i)
{
    struct cairn_config cfg = {.cluster_file = getenv("CAIRN_CLUSTER"), .name = "cas"};
    struct cairn *c;
    char val[24], go;
    if (cairn_connect(&cfg, &c))
        _exit(2);
    if (read(fd, &go, 1) != 1)
        _exit(2);
    snprintf(val, sizeof val, "child%d", i);
    int rc = cairn_setxattr_if(c, path, "user.v", val, strlen(val), 0, v);
    cairn_disconnect(c);
    _exit(rc == 0 ? 0 : rc == CAIRN_CONFLICT ? 1 : 2);
}

TEST_T(lock_cas_race, 120)
{
    enum { RACERS = 6 };
    char dir[600];
    snprintf(dir, sizeof dir, "%s/c", test_tmpdir());
    cli_up(dir, 3, 0);
    struct cairn *c = lk_connect();
    CHECK_EQ(cairn_mkdir(c, "/cas", 0755), 0);
    struct cairn_stat st;
    CHECK_EQ(cairn_stat(c, "/cas", &st), 0);
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0)
            cas_child(p[0], "/cas", st.version, i);
    }
    lk_sleep_ms(1000); /* every racer connected (not needed for correctness) */
    CHECK(write(p[1], "gggggg", RACERS) == RACERS);
    int won = -1, conflicts = 0;
    for (int i = 0; i < RACERS; i++) {
        int ws;
        CHECK(waitpid(pids[i], &ws, 0) == pids[i]);
        CHECK(WIFEXITED(ws));
        CHECKF(WEXITSTATUS(ws) <= 1, "racer %d exit %d", i, WEXITSTATUS(ws));
        if (WEXITSTATUS(ws) == 0) {
            CHECKF(won < 0, "racers %d and %d both won", won, i);
            won = i;
        } else {
            conflicts++;
        }
    }
    CHECK(won >= 0);
    CHECK_EQ(conflicts, RACERS - 1);
    char val[32], want[24];
    ssize_t n = cairn_getxattr(c, "/cas", "user.v", val, sizeof val - 1);
    CHECK(n > 0);
    val[n] = 0;
    snprintf(want, sizeof want, "child%d", won);
    CHECK_STR_EQ(val, want);
    struct cairn_stat st2;
    CHECK_EQ(cairn_stat(c, "/cas", &st2), 0);
    CHECK(st2.version > st.version);
    /* the winner's version now guards the next change */
    CHECK_EQ(cairn_chmod_if(c, "/cas", 0700, st.version), CAIRN_CONFLICT);
    CHECK_EQ(cairn_chmod_if(c, "/cas", 0700, st2.version), 0);
    CHECK_EQ(cairn_stat(c, "/cas", &st), 0);
    CHECK_EQ(st.mode & 07777, 0700);
    close(p[0]);
    close(p[1]);
    cairn_disconnect(c);
    cli_down();
}

static int exists(struct cairn *c, const char *path)
{
    struct cairn_stat st;
    int rc = cairn_stat(c, path, &st);
    CHECK(rc == 0 || rc == -ENOENT);
    return rc == 0;
}

TEST_T(lock_txn_all_or_none, 90)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/c", test_tmpdir());
    cli_up(dir, 3, 0);
    struct cairn *c = lk_connect();
    CHECK_EQ(cairn_mkdir(c, "/t", 0755), 0);
    CHECK_EQ(cairn_mkdir(c, "/t/x", 0755), 0);
    size_t failed;
    /* a failing condition: nothing applies */
    struct cairn_txn_op a[] = {
        {.kind = CAIRN_TXN_CREATE, .path = "/t/a", .mode = 0644},
        {.kind = CAIRN_TXN_MKDIR, .path = "/t/b", .mode = 0755},
        {.kind = CAIRN_TXN_IF_ABSENT, .path = "/t/x"},
    };
    CHECK_EQ(cairn_txn(c, a, 3, &failed), CAIRN_CONFLICT);
    CHECK_EQ(failed, 2);
    CHECK_EQ(a[2].result, CAIRN_CONFLICT);
    CHECK(!exists(c, "/t/a") && !exists(c, "/t/b"));
    /* a failing op after successful ones: those are undone */
    struct cairn_txn_op b[] = {
        {.kind = CAIRN_TXN_CREATE, .path = "/t/a", .mode = 0644},
        {.kind = CAIRN_TXN_RENAME, .path = "/t/x", .path2 = "/t/y"},
        {.kind = CAIRN_TXN_MKDIR, .path = "/t/y", .mode = 0755},
    };
    CHECK_EQ(cairn_txn(c, b, 3, &failed), -EEXIST);
    CHECK_EQ(failed, 2);
    CHECK(!exists(c, "/t/a") && !exists(c, "/t/y") && exists(c, "/t/x"));
    /* all conditions hold: everything applies, in order */
    struct cairn_stat st;
    CHECK_EQ(cairn_stat(c, "/t/x", &st), 0);
    struct cairn_txn_op ok[] = {
        {.kind = CAIRN_TXN_IF_VERSION, .path = "/t/x", .version = st.version},
        {.kind = CAIRN_TXN_IF_ABSENT, .path = "/t/a"},
        {.kind = CAIRN_TXN_IF_EXISTS, .path = "/t/x"},
        {.kind = CAIRN_TXN_CREATE, .path = "/t/a", .mode = 0600},
        {.kind = CAIRN_TXN_SETXATTR,
         .path = "/t/x",
         .path2 = "user.k",
         .value = "v",
         .value_len = 1},
        {.kind = CAIRN_TXN_RENAME, .path = "/t/x", .path2 = "/t/y"},
    };
    CHECK_EQ(cairn_txn(c, ok, 6, &failed), 0);
    CHECK(exists(c, "/t/a") && exists(c, "/t/y") && !exists(c, "/t/x"));
    char v[4];
    CHECK_EQ(cairn_getxattr(c, "/t/y", "user.k", v, sizeof v), 1);
    /* the same batch again: its version condition is stale now */
    CHECK_EQ(cairn_txn(c, ok, 1, &failed), CAIRN_ENOENT);
    cairn_disconnect(c);
    cli_down();
}

/* The `cairn lock`, `cairn txn` and `cairn setxattr --if-version` commands. */
TEST_T(lock_cli_commands, 120)
{
    char dir[600], batch[700];
    snprintf(dir, sizeof dir, "%s/c", test_tmpdir());
    cli_up(dir, 3, 0);
    const struct cli_out *o =
        CLI_EXPECT(0, "lock", "a", "--", "sh", "-c", "echo \"$CAIRN_FENCING_TOKEN\"");
    unsigned long long t1 = strtoull(o->out, NULL, 10);
    CHECK(t1 > 0);
    o = CLI_EXPECT(0, "lock", "--shared", "a", "--", "sh", "-c", "echo \"$CAIRN_FENCING_TOKEN\"");
    CHECK(strtoull(o->out, NULL, 10) > t1);
    CLI_EXPECT(7, "lock", "a", "--", "sh", "-c", "exit 7");
    /* held elsewhere: --try fails, a timed wait gives up */
    struct cairn_locks *l = lk_open(10000);
    uint64_t tok;
    CHECK_EQ(cairn_lock(l, "b", CAIRN_LOCK_EXCLUSIVE, 0, 0, &tok), 0);
    o = CLI_EXPECT(1, "lock", "--try", "b", "--", "true");
    CHECKF(strstr(o->err, "lock is busy") != NULL, "%s", o->err);
    o = CLI_EXPECT(1, "lock", "--timeout", "0.3", "b", "--", "true");
    CHECKF(strstr(o->err, "timed out") != NULL, "%s", o->err);
    o = CLI_EXPECT(0, "lock", "--list", "--json");
    struct jv *v = jv_parse(o->out);
    CHECKF(v && v->type == JV_ARR && v->n == 1, "%s", o->out);
    CHECK_STR_EQ(jv_str(v->vals[0], "name"), "b");
    CHECK_EQ(jv_u64(v->vals[0], "holders"), 1);
    CHECK_EQ(jv_u64(v->vals[0], "last_token"), tok);
    jv_free(v);
    cairn_locks_close(l);
    /* a batch from a file; then the same batch fails as a whole */
    snprintf(batch, sizeof batch, "%s/batch", test_tmpdir());
    const char *text = "# make a pair\nif-absent /p\nmkdir /p 700\ncreate /q\n";
    cli_write_local(batch, text, strlen(text), 0644);
    o = CLI_EXPECT(0, "txn", batch);
    CHECK_STR_EQ(o->out, "0 ok\n1 ok\n2 ok\n");
    o = cli_run_in(batch, "txn", "-", (const char *)NULL);
    CHECK_EQ(o->code, 1);
    CHECK_STR_EQ(o->out, "0 failed: version conflict\n1 not applied\n2 not applied\n");
    CLI_EXPECT(2, "txn", "-", "extra");
    cli_write_local(batch, "frobnicate /x\n", 14, 0644);
    CLI_EXPECT(2, "txn", batch);
    /* compare-and-set from the version `stat --json` shows */
    o = CLI_EXPECT(0, "stat", "--json", "/q");
    v = jv_parse(o->out);
    CHECK(v != NULL);
    char ver[32];
    snprintf(ver, sizeof ver, "%llu", (unsigned long long)jv_u64(v, "version"));
    jv_free(v);
    CLI_EXPECT(0, "setxattr", "/q", "user.x", "1", "--if-version", ver);
    o = CLI_EXPECT(1, "setxattr", "/q", "user.x", "2", "--if-version", ver);
    CHECKF(strstr(o->err, "version conflict") != NULL, "%s", o->err);
    cli_down();
}
