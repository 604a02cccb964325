/* cluster_harness.c: start, stop, kill, pause and query real `cairn meta`
 * processes on loopback (see cluster_harness.h). */
#include "cluster_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn_errors.h"
#include "common/assert.h"
#include "common/buf.h"
#include "common/time.h"
#include "raft/raft.h"
#include "wire/msg_meta.h"
#include "wire/wire.h"

#ifndef CAIRN_BUILD_DIR
#define CAIRN_BUILD_DIR "build"
#endif

/* Ports are drawn below Linux's default ephemeral range (32768..60999), so
 * outgoing connections of anything on the machine cannot take a node's
 * port between its restarts. */
#define PORT_LO 20000u
#define PORT_HI 32000u
/* A status answer computes the digest of the whole state (O(files): about
 * a second for millions of files), so its deadline is generous; nodes known
 * to be dead or paused are not asked. */
#define STATUS_POLL_MS 3000u
#define POLL_GAP_MS 50u
#define START_TRIES 3

/* --- the registry of started processes (for fatal exits) ------------------ */

#define REG_MAX 64
static volatile pid_t reg_pids[REG_MAX];
static int reg_installed;

static void reg_kill_all(void)
{
    for (int i = 0; i < REG_MAX; i++) {
        pid_t p = reg_pids[i];
        if (p > 0)
            kill(p, SIGKILL);
    }
}

/* A fatal signal (a failed CHECK aborts): stop the children, then die of
 * the same signal (SA_RESETHAND restored the default action). */
static void reg_on_signal(int sig)
{
    reg_kill_all();
    raise(sig);
}

static void reg_install(void)
{
    if (reg_installed)
        return;
    reg_installed = 1;
    atexit(reg_kill_all);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = reg_on_signal;
    sa.sa_flags = (int)SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGINT};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
}

static void reg_add(pid_t p)
{
    for (int i = 0; i < REG_MAX; i++) {
        if (reg_pids[i] == 0) {
            reg_pids[i] = p;
            return;
        }
    }
    CAIRN_ASSERTF(0, "cluster harness: more than %d processes", REG_MAX);
}

static void reg_del(pid_t p)
{
    for (int i = 0; i < REG_MAX; i++)
        if (reg_pids[i] == p)
            reg_pids[i] = 0;
}

/* --- small helpers --------------------------------------------------------- */

static void find_bin(struct cluster *c)
{
    const char *env = getenv("CAIRN_BIN");
    if (env && *env) {
        snprintf(c->bin, sizeof c->bin, "%s", env);
        return;
    }
    /* build/tests/cluster, build/bench/bench_x, build/san/tests/cluster: the
     * binary is a level or two above the running one. */
    char self[CLUSTER_DIR_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        const char *up[] = {"/../cairn", "/../../cairn"};
        for (size_t i = 0; i < CAIRN_ARRAY_LEN(up); i++) {
            snprintf(c->bin, sizeof c->bin, "%s%s", self, up[i]);
            if (access(c->bin, X_OK) == 0)
                return;
        }
    }
    snprintf(c->bin, sizeof c->bin, "%s/cairn", CAIRN_BUILD_DIR);
}

