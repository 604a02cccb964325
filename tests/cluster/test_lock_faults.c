/* test_lock_faults.c: the lock service under faults, real processes:
 * clients contend for one lock while the metadata leader is SIGKILLed and
 * one holder is paused (SIGSTOP) past its lease; every holder writes to a
 * fenced store that refuses tokens older than the newest it has seen. The
 * lock history must be linearizable (lin_model_lock), the paused holder's
 * late write must be refused, and no live holder may lose its lock to the
 * leader change. Also: transactions stay all-or-none across a leader kill. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "cairn_errors.h"
#include "common/time.h"
#include "lincheck.h"
#include "test.h"
#include "test_cli.h"

#define F_CLIENTS 4
#define F_ITERS 10
#define F_LEASE_MS 2000u

/* One event of a client, appended to its log file. */
struct f_rec {
    uint32_t kind; /* 1 acquire, 2 release, 3 fenced write */
    int32_t rc;    /* acquire/release: the call's result; write: 1 accepted, 0 refused */
    uint64_t call_ns, ret_ns;
    uint64_t token;
};

static char f_dir[600];

static void f_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The fenced resource: accepts a write only if its token is at least the
 * newest token it accepted (flock makes check-and-write atomic between the
 * client processes). Returns 1 if accepted. */
static int fenced_write(uint64_t token, int client, int iter)
{
    char path[700];
    snprintf(path, sizeof path, "%s/fence", f_dir);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0 || flock(fd, LOCK_EX))
        _exit(20);
    uint64_t newest = 0;
    if (pread(fd, &newest, sizeof newest, 0) != (ssize_t)sizeof newest)
        newest = 0;
    int ok = token >= newest;
    if (ok) {
        char line[96];
        int n =
            snprintf(line, sizeof line, "%llu %d %d\n", (unsigned long long)token, client, iter);
        snprintf(path, sizeof path, "%s/store", f_dir);
        int sfd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (sfd < 0 || write(sfd, line, (size_t)n) != n || pwrite(fd, &token, 8, 0) != 8)
            _exit(21);
        close(sfd);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return ok;
}

static void f_log(int fd, uint32_t kind, int rc, uint64_t call, uint64_t ret, uint64_t tok)
{
    struct f_rec r = {kind, rc, call, ret, tok};
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r)
        _exit(22);
}

/* A contending client process (never returns). Client 0 tells the parent
 * (notify) when it first holds the lock, then dawdles so it can be paused
 * while holding. */
static void f_client(int id, int notify)
{
    char path[700];
    snprintf(path, sizeof path, "%s/log%d", f_dir, id);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    struct cairn_config cfg = {.cluster_file = getenv("CAIRN_CLUSTER"), .name = "contender"};
    struct cairn *c;
    struct cairn_locks *l;
    if (fd < 0 || cairn_connect(&cfg, &c) || cairn_locks_open(c, F_LEASE_MS, &l))
        _exit(2);
    cairn_disconnect(c);
    for (int it = 0; it < F_ITERS; it++) {
        uint64_t tok = 0, t0 = time_mono_ns();
        int rc = cairn_lock(l, "m", CAIRN_LOCK_EXCLUSIVE, 0, 45000, &tok);
        f_log(fd, 1, rc, t0, time_mono_ns(), tok);
        if (rc)
            _exit(3);
        if (id == 0 && it == 0) {
            if (write(notify, "h", 1) != 1)
                _exit(4);
            f_sleep_ms(500); /* paused in here */
        } else {
            f_sleep_ms(20);
        }
        uint64_t tw = time_mono_ns();
        f_log(fd, 3, fenced_write(tok, id, it), tw, time_mono_ns(), tok);
        t0 = time_mono_ns();
        rc = cairn_unlock(l, "m");
        f_log(fd, 2, rc, t0, time_mono_ns(), tok);
        f_sleep_ms(5);
    }
    cairn_locks_close(l);
    close(fd);
    _exit(0);
}

/* The id of the metadata leader (0 if none answers). */
static uint64_t f_leader(void)
{
    struct cairn_config cfg = {.cluster_file = getenv("CAIRN_CLUSTER"), .name = "probe"};
    struct cairn *c;
    struct cairn_member m[8];
    if (cairn_connect(&cfg, &c))
        return 0;
    int n = cairn_members(c, m, 8);
    uint64_t leader = 0;
    for (int i = 0; i < n; i++)
        if (m[i].reachable && m[i].role == 3)
            leader = m[i].id;
    cairn_disconnect(c);
    return leader;
}

/* Lines in the store written by clients other than 0. */
static int f_store_others(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/store", f_dir);
    FILE *f = fopen(path, "r");
    int n = 0;
    unsigned long long tok;
    int cl, it;
    while (f && fscanf(f, "%llu %d %d", &tok, &cl, &it) == 3)
        n += cl != 0;
    if (f)
        fclose(f);
    return n;
}