static int write_secret(struct cluster *c)
{
    uint8_t raw[24];
    char text[2 * sizeof raw + 2];
    int rc = rpc_random(raw, sizeof raw);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(text + 2 * i, 3, "%02x", raw[i]);
    snprintf(c->secret_path, sizeof c->secret_path, "%s/secret", c->dir);
    int fd = open(c->secret_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return cairn_err_from_errno(errno);
    size_t len = 2 * sizeof raw;
    int ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    if (!ok)
        return CAIRN_EIO;
    return rpc_secret_set(&c->secret, text, len);
}

/* 1 if nobody listens on or binds 127.0.0.1:port now. */
static int port_free(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static int port_pick(struct cluster *c, char *addr, size_t len)
{
    for (int tries = 0; tries < 1000; tries++) {
        uint16_t port = (uint16_t)prng_range(&c->ports, PORT_LO, PORT_HI - 1);
        snprintf(addr, len, "127.0.0.1:%u", (unsigned)port);
        int taken = 0;
        for (uint32_t i = 0; i < c->n_nodes; i++)
            taken |= strcmp(c->nodes[i].addr, addr) == 0;
        if (!taken && port_free(port))
            return 0;
    }
    return CAIRN_EADDRINUSE;
}

/* Run the loop for about ms: a timer bounds the wait of each turn. */
static void tick_cb(uv_timer_t *t) { *(int *)t->data = 1; }

void cluster_run_for(struct cluster *c, uint32_t ms)
{
    uv_timer_t t;
    int fired = 0;
    uv_timer_init(c->loop, &t);
    t.data = &fired;
    /* Repeating: uv_run(ONCE) runs due timers before it polls, so a
     * one-shot timer that came due before the call (a loaded machine)
     * would fire there and leave the poll without any timeout at all. */
    uv_timer_start(&t, tick_cb, ms, ms ? ms : 1);
    while (!fired)
        uv_run(c->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(c->loop, UV_RUN_NOWAIT);
}

size_t cluster_addrs(const struct cluster *c, const char **out, size_t max)
{
    size_t n = 0;
    for (uint32_t i = 0; i < c->n_nodes && n < max; i++)
        out[n++] = c->nodes[i].addr;
    return n;
}

size_t cluster_adv_addrs(const struct cluster *c, const char **out, size_t max)
{
    size_t n = 0;
    for (uint32_t i = 0; i < c->n_nodes && n < max; i++)
        out[n++] = c->nodes[i].adv;
    return n;
}

/* --- processes ------------------------------------------------------------- */

static void fmt_u64(char *buf, size_t len, uint64_t v) { snprintf(buf, len, "%" PRIu64, v); }

/* fork + exec with stdout/stderr appended to the node's log. Between fork
 * and exec the child only makes async-signal-safe calls (the parent may
 * have other threads: libuv's pool, the RPC layer's none). */
static pid_t spawn(const char *bin, char *const argv[], const char *log)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || nul < 0) {
        if (fd >= 0)
            close(fd);
        if (nul >= 0)
            close(nul);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(bin, argv);
        _exit(127);
    }
    close(fd);
    close(nul);
    return pid;
}

int cluster_node_spawn(struct cluster *c, uint32_t i)
{
    struct cluster_node *n = &c->nodes[i];
    CAIRN_ASSERT(i < c->n_nodes && n->pid == 0);
    char id[24], tick[16], elect[16], snap[24];
    fmt_u64(id, sizeof id, n->id);
    fmt_u64(tick, sizeof tick, c->o.tick_ms);
    fmt_u64(elect, sizeof elect, c->o.election_ticks);
    fmt_u64(snap, sizeof snap, c->o.snapshot_every);
    char *argv[32];
    int a = 0;
    const char *fixed[] = {
        c->bin,        "meta",        "--id",      id,      "--listen",         n->addr,
        "--peers",     c->peers,      "--data",    n->data, "--secret",         c->secret_path,
        "--cluster",   "harness",     "--tick-ms", tick,    "--election-ticks", elect,
        "--log-level", c->o.log_level};
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(fixed); k++)
        argv[a++] = (char *)fixed[k];
    if (c->o.snapshot_every) {
        argv[a++] = (char *)"--snapshot-every";
        argv[a++] = snap;
    }
    if (n->join)
        argv[a++] = (char *)"--join";
    for (size_t k = 0; c->o.meta_args && c->o.meta_args[k]; k++) {
        CAIRN_ASSERT(a + 1 < (int)CAIRN_ARRAY_LEN(argv));
        argv[a++] = (char *)c->o.meta_args[k];
    }
    argv[a] = NULL;
    reg_install();
    /* In a shared tree `make` may be relinking the binary right now: wait
     * (a bounded while) for it to be back rather than fail the exec. */
    for (int tries = 0; tries < 100 && access(c->bin, X_OK) != 0; tries++)
        usleep(100 * 1000);
    pid_t pid = spawn(c->bin, argv, n->log);
    if (pid < 0)
        return CAIRN_EIO;
    reg_add(pid);
    n->pid = pid;
    n->paused = 0;
    if (c->o.spawned)
        c->o.spawned(c->o.advertise_arg, CLUSTER_KIND_META, i, pid);
    return 0;
}