static size_t f_read_log(int id, struct f_rec *out, size_t max)
{
    char path[700];
    snprintf(path, sizeof path, "%s/log%d", f_dir, id);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t n = fread(out, sizeof *out, max, f);
    fclose(f);
    return n;
}

/* One client's records as lock-model operations; pause_ns: when client 0
 * was stopped (its first release is the session expiry, somewhere between
 * the pause and the moment it learned of it). */
static size_t f_history(int id, const struct f_rec *r, size_t n, uint64_t pause_ns,
                        struct lin_op *ops)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct f_rec *e = &r[i];
        int paused_hold = id == 0 && i < 3;
        if (e->kind == 3) {
            CHECKF(e->rc == !paused_hold, "client %d: write with token %llu %s", id,
                   (unsigned long long)e->token, e->rc ? "accepted" : "refused");
            continue;
        }
        struct lin_op *o = &ops[k++];
        memset(o, 0, sizeof *o);
        o->client = (uint64_t)id;
        o->key = 1;
        o->call_time = e->call_ns;
        o->ret_time = e->ret_ns;
        if (e->kind == 1) {
            CHECKF(e->rc == 0, "client %d: lock: %s", id, cairn_strerror(e->rc));
            o->kind = LIN_LOCK_ACQUIRE;
            o->out[0] = e->token;
            continue;
        }
        o->kind = LIN_LOCK_RELEASE;
        o->out[0] = 1;
        if (paused_hold) {
            CHECKF(e->rc != 0, "the paused holder still held the lock");
            o->call_time = pause_ns; /* released by expiry, not by this call */
        } else {
            CHECKF(e->rc == 0, "client %d lost its lock: %s", id, cairn_strerror(e->rc));
        }
    }
    return k;
}

/* Wait for every child; each must exit 0. */
static void f_reap(const pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int ws;
        CHECK(waitpid(pids[i], &ws, 0) == pids[i]);
        CHECKF(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "child %d: status 0x%x", i, ws);
    }
}

static void f_kill_leader(void)
{
    uint64_t leader = 0;
    for (int i = 0; i < 200 && !leader; i++, f_sleep_ms(50))
        leader = f_leader();
    CHECK(leader > 0);
    cli_kill("meta", (int)leader);
}

TEST_T(lock_mutex_faults, 150)
{
    snprintf(f_dir, sizeof f_dir, "%s", test_tmpdir());
    char dir[700];
    snprintf(dir, sizeof dir, "%s/c", f_dir);
    cli_up(dir, 3, 0);
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pids[F_CLIENTS];
    for (int i = 0; i < F_CLIENTS; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0)
            f_client(i, p[1]);
        if (i == 0) { /* client 0 holds first: the others queue behind it */
            char b;
            CHECK(read(p[0], &b, 1) == 1);
        }
    }
    kill(pids[0], SIGSTOP);
    uint64_t pause_ns = time_mono_ns();
    f_sleep_ms(300);
    f_kill_leader();
    /* the paused holder's session expires; the others go on */
    int i;
    for (i = 0; i < 600 && f_store_others() < 2; i++)
        f_sleep_ms(100);
    CHECKF(i < 600, "nobody got the lock while its holder was paused");
    kill(pids[0], SIGCONT);
    f_reap(pids, F_CLIENTS);
    static struct f_rec rec[3 * F_ITERS + 4];
    static struct lin_op ops[F_CLIENTS * 2 * (F_ITERS + 2)];
    size_t n_ops = 0;
    for (int c = 0; c < F_CLIENTS; c++) {
        size_t n = f_read_log(c, rec, sizeof rec / sizeof rec[0]);
        CHECK_EQ(n, 3 * F_ITERS);
        n_ops += f_history(c, rec, n, pause_ns, ops + n_ops);
    }
    struct lin_result res;
    enum lin_verdict v = lin_check(&lin_model_lock, ops, n_ops, 0, &res);
    CHECKF(v == LIN_OK, "lock history (%zu ops): verdict %d\n%s", n_ops, (int)v, res.report);
    close(p[0]);
    close(p[1]);
    cli_down();
}

#define T_BATCHES 30
#define T_FILES 4