static void reap(struct cluster_node *n, int *status)
{
    while (waitpid(n->pid, status, 0) < 0 && errno == EINTR)
        ;
    reg_del(n->pid);
    n->pid = 0;
    n->paused = 0;
}

void cluster_node_kill(struct cluster *c, uint32_t i)
{
    struct cluster_node *n = &c->nodes[i];
    if (n->pid <= 0)
        return;
    kill(n->pid, SIGKILL);
    int st;
    reap(n, &st);
}

int cluster_node_term(struct cluster *c, uint32_t i)
{
    struct cluster_node *n = &c->nodes[i];
    if (n->pid <= 0)
        return CAIRN_EINVAL;
    if (n->paused)
        kill(n->pid, SIGCONT);
    kill(n->pid, SIGTERM);
    int st = 0;
    reap(n, &st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void cluster_node_pause(struct cluster *c, uint32_t i)
{
    struct cluster_node *n = &c->nodes[i];
    if (n->pid > 0 && !n->paused) {
        kill(n->pid, SIGSTOP);
        n->paused = 1;
    }
}

void cluster_node_resume(struct cluster *c, uint32_t i)
{
    struct cluster_node *n = &c->nodes[i];
    if (n->pid > 0 && n->paused) {
        kill(n->pid, SIGCONT);
        n->paused = 0;
    }
}

/* 1 while node i's process runs; reaps it (and says why) if it exited. */
static int node_alive(struct cluster *c, uint32_t i)
{
    struct cluster_node *n = &c->nodes[i];
    if (n->pid <= 0)
        return 0;
    int st;
    pid_t r = waitpid(n->pid, &st, WNOHANG);
    if (r == 0)
        return 1;
    fprintf(stderr, "cluster: node %" PRIu64 " (pid %d) exited on its own: %s %d\n", n->id,
            (int)n->pid, WIFEXITED(st) ? "status" : "signal",
            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    reg_del(n->pid);
    n->pid = 0;
    cluster_node_log_tail(c, i, 2000);
    return 0;
}

void cluster_node_log_tail(const struct cluster *c, uint32_t i, size_t bytes)
{
    const struct cluster_node *n = &c->nodes[i];
    int fd = open(n->log, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)bytes ? end - (off_t)bytes : 0;
    char buf[4096];
    ssize_t r;
    fprintf(stderr, "--- last lines of %s ---\n", n->log);
    lseek(fd, from, SEEK_SET);
    while ((r = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)r, stderr);
    fprintf(stderr, "--- end of %s ---\n", n->log);
    close(fd);
}

int cluster_node_log_has(const struct cluster *c, uint32_t i, const char *text)
{
    FILE *f = fopen(c->nodes[i].log, "r");
    if (!f)
        return 0;
    char line[2048];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

uint64_t cluster_node_rss(const struct cluster *c, uint32_t i)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)c->nodes[i].pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtoull(line + 6, NULL, 10);
    fclose(f);
    return kb * 1024u;
}

/* --- status ----------------------------------------------------------------- */

static int node_rpc(struct cluster *c, uint32_t i, struct rpc_client **out)
{
    struct cluster_node *n = &c->nodes[i];
    if (!n->rpc) {
        const char *addrs[] = {n->addr};
        struct rpc_client_cfg cfg = {
            .name = "harness",
            .seed = prng_next(&c->ports) | 1u,
            .limits = {.backoff_min_ms = 10, .backoff_max_ms = 100, .auth_timeout_ms = 1000},
        };
        int rc = rpc_client_new(c->loop, addrs, 1, &c->secret, &cfg, &n->rpc);
        if (rc)
            return rc;
    }
    *out = n->rpc;
    return 0;
}

static void copy_str(char *dst, size_t cap, struct wire_bytes b)
{
    size_t len = CAIRN_MIN((size_t)b.len, cap - 1);
    if (len)
        memcpy(dst, b.p, len);
    dst[len] = '\0';
}

int cluster_status(struct cluster *c, uint32_t i, struct cluster_status *out, uint32_t timeout_ms)
{
    struct rpc_client *rpc;
    int rc = node_rpc(c, i, &rpc);
    if (rc)
        return rc;
    struct cairn_buf reply;
    buf_init(&reply, 0);
    uint16_t type = 0;
    rc = rpc_call_sync(rpc, WIRE_META_STATUS, NULL, 0, timeout_ms, &type, &reply);
    struct wire_meta_status *m = malloc(sizeof *m);
    if (rc == 0 && !m)
        rc = CAIRN_ENOMEM;
    if (rc == 0 && type != WIRE_META_STATUS_REPLY)
        rc = CAIRN_BADMSG;
    if (rc == 0)
        rc = wire_meta_status_decode(reply.data, reply.len, m);
    if (rc == 0) {
        memset(out, 0, sizeof *out);
        out->id = m->id;
        out->role = m->role;
        out->term = m->term;
        out->leader = m->leader;
        copy_str(out->leader_addr, sizeof out->leader_addr, m->leader_addr);
        out->commit = m->commit;
        out->applied = m->applied;
        out->snapshot_index = m->snapshot_index;
        out->digest = m->digest;
        out->n_members = m->n_members;
        for (uint32_t k = 0; k < m->n_members; k++) {
            out->members[k].id = m->members[k].id;
            out->members[k].voter = m->members[k].voter;
            copy_str(out->members[k].addr, sizeof out->members[k].addr, m->members[k].addr);
        }
    }
    free(m);
    buf_free(&reply);
    return rc;
}

int cluster_wait_ready(struct cluster *c, uint32_t i, uint32_t timeout_ms)
{
    uint64_t end = time_mono_ms() + timeout_ms;
    struct cluster_status st;
    do {
        if (!node_alive(c, i))
            return CAIRN_EIO;
        if (cluster_status(c, i, &st, STATUS_POLL_MS) == 0)
            return 0;
        cluster_run_for(c, POLL_GAP_MS);
    } while (time_mono_ms() < end);
    fprintf(stderr, "cluster: node %" PRIu64 " not ready after %u ms\n", c->nodes[i].id,
            timeout_ms);
    cluster_node_log_tail(c, i, 2000);
    return CAIRN_ETIMEDOUT;
}

static int node_usable(struct cluster *c, uint32_t i)
{
    return c->nodes[i].pid > 0 && !c->nodes[i].paused && node_alive(c, i);
}

static int slot_of(const struct cluster *c, uint64_t id)
{
    for (uint32_t i = 0; i < c->n_nodes; i++)
        if (c->nodes[i].id == id)
            return (int)i;
    return -1;
}

/* One look at the group: the slot of a leader followed by a majority of its
 * voters in its term, or -1. */
static int leader_once(struct cluster *c, int verbose)
{
    struct cluster_status st[CLUSTER_NODES_MAX];
    int rc[CLUSTER_NODES_MAX];
    for (uint32_t i = 0; i < c->n_nodes; i++) {
        rc[i] = node_usable(c, i) ? cluster_status(c, i, &st[i], STATUS_POLL_MS) : CAIRN_ESTALE;
        if (verbose && rc[i] == 0)
            fprintf(stderr,
                    "cluster: node %" PRIu64 ": role %d term %" PRIu64 " leader %" PRIu64
                    " applied %" PRIu64 "\n",
                    st[i].id, st[i].role, st[i].term, st[i].leader, st[i].applied);
        else if (verbose)
            fprintf(stderr, "cluster: node %" PRIu64 ": %s\n", c->nodes[i].id,
                    rc[i] == CAIRN_ESTALE ? "not running" : cairn_err_name(rc[i]));
    }
    for (uint32_t l = 0; l < c->n_nodes; l++) {
        if (rc[l] != 0 || st[l].role != RAFT_LEADER)
            continue;
        uint32_t voters = 0, agree = 0;
        for (uint32_t k = 0; k < st[l].n_members; k++) {
            if (!st[l].members[k].voter)
                continue;
            voters++;
            int s = slot_of(c, st[l].members[k].id);
            agree += s >= 0 && rc[s] == 0 && st[s].leader == st[l].id && st[s].term == st[l].term;
        }
        if (voters > 0 && agree >= voters / 2 + 1)
            return (int)l;
    }
    return -1;
}

int cluster_wait_leader(struct cluster *c, uint32_t timeout_ms)
{
    uint64_t end = time_mono_ms() + timeout_ms;
    do {
        int l = leader_once(c, 0);
        if (l >= 0)
            return l;
        cluster_run_for(c, POLL_GAP_MS);
    } while (time_mono_ms() < end);
    fprintf(stderr, "cluster: no leader after %u ms; last look:\n", timeout_ms);
    leader_once(c, 1);
    return CAIRN_ETIMEDOUT;
}

/* One look: 0 and *digest when every selected node answers with the same
 * applied index and digest. */
static int converged_once(struct cluster *c, uint32_t mask, uint64_t *digest)
{
    uint64_t applied = 0;
    int first = 1;
    for (uint32_t i = 0; i < c->n_nodes; i++) {
        if (mask ? !(mask & (1u << i)) : c->nodes[i].pid <= 0)
            continue;
        struct cluster_status st;
        if (!node_usable(c, i) || cluster_status(c, i, &st, STATUS_POLL_MS) != 0)
            return CAIRN_UNAVAILABLE;
        if (first) {
            applied = st.applied;
            *digest = st.digest;
            first = 0;
        } else if (st.applied != applied || st.digest != *digest) {
            return CAIRN_EAGAIN;
        }
    }
    return first ? CAIRN_EINVAL : 0;
}

int cluster_wait_converged(struct cluster *c, uint32_t mask, uint32_t timeout_ms, uint64_t *digest)
{
    uint64_t end = time_mono_ms() + timeout_ms;
    int rc;
    do {
        rc = converged_once(c, mask, digest);
        if (rc == 0 || rc == CAIRN_EINVAL)
            return rc;
        cluster_run_for(c, POLL_GAP_MS);
    } while (time_mono_ms() < end);
    return CAIRN_ETIMEDOUT;
}

int cluster_wait_caught_up(struct cluster *c, uint32_t i, uint32_t timeout_ms)
{
    uint64_t end = time_mono_ms() + timeout_ms;
    int l = cluster_wait_leader(c, timeout_ms);
    if (l < 0)
        return l;
    struct cluster_status st;
    int rc = cluster_status(c, (uint32_t)l, &st, STATUS_POLL_MS);
    if (rc)
        return rc;
    uint64_t target = st.commit;
    for (;;) {
        if (!node_alive(c, i))
            return CAIRN_EIO;
        rc = cluster_status(c, i, &st, STATUS_POLL_MS);
        if (rc == 0 && st.applied >= target)
            return 0;
        if (time_mono_ms() >= end)
            return CAIRN_ETIMEDOUT;
        cluster_run_for(c, POLL_GAP_MS);
    }
}

/* --- membership ------------------------------------------------------------- */

int cluster_member_change(struct cluster *c, uint8_t op, uint64_t node, const char *addr,
                          uint32_t timeout_ms)
{
    uint64_t end = time_mono_ms() + timeout_ms;
    struct cairn_buf req, reply;
    buf_init(&req, 0);
    buf_init(&reply, 0);
    struct wire_meta_member_req m = {op, node, {(const uint8_t *)(addr ? addr : ""), 0}};
    m.addr.len = (uint32_t)strlen(addr ? addr : "");
    int rc = wire_meta_member_encode(&req, &m);
    while (rc == 0) {
        uint64_t now = time_mono_ms();
        if (now >= end) {
            rc = CAIRN_ETIMEDOUT;
            break;
        }
        int l = cluster_wait_leader(c, (uint32_t)(end - now));
        if (l < 0) {
            rc = l;
            break;
        }
        struct rpc_client *rpc;
        uint16_t type = 0;
        buf_reset(&reply);
        rc = node_rpc(c, (uint32_t)l, &rpc);
        if (rc == 0)
            rc = rpc_call_sync(rpc, WIRE_META_MEMBER, req.data, req.len, 5000, &type, &reply);
        if (rc == 0) {
            uint64_t index;
            rc = type == WIRE_META_MEMBER_REPLY
                     ? wire_meta_u64_decode(reply.data, reply.len, &index)
                     : CAIRN_BADMSG;
            break;
        }
        if (rc != CAIRN_NOTLEADER && rc != CAIRN_ETIMEDOUT && rc != CAIRN_CLOSED)
            break;
        rc = 0;
        cluster_run_for(c, 100);
    }
    buf_free(&req);
    buf_free(&reply);
    return rc;
}

/* Fill slot i (id, port, paths) without starting it. */
static int node_init(struct cluster *c, uint32_t i, uint64_t id, const char *sub)
{
    struct cluster_node *n = &c->nodes[i];
    memset(n, 0, sizeof *n);
    n->id = id;
    int rc = port_pick(c, n->addr, sizeof n->addr);
    if (rc)
        return rc;
    memcpy(n->adv, n->addr, sizeof n->adv);
    if (c->o.advertise) {
        rc = c->o.advertise(c->o.advertise_arg, CLUSTER_KIND_META, i, n->addr, n->adv,
                            sizeof n->adv);
        if (rc)
            return rc;
    }
    char parent[CLUSTER_DIR_MAX + 32];
    snprintf(parent, sizeof parent, "%s/%s", c->dir, sub);
    if (mkdir(parent, 0700) != 0 && errno != EEXIST)
        return cairn_err_from_errno(errno);
    snprintf(n->data, sizeof n->data, "%s/n%" PRIu64, parent, id);
    snprintf(n->log, sizeof n->log, "%s/n%" PRIu64 ".log", parent, id);
    return 0;
}

int cluster_node_new_join(struct cluster *c, uint32_t timeout_ms)
{
    if (c->n_nodes == CLUSTER_NODES_MAX)
        return CAIRN_LIMIT;
    uint64_t id = 0;
    for (uint32_t i = 0; i < c->n_nodes; i++)
        id = CAIRN_MAX(id, c->nodes[i].id);
    uint32_t i = c->n_nodes;
    int rc = node_init(c, i, id + 1, "join");
    if (rc)
        return rc;
    c->n_nodes++;
    c->nodes[i].join = 1;
    rc = cluster_node_spawn(c, i);
    if (rc == 0)
        rc = cluster_wait_ready(c, i, timeout_ms);
    return rc ? rc : (int)i;
}

int cluster_node_restart(struct cluster *c, uint32_t i, uint32_t timeout_ms)
{
    cluster_node_kill(c, i);
    int rc = cluster_node_spawn(c, i);
    return rc ? rc : cluster_wait_ready(c, i, timeout_ms);
}

/* --- the whole cluster ---------------------------------------------------------- */

/* One attempt at starting the initial voters, under dir/try<k>: fresh
 * ports and data directories each time (a port taken between the check and
 * the daemon's bind makes that daemon exit: the next try avoids it). */
static int start_once(struct cluster *c, int attempt)
{
    char sub[16];
    snprintf(sub, sizeof sub, "try%d", attempt);
    c->n_nodes = 0;
    size_t off = 0;
    for (uint32_t i = 0; i < c->o.n; i++) {
        int rc = node_init(c, i, i + 1, sub);
        if (rc)
            return rc;
        c->n_nodes++;
        off += (size_t)snprintf(c->peers + off, sizeof c->peers - off, "%s%" PRIu64 "=%s",
                                i ? "," : "", c->nodes[i].id, c->nodes[i].adv);
    }
    for (uint32_t i = 0; i < c->n_nodes; i++) {
        int rc = cluster_node_spawn(c, i);
        if (rc)
            return rc;
    }
    for (uint32_t i = 0; i < c->n_nodes; i++) {
        int rc = cluster_wait_ready(c, i, 15000);
        if (rc)
            return rc;
    }
    int l = cluster_wait_leader(c, 20000);
    return l < 0 ? l : 0;
}

static void close_rpcs(struct cluster *c)
{
    for (uint32_t i = 0; i < c->n_nodes; i++) {
        if (c->nodes[i].rpc) {
            rpc_client_close(c->nodes[i].rpc);
            c->nodes[i].rpc = NULL;
        }
    }
}

static void kill_all(struct cluster *c)
{
    for (uint32_t i = 0; i < c->n_nodes; i++)
        cluster_node_kill(c, i);
}

int cluster_start(struct cluster *c, const char *dir, const struct cluster_opts *o, uv_loop_t *loop)
{
    memset(c, 0, sizeof *c);
    CAIRN_ASSERT(o->n >= 1 && o->n <= CLUSTER_NODES_MAX);
    c->o = *o;
    c->o.tick_ms = o->tick_ms ? o->tick_ms : 10; /* the daemon's defaults */
    c->o.election_ticks = o->election_ticks ? o->election_ticks : 20;
    c->o.log_level = o->log_level ? o->log_level : "info";
    if (strlen(dir) >= sizeof c->dir)
        return CAIRN_ENAMETOOLONG;
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    /* Ports only: mixing in the pid keeps two runs of the same seed (two
     * engineers, or make test beside a manual run) from colliding; which
     * port a node gets changes nothing in the test's behaviour. */
    prng_seed(&c->ports, o->seed ^ ((uint64_t)getpid() * 0x9e3779b97f4a7c15ull));
    if (loop) {
        c->loop = loop;
    } else {
        CAIRN_ASSERT(uv_loop_init(&c->own_loop) == 0);
        c->loop = &c->own_loop;
        c->own = 1;
    }
    find_bin(c);
    if (access(c->bin, X_OK) != 0) {
        fprintf(stderr, "cluster: no cairn binary at %s (build it, or set CAIRN_BIN)\n", c->bin);
        return CAIRN_ENOENT;
    }
    int rc = write_secret(c);
    for (int attempt = 0; rc == 0 && attempt < START_TRIES; attempt++) {
        rc = start_once(c, attempt);
        if (rc == 0)
            return 0;
        fprintf(stderr, "cluster: start attempt %d failed: %s\n", attempt, cairn_err_name(rc));
        kill_all(c);
        close_rpcs(c);
        rc = attempt + 1 < START_TRIES ? 0 : rc;
    }
    return rc;
}

void cluster_stop(struct cluster *c)
{
    cluster_chunks_stop(c);
    kill_all(c);
    close_rpcs(c);
    if (c->own) {
        /* The caller's clients on this loop must be closed already. */
        for (int i = 0; i < 1000 && uv_run(c->loop, UV_RUN_NOWAIT) != 0; i++)
            ;
        if (uv_loop_close(c->loop) != 0)
            fprintf(stderr, "cluster: loop still has open handles at stop\n");
        c->own = 0;
    } else {
        uv_run(c->loop, UV_RUN_NOWAIT);
    }
    rpc_secret_wipe(&c->secret);
}

/* --- shared with cluster_chunks.c ----------------------------------------------- */

pid_t cluster_proc_spawn(const char *bin, char *const argv[], const char *log)
{
    reg_install();
    /* As cluster_node_spawn: `make` may be relinking the binary. */
    for (int tries = 0; tries < 100 && access(bin, X_OK) != 0; tries++)
        usleep(100 * 1000);
    pid_t pid = spawn(bin, argv, log);
    if (pid > 0)
        reg_add(pid);
    return pid;
}

void cluster_proc_reaped(pid_t pid) { reg_del(pid); }

void cluster_proc_register(pid_t pid)
{
    reg_install();
    reg_add(pid);
}

int cluster_port_pick(struct cluster *c, char *addr, size_t len) { return port_pick(c, addr, len); }