/* Transactions in a row; each creates T_FILES files; results to fd. */
static void t_client(int fd)
{
    struct cairn_config cfg = {.cluster_file = getenv("CAIRN_CLUSTER"), .name = "txn"};
    struct cairn *c;
    if (cairn_connect(&cfg, &c))
        _exit(2);
    for (int b = 0; b < T_BATCHES; b++) {
        char names[T_FILES][32];
        struct cairn_txn_op ops[T_FILES + 1];
        memset(ops, 0, sizeof ops);
        for (int j = 0; j < T_FILES; j++) {
            snprintf(names[j], sizeof names[j], "/k/b%d_%d", b, j);
            ops[j + 1] =
                (struct cairn_txn_op){.kind = CAIRN_TXN_CREATE, .path = names[j], .mode = 0644};
        }
        ops[0] = (struct cairn_txn_op){.kind = CAIRN_TXN_IF_ABSENT, .path = names[0]};
        size_t failed;
        int32_t rc = cairn_txn(c, ops, T_FILES + 1, &failed);
        if (write(fd, &rc, sizeof rc) != (ssize_t)sizeof rc)
            _exit(3);
        f_sleep_ms(20);
    }
    cairn_disconnect(c);
    _exit(0);
}

TEST_T(lock_txn_leader_kill, 120)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/c", test_tmpdir());
    cli_up(dir, 3, 0);
    struct cairn_config cfg = {.cluster_file = getenv("CAIRN_CLUSTER"), .name = "check"};
    struct cairn *c;
    CHECK_EQ(cairn_connect(&cfg, &c), 0);
    CHECK_EQ(cairn_mkdir(c, "/k", 0755), 0);
    cairn_disconnect(c);
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        t_client(p[1]);
    close(p[1]);
    int32_t rcs[T_BATCHES];
    size_t got = 0;
    for (; got < 5; got++)
        CHECK(read(p[0], &rcs[got], sizeof rcs[got]) == (ssize_t)sizeof rcs[got]);
    f_kill_leader(); /* while batches are in flight */
    for (; got < T_BATCHES; got++)
        CHECK(read(p[0], &rcs[got], sizeof rcs[got]) == (ssize_t)sizeof rcs[got]);
    f_reap(&pid, 1);
    close(p[0]);
    CHECK_EQ(cairn_connect(&cfg, &c), 0);
    for (int b = 0; b < T_BATCHES; b++) {
        int present = 0;
        for (int j = 0; j < T_FILES; j++) {
            char name[32];
            struct cairn_stat st;
            snprintf(name, sizeof name, "/k/b%d_%d", b, j);
            int rc = cairn_stat(c, name, &st);
            CHECK(rc == 0 || rc == -ENOENT);
            present += rc == 0;
        }
        CHECKF(present == 0 || present == T_FILES, "batch %d: %d of %d files", b, present, T_FILES);
        /* exactly-once retries: every batch got its own answer */
        CHECKF(rcs[b] == 0 && present == T_FILES, "batch %d: %s, %d files", b,
               cairn_strerror(rcs[b]), present);
    }
    cairn_disconnect(c);
    cli_down();
}

/* No leader for longer than a lease (leader killed, one follower paused):
 * the time without a leader does not count against sessions, so the holder
 * keeps its lock once a new leader serves (src/metad/locks.h). */
TEST_T(lock_no_leader_gap, 120)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/c", test_tmpdir());
    cli_up(dir, 3, 0);
    struct cairn_config cfg = {.cluster_file = getenv("CAIRN_CLUSTER"), .name = "gap"};
    struct cairn *c;
    struct cairn_locks *l, *other;
    CHECK_EQ(cairn_connect(&cfg, &c), 0);
    CHECK_EQ(cairn_locks_open(c, F_LEASE_MS, &l), 0);
    CHECK_EQ(cairn_locks_open(c, F_LEASE_MS, &other), 0);
    cairn_disconnect(c);
    uint64_t tok, tok2;
    CHECK_EQ(cairn_lock(l, "g", CAIRN_LOCK_EXCLUSIVE, CAIRN_LOCK_TRY, 0, &tok), 0);
    f_sleep_ms(1000);
    uint64_t leader = f_leader();
    CHECK(leader > 0);
    int follower = leader == 1 ? 2 : 1;
    long fpid = cli_pid("meta", follower);
    CHECK(fpid > 0);
    cli_kill("meta", (int)leader);
    kill((pid_t)fpid, SIGSTOP);
    f_sleep_ms(2 * F_LEASE_MS); /* no quorum: nobody can renew */
    kill((pid_t)fpid, SIGCONT);
    f_sleep_ms(2 * F_LEASE_MS); /* a new leader serves; renewals resume */
    CHECK_EQ(cairn_lock(other, "g", CAIRN_LOCK_EXCLUSIVE, CAIRN_LOCK_TRY, 0, &tok2), CAIRN_EAGAIN);
    CHECK_EQ(cairn_unlock(l, "g"), 0);
    CHECK_EQ(cairn_lock(other, "g", CAIRN_LOCK_EXCLUSIVE, CAIRN_LOCK_TRY, 0, &tok2), 0);
    CHECK(tok2 > tok);
    cairn_locks_close(l);
    cairn_locks_close(other);
    cli_down();
}
